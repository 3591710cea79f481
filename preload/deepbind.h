/*
 * deepbind.h - libraries loaded with RTLD_DEEPBIND (PHP's extensions,
 * among others) and the libraries that load brings in look symbols up in
 * their own group first, so they bind send/connect/... straight to libc
 * and LD_PRELOAD never sees their calls. After such a load, the objects it
 * added get their relocations for the interposed functions pointed at the
 * shim, as an ordinary load would have bound them; nothing else changes.
 */
#ifndef CLT_SHIM_DEEPBIND_H
#define CLT_SHIM_DEEPBIND_H

#include <link.h>
#include <stddef.h>

/* One symbol to rebind: slots whose binding in the load's scope is @bypass get @replacement. */
struct deepbind_sym {
	const char *name;
	void *replacement;
	void *bypass;
};

/*
 * The exported dlopen's entry stub (interpose.c) calls this with its
 * arguments and jumps to what it returns, with the caller's return address
 * still on the stack: libc's dlopen for every load the shim leaves alone
 * (glibc sees the real caller, whose RUNPATH and $ORIGIN count), or
 * shim_dlopen_deepbind. Never NULL.
 */
void *shim_dlopen_route(const char *file, int mode);

/* dlopen(@file, @mode) with RTLD_DEEPBIND, then the rebinding above. */
void *shim_dlopen_deepbind(const char *file, int mode);

/*
 * Point @obj's GOT entries (JUMP_SLOT, GLOB_DAT, and absolute words) for
 * @syms at their replacement, for each symbol that @handle's lookup scope
 * (the RTLD_DEEPBIND group) binds to its bypass. Full RELRO pages are made
 * writable for the writes and read-only again.
 * @return the number of entries rewritten, or -1 if the object could not be
 * handled (nothing written).
 */
int deepbind_rebind(const struct dl_phdr_info *obj, void *handle, const struct deepbind_sym *syms,
		    size_t nsyms);

#endif /* CLT_SHIM_DEEPBIND_H */
