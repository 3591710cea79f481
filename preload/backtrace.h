/*
 * backtrace.h - the application frames that called into the shim, for a
 * CLIENT span's code.stacktrace (CLT_STACKTRACE=1). Defined in backtrace.c,
 * linked only into libcltshim.so: callers reach it through a weak
 * reference and do without it when it is absent (the unit tests' archive).
 */
#ifndef CLT_SHIM_BACKTRACE_H
#define CLT_SHIM_BACKTRACE_H

#include <stddef.h>

#define STACKTRACE_FRAMES 16  /* application frames at most */
#define STACKTRACE_MAX 1024   /* octets, NUL included (a span attribute's bound) */
/* Between frames: cltagent takes no control character (a newline) in an attribute. */
#define STACKTRACE_SEP " < "

/* "function+0xoff (object)" per frame, innermost first, STACKTRACE_SEP between them;
 * NUL-terminated, whole frames only. @return its length. */
size_t shim_stacktrace(char *buf, size_t len);

#endif /* CLT_SHIM_BACKTRACE_H */
