// SPDX-License-Identifier: MIT
/*
 * epoll + AF_UNIX stream: the seed's baseline and the reference of every
 * ratio. Each end is a non-blocking socket watched by its own epoll
 * instance, level-triggered, the way an event-loop server is written:
 * wait in epoll_wait(), then read what is there.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

struct epoll_uds {
	int sk[2]; /* sk[d] is side d's end of the socket pair */
	int ep;
};

static int eu_setup(struct chan *ch)
{
	struct epoll_uds *p = calloc(1, sizeof(*p));

	if (!p)
		return bench_fail("calloc");
	p->ep = -1;
	ch->priv = p;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p->sk)) {
		p->sk[0] = p->sk[1] = -1;
		return bench_fail("socketpair(AF_UNIX, SOCK_STREAM)");
	}
	return 0;
}

static int eu_attach(struct chan *ch, int side)
{
	struct epoll_uds *p = ch->priv;
	struct epoll_event ev = { .events = EPOLLIN };
	int fd = p->sk[side];

	close(p->sk[!side]);
	p->sk[!side] = -1;
	if (fcntl(fd, F_SETFL, O_NONBLOCK))
		return bench_fail("fcntl(O_NONBLOCK)");
	p->ep = epoll_create1(EPOLL_CLOEXEC);
	if (p->ep < 0)
		return bench_fail("epoll_create1");
	ev.data.fd = fd;
	if (epoll_ctl(p->ep, EPOLL_CTL_ADD, fd, &ev))
		return bench_fail("epoll_ctl(ADD)");
	return 0;
}

/* A full socket buffer is rare here; wait for room without epoll_ctl. */
static int wait_writable(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };

	while (poll(&pfd, 1, -1) < 0)
		if (errno != EINTR)
			return bench_fail("poll(POLLOUT)");
	return 0;
}

static int eu_send(struct chan *ch, const void *msg, size_t len)
{
	struct epoll_uds *p = ch->priv;
	const char *b = msg;
	int fd = p->sk[ch->side];

	while (len) {
		ssize_t n = write(fd, b, len);

		if (n > 0) {
			b += n;
			len -= (size_t)n;
		} else if (n < 0 && errno == EAGAIN) {
			if (wait_writable(fd))
				return -1;
		} else if (n < 0 && errno != EINTR) {
			return bench_fail("write to AF_UNIX socket");
		}
	}
	return 0;
}

static int eu_recv(struct chan *ch, void *buf, size_t len)
{
	struct epoll_uds *p = ch->priv;
	struct epoll_event ev;
	char *b = buf;
	int fd = p->sk[ch->side];

	while (len) {
		int ne = epoll_wait(p->ep, &ev, 1, -1);
		ssize_t n;

		if (ne < 0) {
			if (errno == EINTR)
				continue;
			return bench_fail("epoll_wait");
		}
		/* drain what arrived; a large message may need more waits */
		while (len) {
			n = read(fd, b, len);
			if (n > 0) {
				b += n;
				len -= (size_t)n;
			} else if (n == 0) {
				return bench_failx("peer closed the socket");
			} else if (errno == EAGAIN) {
				break;
			} else if (errno != EINTR) {
				return bench_fail("read from AF_UNIX socket");
			}
		}
	}
	return 0;
}

static int eu_teardown(struct chan *ch)
{
	struct epoll_uds *p = ch->priv;
	int d;

	if (!p)
		return 0;
	for (d = 0; d < 2; d++)
		if (p->sk[d] >= 0)
			close(p->sk[d]);
	if (p->ep >= 0)
		close(p->ep);
	free(p);
	ch->priv = NULL;
	return 0;
}

const struct mech mech_epoll_uds = {
	.name = "epoll_uds",
	.label = "epoll + AF_UNIX",
	.note = "SOCK_STREAM socketpair, non-blocking, level-triggered "
		"epoll_wait() then read() (2 syscalls per receive)",
	.setup = eu_setup,
	.attach = eu_attach,
	.send = eu_send,
	.recv = eu_recv,
	.teardown = eu_teardown,
};
