/*
 * sys.c - libclt's system calls go straight to libc (see clt_sys.h for
 * why a program may replace this table, and how). Nothing else may live
 * in this file: the shim's link must be able to leave it out.
 */
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clt_sys.h"

const struct clt_sys clt_sys = {
	.socket = socket,
	.connect = connect,
	.close = close,
	.send = send,
	.sendmsg = sendmsg,
	.recv = recv,
	.recvmsg = recvmsg,
	.read = read,
	.poll = poll,
	.setsockopt = setsockopt,
	.getsockopt = getsockopt,
};
