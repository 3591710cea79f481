/*
 * trace_cserver.c - a small HTTP/1.1 server in C with no tracing code, for
 * the zero-code tracing tests: one connection at a time, pipelined
 * requests answered in order, and every reading and writing call a C
 * server may use, in turn (read, recv, recvfrom, readv, recvmsg; write,
 * send, writev, sendmsg), so the shim must follow each.
 *
 *   trace_cserver PORT
 *
 * Each request is answered "200" with the body "PATH #N\n" (N: the
 * request's number on its connection), a request with a body echoes it
 * after that line; "Connection: close" closes after the answer. A request
 * line that is not "METHOD /PATH HTTP/1.x" is answered "400" and the
 * connection closed. The answers are the same whether or not the shim is
 * loaded: a test compares them octet for octet. SIGTERM ends it normally
 * (exit handlers run).
 */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define BUF_MAX 65536

static volatile sig_atomic_t stop;
static unsigned int calls; /* rotates the calls used */

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static ssize_t get(int fd, char *buf, size_t len)
{
	struct iovec iov[2] = {{buf, len / 2}, {buf + len / 2, len - len / 2}};
	struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2};
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	switch (calls++ % 5) {
	case 0:
		return read(fd, buf, len);
	case 1:
		return recv(fd, buf, len, 0);
	case 2:
		return recvfrom(fd, buf, len, 0, (struct sockaddr *)&ss, &sl);
	case 3:
		return readv(fd, iov, 2);
	default:
		return recvmsg(fd, &m, 0);
	}
}

/* Write all of @head then @body, through the call of the turn. */
static int put(int fd, const char *head, size_t hl, const char *body, size_t bl)
{
	struct iovec iov[2] = {{(void *)head, hl}, {(void *)body, bl}};
	struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2};
	ssize_t r;

	switch (calls++ % 4) {
	case 0:
		if (write(fd, head, hl) != (ssize_t)hl)
			return -1;
		return bl && write(fd, body, bl) != (ssize_t)bl ? -1 : 0;
	case 1:
		if (send(fd, head, hl, 0) != (ssize_t)hl)
			return -1;
		return bl && send(fd, body, bl, 0) != (ssize_t)bl ? -1 : 0;
	case 2:
		r = writev(fd, iov, 2);
		break;
	default:
		r = sendmsg(fd, &m, 0);
		break;
	}
	return r == (ssize_t)(hl + bl) ? 0 : -1;
}

/* One connection: answer every complete request in the buffer, in order. */
static void serve(int fd)
{
	static char buf[BUF_MAX + 1];
	size_t have = 0;
	unsigned int n = 0;

	for (;;) {
		char *end, *eol, *sp1, *sp2, *cl;
		char head[256], body[BUF_MAX + 320];
		size_t hlen, blen = 0, len;
		int keep = 1, hl, bl;
		ssize_t r;

		buf[have] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (!end) {
			if (have == BUF_MAX)
				return;
			r = get(fd, buf + have, BUF_MAX - have);
			if (r <= 0)
				return;
			have += (size_t)r;
			continue;
		}
		hlen = (size_t)(end - buf) + 4;
		eol = strstr(buf, "\r\n");
		*eol = '\0';
		sp1 = strchr(buf, ' ');
		sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
		if (!sp1 || sp1 == buf || !sp2 || sp1[1] != '/' || strncmp(sp2 + 1, "HTTP/1.", 7) ||
		    strlen(sp2 + 1) != 8) {
			static const char bad[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
						  "Connection: close\r\n\r\n";

			put(fd, bad, sizeof(bad) - 1, "", 0);
			return;
		}
		*sp2 = '\0';
		*eol = '\r';
		cl = strcasestr(eol, "\r\ncontent-length:");
		if (cl && cl < end)
			len = strtoul(cl + 17, NULL, 10);
		else
			len = 0;
		if (strcasestr(eol, "\r\nconnection: close") && strcasestr(eol, "\r\nconnection: close") < end)
			keep = 0;
		if (len > BUF_MAX - hlen)
			return;
		while (have < hlen + len) {
			r = get(fd, buf + have, BUF_MAX - have);
			if (r <= 0)
				return;
			have += (size_t)r;
		}
		bl = snprintf(body, sizeof(body), "%s #%u\n", sp1 + 1, ++n);
		if (bl > 0)
			blen = (size_t)bl;
		memcpy(body + blen, buf + hlen, len);
		blen += len;
		hl = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n%s\r\n", blen,
			      keep ? "" : "Connection: close\r\n");
		if (put(fd, head, (size_t)hl, body, blen) < 0 || !keep)
			return;
		memmove(buf, buf + hlen + len, have - hlen - len);
		have -= hlen + len;
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT};
	struct sigaction sa = {.sa_handler = on_term};
	int one = 1, lfd;

	if (argc != 2) {
		fprintf(stderr, "usage: trace_cserver PORT\n");
		return 2;
	}
	sigaction(SIGTERM, &sa, NULL); /* no SA_RESTART: accept() returns EINTR */
	a.sin6_port = htons((unsigned short)atoi(argv[1]));
	lfd = socket(AF_INET6, SOCK_STREAM, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 16) < 0) {
		perror("trace_cserver");
		return 1;
	}
	while (!stop) {
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0) {
			if (errno == EINTR)
				continue;
			perror("accept");
			return 1;
		}
		serve(fd);
		close(fd);
	}
	close(lfd);
	return 0;
}
