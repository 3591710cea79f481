/*
 * test_shim_partial.c - the shim counts a send's bytes before the real
 * call and winds its tracker back when the kernel takes fewer (partial
 * sends, EAGAIN on a full non-blocking socket). Whatever the cuts, each
 * request's IDs must be on the socket while its bytes leave and the next
 * request must be found where it starts. The IDs are read back from the
 * kernel (getsockopt IPV6_HOPOPTS), so the hopopts backend must work
 * (root); otherwise the test skips.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "integration/c/shim_child.h"

#define T1 "0af7651916cd43dd8448eb211c80319c"
#define S1 "b7ad6b7169203331"
#define T2 "4bf92f3577b34da6a3ce929d0e0e4736"
#define S2 "00f067aa0ba902b7"
#define BODY_LEN 600000

static int fails;
static int peer = -1;
static unsigned long partial, again;

static void check(const char *what, int ok)
{
	printf("%s - %s\n", ok ? "ok  " : "FAIL", what);
	if (!ok)
		fails++;
}

static void unhex(const char *s, unsigned char *out, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned int v;

		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			abort();
		out[i] = (unsigned char)v;
	}
}

/* Does the socket's hop-by-hop option carry exactly these IDs? */
static int carries(int fd, const char *trace, const char *span)
{
	unsigned char buf[512], ids[24];
	socklen_t len = sizeof(buf);

	unhex(trace, ids, 16);
	unhex(span, ids + 16, 8);
	if (getsockopt(fd, IPPROTO_IPV6, IPV6_HOPOPTS, buf, &len) != 0 || len < sizeof(ids))
		return 0;
	return memmem(buf, len, ids, sizeof(ids)) != NULL;
}

static void drain_some(void)
{
	static char buf[65536];

	while (read(peer, buf, sizeof(buf)) > 0)
		;
}

/* Write all of @p on the non-blocking @fd, draining the peer whenever the socket is full. */
static int send_all(int fd, const char *p, size_t n, const char *trace, const char *span,
		    int *ids_ok)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EAGAIN) {
			struct pollfd pfd[2] = { { .fd = fd, .events = POLLOUT },
						 { .fd = peer, .events = POLLIN } };

			again++;
			/* Read the peer's side until the writer has room again. */
			while (poll(pfd, 2, 1000) > 0 && !(pfd[0].revents & POLLOUT))
				drain_some();
			continue;
		}
		if (w <= 0)
			return -1;
		if ((size_t)w < n)
			partial++;
		if (trace && !carries(fd, trace, span))
			*ids_ok = 0;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int child(void)
{
	struct sockaddr_in6 srv;
	socklen_t alen = sizeof(srv);
	static char req[BODY_LEN + 512];
	const char *hdr = "POST /up HTTP/1.1\r\nHost: a\r\ntraceparent: 00-" T1 "-" S1
			  "-01\r\nContent-Length: 600000\r\n\r\n";
	const char *get2 = "GET /next HTTP/1.1\r\nHost: a\r\ntraceparent: 00-" T2 "-" S2 "-01\r\n\r\n";
	int l, c, sz = 4096, ok = 1;
	size_t hl = strlen(hdr), i;

	signal(SIGPIPE, SIG_IGN);
	memset(&srv, 0, sizeof(srv));
	srv.sin6_family = AF_INET6;
	srv.sin6_addr = in6addr_loopback;
	l = socket(AF_INET6, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&srv, sizeof(srv)) < 0 || listen(l, 4) < 0 ||
	    getsockname(l, (struct sockaddr *)&srv, &alen) < 0) {
		printf("SKIP: no IPv6 here\n");
		return 77;
	}
	c = socket(AF_INET6, SOCK_STREAM, 0);
	setsockopt(c, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	if (c < 0 || connect(c, (struct sockaddr *)&srv, sizeof(srv)) < 0)
		return 1;
	peer = accept(l, NULL, NULL);
	if (peer < 0)
		return 1;
	if (write(c, get2, strlen(get2)) != (ssize_t)strlen(get2) || !carries(c, T2, S2)) {
		if (!shim_child_loaded()) {
			printf("FAIL: the shim is not loaded in the child (LD_PRELOAD refused)\n");
			return 1;
		}
		printf("SKIP: the backend cannot tag here (hopopts needs CAP_NET_RAW)\n");
		return 77;
	}
	fcntl(c, F_SETFL, O_NONBLOCK);
	fcntl(peer, F_SETFL, O_NONBLOCK);

	/* 1. Header block and whole body in one buffer: the first write is cut short. */
	memcpy(req, hdr, hl);
	for (i = 0; i < BODY_LEN; i++)
		req[hl + i] = (char)('a' + i % 26);
	if (send_all(c, req, hl + BODY_LEN, T1, S1, &ok) < 0)
		return 1;
	check("one write of header + body, cut by the kernel: the IDs stay on for every piece", ok);
	check("the next request after the cut-up body is found (its IDs are set)",
	      send_all(c, get2, strlen(get2), NULL, NULL, &ok) == 0 && carries(c, T2, S2));

	/* 2. Header alone, then the body in large writes that are cut and refused (EAGAIN). */
	ok = 1;
	if (send_all(c, hdr, hl, T1, S1, &ok) < 0 ||
	    send_all(c, req + hl, BODY_LEN, T1, S1, &ok) < 0)
		return 1;
	check("body in cut and refused writes: the request's IDs stay on", ok);
	check("the request after that body is found (its IDs are set)",
	      send_all(c, get2, strlen(get2), NULL, NULL, &ok) == 0 && carries(c, T2, S2));
	printf("     (%lu partial writes, %lu EAGAIN)\n", partial, again);
	check("the kernel really cut writes and refused some", partial > 2 && again > 2);
	close(c);
	close(peer);
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
