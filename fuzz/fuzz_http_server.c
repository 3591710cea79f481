/*
 * fuzz_http_server.c - libFuzzer target for the shim's server-direction
 * HTTP parser (http_srv_*). The first input byte splits the rest into a
 * read side and a write side; each side is fed as one call and again one
 * byte per call: the parser must never read outside its input and the
 * two must report the same events (how a stream is split into reads must
 * not matter).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct log {
	unsigned int ev[256];
	size_t n;
	uint16_t status[256];
};

static void record(void *arg, unsigned int ev, const struct http_srv *s)
{
	struct log *l = arg;

	if (l->n < 256) {
		l->status[l->n] = ev == HTTP_SRV_RSP_HEAD ? s->status : 0;
		l->ev[l->n++] = ev;
	}
	/* Every string the parser filled must be terminated within its buffer. */
	if (ev == HTTP_SRV_REQ_HEAD &&
	    (!memchr(s->req.method, 0, sizeof(s->req.method)) ||
	     !memchr(s->req.path, 0, sizeof(s->req.path)) ||
	     !memchr(s->req.host, 0, sizeof(s->req.host)) ||
	     !memchr(s->req.user_agent, 0, sizeof(s->req.user_agent))))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_srv *a, *b;
	struct log la = {0}, lb = {0};
	size_t cut;

	if (size < 1)
		return 0;
	cut = data[0] * (size - 1) / 255;
	data++;
	size--;
	a = malloc(sizeof(*a));
	b = malloc(sizeof(*b));
	http_srv_init(a);
	http_srv_init(b);
	http_srv_feed_in(a, data, cut, record, &la);
	http_srv_feed_out(a, data + cut, size - cut, record, &la);
	for (size_t i = 0; i < cut; i++)
		http_srv_feed_in(b, data + i, 1, record, &lb);
	for (size_t i = cut; i < size; i++)
		http_srv_feed_out(b, data + i, 1, record, &lb);
	if (la.n != lb.n || memcmp(la.ev, lb.ev, la.n * sizeof(la.ev[0])) ||
	    memcmp(la.status, lb.status, la.n * sizeof(la.status[0])))
		abort();
	free(a);
	free(b);
	return 0;
}
