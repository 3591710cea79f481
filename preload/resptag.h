/*
 * resptag.h - the return path: on an accepted socket, the response to a
 * request that carried a trace context (or has a SERVER span) carries
 * IDs too, marked as a response's (the CLT trailer's direction flag), so
 * that the client's host sees the way back hop by hop.
 *
 * rx.c owns the connections and calls in here: which IDs a request's
 * response carries (a pure rule), and - around each write of a response
 * and after a request's header block was read - whether the socket's IDs
 * must change (decided under rx.c's lock), the change itself (under no
 * lock: a backend call) and recording it.
 */
#ifndef CLT_SHIM_RESPTAG_H
#define CLT_SHIM_RESPTAG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "http.h"

/* One accepted connection's response tagging state (inside rx.c's rx_conn). */
struct resptag_conn {
	bool on;          /* its responses may be tagged: IPv6 client in CLT_DOMAIN, a route
			     that can carry the option, CLT_TAG_RESPONSES on */
	bool pending;     /* a request's header block was read, or a write comes: look at
			     the IDs (rx.c) */
	uint8_t applied;  /* enum fd_applied (fdstate.h): what the kernel holds */
	uint64_t seq;     /* bumped by every decision: a later one wins */
	struct http_ids applied_ids;
	uint64_t sent;    /* octets written on the connection: the next write's stream offset */
	dev_t dev;        /* the socket's identity: IDs never land on a reused number */
	ino_t ino;
};

/* One change of a socket's IDs, decided under the lock and made outside it. */
struct resptag_job {
	int fd;
	uint64_t conn; /* the connection it was decided for (rx.c) */
	bool want;
	struct http_ids ids;
	uint64_t offset;
	uint64_t seq;
	dev_t dev;
	ino_t ino;
};

/* CLT_TAG_RESPONSES (default on, in every CLT_TRACING mode). */
bool resptag_enabled(void);

/* accept() gave @fd from @peer: set @c up. Makes system calls: no lock held. */
void resptag_conn_init(struct resptag_conn *c, int fd, const struct sockaddr_storage *peer);

/*
 * The IDs a request's response carries: its SERVER span's (@span_made,
 * sampled: the span the shim exports), else the request's own trace
 * context (trace-id, parent-id) when sampled or CLT_TAG_UNSAMPLED; else
 * none (false).
 */
bool resptag_ids_for(bool span_made, bool has_parent, bool parent_sampled,
		     const uint8_t trace_id[16], const uint8_t span_id[8],
		     const uint8_t parent_id[8], struct http_ids *out);

/* Under the caller's lock: must @c's IDs become @ids (@want) or none? Then *job says how. */
bool resptag_decide(struct resptag_conn *c, int fd, bool want, const struct http_ids *ids,
		    struct resptag_job *job);

/* No lock held: make the change (may wait for cltagent). errno kept. */
void resptag_apply(const struct resptag_job *job);

/* Under the caller's lock again: the change was made. */
void resptag_record(struct resptag_conn *c, const struct resptag_job *job);

#endif /* CLT_SHIM_RESPTAG_H */
