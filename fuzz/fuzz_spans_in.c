/*
 * fuzz_spans_in.c - libFuzzer target for cltagent's decoder of the span
 * records a shim sends (agent/spans_in.c): arbitrary bytes as a type-16
 * body. It must never read outside its input, and every record it hands
 * on must be what it promises: valid IDs, a known kind, strings of valid
 * UTF-8 within the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spans_in.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t *lo, *hi;

static bool check(void *arg, const struct shim_claim *claim, const struct shim_span *sp)
{
	(void)arg;
	if (!memchr(claim->service, 0, sizeof(claim->service)) ||
	    !memchr(claim->exe, 0, sizeof(claim->exe)))
		abort();
	if (sp->rec.kind != CLT_SPAN_KIND_SERVER && sp->rec.kind != CLT_SPAN_KIND_CLIENT)
		abort();
	for (unsigned int i = 0; i < sp->n_attrs; i++) {
		const struct shim_attr *a = &sp->attrs[i];

		if (a->kind == 's' &&
		    ((const uint8_t *)a->str < lo || (const uint8_t *)a->str + a->str_len > hi ||
		     !spans_in_text_ok((const uint8_t *)a->str, a->str_len)))
			abort();
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spans_in_stats st = {0};
	uint8_t *copy = malloc(size ? size : 1);

	memcpy(copy, data, size);
	lo = copy;
	hi = copy + size;
	spans_in_decode(copy, size, check, NULL, &st);
	free(copy);
	return 0;
}
