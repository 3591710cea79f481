/*
 * otlp.c - OTLP/JSON encoding of the network span model (see README,
 * "Span model"): per request one INTERNAL span "network: A → B" under the
 * request's span-id, and one child span per IOAM node in path order.
 * Attributes follow OpenTelemetry semantic conventions where one exists
 * (network.type) and the documented ioam.* namespace otherwise.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "otlp.h"
#include "spans_in.h"

/*
 * The JSON is written directly into one growing buffer. json-c builds a
 * tree with several allocations per attribute, which made encoding the
 * bottleneck of the whole pipeline (about 5x slower); the unit tests
 * parse this output with json-c and check it field by field.
 */
struct jbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

struct otlp_encoder {
	struct otlp_config cfg;
	struct jbuf spans; /* "span,span,..." of the current batch */
	struct jbuf prefix; /* resourceSpans ... "spans":[ */
	size_t n_spans;
	size_t mark;       /* start of the span being written */
	bool first_attr;
};

static const char suffix[] = "]}]}]}";

static bool jb_reserve(struct jbuf *b, size_t n)
{
	size_t cap;
	char *p;

	if (b->oom)
		return false;
	if (b->len + n <= b->cap)
		return true;
	cap = b->cap ? b->cap : 4096;
	while (cap < b->len + n)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p) {
		b->oom = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

static void jb_put(struct jbuf *b, const char *s, size_t n)
{
	if (jb_reserve(b, n)) {
		memcpy(b->p + b->len, s, n);
		b->len += n;
	}
}

#define JB_LIT(b, lit) jb_put((b), (lit), sizeof(lit) - 1)

/* Length of the valid UTF-8 sequence at @s (of @n octets), 0 if invalid
 * (RFC 3629: no overlong forms, no surrogates, at most U+10FFFF). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

/*
 * A JSON string: quotes, backslashes and control characters escaped, and
 * invalid UTF-8 (names from the environment, a name cut by truncation)
 * replaced by U+FFFD, since protobuf's JSON mapping rejects it.
 */
static void jb_str(struct jbuf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = strlen(s);
	char *o;

	if (!jb_reserve(b, n * 6 + 2))
		return;
	o = b->p + b->len;
	*o++ = '"';
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		size_t u;

		if (c == '"' || c == '\\') {
			*o++ = '\\';
			*o++ = (char)c;
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			*o++ = '\\';
			*o++ = 'u';
			*o++ = '0';
			*o++ = '0';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
			i++;
		} else if ((u = utf8_len((const unsigned char *)s + i, n - i)) != 0) {
			memcpy(o, s + i, u);
			o += u;
			i += u;
		} else {
			/* 3 output octets for 1 input octet: within the n * 6 reserved. */
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	*o++ = '"';
	b->len = (size_t)(o - b->p);
}

/* A uint64 as a JSON string (OTLP/JSON encodes 64-bit integers as strings). */
static void jb_u64(struct jbuf *b, uint64_t v)
{
	char tmp[24];
	int i = (int)sizeof(tmp);

	tmp[--i] = '"';
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	tmp[--i] = '"';
	jb_put(b, tmp + i, sizeof(tmp) - (size_t)i);
}

static void jb_hex(struct jbuf *b, const uint8_t *id, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	char tmp[2 * 16 + 2];
	size_t o = 0;

	tmp[o++] = '"';
	for (size_t i = 0; i < n && i < 16; i++) {
		tmp[o++] = hex[id[i] >> 4];
		tmp[o++] = hex[id[i] & 15];
	}
	tmp[o++] = '"';
	jb_put(b, tmp, o);
}

static void kv_attr_begin(struct jbuf *b, bool *first, const char *key)
{
	if (!*first)
		JB_LIT(b, ",");
	*first = false;
	JB_LIT(b, "{\"key\":");
	jb_str(b, key);
	JB_LIT(b, ",\"value\":{");
}

static bool resource_has(const struct otlp_config *cfg, const char *key)
{
	for (size_t i = 0; i < cfg->n_resource; i++)
		if (strcmp(cfg->resource[i].key, key) == 0)
			return true;
	return false;
}

static void resource_str(struct jbuf *b, bool *first, const char *key, const char *val)
{
	kv_attr_begin(b, first, key);
	JB_LIT(b, "\"stringValue\":");
	jb_str(b, val);
	JB_LIT(b, "}}");
}

/*
 * The resource is the agent itself: service.name (OTEL_SERVICE_NAME wins
 * over OTEL_RESOURCE_ATTRIBUTES, as the SDKs do), the attributes given,
 * then what the agent knows of itself unless given: service.version,
 * host.name, process.pid. No telemetry.sdk.*: cltagent is not an SDK.
 */
static void build_prefix(struct otlp_encoder *enc)
{
	const struct otlp_config *cfg = &enc->cfg;
	struct jbuf *b = &enc->prefix;
	bool first = true;

	JB_LIT(b, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[");
	resource_str(b, &first, "service.name", cfg->service_name);
	for (size_t i = 0; i < cfg->n_resource; i++) {
		if (strcmp(cfg->resource[i].key, "service.name") == 0)
			continue;
		resource_str(b, &first, cfg->resource[i].key, cfg->resource[i].value);
	}
	if (cfg->service_version && !resource_has(cfg, "service.version"))
		resource_str(b, &first, "service.version", cfg->service_version);
	if (cfg->host_name && *cfg->host_name && !resource_has(cfg, "host.name"))
		resource_str(b, &first, "host.name", cfg->host_name);
	if (cfg->has_uid && !resource_has(cfg, "process.real_user.id")) {
		kv_attr_begin(b, &first, "process.real_user.id");
		JB_LIT(b, "\"intValue\":");
		jb_u64(b, cfg->uid);
		JB_LIT(b, "}}");
	}
	if (cfg->pid > 0 && !resource_has(cfg, "process.pid")) {
		kv_attr_begin(b, &first, "process.pid");
		JB_LIT(b, "\"intValue\":");
		jb_u64(b, (uint64_t)cfg->pid);
		JB_LIT(b, "}}");
	}
	JB_LIT(b, "]},\"scopeSpans\":[{\"scope\":{\"name\":\"" OTLP_SCOPE_NAME "\"");
	if (cfg->version) {
		JB_LIT(b, ",\"version\":");
		jb_str(b, cfg->version);
	}
	JB_LIT(b, "},\"spans\":[");
}

struct otlp_encoder *otlp_new(const struct otlp_config *cfg)
{
	struct otlp_encoder *enc = calloc(1, sizeof(*enc));

	if (!enc)
		return NULL;
	enc->cfg = *cfg;
	if (!enc->cfg.service_name)
		enc->cfg.service_name = "cltagent";
	build_prefix(enc);
	if (enc->prefix.oom || !jb_reserve(&enc->spans, 1)) {
		otlp_free(enc);
		return NULL;
	}
	return enc;
}

void otlp_free(struct otlp_encoder *enc)
{
	if (!enc)
		return;
	free(enc->spans.p);
	free(enc->prefix.p);
	free(enc);
}

size_t otlp_pending(const struct otlp_encoder *enc)
{
	return enc->n_spans;
}

bool otlp_id_valid(const uint8_t *id, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (id[i])
			return true;
	return false;
}

void otlp_random_id(uint8_t *out, size_t n)
{
	/* One getrandom() per 4 KiB of ids keeps it off the hot path. */
	static uint8_t pool[4096];
	static size_t avail;
	bool zero = true;

	while (zero) {
		if (avail < n) {
			ssize_t got = getrandom(pool, sizeof(pool), 0);

			if (got != (ssize_t)sizeof(pool)) {
				/* Never expected; fall back to something unique-ish. */
				for (size_t i = 0; i < sizeof(pool); i++)
					pool[i] = (uint8_t)random();
			}
			avail = sizeof(pool);
		}
		memcpy(out, pool + sizeof(pool) - avail, n);
		avail -= n;
		zero = true;
		for (size_t i = 0; i < n; i++)
			if (out[i])
				zero = false;
	}
}

const char *otlp_node_label(const struct otlp_encoder *enc, uint64_t id, char *buf, size_t cap)
{
	for (size_t i = 0; i < enc->cfg.n_names; i++)
		if (enc->cfg.names[i].id == id)
			return enc->cfg.names[i].name;
	snprintf(buf, cap, "node %" PRIu64, id);
	return buf;
}

static void attr_str(struct otlp_encoder *enc, const char *key, const char *val)
{
	kv_attr_begin(&enc->spans, &enc->first_attr, key);
	JB_LIT(&enc->spans, "\"stringValue\":");
	jb_str(&enc->spans, val);
	JB_LIT(&enc->spans, "}}");
}

static void attr_int(struct otlp_encoder *enc, const char *key, uint64_t val)
{
	/* OTLP/JSON: int64 values are decimal strings. */
	if (val > INT64_MAX)
		val = INT64_MAX;
	kv_attr_begin(&enc->spans, &enc->first_attr, key);
	JB_LIT(&enc->spans, "\"intValue\":");
	jb_u64(&enc->spans, val);
	JB_LIT(&enc->spans, "}}");
}

static void attr_bool(struct otlp_encoder *enc, const char *key, bool val)
{
	kv_attr_begin(&enc->spans, &enc->first_attr, key);
	if (val)
		JB_LIT(&enc->spans, "\"boolValue\":true}}");
	else
		JB_LIT(&enc->spans, "\"boolValue\":false}}");
}

static void attr_hex32(struct otlp_encoder *enc, const char *key, uint32_t val)
{
	char buf[16];

	snprintf(buf, sizeof(buf), "0x%06" PRIx32, val);
	attr_str(enc, key, buf);
}

/*
 * Open a span up to its attribute list; @parent NULL makes a root span.
 * @remote: the parent is in another process (the request's own span).
 */
static void span_begin_kind(struct otlp_encoder *enc, const uint8_t trace_id[16],
			    const uint8_t span_id[8], const uint8_t *parent, bool remote,
			    const char *name, uint64_t start, uint64_t end, unsigned int kind)
{
	/* Exported, so recorded: sampled. The trailer does not carry the request's own flags. */
	uint32_t flags = OTLP_FLAG_SAMPLED;
	char tmp[16];

	struct jbuf *b = &enc->spans;

	enc->mark = b->len;
	if (end < start)
		end = start;
	if (enc->n_spans)
		JB_LIT(b, ",");
	JB_LIT(b, "{\"traceId\":");
	jb_hex(b, trace_id, 16);
	JB_LIT(b, ",\"spanId\":");
	jb_hex(b, span_id, 8);
	if (parent) {
		JB_LIT(b, ",\"parentSpanId\":");
		jb_hex(b, parent, 8);
	}
	JB_LIT(b, ",\"name\":");
	jb_str(b, name);
	/* kind and status code are enums: integers in OTLP/JSON. */
	if (parent)
		flags |= OTLP_FLAG_HAS_IS_REMOTE | (remote ? OTLP_FLAG_IS_REMOTE : 0);
	/* fixed32: a JSON number. */
	snprintf(tmp, sizeof(tmp), ",\"flags\":%u", flags);
	jb_put(b, tmp, strlen(tmp));
	snprintf(tmp, sizeof(tmp), ",\"kind\":%u", kind);
	jb_put(b, tmp, strlen(tmp));
	JB_LIT(b, ",\"startTimeUnixNano\":");
	jb_u64(b, start);
	JB_LIT(b, ",\"endTimeUnixNano\":");
	jb_u64(b, end);
	JB_LIT(b, ",\"attributes\":[");
	enc->first_attr = true;
}

static void span_begin(struct otlp_encoder *enc, const uint8_t trace_id[16], const uint8_t span_id[8],
		       const uint8_t *parent, bool remote, const char *name, uint64_t start, uint64_t end)
{
	span_begin_kind(enc, trace_id, span_id, parent, remote, name, start, end,
			OTLP_SPAN_KIND_INTERNAL);
}

static int span_end_status(struct otlp_encoder *enc, unsigned int code)
{
	struct jbuf *b = &enc->spans;

	if (code == OTLP_STATUS_ERROR)
		JB_LIT(b, "],\"status\":{\"code\":2}}");
	else
		JB_LIT(b, "],\"status\":{\"code\":0}}");
	if (b->oom) {
		/* Out of memory: this span is lost, the batch stays valid. */
		b->oom = false;
		b->len = enc->mark;
		return -ENOMEM;
	}
	enc->n_spans++;
	return 0;
}

static int span_end(struct otlp_encoder *enc)
{
	return span_end_status(enc, OTLP_STATUS_UNSET);
}

static uint64_t hop_id(const struct agg_hop *h)
{
	if (!(h->fields & IOAM_TT_HOP_NODE) && (h->fields & IOAM_TT_HOP_NODE_WIDE))
		return h->node_id_wide;
	return h->node_id;
}

static void hop_attrs(struct otlp_encoder *enc, const struct agg_hop *h,
		      unsigned int index, const char *label)
{
	uint32_t f = h->fields;

	attr_int(enc, "ioam.hop.index", index);
	if (f & IOAM_TT_HOP_NODE)
		attr_int(enc, "ioam.node.id", h->node_id);
	if (f & IOAM_TT_HOP_NODE_WIDE)
		attr_int(enc, "ioam.node.id_wide", h->node_id_wide);
	attr_str(enc, "ioam.node.name", label);
	if (f & (IOAM_TT_HOP_NODE | IOAM_TT_HOP_NODE_WIDE))
		attr_int(enc, "ioam.hop_limit", h->hop_limit);
	if (f & (IOAM_TT_IF_SHORT | IOAM_TT_IF_WIDE)) {
		attr_int(enc, "ioam.if.ingress", h->ingress_if);
		attr_int(enc, "ioam.if.egress", h->egress_if);
	}
	attr_int(enc, "ioam.packets", h->packets);
	if (h->delay_n) {
		attr_int(enc, "ioam.delay.min_ns", h->delay_min_ns);
		attr_int(enc, "ioam.delay.avg_ns", h->delay_sum_ns / h->delay_n);
		attr_int(enc, "ioam.delay.max_ns", h->delay_max_ns);
	}
	if (h->queue_seen)
		attr_int(enc, "ioam.queue_depth.max", h->queue_max);
	if (f & IOAM_TT_TRANSIT)
		attr_int(enc, "ioam.transit_delay.max_ns", h->transit_max);
	if (f & IOAM_TT_NSDATA_SHORT)
		attr_int(enc, "ioam.namespace_data", h->ns_data);
	if (f & IOAM_TT_NSDATA_WIDE)
		attr_int(enc, "ioam.namespace_data.wide", h->ns_data_wide);
	if (f & IOAM_TT_BUFFER)
		attr_int(enc, "ioam.buffer_occupancy.max", h->buffer_max);
	if (f & IOAM_TT_OPAQUE) {
		char buf[16];

		attr_int(enc, "ioam.opaque.schema", h->opaque_schema);
		attr_int(enc, "ioam.opaque.length", h->opaque_len);
		snprintf(buf, sizeof(buf), "%08" PRIx32, h->opaque_head);
		attr_str(enc, "ioam.opaque.head", buf);
	}
	if (h->node_changed)
		attr_bool(enc, "ioam.path_changed", true);
}

int otlp_add_request(struct otlp_encoder *enc, const struct agg_request *r)
{
	uint8_t net_id[8], hop_span[8];
	char name[160], path[512], b1[32], b2[32];
	uint64_t start = UINT64_MAX, end = 0;
	size_t off = 0;
	int added = 0;
	const char *dir;

	for (unsigned int i = 0; i < r->n_hops; i++) {
		const struct agg_hop *h = &r->hops[i];

		if (h->end_ns) {
			if (h->start_ns < start)
				start = h->start_ns;
			if (h->end_ns > end)
				end = h->end_ns;
		}
		off += (size_t)snprintf(path + off, sizeof(path) - off, "%s%s", i ? " → " : "",
					otlp_node_label(enc, hop_id(h), b1, sizeof(b1)));
		if (off >= sizeof(path))
			off = sizeof(path) - 1;
	}
	if (!end) {
		/* No timestamps in this trace type: the agent's own clock. */
		start = r->first_seen_ns;
		end = r->last_seen_ns;
	}
	/* The request's spans keep their names; a response's say so. */
	dir = r->response ? "network (response)" : "network";
	if (r->n_hops == 0)
		snprintf(name, sizeof(name), "%s: no IOAM node", dir);
	else if (r->n_hops == 1)
		snprintf(name, sizeof(name), "%s: %s", dir,
			 otlp_node_label(enc, hop_id(&r->hops[0]), b1, sizeof(b1)));
	else
		snprintf(name, sizeof(name), "%s: %s → %s", dir,
			 otlp_node_label(enc, hop_id(&r->hops[0]), b1, sizeof(b1)),
			 otlp_node_label(enc, hop_id(&r->hops[r->n_hops - 1]), b2, sizeof(b2)));
	otlp_random_id(net_id, 8);
	span_begin(enc, r->trace_id, net_id, r->span_id, true, name, start, end);
	attr_str(enc, "network.type", "ipv6");
	attr_int(enc, "ioam.namespace", r->namespace_id);
	attr_hex32(enc, "ioam.trace_type", r->trace_type);
	attr_int(enc, "ioam.packets", r->packets);
	attr_int(enc, "ioam.hops", r->n_hops);
	attr_str(enc, "ioam.path", path);
	attr_str(enc, "ioam.direction", r->response ? "response" : "request");
	if (r->flags_seen & IOAM_FLAG_OVERFLOW)
		attr_bool(enc, "ioam.overflow", true);
	if (r->hops_truncated)
		attr_int(enc, "ioam.hops_truncated", r->hops_truncated);
	if (span_end(enc) < 0)
		return -ENOMEM;
	added++;
	for (unsigned int i = 0; i < r->n_hops; i++) {
		const struct agg_hop *h = &r->hops[i];
		const char *label = otlp_node_label(enc, hop_id(h), b1, sizeof(b1));
		uint64_t hs = h->end_ns ? h->start_ns : start, he = h->end_ns ? h->end_ns : end;

		snprintf(name, sizeof(name), "%s %u: %s", r->response ? "hop (response)" : "hop", i + 1,
			 label);
		otlp_random_id(hop_span, 8);
		span_begin(enc, r->trace_id, hop_span, net_id, false, name, hs, he);
		hop_attrs(enc, h, i + 1, label);
		attr_str(enc, "ioam.direction", r->response ? "response" : "request");
		if (span_end(enc) < 0)
			return -ENOMEM;
		added++;
	}
	return added;
}

/* The original CLT model: one span per trace, node data packed in strings. */
int otlp_add_trace(struct otlp_encoder *enc, const struct ioam_trace *t, uint64_t now_ns)
{
	uint8_t trace_id[16], span_id[8];
	uint64_t start = UINT64_MAX, end = 0;
	char key[32], val[256];
	/* All-zero IDs are invalid in OpenTelemetry: such a trace is untagged. */
	bool tagged = t->has_ids && otlp_id_valid(t->trace_id, 16) && otlp_id_valid(t->span_id, 8);

	for (unsigned int i = 0; i < t->n_nodes; i++) {
		uint64_t ts = ioam_node_time_ns(&t->nodes[i], enc->cfg.frac_unit_ns);

		if (ts && ts < start)
			start = ts;
		if (ts > end)
			end = ts;
	}
	if (!end)
		start = end = now_ns;
	if (tagged)
		memcpy(trace_id, t->trace_id, 16);
	else
		otlp_random_id(trace_id, 16);
	otlp_random_id(span_id, 8);
	span_begin(enc, trace_id, span_id, tagged ? t->span_id : NULL, true, "ioam trace", start, end);
	attr_str(enc, "network.type", "ipv6");
	attr_int(enc, "ioam.namespace", t->namespace_id);
	attr_hex32(enc, "ioam.trace_type", t->trace_type);
	attr_int(enc, "ioam.hops", t->n_nodes);
	attr_bool(enc, "ioam.tagged", tagged);
	if (t->flags & IOAM_FLAG_OVERFLOW)
		attr_bool(enc, "ioam.overflow", true);
	for (unsigned int i = 0; i < t->n_nodes; i++) {
		const struct ioam_node *n = &t->nodes[i];
		size_t o = 0;

		snprintf(key, sizeof(key), "ioam.node.%u", i + 1);
#define PUT(...)                                                                         \
	do {                                                                             \
	if (o < sizeof(val))                                                     \
		o += (size_t)snprintf(val + o, sizeof(val) - o, __VA_ARGS__);    \
	} while (0)
		PUT("id=%" PRIu32, n->node_id);
		if (n->fields & IOAM_TT_HOP_NODE_WIDE)
			PUT(" id_wide=%" PRIu64, n->node_id_wide);
		if (n->fields & (IOAM_TT_HOP_NODE | IOAM_TT_HOP_NODE_WIDE))
			PUT(" hop_limit=%u", n->hop_limit);
		if (n->fields & IOAM_TT_IF_SHORT)
			PUT(" ingress_if=%u egress_if=%u", n->ingress_if, n->egress_if);
		if (n->fields & IOAM_TT_IF_WIDE)
			PUT(" ingress_if_wide=%" PRIu32 " egress_if_wide=%" PRIu32,
			    n->ingress_if_wide, n->egress_if_wide);
		if (n->fields & IOAM_TT_TS_SEC)
			PUT(" ts_sec=%" PRIu32, n->ts_sec);
		if (n->fields & IOAM_TT_TS_FRAC)
			PUT(" ts_frac=%" PRIu32, n->ts_frac);
		if (n->fields & IOAM_TT_TRANSIT)
			PUT(" transit_delay=%" PRIu32, n->transit_delay);
		if (n->fields & IOAM_TT_NSDATA_SHORT)
			PUT(" ns_data=%" PRIu32, n->ns_data);
		if (n->fields & IOAM_TT_QUEUE)
			PUT(" queue_depth=%" PRIu32, n->queue_depth);
		if (n->fields & IOAM_TT_NSDATA_WIDE)
			PUT(" ns_data_wide=%" PRIu64, n->ns_data_wide);
		if (n->fields & IOAM_TT_BUFFER)
			PUT(" buffer_occupancy=%" PRIu32, n->buffer_occupancy);
		if (n->fields & IOAM_TT_OPAQUE)
			PUT(" opaque_schema=%" PRIu32 " opaque_len=%u", n->opaque_schema,
			    n->opaque_len);
#undef PUT
		attr_str(enc, key, val);
	}
	if (span_end(enc) < 0)
		return -ENOMEM;
	return 1;
}

char *otlp_finish(struct otlp_encoder *enc, size_t *len, size_t *spans)
{
	size_t plen = enc->prefix.len, blen = enc->spans.len, n;
	char *out;

	*len = 0;
	*spans = 0;
	if (enc->n_spans == 0)
		return NULL;
	n = plen + blen + sizeof(suffix) - 1;
	out = malloc(n + 1);
	if (out) {
		memcpy(out, enc->prefix.p, plen);
		memcpy(out + plen, enc->spans.p, blen);
		memcpy(out + plen + blen, suffix, sizeof(suffix));
		*len = n;
		*spans = enc->n_spans;
	}
	/* Out of memory: the batch is lost, the encoder stays usable. */
	enc->spans.len = 0;
	enc->n_spans = 0;
	return out;
}

/*
 * A shim's span, already validated (agent/spans_in.c). Its name is the
 * request's method (OpenTelemetry HTTP conventions without a route); a
 * SERVER span's parent is in another process, a CLIENT span's in this one.
 */
int otlp_add_shim_span(struct otlp_encoder *enc, const struct shim_span *sp)
{
	const struct clt_span_rec *r = &sp->rec;
	static const uint8_t zero[8];
	bool has_parent = memcmp(r->parent_id, zero, 8) != 0;
	char name[64] = "HTTP";
	char val[1025];

	for (unsigned int i = 0; i < sp->n_attrs; i++) {
		const struct shim_attr *a = &sp->attrs[i];

		if (a->kind == 's' && strcmp(a->key, "http.request.method") == 0 &&
		    a->str_len < sizeof(name)) {
			memcpy(name, a->str, a->str_len);
			name[a->str_len] = '\0';
		}
	}
	span_begin_kind(enc, r->trace_id, r->span_id, has_parent ? r->parent_id : NULL,
			r->kind == CLT_SPAN_KIND_SERVER, name, r->start_ns, r->end_ns, r->kind);
	for (unsigned int i = 0; i < sp->n_attrs; i++) {
		const struct shim_attr *a = &sp->attrs[i];

		if (a->kind == 's') {
			size_t n = a->str_len < sizeof(val) - 1 ? a->str_len : sizeof(val) - 1;

			memcpy(val, a->str, n);
			val[n] = '\0';
			attr_str(enc, a->key, val);
		} else {
			kv_attr_begin(&enc->spans, &enc->first_attr, a->key);
			JB_LIT(&enc->spans, "\"intValue\":");
			{
				char num[32];

				snprintf(num, sizeof(num), "\"%lld\"", (long long)a->num);
				jb_put(&enc->spans, num, strlen(num));
			}
			JB_LIT(&enc->spans, "}}");
		}
	}
	if (span_end_status(enc, r->status == CLT_SPAN_STATUS_ERROR ? OTLP_STATUS_ERROR
								     : OTLP_STATUS_UNSET) < 0)
		return -ENOMEM;
	return 1;
}
