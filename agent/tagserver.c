/*
 * tagserver.c - the tag server (see tagserver.h): a SOCK_SEQPACKET Unix
 * listener; each request carries one descriptor that is checked to be an
 * IPv6 TCP or UDP socket, given (or cleared of) the same hop-by-hop IOAM
 * option libclt's hopopts backend builds, and closed at once.
 *
 * Hostile clients: every message is read with MSG_DONTWAIT and
 * MSG_CMSG_CLOEXEC, every received descriptor is closed on every path,
 * answers never block (a client that does not read its answers loses its
 * connection), each connection has a token bucket, the number of
 * connections is capped (the least recently active one makes room), and
 * each call does a bounded amount of work.
 */
#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "clt/clt.h"
#include "clt/tagproto.h"
#include "tag_bpf.h"
#include "tagserver.h"

#define TS_EVENTS_PER_CALL 64
#define TS_MSGS_PER_CONN 16 /* per call: one busy client cannot monopolise a round */
#define TS_ACCEPTS_PER_CALL 64
#define TS_MAX_FDS 16       /* control buffer: more descriptors arrive as MSG_CTRUNC */
#define TS_LISTENER_TAG UINT32_MAX

/* What a connection turned out to be: its first message decides, for good. */
enum ts_role { TS_ROLE_NEW = 0, TS_ROLE_TAG, TS_ROLE_SPANS, TS_ROLE_BPF };

/* TS_BUCKET_NONE: at most once per connection, nothing to rate. */
enum ts_bucket { TS_BUCKET_TAG = 0, TS_BUCKET_SPANS, TS_BUCKET_NONE, TS_BUCKET_COUNT };

/*
 * Protocol v2, one row per message type: the size bounds, whether a
 * descriptor comes along, whether it is answered, the rate bucket it
 * draws from and the connection role it belongs to. The bpf backend's
 * types (32-47) are rows here too; tag_bpf.c serves them and answers each
 * in its own layout (a clt_msg_hdr first), even when refused here.
 */
struct ts_type {
	uint8_t type;
	uint16_t min_len, max_len; /* the whole message */
	uint8_t fds;               /* descriptors that must come with it */
	bool answered;
	uint8_t bucket;
	uint8_t role;
};

static const struct ts_type ts_types[] = {
	{CLT_MSG_TAG_ENABLE, sizeof(struct clt_tag_req2), sizeof(struct clt_tag_req2), 1, true,
	 TS_BUCKET_TAG, TS_ROLE_TAG},
	{CLT_MSG_TAG_DISABLE, sizeof(struct clt_tag_req2), sizeof(struct clt_tag_req2), 1, true,
	 TS_BUCKET_TAG, TS_ROLE_TAG},
	{CLT_MSG_SPAN_BATCH, sizeof(struct clt_msg_hdr) + 4, CLT_SPAN_MSG_MAX, 0, false,
	 TS_BUCKET_SPANS, TS_ROLE_SPANS},
	{CLT_MSG_BPF_ATTACH, sizeof(struct clt_msg_hdr), sizeof(struct clt_msg_hdr), 0, true,
	 TS_BUCKET_NONE, TS_ROLE_BPF},
	{CLT_MSG_BPF_REGISTER, sizeof(struct clt_tag_bpf_register_req),
	 sizeof(struct clt_tag_bpf_register_req), 1, true, TS_BUCKET_TAG, TS_ROLE_BPF},
};

struct ts_conn {
	int fd; /* -1: free slot */
	uint8_t role; /* enum ts_role */
	uint64_t span_tokens_m; /* thousandths of a span record */
	uint64_t span_refill_ms;
	uid_t uid;
	pid_t pid;
	uint64_t tokens_m; /* thousandths of a request */
	uint64_t refill_ms;
	uint64_t active_ms;
	struct tag_bpf_conn bpf; /* tag_bpf.c: this process's slot array */
};

struct tagserver {
	struct tagserver_config cfg;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t dev;
	ino_t ino;
	int lfd;
	int epfd;
	struct clt_ctx *clt;
	struct ts_conn *conns;
	uint32_t n_conns;
	struct tagserver_stats st;
	uint8_t rbuf[CLT_SPAN_MSG_MAX + 1]; /* one message; one more octet shows a longer one */
};

__attribute__((format(printf, 3, 4))) static void ts_log(const struct tagserver *ts, int level,
							  const char *fmt, ...)
{
	va_list ap;

	if (ts->cfg.verbose < level)
		return;
	fputs("cltagent: tag: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int tagserver_parse_group(const char *s, gid_t *out)
{
	struct group *g;
	char *end = NULL;
	unsigned long v;

	if (s == NULL || *s == '\0')
		return -EINVAL;
	if (*s >= '0' && *s <= '9') {
		errno = 0;
		v = strtoul(s, &end, 10);
		if (errno != 0 || *end != '\0' || v >= (gid_t)-1)
			return -EINVAL;
		*out = (gid_t)v;
		return 0;
	}
	g = getgrnam(s);
	if (g == NULL)
		return -EINVAL;
	*out = g->gr_gid;
	return 0;
}

int tagserver_parse_uids(const char *s, struct tagserver_config *cfg)
{
	char name[64];

	while (s != NULL && *s != '\0') {
		const char *comma = strchr(s, ',');
		size_t len = comma ? (size_t)(comma - s) : strlen(s);
		struct passwd *pw;
		unsigned long v;
		char *end = NULL;

		if (len == 0 || len >= sizeof(name) || cfg->n_allow_uids >= TAGSERVER_MAX_ALLOW)
			return -EINVAL;
		memcpy(name, s, len);
		name[len] = '\0';
		if (name[0] >= '0' && name[0] <= '9') {
			errno = 0;
			v = strtoul(name, &end, 10);
			if (errno != 0 || *end != '\0' || v >= (uid_t)-1)
				return -EINVAL;
			cfg->allow_uids[cfg->n_allow_uids++] = (uid_t)v;
		} else {
			pw = getpwnam(name);
			if (pw == NULL)
				return -EINVAL;
			cfg->allow_uids[cfg->n_allow_uids++] = pw->pw_uid;
		}
		s = comma ? comma + 1 : s + len;
	}
	return 0;
}

/* Is a live server answering at @path? */
static bool ts_path_live(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	bool live;
	int fd;

	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return false;
	live = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EAGAIN;
	close(fd);
	return live;
}

/* Create the listening socket at ts->path with the configured owner and mode. */
static int ts_listen(struct tagserver *ts)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	mode_t old;
	int err;

	if (lstat(ts->path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return -EEXIST; /* never remove anything but a socket */
		if (ts_path_live(ts->path))
			return -EADDRINUSE;
		if (unlink(ts->path) != 0)
			return -errno;
	}
	ts->lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (ts->lfd < 0)
		return -errno;
	memcpy(sa.sun_path, ts->path, strlen(ts->path) + 1);
	/* Created owner-only, so nobody connects before owner and mode are set. */
	old = umask(0177);
	err = bind(ts->lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ? -errno : 0;
	umask(old);
	if (err < 0)
		return err;
	if (lstat(ts->path, &st) != 0)
		return -errno;
	ts->dev = st.st_dev;
	ts->ino = st.st_ino; /* ours from now on: removed at close */
	if (ts->cfg.set_gid && chown(ts->path, (uid_t)-1, ts->cfg.gid) != 0)
		return -errno;
	if (chmod(ts->path, ts->cfg.mode) != 0)
		return -errno;
	if (listen(ts->lfd, 256) != 0)
		return -errno;
	return 0;
}

/*
 * Every connection is a descriptor: raise the soft RLIMIT_NOFILE (often
 * 1024) to hold them all plus TAGSERVER_FD_SPARE. Where the hard limit
 * does not allow it, fewer connections are kept (said once): an accept()
 * failing with EMFILE would otherwise leave the listener ready forever.
 */
static void ts_fit_fd_limit(struct tagserver *ts)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)ts->cfg.max_conns + TAGSERVER_FD_SPARE;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
		return;
	if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want)
		rl.rlim_cur = want;
	else
		rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0 && getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < want) {
		uint32_t fit = rl.rlim_cur > 2 * TAGSERVER_FD_SPARE
				       ? (uint32_t)(rl.rlim_cur - TAGSERVER_FD_SPARE)
				       : TAGSERVER_FD_SPARE;

		if (fit < ts->cfg.max_conns) {
			fprintf(stderr,
				"cltagent: tag: descriptor limit %llu: at most %u connections, not %u "
				"(raise LimitNOFILE)\n",
				(unsigned long long)rl.rlim_cur, fit, ts->cfg.max_conns);
			ts->cfg.max_conns = fit;
		}
	}
}

int tagserver_open(struct tagserver **out, const struct tagserver_config *cfg)
{
	struct clt_options o = {0};
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = TS_LISTENER_TAG};
	struct tagserver *ts;
	size_t len;
	int err;

	*out = NULL;
	if (cfg->path == NULL || cfg->path[0] != '/')
		return -EINVAL;
	len = strlen(cfg->path);
	ts = calloc(1, sizeof(*ts));
	if (ts == NULL)
		return -ENOMEM;
	ts->cfg = *cfg;
	ts->lfd = -1;
	ts->epfd = -1;
	if (ts->cfg.mode == 0)
		ts->cfg.mode = 0660;
	if (ts->cfg.rate == 0)
		ts->cfg.rate = TAGSERVER_DEFAULT_RATE;
	if (ts->cfg.burst == 0)
		ts->cfg.burst = TAGSERVER_DEFAULT_RATE / 4;
	if (ts->cfg.max_conns == 0)
		ts->cfg.max_conns = TAGSERVER_DEFAULT_MAX_CONNS;
	if (ts->cfg.span_rate == 0)
		ts->cfg.span_rate = TAGSERVER_DEFAULT_SPAN_RATE;
	if (ts->cfg.idle_ms == 0)
		ts->cfg.idle_ms = 300000;
	ts_fit_fd_limit(ts);
	err = -ENAMETOOLONG;
	if (len >= sizeof(ts->path))
		goto fail;
	memcpy(ts->path, cfg->path, len + 1);

	/* The option is built exactly as for a privileged program: hopopts. */
	o.backend = CLT_BACKEND_HOPOPTS;
	o.namespace_id = cfg->namespace_id;
	o.trace_type = cfg->trace_type;
	o.hops = cfg->hops;
	err = clt_open(&ts->clt, &o);
	if (err < 0)
		goto fail;
	err = -ENOMEM;
	ts->conns = calloc(ts->cfg.max_conns, sizeof(*ts->conns));
	if (ts->conns == NULL)
		goto fail;
	for (uint32_t i = 0; i < ts->cfg.max_conns; i++)
		ts->conns[i].fd = -1;
	ts->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (ts->epfd < 0) {
		err = -errno;
		goto fail;
	}
	err = ts_listen(ts);
	if (err < 0)
		goto fail;
	if (epoll_ctl(ts->epfd, EPOLL_CTL_ADD, ts->lfd, &ev) != 0) {
		err = -errno;
		goto fail;
	}
	*out = ts;
	return 0;
fail:
	tagserver_close(ts);
	return err;
}

int tagserver_fd(const struct tagserver *ts)
{
	return ts->epfd;
}

static void ts_drop(struct tagserver *ts, struct ts_conn *c)
{
	epoll_ctl(ts->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	tag_bpf_release(ts->cfg.bpf, &c->bpf);
	close(c->fd);
	c->fd = -1;
	ts->n_conns--;
}

static bool ts_allowed(const struct tagserver *ts, uid_t uid)
{
	if (ts->cfg.n_allow_uids == 0)
		return true;
	for (size_t i = 0; i < ts->cfg.n_allow_uids; i++) {
		if (ts->cfg.allow_uids[i] == uid)
			return true;
	}
	return false;
}

/* A free slot, making one by closing the least recently active connection. */
static struct ts_conn *ts_slot(struct tagserver *ts)
{
	struct ts_conn *lru = NULL;

	for (uint32_t i = 0; i < ts->cfg.max_conns; i++) {
		struct ts_conn *c = &ts->conns[i];

		if (c->fd < 0)
			return c;
		if (lru == NULL || c->active_ms < lru->active_ms)
			lru = c;
	}
	ts_drop(ts, lru);
	ts->st.dropped++;
	return lru;
}

static void ts_accept(struct tagserver *ts, uint64_t now_ms)
{
	for (int i = 0; i < TS_ACCEPTS_PER_CALL; i++) {
		struct ucred cred;
		socklen_t len = sizeof(cred);
		struct epoll_event ev = {.events = EPOLLIN};
		struct ts_conn *c;
		int fd;

		fd = accept4(ts->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return; /* EAGAIN, or transient (EMFILE...): retried next round */
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
		    !ts_allowed(ts, cred.uid)) {
			ts->st.refused++;
			ts_log(ts, 1, "connection refused: uid %ld not allowed",
			       len == sizeof(cred) ? (long)cred.uid : -1L);
			close(fd);
			continue;
		}
		c = ts_slot(ts);
		c->fd = fd;
		c->role = TS_ROLE_NEW;
		c->span_tokens_m = (uint64_t)ts->cfg.span_rate * 1000u;
		c->span_refill_ms = now_ms;
		c->uid = cred.uid;
		c->pid = cred.pid;
		c->tokens_m = (uint64_t)ts->cfg.burst * 1000u;
		c->refill_ms = now_ms;
		c->active_ms = now_ms;
		c->bpf = (struct tag_bpf_conn){0};
		ev.data.u32 = (uint32_t)(c - ts->conns);
		if (epoll_ctl(ts->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
			close(fd);
			c->fd = -1;
			continue;
		}
		ts->n_conns++;
		ts->st.accepted++;
		ts_log(ts, 2, "client pid %ld uid %ld connected", (long)cred.pid, (long)cred.uid);
	}
}

static bool ts_take_token(const struct tagserver *ts, struct ts_conn *c, uint64_t now_ms)
{
	uint64_t cap = (uint64_t)ts->cfg.burst * 1000u;

	if (now_ms > c->refill_ms) {
		c->tokens_m += (now_ms - c->refill_ms) * ts->cfg.rate;
		if (c->tokens_m > cap)
			c->tokens_m = cap;
		c->refill_ms = now_ms;
	}
	if (c->tokens_m < 1000)
		return false;
	c->tokens_m -= 1000;
	return true;
}

/* Tag one socket (v1 or v2 request). @return the status to answer. */
static int ts_tag(struct tagserver *ts, struct ts_conn *c, uint8_t op, const uint8_t *trace_id,
		  const uint8_t *span_id, int fd, uint64_t now_ms, uint8_t flags)
{
	int err;

	if (!ts_take_token(ts, c, now_ms)) {
		ts->st.limited++;
		return -EBUSY;
	}
	/* Only an IPv6 TCP or UDP socket is ever touched. */
	err = clt_check_socket(fd);
	if (err < 0) {
		ts->st.rejected++;
		return err;
	}
	/* A response's IDs (a server's accepted socket): trailer v2, direction
	 * flag. The room its listener gave it (libclt's clt_tcp_clamp: its MSS
	 * leaves room for the option) comes off first, or its packets would
	 * carry both; a process without CAP_NET_RAW cannot remove it itself. */
	if (op == CLT_TAG_OP_ENABLE && (flags & CLT_TAG_FLAG_RESPONSE)) {
		clt_tcp_accepted(ts->clt, fd);
		err = clt_enable_flags(ts->clt, fd, 0, CLT_ENABLE_RESPONSE, trace_id, span_id);
	} else if (op == CLT_TAG_OP_ENABLE)
		err = clt_enable_trusted(ts->clt, fd, trace_id, span_id);
	else
		err = clt_disable(ts->clt, fd);
	if (err < 0)
		ts->st.errors++;
	else if (op == CLT_TAG_OP_ENABLE)
		ts->st.tagged++;
	else
		ts->st.cleared++;
	return err;
}

/* A v1 request: exactly 36 octets and one descriptor. */
static int ts_handle_v1(struct tagserver *ts, struct ts_conn *c, ssize_t n, int msg_flags,
			const int *fds, int nfds, uint64_t now_ms)
{
	struct clt_tag_req req;

	if (n != (ssize_t)sizeof(req) || (msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || nfds != 1) {
		ts->st.rejected++;
		return -EINVAL;
	}
	memcpy(&req, ts->rbuf, sizeof(req));
	if (req.reserved != 0 || (req.op != CLT_TAG_OP_ENABLE && req.op != CLT_TAG_OP_DISABLE) ||
	    (c->role != TS_ROLE_NEW && c->role != TS_ROLE_TAG)) {
		ts->st.rejected++;
		return -EINVAL;
	}
	c->role = TS_ROLE_TAG;
	return ts_tag(ts, c, req.op, req.trace_id, req.span_id, fds[0], now_ms, 0);
}

static const struct ts_type *ts_type_of(uint8_t type)
{
	for (size_t i = 0; i < sizeof(ts_types) / sizeof(ts_types[0]); i++)
		if (ts_types[i].type == type)
			return &ts_types[i];
	return NULL;
}

static uint32_t ts_span_allowance(const struct tagserver *ts, struct ts_conn *c, uint64_t now_ms)
{
	uint64_t cap = (uint64_t)ts->cfg.span_rate * 1000u;

	if (now_ms > c->span_refill_ms) {
		c->span_tokens_m += (now_ms - c->span_refill_ms) * ts->cfg.span_rate;
		if (c->span_tokens_m > cap)
			c->span_tokens_m = cap;
		c->span_refill_ms = now_ms;
	}
	return (uint32_t)(c->span_tokens_m / 1000u > UINT32_MAX ? UINT32_MAX
							       : c->span_tokens_m / 1000u);
}

/* A v2 message. *answer: whether its type is answered. @return the status to answer. */
static int ts_handle_v2(struct tagserver *ts, struct ts_conn *c, ssize_t n, int msg_flags,
			const int *fds, int nfds, uint64_t now_ms, bool *answer)
{
	struct clt_msg_hdr h;
	const struct ts_type *t;
	bool bad;

	memcpy(&h, ts->rbuf, sizeof(h));
	t = ts_type_of(h.type);
	*answer = t ? t->answered : true;
	bad = !t || (msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || h.len != (size_t)n ||
	      n < (ssize_t)t->min_len || n > (ssize_t)t->max_len || nfds != t->fds ||
	      (c->role != TS_ROLE_NEW && c->role != t->role);
	if (t && t->role == TS_ROLE_BPF) {
		bool rate_ok = bad || t->bucket != TS_BUCKET_TAG || ts_take_token(ts, c, now_ms);
		int rc;

		*answer = false; /* answered by tag_bpf_serve, in the type's own layout */
		if (!bad)
			c->role = t->role;
		if (!rate_ok)
			ts->st.limited++;
		rc = tag_bpf_serve(ts->cfg.bpf, &c->bpf, c->fd, c->uid, ts->rbuf, (size_t)n, bad,
				   fds, nfds, rate_ok, &ts->st.tagged, &ts->st.rejected);
		if (rc < 0) {
			ts->st.dropped++;
			ts_drop(ts, c);
		}
		return rc;
	}
	if (bad) {
		if (t && t->bucket == TS_BUCKET_SPANS)
			ts->st.span_refused++;
		else
			ts->st.rejected++;
		return -EINVAL;
	}
	c->role = t->role;
	if (t->bucket == TS_BUCKET_SPANS) {
		uint32_t allowed = ts_span_allowance(ts, c, now_ms), taken, over = 0;

		ts->st.span_batches++;
		if (!ts->cfg.on_spans) {
			ts->st.span_refused++;
			return -EOPNOTSUPP;
		}
		taken = ts->cfg.on_spans(ts->cfg.spans_arg, c->pid, c->uid,
					 ts->rbuf + sizeof(h), (size_t)n - sizeof(h), allowed, &over);
		ts->st.span_limited += over;
		c->span_tokens_m -= (uint64_t)taken * 1000u;
		return 0;
	}
	{
		struct clt_tag_req2 r;

		memcpy(&r, ts->rbuf, sizeof(r));
		if (r.reserved[0] || r.reserved[1] || r.reserved[2] ||
		    (r.flags & ~CLT_TAG_FLAG_RESPONSE)) {
			ts->st.rejected++;
			return -EINVAL;
		}
		return ts_tag(ts, c, h.type, r.trace_id, r.span_id, fds[0], now_ms, r.flags);
	}
}

/* Serve up to TS_MSGS_PER_CONN messages of @c. */
static void ts_serve(struct tagserver *ts, struct ts_conn *c, uint64_t now_ms)
{
	for (int m = 0; m < TS_MSGS_PER_CONN; m++) {
		union {
			char buf[CMSG_SPACE(sizeof(int) * TS_MAX_FDS)];
			struct cmsghdr align;
		} u;
		struct iovec iov = {.iov_base = ts->rbuf, .iov_len = sizeof(ts->rbuf)};
		struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
		struct clt_tag_resp resp = {.magic = CLT_TAG_MAGIC, .version = CLT_TAG_VERSION};
		struct clt_msg_hdr h;
		int fds[TS_MAX_FDS], nfds = 0;
		bool answer = true;
		ssize_t n, sent;

		msg.msg_control = u.buf;
		msg.msg_controllen = sizeof(u.buf);
		n = recvmsg(c->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		/* Collect every descriptor first: all of them are closed below. */
		for (struct cmsghdr *cm = n >= 0 ? CMSG_FIRSTHDR(&msg) : NULL; cm != NULL;
		     cm = CMSG_NXTHDR(&msg, cm)) {
			size_t k, cnt;

			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS ||
			    cm->cmsg_len < CMSG_LEN(0))
				continue;
			cnt = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (k = 0; k < cnt && nfds < TS_MAX_FDS; k++)
				memcpy(&fds[nfds++], CMSG_DATA(cm) + k * sizeof(int), sizeof(int));
		}
		if (n <= 0) {
			/* Peer gone (0) or broken: nothing to answer. */
			for (int k = 0; k < nfds; k++)
				close(fds[k]);
			ts_drop(ts, c);
			return;
		}
		ts->st.requests++;
		c->active_ms = now_ms;
		memset(&h, 0, sizeof(h));
		memcpy(&h, ts->rbuf, (size_t)n < sizeof(h) ? (size_t)n : sizeof(h));
		if (n >= (ssize_t)sizeof(h))
			resp.seq = h.seq;
		if (n < (ssize_t)sizeof(h) || h.magic != CLT_TAG_MAGIC) {
			ts->st.rejected++;
			resp.status = -EINVAL;
		} else if (h.version == CLT_TAG_VERSION) {
			resp.status = ts_handle_v1(ts, c, n, msg.msg_flags, fds, nfds, now_ms);
		} else if (h.version == CLT_TAG_VERSION2) {
			resp.version = CLT_TAG_VERSION2;
			resp.status = ts_handle_v2(ts, c, n, msg.msg_flags, fds, nfds, now_ms,
						   &answer);
		} else {
			ts->st.rejected++;
			resp.status = -EINVAL;
		}
		for (int k = 0; k < nfds; k++)
			close(fds[k]);
		if (c->fd < 0)
			return; /* the handler dropped it: its answer could not be sent */
		if (!answer)
			continue;
		sent = send(c->fd, &resp, sizeof(resp), MSG_DONTWAIT | MSG_NOSIGNAL);
		if (sent != (ssize_t)sizeof(resp)) {
			/* Gone, or not reading its answers: it does not get to stall us. */
			ts->st.dropped++;
			ts_drop(ts, c);
			return;
		}
	}
}

void tagserver_process(struct tagserver *ts, uint64_t now_ms)
{
	struct epoll_event evs[TS_EVENTS_PER_CALL];
	int n;

	n = epoll_wait(ts->epfd, evs, TS_EVENTS_PER_CALL, 0);
	for (int i = 0; i < n; i++) {
		uint32_t tag = evs[i].data.u32;

		if (tag == TS_LISTENER_TAG) {
			ts_accept(ts, now_ms);
			continue;
		}
		if (tag >= ts->cfg.max_conns || ts->conns[tag].fd < 0)
			continue;
		ts_serve(ts, &ts->conns[tag], now_ms);
	}
}

void tagserver_tick(struct tagserver *ts, uint64_t now_ms)
{
	for (uint32_t i = 0; i < ts->cfg.max_conns; i++) {
		struct ts_conn *c = &ts->conns[i];

		if (c->fd >= 0 && now_ms - c->active_ms >= ts->cfg.idle_ms) {
			ts_drop(ts, c);
			ts->st.dropped++;
		}
	}
}

void tagserver_get_stats(const struct tagserver *ts, struct tagserver_stats *out)
{
	*out = ts->st;
}

size_t tagserver_format_stats(char *buf, size_t cap, const struct tagserver_stats *s)
{
	int n = snprintf(buf, cap,
			 "tag requests=%llu tagged=%llu cleared=%llu rejected=%llu limited=%llu "
			 "errors=%llu accepted=%llu refused=%llu dropped=%llu span_batches=%llu "
			 "span_refused=%llu span_limited=%llu",
			 (unsigned long long)s->requests, (unsigned long long)s->tagged,
			 (unsigned long long)s->cleared, (unsigned long long)s->rejected,
			 (unsigned long long)s->limited, (unsigned long long)s->errors,
			 (unsigned long long)s->accepted, (unsigned long long)s->refused,
			 (unsigned long long)s->dropped, (unsigned long long)s->span_batches,
			 (unsigned long long)s->span_refused, (unsigned long long)s->span_limited);

	if (n < 0)
		return 0;
	return (size_t)n < cap ? (size_t)n : (cap ? cap - 1 : 0);
}

void tagserver_close(struct tagserver *ts)
{
	struct stat st;

	if (ts == NULL)
		return;
	if (ts->conns != NULL) {
		for (uint32_t i = 0; i < ts->cfg.max_conns; i++) {
			if (ts->conns[i].fd >= 0) {
				tag_bpf_release(ts->cfg.bpf, &ts->conns[i].bpf);
				close(ts->conns[i].fd);
			}
		}
	}
	/* Remove the socket file only if it is still the one we created. */
	if (ts->ino != 0 && lstat(ts->path, &st) == 0 && st.st_dev == ts->dev &&
	    st.st_ino == ts->ino)
		unlink(ts->path);
	if (ts->lfd >= 0)
		close(ts->lfd);
	if (ts->epfd >= 0)
		close(ts->epfd);
	clt_close(ts->clt);
	free(ts->conns);
	free(ts);
}
