/*
 * percall.c - the cost of one write(2), with and without the shim.
 *
 *   percall sink PORT          drain every connection to 127.0.0.1:PORT
 *                              and [::1]:PORT until killed
 *   percall run PORT ITERS [CASES]
 *                              time ITERS write() calls of each case (or
 *                              of the comma-separated CASES) and print
 *                              "CASE CPU_NS WALL_NS WALL_MED_NS" lines:
 *                              per call, the median block's thread CPU
 *                              time, the fastest block's wall time and
 *                              the median block's wall time (the figure
 *                              for the agent backend, whose work runs in
 *                              another process while the writer waits)
 *   percall threads PORT NTHREADS MS
 *                              NTHREADS writer threads, each with its own
 *                              IPv6 TCP socket to [::1]:PORT, write whole
 *                              requests with a new traceparent each time
 *                              for MS milliseconds; prints "threads N
 *                              REQUESTS WALL_NS REQ_PER_S"
 *
 * bench/run.sh runs "percall run" pinned to one CPU, alternately with and
 * without LD_PRELOAD=libcltshim.so, against a sink pinned to the same CPU
 * and never preloaded, so that only the writer's side differs.
 *
 * Cases (every write is a whole buffer of about 100 octets):
 *   file       a regular file (rewound every 4096 writes, in both runs)
 *   read_file  read() of about 100 octets from a regular file (rewound)
 *   read_untracked  read() on a quiet non-blocking IPv4 TCP socket (EAGAIN)
 *   untracked  an IPv4 TCP socket: outside CLT_DOMAIN, never tagged
 *   body       a tracked IPv6 TCP socket to ::1, body octets of one
 *              request whose header carried a traceparent
 *   same_ctx   a whole HTTP/1.1 request per write, same traceparent
 *   new_ctx    a whole HTTP/1.1 request per write, a new traceparent each
 *              time (with the hopopts backend: one setsockopt per call)
 * TCP sockets have TCP_NODELAY, as HTTP clients set it: one segment per
 * write, so the kernel's per-packet IOAM work is part of what is timed.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#define PERCALL_MAX_CONNS 64
#define PERCALL_RING 1024 /* distinct requests for new_ctx */
#define PERCALL_BODY_LEN 100
#define PERCALL_REWIND 4096
#define PERCALL_BLOCKS 20
/* Socket buffers larger than everything one case writes (about 12 MB):
 * the receive window never closes, so every write transmits at once, in
 * the writer's context, whatever the sink is doing. Without this, a
 * sink slowed by other load flips the connection into a regime where
 * writes only queue and the other CPU transmits, and the timing becomes
 * bimodal. */
#define PERCALL_SOCKBUF (64 << 20)

static const char percall_hex[] = "0123456789abcdef";

static int percall_parse_ulong(const char *s, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || *out == 0)
		return -EINVAL;
	return 0;
}

/* Large buffers; the FORCE variant (root) ignores net.core.*mem_max. */
static void percall_bufs(int fd, int force_opt, int opt)
{
	int size = PERCALL_SOCKBUF;

	if (setsockopt(fd, SOL_SOCKET, force_opt, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, opt, &size, sizeof(size));
}

/* Listen on one address family; returns the fd or -1. */
static int percall_listen(int family, unsigned short port)
{
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int one = 1;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	percall_bufs(fd, SO_RCVBUFFORCE, SO_RCVBUF);
	if (family == AF_INET6) {
		struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)};

		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		a6.sin6_addr = in6addr_loopback;
		if (bind(fd, (struct sockaddr *)&a6, sizeof(a6)) < 0)
			goto fail;
	} else {
		struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons(port)};

		a4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (bind(fd, (struct sockaddr *)&a4, sizeof(a4)) < 0)
			goto fail;
	}
	if (listen(fd, 64) < 0)
		goto fail;
	return fd;
fail:
	close(fd);
	return -1;
}

/* Accept and drain until killed. run.sh pins the sink to the writer's
 * CPU: the writer's softirq then always delivers to an unlocked socket
 * and does the whole receive path itself, whereas a reader on another
 * CPU holding its socket lock moves that work over there some of the
 * time, and the writer's cost per call becomes bimodal. */
static int percall_sink(unsigned short port)
{
	static char buf[1 << 18];
	struct pollfd pfd[PERCALL_MAX_CONNS + 2];
	nfds_t n = 2, i;

	pfd[0].fd = percall_listen(AF_INET, port);
	pfd[1].fd = percall_listen(AF_INET6, port);
	if (pfd[0].fd < 0 || pfd[1].fd < 0) {
		perror("percall sink: listen");
		return 1;
	}
	pfd[0].events = pfd[1].events = POLLIN;
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		if (poll(pfd, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			perror("percall sink: poll");
			return 1;
		}
		for (i = 0; i < n; i++) {
			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (i < 2) {
				int c = accept4(pfd[i].fd, NULL, NULL, SOCK_NONBLOCK);

				if (c >= 0 && n < PERCALL_MAX_CONNS + 2) {
					pfd[n].fd = c;
					pfd[n].events = POLLIN;
					pfd[n].revents = 0;
					n++;
				} else if (c >= 0) {
					close(c);
				}
				continue;
			}
			ssize_t r = read(pfd[i].fd, buf, sizeof(buf));

			if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
				close(pfd[i].fd);
				pfd[i] = pfd[n - 1];
				n--;
				i--;
			}
		}
	}
}

static int percall_connect(int family, unsigned short port)
{
	int fd = socket(family, SOCK_STREAM, 0);
	int one = 1;
	int rc;

	if (fd < 0)
		return -1;
	percall_bufs(fd, SO_SNDBUFFORCE, SO_SNDBUF);
	percall_bufs(fd, SO_RCVBUFFORCE, SO_RCVBUF); /* window scale is chosen at SYN */
	if (family == AF_INET6) {
		struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)};

		a6.sin6_addr = in6addr_loopback;
		rc = connect(fd, (struct sockaddr *)&a6, sizeof(a6));
	} else {
		struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons(port)};

		a4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		rc = connect(fd, (struct sockaddr *)&a4, sizeof(a4));
	}
	if (rc < 0) {
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* Write the hex of @v (16 digits) at @out. */
static void percall_hex64(char *out, uint64_t v)
{
	int i;

	for (i = 15; i >= 0; i--) {
		out[i] = percall_hex[v & 0xf];
		v >>= 4;
	}
}

/* A GET request whose traceparent is derived from @seq (never all-zero).
 * Returns its length; @cap must hold it. */
static size_t percall_request(char *out, size_t cap, uint64_t seq, const char *extra)
{
	char tp[56];
	int n;

	memcpy(tp, "00-", 3);
	percall_hex64(tp + 3, 0x0af7651916cd43ddULL ^ (seq * 0x9e3779b97f4a7c15ULL));
	percall_hex64(tp + 19, seq + 1);
	tp[35] = '-';
	percall_hex64(tp + 36, 0xb7ad6b7169203331ULL + seq);
	memcpy(tp + 52, "-01", 4);
	n = snprintf(out, cap, "%s /bench HTTP/1.1\r\nHost: [::1]\r\ntraceparent: %s\r\n%s\r\n",
		     extra[0] ? "POST" : "GET", tp, extra);
	if (n < 0 || (size_t)n >= cap)
		return 0;
	return (size_t)n;
}

static uint64_t percall_now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Reading cases: each call is a read() instead (every program pays for the read interposers). */
static int percall_reading;

/* Read up to @len octets once: a regular file's data, or nothing (EAGAIN) from a quiet socket. */
static int percall_read(int fd, size_t len)
{
	static char rbuf[4096];
	ssize_t r = read(fd, rbuf, len < sizeof(rbuf) ? len : sizeof(rbuf));

	if (r < 0 && errno != EAGAIN) {
		fprintf(stderr, "percall: read returned %zd (%s)\n", r, strerror(errno));
		return -1;
	}
	return 0;
}

/* Write @len octets once; the benchmark fails loudly on a short write. */
static int percall_write(int fd, const void *buf, size_t len)
{
	ssize_t w = write(fd, buf, len);

	if (w != (ssize_t)len) {
		fprintf(stderr, "percall: write returned %zd (%s)\n", w, strerror(errno));
		return -1;
	}
	return 0;
}

static void percall_sort(double *v, int n)
{
	int b, c;

	for (b = 1; b < n; b++) /* insertion sort: a few values */
		for (c = b; c > 0 && v[c - 1] > v[c]; c--) {
			double tmp = v[c];

			v[c] = v[c - 1];
			v[c - 1] = tmp;
		}
}

/* Time @iters writes of one buffer (or of the ring, when @ring is set)
 * in PERCALL_BLOCKS blocks after a warm-up, and print the median block's
 * thread CPU time per call and the fastest block's wall time per call.
 * CPU time is what the machine's other load disturbs least: time spent
 * preempted is not counted, while the kernel's work done in the writer's
 * context (system call, TCP, loopback delivery in softirq) is. */
static int percall_time(const char *name, int fd, const char *buf, size_t len,
			char (*ring)[128], const size_t *ring_len, unsigned long iters,
			int rewind)
{
	double cpu_ns[PERCALL_BLOCKS], wall_ns[PERCALL_BLOCKS];
	unsigned long per = iters / PERCALL_BLOCKS + 1, i, k = 0;
	int b;

	for (b = -1; b < PERCALL_BLOCKS; b++) { /* block -1 warms up */
		uint64_t t0 = percall_now_ns(CLOCK_MONOTONIC);
		uint64_t c0 = percall_now_ns(CLOCK_THREAD_CPUTIME_ID);

		for (i = 0; i < per; i++, k++) {
			if (rewind && k % PERCALL_REWIND == 0)
				lseek(fd, 0, SEEK_SET);
			if (percall_reading) {
				if (percall_read(fd, len) < 0)
					return -1;
			} else if (ring) {
				size_t r = k % PERCALL_RING;

				if (percall_write(fd, ring[r], ring_len[r]) < 0)
					return -1;
			} else if (percall_write(fd, buf, len) < 0) {
				return -1;
			}
		}
		if (b >= 0) {
			cpu_ns[b] = (double)(percall_now_ns(CLOCK_THREAD_CPUTIME_ID) - c0) / (double)per;
			wall_ns[b] = (double)(percall_now_ns(CLOCK_MONOTONIC) - t0) / (double)per;
		}
	}
	percall_sort(cpu_ns, PERCALL_BLOCKS);
	percall_sort(wall_ns, PERCALL_BLOCKS);
	printf("%s %.1f %.1f %.1f\n", name, cpu_ns[PERCALL_BLOCKS / 2], wall_ns[0],
	       wall_ns[PERCALL_BLOCKS / 2]);
	fflush(stdout);
	return 0;
}

/* Whether @name is in the comma-separated @cases (NULL: every case). */
static int percall_wanted(const char *cases, const char *name)
{
	size_t n = strlen(name);
	const char *p = cases;

	if (!cases)
		return 1;
	while ((p = strstr(p, name)) != NULL) {
		if ((p == cases || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
			return 1;
		p += n;
	}
	return 0;
}

static int percall_run(unsigned short port, unsigned long iters, const char *cases)
{
	static char ring[PERCALL_RING][128];
	static size_t ring_len[PERCALL_RING];
	char body[PERCALL_BODY_LEN];
	char req[256], tmpl[] = "/tmp/clt-percall-XXXXXX";
	size_t len, k;
	int fd, rc = 1;

	memset(body, 'x', sizeof(body));
	for (k = 0; k < PERCALL_RING; k++) {
		ring_len[k] = percall_request(ring[k], sizeof(ring[k]), k + 1, "");
		if (ring_len[k] == 0)
			return 1;
	}

	fd = -1;
	if (percall_wanted(cases, "file")) {
		fd = mkstemp(tmpl);
		if (fd < 0) {
			perror("percall: mkstemp");
			return 1;
		}
		unlink(tmpl);
		if (percall_time("file", fd, body, sizeof(body), NULL, NULL, iters, 1) < 0)
			goto out;
		close(fd);
		fd = -1;
	}

	if (percall_wanted(cases, "untracked")) {
		fd = percall_connect(AF_INET, port);
		if (fd < 0 ||
		    percall_time("untracked", fd, body, sizeof(body), NULL, NULL, iters, 0) < 0)
			goto out;
		close(fd);
		fd = -1;
	}

	/* read() on a regular file (its data, rewound) and on a quiet untracked socket. */
	if (percall_wanted(cases, "read_file")) {
		char rtmpl[] = "/tmp/clt-percall-XXXXXX";

		fd = mkstemp(rtmpl);
		if (fd < 0 || write(fd, body, sizeof(body)) != (ssize_t)sizeof(body)) {
			perror("percall: mkstemp");
			goto out;
		}
		unlink(rtmpl);
		percall_reading = 1;
		rc = percall_time("read_file", fd, body, sizeof(body), NULL, NULL, iters, 1);
		percall_reading = 0;
		if (rc < 0)
			goto out;
		rc = 1;
		close(fd);
		fd = -1;
	}
	if (percall_wanted(cases, "read_untracked")) {
		fd = percall_connect(AF_INET, port);
		if (fd < 0 || fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
			goto out;
		percall_reading = 1;
		rc = percall_time("read_untracked", fd, body, sizeof(body), NULL, NULL, iters, 0);
		percall_reading = 0;
		if (rc < 0)
			goto out;
		rc = 1;
		close(fd);
		fd = -1;
	}

	/* One request with a huge body: every later write is body octets. */
	if (percall_wanted(cases, "body")) {
		fd = percall_connect(AF_INET6, port);
		len = percall_request(req, sizeof(req), 0, "Content-Length: 999999999999\r\n");
		if (fd < 0 || len == 0 || percall_write(fd, req, len) < 0 ||
		    percall_time("body", fd, body, sizeof(body), NULL, NULL, iters, 0) < 0)
			goto out;
		close(fd);
		fd = -1;
	}

	if (percall_wanted(cases, "same_ctx")) {
		fd = percall_connect(AF_INET6, port);
		if (fd < 0 ||
		    percall_time("same_ctx", fd, ring[0], ring_len[0], NULL, NULL, iters, 0) < 0)
			goto out;
		close(fd);
		fd = -1;
	}

	if (percall_wanted(cases, "new_ctx")) {
		fd = percall_connect(AF_INET6, port);
		if (fd < 0 || percall_time("new_ctx", fd, NULL, 0, ring, ring_len, iters, 0) < 0)
			goto out;
	}
	rc = 0;
out:
	if (rc)
		fprintf(stderr, "percall: failed (%s)\n", strerror(errno));
	if (fd >= 0)
		close(fd);
	return rc;
}

/* --- threads: requests/s of NTHREADS writers, one socket each ---------- */

struct percall_writer {
	pthread_t tid;
	unsigned short port;
	unsigned int index;
	uint64_t deadline_ns;
	unsigned long requests;
	int failed;
};

static atomic_uint percall_ready;
static atomic_int percall_go;

/* Connect first, then wait until every writer is connected, so that the
 * timed interval holds only writes, all threads at once. Each thread's
 * traceparents are its own (a distinct seq range): a new context on
 * every request, never one another thread just used. */
static void *percall_writer_main(void *arg)
{
	struct percall_writer *w = arg;
	char req[128];
	uint64_t seq = ((uint64_t)w->index + 1) << 40;
	int fd = percall_connect(AF_INET6, w->port);

	atomic_fetch_add(&percall_ready, 1);
	if (fd < 0) {
		w->failed = 1;
		return NULL;
	}
	while (!atomic_load(&percall_go))
		sched_yield();
	while (percall_now_ns(CLOCK_MONOTONIC) < w->deadline_ns) {
		for (int i = 0; i < 64; i++) {
			size_t len = percall_request(req, sizeof(req), seq++, "");

			if (len == 0 || percall_write(fd, req, len) < 0) {
				w->failed = 1;
				close(fd);
				return NULL;
			}
			w->requests++;
		}
	}
	close(fd);
	return NULL;
}

static int percall_threads(unsigned short port, unsigned long nthreads, unsigned long ms)
{
	struct percall_writer *w = calloc(nthreads, sizeof(*w));
	unsigned long total = 0, i;
	uint64_t t0, t1;
	int rc = 0;

	if (!w || nthreads > PERCALL_MAX_CONNS)
		return 1;
	for (i = 0; i < nthreads; i++) {
		w[i].port = port;
		w[i].index = (unsigned int)i;
		w[i].deadline_ns = UINT64_MAX;
		if (pthread_create(&w[i].tid, NULL, percall_writer_main, &w[i]) != 0) {
			fprintf(stderr, "percall: pthread_create failed\n");
			exit(1);
		}
	}
	while (atomic_load(&percall_ready) < nthreads)
		usleep(1000);
	t0 = percall_now_ns(CLOCK_MONOTONIC);
	for (i = 0; i < nthreads; i++)
		w[i].deadline_ns = t0 + (uint64_t)ms * 1000000ULL;
	atomic_store(&percall_go, 1);
	for (i = 0; i < nthreads; i++) {
		pthread_join(w[i].tid, NULL);
		total += w[i].requests;
		rc |= w[i].failed;
	}
	t1 = percall_now_ns(CLOCK_MONOTONIC);
	free(w);
	if (rc) {
		fprintf(stderr, "percall: a writer failed\n");
		return 1;
	}
	printf("threads %lu %lu %llu %.0f\n", nthreads, total, (unsigned long long)(t1 - t0),
	       (double)total * 1e9 / (double)(t1 - t0));
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long port, iters, ms;

	if (argc == 3 && strcmp(argv[1], "sink") == 0 &&
	    percall_parse_ulong(argv[2], &port) == 0 && port < 65536)
		return percall_sink((unsigned short)port);
	if ((argc == 4 || argc == 5) && strcmp(argv[1], "run") == 0 &&
	    percall_parse_ulong(argv[2], &port) == 0 && port < 65536 &&
	    percall_parse_ulong(argv[3], &iters) == 0)
		return percall_run((unsigned short)port, iters, argc == 5 ? argv[4] : NULL);
	if (argc == 5 && strcmp(argv[1], "threads") == 0 &&
	    percall_parse_ulong(argv[2], &port) == 0 && port < 65536 &&
	    percall_parse_ulong(argv[3], &iters) == 0 && percall_parse_ulong(argv[4], &ms) == 0)
		return percall_threads((unsigned short)port, iters, ms);
	fprintf(stderr, "usage: percall sink PORT | percall run PORT ITERS [CASES] | "
		"percall threads PORT NTHREADS MS\n");
	return 2;
}
