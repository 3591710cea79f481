/*
 * ioam_events.c - test tool: print the kernel's IOAM6 trace events of the
 * current network namespace, one stable line per event:
 *
 *   ns=123 nodelen=5 type=0xf20000 flags=0 nodes=2 node_ids=2,3 trace=<32hex> span=<16hex>
 *   (a response's packet: "... node_ids=2,3 dir=resp trace=... span=...")
 *
 * (trace=- span=- without a CLT trailer; node_ids in path order; an event
 * that does not decode prints "bad=<errno name> len=N").
 *
 *   ioam_events [-c N] [-t SECS] [-r FILE] [-q]
 *     -c N     exit after N events        -t SECS  exit after SECS (status 0)
 *     -r FILE  create FILE once subscribed (readiness for scripts)
 *     -q       print only the final "events=N lost=N" line
 * Always ends with "events=N lost=N" on stderr (stdout with -q); "lost" counts
 * ENOBUFS overruns of the netlink receive buffer.
 */
#include <errno.h>
#include <fcntl.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clt/ioam.h"

/* Linux >= 6.9 uapi (linux/ioam6_genl.h); Debian's headers predate it. */
#define IOAM6_GENL_NAME "IOAM6"
#define IOAM6_GENL_EV_GRP_NAME "ioam6_events"
#define IOAM6_EVENT_TRACE 1
#define IOAM6_EVENT_ATTR_TRACE_NAMESPACE 1 /* u16 */
#define IOAM6_EVENT_ATTR_TRACE_NODELEN 2   /* u8 */
#define IOAM6_EVENT_ATTR_TRACE_TYPE 3      /* u32, 24-bit type in the top bits */
#define IOAM6_EVENT_ATTR_TRACE_DATA 4      /* binary */
#define IOAM6_EVENT_ATTR_MAX 4

struct ev_state {
	long count;
	long max;
	long lost;
	int quiet;
};

static struct nla_policy ev_policy[IOAM6_EVENT_ATTR_MAX + 1] = {
	[IOAM6_EVENT_ATTR_TRACE_NAMESPACE] = {.type = NLA_U16},
	[IOAM6_EVENT_ATTR_TRACE_NODELEN] = {.type = NLA_U8},
	[IOAM6_EVENT_ATTR_TRACE_TYPE] = {.type = NLA_U32},
	[IOAM6_EVENT_ATTR_TRACE_DATA] = {.type = NLA_UNSPEC},
};

static void ev_print(const struct ioam_trace *t)
{
	char trace[33], span[17];
	unsigned int i;

	printf("ns=%u nodelen=%u type=0x%06x flags=%u nodes=%u node_ids=", t->namespace_id,
	       t->node_len, t->trace_type, t->flags, t->n_nodes);
	for (i = 0; i < t->n_nodes; i++) {
		const struct ioam_node *n = &t->nodes[i];

		if (i > 0)
			putchar(',');
		if (n->fields & IOAM_TT_HOP_NODE)
			printf("%u", n->node_id);
		else if (n->fields & IOAM_TT_HOP_NODE_WIDE)
			printf("%llu", (unsigned long long)n->node_id_wide);
		else
			putchar('-');
	}
	if (t->n_nodes == 0)
		putchar('-');
	/* A response's packet (the CLT trailer v2's direction flag): " dir=resp"
	 * before the IDs; a request's line stays as it was. */
	if (t->has_ids && t->trailer_version >= 2 && (t->trailer_flags & CLT_TRAILER_F_RESPONSE))
		printf(" dir=resp");
	if (t->has_ids) {
		clt_hex(trace, t->trace_id, 16);
		clt_hex(span, t->span_id, 8);
		printf(" trace=%s span=%s\n", trace, span);
	} else {
		printf(" trace=- span=-\n");
	}
}

static int ev_cb(struct nl_msg *msg, void *arg)
{
	struct ev_state *st = arg;
	struct genlmsghdr *gh = genlmsg_hdr(nlmsg_hdr(msg));
	struct nlattr *tb[IOAM6_EVENT_ATTR_MAX + 1];
	static struct ioam_trace trace;
	const uint8_t *data = NULL;
	size_t len = 0;
	int err;

	if (gh->cmd != IOAM6_EVENT_TRACE)
		return NL_SKIP;
	if (genlmsg_parse(nlmsg_hdr(msg), 0, tb, IOAM6_EVENT_ATTR_MAX, ev_policy) < 0 ||
	    !tb[IOAM6_EVENT_ATTR_TRACE_NAMESPACE] || !tb[IOAM6_EVENT_ATTR_TRACE_NODELEN] ||
	    !tb[IOAM6_EVENT_ATTR_TRACE_TYPE]) {
		st->count++;
		if (!st->quiet)
			printf("bad=EINVAL len=0\n");
		return NL_OK;
	}
	if (tb[IOAM6_EVENT_ATTR_TRACE_DATA]) {
		data = nla_data(tb[IOAM6_EVENT_ATTR_TRACE_DATA]);
		len = (size_t)nla_len(tb[IOAM6_EVENT_ATTR_TRACE_DATA]);
	}
	err = ioam_decode_event(&trace, nla_get_u16(tb[IOAM6_EVENT_ATTR_TRACE_NAMESPACE]),
				nla_get_u8(tb[IOAM6_EVENT_ATTR_TRACE_NODELEN]),
				nla_get_u32(tb[IOAM6_EVENT_ATTR_TRACE_TYPE]) >> 8, data, len,
				IOAM_LAYOUT_AUTO);
	st->count++;
	if (!st->quiet) {
		if (err < 0)
			printf("bad=%s len=%zu\n", strerrorname_np(-err), len);
		else
			ev_print(&trace);
		fflush(stdout);
	}
	return NL_OK;
}

static int parse_long(const char *s, long *out)
{
	char *end = NULL;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 0)
		return -1;
	*out = v;
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct ev_state st = {0, -1, 0, 0};
	const char *ready = NULL;
	long secs = -1;
	struct nl_sock *sk;
	double deadline = 0;
	int opt, grp, fd, rcvbuf = 8 << 20, ret = 1;

	while ((opt = getopt(argc, argv, "c:t:r:q")) != -1) {
		switch (opt) {
		case 'c':
			if (parse_long(optarg, &st.max) < 0)
				goto usage;
			break;
		case 't':
			if (parse_long(optarg, &secs) < 0)
				goto usage;
			break;
		case 'r':
			ready = optarg;
			break;
		case 'q':
			st.quiet = 1;
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc)
		goto usage;

	sk = nl_socket_alloc();
	if (sk == NULL || genl_connect(sk) < 0) {
		fprintf(stderr, "ioam_events: cannot open generic netlink\n");
		return 1;
	}
	grp = genl_ctrl_resolve_grp(sk, IOAM6_GENL_NAME, IOAM6_GENL_EV_GRP_NAME);
	if (grp < 0) {
		fprintf(stderr, "ioam_events: no %s/%s multicast group (kernel < 6.9?): %s\n",
			IOAM6_GENL_NAME, IOAM6_GENL_EV_GRP_NAME, nl_geterror(grp));
		goto out;
	}
	nl_socket_disable_seq_check(sk);
	nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM, ev_cb, &st);
	if (nl_socket_add_membership(sk, grp) < 0) {
		fprintf(stderr, "ioam_events: joining %s needs CAP_NET_ADMIN\n",
			IOAM6_GENL_EV_GRP_NAME);
		goto out;
	}
	fd = nl_socket_get_fd(sk);
	/* The default buffer holds only a few hundred events. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) != 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	nl_socket_set_nonblocking(sk);
	if (ready != NULL) {
		int rfd = open(ready, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		if (rfd < 0) {
			fprintf(stderr, "ioam_events: cannot create %s: %s\n", ready, strerror(errno));
			goto out;
		}
		close(rfd);
	}
	if (secs >= 0)
		deadline = now_s() + (double)secs;
	while (st.max < 0 || st.count < st.max) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int timeout = -1, err;

		if (secs >= 0) {
			double left = deadline - now_s();

			if (left <= 0)
				break;
			timeout = (int)(left * 1000) + 1;
		}
		if (poll(&pfd, 1, timeout) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (!(pfd.revents & POLLIN))
			continue;
		err = nl_recvmsgs_default(sk);
		if (err == -NLE_NOMEM) /* libnl's name for ENOBUFS: events were dropped */
			st.lost++;
		else if (err < 0 && err != -NLE_AGAIN)
			fprintf(stderr, "ioam_events: receive: %s\n", nl_geterror(err));
	}
	ret = 0;
out:
	fprintf(st.quiet ? stdout : stderr, "events=%ld lost=%ld\n", st.count, st.lost);
	nl_socket_free(sk);
	return ret;
usage:
	fprintf(stderr, "usage: ioam_events [-c N] [-t SECS] [-r FILE] [-q]\n");
	return 2;
}
