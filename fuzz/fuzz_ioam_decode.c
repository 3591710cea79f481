/*
 * fuzz_ioam_decode.c - libFuzzer target for the IOAM codec. The first
 * octet picks the entry point (event, option, hop-by-hop header, or a
 * build/decode round-trip) and the layout; the rest is the input. Decoders
 * must never read outside their input, and a built header, filled by
 * simulated IOAM nodes, must decode (as a header and as the kernel's
 * event) to the IDs, configuration and nodes it was built from; the same
 * trace in the CLT-patched kernel's layout must decode under auto to its
 * IDs and nodes or be called ambiguous, never to nodes made of the IDs.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clt/ioam.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ioam_trace trace;

/* Sanity every successful decode must satisfy. */
static void check_trace(const struct ioam_trace *t, const uint8_t *in, size_t len)
{
	unsigned int i;

	if (t->n_nodes > IOAM_MAX_NODES || t->layout == IOAM_LAYOUT_AUTO)
		abort();
	for (i = 0; i < t->n_nodes; i++) {
		const struct ioam_node *n = &t->nodes[i];

		if (n->opaque != NULL &&
		    (n->opaque < in || n->opaque + n->opaque_len > in + len))
			abort();
	}
}

static struct ioam_trace trace2;

/* What a Linux IOAM node does to a built header: write NodeLen*4 octets at
 * data + RemainingLen*4 - NodeLen*4 and decrement RemainingLen, or set the
 * Overflow flag when there is no room. Node octets come from @src (cycled,
 * XORed with the fill number @j so that no two nodes look alike);
 * undefined bits 12-21 get 0xffffffff like Linux writes. The node array
 * starts @ids octets after the trace header (the patched layout: 24). */
static void fill_node(uint8_t *hbh, size_t ids, const uint8_t *src, size_t src_len, size_t *pos,
		      unsigned int j)
{
	uint8_t *tr = hbh + 8; /* trace header: after HBH(2) Pad2(2) type/len(2) rsvd/type(2) */
	unsigned int node_len = tr[2] >> 3, rem = tr[3] & 0x7f, i, undef;
	uint32_t tt = (uint32_t)tr[4] << 16 | (uint32_t)tr[5] << 8 | tr[6];
	uint8_t *p;

	if (rem < node_len) {
		tr[2] |= 0x04;
		return;
	}
	p = tr + 8 + ids + (rem - node_len) * 4;
	undef = 4 * (unsigned int)__builtin_popcount(tt & IOAM_TT_UNDEFINED);
	for (i = 0; i < node_len * 4 - undef; i++)
		p[i] = (uint8_t)((src_len ? src[(*pos)++ % src_len] : 0) ^ j);
	memset(p + i, 0xff, undef);
	tr[3] = (uint8_t)((tr[3] & 0x80) | (rem - node_len));
}

/* The CLT-patched kernel's hop-by-hop header for @cfg: trace header,
 * trace-id, span-id, then the zeroed node array; Pad2 before, PadN after. */
static size_t build_patched(uint8_t *buf, const struct ioam_hbh_config *cfg, const uint8_t *tid,
			    const uint8_t *sid)
{
	unsigned int node = ioam_node_data_len(cfg->trace_type), array = node * cfg->hops;
	size_t opt_len = 10 + CLT_PATCHED_IDS_LEN + array;
	size_t total = (6 + opt_len + 7) & ~(size_t)7, off = 6 + opt_len;

	memset(buf, 0, total);
	buf[1] = (uint8_t)(total / 8 - 1);
	buf[2] = 1;
	buf[4] = IOAM_OPT_TYPE;
	buf[5] = (uint8_t)opt_len;
	buf[8] = (uint8_t)(cfg->namespace_id >> 8);
	buf[9] = (uint8_t)cfg->namespace_id;
	buf[10] = (uint8_t)((node / 4) << 3);
	buf[11] = (uint8_t)(array / 4);
	buf[12] = (uint8_t)(cfg->trace_type >> 16);
	buf[13] = (uint8_t)(cfg->trace_type >> 8);
	buf[14] = (uint8_t)cfg->trace_type;
	memcpy(buf + 16, tid, 16);
	memcpy(buf + 32, sid, 8);
	if (total - off >= 2) {
		buf[off] = 1;
		buf[off + 1] = (uint8_t)(total - off - 2);
	}
	return total;
}

/*
 * Build a header from fuzzed configuration and IDs, let up to 255 nodes
 * fill it, then decode it as a hop-by-hop header and as the kernel event
 * the last node would emit: both must give the IDs back, the same nodes
 * (path order), and Overflow exactly when more nodes came than fit.
 * Input: ns(2) type(3) hops(1) trace-id(16) span-id(8) fills(1) node octets...
 */
static void roundtrip(const uint8_t *d, size_t n)
{
	struct ioam_hbh_config cfg;
	uint8_t buf[512];
	unsigned int i, fills, expect, rem, opt_len;
	size_t pos = 0, data_off;
	int len, err;

	if (n < 31)
		return;
	cfg.namespace_id = (uint16_t)(d[0] << 8 | d[1]);
	cfg.trace_type = (uint32_t)d[2] << 16 | (uint32_t)d[3] << 8 | d[4];
	cfg.hops = d[5];
	if (ioam_hbh_check(&cfg, NULL) != 0)
		return;
	len = ioam_hbh_build(buf, sizeof(buf), &cfg, d + 6, d + 22);
	if (len <= 0 || (size_t)len != ioam_hbh_size(&cfg) || len % 8 != 0 ||
	    buf[1] != len / 8 - 1 || buf[4] != IOAM_OPT_TYPE || buf[5] + 6u > (unsigned int)len ||
	    (len - 6 - buf[5]) > 7)
		abort();
	if (ioam_decode_hbh(&trace, buf, (size_t)len, IOAM_LAYOUT_AUTO) != 0 || !trace.has_ids ||
	    memcmp(trace.trace_id, d + 6, 16) != 0 || memcmp(trace.span_id, d + 22, 8) != 0 ||
	    trace.namespace_id != cfg.namespace_id || trace.trace_type != cfg.trace_type ||
	    trace.n_nodes != 0 || trace.remaining * 4u != ioam_node_data_len(cfg.trace_type) * cfg.hops)
		abort();

	fills = d[30];
	for (i = 0; i < fills; i++)
		fill_node(buf, 0, d + 31, n - 31, &pos, i);
	expect = fills < cfg.hops ? fills : cfg.hops;
	if (ioam_decode_hbh(&trace, buf, (size_t)len, IOAM_LAYOUT_AUTO) != 0 || !trace.has_ids ||
	    memcmp(trace.trace_id, d + 6, 16) != 0 || memcmp(trace.span_id, d + 22, 8) != 0 ||
	    trace.n_nodes != expect || !!(trace.flags & IOAM_FLAG_OVERFLOW) != (fills > cfg.hops))
		abort();

	/* The event: TRACE_DATA is the option from RemainingLen on. */
	rem = buf[11] & 0x7f;
	opt_len = buf[5];
	data_off = 16 + (size_t)rem * 4;
	if (data_off > 6 + opt_len)
		abort();
	if (ioam_decode_event(&trace2, cfg.namespace_id,
			      (uint8_t)(ioam_node_data_len(cfg.trace_type) / 4), cfg.trace_type,
			      buf + data_off, 6 + opt_len - data_off, IOAM_LAYOUT_TRAILER) != 0 ||
	    !trace2.has_ids || memcmp(trace2.trace_id, d + 6, 16) != 0 ||
	    memcmp(trace2.span_id, d + 22, 8) != 0 || trace2.n_nodes != expect ||
	    memcmp(trace2.nodes, trace.nodes, expect * sizeof(trace.nodes[0])) != 0)
		abort();
	/* The same fills on the patched layout: auto finds the IDs and the
	 * same nodes, or gives up (-ENOTUNIQ); it reads plain IOAM only if the
	 * last node's data happens to end with the trailer magic. */
	{
		size_t plen = build_patched(buf, &cfg, d + 6, d + 22);
		const uint8_t *end = buf + 6 + buf[5];

		pos = 0;
		for (i = 0; i < fills; i++)
			fill_node(buf, CLT_PATCHED_IDS_LEN, d + 31, n - 31, &pos, i);
		err = ioam_decode_hbh(&trace2, buf, plen, IOAM_LAYOUT_AUTO);
		if (memcmp(end - 4, clt_trailer_magic, 4) != 0 && err != -ENOTUNIQ &&
		    (err != 0 || trace2.layout != IOAM_LAYOUT_PATCHED || !trace2.has_ids ||
		     memcmp(trace2.trace_id, d + 6, 16) != 0 || memcmp(trace2.span_id, d + 22, 8) != 0 ||
		     trace2.n_nodes != expect ||
		     memcmp(trace2.nodes, trace.nodes, expect * sizeof(trace.nodes[0])) != 0))
			abort();
	}
	/* Path order: the k-th node to fill is nodes[k]; its first word holds
	 * the octets the simulation took for it (a wide node id, if present,
	 * supplies the hop limit instead). */
	if (n > 31 && (cfg.trace_type & IOAM_TT_HOP_NODE)) {
		const uint8_t *s = d + 31;
		size_t m = n - 31, per = ioam_node_data_len(cfg.trace_type & ~IOAM_TT_UNDEFINED);

		for (i = 0; i < expect; i++) {
			size_t at = (size_t)i * per;
			uint8_t b[4];
			unsigned int k;

			for (k = 0; k < 4; k++)
				b[k] = (uint8_t)(s[(at + k) % m] ^ i);
			if (trace.nodes[i].node_id !=
				    ((uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3]) ||
			    (!(cfg.trace_type & IOAM_TT_HOP_NODE_WIDE) &&
			     trace.nodes[i].hop_limit != b[0]))
				abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum ioam_layout layout;
	uint8_t *in;
	size_t len;
	int err;

	if (size < 1)
		return 0;
	layout = (enum ioam_layout)((data[0] >> 2) % 4);
	len = size - 1;
	/* An exact-size heap copy so ASan sees any over-read. */
	in = malloc(len ? len : 1);
	if (in == NULL)
		return 0;
	memcpy(in, data + 1, len);
	switch (data[0] & 3) {
	case 0:
		if (len >= 6) {
			err = ioam_decode_event(&trace, (uint16_t)(in[0] << 8 | in[1]), in[2],
						(uint32_t)in[3] << 16 | (uint32_t)in[4] << 8 | in[5],
						in + 6, len - 6, layout);
			if (err == 0)
				check_trace(&trace, in + 6, len - 6);
		}
		break;
	case 1:
		if (ioam_decode_option(&trace, in, len, layout) == 0)
			check_trace(&trace, in, len);
		break;
	case 2:
		if (ioam_decode_hbh(&trace, in, len, layout) == 0)
			check_trace(&trace, in, len);
		break;
	default:
		roundtrip(in, len);
		break;
	}
	free(in);
	return 0;
}
