/*
 * backtrace.c - the application's call site for the shim's failure log
 * lines (CLT_LOG=debug): a few frames of local unwinding with libunwind,
 * starting at the first frame outside libcltshim.so, written into a
 * caller's buffer. No allocation of its own; libunwind reads symbol names
 * from the mapped objects. Linked only into libcltshim.so (not into the
 * shim-core archive the unit tests use): log.c calls it through a weak
 * reference. The same walk, longer, is a CLIENT
 * span's code.stacktrace (CLT_STACKTRACE, backtrace.h).
 */
#define UNW_LOCAL_ONLY
#include <dlfcn.h>
#include <libunwind.h>
#include <stdio.h>
#include <string.h>

#include "backtrace.h"
#include "log.h"

#define BT_FRAMES 6  /* application frames shown */
#define BT_WALK 32   /* frames walked at most (the shim's own included) */

static const char *base_name(const char *path)
{
	const char *s = path ? strrchr(path, '/') : NULL;

	return s ? s + 1 : (path ? path : "?");
}

/* Up to @frames application frames into @buf, @sep between them. */
static size_t walk(char *buf, size_t len, int frames, const char *sep)
{
	Dl_info self, info;
	unw_context_t uc;
	unw_cursor_t cur;
	size_t used = 0;
	int shown = 0, walked = 0;

	if (len == 0 || !dladdr((void *)walk, &self))
		return 0;
	buf[0] = '\0';
	if (unw_getcontext(&uc) < 0 || unw_init_local(&cur, &uc) < 0)
		return 0;
	while (shown < frames && walked++ < BT_WALK && unw_step(&cur) > 0) {
		unw_word_t ip = 0, off = 0;
		char name[64];
		int n;

		if (unw_get_reg(&cur, UNW_REG_IP, &ip) < 0 || ip == 0)
			break;
		if (dladdr((void *)ip, &info) && info.dli_fbase == self.dli_fbase)
			continue; /* the shim itself: not what the reader needs */
		if (unw_get_proc_name(&cur, name, sizeof(name), &off) < 0) {
			name[0] = '?';
			name[1] = '\0';
			off = 0;
		}
		/* A sanitizer runtime's interceptor stands between the application
		 * and the shim in sanitizer builds: not the call site either. */
		if (!shown && strncmp(name, "__interceptor_", 14) == 0)
			continue;
		n = snprintf(buf + used, len - used, "%s%s+0x%lx (%s)", shown ? sep : "", name,
			     (unsigned long)off, base_name(info.dli_fname));
		if (n < 0 || (size_t)n >= len - used) {
			buf[used] = '\0';
			break;
		}
		used += (size_t)n;
		shown++;
	}
	return used;
}

size_t slog_backtrace(char *buf, size_t len)
{
	return walk(buf, len, BT_FRAMES, " < ");
}

size_t shim_stacktrace(char *buf, size_t len)
{
	return walk(buf, len, STACKTRACE_FRAMES, STACKTRACE_SEP);
}
