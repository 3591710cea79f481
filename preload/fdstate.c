/*
 * fdstate.c - the per-descriptor table and the tracked sockets' shared
 * state (see fdstate.h for the locking rules). Anonymous mappings:
 * untouched pages cost nothing, so a large RLIMIT_NOFILE is cheap until
 * descriptors that high are actually used.
 *
 * A send finds its socket without the table lock (fdstate_sock_get): it
 * loads the pointer, takes a reference only if the count is not zero,
 * and checks the table still names it. That is safe because a socket's
 * memory is never given back: the last reference puts it on a free list
 * and a later socket reuses it (the count stays zero in between, so a
 * late reader's increment fails; a reader that raced with the reuse sees
 * the table name another socket and lets go).
 */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "client.h"
#include "fdstate.h"
#include "real.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

_Atomic uint8_t *fdstate_class_tab;
unsigned int fdstate_size;
_Atomic unsigned int fdstate_high;
/* Changed under table_lock; read without it by fdstate_sock_get(). */
static _Atomic(struct fd_sock *) *fdstate_obj_tab;
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
/* Released sockets, for reuse (see above); after table_lock, never before it. */
static struct fd_sock *sock_pool;
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
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

/* The guard first: a signal handler that interrupts this thread here then passes through. */
static void table_enter(void)
{
	guard_enter();
	pthread_mutex_lock(&table_lock);
}

static void table_exit(void)
{
	pthread_mutex_unlock(&table_lock);
	guard_exit();
}

void fdstate_sock_lock(struct fd_sock *s)
{
	guard_enter();
	pthread_mutex_lock(&s->lock);
}

void fdstate_sock_unlock(struct fd_sock *s)
{
	pthread_mutex_unlock(&s->lock);
	guard_exit();
}

/* The count comes first: a reused socket is cleared behind it (a late reader may touch it). */
_Static_assert(offsetof(struct fd_sock, refs) == 0, "fd_sock.refs must be its first member");

static struct fd_sock *sock_alloc(void)
{
	struct fd_sock *s;

	guard_enter();
	pthread_mutex_lock(&pool_lock);
	s = sock_pool;
	if (s)
		sock_pool = s->pool_next;
	pthread_mutex_unlock(&pool_lock);
	guard_exit();
	if (!s)
		return calloc(1, sizeof(*s));
	/* Its count is zero and stays so until published below. */
	memset((char *)s + sizeof(s->refs), 0, sizeof(*s) - sizeof(s->refs));
	return s;
}

struct fd_sock *fdstate_sock_new(int fd)
{
	struct fd_sock *s = sock_alloc();
	struct stat st;

	if (!s)
		return NULL;
	pthread_mutex_init(&s->lock, NULL);
	if (fstat(fd, &st) == 0) {
		s->dev = st.st_dev;
		s->ino = st.st_ino;
	}
	/* Before fdstate_attach() publishes it: a late reader's check then fails. */
	atomic_store_explicit(&s->refs, 1, memory_order_release);
	return s;
}

void fdstate_sock_put(struct fd_sock *s)
{
	if (s && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1) {
		client_free(s);
		pthread_mutex_destroy(&s->lock);
		guard_enter();
		pthread_mutex_lock(&pool_lock);
		s->pool_next = sock_pool;
		sock_pool = s;
		pthread_mutex_unlock(&pool_lock);
		guard_exit();
	}
}

/* A reference to @s unless its count already reached zero (released). */
static bool sock_ref(struct fd_sock *s)
{
	unsigned int r = atomic_load_explicit(&s->refs, memory_order_relaxed);

	do {
		if (r == 0)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(&s->refs, &r, r + 1, memory_order_acquire,
							memory_order_relaxed));
	return true;
}

struct fd_sock *fdstate_sock_get(int fd)
{
	struct fd_sock *s;

	/* Lock-free (see the top of this file); a retry only when the descriptor changed. */
	for (;;) {
		if (fdstate_class(fd) != FD_TRACKED)
			return NULL;
		s = atomic_load_explicit(&fdstate_obj_tab[fd], memory_order_acquire);
		if (!s)
			return NULL;
		if (!sock_ref(s))
			continue; /* closed meanwhile: look again */
		if (atomic_load_explicit(&fdstate_obj_tab[fd], memory_order_acquire) == s)
			return s;
		fdstate_sock_put(s); /* reused for another descriptor meanwhile */
	}
}

void fdstate_attach(int fd, struct fd_sock *s)
{
	struct fd_sock *old;

	if ((unsigned int)fd >= fdstate_size) {
		fdstate_sock_put(s);
		return;
	}
	table_enter();
	old = fdstate_obj_tab[fd];
	fdstate_obj_tab[fd] = s;
	fdstate_set_class(fd, FD_TRACKED);
	table_exit();
	fdstate_sock_put(old);
}

void fdstate_detach(int fd, const struct fd_sock *only, enum fd_class to)
{
	struct fd_sock *old = NULL;

	if ((unsigned int)fd >= fdstate_size)
		return;
	table_enter();
	if (!only || fdstate_obj_tab[fd] == only) {
		old = fdstate_obj_tab[fd];
		fdstate_obj_tab[fd] = NULL;
		fdstate_set_class(fd, to);
	}
	table_exit();
	fdstate_sock_put(old);
}

void fdstate_copy(int oldfd, int newfd)
{
	struct fd_sock *old = NULL, *s;

	if ((unsigned int)newfd >= fdstate_size)
		return;
	table_enter();
	old = fdstate_obj_tab[newfd];
	fdstate_obj_tab[newfd] = NULL;
	s = (unsigned int)oldfd < fdstate_size ? fdstate_obj_tab[oldfd] : NULL;
	if (s && fdstate_class(oldfd) == FD_TRACKED) {
		atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
		fdstate_obj_tab[newfd] = s;
		fdstate_set_class(newfd, FD_TRACKED);
	} else {
		enum fd_class c = fdstate_class(oldfd);

		fdstate_set_class(newfd, c == FD_IGNORED ? FD_IGNORED : FD_UNKNOWN);
	}
	table_exit();
	fdstate_sock_put(old);
}

void fdstate_reset_range(unsigned int first, unsigned int last, bool inside)
{
	unsigned int high = atomic_load_explicit(&fdstate_high, memory_order_relaxed), fd;
	bool locked = false;

	if (high == 0 || first >= high)
		return;
	if (last > high - 1)
		last = high - 1;
	for (fd = first; fd <= last; fd++) {
		enum fd_class c = fdstate_class((int)fd);
		struct fd_sock *old;

		if (c == FD_UNKNOWN)
			continue;
		if (c == FD_IGNORED) {
			fdstate_set_class((int)fd, FD_UNKNOWN);
			continue;
		}
		if (inside) {
			fdstate_set_class((int)fd, FD_STALE);
			continue;
		}
		if (!locked) {
			table_enter();
			locked = true;
		}
		old = fdstate_obj_tab[fd];
		fdstate_obj_tab[fd] = NULL;
		fdstate_set_class((int)fd, FD_UNKNOWN);
		/* The count never reaches zero here unless no send holds it: no lock to drop. */
		fdstate_sock_put(old);
	}
	if (locked)
		table_exit();
}

/* Every tracked socket once (dup()s share one), under the table lock. */
static void for_each_sock(void (*fn)(struct fd_sock *s))
{
	unsigned int high = atomic_load_explicit(&fdstate_high, memory_order_relaxed), fd;

	if (!fdstate_obj_tab)
		return;
	for (fd = 0; fd < high && fd < fdstate_size; fd++) {
		struct fd_sock *s = fdstate_obj_tab[fd];

		if (s)
			fn(s);
	}
}

static void sock_fork_lock(struct fd_sock *s)
{
	if (s->fork_held)
		return;
	pthread_mutex_lock(&s->lock);
	s->fork_held = true;
}

static void sock_fork_unlock(struct fd_sock *s)
{
	if (!s->fork_held)
		return;
	s->fork_held = false;
	pthread_mutex_unlock(&s->lock);
}

void fdstate_fork_prepare(void)
{
	table_enter();
	for_each_sock(sock_fork_lock);
	pthread_mutex_lock(&pool_lock);
}

void fdstate_fork_parent(void)
{
	pthread_mutex_unlock(&pool_lock);
	for_each_sock(sock_fork_unlock);
	table_exit();
}

static void sock_fork_child(struct fd_sock *s)
{
	client_fork_child(s);
	sock_fork_unlock(s);
}

void fdstate_fork_child(void)
{
	/* The child's only thread is the one that took every lock: it releases them. The
	 * CLIENT spans in flight are the parent's to end. */
	pthread_mutex_unlock(&pool_lock);
	for_each_sock(sock_fork_child);
	table_exit();
}
