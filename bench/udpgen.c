/*
 * udpgen.c - make the kernel emit IOAM events at a chosen rate: UDP
 * datagrams to [::1]:PORT through a sticky IPv6 hop-by-hop IOAM option
 * (the hopopts backend's header), in a namespace where lo has IOAM
 * enabled, so that every datagram is one IOAM6_EVENT_TRACE.
 *
 *   udpgen PORT RATE SECONDS [IDS_EVERY]
 *
 * Sends RATE datagrams per second for SECONDS, paced against the clock in
 * batches (sendmmsg), and changes the trace-id every IDS_EVERY datagrams
 * (default 100) so the agent sees many requests. The port is bound by a
 * socket that is never read: datagrams are dropped after IPv6 processed
 * the option, and no ICMP error is generated. Prints one line:
 *   udpgen: sent N errors E seconds S rate R
 * Needs CAP_NET_RAW (IPV6_HOPOPTS).
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clt/clt.h"
#include "clt/ioam.h"

#define UDPGEN_BATCH 16
#define UDPGEN_PAYLOAD 16

static int udpgen_parse(const char *s, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	return (errno || end == s || *end || *out == 0) ? -EINVAL : 0;
}

static uint64_t udpgen_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Attach a hop-by-hop IOAM header carrying IDs derived from @seq. */
static int udpgen_set_ids(int fd, uint64_t seq)
{
	const struct ioam_hbh_config cfg = {
		.namespace_id = CLT_DEFAULT_NAMESPACE,
		.trace_type = CLT_DEFAULT_TRACE_TYPE,
		.hops = CLT_DEFAULT_HOPS,
	};
	uint8_t trace_id[16], span_id[8], hbh[512];
	uint64_t hi = 0x4bf92f3577b34da6ULL ^ (seq * 0x9e3779b97f4a7c15ULL), lo = seq + 1;
	int len, i;

	for (i = 0; i < 8; i++) {
		trace_id[i] = (uint8_t)(hi >> (56 - 8 * i));
		trace_id[8 + i] = (uint8_t)(lo >> (56 - 8 * i));
		span_id[i] = (uint8_t)((0x00f067aa0ba902b7ULL + seq) >> (56 - 8 * i));
	}
	len = ioam_hbh_build(hbh, sizeof(hbh), &cfg, trace_id, span_id);
	if (len < 0) {
		fprintf(stderr, "udpgen: ioam_hbh_build: %s\n", strerror(-len));
		return len;
	}
	if (setsockopt(fd, IPPROTO_IPV6, IPV6_HOPOPTS, hbh, (socklen_t)len) < 0) {
		fprintf(stderr, "udpgen: setsockopt(IPV6_HOPOPTS): %s\n", strerror(errno));
		return -errno;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in6 dst = {.sin6_family = AF_INET6};
	struct mmsghdr msgs[UDPGEN_BATCH];
	struct iovec iov = {0};
	char payload[UDPGEN_PAYLOAD];
	unsigned long port, rate, seconds, every = 100;
	unsigned long long sent = 0, errors = 0, next_ids;
	uint64_t t0, t_end, now, seq = 0;
	int rx, tx, rcvbuf = 4096, i;

	if (argc < 4 || argc > 5 || udpgen_parse(argv[1], &port) || port > 65535 ||
	    udpgen_parse(argv[2], &rate) || udpgen_parse(argv[3], &seconds) ||
	    (argc == 5 && udpgen_parse(argv[4], &every))) {
		fprintf(stderr, "usage: udpgen PORT RATE SECONDS [IDS_EVERY]\n");
		return 2;
	}
	/* Short sleeps must stay short for the pacing to be smooth. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	dst.sin6_addr = in6addr_loopback;
	dst.sin6_port = htons((unsigned short)port);
	rx = socket(AF_INET6, SOCK_DGRAM, 0);
	tx = socket(AF_INET6, SOCK_DGRAM, 0);
	if (rx < 0 || tx < 0) {
		perror("udpgen: socket");
		return 1;
	}
	setsockopt(rx, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (bind(rx, (struct sockaddr *)&dst, sizeof(dst)) < 0 ||
	    connect(tx, (struct sockaddr *)&dst, sizeof(dst)) < 0) {
		perror("udpgen: bind/connect");
		return 1;
	}
	if (udpgen_set_ids(tx, seq++) < 0)
		return 1;
	next_ids = every;
	memset(payload, 'u', sizeof(payload));
	iov.iov_base = payload;
	iov.iov_len = sizeof(payload);
	memset(msgs, 0, sizeof(msgs));
	for (i = 0; i < UDPGEN_BATCH; i++) {
		msgs[i].msg_hdr.msg_iov = &iov;
		msgs[i].msg_hdr.msg_iovlen = 1;
	}

	t0 = udpgen_now_ns();
	t_end = t0 + (uint64_t)seconds * 1000000000ULL;
	while ((now = udpgen_now_ns()) < t_end) {
		unsigned long long due = (unsigned long long)((double)(now - t0) * (double)rate / 1e9);
		unsigned int n;
		int r;

		if (sent >= due) {
			/* Sleep until the next batch is due. */
			uint64_t wake = t0 + (uint64_t)((double)(sent + UDPGEN_BATCH) * 1e9 / (double)rate);
			struct timespec ts = {.tv_sec = (time_t)(wake / 1000000000ULL),
					      .tv_nsec = (long)(wake % 1000000000ULL)};

			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
			continue;
		}
		n = (due - sent) > UDPGEN_BATCH ? UDPGEN_BATCH : (unsigned int)(due - sent);
		if (sent + n > next_ids)
			n = (unsigned int)(next_ids - sent);
		r = sendmmsg(tx, msgs, n, 0);
		if (r < 0) {
			errors++;
			continue;
		}
		sent += (unsigned long long)r;
		if (sent >= next_ids) {
			if (udpgen_set_ids(tx, seq++) < 0)
				return 1;
			next_ids += every;
		}
	}
	now = udpgen_now_ns();
	printf("udpgen: sent %llu errors %llu seconds %.3f rate %.0f\n", sent, errors,
	       (double)(now - t0) / 1e9, (double)sent * 1e9 / (double)(now - t0));
	close(tx);
	close(rx);
	return 0;
}
