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

/* A write on accepted socket @fd is about to be handed to the kernel:
 * the IDs of the response it belongs to are put in place (resptag.h). */
void rx_before_write(int fd);

/* @n bytes written whose content is unknown (sendfile): a response body. */
void rx_feed_opaque(int fd, uint64_t n);

/* The peer closed (a read returned 0). */
void rx_eof(int fd);

/*
 * TLS on accepted sockets (tls.c): a socket whose first bytes read are a
 * TLS record is the session's; its raw bytes are never parsed. The
 * library's plaintext calls feed the tracker instead.
 */
struct rx_tls_call {
	int fd;        /* the accepted TLS socket ciphertext moved on during the call, or -1 */
	uint64_t id;   /* its connection */
	int client_fd; /* the tracked (client) socket ciphertext was read from, or -1 */
};

/* A TLS library's call begins/ends on this thread: @call learns its socket. */
void rx_tls_call_begin(struct rx_tls_call *call);
void rx_tls_call_end(void);
bool rx_tls_active(void);

/* @fd's connection when it is an accepted TLS socket, else 0. */
uint64_t rx_tls_conn(int fd);

/* Plaintext read (@in) or written by the library on connection @id of @fd. */
void rx_tls_feed(int fd, uint64_t id, bool in, const void *buf, size_t n);

/* The session of connection @id of @fd ended: its spans in flight end, marked so. */
void rx_tls_end(int fd, uint64_t id);

/* fork() handlers: the table's lock; a child drops the parent's requests in flight. */
void rx_fork_prepare(void);
void rx_fork_parent(void);
void rx_fork_child(void);

#endif /* CLT_SHIM_RX_H */
