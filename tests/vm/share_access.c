// SPDX-License-Identifier: MIT
/*
 * Two services that requested each other: private memory readable,
 * writable and executable both ways through plain pointers, peer faults
 * resolved in the owner's mm, no stale translation after the owner
 * changes its tables, protection keys, and what the viewer must not do.
 */
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "peer.h"
#include "vmtest.h"

#define PAGE 4096UL

FIXTURE(pair)
{
	int fd;
	struct rpal_register me;
	struct peer b;
};

FIXTURE_SETUP(pair)
{
	self->fd = self_register(&self->me);
	ASSERT_GE(self->fd, 0);
	ASSERT_EQ(peer_spawn(&self->b), 0);
	ASSERT_EQ(peer_link(self->fd, &self->me, &self->b), 0);
	/* Both may reach each other's memory unless a test closes it. */
	pkey_open(self->b.reg.pkey);
	ASSERT_EQ(peer_cmd(&self->b, PEER_PKEY, self->me.pkey, 1, 0), 0);
}

FIXTURE_TEARDOWN(pair)
{
	peer_kill(&self->b);
	close(self->fd);
}

static char *peer_map(struct rpal_test *_t, struct peer *b, size_t len)
{
	int64_t addr = peer_cmd(b, PEER_MMAP, len, PROT_READ | PROT_WRITE, 0);

	ASSERT_GT(addr, 0);
	ASSERT_TRUE(in_slot(&b->reg, (uint64_t)addr, len));
	return (char *)(uintptr_t)addr;
}

TEST_F(pair, read_write_both_ways)
{
	char *pb = peer_map(_t, &self->b, 16 * PAGE), *pa;

	/* B's private anonymous memory, read and written by A. */
	ASSERT_EQ(peer_cmd(&self->b, PEER_FILL, (uintptr_t)pb, 16 * PAGE, 1),
		  0);
	ASSERT_TRUE(pattern_check(pb, 16 * PAGE, 1));
	pattern_fill(pb, 16 * PAGE, 2);
	ASSERT_EQ(peer_cmd(&self->b, PEER_CHECK, (uintptr_t)pb, 16 * PAGE, 2),
		  1);

	/* And the reverse: A's private memory, read and written by B. */
	pa = mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(pa, MAP_FAILED);
	ASSERT_TRUE(in_slot(&self->me, (uintptr_t)pa, 16 * PAGE));
	pattern_fill(pa, 16 * PAGE, 3);
	ASSERT_EQ(peer_cmd(&self->b, PEER_CHECK, (uintptr_t)pa, 16 * PAGE, 3),
		  1);
	ASSERT_EQ(peer_cmd(&self->b, PEER_FILL, (uintptr_t)pa, 16 * PAGE, 4),
		  0);
	ASSERT_TRUE(pattern_check(pa, 16 * PAGE, 4));
}

TEST_F(pair, never_touched_pages_fault_in_owner)
{
	char *pb = peer_map(_t, &self->b, 64 * PAGE);

	/* B never touched these: A's reads see zeroes, A's writes stick. */
	for (size_t off = 0; off < 64 * PAGE; off += PAGE)
		ASSERT_EQ(pb[off], 0);
	pattern_fill(pb, 64 * PAGE, 5);
	ASSERT_EQ(peer_cmd(&self->b, PEER_CHECK, (uintptr_t)pb, 64 * PAGE, 5),
		  1);
}

TEST_F(pair, execute_peer_code)
{
	int64_t code = peer_cmd(&self->b, PEER_CODE, 0x1234abcd, 0, 0);
	int (*fn)(void);

	ASSERT_GT(code, 0);
	ASSERT_TRUE(in_slot(&self->b.reg, (uint64_t)code, PAGE));
	fn = (int (*)(void))(uintptr_t)code;
	ASSERT_EQ(fn(), 0x1234abcd);
}

TEST_F(pair, kernel_copies_from_peer_memory)
{
	char *pb = peer_map(_t, &self->b, 8 * PAGE);
	static char back[8 * PAGE];
	int p[2];

	ASSERT_EQ(peer_cmd(&self->b, PEER_FILL, (uintptr_t)pb, 4 * PAGE, 6), 0);
	/* write(2) copies from B's memory, incl. pages B never touched. */
	ASSERT_OK(pipe(p));
	ASSERT_EQ(write(p[1], pb, 8 * PAGE), (ssize_t)(8 * PAGE));
	ASSERT_EQ(read(p[0], back, sizeof(back)), (ssize_t)sizeof(back));
	ASSERT_TRUE(pattern_check(back, 4 * PAGE, 6));
	ASSERT_EQ(back[6 * PAGE], 0);
	/* read(2) copies into it. */
	pattern_fill(back, 8 * PAGE, 7);
	ASSERT_EQ(write(p[1], back, 8 * PAGE), (ssize_t)(8 * PAGE));
	ASSERT_EQ(read(p[0], pb, 8 * PAGE), (ssize_t)(8 * PAGE));
	ASSERT_EQ(peer_cmd(&self->b, PEER_CHECK, (uintptr_t)pb, 8 * PAGE, 7),
		  1);
}

TEST_F(pair, copy_on_write_after_owner_forked)
{
	char *pb = peer_map(_t, &self->b, 4 * PAGE);

	ASSERT_EQ(peer_cmd(&self->b, PEER_FILL, (uintptr_t)pb, 4 * PAGE, 8), 0);
	/* B forks: its pages become copy-on-write. */
	ASSERT_GT(peer_cmd(&self->b, PEER_FORK, 0, 0, 0), 0);
	ASSERT_TRUE(pattern_check(pb, 4 * PAGE, 8));
	/* A's write breaks the COW in B's mm; B sees it. */
	pattern_fill(pb, 4 * PAGE, 9);
	ASSERT_EQ(peer_cmd(&self->b, PEER_CHECK, (uintptr_t)pb, 4 * PAGE, 9),
		  1);
}

TEST_F(pair, protection_key_denies_then_grants)
{
	char *pb;
	int code, pkey, p[2];

	if (!have_pku())
		SKIP("no protection keys: services run unprotected");
	pb = peer_map(_t, &self->b, 3 * PAGE);
	ASSERT_EQ(peer_cmd(&self->b, PEER_FILL, (uintptr_t)pb, 2 * PAGE, 10),
		  0);
	pkey_close(self->b.reg.pkey);
	/* Present page, key closed: SEGV_PKUERR naming B's key. */
	ASSERT_EQ(probe_read(pb, &code, &pkey), SIGSEGV);
	EXPECT_EQ(code, SEGV_PKUERR);
	EXPECT_EQ(pkey, self->b.reg.pkey);
	/* A page B never touched: resolved, then denied the same way. */
	ASSERT_EQ(probe_read(pb + 2 * PAGE + 64, &code, &pkey), SIGSEGV);
	EXPECT_EQ(code, SEGV_PKUERR);
	/* The kernel honours PKRU too: copying from it fails. */
	ASSERT_OK(pipe(p));
	ASSERT_ERRNO(write(p[1], pb, 64), EFAULT);
	/* Opened: the data is there. */
	pkey_open(self->b.reg.pkey);
	ASSERT_TRUE(pattern_check(pb, 2 * PAGE, 10));
	close(p[0]);
	close(p[1]);
}

TEST_F(pair, fork_child_sees_nothing)
{
	char *pb = peer_map(_t, &self->b, PAGE);
	int status, code;
	pid_t pid;

	ASSERT_EQ(peer_cmd(&self->b, PEER_FILL, (uintptr_t)pb, PAGE, 11), 0);
	ASSERT_TRUE(pattern_check(pb, PAGE, 11));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0)
		_exit(probe_read(pb, &code, NULL) == SIGSEGV &&
				      code == SEGV_MAPERR
			      ? 0
			      : 1);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), 0);
	/* The parent still sees it. */
	ASSERT_TRUE(pattern_check(pb, PAGE, 11));
}

TEST_F(pair, viewer_cannot_map_into_peer_slot)
{
	char *pb = peer_map(_t, &self->b, 4 * PAGE), *a, *hinted;
	char *target = (char *)(uintptr_t)(self->b.reg.slot_base + (1UL << 30));

	ASSERT_EQ(peer_cmd(&self->b, PEER_FILL, (uintptr_t)pb, 4 * PAGE, 12),
		  0);
	/* A hint into B's slot is ignored: it lands in A's own. */
	hinted = mmap(target, PAGE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(hinted, MAP_FAILED);
	EXPECT_TRUE(in_slot(&self->me, (uintptr_t)hinted, PAGE));
	/* MAP_FIXED and MAP_FIXED_NOREPLACE there are refused. */
	ASSERT_EQ(mmap(target, PAGE, PROT_READ,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0),
		  MAP_FAILED);
	EXPECT_EQ(errno, ENOMEM);
	ASSERT_EQ(mmap(pb, PAGE, PROT_READ,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1,
		       0),
		  MAP_FAILED);
	/* Moving or growing a mapping into it is refused. */
	a = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(a, MAP_FAILED);
	ASSERT_EQ(mremap(a, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, target),
		  MAP_FAILED);
	/* mprotect, madvise, munmap on B's range: refused or no-ops. */
	ASSERT_ERRNO(mprotect(pb, PAGE, PROT_NONE), ENOMEM);
	ASSERT_ERRNO(madvise(pb, PAGE, MADV_DONTNEED), ENOMEM);
	ASSERT_OK(munmap(pb, 4 * PAGE));
	ASSERT_ERRNO(mremap(pb, PAGE, 2 * PAGE, 0), EFAULT);
	/* B's memory is untouched by all of it, and still ours to read. */
	ASSERT_EQ(peer_cmd(&self->b, PEER_CHECK, (uintptr_t)pb, 4 * PAGE, 12),
		  1);
	ASSERT_TRUE(pattern_check(pb, 4 * PAGE, 12));
}

TEST_F(pair, release_ends_sharing)
{
	char *pb = peer_map(_t, &self->b, PAGE);
	int code;

	ASSERT_EQ(peer_cmd(&self->b, PEER_FILL, (uintptr_t)pb, PAGE, 13), 0);
	ASSERT_TRUE(pattern_check(pb, PAGE, 13));
	ASSERT_EQ(rpal_do_release(self->fd, self->b.reg.id), 0);
	ASSERT_EQ(rpal_do_release(self->fd, self->b.reg.id), -ENOENT);
	ASSERT_EQ(probe_read(pb, &code, NULL), SIGSEGV);
	/* B was told, and still has its data. */
	ASSERT_EQ(peer_cmd(&self->b, PEER_EVENTS, 0, 0, 0),
		  1 << 8 | RPAL_EVENT_PEER_RELEASED);
	ASSERT_EQ(peer_cmd(&self->b, PEER_CHECK, (uintptr_t)pb, PAGE, 13), 1);
	/* Both may link again. */
	ASSERT_EQ(peer_link(self->fd, &self->me, &self->b), 0);
	ASSERT_TRUE(pattern_check(pb, PAGE, 13));
}

TEST_F(pair, request_refusals)
{
	struct rpal_request r;
	int memfd;

	/* Already linked. */
	EXPECT_EQ(rpal_do_request(self->fd, self->b.reg.id, self->b.reg.token,
				  self->b.pid, NULL),
		  -EALREADY);
	ASSERT_EQ(rpal_do_release(self->fd, self->b.reg.id), 0);
	/* Wrong token, unknown id, self. */
	EXPECT_EQ(rpal_do_request(self->fd, self->b.reg.id,
				  self->b.reg.token ^ 1, self->b.pid, NULL),
		  -EACCES);
	EXPECT_EQ(rpal_do_request(self->fd, 9999, self->b.reg.token,
				  self->b.pid, NULL),
		  -ENOENT);
	EXPECT_EQ(rpal_do_request(self->fd, self->me.id, self->me.token,
				  getpid(), NULL),
		  -EINVAL);
	/* The mem file of some other process proves nothing about B. */
	EXPECT_EQ(rpal_do_request(self->fd, self->b.reg.id, self->b.reg.token,
				  getpid(), NULL),
		  -EACCES);
	/* Neither does another file, or no file. */
	memfd = open("/proc/self/status", O_RDONLY);
	ASSERT_GE(memfd, 0);
	memset(&r, 0, sizeof(r));
	r.size = sizeof(r);
	r.peer_id = self->b.reg.id;
	r.token = self->b.reg.token;
	r.mem_fd = memfd;
	ASSERT_ERRNO(ioctl(self->fd, RPAL_IOC_REQUEST, &r), EACCES);
	r.mem_fd = -1;
	ASSERT_ERRNO(ioctl(self->fd, RPAL_IOC_REQUEST, &r), EBADF);
	r.mem_fd = 1000;
	ASSERT_ERRNO(ioctl(self->fd, RPAL_IOC_REQUEST, &r), EBADF);
	r.mem_fd = memfd;
	r.flags = 1;
	ASSERT_ERRNO(ioctl(self->fd, RPAL_IOC_REQUEST, &r), EINVAL);
	r.flags = 0;
	r.resv[0] = 1;
	ASSERT_ERRNO(ioctl(self->fd, RPAL_IOC_REQUEST, &r), EINVAL);
	close(memfd);
	/* One side alone: pending, and nothing is shared yet. */
	EXPECT_EQ(rpal_do_request(self->fd, self->b.reg.id, self->b.reg.token,
				  self->b.pid, NULL),
		  RPAL_PEER_PENDING);
}
