/*
 * agent_config.c - cltagent configuration: defaults, then the OpenTelemetry
 * environment (OTEL_*), then getopt_long flags. Every value is checked;
 * everything parsed here may come from an untrusted environment.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_config.h"

static const char usage_text[] =
	"Usage: cltagent [OPTION]...\n"
	"Turn the kernel's IOAM traces into request-level network spans and post them\n"
	"over OTLP/HTTP JSON to Jaeger or any OpenTelemetry collector.\n"
	"\n"
	"Source:\n"
	"  -s, --source SPEC        netlink (default): IOAM6 kernel events (Linux >= 6.9,\n"
	"                           CAP_NET_ADMIN); capture:IFACE: IOAM packets captured\n"
	"                           on IFACE (CAP_NET_RAW); pcap:FILE: a capture file\n"
	"  -l, --layout L           where the CLT IDs are: auto (default: trailer when its\n"
	"                           magic is present, else none or patched when the trace\n"
	"                           tells them apart), trailer, patched, none\n"
	"      --ts-frac U          unit of the IOAM timestamp fraction: usec (Linux,\n"
	"                           default), nsec, ptp (RFC 9197 binary fraction)\n"
	"      --rcvbuf BYTES       netlink receive buffer (default 8388608)\n"
	"\n"
	"Aggregation:\n"
	"      --idle-timeout D     emit a request after D without packets (default 500ms)\n"
	"      --max-age D          emit a request at this age even if active (default 10s)\n"
	"      --max-requests N     requests held at most; the least recently active is\n"
	"                           emitted early when full (default 16384)\n"
	"      --late-window D      traces of an emitted request (a kept-alive socket keeps\n"
	"                           its IDs: the close, the next request's first bytes)\n"
	"                           up to D after its last packet are counted late, not\n"
	"                           exported as a second request (default 30s, 0 = off)\n"
	"      --late-max N         emitted requests remembered for that at most, oldest\n"
	"                           forgotten first (default 65536)\n"
	"      --span-per-packet    one span per IOAM trace, node data in strings (the\n"
	"                           original CLT model) instead of request aggregation\n"
	"      --export-untagged    export traces without CLT IDs as root spans\n"
	"                           (default: count them only)\n"
	"      --node-name ID=NAME  name IOAM node ID in span names (repeatable)\n"
	"      --node-names FILE    read ID=NAME lines (# comments) from FILE\n"
	"\n"
	"Export:\n"
	"  -e, --endpoint URL       OTLP/HTTP traces URL, used as is\n"
	"                           (default http://localhost:4318/v1/traces)\n"
	"  -o, --output FILE|-      write OTLP JSON lines (file-exporter format) to FILE or\n"
	"                           stdout; without --endpoint or an OTEL_* endpoint this\n"
	"                           replaces HTTP export\n"
	"  -H, --header K=V         extra HTTP header (repeatable)\n"
	"      --service-name NAME  resource service.name (default cltagent)\n"
	"      --gzip               compress request bodies\n"
	"      --cacert FILE        CA certificate(s) for https endpoints\n"
	"      --timeout D          per-request timeout (default 10s)\n"
	"      --batch-size N       spans per request at most (default 512)\n"
	"      --batch-timeout D    send a partial batch after D (default 1s)\n"
	"      --queue-size N       batches waiting for the exporter; more are dropped and\n"
	"                           counted (default 256)\n"
	"      --retry-max-time D   stop retrying a batch after D (default 30s); retried:\n"
	"                           429, 502, 503, 504 and network errors, with backoff,\n"
	"                           honouring Retry-After\n"
	"\n"
	"Tagging for unprivileged programs (libclt's agent backend):\n"
	"      --tag-socket PATH    Unix socket on which sockets are tagged on behalf of\n"
	"                           programs without CAP_NET_RAW (default\n"
	"                           /run/cltagent/tag.sock; none: off)\n"
	"      --tag-group GROUP    socket mode 0660, group GROUP: its members may ask\n"
	"                           (default: the agent's group)\n"
	"      --tag-allow-uid LIST also check the peer's uid (SO_PEERCRED) against LIST,\n"
	"                           user names or uids, comma-separated\n"
	"      --tag-rate N         requests per second per connection (default 20000)\n"
	"      --tag-max-conns N    connections at most (default 256)\n"
	"                           The IOAM option is set by CLT_NAMESPACE, CLT_TRACE_TYPE,\n"
	"                           CLT_HOPS in the agent's environment (libclt defaults).\n"
	"\n"
	"Operation:\n"
	"      --stats-interval D   print a stats line every D, 0 = only at exit (default 0)\n"
	"      --shutdown-timeout D on SIGTERM/SIGINT, flush and export for at most D\n"
	"                           (default 5s)\n"
	"      --ready-file FILE    create FILE (holding the agent's pid) once the source\n"
	"                           is open, the tag socket listens and the exporter runs;\n"
	"                           removed at exit\n"
	"  -v, --verbose            log more (repeat for more)\n"
	"  -h, --help               this text\n"
	"  -V, --version            version\n"
	"\n"
	"Durations D: a number with ms, s or m (seconds when bare).\n"
	"\n"
	"Environment (flags override): OTEL_EXPORTER_OTLP_ENDPOINT (/v1/traces appended),\n"
	"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (as is), OTEL_EXPORTER_OTLP_HEADERS and\n"
	"OTEL_EXPORTER_OTLP_TRACES_HEADERS (k=v,k2=v2, percent-encoded), OTEL_SERVICE_NAME,\n"
	"OTEL_RESOURCE_ATTRIBUTES, OTEL_EXPORTER_OTLP_{TRACES_,}TIMEOUT (ms),\n"
	"OTEL_EXPORTER_OTLP_{TRACES_,}COMPRESSION (gzip), OTEL_EXPORTER_OTLP_{TRACES_,}CERTIFICATE.\n"
	"\n"
	"Signals: SIGTERM and SIGINT flush every held request, export, print the stats\n"
	"line and exit 0.\n";

enum {
	OPT_TS_FRAC = 256,
	OPT_RCVBUF,
	OPT_IDLE,
	OPT_MAX_AGE,
	OPT_MAX_REQUESTS,
	OPT_LATE_WINDOW,
	OPT_LATE_MAX,
	OPT_SPAN_PER_PACKET,
	OPT_EXPORT_UNTAGGED,
	OPT_NODE_NAME,
	OPT_NODE_NAMES,
	OPT_SERVICE_NAME,
	OPT_GZIP,
	OPT_CACERT,
	OPT_TIMEOUT,
	OPT_BATCH_SIZE,
	OPT_BATCH_TIMEOUT,
	OPT_QUEUE_SIZE,
	OPT_RETRY_MAX,
	OPT_STATS_INTERVAL,
	OPT_SHUTDOWN_TIMEOUT,
	OPT_TAG_SOCKET,
	OPT_TAG_GROUP,
	OPT_TAG_ALLOW,
	OPT_TAG_RATE,
	OPT_TAG_MAX_CONNS,
	OPT_READY_FILE,
};

static const struct option long_opts[] = {
	{"source", required_argument, NULL, 's'},
	{"layout", required_argument, NULL, 'l'},
	{"ts-frac", required_argument, NULL, OPT_TS_FRAC},
	{"rcvbuf", required_argument, NULL, OPT_RCVBUF},
	{"idle-timeout", required_argument, NULL, OPT_IDLE},
	{"max-age", required_argument, NULL, OPT_MAX_AGE},
	{"max-requests", required_argument, NULL, OPT_MAX_REQUESTS},
	{"late-window", required_argument, NULL, OPT_LATE_WINDOW},
	{"late-max", required_argument, NULL, OPT_LATE_MAX},
	{"span-per-packet", no_argument, NULL, OPT_SPAN_PER_PACKET},
	{"export-untagged", no_argument, NULL, OPT_EXPORT_UNTAGGED},
	{"node-name", required_argument, NULL, OPT_NODE_NAME},
	{"node-names", required_argument, NULL, OPT_NODE_NAMES},
	{"endpoint", required_argument, NULL, 'e'},
	{"output", required_argument, NULL, 'o'},
	{"header", required_argument, NULL, 'H'},
	{"service-name", required_argument, NULL, OPT_SERVICE_NAME},
	{"gzip", no_argument, NULL, OPT_GZIP},
	{"cacert", required_argument, NULL, OPT_CACERT},
	{"timeout", required_argument, NULL, OPT_TIMEOUT},
	{"batch-size", required_argument, NULL, OPT_BATCH_SIZE},
	{"batch-timeout", required_argument, NULL, OPT_BATCH_TIMEOUT},
	{"queue-size", required_argument, NULL, OPT_QUEUE_SIZE},
	{"retry-max-time", required_argument, NULL, OPT_RETRY_MAX},
	{"stats-interval", required_argument, NULL, OPT_STATS_INTERVAL},
	{"shutdown-timeout", required_argument, NULL, OPT_SHUTDOWN_TIMEOUT},
	{"tag-socket", required_argument, NULL, OPT_TAG_SOCKET},
	{"tag-group", required_argument, NULL, OPT_TAG_GROUP},
	{"tag-allow-uid", required_argument, NULL, OPT_TAG_ALLOW},
	{"tag-rate", required_argument, NULL, OPT_TAG_RATE},
	{"tag-max-conns", required_argument, NULL, OPT_TAG_MAX_CONNS},
	{"ready-file", required_argument, NULL, OPT_READY_FILE},
	{"verbose", no_argument, NULL, 'v'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

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

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
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
			hi = hexval(in[i + 1]);
			lo = hexval(in[i + 2]);
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

static void config_defaults(struct agent_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->layout = IOAM_LAYOUT_AUTO;
	cfg->timeout_ms = 10000;
	cfg->batch_size = 512;
	cfg->batch_ms = 1000;
	cfg->queue_size = 256;
	cfg->retry_max_ms = 30000;
	cfg->idle_ms = 500;
	cfg->max_age_ms = 10000;
	cfg->max_requests = 16384;
	cfg->late_window_ms = 30000;
	cfg->late_max = 65536;
	cfg->frac_unit_ns = 1000;
	cfg->shutdown_ms = 5000;
	cfg->rcvbuf = 8u << 20;
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

int agent_config_load(struct agent_config *cfg, int argc, char **argv)
{
	bool endpoint_set;
	struct otlp_kv *h = NULL;
	size_t nh = 0;
	int c, rc;

	config_defaults(cfg);
	rc = config_env(cfg, &endpoint_set);
	if (rc < 0)
		return rc;
	optind = 1;
	while ((c = getopt_long(argc, argv, "s:l:e:o:H:vhV", long_opts, NULL)) != -1) {
		rc = 0;
		switch (c) {
		case 's':
			if (strcmp(optarg, "netlink") != 0 && strncmp(optarg, "capture:", 8) != 0 &&
			    strncmp(optarg, "pcap:", 5) != 0)
				return bad("--source", optarg);
			rc = set_str(&cfg->source, optarg);
			break;
		case 'l':
			if (strcmp(optarg, "auto") == 0)
				cfg->layout = IOAM_LAYOUT_AUTO;
			else if (strcmp(optarg, "trailer") == 0)
				cfg->layout = IOAM_LAYOUT_TRAILER;
			else if (strcmp(optarg, "patched") == 0)
				cfg->layout = IOAM_LAYOUT_PATCHED;
			else if (strcmp(optarg, "none") == 0)
				cfg->layout = IOAM_LAYOUT_NONE;
			else
				return bad("--layout", optarg);
			break;
		case OPT_TS_FRAC:
			if (strcmp(optarg, "usec") == 0)
				cfg->frac_unit_ns = 1000;
			else if (strcmp(optarg, "nsec") == 0)
				cfg->frac_unit_ns = 1;
			else if (strcmp(optarg, "ptp") == 0)
				cfg->frac_unit_ns = 0;
			else
				return bad("--ts-frac", optarg);
			break;
		case OPT_RCVBUF:
			if (agent_config_parse_u32(optarg, 4096, 1u << 30, &cfg->rcvbuf) < 0)
				return bad("--rcvbuf", optarg);
			break;
		case OPT_IDLE:
			if (parse_duration_ms(optarg, &cfg->idle_ms) < 0)
				return bad("--idle-timeout", optarg);
			break;
		case OPT_MAX_AGE:
			if (parse_duration_ms(optarg, &cfg->max_age_ms) < 0 || !cfg->max_age_ms)
				return bad("--max-age", optarg);
			break;
		case OPT_MAX_REQUESTS:
			if (agent_config_parse_u32(optarg, 1, 1u << 24, &cfg->max_requests) < 0)
				return bad("--max-requests", optarg);
			break;
		case OPT_LATE_WINDOW:
			if (parse_duration_ms(optarg, &cfg->late_window_ms) < 0)
				return bad("--late-window", optarg);
			break;
		case OPT_LATE_MAX:
			if (agent_config_parse_u32(optarg, 1, 1u << 24, &cfg->late_max) < 0)
				return bad("--late-max", optarg);
			break;
		case OPT_SPAN_PER_PACKET:
			cfg->span_per_packet = true;
			break;
		case OPT_EXPORT_UNTAGGED:
			cfg->export_untagged = true;
			break;
		case OPT_NODE_NAME:
			rc = agent_config_add_node_name(cfg, optarg);
			if (rc == -EINVAL)
				return bad("--node-name", optarg);
			break;
		case OPT_NODE_NAMES:
			rc = load_node_names(cfg, optarg);
			break;
		case 'e':
			rc = set_str(&cfg->endpoint, optarg);
			endpoint_set = true;
			break;
		case 'o':
			rc = set_str(&cfg->output, optarg);
			break;
		case 'H':
			if (!strchr(optarg, '=')) {
				kv_free(h, nh);
				return bad("--header", optarg);
			}
			if (agent_config_parse_kvlist(optarg, &h, &nh) < 0)
				rc = -ENOMEM;
			break;
		case OPT_SERVICE_NAME:
			rc = set_str(&cfg->service_name, optarg);
			break;
		case OPT_GZIP:
			cfg->gzip = true;
			break;
		case OPT_CACERT:
			rc = set_str(&cfg->cacert, optarg);
			break;
		case OPT_TIMEOUT:
			if (parse_duration_ms(optarg, &cfg->timeout_ms) < 0 || !cfg->timeout_ms)
				return bad("--timeout", optarg);
			break;
		case OPT_BATCH_SIZE:
			if (agent_config_parse_u32(optarg, 1, 1u << 20, &cfg->batch_size) < 0)
				return bad("--batch-size", optarg);
			break;
		case OPT_BATCH_TIMEOUT:
			if (parse_duration_ms(optarg, &cfg->batch_ms) < 0)
				return bad("--batch-timeout", optarg);
			break;
		case OPT_QUEUE_SIZE:
			if (agent_config_parse_u32(optarg, 1, 1u << 20, &cfg->queue_size) < 0)
				return bad("--queue-size", optarg);
			break;
		case OPT_RETRY_MAX:
			if (parse_duration_ms(optarg, &cfg->retry_max_ms) < 0)
				return bad("--retry-max-time", optarg);
			break;
		case OPT_STATS_INTERVAL: {
			uint32_t ms;

			if (parse_duration_ms(optarg, &ms) < 0)
				return bad("--stats-interval", optarg);
			cfg->stats_interval_s = (ms + 999) / 1000;
			break;
		}
		case OPT_SHUTDOWN_TIMEOUT:
			if (parse_duration_ms(optarg, &cfg->shutdown_ms) < 0)
				return bad("--shutdown-timeout", optarg);
			break;
		case OPT_TAG_SOCKET:
			if (strcmp(optarg, "none") != 0 && optarg[0] != '\0' && optarg[0] != '/')
				return bad("--tag-socket", optarg);
			rc = set_str(&cfg->tag_socket, strcmp(optarg, "none") == 0 ? "" : optarg);
			break;
		case OPT_TAG_GROUP:
			rc = set_str(&cfg->tag_group, optarg);
			break;
		case OPT_TAG_ALLOW:
			rc = set_str(&cfg->tag_allow, optarg);
			break;
		case OPT_TAG_RATE:
			if (agent_config_parse_u32(optarg, 1, 1000000, &cfg->tag_rate) < 0)
				return bad("--tag-rate", optarg);
			break;
		case OPT_TAG_MAX_CONNS:
			if (agent_config_parse_u32(optarg, 1, 65536, &cfg->tag_max_conns) < 0)
				return bad("--tag-max-conns", optarg);
			break;
		case OPT_READY_FILE:
			if (!optarg[0])
				return bad("--ready-file", optarg);
			rc = set_str(&cfg->ready_file, optarg);
			break;
		case 'v':
			cfg->verbose++;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return CONFIG_EXIT_OK;
		case 'V':
			printf("cltagent %s\n", CLT_AGENT_VERSION);
			return CONFIG_EXIT_OK;
		default:
			fprintf(stderr, "Try 'cltagent --help'.\n");
			return -EINVAL;
		}
		if (rc < 0)
			return rc;
	}
	if (optind < argc) {
		fprintf(stderr, "cltagent: unexpected argument '%.64s'\n", argv[optind]);
		return -EINVAL;
	}
	/* Flag headers override environment ones with the same name. */
	for (size_t i = 0; i < nh; i++) {
		rc = kv_push(&cfg->headers, &cfg->n_headers, h[i].key, h[i].value);
		if (rc < 0) {
			for (size_t j = i + 1; j < nh; j++) {
				free(h[j].key);
				free(h[j].value);
			}
			free(h);
			return rc;
		}
	}
	free(h);
	if (!cfg->source && set_str(&cfg->source, "netlink") < 0)
		return -ENOMEM;
	if (!cfg->service_name && set_str(&cfg->service_name, "cltagent") < 0)
		return -ENOMEM;
	if (!endpoint_set) {
		free(cfg->endpoint);
		cfg->endpoint = NULL;
		if (!cfg->output && set_str(&cfg->endpoint, CONFIG_DEFAULT_ENDPOINT) < 0)
			return -ENOMEM;
	}
	return CONFIG_RUN;
}

void agent_config_free(struct agent_config *cfg)
{
	free(cfg->source);
	free(cfg->endpoint);
	free(cfg->output);
	free(cfg->service_name);
	free(cfg->cacert);
	free(cfg->tag_socket);
	free(cfg->tag_group);
	free(cfg->tag_allow);
	free(cfg->ready_file);
	kv_free(cfg->headers, cfg->n_headers);
	kv_free(cfg->resource, cfg->n_resource);
	for (size_t i = 0; i < cfg->n_names; i++)
		free(cfg->names[i].name);
	free(cfg->names);
	memset(cfg, 0, sizeof(*cfg));
}
