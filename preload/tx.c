/*
 * tx.c - the send transaction: one protocol for every send variant the
 * shim interposes (write, send, sendto, writev, sendmsg, sendmmsg,
 * sendfile).
 *
 * Ordering: the IDs must be in place before a request's first byte is
 * handed to the kernel, but the traceparent is only known once its header
 * line has been written. So, under the socket's own lock, the socket's
 * tracker takes every byte of the send before the real call (the tracker
 * as it was kept aside), and the IDs it ends with are decided. If they
 * differ from what the socket carries, the lock is dropped and the tagger
 * sets them - a backend call that may wait for cltagent, under no lock
 * another socket's send, a close() or a fork() needs. Then the bytes go to
 * the kernel. When it takes every byte - nearly always - nothing is left
 * to do. Otherwise the socket's lock is taken again and the tracker wound
 * back to what really left, or given up if another thread's send on the
 * same socket came in between (the order of the two sends' bytes is then
 * unknown): the socket's sequence number tells. No application byte is
 * ever held back or rewritten.
 *
 * sendfile's bytes come from a file and are not seen: inside a body they
 * are only counted; anywhere else the stream is given up.
 *
 * TLS: a socket whose first bytes are a TLS record (or on which a TLS
 * library sent plaintext) belongs to its session. Its raw sends are the
 * ciphertext: never parsed, they neither set nor clear IDs, and are only
 * counted (fd_sock.wire_sent). The plaintext, as the application handed
 * it to SSL_write or gnutls_record_send (tls.c), runs the same transaction
 * on the socket's tracker, the TLS library's call standing for the kernel
 * call: the IDs are set before the record holding a request's first byte
 * is written.
 *
 * Signals: a send from a signal handler that interrupts its own thread
 * inside the shim (guard set, maybe a lock held) passes straight to libc:
 * not read, not tagged, counted and reported at debug.
 */
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/sendfile.h>

#include "client.h"
#include "fdlife.h"
#include "fdstate.h"
#include "http.h"
#include "inject.h"
#include "log.h"
#include "real.h"
#include "reqstarts.h"
#include "rx.h"
#include "shim.h"
#include "tagger.h"
#include "tls.h"
#include "trace.h"

enum op_kind { OP_WRITE, OP_SEND, OP_SENDTO, OP_WRITEV, OP_SENDMSG, OP_SENDMMSG, OP_SENDFILE,
	       OP_SENDFILE64, OP_TLS };

/* One application call, as it was made, and the bytes it hands the kernel. */
struct op {
	enum op_kind kind;
	int fd;
	int flags;
	const void *buf;
	size_t len;
	const struct sockaddr *to;
	socklen_t tolen;
	const struct iovec *iov; /* write, send, sendto (one), writev, sendmsg */
	size_t iovcnt;
	int iovcnt_arg;
	const struct msghdr *msg;
	struct mmsghdr *vec; /* sendmmsg */
	unsigned int vlen;   /* as passed */
	unsigned int nmsg;   /* what the kernel looks at (capped as it caps) */
	int in_fd;           /* sendfile */
	void *offset;
	tls_send_fn tls_fn; /* OP_TLS: the TLS library's send, and its arguments */
	void *tls_call;
	bool opaque;  /* sendfile: the bytes are not seen, only counted */
	size_t total; /* bytes in all */
};

struct tx {
	struct fd_sock *sock;
	uint64_t seq;   /* the socket's sequence number after this send's look-ahead */
	bool body_only; /* every byte is body: no look-ahead copy, only counted */
	bool settled;   /* nothing left to do if every byte leaves */
	bool change;    /* the IDs must change before the bytes leave */
	bool want;
	bool client;    /* the socket has CLIENT span state: what leaves feeds it */
	bool owed;      /* injected bytes are owed: they leave first */
	struct inject_plan plan;
	struct http_ids ids;
	struct http_mark mark;     /* body_only: where the body stood before */
	struct http_tracker before; /* otherwise: the tracker before */
	/* Requests that begin inside the send, each set at its own offset
	 * (tx_find_starts); 0: the send's IDs are set at its start. */
	size_t n_starts;
	size_t owed_len; /* injected bytes that leave before the send's own */
	struct req_start starts[REQSTARTS_MAX];
};

static atomic_ulong tx_reentered;      /* sends on tracked sockets made from inside the shim */
static atomic_ulong tx_reentered_said; /* the count last reported */

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
		return real.writev(o->fd, o->iov, o->iovcnt_arg);
	case OP_SENDMSG:
		return real.sendmsg(o->fd, o->msg, o->flags);
	case OP_SENDMMSG:
		return real.sendmmsg(o->fd, o->vec, o->vlen, o->flags);
	case OP_SENDFILE:
		return real.sendfile(o->fd, o->in_fd, o->offset, o->len);
	case OP_TLS:
		return o->tls_fn(o->tls_call, o->iov[0].iov_base, o->iov[0].iov_len);
	case OP_SENDFILE64:
	default:
		return real.sendfile64(o->fd, o->in_fd, o->offset, o->len);
	}
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

/* Count the bytes @o hands the kernel; false when the shim must not read them. */
static bool op_measure(struct op *o)
{
	size_t t = 0, m;
	unsigned int i;

	if (o->opaque) {
		o->total = o->len;
		return true;
	}
	if (o->kind != OP_SENDMMSG)
		return iov_ok(o->iov, o->iovcnt, &o->total);
	o->nmsg = o->vlen > UIO_MAXIOV ? UIO_MAXIOV : o->vlen; /* the kernel's own cap */
	for (i = 0; i < o->nmsg; i++) {
		if (!iov_ok(o->vec[i].msg_hdr.msg_iov, o->vec[i].msg_hdr.msg_iovlen, &m) ||
		    m > SSIZE_MAX - t)
			return false;
		t += m;
	}
	o->total = t;
	return true;
}

/* Feed the tracker every byte @o hands the kernel (the look-ahead). */
static void feed_all(struct http_tracker *t, const struct op *o)
{
	unsigned int i;

	if (o->opaque) {
		http_skip(t, o->total);
	} else if (o->kind == OP_SENDMMSG) {
		for (i = 0; i < o->nmsg; i++)
			http_feed_iov(t, o->vec[i].msg_hdr.msg_iov, o->vec[i].msg_hdr.msg_iovlen,
				      SIZE_MAX);
	} else {
		http_feed_iov(t, o->iov, o->iovcnt, o->total);
	}
}

/* Feed the tracker exactly what left, after the call returned @rc (wind back). */
static void feed_sent(struct http_tracker *t, const struct op *o, ssize_t rc)
{
	unsigned int i;

	if (rc <= 0)
		return;
	if (o->opaque) {
		http_skip(t, (uint64_t)rc);
	} else if (o->kind == OP_SENDMMSG) {
		/* Each message's own count: a stream socket may take part of one. */
		for (i = 0; i < (unsigned int)rc && i < o->nmsg; i++)
			http_feed_iov(t, o->vec[i].msg_hdr.msg_iov, o->vec[i].msg_hdr.msg_iovlen,
				      o->vec[i].msg_len);
	} else {
		http_feed_iov(t, o->iov, o->iovcnt, (size_t)rc);
	}
}

/* How many bytes left, after the call returned @rc (sendmmsg: a count of messages). */
static size_t op_sent(const struct op *o, ssize_t rc)
{
	size_t sent = 0;
	unsigned int i;

	if (rc <= 0)
		return 0;
	if (o->kind != OP_SENDMMSG)
		return (size_t)rc;
	for (i = 0; i < (unsigned int)rc && i < o->nmsg; i++)
		sent += o->vec[i].msg_len;
	return sent;
}

/* Did every byte of @o leave? */
static bool op_complete(const struct op *o, ssize_t rc)
{
	if (rc < 0)
		return false;
	if (o->kind == OP_SENDMMSG && (unsigned int)rc != o->nmsg)
		return false;
	return op_sent(o, rc) == o->total;
}

/* The first bytes of @o: a TLS record header (handshake, SSL 3.0 to TLS 1.3 framing)? */
static bool op_is_tls_record(const struct op *o)
{
	uint8_t head[3];
	size_t i, n = 0, k;

	if (o->opaque || o->kind == OP_SENDMMSG)
		return false;
	for (i = 0; i < o->iovcnt && n < sizeof(head); i++) {
		k = o->iov[i].iov_len < sizeof(head) - n ? o->iov[i].iov_len : sizeof(head) - n;
		memcpy(head + n, o->iov[i].iov_base, k);
		n += k;
	}
	return n == sizeof(head) && head[0] == 0x16 && head[1] == 0x03 && head[2] <= 0x04;
}

enum tx_kind {
	TX_PASS,    /* not tracked */
	TX_TRACKED, /* the tracker looked ahead */
	TX_CIPHER,  /* a TLS session's raw bytes: only counted */
};

/*
 * Propagation inside the process (the rule is trace.c's): a request whose
 * header block carries no trace header of its own, sent while this thread
 * serves exactly one SERVER span, is tagged with that span's IDs, so its
 * network and hop spans sit under it - if that span is sampled (or
 * unsampled ones are tagged). Elsewhere it belongs to nothing, as before.
 */
static bool thread_ids(struct fd_sock *s, int fd, struct http_ids *out)
{
	static const uint8_t no_parent[8];
	bool sampled, any;

	if (shim_cfg.tracing == TRACING_OFF || !http_bare_request(&s->http))
		return false;
	if (client_current(s, s->http.req_no, out))
		return true; /* a later send of a request already decided */
	if (!trace_thread_server(out->trace, out->span, &sampled, &any)) {
		if (any)
			return false; /* SERVER spans in flight, none this thread's: belongs to nothing */
		/* No SERVER span in the process (a batch job, a CLI): a root CLIENT span, or a
		 * child of the context the environment hands the process (TRACEPARENT). */
		if (shim_cfg.env_parent) {
			memcpy(out->trace, shim_cfg.env_trace, 16);
			sampled = trace_sample(out->trace, true, shim_cfg.env_sampled);
		} else {
			trace_new_trace_id(out->trace);
			sampled = trace_sample(out->trace, false, false);
		}
		return sampled && client_begin(s, fd, s->http.req_no, out->trace,
					       shim_cfg.env_parent ? shim_cfg.env_span : no_parent, out);
	}
	/* A sampled SERVER span's call is a CLIENT span, its child: the tag names it. */
	if (sampled)
		client_begin(s, fd, s->http.req_no, out->trace, out->span, out);
	return sampled || shim_cfg.tag_unsampled;
}

/*
 * CLT_TRACING=inject: a bare request that is a CLIENT span, whose request
 * line ends in this send (one request begun in it), gets the traceparent
 * line (inject.c). Under the socket's lock, after the look-ahead.
 */
static void plan_injection(struct tx *tx, struct fd_sock *s, const struct op *o)
{
	struct http_ids cur;
	bool at_start = http_at_request_start(&tx->before);

	if (shim_cfg.tracing != TRACING_INJECT || !tx->want || o->opaque ||
	    (o->kind != OP_WRITE && o->kind != OP_SEND && o->kind != OP_SENDTO &&
	     o->kind != OP_WRITEV && o->kind != OP_SENDMSG && o->kind != OP_TLS) ||
	    !http_bare_request(&s->http) || !client_current(s, s->http.req_no, &cur) ||
	    memcmp(&cur, &tx->ids, sizeof(cur)) != 0 ||
	    s->http.req_no != tx->before.req_no + (at_start ? 1u : 0u))
		return;
	inject_plan(s, http_before_request_line(&tx->before), at_start, o->iov, o->iovcnt,
		    o->total, &tx->ids, &tx->plan);
}

/*
 * Several requests begin in this send (pipelined), or one begins after
 * another's last bytes: with a backend that tags by stream offset (bpf),
 * each request's IDs go in at its own first byte. Under the socket's lock,
 * after the look-ahead. Plaintext sockets only: over TLS the offsets are
 * the ciphertext's.
 */
static void tx_find_starts(struct tx *tx, struct fd_sock *s, const struct op *o)
{
	uint32_t begun = s->http.req_no - tx->before.req_no;
	struct http_tracker scratch;

	tx->n_starts = 0;
	if (begun == 0 || (begun == 1 && http_at_request_start(&tx->before)) || o->opaque ||
	    o->kind == OP_SENDMMSG || o->kind == OP_TLS || s->tls || !tagger_per_request())
		return;
	http_copy(&scratch, &tx->before);
	tx->n_starts = reqstarts_find(&scratch, o->iov, o->iovcnt, o->total, tx->starts);
	tx->owed_len = s->inj_left;
	if (tx->n_starts > 0)
		tx->change = true;
}

/*
 * Look ahead, under the socket's lock: the tracker takes every byte of
 * the send and the IDs it ends with are decided.
 */
static enum tx_kind tx_begin(struct tx *tx, const struct op *o)
{
	struct fd_sock *s;

	if (fdlife_classify(o->fd) != FD_TRACKED)
		return TX_PASS;
	s = fdstate_sock_get(o->fd);
	if (!s)
		return TX_PASS; /* closed meanwhile by another thread */
	tx->sock = s;
	tx->change = false;
	tx->n_starts = 0;
	fdstate_sock_lock(s);
	if (o->kind == OP_TLS) {
		s->tls = true;
	} else if (s->tls || (s->seq == 0 && op_is_tls_record(o))) {
		s->tls = true;
		fdstate_sock_unlock(s);
		return TX_CIPHER;
	}
	tx->body_only = o->total > 0 && http_in_body(&s->http, o->total);
	if (tx->body_only) {
		/* The current request's body: its IDs are in place already. */
		http_mark_get(&s->http, &tx->mark);
		http_skip(&s->http, o->total);
	} else {
		http_copy(&tx->before, &s->http);
		feed_all(&s->http, o);
		tx->want = http_current_ids(&s->http, &tx->ids) || thread_ids(s, o->fd, &tx->ids);
		if (tx->want)
			tx->change = s->applied != APPLIED_SET ||
				     memcmp(&s->applied_ids, &tx->ids, sizeof(tx->ids)) != 0;
		else
			tx->change = s->applied != APPLIED_NONE;
		/* Outside the domain: CLIENT spans and injection, never a tag. */
		if (s->untagged) {
			tx->change = false;
			tx->n_starts = 0;
		} else {
			tx_find_starts(tx, s, o);
		}
		/* Until the change is recorded, another send on this socket sets its own. */
		if (tx->change)
			s->applied = APPLIED_UNKNOWN;
	}
	tx->plan.on = false;
	if (!tx->body_only)
		plan_injection(tx, s, o);
	tx->owed = s->inj_left != 0;
	tx->client = s->client != NULL;
	tx->seq = ++s->seq;
	/* A dead stream is released after the call. */
	tx->settled = !http_dead(&s->http);
	fdstate_sock_unlock(s);
	return TX_TRACKED;
}

/* Set the decided IDs (no lock held: this may wait for cltagent), then record them. */
static void tx_apply(struct tx *tx, int fd)
{
	struct fd_sock *s = tx->sock;
	enum tagger_result r;

	uint64_t at = atomic_load_explicit(&s->sent, memory_order_relaxed);
	bool last_set = true;

	if (!tx->change)
		return;
	r = TAGGER_DONE;
	if (tx->n_starts > 0) {
		/* Each earlier request at its offset; the last as decided (it may be
		 * the thread's). One without IDs of its own is left out (its bytes
		 * take the one before's): clearing would clear the others too. */
		at += tx->owed_len;
		for (size_t i = 0; i + 1 < tx->n_starts && r == TAGGER_DONE; i++)
			if (tx->starts[i].want)
				r = tagger_set(fd, s->dev, s->ino, true, &tx->starts[i].ids,
					       at + tx->starts[i].off);
		at += tx->starts[tx->n_starts - 1].off;
		last_set = tx->want;
	}
	if (r == TAGGER_DONE && last_set)
		r = tagger_set(fd, s->dev, s->ino, tx->want, &tx->ids, at);
	if (r == TAGGER_GONE) {
		fdstate_detach(fd, s, FD_UNKNOWN);
		return;
	}
	fdstate_sock_lock(s);
	/* Recorded even if the kernel call failed: retrying on every write would cost a
	 * call each. If another send on this socket decided meanwhile, which call landed
	 * last is unknown: the next change sets the IDs again. */
	if (s->seq == tx->seq && last_set) {
		s->applied = tx->want ? APPLIED_SET : APPLIED_NONE;
		if (tx->want)
			s->applied_ids = tx->ids;
	} else {
		s->applied = APPLIED_UNKNOWN;
	}
	fdstate_sock_unlock(s);
}

/* Say (at debug) how many sends were made from signal handlers inside the shim: at 1, 2, 4, ... */
static void reentered_report(void)
{
	unsigned long n = atomic_load_explicit(&tx_reentered, memory_order_relaxed);
	unsigned long said = atomic_load_explicit(&tx_reentered_said, memory_order_relaxed);

	if (n == said || (said > 0 && n < 2 * said))
		return;
	if (atomic_compare_exchange_strong(&tx_reentered_said, &said, n))
		slog(SLOG_DEBUG, "%lu send(s) from signal handlers interrupting the shim passed untagged",
		     n);
}

/* After the real call returned @rc (errno @err): wind back a partial send, give up dead streams. */
static void tx_end(struct tx *tx, const struct op *o, ssize_t rc, int err)
{
	struct fd_sock *s = tx->sock;
	struct http_tracker *t = &s->http;
	bool dead;

	fdstate_sock_lock(s);
	if (!op_complete(o, rc)) {
		if (s->seq != tx->seq) {
			http_give_up(t);
		} else if (tx->body_only) {
			http_mark_rewind(t, &tx->mark);
			http_skip(t, op_sent(o, rc));
		} else {
			http_copy(t, &tx->before);
			feed_sent(t, o, rc);
		}
		s->seq++; /* never back: another send's check must see the change */
	}
	dead = http_dead(t);
	fdstate_sock_unlock(s);
	if (rc < 0 && o->kind != OP_TLS && (err == EBADF || err == ENOTSOCK)) {
		/* Closed (or replaced by a non-socket) behind the shim's back. */
		fdstate_detach(o->fd, s, FD_UNKNOWN);
	} else if (dead) {
		/* Not HTTP/1.x: clear the IDs and let this descriptor pass straight through. */
		if (!s->untagged)
			tagger_set(o->fd, s->dev, s->ino, false, NULL, 0);
		fdstate_detach(o->fd, s, FD_IGNORED);
	}
	reentered_report();
}

/*
 * The lock-free test every send starts with: true when @fd passes straight
 * to libc (ignored, or the call comes from inside the shim itself - a
 * signal handler that interrupted this thread in the shim).
 */
static inline bool pass_through(int fd)
{
	enum fd_class c = fdstate_class(fd);

	if (c == FD_IGNORED)
		return true;
	if (__builtin_expect(guard_active(), 0)) {
		if (c == FD_TRACKED)
			atomic_fetch_add_explicit(&tx_reentered, 1, memory_order_relaxed);
		return true;
	}
	return false;
}

/*
 * The entry test of every send variant, before its call is even described
 * (struct op): a descriptor that passes through goes to libc at once.
 */
static inline bool tx_passes(int fd)
{
	shim_ensure();
	return pass_through(fd);
}

static void tls_pending_begin(int fd);
/*
 * A server's write on an accepted socket: never changed; tagged with the
 * IDs of the response it belongs to (rx.c, resptag.c); what left feeds
 * the response side of its SERVER spans (rx.c).
 */
static ssize_t tx_accepted(struct op *o)
{
	ssize_t rc;
	int saved;

	if (!op_measure(o))
		return op_real(o);
	rx_before_write(o->fd);
	rc = op_real(o);
	saved = errno;
	if (rc > 0) {
		if (o->opaque)
			rx_feed_opaque(o->fd, (uint64_t)rc);
		else if (o->kind == OP_SENDMMSG)
			for (unsigned int i = 0; i < (unsigned int)rc && i < o->nmsg; i++)
				rx_feed(o->fd, false, o->vec[i].msg_hdr.msg_iov,
					o->vec[i].msg_hdr.msg_iovlen, o->vec[i].msg_len);
		else
			rx_feed(o->fd, false, o->iov, o->iovcnt, (size_t)rc);
	}
	errno = saved;
	return rc;
}

/* What left in a send, to the socket's CLIENT span (the request's method, path and Host). */
static void tx_client(const struct tx *tx, const struct op *o, ssize_t rc)
{
	if (!tx->client || rc <= 0 || o->opaque || o->kind == OP_SENDMMSG)
		return;
	fdstate_sock_lock(tx->sock);
	client_sent(tx->sock, o->iov, o->iovcnt, (size_t)rc);
	fdstate_sock_unlock(tx->sock);
}

/* Every send variant: one transaction. */
static ssize_t tx_send(struct op *o)
{
	struct tx tx;
	enum tx_kind k;
	ssize_t rc;
	size_t extra = 0; /* injected bytes that left in this call */
	int saved;

	shim_ensure();
	/* The pass-through test first: an ignored descriptor costs one load. */
	if (pass_through(o->fd))
		return op_real(o);
	if (fdstate_class(o->fd) == FD_ACCEPTED)
		return tx_accepted(o);
	if (!op_measure(o))
		return op_real(o);
	k = tx_begin(&tx, o);
	if (k == TX_PASS)
		return op_real(o);
	if (k == TX_CIPHER) {
		tls_pending_begin(o->fd);
		rc = op_real(o);
		saved = errno;
		if (rc > 0)
			atomic_fetch_add_explicit(&tx.sock->wire_sent, op_sent(o, rc),
						  memory_order_relaxed);
		fdstate_sock_put(tx.sock);
		errno = saved;
		return rc;
	}
	tx_apply(&tx, o->fd);
	if (tx.owed && inject_owed(tx.sock, o->fd, o->flags, &extra) < 0)
		rc = -1; /* none of the application's bytes left: the kernel's word for it */
	else if (tx.plan.on)
		rc = inject_send(tx.sock, o->fd, o->kind != OP_WRITE && o->kind != OP_WRITEV,
				 o->kind == OP_SENDMSG ? o->msg : NULL, o->flags, o->iov, o->iovcnt,
				 &tx.plan, &extra);
	else
		rc = op_real(o);
	saved = errno;
	tx_client(&tx, o, rc);
	/* The stream offset counts every byte that left, injected ones included. */
	if (rc > 0 || extra)
		atomic_fetch_add_explicit(&tx.sock->sent,
					  (uint_fast64_t)(op_sent(o, rc) + extra),
					  memory_order_relaxed);
	if (!tx.settled || !op_complete(o, rc))
		tx_end(&tx, o, rc, saved);
	fdstate_sock_put(tx.sock);
	errno = saved;
	return rc;
}

static ssize_t tx_buf(struct op *o)
{
	struct iovec iov = { .iov_base = (void *)o->buf, .iov_len = o->len };

	o->iov = &iov;
	o->iovcnt = 1;
	return tx_send(o);
}

ssize_t shim_write(int fd, const void *buf, size_t len)
{
	struct op o;

	if (tx_passes(fd))
		return real.write(fd, buf, len);
	o = (struct op){ .kind = OP_WRITE, .fd = fd, .buf = buf, .len = len };
	return tx_buf(&o);
}

ssize_t shim_send(int fd, const void *buf, size_t len, int flags)
{
	struct op o;

	if (tx_passes(fd))
		return real.send(fd, buf, len, flags);
	o = (struct op){ .kind = OP_SEND, .fd = fd, .buf = buf, .len = len, .flags = flags };
	return tx_buf(&o);
}

ssize_t shim_sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to,
		    socklen_t tolen)
{
	struct op o;

	if (tx_passes(fd))
		return real.sendto(fd, buf, len, flags, to, tolen);
	o = (struct op){ .kind = OP_SENDTO, .fd = fd, .buf = buf, .len = len, .flags = flags,
			 .to = to, .tolen = tolen };
	return tx_buf(&o);
}

ssize_t shim_writev(int fd, const struct iovec *iov, int iovcnt)
{
	struct op o;

	if (tx_passes(fd) || iovcnt < 0)
		return real.writev(fd, iov, iovcnt);
	o = (struct op){ .kind = OP_WRITEV, .fd = fd, .iov = iov, .iovcnt_arg = iovcnt };
	o.iovcnt = (size_t)iovcnt;
	return tx_send(&o);
}

ssize_t shim_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	struct op o;

	if (tx_passes(fd) || !msg)
		return real.sendmsg(fd, msg, flags);
	o = (struct op){ .kind = OP_SENDMSG, .fd = fd, .msg = msg, .flags = flags };
	o.iov = msg->msg_iov;
	o.iovcnt = msg->msg_iovlen;
	return tx_send(&o);
}

int shim_sendmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags)
{
	struct op o;

	if (tx_passes(fd) || !vec)
		return real.sendmmsg(fd, vec, vlen, flags);
	o = (struct op){ .kind = OP_SENDMMSG, .fd = fd, .vec = vec, .vlen = vlen, .flags = flags };
	return (int)tx_send(&o);
}

ssize_t shim_sendfile(int out_fd, int in_fd, off_t *offset, size_t count)
{
	struct op o;

	if (tx_passes(out_fd))
		return real.sendfile(out_fd, in_fd, offset, count);
	o = (struct op){ .kind = OP_SENDFILE, .fd = out_fd, .in_fd = in_fd, .offset = offset,
			 .len = count, .opaque = true };
	return tx_send(&o);
}

ssize_t shim_sendfile64(int out_fd, int in_fd, off64_t *offset, size_t count)
{
	struct op o;

	if (tx_passes(out_fd))
		return real.sendfile64(out_fd, in_fd, offset, count);
	o = (struct op){ .kind = OP_SENDFILE64, .fd = out_fd, .in_fd = in_fd, .offset = offset,
			 .len = count, .opaque = true };
	return tx_send(&o);
}

/*
 * A TLS library's plaintext send in progress on this thread: its
 * transaction begins at the first ciphertext send the library makes on a
 * TLS socket during the call, before that send - so the session is mapped
 * to its socket whatever its BIO or transport (curl's OpenSSL BIO is its
 * own, not a descriptor one), and the IDs are in place before the record
 * holding the request's first byte leaves.
 */
struct tls_pending {
	struct op o; /* the plaintext; its descriptor is the socket's, once known */
	struct iovec iov;
	struct tx tx;
	bool begun;
};

static __thread struct tls_pending *tls_pending __attribute__((tls_model("initial-exec")));

/* A ciphertext send on TLS socket @fd: begin this thread's plaintext transaction, if any. */
static void tls_pending_begin(int fd)
{
	struct tls_pending *p = tls_pending;

	if (!p)
		return;
	tls_pending = NULL; /* once per plaintext call */
	p->o.fd = fd;
	if (tx_begin(&p->tx, &p->o) != TX_TRACKED)
		return;
	p->begun = true;
	tx_apply(&p->tx, fd);
}

/*
 * Injection over TLS. The IDs, and so the line, are only known inside the
 * library's call (at its first ciphertext send), after it took the
 * plaintext. So a plaintext send that may begin a request (a method token,
 * a space, and its line's end before the send's end) is handed to the
 * library in pieces: its request line first - the transaction's look-ahead
 * runs during that call, over the whole send, and plans the line - then
 * the line, if planned, then the rest. The application's bytes are the
 * same, in the same order; the records differ. The application sees its
 * own call's result: its full length once every piece went, else the
 * failing piece's return (SSL_ERROR_WANT_WRITE, GNUTLS_E_AGAIN, ...),
 * and the pieces sent are remembered for the session: the application's
 * retry (the same length; the libraries require it) goes on from the
 * piece that failed, with the very buffer the library was given (its
 * retry check compares the address), so no byte is sent twice or lost.
 */
#define INJ_SLOTS 64

struct inj_slot {
	_Atomic(const void *) sess; /* owner; NULL: free */
	size_t len;                 /* the application's send */
	size_t at;                  /* its request line's length */
	size_t line_len;            /* the line's (0: none planned) */
	size_t done;                /* of at + line_len + rest: what the library took */
	size_t owed;                /* counted, not sent: the application sends them again */
	char line[80];
};

static struct inj_slot inj_slots[INJ_SLOTS];

static struct inj_slot *inj_find(const void *sess)
{
	for (size_t i = 0; i < INJ_SLOTS; i++)
		if (atomic_load_explicit(&inj_slots[i].sess, memory_order_acquire) == sess)
			return &inj_slots[i];
	return NULL;
}

static struct inj_slot *inj_claim(const void *sess)
{
	for (size_t i = 0; i < INJ_SLOTS; i++) {
		const void *none = NULL;

		if (atomic_compare_exchange_strong(&inj_slots[i].sess, &none, sess))
			return &inj_slots[i];
	}
	return NULL; /* that many sessions mid-send: this one is not split */
}

static void inj_release(struct inj_slot *e)
{
	atomic_store_explicit(&e->sess, NULL, memory_order_release);
}

void tx_plaintext_end(const void *sess)
{
	struct inj_slot *e = inj_find(sess);

	if (e)
		inj_release(e);
}

/*
 * GnuTLS's retry without data (NULL, 0) after GNUTLS_E_AGAIN: the library
 * sends the record it kept, and the application's buffer is not at hand.
 * After a send in pieces, the application gets the count of its own bytes
 * that left: all of them once the pieces are through, else a short count
 * - it sends the rest again, and that passes straight to the library (the
 * transaction counted those bytes already). false: not such a retry.
 */
bool tx_plaintext_resume(const void *sess, tls_send_fn fn, void *call, ssize_t *rc)
{
	struct inj_slot *e;
	size_t n, total, app;
	ssize_t r;

	if (shim_cfg.tracing != TRACING_INJECT || guard_active() || tls_pending ||
	    !(e = inj_find(sess)))
		return false;
	if (!e->owed && e->done == 0) {
		/* The first piece was kept: its count is the application's own. */
		inj_release(e);
		return false;
	}
	total = e->len + e->line_len;
	if (e->owed)
		n = e->owed;
	else if (e->done < e->at)
		n = e->at - e->done;
	else if (e->done < e->at + e->line_len)
		n = e->at + e->line_len - e->done;
	else
		n = total - e->done;
	r = fn(call, NULL, 0);
	if (r <= 0) {
		*rc = -1;
		return true;
	}
	if ((size_t)r > n)
		r = (ssize_t)n;
	if (e->owed) {
		e->owed -= (size_t)r;
		if (!e->owed)
			inj_release(e);
		*rc = r;
		return true;
	}
	e->done += (size_t)r;
	if (e->done == total) {
		*rc = (ssize_t)e->len;
		inj_release(e);
		return true;
	}
	app = e->done <= e->at ? e->done : e->done < e->at + e->line_len ? e->at : e->done - e->line_len;
	e->owed = e->len - app;
	*rc = (ssize_t)app;
	return true;
}

/* Where @buf's request line ends (past its '\n'), or 0: it does not begin one ending before @len. */
static size_t request_line_end(const unsigned char *buf, size_t len)
{
	size_t k = 0;

	while (k < len && k < 32 && buf[k] >= 'A' && buf[k] <= 'Z')
		k++;
	if (k == 0 || k >= len || buf[k] != ' ')
		return 0;
	for (; k < len; k++)
		if (buf[k] == '\n')
			return k + 1 < len ? k + 1 : 0;
	return 0;
}

/*
 * Hand the library what is left of @e's pieces (@buf: the application's
 * bytes). The application's bytes that went - its length when all did -
 * else -1 (the failing call's result is in the call; @e stays, for the
 * retry). @short_ok: a short count for the rest ends the call, as the
 * library's own would (GnuTLS takes one record's worth per call, OpenSSL
 * with SSL_MODE_ENABLE_PARTIAL_WRITE too); a retry, whose transaction
 * counted the whole send already, goes on to the end.
 */
static ssize_t inj_pieces(struct inj_slot *e, const unsigned char *buf, tls_send_fn fn,
			  void *call, bool short_ok)
{
	size_t total = e->len + e->line_len;
	ssize_t r;

	while (e->done < total) {
		const void *p;
		size_t n;

		if (e->done < e->at) {
			p = buf + e->done;
			n = e->at - e->done;
		} else if (e->done < e->at + e->line_len) {
			p = e->line + (e->done - e->at);
			n = e->at + e->line_len - e->done;
		} else {
			p = buf + (e->done - e->line_len);
			n = total - e->done;
		}
		r = fn(call, p, n);
		if (r <= 0)
			return -1;
		e->done += (size_t)r > n ? n : (size_t)r;
		if (short_ok && (size_t)r < n && e->done > e->at + e->line_len)
			return (ssize_t)(e->done - e->line_len);
	}
	return (ssize_t)e->len;
}

/* A plaintext send in pieces (see above); @e is this session's slot. */
static bool tx_plaintext_pieces(struct inj_slot *e, const void *buf, size_t len, tls_send_fn fn,
				void *call, ssize_t *rc)
{
	struct tls_pending p = { .o = { .kind = OP_TLS, .fd = -1, .len = len, .tls_fn = fn,
					.tls_call = call, .iovcnt = 1, .total = len } };
	ssize_t r, seen;
	int saved;

	if (e->done > 0) {
		/* A retry: the transaction ran with the first piece. */
		*rc = inj_pieces(e, buf, fn, call, false);
		saved = errno;
		if (*rc >= 0)
			inj_release(e);
		errno = saved;
		return true;
	}
	p.iov.iov_base = (void *)buf;
	p.iov.iov_len = len;
	p.o.iov = &p.iov;
	tls_pending = &p;
	r = fn(call, buf, e->at);
	saved = errno;
	tls_pending = NULL;
	if (r > 0) {
		e->done = (size_t)r > e->at ? e->at : (size_t)r;
		if (p.begun && p.tx.plan.on && p.tx.plan.at == e->at) {
			memcpy(e->line, p.tx.plan.line, p.tx.plan.len);
			e->line_len = p.tx.plan.len;
		}
		r = inj_pieces(e, buf, fn, call, true);
		saved = errno;
	} else {
		r = -1;
	}
	/* What went; once the first piece did, a failing one's retry sends all the rest. */
	seen = r >= 0 ? r : e->done > 0 ? (ssize_t)len : -1;
	if (p.begun) {
		tx_client(&p.tx, &p.o, seen);
		if (!p.tx.settled || !op_complete(&p.o, seen))
			tx_end(&p.tx, &p.o, seen, saved);
		fdstate_sock_put(p.tx.sock);
	}
	if (r >= 0)
		inj_release(e);
	*rc = r;
	errno = saved;
	return p.begun;
}

bool tx_plaintext(const void *sess, const void *buf, size_t len, tls_send_fn fn, void *call,
		  ssize_t *rc)
{
	struct tls_pending p = { .o = { .kind = OP_TLS, .fd = -1, .len = len, .tls_fn = fn,
					.tls_call = call, .iovcnt = 1, .total = len } };
	struct inj_slot *e;
	size_t at;
	int saved;

	shim_ensure();
	if (guard_active() || tls_pending) {
		*rc = fn(call, buf, len);
		return true;
	}
	e = shim_cfg.tracing == TRACING_INJECT ? inj_find(sess) : NULL;
	if (e && e->owed && len <= e->owed) {
		/* The rest of a send a retry without data cut short: counted already. */
		*rc = fn(call, buf, len);
		if (*rc > 0) {
			saved = errno;
			e->owed -= (size_t)*rc > e->owed ? e->owed : (size_t)*rc;
			if (!e->owed)
				inj_release(e);
			errno = saved;
		}
		return true;
	}
	if (e) {
		if (!e->owed && e->done > 0 && e->len == len)
			return tx_plaintext_pieces(e, buf, len, fn, call, rc);
		/* Nothing went yet (planned afresh), or not the retry the library asked for
		 * (the library says so). */
		inj_release(e);
	}
	if (shim_cfg.tracing == TRACING_INJECT && (at = request_line_end(buf, len)) &&
	    (e = inj_claim(sess))) {
		e->len = len;
		e->at = at;
		e->line_len = 0;
		e->done = 0;
		e->owed = 0;
		return tx_plaintext_pieces(e, buf, len, fn, call, rc);
	}
	p.iov.iov_base = (void *)buf;
	p.iov.iov_len = len;
	p.o.iov = &p.iov;
	tls_pending = &p;
	*rc = fn(call, buf, len);
	saved = errno;
	tls_pending = NULL;
	if (p.begun) {
		tx_client(&p.tx, &p.o, *rc);
		if (!p.tx.settled || !op_complete(&p.o, *rc))
			tx_end(&p.tx, &p.o, *rc, saved);
		fdstate_sock_put(p.tx.sock);
	}
	errno = saved;
	return p.begun;
}
