/*
 * test_shim_idle.c - the waiting calls under libcltshim.so while spans are
 * queued: the batch leaves during the wait (its own connection, which the
 * test plays the agent on, becomes readable while the call waits) and the
 * application sees exactly its own call - events, fd sets, return value,
 * errno, timeout, signal mask. A child runs under the shim with
 * CLT_TRACING=spans; a SERVER span it serves itself over ::1 queues a
 * record (one made within SPANS_OUT_MAX_AGE_MS of the last send waits for
 * its batch). For each of poll, ppoll, select, pselect, epoll_wait,
 * epoll_pwait, epoll_pwait2:
 *  - waiting on the agent's connection: it becomes readable (the batch was
 *    sent in the call) and that is the call's one event;
 *  - waiting on an idle pipe: 0 after at least the timeout, the batch sent;
 *  - an event during the second wait: only that descriptor reported;
 *  - a signal during the first wait: -1 EINTR;
 *  - (the sigmask variants) a signal blocked in the thread, unblocked by
 *    the call's mask, during the second wait: -1 EINTR.
 * A blocking accept: the batch leaves while it waits, the connection that
 * comes later is accepted. Bounds on time are generous: a timeout must never
 * end early; late only by a loaded machine's margin.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "integration/c/shim_child.h"

#define LATE_MS	  3000 /* a loaded machine's margin */
#define TIMEOUT_S 120

enum kind {
	K_POLL,
	K_PPOLL,
	K_SELECT,
	K_PSELECT,
	K_EPOLL_WAIT,
	K_EPOLL_PWAIT,
	K_EPOLL_PWAIT2,
	K_N
};
static const char *const kind_name[K_N] = {"poll",	 "ppoll",	"select",      "pselect",
					   "epoll_wait", "epoll_pwait", "epoll_pwait2"};
static const int kind_masks[K_N] = {0, 1, 0, 1, 0, 1, 1};

static int fails;
static int lfd = -1, ag_listen = -1, ag_conn = -1;
static struct sockaddr_in6 laddr;
static volatile sig_atomic_t got_signal;

static void check(const char *what, int ok)
{
	printf("%s - %s\n", ok ? "ok  " : "FAIL", what);
	fails += !ok;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_signal(int sig)
{
	(void)sig;
	got_signal = 1;
}

/* One request served by this process: one SERVER span. */
static void make_span(void)
{
	static const char req[] = "GET /idle HTTP/1.1\r\nHost: t\r\n\r\n";
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	char buf[256];
	int c = socket(AF_INET6, SOCK_STREAM, 0), s;

	if (c < 0 || connect(c, (struct sockaddr *)&laddr, sizeof(laddr)) < 0 ||
	    write(c, req, sizeof(req) - 1) < 0 || (s = accept(lfd, NULL, NULL)) < 0) {
		printf("FAIL: serving a request: %s\n", strerror(errno));
		exit(1);
	}
	if (read(s, buf, sizeof(buf)) <= 0 || write(s, resp, sizeof(resp) - 1) < 0 ||
	    read(c, buf, sizeof(buf)) <= 0) {
		printf("FAIL: the request's exchange: %s\n", strerror(errno));
		exit(1);
	}
	close(s);
	close(c);
}

/* Messages the shim sent so far (the agent's side), without waiting. */
static int drain(void)
{
	char buf[65536];
	int n = 0;

	if (ag_conn < 0) {
		struct pollfd p = {.fd = ag_listen, .events = POLLIN};

		if (poll(&p, 1, 0) != 1)
			return 0;
		ag_conn = accept4(ag_listen, NULL, NULL, SOCK_CLOEXEC);
		if (ag_conn < 0)
			return 0;
	}
	while (recv(ag_conn, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		n++;
	return n;
}

/* Queue a record: after a quiet spell the first span leaves at once, the next waits. */
static int queue_one(void)
{
	make_span();
	make_span();
	drain();
	make_span();
	return drain() == 0;
}

/* The call of @k on @fds (POLLIN), @timeout_ms (-1 infinite); ready[i] set per descriptor. */
static int wait_on(enum kind k, const int *fds, int n, int timeout_ms, const sigset_t *mask,
		   int *ready, int *other)
{
	struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000};
	struct timespec *tsp = timeout_ms < 0 ? NULL : &ts;
	int rc, saved, i, maxfd = -1;

	*other = 0;
	for (i = 0; i < n; i++) {
		ready[i] = 0;
		maxfd = fds[i] > maxfd ? fds[i] : maxfd;
	}
	if (k == K_POLL || k == K_PPOLL) {
		struct pollfd p[4];

		for (i = 0; i < n; i++)
			p[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
		rc = k == K_POLL ? poll(p, (nfds_t)n, timeout_ms) : ppoll(p, (nfds_t)n, tsp, mask);
		saved = errno;
		for (i = 0; i < n; i++)
			ready[i] = !!(p[i].revents & POLLIN);
	} else if (k == K_SELECT || k == K_PSELECT) {
		struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
		fd_set r, w;

		FD_ZERO(&r);
		FD_ZERO(&w);
		for (i = 0; i < n; i++)
			FD_SET(fds[i], &r);
		rc = k == K_SELECT ? select(maxfd + 1, &r, &w, NULL, timeout_ms < 0 ? NULL : &tv)
				   : pselect(maxfd + 1, &r, &w, NULL, tsp, mask);
		saved = errno;
		for (int fd = 0; fd <= maxfd; fd++) {
			int ours = -1;

			for (i = 0; i < n; i++)
				if (fds[i] == fd)
					ours = i;
			if (ours >= 0)
				ready[ours] = FD_ISSET(fd, &r);
			else if (FD_ISSET(fd, &r))
				*other = 1;
			if (FD_ISSET(fd, &w))
				*other = 1;
		}
		/* Linux: the time left; never more than asked, 0 after a timeout. */
		if (k == K_SELECT && timeout_ms >= 0 &&
		    (tv.tv_sec * 1000 + tv.tv_usec / 1000 > timeout_ms ||
		     (rc == 0 && (tv.tv_sec || tv.tv_usec))))
			*other = 1;
	} else {
		struct epoll_event ev[4];
		int ep = epoll_create1(EPOLL_CLOEXEC);

		for (i = 0; i < n; i++) {
			struct epoll_event e = {.events = EPOLLIN,
						.data.u64 = 0xc1700000ull + (uint64_t)i};

			epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &e);
		}
		rc = k == K_EPOLL_WAIT	  ? epoll_wait(ep, ev, 4, timeout_ms)
		     : k == K_EPOLL_PWAIT ? epoll_pwait(ep, ev, 4, timeout_ms, mask)
					  : epoll_pwait2(ep, ev, 4, tsp, mask);
		saved = errno;
		for (i = 0; i < rc; i++) {
			uint64_t d = ev[i].data.u64 - 0xc1700000ull;

			if (d < (uint64_t)n && ev[i].events == EPOLLIN)
				ready[d] = 1;
			else
				*other = 1;
		}
		close(ep);
	}
	errno = saved;
	return rc;
}

struct later {
	int delay_ms;
	int fd;		  /* write a byte on it, or */
	pthread_t target; /* signal it (SIGUSR1), or */
	int connect_;	  /* connect to the listener */
};

static void *later_fn(void *arg)
{
	struct later *l = arg;

	usleep((useconds_t)l->delay_ms * 1000);
	if (l->fd >= 0) {
		if (write(l->fd, "x", 1) != 1)
			printf("# write failed\n");
	} else if (l->connect_) {
		int c = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (connect(c, (struct sockaddr *)&laddr, sizeof(laddr)) < 0)
			printf("# connect failed\n");
		usleep(200000);
		close(c);
	} else {
		pthread_kill(l->target, SIGUSR1);
	}
	return NULL;
}

static void one_kind(enum kind k, int pr, int pw, int pr2)
{
	const char *nm = kind_name[k];
	int fds[2], ready[2], other, rc, err;
	int64_t t0, dt;
	char what[256], b;
	sigset_t block, empty;
	struct later l;
	pthread_t th;

	/* 1. The agent's connection becomes readable during the call: the batch left in it. */
	check("a record is queued", queue_one());
	fds[0] = ag_conn;
	fds[1] = pr;
	t0 = now_ms();
	rc = wait_on(k, fds, 2, 10000, NULL, ready, &other);
	dt = now_ms() - t0;
	snprintf(what, sizeof(what),
		 "%s: the batch leaves during the wait, the one event (rc %d, %lld ms)", nm, rc,
		 (long long)dt);
	check(what, rc == 1 && ready[0] && !ready[1] && !other && dt < 10000);
	check("  the agent got it", drain() >= 1);

	/* 2. An idle descriptor: 0 after the whole timeout, the batch sent meanwhile. */
	queue_one();
	t0 = now_ms();
	rc = wait_on(k, &pr, 1, 700, NULL, ready, &other);
	dt = now_ms() - t0;
	snprintf(what, sizeof(what), "%s: an idle wait of 700 ms returns 0 after %lld ms", nm,
		 (long long)dt);
	check(what, rc == 0 && !ready[0] && !other && dt >= 700 && dt < 700 + LATE_MS);
	check("  the batch left during it", drain() >= 1);

	/* 3. An event in the second wait: the application's sets, only that one reported. */
	queue_one();
	l = (struct later){.delay_ms = 500, .fd = pw};
	pthread_create(&th, NULL, later_fn, &l);
	fds[0] = pr2;
	fds[1] = pr;
	t0 = now_ms();
	rc = wait_on(k, fds, 2, 20000, NULL, ready, &other);
	dt = now_ms() - t0;
	pthread_join(th, NULL);
	snprintf(what, sizeof(what),
		 "%s: an event after the batch left: the one reported (rc %d, %lld ms)", nm, rc,
		 (long long)dt);
	check(what, rc == 1 && ready[1] && !ready[0] && !other && dt >= 450);
	if (read(pr, &b, 1) != 1)
		check("  drained the pipe", 0);
	drain();

	/* 4. A signal in the first wait: EINTR as it is. */
	queue_one();
	got_signal = 0;
	l = (struct later){.delay_ms = 30, .fd = -1, .target = pthread_self()};
	pthread_create(&th, NULL, later_fn, &l);
	t0 = now_ms();
	rc = wait_on(k, &pr, 1, 5000, NULL, ready, &other);
	err = errno;
	dt = now_ms() - t0;
	pthread_join(th, NULL);
	snprintf(what, sizeof(what),
		 "%s: a signal in the first wait: -1 EINTR (rc %d, %s, %lld ms)", nm, rc,
		 strerror(err), (long long)dt);
	check(what, rc == -1 && err == EINTR && got_signal && dt < 5000);
	usleep(250000);
	drain();

	if (!kind_masks[k])
		return;
	/* 5. The call's mask on the second wait too: SIGUSR1, blocked in the thread, is let in. */
	queue_one();
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigemptyset(&empty);
	pthread_sigmask(SIG_BLOCK, &block, NULL);
	got_signal = 0;
	l = (struct later){.delay_ms = 500, .fd = -1, .target = pthread_self()};
	pthread_create(&th, NULL, later_fn, &l);
	t0 = now_ms();
	rc = wait_on(k, &pr, 1, 8000, &empty, ready, &other);
	err = errno;
	dt = now_ms() - t0;
	pthread_join(th, NULL);
	pthread_sigmask(SIG_UNBLOCK, &block, NULL);
	snprintf(what, sizeof(what),
		 "%s: its sigmask in the second wait: -1 EINTR (rc %d, %s, %lld ms)", nm, rc,
		 strerror(err), (long long)dt);
	check(what, rc == -1 && err == EINTR && got_signal && dt >= 450 && dt < 8000);
	check("  the batch left before", drain() >= 1);
}

static int child(void)
{
	const char *path = getenv("CLT_AGENT_SOCKET");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct sigaction act = {.sa_handler = on_signal}; /* no SA_RESTART */
	socklen_t len = sizeof(laddr);
	int p[2], p2[2], rc, s;
	int64_t t0, dt;
	char what[160];
	struct later l;
	pthread_t th;

	if (!shim_child_loaded()) {
		printf("FAIL: libcltshim.so is not loaded\n");
		return 1;
	}
	sigaction(SIGUSR1, &act, NULL);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	ag_listen = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	unlink(path);
	if (bind(ag_listen, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(ag_listen, 4) < 0) {
		printf("FAIL: the agent's socket: %s\n", strerror(errno));
		return 1;
	}
	laddr = (struct sockaddr_in6){.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	lfd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&laddr, sizeof(laddr)) < 0 ||
	    listen(lfd, 16) < 0 || getsockname(lfd, (struct sockaddr *)&laddr, &len) < 0) {
		printf("SKIP: no IPv6 loopback: %s\n", strerror(errno));
		return 77;
	}
	if (pipe2(p, O_CLOEXEC) < 0 || pipe2(p2, O_CLOEXEC) < 0)
		return 1;
	make_span();
	usleep(50000);
	if (!drain()) {
		printf(
		    "FAIL: no span reached the test's agent socket (is CLT_TRACING=spans read?)\n");
		return 1;
	}
	for (int k = 0; k < K_N; k++)
		one_kind((enum kind)k, p[0], p[1], p2[0]);

	/* A blocking accept: the batch leaves while it waits, the connection is accepted. */
	queue_one();
	l = (struct later){.delay_ms = 500, .fd = -1, .connect_ = 1};
	pthread_create(&th, NULL, later_fn, &l);
	t0 = now_ms();
	s = accept(lfd, NULL, NULL);
	dt = now_ms() - t0;
	rc = drain();
	pthread_join(th, NULL);
	snprintf(what, sizeof(what),
		 "accept: the later connection accepted (%lld ms), the batch left before",
		 (long long)dt);
	check(what, s >= 0 && dt >= 450 && rc >= 1);
	if (s >= 0)
		close(s);

	/* Nothing queued: a plain wait. */
	usleep(300000);
	drain();
	t0 = now_ms();
	rc = poll(&(struct pollfd){.fd = p[0], .events = POLLIN}, 1, 300);
	dt = now_ms() - t0;
	snprintf(what, sizeof(what), "nothing queued: poll of 300 ms returns 0 after %lld ms",
		 (long long)dt);
	check(what, rc == 0 && dt >= 300 && dt < 300 + LATE_MS);
	return fails ? 1 : 0;
}

int main(int argc, char **argv)
{
	char self[PATH_MAX], shim[PATH_MAX], preload[SHIM_PRELOAD_MAX], sock[64];
	int rc;

	if (argc > 1 && strcmp(argv[1], "--child") == 0)
		return child();
	if (shim_child_paths(self, shim, preload))
		return 1;
	snprintf(sock, sizeof(sock), "/tmp/clt-idle-%d.sock", (int)getpid());
	setenv("CLT_AGENT_SOCKET", sock, 1);
	setenv("CLT_TRACING", "spans", 1);
	setenv("OTEL_SERVICE_NAME", "idle-test", 1);
	rc = shim_child_run(self, preload, "hopopts", TIMEOUT_S);
	unlink(sock);
	return rc;
}
