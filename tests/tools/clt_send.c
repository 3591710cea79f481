/*
 * clt_send.c - test tool: send a few messages on a socket tagged through
 * libclt, so tests can check what the kernel reports.
 *
 *   clt_send [-u] [-n COUNT] [-d] ADDR PORT TRACEID32HEX SPANID16HEX
 *
 * Connects over TCP (UDP with -u), clt_enable()s the IDs with the backend
 * chosen from the environment (CLT_BACKEND, ...), sends COUNT messages
 * (default 3), and with -d clt_disable()s and sends COUNT more. Prints the
 * backend and its reason on stderr; exits non-zero on any failure. TCP
 * runs with TCP_NODELAY so that each message is one segment.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clt/clt.h"
#include "clt/ioam.h"

static int hex_decode(uint8_t *out, size_t n, const char *s)
{
	if (strlen(s) != 2 * n || clt_unhex(out, s, n) < 0)
		return -1;
	return 0;
}

/* Pause between messages so each leaves in its own segment. */
static void pause_ms(long ms)
{
	struct timespec ts = {.tv_sec = 0, .tv_nsec = ms * 1000000L};

	nanosleep(&ts, NULL);
}

static int send_some(int fd, long count, const char *phase)
{
	char msg[64];
	long i;

	for (i = 0; i < count; i++) {
		int n = snprintf(msg, sizeof(msg), "clt_send %s %ld\n", phase, i);

		if (send(fd, msg, (size_t)n, 0) != n) {
			fprintf(stderr, "clt_send: send: %s\n", strerror(errno));
			return -1;
		}
		pause_ms(20);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct addrinfo hints, *ai = NULL;
	struct clt_ctx *ctx = NULL;
	uint8_t trace[CLT_TRACE_ID_LEN], span[CLT_SPAN_ID_LEN];
	long count = 3;
	int opt, udp = 0, disable = 0, fd = -1, err, ret = 1;
	const char *why = NULL;
	char *end;

	while ((opt = getopt(argc, argv, "un:d")) != -1) {
		switch (opt) {
		case 'u':
			udp = 1;
			break;
		case 'n':
			errno = 0;
			count = strtol(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' || count < 0)
				goto usage;
			break;
		case 'd':
			disable = 1;
			break;
		default:
			goto usage;
		}
	}
	if (argc - optind != 4)
		goto usage;
	if (hex_decode(trace, sizeof(trace), argv[optind + 2]) < 0 ||
	    hex_decode(span, sizeof(span), argv[optind + 3]) < 0) {
		fprintf(stderr, "clt_send: trace id must be 32 hex digits, span id 16\n");
		return 2;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = udp ? SOCK_DGRAM : SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	err = getaddrinfo(argv[optind], argv[optind + 1], &hints, &ai);
	if (err != 0) {
		fprintf(stderr, "clt_send: %s %s: %s\n", argv[optind], argv[optind + 1],
			gai_strerror(err));
		return 2;
	}

	err = clt_open(&ctx, NULL);
	if (err < 0) {
		clt_check_options(NULL, &why);
		fprintf(stderr, "clt_send: clt_open: %s: %s\n", clt_strerror(err), why ? why : "");
		goto out;
	}
	fprintf(stderr, "backend=%s reason=%s\n", clt_backend_name(clt_backend_get(ctx)),
		clt_backend_reason(ctx));

	fd = socket(ai->ai_family, ai->ai_socktype, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		fprintf(stderr, "clt_send: connect: %s\n", strerror(errno));
		goto out;
	}
	if (!udp) {
		int one = 1;

		/* One message, one segment: tests count packets. */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	err = clt_enable(ctx, fd, trace, span);
	if (err < 0) {
		fprintf(stderr, "clt_send: clt_enable: %s\n", clt_strerror(err));
		goto out;
	}
	if (send_some(fd, count, "enabled") < 0)
		goto out;
	if (disable) {
		err = clt_disable(ctx, fd);
		if (err < 0) {
			fprintf(stderr, "clt_send: clt_disable: %s\n", clt_strerror(err));
			goto out;
		}
		if (send_some(fd, count, "disabled") < 0)
			goto out;
	}
	if (!udp) {
		/* Let the peer read everything before the connection goes. */
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		char buf[256];

		shutdown(fd, SHUT_WR);
		while (poll(&pfd, 1, 2000) > 0 && recv(fd, buf, sizeof(buf), 0) > 0)
			;
	}
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	clt_close(ctx);
	freeaddrinfo(ai);
	return ret;
usage:
	fprintf(stderr, "usage: clt_send [-u] [-n COUNT] [-d] ADDR PORT TRACEID32HEX SPANID16HEX\n");
	return 2;
}
