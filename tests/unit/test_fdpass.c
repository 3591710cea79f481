/*
 * test_fdpass.c - clt_send_fd(), the one SCM_RIGHTS sender libclt's
 * agent and bpf backends and cltagent's answers share: the bytes and the
 * descriptor arrive, no control message without one, and the call goes
 * through the send function given (libclt's must be clt_sys's).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cmocka.h>

#include "clt_fdpass.h"

static int sends;
static int last_flags;

static ssize_t counting_sendmsg(int sock, const struct msghdr *msg, int flags)
{
	sends++;
	last_flags = flags;
	return sendmsg(sock, msg, flags);
}

/* Receive one message: its bytes into @buf, the descriptor it carried (or -1) into @fd. */
static ssize_t recv_fd(int sock, void *buf, size_t len, int *fd, size_t *controllen)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = {.iov_base = buf, .iov_len = len};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmsghdr *cm;
	ssize_t n;

	memset(&u, 0, sizeof(u));
	msg.msg_control = u.buf;
	msg.msg_controllen = sizeof(u.buf);
	n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	*fd = -1;
	*controllen = msg.msg_controllen;
	cm = CMSG_FIRSTHDR(&msg);
	if (n >= 0 && cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
	    cm->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(fd, CMSG_DATA(cm), sizeof(int));
	return n;
}

static void test_descriptor_arrives(void **state)
{
	int sv[2], p[2], got = -1;
	char buf[16], c = 0;
	size_t cl;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	assert_int_equal(pipe(p), 0);
	sends = 0;
	assert_int_equal(clt_send_fd(counting_sendmsg, sv[0], "hello", 5, p[1], MSG_NOSIGNAL), 5);
	assert_int_equal(sends, 1);
	assert_int_equal(last_flags, MSG_NOSIGNAL);
	assert_int_equal(recv_fd(sv[1], buf, sizeof(buf), &got, &cl), 5);
	assert_memory_equal(buf, "hello", 5);
	assert_true(got >= 0);
	/* The very pipe: what is written through the received descriptor comes out. */
	assert_int_equal(write(got, "x", 1), 1);
	assert_int_equal(read(p[0], &c, 1), 1);
	assert_int_equal(c, 'x');
	close(got);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

static void test_no_descriptor(void **state)
{
	int sv[2], got = 0;
	char buf[16];
	size_t cl = 1;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	assert_int_equal(clt_send_fd(counting_sendmsg, sv[0], "abc", 3, -1, 0), 3);
	assert_int_equal(recv_fd(sv[1], buf, sizeof(buf), &got, &cl), 3);
	assert_int_equal(got, -1);
	assert_int_equal(cl, 0);
	close(sv[0]);
	close(sv[1]);
}

static void test_failure_is_the_send_functions(void **state)
{
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	close(sv[1]);
	errno = 0;
	assert_int_equal(clt_send_fd(counting_sendmsg, sv[0], "abc", 3, sv[0], MSG_NOSIGNAL), -1);
	assert_int_equal(errno, EPIPE);
	close(sv[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_descriptor_arrives),
		cmocka_unit_test(test_no_descriptor),
		cmocka_unit_test(test_failure_is_the_send_functions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
