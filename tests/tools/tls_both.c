/*
 * tls_both.c - one program with both OpenSSL and GnuTLS (shim_tls.sh,
 * inject_tls.sh):
 *
 *   tls_both PORT CAFILE TRACE1 TRACE2 [SLOWPORT TRACE3]
 *
 * one request over OpenSSL (SSL_write), then one over GnuTLS
 * (gnutls_record_send2), each on its own connection to [::1]:PORT with
 * its own traceparent (TRACEn: "trace-span", or "-": none); prints both
 * answers' bodies. With SLOWPORT: a 4 MiB POST over GnuTLS
 * (gnutls_record_send) on a non-blocking socket to a server that reads it
 * late, so that sends meet GNUTLS_E_AGAIN and are retried with the same
 * arguments, as GnuTLS requires, and take one record's worth at a time
 * (short counts); the results that do not depend on timing are printed.
 *
 *   tls_both --null-retry PORT CAFILE
 *
 * a POST over GnuTLS whose transport (the program's own push function)
 * meets a full socket once, at the request's second record, and whose
 * GNUTLS_E_AGAIN is retried the other way GnuTLS allows: no data (NULL,
 * 0); what each call says it took is where the next one starts.
 *
 *   tls_both --serve PORT UPPORT CAFILE
 *
 * a server (trace_tls.sh): answers one clear HTTP/1.1 request on
 * [::1]:PORT after making, on the same thread, one over GnuTLS to
 * [::1]:UPPORT (its body printed) - a served thread's outgoing HTTPS call.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BODY (4u << 20)

typedef long (*reader)(void *s, char *buf, size_t len);

static int dial(int port)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons((unsigned short)port) };
	int fd = socket(AF_INET6, SOCK_STREAM, 0);

	inet_pton(AF_INET6, "::1", &a.sin6_addr);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		perror("connect");
		exit(1);
	}
	return fd;
}

static int request(char *buf, size_t size, const char *path, const char *ids)
{
	if (strcmp(ids, "-") == 0)
		return snprintf(buf, size, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
	return snprintf(buf, size, "GET %s HTTP/1.1\r\nHost: x\r\ntraceparent: 00-%s-01\r\n\r\n", path,
			ids);
}

/* Read one answer and print its body. */
static void answer(void *s, reader rd)
{
	char buf[4096];
	size_t have = 0;
	char *body, *cl;
	long n;

	while ((n = rd(s, buf + have, sizeof(buf) - 1 - have)) > 0) {
		have += (size_t)n;
		buf[have] = 0;
		body = strstr(buf, "\r\n\r\n");
		cl = strcasestr(buf, "Content-Length: ");
		if (body && cl && have - (size_t)(body + 4 - buf) >= strtoul(cl + 16, NULL, 10)) {
			printf("answer: %s", body + 4);
			return;
		}
	}
	printf("no answer (%ld)\n", n);
}

static long ossl_read(void *s, char *buf, size_t len)
{
	return SSL_read(s, buf, (int)len);
}

/* GnuTLS returns GNUTLS_E_AGAIN after a post-handshake message (a TLS 1.3 ticket), even blocking. */
static long gtls_read(void *s, char *buf, size_t len)
{
	ssize_t n;

	do
		n = gnutls_record_recv(s, buf, len);
	while (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED);
	return n;
}

static gnutls_session_t gtls_connect(gnutls_certificate_credentials_t cred, int fd)
{
	gnutls_datum_t alpn = { .data = (unsigned char *)"http/1.1", .size = 8 };
	gnutls_session_t gs;
	int ret;

	gnutls_init(&gs, GNUTLS_CLIENT);
	gnutls_set_default_priority(gs);
	gnutls_credentials_set(gs, GNUTLS_CRD_CERTIFICATE, cred);
	gnutls_session_set_verify_cert(gs, NULL, 0);
	gnutls_alpn_set_protocols(gs, &alpn, 1, 0);
	gnutls_transport_set_int(gs, fd);
	do
		ret = gnutls_handshake(gs);
	while (ret < 0 && !gnutls_error_is_fatal(ret));
	if (ret < 0) {
		printf("GnuTLS handshake failed: %s\n", gnutls_strerror(ret));
		exit(1);
	}
	return gs;
}

/*
 * The large POST on a non-blocking socket: each GNUTLS_E_AGAIN retried
 * with the very same arguments once the socket can take more.
 */
static void gtls_large(gnutls_certificate_credentials_t cred, int port, const char *ids)
{
	int fd = dial(port), sndbuf = 16384, agains = 0, shorts = 0;
	char head[512], tp[96] = "";
	size_t len, off = 0;
	gnutls_session_t gs;
	ssize_t r;
	char *req;
	int n;

	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	gs = gtls_connect(cred, fd);
	if (strcmp(ids, "-") != 0)
		snprintf(tp, sizeof(tp), "traceparent: 00-%s-01\r\n", ids);
	n = snprintf(head, sizeof(head), "POST /slow HTTP/1.1\r\nHost: x\r\n%sContent-Length: %u\r\n\r\n",
		     tp, BODY);
	len = (size_t)n + BODY;
	req = malloc(len);
	memcpy(req, head, (size_t)n);
	memset(req + n, 'g', BODY);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	while (off < len) {
		r = gnutls_record_send(gs, req + off, len - off);
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };

			agains++;
			poll(&p, 1, 10000);
			continue;
		}
		if (r <= 0) {
			printf("gnutls_record_send failed: %zd (%s)\n", r, gnutls_strerror((int)r));
			break;
		}
		if ((size_t)r > len - off)
			printf("gnutls_record_send took %zd of %zu\n", r, len - off);
		shorts += (size_t)r < len - off;
		off += (size_t)r;
	}
	printf("large request over GnuTLS: took %zu of %zu bytes; short counts: %s; E_AGAIN met: %s\n",
	       off, len, shorts ? "yes" : "no", agains ? "yes" : "no");
	fcntl(fd, F_SETFL, 0);
	answer(gs, gtls_read);
	gnutls_bye(gs, GNUTLS_SHUT_RDWR);
	gnutls_deinit(gs);
	close(fd);
	free(req);
}

static int flaky_fd, flaky_armed, flaky_pushes;

/* The transport: the second record pushed once armed finds the socket full, once. */
static ssize_t flaky_push(gnutls_transport_ptr_t p, const void *data, size_t len)
{
	(void)p;
	if (flaky_armed && ++flaky_pushes == 2) {
		errno = EAGAIN;
		return -1;
	}
	return send(flaky_fd, data, len, MSG_NOSIGNAL);
}

static int null_retry(int port, const char *cafile)
{
	gnutls_certificate_credentials_t cred;
	gnutls_session_t gs;
	char req[1024];
	size_t off = 0, len;
	ssize_t r;
	int n;

	alarm(20); /* a request that lost bytes would leave the server waiting */
	gnutls_global_init();
	gnutls_certificate_allocate_credentials(&cred);
	gnutls_certificate_set_x509_trust_file(cred, cafile, GNUTLS_X509_FMT_PEM);
	flaky_fd = dial(port);
	gs = gtls_connect(cred, flaky_fd);
	gnutls_transport_set_push_function(gs, flaky_push);
	n = snprintf(req, sizeof(req),
		     "POST /null-retry HTTP/1.1\r\nHost: x\r\nX-Pad: %0200d\r\nContent-Length: 5\r\n\r\nhello",
		     0);
	len = (size_t)n;
	flaky_armed = 1;
	r = gnutls_record_send(gs, req, len);
	for (;;) {
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
			r = gnutls_record_send(gs, NULL, 0);
			continue;
		}
		if (r <= 0 || (size_t)r > len - off) {
			printf("gnutls_record_send: %zd with %zu of %zu left\n", r, len - off, len);
			break;
		}
		off += (size_t)r;
		if (off == len)
			break;
		r = gnutls_record_send(gs, req + off, len - off);
	}
	flaky_armed = 0;
	printf("null-data retry over GnuTLS: took %zu of %zu bytes\n", off, len);
	answer(gs, gtls_read);
	gnutls_bye(gs, GNUTLS_SHUT_RDWR);
	gnutls_deinit(gs);
	close(flaky_fd);
	gnutls_certificate_free_credentials(cred);
	gnutls_global_deinit();
	return 0;
}

static int serve(int port, int up, const char *cafile)
{
	static const char rsp[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n";
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons((unsigned short)port) };
	gnutls_certificate_credentials_t cred;
	gnutls_session_t gs;
	char buf[4096], req[512];
	size_t have = 0;
	ssize_t n;
	int l, c, fd, one = 1;

	l = socket(AF_INET6, SOCK_STREAM, 0);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	inet_pton(AF_INET6, "::1", &a.sin6_addr);
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(l, 4) != 0) {
		perror("bind");
		return 1;
	}
	c = accept(l, NULL, NULL);
	while (have < sizeof(buf) - 1 && (n = read(c, buf + have, sizeof(buf) - 1 - have)) > 0) {
		have += (size_t)n;
		buf[have] = 0;
		if (strstr(buf, "\r\n\r\n"))
			break;
	}
	/* The outgoing call, on the thread serving the request. */
	gnutls_global_init();
	gnutls_certificate_allocate_credentials(&cred);
	gnutls_certificate_set_x509_trust_file(cred, cafile, GNUTLS_X509_FMT_PEM);
	fd = dial(up);
	gs = gtls_connect(cred, fd);
	n = request(req, sizeof(req), "/fixed", "-");
	printf("gnutls_record_send: %zd of %zd\n", gnutls_record_send(gs, req, (size_t)n), n);
	answer(gs, gtls_read);
	gnutls_bye(gs, GNUTLS_SHUT_RDWR);
	gnutls_deinit(gs);
	close(fd);
	gnutls_certificate_free_credentials(cred);
	gnutls_global_deinit();
	n = write(c, rsp, sizeof(rsp) - 1);
	close(c);
	close(l);
	return n == (ssize_t)sizeof(rsp) - 1 ? 0 : 1;
}

int main(int argc, char **argv)
{
	gnutls_certificate_credentials_t cred;
	gnutls_session_t gs;
	char req[512];
	SSL_CTX *ctx;
	SSL *ssl;
	int fd, n;

	if (argc == 4 && strcmp(argv[1], "--null-retry") == 0)
		return null_retry(atoi(argv[2]), argv[3]);
	if (argc == 5 && strcmp(argv[1], "--serve") == 0)
		return serve(atoi(argv[2]), atoi(argv[3]), argv[4]);
	if (argc != 5 && argc != 7)
		return 2;

	/* OpenSSL. */
	ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_load_verify_locations(ctx, argv[2], NULL);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_alpn_protos(ctx, (const unsigned char *)"\x08http/1.1", 9);
	fd = dial(atoi(argv[1]));
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) != 1) {
		printf("OpenSSL handshake failed\n");
		return 1;
	}
	n = request(req, sizeof(req), "/openssl", argv[3]);
	printf("SSL_write: %d of %d\n", SSL_write(ssl, req, n), n);
	answer(ssl, ossl_read);
	SSL_shutdown(ssl);
	SSL_free(ssl);
	close(fd);
	SSL_CTX_free(ctx);

	/* GnuTLS. */
	gnutls_global_init();
	gnutls_certificate_allocate_credentials(&cred);
	gnutls_certificate_set_x509_trust_file(cred, argv[2], GNUTLS_X509_FMT_PEM);
	fd = dial(atoi(argv[1]));
	gs = gtls_connect(cred, fd);
	n = request(req, sizeof(req), "/gnutls", argv[4]);
	printf("gnutls_record_send2: %zd of %d\n", gnutls_record_send2(gs, req, (size_t)n, 0, 0), n);
	answer(gs, gtls_read);
	gnutls_bye(gs, GNUTLS_SHUT_RDWR);
	gnutls_deinit(gs);
	close(fd);
	if (argc == 7)
		gtls_large(cred, atoi(argv[5]), argv[6]);
	gnutls_certificate_free_credentials(cred);
	gnutls_global_deinit();
	return 0;
}
