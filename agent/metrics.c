/*
 * metrics.c - the Prometheus endpoint (see metrics.h).
 *
 * HTTP is libmicrohttpd's: a maintained server library that parses
 * requests, enforces the size and connection limits below and answers
 * malformed requests itself, rather than a parser of our own facing
 * whatever connects. Only GET (and HEAD) /metrics is served.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "metrics.h"

_Static_assert(sizeof(struct metrics_values) % sizeof(uint64_t) == 0,
	       "struct metrics_values must hold uint64_t fields only");

struct metrics {
	struct MHD_Daemon *daemon;
	int verbose;
	struct metrics_snapshot snap;
};

/* The tag server's counters, as its "tag ..." stats line names them. */
struct tag_field {
	const char *name;
	size_t offset;
	const char *help;
};

/* clang-format off */
#define TAG_FIELD(n, h) {#n, offsetof(struct tagserver_stats, n), h}
static const struct tag_field tag_fields[] = {
	TAG_FIELD(requests, "Tag requests received."),
	TAG_FIELD(tagged, "Sockets given the IDs."),
	TAG_FIELD(cleared, "Sockets cleared."),
	TAG_FIELD(rejected, "Requests rejected: bad message or descriptor."),
	TAG_FIELD(limited, "Requests refused by the rate limit."),
	TAG_FIELD(errors, "Requests whose setsockopt failed."),
	TAG_FIELD(accepted, "Tag socket connections accepted."),
	TAG_FIELD(refused, "Tag socket connections refused: peer not allowed."),
	TAG_FIELD(dropped, "Tag socket connections closed by the agent."),
	TAG_FIELD(span_batches, "Span batches received from traced programs."),
	TAG_FIELD(span_refused, "Span batches refused: bad header, size, descriptor or role."),
	TAG_FIELD(span_limited, "Span records over their connection's rate."),
};
/* clang-format on */
_Static_assert(sizeof(struct tagserver_stats) ==
		   sizeof(tag_fields) / sizeof(tag_fields[0]) * sizeof(uint64_t),
	       "struct tagserver_stats and tag_fields[] differ: add the new counter to both");

/* The bpf program's counters, in bpf_tagger_counters()'s order (its "bpf ..." stats line). */
static const struct {
	const char *name, *help;
} bpf_fields[] = {
	{"tagged", "Packets the bpf program gave the IOAM header."},
	{"skipped", "Packets sent untagged: extension headers, MTU, payload limit, no entry."},
	{"failed", "Packets sent untagged: a bpf helper failed."},
};
_Static_assert(sizeof(((struct metrics_values *)0)->bpf) ==
		   sizeof(bpf_fields) / sizeof(bpf_fields[0]) * sizeof(uint64_t),
	       "metrics_values.bpf and bpf_fields[] differ: add the new counter to both");

int metrics_parse_addr(const char *spec, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon, *port_s;
	unsigned long port;
	char *end;
	size_t hl;

	memset(ss, 0, sizeof(*ss));
	if (!spec)
		return -EINVAL;
	if (spec[0] == '[') {
		const char *rb = strchr(spec, ']');

		if (!rb || rb[1] != ':')
			return -EINVAL;
		hl = (size_t)(rb - spec - 1);
		if (hl == 0 || hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, spec + 1, hl);
		port_s = rb + 2;
	} else {
		colon = strrchr(spec, ':');
		if (!colon || colon == spec)
			return -EINVAL;
		hl = (size_t)(colon - spec);
		if (hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, spec, hl);
		port_s = colon + 1;
	}
	host[hl] = '\0';
	if (*port_s < '0' || *port_s > '9')
		return -EINVAL;
	errno = 0;
	port = strtoul(port_s, &end, 10);
	if (errno || *end || port == 0 || port > 65535)
		return -EINVAL;
	if (spec[0] == '[') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			return -EINVAL;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			return -EINVAL;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*len = sizeof(*s4);
	}
	return 0;
}

static size_t put(char *buf, size_t cap, size_t len, const char *name, const char *type,
		  const char *help, uint64_t v)
{
	if (len >= cap)
		return len;
	return len + (size_t)snprintf(buf + len, cap - len,
				      "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", name, help,
				      name, type, name, v);
}

size_t metrics_format(char *buf, size_t cap, const struct metrics_values *v)
{
	char name[96];
	size_t len = 0;

	if (cap == 0)
		return 0;
	buf[0] = '\0';
	for (size_t i = 0; i < STATS_N_FIELDS; i++) {
		const struct stats_field *f = &stats_fields[i];

		snprintf(name, sizeof(name), "clt_agent_%s%s", f->name, f->gauge ? "" : "_total");
		len = put(buf, cap, len, name, f->gauge ? "gauge" : "counter", f->help,
			  stats_value(&v->s, f));
	}
	len = put(buf, cap, len, "clt_agent_export_queue_batches", "gauge",
		  "Batches waiting for the exporter.", v->queue_batches);
	len = put(buf, cap, len, "clt_agent_export_queue_capacity", "gauge",
		  "Batches the exporter queue holds at most (--queue-size).", v->queue_capacity);
	if (v->tag_on) {
		for (size_t i = 0; i < sizeof(tag_fields) / sizeof(tag_fields[0]); i++) {
			const struct tag_field *f = &tag_fields[i];

			snprintf(name, sizeof(name), "clt_agent_tag_%s_total", f->name);
			len = put(buf, cap, len, name, "counter", f->help,
				  *(const uint64_t *)((const char *)&v->tag + f->offset));
		}
	}
	if (v->bpf_on) {
		for (size_t i = 0; i < sizeof(bpf_fields) / sizeof(bpf_fields[0]); i++) {
			snprintf(name, sizeof(name), "clt_agent_bpf_%s_total", bpf_fields[i].name);
			len = put(buf, cap, len, name, "counter", bpf_fields[i].help, v->bpf[i]);
		}
	}
	return len < cap ? len : cap - 1;
}

void metrics_snapshot_publish(struct metrics_snapshot *snap, const struct metrics_values *v)
{
	const uint64_t *src = (const uint64_t *)v;
	uint32_t seq = __atomic_load_n(&snap->seq, __ATOMIC_RELAXED);

	__atomic_store_n(&snap->seq, seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	for (size_t i = 0; i < METRICS_WORDS; i++)
		__atomic_store_n(&snap->words[i], src[i], __ATOMIC_RELAXED);
	__atomic_store_n(&snap->seq, seq + 2, __ATOMIC_RELEASE);
}

void metrics_snapshot_read(struct metrics_snapshot *snap, struct metrics_values *v)
{
	uint64_t *dst = (uint64_t *)v;

	for (;;) {
		uint32_t s1 = __atomic_load_n(&snap->seq, __ATOMIC_ACQUIRE), s2;

		if (s1 & 1) {
			sched_yield();
			continue;
		}
		for (size_t i = 0; i < METRICS_WORDS; i++)
			dst[i] = __atomic_load_n(&snap->words[i], __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		s2 = __atomic_load_n(&snap->seq, __ATOMIC_RELAXED);
		if (s1 == s2)
			return;
	}
}

void metrics_publish(struct metrics *m, const struct metrics_values *v)
{
	if (m)
		metrics_snapshot_publish(&m->snap, v);
}

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned int code, const char *type,
			       const char *body, size_t len, bool allow)
{
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result rc;

	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	rc = MHD_queue_response(conn, code, resp);
	MHD_destroy_response(resp);
	return rc;
}

/* Answered on the first call: a scrape has no body, and anything else is refused. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **req_cls)
{
	static const char text[] = "text/plain; charset=utf-8";
	struct metrics *m = cls;
	struct metrics_values v;
	char body[8192];
	size_t len;

	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return respond(conn, MHD_HTTP_METHOD_NOT_ALLOWED, text, "only GET /metrics\n", 18,
			       true);
	if (strcmp(url, "/metrics") != 0)
		return respond(conn, MHD_HTTP_NOT_FOUND, text, "only GET /metrics\n", 18, false);
	metrics_snapshot_read(&m->snap, &v);
	len = metrics_format(body, sizeof(body), &v);
	return respond(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", body, len,
		       false);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct metrics *m = cls;

	if (m->verbose < 2)
		return;
	fputs("cltagent: metrics: ", stderr);
	vfprintf(stderr, fmt, ap);
}

int metrics_start(struct metrics **out, const char *spec, int verbose)
{
	struct sockaddr_storage ss;
	struct metrics *m;
	socklen_t len;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG;

	*out = NULL;
	if (metrics_parse_addr(spec, &ss, &len) < 0) {
		fprintf(stderr,
			"cltagent: --metrics '%.64s': expected ADDR:PORT, e.g. [::1]:9464 or "
			"127.0.0.1:9464\n",
			spec);
		return -EINVAL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->verbose = verbose;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	m->daemon = MHD_start_daemon(
	    flags, 0, NULL, NULL, on_request, m, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)METRICS_MAX_CONNS,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)METRICS_MAX_CONNS_PER_IP,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)METRICS_REQUEST_MAX,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)METRICS_TIMEOUT_S,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, m, MHD_OPTION_END);
	if (!m->daemon) {
		fprintf(stderr,
			"cltagent: --metrics %.64s: cannot listen (address in use, or not "
			"on this host)\n",
			spec);
		free(m);
		return -EADDRNOTAVAIL;
	}
	if (verbose)
		fprintf(stderr, "cltagent: metrics on http://%s/metrics\n", spec);
	*out = m;
	return 0;
}

void metrics_stop(struct metrics *m)
{
	if (!m)
		return;
	MHD_stop_daemon(m->daemon);
	free(m);
}
