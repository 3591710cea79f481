/*
 * real.h - the libc functions the shim interposes, bound once with
 * dlsym(RTLD_NEXT), and the per-thread guard that marks a thread as
 * inside the shim: under one of its locks, inside libclt, or in its own
 * setup. Every interposed call such a thread makes goes straight to libc.
 * The shim's own code and libclt (through lib/clt_sys.h) call real.*
 * directly and never need it; it is for libnl, which calls libc itself,
 * and for signal handlers (below).
 */
#ifndef CLT_SHIM_REAL_H
#define CLT_SHIM_REAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

struct real_fns {
	int (*connect)(int, const struct sockaddr *, socklen_t);
	int (*listen)(int, int);
	ssize_t (*send)(int, const void *, size_t, int);
	ssize_t (*sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
	ssize_t (*sendmsg)(int, const struct msghdr *, int);
	int (*sendmmsg)(int, struct mmsghdr *, unsigned int, int);
	ssize_t (*write)(int, const void *, size_t);
	ssize_t (*writev)(int, const struct iovec *, int);
	ssize_t (*sendfile)(int, int, off_t *, size_t);
	ssize_t (*sendfile64)(int, int, off64_t *, size_t);
	int (*close)(int);
	int (*dup)(int);
	int (*dup2)(int, int);
	int (*dup3)(int, int, int);
	int (*fcntl)(int, int, ...);
	int (*fcntl64)(int, int, ...);
	pid_t (*fork)(void);
	int (*socket)(int, int, int);
	int (*socketpair)(int, int, int, int[2]);
	int (*accept)(int, struct sockaddr *, socklen_t *);
	int (*accept4)(int, struct sockaddr *, socklen_t *, int);
	int (*close_range)(unsigned int, unsigned int, int);
	void (*closefrom)(int);
	int (*fclose)(FILE *);
	ssize_t (*read)(int, void *, size_t);
	ssize_t (*recv)(int, void *, size_t, int);
	ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
	ssize_t (*recvmsg)(int, struct msghdr *, int);
	ssize_t (*readv)(int, const struct iovec *, int);
	ssize_t (*__read_chk)(int, void *, size_t, size_t);
	ssize_t (*__recv_chk)(int, void *, size_t, size_t, int);
	ssize_t (*__recvfrom_chk)(int, void *, size_t, size_t, int, struct sockaddr *, socklen_t *);
	/* The waiting calls (idle.c). */
	int (*poll)(struct pollfd *, nfds_t, int);
	int (*ppoll)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *);
	int (*__poll_chk)(struct pollfd *, nfds_t, int, size_t);
	int (*__ppoll_chk)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *, size_t);
	int (*select)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
	int (*pselect)(int, fd_set *, fd_set *, fd_set *, const struct timespec *, const sigset_t *);
	int (*epoll_wait)(int, struct epoll_event *, int, int);
	int (*epoll_pwait)(int, struct epoll_event *, int, int, const sigset_t *);
	int (*epoll_pwait2)(int, struct epoll_event *, int, const struct timespec *, const sigset_t *);
};

extern struct real_fns real;
extern atomic_bool real_ready;

/* Bind the real functions (once; safe before constructors, from any thread). */
void real_bind(void);

static inline void real_ensure(void)
{
	if (__builtin_expect(!atomic_load_explicit(&real_ready, memory_order_acquire), 0))
		real_bind();
}

extern __thread int guard_depth __attribute__((tls_model("initial-exec")));

static inline bool guard_active(void)
{
	return guard_depth != 0;
}

/*
 * The guard is also what makes the shim safe against signal handlers: a
 * handler that interrupts this thread inside the shim (lock held) and
 * sends on a socket finds the guard set and goes straight to libc instead
 * of waiting for a lock its own thread holds. The fences keep the compiler
 * from moving the guard's update past the locked work.
 */
static inline void guard_enter(void)
{
	guard_depth++;
	atomic_signal_fence(memory_order_seq_cst);
}

static inline void guard_exit(void)
{
	atomic_signal_fence(memory_order_seq_cst);
	guard_depth--;
}

#endif /* CLT_SHIM_REAL_H */
