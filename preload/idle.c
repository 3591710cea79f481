/*
 * idle.c - flush queued spans before a thread blocks (see idle.h).
 *
 * A call is split in two only when records are queued, the batch is not
 * yet due and the application's timeout (infinite included) ends after it
 * is due: the first wait lasts until the batch is due; if it returns
 * anything but "nothing happened" (events, an error, EINTR) that is what
 * the application gets. Otherwise the batch is sent and the second wait
 * takes what is left of the application's timeout, measured on
 * CLOCK_MONOTONIC from before the first wait (rounded up, so the call never
 * ends early; infinite stays infinite), with the same arguments and the
 * same signal mask. A batch already due is sent and the call made as
 * asked. Nothing is held across a wait. Inside the shim (the guard) every
 * call goes straight to libc. The test each call starts with is all an
 * interposer holds; the split is a function of its own (noinline), so that
 * the common case sets up no frame.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "idle.h"
#include "real.h"
#include "spans_out.h"

#define NS_PER_MS 1000000LL
#define NS_PER_S  1000000000LL

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

/* Split the wait? Only with records queued and outside the shim: the fast test. */
static inline bool want_split(void)
{
	real_ensure();
	return __builtin_expect(spans_out_pending(), 0) && !guard_active();
}

/*
 * The first wait for an application's timeout of @app_ns (-1: infinite):
 * its length in ns, or -1 not to split (a batch already due is sent first).
 */
static int64_t first_wait_ns(int64_t app_ns)
{
	int64_t due = spans_out_due_in_ms();

	if (due < 0)
		return -1;
	if (due == 0) {
		spans_out_send();
		return -1;
	}
	if (app_ns >= 0 && app_ns <= due * NS_PER_MS)
		return -1; /* the call ends before the batch is due: a later one sends it */
	return due * NS_PER_MS;
}

/* What is left of @app_ns (-1: infinite) since @t0, never below 0. */
static int64_t rest_ns(int64_t app_ns, int64_t t0)
{
	int64_t left;

	if (app_ns < 0)
		return -1;
	left = app_ns - (now_ns() - t0);
	return left > 0 ? left : 0;
}

static int ns_to_ms(int64_t ns)
{
	if (ns < 0)
		return -1;
	ns = (ns + NS_PER_MS - 1) / NS_PER_MS;
	return ns > INT32_MAX ? INT32_MAX : (int)ns;
}

static struct timespec ns_to_ts(int64_t ns)
{
	return (struct timespec){.tv_sec = ns / NS_PER_S, .tv_nsec = ns % NS_PER_S};
}

/* A timespec's length in ns, -1 for NULL (infinite), -2 for one the kernel refuses or that is too
 * long to count. */
static int64_t ts_ns(const struct timespec *ts)
{
	if (!ts)
		return -1;
	if (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= NS_PER_S ||
	    ts->tv_sec > INT64_MAX / NS_PER_S - 1)
		return -2;
	return (int64_t)ts->tv_sec * NS_PER_S + ts->tv_nsec;
}

/* ---- poll, ppoll --------------------------------------------------------- */

static __attribute__((noinline)) int poll_split(struct pollfd *fds, nfds_t nfds, int timeout)
{
	int64_t app = timeout < 0 ? -1 : (int64_t)timeout * NS_PER_MS, first, t0;
	int rc;

	first = first_wait_ns(app);
	if (first < 0)
		return real.poll(fds, nfds, timeout);
	t0 = now_ns();
	rc = real.poll(fds, nfds, ns_to_ms(first));
	if (rc != 0)
		return rc;
	spans_out_send();
	return real.poll(fds, nfds, ns_to_ms(rest_ns(app, t0)));
}

int shim_poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
	if (!want_split())
		return real.poll(fds, nfds, timeout);
	return poll_split(fds, nfds, timeout);
}

static __attribute__((noinline)) int ppoll_split(struct pollfd *fds, nfds_t nfds,
						 const struct timespec *tmo, const sigset_t *mask)
{
	int64_t app = ts_ns(tmo), first, t0;
	struct timespec ts;
	int rc;

	first = app < -1 ? -1 : first_wait_ns(app);
	if (first < 0)
		return real.ppoll(fds, nfds, tmo, mask);
	t0 = now_ns();
	ts = ns_to_ts(first);
	rc = real.ppoll(fds, nfds, &ts, mask);
	if (rc != 0)
		return rc;
	spans_out_send();
	if (app < 0)
		return real.ppoll(fds, nfds, NULL, mask);
	ts = ns_to_ts(rest_ns(app, t0));
	return real.ppoll(fds, nfds, &ts, mask);
}

int shim_ppoll(struct pollfd *fds, nfds_t nfds, const struct timespec *tmo, const sigset_t *mask)
{
	if (!want_split())
		return real.ppoll(fds, nfds, tmo, mask);
	return ppoll_split(fds, nfds, tmo, mask);
}

/* _FORTIFY_SOURCE: an array shorter than @nfds goes to libc's check, which aborts. */
int shim_poll_chk(struct pollfd *fds, nfds_t nfds, int timeout, size_t fdslen)
{
	if (!want_split() || fdslen / sizeof(*fds) < nfds)
		return real.__poll_chk(fds, nfds, timeout, fdslen);
	return poll_split(fds, nfds, timeout);
}

int shim_ppoll_chk(struct pollfd *fds, nfds_t nfds, const struct timespec *tmo,
		   const sigset_t *mask, size_t fdslen)
{
	if (!want_split() || fdslen / sizeof(*fds) < nfds)
		return real.__ppoll_chk(fds, nfds, tmo, mask, fdslen);
	return ppoll_split(fds, nfds, tmo, mask);
}

/* ---- select, pselect ----------------------------------------------------- */

/* The kernel rewrites the sets on return: the second wait gets the application's own back. */
struct fd_sets {
	fd_set r, w, e;
};

static void sets_keep(struct fd_sets *k, const fd_set *r, const fd_set *w, const fd_set *e)
{
	if (r)
		k->r = *r;
	if (w)
		k->w = *w;
	if (e)
		k->e = *e;
}

static void sets_restore(const struct fd_sets *k, fd_set *r, fd_set *w, fd_set *e)
{
	if (r)
		*r = k->r;
	if (w)
		*w = k->w;
	if (e)
		*e = k->e;
}

static __attribute__((noinline)) int select_split(int n, fd_set *r, fd_set *w, fd_set *e,
						  struct timeval *tv)
{
	int64_t app, first, t0, left;
	struct fd_sets keep;
	struct timeval t;
	int rc, saved;

	/* Sets wider than an fd_set (allocated by the application) are not copied: no split. */
	if (n < 0 || n > FD_SETSIZE ||
	    (tv && (tv->tv_sec < 0 || tv->tv_usec < 0 || tv->tv_usec >= 1000000 ||
		    tv->tv_sec > INT64_MAX / NS_PER_S - 1)))
		return real.select(n, r, w, e, tv);
	app = tv ? (int64_t)tv->tv_sec * NS_PER_S + (int64_t)tv->tv_usec * 1000 : -1;
	first = first_wait_ns(app);
	if (first < 0)
		return real.select(n, r, w, e, tv);
	sets_keep(&keep, r, w, e);
	t0 = now_ns();
	t = (struct timeval){.tv_sec = first / NS_PER_S,
			     .tv_usec = (first % NS_PER_S + 999) / 1000};
	rc = real.select(n, r, w, e, &t);
	if (rc != 0) {
		/* Linux tells the time left in *tv: of the application's timeout. */
		if (tv) {
			saved = errno;
			left = rest_ns(app, t0);
			*tv = (struct timeval){.tv_sec = left / NS_PER_S,
					       .tv_usec = left % NS_PER_S / 1000};
			errno = saved;
		}
		return rc;
	}
	spans_out_send();
	sets_restore(&keep, r, w, e);
	if (!tv)
		return real.select(n, r, w, e, NULL);
	left = rest_ns(app, t0);
	*tv =
	    (struct timeval){.tv_sec = left / NS_PER_S, .tv_usec = (left % NS_PER_S + 999) / 1000};
	if (tv->tv_usec >= 1000000)
		*tv = (struct timeval){.tv_sec = tv->tv_sec + 1, .tv_usec = 0};
	return real.select(n, r, w, e, tv);
}

int shim_select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv)
{
	if (!want_split())
		return real.select(n, r, w, e, tv);
	return select_split(n, r, w, e, tv);
}

static __attribute__((noinline)) int pselect_split(int n, fd_set *r, fd_set *w, fd_set *e,
						   const struct timespec *tmo, const sigset_t *mask)
{
	int64_t app, first, t0;
	struct fd_sets keep;
	struct timespec ts;
	int rc;

	app = ts_ns(tmo);
	first = n < 0 || n > FD_SETSIZE || app < -1 ? -1 : first_wait_ns(app);
	if (first < 0)
		return real.pselect(n, r, w, e, tmo, mask);
	sets_keep(&keep, r, w, e);
	t0 = now_ns();
	ts = ns_to_ts(first);
	rc = real.pselect(n, r, w, e, &ts, mask);
	if (rc != 0)
		return rc;
	spans_out_send();
	sets_restore(&keep, r, w, e);
	if (app < 0)
		return real.pselect(n, r, w, e, NULL, mask);
	ts = ns_to_ts(rest_ns(app, t0));
	return real.pselect(n, r, w, e, &ts, mask);
}

int shim_pselect(int n, fd_set *r, fd_set *w, fd_set *e, const struct timespec *tmo,
		 const sigset_t *mask)
{
	if (!want_split())
		return real.pselect(n, r, w, e, tmo, mask);
	return pselect_split(n, r, w, e, tmo, mask);
}

/* ---- epoll_wait, epoll_pwait, epoll_pwait2 ------------------------------- */

static __attribute__((noinline)) int epoll_wait_split(int epfd, struct epoll_event *ev, int max,
						      int timeout)
{
	int64_t app, first, t0;
	int rc;

	app = timeout < 0 ? -1 : (int64_t)timeout * NS_PER_MS;
	first = first_wait_ns(app);
	if (first < 0)
		return real.epoll_wait(epfd, ev, max, timeout);
	t0 = now_ns();
	rc = real.epoll_wait(epfd, ev, max, ns_to_ms(first));
	if (rc != 0)
		return rc;
	spans_out_send();
	return real.epoll_wait(epfd, ev, max, ns_to_ms(rest_ns(app, t0)));
}

int shim_epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout)
{
	if (!want_split())
		return real.epoll_wait(epfd, ev, max, timeout);
	return epoll_wait_split(epfd, ev, max, timeout);
}

static __attribute__((noinline)) int epoll_pwait_split(int epfd, struct epoll_event *ev, int max,
						       int timeout, const sigset_t *mask)
{
	int64_t app, first, t0;
	int rc;

	app = timeout < 0 ? -1 : (int64_t)timeout * NS_PER_MS;
	first = first_wait_ns(app);
	if (first < 0)
		return real.epoll_pwait(epfd, ev, max, timeout, mask);
	t0 = now_ns();
	rc = real.epoll_pwait(epfd, ev, max, ns_to_ms(first), mask);
	if (rc != 0)
		return rc;
	spans_out_send();
	return real.epoll_pwait(epfd, ev, max, ns_to_ms(rest_ns(app, t0)), mask);
}

int shim_epoll_pwait(int epfd, struct epoll_event *ev, int max, int timeout, const sigset_t *mask)
{
	if (!want_split())
		return real.epoll_pwait(epfd, ev, max, timeout, mask);
	return epoll_pwait_split(epfd, ev, max, timeout, mask);
}

static __attribute__((noinline)) int epoll_pwait2_split(int epfd, struct epoll_event *ev, int max,
							const struct timespec *tmo,
							const sigset_t *mask)
{
	int64_t app, first, t0;
	struct timespec ts;
	int rc;

	app = ts_ns(tmo);
	first = app < -1 ? -1 : first_wait_ns(app);
	if (first < 0)
		return real.epoll_pwait2(epfd, ev, max, tmo, mask);
	t0 = now_ns();
	ts = ns_to_ts(first);
	rc = real.epoll_pwait2(epfd, ev, max, &ts, mask);
	if (rc != 0)
		return rc;
	spans_out_send();
	if (app < 0)
		return real.epoll_pwait2(epfd, ev, max, NULL, mask);
	ts = ns_to_ts(rest_ns(app, t0));
	return real.epoll_pwait2(epfd, ev, max, &ts, mask);
}

int shim_epoll_pwait2(int epfd, struct epoll_event *ev, int max, const struct timespec *tmo,
		      const sigset_t *mask)
{
	if (!want_split())
		return real.epoll_pwait2(epfd, ev, max, tmo, mask);
	return epoll_pwait2_split(epfd, ev, max, tmo, mask);
}

/* ---- accept -------------------------------------------------------------- */

/*
 * poll() is never restarted after a signal handler; accept() is, when the
 * handler was installed with SA_RESTART. A signal during the first wait
 * returns EINTR only when some handler lacks SA_RESTART (which one fired
 * is unknown: the common cases, all of them or none, are exact).
 */
static bool handlers_restart(void)
{
	struct sigaction sa;

	for (int sig = 1; sig < NSIG; sig++) {
		if (sigaction(sig, NULL, &sa) < 0)
			continue;
		if (!(sa.sa_flags & SA_SIGINFO) &&
		    (sa.sa_handler == SIG_DFL || sa.sa_handler == SIG_IGN))
			continue;
		if (!(sa.sa_flags & SA_RESTART))
			return false;
	}
	return true;
}

int idle_before_accept(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	struct timeval rcv = {0};
	socklen_t len = sizeof(rcv);
	int64_t first;
	int saved = errno, fl, rc;

	if (!want_split())
		return 0;
	first = first_wait_ns(-1);
	if (first < 0)
		return 0;
	/* Only a blocking accept with no SO_RCVTIMEO of its own (the wait would outlast it). */
	fl = real.fcntl(fd, F_GETFL);
	if (fl < 0 || (fl & O_NONBLOCK) ||
	    getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &rcv, &len) < 0 || rcv.tv_sec || rcv.tv_usec) {
		errno = saved;
		return 0;
	}
	rc = real.poll(&p, 1, ns_to_ms(first));
	if (rc == 0) {
		spans_out_send();
	} else if (rc < 0 && errno == EINTR && !handlers_restart()) {
		errno = EINTR;
		return -1;
	}
	errno = saved;
	return 0;
}
