/*
 * rx.h - the server side: accepted sockets (class FD_ACCEPTED), the
 * requests read on them and the responses written back, one SERVER span
 * per request. The tracker's entry points take the descriptor, the bytes
 * and the direction, so that any source of plaintext (libc calls here, a
 * TLS library's plaintext calls) can feed it.
 */
#ifndef CLT_SHIM_RX_H
#define CLT_SHIM_RX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* accept()/accept4() returned @fd: follow it when tracing is on and it is TCP. */
void rx_accepted(int fd);

/* @fd (an accepted socket) is closed or replaced: its spans in flight end, marked so. */
void rx_forget(int fd);

/* Plaintext the application read (@in) or wrote (!@in) on @fd: @n bytes of @iov. */
void rx_feed(int fd, bool in, const struct iovec *iov, size_t iovcnt, size_t n);

/* @n bytes written whose content is unknown (sendfile): a response body. */
void rx_feed_opaque(int fd, uint64_t n);

/* The peer closed (a read returned 0). */
void rx_eof(int fd);

/* fork() handlers: the table's lock; a child drops the parent's requests in flight. */
void rx_fork_prepare(void);
void rx_fork_parent(void);
void rx_fork_child(void);

#endif /* CLT_SHIM_RX_H */
