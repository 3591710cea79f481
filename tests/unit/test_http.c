/*
 * test_http.c - the shim's HTTP/1.x request tracker: every request of a
 * pipelined stream must be seen with its own IDs, whatever the split of
 * the bytes into writes or iovecs; bodies that look like requests must
 * not be taken for requests; invalid trace headers mean "no IDs", and so
 * do valid ones of an unsampled trace (unless asked to tag those too);
 * non-HTTP streams are given up after a bounded look.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http.h"
#include "propagate.h"

/*
 * What the tracker saw, counted by the test alone: the tracker itself is
 * compiled in here with a hook (HTTP_OBSERVE) that the shim's build leaves
 * empty, so none of this is in production code.
 */
struct http_stats {
	uint64_t request;   /* request lines seen */
	uint64_t with_ids;  /* requests whose header block carried valid IDs, to tag */
	uint64_t unsampled; /* requests with valid IDs of an unsampled trace (not tagged) */
	uint64_t long_line; /* header lines longer than HTTP_LINE_MAX (ignored) */
	uint64_t dead;      /* 1 once the stream was given up */
};

static struct {
	const struct http_tracker *t;
	struct http_stats s;
} stats_tab[256];

static struct http_stats *stats_of(const struct http_tracker *t)
{
	size_t i;

	for (i = 0; i < sizeof(stats_tab) / sizeof(stats_tab[0]); i++) {
		if (stats_tab[i].t == t)
			return &stats_tab[i].s;
		if (!stats_tab[i].t) {
			stats_tab[i].t = t;
			return &stats_tab[i].s;
		}
	}
	abort();
}

static void observe_start(const struct http_tracker *t)
{
	memset(stats_of(t), 0, sizeof(struct http_stats));
}

static void observe_request(const struct http_tracker *t)
{
	stats_of(t)->request++;
}

static void observe_with_ids(const struct http_tracker *t)
{
	stats_of(t)->with_ids++;
}

static void observe_unsampled(const struct http_tracker *t)
{
	stats_of(t)->unsampled++;
}

static void observe_long_line(const struct http_tracker *t)
{
	stats_of(t)->long_line++;
}

static void observe_dead(const struct http_tracker *t)
{
	stats_of(t)->dead = 1;
}

#define HTTP_OBSERVE(t, event) observe_##event(t)
#include "../preload/http.c"

/* Between requests: the next byte would start a new one. */
static bool http_idle(const struct http_tracker *t)
{
	return t->state == ST_START;
}

#define T1 "0af7651916cd43dd8448eb211c80319c"
#define S1 "b7ad6b7169203331"
#define T2 "4bf92f3577b34da6a3ce929d0e0e4736"
#define S2 "00f067aa0ba902b7"
#define T3 "11111111111111111111111111111111"
#define S3 "2222222222222222"

struct snap {
	uint64_t request, with_ids, unsampled, dead;
	bool has;
	struct http_ids ids;
};

static void unhex(const char *s, uint8_t *out, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned int v;

		assert_int_equal(sscanf(s + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

static struct http_ids ids_of(const char *trace, const char *span)
{
	struct http_ids ids;

	unhex(trace, ids.trace, 16);
	unhex(span, ids.span, 8);
	return ids;
}

static struct snap take(const struct http_tracker *t)
{
	struct snap s;

	memset(&s, 0, sizeof(s));
	s.request = stats_of(t)->request;
	s.with_ids = stats_of(t)->with_ids;
	s.unsampled = stats_of(t)->unsampled;
	s.dead = stats_of(t)->dead;
	s.has = http_current_ids(t, &s.ids);
	if (!s.has)
		memset(&s.ids, 0, sizeof(s.ids));
	return s;
}

static void assert_snap_equal(const struct snap *a, const struct snap *b)
{
	assert_int_equal(a->request, b->request);
	assert_int_equal(a->with_ids, b->with_ids);
	assert_int_equal(a->unsampled, b->unsampled);
	assert_int_equal(a->dead, b->dead);
	assert_int_equal(a->has, b->has);
	assert_memory_equal(&a->ids, &b->ids, sizeof(a->ids));
}

static void assert_ids(const struct http_tracker *t, const char *trace, const char *span)
{
	struct http_ids got, want;

	if (!trace) {
		assert_false(http_current_ids(t, &got));
		return;
	}
	want = ids_of(trace, span);
	assert_true(http_current_ids(t, &got));
	assert_memory_equal(&got, &want, sizeof(got));
}

/* A request stream and, for each request, where it ends and which IDs it carries. */
struct expect {
	size_t end;
	const char *trace, *span;
};

static char stream[8192];
static size_t stream_len;
static struct expect expects[16];
static size_t n_expects;

static void add_req(const char *text, const char *trace, const char *span)
{
	size_t n = strlen(text);

	assert_true(stream_len + n < sizeof(stream));
	memcpy(stream + stream_len, text, n);
	stream_len += n;
	expects[n_expects].end = stream_len;
	expects[n_expects].trace = trace;
	expects[n_expects].span = span;
	n_expects++;
}

static void build_pipeline(void)
{
	stream_len = 0;
	n_expects = 0;
	add_req("GET /a HTTP/1.1\r\nHost: x\r\ntraceparent: 00-" T1 "-" S1 "-01\r\n\r\n", T1, S1);
	/* A Content-Length body that looks like a request with another traceparent. */
	add_req("POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 90\r\n"
		"Traceparent: 00-" T2 "-" S2 "-01\r\n\r\n"
		"GET /evil HTTP/1.1\r\ntraceparent: 00-" T3 "-" S3 "-01\r\n",
		T2, S2);
	assert_int_equal(strlen("GET /evil HTTP/1.1\r\ntraceparent: 00-" T3 "-" S3 "-01\r\n"), 90);
	/* Valid but not sampled: no IDs, the previous request's must not stay either. */
	add_req("GET /b2 HTTP/1.1\r\ntraceparent: 00-" T1 "-" S1 "-00\r\n\r\n", NULL, NULL);
	/* Chunked body with request-like text and a trailer section. */
	add_req("PUT /c HTTP/1.1\r\nTRANSFER-ENCODING: gzip, Chunked\r\n"
		"TRACEPARENT:\t 00-" T3 "-" S3 "-01 \t\r\n\r\n"
		"1a;ext=1\r\nGET / HTTP/1.1\r\nHost: y\r\n\r\n"
		"5\r\n\r\n\r\n\r\n"
		"0\r\ntraceparent: 00-" T1 "-" S1 "-01\r\n\r\n",
		T3, S3);
	/* No traceparent: the previous request's IDs must not stay. */
	add_req("GET /d HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", NULL, NULL);
	/* Empty line before the request line, LF-only line ends, odd spacing. */
	add_req("\r\nDELETE /e HTTP/1.0\nhost:x\ntraceParent:00-" T2 "-" S2 "-01\n\n", T2, S2);
	/* Invalid traceparent (uppercase hex) = none. */
	add_req("GET /f HTTP/1.1\r\ntraceparent: 00-0AF7651916CD43DD8448EB211C80319C-" S1
		"-01\r\n\r\n",
		NULL, NULL);
}

static void feed_split(struct http_tracker *t, const char *p, size_t n, size_t a, size_t b)
{
	http_feed(t, p, a);
	http_feed(t, p + a, b - a);
	http_feed(t, p + b, n - b);
}

/* Byte by byte: at each request's end, that request's IDs. */
static void test_pipeline_bytewise(void **state)
{
	struct http_tracker t;
	size_t i, e = 0;

	(void)state;
	build_pipeline();
	http_init(&t, NULL, 0, false);
	for (i = 0; i < stream_len; i++) {
		http_feed(&t, stream + i, 1);
		if (e < n_expects && i + 1 == expects[e].end) {
			assert_ids(&t, expects[e].trace, expects[e].span);
			assert_int_equal(stats_of(&t)->request, e + 1);
			assert_true(http_idle(&t));
			e++;
		}
	}
	assert_int_equal(e, n_expects);
	assert_int_equal(stats_of(&t)->request, 7);
	assert_int_equal(stats_of(&t)->with_ids, 4);
	assert_int_equal(stats_of(&t)->unsampled, 1);
	assert_int_equal(stats_of(&t)->dead, 0);
}

/* Any split into three writes gives the same result as byte-by-byte, at every cut. */
static void test_pipeline_every_split(void **state)
{
	struct http_tracker ref, t;
	struct snap *at;
	size_t a, b, step;

	(void)state;
	build_pipeline();
	at = calloc(stream_len + 1, sizeof(*at));
	assert_non_null(at);
	http_init(&ref, NULL, 0, false);
	at[0] = take(&ref);
	for (a = 0; a < stream_len; a++) {
		http_feed(&ref, stream + a, 1);
		at[a + 1] = take(&ref);
	}
	for (a = 0; a <= stream_len; a++) {
		struct snap s;

		/* Two writes: cut at every byte. */
		http_init(&t, NULL, 0, false);
		http_feed(&t, stream, a);
		s = take(&t);
		assert_snap_equal(&s, &at[a]);
		http_feed(&t, stream + a, stream_len - a);
		s = take(&t);
		assert_snap_equal(&s, &at[stream_len]);
		/* Three writes: a second cut at a spread of places after the first. */
		step = 1 + (stream_len - a) / 23;
		for (b = a; b <= stream_len; b += step) {
			http_init(&t, NULL, 0, false);
			feed_split(&t, stream, stream_len, a, b);
			s = take(&t);
			assert_snap_equal(&s, &at[stream_len]);
		}
	}
	print_message("checked %zu-byte pipeline of %zu requests at every cut\n", stream_len,
		      n_expects);
	free(at);
}

/* iovecs: the same stream as a gather list, and a partial acceptance (limit). */
static void test_iovecs(void **state)
{
	struct http_tracker t, ref;
	struct iovec iov[7];
	size_t cuts[6] = { 1, 17, 40, 41, 150, 300 };
	size_t i, prev = 0, limit;
	struct snap s1, s2;

	(void)state;
	build_pipeline();
	for (i = 0; i < 6; i++) {
		iov[i].iov_base = stream + prev;
		iov[i].iov_len = cuts[i] - prev;
		prev = cuts[i];
	}
	iov[6].iov_base = stream + prev;
	iov[6].iov_len = stream_len - prev;
	http_init(&t, NULL, 0, false);
	http_feed_iov(&t, iov, 7, SIZE_MAX);
	http_init(&ref, NULL, 0, false);
	http_feed(&ref, stream, stream_len);
	s1 = take(&t);
	s2 = take(&ref);
	assert_snap_equal(&s1, &s2);
	/* The kernel accepted only part: the tracker must see exactly that prefix. */
	for (limit = 0; limit <= stream_len; limit += 7) {
		http_init(&t, NULL, 0, false);
		http_feed_iov(&t, iov, 7, limit);
		http_init(&ref, NULL, 0, false);
		http_feed(&ref, stream, limit);
		s1 = take(&t);
		s2 = take(&ref);
		assert_snap_equal(&s1, &s2);
	}
}

static void one_request(const char *req, const char *trace, const char *span)
{
	struct http_tracker t;

	http_init(&t, NULL, 0, false);
	http_feed(&t, req, strlen(req));
	assert_int_equal(stats_of(&t)->dead, 0);
	assert_ids(&t, trace, span);
}

static void test_header_variants(void **state)
{
	(void)state;
	/* Header name case and optional whitespace. */
	one_request("GET / HTTP/1.1\r\nTrAcEpArEnT:00-" T1 "-" S1 "-01   \r\n\r\n", T1, S1);
	/* Future version parsed by the 00 layout. */
	one_request("GET / HTTP/1.1\r\ntraceparent: 01-" T1 "-" S1 "-01-what-ever\r\n\r\n", T1,
		    S1);
	/* Invalid values: version ff, zero ids, short, 00 with extra characters. */
	one_request("GET / HTTP/1.1\r\ntraceparent: ff-" T1 "-" S1 "-01\r\n\r\n", NULL, NULL);
	one_request("GET / HTTP/1.1\r\ntraceparent: 00-00000000000000000000000000000000-" S1
		    "-01\r\n\r\n",
		    NULL, NULL);
	one_request("GET / HTTP/1.1\r\ntraceparent: 00-" T1 "-0000000000000000-01\r\n\r\n", NULL,
		    NULL);
	one_request("GET / HTTP/1.1\r\ntraceparent: 00-" T1 "-" S1 "\r\n\r\n", NULL, NULL);
	one_request("GET / HTTP/1.1\r\ntraceparent: 00-" T1 "-" S1 "-01-x\r\n\r\n", NULL, NULL);
	/* Two traceparent headers: W3C says ignore them. */
	one_request("GET / HTTP/1.1\r\ntraceparent: 00-" T1 "-" S1 "-01\r\ntraceparent: 00-" T2
		    "-" S2 "-01\r\n\r\n",
		    NULL, NULL);
	/* Space before the colon is not a header name (RFC 9112 5.1). */
	one_request("GET / HTTP/1.1\r\ntraceparent : 00-" T1 "-" S1 "-01\r\n\r\n", NULL, NULL);
	/* Obsolete line folding is not a header. */
	one_request("GET / HTTP/1.1\r\nX-A: b\r\n traceparent: 00-" T1 "-" S1 "-01\r\n\r\n", NULL,
		    NULL);
}

/* The traceparent is in effect as soon as its line is complete (header block split). */
static void test_ids_before_block_end(void **state)
{
	struct http_tracker t;
	const char *a = "POST / HTTP/1.1\r\ntraceparent: 00-" T1 "-" S1 "-01\r\n";

	(void)state;
	http_init(&t, NULL, 0, false);
	http_feed(&t, a, strlen(a));
	assert_ids(&t, T1, S1);
	/* The next request line clears them at once, before its headers. */
	http_feed(&t, "Content-Length: 3\r\n\r\nabcG", 25);
	assert_ids(&t, NULL, NULL);
	/* Counted once its method is complete. */
	assert_int_equal(stats_of(&t)->request, 1);
	http_feed(&t, "ET ", 3);
	assert_int_equal(stats_of(&t)->request, 2);
}

static void test_oversized(void **state)
{
	struct http_tracker t;
	char *big = malloc(70000);
	size_t n;

	(void)state;
	assert_non_null(big);
	/* A 4 KiB cookie line is skipped; the traceparent after it still counts. */
	n = (size_t)snprintf(big, 70000, "GET / HTTP/1.1\r\nCookie: %04096d\r\ntraceparent: 00-" T1
				     "-" S1 "-01\r\n\r\n",
			     7);
	http_init(&t, NULL, 0, false);
	http_feed(&t, big, n);
	assert_ids(&t, T1, S1);
	assert_int_equal(stats_of(&t)->long_line, 1);
	/* A traceparent value buried in an overlong line is not read. */
	n = (size_t)snprintf(big, 70000, "GET / HTTP/1.1\r\ntraceparent: 00-" T1 "-" S1
				     "-01%02000d\r\n\r\n",
			     0);
	http_init(&t, NULL, 0, false);
	http_feed(&t, big, n);
	assert_ids(&t, NULL, NULL);
	assert_int_equal(stats_of(&t)->dead, 0);
	/* A long request line (URL) is fine when it ends with the version. */
	memcpy(big, "GET /", 5);
	memset(big + 5, 'a', 5000);
	n = 5005 + (size_t)snprintf(big + 5005, 1000, " HTTP/1.1\r\ntraceparent: 00-" T2 "-" S2
						       "-01\r\n\r\n");
	http_init(&t, NULL, 0, false);
	http_feed(&t, big, n);
	assert_ids(&t, T2, S2);
	/* A header block beyond 64 KiB is not a request a server takes: give up. */
	n = (size_t)snprintf(big, 100, "GET / HTTP/1.1\r\ntraceparent: 00-" T1 "-" S1 "-01\r\n");
	http_init(&t, NULL, 0, false);
	http_feed(&t, big, n);
	assert_ids(&t, T1, S1);
	memset(big, 'x', 70000);
	for (n = 0; n < 70; n++) {
		big[999] = '\n';
		http_feed(&t, big, 1000);
	}
	assert_int_equal(stats_of(&t)->dead, 1);
	assert_ids(&t, NULL, NULL);
	free(big);
}

static void expect_dead(const void *p, size_t n, size_t within)
{
	struct http_tracker t;
	size_t i;

	http_init(&t, NULL, 0, false);
	for (i = 0; i < n && !http_dead(&t); i++)
		http_feed(&t, (const char *)p + i, 1);
	assert_true(http_dead(&t));
	assert_true(i <= within);
}

static void test_not_http(void **state)
{
	static const uint8_t tls[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc };
	static const char h2[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	static const char ssh[] = "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n";
	static const char resp[] = "HTTP/1.1 200 OK\r\n\r\n";
	static const char longtok[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ / HTTP/1.1\r\n\r\n";
	static const char te[] = "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nxx";
	static const char cl[] = "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n";
	static const char badchunk[] = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
	struct http_tracker t;

	(void)state;
	expect_dead(tls, sizeof(tls), 1);
	expect_dead(h2, strlen(h2), 16);
	expect_dead(ssh, strlen(ssh), 17);
	expect_dead(resp, strlen(resp), 9);
	expect_dead(longtok, strlen(longtok), HTTP_METHOD_MAX + 1);
	expect_dead(te, strlen(te), strlen(te));
	expect_dead(cl, strlen(cl), strlen(cl));
	expect_dead(badchunk, strlen(badchunk), strlen(badchunk));
	/* Once dead, a later valid request is never parsed. */
	http_init(&t, NULL, 0, false);
	http_feed(&t, tls, sizeof(tls));
	http_feed(&t, "GET / HTTP/1.1\r\ntraceparent: 00-" T1 "-" S1 "-01\r\n\r\n", 70);
	assert_ids(&t, NULL, NULL);
	assert_int_equal(stats_of(&t)->request, 0);
}

/* sendfile bytes: counted inside a body; elsewhere the stream is given up. */
static void test_skip(void **state)
{
	struct http_tracker t;
	const char *h = "POST / HTTP/1.1\r\nContent-Length: 1000\r\ntraceparent: 00-" T1 "-" S1
			"-01\r\n\r\n";

	(void)state;
	http_init(&t, NULL, 0, false);
	http_feed(&t, h, strlen(h));
	http_skip(&t, 600);
	assert_ids(&t, T1, S1);
	http_skip(&t, 400);
	assert_true(http_idle(&t));
	http_feed(&t, "GET / HTTP/1.1\r\n\r\n", 18);
	assert_ids(&t, NULL, NULL);
	assert_int_equal(stats_of(&t)->request, 2);
	http_skip(&t, 1);
	assert_true(http_dead(&t));
}

/* The shim counts a body send ahead and winds back what did not leave. */
static void test_mark_rewind(void **state)
{
	struct http_tracker t;
	struct http_mark m;
	const char *h = "POST / HTTP/1.1\r\nContent-Length: 100\r\ntraceparent: 00-" T1 "-" S1
			"-01\r\n\r\n";
	const char *c = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n";

	(void)state;
	http_init(&t, NULL, 0, false);
	http_feed(&t, h, strlen(h));
	/* The whole body counted, 30 bytes really left: 70 still to come. */
	http_mark_get(&t, &m);
	http_skip(&t, 100);
	assert_true(http_idle(&t));
	http_mark_rewind(&t, &m);
	http_skip(&t, 30);
	assert_false(http_idle(&t));
	assert_true(http_in_body(&t, 70));
	assert_false(http_in_body(&t, 71));
	assert_ids(&t, T1, S1);
	http_skip(&t, 70);
	assert_true(http_idle(&t));
	http_feed(&t, "GET / HTTP/1.1\r\n\r\n", 18);
	assert_ids(&t, NULL, NULL);
	assert_int_equal(stats_of(&t)->request, 2);

	/* A chunk counted whole, nothing left: still inside the chunk. */
	http_init(&t, NULL, 0, false);
	http_feed(&t, c, strlen(c));
	assert_true(http_in_body(&t, 16));
	http_mark_get(&t, &m);
	http_skip(&t, 16);
	assert_false(http_in_body(&t, 1));
	http_mark_rewind(&t, &m);
	assert_true(http_in_body(&t, 16));
	http_feed(&t, "0123456789abcdef\r\n0\r\n\r\n", 23);
	assert_true(http_idle(&t));
	assert_false(http_dead(&t));

	/* Given up: dead, no IDs. */
	http_give_up(&t);
	assert_true(http_dead(&t));
	assert_ids(&t, NULL, NULL);
}

static void test_propagators(void **state)
{
	static const uint8_t all[] = { HTTP_PROP_JAEGER, HTTP_PROP_B3, HTTP_PROP_B3MULTI,
				       HTTP_PROP_TRACECONTEXT };
	struct http_tracker t;
	struct http_ids ids;
	bool sampled;
	const char *b3 = "GET / HTTP/1.1\r\nb3: " T2 "-" S2 "-1-" S1 "\r\n\r\n";
	const char *b3m = "GET / HTTP/1.1\r\nX-B3-TraceId: " S1 "\r\nX-B3-SpanId: " S2
			  "\r\nX-B3-Sampled: 1\r\n\r\n";
	const char *jg = "GET / HTTP/1.1\r\nuber-trace-id: " T3 ":" S3 ":0:1\r\n"
			 "traceparent: 00-" T1 "-" S1 "-01\r\n\r\n";

	(void)state;
	/* Default: only traceparent counts. */
	http_init(&t, NULL, 0, false);
	http_feed(&t, b3, strlen(b3));
	assert_ids(&t, NULL, NULL);
	/* Enabled, in priority order. */
	http_init(&t, all, 4, false);
	http_feed(&t, b3, strlen(b3));
	assert_ids(&t, T2, S2);
	http_init(&t, all, 4, false);
	http_feed(&t, b3m, strlen(b3m));
	assert_ids(&t, "0000000000000000" S1, S2); /* 64-bit trace id, left-padded */
	http_init(&t, all, 4, false);
	http_feed(&t, jg, strlen(jg));
	assert_ids(&t, T3, S3); /* jaeger listed first */
	http_init(&t, all + 3, 1, false);
	http_feed(&t, jg, strlen(jg));
	assert_ids(&t, T1, S1);
	/* Value parsers. */
	assert_int_equal(prop_parse_b3("0", 1, &ids, &sampled), -EINVAL);
	assert_int_equal(prop_parse_b3("1", 1, &ids, &sampled), -EINVAL);
	assert_false(sampled);
	assert_int_equal(prop_parse_b3("d", 1, &ids, &sampled), -EINVAL);
	assert_false(sampled); /* a decision without IDs tags nothing */
	assert_int_equal(prop_parse_b3(T1 "-" S1, 49, &ids, &sampled), 0);
	assert_false(sampled); /* deferred */
	assert_int_equal(prop_parse_b3(T1 "-" S1 "x", 50, &ids, &sampled), -EINVAL);
	assert_int_equal(prop_parse_b3("abc-" S1, 20, &ids, &sampled), -EINVAL);
	assert_int_equal(prop_parse_jaeger("abc:def:0:1", 11, &ids, &sampled), 0);
	assert_true(sampled);
	assert_int_equal(ids.trace[15], 0xbc);
	assert_int_equal(ids.trace[14], 0x0a);
	assert_int_equal(ids.span[7], 0xef);
	assert_int_equal(prop_parse_jaeger("0:def:0:1", 9, &ids, &sampled), -EINVAL);
	assert_int_equal(prop_parse_jaeger("abc:def", 7, &ids, &sampled), -EINVAL);
	assert_int_equal(prop_parse_hex_id("12345", 5, ids.span, 8, false), -EINVAL);
}

/* @req alone on a fresh tracker with @order: tagged with @trace/@span, or (NULL) not at all. */
static void sampling_case(const uint8_t *order, size_t n, bool tag_unsampled, const char *req,
			  const char *trace, const char *span)
{
	struct http_tracker t;

	http_init(&t, order, n, tag_unsampled);
	http_feed(&t, req, strlen(req));
	assert_int_equal(stats_of(&t)->dead, 0);
	assert_int_equal(stats_of(&t)->request, 1);
	assert_ids(&t, trace, span);
	assert_int_equal(stats_of(&t)->with_ids, trace ? 1 : 0);
}

#define REQ(h) "GET / HTTP/1.1\r\nHost: x\r\n" h "\r\n\r\n"
#define T1_64 "8448eb211c80319c"
#define T1_64_PADDED "00000000000000008448eb211c80319c"

static void test_sampling_tracecontext(void **state)
{
	(void)state;
	sampling_case(NULL, 0, false, REQ("traceparent: 00-" T1 "-" S1 "-01"), T1, S1);
	sampling_case(NULL, 0, false, REQ("traceparent: 00-" T1 "-" S1 "-00"), NULL, NULL);
	/* Only bit 0 is the sampled flag; the others (random, future) do not matter. */
	sampling_case(NULL, 0, false, REQ("traceparent: 00-" T1 "-" S1 "-03"), T1, S1);
	sampling_case(NULL, 0, false, REQ("traceparent: 00-" T1 "-" S1 "-02"), NULL, NULL);
	sampling_case(NULL, 0, false, REQ("traceparent: 00-" T1 "-" S1 "-ff"), T1, S1);
	sampling_case(NULL, 0, false, REQ("traceparent: 01-" T1 "-" S1 "-00-x"), NULL, NULL);
	sampling_case(NULL, 0, true, REQ("traceparent: 00-" T1 "-" S1 "-00"), T1, S1);
	sampling_case(NULL, 0, true, REQ("traceparent: 00-" T1 "-" S1 "-01"), T1, S1);
	/* An invalid traceparent is still no context, also when unsampled ones are tagged. */
	sampling_case(NULL, 0, true, REQ("traceparent: 00-" T1 "-" S1 "-0"), NULL, NULL);
}

static void test_sampling_b3(void **state)
{
	static const uint8_t b3[] = { HTTP_PROP_B3 };

	(void)state;
	sampling_case(b3, 1, false, REQ("b3: " T1 "-" S1 "-1"), T1, S1);
	sampling_case(b3, 1, false, REQ("b3: " T1 "-" S1 "-d"), T1, S1); /* debug */
	sampling_case(b3, 1, false, REQ("b3: " T1 "-" S1 "-1-" S2), T1, S1);
	sampling_case(b3, 1, false, REQ("b3: " T1_64 "-" S1 "-1"), T1_64_PADDED, S1);
	sampling_case(b3, 1, false, REQ("b3: " T1 "-" S1 "-0"), NULL, NULL);
	sampling_case(b3, 1, false, REQ("b3: " T1 "-" S1 "-0-" S2), NULL, NULL);
	sampling_case(b3, 1, false, REQ("b3: " T1 "-" S1), NULL, NULL); /* deferred */
	sampling_case(b3, 1, false, REQ("b3: " T1 "-" S1 "-"), NULL, NULL);
	sampling_case(b3, 1, false, REQ("b3: " T1 "-" S1 "-true"), NULL, NULL);
	sampling_case(b3, 1, false, REQ("b3: " T1 "-" S1 "-D"), NULL, NULL);
	sampling_case(b3, 1, false, REQ("b3: 1"), NULL, NULL); /* a decision, no IDs */
	sampling_case(b3, 1, true, REQ("b3: " T1 "-" S1), T1, S1);
	sampling_case(b3, 1, true, REQ("b3: " T1 "-" S1 "-0"), T1, S1);
	sampling_case(b3, 1, true, REQ("b3: 0"), NULL, NULL);
}

static void test_sampling_b3multi(void **state)
{
	static const uint8_t b3m[] = { HTTP_PROP_B3MULTI };
	static const uint8_t tc[] = { HTTP_PROP_TRACECONTEXT };
#define B3M_IDS "X-B3-TraceId: " T1 "\r\nX-B3-SpanId: " S1 "\r\n"

	(void)state;
	sampling_case(b3m, 1, false, REQ(B3M_IDS "X-B3-Sampled: 1"), T1, S1);
	sampling_case(b3m, 1, false, REQ(B3M_IDS "x-b3-sampled: true"), T1, S1);
	sampling_case(b3m, 1, false, REQ(B3M_IDS "X-B3-Sampled: TRUE"), T1, S1);
	sampling_case(b3m, 1, false, REQ("X-B3-Sampled:1\r\n" B3M_IDS "X-A: b"), T1, S1);
	sampling_case(b3m, 1, false, REQ(B3M_IDS "X-B3-Flags: 1"), T1, S1); /* debug */
	sampling_case(b3m, 1, false, REQ(B3M_IDS "X-B3-Sampled: 0\r\nX-B3-Flags: 1"), T1, S1);
	sampling_case(b3m, 1, false, REQ(B3M_IDS "X-B3-Sampled: 0"), NULL, NULL);
	sampling_case(b3m, 1, false, REQ(B3M_IDS "X-B3-Sampled: false"), NULL, NULL);
	sampling_case(b3m, 1, false, REQ(B3M_IDS "X-B3-Sampled: 2"), NULL, NULL);
	sampling_case(b3m, 1, false, REQ(B3M_IDS "X-B3-Flags: 0"), NULL, NULL);
	sampling_case(b3m, 1, false, REQ(B3M_IDS "X-A: b"), NULL, NULL); /* deferred */
	/* Two decisions: not one the shim can trust. */
	sampling_case(b3m, 1, false, REQ(B3M_IDS "X-B3-Sampled: 1\r\nX-B3-Sampled: 1"), NULL,
		      NULL);
	sampling_case(b3m, 1, true, REQ(B3M_IDS "X-B3-Sampled: 0"), T1, S1);
	sampling_case(b3m, 1, true, REQ(B3M_IDS "X-A: b"), T1, S1);
	/* The sampling headers alone are no context; and read only when b3multi is enabled. */
	sampling_case(b3m, 1, true, REQ("X-B3-Sampled: 1\r\nX-B3-Flags: 1"), NULL, NULL);
	sampling_case(tc, 1, false,
		      REQ(B3M_IDS "X-B3-Sampled: 1\r\ntraceparent: 00-" T2 "-" S2 "-01"), T2, S2);
#undef B3M_IDS
}

static void test_sampling_jaeger(void **state)
{
	static const uint8_t jg[] = { HTTP_PROP_JAEGER };

	(void)state;
	sampling_case(jg, 1, false, REQ("uber-trace-id: " T1 ":" S1 ":0:1"), T1, S1);
	sampling_case(jg, 1, false, REQ("uber-trace-id: " T1 ":" S1 ":0:01"), T1, S1);
	sampling_case(jg, 1, false, REQ("uber-trace-id: " T1 ":" S1 ":0:3"), T1, S1);
	/* Debug (0x02) is only ever set on sampled traces (Jaeger): counts as sampled. */
	sampling_case(jg, 1, false, REQ("uber-trace-id: " T1 ":" S1 ":0:2"), T1, S1);
	sampling_case(jg, 1, false, REQ("uber-trace-id: " T1_64 ":" S1 ":" S2 ":0d"), T1_64_PADDED,
		      S1);
	sampling_case(jg, 1, false, REQ("uber-trace-id: " T1 ":" S1 ":0:0"), NULL, NULL);
	sampling_case(jg, 1, false, REQ("uber-trace-id: " T1 ":" S1 ":0:00"), NULL, NULL);
	sampling_case(jg, 1, false, REQ("uber-trace-id: " T1 ":" S1 ":0:8"), NULL, NULL); /* firehose */
	sampling_case(jg, 1, false, REQ("uber-trace-id: " T1 ":" S1 ":0:"), NULL, NULL);
	sampling_case(jg, 1, false, REQ("uber-trace-id: " T1 ":" S1 ":0:zz"), NULL, NULL);
	sampling_case(jg, 1, false, REQ("uber-trace-id: " T1 ":" S1 ":0"), NULL, NULL);
	sampling_case(jg, 1, true, REQ("uber-trace-id: " T1 ":" S1 ":0:0"), T1, S1);
	sampling_case(jg, 1, true, REQ("uber-trace-id: " T1 ":" S1 ":0"), T1, S1);
}

/* The header that supplies the context is chosen as before; then its own decision applies. */
static void test_sampling_priority(void **state)
{
	static const uint8_t tc_b3[] = { HTTP_PROP_TRACECONTEXT, HTTP_PROP_B3 };
	static const uint8_t b3_tc[] = { HTTP_PROP_B3, HTTP_PROP_TRACECONTEXT };
	const char *req = REQ("traceparent: 00-" T1 "-" S1 "-00\r\nb3: " T2 "-" S2 "-1");

	(void)state;
	sampling_case(tc_b3, 2, false, req, NULL, NULL); /* no fallback to the sampled b3 */
	sampling_case(tc_b3, 2, true, req, T1, S1);
	sampling_case(b3_tc, 2, false, req, T2, S2);
	/* An unusable (repeated) first choice: the next one, with its own decision. */
	sampling_case(tc_b3, 2, false,
		      REQ("traceparent: 00-" T1 "-" S1 "-01\r\ntraceparent: 00-" T1 "-" S1
			  "-01\r\nb3: " T2 "-" S2 "-0"),
		      NULL, NULL);
	sampling_case(tc_b3, 2, false,
		      REQ("traceparent: 00-" T1 "-" S1 "-00\r\ntraceparent: 00-" T1 "-" S1
			  "-00\r\nb3: " T2 "-" S2 "-d"),
		      T2, S2);
}

/* Keep-alive: sampled, unsampled, sampled; each request's decision is its own. */
static void test_sampling_keepalive(void **state)
{
	static const uint8_t all[] = { HTTP_PROP_TRACECONTEXT, HTTP_PROP_B3, HTTP_PROP_B3MULTI,
				       HTTP_PROP_JAEGER };
	static const char *const reqs[][3] = {
		{ REQ("traceparent: 00-" T1 "-" S1 "-01"), T1, S1 },
		{ REQ("traceparent: 00-" T2 "-" S2 "-00"), NULL, NULL },
		{ REQ("traceparent: 00-" T3 "-" S3 "-01"), T3, S3 },
		{ REQ("b3: " T2 "-" S2 "-0"), NULL, NULL },
		{ REQ("b3: " T1 "-" S1 "-1"), T1, S1 },
		{ REQ("X-B3-TraceId: " T2 "\r\nX-B3-SpanId: " S2), NULL, NULL },
		{ REQ("X-B3-TraceId: " T3 "\r\nX-B3-SpanId: " S3 "\r\nX-B3-Flags: 1"), T3, S3 },
		{ REQ("uber-trace-id: " T1 ":" S1 ":0:0"), NULL, NULL },
		{ REQ("uber-trace-id: " T2 ":" S2 ":0:1"), T2, S2 },
	};
	struct http_tracker t;
	size_t i;

	(void)state;
	http_init(&t, all, 4, false);
	for (i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		http_feed(&t, reqs[i][0], strlen(reqs[i][0]));
		assert_ids(&t, reqs[i][1], reqs[i][2]);
	}
	assert_int_equal(stats_of(&t)->request, 9);
	assert_int_equal(stats_of(&t)->with_ids, 5);
	assert_int_equal(stats_of(&t)->unsampled, 4);
	/* A sampling header in a later write than the IDs: tagged from that write on. */
	{
		const char *a = "GET / HTTP/1.1\r\nX-B3-TraceId: " T1 "\r\nX-B3-SpanId: " S1 "\r\n";
		const char *b = "X-B3-Sampled: 1\r\n\r\n";

		http_init(&t, all, 4, false);
		http_feed(&t, a, strlen(a));
		assert_ids(&t, NULL, NULL);
		http_feed(&t, b, strlen(b));
		assert_ids(&t, T1, S1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipeline_bytewise),
		cmocka_unit_test(test_pipeline_every_split),
		cmocka_unit_test(test_iovecs),
		cmocka_unit_test(test_header_variants),
		cmocka_unit_test(test_ids_before_block_end),
		cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_not_http),
		cmocka_unit_test(test_skip),
		cmocka_unit_test(test_propagators),
		cmocka_unit_test(test_mark_rewind),
		cmocka_unit_test(test_sampling_tracecontext),
		cmocka_unit_test(test_sampling_b3),
		cmocka_unit_test(test_sampling_b3multi),
		cmocka_unit_test(test_sampling_jaeger),
		cmocka_unit_test(test_sampling_priority),
		cmocka_unit_test(test_sampling_keepalive),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
