/*
 * clt_fdpass.h - send a message with one descriptor attached (SCM_RIGHTS)
 * over a Unix socket: the tag protocol's requests and answers
 * (include/clt/tagproto.h). libclt-internal, not installed; cltagent
 * links libclt statically and uses it too.
 */
#ifndef CLT_FDPASS_H
#define CLT_FDPASS_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

/* A sendmsg(2): libclt passes clt_sys.sendmsg (lib/clt_sys.h), cltagent libc's. */
typedef ssize_t (*clt_sendmsg_fn)(int sock, const struct msghdr *msg, int flags);

/*
 * One sendmsg of @len octets at @buf on @sock, through @send_fn, with @fd in
 * SCM_RIGHTS (no control message when @fd < 0). @return what @send_fn
 * returned, errno as it left it.
 */
ssize_t clt_send_fd(clt_sendmsg_fn send_fn, int sock, const void *buf, size_t len, int fd,
		    int flags);

#endif /* CLT_FDPASS_H */
