/*
 * rx.c - the server side (see rx.h): the reading calls servers use, on
 * accepted sockets only, and one SERVER span per request.
 *
 * The pass-through test every read starts with is the one lock-free
 * class load fdstate gives every send: a regular file or an untracked
 * socket costs one load and a compare. Only FD_ACCEPTED descriptors go
 * further.
 *
 * A span begins at its request's first byte read and ends when its
 * response's last byte was written (Content-Length, chunked, or the
 * connection's end for a response without length), or when the socket
 * is closed first - then it is marked as ended mid-request. Pipelined
 * requests queue up to RX_INFLIGHT per connection; more are evicted
 * (counted). A stream that is not HTTP/1.x stops making spans; a request
 * whose header block never completed makes none.
 *
 * Locking: one lock for the table and every connection's parser, held
 * only for parsing and building records (pure CPU, no system call; the
 * span batch is appended under spans_out's own lock, taken after this
 * one and never the other way round).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "client.h"
#include "config.h"
#include "fdstate.h"
#include "http.h"
#include "log.h"
#include "real.h"
#include "resptag.h"
#include "rx.h"
#include "shim.h"
#include "spans_out.h"
#include "trace.h"

#define RX_INFLIGHT 8

struct srv_span {
	bool head;     /* the request's header block was read */
	bool sampled;
	bool has_parent;
	bool status_known;
	uint16_t status;
	uint64_t start_ns;
	uint64_t token;
	uintptr_t thread;
	uint8_t trace_id[16];
	uint8_t span_id[8];
	uint8_t parent_id[8];
	bool resp_want;          /* its response carries IDs (resptag.c) */
	struct http_ids resp_ids;
	struct http_srv_req req;
};

struct rx_conn {
	struct http_srv p;
	char local[INET6_ADDRSTRLEN];
	char peer[INET6_ADDRSTRLEN];
	uint16_t local_port, peer_port;
	struct srv_span q[RX_INFLIGHT]; /* FIFO: q[qh] is the oldest */
	unsigned int qh, qn;
	bool dead;
	bool tls;        /* its first bytes were a TLS record: only the library's plaintext is fed */
	bool raw_seen;   /* raw bytes were read already */
	uint64_t id;     /* this connection, not another one on the same descriptor later */
	struct resptag_conn rt; /* its responses' IDs */
};

static pthread_mutex_t rx_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rx_conn **rx_tab; /* by descriptor, fdstate_size entries; under rx_lock */
static uint64_t rx_token;
static uint64_t rx_conn_ids;
/* The TLS library call in progress on this thread (tls.c): the socket its ciphertext moved on. */
static __thread struct rx_tls_call *rx_tls_call __attribute__((tls_model("initial-exec")));
static atomic_ulong rx_evicted;

static void rx_enter(void)
{
	guard_enter();
	pthread_mutex_lock(&rx_lock);
}

static void rx_exit(void)
{
	pthread_mutex_unlock(&rx_lock);
	guard_exit();
}

static void addr_str(const struct sockaddr_storage *ss, char *out, size_t cap, uint16_t *port)
{
	out[0] = '\0';
	*port = 0;
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)ss;

		/* An IPv4 client of a dual-stack listener is reported as IPv4. */
		if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr))
			inet_ntop(AF_INET, &a->sin6_addr.s6_addr[12], out, (socklen_t)cap);
		else
			inet_ntop(AF_INET6, &a->sin6_addr, out, (socklen_t)cap);
		*port = ntohs(a->sin6_port);
	} else if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)ss;

		inet_ntop(AF_INET, &a->sin_addr, out, (socklen_t)cap);
		*port = ntohs(a->sin_port);
	}
}

/* Emit @sp as a SERVER span ending now. Under rx_lock. */
static void span_emit(struct rx_conn *c, struct srv_span *sp, bool closed)
{
	struct span_build b;
	char ver[8];
	const char *host = sp->req.host;
	char hostbuf[HTTP_SRV_VAL_MAX];
	long port = c->local_port;

	if (sp->token)
		trace_server_end(sp->token, sp->thread);
	if (!sp->sampled)
		return;
	memset(&b.rec, 0, sizeof(b.rec));
	b.len = 0;
	b.full = false;
	memcpy(b.rec.trace_id, sp->trace_id, 16);
	memcpy(b.rec.span_id, sp->span_id, 8);
	if (sp->has_parent)
		memcpy(b.rec.parent_id, sp->parent_id, 8);
	b.rec.start_ns = sp->start_ns;
	b.rec.end_ns = trace_now_ns();
	b.rec.kind = CLT_SPAN_KIND_SERVER;
	b.rec.status = (closed || (sp->status_known && sp->status >= 500)) ? CLT_SPAN_STATUS_ERROR
									    : CLT_SPAN_STATUS_UNSET;
	span_attr_str(&b, "http.request.method", sp->req.method);
	span_attr_str(&b, "url.path", sp->req.path);
	span_attr_str(&b, "url.scheme", c->tls ? "https" : "http");
	if (sp->status_known)
		span_attr_int(&b, "http.response.status_code", sp->status);
	/* server.address: the Host header's name (without its port), else the local address. */
	if (*host) {
		const char *colon = host[0] == '[' ? strchr(host, ']') : strrchr(host, ':');

		snprintf(hostbuf, sizeof(hostbuf), "%s", host[0] == '[' ? host + 1 : host);
		if (colon) {
			size_t n = (size_t)(colon - host) - (host[0] == '[');

			if (n < sizeof(hostbuf))
				hostbuf[n] = '\0';
			colon = host[0] == '[' ? strchr(colon, ':') : colon;
			if (colon)
				port = strtol(colon + 1, NULL, 10);
		}
		host = hostbuf;
	} else {
		host = c->local;
	}
	span_attr_str(&b, "server.address", host);
	span_attr_int(&b, "server.port", port);
	if (*c->peer) {
		span_attr_str(&b, "client.address", c->peer);
		span_attr_int(&b, "client.port", c->peer_port);
	}
	snprintf(ver, sizeof(ver), "1.%u", sp->req.minor);
	span_attr_str(&b, "network.protocol.version", ver);
	if (*sp->req.user_agent)
		span_attr_str(&b, "user_agent.original", sp->req.user_agent);
	if (closed)
		span_attr_str(&b, "error.type", sp->head ? "connection_closed" : "incomplete_request");
	spans_out_commit(&b);
}

static struct srv_span *q_tail(struct rx_conn *c)
{
	return c->qn ? &c->q[(c->qh + c->qn - 1) % RX_INFLIGHT] : NULL;
}

static void q_pop(struct rx_conn *c)
{
	c->qh = (c->qh + 1) % RX_INFLIGHT;
	c->qn--;
}

/* The oldest request whose header block was read and whose response is not done. */
static struct srv_span *q_head(struct rx_conn *c)
{
	return c->qn && c->q[c->qh].head ? &c->q[c->qh] : NULL;
}

static void on_event(void *arg, unsigned int ev, const struct http_srv *p)
{
	struct rx_conn *c = arg;
	struct srv_span *sp;

	switch (ev) {
	case HTTP_SRV_REQ_BEGIN:
		if (c->qn == RX_INFLIGHT) {
			/* Too many pipelined requests unanswered: the oldest is forgotten. */
			if (c->q[c->qh].head && c->q[c->qh].token)
				trace_server_end(c->q[c->qh].token, c->q[c->qh].thread);
			q_pop(c);
			atomic_fetch_add_explicit(&rx_evicted, 1, memory_order_relaxed);
		}
		sp = &c->q[(c->qh + c->qn) % RX_INFLIGHT];
		memset(sp, 0, sizeof(*sp));
		sp->start_ns = trace_now_ns();
		c->qn++;
		break;
	case HTTP_SRV_REQ_HEAD:
		sp = q_tail(c);
		if (!sp)
			break;
		sp->req = p->req;
		sp->head = true;
		sp->has_parent = p->req.has_parent;
		if (sp->has_parent) {
			memcpy(sp->trace_id, p->req.trace_id, 16);
			memcpy(sp->parent_id, p->req.parent_id, 8);
		} else {
			trace_new_trace_id(sp->trace_id);
		}
		trace_new_span_id(sp->span_id);
		/* CLT_TRACING=off: followed only for its response's IDs, no span. */
		if (shim_cfg.tracing != TRACING_OFF) {
			sp->sampled = trace_sample(sp->trace_id, sp->has_parent,
						   p->req.parent_sampled);
			sp->token = ++rx_token;
			sp->thread = trace_thread_key();
			trace_server_begin(sp->trace_id, sp->span_id, sp->sampled, sp->token);
		}
		sp->resp_want = resptag_ids_for(sp->sampled, sp->has_parent, p->req.parent_sampled,
						sp->trace_id, sp->span_id, sp->parent_id,
						&sp->resp_ids);
		c->rt.pending = true;
		break;
	case HTTP_SRV_RSP_HEAD:
		sp = q_head(c);
		if (sp) {
			sp->status = p->status;
			sp->status_known = true;
		}
		break;
	case HTTP_SRV_RSP_DONE:
		sp = q_head(c);
		if (sp) {
			span_emit(c, sp, false);
			q_pop(c);
		}
		break;
	case HTTP_SRV_DEAD:
		/* Not HTTP (or lost): what was not complete makes no span. */
		c->dead = true;
		sp = q_tail(c);
		if (sp && !sp->head)
			c->qn--;
		break;
	default:
		break;
	}
}

static bool table_ready(void)
{
	void *t;

	if (rx_tab)
		return true;
	if (!fdstate_size)
		return false;
	/* From the heap, not mmap: a leak checker (LeakSanitizer) scans heap
	 * blocks for pointers, so connections still open at exit are not
	 * taken for leaks. Pages never written are never touched. */
	t = calloc(fdstate_size, sizeof(*rx_tab));
	if (t == NULL)
		return false;
	rx_tab = t;
	return true;
}

/* Under rx_lock: end whatever @c has in flight and free it. */
static void conn_end(struct rx_conn *c)
{
	while (c->qn) {
		struct srv_span *sp = &c->q[c->qh];

		if (sp->head) {
			/* A response without length ends with the connection: that is its end. */
			bool normal = sp->status_known && http_srv_out_until_close(&c->p);

			span_emit(c, sp, !normal);
		}
		q_pop(c);
	}
	free(c);
}

void rx_accepted(int fd)
{
	struct sockaddr_storage me, peer;
	socklen_t ml = sizeof(me), pl = sizeof(peer);
	struct rx_conn *c, *old = NULL;
	int saved = errno, type = 0;
	socklen_t tl = sizeof(type);

	if ((shim_cfg.tracing == TRACING_OFF && !resptag_enabled()) ||
	    (unsigned int)fd >= fdstate_size)
		goto out;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_STREAM ||
	    getsockname(fd, (struct sockaddr *)&me, &ml) < 0 ||
	    (me.ss_family != AF_INET && me.ss_family != AF_INET6))
		goto out;
	if (getpeername(fd, (struct sockaddr *)&peer, &pl) < 0)
		peer.ss_family = AF_UNSPEC;
	c = calloc(1, sizeof(*c));
	if (!c)
		goto out;
	http_srv_init(&c->p);
	addr_str(&me, c->local, sizeof(c->local), &c->local_port);
	addr_str(&peer, c->peer, sizeof(c->peer), &c->peer_port);
	resptag_conn_init(&c->rt, fd, &peer);
	rx_enter();
	if (!table_ready()) {
		rx_exit();
		free(c);
		goto out;
	}
	c->id = ++rx_conn_ids;
	old = rx_tab[fd];
	rx_tab[fd] = c;
	if (old)
		conn_end(old);
	fdstate_set_class(fd, FD_ACCEPTED);
	rx_exit();
out:
	errno = saved;
}

void rx_forget(int fd)
{
	struct rx_conn *c;
	int saved = errno;

	if (!rx_tab || (unsigned int)fd >= fdstate_size)
		return;
	rx_enter();
	c = rx_tab[fd];
	rx_tab[fd] = NULL;
	if (c)
		conn_end(c);
	rx_exit();
	spans_out_poll();
	errno = saved;
}

/* The first raw bytes read on @c: a TLS record header (handshake, SSL 3.0 to TLS 1.3)? */
static bool raw_is_tls(const struct iovec *iov, size_t iovcnt, size_t n)
{
	const unsigned char *b;
	size_t len;

	while (iovcnt && !iov->iov_len) {
		iov++;
		iovcnt--;
	}
	if (!iovcnt || !n)
		return false;
	b = iov->iov_base;
	len = iov->iov_len < n ? iov->iov_len : n;
	return b[0] == 0x16 && (len < 2 || b[1] == 0x03) && (len < 3 || b[2] <= 0x04);
}

/* Under rx_lock: feed @n bytes of @iov to @c's parser. */
static void conn_feed(struct rx_conn *c, bool in, const struct iovec *iov, size_t iovcnt, size_t n)
{
	for (size_t i = 0; !c->dead && i < iovcnt && n; i++) {
		size_t take = iov[i].iov_len < n ? iov[i].iov_len : n;

		if (in)
			http_srv_feed_in(&c->p, iov[i].iov_base, take, on_event, c);
		else
			http_srv_feed_out(&c->p, iov[i].iov_base, take, on_event, c);
		n -= take;
	}
}

/*
 * Under rx_lock, when a request's header block was read or a response is
 * about to be written: the IDs the socket must carry are those of the
 * oldest request whose response is not done (resptag.c says why).
 */
static bool rx_resp_decide(struct rx_conn *c, int fd, struct resptag_job *job)
{
	struct srv_span *sp;

	if (!c->rt.pending || !c->rt.on)
		return false;
	c->rt.pending = false;
	sp = q_head(c);
	if (!sp)
		return false; /* nothing in flight: the last response's IDs stay */
	job->conn = c->id;
	return resptag_decide(&c->rt, fd, sp->resp_want, &sp->resp_ids, job);
}

/* No lock held: change the IDs, then record it on the same connection. */
static void rx_resp_apply(int fd, const struct resptag_job *job)
{
	struct rx_conn *c;

	resptag_apply(job);
	rx_enter();
	c = rx_tab[fd];
	if (c && c->id == job->conn)
		resptag_record(&c->rt, job);
	rx_exit();
}

void rx_feed(int fd, bool in, const struct iovec *iov, size_t iovcnt, size_t n)
{
	struct resptag_job job;
	struct rx_conn *c;
	bool resp;
	int saved = errno;

	if (!rx_tab || (unsigned int)fd >= fdstate_size)
		return;
	rx_enter();
	c = rx_tab[fd];
	if (c && !in)
		c->rt.sent += n; /* every octet on the wire, ciphertext included */
	if (c && in && !c->raw_seen) {
		c->raw_seen = true;
		c->tls = raw_is_tls(iov, iovcnt, n);
	}
	if (c && c->tls) {
		/* Ciphertext: never parsed; it maps the library's call to this socket. */
		struct rx_tls_call *call = rx_tls_call;

		if (call && call->fd < 0) {
			call->fd = fd;
			call->id = c->id;
		}
	} else if (c) {
		conn_feed(c, in, iov, iovcnt, n);
	}
	resp = c && rx_resp_decide(c, fd, &job);
	rx_exit();
	if (resp)
		rx_resp_apply(fd, &job);
	spans_out_poll();
	errno = saved;
}

void rx_before_write(int fd)
{
	struct resptag_job job;
	struct rx_conn *c;
	bool resp;

	if (!rx_tab || (unsigned int)fd >= fdstate_size || !resptag_enabled())
		return;
	rx_enter();
	c = rx_tab[fd];
	if (c)
		c->rt.pending = true; /* a write: its response's IDs must be in place */
	resp = c && rx_resp_decide(c, fd, &job);
	rx_exit();
	if (resp)
		rx_resp_apply(fd, &job);
}

void rx_tls_call_begin(struct rx_tls_call *call)
{
	call->fd = -1;
	call->id = 0;
	call->client_fd = -1;
	rx_tls_call = call;
}

void rx_tls_call_end(void)
{
	rx_tls_call = NULL;
}

bool rx_tls_active(void)
{
	return rx_tls_call != NULL;
}

uint64_t rx_tls_conn(int fd)
{
	struct rx_conn *c;
	uint64_t id = 0;

	if (!rx_tab || fd < 0 || (unsigned int)fd >= fdstate_size ||
	    fdstate_class(fd) != FD_ACCEPTED)
		return 0;
	rx_enter();
	c = rx_tab[fd];
	if (c && c->tls)
		id = c->id;
	rx_exit();
	return id;
}

void rx_tls_feed(int fd, uint64_t id, bool in, const void *buf, size_t n)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = n };
	struct rx_conn *c;
	int saved = errno;

	if (!rx_tab || fd < 0 || (unsigned int)fd >= fdstate_size)
		return;
	rx_enter();
	c = rx_tab[fd];
	if (c && c->tls && c->id == id)
		conn_feed(c, in, &iov, 1, n);
	rx_exit();
	spans_out_poll();
	errno = saved;
}

void rx_tls_end(int fd, uint64_t id)
{
	struct rx_conn *c = NULL;
	int saved = errno;

	if (!rx_tab || fd < 0 || (unsigned int)fd >= fdstate_size)
		return;
	rx_enter();
	if (rx_tab[fd] && rx_tab[fd]->tls && rx_tab[fd]->id == id) {
		c = rx_tab[fd];
		rx_tab[fd] = NULL;
		conn_end(c);
	}
	rx_exit();
	if (c)
		spans_out_poll();
	errno = saved;
}

void rx_feed_opaque(int fd, uint64_t n)
{
	struct rx_conn *c;

	if (!rx_tab || (unsigned int)fd >= fdstate_size)
		return;
	rx_enter();
	c = rx_tab[fd];
	if (c)
		c->rt.sent += n;
	if (c && !c->dead && !c->tls)
		http_srv_skip_out(&c->p, n, on_event, c);
	rx_exit();
}

void rx_eof(int fd)
{
	(void)fd; /* the close that follows ends what is in flight */
}

void rx_fork_prepare(void)
{
	rx_enter();
}

void rx_fork_parent(void)
{
	rx_exit();
}

void rx_fork_child(void)
{
	unsigned int high = atomic_load_explicit(&fdstate_high, memory_order_relaxed);

	/* The requests in flight are the parent's: it ends them (a CGI child writing the
	 * response must not report them a second time). The parsers stay in step. */
	for (unsigned int fd = 0; rx_tab && fd < high && fd < fdstate_size; fd++)
		if (rx_tab[fd])
			rx_tab[fd]->qn = 0;
	trace_fork_child();
	rx_exit();
}

/* ---- The reading calls ------------------------------------------------ */

/*
 * The lock-free test every read starts with: accepted sockets, and with
 * tracing on the tracked (client) sockets, whose responses end CLIENT
 * spans (client.c).
 */
static inline bool rx_followed(int fd)
{
	enum fd_class c = fdstate_class(fd);

	return (c == FD_ACCEPTED || (c == FD_TRACKED && shim_cfg.tracing != TRACING_OFF)) &&
	       !guard_active();
}

static void rx_after(int fd, ssize_t rc, const struct iovec *iov, size_t iovcnt, int flags)
{
	int saved = errno;

	/* A peek leaves the bytes for the next read: they are seen then. */
	if (rc > 0 && !(flags & (MSG_PEEK | MSG_TRUNC)) && fdstate_class(fd) == FD_TRACKED) {
		/* Inside a TLS library's read these are ciphertext: they only tell the
		 * library's call which client socket it reads (tls.c feeds the plaintext). */
		if (rx_tls_call && rx_tls_call->client_fd < 0)
			rx_tls_call->client_fd = fd;
		else if (!rx_tls_call)
			client_read(fd, iov, iovcnt, (size_t)rc, false);
	}
	else if (rc > 0 && !(flags & (MSG_PEEK | MSG_TRUNC)))
		rx_feed(fd, true, iov, iovcnt, (size_t)rc);
	else if (rc == 0)
		rx_eof(fd);
	errno = saved;
}

static ssize_t rx_buf(int fd, void *buf, size_t len, int flags, ssize_t rc)
{
	struct iovec iov = {.iov_base = buf, .iov_len = len};

	rx_after(fd, rc, &iov, 1, flags);
	return rc;
}

ssize_t shim_read(int fd, void *buf, size_t len)
{
	shim_ensure();
	if (__builtin_expect(!rx_followed(fd), 1))
		return real.read(fd, buf, len);
	return rx_buf(fd, buf, len, 0, real.read(fd, buf, len));
}

ssize_t shim_recv(int fd, void *buf, size_t len, int flags)
{
	shim_ensure();
	if (__builtin_expect(!rx_followed(fd), 1))
		return real.recv(fd, buf, len, flags);
	return rx_buf(fd, buf, len, flags, real.recv(fd, buf, len, flags));
}

ssize_t shim_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *from,
		      socklen_t *fromlen)
{
	shim_ensure();
	if (__builtin_expect(!rx_followed(fd), 1))
		return real.recvfrom(fd, buf, len, flags, from, fromlen);
	return rx_buf(fd, buf, len, flags, real.recvfrom(fd, buf, len, flags, from, fromlen));
}

ssize_t shim_read_chk(int fd, void *buf, size_t len, size_t buflen)
{
	shim_ensure();
	if (__builtin_expect(!rx_followed(fd), 1))
		return real.__read_chk(fd, buf, len, buflen);
	return rx_buf(fd, buf, len, 0, real.__read_chk(fd, buf, len, buflen));
}

ssize_t shim_recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
	shim_ensure();
	if (__builtin_expect(!rx_followed(fd), 1))
		return real.__recv_chk(fd, buf, len, buflen, flags);
	return rx_buf(fd, buf, len, flags, real.__recv_chk(fd, buf, len, buflen, flags));
}

ssize_t shim_recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
			  struct sockaddr *from, socklen_t *fromlen)
{
	shim_ensure();
	if (__builtin_expect(!rx_followed(fd), 1))
		return real.__recvfrom_chk(fd, buf, len, buflen, flags, from, fromlen);
	return rx_buf(fd, buf, len, flags,
		      real.__recvfrom_chk(fd, buf, len, buflen, flags, from, fromlen));
}

ssize_t shim_readv(int fd, const struct iovec *iov, int iovcnt)
{
	ssize_t rc;

	shim_ensure();
	if (__builtin_expect(!rx_followed(fd), 1))
		return real.readv(fd, iov, iovcnt);
	rc = real.readv(fd, iov, iovcnt);
	/* The kernel filled them in order: the first @rc bytes are what was read. */
	if (rc > 0)
		rx_after(fd, rc, iov, (size_t)iovcnt, 0);
	return rc;
}

ssize_t shim_recvmsg(int fd, struct msghdr *msg, int flags)
{
	ssize_t rc;

	shim_ensure();
	if (__builtin_expect(!rx_followed(fd), 1) || !msg)
		return real.recvmsg(fd, msg, flags);
	rc = real.recvmsg(fd, msg, flags);
	if (rc >= 0)
		rx_after(fd, rc, msg->msg_iov, msg->msg_iovlen, flags);
	return rc;
}
