/*
 * fortify.h - glibc's _FORTIFY_SOURCE entry points the shim interposes:
 * glibc exports them but declares them in no public header.
 */
#ifndef CLT_SHIM_FORTIFY_H
#define CLT_SHIM_FORTIFY_H

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/types.h>

ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen);
ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
		       __SOCKADDR_ARG from, socklen_t *fromlen);
int __poll_chk(struct pollfd *fds, nfds_t nfds, int timeout, size_t fdslen);
int __ppoll_chk(struct pollfd *fds, nfds_t nfds, const struct timespec *tmo, const sigset_t *mask,
		size_t fdslen);

#endif /* CLT_SHIM_FORTIFY_H */
