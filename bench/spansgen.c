/*
 * spansgen.c - a sender of shim span batches (tag protocol v2, type 16) to
 * cltagent's tag socket, for the agent's ingest benchmark: the records the
 * shim sends (a SERVER span with the HTTP attributes a real one carries),
 * in full batches, as fast as the agent takes them or paced at a rate.
 *
 *   spansgen SOCKET RECORDS RATE
 *
 * RATE 0: as fast as the socket takes them (SOCK_SEQPACKET blocks the
 * sender while the agent's receive queue is full: nothing is lost on the
 * way); otherwise RATE records per second, batch by batch. Prints
 *   spansgen sent N seconds S cpu C
 * (records sent, wall seconds from the first send to the last, the
 * sender's own CPU seconds).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "clt/tagproto.h"

#define PER_BATCH 64 /* as the shim batches them (spans_out.c) */

static size_t put_attr_s(uint8_t *p, const char *k, const char *v)
{
	uint16_t vl = (uint16_t)strlen(v);

	p[0] = 's';
	p[1] = (uint8_t)strlen(k);
	memcpy(p + 2, &vl, 2);
	memcpy(p + 4, k, p[1]);
	memcpy(p + 4 + p[1], v, vl);
	return 4 + p[1] + (size_t)vl;
}

static size_t put_attr_i(uint8_t *p, const char *k, int64_t v)
{
	uint16_t vl = 8;

	p[0] = 'i';
	p[1] = (uint8_t)strlen(k);
	memcpy(p + 2, &vl, 2);
	memcpy(p + 4, k, p[1]);
	memcpy(p + 4 + p[1], &v, 8);
	return 4 + p[1] + 8u;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static uint8_t msg[CLT_SPAN_MSG_MAX];
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct clt_msg_hdr h = {.magic = CLT_TAG_MAGIC, .version = CLT_TAG_VERSION2,
				.type = CLT_MSG_SPAN_BATCH};
	uint8_t attrs[512];
	size_t alen = 0, off, rec_at[PER_BATCH];
	unsigned long long total, sent = 0, rate;
	uint16_t count = PER_BATCH;
	double t0, t1;
	struct rusage ru;
	int fd;

	if (argc != 4) {
		fprintf(stderr, "usage: spansgen SOCKET RECORDS RATE\n");
		return 2;
	}
	total = strtoull(argv[2], NULL, 10);
	rate = strtoull(argv[3], NULL, 10);
	alen += put_attr_s(attrs + alen, "http.request.method", "GET");
	alen += put_attr_s(attrs + alen, "url.path", "/bench/path");
	alen += put_attr_s(attrs + alen, "url.scheme", "http");
	alen += put_attr_i(attrs + alen, "http.response.status_code", 200);
	alen += put_attr_s(attrs + alen, "server.address", "::1");
	alen += put_attr_i(attrs + alen, "server.port", 8080);
	alen += put_attr_s(attrs + alen, "client.address", "::1");
	alen += put_attr_i(attrs + alen, "client.port", 40000);
	alen += put_attr_s(attrs + alen, "network.protocol.version", "1.1");
	off = sizeof(h);
	msg[off++] = 5;
	memcpy(msg + off, "bench", 5);
	off += 5;
	msg[off++] = 8;
	memcpy(msg + off, "spansgen", 8);
	off += 8;
	memcpy(msg + off, &count, 2);
	off += 2;
	for (unsigned int i = 0; i < PER_BATCH; i++) {
		struct clt_span_rec r = {.kind = CLT_SPAN_KIND_SERVER, .attrs_len = (uint16_t)alen};

		if (off + sizeof(r) + alen > sizeof(msg)) {
			fprintf(stderr, "spansgen: batch too large\n");
			return 1;
		}
		memset(r.trace_id, 0x11, sizeof(r.trace_id));
		memset(r.span_id, 0x22, sizeof(r.span_id));
		r.start_ns = 1700000000000000000ull;
		r.end_ns = r.start_ns + 1000;
		rec_at[i] = off;
		memcpy(msg + off, &r, sizeof(r));
		off += sizeof(r);
		memcpy(msg + off, attrs, alen);
		off += alen;
	}
	h.len = (uint16_t)off;
	memcpy(msg, &h, sizeof(h));
	fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", argv[1]);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("spansgen: connect");
		return 1;
	}
	t0 = now_s();
	while (sent + PER_BATCH <= total) {
		/* Distinct IDs per record, as real spans have. */
		for (unsigned int i = 0; i < PER_BATCH; i++) {
			unsigned long long id = sent + i + 1;

			memcpy(msg + rec_at[i] + 8, &id, 8);
			memcpy(msg + rec_at[i] + 16, &id, 8);
		}
		if (rate) {
			double due = t0 + (double)sent / (double)rate;
			double wait = due - now_s();

			if (wait > 0) {
				struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};

				nanosleep(&ts, NULL);
			}
		}
		if (send(fd, msg, off, 0) != (ssize_t)off) {
			if (errno == EINTR)
				continue;
			perror("spansgen: send");
			return 1;
		}
		sent += PER_BATCH;
	}
	t1 = now_s();
	close(fd);
	getrusage(RUSAGE_SELF, &ru);
	printf("spansgen sent %llu seconds %.6f cpu %.6f\n", sent, t1 - t0,
	       (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
		       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
	return 0;
}
