/*
 * stats.c - the stats line: key=value pairs, stable names, so that logs
 * and tests can grep them; the same table names the Prometheus metrics.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>

#include "stats.h"

/* clang-format off */
#define FIELD(n, g, h) {#n, offsetof(struct stats_line, n), g, h}

const struct stats_field stats_fields[STATS_N_FIELDS] = {
	FIELD(events, 0, "Kernel IOAM events or captured IPv6 hop-by-hop packets read."),
	FIELD(traces, 0, "IOAM traces decoded."),
	FIELD(malformed, 0, "Events or packets rejected by validation or decoding."),
	FIELD(untagged, 0, "IOAM traces without CLT IDs."),
	FIELD(requests, 0, "Requests aggregated."),
	FIELD(held, 1, "Requests held now, waiting to be emitted."),
	FIELD(evicted, 0, "Requests emitted early because the table was full."),
	FIELD(late, 0, "Traces of an already emitted request (not exported again)."),
	FIELD(spans, 0, "Spans exported (accepted by the endpoint or written)."),
	FIELD(retries, 0, "Export attempts retried."),
	FIELD(dropped, 0, "Spans dropped because the exporter queue was full."),
	FIELD(failed, 0, "Spans refused by the endpoint or given up."),
	FIELD(loss, 0, "Netlink overruns (ENOBUFS) or capture drops."),
	FIELD(ambiguous, 0, "Traces --layout auto could not attribute (not exported)."),
};
/* clang-format on */

/* A field in the struct but not in the table (or the reverse) fails the build. */
_Static_assert(sizeof(struct stats_line) == STATS_N_FIELDS * sizeof(uint64_t),
	       "struct stats_line and stats_fields[] differ: add the new counter to both");

size_t stats_format(char *buf, size_t cap, const struct stats_line *s)
{
	size_t len = 0;

	if (cap == 0)
		return 0;
	buf[0] = '\0';
	len = (size_t)snprintf(buf, cap, "stats");
	for (size_t i = 0; i < STATS_N_FIELDS && len < cap; i++)
		len += (size_t)snprintf(buf + len, cap - len, " %s=%" PRIu64, stats_fields[i].name,
					stats_value(s, &stats_fields[i]));
	return len < cap ? len : cap - 1;
}
