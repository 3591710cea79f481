/*
 * fuzz_http.c - libFuzzer target for the shim's HTTP request tracker.
 * The input is a sequence of writes: [len byte][len bytes]..., preceded
 * by one byte choosing the enabled propagators (low nibble), their order
 * (bits 4-5) and whether unsampled requests are tagged (bit 7). The same bytes are fed as
 * separate writes, as one write, and as an iovec array with a partial
 * acceptance; the tracker must never read outside its input and the
 * three must agree (the split of a stream into writes must not matter).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What each tracker saw, counted here through the tracker's test hook
 * (the shim's build leaves HTTP_OBSERVE empty). */
struct seen {
	const struct http_tracker *t;
	uint64_t request, with_ids, unsampled, dead;
};
static struct seen seen[3];

static struct seen *seen_of(const struct http_tracker *t)
{
	size_t i;

	for (i = 0; i < 3; i++) {
		if (seen[i].t == t || !seen[i].t) {
			seen[i].t = t;
			return &seen[i];
		}
	}
	abort();
}

static void observe_start(const struct http_tracker *t)
{
	struct seen *s = seen_of(t);

	s->request = s->with_ids = s->unsampled = s->dead = 0;
}

#define observe_request(t) (seen_of(t)->request++)
#define observe_with_ids(t) (seen_of(t)->with_ids++)
#define observe_unsampled(t) (seen_of(t)->unsampled++)
#define observe_long_line(t) ((void)0)
#define observe_dead(t) (seen_of(t)->dead = 1)
#define HTTP_OBSERVE(t, event) observe_##event(t)
#include "../preload/http.c"

static void same(const struct http_tracker *a, const struct http_tracker *b)
{
	const struct seen *sa = seen_of(a), *sb = seen_of(b);
	struct http_ids ia, ib;
	int ha = http_current_ids(a, &ia), hb = http_current_ids(b, &ib);

	if (ha != hb || sa->request != sb->request || sa->with_ids != sb->with_ids ||
	    sa->unsampled != sb->unsampled || sa->dead != sb->dead ||
	    (ha && memcmp(&ia, &ib, sizeof(ia)) != 0))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct http_tracker split, whole, viaiov;
	struct iovec iov[64];
	uint8_t order[HTTP_PROP_COUNT];
	size_t n_order = 0, pos = 1, n_iov = 0, i, limit;
	uint8_t *copy;
	bool tag_unsampled;

	if (size < 1)
		return 0;
	for (i = 0; i < HTTP_PROP_COUNT; i++)
		if (data[0] & (1u << i))
			order[n_order++] = (uint8_t)((i + (data[0] >> 4)) % HTTP_PROP_COUNT);
	tag_unsampled = data[0] & 0x80;
	http_init(&split, order, n_order, tag_unsampled);
	http_init(&whole, order, n_order, tag_unsampled);
	http_init(&viaiov, order, n_order, tag_unsampled);
	/* Each write in its own exact-size heap buffer so ASan sees any overread. */
	copy = malloc(size);
	if (!copy)
		return 0;
	while (pos < size) {
		size_t len = data[pos++];

		if (len > size - pos)
			len = size - pos;
		uint8_t *w = malloc(len ? len : 1);

		if (!w)
			break;
		memcpy(w, data + pos, len);
		http_feed(&split, w, len);
		free(w);
		if (n_iov < 64) {
			iov[n_iov].iov_base = (void *)(data + pos);
			iov[n_iov].iov_len = len;
			n_iov++;
		}
		pos += len;
	}
	/* The same payload bytes, contiguous. */
	pos = 1;
	limit = 0;
	while (pos < size) {
		size_t len = data[pos++];

		if (len > size - pos)
			len = size - pos;
		memcpy(copy + limit, data + pos, len);
		limit += len;
		pos += len;
	}
	http_feed(&whole, copy, limit);
	same(&split, &whole);
	/* Partial acceptance of the first iovecs equals the same prefix fed whole. */
	http_feed_iov(&viaiov, iov, n_iov, limit / 2);
	http_init(&whole, order, n_order, tag_unsampled);
	http_feed(&whole, copy, limit / 2 <= limit ? limit / 2 : limit);
	{
		size_t in_iov = 0;

		for (i = 0; i < n_iov; i++)
			in_iov += iov[i].iov_len;
		if (in_iov >= limit / 2)
			same(&viaiov, &whole);
	}
	http_skip(&viaiov, size);
	free(copy);
	return 0;
}
