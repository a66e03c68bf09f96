// SPDX-License-Identifier: MIT
/*
 * A bounded fuzzer of the ioctl surface: random command words, sizes,
 * flags, fields and pointers (NULL, unmapped, kernel, read-only, straddling
 * a page end), against a registered and an unregistered fd, with a real
 * peer to aim requests at. The kernel must stay clean (the runner checks
 * the log) and the device must work afterwards.
 */
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#include "peer.h"
#include "vmtest.h"

#define FUZZ_SECONDS 10

static uint64_t rng_state;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static const unsigned int real_cmds[] = { RPAL_IOC_VERSION, RPAL_IOC_REGISTER,
					  RPAL_IOC_UNREGISTER, RPAL_IOC_REQUEST,
					  RPAL_IOC_RELEASE };

TEST_T(fuzz_ioctls, 120)
{
	long page = sysconf(_SC_PAGESIZE);
	char *rw = mmap(NULL, 3 * page, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct rpal_register me;
	struct rpal_version v;
	struct peer b;
	time_t end;
	long calls = 0, ok = 0;
	int fds[2];

	ASSERT_NE(rw, MAP_FAILED);
	/* rw: page 0 read-write, page 1 read-only, page 2 unmapped. */
	ASSERT_OK(mprotect(rw + page, page, PROT_READ));
	ASSERT_OK(munmap(rw + 2 * page, page));
	ASSERT_EQ(peer_spawn(&b), 0);
	fds[0] = self_register(&me);
	ASSERT_GE(fds[0], 0);
	fds[1] = rpal_open();
	ASSERT_GE(fds[1], 0);

	rng_state = (uint64_t)time(NULL) | 1;
	printf("# seed %#llx\n", (unsigned long long)rng_state);
	end = time(NULL) + FUZZ_SECONDS;
	while (time(NULL) < end) {
		unsigned int cmd;
		void *arg;
		uint64_t r = rnd();

		/* Half the time a real command word, else anything. */
		if (r & 1)
			cmd = real_cmds[(r >> 1) % 5];
		else
			cmd = (unsigned int)(rnd() & 0xffffffffu);
		/* A struct with plausible parts: size, ids, tokens, fds. */
		for (size_t i = 0; i < (size_t)page / 8; i++)
			((uint64_t *)rw)[i] = rnd() & 3 ? 0 : rnd();
		((uint32_t *)rw)[0] =
			(uint32_t)(rnd() % 4 ? _IOC_SIZE(cmd) + rnd() % 3 * 8
					     : rnd() % 8192);
		if (!(rnd() % 3)) {
			((uint32_t *)rw)[2] = b.reg.id; /* peer_id */
			((int32_t *)rw)[3] = (int32_t)(rnd() % 6) - 1; /* fd */
		}
		switch (rnd() % 8) {
		case 0:
			arg = NULL;
			break;
		case 1:
			arg = rw + page - (rnd() % 64); /* into read-only */
			break;
		case 2:
			arg = rw + 2 * page - (rnd() % 64); /* into unmapped */
			break;
		case 3:
			arg = (void *)(uintptr_t)(0xffff800000000000ULL |
						  rnd());
			break;
		case 4:
			arg = (void *)(uintptr_t)rnd();
			break;
		default:
			arg = rw + (rnd() % 64) * 8;
			break;
		}
		if (!ioctl(fds[rnd() & 1], cmd, arg))
			ok++;
		calls++;
		/* Reads and polls with junk, too. */
		if (!(rnd() % 64)) {
			struct rpal_event ev[2];
			int f = fds[rnd() & 1];

			fcntl(f, F_SETFL, O_NONBLOCK);
			if (read(f, rnd() & 1 ? (void *)ev : rw + 2 * page,
				 rnd() % 64) < 0) {
				/* expected mostly */
			}
		}
	}
	printf("# %ld calls, %ld succeeded\n", calls, ok);
	/* Still a working device. */
	ASSERT_OK(rpal_version(fds[0], &v));
	ASSERT_EQ(v.api, RPAL_API_VERSION);
	peer_kill(&b);
	close(fds[0]);
	close(fds[1]);
}
