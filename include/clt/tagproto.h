/*
 * tagproto.h - the wire protocol between libclt's "agent" backend and
 * cltagent's tag server: a local SOCK_SEQPACKET Unix socket, one
 * fixed-size request carrying exactly one socket descriptor (SCM_RIGHTS)
 * and one fixed-size answer. Both ends run on the same host, so fields
 * are in host byte order. Internal: not installed with the public headers.
 *
 * Anything that is not exactly a request of this size, version and op,
 * with exactly one descriptor, is refused by the server.
 */
#ifndef CLT_TAGPROTO_H
#define CLT_TAGPROTO_H

#include <stdint.h>

#define CLT_TAG_MAGIC 0x43544147u /* "CTAG" */
#define CLT_TAG_VERSION 1
#define CLT_TAG_DEFAULT_DIR "/run/cltagent"
#define CLT_TAG_DEFAULT_SOCKET CLT_TAG_DEFAULT_DIR "/tag.sock"
#define CLT_TAG_DEFAULT_TIMEOUT_MS 20

enum clt_tag_op {
	CLT_TAG_OP_ENABLE = 1,  /**< apply the IOAM option with these IDs */
	CLT_TAG_OP_DISABLE = 2, /**< remove the sticky hop-by-hop option */
};

/** Request: sent with the socket to tag in SCM_RIGHTS. 36 octets. */
struct clt_tag_req {
	uint32_t magic;   /**< CLT_TAG_MAGIC */
	uint8_t version;  /**< CLT_TAG_VERSION */
	uint8_t op;       /**< enum clt_tag_op */
	uint16_t reserved; /**< 0 */
	uint32_t seq;     /**< echoed in the answer */
	uint8_t trace_id[16];
	uint8_t span_id[8];
} __attribute__((packed));

/** Answer, no descriptor. 16 octets. */
struct clt_tag_resp {
	uint32_t magic;  /**< CLT_TAG_MAGIC */
	uint8_t version; /**< CLT_TAG_VERSION */
	uint8_t reserved[3];
	uint32_t seq;    /**< the request's, or 0 when the request was unreadable */
	int32_t status;  /**< 0 or a negative errno */
} __attribute__((packed));

/*
 * Tag protocol v2 messages of the "bpf" backend. Every v2 message starts
 * with this header; @len is the message's total length.
 */
#define CLT_TAG_VERSION_2 2

struct clt_tag_hdr {
	uint32_t magic;  /**< CLT_TAG_MAGIC */
	uint8_t version; /**< CLT_TAG_VERSION_2 */
	uint8_t type;    /**< enum clt_tag_type */
	uint16_t len;    /**< total length of the message, header included */
	uint32_t seq;    /**< echoed in the answer */
} __attribute__((packed));

enum clt_tag_type {
	/** Request: header only, no descriptor. Answer: clt_tag_bpf_attach_resp
	 * with, when status is 0, the process's own slot array (a BPF map,
	 * mmap-able, CLT_BPF_SLOTS slots) in SCM_RIGHTS. One per connection;
	 * the array lives as long as the connection. */
	CLT_TAG_BPF_ATTACH = 32,
	/** Request: clt_tag_bpf_register_req with one socket in SCM_RIGHTS;
	 * the agent points the socket's storage at slot @slot, generation
	 * @gen, of this connection's array. Answer: clt_tag_bpf_resp. */
	CLT_TAG_BPF_REGISTER = 33,
};

struct clt_tag_bpf_attach_resp {
	struct clt_tag_hdr hdr;
	int32_t status;     /**< 0 or a negative errno (-EOPNOTSUPP: no bpf tagging here) */
	uint32_t slots;     /**< slots in the array */
	uint32_t slot_size; /**< octets per slot (sizeof(struct clt_bpf_slot)) */
	uint32_t ring;      /**< ring entries per slot */
} __attribute__((packed));

struct clt_tag_bpf_register_req {
	struct clt_tag_hdr hdr;
	uint32_t slot;
	uint32_t gen; /**< non-zero */
} __attribute__((packed));

struct clt_tag_bpf_resp {
	struct clt_tag_hdr hdr;
	int32_t status; /**< 0 or a negative errno */
} __attribute__((packed));

_Static_assert(sizeof(struct clt_tag_hdr) == 12, "v2 header layout");
_Static_assert(sizeof(struct clt_tag_bpf_attach_resp) == 28, "bpf attach answer layout");
_Static_assert(sizeof(struct clt_tag_bpf_register_req) == 20, "bpf register layout");
_Static_assert(sizeof(struct clt_tag_bpf_resp) == 16, "bpf answer layout");
_Static_assert(sizeof(struct clt_tag_req) == 36, "request layout");
_Static_assert(sizeof(struct clt_tag_resp) == 16, "answer layout");

#endif /* CLT_TAGPROTO_H */
