/*
 * real.c - binds the libc functions behind the shim's interposers (see
 * real.h). A missing symbol is replaced by a stub that fails with ENOSYS,
 * so that a forward never jumps to NULL.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>

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
