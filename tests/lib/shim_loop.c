/*
 * shim_loop.c - a fixed, repeatable client loop for measuring what
 * libcltshim.so costs per request (tests/lib/shim_cost.sh runs it under
 * callgrind with and without the shim and divides the difference).
 *
 *   shim_loop MODE N      MODE: plain (wrk's request, no traceparent),
 *                         tp (a traceparent, the same on every request),
 *                         tpchange (a different traceparent every request),
 *                         body (POST with a Content-Length body, in two writes)
 *
 * One keep-alive connection to a listener on [::1] in the same process;
 * a thread drains it. Exit 0 when every byte was written.
 */
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int drain_fd = -1;

static void *drain(void *arg)
{
	char buf[65536];

	(void)arg;
	while (read(drain_fd, buf, sizeof(buf)) > 0)
		;
	return NULL;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	static const char plain[] = "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n";
	static const char body_hdr[] = "POST /upload HTTP/1.1\r\nHost: [::1]:8080\r\n"
				       "Content-Type: application/json\r\nContent-Length: 60\r\n\r\n";
	static const char body[] = "{\"user\":\"clt\",\"password\":\"clt\",\"padding\":\"xxxxxxxxxxxxxxxx\"}";
	char req[512];
	socklen_t alen = sizeof(a);
	pthread_t th;
	long i, n;
	int l, c, len;

	if (argc != 3) {
		fprintf(stderr, "usage: shim_loop plain|tp|tpchange|body N\n");
		return 2;
	}
	n = strtol(argv[2], NULL, 10);
	l = socket(AF_INET6, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&a, &alen) < 0)
		return 1;
	c = socket(AF_INET6, SOCK_STREAM, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof(a)) < 0)
		return 1;
	drain_fd = accept(l, NULL, NULL);
	if (drain_fd < 0 || pthread_create(&th, NULL, drain, NULL) != 0)
		return 1;
	for (i = 0; i < n; i++) {
		if (strcmp(argv[1], "plain") == 0) {
			if (write_all(c, plain, sizeof(plain) - 1) < 0)
				return 1;
			continue;
		}
		if (strcmp(argv[1], "body") == 0) {
			if (write_all(c, body_hdr, sizeof(body_hdr) - 1) < 0 ||
			    write_all(c, body, sizeof(body) - 1) < 0)
				return 1;
			continue;
		}
		len = snprintf(req, sizeof(req),
			       "GET /api/v1/items HTTP/1.1\r\nHost: [::1]:8080\r\nUser-Agent: loop/1.0\r\n"
			       "Accept: */*\r\ntraceparent: 00-0af7651916cd43dd8448eb211c80319c-%016lx-01\r\n"
			       "Accept-Encoding: gzip\r\n\r\n",
			       strcmp(argv[1], "tpchange") == 0 ? 0x1000 + i : 0x1000L);
		if (len < 0 || write_all(c, req, (size_t)len) < 0)
			return 1;
	}
	shutdown(c, SHUT_WR);
	pthread_join(th, NULL);
	return 0;
}
