/*
 * config.c - parse CLT_DOMAIN, CLT_PROPAGATORS and CLT_TAG_UNSAMPLED (see config.h).
 * A bad CLT_DOMAIN tags nothing: leaking IOAM data outside its domain is
 * worse than not tagging.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <clt/traceparent.h>

#include "config.h"
#include "log.h"

/* A bad value is quoted in the log only this far: the environment is not the log's to fill. */
#define CONFIG_ECHO_MAX 128

static void mask_prefix(struct in6_addr *a, unsigned int len)
{
	unsigned int i;

	for (i = 0; i < 16; i++) {
		unsigned int bits = len > i * 8 ? len - i * 8 : 0;

		if (bits < 8)
			a->s6_addr[i] &= (uint8_t)(0xff00u >> bits);
	}
}

static int parse_prefix(struct config_prefix *p, const char *s, size_t n)
{
	char buf[INET6_ADDRSTRLEN + 8];
	const char *slash;
	unsigned long len = 128;
	size_t alen;

	while (n > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	slash = memchr(s, '/', n);
	alen = slash ? (size_t)(slash - s) : n;
	if (slash) {
		size_t i, dl = n - alen - 1;

		if (dl == 0 || dl > 3)
			return -EINVAL;
		len = 0;
		for (i = 0; i < dl; i++) {
			char c = slash[1 + i];

			if (c < '0' || c > '9')
				return -EINVAL;
			len = len * 10 + (unsigned long)(c - '0');
		}
		if (len > 128)
			return -EINVAL;
	}
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	if (inet_pton(AF_INET6, buf, &p->addr) != 1)
		return -EINVAL;
	p->len = (uint8_t)len;
	mask_prefix(&p->addr, p->len);
	return 0;
}

int config_parse_domain(struct shim_config *cfg, const char *s)
{
	const char *end;

	cfg->n_domain = 0;
	if (strcmp(s, "none") == 0)
		return 0;
	while (*s) {
		size_t n;

		end = strchr(s, ',');
		n = end ? (size_t)(end - s) : strlen(s);
		if (cfg->n_domain == CONFIG_DOMAIN_MAX ||
		    parse_prefix(&cfg->domain[cfg->n_domain], s, n) < 0) {
			cfg->n_domain = 0;
			return -EINVAL;
		}
		cfg->n_domain++;
		if (!end)
			break;
		s = end + 1;
	}
	return 0;
}

static const char *const prop_names[HTTP_PROP_COUNT] = {
	[HTTP_PROP_TRACECONTEXT] = "tracecontext",
	[HTTP_PROP_B3] = "b3",
	[HTTP_PROP_B3MULTI] = "b3multi",
	[HTTP_PROP_JAEGER] = "jaeger",
};

int config_parse_propagators(struct shim_config *cfg, const char *s)
{
	size_t n_order = 0;
	uint8_t order[HTTP_PROP_COUNT];

	while (*s) {
		const char *end = strchr(s, ',');
		size_t n = end ? (size_t)(end - s) : strlen(s);
		size_t i, j;

		while (n > 0 && *s == ' ') {
			s++;
			n--;
		}
		while (n > 0 && s[n - 1] == ' ')
			n--;
		for (i = 0; i < HTTP_PROP_COUNT; i++)
			if (strlen(prop_names[i]) == n && strncmp(s, prop_names[i], n) == 0)
				break;
		if (i == HTTP_PROP_COUNT)
			return -EINVAL;
		for (j = 0; j < n_order; j++)
			if (order[j] == i)
				break;
		if (j == n_order)
			order[n_order++] = (uint8_t)i;
		if (!end)
			break;
		s = end + 1;
	}
	if (n_order == 0)
		return -EINVAL;
	memcpy(cfg->order, order, n_order);
	cfg->n_order = n_order;
	return 0;
}

int config_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"1", "true", "yes", "on"};
	static const char *const no[] = {"0", "false", "no", "off"};
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

int config_parse_tracing(struct shim_config *cfg, const char *s)
{
	static const char *const names[] = {"off", "spans", "inject"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(s, names[i]) == 0) {
			cfg->tracing = (uint8_t)i;
			return 0;
		}
	}
	return -EINVAL;
}

int config_parse_sampler(struct shim_config *cfg, const char *s, const char *arg)
{
	bool pb = strncmp(s, "parentbased_", 12) == 0;
	const char *root = pb ? s + 12 : s;
	double ratio = 1.0;
	uint8_t kind;

	if (strcmp(root, "always_on") == 0) {
		kind = SAMPLER_ALWAYS_ON;
	} else if (strcmp(root, "always_off") == 0) {
		kind = SAMPLER_ALWAYS_OFF;
	} else if (strcmp(root, "traceidratio") == 0) {
		kind = SAMPLER_RATIO;
		if (arg && *arg) {
			char *end;

			ratio = strtod(arg, &end);
			if (*end || !(ratio >= 0.0 && ratio <= 1.0))
				return -EINVAL;
		}
	} else {
		return -EINVAL;
	}
	cfg->sampler = kind;
	cfg->parent_based = pb;
	cfg->ratio = ratio;
	return 0;
}

bool config_in_domain(const struct shim_config *cfg, const struct in6_addr *addr)
{
	size_t i;

	for (i = 0; i < cfg->n_domain; i++) {
		struct in6_addr a = *addr;

		mask_prefix(&a, cfg->domain[i].len);
		if (memcmp(&a, &cfg->domain[i].addr, sizeof(a)) == 0)
			return true;
	}
	return false;
}

void config_load(struct shim_config *cfg, bool secure)
{
	const char *dom = secure ? NULL : secure_getenv("CLT_DOMAIN");
	const char *props = secure ? NULL : secure_getenv("CLT_PROPAGATORS");
	const char *unsampled = secure ? NULL : secure_getenv("CLT_TAG_UNSAMPLED");
	const char *stack = secure ? NULL : secure_getenv("CLT_STACKTRACE");
	const char *responses = secure ? NULL : secure_getenv("CLT_TAG_RESPONSES");

	const char *tracing = secure ? NULL : secure_getenv("CLT_TRACING");
	const char *sampler = secure ? NULL : secure_getenv("OTEL_TRACES_SAMPLER");
	const char *sarg = secure ? NULL : secure_getenv("OTEL_TRACES_SAMPLER_ARG");
	const char *env_tp = secure ? NULL : secure_getenv("TRACEPARENT");
	struct tp_context tp;

	memset(cfg, 0, sizeof(*cfg));
	cfg->parent_based = true;
	cfg->ratio = 1.0;
	if (tracing && *tracing && config_parse_tracing(cfg, tracing) < 0)
		slog(SLOG_ERROR, "CLT_TRACING=\"%.*s\" is not off, spans or inject: off",
		     CONFIG_ECHO_MAX, tracing);
	if (sampler && *sampler && config_parse_sampler(cfg, sampler, sarg) < 0)
		slog(SLOG_ERROR, "OTEL_TRACES_SAMPLER=\"%.*s\" (argument \"%.*s\") not understood: "
		     "parentbased_always_on", CONFIG_ECHO_MAX, sampler, CONFIG_ECHO_MAX, sarg ? sarg : "");
	config_parse_propagators(cfg, CONFIG_PROPAGATORS_DEFAULT);
	config_parse_domain(cfg, CONFIG_DOMAIN_DEFAULT);
	if (dom && config_parse_domain(cfg, dom) < 0)
		slog(SLOG_ERROR, "CLT_DOMAIN=\"%.*s\" is not a list of at most %d IPv6 prefixes: tagging nothing",
		     CONFIG_ECHO_MAX, dom, CONFIG_DOMAIN_MAX);
	if (props && config_parse_propagators(cfg, props) < 0) {
		slog(SLOG_ERROR, "CLT_PROPAGATORS=\"%.*s\": unknown format; using \"%s\"",
		     CONFIG_ECHO_MAX, props, CONFIG_PROPAGATORS_DEFAULT);
		config_parse_propagators(cfg, CONFIG_PROPAGATORS_DEFAULT);
	}
	if (env_tp && *env_tp) {
		if (tp_parse(&tp, env_tp, strlen(env_tp)) == 0) {
			cfg->env_parent = true;
			cfg->env_sampled = tp.flags & TP_FLAG_SAMPLED;
			memcpy(cfg->env_trace, tp.trace_id, 16);
			memcpy(cfg->env_span, tp.parent_id, 8);
		} else {
			slog(SLOG_ERROR, "TRACEPARENT=\"%.*s\" is not a valid traceparent: ignored",
			     CONFIG_ECHO_MAX, env_tp);
		}
	}
	/* Unset or empty: the default. A typo must not flood the backend with orphan spans. */
	if (unsampled && *unsampled && config_parse_bool(unsampled, &cfg->tag_unsampled) < 0)
		slog(SLOG_ERROR, "CLT_TAG_UNSAMPLED=\"%.*s\" is not 1 or 0: tagging sampled only",
		     CONFIG_ECHO_MAX, unsampled);
	cfg->tag_responses = true;
	if (responses && *responses && config_parse_bool(responses, &cfg->tag_responses) < 0) {
		cfg->tag_responses = true;
		slog(SLOG_ERROR, "CLT_TAG_RESPONSES=\"%.*s\" is not 1 or 0: responses tagged",
		     CONFIG_ECHO_MAX, responses);
	}
	if (stack && *stack && config_parse_bool(stack, &cfg->stacktrace) < 0)
		slog(SLOG_ERROR, "CLT_STACKTRACE=\"%.*s\" is not 1 or 0: no stack traces",
		     CONFIG_ECHO_MAX, stack);
}
