/*
 * test_tagserver.c - cltagent's tag server and libclt's agent backend:
 * the option applied is byte for byte the hopopts backend's; hostile
 * input (pipe, file, IPv4 and Unix sockets, no or two descriptors, wrong
 * sizes, bad magic/version/op, disconnects, floods, too many connections,
 * disallowed peers) is refused and counted, every received descriptor is
 * closed, and the server keeps serving; the client times out, fails fast
 * without an agent, and reconnects after fork.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "clt/clt.h"
#include "clt/ioam.h"
#include "clt/tagproto.h"
#include "tagserver.h"

static const uint8_t tid[16] = {0xa1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0x16};
static const uint8_t sid[8] = {0xb1, 2, 3, 4, 5, 6, 7, 0x08};

static char dir[64];
static char path[128];

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n++;
	closedir(d);
	return n;
}

static int have_cap_net_raw(void)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data) != 0)
		return 0;
	return (data[0].effective & CAP_TO_MASK(CAP_NET_RAW)) != 0;
}

/* This thread only: capabilities are per thread on Linux. */
static int set_cap_net_raw(int on)
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

static struct tagserver *open_server(const struct tagserver_config *extra)
{
	struct tagserver_config cfg = {0};
	struct tagserver *ts = NULL;

	if (extra != NULL)
		cfg = *extra;
	cfg.path = path;
	cfg.mode = 0666;
	assert_int_equal(tagserver_open(&ts, &cfg), 0);
	return ts;
}

static int client(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Send @len octets of @buf with @nfds descriptors; the server is then run once. */
static ssize_t send_raw(int fd, const void *buf, size_t len, const int *fds, int nfds)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} u;
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};

	if (nfds > 0) {
		struct cmsghdr *cm;

		memset(&u, 0, sizeof(u));
		msg.msg_control = u.b;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
	}
	return sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void make_req(struct clt_tag_req *r, uint8_t op, uint32_t seq)
{
	memset(r, 0, sizeof(*r));
	r->magic = CLT_TAG_MAGIC;
	r->version = CLT_TAG_VERSION;
	r->op = op;
	r->seq = seq;
	memcpy(r->trace_id, tid, 16);
	memcpy(r->span_id, sid, 8);
}

/* Run the server until @fd has an answer; @return its status, or 1 if none came. */
static int answer(struct tagserver *ts, int fd, uint32_t *seq)
{
	struct clt_tag_resp resp;
	struct pollfd p = {.fd = fd, .events = POLLIN};

	for (int i = 0; i < 50; i++) {
		tagserver_process(ts, now_ms());
		if (poll(&p, 1, 2) == 1) {
			ssize_t n = recv(fd, &resp, sizeof(resp), MSG_DONTWAIT);

			if (n <= 0)
				return 1;
			assert_int_equal(n, sizeof(resp));
			assert_int_equal(resp.magic, CLT_TAG_MAGIC);
			if (seq != NULL)
				*seq = resp.seq;
			return resp.status;
		}
	}
	return 1;
}

static int request(struct tagserver *ts, int c, uint8_t op, int sock)
{
	struct clt_tag_req r;

	make_req(&r, op, 7);
	assert_int_equal(send_raw(c, &r, sizeof(r), &sock, 1), sizeof(r));
	return answer(ts, c, NULL);
}

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/clt-tagtest.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/tag.sock", dir);
	unsetenv("CLT_BACKEND");
	unsetenv("CLT_AGENT_SOCKET");
	unsetenv("CLT_AGENT_TIMEOUT_MS");
	return 0;
}

static int teardown(void **state)
{
	unlink(path);
	rmdir(dir);
	return 0;
}

/* The option the agent applies is exactly what libclt's hopopts backend builds. */
static void test_tag_applies_hopopts(void **state)
{
	struct ioam_hbh_config hc = {.namespace_id = CLT_DEFAULT_NAMESPACE,
				     .trace_type = CLT_DEFAULT_TRACE_TYPE,
				     .hops = CLT_DEFAULT_HOPS};
	uint8_t want[512], got[512];
	socklen_t len = sizeof(got);
	struct tagserver *ts;
	struct stat st;
	int c, s, wlen;

	unsetenv("CLT_NAMESPACE");
	unsetenv("CLT_TRACE_TYPE");
	unsetenv("CLT_HOPS");
	ts = open_server(NULL);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0666);
	c = client();
	s = socket(AF_INET6, SOCK_STREAM, 0);
	assert_true(s >= 0);
	if (!have_cap_net_raw()) {
		assert_int_equal(request(ts, c, CLT_TAG_OP_ENABLE, s), -EPERM);
		print_message("no CAP_NET_RAW: the agent answers -EPERM\n");
		goto out;
	}
	assert_int_equal(request(ts, c, CLT_TAG_OP_ENABLE, s), 0);
	wlen = ioam_hbh_build(want, sizeof(want), &hc, tid, sid);
	assert_true(wlen > 0);
	assert_int_equal(getsockopt(s, IPPROTO_IPV6, IPV6_HOPOPTS, got, &len), 0);
	print_message("agent applied a %u-octet hop-by-hop header (hopopts builds %d)\n", len, wlen);
	assert_int_equal(len, wlen);
	assert_memory_equal(got + 1, want + 1, (size_t)wlen - 1); /* octet 0: next header, kernel's */
	assert_int_equal(request(ts, c, CLT_TAG_OP_DISABLE, s), 0);
	len = sizeof(got);
	assert_int_equal(getsockopt(s, IPPROTO_IPV6, IPV6_HOPOPTS, got, &len), 0);
	assert_int_equal(len, 0);
	struct tagserver_stats st2;
	tagserver_get_stats(ts, &st2);
	assert_int_equal(st2.tagged, 1);
	assert_int_equal(st2.cleared, 1);
out:
	close(s);
	close(c);
	tagserver_close(ts);
	assert_int_equal(lstat(path, &st), -1); /* removed at close */
}

/* Everything that is not exactly one request with one IPv6 TCP/UDP socket. */
static void test_tag_rejects_bogus(void **state)
{
	struct tagserver_stats st;
	struct tagserver *ts;
	struct clt_tag_req r;
	char big[sizeof(r) + 8], fname[160];
	int c, fds_before, p[2], file, v4, ux[2], v6, two[2], status;
	uint32_t seq = 0;
	uint64_t rejected = 0;

	ts = open_server(NULL);
	c = client();
	fds_before = count_fds();
	assert_int_equal(pipe(p), 0);
	snprintf(fname, sizeof(fname), "%s/file", dir);
	file = open(fname, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	assert_true(file >= 0);
	v4 = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, ux), 0);
	v6 = socket(AF_INET6, SOCK_DGRAM, 0);

	assert_int_equal(request(ts, c, CLT_TAG_OP_ENABLE, p[0]), -ENOTSOCK);
	assert_int_equal(request(ts, c, CLT_TAG_OP_ENABLE, file), -ENOTSOCK);
	assert_int_equal(request(ts, c, CLT_TAG_OP_ENABLE, v4), -EAFNOSUPPORT);
	assert_int_equal(request(ts, c, CLT_TAG_OP_ENABLE, ux[0]), -EAFNOSUPPORT);
	rejected += 4;
	print_message("pipe, file, IPv4 socket, Unix socket: refused\n");

	/* No descriptor, two descriptors. */
	make_req(&r, CLT_TAG_OP_ENABLE, 41);
	assert_int_equal(send_raw(c, &r, sizeof(r), NULL, 0), sizeof(r));
	assert_int_equal(answer(ts, c, &seq), -EINVAL);
	assert_int_equal(seq, 41);
	two[0] = v6;
	two[1] = v6;
	assert_int_equal(send_raw(c, &r, sizeof(r), two, 2), sizeof(r));
	assert_int_equal(answer(ts, c, NULL), -EINVAL);
	/* Short, long, bad magic, version, op, reserved. */
	assert_int_equal(send_raw(c, &r, sizeof(r) - 1, &v6, 1), sizeof(r) - 1);
	assert_int_equal(answer(ts, c, NULL), -EINVAL);
	memset(big, 0, sizeof(big));
	memcpy(big, &r, sizeof(r));
	assert_int_equal(send_raw(c, big, sizeof(big), &v6, 1), sizeof(big));
	assert_int_equal(answer(ts, c, NULL), -EINVAL);
	rejected += 4;
	make_req(&r, CLT_TAG_OP_ENABLE, 1);
	r.magic ^= 1;
	assert_int_equal(send_raw(c, &r, sizeof(r), &v6, 1), sizeof(r));
	assert_int_equal(answer(ts, c, NULL), -EINVAL);
	make_req(&r, CLT_TAG_OP_ENABLE, 1);
	r.version = 2;
	assert_int_equal(send_raw(c, &r, sizeof(r), &v6, 1), sizeof(r));
	assert_int_equal(answer(ts, c, NULL), -EINVAL);
	make_req(&r, 9, 1);
	assert_int_equal(send_raw(c, &r, sizeof(r), &v6, 1), sizeof(r));
	assert_int_equal(answer(ts, c, NULL), -EINVAL);
	make_req(&r, CLT_TAG_OP_ENABLE, 1);
	r.reserved = 1;
	assert_int_equal(send_raw(c, &r, sizeof(r), &v6, 1), sizeof(r));
	assert_int_equal(answer(ts, c, NULL), -EINVAL);
	rejected += 4;
	/* Garbage of every small size. */
	for (size_t n = 1; n < sizeof(big); n++) {
		memset(big, 0x5a, sizeof(big));
		assert_int_equal(send_raw(c, big, n, &v6, 1), n);
		assert_int_equal(answer(ts, c, NULL), -EINVAL);
		rejected++;
	}
	print_message("no fd, two fds, wrong sizes, magic, version, op, garbage: refused\n");

	/* Still serving, on the same connection. */
	status = request(ts, c, CLT_TAG_OP_ENABLE, v6);
	assert_true(status == 0 || (status == -EPERM && !have_cap_net_raw()));
	tagserver_get_stats(ts, &st);
	assert_int_equal(st.rejected, rejected);
	assert_int_equal(st.errors + st.tagged, 1);

	close(p[0]);
	close(p[1]);
	close(file);
	unlink(fname);
	close(v4);
	close(ux[0]);
	close(ux[1]);
	close(v6);
	/* Every descriptor the server received was closed again (and the
	 * connection, once the client has gone). */
	close(c);
	tagserver_process(ts, now_ms());
	assert_int_equal(count_fds(), fds_before - 1);
	tagserver_close(ts);
}

/* A peer that goes away mid-request, a flood, and too many connections. */
/* Tag protocol v2, bpf types, on a server without --bpf: each answered
 * with its own layout and -EOPNOTSUPP, descriptors closed; malformed ones
 * -EINVAL; the connection stays open. */
static int bpf_answer(struct tagserver *ts, int fd, size_t want_len, uint8_t want_type, int *got_fd)
{
	union {
		char b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct clt_tag_bpf_attach_resp resp;
	struct iovec iov = {.iov_base = &resp, .iov_len = sizeof(resp)};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b,
			     .msg_controllen = sizeof(u.b)};
	struct pollfd p = {.fd = fd, .events = POLLIN};

	*got_fd = -1;
	for (int i = 0; i < 50; i++) {
		tagserver_process(ts, now_ms());
		if (poll(&p, 1, 2) == 1) {
			ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT);
			struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);

			assert_int_equal(n, (ssize_t)want_len);
			assert_int_equal(resp.h.magic, CLT_TAG_MAGIC);
			assert_int_equal(resp.h.version, CLT_TAG_VERSION2);
			assert_int_equal(resp.h.type, want_type);
			assert_int_equal(resp.h.len, want_len);
			if (cm != NULL && cm->cmsg_type == SCM_RIGHTS)
				memcpy(got_fd, CMSG_DATA(cm), sizeof(int));
			return resp.status;
		}
	}
	return 1;
}

static void test_tag_bpf_types_without_bpf(void **state)
{
	struct tagserver *ts = open_server(NULL);
	struct clt_msg_hdr h = {.magic = CLT_TAG_MAGIC, .version = CLT_TAG_VERSION2,
				.type = CLT_MSG_BPF_ATTACH, .len = sizeof(h), .seq = 5};
	struct clt_tag_bpf_register_req rr = {.h = {.magic = CLT_TAG_MAGIC,
						      .version = CLT_TAG_VERSION2,
						      .type = CLT_MSG_BPF_REGISTER,
						      .len = sizeof(rr), .seq = 6},
					     .slot = 3, .gen = 1};
	int c = client(), v6 = socket(AF_INET6, SOCK_STREAM, 0), fd, fds_before;

	assert_true(v6 >= 0);
	assert_int_equal(send_raw(c, &h, sizeof(h), NULL, 0), sizeof(h));
	assert_int_equal(bpf_answer(ts, c, sizeof(struct clt_tag_bpf_attach_resp), CLT_MSG_BPF_ATTACH,
				    &fd),
			 -EOPNOTSUPP);
	assert_int_equal(fd, -1);
	fds_before = count_fds(); /* the server's end of the connection included */
	assert_int_equal(send_raw(c, &rr, sizeof(rr), &v6, 1), sizeof(rr));
	assert_int_equal(bpf_answer(ts, c, sizeof(struct clt_tag_bpf_resp), CLT_MSG_BPF_REGISTER, &fd),
			 -EOPNOTSUPP);
	/* Malformed: attach with a descriptor, register without one, wrong length. */
	assert_int_equal(send_raw(c, &h, sizeof(h), &v6, 1), sizeof(h));
	assert_int_equal(bpf_answer(ts, c, sizeof(struct clt_tag_bpf_attach_resp), CLT_MSG_BPF_ATTACH,
				    &fd),
			 -EINVAL);
	assert_int_equal(send_raw(c, &rr, sizeof(rr), NULL, 0), sizeof(rr));
	assert_int_equal(bpf_answer(ts, c, sizeof(struct clt_tag_bpf_resp), CLT_MSG_BPF_REGISTER, &fd),
			 -EINVAL);
	rr.h.len = 19;
	assert_int_equal(send_raw(c, &rr, sizeof(rr), &v6, 1), sizeof(rr));
	assert_int_equal(bpf_answer(ts, c, sizeof(struct clt_tag_bpf_resp), CLT_MSG_BPF_REGISTER, &fd),
			 -EINVAL);
	/* Every received descriptor was closed by the server. */
	assert_int_equal(count_fds(), fds_before);
	/* The connection is still served; its role is bpf now, so a v1
	 * request is answered and refused. */
	assert_int_equal(request(ts, c, CLT_TAG_OP_DISABLE, v6), -EINVAL);
	close(v6);
	close(c);
	tagserver_close(ts);
}

static void test_tag_hostile_peers(void **state)
{
	struct tagserver_config cfg = {.max_conns = 4};
	struct tagserver_stats st;
	struct tagserver *ts;
	struct clt_tag_req r;
	int c, v6, sent = 0, conns[6], fds_before, status;

	ts = open_server(&cfg);
	v6 = socket(AF_INET6, SOCK_STREAM, 0);
	fds_before = count_fds();

	/* Request, then gone before the answer. */
	c = client();
	make_req(&r, CLT_TAG_OP_ENABLE, 1);
	assert_int_equal(send_raw(c, &r, sizeof(r), &v6, 1), sizeof(r));
	close(c);
	for (int i = 0; i < 5; i++)
		tagserver_process(ts, now_ms());

	/* Flood without reading the answers: the server never blocks. */
	c = client();
	for (int i = 0; i < 5000; i++) {
		if (send_raw(c, &r, sizeof(r), &v6, 1) != sizeof(r))
			break;
		sent++;
	}
	for (int i = 0; i < 2000; i++)
		tagserver_process(ts, now_ms());
	close(c);
	tagserver_process(ts, now_ms());
	tagserver_get_stats(ts, &st);
	print_message("flood: %d requests queued, %llu limited, %llu connections dropped\n", sent,
		      (unsigned long long)st.limited, (unsigned long long)st.dropped);
	assert_true(sent > 0);
	assert_true(st.dropped >= 1 || st.limited >= 1);

	/* More connections than allowed: the least recently active make room. */
	for (int i = 0; i < 6; i++) {
		conns[i] = client();
		tagserver_process(ts, now_ms() + (uint64_t)i);
	}
	status = request(ts, conns[5], CLT_TAG_OP_ENABLE, v6);
	assert_true(status == 0 || status == -EPERM);
	assert_int_equal(answer(ts, conns[0], NULL), 1); /* evicted: EOF */
	tagserver_get_stats(ts, &st);
	assert_true(st.dropped >= 3);
	for (int i = 0; i < 6; i++)
		close(conns[i]);
	for (int i = 0; i < 5; i++)
		tagserver_process(ts, now_ms());
	tagserver_tick(ts, now_ms() + 400000); /* idle connections closed */
	assert_int_equal(count_fds(), fds_before);
	close(v6);
	tagserver_close(ts);
}

/* Token bucket per connection; peers by uid; a live agent's socket is never taken over. */
static void test_tag_limits_and_peers(void **state)
{
	struct tagserver_config cfg = {.rate = 1, .burst = 5};
	struct tagserver_stats st;
	struct tagserver *ts, *ts2 = NULL;
	int c, v6, ok = 0, busy = 0, fd;
	struct stat sb;

	ts = open_server(&cfg);
	v6 = socket(AF_INET6, SOCK_DGRAM, 0);
	c = client();
	for (int i = 0; i < 12; i++) {
		int s = request(ts, c, CLT_TAG_OP_DISABLE, v6);

		if (s == -EBUSY)
			busy++;
		else
			ok++;
	}
	print_message("rate 1/s burst 5: %d served, %d refused with -EBUSY\n", ok, busy);
	assert_in_range(ok, 5, 6);
	assert_int_equal(ok + busy, 12);
	close(c);

	/* A second server on the same path: refused, the first keeps it. */
	cfg.path = path;
	assert_int_equal(tagserver_open(&ts2, &cfg), -EADDRINUSE);
	assert_null(ts2);
	assert_int_equal(lstat(path, &sb), 0);
	tagserver_close(ts);

	/* Only listed uids. */
	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(tagserver_parse_uids("0,65534,nobody", &cfg), 0);
	assert_int_equal(cfg.n_allow_uids, 3);
	assert_int_equal(tagserver_parse_uids("no-such-user-xyz", &cfg), -EINVAL);
	memset(&cfg, 0, sizeof(cfg));
	cfg.allow_uids[0] = getuid() + 1;
	cfg.n_allow_uids = 1;
	ts = open_server(&cfg);
	c = client();
	assert_int_equal(request(ts, c, CLT_TAG_OP_DISABLE, v6), 1); /* connection closed */
	tagserver_get_stats(ts, &st);
	assert_int_equal(st.refused, 1);
	assert_int_equal(st.requests, 0);
	close(c);
	tagserver_close(ts);

	/* A regular file at the path is never removed. */
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	cfg.path = path;
	assert_int_equal(tagserver_open(&ts2, &cfg), -EEXIST);
	assert_int_equal(lstat(path, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	unlink(path);
	close(v6);
}

static atomic_int stop;

static void *server_thread(void *arg)
{
	struct tagserver *ts = arg;
	struct pollfd p = {.fd = tagserver_fd(ts), .events = POLLIN};

	while (!atomic_load(&stop)) {
		if (poll(&p, 1, 5) > 0)
			tagserver_process(ts, now_ms());
	}
	return NULL;
}

/* libclt's agent backend against the server, running in its own thread. */
/* Every connection is a descriptor: the server raises a low soft limit to hold them all. */
static void test_tag_fd_limit(void **state)
{
	struct rlimit rl, low;
	struct tagserver *ts;

	(void)state;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < TAGSERVER_DEFAULT_MAX_CONNS + TAGSERVER_FD_SPARE)
		skip();
	low = rl;
	low.rlim_cur = 256;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	ts = open_server(NULL);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &low), 0);
	assert_true(low.rlim_cur >= TAGSERVER_DEFAULT_MAX_CONNS + TAGSERVER_FD_SPARE);
	tagserver_close(ts);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
}

static void test_tag_client(void **state)
{
	struct clt_options o = {0};
	struct clt_ctx *ctx;
	struct tagserver *ts;
	pthread_t th;
	uint8_t got[512];
	socklen_t len = sizeof(got);
	int s, rc, status;
	pid_t pid;

	/* One connection at most: the child's connection evicts the parent's,
	 * whose next request must reconnect by itself. */
	struct tagserver_config one = {.max_conns = 1};

	ts = open_server(&one);
	atomic_store(&stop, 0);
	assert_int_equal(pthread_create(&th, NULL, server_thread, ts), 0);
	o.backend = CLT_BACKEND_AGENT;
	o.agent_socket = path;
	o.ignore_env = 1;
	assert_int_equal(clt_open(&ctx, &o), 0);
	assert_int_equal(clt_backend_get(ctx), CLT_BACKEND_AGENT);
	s = socket(AF_INET6, SOCK_STREAM, 0);
	rc = clt_enable(ctx, s, tid, sid);
	if (have_cap_net_raw()) {
		assert_int_equal(rc, 0);
		assert_int_equal(getsockopt(s, IPPROTO_IPV6, IPV6_HOPOPTS, got, &len), 0);
		assert_true(len > CLT_TRAILER_LEN);
		assert_memory_equal(got + len - CLT_TRAILER_LEN - 4, tid, 16); /* trailer, then PadN */
	}
	assert_int_equal(clt_disable(ctx, s), rc);
	/* The client checks the descriptor before bothering the agent. */
	assert_int_equal(clt_enable(ctx, 0 == s ? 1 : STDIN_FILENO, tid, sid) < 0, 1);

	/* A forked child reconnects instead of sharing the parent's connection. */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(clt_enable(ctx, s, tid, sid) == rc ? 0 : 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(clt_enable(ctx, s, tid, sid), rc); /* evicted: reconnects */
	clt_close(ctx);

	/* Auto: without CAP_NET_RAW in this thread, the agent is picked. */
	if (set_cap_net_raw(0) == 0) {
		setenv("CLT_AGENT_SOCKET", path, 1);
		assert_int_equal(clt_open(&ctx, NULL), 0);
		print_message("auto without CAP_NET_RAW: %s: %s\n",
			      clt_backend_name(clt_backend_get(ctx)), clt_backend_reason(ctx));
		if (clt_backend_get(ctx) != CLT_BACKEND_GENL) {
			assert_int_equal(clt_backend_get(ctx), CLT_BACKEND_AGENT);
			/* The server thread kept its capability: tagging works. */
			assert_int_equal(clt_enable(ctx, s, tid, sid), rc);
		}
		clt_close(ctx);
		unsetenv("CLT_AGENT_SOCKET");
		set_cap_net_raw(1);
	}
	atomic_store(&stop, 1);
	pthread_join(th, NULL);
	close(s);
	tagserver_close(ts);
}

/* No agent: fast failure. A silent agent: -ETIMEDOUT within the bound. */
static void test_tag_client_failures(void **state)
{
	struct clt_options o = {0};
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct clt_ctx *ctx;
	uint64_t t0, dt;
	int s, l;

	o.backend = CLT_BACKEND_AGENT;
	o.agent_socket = path;
	assert_int_equal(clt_open(&ctx, &o), 0);
	s = socket(AF_INET6, SOCK_STREAM, 0);
	assert_int_equal(clt_enable(ctx, s, tid, sid), -ENOENT);
	t0 = now_ms();
	assert_int_equal(clt_enable(ctx, s, tid, sid), -ENOENT);
	assert_true(now_ms() - t0 < 5);
	clt_close(ctx);

	/* A listener that never answers. */
	l = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(l, 4), 0);
	setenv("CLT_AGENT_TIMEOUT_MS", "30", 1);
	assert_int_equal(clt_open(&ctx, &o), 0);
	t0 = now_ms();
	assert_int_equal(clt_enable(ctx, s, tid, sid), -ETIMEDOUT);
	dt = now_ms() - t0;
	print_message("silent agent: -ETIMEDOUT after %llu ms (CLT_AGENT_TIMEOUT_MS=30)\n",
		      (unsigned long long)dt);
	assert_in_range(dt, 29, 200);
	clt_close(ctx);
	setenv("CLT_AGENT_TIMEOUT_MS", "0", 1);
	assert_int_equal(clt_open(&ctx, &o), -EINVAL);
	unsetenv("CLT_AGENT_TIMEOUT_MS");
	close(l);
	close(s);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_tag_applies_hopopts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tag_rejects_bogus, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tag_hostile_peers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tag_bpf_types_without_bpf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tag_limits_and_peers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tag_fd_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tag_client, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tag_client_failures, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
