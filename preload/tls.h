/*
 * tls.h - the plaintext sends of TLS libraries (OpenSSL, GnuTLS), found in
 * the process at their first call (the shim links neither), and the
 * transaction tx.c runs them in.
 */
#ifndef CLT_SHIM_TLS_H
#define CLT_SHIM_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * A TLS library's send, with its arguments in @call and the plaintext
 * @buf, @len (the application's, or a piece of what injection sends in its
 * place): the bytes it took (>= 0), or -1.
 */
typedef ssize_t (*tls_send_fn)(void *call, const void *buf, size_t len);

/*
 * Send @len plaintext bytes at @buf of session @sess through @fn(@call)
 * (*@rc: what it returned; errno as it left it), as one send transaction (tx.c) on the
 * tracker of the TLS socket @fn first sends ciphertext on, begun just
 * before that send: the IDs are set before the first record leaves.
 * @return false when @fn sent on no TLS socket the shim tracks (memory
 * BIO, a transport of the application's own, an ignored socket).
 */
bool tx_plaintext(const void *sess, const void *buf, size_t len, tls_send_fn fn, void *call,
		  ssize_t *rc);

/* Session @sess ends: an injected send it left pending is forgotten. */
void tx_plaintext_end(const void *sess);

/* GnuTLS's retry without data (NULL, 0) on @sess: true and *@rc when it ends a send in pieces. */
bool tx_plaintext_resume(const void *sess, tls_send_fn fn, void *call, ssize_t *rc);

/* fork() handlers: the session map's lock is never held across a fork. */
void tls_fork_prepare(void);
void tls_fork_parent(void);
void tls_fork_child(void);

/* The exported names (interpose.c; deepbind.c rebinds them too). */
__attribute__((visibility("default"))) int SSL_write(void *ssl, const void *buf, int num);
__attribute__((visibility("default"))) int SSL_write_ex(void *ssl, const void *buf, size_t num,
							size_t *written);
__attribute__((visibility("default"))) int SSL_write_ex2(void *ssl, const void *buf, size_t num,
							 uint64_t flags, size_t *written);
__attribute__((visibility("default"))) ssize_t gnutls_record_send(void *session, const void *data,
								  size_t size);
__attribute__((visibility("default"))) ssize_t gnutls_record_send2(void *session, const void *data,
								   size_t size, size_t pad,
								   unsigned int flags);
__attribute__((visibility("default"))) int SSL_read(void *ssl, void *buf, int num);
__attribute__((visibility("default"))) int SSL_read_ex(void *ssl, void *buf, size_t num,
						       size_t *readbytes);
__attribute__((visibility("default"))) void SSL_free(void *ssl);
__attribute__((visibility("default"))) ssize_t gnutls_record_recv(void *session, void *data,
								  size_t size);
__attribute__((visibility("default"))) ssize_t gnutls_record_recv_seq(void *session, void *data,
								      size_t size,
								      unsigned char *seq);
__attribute__((visibility("default"))) void gnutls_deinit(void *session);

/* The interposers (interpose.c forwards to these); the libraries' own types kept opaque. */
int shim_ssl_write(void *ssl, const void *buf, int num);
int shim_ssl_write_ex(void *ssl, const void *buf, size_t num, size_t *written);
int shim_ssl_write_ex2(void *ssl, const void *buf, size_t num, uint64_t flags, size_t *written);
ssize_t shim_gnutls_record_send(void *session, const void *data, size_t size);
ssize_t shim_gnutls_record_send2(void *session, const void *data, size_t size, size_t pad,
				 unsigned int flags);
int shim_ssl_read(void *ssl, void *buf, int num);
int shim_ssl_read_ex(void *ssl, void *buf, size_t num, size_t *readbytes);
void shim_ssl_free(void *ssl);
ssize_t shim_gnutls_record_recv(void *session, void *data, size_t size);
ssize_t shim_gnutls_record_recv_seq(void *session, void *data, size_t size, unsigned char *seq);
void shim_gnutls_deinit(void *session);

#endif /* CLT_SHIM_TLS_H */
