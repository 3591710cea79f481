/*
 * clt_sys.h - the system calls libclt makes on descriptors, as one table
 * of function pointers (libclt-internal, not installed).
 *
 * libclt's own definition (lib/sys.c) points at libc. A program that
 * interposes these very functions - the LD_PRELOAD shim - links libclt
 * statically and defines clt_sys itself, pointing at the functions it
 * interposes; the linker then never takes lib/sys.o, so no call libclt
 * makes can land in one of the program's own interposers. Third-party
 * code libclt calls (libnl, for the genl backend) still calls libc.
 */
#ifndef CLT_SYS_H
#define CLT_SYS_H

#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>

struct clt_sys {
	int (*socket)(int domain, int type, int protocol);
	int (*connect)(int fd, const struct sockaddr *addr, socklen_t len);
	int (*close)(int fd);
	ssize_t (*send)(int fd, const void *buf, size_t len, int flags);
	ssize_t (*sendmsg)(int fd, const struct msghdr *msg, int flags);
	ssize_t (*recv)(int fd, void *buf, size_t len, int flags);
	ssize_t (*recvmsg)(int fd, struct msghdr *msg, int flags);
	ssize_t (*read)(int fd, void *buf, size_t len);
	int (*poll)(struct pollfd *fds, nfds_t n, int timeout_ms);
	int (*setsockopt)(int fd, int level, int name, const void *val, socklen_t len);
	int (*getsockopt)(int fd, int level, int name, void *val, socklen_t *len);
};

extern const struct clt_sys clt_sys;

#endif /* CLT_SYS_H */
