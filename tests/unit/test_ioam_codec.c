/*
 * test_ioam_codec.c - the IOAM codec: hop-by-hop header building and the
 * kernel limits, round-trips through a simulated IOAM node for every
 * trace-type bit, both CLT layouts and none, and rejection of truncated,
 * oversized and inconsistent input.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "clt/clt.h"
#include "clt/ioam.h"

static const uint8_t trace_id[16] = {0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd,
				     0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80, 0x31, 0x9c};
static const uint8_t span_id[8] = {0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31};

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Node data the way an IOAM node writes it; values derive from @id. */
static size_t write_node(uint8_t *p, uint32_t tt, uint32_t id)
{
	size_t off = 0;
	unsigned int bit;

	if (tt & IOAM_TT_HOP_NODE) {
		put32(p + off, (uint32_t)(64 - id) << 24 | id);
		off += 4;
	}
	if (tt & IOAM_TT_IF_SHORT) {
		put32(p + off, (id * 10 + 1) << 16 | (id * 10 + 2));
		off += 4;
	}
	if (tt & IOAM_TT_TS_SEC) {
		put32(p + off, 1700000000u + id);
		off += 4;
	}
	if (tt & IOAM_TT_TS_FRAC) {
		put32(p + off, 1000 * id);
		off += 4;
	}
	if (tt & IOAM_TT_TRANSIT) {
		put32(p + off, 500 + id);
		off += 4;
	}
	if (tt & IOAM_TT_NSDATA_SHORT) {
		put32(p + off, 0xabc00000u | id);
		off += 4;
	}
	if (tt & IOAM_TT_QUEUE) {
		put32(p + off, 100 + id);
		off += 4;
	}
	if (tt & IOAM_TT_CSUM) {
		put32(p + off, 0xc5c5c500u | id);
		off += 4;
	}
	if (tt & IOAM_TT_HOP_NODE_WIDE) {
		put32(p + off, (uint32_t)(64 - id) << 24 | 0x123456);
		put32(p + off + 4, 0x78000000u | id);
		off += 8;
	}
	if (tt & IOAM_TT_IF_WIDE) {
		put32(p + off, 0x10000 + id);
		put32(p + off + 4, 0x20000 + id);
		off += 8;
	}
	if (tt & IOAM_TT_NSDATA_WIDE) {
		put32(p + off, 0xdeadbeef);
		put32(p + off + 4, id);
		off += 8;
	}
	if (tt & IOAM_TT_BUFFER) {
		put32(p + off, 4096 + id);
		off += 4;
	}
	for (bit = 12; bit <= 21; bit++) {
		if (tt & IOAM_BIT(bit)) {
			put32(p + off, 0xffffffffu);
			off += 4;
		}
	}
	return off;
}

static void check_node(const struct ioam_node *n, uint32_t tt, uint32_t id)
{
	assert_int_equal(n->fields, tt & ~IOAM_TT_RESERVED);
	if (tt & IOAM_TT_HOP_NODE) {
		assert_int_equal(n->node_id, id);
		assert_int_equal(n->hop_limit, 64 - id);
	}
	if (tt & IOAM_TT_IF_SHORT) {
		assert_int_equal(n->ingress_if, id * 10 + 1);
		assert_int_equal(n->egress_if, id * 10 + 2);
	}
	if (tt & IOAM_TT_TS_SEC)
		assert_int_equal(n->ts_sec, 1700000000u + id);
	if (tt & IOAM_TT_TS_FRAC)
		assert_int_equal(n->ts_frac, 1000 * id);
	if (tt & IOAM_TT_TRANSIT)
		assert_int_equal(n->transit_delay, 500 + id);
	if (tt & IOAM_TT_NSDATA_SHORT)
		assert_int_equal(n->ns_data, 0xabc00000u | id);
	if (tt & IOAM_TT_QUEUE)
		assert_int_equal(n->queue_depth, 100 + id);
	if (tt & IOAM_TT_CSUM)
		assert_int_equal(n->checksum, 0xc5c5c500u | id);
	if (tt & IOAM_TT_HOP_NODE_WIDE) {
		assert_int_equal(n->node_id_wide, 0x12345678000000ull | id);
		assert_int_equal(n->hop_limit, 64 - id);
	}
	if (tt & IOAM_TT_IF_WIDE) {
		assert_int_equal(n->ingress_if_wide, 0x10000 + id);
		assert_int_equal(n->egress_if_wide, 0x20000 + id);
	}
	if (tt & IOAM_TT_NSDATA_WIDE)
		assert_int_equal(n->ns_data_wide, 0xdeadbeef00000000ull | id);
	if (tt & IOAM_TT_BUFFER)
		assert_int_equal(n->buffer_occupancy, 4096 + id);
}

/* What a Linux IOAM node does to a hop-by-hop header from ioam_hbh_build:
 * write at data + RemainingLen*4 - NodeLen*4, then decrement. */
static int fill_hbh(uint8_t *hbh, uint32_t id)
{
	uint8_t *trace = hbh + 8;
	unsigned int node_len = trace[2] >> 3, rem = trace[3] & 0x7f;
	uint32_t tt = (uint32_t)trace[4] << 16 | (uint32_t)trace[5] << 8 | trace[6];

	if (rem < node_len) {
		trace[2] |= 0x04; /* overflow: the top flag bit sits in this octet's low 3 bits */
		return -1;
	}
	write_node(trace + 8 + (rem - node_len) * 4, tt, id);
	trace[3] = (uint8_t)((trace[3] & 0x80) | (rem - node_len));
	return 0;
}

static void test_node_data_len(void **state)
{
	assert_int_equal(ioam_node_data_len(CLT_DEFAULT_TRACE_TYPE), 20);
	assert_int_equal(ioam_node_data_len(IOAM_TT_HOP_NODE), 4);
	assert_int_equal(ioam_node_data_len(IOAM_TT_HOP_NODE_WIDE | IOAM_TT_IF_WIDE), 16);
	assert_int_equal(ioam_node_data_len(IOAM_TT_UNDEFINED), 40);
	assert_int_equal(ioam_node_data_len(IOAM_TT_OPAQUE | IOAM_TT_RESERVED), 0);
	assert_int_equal(ioam_node_data_len(0xfffffc), 100);
}

static void test_hbh_layout(void **state)
{
	struct ioam_hbh_config cfg = {123, CLT_DEFAULT_TRACE_TYPE, 8, 0};
	uint8_t buf[512];
	int len;

	assert_int_equal(ioam_hbh_size(&cfg), 208); /* 6 + 10 + 160 + 28 = 204 -> 208 */
	len = ioam_hbh_build(buf, sizeof(buf), &cfg, trace_id, span_id);
	assert_int_equal(len, 208);
	assert_int_equal(buf[1], 208 / 8 - 1);
	assert_int_equal(buf[2], 1); /* Pad2 keeps the IOAM data 4n-aligned */
	assert_int_equal(buf[3], 0);
	assert_int_equal(buf[4], IOAM_OPT_TYPE);
	assert_int_equal(buf[5], 198);
	assert_int_equal(buf[7], IOAM_TYPE_PREALLOC_TRACE);
	assert_int_equal(buf[8] << 8 | buf[9], 123);
	assert_int_equal(buf[10] >> 3, 5);       /* NodeLen */
	assert_int_equal(buf[11] & 0x7f, 40);    /* RemainingLen = 160 / 4 */
	assert_int_equal(buf[12] << 16 | buf[13] << 8 | buf[14], 0xf20000);
	assert_memory_equal(buf + 176, trace_id, 16);
	assert_memory_equal(buf + 192, span_id, 8);
	assert_memory_equal(buf + 200, clt_trailer_magic, 4);
	assert_int_equal(buf[204], 1); /* PadN of 4 */
	assert_int_equal(buf[205], 2);
	assert_int_equal(ioam_hbh_build(buf, 207, &cfg, trace_id, span_id), -ENOSPC);

	/* 1 hop of 4 octets: 6 + 10 + 4 + 28 = 48, no padding at all. */
	cfg.trace_type = IOAM_TT_HOP_NODE;
	cfg.hops = 1;
	assert_int_equal(ioam_hbh_build(buf, sizeof(buf), &cfg, trace_id, span_id), 48);
	/* 2 hops: 52 -> 56, PadN 4 */
	cfg.hops = 2;
	assert_int_equal(ioam_hbh_build(buf, sizeof(buf), &cfg, trace_id, span_id), 56);
	assert_int_equal(buf[52], 1);
}

/* CLT trailer v2: 40 octets, egress time filled by the writer (the bpf
 * program); read back from the wire option and from a kernel event. */
static void test_trailer_v2(void **state)
{
	struct ioam_hbh_config cfg = {123, CLT_DEFAULT_TRACE_TYPE, 8, 2};
	struct ioam_trace t;
	uint8_t buf[512];
	int len;

	assert_int_equal(ioam_hbh_size(&cfg), 216); /* 6 + 10 + 160 + 40 */
	len = ioam_hbh_build(buf, sizeof(buf), &cfg, trace_id, span_id);
	assert_int_equal(len, 216);
	assert_int_equal(buf[5], 210);
	assert_memory_equal(buf + 176, trace_id, 16);
	assert_memory_equal(buf + 192, span_id, 8);
	assert_int_equal(buf[200], 0); /* flags: no egress time yet */
	assert_memory_equal(buf + 212, clt_trailer_magic_v2, 4);

	/* Unfilled, as sent: no time. */
	assert_int_equal(ioam_decode_hbh(&t, buf, (size_t)len, IOAM_LAYOUT_AUTO), 0);
	assert_true(t.has_ids);
	assert_int_equal(t.trailer_version, 2);
	assert_int_equal(t.egress_ns, 0);
	assert_memory_equal(t.trace_id, trace_id, 16);

	/* 1764590000.123456789 s, flags egress time + an unknown bit. */
	buf[200] = CLT_TRAILER_F_EGRESS_TIME | 0x80;
	buf[204] = 0x69; buf[205] = 0x2d; buf[206] = 0xe0; buf[207] = 0xb0;
	buf[208] = 0x07; buf[209] = 0x5b; buf[210] = 0xcd; buf[211] = 0x15;
	assert_int_equal(ioam_decode_hbh(&t, buf, (size_t)len, IOAM_LAYOUT_AUTO), 0);
	assert_int_equal(t.layout, IOAM_LAYOUT_TRAILER);
	assert_int_equal(t.trailer_flags & CLT_TRAILER_F_EGRESS_TIME, CLT_TRAILER_F_EGRESS_TIME);
	assert_true(t.egress_ns == 1764614320ull * 1000000000ull + 123456789ull);
	assert_int_equal(ioam_decode_hbh(&t, buf, (size_t)len, IOAM_LAYOUT_TRAILER), 0);
	assert_true(t.egress_ns != 0);
	/* nanoseconds out of range: no time */
	buf[208] = 0xff;
	assert_int_equal(ioam_decode_hbh(&t, buf, (size_t)len, IOAM_LAYOUT_AUTO), 0);
	assert_int_equal(t.egress_ns, 0);

	/* v1 stays v1. */
	cfg.trailer_version = 0;
	len = ioam_hbh_build(buf, sizeof(buf), &cfg, trace_id, span_id);
	assert_int_equal(ioam_decode_hbh(&t, buf, (size_t)len, IOAM_LAYOUT_AUTO), 0);
	assert_int_equal(t.trailer_version, 1);
	cfg.trailer_version = 3;
	assert_int_equal(ioam_hbh_check(&cfg, NULL), -EINVAL);
}

static void test_hbh_check_limits(void **state)
{
	struct ioam_hbh_config cfg = {123, CLT_DEFAULT_TRACE_TYPE, 8, 0};
	const char *why = NULL;

	assert_int_equal(ioam_hbh_check(&cfg, &why), 0);
	cfg.hops = 43; /* 43 * 20 = 860 */
	assert_int_equal(ioam_hbh_check(&cfg, &why), -EINVAL);
	print_message("hops=43: %s\n", why);
	assert_non_null(strstr(why, "244"));
	cfg.hops = 12; /* 240 <= 244, but option 10 + 240 + 28 > 255 */
	assert_int_equal(ioam_hbh_check(&cfg, &why), -EINVAL);
	print_message("hops=12: %s\n", why);
	assert_non_null(strstr(why, "255"));
	cfg.hops = 10; /* 10 + 200 + 28 = 238 */
	assert_int_equal(ioam_hbh_check(&cfg, &why), 0);
	cfg.trace_type = IOAM_TT_HOP_NODE;
	cfg.hops = 54; /* 10 + 216 + 28 = 254 */
	assert_int_equal(ioam_hbh_check(&cfg, &why), 0);
	cfg.hops = 55;
	assert_int_equal(ioam_hbh_check(&cfg, &why), -EINVAL);
	cfg.hops = 0;
	assert_int_equal(ioam_hbh_check(&cfg, &why), -EINVAL);
	print_message("hops=0: %s\n", why);
	cfg.hops = 62;
	assert_int_equal(ioam_hbh_check(&cfg, &why), -EINVAL);
	cfg.hops = 4;
	cfg.trace_type = 0;
	assert_int_equal(ioam_hbh_check(&cfg, &why), -EINVAL);
	print_message("type=0: %s\n", why);
	assert_non_null(strstr(why, "node length 0"));
	cfg.trace_type = IOAM_TT_RESERVED;
	assert_int_equal(ioam_hbh_check(&cfg, &why), -EINVAL);
	cfg.trace_type = IOAM_TT_HOP_NODE | IOAM_TT_OPAQUE;
	assert_int_equal(ioam_hbh_check(&cfg, &why), -EINVAL);
	print_message("opaque: %s\n", why);
	assert_non_null(strstr(why, "opaque"));
	cfg.trace_type = IOAM_TT_HOP_NODE | IOAM_TT_RESERVED;
	assert_int_equal(ioam_hbh_check(&cfg, &why), -EINVAL);
	assert_non_null(strstr(why, "reserved"));
	cfg.trace_type = IOAM_TT_HOP_NODE | IOAM_BIT(12);
	assert_int_equal(ioam_hbh_check(&cfg, &why), -EINVAL);
	print_message("bit 12: %s\n", why);
	assert_non_null(strstr(why, "undefined"));
	cfg.trace_type = IOAM_TT_HOP_NODE | IOAM_BIT(21);
	assert_int_equal(ioam_hbh_check(&cfg, &why), -EINVAL);
	cfg.trace_type = 0x1800000;
	assert_int_equal(ioam_hbh_check(&cfg, &why), -EINVAL);
	assert_int_equal(ioam_hbh_size(&cfg), 0);
	assert_int_equal(ioam_hbh_check(NULL, &why), -EINVAL);
	assert_int_equal(ioam_hbh_check(NULL, NULL), -EINVAL);
}

/* Build, let @n_fill nodes fill, decode as HBH, option and event. */
static void roundtrip(uint32_t tt, unsigned int hops, unsigned int n_fill)
{
	struct ioam_hbh_config cfg = {0x1234, tt, hops, 0};
	static struct ioam_trace t;
	uint8_t buf[512];
	unsigned int i, rem;
	size_t opt_len, data_off;
	int len;

	if (tt & IOAM_TT_UNDEFINED) {
		/* A source may not set bits 12-21 (ioam_hbh_check refuses),
		 * but transit nodes must cope: build an array of the same size
		 * with a one-word type, then write the real type and NodeLen. */
		cfg.trace_type = IOAM_TT_HOP_NODE;
		cfg.hops = hops * ioam_node_data_len(tt) / 4;
		len = ioam_hbh_build(buf, sizeof(buf), &cfg, trace_id, span_id);
		assert_true(len > 0);
		buf[10] = (uint8_t)(ioam_node_data_len(tt) / 4 << 3);
		buf[12] = (uint8_t)(tt >> 16);
		buf[13] = (uint8_t)(tt >> 8);
		buf[14] = (uint8_t)tt;
	} else {
		len = ioam_hbh_build(buf, sizeof(buf), &cfg, trace_id, span_id);
	}
	assert_true(len > 0);
	for (i = 0; i < n_fill; i++)
		fill_hbh(buf, i + 1);

	assert_int_equal(ioam_decode_hbh(&t, buf, (size_t)len, IOAM_LAYOUT_AUTO), 0);
	assert_int_equal(t.namespace_id, 0x1234);
	assert_int_equal(t.trace_type, tt);
	assert_int_equal(t.node_len, ioam_node_data_len(tt) / 4);
	assert_true(t.has_ids);
	assert_memory_equal(t.trace_id, trace_id, 16);
	assert_memory_equal(t.span_id, span_id, 8);
	assert_int_equal(t.n_nodes, n_fill < hops ? n_fill : hops);
	for (i = 0; i < t.n_nodes; i++)
		check_node(&t.nodes[i], tt, i + 1); /* path order */
	if (n_fill > hops)
		assert_true(t.flags & IOAM_FLAG_OVERFLOW);
	else
		assert_int_equal(t.flags, 0);

	/* The same trace as a kernel event: TRACE_DATA from RemainingLen. */
	rem = buf[11] & 0x7f;
	assert_int_equal(t.remaining, rem);
	opt_len = buf[5];
	data_off = 16 + (size_t)rem * 4;
	memset(&t, 0xa5, sizeof(t));
	assert_int_equal(ioam_decode_event(&t, 0x1234, (uint8_t)(ioam_node_data_len(tt) / 4), tt,
					   buf + data_off, 6 + opt_len - data_off, IOAM_LAYOUT_AUTO),
			 0);
	assert_true(t.has_ids);
	assert_memory_equal(t.trace_id, trace_id, 16);
	assert_int_equal(t.n_nodes, n_fill < hops ? n_fill : hops);
	for (i = 0; i < t.n_nodes; i++)
		check_node(&t.nodes[i], tt, i + 1);
	/* Forcing "no IDs" on trailer data cannot parse the trailer as nodes
	 * unless 28 happens to be a multiple of the node size. */
	if (28 % ioam_node_data_len(tt) != 0)
		assert_int_equal(ioam_decode_event(&t, 0x1234,
						   (uint8_t)(ioam_node_data_len(tt) / 4), tt,
						   buf + data_off, 6 + opt_len - data_off,
						   IOAM_LAYOUT_NONE),
				 -EINVAL);
}

static void test_roundtrip_each_bit(void **state)
{
	unsigned int bit;

	for (bit = 0; bit <= 21; bit++) {
		print_message("trace type bit %u alone\n", bit);
		roundtrip(IOAM_BIT(bit), 3, 2);
	}
}

static void test_roundtrip_combinations(void **state)
{
	roundtrip(CLT_DEFAULT_TRACE_TYPE, 8, 3);
	roundtrip(CLT_DEFAULT_TRACE_TYPE, 8, 8);
	roundtrip(CLT_DEFAULT_TRACE_TYPE, 8, 0);
	roundtrip(0xc20000, 3, 3);                       /* the original demo's type */
	roundtrip(0xfff000, 2, 2);                       /* every defined short and wide field */
	roundtrip(0xff0000, 1, 1);                       /* every short field */
	roundtrip(0x00f000, 2, 2);                       /* every wide field + buffer */
	roundtrip(IOAM_TT_HOP_NODE | IOAM_TT_UNDEFINED, 1, 1);
	roundtrip(0xfffffc, 2, 2);                       /* 100 octets per node */
	roundtrip(IOAM_TT_HOP_NODE, 54, 54);             /* the largest array */
	roundtrip(CLT_DEFAULT_TRACE_TYPE, 2, 3);         /* third node overflows */
}

static void test_event_opaque(void **state)
{
	static struct ioam_trace t;
	uint8_t data[128];
	size_t off = 0;

	/* Most recent node first: node 2 with 8 octets of opaque data, then
	 * node 1 with none (Linux without a schema writes 0x00ffffff). */
	off += write_node(data + off, IOAM_TT_HOP_NODE, 2);
	put32(data + off, 2u << 24 | 0x000abc);
	memcpy(data + off + 4, "opaque!!", 8);
	off += 12;
	off += write_node(data + off, IOAM_TT_HOP_NODE, 1);
	put32(data + off, 0x00ffffff);
	off += 4;
	assert_int_equal(ioam_decode_event(&t, 7, 1, IOAM_TT_HOP_NODE | IOAM_TT_OPAQUE, data, off,
					   IOAM_LAYOUT_AUTO),
			 0);
	assert_false(t.has_ids);
	assert_int_equal(t.n_nodes, 2);
	assert_int_equal(t.nodes[0].node_id, 1);
	assert_int_equal(t.nodes[0].opaque_len, 0);
	assert_int_equal(t.nodes[0].opaque_schema, 0xffffff);
	assert_null(t.nodes[0].opaque);
	assert_int_equal(t.nodes[1].node_id, 2);
	assert_int_equal(t.nodes[1].opaque_len, 8);
	assert_int_equal(t.nodes[1].opaque_schema, 0xabc);
	assert_memory_equal(t.nodes[1].opaque, "opaque!!", 8);
	assert_ptr_equal(t.nodes[1].opaque, data + 8);
	/* Opaque length pointing past the data. */
	assert_int_equal(ioam_decode_event(&t, 7, 1, IOAM_TT_HOP_NODE | IOAM_TT_OPAQUE, data,
					   off - 4 - 1, IOAM_LAYOUT_AUTO),
			 -EINVAL);
	put32(data + 4, 3u << 24 | 0x000abc);
	assert_int_equal(ioam_decode_event(&t, 7, 1, IOAM_TT_HOP_NODE | IOAM_TT_OPAQUE, data, 16,
					   IOAM_LAYOUT_AUTO),
			 -EINVAL);
}

static void test_event_layouts(void **state)
{
	static struct ioam_trace t;
	uint8_t data[128];
	size_t off = 0;

	/* Patched-kernel layout: IDs before the nodes. */
	memcpy(data, trace_id, 16);
	memcpy(data + 16, span_id, 8);
	off = 24 + write_node(data + 24, IOAM_TT_HOP_NODE, 9);
	assert_int_equal(ioam_decode_event(&t, 1, 1, IOAM_TT_HOP_NODE, data, off,
					   IOAM_LAYOUT_PATCHED),
			 0);
	assert_true(t.has_ids);
	assert_memory_equal(t.span_id, span_id, 8);
	assert_int_equal(t.n_nodes, 1);
	assert_int_equal(t.nodes[0].node_id, 9);
	assert_int_equal(ioam_decode_event(&t, 1, 1, IOAM_TT_HOP_NODE, data, 20,
					   IOAM_LAYOUT_PATCHED),
			 -EINVAL);
	/* No layout: plain nodes, no IDs. */
	assert_int_equal(ioam_decode_event(&t, 1, 1, IOAM_TT_HOP_NODE, data + 24, 4,
					   IOAM_LAYOUT_NONE),
			 0);
	assert_false(t.has_ids);
	/* Trailer forced but absent. */
	assert_int_equal(ioam_decode_event(&t, 1, 1, IOAM_TT_HOP_NODE, data + 24, 4,
					   IOAM_LAYOUT_TRAILER),
			 -EINVAL);
	/* Empty data: no node filled yet. */
	assert_int_equal(ioam_decode_event(&t, 1, 1, IOAM_TT_HOP_NODE, NULL, 0, IOAM_LAYOUT_AUTO),
			 0);
	assert_int_equal(t.n_nodes, 0);
	assert_int_equal(ioam_decode_event(&t, 1, 1, IOAM_TT_HOP_NODE, data, 4, (enum ioam_layout)9),
			 -EINVAL);
}

static void test_event_inconsistent(void **state)
{
	static struct ioam_trace t;
	static uint8_t data[512];

	memset(data, 0, sizeof(data));
	/* NodeLen disagreeing with the trace type. */
	assert_int_equal(ioam_decode_event(&t, 1, 2, IOAM_TT_HOP_NODE, data, 8, IOAM_LAYOUT_NONE),
			 -EINVAL);
	assert_int_equal(ioam_decode_event(&t, 1, 0, 0, data, 0, IOAM_LAYOUT_NONE), -EINVAL);
	assert_int_equal(ioam_decode_event(&t, 1, 1, 0x1800000, data, 4, IOAM_LAYOUT_NONE),
			 -EINVAL);
	/* A partial node. */
	assert_int_equal(ioam_decode_event(&t, 1, 5, CLT_DEFAULT_TRACE_TYPE, data, 21,
					   IOAM_LAYOUT_NONE),
			 -EINVAL);
	/* More nodes than a trace can hold. */
	assert_int_equal(ioam_decode_event(&t, 1, 1, IOAM_TT_HOP_NODE, data, 4 * 62,
					   IOAM_LAYOUT_NONE),
			 -ENOSPC);
	assert_int_equal(ioam_decode_event(&t, 1, 1, IOAM_TT_HOP_NODE, data, 4 * 61,
					   IOAM_LAYOUT_NONE),
			 0);
	assert_int_equal(t.n_nodes, 61);
	assert_int_equal(ioam_decode_event(NULL, 1, 1, IOAM_TT_HOP_NODE, data, 4, IOAM_LAYOUT_NONE),
			 -EINVAL);
	assert_int_equal(ioam_decode_event(&t, 1, 1, IOAM_TT_HOP_NODE, NULL, 4, IOAM_LAYOUT_NONE),
			 -EINVAL);
}

static void test_option_and_hbh_malformed(void **state)
{
	struct ioam_hbh_config cfg = {123, CLT_DEFAULT_TRACE_TYPE, 2, 0};
	static struct ioam_trace t;
	uint8_t buf[512], bad[512];
	size_t i;
	int len;

	len = ioam_hbh_build(buf, sizeof(buf), &cfg, trace_id, span_id);
	assert_true(len > 0);
	fill_hbh(buf, 1);
	/* Every truncation of the header is rejected, never read past. */
	for (i = 0; i < (size_t)len; i++)
		assert_int_not_equal(ioam_decode_hbh(&t, buf, i, IOAM_LAYOUT_AUTO), 0);
	/* Option length running past the header. */
	memcpy(bad, buf, (size_t)len);
	bad[5] = 250;
	assert_int_equal(ioam_decode_hbh(&t, bad, (size_t)len, IOAM_LAYOUT_AUTO), -EINVAL);
	/* RemainingLen beyond the option. */
	memcpy(bad, buf, (size_t)len);
	bad[11] = 0x7f;
	assert_int_equal(ioam_decode_hbh(&t, bad, (size_t)len, IOAM_LAYOUT_AUTO), -EINVAL);
	/* An IOAM option of another type is skipped: no trace here. */
	memcpy(bad, buf, (size_t)len);
	bad[7] = 1;
	assert_int_equal(ioam_decode_hbh(&t, bad, (size_t)len, IOAM_LAYOUT_AUTO), -ENOENT);
	assert_int_equal(ioam_decode_option(&t, bad + 6, bad[5], IOAM_LAYOUT_AUTO), -ENOENT);
	/* Only padding. */
	memset(bad, 0, 16);
	bad[1] = 1;
	assert_int_equal(ioam_decode_hbh(&t, bad, 16, IOAM_LAYOUT_AUTO), -ENOENT);
	bad[2] = 1;
	bad[3] = 12;
	assert_int_equal(ioam_decode_hbh(&t, bad, 16, IOAM_LAYOUT_AUTO), -ENOENT);
	bad[3] = 13;
	assert_int_equal(ioam_decode_hbh(&t, bad, 16, IOAM_LAYOUT_AUTO), -EINVAL);
	/* Option data too short for the trace header. */
	assert_int_equal(ioam_decode_option(&t, buf + 6, 9, IOAM_LAYOUT_AUTO), -EINVAL);
	assert_int_equal(ioam_decode_option(&t, buf + 6, 1, IOAM_LAYOUT_AUTO), -EINVAL);
	/* The untouched header still decodes. */
	assert_int_equal(ioam_decode_hbh(&t, buf, (size_t)len, IOAM_LAYOUT_AUTO), 0);
	assert_int_equal(t.n_nodes, 1);
}

static void test_option_patched(void **state)
{
	static struct ioam_trace t;
	uint8_t opt[64];
	size_t len;

	/* reserved, type, header (remlen 1 of 2 one-word nodes), IDs, array */
	memset(opt, 0, sizeof(opt));
	opt[2] = 0;
	opt[3] = 123;
	opt[4] = 1 << 3;
	opt[5] = 1;
	opt[6] = 0x80; /* hop limit + node id */
	memcpy(opt + 10, trace_id, 16);
	memcpy(opt + 26, span_id, 8);
	write_node(opt + 34 + 4, IOAM_TT_HOP_NODE, 5);
	len = 34 + 8;
	assert_int_equal(ioam_decode_option(&t, opt, len, IOAM_LAYOUT_PATCHED), 0);
	assert_true(t.has_ids);
	assert_memory_equal(t.trace_id, trace_id, 16);
	assert_int_equal(t.n_nodes, 1);
	assert_int_equal(t.nodes[0].node_id, 5);
	assert_int_equal(t.remaining, 1);
	assert_int_equal(ioam_decode_option(&t, opt, 30, IOAM_LAYOUT_PATCHED), -EINVAL);
	/* Flags straddle two octets: NodeLen(5) Flags(4) RemainingLen(7). */
	opt[4] |= 0x04 | 0x02; /* overflow, loopback */
	assert_int_equal(ioam_decode_option(&t, opt, len, IOAM_LAYOUT_PATCHED), 0);
	assert_int_equal(t.flags, IOAM_FLAG_OVERFLOW | IOAM_FLAG_LOOPBACK);
	assert_int_equal(t.node_len, 1);
	opt[5] |= 0x80; /* the last (undefined) flag bit */
	assert_int_equal(ioam_decode_option(&t, opt, len, IOAM_LAYOUT_PATCHED), 0);
	assert_int_equal(t.flags, IOAM_FLAG_OVERFLOW | IOAM_FLAG_LOOPBACK | 0x1);
	assert_int_equal(t.remaining, 1);
}

/*
 * A hop-by-hop header with an IOAM trace of @hops zeroed slots, as the
 * CLT-patched kernel builds it (@tid non-NULL: trace header, trace-id,
 * span-id, then the node array) or as plain IOAM (@tid NULL).
 */
static size_t build_trace(uint8_t *buf, uint32_t tt, unsigned int hops, const uint8_t *tid,
			  const uint8_t *sid)
{
	unsigned int node = ioam_node_data_len(tt), array = node * hops;
	size_t ids = tid ? CLT_PATCHED_IDS_LEN : 0, opt_len = 10 + ids + array;
	size_t total = (6 + opt_len + 7) & ~(size_t)7, off = 6 + opt_len;

	assert_true(opt_len <= IOAM_OPT_LEN_MAX);
	memset(buf, 0, total);
	buf[1] = (uint8_t)(total / 8 - 1);
	buf[2] = 1; /* Pad2 */
	buf[4] = IOAM_OPT_TYPE;
	buf[5] = (uint8_t)opt_len;
	buf[9] = 123;
	buf[10] = (uint8_t)((node / 4) << 3);
	buf[11] = (uint8_t)(array / 4);
	buf[12] = (uint8_t)(tt >> 16);
	buf[13] = (uint8_t)(tt >> 8);
	buf[14] = (uint8_t)tt;
	if (tid) {
		memcpy(buf + 16, tid, 16);
		memcpy(buf + 32, sid, 8);
	}
	if (total - off >= 2) {
		buf[off] = 1;
		buf[off + 1] = (uint8_t)(total - off - 2);
	}
	return total;
}

/* An IOAM node filling a build_trace() header: the array starts @ids octets after the trace header. */
static void fill_trace(uint8_t *hbh, size_t ids, uint32_t id)
{
	uint8_t *trace = hbh + 8;
	unsigned int node_len = trace[2] >> 3, rem = trace[3] & 0x7f;
	uint32_t tt = (uint32_t)trace[4] << 16 | (uint32_t)trace[5] << 8 | trace[6];

	assert_true(rem >= node_len);
	write_node(trace + 8 + ids + (rem - node_len) * 4, tt, id);
	trace[3] = (uint8_t)((trace[3] & 0x80) | (rem - node_len));
}

/* Type 0xc20000, 12 octets a node (the original CLT demo's): 24 octets of
 * IDs are two whole nodes, so only the unfilled part tells the layouts apart. */
#define TT_DEMO (IOAM_TT_HOP_NODE | IOAM_TT_IF_SHORT | IOAM_TT_QUEUE)

static void test_auto_patched(void **state)
{
	static struct ioam_trace t;
	static const uint8_t zero[16];
	uint8_t buf[512], copy[512];
	unsigned int fills, i;
	size_t len;

	assert_int_equal(ioam_node_data_len(TT_DEMO), 12);
	for (fills = 0; fills <= 3; fills++) {
		len = build_trace(buf, TT_DEMO, 3, trace_id, span_id);
		for (i = 1; i <= fills; i++)
			fill_trace(buf, CLT_PATCHED_IDS_LEN, i);
		memcpy(copy, buf, len);
		if (fills == 3) {
			/* Full array: both readings hold; never nodes made of IDs. */
			assert_int_equal(ioam_decode_hbh(&t, buf, len, IOAM_LAYOUT_AUTO), -ENOTUNIQ);
			assert_int_equal(t.n_nodes, 0);
			/* What auto used to do: the IDs as two phantom nodes. */
			assert_int_equal(ioam_decode_hbh(&t, buf, len, IOAM_LAYOUT_NONE), 0);
			assert_int_equal(t.n_nodes, 5);
			assert_int_equal(ioam_decode_hbh(&t, buf, len, IOAM_LAYOUT_PATCHED), 0);
			assert_int_equal(t.n_nodes, 3);
			continue;
		}
		assert_int_equal(ioam_decode_hbh(&t, buf, len, IOAM_LAYOUT_AUTO), 0);
		assert_memory_equal(buf, copy, len); /* the decoder only reads */
		assert_int_equal(t.layout, IOAM_LAYOUT_PATCHED);
		assert_true(t.has_ids);
		assert_memory_equal(t.trace_id, trace_id, 16);
		assert_memory_equal(t.span_id, span_id, 8);
		assert_int_equal(t.n_nodes, fills);
		for (i = 0; i < fills; i++)
			check_node(&t.nodes[i], TT_DEMO, i + 1);
	}

	/* Zero IDs (a socket the kernel had no IDs for), partly filled: the
	 * unfilled part is zero either way. */
	len = build_trace(buf, TT_DEMO, 3, zero, zero);
	fill_trace(buf, CLT_PATCHED_IDS_LEN, 1);
	assert_int_equal(ioam_decode_hbh(&t, buf, len, IOAM_LAYOUT_AUTO), -ENOTUNIQ);

	/* 20-octet nodes: 24 octets are no whole number of nodes, the
	 * lengths alone tell, even for a full array or zero IDs. */
	len = build_trace(buf, CLT_DEFAULT_TRACE_TYPE, 3, trace_id, span_id);
	for (i = 1; i <= 3; i++)
		fill_trace(buf, CLT_PATCHED_IDS_LEN, i);
	assert_int_equal(ioam_decode_hbh(&t, buf, len, IOAM_LAYOUT_AUTO), 0);
	assert_int_equal(t.layout, IOAM_LAYOUT_PATCHED);
	assert_memory_equal(t.trace_id, trace_id, 16);
	assert_int_equal(t.n_nodes, 3);
	check_node(&t.nodes[2], CLT_DEFAULT_TRACE_TYPE, 3);
	len = build_trace(buf, CLT_DEFAULT_TRACE_TYPE, 2, zero, zero);
	fill_trace(buf, CLT_PATCHED_IDS_LEN, 1);
	assert_int_equal(ioam_decode_hbh(&t, buf, len, IOAM_LAYOUT_AUTO), 0);
	assert_int_equal(t.layout, IOAM_LAYOUT_PATCHED);
	assert_int_equal(t.n_nodes, 1);
	assert_memory_equal(t.trace_id, zero, 16);
}

static void test_auto_plain_and_trailer(void **state)
{
	struct ioam_hbh_config cfg = {123, TT_DEMO, 3, 0};
	static struct ioam_trace t;
	uint8_t buf[512];
	unsigned int fills, i;
	size_t len;

	/* Plain IOAM, no IDs: decoded as before while the array has room. */
	for (fills = 0; fills <= 3; fills++) {
		len = build_trace(buf, TT_DEMO, 3, NULL, NULL);
		for (i = 1; i <= fills; i++)
			fill_trace(buf, 0, i);
		if (fills == 3) {
			/* Full: the first two nodes could be the patched kernel's IDs. */
			assert_int_equal(ioam_decode_hbh(&t, buf, len, IOAM_LAYOUT_AUTO), -ENOTUNIQ);
			assert_int_equal(ioam_decode_hbh(&t, buf, len, IOAM_LAYOUT_NONE), 0);
			assert_int_equal(t.n_nodes, 3);
			continue;
		}
		assert_int_equal(ioam_decode_hbh(&t, buf, len, IOAM_LAYOUT_AUTO), 0);
		assert_int_equal(t.layout, IOAM_LAYOUT_NONE);
		assert_false(t.has_ids);
		assert_int_equal(t.n_nodes, fills);
		for (i = 0; i < fills; i++)
			check_node(&t.nodes[i], TT_DEMO, i + 1);
	}
	/* The stock layout (CLT trailer) is recognised by its magic, full or not. */
	for (fills = 0; fills <= 3; fills++) {
		int blen = ioam_hbh_build(buf, sizeof(buf), &cfg, trace_id, span_id);

		assert_true(blen > 0);
		for (i = 1; i <= fills; i++)
			assert_int_equal(fill_hbh(buf, i), 0);
		assert_int_equal(ioam_decode_hbh(&t, buf, (size_t)blen, IOAM_LAYOUT_AUTO), 0);
		assert_int_equal(t.layout, IOAM_LAYOUT_TRAILER);
		assert_true(t.has_ids);
		assert_memory_equal(t.trace_id, trace_id, 16);
		assert_memory_equal(t.span_id, span_id, 8);
		assert_int_equal(t.n_nodes, fills);
		for (i = 0; i < fills; i++)
			check_node(&t.nodes[i], TT_DEMO, i + 1);
	}
}

static void test_time_and_hex(void **state)
{
	struct ioam_node n;
	char hex[33];

	memset(&n, 0, sizeof(n));
	assert_int_equal(ioam_node_time_ns(&n, 1000), 0);
	assert_int_equal(ioam_node_time_ns(NULL, 1000), 0);
	n.fields = IOAM_TT_TS_SEC | IOAM_TT_TS_FRAC;
	n.ts_sec = 1700000000;
	n.ts_frac = 250000;
	assert_int_equal(ioam_node_time_ns(&n, 1000), 1700000000250000000ull);
	n.ts_frac = 0x80000000u; /* half a second in the PTP binary fraction */
	assert_int_equal(ioam_node_time_ns(&n, 0), 1700000000500000000ull);
	n.fields = IOAM_TT_TS_SEC;
	assert_int_equal(ioam_node_time_ns(&n, 1000), 1700000000000000000ull);
	clt_hex(hex, trace_id, 16);
	assert_string_equal(hex, "0af7651916cd43dd8448eb211c80319c");
	clt_hex(hex, trace_id, 0);
	assert_string_equal(hex, "");
}

/* The decoder undoes clt_hex, takes either case, and refuses anything else. */
static void test_unhex(void **state)
{
	uint8_t out[16], want[4] = {0x0a, 0xf7, 0x65, 0xff};
	char hex[33];

	assert_int_equal(clt_hex_digit('0'), 0);
	assert_int_equal(clt_hex_digit('9'), 9);
	assert_int_equal(clt_hex_digit('a'), 10);
	assert_int_equal(clt_hex_digit('F'), 15);
	assert_int_equal(clt_hex_digit('g'), -1);
	assert_int_equal(clt_hex_digit('/'), -1);
	assert_int_equal(clt_hex_digit(0), -1);
	assert_int_equal(clt_hex_digit(0xe9), -1);
	assert_int_equal(clt_unhex(out, "0aF765fF", 4), 0);
	assert_memory_equal(out, want, 4);
	clt_hex(hex, want, 4);
	assert_string_equal(hex, "0af765ff");
	assert_int_equal(clt_unhex(out, "0ag7", 2), -EINVAL);
	assert_int_equal(clt_unhex(out, "0a\0" "7", 2), -EINVAL); /* stops at a NUL */
	assert_int_equal(clt_unhex(out, "", 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_node_data_len),
		cmocka_unit_test(test_hbh_layout),
		cmocka_unit_test(test_trailer_v2),
		cmocka_unit_test(test_hbh_check_limits),
		cmocka_unit_test(test_roundtrip_each_bit),
		cmocka_unit_test(test_roundtrip_combinations),
		cmocka_unit_test(test_event_opaque),
		cmocka_unit_test(test_event_layouts),
		cmocka_unit_test(test_event_inconsistent),
		cmocka_unit_test(test_option_and_hbh_malformed),
		cmocka_unit_test(test_option_patched),
		cmocka_unit_test(test_auto_patched),
		cmocka_unit_test(test_auto_plain_and_trailer),
		cmocka_unit_test(test_time_and_hex),
		cmocka_unit_test(test_unhex),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
