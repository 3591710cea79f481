/*
 * shim.c - the shim's setup, once per process and safe at any time
 * (including from another library's constructor): bind libc, read the
 * configuration, allocate the descriptor table, register the fork
 * handlers. The work itself is in fdlife.c (descriptor lifecycle), tx.c
 * (send transactions) and tagger.c (IDs through libclt).
 *
 * fork(): libclt owns its backend's state across fork (include/clt/clt.h:
 * a context keeps working in a child); the shim only keeps its own locks
 * consistent - the descriptor table's and each socket's (fdstate.c), and
 * the tagger's opening lock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/auxv.h>

#include "config.h"
#include "fdstate.h"
#include "log.h"
#include "real.h"
#include "rx.h"
#include "spans_out.h"
#include "shim.h"
#include "tagger.h"
#include "tls.h"

atomic_bool shim_ready;
struct shim_config shim_cfg;
bool shim_secure;
static pthread_once_t shim_once = PTHREAD_ONCE_INIT;

static void atfork_prepare(void)
{
	fdstate_fork_prepare();
	rx_fork_prepare();
	tls_fork_prepare();
	spans_out_fork_prepare();
}

static void atfork_parent(void)
{
	spans_out_fork_parent();
	tls_fork_parent();
	rx_fork_parent();
	fdstate_fork_parent();
}

static void atfork_child(void)
{
	spans_out_fork_child();
	tls_fork_child();
	rx_fork_child();
	fdstate_fork_child();
	tagger_fork_child();
}

static void shim_setup(void)
{
	int saved = errno;

	real_bind();
	shim_secure = getauxval(AT_SECURE) != 0;
	slog_init();
	config_load(&shim_cfg, shim_secure);
	spans_out_init();
	if (fdstate_init() < 0)
		slog(SLOG_ERROR, "no memory for the descriptor table: every socket passes through");
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
	atomic_store_explicit(&shim_ready, true, memory_order_release);
	errno = saved;
}

void shim_setup_once(void)
{
	real_bind();
	/* Calls made while our own setup runs (e.g. by dlsym or fopen) go straight through. */
	if (guard_active())
		return;
	guard_enter();
	pthread_once(&shim_once, shim_setup);
	guard_exit();
}
