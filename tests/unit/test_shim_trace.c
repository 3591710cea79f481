/*
 * test_shim_trace.c - the propagation rule's thread state (trace.c): a
 * SERVER span read on one thread and whose response another thread wrote
 * has ended; the reader thread's next outgoing request must not be made
 * its child. With no SERVER span in flight anywhere in the process, the
 * reader has none either, and its next request is its only one.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ended_elsewhere_is_no_parent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
