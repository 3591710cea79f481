/*
 * test_shim_inject.c - the traceparent line's owed bytes (inject.c): when
 * a send stopped inside the line, its rest leaves before the
 * application's next send, and that send must behave as the
 * application's own call would. A real socket pair whose peer is gone:
 * the application's send(MSG_NOSIGNAL) must get EPIPE, never SIGPIPE
 * (whose default action kills the process); its write() gets SIGPIPE,
 * as it would without the shim.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "fdstate.h"
#include "inject.h"
#include "real.h"

static volatile sig_atomic_t pipes;

static void on_pipe(int sig)
{
	(void)sig;
	pipes++;
}

/* A socket whose peer closed, and its state owing @owed's bytes of a line. */
static int owing(struct fd_sock *s, const char *owed)
{
	int sv[2];
	size_t n = strlen(owed);

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	close(sv[1]);
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	memcpy(s->inj + sizeof(s->inj) - n, owed, n);
	s->inj_left = (uint8_t)n;
	return sv[0];
}

static void test_owed_keeps_nosignal(void **state)
{
	struct sigaction sa = {.sa_handler = on_pipe}, old;
	struct fd_sock s;
	size_t sent = 0;
	int fd, rc;

	(void)state;
	real_bind();
	sigaction(SIGPIPE, &sa, &old);
	fd = owing(&s, "01\r\n");
	pipes = 0;
	errno = 0;
	rc = inject_owed(&s, fd, MSG_NOSIGNAL, &sent);
	assert_int_equal(rc, -1);
	assert_int_equal(errno, EPIPE);
	assert_int_equal(sent, 0);
	/* The application asked for no signal: the shim's send on its behalf raises none. */
	assert_int_equal(pipes, 0);
	close(fd);
	pthread_mutex_destroy(&s.lock);
	sigaction(SIGPIPE, &old, NULL);
}

static void test_owed_write_signals_as_write(void **state)
{
	struct sigaction sa = {.sa_handler = on_pipe}, old;
	struct fd_sock s;
	size_t sent = 0;
	int fd, rc;

	(void)state;
	real_bind();
	sigaction(SIGPIPE, &sa, &old);
	fd = owing(&s, "01\r\n");
	pipes = 0;
	rc = inject_owed(&s, fd, 0, &sent);
	assert_int_equal(rc, -1);
	assert_int_equal(errno, EPIPE);
	/* write() and send() without MSG_NOSIGNAL: SIGPIPE, as the application's own call. */
	assert_int_equal(pipes, 1);
	close(fd);
	pthread_mutex_destroy(&s.lock);
	sigaction(SIGPIPE, &old, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_owed_keeps_nosignal),
		cmocka_unit_test(test_owed_write_signals_as_write),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
