/*
 * fdstate.c - the per-descriptor table (see fdstate.h). Anonymous
 * mappings: untouched pages cost nothing, so a large RLIMIT_NOFILE is
 * cheap until descriptors that high are actually used.
 */
#include <errno.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "fdstate.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

_Atomic uint8_t *fdstate_class_tab;
unsigned int fdstate_size;
_Atomic unsigned int fdstate_high;
static void **fdstate_obj_tab;
static pthread_once_t fdstate_once = PTHREAD_ONCE_INIT;
static int fdstate_err;

static void fdstate_alloc(void)
{
	struct rlimit rl;
	size_t n = 1024;
	void *cls, *obj;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		n = rl.rlim_cur > FDSTATE_MAX ? FDSTATE_MAX : (size_t)rl.rlim_cur;
	else
		n = FDSTATE_MAX;
	if (n < 1024)
		n = 1024;
	cls = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (cls == MAP_FAILED) {
		fdstate_err = -errno;
		return;
	}
	obj = mmap(NULL, n * sizeof(void *), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		   -1, 0);
	if (obj == MAP_FAILED) {
		fdstate_err = -errno;
		munmap(cls, n);
		return;
	}
#if defined(__SANITIZE_ADDRESS__)
	/* LeakSanitizer does not scan anonymous mappings: without this, every
	 * per-socket state this table points to would be reported as leaked. */
	__lsan_register_root_region(obj, n * sizeof(void *));
#endif
	fdstate_class_tab = cls;
	fdstate_obj_tab = obj;
	/* Published last: until then every fd is "beyond the table" and passes through. */
	__atomic_store_n(&fdstate_size, (unsigned int)n, __ATOMIC_RELEASE);
}

int fdstate_init(void)
{
	int saved = errno;

	pthread_once(&fdstate_once, fdstate_alloc);
	errno = saved;
	return fdstate_err;
}

void *fdstate_obj(int fd)
{
	if ((unsigned int)fd >= fdstate_size)
		return NULL;
	return fdstate_obj_tab[fd];
}

void fdstate_set_obj(int fd, void *obj)
{
	if ((unsigned int)fd < fdstate_size)
		fdstate_obj_tab[fd] = obj;
}
