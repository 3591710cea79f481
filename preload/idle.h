/*
 * idle.h - the waiting calls a server blocks in when it has nothing to do
 * (epoll_wait, epoll_pwait, epoll_pwait2, poll, ppoll, select, pselect, a
 * blocking accept): the shim starts no thread, so spans queued when a
 * server goes idle would wait for its next request. While records are
 * queued (and only then: otherwise one relaxed load), such a call first
 * waits at most until the batch is due; if nothing came, the batch is sent
 * (spans_out.c, non-blocking) and the call waits out the rest of the
 * application's own timeout. The application sees its own events, return
 * value, errno, timeout and signal mask.
 */
#ifndef CLT_SHIM_IDLE_H
#define CLT_SHIM_IDLE_H

#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <time.h>

int shim_poll(struct pollfd *fds, nfds_t nfds, int timeout);
int shim_ppoll(struct pollfd *fds, nfds_t nfds, const struct timespec *tmo, const sigset_t *mask);
int shim_poll_chk(struct pollfd *fds, nfds_t nfds, int timeout, size_t fdslen);
int shim_ppoll_chk(struct pollfd *fds, nfds_t nfds, const struct timespec *tmo,
		   const sigset_t *mask, size_t fdslen);
int shim_select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv);
int shim_pselect(int n, fd_set *r, fd_set *w, fd_set *e, const struct timespec *tmo,
		 const sigset_t *mask);
int shim_epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout);
int shim_epoll_pwait(int epfd, struct epoll_event *ev, int max, int timeout, const sigset_t *mask);
int shim_epoll_pwait2(int epfd, struct epoll_event *ev, int max, const struct timespec *tmo,
		      const sigset_t *mask);

/*
 * Before a blocking accept() on @fd with records queued: wait for a
 * connection at most until the batch is due, then send it. @return 0 to
 * go on into accept(), -1 with errno EINTR when a signal came that accept()
 * would have returned for.
 */
int idle_before_accept(int fd);

#endif /* CLT_SHIM_IDLE_H */
