/*
 * test_fdstate.c - the descriptor table's lock-free socket lookup
 * (preload/fdstate.c): a reference is only ever taken on the socket the
 * table names, a released socket is reused cleared, and a reference held
 * keeps a socket from being reused - also while another thread attaches
 * and detaches sockets on the same descriptor as fast as it can.
 */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fdstate.h"

static int setup(void **state)
{
	(void)state;
	return fdstate_init();
}

static void test_get_names_the_attached_socket(void **state)
{
	struct fd_sock *s, *g;

	(void)state;
	s = fdstate_sock_new(-1);
	assert_non_null(s);
	assert_null(fdstate_sock_get(5));
	fdstate_attach(5, s);
	assert_int_equal(fdstate_class(5), FD_TRACKED);
	g = fdstate_sock_get(5);
	assert_ptr_equal(g, s);
	assert_int_equal(atomic_load(&s->refs), 2);
	fdstate_sock_put(g);
	fdstate_detach(5, NULL, FD_UNKNOWN);
	assert_null(fdstate_sock_get(5));
	assert_int_equal(fdstate_class(5), FD_UNKNOWN);
}

static void test_released_socket_is_reused_cleared(void **state)
{
	struct fd_sock *s, *t;

	(void)state;
	s = fdstate_sock_new(-1);
	assert_non_null(s);
	s->seq = 7;
	s->tls = true;
	s->inj_left = 3;
	fdstate_attach(6, s);
	fdstate_detach(6, NULL, FD_UNKNOWN); /* the last reference: released */
	t = fdstate_sock_new(-1);
	assert_ptr_equal(t, s); /* its memory is never given back */
	assert_int_equal(atomic_load(&t->refs), 1);
	assert_int_equal(t->seq, 0);
	assert_false(t->tls);
	assert_int_equal(t->inj_left, 0);
	fdstate_sock_put(t);
}

static void test_held_reference_outlives_detach(void **state)
{
	struct fd_sock *s, *g, *t;

	(void)state;
	s = fdstate_sock_new(-1);
	assert_non_null(s);
	fdstate_attach(7, s);
	g = fdstate_sock_get(7);
	assert_ptr_equal(g, s);
	fdstate_detach(7, NULL, FD_UNKNOWN); /* closed while a send holds it */
	assert_int_equal(atomic_load(&g->refs), 1);
	t = fdstate_sock_new(-1);
	assert_ptr_not_equal(t, g); /* not reused while held */
	fdstate_sock_put(g);
	fdstate_sock_put(t);
}

#define RACE_FD 9
#define RACE_ROUNDS 200000

static atomic_bool race_done;
static atomic_ulong race_bad;

/* Attach and detach new sockets on RACE_FD, each marked with its own number. */
static void *race_writer(void *arg)
{
	(void)arg;
	for (unsigned long n = 1; n <= RACE_ROUNDS; n++) {
		struct fd_sock *s = fdstate_sock_new(-1);

		if (!s)
			break;
		s->seq = n;
		fdstate_attach(RACE_FD, s);
		if (n % 3 == 0)
			sched_yield();
		fdstate_detach(RACE_FD, NULL, FD_UNKNOWN);
	}
	atomic_store(&race_done, true);
	return NULL;
}

static void test_lookup_races_attach_and_detach(void **state)
{
	pthread_t w;
	unsigned long got = 0;

	(void)state;
	atomic_store(&race_done, false);
	assert_int_equal(pthread_create(&w, NULL, race_writer, NULL), 0);
	while (!atomic_load(&race_done)) {
		struct fd_sock *s = fdstate_sock_get(RACE_FD);
		uint64_t seq;

		if (!s)
			continue;
		got++;
		/* Held: never released, so never reused (cleared, renumbered) meanwhile. */
		seq = s->seq;
		if (seq == 0 || atomic_load(&s->refs) == 0)
			atomic_fetch_add(&race_bad, 1);
		sched_yield();
		if (s->seq != seq || atomic_load(&s->refs) == 0)
			atomic_fetch_add(&race_bad, 1);
		fdstate_sock_put(s);
	}
	pthread_join(w, NULL);
	assert_int_equal(atomic_load(&race_bad), 0);
	assert_null(fdstate_sock_get(RACE_FD));
	print_message("lookups that found a socket: %lu\n", got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_names_the_attached_socket),
		cmocka_unit_test(test_released_socket_is_reused_cleared),
		cmocka_unit_test(test_held_reference_outlives_detach),
		cmocka_unit_test(test_lookup_races_attach_and_detach),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
