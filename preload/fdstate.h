/*
 * fdstate.h - per-descriptor state: a flat array indexed by descriptor
 * holding one atomic class byte (unknown / ignored / tracked) and, for
 * tracked descriptors, a pointer to the socket's shared state. The
 * pass-through test is one relaxed atomic load and takes no lock; the
 * pointers are only touched under the shim's lock. Descriptors at or
 * beyond the table size (RLIMIT_NOFILE at start, capped) pass through.
 */
#ifndef CLT_SHIM_FDSTATE_H
#define CLT_SHIM_FDSTATE_H

#include <stdatomic.h>
#include <stdint.h>

#define FDSTATE_MAX (1u << 20) /* table size cap: 1 MiB of class bytes, lazily paged */

enum fd_class {
	FD_UNKNOWN = 0, /* not looked at yet (zeroed memory) */
	FD_IGNORED,     /* not an IPv6 TCP socket in the domain, or given up: pass through */
	FD_TRACKED,     /* an IPv6 TCP socket in the domain: its writes are followed */
	FD_STALE,       /* was tracked, then closed where the lock could not be taken:
			   the object is released and the descriptor looked at again at next use */
};

extern _Atomic uint8_t *fdstate_class_tab;
extern unsigned int fdstate_size;
extern _Atomic unsigned int fdstate_high; /* above every descriptor ever given a class */

/* Allocate the table (once). @return 0 or a negative errno (then every fd passes through). */
int fdstate_init(void);

static inline enum fd_class fdstate_class(int fd)
{
	if ((unsigned int)fd >= fdstate_size)
		return FD_IGNORED;
	return (enum fd_class)atomic_load_explicit(&fdstate_class_tab[fd], memory_order_relaxed);
}

static inline void fdstate_set_class(int fd, enum fd_class c)
{
	unsigned int high;

	if ((unsigned int)fd >= fdstate_size)
		return;
	atomic_store_explicit(&fdstate_class_tab[fd], (uint8_t)c, memory_order_relaxed);
	/* Range operations (close_range) then scan only what was ever used. */
	high = atomic_load_explicit(&fdstate_high, memory_order_relaxed);
	while ((unsigned int)fd >= high &&
	       !atomic_compare_exchange_weak_explicit(&fdstate_high, &high, (unsigned int)fd + 1,
						      memory_order_relaxed, memory_order_relaxed))
		;
}

/* The tracked object of @fd, or NULL. Caller holds the shim lock. */
void *fdstate_obj(int fd);

/* Set @fd's object (NULL to clear). Caller holds the shim lock. */
void fdstate_set_obj(int fd, void *obj);

#endif /* CLT_SHIM_FDSTATE_H */
