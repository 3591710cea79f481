/*
 * inject.h - CLT_TRACING=inject: a bare outgoing request (no trace header
 * of its own) that is a CLIENT span gets a traceparent line right after
 * its request line, so the downstream service continues the trace. The
 * application sees only its own byte counts, return values and errno.
 */
#ifndef CLT_SHIM_INJECT_H
#define CLT_SHIM_INJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

struct fd_sock;
struct http_ids;

/* One send's plan: where the line goes in the application's bytes. */
struct inject_plan {
	bool on;
	size_t at;     /* application bytes before the line */
	size_t len;    /* the line's length */
	char line[80];
};

/*
 * Under @s's lock, after the look-ahead: should this send (@iov, @total
 * bytes, beginning with the tracker at @before_line) carry the line for
 * request @ids? Fills @p.
 */
void inject_plan(struct fd_sock *s, bool before_line, bool at_start, const struct iovec *iov,
		 size_t iovcnt, size_t total, const struct http_ids *ids, struct inject_plan *p);

/*
 * Send @iov with @p's line inserted (writev, or sendmsg with @msg's name
 * and control and @flags). Returns what the application is to see: its
 * own bytes that left, or -1 and errno. Line bytes that did not leave are
 * owed (@s->inj), under @s's lock.
 */
ssize_t inject_send(struct fd_sock *s, int fd, bool use_msg, const struct msghdr *msg, int flags,
		    const struct iovec *iov, size_t iovcnt, const struct inject_plan *p,
		    size_t *line_sent);

/*
 * Before any send on @s's socket: the owed line bytes go out first. 0, or
 * -1 and errno; *@sent (added to) counts the line bytes that left.
 */
int inject_owed(struct fd_sock *s, int fd, int flags, size_t *sent);

#endif /* CLT_SHIM_INJECT_H */
