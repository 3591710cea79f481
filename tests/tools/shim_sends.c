/*
 * shim_sends.c - a program for the shim's integration tests to run under
 * libcltshim.so (tests/integration/shim_sends.sh, shim_locks.sh,
 * shim_fork.sh). Every connection goes to a listener of its own on [::1],
 * drained by a thread, so the kernel's IOAM events on lo show the IDs.
 *
 *   shim_sends variants      each send variant (write, send, sendto, writev, sendmsg,
 *                            sendmmsg, sendfile) writes a large request on a
 *                            non-blocking socket with a small send buffer (partial
 *                            writes), then a second request; with hopopts, the
 *                            socket's option is read back after every piece
 *   shim_sends lock PID      PID is cltagent (agent backend): it is stopped while
 *                            thread A changes its socket's IDs; meanwhile B sends on
 *                            another tracked socket, closes a third and forks; all
 *                            must complete while A is still waiting for the agent
 *   shim_sends fork          a tagged request, fork, the child's first request on a
 *                            new connection; the child must hold no descriptor of
 *                            the parent's agent connection (/proc/self/fd)
 *   shim_sends forklock      fork while a thread sends megabytes of pipelined
 *                            requests per write on a tracked socket (its lock held
 *                            most of the time); the child sends on that socket and
 *                            must find its IDs set (hopopts); 20 rounds
 *
 * Lines "ok   - ..." / "FAIL - ..."; "ids NAME TRACE SPAN" for the script's
 * event checks. Exit 0 when every check passed.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define BODY_LEN 600000

static int fails;
static struct sockaddr_in6 srv;

static void check(const char *what, int ok)
{
	printf("%s - %s\n", ok ? "ok  " : "FAIL", what);
	fflush(stdout);
	if (!ok)
		fails++;
}

static void *drain(void *arg)
{
	char buf[65536];
	int fd = (int)(long)arg;

	while (read(fd, buf, sizeof(buf)) > 0)
		;
	return NULL;
}

static void *acceptor(void *arg)
{
	int l = (int)(long)arg;

	for (;;) {
		pthread_t th;
		int c = accept(l, NULL, NULL);

		if (c < 0)
			return NULL;
		pthread_create(&th, NULL, drain, (void *)(long)c);
		pthread_detach(th);
	}
}

static int listen_here(void)
{
	socklen_t alen = sizeof(srv);
	pthread_t th;
	int l;

	memset(&srv, 0, sizeof(srv));
	srv.sin6_family = AF_INET6;
	srv.sin6_addr = in6addr_loopback;
	l = socket(AF_INET6, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&srv, sizeof(srv)) < 0 || listen(l, 64) < 0 ||
	    getsockname(l, (struct sockaddr *)&srv, &alen) < 0)
		return -1;
	pthread_create(&th, NULL, acceptor, (void *)(long)l);
	pthread_detach(th);
	return l;
}

static int conn(int sndbuf)
{
	int c = socket(AF_INET6, SOCK_STREAM, 0);

	if (c < 0)
		return -1;
	if (sndbuf > 0)
		setsockopt(c, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	if (connect(c, (struct sockaddr *)&srv, sizeof(srv)) < 0) {
		close(c);
		return -1;
	}
	return c;
}

static void ids(char *trace, char *span, int kind, int n)
{
	snprintf(trace, 33, "5eadc0de%02x%022x", kind, n + 1);
	snprintf(span, 17, "5ba%02x%011x", kind, n + 1);
}

static int get_req(char *out, size_t cap, const char *trace, const char *span)
{
	return snprintf(out, cap, "GET /x HTTP/1.1\r\nHost: a\r\ntraceparent: 00-%s-%s-01\r\n\r\n",
			trace, span);
}

static int write_full(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void unhex(const char *s, unsigned char *out, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned int v;

		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			abort();
		out[i] = (unsigned char)v;
	}
}

/* Does the socket's hop-by-hop option carry exactly these IDs (hopopts backend)? */
static int carries(int fd, const char *trace, const char *span)
{
	unsigned char buf[512], want[24];
	socklen_t len = sizeof(buf);

	unhex(trace, want, 16);
	unhex(span, want + 16, 8);
	if (getsockopt(fd, IPPROTO_IPV6, IPV6_HOPOPTS, buf, &len) != 0 || len < sizeof(want))
		return 0;
	return memmem(buf, len, want, sizeof(want)) != NULL;
}

/* ---- variants ---- */

enum variant { V_WRITE, V_SEND, V_SENDTO, V_WRITEV, V_SENDMSG, V_SENDMMSG, V_SENDFILE, V_COUNT };
static const char *const vnames[] = { "write", "send", "sendto", "writev", "sendmsg", "sendmmsg",
				      "sendfile" };

/* One call of variant @v on the bytes [@p, @p + @n) (sendfile: file offset @off). */
static ssize_t send_once(enum variant v, int fd, const char *p, size_t n, int file, off_t *off)
{
	struct iovec iov[2] = { { (void *)p, n / 2 }, { (void *)(p + n / 2), n - n / 2 } };
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };
	struct mmsghdr vec[2];
	int rc;

	switch (v) {
	case V_WRITE:
		return write(fd, p, n);
	case V_SEND:
		return send(fd, p, n, MSG_NOSIGNAL);
	case V_SENDTO:
		return sendto(fd, p, n, MSG_NOSIGNAL, NULL, 0);
	case V_WRITEV:
		return writev(fd, iov, 2);
	case V_SENDMSG:
		return sendmsg(fd, &msg, MSG_NOSIGNAL);
	case V_SENDMMSG:
		memset(vec, 0, sizeof(vec));
		vec[0].msg_hdr.msg_iov = &iov[0];
		vec[0].msg_hdr.msg_iovlen = 1;
		vec[1].msg_hdr.msg_iov = &iov[1];
		vec[1].msg_hdr.msg_iovlen = 1;
		rc = sendmmsg(fd, vec, iov[0].iov_len > 0 ? 2 : 1, MSG_NOSIGNAL);
		if (iov[0].iov_len == 0 && rc == 1) /* only the second half was passed */
			return (ssize_t)vec[0].msg_len;
		if (rc <= 0)
			return rc;
		if (rc == 2 && vec[0].msg_len != iov[0].iov_len) {
			printf("FAIL - sendmmsg sent a later message after a partial one\n");
			fails++;
		}
		return (ssize_t)vec[0].msg_len + (rc == 2 ? (ssize_t)vec[1].msg_len : 0);
	case V_SENDFILE:
	default:
		(void)p;
		return sendfile(fd, file, off, n);
	}
}

/* All @n bytes with variant @v on the non-blocking @fd; after each piece the IDs must be on. */
static int send_all(enum variant v, int fd, const char *p, size_t n, int file, const char *trace,
		    const char *span, int hopopts, int *ids_ok, unsigned long *cuts)
{
	off_t off = 0;

	if (v == V_SENDMMSG && n < 2)
		v = V_WRITE; /* nothing to split */
	while (n > 0) {
		ssize_t w = send_once(v, fd, p, n, file, &off);

		if (w < 0 && errno == EAGAIN) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };

			(*cuts)++;
			poll(&pfd, 1, 5000);
			continue;
		}
		if (w <= 0)
			return -1;
		if ((size_t)w < n)
			(*cuts)++;
		if (hopopts && !carries(fd, trace, span))
			*ids_ok = 0;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int run_variants(int hopopts)
{
	static char req[BODY_LEN + 512], body[BODY_LEN];
	char t1[33], s1[17], t2[33], s2[17], small[256], what[256], path[] = "/tmp/shim_sends.XXXXXX";
	int v, file, i;

	for (i = 0; i < BODY_LEN; i++)
		body[i] = (char)('a' + i % 26);
	file = mkstemp(path);
	if (file < 0 || write_full(file, body, BODY_LEN) < 0)
		return 1;
	unlink(path);
	for (v = 0; v < V_COUNT; v++) {
		unsigned long cuts = 0;
		int c = conn(4096), ok = 1, hl, sl;

		if (c < 0)
			return 1;
		ids(t1, s1, v, 0);
		ids(t2, s2, v, 1);
		printf("ids %s-1 %s %s\nids %s-2 %s %s\n", vnames[v], t1, s1, vnames[v], t2, s2);
		hl = snprintf(req, 512, "POST /up HTTP/1.1\r\nHost: a\r\ntraceparent: 00-%s-%s-01\r\n"
			      "Content-Length: %d\r\n\r\n", t1, s1, BODY_LEN);
		fcntl(c, F_SETFL, O_NONBLOCK);
		if (v == V_SENDFILE) {
			/* The header block is written, the body comes from a file unseen. */
			lseek(file, 0, SEEK_SET);
			if (send_all(V_WRITE, c, req, (size_t)hl, -1, t1, s1, hopopts, &ok, &cuts) < 0 ||
			    send_all(V_SENDFILE, c, NULL, BODY_LEN, file, t1, s1, hopopts, &ok, &cuts) < 0)
				return 1;
		} else {
			memcpy(req + hl, body, BODY_LEN);
			if (send_all((enum variant)v, c, req, (size_t)hl + BODY_LEN, -1, t1, s1, hopopts,
				     &ok, &cuts) < 0)
				return 1;
		}
		snprintf(what, sizeof(what), "%s: a request of %d bytes, cut %lu times: its IDs are on "
			 "for every piece", vnames[v], hl + BODY_LEN, cuts);
		/* sendfile hands the kernel page references, not copies: under load it
		 * was seen to take the whole body at once. Nothing cut is then nothing
		 * exercised, not a failure; every other variant copies and is cut. */
		if (v == V_SENDFILE && cuts == 0)
			printf("note - sendfile took the %d bytes at once: nothing to cut\n", BODY_LEN);
		check(what, ok && (cuts > 0 || v == V_SENDFILE));
		sl = get_req(small, sizeof(small), t2, s2);
		ok = 1;
		if (send_all(v == V_SENDFILE ? V_WRITE : (enum variant)v, c, small, (size_t)sl, -1, t2, s2,
			     hopopts, &ok, &cuts) < 0)
			return 1;
		snprintf(what, sizeof(what), "%s: the next request is found after the cut-up one (its "
			 "IDs are set)", vnames[v]);
		check(what, ok);
		/* Let the last packets out before the next connection. */
		fcntl(c, F_SETFL, 0);
		shutdown(c, SHUT_WR);
		close(c);
	}
	close(file);
	return fails ? 1 : 0;
}

/* ---- lock ---- */

static atomic_int a_returned;
static atomic_int a_tid;
static int a_fd;
static char a_req[256];
static char order[256];
static pthread_mutex_t order_lock = PTHREAD_MUTEX_INITIALIZER;

static void note(const char *what)
{
	pthread_mutex_lock(&order_lock);
	if (order[0])
		strncat(order, " ", sizeof(order) - strlen(order) - 1);
	strncat(order, what, sizeof(order) - strlen(order) - 1);
	pthread_mutex_unlock(&order_lock);
}

static void *thread_a(void *arg)
{
	(void)arg;
	atomic_store(&a_tid, (int)gettid());
	/* New IDs: the shim asks the (stopped) agent before the bytes leave. */
	if (write_full(a_fd, a_req, strlen(a_req)) < 0)
		printf("# A's write failed: %s\n", strerror(errno));
	note("A-send-returned");
	atomic_store(&a_returned, 1);
	return NULL;
}

/* Is thread @tid blocked in poll (the agent exchange)? /proc/self/task/TID/syscall: nr first. */
static int in_poll(int tid)
{
	char path[64], buf[256];
	FILE *f;
	long nr = -1;

	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", tid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fgets(buf, sizeof(buf), f))
		nr = strtol(buf, NULL, 10);
	fclose(f);
	return nr == 7 /* poll */ || nr == 271 /* ppoll */;
}

static int run_lock(pid_t agent)
{
	char tb[33], sb[17], ta[33], sa[17], r[256];
	int b, c, i, st = 0, blocked = 0;
	pthread_t th;
	pid_t pid;

	a_fd = conn(0);
	b = conn(0);
	c = conn(0);
	if (a_fd < 0 || b < 0 || c < 0)
		return 1;
	/* Every socket tagged once while the agent runs. */
	ids(tb, sb, 0x1b, 0);
	get_req(r, sizeof(r), tb, sb);
	check("B's first request (agent running)", write_full(b, r, strlen(r)) == 0);
	ids(ta, sa, 0x1a, 0);
	get_req(r, sizeof(r), ta, sa);
	check("A's first request (agent running)", write_full(a_fd, r, strlen(r)) == 0);
	check("C's first request (agent running)", write_full(c, r, strlen(r)) == 0);
	printf("ids B %s %s\n", tb, sb);
	ids(ta, sa, 0x1a, 1);
	get_req(a_req, sizeof(a_req), ta, sa);
	printf("ids A2 %s %s\n", ta, sa);
	fflush(stdout);

	kill(agent, SIGSTOP);
	pthread_create(&th, NULL, thread_a, NULL);
	/* Until A waits for the agent's answer (no time limit that a slow machine could miss:
	 * the agent stays stopped for as long as this takes, A gives up after 10 s). */
	for (i = 0; i < 100000 && !blocked && !atomic_load(&a_returned); i++) {
		int tid = atomic_load(&a_tid);

		blocked = tid > 0 && in_poll(tid);
		if (!blocked)
			usleep(1000);
	}
	check("A is blocked waiting for the stopped agent", blocked);

	/* B: the same IDs again on its own socket (nothing to ask the agent). */
	get_req(r, sizeof(r), tb, sb);
	check("B's send on another tracked socket returns", write_full(b, r, strlen(r)) == 0);
	check("B's send(2) on it returns", send(b, r, strlen(r), 0) == (ssize_t)strlen(r));
	note("B-send");
	check("close() of a third tracked socket returns", close(c) == 0);
	note("close");
	pid = fork();
	if (pid == 0)
		_exit(0);
	check("fork() returns", pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st));
	note("fork");
	check("... all while A is still waiting for the agent (not returned, still in poll)",
	      !atomic_load(&a_returned) && in_poll(atomic_load(&a_tid)));
	kill(agent, SIGCONT);
	pthread_join(th, NULL);
	printf("order: %s\n", order);
	check("order: B's send, close, fork recorded before A's send returned",
	      strcmp(order, "B-send close fork A-send-returned") == 0);
	shutdown(a_fd, SHUT_WR);
	shutdown(b, SHUT_WR);
	usleep(100000);
	return fails ? 1 : 0;
}

/* ---- fork ---- */

/* Inodes of this process's Unix-domain sockets (the agent's connection: the program has no other). */
static int unix_sockets(unsigned long *ino, int cap)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		int fd = atoi(e->d_name), dom = 0;
		socklen_t l = sizeof(dom);
		struct stat st;

		if (e->d_name[0] == '.' || fd == dirfd(d))
			continue;
		if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) &&
		    getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &l) == 0 && dom == AF_UNIX && n < cap)
			ino[n++] = (unsigned long)st.st_ino;
	}
	closedir(d);
	return n;
}

static int run_fork(int agent)
{
	char t[33], s[17], r[256], what[256];
	unsigned long pino[16];
	int a, np, st = 0;
	pid_t pid;

	a = conn(0);
	if (a < 0)
		return 1;
	ids(t, s, 0xf0, 0);
	get_req(r, sizeof(r), t, s);
	printf("ids parent %s %s\n", t, s);
	check("the parent's request", write_full(a, r, strlen(r)) == 0);
	np = unix_sockets(pino, 16);
	if (agent) {
		snprintf(what, sizeof(what), "the parent holds an agent connection (%d)", np);
		check(what, np == 1);
	}
	ids(t, s, 0xf0, 1);
	printf("ids child %s %s\n", t, s);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		unsigned long cino[16];
		int c, nc, i, j, inherited = 0;

		alarm(20);
		c = conn(0);
		get_req(r, sizeof(r), t, s);
		check("the child's first request after fork", c >= 0 && write_full(c, r, strlen(r)) == 0);
		if (!agent)
			check("the child's socket carries its IDs (hopopts)", carries(c, t, s));
		nc = unix_sockets(cino, 16);
		for (i = 0; i < nc; i++)
			for (j = 0; j < np; j++)
				if (cino[i] == pino[j])
					inherited++;
		snprintf(what, sizeof(what), "the child holds no descriptor of the parent's agent "
			 "connection (%d inherited, %d sockets of its own)", inherited, nc - inherited);
		check(what, inherited == 0 && (!agent || nc == 1));
		shutdown(c, SHUT_WR);
		usleep(100000);
		_exit(fails ? 1 : 0);
	}
	check("the child passed", pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
				   WEXITSTATUS(st) == 0);
	get_req(r, sizeof(r), t, s);
	shutdown(a, SHUT_WR);
	return fails ? 1 : 0;
}

/* ---- forklock ---- */

#define SPAM_LEN (2 << 20)

static atomic_int spam_stop;
static int spam_fd;
static char *spam_buf;
static size_t spam_len;

/*
 * Megabytes of pipelined requests (no trace header: no IDs, so loopback
 * stays fast) per write: the shim reads each write ahead under the
 * socket's lock, so that lock is held most of the time.
 */
static void *spammer(void *arg)
{
	(void)arg;
	while (!atomic_load(&spam_stop))
		if (write_full(spam_fd, spam_buf, spam_len) < 0)
			break;
	return NULL;
}

static int run_forklock(void)
{
	static const char plain[] = "GET /x HTTP/1.1\r\nHost: a\r\n\r\n";
	char t[33], s[17], r[256], what[160];
	int i, good = 0, rounds = 20;

	spam_buf = malloc(SPAM_LEN);
	if (!spam_buf)
		return 1;
	for (spam_len = 0; spam_len + sizeof(plain) - 1 <= SPAM_LEN; spam_len += sizeof(plain) - 1)
		memcpy(spam_buf + spam_len, plain, sizeof(plain) - 1);
	for (i = 0; i < rounds; i++) {
		pthread_t th;
		int st = 0;
		pid_t pid;

		/* A fresh connection each round: a child's IDs slow loopback down for good. */
		spam_fd = conn(0);
		if (spam_fd < 0)
			return 1;
		atomic_store(&spam_stop, 0);
		pthread_create(&th, NULL, spammer, NULL);
		usleep(3000); /* the sender inside its first writes */
		pid = fork();
		if (pid == 0) {
			alarm(10); /* a lock inherited held would hang the child */
			ids(t, s, 0xc0, i);
			get_req(r, sizeof(r), t, s);
			_exit(write_full(spam_fd, r, strlen(r)) == 0 && carries(spam_fd, t, s) ? 0 : 1);
		}
		if (pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0)
			good++;
		else if (pid > 0 && WIFSIGNALED(st))
			printf("# child %d died of signal %d\n", i, WTERMSIG(st));
		atomic_store(&spam_stop, 1);
		shutdown(spam_fd, SHUT_RDWR); /* ends a write still waiting */
		pthread_join(th, NULL);
		close(spam_fd);
	}
	snprintf(what, sizeof(what), "%d/%d children forked while a thread sends on the socket "
		 "(its lock held most of the time) sent on it with their own IDs set", good, rounds);
	check(what, good == rounds);
	return fails ? 1 : 0;
}

int main(int argc, char **argv)
{
	const char *backend = getenv("CLT_BACKEND");
	int hopopts = backend && strcmp(backend, "hopopts") == 0;

	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2 || listen_here() < 0) {
		fprintf(stderr, "usage: shim_sends variants|lock PID|fork|forklock (IPv6 needed)\n");
		return 2;
	}
	if (strcmp(argv[1], "variants") == 0)
		return run_variants(hopopts);
	if (strcmp(argv[1], "lock") == 0 && argc == 3)
		return run_lock((pid_t)atoi(argv[2]));
	if (strcmp(argv[1], "fork") == 0)
		return run_fork(!hopopts);
	if (strcmp(argv[1], "forklock") == 0)
		return run_forklock();
	fprintf(stderr, "usage: shim_sends variants|lock PID|fork|forklock\n");
	return 2;
}
