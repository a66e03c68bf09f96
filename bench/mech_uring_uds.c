// SPDX-License-Identifier: MIT
/*
 * io_uring over an AF_UNIX stream socket pair, with liburing. Batching is
 * the point of io_uring, so a send is only queued and goes to the kernel
 * in the same io_uring_enter() as the receive that follows it, linked so
 * the receive cannot start (and reuse the buffer) before the send is done:
 * one syscall per message and direction, against epoll's two or three.
 */
#include "bench.h"

#ifdef RPAL_BENCH_HAVE_URING
#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { TAG_SEND = 1, TAG_RECV };

struct uring_uds {
	int sk[2];
	bool ring_up;
	struct io_uring ring;
	const char *out; /* queued send, not yet accepted by the kernel */
	size_t out_len;
};

/*
 * DEFER_TASKRUN runs completions only when this task enters the kernel
 * to wait, which is what a single-threaded loop wants; kernels before
 * 6.1 refuse it, and then the plain setup is the idiomatic one.
 */
static int ring_init(struct io_uring *ring)
{
	struct io_uring_params prm;
	int ret;

	memset(&prm, 0, sizeof(prm));
	prm.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	ret = io_uring_queue_init_params(8, ring, &prm);
	if (ret == -EINVAL)
		ret = io_uring_queue_init(8, ring, 0);
	return ret;
}

static const char *ur_unavailable(void)
{
	struct io_uring ring;
	int ret = ring_init(&ring);

	if (ret < 0)
		return strerror(-ret);
	io_uring_queue_exit(&ring);
	return NULL;
}

static int ur_setup(struct chan *ch)
{
	struct uring_uds *p = calloc(1, sizeof(*p));

	if (!p)
		return bench_fail("calloc");
	ch->priv = p;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p->sk)) {
		p->sk[0] = p->sk[1] = -1;
		return bench_fail("socketpair(AF_UNIX, SOCK_STREAM)");
	}
	return 0;
}

static int ur_attach(struct chan *ch, int side)
{
	struct uring_uds *p = ch->priv;
	int ret;

	close(p->sk[!side]);
	p->sk[!side] = -1;
	/* after fork: a ring is not meant to be shared by two processes */
	ret = ring_init(&p->ring);
	if (ret < 0) {
		errno = -ret;
		return bench_fail("io_uring_queue_init");
	}
	p->ring_up = true;
	return 0;
}

static int reap(struct uring_uds *p, size_t *got)
{
	struct io_uring_cqe *cqe;
	unsigned long long tag;
	int ret, res;

	do
		ret = io_uring_wait_cqe(&p->ring, &cqe);
	while (ret == -EINTR);
	if (ret < 0) {
		errno = -ret;
		return bench_fail("io_uring_wait_cqe");
	}
	res = cqe->res;
	tag = cqe->user_data;
	io_uring_cqe_seen(&p->ring, cqe);
	if (tag == TAG_SEND) {
		if (res < 0) {
			errno = -res;
			return bench_fail("io_uring send");
		}
		p->out += res;
		p->out_len -= (size_t)res;
		return 0;
	}
	/* a short send breaks the link: the receive is simply reposted */
	if (res == -ECANCELED && p->out_len)
		return 0;
	if (res < 0) {
		errno = -res;
		return bench_fail("io_uring recv");
	}
	if (res == 0)
		return bench_failx("peer closed the socket");
	*got += (size_t)res;
	return 0;
}

/* Complete the queued send, and receive @len bytes if @len is not 0. */
static int ur_recv(struct chan *ch, void *buf, size_t len)
{
	struct uring_uds *p = ch->priv;
	int fd = p->sk[ch->side];
	size_t got = 0;

	while (got < len || p->out_len) {
		struct io_uring_sqe *sqe;
		unsigned int want = 0;
		int ret;

		if (p->out_len) {
			sqe = io_uring_get_sqe(&p->ring);
			if (!sqe)
				return bench_failx("io_uring: no free SQE");
			io_uring_prep_send(sqe, fd, p->out, p->out_len,
					   MSG_NOSIGNAL);
			sqe->user_data = TAG_SEND;
			if (got < len)
				sqe->flags |= IOSQE_IO_LINK;
			want++;
		}
		if (got < len) {
			sqe = io_uring_get_sqe(&p->ring);
			if (!sqe)
				return bench_failx("io_uring: no free SQE");
			io_uring_prep_recv(sqe, fd, (char *)buf + got,
					   len - got, MSG_WAITALL);
			sqe->user_data = TAG_RECV;
			want++;
		}
		ret = io_uring_submit_and_wait(&p->ring, want);
		if (ret < 0) {
			errno = -ret;
			return bench_fail("io_uring_submit_and_wait");
		}
		while (want--)
			if (reap(p, &got))
				return -1;
	}
	return 0;
}

static int ur_send(struct chan *ch, const void *msg, size_t len)
{
	struct uring_uds *p = ch->priv;

	/* two sends in a row: the first must reach the kernel first */
	if (p->out_len && ur_recv(ch, NULL, 0))
		return -1;
	p->out = msg;
	p->out_len = len;
	return 0;
}

static int ur_teardown(struct chan *ch)
{
	struct uring_uds *p = ch->priv;
	int d, ret = 0;

	if (!p)
		return 0;
	if (p->ring_up) {
		/* the last message of a run may still be queued */
		if (p->out_len)
			ret = ur_recv(ch, NULL, 0);
		io_uring_queue_exit(&p->ring);
	}
	for (d = 0; d < 2; d++)
		if (p->sk[d] >= 0)
			close(p->sk[d]);
	free(p);
	ch->priv = NULL;
	return ret;
}

#else
/* Built without liburing: the row stays, and says why it is empty. */
static const char *ur_unavailable(void)
{
	return "rpal-bench was built without liburing";
}
#endif

const struct mech mech_uring_uds = {
	.name = "uring_uds",
	.label = "io_uring + AF_UNIX",
	.note = "liburing send linked to the next recv (MSG_WAITALL), one "
		"io_uring_enter() per hop, DEFER_TASKRUN when available",
	.unavailable = ur_unavailable,
#ifdef RPAL_BENCH_HAVE_URING
	.setup = ur_setup,
	.attach = ur_attach,
	.send = ur_send,
	.recv = ur_recv,
	.teardown = ur_teardown,
#endif
};
