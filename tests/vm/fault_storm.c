// SPDX-License-Identifier: MIT
/*
 * A and B fault on each other's never-touched pages at the same time,
 * 10,000 rounds' worth, on two CPUs: no deadlock, no lost write.
 */
#include <sched.h>
#include <sys/mman.h>

#include "peer.h"
#include "vmtest.h"

#define PAGE 4096UL
#define PAGES_PER_ROUND 100
#define ROUNDS 100

TEST_T(mutual_faults_10000, 240)
{
	const size_t len = PAGES_PER_ROUND * PAGE;
	struct rpal_register me;
	struct peer b;
	cpu_set_t set;
	int fd = self_register(&me);

	ASSERT_GE(fd, 0);
	ASSERT_EQ(peer_spawn(&b), 0);
	ASSERT_EQ(peer_link(fd, &me, &b), 0);
	pkey_open(b.reg.pkey);
	ASSERT_EQ(peer_cmd(&b, PEER_PKEY, me.pkey, 1, 0), 0);
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	sched_setaffinity(0, sizeof(set), &set);
	CPU_ZERO(&set);
	CPU_SET(1, &set);
	sched_setaffinity(b.pid, sizeof(set), &set);

	for (int round = 0; round < ROUNDS; round++) {
		char *ra = mmap(NULL, len, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		int64_t rb =
			peer_cmd(&b, PEER_MMAP, len, PROT_READ | PROT_WRITE, 0);

		ASSERT_NE(ra, MAP_FAILED);
		ASSERT_GT(rb, 0);
		/* Both at once: B writes all of A's new pages, A B's. */
		ASSERT_EQ(peer_send(&b, PEER_WRITE, (uintptr_t)ra, len,
				    round + 1),
			  0);
		memset((void *)(uintptr_t)rb, round + 2, len);
		ASSERT_EQ(peer_recv(&b), 0);
		for (size_t off = 0; off < len; off += PAGE) {
			ASSERT_EQ(ra[off], (char)(round + 1));
			ASSERT_EQ(((char *)(uintptr_t)rb)[off],
				  (char)(round + 2));
		}
		ASSERT_OK(munmap(ra, len));
		ASSERT_EQ(peer_cmd(&b, PEER_MUNMAP, (uint64_t)rb, len, 0), 0);
	}
	printf("# %d faults each way\n", ROUNDS * PAGES_PER_ROUND);
	peer_kill(&b);
	close(fd);
}
