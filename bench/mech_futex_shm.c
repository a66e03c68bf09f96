// SPDX-License-Identifier: MIT
/*
 * futex + shared memory: the ring's tail counter is the futex word. The
 * receiver sleeps in FUTEX_WAIT until the tail moves; the sender calls
 * FUTEX_WAKE only when the receiver said it may be asleep, which is how
 * a futex-based queue is meant to skip the syscall when nobody waits.
 * No spinning before sleeping: a blocking mechanism measured blocking.
 */
#include <errno.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench.h"
#include "shm_ring.h"

struct futex_shm {
	struct shm_pair sp;
};

/* Shared futexes (no FUTEX_PRIVATE_FLAG): the waiters are processes. */
static long futex(uint32_t *uaddr, int op, uint32_t val)
{
	return syscall(SYS_futex, uaddr, op, val, NULL, NULL, 0);
}

static int fs_setup(struct chan *ch)
{
	struct futex_shm *p = calloc(1, sizeof(*p));

	if (!p)
		return bench_fail("calloc");
	ch->priv = p;
	return shm_pair_map(&p->sp, ch->max_msg);
}

static int fs_attach(struct chan *ch, int side)
{
	(void)ch;
	(void)side;
	return 0;
}

static int fs_send(struct chan *ch, const void *msg, size_t len)
{
	struct futex_shm *p = ch->priv;
	struct ring *r = p->sp.ring[ch->side];

	if (ring_put(r, msg, len))
		return -1;
	if (__atomic_load_n(&r->waiting, __ATOMIC_SEQ_CST) &&
	    futex(&r->tail, FUTEX_WAKE, 1) < 0)
		return bench_fail("futex(FUTEX_WAKE)");
	return 0;
}

static int fs_recv(struct chan *ch, void *buf, size_t len)
{
	struct futex_shm *p = ch->priv;
	struct ring *r = p->sp.ring[!ch->side];

	while (!ring_ready(r)) {
		uint32_t tail;

		__atomic_store_n(&r->waiting, 1, __ATOMIC_SEQ_CST);
		tail = __atomic_load_n(&r->tail, __ATOMIC_SEQ_CST);
		/* the kernel rechecks tail: a publish in between is no loss */
		if (tail == r->head && futex(&r->tail, FUTEX_WAIT, tail) < 0 &&
		    errno != EAGAIN && errno != EINTR)
			return bench_fail("futex(FUTEX_WAIT)");
		__atomic_store_n(&r->waiting, 0, __ATOMIC_RELAXED);
	}
	return ring_get(r, buf, len);
}

static int fs_teardown(struct chan *ch)
{
	struct futex_shm *p = ch->priv;
	int ret;

	if (!p)
		return 0;
	ret = shm_pair_unmap(&p->sp);
	free(p);
	ch->priv = NULL;
	return ret;
}

const struct mech mech_futex_shm = {
	.name = "futex_shm",
	.label = "futex + shm",
	.note = "shared ring, tail counter as futex word, FUTEX_WAKE only "
		"when the receiver announced it may sleep",
	.setup = fs_setup,
	.attach = fs_attach,
	.send = fs_send,
	.recv = fs_recv,
	.teardown = fs_teardown,
};
