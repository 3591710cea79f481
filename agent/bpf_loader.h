/*
 * bpf_loader.h - cltagent's side of the "bpf" tagging backend: load the tc
 * egress program (bpf/clt_egress.bpf.c, built into the agent), attach it
 * to interfaces (clsact egress, one filter per interface, replacing the
 * one a previous agent left), create each client process's own mmap-able
 * slot array and register sockets in the program's socket storage.
 * Needs CAP_BPF and CAP_NET_ADMIN; with CAP_NET_RAW it also reserves the
 * header's room on each registered socket (bpfslot.h, CLT_BPF_ROOM_OPT).
 */
#ifndef CLT_AGENT_BPF_LOADER_H
#define CLT_AGENT_BPF_LOADER_H

#include <stdint.h>
#include <sys/types.h>

struct bpf_tagger;

struct bpf_tagger_config {
	const char *ifaces; /**< comma-separated interface names; NULL or "": every up interface with IPv6 */
	uint32_t namespace_id, trace_type; /**< 0: libclt's environment, then defaults */
	unsigned int hops;
	int verbose;
};

/** Load, configure and attach. @return 0 or a negative errno (*why says what failed). */
int bpf_tagger_open(struct bpf_tagger **out, const struct bpf_tagger_config *cfg, const char **why);

/** Detach from every interface and free everything. NULL is accepted. */
void bpf_tagger_close(struct bpf_tagger *bt);

/**
 * A new slot array for a process of @uid: *@proc its index (for
 * bpf_tagger_register and bpf_tagger_release), *@fd a descriptor the
 * caller passes on and then closes. @return 0 or a negative errno
 * (-ENOSPC: CLT_BPF_PROCS arrays in use).
 */
int bpf_tagger_new_array(struct bpf_tagger *bt, uid_t uid, uint32_t *proc, int *fd);

/** The process holding @proc is gone: its array leaves the program. */
void bpf_tagger_release(struct bpf_tagger *bt, uint32_t proc);

/** Point socket @sockfd (the caller's descriptor) at slot @slot, generation @gen, of @proc. */
int bpf_tagger_register(struct bpf_tagger *bt, uint32_t proc, uint32_t slot, uint32_t gen,
			int sockfd);

/** Whether registered sockets get the header's room (bpfslot.h): the agent has CAP_NET_RAW. */
int bpf_tagger_room(const struct bpf_tagger *bt);

/** The program's counters summed over CPUs: tagged, skipped, failed. */
void bpf_tagger_counters(const struct bpf_tagger *bt, uint64_t out[3]);

/** Keep the program's realtime offset current (call every second or so). */
void bpf_tagger_tick(struct bpf_tagger *bt);

/** Interfaces attached. */
unsigned int bpf_tagger_n_ifaces(const struct bpf_tagger *bt);

#endif /* CLT_AGENT_BPF_LOADER_H */
