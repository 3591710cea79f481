/*
 * test_shim_stale.c - a descriptor number closed where the shim cannot
 * see it (close_range, closefrom, fclose, a raw close system call) and
 * taken over by a new socket created where the shim cannot see it either
 * (raw socket/connect system calls, as libc-internal code does) must not
 * keep the old socket's state: an in-domain connection must be tagged at
 * its first request, and IDs must never land on a connection outside
 * CLT_DOMAIN. Whether a socket carries IDs is read back from the kernel
 * (getsockopt IPV6_HOPOPTS), so the hopopts backend must work (root);
 * otherwise the test skips.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "integration/c/shim_child.h"

#define T1 "0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331"
#define T2 "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7"
#define REQ(t) "GET / HTTP/1.1\r\nHost: a\r\ntraceparent: 00-" t "-01\r\n\r\n"

static struct sockaddr_in6 srv;
static int fails;

static void check(const char *what, int ok)
{
	printf("%s - %s\n", ok ? "ok  " : "FAIL", what);
	if (!ok)
		fails++;
}

/* Does the kernel socket carry a hop-by-hop option (the shim's IDs)? */
static int tagged(int fd)
{
	unsigned char buf[256];
	socklen_t len = sizeof(buf);

	return getsockopt(fd, IPPROTO_IPV6, IPV6_HOPOPTS, buf, &len) == 0 && len > 0;
}

static int conn_seen(void)
{
	int fd = socket(AF_INET6, SOCK_STREAM, 0);

	if (fd < 0 || connect(fd, (struct sockaddr *)&srv, sizeof(srv)) < 0)
		return -1;
	return fd;
}

/* A connection made with raw system calls: invisible to the shim. */
static int conn_unseen(int v4mapped)
{
	struct sockaddr_in6 a = srv;
	int fd = (int)syscall(SYS_socket, AF_INET6, SOCK_STREAM, 0);

	if (v4mapped) {
		memset(&a.sin6_addr, 0, sizeof(a.sin6_addr));
		a.sin6_addr.s6_addr[10] = a.sin6_addr.s6_addr[11] = 0xff;
		a.sin6_addr.s6_addr[12] = 127;
		a.sin6_addr.s6_addr[15] = 1;
	}
	if (fd < 0 || syscall(SYS_connect, fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return -1;
	return fd;
}

static int send_req(int fd, const char *req)
{
	return write(fd, req, strlen(req)) == (ssize_t)strlen(req);
}

static int child(void)
{
	socklen_t alen = sizeof(srv);
	int l, x, y, off = 0;
	FILE *fp;

	signal(SIGPIPE, SIG_IGN);
	memset(&srv, 0, sizeof(srv));
	srv.sin6_family = AF_INET6;
	l = socket(AF_INET6, SOCK_STREAM, 0);
	/* Dual stack: the same port also answers ::ffff:127.0.0.1 (outside the domain). */
	setsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
	if (l < 0 || bind(l, (struct sockaddr *)&srv, sizeof(srv)) < 0 || listen(l, 64) < 0 ||
	    getsockname(l, (struct sockaddr *)&srv, &alen) < 0) {
		printf("SKIP: no IPv6 here\n");
		return 77;
	}
	srv.sin6_addr = in6addr_loopback;

	x = conn_seen();
	if (x < 0 || !send_req(x, REQ(T1)))
		return 1;
	if (!tagged(x)) {
		if (!shim_child_loaded()) {
			printf("FAIL: the shim is not loaded in the child (LD_PRELOAD refused)\n");
			return 1;
		}
		printf("SKIP: the backend cannot tag here (hopopts needs CAP_NET_RAW)\n");
		return 77;
	}
	printf("ok   - a tracked connection carries its request's IDs\n");

	/* 1. close_range, then the number reused unseen: tagged at its first request. */
	close_range((unsigned int)x, (unsigned int)x, 0);
	y = conn_unseen(0);
	check("close_range: the number is reused by an unseen connection", y == x);
	check("close_range: the new connection is tagged at its first request (same IDs)",
	      send_req(y, REQ(T1)) && tagged(y));
	close(y);

	/* 2. fclose of an fdopen'd socket (stdio closes internally). */
	x = conn_seen();
	send_req(x, REQ(T1));
	fp = fdopen(x, "w");
	if (!fp)
		return 1;
	fclose(fp);
	y = conn_unseen(0);
	check("fclose: the number is reused by an unseen connection", y == x);
	check("fclose: the new connection is tagged at its first request", send_req(y, REQ(T1)) && tagged(y));
	close(y);

	/* 3. closefrom. */
	x = conn_seen();
	send_req(x, REQ(T1));
	closefrom(x);
	y = conn_unseen(0);
	check("closefrom: the number is reused by an unseen connection", y == x);
	check("closefrom: the new connection is tagged at its first request",
	      send_req(y, REQ(T1)) && tagged(y));
	close(y);

	/* 4. An unseen close, then the number taken by a connection OUTSIDE the domain. */
	x = conn_seen();
	send_req(x, REQ(T1));
	syscall(SYS_close, x);
	y = conn_unseen(1);
	check("unseen close: the number is reused by an out-of-domain connection", y == x);
	check("out-of-domain connection: first request with new IDs not tagged",
	      send_req(y, REQ(T2)) && !tagged(y));
	check("out-of-domain connection: second request not tagged either",
	      send_req(y, REQ(T1)) && !tagged(y));
	close(y);

	/* 5. An unseen close noticed by the send failing (EBADF), then an unseen reuse. */
	x = conn_seen();
	send_req(x, REQ(T1));
	syscall(SYS_close, x);
	errno = 0;
	check("write on the closed number fails with EBADF", write(x, "G", 1) < 0 && errno == EBADF);
	y = conn_unseen(0);
	check("after EBADF: the number is reused by an unseen connection", y == x);
	check("after EBADF: the new connection is tagged at its first request (same IDs)",
	      send_req(y, REQ(T1)) && tagged(y));
	close(y);

	/* 6. socket() is seen: a new socket on a stale number starts over. */
	x = conn_seen();
	send_req(x, REQ(T1));
	syscall(SYS_close, x);
	y = socket(AF_INET6, SOCK_STREAM, 0);
	check("socket(): the number is reused", y == x);
	check("socket() + unseen connect: tagged at its first request",
	      syscall(SYS_connect, y, (struct sockaddr *)&srv, sizeof(srv)) == 0 &&
		      send_req(y, REQ(T1)) && tagged(y));
	close(y);
	close(l);
	return fails ? 1 : 0;
}

int main(int argc, char **argv)
{
	char self[PATH_MAX], shim[PATH_MAX], preload[SHIM_PRELOAD_MAX];

	if (argc > 1 && strcmp(argv[1], "--child") == 0)
		return child();
	if (shim_child_paths(self, shim, preload))
		return 1;
	return shim_child_run(self, preload, "hopopts", 60);
}
