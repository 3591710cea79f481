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
 * calls passes straight to libc. A call the library makes to its own
 * exported names inside one the shim is running (GnuTLS's
 * gnutls_record_send calls gnutls_record_send2) passes straight through.
 *
 * Left alone, and counted (CLT_LOG=debug says how many): a send during
 * which the library wrote to no tracked TLS socket (a memory BIO whose
 * ciphertext the application moves later, a socket outside the domain)
 * and a session that negotiated HTTP/2 (ALPN "h2": HTTP/2 framing is not
 * followed). The plaintext is never logged.
 *
 * Servers (SERVER spans, rx.c): on an accepted socket whose first bytes
 * read were a TLS record, the raw bytes are never parsed; the plaintext a
 * read (SSL_read, SSL_read_ex, gnutls_record_recv, gnutls_record_recv_seq)
 * returned feeds the request side, the plaintext a send took the response
 * side. The socket is the one the library moved ciphertext on during the
 * call; a call that needed none (the record was read earlier, with the
 * one before) uses the socket the session was last seen on (a small map,
 * each entry checked against the connection it was learned on, so that a
 * reused descriptor or session address never feeds another connection),
 * or OpenSSL's SSL_get_rfd when it is an accepted TLS socket. SSL_peek is
 * not interposed: the bytes it shows are read again. SSL_free and
 * gnutls_deinit end the session: its spans in flight end there, marked as
 * ended mid-request (SSL_shutdown and gnutls_bye precede them).
 *
 * CLT_TRACING=inject: a plaintext send that may begin a request reaches
 * the library in pieces, the traceparent line among them (tx.c says how);
 * the application gets its own call's result (ossl_ret, gtls_ret).
 *
 * The shim keeps no other per-session state than that and an injected
 * send left pending by a retry (forgotten at SSL_free, gnutls_deinit):
 * the socket's (fd_sock) is released when the descriptor closes.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>

#include "client.h"
#include "config.h"
#include "log.h"
#include "real.h"
#include "rx.h"
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
	int (*SSL_read)(void *, void *, int);
	int (*SSL_read_ex)(void *, void *, size_t, size_t *);
	void (*SSL_free)(void *);
	int (*SSL_get_rfd)(const void *);
} ossl;

static struct {
	ssize_t (*gnutls_record_send)(void *, const void *, size_t);
	ssize_t (*gnutls_record_send2)(void *, const void *, size_t, size_t, unsigned int);
	int (*gnutls_alpn_get_selected_protocol)(void *, struct gnutls_datum *);
	ssize_t (*gnutls_record_recv)(void *, void *, size_t);
	ssize_t (*gnutls_record_recv_seq)(void *, void *, size_t, unsigned char *);
	void (*gnutls_deinit)(void *);
} gtls;

static pthread_once_t ossl_once = PTHREAD_ONCE_INIT;
static pthread_once_t gtls_once = PTHREAD_ONCE_INIT;

/*
 * Inside a library call the shim made for the application. The library's
 * own calls to its exported names then pass straight through: GnuTLS's
 * gnutls_record_send is gnutls_record_send2, called through the library's
 * PLT and so bound to the shim, and the inner call is part of the outer
 * one's transaction (followed again, a piece of an injected send would be
 * parsed as a stream of its own, given up, and the socket's IDs cleared).
 */
static __thread int in_lib __attribute__((tls_model("initial-exec")));

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
	*(void **)&ossl.SSL_read = find(ossl_sonames, "SSL_read");
	*(void **)&ossl.SSL_read_ex = find(ossl_sonames, "SSL_read_ex");
	*(void **)&ossl.SSL_free = find(ossl_sonames, "SSL_free");
	*(void **)&ossl.SSL_get_rfd = find(ossl_sonames, "SSL_get_rfd");
	guard_exit();
}

static void bind_gtls(void)
{
	guard_enter();
	*(void **)&gtls.gnutls_record_send = find(gtls_sonames, "gnutls_record_send");
	*(void **)&gtls.gnutls_record_send2 = find(gtls_sonames, "gnutls_record_send2");
	*(void **)&gtls.gnutls_alpn_get_selected_protocol =
		find(gtls_sonames, "gnutls_alpn_get_selected_protocol");
	*(void **)&gtls.gnutls_record_recv = find(gtls_sonames, "gnutls_record_recv");
	*(void **)&gtls.gnutls_record_recv_seq = find(gtls_sonames, "gnutls_record_recv_seq");
	*(void **)&gtls.gnutls_deinit = find(gtls_sonames, "gnutls_deinit");
	guard_exit();
}

/* Count (and say at debug, at 1, 2, 4, ...) a kind of send left alone. */
static void left_alone(atomic_ulong *count, const char *what)
{
	unsigned long n = atomic_fetch_add_explicit(count, 1, memory_order_relaxed) + 1;

	if ((n & (n - 1)) == 0)
		slog(SLOG_DEBUG, "%lu TLS call(s) %s left alone", n, what);
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

/* ---- Sessions of accepted sockets (SERVER spans) ------------------------- */

#define SESS_SLOTS 1024 /* a power of two */
#define SESS_PROBE 8

struct sess_ent {
	const void *sess;
	int fd;
	uint64_t id; /* the connection (rx.c) it was seen on, or SESS_CLIENT */
};

/* A session on a tracked (client) socket: its plaintext reads end CLIENT spans (client.c). */
#define SESS_CLIENT UINT64_MAX

static pthread_mutex_t sess_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sess_ent sess_map[SESS_SLOTS];

static size_t sess_slot(const void *sess)
{
	return (size_t)(((uintptr_t)sess >> 4) * 0x9E3779B97F4A7C15ull >> 32) & (SESS_SLOTS - 1);
}

static void sess_put(const void *sess, int fd, uint64_t id)
{
	size_t h = sess_slot(sess), use = SESS_SLOTS;

	pthread_mutex_lock(&sess_lock);
	for (size_t i = 0; i < SESS_PROBE; i++) {
		size_t k = (h + i) & (SESS_SLOTS - 1);

		if (sess_map[k].sess == sess) {
			use = k;
			break;
		}
		if (!sess_map[k].sess && use == SESS_SLOTS)
			use = k;
	}
	/* Full: the slot's former session is forgotten (its next call finds it again). */
	if (use == SESS_SLOTS)
		use = h;
	sess_map[use] = (struct sess_ent){ .sess = sess, .fd = fd, .id = id };
	pthread_mutex_unlock(&sess_lock);
}

void tls_fork_prepare(void)
{
	pthread_mutex_lock(&sess_lock);
}

void tls_fork_parent(void)
{
	pthread_mutex_unlock(&sess_lock);
}

void tls_fork_child(void)
{
	pthread_mutex_unlock(&sess_lock);
}

/* @sess's socket and connection, if known; @take: forget it. */
static bool sess_get(const void *sess, int *fd, uint64_t *id, bool take)
{
	size_t h = sess_slot(sess);
	bool found = false;

	pthread_mutex_lock(&sess_lock);
	for (size_t i = 0; i < SESS_PROBE; i++) {
		struct sess_ent *e = &sess_map[(h + i) & (SESS_SLOTS - 1)];

		if (e->sess == sess) {
			*fd = e->fd;
			*id = e->id;
			found = true;
			if (take)
				*e = (struct sess_ent){ 0 };
			break;
		}
	}
	pthread_mutex_unlock(&sess_lock);
	return found;
}

/*
 * After a call on @sess during which the library moved ciphertext as
 * @call saw: the accepted TLS socket and connection it is on, if any.
 */
static bool sess_sock(const void *sess, bool is_ossl, const struct rx_tls_call *call, int *fd,
		      uint64_t *id)
{
	if (call->fd >= 0) {
		*fd = call->fd;
		*id = call->id;
		sess_put(sess, *fd, *id);
		return true;
	}
	if (sess_get(sess, fd, id, false) && rx_tls_conn(*fd) == *id)
		return true;
	if (is_ossl && ossl.SSL_get_rfd) {
		*fd = ossl.SSL_get_rfd(sess);
		*id = rx_tls_conn(*fd);
		if (*id) {
			sess_put(sess, *fd, *id);
			return true;
		}
	}
	return false;
}

/* Whether the server side may follow a call: tracing on, not from inside the shim. */
static bool rx_follow(void)
{
	return shim_cfg.tracing != TRACING_OFF && !guard_active() && !rx_tls_active();
}

/* The plaintext @n (> 0) bytes at @buf a call on @sess read (@in) or sent: feed the server side. */
static bool rx_plain(const void *sess, bool is_ossl, const struct rx_tls_call *call, bool in,
		     const void *buf, ssize_t n)
{
	int fd;
	uint64_t id;

	if (!sess_sock(sess, is_ossl, call, &fd, &id))
		return false;
	if (n > 0)
		rx_tls_feed(fd, id, in, buf, (size_t)n);
	return true;
}

/* A session ends: its server spans in flight end with it. */
static void sess_end(const void *sess)
{
	int fd;
	uint64_t id;

	if (sess_get(sess, &fd, &id, true) && id != SESS_CLIENT)
		rx_tls_end(fd, id);
}

static ssize_t run(const void *sess, bool is_ossl, const void *buf, size_t len, tls_send_fn fn,
		   void *call)
{
	struct rx_tls_call rc_call;
	bool server = rx_follow(), sent;
	ssize_t rc;
	int saved;

	if (server)
		rx_tls_call_begin(&rc_call);
	sent = tx_plaintext(sess, buf, len, fn, call, &rc);
	if (!server) {
		if (!sent)
			left_alone(&tls_nosock, "that reached no tracked socket");
		return rc;
	}
	saved = errno;
	rx_tls_call_end();
	if (!sent && !rx_plain(sess, is_ossl, &rc_call, false, buf, rc))
		left_alone(&tls_nosock, "that reached no tracked socket");
	errno = saved;
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

static ssize_t ossl_send(void *arg, const void *buf, size_t num)
{
	struct ossl_call *c = arg;
	size_t n = 0;

	in_lib++;
	if (!c->ex)
		c->ret = ossl.SSL_write(c->ssl, buf, (int)num);
	else if (c->ex == 1)
		c->ret = ossl.SSL_write_ex(c->ssl, buf, num, c->written ? c->written : &n);
	else
		c->ret = ossl.SSL_write_ex2(c->ssl, buf, num, c->flags, c->written ? c->written : &n);
	in_lib--;
	if (!c->ex)
		return c->ret > 0 ? c->ret : -1;
	if (c->ret != 1)
		return -1;
	return c->written ? (ssize_t)*c->written : (ssize_t)n;
}

/*
 * What the application gets back from a send that took @rc bytes (the
 * same as the library's own return, unless an injected line went with
 * them: then its own bytes only).
 */
static int ossl_ret(struct ossl_call *c, ssize_t rc)
{
	if (rc < 0)
		return c->ret;
	if (c->written)
		*c->written = (size_t)rc;
	return c->ex ? 1 : (int)rc;
}

int shim_ssl_write(void *ssl, const void *buf, int num)
{
	struct ossl_call c = { .ssl = ssl, .buf = buf, .num = (size_t)num };

	pthread_once(&ossl_once, bind_ossl);
	if (!ossl.SSL_write)
		return -1; /* no libssl: the program could not have called it */
	shim_ensure();
	if (in_lib || num <= 0 || !buf || !follow(ossl_h2(ssl)))
		return ossl.SSL_write(ssl, buf, num);
	return ossl_ret(&c, run(ssl, true, buf, c.num, ossl_send, &c));
}

int shim_ssl_write_ex(void *ssl, const void *buf, size_t num, size_t *written)
{
	struct ossl_call c = { .ssl = ssl, .buf = buf, .num = num, .written = written, .ex = 1 };

	pthread_once(&ossl_once, bind_ossl);
	if (!ossl.SSL_write_ex)
		return 0;
	shim_ensure();
	if (in_lib || num == 0 || num > SSIZE_MAX || !buf || !follow(ossl_h2(ssl)))
		return ossl.SSL_write_ex(ssl, buf, num, written);
	return ossl_ret(&c, run(ssl, true, buf, num, ossl_send, &c));
}

int shim_ssl_write_ex2(void *ssl, const void *buf, size_t num, uint64_t flags, size_t *written)
{
	struct ossl_call c = { .ssl = ssl, .buf = buf, .num = num, .written = written,
			       .flags = flags, .ex = 2 };

	pthread_once(&ossl_once, bind_ossl);
	if (!ossl.SSL_write_ex2)
		return 0;
	shim_ensure();
	if (in_lib || num == 0 || num > SSIZE_MAX || !buf || !follow(ossl_h2(ssl)))
		return ossl.SSL_write_ex2(ssl, buf, num, flags, written);
	return ossl_ret(&c, run(ssl, true, buf, num, ossl_send, &c));
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

static ssize_t gtls_send(void *arg, const void *data, size_t size)
{
	struct gtls_call *c = arg;

	in_lib++;
	if (c->two)
		c->ret = gtls.gnutls_record_send2(c->session, data, size, c->pad, c->flags);
	else
		c->ret = gtls.gnutls_record_send(c->session, data, size);
	in_lib--;
	return c->ret >= 0 ? c->ret : -1;
}

/* What the application gets back (as ossl_ret). */
static ssize_t gtls_ret(const struct gtls_call *c, ssize_t rc)
{
	return rc < 0 ? c->ret : rc;
}

ssize_t shim_gnutls_record_send(void *session, const void *data, size_t size)
{
	struct gtls_call c = { .session = session, .data = data, .size = size };
	ssize_t rc;

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
	if (!in_lib && (size == 0 || !data) && tx_plaintext_resume(session, gtls_send, &c, &rc))
		return gtls_ret(&c, rc);
	if (in_lib || size == 0 || !data || size > SSIZE_MAX || !follow(gtls_h2(session)))
		return gtls.gnutls_record_send(session, data, size);
	return gtls_ret(&c, run(session, false, data, size, gtls_send, &c));
}

ssize_t shim_gnutls_record_send2(void *session, const void *data, size_t size, size_t pad,
				 unsigned int flags)
{
	struct gtls_call c = { .session = session, .data = data, .size = size, .pad = pad,
			       .flags = flags, .two = true };
	ssize_t rc;

	pthread_once(&gtls_once, bind_gtls);
	if (!gtls.gnutls_record_send2)
		return GNUTLS_E_INTERNAL_ERROR;
	shim_ensure();
	if (!in_lib && (size == 0 || !data) && tx_plaintext_resume(session, gtls_send, &c, &rc))
		return gtls_ret(&c, rc);
	if (in_lib || size == 0 || !data || size > SSIZE_MAX || !follow(gtls_h2(session)))
		return gtls.gnutls_record_send2(session, data, size, pad, flags);
	return gtls_ret(&c, run(session, false, data, size, gtls_send, &c));
}

/* ---- Reads and the end of a session (SERVER spans) ----------------------- */

/* @n plaintext bytes at @buf read on client socket @fd's session. */
static void client_plain(int fd, const void *buf, ssize_t n)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = (size_t)n };

	client_read(fd, &iov, 1, (size_t)n, true);
}

/*
 * Around a read on @sess: @call learns the socket. The plaintext is fed
 * after the call, errno kept as the library left it.
 */
static void read_done(const void *sess, bool is_ossl, struct rx_tls_call *call, const void *buf,
		      ssize_t n)
{
	int saved = errno;

	rx_tls_call_end();
	if (n > 0 && call->fd < 0 && call->client_fd >= 0) {
		/* A client's session: the response's plaintext, for its CLIENT span. */
		sess_put(sess, call->client_fd, SESS_CLIENT);
		client_plain(call->client_fd, buf, n);
	} else if (n > 0 && !rx_plain(sess, is_ossl, call, true, buf, n)) {
		int fd;
		uint64_t id;

		/* Plaintext the library had buffered: no ciphertext moved during this call. */
		if (sess_get(sess, &fd, &id, false) && id == SESS_CLIENT)
			client_plain(fd, buf, n);
		else
			left_alone(&tls_nosock, "on no accepted TLS socket");
	}
	errno = saved;
}

int shim_ssl_read(void *ssl, void *buf, int num)
{
	struct rx_tls_call call;
	int rc;

	pthread_once(&ossl_once, bind_ossl);
	if (!ossl.SSL_read)
		return -1;
	shim_ensure();
	if (in_lib || num <= 0 || !buf || !rx_follow() || !follow(ossl_h2(ssl)))
		return ossl.SSL_read(ssl, buf, num);
	rx_tls_call_begin(&call);
	in_lib++;
	rc = ossl.SSL_read(ssl, buf, num);
	in_lib--;
	read_done(ssl, true, &call, buf, rc);
	return rc;
}

int shim_ssl_read_ex(void *ssl, void *buf, size_t num, size_t *readbytes)
{
	struct rx_tls_call call;
	int rc;

	pthread_once(&ossl_once, bind_ossl);
	if (!ossl.SSL_read_ex)
		return 0;
	shim_ensure();
	if (in_lib || num == 0 || !buf || !readbytes || !rx_follow() || !follow(ossl_h2(ssl)))
		return ossl.SSL_read_ex(ssl, buf, num, readbytes);
	rx_tls_call_begin(&call);
	in_lib++;
	rc = ossl.SSL_read_ex(ssl, buf, num, readbytes);
	in_lib--;
	read_done(ssl, true, &call, buf, rc == 1 && *readbytes <= SSIZE_MAX ? (ssize_t)*readbytes : 0);
	return rc;
}

void shim_ssl_free(void *ssl)
{
	pthread_once(&ossl_once, bind_ossl);
	if (!ossl.SSL_free)
		return;
	shim_ensure();
	ossl.SSL_free(ssl);
	/* After the call: a session address reused from here on maps afresh. */
	if (ssl && !guard_active())
		sess_end(ssl);
	if (ssl)
		tx_plaintext_end(ssl);
}

ssize_t shim_gnutls_record_recv(void *session, void *data, size_t size)
{
	struct rx_tls_call call;
	ssize_t rc;

	pthread_once(&gtls_once, bind_gtls);
	if (!gtls.gnutls_record_recv)
		return GNUTLS_E_INTERNAL_ERROR;
	shim_ensure();
	if (in_lib || size == 0 || !data || !rx_follow() || !follow(gtls_h2(session)))
		return gtls.gnutls_record_recv(session, data, size);
	rx_tls_call_begin(&call);
	in_lib++;
	rc = gtls.gnutls_record_recv(session, data, size);
	in_lib--;
	read_done(session, false, &call, data, rc);
	return rc;
}

ssize_t shim_gnutls_record_recv_seq(void *session, void *data, size_t size, unsigned char *seq)
{
	struct rx_tls_call call;
	ssize_t rc;

	pthread_once(&gtls_once, bind_gtls);
	if (!gtls.gnutls_record_recv_seq)
		return GNUTLS_E_INTERNAL_ERROR;
	shim_ensure();
	if (in_lib || size == 0 || !data || !rx_follow() || !follow(gtls_h2(session)))
		return gtls.gnutls_record_recv_seq(session, data, size, seq);
	rx_tls_call_begin(&call);
	in_lib++;
	rc = gtls.gnutls_record_recv_seq(session, data, size, seq);
	in_lib--;
	read_done(session, false, &call, data, rc);
	return rc;
}

void shim_gnutls_deinit(void *session)
{
	pthread_once(&gtls_once, bind_gtls);
	if (!gtls.gnutls_deinit)
		return;
	shim_ensure();
	gtls.gnutls_deinit(session);
	if (session && !guard_active())
		sess_end(session);
	if (session)
		tx_plaintext_end(session);
}
