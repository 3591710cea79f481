/*
 * stats.h - the agent's counters and its one-line summary, printed at an
 * interval and at exit.
 */
#ifndef CLT_AGENT_STATS_H
#define CLT_AGENT_STATS_H

#include <stddef.h>
#include <stdint.h>

struct stats_line {
	uint64_t events;    /**< kernel events or captured IPv6 hop-by-hop packets */
	uint64_t traces;    /**< IOAM traces decoded */
	uint64_t malformed; /**< events/packets rejected by validation or decoding */
	uint64_t untagged;  /**< traces without CLT IDs */
	uint64_t requests;  /**< requests aggregated */
	uint64_t held;      /**< requests held now */
	uint64_t evicted;   /**< requests emitted early because the table was full */
	uint64_t late;      /**< traces of an already emitted request (not exported again) */
	uint64_t spans;     /**< spans exported (accepted by the endpoint or written) */
	uint64_t retries;   /**< export attempts retried */
	uint64_t dropped;   /**< spans dropped: exporter queue full */
	uint64_t failed;    /**< spans refused by the endpoint or given up */
	uint64_t loss;      /**< netlink overruns (ENOBUFS) or capture drops */
	uint64_t ambiguous; /**< traces --layout auto could not attribute (not exported) */
};

/** Format "stats events=... loss=..." into @buf. @return the length (truncated to @cap - 1). */
size_t stats_format(char *buf, size_t cap, const struct stats_line *s);

#endif /* CLT_AGENT_STATS_H */
