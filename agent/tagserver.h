/*
 * tagserver.h - cltagent's tag server: applies the sticky IOAM hop-by-hop
 * option, with the agent's CAP_NET_RAW, to IPv6 TCP/UDP sockets that
 * local unprivileged programs (libclt's "agent" backend) pass over a Unix
 * socket. Protocol: include/clt/tagproto.h.
 *
 * Everything is non-blocking and driven from the agent's poll loop through
 * one descriptor (an epoll set), with a bounded amount of work per call so
 * that IOAM export and tagging never starve each other.
 */
#ifndef CLT_AGENT_TAGSERVER_H
#define CLT_AGENT_TAGSERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TAGSERVER_MAX_ALLOW 32
/* Defaults for a zero field below; cltagent's --tag-rate and --tag-max-conns show and use them. */
#define TAGSERVER_DEFAULT_RATE 20000
/*
 * A process under the shim may hold two connections: its tag connection
 * (agent backend, or the bpf backend's registration) and its span
 * connection (CLT_TRACING); a pre-fork server's every worker holds its own.
 * 1024 keeps room for 512 such processes, as 512 did for one connection
 * each. The agent raises its descriptor limit to fit (tagserver_open()).
 */
#define TAGSERVER_DEFAULT_MAX_CONNS 1024
/* Descriptors kept free for everything else the agent holds (netlink, export, metrics). */
#define TAGSERVER_FD_SPARE 64
/* Span records per second per connection (a busy server's spans), and the bucket's depth. */
#define TAGSERVER_DEFAULT_SPAN_RATE 250000

/*
 * A span batch (type 16) from peer @pid/@uid (SO_PEERCRED): @body after
 * the header. At most @allowed records may be taken (the connection's
 * rate bucket); *over: the valid records refused for it. @return the records taken.
 */
typedef uint32_t (*tagserver_spans_cb)(void *arg, pid_t pid, uid_t uid, const uint8_t *body,
				       size_t len, uint32_t allowed, uint32_t *over);

struct bpf_tagger;

struct tagserver_config {
	const char *path;     /**< Unix socket path */
	bool quiet;           /**< default path: a busy or unusable path is not an error worth a line */
	bool set_gid;         /**< chown the socket to @gid */
	gid_t gid;
	mode_t mode;          /**< socket file mode (0660 when 0) */
	uid_t allow_uids[TAGSERVER_MAX_ALLOW]; /**< peers allowed by SO_PEERCRED; empty: any that can connect */
	size_t n_allow_uids;
	uint32_t rate;        /**< requests per second per connection (0: TAGSERVER_DEFAULT_RATE) */
	uint32_t burst;       /**< token bucket depth (default 5000) */
	uint32_t max_conns;   /**< connections at most; the least recently active is closed (0: TAGSERVER_DEFAULT_MAX_CONNS) */
	uint32_t idle_ms;     /**< close connections idle this long (default 300000) */
	/* IOAM option applied: 0 = the agent's CLT_* environment, then libclt's defaults. */
	uint32_t namespace_id;
	uint32_t trace_type;
	unsigned int hops;
	int verbose;
	struct bpf_tagger *bpf; /**< bpf_loader.h: hand out slot arrays (NULL: bpf tagging off) */
	uint32_t span_rate;   /**< span records per second per connection (0: the default) */
	tagserver_spans_cb on_spans; /**< NULL: span batches are refused */
	void *spans_arg;
};

struct tagserver_stats {
	uint64_t requests; /**< messages received */
	uint64_t tagged;   /**< sockets given the IDs */
	uint64_t cleared;  /**< sockets cleared */
	uint64_t rejected; /**< bad message, descriptor count, or descriptor that is not IPv6 TCP/UDP */
	uint64_t limited;  /**< refused by the rate limit (-EBUSY) */
	uint64_t errors;   /**< setsockopt failed */
	uint64_t accepted; /**< connections accepted */
	uint64_t refused;  /**< connections refused: peer not allowed */
	uint64_t dropped;  /**< connections closed by the server: unanswerable, evicted, idle */
	uint64_t span_batches;  /**< span batches received */
	uint64_t span_refused;  /**< span batches refused: bad header, size, descriptor, role */
	uint64_t span_limited;  /**< span records over the connection's rate */
};

struct tagserver;

/**
 * Create the socket (replacing a stale one, never a live agent's or a
 * non-socket file) and the IOAM context.
 * @return 0, -EADDRINUSE (another agent serves @path), or a negative errno.
 */
int tagserver_open(struct tagserver **out, const struct tagserver_config *cfg);

/** The descriptor to poll for POLLIN. */
int tagserver_fd(const struct tagserver *ts);

/** Serve what is ready, a bounded amount; never blocks. @now_ms: monotonic. */
void tagserver_process(struct tagserver *ts, uint64_t now_ms);

/** Close idle connections. */
void tagserver_tick(struct tagserver *ts, uint64_t now_ms);

void tagserver_get_stats(const struct tagserver *ts, struct tagserver_stats *out);

/** "tag requests=... dropped=..." into @buf. @return the length (truncated to @cap - 1). */
size_t tagserver_format_stats(char *buf, size_t cap, const struct tagserver_stats *s);

/** Resolve a group name or number. @return 0 or -EINVAL. */
int tagserver_parse_group(const char *s, gid_t *out);

/** Parse "name-or-uid,..." into @cfg's allow list. @return 0 or -EINVAL. */
int tagserver_parse_uids(const char *s, struct tagserver_config *cfg);

/** Close every connection, remove the socket file if it is still ours. NULL is accepted. */
void tagserver_close(struct tagserver *ts);

#endif /* CLT_AGENT_TAGSERVER_H */
