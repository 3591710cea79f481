/*
 * test_agg.c - request aggregation: path order and per-hop figures,
 * idle and max-age flushes, eviction, untagged traces, late traces of
 * emitted requests, all with an injected clock; and that the table's
 * memory follows the requests held, not the bound (VmRSS).
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

#include "agg.h"

#define MS 1000000ull

struct seen {
	struct agg_request req[16];
	enum agg_reason why[16];
	unsigned int n;
};

static void on_emit(void *arg, const struct agg_request *r, enum agg_reason why)
{
	struct seen *s = arg;

	assert_true(s->n < 16);
	s->req[s->n] = *r;
	s->why[s->n] = why;
	s->n++;
}

/* A trace through @n nodes (ids 2, 3, ...), node i stamped at base + i*step ms. */
static void make_trace(struct ioam_trace *t, uint8_t tag, unsigned int n, uint32_t sec,
		       uint32_t usec, uint32_t step_us)
{
	memset(t, 0, sizeof(*t));
	t->namespace_id = 123;
	t->trace_type = 0xf20000;
	t->has_ids = tag != 0;
	memset(t->trace_id, tag, 16);
	memset(t->span_id, tag + 1, 8);
	t->n_nodes = n;
	for (unsigned int i = 0; i < n; i++) {
		struct ioam_node *nd = &t->nodes[i];

		nd->fields = IOAM_TT_HOP_NODE | IOAM_TT_IF_SHORT | IOAM_TT_TS_SEC | IOAM_TT_TS_FRAC |
			     IOAM_TT_QUEUE;
		nd->node_id = 2 + i;
		nd->hop_limit = (uint8_t)(64 - i);
		nd->ingress_if = (uint16_t)(21 + 10 * i);
		nd->egress_if = 0xffff;
		nd->ts_sec = sec;
		nd->ts_frac = usec + i * step_us;
		nd->queue_depth = i == 0 ? 5 : 0xffffffff;
	}
}

static const struct agg_config base_cfg = {
	.max_requests = 4,
	.idle_ns = 100 * MS,
	.max_age_ns = 1000 * MS,
	.frac_unit_ns = 1000,
};

static void test_path_order_and_delays(void **state)
{
	struct seen s = {0};
	struct agg *agg = agg_new(&base_cfg, on_emit, &s);
	struct ioam_trace t;
	const struct agg_request *r;

	assert_non_null(agg);
	make_trace(&t, 7, 2, 100, 0, 200);    /* 200 us router -> server */
	assert_int_equal(agg_add(agg, &t, 0), 0);
	make_trace(&t, 7, 2, 100, 1000, 600); /* 600 us */
	t.nodes[0].queue_depth = 9;
	assert_int_equal(agg_add(agg, &t, 10 * MS), 0);
	assert_int_equal(agg_flush(agg), 1);
	assert_int_equal(s.n, 1);
	r = &s.req[0];
	assert_int_equal(s.why[0], AGG_FLUSH);
	assert_int_equal(r->packets, 2);
	assert_int_equal(r->n_hops, 2);
	assert_int_equal(r->hops[0].node_id, 2);
	assert_int_equal(r->hops[1].node_id, 3);
	assert_int_equal(r->hops[0].ingress_if, 21);
	assert_int_equal(r->hops[1].ingress_if, 31);
	assert_int_equal(r->hops[0].hop_limit, 64);
	assert_int_equal(r->hops[1].packets, 2);
	assert_int_equal(r->hops[1].delay_n, 2);
	assert_int_equal(r->hops[1].delay_min_ns, 200000);
	assert_int_equal(r->hops[1].delay_max_ns, 600000);
	assert_int_equal(r->hops[1].delay_sum_ns / r->hops[1].delay_n, 400000);
	assert_int_equal(r->hops[0].delay_n, 0); /* no previous node */
	assert_true(r->hops[0].queue_seen);
	assert_int_equal(r->hops[0].queue_max, 9);
	assert_false(r->hops[1].queue_seen); /* 0xffffffff = unavailable, skipped */
	/* Hop 2 spans from the earliest time at hop 1 to the latest at hop 2. */
	assert_int_equal(r->hops[1].start_ns, 100ull * 1000000000ull);
	assert_int_equal(r->hops[1].end_ns, 100ull * 1000000000ull + 1600000);
	assert_int_equal(r->hops[0].start_ns, 100ull * 1000000000ull);
	assert_int_equal(r->hops[0].end_ns, 100ull * 1000000000ull + 1000000);
	assert_memory_equal(r->trace_id, t.trace_id, 16);
	assert_memory_equal(r->span_id, t.span_id, 8);
	agg_free(agg);
}

static void test_idle_flush(void **state)
{
	struct seen s = {0};
	struct agg *agg = agg_new(&base_cfg, on_emit, &s);
	struct ioam_trace t;
	struct agg_stats st;

	make_trace(&t, 1, 2, 1, 0, 10);
	agg_add(agg, &t, 1000 * MS);
	make_trace(&t, 2, 2, 1, 0, 10);
	agg_add(agg, &t, 1050 * MS);
	assert_int_equal(agg_expire(agg, 1099 * MS), 0);
	assert_int_equal(agg_expire(agg, 1100 * MS), 1);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.why[0], AGG_IDLE);
	assert_int_equal(s.req[0].trace_id[0], 1);
	assert_int_equal(agg_expire(agg, 1149 * MS), 0);
	assert_int_equal(agg_expire(agg, 1150 * MS), 1);
	agg_get_stats(agg, &st);
	assert_int_equal(st.held, 0);
	assert_int_equal(st.emitted, 2);
	assert_int_equal(st.requests, 2);
	agg_free(agg);
}

static void test_max_age_flush(void **state)
{
	struct seen s = {0};
	struct agg *agg = agg_new(&base_cfg, on_emit, &s);
	struct ioam_trace t;
	uint64_t now;

	make_trace(&t, 3, 1, 1, 0, 0);
	/* A packet every 50 ms never lets it go idle; max age still ends it. */
	for (now = 0; now < 1000 * MS; now += 50 * MS) {
		agg_add(agg, &t, now);
		assert_int_equal(agg_expire(agg, now), 0);
	}
	assert_int_equal(agg_expire(agg, 1000 * MS), 1);
	assert_int_equal(s.why[0], AGG_MAX_AGE);
	assert_int_equal(s.req[0].packets, 20);
	/* The next packet starts a new request. */
	agg_add(agg, &t, 1001 * MS);
	assert_int_equal(agg_flush(agg), 1);
	assert_int_equal(s.req[1].packets, 1);
	agg_free(agg);
}

static void test_eviction(void **state)
{
	struct agg_config cfg = base_cfg;
	struct seen s = {0};
	struct agg *agg;
	struct ioam_trace t;
	struct agg_stats st;

	cfg.max_requests = 2;
	agg = agg_new(&cfg, on_emit, &s);
	make_trace(&t, 1, 1, 1, 0, 0);
	agg_add(agg, &t, 0);
	make_trace(&t, 2, 1, 1, 0, 0);
	agg_add(agg, &t, 1);
	make_trace(&t, 1, 1, 1, 0, 0);
	agg_add(agg, &t, 2); /* request 1 is now the most recently active */
	make_trace(&t, 3, 1, 1, 0, 0);
	agg_add(agg, &t, 3); /* full: evicts request 2 */
	assert_int_equal(s.n, 1);
	assert_int_equal(s.why[0], AGG_EVICTED);
	assert_int_equal(s.req[0].trace_id[0], 2);
	agg_get_stats(agg, &st);
	assert_int_equal(st.evicted, 1);
	assert_int_equal(st.held, 2);
	assert_int_equal(agg_flush(agg), 2);
	/* Creation order: request 1 (2 packets) first, then 3. */
	assert_int_equal(s.req[1].trace_id[0], 1);
	assert_int_equal(s.req[1].packets, 2);
	assert_int_equal(s.req[2].trace_id[0], 3);
	agg_free(agg);
}

static void test_untagged_and_truncated(void **state)
{
	struct seen s = {0};
	struct agg *agg = agg_new(&base_cfg, on_emit, &s);
	struct ioam_trace t;

	make_trace(&t, 0, 2, 1, 0, 0);
	assert_int_equal(agg_add(agg, &t, 0), -ENOENT);
	make_trace(&t, 5, AGG_MAX_HOPS + 3, 1, 0, 1);
	assert_int_equal(agg_add(agg, &t, 0), 0);
	agg_flush(agg);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.req[0].n_hops, AGG_MAX_HOPS);
	assert_int_equal(s.req[0].hops_truncated, 1);
	assert_null(agg_new(&(struct agg_config){.max_requests = 0}, on_emit, &s));
	agg_free(agg);
}

static void test_request_size(void **state)
{
	/* The per-request memory budget (benchmarks hold many). */
	assert_true(sizeof(struct agg_request) <= 1024);
}

static void test_many_requests(void **state)
{
	struct agg_config cfg = base_cfg;
	struct seen s = {0};
	struct agg *agg;
	struct ioam_trace t;

	/* Hash chains and free list under churn: 1000 requests through 4 slots. */
	cfg.max_requests = 4;
	agg = agg_new(&cfg, on_emit, &s);
	make_trace(&t, 1, 2, 1, 0, 5);
	for (unsigned int i = 0; i < 1000; i++) {
		t.trace_id[0] = (uint8_t)i;
		t.trace_id[1] = (uint8_t)(i >> 8);
		s.n = 0;
		assert_int_equal(agg_add(agg, &t, i), 0);
		assert_int_equal(agg_add(agg, &t, i), 0);
	}
	s.n = 0;
	assert_int_equal(agg_flush(agg), 4);
	for (unsigned int i = 0; i < 4; i++)
		assert_int_equal(s.req[i].packets, 2);
	agg_free(agg);
}

static const struct agg_config late_cfg = {
	.max_requests = 4,
	.idle_ns = 100 * MS,
	.max_age_ns = 1000 * MS,
	.frac_unit_ns = 1000,
	.late_window_ns = 30000 * MS,
	.late_max = 2,
};

static void test_late_traces(void **state)
{
	struct seen s = {0};
	struct agg *agg = agg_new(&late_cfg, on_emit, &s);
	struct ioam_trace t;
	struct agg_stats st;

	assert_non_null(agg);
	make_trace(&t, 1, 2, 1, 0, 10);
	assert_int_equal(agg_add(agg, &t, 0), 0);
	assert_int_equal(agg_expire(agg, 200 * MS), 1);
	/* The close's FIN, 5 s later, with the same IDs: late, no second request. */
	assert_int_equal(agg_add(agg, &t, 5000 * MS), -EALREADY);
	assert_int_equal(agg_add(agg, &t, 30000 * MS), -EALREADY);
	assert_int_equal(agg_expire(agg, 31000 * MS), 0);
	assert_int_equal(agg_flush(agg), 0);
	agg_get_stats(agg, &st);
	assert_int_equal(st.late, 2);
	assert_int_equal(st.requests, 1);
	assert_int_equal(st.traces, 1);
	assert_int_equal(s.n, 1);
	/* After the window: the IDs are a new request (reused IDs, a clock far off). */
	assert_int_equal(agg_add(agg, &t, 30001 * MS), 0);
	assert_int_equal(agg_flush(agg), 1);
	assert_int_equal(s.n, 2);
	/* Other IDs are never late. */
	make_trace(&t, 9, 2, 1, 0, 10);
	assert_int_equal(agg_add(agg, &t, 30002 * MS), 0);
	agg_free(agg);
}

/* A proxy host sees a request and its response with equal IDs: the
 * trailer's direction flag keeps them two records, late or not. */
static void test_direction_keeps_apart(void **state)
{
	struct seen s = {0};
	struct agg *agg = agg_new(&late_cfg, on_emit, &s);
	struct ioam_trace req, rsp, v1;
	struct agg_stats st;

	assert_non_null(agg);
	make_trace(&req, 3, 2, 1, 0, 10);
	req.trailer_version = 2;
	rsp = req;
	rsp.trailer_flags = CLT_TRAILER_F_RESPONSE;
	v1 = req;
	v1.trailer_version = 1;
	v1.trailer_flags = CLT_TRAILER_F_RESPONSE; /* v1 has no flags: always a request */
	assert_int_equal(agg_add(agg, &req, 0), 0);
	assert_int_equal(agg_add(agg, &rsp, 1 * MS), 0);
	assert_int_equal(agg_add(agg, &rsp, 2 * MS), 0);
	assert_int_equal(agg_add(agg, &v1, 3 * MS), 0);
	agg_get_stats(agg, &st);
	assert_int_equal(st.requests, 2);
	assert_int_equal(agg_expire(agg, 200 * MS), 2);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.req[0].response + s.req[1].response, 1);
	assert_int_equal(s.req[s.req[0].response ? 0 : 1].packets, 2);
	assert_int_equal(s.req[s.req[0].response ? 1 : 0].packets, 2);
	/* Late traces: each direction remembers its own. */
	assert_int_equal(agg_add(agg, &rsp, 500 * MS), -EALREADY);
	assert_int_equal(agg_add(agg, &req, 500 * MS), -EALREADY);
	agg_free(agg);
}

static void test_late_bounded(void **state)
{
	struct seen s = {0};
	struct agg *agg = agg_new(&late_cfg, on_emit, &s);
	struct ioam_trace t;
	struct agg_stats st;

	/* Three requests emitted, two remembered: the oldest is forgotten. */
	for (uint8_t tag = 1; tag <= 3; tag++) {
		make_trace(&t, tag, 1, 1, 0, 0);
		assert_int_equal(agg_add(agg, &t, tag * MS), 0);
		assert_int_equal(agg_flush(agg), 1);
	}
	make_trace(&t, 1, 1, 1, 0, 0);
	assert_int_equal(agg_add(agg, &t, 10 * MS), 0);
	make_trace(&t, 2, 1, 1, 0, 0);
	assert_int_equal(agg_add(agg, &t, 10 * MS), -EALREADY);
	make_trace(&t, 3, 1, 1, 0, 0);
	assert_int_equal(agg_add(agg, &t, 10 * MS), -EALREADY);
	agg_get_stats(agg, &st);
	assert_int_equal(st.late, 2);
	/* Churn through the ring: chains stay consistent. */
	for (unsigned int i = 0; i < 1000; i++) {
		s.n = 0;
		make_trace(&t, 4, 1, 1, 0, 0);
		t.span_id[0] = (uint8_t)i;
		t.span_id[1] = (uint8_t)(i >> 8);
		assert_int_equal(agg_add(agg, &t, 20 * MS + i), 0);
		assert_int_equal(agg_add(agg, &t, 20 * MS + i), 0);
		agg_flush(agg);
		assert_int_equal(agg_add(agg, &t, 21 * MS + i), -EALREADY);
	}
	agg_get_stats(agg, &st);
	assert_int_equal(st.late, 1002);
	agg_free(agg);
}

static void test_late_not_after_max_age(void **state)
{
	struct seen s = {0};
	struct agg *agg = agg_new(&late_cfg, on_emit, &s);
	struct agg_config off = late_cfg;
	struct ioam_trace t;

	/* At its maximum age a request is still active: what follows continues it. */
	make_trace(&t, 3, 1, 1, 0, 0);
	agg_add(agg, &t, 0);
	agg_add(agg, &t, 990 * MS);
	assert_int_equal(agg_expire(agg, 1000 * MS), 1);
	assert_int_equal(s.why[0], AGG_MAX_AGE);
	assert_int_equal(agg_add(agg, &t, 1010 * MS), 0);
	agg_free(agg);
	/* A zero window turns it off. */
	off.late_window_ns = 0;
	s.n = 0;
	agg = agg_new(&off, on_emit, &s);
	agg_add(agg, &t, 0);
	agg_flush(agg);
	assert_int_equal(agg_add(agg, &t, 1 * MS), 0);
	agg_free(agg);
}

/* Resident memory of this process, KiB (0 if unknown). */
static long rss_kib(void)
{
	char line[128];
	long kib = 0;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "VmRSS:", 6) == 0)
			kib = strtol(line + 6, NULL, 10);
	fclose(f);
	return kib;
}

static unsigned int drop_emit_n;

static void drop_emit(void *arg, const struct agg_request *r, enum agg_reason why)
{
	drop_emit_n++;
}

static void test_memory_follows_load(void **state)
{
	struct agg_config cfg = late_cfg;
	struct agg *agg;
	struct ioam_trace t;
	long before, idle, loaded;

	/* 2^20 requests of < 1 KiB and as many remembered ones: ~1.1 GiB reserved. */
	cfg.max_requests = 1u << 20;
	cfg.late_max = 1u << 20;
	before = rss_kib();
	agg = agg_new(&cfg, drop_emit, NULL);
	assert_non_null(agg);
	idle = rss_kib();
	make_trace(&t, 1, 2, 1, 0, 5);
	for (unsigned int i = 0; i < 2000; i++) {
		t.trace_id[0] = (uint8_t)i;
		t.trace_id[1] = (uint8_t)(i >> 8);
		assert_int_equal(agg_add(agg, &t, i), 0);
	}
	loaded = rss_kib();
	agg_flush(agg);
	print_message("VmRSS: %ld KiB before, %ld after agg_new(2^20), %ld holding 2000 requests\n",
		      before, idle, loaded);
	assert_int_equal(drop_emit_n, 2000);
	if (before > 0) {
		assert_true(idle - before < 1024);
		/* 2000 records of < 1 KiB, plus page and bucket overhead. */
		assert_true(loaded - before < 2000 + 8192);
	}
	agg_free(agg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_order_and_delays),
		cmocka_unit_test(test_idle_flush),
		cmocka_unit_test(test_max_age_flush),
		cmocka_unit_test(test_eviction),
		cmocka_unit_test(test_untagged_and_truncated),
		cmocka_unit_test(test_request_size),
		cmocka_unit_test(test_many_requests),
		cmocka_unit_test(test_late_traces),
		cmocka_unit_test(test_late_bounded),
		cmocka_unit_test(test_direction_keeps_apart),
		cmocka_unit_test(test_late_not_after_max_age),
		cmocka_unit_test(test_memory_follows_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
