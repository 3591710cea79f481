/*
 * log.c - see log.h. One line per message, written with a single write()
 * so that lines from several threads or processes do not interleave.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "log.h"
#include "real.h"

/* In libcltshim.so only (backtrace.c needs libunwind); absent from the unit tests' archive. */
#pragma weak slog_backtrace

static int log_level;
static atomic_int log_fd = -1;
static pthread_once_t log_once = PTHREAD_ONCE_INIT;

static const char *const level_names[] = { "none", "error", "warn", "info", "debug" };

int slog_parse_level(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(s, level_names[i]) == 0)
			return (int)i;
	if (strcmp(s, "warning") == 0)
		return SLOG_WARN;
	return -1;
}

static void log_setup(void)
{
	const char *lvl, *file;
	int level, fd;

	/* setuid/setgid: the invoking user must not choose files or verbosity. */
	if (getauxval(AT_SECURE))
		return;
	lvl = secure_getenv("CLT_LOG");
	if (!lvl || !*lvl)
		return;
	level = slog_parse_level(lvl);
	if (level < 0)
		level = SLOG_WARN;
	file = secure_getenv("CLT_LOG_FILE");
	if (file && *file) {
		/* O_NONBLOCK: a FIFO without a reader must not hang the program at its first log line. */
		fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK,
			  0600);
		if (fd < 0)
			return; /* asked for a file we cannot open: stay silent rather than pollute stderr */
		if (fd <= STDERR_FILENO) {
			/* The program closed a standard descriptor: keep its number free for it. */
			int hi;

			real_ensure();
			hi = real.fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
			real.close(fd);
			if (hi < 0)
				return;
			fd = hi;
		}
	} else {
		fd = STDERR_FILENO;
	}
	atomic_store(&log_fd, fd);
	log_level = level;
}

void slog_init(void)
{
	int saved = errno;

	pthread_once(&log_once, log_setup);
	errno = saved;
}

int slog_enabled(enum slog_level level)
{
	slog_init();
	return level != SLOG_NONE && (int)level <= log_level && atomic_load(&log_fd) >= 0;
}

static void vlog(enum slog_level level, bool bt, const char *fmt, va_list ap)
{
	char buf[1024];
	int n, m, fd, saved = errno;

	if (!slog_enabled(level))
		goto out;
	n = snprintf(buf, sizeof(buf), "clt-shim[%d]: %s: ", (int)getpid(), level_names[level]);
	if (n < 0 || (size_t)n >= sizeof(buf))
		goto out;
	m = vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	if (m < 0)
		goto out;
	n += m;
	if ((size_t)n >= sizeof(buf) - 1)
		n = (int)sizeof(buf) - 2; /* truncated */
	if (bt && log_level >= SLOG_DEBUG && slog_backtrace && (size_t)n + 32 < sizeof(buf)) {
		/* Where the application was when the shim failed: its own frames, not ours. */
		static const char pre[] = "; called from ";
		size_t room = sizeof(buf) - (size_t)n - sizeof(pre) - 1, got;

		real_ensure();
		guard_enter();
		got = slog_backtrace(buf + n + sizeof(pre) - 1, room);
		guard_exit();
		if (got > 0) {
			memcpy(buf + n, pre, sizeof(pre) - 1);
			n += (int)(sizeof(pre) - 1 + got);
		}
	}
	buf[n++] = '\n';
	fd = atomic_load(&log_fd);
	real_ensure();
	guard_enter();
	if (fd >= 0 && real.write(fd, buf, (size_t)n) < 0) {
		/* nowhere to report it */
	}
	guard_exit();
out:
	errno = saved;
}

void slog(enum slog_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, false, fmt, ap);
	va_end(ap);
}

void slog_fail(enum slog_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, true, fmt, ap);
	va_end(ap);
}

void slog_once(atomic_flag *once, enum slog_level level, const char *fmt, ...)
{
	va_list ap;

	if (atomic_flag_test_and_set(once))
		return;
	va_start(ap, fmt);
	vlog(level, true, fmt, ap);
	va_end(ap);
}

void slog_fd_gone(int fd)
{
	int cur = atomic_load(&log_fd);

	/* Never write our lines into whatever the application opens on that number next. */
	if (fd >= 0 && fd == cur)
		atomic_compare_exchange_strong(&log_fd, &cur, -1);
}

void slog_fd_range_gone(unsigned int first, unsigned int last)
{
	int cur = atomic_load(&log_fd);

	if (cur >= 0 && (unsigned int)cur >= first && (unsigned int)cur <= last)
		atomic_compare_exchange_strong(&log_fd, &cur, -1);
}
