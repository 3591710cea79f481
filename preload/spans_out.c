/*
 * spans_out.c - span records to cltagent (see spans_out.h).
 *
 * One lock, held only to append to or take the message buffer and for
 * the one non-blocking send (never a socket lock, never a wait). The
 * connection is SOCK_SEQPACKET: each batch is one message, so the agent
 * sees whole batches or nothing. A failed connect is retried at most
 * every SPANS_OUT_RETRY_MS; the first failure is the one info line.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "real.h"
#include "shim.h"
#include "spans_out.h"

#define SPANS_OUT_RETRY_MS 5000

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t out_buf[CLT_SPAN_MSG_MAX]; /* under out_lock */
static size_t out_len;                    /* 0: empty; else header + claim + count + records */
static size_t out_head;                   /* octets before the first record */
static uint16_t out_count;
static uint64_t out_first_ms;
static uint64_t out_last_send_ms; /* a quiet process sends each span at once */
static int out_fd = -1;
static uint64_t out_retry_ms;
static bool out_exit_registered;
static atomic_ulong out_dropped, out_sent;
static atomic_flag once_absent = ATOMIC_FLAG_INIT;
static atomic_flag once_dropped = ATOMIC_FLAG_INIT;
atomic_bool spans_out_queued;
/* When the queued batch is due (its first record's time + SPANS_OUT_MAX_AGE_MS), 0 when none:
 * read without the lock by the waiting calls (idle.c); a stale value costs one empty check. */
static atomic_uint_least64_t out_due_ms;

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void put(struct span_build *b, const void *p, size_t n)
{
	memcpy(b->attrs + b->len, p, n);
	b->len = (uint16_t)(b->len + n);
}

static bool attr_head(struct span_build *b, char kind, const char *key, size_t vlen)
{
	size_t klen = strlen(key);
	uint8_t k = (uint8_t)kind, kl = (uint8_t)klen;
	uint16_t vl = (uint16_t)vlen;

	if (klen > 255 || vlen > 65535 || 4 + klen + vlen > sizeof(b->attrs) - b->len) {
		b->full = true;
		return false;
	}
	put(b, &k, 1);
	put(b, &kl, 1);
	put(b, &vl, 2);
	put(b, key, klen);
	return true;
}

void span_attr_str(struct span_build *b, const char *key, const char *val)
{
	size_t vlen = strlen(val);

	if (vlen > 1024)
		vlen = 1024;
	if (attr_head(b, 's', key, vlen))
		put(b, val, vlen);
}

void span_attr_int(struct span_build *b, const char *key, int64_t val)
{
	if (attr_head(b, 'i', key, sizeof(val)))
		put(b, &val, sizeof(val));
}

/* The sender's claim about itself: OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, the executable. */
static size_t claim(uint8_t *p, size_t cap)
{
	extern char *program_invocation_short_name;
	const char *exe = program_invocation_short_name ? program_invocation_short_name : "";
	const char *svc = shim_secure ? NULL : secure_getenv("OTEL_SERVICE_NAME");
	const char *ra = shim_secure ? NULL : secure_getenv("OTEL_RESOURCE_ATTRIBUTES");
	size_t sl = 0, el = strlen(exe);
	const char *s = NULL;

	if (svc && *svc) {
		s = svc;
		sl = strlen(svc);
	} else if (ra) {
		/* key=value,key=value: the service.name pair, as given (no percent-decoding). */
		for (const char *q = ra; q && *q; q = strchr(q, ',') ? strchr(q, ',') + 1 : NULL) {
			if (strncmp(q, "service.name=", 13) == 0) {
				const char *e = strchr(q + 13, ',');

				s = q + 13;
				sl = e ? (size_t)(e - s) : strlen(s);
				break;
			}
		}
	}
	if (!s || !sl) {
		s = exe;
		sl = el;
	}
	if (sl > 255)
		sl = 255;
	if (el > 255)
		el = 255;
	if (2 + sl + el > cap)
		return 0;
	p[0] = (uint8_t)sl;
	memcpy(p + 1, s, sl);
	p[1 + sl] = (uint8_t)el;
	memcpy(p + 2 + sl, exe, el);
	return 2 + sl + el;
}

/* Read at setup: servers such as nginx empty their workers' environment after fork. */
static char out_path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
static uint8_t out_claim[2 + 255 + 255];
static size_t out_claim_len;

void spans_out_init(void)
{
	const char *path = shim_secure ? NULL : secure_getenv("CLT_AGENT_SOCKET");

	if (!path || !*path)
		path = CLT_TAG_DEFAULT_SOCKET;
	if (strlen(path) < sizeof(out_path))
		memcpy(out_path, path, strlen(path) + 1);
	out_claim_len = claim(out_claim, sizeof(out_claim));
}

static void out_open(uint64_t now)
{
	const char *path = out_path;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, saved = errno;

	if (now < out_retry_ms)
		return;
	if (!*path || strlen(path) >= sizeof(sa.sun_path))
		goto fail;
	memcpy(sa.sun_path, path, strlen(path));
	fd = real.socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	if (real.connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		real.close(fd);
		goto fail;
	}
	out_fd = fd;
	errno = saved;
	return;
fail:
	slog_once(&once_absent, SLOG_INFO,
		  "spans: no cltagent at %s (CLT_AGENT_SOCKET): spans are dropped and counted", path);
	out_retry_ms = now + SPANS_OUT_RETRY_MS;
	errno = saved;
}

/* Under out_lock: send the batch (or drop it), empty the buffer. */
static void out_send_locked(uint64_t now)
{
	ssize_t n;
	int saved = errno;

	if (!out_count)
		return;
	out_last_send_ms = now;
	if (out_fd < 0)
		out_open(now);
	((struct clt_msg_hdr *)out_buf)->len = (uint16_t)out_len;
	memcpy(out_buf + out_head - 2, &out_count, 2);
	n = out_fd >= 0 ? real.send(out_fd, out_buf, out_len, MSG_DONTWAIT | MSG_NOSIGNAL) : -1;
	if (n == (ssize_t)out_len) {
		atomic_fetch_add_explicit(&out_sent, out_count, memory_order_relaxed);
	} else {
		atomic_fetch_add_explicit(&out_dropped, out_count, memory_order_relaxed);
		if (out_fd >= 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS) {
			real.close(out_fd); /* the agent went away: reconnect later */
			out_fd = -1;
		}
		if (out_fd >= 0)
			slog_once(&once_dropped, SLOG_INFO,
				  "spans: cltagent is not keeping up: spans dropped and counted");
	}
	out_len = 0;
	out_count = 0;
	atomic_store_explicit(&spans_out_queued, false, memory_order_relaxed);
	atomic_store_explicit(&out_due_ms, 0, memory_order_relaxed);
	errno = saved;
}

static void at_exit_flush(void)
{
	spans_out_flush();
}

static void out_enter(void)
{
	guard_enter();
	pthread_mutex_lock(&out_lock);
}

static void out_exit(void)
{
	pthread_mutex_unlock(&out_lock);
	guard_exit();
}

void spans_out_commit(const struct span_build *b)
{
	size_t need = sizeof(b->rec) + b->len;
	uint64_t now = mono_ms();
	struct clt_span_rec rec = b->rec;

	rec.attrs_len = b->len;
	out_enter();
	if (!out_exit_registered) {
		out_exit_registered = true;
		atexit(at_exit_flush);
	}
	if (out_len && out_len + need > sizeof(out_buf))
		out_send_locked(now);
	if (!out_len) {
		struct clt_msg_hdr h = {.magic = CLT_TAG_MAGIC, .version = CLT_TAG_VERSION2,
					.type = CLT_MSG_SPAN_BATCH};

		memcpy(out_buf, &h, sizeof(h));
		out_len = sizeof(h);
		memcpy(out_buf + out_len, out_claim, out_claim_len);
		out_len += out_claim_len;
		out_len += 2; /* the count, written at send */
		out_head = out_len;
		out_first_ms = now;
		atomic_store_explicit(&out_due_ms, now + SPANS_OUT_MAX_AGE_MS, memory_order_relaxed);
	}
	if (out_len + need > sizeof(out_buf)) {
		atomic_fetch_add_explicit(&out_dropped, 1, memory_order_relaxed);
	} else {
		memcpy(out_buf + out_len, &rec, sizeof(rec));
		memcpy(out_buf + out_len + sizeof(rec), b->attrs, b->len);
		out_len += need;
		out_count++;
		atomic_store_explicit(&spans_out_queued, true, memory_order_relaxed);
	}
	/* Batches form under load; a span after a quiet spell leaves at once (an idle
	 * server makes no later call that could flush it). */
	if (out_count >= SPANS_OUT_BATCH || now - out_last_send_ms >= SPANS_OUT_MAX_AGE_MS)
		out_send_locked(now);
	out_exit();
}

void spans_out_poll(void)
{
	uint64_t now;

	if (!spans_out_pending())
		return;
	now = mono_ms();
	out_enter();
	if (out_count && now - out_first_ms >= SPANS_OUT_MAX_AGE_MS)
		out_send_locked(now);
	out_exit();
}

int64_t spans_out_due_in_ms(void)
{
	uint64_t due = atomic_load_explicit(&out_due_ms, memory_order_relaxed), now;

	if (!due || !spans_out_pending())
		return -1;
	now = mono_ms();
	return due > now ? (int64_t)(due - now) : 0;
}

void spans_out_send(void)
{
	int cancel;

	/* Called between the two halves of a waiting call, where threads are typically cancelled:
	 * send() is a cancellation point, and a thread cancelled there would keep out_lock. */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
	out_enter();
	out_send_locked(mono_ms());
	out_exit();
	pthread_setcancelstate(cancel, NULL);
}

void spans_out_flush(void)
{
	uint64_t dropped;

	out_enter();
	out_send_locked(mono_ms());
	out_exit();
	dropped = atomic_load(&out_dropped);
	if (dropped)
		slog(SLOG_INFO, "spans: %llu sent, %llu dropped", (unsigned long long)atomic_load(&out_sent),
		     (unsigned long long)dropped);
}

uint64_t spans_out_dropped(void)
{
	return atomic_load(&out_dropped);
}

uint64_t spans_out_sent(void)
{
	return atomic_load(&out_sent);
}

void spans_out_fork_prepare(void)
{
	out_enter();
}

void spans_out_fork_parent(void)
{
	out_exit();
}

void spans_out_fork_child(void)
{
	/* Not this process's spans to send, nor its connection (the agent names the sender by it). */
	out_len = 0;
	out_count = 0;
	atomic_store(&spans_out_queued, false);
	atomic_store(&out_due_ms, 0);
	atomic_store(&out_dropped, 0);
	atomic_store(&out_sent, 0);
	if (out_fd >= 0)
		real.close(out_fd);
	out_fd = -1;
	out_retry_ms = 0;
	out_exit();
}
