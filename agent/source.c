/*
 * source.c - source selection by name; the modules do the work.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "source.h"

int source_open(struct source **out, const char *spec, const struct source_options *opt)
{
	*out = NULL;
	if (strcmp(spec, "netlink") == 0)
		return source_netlink_open(out, opt);
	if (strncmp(spec, "capture:", 8) == 0 && spec[8])
		return source_pcap_open(out, spec + 8, true, opt);
	if (strncmp(spec, "pcap:", 5) == 0 && spec[5])
		return source_pcap_open(out, spec + 5, false, opt);
	fprintf(stderr, "cltagent: unknown source '%.64s'\n", spec);
	return -EINVAL;
}

int source_next(struct source *src, source_cb cb, void *arg, unsigned int max)
{
	return src->ops->next(src, cb, arg, max);
}

int source_fd(struct source *src)
{
	return src->ops->fd(src);
}

void source_close(struct source *src)
{
	if (src)
		src->ops->close(src);
}
