/*
 * agg.h - aggregation of IOAM traces into requests.
 *
 * Traces carrying the same (trace-id, span-id) and direction (the CLT
 * trailer's response flag) belong to one request or one response: a proxy
 * host that sees both never merges them. The
 * aggregator keeps one compact record per request (per-hop aggregates in a
 * small fixed array, never the packets themselves), and hands a finished
 * request to a callback after it has been idle for a while, once it
 * reaches a maximum age, when it is evicted because the table is full, or
 * on an explicit flush. Pure: time is passed in, nothing is allocated
 * after agg_new(); the tables are reserved there but only the records in
 * use are ever touched, so memory follows the load, not the bound.
 *
 * A request's IDs stay on a kept-alive socket after its answer, so packets
 * sent later (the FIN and ACKs of the close, the next request's first bytes
 * before the IDs change) carry a finished request's IDs. The aggregator
 * remembers the requests it emitted for a while (bounded, oldest
 * forgotten first) and counts such traces as "late" instead of starting a
 * second request for them.
 */
#ifndef CLT_AGENT_AGG_H
#define CLT_AGENT_AGG_H

#include <stdbool.h>
#include <stdint.h>

#include "clt/ioam.h"

/* Hops kept per request; later hops are counted in hops_truncated. Eight
 * matches libclt's default pre-allocation and keeps a request under 1 KiB. */
#define AGG_MAX_HOPS 8

/** What one IOAM node (one position on the path) reported over a request's packets. */
struct agg_hop {
	uint64_t node_id_wide;
	uint64_t ns_data_wide;
	uint64_t start_ns;     /**< earliest time at the previous node (hop 0: at this node) */
	uint64_t end_ns;       /**< latest time at this node; 0 = no timestamps */
	uint64_t delay_sum_ns; /**< one-way delay from the previous node, over delay_n packets */
	uint64_t delay_min_ns;
	uint64_t delay_max_ns;
	uint32_t node_id;
	uint32_t fields;       /**< union of the trace-type bits seen */
	uint32_t ingress_if;   /**< short or wide, whichever the trace type has */
	uint32_t egress_if;
	uint32_t ns_data;
	uint32_t queue_max;    /**< 0xffffffff values ("unavailable") are skipped */
	uint32_t buffer_max;
	uint32_t transit_max;
	uint32_t opaque_schema;
	uint32_t opaque_head;  /**< first four octets of the opaque snapshot */
	uint32_t packets;
	uint32_t delay_n;
	uint8_t hop_limit;
	uint8_t opaque_len;
	bool queue_seen;
	bool node_changed;     /**< a packet showed another node at this position */
};

/** One request: everything the encoder needs to emit its spans. */
struct agg_request {
	uint8_t trace_id[16];
	uint8_t span_id[8];
	bool response;          /**< the trailer's response direction flag */
	uint64_t first_seen_ns; /**< clock of agg_add() */
	uint64_t last_seen_ns;
	uint32_t trace_type;
	uint32_t packets;
	uint32_t hops_truncated; /**< packets that had more than AGG_MAX_HOPS nodes */
	uint16_t namespace_id;
	uint8_t n_hops;
	uint8_t flags_seen;      /**< union of the IOAM trace flags */
	/* Table links (indices; UINT32_MAX = none). */
	uint32_t hnext, lru_prev, lru_next, age_prev, age_next;
	struct agg_hop hops[AGG_MAX_HOPS];
};

enum agg_reason { AGG_IDLE, AGG_MAX_AGE, AGG_EVICTED, AGG_FLUSH };

struct agg_config {
	uint32_t max_requests;  /**< table capacity (>= 1) */
	uint64_t idle_ns;       /**< flush after this long without a packet */
	uint64_t max_age_ns;    /**< flush at this age even if still active */
	uint32_t frac_unit_ns;  /**< timestamp fraction unit (see ioam_node_time_ns) */
	uint64_t late_window_ns; /**< traces of an emitted request this long after its
				      last packet are late; 0 = off (a new request) */
	uint32_t late_max;      /**< emitted requests remembered at most (0 = off) */
};

struct agg_stats {
	uint64_t traces;    /**< tagged traces aggregated */
	uint64_t requests;  /**< requests created */
	uint64_t emitted;   /**< requests handed to the callback */
	uint64_t evicted;   /**< of which emitted early because the table was full */
	uint64_t held;      /**< requests currently held */
	uint64_t late;      /**< traces of an already emitted request, not aggregated */
};

typedef void (*agg_emit_fn)(void *arg, const struct agg_request *req, enum agg_reason why);

struct agg;

/** @return NULL on allocation failure or a zero capacity. */
struct agg *agg_new(const struct agg_config *cfg, agg_emit_fn emit, void *arg);
void agg_free(struct agg *agg);

/**
 * Whether a trace has usable CLT IDs: present and, as OpenTelemetry
 * requires, neither the trace-id nor the span-id all zero.
 */
bool agg_trace_tagged(const struct ioam_trace *t);

/**
 * Add one decoded trace seen at @now_ns.
 * @return 0, -ENOENT when the trace has no usable CLT IDs, or -EALREADY when it
 * belongs to a request emitted less than late_window_ns ago (counted as
 * late); in both cases it is not aggregated.
 */
int agg_add(struct agg *agg, const struct ioam_trace *trace, uint64_t now_ns);

/** Emit the requests idle or too old at @now_ns. @return how many. */
unsigned int agg_expire(struct agg *agg, uint64_t now_ns);

/** Emit every held request. @return how many. */
unsigned int agg_flush(struct agg *agg);

void agg_get_stats(const struct agg *agg, struct agg_stats *out);

/**
 * Fill one hop aggregate from a node and, when known, the previous node's
 * time (0 = unknown). Shared with the per-packet encoder.
 */
void agg_hop_add(struct agg_hop *hop, const struct ioam_node *node, uint64_t t_ns,
		 uint64_t prev_ns, bool first);

#endif /* CLT_AGENT_AGG_H */
