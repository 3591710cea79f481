/*
 * clt.c - the public CLT API: options and CLT_* environment parsing,
 * backend selection, socket validation and dispatch to the backends.
 *
 * Runs inside arbitrary programs (through the LD_PRELOAD shim): no
 * constructors, no output, no exit, no signals; errno is preserved
 * across every call.
 */
#include <errno.h>
#include <linux/capability.h>
#include <sched.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "clt_internal.h"
#include "clt_sys.h"

#define CLT_API __attribute__((visibility("default")))

/* A fully resolved configuration: options over environment over defaults. */
struct clt_config {
	enum clt_backend backend;
	int backend_from_env;
	struct ioam_hbh_config hbh;
};

int clt_parse_ulong(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	unsigned long v;
	char *end = NULL;
	int base = 10;

	if (s == NULL || *s == '\0')
		return -EINVAL;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	/* strtoul would accept leading blanks and a sign: refuse them. */
	if ((base == 10 && (*s < '0' || *s > '9')) ||
	    (base == 16 && !((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') ||
			     (*s >= 'A' && *s <= 'F'))))
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, base);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int clt_resolve(const struct clt_options *opts, struct clt_config *cfg, const char **why)
{
	static const struct clt_options none;
	const char *env;
	unsigned long v;
	int use_env;

	if (opts == NULL)
		opts = &none;
	use_env = !opts->ignore_env;
	memset(cfg, 0, sizeof(*cfg));
	cfg->backend = CLT_BACKEND_AUTO;
	cfg->hbh.namespace_id = CLT_DEFAULT_NAMESPACE;
	cfg->hbh.trace_type = CLT_DEFAULT_TRACE_TYPE;
	cfg->hbh.hops = CLT_DEFAULT_HOPS;

	if (opts->backend != CLT_BACKEND_AUTO) {
		if ((unsigned int)opts->backend > CLT_BACKEND_BPF) {
			*why = "options: unknown backend";
			return -EINVAL;
		}
		cfg->backend = opts->backend;
	} else if (use_env && (env = getenv("CLT_BACKEND")) != NULL && *env != '\0') {
		int b = clt_backend_parse(env);

		if (b < 0) {
			*why = "CLT_BACKEND: expected auto, off, genl, bpf, hopopts or agent";
			return -EINVAL;
		}
		cfg->backend = (enum clt_backend)b;
		cfg->backend_from_env = 1;
	}

	if (opts->namespace_id != 0) {
		if (opts->namespace_id > 0xffff) {
			*why = "options: namespace id exceeds 0xffff (16 bits)";
			return -EINVAL;
		}
		cfg->hbh.namespace_id = (uint16_t)opts->namespace_id;
	} else if (use_env && (env = getenv("CLT_NAMESPACE")) != NULL) {
		if (clt_parse_ulong(env, 0, 0xffff, &v) < 0) {
			*why = "CLT_NAMESPACE: expected an IOAM namespace id 0..65535 (decimal or 0x hex)";
			return -EINVAL;
		}
		cfg->hbh.namespace_id = (uint16_t)v;
	}

	if (opts->trace_type != 0) {
		cfg->hbh.trace_type = opts->trace_type;
	} else if (use_env && (env = getenv("CLT_TRACE_TYPE")) != NULL) {
		if (clt_parse_ulong(env, 1, 0xffffff, &v) < 0) {
			*why = "CLT_TRACE_TYPE: expected a 24-bit IOAM trace type, e.g. 0xf20000";
			return -EINVAL;
		}
		cfg->hbh.trace_type = (uint32_t)v;
	}

	if (opts->hops != 0) {
		cfg->hbh.hops = opts->hops;
	} else if (use_env && (env = getenv("CLT_HOPS")) != NULL) {
		if (clt_parse_ulong(env, 1, IOAM_MAX_NODES, &v) < 0) {
			*why = "CLT_HOPS: expected a number of node slots 1..61";
			return -EINVAL;
		}
		cfg->hbh.hops = (unsigned int)v;
	}
	return ioam_hbh_check(&cfg->hbh, why);
}

int clt_have_cap_net_raw(void)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data) != 0)
		return 0;
	return (data[CAP_TO_INDEX(CAP_NET_RAW)].effective & CAP_TO_MASK(CAP_NET_RAW)) != 0;
}

/* A deferred agent is probed again at most this often (clt_enable). */
#define CLT_REPROBE_MS 1000
/* reprobe_at_ms while one thread probes: later than any real time. */
#define CLT_REPROBE_BUSY UINT_FAST64_MAX

uint64_t clt_now_ms(void)
{
	struct timespec ts;

	/* CLOCK_MONOTONIC is read through the vDSO: no system call. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Between begin and done, *owner is CLT_FORK_RESETTING. */
#define CLT_FORK_RESETTING (-1)

int clt_fork_reset_begin(atomic_int *owner, int *me)
{
	int cur = atomic_load_explicit(owner, memory_order_acquire);

	*me = (int)getpid();
	while (cur != *me) {
		if (cur == CLT_FORK_RESETTING) {
			sched_yield();
			cur = atomic_load_explicit(owner, memory_order_acquire);
			continue;
		}
		if (atomic_compare_exchange_weak_explicit(owner, &cur, CLT_FORK_RESETTING,
							  memory_order_acq_rel, memory_order_acquire))
			return 1;
	}
	return 0;
}

void clt_fork_reset_done(atomic_int *owner, int me)
{
	atomic_store_explicit(owner, me, memory_order_release);
}

/* Auto chose hopopts: keep what clt_lost_privilege() needs to choose again. */
static void clt_keep_auto_opts(struct clt_ctx *ctx, const struct clt_options *opts)
{
	ctx->auto_hopopts = true;
	if (opts != NULL)
		ctx->auto_opts = *opts;
	ctx->auto_opts.agent_socket = NULL;
	if (opts != NULL && opts->agent_socket != NULL &&
	    strlen(opts->agent_socket) < sizeof(ctx->auto_agent_socket)) {
		memcpy(ctx->auto_agent_socket, opts->agent_socket, strlen(opts->agent_socket) + 1);
		ctx->auto_opts.agent_socket = ctx->auto_agent_socket;
	}
}

static void clt_set_reason(struct clt_ctx *ctx, const char *a, const char *b)
{
	if (ctx != NULL)
		snprintf(ctx->reason, sizeof(ctx->reason), "%s%s", a, b ? b : "");
}

/*
 * Resolve the configuration and pick a backend. With @ctx NULL this is a
 * dry run (clt_check_options); otherwise the backend is set up in @ctx.
 */
static int clt_prepare(const struct clt_options *opts, struct clt_ctx *ctx, const char **why)
{
	const char *from, *genl_why = NULL, *agent_why = NULL, *bpf_why = NULL;
	struct clt_config cfg;
	int err, genl;

	err = clt_resolve(opts, &cfg, why);
	if (err == 0)
		err = clt_agent_check(opts, why);
	if (err < 0)
		return err;
	if (ctx != NULL)
		ctx->hbh = cfg.hbh;
	from = cfg.backend_from_env ? " (CLT_BACKEND)" : " (options)";

	switch (cfg.backend) {
	case CLT_BACKEND_OFF:
		if (ctx != NULL) {
			ctx->ops = &clt_backend_off_ops;
			clt_set_reason(ctx, "off: requested", from);
		}
		return 0;
	case CLT_BACKEND_HOPOPTS:
		if (ctx != NULL) {
			err = clt_hopopts_setup(ctx);
			if (err < 0) {
				*why = "hopopts: cannot build the hop-by-hop header";
				return err;
			}
			clt_set_reason(ctx, "hopopts: requested", from);
		}
		return 0;
	case CLT_BACKEND_GENL:
		genl = clt_genl_probe(&genl_why);
		if (genl <= 0) {
			*why = genl_why;
			return -EOPNOTSUPP;
		}
		if (ctx != NULL) {
			err = clt_genl_setup(ctx);
			if (err < 0) {
				*why = "genl: cannot open a generic netlink socket";
				return err;
			}
			clt_set_reason(ctx, "genl: requested", from);
		}
		return 0;
	case CLT_BACKEND_AGENT:
		/* Like hopopts: opens even if the agent is not up yet; each
		 * request then fails (and the shim lets it pass untagged). */
		if (ctx != NULL) {
			err = clt_agent_setup(ctx, opts, 0, why);
			if (err < 0)
				return err;
			clt_set_reason(ctx, "agent: requested", from);
		}
		return 0;
	case CLT_BACKEND_BPF:
		/* Needs the agent now: the array it hands over is the backend. */
		if (ctx != NULL) {
			err = clt_bpf_setup(ctx, opts, why);
			if (err < 0)
				return err;
			clt_set_reason(ctx, "bpf: requested", from);
		}
		return 0;
	case CLT_BACKEND_AUTO:
		break;
	}

	/* Auto: the patched kernel is the cheapest and needs no privilege,
	 * then cltagent's tc program (a memory store per request, no
	 * privilege), then the sticky option (CAP_NET_RAW), then the agent,
	 * then off. */
	if (ctx == NULL)
		return 0;
	genl = clt_genl_probe(&genl_why);
	if (genl > 0 && clt_genl_setup(ctx) == 0) {
		clt_set_reason(ctx,
			       "genl: the kernel's IOAM6 family has PKT_ID_ENABLE (TCP only: UDP "
			       "sockets are refused, -ESOCKTNOSUPPORT)",
			       NULL);
		return 0;
	}
	if (clt_bpf_setup(ctx, opts, &bpf_why) == 0) {
		clt_set_reason(ctx,
			       "bpf: cltagent's tc egress program tags this process's sockets from its "
			       "own slot array",
			       NULL);
		return 0;
	}
	if (clt_have_cap_net_raw()) {
		err = clt_hopopts_setup(ctx);
		if (err == 0) {
			clt_set_reason(ctx, "hopopts: CAP_NET_RAW is effective; ", genl_why);
			clt_keep_auto_opts(ctx, opts);
			return 0;
		}
	}
	if (clt_agent_setup(ctx, opts, 1, &agent_why) == 0) {
		snprintf(ctx->reason, sizeof(ctx->reason),
			 "agent: no CAP_NET_RAW; cltagent applies the option (%s)", clt_agent_path(ctx));
		return 0;
	}
	ctx->ops = &clt_backend_off_ops;
	/* Only the agent may still come (a service started before its
	 * cltagent): keep its state and let clt_enable() probe again. */
	if (clt_agent_defer(ctx, opts) == 0) {
		atomic_store(&ctx->reprobe_at_ms, clt_now_ms() + CLT_REPROBE_MS);
		clt_set_reason(ctx,
			       "off: no CLT-patched kernel, no CAP_NET_RAW for the IPv6 hop-by-hop "
			       "option and no cltagent tag socket yet (probed again every second); "
			       "run with CAP_NET_RAW or start cltagent; ",
			       agent_why);
		return 0;
	}
	clt_set_reason(ctx,
		       "off: no CLT-patched kernel, no CAP_NET_RAW for the IPv6 hop-by-hop "
		       "option and no cltagent tag socket; run with CAP_NET_RAW or start "
		       "cltagent; ",
		       agent_why);
	return 0;
}

/*
 * An off context whose agent may still come: is it time to probe, and does
 * the agent answer now? Then the context switches to the agent backend
 * for good. Lock-free: one clock read while the interval runs; the thread
 * that claims the probe does it, the others stay off meanwhile.
 * @return non-zero if the context now uses the agent.
 */
static int clt_reprobe(struct clt_ctx *ctx)
{
	uint_fast64_t at = atomic_load_explicit(&ctx->reprobe_at_ms, memory_order_relaxed);
	uint64_t now;

	if (at == 0)
		return 0;
	now = clt_now_ms();
	if (now < at)
		return 0;
	if (!atomic_compare_exchange_strong(&ctx->reprobe_at_ms, &at, CLT_REPROBE_BUSY))
		return 0;
	if (clt_agent_reprobe(ctx) != 0) {
		atomic_store(&ctx->reprobe_at_ms, clt_now_ms() + CLT_REPROBE_MS);
		return 0;
	}
	snprintf(ctx->reason_later, sizeof(ctx->reason_later),
		 "agent: found later (no cltagent at start); no CAP_NET_RAW; cltagent applies the "
		 "option (%s)",
		 clt_agent_path(ctx));
	/* reason_later before found_later before ops: whoever sees the agent
	 * backend also sees why. */
	atomic_store(&ctx->found_later, true);
	atomic_store(&ctx->ops, &clt_backend_agent_ops);
	atomic_store(&ctx->reprobe_at_ms, 0);
	return 1;
}

CLT_API int clt_check_options(const struct clt_options *opts, const char **why)
{
	const char *msg = NULL;
	int saved = errno, err;

	err = clt_prepare(opts, NULL, &msg);
	if (why != NULL)
		*why = err < 0 ? (msg ? msg : clt_strerror(err)) : NULL;
	errno = saved;
	return err;
}

CLT_API int clt_open(struct clt_ctx **out, const struct clt_options *opts)
{
	struct clt_ctx *ctx;
	const char *why = NULL;
	int saved = errno, err;

	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		errno = saved;
		return -ENOMEM;
	}
	ctx->genl_family = -1;
	err = clt_prepare(opts, ctx, &why);
	if (err < 0) {
		clt_close(ctx);
		errno = saved;
		return err;
	}
	*out = ctx;
	errno = saved;
	return 0;
}

CLT_API void clt_close(struct clt_ctx *ctx)
{
	int saved = errno;

	if (ctx == NULL)
		return;
	if (ctx->ops != NULL && ctx->ops->close != NULL)
		ctx->ops->close(ctx);
	if (ctx->agent != NULL) /* deferred, never became the backend */
		clt_backend_agent_ops.close(ctx);
	free(ctx);
	errno = saved;
}

CLT_API int clt_check_socket(int fd)
{
	int v = 0, proto;
	socklen_t len = sizeof(v);

	if (clt_sys.getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len) != 0)
		return errno == ENOTSOCK ? -ENOTSOCK : -errno;
	if (v != AF_INET6)
		return -EAFNOSUPPORT;
	len = sizeof(v);
	if (clt_sys.getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &v, &len) != 0)
		return -errno;
	proto = v;
	len = sizeof(v);
	if (clt_sys.getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) != 0)
		return -errno;
	/* The protocol alone is not enough: a raw socket may name TCP or UDP. */
	if (!(proto == IPPROTO_TCP && v == SOCK_STREAM) && !(proto == IPPROTO_UDP && v == SOCK_DGRAM))
		return -EPROTONOSUPPORT;
	return 0;
}

int clt_classify_sockopt_error(int fd, int err)
{
	int v = 0;
	socklen_t len = sizeof(v);

	/* EPERM is the common case (no CAP_NET_RAW) and needs no probing. */
	if (err == -EPERM || err == -ENOTSOCK || err == -EBADF)
		return err;
	if (clt_sys.getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len) == 0 && v != AF_INET6)
		return -EAFNOSUPPORT;
	return err;
}

#define CLT_LOST_BUSY 1
#define CLT_LOST_DONE 2

/*
 * Auto picked hopopts for CAP_NET_RAW, and the setsockopt() was refused:
 * this process no longer has it - typically a server's worker, forked by
 * a privileged master, that dropped its privileges (nginx). Choose again
 * as auto would here: the agent if it answers now, else off while
 * probing for it. Once per context; concurrent callers wait for the one
 * thread that switches. @return the backend to retry with, or NULL.
 */
static const struct clt_backend_ops *clt_lost_privilege(struct clt_ctx *ctx)
{
	const char *why = NULL;
	int st = 0;

	if (!ctx->auto_hopopts || clt_have_cap_net_raw())
		return NULL;
	if (!atomic_compare_exchange_strong(&ctx->lost_state, &st, CLT_LOST_BUSY)) {
		while (atomic_load(&ctx->lost_state) == CLT_LOST_BUSY)
			sched_yield();
		return atomic_load(&ctx->ops);
	}
	/* reason_later before found_later before ops, as clt_reprobe(). */
	snprintf(ctx->reason_later, sizeof(ctx->reason_later),
		 "agent: this process has no CAP_NET_RAW any more (dropped after start); cltagent "
		 "applies the option (%s)",
		 ctx->auto_opts.agent_socket ? ctx->auto_opts.agent_socket : "CLT_AGENT_SOCKET");
	if (clt_agent_setup(ctx, &ctx->auto_opts, 1, &why) == 0) {
		snprintf(ctx->reason_later, sizeof(ctx->reason_later),
			 "agent: this process has no CAP_NET_RAW any more (dropped after start); "
			 "cltagent applies the option (%s)",
			 clt_agent_path(ctx));
		atomic_store(&ctx->found_later, true);
	} else if (clt_agent_defer(ctx, &ctx->auto_opts) == 0) {
		/* Off, probing for the agent every second (clt_reprobe). */
		atomic_store(&ctx->reprobe_at_ms, clt_now_ms() + CLT_REPROBE_MS);
	} else {
		atomic_store(&ctx->ops, &clt_backend_off_ops);
	}
	atomic_store(&ctx->lost_state, CLT_LOST_DONE);
	return atomic_load(&ctx->ops);
}

/* One backend's enable for @flags: a response's IDs, or a request's. */
static int clt_ops_enable(const struct clt_backend_ops *ops, struct clt_ctx *ctx, int fd,
			  uint64_t offset, unsigned int flags, const uint8_t *trace_id,
			  const uint8_t *span_id)
{
	if (!(flags & CLT_ENABLE_RESPONSE))
		return ops->enable(ctx, fd, trace_id, span_id);
	if (ops->enable_response == NULL)
		return -EOPNOTSUPP;
	return ops->enable_response(ctx, fd, offset, trace_id, span_id);
}

static int clt_enable_common(struct clt_ctx *ctx, int fd, const uint8_t *trace_id,
			     const uint8_t *span_id, int check, uint64_t offset, unsigned int flags)
{
	const struct clt_backend_ops *ops;
	int saved = errno, err;

	if (ctx == NULL || trace_id == NULL || span_id == NULL || fd < 0 ||
	    (flags & ~CLT_ENABLE_RESPONSE))
		return -EINVAL;
	ops = ctx->ops;
	if (ops == NULL)
		return -EINVAL;
	if (ops->id == CLT_BACKEND_OFF) {
		if (!clt_reprobe(ctx)) {
			errno = saved;
			return 0;
		}
		ops = &clt_backend_agent_ops;
	}
	err = check ? clt_check_socket(fd) : 0;
	if (err == 0)
		err = clt_ops_enable(ops, ctx, fd, offset, flags, trace_id, span_id);
	if (err == -EPERM && ops == &clt_backend_hopopts_ops) {
		ops = clt_lost_privilege(ctx);
		if (ops != NULL && ops->id == CLT_BACKEND_AGENT)
			err = clt_ops_enable(ops, ctx, fd, offset, flags, trace_id, span_id);
		else if (ops != NULL)
			err = 0; /* off now (waiting for the agent): nothing to set */
		else
			err = -EPERM;
	}
	/* A backend that cannot tell a response's direction (genl) still tags requests. */
	if (err == -EPERM || err == -ENOSYS || (err == -EOPNOTSUPP && !(flags & CLT_ENABLE_RESPONSE)))
		atomic_store_explicit(&ctx->failed_for_good, true, memory_order_relaxed);
	errno = saved;
	return err;
}

CLT_API int clt_enable(struct clt_ctx *ctx, int fd, const uint8_t trace_id[CLT_TRACE_ID_LEN],
		       const uint8_t span_id[CLT_SPAN_ID_LEN])
{
	return clt_enable_common(ctx, fd, trace_id, span_id, 1, 0, 0);
}

CLT_API int clt_enable_at(struct clt_ctx *ctx, int fd, uint64_t stream_offset,
			  const uint8_t trace_id[CLT_TRACE_ID_LEN],
			  const uint8_t span_id[CLT_SPAN_ID_LEN])
{
	int saved = errno, err;

	if (ctx != NULL && ctx->ops == &clt_backend_bpf_ops && trace_id != NULL && span_id != NULL &&
	    fd >= 0) {
		err = clt_bpf_enable_at(ctx, fd, stream_offset, 0, trace_id, span_id);
		errno = saved;
		return err;
	}
	return clt_enable_common(ctx, fd, trace_id, span_id, 0, stream_offset, 0);
}

CLT_API int clt_enable_flags(struct clt_ctx *ctx, int fd, uint64_t stream_offset,
			     unsigned int flags, const uint8_t trace_id[CLT_TRACE_ID_LEN],
			     const uint8_t span_id[CLT_SPAN_ID_LEN])
{
	if (flags == 0)
		return clt_enable_at(ctx, fd, stream_offset, trace_id, span_id);
	return clt_enable_common(ctx, fd, trace_id, span_id, 0, stream_offset, flags);
}

CLT_API int clt_enable_trusted(struct clt_ctx *ctx, int fd,
			       const uint8_t trace_id[CLT_TRACE_ID_LEN],
			       const uint8_t span_id[CLT_SPAN_ID_LEN])
{
	return clt_enable_common(ctx, fd, trace_id, span_id, 0, 0, 0);
}

CLT_API void clt_forget(struct clt_ctx *ctx, int fd)
{
	if (ctx != NULL && fd >= 0)
		clt_bpf_forget(ctx, fd);
}

static int clt_disable_common(struct clt_ctx *ctx, int fd, int check)
{
	const struct clt_backend_ops *ops;
	int saved = errno, err;

	if (ctx == NULL || fd < 0)
		return -EINVAL;
	ops = ctx->ops;
	if (ops == NULL)
		return -EINVAL;
	/* Off, even if the agent may come later: nothing was set to clear. */
	if (ops->id == CLT_BACKEND_OFF)
		return 0;
	err = check ? clt_check_socket(fd) : 0;
	if (err == 0)
		err = ops->disable(ctx, fd);
	if (err == -EPERM && ops == &clt_backend_hopopts_ops) {
		ops = clt_lost_privilege(ctx);
		if (ops != NULL && ops->id == CLT_BACKEND_AGENT)
			err = ops->disable(ctx, fd);
		else if (ops != NULL)
			err = 0;
	}
	errno = saved;
	return err;
}

CLT_API int clt_disable(struct clt_ctx *ctx, int fd)
{
	return clt_disable_common(ctx, fd, 1);
}

CLT_API int clt_disable_trusted(struct clt_ctx *ctx, int fd)
{
	return clt_disable_common(ctx, fd, 0);
}

CLT_API enum clt_backend clt_backend_get(const struct clt_ctx *ctx)
{
	if (ctx == NULL || ctx->ops == NULL)
		return CLT_BACKEND_OFF;
	return ctx->ops->id;
}

CLT_API const char *clt_backend_reason(const struct clt_ctx *ctx)
{
	if (ctx == NULL)
		return "no context";
	if (atomic_load((atomic_bool *)&ctx->found_later))
		return ctx->reason_later;
	return ctx->reason;
}

CLT_API int clt_backend_may_change(const struct clt_ctx *ctx)
{
	if (ctx == NULL)
		return 0;
	return atomic_load((atomic_uint_fast64_t *)&ctx->reprobe_at_ms) != 0;
}

CLT_API int clt_backend_disabled(const struct clt_ctx *ctx)
{
	if (ctx == NULL)
		return 1;
	if (atomic_load_explicit((atomic_bool *)&ctx->failed_for_good, memory_order_relaxed))
		return 1;
	return clt_backend_get(ctx) == CLT_BACKEND_OFF && !clt_backend_may_change(ctx);
}

static const char *const clt_backend_names[] = {
	[CLT_BACKEND_AUTO] = "auto",       [CLT_BACKEND_OFF] = "off",
	[CLT_BACKEND_GENL] = "genl",       [CLT_BACKEND_HOPOPTS] = "hopopts",
	[CLT_BACKEND_AGENT] = "agent",     [CLT_BACKEND_BPF] = "bpf",
};

CLT_API const char *clt_backend_name(enum clt_backend backend)
{
	if ((unsigned int)backend >= sizeof(clt_backend_names) / sizeof(clt_backend_names[0]))
		return "unknown";
	return clt_backend_names[backend];
}

CLT_API int clt_backend_parse(const char *name)
{
	unsigned int i;

	if (name == NULL)
		return -EINVAL;
	for (i = 0; i < sizeof(clt_backend_names) / sizeof(clt_backend_names[0]); i++) {
		if (strcmp(name, clt_backend_names[i]) == 0)
			return (int)i;
	}
	return -EINVAL;
}

CLT_API const char *clt_strerror(int err)
{
	const char *s;

	/* The agent backend's failures name the tag socket and what to do;
	 * only this thread's last one is known in that detail. */
	s = clt_agent_strerror(err);
	if (s != NULL)
		return s;
	switch (err) {
	case 0:
		return "success";
	case -EPERM:
		return "operation not permitted: the hopopts backend sets an IPv6 hop-by-hop "
		       "option, which needs CAP_NET_RAW (run as root or grant cap_net_raw)";
	case -ENOTSOCK:
		return "not a socket";
	case -EAFNOSUPPORT:
		return "not an IPv6 socket: IOAM travels in IPv6 extension headers only";
	case -EPROTONOSUPPORT:
		return "only TCP and UDP sockets can be tagged";
	case -ESOCKTNOSUPPORT:
		return "socket not supported by the genl backend: the CLT kernel patch tags IPv6 TCP "
		       "sockets only (a UDP socket's datagrams would carry zero IDs)";
	case -EOPNOTSUPP:
		return "not supported by this kernel or backend (genl needs the CLT kernel patch)";
	case -ETIMEDOUT:
		return "timed out: cltagent did not answer within CLT_AGENT_TIMEOUT_MS";
	case -ECONNREFUSED:
		return "cltagent's tag socket is not answering (agent backend: is cltagent running?)";
	case -EINVAL:
		return "invalid argument or CLT_* configuration";
	case -EMSGSIZE:
		return "the route's device builds TCP packets over 64 KiB (BIG TCP, gso_max_size > "
		       "65536): with the IPv6 hop-by-hop option the receiver would drop them";
	}
	s = err < 0 ? strerrordesc_np(-err) : NULL;
	return s != NULL ? s : "unknown error";
}
