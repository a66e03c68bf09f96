// SPDX-License-Identifier: MIT
/*
 * TLB reach: after the owner unmaps, write-protects or loses (reclaim) a
 * page, no CPU running the viewer reaches the old translation.
 *
 * The viewer (A) caches the translation, then keeps running on its CPU
 * (spinning on a flag in a shared page, no syscall, no context switch)
 * while the owner (B, on the other CPU) changes its page table; only a
 * flush forwarded to A's CPU can remove A's entry. Under QEMU's TCG a
 * context switch flushes the whole soft TLB, which would hide a missing
 * flush: hence no blocking between A's two accesses.
 */
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>

#include "peer.h"
#include "vmtest.h"

#define PAGE 4096UL
#define ROUNDS 40

FIXTURE(tlb)
{
	volatile uint64_t *flag;
	int fd;
	struct rpal_register me;
	struct peer b;
};

FIXTURE_SETUP(tlb)
{
	cpu_set_t set;

	/* Before registering: outside the slot, shared with B by fork. */
	self->flag = shared_flag_page();
	ASSERT_TRUE(self->flag != NULL);
	self->fd = self_register(&self->me);
	ASSERT_GE(self->fd, 0);
	ASSERT_EQ(peer_spawn(&self->b), 0);
	ASSERT_EQ(peer_link(self->fd, &self->me, &self->b), 0);
	pkey_open(self->b.reg.pkey);
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	sched_setaffinity(0, sizeof(set), &set);
	CPU_ZERO(&set);
	CPU_SET(1, &set);
	sched_setaffinity(self->b.pid, sizeof(set), &set);
}

FIXTURE_TEARDOWN(tlb)
{
	peer_kill(&self->b);
	close(self->fd);
}

/* Spin until B has stored @v: A's CPU never leaves this process. */
static void wait_flag(volatile uint64_t *flag, uint64_t v)
{
	while (__atomic_load_n(flag, __ATOMIC_ACQUIRE) != v)
		__builtin_ia32_pause();
}

static int64_t map_filled(struct rpal_test *_t, struct peer *b, uint64_t seed)
{
	int64_t pb = peer_cmd(b, PEER_MMAP, PAGE, PROT_READ | PROT_WRITE, 0);

	ASSERT_GT(pb, 0);
	ASSERT_EQ(peer_cmd(b, PEER_FILL, pb, PAGE, seed), 0);
	return pb;
}

TEST_F(tlb, unmapped_page_unreachable)
{
	for (uint64_t r = 1; r <= ROUNDS; r++) {
		int64_t pb = map_filled(_t, &self->b, r);
		int code;

		ASSERT_TRUE(pattern_check((void *)(uintptr_t)pb, PAGE, r));
		ASSERT_EQ(peer_send(&self->b, PEER_MUNMAP, pb, PAGE, 0), 0);
		ASSERT_EQ(peer_send(&self->b, PEER_SET, (uintptr_t)self->flag,
				    r, 0),
			  0);
		wait_flag(self->flag, r);
		ASSERT_EQ(probe_read((void *)(uintptr_t)pb, &code, NULL),
			  SIGSEGV);
		ASSERT_EQ(peer_recv(&self->b), 0);
		ASSERT_EQ(peer_recv(&self->b), 0);
	}
}

TEST_F(tlb, write_protected_page_unwritable)
{
	for (uint64_t r = 1; r <= ROUNDS; r++) {
		int64_t pb = map_filled(_t, &self->b, r);
		volatile char *c = (volatile char *)(uintptr_t)pb;
		int code;

		c[8] = 1; /* a writable translation, cached */
		ASSERT_EQ(
			peer_send(&self->b, PEER_MPROTECT, pb, PAGE, PROT_READ),
			0);
		ASSERT_EQ(peer_send(&self->b, PEER_SET, (uintptr_t)self->flag,
				    r, 0),
			  0);
		wait_flag(self->flag, r);
		ASSERT_EQ(probe_write(c + 8, &code, NULL), SIGSEGV);
		ASSERT_EQ(c[8], 1);
		ASSERT_EQ(peer_recv(&self->b), 0);
		ASSERT_EQ(peer_recv(&self->b), 0);
		ASSERT_EQ(peer_cmd(&self->b, PEER_MUNMAP, pb, PAGE, 0), 0);
	}
}

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

TEST_F(tlb, reclaimed_frame_unreachable)
{
	int moved = 0;

	if (!swap_on())
		SKIP("no swap device in this guest");
	for (uint64_t r = 1; r <= ROUNDS; r++) {
		int64_t pb = map_filled(_t, &self->b, 2 * r);
		const volatile uint64_t *w = (const uint64_t *)(uintptr_t)pb;
		int64_t pfn0 = peer_cmd(&self->b, PEER_PFN, pb, 0, 0), pfn1;

		ASSERT_EQ(w[0], pattern_word(2 * r, 0)); /* cached */
		/* Swapped out, the frame reused, the page written again. */
		ASSERT_EQ(peer_send(&self->b, PEER_PAGEOUT, pb, PAGE, 0), 0);
		ASSERT_EQ(peer_send(&self->b, PEER_CHURN, 64 * PAGE, 0, 0), 0);
		ASSERT_EQ(peer_send(&self->b, PEER_FILL, pb, PAGE, 2 * r + 1),
			  0);
		ASSERT_EQ(peer_send(&self->b, PEER_SET, (uintptr_t)self->flag,
				    r, 0),
			  0);
		wait_flag(self->flag, r);
		/* A sees the new frame's data, not the old frame. */
		ASSERT_EQ(w[0], pattern_word(2 * r + 1, 0));
		ASSERT_EQ(peer_recv(&self->b), 1);
		ASSERT_EQ(peer_recv(&self->b), 0);
		ASSERT_EQ(peer_recv(&self->b), 0);
		ASSERT_EQ(peer_recv(&self->b), 0);
		pfn1 = peer_cmd(&self->b, PEER_PFN, pb, 0, 0);
		moved += pfn1 != pfn0;
	}
	printf("# the frame changed in %d of %d rounds\n", moved, ROUNDS);
	EXPECT_GT(moved, ROUNDS * 3 / 4);
}
