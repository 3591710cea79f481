/*
 * test_clt_api.c - the public CLT API: CLT_* environment and option
 * parsing (strict, with explanations), backend names, auto selection with
 * and without CAP_NET_RAW, an agent found after clt_open(), and the socket
 * checks of clt_enable().
 */
#include <errno.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "clt/clt.h"
#include "clt/ioam.h"

/* lib/tcp_size.c (internal; the unit tests link libclt.a). */
int clt_tcp_maxseg_for(size_t opt_len, unsigned int min_tso_segs);
int clt_tcp_maxseg_bpf(int maxseg, size_t opt_len, int bpf);
int clt_have_cap_net_raw(void);

static const uint8_t tid[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static const uint8_t sid[8] = {1, 2, 3, 4, 5, 6, 7, 8};

static void clear_env(void)
{
	unsetenv("CLT_BACKEND");
	unsetenv("CLT_NAMESPACE");
	unsetenv("CLT_TRACE_TYPE");
	unsetenv("CLT_HOPS");
	unsetenv("CLT_AGENT_SOCKET");
	unsetenv("CLT_AGENT_TIMEOUT_MS");
}

static int setup(void **state)
{
	clear_env();
	return 0;
}

/* Expect clt_check_options() and clt_open() to refuse the environment,
 * with an explanation mentioning @needle. */
static void expect_env_error(const char *var, const char *value, const char *needle)
{
	struct clt_ctx *ctx = (struct clt_ctx *)1;
	const char *why = NULL;

	clear_env();
	setenv(var, value, 1);
	assert_int_equal(clt_check_options(NULL, &why), -EINVAL);
	assert_non_null(why);
	print_message("%s=[%s] -> %s\n", var, value, why);
	assert_non_null(strstr(why, needle));
	assert_int_equal(clt_open(&ctx, NULL), -EINVAL);
	assert_null(ctx);
}

static void expect_env_ok(const char *var, const char *value)
{
	const char *why = "unset";

	clear_env();
	setenv(var, value, 1);
	setenv("CLT_BACKEND", "off", 1);
	assert_int_equal(clt_check_options(NULL, &why), 0);
	assert_null(why);
}

static void test_env_strict(void **state)
{
	expect_env_error("CLT_HOPS", "8x", "CLT_HOPS");
	expect_env_error("CLT_HOPS", " 8", "CLT_HOPS");
	expect_env_error("CLT_HOPS", "+8", "CLT_HOPS");
	expect_env_error("CLT_HOPS", "-1", "CLT_HOPS");
	expect_env_error("CLT_HOPS", "", "CLT_HOPS");
	expect_env_error("CLT_HOPS", "0", "CLT_HOPS");
	expect_env_error("CLT_HOPS", "62", "CLT_HOPS");
	expect_env_error("CLT_HOPS", "99999999999999999999999", "CLT_HOPS");
	expect_env_error("CLT_HOPS", "12", "255"); /* 240 octets fit 244, the option not 255 */
	expect_env_error("CLT_HOPS", "13", "244");
	expect_env_error("CLT_HOPS", "0x10", "244");
	expect_env_error("CLT_TRACE_TYPE", "0x1000000", "CLT_TRACE_TYPE");
	expect_env_error("CLT_TRACE_TYPE", "0xg", "CLT_TRACE_TYPE");
	expect_env_error("CLT_TRACE_TYPE", "0x", "CLT_TRACE_TYPE");
	expect_env_error("CLT_TRACE_TYPE", "0", "CLT_TRACE_TYPE");
	expect_env_error("CLT_TRACE_TYPE", "0x800002", "opaque");
	expect_env_error("CLT_TRACE_TYPE", "0x800001", "reserved");
	expect_env_error("CLT_TRACE_TYPE", "0xf20800", "undefined"); /* bit 12 */
	expect_env_error("CLT_TRACE_TYPE", "0x800004", "undefined"); /* bit 21 */
	expect_env_error("CLT_NAMESPACE", "65536", "CLT_NAMESPACE");
	expect_env_error("CLT_NAMESPACE", "abc", "CLT_NAMESPACE");
	expect_env_error("CLT_BACKEND", "bogus", "CLT_BACKEND");
	expect_env_ok("CLT_HOPS", "10");
	expect_env_ok("CLT_HOPS", "0x4");
	expect_env_ok("CLT_TRACE_TYPE", "0xc20000");
	expect_env_ok("CLT_TRACE_TYPE", "12713984"); /* 0xc20000 in decimal */
	expect_env_ok("CLT_NAMESPACE", "0xffff");
	expect_env_ok("CLT_NAMESPACE", "0");
	clear_env();
}

static void test_options(void **state)
{
	struct clt_options o;
	struct clt_ctx *ctx = NULL;
	const char *why = NULL;

	memset(&o, 0, sizeof(o));
	o.backend = CLT_BACKEND_OFF;
	o.namespace_id = 0x10000;
	assert_int_equal(clt_check_options(&o, &why), -EINVAL);
	assert_non_null(strstr(why, "0xffff"));
	o.namespace_id = 7;
	o.trace_type = 0x800002; /* opaque */
	assert_int_equal(clt_check_options(&o, &why), -EINVAL);
	o.trace_type = 0;
	o.hops = 100;
	assert_int_equal(clt_check_options(&o, &why), -EINVAL);
	o.hops = 0;
	o.backend = (enum clt_backend)42;
	assert_int_equal(clt_check_options(&o, &why), -EINVAL);

	/* Options win over the environment; ignore_env shuts it out. */
	setenv("CLT_HOPS", "nonsense", 1);
	memset(&o, 0, sizeof(o));
	o.backend = CLT_BACKEND_OFF;
	o.hops = 4;
	assert_int_equal(clt_check_options(&o, &why), 0);
	o.hops = 0;
	assert_int_equal(clt_check_options(&o, &why), -EINVAL);
	o.ignore_env = 1;
	assert_int_equal(clt_open(&ctx, &o), 0);
	assert_int_equal(clt_backend_get(ctx), CLT_BACKEND_OFF);
	print_message("off: %s\n", clt_backend_reason(ctx));
	assert_non_null(strstr(clt_backend_reason(ctx), "requested"));
	/* Off accepts anything and does nothing. */
	assert_int_equal(clt_enable(ctx, 0, tid, sid), 0);
	assert_int_equal(clt_disable(ctx, 0), 0);
	clt_close(ctx);
	clt_close(NULL);
	clear_env();

	/* The agent backend opens without an agent (it connects per request);
	 * a relative socket path is a configuration error. */
	memset(&o, 0, sizeof(o));
	o.backend = CLT_BACKEND_AGENT;
	o.agent_socket = "/nonexistent/clt-tag.sock";
	assert_int_equal(clt_check_options(&o, &why), 0);
	assert_int_equal(clt_open(&ctx, &o), 0);
	assert_int_equal(clt_backend_get(ctx), CLT_BACKEND_AGENT);
	clt_close(ctx);
	o.agent_socket = "relative.sock";
	ctx = (struct clt_ctx *)1;
	assert_int_equal(clt_open(&ctx, &o), -EINVAL);
	assert_null(ctx);
	assert_int_equal(clt_open(NULL, &o), -EINVAL);
}

static void test_names_and_errors(void **state)
{
	int b;

	for (b = CLT_BACKEND_AUTO; b <= CLT_BACKEND_AGENT; b++)
		assert_int_equal(clt_backend_parse(clt_backend_name((enum clt_backend)b)), b);
	assert_string_equal(clt_backend_name(CLT_BACKEND_HOPOPTS), "hopopts");
	assert_string_equal(clt_backend_name((enum clt_backend)99), "unknown");
	assert_int_equal(clt_backend_parse("HOPOPTS"), -EINVAL);
	assert_int_equal(clt_backend_parse(NULL), -EINVAL);
	assert_non_null(strstr(clt_strerror(-EPERM), "CAP_NET_RAW"));
	assert_non_null(strstr(clt_strerror(-EAFNOSUPPORT), "IPv6"));
	assert_non_null(strstr(clt_strerror(-EPROTONOSUPPORT), "TCP and UDP"));
	/* No agent-backend failure in this thread yet: plain wording. */
	assert_string_equal(clt_strerror(-ENOENT), "No such file or directory");
	assert_string_equal(clt_strerror(-100000), "unknown error");
}

/* clt_enable() through the agent backend at @path; @return its error and
 * the message clt_strerror() gives for it. */
static int agent_enable_error(const char *path, const char **msg)
{
	struct clt_options o;
	struct clt_ctx *ctx = NULL;
	int fd, rc;

	memset(&o, 0, sizeof(o));
	o.backend = CLT_BACKEND_AGENT;
	o.agent_socket = path;
	o.ignore_env = 1;
	assert_int_equal(clt_open(&ctx, &o), 0);
	fd = socket(AF_INET6, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	errno = 4321;
	rc = clt_enable(ctx, fd, tid, sid);
	assert_int_equal(errno, 4321); /* errno survives the failure too */
	*msg = clt_strerror(rc);
	print_message("agent at %s: %d: %s\n", path, rc, *msg);
	close(fd);
	clt_close(ctx);
	return rc;
}

/* With the agent stopped, the one warning a program logs must say what
 * to do, not "No such file or directory". */
static void test_agent_messages(void **state)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	const char *msg;
	int lfd;

	assert_int_equal(agent_enable_error("/nonexistent/clt-tag.sock", &msg), -ENOENT);
	assert_non_null(strstr(msg, "cltagent's tag socket /nonexistent/clt-tag.sock not found"));
	assert_non_null(strstr(msg, "is cltagent running?"));

	/* A socket file nobody listens on: an agent that died. */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/tmp/clt-test-api-%d.sock", (int)getpid());
	unlink(sa.sun_path);
	lfd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(agent_enable_error(sa.sun_path, &msg), -ECONNREFUSED);
	assert_non_null(strstr(msg, sa.sun_path));
	assert_non_null(strstr(msg, "not running"));
	close(lfd);
	unlink(sa.sun_path);

	/* The detail is for that error only; others keep the plain wording. */
	assert_string_equal(clt_strerror(-ENOENT), "No such file or directory");
	assert_non_null(strstr(clt_strerror(-EPERM), "CAP_NET_RAW"));
}

static int cap_net_raw_effective(int on)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data) != 0)
		return -1;
	if (on)
		data[0].effective |= CAP_TO_MASK(CAP_NET_RAW);
	else
		data[0].effective &= ~CAP_TO_MASK(CAP_NET_RAW);
	return (int)syscall(SYS_capset, &hdr, data);
}

static void test_auto_selection(void **state)
{
	struct clt_ctx *ctx = NULL;
	int fd;

	clear_env();
	/* No agent either (a cltagent may be serving the default path). */
	setenv("CLT_AGENT_SOCKET", "/nonexistent/clt-tag.sock", 1);
	/* Without CAP_NET_RAW (and no patched kernel): off, saying why. */
	if (cap_net_raw_effective(0) == 0) {
		assert_int_equal(clt_open(&ctx, NULL), 0);
		print_message("no CAP_NET_RAW: %s: %s\n", clt_backend_name(clt_backend_get(ctx)),
			      clt_backend_reason(ctx));
		if (clt_backend_get(ctx) != CLT_BACKEND_GENL) {
			assert_int_equal(clt_backend_get(ctx), CLT_BACKEND_OFF);
			assert_non_null(strstr(clt_backend_reason(ctx), "CAP_NET_RAW"));
		}
		clt_close(ctx);
		/* Explicit hopopts still opens; the kernel refuses the option. */
		setenv("CLT_BACKEND", "hopopts", 1);
		assert_int_equal(clt_open(&ctx, NULL), 0);
		fd = socket(AF_INET6, SOCK_DGRAM, 0);
		assert_true(fd >= 0);
		assert_int_equal(clt_enable(ctx, fd, tid, sid), -EPERM);
		close(fd);
		clt_close(ctx);
		clear_env();
		cap_net_raw_effective(1);
	} else {
		print_message("cannot drop CAP_NET_RAW here; off path not checked\n");	/* As root nothing stops this case: it must run. */
		assert_int_not_equal(geteuid(), 0);
	}
	/* With CAP_NET_RAW: hopopts unless the kernel is CLT-patched. */
	if (geteuid() == 0) {
		assert_int_equal(clt_open(&ctx, NULL), 0);
		print_message("root: %s: %s\n", clt_backend_name(clt_backend_get(ctx)),
			      clt_backend_reason(ctx));
		assert_true(clt_backend_get(ctx) == CLT_BACKEND_HOPOPTS ||
			    clt_backend_get(ctx) == CLT_BACKEND_GENL);
		clt_close(ctx);
	}
}

/* A service started before its cltagent: auto picks off, then the agent's
 * socket appears; clt_enable() probes again after a second, not before,
 * and the context switches to the agent for good. */
static void test_agent_found_later(void **state)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct clt_ctx *ctx = NULL;
	int lfd, cfd, fd, rc;

	if (cap_net_raw_effective(0) != 0) {
		print_message("cannot drop CAP_NET_RAW here; not checked\n");
		assert_int_not_equal(geteuid(), 0);
		return;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/tmp/clt-test-later-%d.sock", (int)getpid());
	unlink(sa.sun_path);
	setenv("CLT_AGENT_SOCKET", sa.sun_path, 1);
	setenv("CLT_AGENT_TIMEOUT_MS", "50", 1);
	assert_int_equal(clt_open(&ctx, NULL), 0);
	print_message("no agent yet: %s: %s\n", clt_backend_name(clt_backend_get(ctx)),
		      clt_backend_reason(ctx));
	if (clt_backend_get(ctx) == CLT_BACKEND_GENL) {
		print_message("CLT-patched kernel: genl, no agent needed; not checked\n");
		goto out;
	}
	assert_int_equal(clt_backend_get(ctx), CLT_BACKEND_OFF);
	assert_int_equal(clt_backend_may_change(ctx), 1);
	assert_non_null(strstr(clt_backend_reason(ctx), "probed again every second"));

	/* The agent comes up after the program opened its context. */
	lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	fd = socket(AF_INET6, SOCK_STREAM, 0);
	assert_true(fd >= 0);

	/* Within the same second: still off, and no connection attempted. */
	assert_int_equal(clt_enable(ctx, fd, tid, sid), 0);
	assert_int_equal(clt_enable_trusted(ctx, fd, tid, sid), 0);
	assert_int_equal(clt_disable(ctx, fd), 0);
	assert_int_equal(clt_backend_get(ctx), CLT_BACKEND_OFF);
	assert_int_equal(clt_backend_may_change(ctx), 1);
	assert_int_equal(accept(lfd, NULL, NULL), -1);
	assert_int_equal(errno, EAGAIN);
	print_message("same second: still off, no connection to the new socket\n");

	/* After the second: probed, found, the agent backend from now on.
	 * This fake agent never answers: the request itself times out. */
	usleep(1100 * 1000);
	rc = clt_enable(ctx, fd, tid, sid);
	print_message("after 1.1 s: enable %d; %s: %s\n", rc,
		      clt_backend_name(clt_backend_get(ctx)), clt_backend_reason(ctx));
	assert_int_equal(rc, -ETIMEDOUT);
	assert_int_equal(clt_backend_get(ctx), CLT_BACKEND_AGENT);
	assert_int_equal(clt_backend_may_change(ctx), 0);
	assert_non_null(strstr(clt_backend_reason(ctx), "found later"));
	assert_non_null(strstr(clt_backend_reason(ctx), sa.sun_path));
	cfd = accept(lfd, NULL, NULL);
	assert_true(cfd >= 0);
	/* For good: disable now goes to the agent too (and times out). */
	assert_int_equal(clt_disable(ctx, fd), -ETIMEDOUT);
	close(cfd);
	close(fd);
	close(lfd);
out:
	clt_close(ctx);
	unlink(sa.sun_path);
	clear_env();
	cap_net_raw_effective(1);
}

/* Auto picked hopopts for CAP_NET_RAW, then the process dropped it (a
 * server's worker after fork): the first refused enable switches the
 * context to the agent, retried at once; with no agent, to off (probing). */
static void test_privilege_dropped(void **state)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct clt_ctx *ctx = NULL;
	int lfd, fd, rc;

	if (geteuid() != 0 || cap_net_raw_effective(1) != 0) {
		print_message("no CAP_NET_RAW to drop here; not checked\n");
		return;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/tmp/clt-test-drop-%d.sock", (int)getpid());
	unlink(sa.sun_path);
	setenv("CLT_AGENT_SOCKET", sa.sun_path, 1);
	setenv("CLT_AGENT_TIMEOUT_MS", "50", 1);
	assert_int_equal(clt_open(&ctx, NULL), 0);
	if (clt_backend_get(ctx) != CLT_BACKEND_HOPOPTS) {
		print_message("auto picked %s here; not checked\n", clt_backend_name(clt_backend_get(ctx)));
		goto out;
	}
	fd = socket(AF_INET6, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(clt_enable(ctx, fd, tid, sid), 0);
	/* An agent that accepts but never answers: the retried request times out. */
	lfd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	assert_int_equal(cap_net_raw_effective(0), 0);
	rc = clt_enable(ctx, fd, tid, sid);
	print_message("after dropping CAP_NET_RAW: enable %d; %s: %s\n", rc,
		      clt_backend_name(clt_backend_get(ctx)), clt_backend_reason(ctx));
	assert_int_equal(rc, -ETIMEDOUT);
	assert_int_equal(clt_backend_get(ctx), CLT_BACKEND_AGENT);
	assert_non_null(strstr(clt_backend_reason(ctx), "no CAP_NET_RAW any more"));
	assert_int_equal(clt_backend_disabled(ctx), 0);
	close(lfd);
	close(fd);
	clt_close(ctx);
	cap_net_raw_effective(1);

	/* No agent at all: off, probing for it; never "disabled". */
	unlink(sa.sun_path);
	assert_int_equal(clt_open(&ctx, NULL), 0);
	assert_int_equal(clt_backend_get(ctx), CLT_BACKEND_HOPOPTS);
	fd = socket(AF_INET6, SOCK_DGRAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(cap_net_raw_effective(0), 0);
	assert_int_equal(clt_enable(ctx, fd, tid, sid), 0);
	assert_int_equal(clt_backend_get(ctx), CLT_BACKEND_OFF);
	assert_int_equal(clt_backend_may_change(ctx), 1);
	assert_int_equal(clt_backend_disabled(ctx), 0);
	close(fd);
out:
	clt_close(ctx);
	unlink(sa.sun_path);
	clear_env();
	cap_net_raw_effective(1);
}

/* The agent's socket never appears: every probe fails, the context stays
 * off, and closing it releases what the later probe would have used. */
static void test_agent_never_comes(void **state)
{
	struct clt_ctx *ctx = NULL;
	int fd;

	if (cap_net_raw_effective(0) != 0) {
		print_message("cannot drop CAP_NET_RAW here; not checked\n");
		assert_int_not_equal(geteuid(), 0);
		return;
	}
	setenv("CLT_AGENT_SOCKET", "/nonexistent/clt-tag.sock", 1);
	assert_int_equal(clt_open(&ctx, NULL), 0);
	if (clt_backend_get(ctx) == CLT_BACKEND_OFF) {
		fd = socket(AF_INET6, SOCK_DGRAM, 0);
		assert_true(fd >= 0);
		usleep(1100 * 1000);
		assert_int_equal(clt_enable(ctx, fd, tid, sid), 0);
		assert_int_equal(clt_backend_get(ctx), CLT_BACKEND_OFF);
		assert_int_equal(clt_backend_may_change(ctx), 1);
		close(fd);
	}
	clt_close(ctx);
	/* An explicit off never changes. */
	setenv("CLT_BACKEND", "off", 1);
	assert_int_equal(clt_open(&ctx, NULL), 0);
	assert_int_equal(clt_backend_may_change(ctx), 0);
	clt_close(ctx);
	clear_env();
	cap_net_raw_effective(1);
}

/* min_tso_segs segments (at least two) and one TCP header of up to 60
 * octets fit IPv6's 65535 octets of payload: untagged (segments of the
 * clamp) and tagged (segments of clamp - option, plus the option); it is
 * the largest such value, and TCP_MAXSEG itself stops at 32767. */
static void expect_maxseg_fits(size_t opt, unsigned int segs)
{
	int c = clt_tcp_maxseg_for(opt, segs);
	unsigned long k = segs < 2 ? 2 : segs;

	assert_true(c > 0 && c <= 32767);
	assert_true(k * (unsigned long)c + 60 <= 65535);
	if ((unsigned long)c > opt) /* else the kernel's smallest MSS (88) holds */
		assert_true(k * ((unsigned long)c - opt) + 60 + opt <= 65535);
	if (c < 32767)
		assert_true(k * ((unsigned long)c + 1) + 60 > 65535);
}

static void test_tcp_maxseg(void **state)
{
	struct ioam_hbh_config cfg = {CLT_DEFAULT_NAMESPACE, CLT_DEFAULT_TRACE_TYPE, CLT_DEFAULT_HOPS, 0};
	struct clt_options o;
	struct clt_ctx *ctx = NULL;
	unsigned int segs;
	int fd, v;
	socklen_t len = sizeof(v);

	/* The default option (208 octets): two segments of 32737. */
	assert_int_equal(ioam_hbh_size(&cfg), 208);
	assert_int_equal(clt_tcp_maxseg_for(208, 2), 32737);
	assert_int_equal(clt_tcp_maxseg_for(208, 1), 32737); /* at least two, always */
	assert_int_equal(clt_tcp_maxseg_for(208, 3), (65535 - 60) / 3);
	for (segs = 1; segs <= 255; segs++) {
		expect_maxseg_fits(8, segs);
		expect_maxseg_fits(208, segs);
		expect_maxseg_fits(264, segs);
	}
	/* bpf: the kernel does not take the option off; a 1500-octet path
	 * keeps 1440 - 208 = 1232 (packets of 1500 once tagged). */
	assert_int_equal(clt_tcp_maxseg_bpf(32737, 208, 1), 1232);
	assert_int_equal(clt_tcp_maxseg_bpf(32737, 208, 0), 32737);
	assert_int_equal(clt_tcp_maxseg_bpf(1000, 208, 1), 792);
	assert_int_equal(clt_tcp_maxseg_bpf(0, 208, 1), 0);
	assert_int_equal(clt_tcp_maxseg_for(0, 2), 0);     /* nothing added */
	assert_int_equal(clt_tcp_maxseg_for(65500, 2), 0); /* nothing fits */

	/* Through a context: the configured option's size; off: no clamp. */
	memset(&o, 0, sizeof(o));
	o.backend = CLT_BACKEND_HOPOPTS;
	o.ignore_env = 1;
	o.hops = 1;
	assert_int_equal(clt_open(&ctx, &o), 0);
	cfg.hops = 1;
	assert_int_equal(clt_tcp_maxseg(ctx), clt_tcp_maxseg_for(ioam_hbh_size(&cfg), 2));
	fd = socket(AF_INET6, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(clt_tcp_clamp(ctx, fd), 0);
	assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &v, &len), 0);
	assert_int_equal(v, clt_tcp_maxseg(ctx));
	close(fd);
	/* A smaller value the application set is kept. */
	fd = socket(AF_INET6, SOCK_STREAM, 0);
	v = 1200;
	assert_int_equal(setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &v, sizeof(v)), 0);
	assert_int_equal(clt_tcp_clamp(ctx, fd), 0);
	len = sizeof(v);
	assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &v, &len), 0);
	assert_int_equal(v, 1200);
	close(fd);
	/* A listener without the room: room for a response's option (trailer
	 * v2) on a 1500-octet path. */
	cfg.trailer_version = 2;
	fd = socket(AF_INET6, SOCK_STREAM, 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(clt_tcp_clamp_flags(ctx, fd, 0x80), -EINVAL);
	assert_int_equal(clt_tcp_clamp_flags(ctx, fd, CLT_CLAMP_NO_ROOM), 0);
	len = sizeof(v);
	assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &v, &len), 0);
	assert_int_equal(v, 1440 - (int)ioam_hbh_size(&cfg));
	close(fd);
	/* With CAP_NET_RAW, the room: a destination options header of the
	 * response option's size, options of type 0x1e only, and the plain
	 * clamp; clt_tcp_accepted() takes it off again. */
	if (clt_have_cap_net_raw()) {
		uint8_t room[512];
		socklen_t rl = sizeof(room);
		size_t at;

		fd = socket(AF_INET6, SOCK_STREAM, 0);
		assert_int_equal(listen(fd, 1), 0);
		assert_int_equal(clt_tcp_accepted(ctx, fd), 0); /* no room yet */
		assert_int_equal(clt_tcp_clamp(ctx, fd), 0);
		len = sizeof(v);
		assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &v, &len), 0);
		assert_int_equal(v, clt_tcp_maxseg(ctx));
		assert_int_equal(getsockopt(fd, IPPROTO_IPV6, IPV6_DSTOPTS, room, &rl), 0);
		assert_int_equal(rl, ioam_hbh_size(&cfg));
		assert_int_equal(room[1], rl / 8 - 1);
		for (at = 2; at < rl; at += 2 + room[at + 1])
			assert_int_equal(room[at], 0x1e);
		assert_int_equal(at, rl);
		assert_int_equal(clt_tcp_clamp(ctx, fd), 0); /* again: kept */
		assert_int_equal(clt_tcp_accepted(ctx, fd), 1);
		rl = sizeof(room);
		assert_int_equal(getsockopt(fd, IPPROTO_IPV6, IPV6_DSTOPTS, room, &rl), 0);
		assert_int_equal(rl, 0);
		close(fd);
		/* The application's own destination options are left alone. */
		fd = socket(AF_INET6, SOCK_STREAM, 0);
		memset(room, 0, 8);
		room[1] = 0;
		room[2] = 1; /* PadN of 4 */
		room[3] = 4;
		assert_int_equal(setsockopt(fd, IPPROTO_IPV6, IPV6_DSTOPTS, room, 8), 0);
		assert_int_equal(listen(fd, 1), 0);
		assert_int_equal(clt_tcp_clamp(ctx, fd), 0);
		len = sizeof(v);
		assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &v, &len), 0);
		assert_int_equal(v, 1440 - (int)ioam_hbh_size(&cfg));
		assert_int_equal(clt_tcp_accepted(ctx, fd), 0);
		rl = sizeof(room);
		assert_int_equal(getsockopt(fd, IPPROTO_IPV6, IPV6_DSTOPTS, room, &rl), 0);
		assert_int_equal(rl, 8);
		close(fd);
	}
	cfg.trailer_version = 0;
	assert_int_equal(clt_tcp_accepted(NULL, 0), -EINVAL);
	/* Response flags: unknown ones refused; the response header is v2 (one more setsockopt). */
	{
		static const uint8_t t[16] = {1}, sp[8] = {2};

		fd = socket(AF_INET6, SOCK_STREAM, 0);
		assert_int_equal(clt_enable_flags(ctx, fd, 0, 0x80, t, sp), -EINVAL);
		assert_int_equal(clt_enable_flags(NULL, fd, 0, CLT_ENABLE_RESPONSE, t, sp), -EINVAL);
		if (clt_have_cap_net_raw()) {
			uint8_t hbh[512];
			socklen_t hl = sizeof(hbh);
			struct ioam_trace tr;

			assert_int_equal(clt_enable_flags(ctx, fd, 0, CLT_ENABLE_RESPONSE, t, sp), 0);
			assert_int_equal(getsockopt(fd, IPPROTO_IPV6, IPV6_HOPOPTS, hbh, &hl), 0);
			assert_int_equal(ioam_decode_hbh(&tr, hbh, hl, IOAM_LAYOUT_AUTO), 0);
			assert_int_equal(tr.trailer_version, 2);
			assert_int_equal(tr.trailer_flags, CLT_TRAILER_F_RESPONSE);
			assert_memory_equal(tr.trace_id, t, 16);
			assert_memory_equal(tr.span_id, sp, 8);
			assert_int_equal(clt_enable_flags(ctx, fd, 0, 0, t, sp), 0);
			hl = sizeof(hbh);
			assert_int_equal(getsockopt(fd, IPPROTO_IPV6, IPV6_HOPOPTS, hbh, &hl), 0);
			assert_int_equal(ioam_decode_hbh(&tr, hbh, hl, IOAM_LAYOUT_AUTO), 0);
			assert_int_equal(tr.trailer_version, 1);
		}
		close(fd);
	}
	assert_int_equal(clt_tcp_clamp(ctx, -1), 0);
	assert_int_equal(clt_tcp_route_check(ctx, NULL), -EINVAL);
	/* clt_forget: nothing to drop outside the bpf backend; never errno. */
	errno = EILSEQ;
	clt_forget(ctx, 3);
	clt_forget(ctx, -1);
	clt_forget(ctx, 1 << 20);
	clt_forget(NULL, 3);
	assert_int_equal(errno, EILSEQ);
	clt_close(ctx);

	o.backend = CLT_BACKEND_OFF;
	assert_int_equal(clt_open(&ctx, &o), 0);
	assert_int_equal(clt_tcp_maxseg(ctx), 0);
	fd = socket(AF_INET6, SOCK_STREAM, 0);
	assert_int_equal(clt_tcp_clamp(ctx, fd), 0);
	len = sizeof(v);
	assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &v, &len), 0);
	assert_int_equal(v, 536); /* untouched */
	close(fd);
	clt_close(ctx);
	assert_int_equal(clt_tcp_maxseg(NULL), 0);
}

static void test_socket_checks(void **state)
{
	struct clt_options o;
	struct clt_ctx *ctx = NULL;
	int pfd[2], fd4, fd6, fdu;

	memset(&o, 0, sizeof(o));
	o.backend = CLT_BACKEND_HOPOPTS;
	o.ignore_env = 1;
	assert_int_equal(clt_open(&ctx, &o), 0);
	assert_int_equal(clt_backend_get(ctx), CLT_BACKEND_HOPOPTS);

	assert_int_equal(pipe(pfd), 0);
	assert_int_equal(clt_enable(ctx, pfd[0], tid, sid), -ENOTSOCK);
	assert_int_equal(clt_disable(ctx, pfd[0]), -ENOTSOCK);
	assert_int_equal(clt_enable_trusted(ctx, pfd[0], tid, sid), -ENOTSOCK);
	assert_int_equal(clt_disable_trusted(ctx, pfd[0]), -ENOTSOCK);
	assert_int_equal(clt_disable_trusted(ctx, -1), -EINVAL);
	assert_int_equal(clt_disable_trusted(NULL, pfd[0]), -EINVAL);
	assert_int_equal(clt_enable(ctx, 1000000, tid, sid), -EBADF);
	assert_int_equal(clt_enable(ctx, -1, tid, sid), -EINVAL);
	assert_int_equal(clt_enable(NULL, pfd[0], tid, sid), -EINVAL);
	assert_int_equal(clt_enable(ctx, pfd[0], NULL, sid), -EINVAL);
	close(pfd[0]);
	close(pfd[1]);

	fd4 = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(clt_enable(ctx, fd4, tid, sid), -EAFNOSUPPORT);
	assert_int_equal(clt_enable_trusted(ctx, fd4, tid, sid), -EAFNOSUPPORT);
	assert_int_equal(clt_disable_trusted(ctx, fd4), -EAFNOSUPPORT);
	close(fd4);
	fdu = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(clt_enable(ctx, fdu, tid, sid), -EAFNOSUPPORT);
	close(fdu);

	fd6 = socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6);
	if (fd6 < 0)
		fd6 = socket(AF_INET6, SOCK_DGRAM, IPPROTO_ICMPV6);
	if (fd6 >= 0) {
		assert_int_equal(clt_enable(ctx, fd6, tid, sid), -EPROTONOSUPPORT);
		close(fd6);
	} else {
		print_message("no ICMPv6 socket allowed: EPROTONOSUPPORT not checked\n");	/* As root nothing stops this case: it must run. */
		assert_int_not_equal(geteuid(), 0);
	}

	/* A raw socket naming UDP or TCP as its protocol is not a UDP or TCP socket. */
	fd6 = socket(AF_INET6, SOCK_RAW, IPPROTO_UDP);
	if (fd6 >= 0) {
		assert_int_equal(clt_enable(ctx, fd6, tid, sid), -EPROTONOSUPPORT);
		assert_int_equal(clt_disable(ctx, fd6), -EPROTONOSUPPORT);
		close(fd6);
		fd6 = socket(AF_INET6, SOCK_RAW, IPPROTO_TCP);
		assert_true(fd6 >= 0);
		assert_int_equal(clt_enable(ctx, fd6, tid, sid), -EPROTONOSUPPORT);
		close(fd6);
	} else {
		print_message("no raw socket allowed: raw UDP/TCP not checked\n");	/* As root nothing stops this case: it must run. */
		assert_int_not_equal(geteuid(), 0);
	}

	/* IPv6 UDP and TCP qualify; the result then depends on CAP_NET_RAW. */
	fd6 = socket(AF_INET6, SOCK_DGRAM, 0);
	errno = 1234;
	if (geteuid() == 0) {
		assert_int_equal(clt_enable(ctx, fd6, tid, sid), 0);
		assert_int_equal(clt_enable_trusted(ctx, fd6, tid, sid), 0);
		assert_int_equal(clt_disable(ctx, fd6), 0);
		assert_int_equal(clt_enable_trusted(ctx, fd6, tid, sid), 0);
		assert_int_equal(clt_disable_trusted(ctx, fd6), 0);
	} else {
		assert_int_equal(clt_enable(ctx, fd6, tid, sid), -EPERM);
	}
	assert_int_equal(errno, 1234); /* the caller's errno survives */
	close(fd6);
	fd6 = socket(AF_INET6, SOCK_STREAM, 0);
	if (geteuid() == 0)
		assert_int_equal(clt_enable(ctx, fd6, tid, sid), 0);
	close(fd6);
	clt_close(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_env_strict, setup),
		cmocka_unit_test_setup(test_options, setup),
		cmocka_unit_test_setup(test_names_and_errors, setup),
		cmocka_unit_test_setup(test_auto_selection, setup),
		cmocka_unit_test_setup(test_socket_checks, setup),
		cmocka_unit_test_setup(test_tcp_maxseg, setup),
		cmocka_unit_test_setup(test_agent_messages, setup),
		cmocka_unit_test_setup(test_agent_found_later, setup),
		cmocka_unit_test_setup(test_agent_never_comes, setup),
		cmocka_unit_test_setup(test_privilege_dropped, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
