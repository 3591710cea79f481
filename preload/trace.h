/*
 * trace.h - what a request belongs to: new IDs, the sampler
 * (OTEL_TRACES_SAMPLER), and the one piece of per-thread state in the
 * shim, the thread's active SERVER span (trace.c says where that rule
 * stops).
 */
#ifndef CLT_SHIM_TRACE_H
#define CLT_SHIM_TRACE_H

#include <stdbool.h>
#include <stdint.h>

/* Random, non-zero IDs. */
void trace_new_trace_id(uint8_t out[16]);
void trace_new_span_id(uint8_t out[8]);

/* The sampler's decision for a request: @has_parent with its @parent_sampled flag, or a root. */
bool trace_sample(const uint8_t trace_id[16], bool has_parent, bool parent_sampled);

/* Wall clock, Unix nanoseconds. */
uint64_t trace_now_ns(void);

/* SERVER spans begun and not ended in the process (any thread). */
void trace_server_begin(const uint8_t trace_id[16], const uint8_t span_id[8], bool sampled,
			uint64_t token);
void trace_server_end(uint64_t token, uintptr_t began_on);

/* fork() child: no SERVER span of the parent's is in flight here. */
void trace_fork_child(void);

/* This thread, as trace_server_end() wants it. */
uintptr_t trace_thread_key(void);

/*
 * The SERVER span an outgoing request on this thread belongs to: true and
 * the IDs and its sampling decision, or false with *any_in_flight telling
 * whether the process has SERVER spans in flight at all (then the request
 * belongs to nothing).
 */
bool trace_thread_server(uint8_t trace_id[16], uint8_t span_id[8], bool *sampled,
			 bool *any_in_flight);

#endif /* CLT_SHIM_TRACE_H */
