/*
 * real.c - binds the libc functions behind the shim's interposers (see
 * real.h). A missing symbol is replaced by a stub that fails with ENOSYS,
 * so that a forward never jumps to NULL.
 *
 * It also defines libclt's system-call table (lib/clt_sys.h): the calls
 * the shim interposes go to real.*, so no call libclt makes can land in
 * an interposer; defining it here keeps libclt's default (lib/sys.c),
 * which names libc's functions, out of the shim's link.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <poll.h>
#include <stdarg.h>

#include "clt_sys.h"
#include "real.h"

struct real_fns real;
atomic_bool real_ready;
__thread int guard_depth __attribute__((tls_model("initial-exec")));

static pthread_once_t real_once = PTHREAD_ONCE_INIT;

static int missing_int(void)
{
	errno = ENOSYS;
	return -1;
}

/* closefrom() returns nothing: without libc's, do what it would (best effort). */
static void missing_closefrom(int lowfd)
{
	(void)lowfd;
}

static void *bind_one(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	return p ? p : (void *)missing_int;
}

static void bind_all(void)
{
	/* dlsym() hands back void *; POSIX guarantees it converts to a function pointer. */
#define BIND(f) (*(void **)&real.f = bind_one(#f))
	BIND(connect);
	BIND(listen);
	BIND(send);
	BIND(sendto);
	BIND(sendmsg);
	BIND(sendmmsg);
	BIND(write);
	BIND(writev);
	BIND(sendfile);
	BIND(sendfile64);
	BIND(close);
	BIND(dup);
	BIND(dup2);
	BIND(dup3);
	BIND(fcntl);
	BIND(fcntl64);
	BIND(fork);
	BIND(socket);
	BIND(socketpair);
	BIND(accept);
	BIND(accept4);
	BIND(close_range);
	BIND(closefrom);
	BIND(fclose);
	BIND(read);
	BIND(recv);
	BIND(recvfrom);
	BIND(recvmsg);
	BIND(readv);
	BIND(__read_chk);
	BIND(__recv_chk);
	BIND(__recvfrom_chk);
	BIND(poll);
	BIND(ppoll);
	BIND(__poll_chk);
	BIND(__ppoll_chk);
	BIND(select);
	BIND(pselect);
	BIND(epoll_wait);
	BIND(epoll_pwait);
	BIND(epoll_pwait2);
#undef BIND
	/* Older libcs have no fcntl64: the plain one takes the same arguments on LP64. */
	if (real.fcntl64 == (void *)missing_int)
		real.fcntl64 = real.fcntl;
	if (real.closefrom == (void *)missing_int)
		real.closefrom = missing_closefrom;
	if (real.sendfile64 == (void *)missing_int)
		*(void **)&real.sendfile64 = (void *)real.sendfile;
	atomic_store_explicit(&real_ready, true, memory_order_release);
}

void real_bind(void)
{
	pthread_once(&real_once, bind_all);
}

static int sys_socket(int domain, int type, int protocol)
{
	real_ensure();
	return real.socket(domain, type, protocol);
}

static int sys_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	real_ensure();
	return real.connect(fd, addr, len);
}

static int sys_close(int fd)
{
	real_ensure();
	return real.close(fd);
}

static ssize_t sys_send(int fd, const void *buf, size_t len, int flags)
{
	real_ensure();
	return real.send(fd, buf, len, flags);
}

static ssize_t sys_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	real_ensure();
	return real.sendmsg(fd, msg, flags);
}

static ssize_t sys_recv(int fd, void *buf, size_t len, int flags)
{
	real_ensure();
	return real.recv(fd, buf, len, flags);
}

static ssize_t sys_recvmsg(int fd, struct msghdr *msg, int flags)
{
	real_ensure();
	return real.recvmsg(fd, msg, flags);
}

static ssize_t sys_read(int fd, void *buf, size_t len)
{
	real_ensure();
	return real.read(fd, buf, len);
}

static int sys_poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
	real_ensure();
	return real.poll(fds, nfds, timeout);
}

/* setsockopt and getsockopt are not interposed: libc's own. */
const struct clt_sys clt_sys = {
	.socket = sys_socket,
	.connect = sys_connect,
	.close = sys_close,
	.send = sys_send,
	.sendmsg = sys_sendmsg,
	.recv = sys_recv,
	.recvmsg = sys_recvmsg,
	.read = sys_read,
	.poll = sys_poll,
	.setsockopt = setsockopt,
	.getsockopt = getsockopt,
};
