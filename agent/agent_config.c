/*
 * agent_config.c - cltagent configuration: defaults, then the OpenTelemetry
 * environment (OTEL_*), then getopt_long flags. Every flag is one row of
 * agent_options[] below (name, kind, default, bounds, target, help): the
 * getopt tables, the defaults, validation and --help are made from it, so
 * an option is written once. Every value is checked; everything parsed
 * here may come from an untrusted environment.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_config.h"
#include "metrics.h"
#include "tagserver.h"

int agent_config_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	uint64_t v = 0;

	if (!s || !*s)
		return -EINVAL;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > max)
			return -EINVAL;
	}
	if (v < min)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/* "250ms", "5s", "2m", "5" (seconds) -> milliseconds. */
static int parse_duration_ms(const char *s, uint32_t *out)
{
	uint64_t v = 0, mult = 1000;
	const char *p = s;

	if (!s || !*s)
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > UINT32_MAX)
			return -EINVAL;
	}
	if (p == s)
		return -EINVAL;
	if (strcmp(p, "ms") == 0)
		mult = 1;
	else if (strcmp(p, "s") == 0 || *p == '\0')
		mult = 1000;
	else if (strcmp(p, "m") == 0)
		mult = 60000;
	else
		return -EINVAL;
	if (v * mult > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)(v * mult);
	return 0;
}

char *agent_config_percent_decode(const char *in, size_t len)
{
	char *out = malloc(len + 1);
	size_t o = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (in[i] == '%') {
			int hi, lo;

			if (i + 2 >= len) {
				free(out);
				return NULL;
			}
			hi = clt_hex_digit((unsigned char)in[i + 1]);
			lo = clt_hex_digit((unsigned char)in[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
				free(out);
				return NULL;
			}
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			out[o++] = in[i];
		}
	}
	out[o] = '\0';
	return out;
}

static void trim(const char **b, const char **e)
{
	while (*b < *e && isspace((unsigned char)**b))
		(*b)++;
	while (*e > *b && isspace((unsigned char)(*e)[-1]))
		(*e)--;
}

/* Entries kept per list (resource attributes, headers): the environment is
 * not trusted to be small, and each entry is compared with the others. */
#define KV_MAX 128
#define KV_MAX_LEN 4096

static int kv_push(struct otlp_kv **list, size_t *n, char *k, char *v)
{
	struct otlp_kv *nl;

	if (strlen(k) > KV_MAX_LEN || strlen(v) > KV_MAX_LEN) {
		fprintf(stderr, "cltagent: ignoring '%.32s': longer than %d octets\n", k, KV_MAX_LEN);
		goto skip;
	}
	/* A later entry with the same key replaces the earlier one. */
	for (size_t i = 0; i < *n; i++) {
		if (strcmp((*list)[i].key, k) == 0) {
			free((*list)[i].value);
			free(k);
			(*list)[i].value = v;
			return 0;
		}
	}
	if (*n >= KV_MAX) {
		fprintf(stderr, "cltagent: ignoring '%.32s': more than %d entries\n", k, KV_MAX);
		goto skip;
	}
	nl = realloc(*list, (*n + 1) * sizeof(**list));
	if (!nl) {
		free(k);
		free(v);
		return -ENOMEM;
	}
	*list = nl;
	nl[*n].key = k;
	nl[*n].value = v;
	(*n)++;
	return 1;
skip:
	free(k);
	free(v);
	return 0;
}

int agent_config_parse_kvlist(const char *s, struct otlp_kv **list, size_t *n)
{
	int added = 0;

	while (s && *s) {
		const char *end = strchr(s, ',');
		const char *eq, *kb = s, *ke, *vb, *ve;
		char *k, *v;
		int rc;

		if (!end)
			end = s + strlen(s);
		eq = memchr(s, '=', (size_t)(end - s));
		if (eq) {
			ke = eq;
			vb = eq + 1;
			ve = end;
			trim(&kb, &ke);
			trim(&vb, &ve);
			if (ke > kb) {
				k = agent_config_percent_decode(kb, (size_t)(ke - kb));
				v = agent_config_percent_decode(vb, (size_t)(ve - vb));
				if (k && v) {
					rc = kv_push(list, n, k, v);
					if (rc < 0)
						return rc;
					added += rc;
				} else {
					/* Bad escape: the spec says to skip the entry. */
					free(k);
					free(v);
				}
			}
		}
		s = *end ? end + 1 : end;
	}
	return added;
}

int agent_config_add_node_name(struct agent_config *cfg, const char *spec)
{
	const char *eq = strchr(spec, '=');
	struct otlp_node_name *nn;
	uint64_t id = 0;
	char *name;

	if (!eq || eq == spec || !eq[1] || eq - spec > 20)
		return -EINVAL;
	for (const char *p = spec; p < eq; p++) {
		if (*p < '0' || *p > '9' || id > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		id = id * 10 + (uint64_t)(*p - '0');
	}
	if (strlen(eq + 1) > 64)
		return -EINVAL;
	name = strdup(eq + 1);
	if (!name)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->n_names; i++) {
		if (cfg->names[i].id == id) {
			free(cfg->names[i].name);
			cfg->names[i].name = name;
			return 0;
		}
	}
	nn = realloc(cfg->names, (cfg->n_names + 1) * sizeof(*nn));
	if (!nn) {
		free(name);
		return -ENOMEM;
	}
	cfg->names = nn;
	nn[cfg->n_names].id = id;
	nn[cfg->n_names].name = name;
	cfg->n_names++;
	return 0;
}

static int load_node_names(struct agent_config *cfg, const char *path)
{
	char line[256];
	unsigned int lineno = 0;
	FILE *f = fopen(path, "re");
	int rc = 0;

	if (!f) {
		fprintf(stderr, "cltagent: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	while (fgets(line, sizeof(line), f)) {
		char *b = line, *e;

		lineno++;
		e = b + strlen(b);
		/* A line longer than the buffer would be read as several: refuse it. */
		if (e > b && e[-1] != '\n' && !feof(f)) {
			fprintf(stderr, "cltagent: %s:%u: line too long\n", path, lineno);
			rc = -EINVAL;
			break;
		}
		while (e > b && isspace((unsigned char)e[-1]))
			*--e = '\0';
		while (isspace((unsigned char)*b))
			b++;
		if (!*b || *b == '#')
			continue;
		rc = agent_config_add_node_name(cfg, b);
		if (rc < 0) {
			fprintf(stderr, "cltagent: %s:%u: expected ID=NAME\n", path, lineno);
			break;
		}
	}
	fclose(f);
	return rc;
}

static int set_str(char **dst, const char *src)
{
	char *d = strdup(src);

	if (!d)
		return -ENOMEM;
	free(*dst);
	*dst = d;
	return 0;
}

static const char *env2(const char *traces, const char *generic)
{
	const char *v = getenv(traces);

	if (v && *v)
		return v;
	v = getenv(generic);
	return v && *v ? v : NULL;
}

char *agent_config_env_endpoint(void)
{
	const char *v = getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
	size_t len;
	char *out;

	if (v && *v)
		return strdup(v);
	v = getenv("OTEL_EXPORTER_OTLP_ENDPOINT");
	if (!v || !*v)
		return NULL;
	/* The spec: append "v1/traces" relative to the given path. */
	len = strlen(v);
	out = malloc(len + sizeof("/v1/traces"));
	if (!out)
		return NULL;
	memcpy(out, v, len);
	if (len && v[len - 1] == '/')
		len--;
	memcpy(out + len, "/v1/traces", sizeof("/v1/traces"));
	return out;
}

static int config_env(struct agent_config *cfg, bool *endpoint_set)
{
	const char *v;
	int rc;

	cfg->endpoint = agent_config_env_endpoint();
	*endpoint_set = cfg->endpoint != NULL;
	v = getenv("OTEL_SERVICE_NAME");
	if (v && *v && (rc = set_str(&cfg->service_name, v)) < 0)
		return rc;
	if (agent_config_parse_kvlist(getenv("OTEL_RESOURCE_ATTRIBUTES"), &cfg->resource,
				&cfg->n_resource) < 0)
		return -ENOMEM;
	if (!cfg->service_name) {
		for (size_t i = 0; i < cfg->n_resource; i++)
			if (strcmp(cfg->resource[i].key, "service.name") == 0 &&
			    set_str(&cfg->service_name, cfg->resource[i].value) < 0)
				return -ENOMEM;
	}
	if (agent_config_parse_kvlist(getenv("OTEL_EXPORTER_OTLP_HEADERS"), &cfg->headers,
				&cfg->n_headers) < 0 ||
	    agent_config_parse_kvlist(getenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS"), &cfg->headers,
				&cfg->n_headers) < 0)
		return -ENOMEM;
	v = env2("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT");
	if (v && agent_config_parse_u32(v, 1, 3600000, &cfg->timeout_ms) < 0)
		fprintf(stderr, "cltagent: ignoring bad OTLP timeout '%.32s'\n", v);
	v = env2("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION");
	if (v)
		cfg->gzip = strcmp(v, "gzip") == 0;
	v = env2("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "OTEL_EXPORTER_OTLP_CERTIFICATE");
	if (v && (rc = set_str(&cfg->cacert, v)) < 0)
		return rc;
	v = env2("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL");
	if (v && strcmp(v, "http/json") != 0)
		fprintf(stderr, "cltagent: OTLP protocol '%.32s' requested; cltagent speaks http/json\n",
			v);
	return 0;
}

static void kv_free(struct otlp_kv *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(list[i].key);
		free(list[i].value);
	}
	free(list);
}

static int bad(const char *opt, const char *val)
{
	fprintf(stderr, "cltagent: invalid %s '%.64s' (see --help)\n", opt, val);
	return -EINVAL;
}

/* Parsing state: what a row's setter may touch besides the configuration. */
struct agent_load {
	struct agent_config *cfg;
	bool endpoint_set;  /* -e given, or an OTEL_* endpoint */
	struct otlp_kv *h;  /* -H headers, merged over the environment's at the end */
	size_t nh;
};

/* --- setters and checks: what a generic kind cannot say ---------------- */

static int check_source(const char *arg)
{
	return strcmp(arg, "netlink") == 0 || strncmp(arg, "capture:", 8) == 0 ||
	       strncmp(arg, "pcap:", 5) == 0 ? 0 : -EINVAL;
}

static int check_nonempty(const char *arg)
{
	return arg[0] ? 0 : -EINVAL;
}

static int check_metrics_addr(const char *arg)
{
	struct sockaddr_storage ss;
	socklen_t len;

	return metrics_parse_addr(arg, &ss, &len);
}

static int set_endpoint(struct agent_load *st, const char *arg)
{
	st->endpoint_set = true;
	return set_str(&st->cfg->endpoint, arg);
}

static int set_header(struct agent_load *st, const char *arg)
{
	if (!strchr(arg, '='))
		return bad("--header", arg);
	return agent_config_parse_kvlist(arg, &st->h, &st->nh) < 0 ? -ENOMEM : 0;
}

static int set_node_name(struct agent_load *st, const char *arg)
{
	int rc = agent_config_add_node_name(st->cfg, arg);

	return rc == -EINVAL ? bad("--node-name", arg) : rc;
}

static int set_node_names(struct agent_load *st, const char *arg)
{
	return load_node_names(st->cfg, arg); /* says what is wrong, with the line */
}

/* "none" (or "") turns the tag server off; anything else is an absolute path. */
static int set_tag_socket(struct agent_load *st, const char *arg)
{
	if (strcmp(arg, "none") != 0 && arg[0] != '\0' && arg[0] != '/')
		return bad("--tag-socket", arg);
	return set_str(&st->cfg->tag_socket, strcmp(arg, "none") == 0 ? "" : arg);
}

static const struct agent_opt_choice layout_choices[] = {
	{"auto", IOAM_LAYOUT_AUTO}, {"trailer", IOAM_LAYOUT_TRAILER},
	{"patched", IOAM_LAYOUT_PATCHED}, {"none", IOAM_LAYOUT_NONE}, {NULL, 0},
};

static const struct agent_opt_choice frac_choices[] = {
	{"usec", 1000}, {"nsec", 1}, {"ptp", 0}, {NULL, 0},
};

/* The field's type is checked at compile time against the row's kind. */
#define AT(field, type) \
	_Generic(((struct agent_config *)0)->field, type: offsetof(struct agent_config, field))
#define U32_AT(field) AT(field, uint32_t)
#define STR_AT(field) AT(field, char *)
#define BOOL_AT(field) AT(field, bool)

#define DURATION_MAX UINT32_MAX

const struct agent_option agent_options[] = {
	{.section = "Source", .name = "source", .short_name = 's', .kind = AGENT_OPT_STRING,
	 .arg = "SPEC", .offset = STR_AT(source), .def_str = "netlink", .check = check_source,
	 .help = "netlink: IOAM6 kernel events (Linux >= 6.9, CAP_NET_ADMIN); capture:IFACE: "
		 "IOAM packets captured on IFACE (CAP_NET_RAW); pcap:FILE: a capture file"},
	{.name = "layout", .short_name = 'l', .kind = AGENT_OPT_CHOICE, .arg = "L",
	 .offset = U32_AT(layout), .def = IOAM_LAYOUT_AUTO, .choices = layout_choices,
	 .help = "where the CLT IDs are: auto (the trailer when its magic is present, else none "
		 "or patched when the trace tells them apart), trailer, patched, none"},
	{.name = "ts-frac", .kind = AGENT_OPT_CHOICE, .arg = "U", .offset = U32_AT(frac_unit_ns),
	 .def = 1000, .choices = frac_choices,
	 .help = "unit of the IOAM timestamp fraction: usec (Linux), nsec, ptp (RFC 9197 binary "
		 "fraction)"},
	{.name = "rcvbuf", .kind = AGENT_OPT_U32, .arg = "BYTES", .offset = U32_AT(rcvbuf),
	 .def = 8u << 20, .min = 4096, .max = 1u << 30, .help = "netlink receive buffer"},

	{.section = "Aggregation", .name = "idle-timeout", .kind = AGENT_OPT_DURATION, .arg = "D",
	 .offset = U32_AT(idle_ms), .def = 500, .max = DURATION_MAX,
	 .help = "emit a request after D without packets"},
	{.name = "max-age", .kind = AGENT_OPT_DURATION, .arg = "D", .offset = U32_AT(max_age_ms),
	 .def = 10000, .min = 1, .max = DURATION_MAX,
	 .help = "emit a request at this age even if active"},
	{.name = "max-requests", .kind = AGENT_OPT_U32, .arg = "N", .offset = U32_AT(max_requests),
	 .def = 16384, .min = 1, .max = 1u << 24,
	 .help = "requests held at most; the least recently active is emitted early when full"},
	{.name = "late-window", .kind = AGENT_OPT_DURATION, .arg = "D",
	 .offset = U32_AT(late_window_ms), .def = 30000, .max = DURATION_MAX,
	 .help = "traces of an emitted request (a kept-alive socket keeps its IDs: the close, the "
		 "next request's first bytes) up to D after its last packet are counted late, not "
		 "exported as a second request; 0 = off"},
	{.name = "late-max", .kind = AGENT_OPT_U32, .arg = "N", .offset = U32_AT(late_max),
	 .def = 65536, .min = 1, .max = 1u << 24,
	 .help = "emitted requests remembered for that at most, oldest forgotten first"},
	{.name = "span-per-packet", .kind = AGENT_OPT_FLAG, .offset = BOOL_AT(span_per_packet),
	 .help = "one span per IOAM trace, node data in strings (the original CLT model) instead "
		 "of request aggregation"},
	{.name = "export-untagged", .kind = AGENT_OPT_FLAG, .offset = BOOL_AT(export_untagged),
	 .def_text = "count them only",
	 .help = "export traces without CLT IDs as root spans"},
	{.name = "node-name", .kind = AGENT_OPT_SETTER, .arg = "ID=NAME", .set = set_node_name,
	 .help = "name IOAM node ID in span names (repeatable)"},
	{.name = "node-names", .kind = AGENT_OPT_SETTER, .arg = "FILE", .set = set_node_names,
	 .help = "read ID=NAME lines (# comments) from FILE"},

	{.section = "Export", .name = "endpoint", .short_name = 'e', .kind = AGENT_OPT_SETTER,
	 .arg = "URL", .set = set_endpoint, .def_text = CONFIG_DEFAULT_ENDPOINT,
	 .help = "OTLP/HTTP traces URL, used as is"},
	{.name = "output", .short_name = 'o', .kind = AGENT_OPT_STRING, .arg = "FILE|-",
	 .offset = STR_AT(output),
	 .help = "write OTLP JSON lines (file-exporter format) to FILE or stdout; without "
		 "--endpoint or an OTEL_* endpoint this replaces HTTP export"},
	{.name = "header", .short_name = 'H', .kind = AGENT_OPT_SETTER, .arg = "K=V",
	 .set = set_header, .help = "extra HTTP header (repeatable)"},
	{.name = "service-name", .kind = AGENT_OPT_STRING, .arg = "NAME",
	 .offset = STR_AT(service_name), .def_str = "cltagent", .help = "resource service.name"},
	{.name = "gzip", .kind = AGENT_OPT_FLAG, .offset = BOOL_AT(gzip),
	 .help = "compress request bodies"},
	{.name = "cacert", .kind = AGENT_OPT_STRING, .arg = "FILE", .offset = STR_AT(cacert),
	 .help = "CA certificate(s) for https endpoints"},
	{.name = "timeout", .kind = AGENT_OPT_DURATION, .arg = "D", .offset = U32_AT(timeout_ms),
	 .def = 10000, .min = 1, .max = DURATION_MAX, .help = "per-request timeout"},
	{.name = "batch-size", .kind = AGENT_OPT_U32, .arg = "N", .offset = U32_AT(batch_size),
	 .def = 512, .min = 1, .max = 1u << 20, .help = "spans per request at most"},
	{.name = "batch-timeout", .kind = AGENT_OPT_DURATION, .arg = "D", .offset = U32_AT(batch_ms),
	 .def = 1000, .max = DURATION_MAX, .help = "send a partial batch after D"},
	{.name = "queue-size", .kind = AGENT_OPT_U32, .arg = "N", .offset = U32_AT(queue_size),
	 .def = 256, .min = 1, .max = 1u << 20,
	 .help = "batches waiting for the exporter; more are dropped and counted"},
	{.name = "retry-max-time", .kind = AGENT_OPT_DURATION, .arg = "D",
	 .offset = U32_AT(retry_max_ms), .def = 30000, .max = DURATION_MAX,
	 .help = "stop retrying a batch after D; retried: 429, 502, 503, 504 and network errors, "
		 "with backoff, honouring Retry-After"},

	{.section = "Tagging for unprivileged programs (libclt's agent backend)",
	 .name = "tag-socket", .kind = AGENT_OPT_SETTER, .arg = "PATH", .set = set_tag_socket,
	 .def_text = "/run/cltagent/tag.sock",
	 .help = "Unix socket on which sockets are tagged on behalf of programs without "
		 "CAP_NET_RAW; none: off"},
	{.name = "tag-group", .kind = AGENT_OPT_STRING, .arg = "GROUP", .offset = STR_AT(tag_group),
	 .def_text = "the agent's group",
	 .help = "socket mode 0660, group GROUP: its members may ask"},
	{.name = "tag-allow-uid", .kind = AGENT_OPT_STRING, .arg = "LIST",
	 .offset = STR_AT(tag_allow),
	 .help = "also check the peer's uid (SO_PEERCRED) against LIST, user names or uids, "
		 "comma-separated"},
	{.name = "tag-rate", .kind = AGENT_OPT_U32, .arg = "N", .offset = U32_AT(tag_rate),
	 .def = TAGSERVER_DEFAULT_RATE, .min = 1, .max = 1000000,
	 .help = "requests per second per connection"},
	{.name = "tag-max-conns", .kind = AGENT_OPT_U32, .arg = "N", .offset = U32_AT(tag_max_conns),
	 .def = TAGSERVER_DEFAULT_MAX_CONNS, .min = 1, .max = 65536,
	 .help = "connections at most (a shim may hold two: tagging and spans)"},
	{.name = "span-rate", .kind = AGENT_OPT_U32, .arg = "N", .offset = U32_AT(span_rate),
	 .def = TAGSERVER_DEFAULT_SPAN_RATE, .min = 1, .max = 10000000,
	 .help = "span records per second per shim connection; more are counted and dropped"},

	{.section = "Tagging through eBPF (libclt's bpf backend)", .name = "bpf",
	 .kind = AGENT_OPT_FLAG, .offset = BOOL_AT(bpf),
	 .help = "load the tc egress program that tags the packets of sockets registered over "
		 "the tag socket, and hand each connecting process its own slot array "
		 "(needs CAP_BPF and CAP_NET_ADMIN, and the tag socket)"},
	{.name = "bpf-ifaces", .kind = AGENT_OPT_STRING, .arg = "LIST",
	 .offset = STR_AT(bpf_ifaces), .def_text = "every up interface with IPv6, lo included",
	 .help = "attach to these interfaces, comma-separated"},

	{.section = "Operation", .name = "stats-interval", .kind = AGENT_OPT_DURATION, .arg = "D",
	 .offset = U32_AT(stats_interval_s), .max = DURATION_MAX, .scale = 1000,
	 .help = "print a stats line every D, 0 = only at exit"},
	{.name = "shutdown-timeout", .kind = AGENT_OPT_DURATION, .arg = "D",
	 .offset = U32_AT(shutdown_ms), .def = 5000, .max = DURATION_MAX,
	 .help = "on SIGTERM/SIGINT, flush and export for at most D"},
	{.name = "ready-file", .kind = AGENT_OPT_STRING, .arg = "FILE", .offset = STR_AT(ready_file),
	 .check = check_nonempty,
	 .help = "create FILE (holding the agent's pid) once the source is open, the tag socket "
		 "listens and the exporter runs; removed at exit"},
	{.name = "metrics", .kind = AGENT_OPT_STRING, .arg = "ADDR:PORT", .offset = STR_AT(metrics),
	 .check = check_metrics_addr, .def_text = "off",
	 .help = "serve the counters in the Prometheus text format on http://ADDR:PORT/metrics, "
		 "e.g. [::1]:9464"},
	{.name = "check", .kind = AGENT_OPT_FLAG, .offset = BOOL_AT(check),
	 .help = "check what tracing needs (kernel, IOAM namespace and interfaces, a running "
		 "agent's capabilities, the tag socket, the endpoint), one line each, and exit: 1 "
		 "on a problem"},
	{.name = "verbose", .short_name = 'v', .kind = AGENT_OPT_COUNT,
	 .offset = AT(verbose, int), .help = "log more (repeat for more)"},
	{.name = "help", .short_name = 'h', .kind = AGENT_OPT_HELP, .help = "this text"},
	{.name = "version", .short_name = 'V', .kind = AGENT_OPT_VERSION, .help = "version"},
};

const size_t agent_n_options = sizeof(agent_options) / sizeof(agent_options[0]);

/* getopt_long's val for a row without a short name: past every char. */
#define LONG_ONLY_BASE 256

static const char usage_head[] =
	"Usage: cltagent [OPTION]...\n"
	"Turn the kernel's IOAM traces into request-level network spans and post them\n"
	"over OTLP/HTTP JSON to Jaeger or any OpenTelemetry collector.\n";

static const char usage_tail[] =
	"\n"
	"Durations D: a number with ms, s or m (seconds when bare).\n"
	"\n"
	"Tagging: the IOAM option is set by CLT_NAMESPACE, CLT_TRACE_TYPE, CLT_HOPS in\n"
	"the agent's environment (libclt defaults).\n"
	"\n"
	"Environment (flags override): OTEL_EXPORTER_OTLP_ENDPOINT (/v1/traces appended),\n"
	"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (as is), OTEL_EXPORTER_OTLP_HEADERS and\n"
	"OTEL_EXPORTER_OTLP_TRACES_HEADERS (k=v,k2=v2, percent-encoded), OTEL_SERVICE_NAME,\n"
	"OTEL_RESOURCE_ATTRIBUTES, OTEL_EXPORTER_OTLP_{TRACES_,}TIMEOUT (ms),\n"
	"OTEL_EXPORTER_OTLP_{TRACES_,}COMPRESSION (gzip), OTEL_EXPORTER_OTLP_{TRACES_,}CERTIFICATE.\n"
	"\n"
	"Signals: SIGTERM and SIGINT flush every held request, export, print the stats\n"
	"line and exit 0.\n";

static void format_duration(char *buf, size_t cap, uint32_t ms)
{
	if (ms && ms % 60000 == 0)
		snprintf(buf, cap, "%um", ms / 60000);
	else if (ms % 1000 == 0)
		snprintf(buf, cap, "%u%s", ms / 1000, ms ? "s" : "");
	else
		snprintf(buf, cap, "%ums", ms);
}

const char *agent_config_default_text(const struct agent_option *o, char *buf, size_t cap)
{
	buf[0] = '\0';
	if (o->def_text) {
		snprintf(buf, cap, "%s", o->def_text);
		return buf;
	}
	switch (o->kind) {
	case AGENT_OPT_STRING:
		if (o->def_str)
			snprintf(buf, cap, "%s", o->def_str);
		break;
	case AGENT_OPT_U32:
		snprintf(buf, cap, "%" PRIu32, o->def);
		break;
	case AGENT_OPT_DURATION:
		format_duration(buf, cap, o->def);
		break;
	case AGENT_OPT_CHOICE:
		for (const struct agent_opt_choice *c = o->choices; c->name; c++)
			if (c->value == o->def) {
				snprintf(buf, cap, "%s", c->name);
				break;
			}
		break;
	default:
		break;
	}
	return buf;
}

#define HELP_COL 27
#define HELP_WIDTH 80

/* Print @text word-wrapped from column @col (the cursor is at @col already). */
static void print_wrapped(FILE *f, const char *text, int col)
{
	int at = col;

	while (*text) {
		size_t w = strcspn(text, " ");

		if (at > col && at + 1 + (int)w > HELP_WIDTH) {
			fprintf(f, "\n%*s", col, "");
			at = col;
		} else if (at > col) {
			fputc(' ', f);
			at++;
		}
		fwrite(text, 1, w, f);
		at += (int)w;
		text += w;
		while (*text == ' ')
			text++;
	}
	fputc('\n', f);
}

void agent_config_usage(FILE *f)
{
	fputs(usage_head, f);
	for (size_t i = 0; i < agent_n_options; i++) {
		const struct agent_option *o = &agent_options[i];
		char lead[64], def[96], text[512];
		int n;

		if (o->section)
			fprintf(f, "\n%s:\n", o->section);
		if (o->short_name)
			n = snprintf(lead, sizeof(lead), "  -%c, --%s%s%s", o->short_name, o->name,
				     o->arg ? " " : "", o->arg ? o->arg : "");
		else
			n = snprintf(lead, sizeof(lead), "      --%s%s%s", o->name, o->arg ? " " : "",
				     o->arg ? o->arg : "");
		fputs(lead, f);
		if (n + 1 > HELP_COL)
			fprintf(f, "\n%*s", HELP_COL, "");
		else
			fprintf(f, "%*s", HELP_COL - n, "");
		agent_config_default_text(o, def, sizeof(def));
		/* "(default 500ms)", "(default: the agent's group)" */
		snprintf(text, sizeof(text), "%s%s%s%s", o->help,
			 !def[0] ? "" : strchr(def, ' ') ? " (default: " : " (default ", def,
			 def[0] ? ")" : "");
		print_wrapped(f, text, HELP_COL);
	}
	fputs(usage_tail, f);
}

static void config_defaults(struct agent_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < agent_n_options; i++) {
		const struct agent_option *o = &agent_options[i];
		uint32_t v = o->def;

		switch (o->kind) {
		case AGENT_OPT_DURATION:
			if (o->scale > 1)
				v = (uint32_t)(((uint64_t)v + o->scale - 1) / o->scale);
			/* fall through */
		case AGENT_OPT_U32:
		case AGENT_OPT_CHOICE:
			memcpy((char *)cfg + o->offset, &v, sizeof(v));
			break;
		default:
			break;
		}
	}
}

/* String defaults go in last: the environment may have set the field. */
static int config_string_defaults(struct agent_config *cfg)
{
	for (size_t i = 0; i < agent_n_options; i++) {
		const struct agent_option *o = &agent_options[i];
		char **field = (char **)(void *)((char *)cfg + o->offset);

		if (o->kind == AGENT_OPT_STRING && o->def_str && !*field &&
		    set_str(field, o->def_str) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* The flag as the user typed it, for messages: "--max-age". */
static const char *flag_name(const struct agent_option *o, char *buf, size_t cap)
{
	snprintf(buf, cap, "--%s", o->name);
	return buf;
}

/* Parse @arg for row @o and store it. @return 0, CONFIG_EXIT_OK, or a negative errno. */
static int apply_option(struct agent_load *st, const struct agent_option *o, const char *arg)
{
	void *field = (char *)st->cfg + o->offset;
	char flag[48];
	uint32_t v;

	switch (o->kind) {
	case AGENT_OPT_FLAG:
		*(bool *)field = true;
		return 0;
	case AGENT_OPT_COUNT:
		(*(int *)field)++;
		return 0;
	case AGENT_OPT_STRING:
		if (o->check && o->check(arg) < 0)
			return bad(flag_name(o, flag, sizeof(flag)), arg);
		return set_str(field, arg);
	case AGENT_OPT_U32:
		if (agent_config_parse_u32(arg, o->min, o->max, &v) < 0)
			return bad(flag_name(o, flag, sizeof(flag)), arg);
		memcpy(field, &v, sizeof(v));
		return 0;
	case AGENT_OPT_DURATION:
		if (parse_duration_ms(arg, &v) < 0 || v < o->min || v > o->max)
			return bad(flag_name(o, flag, sizeof(flag)), arg);
		if (o->scale > 1)
			v = (uint32_t)(((uint64_t)v + o->scale - 1) / o->scale);
		memcpy(field, &v, sizeof(v));
		return 0;
	case AGENT_OPT_CHOICE:
		for (const struct agent_opt_choice *c = o->choices; c->name; c++)
			if (strcmp(arg, c->name) == 0) {
				memcpy(field, &c->value, sizeof(c->value));
				return 0;
			}
		return bad(flag_name(o, flag, sizeof(flag)), arg);
	case AGENT_OPT_SETTER:
		return o->set(st, arg);
	case AGENT_OPT_HELP:
		agent_config_usage(stdout);
		return CONFIG_EXIT_OK;
	case AGENT_OPT_VERSION:
		printf("cltagent %s\n", CLT_AGENT_VERSION);
		return CONFIG_EXIT_OK;
	}
	return -EINVAL;
}

/* getopt_long's tables, made from agent_options[] on first use. */
static struct option long_opts[64];
static char short_opts[2 * 64 + 1];

static void build_getopt_tables(void)
{
	char *p = short_opts;

	if (long_opts[0].name)
		return;
	_Static_assert(sizeof(agent_options) / sizeof(agent_options[0]) < 64,
		       "long_opts holds every row and the terminator");
	for (size_t i = 0; i < agent_n_options; i++) {
		const struct agent_option *o = &agent_options[i];
		bool has_arg = o->arg != NULL;

		long_opts[i].name = o->name;
		long_opts[i].has_arg = has_arg ? required_argument : no_argument;
		long_opts[i].flag = NULL;
		long_opts[i].val = o->short_name ? o->short_name : LONG_ONLY_BASE + (int)i;
		if (o->short_name) {
			*p++ = o->short_name;
			if (has_arg)
				*p++ = ':';
		}
	}
	*p = '\0';
}

static const struct agent_option *option_for(int val)
{
	if (val >= LONG_ONLY_BASE && (size_t)(val - LONG_ONLY_BASE) < agent_n_options)
		return &agent_options[val - LONG_ONLY_BASE];
	for (size_t i = 0; i < agent_n_options; i++)
		if (agent_options[i].short_name && agent_options[i].short_name == val)
			return &agent_options[i];
	return NULL;
}

static int config_parse(struct agent_load *st, int argc, char **argv)
{
	struct agent_config *cfg = st->cfg;
	int c, rc;

	build_getopt_tables();
	optind = 1;
	while ((c = getopt_long(argc, argv, short_opts, long_opts, NULL)) != -1) {
		const struct agent_option *o = option_for(c);

		if (!o) {
			fprintf(stderr, "Try 'cltagent --help'.\n");
			return -EINVAL;
		}
		rc = apply_option(st, o, optarg);
		if (rc != 0)
			return rc;
	}
	if (optind < argc) {
		fprintf(stderr, "cltagent: unexpected argument '%.64s'\n", argv[optind]);
		return -EINVAL;
	}
	/* Flag headers override environment ones with the same name; kv_push
	 * takes each entry over, so the list is emptied as it goes. */
	while (st->nh) {
		struct otlp_kv kv = st->h[0];

		memmove(st->h, st->h + 1, (st->nh - 1) * sizeof(*st->h));
		st->nh--;
		rc = kv_push(&cfg->headers, &cfg->n_headers, kv.key, kv.value);
		if (rc < 0)
			return rc;
	}
	rc = config_string_defaults(cfg);
	if (rc < 0)
		return rc;
	if (!st->endpoint_set) {
		free(cfg->endpoint);
		cfg->endpoint = NULL;
		if (!cfg->output && set_str(&cfg->endpoint, CONFIG_DEFAULT_ENDPOINT) < 0)
			return -ENOMEM;
	}
	return CONFIG_RUN;
}

int agent_config_load(struct agent_config *cfg, int argc, char **argv)
{
	struct agent_load st = {.cfg = cfg};
	int rc;

	config_defaults(cfg);
	rc = config_env(cfg, &st.endpoint_set);
	if (rc < 0)
		return rc;
	rc = config_parse(&st, argc, argv);
	/* Whatever stopped the parse, the -H list not yet merged is ours to free. */
	kv_free(st.h, st.nh);
	return rc;
}

void agent_config_free(struct agent_config *cfg)
{
	free(cfg->source);
	free(cfg->endpoint);
	free(cfg->output);
	free(cfg->service_name);
	free(cfg->cacert);
	free(cfg->tag_socket);
	free(cfg->bpf_ifaces);
	free(cfg->tag_group);
	free(cfg->tag_allow);
	free(cfg->ready_file);
	free(cfg->metrics);
	kv_free(cfg->headers, cfg->n_headers);
	kv_free(cfg->resource, cfg->n_resource);
	for (size_t i = 0; i < cfg->n_names; i++)
		free(cfg->names[i].name);
	free(cfg->names);
	memset(cfg, 0, sizeof(*cfg));
}
