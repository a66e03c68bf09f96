// SPDX-License-Identifier: MIT
/*
 * Either side dying at any moment: the other keeps running, gets an error
 * (a signal) instead of a splat or a corrupted page, and is told through
 * its fd which peer died.
 */
#include <poll.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include "peer.h"
#include "vmtest.h"

#define PAGE 4096UL

static int linked_pair(struct rpal_test *_t, struct rpal_register *me,
		       struct peer *b)
{
	int fd = self_register(me);

	ASSERT_GE(fd, 0);
	ASSERT_EQ(peer_spawn(b), 0);
	ASSERT_EQ(peer_link(fd, me, b), 0);
	pkey_open(b->reg.pkey);
	ASSERT_EQ(peer_cmd(b, PEER_PKEY, me->pkey, 1, 0), 0);
	return fd;
}

static struct rpal_event read_event(struct rpal_test *_t, int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	struct rpal_event ev;

	/* The next event that is not "link active" (linking queues those). */
	do {
		ASSERT_EQ(poll(&pfd, 1, 5000), 1);
		ASSERT_TRUE(pfd.revents & POLLIN);
		ASSERT_EQ(read(fd, &ev, sizeof(ev)), (ssize_t)sizeof(ev));
	} while (ev.type == RPAL_EVENT_PEER_ACTIVE);
	return ev;
}

TEST(owner_killed_while_viewer_reads)
{
	struct rpal_register me;
	struct peer b;
	int fd = linked_pair(_t, &me, &b), sig, code;
	char *pb = (char *)(uintptr_t)peer_cmd(&b, PEER_MMAP, 64 * PAGE,
					       PROT_READ | PROT_WRITE, 0);
	pid_t killer, bpid = b.pid;
	long reads = 0;
	struct rpal_event ev;

	ASSERT_EQ(peer_cmd(&b, PEER_FILL, (uintptr_t)pb, 64 * PAGE, 1), 0);
	killer = fork();
	ASSERT_GE(killer, 0);
	if (killer == 0) {
		usleep(200 * 1000);
		kill(bpid, SIGKILL);
		_exit(0);
	}
	/* Read B's memory until B is gone: every read sees intact data. */
	for (;;) {
		size_t page = reads % 64;
		const uint64_t *w = (const uint64_t *)(pb + page * PAGE);
		uint64_t want = pattern_word(1, page * PAGE / 8), got;

		sig = probe_read(w, &code, NULL);
		if (sig)
			break;
		got = w[0];
		if (got != want) {
			TH_LOG("read %ld page %zu: %#llx, want %#llx", reads,
			       page, (unsigned long long)got,
			       (unsigned long long)want);
			ASSERT_TRUE(0);
		}
		reads++;
	}
	EXPECT_EQ(sig, SIGSEGV);
	EXPECT_EQ(code, SEGV_MAPERR);
	printf("# %ld reads before the owner died\n", reads);
	waitpid(killer, NULL, 0);
	waitpid(bpid, NULL, 0);
	b.pid = 0;
	ev = read_event(_t, fd);
	EXPECT_EQ(ev.type, RPAL_EVENT_PEER_DIED);
	EXPECT_EQ(ev.peer_id, b.reg.id);
	EXPECT_EQ(ev.peer_pid, (uint32_t)bpid);
	peer_kill(&b);
	close(fd);
}

/*
 * The viewer (a forked C) keeps faulting on never-touched pages of the
 * owner (this process) and is killed at a random moment, many times.
 */
TEST_T(viewer_killed_mid_fault, 240)
{
	const size_t len = 1024 * PAGE;
	struct rpal_register me;
	int fd = self_register(&me);
	char *mine;

	ASSERT_GE(fd, 0);
	srand((unsigned int)time(NULL));
	for (int round = 0; round < 20; round++) {
		struct peer c;
		int64_t addr;

		/*
		 * C first: a child forked after this mmap would hold a copy
		 * of it in our slot, and could not link (-EBUSY).
		 */
		ASSERT_EQ(peer_spawn(&c), 0);
		ASSERT_EQ(peer_link(fd, &me, &c), 0);
		mine = mmap(NULL, len, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ASSERT_NE(mine, MAP_FAILED);
		ASSERT_EQ(peer_cmd(&c, PEER_PKEY, me.pkey, 1, 0), 0);
		/* C writes every page of ours; killed somewhere in it. */
		ASSERT_EQ(peer_send(&c, PEER_WRITE, (uintptr_t)mine, len, 0x77),
			  0);
		usleep((useconds_t)(rand() % 20000));
		peer_kill(&c);
		/* Every page is untouched (0) or fully written (0x77). */
		for (size_t off = 0; off < len; off += PAGE) {
			char v = mine[off];

			ASSERT_TRUE(v == 0 || v == 0x77);
		}
		addr = (int64_t)(uintptr_t)mine;
		ASSERT_OK(munmap((void *)(uintptr_t)addr, len));
		/* Its death was reported. */
		ASSERT_EQ(read_event(_t, fd).type, RPAL_EVENT_PEER_DIED);
	}
	close(fd);
}

TEST(owner_unregisters_while_shared)
{
	struct rpal_register me;
	struct peer b;
	int fd = linked_pair(_t, &me, &b), code;
	char *pb = (char *)(uintptr_t)peer_cmd(&b, PEER_MMAP, PAGE,
					       PROT_READ | PROT_WRITE, 0);

	ASSERT_EQ(peer_cmd(&b, PEER_FILL, (uintptr_t)pb, PAGE, 2), 0);
	ASSERT_TRUE(pattern_check(pb, PAGE, 2));
	ASSERT_EQ(peer_cmd(&b, PEER_UNREGISTER, 0, 0, 0), 0);
	ASSERT_EQ(probe_read(pb, &code, NULL), SIGSEGV);
	EXPECT_EQ(read_event(_t, fd).type, RPAL_EVENT_PEER_RELEASED);
	/* B lives on with its data. */
	ASSERT_EQ(peer_cmd(&b, PEER_CHECK, (uintptr_t)pb, PAGE, 2), 1);
	peer_kill(&b);
	close(fd);
}

TEST(viewer_execs)
{
	struct rpal_register me;
	struct peer b;
	int fd = linked_pair(_t, &me, &b), status;
	char *mine = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ASSERT_NE(mine, MAP_FAILED);
	pattern_fill(mine, PAGE, 3);
	ASSERT_EQ(peer_cmd(&b, PEER_CHECK, (uintptr_t)mine, PAGE, 3), 1);
	/* B execs: its old mm and everything it saw are gone. */
	ASSERT_EQ(peer_send(&b, PEER_EXEC, 0, 0, 0), 0);
	ASSERT_EQ(waitpid(b.pid, &status, 0), b.pid);
	b.pid = 0;
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	EXPECT_EQ(read_event(_t, fd).type, RPAL_EVENT_PEER_DIED);
	ASSERT_TRUE(pattern_check(mine, PAGE, 3));
	peer_kill(&b);
	close(fd);
}

TEST(event_queue_overflow_is_reported)
{
	struct rpal_register me;
	struct rpal_event ev[128];
	int fd = self_register(&me);
	ssize_t n;

	ASSERT_GE(fd, 0);
	/* 80 peers die: more than the queue holds (64). */
	for (int i = 0; i < 80; i++) {
		struct peer c;

		ASSERT_EQ(peer_spawn(&c), 0);
		ASSERT_EQ(peer_link(fd, &me, &c), 0);
		peer_kill(&c);
	}
	n = read(fd, ev, sizeof(ev));
	ASSERT_GT(n, 0);
	ASSERT_EQ(n % sizeof(ev[0]), 0);
	EXPECT_EQ(ev[0].type, RPAL_EVENT_LOST);
	for (ssize_t i = 1; i < n / (ssize_t)sizeof(ev[0]); i++)
		EXPECT_TRUE(ev[i].type == RPAL_EVENT_PEER_DIED ||
			    ev[i].type == RPAL_EVENT_PEER_ACTIVE);
	/* Short buffers are refused, not truncated. */
	ASSERT_ERRNO(read(fd, ev, sizeof(ev[0]) - 1), EINVAL);
	close(fd);
}
