/*
 * fuzz_ioam_decode.c - libFuzzer target for the IOAM codec. The first
 * octet picks the entry point (event, option, hop-by-hop header, or a
 * build/decode round-trip) and the layout; the rest is the input. Decoders
 * must never read outside their input, and a built header must decode to
 * the IDs and configuration it was built from.
 */
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

	if (t->n_nodes > IOAM_MAX_NODES)
		abort();
	for (i = 0; i < t->n_nodes; i++) {
		const struct ioam_node *n = &t->nodes[i];

		if (n->opaque != NULL &&
		    (n->opaque < in || n->opaque + n->opaque_len > in + len))
			abort();
	}
}

static void roundtrip(const uint8_t *d, size_t n)
{
	struct ioam_hbh_config cfg;
	uint8_t buf[512];
	int len;

	if (n < 6 + 24)
		return;
	cfg.namespace_id = (uint16_t)(d[0] << 8 | d[1]);
	cfg.trace_type = (uint32_t)d[2] << 16 | (uint32_t)d[3] << 8 | d[4];
	cfg.hops = d[5];
	if (ioam_hbh_check(&cfg, NULL) != 0)
		return;
	len = ioam_hbh_build(buf, sizeof(buf), &cfg, d + 6, d + 22);
	if (len <= 0 || (size_t)len != ioam_hbh_size(&cfg) || len % 8 != 0)
		abort();
	if (ioam_decode_hbh(&trace, buf, (size_t)len, IOAM_LAYOUT_AUTO) != 0 || !trace.has_ids ||
	    memcmp(trace.trace_id, d + 6, 16) != 0 || memcmp(trace.span_id, d + 22, 8) != 0 ||
	    trace.namespace_id != cfg.namespace_id || trace.trace_type != cfg.trace_type ||
	    trace.n_nodes != 0 || trace.remaining * 4u != ioam_node_data_len(cfg.trace_type) * cfg.hops)
		abort();
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
