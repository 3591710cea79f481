/*
 * backend_off.c - the "off" backend: tagging disabled, every call is a
 * successful no-op so that callers need no special case.
 */
#include "clt_internal.h"

static int off_enable(struct clt_ctx *ctx, int fd, const uint8_t trace_id[CLT_TRACE_ID_LEN],
		      const uint8_t span_id[CLT_SPAN_ID_LEN])
{
	return 0;
}

static int off_disable(struct clt_ctx *ctx, int fd)
{
	return 0;
}

const struct clt_backend_ops clt_backend_off_ops = {
	.id = CLT_BACKEND_OFF,
	.enable = off_enable,
	.disable = off_disable,
	.close = NULL,
};
