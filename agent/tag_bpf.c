/*
 * tag_bpf.c - the tag server's bpf message types (see tag_bpf.h).
 *
 * A process gets exactly one array per connection, created for it and
 * owned by its uid (SO_PEERCRED): the program tags a socket only when the
 * socket's uid is that owner's, and only cltagent writes the socket
 * storage that links a socket to an array, so no process can ever make
 * another's packets carry its IDs, nor write another's array.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bpf_loader.h"
#include "clt/bpfslot.h"
#include "clt/clt.h"
#include "clt/tagproto.h"
#include "clt_fdpass.h"
#include "tag_bpf.h"

static int send_answer(int sock, const void *buf, size_t len, int fd)
{
	ssize_t sent = clt_send_fd(sendmsg, sock, buf, len, fd, MSG_DONTWAIT | MSG_NOSIGNAL);

	return sent == (ssize_t)len ? 0 : -EPIPE;
}

static void fill_hdr(struct clt_msg_hdr *h, const struct clt_msg_hdr *req, size_t len)
{
	h->magic = CLT_TAG_MAGIC;
	h->version = CLT_TAG_VERSION2;
	h->type = req->type;
	h->len = (uint16_t)len;
	h->seq = req->seq;
}

int tag_bpf_serve(struct bpf_tagger *bt, struct tag_bpf_conn *c, int sock, uid_t uid,
		  const void *msg, size_t n, bool refused, const int *fds, int nfds,
		  bool allowed_rate, uint64_t *tagged, uint64_t *rejected)
{
	struct clt_msg_hdr req;
	/* The tag server's table checks the size, descriptors and connection
	 * role; refused, the message is only answered. */

	memcpy(&req, msg, sizeof(req));
	if (req.type == CLT_MSG_BPF_ATTACH) {
		struct clt_tag_bpf_attach_resp r = {.status = 0};
		int fd = -1, rc;

		fill_hdr(&r.h, &req, sizeof(r));
		if (n != sizeof(req) || req.len != sizeof(req) || refused || nfds != 0) {
			r.status = -EINVAL;
			++*rejected;
		} else if (bt == NULL) {
			r.status = -EOPNOTSUPP;
		} else if (c->has_array) {
			r.status = -EEXIST; /* one array per process: it holds its one fd */
			++*rejected;
		} else {
			rc = bpf_tagger_new_array(bt, uid, &c->proc, &fd);
			if (rc < 0) {
				r.status = rc;
			} else {
				c->has_array = true;
				r.slots = CLT_BPF_SLOTS;
				r.slot_size = sizeof(struct clt_bpf_slot);
				r.ring = CLT_BPF_RING;
				r.flags = bpf_tagger_room(bt) ? CLT_BPF_ATTACH_ROOM : 0;
			}
		}
		rc = send_answer(sock, &r, sizeof(r), fd);
		if (fd >= 0)
			close(fd); /* the process holds the array now; the program holds it too */
		return rc;
	} else {
		const struct clt_tag_bpf_register_req *rq = msg;
		struct clt_tag_bpf_resp r = {.status = 0};
		struct clt_tag_bpf_register_req copy;

		fill_hdr(&r.h, &req, sizeof(r));
		if (n != sizeof(*rq) || req.len != sizeof(*rq) || refused || nfds != 1) {
			r.status = -EINVAL;
			++*rejected;
		} else if (bt == NULL) {
			r.status = -EOPNOTSUPP;
		} else if (!c->has_array) {
			r.status = -ENOENT;
			++*rejected;
		} else if (!allowed_rate) {
			r.status = -EBUSY;
		} else if ((r.status = clt_check_socket(fds[0])) == 0) {
			memcpy(&copy, rq, sizeof(copy));
			r.status = bpf_tagger_register(bt, c->proc, copy.slot, copy.gen, fds[0]);
			if (r.status == 0)
				++*tagged;
		} else {
			++*rejected;
		}
		return send_answer(sock, &r, sizeof(r), -1);
	}
}

void tag_bpf_release(struct bpf_tagger *bt, struct tag_bpf_conn *c)
{
	if (bt != NULL && c->has_array)
		bpf_tagger_release(bt, c->proc);
	c->has_array = false;
}
