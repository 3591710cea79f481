/*
 * http.c - HTTP/1.x request tracker (see http.h).
 *
 * Only what framing needs is parsed (RFC 9112): the request line (method
 * token, version), Content-Length, Transfer-Encoding, and the trace
 * propagation headers. Nothing is buffered but the current line, so the
 * memory per stream is fixed. Bodies are skipped by counting.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include <clt/traceparent.h>

#include "http.h"
#include "propagate.h"

/* What a test counts (tests/unit/test_http.c defines it): nothing in the shim.
 * Events: start, request, with_ids, unsampled, long_line, dead. */
#ifndef HTTP_OBSERVE
#define HTTP_OBSERVE(t, event) ((void)0)
#endif

enum http_state {
	ST_START = 0,   /* before a request line (empty lines allowed) */
	ST_METHOD,      /* method token */
	ST_REQLINE,     /* rest of the request line */
	ST_HEADER,      /* header lines */
	ST_BODY,        /* Content-Length body */
	ST_CHUNK_SIZE,  /* chunk-size line */
	ST_CHUNK_DATA,  /* chunk data */
	ST_CHUNK_END,   /* CRLF after chunk data */
	ST_TRAILER,     /* trailer section after the last chunk */
	ST_DEAD,        /* not HTTP/1.x (or framing lost): never parsed again */
};

/* found bits beyond one per propagator: the halves of B3 multi-header. */
#define FOUND_B3M_TRACE (1u << 5)
#define FOUND_B3M_SPAN (1u << 6)
#define START_BLANK_MAX 8 /* empty lines tolerated before a request line */

/* b3m_sampled / b3m_flags: a decision header seen once with a "yes", else "no". */
enum b3m_decision { B3M_ABSENT = 0, B3M_YES, B3M_NO };

void http_init(struct http_tracker *t, const uint8_t *order, size_t n, bool tag_unsampled)
{
	size_t i;

	memset(t, 0, offsetof(struct http_tracker, line));
	HTTP_OBSERVE(t, start);
	t->state = ST_START;
	t->tag_unsampled = tag_unsampled;
	if (!order || n == 0) {
		t->order[0] = HTTP_PROP_TRACECONTEXT;
		t->n_order = 1;
		return;
	}
	for (i = 0; i < n && i < HTTP_PROP_COUNT; i++)
		if (order[i] < HTTP_PROP_COUNT)
			t->order[t->n_order++] = order[i];
}

void http_copy(struct http_tracker *dst, const struct http_tracker *src)
{
	memcpy(dst, src, offsetof(struct http_tracker, line));
	memcpy(dst->line, src->line, src->line_len);
}


static void give_up(struct http_tracker *t)
{
	t->state = ST_DEAD;
	t->has_ids = false;
	HTTP_OBSERVE(t, dead);
}

/* RFC 9110 5.6.2 tchar, one bit per byte value: no call per byte of a method. */
static const uint32_t tchar_bits[8] = {
	0x00000000, 0x03ff6cfa, 0xc7fffffe, 0x57ffffff, 0, 0, 0, 0,
};

static inline bool is_tchar(unsigned char c)
{
	return (tchar_bits[c >> 5] >> (c & 31)) & 1;
}

static void request_start(struct http_tracker *t)
{
	t->has_ids = false;
	t->unsampled = false;
	t->head_done = false;
	t->req_no++;
	t->found = 0;
	t->bad = 0;
	t->sampled = 0;
	t->b3m_sampled = B3M_ABSENT;
	t->b3m_flags = B3M_ABSENT;
	t->has_cl = false;
	t->te = false;
	t->chunked = false;
	t->cl = 0;
	t->block = 0;
	t->count = 0;
	t->line_len = 0;
	t->line_long = false;
	t->state = ST_METHOD;
}

/* B3 multi-header: X-B3-Flags: 1 (debug) or X-B3-Sampled: 1; neither (deferred) is unsampled. */
static bool b3m_is_sampled(const struct http_tracker *t)
{
	return t->b3m_flags == B3M_YES || t->b3m_sampled == B3M_YES;
}

/*
 * The highest-priority propagator seen so far in this request supplies
 * the context, and its sampling decision says whether its IDs are tagged:
 * the network span of an unsampled request would have no recorded parent.
 */
static void choose_ids(struct http_tracker *t)
{
	size_t i;

	t->has_ids = false;
	t->unsampled = false;
	for (i = 0; i < t->n_order; i++) {
		unsigned int p = t->order[i];

		if (t->bad & (1u << p))
			continue;
		if (p == HTTP_PROP_B3MULTI) {
			if ((t->found & (FOUND_B3M_TRACE | FOUND_B3M_SPAN)) !=
			    (FOUND_B3M_TRACE | FOUND_B3M_SPAN))
				continue;
		} else if (!(t->found & (1u << p))) {
			continue;
		}
		if (!t->tag_unsampled &&
		    !(p == HTTP_PROP_B3MULTI ? b3m_is_sampled(t) : (t->sampled >> p) & 1)) {
			t->unsampled = true;
			return;
		}
		t->ids = t->cand[p];
		t->has_ids = true;
		return;
	}
}

static bool prop_enabled(const struct http_tracker *t, unsigned int p)
{
	size_t i;

	for (i = 0; i < t->n_order; i++)
		if (t->order[i] == p)
			return true;
	return false;
}

/* A candidate's sampling decision: bit @prop of t->sampled. */
static void set_sampled(struct http_tracker *t, unsigned int prop, bool sampled)
{
	if (sampled)
		t->sampled |= (uint8_t)(1u << prop);
	else
		t->sampled &= (uint8_t)~(1u << prop);
}

/* A decision header that must appear once: a repeated one is not a "yes". */
static void b3m_decision(uint8_t *d, bool yes)
{
	*d = *d == B3M_ABSENT && yes ? B3M_YES : B3M_NO;
}

/* A header that must appear once: a second one makes the format unusable. */
static void found_once(struct http_tracker *t, unsigned int bit, unsigned int prop, int ok)
{
	if (t->found & bit)
		t->bad |= (uint8_t)(1u << prop);
	if (ok)
		t->found |= (uint8_t)bit;
	else
		t->bad |= (uint8_t)(1u << prop);
}

static void header_traceparent(struct http_tracker *t, const char *v, size_t n)
{
	struct tp_context tp;
	int ok = tp_parse(&tp, v, n) == 0;

	if (ok) {
		memcpy(t->cand[HTTP_PROP_TRACECONTEXT].trace, tp.trace_id, 16);
		memcpy(t->cand[HTTP_PROP_TRACECONTEXT].span, tp.parent_id, 8);
		set_sampled(t, HTTP_PROP_TRACECONTEXT, tp.flags & TP_FLAG_SAMPLED);
	}
	/* W3C: more than one traceparent header = invalid, ignore them all. */
	found_once(t, 1u << HTTP_PROP_TRACECONTEXT, HTTP_PROP_TRACECONTEXT, ok);
}

/* Content-Length: 1*DIGIT, or a list of identical values (RFC 9110 8.6). */
static int parse_content_length(const char *v, size_t n, uint64_t *out)
{
	bool have = false;
	uint64_t first = 0;
	size_t i = 0;

	while (i <= n) {
		uint64_t x = 0;
		size_t digits = 0;

		while (i < n && (v[i] == ' ' || v[i] == '\t'))
			i++;
		while (i < n && v[i] >= '0' && v[i] <= '9') {
			if (x > (UINT64_MAX >> 2) / 10)
				return -EINVAL;
			x = x * 10 + (uint64_t)(v[i] - '0');
			digits++;
			i++;
		}
		while (i < n && (v[i] == ' ' || v[i] == '\t'))
			i++;
		if (digits == 0)
			return -EINVAL;
		if (have && x != first)
			return -EINVAL;
		first = x;
		have = true;
		if (i == n)
			break;
		if (v[i] != ',')
			return -EINVAL;
		i++;
	}
	*out = first;
	return 0;
}

/* Transfer-Encoding: remember whether the final coding is "chunked". */
static void header_te(struct http_tracker *t, const char *v, size_t n)
{
	const char *last = v;
	size_t i, len;

	for (i = 0; i < n; i++)
		if (v[i] == ',')
			last = v + i + 1;
	len = n - (size_t)(last - v);
	while (len > 0 && (*last == ' ' || *last == '\t')) {
		last++;
		len--;
	}
	while (len > 0 && (last[len - 1] == ' ' || last[len - 1] == '\t'))
		len--;
	t->te = true;
	t->chunked = len == 7 && strncasecmp(last, "chunked", 7) == 0;
}

/* The header names the tracker reads; everything else is skipped after two compares. */
enum hdr {
	HDR_OTHER = 0,
	HDR_CONTENT_LENGTH,
	HDR_TRANSFER_ENCODING,
	HDR_TRACEPARENT,
	HDR_B3,
	HDR_B3_TRACEID,
	HDR_B3_SPANID,
	HDR_B3_SAMPLED,
	HDR_B3_FLAGS,
	HDR_UBER,
};

/* Length and first letter first: most headers (Host, Accept, ...) stop there. */
static enum hdr header_kind(const char *n, size_t len)
{
	switch (len) {
	case 2:
		return (n[0] | 0x20) == 'b' && n[1] == '3' ? HDR_B3 : HDR_OTHER;
	case 10:
		return (n[0] | 0x20) == 'x' && strncasecmp(n, "x-b3-flags", 10) == 0 ? HDR_B3_FLAGS
										       : HDR_OTHER;
	case 11:
		if ((n[0] | 0x20) == 't')
			return strncasecmp(n, "traceparent", 11) == 0 ? HDR_TRACEPARENT : HDR_OTHER;
		if ((n[0] | 0x20) == 'x')
			return strncasecmp(n, "x-b3-spanid", 11) == 0 ? HDR_B3_SPANID : HDR_OTHER;
		return HDR_OTHER;
	case 12:
		if ((n[0] | 0x20) != 'x')
			return HDR_OTHER;
		if (strncasecmp(n, "x-b3-traceid", 12) == 0)
			return HDR_B3_TRACEID;
		return strncasecmp(n, "x-b3-sampled", 12) == 0 ? HDR_B3_SAMPLED : HDR_OTHER;
	case 13:
		return (n[0] | 0x20) == 'u' && strncasecmp(n, "uber-trace-id", 13) == 0 ? HDR_UBER
											  : HDR_OTHER;
	case 14:
		return (n[0] | 0x20) == 'c' && strncasecmp(n, "content-length", 14) == 0
			       ? HDR_CONTENT_LENGTH
			       : HDR_OTHER;
	case 17:
		return (n[0] | 0x20) == 't' && strncasecmp(n, "transfer-encoding", 17) == 0
			       ? HDR_TRANSFER_ENCODING
			       : HDR_OTHER;
	default:
		return HDR_OTHER;
	}
}

/* One complete header line @l of @len bytes (without CRLF, at most HTTP_LINE_MAX). */
static void header_line(struct http_tracker *t, const char *l, size_t len)
{
	const char *colon, *v;
	size_t nlen, vlen;
	struct http_ids ids;
	enum hdr kind;
	bool sampled;
	int ok;

	if (l[0] == ' ' || l[0] == '\t')
		return; /* obsolete line folding: not a header of ours */
	colon = memchr(l, ':', len);
	if (!colon)
		return; /* malformed; the server answers 400 */
	nlen = (size_t)(colon - l);
	kind = header_kind(l, nlen);
	if (kind == HDR_OTHER)
		return;
	v = colon + 1;
	vlen = len - nlen - 1;
	while (vlen > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		vlen--;
	}
	while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;

	if (kind == HDR_CONTENT_LENGTH) {
		uint64_t cl;

		if (parse_content_length(v, vlen, &cl) < 0 || (t->has_cl && cl != t->cl)) {
			give_up(t); /* the server rejects it; we cannot frame it */
			return;
		}
		t->cl = cl;
		t->has_cl = true;
	} else if (kind == HDR_TRANSFER_ENCODING) {
		header_te(t, v, vlen);
	} else if (kind == HDR_TRACEPARENT) {
		if (prop_enabled(t, HTTP_PROP_TRACECONTEXT))
			header_traceparent(t, v, vlen);
	} else if (kind == HDR_B3) {
		if (!prop_enabled(t, HTTP_PROP_B3))
			return;
		ok = prop_parse_b3(v, vlen, &ids, &sampled) == 0;
		if (ok) {
			t->cand[HTTP_PROP_B3] = ids;
			set_sampled(t, HTTP_PROP_B3, sampled);
		}
		found_once(t, 1u << HTTP_PROP_B3, HTTP_PROP_B3, ok);
	} else if (kind == HDR_B3_TRACEID) {
		if (!prop_enabled(t, HTTP_PROP_B3MULTI))
			return;
		ok = prop_parse_hex_id(v, vlen, t->cand[HTTP_PROP_B3MULTI].trace, 16, false) == 0;
		found_once(t, FOUND_B3M_TRACE, HTTP_PROP_B3MULTI, ok);
	} else if (kind == HDR_B3_SPANID) {
		if (!prop_enabled(t, HTTP_PROP_B3MULTI))
			return;
		ok = vlen == 16 &&
		     prop_parse_hex_id(v, vlen, t->cand[HTTP_PROP_B3MULTI].span, 8, false) == 0;
		found_once(t, FOUND_B3M_SPAN, HTTP_PROP_B3MULTI, ok);
	} else if (kind == HDR_B3_SAMPLED) {
		if (!prop_enabled(t, HTTP_PROP_B3MULTI))
			return;
		b3m_decision(&t->b3m_sampled, prop_b3_sampled(v, vlen));
	} else if (kind == HDR_B3_FLAGS) {
		if (!prop_enabled(t, HTTP_PROP_B3MULTI))
			return;
		b3m_decision(&t->b3m_flags, prop_b3_debug(v, vlen));
	} else if (kind == HDR_UBER) {
		if (!prop_enabled(t, HTTP_PROP_JAEGER))
			return;
		ok = prop_parse_jaeger(v, vlen, &ids, &sampled) == 0;
		if (ok) {
			t->cand[HTTP_PROP_JAEGER] = ids;
			set_sampled(t, HTTP_PROP_JAEGER, sampled);
		}
		found_once(t, 1u << HTTP_PROP_JAEGER, HTTP_PROP_JAEGER, ok);
	} else {
		return;
	}
	choose_ids(t);
}

static void headers_done(struct http_tracker *t)
{
	t->head_done = true;
	if (t->has_ids)
		HTTP_OBSERVE(t, with_ids);
	else if (t->unsampled)
		HTTP_OBSERVE(t, unsampled);
	t->count = 0;
	if (t->te) {
		/* A request whose final coding is not chunked cannot be framed (RFC 9112 6.3). */
		if (!t->chunked) {
			give_up(t);
			return;
		}
		t->state = ST_CHUNK_SIZE;
	} else if (t->has_cl && t->cl > 0) {
		t->remaining = t->cl;
		t->state = ST_BODY;
	} else {
		t->state = ST_START; /* no body */
	}
}

/* Append to the line buffer. keep_tail: on overflow keep the last bytes. */
static void line_append(struct http_tracker *t, const uint8_t *p, size_t n, bool keep_tail)
{
	if (n == 0)
		return;
	if (t->line_len + n <= HTTP_LINE_MAX) {
		memcpy(t->line + t->line_len, p, n);
		t->line_len = (uint16_t)(t->line_len + n);
		return;
	}
	t->line_long = true;
	if (!keep_tail)
		return;
	if (n >= HTTP_TAIL) {
		memcpy(t->line, p + n - HTTP_TAIL, HTTP_TAIL);
		t->line_len = HTTP_TAIL;
		return;
	}
	/* line_len + n > HTTP_LINE_MAX and n < HTTP_TAIL: line_len > HTTP_TAIL. */
	memmove(t->line, t->line + t->line_len - (HTTP_TAIL - n), HTTP_TAIL - n);
	memcpy(t->line + HTTP_TAIL - n, p, n);
	t->line_len = HTTP_TAIL;
}

/*
 * Take bytes up to and including LF. @return true when a whole line
 * (CR LF stripped) is in t->line; t->count counts the line's bytes.
 */
static bool line_take(struct http_tracker *t, const uint8_t *p, size_t len, size_t *pos,
		      bool keep_tail)
{
	const uint8_t *start = p + *pos;
	size_t avail = len - *pos;
	const uint8_t *lf = memchr(start, '\n', avail);
	size_t n = lf ? (size_t)(lf - start) : avail;

	*pos += lf ? n + 1 : n;
	t->count += (uint32_t)(n > UINT32_MAX / 2 ? UINT32_MAX / 2 : n);
	line_append(t, start, n, keep_tail);
	if (!lf)
		return false;
	if (t->line_len > 0 && t->line[t->line_len - 1] == '\r')
		t->line_len--;
	return true;
}

static void line_reset(struct http_tracker *t)
{
	t->line_len = 0;
	t->line_long = false;
	t->count = 0;
}

/* "... HTTP/1.x" at the end of the request line @l (CR stripped). */
static bool reqline_ok(const char *l, size_t n)
{
	if (n < 9)
		return false;
	l += n - 9;
	return l[0] == ' ' && memcmp(l + 1, "HTTP/1.", 7) == 0 && l[8] >= '0' && l[8] <= '9';
}

/* chunk-size [ chunk-ext ]: hex digits first. */
static int parse_chunk_size(const struct http_tracker *t, uint64_t *out)
{
	uint64_t x = 0;
	size_t i, digits = 0;

	if (t->line_long)
		return -EINVAL;
	for (i = 0; i < t->line_len; i++) {
		char c = t->line[i];
		int v;

		if (c >= '0' && c <= '9')
			v = c - '0';
		else if (c >= 'a' && c <= 'f')
			v = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v = c - 'A' + 10;
		else
			break;
		if (++digits > 15)
			return -EINVAL;
		x = x * 16 + (uint64_t)v;
	}
	if (digits == 0)
		return -EINVAL;
	if (i < t->line_len && t->line[i] != ';' && t->line[i] != ' ' && t->line[i] != '\t')
		return -EINVAL;
	*out = x;
	return 0;
}

static size_t skip_body(struct http_tracker *t, size_t avail)
{
	size_t n = avail;

	if ((uint64_t)n > t->remaining)
		n = (size_t)t->remaining;
	t->remaining -= n;
	return n;
}

void http_feed(struct http_tracker *t, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t pos = 0;

	while (pos < len && t->state != ST_DEAD) {
		switch (t->state) {
		case ST_START:
			if (p[pos] == '\r' || p[pos] == '\n') {
				/* RFC 9112 2.2: empty lines before a request line are ignored. */
				if (++t->count > START_BLANK_MAX)
					give_up(t);
				pos++;
				break;
			}
			request_start(t);
			break;
		case ST_METHOD:
			/* The whole token in one pass: a table lookup per byte, no call. */
			while (pos < len && is_tchar(p[pos]) && t->count <= HTTP_METHOD_MAX) {
				pos++;
				t->count++;
			}
			if (pos == len && t->count <= HTTP_METHOD_MAX)
				break;
			if (t->count > HTTP_METHOD_MAX || p[pos] != ' ' || t->count == 0) {
				give_up(t); /* TLS, SSH, HTTP/2, ...: never looked at again */
				break;
			}
			pos++;
			HTTP_OBSERVE(t, request);
			t->state = ST_REQLINE;
			line_reset(t);
			break;
		case ST_REQLINE: {
			const uint8_t *lf;

			if (t->line_len == 0 && !t->line_long &&
			    (lf = memchr(p + pos, '\n', len - pos)) != NULL) {
				/* The whole request line is in this buffer: check it in place. */
				size_t n = (size_t)(lf - (p + pos));
				bool ok;

				if (n > 0 && p[pos + n - 1] == '\r')
					n--;
				ok = reqline_ok((const char *)p + pos, n);
				pos = (size_t)(lf - p) + 1;
				if (!ok) {
					give_up(t);
					break;
				}
			} else {
				if (!line_take(t, p, len, &pos, true)) {
					if (t->count > HTTP_REQLINE_MAX)
						give_up(t);
					break;
				}
				if (!reqline_ok(t->line, t->line_len)) {
					give_up(t);
					break;
				}
			}
			t->state = ST_HEADER;
			t->block = 0;
			line_reset(t);
			break;
		}
		case ST_HEADER:
		case ST_TRAILER: {
			uint32_t before = t->count;
			const uint8_t *lf;
			bool done;

			if (t->line_len == 0 && !t->line_long &&
			    (lf = memchr(p + pos, '\n', len - pos)) != NULL) {
				/* The common case: the whole line is in this buffer, read in place. */
				const char *l = (const char *)p + pos;
				size_t raw = (size_t)(lf - (p + pos)), n = raw;

				pos += raw + 1;
				if (raw > HTTP_HEADER_MAX || t->block + raw + 1 > HTTP_HEADER_MAX) {
					give_up(t);
					break;
				}
				t->block += (uint32_t)raw + 1;
				if (n > 0 && l[n - 1] == '\r')
					n--;
				if (n == 0) {
					if (t->state == ST_HEADER)
						headers_done(t);
					else
						t->state = ST_START;
					line_reset(t);
				} else if (t->state == ST_HEADER) {
					if (raw > HTTP_LINE_MAX)
						HTTP_OBSERVE(t, long_line);
					else
						header_line(t, l, n);
				}
				break;
			}
			done = line_take(t, p, len, &pos, false);

			t->block += t->count - before + (done ? 1 : 0);
			if (t->block > HTTP_HEADER_MAX) {
				give_up(t);
				break;
			}
			if (!done)
				break;
			if (t->line_len == 0 && !t->line_long) {
				if (t->state == ST_HEADER)
					headers_done(t);
				else
					t->state = ST_START;
				line_reset(t);
				break;
			}
			if (t->state == ST_HEADER) {
				if (t->line_long)
					HTTP_OBSERVE(t, long_line);
				else
					header_line(t, t->line, t->line_len);
			}
			line_reset(t);
			break;
		}
		case ST_BODY:
			pos += skip_body(t, len - pos);
			if (t->remaining == 0) {
				t->state = ST_START;
				t->count = 0;
			}
			break;
		case ST_CHUNK_SIZE: {
			uint64_t size;

			if (!line_take(t, p, len, &pos, false)) {
				if (t->line_long)
					give_up(t);
				break;
			}
			if (parse_chunk_size(t, &size) < 0) {
				give_up(t);
				break;
			}
			line_reset(t);
			if (size == 0) {
				t->state = ST_TRAILER;
			} else {
				t->remaining = size;
				t->state = ST_CHUNK_DATA;
			}
			break;
		}
		case ST_CHUNK_DATA:
			pos += skip_body(t, len - pos);
			if (t->remaining == 0) {
				t->state = ST_CHUNK_END;
				line_reset(t);
			}
			break;
		case ST_CHUNK_END:
			if (!line_take(t, p, len, &pos, false)) {
				if (t->count > 2)
					give_up(t);
				break;
			}
			if (t->line_len != 0 || t->line_long) {
				give_up(t);
				break;
			}
			line_reset(t);
			t->state = ST_CHUNK_SIZE;
			break;
		default:
			give_up(t);
			break;
		}
	}
}

void http_feed_iov(struct http_tracker *t, const struct iovec *iov, size_t iovcnt, size_t limit)
{
	size_t i;

	for (i = 0; i < iovcnt && limit > 0; i++) {
		size_t n = iov[i].iov_len < limit ? iov[i].iov_len : limit;

		if (n > 0 && iov[i].iov_base)
			http_feed(t, iov[i].iov_base, n);
		limit -= n;
	}
}

void http_skip(struct http_tracker *t, uint64_t n)
{
	if (n == 0 || t->state == ST_DEAD)
		return;
	if ((t->state == ST_BODY || t->state == ST_CHUNK_DATA) && n <= t->remaining) {
		t->remaining -= n;
		if (t->remaining == 0) {
			if (t->state == ST_BODY) {
				t->state = ST_START;
				t->count = 0;
			} else {
				t->state = ST_CHUNK_END;
				line_reset(t);
			}
		}
		return;
	}
	give_up(t);
}

bool http_current_ids(const struct http_tracker *t, struct http_ids *out)
{
	if (!t->has_ids || t->state == ST_DEAD)
		return false;
	if (out)
		*out = t->ids;
	return true;
}

bool http_bare_request(const struct http_tracker *t)
{
	return t->head_done && t->state != ST_DEAD && !t->found && !t->bad;
}

bool http_at_request_start(const struct http_tracker *t)
{
	return t->state == ST_START;
}

bool http_before_request_line(const struct http_tracker *t)
{
	return t->state == ST_START || t->state == ST_METHOD || t->state == ST_REQLINE;
}

bool http_dead(const struct http_tracker *t)
{
	return t->state == ST_DEAD;
}

bool http_in_body(const struct http_tracker *t, uint64_t n)
{
	return (t->state == ST_BODY || t->state == ST_CHUNK_DATA) && n <= t->remaining;
}

void http_mark_get(const struct http_tracker *t, struct http_mark *m)
{
	m->state = t->state;
	m->line_long = t->line_long;
	m->line_len = t->line_len;
	m->count = t->count;
	m->remaining = t->remaining;
}

void http_mark_rewind(struct http_tracker *t, const struct http_mark *m)
{
	t->state = m->state;
	t->line_long = m->line_long;
	t->line_len = m->line_len;
	t->count = m->count;
	t->remaining = m->remaining;
}

void http_give_up(struct http_tracker *t)
{
	give_up(t);
}

/* ---- Server direction ------------------------------------------------- */

enum srv_state {
	SRV_START = 0, /* between messages */
	SRV_HEAD,      /* reading the start line and header lines */
	SRV_BODY,      /* Content-Length body */
	SRV_CHUNK_SIZE,
	SRV_CHUNK_DATA,
	SRV_CHUNK_END,   /* the CRLF after a chunk's data */
	SRV_TRAILER,
	SRV_UNTIL_CLOSE, /* response without length: ends with the connection */
};

void http_srv_init(struct http_srv *s)
{
	memset(s, 0, sizeof(*s));
}

static void copy_field(char *dst, size_t cap, const char *src, size_t n)
{
	if (n >= cap)
		n = cap - 1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)src[i];

		/* Control octets never reach a span attribute. */
		dst[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	dst[n] = '\0';
}

static size_t trim_ows(const char **p, size_t n)
{
	while (n && (**p == ' ' || **p == '\t')) {
		(*p)++;
		n--;
	}
	while (n && ((*p)[n - 1] == ' ' || (*p)[n - 1] == '\t'))
		n--;
	return n;
}

static bool parse_u64(const char *p, size_t n, int base, uint64_t *out)
{
	uint64_t v = 0;

	if (!n)
		return false;
	for (size_t i = 0; i < n; i++) {
		int d;
		char c = p[i];

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (base == 16 && c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (base == 16 && c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return false;
		if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
			return false;
		v = v * (uint64_t)base + (uint64_t)d;
	}
	*out = v;
	return true;
}

/* "METHOD SP target SP HTTP/1.x" */
static bool srv_request_line(struct http_srv *s, const char *l, size_t n)
{
	const char *sp1 = memchr(l, ' ', n), *sp2, *q;
	size_t mlen, tlen;

	if (!sp1)
		return false;
	mlen = (size_t)(sp1 - l);
	if (mlen == 0 || mlen > HTTP_METHOD_MAX)
		return false;
	for (size_t i = 0; i < mlen; i++)
		if (l[i] < 'A' || l[i] > 'Z')
			return false;
	sp2 = memchr(sp1 + 1, ' ', n - mlen - 1);
	if (!sp2 || (size_t)(l + n - sp2 - 1) != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0 ||
	    (sp2[8] != '0' && sp2[8] != '1'))
		return false;
	memset(&s->req, 0, sizeof(s->req));
	memcpy(s->req.method, l, mlen);
	s->req.method[mlen] = '\0';
	s->req.head = mlen == 4 && memcmp(l, "HEAD", 4) == 0;
	s->req.minor = (uint8_t)(sp2[8] - '0');
	tlen = (size_t)(sp2 - sp1 - 1);
	if (tlen == 0)
		return false;
	q = memchr(sp1 + 1, '?', tlen);
	if (q)
		tlen = (size_t)(q - sp1 - 1);
	copy_field(s->req.path, sizeof(s->req.path), sp1 + 1, tlen);
	return true;
}

/* A header line of either direction: framing; the request's fields. */
static bool srv_header(struct http_srv *s, struct http_srv_dir *d, bool request, const char *l,
		       size_t n)
{
	const char *colon = memchr(l, ':', n), *v;
	size_t klen, vlen;

	if (!colon || colon == l)
		return false;
	klen = (size_t)(colon - l);
	if (l[klen - 1] == ' ' || l[klen - 1] == '\t')
		return false; /* RFC 9112: no whitespace before the colon */
	v = colon + 1;
	vlen = trim_ows(&v, n - klen - 1);
#define KEY(lit) (klen == sizeof(lit) - 1 && strncasecmp(l, lit, klen) == 0)
	if (KEY("content-length")) {
		uint64_t cl;

		if (!parse_u64(v, vlen, 10, &cl) || (d->has_cl && cl != d->remaining))
			return false;
		d->has_cl = true;
		d->remaining = cl;
	} else if (KEY("transfer-encoding")) {
		d->chunked = vlen >= 7 && strncasecmp(v + vlen - 7, "chunked", 7) == 0;
		if (!d->chunked && request)
			return false; /* a request body of unknown length: unframeable */
	} else if (request && KEY("host")) {
		copy_field(s->req.host, sizeof(s->req.host), v, vlen);
	} else if (request && KEY("user-agent")) {
		copy_field(s->req.user_agent, sizeof(s->req.user_agent), v, vlen);
	} else if (request && KEY("traceparent")) {
		struct tp_context tp;

		if (!s->req.has_parent && tp_parse(&tp, v, vlen) == 0) {
			s->req.has_parent = true;
			s->req.parent_sampled = (tp.flags & TP_FLAG_SAMPLED) != 0;
			memcpy(s->req.trace_id, tp.trace_id, 16);
			memcpy(s->req.parent_id, tp.parent_id, 8);
		}
	}
#undef KEY
	return true;
}

/* "HTTP/1.x SP 3DIGIT ..." */
static bool srv_status_line(struct http_srv *s, const char *l, size_t n)
{
	if (n < 12 || memcmp(l, "HTTP/1.", 7) != 0 || l[8] != ' ')
		return false;
	for (int i = 9; i < 12; i++)
		if (l[i] < '0' || l[i] > '9')
			return false;
	s->status = (uint16_t)((l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0'));
	return s->status >= 100;
}

/* The end of a message in direction @d. */
static void srv_message_end(struct http_srv *s, struct http_srv_dir *d, bool request,
			    http_srv_cb cb, void *arg)
{
	d->state = SRV_START;
	cb(arg, request ? HTTP_SRV_REQ_DONE : HTTP_SRV_RSP_DONE, s);
}

/* A complete line (without CRLF) in a head or chunk state. */
static void srv_line(struct http_srv *s, struct http_srv_dir *d, bool request, http_srv_cb cb,
		     void *arg)
{
	const char *l = d->line;
	size_t n = d->line_len;
	bool first = d->block == 0;
	uint64_t v;

	if (d->state == SRV_CHUNK_SIZE) {
		const char *semi = memchr(l, ';', n);

		if (semi)
			n = (size_t)(semi - l);
		n = trim_ows(&l, n);
		if (d->line_long || !parse_u64(l, n, 16, &v)) {
			d->dead = true;
			return;
		}
		d->remaining = v;
		d->state = v ? SRV_CHUNK_DATA : SRV_TRAILER;
		return;
	}
	if (d->state == SRV_CHUNK_END) {
		if (n != 0)
			d->dead = true;
		d->state = SRV_CHUNK_SIZE;
		return;
	}
	if (d->state == SRV_TRAILER) {
		if (n == 0)
			srv_message_end(s, d, request, cb, arg);
		return;
	}
	/* SRV_HEAD */
	d->block++;
	if (first) {
		if (d->line_long ||
		    !(request ? srv_request_line(s, l, n) : srv_status_line(s, l, n))) {
			d->dead = true;
			return;
		}
		d->has_cl = d->chunked = false;
		d->remaining = 0;
		return;
	}
	if (n != 0) {
		/* Long lines are skipped (their content is not needed), unless framing. */
		if (!d->line_long && !srv_header(s, d, request, l, n))
			d->dead = true;
		return;
	}
	/* End of the header block. */
	d->block = 0;
	if (request) {
		/* Its response was read first (a client reading on another thread than it
		 * writes): it is answered, nothing is pending. */
		if (s->answered_ahead) {
			s->answered_ahead--;
		} else if (s->pending_heads < 8) {
			if (s->req.head)
				s->head_flags |= (uint8_t)(1u << s->pending_heads);
			s->pending_heads++;
		} else {
			s->uncounted++;
		}
		cb(arg, HTTP_SRV_REQ_HEAD, s);
		if (d->chunked)
			d->state = SRV_CHUNK_SIZE;
		else if (d->has_cl && d->remaining)
			d->state = SRV_BODY;
		else
			srv_message_end(s, d, true, cb, arg);
		return;
	}
	if (s->status < 200 && s->status != 101) {
		/* 1xx interim: another head follows for the same request. */
		d->state = SRV_START;
		return;
	}
	{
		bool head = s->pending_heads && (s->head_flags & 1u);

		if (s->pending_heads) {
			s->pending_heads--;
			s->head_flags >>= 1;
		} else if (s->uncounted) {
			s->uncounted--;
		} else if (s->answered_ahead < 8) {
			s->answered_ahead++;
		}
		cb(arg, HTTP_SRV_RSP_HEAD, s);
		if (s->status == 101) {
			/* The protocol changes: the upgrade's response ends here, HTTP with it. */
			srv_message_end(s, d, false, cb, arg);
			d->dead = true;
			return;
		}
		if (head || s->status == 204 || s->status == 304)
			srv_message_end(s, d, false, cb, arg);
		else if (d->chunked)
			d->state = SRV_CHUNK_SIZE;
		else if (d->has_cl)
			d->state = d->remaining ? SRV_BODY : SRV_START;
		else
			d->state = SRV_UNTIL_CLOSE;
		if (d->state == SRV_START && !head && s->status != 204 && s->status != 304)
			srv_message_end(s, d, false, cb, arg);
	}
}

static void srv_feed(struct http_srv *s, struct http_srv_dir *d, bool request, const char *p,
		     size_t len, http_srv_cb cb, void *arg)
{
	while (len && !d->dead) {
		if (d->state == SRV_BODY || d->state == SRV_CHUNK_DATA) {
			size_t take = len < d->remaining ? len : (size_t)d->remaining;

			d->remaining -= take;
			p += take;
			len -= take;
			if (d->remaining == 0) {
				if (d->state == SRV_CHUNK_DATA)
					d->state = SRV_CHUNK_END;
				else
					srv_message_end(s, d, request, cb, arg);
			}
			d->line_len = 0;
			d->line_long = false;
			continue;
		}
		if (d->state == SRV_UNTIL_CLOSE)
			return;
		if (d->state == SRV_START) {
			/* Tolerated between requests (RFC 9112 2.2): stray CRLFs. */
			if (*p == '\r' || *p == '\n') {
				p++;
				len--;
				continue;
			}
			/* A request starts with a method's first letter, a response with "H":
			 * anything else is not HTTP/1.x, known at the first byte. */
			if (request ? (*p < 'A' || *p > 'Z') : *p != 'H') {
				d->dead = true;
				break;
			}
			d->state = SRV_HEAD;
			d->block = 0;
			d->line_len = 0;
			d->line_long = false;
			if (request)
				cb(arg, HTTP_SRV_REQ_BEGIN, s);
		}
		{
			const char *nl = memchr(p, '\n', len);
			size_t n = nl ? (size_t)(nl - p) : len;
			size_t room = sizeof(d->line) - d->line_len;

			if (n > room) {
				d->line_long = true;
				memcpy(d->line + d->line_len, p, room);
				d->line_len = (uint16_t)sizeof(d->line);
			} else {
				memcpy(d->line + d->line_len, p, n);
				d->line_len = (uint16_t)(d->line_len + n);
			}
			if (d->state == SRV_HEAD && d->block == 0 && d->line_long && request) {
				d->dead = true; /* an absurd request line */
				break;
			}
			p += n;
			len -= n;
			if (!nl)
				break;
			p++;
			len--;
			if (d->line_len && d->line[d->line_len - 1] == '\r')
				d->line_len--;
			srv_line(s, d, request, cb, arg);
			d->line_len = 0;
			d->line_long = false;
		}
	}
	if (d->dead)
		cb(arg, HTTP_SRV_DEAD, s);
}

void http_srv_feed_in(struct http_srv *s, const void *data, size_t len, http_srv_cb cb, void *arg)
{
	if (!s->in.dead)
		srv_feed(s, &s->in, true, data, len, cb, arg);
}

void http_srv_feed_out(struct http_srv *s, const void *data, size_t len, http_srv_cb cb, void *arg)
{
	if (!s->out.dead)
		srv_feed(s, &s->out, false, data, len, cb, arg);
}

bool http_srv_out_until_close(const struct http_srv *s)
{
	return s->out.state == SRV_UNTIL_CLOSE;
}

void http_srv_skip_out(struct http_srv *s, uint64_t n, http_srv_cb cb, void *arg)
{
	struct http_srv_dir *d = &s->out;

	if (d->dead || d->state == SRV_UNTIL_CLOSE || n == 0)
		return;
	if ((d->state == SRV_BODY || d->state == SRV_CHUNK_DATA) && n <= d->remaining) {
		d->remaining -= n;
		if (d->remaining == 0) {
			if (d->state == SRV_CHUNK_DATA)
				d->state = SRV_CHUNK_END;
			else
				srv_message_end(s, d, false, cb, arg);
		}
		return;
	}
	d->dead = true;
	cb(arg, HTTP_SRV_DEAD, s);
}
