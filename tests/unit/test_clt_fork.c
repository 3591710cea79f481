/*
 * test_clt_fork.c - libclt contexts used in forked children: the genl
 * backend's netlink socket is not shared with the parent (each process
 * gets its own answers), and a backend lock held by another thread of the
 * parent at fork() does not hang the child (agent backend).
 *
 * Reaches into the context (lib/clt_internal.h) to force the genl backend
 * on a stock kernel: its commands then fail with EOPNOTSUPP, which is
 * enough to tell whose answer a process read.
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/genetlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>

#include "../../lib/clt_internal.h"
#include "clt/tagproto.h"

static const uint8_t tid[16] = {0xa1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static const uint8_t sid[8] = {0xb1, 2, 3, 4, 5, 6, 7, 8};

static int count_valid(struct nl_msg *msg, void *arg)
{
	(*(int *)arg)++;
	return NL_OK;
}

/* Exit status of a child, or -1 if it did not exit normally (e.g. killed
 * by its alarm because it hung). */
static int child_status(pid_t pid)
{
	int status = 0;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status)) {
		print_message("child did not exit: signal %d\n",
			      WIFSIGNALED(status) ? WTERMSIG(status) : 0);
		return -1;
	}
	return WEXITSTATUS(status);
}

static void test_genl_socket_after_fork(void **state)
{
	struct clt_options o;
	struct clt_ctx *ctx = NULL;
	struct nl_msg *msg;
	int fd, rc, parent_rc, got = 0, i;
	pid_t pid;

	memset(&o, 0, sizeof(o));
	o.backend = CLT_BACKEND_OFF;
	o.ignore_env = 1;
	assert_int_equal(clt_open(&ctx, &o), 0);
	if (clt_genl_setup(ctx) < 0) {
		clt_close(ctx);
		skip(); /* no IOAM6 generic netlink family in this kernel */
	}
	assert_int_equal(clt_backend_get(ctx), CLT_BACKEND_GENL);
	fd = socket(AF_INET6, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	/* What this kernel answers PKT_ID_DISABLE: EOPNOTSUPP when stock. */
	parent_rc = clt_disable(ctx, fd);
	print_message("parent: PKT_ID_DISABLE -> %d (%s)\n", parent_rc, clt_strerror(parent_rc));

	/* Leave a request of the parent's pending on its socket. */
	msg = nlmsg_alloc();
	assert_non_null(msg);
	assert_non_null(genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, GENL_ID_CTRL, 0, 0,
				    CTRL_CMD_GETFAMILY, 1));
	assert_int_equal(nla_put_string(msg, CTRL_ATTR_FAMILY_NAME, "IOAM6"), 0);
	assert_true(nl_send_auto(ctx->genl_sock, msg) >= 0);
	nlmsg_free(msg);

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(10);
		rc = clt_disable(ctx, fd);
		/* Reading the parent's queued answer gives 0 or -EIO instead. */
		_exit(rc == parent_rc ? 0 : 1);
	}
	rc = child_status(pid);
	print_message("child: same answer as the parent: %s\n", rc == 0 ? "yes" : "no");
	assert_int_equal(rc, 0);

	/* The parent's answer is still waiting for the parent. */
	nl_socket_disable_seq_check(ctx->genl_sock);
	nl_socket_modify_cb(ctx->genl_sock, NL_CB_VALID, NL_CB_CUSTOM, count_valid, &got);
	assert_int_equal(nl_socket_set_nonblocking(ctx->genl_sock), 0);
	for (i = 0; i < 4 && got == 0; i++) {
		if (nl_recvmsgs_default(ctx->genl_sock) < 0)
			break;
	}
	print_message("parent: its pending GETFAMILY answer received: %d\n", got);
	assert_int_equal(got, 1);
	close(fd);
	clt_close(ctx);
}

struct blocker {
	struct clt_ctx *ctx;
	int fd;
	int rc;
	char msg[400];
};

static void *blocker_main(void *arg)
{
	struct blocker *b = arg;

	b->rc = clt_enable(b->ctx, b->fd, tid, sid);
	snprintf(b->msg, sizeof(b->msg), "%s", clt_strerror(b->rc));
	return NULL;
}

static void test_agent_lock_held_at_fork(void **state)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct clt_options o;
	struct clt_ctx *ctx = NULL;
	struct blocker b;
	pthread_t th;
	char req[64];
	int lfd, cfd, rc;
	pid_t pid;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "/tmp/clt-test-fork-%d.sock", (int)getpid());
	unlink(sa.sun_path);
	lfd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 8), 0);

	setenv("CLT_AGENT_TIMEOUT_MS", "1500", 1);
	memset(&o, 0, sizeof(o));
	o.backend = CLT_BACKEND_AGENT;
	o.agent_socket = sa.sun_path;
	assert_int_equal(clt_open(&ctx, &o), 0);
	unsetenv("CLT_AGENT_TIMEOUT_MS");

	/* A thread sends a request this fake agent never answers: the thread
	 * holds the backend's lock until its timeout. */
	memset(&b, 0, sizeof(b));
	b.ctx = ctx;
	b.fd = socket(AF_INET6, SOCK_STREAM, 0);
	assert_true(b.fd >= 0);
	assert_int_equal(pthread_create(&th, NULL, blocker_main, &b), 0);
	cfd = accept(lfd, NULL, NULL);
	assert_true(cfd >= 0);
	assert_int_equal(recv(cfd, req, sizeof(req), 0), (ssize_t)sizeof(struct clt_tag_req));

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(6);
		/* Its own connection, its own request: unanswered, so a timeout. */
		rc = clt_enable(ctx, b.fd, tid, sid);
		_exit(rc == -ETIMEDOUT ? 0 : 1);
	}
	rc = child_status(pid);
	print_message("child with the lock held in the parent: %s\n",
		      rc == 0 ? "timed out cleanly" : rc < 0 ? "hung" : "wrong error");
	assert_int_equal(rc, 0);

	assert_int_equal(pthread_join(th, NULL), 0);
	print_message("parent thread: %d: %s\n", b.rc, b.msg);
	assert_int_equal(b.rc, -ETIMEDOUT);
	assert_non_null(strstr(b.msg, sa.sun_path));
	assert_non_null(strstr(b.msg, "1500 ms"));
	close(cfd);
	close(lfd);
	close(b.fd);
	unlink(sa.sun_path);
	clt_close(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_genl_socket_after_fork),
		cmocka_unit_test(test_agent_lock_held_at_fork),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
