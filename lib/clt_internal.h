/*
 * clt_internal.h - what the libclt modules share and nobody else sees:
 * the context layout, the backend operations table and the probes that
 * auto-selection uses.
 */
#ifndef CLT_INTERNAL_H
#define CLT_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Public declarations get default visibility (the library is built with
 * -fvisibility=hidden; libclt.map then selects what libclt.so exports). */
#pragma GCC visibility push(default)
#include "clt/clt.h"
#include "clt/ioam.h"
#include "clt/traceparent.h"
#pragma GCC visibility pop

/* Largest hop-by-hop header ioam_hbh_build() can produce within the
 * kernel limits (option length <= 255) is 264 octets; keep headroom. */
#define CLT_HBH_MAX 512
#define CLT_REASON_MAX 256

struct clt_ctx;

/* One kernel mechanism. enable/disable return 0 or a negative errno;
 * they are called concurrently from many threads. */
struct clt_backend_ops {
	enum clt_backend id;
	int (*enable)(struct clt_ctx *ctx, int fd, const uint8_t trace_id[CLT_TRACE_ID_LEN],
		      const uint8_t span_id[CLT_SPAN_ID_LEN]);
	int (*disable)(struct clt_ctx *ctx, int fd);
	void (*close)(struct clt_ctx *ctx);
	/* The IDs of a response (CLT_ENABLE_RESPONSE): trailer v2 with the
	 * direction flag. NULL: the backend cannot say it (-EOPNOTSUPP). */
	int (*enable_response)(struct clt_ctx *ctx, int fd, uint64_t stream_offset,
			       const uint8_t trace_id[CLT_TRACE_ID_LEN],
			       const uint8_t span_id[CLT_SPAN_ID_LEN]);
};

/* Everything a context needs; immutable after clt_open() except the
 * netlink state, which genl_lock guards, and the one switch from off to
 * agent when the agent is found later (clt.c: ops, found_later). */
struct clt_ctx {
	_Atomic(const struct clt_backend_ops *) ops;
	char reason[CLT_REASON_MAX];

	/* Auto fell to off only because cltagent's socket was not reachable:
	 * clt_enable() probes it again. reprobe_at_ms is the monotonic time of
	 * the next probe, 0 for never again, CLT_REPROBE_BUSY while one thread
	 * probes. reason_later is written once, before found_later is set. */
	atomic_uint_fast64_t reprobe_at_ms;
	atomic_bool found_later;
	char reason_later[CLT_REASON_MAX];

	/* A clt_enable() failed for a reason that holds for every socket
	 * (clt_backend_disabled). */
	atomic_bool failed_for_good;

	/* Auto picked hopopts for this process's CAP_NET_RAW: if a later
	 * process (a forked worker that dropped its privileges) lacks it, the
	 * first -EPERM switches the context to the agent once (clt.c:
	 * clt_lost_privilege). The options kept for that; lost_state is 0,
	 * CLT_LOST_BUSY while one thread switches, CLT_LOST_DONE after. */
	bool auto_hopopts;
	struct clt_options auto_opts;
	char auto_agent_socket[108];
	atomic_int lost_state;

	/* hopopts: the header built once with zero IDs; enable copies it to
	 * the stack and patches the IDs in at trailer_off. */
	struct ioam_hbh_config hbh;
	size_t hbh_len;
	size_t trailer_off;
	uint8_t hbh_template[CLT_HBH_MAX];
	/* hopopts, responses: the same header with a CLT trailer v2 whose
	 * response flag is set (hbh.trailer_version 2 for its size). */
	size_t resp_len;
	size_t resp_trailer_off;
	uint8_t resp_template[CLT_HBH_MAX];

	/* genl */
	pthread_mutex_t genl_lock;
	bool genl_lock_init;
	struct nl_sock *genl_sock;
	int genl_family;
	atomic_int genl_owner; /* pid that opened genl_sock (clt_fork_reset_begin) */

	/* agent (backend_agent.c): the connection to cltagent's tag server */
	struct clt_agent_conn *agent;

	/* bpf (backend_bpf.c): this process's slot array and agent connection */
	struct clt_bpf_state *bpf;

	/* tcp_size.c: net.ipv4.tcp_min_tso_segs, read at first need (0: not yet) */
	atomic_int min_tso_segs;
};

extern const struct clt_backend_ops clt_backend_off_ops;
extern const struct clt_backend_ops clt_backend_hopopts_ops;
extern const struct clt_backend_ops clt_backend_genl_ops;
extern const struct clt_backend_ops clt_backend_agent_ops;
extern const struct clt_backend_ops clt_backend_bpf_ops;

/* bpf: attach to cltagent (its tag socket, from @opts or CLT_AGENT_SOCKET)
 * and map this process's slot array; 0 or a negative errno with *why. */
int clt_bpf_setup(struct clt_ctx *ctx, const struct clt_options *opts, const char **why);
/* bpf: the request at @offset of @fd's stream carries these IDs; @sticky:
 * no offsets known, every later packet takes them. */
int clt_bpf_enable_at(struct clt_ctx *ctx, int fd, uint64_t offset, int sticky,
		      const uint8_t trace_id[CLT_TRACE_ID_LEN], const uint8_t span_id[CLT_SPAN_ID_LEN]);
/* bpf: the agent reserves the header's room on each socket it registers
 * (the kernel then sizes segments for the header, as with hopopts). */
int clt_bpf_room(const struct clt_ctx *ctx);
/* bpf: clt_bpf_enable_at() for a response (the slot's response flag). */
int clt_bpf_enable_resp(struct clt_ctx *ctx, int fd, uint64_t offset,
			const uint8_t trace_id[CLT_TRACE_ID_LEN], const uint8_t span_id[CLT_SPAN_ID_LEN]);
/* bpf: @fd is about to carry a new connection (clt_tcp_clamp before connect). */
void clt_bpf_forget(struct clt_ctx *ctx, int fd);
/* agent: the tag socket path from @opts, CLT_AGENT_SOCKET or the default. */
int clt_agent_socket_path(const struct clt_options *opts, char *path, size_t cap, const char **why);

/* hopopts: precompute the header template from ctx->hbh. */
int clt_hopopts_setup(struct clt_ctx *ctx);
/* The same header template from @hbh, the backend left as it is (the bpf
 * backend's fallback for sockets without a slot). */
int clt_hopopts_build(struct clt_ctx *ctx, const struct ioam_hbh_config *hbh);

/* genl: does the running kernel's IOAM6 family offer PKT_ID_ENABLE?
 * 1 yes, 0 no (with *why), negative errno if the controller could not
 * be asked. Opens nothing that outlives the call. */
int clt_genl_probe(const char **why);
/* genl: open the netlink socket the context keeps. */
int clt_genl_setup(struct clt_ctx *ctx);
/* genl: the kernel's answer in the netlink message of @len octets at @buf
 * (NLMSG_ERROR, with or without an extended ack): 0 (acknowledged), the
 * kernel's own negative errno, or -EBADMSG (not a whole error message).
 * *extack, if @extack is not NULL, gets the extended ack's text or NULL. */
int clt_genl_ack_errno(const void *buf, size_t len, const char **extack);
/* genl: can the CLT kernel patch tag a socket of this SO_TYPE and
 * SO_PROTOCOL? Only TCP copies the IDs to its packets. 0 or -ESOCKTNOSUPPORT. */
int clt_genl_socket_taggable(int type, int protocol);

/* agent: validate CLT_AGENT_SOCKET / CLT_AGENT_TIMEOUT_MS (and the option). */
int clt_agent_check(const struct clt_options *opts, const char **why);
/* agent: clt_agent_setup() without making the agent the backend (ctx->agent only). */
int clt_agent_open(struct clt_ctx *ctx, const struct clt_options *opts, int probe,
		   const char **why);
/* agent: set the backend up; with @probe, only if an agent accepts a
 * connection now (auto-selection), else connect lazily. */
int clt_agent_setup(struct clt_ctx *ctx, const struct clt_options *opts, int probe,
		    const char **why);
/* agent: keep the agent's connection state for a later probe without
 * making it the backend (auto-selection found no agent yet). */
int clt_agent_defer(struct clt_ctx *ctx, const struct clt_options *opts);
/* agent: probe a deferred agent now; 0 when it accepted a connection (the
 * caller then makes it the backend). Only one thread at a time. */
int clt_agent_reprobe(struct clt_ctx *ctx);
/* agent: the socket path in use. */
const char *clt_agent_path(const struct clt_ctx *ctx);

/* Strict unsigned parse of the whole of @s: decimal, or hex with 0x; no
 * blanks, no sign; within [@min, @max]. @return 0 or -EINVAL. */
int clt_parse_ulong(const char *s, unsigned long min, unsigned long max, unsigned long *out);

/* CLOCK_MONOTONIC in milliseconds (read through the vDSO: no system call). */
uint64_t clt_now_ms(void);

/* After a failed setsockopt(IPPROTO_IPV6, ...) with @err (negative),
 * turn the kernel's answer into the most useful errno. */
int clt_classify_sockopt_error(int fd, int err);

/*
 * Fork safety for the state a backend keeps per process (a socket, a
 * lock). A forked child must not use its parent's netlink socket (the
 * kernel would hand either process the other's answers), and a lock held
 * by one of the parent's other threads at fork() stays locked forever in
 * the child. @owner holds the pid that set the state up. The first call in
 * a new process gets 1 and must reset the state, then call
 * clt_fork_reset_done(); concurrent callers wait for it. Otherwise 0.
 */
int clt_fork_reset_begin(atomic_int *owner, int *me);
void clt_fork_reset_done(atomic_int *owner, int me);

/* agent: a message for @err naming the tag socket, when @err is this
 * thread's last agent-backend failure; NULL otherwise. */
const char *clt_agent_strerror(int err);

/* tcp_size.c: the TCP_MAXSEG that keeps @min_tso_segs segments and one TCP
 * header within IPv6's 65535 octets of payload, with or without a
 * hop-by-hop header of @opt_len octets that the kernel takes off the MSS;
 * 0 when @opt_len is 0 (nothing added). Pure (unit-tested). */
int clt_tcp_maxseg_for(size_t opt_len, unsigned int min_tso_segs);

/* tcp_size.c: the clamp @maxseg (clt_tcp_maxseg_for) on the bpf backend
 * (@bpf non-zero), where the kernel does not take the @opt_len octets the
 * tc program adds off the MSS: at most 1440 (a 1500-octet MTU) minus the
 * option. Pure (unit-tested). */
int clt_tcp_maxseg_bpf(int maxseg, size_t opt_len, int bpf);

/* The size of the hop-by-hop header a response carries (trailer v2). */
size_t clt_resp_hbh_size(const struct clt_ctx *ctx);

struct in6_addr;
/* tcp_size.c: gso_max_size of the device the route to @dst leaves by (0
 * when the kernel does not say); 0 or a negative errno. */
int clt_route_gso_max(const struct in6_addr *dst, unsigned int *gso_max);

/* Non-zero when CAP_NET_RAW is in this thread's effective set. */
int clt_have_cap_net_raw(void);

#endif /* CLT_INTERNAL_H */
