/*
 * test_otlp.c - OTLP/JSON encoding checked field by field against the
 * OTLP JSON rules: lowercase hex ids of the right length, 64-bit
 * integers as decimal strings, enums as integers, span flags, parent
 * links, resource (semantic conventions) and scope, valid UTF-8.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "otlp.h"

static bool is_lower_hex(const char *s, size_t n)
{
	if (strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return strspn(s, "0") != n; /* all-zero ids are invalid */
}

static bool is_decimal(const char *s)
{
	return *s && strspn(s, "0123456789") == strlen(s);
}

static json_object *get(json_object *o, const char *key)
{
	json_object *v = NULL;

	assert_true(json_object_object_get_ex(o, key, &v));
	return v;
}

static const char *str(json_object *o, const char *key)
{
	json_object *v = get(o, key);

	assert_true(json_object_is_type(v, json_type_string));
	return json_object_get_string(v);
}

/* The value object of attribute @key, or NULL. */
static json_object *attr(json_object *span, const char *key)
{
	json_object *a = get(span, "attributes");

	for (size_t i = 0; i < json_object_array_length(a); i++) {
		json_object *kv = json_object_array_get_idx(a, i);

		if (strcmp(str(kv, "key"), key) == 0)
			return get(kv, "value");
	}
	return NULL;
}

static int span_flags(json_object *span)
{
	json_object *v = get(span, "flags");

	assert_true(json_object_is_type(v, json_type_int)); /* fixed32: a number */
	return json_object_get_int(v);
}

static const char *attr_int(json_object *span, const char *key)
{
	json_object *v = attr(span, key);

	assert_non_null(v);
	return str(v, "intValue");
}

static const struct otlp_node_name names[] = {{3, (char *)"aramis"}};
static const struct otlp_kv res[] = {{(char *)"deployment.environment", (char *)"test"}};

static struct otlp_encoder *new_encoder(void)
{
	struct otlp_config cfg = {
		.service_name = "svc-under-test",
		.resource = res,
		.n_resource = 1,
		.names = names,
		.n_names = 1,
		.frac_unit_ns = 1000,
		.version = "9.9",
	};
	struct otlp_encoder *enc = otlp_new(&cfg);

	assert_non_null(enc);
	return enc;
}

static json_object *finish(struct otlp_encoder *enc, size_t want_spans, json_object **spans)
{
	size_t len, n;
	char *body = otlp_finish(enc, &len, &n);
	json_object *doc, *rs, *ss, *scope, *resattrs;

	assert_non_null(body);
	assert_int_equal(n, want_spans);
	assert_int_equal(strlen(body), len);
	doc = json_tokener_parse(body);
	free(body);
	assert_non_null(doc);
	rs = json_object_array_get_idx(get(doc, "resourceSpans"), 0);
	resattrs = get(get(rs, "resource"), "attributes");
	assert_string_equal(str(json_object_array_get_idx(resattrs, 0), "key"), "service.name");
	assert_string_equal(str(get(json_object_array_get_idx(resattrs, 0), "value"), "stringValue"),
			    "svc-under-test");
	assert_string_equal(str(json_object_array_get_idx(resattrs, 1), "key"),
			    "deployment.environment");
	ss = json_object_array_get_idx(get(rs, "scopeSpans"), 0);
	scope = get(ss, "scope");
	assert_string_equal(str(scope, "name"), "clt");
	assert_string_equal(str(scope, "version"), "9.9");
	*spans = get(ss, "spans");
	assert_int_equal(json_object_array_length(*spans), want_spans);
	return doc;
}

static void fill_request(struct agg_request *r)
{
	memset(r, 0, sizeof(*r));
	for (int i = 0; i < 16; i++)
		r->trace_id[i] = (uint8_t)(0xA0 + i);
	for (int i = 0; i < 8; i++)
		r->span_id[i] = (uint8_t)(0xB0 + i);
	r->namespace_id = 123;
	r->trace_type = 0xf20000;
	r->packets = 4;
	r->n_hops = 2;
	r->hops[0].fields = IOAM_TT_HOP_NODE | IOAM_TT_IF_SHORT | IOAM_TT_TS_SEC | IOAM_TT_TS_FRAC;
	r->hops[0].node_id = 2;
	r->hops[0].hop_limit = 63;
	r->hops[0].ingress_if = 21;
	r->hops[0].egress_if = 22;
	r->hops[0].packets = 4;
	r->hops[0].start_ns = 1700000000000000000ull;
	r->hops[0].end_ns = 1700000000000500000ull;
	r->hops[1] = r->hops[0];
	r->hops[1].node_id = 3;
	r->hops[1].ingress_if = 31;
	r->hops[1].start_ns = 1700000000000000000ull;
	r->hops[1].end_ns = 1700000000250000000ull;
	r->hops[1].delay_n = 4;
	r->hops[1].delay_min_ns = 200000000;
	r->hops[1].delay_max_ns = 250000000;
	r->hops[1].delay_sum_ns = 4 * 210000000ull;
	r->hops[1].queue_seen = true;
	r->hops[1].queue_max = 7;
}

static void test_request_spans(void **state)
{
	struct otlp_encoder *enc = new_encoder();
	struct agg_request r;
	json_object *doc, *spans, *net, *h1, *h2;
	const char *net_id;

	fill_request(&r);
	assert_int_equal(otlp_add_request(enc, &r), 3);
	assert_int_equal(otlp_pending(enc), 3);
	doc = finish(enc, 3, &spans);
	assert_int_equal(otlp_pending(enc), 0);
	net = json_object_array_get_idx(spans, 0);
	h1 = json_object_array_get_idx(spans, 1);
	h2 = json_object_array_get_idx(spans, 2);

	/* Network span: child of the request's span, in its trace. */
	assert_string_equal(str(net, "traceId"), "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf");
	assert_string_equal(str(net, "parentSpanId"), "b0b1b2b3b4b5b6b7");
	net_id = str(net, "spanId");
	assert_true(is_lower_hex(net_id, 16));
	assert_string_equal(str(net, "name"), "network: node 2 → aramis");
	assert_true(json_object_is_type(get(net, "kind"), json_type_int));
	assert_int_equal(json_object_get_int(get(net, "kind")), OTLP_SPAN_KIND_INTERNAL);
	assert_true(is_decimal(str(net, "startTimeUnixNano")));
	assert_string_equal(str(net, "startTimeUnixNano"), "1700000000000000000");
	assert_string_equal(str(net, "endTimeUnixNano"), "1700000000250000000");
	assert_int_equal(json_object_get_int(get(get(net, "status"), "code")), 0);
	/* Sampled; the parent (the request's span) is in another process. */
	assert_int_equal(span_flags(net), 0x301);
	assert_int_equal(span_flags(h1), 0x101);
	assert_string_equal(str(attr(net, "network.type"), "stringValue"), "ipv6");
	assert_string_equal(attr_int(net, "ioam.namespace"), "123");
	assert_string_equal(attr_int(net, "ioam.packets"), "4");
	assert_string_equal(attr_int(net, "ioam.hops"), "2");
	assert_string_equal(str(attr(net, "ioam.trace_type"), "stringValue"), "0xf20000");
	assert_string_equal(str(attr(net, "ioam.path"), "stringValue"), "node 2 → aramis");

	/* Hop spans: children of the network span, in path order. */
	assert_string_equal(str(h1, "parentSpanId"), net_id);
	assert_string_equal(str(h2, "parentSpanId"), net_id);
	assert_string_equal(str(h1, "traceId"), "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf");
	assert_true(is_lower_hex(str(h1, "spanId"), 16));
	assert_string_not_equal(str(h1, "spanId"), str(h2, "spanId"));
	assert_string_equal(str(h1, "name"), "hop 1: node 2");
	assert_string_equal(str(h2, "name"), "hop 2: aramis");
	assert_string_equal(attr_int(h1, "ioam.hop.index"), "1");
	assert_string_equal(attr_int(h2, "ioam.hop.index"), "2");
	assert_string_equal(attr_int(h1, "ioam.node.id"), "2");
	assert_string_equal(attr_int(h2, "ioam.node.id"), "3");
	assert_string_equal(str(attr(h2, "ioam.node.name"), "stringValue"), "aramis");
	assert_string_equal(attr_int(h1, "ioam.hop_limit"), "63");
	assert_string_equal(attr_int(h2, "ioam.if.ingress"), "31");
	assert_string_equal(attr_int(h2, "ioam.if.egress"), "22");
	assert_string_equal(attr_int(h2, "ioam.delay.min_ns"), "200000000");
	assert_string_equal(attr_int(h2, "ioam.delay.avg_ns"), "210000000");
	assert_string_equal(attr_int(h2, "ioam.delay.max_ns"), "250000000");
	assert_string_equal(attr_int(h2, "ioam.queue_depth.max"), "7");
	assert_null(attr(h1, "ioam.delay.min_ns")); /* the first node has no predecessor */
	assert_null(attr(h1, "ioam.queue_depth.max"));
	assert_string_equal(str(h2, "startTimeUnixNano"), "1700000000000000000");
	assert_string_equal(str(h2, "endTimeUnixNano"), "1700000000250000000");
	json_object_put(doc);
	otlp_free(enc);
}

/* A response's spans (the trailer's direction flag) say so in their names and ioam.direction. */
static void test_response_spans(void **state)
{
	struct otlp_encoder *enc = new_encoder();
	struct agg_request r;
	json_object *doc, *spans, *net, *h2;

	fill_request(&r);
	r.response = true;
	assert_int_equal(otlp_add_request(enc, &r), 3);
	doc = finish(enc, 3, &spans);
	net = json_object_array_get_idx(spans, 0);
	h2 = json_object_array_get_idx(spans, 2);
	assert_string_equal(str(net, "name"), "network (response): node 2 → aramis");
	assert_string_equal(str(net, "parentSpanId"), "b0b1b2b3b4b5b6b7");
	assert_string_equal(str(attr(net, "ioam.direction"), "stringValue"), "response");
	assert_string_equal(str(h2, "name"), "hop (response) 2: aramis");
	assert_string_equal(str(attr(h2, "ioam.direction"), "stringValue"), "response");
	json_object_put(doc);
	fill_request(&r);
	enc = (otlp_free(enc), new_encoder());
	assert_int_equal(otlp_add_request(enc, &r), 3);
	doc = finish(enc, 3, &spans);
	assert_string_equal(str(attr(json_object_array_get_idx(spans, 0), "ioam.direction"),
				"stringValue"),
			    "request");
	json_object_put(doc);
	otlp_free(enc);
}

static void test_untagged_root_span(void **state)
{
	struct otlp_encoder *enc = new_encoder();
	struct ioam_trace t;
	json_object *doc, *spans, *s, *v;

	memset(&t, 0, sizeof(t));
	t.namespace_id = 7;
	t.trace_type = 0x800000;
	t.n_nodes = 1;
	t.nodes[0].fields = IOAM_TT_HOP_NODE;
	t.nodes[0].node_id = 42;
	t.nodes[0].hop_limit = 9;
	assert_int_equal(otlp_add_trace(enc, &t, 1234567890123456789ull), 1);
	doc = finish(enc, 1, &spans);
	s = json_object_array_get_idx(spans, 0);
	assert_true(is_lower_hex(str(s, "traceId"), 32));
	assert_true(is_lower_hex(str(s, "spanId"), 16));
	assert_false(json_object_object_get_ex(s, "parentSpanId", &v)); /* a root span */
	assert_int_equal(span_flags(s), 0x01);
	assert_string_equal(str(s, "startTimeUnixNano"), "1234567890123456789");
	assert_string_equal(str(attr(s, "ioam.node.1"), "stringValue"), "id=42 hop_limit=9");
	assert_non_null(attr(s, "ioam.tagged"));
	assert_false(json_object_get_boolean(get(attr(s, "ioam.tagged"), "boolValue")));
	json_object_put(doc);
	otlp_free(enc);
}

static void test_per_packet_tagged(void **state)
{
	struct otlp_encoder *enc = new_encoder();
	struct ioam_trace t;
	json_object *doc, *spans, *s;

	memset(&t, 0, sizeof(t));
	t.has_ids = true;
	memset(t.trace_id, 0x11, 16);
	memset(t.span_id, 0x22, 8);
	t.n_nodes = 2;
	for (int i = 0; i < 2; i++) {
		t.nodes[i].fields = IOAM_TT_HOP_NODE | IOAM_TT_TS_SEC | IOAM_TT_TS_FRAC;
		t.nodes[i].node_id = 2 + (uint32_t)i;
		t.nodes[i].ts_sec = 10;
		t.nodes[i].ts_frac = 100 + 900 * (uint32_t)i;
	}
	assert_int_equal(otlp_add_trace(enc, &t, 1), 1);
	doc = finish(enc, 1, &spans);
	s = json_object_array_get_idx(spans, 0);
	assert_string_equal(str(s, "traceId"), "11111111111111111111111111111111");
	assert_string_equal(str(s, "parentSpanId"), "2222222222222222");
	assert_int_equal(span_flags(s), 0x301);
	assert_string_equal(str(s, "startTimeUnixNano"), "10000100000");
	assert_string_equal(str(s, "endTimeUnixNano"), "10001000000");
	assert_non_null(attr(s, "ioam.node.2"));
	json_object_put(doc);
	otlp_free(enc);
}

static void test_empty_batch_and_ids(void **state)
{
	struct otlp_encoder *enc = new_encoder();
	size_t len = 1, n = 1;
	uint8_t id[8];

	assert_null(otlp_finish(enc, &len, &n));
	assert_int_equal(len, 0);
	assert_int_equal(n, 0);
	for (int i = 0; i < 10000; i++) {
		otlp_random_id(id, sizeof(id));
		assert_true(memcmp(id, "\0\0\0\0\0\0\0\0", 8) != 0);
	}
	otlp_free(enc);
}

/* Names come from the command line and the environment: escaped, never breaking the JSON. */
static void test_escaping(void **state)
{
	static const struct otlp_node_name odd[] = {{2, (char *)"r\"1\\x\n\x01é"}};
	static const struct otlp_kv odd_res[] = {{(char *)"k\"", (char *)"v\t"}};
	struct otlp_config cfg = {.service_name = "s\"q", .resource = odd_res, .n_resource = 1,
				  .names = odd, .n_names = 1};
	struct otlp_encoder *enc = otlp_new(&cfg);
	struct agg_request r;
	size_t len, n;
	char *body;
	json_object *doc, *rs, *spans, *hop, *rattrs;

	fill_request(&r);
	assert_int_equal(otlp_add_request(enc, &r), 3);
	body = otlp_finish(enc, &len, &n);
	assert_non_null(body);
	doc = json_tokener_parse(body);
	free(body);
	assert_non_null(doc);
	rs = json_object_array_get_idx(get(doc, "resourceSpans"), 0);
	rattrs = get(get(rs, "resource"), "attributes");
	assert_string_equal(str(get(json_object_array_get_idx(rattrs, 0), "value"), "stringValue"), "s\"q");
	assert_string_equal(str(json_object_array_get_idx(rattrs, 1), "key"), "k\"");
	assert_string_equal(str(get(json_object_array_get_idx(rattrs, 1), "value"), "stringValue"), "v\t");
	spans = get(json_object_array_get_idx(get(rs, "scopeSpans"), 0), "spans");
	hop = json_object_array_get_idx(spans, 1);
	assert_string_equal(str(hop, "name"), "hop 1: r\"1\\x\n\x01é");
	json_object_put(doc);
	otlp_free(enc);
}

/* All-zero IDs are invalid in OpenTelemetry: such a trace becomes an untagged root span. */
static void test_zero_ids_untagged(void **state)
{
	struct otlp_encoder *enc = new_encoder();
	struct ioam_trace t;
	json_object *doc, *spans, *s, *v;

	memset(&t, 0, sizeof(t));
	t.has_ids = true;
	memset(t.span_id, 0x22, 8); /* trace-id all zero */
	assert_int_equal(otlp_add_trace(enc, &t, 5), 1);
	doc = finish(enc, 1, &spans);
	s = json_object_array_get_idx(spans, 0);
	assert_true(is_lower_hex(str(s, "traceId"), 32));
	assert_false(json_object_object_get_ex(s, "parentSpanId", &v));
	assert_false(json_object_get_boolean(get(attr(s, "ioam.tagged"), "boolValue")));
	json_object_put(doc);
	otlp_free(enc);
}

/* The resource attribute @key's value object, or NULL. */
static json_object *res_attr(json_object *doc, const char *key)
{
	json_object *rs = json_object_array_get_idx(get(doc, "resourceSpans"), 0);
	json_object *a = get(get(rs, "resource"), "attributes");

	for (size_t i = 0; i < json_object_array_length(a); i++) {
		json_object *kv = json_object_array_get_idx(a, i);

		if (strcmp(str(kv, "key"), key) == 0)
			return get(kv, "value");
	}
	return NULL;
}

static json_object *one_batch(const struct otlp_config *cfg)
{
	struct otlp_encoder *enc = otlp_new(cfg);
	struct agg_request r;
	size_t len, n;
	char *body;
	json_object *doc;

	assert_non_null(enc);
	fill_request(&r);
	assert_int_equal(otlp_add_request(enc, &r), 3);
	body = otlp_finish(enc, &len, &n);
	assert_non_null(body);
	doc = json_tokener_parse(body);
	free(body);
	assert_non_null(doc);
	otlp_free(enc);
	return doc;
}

static void test_resource_conventions(void **state)
{
	static const struct otlp_kv given[] = {{(char *)"host.name", (char *)"given-host"},
					       {(char *)"service.name", (char *)"ignored"}};
	struct otlp_config cfg = {.service_name = "cltagent", .service_version = "1.2.3",
				  .host_name = "h1", .pid = 4242};
	json_object *doc = one_batch(&cfg), *v;

	assert_string_equal(str(res_attr(doc, "service.name"), "stringValue"), "cltagent");
	assert_string_equal(str(res_attr(doc, "service.version"), "stringValue"), "1.2.3");
	assert_string_equal(str(res_attr(doc, "host.name"), "stringValue"), "h1");
	assert_string_equal(str(res_attr(doc, "process.pid"), "intValue"), "4242");
	assert_null(res_attr(doc, "telemetry.sdk.name")); /* not an SDK */
	json_object_put(doc);
	/* Given attributes win over what the agent knows; service.name has its own rule. */
	cfg.resource = given;
	cfg.n_resource = 2;
	cfg.pid = 0;
	doc = one_batch(&cfg);
	assert_string_equal(str(res_attr(doc, "host.name"), "stringValue"), "given-host");
	assert_string_equal(str(res_attr(doc, "service.name"), "stringValue"), "cltagent");
	assert_null(res_attr(doc, "process.pid"));
	v = get(get(json_object_array_get_idx(get(doc, "resourceSpans"), 0), "resource"), "attributes");
	assert_int_equal(json_object_array_length(v), 3); /* one host.name, one service.name */
	json_object_put(doc);
}

/* Invalid UTF-8 (a name from the environment, a cut sequence) becomes U+FFFD. */
static void test_invalid_utf8(void **state)
{
	static const struct otlp_node_name bad[] = {{2, (char *)"a\xff\xc3(\xe2\x82\xf0\x9f\x98\x80\xed\xa0\x80z"}};
	struct otlp_config cfg = {.service_name = "x\xc0\xafy", .names = bad, .n_names = 1};
	json_object *doc = one_batch(&cfg);
	json_object *spans = get(json_object_array_get_idx(get(json_object_array_get_idx(
		get(doc, "resourceSpans"), 0), "scopeSpans"), 0), "spans");

	/* Overlong (c0 af), lone continuation, truncated, surrogate (ed a0 80): replaced; 4-octet emoji kept. */
	assert_string_equal(str(res_attr(doc, "service.name"), "stringValue"), "x\uFFFD\uFFFDy");
	assert_string_equal(str(json_object_array_get_idx(spans, 1), "name"),
			    "hop 1: a\uFFFD\uFFFD(\uFFFD\uFFFD\U0001F600\uFFFD\uFFFD\uFFFDz");
	json_object_put(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_spans),
		cmocka_unit_test(test_response_spans),
		cmocka_unit_test(test_untagged_root_span),
		cmocka_unit_test(test_per_packet_tagged),
		cmocka_unit_test(test_empty_batch_and_ids),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_zero_ids_untagged),
		cmocka_unit_test(test_resource_conventions),
		cmocka_unit_test(test_invalid_utf8),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
