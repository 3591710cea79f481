/*
 * fdpass.c - a message with one descriptor in SCM_RIGHTS (see
 * clt_fdpass.h). The send function is the caller's: libclt's own calls
 * must go through clt_sys (an LD_PRELOAD shim's table), cltagent's
 * straight to libc; so this file names neither.
 */
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "clt_fdpass.h"

ssize_t clt_send_fd(clt_sendmsg_fn send_fn, int sock, const void *buf, size_t len, int fd,
		    int flags)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};

	if (fd >= 0) {
		struct cmsghdr *cm;

		memset(&u, 0, sizeof(u));
		msg.msg_control = u.buf;
		msg.msg_controllen = sizeof(u.buf);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	return send_fn(sock, &msg, flags);
}
