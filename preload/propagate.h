/*
 * propagate.h - parsers for the optional trace-propagation formats the
 * shim understands besides W3C traceparent (which libclt parses): Zipkin
 * B3 (single and multi-header) and Jaeger uber-trace-id. 64-bit trace ids
 * are left-padded with zeros to 128 bits. Pure functions.
 */
#ifndef CLT_SHIM_PROPAGATE_H
#define CLT_SHIM_PROPAGATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"

/* "b3: {trace}-{span}[-{sampled}[-{parent}]]". @return 0 or -EINVAL (also for "0", "1", "d"). */
int prop_parse_b3(const char *v, size_t n, struct http_ids *out);

/* "uber-trace-id: {trace}:{span}:{parent}:{flags}" (ids 1..32 / 1..16 hex). @return 0 or -EINVAL. */
int prop_parse_jaeger(const char *v, size_t n, struct http_ids *out);

/*
 * Hex id into @out (@outlen octets), left-padded with zeros. Strict (B3):
 * exactly 16 or 2*@outlen digits; lenient (Jaeger): 1..2*@outlen digits.
 * All-zero ids are invalid. @return 0 or -EINVAL.
 */
int prop_parse_hex_id(const char *v, size_t n, uint8_t *out, size_t outlen, bool lenient);

#endif /* CLT_SHIM_PROPAGATE_H */
