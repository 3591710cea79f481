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

_Static_assert(sizeof(struct clt_tag_req) == 36, "request layout");
_Static_assert(sizeof(struct clt_tag_resp) == 16, "answer layout");

/*
 * Protocol v2: the same 12-octet header with version 2, where v1's `op`
 * is the message type and v1's `reserved` the message's total length:
 *   magic u32 | version u8 | type u8 | len u16 | seq u32
 * v1 requests stay valid. Per type (agent/tagserver.c's table): the size
 * bound, whether a descriptor may come along, whether it is answered, and
 * which rate bucket it draws from. Types 32-47 belong to the bpf backend.
 */
#define CLT_TAG_VERSION2 2

enum clt_msg_type {
	CLT_MSG_TAG_ENABLE = 1,  /**< as v1 ENABLE, body + flags octet + 3 reserved */
	CLT_MSG_TAG_DISABLE = 2, /**< as v1 DISABLE, same body */
	CLT_MSG_SPAN_BATCH = 16, /**< span records; no descriptor, no answer */
	CLT_MSG_BPF_FIRST = 32,  /**< 32..47: the bpf backend's */
	/** Request: header only, no descriptor. Answer: clt_tag_bpf_attach_resp
	 * with, when status is 0, the process's own slot array (a BPF map,
	 * mmap-able, CLT_BPF_SLOTS slots) in SCM_RIGHTS. One per connection;
	 * the array lives as long as the connection. */
	CLT_MSG_BPF_ATTACH = 32,
	/** Request: clt_tag_bpf_register_req with one socket in SCM_RIGHTS;
	 * the agent points the socket's storage at slot @slot, generation
	 * @gen, of this connection's array. Answer: clt_tag_bpf_resp. */
	CLT_MSG_BPF_REGISTER = 33,
	CLT_MSG_BPF_LAST = 47,
};

#define CLT_TAG_FLAG_RESPONSE 0x01u /* v2 tag body: the IDs are for the response direction */

struct clt_msg_hdr {
	uint32_t magic;  /**< CLT_TAG_MAGIC */
	uint8_t version; /**< CLT_TAG_VERSION2 */
	uint8_t type;    /**< enum clt_msg_type */
	uint16_t len;    /**< the whole message, header included */
	uint32_t seq;
} __attribute__((packed));

/* v2 tag request: 40 octets. */
struct clt_tag_req2 {
	struct clt_msg_hdr h;
	uint8_t trace_id[16];
	uint8_t span_id[8];
	uint8_t flags; /**< CLT_TAG_FLAG_* */
	uint8_t reserved[3];
} __attribute__((packed));

/*
 * Span batch (type 16), after the header:
 *   claim: u8 n, service.name[n]; u8 n, process.executable.name[n]
 *   u16 count; count records:
 *     struct clt_span_rec, then attrs_len octets of attributes, each
 *     u8 kind ('s' string | 'i' int64), u8 key_len, u16 val_len, key, value
 *     (an int's value is 8 octets).
 * The receiver trusts none of it: every length is bounded by what is left.
 */
#define CLT_SPAN_MSG_MAX 65535u
#define CLT_SPAN_KIND_SERVER 2 /* OpenTelemetry SpanKind */
#define CLT_SPAN_KIND_CLIENT 3
#define CLT_SPAN_STATUS_UNSET 0
#define CLT_SPAN_STATUS_ERROR 2

struct clt_span_rec {
	uint8_t trace_id[16];
	uint8_t span_id[8];
	uint8_t parent_id[8]; /**< all zero: a root span */
	uint64_t start_ns;    /**< wall clock, Unix nanoseconds */
	uint64_t end_ns;
	uint8_t kind;         /**< CLT_SPAN_KIND_* */
	uint8_t status;       /**< CLT_SPAN_STATUS_* */
	uint16_t attrs_len;
} __attribute__((packed));

/* The bpf types' answers start with the request's header (its type, the
 * answer's own length, the request's seq), then their own fields. */
struct clt_tag_bpf_attach_resp {
	struct clt_msg_hdr h;
	int32_t status;     /**< 0 or a negative errno (-EOPNOTSUPP: no bpf tagging here) */
	uint32_t slots;     /**< slots in the array */
	uint32_t slot_size; /**< octets per slot (sizeof(struct clt_bpf_slot)) */
	uint32_t ring;      /**< ring entries per slot */
	uint32_t flags;     /**< CLT_BPF_ATTACH_* (absent from an older agent's 28-octet answer) */
} __attribute__((packed));

/** The agent reserves the header's room on each socket it registers: the
 * kernel sizes segments for it, no TCP_MAXSEG allowance is needed. */
#define CLT_BPF_ATTACH_ROOM 0x1

struct clt_tag_bpf_register_req {
	struct clt_msg_hdr h;
	uint32_t slot;
	uint32_t gen; /**< non-zero */
} __attribute__((packed));

struct clt_tag_bpf_resp {
	struct clt_msg_hdr h;
	int32_t status; /**< 0 or a negative errno */
} __attribute__((packed));

_Static_assert(sizeof(struct clt_msg_hdr) == 12, "v2 header layout");
_Static_assert(sizeof(struct clt_tag_bpf_attach_resp) == 32, "bpf attach answer layout");
_Static_assert(sizeof(struct clt_tag_bpf_register_req) == 20, "bpf register layout");
_Static_assert(sizeof(struct clt_tag_bpf_resp) == 16, "bpf answer layout");
_Static_assert(sizeof(struct clt_tag_req2) == 40, "v2 request layout");
_Static_assert(sizeof(struct clt_span_rec) == 52, "span record layout");

#endif /* CLT_TAGPROTO_H */
