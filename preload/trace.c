/*
 * trace.c - IDs, sampling and the thread's active SERVER span.
 *
 * The propagation rule (tx.c applies it, client.c makes the CLIENT
 * span): a SERVER span is active on the thread that read its request's
 * header block, from then until its response's last byte
 * was written. An outgoing request made on a thread with exactly one
 * active SERVER span belongs to it. With two or more (an event loop
 * serving several connections on one thread) the thread is ambiguous and
 * the request belongs to nothing: attaching nothing is better than
 * attaching wrongly. Where it stops: a thread pool that reads on one
 * thread and calls downstream from another, and async runtimes that
 * interleave requests on one thread, get no parent (the ambiguity rule)
 * or, when the reader thread serves one request at a time but hands the
 * downstream call to a worker, none for the worker's call.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "shim.h"
#include "trace.h"

struct thread_server {
	unsigned int n;      /* active SERVER spans read on this thread */
	uint64_t token;      /* the last one begun */
	bool known;          /* that one is still active: with n == 1 it is the one */
	bool sampled;
	uint8_t trace_id[16];
	uint8_t span_id[8];
};

static __thread struct thread_server cur;
static __thread uint64_t rng_s[2];
static atomic_long servers_in_flight;

static uint64_t rng_next(void)
{
	uint64_t s1 = rng_s[0];
	const uint64_t s0 = rng_s[1];

	if (!(rng_s[0] | rng_s[1])) {
		/* Drawn inside the application's send: a refused getrandom() is not its errno. */
		int saved = errno;

		if (getrandom(rng_s, sizeof(rng_s), GRND_NONBLOCK) != sizeof(rng_s) ||
		    !(rng_s[0] | rng_s[1])) {
			rng_s[0] = (uint64_t)trace_now_ns() | 1;
			rng_s[1] = (uint64_t)(uintptr_t)&cur ^ 0x9e3779b97f4a7c15ull;
		}
		errno = saved;
		return rng_next();
	}
	/* xorshift128+: IDs need uniqueness, not secrecy. */
	rng_s[0] = s0;
	s1 ^= s1 << 23;
	rng_s[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
	return rng_s[1] + s0;
}

static void fill(uint8_t *out, size_t n)
{
	do {
		for (size_t i = 0; i < n; i += 8) {
			uint64_t v = rng_next();

			memcpy(out + i, &v, n - i < 8 ? n - i : 8);
		}
	} while (n && !memcmp(out, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", n));
}

void trace_new_trace_id(uint8_t out[16])
{
	fill(out, 16);
}

void trace_new_span_id(uint8_t out[8])
{
	fill(out, 8);
}

uint64_t trace_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

bool trace_sample(const uint8_t trace_id[16], bool has_parent, bool parent_sampled)
{
	uint64_t low = 0;

	if (has_parent && shim_cfg.parent_based)
		return parent_sampled;
	switch (shim_cfg.sampler) {
	case SAMPLER_ALWAYS_OFF:
		return false;
	case SAMPLER_RATIO:
		/* The trace ID's last 8 octets, as the SDKs compare them. */
		for (int i = 8; i < 16; i++)
			low = (low << 8) | trace_id[i];
		if (shim_cfg.ratio >= 1.0)
			return true;
		return (double)(low >> 1) < shim_cfg.ratio * (double)(UINT64_MAX >> 1);
	default:
		return true;
	}
}

void trace_server_begin(const uint8_t trace_id[16], const uint8_t span_id[8], bool sampled,
			uint64_t token)
{
	/* None in flight anywhere: what this thread still counts ended on another thread. */
	if (atomic_fetch_add_explicit(&servers_in_flight, 1, memory_order_relaxed) == 0)
		cur.n = 0;
	cur.n++;
	cur.token = token;
	cur.known = true;
	cur.sampled = sampled;
	memcpy(cur.trace_id, trace_id, 16);
	memcpy(cur.span_id, span_id, 8);
}

void trace_fork_child(void)
{
	atomic_store_explicit(&servers_in_flight, 0, memory_order_relaxed);
	cur.n = 0;
}

uintptr_t trace_thread_key(void)
{
	return (uintptr_t)&cur;
}

void trace_server_end(uint64_t token, uintptr_t began_on)
{
	atomic_fetch_sub_explicit(&servers_in_flight, 1, memory_order_relaxed);
	/* Only the thread that began it holds its count. Ended on another (a
	 * worker wrote the response), the reader keeps counting it: it stays
	 * ambiguous, which attaches nothing - never something wrong. */
	if (began_on == trace_thread_key() && cur.n) {
		cur.n--;
		/* The last one begun ended before an earlier one (an event loop: A waits
		 * for something, B comes and goes): the one left is not the one whose IDs
		 * are kept, so the thread stays ambiguous until it serves none. */
		if (token == cur.token)
			cur.known = false;
	}
}

bool trace_thread_server(uint8_t trace_id[16], uint8_t span_id[8], bool *sampled,
			 bool *any_in_flight)
{
	*any_in_flight = atomic_load_explicit(&servers_in_flight, memory_order_relaxed) > 0;
	/* Counted here but none in flight: it ended on another thread, and is no parent. */
	if (cur.n != 1 || !cur.known || !*any_in_flight)
		return false;
	memcpy(trace_id, cur.trace_id, 16);
	memcpy(span_id, cur.span_id, 8);
	*sampled = cur.sampled;
	return true;
}
