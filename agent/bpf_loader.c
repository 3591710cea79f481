/*
 * bpf_loader.c - load and attach the tc egress tagging program, and keep
 * the per-process slot arrays it reads (see bpf_loader.h, bpfslot.h).
 *
 * The program object is built into cltagent (bpf/bpf.mk embeds it), so the
 * agent needs no file at run time. libbpf, the kernel's own loader
 * library, opens it from memory and creates its maps; Debian 12's libbpf
 * (1.1) has no tcx API, so the program goes on a clsact qdisc's egress
 * hook, as a filter with a fixed handle and priority: a filter a killed
 * agent left behind is replaced, never doubled.
 */
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf_loader.h"
#include "clt/bpfslot.h"
#include "clt/clt.h"
#include "clt/ioam.h"

/* The embedded object (bpf/clt_egress_obj.S). */
extern const unsigned char clt_egress_obj[];
extern const unsigned char clt_egress_obj_end[];

#define BT_MAX_IFACES 64
#define BT_TC_HANDLE 0xc17 /* "clt": the one filter of ours per interface */
#define BT_TC_PRIO 0xc17

struct bpf_tagger {
	struct bpf_object *obj;
	int prog_fd, procs_fd, socks_fd, config_fd, counters_fd;
	int ifindex[BT_MAX_IFACES];
	unsigned int n_ifaces;
	uid_t owner[CLT_BPF_PROCS];
	unsigned char used[CLT_BPF_PROCS];
	int verbose;
	int room;     /* sockets get the room (CAP_NET_RAW, checked at start) */
	int room_len; /* = config.hbh_len */
	uint8_t room_hdr[CLT_BPF_HBH_MAX];
	struct clt_bpf_config config; /* as written to the program's map */
};

static int bt_silent(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
	return 0;
}

static int bt_verbose(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static unsigned long env_or(const char *name, unsigned long set, unsigned long def)
{
	const char *s = getenv(name);
	char *end = NULL;
	unsigned long v;

	if (set)
		return set;
	if (s == NULL || *s == '\0')
		return def;
	errno = 0;
	v = strtoul(s, &end, 0);
	return errno == 0 && *end == '\0' ? v : def;
}

/* CLOCK_REALTIME - CLOCK_BOOTTIME: the program has only the latter. The
 * smallest of three brackets, for a value good to a microsecond. */
static int64_t bt_realtime_off(void)
{
	int64_t best = 0, best_w = INT64_MAX;

	for (int i = 0; i < 3; i++) {
		struct timespec b1, r, b2;
		int64_t w, mid;

		clock_gettime(CLOCK_BOOTTIME, &b1);
		clock_gettime(CLOCK_REALTIME, &r);
		clock_gettime(CLOCK_BOOTTIME, &b2);
		w = (b2.tv_sec - b1.tv_sec) * 1000000000ll + (b2.tv_nsec - b1.tv_nsec);
		mid = b1.tv_sec * 1000000000ll + b1.tv_nsec + w / 2;
		if (w < best_w) {
			best_w = w;
			best = r.tv_sec * 1000000000ll + r.tv_nsec - mid;
		}
	}
	/* Rounded to the microsecond: no change is seen from jitter alone. */
	return best / 1000 * 1000;
}

/* The room for the header (bpfslot.h, CLT_BPF_ROOM_OPT): a destination
 * options header of @len octets filled with options a receiver skips
 * (not PadN: Linux drops a packet with more than 7 octets of padding). */
static void bt_build_room(uint8_t *h, int len)
{
	int at = 2, rest;

	memset(h, 0, (size_t)len);
	h[1] = (uint8_t)(len / 8 - 1); /* h[0], the next header, is the kernel's */
	while ((rest = len - at) >= 2) {
		int d = rest - 2 > 255 ? 255 : rest - 2;

		if (rest - 2 - d == 1)
			d--; /* leave two octets for one more option */
		h[at] = CLT_BPF_ROOM_OPT;
		h[at + 1] = (uint8_t)d;
		at += 2 + d;
	}
	/* len is a multiple of 8 and at least 8: nothing is left over */
}

/* Whether this agent may set the room on its clients' sockets: setting
 * IPV6_DSTOPTS takes CAP_NET_RAW (of the caller, here the agent). */
static int bt_room_allowed(const struct bpf_tagger *bt)
{
	int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0), ok;

	if (fd < 0)
		return 0;
	ok = setsockopt(fd, IPPROTO_IPV6, IPV6_DSTOPTS, bt->room_hdr, (socklen_t)bt->room_len) == 0;
	close(fd);
	return ok;
}

/* The header the hopopts backend would set (CLT trailer v2), zero IDs. */
static int bt_configure(struct bpf_tagger *bt, const struct bpf_tagger_config *cfg,
			const char **why)
{
	static const uint8_t zero[16];
	struct ioam_hbh_config hbh = {
		.namespace_id = (uint16_t)env_or("CLT_NAMESPACE", cfg->namespace_id,
						 CLT_DEFAULT_NAMESPACE),
		.trace_type = (uint32_t)env_or("CLT_TRACE_TYPE", cfg->trace_type,
					       CLT_DEFAULT_TRACE_TYPE),
		.hops = (unsigned int)env_or("CLT_HOPS", cfg->hops, CLT_DEFAULT_HOPS),
		.trailer_version = 2,
	};
	struct clt_bpf_config c;
	uint32_t key = 0;
	int len;

	memset(&c, 0, sizeof(c));
	if (ioam_hbh_check(&hbh, why) < 0)
		return -EINVAL;
	len = ioam_hbh_build(c.hbh, sizeof(c.hbh), &hbh, zero, zero);
	if (len < 0) {
		*why = "cannot build the IOAM header";
		return len;
	}
	c.hbh_len = (uint32_t)len;
	c.trailer_off = 16 + (uint32_t)ioam_node_data_len(hbh.trace_type) * hbh.hops;
	if (c.trailer_off + CLT_TRAILER_V2_LEN > c.hbh_len ||
	    memcmp(c.hbh + c.trailer_off + 36, clt_trailer_magic_v2, 4) != 0) {
		*why = "unexpected IOAM header layout";
		return -EINVAL;
	}
	c.realtime_off_ns = bt_realtime_off();
	bt->config = c;
	bt->room_len = len;
	bt_build_room(bt->room_hdr, len);
	bt->room = bt_room_allowed(bt);
	if (bpf_map_update_elem(bt->config_fd, &key, &c, BPF_ANY) != 0) {
		*why = "cannot write the program's configuration";
		return -errno;
	}
	return 0;
}

void bpf_tagger_tick(struct bpf_tagger *bt)
{
	uint32_t key = 0;
	int64_t off = bt_realtime_off();

	/* The realtime clock was set or slewed: the program's egress times follow. */
	if (off != bt->config.realtime_off_ns) {
		bt->config.realtime_off_ns = off;
		bpf_map_update_elem(bt->config_fd, &key, &bt->config, BPF_ANY);
	}
}

static int bt_add_ifindex(struct bpf_tagger *bt, int ifindex)
{
	for (unsigned int i = 0; i < bt->n_ifaces; i++) {
		if (bt->ifindex[i] == ifindex)
			return 0;
	}
	if (bt->n_ifaces >= BT_MAX_IFACES)
		return -E2BIG;
	bt->ifindex[bt->n_ifaces++] = ifindex;
	return 0;
}

/* Named interfaces, or every up interface with an IPv6 address (lo too). */
static int bt_pick_ifaces(struct bpf_tagger *bt, const char *list, const char **why)
{
	struct ifaddrs *ifa, *p;
	char name[IF_NAMESIZE];

	if (list != NULL && *list != '\0') {
		while (*list) {
			const char *comma = strchr(list, ',');
			size_t len = comma ? (size_t)(comma - list) : strlen(list);
			unsigned int idx;

			if (len == 0 || len >= sizeof(name)) {
				*why = "--bpf-ifaces: bad interface name";
				return -EINVAL;
			}
			memcpy(name, list, len);
			name[len] = '\0';
			idx = if_nametoindex(name);
			if (idx == 0) {
				*why = "--bpf-ifaces: no such interface";
				return -ENODEV;
			}
			if (bt_add_ifindex(bt, (int)idx) < 0) {
				*why = "--bpf-ifaces: too many interfaces";
				return -E2BIG;
			}
			list = comma ? comma + 1 : list + len;
		}
		return 0;
	}
	if (getifaddrs(&ifa) != 0) {
		*why = "cannot list interfaces";
		return -errno;
	}
	for (p = ifa; p != NULL; p = p->ifa_next) {
		unsigned int idx;

		if (p->ifa_addr == NULL || p->ifa_addr->sa_family != AF_INET6 ||
		    !(p->ifa_flags & IFF_UP))
			continue;
		idx = if_nametoindex(p->ifa_name);
		if (idx != 0)
			bt_add_ifindex(bt, (int)idx);
	}
	freeifaddrs(ifa);
	if (bt->n_ifaces == 0) {
		*why = "no up interface with IPv6";
		return -ENODEV;
	}
	return 0;
}

static int bt_attach(struct bpf_tagger *bt, int ifindex)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = BT_TC_HANDLE, .priority = BT_TC_PRIO,
		    .prog_fd = bt->prog_fd, .flags = BPF_TC_F_REPLACE);
	int rc;

	rc = bpf_tc_hook_create(&hook);
	if (rc < 0 && rc != -EEXIST)
		return rc;
	return bpf_tc_attach(&hook, &opts);
}

static void bt_detach(int ifindex)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = BT_TC_HANDLE, .priority = BT_TC_PRIO);

	bpf_tc_detach(&hook, &opts);
}

static int bt_map_fd(struct bpf_tagger *bt, const char *name)
{
	struct bpf_map *m = bpf_object__find_map_by_name(bt->obj, name);

	return m ? bpf_map__fd(m) : -1;
}

int bpf_tagger_open(struct bpf_tagger **out, const struct bpf_tagger_config *cfg, const char **why)
{
	struct bpf_tagger *bt;
	struct bpf_program *prog;
	int rc;

	*out = NULL;
	*why = "";
	bt = calloc(1, sizeof(*bt));
	if (bt == NULL)
		return -ENOMEM;
	bt->verbose = cfg->verbose;
	libbpf_set_print(cfg->verbose > 1 ? bt_verbose : bt_silent);
	rc = bt_pick_ifaces(bt, cfg->ifaces, why);
	if (rc < 0)
		goto fail;
	bt->obj = bpf_object__open_mem(clt_egress_obj, (size_t)(clt_egress_obj_end - clt_egress_obj),
				       NULL);
	if (bt->obj == NULL) {
		rc = -errno;
		*why = "cannot open the embedded program";
		goto fail;
	}
	rc = bpf_object__load(bt->obj);
	if (rc < 0) {
		*why = "cannot load the program (needs CAP_BPF, CAP_NET_ADMIN)";
		goto fail;
	}
	prog = bpf_object__find_program_by_name(bt->obj, "clt_egress");
	bt->prog_fd = prog ? bpf_program__fd(prog) : -1;
	bt->procs_fd = bt_map_fd(bt, "clt_procs");
	bt->socks_fd = bt_map_fd(bt, "clt_socks");
	bt->config_fd = bt_map_fd(bt, "clt_config");
	bt->counters_fd = bt_map_fd(bt, "clt_counters");
	if (bt->prog_fd < 0 || bt->procs_fd < 0 || bt->socks_fd < 0 || bt->config_fd < 0 ||
	    bt->counters_fd < 0) {
		rc = -ENOENT;
		*why = "the program object lacks a map";
		goto fail;
	}
	rc = bt_configure(bt, cfg, why);
	if (rc < 0)
		goto fail;
	for (unsigned int i = 0; i < bt->n_ifaces; i++) {
		rc = bt_attach(bt, bt->ifindex[i]);
		if (rc < 0) {
			*why = "cannot attach to an interface's clsact egress (needs CAP_NET_ADMIN)";
			bt->n_ifaces = i;
			goto fail;
		}
	}
	*out = bt;
	return 0;
fail:
	bpf_tagger_close(bt);
	return rc < 0 ? rc : -EINVAL;
}

void bpf_tagger_close(struct bpf_tagger *bt)
{
	if (bt == NULL)
		return;
	for (unsigned int i = 0; i < bt->n_ifaces; i++)
		bt_detach(bt->ifindex[i]);
	bpf_object__close(bt->obj);
	free(bt);
}

int bpf_tagger_new_array(struct bpf_tagger *bt, uid_t uid, uint32_t *proc, int *fd)
{
	LIBBPF_OPTS(bpf_map_create_opts, mo, .map_flags = BPF_F_MMAPABLE);
	uint32_t i;
	int mfd;

	for (i = 0; i < CLT_BPF_PROCS && bt->used[i]; i++)
		;
	if (i == CLT_BPF_PROCS)
		return -ENOSPC;
	mfd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "clt_slots", sizeof(uint32_t),
			     sizeof(struct clt_bpf_slot), CLT_BPF_SLOTS, &mo);
	if (mfd < 0)
		return -errno;
	if (bpf_map_update_elem(bt->procs_fd, &i, &mfd, BPF_ANY) != 0) {
		int err = -errno;

		close(mfd);
		return err;
	}
	bt->used[i] = 1;
	bt->owner[i] = uid;
	*proc = i;
	*fd = mfd;
	return 0;
}

void bpf_tagger_release(struct bpf_tagger *bt, uint32_t proc)
{
	if (proc >= CLT_BPF_PROCS || !bt->used[proc])
		return;
	bpf_map_delete_elem(bt->procs_fd, &proc);
	bt->used[proc] = 0;
}

/* The socket's room, unless it has destination options already (its
 * application's: left alone, the program then makes room itself; or ours,
 * from a registration before). Best effort: without it the program makes
 * room per packet. */
static void bt_give_room(struct bpf_tagger *bt, int sockfd)
{
	uint8_t cur[CLT_BPF_HBH_MAX];
	socklen_t len = sizeof(cur);

	if (getsockopt(sockfd, IPPROTO_IPV6, IPV6_DSTOPTS, cur, &len) == 0 && len > 0)
		return;
	setsockopt(sockfd, IPPROTO_IPV6, IPV6_DSTOPTS, bt->room_hdr, (socklen_t)bt->room_len);
}

int bpf_tagger_register(struct bpf_tagger *bt, uint32_t proc, uint32_t slot, uint32_t gen,
			int sockfd)
{
	struct clt_bpf_sock v = {.proc = proc, .slot = slot, .gen = gen};

	if (proc >= CLT_BPF_PROCS || !bt->used[proc] || slot >= CLT_BPF_SLOTS || gen == 0)
		return -EINVAL;
	v.uid = bt->owner[proc];
	if (bpf_map_update_elem(bt->socks_fd, &sockfd, &v, BPF_ANY) != 0)
		return -errno;
	if (bt->room)
		bt_give_room(bt, sockfd);
	return 0;
}

int bpf_tagger_room(const struct bpf_tagger *bt)
{
	return bt->room;
}

void bpf_tagger_counters(const struct bpf_tagger *bt, uint64_t out[3])
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *vals = ncpu > 0 ? calloc((size_t)ncpu, sizeof(*vals)) : NULL;

	for (uint32_t k = 0; k < CLT_BPF_NCOUNTERS; k++) {
		out[k] = 0;
		if (vals == NULL || bpf_map_lookup_elem(bt->counters_fd, &k, vals) != 0)
			continue;
		for (int c = 0; c < ncpu; c++)
			out[k] += vals[c];
	}
	free(vals);
}

unsigned int bpf_tagger_n_ifaces(const struct bpf_tagger *bt)
{
	return bt->n_ifaces;
}
