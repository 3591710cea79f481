/*
 * inject_sends.c - injection transparency (tests/integration/inject_sends.sh,
 * run under libcltshim.so with CLT_TRACING=inject): for each of write,
 * send, writev and sendmsg, a request without trace header (a large
 * Content-Length body) goes out on a non-blocking socket with a small send
 * buffer, so the kernel takes it in pieces; then a second request on the
 * same connection. Every call's return value is checked against what it
 * asked (never more, -1 only with EAGAIN), their sum against the
 * application's bytes, and the listener's thread checks that it received
 * exactly the application's bytes plus one "traceparent: ..." line right
 * after each request line. Lines "ok   - ..." / "FAIL - ..."; exit 0 when
 * every check passed.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define BODY (256 * 1024)

static int fails;
static char *rx;
static size_t rx_len; /* rx: its length, then what the server received (shared) */

static void check(int ok, const char *what, const char *variant)
{
	printf("%s - %s: %s\n", ok ? "ok  " : "FAIL", variant, what);
	fails += !ok;
}

/* The receiving server is another process: a SERVER span of its own would make this one's
 * requests belong to nothing (the propagation rule). */
static void drain(int lfd)
{
	int fd = accept(lfd, NULL, NULL);
	size_t cap = 4 * BODY;
	ssize_t n;

	*(size_t *)rx = 0;
	while (fd >= 0 && (n = read(fd, rx + sizeof(size_t) + *(size_t *)rx, cap - *(size_t *)rx)) > 0)
		*(size_t *)rx += (size_t)n;
	_exit(0);
}

/* Send all of @buf with @variant, waiting on EAGAIN; every return value checked. */
static int send_all(int fd, const char *variant, const char *buf, size_t len)
{
	size_t off = 0;
	int bad = 0;

	while (off < len) {
		size_t want = len - off;
		ssize_t r;

		if (!strcmp(variant, "write")) {
			r = write(fd, buf + off, want);
		} else if (!strcmp(variant, "send")) {
			r = send(fd, buf + off, want, MSG_DONTWAIT);
		} else {
			/* Two pieces: a split inside the application's bytes. */
			size_t h = want > 7 ? 7 : want;
			struct iovec iov[2] = {{(void *)(buf + off), h}, {(void *)(buf + off + h), want - h}};

			if (!strcmp(variant, "writev")) {
				r = writev(fd, iov, 2);
			} else {
				struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2};

				r = sendmsg(fd, &m, 0);
			}
		}
		if (r < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				bad = 1;
				break;
			}
			struct pollfd p = {.fd = fd, .events = POLLOUT};

			poll(&p, 1, 5000);
			continue;
		}
		if ((size_t)r > want || r == 0) {
			bad = 1;
			break;
		}
		off += (size_t)r;
	}
	return bad ? -1 : 0;
}

static int run(const char *variant)
{
	struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = in6addr_loopback};
	socklen_t alen = sizeof(a);
	int lfd = socket(AF_INET6, SOCK_STREAM, 0), fd, small = 4096;
	char head[256], *req[2];
	size_t len[2], i, total = 0;
	pid_t child;

	if (lfd < 0 || bind(lfd, (void *)&a, sizeof(a)) < 0 || listen(lfd, 1) < 0 ||
	    getsockname(lfd, (void *)&a, &alen) < 0)
		return -1;
	child = fork();
	if (child == 0)
		drain(lfd);
	fd = socket(AF_INET6, SOCK_STREAM, 0);
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	if (connect(fd, (void *)&a, sizeof(a)) < 0)
		return -1;
	fcntl(fd, F_SETFL, O_NONBLOCK);
	for (i = 0; i < 2; i++) {
		int h = snprintf(head, sizeof(head),
				 "POST /%s/%zu HTTP/1.1\r\nHost: [::1]\r\nContent-Length: %d\r\n\r\n",
				 variant, i, BODY);

		len[i] = (size_t)h + BODY;
		req[i] = malloc(len[i]);
		memcpy(req[i], head, (size_t)h);
		memset(req[i] + h, 'a' + (int)i, BODY);
		check(send_all(fd, variant, req[i], len[i]) == 0,
		      "every return value within what was asked, -1 only with EAGAIN", variant);
		total += len[i];
	}
	close(fd);
	waitpid(child, NULL, 0);
	close(lfd);
	rx_len = *(size_t *)rx;
	char *got = rx + sizeof(size_t);
	/* What arrived: each request with one traceparent line after its request line. */
	size_t off = 0;
	int same = 1;

	for (i = 0; i < 2 && same; i++) {
		char *eol = memchr(req[i], '\n', len[i]);
		size_t l1 = (size_t)(eol - req[i]) + 1;
		const size_t tpl = 13 + 55 + 2;

		same = off + len[i] + tpl <= rx_len && !memcmp(got + off, req[i], l1) &&
		       !memcmp(got + off + l1, "traceparent: 00-", 16) &&
		       !memcmp(got + off + l1 + tpl - 2, "\r\n", 2) &&
		       !memcmp(got + off + l1 + tpl, req[i] + l1, len[i] - l1);
		off += len[i] + tpl;
	}
	check(same && off == rx_len, "the server got the application's bytes plus one traceparent line per request", variant);
	printf("%s: %zu application bytes, %zu received; traceparent lines at", variant, total, rx_len);
	for (char *q = got; (q = memmem(q, rx_len - (size_t)(q - got), "traceparent:", 12)); q++)
		printf(" %zu", (size_t)(q - got));
	printf("\n");
	free(req[0]);
	free(req[1]);
	return 0;
}

int main(void)
{
	rx = mmap(NULL, sizeof(size_t) + 4 * BODY, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		  -1, 0);
	if (rx == MAP_FAILED)
		return 1;
	const char *v[] = {"write", "send", "writev", "sendmsg"};

	for (size_t i = 0; i < 4; i++)
		if (run(v[i]) < 0) {
			printf("FAIL - %s: setup\n", v[i]);
			fails++;
		}
	return fails ? 1 : 0;
}
