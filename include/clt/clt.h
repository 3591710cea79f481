/*
 * clt.h - Cross-Layer Telemetry: tag a socket's packets with a request's
 * W3C trace-id and span-id so that IOAM telemetry collected along the
 * network path can be joined to the request's distributed trace.
 *
 * This is the only header an application needs. All functions are
 * thread-safe; every piece of state lives in a struct clt_ctx that the
 * caller owns, and a context keeps working in a child after fork() - also
 * one whose privileges were dropped: where auto-selection had picked
 * hopopts for CAP_NET_RAW, the first refused clt_enable() switches the
 * context to the agent backend (or off, probing for the agent). Errors
 * are negative errno values; clt_strerror() explains.
 */
#ifndef CLT_CLT_H
#define CLT_CLT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CLT_TRACE_ID_LEN 16 /**< W3C trace-id, octets */
#define CLT_SPAN_ID_LEN 8   /**< W3C parent-id (span-id), octets */

/** How the kernel is asked to carry the IDs. */
enum clt_backend {
	CLT_BACKEND_AUTO = 0, /**< pick the best available (config only) */
	CLT_BACKEND_OFF,      /**< do nothing; clt_enable() returns 0 */
	CLT_BACKEND_GENL,     /**< CLT-patched kernel, IOAM6 netlink commands */
	CLT_BACKEND_HOPOPTS,  /**< stock kernel, sticky IPv6 hop-by-hop IOAM option */
	CLT_BACKEND_AGENT,    /**< stock kernel, option applied by cltagent */
	CLT_BACKEND_BPF,      /**< stock kernel, cltagent's tc program adds it per packet */
};

/** Defaults for the hopopts backend (see README, "Configuration"). */
#define CLT_DEFAULT_NAMESPACE 123
#define CLT_DEFAULT_TRACE_TYPE 0xf20000u /* node id, if ids, ts sec, ts frac, queue depth */
#define CLT_DEFAULT_HOPS 8

/**
 * Options for clt_open(). Zero-initialise, then set what you need; a
 * zero field means "take it from the environment, else the default":
 * CLT_BACKEND, CLT_NAMESPACE, CLT_TRACE_TYPE, CLT_HOPS, CLT_AGENT_SOCKET.
 */
struct clt_options {
	enum clt_backend backend;  /**< CLT_BACKEND_AUTO: environment, then probe */
	uint32_t namespace_id;     /**< IOAM namespace (0 = default); 16 bits used */
	uint32_t trace_type;       /**< IOAM trace type, 24 bits (0 = default) */
	unsigned int hops;         /**< pre-allocated node slots (0 = default) */
	const char *agent_socket;  /**< agent backend: Unix socket path */
	int ignore_env;            /**< non-zero: do not read CLT_* variables */
};

struct clt_ctx; /**< opaque handle */

/**
 * Create a context: read the options (and the environment unless told not
 * to), validate them against the kernel's IOAM limits, and pick a backend.
 * A configuration error returns -EINVAL and leaves *out NULL; a backend
 * that cannot work is not an error when auto-selecting: the context falls
 * back to "off" and clt_backend_reason() says why.
 * @return 0 or a negative errno.
 */
int clt_open(struct clt_ctx **out, const struct clt_options *opts);

/**
 * Dry run of clt_open(): resolve @opts (NULL = all defaults) and the
 * environment and check that an explicitly requested backend can work.
 * @return what clt_open() would return; on error *why (if @why is not
 * NULL) gets a static explanation naming the offending variable, e.g.
 * "CLT_HOPS: expected a number of node slots 1..61". Thread-safe.
 */
int clt_check_options(const struct clt_options *opts, const char **why);

/** Release a context. NULL is accepted. */
void clt_close(struct clt_ctx *ctx);

/**
 * Make every later packet of socket @fd carry @trace_id and @span_id.
 * Only connected-or-not IPv6 TCP (stream) and UDP (datagram) sockets qualify.
 * @return 0, or:
 *   -EINVAL (NULL argument, @fd < 0), -EBADF, -ENOTSOCK,
 *   -EAFNOSUPPORT (not IPv6), -EPROTONOSUPPORT (not a TCP stream or UDP
 *   datagram socket);
 *   hopopts: -EPERM (needs CAP_NET_RAW);
 *   genl: -ESOCKTNOSUPPORT (not a TCP socket: the patch tags TCP only;
 *   the kernel also answers it for an IPv4 socket), -EOPNOTSUPP (no CLT
 *   kernel patch), the kernel's own errno, -EIO (netlink trouble);
 *   agent: -ENOENT, -ECONNREFUSED, -EACCES, -EAGAIN (cltagent's socket
 *   missing, dead, forbidden, overloaded), -ETIMEDOUT (no answer within
 *   CLT_AGENT_TIMEOUT_MS), -ECONNRESET, -EPIPE, -EPROTO (connection or
 *   protocol trouble), -EBUSY (rate-limited), or cltagent's own error
 *   (e.g. -EPERM: cltagent lacks CAP_NET_RAW).
 * clt_strerror() explains each; errno is left untouched.
 */
int clt_enable(struct clt_ctx *ctx, int fd, const uint8_t trace_id[CLT_TRACE_ID_LEN],
	       const uint8_t span_id[CLT_SPAN_ID_LEN]);

/**
 * clt_enable_trusted() for a request that starts at @stream_offset in
 * @fd's stream (the octets handed to the kernel on this connection before
 * the request's first one; 0 for the connection's first request). The
 * bpf backend then gives each TCP segment the IDs of the request its first
 * octet belongs to, so pipelined requests keep their own IDs and segments
 * without payload (ACKs) carry none; an offset of 0 also tells it that
 * the descriptor may hold a new connection. Other backends ignore the
 * offset (their IDs stay in force until the next call).
 */
int clt_enable_at(struct clt_ctx *ctx, int fd, uint64_t stream_offset,
		  const uint8_t trace_id[CLT_TRACE_ID_LEN], const uint8_t span_id[CLT_SPAN_ID_LEN]);

/** clt_enable_flags(): the IDs are a response's (see below). */
#define CLT_ENABLE_RESPONSE 0x1u

/**
 * clt_enable_at() with @flags. CLT_ENABLE_RESPONSE: the packets belong to
 * the response to the request named by the IDs (a server answering on an
 * accepted socket); the CLT trailer then is version 2 with its response
 * direction flag set, so that readers keep request and response apart
 * even when their IDs are equal. hopopts, agent and bpf carry the flag;
 * genl answers -EOPNOTSUPP (the CLT kernel patch's layout has no room for
 * it) without disabling the context for requests. A socket tagged as a
 * response should have been accepted from a listener that had
 * clt_tcp_clamp(): the kernel does not fit an established socket's
 * segments to an option set later. @flags 0 is clt_enable_at(); unknown
 * flags: -EINVAL. Trusted like clt_enable_trusted() (no validation).
 */
int clt_enable_flags(struct clt_ctx *ctx, int fd, uint64_t stream_offset, unsigned int flags,
		     const uint8_t trace_id[CLT_TRACE_ID_LEN], const uint8_t span_id[CLT_SPAN_ID_LEN]);

/**
 * clt_enable() for callers that already know @fd is an IPv6 TCP or UDP
 * socket (e.g. an interposer that saw it created): no validation, so on
 * the hopopts backend exactly one setsockopt() and no allocation. A wrong
 * descriptor still fails cleanly (-EAFNOSUPPORT, -ENOTSOCK, ...).
 */
int clt_enable_trusted(struct clt_ctx *ctx, int fd, const uint8_t trace_id[CLT_TRACE_ID_LEN],
		       const uint8_t span_id[CLT_SPAN_ID_LEN]);

/**
 * Whether @fd is a socket libclt can tag: IPv6 TCP or UDP (a raw socket
 * naming TCP or UDP is not). clt_enable() and clt_disable() make this
 * check; the _trusted variants skip it.
 * @return 0, -ENOTSOCK, -EAFNOSUPPORT (not IPv6), -EPROTONOSUPPORT, or a
 * negative errno from getsockopt().
 */
int clt_check_socket(int fd);

/** Stop tagging @fd's packets. @return 0 or a negative errno. */
int clt_disable(struct clt_ctx *ctx, int fd);

/**
 * clt_disable() for callers that already know @fd is an IPv6 TCP or UDP
 * socket, as clt_enable_trusted(): no validation, so on the hopopts
 * backend exactly one setsockopt(). A wrong descriptor still fails
 * cleanly (-EAFNOSUPPORT, -ENOTSOCK, ...).
 */
int clt_disable_trusted(struct clt_ctx *ctx, int fd);

struct sockaddr_in6;

/**
 * The TCP_MAXSEG an IPv6 TCP socket tagged through @ctx needs so that no
 * packet it sends is dropped by its receiver once it carries the IOAM
 * option: two segments (net.ipv4.tcp_min_tso_segs), one TCP header and the
 * option must fit IPv6's 65535 octets of payload, or the kernel adds a
 * jumbo hop-by-hop header in front of ours (two such headers: invalid).
 * The kernel takes the option's length off the clamp itself, and the
 * value keeps an untagged socket's packets under the limit too: 32737 for
 * two segments. It only bites on paths whose MTU is over 32 KiB, such as
 * loopback's 65536. On the bpf backend the kernel does not know the tc
 * program adds the option, so the value also leaves room for it on a
 * 1500-octet path: 1440 minus the option (1224 with the defaults: the
 * program's CLT trailer v2 makes it 216 octets).
 * @return the value, or 0 when nothing is ever added (backend off for good).
 */
int clt_tcp_maxseg(struct clt_ctx *ctx);

/**
 * Apply clt_tcp_maxseg() to the IPv6 TCP socket @fd. Call it before
 * connect(), or on a listening socket (its accepted sockets inherit it):
 * on an established connection the kernel ignores a new TCP_MAXSEG. A
 * smaller value already set is kept (except 536, the kernel's unset value).
 * On a listening socket it also makes room for a response's option
 * (CLT_ENABLE_RESPONSE, trailer v2): the kernel does not take an option
 * set on an accepted, established socket off its MSS. On the hopopts
 * backend (CAP_NET_RAW) the listener gets a sticky IPV6_DSTOPTS "room" of
 * the option's size, made of options receivers skip (type 0x1e): each
 * accepted socket is then made with an MSS that leaves room for it on its
 * own route, whatever the MTU; clt_tcp_accepted() takes the room off the
 * accepted socket's packets. Destination options the application set are
 * left alone. Otherwise (other backends, CLT_CLAMP_NO_ROOM) the clamp
 * leaves room for the option on a 1500-octet path (1224 with the
 * defaults), as on the bpf backend.
 * @return 0 or a negative errno; errno is left untouched.
 */
int clt_tcp_clamp(struct clt_ctx *ctx, int fd);

/** clt_tcp_clamp() flag: no room on a listener, the fixed clamp only
 * (e.g. a listener whose SYN-ACKs may leave the IOAM domain). */
#define CLT_CLAMP_NO_ROOM 0x1u

/** clt_tcp_clamp() with @flags (CLT_CLAMP_*; unknown ones: -EINVAL). */
int clt_tcp_clamp_flags(struct clt_ctx *ctx, int fd, unsigned int flags);

/**
 * Call on a socket accepted from a listener that had clt_tcp_clamp(): when
 * it carries the room it inherited, the room is removed from its packets
 * (its MSS stays as the room made it). A room is destination options made
 * only of type 0x1e options, of any length. Needs CAP_NET_RAW, as setting
 * it: only on the hopopts backend (cltagent calls it before it sets a
 * response's option for an agent-backend process).
 * @return 1 removed, 0 no room (or not hopopts), or a negative errno
 * (-EPERM: privileges dropped since); errno is left untouched.
 */
int clt_tcp_accepted(struct clt_ctx *ctx, int fd);

/**
 * @fd now names a new socket (accept() gave it): what libclt kept for the
 * descriptor's previous socket is dropped. On the bpf backend that is its
 * registration: the new socket is registered at its next clt_enable_*()
 * whatever its stream offset (clt_tcp_clamp() does it before connect()).
 * Without it a connection whose first tagged response starts past offset
 * 0 would fill a slot its socket is not linked to. errno is left untouched.
 */
void clt_forget(struct clt_ctx *ctx, int fd);

/**
 * Can TCP packets towards @dst carry the option at all? The device the
 * route leaves by is asked for its gso_max_size (rtnetlink, unprivileged):
 * above 65536 (BIG TCP) the kernel builds packets over 64 KiB whatever the
 * MSS, and every one of them would be dropped once tagged.
 * Each thread keeps its last 4 answers for a second.
 * @return 0 (safe, or the kernel did not say), -EMSGSIZE (do not tag
 * sockets to @dst), -EINVAL.
 */
int clt_tcp_route_check(struct clt_ctx *ctx, const struct sockaddr_in6 *dst);

/** The backend in use (never CLT_BACKEND_AUTO). */
enum clt_backend clt_backend_get(const struct clt_ctx *ctx);

/** Human-readable reason the backend was chosen, e.g. for a log line. */
const char *clt_backend_reason(const struct clt_ctx *ctx);

/**
 * Non-zero while clt_backend_get() may still change: auto-selection fell
 * to "off" only because cltagent's tag socket was not reachable, and
 * clt_enable() probes it again at most once a second; once it answers the
 * context uses the agent backend for good (and this returns 0). Callers
 * that skip clt_enable() on an off context should keep calling it then.
 */
int clt_backend_may_change(const struct clt_ctx *ctx);

/**
 * Non-zero once this context can tag no socket of this process any more:
 * its backend is off and clt_backend_may_change() is 0, or a clt_enable()
 * failed in a way that holds for every socket (-EPERM, -EOPNOTSUPP,
 * -ENOSYS: no privilege, no kernel support). Callers may then skip
 * clt_enable() and clt_disable(); clt_enable() itself still tries.
 */
int clt_backend_disabled(const struct clt_ctx *ctx);

/** "auto", "off", "genl", "hopopts", "agent", "bpf". */
const char *clt_backend_name(enum clt_backend backend);

/** Parse a backend name; @return the backend or -EINVAL. */
int clt_backend_parse(const char *name);

/**
 * Message for a negative errno returned by this library (CLT-specific
 * wording where useful). When @err is the calling thread's last failure of
 * the agent backend, the message names cltagent's socket and what to do;
 * it then lives in thread-local storage until that thread's next failing
 * agent-backend call.
 */
const char *clt_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif /* CLT_CLT_H */
