/*
 * test_agent_config.c - cltagent configuration: OTEL_* environment,
 * flags overriding it, percent-decoding, durations and bad values,
 * bounds on what the environment and files may hold; the option table:
 * its defaults and bounds hold, --help lists exactly its rows, and -H
 * entries do not leak when a later flag is refused.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent_config.h"

static const char *const otel_vars[] = {
	"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
	"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
	"OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_EXPORTER_OTLP_TIMEOUT",
	"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_COMPRESSION",
	"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "OTEL_EXPORTER_OTLP_CERTIFICATE",
	"OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "OTEL_EXPORTER_OTLP_PROTOCOL",
	"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
};

static int clean_env(void **state)
{
	for (size_t i = 0; i < sizeof(otel_vars) / sizeof(otel_vars[0]); i++)
		unsetenv(otel_vars[i]);
	return 0;
}

static int load(struct agent_config *cfg, ...)
{
	char *argv[64] = {(char *)"cltagent"};
	int argc = 1;
	va_list ap;
	char *a;

	va_start(ap, cfg);
	while ((a = va_arg(ap, char *)) != NULL && argc < 63)
		argv[argc++] = a;
	va_end(ap);
	return agent_config_load(cfg, argc, argv);
}

static const char *kv_get(const struct otlp_kv *l, size_t n, const char *k)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(l[i].key, k) == 0)
			return l[i].value;
	return NULL;
}

static void test_defaults(void **state)
{
	struct agent_config c;

	assert_int_equal(load(&c, NULL), CONFIG_RUN);
	assert_string_equal(c.source, "netlink");
	assert_string_equal(c.endpoint, "http://localhost:4318/v1/traces");
	assert_null(c.output);
	assert_string_equal(c.service_name, "cltagent");
	assert_int_equal(c.frac_unit_ns, 1000);
	assert_int_equal(c.layout, IOAM_LAYOUT_AUTO);
	assert_int_equal(c.shutdown_ms, 5000);
	assert_false(c.gzip);
	agent_config_free(&c);
}

static void test_env_endpoint(void **state)
{
	struct agent_config c;

	setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318", 1);
	assert_int_equal(load(&c, NULL), CONFIG_RUN);
	assert_string_equal(c.endpoint, "http://collector:4318/v1/traces");
	agent_config_free(&c);
	setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/base/", 1);
	assert_int_equal(load(&c, NULL), CONFIG_RUN);
	assert_string_equal(c.endpoint, "http://collector:4318/base/v1/traces");
	agent_config_free(&c);
	/* The signal-specific variable is used as is and wins. */
	setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://x.example/custom", 1);
	assert_int_equal(load(&c, NULL), CONFIG_RUN);
	assert_string_equal(c.endpoint, "https://x.example/custom");
	agent_config_free(&c);
	/* A flag wins over both; --output alone keeps an env endpoint. */
	assert_int_equal(load(&c, "-e", "http://[::1]:9999/v1/traces", NULL), CONFIG_RUN);
	assert_string_equal(c.endpoint, "http://[::1]:9999/v1/traces");
	agent_config_free(&c);
	assert_int_equal(load(&c, "--output", "-", NULL), CONFIG_RUN);
	assert_string_equal(c.endpoint, "https://x.example/custom");
	assert_string_equal(c.output, "-");
	agent_config_free(&c);
}

static void test_output_only(void **state)
{
	struct agent_config c;

	assert_int_equal(load(&c, "-o", "spans.jsonl", NULL), CONFIG_RUN);
	assert_null(c.endpoint); /* no endpoint asked for: file only */
	agent_config_free(&c);
	assert_int_equal(load(&c, "-o", "-", "--endpoint", "http://h/v1/traces", NULL), CONFIG_RUN);
	assert_string_equal(c.endpoint, "http://h/v1/traces");
	agent_config_free(&c);
}

static void test_headers_and_resource(void **state)
{
	struct agent_config c;

	setenv("OTEL_EXPORTER_OTLP_HEADERS", " api-key = secret%20value , bad, =x, x-a=1 ", 1);
	setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-a=2,x-bad=%zz", 1);
	setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-res,host.name=h%2C1,k=v%3Dw", 1);
	assert_int_equal(load(&c, "-H", "x-b=3", "-H", "api-key=flag", NULL), CONFIG_RUN);
	assert_string_equal(kv_get(c.headers, c.n_headers, "x-a"), "2");
	assert_string_equal(kv_get(c.headers, c.n_headers, "x-b"), "3");
	assert_string_equal(kv_get(c.headers, c.n_headers, "api-key"), "flag");
	assert_null(kv_get(c.headers, c.n_headers, "x-bad"));
	assert_null(kv_get(c.headers, c.n_headers, "bad"));
	assert_int_equal(c.n_headers, 3);
	assert_string_equal(c.service_name, "from-res");
	assert_string_equal(kv_get(c.resource, c.n_resource, "host.name"), "h,1");
	assert_string_equal(kv_get(c.resource, c.n_resource, "k"), "v=w");
	agent_config_free(&c);
	setenv("OTEL_SERVICE_NAME", "svc", 1);
	assert_int_equal(load(&c, NULL), CONFIG_RUN);
	assert_string_equal(c.service_name, "svc");
	agent_config_free(&c);
	assert_int_equal(load(&c, "--service-name", "flag-svc", NULL), CONFIG_RUN);
	assert_string_equal(c.service_name, "flag-svc");
	agent_config_free(&c);
}

static void test_percent_decode(void **state)
{
	char *s;

	s = agent_config_percent_decode("a%41%62c", 8);
	assert_string_equal(s, "aAbc");
	free(s);
	assert_null(agent_config_percent_decode("a%4", 3));
	assert_null(agent_config_percent_decode("a%", 2));
	assert_null(agent_config_percent_decode("%g1", 3));
	assert_null(agent_config_percent_decode("%00", 3)); /* no NUL smuggling */
	/* Length-bounded: the %41 past @len is not read. */
	s = agent_config_percent_decode("ab%41", 2);
	assert_string_equal(s, "ab");
	free(s);
}

static void test_env_misc(void **state)
{
	struct agent_config c;

	setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "2500", 1);
	setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip", 1);
	setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", "/etc/ca.pem", 1);
	assert_int_equal(load(&c, NULL), CONFIG_RUN);
	assert_int_equal(c.timeout_ms, 2500);
	assert_true(c.gzip);
	assert_string_equal(c.cacert, "/etc/ca.pem");
	agent_config_free(&c);
	setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "12abc", 1);
	assert_int_equal(load(&c, "--timeout", "750ms", NULL), CONFIG_RUN);
	assert_int_equal(c.timeout_ms, 750);
	agent_config_free(&c);
}

static void test_flags(void **state)
{
	struct agent_config c;

	assert_int_equal(load(&c, "-s", "pcap:x.pcap", "-l", "patched", "--ts-frac", "ptp",
			      "--idle-timeout", "250ms", "--max-age", "2m", "--max-requests", "10",
			      "--span-per-packet", "--export-untagged", "--node-name", "2=porthos",
			      "--node-name", "3=aramis", "--node-name", "2=router",
			      "--stats-interval", "10", "--shutdown-timeout", "1s", "--gzip",
			      "--batch-size", "7", "--queue-size", "3", "--retry-max-time", "5s",
			      "--late-window", "2s", "--late-max", "100", NULL),
			 CONFIG_RUN);
	assert_string_equal(c.source, "pcap:x.pcap");
	assert_int_equal(c.layout, IOAM_LAYOUT_PATCHED);
	assert_int_equal(c.frac_unit_ns, 0);
	assert_int_equal(c.idle_ms, 250);
	assert_int_equal(c.max_age_ms, 120000);
	assert_int_equal(c.max_requests, 10);
	assert_true(c.span_per_packet);
	assert_true(c.export_untagged);
	assert_int_equal(c.n_names, 2);
	assert_int_equal(c.names[0].id, 2);
	assert_string_equal(c.names[0].name, "router");
	assert_string_equal(c.names[1].name, "aramis");
	assert_int_equal(c.stats_interval_s, 10);
	assert_int_equal(c.shutdown_ms, 1000);
	assert_true(c.gzip);
	assert_int_equal(c.batch_size, 7);
	assert_int_equal(c.queue_size, 3);
	assert_int_equal(c.retry_max_ms, 5000);
	assert_int_equal(c.late_window_ms, 2000);
	assert_int_equal(c.late_max, 100);
	agent_config_free(&c);
	assert_int_equal(load(&c, "--late-window", "0", NULL), CONFIG_RUN);
	assert_int_equal(c.late_window_ms, 0);
	assert_int_equal(c.late_max, 65536);
	agent_config_free(&c);
}

static void test_bad_values(void **state)
{
	static const char *const bad[][2] = {
		{"--source", "tcp:1"}, {"--layout", "sideways"}, {"--ts-frac", "msec"},
		{"--idle-timeout", "5h"}, {"--idle-timeout", "-1"}, {"--max-age", "0"},
		{"--max-requests", "0"}, {"--max-requests", "99999999999"},
		{"--node-name", "x=y"}, {"--node-name", "3="}, {"--node-name", "=a"},
		{"--header", "novalue"}, {"--batch-size", "1e3"}, {"--timeout", ""},
		{"--late-window", "x"}, {"--late-max", "0"}, {"--late-max", "99999999999"},
	};
	struct agent_config c;
	FILE *saved = stderr;

	stderr = fopen("/dev/null", "w");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = load(&c, bad[i][0], bad[i][1], NULL);

		if (rc != -EINVAL)
			fprintf(saved, "accepted %s %s\n", bad[i][0], bad[i][1]);
		assert_int_equal(rc, -EINVAL);
		agent_config_free(&c);
	}
	assert_int_equal(load(&c, "extra-arg", NULL), -EINVAL);
	agent_config_free(&c);
	fclose(stderr);
	stderr = saved;
}

static void test_node_names_file(void **state)
{
	char path[] = "/tmp/clt-names-XXXXXX";
	int fd = mkstemp(path);
	struct agent_config c;
	FILE *f;

	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs("# the demo\n2=porthos\n\n  3=aramis  \n", f);
	fclose(f);
	assert_int_equal(load(&c, "--node-names", path, NULL), CONFIG_RUN);
	assert_int_equal(c.n_names, 2);
	assert_string_equal(c.names[1].name, "aramis");
	agent_config_free(&c);
	unlink(path);
}

/* A line longer than the reader's buffer is refused, not read as several lines. */
static void test_node_names_long_line(void **state)
{
	char path[] = "/tmp/clt-names-XXXXXX";
	int fd = mkstemp(path);
	struct agent_config c;
	FILE *f, *saved = stderr;

	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs("2=a", f);
	for (int i = 0; i < 300; i++)
		fputc('x', f);
	fputs("5=injected\n3=b\n", f);
	fclose(f);
	stderr = fopen("/dev/null", "w");
	assert_int_equal(load(&c, "--node-names", path, NULL), -EINVAL);
	fclose(stderr);
	stderr = saved;
	agent_config_free(&c);
	unlink(path);
}

/* The environment is not trusted to be small: lists are bounded. */
static void test_env_bounds(void **state)
{
	char *big = malloc(600 * 16 + 8200), *p = big;
	struct agent_config c;
	FILE *saved = stderr;

	assert_non_null(big);
	for (int i = 0; i < 600; i++)
		p += snprintf(p, 16, "k%d=v,", i);
	p += snprintf(p, 8, "long=");
	memset(p, 'v', 8192);
	p[8192] = '\0';
	setenv("OTEL_RESOURCE_ATTRIBUTES", big, 1);
	stderr = fopen("/dev/null", "w");
	assert_int_equal(load(&c, NULL), CONFIG_RUN);
	fclose(stderr);
	stderr = saved;
	assert_int_equal(c.n_resource, 128);
	assert_string_equal(c.resource[0].key, "k0");
	assert_null(kv_get(c.resource, c.n_resource, "long"));
	agent_config_free(&c);
	free(big);
}

static void test_help_version(void **state)
{
	struct agent_config c;
	FILE *saved = stdout;

	stdout = fopen("/dev/null", "w");
	assert_int_equal(load(&c, "--help", NULL), CONFIG_EXIT_OK);
	agent_config_free(&c);
	assert_int_equal(load(&c, "-V", NULL), CONFIG_EXIT_OK);
	agent_config_free(&c);
	fclose(stdout);
	stdout = saved;
}

/* Every default the table names is the value a run without flags gets. */
static void test_table_defaults(void **state)
{
	struct agent_config c;

	assert_int_equal(load(&c, NULL), CONFIG_RUN);
	for (size_t i = 0; i < agent_n_options; i++) {
		const struct agent_option *o = &agent_options[i];
		const char *at = (const char *)&c + o->offset;
		uint32_t v, want = o->def;

		switch (o->kind) {
		case AGENT_OPT_DURATION:
			if (o->scale > 1)
				want = (want + o->scale - 1) / o->scale;
			/* fall through */
		case AGENT_OPT_U32:
		case AGENT_OPT_CHOICE:
			memcpy(&v, at, sizeof(v));
			if (v != want)
				fprintf(stderr, "--%s: default %u, table says %u\n", o->name, v, want);
			assert_int_equal(v, want);
			break;
		case AGENT_OPT_STRING:
			if (o->def_str)
				assert_string_equal(*(char *const *)(const void *)at, o->def_str);
			break;
		default:
			break;
		}
	}
	/* The values themselves, as documented (a table edit shows here). */
	assert_int_equal(c.idle_ms, 500);
	assert_int_equal(c.max_age_ms, 10000);
	assert_int_equal(c.max_requests, 16384);
	assert_int_equal(c.rcvbuf, 8u << 20);
	assert_int_equal(c.tag_rate, 20000);
	assert_int_equal(c.tag_max_conns, 1024);
	assert_int_equal(c.stats_interval_s, 0);
	assert_null(c.tag_socket);
	agent_config_free(&c);
}

/* Each numeric row accepts its bounds and refuses one past them. */
static void test_table_bounds(void **state)
{
	struct agent_config c;
	FILE *saved = stderr;
	char flag[64], val[32];

	stderr = fopen("/dev/null", "w");
	for (size_t i = 0; i < agent_n_options; i++) {
		const struct agent_option *o = &agent_options[i];
		const char *unit = o->kind == AGENT_OPT_DURATION ? "ms" : "";
		uint64_t lo = o->min, hi = o->max;
		int rc;

		if (o->kind != AGENT_OPT_U32 && o->kind != AGENT_OPT_DURATION)
			continue;
		snprintf(flag, sizeof(flag), "--%s", o->name);
		snprintf(val, sizeof(val), "%" PRIu64 "%s", lo, unit);
		rc = load(&c, flag, val, NULL);
		if (rc != CONFIG_RUN)
			fprintf(saved, "refused %s %s\n", flag, val);
		assert_int_equal(rc, CONFIG_RUN);
		agent_config_free(&c);
		snprintf(val, sizeof(val), "%" PRIu64 "%s", hi, unit);
		assert_int_equal(load(&c, flag, val, NULL), CONFIG_RUN);
		if (o->kind == AGENT_OPT_U32) {
			uint32_t v;

			memcpy(&v, (char *)&c + o->offset, sizeof(v));
			assert_int_equal(v, hi);
		}
		agent_config_free(&c);
		if (lo > 0) {
			snprintf(val, sizeof(val), "%" PRIu64 "%s", lo - 1, unit);
			assert_int_equal(load(&c, flag, val, NULL), -EINVAL);
			agent_config_free(&c);
		}
		snprintf(val, sizeof(val), "%" PRIu64 "%s", hi + 1, unit);
		rc = load(&c, flag, val, NULL);
		if (rc != -EINVAL)
			fprintf(saved, "accepted %s %s\n", flag, val);
		assert_int_equal(rc, -EINVAL);
		agent_config_free(&c);
	}
	fclose(stderr);
	stderr = saved;
}

/* The error message names the flag and the value (scripts and people read it). */
static void test_error_message(void **state)
{
	char path[] = "/tmp/clt-cfg-err-XXXXXX", buf[256] = "";
	int fd = mkstemp(path);
	struct agent_config c;
	FILE *saved = stderr;

	assert_true(fd >= 0);
	stderr = fdopen(fd, "w+");
	assert_int_equal(load(&c, "--max-age", "0", NULL), -EINVAL);
	agent_config_free(&c);
	assert_int_equal(load(&c, "-l", "sideways", NULL), -EINVAL);
	agent_config_free(&c);
	fflush(stderr);
	rewind(stderr);
	assert_int_equal(fread(buf, 1, sizeof(buf) - 1, stderr) > 0, 1);
	fclose(stderr);
	stderr = saved;
	unlink(path);
	assert_string_equal(buf, "cltagent: invalid --max-age '0' (see --help)\n"
				 "cltagent: invalid --layout 'sideways' (see --help)\n");
}

/* -H entries are held until the whole command line parsed: a later bad
 * flag must not leak them (LeakSanitizer in the SANITIZE=1 build). */
static void test_header_no_leak(void **state)
{
	struct agent_config c;
	FILE *saved = stderr;

	stderr = fopen("/dev/null", "w");
	assert_int_equal(load(&c, "-H", "a=1", "-H", "b=2", "--max-age", "0", NULL), -EINVAL);
	agent_config_free(&c);
	assert_int_equal(load(&c, "-H", "a=1", "-H", "novalue", NULL), -EINVAL);
	agent_config_free(&c);
	assert_int_equal(load(&c, "--header", "a=1", "extra-arg", NULL), -EINVAL);
	agent_config_free(&c);
	assert_int_equal(load(&c, "-H", "a=1", "--no-such-flag", NULL), -EINVAL);
	agent_config_free(&c);
	fclose(stderr);
	stderr = saved;
	saved = stdout;
	stdout = fopen("/dev/null", "w");
	assert_int_equal(load(&c, "-H", "a=1", "--help", NULL), CONFIG_EXIT_OK);
	fclose(stdout);
	stdout = saved;
	agent_config_free(&c);
}

/* --help lists exactly the table's options, each once, short names included. */
static void test_help_is_the_table(void **state)
{
	char path[] = "/tmp/clt-cfg-help-XXXXXX", line[256];
	int fd = mkstemp(path);
	size_t listed = 0;
	FILE *f;

	assert_true(fd >= 0);
	f = fdopen(fd, "w+");
	agent_config_usage(f);
	rewind(f);
	while (fgets(line, sizeof(line), f)) {
		char name[64] = "", sh = 0;
		size_t i;

		/* "  -s, --source SPEC ..." or "      --idle-timeout D ..." */
		if (sscanf(line, "  -%c, --%63[a-z-]", &sh, name) != 2 &&
		    sscanf(line, "      --%63[a-z-]", name) != 1)
			continue;
		if (line[2] != '-')
			sh = 0;
		for (i = 0; i < agent_n_options; i++)
			if (strcmp(agent_options[i].name, name) == 0)
				break;
		if (i == agent_n_options)
			fprintf(stderr, "--help lists --%s, not in the table\n", name);
		assert_true(i < agent_n_options);
		assert_int_equal(agent_options[i].short_name, sh);
		listed++;
	}
	fclose(f);
	unlink(path);
	assert_int_equal(listed, agent_n_options);
	/* Every name is unique, and so is every short name. */
	for (size_t i = 0; i < agent_n_options; i++)
		for (size_t j = i + 1; j < agent_n_options; j++) {
			assert_string_not_equal(agent_options[i].name, agent_options[j].name);
			assert_false(agent_options[i].short_name &&
				     agent_options[i].short_name == agent_options[j].short_name);
		}
}

/* Every short name works as its long one does. */
static void test_short_names(void **state)
{
	struct agent_config c;

	assert_int_equal(load(&c, "-s", "capture:lo", "-l", "none", "-e", "http://e/v1/traces",
			      "-o", "-", "-H", "k=v", "-v", "-v", NULL), CONFIG_RUN);
	assert_string_equal(c.source, "capture:lo");
	assert_int_equal(c.layout, IOAM_LAYOUT_NONE);
	assert_string_equal(c.endpoint, "http://e/v1/traces");
	assert_string_equal(c.output, "-");
	assert_string_equal(kv_get(c.headers, c.n_headers, "k"), "v");
	assert_int_equal(c.verbose, 2);
	agent_config_free(&c);
	assert_int_equal(load(&c, "--tag-socket", "none", "--stats-interval", "1500ms",
			      "--tag-rate", "7", NULL), CONFIG_RUN);
	assert_string_equal(c.tag_socket, "");
	assert_int_equal(c.stats_interval_s, 2); /* rounded up to whole seconds */
	assert_int_equal(c.tag_rate, 7);
	agent_config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_defaults, clean_env),
		cmocka_unit_test_setup(test_env_endpoint, clean_env),
		cmocka_unit_test_setup(test_output_only, clean_env),
		cmocka_unit_test_setup(test_headers_and_resource, clean_env),
		cmocka_unit_test_setup(test_percent_decode, clean_env),
		cmocka_unit_test_setup(test_env_misc, clean_env),
		cmocka_unit_test_setup(test_flags, clean_env),
		cmocka_unit_test_setup(test_bad_values, clean_env),
		cmocka_unit_test_setup(test_node_names_file, clean_env),
		cmocka_unit_test_setup(test_node_names_long_line, clean_env),
		cmocka_unit_test_setup(test_env_bounds, clean_env),
		cmocka_unit_test_setup(test_help_version, clean_env),
		cmocka_unit_test_setup(test_table_defaults, clean_env),
		cmocka_unit_test_setup(test_table_bounds, clean_env),
		cmocka_unit_test_setup(test_error_message, clean_env),
		cmocka_unit_test_setup(test_header_no_leak, clean_env),
		cmocka_unit_test_setup(test_help_is_the_table, clean_env),
		cmocka_unit_test_setup(test_short_names, clean_env),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
