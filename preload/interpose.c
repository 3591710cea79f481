/*
 * interpose.c - the only symbols libcltshim.so exports: libc's socket
 * connect/listen, send path, reading calls and descriptor lifecycle (creation, duplication and
 * every way of closing: close, close_range, closefrom, fclose), the waiting calls a server idles
 * in, and the TLS libraries' plaintext sends, each a one-line forward into the shim core
 * (fdlife.c, tx.c, rx.c, idle.c, tls.c). Nothing else
 * belongs here.
 * interposers.h lists them all; add one there too.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "deepbind.h"
#include "fortify.h"
#include "idle.h"
#include "shim.h"
#include "tls.h"

#define EXPORT __attribute__((visibility("default")))

EXPORT int connect(int fd, __CONST_SOCKADDR_ARG addr, socklen_t len)
{
	return shim_connect(fd, addr.__sockaddr__, len);
}

EXPORT int listen(int fd, int backlog)
{
	return shim_listen(fd, backlog);
}

EXPORT ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	return shim_send(fd, buf, len, flags);
}

EXPORT ssize_t sendto(int fd, const void *buf, size_t len, int flags, __CONST_SOCKADDR_ARG to,
		      socklen_t tolen)
{
	return shim_sendto(fd, buf, len, flags, to.__sockaddr__, tolen);
}

EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	return shim_sendmsg(fd, msg, flags);
}

EXPORT int sendmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags)
{
	return shim_sendmmsg(fd, vec, vlen, flags);
}

EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
	return shim_write(fd, buf, len);
}

EXPORT ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
	return shim_writev(fd, iov, iovcnt);
}

EXPORT ssize_t sendfile(int out_fd, int in_fd, off_t *offset, size_t count)
{
	return shim_sendfile(out_fd, in_fd, offset, count);
}

EXPORT ssize_t sendfile64(int out_fd, int in_fd, off64_t *offset, size_t count)
{
	return shim_sendfile64(out_fd, in_fd, offset, count);
}

EXPORT int close(int fd)
{
	return shim_close(fd);
}

EXPORT int dup(int fd)
{
	return shim_dup(fd);
}

EXPORT int dup2(int oldfd, int newfd)
{
	return shim_dup2(oldfd, newfd);
}

EXPORT int dup3(int oldfd, int newfd, int flags)
{
	return shim_dup3(oldfd, newfd, flags);
}

/* Variadic: libc reads the optional argument as one pointer-sized word; so do we. */
EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return shim_fcntl(fd, cmd, arg);
}

EXPORT int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return shim_fcntl64(fd, cmd, arg);
}

EXPORT pid_t fork(void)
{
	return shim_fork();
}

EXPORT int socket(int domain, int type, int protocol)
{
	return shim_socket(domain, type, protocol);
}

EXPORT int socketpair(int domain, int type, int protocol, int sv[2])
{
	return shim_socketpair(domain, type, protocol, sv);
}

EXPORT int accept(int fd, __SOCKADDR_ARG addr, socklen_t *len)
{
	return shim_accept(fd, addr.__sockaddr__, len);
}

EXPORT int accept4(int fd, __SOCKADDR_ARG addr, socklen_t *len, int flags)
{
	return shim_accept4(fd, addr.__sockaddr__, len, flags);
}

EXPORT int close_range(unsigned int first, unsigned int last, int flags)
{
	return shim_close_range(first, last, flags);
}

EXPORT void closefrom(int lowfd)
{
	shim_closefrom(lowfd);
}

EXPORT int fclose(FILE *fp)
{
	return shim_fclose(fp);
}

/* TLS libraries' plaintext sends (tls.c); their types stay opaque (the shim links neither). */
EXPORT int SSL_write(void *ssl, const void *buf, int num)
{
	return shim_ssl_write(ssl, buf, num);
}

EXPORT int SSL_write_ex(void *ssl, const void *buf, size_t num, size_t *written)
{
	return shim_ssl_write_ex(ssl, buf, num, written);
}

EXPORT int SSL_write_ex2(void *ssl, const void *buf, size_t num, uint64_t flags, size_t *written)
{
	return shim_ssl_write_ex2(ssl, buf, num, flags, written);
}

EXPORT ssize_t gnutls_record_send(void *session, const void *data, size_t size)
{
	return shim_gnutls_record_send(session, data, size);
}

EXPORT ssize_t gnutls_record_send2(void *session, const void *data, size_t size, size_t pad,
				   unsigned int flags)
{
	return shim_gnutls_record_send2(session, data, size, pad, flags);
}

/* Their plaintext reads and the end of a session: SERVER spans over TLS (tls.c). */
EXPORT int SSL_read(void *ssl, void *buf, int num)
{
	return shim_ssl_read(ssl, buf, num);
}

EXPORT int SSL_read_ex(void *ssl, void *buf, size_t num, size_t *readbytes)
{
	return shim_ssl_read_ex(ssl, buf, num, readbytes);
}

EXPORT void SSL_free(void *ssl)
{
	shim_ssl_free(ssl);
}

EXPORT ssize_t gnutls_record_recv(void *session, void *data, size_t size)
{
	return shim_gnutls_record_recv(session, data, size);
}

EXPORT ssize_t gnutls_record_recv_seq(void *session, void *data, size_t size, unsigned char *seq)
{
	return shim_gnutls_record_recv_seq(session, data, size, seq);
}

EXPORT void gnutls_deinit(void *session)
{
	shim_gnutls_deinit(session);
}

EXPORT ssize_t read(int fd, void *buf, size_t len)
{
	return shim_read(fd, buf, len);
}

EXPORT ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	return shim_recv(fd, buf, len, flags);
}

EXPORT ssize_t recvfrom(int fd, void *buf, size_t len, int flags, __SOCKADDR_ARG from,
			socklen_t *fromlen)
{
	return shim_recvfrom(fd, buf, len, flags, from.__sockaddr__, fromlen);
}

EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	return shim_recvmsg(fd, msg, flags);
}

EXPORT ssize_t readv(int fd, const struct iovec *iov, int iovcnt)
{
	return shim_readv(fd, iov, iovcnt);
}

/* _FORTIFY_SOURCE builds call these instead (libc's own call to read is not interposable). */
EXPORT ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen)
{
	return shim_read_chk(fd, buf, len, buflen);
}

EXPORT ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
	return shim_recv_chk(fd, buf, len, buflen, flags);
}

EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
			      __SOCKADDR_ARG from, socklen_t *fromlen)
{
	return shim_recvfrom_chk(fd, buf, len, buflen, flags, from.__sockaddr__, fromlen);
}

/* The waiting calls: a queued batch leaves before the thread blocks (idle.c). */
EXPORT int poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
	return shim_poll(fds, nfds, timeout);
}

EXPORT int ppoll(struct pollfd *fds, nfds_t nfds, const struct timespec *tmo, const sigset_t *mask)
{
	return shim_ppoll(fds, nfds, tmo, mask);
}

EXPORT int __poll_chk(struct pollfd *fds, nfds_t nfds, int timeout, size_t fdslen)
{
	return shim_poll_chk(fds, nfds, timeout, fdslen);
}

EXPORT int __ppoll_chk(struct pollfd *fds, nfds_t nfds, const struct timespec *tmo,
		       const sigset_t *mask, size_t fdslen)
{
	return shim_ppoll_chk(fds, nfds, tmo, mask, fdslen);
}

EXPORT int select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv)
{
	return shim_select(n, r, w, e, tv);
}

EXPORT int pselect(int n, fd_set *r, fd_set *w, fd_set *e, const struct timespec *tmo,
		   const sigset_t *mask)
{
	return shim_pselect(n, r, w, e, tmo, mask);
}

EXPORT int epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout)
{
	return shim_epoll_wait(epfd, ev, max, timeout);
}

EXPORT int epoll_pwait(int epfd, struct epoll_event *ev, int max, int timeout, const sigset_t *mask)
{
	return shim_epoll_pwait(epfd, ev, max, timeout, mask);
}

EXPORT int epoll_pwait2(int epfd, struct epoll_event *ev, int max, const struct timespec *tmo,
			const sigset_t *mask)
{
	return shim_epoll_pwait2(epfd, ev, max, tmo, mask);
}

#if defined(__x86_64__)
/*
 * dlopen, in assembly because glibc's dlopen takes its caller from its
 * return address (the caller's RUNPATH and $ORIGIN resolve the name): the
 * stub asks shim_dlopen_route() where the call goes and jumps there with
 * the caller's return address untouched - to libc's dlopen for every load
 * the shim leaves alone, so those behave exactly as without the shim.
 */
__asm__(".text\n"
	".globl dlopen\n"
	".type dlopen, @function\n"
	".p2align 4\n"
	"dlopen:\n"
	".cfi_startproc\n"
	"	endbr64\n"
	"	pushq %rdi\n"
	".cfi_adjust_cfa_offset 8\n"
	"	pushq %rsi\n"
	".cfi_adjust_cfa_offset 8\n"
	"	subq $8, %rsp\n" /* the call below needs a 16-byte aligned stack */
	".cfi_adjust_cfa_offset 8\n"
	"	call shim_dlopen_route\n"
	"	addq $8, %rsp\n"
	".cfi_adjust_cfa_offset -8\n"
	"	popq %rsi\n"
	".cfi_adjust_cfa_offset -8\n"
	"	popq %rdi\n"
	".cfi_adjust_cfa_offset -8\n"
	"	jmp *%rax\n"
	".cfi_endproc\n"
	".size dlopen, .-dlopen\n");
#endif
