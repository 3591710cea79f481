/*
 * backend_bpf.c - stock kernels, no privilege: cltagent's tc egress
 * program (bpf/clt_egress.bpf.c) adds the IOAM header per packet, taking
 * the IDs from this process's own slot array, which cltagent hands over
 * once (tag protocol v2, CLT_MSG_BPF_ATTACH) and this process mmaps.
 *
 * Once per connection the socket is registered (CLT_MSG_BPF_REGISTER: the
 * agent points the socket's storage at the slot of its descriptor, with a
 * new generation). Per request, the IDs and the request's stream offset
 * go into the slot's ring with plain stores under a sequence counter the
 * program checks: no system call, no privilege. The caller serialises
 * the requests of one socket (the shim holds the socket's lock).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "clt/bpfslot.h"
#include "clt/tagproto.h"
#include "clt_fdpass.h"
#include "clt_internal.h"
#include "clt_sys.h"

#define BPF_REGISTER_TIMEOUT_MS 1000
#define BPF_RESETTING UINT32_MAX

/* Bumped in every forked child (pthread_atfork): telling a child from its
 * parent costs one load per request, not a getpid() system call. */
static atomic_uint bpf_fork_epoch;
static pthread_once_t bpf_atfork_once = PTHREAD_ONCE_INIT;

static void bpf_in_child(void)
{
	atomic_fetch_add(&bpf_fork_epoch, 1);
}

static void bpf_atfork_register(void)
{
	pthread_atfork(NULL, NULL, bpf_in_child);
}

struct clt_bpf_state {
	pthread_mutex_t lock; /* the agent connection: one exchange at a time */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int sock;   /* connection to cltagent; its end frees our array */
	struct clt_bpf_slot *slots; /* mmap of the array, CLT_BPF_SLOTS */
	size_t map_len;
	uint32_t seq;
	atomic_uint gen_next;
	atomic_uint reg_gen[CLT_BPF_SLOTS]; /* the generation each descriptor is registered with; 0 none */
	atomic_uint epoch; /* bpf_fork_epoch when attached; BPF_RESETTING while a child re-attaches */
	/* Sockets without a slot (descriptors from CLT_BPF_SLOTS on): the next
	 * backend in auto's order, set up at the first (lock held). */
	_Atomic(const struct clt_backend_ops *) fallback;
	bool fallback_tried;
	atomic_bool room; /* the agent reserves the header's room on each socket (CLT_BPF_ATTACH_ROOM) */
	uint64_t retry_at_ms;           /* bpf_reattach: not before (lock held) */
	atomic_uint_fast64_t check_at_ms; /* bpf_check_agent: next look */
};

/* One request, one answer of at least @resp_min octets (an older agent's
 * may be shorter than @resp_len: the rest stays zero). */
static int bpf_exchange(struct clt_bpf_state *st, const void *req, size_t len, int fd, void *resp,
			size_t resp_min, size_t resp_len, int *fd_out)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov;
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	struct pollfd pfd = {.fd = st->sock, .events = POLLIN};
	ssize_t n;

	if (clt_send_fd(clt_sys.sendmsg, st->sock, req, len, fd, MSG_NOSIGNAL) != (ssize_t)len)
		return errno ? -errno : -EPIPE;
	for (;;) {
		int pr = clt_sys.poll(&pfd, 1, BPF_REGISTER_TIMEOUT_MS);

		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			return pr == 0 ? -ETIMEDOUT : -errno;
		break;
	}
	memset(resp, 0, resp_len);
	iov.iov_base = resp;
	iov.iov_len = resp_len;
	memset(&u, 0, sizeof(u));
	msg.msg_control = u.buf;
	msg.msg_controllen = sizeof(u.buf);
	n = clt_sys.recvmsg(st->sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n <= 0)
		return n == 0 ? -ECONNRESET : -errno;
	if (fd_out != NULL) {
		struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);

		*fd_out = -1;
		if (cm != NULL && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
		    cm->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(fd_out, CMSG_DATA(cm), sizeof(int));
	}
	return n >= (ssize_t)resp_min && n <= (ssize_t)resp_len ? 0 : -EPROTO;
}

static void bpf_hdr(struct clt_msg_hdr *h, uint8_t type, size_t len, uint32_t seq)
{
	h->magic = CLT_TAG_MAGIC;
	h->version = CLT_TAG_VERSION2;
	h->type = type;
	h->len = (uint16_t)len;
	h->seq = seq;
}

/* Connect, ask for our array, map it. */
static int bpf_attach(struct clt_bpf_state *st, const char **why)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct clt_msg_hdr req;
	struct clt_tag_bpf_attach_resp r;
	int mfd = -1, err;
	void *p;

	memcpy(sa.sun_path, st->path, strlen(st->path) + 1);
	st->sock = clt_sys.socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (st->sock < 0)
		return -errno;
	if (clt_sys.connect(st->sock, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		err = -errno;
		*why = "bpf: cltagent's tag socket does not answer";
		goto fail;
	}
	bpf_hdr(&req, CLT_MSG_BPF_ATTACH, sizeof(req), ++st->seq);
	err = bpf_exchange(st, &req, sizeof(req), -1, &r, offsetof(struct clt_tag_bpf_attach_resp, flags),
			   sizeof(r), &mfd);
	if (err == 0 && (r.h.magic != CLT_TAG_MAGIC || r.h.type != CLT_MSG_BPF_ATTACH))
		err = -EPROTO;
	if (err == 0 && r.status < 0)
		err = r.status;
	if (err < 0) {
		*why = err == -EOPNOTSUPP ? "bpf: cltagent runs without --bpf"
					  : "bpf: cltagent did not hand over a slot array";
		goto fail;
	}
	if (mfd < 0 || r.slots != CLT_BPF_SLOTS || r.slot_size != sizeof(struct clt_bpf_slot) ||
	    r.ring != CLT_BPF_RING) {
		err = -EPROTO;
		*why = "bpf: cltagent's slot array has another layout (a different version)";
		goto fail;
	}
	st->map_len = (size_t)CLT_BPF_SLOTS * sizeof(struct clt_bpf_slot);
	p = mmap(NULL, st->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (p == MAP_FAILED) {
		err = -errno;
		*why = "bpf: cannot map the slot array (kernel before 6.5 refuses it unprivileged)";
		goto fail;
	}
	/* The mapping keeps the array; a forked child must not keep writing
	 * its parent's slots, hence no descriptor left open either. */
	clt_sys.close(mfd);
	st->slots = p;
	atomic_store_explicit(&st->room, (r.flags & CLT_BPF_ATTACH_ROOM) != 0, memory_order_relaxed);
	return 0;
fail:
	if (mfd >= 0)
		clt_sys.close(mfd);
	clt_sys.close(st->sock);
	st->sock = -1;
	return err;
}

static void bpf_detach(struct clt_bpf_state *st)
{
	if (st->slots != NULL)
		munmap(st->slots, st->map_len);
	st->slots = NULL;
	if (st->sock >= 0)
		clt_sys.close(st->sock);
	st->sock = -1;
	for (size_t i = 0; i < CLT_BPF_SLOTS; i++)
		atomic_store_explicit(&st->reg_gen[i], 0, memory_order_relaxed);
}

int clt_bpf_setup(struct clt_ctx *ctx, const struct clt_options *opts, const char **why)
{
	struct clt_bpf_state *st;
	int err;

	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return -ENOMEM;
	st->sock = -1;
	err = clt_agent_socket_path(opts, st->path, sizeof(st->path), why);
	if (err == 0)
		err = bpf_attach(st, why);
	if (err < 0) {
		free(st);
		return err;
	}
	pthread_mutex_init(&st->lock, NULL);
	atomic_store(&st->gen_next, 1);
	pthread_once(&bpf_atfork_once, bpf_atfork_register);
	atomic_store(&st->epoch, atomic_load(&bpf_fork_epoch));
	ctx->bpf = st;
	/* The program writes the CLT trailer v2 (egress time): 12 octets more,
	 * which the TCP_MAXSEG clamp must leave room for. */
	ctx->hbh.trailer_version = 2;
	ctx->ops = &clt_backend_bpf_ops;
	return 0;
}

/* A forked child gets its own array: its parent's mapping is shared. */
static int bpf_fork_check(struct clt_bpf_state *st)
{
	unsigned int now = atomic_load_explicit(&bpf_fork_epoch, memory_order_relaxed);
	unsigned int cur = atomic_load_explicit(&st->epoch, memory_order_acquire);
	const char *why = "";
	int err;

	while (cur != now) {
		if (cur == BPF_RESETTING) {
			sched_yield();
			cur = atomic_load_explicit(&st->epoch, memory_order_acquire);
			continue;
		}
		if (!atomic_compare_exchange_weak_explicit(&st->epoch, &cur, BPF_RESETTING,
							   memory_order_acq_rel, memory_order_acquire))
			continue;
		/* A lock a parent's thread held at fork() stays held here. */
		pthread_mutex_init(&st->lock, NULL);
		bpf_detach(st);
		err = bpf_attach(st, &why);
		atomic_store_explicit(&st->epoch, now, memory_order_release);
		return err;
	}
	return st->slots != NULL ? 0 : -ECONNRESET;
}

static void slot_begin(struct clt_bpf_slot *s)
{
	__atomic_store_n(&s->seq, s->seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static void slot_end(struct clt_bpf_slot *s)
{
	__atomic_store_n(&s->seq, s->seq + 1, __ATOMIC_RELEASE);
}

/* A connection error: the agent is gone (killed, restarted). */
static bool bpf_conn_lost(int err)
{
	return err == -EPIPE || err == -ECONNRESET || err == -ENOTCONN || err == -ECONNREFUSED ||
	       err == -ENOENT;
}

/* The agent went away: ask the one now serving the socket for a new
 * array, at most once a second (lock held). The old mapping stays: a
 * thread may still be writing into it (harmless: no program reads it). */
static int bpf_reattach(struct clt_bpf_state *st)
{
	const char *why = "";
	uint64_t now = clt_now_ms();
	int err;

	if (now < st->retry_at_ms)
		return -ECONNRESET;
	st->retry_at_ms = now + 1000;
	if (st->sock >= 0)
		clt_sys.close(st->sock);
	st->sock = -1;
	err = bpf_attach(st, &why);
	if (err < 0)
		return err;
	/* Every socket registered with the old agent registers again at its
	 * next request: its storage went with the old program. */
	for (size_t i = 0; i < CLT_BPF_SLOTS; i++)
		atomic_store_explicit(&st->reg_gen[i], 0, memory_order_relaxed);
	return 0;
}

/* Milliseconds for the once-a-second look below: the coarse clock costs
 * about 4 ns through the vDSO against 27 for CLOCK_MONOTONIC here, and
 * this runs on every context change. */
static uint64_t bpf_coarse_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Once a second at most (one poll, no wait): has the agent closed our
 * connection? Then re-attach now, so that running connections are tagged
 * again by the next agent. */
static void bpf_check_agent(struct clt_bpf_state *st)
{
	uint64_t now = bpf_coarse_ms(), at = atomic_load_explicit(&st->check_at_ms, memory_order_relaxed);
	struct pollfd pfd;

	if (now < at || !atomic_compare_exchange_strong(&st->check_at_ms, &at, now + 1000))
		return;
	pthread_mutex_lock(&st->lock);
	pfd = (struct pollfd){.fd = st->sock, .events = POLLIN};
	if (st->sock < 0 || (clt_sys.poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLIN | POLLHUP | POLLERR))))
		bpf_reattach(st);
	pthread_mutex_unlock(&st->lock);
}

/* Once per connection: a new generation in the slot, then the agent links
 * the socket to it. A socket that had this descriptor before (passed on,
 * inherited) keeps the old generation and is no longer tagged. */
static int bpf_register(struct clt_bpf_state *st, int fd)
{
	struct clt_tag_bpf_register_req req;
	struct clt_tag_bpf_resp r;
	struct clt_bpf_slot *s;
	uint32_t gen;
	int err = -ECONNRESET;

	gen = atomic_fetch_add(&st->gen_next, 1);
	if (gen == 0)
		gen = atomic_fetch_add(&st->gen_next, 1);
	pthread_mutex_lock(&st->lock);
	for (int attempt = 0; attempt < 2; attempt++) {
		if (st->sock < 0 && (err = bpf_reattach(st)) < 0)
			break;
		s = &st->slots[fd];
		slot_begin(s);
		s->gen = gen;
		s->count = 0;
		s->flags = 0;
		slot_end(s);
		bpf_hdr(&req.h, CLT_MSG_BPF_REGISTER, sizeof(req), ++st->seq);
		req.slot = (uint32_t)fd;
		req.gen = gen;
		err = bpf_exchange(st, &req, sizeof(req), fd, &r, sizeof(r), sizeof(r), NULL);
		if (err == 0 && (r.h.magic != CLT_TAG_MAGIC || r.h.type != CLT_MSG_BPF_REGISTER))
			err = -EPROTO;
		if (err == 0)
			err = r.status;
		if (!bpf_conn_lost(err))
			break;
		clt_sys.close(st->sock); /* the agent went away: the next one, if any, is asked once */
		st->sock = -1;
	}
	pthread_mutex_unlock(&st->lock);
	if (err < 0)
		return err;
	atomic_store_explicit(&st->reg_gen[fd], gen, memory_order_relaxed);
	return 0;
}

/*
 * A socket without a slot goes to the next backend in auto's order: the
 * sticky option with CAP_NET_RAW, else the agent applies it (the same
 * tag socket). Set up once, said once. NULL: neither is available.
 */
static const struct clt_backend_ops *bpf_fallback(struct clt_ctx *ctx, struct clt_bpf_state *st)
{
	const struct clt_backend_ops *ops = atomic_load(&st->fallback);
	struct clt_options o = {.agent_socket = st->path, .ignore_env = 1};
	struct ioam_hbh_config v1 = ctx->hbh;
	const char *why = "";

	if (ops != NULL)
		return ops;
	pthread_mutex_lock(&st->lock);
	if (!st->fallback_tried) {
		st->fallback_tried = true;
		v1.trailer_version = 1; /* no program writes an egress time there */
		if (clt_have_cap_net_raw() && clt_hopopts_build(ctx, &v1) == 0)
			ops = &clt_backend_hopopts_ops;
		else if (ctx->agent != NULL || clt_agent_open(ctx, &o, 1, &why) == 0)
			ops = &clt_backend_agent_ops;
		fprintf(stderr,
			"libclt: bpf: descriptors from %d on have no slot: their sockets are tagged "
			"%s\n",
			CLT_BPF_SLOTS,
			ops == &clt_backend_hopopts_ops ? "through hopopts (CAP_NET_RAW)"
			: ops != NULL			? "through the agent backend"
							: "not at all (no CAP_NET_RAW, no agent backend)");
		atomic_store(&st->fallback, ops);
	}
	ops = atomic_load(&st->fallback);
	pthread_mutex_unlock(&st->lock);
	return ops;
}

static int bpf_enable_slot(struct clt_ctx *ctx, int fd, uint64_t offset, int sticky,
			   uint32_t dir, const uint8_t trace_id[CLT_TRACE_ID_LEN],
			   const uint8_t span_id[CLT_SPAN_ID_LEN])
{
	struct clt_bpf_state *st = ctx->bpf;
	struct clt_bpf_slot *s;
	struct clt_bpf_entry *e;
	const struct clt_backend_ops *fb;
	int err;

	if ((unsigned int)fd >= CLT_BPF_SLOTS) {
		fb = bpf_fallback(ctx, st);
		if (fb == NULL)
			return -EMFILE;
		if (dir != 0)
			return fb->enable_response != NULL
				       ? fb->enable_response(ctx, fd, offset, trace_id, span_id)
				       : -EOPNOTSUPP;
		return fb->enable(ctx, fd, trace_id, span_id);
	}
	err = bpf_fork_check(st);
	if (err < 0)
		return err;
	bpf_check_agent(st);
	/* A new connection starts at offset 0 (or the caller knows no
	 * offsets); the descriptor may name another socket than before. */
	if (atomic_load_explicit(&st->reg_gen[fd], memory_order_relaxed) == 0 ||
	    (offset == 0 && !sticky)) {
		err = bpf_register(st, fd);
		if (err < 0)
			return err;
	}
	s = &st->slots[fd];
	slot_begin(s);
	e = &s->ring[s->count & (CLT_BPF_RING - 1)];
	e->start = offset;
	memcpy(e->trace_id, trace_id, CLT_TRACE_ID_LEN);
	memcpy(e->span_id, span_id, CLT_SPAN_ID_LEN);
	s->count++;
	s->flags = CLT_BPF_SLOT_ON | (sticky ? CLT_BPF_SLOT_STICKY : 0) | dir;
	slot_end(s);
	return 0;
}

int clt_bpf_enable_at(struct clt_ctx *ctx, int fd, uint64_t offset, int sticky,
		      const uint8_t trace_id[CLT_TRACE_ID_LEN], const uint8_t span_id[CLT_SPAN_ID_LEN])
{
	return bpf_enable_slot(ctx, fd, offset, sticky, 0, trace_id, span_id);
}

/* A socket carries one direction (a client's requests, a server's
 * responses): the flag is the slot's, not each entry's. */
int clt_bpf_enable_resp(struct clt_ctx *ctx, int fd, uint64_t offset,
			const uint8_t trace_id[CLT_TRACE_ID_LEN], const uint8_t span_id[CLT_SPAN_ID_LEN])
{
	return bpf_enable_slot(ctx, fd, offset, 0, CLT_BPF_SLOT_RESPONSE, trace_id, span_id);
}

static int bpf_enable(struct clt_ctx *ctx, int fd, const uint8_t trace_id[CLT_TRACE_ID_LEN],
		      const uint8_t span_id[CLT_SPAN_ID_LEN])
{
	return clt_bpf_enable_at(ctx, fd, 0, 1, trace_id, span_id);
}

static int bpf_disable(struct clt_ctx *ctx, int fd)
{
	struct clt_bpf_state *st = ctx->bpf;
	struct clt_bpf_slot *s;

	if ((unsigned int)fd >= CLT_BPF_SLOTS) {
		const struct clt_backend_ops *fb = atomic_load(&st->fallback);

		return fb != NULL ? fb->disable(ctx, fd) : 0;
	}
	if (bpf_fork_check(st) < 0 || st->slots == NULL)
		return 0;
	s = &st->slots[fd];
	slot_begin(s);
	s->flags = 0;
	slot_end(s);
	return 0;
}

int clt_bpf_room(const struct clt_ctx *ctx)
{
	return ctx->bpf != NULL && atomic_load_explicit(&ctx->bpf->room, memory_order_relaxed);
}

/* Before connect(): the descriptor is about to carry a new connection. */
void clt_bpf_forget(struct clt_ctx *ctx, int fd)
{
	if (ctx->bpf != NULL && (unsigned int)fd < CLT_BPF_SLOTS)
		atomic_store_explicit(&ctx->bpf->reg_gen[fd], 0, memory_order_relaxed);
}

static void bpf_close(struct clt_ctx *ctx)
{
	if (ctx->bpf == NULL)
		return;
	bpf_detach(ctx->bpf);
	pthread_mutex_destroy(&ctx->bpf->lock);
	free(ctx->bpf);
	ctx->bpf = NULL;
}

const struct clt_backend_ops clt_backend_bpf_ops = {
	.id = CLT_BACKEND_BPF,
	.enable = bpf_enable,
	.disable = bpf_disable,
	.close = bpf_close,
	.enable_response = clt_bpf_enable_resp,
};
