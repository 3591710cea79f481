/*
 * tls_client.c - an OpenSSL client on a non-blocking socket whose output
 * must be the same with and without the shim (shim_tls.sh):
 *
 *   tls_client PORT CAFILE TRACE1 TRACE2 TRACE3
 *
 * 1. one large POST (4 MiB body, headers and body in one buffer) to a
 *    server that reads it late: SSL_write meets SSL_ERROR_WANT_WRITE and
 *    is retried with the same buffer until it takes it all;
 * 2. a TLS 1.3 key update (SSL_key_update), then a GET on the same
 *    session;
 * 3. a request cut short: headers and part of the body, then the socket
 *    closed under the session and SSL_write tried once more.
 * Each request carries its own traceparent (TRACEn: "trace-span"), or none
 * (TRACEn: "-"). Every
 * return value, SSL error and errno the application sees is printed.
 */
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BODY (4u << 20)

static int fd = -1;

static void wait_for(int err)
{
	struct pollfd p = { .fd = fd, .events = err == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN };

	poll(&p, 1, 10000);
}

/* Write all of @buf, retrying WANT_READ/WANT_WRITE with the same arguments. */
static int write_all(SSL *ssl, const char *buf, int len, int *wants)
{
	int ret, err;

	for (;;) {
		ret = SSL_write(ssl, buf, len);
		if (ret > 0)
			return ret;
		err = SSL_get_error(ssl, ret);
		if (err != SSL_ERROR_WANT_WRITE && err != SSL_ERROR_WANT_READ) {
			printf("SSL_write failed: ret=%d err=%d\n", ret, err);
			return ret;
		}
		if (err == SSL_ERROR_WANT_WRITE)
			(*wants)++;
		wait_for(err);
	}
}

/* Read one answer (the server's is one line with a Content-Length) and print its body. */
static void read_answer(SSL *ssl)
{
	char buf[4096];
	size_t have = 0;
	char *body, *cl;
	int ret, err;

	for (;;) {
		ret = SSL_read(ssl, buf + have, (int)(sizeof(buf) - 1 - have));
		if (ret <= 0) {
			err = SSL_get_error(ssl, ret);
			if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
				wait_for(err);
				continue;
			}
			printf("SSL_read failed: ret=%d err=%d\n", ret, err);
			return;
		}
		have += (size_t)ret;
		buf[have] = 0;
		body = strstr(buf, "\r\n\r\n");
		cl = strcasestr(buf, "Content-Length: ");
		if (body && cl && have - (size_t)(body + 4 - buf) >= strtoul(cl + 16, NULL, 10)) {
			printf("answer: %s", body + 4);
			return;
		}
	}
}

static char *request(const char *method, const char *path, const char *ids, size_t body,
		     size_t *len)
{
	char head[512], tp[96] = "";
	int n;

	if (strcmp(ids, "-") != 0)
		snprintf(tp, sizeof(tp), "traceparent: 00-%s-01\r\n", ids);
	n = snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: x\r\n%sContent-Length: %zu\r\n\r\n",
		     method, path, tp, body);
	char *r = malloc((size_t)n + body);

	memcpy(r, head, (size_t)n);
	memset(r + n, 'b', body);
	*len = (size_t)n + body;
	return r;
}

int main(int argc, char **argv)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6 };
	int sndbuf = 16384, wants = 0, ret, err;
	SSL_CTX *ctx;
	SSL *ssl;
	size_t len;
	char *r;

	if (argc != 6)
		return 2;
	a.sin6_port = htons((unsigned short)atoi(argv[1]));
	inet_pton(AF_INET6, "::1", &a.sin6_addr);
	fd = socket(AF_INET6, SOCK_STREAM, 0);
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		perror("connect");
		return 1;
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_load_verify_locations(ctx, argv[2], NULL);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_alpn_protos(ctx, (const unsigned char *)"\x08http/1.1", 9);
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	while ((ret = SSL_connect(ssl)) != 1) {
		err = SSL_get_error(ssl, ret);
		if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
			printf("handshake failed: %d\n", err);
			ERR_print_errors_fp(stdout);
			return 1;
		}
		wait_for(err);
	}
	printf("handshake: %s\n", SSL_get_version(ssl));

	/* 1. A large request against a full socket. */
	r = request("POST", "/slow", argv[3], BODY, &len);
	ret = write_all(ssl, r, (int)len, &wants);
	printf("large request: SSL_write took %d of %zu bytes; WANT_WRITE met: %s\n", ret, len,
	       wants > 0 ? "yes" : "no");
	free(r);
	read_answer(ssl);

	/* 2. Key update, then a request on the same session. */
	printf("SSL_key_update: %d\n", SSL_key_update(ssl, SSL_KEY_UPDATE_REQUESTED));
	r = request("GET", "/after-key-update", argv[4], 0, &len);
	ret = write_all(ssl, r, (int)len, &wants);
	printf("after key update: SSL_write %d of %zu\n", ret, len);
	free(r);
	read_answer(ssl);

	/* 3. A request cut short: the socket closed under the session. */
	r = request("POST", "/cut", argv[5], 1000, &len);
	ret = write_all(ssl, r, (int)len - 900, &wants);
	printf("cut request: SSL_write %d of %zu\n", ret, len - 900);
	printf("close: %d\n", close(fd));
	errno = 0;
	ret = SSL_write(ssl, r + len - 900, 900);
	err = SSL_get_error(ssl, ret);
	printf("SSL_write after close: ret=%d err=%d errno=%s\n", ret, err, strerror(errno));
	free(r);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	return 0;
}
