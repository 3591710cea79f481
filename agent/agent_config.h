/*
 * agent_config.h - cltagent configuration: OpenTelemetry environment variables,
 * then command-line flags (which override them).
 */
#ifndef CLT_AGENT_AGENT_CONFIG_H
#define CLT_AGENT_AGENT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clt/ioam.h"
#include "otlp.h"

#define CLT_AGENT_VERSION "0.1.0"
#define CONFIG_DEFAULT_ENDPOINT "http://localhost:4318/v1/traces"

struct agent_config {
	char *source;          /**< "netlink", "capture:IFACE", "pcap:FILE" */
	enum ioam_layout layout;
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
	/* Operations. */
	bool check;            /**< --check: report what tracing needs, then exit */
	char *metrics;         /**< NULL, or ADDR:PORT of the Prometheus endpoint */
};

enum config_result { CONFIG_RUN = 0, CONFIG_EXIT_OK = 1 };

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
