/*
 * config.h - the shim's own settings: CLT_DOMAIN (IPv6 prefixes where
 * requests are tagged), CLT_PROPAGATORS (which trace headers count) and
 * CLT_TAG_UNSAMPLED (tag requests of unsampled traces too), CLT_STACKTRACE
 * (each CLIENT span carries the application frames that sent it),
 * CLT_TAG_RESPONSES (a server's responses carry their request's IDs).
 * libclt reads its own variables (CLT_BACKEND, CLT_NAMESPACE, ...).
 */
#ifndef CLT_SHIM_CONFIG_H
#define CLT_SHIM_CONFIG_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"

#define CONFIG_DOMAIN_MAX 32
/* Loopback and unique-local addresses: never the public Internet (README, "domain"). */
#define CONFIG_DOMAIN_DEFAULT "::1/128,fc00::/7"
#define CONFIG_PROPAGATORS_DEFAULT "tracecontext"

struct config_prefix {
	struct in6_addr addr; /* masked to len */
	uint8_t len;
};

/* CLT_TRACING */
enum tracing_mode {
	TRACING_OFF = 0, /* no span, no byte changed (default) */
	TRACING_SPANS,   /* SERVER/CLIENT spans, tagging, no byte changed */
	TRACING_INJECT,  /* also adds traceparent to outgoing requests without one */
};

/* OTEL_TRACES_SAMPLER: the root decision, and whether a parent's flag decides instead. */
enum sampler_kind {
	SAMPLER_ALWAYS_ON = 0,
	SAMPLER_ALWAYS_OFF,
	SAMPLER_RATIO,
};

struct shim_config {
	uint8_t tracing;    /* enum tracing_mode */
	uint8_t sampler;    /* enum sampler_kind, for roots */
	bool parent_based;  /* a parent's sampled flag decides (default) */
	double ratio;       /* SAMPLER_RATIO: OTEL_TRACES_SAMPLER_ARG, 0..1 */
	struct config_prefix domain[CONFIG_DOMAIN_MAX];
	size_t n_domain;
	uint8_t order[HTTP_PROP_COUNT];
	size_t n_order;
	bool tag_unsampled; /* default false: only sampled requests are tagged */
	bool stacktrace;    /* CLT_STACKTRACE: code.stacktrace on CLIENT spans */
	bool tag_responses; /* CLT_TAG_RESPONSES (default true): responses carry their request's IDs */
	/* TRACEPARENT in the environment: the context a process with no SERVER span continues */
	bool env_parent;
	bool env_sampled;
	uint8_t env_trace[16];
	uint8_t env_span[8];
};

/* "prefix/len,prefix/len,..."; "" or "none" = nowhere. @return 0 or -EINVAL (cfg domain emptied). */
int config_parse_domain(struct shim_config *cfg, const char *s);

/* "tracecontext,b3,b3multi,jaeger" in priority order. @return 0 or -EINVAL. */
int config_parse_propagators(struct shim_config *cfg, const char *s);

/* "1", "true", "yes", "on" / "0", "false", "no", "off", any case. @return 0 or -EINVAL. */
int config_parse_bool(const char *s, bool *out);

/* "off" | "spans" | "inject". @return 0 or -EINVAL. */
int config_parse_tracing(struct shim_config *cfg, const char *s);

/* OTEL_TRACES_SAMPLER and its argument (NULL: 1.0). @return 0 or -EINVAL (cfg unchanged). */
int config_parse_sampler(struct shim_config *cfg, const char *s, const char *arg);

bool config_in_domain(const struct shim_config *cfg, const struct in6_addr *addr);

/* Defaults, then the environment (unless @secure). Errors are logged; the result is usable. */
void config_load(struct shim_config *cfg, bool secure);

#endif /* CLT_SHIM_CONFIG_H */
