// SPDX-License-Identifier: MIT
/*
 * Two pipes, one per direction, blocking read() and write(): the oldest
 * IPC there is, and what `perf bench sched pipe` measures, so its row
 * doubles as a check of this suite against perf's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "bench.h"

struct pipes {
	int fd[2][2]; /* fd[d] carries side d's messages: [0] read end */
};

static int pp_setup(struct chan *ch)
{
	struct pipes *p = malloc(sizeof(*p));
	int d;

	if (!p)
		return bench_fail("malloc");
	for (d = 0; d < 2; d++)
		p->fd[d][0] = p->fd[d][1] = -1;
	ch->priv = p;
	for (d = 0; d < 2; d++)
		if (pipe2(p->fd[d], O_CLOEXEC))
			return bench_fail("pipe2");
	return 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int pp_attach(struct chan *ch, int side)
{
	struct pipes *p = ch->priv;

	/* keep the write end of our direction, the read end of theirs */
	close_fd(&p->fd[side][0]);
	close_fd(&p->fd[!side][1]);
	return 0;
}

static int pp_send(struct chan *ch, const void *msg, size_t len)
{
	struct pipes *p = ch->priv;
	const char *b = msg;

	while (len) {
		ssize_t n = write(p->fd[ch->side][1], b, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return bench_fail("write to pipe");
		}
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

static int pp_recv(struct chan *ch, void *buf, size_t len)
{
	struct pipes *p = ch->priv;
	char *b = buf;

	while (len) {
		ssize_t n = read(p->fd[!ch->side][0], b, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return bench_fail("read from pipe");
		}
		if (n == 0)
			return bench_failx("peer closed the pipe");
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

static int pp_teardown(struct chan *ch)
{
	struct pipes *p = ch->priv;
	int d;

	if (!p)
		return 0;
	for (d = 0; d < 2; d++) {
		close_fd(&p->fd[d][0]);
		close_fd(&p->fd[d][1]);
	}
	free(p);
	ch->priv = NULL;
	return 0;
}

const struct mech mech_pipe = {
	.name = "pipe",
	.label = "pipe",
	.note = "two pipes, blocking read()/write()",
	.setup = pp_setup,
	.attach = pp_attach,
	.send = pp_send,
	.recv = pp_recv,
	.teardown = pp_teardown,
};
