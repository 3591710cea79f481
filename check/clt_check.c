/*
 * clt_check.c - clt-check: why are this program's requests not traced?
 *
 * Run it the way the service runs - same user, same environment, under
 * the shim (LD_PRELOAD=libcltshim.so clt-check --peer ADDR) - and it
 * reports that program's view, one line per condition: is the shim
 * loaded, which backend libclt picks and why, the capability it has, the
 * agent's tag socket (reachable, permitted), CLT_DOMAIN and whether the
 * peer is inside it, the route there, and a real tagging attempt on a
 * socket connected to the peer (UDP: connecting sends nothing). Then the
 * node's own IOAM state as a sender (agent/check.c).
 * Exit status 1 when a problem would stop this program's requests from
 * being traced, 2 on a usage error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <grp.h>
#include <pwd.h>

#include "clt/clt.h"
#include "clt/tagproto.h"

#include "check.h"
#include "config.h"

#ifndef CLT_LIBDIR
#define CLT_LIBDIR "/usr/local/lib"
#endif
#ifndef CLT_VERSION
#define CLT_VERSION "0.1.0"
#endif

static const char usage_text[] =
    "Usage: clt-check [--peer ADDR]\n"
    "Say why a program's requests are not traced. Run it as the program runs: same\n"
    "user, same environment, under the shim:\n"
    "  LD_PRELOAD=" CLT_LIBDIR "/libcltshim.so clt-check --peer ADDR\n"
    "One line per condition: ok, note, unknown (not visible with these rights) or\n"
    "problem, with what to run to fix it. Exit status 1 when a problem stops tracing.\n"
    "\n"
    "  -p, --peer ADDR   the IPv6 address (or name) the program sends requests to:\n"
    "                    is it inside CLT_DOMAIN, which interface leads there, does\n"
    "                    tagging a socket connected to it work\n"
    "  -h, --help        this text\n"
    "  -V, --version     version\n"
    "\n"
    "Checked: the shim is loaded; libclt's backend and why (CLT_BACKEND); this\n"
    "program's CAP_NET_RAW; cltagent's tag socket (CLT_AGENT_SOCKET); CLT_DOMAIN;\n"
    "the kernel's IOAM6 support; this node's IOAM id, namespace (CLT_NAMESPACE) and\n"
    "interfaces. The nodes on the path are checked there, with cltagent --check.\n";

/* Is libcltshim.so mapped into this process? @path gets where from. */
static bool shim_loaded(char *path, size_t cap)
{
	char line[4096];
	FILE *f = fopen("/proc/self/maps", "re");
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *p = strchr(line, '/');

		if (p && strstr(p, "/libcltshim")) {
			p[strcspn(p, "\n")] = '\0';
			snprintf(path, cap, "%s", p);
			found = true;
		}
	}
	fclose(f);
	return found;
}

static void check_shim(struct check_report *r)
{
	const char *pre = getenv("LD_PRELOAD");
	char where[1024];

	if (shim_loaded(where, sizeof(where)))
		check_line(r, CHECK_OK, "shim", "libcltshim.so loaded from %s", where);
	else if (pre && strstr(pre, "libcltshim"))
		check_line(
		    r, CHECK_PROBLEM, "shim",
		    "LD_PRELOAD=%.200s names the shim but it did not load (the loader said why "
		    "above: wrong path or architecture); fix: LD_PRELOAD=" CLT_LIBDIR
		    "/libcltshim.so",
		    pre);
	else
		check_line(
		    r, CHECK_PROBLEM, "shim",
		    "not loaded: requests are not tagged unless the program calls libclt itself; "
		    "fix: start the program (and clt-check) with LD_PRELOAD=" CLT_LIBDIR
		    "/libcltshim.so");
}

/* The tag socket as this user sees it: there, a socket, connectable. */
static void check_agent_socket(struct check_report *r, bool needed, bool secure)
{
	const char *env = secure ? NULL : getenv("CLT_AGENT_SOCKET");
	const char *path = env && *env ? env : CLT_TAG_DEFAULT_SOCKET;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	enum check_status bad = needed ? CHECK_PROBLEM : CHECK_NOTE;
	struct passwd *pw = getpwuid(getuid());
	const char *user = pw ? pw->pw_name : "USER";
	struct stat st;
	int fd, rc = 0;

	if (stat(path, &st) < 0) {
		if (errno == ENOENT)
			check_line(
			    r, bad, "tag socket",
			    "%s: no such socket%s; fix: start cltagent (it creates it), or set "
			    "CLT_AGENT_SOCKET to its --tag-socket",
			    path, needed ? " and this program lacks CAP_NET_RAW" : "");
		else if (errno == EACCES)
			check_line(
			    r, bad, "tag socket",
			    "%s: its directory is closed to %s; fix: chmod o+x the directory, or "
			    "add %s to the agent's --tag-group",
			    path, user, user);
		else
			check_line(r, CHECK_UNKNOWN, "tag socket", "%s: %s", path, strerror(errno));
		return;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		rc = -errno;
	if (fd >= 0)
		close(fd);
	if (rc == 0)
		check_line(r, CHECK_OK, "tag socket", "%s reachable and open to %s%s", path, user,
			   needed ? "" : " (not needed: this program tags itself)");
	else if (rc == -EACCES || rc == -EPERM) {
		struct group *g = getgrgid(st.st_gid);

		check_line(
		    r, bad, "tag socket",
		    "%s: %s may not connect (mode %03o, group %s); fix: usermod -aG %s %s (then "
		    "restart the service), or cltagent --tag-group",
		    path, user, (unsigned int)(st.st_mode & 0777), g ? g->gr_name : "?",
		    g ? g->gr_name : "GROUP", user);
	} else if (rc == -ECONNREFUSED)
		check_line(r, bad, "tag socket",
			   "%s: nobody listens (cltagent stopped?); fix: start cltagent", path);
	else
		check_line(r, bad, "tag socket", "%s: %s", path, strerror(-rc));
}

static void check_domain(struct check_report *r, struct shim_config *cfg, bool secure,
			 const struct in6_addr *peer, const char *peer_txt)
{
	const char *env = secure ? NULL : getenv("CLT_DOMAIN");
	const char *dom = env ? env : CONFIG_DOMAIN_DEFAULT;
	struct shim_config probe;

	config_load(cfg, secure);
	memset(&probe, 0, sizeof(probe));
	if (env && config_parse_domain(&probe, env) < 0) {
		check_line(
		    r, CHECK_PROBLEM, "domain",
		    "CLT_DOMAIN=\"%.128s\" is not a list of at most %d IPv6 prefixes: nothing is "
		    "tagged; fix: e.g. CLT_DOMAIN=fd00::/8",
		    env, CONFIG_DOMAIN_MAX);
		return;
	}
	if (cfg->n_domain == 0) {
		check_line(r, CHECK_PROBLEM, "domain", "CLT_DOMAIN=none: nothing is tagged");
		return;
	}
	if (!peer) {
		check_line(r, CHECK_OK, "domain",
			   "requests to %s%s are tagged (give --peer to check one)", dom,
			   env ? "" : " (the default)");
		return;
	}
	if (config_in_domain(cfg, peer))
		check_line(r, CHECK_OK, "domain", "%s is inside CLT_DOMAIN=%s%s", peer_txt, dom,
			   env ? "" : " (the default)");
	else
		check_line(r, CHECK_PROBLEM, "domain",
			   "%s is outside CLT_DOMAIN=%s%s: its requests are not tagged; fix: "
			   "CLT_DOMAIN=%s,%s/128 (or its prefix) in the service's environment",
			   peer_txt, dom, env ? "" : " (the default)", dom, peer_txt);
}

static int resolve_peer(const char *s, struct in6_addr *out)
{
	struct addrinfo hints = {.ai_family = AF_INET6, .ai_socktype = SOCK_DGRAM};
	struct addrinfo *res = NULL;

	if (inet_pton(AF_INET6, s, out) == 1)
		return 0;
	if (getaddrinfo(s, NULL, &hints, &res) != 0 || !res)
		return -EINVAL;
	*out = ((struct sockaddr_in6 *)res->ai_addr)->sin6_addr;
	freeaddrinfo(res);
	return 0;
}

static void check_route(struct check_report *r, const struct in6_addr *peer, const char *peer_txt,
			char ifname[16])
{
	char gw_txt[INET6_ADDRSTRLEN] = "", src_txt[INET6_ADDRSTRLEN] = "";
	struct in6_addr gw, src;
	bool has_gw, has_src;
	int rc = check_route_get(peer, ifname, &gw, &has_gw, &src, &has_src);

	if (rc < 0) {
		check_line(r, CHECK_PROBLEM, "route",
			   "no route to %s: %s; fix: ip -6 route add ... (see ip -6 route get %s)",
			   peer_txt, strerror(-rc), peer_txt);
		return;
	}
	if (has_gw)
		inet_ntop(AF_INET6, &gw, gw_txt, sizeof(gw_txt));
	if (has_src)
		inet_ntop(AF_INET6, &src, src_txt, sizeof(src_txt));
	check_line(r, CHECK_OK, "route", "%s leaves through %s%s%s%s%s%s", peer_txt, ifname,
		   has_gw ? " via " : "", gw_txt, has_src ? " from " : "", src_txt,
		   strcmp(ifname, "lo") == 0 ? " (this host)" : "");
}

/* A real clt_enable() on a socket connected to the peer: what the shim would do. */
static void check_tagging(struct check_report *r, struct clt_ctx *ctx, const struct in6_addr *peer,
			  const char *peer_txt)
{
	static const uint8_t trace[CLT_TRACE_ID_LEN] = {
	    0x43, 0x4c, 0x54, 0x2d, 0x63, 0x68, 0x65, 0x63, 0x6b, 1, 2, 3, 4, 5, 6, 7};
	static const uint8_t span[CLT_SPAN_ID_LEN] = {0x63, 0x68, 0x65, 0x63, 0x6b, 1, 2, 3};
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons(9)};
	int fd, rc;

	sa.sin6_addr = peer ? *peer : in6addr_loopback;
	fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		check_line(r, CHECK_UNKNOWN, "tagging", "cannot create an IPv6 socket: %s",
			   strerror(errno));
		return;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		check_line(r, CHECK_PROBLEM, "tagging", "cannot connect a UDP socket to %s: %s",
			   peer ? peer_txt : "::1", strerror(errno));
		close(fd);
		return;
	}
	rc = clt_enable(ctx, fd, trace, span);
	if (rc == 0)
		check_line(r, CHECK_OK, "tagging",
			   "a socket connected to %s takes the IOAM option (%s)",
			   peer ? peer_txt : "::1", clt_backend_name(clt_backend_get(ctx)));
	else
		check_line(r, CHECK_PROBLEM, "tagging",
			   "a socket connected to %s cannot be tagged: %s", peer ? peer_txt : "::1",
			   clt_strerror(rc));
	clt_disable(ctx, fd);
	close(fd);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"peer", required_argument, NULL, 'p'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	struct check_report r = {.out = stdout};
	struct clt_options co = {0};
	struct shim_config scfg;
	struct in6_addr peer;
	const char *peer_txt = NULL, *why = NULL;
	char ifname[16] = "", names[64];
	struct clt_ctx *ctx = NULL;
	enum clt_backend be = CLT_BACKEND_OFF;
	uint64_t eff = 0;
	bool secure = getauxval(AT_SECURE) != 0, raw;
	int c, rc;

	while ((c = getopt_long(argc, argv, "p:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			peer_txt = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		case 'V':
			printf("clt-check %s\n", CLT_VERSION);
			return 0;
		default:
			fprintf(stderr, "Try 'clt-check --help'.\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "clt-check: unexpected argument '%.64s'\n", argv[optind]);
		return 2;
	}
	if (peer_txt && resolve_peer(peer_txt, &peer) < 0) {
		struct in_addr v4;

		if (inet_pton(AF_INET, peer_txt, &v4) != 1) {
			fprintf(stderr,
				"clt-check: --peer %.64s: not an IPv6 address or a name with one\n",
				peer_txt);
			return 2;
		}
		/* A real answer, not a usage error: the service talks IPv4 to it. */
		check_line(
		    &r, CHECK_PROBLEM, "peer",
		    "%s is IPv4: IOAM is IPv6 only, its requests are never tagged; fix: reach "
		    "it over IPv6 (an AAAA record, an IPv6 listener)",
		    peer_txt);
		peer_txt = NULL;
	}

	check_shim(&r);
	if (secure)
		check_line(
		    &r, CHECK_NOTE, "environment",
		    "setuid or file capabilities: CLT_* variables are ignored, as the shim does");
	co.ignore_env = secure;
	rc = clt_check_options(&co, &why);
	if (rc < 0) {
		check_line(&r, CHECK_PROBLEM, "backend", "configuration refused: %s",
			   why ? why : clt_strerror(rc));
	} else if (clt_open(&ctx, &co) < 0 || !ctx) {
		check_line(&r, CHECK_PROBLEM, "backend", "libclt cannot start");
	} else {
		const char *reason = clt_backend_reason(ctx);
		size_t nl;

		be = clt_backend_get(ctx);
		nl = strlen(clt_backend_name(be));
		/* The reason usually starts with the backend's name already. */
		if (strncmp(reason, clt_backend_name(be), nl) == 0 && reason[nl] == ':')
			reason += nl + 1 + (reason[nl + 1] == ' ');
		if (be == CLT_BACKEND_OFF)
			check_line(
			    &r, CHECK_PROBLEM, "backend",
			    "off: %s; fix: give the program CAP_NET_RAW (hopopts), or run cltagent "
			    "and let this user reach its tag socket (agent)",
			    reason);
		else
			check_line(&r, CHECK_OK, "backend", "%s: %s", clt_backend_name(be), reason);
	}
	raw = check_caps_of(0, &eff) == 0 && (eff & CHECK_CAP_NET_RAW);
	if (raw)
		check_line(&r, CHECK_OK, "capability",
			   "has CAP_NET_RAW: can set the IOAM option on its own sockets");
	else
		check_line(
		    &r, CHECK_NOTE, "capability",
		    "no CAP_NET_RAW (effective: %s): tagging goes through cltagent's tag socket",
		    eff ? check_cap_names(eff, names, sizeof(names)) : "none");
	check_agent_socket(&r, be == CLT_BACKEND_AGENT || (be == CLT_BACKEND_OFF && !raw), secure);
	check_domain(&r, &scfg, secure, peer_txt ? &peer : NULL, peer_txt);
	if (peer_txt)
		check_route(&r, &peer, peer_txt, ifname);
	if (ctx && be != CLT_BACKEND_OFF)
		check_tagging(&r, ctx, peer_txt ? &peer : NULL, peer_txt);
	check_kernel(&r, false);
	check_node(&r, CHECK_ROLE_SENDER, check_namespace_id(), ifname);
	if (peer_txt)
		check_line(
		    &r, CHECK_NOTE, "path",
		    "the nodes towards %s add IOAM data only where their ingress interface has "
		    "ioam6_enabled=1 and namespace %u is configured: run cltagent --check on them",
		    peer_txt, check_namespace_id());
	clt_close(ctx);
	printf("result: %u problem%s, %u unknown%s\n", r.problems, r.problems == 1 ? "" : "s",
	       r.unknowns, r.unknowns == 1 ? "" : "s");
	return r.problems ? 1 : 0;
}
