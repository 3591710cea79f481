/*
 * deepbind_lib.c - the library tests/tools/deepbind_probe loads with
 * RTLD_DEEPBIND, built twice by tests/tests.mk: lazy binding with partial
 * RELRO, and full RELRO (-z relro -z now). It reaches libc through every
 * kind of relocation the shim rewrites: a PLT call (JUMP_SLOT), an address
 * loaded from the GOT (GLOB_DAT) and an address in a static table (an
 * absolute word in data). It also defines functions the program and
 * libc define too, whose DEEPBIND binding (its own) must not change.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

typedef ssize_t (*send_fn)(int, const void *, size_t, int);

/* An absolute relocation against send (volatile: read at each call, not made a direct call). */
static const volatile send_fn send_table[] = { send };

/* The program defines one too; the DEEPBIND scope picks this one. */
EXPORT const char *deepbind_whoami(void);
EXPORT const char *deepbind_whoami(void)
{
	return "library";
}

EXPORT const char *deepbind_lib_whoami(void);
EXPORT const char *deepbind_lib_whoami(void)
{
	return deepbind_whoami();
}

/* An interposed function the library defines itself: its own calls must keep reaching it. */
EXPORT int dup3(int oldfd, int newfd, int flags)
{
	(void)oldfd;
	(void)newfd;
	(void)flags;
	return -42;
}

EXPORT int deepbind_lib_dup3(void);
EXPORT int deepbind_lib_dup3(void)
{
	return dup3(0, 0, 0);
}

static int send_all(int fd, const char *buf, size_t len, int how)
{
	/* volatile: the address is loaded from the GOT at the call, not folded into a PLT call. */
	send_fn volatile via_got = send;

	while (len > 0) {
		ssize_t n;

		if (how == 0)
			n = via_got(fd, buf, len, 0);
		else if (how == 1)
			n = write(fd, buf, len);
		else
			n = send_table[0](fd, buf, len, 0);
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * One HTTP/1.1 GET to [::1]:@port carrying @traceparent, written with
 * send through the GOT (@how 0), write through the PLT (1) or send
 * through the static table (2). @return the response's length, or -1.
 */
EXPORT int deepbind_lib_request(int port, const char *traceparent, int how, char *resp,
				size_t resp_len);
EXPORT int deepbind_lib_request(int port, const char *traceparent, int how, char *resp,
				size_t resp_len)
{
	struct sockaddr_in6 sa;
	char req[512];
	size_t got = 0;
	int fd, rc = -1;

	memset(&sa, 0, sizeof(sa));
	sa.sin6_family = AF_INET6;
	sa.sin6_port = htons((unsigned short)port);
	sa.sin6_addr = in6addr_loopback;
	fd = socket(AF_INET6, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		goto out;
	strcpy(req, "GET /deepbind HTTP/1.1\r\nHost: [::1]\r\ntraceparent: ");
	strncat(req, traceparent, 100);
	strcat(req, "\r\nConnection: close\r\n\r\n");
	if (send_all(fd, req, strlen(req), how) != 0)
		goto out;
	while (got + 1 < resp_len) {
		ssize_t n = read(fd, resp + got, resp_len - 1 - got);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	resp[got] = '\0';
	rc = (int)got;
out:
	close(fd);
	return rc;
}
