// SPDX-License-Identifier: MIT
/*
 * rpal threads: a thread becomes one (its key-0 block and signal stack,
 * its region in the slot with queue and wait stack, its TCB registered
 * with the module, syscall user dispatch armed but allowing), and stops
 * being one when it exits.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "queue.h"
#include "rt.h"

#ifndef PR_SET_SYSCALL_USER_DISPATCH
#define PR_SET_SYSCALL_USER_DISPATCH 59
#define PR_SYS_DISPATCH_OFF 0
#define PR_SYS_DISPATCH_ON 1
#endif

#define VIS __attribute__((visibility("default")))

__thread struct __rpal_thread *__rpal_self;

static pthread_key_t rpal_thread_key;
static pthread_once_t rpal_thread_once = PTHREAD_ONCE_INIT;

struct __rpal_kblock *__rpal_kblock_of(const void *sp)
{
	uintptr_t base = (uintptr_t)__rpal_svc.kblocks, a = (uintptr_t)sp;
	struct __rpal_kblock *kb;

	if (!base || a < base ||
	    a >= base + RPAL_MAX_RTHREADS * RPAL_KBLOCK_SIZE)
		return NULL;
	kb = (struct __rpal_kblock *)(a & ~(RPAL_KBLOCK_SIZE - 1));
	return kb->magic == RPAL_KBLOCK_MAGIC ? kb : NULL;
}

static void rpal_thread_exit(void *arg)
{
	(void)arg;
	rpal_thread_fini();
}

static void rpal_thread_key_init(void)
{
	pthread_key_create(&rpal_thread_key, rpal_thread_exit);
}

static int alloc_index(void)
{
	uint64_t used = atomic_load(&__rpal_svc.rthreads_used);

	for (;;) {
		int i = __builtin_ffsll((long long)~used) - 1;

		if (i < 0 || i >= RPAL_MAX_RTHREADS)
			return -ENOSPC;
		if (atomic_compare_exchange_weak(&__rpal_svc.rthreads_used,
						 &used, used | 1ULL << i))
			return i;
	}
}

static void free_index(int i)
{
	atomic_fetch_and(&__rpal_svc.rthreads_used, ~(1ULL << i));
}

static uint64_t own_fsbase(void)
{
	unsigned long fs = 0;

	syscall(SYS_arch_prctl, 0x1003 /* ARCH_GET_FS */, &fs);
	return fs;
}

/* Async-signal-safe, no TLS: usable with another service's fsbase. */
void __rpal_set_fsbase(uint64_t fsbase)
{
	if (__rpal_svc.have_fsgsbase)
		__asm__ volatile("wrfsbase %0" : : "r"(fsbase) : "memory");
	else
		__rpal_syscall6(SYS_arch_prctl, 0x1002 /* ARCH_SET_FS */,
				(long)fsbase, 0, 0, 0, 0);
}

/*
 * A sender can enter this thread's context only if the context's stack,
 * TLS and code all lie in the slot, which it sees: true for every thread
 * of a program started with rpal-run, and for threads created after
 * rpal_init() in any program whose code is in the slot.
 */
static bool thread_callable(uint64_t fsbase)
{
	uint64_t base = __rpal_svc.reg.slot_base;
	char here;

	return __rpal_in_slot(base, (uintptr_t)&here) &&
	       __rpal_in_slot(base, fsbase) &&
	       __rpal_in_slot(base, (uintptr_t)&rpal_epoll_wait);
}

VIS int rpal_thread_init(void)
{
	struct __rpal_service *s = &__rpal_svc;
	struct rpal_thread th;
	struct __rpal_kblock *kb;
	struct __rpal_thread *t;
	struct __rpal_tcb *tcb;
	stack_t ss;
	char *region;
	int i, ret;

	if (s->fd < 0)
		return -EPERM;
	if (__rpal_self)
		return __rpal_self->index;
	pthread_once(&rpal_thread_once, rpal_thread_key_init);
	i = alloc_index();
	if (i < 0)
		return i;
	region = mmap((char *)(uintptr_t)s->reg.slot_base + RPAL_REGION_OFF(i),
		      RPAL_THREAD_REGION, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (region == MAP_FAILED) {
		ret = -errno;
		goto err_index;
	}
	t = (struct __rpal_thread *)region;
	memset(t, 0, sizeof(*t));
	t->index = i;
	t->queue = region + RPAL_QUEUE_OFF;
	ret = __rpal_queue_init(t->queue,
				__rpal_queue_bytes(s->queue_len, s->max_msg),
				s->queue_len, s->max_msg);
	if (ret)
		goto err_region;
	/* Touched now: the module writes it with page faults disabled. */
	t->rescue = (struct rpal_rescue *)(region + RPAL_RESCUE_OFF);
	memset(t->rescue, 0, RPAL_RESCUE_SIZE);
	t->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->evfd < 0) {
		ret = -errno;
		goto err_region;
	}
	t->evfd_data.fd = t->evfd;
	__rpal_tacc_init(&t->tacc, s->tsc_hz);

	kb = (struct __rpal_kblock *)(s->kblocks + i * RPAL_KBLOCK_SIZE);
	memset(kb, 0, sizeof(*kb));
	kb->rec.size = sizeof(kb->rec);
	kb->rec.selector = RPAL_CALL_IDLE;
	kb->magic = RPAL_KBLOCK_MAGIC;
	if (s->have_pku) {
		/* Threads from before rpal_init() lack the key: open it. */
		kb->pkru_own = __rpal_pkru_open(__rpal_rdpkru(), s->reg.pkey);
		__rpal_wrpkru(kb->pkru_own);
	}
	kb->thread = t;
	kb->own_fsbase = own_fsbase();
	t->kb = kb;

	tcb = __rpal_tcb_at(s->reg.slot_base, (uint32_t)i);
	memset(tcb, 0, sizeof(*tcb));
	atomic_store(&tcb->state, RPAL_TCB_RUNNING);
	tcb->index = i;
	tcb->fsbase = kb->own_fsbase;
	tcb->pkru = kb->pkru_own;
	tcb->callable = thread_callable(kb->own_fsbase);
	t->tcb = tcb;

	memset(&th, 0, sizeof(th));
	th.size = sizeof(th);
	th.tcb = (uintptr_t)tcb;
	th.eventfd = t->evfd;
	th.record = (uintptr_t)&kb->rec;
	th.rescue = (uintptr_t)t->rescue;
	if (ioctl(s->fd, RPAL_IOC_THREAD, &th)) {
		ret = -errno;
		goto err_evfd;
	}
	tcb->kindex = th.out_index;

	ret = __rpal_fiber_make(&t->waiter_ctx,
				region + RPAL_THREAD_REGION - RPAL_WAIT_STACK,
				RPAL_WAIT_STACK, __rpal_waiter_main);
	if (ret)
		goto err_thread;
	ss.ss_sp = (char *)kb + RPAL_KBLOCK_HDR;
	ss.ss_size = RPAL_SIGSTACK_SIZE;
	ss.ss_flags = 0;
	if (sigaltstack(&ss, NULL)) {
		ret = -errno;
		goto err_thread;
	}
	/*
	 * Armed now, allowing until a call sets the selector: one prctl per
	 * thread. No exempt range: during a call every syscall is the
	 * callee's, the runtime's own included (the module runs it there).
	 */
	if (prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON, 0, 0,
		  (unsigned long)&kb->rec.selector)) {
		ret = -errno;
		goto err_thread;
	}
	__rpal_self = t;
	pthread_setspecific(rpal_thread_key, t);
	atomic_store_explicit(&s->area->kindex[i], tcb->kindex + 1,
			      memory_order_release);
	return i;

err_thread:
	th.flags = RPAL_THREAD_UNREGISTER;
	th.index = tcb->kindex;
	ioctl(s->fd, RPAL_IOC_THREAD, &th);
err_evfd:
	close(t->evfd);
err_region:
	munmap(region, RPAL_THREAD_REGION);
err_index:
	free_index(i);
	return ret;
}

VIS void rpal_thread_fini(void)
{
	struct __rpal_thread *t = __rpal_self;
	struct rpal_thread th = { .size = sizeof(th),
				  .flags = RPAL_THREAD_UNREGISTER };
	stack_t ss = { .ss_flags = SS_DISABLE };
	int i;

	/* Not from borrowed code: the thread it names runs elsewhere. */
	if (!t || (atomic_load(&t->tcb->state) & RPAL_TCB_STATE_MASK) ==
			  RPAL_TCB_CALL)
		return;
	__rpal_account_flush(t);
	i = t->index;
	atomic_store(&__rpal_svc.area->kindex[i], 0);
	prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_OFF, 0, 0, 0);
	sigaltstack(&ss, NULL);
	th.index = t->tcb->kindex;
	ioctl(__rpal_svc.fd, RPAL_IOC_THREAD, &th);
	close(t->evfd);
	__rpal_self = NULL;
	pthread_setspecific(rpal_thread_key, NULL);
	munmap(t, RPAL_THREAD_REGION);
	free_index(i);
}

VIS int rpal_receiver_fd(void)
{
	return __rpal_self ? __rpal_self->evfd : -EPERM;
}

VIS int rpal_thread_stats(struct rpal_thread_stats *out)
{
	if (!__rpal_self)
		return -EPERM;
	*out = __rpal_self->stats;
	return 0;
}
