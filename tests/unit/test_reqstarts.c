/*
 * test_reqstarts.c - where each request begins within one send: pipelined
 * requests (with bodies that look like requests, a chunked one, one
 * without IDs) each found at their own offset with their own IDs, at every
 * split of the send into two iovecs; a send that goes on with a request
 * begun before lists it first, at offset 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "http.h"
#include "reqstarts.h"

#define TP(t, s) "traceparent: 00-" t "-" s "-01\r\n"
#define T1 "0af7651916cd43dd8448eb211c80319c"
#define S1 "b7ad6b7169203331"
#define T2 "4bf92f3577b34da6a3ce929d0e0e4736"
#define S2 "00f067aa0ba902b7"
#define T3 "5e1f0a2b3c4d5e6f708192a3b4c5d6e7"
#define S3 "1a2b3c4d5e6f7081"

static const char r1[] = "POST /a HTTP/1.1\r\nHost: x\r\n" TP(T1, S1)
			 "Content-Length: 20\r\n\r\nGET /fake HTTP/1.1\r\n";
static const char r2[] = "GET /b HTTP/1.1\r\nHost: x\r\n\r\n";
static const char r3[] = "POST /c HTTP/1.1\r\n" TP(T2, S2) "Transfer-Encoding: chunked\r\n\r\n"
			 "5\r\nhello\r\n0\r\n\r\n";
static const char r4[] = "GET /d HTTP/1.1\r\n" TP(T3, S3) "\r\n";

static void unhex(const char *s, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sscanf(s + 2 * i, "%2hhx", &out[i]);
}

static void assert_start(const struct req_start *r, size_t off, const char *t, const char *s)
{
	uint8_t tr[16], sp[8];

	assert_int_equal(r->off, off);
	if (t == NULL) {
		assert_false(r->want);
		return;
	}
	assert_true(r->want);
	unhex(t, tr, 16);
	unhex(s, sp, 8);
	assert_memory_equal(r->ids.trace, tr, 16);
	assert_memory_equal(r->ids.span, sp, 8);
}

static void test_pipelined_every_split(void **state)
{
	char buf[1024];
	size_t n = 0, o2, o3, o4;

	(void)state;
	memcpy(buf + n, r1, sizeof(r1) - 1), n += sizeof(r1) - 1;
	o2 = n;
	memcpy(buf + n, r2, sizeof(r2) - 1), n += sizeof(r2) - 1;
	o3 = n;
	memcpy(buf + n, r3, sizeof(r3) - 1), n += sizeof(r3) - 1;
	o4 = n;
	memcpy(buf + n, r4, sizeof(r4) - 1), n += sizeof(r4) - 1;
	for (size_t cut = 0; cut <= n; cut++) {
		struct iovec iov[2] = {{buf, cut}, {buf + cut, n - cut}};
		struct req_start out[REQSTARTS_MAX];
		struct http_tracker t;

		http_init(&t, NULL, 0, false);
		assert_int_equal(reqstarts_find(&t, iov, 2, n, out), 4);
		assert_start(&out[0], 0, T1, S1);
		assert_start(&out[1], o2, NULL, NULL);
		assert_start(&out[2], o3, T2, S2);
		assert_start(&out[3], o4, T3, S3);
		assert_true(http_at_request_start(&t));
		assert_int_equal(t.req_no, 4);
	}
}

static void test_goes_on(void **state)
{
	struct http_tracker t;
	struct req_start out[REQSTARTS_MAX];
	size_t half = 40; /* inside r1's header block, before its traceparent ends */
	struct iovec iov = {(void *)(r1 + half), sizeof(r1) - 1 - half};
	char buf[256];
	size_t n;

	(void)state;
	http_init(&t, NULL, 0, false);
	http_feed(&t, r1, half);
	memcpy(buf, r1 + half, sizeof(r1) - 1 - half);
	memcpy(buf + iov.iov_len, r4, sizeof(r4) - 1);
	iov.iov_base = buf;
	iov.iov_len += sizeof(r4) - 1;
	n = reqstarts_find(&t, &iov, 1, iov.iov_len, out);
	assert_int_equal(n, 2);
	assert_start(&out[0], 0, T1, S1); /* the request the send goes on with */
	assert_start(&out[1], sizeof(r1) - 1 - half, T3, S3);
}

static void test_more_than_the_ring(void **state)
{
	static char buf[64 * sizeof(r4)];
	struct iovec iov = {buf, 0};
	struct req_start out[REQSTARTS_MAX];
	struct http_tracker t;

	(void)state;
	for (int i = 0; i < 40; i++) {
		memcpy(buf + iov.iov_len, r4, sizeof(r4) - 1);
		iov.iov_len += sizeof(r4) - 1;
	}
	http_init(&t, NULL, 0, false);
	assert_int_equal(reqstarts_find(&t, &iov, 1, iov.iov_len, out), REQSTARTS_MAX);
	/* The latest 32, oldest first. */
	for (int i = 0; i < REQSTARTS_MAX; i++)
		assert_start(&out[i], (size_t)(8 + i) * (sizeof(r4) - 1), T3, S3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipelined_every_split),
		cmocka_unit_test(test_goes_on),
		cmocka_unit_test(test_more_than_the_ring),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
