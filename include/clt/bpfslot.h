/*
 * bpfslot.h - what the tc egress program (bpf/clt_egress.bpf.c), cltagent's
 * loader and libclt's "bpf" backend share: the layout of a process's slot
 * array, of the per-socket storage and of the program's configuration.
 * Internal: not installed with the public headers. Host byte order.
 *
 * A process owns one mmap-able array of CLT_BPF_SLOTS slots, indexed by
 * socket descriptor. A slot is written by that process only, with plain
 * stores under a sequence counter (odd while a writer is inside); each
 * slot holds a small ring of (stream offset -> IDs) entries so that every
 * TCP segment takes the IDs of the request its first byte belongs to.
 * Which array and slot a socket uses, and the uid that must own it, are in
 * the socket's storage, written by cltagent only.
 */
#ifndef CLT_BPFSLOT_H
#define CLT_BPFSLOT_H

#include <linux/types.h>

#define CLT_BPF_RING 32      /* ring entries per slot (a power of two) */
#define CLT_BPF_SLOTS 1024   /* slots per process: descriptors 0..1023 */
#define CLT_BPF_PROCS 1024   /* processes with an array at once */
#define CLT_BPF_HBH_MAX 288  /* the largest header ioam_hbh_build() makes is 264 */

/* The room cltagent reserves on a registered socket (IPV6_DSTOPTS, set
 * with its CAP_NET_RAW): a destination options header as long as the
 * hop-by-hop header, one or more options of this type (RFC 4727's
 * experimental type, action "skip") filling it. The kernel then builds
 * every packet with the room (MSS, MTU, GSO and the skb's memory all
 * account for it) and the program turns it into the hop-by-hop header in
 * place, or removes it from a packet it does not tag. A receiver skips
 * it where no program runs (an agent that stopped). */
#define CLT_BPF_ROOM_OPT 0x1e

/* One request: its first byte's offset in the socket's stream (TCP; the
 * bytes handed to the kernel before it), and its IDs. */
struct clt_bpf_entry {
	__u64 start;
	__u8 trace_id[16];
	__u8 span_id[8];
};

struct clt_bpf_slot {
	__u32 seq;   /* sequence counter: odd while the owner writes */
	__u32 gen;   /* the registration this slot serves (0: none) */
	__u32 count; /* entries ever written; entry i is ring[i % CLT_BPF_RING] */
	__u32 flags; /* CLT_BPF_SLOT_* */
	struct clt_bpf_entry ring[CLT_BPF_RING];
};

#define CLT_BPF_SLOT_ON 0x1     /* tag this socket's packets */
#define CLT_BPF_SLOT_STICKY 0x2 /* every packet takes the latest entry (no stream offsets) */
#define CLT_BPF_SLOT_RESPONSE 0x4 /* the socket's packets are responses (trailer flag 0x01) */

/* The socket's storage (BPF_MAP_TYPE_SK_STORAGE), written by cltagent. */
struct clt_bpf_sock {
	__u32 proc; /* index of the owner's array in the outer map */
	__u32 slot; /* slot index in that array */
	__u32 gen;  /* must equal the slot's gen */
	__u32 uid;  /* must equal the socket's uid */
	__u32 isn;  /* the program's: the socket's initial sequence number, */
	__u32 isn_known; /* taken from its first data segment (agent writes 0) */
};

/* The program's configuration (array of one), written by cltagent. */
struct clt_bpf_config {
	__u32 hbh_len;     /* hop-by-hop header length, a multiple of 8 */
	__u32 trailer_off; /* where the CLT trailer (v2) starts */
	__s64 realtime_off_ns; /* CLOCK_REALTIME - CLOCK_BOOTTIME, kept current by the agent */
	__u8 hbh[CLT_BPF_HBH_MAX]; /* the header, zero IDs */
};

/* Per-CPU counters (array of CLT_BPF_NCOUNTERS). */
enum clt_bpf_counter {
	CLT_BPF_TAGGED = 0, /* packets given the header */
	CLT_BPF_SKIPPED,    /* sent untagged: extension headers, MTU, payload limit, no entry */
	CLT_BPF_FAILED,     /* sent untagged: a helper failed */
	CLT_BPF_NCOUNTERS,
};

#endif /* CLT_BPFSLOT_H */
