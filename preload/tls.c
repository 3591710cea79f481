/*
 * tls.c - the plaintext sends of OpenSSL (SSL_write, SSL_write_ex,
 * SSL_write_ex2 from 3.3 on) and GnuTLS (gnutls_record_send,
 * gnutls_record_send2): the plaintext goes through the send
 * transaction (tx.c) of the socket the library writes the records on, the
 * library's own call standing for the kernel's. The socket is the one the
 * library sends ciphertext on during the call (tx.c says how), not the
 * session's descriptor (SSL_get_wfd, gnutls_transport_get_int): that also
 * covers sessions whose BIO or push function is the application's own,
 * as curl's is, and never takes a transport pointer for a descriptor.
 *
 * Binding: the shim links neither library, yet exports these names, so
 * the dynamic linker binds a program's calls to the shim even before the
 * library is loaded. The real functions are looked up at the first call
 * (only a program that has the library can make it), once per library:
 * in the global scope after the shim, else in the library itself when it
 * was loaded privately (RTLD_LOCAL: Python's _ssl module) - asked for by
 * name, never loaded. Should the function still not be found, the call
 * fails as the library's own would on an internal error. No shim lock is
 * held across the binding (which takes the loader's, in dlsym) or the
 * library's call, and the binding runs with the guard set: whatever it
 * calls passes straight to libc.
 *
 * Left alone, and counted (CLT_LOG=debug says how many): a send during
 * which the library wrote to no tracked TLS socket (a memory BIO whose
 * ciphertext the application moves later, a socket outside the domain)
 * and a session that negotiated HTTP/2 (ALPN "h2": HTTP/2 framing is not
 * followed). The plaintext is never logged.
 *
 * Not yet here: the read side (SSL_read, SSL_read_ex, gnutls_record_recv)
 * for SERVER spans, and injection. Both take this same shape: the
 * server-side tracker is fed the plaintext a read returns, on the socket
 * the library read ciphertext from during the call (found as the send
 * side finds its socket); injection works on the plaintext in
 * tx_plaintext() before the library's call.
 *
 * The shim keeps no per-session state: the socket's (fd_sock) is
 * released when the descriptor closes, so the calls that end a session
 * (SSL_free, SSL_shutdown, gnutls_deinit, gnutls_bye) need no interposer.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "log.h"
#include "real.h"
#include "shim.h"
#include "tls.h"

#define GNUTLS_E_INTERNAL_ERROR (-59)

struct gnutls_datum {
	unsigned char *data;
	unsigned int size;
};

static struct {
	int (*SSL_write)(void *, const void *, int);
	int (*SSL_write_ex)(void *, const void *, size_t, size_t *);
	int (*SSL_write_ex2)(void *, const void *, size_t, uint64_t, size_t *);
	void (*SSL_get0_alpn_selected)(const void *, const unsigned char **, unsigned int *);
} ossl;

static struct {
	ssize_t (*gnutls_record_send)(void *, const void *, size_t);
	ssize_t (*gnutls_record_send2)(void *, const void *, size_t, size_t, unsigned int);
	int (*gnutls_alpn_get_selected_protocol)(void *, struct gnutls_datum *);
} gtls;

static pthread_once_t ossl_once = PTHREAD_ONCE_INIT;
static pthread_once_t gtls_once = PTHREAD_ONCE_INIT;

static atomic_ulong tls_nosock; /* plaintext sends that reached no tracked socket */
static atomic_ulong tls_h2;     /* sends on sessions that negotiated h2 */

/*
 * One function of a library: after the shim in the global scope, else in
 * the library itself (its own scope never holds the shim: no re-entry).
 */
static void *find(const char *const *sonames, const char *name)
{
	void *(*libc_dlopen)(const char *, int);
	void *p = dlsym(RTLD_NEXT, name);
	void *h;

	if (p)
		return p;
	/* libc's dlopen: the shim's own routes RTLD_DEEPBIND loads (deepbind.c). */
	*(void **)&libc_dlopen = dlsym(RTLD_NEXT, "dlopen");
	for (; libc_dlopen && *sonames; sonames++) {
		h = libc_dlopen(*sonames, RTLD_LAZY | RTLD_NOLOAD);
		p = h ? dlsym(h, name) : NULL;
		if (h)
			dlclose(h); /* RTLD_NOLOAD took a reference; the library stays loaded */
		if (p)
			return p;
	}
	(void)dlerror(); /* the pending error would be ours */
	return NULL;
}

static const char *const ossl_sonames[] = { "libssl.so.3", "libssl.so.1.1", "libssl.so", NULL };
static const char *const gtls_sonames[] = { "libgnutls.so.30", "libgnutls.so", NULL };

static void bind_ossl(void)
{
	guard_enter();
	*(void **)&ossl.SSL_write = find(ossl_sonames, "SSL_write");
	*(void **)&ossl.SSL_write_ex = find(ossl_sonames, "SSL_write_ex");
	*(void **)&ossl.SSL_write_ex2 = find(ossl_sonames, "SSL_write_ex2");
	*(void **)&ossl.SSL_get0_alpn_selected = find(ossl_sonames, "SSL_get0_alpn_selected");
	guard_exit();
}

static void bind_gtls(void)
{
	guard_enter();
	*(void **)&gtls.gnutls_record_send = find(gtls_sonames, "gnutls_record_send");
	*(void **)&gtls.gnutls_record_send2 = find(gtls_sonames, "gnutls_record_send2");
	*(void **)&gtls.gnutls_alpn_get_selected_protocol =
		find(gtls_sonames, "gnutls_alpn_get_selected_protocol");
	guard_exit();
}

/* Count (and say at debug, at 1, 2, 4, ...) a kind of send left alone. */
static void left_alone(atomic_ulong *count, const char *what)
{
	unsigned long n = atomic_fetch_add_explicit(count, 1, memory_order_relaxed) + 1;

	if ((n & (n - 1)) == 0)
		slog(SLOG_DEBUG, "%lu TLS send(s) %s left alone", n, what);
}

static bool alpn_is_h2(const unsigned char *p, unsigned int len)
{
	return p && len == 2 && p[0] == 'h' && p[1] == '2';
}

static bool ossl_h2(void *ssl)
{
	const unsigned char *alpn = NULL;
	unsigned int len = 0;

	if (!ossl.SSL_get0_alpn_selected)
		return false;
	ossl.SSL_get0_alpn_selected(ssl, &alpn, &len);
	return alpn_is_h2(alpn, len);
}

static bool gtls_h2(void *session)
{
	struct gnutls_datum alpn = { 0 };

	return gtls.gnutls_alpn_get_selected_protocol &&
	       gtls.gnutls_alpn_get_selected_protocol(session, &alpn) == 0 &&
	       alpn_is_h2(alpn.data, alpn.size);
}

/*
 * Whether to follow a plaintext send: not from inside the shim, not on an
 * HTTP/2 session. @h2: the ALPN check (only looked at when it matters).
 */
static bool follow(bool h2)
{
	if (guard_active())
		return false;
	if (h2) {
		left_alone(&tls_h2, "on HTTP/2 (ALPN h2) sessions");
		return false;
	}
	return true;
}

static ssize_t run(const void *buf, size_t len, tls_send_fn fn, void *call)
{
	ssize_t rc;

	if (!tx_plaintext(buf, len, fn, call, &rc))
		left_alone(&tls_nosock, "that reached no tracked socket");
	return rc;
}

/* ---- OpenSSL ------------------------------------------------------------ */

struct ossl_call {
	void *ssl;
	const void *buf;
	size_t num;
	size_t *written; /* SSL_write_ex's, as the application passed it */
	uint64_t flags;  /* SSL_write_ex2's */
	int ex;          /* 0: SSL_write, 1: SSL_write_ex, 2: SSL_write_ex2 */
	int ret;         /* what the application gets back */
};

static ssize_t ossl_send(void *arg)
{
	struct ossl_call *c = arg;

	if (!c->ex) {
		c->ret = ossl.SSL_write(c->ssl, c->buf, (int)c->num);
		return c->ret > 0 ? c->ret : -1;
	}
	if (c->ex == 1)
		c->ret = ossl.SSL_write_ex(c->ssl, c->buf, c->num, c->written);
	else
		c->ret = ossl.SSL_write_ex2(c->ssl, c->buf, c->num, c->flags, c->written);
	if (c->ret != 1)
		return -1;
	return c->written ? (ssize_t)*c->written : (ssize_t)c->num;
}

int shim_ssl_write(void *ssl, const void *buf, int num)
{
	struct ossl_call c = { .ssl = ssl, .buf = buf, .num = (size_t)num };

	pthread_once(&ossl_once, bind_ossl);
	if (!ossl.SSL_write)
		return -1; /* no libssl: the program could not have called it */
	shim_ensure();
	if (num <= 0 || !buf || !follow(ossl_h2(ssl)))
		return ossl.SSL_write(ssl, buf, num);
	run(buf, c.num, ossl_send, &c);
	return c.ret;
}

int shim_ssl_write_ex(void *ssl, const void *buf, size_t num, size_t *written)
{
	struct ossl_call c = { .ssl = ssl, .buf = buf, .num = num, .written = written, .ex = 1 };

	pthread_once(&ossl_once, bind_ossl);
	if (!ossl.SSL_write_ex)
		return 0;
	shim_ensure();
	if (num == 0 || num > SSIZE_MAX || !buf || !follow(ossl_h2(ssl)))
		return ossl.SSL_write_ex(ssl, buf, num, written);
	run(buf, num, ossl_send, &c);
	return c.ret;
}

int shim_ssl_write_ex2(void *ssl, const void *buf, size_t num, uint64_t flags, size_t *written)
{
	struct ossl_call c = { .ssl = ssl, .buf = buf, .num = num, .written = written,
			       .flags = flags, .ex = 2 };

	pthread_once(&ossl_once, bind_ossl);
	if (!ossl.SSL_write_ex2)
		return 0;
	shim_ensure();
	if (num == 0 || num > SSIZE_MAX || !buf || !follow(ossl_h2(ssl)))
		return ossl.SSL_write_ex2(ssl, buf, num, flags, written);
	run(buf, num, ossl_send, &c);
	return c.ret;
}

/* ---- GnuTLS ------------------------------------------------------------- */

struct gtls_call {
	void *session;
	const void *data;
	size_t size;
	size_t pad;         /* gnutls_record_send2's */
	unsigned int flags;
	bool two;
	ssize_t ret;
};

static ssize_t gtls_send(void *arg)
{
	struct gtls_call *c = arg;

	if (c->two)
		c->ret = gtls.gnutls_record_send2(c->session, c->data, c->size, c->pad, c->flags);
	else
		c->ret = gtls.gnutls_record_send(c->session, c->data, c->size);
	return c->ret >= 0 ? c->ret : -1;
}

ssize_t shim_gnutls_record_send(void *session, const void *data, size_t size)
{
	struct gtls_call c = { .session = session, .data = data, .size = size };

	pthread_once(&gtls_once, bind_gtls);
	if (!gtls.gnutls_record_send)
		return GNUTLS_E_INTERNAL_ERROR;
	shim_ensure();
	/*
	 * A retry after GNUTLS_E_AGAIN may pass no data (GnuTLS resends what it
	 * kept): it passes straight through, and the tracker, which counted the
	 * failed call's bytes back out, misses them (README, Known limits). wget
	 * and the others retry with the same buffer, which is followed exactly.
	 */
	if (size == 0 || !data || size > SSIZE_MAX || !follow(gtls_h2(session)))
		return gtls.gnutls_record_send(session, data, size);
	run(data, size, gtls_send, &c);
	return c.ret;
}

ssize_t shim_gnutls_record_send2(void *session, const void *data, size_t size, size_t pad,
				 unsigned int flags)
{
	struct gtls_call c = { .session = session, .data = data, .size = size, .pad = pad,
			       .flags = flags, .two = true };

	pthread_once(&gtls_once, bind_gtls);
	if (!gtls.gnutls_record_send2)
		return GNUTLS_E_INTERNAL_ERROR;
	shim_ensure();
	if (size == 0 || !data || size > SSIZE_MAX || !follow(gtls_h2(session)))
		return gtls.gnutls_record_send2(session, data, size, pad, flags);
	run(data, size, gtls_send, &c);
	return c.ret;
}
