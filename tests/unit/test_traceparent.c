/*
 * test_traceparent.c - W3C traceparent parsing and formatting: the valid
 * forms, and every form the specification says to ignore.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "clt/traceparent.h"

#define TP_OK "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

static int parse(struct tp_context *tp, const char *s)
{
	return tp_parse(tp, s, strlen(s));
}

static void test_valid_v00(void **state)
{
	static const uint8_t trace[16] = {0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd,
					  0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80, 0x31, 0x9c};
	static const uint8_t parent[8] = {0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31};
	struct tp_context tp;

	assert_int_equal(parse(&tp, TP_OK), 0);
	assert_int_equal(tp.version, 0);
	assert_memory_equal(tp.trace_id, trace, 16);
	assert_memory_equal(tp.parent_id, parent, 8);
	assert_int_equal(tp.flags, TP_FLAG_SAMPLED);
	/* Flags other than sampled are carried, not rejected. */
	assert_int_equal(parse(&tp, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"), 0);
	assert_int_equal(tp.flags, 0);
	assert_int_equal(parse(&tp, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-ff"), 0);
	assert_int_equal(tp.flags, 0xff);
}

static void test_ows(void **state)
{
	struct tp_context tp;

	assert_int_equal(parse(&tp, " \t" TP_OK "\t "), 0);
	assert_int_equal(parse(&tp, "   " TP_OK), 0);
	/* Other whitespace is not OWS. */
	assert_int_equal(parse(&tp, "\n" TP_OK), -EINVAL);
	assert_int_equal(parse(&tp, TP_OK "\r"), -EINVAL);
	/* The length bounds the value: no reading past it. */
	assert_int_equal(tp_parse(&tp, TP_OK "garbage", strlen(TP_OK)), 0);
	assert_int_equal(tp_parse(&tp, TP_OK, strlen(TP_OK) - 1), -EINVAL);
}

static void test_invalid(void **state)
{
	static const char *const bad[] = {
		"",
		"00",
		/* uppercase hex */
		"00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01",
		"00-0af7651916cd43dd8448eb211c80319c-B7ad6b7169203331-01",
		"0A-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		/* all-zero ids */
		"00-00000000000000000000000000000000-b7ad6b7169203331-01",
		"00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
		/* version ff */
		"ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		/* short and long fields */
		"00-0af7651916cd43dd8448eb211c80319-b7ad6b7169203331-01",
		"00-0af7651916cd43dd8448eb211c80319cc-b7ad6b7169203331-01",
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01",
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-1",
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-011",
		"0-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		/* version 00 with anything appended */
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-",
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
		/* wrong separators, non-hex */
		"00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		"00-0af7651916cd43dd8448eb211c80319c_b7ad6b7169203331-01",
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331_01",
		"00-0af7651916cd43dd8448eb211c80319g-b7ad6b7169203331-01",
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0x",
		/* future version: flags must be followed by '-' */
		"01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01x",
		"cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01abc",
	};
	struct tp_context tp;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		print_message("rejects [%s]\n", bad[i]);
		assert_int_equal(parse(&tp, bad[i]), -EINVAL);
	}
	assert_int_equal(tp_parse(NULL, TP_OK, strlen(TP_OK)), -EINVAL);
	assert_int_equal(tp_parse(&tp, NULL, 0), -EINVAL);
}

static void test_future_version(void **state)
{
	struct tp_context tp;

	assert_int_equal(parse(&tp, "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"), 0);
	assert_int_equal(tp.version, 1);
	assert_int_equal(
		parse(&tp, "cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-what-ever"), 0);
	assert_int_equal(tp.version, 0xcc);
	assert_int_equal(tp.flags, 1);
	assert_int_equal(tp.trace_id[0], 0x0a);
	/* A future version may end right after the '-' that follows the flags. */
	assert_int_equal(parse(&tp, "fe-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-"), 0);
	assert_int_equal(tp.version, 0xfe);
	/* ... but still needs the version 00 fields in full. */
	assert_int_equal(parse(&tp, "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0-x"), -EINVAL);
	assert_int_equal(parse(&tp, "01-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01-x"), -EINVAL);
}

static void test_format_roundtrip(void **state)
{
	struct tp_context tp, back;
	char out[TP_VALUE_LEN + 1];

	assert_int_equal(parse(&tp, TP_OK), 0);
	memset(out, 'x', sizeof(out));
	tp_format(out, &tp);
	assert_string_equal(out, TP_OK);
	/* A future version is re-emitted as 00 (the layout we know). */
	assert_int_equal(parse(&tp, "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-x"), 0);
	tp_format(out, &tp);
	assert_string_equal(out, TP_OK);
	assert_int_equal(parse(&back, out), 0);
	assert_memory_equal(back.trace_id, tp.trace_id, 16);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_v00),     cmocka_unit_test(test_ows),
		cmocka_unit_test(test_invalid),       cmocka_unit_test(test_future_version),
		cmocka_unit_test(test_format_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
