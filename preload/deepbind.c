/*
 * deepbind.c - see deepbind.h.
 *
 * glibc gives an object loaded with RTLD_DEEPBIND, and every dependency
 * newly loaded with it, a lookup scope that starts with the load's own
 * group (the object and its DT_NEEDED closure, libc included) and only
 * then the global scope where LD_PRELOAD sits. Their calls to send() and
 * friends therefore bind to libc. Without touching what glibc resolves for
 * any other symbol, the objects that such a load added get the entries of
 * their relocation tables that name an interposed function, and that the
 * group binds to libc's, rewritten to the address an ordinary load would
 * have bound (the global scope's: the shim's). Where the group defines the
 * function itself, its own definition stays: the program without the shim
 * would call it too.
 *
 * Fail open: anything unexpected leaves the object as glibc bound it.
 */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "deepbind.h"
#include "fortify.h"
#include "interposers.h"
#include "log.h"
#include "tls.h"

#define DEEPBIND_MAX_SYMS 64

typedef void *(*dlopen_fn)(const char *, int);

static dlopen_fn real_dlopen;
static pthread_once_t bind_once = PTHREAD_ONCE_INIT;

/*
 * Each interposer, as the global scope resolves it from here (the shim's
 * own, or whatever precedes it in LD_PRELOAD), and libc's, found once.
 */
/*
 * The TLS interposers are defined in interpose.c, which the unit tests do
 * not link: weak references there (a missing one is never rebound).
 */
#define DEEPBIND_PRAGMA(x) _Pragma(#x)
#define DEEPBIND_WEAK(name) DEEPBIND_PRAGMA(weak name)
CLT_INTERPOSERS_TLS(DEEPBIND_WEAK)

#define DEEPBIND_SHIM_SYM(name) { #name, (void *)&name, NULL },
static struct deepbind_sym shim_syms[] = { CLT_INTERPOSERS(DEEPBIND_SHIM_SYM) };
#define N_SHIM_SYMS (sizeof(shim_syms) / sizeof(shim_syms[0]))
_Static_assert(N_SHIM_SYMS <= DEEPBIND_MAX_SYMS, "raise DEEPBIND_MAX_SYMS");

/*
 * Serializes the rewriting (two loads sharing a new dependency must not
 * both toggle its RELRO pages). Held only where nothing takes the loader's
 * lock (no dlsym, no dlopen): a constructor running inside a load, which
 * holds that lock, may itself load with RTLD_DEEPBIND and wait for this one.
 */
static pthread_mutex_t rebind_lock = PTHREAD_MUTEX_INITIALIZER;

static void *dlopen_unavailable(const char *file, int mode)
{
	(void)file;
	(void)mode;
	return NULL;
}

static void rebind_lock_child(void)
{
	pthread_mutex_init(&rebind_lock, NULL);
}

static void bind_dlopen(void)
{
	void *p = dlsym(RTLD_NEXT, "dlopen");
	bool missing = !p;
	size_t i;

	*(void **)&real_dlopen = p ? p : (void *)dlopen_unavailable;
	/* libc's functions (an older libc may lack a few: those are never rebound). */
	for (i = 0; i < N_SHIM_SYMS; i++) {
		shim_syms[i].bypass = dlsym(RTLD_NEXT, shim_syms[i].name);
		missing |= !shim_syms[i].bypass;
	}
	/* The pending dlerror() would be ours: leave none behind. */
	if (missing)
		(void)dlerror();
	/* A child forked while another thread was inside a load must not inherit the lock held. */
	pthread_atfork(NULL, NULL, rebind_lock_child);
}

/*
 * Bound at start, while the process is normally single-threaded: binding on
 * a first dlopen would call dlsym (the loader's lock) from inside
 * pthread_once, where a constructor of a concurrent load could wait for it.
 */
__attribute__((constructor)) static void deepbind_init(void)
{
	pthread_once(&bind_once, bind_dlopen);
}

void *shim_dlopen_route(const char *file, int mode)
{
	static atomic_flag once_callerpath = ATOMIC_FLAG_INIT;

	pthread_once(&bind_once, bind_dlopen);
	if (!file || !(mode & RTLD_DEEPBIND))
		return (void *)real_dlopen;
	/*
	 * A name without '/' is searched along the caller's RPATH/RUNPATH and
	 * $ORIGIN is the caller's directory: loading it from here would search
	 * from the shim instead. Those loads go to libc untouched.
	 */
	if (!strchr(file, '/') || strchr(file, '$')) {
		slog_once(&once_callerpath, SLOG_INFO,
			  "dlopen(\"%s\", RTLD_DEEPBIND): a name resolved from the caller's search path;"
			  " the libraries such loads bring in are not traced",
			  file);
		return (void *)real_dlopen;
	}
	return (void *)shim_dlopen_deepbind;
}

/* ---- the objects a load added ------------------------------------------ */

struct obj {
	struct dl_phdr_info info;
	const char *soname; /* NULL if none */
	bool in_group;
};

struct objvec {
	struct obj *v;
	size_t n, cap;
	bool failed;
};

static void objvec_push(struct objvec *ov, const struct dl_phdr_info *info)
{
	struct obj *nv;

	if (ov->failed)
		return;
	if (ov->n == ov->cap) {
		size_t cap = ov->cap ? 2 * ov->cap : 64;

		nv = realloc(ov->v, cap * sizeof(*nv));
		if (!nv) {
			ov->failed = true;
			return;
		}
		ov->v = nv;
		ov->cap = cap;
	}
	memset(&ov->v[ov->n], 0, sizeof(ov->v[ov->n]));
	ov->v[ov->n].info = *info;
	ov->n++;
}

static bool objvec_has(const struct objvec *ov, const ElfW(Phdr) *phdr)
{
	size_t i;

	for (i = 0; i < ov->n; i++)
		if (ov->v[i].info.dlpi_phdr == phdr)
			return true;
	return false;
}

static int collect_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	objvec_push(data, info);
	return 0;
}

struct diff_ctx {
	const struct objvec *before;
	struct objvec *added;
};

static int diff_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	struct diff_ctx *c = data;

	(void)size;
	if (!objvec_has(c->before, info->dlpi_phdr))
		objvec_push(c->added, info);
	return 0;
}

/* ---- reading an object's dynamic section -------------------------------- */

struct dynview {
	ElfW(Addr) base;
	const ElfW(Dyn) *dyn;
	uintptr_t lo, hi; /* the mapped range */
	uintptr_t relro_lo, relro_hi;
	const ElfW(Sym) *symtab;
	const char *strtab;
	size_t strsz;
};

/*
 * glibc relocates the address entries of a writable dynamic section in
 * place, not those of a read-only one: take either form.
 */
static uintptr_t dyn_addr(const struct dynview *d, ElfW(Addr) v)
{
	if (v >= d->lo && v < d->hi)
		return v;
	return d->base + v;
}

static bool dynview_init(struct dynview *d, const struct dl_phdr_info *info)
{
	long pagesz = sysconf(_SC_PAGESIZE);
	ElfW(Addr) symtab = 0, strtab = 0;
	const ElfW(Dyn) *e;
	ElfW(Half) i;

	memset(d, 0, sizeof(*d));
	d->base = info->dlpi_addr;
	d->lo = UINTPTR_MAX;
	if (pagesz <= 0)
		pagesz = 4096;
	for (i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t start = d->base + ph->p_vaddr;

		switch (ph->p_type) {
		case PT_DYNAMIC:
			d->dyn = (const ElfW(Dyn) *)start;
			break;
		case PT_LOAD:
			if (start < d->lo)
				d->lo = start;
			if (start + ph->p_memsz > d->hi)
				d->hi = start + ph->p_memsz;
			break;
		case PT_GNU_RELRO:
			/* The pages glibc made read-only: the same rounding as _dl_protect_relro. */
			d->relro_lo = start & ~(uintptr_t)(pagesz - 1);
			d->relro_hi = (start + ph->p_memsz) & ~(uintptr_t)(pagesz - 1);
			break;
		}
	}
	if (!d->dyn || d->lo >= d->hi)
		return false;
	for (e = d->dyn; e->d_tag != DT_NULL; e++) {
		if (e->d_tag == DT_SYMTAB)
			symtab = e->d_un.d_ptr;
		else if (e->d_tag == DT_STRTAB)
			strtab = e->d_un.d_ptr;
		else if (e->d_tag == DT_STRSZ)
			d->strsz = e->d_un.d_val;
	}
	if (!symtab || !strtab || !d->strsz)
		return false;
	d->symtab = (const ElfW(Sym) *)dyn_addr(d, symtab);
	d->strtab = (const char *)dyn_addr(d, strtab);
	return true;
}

static const char *dyn_str(const struct dynview *d, ElfW(Word) off)
{
	return off < d->strsz ? d->strtab + off : NULL;
}

/* Where the load's group binds each symbol: dlsym on the handle searches exactly that scope. */
struct scope_cache {
	void *bound[DEEPBIND_MAX_SYMS];
};

static void scope_lookup(struct scope_cache *sc, void *handle, const struct deepbind_sym *syms,
			 size_t nsyms)
{
	size_t i;

	for (i = 0; i < nsyms; i++) {
		sc->bound[i] = dlsym(handle, syms[i].name);
		/* The load succeeded, so there was no pending error: leave none behind. */
		if (!sc->bound[i])
			(void)dlerror();
	}
}

/* ---- rewriting the relocations ----------------------------------------- */

#if defined(__x86_64__)

/* Is @slot on a page the object maps writable (or in its RELRO range)? */
static bool slot_writable(const struct dl_phdr_info *info, const struct dynview *d, uintptr_t slot,
			  bool *in_relro)
{
	ElfW(Half) i;

	*in_relro = slot >= d->relro_lo && slot + sizeof(void *) <= d->relro_hi;
	if (*in_relro)
		return true;
	for (i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t start = d->base + ph->p_vaddr;

		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_W) && slot >= start &&
		    slot + sizeof(void *) <= start + ph->p_memsz)
			return true;
	}
	return false; /* text relocations: leave them */
}

struct rela_table {
	const ElfW(Rela) *v;
	size_t n;
};

/*
 * The value one relocation should hold through the shim, or 0 if it is
 * not one to rewrite.
 */
static uintptr_t rela_target(const struct dynview *d, const ElfW(Rela) *r,
			     const struct deepbind_sym *syms, size_t nsyms, const struct scope_cache *sc)
{
	unsigned long type = ELF64_R_TYPE(r->r_info), symi = ELF64_R_SYM(r->r_info);
	const char *name;
	size_t i;

	if (symi == 0 || (type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT && type != R_X86_64_64))
		return 0;
	name = dyn_str(d, d->symtab[symi].st_name);
	if (!name)
		return 0;
	for (i = 0; i < nsyms; i++) {
		if (strcmp(name, syms[i].name) != 0)
			continue;
		if (!syms[i].bypass || !syms[i].replacement)
			return 0;
		if (sc->bound[i] != syms[i].bypass)
			return 0; /* the group defines it itself, or it already goes elsewhere */
		return (uintptr_t)syms[i].replacement + (type == R_X86_64_64 ? (uintptr_t)r->r_addend : 0);
	}
	return 0;
}

/* deepbind_rebind() with the scope's bindings looked up: takes no lock of the loader's. */
static int rebind_object(const struct dl_phdr_info *obj, const struct deepbind_sym *syms,
			 size_t nsyms, const struct scope_cache *sc)
{
	static atomic_flag once_mprotect = ATOMIC_FLAG_INIT;
	struct rela_table tabs[2] = { { NULL, 0 }, { NULL, 0 } };
	struct dynview d;
	ElfW(Addr) rela = 0, jmprel = 0;
	size_t relasz = 0, pltrelsz = 0, t, k;
	long pltrel = DT_RELA;
	const ElfW(Dyn) *e;
	bool need_relro = false, unprotected = false;
	int pass, written = 0;

	if (!dynview_init(&d, obj))
		return -1;
	for (e = d.dyn; e->d_tag != DT_NULL; e++) {
		switch (e->d_tag) {
		case DT_RELA:
			rela = e->d_un.d_ptr;
			break;
		case DT_RELASZ:
			relasz = e->d_un.d_val;
			break;
		case DT_JMPREL:
			jmprel = e->d_un.d_ptr;
			break;
		case DT_PLTRELSZ:
			pltrelsz = e->d_un.d_val;
			break;
		case DT_PLTREL:
			pltrel = (long)e->d_un.d_val;
			break;
		}
	}
	if (rela && relasz)
		tabs[0] = (struct rela_table){ (const ElfW(Rela) *)dyn_addr(&d, rela),
					       relasz / sizeof(ElfW(Rela)) };
	if (jmprel && pltrelsz && pltrel == DT_RELA)
		tabs[1] = (struct rela_table){ (const ElfW(Rela) *)dyn_addr(&d, jmprel),
					       pltrelsz / sizeof(ElfW(Rela)) };

	/* Pass 0 finds what to write and whether RELRO pages are among it; pass 1 writes. */
	for (pass = 0; pass < 2; pass++) {
		if (pass == 1) {
			if (written == 0)
				break;
			if (need_relro) {
				if (mprotect((void *)d.relro_lo, d.relro_hi - d.relro_lo,
					     PROT_READ | PROT_WRITE) != 0) {
					/* Not slog_once: its backtrace may take the loader's lock. */
					if (!atomic_flag_test_and_set(&once_mprotect))
						slog(SLOG_INFO,
						     "deepbind: %s: cannot make its RELRO pages writable (%s);"
						     " its calls are not traced (said once)",
						     obj->dlpi_name, strerror(errno));
					written = -1;
					break;
				}
				unprotected = true;
			}
			written = 0;
		}
		for (t = 0; t < 2; t++) {
			for (k = 0; k < tabs[t].n; k++) {
				const ElfW(Rela) *r = &tabs[t].v[k];
				uintptr_t slot = d.base + r->r_offset, val;
				bool in_relro;

				val = rela_target(&d, r, syms, nsyms, sc);
				if (!val || (slot & (sizeof(void *) - 1)) || !slot_writable(obj, &d, slot, &in_relro))
					continue;
				need_relro |= in_relro;
				if (pass == 1)
					__atomic_store_n((uintptr_t *)slot, val, __ATOMIC_RELAXED);
				written++;
			}
		}
	}
	if (unprotected && mprotect((void *)d.relro_lo, d.relro_hi - d.relro_lo, PROT_READ) != 0)
		slog(SLOG_INFO, "deepbind: %s: cannot make its RELRO pages read-only again (%s)",
		     obj->dlpi_name, strerror(errno));
	return written;
}

#else /* !__x86_64__ */

static int rebind_object(const struct dl_phdr_info *obj, const struct deepbind_sym *syms,
			 size_t nsyms, const struct scope_cache *sc)
{
	(void)obj;
	(void)syms;
	(void)nsyms;
	(void)sc;
	return -1;
}

#endif

int deepbind_rebind(const struct dl_phdr_info *obj, void *handle, const struct deepbind_sym *syms,
		    size_t nsyms)
{
	struct scope_cache *sc;
	int n;

	if (nsyms > DEEPBIND_MAX_SYMS)
		return -1;
	sc = calloc(1, sizeof(*sc));
	if (!sc)
		return -1;
	scope_lookup(sc, handle, syms, nsyms);
	n = rebind_object(obj, syms, nsyms, sc);
	free(sc);
	return n;
}

/* ---- the load's group ---------------------------------------------------- */

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* The new object a DT_NEEDED entry names, as glibc matches it (soname, else file name). */
static struct obj *find_needed(struct objvec *added, const char *needed)
{
	size_t i;

	for (i = 0; i < added->n; i++) {
		struct obj *o = &added->v[i];

		if ((o->soname && strcmp(o->soname, needed) == 0) ||
		    strcmp(o->info.dlpi_name, needed) == 0 ||
		    (!strchr(needed, '/') && strcmp(base_name(o->info.dlpi_name), needed) == 0))
			return o;
	}
	return NULL;
}

/*
 * Mark the objects of @added that belong to the load of @root: the root and
 * its DT_NEEDED closure among the new objects. Objects another thread was
 * loading at the same time are left out (they may be mid-relocation).
 */
static void mark_group(struct objvec *added, const struct link_map *root)
{
	bool grew = true;
	size_t i;

	for (i = 0; i < added->n; i++) {
		struct obj *o = &added->v[i];
		struct dynview d;
		const ElfW(Dyn) *e;

		o->soname = NULL;
		if (!dynview_init(&d, &o->info))
			continue;
		if ((const ElfW(Dyn) *)root->l_ld == d.dyn)
			o->in_group = true;
		for (e = d.dyn; e->d_tag != DT_NULL; e++)
			if (e->d_tag == DT_SONAME)
				o->soname = dyn_str(&d, (ElfW(Word))e->d_un.d_val);
	}
	while (grew) {
		grew = false;
		for (i = 0; i < added->n; i++) {
			struct obj *o = &added->v[i];
			struct dynview d;
			const ElfW(Dyn) *e;

			if (!o->in_group || !dynview_init(&d, &o->info))
				continue;
			for (e = d.dyn; e->d_tag != DT_NULL; e++) {
				const char *needed;
				struct obj *dep;

				if (e->d_tag != DT_NEEDED)
					continue;
				needed = dyn_str(&d, (ElfW(Word))e->d_un.d_val);
				dep = needed ? find_needed(added, needed) : NULL;
				if (dep && !dep->in_group) {
					dep->in_group = true;
					grew = true;
				}
			}
		}
	}
}

static void rebind_group(void *handle, const struct objvec *before)
{
	struct objvec added = { 0 };
	struct diff_ctx c = { before, &added };
	struct link_map *root = NULL;
	struct scope_cache *sc;
	size_t i;

	if (dlinfo(handle, RTLD_DI_LINKMAP, &root) != 0 || !root) {
		(void)dlerror();
		return;
	}
	sc = calloc(1, sizeof(*sc));
	if (!sc) {
		slog(SLOG_INFO, "deepbind: out of memory: the libraries %s loads are not traced",
		     root->l_name);
		return;
	}
	scope_lookup(sc, handle, shim_syms, N_SHIM_SYMS);
	pthread_mutex_lock(&rebind_lock);
	dl_iterate_phdr(diff_cb, &c);
	if (added.failed) {
		slog(SLOG_INFO, "deepbind: out of memory: the libraries %s loads are not traced",
		     root->l_name);
		goto out;
	}
	/* Outside dl_iterate_phdr's callback: mprotect and logging do not belong under its lock. */
	mark_group(&added, root);
	for (i = 0; i < added.n; i++) {
		const struct obj *o = &added.v[i];
		int n;

		if (!o->in_group)
			continue;
		n = rebind_object(&o->info, shim_syms, N_SHIM_SYMS, sc);
		if (n > 0)
			slog(SLOG_DEBUG, "deepbind: %s: %d call sites of interposed functions now reach the shim",
			     o->info.dlpi_name, n);
	}
out:
	pthread_mutex_unlock(&rebind_lock);
	free(added.v);
	free(sc);
}

void *shim_dlopen_deepbind(const char *file, int mode)
{
	struct objvec before = { 0 };
	void *handle;
	int saved_errno;

	pthread_once(&bind_once, bind_dlopen);
	dl_iterate_phdr(collect_cb, &before);
	handle = real_dlopen(file, mode);
	saved_errno = errno;
	if (handle && !before.failed)
		rebind_group(handle, &before);
	else if (handle)
		slog(SLOG_INFO, "deepbind: out of memory: the libraries %s loads are not traced", file);
	free(before.v);
	errno = saved_errno;
	return handle;
}
