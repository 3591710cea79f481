/*
 * tag_bpf.h - the tag server's "bpf" message types (tag protocol v2,
 * types 32 and 33, include/clt/tagproto.h): hand a connecting process its
 * own slot array, register its sockets. Each connection's array is freed
 * when the connection closes (the process is gone).
 */
#ifndef CLT_AGENT_TAG_BPF_H
#define CLT_AGENT_TAG_BPF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct bpf_tagger;

/* Per connection. */
struct tag_bpf_conn {
	bool has_array;
	uint32_t proc;
};

/**
 * Handle one v2 message of a bpf type (@msg, @n octets, at least a
 * clt_msg_hdr; @fds received, the caller closes them) and send its answer
 * on @sock. @refused: the tag server's per-type table refused it (size,
 * descriptors, the connection's role): answer -EINVAL.
 * @return 0, or -EPIPE when the answer could not be sent (drop the connection).
 */
int tag_bpf_serve(struct bpf_tagger *bt, struct tag_bpf_conn *c, int sock, uid_t uid,
		  const void *msg, size_t n, bool refused, const int *fds, int nfds,
		  bool allowed_rate, uint64_t *tagged, uint64_t *rejected);

/** The connection is gone: free its array. */
void tag_bpf_release(struct bpf_tagger *bt, struct tag_bpf_conn *c);

#endif /* CLT_AGENT_TAG_BPF_H */
