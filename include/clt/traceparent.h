/*
 * traceparent.h - W3C Trace Context `traceparent` parsing and formatting.
 * Pure functions, no allocation.
 */
#ifndef CLT_TRACEPARENT_H
#define CLT_TRACEPARENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TP_VALUE_LEN 55 /**< version 00: 2-32-16-2 plus three dashes */
#define TP_FLAG_SAMPLED 0x01

struct tp_context {
	uint8_t version;
	uint8_t trace_id[16];
	uint8_t parent_id[8];
	uint8_t flags;
};

/**
 * Parse a traceparent header value (without the name). Leading and
 * trailing optional whitespace (SP, HTAB) is ignored.
 * @return 0, or -EINVAL for anything the W3C rules say to ignore:
 * uppercase hex, wrong lengths, version ff, all-zero ids, version 00 with
 * extra characters, a future version whose flags are not followed by '-'.
 */
int tp_parse(struct tp_context *out, const char *value, size_t len);

/** Format as a version-00 value; @out needs TP_VALUE_LEN + 1 octets. */
void tp_format(char *out, const struct tp_context *ctx);

#ifdef __cplusplus
}
#endif
#endif /* CLT_TRACEPARENT_H */
