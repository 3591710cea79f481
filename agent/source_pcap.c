/*
 * source_pcap.c - IOAM traces from captured IPv6 packets (libpcap):
 * "capture:IFACE" live, "pcap:FILE" offline. For kernels without IOAM
 * events and for the CLT-patched kernel's layout (--layout patched).
 *
 * A captured trace is the option as it was on the wire when the packet
 * reached the interface: on a host's ingress it holds the upstream
 * nodes' data, not yet the host's own. Every frame is untrusted: each
 * header is checked against the captured length before it is read.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcap/pcap.h>

#include "source.h"

#define ETH_P_IPV6_ 0x86dd
#define ETH_P_8021Q_ 0x8100
#define ETH_P_8021AD_ 0x88a8
#define IPV6_HDR_LEN 40
#define NEXTHDR_HOP_ 0
#define SNAPLEN 1024
/* Offline reads: libpcap reads a file through stdio, 4 KiB per read(2) by
 * default; one 1 MiB buffer cuts the system calls 256-fold. */
#define OFFLINE_BUF (1u << 20)

struct pcap_source {
	struct source base;
	pcap_t *p;
	char *filebuf; /* the stdio buffer of an offline file, freed after pcap_close() */
	int dlt;
	bool live;
	source_cb cb;
	void *arg;
};

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Offset of the IPv6 header in a frame of link type @dlt, or -1 (not IPv6), -2 (truncated). */
static int l3_offset(int dlt, const uint8_t *pkt, uint32_t caplen)
{
	uint32_t off;
	uint16_t proto;

	switch (dlt) {
	case DLT_EN10MB:
		if (caplen < 14)
			return -2;
		off = 12;
		proto = be16(pkt + off);
		/* At most two VLAN tags (QinQ). */
		for (int tags = 0; tags < 2 && (proto == ETH_P_8021Q_ || proto == ETH_P_8021AD_); tags++) {
			off += 4;
			if (caplen < off + 2)
				return -2;
			proto = be16(pkt + off);
		}
		off += 2;
		return proto == ETH_P_IPV6_ ? (int)off : -1;
	case DLT_LINUX_SLL:
		if (caplen < 16)
			return -2;
		return be16(pkt + 14) == ETH_P_IPV6_ ? 16 : -1;
#ifdef DLT_LINUX_SLL2
	case DLT_LINUX_SLL2:
		if (caplen < 20)
			return -2;
		return be16(pkt) == ETH_P_IPV6_ ? 20 : -1;
#endif
	case DLT_RAW:
#ifdef DLT_IPV6
	case DLT_IPV6:
#endif
		return 0;
	case DLT_NULL:
	case DLT_LOOP:
		if (caplen < 4)
			return -2;
		return 4;
	default:
		return -1;
	}
}

int source_pcap_decode(struct source *src, int dlt, const uint8_t *pkt, uint32_t caplen)
{
	int off = l3_offset(dlt, pkt, caplen);
	const uint8_t *ip6;
	uint32_t avail, plen;
	int rc;

	if (off == -1)
		return -ENOENT;
	if (off < 0 || caplen < (uint32_t)off + IPV6_HDR_LEN) {
		/* Too short to say what it is: count it, it may be an attack or a snaplen issue. */
		src->st.events++;
		src->st.malformed++;
		return -EINVAL;
	}
	ip6 = pkt + off;
	if ((ip6[0] >> 4) != 6 || ip6[6] != NEXTHDR_HOP_)
		return -ENOENT;
	src->st.events++;
	avail = caplen - (uint32_t)off - IPV6_HDR_LEN;
	plen = be16(ip6 + 4);
	if (plen < avail)
		avail = plen; /* ignore link-layer padding */
	rc = ioam_decode_hbh(&src->trace, ip6 + IPV6_HDR_LEN, avail, src->layout);
	if (rc == -ENOENT)
		return rc;
	if (rc == -ENOTUNIQ) {
		/* Guessing would turn the patched kernel's IDs into nodes (or
		 * nodes into IDs): export nothing, count it, say what to pass. */
		src->st.ambiguous++;
		if (!src->ambiguous_said) {
			src->ambiguous_said = true;
			fprintf(stderr, "cltagent: --layout auto: a trace reads both as plain IOAM and as "
					"the CLT-patched kernel's layout (IDs before the nodes); such traces "
					"are counted 'ambiguous' and not exported: pass --layout patched "
					"(CLT-patched kernel) or --layout none (said once)\n");
		}
		return rc;
	}
	if (rc < 0) {
		src->st.malformed++;
		return rc;
	}
	src->st.decoded++;
	return 0;
}

static void on_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
	struct pcap_source *ps = (struct pcap_source *)user;
	uint64_t ts = (uint64_t)h->ts.tv_sec * 1000000000ull + (uint64_t)h->ts.tv_usec;

	/* Opened with nanosecond precision: tv_usec holds nanoseconds. */
	if (source_pcap_decode(&ps->base, ps->dlt, bytes, h->caplen) == 0)
		ps->cb(ps->arg, &ps->base.trace, ts);
}

static int pc_next(struct source *src, source_cb cb, void *arg, unsigned int max)
{
	struct pcap_source *ps = (struct pcap_source *)src;
	int n;

	ps->cb = cb;
	ps->arg = arg;
	n = pcap_dispatch(ps->p, (int)max, on_packet, (u_char *)ps);
	if (n == PCAP_ERROR) {
		fprintf(stderr, "cltagent: pcap: %s\n", pcap_geterr(ps->p));
		return -EIO;
	}
	if (n == PCAP_ERROR_BREAK)
		return 0;
	if (ps->live) {
		struct pcap_stat pst;

		if (pcap_stats(ps->p, &pst) == 0)
			src->st.loss = (uint64_t)pst.ps_drop + pst.ps_ifdrop;
	} else if (n == 0) {
		return -ENODATA;
	}
	return n;
}

static int pc_fd(struct source *src)
{
	struct pcap_source *ps = (struct pcap_source *)src;

	return ps->live ? pcap_get_selectable_fd(ps->p) : -1;
}

static void pc_close(struct source *src)
{
	struct pcap_source *ps = (struct pcap_source *)src;

	if (ps->p)
		pcap_close(ps->p); /* also closes the FILE */
	free(ps->filebuf);
	free(ps);
}

static const struct source_ops pc_ops = {
	.next = pc_next,
	.fd = pc_fd,
	.close = pc_close,
};

static int open_live(struct pcap_source *ps, const char *iface, char *err)
{
	struct bpf_program prog;
	int rc;

	ps->p = pcap_create(iface, err);
	if (!ps->p)
		return -ENODEV;
	pcap_set_snaplen(ps->p, SNAPLEN);
	pcap_set_immediate_mode(ps->p, 1);
	pcap_set_buffer_size(ps->p, 8 << 20);
	pcap_set_tstamp_precision(ps->p, PCAP_TSTAMP_PRECISION_NANO);
	rc = pcap_activate(ps->p);
	if (rc < 0) {
		snprintf(err, PCAP_ERRBUF_SIZE, "%s", pcap_geterr(ps->p));
		return rc == PCAP_ERROR_PERM_DENIED ? -EPERM : -ENODEV;
	}
	/* Only IPv6 with a hop-by-hop header reaches userspace. */
	if (pcap_compile(ps->p, &prog, "ip6 and ip6[6] = 0", 1, PCAP_NETMASK_UNKNOWN) == 0) {
		pcap_setfilter(ps->p, &prog);
		pcap_freecode(&prog);
	}
	if (pcap_setnonblock(ps->p, 1, err) < 0)
		return -EIO;
	return 0;
}

/* A capture file ("-": standard input) read through a large stdio buffer. */
static int open_file(struct pcap_source *ps, const char *path, char *err)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rbe");

	if (!f) {
		snprintf(err, PCAP_ERRBUF_SIZE, "%s", strerror(errno));
		return -errno;
	}
	ps->filebuf = malloc(OFFLINE_BUF);
	/* Without the buffer, stdio's default one still works. */
	if (ps->filebuf && setvbuf(f, ps->filebuf, _IOFBF, OFFLINE_BUF) != 0) {
		free(ps->filebuf);
		ps->filebuf = NULL;
	}
	ps->p = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_NANO, err);
	if (!ps->p) {
		if (f != stdin)
			fclose(f);
		return -EINVAL;
	}
	return 0;
}

int source_pcap_open(struct source **out, const char *what, bool live,
		     const struct source_options *opt)
{
	struct pcap_source *ps = calloc(1, sizeof(*ps));
	char err[PCAP_ERRBUF_SIZE] = "";
	int rc = 0;

	if (!ps)
		return -ENOMEM;
	ps->base.ops = &pc_ops;
	ps->base.layout = opt->layout;
	ps->base.offline = !live;
	ps->live = live;
	if (live) {
		rc = open_live(ps, what, err);
	} else {
		rc = open_file(ps, what, err);
	}
	if (rc < 0) {
		fprintf(stderr, "cltagent: %s %s: %s\n", live ? "capture" : "pcap", what, err);
		pc_close(&ps->base);
		return rc;
	}
	ps->dlt = pcap_datalink(ps->p);
	*out = &ps->base;
	return 0;
}
