/*
 * spans_out.h - span records leave the process: appended to one bounded
 * message buffer (tag protocol v2, type 16, include/clt/tagproto.h) and
 * sent to cltagent's Unix socket (CLT_AGENT_SOCKET, else the default) on a
 * connection of their own, non-blocking. Never blocks the application:
 * what does not fit, or what the socket does not take at once, is dropped
 * and counted (reported once at info). No thread is started: the buffer
 * is flushed when it holds SPANS_OUT_BATCH records, on a later interposed
 * call once SPANS_OUT_MAX_AGE_MS passed, before a thread blocks in a
 * waiting call once it is due (idle.c), and at exit; a record that comes
 * SPANS_OUT_MAX_AGE_MS after the last send leaves at once.
 */
#ifndef CLT_SHIM_SPANS_OUT_H
#define CLT_SHIM_SPANS_OUT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <clt/tagproto.h>

#define SPANS_OUT_BATCH 64
#define SPANS_OUT_MAX_AGE_MS 200
#define SPANS_OUT_REC_MAX 4096 /* one record, attributes included */

/* One record being built (on the caller's stack). */
struct span_build {
	struct clt_span_rec rec;
	uint16_t len; /* attribute octets in @attrs */
	bool full;    /* an attribute did not fit: dropped, the rest kept */
	uint8_t attrs[SPANS_OUT_REC_MAX - sizeof(struct clt_span_rec)];
};

void span_attr_str(struct span_build *b, const char *key, const char *val);
void span_attr_int(struct span_build *b, const char *key, int64_t val);

/* At setup: where to send and the claim, read while the environment is the program's. */
void spans_out_init(void);

/* Queue a finished record (copied). Never blocks; may send a full batch. */
void spans_out_commit(const struct span_build *b);

/* Send what is queued if it is old enough (cheap when nothing is). */
void spans_out_poll(void);

/* Send what is queued now (exit): spans_out_send(), then the exit line. */
void spans_out_flush(void);

/* Send what is queued now, without waiting (a thread about to block, idle.c). */
void spans_out_send(void);

/* Records queued: one relaxed load, the test every waiting call starts with. */
extern atomic_bool spans_out_queued;
static inline bool spans_out_pending(void)
{
	return atomic_load_explicit(&spans_out_queued, memory_order_relaxed);
}

/* Milliseconds until the queued batch is due (0: due now), -1 when none is queued. */
int64_t spans_out_due_in_ms(void);

/* Counters (tests, the exit line). */
uint64_t spans_out_dropped(void);
uint64_t spans_out_sent(void);

/* fork(): the child drops the records it inherited and opens its own connection. */
void spans_out_fork_prepare(void);
void spans_out_fork_parent(void);
void spans_out_fork_child(void);

#endif /* CLT_SHIM_SPANS_OUT_H */
