/*
 * export.c - OTLP/HTTP JSON exporter thread (libcurl easy handle kept
 * alive across requests) and OTLP JSON lines writer.
 *
 * Retry rules follow the OTLP/HTTP specification and fluent-bit's
 * out_opentelemetry: only 429, 502, 503, 504 and network errors are
 * retryable; Retry-After is honoured; everything else is final.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <zlib.h>

#include "agent_config.h"
#include "export.h"

struct batch {
	char *body;
	size_t len;
	size_t spans;
};

struct exporter {
	struct export_config cfg;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct batch *q;
	uint32_t head, count;
	bool stopping;
	uint64_t deadline_ms;
	struct export_stats st;
	CURL *curl;
	struct curl_slist *hdrs;
	FILE *out;
	bool out_close;
	char retry_after[64];
	size_t ra_len;
	unsigned int seed;
};

uint64_t export_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

enum export_verdict export_classify(int curl_code, long http_status)
{
	if (curl_code != CURLE_OK) {
		switch (curl_code) {
		case CURLE_COULDNT_RESOLVE_HOST:
		case CURLE_COULDNT_RESOLVE_PROXY:
		case CURLE_COULDNT_CONNECT:
		case CURLE_OPERATION_TIMEDOUT:
		case CURLE_SEND_ERROR:
		case CURLE_RECV_ERROR:
		case CURLE_GOT_NOTHING:
		case CURLE_PARTIAL_FILE:
		case CURLE_SSL_CONNECT_ERROR:
		case CURLE_HTTP2:
		case CURLE_HTTP2_STREAM:
			return EXPORT_RETRY;
		default:
			/* Bad URL, TLS verification, out of memory: retrying cannot help. */
			return EXPORT_FAIL;
		}
	}
	if (http_status >= 200 && http_status < 300)
		return EXPORT_OK;
	switch (http_status) {
	case 429:
	case 502:
	case 503:
	case 504:
		return EXPORT_RETRY;
	default:
		return EXPORT_FAIL;
	}
}

int64_t export_parse_retry_after(const char *value, size_t len, time_t now)
{
	const int64_t cap = 3600 * 1000;
	char buf[64];
	const char *b = value, *e = value + len;
	int64_t v = 0;
	time_t t;

	while (b < e && isspace((unsigned char)*b))
		b++;
	while (e > b && isspace((unsigned char)e[-1]))
		e--;
	if (b == e || (size_t)(e - b) >= sizeof(buf))
		return -1;
	if (isdigit((unsigned char)*b)) {
		for (const char *p = b; p < e; p++) {
			if (!isdigit((unsigned char)*p))
				return -1;
			v = v * 10 + (*p - '0');
			if (v * 1000 > cap)
				return cap;
		}
		return v * 1000;
	}
	memcpy(buf, b, (size_t)(e - b));
	buf[e - b] = '\0';
	t = curl_getdate(buf, NULL);
	if (t == (time_t)-1)
		return -1;
	if (t <= now)
		return 0;
	v = (int64_t)(t - now) * 1000;
	return v > cap ? cap : v;
}

static size_t discard_body(char *ptr, size_t size, size_t n, void *arg)
{
	return size * n;
}

/* Keep the Retry-After value of the latest answer (bounded copy). */
static size_t on_header(char *line, size_t size, size_t n, void *arg)
{
	struct exporter *ex = arg;
	size_t len = size * n;
	static const char name[] = "retry-after:";

	if (len > sizeof(name) - 1 && strncasecmp(line, name, sizeof(name) - 1) == 0) {
		size_t vlen = len - (sizeof(name) - 1);

		if (vlen >= sizeof(ex->retry_after))
			vlen = sizeof(ex->retry_after) - 1;
		memcpy(ex->retry_after, line + sizeof(name) - 1, vlen);
		ex->ra_len = vlen;
	}
	return len;
}

static int gzip_body(const char *in, size_t len, char **out, size_t *out_len)
{
	z_stream zs;
	size_t cap = compressBound((uLong)len) + 32;
	char *buf = malloc(cap);
	int rc;

	if (!buf)
		return -ENOMEM;
	memset(&zs, 0, sizeof(zs));
	/* windowBits 15 + 16: a gzip wrapper, as Content-Encoding: gzip wants. */
	if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
	    Z_OK) {
		free(buf);
		return -ENOMEM;
	}
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)len;
	zs.next_out = (Bytef *)buf;
	zs.avail_out = (uInt)cap;
	rc = deflate(&zs, Z_FINISH);
	deflateEnd(&zs);
	if (rc != Z_STREAM_END) {
		free(buf);
		return -EIO;
	}
	*out = buf;
	*out_len = zs.total_out;
	return 0;
}

static bool stopping_past(struct exporter *ex, uint64_t when_ms)
{
	bool past;

	pthread_mutex_lock(&ex->mu);
	past = ex->stopping && when_ms >= ex->deadline_ms;
	pthread_mutex_unlock(&ex->mu);
	return past;
}

/* Abort a transfer still running past the stop deadline (curl calls this
 * at least once a second), so that shutdown stays bounded. */
static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	return stopping_past(arg, export_now_ms()) ? 1 : 0;
}

static bool header_ok(const char *s)
{
	for (; *s; s++)
		if (*s == '\r' || *s == '\n')
			return false;
	return true;
}

static int curl_setup(struct exporter *ex)
{
	const struct export_config *c = &ex->cfg;
	char line[1024];

	ex->curl = curl_easy_init();
	if (!ex->curl)
		return -ENOMEM;
	ex->hdrs = curl_slist_append(ex->hdrs, "Content-Type: application/json");
	ex->hdrs = curl_slist_append(ex->hdrs, "Expect:");
	if (c->gzip)
		ex->hdrs = curl_slist_append(ex->hdrs, "Content-Encoding: gzip");
	for (size_t i = 0; i < c->n_headers; i++) {
		int n = snprintf(line, sizeof(line), "%s: %s", c->headers[i].key,
				 c->headers[i].value);

		if (n < 0 || (size_t)n >= sizeof(line) || !header_ok(line)) {
			fprintf(stderr, "cltagent: ignoring header '%.32s'\n", c->headers[i].key);
			continue;
		}
		ex->hdrs = curl_slist_append(ex->hdrs, line);
	}
	if (!ex->hdrs)
		return -ENOMEM;
	curl_easy_setopt(ex->curl, CURLOPT_URL, c->endpoint);
	curl_easy_setopt(ex->curl, CURLOPT_HTTPHEADER, ex->hdrs);
	curl_easy_setopt(ex->curl, CURLOPT_POST, 1L);
	curl_easy_setopt(ex->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(ex->curl, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(ex->curl, CURLOPT_USERAGENT, "cltagent/" CLT_AGENT_VERSION);
	curl_easy_setopt(ex->curl, CURLOPT_WRITEFUNCTION, discard_body);
	curl_easy_setopt(ex->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(ex->curl, CURLOPT_HEADERDATA, ex);
	curl_easy_setopt(ex->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)(c->timeout_ms < 5000 ? c->timeout_ms : 5000));
	curl_easy_setopt(ex->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(ex->curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(ex->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(ex->curl, CURLOPT_XFERINFODATA, ex);
	if (c->cacert)
		curl_easy_setopt(ex->curl, CURLOPT_CAINFO, c->cacert);
	return 0;
}

/* Sleep until @until_ms unless stop is asked with an earlier deadline. */
static void sleep_until(struct exporter *ex, uint64_t until_ms)
{
	pthread_mutex_lock(&ex->mu);
	for (;;) {
		uint64_t now = export_now_ms(), lim = until_ms;
		struct timespec ts;

		if (ex->stopping && ex->deadline_ms < lim)
			lim = ex->deadline_ms;
		if (now >= lim)
			break;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += (time_t)((lim - now) / 1000);
		ts.tv_nsec += (long)((lim - now) % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&ex->cv, &ex->mu, &ts);
	}
	pthread_mutex_unlock(&ex->mu);
}

static void stat_add(struct exporter *ex, uint64_t *field, uint64_t n)
{
	pthread_mutex_lock(&ex->mu);
	*field += n;
	pthread_mutex_unlock(&ex->mu);
}

/* One attempt. Returns the verdict and, for retries, the server's wish. */
static enum export_verdict post_once(struct exporter *ex, const char *body, size_t len,
				     int64_t *retry_after_ms)
{
	uint64_t timeout = ex->cfg.timeout_ms, now = export_now_ms();
	long status = 0;
	CURLcode cc;

	pthread_mutex_lock(&ex->mu);
	if (ex->stopping && ex->deadline_ms > now && ex->deadline_ms - now < timeout)
		timeout = ex->deadline_ms - now;
	pthread_mutex_unlock(&ex->mu);
	ex->ra_len = 0;
	curl_easy_setopt(ex->curl, CURLOPT_TIMEOUT_MS, (long)(timeout ? timeout : 1));
	curl_easy_setopt(ex->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(ex->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	cc = curl_easy_perform(ex->curl);
	if (cc == CURLE_OK)
		curl_easy_getinfo(ex->curl, CURLINFO_RESPONSE_CODE, &status);
	*retry_after_ms = ex->ra_len ? export_parse_retry_after(ex->retry_after, ex->ra_len,
								time(NULL))
				     : -1;
	if (cc != CURLE_OK) {
		stat_add(ex, &ex->st.net_errors, 1);
		if (ex->cfg.verbose)
			fprintf(stderr, "cltagent: export: %s\n", curl_easy_strerror(cc));
	} else if (status < 200 || status >= 300) {
		stat_add(ex, &ex->st.http_errors, 1);
		if (ex->cfg.verbose)
			fprintf(stderr, "cltagent: export: HTTP %ld\n", status);
	}
	return export_classify((int)cc, status);
}

static void post_batch(struct exporter *ex, const struct batch *b)
{
	uint64_t start = export_now_ms();
	uint64_t backoff = ex->cfg.backoff_initial_ms ? ex->cfg.backoff_initial_ms : 500;
	uint64_t backoff_max = ex->cfg.backoff_max_ms ? ex->cfg.backoff_max_ms : 10000;
	const char *body = b->body;
	size_t len = b->len;
	char *gz = NULL;

	if (ex->cfg.gzip) {
		if (gzip_body(b->body, b->len, &gz, &len) < 0) {
			stat_add(ex, &ex->st.spans_failed, b->spans);
			return;
		}
		body = gz;
	}
	for (;;) {
		int64_t ra;
		enum export_verdict v = post_once(ex, body, len, &ra);
		uint64_t wait, now;

		if (v == EXPORT_OK) {
			pthread_mutex_lock(&ex->mu);
			ex->st.batches_sent++;
			ex->st.spans_exported += b->spans;
			pthread_mutex_unlock(&ex->mu);
			break;
		}
		now = export_now_ms();
		if (ra >= 0) {
			wait = (uint64_t)ra;
		} else {
			/* Full jitter would starve the receiver's recovery; +-25% spreads enough. */
			wait = backoff - backoff / 4 + (uint64_t)rand_r(&ex->seed) % (backoff / 2 + 1);
			backoff = backoff * 2 > backoff_max ? backoff_max : backoff * 2;
		}
		if (v == EXPORT_FAIL || now + wait - start > ex->cfg.retry_max_ms ||
		    stopping_past(ex, now + wait)) {
			stat_add(ex, &ex->st.spans_failed, b->spans);
			if (ex->cfg.verbose)
				fprintf(stderr, "cltagent: export: gave up a batch of %zu spans\n",
					b->spans);
			break;
		}
		stat_add(ex, &ex->st.retries, 1);
		sleep_until(ex, now + wait);
	}
	free(gz);
}

static void handle_batch(struct exporter *ex, const struct batch *b)
{
	if (ex->out) {
		bool ok = fwrite(b->body, 1, b->len, ex->out) == b->len && fputc('\n', ex->out) != EOF &&
			  fflush(ex->out) == 0;

		if (!ex->cfg.endpoint)
			stat_add(ex, ok ? &ex->st.spans_exported : &ex->st.spans_failed, b->spans);
	}
	if (ex->cfg.endpoint)
		post_batch(ex, b);
}

static void *export_main(void *arg)
{
	struct exporter *ex = arg;

	pthread_mutex_lock(&ex->mu);
	for (;;) {
		struct batch b;

		while (ex->count == 0 && !ex->stopping)
			pthread_cond_wait(&ex->cv, &ex->mu);
		if (ex->count == 0)
			break;
		if (ex->stopping && export_now_ms() >= ex->deadline_ms) {
			/* Out of time: what is left is lost, and said so. */
			while (ex->count) {
				b = ex->q[ex->head];
				ex->head = (ex->head + 1) % ex->cfg.queue_size;
				ex->count--;
				ex->st.spans_failed += b.spans;
				free(b.body);
			}
			break;
		}
		b = ex->q[ex->head];
		ex->head = (ex->head + 1) % ex->cfg.queue_size;
		ex->count--;
		pthread_mutex_unlock(&ex->mu);
		handle_batch(ex, &b);
		free(b.body);
		pthread_mutex_lock(&ex->mu);
	}
	pthread_mutex_unlock(&ex->mu);
	return NULL;
}

static void export_free(struct exporter *ex)
{
	if (ex->curl)
		curl_easy_cleanup(ex->curl);
	curl_slist_free_all(ex->hdrs);
	if (ex->out && ex->out_close)
		fclose(ex->out);
	free(ex->q);
	pthread_mutex_destroy(&ex->mu);
	pthread_cond_destroy(&ex->cv);
	free(ex);
}

int export_start(struct exporter **out, const struct export_config *cfg)
{
	struct exporter *ex = calloc(1, sizeof(*ex));
	pthread_condattr_t ca;
	int rc;

	*out = NULL;
	if (!ex)
		return -ENOMEM;
	ex->cfg = *cfg;
	if (!ex->cfg.queue_size)
		ex->cfg.queue_size = 1;
	ex->seed = (unsigned int)time(NULL) ^ (unsigned int)getpid();
	pthread_mutex_init(&ex->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ex->cv, &ca);
	pthread_condattr_destroy(&ca);
	ex->q = calloc(ex->cfg.queue_size, sizeof(*ex->q));
	if (!ex->q) {
		rc = -ENOMEM;
		goto fail;
	}
	if (cfg->output) {
		if (strcmp(cfg->output, "-") == 0) {
			ex->out = stdout;
		} else {
			ex->out = fopen(cfg->output, "ae");
			if (!ex->out) {
				rc = -errno;
				fprintf(stderr, "cltagent: %s: %s\n", cfg->output, strerror(errno));
				goto fail;
			}
			ex->out_close = true;
		}
	}
	if (cfg->endpoint) {
		rc = curl_setup(ex);
		if (rc < 0)
			goto fail;
	}
	rc = -pthread_create(&ex->thread, NULL, export_main, ex);
	if (rc < 0)
		goto fail;
	*out = ex;
	return 0;
fail:
	export_free(ex);
	return rc;
}

int export_submit(struct exporter *ex, char *body, size_t len, size_t spans)
{
	int rc = 0;

	pthread_mutex_lock(&ex->mu);
	if (ex->count == ex->cfg.queue_size) {
		ex->st.spans_dropped += spans;
		free(body);
		rc = -ENOSPC;
	} else {
		struct batch *b = &ex->q[(ex->head + ex->count) % ex->cfg.queue_size];

		b->body = body;
		b->len = len;
		b->spans = spans;
		ex->count++;
		pthread_cond_broadcast(&ex->cv);
	}
	pthread_mutex_unlock(&ex->mu);
	return rc;
}

void export_stop(struct exporter *ex, uint64_t deadline_ms, struct export_stats *final)
{
	if (!ex)
		return;
	pthread_mutex_lock(&ex->mu);
	ex->stopping = true;
	ex->deadline_ms = deadline_ms;
	pthread_cond_broadcast(&ex->cv);
	pthread_mutex_unlock(&ex->mu);
	pthread_join(ex->thread, NULL);
	if (final)
		*final = ex->st;
	export_free(ex);
}

void export_get_stats(struct exporter *ex, struct export_stats *out)
{
	pthread_mutex_lock(&ex->mu);
	*out = ex->st;
	out->queued = ex->count;
	pthread_mutex_unlock(&ex->mu);
}
