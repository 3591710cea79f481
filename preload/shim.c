/*
 * shim.c - the shim's core: classifies descriptors, follows the HTTP/1.x
 * requests written on tracked sockets and sets each socket's IDs through
 * libclt before the bytes of a request leave.
 *
 * Ordering: the IDs must be in place before a request's first byte is
 * handed to the kernel, but the traceparent is only known once its header
 * line has been written. So before each real call the shim feeds the
 * socket's tracker the bytes about to be written (usually the whole
 * header block is in one call), keeping the old tracker, and sets the IDs
 * the stream will have at the end of those bytes; when the kernel
 * accepts fewer bytes the tracker is wound back and fed exactly those.
 * No application byte is ever held back or rewritten.
 *
 * Locking: the pass-through path takes no lock (fdstate class byte).
 * Tracked state lives in one refcounted object per socket, shared by
 * dup()s, touched only under shim_lock (the reference count is atomic);
 * a write(2)/send(2) whose bytes all leave takes the lock once. The lock
 * is never held across a real send, so a blocked writer never blocks
 * close() in another thread.
 *
 * Signals: a send from a signal handler that interrupts its own thread
 * inside the shim (guard set, maybe lock held) passes straight to libc:
 * not read, not tagged, counted (shim_reentered) and reported at debug.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <clt/clt.h>

#include "config.h"
#include "fdstate.h"
#include "http.h"
#include "log.h"
#include "real.h"
#include "shim.h"

enum applied {
	APPLIED_UNKNOWN = 0, /* inherited socket: whatever a previous program set */
	APPLIED_NONE,
	APPLIED_SET,
};

struct shim_sock {
	atomic_uint refs; /* descriptors + in-flight sends; the last one may drop outside the lock */
	dev_t dev;         /* identity of the kernel socket (fstat), to notice a */
	ino_t ino;         /* descriptor number reused behind the shim's back */
	uint8_t applied;
	struct http_ids applied_ids;
	struct http_tracker http;
	/* Octets the kernel accepted through this socket's tracked sends: the
	 * stream offset of the next one, passed with its IDs (libclt's bpf
	 * backend tags each segment with the request its bytes belong to).
	 * Bytes the shim does not see make it smaller, never larger: their
	 * segments then take the next request's IDs, as with a sticky option. */
	atomic_uint_fast64_t sent;
};

struct shim_tx {
	struct shim_sock *sock;
	uint64_t seq;
	int err;        /* errno of the real call, 0 if it succeeded */
	bool body_only; /* every byte is body: no look-ahead copy, only counted */
	bool settled;   /* committed ahead and nothing left to do if every byte leaves */
	struct http_mark mark;     /* body_only: where the body stood before */
	struct http_tracker peek;  /* the look-ahead; in op_tracked the tracker before */
};

static pthread_mutex_t shim_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t shim_once = PTHREAD_ONCE_INIT;
static atomic_bool shim_ready;
static struct shim_config shim_cfg;
static bool shim_secure;
static struct clt_ctx *shim_ctx; /* under shim_lock */
static bool ctx_tried;           /* under shim_lock */
static bool ctx_stale;           /* set in a fork child */
static bool kernel_off;          /* the backend cannot work in this process */
static bool ctx_waiting;         /* off, but libclt may find the agent later; under shim_lock */
static atomic_flag once_tag_fail = ATOMIC_FLAG_INIT;
static atomic_flag once_alloc_fail = ATOMIC_FLAG_INIT;
static atomic_ulong shim_reentered; /* sends on tracked sockets made from inside the shim */
static unsigned long reentered_logged; /* under shim_lock */

static void atfork_prepare(void)
{
	pthread_mutex_lock(&shim_lock);
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&shim_lock);
}

static void atfork_child(void)
{
	/* A netlink socket must not be shared with the parent: reopen lazily. */
	ctx_stale = true;
	pthread_mutex_unlock(&shim_lock);
}

static void shim_setup(void)
{
	int saved = errno;

	real_bind();
	shim_secure = getauxval(AT_SECURE) != 0;
	slog_init();
	config_load(&shim_cfg, shim_secure);
	if (fdstate_init() < 0)
		slog(SLOG_ERROR, "no memory for the descriptor table: every socket passes through");
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
	atomic_store_explicit(&shim_ready, true, memory_order_release);
	errno = saved;
}

/* Safe at any time, including from another library's constructor. */
static inline void shim_ensure(void)
{
	if (__builtin_expect(!atomic_load_explicit(&shim_ready, memory_order_acquire), 0)) {
		real_bind();
		/* Calls made while our own setup runs (e.g. by dlsym or fopen) go straight through. */
		if (guard_active())
			return;
		guard_enter();
		pthread_once(&shim_once, shim_setup);
		guard_exit();
	}
}

static void ids_hex(const struct http_ids *ids, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;

	for (i = 0; i < sizeof(ids->trace) && o + 2 < outlen; i++) {
		out[o++] = hex[ids->trace[i] >> 4];
		out[o++] = hex[ids->trace[i] & 15];
	}
	if (o + 1 < outlen)
		out[o++] = '/';
	for (i = 0; i < sizeof(ids->span) && o + 2 < outlen; i++) {
		out[o++] = hex[ids->span[i] >> 4];
		out[o++] = hex[ids->span[i] & 15];
	}
	out[o] = '\0';
}

/* The process's libclt context, opened on first use. Lock and guard held. */
static struct clt_ctx *ctx_get(void)
{
	struct clt_options opts;
	int rc;

	if (ctx_stale) {
		if (shim_ctx)
			clt_close(shim_ctx);
		shim_ctx = NULL;
		ctx_tried = false;
		ctx_stale = false;
	}
	if (shim_ctx || ctx_tried)
		return shim_ctx;
	ctx_tried = true;
	memset(&opts, 0, sizeof(opts));
	opts.ignore_env = shim_secure;
	rc = clt_open(&shim_ctx, &opts);
	if (rc < 0) {
		shim_ctx = NULL;
		slog_fail(SLOG_ERROR, "libclt: %s; requests are not tagged", clt_strerror(rc));
		return NULL;
	}
	slog(SLOG_INFO, "backend %s: %s", clt_backend_name(clt_backend_get(shim_ctx)),
	     clt_backend_reason(shim_ctx));
	/* Off for good, unless libclt may still find cltagent (started after
	 * us): then keep calling clt_enable(), which stays cheap while off. */
	ctx_waiting = false;
	if (clt_backend_get(shim_ctx) == CLT_BACKEND_OFF) {
		if (clt_backend_may_change(shim_ctx))
			ctx_waiting = true;
		else
			kernel_off = true;
	}
	return shim_ctx;
}

/* @fd no longer names @s's socket: stop following it; it is looked at again at next use. Lock held. */
static void sock_detach(struct shim_sock *s, int fd)
{
	if (fdstate_obj(fd) != s)
		return;
	fdstate_set_obj(fd, NULL);
	fdstate_set_class(fd, FD_UNKNOWN);
	s->refs--; /* the descriptor's reference; the caller's keeps @s alive */
}

/*
 * Is @fd still the socket @s was created for? Only asked before setting
 * IDs (a kernel call anyway): IDs meant for a connection inside the domain
 * must never land on another socket that took over the number through a
 * close and a creation the shim could not see (libc-internal calls).
 */
static bool sock_same(const struct shim_sock *s, int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && st.st_ino == s->ino && st.st_dev == s->dev;
}

/* Make the socket's IDs @want / @ids; a kernel call only on change. Lock and guard held. */
static void apply_ids(struct shim_sock *s, int fd, bool want, const struct http_ids *ids)
{
	struct clt_ctx *ctx;
	char buf[64];
	int rc, saved;

	if (want && s->applied == APPLIED_SET && memcmp(&s->applied_ids, ids, sizeof(*ids)) == 0)
		return;
	if (!want && s->applied == APPLIED_NONE)
		return;
	ctx = ctx_get();
	saved = errno;
	/* While off and waiting for the agent, no fstat per request. */
	if (want && ctx && !kernel_off && !(ctx_waiting && clt_backend_get(ctx) == CLT_BACKEND_OFF) &&
	    !sock_same(s, fd)) {
		slog(SLOG_DEBUG, "fd %d: another socket now: looked at again", fd);
		sock_detach(s, fd);
		errno = saved;
		return;
	}
	/* Recorded even if the kernel call fails: retrying on every write would cost a syscall each. */
	s->applied = want ? APPLIED_SET : APPLIED_NONE;
	if (want)
		s->applied_ids = *ids;
	if (!ctx || kernel_off) {
		errno = saved;
		return;
	}
	/* The socket was classified as IPv6 TCP when it was tracked: no need to check again. */
	rc = want ? clt_enable_at(ctx, fd, atomic_load_explicit(&s->sent, memory_order_relaxed),
				  ids->trace, ids->span)
		  : clt_disable_trusted(ctx, fd);
	if (ctx_waiting && clt_backend_get(ctx) != CLT_BACKEND_OFF) {
		ctx_waiting = false;
		slog(SLOG_INFO, "tagging starts: backend %s: %s",
		     clt_backend_name(clt_backend_get(ctx)), clt_backend_reason(ctx));
	}
	if (rc == -EBADF || rc == -ENOTSOCK || rc == -EAFNOSUPPORT || rc == -EPROTONOSUPPORT) {
		/* Not (any more) the IPv6 TCP socket it was: a property of @fd, not of the process. */
		slog(SLOG_DEBUG, "fd %d: %s: looked at again", fd, clt_strerror(rc));
		sock_detach(s, fd);
	} else if (rc < 0) {
		slog_once(&once_tag_fail, SLOG_WARN, "fd %d: cannot %s IDs: %s (reported once)", fd,
			  want ? "set" : "clear", clt_strerror(rc));
		if (rc == -EPERM || rc == -EOPNOTSUPP || rc == -ENOSYS) {
			kernel_off = true; /* the same for every socket of this process */
			slog(SLOG_WARN, "tagging disabled for this process");
		}
	} else if (slog_enabled(SLOG_DEBUG)) {
		if (want)
			ids_hex(ids, buf, sizeof(buf));
		slog(SLOG_DEBUG, "fd %d: ids %s", fd, want ? buf : "cleared");
	}
	errno = saved;
}

/* Lock held, or not: the count is atomic, and at zero no descriptor or send can reach @s. */
static void sock_unref(struct shim_sock *s)
{
	if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
		free(s);
}

/* Drop @fd's object. Lock held. */
static void fd_release(int fd)
{
	struct shim_sock *s = fdstate_obj(fd);

	if (s) {
		fdstate_set_obj(fd, NULL);
		sock_unref(s);
	}
}

/* Start following @fd. Lock and guard held. */
static bool fd_track(int fd, enum applied applied)
{
	struct shim_sock *s = calloc(1, sizeof(*s));
	struct stat st;

	fd_release(fd);
	if (!s) {
		slog_once(&once_alloc_fail, SLOG_ERROR, "out of memory: socket not followed");
		fdstate_set_class(fd, FD_IGNORED);
		return false;
	}
	s->refs = 1;
	s->applied = (uint8_t)applied;
	if (fstat(fd, &st) == 0) {
		s->dev = st.st_dev;
		s->ino = st.st_ino;
	}
	http_init(&s->http, shim_cfg.order, shim_cfg.n_order, shim_cfg.tag_unsampled);
	fdstate_set_obj(fd, s);
	fdstate_set_class(fd, FD_TRACKED);
	ctx_get(); /* opens the backend at the first socket and logs which one */
	return true;
}

static void fd_ignore(int fd)
{
	enum fd_class c = fdstate_class(fd);

	if (c == FD_TRACKED || c == FD_STALE) {
		guard_enter();
		pthread_mutex_lock(&shim_lock);
		fd_release(fd);
		fdstate_set_class(fd, FD_IGNORED);
		pthread_mutex_unlock(&shim_lock);
		guard_exit();
	} else {
		fdstate_set_class(fd, FD_IGNORED);
	}
}

static bool is_tcp(int fd)
{
	int type = 0, proto = 0;
	socklen_t l = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) < 0 || type != SOCK_STREAM)
		return false;
	l = sizeof(proto);
	return getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &l) == 0 && proto == IPPROTO_TCP;
}

/* @fd no longer names what it named (closed, or now a new socket): class @to. */
static void fd_reset(int fd, enum fd_class to)
{
	enum fd_class c = fdstate_class(fd);

	if (c != FD_TRACKED && c != FD_STALE) {
		if (c != to)
			fdstate_set_class(fd, to);
		return;
	}
	if (guard_active()) {
		/* The shim's own call, or a signal handler inside the shim: the lock may be
		 * this thread's. Released at the descriptor's next use instead. */
		fdstate_set_class(fd, FD_STALE);
		return;
	}
	guard_enter();
	pthread_mutex_lock(&shim_lock);
	fd_release(fd);
	fdstate_set_class(fd, to);
	pthread_mutex_unlock(&shim_lock);
	guard_exit();
}

static atomic_flag once_route_big = ATOMIC_FLAG_INIT;

/*
 * Packet size (lib/tcp_size.c says why): an IPv6 TCP socket that may be
 * tagged gets libclt's TCP_MAXSEG clamp before connect() or listen() (on
 * an established connection the kernel ignores it); with @dst, a route
 * whose device builds packets over 64 KiB (BIG TCP) makes the socket one
 * the shim never tags. @return false for such a route. Guard not held.
 */
static bool tcp_size_for_tagging(int fd, const struct sockaddr_in6 *dst)
{
	struct clt_ctx *ctx;
	int rc = 0, saved = errno;

	guard_enter();
	pthread_mutex_lock(&shim_lock);
	ctx = kernel_off ? NULL : ctx_get();
	if (kernel_off) /* ctx_get() found the backend off for good */
		ctx = NULL;
	if (ctx && !dst)
		clt_tcp_clamp(ctx, fd);
	pthread_mutex_unlock(&shim_lock);
	/* Two rtnetlink round trips: outside the lock. The context is only
	 * ever replaced in a fork child, before any other thread exists. */
	if (ctx && dst)
		rc = clt_tcp_route_check(ctx, dst);
	if (rc == -EMSGSIZE)
		slog_once(&once_route_big, SLOG_WARN, "fd %d: not tagged: %s", fd, clt_strerror(rc));
	guard_exit();
	errno = saved;
	return rc != -EMSGSIZE;
}

static void track_or_ignore(int fd, const struct in6_addr *peer, enum applied applied)
{
	struct sockaddr_in6 dst = {.sin6_family = AF_INET6};

	if (!config_in_domain(&shim_cfg, peer) || !is_tcp(fd)) {
		fd_ignore(fd);
		return;
	}
	dst.sin6_addr = *peer;
	if (!tcp_size_for_tagging(fd, &dst)) {
		fd_ignore(fd);
		return;
	}
	guard_enter();
	pthread_mutex_lock(&shim_lock);
	fd_track(fd, applied);
	pthread_mutex_unlock(&shim_lock);
	guard_exit();
}

/*
 * First send on a descriptor the shim has not seen connect (inherited, or
 * opened by code that bypasses the PLT): look once.
 */
static enum fd_class classify(int fd)
{
	struct sockaddr_in6 peer;
	socklen_t len = sizeof(int);
	int saved = errno, dom = 0;
	enum fd_class c = FD_IGNORED;

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &len) < 0) {
		if (errno == EBADF)
			c = FD_UNKNOWN; /* not open: nothing to cache */
		else
			fdstate_set_class(fd, FD_IGNORED);
		goto out;
	}
	if (dom != AF_INET6) {
		fdstate_set_class(fd, FD_IGNORED);
		goto out;
	}
	len = sizeof(peer);
	if (getpeername(fd, (struct sockaddr *)&peer, &len) < 0 || len < sizeof(peer)) {
		/* Not connected yet: look again at the next send. */
		c = errno == ENOTCONN ? FD_UNKNOWN : FD_IGNORED;
		if (c == FD_IGNORED)
			fdstate_set_class(fd, FD_IGNORED);
		goto out;
	}
	/* Someone else's socket may carry someone else's IDs: clear at the first request. */
	track_or_ignore(fd, &peer.sin6_addr, APPLIED_UNKNOWN);
	c = fdstate_class(fd);
out:
	errno = saved;
	return c;
}

/*
 * Begin a tracked send of @total bytes: on success the lock and guard are
 * held, the socket is referenced and tx->peek is a copy of its tracker -
 * unless all the bytes are body (tx->body_only): then nothing is parsed or
 * copied and the IDs stay as they are.
 */
static bool tx_begin(struct shim_tx *tx, int fd, size_t total)
{
	enum fd_class c = fdstate_class(fd);

	if (c == FD_STALE) {
		fd_reset(fd, FD_UNKNOWN);
		c = FD_UNKNOWN;
	}
	if (c == FD_UNKNOWN)
		c = classify(fd);
	if (c != FD_TRACKED)
		return false;
	guard_enter();
	pthread_mutex_lock(&shim_lock);
	tx->sock = fdstate_obj(fd);
	if (!tx->sock || fdstate_class(fd) != FD_TRACKED) {
		pthread_mutex_unlock(&shim_lock);
		guard_exit();
		return false; /* closed meanwhile by another thread */
	}
	tx->sock->refs++;
	tx->err = 0;
	tx->seq = tx->sock->http.seq;
	tx->body_only = total > 0 && http_in_body(&tx->sock->http, total);
	if (!tx->body_only)
		http_copy(&tx->peek, &tx->sock->http);
	return true;
}

/* Set the IDs the look-ahead ended with, then release the lock for the real call. */
static void tx_apply(struct shim_tx *tx, int fd)
{
	struct http_ids ids;
	bool want;

	if (tx->body_only) {
		/* The current request's body: its IDs are in place already. */
		pthread_mutex_unlock(&shim_lock);
		guard_exit();
		return;
	}
	want = http_current_ids(&tx->peek, &ids);
	apply_ids(tx->sock, fd, want, &ids);
	pthread_mutex_unlock(&shim_lock);
	guard_exit();
}

static void tx_lock(void)
{
	guard_enter();
	pthread_mutex_lock(&shim_lock);
}

/* Say (at debug) how many sends were made from signal handlers inside the shim. Lock held. */
static void reentered_report(void)
{
	unsigned long n = atomic_load_explicit(&shim_reentered, memory_order_relaxed);

	/* At 1, 2, 4, 8, ...: a count, not a line per send. */
	if (n == reentered_logged || (reentered_logged > 0 && n < 2 * reentered_logged))
		return;
	reentered_logged = n;
	slog(SLOG_DEBUG, "%lu send(s) from signal handlers interrupting the shim passed untagged", n);
}

/* After the commit: give up on dead streams, drop the reference, unlock. */
static void tx_end(struct shim_tx *tx, int fd)
{
	struct shim_sock *s = tx->sock;

	if (tx->err == EBADF || tx->err == ENOTSOCK) {
		/* Closed (or replaced by a non-socket) behind the shim's back. */
		sock_detach(s, fd);
	} else if (http_dead(&s->http)) {
		/* Not HTTP/1.x: clear the IDs and let this descriptor pass straight through. */
		apply_ids(s, fd, false, NULL);
		if (fdstate_obj(fd) == s) {
			fd_release(fd);
			fdstate_set_class(fd, FD_IGNORED);
		}
	}
	sock_unref(s);
	reentered_report();
	pthread_mutex_unlock(&shim_lock);
	guard_exit();
}

static bool iov_ok(const struct iovec *iov, size_t iovcnt, size_t *total)
{
	size_t i, t = 0;

	/* What the kernel would reject, the shim does not read (it would fault or mislead). */
	if (iovcnt > IOV_MAX || (iovcnt > 0 && !iov))
		return false;
	for (i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > 0 && !iov[i].iov_base)
			return false;
		if (iov[i].iov_len > SSIZE_MAX - t)
			return false;
		t += iov[i].iov_len;
	}
	*total = t;
	return true;
}

/*
 * The lock-free test every send starts with: true when @fd passes straight
 * to libc (ignored, or the call comes from inside the shim itself - its
 * own I/O or a signal handler that interrupted this thread in the shim).
 */
static inline bool pass_through(int fd)
{
	enum fd_class c = fdstate_class(fd);

	if (c == FD_IGNORED)
		return true;
	if (__builtin_expect(guard_active(), 0)) {
		if (c == FD_TRACKED)
			atomic_fetch_add_explicit(&shim_reentered, 1, memory_order_relaxed);
		return true;
	}
	return false;
}

enum op_kind { OP_WRITE, OP_SEND, OP_SENDTO, OP_WRITEV, OP_SENDMSG };

struct op {
	enum op_kind kind;
	int fd;
	int flags;
	const void *buf;
	size_t len;
	const struct sockaddr *to;
	socklen_t tolen;
	const struct iovec *iov;
	int iovcnt;
	const struct msghdr *msg;
};

static ssize_t op_real(const struct op *o)
{
	switch (o->kind) {
	case OP_WRITE:
		return real.write(o->fd, o->buf, o->len);
	case OP_SEND:
		return real.send(o->fd, o->buf, o->len, o->flags);
	case OP_SENDTO:
		return real.sendto(o->fd, o->buf, o->len, o->flags, o->to, o->tolen);
	case OP_WRITEV:
		return real.writev(o->fd, o->iov, o->iovcnt);
	case OP_SENDMSG:
	default:
		return real.sendmsg(o->fd, o->msg, o->flags);
	}
}

/*
 * Commit ahead: under the one lock of tx_begin() the socket's own tracker
 * takes every byte of the send before the real call (the old tracker kept
 * in tx->peek, or only the body position in tx->mark), and the IDs it
 * ends with are set. When the kernel then accepts every byte - nearly
 * always - nothing is left to do but drop the reference, without the
 * lock. Otherwise the lock is taken again and the tracker wound back to
 * what really left, or given up if another thread's send came in between
 * (the order of the two sends' bytes is then unknown).
 */
static void tx_ahead(struct shim_tx *tx, int fd, const struct iovec *iov, size_t iovcnt,
		     size_t total)
{
	struct shim_sock *s = tx->sock;
	struct http_ids ids;
	bool want;

	if (tx->body_only) {
		http_mark_get(&s->http, &tx->mark);
		http_skip(&s->http, total);
	} else {
		http_feed_iov(&s->http, iov, iovcnt, total);
		want = http_current_ids(&s->http, &ids);
		apply_ids(s, fd, want, &ids);
	}
	tx->seq = s->http.seq;
	/* A dead stream is released after the call, under the lock. */
	tx->settled = !http_dead(&s->http);
	reentered_report();
	pthread_mutex_unlock(&shim_lock);
	guard_exit();
}

/* The send took @rc of @total bytes (or failed): make the tracker say so. Lock held. */
static void tx_wind_back(struct shim_tx *tx, const struct iovec *iov, size_t iovcnt, ssize_t rc)
{
	struct http_tracker *t = &tx->sock->http;
	size_t done = rc > 0 ? (size_t)rc : 0;

	if (t->seq != tx->seq) {
		http_give_up(t);
		return;
	}
	if (tx->body_only) {
		http_mark_rewind(t, &tx->mark);
		if (done > 0)
			http_skip(t, done);
		return;
	}
	http_copy(t, &tx->peek);
	t->seq = tx->seq + 1; /* never back: another send's check must see the change */
	http_feed_iov(t, iov, iovcnt, done);
}

/* A send of the bytes in @iov on a descriptor that is not known to be ignored. */
static ssize_t op_tracked(const struct op *o, const struct iovec *iov, size_t iovcnt)
{
	struct shim_tx tx;
	size_t total;
	ssize_t rc;
	int saved;

	if (!iov_ok(iov, iovcnt, &total) || !tx_begin(&tx, o->fd, total))
		return op_real(o);
	tx_ahead(&tx, o->fd, iov, iovcnt, total);
	rc = op_real(o);
	saved = errno;
	if (rc > 0)
		atomic_fetch_add_explicit(&tx.sock->sent, (uint64_t)rc, memory_order_relaxed);
	if (tx.settled && rc >= 0 && (size_t)rc == total) {
		sock_unref(tx.sock);
		errno = saved;
		return rc;
	}
	tx.err = rc < 0 ? saved : 0;
	tx_lock();
	if (rc < 0 || (size_t)rc != total)
		tx_wind_back(&tx, iov, iovcnt, rc);
	tx_end(&tx, o->fd);
	errno = saved;
	return rc;
}

static ssize_t op_buf(struct op *o)
{
	struct iovec iov;

	shim_ensure();
	if (pass_through(o->fd))
		return op_real(o);
	iov.iov_base = (void *)o->buf;
	iov.iov_len = o->len;
	return op_tracked(o, &iov, 1);
}

ssize_t shim_write(int fd, const void *buf, size_t len)
{
	struct op o = { .kind = OP_WRITE, .fd = fd, .buf = buf, .len = len };

	return op_buf(&o);
}

ssize_t shim_send(int fd, const void *buf, size_t len, int flags)
{
	struct op o = { .kind = OP_SEND, .fd = fd, .buf = buf, .len = len, .flags = flags };

	return op_buf(&o);
}

ssize_t shim_sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to,
		    socklen_t tolen)
{
	struct op o = { .kind = OP_SENDTO, .fd = fd, .buf = buf, .len = len, .flags = flags,
			.to = to, .tolen = tolen };

	return op_buf(&o);
}

ssize_t shim_writev(int fd, const struct iovec *iov, int iovcnt)
{
	struct op o = { .kind = OP_WRITEV, .fd = fd, .iov = iov, .iovcnt = iovcnt };

	shim_ensure();
	if (pass_through(fd) || iovcnt < 0)
		return op_real(&o);
	return op_tracked(&o, iov, (size_t)iovcnt);
}

ssize_t shim_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	struct op o = { .kind = OP_SENDMSG, .fd = fd, .msg = msg, .flags = flags };

	shim_ensure();
	if (pass_through(fd) || !msg)
		return op_real(&o);
	return op_tracked(&o, msg->msg_iov, msg->msg_iovlen);
}

int shim_sendmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags)
{
	struct shim_tx tx;
	unsigned int i, n = vlen > UIO_MAXIOV ? UIO_MAXIOV : vlen; /* the kernel's own cap */
	size_t total;
	int rc, saved;

	shim_ensure();
	if (pass_through(fd) || !vec)
		return real.sendmmsg(fd, vec, vlen, flags);
	for (i = 0; i < n; i++)
		if (!iov_ok(vec[i].msg_hdr.msg_iov, vec[i].msg_hdr.msg_iovlen, &total))
			return real.sendmmsg(fd, vec, vlen, flags);
	if (!tx_begin(&tx, fd, 0))
		return real.sendmmsg(fd, vec, vlen, flags);
	for (i = 0; i < n; i++)
		http_feed_iov(&tx.peek, vec[i].msg_hdr.msg_iov, vec[i].msg_hdr.msg_iovlen, SIZE_MAX);
	tx_apply(&tx, fd);
	rc = real.sendmmsg(fd, vec, vlen, flags);
	saved = errno;
	tx.err = rc < 0 ? saved : 0;
	tx_lock();
	for (i = 0; rc > 0 && i < (unsigned int)rc && i < n; i++)
		http_feed_iov(&tx.sock->http, vec[i].msg_hdr.msg_iov, vec[i].msg_hdr.msg_iovlen,
			      vec[i].msg_len);
	tx_end(&tx, fd);
	errno = saved;
	return rc;
}

/*
 * sendfile: the bytes come from a file and are not seen. Inside a body
 * they are only counted; anywhere else the stream is given up.
 */
static ssize_t sendfile_tracked(int out_fd, int in_fd, void *offset, size_t count, bool is64)
{
	struct shim_tx tx;
	ssize_t rc;
	int saved;

	if (!tx_begin(&tx, out_fd, 0))
		goto pass;
	tx_apply(&tx, out_fd); /* the current request's IDs: the bytes are its body */
	rc = is64 ? real.sendfile64(out_fd, in_fd, offset, count)
		  : real.sendfile(out_fd, in_fd, offset, count);
	saved = errno;
	if (rc > 0)
		atomic_fetch_add_explicit(&tx.sock->sent, (uint64_t)rc, memory_order_relaxed);
	tx.err = rc < 0 ? saved : 0;
	tx_lock();
	if (rc > 0)
		http_skip(&tx.sock->http, (uint64_t)rc);
	tx_end(&tx, out_fd);
	errno = saved;
	return rc;
pass:
	return is64 ? real.sendfile64(out_fd, in_fd, offset, count)
		    : real.sendfile(out_fd, in_fd, offset, count);
}

ssize_t shim_sendfile(int out_fd, int in_fd, off_t *offset, size_t count)
{
	shim_ensure();
	if (pass_through(out_fd))
		return real.sendfile(out_fd, in_fd, offset, count);
	return sendfile_tracked(out_fd, in_fd, offset, count, false);
}

ssize_t shim_sendfile64(int out_fd, int in_fd, off64_t *offset, size_t count)
{
	shim_ensure();
	if (pass_through(out_fd))
		return real.sendfile64(out_fd, in_fd, offset, count);
	return sendfile_tracked(out_fd, in_fd, offset, count, true);
}

/*
 * Copy an IPv6 address the application passes to connect() before the
 * kernel has checked it: through the kernel, so that a bad pointer still
 * fails in connect() with EFAULT instead of crashing here. false for
 * anything else, or where process_vm_readv() is refused (no clamp then).
 */
static bool peek_sockaddr6(const struct sockaddr *addr, struct sockaddr_in6 *out)
{
	struct iovec mine = {.iov_base = out, .iov_len = sizeof(*out)};
	struct iovec theirs = {.iov_base = (void *)addr, .iov_len = sizeof(*out)};
	int saved = errno;
	ssize_t n;

	n = process_vm_readv(getpid(), &mine, 1, &theirs, 1, 0);
	errno = saved;
	return n == (ssize_t)sizeof(*out) && out->sin6_family == AF_INET6;
}

int shim_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct sockaddr_in6 dst;
	int rc, saved;

	shim_ensure();
	if (!guard_active() && addr && len >= sizeof(struct sockaddr_in6) && is_tcp(fd) &&
	    peek_sockaddr6(addr, &dst) && config_in_domain(&shim_cfg, &dst.sin6_addr))
		tcp_size_for_tagging(fd, NULL);
	rc = real.connect(fd, addr, len);
	if (guard_active())
		return rc;
	saved = errno;
	if (rc == 0 || saved == EINPROGRESS || saved == EINTR) {
		/* The kernel accepted the address, so it is readable. */
		if (addr && addr->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6))
			track_or_ignore(fd, &((const struct sockaddr_in6 *)addr)->sin6_addr,
					APPLIED_NONE);
		else
			fd_ignore(fd);
	}
	errno = saved;
	return rc;
}


int shim_close(int fd)
{
	int saved;

	shim_ensure();
	saved = errno;
	fd_reset(fd, FD_UNKNOWN);
	slog_fd_gone(fd);
	errno = saved;
	return real.close(fd);
}

/* @newfd now names the same open file as @oldfd: share the socket state. */
static void fd_copy(int oldfd, int newfd)
{
	enum fd_class c = fdstate_class(oldfd), nc = fdstate_class(newfd);
	struct shim_sock *s;
	int saved = errno;

	slog_fd_gone(newfd);
	if (guard_active()) {
		fd_reset(newfd, FD_UNKNOWN);
		goto out;
	}
	if (c != FD_TRACKED && nc != FD_TRACKED && nc != FD_STALE) {
		fdstate_set_class(newfd, c == FD_STALE ? FD_UNKNOWN : c);
		goto out;
	}
	guard_enter();
	pthread_mutex_lock(&shim_lock);
	fd_release(newfd);
	s = fdstate_obj(oldfd);
	if (s && fdstate_class(oldfd) == FD_TRACKED) {
		s->refs++;
		fdstate_set_obj(newfd, s);
		fdstate_set_class(newfd, FD_TRACKED);
	} else {
		fdstate_set_class(newfd, FD_UNKNOWN);
	}
	pthread_mutex_unlock(&shim_lock);
	guard_exit();
out:
	errno = saved;
}

int shim_dup(int fd)
{
	int rc;

	shim_ensure();
	rc = real.dup(fd);
	if (rc >= 0)
		fd_copy(fd, rc);
	return rc;
}

int shim_dup2(int oldfd, int newfd)
{
	int rc;

	shim_ensure();
	rc = real.dup2(oldfd, newfd);
	if (rc >= 0 && oldfd != newfd)
		fd_copy(oldfd, rc);
	return rc;
}

int shim_dup3(int oldfd, int newfd, int flags)
{
	int rc;

	shim_ensure();
	rc = real.dup3(oldfd, newfd, flags);
	if (rc >= 0)
		fd_copy(oldfd, rc);
	return rc;
}

static int fcntl_common(int fd, int cmd, void *arg, bool is64)
{
	int rc;

	shim_ensure();
	rc = is64 ? real.fcntl64(fd, cmd, arg) : real.fcntl(fd, cmd, arg);
	if (rc >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC))
		fd_copy(fd, rc);
	return rc;
}

int shim_fcntl(int fd, int cmd, void *arg)
{
	return fcntl_common(fd, cmd, arg, false);
}

int shim_fcntl64(int fd, int cmd, void *arg)
{
	return fcntl_common(fd, cmd, arg, true);
}

pid_t shim_fork(void)
{
	/* Initialising first registers the atfork handlers that keep the lock consistent. */
	shim_ensure();
	return real.fork();
}

/* A descriptor number that a new socket now holds starts over. */
static bool is_tcp6(int domain, int type, int protocol)
{
	return domain == AF_INET6 && (type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) == SOCK_STREAM &&
	       (protocol == 0 || protocol == IPPROTO_TCP);
}

int shim_socket(int domain, int type, int protocol)
{
	int fd, saved;

	shim_ensure();
	fd = real.socket(domain, type, protocol);
	if (fd < 0)
		return fd;
	saved = errno;
	/* Anything but IPv6 TCP is settled now: its sends need no look at all. */
	fd_reset(fd, is_tcp6(domain, type, protocol) ? FD_UNKNOWN : FD_IGNORED);
	errno = saved;
	return fd;
}

int shim_socketpair(int domain, int type, int protocol, int sv[2])
{
	int rc, saved;

	shim_ensure();
	rc = real.socketpair(domain, type, protocol, sv);
	if (rc < 0 || !sv)
		return rc;
	saved = errno;
	/* Never IPv6 (the kernel has no AF_INET6 pairs): nothing to tag. */
	fd_reset(sv[0], FD_IGNORED);
	fd_reset(sv[1], FD_IGNORED);
	errno = saved;
	return rc;
}

static int accepted(int fd)
{
	int saved = errno;

	/* Never tagged: Linux does not take a sticky option's length off the
	 * MSS of an accepted IPv6 socket (ipv6_update_options() skips it), so
	 * its full-size segments would pass the path MTU by the option's 208
	 * octets and never arrive (Ip6FragFails, the connection stalls). */
	if (fd >= 0)
		fd_reset(fd, FD_IGNORED);
	errno = saved;
	return fd;
}

/* A listener bound to a domain address or to any gets the clamp, which its
 * accepted sockets inherit (the kernel copies TCP_MAXSEG to them): the shim
 * does not tag them today (accepted()), a server side that does must find
 * them clamped. */
int shim_listen(int fd, int backlog)
{
	struct sockaddr_in6 me;
	socklen_t len = sizeof(me);
	int saved;

	shim_ensure();
	if (guard_active())
		return real.listen(fd, backlog);
	saved = errno;
	if (getsockname(fd, (struct sockaddr *)&me, &len) == 0 && len >= sizeof(me) &&
	    me.sin6_family == AF_INET6 &&
	    (IN6_IS_ADDR_UNSPECIFIED(&me.sin6_addr) || config_in_domain(&shim_cfg, &me.sin6_addr)) &&
	    is_tcp(fd))
		tcp_size_for_tagging(fd, NULL);
	errno = saved;
	return real.listen(fd, backlog);
}

int shim_accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	shim_ensure();
	return accepted(real.accept(fd, addr, len));
}

int shim_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	shim_ensure();
	return accepted(real.accept4(fd, addr, len, flags));
}

/* Forget every descriptor in [@first, @last]; only the used part of the table is scanned. */
static void fd_reset_range(unsigned int first, unsigned int last)
{
	unsigned int high = atomic_load_explicit(&fdstate_high, memory_order_relaxed), fd;
	bool inside = guard_active(), locked = false;

	slog_fd_range_gone(first, last);
	if (high == 0)
		return;
	if (last > high - 1)
		last = high - 1;
	for (fd = first; fd <= last; fd++) {
		enum fd_class c = fdstate_class((int)fd);

		if (c == FD_UNKNOWN)
			continue;
		if (c == FD_IGNORED) {
			fdstate_set_class((int)fd, FD_UNKNOWN);
			continue;
		}
		if (inside) {
			fdstate_set_class((int)fd, FD_STALE);
			continue;
		}
		if (!locked) {
			guard_enter();
			pthread_mutex_lock(&shim_lock);
			locked = true;
		}
		fd_release((int)fd);
		fdstate_set_class((int)fd, FD_UNKNOWN);
	}
	if (locked) {
		pthread_mutex_unlock(&shim_lock);
		guard_exit();
	}
}

int shim_close_range(unsigned int first, unsigned int last, int flags)
{
	int saved;

	shim_ensure();
	saved = errno;
	/* Before the real call, as close(): a number closed is free for another thread at once. */
	if (first <= last && !(flags & CLOSE_RANGE_CLOEXEC))
		fd_reset_range(first, last);
	errno = saved;
	return real.close_range(first, last, flags);
}

void shim_closefrom(int lowfd)
{
	int saved;

	shim_ensure();
	saved = errno;
	if (lowfd >= 0)
		fd_reset_range((unsigned int)lowfd, UINT_MAX);
	errno = saved;
	real.closefrom(lowfd);
}

int shim_fclose(FILE *fp)
{
	int fd, saved;

	shim_ensure();
	saved = errno;
	/* stdio closes its descriptor with libc's internal close, which the shim never sees. */
	fd = fp ? fileno(fp) : -1;
	if (fd >= 0) {
		fd_reset(fd, FD_UNKNOWN);
		slog_fd_gone(fd);
	}
	errno = saved;
	return real.fclose(fp);
}
