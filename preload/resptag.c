/*
 * resptag.c - a server's responses carry their request's IDs (resptag.h).
 *
 * When: the IDs a connection carries follow the oldest request whose
 * response is not complete - the one a write belongs to. They are set
 * before the first byte of its response is handed to the kernel, and
 * also as soon as its header block was read when no earlier response is
 * still being written (so a request without context clears them before
 * its response starts). They are not cleared when a response's last byte
 * was written: a sticky option is applied as segments leave, and clearing
 * it under a queued tail would send that tail untagged; and a keep-alive
 * client's next request usually carries a context again, so clearing and
 * setting again would cost two kernel calls per request instead of one
 * (measured: 4.4 against 2.7 µs of server CPU per request). The next
 * request decides: it clears them when it has no context. Pipelined
 * requests: the next response's first write switches them.
 *
 * Packet size: an option set on an established accepted socket is not
 * taken off its MSS by the kernel; the listener's room (fdlife.c, libclt's
 * clt_tcp_clamp: destination options the accepted socket's MSS is computed
 * with, removed at accept) leaves room for it on the socket's own route,
 * or the fixed clamp on 1500-octet paths.
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "fdstate.h"
#include "resptag.h"
#include "shim.h"
#include "tagger.h"

bool resptag_enabled(void)
{
	return shim_cfg.tag_responses;
}

void resptag_conn_init(struct resptag_conn *c, int fd, const struct sockaddr_storage *peer)
{
	const struct sockaddr_in6 *a = (const void *)peer;
	struct stat st;
	int saved = errno;

	memset(c, 0, sizeof(*c));
	c->applied = APPLIED_NONE; /* a new connection carries nothing */
	if (!resptag_enabled() || peer->ss_family != AF_INET6 ||
	    IN6_IS_ADDR_V4MAPPED(&a->sin6_addr) || !config_in_domain(&shim_cfg, &a->sin6_addr) ||
	    fstat(fd, &st) != 0)
		goto out;
	c->dev = st.st_dev;
	c->ino = st.st_ino;
	/* The client's route: a device building packets over 64 KiB (BIG TCP)
	 * would have them dropped once tagged. Also opens libclt's context. */
	c->on = tagger_tcp_size(fd, a, shim_secure);
	/* A new socket on a number that may have been registered (bpf): its
	 * first tagged response may start past offset 0, where libclt would
	 * not register it again. */
	tagger_new_socket(fd);
out:
	errno = saved;
}

bool resptag_ids_for(bool span_made, bool has_parent, bool parent_sampled,
		     const uint8_t trace_id[16], const uint8_t span_id[8],
		     const uint8_t parent_id[8], struct http_ids *out)
{
	if (span_made) {
		memcpy(out->trace, trace_id, 16);
		memcpy(out->span, span_id, 8);
		return true;
	}
	if (has_parent && (parent_sampled || shim_cfg.tag_unsampled)) {
		memcpy(out->trace, trace_id, 16);
		memcpy(out->span, parent_id, 8);
		return true;
	}
	return false;
}

bool resptag_decide(struct resptag_conn *c, int fd, bool want, const struct http_ids *ids,
		    struct resptag_job *job)
{
	bool change;

	if (!c->on)
		return false;
	if (want)
		change = c->applied != APPLIED_SET || memcmp(&c->applied_ids, ids, sizeof(*ids)) != 0;
	else
		change = c->applied != APPLIED_NONE;
	if (!change)
		return false;
	c->applied = APPLIED_UNKNOWN; /* until recorded: another write decides again */
	job->fd = fd;
	job->want = want;
	if (want)
		job->ids = *ids;
	job->offset = c->sent;
	job->seq = ++c->seq;
	job->dev = c->dev;
	job->ino = c->ino;
	return true;
}

void resptag_apply(const struct resptag_job *job)
{
	tagger_set_response(job->fd, job->dev, job->ino, job->want, &job->ids, job->offset);
}

void resptag_record(struct resptag_conn *c, const struct resptag_job *job)
{
	/* Recorded even if the kernel call failed: retrying on every write
	 * would cost a call each. A later decision meanwhile: unknown. */
	if (c->seq != job->seq)
		return;
	c->applied = job->want ? APPLIED_SET : APPLIED_NONE;
	if (job->want)
		c->applied_ids = job->ids;
}
