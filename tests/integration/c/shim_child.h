/*
 * shim_child.h - for the integration tests in C that re-execute
 * themselves with libcltshim.so preloaded: find this executable and the
 * shim of the build under test ($CLT_TOP/$BUILD), and compose LD_PRELOAD. In a sanitizer
 * build the ASan runtime must come first in LD_PRELOAD, or it refuses to
 * start.
 */
#ifndef CLT_TESTS_SHIM_CHILD_H
#define CLT_TESTS_SHIM_CHILD_H

#include <dlfcn.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SHIM_PRELOAD_MAX (2 * PATH_MAX + 2)

/* Fill @self (PATH_MAX) and @preload (SHIM_PRELOAD_MAX); @shim (PATH_MAX)
 * gets the shim's path. @return 0, or 1 after printing why. */
static inline int shim_child_paths(char *self, char *shim, char *preload)
{
	const char *top = getenv("CLT_TOP"), *build = getenv("BUILD");
	void *asan = dlsym(RTLD_DEFAULT, "__asan_init");
	Dl_info info;
	ssize_t n;

	n = readlink("/proc/self/exe", self, PATH_MAX - 1);
	if (n < 0) {
		printf("FAIL: cannot find this executable\n");
		return 1;
	}
	self[n] = '\0';
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
