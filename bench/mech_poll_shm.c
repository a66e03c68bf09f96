// SPDX-License-Identifier: MIT
/*
 * A busy-polling shared-memory ring: the receiver spins on the tail with
 * no syscall at all. This is the throughput ceiling of plain shared
 * memory and its price is a core burnt per waiting process, which the
 * report shows as CPU time per message.
 *
 * Spinning on a core another process of the run needs only delays that
 * process until the scheduler preempts the spinner, so a waiter that
 * shares its CPU yields instead: those rows measure sched_yield()
 * hand-offs, and say so.
 */
#include <sched.h>
#include <stdlib.h>

#include "bench.h"
#include "shm_ring.h"

struct poll_shm {
	struct shm_pair sp;
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static int ps_setup(struct chan *ch)
{
	struct poll_shm *p = calloc(1, sizeof(*p));

	if (!p)
		return bench_fail("calloc");
	ch->priv = p;
	return shm_pair_map(&p->sp, ch->max_msg);
}

static int ps_attach(struct chan *ch, int side)
{
	(void)ch;
	(void)side;
	return 0;
}

static int ps_send(struct chan *ch, const void *msg, size_t len)
{
	struct poll_shm *p = ch->priv;

	return ring_put(p->sp.ring[ch->side], msg, len);
}

static int ps_recv(struct chan *ch, void *buf, size_t len)
{
	struct poll_shm *p = ch->priv;
	struct ring *r = p->sp.ring[!ch->side];

	while (!ring_ready(r)) {
		if (ch->cpu_shared)
			sched_yield();
		else
			cpu_relax();
	}
	return ring_get(r, buf, len);
}

static int ps_teardown(struct chan *ch)
{
	struct poll_shm *p = ch->priv;
	int ret;

	if (!p)
		return 0;
	ret = shm_pair_unmap(&p->sp);
	free(p);
	ch->priv = NULL;
	return ret;
}

const struct mech mech_poll_shm = {
	.name = "poll_shm",
	.label = "polling shm ring",
	.note = "shared ring, receiver spins on the tail (PAUSE); on a "
		"shared CPU it calls sched_yield() instead of spinning",
	.flags = MECH_POLLING,
	.setup = ps_setup,
	.attach = ps_attach,
	.send = ps_send,
	.recv = ps_recv,
	.teardown = ps_teardown,
};
