// SPDX-License-Identifier: MIT
/*
 * rpal threads, the kernel half of the RPAL call: registering a thread
 * control block, sleeping in the module (kicks, epoll readiness, timeout,
 * signals), not returning while a call runs on the thread's context, a
 * dead caller, kicks across linked services, and time reports.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>

#include "peer.h"
#include "vmtest.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

FIXTURE(svc)
{
	int fd;
	struct rpal_register me;
};

FIXTURE_SETUP(svc)
{
	self->fd = self_register(&self->me);
	ASSERT_GE(self->fd, 0);
}

FIXTURE_TEARDOWN(svc)
{
	close(self->fd);
}

TEST_F(svc, register_and_refusals)
{
	struct rpal_tcb_page *tcb;
	struct rpal_thread t;
	int fd2 = rpal_open();
	char outside[64] __attribute__((aligned(8)));

	ASSERT_EQ(rpal_do_thread(self->fd, &tcb, -1), 0);
	ASSERT_EQ(rpal_do_thread(self->fd, &tcb, -1), 1);
	memset(&t, 0, sizeof(t));
	t.size = sizeof(t);
	t.eventfd = -1;
	t.tcb = (uintptr_t)outside; /* the main stack: not in the slot */
	ASSERT_ERRNO(ioctl(self->fd, RPAL_IOC_THREAD, &t), EINVAL);
	t.tcb = (uintptr_t)tcb + 4; /* misaligned */
	ASSERT_ERRNO(ioctl(self->fd, RPAL_IOC_THREAD, &t), EINVAL);
	t.tcb = (uintptr_t)tcb;
	t.eventfd = 1; /* stdout is no eventfd */
	ASSERT_ERRNO(ioctl(self->fd, RPAL_IOC_THREAD, &t), EBADF);
	t.eventfd = -1;
	t.flags = 2;
	ASSERT_ERRNO(ioctl(self->fd, RPAL_IOC_THREAD, &t), EINVAL);
	t.flags = 0;
	t.index = 3; /* an input only for UNREGISTER */
	ASSERT_ERRNO(ioctl(self->fd, RPAL_IOC_THREAD, &t), EINVAL);
	t.index = 0;
	t.record = (uintptr_t)outside + 4; /* misaligned */
	ASSERT_ERRNO(ioctl(self->fd, RPAL_IOC_THREAD, &t), EINVAL);
	t.record = 0xffff800000000000ULL; /* kernel address */
	ASSERT_ERRNO(ioctl(self->fd, RPAL_IOC_THREAD, &t), EINVAL);
	t.record = 0;
	t.rescue = (uintptr_t)outside & ~63UL; /* not in the slot */
	ASSERT_ERRNO(ioctl(self->fd, RPAL_IOC_THREAD, &t), EINVAL);
	t.rescue = (uintptr_t)tcb + 32; /* in the slot, misaligned */
	ASSERT_ERRNO(ioctl(self->fd, RPAL_IOC_THREAD, &t), EINVAL);
	t.rescue = 0;
	t.flags = RPAL_THREAD_UNREGISTER;
	t.index = 1;
	t.record = (uintptr_t)outside; /* inputs of registering only */
	ASSERT_ERRNO(ioctl(self->fd, RPAL_IOC_THREAD, &t), EINVAL);
	t.record = 0;
	ASSERT_OK(ioctl(self->fd, RPAL_IOC_THREAD, &t));
	ASSERT_ERRNO(ioctl(self->fd, RPAL_IOC_THREAD, &t), ENOENT);
	/* Freed index, reused. */
	ASSERT_EQ(rpal_do_thread(self->fd, &tcb, -1), 1);
	/* An fd that is no service. */
	ASSERT_GE(fd2, 0);
	ASSERT_EQ(rpal_do_thread(fd2, &tcb, -1), -ENOENT);
	ASSERT_EQ(rpal_do_wait(fd2, 0, -1, 0, NULL), -ENOENT);
	ASSERT_EQ(rpal_do_wake(fd2, 0, 0), -ENOENT);
	close(fd2);
}

TEST_F(svc, wait_times_out)
{
	struct rpal_tcb_page *tcb;
	int idx = rpal_do_thread(self->fd, &tcb, -1);
	double t0 = now_ms();

	ASSERT_EQ(idx, 0);
	ASSERT_EQ(rpal_do_wait(self->fd, idx, -1, 100, NULL),
		  RPAL_WAKE_TIMEOUT);
	EXPECT_GE(now_ms() - t0, 90);
	/* Timeout 0: a poll. */
	ASSERT_EQ(rpal_do_wait(self->fd, idx, -1, 0, NULL), RPAL_WAKE_TIMEOUT);
	/* Another thread's index is not ours to wait on. */
	ASSERT_EQ(rpal_do_wait(self->fd, 7, -1, 0, NULL), -ENOENT);
}

struct waiter_arg {
	int fd, watch, timeout, ret, index, evfd;
	struct rpal_wait w;
	struct rpal_tcb_page *tcb;
	volatile int registered;
};

static void *waiter(void *p)
{
	struct waiter_arg *a = p;

	a->index = rpal_do_thread(a->fd, &a->tcb, a->evfd);
	__atomic_store_n(&a->registered, 1, __ATOMIC_RELEASE);
	if (a->index < 0) {
		a->ret = a->index;
		return NULL;
	}
	a->ret = rpal_do_wait(a->fd, a->index, a->watch, a->timeout, &a->w);
	return NULL;
}

static void start_waiter(struct rpal_test *_t, pthread_t *th,
			 struct waiter_arg *a)
{
	ASSERT_EQ(pthread_create(th, NULL, waiter, a), 0);
	while (!__atomic_load_n(&a->registered, __ATOMIC_ACQUIRE))
		usleep(1000);
	ASSERT_GE(a->index, 0);
	usleep(50 * 1000); /* let it fall asleep */
}

TEST_F(svc, kick_wakes_and_signals_eventfd)
{
	struct waiter_arg a = { .fd = self->fd, .watch = -1, .timeout = 5000 };
	uint64_t n = 0;
	pthread_t th;

	a.evfd = eventfd(0, EFD_CLOEXEC);
	ASSERT_GE(a.evfd, 0);
	start_waiter(_t, &th, &a);
	ASSERT_EQ(rpal_do_wake(self->fd, 0, a.index), 0);
	pthread_join(th, NULL);
	ASSERT_EQ(a.ret, RPAL_WAKE_KICK);
	EXPECT_EQ(a.w.kicks, 1);
	/* epoll watchers see kicks too. */
	ASSERT_EQ(read(a.evfd, &n, sizeof(n)), (ssize_t)sizeof(n));
	EXPECT_EQ(n, 1);
	/* A kick before the wait is not lost. */
	ASSERT_EQ(rpal_do_wake(self->fd, 0, a.index), 0);
	ASSERT_EQ(rpal_do_wake(self->fd, 0, a.index), -0);
	ASSERT_EQ(rpal_do_wake(self->fd, 0, 999), -ESRCH);
}

TEST_F(svc, epoll_readiness)
{
	struct waiter_arg a = { .fd = self->fd, .timeout = 5000, .evfd = -1 };
	struct epoll_event ev = { .events = EPOLLIN };
	int p[2], ep = epoll_create1(EPOLL_CLOEXEC), mine;
	struct rpal_tcb_page *tcb;
	pthread_t th;

	ASSERT_GE(ep, 0);
	ASSERT_OK(pipe(p));
	ASSERT_OK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
	a.watch = ep;
	start_waiter(_t, &th, &a);
	ASSERT_EQ(write(p[1], "x", 1), 1);
	pthread_join(th, NULL);
	ASSERT_EQ(a.ret, RPAL_WAKE_POLL);
	/* This thread, already readable: returns at once. */
	mine = rpal_do_thread(self->fd, &tcb, -1);
	ASSERT_GE(mine, 0);
	ASSERT_EQ(rpal_do_wait(self->fd, mine, ep, 1000, NULL), RPAL_WAKE_POLL);
	/* Another thread's index is not this thread's to wait on. */
	ASSERT_EQ(rpal_do_wait(self->fd, a.index, ep, 1000, NULL), -EPERM);
	/* Not a file descriptor at all. */
	ASSERT_EQ(rpal_do_wait(self->fd, mine, 555, 0, NULL), -EBADF);
}

static void on_usr1(int sig)
{
	(void)sig;
}

/*
 * A handler starts with only key 0 open. Thread stacks keep key 0 (the
 * module leaves MAP_STACK mappings unkeyed), so this would work on the
 * thread's stack too; the alternate stack is what the runtime uses.
 */
static char altstack[64 << 10] __attribute__((aligned(16)));

static void *waiter_altstack(void *p)
{
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack) };

	sigaltstack(&ss, NULL);
	return waiter(p);
}

TEST_F(svc, signal_interrupts)
{
	struct waiter_arg a = {
		.fd = self->fd, .watch = -1, .timeout = 5000, .evfd = -1
	};
	struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = SA_ONSTACK };
	pthread_t th;

	sigaction(SIGUSR1, &sa, NULL);
	ASSERT_EQ(pthread_create(&th, NULL, waiter_altstack, &a), 0);
	while (!__atomic_load_n(&a.registered, __ATOMIC_ACQUIRE))
		usleep(1000);
	usleep(50 * 1000);
	pthread_kill(th, SIGUSR1);
	pthread_join(th, NULL);
	ASSERT_EQ(a.ret, -EINTR);
}

TEST_F(svc, unregistering_wakes_sleepers)
{
	struct waiter_arg a = {
		.fd = self->fd, .watch = -1, .timeout = 5000, .evfd = -1
	};
	pthread_t th;

	start_waiter(_t, &th, &a);
	ASSERT_EQ(rpal_do_unregister(self->fd), 0);
	pthread_join(th, NULL);
	ASSERT_EQ(a.ret, -ENOENT);
}

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
}

FIXTURE_TEARDOWN(pair)
{
	peer_kill(&self->b);
	close(self->fd);
}

static uint64_t call_state(const struct rpal_register *caller)
{
	return RPAL_TCB_CALL | (uint64_t)caller->id << RPAL_TCB_CALLER_SHIFT |
	       (uint64_t)caller->generation << RPAL_TCB_GEN_SHIFT;
}

TEST_F(pair, kick_a_linked_peer)
{
	int64_t idx = peer_cmd(&self->b, PEER_THREAD, 0, 0, 0);
	struct peer c;

	ASSERT_EQ(idx, 0);
	ASSERT_EQ(peer_send(&self->b, PEER_WAIT, idx, 5000, 0), 0);
	usleep(50 * 1000);
	ASSERT_EQ(rpal_do_wake(self->fd, self->b.reg.id, idx), 0);
	ASSERT_EQ(peer_recv(&self->b), RPAL_WAKE_KICK);
	/* A service we do not share slots with is out of reach. */
	ASSERT_EQ(peer_spawn(&c), 0);
	ASSERT_EQ(rpal_do_wake(self->fd, c.reg.id, 0), -ENOENT);
	peer_kill(&c);
}

TEST_F(pair, no_return_while_a_call_runs)
{
	struct waiter_arg a = { .fd = self->fd, .timeout = 5000, .evfd = -1 };
	struct epoll_event ev = { .events = EPOLLIN };
	int p[2], ep = epoll_create1(EPOLL_CLOEXEC);
	pthread_t th;

	ASSERT_OK(pipe(p));
	ASSERT_OK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
	ASSERT_EQ(write(p[1], "x", 1), 1); /* readable from the start */
	a.watch = ep;
	/* The thread's TCB says a live sender (B) runs its context. */
	ASSERT_EQ(rpal_do_thread(self->fd, &a.tcb, -1), 0);
	a.tcb->state = call_state(&self->b.reg);
	ASSERT_EQ(rpal_do_wait(self->fd, 0, ep, 200, NULL), RPAL_WAKE_TIMEOUT);
	/* It asked to be kicked when the call ends. */
	EXPECT_EQ(a.tcb->wake_on_return, 1);
	/* The call ends: state back, flag seen, kick: readiness returns. */
	a.tcb->wake_on_return = 0;
	__atomic_store_n(&a.tcb->state, RPAL_TCB_WAITING, __ATOMIC_SEQ_CST);
	ASSERT_EQ(rpal_do_wait(self->fd, 0, ep, 1000, NULL), RPAL_WAKE_POLL);
	(void)th;
}

TEST_F(pair, dead_caller_is_reported)
{
	struct rpal_tcb_page *tcb;
	int idx = rpal_do_thread(self->fd, &tcb, -1);
	struct waiter_arg a;

	ASSERT_EQ(idx, 0);
	tcb->state = call_state(&self->b.reg);
	ASSERT_EQ(rpal_do_wait(self->fd, idx, -1, 100, NULL),
		  RPAL_WAKE_TIMEOUT);
	peer_kill(&self->b);
	ASSERT_EQ(rpal_do_wait(self->fd, idx, -1, 5000, NULL),
		  RPAL_WAKE_CALLER_DIED);
	/* A live id with another generation is an earlier, dead caller. */
	tcb->state = call_state(&self->me) ^ (1ULL << RPAL_TCB_GEN_SHIFT);
	ASSERT_EQ(rpal_do_wait(self->fd, idx, -1, 5000, NULL),
		  RPAL_WAKE_CALLER_DIED);
	(void)a;
}

static int report(int fd, uint32_t index, uint32_t callee, uint64_t cycles,
		  uint64_t calls, uint64_t *charged)
{
	struct rpal_report r = { .size = sizeof(r),
				 .index = index,
				 .callee_id = callee,
				 .cycles = cycles,
				 .calls = calls };

	if (ioctl(fd, RPAL_IOC_REPORT, &r))
		return -errno;
	*charged = r.charged_ns;
	return 0;
}

TEST_F(pair, reports_are_clamped)
{
	struct rpal_tcb_page *tcb;
	int idx = rpal_do_thread(self->fd, &tcb, -1);
	uint64_t charged = 0, t0;
	struct timespec ts;
	volatile uint64_t spin = 0;

	ASSERT_EQ(idx, 0);
	/* Burn ~50 ms of CPU, then claim a preposterous figure. */
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	t0 = ts.tv_sec * 1000000000ULL + ts.tv_nsec;
	do {
		for (int i = 0; i < 100000; i++)
			spin += i;
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	} while (ts.tv_sec * 1000000000ULL + ts.tv_nsec - t0 < 50000000ULL);
	ASSERT_EQ(
		report(self->fd, idx, self->b.reg.id, UINT64_MAX, 3, &charged),
		0);
	/* At most what the thread ran since it registered (~50 ms plus). */
	EXPECT_GT(charged, 20000000ULL);
	EXPECT_LT(charged, 2000000000ULL);
	/* Right after: nearly nothing left to charge. */
	ASSERT_EQ(report(self->fd, idx, self->b.reg.id, 1000, 1, &charged), 0);
	EXPECT_LT(charged, 5000000ULL);
	/* A modest claim within what was run is charged as claimed. */
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	t0 = ts.tv_sec * 1000000000ULL + ts.tv_nsec;
	do {
		for (int i = 0; i < 100000; i++)
			spin += i;
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	} while (ts.tv_sec * 1000000000ULL + ts.tv_nsec - t0 < 50000000ULL);
	ASSERT_EQ(report(self->fd, idx, self->b.reg.id, 2096000, 1, &charged),
		  0);
	/* 2,096,000 cycles: about a millisecond at the TSC's rate here. */
	EXPECT_GT(charged, 100000ULL);
	EXPECT_LT(charged, 20000000ULL);
	/* Only peers: not oneself, not strangers. */
	ASSERT_EQ(report(self->fd, idx, self->me.id, 1, 1, &charged), -ENOENT);
	ASSERT_EQ(report(self->fd, idx, 999, 1, 1, &charged), -ENOENT);
	ASSERT_EQ(report(self->fd, 9, self->b.reg.id, 1, 1, &charged), -ENOENT);
}
