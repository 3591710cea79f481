/*
 * agg.c - aggregation of IOAM traces by (trace-id, span-id, direction).
 *
 * A pool of requests, a chained hash table over it (indices, not
 * pointers, to keep records small), and two intrusive lists: one ordered
 * by last activity (idle flush, eviction of the least recently active)
 * and one by creation (maximum age). Everything is O(1) per trace.
 *
 * Memory follows the load: the pool and the tables are anonymous mappings
 * reserved at the bound and never initialised, records are handed out in
 * order (recycled ones first), and bucket heads are stored as index + 1 so
 * that an untouched (zero) page already means "empty". A table of 16384
 * requests reserves 16 MiB but costs only what is in use.
 *
 * The "recently emitted" set (late traces) is a ring of fingerprints in
 * emission order with its own chained hash: the oldest is forgotten when
 * the ring is full, and a fingerprint older than the window no longer
 * counts.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "agg.h"

#define NIL UINT32_MAX

struct agg_list {
	uint32_t head, tail;
};

/* One emitted request: a 64-bit fingerprint of its IDs (a collision
 * between live requests is about n / 2^64 per trace), its last packet. */
struct agg_late {
	uint64_t fp;
	uint64_t last_ns;
	uint32_t hnext; /* chain, NIL-terminated */
};

struct agg {
	struct agg_config cfg;
	agg_emit_fn emit;
	void *arg;
	struct agg_request *pool;
	uint32_t *buckets;  /* index + 1, 0 = empty */
	uint32_t mask;
	uint32_t free_head; /* recycled records, through hnext */
	uint32_t unused;    /* records from here on were never used */
	struct agg_list lru, age;
	struct agg_stats st;
	/* Recently emitted requests. */
	struct agg_late *late;
	uint32_t *late_buckets; /* index + 1, 0 = empty */
	uint32_t late_mask;
	uint32_t late_oldest, late_n;
	size_t pool_size, buckets_size, late_size, late_buckets_size;
};

/* Zeroed memory whose pages cost nothing until written. */
static void *agg_reserve(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		       -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static void agg_unreserve(void *p, size_t size)
{
	if (p)
		munmap(p, size);
}

static uint64_t agg_hash64(const uint8_t trace_id[16], const uint8_t span_id[8], bool response)
{
	uint64_t a, b, c;

	/* The IDs are random by the W3C rules; mixing three words is plenty. */
	memcpy(&a, trace_id, 8);
	memcpy(&b, trace_id + 8, 8);
	memcpy(&c, span_id, 8);
	a ^= b * 0x9e3779b97f4a7c15ull ^ c * 0xc2b2ae3d27d4eb4full;
	a ^= response ? 0x5851f42d4c957f2dull : 0;
	a ^= a >> 29;
	a *= 0xbf58476d1ce4e5b9ull;
	a ^= a >> 32;
	return a;
}

static uint32_t agg_hash(const uint8_t trace_id[16], const uint8_t span_id[8], bool response)
{
	return (uint32_t)agg_hash64(trace_id, span_id, response);
}

/* The direction a trace's packet travelled: the CLT trailer v2's flag (v1: a request). */
static bool trace_response(const struct ioam_trace *t)
{
	return t->trailer_version >= 2 && (t->trailer_flags & CLT_TRAILER_F_RESPONSE);
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

static uint32_t table_size(uint32_t n)
{
	uint32_t nb = 1;

	/* Load factor at most 1/2: chains stay short. */
	while (nb < n * 2u)
		nb <<= 1;
	return nb;
}

struct agg *agg_new(const struct agg_config *cfg, agg_emit_fn emit, void *arg)
{
	struct agg *agg;
	uint32_t nb;

	if (!cfg || cfg->max_requests == 0 || cfg->max_requests > (1u << 26) ||
	    cfg->late_max > (1u << 26) || !emit)
		return NULL;
	agg = calloc(1, sizeof(*agg));
	if (!agg)
		return NULL;
	agg->cfg = *cfg;
	agg->emit = emit;
	agg->arg = arg;
	nb = table_size(cfg->max_requests);
	agg->mask = nb - 1;
	agg->pool_size = (size_t)cfg->max_requests * sizeof(*agg->pool);
	agg->buckets_size = (size_t)nb * sizeof(*agg->buckets);
	agg->pool = agg_reserve(agg->pool_size);
	agg->buckets = agg_reserve(agg->buckets_size);
	if (!agg->pool || !agg->buckets)
		goto fail;
	if (cfg->late_window_ns && cfg->late_max) {
		nb = table_size(cfg->late_max);
		agg->late_mask = nb - 1;
		agg->late_size = (size_t)cfg->late_max * sizeof(*agg->late);
		agg->late_buckets_size = (size_t)nb * sizeof(*agg->late_buckets);
		agg->late = agg_reserve(agg->late_size);
		agg->late_buckets = agg_reserve(agg->late_buckets_size);
		if (!agg->late || !agg->late_buckets)
			goto fail;
	}
	agg->free_head = NIL;
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
	agg_unreserve(agg->pool, agg->pool_size);
	agg_unreserve(agg->buckets, agg->buckets_size);
	agg_unreserve(agg->late, agg->late_size);
	agg_unreserve(agg->late_buckets, agg->late_buckets_size);
	free(agg);
}

static uint32_t agg_find(struct agg *agg, const uint8_t tid[16], const uint8_t sid[8], bool resp,
			 uint32_t h)
{
	for (uint32_t i = agg->buckets[h & agg->mask] - 1; i != NIL; i = agg->pool[i].hnext) {
		const struct agg_request *r = &agg->pool[i];

		if (r->response == resp && memcmp(r->span_id, sid, 8) == 0 &&
		    memcmp(r->trace_id, tid, 16) == 0)
			return i;
	}
	return NIL;
}

/* Unlink @i from the chain starting at *head (stored as index + 1). */
static void chain_remove(uint32_t *head, uint32_t i, uint32_t next_of_i, uint32_t *(*next)(void *, uint32_t),
			 void *base)
{
	uint32_t j = *head - 1;

	if (j == i) {
		*head = next_of_i + 1;
		return;
	}
	while (j != NIL) {
		uint32_t *pn = next(base, j);

		if (*pn == i) {
			*pn = next_of_i;
			return;
		}
		j = *pn;
	}
}

static uint32_t *pool_next(void *base, uint32_t i)
{
	return &((struct agg_request *)base)[i].hnext;
}

static uint32_t *late_next(void *base, uint32_t i)
{
	return &((struct agg_late *)base)[i].hnext;
}

/* Remember an emitted request; the oldest is forgotten when full. */
static void late_remember(struct agg *agg, const struct agg_request *r)
{
	uint64_t fp = agg_hash64(r->trace_id, r->span_id, r->response);
	uint32_t i, *head;
	struct agg_late *e;

	if (agg->late_n == agg->cfg.late_max) {
		i = agg->late_oldest;
		e = &agg->late[i];
		chain_remove(&agg->late_buckets[e->fp & agg->late_mask], i, e->hnext, late_next,
			     agg->late);
		agg->late_oldest = agg->late_oldest + 1 == agg->cfg.late_max ? 0 : agg->late_oldest + 1;
		agg->late_n--;
	}
	i = agg->late_oldest + agg->late_n;
	if (i >= agg->cfg.late_max)
		i -= agg->cfg.late_max;
	e = &agg->late[i];
	head = &agg->late_buckets[fp & agg->late_mask];
	e->fp = fp;
	e->last_ns = r->last_seen_ns;
	e->hnext = *head - 1;
	*head = i + 1;
	agg->late_n++;
}

/* Whether a trace of (@tid, @sid) seen at @now_ns belongs to a request emitted within the window. */
static bool late_check(const struct agg *agg, const uint8_t tid[16], const uint8_t sid[8], bool resp,
		       uint64_t now_ns)
{
	uint64_t fp = agg_hash64(tid, sid, resp);

	for (uint32_t i = agg->late_buckets[fp & agg->late_mask] - 1; i != NIL; i = agg->late[i].hnext) {
		const struct agg_late *e = &agg->late[i];

		/* Newest first: the first match decides. A clock going back counts as within. */
		if (e->fp == fp)
			return now_ns < e->last_ns || now_ns - e->last_ns <= agg->cfg.late_window_ns;
	}
	return false;
}

/* Emit request @i and return its record to the free list. */
static void agg_release(struct agg *agg, uint32_t i, enum agg_reason why)
{
	struct agg_request *r = &agg->pool[i];

	chain_remove(&agg->buckets[agg_hash(r->trace_id, r->span_id, r->response) & agg->mask], i,
		     r->hnext, pool_next, agg->pool);
	list_unlink(agg, &agg->lru, i, true);
	list_unlink(agg, &agg->age, i, false);
	agg->st.emitted++;
	if (why == AGG_EVICTED)
		agg->st.evicted++;
	agg->st.held--;
	agg->emit(agg->arg, r, why);
	/* At its maximum age a request is still active: what follows is a continuation, not late. */
	if (agg->late && why != AGG_MAX_AGE)
		late_remember(agg, r);
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

		/* The first hop's delay is from the source's egress time, when
		 * the trailer (v2) has one. */
		agg_hop_add(&r->hops[i], &t->nodes[i], t_ns, i ? prev_ns : t->egress_ns, i >= r->n_hops);
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

static bool nonzero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return true;
	return false;
}

bool agg_trace_tagged(const struct ioam_trace *t)
{
	return t->has_ids && nonzero(t->trace_id, 16) && nonzero(t->span_id, 8);
}

int agg_add(struct agg *agg, const struct ioam_trace *t, uint64_t now_ns)
{
	uint32_t h, i, *head;
	struct agg_request *r;
	bool resp = trace_response(t);

	if (!agg_trace_tagged(t))
		return -ENOENT;
	h = agg_hash(t->trace_id, t->span_id, resp);
	i = agg_find(agg, t->trace_id, t->span_id, resp, h);
	if (i != NIL) {
		r = &agg->pool[i];
		list_unlink(agg, &agg->lru, i, true);
		list_append(agg, &agg->lru, i, true);
		agg_merge(agg, r, t, now_ns, false);
		agg->st.traces++;
		return 0;
	}
	if (agg->late && late_check(agg, t->trace_id, t->span_id, resp, now_ns)) {
		agg->st.late++;
		return -EALREADY;
	}
	if (agg->free_head == NIL && agg->unused == agg->cfg.max_requests)
		agg_release(agg, agg->lru.head, AGG_EVICTED);
	if (agg->free_head != NIL) {
		i = agg->free_head;
		agg->free_head = agg->pool[i].hnext;
	} else {
		i = agg->unused++;
	}
	r = &agg->pool[i];
	memset(r, 0, offsetof(struct agg_request, hnext));
	memcpy(r->trace_id, t->trace_id, 16);
	memcpy(r->span_id, t->span_id, 8);
	r->response = resp;
	head = &agg->buckets[h & agg->mask];
	r->hnext = *head - 1;
	*head = i + 1;
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
