/*
 * log.h - the shim's logging: silent unless CLT_LOG asks; to stderr or
 * CLT_LOG_FILE. Writes go straight to libc, never through the shim.
 * Environment is ignored in secure-execution (setuid/setgid) processes.
 */
#ifndef CLT_SHIM_LOG_H
#define CLT_SHIM_LOG_H

#include <stdatomic.h>
#include <stddef.h>

enum slog_level {
	SLOG_NONE = 0,
	SLOG_ERROR,
	SLOG_WARN,
	SLOG_INFO,
	SLOG_DEBUG,
};

/* Read CLT_LOG / CLT_LOG_FILE (once). */
void slog_init(void);

/* Parse a level name; @return the level or -1. */
int slog_parse_level(const char *s);

int slog_enabled(enum slog_level level);

void slog(enum slog_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * An internal failure (the application's call proceeds untouched): at
 * CLT_LOG=debug the line ends with the application's call site.
 */
void slog_fail(enum slog_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A failure logged only the first time @once is passed (a static flag at the call site); as slog_fail. */
void slog_once(atomic_flag *once, enum slog_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The application closed or replaced @fd: stop writing to it if it is the log file. */
void slog_fd_gone(int fd);

/* The same for every descriptor in [@first, @last] (close_range, closefrom). */
void slog_fd_range_gone(unsigned int first, unsigned int last);

/*
 * Up to a few frames of the application's stack, outside the shim, as
 * "func+0xoff (object) < ..." into @buf. @return the length written.
 */
size_t slog_backtrace(char *buf, size_t len);

#endif /* CLT_SHIM_LOG_H */
