/*
 * test_shim_errno.c - libcltshim.so must be invisible: the same sequence
 * of socket calls (successes, partial sends, EAGAIN, EPIPE, EBADF, EFAULT,
 * EINVAL, dup/fcntl/close, sendfile, fork) is run by a child process
 * without and then with the shim preloaded, and the two transcripts of
 * return values, errno and received bytes must be identical. errno must
 * also survive a successful tagged send unchanged.
 * Uses IPv6 loopback (inside the default CLT_DOMAIN), so the tracked path
 * is exercised; needs no root (the backend then is "off" or fails open).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "integration/c/shim_child.h"

#define TP "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n"
#define REQ "GET /x HTTP/1.1\r\nHost: a\r\n" TP "\r\n"

static void say(const char *what, long rc, int err)
{
	printf("%-34s rc=%ld errno=%s\n", what, rc, rc < 0 ? strerrorname_np(err) : "-");
}

#define CALL(what, expr)                      \
	do {                                  \
		long rc_ = (long)(expr);      \
		say(what, rc_, errno);        \
	} while (0)

static int listener(struct sockaddr_in6 *addr)
{
	socklen_t len = sizeof(*addr);
	int s = socket(AF_INET6, SOCK_STREAM, 0);

	memset(addr, 0, sizeof(*addr));
	addr->sin6_family = AF_INET6;
	addr->sin6_addr = in6addr_loopback;
	if (s < 0 || bind(s, (struct sockaddr *)addr, sizeof(*addr)) < 0 || listen(s, 8) < 0 ||
	    getsockname(s, (struct sockaddr *)addr, &len) < 0)
		return -1;
	return s;
}

static int client(const struct sockaddr_in6 *addr)
{
	int c = socket(AF_INET6, SOCK_STREAM, 0);

	if (c < 0 || connect(c, (const struct sockaddr *)addr, sizeof(*addr)) < 0)
		return -1;
	return c;
}

static size_t drain(int fd, size_t want, unsigned long *sum)
{
	char buf[65536];
	size_t got = 0;

	while (got < want) {
		ssize_t n = read(fd, buf, sizeof(buf));
		ssize_t i;

		if (n <= 0)
			break;
		for (i = 0; i < n; i++)
			*sum = *sum * 31 + (unsigned char)buf[i];
		got += (size_t)n;
	}
	return got;
}

static int child(void)
{
	struct sockaddr_in6 addr;
	struct iovec iov[3];
	unsigned long sum_out = 0, sum_in = 0;
	char buf[4096];
	int l, c, a, d, fd, i;
	long total;

	signal(SIGPIPE, SIG_IGN);
	printf("shim %s\n", getenv("LD_PRELOAD") ? "preloaded" : "absent");
	/* Bad descriptors and arguments. */
	CALL("write(-1)", write(-1, "x", 1));
	CALL("write(123456)", write(123456, "x", 1));
	CALL("send(-1)", send(-1, "x", 1, 0));
	CALL("writev(-1)", writev(-1, iov, 0));
	CALL("close(-1)", close(-1));
	CALL("dup(-1)", dup(-1));
	CALL("dup2(-1, 50)", dup2(-1, 50));
	CALL("dup3(0, 0, 0)", dup3(0, 0, 0));
	CALL("fcntl(-1, F_DUPFD)", fcntl(-1, F_DUPFD, 0));

	l = listener(&addr);
	if (l < 0) {
		printf("SKIP: no IPv6 loopback here\n");
		return 77;
	}
	c = client(&addr);
	a = accept(l, NULL, NULL);
	if (c < 0 || a < 0)
		return 1;
	/* A tagged request: full length, errno untouched, bytes intact. */
	errno = EDOM;
	i = (int)send(c, REQ, strlen(REQ), 0);
	printf("send(request) rc=%d errno after success=%s\n", i, strerrorname_np(errno));
	CALL("read(request)", read(a, buf, sizeof(buf)));
	printf("request bytes intact: %s\n", memcmp(buf, REQ, strlen(REQ)) == 0 ? "yes" : "no");
	/* The same request over three iovecs. */
	iov[0].iov_base = (void *)REQ;
	iov[0].iov_len = 10;
	iov[1].iov_base = (void *)(REQ + 10);
	iov[1].iov_len = 30;
	iov[2].iov_base = (void *)(REQ + 40);
	iov[2].iov_len = strlen(REQ) - 40;
	errno = ERANGE;
	i = (int)writev(c, iov, 3);
	printf("writev(request) rc=%d errno after success=%s\n", i, strerrorname_np(errno));
	CALL("read(writev request)", read(a, buf, sizeof(buf)));
	/* What the kernel rejects must be rejected the same way. */
	CALL("sendmsg(NULL msg)", sendmsg(c, NULL, 0));
	{
		/* volatile: the compiler must not see (and refuse) the bad arguments. */
		volatile int neg = -1, big = IOV_MAX + 1;
		const void *volatile nul = NULL;

		CALL("writev(iovcnt -1)", writev(c, iov, neg));
		CALL("writev(iovcnt IOV_MAX+1)", writev(c, iov, big));
		CALL("write(NULL, 10)", write(c, nul, 10));
	}
	CALL("send(MSG_OOB|bad flags)", send(c, "x", 0, 0x40000000));
	/* dup / fcntl: the duplicate writes on the same socket. */
	d = fcntl(c, F_DUPFD_CLOEXEC, 100);
	printf("fcntl(F_DUPFD_CLOEXEC, 100) >= 100: %s\n", d >= 100 ? "yes" : "no");
	CALL("write(dup, request)", write(d, REQ, strlen(REQ)));
	CALL("read(dup request)", read(a, buf, sizeof(buf)));
	CALL("close(dup)", close(d));
	CALL("close(dup) again", close(d));
	/* sendfile of a Content-Length body. */
	{
		char path[] = "/tmp/clt-shim-errno-XXXXXX";
		static char body[100000];
		char hdr[256];
		off_t off = 0;
		int hl;

		fd = mkstemp(path);
		for (i = 0; i < (int)sizeof(body); i++)
			body[i] = (char)(i * 7);
		if (fd < 0 || write(fd, body, sizeof(body)) != (ssize_t)sizeof(body))
			return 1;
		unlink(path);
		hl = snprintf(hdr, sizeof(hdr), "POST / HTTP/1.1\r\nContent-Length: %zu\r\n" TP "\r\n",
			      sizeof(body));
		CALL("send(POST header)", send(c, hdr, (size_t)hl, 0));
		total = 0;
		while (total < (long)sizeof(body)) {
			ssize_t n = sendfile(c, fd, &off, sizeof(body) - (size_t)total);

			if (n <= 0)
				break;
			total += n;
		}
		printf("sendfile total=%ld\n", total);
		close(fd);
		sum_out = 0;
		drain(a, (size_t)hl + sizeof(body), &sum_in);
		for (i = 0; i < hl; i++)
			sum_out = sum_out * 31 + (unsigned char)hdr[i];
		for (i = 0; i < (int)sizeof(body); i++)
			sum_out = sum_out * 31 + (unsigned char)body[i];
		printf("sendfile bytes intact: %s\n", sum_in == sum_out ? "yes" : "no");
	}
	/* fork: the child sends on the inherited socket. */
	{
		pid_t pid = fork();
		int st = -1;

		if (pid == 0)
			_exit(send(c, REQ, strlen(REQ), 0) == (ssize_t)strlen(REQ) ? 0 : 1);
		waitpid(pid, &st, 0);
		printf("fork child send: exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		CALL("read(child request)", read(a, buf, sizeof(buf)));
	}
	/* Non-blocking: fill until EAGAIN; every accepted byte arrives. */
	fcntl(c, F_SETFL, fcntl(c, F_GETFL) | O_NONBLOCK);
	total = 0;
	sum_out = 0;
	for (;;) {
		ssize_t n;

		memset(buf, (int)(total & 0xff), sizeof(buf));
		n = send(c, buf, sizeof(buf), 0);
		if (n < 0) {
			printf("non-blocking fill ends with %s after >0 bytes: %s\n",
			       strerrorname_np(errno), total > 0 ? "yes" : "no");
			break;
		}
		for (i = 0; i < n; i++)
			sum_out = sum_out * 31 + (unsigned char)buf[i];
		total += n;
	}
	sum_in = 0;
	printf("non-blocking bytes intact: %s\n",
	       drain(a, (size_t)total, &sum_in) == (size_t)total && sum_in == sum_out ? "yes" : "no");
	/* Peer gone: EPIPE (or ECONNRESET) exactly as without the shim. */
	fcntl(c, F_SETFL, fcntl(c, F_GETFL) & ~O_NONBLOCK);
	close(a);
	for (i = 0; i < 100; i++) {
		if (send(c, REQ, strlen(REQ), 0) < 0)
			break;
		usleep(10000);
	}
	printf("send after peer close fails: %s (%s)\n", i < 100 ? "yes" : "no",
	       errno == EPIPE || errno == ECONNRESET ? "EPIPE/ECONNRESET" : strerrorname_np(errno));
	CALL("close(client)", close(c));
	CALL("write(closed client)", write(c, "x", 1));
	/* Refused connect. */
	close(l);
	c = socket(AF_INET6, SOCK_STREAM, 0);
	CALL("connect(refused)", connect(c, (struct sockaddr *)&addr, sizeof(addr)));
	close(c);
	fflush(stdout);
	return 0;
}

/* Run this program as the child, with or without the shim; @out receives its transcript. */
static int run(const char *self, const char *preload, char *out, size_t outlen)
{
	int p[2], st;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	if (pipe(p) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		if (preload)
			setenv("LD_PRELOAD", preload, 1);
		else
			unsetenv("LD_PRELOAD");
		execl(self, self, "--child", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	while (got + 1 < outlen && (n = read(p[0], out + got, outlen - got - 1)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	close(p[0]);
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

int main(int argc, char **argv)
{
	static char plain[16384], shimmed[16384];
	char self[PATH_MAX], shim[PATH_MAX], preload[SHIM_PRELOAD_MAX];
	int rc1, rc2;

	if (argc > 1 && strcmp(argv[1], "--child") == 0)
		return child();
	if (shim_child_paths(self, shim, preload))
		return 1;
	rc1 = run(self, NULL, plain, sizeof(plain));
	rc2 = run(self, preload, shimmed, sizeof(shimmed));
	printf("--- without the shim (exit %d):\n%s--- with %s (exit %d):\n%s", rc1, plain, shim, rc2,
	       shimmed);
	if (rc1 == 77) {
		printf("SKIP: no IPv6 loopback\n");
		return 77;
	}
	if (rc1 != 0 || rc2 != 0)
		return 1;
	/* Identical but for the first line. */
	if (strcmp(strchr(plain, '\n'), strchr(shimmed, '\n')) != 0 ||
	    strncmp(shimmed, "shim preloaded", 14) != 0) {
		printf("FAIL: transcripts differ\n");
		return 1;
	}
	printf("ok: identical transcripts\n");
	return 0;
}
