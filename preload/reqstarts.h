/*
 * reqstarts.h - where each HTTP request begins within one send, and the
 * IDs it carries: for a send holding several pipelined requests (or the
 * end of one and the start of the next), so that each request's IDs are
 * set at its own stream offset (libclt's bpf backend tags every segment
 * with the request its first byte belongs to). Pure: no I/O, no lock.
 */
#ifndef CLT_SHIM_REQSTARTS_H
#define CLT_SHIM_REQSTARTS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

#include "http.h"

#define REQSTARTS_MAX 32 /* libclt's bpf ring holds 32 requests per socket */

struct req_start {
	size_t off;          /* its first byte's offset in the send */
	bool want;           /* its own header block carries IDs to tag */
	struct http_ids ids; /* valid when want */
};

/*
 * Feed @t (the socket's tracker as it was before the send) the send's
 * first @total bytes of @iov and list the requests that begin in them, in
 * order, after the one the send goes on with (at offset 0), if any. Beyond REQSTARTS_MAX requests the latest REQSTARTS_MAX are kept.
 * A request whose header block is not complete in the send has want set
 * only if its IDs are already known. @return how many are in @out.
 */
size_t reqstarts_find(struct http_tracker *t, const struct iovec *iov, size_t iovcnt, size_t total,
		      struct req_start out[REQSTARTS_MAX]);

#endif /* CLT_SHIM_REQSTARTS_H */
