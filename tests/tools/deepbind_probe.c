/*
 * deepbind_probe.c - test tool: load a library the way PHP loads its
 * extensions (RTLD_DEEPBIND) and make HTTP requests from inside it
 * (tests/lib/deepbind_lib.c), printing what a run with and without the
 * shim must print alike.
 *
 *   deepbind_probe LIB lazy|now PORT TRACEPARENT:HOW...
 *   deepbind_probe -n NAME      load NAME (no '/') without and with RTLD_DEEPBIND
 *
 * HOW: 0 send through the GOT, 1 write through the PLT, 2 send through a
 * static table. The second form checks that a bare name is still found
 * along this program's RUNPATH ($ORIGIN/../lib), as glibc resolves it from
 * the caller. Exits non-zero on any failure.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Exported (-rdynamic): an ordinary load would bind the library's call here. */
const char *deepbind_whoami(void);
const char *deepbind_whoami(void)
{
	return "program";
}

static void *sym(void *h, const char *name)
{
	void *p = dlsym(h, name);

	if (!p) {
		fprintf(stderr, "deepbind_probe: %s: %s\n", name, dlerror());
		exit(1);
	}
	return p;
}

static int by_name(const char *name)
{
	void *h = dlopen(name, RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		fprintf(stderr, "deepbind_probe: dlopen(%s): %s\n", name, dlerror());
		return 1;
	}
	printf("found %s\n", name);
	dlclose(h);
	h = dlopen(name, RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
	if (!h) {
		fprintf(stderr, "deepbind_probe: dlopen(%s, RTLD_DEEPBIND): %s\n", name, dlerror());
		return 1;
	}
	printf("found %s with RTLD_DEEPBIND\n", name);
	return 0;
}

int main(int argc, char **argv)
{
	const char *(*whoami)(void);
	int (*lib_dup3)(void);
	int (*request)(int, const char *, int, char *, size_t);
	void *h;
	int i, port;

	if (argc == 3 && strcmp(argv[1], "-n") == 0)
		return by_name(argv[2]);
	if (argc < 4) {
		fprintf(stderr, "usage: deepbind_probe LIB lazy|now PORT TRACEPARENT:HOW...\n");
		return 2;
	}
	h = dlopen(argv[1], (strcmp(argv[2], "lazy") == 0 ? RTLD_LAZY : RTLD_NOW) | RTLD_LOCAL |
				    RTLD_DEEPBIND);
	if (!h) {
		fprintf(stderr, "deepbind_probe: dlopen: %s\n", dlerror());
		return 1;
	}
	/* dlerror() stays clear after a successful load, shim or not. */
	printf("dlerror after load: %s\n", dlerror() ? "set" : "none");
	/* Opened again without RTLD_DEEPBIND: the same object, nothing new to rebind. */
	printf("reopened without RTLD_DEEPBIND: %s\n",
	       dlopen(argv[1], RTLD_NOW | RTLD_LOCAL) == h ? "same object" : "another object");
	*(void **)&whoami = sym(h, "deepbind_lib_whoami");
	*(void **)&lib_dup3 = sym(h, "deepbind_lib_dup3");
	*(void **)&request = sym(h, "deepbind_lib_request");
	printf("library binds deepbind_whoami to the %s's\n", whoami());
	printf("program binds deepbind_whoami to the %s's\n", deepbind_whoami());
	printf("library's dup3 returns %d\n", lib_dup3());
	port = atoi(argv[3]);
	for (i = 4; i < argc; i++) {
		char tp[128], resp[4096];
		char *colon;
		int n;

		snprintf(tp, sizeof(tp), "%s", argv[i]);
		colon = strrchr(tp, ':');
		if (!colon)
			return 2;
		*colon = '\0';
		n = request(port, tp, atoi(colon + 1), resp, sizeof(resp));
		printf("request %d (how %s): %s\n", i - 3, colon + 1,
		       n > 0 && strstr(resp, " 200 ") ? "200" : "failed");
		if (n <= 0)
			return 1;
	}
	return 0;
}
