/*
 * spans_in.c - the shim's span records, decoded as untrusted input (see
 * spans_in.h).
 */
#include <errno.h>
#include <string.h>

#include "spans_in.h"

bool spans_in_text_ok(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = s[i];
		size_t k;
		uint32_t cp;

		if (c < 0x80) {
			if (c < 0x20 || c == 0x7f)
				return false;
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) {
			k = 1;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			k = 2;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			k = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (n - i <= k)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + j] & 0x3f);
		}
		/* Overlong forms, surrogates, beyond Unicode. */
		if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return false;
		i += k + 1;
	}
	return true;
}

static bool id_ok(const uint8_t *id, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (id[i])
			return true;
	return false;
}

static bool get_str(const uint8_t **p, size_t *left, char *out)
{
	size_t n;

	if (*left < 1)
		return false;
	n = **p;
	if (*left < 1 + n || !spans_in_text_ok(*p + 1, n))
		return false;
	memcpy(out, *p + 1, n);
	out[n] = '\0';
	*p += 1 + n;
	*left -= 1 + n;
	return true;
}

/* One record's attributes: false if any is malformed (the record is then refused). */
static bool decode_attrs(struct shim_span *sp, const uint8_t *a, size_t n)
{
	sp->n_attrs = 0;
	while (n) {
		struct shim_attr *at;
		uint8_t kind, klen;
		uint16_t vlen;

		if (n < 4)
			return false;
		kind = a[0];
		klen = a[1];
		memcpy(&vlen, a + 2, 2);
		if (klen == 0 || n - 4 < (size_t)klen + vlen)
			return false;
		if (sp->n_attrs == SPANS_IN_ATTRS_MAX)
			return false;
		at = &sp->attrs[sp->n_attrs];
		if (!spans_in_text_ok(a + 4, klen))
			return false;
		memcpy(at->key, a + 4, klen);
		at->key[klen] = '\0';
		at->kind = (char)kind;
		if (kind == 's') {
			if (!spans_in_text_ok(a + 4 + klen, vlen))
				return false;
			at->str = (const char *)(a + 4 + klen);
			at->str_len = vlen;
		} else if (kind == 'i') {
			if (vlen != 8)
				return false;
			memcpy(&at->num, a + 4 + klen, 8);
		} else {
			return false;
		}
		sp->n_attrs++;
		a += 4 + klen + vlen;
		n -= 4 + (size_t)klen + vlen;
	}
	return true;
}

int spans_in_decode(const uint8_t *body, size_t len, spans_in_cb cb, void *arg,
		    struct spans_in_stats *st)
{
	struct shim_claim claim;
	struct shim_span sp;
	const uint8_t *p = body;
	size_t left = len;
	uint16_t count;
	int ok = 0;

	if (!get_str(&p, &left, claim.service) || !get_str(&p, &left, claim.exe) || left < 2) {
		st->rejected++;
		return -EINVAL;
	}
	memcpy(&count, p, 2);
	p += 2;
	left -= 2;
	for (unsigned int i = 0; i < count; i++) {
		const struct clt_span_rec *r = (const void *)p;
		uint16_t alen;

		if (left < sizeof(*r)) {
			st->rejected += count - i;
			return ok ? ok : -EINVAL;
		}
		memcpy(&sp.rec, r, sizeof(sp.rec));
		alen = sp.rec.attrs_len;
		if (left - sizeof(*r) < alen) {
			st->rejected += count - i;
			return ok ? ok : -EINVAL;
		}
		p += sizeof(*r);
		left -= sizeof(*r);
		if (!id_ok(sp.rec.trace_id, 16) || !id_ok(sp.rec.span_id, 8) ||
		    (sp.rec.kind != CLT_SPAN_KIND_SERVER && sp.rec.kind != CLT_SPAN_KIND_CLIENT) ||
		    (sp.rec.status != CLT_SPAN_STATUS_UNSET && sp.rec.status != CLT_SPAN_STATUS_ERROR) ||
		    sp.rec.end_ns < sp.rec.start_ns || !decode_attrs(&sp, p, alen)) {
			st->rejected++;
		} else {
			st->records++;
			ok++;
			if (!cb(arg, &claim, &sp)) {
				st->rejected += count - i - 1;
				return ok;
			}
		}
		p += alen;
		left -= alen;
	}
	if (left)
		st->rejected++; /* trailing bytes: the records before them stand */
	return ok;
}
