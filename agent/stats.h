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
	uint64_t held;	    /**< requests held now */
	uint64_t evicted;   /**< requests emitted early because the table was full */
	uint64_t late;	    /**< traces of an already emitted request (not exported again) */
	uint64_t spans;	    /**< spans exported (accepted by the endpoint or written) */
	uint64_t retries;   /**< export attempts retried */
	uint64_t dropped;   /**< spans dropped: exporter queue full */
	uint64_t failed;    /**< spans refused by the endpoint or given up */
	uint64_t loss;      /**< netlink overruns (ENOBUFS) or capture drops */
	uint64_t ambiguous; /**< traces --layout auto could not attribute (not exported) */
};

/*
 * Every field of struct stats_line, in stats-line order: the stats line
 * and the Prometheus metrics (metrics.c) are both made from this table,
 * so a counter added to the struct must be added here (stats.c checks
 * the sizes at compile time) and then shows up in both.
 */
struct stats_field {
	const char *name; /**< key in the stats line; metric clt_agent_<name>[_total] */
	size_t offset;	  /**< of the uint64_t in struct stats_line */
	int gauge;	  /**< a level (held now), not a counter */
	const char *help;
};

#define STATS_N_FIELDS 14
extern const struct stats_field stats_fields[STATS_N_FIELDS];

static inline uint64_t stats_value(const struct stats_line *s, const struct stats_field *f)
{
	return *(const uint64_t *)((const char *)s + f->offset);
}

/** Format "stats events=... loss=..." into @buf. @return the length (truncated to @cap - 1). */
size_t stats_format(char *buf, size_t cap, const struct stats_line *s);

#endif /* CLT_AGENT_STATS_H */
