/*
 * client.h - CLIENT spans: an outgoing request a served thread makes
 * without a trace header of its own (tx.c decides, by trace.c's rule)
 * becomes a CLIENT span, child of the thread's SERVER span, from its
 * first byte sent to its response's last byte read. The socket's
 * state lives in its struct fd_sock (fdstate.h) and is used under the
 * socket's lock.
 */
#ifndef CLT_SHIM_CLIENT_H
#define CLT_SHIM_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct fd_sock;
struct http_ids;

/*
 * Under @s's lock: request number @req_no of the socket's stream is bare
 * and belongs to the SERVER span (@trace, @parent). Returns the CLIENT
 * span's IDs to tag the socket with in *@out (the same for every send of
 * one request), or false (no memory: tag with the SERVER span's IDs).
 */
bool client_begin(struct fd_sock *s, int fd, uint32_t req_no, const uint8_t trace[16],
		  const uint8_t parent[8], struct http_ids *out);

/* Under @s's lock: true and the IDs when request @req_no already is a CLIENT span. */
bool client_current(const struct fd_sock *s, uint32_t req_no, struct http_ids *out);

/* Under @s's lock: @n bytes of @iov left in a send (the request's own bytes). */
void client_sent(struct fd_sock *s, const struct iovec *iov, size_t iovcnt, size_t n);

/* A read on tracked socket @fd returned @n bytes into @iov (the response); @plaintext: a TLS
 * library's plaintext of that socket (its raw bytes, ciphertext, are never parsed). */
void client_read(int fd, const struct iovec *iov, size_t iovcnt, size_t n, bool plaintext);

/* @s is freed (its last descriptor closed): a CLIENT span in flight ends, marked so. */
void client_free(struct fd_sock *s);

/* fork() child, @s locked: a CLIENT span in flight is the parent's; never ended here. */
void client_fork_child(struct fd_sock *s);

#endif /* CLT_SHIM_CLIENT_H */
