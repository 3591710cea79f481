/*
 * propagate.h - parsers for the optional trace-propagation formats the
 * shim understands besides W3C traceparent (which libclt parses): Zipkin
 * B3 (single and multi-header) and Jaeger uber-trace-id. 64-bit trace ids
 * are left-padded with zeros to 128 bits. Each also says whether the
 * trace is sampled: only what the format says is sampled (or debug)
 * counts as sampled; a deferred or unreadable decision does not. Pure
 * functions.
 */
#ifndef CLT_SHIM_PROPAGATE_H
#define CLT_SHIM_PROPAGATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"

/*
 * "b3: {trace}-{span}[-{sampled}[-{parent}]]". @return 0 or -EINVAL (also
 * for "0", "1", "d": a decision without IDs). *sampled: the sampling
 * state is "1" or "d" (debug); absent (deferred), "0" or anything else:
 * false. The IDs alone decide the return value.
 */
int prop_parse_b3(const char *v, size_t n, struct http_ids *out, bool *sampled);

/*
 * "uber-trace-id: {trace}:{span}:{parent}:{flags}" (ids 1..32 / 1..16 hex).
 * @return 0 or -EINVAL (the IDs alone decide). *sampled: flags (hex) has
 * the sampled bit 0x01 or the debug bit 0x02 (Jaeger sets debug only on
 * sampled traces); no or unreadable flags: false.
 */
int prop_parse_jaeger(const char *v, size_t n, struct http_ids *out, bool *sampled);

/* "X-B3-Sampled": true for "1" (and "true", as older tracers sent); "0", "false", else false. */
bool prop_b3_sampled(const char *v, size_t n);

/* "X-B3-Flags": true for "1", debug (which implies sampled); anything else: false. */
bool prop_b3_debug(const char *v, size_t n);

/*
 * Hex id into @out (@outlen octets), left-padded with zeros. Strict (B3):
 * exactly 16 or 2*@outlen digits; lenient (Jaeger): 1..2*@outlen digits.
 * All-zero ids are invalid. @return 0 or -EINVAL.
 */
int prop_parse_hex_id(const char *v, size_t n, uint8_t *out, size_t outlen, bool lenient);

#endif /* CLT_SHIM_PROPAGATE_H */
