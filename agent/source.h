/*
 * source.h - where IOAM traces come from. One interface, three modules:
 *   netlink        IOAM6 generic-netlink events (source_netlink.c)
 *   capture:IFACE  live packets through libpcap (source_pcap.c)
 *   pcap:FILE      a capture file through libpcap (source_pcap.c)
 * A source decodes into one reusable struct ioam_trace and hands each
 * trace to a callback: no allocation per event.
 */
#ifndef CLT_AGENT_SOURCE_H
#define CLT_AGENT_SOURCE_H

#include <stdbool.h>
#include <stdint.h>

#include "clt/ioam.h"

struct source_stats {
	uint64_t events;    /**< events or IPv6 packets with a hop-by-hop header read */
	uint64_t decoded;   /**< traces decoded */
	uint64_t malformed; /**< events/packets that failed validation or decoding */
	uint64_t loss;      /**< events the kernel dropped (ENOBUFS) or the capture lost */
	uint64_t ambiguous; /**< --layout auto could not tell plain IOAM from the patched layout */
};

/** Called per decoded trace; @ts_ns is its arrival time (CLOCK_REALTIME ns). */
typedef void (*source_cb)(void *arg, const struct ioam_trace *trace, uint64_t ts_ns);

struct source;

struct source_ops {
	int (*next)(struct source *src, source_cb cb, void *arg, unsigned int max);
	int (*fd)(struct source *src);
	void (*close)(struct source *src);
};

struct source {
	const struct source_ops *ops;
	enum ioam_layout layout;
	bool offline;         /**< a file: read as fast as possible, time from packets */
	struct source_stats st;
	bool ambiguous_said;  /**< the --layout hint for ambiguous traces was printed */
	struct ioam_trace trace; /**< decode buffer */
};

struct source_options {
	enum ioam_layout layout;
	uint32_t rcvbuf; /**< netlink receive buffer, bytes */
	int verbose;
};

/**
 * Open "netlink", "capture:IFACE" or "pcap:FILE".
 * @return 0 or a negative errno (a message is printed on stderr).
 */
int source_open(struct source **out, const char *spec, const struct source_options *opt);

/**
 * Read what is available without blocking, at most @max events.
 * @return events read (0: nothing now), -ENODATA at the end of a file,
 * or another negative errno on a fatal error.
 */
int source_next(struct source *src, source_cb cb, void *arg, unsigned int max);

/** The descriptor to poll for input, or -1 (offline sources). */
int source_fd(struct source *src);

void source_close(struct source *src);

/* Module constructors (used by source_open). */
int source_netlink_open(struct source **out, const struct source_options *opt);
int source_pcap_open(struct source **out, const char *what, bool live,
		     const struct source_options *opt);

/** Decode a captured frame (@dlt a pcap link type) into src->trace. Exposed for the tests. */
int source_pcap_decode(struct source *src, int dlt, const uint8_t *pkt, uint32_t caplen);

#endif /* CLT_AGENT_SOURCE_H */
