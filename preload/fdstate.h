/*
 * fdstate.h - per-descriptor state: a flat array indexed by descriptor
 * holding one atomic class byte (unknown / ignored / tracked / stale) and,
 * for tracked descriptors, a reference to the socket's shared state
 * (struct fd_sock, shared by dup()s). Descriptors at or beyond the table
 * size (RLIMIT_NOFILE at start, capped) pass through.
 *
 * Locking: the pass-through test is one acquire load of the class byte
 * and takes no lock; nor does a send's lookup of its socket (a reference
 * taken with one compare-and-swap, fdstate.c says why that is safe). The
 * descriptor-to-socket pointers are changed under the table lock, held
 * only for those few stores (never across a system call or a backend
 * call; only the free list's lock is taken inside it). Each socket has its own lock for
 * its tracker and IDs, held only while a send decides or records (never
 * across a system call or a backend call). Nothing holds a socket lock
 * while taking the table lock.
 *
 * fork(): the prepare handler takes the table lock and every socket's
 * lock (each is held only for a short decision, so this waits for no
 * system call), so the child starts with a consistent table and no lock
 * held by a thread that does not exist there.
 */
#ifndef CLT_SHIM_FDSTATE_H
#define CLT_SHIM_FDSTATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "http.h"

#define FDSTATE_MAX (1u << 20) /* table size cap: 1 MiB of class bytes, lazily paged */

enum fd_class {
	FD_UNKNOWN = 0, /* not looked at yet (zeroed memory) */
	FD_IGNORED,     /* not an IPv6 TCP socket in the domain, or given up: pass through */
	FD_TRACKED,     /* an IPv6 TCP socket in the domain: its writes are followed (with
			   tracing on, any TCP client socket: see fd_sock.untagged) */
	FD_STALE,       /* was tracked, then closed where the table lock could not be
			   taken: the socket is released and the descriptor looked at again
			   at next use */
	FD_ACCEPTED,    /* an accepted TCP socket followed by the server side (rx.c):
			   its reads and writes feed its SERVER spans; never tagged */
};

/* What the kernel holds for a socket's IDs, as far as the shim knows. */
enum fd_applied {
	APPLIED_UNKNOWN = 0, /* inherited, or a change in flight: set again at next need */
	APPLIED_NONE,
	APPLIED_SET,
};

/* A tracked socket. Reference-counted: one per descriptor naming it, one per send in flight. */
struct fd_sock {
	atomic_uint refs;
	dev_t dev; /* identity of the kernel socket (fstat), to notice a */
	ino_t ino; /* descriptor number reused behind the shim's back */
	pthread_mutex_t lock; /* everything below; see fdstate_sock_lock() */
	bool fork_held;       /* locked by the fork prepare handler (under the table lock) */
	uint8_t applied;      /* enum fd_applied */
	uint64_t seq;         /* bumped by every change to @http: a send sees another's */
	struct http_ids applied_ids;
	/*
	 * Owned by a TLS session (its first bytes were a TLS record, or a TLS
	 * library sent plaintext on it): @http follows the plaintext (tls.c)
	 * and the raw path only counts the ciphertext.
	 */
	bool tls;
	/* Outside the domain (IPv4, or an IPv6 destination not in CLT_DOMAIN), followed
	 * only for its CLIENT spans and injection while tracing is on: never tagged.
	 * Set before the socket is attached, never changed. */
	bool untagged;
	_Atomic uint64_t wire_sent; /* tls: ciphertext bytes the kernel took */
	struct client *client; /* its CLIENT span's state (client.c), or NULL */
	uint8_t inj_left;      /* injected bytes still owed (inject.c), the end of @inj */
	char inj[80];
	struct http_tracker http;
	/* Octets the kernel accepted through this socket's tracked sends: the
	 * stream offset of the next one, passed with the IDs it sets (libclt's
	 * bpf backend tags each segment with the request its bytes belong
	 * to). Bytes the shim does not see make it smaller, never larger:
	 * their segments then take the next request's IDs, as with a sticky
	 * option. Atomic: counted after the call, outside the lock. */
	atomic_uint_fast64_t sent;
	struct fd_sock *pool_next; /* released: the free list (fdstate.c) */
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
	return (enum fd_class)atomic_load_explicit(&fdstate_class_tab[fd], memory_order_acquire);
}

static inline void fdstate_set_class(int fd, enum fd_class c)
{
	unsigned int high;

	if ((unsigned int)fd >= fdstate_size)
		return;
	atomic_store_explicit(&fdstate_class_tab[fd], (uint8_t)c, memory_order_release);
	/* Range operations (close_range) then scan only what was ever used. */
	high = atomic_load_explicit(&fdstate_high, memory_order_relaxed);
	while ((unsigned int)fd >= high &&
	       !atomic_compare_exchange_weak_explicit(&fdstate_high, &high, (unsigned int)fd + 1,
						      memory_order_relaxed, memory_order_relaxed))
		;
}

/* A new socket state (one reference, for the descriptor it is attached to), or NULL. */
struct fd_sock *fdstate_sock_new(int fd);

/* @fd's tracked socket with a reference for the caller, or NULL (not tracked). */
struct fd_sock *fdstate_sock_get(int fd);

/* Drop a reference (no lock needed; the last one releases it for reuse). */
void fdstate_sock_put(struct fd_sock *s);

/* A socket's own lock. Inside it the thread counts as inside the shim (real.h's guard). */
void fdstate_sock_lock(struct fd_sock *s);
void fdstate_sock_unlock(struct fd_sock *s);

/* @fd now names @s (whose descriptor reference the table takes over): class tracked. */
void fdstate_attach(int fd, struct fd_sock *s);

/*
 * @fd no longer names a tracked socket: drop its reference, class @to.
 * With @only set, only if @fd still names @only (another thread may have
 * closed and reused the number meanwhile).
 */
void fdstate_detach(int fd, const struct fd_sock *only, enum fd_class to);

/* @newfd now names the same open file as @oldfd: share its socket, or copy its class. */
void fdstate_copy(int oldfd, int newfd);

/* Forget every descriptor in [@first, @last] (closed). With @inside, mark tracked ones stale. */
void fdstate_reset_range(unsigned int first, unsigned int last, bool inside);

/* pthread_atfork handlers (see above). */
void fdstate_fork_prepare(void);
void fdstate_fork_parent(void);
void fdstate_fork_child(void);

#endif /* CLT_SHIM_FDSTATE_H */
