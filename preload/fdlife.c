/*
 * fdlife.c - descriptor lifecycle (see fdlife.h): a socket connected to
 * an IPv6 address in the domain becomes tracked (with libclt's
 * packet-size clamp set before connect(), and on listeners); with
 * tracing on, any other TCP client socket is tracked untagged (its CLIENT
 * spans); anything else is settled as ignored so that its sends pass
 * straight through;
 * every way of closing or replacing a descriptor forgets what the shim
 * knew of it.
 *
 * Inside the shim (guard set: libnl's own calls, or a signal handler that
 * interrupted this thread in the shim, maybe holding the table lock) a
 * close cannot take the table lock: the descriptor is marked stale and
 * released at its next use instead.
 */
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "config.h"
#include "fdlife.h"
#include "fdstate.h"
#include "http.h"
#include "log.h"
#include "real.h"
#include "idle.h"
#include "rx.h"
#include "shim.h"
#include "tagger.h"

static atomic_flag once_alloc_fail = ATOMIC_FLAG_INIT;

/* @fd no longer names what it named (closed, or now a new socket): class @to. */
static void fd_reset(int fd, enum fd_class to)
{
	enum fd_class c = fdstate_class(fd);

	if (c != FD_TRACKED && c != FD_STALE) {
		if (c == FD_ACCEPTED && !guard_active())
			rx_forget(fd);
		if (c != to)
			fdstate_set_class(fd, to);
		return;
	}
	if (guard_active()) {
		fdstate_set_class(fd, FD_STALE);
		return;
	}
	fdstate_detach(fd, NULL, to);
}

static void fd_ignore(int fd)
{
	enum fd_class c = fdstate_class(fd);

	if (c == FD_TRACKED || c == FD_STALE)
		fdstate_detach(fd, NULL, FD_IGNORED);
	else
		fdstate_set_class(fd, FD_IGNORED);
}

/* Start following @fd; the IDs it carries are @applied. Opens the backend at the first socket. */
static void fd_track(int fd, enum fd_applied applied)
{
	struct fd_sock *s = fdstate_sock_new(fd);

	if (!s) {
		slog_once(&once_alloc_fail, SLOG_ERROR, "out of memory: socket not followed");
		fd_ignore(fd);
		return;
	}
	s->applied = (uint8_t)applied;
	http_init(&s->http, shim_cfg.order, shim_cfg.n_order, shim_cfg.tag_unsampled);
	fdstate_attach(fd, s);
	/* No lock is held here: opening may probe (netlink, the agent's socket). */
	tagger_open(shim_secure);
}

/*
 * CLT_TRACING on: a TCP socket the shim does not tag (IPv4, an IPv6
 * destination outside the domain, a route that cannot carry the option)
 * is still followed, for its CLIENT spans and injection: spans are made
 * for any destination, only tagging is limited to the domain. No clamp,
 * no backend call: its packets are never changed. Off: ignored, as before.
 */
static void fd_track_untagged(int fd)
{
	struct fd_sock *s;

	if (shim_cfg.tracing == TRACING_OFF || !(s = fdstate_sock_new(fd))) {
		fd_ignore(fd);
		return;
	}
	s->untagged = true;
	s->applied = APPLIED_NONE;
	http_init(&s->http, shim_cfg.order, shim_cfg.n_order, shim_cfg.tag_unsampled);
	fdstate_attach(fd, s);
}

static bool is_tcp(int fd)
{
	int type = 0, proto = 0;
	socklen_t l = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) < 0 || type != SOCK_STREAM)
		return false;
	l = sizeof(proto);
	return getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &l) == 0 && proto == IPPROTO_TCP;
}

static void track_or_ignore(int fd, const struct in6_addr *peer, enum fd_applied applied)
{
	struct sockaddr_in6 dst = {.sin6_family = AF_INET6};

	if (!is_tcp(fd)) {
		fd_ignore(fd);
		return;
	}
	if (!config_in_domain(&shim_cfg, peer)) {
		fd_track_untagged(fd);
		return;
	}
	dst.sin6_addr = *peer;
	/* A route whose packets could not carry the option: never tagged. */
	if (!tagger_tcp_size(fd, &dst, shim_secure))
		fd_track_untagged(fd);
	else
		fd_track(fd, applied);
}

/* An IPv4 TCP socket: never tagged (IOAM is IPv6), followed for its spans while tracing. */
static void track_ipv4(int fd)
{
	if (shim_cfg.tracing != TRACING_OFF && is_tcp(fd))
		fd_track_untagged(fd);
	else
		fd_ignore(fd);
}

/*
 * First send on a descriptor the shim has not seen connect (inherited, or
 * opened by code that bypasses the PLT): look once.
 */
static enum fd_class classify(int fd)
{
	struct sockaddr_in6 peer;
	socklen_t len = sizeof(int);
	int dom = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &len) < 0) {
		if (errno == EBADF)
			return FD_UNKNOWN; /* not open: nothing to cache */
		fdstate_set_class(fd, FD_IGNORED);
		return FD_IGNORED;
	}
	if (dom == AF_INET && shim_cfg.tracing != TRACING_OFF) {
		struct sockaddr_in peer4;

		len = sizeof(peer4);
		if (getpeername(fd, (struct sockaddr *)&peer4, &len) < 0) {
			if (errno == ENOTCONN)
				return FD_UNKNOWN;
			fdstate_set_class(fd, FD_IGNORED);
			return FD_IGNORED;
		}
		track_ipv4(fd);
		return fdstate_class(fd);
	}
	if (dom != AF_INET6) {
		fdstate_set_class(fd, FD_IGNORED);
		return FD_IGNORED;
	}
	len = sizeof(peer);
	if (getpeername(fd, (struct sockaddr *)&peer, &len) < 0 || len < sizeof(peer)) {
		/* Not connected yet: look again at the next send. */
		if (errno == ENOTCONN)
			return FD_UNKNOWN;
		fdstate_set_class(fd, FD_IGNORED);
		return FD_IGNORED;
	}
	/* Someone else's socket may carry someone else's IDs: clear at the first request. */
	track_or_ignore(fd, &peer.sin6_addr, APPLIED_UNKNOWN);
	return fdstate_class(fd);
}

enum fd_class fdlife_look(int fd)
{
	enum fd_class c = fdstate_class(fd);
	int saved = errno;

	if (c == FD_STALE) {
		fd_reset(fd, FD_UNKNOWN);
		c = FD_UNKNOWN;
	}
	if (c == FD_UNKNOWN)
		c = classify(fd);
	errno = saved;
	return c;
}

/*
 * Copy an IPv6 address the application passes to connect() before the
 * kernel has checked it: through the kernel, so that a bad pointer still
 * fails in connect() with EFAULT instead of crashing here. false for
 * anything else, or where process_vm_readv() is refused (no clamp then).
 */
static bool peek_sockaddr6(const struct sockaddr *addr, struct sockaddr_in6 *out)
{
	struct iovec mine = {.iov_base = out, .iov_len = sizeof(*out)};
	struct iovec theirs = {.iov_base = (void *)addr, .iov_len = sizeof(*out)};
	int saved = errno;
	ssize_t n;

	n = process_vm_readv(getpid(), &mine, 1, &theirs, 1, 0);
	errno = saved;
	return n == (ssize_t)sizeof(*out) && out->sin6_family == AF_INET6;
}

int shim_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct sockaddr_in6 dst;
	int rc, saved;

	shim_ensure();
	/* The packet-size clamp must be on the socket before its SYN leaves. */
	if (!guard_active() && addr && len >= sizeof(struct sockaddr_in6) && is_tcp(fd) &&
	    peek_sockaddr6(addr, &dst) && config_in_domain(&shim_cfg, &dst.sin6_addr))
		tagger_tcp_size(fd, NULL, shim_secure);
	rc = real.connect(fd, addr, len);
	if (guard_active())
		return rc;
	saved = errno;
	if (rc == 0 || saved == EINPROGRESS || saved == EINTR) {
		/* The kernel accepted the address, so it is readable. */
		if (addr && addr->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6))
			track_or_ignore(fd, &((const struct sockaddr_in6 *)addr)->sin6_addr,
					APPLIED_NONE);
		else if (addr && addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in))
			track_ipv4(fd);
		else
			fd_ignore(fd);
	}
	errno = saved;
	return rc;
}

int shim_close(int fd)
{
	int saved;

	shim_ensure();
	saved = errno;
	fd_reset(fd, FD_UNKNOWN);
	slog_fd_gone(fd);
	errno = saved;
	return real.close(fd);
}

/* @newfd now names the same open file as @oldfd: share the socket state. */
static void fd_copy(int oldfd, int newfd)
{
	enum fd_class c = fdstate_class(oldfd), nc = fdstate_class(newfd);
	int saved = errno;

	slog_fd_gone(newfd);
	if (guard_active())
		fd_reset(newfd, FD_UNKNOWN);
	else if (c != FD_TRACKED && nc != FD_TRACKED && nc != FD_STALE)
		fdstate_set_class(newfd, c == FD_STALE ? FD_UNKNOWN : c);
	else
		fdstate_copy(oldfd, newfd);
	errno = saved;
}

int shim_dup(int fd)
{
	int rc;

	shim_ensure();
	rc = real.dup(fd);
	if (rc >= 0)
		fd_copy(fd, rc);
	return rc;
}

int shim_dup2(int oldfd, int newfd)
{
	int rc;

	shim_ensure();
	rc = real.dup2(oldfd, newfd);
	if (rc >= 0 && oldfd != newfd)
		fd_copy(oldfd, rc);
	return rc;
}

int shim_dup3(int oldfd, int newfd, int flags)
{
	int rc;

	shim_ensure();
	rc = real.dup3(oldfd, newfd, flags);
	if (rc >= 0)
		fd_copy(oldfd, rc);
	return rc;
}

static int fcntl_common(int fd, int cmd, void *arg, bool is64)
{
	int rc;

	shim_ensure();
	rc = is64 ? real.fcntl64(fd, cmd, arg) : real.fcntl(fd, cmd, arg);
	if (rc >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC))
		fd_copy(fd, rc);
	return rc;
}

int shim_fcntl(int fd, int cmd, void *arg)
{
	return fcntl_common(fd, cmd, arg, false);
}

int shim_fcntl64(int fd, int cmd, void *arg)
{
	return fcntl_common(fd, cmd, arg, true);
}

pid_t shim_fork(void)
{
	/* Initialising first registers the atfork handlers that keep the locks consistent. */
	shim_ensure();
	return real.fork();
}

/* A descriptor number that a new socket now holds starts over: IPv6 TCP,
 * and with tracing on IPv4 TCP too (its CLIENT spans), is looked at when it
 * connects; anything else is settled now. */
static bool is_followed_tcp(int domain, int type, int protocol)
{
	return (domain == AF_INET6 || (domain == AF_INET && shim_cfg.tracing != TRACING_OFF)) &&
	       (type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) == SOCK_STREAM &&
	       (protocol == 0 || protocol == IPPROTO_TCP);
}

int shim_socket(int domain, int type, int protocol)
{
	int fd, saved;

	shim_ensure();
	fd = real.socket(domain, type, protocol);
	if (fd < 0)
		return fd;
	saved = errno;
	/* Anything else is settled now: its sends need no look at all. */
	fd_reset(fd, is_followed_tcp(domain, type, protocol) ? FD_UNKNOWN : FD_IGNORED);
	errno = saved;
	return fd;
}

int shim_socketpair(int domain, int type, int protocol, int sv[2])
{
	int rc, saved;

	shim_ensure();
	rc = real.socketpair(domain, type, protocol, sv);
	if (rc < 0 || !sv)
		return rc;
	saved = errno;
	/* Never IPv6 (the kernel has no AF_INET6 pairs): nothing to tag. */
	fd_reset(sv[0], FD_IGNORED);
	fd_reset(sv[1], FD_IGNORED);
	errno = saved;
	return rc;
}

static int accepted(int fd)
{
	int saved = errno;

	/* Not a tracked (client) socket: rx.c follows it, and its responses
	 * carry their requests' IDs (resptag.c). Linux does not take a sticky
	 * option's length off the MSS of an accepted IPv6 socket, so it must
	 * come from a listener sized for it (shim_listen); the room the socket
	 * inherited comes off its packets here, before it sends any data. */
	if (fd >= 0) {
		fd_reset(fd, FD_IGNORED);
		if (!guard_active()) {
			if (shim_cfg.tag_responses)
				tagger_accepted(fd, shim_secure);
			rx_accepted(fd);
		}
	}
	errno = saved;
	return fd;
}

/* Whether every address a wildcard listener answers from is in the domain
 * (link-local ones aside: on-link only): then its SYN-ACKs, which carry
 * the listener's room, stay inside the IOAM domain, as for a listener bound
 * to a domain address. Addresses added later are not seen. */
static bool host_in_domain(void)
{
	struct ifaddrs *ifa, *i;
	bool all = true;

	if (getifaddrs(&ifa) != 0)
		return false;
	for (i = ifa; i && all; i = i->ifa_next) {
		const struct sockaddr_in6 *a = (const void *)i->ifa_addr;

		if (a && a->sin6_family == AF_INET6 && !IN6_IS_ADDR_LINKLOCAL(&a->sin6_addr) &&
		    !config_in_domain(&shim_cfg, &a->sin6_addr))
			all = false;
	}
	freeifaddrs(ifa);
	return all;
}

/* A listener bound to a domain address or to any gets the clamp, which its
 * accepted sockets inherit (the kernel copies TCP_MAXSEG to them): their
 * responses are tagged (resptag.c) once established, when the kernel no
 * longer fits their segments to the option. After the real listen(): libclt
 * then knows it is a listener and leaves room for a response's option - a
 * sticky destination options room that sizes each accepted socket for its
 * own route (hopopts backend), unless the listener's SYN-ACKs may leave the
 * domain (a wildcard listener on a host with an address outside it): then
 * the fixed clamp for a 1500-octet path.
 * With CLT_TAG_RESPONSES=0 they are never tagged and keep their MSS. */
int shim_listen(int fd, int backlog)
{
	struct sockaddr_in6 me;
	socklen_t len = sizeof(me);
	int saved, rc;

	shim_ensure();
	rc = real.listen(fd, backlog);
	if (rc != 0 || guard_active() || !shim_cfg.tag_responses)
		return rc;
	saved = errno;
	if (getsockname(fd, (struct sockaddr *)&me, &len) == 0 && len >= sizeof(me) &&
	    me.sin6_family == AF_INET6 &&
	    (IN6_IS_ADDR_UNSPECIFIED(&me.sin6_addr) || config_in_domain(&shim_cfg, &me.sin6_addr)) &&
	    is_tcp(fd)) {
		bool room = !IN6_IS_ADDR_UNSPECIFIED(&me.sin6_addr);

		if (!room) {
			guard_enter();
			room = host_in_domain();
			guard_exit();
		}
		tagger_listen_size(fd, room, shim_secure);
	}
	errno = saved;
	return rc;
}

/* A blocking accept is where a thread-per-connection server idles: idle.c. */
int shim_accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	shim_ensure();
	if (idle_before_accept(fd) < 0)
		return -1;
	return accepted(real.accept(fd, addr, len));
}

int shim_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	shim_ensure();
	if (idle_before_accept(fd) < 0)
		return -1;
	return accepted(real.accept4(fd, addr, len, flags));
}

/* Forget every descriptor in [@first, @last]. */
static void fd_reset_range(unsigned int first, unsigned int last)
{
	unsigned int high = atomic_load_explicit(&fdstate_high, memory_order_relaxed);

	slog_fd_range_gone(first, last);
	/* Accepted sockets in the range: their spans in flight end now. */
	if (!guard_active() && (shim_cfg.tracing != TRACING_OFF || shim_cfg.tag_responses))
		for (unsigned int fd = first; fd <= last && fd < high; fd++)
			if (fdstate_class((int)fd) == FD_ACCEPTED)
				rx_forget((int)fd);
	fdstate_reset_range(first, last, guard_active());
}

int shim_close_range(unsigned int first, unsigned int last, int flags)
{
	int saved;

	shim_ensure();
	saved = errno;
	/* Before the real call, as close(): a number closed is free for another thread at once. */
	if (first <= last && !(flags & CLOSE_RANGE_CLOEXEC))
		fd_reset_range(first, last);
	errno = saved;
	return real.close_range(first, last, flags);
}

void shim_closefrom(int lowfd)
{
	int saved;

	shim_ensure();
	saved = errno;
	if (lowfd >= 0)
		fd_reset_range((unsigned int)lowfd, UINT_MAX);
	errno = saved;
	real.closefrom(lowfd);
}

int shim_fclose(FILE *fp)
{
	int fd, saved;

	shim_ensure();
	saved = errno;
	/* stdio closes its descriptor with libc's internal close, which the shim never sees. */
	fd = fp ? fileno(fp) : -1;
	if (fd >= 0) {
		fd_reset(fd, FD_UNKNOWN);
		slog_fd_gone(fd);
	}
	errno = saved;
	return real.fclose(fp);
}
