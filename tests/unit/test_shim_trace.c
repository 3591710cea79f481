/*
 * test_shim_trace.c - the propagation rule's thread state (trace.c): a
 * SERVER span read on one thread and whose response another thread wrote
 * has ended; the reader thread's next outgoing request must not be made
 * its child. With no SERVER span in flight anywhere in the process, the
 * reader has none either, and its next request is its only one.
 * And a thread's first ID, drawn while the application's send is under
 * way, leaves errno as it was even where getrandom() is refused.
 */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include <cmocka.h>

#include "trace.h"

static uintptr_t reader_key;

static void *writer(void *arg)
{
	(void)arg;
	trace_server_end(1, reader_key); /* the response's last byte, written here */
	return NULL;
}

static void test_ended_elsewhere_is_no_parent(void **state)
{
	const uint8_t trace_id[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
	const uint8_t span_id[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	uint8_t t[16], s[8];
	bool sampled = false, any = true;
	pthread_t th;

	(void)state;
	trace_server_begin(trace_id, span_id, true, 1);
	reader_key = trace_thread_key();
	assert_true(trace_thread_server(t, s, &sampled, &any));
	assert_memory_equal(t, trace_id, 16);
	assert_true(any);
	assert_int_equal(pthread_create(&th, NULL, writer, NULL), 0);
	pthread_join(th, NULL);
	/* The span ended: nothing is in flight, so this thread serves nothing. */
	assert_false(trace_thread_server(t, s, &sampled, &any));
	assert_false(any);
	/* Its next request is its only one: the parent of what it calls, not ambiguous. */
	trace_server_begin(trace_id, s, true, 2);
	assert_true(trace_thread_server(t, s, &sampled, &any));
	trace_server_end(2, reader_key);
	assert_false(trace_thread_server(t, s, &sampled, &any));
}

/* A sandbox refusing getrandom() (ENOSYS), this thread only, then its first ID. */
static void *first_id_refused(void *arg)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getrandom, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = sizeof(f) / sizeof(f[0]), .filter = f};
	uint8_t id[16];
	int *err = arg;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
		*err = -1;
		return NULL;
	}
	errno = ERANGE;
	trace_new_trace_id(id);
	*err = errno;
	return NULL;
}

static void test_first_id_keeps_errno(void **state)
{
	pthread_t th;
	int err = 0;

	(void)state;
	assert_int_equal(pthread_create(&th, NULL, first_id_refused, &err), 0);
	pthread_join(th, NULL);
	if (err == -1)
		skip(); /* no seccomp here */
	assert_int_equal(err, ERANGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ended_elsewhere_is_no_parent),
		cmocka_unit_test(test_first_id_keeps_errno),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
