/*
 * source_netlink.c - IOAM traces from the kernel's IOAM6 generic-netlink
 * events (multicast group "ioam6_events", Linux >= 6.9).
 *
 * libnl resolves the family and joins the group; datagrams are then read
 * with recv() straight into one buffer so that ENOBUFS (the kernel
 * dropped events because we were slow) is seen and counted as loss
 * rather than hidden. Every attribute is validated with an nla_policy
 * before use; the trace data is decoded by libclt, which checks lengths.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>

#include "source.h"

/* Debian's 6.1 uapi headers lack the event definitions (facts doc §1). */
#define IOAM6_GENL_NAME "IOAM6"
#define IOAM6_GENL_EV_GRP_NAME "ioam6_events"
#define IOAM6_EVENT_TRACE 1
enum {
	IOAM6_EVENT_ATTR_UNSPEC,
	IOAM6_EVENT_ATTR_TRACE_NAMESPACE,
	IOAM6_EVENT_ATTR_TRACE_NODELEN,
	IOAM6_EVENT_ATTR_TRACE_TYPE,
	IOAM6_EVENT_ATTR_TRACE_DATA,
	IOAM6_EVENT_ATTR_MAX_ = IOAM6_EVENT_ATTR_TRACE_DATA,
};

/* One event is a few hundred octets; 32 datagrams per recvmmsg() call
 * divide the syscall cost of a busy reader. */
#define NL_BUF_SIZE 4096
#define NL_BATCH 32

struct nl_source {
	struct source base;
	struct nl_sock *sk;
	int fd;
	int family;
	struct mmsghdr msgs[NL_BATCH];
	struct iovec iov[NL_BATCH];
	struct sockaddr_nl from[NL_BATCH];
	uint8_t buf[NL_BATCH][NL_BUF_SIZE];
};

static struct nla_policy ev_policy[IOAM6_EVENT_ATTR_MAX_ + 1] = {
	[IOAM6_EVENT_ATTR_TRACE_NAMESPACE] = {.type = NLA_U16},
	[IOAM6_EVENT_ATTR_TRACE_NODELEN] = {.type = NLA_U8},
	[IOAM6_EVENT_ATTR_TRACE_TYPE] = {.type = NLA_U32},
	[IOAM6_EVENT_ATTR_TRACE_DATA] = {.type = NLA_UNSPEC, .minlen = 1,
					 .maxlen = IOAM_OPT_LEN_MAX},
};

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Decode one netlink message; @return true when a trace was produced. */
static bool nlsrc_handle(struct nl_source *ns, struct nlmsghdr *nlh)
{
	struct nlattr *tb[IOAM6_EVENT_ATTR_MAX_ + 1];
	struct genlmsghdr *gh;
	struct source *s = &ns->base;
	uint32_t type;
	int rc;

	if (nlh->nlmsg_type != ns->family)
		return false; /* NLMSG_NOOP/DONE/ERROR: not an event */
	s->st.events++;
	if (!genlmsg_valid_hdr(nlh, 0)) {
		s->st.malformed++;
		return false;
	}
	gh = nlmsg_data(nlh);
	if (gh->cmd != IOAM6_EVENT_TRACE)
		return false; /* a future event kind: not ours to judge */
	if (genlmsg_parse(nlh, 0, tb, IOAM6_EVENT_ATTR_MAX_, ev_policy) < 0 ||
	    !tb[IOAM6_EVENT_ATTR_TRACE_NAMESPACE] || !tb[IOAM6_EVENT_ATTR_TRACE_NODELEN] ||
	    !tb[IOAM6_EVENT_ATTR_TRACE_TYPE] || !tb[IOAM6_EVENT_ATTR_TRACE_DATA]) {
		s->st.malformed++;
		return false;
	}
	/* The 24-bit trace type sits in the top 24 bits of the u32. */
	type = nla_get_u32(tb[IOAM6_EVENT_ATTR_TRACE_TYPE]) >> 8;
	rc = ioam_decode_event(&s->trace, nla_get_u16(tb[IOAM6_EVENT_ATTR_TRACE_NAMESPACE]),
			       nla_get_u8(tb[IOAM6_EVENT_ATTR_TRACE_NODELEN]), type,
			       nla_data(tb[IOAM6_EVENT_ATTR_TRACE_DATA]),
			       (size_t)nla_len(tb[IOAM6_EVENT_ATTR_TRACE_DATA]), s->layout);
	if (rc < 0) {
		s->st.malformed++;
		return false;
	}
	s->st.decoded++;
	return true;
}

static int nlsrc_next(struct source *src, source_cb cb, void *arg, unsigned int max)
{
	struct nl_source *ns = (struct nl_source *)src;
	unsigned int n = 0;

	while (n < max) {
		unsigned int want = max - n < NL_BATCH ? max - n : NL_BATCH;
		uint64_t now;
		int got;

		for (unsigned int i = 0; i < want; i++) {
			ns->iov[i].iov_base = ns->buf[i];
			ns->iov[i].iov_len = NL_BUF_SIZE;
			memset(&ns->msgs[i].msg_hdr, 0, sizeof(ns->msgs[i].msg_hdr));
			ns->msgs[i].msg_hdr.msg_iov = &ns->iov[i];
			ns->msgs[i].msg_hdr.msg_iovlen = 1;
			ns->msgs[i].msg_hdr.msg_name = &ns->from[i];
			ns->msgs[i].msg_hdr.msg_namelen = sizeof(ns->from[i]);
		}
		got = recvmmsg(ns->fd, ns->msgs, want, MSG_DONTWAIT, NULL);
		if (got < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			if (errno == ENOBUFS) {
				/* The socket overflowed: events were lost; go on reading. */
				src->st.loss++;
				continue;
			}
			return -errno;
		}
		if (got == 0)
			break;
		now = realtime_ns();
		for (int i = 0; i < got; i++) {
			struct nlmsghdr *nlh = (struct nlmsghdr *)ns->buf[i];
			int rem = (int)ns->msgs[i].msg_len;

			/* Events come from the kernel (port 0); a datagram from a process
			 * (a privileged one could send to our port) is not an event. */
			if ((ns->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) ||
			    ns->msgs[i].msg_hdr.msg_namelen < sizeof(struct sockaddr_nl) ||
			    ns->from[i].nl_family != AF_NETLINK || ns->from[i].nl_pid != 0) {
				src->st.events++;
				src->st.malformed++;
				continue;
			}
			for (; nlmsg_ok(nlh, rem); nlh = nlmsg_next(nlh, &rem))
				if (nlsrc_handle(ns, nlh))
					cb(arg, &src->trace, now);
		}
		n += (unsigned int)got;
		if ((unsigned int)got < want)
			break;
	}
	return (int)n;
}

static int nlsrc_fd(struct source *src)
{
	return ((struct nl_source *)src)->fd;
}

static void nlsrc_close(struct source *src)
{
	struct nl_source *ns = (struct nl_source *)src;

	nl_socket_free(ns->sk);
	free(ns);
}

static const struct source_ops nlsrc_ops = {
	.next = nlsrc_next,
	.fd = nlsrc_fd,
	.close = nlsrc_close,
};

int source_netlink_open(struct source **out, const struct source_options *opt)
{
	struct nl_source *ns = calloc(1, sizeof(*ns));
	int grp, rc, size;

	if (!ns)
		return -ENOMEM;
	ns->base.ops = &nlsrc_ops;
	ns->base.layout = opt->layout;
	ns->sk = nl_socket_alloc();
	if (!ns->sk) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = genl_connect(ns->sk);
	if (rc < 0) {
		fprintf(stderr, "cltagent: netlink: %s\n", nl_geterror(rc));
		rc = -EIO;
		goto fail;
	}
	ns->family = genl_ctrl_resolve(ns->sk, IOAM6_GENL_NAME);
	if (ns->family < 0) {
		fprintf(stderr, "cltagent: netlink: no IOAM6 family in this kernel (IOAM6 not built)\n");
		rc = -EOPNOTSUPP;
		goto fail;
	}
	grp = genl_ctrl_resolve_grp(ns->sk, IOAM6_GENL_NAME, IOAM6_GENL_EV_GRP_NAME);
	if (grp < 0) {
		fprintf(stderr, "cltagent: netlink: this kernel has no IOAM events (Linux >= 6.9 "
				"needed); use --source capture:IFACE\n");
		rc = -EOPNOTSUPP;
		goto fail;
	}
	nl_socket_disable_seq_check(ns->sk);
	rc = nl_socket_add_membership(ns->sk, grp);
	if (rc < 0) {
		fprintf(stderr, "cltagent: netlink: cannot join ioam6_events: %s (CAP_NET_ADMIN needed)\n",
			nl_geterror(rc));
		rc = -EPERM;
		goto fail;
	}
	ns->fd = nl_socket_get_fd(ns->sk);
	/* The default buffer holds a few hundred events; FORCE needs CAP_NET_ADMIN,
	 * which we have, and ignores net.core.rmem_max. */
	size = (int)opt->rcvbuf;
	if (setsockopt(ns->fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0 &&
	    setsockopt(ns->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)) < 0 && opt->verbose)
		fprintf(stderr, "cltagent: netlink: cannot raise the receive buffer: %s\n",
			strerror(errno));
	if (fcntl(ns->fd, F_SETFL, fcntl(ns->fd, F_GETFL) | O_NONBLOCK) < 0) {
		rc = -errno;
		goto fail;
	}
	*out = &ns->base;
	return 0;
fail:
	if (ns->sk)
		nl_socket_free(ns->sk);
	free(ns);
	return rc;
}
