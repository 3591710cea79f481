/*
 * agent_config.h - cltagent configuration: OpenTelemetry environment variables,
 * then command-line flags (which override them). Every flag is one row of
 * agent_options[]: getopt's tables, the defaults, the bounds and --help
 * are all made from it.
 */
#ifndef CLT_AGENT_AGENT_CONFIG_H
#define CLT_AGENT_AGENT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "clt/ioam.h"
#include "otlp.h"

#define CLT_AGENT_VERSION "0.1.0"
#define CONFIG_DEFAULT_ENDPOINT "http://localhost:4318/v1/traces"

struct agent_config {
	char *source;          /**< "netlink", "capture:IFACE", "pcap:FILE" */
	uint32_t layout;       /**< enum ioam_layout (a table row stores it as a choice) */
	char *endpoint;        /**< NULL: no HTTP export */
	char *output;          /**< NULL, "-" or a file */
	struct otlp_kv *headers;
	size_t n_headers;
	char *service_name;
	struct otlp_kv *resource;
	size_t n_resource;
	char *cacert;
	bool gzip;
	uint32_t timeout_ms;   /**< per HTTP request */
	uint32_t batch_size;   /**< spans */
	uint32_t batch_ms;
	uint32_t queue_size;   /**< batches */
	uint32_t retry_max_ms; /**< give a batch up after retrying this long */
	uint32_t idle_ms;
	uint32_t max_age_ms;
	uint32_t max_requests;
	uint32_t late_window_ms; /**< traces of an emitted request within this are late; 0 = off */
	uint32_t late_max;     /**< emitted requests remembered */
	uint32_t frac_unit_ns; /**< 1000 usec, 1 nsec, 0 ptp */
	struct otlp_node_name *names;
	size_t n_names;
	bool export_untagged;
	bool span_per_packet;
	uint32_t stats_interval_s;
	uint32_t shutdown_ms;
	uint32_t rcvbuf;       /**< netlink receive buffer, bytes */
	char *ready_file;      /**< NULL, or created once running (a readiness signal for supervisors) */
	int verbose;
	/* Tag server (tagserver.h): tagging for unprivileged programs. */
	char *tag_socket;      /**< NULL: the default path; "" : disabled */
	char *tag_group;       /**< NULL: the agent's group */
	char *tag_allow;       /**< NULL: any peer that can connect; else uids/names, comma-separated */
	uint32_t tag_rate;     /**< requests per second per connection */
	uint32_t tag_max_conns;
	/* bpf tagging (bpf_loader.h): the tc egress program and per-process slot arrays. */
	bool bpf;
	char *bpf_ifaces;      /**< NULL: every up interface with IPv6 */
	/* Operations. */
	bool check;            /**< --check: report what tracing needs, then exit */
	char *metrics;         /**< NULL, or ADDR:PORT of the Prometheus endpoint */
	uint32_t span_rate;    /**< shim span records per second per connection */
};

enum config_result { CONFIG_RUN = 0, CONFIG_EXIT_OK = 1 };

/** What an option's argument is, hence how the generic code parses and stores it. */
enum agent_opt_kind {
	AGENT_OPT_FLAG,     /**< no argument: sets a bool */
	AGENT_OPT_COUNT,    /**< no argument: increments an int (-v -v) */
	AGENT_OPT_STRING,   /**< a copy of the argument, after @check */
	AGENT_OPT_U32,      /**< a decimal in [min, max] */
	AGENT_OPT_DURATION, /**< ms/s/m (bare: seconds) in [min, max] ms, stored divided by @scale */
	AGENT_OPT_CHOICE,   /**< one of @choices' names: stores its value */
	AGENT_OPT_SETTER,   /**< @set parses and stores (lists, files, side effects) */
	AGENT_OPT_HELP,
	AGENT_OPT_VERSION,
};

struct agent_opt_choice {
	const char *name;
	uint32_t value;
};

struct agent_load; /* agent_config.c's parsing state, handed to setters */

/** One command-line option. */
struct agent_option {
	const char *name;        /**< long name, without "--" */
	char short_name;         /**< 0: none */
	enum agent_opt_kind kind;
	const char *arg;         /**< the argument's name in --help ("D", "N", "FILE") */
	size_t offset;           /**< where it lands in struct agent_config (not for SETTER) */
	uint32_t def;            /**< U32, DURATION (ms), CHOICE: the default value */
	const char *def_str;     /**< STRING: the default, applied when neither env nor flag set it */
	const char *def_text;    /**< what --help calls the default when it is not a plain value */
	uint32_t min, max;       /**< U32, DURATION (ms): accepted range */
	uint32_t scale;          /**< DURATION: stored in units of @scale ms, rounded up (0: 1) */
	const struct agent_opt_choice *choices; /**< CHOICE: NULL-name terminated */
	int (*check)(const char *arg);          /**< STRING: 0 or -EINVAL */
	int (*set)(struct agent_load *st, const char *arg); /**< SETTER */
	const char *section;     /**< --help heading printed before this row, or NULL */
	const char *help;        /**< --help text, wrapped; the default is appended */
};

extern const struct agent_option agent_options[];
extern const size_t agent_n_options;

/** Print --help (made from agent_options[]) to @f. */
void agent_config_usage(FILE *f);

/**
 * The default --help shows for @o in @buf ("500ms", "16384", "auto"), or ""
 * when it shows none. @return @buf.
 */
const char *agent_config_default_text(const struct agent_option *o, char *buf, size_t cap);

/**
 * Fill @cfg from the environment and @argv. Prints --help / --version
 * (and returns CONFIG_EXIT_OK) or an error message on stderr.
 * @return CONFIG_RUN, CONFIG_EXIT_OK or -EINVAL / -ENOMEM.
 */
int agent_config_load(struct agent_config *cfg, int argc, char **argv);
void agent_config_free(struct agent_config *cfg);

/**
 * Parse a W3C-baggage-like "k=v,k2=v2" list (OTEL_RESOURCE_ATTRIBUTES,
 * OTEL_EXPORTER_OTLP_HEADERS): entries trimmed, values percent-decoded,
 * empty keys and malformed entries skipped. Appends to *list.
 * @return entries added or -ENOMEM.
 */
int agent_config_parse_kvlist(const char *s, struct otlp_kv **list, size_t *n);

/** Percent-decode @len octets of @in into a new string; NULL on a bad escape or no memory. */
char *agent_config_percent_decode(const char *in, size_t len);

/** Add "ID=NAME" to the node names. @return 0 or -EINVAL / -ENOMEM. */
int agent_config_add_node_name(struct agent_config *cfg, const char *spec);

/** The traces endpoint from OTEL_EXPORTER_OTLP_{TRACES_,}ENDPOINT (malloc'd) or NULL. */
char *agent_config_env_endpoint(void);

/** Parse an unsigned decimal in [min, max]. @return 0 or -EINVAL. */
int agent_config_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out);

#endif /* CLT_AGENT_AGENT_CONFIG_H */
