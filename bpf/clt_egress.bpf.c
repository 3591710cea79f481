// SPDX-License-Identifier: GPL-2.0
/*
 * clt_egress.bpf.c - tc egress (clsact): give each IPv6 TCP or UDP packet
 * of a registered socket the hop-by-hop IOAM header libclt's hopopts
 * backend builds (same option; the CLT trailer in its version 2, with the
 * packet's egress time), with the IDs of the request the packet's first
 * byte belongs to.
 *
 * The IDs come from the socket owner's own slot array (bpfslot.h), found
 * through the socket's storage, which only cltagent writes; the socket's
 * uid must be the one the agent recorded for the array, and the slot's
 * generation the socket's. Anything that cannot be tagged leaves as it
 * came (without the agent's room, if it has it), and is counted: this
 * program never drops a packet.
 *
 * The header goes where the agent reserved room for it (a destination
 * options header of the same length, CLT_BPF_ROOM_OPT): rewritten in
 * place, nothing to allocate. Without that room (an agent without
 * CAP_NET_RAW) the program makes room itself (bpf_skb_adjust_room), which
 * costs a new head per packet that the kernel does not add to the skb's
 * truesize: a receiver on the same host then takes a WARN_ON_ONCE trap in
 * skb_try_coalesce() per coalesced packet.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "clt/bpfslot.h"

#define CLT_TRAILER_FLAG_EGRESS_TIME 0x02 /* include/clt/ioam.h: CLT_TRAILER_F_EGRESS_TIME */
#define CLT_TRAILER_FLAG_RESPONSE 0x01 /* include/clt/ioam.h: CLT_TRAILER_F_RESPONSE */

char LICENSE[] SEC("license") = "GPL";

struct slot_array {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, CLT_BPF_SLOTS);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct clt_bpf_slot));
};

/* Outer map: one process's slot array per index (the agent fills it). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, CLT_BPF_PROCS);
	__type(key, __u32);
	__array(values, struct slot_array);
} clt_procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct clt_bpf_sock);
} clt_socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct clt_bpf_config);
} clt_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CLT_BPF_NCOUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} clt_counters SEC(".maps");

#define ETH_OFF sizeof(struct ethhdr)
#define L4_OFF (ETH_OFF + sizeof(struct ipv6hdr))

static __always_inline int count(__u32 which)
{
	__u64 *v = bpf_map_lookup_elem(&clt_counters, &which);

	if (v)
		*v += 1;
	return TC_ACT_OK;
}

/* The ring entry a segment whose first byte is at stream offset @off takes:
 * the latest request that starts at or before it (offsets compared modulo
 * 2^32, as TCP sequence numbers are). -1 when none of the ring's does. */
static __always_inline int pick_entry(const struct clt_bpf_slot *s, __u32 n, __u32 off, int tcp)
{
	__u32 best_delta = 0xffffffff;
	int best = -1;

	if (n == 0)
		return -1;
	if (!tcp)
		return (int)((n - 1) & (CLT_BPF_RING - 1));
	for (int i = 0; i < CLT_BPF_RING; i++) {
		__u32 idx = n - 1 - i;
		__u32 delta;

		if ((__u32)i >= n)
			continue;
		delta = off - (__u32)s->ring[idx & (CLT_BPF_RING - 1)].start;
		if ((__s32)delta >= 0 && delta < best_delta) {
			best_delta = delta;
			best = (int)(idx & (CLT_BPF_RING - 1));
		}
	}
	return best;
}

/* A packet that is not tagged. One that carries the agent's room leaves
 * without it: the destination options header it reserved is removed, so
 * an untagged packet is what it would have been without the backend.
 * @why: the counter to bump, 0 for none (a segment without payload). */
static __always_inline int untag(struct __sk_buff *skb, int room, __u8 proto, __u32 plen,
				 __u32 hlen, __u32 why)
{
	__u16 new_plen = bpf_htons((__u16)(plen - hlen));

	if (room) {
		if (bpf_skb_adjust_room(skb, -(__s32)hlen, BPF_ADJ_ROOM_NET, BPF_F_ADJ_ROOM_FIXED_GSO) !=
			    0 ||
		    bpf_skb_store_bytes(skb, ETH_OFF + offsetof(struct ipv6hdr, nexthdr), &proto, 1,
					0) != 0 ||
		    bpf_skb_store_bytes(skb, ETH_OFF + offsetof(struct ipv6hdr, payload_len), &new_plen,
					2, 0) != 0)
			why = CLT_BPF_FAILED; /* it keeps the room: receivers skip it */
	}
	return why ? count(why) : TC_ACT_OK;
}

SEC("tc")
int clt_egress(struct __sk_buff *skb)
{
	__u8 trace_id[16], span_id[8];
	struct clt_bpf_config *cfg;
	struct clt_bpf_slot *slot;
	struct clt_bpf_sock *reg;
	struct bpf_sock *sk;
	struct ipv6hdr ip6;
	void *arr;
	__u32 zero = 0, seq, n, off = 0, hlen, mtu_len = 0, l4off = L4_OFF, plen;
	__u8 proto;
	__u8 dir; /* the trailer's response flag, from the slot */
	int tcp, e, room = 0;

	if (skb->protocol != bpf_htons(ETH_P_IPV6) || skb->sk == NULL)
		return TC_ACT_OK;
	sk = bpf_sk_fullsock(skb->sk);
	if (sk == NULL)
		return TC_ACT_OK;
	reg = bpf_sk_storage_get(&clt_socks, sk, 0, 0);
	if (reg == NULL)
		return TC_ACT_OK; /* not a registered socket: not ours to count */

	/* One process can never tag as another: the socket must belong to the
	 * uid the agent recorded when it registered it. */
	if (bpf_get_socket_uid(skb) != reg->uid)
		return count(CLT_BPF_SKIPPED);
	arr = bpf_map_lookup_elem(&clt_procs, &reg->proc);
	if (arr == NULL)
		return count(CLT_BPF_SKIPPED);
	slot = bpf_map_lookup_elem(arr, &reg->slot);
	cfg = bpf_map_lookup_elem(&clt_config, &zero);
	if (slot == NULL || cfg == NULL)
		return count(CLT_BPF_FAILED);

	hlen = cfg->hbh_len;
	if (hlen < 8 || hlen > CLT_BPF_HBH_MAX || cfg->trailer_off > hlen - 40)
		return count(CLT_BPF_FAILED);
	if (bpf_skb_load_bytes(skb, ETH_OFF, &ip6, sizeof(ip6)) != 0)
		return count(CLT_BPF_FAILED);
	if (ip6.version != 6)
		return TC_ACT_OK;
	plen = bpf_ntohs(ip6.payload_len);
	proto = ip6.nexthdr;
	/* The room the agent reserved on the socket (bpfslot.h): the kernel
	 * built the packet with it, so it is rewritten in place. */
	if (proto == IPPROTO_DSTOPTS) {
		__u8 dh[4];

		if (bpf_skb_load_bytes(skb, L4_OFF, dh, sizeof(dh)) != 0)
			return count(CLT_BPF_FAILED);
		if (dh[1] != hlen / 8 - 1 || dh[2] != CLT_BPF_ROOM_OPT)
			return count(CLT_BPF_SKIPPED); /* someone else's destination options */
		room = 1;
		proto = dh[0];
		l4off = L4_OFF + hlen;
	}
	if (proto == IPPROTO_TCP) {
		struct tcphdr th;
		__u32 isn;
		struct bpf_tcp_sock *tp;

		if (bpf_skb_load_bytes(skb, l4off, &th, sizeof(th)) != 0)
			return count(CLT_BPF_FAILED);
		/* A segment without payload (pure ACK, SYN, FIN) carries no request. */
		if (plen <= (__u32)th.doff * 4 + (room ? hlen : 0))
			return untag(skb, room, proto, plen, hlen, 0);
		tp = bpf_tcp_sock(sk);
		if (tp == NULL)
			return untag(skb, room, proto, plen, hlen, CLT_BPF_FAILED);
		/* bytes_acked counts the SYN: snd_una - bytes_acked is the ISN,
		 * and the stream's first byte is ISN + 1. Read once, at the first
		 * data segment, and kept: read later it was seen off by a
		 * segment now and then. */
		if (!reg->isn_known) {
			reg->isn = tp->snd_una - (__u32)tp->bytes_acked;
			/* A response's socket was accepted: the handshake's ACK of
			 * its SYN-ACK is not counted in bytes_acked (measured: every
			 * response's first segment took the previous one's IDs). */
			if (slot->flags & CLT_BPF_SLOT_RESPONSE)
				reg->isn -= 1;
			reg->isn_known = 1;
		}
		isn = reg->isn;
		off = bpf_ntohl(th.seq) - isn - 1;
		tcp = 1;
	} else if (proto == IPPROTO_UDP) {
		tcp = 0;
	} else {
		return count(CLT_BPF_SKIPPED); /* extension headers already, or another protocol */
	}

	/* The owner's stores, read under its sequence counter. */
	seq = *(volatile __u32 *)&slot->seq;
	if ((seq & 1) || slot->gen != reg->gen || !(slot->flags & CLT_BPF_SLOT_ON))
		return untag(skb, room, proto, plen, hlen, CLT_BPF_SKIPPED);
	n = slot->count;
	dir = slot->flags & CLT_BPF_SLOT_RESPONSE ? CLT_TRAILER_FLAG_RESPONSE : 0;
	e = pick_entry(slot, n, off, tcp && !(slot->flags & CLT_BPF_SLOT_STICKY));
	if (e < 0)
		return untag(skb, room, proto, plen, hlen, CLT_BPF_SKIPPED);
	e &= CLT_BPF_RING - 1;
	__builtin_memcpy(trace_id, slot->ring[e].trace_id, sizeof(trace_id));
	__builtin_memcpy(span_id, slot->ring[e].span_id, sizeof(span_id));
	if (*(volatile __u32 *)&slot->seq != seq) /* written meanwhile: never half of two requests */
		return untag(skb, room, proto, plen, hlen, CLT_BPF_SKIPPED);

	if (!room) {
		/* 0 is a jumbogram's (BIG TCP): it has a hop-by-hop header of its own. */
		if (plen == 0 || (__u32)plen + hlen > 0xffff)
			return count(CLT_BPF_SKIPPED);
		/* The kernel sized the packet (or each of its GSO segments) for
		 * the MTU without our header: one that would no longer fit goes
		 * untagged. */
		if (bpf_check_mtu(skb, 0, &mtu_len, (__s32)hlen, 0) != BPF_MTU_CHK_RET_SUCCESS)
			return count(CLT_BPF_SKIPPED);
		/* Keep gso_size: the segments were sized with the header
		 * accounted for (libclt's TCP_MAXSEG clamp), lowering it would
		 * split them twice. This makes a new head the socket's truesize
		 * does not count (see the README's Known limits): the room the
		 * agent reserves avoids it. */
		if (bpf_skb_adjust_room(skb, (__s32)hlen, BPF_ADJ_ROOM_NET, BPF_F_ADJ_ROOM_FIXED_GSO) !=
		    0)
			return count(CLT_BPF_FAILED);
	}
	{
		__u32 toff = cfg->trailer_off;
		__u8 hbh_nh = 0;
		__u16 new_plen = bpf_htons(room ? plen : plen + hlen);
		/* CLT trailer v2: the egress time, on the IOAM nodes' clock
		 * (CLOCK_REALTIME: boot time plus the agent's offset). */
		__u64 now = bpf_ktime_get_boot_ns() + (__u64)cfg->realtime_off_ns;
		struct {
			__u8 flags, reserved[3];
			__u32 sec, nsec;
		} tail = {
			.flags = CLT_TRAILER_FLAG_EGRESS_TIME |
				 dir,
			.sec = bpf_htonl((__u32)(now / 1000000000ull)),
			.nsec = bpf_htonl((__u32)(now % 1000000000ull)),
		};

		__u32 sz = hlen;

		/* Bounds the verifier sees at the call (spilled, hlen's are lost). */
		barrier_var(sz);
		if (toff > CLT_BPF_HBH_MAX - 40 || sz < 8 || sz > CLT_BPF_HBH_MAX)
			return count(CLT_BPF_FAILED);
		if (bpf_skb_store_bytes(skb, L4_OFF, cfg->hbh, sz, 0) != 0 ||
		    bpf_skb_store_bytes(skb, L4_OFF, &proto, 1, 0) != 0 ||
		    bpf_skb_store_bytes(skb, L4_OFF + toff, trace_id, sizeof(trace_id), 0) != 0 ||
		    bpf_skb_store_bytes(skb, L4_OFF + toff + 16, span_id, sizeof(span_id), 0) != 0 ||
		    bpf_skb_store_bytes(skb, L4_OFF + toff + 24, &tail, sizeof(tail), 0) != 0 ||
		    bpf_skb_store_bytes(skb, ETH_OFF + offsetof(struct ipv6hdr, nexthdr), &hbh_nh, 1,
					0) != 0 ||
		    bpf_skb_store_bytes(skb, ETH_OFF + offsetof(struct ipv6hdr, payload_len), &new_plen,
					2, 0) != 0) {
			/* The packet leaves as it came, or without the room. */
			if (room)
				return untag(skb, room, proto, plen, hlen, CLT_BPF_FAILED);
			bpf_skb_adjust_room(skb, -(__s32)hlen, BPF_ADJ_ROOM_NET,
					    BPF_F_ADJ_ROOM_FIXED_GSO);
			return count(CLT_BPF_FAILED);
		}
	}
	return count(CLT_BPF_TAGGED);
}
