/*
 * traceparent.c - W3C Trace Context `traceparent` header values: strict
 * parsing (anything the specification says to ignore is -EINVAL) and
 * version-00 formatting.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#pragma GCC visibility push(default) /* the public API; see libclt.map */
#include "clt/ioam.h"
#include "clt/traceparent.h"
#pragma GCC visibility pop

/* Lowercase only: the specification says uppercase makes the value invalid. */
static int tp_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int tp_hex_decode(uint8_t *out, const char *in, size_t n_octets)
{
	size_t i;

	for (i = 0; i < n_octets; i++) {
		int hi = tp_hexval(in[2 * i]);
		int lo = tp_hexval(in[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static bool tp_all_zero(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] != 0)
			return false;
	}
	return true;
}

static bool tp_is_ows(char c)
{
	return c == ' ' || c == '\t';
}

int tp_parse(struct tp_context *out, const char *value, size_t len)
{
	struct tp_context tp;

	if (out == NULL || value == NULL)
		return -EINVAL;
	while (len > 0 && tp_is_ows(value[0])) {
		value++;
		len--;
	}
	while (len > 0 && tp_is_ows(value[len - 1]))
		len--;
	if (len < TP_VALUE_LEN)
		return -EINVAL;
	if (value[2] != '-' || value[35] != '-' || value[52] != '-')
		return -EINVAL;
	if (tp_hex_decode(&tp.version, value, 1) < 0 || tp.version == 0xff)
		return -EINVAL;
	if (tp_hex_decode(tp.trace_id, value + 3, sizeof(tp.trace_id)) < 0 ||
	    tp_hex_decode(tp.parent_id, value + 36, sizeof(tp.parent_id)) < 0 ||
	    tp_hex_decode(&tp.flags, value + 53, 1) < 0)
		return -EINVAL;
	if (tp_all_zero(tp.trace_id, sizeof(tp.trace_id)) ||
	    tp_all_zero(tp.parent_id, sizeof(tp.parent_id)))
		return -EINVAL;
	/* Version 00 is exactly 55 characters; a later version may append
	 * fields, but only after a '-' (W3C Trace Context, "Versioning"). */
	if (len > TP_VALUE_LEN && (tp.version == 0 || value[TP_VALUE_LEN] != '-'))
		return -EINVAL;
	*out = tp;
	return 0;
}

void tp_format(char *out, const struct tp_context *ctx)
{
	/* Always version 00: it is the only layout we can vouch for. */
	out[0] = '0';
	out[1] = '0';
	out[2] = '-';
	clt_hex(out + 3, ctx->trace_id, sizeof(ctx->trace_id));
	out[35] = '-';
	clt_hex(out + 36, ctx->parent_id, sizeof(ctx->parent_id));
	out[52] = '-';
	clt_hex(out + 53, &ctx->flags, 1);
	out[TP_VALUE_LEN] = '\0';
}
