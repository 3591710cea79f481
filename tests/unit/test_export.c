/*
 * test_export.c - the exporter's retry rules (only 429/502/503/504 and
 * network errors), Retry-After parsing, and the bounded queue's drop
 * accounting with an endpoint nobody answers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <poll.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "export.h"

static void test_classify(void **state)
{
	assert_int_equal(export_classify(CURLE_OK, 200), EXPORT_OK);
	assert_int_equal(export_classify(CURLE_OK, 202), EXPORT_OK);
	assert_int_equal(export_classify(CURLE_OK, 204), EXPORT_OK);
	assert_int_equal(export_classify(CURLE_OK, 429), EXPORT_RETRY);
	assert_int_equal(export_classify(CURLE_OK, 502), EXPORT_RETRY);
	assert_int_equal(export_classify(CURLE_OK, 503), EXPORT_RETRY);
	assert_int_equal(export_classify(CURLE_OK, 504), EXPORT_RETRY);
	assert_int_equal(export_classify(CURLE_OK, 400), EXPORT_FAIL);
	assert_int_equal(export_classify(CURLE_OK, 401), EXPORT_FAIL);
	assert_int_equal(export_classify(CURLE_OK, 404), EXPORT_FAIL);
	assert_int_equal(export_classify(CURLE_OK, 413), EXPORT_FAIL);
	assert_int_equal(export_classify(CURLE_OK, 500), EXPORT_FAIL);
	assert_int_equal(export_classify(CURLE_OK, 501), EXPORT_FAIL);
	assert_int_equal(export_classify(CURLE_OK, 301), EXPORT_FAIL);
	assert_int_equal(export_classify(CURLE_OK, 0), EXPORT_FAIL);
	assert_int_equal(export_classify(CURLE_COULDNT_CONNECT, 0), EXPORT_RETRY);
	assert_int_equal(export_classify(CURLE_OPERATION_TIMEDOUT, 0), EXPORT_RETRY);
	assert_int_equal(export_classify(CURLE_GOT_NOTHING, 0), EXPORT_RETRY);
	assert_int_equal(export_classify(CURLE_RECV_ERROR, 0), EXPORT_RETRY);
	assert_int_equal(export_classify(CURLE_SEND_ERROR, 0), EXPORT_RETRY);
	assert_int_equal(export_classify(CURLE_URL_MALFORMAT, 0), EXPORT_FAIL);
	assert_int_equal(export_classify(CURLE_UNSUPPORTED_PROTOCOL, 0), EXPORT_FAIL);
	assert_int_equal(export_classify(CURLE_PEER_FAILED_VERIFICATION, 0), EXPORT_FAIL);
}

static int64_t ra(const char *s, time_t now)
{
	return export_parse_retry_after(s, strlen(s), now);
}

static void test_retry_after(void **state)
{
	time_t now = 1445412480; /* Wed, 21 Oct 2015 07:28:00 GMT */

	assert_int_equal(ra("5", now), 5000);
	assert_int_equal(ra(" 7 \r\n", now), 7000);
	assert_int_equal(ra("0", now), 0);
	assert_int_equal(ra("99999999999999", now), 3600 * 1000);
	assert_int_equal(ra("", now), -1);
	assert_int_equal(ra("   ", now), -1);
	assert_int_equal(ra("5s", now), -1);
	assert_int_equal(ra("-5", now), -1);
	assert_int_equal(ra("soon", now), -1);
	assert_int_equal(ra("Wed, 21 Oct 2015 07:28:10 GMT", now), 10000);
	assert_int_equal(ra("Wed, 21 Oct 2015 07:27:00 GMT", now), 0);
	assert_int_equal(ra("Thu, 21 Oct 2055 07:28:00 GMT", now), 3600 * 1000);
	/* Longer than any date: refused without reading past the length. */
	assert_int_equal(export_parse_retry_after("12345678901234567890123456789012345678901234567890"
						  "1234567890123456789012345678901234567890",
						  90, now),
			 -1);
	assert_int_equal(export_parse_retry_after("12", 1, now), 1000);
}

static void test_queue_drops_and_gives_up(void **state)
{
	struct export_config cfg = {
		/* Port 9 on loopback: nothing listens, connections are refused fast. */
		.endpoint = "http://127.0.0.1:9/v1/traces",
		.timeout_ms = 500,
		.queue_size = 2,
		.retry_max_ms = 300,
		.backoff_initial_ms = 50,
		.backoff_max_ms = 100,
	};
	struct exporter *ex;
	struct export_stats st;
	int dropped = 0;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	assert_int_equal(export_start(&ex, &cfg), 0);
	for (int i = 0; i < 10; i++)
		if (export_submit(ex, strdup("{}"), 2, 5) < 0)
			dropped++;
	assert_true(dropped >= 7); /* queue of 2, plus at most one in flight */
	export_stop(ex, export_now_ms() + 5000, &st);
	assert_int_equal(st.spans_dropped, (uint64_t)dropped * 5);
	assert_int_equal(st.spans_failed + st.spans_dropped, 50);
	assert_int_equal(st.spans_exported, 0);
	assert_true(st.retries >= 1);
	assert_true(st.net_errors >= 2);
	curl_global_cleanup();
}

static void test_stop_is_bounded(void **state)
{
	struct export_config cfg = {
		.endpoint = "http://127.0.0.1:9/v1/traces",
		.timeout_ms = 500,
		.queue_size = 8,
		.retry_max_ms = 60000,
	};
	struct exporter *ex;
	struct export_stats st;
	uint64_t t0;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	assert_int_equal(export_start(&ex, &cfg), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(export_submit(ex, strdup("{}"), 2, 1), 0);
	t0 = export_now_ms();
	export_stop(ex, t0 + 300, &st);
	/* Retrying for a minute is allowed, but not past the stop deadline. */
	assert_true(export_now_ms() - t0 < 1500);
	assert_int_equal(st.spans_failed, 4);
	curl_global_cleanup();
}

/*
 * Accept on @lfd and read until the whole request (headers and the 2-octet
 * body) is in: from then on the exporter waits for an answer. A loaded
 * machine may take long to get there, so this waits up to 20 s rather than
 * assuming a fixed delay is enough. @return the connection, -1 on timeout.
 */
static int accept_whole_request(int lfd)
{
	struct pollfd p = {.fd = lfd, .events = POLLIN};
	uint64_t deadline = export_now_ms() + 20000;
	char buf[4096];
	size_t got = 0;
	int cfd;

	if (poll(&p, 1, 20000) != 1)
		return -1;
	cfd = accept(lfd, NULL, NULL);
	if (cfd < 0)
		return -1;
	p.fd = cfd;
	while (export_now_ms() < deadline) {
		const char *end;
		ssize_t n;

		if (poll(&p, 1, 1000) < 0)
			break;
		if (!(p.revents & POLLIN))
			continue;
		n = recv(cfd, buf + got, sizeof(buf) - 1 - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
		buf[got] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (end && strlen(end + 4) >= 2)
			return cfd;
		if (got == sizeof(buf) - 1)
			break;
	}
	close(cfd);
	return -1;
}

/* A receiver that accepts the connection and never answers: a stop must
 * not wait for the 10 s request timeout. */
static void test_stop_aborts_hung_request(void **state)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct export_config cfg = {.timeout_ms = 10000, .queue_size = 4, .retry_max_ms = 60000};
	struct exporter *ex;
	struct export_stats st;
	char url[64];
	uint64_t t0;
	int cfd;

	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/traces", ntohs(sa.sin_port));
	cfg.endpoint = url;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	assert_int_equal(export_start(&ex, &cfg), 0);
	assert_int_equal(export_submit(ex, strdup("{}"), 2, 3), 0);
	/* The request must be in flight, or this would test an idle stop. */
	cfd = accept_whole_request(lfd);
	assert_true(cfd >= 0);
	t0 = export_now_ms();
	export_stop(ex, t0 + 500, &st);
	assert_true(export_now_ms() - t0 < 2500);
	assert_int_equal(st.spans_failed, 3);
	close(cfd);
	close(lfd);
	curl_global_cleanup();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_queue_drops_and_gives_up),
		cmocka_unit_test(test_stop_is_bounded),
		cmocka_unit_test(test_stop_aborts_hung_request),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
