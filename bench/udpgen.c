/*
 * udpgen.c - make the kernel emit IOAM events at a chosen rate: UDP
 * datagrams to [::1]:PORT through a sticky IPv6 hop-by-hop IOAM option
 * (the hopopts backend's header), in a namespace where lo has IOAM
 * enabled, so that every datagram is one IOAM6_EVENT_TRACE.
 *
 *   udpgen PORT RATE SECONDS [IDS_EVERY [CPUS]]
 *
 * Sends RATE datagrams per second for SECONDS, paced against the clock in
 * batches (sendmmsg), and changes the trace-id every IDS_EVERY datagrams
 * (default 100) so the agent sees many requests. CPUS (e.g. "0,1") runs
 * one sending thread pinned to each listed CPU: the threads claim batches
 * from one shared schedule, so whichever CPU has time sends the next
 * batch. One core cannot offer much more than 190,000 events/s, because
 * the sender pays for the kernel's whole receive path on loopback: IOAM
 * trace fill and the netlink event included.
 *
 * The port is bound by a socket that is never read: datagrams are
 * dropped after IPv6 processed the option, and no ICMP error is
 * generated. Prints one line:
 *   udpgen: sent N errors E seconds S rate R threads T
 * Needs CAP_NET_RAW (IPV6_HOPOPTS).
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clt/clt.h"
#include "clt/ioam.h"

#define UDPGEN_BATCH 32
#define UDPGEN_PAYLOAD 16
#define UDPGEN_MAX_THREADS 16

struct udpgen_shared {
	struct sockaddr_in6 dst;
	unsigned long rate;
	unsigned long every;
	uint64_t t0;
	uint64_t t_end;
	atomic_ullong claimed; /* datagrams handed out to the threads */
	atomic_ullong sent;
	atomic_ullong errors;
	atomic_ullong seq; /* next IDs */
	atomic_int failed;
};

struct udpgen_thread {
	pthread_t tid;
	int cpu; /* -1: not pinned */
	struct udpgen_shared *sh;
};

static int udpgen_parse(const char *s, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	return (errno || end == s || *end || *out == 0) ? -EINVAL : 0;
}

/* "0,1,3" -> cpus[]; returns the count or -EINVAL. */
static int udpgen_parse_cpus(const char *s, int *cpus, int cap)
{
	int n = 0;

	while (*s) {
		char *end;
		unsigned long v;

		errno = 0;
		v = strtoul(s, &end, 10);
		if (errno || end == s || v >= CPU_SETSIZE || n == cap)
			return -EINVAL;
		cpus[n++] = (int)v;
		if (*end == ',')
			end++;
		else if (*end)
			return -EINVAL;
		s = end;
	}
	return n ? n : -EINVAL;
}

static uint64_t udpgen_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Attach a hop-by-hop IOAM header carrying IDs derived from @seq. */
static int udpgen_set_ids(int fd, uint64_t seq)
{
	const struct ioam_hbh_config cfg = {
		.namespace_id = CLT_DEFAULT_NAMESPACE,
		.trace_type = CLT_DEFAULT_TRACE_TYPE,
		.hops = CLT_DEFAULT_HOPS,
	};
	uint8_t trace_id[16], span_id[8], hbh[512];
	uint64_t hi = 0x4bf92f3577b34da6ULL ^ (seq * 0x9e3779b97f4a7c15ULL), lo = seq + 1;
	int len, i;

	for (i = 0; i < 8; i++) {
		trace_id[i] = (uint8_t)(hi >> (56 - 8 * i));
		trace_id[8 + i] = (uint8_t)(lo >> (56 - 8 * i));
		span_id[i] = (uint8_t)((0x00f067aa0ba902b7ULL + seq) >> (56 - 8 * i));
	}
	len = ioam_hbh_build(hbh, sizeof(hbh), &cfg, trace_id, span_id);
	if (len < 0) {
		fprintf(stderr, "udpgen: ioam_hbh_build: %s\n", strerror(-len));
		return len;
	}
	if (setsockopt(fd, IPPROTO_IPV6, IPV6_HOPOPTS, hbh, (socklen_t)len) < 0) {
		fprintf(stderr, "udpgen: setsockopt(IPV6_HOPOPTS): %s\n", strerror(errno));
		return -errno;
	}
	return 0;
}

/* Claim up to UDPGEN_BATCH datagrams that are due now; 0 when none is due
 * yet (after sleeping until the next one is), -1 when the run is over. */
static int udpgen_claim(struct udpgen_shared *sh)
{
	for (;;) {
		uint64_t now = udpgen_now_ns();
		unsigned long long due, cur;
		unsigned int n;

		if (now >= sh->t_end || atomic_load(&sh->failed))
			return -1;
		due = (unsigned long long)((double)(now - sh->t0) * (double)sh->rate / 1e9);
		cur = atomic_load(&sh->claimed);
		if (cur >= due) {
			/* Sleep until the next batch is due. */
			uint64_t wake = sh->t0 + (uint64_t)((double)(cur + UDPGEN_BATCH) * 1e9 /
							    (double)sh->rate);
			struct timespec ts = {.tv_sec = (time_t)(wake / 1000000000ULL),
					      .tv_nsec = (long)(wake % 1000000000ULL)};

			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
			return 0;
		}
		n = (due - cur) > UDPGEN_BATCH ? UDPGEN_BATCH : (unsigned int)(due - cur);
		if (atomic_compare_exchange_weak(&sh->claimed, &cur, cur + n))
			return (int)n;
	}
}

static void *udpgen_thread_main(void *arg)
{
	struct udpgen_thread *t = arg;
	struct udpgen_shared *sh = t->sh;
	struct mmsghdr msgs[UDPGEN_BATCH];
	struct iovec iov;
	char payload[UDPGEN_PAYLOAD];
	unsigned long long mine = 0, next_ids;
	int tx, i, n;

	if (t->cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(t->cpu, &set);
		if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0)
			fprintf(stderr, "udpgen: cannot pin to CPU %d\n", t->cpu);
	}
	tx = socket(AF_INET6, SOCK_DGRAM, 0);
	if (tx < 0 || connect(tx, (const struct sockaddr *)&sh->dst, sizeof(sh->dst)) < 0 ||
	    udpgen_set_ids(tx, atomic_fetch_add(&sh->seq, 1)) < 0) {
		perror("udpgen: sender socket");
		atomic_store(&sh->failed, 1);
		if (tx >= 0)
			close(tx);
		return NULL;
	}
	memset(payload, 'u', sizeof(payload));
	iov.iov_base = payload;
	iov.iov_len = sizeof(payload);
	memset(msgs, 0, sizeof(msgs));
	for (i = 0; i < UDPGEN_BATCH; i++) {
		msgs[i].msg_hdr.msg_iov = &iov;
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	next_ids = sh->every;
	while ((n = udpgen_claim(sh)) >= 0) {
		int r;

		if (n == 0)
			continue;
		r = sendmmsg(tx, msgs, (unsigned int)n, 0);
		if (r < 0) {
			atomic_fetch_add(&sh->errors, 1);
			continue;
		}
		mine += (unsigned long long)r;
		atomic_fetch_add(&sh->sent, (unsigned long long)r);
		if (mine >= next_ids) {
			if (udpgen_set_ids(tx, atomic_fetch_add(&sh->seq, 1)) < 0) {
				atomic_store(&sh->failed, 1);
				break;
			}
			next_ids += sh->every;
		}
	}
	close(tx);
	return NULL;
}

int main(int argc, char **argv)
{
	static struct udpgen_shared sh;
	struct udpgen_thread th[UDPGEN_MAX_THREADS];
	int cpus[UDPGEN_MAX_THREADS] = {-1};
	unsigned long port, rate, seconds, every = 100;
	int rx, rcvbuf = 4096, nthreads = 1, i, started = 0;
	uint64_t now;

	if (argc < 4 || argc > 6 || udpgen_parse(argv[1], &port) || port > 65535 ||
	    udpgen_parse(argv[2], &rate) || udpgen_parse(argv[3], &seconds) ||
	    (argc >= 5 && udpgen_parse(argv[4], &every)) ||
	    (argc == 6 && (nthreads = udpgen_parse_cpus(argv[5], cpus, UDPGEN_MAX_THREADS)) < 0)) {
		fprintf(stderr, "usage: udpgen PORT RATE SECONDS [IDS_EVERY [CPUS]]\n");
		return 2;
	}
	/* Short sleeps must stay short for the pacing to be smooth. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	sh.dst.sin6_family = AF_INET6;
	sh.dst.sin6_addr = in6addr_loopback;
	sh.dst.sin6_port = htons((unsigned short)port);
	sh.rate = rate;
	sh.every = every;
	rx = socket(AF_INET6, SOCK_DGRAM, 0);
	if (rx < 0) {
		perror("udpgen: socket");
		return 1;
	}
	setsockopt(rx, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (bind(rx, (struct sockaddr *)&sh.dst, sizeof(sh.dst)) < 0) {
		perror("udpgen: bind");
		return 1;
	}
	sh.t0 = udpgen_now_ns();
	sh.t_end = sh.t0 + (uint64_t)seconds * 1000000000ULL;
	for (i = 0; i < nthreads; i++) {
		th[i].cpu = cpus[i];
		th[i].sh = &sh;
		if (pthread_create(&th[i].tid, NULL, udpgen_thread_main, &th[i]) != 0) {
			fprintf(stderr, "udpgen: pthread_create failed\n");
			atomic_store(&sh.failed, 1);
			break;
		}
		started++;
	}
	for (i = 0; i < started; i++)
		pthread_join(th[i].tid, NULL);
	now = udpgen_now_ns();
	close(rx);
	if (atomic_load(&sh.failed))
		return 1;
	printf("udpgen: sent %llu errors %llu seconds %.3f rate %.0f threads %d\n",
	       (unsigned long long)atomic_load(&sh.sent),
	       (unsigned long long)atomic_load(&sh.errors), (double)(now - sh.t0) / 1e9,
	       (double)atomic_load(&sh.sent) * 1e9 / (double)(now - sh.t0), nthreads);
	return 0;
}
