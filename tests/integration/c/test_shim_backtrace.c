/*
 * test_shim_backtrace.c - an internal failure of libcltshim.so is logged
 * once, and at CLT_LOG=debug that line names the application's call site
 * (libunwind). The failure is forced: CLT_BACKEND=hopopts in a process
 * without CAP_NET_RAW (root drops to nobody first), so setting IDs fails
 * with EPERM. Without CLT_LOG nothing at all may be printed.
 */
#include <dlfcn.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "integration/c/shim_child.h"

#define REQ                                                                              \
	"GET / HTTP/1.1\r\nHost: a\r\n"                                                  \
	"traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\r\n"

/* The application's call site the log line must name. */
__attribute__((noinline)) int app_send_request(int fd);

__attribute__((noinline)) int app_send_request(int fd)
{
	int rc = (int)send(fd, REQ, strlen(REQ), 0);

	__asm__ volatile("" ::: "memory"); /* not a tail call: keep this frame */
	return rc;
}

static int child(void)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	socklen_t alen = sizeof(a);
	int l, c;

	l = socket(AF_INET6, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 4) < 0 ||
	    getsockname(l, (struct sockaddr *)&a, &alen) < 0)
		return 77;
	c = socket(AF_INET6, SOCK_STREAM, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof(a)) < 0)
		return 1;
	if (app_send_request(c) != (int)strlen(REQ) || app_send_request(c) != (int)strlen(REQ))
		return 1;
	return 0;
}

/* Run the child under the shim at @level (NULL: CLT_LOG unset); its stderr into @out. */
static int run(const char *self, const char *preload, const char *level, char *out, size_t outlen)
{
	int p[2], st = 0;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	if (pipe(p) < 0)
		return -1;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		dup2(p[1], 2);
		close(p[0]);
		if (getuid() == 0 &&
		    (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0))
			_exit(78);
		setenv("LD_PRELOAD", preload, 1);
		setenv("CLT_BACKEND", "hopopts", 1);
		unsetenv("CLT_LOG_FILE");
		if (level)
			setenv("CLT_LOG", level, 1);
		else
			unsetenv("CLT_LOG");
		execl(self, self, "--child", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	while (got + 1 < outlen && (n = read(p[0], out + got, outlen - got - 1)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	close(p[0]);
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static int count_lines(const char *s, const char *needle)
{
	int n = 0;

	while (s && *s) {
		const char *eol = strchr(s, '\n');
		size_t len = eol ? (size_t)(eol - s) : strlen(s);

		if (memmem(s, len, needle, strlen(needle)))
			n++;
		s = eol ? eol + 1 : NULL;
	}
	return n;
}

int main(int argc, char **argv)
{
	static char dbg[16384], quiet[4096];
	char self[PATH_MAX], shim[PATH_MAX], preload[SHIM_PRELOAD_MAX];
	int rc, fails = 0;

	if (argc > 1 && strcmp(argv[1], "--child") == 0)
		return child();
	if (shim_child_paths(self, shim, preload) || shim_child_stage_self(self))
		return 1;
	rc = run(self, preload, "debug", dbg, sizeof(dbg));
	printf("--- CLT_LOG=debug (exit %d):\n%s", rc, dbg);
	if (rc == 77 || rc == 78) {
		printf("SKIP: %s\n", rc == 77 ? "no IPv6 loopback" : "cannot drop to nobody");
		return 77;
	}
	if (rc != 0) {
		printf("FAIL: the program failed under the shim\n");
		return 1;
	}
	if (count_lines(dbg, "called from") == 1)
		printf("ok   - one failure line with a backtrace\n");
	else {
		printf("FAIL - expected one failure line with a backtrace, got %d\n",
		       count_lines(dbg, "called from"));
		fails++;
	}
	if (count_lines(dbg, "called from app_send_request+0x") == 1)
		printf("ok   - it starts at the application's call site (app_send_request)\n");
	else {
		printf("FAIL - the backtrace does not start at app_send_request\n");
		fails++;
	}
	rc = run(self, preload, NULL, quiet, sizeof(quiet));
	if (rc == 0 && quiet[0] == '\0')
		printf("ok   - nothing printed without CLT_LOG\n");
	else {
		printf("FAIL - without CLT_LOG (exit %d): \"%s\"\n", rc, quiet);
		fails++;
	}
	return fails ? 1 : 0;
}
