/*
 * backend_genl.c - CLT-patched kernels: the IOAM6 generic netlink
 * commands PKT_ID_ENABLE (8) and PKT_ID_DISABLE (9), which make the
 * kernel itself stamp the socket's packets with the IDs.
 *
 * Support is detected from the family's operation list (controller
 * CTRL_CMD_GETFAMILY, CTRL_ATTR_OPS), never by trying a command. The
 * context's netlink socket is shared by all threads under genl_lock; a
 * forked child opens its own (see genl_after_fork).
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>

#include "clt_internal.h"
#include "clt_sys.h"

#define CLT_GENL_FAMILY "IOAM6"
#define CLT_GENL_VERSION 1
#define IOAM6_CMD_PKT_ID_ENABLE 8
#define IOAM6_CMD_PKT_ID_DISABLE 9
#define IOAM6_ATTR_SOCKFD 8  /* u32 */
#define IOAM6_ATTR_ID_HIGH 9 /* u64, host order */
#define IOAM6_ATTR_ID_LOW 10 /* u64, host order */
#define IOAM6_ATTR_SUBID 11  /* u64, host order */

/*
 * libnl reports its own codes, which lose the kernel's errno (ENOTSOCK
 * comes back as EBADF, ESOCKTNOSUPPORT as EIO): used only for what happens
 * on this side (allocation, sending) and for the controller; the kernel's
 * answer to a command is read by clt_genl_ack_errno.
 */
static int genl_errno(int nlerr)
{
	switch (nlerr < 0 ? -nlerr : nlerr) {
	case 0:
		return 0;
	case NLE_OPNOTSUPP:
		return -EOPNOTSUPP;
	case NLE_PERM:
		return -EPERM;
	case NLE_INVAL:
		return -EINVAL;
	case NLE_NOMEM:
		return -ENOMEM;
	case NLE_BAD_SOCK:
		return -EBADF;
	case NLE_AF_NOSUPPORT:
		return -EAFNOSUPPORT;
	case NLE_OBJ_NOTFOUND:
		return -ENOENT;
	case NLE_NOACCESS:
		return -EACCES;
	default:
		return -EIO;
	}
}

int clt_genl_ack_errno(const void *buf, size_t len, const char **extack)
{
	const uint8_t *p = buf;
	struct nlmsghdr h;
	struct nlmsgerr e;
	size_t off, end;

	if (extack != NULL)
		*extack = NULL;
	if (p == NULL || len < NLMSG_HDRLEN + sizeof(e))
		return -EBADMSG;
	memcpy(&h, p, sizeof(h)); /* the bytes may be unaligned */
	if (h.nlmsg_type != NLMSG_ERROR || h.nlmsg_len < NLMSG_HDRLEN + sizeof(e) ||
	    h.nlmsg_len > len)
		return -EBADMSG;
	memcpy(&e, p + NLMSG_HDRLEN, sizeof(e));
	/* The kernel sends 0 (acknowledged) or a negative errno. */
	if (e.error > 0 || e.error < -4095)
		return -EBADMSG;
	if (extack == NULL || !(h.nlmsg_flags & NLM_F_ACK_TLVS))
		return e.error;
	/* Extended ack: after the error, the request (its header only when
	 * capped, else whole), then attributes. */
	off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(e));
	if (!(h.nlmsg_flags & NLM_F_CAPPED)) {
		if (e.msg.nlmsg_len < NLMSG_HDRLEN)
			return e.error;
		off += NLMSG_ALIGN((size_t)e.msg.nlmsg_len - NLMSG_HDRLEN);
	}
	end = h.nlmsg_len;
	while (off + NLA_HDRLEN <= end) {
		struct nlattr a;

		memcpy(&a, p + off, sizeof(a));
		if (a.nla_len < NLA_HDRLEN || a.nla_len > end - off)
			break;
		if ((a.nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG && a.nla_len > NLA_HDRLEN &&
		    memchr(p + off + NLA_HDRLEN, '\0', a.nla_len - NLA_HDRLEN) != NULL) {
			*extack = (const char *)(p + off + NLA_HDRLEN);
			break;
		}
		off += NLA_ALIGN(a.nla_len);
	}
	return e.error;
}

int clt_genl_socket_taggable(int type, int protocol)
{
	return type == SOCK_STREAM && protocol == IPPROTO_TCP ? 0 : -ESOCKTNOSUPPORT;
}

/* The kernel's errno, from the error message libnl hands over (it points
 * into the received message, right after its header). */
struct genl_answer {
	int err;
	bool seen;
};

static int genl_error_cb(struct sockaddr_nl *who, struct nlmsgerr *e, void *arg)
{
	struct genl_answer *ans = arg;
	const struct nlmsghdr *h = (const struct nlmsghdr *)((const uint8_t *)e - NLMSG_HDRLEN);

	(void)who;
	ans->err = clt_genl_ack_errno(h, h->nlmsg_len, NULL);
	ans->seen = true;
	return NL_STOP;
}

struct genl_probe_state {
	int found_family;
	int has_enable;
	int has_disable;
};

static int genl_probe_cb(struct nl_msg *msg, void *arg)
{
	struct genl_probe_state *st = arg;
	struct nlattr *tb[CTRL_ATTR_MAX + 1];
	struct nlattr *op;
	int rem;

	if (genlmsg_parse(nlmsg_hdr(msg), 0, tb, CTRL_ATTR_MAX, NULL) < 0)
		return NL_SKIP;
	if (tb[CTRL_ATTR_FAMILY_ID] == NULL)
		return NL_SKIP;
	st->found_family = 1;
	if (tb[CTRL_ATTR_OPS] == NULL)
		return NL_OK;
	nla_for_each_nested(op, tb[CTRL_ATTR_OPS], rem)
	{
		struct nlattr *otb[CTRL_ATTR_OP_MAX + 1];
		uint32_t id;

		if (nla_parse_nested(otb, CTRL_ATTR_OP_MAX, op, NULL) < 0 ||
		    otb[CTRL_ATTR_OP_ID] == NULL || nla_len(otb[CTRL_ATTR_OP_ID]) < 4)
			continue;
		id = nla_get_u32(otb[CTRL_ATTR_OP_ID]);
		if (id == IOAM6_CMD_PKT_ID_ENABLE)
			st->has_enable = 1;
		else if (id == IOAM6_CMD_PKT_ID_DISABLE)
			st->has_disable = 1;
	}
	return NL_OK;
}

int clt_genl_probe(const char **why)
{
	struct genl_probe_state st = {0, 0, 0};
	struct nl_sock *sk;
	struct nl_msg *msg = NULL;
	int err, ret;

	sk = nl_socket_alloc();
	if (sk == NULL) {
		*why = "genl: out of memory";
		return -ENOMEM;
	}
	err = genl_connect(sk);
	if (err < 0) {
		*why = "genl: cannot open a generic netlink socket";
		ret = genl_errno(err);
		goto out;
	}
	/* One request, one reply: no ACK to wait for. */
	nl_socket_disable_auto_ack(sk);
	msg = nlmsg_alloc();
	if (msg == NULL ||
	    genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, GENL_ID_CTRL, 0, 0, CTRL_CMD_GETFAMILY,
			1) == NULL ||
	    nla_put_string(msg, CTRL_ATTR_FAMILY_NAME, CLT_GENL_FAMILY) < 0) {
		*why = "genl: out of memory";
		ret = -ENOMEM;
		goto out;
	}
	nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM, genl_probe_cb, &st);
	err = nl_send_auto(sk, msg);
	if (err >= 0)
		err = nl_recvmsgs_default(sk);
	if (err < 0 && -err != NLE_OBJ_NOTFOUND) {
		*why = "genl: the generic netlink controller did not answer";
		ret = genl_errno(err);
		goto out;
	}
	if (!st.found_family) {
		*why = "genl: the kernel has no IOAM6 generic netlink family";
		ret = 0;
	} else if (!st.has_enable || !st.has_disable) {
		*why = "genl: the kernel's IOAM6 family has no PKT_ID_ENABLE/DISABLE "
		       "(no CLT kernel patch)";
		ret = 0;
	} else {
		*why = "genl: the kernel's IOAM6 family has PKT_ID_ENABLE";
		ret = 1;
	}
out:
	nlmsg_free(msg);
	nl_socket_free(sk);
	return ret;
}

static void genl_close(struct clt_ctx *ctx)
{
	if (ctx->genl_sock != NULL)
		nl_socket_free(ctx->genl_sock);
	ctx->genl_sock = NULL;
	if (ctx->genl_lock_init)
		pthread_mutex_destroy(&ctx->genl_lock);
	ctx->genl_lock_init = false;
}

int clt_genl_setup(struct clt_ctx *ctx)
{
	int err;

	ctx->genl_sock = nl_socket_alloc();
	if (ctx->genl_sock == NULL)
		return -ENOMEM;
	err = genl_connect(ctx->genl_sock);
	if (err < 0)
		goto fail;
	err = genl_ctrl_resolve(ctx->genl_sock, CLT_GENL_FAMILY);
	if (err < 0)
		goto fail;
	ctx->genl_family = err;
	if (pthread_mutex_init(&ctx->genl_lock, NULL) != 0) {
		err = -NLE_NOMEM;
		goto fail;
	}
	ctx->genl_lock_init = true;
	atomic_store(&ctx->genl_owner, (int)getpid());
	ctx->ops = &clt_backend_genl_ops;
	return 0;
fail:
	genl_close(ctx);
	return genl_errno(err);
}

static uint64_t genl_be64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/*
 * First command in a forked child. The socket inherited from the parent is
 * the parent's too: the same netlink port, one receive queue, so each
 * process could read the other's acknowledgements (a sequence mismatch at
 * best, a hang at worst). Open a socket of our own; the family id is the
 * kernel's and stays valid. The lock may have been held by a thread that
 * does not exist here: initialise it afresh (no thread of this process can
 * hold it, all wait in clt_fork_reset_begin).
 */
static int genl_after_fork(struct clt_ctx *ctx)
{
	struct nl_sock *sk;
	int err;

	pthread_mutex_init(&ctx->genl_lock, NULL);
	if (ctx->genl_sock != NULL)
		nl_socket_free(ctx->genl_sock); /* closes this process's copy only */
	ctx->genl_sock = NULL;
	sk = nl_socket_alloc();
	if (sk == NULL)
		return -ENOMEM;
	err = genl_connect(sk);
	if (err < 0) {
		nl_socket_free(sk);
		return genl_errno(err);
	}
	ctx->genl_sock = sk;
	return 0;
}

/* Send one command and wait for the kernel's acknowledgement. */
static int genl_command(struct clt_ctx *ctx, uint8_t cmd, int fd, const uint8_t *trace_id,
			const uint8_t *span_id)
{
	struct genl_answer ans = {0, false};
	struct nl_msg *msg;
	int err, me;

	if (clt_fork_reset_begin(&ctx->genl_owner, &me)) {
		err = genl_after_fork(ctx);
		/* On failure the next command tries again. */
		clt_fork_reset_done(&ctx->genl_owner, err < 0 ? 0 : me);
		if (err < 0)
			return err;
	}
	msg = nlmsg_alloc();
	if (msg == NULL)
		return -ENOMEM;
	if (genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, ctx->genl_family, 0, 0, cmd,
			CLT_GENL_VERSION) == NULL ||
	    nla_put_u32(msg, IOAM6_ATTR_SOCKFD, (uint32_t)fd) < 0) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	if (trace_id != NULL &&
	    (nla_put_u64(msg, IOAM6_ATTR_ID_HIGH, genl_be64(trace_id)) < 0 ||
	     nla_put_u64(msg, IOAM6_ATTR_ID_LOW, genl_be64(trace_id + 8)) < 0 ||
	     nla_put_u64(msg, IOAM6_ATTR_SUBID, genl_be64(span_id)) < 0)) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	pthread_mutex_lock(&ctx->genl_lock);
	nl_socket_modify_err_cb(ctx->genl_sock, NL_CB_CUSTOM, genl_error_cb, &ans);
	err = nl_send_sync(ctx->genl_sock, msg); /* frees msg */
	/* No pointer to this stack frame stays behind in the socket. */
	nl_socket_modify_err_cb(ctx->genl_sock, NL_CB_DEFAULT, NULL, NULL);
	pthread_mutex_unlock(&ctx->genl_lock);
	if (ans.seen && ans.err != -EBADMSG)
		return ans.err;
	return genl_errno(err);
}

/*
 * The patch stores the IDs on any IPv6 socket, but only TCP copies them to
 * the packets it queues: a UDP socket would be accepted and its datagrams
 * carry zero IDs. Refuse it here, before asking the kernel: two
 * getsockopt calls next to a netlink round trip, also for trusted callers.
 */
static int genl_enable(struct clt_ctx *ctx, int fd, const uint8_t trace_id[CLT_TRACE_ID_LEN],
		       const uint8_t span_id[CLT_SPAN_ID_LEN])
{
	int type = 0, proto = 0, err;
	socklen_t len = sizeof(type);

	if (clt_sys.getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0)
		return -errno;
	len = sizeof(proto);
	if (clt_sys.getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) != 0)
		return -errno;
	err = clt_genl_socket_taggable(type, proto);
	if (err < 0)
		return err;
	return genl_command(ctx, IOAM6_CMD_PKT_ID_ENABLE, fd, trace_id, span_id);
}

static int genl_disable(struct clt_ctx *ctx, int fd)
{
	return genl_command(ctx, IOAM6_CMD_PKT_ID_DISABLE, fd, NULL, NULL);
}

const struct clt_backend_ops clt_backend_genl_ops = {
	.id = CLT_BACKEND_GENL,
	.enable = genl_enable,
	.disable = genl_disable,
	.close = genl_close,
	/* No response direction: the patch's 24 octets of IDs have no flag,
	 * and a response tagged like a request would merge with it. */
	.enable_response = NULL,
};
