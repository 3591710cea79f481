/*
 * test_http_server.c - the shim's server-direction HTTP parser
 * (http_srv_*): requests read and responses written, their events in
 * stream order, whatever the split into calls.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "http.h"

struct log {
	char ev[64];
	size_t n;
	uint16_t status;
	struct http_srv_req req;
};

static void rec(void *arg, unsigned int ev, const struct http_srv *s)
{
	struct log *l = arg;
	char c = ev == HTTP_SRV_REQ_BEGIN ? 'b' : ev == HTTP_SRV_REQ_HEAD ? 'h' :
		 ev == HTTP_SRV_REQ_DONE ? 'd' : ev == HTTP_SRV_RSP_HEAD ? 'H' :
		 ev == HTTP_SRV_RSP_DONE ? 'D' : 'X';

	if (l->n < sizeof(l->ev) - 1)
		l->ev[l->n++] = c;
	if (ev == HTTP_SRV_REQ_HEAD)
		l->req = s->req;
	if (ev == HTTP_SRV_RSP_HEAD)
		l->status = s->status;
}

/* Feed @in then @out, whole and one byte per call: the same events either way. */
static void run(const char *in, const char *out, const char *want, struct log *l)
{
	struct http_srv s;
	struct log b = {0};

	memset(l, 0, sizeof(*l));
	http_srv_init(&s);
	http_srv_feed_in(&s, in, strlen(in), rec, l);
	http_srv_feed_out(&s, out, strlen(out), rec, l);
	assert_string_equal(l->ev, want);
	http_srv_init(&s);
	for (size_t i = 0; in[i]; i++)
		http_srv_feed_in(&s, in + i, 1, rec, &b);
	for (size_t i = 0; out[i]; i++)
		http_srv_feed_out(&s, out + i, 1, rec, &b);
	assert_string_equal(b.ev, want);
}

static void test_simple(void **state)
{
	struct log l;

	(void)state;
	run("GET /a/b?x=1 HTTP/1.1\r\nHost: example:8080\r\nUser-Agent: t/1\r\n"
	    "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\r\n",
	    "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nno\n", "bhdHD", &l);
	assert_string_equal(l.req.method, "GET");
	assert_string_equal(l.req.path, "/a/b");
	assert_string_equal(l.req.host, "example:8080");
	assert_string_equal(l.req.user_agent, "t/1");
	assert_true(l.req.has_parent);
	assert_true(l.req.parent_sampled);
	assert_int_equal(l.req.minor, 1);
	assert_int_equal(l.status, 404);
}

static void test_pipelined_chunked_head(void **state)
{
	struct log l;

	(void)state;
	run("POST /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
	    "HEAD /h HTTP/1.1\r\n\r\nGET /g HTTP/1.0\r\nContent-Length: 2\r\n\r\nxy",
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
	    "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n"
	    "HTTP/1.1 204 No Content\r\n\r\n",
	    "bhdbhdbhdHDHDHD", &l);
}

static void test_interim_and_until_close(void **state)
{
	struct log l;

	(void)state;
	run("PUT /p HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nz",
	    "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\n\r\nbody until close", "bhdH", &l);
	assert_int_equal(l.status, 201);
}

/* 101: the upgrade request's response ends there (its span, with the status); then no HTTP. */
static void test_upgrade_ends_response(void **state)
{
	struct log l;

	(void)state;
	run("GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
	    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
	    "\x81\x05hello",
	    "bhdHDX", &l);
	assert_int_equal(l.status, 101);
}

/* A client that reads on another thread than it writes (Java's HttpClient) can read a response
 * before the shim records its request: that request is answered, so a later HEAD request's
 * response is still taken as bodiless, and the stream stays in step. */
static void test_answered_ahead(void **state)
{
	static const char req1[] = "GET /a HTTP/1.1\r\n\r\n";
	static const char rsp1[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	static const char req2[] = "HEAD /h HTTP/1.1\r\n\r\n";
	static const char rsp2[] = "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n";
	static const char req3[] = "GET /c HTTP/1.1\r\n\r\n";
	static const char rsp3[] = "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
	struct http_srv s;
	struct log l = {0};

	(void)state;
	http_srv_init(&s);
	http_srv_feed_out(&s, rsp1, strlen(rsp1), rec, &l);
	http_srv_feed_in(&s, req1, strlen(req1), rec, &l);
	http_srv_feed_in(&s, req2, strlen(req2), rec, &l);
	http_srv_feed_out(&s, rsp2, strlen(rsp2), rec, &l);
	http_srv_feed_in(&s, req3, strlen(req3), rec, &l);
	http_srv_feed_out(&s, rsp3, strlen(rsp3), rec, &l);
	assert_string_equal(l.ev, "HDbhdbhdHDbhdHD");
	assert_int_equal(l.status, 201);
}

/* More than 8 requests unanswered: the ones past 8 are answered without being mistaken for
 * responses that came ahead of their request, so a later HEAD is still known as one. */
static void test_many_pending_then_head(void **state)
{
	static const char get[] = "GET /g HTTP/1.1\r\n\r\n";
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	static const char head[] = "HEAD /h HTTP/1.1\r\n\r\n";
	static const char rsp[] = "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n";
	static const char last[] = "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
	struct http_srv s;
	struct log l = {0};

	(void)state;
	http_srv_init(&s);
	for (int i = 0; i < 10; i++)
		http_srv_feed_in(&s, get, strlen(get), rec, &l);
	for (int i = 0; i < 10; i++)
		http_srv_feed_out(&s, ok, strlen(ok), rec, &l);
	http_srv_feed_in(&s, head, strlen(head), rec, &l);
	http_srv_feed_out(&s, rsp, strlen(rsp), rec, &l);
	http_srv_feed_in(&s, get, strlen(get), rec, &l);
	http_srv_feed_out(&s, last, strlen(last), rec, &l);
	assert_string_equal(l.ev, "bhdbhdbhdbhdbhdbhdbhdbhdbhdbhdHDHDHDHDHDHDHDHDHDHDbhdHDbhdHD");
	assert_int_equal(l.status, 201);
}

static void test_not_http(void **state)
{
	struct log l;

	(void)state;
	run("\x16\x03\x01\x02garbage\r\n\r\n", "", "X", &l);
	run("GARBAGE\x01\x02\r\n\r\n", "", "bX", &l);
	run("GET / HTTP/2.0\r\n\r\n", "", "bX", &l);
	run("get / HTTP/1.1\r\n\r\n", "", "X", &l);
	run("GET / HTTP/1.1\r\nBad Header : x\r\n\r\n", "", "bX", &l);
	run("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "", "bX", &l);
	run("GET / HTTP/1.1\r\n\r\n", "SSH-2.0\r\n\r\n", "bhdX", &l);
	run("GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 2x0 OK\r\n\r\n", "bhdX", &l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple),
		cmocka_unit_test(test_pipelined_chunked_head),
		cmocka_unit_test(test_interim_and_until_close),
		cmocka_unit_test(test_upgrade_ends_response),
		cmocka_unit_test(test_answered_ahead),
		cmocka_unit_test(test_many_pending_then_head),
		cmocka_unit_test(test_not_http),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
