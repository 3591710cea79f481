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

#include <json-c/json.h>

#include "otlp.h"

struct otlp_encoder {
	struct otlp_config cfg;
	json_object *spans; /* array of the batch's spans */
	size_t n_spans;
};

struct otlp_encoder *otlp_new(const struct otlp_config *cfg)
{
	struct otlp_encoder *enc = calloc(1, sizeof(*enc));

	if (!enc)
		return NULL;
	enc->cfg = *cfg;
	if (!enc->cfg.service_name)
		enc->cfg.service_name = "cltagent";
	enc->spans = json_object_new_array();
	if (!enc->spans) {
		free(enc);
		return NULL;
	}
	return enc;
}

void otlp_free(struct otlp_encoder *enc)
{
	if (!enc)
		return;
	json_object_put(enc->spans);
	free(enc);
}

size_t otlp_pending(const struct otlp_encoder *enc)
{
	return enc->n_spans;
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

/* json-c helpers: every add checks for allocation failure through the
 * object being NULL; json_object_*_add ignore NULL parents gracefully
 * only in part, so callers check the span object once at the end. */
static json_object *hex_string(const uint8_t *id, size_t n)
{
	char buf[33];

	clt_hex(buf, id, n);
	return json_object_new_string(buf);
}

static json_object *u64_string(uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return json_object_new_string(buf);
}

static void attr_add(json_object *attrs, const char *key, const char *type, json_object *val)
{
	json_object *kv = json_object_new_object();
	json_object *v = json_object_new_object();

	if (!kv || !v || !val) {
		json_object_put(kv);
		json_object_put(v);
		json_object_put(val);
		return;
	}
	json_object_object_add(v, type, val);
	json_object_object_add(kv, "key", json_object_new_string(key));
	json_object_object_add(kv, "value", v);
	json_object_array_add(attrs, kv);
}

static void attr_str(json_object *attrs, const char *key, const char *val)
{
	attr_add(attrs, key, "stringValue", json_object_new_string(val));
}

static void attr_int(json_object *attrs, const char *key, uint64_t val)
{
	/* OTLP/JSON: int64 values are decimal strings. */
	if (val > INT64_MAX)
		val = INT64_MAX;
	attr_add(attrs, key, "intValue", u64_string(val));
}

static void attr_bool(json_object *attrs, const char *key, bool val)
{
	attr_add(attrs, key, "boolValue", json_object_new_boolean(val));
}

static void attr_hex32(json_object *attrs, const char *key, uint32_t val)
{
	char buf[16];

	snprintf(buf, sizeof(buf), "0x%06" PRIx32, val);
	attr_str(attrs, key, buf);
}

/* A span skeleton; @parent NULL makes a root span. */
static json_object *span_new(const uint8_t trace_id[16], const uint8_t span_id[8],
			     const uint8_t *parent, const char *name, uint64_t start, uint64_t end,
			     json_object **attrs)
{
	json_object *s = json_object_new_object();
	json_object *st = json_object_new_object();

	*attrs = json_object_new_array();
	if (!s || !st || !*attrs) {
		json_object_put(s);
		json_object_put(st);
		json_object_put(*attrs);
		*attrs = NULL;
		return NULL;
	}
	if (end < start)
		end = start;
	json_object_object_add(s, "traceId", hex_string(trace_id, 16));
	json_object_object_add(s, "spanId", hex_string(span_id, 8));
	if (parent)
		json_object_object_add(s, "parentSpanId", hex_string(parent, 8));
	json_object_object_add(s, "name", json_object_new_string(name));
	json_object_object_add(s, "kind", json_object_new_int(OTLP_SPAN_KIND_INTERNAL));
	json_object_object_add(s, "startTimeUnixNano", u64_string(start));
	json_object_object_add(s, "endTimeUnixNano", u64_string(end));
	json_object_object_add(s, "attributes", *attrs);
	json_object_object_add(st, "code", json_object_new_int(OTLP_STATUS_UNSET));
	json_object_object_add(s, "status", st);
	return s;
}

static int span_push(struct otlp_encoder *enc, json_object *s)
{
	if (!s || json_object_array_add(enc->spans, s) != 0) {
		json_object_put(s);
		return -ENOMEM;
	}
	enc->n_spans++;
	return 0;
}

static uint64_t hop_id(const struct agg_hop *h)
{
	if (!(h->fields & IOAM_TT_HOP_NODE) && (h->fields & IOAM_TT_HOP_NODE_WIDE))
		return h->node_id_wide;
	return h->node_id;
}

static void hop_attrs(const struct otlp_encoder *enc, json_object *a, const struct agg_hop *h,
		      unsigned int index, const char *label)
{
	uint32_t f = h->fields;

	attr_int(a, "ioam.hop.index", index);
	if (f & IOAM_TT_HOP_NODE)
		attr_int(a, "ioam.node.id", h->node_id);
	if (f & IOAM_TT_HOP_NODE_WIDE)
		attr_int(a, "ioam.node.id_wide", h->node_id_wide);
	attr_str(a, "ioam.node.name", label);
	if (f & (IOAM_TT_HOP_NODE | IOAM_TT_HOP_NODE_WIDE))
		attr_int(a, "ioam.hop_limit", h->hop_limit);
	if (f & (IOAM_TT_IF_SHORT | IOAM_TT_IF_WIDE)) {
		attr_int(a, "ioam.if.ingress", h->ingress_if);
		attr_int(a, "ioam.if.egress", h->egress_if);
	}
	attr_int(a, "ioam.packets", h->packets);
	if (h->delay_n) {
		attr_int(a, "ioam.delay.min_ns", h->delay_min_ns);
		attr_int(a, "ioam.delay.avg_ns", h->delay_sum_ns / h->delay_n);
		attr_int(a, "ioam.delay.max_ns", h->delay_max_ns);
	}
	if (h->queue_seen)
		attr_int(a, "ioam.queue_depth.max", h->queue_max);
	if (f & IOAM_TT_TRANSIT)
		attr_int(a, "ioam.transit_delay.max_ns", h->transit_max);
	if (f & IOAM_TT_NSDATA_SHORT)
		attr_int(a, "ioam.namespace_data", h->ns_data);
	if (f & IOAM_TT_NSDATA_WIDE)
		attr_int(a, "ioam.namespace_data.wide", h->ns_data_wide);
	if (f & IOAM_TT_BUFFER)
		attr_int(a, "ioam.buffer_occupancy.max", h->buffer_max);
	if (f & IOAM_TT_OPAQUE) {
		char buf[16];

		attr_int(a, "ioam.opaque.schema", h->opaque_schema);
		attr_int(a, "ioam.opaque.length", h->opaque_len);
		snprintf(buf, sizeof(buf), "%08" PRIx32, h->opaque_head);
		attr_str(a, "ioam.opaque.head", buf);
	}
	if (h->node_changed)
		attr_bool(a, "ioam.path_changed", true);
}

int otlp_add_request(struct otlp_encoder *enc, const struct agg_request *r)
{
	uint8_t net_id[8], hop_span[8];
	char name[160], path[512], b1[32], b2[32];
	uint64_t start = UINT64_MAX, end = 0;
	json_object *a, *s;
	size_t off = 0;
	int added = 0;

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
	if (r->n_hops == 0)
		snprintf(name, sizeof(name), "network: no IOAM node");
	else if (r->n_hops == 1)
		snprintf(name, sizeof(name), "network: %s",
			 otlp_node_label(enc, hop_id(&r->hops[0]), b1, sizeof(b1)));
	else
		snprintf(name, sizeof(name), "network: %s → %s",
			 otlp_node_label(enc, hop_id(&r->hops[0]), b1, sizeof(b1)),
			 otlp_node_label(enc, hop_id(&r->hops[r->n_hops - 1]), b2, sizeof(b2)));
	otlp_random_id(net_id, 8);
	s = span_new(r->trace_id, net_id, r->span_id, name, start, end, &a);
	if (a) {
		attr_str(a, "network.type", "ipv6");
		attr_int(a, "ioam.namespace", r->namespace_id);
		attr_hex32(a, "ioam.trace_type", r->trace_type);
		attr_int(a, "ioam.packets", r->packets);
		attr_int(a, "ioam.hops", r->n_hops);
		attr_str(a, "ioam.path", path);
		if (r->flags_seen & IOAM_FLAG_OVERFLOW)
			attr_bool(a, "ioam.overflow", true);
		if (r->hops_truncated)
			attr_int(a, "ioam.hops_truncated", r->hops_truncated);
	}
	if (span_push(enc, s) < 0)
		return -ENOMEM;
	added++;
	for (unsigned int i = 0; i < r->n_hops; i++) {
		const struct agg_hop *h = &r->hops[i];
		const char *label = otlp_node_label(enc, hop_id(h), b1, sizeof(b1));
		uint64_t hs = h->end_ns ? h->start_ns : start, he = h->end_ns ? h->end_ns : end;

		snprintf(name, sizeof(name), "hop %u: %s", i + 1, label);
		otlp_random_id(hop_span, 8);
		s = span_new(r->trace_id, hop_span, net_id, name, hs, he, &a);
		if (a)
			hop_attrs(enc, a, h, i + 1, label);
		if (span_push(enc, s) < 0)
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
	json_object *a, *s;
	char key[32], val[256];

	for (unsigned int i = 0; i < t->n_nodes; i++) {
		uint64_t ts = ioam_node_time_ns(&t->nodes[i], enc->cfg.frac_unit_ns);

		if (ts && ts < start)
			start = ts;
		if (ts > end)
			end = ts;
	}
	if (!end)
		start = end = now_ns;
	if (t->has_ids)
		memcpy(trace_id, t->trace_id, 16);
	else
		otlp_random_id(trace_id, 16);
	otlp_random_id(span_id, 8);
	s = span_new(trace_id, span_id, t->has_ids ? t->span_id : NULL, "ioam trace", start, end, &a);
	if (a) {
		attr_str(a, "network.type", "ipv6");
		attr_int(a, "ioam.namespace", t->namespace_id);
		attr_hex32(a, "ioam.trace_type", t->trace_type);
		attr_int(a, "ioam.hops", t->n_nodes);
		attr_bool(a, "ioam.tagged", t->has_ids);
		if (t->flags & IOAM_FLAG_OVERFLOW)
			attr_bool(a, "ioam.overflow", true);
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
			attr_str(a, key, val);
		}
	}
	if (span_push(enc, s) < 0)
		return -ENOMEM;
	return 1;
}

char *otlp_finish(struct otlp_encoder *enc, size_t *len, size_t *spans)
{
	json_object *root = NULL, *rs_arr, *rs, *res, *rattrs, *ss_arr, *ss, *scope;
	const char *txt;
	char *out = NULL;
	size_t n;

	*len = 0;
	*spans = 0;
	if (enc->n_spans == 0)
		return NULL;
	root = json_object_new_object();
	rs_arr = json_object_new_array();
	rs = json_object_new_object();
	res = json_object_new_object();
	rattrs = json_object_new_array();
	ss_arr = json_object_new_array();
	ss = json_object_new_object();
	scope = json_object_new_object();
	if (!root || !rs_arr || !rs || !res || !rattrs || !ss_arr || !ss || !scope) {
		json_object_put(root);
		json_object_put(rs_arr);
		json_object_put(rs);
		json_object_put(res);
		json_object_put(rattrs);
		json_object_put(ss_arr);
		json_object_put(ss);
		json_object_put(scope);
		goto drop;
	}
	attr_str(rattrs, "service.name", enc->cfg.service_name);
	for (size_t i = 0; i < enc->cfg.n_resource; i++)
		if (strcmp(enc->cfg.resource[i].key, "service.name") != 0)
			attr_str(rattrs, enc->cfg.resource[i].key, enc->cfg.resource[i].value);
	json_object_object_add(res, "attributes", rattrs);
	json_object_object_add(scope, "name", json_object_new_string(OTLP_SCOPE_NAME));
	if (enc->cfg.version)
		json_object_object_add(scope, "version", json_object_new_string(enc->cfg.version));
	json_object_object_add(ss, "scope", scope);
	json_object_object_add(ss, "spans", enc->spans);
	json_object_array_add(ss_arr, ss);
	json_object_object_add(rs, "resource", res);
	json_object_object_add(rs, "scopeSpans", ss_arr);
	json_object_array_add(rs_arr, rs);
	json_object_object_add(root, "resourceSpans", rs_arr);
	n = enc->n_spans;
	enc->spans = NULL;
	enc->n_spans = 0;
	txt = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (txt) {
		out = strdup(txt);
		if (out) {
			*len = strlen(out);
			*spans = n;
		}
	}
	json_object_put(root);
	enc->spans = json_object_new_array();
	return out;
drop:
	/* Out of memory: the batch is lost, the encoder stays usable. */
	json_object_put(enc->spans);
	enc->spans = json_object_new_array();
	enc->n_spans = 0;
	return NULL;
}
