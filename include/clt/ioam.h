/*
 * ioam.h - IOAM pre-allocated trace option codec (RFC 9197) and the CLT
 * ID layouts, shared by libclt (which builds options) and cltagent (which
 * decodes what the kernel or the wire gives it).
 *
 * Everything here is pure: no I/O, no allocation, no global state.
 * Every decoder checks every length against its input and never reads
 * outside it; malformed input yields a negative errno, never a crash.
 */
#ifndef CLT_IOAM_H
#define CLT_IOAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define IOAM_OPT_TYPE 0x31          /**< hop-by-hop option type 49 */
#define IOAM_TYPE_PREALLOC_TRACE 0  /**< IOAM-Option-Type: pre-allocated trace */
#define IOAM_TRACE_HDR_LEN 8        /**< namespace, nodelen/flags/remlen, type */
#define IOAM_TRACE_DATA_MAX 244     /**< Linux limit on the node array, octets */
#define IOAM_OPT_LEN_MAX 255        /**< option data length is one octet */
#define IOAM_MAX_NODES 61           /**< 244 / 4: the most nodes a trace can hold */

/* Trace-type bits, bit 0 being the most significant of the 24. */
#define IOAM_BIT(n) (1u << (23 - (n)))
#define IOAM_TT_HOP_NODE IOAM_BIT(0)
#define IOAM_TT_IF_SHORT IOAM_BIT(1)
#define IOAM_TT_TS_SEC IOAM_BIT(2)
#define IOAM_TT_TS_FRAC IOAM_BIT(3)
#define IOAM_TT_TRANSIT IOAM_BIT(4)
#define IOAM_TT_NSDATA_SHORT IOAM_BIT(5)
#define IOAM_TT_QUEUE IOAM_BIT(6)
#define IOAM_TT_CSUM IOAM_BIT(7)
#define IOAM_TT_HOP_NODE_WIDE IOAM_BIT(8)
#define IOAM_TT_IF_WIDE IOAM_BIT(9)
#define IOAM_TT_NSDATA_WIDE IOAM_BIT(10)
#define IOAM_TT_BUFFER IOAM_BIT(11)
#define IOAM_TT_UNDEFINED 0x000ffcu /* bits 12-21: Linux fills 0xffffffff each */
#define IOAM_TT_OPAQUE IOAM_BIT(22)
#define IOAM_TT_RESERVED IOAM_BIT(23)

/* Trace flags (4 bits; bit 0 the most significant). */
#define IOAM_FLAG_OVERFLOW 0x8 /**< RFC 9197 */
#define IOAM_FLAG_LOOPBACK 0x4 /**< RFC 9322 */
#define IOAM_FLAG_ACTIVE 0x2   /**< RFC 9322 */

/* CLT trailer v1: trace-id(16) span-id(8) magic "CLT\x01"(4). */
#define CLT_TRAILER_LEN 28
/* CLT trailer v2: trace-id(16) span-id(8) flags(1) reserved(3) egress time
 * seconds(4) nanoseconds(4), big-endian, CLOCK_REALTIME; magic "CLT\x02"(4). */
#define CLT_TRAILER_V2_LEN 40
#define CLT_TRAILER_F_RESPONSE 0x01    /**< the packet belongs to a response */
#define CLT_TRAILER_F_EGRESS_TIME 0x02 /**< the egress time is present */
extern const uint8_t clt_trailer_magic_v2[4];
#define CLT_PATCHED_IDS_LEN 24 /* patched kernel: trace-id(16) span-id(8) after the header */
extern const uint8_t clt_trailer_magic[4];

/** Where the CLT IDs are found in a trace. */
enum ioam_layout {
	IOAM_LAYOUT_AUTO = 0, /**< trailer if the magic ends the data, else see ioam_decode_option */
	IOAM_LAYOUT_TRAILER,  /**< CLT trailer v1 or v2 after the node array (stock kernels) */
	IOAM_LAYOUT_PATCHED,  /**< 24 octets of IDs before the node array (CLT kernel patch) */
	IOAM_LAYOUT_NONE,     /**< plain IOAM: no IDs */
};

/** Node data of one IOAM node; a field is meaningful when its bit is in @fields. */
struct ioam_node {
	uint32_t fields;          /**< trace-type bits present (IOAM_TT_*) */
	uint8_t hop_limit;        /**< from the short or wide node-id field */
	uint32_t node_id;         /**< 24 bits (bit 0) */
	uint64_t node_id_wide;    /**< 56 bits (bit 8) */
	uint16_t ingress_if;      /**< bit 1 */
	uint16_t egress_if;
	uint32_t ingress_if_wide; /**< bit 9 */
	uint32_t egress_if_wide;
	uint32_t ts_sec;          /**< bit 2 */
	uint32_t ts_frac;         /**< bit 3; units depend on the node (Linux: microseconds) */
	uint32_t transit_delay;   /**< bit 4, nanoseconds; top bit = overflow */
	uint32_t ns_data;         /**< bit 5 */
	uint32_t queue_depth;     /**< bit 6; 0xffffffff = unavailable */
	uint32_t checksum;        /**< bit 7 */
	uint64_t ns_data_wide;    /**< bit 10 */
	uint32_t buffer_occupancy; /**< bit 11 */
	uint8_t opaque_len;       /**< bit 22: opaque data length in octets (4n) */
	uint32_t opaque_schema;   /**< 24-bit schema id */
	const uint8_t *opaque;    /**< points into the decoded input */
};

/** A decoded trace. Nodes are in **path order** (first node on the path first). */
struct ioam_trace {
	uint16_t namespace_id;
	uint8_t node_len;   /**< in 4-octet units, excluding opaque data */
	uint8_t flags;      /**< IOAM_FLAG_* */
	uint8_t remaining;  /**< RemainingLen (0 when decoded from an event) */
	uint32_t trace_type; /**< 24 bits */
	bool has_ids;
	enum ioam_layout layout; /**< the layout decoded (never AUTO) */
	uint8_t trace_id[16];
	uint8_t span_id[8];
	uint8_t trailer_version; /**< 1 or 2 with the trailer layout, else 0 */
	uint8_t trailer_flags;   /**< v2: CLT_TRAILER_F_* */
	uint64_t egress_ns;      /**< v2 with CLT_TRAILER_F_EGRESS_TIME: the source's egress
				      time, CLOCK_REALTIME nanoseconds; else 0 */
	unsigned int n_nodes;
	struct ioam_node nodes[IOAM_MAX_NODES];
};

/** Octets of fixed node data for @trace_type (excluding any opaque snapshot). */
unsigned int ioam_node_data_len(uint32_t trace_type);

/** Options for building a source-inserted hop-by-hop header. */
struct ioam_hbh_config {
	uint16_t namespace_id;
	uint32_t trace_type; /**< 24 bits; must not contain opaque or reserved bits */
	unsigned int hops;   /**< pre-allocated node slots */
	unsigned int trailer_version; /**< 0 or 1: CLT trailer v1; 2: v2 (room for an egress time) */
};

/**
 * Validate @cfg against RFC 9197 and the kernel's limits.
 * @return 0, or -EINVAL with *why set to a static explanation.
 */
int ioam_hbh_check(const struct ioam_hbh_config *cfg, const char **why);

/** Size in octets of the hop-by-hop header ioam_hbh_build() produces. */
size_t ioam_hbh_size(const struct ioam_hbh_config *cfg);

/**
 * Build a complete IPv6 hop-by-hop extension header (for IPV6_HOPOPTS)
 * holding a pre-allocated IOAM trace with a CLT trailer v1 carrying the
 * IDs. The next-header octet is left 0 (the kernel sets it).
 * @return the length written, or -EINVAL / -ENOSPC.
 */
int ioam_hbh_build(uint8_t *buf, size_t cap, const struct ioam_hbh_config *cfg,
		   const uint8_t trace_id[16], const uint8_t span_id[8]);

/**
 * Decode a kernel IOAM6_EVENT_TRACE: @data is TRACE_DATA (the filled node
 * data, most recent node first, followed by whatever the sender placed
 * after the array). @node_len in 4-octet units, @trace_type 24 bits.
 * IOAM_LAYOUT_AUTO: the trailer if the data ends with its magic, else
 * plain IOAM (the CLT-patched kernel emits no events; its layout is
 * decoded only when asked for).
 * @return 0 or -EINVAL (malformed) / -ENOSPC (too many nodes).
 */
int ioam_decode_event(struct ioam_trace *out, uint16_t namespace_id, uint8_t node_len,
		      uint32_t trace_type, const uint8_t *data, size_t len,
		      enum ioam_layout layout);

/**
 * Decode an IOAM option's data as seen on the wire (the octets after the
 * option type and length: reserved, IOAM-Option-Type, trace header,
 * [patched IDs], node array, [trailer]).
 * IOAM_LAYOUT_AUTO: the trailer if the data ends with its magic; else the
 * patched layout or plain IOAM, whichever alone splits the filled part
 * into whole nodes with a zero unfilled part (an encapsulator leaves it
 * zero); when both do (the node size divides 24, and the array is full or
 * the IDs are zero) the trace is ambiguous: -ENOTUNIQ, nothing decoded.
 * @return 0, -EINVAL (malformed), -ENOENT (not a pre-allocated trace),
 * -ENOTUNIQ (auto could not tell the layout: pass it).
 */
int ioam_decode_option(struct ioam_trace *out, const uint8_t *opt, size_t len,
		       enum ioam_layout layout);

/**
 * Walk an IPv6 hop-by-hop header (@hbh points at its next-header octet,
 * @len is what is available) and decode the first IOAM pre-allocated
 * trace option in it.
 * @return 0, -ENOENT (no IOAM trace), -EINVAL (malformed), -ENOTUNIQ
 * (ambiguous layout, see ioam_decode_option).
 */
int ioam_decode_hbh(struct ioam_trace *out, const uint8_t *hbh, size_t len,
		    enum ioam_layout layout);

/**
 * Convert a node's timestamp to nanoseconds since the epoch.
 * @frac_unit_ns: nanoseconds per fraction unit (Linux: 1000 = microseconds;
 * 0 means the RFC 9197 PTP/NTP binary fraction 2^-32 s).
 * @return 0 if the node has no seconds field.
 */
uint64_t ioam_node_time_ns(const struct ioam_node *node, uint32_t frac_unit_ns);

/** Lowercase hex of @n octets into @out (2n+1 octets, NUL-terminated). */
void clt_hex(char *out, const uint8_t *in, size_t n);

/** The value of one hex digit (either case), or -1. */
int clt_hex_digit(int c);

/** Decode 2n hex digits (either case) of @in into @n octets. @return 0 or -EINVAL. */
int clt_unhex(uint8_t *out, const char *in, size_t n);

#ifdef __cplusplus
}
#endif
#endif /* CLT_IOAM_H */
