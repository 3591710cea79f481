/*
 * fdlife.h - descriptor lifecycle: which descriptors are tracked sockets,
 * from creation (socket, connect, listen, accept) through duplication (dup,
 * fcntl) to every way of closing (close, close_range, closefrom, fclose).
 * The interposer bodies are declared in shim.h.
 */
#ifndef CLT_SHIM_FDLIFE_H
#define CLT_SHIM_FDLIFE_H

#include "fdstate.h"

/* The look behind fdlife_classify(): an unknown or stale descriptor. errno kept. */
enum fd_class fdlife_look(int fd);

/*
 * @fd's class for a send, looking at the socket once if the shim has not
 * seen it connect (accepted, inherited, or opened by code that bypasses
 * the PLT). errno kept. A settled class costs one load.
 */
static inline enum fd_class fdlife_classify(int fd)
{
	enum fd_class c = fdstate_class(fd);

	if (c != FD_UNKNOWN && c != FD_STALE)
		return c;
	return fdlife_look(fd);
}

#endif /* CLT_SHIM_FDLIFE_H */
