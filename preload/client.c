/*
 * client.c - CLIENT spans (see client.h).
 *
 * The request as sent and the response as read are followed by the
 * server-direction parser run the other way round (http.c's struct
 * http_srv: its "in" side reads the request the application wrote, its
 * "out" side the response it read), so both ends share one framing
 * logic: Content-Length, chunked, 1xx interim responses, HEAD, and a
 * response without length (ended when the socket is closed). One span per
 * socket is in flight: a request sent before the previous one's response
 * ended (pipelining) ends the previous span, marked so.
 *
 * url.full is built from the Host header (else the peer's address) and
 * the path without its query; a request line never carries credentials
 * in origin form, and userinfo in an absolute-form target is not kept.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "backtrace.h"
#include "client.h"
#include "fdstate.h"
#include "http.h"
#include "shim.h"
#include "spans_out.h"
#include "trace.h"

#pragma weak shim_stacktrace

struct client {
	struct http_srv p;
	bool active;       /* a CLIENT span is in flight */
	bool head;         /* its request's header block was parsed */
	bool status_known;
	bool tls;          /* its socket belongs to a TLS session: url.full says https */
	bool answered;     /* its response ended before its request was recorded (below) */
	uint16_t status;
	uint32_t req_no;
	uint64_t start_ns;
	uint64_t end_ns; /* when answered: the response's last byte read */
	uint8_t trace_id[16];
	uint8_t span_id[8];
	uint8_t parent_id[8];
	struct http_srv_req req;
	char peer[INET6_ADDRSTRLEN];
	uint16_t peer_port;
	char *stack; /* CLT_STACKTRACE: the frames that sent the request (STACKTRACE_MAX) */
};

static void peer_of(struct client *c, int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	c->peer[0] = '\0';
	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		return;
	if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)&ss;

		inet_ntop(AF_INET6, &a->sin6_addr, c->peer, sizeof(c->peer));
		c->peer_port = ntohs(a->sin6_port);
	} else if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)&ss;

		inet_ntop(AF_INET, &a->sin_addr, c->peer, sizeof(c->peer));
		c->peer_port = ntohs(a->sin_port);
	}
}

/* The CLIENT span ends now. */
static void emit(struct client *c, const char *error)
{
	struct span_build b;
	char url[HTTP_SRV_VAL_MAX + HTTP_SRV_PATH_MAX + INET6_ADDRSTRLEN + 16];
	char host[HTTP_SRV_VAL_MAX + 8];
	const char *at;

	c->active = false;
	if (!c->head)
		return; /* not an HTTP request after all: nothing to say */
	memset(&b.rec, 0, sizeof(b.rec));
	b.len = 0;
	b.full = false;
	memcpy(b.rec.trace_id, c->trace_id, 16);
	memcpy(b.rec.span_id, c->span_id, 8);
	memcpy(b.rec.parent_id, c->parent_id, 8);
	b.rec.start_ns = c->start_ns;
	b.rec.end_ns = c->answered ? c->end_ns : trace_now_ns();
	b.rec.kind = CLT_SPAN_KIND_CLIENT;
	b.rec.status = (error || (c->status_known && c->status >= 400)) ? CLT_SPAN_STATUS_ERROR
									 : CLT_SPAN_STATUS_UNSET;
	span_attr_str(&b, "http.request.method", c->req.method);
	if (c->peer[0]) {
		span_attr_str(&b, "server.address", c->peer);
		span_attr_int(&b, "server.port", c->peer_port);
	}
	/* The Host header as the application wrote it, without any userinfo; an IPv6
	 * literal without brackets (Tcl's http package writes "::1:8080") is no URL's
	 * authority, and where its address ends is unknown: the peer's is used. */
	at = strrchr(c->req.host, '@');
	at = at ? at + 1 : c->req.host;
	if (at[0] && (at[0] == '[' || !strchr(at, ':') || strchr(at, ':') == strrchr(at, ':')))
		snprintf(host, sizeof(host), "%s", at);
	else if (strchr(c->peer, ':'))
		snprintf(host, sizeof(host), "[%s]:%u", c->peer, c->peer_port);
	else
		snprintf(host, sizeof(host), "%s:%u", c->peer, c->peer_port);
	snprintf(url, sizeof(url), "%s://%s%s", c->tls ? "https" : "http", host,
		 c->req.path[0] == '/' ? c->req.path : "/");
	span_attr_str(&b, "url.full", url);
	if (c->status_known)
		span_attr_int(&b, "http.response.status_code", c->status);
	if (error)
		span_attr_str(&b, "error.type", error);
	if (c->stack && c->stack[0])
		span_attr_str(&b, "code.stacktrace", c->stack);
	spans_out_commit(&b);
}

static void on_event(void *arg, unsigned int ev, const struct http_srv *p)
{
	struct client *c = arg;

	if (!c->active)
		return;
	if (ev & HTTP_SRV_REQ_HEAD) {
		c->req = p->req;
		c->head = true;
		if (c->answered) {
			emit(c, NULL);
			return;
		}
	}
	if (ev & HTTP_SRV_RSP_HEAD) {
		c->status = p->status;
		c->status_known = true;
	}
	if (ev & HTTP_SRV_RSP_DONE) {
		/* A program that reads on another thread than it writes (Java's HttpClient: an
		 * executor writes, its selector thread reads) can read the whole response between
		 * the kernel's taking the request and the sender's recording it (client_sent):
		 * the span ends when the request is recorded, with the response's end time. */
		if (c->head) {
			emit(c, NULL);
		} else {
			c->answered = true;
			c->end_ns = trace_now_ns();
		}
	} else if (ev & HTTP_SRV_DEAD)
		c->active = false; /* not HTTP/1.x: no span guessed */
}

bool client_begin(struct fd_sock *s, int fd, uint32_t req_no, const uint8_t trace[16],
		  const uint8_t parent[8], struct http_ids *out)
{
	struct client *c = s->client;

	if (!c) {
		c = calloc(1, sizeof(*c));
		if (!c)
			return false;
		http_srv_init(&c->p);
		peer_of(c, fd);
		s->client = c;
	}
	if (!c->active || c->req_no != req_no) {
		if (c->active)
			emit(c, "pipelined");
		c->active = true;
		c->head = false;
		c->answered = false;
		c->status_known = false;
		c->tls = s->tls;
		c->req_no = req_no;
		c->start_ns = trace_now_ns();
		memcpy(c->trace_id, trace, 16);
		memcpy(c->parent_id, parent, 8);
		trace_new_span_id(c->span_id);
		/* Here the call stack is the application's send: its frames are the span's origin. */
		if (shim_cfg.stacktrace && shim_stacktrace) {
			if (!c->stack)
				c->stack = malloc(STACKTRACE_MAX);
			if (c->stack)
				shim_stacktrace(c->stack, STACKTRACE_MAX);
		}
	}
	memcpy(out->trace, c->trace_id, 16);
	memcpy(out->span, c->span_id, 8);
	return true;
}

bool client_current(const struct fd_sock *s, uint32_t req_no, struct http_ids *out)
{
	const struct client *c = s->client;

	if (!c || !c->active || c->req_no != req_no)
		return false;
	memcpy(out->trace, c->trace_id, 16);
	memcpy(out->span, c->span_id, 8);
	return true;
}

void client_sent(struct fd_sock *s, const struct iovec *iov, size_t iovcnt, size_t n)
{
	struct client *c = s->client;

	if (!c || c->p.in.dead)
		return;
	for (size_t i = 0; i < iovcnt && n; i++) {
		size_t take = iov[i].iov_len < n ? iov[i].iov_len : n;

		http_srv_feed_in(&c->p, iov[i].iov_base, take, on_event, c);
		n -= take;
	}
}

void client_read(int fd, const struct iovec *iov, size_t iovcnt, size_t n, bool plaintext)
{
	struct fd_sock *s = fdstate_sock_get(fd);
	struct client *c;

	if (!s)
		return;
	fdstate_sock_lock(s);
	/* A TLS socket's raw bytes are ciphertext: only the library's plaintext is parsed. */
	c = s->tls && !plaintext ? NULL : s->client;
	for (size_t i = 0; c && !c->p.out.dead && i < iovcnt && n; i++) {
		size_t take = iov[i].iov_len < n ? iov[i].iov_len : n;

		http_srv_feed_out(&c->p, iov[i].iov_base, take, on_event, c);
		n -= take;
	}
	fdstate_sock_unlock(s);
	fdstate_sock_put(s);
	spans_out_poll();
}

void client_fork_child(struct fd_sock *s)
{
	if (s->client)
		s->client->active = false;
}

void client_free(struct fd_sock *s)
{
	struct client *c = s->client;

	if (!c)
		return;
	if (c->active && c->head) {
		/* A response without length ends with the connection; anything else was cut. */
		emit(c, c->status_known && http_srv_out_until_close(&c->p) ? NULL : "connection_closed");
	}
	s->client = NULL;
	free(c->stack);
	free(c);
}
