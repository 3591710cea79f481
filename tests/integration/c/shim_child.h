/*
 * shim_child.h - for the integration tests in C that re-execute
 * themselves with libcltshim.so preloaded: find this executable and the
 * shim of the build under test ($CLT_TEST_SHIM, the copy tests/run.sh
 * staged where LD_PRELOAD can take it and other users can read it, else
 * $CLT_TOP/$BUILD), and compose LD_PRELOAD. In a sanitizer build the ASan
 * runtime must come first in LD_PRELOAD, or it refuses to start.
 */
#ifndef CLT_TESTS_SHIM_CHILD_H
#define CLT_TESTS_SHIM_CHILD_H

#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SHIM_PRELOAD_MAX (2 * PATH_MAX + 2)

/* Fill @self (PATH_MAX) and @preload (SHIM_PRELOAD_MAX); @shim (PATH_MAX)
 * gets the shim's path. @return 0, or 1 after printing why. */
static inline int shim_child_paths(char *self, char *shim, char *preload)
{
	const char *top = getenv("CLT_TOP"), *build = getenv("BUILD"), *staged = getenv("CLT_TEST_SHIM");
	void *asan = dlsym(RTLD_DEFAULT, "__asan_init");
	Dl_info info;
	ssize_t n;

	n = readlink("/proc/self/exe", self, PATH_MAX - 1);
	if (n < 0) {
		printf("FAIL: cannot find this executable\n");
		return 1;
	}
	self[n] = '\0';
	if (staged && *staged)
		snprintf(shim, PATH_MAX, "%s", staged);
	else
		snprintf(shim, PATH_MAX, "%s/%s/libcltshim.so", top ? top : ".", build ? build : "build");
	if (access(shim, R_OK) < 0) {
		printf("FAIL: %s missing\n", shim);
		return 1;
	}
	if (asan && dladdr(asan, &info) && info.dli_fname && strstr(info.dli_fname, "libasan"))
		snprintf(preload, SHIM_PRELOAD_MAX, "%s %s", info.dli_fname, shim);
	else
		snprintf(preload, SHIM_PRELOAD_MAX, "%s", shim);
	return 0;
}

/*
 * A child that drops to another user must be able to execute @self, which
 * a checkout in a 0700 home folder forbids: copy it into $CLT_STAGE (a
 * world-readable directory of the test run's own, tests/lib/stage.sh) and
 * point @self (PATH_MAX) at the copy. Without $CLT_STAGE @self stays.
 * @return 0, or 1 after printing why.
 */
static inline int shim_child_stage_self(char *self)
{
	const char *stage = getenv("CLT_STAGE"), *base = strrchr(self, '/');
	char dst[PATH_MAX], buf[65536];
	int in, out, rc = 0;
	ssize_t n = 0;

	if (!stage || !*stage)
		return 0;
	if (snprintf(dst, sizeof(dst), "%s/%s", stage, base ? base + 1 : self) >= (int)sizeof(dst))
		return 1;
	in = open(self, O_RDONLY | O_CLOEXEC);
	out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			rc = 1;
	if (in < 0 || out < 0 || n < 0 || fchmod(out, 0755) < 0)
		rc = 1;
	if (in >= 0)
		close(in);
	if (out >= 0 && close(out) < 0)
		rc = 1;
	if (rc) {
		printf("FAIL: cannot copy %s into %s\n", self, stage);
		return 1;
	}
	snprintf(self, PATH_MAX, "%s", dst);
	return 0;
}

/* In the child: is libcltshim.so mapped? A preload the loader refused
 * (a path it cannot read or split at a space) must fail the test, not make
 * it look like a backend that cannot tag. */
static inline int shim_child_loaded(void)
{
	char line[PATH_MAX + 128];
	FILE *f = fopen("/proc/self/maps", "re");
	int found = 0;

	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, "libcltshim") != NULL;
	if (f)
		fclose(f);
	return found;
}

/* Run "@self --child" with @preload in LD_PRELOAD (and CLT_BACKEND=@backend
 * unless NULL, CLT_DOMAIN unset so the default domain applies); give it
 * @timeout_s seconds. @return its exit status, or 1 after printing why. */
static inline int shim_child_run(const char *self, const char *preload, const char *backend,
				 int timeout_s)
{
	int st = 0, waited;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		setenv("LD_PRELOAD", preload, 1);
		if (backend) {
			setenv("CLT_BACKEND", backend, 1);
			unsetenv("CLT_DOMAIN");
		}
		execl(self, self, "--child", (char *)NULL);
		_exit(127);
	}
	for (waited = 0; waited < timeout_s * 10; waited++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			break;
		usleep(100000);
	}
	if (waited == timeout_s * 10) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		printf("FAIL: the child hung for %d s\n", timeout_s);
		return 1;
	}
	if (!WIFEXITED(st)) {
		printf("FAIL: the child died (signal %d)\n", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
		return 1;
	}
	return WEXITSTATUS(st);
}

#endif
