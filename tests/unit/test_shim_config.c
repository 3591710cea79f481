/*
 * test_shim_config.c - CLT_DOMAIN, CLT_PROPAGATORS and CLT_TAG_UNSAMPLED
 * parsing: prefixes match exactly their addresses, the default is
 * loopback + unique-local only, only sampled requests are tagged unless
 * asked otherwise, and anything malformed tags nothing rather than too much.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"

static bool in(const struct shim_config *cfg, const char *addr)
{
	struct in6_addr a;

	assert_int_equal(inet_pton(AF_INET6, addr, &a), 1);
	return config_in_domain(cfg, &a);
}

static void test_default_domain(void **state)
{
	struct shim_config cfg;

	(void)state;
	unsetenv("CLT_DOMAIN");
	unsetenv("CLT_PROPAGATORS");
	config_load(&cfg, false);
	assert_true(in(&cfg, "::1"));
	assert_true(in(&cfg, "fd00:2::2"));
	assert_true(in(&cfg, "fc00::1"));
	assert_true(in(&cfg, "fdff:ffff::1"));
	assert_false(in(&cfg, "fe80::1"));
	assert_false(in(&cfg, "2001:db8::1"));
	assert_false(in(&cfg, "::ffff:127.0.0.1")); /* IPv4-mapped: IOAM is IPv6 only */
	assert_false(in(&cfg, "::2"));
	assert_int_equal(cfg.n_order, 1);
	assert_int_equal(cfg.order[0], HTTP_PROP_TRACECONTEXT);
	assert_false(cfg.tag_unsampled);
}

static void test_domain_lists(void **state)
{
	struct shim_config cfg;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(config_parse_domain(&cfg, "2001:db8:10::/48, fd00:1::1"), 0);
	assert_int_equal(cfg.n_domain, 2);
	assert_true(in(&cfg, "2001:db8:10:ffff::1"));
	assert_false(in(&cfg, "2001:db8:11::1"));
	assert_true(in(&cfg, "fd00:1::1"));
	assert_false(in(&cfg, "fd00:1::2"));
	assert_int_equal(config_parse_domain(&cfg, "2001:db8::/33"), 0);
	assert_true(in(&cfg, "2001:db8:7fff::1"));
	assert_false(in(&cfg, "2001:db8:8000::1"));
	assert_int_equal(config_parse_domain(&cfg, "::/0"), 0);
	assert_true(in(&cfg, "2a00::1"));
	assert_int_equal(config_parse_domain(&cfg, "none"), 0);
	assert_false(in(&cfg, "::1"));
	/* Malformed: nothing at all is tagged. */
	assert_int_equal(config_parse_domain(&cfg, "::1/128,10.0.0.0/8"), -EINVAL);
	assert_int_equal(cfg.n_domain, 0);
	assert_int_equal(config_parse_domain(&cfg, "fd00::/129"), -EINVAL);
	assert_int_equal(config_parse_domain(&cfg, "fd00::/"), -EINVAL);
	assert_int_equal(config_parse_domain(&cfg, "fd00::/1x"), -EINVAL);
	assert_int_equal(config_parse_domain(&cfg, ","), -EINVAL);
	setenv("CLT_DOMAIN", "bogus", 1);
	config_load(&cfg, false);
	assert_false(in(&cfg, "::1"));
	/* Secure execution: the environment is not read. */
	config_load(&cfg, true);
	assert_true(in(&cfg, "::1"));
	unsetenv("CLT_DOMAIN");
}

static void test_propagators(void **state)
{
	struct shim_config cfg;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(config_parse_propagators(&cfg, "jaeger, b3,tracecontext,b3"), 0);
	assert_int_equal(cfg.n_order, 3);
	assert_int_equal(cfg.order[0], HTTP_PROP_JAEGER);
	assert_int_equal(cfg.order[1], HTTP_PROP_B3);
	assert_int_equal(cfg.order[2], HTTP_PROP_TRACECONTEXT);
	assert_int_equal(config_parse_propagators(&cfg, "b3multi"), 0);
	assert_int_equal(cfg.order[0], HTTP_PROP_B3MULTI);
	assert_int_equal(config_parse_propagators(&cfg, "xray"), -EINVAL);
	assert_int_equal(config_parse_propagators(&cfg, ""), -EINVAL);
	setenv("CLT_PROPAGATORS", "nope", 1);
	config_load(&cfg, false);
	assert_int_equal(cfg.n_order, 1);
	assert_int_equal(cfg.order[0], HTTP_PROP_TRACECONTEXT);
	unsetenv("CLT_PROPAGATORS");
}

static void test_tag_unsampled(void **state)
{
	static const char *const yes[] = { "1", "true", "TRUE", "yes", "On" };
	static const char *const no[] = { "0", "false", "No", "off" };
	static const char *const bad[] = { "", "2", "y", "1 ", "truee", "enable" };
	struct shim_config cfg;
	bool b;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		b = false;
		assert_int_equal(config_parse_bool(yes[i], &b), 0);
		assert_true(b);
	}
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		b = true;
		assert_int_equal(config_parse_bool(no[i], &b), 0);
		assert_false(b);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		b = true;
		assert_int_equal(config_parse_bool(bad[i], &b), -EINVAL);
		assert_true(b); /* untouched */
	}
	unsetenv("CLT_TAG_UNSAMPLED");
	config_load(&cfg, false);
	assert_false(cfg.tag_unsampled);
	setenv("CLT_TAG_UNSAMPLED", "1", 1);
	config_load(&cfg, false);
	assert_true(cfg.tag_unsampled);
	/* Secure execution: the environment is not read. */
	config_load(&cfg, true);
	assert_false(cfg.tag_unsampled);
	setenv("CLT_TAG_UNSAMPLED", "0", 1);
	config_load(&cfg, false);
	assert_false(cfg.tag_unsampled);
	setenv("CLT_TAG_UNSAMPLED", "", 1);
	config_load(&cfg, false);
	assert_false(cfg.tag_unsampled);
	/* Not a boolean: the default, sampled requests only (and an error line). */
	setenv("CLT_TAG_UNSAMPLED", "sometimes", 1);
	config_load(&cfg, false);
	assert_false(cfg.tag_unsampled);
	unsetenv("CLT_TAG_UNSAMPLED");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_domain),
		cmocka_unit_test(test_domain_lists),
		cmocka_unit_test(test_propagators),
		cmocka_unit_test(test_tag_unsampled),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
