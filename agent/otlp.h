/*
 * otlp.h - OTLP/JSON encoding of network spans (OpenTelemetry protocol,
 * JSON mapping of ExportTraceServiceRequest): lowercase hex ids, 64-bit
 * integers as decimal strings, enums as integers.
 *
 * The encoder accumulates spans into one batch; otlp_finish() returns the
 * serialised request and starts a new batch.
 */
#ifndef CLT_AGENT_OTLP_H
#define CLT_AGENT_OTLP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agg.h"
#include "clt/ioam.h"

#define OTLP_SCOPE_NAME "clt"
#define OTLP_SPAN_KIND_INTERNAL 1 /* opentelemetry.proto.trace.v1.Span.SpanKind */
#define OTLP_STATUS_UNSET 0
#define OTLP_STATUS_ERROR 2
/* Span.flags (fixed32, OTLP >= 1.1): W3C trace flags in bits 0-7, then
 * whether the parent's remoteness is known (bit 8) and it is remote (bit 9). */
#define OTLP_FLAG_SAMPLED 0x01u
#define OTLP_FLAG_HAS_IS_REMOTE 0x100u
#define OTLP_FLAG_IS_REMOTE 0x200u

struct otlp_kv {
	char *key;
	char *value;
};

struct otlp_node_name {
	uint64_t id; /**< short or wide node id */
	char *name;
};

struct otlp_config {
	const char *service_name;           /**< resource service.name */
	const struct otlp_kv *resource;     /**< extra resource attributes (strings) */
	size_t n_resource;
	const struct otlp_node_name *names; /**< node id -> readable name */
	size_t n_names;
	uint32_t frac_unit_ns;              /**< for per-packet spans (see ioam_node_time_ns) */
	const char *version;                /**< scope version */
	/* Resource attributes of the agent itself (OpenTelemetry semantic
	 * conventions), each unless set in @resource; NULL / 0 = omitted. */
	const char *service_version;        /**< service.version */
	const char *host_name;              /**< host.name */
	int64_t pid;                        /**< process.pid */
	bool has_uid;                       /**< process.real_user.id (a shim's sender) */
	uint32_t uid;
};

struct otlp_encoder;

struct otlp_encoder *otlp_new(const struct otlp_config *cfg);
void otlp_free(struct otlp_encoder *enc);

/** Add a request's network span and one child span per hop. @return spans added or -ENOMEM. */
int otlp_add_request(struct otlp_encoder *enc, const struct agg_request *req);

/**
 * Add one span for one trace (the per-packet model, and untagged traces):
 * a child of the trace's span-id when it has CLT IDs, else a root span in
 * a fresh trace. @now_ns (wall clock) times it when the nodes did not.
 * @return 1 or -ENOMEM.
 */
int otlp_add_trace(struct otlp_encoder *enc, const struct ioam_trace *t, uint64_t now_ns);

struct shim_span;

/** Add one span a shim sent (validated by spans_in.c). @return 1 or -ENOMEM. */
int otlp_add_shim_span(struct otlp_encoder *enc, const struct shim_span *sp);

/** Spans in the current batch. */
size_t otlp_pending(const struct otlp_encoder *enc);

/**
 * Serialise the batch (NULL when empty or out of memory) and start a new
 * one. The caller frees the string; *len and *spans describe it.
 */
char *otlp_finish(struct otlp_encoder *enc, size_t *len, size_t *spans);

/** The readable label of a node: its configured name or "node ID". */
const char *otlp_node_label(const struct otlp_encoder *enc, uint64_t id, char *buf, size_t cap);

/** Whether @id (@n octets) is valid for OpenTelemetry: not all zero. */
bool otlp_id_valid(const uint8_t *id, size_t n);

/** A random, non-zero 64-bit span id (getrandom, buffered). */
void otlp_random_id(uint8_t *out, size_t n);

#endif /* CLT_AGENT_OTLP_H */
