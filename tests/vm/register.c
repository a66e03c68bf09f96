// SPDX-License-Identifier: MIT
/*
 * Registering a service: what it is given (id, slot, key, token), where
 * its new mappings land and which key they carry, what it cannot undo, and
 * every malformed or out-of-state request.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "peer.h"
#include "vmtest.h"

#define SZ_1M (1UL << 20)

TEST(register_gives_slot_key_token)
{
	struct rpal_register r;
	int fd = rpal_open();

	ASSERT_GE(fd, 0);
	ASSERT_EQ(rpal_do_register(fd, "reg", &r), 0);
	EXPECT_EQ(r.size, sizeof(r));
	EXPECT_GE(r.id, 1);
	EXPECT_NE(r.token, 0);
	EXPECT_EQ(r.slot_size, RPAL_SLOT_SIZE);
	EXPECT_EQ(r.slot_base % RPAL_SLOT_SIZE, 0);
	/* slot 0 and the default layout's slots are never handed out */
	EXPECT_GT(r.slot_base, 0);
	EXPECT_LT(r.slot_base, 170 * RPAL_SLOT_SIZE);
	if (have_pku()) {
		EXPECT_GE(r.pkey, 1);
		EXPECT_LE(r.pkey, 15);
	} else {
		EXPECT_EQ(r.pkey, -1);
	}
	close(fd);
}

TEST(new_mappings_land_in_slot_with_key)
{
	struct rpal_register r;
	int fd = self_register(&r);
	void *before, *after, *big, *hinted;
	char *stack_like;

	ASSERT_GE(fd, 0);
	/* Mapped before registering? No: but registration moved mmap_base. */
	after = mmap(NULL, SZ_1M, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(after, MAP_FAILED);
	EXPECT_TRUE(in_slot(&r, (uintptr_t)after, SZ_1M));
	/* The thread that registered may use its own memory at once. */
	memset(after, 0x5a, SZ_1M);

	/* A large malloc is an mmap: it lands in the slot too. */
	big = malloc(8 * SZ_1M);
	ASSERT_TRUE(big != NULL);
	EXPECT_TRUE(in_slot(&r, (uintptr_t)big, 8 * SZ_1M));
	memset(big, 1, 8 * SZ_1M);
	free(big);

	/* A hint outside the slot is not followed out of it. */
	hinted = mmap((void *)(uintptr_t)0x100000000000ULL, SZ_1M,
		      PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		      0);
	ASSERT_NE(hinted, MAP_FAILED);
	EXPECT_TRUE(in_slot(&r, (uintptr_t)hinted, SZ_1M));

	/* Thread-stack mappings too (in the slot; key 0, see below). */
	stack_like = mmap(NULL, SZ_1M, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	ASSERT_NE(stack_like, MAP_FAILED);
	EXPECT_TRUE(in_slot(&r, (uintptr_t)stack_like, SZ_1M));

	if (have_pku()) {
		EXPECT_EQ(smaps_pkey(after), r.pkey);
		EXPECT_EQ(smaps_pkey(hinted), r.pkey);
		/* Thread stacks keep key 0 (docs/kernel-design.md: rseq). */
		EXPECT_EQ(smaps_pkey(stack_like), 0);
	}

	/* After unregistering, mappings go back to the usual layout. */
	ASSERT_EQ(rpal_do_unregister(fd), 0);
	before = mmap(NULL, SZ_1M, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(before, MAP_FAILED);
	EXPECT_FALSE(in_slot(&r, (uintptr_t)before, SZ_1M));
	close(fd);
}

TEST(brk_stays_out_malloc_moves_in)
{
	int status;
	pid_t pid = fork();

	ASSERT_GE(pid, 0);
	if (pid == 0) {
		/* A fresh image: its heap has never been used. */
		execl("/rpal/tests/brk_probe", "brk_probe", (char *)NULL);
		_exit(99);
	}
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(key_cannot_be_freed_or_replaced)
{
	struct rpal_register r;
	int fd, other;
	void *m;

	if (!have_pku())
		SKIP("no protection keys on this CPU");
	fd = self_register(&r);
	ASSERT_GE(fd, 0);
	m = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(m, MAP_FAILED);
	ASSERT_EQ(smaps_pkey(m), r.pkey);

	ASSERT_ERRNO(syscall(SYS_pkey_free, r.pkey), EPERM);
	/* pkey_alloc never hands out the service key. */
	other = (int)syscall(SYS_pkey_alloc, 0, 0);
	ASSERT_GE(other, 1);
	EXPECT_NE(other, r.pkey);
	ASSERT_ERRNO(syscall(SYS_pkey_mprotect, m, 4096, PROT_READ, other),
		     EPERM);
	/* pkey_mprotect with its own key, and plain mprotect, keep it. */
	ASSERT_OK(syscall(SYS_pkey_mprotect, m, 4096, PROT_READ, r.pkey));
	ASSERT_OK(mprotect(m, 4096, PROT_READ | PROT_WRITE));
	EXPECT_EQ(smaps_pkey(m), r.pkey);
	/* PROT_EXEC alone would switch to the exec-only key: not here. */
	ASSERT_OK(mprotect((char *)m + 4096, 4096, PROT_EXEC));
	EXPECT_EQ(smaps_pkey((char *)m + 4096), r.pkey);
	/* Outside the slot the process keeps its freedom. */
	ASSERT_OK(syscall(SYS_pkey_free, other));

	/* Unregistered, the module gave the key back: it is free, and
	 * pkey_alloc may hand it out again.
	 */
	ASSERT_EQ(rpal_do_unregister(fd), 0);
	ASSERT_ERRNO(syscall(SYS_pkey_free, r.pkey), EINVAL);
	for (;;) {
		other = (int)syscall(SYS_pkey_alloc, 0, 0);
		ASSERT_GE(other, 1);
		if (other == r.pkey)
			break;
	}
	close(fd);
}

TEST(one_service_per_process_and_fd)
{
	struct rpal_register r, r2;
	int fd = rpal_open(), fd2 = rpal_open();

	ASSERT_GE(fd, 0);
	ASSERT_GE(fd2, 0);
	ASSERT_EQ(rpal_do_register(fd, NULL, &r), 0);
	EXPECT_EQ(rpal_do_register(fd, NULL, &r2), -EBUSY);
	EXPECT_EQ(rpal_do_register(fd2, NULL, &r2), -EBUSY);
	ASSERT_EQ(rpal_do_unregister(fd), 0);
	EXPECT_EQ(rpal_do_unregister(fd), -ENOENT);
	/* Free again: the other fd may register now. */
	ASSERT_EQ(rpal_do_register(fd2, NULL, &r2), 0);
	close(fd2);
	/* Closing the fd unregistered it: the first one may again. */
	ASSERT_EQ(rpal_do_register(fd, NULL, &r), 0);
	close(fd);
}

TEST(fork_child_is_not_a_service)
{
	struct rpal_register r, rc;
	int fd = self_register(&r), status;
	pid_t pid;

	ASSERT_GE(fd, 0);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		int fd2 = rpal_open();

		/* The inherited fd belongs to the parent's service. */
		if (rpal_do_unregister(fd) != -EPERM)
			_exit(1);
		/* A fresh registration gets its own id and slot. */
		if (fd2 < 0 || rpal_do_register(fd2, NULL, &rc))
			_exit(2);
		if (rc.id == r.id || rc.slot_base == r.slot_base)
			_exit(3);
		_exit(0);
	}
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), 0);
	/* The parent's service survived the child. */
	ASSERT_EQ(rpal_do_unregister(fd), 0);
	close(fd);
}

TEST(name_and_status)
{
	struct rpal_register r;
	char line[256], want[64];
	bool found = false;
	int fd = rpal_open();
	FILE *f;

	ASSERT_GE(fd, 0);
	ASSERT_EQ(rpal_do_register(fd, "status-check", &r), 0);
	f = fopen("/sys/kernel/debug/rpal/services", "r");
	ASSERT_TRUE(f != NULL);
	snprintf(want, sizeof(want), "%u %d status-check ", r.id, getpid());
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, want, strlen(want)))
			found = true;
	fclose(f);
	EXPECT_TRUE(found);

	/* rpalctl status shows the same service. */
	found = false;
	snprintf(want, sizeof(want), "%-4u %-7d status-check ", r.id, getpid());
	f = popen("/rpal/bin/rpalctl status", "r");
	ASSERT_TRUE(f != NULL);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, want, strlen(want)))
			found = true;
	EXPECT_EQ(pclose(f), 0);
	EXPECT_TRUE(found);
	close(fd);
}

TEST(bad_register_input)
{
	struct rpal_register r;
	int fd = rpal_open();

	ASSERT_GE(fd, 0);
	memset(&r, 0, sizeof(r));
	r.size = sizeof(r);
	r.flags = 1;
	ASSERT_ERRNO(ioctl(fd, RPAL_IOC_REGISTER, &r), EINVAL);
	r.flags = 0;
	r.resv[1] = 1;
	ASSERT_ERRNO(ioctl(fd, RPAL_IOC_REGISTER, &r), EINVAL);
	r.resv[1] = 0;
	memset(r.name, 'x', sizeof(r.name)); /* no NUL */
	ASSERT_ERRNO(ioctl(fd, RPAL_IOC_REGISTER, &r), EINVAL);
	strcpy((char *)r.name, "tab\there");
	ASSERT_ERRNO(ioctl(fd, RPAL_IOC_REGISTER, &r), EINVAL);
	memset(&r, 0, sizeof(r));
	r.size = RPAL_REGISTER_SIZE_VER0 - 8;
	ASSERT_ERRNO(ioctl(fd, RPAL_IOC_REGISTER, &r), EINVAL);
	ASSERT_ERRNO(ioctl(fd, RPAL_IOC_REGISTER, NULL), EFAULT);
	/* A failed registration left nothing behind. */
	ASSERT_EQ(rpal_do_unregister(fd), -ENOENT);
	ASSERT_EQ(rpal_do_register(fd, "ok", &r), 0);
	close(fd);
}

TEST(bad_state_commands)
{
	struct rpal_release rel = { .size = sizeof(rel), .peer_id = 1 };
	struct rpal_unregister u = { .size = sizeof(u) };
	struct rpal_event ev;
	int fd = rpal_open();

	ASSERT_GE(fd, 0);
	/* Not registered: nothing to unregister, request or release. */
	ASSERT_ERRNO(ioctl(fd, RPAL_IOC_UNREGISTER, &u), ENOENT);
	ASSERT_ERRNO(ioctl(fd, RPAL_IOC_RELEASE, &rel), ENOENT);
	EXPECT_EQ(rpal_do_request(fd, 1, 1, getpid(), NULL), -ENOENT);
	ASSERT_ERRNO(read(fd, &ev, sizeof(ev)), ENOENT);
	u.flags = 2;
	ASSERT_ERRNO(ioctl(fd, RPAL_IOC_UNREGISTER, &u), EINVAL);
	rel.pad = 1;
	ASSERT_ERRNO(ioctl(fd, RPAL_IOC_RELEASE, &rel), EINVAL);
	close(fd);
}

TEST(require_pku_refuses_unprotected)
{
	struct rpal_register r;
	int fd;

	ASSERT_EQ(rpal_module_reload("require_pku=1"), 0);
	fd = rpal_open();
	ASSERT_GE(fd, 0);
	if (have_pku())
		EXPECT_EQ(rpal_do_register(fd, NULL, &r), 0);
	else
		EXPECT_EQ(rpal_do_register(fd, NULL, &r), -EOPNOTSUPP);
	close(fd);
	/* The default runs unprotected where there is no PKU. */
	ASSERT_EQ(rpal_module_reload(""), 0);
	fd = rpal_open();
	ASSERT_GE(fd, 0);
	EXPECT_EQ(rpal_do_register(fd, NULL, &r), 0);
	close(fd);
}

static volatile int usr1_hits;

static void on_usr1(int sig)
{
	(void)sig;
	usr1_hits++;
}

static void *sleeper(void *arg)
{
	int *p = arg;
	char c;

	/* Interrupted by the signal, then the pipe's byte. */
	return (void *)(intptr_t)read(p[0], &c, 1);
}

/*
 * A thread of a service gets a signal: the handler runs (with the
 * kernel's default PKRU) and the thread goes on. The thread's stack, its
 * TLS and its rseq area must stay key 0 for that (docs/kernel-design.md):
 * with the service key on them the kernel kills the thread while it
 * returns from setting up the signal frame (force_sigsegv).
 */
TEST(signals_reach_threads_of_services)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	struct rpal_register r;
	int fd = self_register(&r), p[2];
	pthread_t th;
	void *ret;

	ASSERT_GE(fd, 0);
	ASSERT_OK(pipe(p));
	ASSERT_OK(sigaction(SIGUSR1, &sa, NULL));
	ASSERT_EQ(pthread_create(&th, NULL, sleeper, p), 0);
	usleep(100 * 1000);
	ASSERT_EQ(pthread_kill(th, SIGUSR1), 0);
	usleep(100 * 1000);
	EXPECT_EQ(usr1_hits, 1);
	ASSERT_EQ(write(p[1], "x", 1), 1);
	ASSERT_EQ(pthread_join(th, &ret), 0);
	EXPECT_TRUE((intptr_t)ret == 1 || (intptr_t)ret == -1);
	close(fd);
}
