/*
 * test_check.c - the check lines' helpers: one line per condition with its
 * status word, problems and unknowns counted; the IOAM namespace from
 * CLT_NAMESPACE; capability sets from /proc; the route lookup over
 * rtnetlink (loopback: present in every network namespace).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "check.h"

static void test_lines_counted(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct check_report r = {.out = f};

	assert_non_null(f);
	check_line(&r, CHECK_OK, "kernel", "fine %d", 1);
	check_line(&r, CHECK_NOTE, "node", "default id");
	check_line(&r, CHECK_UNKNOWN, "namespace", "no rights");
	check_line(&r, CHECK_PROBLEM, "interface s0", "off; fix: %s", "sysctl -w x=1");
	check_line(&r, CHECK_PROBLEM, "export", "down");
	fclose(f);
	assert_int_equal(r.problems, 2);
	assert_int_equal(r.unknowns, 1);
	assert_string_equal(buf, "ok      kernel: fine 1\n"
				 "note    node: default id\n"
				 "unknown namespace: no rights\n"
				 "problem interface s0: off; fix: sysctl -w x=1\n"
				 "problem export: down\n");
	free(buf);
}

static void test_namespace_id(void **state)
{
	static const struct {
		const char *env;
		uint16_t want;
	} cases[] = {
	    {NULL, 123}, {"", 123},	 {"77", 77},   {"0x10", 16}, {"65535", 65535},
	    {"0", 123},	 {"65536", 123}, {"12a", 123}, {"-5", 123},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (cases[i].env)
			setenv("CLT_NAMESPACE", cases[i].env, 1);
		else
			unsetenv("CLT_NAMESPACE");
		assert_int_equal(check_namespace_id(), cases[i].want);
	}
	unsetenv("CLT_NAMESPACE");
}

static void test_caps(void **state)
{
	char names[64];
	uint64_t eff = ~0ull;

	assert_int_equal(check_caps_of(0, &eff), 0);
	assert_int_not_equal(eff, ~0ull);
	assert_int_equal(check_caps_of(0x7ffffff0, &eff), -ENOENT);
	assert_string_equal(
	    check_cap_names(CHECK_CAP_NET_ADMIN | CHECK_CAP_NET_RAW, names, sizeof(names)),
	    "CAP_NET_ADMIN CAP_NET_RAW");
	assert_string_equal(check_cap_names(CHECK_CAP_NET_RAW, names, sizeof(names)),
			    "CAP_NET_RAW");
	assert_string_equal(check_cap_names(1, names, sizeof(names)), "");
}

static void test_route_loopback(void **state)
{
	struct in6_addr dst = IN6ADDR_LOOPBACK_INIT, gw, src;
	char ifname[16] = "x";
	bool has_gw = true, has_src = false;

	assert_int_equal(check_route_get(&dst, ifname, &gw, &has_gw, &src, &has_src), 0);
	assert_string_equal(ifname, "lo");
	assert_false(has_gw);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lines_counted),
	    cmocka_unit_test(test_namespace_id),
	    cmocka_unit_test(test_caps),
	    cmocka_unit_test(test_route_loopback),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
