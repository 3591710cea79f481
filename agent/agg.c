/*
 * agg.c - aggregation of IOAM traces by (trace-id, span-id).
 *
 * A fixed pool of requests, a chained hash table over it (indices, not
 * pointers, to keep records small), and two intrusive lists: one ordered
 * by last activity (idle flush, eviction of the least recently active)
 * and one by creation (maximum age). Everything is O(1) per trace.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "agg.h"

#define NIL UINT32_MAX

struct agg_list {
	uint32_t head, tail;
};

struct agg {
	struct agg_config cfg;
	agg_emit_fn emit;
	void *arg;
	struct agg_request *pool;
	uint32_t *buckets;
	uint32_t mask;
	uint32_t free_head; /* free list through hnext */
	struct agg_list lru, age;
	struct agg_stats st;
};

static uint32_t agg_hash(const uint8_t trace_id[16], const uint8_t span_id[8])
{
	uint64_t a, b, c;

	/* The IDs are random by the W3C rules; mixing three words is plenty. */
	memcpy(&a, trace_id, 8);
	memcpy(&b, trace_id + 8, 8);
	memcpy(&c, span_id, 8);
	a ^= b * 0x9e3779b97f4a7c15ull ^ c * 0xc2b2ae3d27d4eb4full;
	a ^= a >> 29;
	a *= 0xbf58476d1ce4e5b9ull;
	return (uint32_t)(a >> 32);
}

/* The two lists use different link fields of the same record. */
static uint32_t *link_prev(struct agg *agg, uint32_t i, bool lru)
{
	return lru ? &agg->pool[i].lru_prev : &agg->pool[i].age_prev;
}

static uint32_t *link_next(struct agg *agg, uint32_t i, bool lru)
{
	return lru ? &agg->pool[i].lru_next : &agg->pool[i].age_next;
}

static void list_unlink(struct agg *agg, struct agg_list *l, uint32_t i, bool lru)
{
	uint32_t p = *link_prev(agg, i, lru), n = *link_next(agg, i, lru);

	if (p != NIL)
		*link_next(agg, p, lru) = n;
	else
		l->head = n;
	if (n != NIL)
		*link_prev(agg, n, lru) = p;
	else
		l->tail = p;
	*link_prev(agg, i, lru) = NIL;
	*link_next(agg, i, lru) = NIL;
}

static void list_append(struct agg *agg, struct agg_list *l, uint32_t i, bool lru)
{
	*link_prev(agg, i, lru) = l->tail;
	*link_next(agg, i, lru) = NIL;
	if (l->tail != NIL)
		*link_next(agg, l->tail, lru) = i;
	else
		l->head = i;
	l->tail = i;
}

struct agg *agg_new(const struct agg_config *cfg, agg_emit_fn emit, void *arg)
{
	struct agg *agg;
	uint32_t nb = 1;

	if (!cfg || cfg->max_requests == 0 || cfg->max_requests > (1u << 26) || !emit)
		return NULL;
	agg = calloc(1, sizeof(*agg));
	if (!agg)
		return NULL;
	agg->cfg = *cfg;
	agg->emit = emit;
	agg->arg = arg;
	while (nb < cfg->max_requests * 2u)
		nb <<= 1;
	agg->mask = nb - 1;
	agg->pool = calloc(cfg->max_requests, sizeof(*agg->pool));
	agg->buckets = malloc((size_t)nb * sizeof(*agg->buckets));
	if (!agg->pool || !agg->buckets)
		goto fail;
	for (uint32_t i = 0; i < nb; i++)
		agg->buckets[i] = NIL;
	for (uint32_t i = 0; i < cfg->max_requests; i++)
		agg->pool[i].hnext = i + 1 < cfg->max_requests ? i + 1 : NIL;
	agg->free_head = 0;
	agg->lru.head = agg->lru.tail = NIL;
	agg->age.head = agg->age.tail = NIL;
	return agg;
fail:
	agg_free(agg);
	return NULL;
}

void agg_free(struct agg *agg)
{
	if (!agg)
		return;
	free(agg->pool);
	free(agg->buckets);
	free(agg);
}

static uint32_t agg_find(struct agg *agg, const uint8_t tid[16], const uint8_t sid[8], uint32_t h)
{
	for (uint32_t i = agg->buckets[h & agg->mask]; i != NIL; i = agg->pool[i].hnext) {
		const struct agg_request *r = &agg->pool[i];

		if (memcmp(r->span_id, sid, 8) == 0 && memcmp(r->trace_id, tid, 16) == 0)
			return i;
	}
	return NIL;
}

/* Emit request @i and return its record to the free list. */
static void agg_release(struct agg *agg, uint32_t i, enum agg_reason why)
{
	struct agg_request *r = &agg->pool[i];
	uint32_t *pp = &agg->buckets[agg_hash(r->trace_id, r->span_id) & agg->mask];

	while (*pp != i)
		pp = &agg->pool[*pp].hnext;
	*pp = r->hnext;
	list_unlink(agg, &agg->lru, i, true);
	list_unlink(agg, &agg->age, i, false);
	agg->st.emitted++;
	if (why == AGG_EVICTED)
		agg->st.evicted++;
	agg->st.held--;
	agg->emit(agg->arg, r, why);
	r->hnext = agg->free_head;
	agg->free_head = i;
}

void agg_hop_add(struct agg_hop *hop, const struct ioam_node *node, uint64_t t_ns,
		 uint64_t prev_ns, bool first)
{
	uint32_t f = node->fields;

	if (first) {
		memset(hop, 0, sizeof(*hop));
		hop->delay_min_ns = UINT64_MAX;
		hop->node_id = node->node_id;
		hop->node_id_wide = node->node_id_wide;
	} else if (((f & IOAM_TT_HOP_NODE) && node->node_id != hop->node_id) ||
		   ((f & IOAM_TT_HOP_NODE_WIDE) && node->node_id_wide != hop->node_id_wide)) {
		hop->node_changed = true;
	}
	hop->fields |= f;
	hop->packets++;
	if (f & (IOAM_TT_HOP_NODE | IOAM_TT_HOP_NODE_WIDE))
		hop->hop_limit = node->hop_limit;
	if (f & IOAM_TT_IF_SHORT) {
		hop->ingress_if = node->ingress_if;
		hop->egress_if = node->egress_if;
	}
	if (f & IOAM_TT_IF_WIDE) {
		hop->ingress_if = node->ingress_if_wide;
		hop->egress_if = node->egress_if_wide;
	}
	if (f & IOAM_TT_NSDATA_SHORT)
		hop->ns_data = node->ns_data;
	if (f & IOAM_TT_NSDATA_WIDE)
		hop->ns_data_wide = node->ns_data_wide;
	if ((f & IOAM_TT_QUEUE) && node->queue_depth != UINT32_MAX) {
		if (!hop->queue_seen || node->queue_depth > hop->queue_max)
			hop->queue_max = node->queue_depth;
		hop->queue_seen = true;
	}
	if ((f & IOAM_TT_BUFFER) && node->buffer_occupancy != UINT32_MAX &&
	    node->buffer_occupancy > hop->buffer_max)
		hop->buffer_max = node->buffer_occupancy;
	if ((f & IOAM_TT_TRANSIT) && node->transit_delay != UINT32_MAX &&
	    node->transit_delay > hop->transit_max)
		hop->transit_max = node->transit_delay;
	if (f & IOAM_TT_OPAQUE) {
		hop->opaque_len = node->opaque_len;
		hop->opaque_schema = node->opaque_schema;
		hop->opaque_head = 0;
		for (unsigned int k = 0; k < 4 && k < node->opaque_len && node->opaque; k++)
			hop->opaque_head |= (uint32_t)node->opaque[k] << (24 - 8 * k);
	}
	if (t_ns) {
		uint64_t start = prev_ns ? prev_ns : t_ns;

		if (!hop->end_ns || start < hop->start_ns)
			hop->start_ns = start;
		if (t_ns > hop->end_ns)
			hop->end_ns = t_ns;
		/* A node clock behind its predecessor gives no usable delay. */
		if (prev_ns && t_ns >= prev_ns) {
			uint64_t d = t_ns - prev_ns;

			hop->delay_sum_ns += d;
			hop->delay_n++;
			if (d < hop->delay_min_ns)
				hop->delay_min_ns = d;
			if (d > hop->delay_max_ns)
				hop->delay_max_ns = d;
		}
	}
}

static void agg_merge(struct agg *agg, struct agg_request *r, const struct ioam_trace *t,
		      uint64_t now_ns, bool fresh)
{
	unsigned int n = t->n_nodes;
	uint64_t prev_ns = 0;

	if (n > AGG_MAX_HOPS) {
		r->hops_truncated++;
		n = AGG_MAX_HOPS;
	}
	for (unsigned int i = 0; i < n; i++) {
		uint64_t t_ns = ioam_node_time_ns(&t->nodes[i], agg->cfg.frac_unit_ns);

		agg_hop_add(&r->hops[i], &t->nodes[i], t_ns, i ? prev_ns : 0, i >= r->n_hops);
		prev_ns = t_ns;
	}
	if (n > r->n_hops)
		r->n_hops = (uint8_t)n;
	if (fresh)
		r->first_seen_ns = now_ns;
	r->last_seen_ns = now_ns;
	r->packets++;
	r->flags_seen |= t->flags;
	r->trace_type = t->trace_type;
	r->namespace_id = t->namespace_id;
}

int agg_add(struct agg *agg, const struct ioam_trace *t, uint64_t now_ns)
{
	uint32_t h, i;
	struct agg_request *r;

	if (!t->has_ids)
		return -ENOENT;
	h = agg_hash(t->trace_id, t->span_id);
	i = agg_find(agg, t->trace_id, t->span_id, h);
	if (i != NIL) {
		r = &agg->pool[i];
		list_unlink(agg, &agg->lru, i, true);
		list_append(agg, &agg->lru, i, true);
		agg_merge(agg, r, t, now_ns, false);
		agg->st.traces++;
		return 0;
	}
	if (agg->free_head == NIL)
		agg_release(agg, agg->lru.head, AGG_EVICTED);
	i = agg->free_head;
	r = &agg->pool[i];
	agg->free_head = r->hnext;
	memset(r, 0, offsetof(struct agg_request, hnext));
	memcpy(r->trace_id, t->trace_id, 16);
	memcpy(r->span_id, t->span_id, 8);
	r->hnext = agg->buckets[h & agg->mask];
	agg->buckets[h & agg->mask] = i;
	r->lru_prev = r->lru_next = r->age_prev = r->age_next = NIL;
	list_append(agg, &agg->lru, i, true);
	list_append(agg, &agg->age, i, false);
	agg_merge(agg, r, t, now_ns, true);
	agg->st.traces++;
	agg->st.requests++;
	agg->st.held++;
	return 0;
}

unsigned int agg_expire(struct agg *agg, uint64_t now_ns)
{
	unsigned int n = 0;
	uint32_t i;

	while ((i = agg->age.head) != NIL && now_ns - agg->pool[i].first_seen_ns >= agg->cfg.max_age_ns &&
	       now_ns >= agg->pool[i].first_seen_ns) {
		agg_release(agg, i, AGG_MAX_AGE);
		n++;
	}
	while ((i = agg->lru.head) != NIL && now_ns >= agg->pool[i].last_seen_ns &&
	       now_ns - agg->pool[i].last_seen_ns >= agg->cfg.idle_ns) {
		agg_release(agg, i, AGG_IDLE);
		n++;
	}
	return n;
}

unsigned int agg_flush(struct agg *agg)
{
	unsigned int n = 0;

	while (agg->age.head != NIL) {
		agg_release(agg, agg->age.head, AGG_FLUSH);
		n++;
	}
	return n;
}

void agg_get_stats(const struct agg *agg, struct agg_stats *out)
{
	*out = agg->st;
}
