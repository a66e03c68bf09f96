// SPDX-License-Identifier: MIT
/*
 * Recovery points on real faults, natively: the runtime's fault handler
 * (installed by __rpal_signals_init(), running on the thread's key-0
 * signal stack) finds the thread's key-0 block from its stack pointer
 * and, when a recovery point is armed, resumes it with the fault's code;
 * a fault during a call also ends the call's state. Faults with nothing
 * armed go to the program's own handler, or kill as they would have.
 * The module is not needed: the key-0 block is set up here the way
 * rpal_thread_init() does.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../runtime/rt.h"
#include "../harness/rpal_test.h"

static struct __rpal_kblock *kb;
static char *unmapped;

static uint64_t fsbase_now(void)
{
	uint64_t fs = 0;

	syscall(SYS_arch_prctl, 0x1003 /* ARCH_GET_FS */, &fs);
	return fs;
}

/* This thread's key-0 block and signal stack, and the fault handler. */
static void setup(struct rpal_test *_t)
{
	char *p = mmap(NULL, 2 * RPAL_KBLOCK_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	stack_t ss;

	ASSERT_TRUE(p != MAP_FAILED);
	kb = (struct __rpal_kblock *)(((uintptr_t)p + RPAL_KBLOCK_SIZE - 1) &
				      ~(RPAL_KBLOCK_SIZE - 1));
	__rpal_svc.kblocks = (char *)kb;
	__rpal_svc.have_pku = false;
	__rpal_svc.have_fsgsbase = false;
	kb->magic = RPAL_KBLOCK_MAGIC;
	kb->own_fsbase = fsbase_now();
	kb->rec.size = sizeof(kb->rec);
	ss.ss_sp = (char *)kb + RPAL_KBLOCK_HDR;
	ss.ss_size = RPAL_SIGSTACK_SIZE;
	ss.ss_flags = 0;
	ASSERT_OK(sigaltstack(&ss, NULL));
	ASSERT_EQ(__rpal_signals_init(), 0);
	unmapped =
		mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(unmapped != MAP_FAILED);
	ASSERT_OK(munmap(unmapped, 4096));
}

static __attribute__((noinline)) void touch(volatile char *p)
{
	*p = 1;
}

TEST(armed_fault_resumes_the_recovery_point)
{
	volatile int recovered = 0;

	setup(_t);
	/* Many times: the handler leaves nothing blocked or half-used. */
	for (volatile int i = 0; i < 1000; i++) {
		long how = __rpal_ctx_save(&kb->recover_ctx);

		if (!how) {
			kb->recover_armed = 1;
			touch(unmapped + (i % 4096));
			kb->recover_armed = 0;
			ASSERT_TRUE(false); /* the access must have faulted */
		}
		ASSERT_EQ(how, RPAL_RECOVER_RESET);
		ASSERT_EQ(kb->fault_code, SEGV_MAPERR);
		ASSERT_EQ(kb->recover_armed, 0U);
		ASSERT_EQ(fsbase_now(), kb->own_fsbase);
		recovered++;
	}
	EXPECT_EQ(recovered, 1000);
}

TEST(bus_error_is_recovered_too)
{
	char path[] = "/tmp/rpal-recovery-XXXXXX";
	int fd = mkstemp(path);
	char *map;
	long how;

	setup(_t);
	ASSERT_GE(fd, 0);
	unlink(path);
	ASSERT_OK(ftruncate(fd, 4096));
	map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_TRUE(map != MAP_FAILED);
	ASSERT_OK(ftruncate(fd, 0)); /* the page is past the end now */
	how = __rpal_ctx_save(&kb->recover_ctx);
	if (!how) {
		kb->recover_armed = 1;
		touch(map);
		ASSERT_TRUE(false);
	}
	EXPECT_EQ(how, RPAL_RECOVER_RESET);
	EXPECT_EQ(kb->fault_code, BUS_ADRERR);
	munmap(map, 4096);
	close(fd);
}

TEST(fault_during_a_call_ends_the_call)
{
	long how;

	setup(_t);
	/* A callee slot far from this program's code: a fault on the peer. */
	kb->callee_base = 1ULL << 40;
	kb->rec.selector = RPAL_CALL_ACTIVE;
	how = __rpal_ctx_save(&kb->recover_ctx);
	if (!how) {
		kb->recover_armed = 1;
		touch(unmapped);
		ASSERT_TRUE(false);
	}
	EXPECT_EQ(how, RPAL_RECOVER_RESET);
	/* Our syscalls are ours again, no signal frame is recorded. */
	EXPECT_EQ(kb->rec.selector, RPAL_CALL_IDLE);
	EXPECT_EQ(kb->rec.sigframe, 0ULL);
}

static sigjmp_buf user_jmp;
static void *volatile user_addr;

static void user_segv(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	user_addr = si->si_addr;
	siglongjmp(user_jmp, 1);
}

TEST(unarmed_fault_goes_to_the_program_handler)
{
	struct sigaction sa;

	setup(_t);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = user_segv;
	sa.sa_flags = SA_SIGINFO;
	ASSERT_EQ(rpal_sigaction(SIGSEGV, &sa, NULL), 0);
	if (!sigsetjmp(user_jmp, 1)) {
		touch(unmapped + 8);
		ASSERT_TRUE(false);
	}
	EXPECT_TRUE(user_addr == unmapped + 8);
}

TEST(unarmed_fault_without_handler_kills_as_before)
{
	int status;
	pid_t pid;

	setup(_t);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct rlimit no_core = { 0, 0 };

		setrlimit(RLIMIT_CORE, &no_core);
		touch(unmapped);
		_exit(0);
	}
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFSIGNALED(status));
	EXPECT_EQ(WTERMSIG(status), SIGSEGV);
}
