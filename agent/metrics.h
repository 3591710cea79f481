/*
 * metrics.h - the agent's counters as a Prometheus endpoint (--metrics
 * ADDR:PORT): GET /metrics in the text exposition format, served by
 * libmicrohttpd on its own thread.
 *
 * The event loop publishes a snapshot (every tick and with each stats
 * line) under a sequence counter; a scrape copies the latest one and never
 * takes a lock the event path waits on.
 */
#ifndef CLT_AGENT_METRICS_H
#define CLT_AGENT_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "stats.h"
#include "tagserver.h"

/** What a scrape shows: only uint64_t fields (published word by word). */
struct metrics_values {
	struct stats_line s;
	uint64_t queue_batches;	 /**< batches waiting for the exporter now */
	uint64_t queue_capacity; /**< --queue-size */
	uint64_t tag_on;	 /**< 1: the tag server runs, @tag is meaningful */
	struct tagserver_stats tag;
	uint64_t bpf_on;	 /**< 1: --bpf, @bpf is meaningful */
	uint64_t bpf[3];	 /**< the program's counters: tagged, skipped, failed */
};

#define METRICS_WORDS (sizeof(struct metrics_values) / sizeof(uint64_t))

/*
 * The published snapshot: a seqlock. The sequence is odd while the one
 * writer (the event loop) copies; a reader retries until it read the same
 * even value before and after its copy, so it never blocks the writer and
 * never sees half of one snapshot and half of the next.
 */
struct metrics_snapshot {
	uint32_t seq;
	uint64_t words[METRICS_WORDS];
};

void metrics_snapshot_publish(struct metrics_snapshot *snap, const struct metrics_values *v);
void metrics_snapshot_read(struct metrics_snapshot *snap, struct metrics_values *v);

/** Limits: a scrape is one small GET; anything bigger is refused by the server. */
#define METRICS_MAX_CONNS	 16
#define METRICS_MAX_CONNS_PER_IP 8
#define METRICS_REQUEST_MAX	 8192 /**< octets of request line and headers */
#define METRICS_TIMEOUT_S	 10

/** Parse "[::1]:9464", "127.0.0.1:9464" (numeric only). @return 0 or -EINVAL. */
int metrics_parse_addr(const char *spec, struct sockaddr_storage *ss, socklen_t *len);

/** The exposition text for @v into @buf. @return its length (truncated to @cap - 1). */
size_t metrics_format(char *buf, size_t cap, const struct metrics_values *v);

struct metrics;

/** Bind @spec and start serving. @return 0 or a negative errno (message on stderr). */
int metrics_start(struct metrics **out, const char *spec, int verbose);

/** Publish a snapshot (one writer: the event loop). Never blocks. NULL @m is accepted. */
void metrics_publish(struct metrics *m, const struct metrics_values *v);

/** Stop the server thread and free. NULL is accepted. */
void metrics_stop(struct metrics *m);

#endif /* CLT_AGENT_METRICS_H */
