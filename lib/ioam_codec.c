/*
 * ioam_codec.c - the IOAM pre-allocated trace option (RFC 9197): building
 * the source-inserted hop-by-hop header with the CLT trailer, and decoding
 * traces from kernel events, wire options and hop-by-hop headers.
 *
 * Pure code: no I/O, no allocation, no global state besides constants.
 * Every read is bounded by the caller's length; malformed input is a
 * negative errno.
 */
#include <errno.h>
#include <string.h>

#pragma GCC visibility push(default) /* the public API; see libclt.map */
#include "clt/ioam.h"
#pragma GCC visibility pop

const uint8_t clt_trailer_magic[4] = {0x43, 0x4c, 0x54, 0x01};
const uint8_t clt_trailer_magic_v2[4] = {0x43, 0x4c, 0x54, 0x02};

static size_t clt_trailer_len(const struct ioam_hbh_config *cfg)
{
	return cfg->trailer_version == 2 ? CLT_TRAILER_V2_LEN : CLT_TRAILER_LEN;
}

/* Trace-type bits whose fields are 4 octets (0-7, 11, undefined 12-21)
 * and 8 octets (8-10). Opaque (22) is variable, reserved (23) empty. */
#define IOAM_TT_SHORT_MASK (0xff0000u | IOAM_TT_BUFFER | IOAM_TT_UNDEFINED)
#define IOAM_TT_WIDE_MASK (IOAM_TT_HOP_NODE_WIDE | IOAM_TT_IF_WIDE | IOAM_TT_NSDATA_WIDE)
#define IOAM_TT_MASK 0xffffffu

/* The hop-by-hop header: next-header, hdr-ext-len, Pad2 (so the IOAM
 * option's data is 4n-aligned, which the kernel insists on), then the
 * option type and length. */
#define IOAM_HBH_PREFIX 6
/* Option data before the node array: reserved, IOAM-Option-Type, trace header. */
#define IOAM_OPT_FIXED (2 + IOAM_TRACE_HDR_LEN)

static uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get_be24(const uint8_t *p)
{
	return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

static unsigned int popcount32(uint32_t v)
{
	return (unsigned int)__builtin_popcount(v);
}

unsigned int ioam_node_data_len(uint32_t trace_type)
{
	return 4 * popcount32(trace_type & IOAM_TT_SHORT_MASK) +
	       8 * popcount32(trace_type & IOAM_TT_WIDE_MASK);
}

int ioam_hbh_check(const struct ioam_hbh_config *cfg, const char **why)
{
	const char *msg = NULL;
	unsigned int node_len;
	unsigned long array;

	if (cfg == NULL) {
		msg = "no configuration";
		goto out;
	}
	if (cfg->trace_type & ~IOAM_TT_MASK) {
		msg = "trace type has more than 24 bits";
		goto out;
	}
	if (cfg->trace_type & IOAM_TT_OPAQUE) {
		msg = "trace type bit 22 (opaque state snapshot) cannot be pre-allocated by a source";
		goto out;
	}
	if (cfg->trace_type & IOAM_TT_RESERVED) {
		msg = "trace type bit 23 is reserved and must be 0";
		goto out;
	}
	/* RFC 9197 4.4.1: "An IOAM encapsulating node MUST set the value of
	 * each of these bits to 0"; transit nodes then fill 0xffffffff. */
	if (cfg->trace_type & IOAM_TT_UNDEFINED) {
		msg = "trace type bits 12-21 are undefined: a source must leave them 0 "
		      "(RFC 9197 4.4.1)";
		goto out;
	}
	node_len = ioam_node_data_len(cfg->trace_type);
	if (node_len == 0) {
		msg = "trace type selects no node data (node length 0)";
		goto out;
	}
	if (cfg->hops == 0) {
		msg = "hops must be at least 1";
		goto out;
	}
	if (cfg->hops > IOAM_MAX_NODES) {
		msg = "hops exceeds 61, the most nodes an IOAM trace can hold";
		goto out;
	}
	array = (unsigned long)node_len * cfg->hops;
	if (array > IOAM_TRACE_DATA_MAX) {
		msg = "node array (hops x node length) exceeds the kernel limit of 244 octets";
		goto out;
	}
	if (cfg->trailer_version > 2) {
		msg = "unknown CLT trailer version";
		goto out;
	}
	if (IOAM_OPT_FIXED + array + clt_trailer_len(cfg) > IOAM_OPT_LEN_MAX) {
		msg = cfg->trailer_version == 2
			      ? "IOAM option (10 + node array + 40-octet CLT trailer v2) exceeds 255 "
				"octets: lower hops or the trace type"
			      : "IOAM option (10 + node array + 28-octet CLT trailer) exceeds 255 octets: "
				"lower hops or the trace type";
		goto out;
	}
out:
	if (msg != NULL) {
		if (why != NULL)
			*why = msg;
		return -EINVAL;
	}
	return 0;
}

size_t ioam_hbh_size(const struct ioam_hbh_config *cfg)
{
	size_t len;

	if (ioam_hbh_check(cfg, NULL) < 0)
		return 0;
	len = IOAM_HBH_PREFIX + IOAM_OPT_FIXED +
	      (size_t)ioam_node_data_len(cfg->trace_type) * cfg->hops + clt_trailer_len(cfg);
	return (len + 7) & ~(size_t)7;
}

int ioam_hbh_build(uint8_t *buf, size_t cap, const struct ioam_hbh_config *cfg,
		   const uint8_t trace_id[16], const uint8_t span_id[8])
{
	size_t total, array, opt_len, pad, off;
	unsigned int node_len;

	if (buf == NULL || trace_id == NULL || span_id == NULL || ioam_hbh_check(cfg, NULL) < 0)
		return -EINVAL;
	total = ioam_hbh_size(cfg);
	if (total > cap)
		return -ENOSPC;
	node_len = ioam_node_data_len(cfg->trace_type);
	array = (size_t)node_len * cfg->hops;
	opt_len = IOAM_OPT_FIXED + array + clt_trailer_len(cfg);

	memset(buf, 0, total);
	buf[0] = 0;                              /* next header: the kernel sets it */
	buf[1] = (uint8_t)(total / 8 - 1);       /* hdr-ext-len */
	buf[2] = 1;                              /* Pad2 */
	buf[3] = 0;
	buf[4] = IOAM_OPT_TYPE;
	buf[5] = (uint8_t)opt_len;
	buf[6] = 0;                              /* reserved */
	buf[7] = IOAM_TYPE_PREALLOC_TRACE;
	buf[8] = (uint8_t)(cfg->namespace_id >> 8);
	buf[9] = (uint8_t)cfg->namespace_id;
	/* NodeLen(5) Flags(4) RemainingLen(7); flags 0. */
	buf[10] = (uint8_t)((node_len / 4) << 3);
	buf[11] = (uint8_t)((array / 4) & 0x7f);
	buf[12] = (uint8_t)(cfg->trace_type >> 16);
	buf[13] = (uint8_t)(cfg->trace_type >> 8);
	buf[14] = (uint8_t)cfg->trace_type;
	buf[15] = 0;
	off = IOAM_HBH_PREFIX + IOAM_OPT_FIXED + array; /* node array stays zero */
	memcpy(buf + off, trace_id, 16);
	memcpy(buf + off + 16, span_id, 8);
	if (cfg->trailer_version == 2) {
		/* flags, reserved and egress time zero: the writer fills them */
		memcpy(buf + off + 36, clt_trailer_magic_v2, sizeof(clt_trailer_magic_v2));
		off += CLT_TRAILER_V2_LEN;
	} else {
		memcpy(buf + off + 24, clt_trailer_magic, sizeof(clt_trailer_magic));
		off += CLT_TRAILER_LEN;
	}
	pad = total - off;
	if (pad == 1) {
		buf[off] = 0; /* Pad1 */
	} else if (pad >= 2) {
		buf[off] = 1; /* PadN, zero-filled */
		buf[off + 1] = (uint8_t)(pad - 2);
	}
	return (int)total;
}

/* One node's data at @p (at most @avail octets); *used gets its size. */
static int ioam_parse_node(struct ioam_node *n, uint32_t tt, const uint8_t *p, size_t avail,
			   size_t *used)
{
	size_t off = 0, fixed = ioam_node_data_len(tt);

	if (avail < fixed)
		return -EINVAL;
	memset(n, 0, sizeof(*n));
	n->fields = tt & ~IOAM_TT_RESERVED;
	if (tt & IOAM_TT_HOP_NODE) {
		n->hop_limit = p[off];
		n->node_id = get_be24(p + off + 1);
		off += 4;
	}
	if (tt & IOAM_TT_IF_SHORT) {
		n->ingress_if = get_be16(p + off);
		n->egress_if = get_be16(p + off + 2);
		off += 4;
	}
	if (tt & IOAM_TT_TS_SEC) {
		n->ts_sec = get_be32(p + off);
		off += 4;
	}
	if (tt & IOAM_TT_TS_FRAC) {
		n->ts_frac = get_be32(p + off);
		off += 4;
	}
	if (tt & IOAM_TT_TRANSIT) {
		n->transit_delay = get_be32(p + off);
		off += 4;
	}
	if (tt & IOAM_TT_NSDATA_SHORT) {
		n->ns_data = get_be32(p + off);
		off += 4;
	}
	if (tt & IOAM_TT_QUEUE) {
		n->queue_depth = get_be32(p + off);
		off += 4;
	}
	if (tt & IOAM_TT_CSUM) {
		n->checksum = get_be32(p + off);
		off += 4;
	}
	if (tt & IOAM_TT_HOP_NODE_WIDE) {
		/* With both node-id fields the wide one's hop limit wins: it is
		 * the same hop limit, written twice. */
		n->hop_limit = p[off];
		n->node_id_wide = get_be64(p + off) & 0x00ffffffffffffffull;
		off += 8;
	}
	if (tt & IOAM_TT_IF_WIDE) {
		n->ingress_if_wide = get_be32(p + off);
		n->egress_if_wide = get_be32(p + off + 4);
		off += 8;
	}
	if (tt & IOAM_TT_NSDATA_WIDE) {
		n->ns_data_wide = get_be64(p + off);
		off += 8;
	}
	if (tt & IOAM_TT_BUFFER) {
		n->buffer_occupancy = get_be32(p + off);
		off += 4;
	}
	off += 4 * popcount32(tt & IOAM_TT_UNDEFINED); /* 0xffffffff fillers */
	if (tt & IOAM_TT_OPAQUE) {
		size_t olen;

		/* Not counted in NodeLen: 1-octet length (4-octet units),
		 * 24-bit schema id, then the data (RFC 9197 4.4.2.12). */
		if (avail - off < 4)
			return -EINVAL;
		olen = (size_t)p[off] * 4;
		if (olen > 255 || avail - off - 4 < olen)
			return -EINVAL;
		n->opaque_len = (uint8_t)olen;
		n->opaque_schema = get_be24(p + off + 1);
		n->opaque = olen ? p + off + 4 : NULL;
		off += 4 + olen;
	}
	*used = off;
	return 0;
}

/* Decode filled node data (most recent node first) into path order. */
static int ioam_parse_nodes(struct ioam_trace *out, const uint8_t *p, size_t len)
{
	unsigned int i, n = 0;

	while (len > 0) {
		size_t used = 0;
		int err;

		if (n == IOAM_MAX_NODES)
			return -ENOSPC;
		err = ioam_parse_node(&out->nodes[n], out->trace_type, p, len, &used);
		if (err < 0)
			return err;
		p += used;
		len -= used;
		n++;
	}
	for (i = 0; i < n / 2; i++) {
		struct ioam_node tmp = out->nodes[i];

		out->nodes[i] = out->nodes[n - 1 - i];
		out->nodes[n - 1 - i] = tmp;
	}
	out->n_nodes = n;
	return 0;
}

/* The CLT trailer's length when @data ends with one (v1: 28, v2: 40), else 0. */
static size_t ioam_trailer_present(const uint8_t *data, size_t len)
{
	if (len >= CLT_TRAILER_LEN && memcmp(data + len - sizeof(clt_trailer_magic),
					     clt_trailer_magic, sizeof(clt_trailer_magic)) == 0)
		return CLT_TRAILER_LEN;
	if (len >= CLT_TRAILER_V2_LEN &&
	    memcmp(data + len - sizeof(clt_trailer_magic_v2), clt_trailer_magic_v2,
		   sizeof(clt_trailer_magic_v2)) == 0)
		return CLT_TRAILER_V2_LEN;
	return 0;
}

/* Does @len octets at @p split into whole nodes of @tt (at most
 * IOAM_MAX_NODES)? The same walk as ioam_parse_nodes, storing nothing. */
static bool ioam_nodes_fit(uint32_t tt, const uint8_t *p, size_t len)
{
	struct ioam_node tmp;
	unsigned int n = 0;

	while (len > 0) {
		size_t used = 0;

		if (n == IOAM_MAX_NODES || ioam_parse_node(&tmp, tt, p, len, &used) < 0 || used == 0)
			return false;
		p += used;
		len -= used;
		n++;
	}
	return true;
}

static bool ioam_all_zero(const uint8_t *p, size_t n)
{
	while (n > 0) {
		if (*p++ != 0)
			return false;
		n--;
	}
	return true;
}

/*
 * --layout auto, wire option, no CLT trailer: plain IOAM, or the patched
 * kernel's 24 octets of IDs before the node array? @data/@len is the
 * option after the trace header, @skip the unfilled octets (RemainingLen).
 * Each reading must split what it calls filled into whole nodes; both can
 * when the node size divides 24 (4, 8, 12 or 24 octets). Then the unfilled
 * part decides, which every IOAM encapsulator leaves zero: read as plain
 * IOAM, a tagged patched trace has its IDs there; read as patched, a
 * plain trace has node data there. Still both (a full array, zero IDs):
 * ambiguous, never nodes made of IDs.
 * @return IOAM_LAYOUT_NONE / _PATCHED, or -ENOTUNIQ.
 */
static int ioam_guess_layout(uint32_t tt, const uint8_t *data, size_t len, size_t skip)
{
	bool plain = len >= skip && ioam_nodes_fit(tt, data + skip, len - skip);
	bool patched = len >= CLT_PATCHED_IDS_LEN + skip &&
		       ioam_nodes_fit(tt, data + CLT_PATCHED_IDS_LEN + skip,
				      len - CLT_PATCHED_IDS_LEN - skip);

	if (plain && patched) {
		plain = ioam_all_zero(data, skip);
		patched = ioam_all_zero(data + CLT_PATCHED_IDS_LEN, skip);
		if (plain == patched)
			return -ENOTUNIQ;
	}
	/* Neither: plain IOAM, whose decoding reports the malformed trace. */
	return patched ? IOAM_LAYOUT_PATCHED : IOAM_LAYOUT_NONE;
}

/* The part after the header: [patched IDs] filled nodes [trailer]. The
 * header fields of @out are already set. */
static int ioam_decode_data(struct ioam_trace *out, const uint8_t *data, size_t len,
			    enum ioam_layout layout)
{
	if (out->node_len == 0 || (unsigned int)out->node_len * 4 != ioam_node_data_len(out->trace_type))
		return -EINVAL;
	if (layout == IOAM_LAYOUT_AUTO)
		layout = ioam_trailer_present(data, len) ? IOAM_LAYOUT_TRAILER : IOAM_LAYOUT_NONE;
	switch (layout) {
	case IOAM_LAYOUT_TRAILER: {
		size_t tl = ioam_trailer_present(data, len);

		if (tl == 0)
			return -EINVAL;
		len -= tl;
		memcpy(out->trace_id, data + len, 16);
		memcpy(out->span_id, data + len + 16, 8);
		out->has_ids = true;
		out->trailer_version = tl == CLT_TRAILER_V2_LEN ? 2 : 1;
		if (tl == CLT_TRAILER_V2_LEN) {
			const uint8_t *v2 = data + len;
			uint32_t sec = (uint32_t)v2[28] << 24 | (uint32_t)v2[29] << 16 |
				       (uint32_t)v2[30] << 8 | v2[31];
			uint32_t nsec = (uint32_t)v2[32] << 24 | (uint32_t)v2[33] << 16 |
					(uint32_t)v2[34] << 8 | v2[35];

			/* Readers ignore flag bits they do not know. */
			out->trailer_flags = v2[24];
			if ((v2[24] & CLT_TRAILER_F_EGRESS_TIME) && nsec < 1000000000u)
				out->egress_ns = (uint64_t)sec * 1000000000u + nsec;
		}
		break;
	}
	case IOAM_LAYOUT_PATCHED:
		if (len < CLT_PATCHED_IDS_LEN)
			return -EINVAL;
		memcpy(out->trace_id, data, 16);
		memcpy(out->span_id, data + 16, 8);
		out->has_ids = true;
		data += CLT_PATCHED_IDS_LEN;
		len -= CLT_PATCHED_IDS_LEN;
		break;
	case IOAM_LAYOUT_NONE:
		break;
	default:
		return -EINVAL;
	}
	out->layout = layout;
	return ioam_parse_nodes(out, data, len);
}

int ioam_decode_event(struct ioam_trace *out, uint16_t namespace_id, uint8_t node_len,
		      uint32_t trace_type, const uint8_t *data, size_t len,
		      enum ioam_layout layout)
{
	int err;

	if (out == NULL || (data == NULL && len > 0) || (trace_type & ~IOAM_TT_MASK))
		return -EINVAL;
	memset(out, 0, offsetof(struct ioam_trace, nodes));
	out->n_nodes = 0;
	out->namespace_id = namespace_id;
	out->node_len = node_len;
	out->trace_type = trace_type;
	err = ioam_decode_data(out, data, len, layout);
	if (err < 0)
		out->n_nodes = 0;
	return err;
}

int ioam_decode_option(struct ioam_trace *out, const uint8_t *opt, size_t len,
		       enum ioam_layout layout)
{
	size_t skip;
	int err;

	if (out == NULL || opt == NULL || len < 2)
		return -EINVAL;
	if (opt[1] != IOAM_TYPE_PREALLOC_TRACE)
		return -ENOENT;
	if (len < IOAM_OPT_FIXED)
		return -EINVAL;
	memset(out, 0, offsetof(struct ioam_trace, nodes));
	out->n_nodes = 0;
	out->namespace_id = get_be16(opt + 2);
	out->node_len = opt[4] >> 3;
	out->flags = (uint8_t)((opt[4] & 0x07) << 1 | opt[5] >> 7);
	out->remaining = opt[5] & 0x7f;
	out->trace_type = get_be24(opt + 6);
	opt += IOAM_OPT_FIXED;
	len -= IOAM_OPT_FIXED;
	/* The unfilled part of the array precedes the filled part; with the
	 * patched layout the IDs come first of all. */
	skip = (size_t)out->remaining * 4;
	if (layout == IOAM_LAYOUT_AUTO && out->node_len != 0 &&
	    (unsigned int)out->node_len * 4 == ioam_node_data_len(out->trace_type) &&
	    !(len >= skip && ioam_trailer_present(opt + skip, len - skip))) {
		err = ioam_guess_layout(out->trace_type, opt, len, skip);
		if (err < 0)
			return err;
		layout = (enum ioam_layout)err;
	}
	if (layout == IOAM_LAYOUT_PATCHED) {
		uint8_t ids[CLT_PATCHED_IDS_LEN];

		if (len < CLT_PATCHED_IDS_LEN + skip)
			return -EINVAL;
		memcpy(ids, opt, sizeof(ids));
		opt += CLT_PATCHED_IDS_LEN;
		len -= CLT_PATCHED_IDS_LEN;
		err = ioam_decode_data(out, opt + skip, len - skip, IOAM_LAYOUT_NONE);
		if (err == 0) {
			memcpy(out->trace_id, ids, 16);
			memcpy(out->span_id, ids + 16, 8);
			out->has_ids = true;
			out->layout = IOAM_LAYOUT_PATCHED;
		}
	} else {
		if (len < skip)
			return -EINVAL;
		err = ioam_decode_data(out, opt + skip, len - skip, layout);
	}
	if (err < 0)
		out->n_nodes = 0;
	return err;
}

int ioam_decode_hbh(struct ioam_trace *out, const uint8_t *hbh, size_t len,
		    enum ioam_layout layout)
{
	size_t total, off = 2;

	if (out == NULL || hbh == NULL || len < 8)
		return -EINVAL;
	total = ((size_t)hbh[1] + 1) * 8;
	if (total > len)
		return -EINVAL;
	while (off < total) {
		size_t olen;
		int err;

		if (hbh[off] == 0) { /* Pad1 */
			off++;
			continue;
		}
		if (total - off < 2)
			return -EINVAL;
		olen = hbh[off + 1];
		if (total - off - 2 < olen)
			return -EINVAL;
		if (hbh[off] == IOAM_OPT_TYPE) {
			err = ioam_decode_option(out, hbh + off + 2, olen, layout);
			if (err != -ENOENT)
				return err;
		}
		off += 2 + olen;
	}
	return -ENOENT;
}

uint64_t ioam_node_time_ns(const struct ioam_node *node, uint32_t frac_unit_ns)
{
	uint64_t ns;

	if (node == NULL || !(node->fields & IOAM_TT_TS_SEC))
		return 0;
	ns = (uint64_t)node->ts_sec * 1000000000ull;
	if (node->fields & IOAM_TT_TS_FRAC) {
		if (frac_unit_ns == 0)
			ns += ((uint64_t)node->ts_frac * 1000000000ull) >> 32;
		else
			ns += (uint64_t)node->ts_frac * frac_unit_ns;
	}
	return ns;
}

void clt_hex(char *out, const uint8_t *in, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0x0f];
	}
	out[2 * n] = '\0';
}

int clt_hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int clt_unhex(uint8_t *out, const char *in, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int hi = clt_hex_digit((unsigned char)in[2 * i]);
		int lo = hi < 0 ? -1 : clt_hex_digit((unsigned char)in[2 * i + 1]);

		if (lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}
