/*
 * backend_agent.c - stock kernels, unprivileged programs: hand the socket
 * to the local cltagent over a Unix socket (SCM_RIGHTS) and let it apply
 * the sticky IOAM option with its own CAP_NET_RAW (include/clt/tagproto.h).
 *
 * One connection per context, opened lazily and again after any error,
 * never shared with a forked child: at its first request the child closes
 * the copy it inherited (a thread of the parent may have been waiting on
 * it) and initialises the lock afresh. Requests are serialised by a mutex:
 * each waits for its answer, at most CLT_AGENT_TIMEOUT_MS, so that the
 * caller's next write carries the IDs. A timeout or error is returned as
 * a negative errno (the shim then lets the write proceed untagged).
 */
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "clt/tagproto.h"
#include "clt_fdpass.h"
#include "clt_internal.h"
#include "clt_sys.h"

/* After a failed connect, fail fast for this long instead of trying the
 * agent again on every request. */
#define AGENT_RETRY_MS 1000
#define AGENT_TIMEOUT_MAX_MS 10000

struct clt_agent_conn {
	pthread_mutex_t lock;
	atomic_int lock_owner; /* pid whose lock this is (clt_fork_reset_begin) */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int timeout_ms;
	int fd;       /* -1: not connected */
	dev_t dev;    /* identity of fd, in case the program closed and reused the number */
	ino_t ino;
	uint32_t seq;
	uint64_t retry_after_ms;
	int last_err;
	atomic_ulong timeouts;
	atomic_ulong errors;
};

/* Where a request failed: it decides what the message tells the user. */
enum agent_stage {
	AGENT_STAGE_CONNECT = 1, /* reaching the tag socket */
	AGENT_STAGE_EXCHANGE,    /* sending the request, waiting for the answer */
	AGENT_STAGE_ANSWER,      /* cltagent answered with this error */
};

/* This thread's last agent-backend failure, for clt_strerror(). */
static __thread struct {
	int err;
	enum agent_stage stage;
	int timeout_ms;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char msg[384];
} agent_last;

static void agent_note(const struct clt_agent_conn *c, int err, enum agent_stage stage)
{
	agent_last.err = err;
	if (err >= 0)
		return;
	agent_last.stage = stage;
	agent_last.timeout_ms = c->timeout_ms;
	memcpy(agent_last.path, c->path, sizeof(agent_last.path));
}

const char *clt_agent_strerror(int err)
{
	const char *p = agent_last.path, *what;
	char *m = agent_last.msg;
	size_t cap = sizeof(agent_last.msg);

	if (err >= 0 || err != agent_last.err)
		return NULL;
	what = strerrordesc_np(-err);
	if (what == NULL)
		what = "unknown error";
	switch (agent_last.stage) {
	case AGENT_STAGE_CONNECT:
		if (err == -ENOENT)
			snprintf(m, cap,
				 "cltagent's tag socket %s not found: is cltagent running? "
				 "(CLT_AGENT_SOCKET names another path)",
				 p);
		else if (err == -ECONNREFUSED)
			snprintf(m, cap,
				 "cltagent's tag socket %s refuses connections: cltagent is not "
				 "running (a stale socket file)? start cltagent",
				 p);
		else if (err == -EACCES || err == -EPERM)
			snprintf(m, cap,
				 "no permission to connect to cltagent's tag socket %s: run as a "
				 "member of its group (cltagent --tag-group)",
				 p);
		else if (err == -EAGAIN)
			snprintf(m, cap,
				 "cltagent's tag socket %s is overloaded (its connection backlog is "
				 "full)",
				 p);
		else
			snprintf(m, cap, "cannot connect to cltagent's tag socket %s: %s", p, what);
		break;
	case AGENT_STAGE_EXCHANGE:
		if (err == -ETIMEDOUT)
			snprintf(m, cap,
				 "cltagent (tag socket %s) did not answer within %d ms "
				 "(CLT_AGENT_TIMEOUT_MS): is it overloaded?",
				 p, agent_last.timeout_ms);
		else if (err == -ECONNRESET || err == -EPIPE || err == -ENOTCONN)
			snprintf(m, cap,
				 "cltagent (tag socket %s) closed the connection: it restarted, or "
				 "refused this user (--tag-allow-uid) or connection (--tag-max-conns)",
				 p);
		else if (err == -EPROTO)
			snprintf(m, cap,
				 "cltagent (tag socket %s) answered with a malformed message: do "
				 "libclt and cltagent come from the same version?",
				 p);
		else
			snprintf(m, cap, "talking to cltagent (tag socket %s): %s", p, what);
		break;
	case AGENT_STAGE_ANSWER:
		if (err == -EPERM)
			snprintf(m, cap,
				 "cltagent (tag socket %s) could not set the IPv6 hop-by-hop option: "
				 "cltagent itself needs CAP_NET_RAW",
				 p);
		else if (err == -EBUSY)
			snprintf(m, cap,
				 "cltagent (tag socket %s) rate-limited this connection "
				 "(cltagent --tag-rate)",
				 p);
		else if (err == -EINVAL)
			snprintf(m, cap,
				 "cltagent (tag socket %s) refused the request as malformed: do "
				 "libclt and cltagent come from the same version?",
				 p);
		else
			snprintf(m, cap, "cltagent (tag socket %s) could not tag the socket: %s", p,
				 what);
		break;
	default:
		return NULL;
	}
	return m;
}

/* The socket path and timeout: options, then CLT_AGENT_*, then defaults. */
static int agent_resolve(const struct clt_options *opts, char *path, size_t cap, int *timeout_ms,
			 const char **why)
{
	const char *p = NULL, *env;
	int use_env = opts == NULL || !opts->ignore_env;
	unsigned long v;
	size_t len;

	if (opts != NULL && opts->agent_socket != NULL && opts->agent_socket[0] != '\0')
		p = opts->agent_socket;
	else if (use_env && (env = getenv("CLT_AGENT_SOCKET")) != NULL && *env != '\0')
		p = env;
	else
		p = CLT_TAG_DEFAULT_SOCKET;
	len = strlen(p);
	if (len >= cap || p[0] != '/') {
		*why = "CLT_AGENT_SOCKET: expected an absolute Unix socket path of at most 107 octets";
		return -EINVAL;
	}
	memcpy(path, p, len + 1);

	*timeout_ms = CLT_TAG_DEFAULT_TIMEOUT_MS;
	if (use_env && (env = getenv("CLT_AGENT_TIMEOUT_MS")) != NULL) {
		if (clt_parse_ulong(env, 1, AGENT_TIMEOUT_MAX_MS, &v) < 0)
			goto bad_timeout;
		*timeout_ms = (int)v;
	}
	return 0;
bad_timeout:
	*why = "CLT_AGENT_TIMEOUT_MS: expected milliseconds 1..10000";
	return -EINVAL;
}

int clt_agent_socket_path(const struct clt_options *opts, char *path, size_t cap, const char **why)
{
	int timeout_ms;

	return agent_resolve(opts, path, cap, &timeout_ms, why);
}

int clt_agent_check(const struct clt_options *opts, const char **why)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int timeout_ms;

	return agent_resolve(opts, path, sizeof(path), &timeout_ms, why);
}

static void agent_disconnect(struct clt_agent_conn *c)
{
	struct stat st;

	/* Close only what is still ours: if the program closed our number
	 * and reused it, it is not. In a forked child this closes the child's
	 * copy only; the parent keeps its connection. */
	if (c->fd >= 0 && fstat(c->fd, &st) == 0 && st.st_dev == c->dev && st.st_ino == c->ino)
		clt_sys.close(c->fd);
	c->fd = -1;
}

static int agent_connect(struct clt_agent_conn *c)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	uint64_t now = clt_now_ms();
	int fd, err;

	if (now < c->retry_after_ms)
		return c->last_err;
	memcpy(sa.sun_path, c->path, strlen(c->path) + 1);
	fd = clt_sys.socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		err = -errno;
		goto fail;
	}
	/* Non-blocking: a full backlog (agent overloaded) fails with EAGAIN
	 * instead of blocking the program. */
	if (clt_sys.connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || fstat(fd, &st) != 0) {
		err = -errno;
		clt_sys.close(fd);
		goto fail;
	}
	c->fd = fd;
	c->dev = st.st_dev;
	c->ino = st.st_ino;
	c->retry_after_ms = 0;
	return 0;
fail:
	c->last_err = err;
	c->retry_after_ms = now + AGENT_RETRY_MS;
	return err;
}

/* A usable connection: reconnect if our descriptor is gone (the program closed its number). */
static int agent_ensure(struct clt_agent_conn *c)
{
	struct stat st;

	if (c->fd >= 0 && (fstat(c->fd, &st) != 0 || st.st_dev != c->dev || st.st_ino != c->ino))
		c->fd = -1; /* not ours any more: nothing to close */
	if (c->fd >= 0)
		return 0;
	return agent_connect(c);
}

static int agent_send(struct clt_agent_conn *c, const void *req, size_t len, int sock)
{
	ssize_t n;

	/* MSG_NOSIGNAL: a dead agent must never kill the program with SIGPIPE. */
	n = clt_send_fd(clt_sys.sendmsg, c->fd, req, len, sock,
			MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0)
		return -errno;
	return n == (ssize_t)len ? 0 : -EPROTO;
}

/* Wait for the answer to @seq; answers to earlier (timed-out) requests are skipped. */
static int agent_wait(struct clt_agent_conn *c, uint32_t seq, enum agent_stage *stage)
{
	uint64_t deadline = clt_now_ms() + (uint64_t)c->timeout_ms;
	struct clt_tag_resp resp;
	struct pollfd pfd;
	ssize_t n;

	for (;;) {
		uint64_t now = clt_now_ms();
		int rc;

		if (now >= deadline)
			return -ETIMEDOUT;
		pfd.fd = c->fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		rc = clt_sys.poll(&pfd, 1, (int)(deadline - now));
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return -errno;
		if (rc == 0)
			return -ETIMEDOUT;
		n = clt_sys.recv(c->fd, &resp, sizeof(resp), MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		if (n != (ssize_t)sizeof(resp) || resp.magic != CLT_TAG_MAGIC ||
		    (resp.version != CLT_TAG_VERSION && resp.version != CLT_TAG_VERSION2))
			return -EPROTO;
		if (resp.seq != seq)
			continue;
		if (resp.status > 0 || resp.status < -4095)
			return -EPROTO;
		*stage = AGENT_STAGE_ANSWER;
		return resp.status;
	}
}

/* @flags (CLT_TAG_FLAG_*) need protocol v2; without any, v1 (an older cltagent understands it). */
static int agent_request(struct clt_ctx *ctx, int sock, uint8_t op, const uint8_t *trace_id,
			 const uint8_t *span_id, uint8_t flags)
{
	struct clt_agent_conn *c = ctx->agent;
	enum agent_stage stage = AGENT_STAGE_CONNECT;
	struct clt_tag_req req;
	struct clt_tag_req2 req2;
	int err, attempt, me;

	memset(&req, 0, sizeof(req));
	req.magic = CLT_TAG_MAGIC;
	req.version = CLT_TAG_VERSION;
	req.op = op;
	if (trace_id != NULL)
		memcpy(req.trace_id, trace_id, sizeof(req.trace_id));
	if (span_id != NULL)
		memcpy(req.span_id, span_id, sizeof(req.span_id));
	memset(&req2, 0, sizeof(req2));
	req2.h.magic = CLT_TAG_MAGIC;
	req2.h.version = CLT_TAG_VERSION2;
	req2.h.type = op; /* CLT_MSG_TAG_ENABLE / _DISABLE have v1's op values */
	req2.h.len = sizeof(req2);
	memcpy(req2.trace_id, req.trace_id, sizeof(req2.trace_id));
	memcpy(req2.span_id, req.span_id, sizeof(req2.span_id));
	req2.flags = flags;

	if (clt_fork_reset_begin(&c->lock_owner, &me)) {
		/* First request in a forked child: no thread here holds the
		 * lock, whatever the parent's threads did, and the connection is
		 * the parent's (answers to its requests would come to either
		 * process): close our copy, connect afresh below. */
		pthread_mutex_init(&c->lock, NULL);
		agent_disconnect(c);
		c->retry_after_ms = 0;
		clt_fork_reset_done(&c->lock_owner, me);
	}
	pthread_mutex_lock(&c->lock);
	for (attempt = 0; attempt < 2; attempt++) {
		int fresh = c->fd < 0;

		stage = AGENT_STAGE_CONNECT;
		err = agent_ensure(c);
		if (err < 0)
			break;
		stage = AGENT_STAGE_EXCHANGE;
		req.seq = req2.h.seq = ++c->seq;
		err = flags ? agent_send(c, &req2, sizeof(req2), sock)
			    : agent_send(c, &req, sizeof(req), sock);
		if (err == 0)
			err = agent_wait(c, req.seq, &stage);
		if (err == -ETIMEDOUT || err == -EPROTO || err == -ECONNRESET || err == -EPIPE ||
		    err == -ENOTCONN || err == -EAGAIN || err == -ECONNREFUSED) {
			/* The connection is in an unknown state: drop it so that a
			 * late answer can never be taken for the next request's. */
			agent_disconnect(c);
		}
		/* The agent may have restarted (or closed an idle connection)
		 * since the last request: one retry on a fresh connection. */
		if ((err == -EPIPE || err == -ECONNRESET || err == -ENOTCONN) && !fresh)
			continue;
		break;
	}
	agent_note(c, err, stage);
	pthread_mutex_unlock(&c->lock);
	if (err == -ETIMEDOUT)
		atomic_fetch_add(&c->timeouts, 1);
	else if (err < 0)
		atomic_fetch_add(&c->errors, 1);
	return err;
}

static int agent_enable(struct clt_ctx *ctx, int fd, const uint8_t trace_id[CLT_TRACE_ID_LEN],
			const uint8_t span_id[CLT_SPAN_ID_LEN])
{
	return agent_request(ctx, fd, CLT_TAG_OP_ENABLE, trace_id, span_id, 0);
}

static int agent_enable_response(struct clt_ctx *ctx, int fd, uint64_t stream_offset,
				 const uint8_t trace_id[CLT_TRACE_ID_LEN],
				 const uint8_t span_id[CLT_SPAN_ID_LEN])
{
	(void)stream_offset; /* cltagent sets the sticky option */
	return agent_request(ctx, fd, CLT_TAG_OP_ENABLE, trace_id, span_id,
			     CLT_TAG_FLAG_RESPONSE);
}

static int agent_disable(struct clt_ctx *ctx, int fd)
{
	return agent_request(ctx, fd, CLT_TAG_OP_DISABLE, NULL, NULL, 0);
}

static void agent_close(struct clt_ctx *ctx)
{
	struct clt_agent_conn *c = ctx->agent;

	if (c == NULL)
		return;
	agent_disconnect(c);
	pthread_mutex_destroy(&c->lock);
	free(c);
	ctx->agent = NULL;
}

int clt_agent_setup(struct clt_ctx *ctx, const struct clt_options *opts, int probe,
		    const char **why)
{
	int err = clt_agent_open(ctx, opts, probe, why);

	if (err == 0)
		ctx->ops = &clt_backend_agent_ops;
	return err;
}

int clt_agent_open(struct clt_ctx *ctx, const struct clt_options *opts, int probe,
		   const char **why)
{
	struct clt_agent_conn *c;
	struct stat st;
	int err;

	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->fd = -1;
	err = agent_resolve(opts, c->path, sizeof(c->path), &c->timeout_ms, why);
	if (err < 0)
		goto fail;
	if (probe) {
		/* Auto-selection: only when an agent answers there now. */
		if (stat(c->path, &st) != 0 || !S_ISSOCK(st.st_mode)) {
			*why = "agent: no socket at CLT_AGENT_SOCKET (default " CLT_TAG_DEFAULT_SOCKET ")";
			err = -ENOENT;
			goto fail;
		}
		err = agent_connect(c);
		if (err < 0) {
			*why = "agent: cannot connect to CLT_AGENT_SOCKET (is cltagent running with "
			       "--tag-socket, and may this user connect?)";
			goto fail;
		}
	}
	if (pthread_mutex_init(&c->lock, NULL) != 0) {
		err = -ENOMEM;
		agent_disconnect(c);
		goto fail;
	}
	atomic_store(&c->lock_owner, (int)getpid());
	ctx->agent = c;
	return 0;
fail:
	free(c);
	return err;
}

int clt_agent_defer(struct clt_ctx *ctx, const struct clt_options *opts)
{
	const char *why = NULL;
	int err;

	err = clt_agent_setup(ctx, opts, 0, &why);
	if (err < 0)
		return err;
	/* Set up as for CLT_BACKEND=agent, but not the backend yet. */
	ctx->ops = &clt_backend_off_ops;
	return 0;
}

int clt_agent_reprobe(struct clt_ctx *ctx)
{
	struct clt_agent_conn *c = ctx->agent;
	struct stat st;

	if (c == NULL)
		return -ENOENT;
	/* No other thread uses @c before it becomes the backend, and the
	 * caller's pacing replaces agent_connect()'s own. */
	if (stat(c->path, &st) != 0 || !S_ISSOCK(st.st_mode))
		return -ENOENT;
	c->retry_after_ms = 0;
	return agent_connect(c);
}

const char *clt_agent_path(const struct clt_ctx *ctx)
{
	return ctx->agent != NULL ? ctx->agent->path : "";
}

const struct clt_backend_ops clt_backend_agent_ops = {
	.id = CLT_BACKEND_AGENT,
	.enable = agent_enable,
	.disable = agent_disable,
	.close = agent_close,
	.enable_response = agent_enable_response,
};
