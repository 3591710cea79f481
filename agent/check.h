/*
 * check.h - "why is nothing traced?": one line per condition that IOAM
 * tracing needs on this host, each ok / problem (with what to run to fix
 * it) / note / unknown (could not be seen with this process's rights).
 *
 * IOAM fails silently: a missing namespace, an interface with IOAM off,
 * an agent without CAP_NET_ADMIN all give the same result - no spans, no
 * error. These checks look at each condition on its own, from the point
 * of view of the agent (cltagent --check) or of a traced program
 * (clt-check, which adds the program's own view: shim, backend, domain).
 */
#ifndef CLT_AGENT_CHECK_H
#define CLT_AGENT_CHECK_H

#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

struct agent_config;

enum check_status {
	CHECK_OK,
	CHECK_NOTE,    /**< worth knowing, does not stop tracing */
	CHECK_UNKNOWN, /**< could not be seen (rights, missing tool) */
	CHECK_PROBLEM, /**< stops tracing: the exit status says so */
};

/** Who is looking: the receiving side (agent) needs more of the node than a sender. */
enum check_role {
	CHECK_ROLE_AGENT,
	CHECK_ROLE_SENDER,
};

struct check_report {
	FILE *out;
	unsigned int problems;
	unsigned int unknowns;
};

/** Print "STATUS  WHAT: text" (one line) and count it. */
void check_line(struct check_report *r, enum check_status st, const char *what, const char *fmt,
		...) __attribute__((format(printf, 4, 5)));

/**
 * The kernel: IOAM6 sysctls, and IOAM events (Linux >= 6.9, the genl
 * group), a problem only when @events_needed (an agent reading netlink).
 */
void check_kernel(struct check_report *r, bool events_needed);

/**
 * This node: its IOAM id, whether IOAM namespace @ns is configured, and
 * each interface's ioam6_enabled and id. @toward_if names the interface
 * that leads to the peer ("" when unknown): for the agent, IOAM off there
 * is a problem; elsewhere only a note, unless no interface has IOAM on.
 */
void check_node(struct check_report *r, enum check_role role, uint16_t ns, const char *toward_if);

/** The IOAM namespace traffic uses: CLT_NAMESPACE, else libclt's default. */
uint16_t check_namespace_id(void);

/**
 * Route lookup (rtnetlink RTM_GETROUTE) for @dst: the egress interface
 * name, the gateway (@has_gw) and the preferred source address.
 * @return 0 or a negative errno (-ENETUNREACH, ...).
 */
int check_route_get(const struct in6_addr *dst, char ifname[16], struct in6_addr *gw, bool *has_gw,
		    struct in6_addr *src, bool *has_src);

/** The effective capability set of @pid (0: this process). @return 0 or a negative errno. */
int check_caps_of(pid_t pid, uint64_t *eff);

/** "CAP_NET_ADMIN CAP_NET_RAW" for the bits of @mask this project uses. */
const char *check_cap_names(uint64_t mask, char *buf, size_t cap);

#define CHECK_CAP_NET_ADMIN (1ull << 12)
#define CHECK_CAP_NET_RAW   (1ull << 13)

/**
 * cltagent --check: the host, a running agent (found by the --ready-file
 * it was given, else by process name in this network namespace), its
 * capabilities and tag socket, and the export endpoint (one OTLP/HTTP
 * request with no spans), all with @cfg's settings.
 * @return the exit status: 0 when nothing stops tracing, 1 otherwise.
 */
int check_agent_run(const struct agent_config *cfg, FILE *out);

#endif /* CLT_AGENT_CHECK_H */
