/*
 * propagate.c - B3 and Jaeger trace-context header values to trace-id /
 * span-id (see propagate.h). W3C traceparent is libclt's tp_parse().
 */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "propagate.h"

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int prop_parse_hex_id(const char *v, size_t n, uint8_t *out, size_t outlen, bool lenient)
{
	size_t digits = outlen * 2;
	uint8_t nonzero = 0;
	size_t i;

	if (n == 0 || n > digits)
		return -EINVAL;
	if (!lenient && n != digits && n != 16)
		return -EINVAL;
	memset(out, 0, outlen);
	/* Fill from the right: digit i of the value is nibble (digits - n + i). */
	for (i = 0; i < n; i++) {
		int x = hex_val(v[i]);
		size_t nib = digits - n + i;

		if (x < 0)
			return -EINVAL;
		out[nib / 2] |= (uint8_t)(nib % 2 ? x : x << 4);
		nonzero |= (uint8_t)x;
	}
	return nonzero ? 0 : -EINVAL;
}

static void trim(const char **v, size_t *n)
{
	while (*n > 0 && (**v == ' ' || **v == '\t')) {
		(*v)++;
		(*n)--;
	}
	while (*n > 0 && ((*v)[*n - 1] == ' ' || (*v)[*n - 1] == '\t'))
		(*n)--;
}

/* The sampling state of "b3: {trace}-{span}-{state}[-{parent}]" (B3 spec: 0, 1 or d). */
static bool b3_state_sampled(const char *v, size_t n)
{
	const char *dash = memchr(v, '-', n);

	if (dash)
		n = (size_t)(dash - v);
	return n == 1 && (v[0] == '1' || v[0] == 'd');
}

int prop_parse_b3(const char *v, size_t n, struct http_ids *out, bool *sampled)
{
	const char *dash1, *end2;
	size_t tlen, slen;

	*sampled = false;
	trim(&v, &n);
	dash1 = memchr(v, '-', n);
	if (!dash1)
		return -EINVAL; /* sampling decision only: no IDs */
	tlen = (size_t)(dash1 - v);
	end2 = memchr(dash1 + 1, '-', n - tlen - 1);
	slen = end2 ? (size_t)(end2 - dash1 - 1) : n - tlen - 1;
	if (tlen != 16 && tlen != 32)
		return -EINVAL;
	if (slen != 16)
		return -EINVAL;
	if (prop_parse_hex_id(v, tlen, out->trace, sizeof(out->trace), false) < 0)
		return -EINVAL;
	if (prop_parse_hex_id(dash1 + 1, slen, out->span, sizeof(out->span), false) < 0)
		return -EINVAL;
	/* No state = deferred: the decision is not ours to make, and nobody recorded a parent. */
	if (end2)
		*sampled = b3_state_sampled(end2 + 1, n - (size_t)(end2 + 1 - v));
	return 0;
}

/* Jaeger flags, hex: 0x01 sampled, 0x02 debug (only ever set with sampled). */
static bool jaeger_flags_sampled(const char *v, size_t n)
{
	int last = 0;
	size_t i;

	if (n == 0 || n > 16)
		return false;
	for (i = 0; i < n; i++) {
		int x = hex_val(v[i]);

		if (x < 0)
			return false;
		last = x;
	}
	return (last & 0x3) != 0;
}

int prop_parse_jaeger(const char *v, size_t n, struct http_ids *out, bool *sampled)
{
	const char *c1, *c2, *c3;
	size_t tlen, slen;

	*sampled = false;
	trim(&v, &n);
	c1 = memchr(v, ':', n);
	if (!c1)
		return -EINVAL;
	tlen = (size_t)(c1 - v);
	c2 = memchr(c1 + 1, ':', n - tlen - 1);
	if (!c2)
		return -EINVAL; /* the format has four fields */
	slen = (size_t)(c2 - c1 - 1);
	if (prop_parse_hex_id(v, tlen, out->trace, sizeof(out->trace), true) < 0)
		return -EINVAL;
	if (prop_parse_hex_id(c1 + 1, slen, out->span, sizeof(out->span), true) < 0)
		return -EINVAL;
	c3 = memchr(c2 + 1, ':', n - (size_t)(c2 + 1 - v));
	if (c3)
		*sampled = jaeger_flags_sampled(c3 + 1, n - (size_t)(c3 + 1 - v));
	return 0;
}

bool prop_b3_sampled(const char *v, size_t n)
{
	trim(&v, &n);
	return (n == 1 && v[0] == '1') || (n == 4 && strncasecmp(v, "true", 4) == 0);
}

bool prop_b3_debug(const char *v, size_t n)
{
	trim(&v, &n);
	return n == 1 && v[0] == '1';
}
