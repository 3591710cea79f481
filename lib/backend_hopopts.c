/*
 * backend_hopopts.c - stock kernels: a sticky IPv6 hop-by-hop header
 * (setsockopt IPV6_HOPOPTS) holding a pre-allocated IOAM trace and the
 * CLT trailer. Needs CAP_NET_RAW.
 *
 * The header is built once per context; enabling a socket copies it to
 * the stack, writes the IDs into the trailer and makes one setsockopt:
 * no allocation, no lock.
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "clt_internal.h"
#include "clt_sys.h"

int clt_hopopts_setup(struct clt_ctx *ctx)
{
	int err = clt_hopopts_build(ctx, &ctx->hbh);

	if (err == 0)
		ctx->ops = &clt_backend_hopopts_ops;
	return err;
}

int clt_hopopts_build(struct clt_ctx *ctx, const struct ioam_hbh_config *hbh)
{
	static const uint8_t zero[CLT_TRACE_ID_LEN];
	int len;

	len = ioam_hbh_build(ctx->hbh_template, sizeof(ctx->hbh_template), hbh, zero, zero);
	if (len < 0)
		return len;
	ctx->hbh_len = (size_t)len;
	/* HBH header (2) + Pad2 (2) + option type/length (2) + reserved and
	 * option type (2) + trace header (8) + node array. */
	ctx->trailer_off = 16 + (size_t)ioam_node_data_len(hbh->trace_type) * hbh->hops;
	if (ctx->trailer_off + CLT_TRAILER_LEN > ctx->hbh_len ||
	    memcmp(ctx->hbh_template + ctx->trailer_off + 24, clt_trailer_magic, 4) != 0)
		return -EINVAL;
	/* Responses: trailer v2, its flags octet (24) says the direction. */
	{
		struct ioam_hbh_config resp = *hbh;

		resp.trailer_version = 2;
		/* Twelve octets more than v1: a configuration at the kernel's
		 * limit has no room for it, and responses are then not tagged
		 * (-EMSGSIZE); requests are. */
		len = ioam_hbh_build(ctx->resp_template, sizeof(ctx->resp_template), &resp, zero,
				     zero);
		ctx->resp_len = 0;
		ctx->resp_trailer_off = ctx->trailer_off;
		if (len > 0 && ctx->resp_trailer_off + CLT_TRAILER_V2_LEN <= (size_t)len &&
		    memcmp(ctx->resp_template + ctx->resp_trailer_off + 36, clt_trailer_magic_v2,
			   4) == 0) {
			ctx->resp_len = (size_t)len;
			ctx->resp_template[ctx->resp_trailer_off + 24] = CLT_TRAILER_F_RESPONSE;
		}
	}
	return 0;
}

static int hopopts_enable_response(struct clt_ctx *ctx, int fd, uint64_t stream_offset,
				   const uint8_t trace_id[CLT_TRACE_ID_LEN],
				   const uint8_t span_id[CLT_SPAN_ID_LEN])
{
	uint8_t buf[CLT_HBH_MAX];

	(void)stream_offset; /* sticky: in force until the next call */
	if (ctx->resp_len == 0)
		return -EMSGSIZE;
	memcpy(buf, ctx->resp_template, ctx->resp_len);
	memcpy(buf + ctx->resp_trailer_off, trace_id, CLT_TRACE_ID_LEN);
	memcpy(buf + ctx->resp_trailer_off + CLT_TRACE_ID_LEN, span_id, CLT_SPAN_ID_LEN);
	if (clt_sys.setsockopt(fd, IPPROTO_IPV6, IPV6_HOPOPTS, buf, (socklen_t)ctx->resp_len) != 0)
		return clt_classify_sockopt_error(fd, -errno);
	return 0;
}

static int hopopts_enable(struct clt_ctx *ctx, int fd, const uint8_t trace_id[CLT_TRACE_ID_LEN],
			  const uint8_t span_id[CLT_SPAN_ID_LEN])
{
	uint8_t buf[CLT_HBH_MAX];

	memcpy(buf, ctx->hbh_template, ctx->hbh_len);
	memcpy(buf + ctx->trailer_off, trace_id, CLT_TRACE_ID_LEN);
	memcpy(buf + ctx->trailer_off + CLT_TRACE_ID_LEN, span_id, CLT_SPAN_ID_LEN);
	if (clt_sys.setsockopt(fd, IPPROTO_IPV6, IPV6_HOPOPTS, buf, (socklen_t)ctx->hbh_len) != 0)
		return clt_classify_sockopt_error(fd, -errno);
	return 0;
}

/* RFC 3542: a zero-length sticky option removes it. */
static int hopopts_disable(struct clt_ctx *ctx, int fd)
{
	if (clt_sys.setsockopt(fd, IPPROTO_IPV6, IPV6_HOPOPTS, NULL, 0) != 0)
		return clt_classify_sockopt_error(fd, -errno);
	return 0;
}

const struct clt_backend_ops clt_backend_hopopts_ops = {
	.id = CLT_BACKEND_HOPOPTS,
	.enable = hopopts_enable,
	.disable = hopopts_disable,
	.close = NULL,
	.enable_response = hopopts_enable_response,
};
