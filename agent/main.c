/*
 * main.c - cltagent: wires source -> aggregate -> encode -> export and
 * runs the poll loop (signalfd for SIGTERM/SIGINT, timerfd for flush
 * ticks). No logic of its own beyond batching decisions.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "clt/tagproto.h"

#include "agg.h"
#include "agent_config.h"
#include "check.h"
#include "export.h"
#include "metrics.h"
#include "otlp.h"
#include "source.h"
#include "spans_in.h"
#include "stats.h"
#include "bpf_loader.h"
#include "tagserver.h"

#define BATCH_EVENTS 1024

struct agent {
	struct agent_config cfg;
	struct source *src;
	struct agg *agg;
	struct otlp_encoder *enc;
	struct exporter *ex;
	struct export_stats ex_final;
	struct tagserver *tag; /* NULL: not tagging for unprivileged programs */
	struct bpf_tagger *bpf; /* NULL: --bpf off */
	struct metrics *metrics; /* NULL: no --metrics */
	uint64_t untagged;
	uint64_t batch_started_ms;
	uint64_t last_ts_ns; /* newest arrival time seen (offline: packet time) */
	const char *host;    /* host.name, the agent's: also that of every shim's spans */
	struct spans_in_stats shim; /* span records from shims */
	uint64_t shim_limited;
};

/* One span batch from a shim: its own resource (the peer's claim, its pid and uid). */
struct shim_batch {
	struct agent *a;
	struct otlp_encoder *enc;
	struct otlp_kv exe;
	pid_t pid;
	uid_t uid;
	uint32_t allowed, taken, over;
};

static bool shim_span_one(void *arg, const struct shim_claim *claim, const struct shim_span *sp)
{
	struct shim_batch *x = arg;

	if (x->taken >= x->allowed) {
		x->over++;
		return true;
	}
	if (!x->enc) {
		struct otlp_config oc = {0};

		/* The claim is the sender's word; who sent it is the kernel's (SO_PEERCRED). */
		oc.service_name = claim->service[0] ? claim->service
				  : claim->exe[0]   ? claim->exe
						    : "unknown_service";
		x->exe.key = (char *)"process.executable.name";
		x->exe.value = (char *)claim->exe;
		oc.resource = &x->exe;
		oc.n_resource = claim->exe[0] ? 1 : 0;
		oc.version = CLT_AGENT_VERSION;
		oc.host_name = x->a->host;
		oc.pid = x->pid;
		oc.has_uid = true;
		oc.uid = (uint32_t)x->uid;
		x->enc = otlp_new(&oc);
		if (!x->enc)
			return false;
	}
	if (otlp_add_shim_span(x->enc, sp) > 0)
		x->taken++;
	return true;
}

static uint32_t on_shim_spans(void *arg, pid_t pid, uid_t uid, const uint8_t *body, size_t len,
			      uint32_t allowed, uint32_t *over)
{
	struct shim_batch x = {.a = arg, .pid = pid, .uid = uid, .allowed = allowed};
	size_t blen, spans;
	char *out;

	spans_in_decode(body, len, shim_span_one, &x, &x.a->shim);
	*over = x.over;
	x.a->shim_limited += x.over;
	if (x.enc) {
		out = otlp_finish(x.enc, &blen, &spans);
		/* The same queue as the network spans: one back-pressure, one drop count. */
		if (out && x.a->ex)
			export_submit(x.a->ex, out, blen, spans);
		else
			free(out);
		otlp_free(x.enc);
	}
	return x.taken;
}

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void flush_batch(struct agent *a)
{
	size_t len, spans;
	char *body = otlp_finish(a->enc, &len, &spans);

	if (body)
		export_submit(a->ex, body, len, spans);
}

static void spans_added(struct agent *a, size_t before)
{
	if (before == 0 && otlp_pending(a->enc))
		a->batch_started_ms = export_now_ms();
	if (otlp_pending(a->enc) >= a->cfg.batch_size)
		flush_batch(a);
}

static void on_request(void *arg, const struct agg_request *req, enum agg_reason why)
{
	struct agent *a = arg;
	size_t before = otlp_pending(a->enc);

	otlp_add_request(a->enc, req);
	spans_added(a, before);
}

static void on_trace(void *arg, const struct ioam_trace *t, uint64_t ts_ns)
{
	struct agent *a = arg;
	size_t before = otlp_pending(a->enc);

	if (ts_ns > a->last_ts_ns)
		a->last_ts_ns = ts_ns;
	if (!agg_trace_tagged(t)) {
		a->untagged++;
		if (!a->cfg.export_untagged)
			return;
		otlp_add_trace(a->enc, t, ts_ns);
	} else if (a->cfg.span_per_packet) {
		otlp_add_trace(a->enc, t, ts_ns);
	} else {
		agg_add(a->agg, t, ts_ns);
		return;
	}
	spans_added(a, before);
}

/* The counters of the stats lines, from the one thread that owns them. */
static void collect_stats(struct agent *a, bool final, struct metrics_values *v)
{
	struct agg_stats as;
	struct export_stats es;
	struct stats_line *s = &v->s;

	memset(v, 0, sizeof(*v));
	agg_get_stats(a->agg, &as);
	if (final)
		es = a->ex_final;
	else
		export_get_stats(a->ex, &es);
	s->events = a->src->st.events;
	s->traces = a->src->st.decoded;
	s->malformed = a->src->st.malformed;
	s->loss = a->src->st.loss;
	s->ambiguous = a->src->st.ambiguous;
	s->untagged = a->untagged;
	s->requests = as.requests;
	s->held = as.held;
	s->evicted = as.evicted;
	s->late = as.late;
	s->spans = es.spans_exported;
	s->retries = es.retries;
	s->dropped = es.spans_dropped;
	s->failed = es.spans_failed;
	v->queue_batches = final ? 0 : es.queued;
	v->queue_capacity = a->cfg.queue_size;
	if (a->tag) {
		v->tag_on = 1;
		tagserver_get_stats(a->tag, &v->tag);
	}
	if (a->bpf) {
		v->bpf_on = 1;
		bpf_tagger_counters(a->bpf, v->bpf);
	}
}

/* --metrics: a scrape shows what the next stats line would. */
static void publish_metrics(struct agent *a)
{
	struct metrics_values v;

	if (!a->metrics)
		return;
	collect_stats(a, false, &v);
	metrics_publish(a->metrics, &v);
}

static void print_stats(struct agent *a, bool final)
{
	struct metrics_values v;
	char line[512];

	collect_stats(a, final, &v);
	metrics_publish(a->metrics, &v);
	stats_format(line, sizeof(line), &v.s);
	fprintf(stderr, "cltagent: %s%s\n", line, final ? " (exit)" : "");
	if (v.tag_on) {
		tagserver_format_stats(line, sizeof(line), &v.tag);
		fprintf(stderr, "cltagent: %s%s\n", line, final ? " (exit)" : "");
		fprintf(stderr, "cltagent: shim spans records=%llu rejected=%llu limited=%llu%s\n",
			(unsigned long long)a->shim.records, (unsigned long long)a->shim.rejected,
			(unsigned long long)a->shim_limited, final ? " (exit)" : "");
	}
	if (v.bpf_on) {
		fprintf(stderr, "cltagent: bpf tagged=%llu skipped=%llu failed=%llu%s\n",
			(unsigned long long)v.bpf[0], (unsigned long long)v.bpf[1],
			(unsigned long long)v.bpf[2], final ? " (exit)" : "");
	}
}

/* --bpf: load and attach the tc egress program (before the tag socket,
 * which hands out its arrays). */
static int bpf_start(struct agent *a)
{
	struct bpf_tagger_config bc = {.ifaces = a->cfg.bpf_ifaces, .verbose = a->cfg.verbose};
	const char *why = "";
	int rc;

	if (!a->cfg.bpf)
		return 0;
	if (a->cfg.tag_socket && !*a->cfg.tag_socket) {
		fprintf(stderr, "cltagent: --bpf needs the tag socket (not --tag-socket none)\n");
		return -EINVAL;
	}
	rc = bpf_tagger_open(&a->bpf, &bc, &why);
	if (rc < 0) {
		fprintf(stderr, "cltagent: --bpf: %s: %s\n", why, strerror(-rc));
		return rc;
	}
	if (a->cfg.verbose)
		fprintf(stderr, "cltagent: bpf tagging on, %u interface(s), %s\n",
			bpf_tagger_n_ifaces(a->bpf),
			bpf_tagger_room(a->bpf) ? "room reserved on each socket"
						: "no CAP_NET_RAW: the program makes room per packet");
	return 0;
}

/* The tag server, unless disabled or reading a file. The default path
 * is best effort (another agent may serve it); an explicit one must work. */
static int tag_start(struct agent *a)
{
	struct tagserver_config tc = {0};
	const char *path = a->cfg.tag_socket;
	int rc;

	if ((path && !*path) || strncmp(a->cfg.source, "pcap:", 5) == 0)
		return 0;
	tc.quiet = path == NULL;
	tc.path = path ? path : CLT_TAG_DEFAULT_SOCKET;
	if (tc.quiet && mkdir(CLT_TAG_DEFAULT_DIR, 0755) < 0 && errno != EEXIST)
		return 0;
	if (a->cfg.tag_group) {
		if (tagserver_parse_group(a->cfg.tag_group, &tc.gid) < 0) {
			fprintf(stderr, "cltagent: --tag-group: no group '%.64s'\n", a->cfg.tag_group);
			return -EINVAL;
		}
		tc.set_gid = true;
	}
	if (a->cfg.tag_allow && tagserver_parse_uids(a->cfg.tag_allow, &tc) < 0) {
		fprintf(stderr, "cltagent: --tag-allow-uid: bad user list '%.64s'\n", a->cfg.tag_allow);
		return -EINVAL;
	}
	tc.rate = a->cfg.tag_rate;
	tc.burst = a->cfg.tag_rate ? (a->cfg.tag_rate + 3) / 4 : 0;
	tc.max_conns = a->cfg.tag_max_conns;
	tc.verbose = a->cfg.verbose;
	tc.bpf = a->bpf;
	tc.span_rate = a->cfg.span_rate;
	tc.on_spans = on_shim_spans;
	tc.spans_arg = a;
	rc = tagserver_open(&a->tag, &tc);
	if (rc < 0 && !tc.quiet) {
		fprintf(stderr, "cltagent: --tag-socket %s: %s\n", tc.path,
			rc == -EADDRINUSE ? "another agent serves it" : strerror(-rc));
		return rc;
	}
	/* Another agent on the default path is normal (one per host): say so only when asked. */
	if ((rc < 0 && rc != -EADDRINUSE) || a->cfg.verbose)
		fprintf(stderr, "cltagent: tagging for unprivileged programs %s %s%s%s\n",
			rc < 0 ? "off: cannot serve" : "on", tc.path, rc < 0 ? ": " : "",
			rc == -EADDRINUSE ? "another agent serves it" : rc < 0 ? strerror(-rc) : "");
	return 0;
}

/*
 * --ready-file: written under a temporary name and renamed, so whoever sees
 * the file (a test, a supervisor) sees it whole. Created only after every
 * startup step that can fail or that a client depends on: the source is
 * open (for netlink: the event group joined), the tag socket listens.
 */
static int ready_file_create(const char *path)
{
	char tmp[PATH_MAX], pid[32];
	int fd, n, len, rc = 0;

	len = snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
	if (len < 0 || (size_t)len >= sizeof(tmp))
		return -ENAMETOOLONG;
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, pid, (size_t)n) != n)
		rc = errno ? -errno : -EIO;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp);
	return rc;
}

/* Periodic work: expire requests, send a batch that waited long enough. */
static void tick(struct agent *a)
{
	if (!a->src->offline)
		agg_expire(a->agg, realtime_ns());
	if (a->tag)
		tagserver_tick(a->tag, export_now_ms());
	if (a->bpf)
		bpf_tagger_tick(a->bpf);
	if (otlp_pending(a->enc) && export_now_ms() - a->batch_started_ms >= a->cfg.batch_ms)
		flush_batch(a);
	publish_metrics(a);
}

/* Block before any thread starts, so that only the signalfd sees them. */
static void block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static int setup_fds(int *sfd, int *tfd, uint32_t period_ms, const sigset_t *set)
{
	struct itimerspec its = {0};

	*sfd = signalfd(-1, set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (*sfd < 0)
		return -errno;
	*tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (*tfd < 0)
		return -errno;
	its.it_interval.tv_sec = period_ms / 1000;
	its.it_interval.tv_nsec = (long)(period_ms % 1000) * 1000000L;
	its.it_value = its.it_interval;
	if (timerfd_settime(*tfd, 0, &its, NULL) < 0)
		return -errno;
	return 0;
}

static bool got_signal(int sfd)
{
	struct signalfd_siginfo si;

	return read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si);
}

/* On SIGTERM, what the kernel has already queued on the source belongs to
 * requests that are about to be flushed: read it first, within a bound, so
 * stopping the agent loses no event it was already given. */
static void drain_source(struct agent *a)
{
	uint64_t deadline = export_now_ms() + 1000;

	for (unsigned int round = 0; round < 1024 && export_now_ms() < deadline; round++) {
		if (source_next(a->src, on_trace, a, BATCH_EVENTS) <= 0)
			break;
	}
}

static int run(struct agent *a, int sfd, int tfd)
{
	uint64_t next_stats = a->cfg.stats_interval_s ? export_now_ms() + a->cfg.stats_interval_s * 1000ull : 0;
	struct pollfd pfd[4];
	int rc = 0;

	for (;;) {
		int nfd = 0, n;

		if (a->src->offline) {
			n = source_next(a->src, on_trace, a, BATCH_EVENTS);
			if (n == -ENODATA)
				break;
			if (n < 0) {
				rc = n;
				break;
			}
			/* File time drives aggregation; the wall clock only batching. */
			agg_expire(a->agg, a->last_ts_ns);
			if (got_signal(sfd))
				break;
			pfd[0] = (struct pollfd){.fd = tfd, .events = POLLIN};
			if (poll(pfd, 1, 0) > 0) {
				uint64_t ticks;

				if (read(tfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
					break;
				tick(a);
			}
		} else {
			pfd[nfd++] = (struct pollfd){.fd = sfd, .events = POLLIN};
			pfd[nfd++] = (struct pollfd){.fd = tfd, .events = POLLIN};
			pfd[nfd++] = (struct pollfd){.fd = source_fd(a->src), .events = POLLIN};
			if (a->tag)
				pfd[nfd++] = (struct pollfd){.fd = tagserver_fd(a->tag), .events = POLLIN};
			n = poll(pfd, (nfds_t)nfd, -1);
			if (n < 0 && errno != EINTR) {
				rc = -errno;
				break;
			}
			if (n <= 0)
				continue;
			if ((pfd[0].revents & POLLIN) && got_signal(sfd))
				break;
			if (pfd[2].revents & (POLLIN | POLLERR)) {
				n = source_next(a->src, on_trace, a, BATCH_EVENTS);
				if (n < 0) {
					fprintf(stderr, "cltagent: source: %s\n", strerror(-n));
					rc = n;
					break;
				}
			}
			/* Bounded work per round on each side: neither starves the other. */
			if (a->tag && (pfd[3].revents & POLLIN))
				tagserver_process(a->tag, export_now_ms());
			if (pfd[1].revents & POLLIN) {
				uint64_t ticks;

				if (read(tfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
					continue;
				tick(a);
			}
		}
		if (next_stats && export_now_ms() >= next_stats) {
			print_stats(a, false);
			next_stats += a->cfg.stats_interval_s * 1000ull;
		}
	}
	return rc;
}

int main(int argc, char **argv)
{
	struct agent a = {0};
	struct agg_config ac;
	struct otlp_config oc = {0};
	struct export_config ec = {0};
	struct source_options so = {0};
	char host[256] = "";
	uint32_t period;
	int sfd = -1, tfd = -1, rc;
	int status = 1;
	bool ready_created = false;
	sigset_t sigs;

	block_signals(&sigs);
	rc = agent_config_load(&a.cfg, argc, argv);
	if (rc == CONFIG_EXIT_OK) {
		agent_config_free(&a.cfg);
		return 0;
	}
	if (rc < 0) {
		agent_config_free(&a.cfg);
		return 2;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "cltagent: cannot initialise libcurl\n");
		goto out;
	}
	if (a.cfg.check) {
		status = check_agent_run(&a.cfg, stdout);
		goto out;
	}
	ac.max_requests = a.cfg.max_requests;
	ac.idle_ns = (uint64_t)a.cfg.idle_ms * 1000000ull;
	ac.max_age_ns = (uint64_t)a.cfg.max_age_ms * 1000000ull;
	ac.frac_unit_ns = a.cfg.frac_unit_ns;
	ac.late_window_ns = (uint64_t)a.cfg.late_window_ms * 1000000ull;
	ac.late_max = a.cfg.late_max;
	a.agg = agg_new(&ac, on_request, &a);
	oc.service_name = a.cfg.service_name;
	oc.resource = a.cfg.resource;
	oc.n_resource = a.cfg.n_resource;
	oc.names = a.cfg.names;
	oc.n_names = a.cfg.n_names;
	oc.frac_unit_ns = a.cfg.frac_unit_ns;
	oc.version = CLT_AGENT_VERSION;
	oc.service_version = CLT_AGENT_VERSION;
	if (gethostname(host, sizeof(host) - 1) == 0)
		oc.host_name = host;
	a.host = oc.host_name;
	oc.pid = getpid();
	a.enc = otlp_new(&oc);
	if (!a.agg || !a.enc) {
		fprintf(stderr, "cltagent: out of memory\n");
		goto out;
	}
	/* Before any thread starts: the socket is created under a temporary umask. */
	if (bpf_start(&a) < 0 || tag_start(&a) < 0)
		goto out;
	so.layout = a.cfg.layout;
	so.rcvbuf = a.cfg.rcvbuf;
	so.verbose = a.cfg.verbose;
	if (source_open(&a.src, a.cfg.source, &so) < 0)
		goto out;
	ec.endpoint = a.cfg.endpoint;
	ec.output = a.cfg.output;
	ec.headers = a.cfg.headers;
	ec.n_headers = a.cfg.n_headers;
	ec.cacert = a.cfg.cacert;
	ec.gzip = a.cfg.gzip;
	ec.timeout_ms = a.cfg.timeout_ms;
	ec.queue_size = a.cfg.queue_size;
	ec.retry_max_ms = a.cfg.retry_max_ms;
	ec.verbose = a.cfg.verbose;
	if (export_start(&a.ex, &ec) < 0)
		goto out;
	if (a.cfg.metrics && metrics_start(&a.metrics, a.cfg.metrics, a.cfg.verbose) < 0)
		goto out;
	publish_metrics(&a);
	/* Tick fast enough for both the idle timeout and the batch timeout. */
	period = a.cfg.idle_ms < a.cfg.batch_ms ? a.cfg.idle_ms : a.cfg.batch_ms;
	period = period / 4;
	period = period < 10 ? 10 : period > 250 ? 250 : period;
	rc = setup_fds(&sfd, &tfd, period, &sigs);
	if (rc < 0) {
		fprintf(stderr, "cltagent: %s\n", strerror(-rc));
		goto out;
	}
	if (a.cfg.verbose)
		fprintf(stderr, "cltagent: source %s, exporting to %s%s%s\n", a.cfg.source,
			a.cfg.endpoint ? a.cfg.endpoint : "", a.cfg.endpoint && a.cfg.output ? " and " : "",
			a.cfg.output ? a.cfg.output : "");
	if (a.cfg.ready_file) {
		rc = ready_file_create(a.cfg.ready_file);
		if (rc < 0) {
			fprintf(stderr, "cltagent: --ready-file %.200s: %s\n", a.cfg.ready_file, strerror(-rc));
			goto out;
		}
		ready_created = true;
	}
	if (a.cfg.verbose)
		fprintf(stderr, "cltagent: ready (source %s, tag socket %s)\n", a.cfg.source,
			a.tag ? (a.cfg.tag_socket ? a.cfg.tag_socket : CLT_TAG_DEFAULT_SOCKET) : "off");
	rc = run(&a, sfd, tfd);
	if (rc == 0 && !a.src->offline)
		drain_source(&a);
	/* Shutdown: everything held becomes spans, then the exporter gets a bounded time. */
	agg_flush(a.agg);
	flush_batch(&a);
	export_stop(a.ex, export_now_ms() + a.cfg.shutdown_ms, &a.ex_final);
	a.ex = NULL;
	print_stats(&a, true);
	status = rc < 0 ? 1 : 0;
out:
	if (ready_created)
		unlink(a.cfg.ready_file);
	if (a.ex)
		export_stop(a.ex, export_now_ms(), NULL);
	metrics_stop(a.metrics);
	if (sfd >= 0)
		close(sfd);
	if (tfd >= 0)
		close(tfd);
	tagserver_close(a.tag);
	bpf_tagger_close(a.bpf);
	source_close(a.src);
	otlp_free(a.enc);
	agg_free(a.agg);
	agent_config_free(&a.cfg);
	curl_global_cleanup();
	return status;
}
