/*
 * tcp_size.c - keeps every packet of a tagged TCP socket within what a
 * receiver accepts: the TCP_MAXSEG clamp (clt_tcp_maxseg, clt_tcp_clamp)
 * and the route check for devices that build packets over 64 KiB
 * (clt_tcp_route_check).
 *
 * Why (Linux 6.18, verified with captures and nstat): IPv6's payload
 * length is 16 bits. When one TCP packet the kernel builds - a GSO packet
 * of several segments, handed whole to loopback or a veth - has more than
 * 65535 octets of payload, ip6_xmit() puts a jumbo hop-by-hop header
 * (RFC 2675, "BIG TCP") in front of the sticky IOAM one. A packet with two
 * hop-by-hop headers is invalid (RFC 8200 4.1) and the receiver drops it
 * (Ip6InHdrErrors or Ip6InUnknownProtos, ICMPv6 parameter problem); TCP
 * retransmits and a 1 MiB upload over ::1 takes 0.5 s instead of 10 ms.
 * The kernel itself lowers the MSS by the option when it is set on a
 * connected socket, so each segment fits the MTU; what overflows is a GSO
 * packet of at least tcp_min_tso_segs (2) segments once the MSS is over
 * 32 KiB, as on loopback (MTU 65536: MSS 65256, or half the peer's window,
 * 46592 in the capture). A TCP_MAXSEG set before connect() (or on the
 * listener, which its accepted sockets inherit) keeps two segments, their
 * headers and the option under the limit; the kernel subtracts the option
 * from the clamp itself (32767 -> 32547 with timestamps).
 *
 * The clamp cannot help on a device whose gso_max_size is over 65536 (BIG
 * TCP raised, e.g. ip link set DEV gso_max_size 185000): GSO packets are
 * then sized by it, whatever the MSS, and no socket option bounds that.
 * clt_tcp_route_check() asks the kernel for the route's device and its
 * gso_max_size (rtnetlink, unprivileged) so that such a socket is not
 * tagged at all.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clt_internal.h"
#include "clt_sys.h"

#define CLT_API __attribute__((visibility("default")))

#define IPV6_PAYLOAD_MAX 65535u /* 16-bit payload length, no jumbogram */
#define TCP_HEADER_MAX 60u      /* 20 + 40 octets of options */
#define TCP_MAXSEG_MAX 32767u   /* the kernel refuses more (MAX_TCP_WINDOW) */
#define TCP_MSS_DEFAULT_VAL 536 /* what TCP_MAXSEG reads before connect when unset */
#define GSO_LEGACY_MAX 65536u   /* gso_max_size above this is BIG TCP */
#define TCP_MSS_ETHERNET 1440u  /* 1500 - 40 (IPv6) - 20 (TCP) */
#define CLT_ROOM_OPT 0x1e       /* RFC 4727 experimental option, action "skip" */
#define CLT_ROOM_MAX 512u       /* larger than any header ioam_hbh_build() makes */

int clt_tcp_maxseg_for(size_t opt_len, unsigned int min_tso_segs)
{
	unsigned long segs = min_tso_segs < 2 ? 2 : min_tso_segs, c;

	if (opt_len == 0 || opt_len + TCP_HEADER_MAX >= IPV6_PAYLOAD_MAX)
		return 0;
	/* segs segments of the clamp and one TCP header fit IPv6's payload
	 * length. Once the option is set the kernel takes it off the clamp
	 * (each segment carries clamp - opt_len), so that still holds with
	 * the option; and while the socket is not tagged its GSO packets stay
	 * under 64 KiB too (a clamp of (65475 - opt_len) / segs + opt_len
	 * would let them pass it, and loopback then pays for jumbograms:
	 * measured 1.06-1.10 of the upload time without the shim). */
	c = (IPV6_PAYLOAD_MAX - TCP_HEADER_MAX) / segs;
	return (int)(c < TCP_MAXSEG_MAX ? c : TCP_MAXSEG_MAX);
}

int clt_tcp_maxseg_bpf(int maxseg, size_t opt_len, int bpf)
{
	/* The kernel sizes segments without the header the tc program adds:
	 * the clamp leaves room for it, on paths of at least 1500 octets,
	 * the MTU known before connect() is not. Bigger packets are sent
	 * untagged by the program, never dropped. */
	if (!bpf || maxseg <= 0)
		return maxseg;
	if (maxseg > (int)TCP_MSS_ETHERNET)
		maxseg = (int)TCP_MSS_ETHERNET;
	return maxseg - (int)opt_len;
}

/* net.ipv4.tcp_min_tso_segs of the caller's network namespace (default 2). */
static unsigned int clt_min_tso_segs(void)
{
	char buf[16];
	unsigned long v;
	ssize_t n;
	char *end;
	int fd;

	fd = open("/proc/sys/net/ipv4/tcp_min_tso_segs", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 2;
	n = clt_sys.read(fd, buf, sizeof(buf) - 1);
	clt_sys.close(fd);
	if (n <= 0)
		return 2;
	buf[n] = '\0';
	v = strtoul(buf, &end, 10);
	return end != buf && v >= 1 && v <= 255 ? (unsigned int)v : 2;
}

CLT_API int clt_tcp_maxseg(struct clt_ctx *ctx)
{
	int saved = errno, segs;

	if (ctx == NULL)
		return 0;
	/* Off for good: nothing is ever added to a packet. */
	if (clt_backend_get(ctx) == CLT_BACKEND_OFF && !clt_backend_may_change(ctx))
		return 0;
	segs = atomic_load_explicit(&ctx->min_tso_segs, memory_order_relaxed);
	if (segs == 0) {
		segs = (int)clt_min_tso_segs();
		atomic_store_explicit(&ctx->min_tso_segs, segs, memory_order_relaxed);
	}
	errno = saved;
	/* With the agent's room the kernel knows the header is there and
	 * takes it off the MSS itself, as for the hopopts option. */
	return clt_tcp_maxseg_bpf(clt_tcp_maxseg_for(ioam_hbh_size(&ctx->hbh), (unsigned int)segs),
				  ioam_hbh_size(&ctx->hbh),
				  clt_backend_get(ctx) == CLT_BACKEND_BPF && !clt_bpf_room(ctx));
}

size_t clt_resp_hbh_size(const struct clt_ctx *ctx)
{
	struct ioam_hbh_config resp = ctx->hbh;

	resp.trailer_version = 2;
	return ioam_hbh_size(&resp);
}

/* The room a listener carries for its accepted sockets' response option:
 * a destination options header of @len octets (a multiple of 8) filled
 * with options of RFC 4727's experimental type 0x1e, action "skip" (as the
 * bpf backend's room, include/clt/bpfslot.h): receivers skip them, and
 * Linux drops a packet with more than 7 octets of padding, so no PadN. */
static void clt_room_build(uint8_t *h, size_t len)
{
	size_t at = 2, rest;

	memset(h, 0, len);
	h[1] = (uint8_t)(len / 8 - 1); /* h[0], the next header, is the kernel's */
	while ((rest = len - at) >= 2) {
		size_t d = rest - 2 > 255 ? 255 : rest - 2;

		if (rest - 2 - d == 1)
			d--; /* leave two octets for one more option */
		h[at] = CLT_ROOM_OPT;
		h[at + 1] = (uint8_t)d;
		at += 2 + d;
	}
}

/* Whether @fd's destination options are a room: only options of the room's
 * type, whatever its length (the listener's may have been made by another
 * context, e.g. a process that executed this one, or the agent's). */
static int clt_room_on(int fd)
{
	uint8_t cur[CLT_ROOM_MAX];
	socklen_t n = sizeof(cur);
	size_t at = 2;

	if (clt_sys.getsockopt(fd, IPPROTO_IPV6, IPV6_DSTOPTS, cur, &n) != 0 || n < 8 ||
	    (size_t)n != ((size_t)cur[1] + 1) * 8)
		return 0;
	while (at + 2 <= (size_t)n && cur[at] == CLT_ROOM_OPT)
		at += 2 + (size_t)cur[at + 1];
	return at == (size_t)n;
}

/* The listener's room (see clt_tcp_clamp_flags): only on the hopopts
 * backend (CAP_NET_RAW, which IPV6_DSTOPTS needs), never over destination
 * options the application set. @return 0 when @fd has it. */
static int clt_room_set(struct clt_ctx *ctx, int fd)
{
	uint8_t h[CLT_ROOM_MAX];
	size_t len = clt_resp_hbh_size(ctx);
	socklen_t n = sizeof(h);

	if (clt_backend_get(ctx) != CLT_BACKEND_HOPOPTS || len < 8 || len > sizeof(h))
		return -EOPNOTSUPP;
	if (clt_sys.getsockopt(fd, IPPROTO_IPV6, IPV6_DSTOPTS, h, &n) != 0)
		return -errno;
	if (n > 0)
		return clt_room_on(fd) ? 0 : -EEXIST;
	clt_room_build(h, len);
	return clt_sys.setsockopt(fd, IPPROTO_IPV6, IPV6_DSTOPTS, h, (socklen_t)len) == 0 ? 0 : -errno;
}

CLT_API int clt_tcp_clamp_flags(struct clt_ctx *ctx, int fd, unsigned int flags)
{
	int saved = errno, want, cur = 0, err = 0;
	socklen_t len = sizeof(cur);

	if (flags & ~CLT_CLAMP_NO_ROOM)
		return -EINVAL;
	/* Before connect(): on the bpf backend the descriptor's registration
	 * is for an older socket. */
	if (ctx != NULL && fd >= 0)
		clt_bpf_forget(ctx, fd);
	want = clt_tcp_maxseg(ctx);
	if (want <= 0 || fd < 0)
		return want < 0 ? want : 0;
	/* A listener: its accepted sockets may carry a response's option,
	 * set once they are established - and then the kernel does not take
	 * the option off their MSS (ipv6_update_options() skips an accepted
	 * IPv6 socket: its IPv4 daddr is LOOPBACK4_IPV6; measured: at MTU
	 * 1500 every full-size segment is dropped and a download stalls).
	 * But a child is made with its listener's sticky options, and its MSS
	 * computed from them and its own route's MTU (tcp_v6_syn_recv_sock):
	 * a room of the option's size on the listener gives every accepted
	 * socket the MSS it needs on its path, whatever the MTU (1280, 1500,
	 * 65536), and clt_tcp_accepted() takes the room off the child's
	 * packets (its MSS stays). Without the room (no CAP_NET_RAW: agent,
	 * or @flags CLT_CLAMP_NO_ROOM), a fixed clamp for a 1500-octet path,
	 * as the bpf backend has for every socket. */
	if (clt_sys.getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &cur, &len) == 0 && cur &&
	    clt_backend_get(ctx) != CLT_BACKEND_GENL &&
	    ((flags & CLT_CLAMP_NO_ROOM) || clt_room_set(ctx, fd) != 0)) {
		/* bpf: the room the agent gives a registered accepted socket
		 * does not lower its MSS either; without it the clamp has
		 * the program's header off already. */
		if (clt_backend_get(ctx) != CLT_BACKEND_BPF || clt_bpf_room(ctx))
			want = clt_tcp_maxseg_bpf(want, clt_resp_hbh_size(ctx), 1);
	}
	cur = 0;
	len = sizeof(cur);
	/* Keep a smaller value the application chose. Unset, the kernel
	 * reads back its default 536, which cannot be told from a 536 asked
	 * for: that one is raised (TCP_MAXSEG is a clamp, not a promise). */
	if (clt_sys.getsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &cur, &len) != 0)
		err = -errno;
	else if (cur > 0 && cur < want && cur != TCP_MSS_DEFAULT_VAL)
		err = 0;
	else if (clt_sys.setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &want, sizeof(want)) != 0)
		err = -errno;
	errno = saved;
	return err;
}

CLT_API int clt_tcp_clamp(struct clt_ctx *ctx, int fd)
{
	return clt_tcp_clamp_flags(ctx, fd, 0);
}

CLT_API int clt_tcp_accepted(struct clt_ctx *ctx, int fd)
{
	int saved = errno, rc = 0;

	if (ctx == NULL || fd < 0)
		return -EINVAL;
	/* Removing it takes CAP_NET_RAW: only the hopopts backend has it; on
	 * the agent backend cltagent removes it when it sets the option. */
	if (clt_backend_get(ctx) != CLT_BACKEND_HOPOPTS)
		return 0;
	/* The child keeps the MSS its room gave it (the kernel does not
	 * resync an accepted socket's MSS when its options change), while its
	 * packets no longer carry the room. */
	if (clt_room_on(fd))
		rc = clt_sys.setsockopt(fd, IPPROTO_IPV6, IPV6_DSTOPTS, NULL, 0) == 0 ? 1 : -errno;
	errno = saved;
	return rc;
}

/* One rtnetlink request, one answer of @type; the attributes of its
 * payload (after @hdr_len octets) are handed to @attr. */
static int clt_rtnl_ask(int nl, void *req, size_t req_len, uint16_t type, size_t hdr_len,
			int (*attr)(const struct rtattr *, void *), void *arg)
{
	uint8_t buf[8192] __attribute__((aligned(NLMSG_ALIGNTO)));
	struct nlmsghdr *nh;
	ssize_t n;
	int len;

	if (clt_sys.send(nl, req, req_len, 0) != (ssize_t)req_len)
		return -errno;
	/* rtnetlink answers within send(): the reply is queued already. */
	n = clt_sys.recv(nl, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0)
		return -errno;
	len = (int)n;
	for (nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, len); nh = NLMSG_NEXT(nh, len)) {
		const struct rtattr *a;
		int alen;

		if (nh->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = NLMSG_DATA(nh);

			return nh->nlmsg_len >= NLMSG_LENGTH(sizeof(*e)) && e->error < 0 ? e->error
											   : -EIO;
		}
		if (nh->nlmsg_type != type || nh->nlmsg_len < NLMSG_LENGTH(hdr_len))
			continue;
		alen = (int)(nh->nlmsg_len - NLMSG_LENGTH(hdr_len));
		for (a = (const struct rtattr *)((const uint8_t *)NLMSG_DATA(nh) + NLMSG_ALIGN(hdr_len));
		     RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
			if (attr(a, arg))
				break;
		}
		return 0;
	}
	return -EIO;
}

static int route_oif(const struct rtattr *a, void *arg)
{
	if (a->rta_type != RTA_OIF || RTA_PAYLOAD(a) < sizeof(uint32_t))
		return 0;
	memcpy(arg, RTA_DATA(a), sizeof(uint32_t));
	return 1;
}

static int link_gso_max(const struct rtattr *a, void *arg)
{
	if (a->rta_type != IFLA_GSO_MAX_SIZE || RTA_PAYLOAD(a) < sizeof(uint32_t))
		return 0;
	memcpy(arg, RTA_DATA(a), sizeof(uint32_t));
	return 1;
}

int clt_route_gso_max(const struct in6_addr *dst, unsigned int *gso_max)
{
	struct {
		struct nlmsghdr nh;
		struct rtmsg rt;
		struct rtattr a;
		struct in6_addr dst;
	} rreq;
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
		struct rtattr a;
		uint32_t mask;
	} lreq;
	uint32_t oif = 0, gso = 0;
	int nl, err;

	*gso_max = 0;
	nl = clt_sys.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (nl < 0)
		return -errno;
	memset(&rreq, 0, sizeof(rreq));
	rreq.nh.nlmsg_len = sizeof(rreq);
	rreq.nh.nlmsg_type = RTM_GETROUTE;
	rreq.nh.nlmsg_flags = NLM_F_REQUEST;
	rreq.nh.nlmsg_seq = 1;
	rreq.rt.rtm_family = AF_INET6;
	rreq.rt.rtm_dst_len = 128;
	rreq.a.rta_type = RTA_DST;
	rreq.a.rta_len = RTA_LENGTH(sizeof(rreq.dst));
	rreq.dst = *dst;
	err = clt_rtnl_ask(nl, &rreq, sizeof(rreq), RTM_NEWROUTE, sizeof(struct rtmsg), route_oif,
			   &oif);
	if (err == 0 && oif == 0)
		err = -ENODEV;
	if (err == 0) {
		memset(&lreq, 0, sizeof(lreq));
		lreq.nh.nlmsg_len = sizeof(lreq);
		lreq.nh.nlmsg_type = RTM_GETLINK;
		lreq.nh.nlmsg_flags = NLM_F_REQUEST;
		lreq.nh.nlmsg_seq = 2;
		lreq.ifi.ifi_family = AF_UNSPEC;
		lreq.ifi.ifi_index = (int)oif;
		lreq.a.rta_type = IFLA_EXT_MASK;
		lreq.a.rta_len = RTA_LENGTH(sizeof(lreq.mask));
		lreq.mask = 1u << 3; /* RTEXT_FILTER_SKIP_STATS: a smaller answer */
		err = clt_rtnl_ask(nl, &lreq, sizeof(lreq), RTM_NEWLINK, sizeof(struct ifinfomsg),
				   link_gso_max, &gso);
	}
	clt_sys.close(nl);
	if (err == 0)
		*gso_max = gso;
	return err;
}

/* The last few answers of this thread, for a second: a client that opens
 * one connection per request asks the kernel once, not every time (two
 * round trips cost about 10 us). Per thread: no lock, nothing to reset
 * after fork. A device's setting changed meanwhile is seen a second late. */
#define ROUTE_CACHE_SLOTS 4
#define ROUTE_CACHE_MS 1000
static __thread struct {
	struct in6_addr dst;
	uint64_t until_ms;
	int verdict;
} route_cache[ROUTE_CACHE_SLOTS];
static __thread unsigned int route_cache_next;

static uint64_t clt_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

CLT_API int clt_tcp_route_check(struct clt_ctx *ctx, const struct sockaddr_in6 *dst)
{
	unsigned int gso = 0, i;
	int saved = errno, err, verdict;
	uint64_t now;

	if (ctx == NULL || dst == NULL)
		return -EINVAL;
	if (clt_tcp_maxseg(ctx) == 0)
		return 0; /* nothing is added to the packets */
	now = clt_mono_ms();
	for (i = 0; i < ROUTE_CACHE_SLOTS; i++) {
		if (route_cache[i].until_ms > now &&
		    memcmp(&route_cache[i].dst, &dst->sin6_addr, sizeof(dst->sin6_addr)) == 0) {
			errno = saved;
			return route_cache[i].verdict;
		}
	}
	err = clt_route_gso_max(&dst->sin6_addr, &gso);
	/* No answer: no BIG TCP known; the clamp still holds. */
	verdict = err == 0 && gso > GSO_LEGACY_MAX ? -EMSGSIZE : 0;
	i = route_cache_next++ % ROUTE_CACHE_SLOTS;
	route_cache[i].dst = dst->sin6_addr;
	route_cache[i].verdict = verdict;
	route_cache[i].until_ms = now + ROUTE_CACHE_MS;
	errno = saved;
	return verdict;
}
