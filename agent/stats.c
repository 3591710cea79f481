/*
 * stats.c - the stats line: key=value pairs, stable names, so that logs
 * and tests can grep them.
 */
#include <inttypes.h>
#include <stdio.h>

#include "stats.h"

size_t stats_format(char *buf, size_t cap, const struct stats_line *s)
{
	int n = snprintf(buf, cap,
			 "stats events=%" PRIu64 " traces=%" PRIu64 " malformed=%" PRIu64
			 " untagged=%" PRIu64 " requests=%" PRIu64 " held=%" PRIu64
			 " evicted=%" PRIu64 " late=%" PRIu64 " spans=%" PRIu64 " retries=%" PRIu64
			 " dropped=%" PRIu64 " failed=%" PRIu64 " loss=%" PRIu64 " ambiguous=%" PRIu64,
			 s->events, s->traces, s->malformed, s->untagged, s->requests, s->held,
			 s->evicted, s->late, s->spans, s->retries, s->dropped, s->failed, s->loss,
			 s->ambiguous);

	if (n < 0)
		return 0;
	return (size_t)n < cap ? (size_t)n : (cap ? cap - 1 : 0);
}
