// SPDX-License-Identifier: MIT
/*
 * eventfd + shared memory: the payload goes through the shared ring, the
 * kernel only carries the doorbell. The sender rings on every message and
 * the receiver blocks in read() on the eventfd: no spinning, no shortcut
 * when the ring is already full, so this is the blocking cost of a
 * doorbell syscall pair plus one copy each way.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "bench.h"
#include "shm_ring.h"

struct efd_shm {
	struct shm_pair sp;
	int efd[2];	  /* efd[d] rings for ring[d] */
	uint64_t credits; /* doorbells read but not yet consumed */
};

static int es_setup(struct chan *ch)
{
	struct efd_shm *p = calloc(1, sizeof(*p));
	int d;

	if (!p)
		return bench_fail("calloc");
	p->efd[0] = p->efd[1] = -1;
	ch->priv = p;
	if (shm_pair_map(&p->sp, ch->max_msg))
		return -1;
	for (d = 0; d < 2; d++) {
		p->efd[d] = eventfd(0, EFD_CLOEXEC);
		if (p->efd[d] < 0)
			return bench_fail("eventfd");
	}
	return 0;
}

static int es_attach(struct chan *ch, int side)
{
	(void)ch;
	(void)side;
	/* each end writes one eventfd and reads the other: keep both */
	return 0;
}

static int es_send(struct chan *ch, const void *msg, size_t len)
{
	struct efd_shm *p = ch->priv;
	uint64_t one = 1;

	if (ring_put(p->sp.ring[ch->side], msg, len))
		return -1;
	while (write(p->efd[ch->side], &one, sizeof(one)) < 0)
		if (errno != EINTR)
			return bench_fail("write to eventfd");
	return 0;
}

static int es_recv(struct chan *ch, void *buf, size_t len)
{
	struct efd_shm *p = ch->priv;
	int from = !ch->side;

	while (!p->credits) {
		ssize_t n = read(p->efd[from], &p->credits, sizeof(p->credits));

		if (n == sizeof(p->credits))
			break;
		p->credits = 0;
		if (n < 0 && errno != EINTR)
			return bench_fail("read from eventfd");
	}
	p->credits--;
	return ring_get(p->sp.ring[from], buf, len);
}

static int es_teardown(struct chan *ch)
{
	struct efd_shm *p = ch->priv;
	int d, ret;

	if (!p)
		return 0;
	for (d = 0; d < 2; d++)
		if (p->efd[d] >= 0)
			close(p->efd[d]);
	ret = shm_pair_unmap(&p->sp);
	free(p);
	ch->priv = NULL;
	return ret;
}

const struct mech mech_eventfd_shm = {
	.name = "eventfd_shm",
	.label = "eventfd + shm",
	.note = "shared ring for the data, eventfd write()/blocking read() "
		"as the doorbell on every message",
	.setup = es_setup,
	.attach = es_attach,
	.send = es_send,
	.recv = es_recv,
	.teardown = es_teardown,
};
