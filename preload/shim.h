/*
 * shim.h - what each interposed libc function does (the exported symbols
 * in interpose.c are one-line forwards to these), and the shim's setup.
 * Every function returns exactly what libc returned, with libc's errno.
 */
#ifndef CLT_SHIM_SHIM_H
#define CLT_SHIM_SHIM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "config.h"

/* Set up (shim.c), once; the settings every part reads afterwards. */
extern atomic_bool shim_ready;
extern struct shim_config shim_cfg;
extern bool shim_secure;
void shim_setup_once(void);

/* Safe at any time, including from another library's constructor. */
static inline void shim_ensure(void)
{
	if (__builtin_expect(!atomic_load_explicit(&shim_ready, memory_order_acquire), 0))
		shim_setup_once();
}

/* Send transactions (tx.c). */
ssize_t shim_send(int fd, const void *buf, size_t len, int flags);
ssize_t shim_sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to,
		    socklen_t tolen);
ssize_t shim_sendmsg(int fd, const struct msghdr *msg, int flags);
int shim_sendmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags);
ssize_t shim_write(int fd, const void *buf, size_t len);
ssize_t shim_writev(int fd, const struct iovec *iov, int iovcnt);
ssize_t shim_sendfile(int out_fd, int in_fd, off_t *offset, size_t count);
ssize_t shim_sendfile64(int out_fd, int in_fd, off64_t *offset, size_t count);
/* Descriptor lifecycle (fdlife.c). */
int shim_connect(int fd, const struct sockaddr *addr, socklen_t len);
int shim_listen(int fd, int backlog);
int shim_close(int fd);
int shim_dup(int fd);
int shim_dup2(int oldfd, int newfd);
int shim_dup3(int oldfd, int newfd, int flags);
/* fcntl's optional argument, read as libc itself reads it (one pointer-sized word). */
int shim_fcntl(int fd, int cmd, void *arg);
int shim_fcntl64(int fd, int cmd, void *arg);
pid_t shim_fork(void);
int shim_socket(int domain, int type, int protocol);
int shim_socketpair(int domain, int type, int protocol, int sv[2]);
int shim_accept(int fd, struct sockaddr *addr, socklen_t *len);
int shim_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
int shim_close_range(unsigned int first, unsigned int last, int flags);
void shim_closefrom(int lowfd);
int shim_fclose(FILE *fp);
/* The reading calls (rx.c): followed on accepted sockets only. */
ssize_t shim_read(int fd, void *buf, size_t len);
ssize_t shim_recv(int fd, void *buf, size_t len, int flags);
ssize_t shim_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *from,
		      socklen_t *fromlen);
ssize_t shim_recvmsg(int fd, struct msghdr *msg, int flags);
ssize_t shim_readv(int fd, const struct iovec *iov, int iovcnt);
ssize_t shim_read_chk(int fd, void *buf, size_t len, size_t buflen);
ssize_t shim_recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags);
ssize_t shim_recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
			  struct sockaddr *from, socklen_t *fromlen);

#endif /* CLT_SHIM_SHIM_H */
