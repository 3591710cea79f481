/*
 * tagger.h - the only part of the shim that talks to libclt: it opens the
 * process's context (once, never under a lock another socket needs) and
 * sets or clears one socket's IDs. libclt owns the backend's state,
 * across fork() too; the tagger keeps none of it.
 */
#ifndef CLT_SHIM_TAGGER_H
#define CLT_SHIM_TAGGER_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "http.h"

enum tagger_result {
	TAGGER_DONE, /* set, cleared, or failed in a way that retrying would not fix */
	TAGGER_GONE, /* @fd is not (any more) the IPv6 TCP socket it was: look at it again */
};

/* Open the context if not yet, and log which backend it uses. Call with no shim lock held. */
void tagger_open(bool secure);

/*
 * Make @fd's IDs @ids (@want) or none. @dev/@ino: the socket's identity
 * when it was tracked, checked before IDs are set so that they never land
 * on another socket that took the number over. May block (agent backend:
 * up to CLT_AGENT_TIMEOUT_MS): call with no shim lock held. errno kept.
 * @stream_offset: the octets sent on the socket before this send (libclt's
 * clt_enable_at()).
 */
enum tagger_result tagger_set(int fd, dev_t dev, ino_t ino, bool want, const struct http_ids *ids,
			      uint64_t stream_offset);

/* The backend tags each segment by its stream offset (bpf): a send's
 * requests are each worth setting at their own offset. */
bool tagger_per_request(void);
/* tagger_set() for a response on an accepted socket: the IDs carry the
 * response direction flag (libclt's CLT_ENABLE_RESPONSE). */
enum tagger_result tagger_set_response(int fd, dev_t dev, ino_t ino, bool want,
				       const struct http_ids *ids, uint64_t stream_offset);

/*
 * Packet size (lib/tcp_size.c says why): an IPv6 TCP socket that may be
 * tagged gets libclt's TCP_MAXSEG clamp before connect() or listen() (on
 * an established connection the kernel ignores it); with @dst, a route
 * whose device builds packets over 64 KiB (BIG TCP) makes the socket one
 * the shim never tags. Opens the context if not yet; call with no shim
 * lock held (the route check asks rtnetlink). @return false for such a
 * route. errno kept.
 */
bool tagger_tcp_size(int fd, const struct sockaddr_in6 *dst, bool secure);

/* accept() gave @fd: its number may have named a socket libclt knew. errno kept. */
void tagger_new_socket(int fd);
/* A listener's clamp (libclt's clt_tcp_clamp_flags()): with @room, on the
 * hopopts backend, the room that gives each accepted socket the MSS its
 * route needs for a response's option; without, the fixed clamp for a
 * 1500-octet path. Opens the context if not yet. errno kept. */
void tagger_listen_size(int fd, bool room, bool secure);

/* An accepted socket: the room it inherited from its listener comes off its
 * packets (libclt's clt_tcp_accepted()). Opens the context if not yet. errno kept. */
void tagger_accepted(int fd, bool secure);

/* fork() child: the opening lock may have been held by a thread that is not there. */
void tagger_fork_child(void);

#endif /* CLT_SHIM_TAGGER_H */
