/*
 * fuzz_traceparent.c - libFuzzer target for tp_parse(): no input may read
 * out of bounds, and whatever parses must format and re-parse to the same
 * IDs and flags.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clt/traceparent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tp_context tp, back;
	char out[TP_VALUE_LEN + 1];
	char *copy;

	/* An exact-size heap copy so ASan sees any over-read. */
	copy = malloc(size ? size : 1);
	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	if (tp_parse(&tp, copy, size) == 0) {
		tp_format(out, &tp);
		if (strlen(out) != TP_VALUE_LEN || tp_parse(&back, out, TP_VALUE_LEN) != 0 ||
		    memcmp(back.trace_id, tp.trace_id, 16) != 0 ||
		    memcmp(back.parent_id, tp.parent_id, 8) != 0 || back.flags != tp.flags ||
		    tp.version == 0xff)
			abort();
	}
	free(copy);
	return 0;
}
