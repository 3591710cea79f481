/*
 * tagger.c - sets a socket's IDs through libclt (see tagger.h).
 *
 * The context is opened at the first tracked socket, under a lock of its
 * own that only opening takes: a send whose IDs need a kernel call may
 * wait for it, nothing else does. A forked child keeps using the parent's
 * context: libclt makes it safe there (include/clt/clt.h).
 *
 * Re-entrancy: libclt's own system calls go through the shim's table
 * (real.c, lib/clt_sys.h), never through its interposers; only libnl
 * (genl backend, and auto's probe) calls libc itself, and those calls
 * find the guard set and pass through. The guard is set around every
 * libclt call for a second reason: a signal handler that interrupts this
 * thread inside libclt (holding its agent or netlink lock) and sends on a
 * tracked socket must pass through, not wait for that lock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>

#include <clt/bpfslot.h>
#include <clt/clt.h>
#include <clt/ioam.h>

#include "log.h"
#include "real.h"
#include "shim.h"
#include "tagger.h"

static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(struct clt_ctx *) tagger_ctx;
static atomic_bool open_failed; /* clt_open() refused the configuration: never again */
static atomic_int logged_backend; /* the backend the last info line named (a log's state) */
static atomic_flag once_tag_fail = ATOMIC_FLAG_INIT;
static atomic_flag once_disabled = ATOMIC_FLAG_INIT;
static atomic_flag once_route_big = ATOMIC_FLAG_INIT;
static atomic_flag once_room = ATOMIC_FLAG_INIT;

void tagger_open(bool secure)
{
	struct clt_options opts;
	struct clt_ctx *ctx = NULL;
	int rc, saved;

	if (atomic_load_explicit(&tagger_ctx, memory_order_acquire) ||
	    atomic_load_explicit(&open_failed, memory_order_relaxed))
		return;
	saved = errno;
	guard_enter();
	pthread_mutex_lock(&open_lock);
	if (!atomic_load_explicit(&tagger_ctx, memory_order_relaxed) &&
	    !atomic_load_explicit(&open_failed, memory_order_relaxed)) {
		memset(&opts, 0, sizeof(opts));
		opts.ignore_env = secure;
		rc = clt_open(&ctx, &opts);
		if (rc < 0) {
			atomic_store(&open_failed, true);
			slog_fail(SLOG_ERROR, "libclt: %s; requests are not tagged", clt_strerror(rc));
		} else {
			atomic_store(&logged_backend, (int)clt_backend_get(ctx));
			slog(SLOG_INFO, "backend %s: %s", clt_backend_name(clt_backend_get(ctx)),
			     clt_backend_reason(ctx));
			atomic_store_explicit(&tagger_ctx, ctx, memory_order_release);
		}
	}
	pthread_mutex_unlock(&open_lock);
	guard_exit();
	errno = saved;
}

bool tagger_tcp_size(int fd, const struct sockaddr_in6 *dst, bool secure)
{
	struct clt_ctx *ctx;
	int rc = 0, saved = errno;

	tagger_open(secure);
	ctx = atomic_load_explicit(&tagger_ctx, memory_order_acquire);
	if (!ctx || clt_backend_disabled(ctx))
		return true; /* nothing is ever added to this process's packets */
	guard_enter();
	if (dst)
		rc = clt_tcp_route_check(ctx, dst);
	else
		clt_tcp_clamp(ctx, fd);
	guard_exit();
	if (rc == -EMSGSIZE)
		slog_once(&once_route_big, SLOG_WARN, "fd %d: not tagged: %s", fd, clt_strerror(rc));
	errno = saved;
	return rc != -EMSGSIZE;
}

void tagger_new_socket(int fd)
{
	struct clt_ctx *ctx = atomic_load_explicit(&tagger_ctx, memory_order_acquire);

	if (ctx)
		clt_forget(ctx, fd);
}

void tagger_listen_size(int fd, bool room, bool secure)
{
	struct clt_ctx *ctx;
	int saved = errno;

	tagger_open(secure);
	ctx = atomic_load_explicit(&tagger_ctx, memory_order_acquire);
	if (!ctx || clt_backend_disabled(ctx))
		return;
	guard_enter();
	clt_tcp_clamp_flags(ctx, fd, room ? 0 : CLT_CLAMP_NO_ROOM);
	guard_exit();
	errno = saved;
}

void tagger_accepted(int fd, bool secure)
{
	struct clt_ctx *ctx;
	int saved = errno, rc;

	/* Opened if not yet: the listener may come from the program that
	 * executed this one, with its room. */
	tagger_open(secure);
	ctx = atomic_load_explicit(&tagger_ctx, memory_order_acquire);
	if (!ctx || clt_backend_disabled(ctx))
		return;
	guard_enter();
	rc = clt_tcp_accepted(ctx, fd);
	/* EPERM: privileges dropped after listen() (a server's workers); the
	 * agent backend then takes over, and cltagent removes the room when it
	 * sets a response's option. */
	if (rc < 0 && rc != -EPERM)
		slog_once(&once_room, SLOG_WARN,
			  "fd %d: accepted socket keeps its listener's room (its packets carry it): %s",
			  fd, clt_strerror(rc));
	guard_exit();
	errno = saved;
}

void tagger_fork_child(void)
{
	/* No thread of the child is inside clt_open(): if the forking process's
	 * was, the child has no context yet and opens its own. */
	pthread_mutex_init(&open_lock, NULL);
}

static bool same_socket(int fd, dev_t dev, ino_t ino)
{
	struct stat st;

	return fstat(fd, &st) == 0 && st.st_ino == ino && st.st_dev == dev;
}

/* The backend changed since the last info line: say so once. */
static void note_backend(struct clt_ctx *ctx)
{
	int now = (int)clt_backend_get(ctx), was = atomic_load(&logged_backend);

	if (now != was && atomic_compare_exchange_strong(&logged_backend, &was, now))
		slog(SLOG_INFO, "tagging starts: backend %s: %s", clt_backend_name(clt_backend_get(ctx)),
		     clt_backend_reason(ctx));
}

bool tagger_per_request(void)
{
	struct clt_ctx *ctx = atomic_load_explicit(&tagger_ctx, memory_order_acquire);

	return ctx != NULL && clt_backend_get(ctx) == CLT_BACKEND_BPF;
}

static enum tagger_result tagger_change(int fd, dev_t dev, ino_t ino, bool want,
					const struct http_ids *ids, uint64_t stream_offset,
					unsigned int flags)
{
	struct clt_ctx *ctx = atomic_load_explicit(&tagger_ctx, memory_order_acquire);
	enum tagger_result res = TAGGER_DONE;
	char hex[2 * CLT_TRACE_ID_LEN + 2 * CLT_SPAN_ID_LEN + 2];
	enum clt_backend before;
	bool off;
	int rc, saved = errno;

	if (!ctx || clt_backend_disabled(ctx))
		return TAGGER_DONE;
	before = clt_backend_get(ctx);
	off = before == CLT_BACKEND_OFF;
	if (!want && off)
		return TAGGER_DONE; /* nothing was set */
	/* While off and waiting for cltagent, clt_enable() only looks at the clock: no fstat.
	 * On bpf a descriptor with a slot needs none either: the IDs go into
	 * the slot, which tags only the socket the agent registered from this
	 * descriptor (passed over the tag socket) - a socket that took the
	 * number over behind the shim's back was never registered and is not
	 * tagged by them.
	 * A response's socket needs none: its number carries the IDs only while it is
	 * the accepted socket rx.c follows (class FD_ACCEPTED, set at accept). */
	if (want && !off && !(flags & CLT_ENABLE_RESPONSE) &&
	    !(before == CLT_BACKEND_BPF && fd < CLT_BPF_SLOTS) && !same_socket(fd, dev, ino)) {
		slog(SLOG_DEBUG, "fd %d: another socket now: looked at again", fd);
		errno = saved;
		return TAGGER_GONE;
	}
	guard_enter();
	/* The socket was classified as IPv6 TCP when it was tracked: no need to check again. */
	/* The offset: the bpf backend attributes each segment to its request. */
	rc = want ? clt_enable_flags(ctx, fd, stream_offset, flags, ids->trace, ids->span)
		  : clt_disable_trusted(ctx, fd);
	guard_exit();
	/* Off -> agent (found later), hopopts -> agent (privileges dropped): say so. */
	if (clt_backend_get(ctx) != before)
		note_backend(ctx);
	if (rc == -EBADF || rc == -ENOTSOCK || rc == -EAFNOSUPPORT || rc == -EPROTONOSUPPORT) {
		/* Not (any more) the IPv6 TCP socket it was: a property of @fd, not of the process. */
		slog(SLOG_DEBUG, "fd %d: %s: looked at again", fd, clt_strerror(rc));
		res = TAGGER_GONE;
	} else if (rc < 0) {
		slog_once(&once_tag_fail, SLOG_WARN, "fd %d: cannot %s IDs: %s (reported once)", fd,
			  want ? "set" : "clear", clt_strerror(rc));
		if (clt_backend_disabled(ctx) && !atomic_flag_test_and_set(&once_disabled))
			slog(SLOG_WARN, "tagging disabled for this process");
	} else if (slog_enabled(SLOG_DEBUG)) {
		if (want) {
			clt_hex(hex, ids->trace, sizeof(ids->trace));
			hex[2 * CLT_TRACE_ID_LEN] = '/';
			clt_hex(hex + 2 * CLT_TRACE_ID_LEN + 1, ids->span, sizeof(ids->span));
		}
		slog(SLOG_DEBUG, "fd %d: %sids %s", fd, flags ? "response " : "",
		     want ? hex : "cleared");
	}
	errno = saved;
	return res;
}

enum tagger_result tagger_set(int fd, dev_t dev, ino_t ino, bool want, const struct http_ids *ids,
			      uint64_t stream_offset)
{
	return tagger_change(fd, dev, ino, want, ids, stream_offset, 0);
}

enum tagger_result tagger_set_response(int fd, dev_t dev, ino_t ino, bool want,
				       const struct http_ids *ids, uint64_t stream_offset)
{
	tagger_open(shim_secure); /* a server may answer before it ever sent a request */
	return tagger_change(fd, dev, ino, want, ids, stream_offset, CLT_ENABLE_RESPONSE);
}
