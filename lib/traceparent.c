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

/*
 * One table per digit position, giving the digit's value already shifted,
 * plus a bit saying it is a lowercase hex digit (0 for anything else,
 * uppercase too: the specification says it makes the value invalid).
 * Tables, not a chain of comparisons: this runs on every traced request.
 */
#define TP_HI_OK 0x100u
#define TP_LO_OK 0x200u
static const uint16_t tp_hex_hi[256] = {
	['0'] = TP_HI_OK | 0 << 4, ['1'] = TP_HI_OK | 1 << 4, ['2'] = TP_HI_OK | 2 << 4,
	['3'] = TP_HI_OK | 3 << 4, ['4'] = TP_HI_OK | 4 << 4, ['5'] = TP_HI_OK | 5 << 4,
	['6'] = TP_HI_OK | 6 << 4, ['7'] = TP_HI_OK | 7 << 4, ['8'] = TP_HI_OK | 8 << 4,
	['9'] = TP_HI_OK | 9 << 4, ['a'] = TP_HI_OK | 10 << 4, ['b'] = TP_HI_OK | 11 << 4,
	['c'] = TP_HI_OK | 12 << 4, ['d'] = TP_HI_OK | 13 << 4, ['e'] = TP_HI_OK | 14 << 4,
	['f'] = TP_HI_OK | 15 << 4,
};
static const uint16_t tp_hex_lo[256] = {
	['0'] = TP_LO_OK | 0, ['1'] = TP_LO_OK | 1, ['2'] = TP_LO_OK | 2, ['3'] = TP_LO_OK | 3,
	['4'] = TP_LO_OK | 4, ['5'] = TP_LO_OK | 5, ['6'] = TP_LO_OK | 6, ['7'] = TP_LO_OK | 7,
	['8'] = TP_LO_OK | 8, ['9'] = TP_LO_OK | 9, ['a'] = TP_LO_OK | 10, ['b'] = TP_LO_OK | 11,
	['c'] = TP_LO_OK | 12, ['d'] = TP_LO_OK | 13, ['e'] = TP_LO_OK | 14, ['f'] = TP_LO_OK | 15,
};

/*
 * Decode @n octets from 2 * @n characters at @in, validating in the same
 * pass. @return 0 when a character was not a lowercase hex digit, else
 * TP_HI_OK | TP_LO_OK plus the OR of the octets (low byte 0: all zero).
 */
static inline unsigned int tp_hex_decode(uint8_t *out, const unsigned char *in, size_t n)
{
	unsigned int all = TP_HI_OK | TP_LO_OK, any = 0;
	size_t i;

#pragma GCC unroll 16
	for (i = 0; i < n; i++) {
		unsigned int x = tp_hex_hi[in[2 * i]] | tp_hex_lo[in[2 * i + 1]];

		all &= x;
		any |= x;
		out[i] = (uint8_t)x;
	}
	return (all & (TP_HI_OK | TP_LO_OK)) == (TP_HI_OK | TP_LO_OK) ? any : 0;
}

static inline bool tp_is_ows(char c)
{
	return c == ' ' || c == '\t';
}

int tp_parse(struct tp_context *out, const char *value, size_t len)
{
	struct tp_context tp;
	const unsigned char *v;
	unsigned int ver, tid, pid, flg;

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
	v = (const unsigned char *)value;
	if (v[2] != '-' || v[35] != '-' || v[52] != '-')
		return -EINVAL;
	ver = tp_hex_decode(&tp.version, v, 1);
	tid = tp_hex_decode(tp.trace_id, v + 3, sizeof(tp.trace_id));
	pid = tp_hex_decode(tp.parent_id, v + 36, sizeof(tp.parent_id));
	flg = tp_hex_decode(&tp.flags, v + 53, 1);
	/* A character that is not a lowercase hex digit, version ff, an all-zero id. */
	if (ver == 0 || tid == 0 || pid == 0 || flg == 0 || tp.version == 0xff ||
	    (tid & 0xff) == 0 || (pid & 0xff) == 0)
		return -EINVAL;
	/* Version 00 is exactly 55 characters; a later version may append
	 * fields, but only after a '-' (W3C Trace Context, "Versioning"). */
	if (len > TP_VALUE_LEN && (tp.version == 0 || v[TP_VALUE_LEN] != '-'))
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
