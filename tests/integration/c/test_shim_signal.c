/*
 * test_shim_signal.c - a signal handler that writes on tracked sockets
 * while the interrupted thread is itself inside the shim's tracked path
 * must neither deadlock nor lose or reorder bytes. A child process runs
 * under libcltshim.so: SIGALRM fires every few tens of microseconds
 * (setitimer) and its handler writes a request on another tracked socket,
 * then on the same one, while the main loop writes tagged requests (IDs
 * changing at every request, so the shim calls the kernel each time). The
 * parent kills the child if it has not finished in time: a hang is a
 * failure. Every byte written must arrive.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "integration/c/shim_child.h"

#define TP1 "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n"
#define TP2 "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n"
#define REQ1 "GET /main HTTP/1.1\r\nHost: a\r\n" TP1 "\r\n"
#define REQ2 "POST /main HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n" TP2 "\r\nbody"
#define HREQ "GET /handler HTTP/1.1\r\nHost: h\r\n\r\n"
#define PHASE_NS 700000000L
#define TIMEOUT_S 40

static atomic_int handler_fd = -1;
static atomic_long handler_bytes, handler_calls, handler_short;
static atomic_long received[2];
static int accepted[2];

static void on_alarm(int sig)
{
	int saved = errno, fd = atomic_load(&handler_fd);
	ssize_t n;

	(void)sig;
	if (fd < 0)
		return;
	atomic_fetch_add(&handler_calls, 1);
	n = write(fd, HREQ, sizeof(HREQ) - 1);
	if (n > 0)
		atomic_fetch_add(&handler_bytes, n);
	if (n != (ssize_t)sizeof(HREQ) - 1)
		atomic_fetch_add(&handler_short, 1);
	errno = saved;
}

static void *drainer(void *arg)
{
	struct pollfd p[2] = { { .fd = accepted[0], .events = POLLIN },
			       { .fd = accepted[1], .events = POLLIN } };
	char buf[65536];
	int open_ = 2, i;

	(void)arg;
	while (open_ > 0) {
		if (poll(p, 2, 1000) < 0 && errno != EINTR)
			break;
		for (i = 0; i < 2; i++) {
			ssize_t n;

			if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(p[i].fd, buf, sizeof(buf));
			if (n > 0) {
				atomic_fetch_add(&received[i], n);
			} else if (n == 0 || errno != EINTR) {
				p[i].fd = -1;
				open_--;
			}
		}
	}
	return NULL;
}

/* Write all of @len bytes of @buf (retrying after EINTR and short writes). */
static long write_all(int fd, const char *buf, size_t len, int vectored)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n;

		if (vectored && done == 0) {
			struct iovec iov[3] = {
				{ (void *)buf, 7 }, { (void *)(buf + 7), 20 }, { (void *)(buf + 27), len - 27 }
			};
			n = writev(fd, iov, 3);
		} else {
			n = send(fd, buf + done, len - done, MSG_NOSIGNAL);
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		done += (size_t)n;
	}
	return (long)done;
}

static long elapsed_ns(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000000000L + (t.tv_nsec - t0->tv_nsec);
}

static int child(void)
{
	struct sockaddr_in6 addr = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	struct itimerval it = { { 0, 30 }, { 0, 30 } }, off = { { 0, 0 }, { 0, 0 } };
	struct sigaction sa;
	socklen_t alen = sizeof(addr);
	long sent[2] = { 0, 0 }, calls_before, n;
	pthread_t th;
	sigset_t alrm;
	int l, c[2], phase, i, k;

	l = socket(AF_INET6, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(l, 4) < 0 ||
	    getsockname(l, (struct sockaddr *)&addr, &alen) < 0) {
		printf("SKIP: no IPv6 loopback here\n");
		return 77;
	}
	for (i = 0; i < 2; i++) {
		c[i] = socket(AF_INET6, SOCK_STREAM, 0);
		if (c[i] < 0 || connect(c[i], (struct sockaddr *)&addr, sizeof(addr)) < 0)
			return 1;
		accepted[i] = accept(l, NULL, NULL);
		if (accepted[i] < 0)
			return 1;
	}
	/* Only the main thread takes the signal. */
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &alrm, NULL);
	if (pthread_create(&th, NULL, drainer, NULL) != 0)
		return 1;
	pthread_sigmask(SIG_UNBLOCK, &alrm, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);

	for (phase = 0; phase < 2; phase++) {
		struct timespec t0;

		/* Phase 0: the handler writes on the other socket; phase 1: on the same one. */
		atomic_store(&handler_fd, c[phase == 0 ? 1 : 0]);
		calls_before = atomic_load(&handler_calls);
		setitimer(ITIMER_REAL, &it, NULL);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (k = 0; elapsed_ns(&t0) < PHASE_NS; k++) {
			n = k % 2 ? write_all(c[0], REQ2, sizeof(REQ2) - 1, k % 4 == 1)
				  : write_all(c[0], REQ1, sizeof(REQ1) - 1, k % 4 == 0);
			if (n < 0) {
				printf("FAIL: main write: %s\n", strerror(errno));
				return 1;
			}
			sent[0] += n;
		}
		setitimer(ITIMER_REAL, &off, NULL);
		printf("phase %d (%s socket): %d main requests, %ld handler writes\n", phase,
		       phase == 0 ? "other" : "same", k, atomic_load(&handler_calls) - calls_before);
	}
	atomic_store(&handler_fd, -1);
	shutdown(c[0], SHUT_WR);
	shutdown(c[1], SHUT_WR);
	pthread_join(th, NULL);
	/* The handler's bytes went to socket 1 in phase 0 and socket 0 in phase 1. */
	printf("sent: main %ld, handler %ld (%ld short); received: %ld + %ld\n", sent[0],
	       atomic_load(&handler_bytes), atomic_load(&handler_short), atomic_load(&received[0]),
	       atomic_load(&received[1]));
	if (atomic_load(&received[0]) + atomic_load(&received[1]) !=
	    sent[0] + sent[1] + atomic_load(&handler_bytes)) {
		printf("FAIL: bytes lost or invented\n");
		return 1;
	}
	if (atomic_load(&handler_calls) < 200) {
		printf("FAIL: the timer fired only %ld times: the test proves nothing\n",
		       atomic_load(&handler_calls));
		return 1;
	}
	printf("ok: no deadlock, every byte arrived\n");
	return 0;
}

int main(int argc, char **argv)
{
	char self[PATH_MAX], shim[PATH_MAX], preload[SHIM_PRELOAD_MAX];

	if (argc > 1 && strcmp(argv[1], "--child") == 0)
		return child();
	if (shim_child_paths(self, shim, preload))
		return 1;
	return shim_child_run(self, preload, NULL, TIMEOUT_S);
}
