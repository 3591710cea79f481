/*
 * reqstarts.c - where each request begins within one send (reqstarts.h).
 *
 * Only sends that hold more than the start of one request come here (tx.c
 * decides, after its usual look-ahead): they are fed to a copy of the
 * tracker again, a byte at a time outside bodies - the tracker says a
 * request began by counting it (req_no) - and a body at a time inside
 * them (http_skip: its octets need no parsing). A request's IDs are read
 * once its header block is complete, or at the end of the send.
 */
#include <string.h>

#include "reqstarts.h"

/* Bytes still to come in the current body or chunk, if the tracker is in one. */
static size_t body_left(const struct http_tracker *t, size_t avail)
{
	size_t n = t->remaining < avail ? (size_t)t->remaining : avail;

	return n > 0 && http_in_body(t, n) ? n : 0;
}

size_t reqstarts_find(struct http_tracker *t, const struct iovec *iov, size_t iovcnt, size_t total,
		      struct req_start out[REQSTARTS_MAX])
{
	struct req_start *cur = NULL;
	size_t n = 0, pos = 0;
	bool decided = false; /* cur's IDs are read */

	/* The send goes on with a request begun before: its bytes come first. */
	if (!http_at_request_start(t) && !http_dead(t)) {
		cur = &out[n++];
		memset(cur, 0, sizeof(*cur));
		if (t->head_done) {
			cur->want = http_current_ids(t, &cur->ids);
			decided = true;
		}
	}
	for (size_t i = 0; i < iovcnt && pos < total; i++) {
		const unsigned char *p = iov[i].iov_base;
		size_t len = iov[i].iov_len < total - pos ? iov[i].iov_len : total - pos;

		for (size_t k = 0; k < len && !http_dead(t);) {
			size_t skip = body_left(t, len - k);
			uint32_t before = t->req_no;

			if (skip > 0) {
				http_skip(t, skip);
				k += skip;
				pos += skip;
				continue;
			}
			http_feed(t, p + k, 1);
			if (t->req_no != before) {
				/* A new request: the previous one's IDs are what they were. */
				cur = &out[n % REQSTARTS_MAX];
				n++;
				memset(cur, 0, sizeof(*cur));
				cur->off = pos;
				decided = false;
			}
			if (cur != NULL && !decided && t->head_done) {
				cur->want = http_current_ids(t, &cur->ids);
				decided = true;
			}
			k++;
			pos++;
		}
	}
	if (cur != NULL && !decided)
		cur->want = http_current_ids(t, &cur->ids);
	if (n > REQSTARTS_MAX) {
		/* Oldest first: rotate the ring's latest REQSTARTS_MAX into order. */
		struct req_start tmp[REQSTARTS_MAX];
		size_t first = n % REQSTARTS_MAX;

		for (size_t j = 0; j < REQSTARTS_MAX; j++)
			tmp[j] = out[(first + j) % REQSTARTS_MAX];
		memcpy(out, tmp, sizeof(tmp));
		n = REQSTARTS_MAX;
	}
	return n;
}
