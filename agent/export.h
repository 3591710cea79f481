/*
 * export.h - the exporter: a thread that posts encoded OTLP/JSON batches
 * over HTTP (libcurl, kept alive) and/or writes them as OTLP JSON lines.
 *
 * The queue between the pipeline and the thread is bounded: a batch that
 * does not fit is dropped and counted, never blocks the pipeline. Only
 * 429, 502, 503, 504 and network errors are retried, with exponential
 * backoff and jitter, honouring Retry-After, for a bounded time.
 */
#ifndef CLT_AGENT_EXPORT_H
#define CLT_AGENT_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "otlp.h"

struct export_config {
	const char *endpoint;  /**< NULL: no HTTP */
	const char *output;    /**< NULL, "-" (stdout) or a file (appended) */
	const struct otlp_kv *headers;
	size_t n_headers;
	const char *cacert;
	bool gzip;
	uint32_t timeout_ms;
	uint32_t queue_size;   /**< batches */
	uint32_t retry_max_ms;
	uint32_t backoff_initial_ms; /**< 0: 500 */
	uint32_t backoff_max_ms;     /**< 0: 10000 */
	int verbose;
};

struct export_stats {
	uint64_t batches_sent;
	uint64_t spans_exported;
	uint64_t spans_dropped;   /**< queue full */
	uint64_t spans_failed;    /**< refused (not retryable) or given up */
	uint64_t retries;
	uint64_t http_errors;     /**< answers other than 2xx */
	uint64_t net_errors;
	uint64_t queued;          /**< batches waiting now (export_get_stats only) */
};

enum export_verdict { EXPORT_OK, EXPORT_RETRY, EXPORT_FAIL };

/**
 * Classify one attempt: @curl_code is a CURLcode (0 = a response came),
 * @http_status the response code. 2xx is OK; 429/502/503/504 and network
 * errors retry; everything else (400, 401, 404, 413, 500, ...) fails.
 */
enum export_verdict export_classify(int curl_code, long http_status);

/**
 * Parse a Retry-After header value (delta-seconds or an HTTP-date,
 * relative to @now). @return milliseconds to wait, or -1 if unparsable.
 * Values are capped at one hour.
 */
int64_t export_parse_retry_after(const char *value, size_t len, time_t now);

struct exporter;

/** Start the thread. @return 0 or a negative errno (message on stderr). */
int export_start(struct exporter **out, const struct export_config *cfg);

/**
 * Hand over a batch (malloc'd; ownership passes, also on failure).
 * @return 0, or -ENOSPC when the queue is full (the batch is dropped and counted).
 */
int export_submit(struct exporter *ex, char *body, size_t len, size_t spans);

/**
 * Finish what is queued until @deadline_ms (CLOCK_MONOTONIC milliseconds)
 * then stop the thread; batches still queued at the deadline are counted
 * as failed. Stores the final counters in @final (may be NULL), frees @ex.
 */
void export_stop(struct exporter *ex, uint64_t deadline_ms, struct export_stats *final);

void export_get_stats(struct exporter *ex, struct export_stats *out);

/** CLOCK_MONOTONIC in milliseconds. */
uint64_t export_now_ms(void);

#endif /* CLT_AGENT_EXPORT_H */
