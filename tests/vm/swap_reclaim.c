// SPDX-License-Identifier: MIT
/*
 * The owner's pages swapped out (zram swap in the VM): a viewer's access
 * swaps them in, in the owner's mm. (That a reclaimed frame is not
 * reached through a stale translation is in tlb_reach.c.)
 */
#include <sched.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "peer.h"
#include "vmtest.h"

#define PAGE 4096UL

static bool swap_on(void)
{
	char line[256];
	bool on = false;
	FILE *f = fopen("/proc/swaps", "r");

	while (f && fgets(line, sizeof(line), f))
		on |= !strncmp(line, "/dev/", 5);
	if (f)
		fclose(f);
	return on;
}

FIXTURE(pair)
{
	int fd;
	struct rpal_register me;
	struct peer b;
};

FIXTURE_SETUP(pair)
{
	cpu_set_t set;

	if (!swap_on())
		SKIP("no swap device in this guest");
	self->fd = self_register(&self->me);
	ASSERT_GE(self->fd, 0);
	ASSERT_EQ(peer_spawn(&self->b), 0);
	ASSERT_EQ(peer_link(self->fd, &self->me, &self->b), 0);
	pkey_open(self->b.reg.pkey);
	/*
	 * B on one CPU: madvise(MADV_PAGEOUT) drains only the local CPU's
	 * LRU batch, and pages still in another CPU's batch cannot be
	 * isolated for reclaim.
	 */
	CPU_ZERO(&set);
	CPU_SET(1, &set);
	sched_setaffinity(self->b.pid, sizeof(set), &set);
}

FIXTURE_TEARDOWN(pair)
{
	peer_kill(&self->b);
	if (self->fd > 0)
		close(self->fd);
}

TEST_F(pair, swapped_out_pages_fault_in_owner)
{
	int64_t pb = peer_cmd(&self->b, PEER_MMAP, 16 * PAGE,
			      PROT_READ | PROT_WRITE, 0);

	ASSERT_GT(pb, 0);
	ASSERT_EQ(peer_cmd(&self->b, PEER_FILL, pb, 16 * PAGE, 1), 0);
	/* All sixteen are in swap now, not in memory. */
	ASSERT_EQ(peer_cmd(&self->b, PEER_PAGEOUT, pb, 16 * PAGE, 0), 16);
	ASSERT_EQ(peer_cmd(&self->b, PEER_PFN, pb, 0, 0), -1);
	/* A reads them: swapped in, in B's mm, intact. */
	ASSERT_TRUE(pattern_check((void *)(uintptr_t)pb, 16 * PAGE, 1));
	ASSERT_GT(peer_cmd(&self->b, PEER_PFN, pb, 0, 0), 0);
	/* And A's writes to swapped-out pages stick. */
	ASSERT_EQ(peer_cmd(&self->b, PEER_PAGEOUT, pb, 16 * PAGE, 0), 16);
	pattern_fill((void *)(uintptr_t)pb, 16 * PAGE, 2);
	ASSERT_EQ(peer_cmd(&self->b, PEER_CHECK, pb, 16 * PAGE, 2), 1);
}
