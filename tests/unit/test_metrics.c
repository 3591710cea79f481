/*
 * test_metrics.c - the Prometheus endpoint's pure parts: ADDR:PORT
 * parsing, the exposition text (every stats-line counter, in the format
 * Prometheus parses), and the snapshot a scrape reads while the event loop
 * publishes (one writer, one reader, never a torn snapshot).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"
#include "stats.h"

static void test_parse_addr(void **state)
{
	struct sockaddr_storage ss;
	socklen_t len;

	assert_int_equal(metrics_parse_addr("[::1]:9464", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 9464);
	assert_int_equal(len, sizeof(struct sockaddr_in6));
	assert_int_equal(metrics_parse_addr("127.0.0.1:9464", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 9464);
	assert_int_equal(metrics_parse_addr("[::]:1", &ss, &len), 0);
	assert_int_equal(metrics_parse_addr("0.0.0.0:65535", &ss, &len), 0);
	static const char *const bad[] = {
	    "",
	    ":9464",
	    "9464",
	    "[::1]",
	    "[::1]9464",
	    "::1:9464",
	    "[::1]:",
	    "[::1]:0",
	    "[::1]:65536",
	    "127.0.0.1:-1",
	    "127.0.0.1:94x",
	    "localhost:9464",
	    "[127.0.0.1]:1",
	    "1.2.3:80",
	    "[::1]:+80",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(metrics_parse_addr(bad[i], &ss, &len), -EINVAL);
	assert_int_equal(metrics_parse_addr(NULL, &ss, &len), -EINVAL);
}

/* Every field of the stats line is a metric with the same value, and the
 * stats line itself is made from the same table. */
static void test_format_matches_stats_line(void **state)
{
	struct metrics_values v;
	char text[8192], line[512], want[160];
	uint64_t *w = (uint64_t *)&v.s;

	memset(&v, 0, sizeof(v));
	for (size_t i = 0; i < STATS_N_FIELDS; i++)
		w[i] = 1000 + i;
	v.queue_batches = 7;
	v.queue_capacity = 256;
	metrics_format(text, sizeof(text), &v);
	stats_format(line, sizeof(line), &v.s);
	for (size_t i = 0; i < STATS_N_FIELDS; i++) {
		const struct stats_field *f = &stats_fields[i];
		const char *suffix = f->gauge ? "" : "_total";

		snprintf(want, sizeof(want), "\nclt_agent_%s%s %" PRIu64 "\n", f->name, suffix,
			 1000 + (uint64_t)i);
		assert_non_null(strstr(text, want));
		snprintf(want, sizeof(want), "# TYPE clt_agent_%s%s %s\n", f->name, suffix,
			 f->gauge ? "gauge" : "counter");
		assert_non_null(strstr(text, want));
		snprintf(want, sizeof(want), " %s=%" PRIu64, f->name, 1000 + (uint64_t)i);
		assert_non_null(strstr(line, want));
	}
	assert_non_null(strstr(text, "\nclt_agent_export_queue_batches 7\n"));
	assert_non_null(strstr(text, "\nclt_agent_export_queue_capacity 256\n"));
	assert_null(strstr(text, "clt_agent_tag_"));
	assert_null(strstr(text, "clt_agent_bpf_"));
	assert_string_equal(line, "stats events=1000 traces=1001 malformed=1002 untagged=1003 "
				  "requests=1004 held=1005 evicted=1006 late=1007 spans=1008 "
				  "retries=1009 dropped=1010 failed=1011 loss=1012 ambiguous=1013");
	v.tag_on = 1;
	v.tag.tagged = 42;
	metrics_format(text, sizeof(text), &v);
	assert_non_null(strstr(text, "\nclt_agent_tag_tagged_total 42\n"));
	assert_non_null(strstr(text, "# TYPE clt_agent_tag_requests_total counter\n"));
	/* --bpf: the program's counters, in bpf_tagger_counters()'s order. */
	v.bpf_on = 1;
	v.bpf[0] = 5;
	v.bpf[1] = 6;
	v.bpf[2] = 7;
	metrics_format(text, sizeof(text), &v);
	assert_non_null(strstr(text, "\nclt_agent_bpf_tagged_total 5\n"));
	assert_non_null(strstr(text, "\nclt_agent_bpf_skipped_total 6\n"));
	assert_non_null(strstr(text, "\nclt_agent_bpf_failed_total 7\n"));
	assert_non_null(strstr(text, "# TYPE clt_agent_bpf_failed_total counter\n"));
	/* Each line is a comment or "name value"; the text ends with a newline. */
	for (char *p = text; *p;) {
		char *nl = strchr(p, '\n');

		assert_non_null(nl);
		if (*p != '#') {
			char name[128];
			unsigned long long val;

			assert_int_equal(sscanf(p, "%127[a-z_] %llu", name, &val), 2);
			assert_memory_equal(name, "clt_agent_", 10);
		}
		p = nl + 1;
	}
	/* Truncation stays inside the buffer. */
	assert_int_equal(metrics_format(text, 10, &v), 9);
	assert_int_equal(strlen(text), 9);
}

struct race {
	struct metrics_snapshot snap;
	volatile int stop;
	uint64_t torn;
};

/* Writer: every word of a snapshot holds the same value; a reader that
 * ever sees two different values in one snapshot saw a torn one. */
static void *writer(void *arg)
{
	struct race *r = arg;
	struct metrics_values v;

	for (uint64_t n = 1; !r->stop && n < 2000000; n++) {
		uint64_t *w = (uint64_t *)&v;

		for (size_t i = 0; i < sizeof(v) / sizeof(uint64_t); i++)
			w[i] = n;
		metrics_snapshot_publish(&r->snap, &v);
	}
	return NULL;
}

static void test_snapshot_never_torn(void **state)
{
	static struct race r;
	pthread_t t;
	struct metrics *m = NULL;

	/* Port 0 is refused: the endpoint is for scraping, at a known port. */
	assert_int_equal(metrics_start(&m, "127.0.0.1:0", 0), -EINVAL);
	assert_null(m);
	assert_int_equal(pthread_create(&t, NULL, writer, &r), 0);
	for (int i = 0; i < 20000; i++) {
		struct metrics_values v;
		uint64_t *w = (uint64_t *)&v;

		metrics_snapshot_read(&r.snap, &v);
		for (size_t j = 1; j < sizeof(v) / sizeof(uint64_t); j++)
			if (w[j] != w[0])
				r.torn++;
	}
	r.stop = 1;
	pthread_join(t, NULL);
	assert_int_equal(r.torn, 0);
	metrics_publish(NULL, NULL);
	metrics_stop(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_addr),
	    cmocka_unit_test(test_format_matches_stats_line),
	    cmocka_unit_test(test_snapshot_never_torn),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
