/*
 * pcapgen.c - write a capture file of IOAM-traced packets for the offline
 * benchmarks: Ethernet / IPv6 / hop-by-hop (the hopopts backend's header,
 * built by ioam_hbh_build) / TCP, with FILLED nodes' data already written
 * into the pre-allocated array as IOAM nodes do (from its end towards its
 * start), and the CLT trailer carrying each request's IDs.
 *
 *   pcapgen OUT REQUESTS EVENTS_PER_REQUEST [FILLED]
 *
 * Requests are interleaved in windows of 1000 (every request of a window
 * sends its k-th packet before any sends its k+1-th), the way concurrent
 * requests share a link. Packet times start at 1700000000 s and advance
 * 1 microsecond per packet.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clt/clt.h"
#include "clt/ioam.h"

#define PCAPGEN_WINDOW 1000
#define PCAPGEN_TCP_LEN 20

static int pcapgen_parse(const char *s, unsigned long *out, int zero_ok)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	return (errno || end == s || *end || (!zero_ok && *out == 0)) ? -EINVAL : 0;
}

static void pcapgen_put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void pcapgen_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Offset of the IOAM option's trace header in @hbh, or -1. */
static int pcapgen_trace_off(const uint8_t *hbh, size_t len)
{
	size_t off = 2;

	while (off + 2 <= len) {
		if (hbh[off] == 0) { /* Pad1 */
			off++;
			continue;
		}
		if (hbh[off] == IOAM_OPT_TYPE && off + 4 + IOAM_TRACE_HDR_LEN <= len)
			return (int)(off + 4);
		off += 2u + hbh[off + 1];
	}
	return -1;
}

/* Write @filled nodes' data the way Linux IOAM nodes do (path order). */
static int pcapgen_fill(uint8_t *trace, size_t avail, unsigned int filled, uint32_t ts_usec)
{
	unsigned int node_len = trace[2] >> 3, rem = trace[3] & 0x7f, n;

	for (n = 0; n < filled; n++) {
		uint8_t *d;

		if (rem < node_len || IOAM_TRACE_HDR_LEN + rem * 4 > avail)
			return -ENOSPC;
		d = trace + IOAM_TRACE_HDR_LEN + rem * 4 - node_len * 4;
		pcapgen_put32(d, (uint32_t)(64 - n) << 24 | (n + 1));          /* hop lim, node id */
		pcapgen_put32(d + 4, (uint32_t)(n * 10 + 11) << 16 | (n * 10 + 12)); /* if ids */
		pcapgen_put32(d + 8, 1700000000u);                             /* ts seconds */
		pcapgen_put32(d + 12, ts_usec + n * 40);                       /* ts fraction, us */
		pcapgen_put32(d + 16, 0xffffffffu);                            /* queue depth */
		rem -= node_len;
	}
	trace[3] = (uint8_t)((trace[3] & 0x80) | rem);
	return 0;
}

int main(int argc, char **argv)
{
	const struct ioam_hbh_config cfg = {
		.namespace_id = CLT_DEFAULT_NAMESPACE,
		.trace_type = CLT_DEFAULT_TRACE_TYPE,
		.hops = CLT_DEFAULT_HOPS,
	};
	static const uint8_t eth[14] = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x86, 0xdd};
	static const uint8_t src[16] = {0xfd, 0, 0, 1, [15] = 1};
	static const uint8_t dstip[16] = {0xfd, 0, 0, 2, [15] = 2};
	uint8_t pkt[1024], hdr[24] = {0}, rec[16];
	unsigned long requests, events, filled = 2, w, e, r;
	unsigned long long n_pkts = 0;
	FILE *f;

	if (argc < 4 || argc > 5 || pcapgen_parse(argv[2], &requests, 0) ||
	    pcapgen_parse(argv[3], &events, 0) || (argc == 5 && pcapgen_parse(argv[4], &filled, 1)) ||
	    filled > CLT_DEFAULT_HOPS) {
		fprintf(stderr, "usage: pcapgen OUT REQUESTS EVENTS_PER_REQUEST [FILLED<=%d]\n",
			CLT_DEFAULT_HOPS);
		return 2;
	}
	f = fopen(argv[1], "wb");
	if (!f) {
		perror("pcapgen: open");
		return 1;
	}
	/* pcap global header, little-endian, microsecond times, Ethernet. */
	memcpy(hdr, "\xd4\xc3\xb2\xa1\x02\x00\x04\x00", 8);
	memcpy(hdr + 16, "\xff\xff\x00\x00\x01\x00\x00\x00", 8);
	fwrite(hdr, 1, sizeof(hdr), f);

	for (w = 0; w < requests; w += PCAPGEN_WINDOW) {
		unsigned long w_end = w + PCAPGEN_WINDOW < requests ? w + PCAPGEN_WINDOW : requests;

		for (e = 0; e < events; e++) {
			for (r = w; r < w_end; r++) {
				uint64_t hi = 0x4bf92f3577b34da6ULL ^ ((r + 1) * 0x9e3779b97f4a7c15ULL);
				uint8_t trace_id[16], span_id[8], *ip6 = pkt + 14, *hbh = pkt + 54;
				uint32_t ts_usec = (uint32_t)(n_pkts % 1000000), caplen;
				int hlen, toff, i;

				for (i = 0; i < 8; i++) {
					trace_id[i] = (uint8_t)(hi >> (56 - 8 * i));
					trace_id[8 + i] = (uint8_t)((r + 1) >> (56 - 8 * i));
					span_id[i] = (uint8_t)((0x00f067aa0ba902b7ULL + r) >> (56 - 8 * i));
				}
				hlen = ioam_hbh_build(hbh, sizeof(pkt) - 54 - PCAPGEN_TCP_LEN, &cfg,
						      trace_id, span_id);
				toff = hlen > 0 ? pcapgen_trace_off(hbh, (size_t)hlen) : -1;
				if (toff < 0 || pcapgen_fill(hbh + toff, (size_t)(hlen - toff),
							     (unsigned int)filled, ts_usec) < 0) {
					fprintf(stderr, "pcapgen: cannot build the IOAM header\n");
					fclose(f);
					return 1;
				}
				hbh[0] = 6; /* TCP follows */
				memcpy(pkt, eth, sizeof(eth));
				memset(ip6, 0, 40);
				ip6[0] = 0x60;
				pcapgen_put16(ip6 + 4, (uint32_t)(hlen + PCAPGEN_TCP_LEN));
				ip6[6] = 0; /* hop-by-hop */
				ip6[7] = 64;
				memcpy(ip6 + 8, src, 16);
				memcpy(ip6 + 24, dstip, 16);
				uint8_t *tcp = hbh + hlen;

				memset(tcp, 0, PCAPGEN_TCP_LEN);
				pcapgen_put16(tcp, (uint32_t)(32768 + r % 28000));
				pcapgen_put16(tcp + 2, 80);
				pcapgen_put32(tcp + 4, (uint32_t)(e * 1000));
				tcp[12] = 5 << 4;
				tcp[13] = 0x18; /* PSH, ACK */
				pcapgen_put16(tcp + 14, 65535);
				caplen = (uint32_t)(54 + hlen + PCAPGEN_TCP_LEN);

				/* Record header in the file's (little-endian) order. */
				uint32_t v[4] = {1700000000u + (uint32_t)(n_pkts / 1000000), ts_usec,
						 caplen, caplen};
				for (i = 0; i < 4; i++) {
					rec[4 * i] = (uint8_t)v[i];
					rec[4 * i + 1] = (uint8_t)(v[i] >> 8);
					rec[4 * i + 2] = (uint8_t)(v[i] >> 16);
					rec[4 * i + 3] = (uint8_t)(v[i] >> 24);
				}
				fwrite(rec, 1, sizeof(rec), f);
				fwrite(pkt, 1, caplen, f);
				n_pkts++;
			}
		}
	}
	if (fclose(f) != 0) {
		perror("pcapgen: write");
		return 1;
	}
	printf("pcapgen: %llu packets, %lu requests\n", n_pkts, requests);
	return 0;
}
