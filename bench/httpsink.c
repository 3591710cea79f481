/*
 * httpsink.c - an HTTP/1.1 receiver that answers every request "200 {}"
 * and keeps nothing, so that an exporter's throughput is measured rather
 * than the receiver's (tests/lib/otlp_receiver.py parses JSON in Python).
 *
 *   httpsink PORT      listen on [::]:PORT (dual stack) until SIGTERM/SIGINT,
 *                      then print one line:
 *   httpsink: requests N bytes B spans S gzip G first T0 last T1
 *
 * spans counts the "spanId" keys in uncompressed bodies (OTLP JSON has one
 * per span); gzip counts bodies it could not look into. T0/T1 are the
 * CLOCK_REALTIME seconds of the first and last complete request.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SINK_MAX_CONNS 64
#define SINK_HDR_MAX 16384
#define SINK_BODY_MAX (256u << 20)

struct sink_conn {
	int fd;
	size_t hdr_len;
	char hdr[SINK_HDR_MAX];
	int in_body;
	int gzip;
	size_t body_len, body_have, body_cap;
	char *body;
};

struct sink_stats {
	unsigned long requests, spans, gzip;
	unsigned long long bytes;
	double first, last;
};

static volatile sig_atomic_t sink_stop;

static void sink_on_signal(int sig)
{
	(void)sig;
	sink_stop = 1;
}

static double sink_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Value of header @name (case-insensitive) in @hdr, or NULL. */
static const char *sink_header(const char *hdr, const char *name)
{
	size_t nlen = strlen(name);
	const char *p = strstr(hdr, "\r\n");

	while (p && p[2] != '\r') {
		p += 2;
		if (strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
			p += nlen + 1;
			while (*p == ' ' || *p == '\t')
				p++;
			return p;
		}
		p = strstr(p, "\r\n");
	}
	return NULL;
}

static unsigned long sink_count(const char *buf, size_t len, const char *needle)
{
	size_t nlen = strlen(needle);
	unsigned long n = 0;
	const char *p = buf, *end = buf + len;

	while ((p = memmem(p, (size_t)(end - p), needle, nlen)) != NULL) {
		n++;
		p += nlen;
	}
	return n;
}

static int sink_answer(struct sink_conn *c, struct sink_stats *st)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
				 "Content-Length: 2\r\n\r\n{}";

	if (c->gzip)
		st->gzip++;
	else
		st->spans += sink_count(c->body, c->body_have, "\"spanId\"");
	st->requests++;
	st->last = sink_now();
	if (st->requests == 1)
		st->first = st->last;
	c->in_body = 0;
	c->hdr_len = 0;
	c->body_have = 0;
	return write(c->fd, ok, sizeof(ok) - 1) == (ssize_t)(sizeof(ok) - 1) ? 0 : -1;
}

/* The header is complete: read Content-Length and prepare the body. */
static int sink_start_body(struct sink_conn *c, struct sink_stats *st)
{
	const char *v = sink_header(c->hdr, "Content-Length");
	const char *enc = sink_header(c->hdr, "Content-Encoding");
	unsigned long long len = 0;
	char *end;

	if (v) {
		errno = 0;
		len = strtoull(v, &end, 10);
		if (errno || end == v || len > SINK_BODY_MAX)
			return -1;
	}
	c->gzip = enc && strncasecmp(enc, "gzip", 4) == 0;
	c->body_len = (size_t)len;
	c->body_have = 0;
	if (c->body_len > c->body_cap) {
		char *nb = realloc(c->body, c->body_len);

		if (!nb)
			return -1;
		c->body = nb;
		c->body_cap = c->body_len;
	}
	c->in_body = 1;
	if (c->body_len == 0)
		return sink_answer(c, st);
	return 0;
}

/* Consume @n octets read from the connection; may hold several requests. */
static int sink_feed(struct sink_conn *c, struct sink_stats *st, const char *buf, size_t n)
{
	st->bytes += n;
	while (n > 0) {
		if (c->in_body) {
			size_t take = c->body_len - c->body_have;

			if (take > n)
				take = n;
			memcpy(c->body + c->body_have, buf, take);
			c->body_have += take;
			buf += take;
			n -= take;
			if (c->body_have == c->body_len && sink_answer(c, st) < 0)
				return -1;
			continue;
		}
		/* Header octet by octet until CRLFCRLF: headers are small. */
		if (c->hdr_len + 1 >= SINK_HDR_MAX)
			return -1;
		c->hdr[c->hdr_len++] = *buf++;
		n--;
		if (c->hdr_len >= 4 && memcmp(c->hdr + c->hdr_len - 4, "\r\n\r\n", 4) == 0) {
			c->hdr[c->hdr_len] = '\0';
			if (sink_start_body(c, st) < 0)
				return -1;
		}
	}
	return 0;
}

static int sink_listen(unsigned short port)
{
	struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
	int fd = socket(AF_INET6, SOCK_STREAM, 0);
	int one = 1, zero = 0;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	a.sin6_addr = in6addr_any;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 64) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int main(int argc, char **argv)
{
	static char buf[1 << 17];
	static struct sink_conn conns[SINK_MAX_CONNS];
	struct pollfd pfd[SINK_MAX_CONNS + 1];
	struct sink_stats st = {0};
	struct sigaction sa = {.sa_handler = sink_on_signal};
	unsigned long port;
	char *end;
	int i;

	if (argc != 2) {
		fprintf(stderr, "usage: httpsink PORT\n");
		return 2;
	}
	errno = 0;
	port = strtoul(argv[1], &end, 10);
	if (errno || end == argv[1] || *end || port == 0 || port > 65535) {
		fprintf(stderr, "httpsink: bad port '%s'\n", argv[1]);
		return 2;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	pfd[0].fd = sink_listen((unsigned short)port);
	if (pfd[0].fd < 0) {
		perror("httpsink: listen");
		return 1;
	}
	pfd[0].events = POLLIN;
	for (i = 0; i < SINK_MAX_CONNS; i++) {
		conns[i].fd = -1;
		pfd[i + 1].fd = -1;
		pfd[i + 1].events = POLLIN;
	}
	while (!sink_stop) {
		if (poll(pfd, SINK_MAX_CONNS + 1, 500) < 0) {
			if (errno == EINTR)
				continue;
			perror("httpsink: poll");
			return 1;
		}
		if (pfd[0].revents & POLLIN) {
			int fd = accept(pfd[0].fd, NULL, NULL);

			for (i = 0; fd >= 0 && i < SINK_MAX_CONNS && conns[i].fd >= 0; i++)
				;
			if (fd >= 0 && i == SINK_MAX_CONNS) {
				close(fd);
			} else if (fd >= 0) {
				conns[i].fd = pfd[i + 1].fd = fd;
				conns[i].hdr_len = 0;
				conns[i].in_body = 0;
			}
		}
		for (i = 0; i < SINK_MAX_CONNS; i++) {
			ssize_t r;

			if (conns[i].fd < 0 || !(pfd[i + 1].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			r = read(conns[i].fd, buf, sizeof(buf));
			if (r > 0 && sink_feed(&conns[i], &st, buf, (size_t)r) == 0)
				continue;
			if (r < 0 && errno == EINTR)
				continue;
			close(conns[i].fd);
			conns[i].fd = pfd[i + 1].fd = -1;
		}
	}
	printf("httpsink: requests %lu bytes %llu spans %lu gzip %lu first %.6f last %.6f\n",
	       st.requests, st.bytes, st.spans, st.gzip, st.first, st.last);
	return 0;
}
