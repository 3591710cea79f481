/*
 * test_shim_deepbind.c - deepbind_rebind() on a real library
 * (tests/lib/deepbind_lib.c, built lazily bound and full RELRO): its PLT
 * calls, GOT loads and static function table for the given symbols must
 * reach the replacements, the functions it defines itself must stay its
 * own, a symbol bound anywhere but the expected bypass must be left alone,
 * and full RELRO pages must be read-only again afterwards. The library is
 * loaded without RTLD_DEEPBIND (the ASan runtime refuses that flag); the
 * rebinding works the same on any loaded object. The end-to-end case is
 * tests/integration/shim_deepbind.sh.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <link.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "deepbind.h"

#define TP "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

typedef int (*request_fn)(int, const char *, int, char *, size_t);

static int n_socket, n_connect, n_send, n_write, n_read;
static char last_sent[512];

static int fake_socket(int domain, int type, int protocol)
{
	(void)domain;
	(void)type;
	(void)protocol;
	n_socket++;
	return open("/dev/null", O_RDWR | O_CLOEXEC);
}

static int fake_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	(void)fd;
	(void)sa;
	(void)len;
	n_connect++;
	return 0;
}

static void record(const void *buf, size_t len)
{
	size_t n = len < sizeof(last_sent) - 1 ? len : sizeof(last_sent) - 1;

	memcpy(last_sent, buf, n);
	last_sent[n] = '\0';
}

static ssize_t fake_send(int fd, const void *buf, size_t len, int flags)
{
	(void)fd;
	(void)flags;
	n_send++;
	record(buf, len);
	return (ssize_t)len;
}

static ssize_t fake_write(int fd, const void *buf, size_t len)
{
	(void)fd;
	n_write++;
	record(buf, len);
	return (ssize_t)len;
}

static ssize_t fake_read(int fd, void *buf, size_t len)
{
	(void)fd;
	(void)buf;
	(void)len;
	n_read++;
	return 0;
}

static int fake_dup3(int a, int b, int c)
{
	(void)a;
	(void)b;
	(void)c;
	return -7;
}

static void lib_path(char *out, size_t len, const char *kind)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	assert_true(n > 0);
	exe[n] = '\0';
	snprintf(out, len, "%s/../lib/deepbind_lib_%s.so", dirname(exe), kind);
}

struct find {
	const char *path;
	struct dl_phdr_info info;
	int found;
};

static int find_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	struct find *f = data;

	(void)size;
	if (strcmp(info->dlpi_name, f->path) == 0) {
		f->info = *info;
		f->found = 1;
	}
	return 0;
}

/* The permissions /proc/self/maps shows for the page at @addr ("r--p", ...). */
static void page_perms(uintptr_t addr, char perms[5])
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];

	assert_non_null(f);
	strcpy(perms, "????");
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char p[5];

		if (sscanf(line, "%lx-%lx %4s", &lo, &hi, p) == 3 && addr >= lo && addr < hi) {
			memcpy(perms, p, 5);
			break;
		}
	}
	fclose(f);
}

static uintptr_t relro_page(const struct dl_phdr_info *info)
{
	ElfW(Half) i;

	for (i = 0; i < info->dlpi_phnum; i++)
		if (info->dlpi_phdr[i].p_type == PT_GNU_RELRO)
			return (info->dlpi_addr + info->dlpi_phdr[i].p_vaddr) &
			       ~(uintptr_t)(sysconf(_SC_PAGESIZE) - 1);
	return 0;
}

static void rebind_kind(const char *kind, int flags)
{
	char path[PATH_MAX + 64], buf[256], perms[5];
	struct find f = { path, { 0 }, 0 };
	int (*lib_dup3)(void);
	request_fn request;
	void *h;
	int how, n, dup3_before;

	lib_path(path, sizeof(path), kind);
	h = dlopen(path, flags | RTLD_LOCAL);
	if (!h)
		fail_msg("dlopen %s: %s (make tests builds it)", path, dlerror());
	dl_iterate_phdr(find_cb, &f);
	assert_true(f.found);
	*(void **)&request = dlsym(h, "deepbind_lib_request");
	*(void **)&lib_dup3 = dlsym(h, "deepbind_lib_dup3");
	assert_non_null(request);
	assert_non_null(lib_dup3);
	/* Without RTLD_DEEPBIND its dup3 call is bound to libc's; whatever it is, it must stay. */
	dup3_before = lib_dup3();

	{
		/* The scope binds write to libc's, not to this bypass: left alone. */
		struct deepbind_sym other[] = { { "write", (void *)fake_write, (void *)fake_read } };

		assert_int_equal(deepbind_rebind(&f.info, h, other, 1), 0);
	}
	{
		struct deepbind_sym syms[] = {
			{ "socket", (void *)fake_socket, dlsym(h, "socket") },
			{ "connect", (void *)fake_connect, dlsym(h, "connect") },
			{ "send", (void *)fake_send, dlsym(h, "send") },
			{ "write", (void *)fake_write, dlsym(h, "write") },
			{ "read", (void *)fake_read, dlsym(h, "read") },
			/* The library defines dup3: its scope binds it there, not to libc's. */
			{ "dup3", (void *)fake_dup3, dlsym(RTLD_DEFAULT, "dup3") },
		};

		/* socket, connect, write, read: PLT; send: GOT load and static table. */
		n = deepbind_rebind(&f.info, h, syms, sizeof(syms) / sizeof(syms[0]));
		assert_true(n >= 6);
	}
	n_socket = n_connect = n_send = n_write = n_read = 0;
	for (how = 0; how < 3; how++) {
		last_sent[0] = '\0';
		assert_int_equal(request(8080, TP, how, buf, sizeof(buf)), 0);
		assert_non_null(strstr(last_sent, "traceparent: " TP "\r\n"));
	}
	assert_int_equal(n_socket, 3);
	assert_int_equal(n_connect, 3);
	assert_int_equal(n_send, 2); /* GOT load, static table */
	assert_int_equal(n_write, 1); /* PLT */
	assert_int_equal(n_read, 3);
	assert_int_equal(lib_dup3(), dup3_before);

	if (relro_page(&f.info)) {
		page_perms(relro_page(&f.info), perms);
		assert_string_equal(perms, "r--p");
	}
	dlclose(h);
}

static void test_rebind_lazy(void **state)
{
	(void)state;
	rebind_kind("lazy", RTLD_LAZY);
}

static void test_rebind_full_relro(void **state)
{
	(void)state;
	rebind_kind("now", RTLD_NOW);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rebind_lazy),
		cmocka_unit_test(test_rebind_full_relro),
	};

#if !defined(__x86_64__)
	printf("SKIP: deepbind rebinding is implemented for x86-64 only\n");
	return 77;
#endif
	return cmocka_run_group_tests(tests, NULL, NULL);
}
