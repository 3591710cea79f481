/*
 * http.h - HTTP/1.x request tracker: a pure state machine (no I/O, no
 * allocation) fed the exact bytes an application wrote on one stream.
 * It finds each request's start, reads its header block line by line
 * (header blocks may arrive split over any number of writes), follows
 * the body framing (Content-Length, chunked, none) so that keep-alive
 * and pipelined requests are each seen, and tells which trace IDs the
 * current request is to be tagged with: those of the highest-priority
 * propagation header present, if that header says the trace is sampled
 * (or the tracker tags unsampled requests too). A stream whose first
 * bytes are not an HTTP/1.x request line is declared dead and never
 * parsed again.
 */
#ifndef CLT_SHIM_HTTP_H
#define CLT_SHIM_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define HTTP_METHOD_MAX 16     /* bounded look: longer "method" = not HTTP */
#define HTTP_LINE_MAX 1024     /* longest header line whose content is read */
#define HTTP_REQLINE_MAX 16384 /* longer request line = not HTTP */
#define HTTP_HEADER_MAX 65536  /* larger header block = not HTTP (servers answer 431) */
#define HTTP_TAIL 16           /* request-line bytes kept to check the version */

/* Propagation formats, in the order of struct http_tracker's candidates. */
enum http_prop {
	HTTP_PROP_TRACECONTEXT = 0, /* W3C traceparent */
	HTTP_PROP_B3,               /* b3: single header */
	HTTP_PROP_B3MULTI,          /* X-B3-TraceId + X-B3-SpanId */
	HTTP_PROP_JAEGER,           /* uber-trace-id */
	HTTP_PROP_COUNT,
};

struct http_ids {
	uint8_t trace[16];
	uint8_t span[8];
};

struct http_tracker {
	uint8_t state;
	uint8_t order[HTTP_PROP_COUNT]; /* enabled propagators, by priority */
	uint8_t n_order;
	bool line_long;       /* current line exceeded HTTP_LINE_MAX */
	bool has_cl;          /* Content-Length seen */
	bool te;              /* Transfer-Encoding seen */
	bool chunked;         /* its final coding is chunked */
	bool tag_unsampled;   /* tag requests of unsampled traces too */
	bool has_ids;         /* the current request's IDs are known (and to be tagged) */
	bool unsampled;       /* the current request's context is known but not sampled */
	bool head_done;       /* the current request's header block is complete */
	uint32_t req_no;      /* requests begun on the stream */
	uint8_t found;        /* bit per candidate (and B3MULTI halves) */
	uint8_t bad;          /* bit per propagator: duplicate/conflicting header */
	uint8_t sampled;      /* bit per candidate: its header says sampled */
	uint8_t b3m_sampled;  /* X-B3-Sampled: absent, yes, or no/repeated (http.c) */
	uint8_t b3m_flags;    /* X-B3-Flags: absent, debug, or other/repeated */
	uint32_t count;       /* bytes of the current method / line / block */
	uint32_t block;       /* bytes of the current header block */
	uint64_t cl;          /* Content-Length */
	uint64_t remaining;   /* body or chunk bytes still to come */
	struct http_ids ids;  /* valid when has_ids */
	struct http_ids cand[HTTP_PROP_COUNT];
	uint16_t line_len;
	char line[HTTP_LINE_MAX];
};

/*
 * Start tracking a stream. @order lists the enabled propagators by
 * priority (NULL: W3C trace context only). @tag_unsampled: requests of
 * unsampled traces carry their IDs too (else only sampled ones do).
 */
void http_init(struct http_tracker *t, const uint8_t *order, size_t n, bool tag_unsampled);

/* Copy a tracker (only the used part of the line buffer: most writes carry none). */
void http_copy(struct http_tracker *dst, const struct http_tracker *src);

/* Feed bytes the application wrote (and the kernel accepted). */
void http_feed(struct http_tracker *t, const void *data, size_t len);

/* Feed at most @limit bytes of an iovec array, in order. */
void http_feed_iov(struct http_tracker *t, const struct iovec *iov, size_t iovcnt, size_t limit);

/*
 * @n bytes whose content is unknown (sendfile): fine inside a body; at
 * any other place the stream can no longer be followed and is given up.
 */
void http_skip(struct http_tracker *t, uint64_t n);

/* The current request's IDs to tag: true and *out filled, or false (none, or not sampled). */
bool http_current_ids(const struct http_tracker *t, struct http_ids *out);

/*
 * The current request's header block is complete and carries no trace
 * header of any enabled propagator, valid or not: the application made no
 * context of its own (the shim may give it the thread's, trace.c).
 */
bool http_bare_request(const struct http_tracker *t);

/* Between requests (a new request line may begin). */
bool http_at_request_start(const struct http_tracker *t);

/* Before (or inside) a request line: the next bytes may end one. */
bool http_before_request_line(const struct http_tracker *t);

/* True once the stream was given up (not HTTP/1.x, or lost framing). */
bool http_dead(const struct http_tracker *t);

/*
 * Where a stream stands inside a body: enough to undo http_skip()s (and
 * nothing else) made since, when fewer bytes left than were counted.
 */
struct http_mark {
	uint8_t state;
	bool line_long;
	uint16_t line_len;
	uint32_t count;
	uint64_t remaining;
};

void http_mark_get(const struct http_tracker *t, struct http_mark *m);

/* Back to @m, as if the http_skip()s since had not happened. */
void http_mark_rewind(struct http_tracker *t, const struct http_mark *m);

/* Stop following the stream: its framing can no longer be known. */
void http_give_up(struct http_tracker *t);

/* True when the next @n bytes all fall inside the current body or chunk (nothing to parse). */
bool http_in_body(const struct http_tracker *t, uint64_t n);

/*
 * Server direction: the requests a server reads on an accepted socket and
 * the responses it writes back, each direction its own pure state machine
 * (no I/O, no allocation). Feeding returns events; the caller (rx.c)
 * turns them into SERVER spans. Anything that is not HTTP/1.x stops the
 * direction for good (HTTP_SRV_DEAD): no span is guessed.
 */
#define HTTP_SRV_PATH_MAX 256
#define HTTP_SRV_VAL_MAX 128

enum http_srv_event {
	HTTP_SRV_REQ_BEGIN = 1u << 0, /* the first byte of a new request was read */
	HTTP_SRV_REQ_HEAD = 1u << 1,  /* its header block is complete: http_srv_req is filled */
	HTTP_SRV_REQ_DONE = 1u << 2,  /* its body was read to the end */
	HTTP_SRV_RSP_HEAD = 1u << 3,  /* a final response's head was written: status known */
	HTTP_SRV_RSP_DONE = 1u << 4,  /* that response's last byte was written */
	HTTP_SRV_DEAD = 1u << 5,      /* the direction is not (or no longer) HTTP/1.x */
};

struct http_srv_req {
	char method[HTTP_METHOD_MAX + 1];
	char path[HTTP_SRV_PATH_MAX];     /* without the query */
	char host[HTTP_SRV_VAL_MAX];
	char user_agent[HTTP_SRV_VAL_MAX];
	uint8_t minor;                    /* HTTP/1.minor */
	bool has_parent;                  /* a valid traceparent came with it */
	bool parent_sampled;
	uint8_t trace_id[16];
	uint8_t parent_id[8];
	bool head;                        /* HEAD: its response has no body */
};

/* One direction's framing state (request or response). */
struct http_srv_dir {
	uint8_t state;
	bool dead;
	bool chunked;
	bool has_cl;
	bool line_long;
	uint16_t line_len;
	uint32_t block;
	uint64_t remaining;
	char line[HTTP_LINE_MAX];
};

struct http_srv {
	struct http_srv_dir in;  /* requests read */
	struct http_srv_dir out; /* responses written */
	struct http_srv_req req; /* the request being read */
	uint16_t status;         /* the response being written */
	uint32_t pending_heads;  /* requests whose head was read, response not begun */
	uint8_t head_flags;      /* bit per pending request (FIFO, LSB oldest): HEAD method */
	uint8_t answered_ahead;  /* responses begun before their request's head was read */
	uint32_t uncounted;      /* requests read past the 8 pending, not in head_flags */
};

void http_srv_init(struct http_srv *s);

/* Called for each event, in stream order (several per call when pipelined). */
typedef void (*http_srv_cb)(void *arg, unsigned int event, const struct http_srv *s);

/* Bytes the server read. */
void http_srv_feed_in(struct http_srv *s, const void *data, size_t len, http_srv_cb cb, void *arg);

/* Bytes the server wrote. */
void http_srv_feed_out(struct http_srv *s, const void *data, size_t len, http_srv_cb cb, void *arg);

/* @n written bytes whose content is unknown (sendfile): only inside a body can they be counted. */
void http_srv_skip_out(struct http_srv *s, uint64_t n, http_srv_cb cb, void *arg);

/* The response being written has no length: it ends with the connection. */
bool http_srv_out_until_close(const struct http_srv *s);

#endif /* CLT_SHIM_HTTP_H */
