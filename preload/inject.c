/*
 * inject.c - traceparent injection (see inject.h).
 *
 * The line goes right after the request line, so the application always
 * still owes bytes when it goes out: a send that stops inside the line
 * reports the application's bytes up to the request line's end, and the
 * rest of the line is owed; it leaves before the application's next bytes
 * (inject_owed), and until it has, the application's next send reports
 * what the kernel reported for the line (-1 and EAGAIN on a non-blocking
 * socket: none of its bytes left). The application's bytes are never
 * split, reordered or held back.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <clt/traceparent.h>

#include "fdstate.h"
#include "http.h"
#include "inject.h"
#include "real.h"

#define INJECT_IOV_MAX 64

/* The first request line end in @iov: its offset after the '\n', or 0 (none). */
static size_t line_end(const struct iovec *iov, size_t iovcnt, bool at_start)
{
	size_t off = 0;
	bool begun = !at_start;

	for (size_t i = 0; i < iovcnt; i++) {
		const unsigned char *b = iov[i].iov_base;

		for (size_t k = 0; k < iov[i].iov_len; k++) {
			if (!begun) {
				begun = b[k] != '\r' && b[k] != '\n'; /* empty lines before it */
			} else if (b[k] == '\n') {
				return off + k + 1;
			}
		}
		off += iov[i].iov_len;
	}
	return 0;
}

void inject_plan(struct fd_sock *s, bool before_line, bool at_start, const struct iovec *iov,
		 size_t iovcnt, size_t total, const struct http_ids *ids, struct inject_plan *p)
{
	struct tp_context tp = {.version = 0, .flags = TP_FLAG_SAMPLED};
	char v[TP_VALUE_LEN + 1];

	p->on = false;
	if (!before_line || s->inj_left || iovcnt + 2 > INJECT_IOV_MAX)
		return;
	p->at = line_end(iov, iovcnt, at_start);
	if (!p->at || p->at >= total)
		return; /* the application must still owe bytes after the line */
	memcpy(tp.trace_id, ids->trace, 16);
	memcpy(tp.parent_id, ids->span, 8);
	tp_format(v, &tp);
	p->len = (size_t)snprintf(p->line, sizeof(p->line), "traceparent: %s\r\n", v);
	p->on = true;
}

ssize_t inject_send(struct fd_sock *s, int fd, bool use_msg, const struct msghdr *msg, int flags,
		    const struct iovec *iov, size_t iovcnt, const struct inject_plan *p,
		    size_t *line_sent)
{
	struct iovec v[INJECT_IOV_MAX];
	size_t n = 0, off = 0, i;
	ssize_t r;

	for (i = 0; i < iovcnt; i++) {
		size_t len = iov[i].iov_len;

		if (off <= p->at && p->at < off + len) {
			size_t head = p->at - off;

			if (head)
				v[n++] = (struct iovec){iov[i].iov_base, head};
			v[n++] = (struct iovec){(void *)p->line, p->len};
			v[n++] = (struct iovec){(char *)iov[i].iov_base + head, len - head};
		} else {
			v[n++] = iov[i];
		}
		off += len;
	}
	if (use_msg) {
		struct msghdr m = {0};

		if (msg)
			m = *msg;
		m.msg_iov = v;
		m.msg_iovlen = n;
		r = real.sendmsg(fd, &m, flags);
	} else {
		r = real.writev(fd, v, (int)n);
	}
	if (r < 0 || (size_t)r < p->at)
		return r; /* the line did not begin: the next send plans it again */
	if ((size_t)r < p->at + p->len) {
		size_t left = p->at + p->len - (size_t)r;
		int saved = errno;

		*line_sent += p->len - left;
		fdstate_sock_lock(s);
		memcpy(s->inj + sizeof(s->inj) - left, p->line + p->len - left, left);
		s->inj_left = (uint8_t)left;
		fdstate_sock_unlock(s);
		errno = saved;
		return (ssize_t)p->at;
	}
	*line_sent += p->len;
	return r - (ssize_t)p->len;
}

int inject_owed(struct fd_sock *s, int fd, int flags, size_t *sent)
{
	char buf[sizeof(s->inj)];
	size_t total, done = 0, left;
	ssize_t r;

	fdstate_sock_lock(s);
	total = s->inj_left;
	memcpy(buf, s->inj + sizeof(s->inj) - total, total);
	fdstate_sock_unlock(s);
	while (done < total) {
		/* The application's own no-signal and no-wait: a gone peer is its EPIPE, not a
		 * SIGPIPE it asked not to get (whose default kills the process). */
		r = real.send(fd, buf + done, total - done, flags & (MSG_DONTWAIT | MSG_NOSIGNAL));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		done += (size_t)r;
		*sent += (size_t)r;
		left = total - done;
		fdstate_sock_lock(s);
		s->inj_left = (uint8_t)left;
		fdstate_sock_unlock(s);
	}
	return 0;
}
