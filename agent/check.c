/*
 * check.c - the host checks shared by cltagent --check and clt-check, and
 * the agent's own (running agent, capabilities, tag socket, endpoint).
 *
 * Everything is read, never changed: sysctls from /proc/sys (which shows
 * the caller's network namespace), namespaces over the IOAM6 generic
 * netlink family (as "ip ioam namespace show" does), routes over
 * rtnetlink, capabilities from /proc/PID/status. What needs a right the
 * caller lacks is reported as unknown, not guessed.
 */
#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <grp.h>
#include <linux/ioam6_genl.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>

#include "clt/clt.h"
#include "clt/tagproto.h"

#include "agent_config.h"
#include "check.h"
#include "metrics.h"

#define IOAM6_GENL_FAMILY "IOAM6"
#define IOAM6_GENL_EVENTS "ioam6_events"
/* net.ipv6.ioam6_id when never set: IOAM6_DEFAULT_ID (U32_MAX >> 8). */
#define IOAM6_DEFAULT_NODE_ID 0xffffffu
#define CHECK_MAX_NS	      256
#define CHECK_MAX_IFS	      256

static const char *const status_word[] = {
    [CHECK_OK] = "ok",
    [CHECK_NOTE] = "note",
    [CHECK_UNKNOWN] = "unknown",
    [CHECK_PROBLEM] = "problem",
};

void check_line(struct check_report *r, enum check_status st, const char *what, const char *fmt,
		...)
{
	va_list ap;

	if (st == CHECK_PROBLEM)
		r->problems++;
	else if (st == CHECK_UNKNOWN)
		r->unknowns++;
	fprintf(r->out, "%-8s%s: ", status_word[st], what);
	va_start(ap, fmt);
	vfprintf(r->out, fmt, ap);
	va_end(ap);
	fputc('\n', r->out);
	fflush(r->out);
}

/* A sysctl or /proc file's first line, newline removed. @return 0 or a negative errno. */
static int read_line(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f)
		return -errno;
	if (!fgets(buf, (int)cap, f)) {
		fclose(f);
		return -EIO;
	}
	fclose(f);
	n = strcspn(buf, "\n");
	buf[n] = '\0';
	return 0;
}

static int read_u64(const char *path, uint64_t *out)
{
	char buf[64], *end;
	int rc = read_line(path, buf, sizeof(buf));

	if (rc < 0)
		return rc;
	errno = 0;
	*out = strtoull(buf, &end, 10);
	return errno || end == buf ? -EINVAL : 0;
}

uint16_t check_namespace_id(void)
{
	const char *v = getenv("CLT_NAMESPACE");
	char *end;
	unsigned long n;

	if (!v || !*v)
		return CLT_DEFAULT_NAMESPACE;
	errno = 0;
	n = strtoul(v, &end, 0);
	if (errno || *end || n == 0 || n > 0xffff)
		return CLT_DEFAULT_NAMESPACE;
	return (uint16_t)n;
}

static bool kernel_at_least(unsigned int want_major, unsigned int want_minor, char *rel, size_t cap)
{
	struct utsname u;
	unsigned int major = 0, minor = 0;

	if (uname(&u) < 0)
		return false;
	snprintf(rel, cap, "%s", u.release);
	if (sscanf(u.release, "%u.%u", &major, &minor) != 2)
		return false;
	return major > want_major || (major == want_major && minor >= want_minor);
}

void check_kernel(struct check_report *r, bool events_needed)
{
	char rel[128] = "?";
	struct nl_sock *sk;
	int family = -1, grp = -1;
	bool new_enough;

	if (access("/proc/sys/net/ipv6/ioam6_id", R_OK) == 0)
		check_line(r, CHECK_OK, "kernel", "IOAM6 present (net.ipv6.ioam6_id)");
	else
		check_line(r, CHECK_PROBLEM, "kernel",
			   "no IOAM6 (net.ipv6.ioam6_id missing); fix: a kernel built with "
			   "CONFIG_IPV6_IOAM6_LWTUNNEL (Linux >= 5.15)");
	new_enough = kernel_at_least(6, 9, rel, sizeof(rel));
	sk = nl_socket_alloc();
	if (sk && genl_connect(sk) == 0) {
		family = genl_ctrl_resolve(sk, IOAM6_GENL_FAMILY);
		if (family >= 0)
			grp = genl_ctrl_resolve_grp(sk, IOAM6_GENL_FAMILY, IOAM6_GENL_EVENTS);
	}
	if (sk)
		nl_socket_free(sk);
	if (grp >= 0)
		check_line(r, CHECK_OK, "events",
			   "Linux %s, generic netlink family " IOAM6_GENL_FAMILY
			   " with group " IOAM6_GENL_EVENTS "%s",
			   rel, events_needed ? "" : " (read by cltagent --source netlink)");
	else
		check_line(
		    r, events_needed ? CHECK_PROBLEM : CHECK_NOTE, "events",
		    "Linux %s%s: %s; fix: Linux >= 6.9 for --source netlink, or run cltagent "
		    "--source capture:IFACE",
		    rel, new_enough ? "" : " (< 6.9)",
		    family < 0 ? "no " IOAM6_GENL_FAMILY " generic netlink family"
			       : "no " IOAM6_GENL_EVENTS " group in the " IOAM6_GENL_FAMILY
				 " family");
}

struct ns_dump {
	uint16_t ids[CHECK_MAX_NS];
	size_t n;
};

static int ns_dump_cb(struct nl_msg *msg, void *arg)
{
	static struct nla_policy pol[IOAM6_ATTR_MAX + 1] = {
	    [IOAM6_ATTR_NS_ID] = {.type = NLA_U16},
	};
	struct nlattr *tb[IOAM6_ATTR_MAX + 1];
	struct ns_dump *d = arg;

	if (genlmsg_parse(nlmsg_hdr(msg), 0, tb, IOAM6_ATTR_MAX, pol) < 0 || !tb[IOAM6_ATTR_NS_ID])
		return NL_SKIP;
	if (d->n < CHECK_MAX_NS)
		d->ids[d->n++] = nla_get_u16(tb[IOAM6_ATTR_NS_ID]);
	return NL_OK;
}

/* "ip ioam namespace show" over generic netlink. @return 0, -EPERM (needs CAP_NET_ADMIN) or -EIO.
 */
static int dump_namespaces(struct ns_dump *d)
{
	struct nl_sock *sk = nl_socket_alloc();
	struct nl_msg *msg = NULL;
	int family, rc = -EIO;

	d->n = 0;
	if (!sk)
		return -ENOMEM;
	if (genl_connect(sk) < 0)
		goto out;
	family = genl_ctrl_resolve(sk, IOAM6_GENL_FAMILY);
	if (family < 0)
		goto out;
	msg = nlmsg_alloc();
	if (!msg || !genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, family, 0, NLM_F_DUMP,
				 IOAM6_CMD_DUMP_NAMESPACES, IOAM6_GENL_VERSION))
		goto out;
	nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM, ns_dump_cb, d);
	if (nl_send_auto(sk, msg) < 0)
		goto out;
	rc = nl_recvmsgs_default(sk);
	if (rc == -NLE_PERM)
		rc = -EPERM;
	else if (rc < 0)
		rc = -EIO;
	else
		rc = 0;
out:
	nlmsg_free(msg);
	nl_socket_free(sk);
	return rc;
}

static void check_namespaces(struct check_report *r, enum check_role role, uint16_t ns)
{
	struct ns_dump d;
	char list[256] = "";
	size_t len = 0;
	bool found = false;
	int rc = dump_namespaces(&d);

	if (rc == -EPERM) {
		check_line(r, CHECK_UNKNOWN, "namespace",
			   "cannot list IOAM namespaces without CAP_NET_ADMIN; as root: ip ioam "
			   "namespace show");
		return;
	}
	if (rc < 0) {
		check_line(r, CHECK_UNKNOWN, "namespace",
			   "cannot list IOAM namespaces (generic netlink failed)");
		return;
	}
	for (size_t i = 0; i < d.n; i++) {
		if (d.ids[i] == ns)
			found = true;
		if (len < sizeof(list))
			len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%u",
						i ? "," : "", d.ids[i]);
	}
	if (found)
		check_line(r, CHECK_OK, "namespace", "IOAM namespace %u configured (present: %s)",
			   ns, list);
	else
		check_line(
		    r, role == CHECK_ROLE_AGENT ? CHECK_PROBLEM : CHECK_NOTE, "namespace",
		    "IOAM namespace %u not configured (present: %s): this node %s; fix: ip ioam "
		    "namespace add %u",
		    ns, d.n ? list : "none",
		    role == CHECK_ROLE_AGENT ? "adds no IOAM data and emits no events"
					     : "adds no IOAM data to packets it receives",
		    ns);
}

struct iface {
	char name[IF_NAMESIZE + 1];
	uint64_t enabled, id;
	bool known;
};

static int iface_cmp(const void *a, const void *b)
{
	return strcmp(((const struct iface *)a)->name, ((const struct iface *)b)->name);
}

void check_node(struct check_report *r, enum check_role role, uint16_t ns, const char *toward_if)
{
	static struct iface ifs[CHECK_MAX_IFS];
	char path[PATH_MAX];
	uint64_t id = 0, wide = 0;
	size_t n = 0, on = 0;
	struct dirent *de;
	DIR *dir;

	if (read_u64("/proc/sys/net/ipv6/ioam6_id", &id) < 0)
		check_line(r, CHECK_UNKNOWN, "node", "net.ipv6.ioam6_id unreadable");
	else if (id == IOAM6_DEFAULT_NODE_ID)
		check_line(r, CHECK_NOTE, "node",
			   "IOAM node id is the default %" PRIu64
			   ": spans cannot tell this node from "
			   "others; fix: sysctl -w net.ipv6.ioam6_id=N (unique per node)",
			   id);
	else {
		read_u64("/proc/sys/net/ipv6/ioam6_id_wide", &wide);
		check_line(r, CHECK_OK, "node", "IOAM node id %" PRIu64 " (wide %" PRIu64 ")", id,
			   wide);
	}
	check_namespaces(r, role, ns);

	dir = opendir("/proc/sys/net/ipv6/conf");
	if (!dir) {
		check_line(r, CHECK_UNKNOWN, "interfaces", "/proc/sys/net/ipv6/conf unreadable");
		return;
	}
	while ((de = readdir(dir)) != NULL && n < CHECK_MAX_IFS) {
		struct iface *f = &ifs[n];

		if (de->d_name[0] == '.' || strcmp(de->d_name, "all") == 0 ||
		    strcmp(de->d_name, "default") == 0 || strlen(de->d_name) > IF_NAMESIZE)
			continue;
		memset(f, 0, sizeof(*f));
		snprintf(f->name, sizeof(f->name), "%s", de->d_name);
		snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/ioam6_enabled", f->name);
		f->known = read_u64(path, &f->enabled) == 0;
		snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/ioam6_id", f->name);
		if (read_u64(path, &f->id) < 0)
			f->id = 0;
		if (f->known && f->enabled)
			on++;
		n++;
	}
	closedir(dir);
	qsort(ifs, n, sizeof(ifs[0]), iface_cmp);
	for (size_t i = 0; i < n; i++) {
		const struct iface *f = &ifs[i];
		bool toward = toward_if && *toward_if && strcmp(f->name, toward_if) == 0;
		enum check_status st = CHECK_NOTE;
		char what[64];

		snprintf(what, sizeof(what), "interface %.16s", f->name);
		if (!f->known) {
			check_line(r, CHECK_UNKNOWN, what, "ioam6_enabled unreadable");
			continue;
		}
		if (f->enabled) {
			check_line(r, CHECK_OK, what,
				   "IOAM on (ioam6_enabled=1), interface id %" PRIu64 "%s", f->id,
				   toward ? ", leads to the peer" : "");
			continue;
		}
		/* Off matters where traced packets arrive: on the receiving side,
		 * the interface that leads to the peer. */
		if (role == CHECK_ROLE_AGENT && toward)
			st = CHECK_PROBLEM;
		check_line(r, st, what,
			   "IOAM off (ioam6_enabled=0)%s: packets arriving here get no IOAM data; "
			   "fix: sysctl -w net.ipv6.conf.%s.ioam6_enabled=1",
			   toward ? " on the interface that leads to the peer" : "", f->name);
	}
	if (role == CHECK_ROLE_AGENT && on == 0 && n > 0) {
		char fix[512] = "";
		size_t len = 0;

		for (size_t i = 0; i < n && len < sizeof(fix); i++)
			if (ifs[i].known && strcmp(ifs[i].name, "lo") != 0)
				len += (size_t)snprintf(fix + len, sizeof(fix) - len, "%s%s",
							len ? " " : "", ifs[i].name);
		check_line(
		    r, CHECK_PROBLEM, "interfaces",
		    "IOAM is on no interface of this node: nothing it receives is traced; fix: "
		    "sysctl -w net.ipv6.conf.IFACE.ioam6_enabled=1 for each IFACE traced packets "
		    "arrive on (%s)",
		    len ? fix : "lo");
	}
}

int check_route_get(const struct in6_addr *dst, char ifname[16], struct in6_addr *gw, bool *has_gw,
		    struct in6_addr *src, bool *has_src)
{
	struct {
		struct nlmsghdr nh;
		struct rtmsg rt;
		char attrs[64];
	} req;
	union {
		struct nlmsghdr nh;
		char buf[8192];
	} resp;
	struct rtattr *rta;
	struct nlmsghdr *nh;
	ssize_t len;
	int fd, oif = 0, rc = -EIO;

	*has_gw = *has_src = false;
	ifname[0] = '\0';
	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
	req.nh.nlmsg_type = RTM_GETROUTE;
	req.nh.nlmsg_flags = NLM_F_REQUEST;
	req.nh.nlmsg_seq = 1;
	req.rt.rtm_family = AF_INET6;
	req.rt.rtm_dst_len = 128;
	rta = (struct rtattr *)((char *)&req + NLMSG_ALIGN(req.nh.nlmsg_len));
	rta->rta_type = RTA_DST;
	rta->rta_len = RTA_LENGTH(sizeof(*dst));
	memcpy(RTA_DATA(rta), dst, sizeof(*dst));
	req.nh.nlmsg_len = NLMSG_ALIGN(req.nh.nlmsg_len) + RTA_ALIGN(rta->rta_len);

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	if (send(fd, &req, req.nh.nlmsg_len, 0) < 0) {
		rc = -errno;
		goto out;
	}
	len = recv(fd, &resp, sizeof(resp), 0);
	if (len < 0) {
		rc = -errno;
		goto out;
	}
	for (nh = &resp.nh; NLMSG_OK(nh, (unsigned int)len); nh = NLMSG_NEXT(nh, len)) {
		struct rtmsg *rt;
		int alen;

		if (nh->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = NLMSG_DATA(nh);

			rc =
			    nh->nlmsg_len >= NLMSG_LENGTH(sizeof(*e)) && e->error ? e->error : -EIO;
			goto out;
		}
		if (nh->nlmsg_type != RTM_NEWROUTE)
			continue;
		rt = NLMSG_DATA(nh);
		alen = (int)RTM_PAYLOAD(nh);
		for (rta = RTM_RTA(rt); RTA_OK(rta, alen); rta = RTA_NEXT(rta, alen)) {
			size_t plen = RTA_PAYLOAD(rta);

			if (rta->rta_type == RTA_OIF && plen >= sizeof(int))
				memcpy(&oif, RTA_DATA(rta), sizeof(int));
			else if (rta->rta_type == RTA_GATEWAY && plen == sizeof(*gw)) {
				memcpy(gw, RTA_DATA(rta), sizeof(*gw));
				*has_gw = true;
			} else if (rta->rta_type == RTA_PREFSRC && plen == sizeof(*src)) {
				memcpy(src, RTA_DATA(rta), sizeof(*src));
				*has_src = true;
			}
		}
		if (rt->rtm_type != RTN_UNICAST && rt->rtm_type != RTN_LOCAL) {
			rc = -ENETUNREACH;
			goto out;
		}
		rc = oif > 0 && if_indextoname((unsigned int)oif, ifname) ? 0 : -ENODEV;
		goto out;
	}
out:
	close(fd);
	return rc;
}

int check_caps_of(pid_t pid, uint64_t *eff)
{
	char path[64], line[256];
	FILE *f;
	int rc = -ENOENT;

	if (pid > 0)
		snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	else
		snprintf(path, sizeof(path), "/proc/self/status");
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long v;

		if (sscanf(line, "CapEff: %llx", &v) == 1) {
			*eff = v;
			rc = 0;
			break;
		}
	}
	fclose(f);
	return rc;
}

const char *check_cap_names(uint64_t mask, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s%s%s", mask & CHECK_CAP_NET_ADMIN ? "CAP_NET_ADMIN" : "",
		 (mask & CHECK_CAP_NET_ADMIN) && (mask & CHECK_CAP_NET_RAW) ? " " : "",
		 mask & CHECK_CAP_NET_RAW ? "CAP_NET_RAW" : "");
	return buf;
}

/* --- the agent's own checks --------------------------------------------- */

static bool same_netns(pid_t pid, bool *known)
{
	char path[64];
	struct stat a, b;

	snprintf(path, sizeof(path), "/proc/%ld/ns/net", (long)pid);
	*known = stat(path, &a) == 0 && stat("/proc/self/ns/net", &b) == 0;
	return *known && a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

/* A cltagent process that is not a --check run. */
static bool is_agent_process(pid_t pid)
{
	char path[64], comm[64], cmd[4096];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/comm", (long)pid);
	if (read_line(path, comm, sizeof(comm)) < 0 || strcmp(comm, "cltagent") != 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true;
	n = read(fd, cmd, sizeof(cmd) - 1);
	close(fd);
	for (ssize_t i = 0; i < n;) {
		if (strcmp(cmd + i, "--check") == 0)
			return false;
		i += (ssize_t)strnlen(cmd + i, (size_t)(n - i)) + 1;
	}
	return true;
}

/*
 * The running agent: the pid in --ready-file when given (what a supervisor
 * or the unit passes), else a cltagent process in this network namespace.
 * @return its pid, 0 when none, with *how saying how it was found.
 */
static pid_t find_agent(const struct agent_config *cfg, char *how, size_t cap, unsigned int *others)
{
	struct dirent *de;
	pid_t found = 0;
	DIR *dir;

	*others = 0;
	if (cfg->ready_file) {
		char buf[32], *end;
		long pid;

		if (read_line(cfg->ready_file, buf, sizeof(buf)) < 0) {
			snprintf(how, cap, "no %.200s", cfg->ready_file);
			return 0;
		}
		pid = strtol(buf, &end, 10);
		if (end == buf || pid <= 0 || (kill((pid_t)pid, 0) < 0 && errno != EPERM)) {
			snprintf(how, cap, "%.200s names no live process", cfg->ready_file);
			return 0;
		}
		snprintf(how, cap, "from %.200s", cfg->ready_file);
		return (pid_t)pid;
	}
	dir = opendir("/proc");
	if (!dir) {
		snprintf(how, cap, "/proc unreadable");
		return 0;
	}
	while ((de = readdir(dir)) != NULL) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		bool known;

		if (*end || pid <= 0 || pid == (long)getpid() || !is_agent_process((pid_t)pid))
			continue;
		if (!same_netns((pid_t)pid, &known) && known)
			continue;
		if (found)
			(*others)++;
		else
			found = (pid_t)pid;
	}
	closedir(dir);
	snprintf(how, cap, "by process name in this network namespace");
	return found;
}

static uint64_t caps_needed(const struct agent_config *cfg, bool *tag_on)
{
	uint64_t need = 0;

	*tag_on = !(cfg->tag_socket && !*cfg->tag_socket) && strncmp(cfg->source, "pcap:", 5) != 0;
	if (strcmp(cfg->source, "netlink") == 0)
		need |= CHECK_CAP_NET_ADMIN;
	else if (strncmp(cfg->source, "capture:", 8) == 0)
		need |= CHECK_CAP_NET_RAW;
	if (*tag_on)
		need |= CHECK_CAP_NET_RAW;
	return need;
}

static void check_agent_caps(struct check_report *r, const struct agent_config *cfg, pid_t pid)
{
	char who[48], names[64], fix[160];
	bool tag_on;
	uint64_t need = caps_needed(cfg, &tag_on), eff = 0, missing;
	int rc;

	if (pid)
		snprintf(who, sizeof(who), "agent pid %ld", (long)pid);
	else
		snprintf(who, sizeof(who), "this process (no agent running)");
	rc = check_caps_of(pid, &eff);
	if (rc < 0) {
		check_line(r, CHECK_UNKNOWN, "capabilities", "%s: /proc status unreadable: %s", who,
			   strerror(-rc));
		return;
	}
	missing = need & ~eff;
	snprintf(fix, sizeof(fix),
		 "fix: run it as root, or with AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW "
		 "(cltagent.service), or setcap cap_net_admin,cap_net_raw+ep cltagent");
	if (!missing) {
		check_line(r, CHECK_OK, "capabilities", "%s has %s%s", who,
			   need ? check_cap_names(need, names, sizeof(names))
				: "what it needs (none)",
			   need ? " (all it needs)" : "");
		return;
	}
	if (missing & CHECK_CAP_NET_ADMIN)
		check_line(r, CHECK_PROBLEM, "capabilities",
			   "%s lacks CAP_NET_ADMIN: it cannot join the IOAM6 event group (--source "
			   "netlink)%s; %s",
			   who,
			   (missing & CHECK_CAP_NET_RAW)
			       ? ", nor tag for unprivileged programs (CAP_NET_RAW)"
			       : "",
			   fix);
	else
		check_line(r,
			   strncmp(cfg->source, "capture:", 8) == 0 || cfg->tag_socket
			       ? CHECK_PROBLEM
			       : CHECK_NOTE,
			   "capabilities", "%s lacks CAP_NET_RAW: %s; %s", who,
			   strncmp(cfg->source, "capture:", 8) == 0
			       ? "it cannot capture packets (--source capture:IFACE)"
			       : "its tag socket answers EPERM to unprivileged programs",
			   fix);
}

static void check_tag_socket(struct check_report *r, const struct agent_config *cfg, pid_t pid)
{
	const char *path = cfg->tag_socket ? cfg->tag_socket : CLT_TAG_DEFAULT_SOCKET;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	struct group *g;
	char grp[64];
	int fd, rc = 0;

	if (cfg->tag_socket && !*cfg->tag_socket) {
		check_line(
		    r, CHECK_NOTE, "tag socket",
		    "off (--tag-socket none): programs without CAP_NET_RAW cannot tag through "
		    "this agent");
		return;
	}
	if (strncmp(cfg->source, "pcap:", 5) == 0)
		return;
	if (stat(path, &st) < 0) {
		if (errno == ENOENT && !pid)
			check_line(r, CHECK_NOTE, "tag socket",
				   "%s not there: cltagent creates it at start", path);
		else if (errno == ENOENT)
			check_line(
			    r, cfg->tag_socket ? CHECK_PROBLEM : CHECK_NOTE, "tag socket",
			    "agent pid %ld serves no %s (its log says why: directory missing, or "
			    "another agent serves it); fix: mkdir -p %s's directory or pass "
			    "--tag-socket",
			    (long)pid, path, path);
		else
			check_line(r, CHECK_UNKNOWN, "tag socket", "%s: %s", path, strerror(errno));
		return;
	}
	if (!S_ISSOCK(st.st_mode)) {
		check_line(r, CHECK_PROBLEM, "tag socket",
			   "%s is not a socket; fix: remove it, restart cltagent", path);
		return;
	}
	g = getgrgid(st.st_gid);
	if (g)
		snprintf(grp, sizeof(grp), "%s", g->gr_name);
	else
		snprintf(grp, sizeof(grp), "%lu", (unsigned long)st.st_gid);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		rc = -errno;
	if (fd >= 0)
		close(fd);
	if (rc == 0)
		check_line(r, CHECK_OK, "tag socket",
			   "%s answers; mode %03o, group %s: %s may tag (fix for others: usermod "
			   "-aG %s USER)",
			   path, (unsigned int)(st.st_mode & 0777), grp,
			   (st.st_mode & 0002)	 ? "everyone"
			   : (st.st_mode & 0020) ? "its members and root"
						 : "its owner",
			   grp);
	else if (rc == -ECONNREFUSED)
		check_line(r, CHECK_PROBLEM, "tag socket",
			   "%s is stale: no agent listens; fix: start cltagent", path);
	else
		check_line(r, CHECK_UNKNOWN, "tag socket", "%s: cannot connect: %s", path,
			   strerror(-rc));
}

static size_t discard_body(char *p, size_t size, size_t n, void *arg)
{
	return size * n;
}

/* One OTLP/HTTP request with no spans, with the agent's export settings. */
static void check_endpoint(struct check_report *r, const struct agent_config *cfg)
{
	static const char body[] = "{\"resourceSpans\":[]}";
	struct curl_slist *hdrs = NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	long code = 0, timeout;
	CURLcode cc;
	CURL *c;

	if (cfg->output && strcmp(cfg->output, "-") != 0) {
		char dir[PATH_MAX], *slash;

		snprintf(dir, sizeof(dir), "%s", cfg->output);
		slash = strrchr(dir, '/');
		if (slash)
			*(slash == dir ? slash + 1 : slash) = '\0';
		else
			snprintf(dir, sizeof(dir), ".");
		if (access(cfg->output, W_OK) == 0 || (errno == ENOENT && access(dir, W_OK) == 0))
			check_line(r, CHECK_OK, "output", "%s writable", cfg->output);
		else
			check_line(r, CHECK_PROBLEM, "output", "%s not writable by this user: %s",
				   cfg->output, strerror(errno));
	}
	if (!cfg->endpoint) {
		if (!cfg->output)
			check_line(r, CHECK_PROBLEM, "export", "neither an endpoint nor an output");
		return;
	}
	c = curl_easy_init();
	if (!c) {
		check_line(r, CHECK_UNKNOWN, "export", "cannot initialise libcurl");
		return;
	}
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	for (size_t i = 0; i < cfg->n_headers; i++) {
		char h[8192];

		snprintf(h, sizeof(h), "%s: %s", cfg->headers[i].key, cfg->headers[i].value);
		hdrs = curl_slist_append(hdrs, h);
	}
	timeout = cfg->timeout_ms < 5000 ? (long)cfg->timeout_ms : 5000;
	curl_easy_setopt(c, CURLOPT_URL, cfg->endpoint);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)(sizeof(body) - 1));
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_USERAGENT, "cltagent/" CLT_AGENT_VERSION " (check)");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_body);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	if (cfg->cacert)
		curl_easy_setopt(c, CURLOPT_CAINFO, cfg->cacert);
	cc = curl_easy_perform(c);
	if (cc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	if (cc != CURLE_OK)
		check_line(r, CHECK_PROBLEM, "export",
			   "%s unreachable: %s; fix: start the collector, or set --endpoint / "
			   "OTEL_EXPORTER_OTLP_ENDPOINT to where it listens",
			   cfg->endpoint, errbuf[0] ? errbuf : curl_easy_strerror(cc));
	else if (code >= 200 && code < 300)
		check_line(r, CHECK_OK, "export",
			   "%s accepts OTLP/HTTP JSON (HTTP %ld to an empty request)",
			   cfg->endpoint, code);
	else
		check_line(
		    r, CHECK_PROBLEM, "export",
		    "%s answers HTTP %ld to an empty OTLP request; fix: %s", cfg->endpoint, code,
		    code == 404
			? "the traces path is usually /v1/traces (OTEL_EXPORTER_OTLP_ENDPOINT "
			  "gets it appended, --endpoint is used as is)"
		    : code == 401 || code == 403 ? "credentials: -H or OTEL_EXPORTER_OTLP_HEADERS"
		    : code == 415		 ? "the collector must accept http/json"
						 : "see the collector's log");
}

/* --metrics: a running agent answers there; otherwise the address is free to listen on. */
static void check_metrics(struct check_report *r, const struct agent_config *cfg, pid_t pid)
{
	struct sockaddr_storage ss;
	char url[128], errbuf[CURL_ERROR_SIZE] = "";
	socklen_t len;
	long code = 0;
	CURLcode cc;
	CURL *c;
	int fd, rc = 0;

	if (!cfg->metrics)
		return;
	if (metrics_parse_addr(cfg->metrics, &ss, &len) < 0) {
		check_line(r, CHECK_PROBLEM, "metrics",
			   "--metrics '%.64s': not ADDR:PORT; fix: e.g. [::1]:9464", cfg->metrics);
		return;
	}
	snprintf(url, sizeof(url), "http://%s/metrics", cfg->metrics);
	if (!pid) {
		fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) < 0)
			rc = -errno;
		if (fd >= 0)
			close(fd);
		if (rc == 0)
			check_line(r, CHECK_OK, "metrics", "%s is free: the agent can serve %s",
				   cfg->metrics, url);
		else
			check_line(r, CHECK_PROBLEM, "metrics", "cannot listen on %s: %s; fix: %s",
				   cfg->metrics, strerror(-rc),
				   rc == -EADDRINUSE ? "another port (or stop what holds it)"
						     : "an address of this host, e.g. [::1]:9464");
		return;
	}
	c = curl_easy_init();
	if (!c)
		return;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 3000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_body);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	cc = curl_easy_perform(c);
	if (cc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	if (code == 200)
		check_line(r, CHECK_OK, "metrics", "%s answers", url);
	else
		check_line(r, CHECK_NOTE, "metrics",
			   "%s %s: agent pid %ld may run without --metrics %s", url,
			   cc == CURLE_OK ? "answers with an error"
			   : errbuf[0]	  ? errbuf
					  : curl_easy_strerror(cc),
			   (long)pid, cfg->metrics);
}

static void check_source(struct check_report *r, const struct agent_config *cfg)
{
	if (strncmp(cfg->source, "capture:", 8) == 0) {
		if (if_nametoindex(cfg->source + 8))
			check_line(r, CHECK_OK, "source", "capture on %s", cfg->source + 8);
		else
			check_line(r, CHECK_PROBLEM, "source",
				   "no interface %s in this network namespace", cfg->source + 8);
	} else if (strncmp(cfg->source, "pcap:", 5) == 0) {
		if (access(cfg->source + 5, R_OK) == 0)
			check_line(r, CHECK_OK, "source", "reads %s", cfg->source + 5);
		else
			check_line(r, CHECK_PROBLEM, "source", "%s: %s", cfg->source + 5,
				   strerror(errno));
	}
}

int check_agent_run(const struct agent_config *cfg, FILE *out)
{
	struct check_report r = {.out = out};
	char how[256];
	unsigned int others;
	pid_t pid;

	check_kernel(&r, strcmp(cfg->source, "netlink") == 0);
	check_node(&r, CHECK_ROLE_AGENT, check_namespace_id(), NULL);
	check_source(&r, cfg);
	pid = find_agent(cfg, how, sizeof(how), &others);
	if (pid)
		check_line(&r, CHECK_OK, "agent", "running, pid %ld (found %s)%s", (long)pid, how,
			   others ? "; more than one cltagent in this network namespace" : "");
	else
		check_line(&r, CHECK_NOTE, "agent",
			   "none running (%s): checking with this process's rights, as the agent "
			   "would run",
			   how);
	check_agent_caps(&r, cfg, pid);
	check_tag_socket(&r, cfg, pid);
	check_endpoint(&r, cfg);
	check_metrics(&r, cfg, pid);
	fprintf(out, "result: %u problem%s, %u unknown%s\n", r.problems, r.problems == 1 ? "" : "s",
		r.unknowns, r.unknowns == 1 ? "" : "s");
	return r.problems ? 1 : 0;
}
