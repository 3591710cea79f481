/*
 * spans_in.h - decoding and validating the span records a shim sends
 * (tag protocol v2, type 16: include/clt/tagproto.h). Pure: no I/O, no
 * allocation. The sender is untrusted: every length is checked against
 * what is left, every string must be valid UTF-8 without control
 * characters, IDs must be valid, kinds and statuses known. A bad record
 * is skipped (counted); a bad batch framing rejects the rest.
 */
#ifndef CLT_AGENT_SPANS_IN_H
#define CLT_AGENT_SPANS_IN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clt/tagproto.h"

#define SPANS_IN_ATTRS_MAX 32

struct shim_attr {
	char kind; /* 's' or 'i' */
	char key[256];
	const char *str; /* 's': valid UTF-8, not NUL-terminated */
	uint16_t str_len;
	int64_t num;     /* 'i' */
};

struct shim_span {
	struct clt_span_rec rec;
	struct shim_attr attrs[SPANS_IN_ATTRS_MAX];
	unsigned int n_attrs;
};

/* The sender's claim about itself (exported as such, never trusted for identity). */
struct shim_claim {
	char service[256];
	char exe[256];
};

struct spans_in_stats {
	uint64_t records;  /* valid records handed on */
	uint64_t rejected; /* records or batches refused */
};

/* Called for each valid record. @return false to stop (limit reached). */
typedef bool (*spans_in_cb)(void *arg, const struct shim_claim *claim, const struct shim_span *sp);

/*
 * Decode a type-16 body (after the 12-octet header). @return the valid
 * records handed to @cb, or -EINVAL when the framing itself is bad.
 */
int spans_in_decode(const uint8_t *body, size_t len, spans_in_cb cb, void *arg,
		    struct spans_in_stats *st);

/* Whether @s (@n octets) is valid UTF-8 with no control characters. */
bool spans_in_text_ok(const uint8_t *s, size_t n);

#endif /* CLT_AGENT_SPANS_IN_H */
