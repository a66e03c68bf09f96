// SPDX-License-Identifier: MIT
/*
 * Receiving: rpal_epoll_wait() parks the thread's context (or, when a
 * sender is running it, hands it back), the wait fiber sleeps in the
 * module on the thread's behalf, runs the syscalls of the caller that
 * runs its code, and resumes contexts a caller could not finish;
 * rpal_recv() takes messages off the queue. The state word decides who
 * owns the saved context: docs/runtime-design.md.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "queue.h"
#include "rt.h"

#define VIS __attribute__((visibility("default")))

static uint64_t state_of(const struct __rpal_tcb *tcb)
{
	return atomic_load(&((struct __rpal_tcb *)tcb)->state) &
	       RPAL_TCB_STATE_MASK;
}

static bool borrowed(const struct __rpal_thread *t)
{
	return state_of(t->tcb) == RPAL_TCB_CALL;
}

/* The receiver fd as ready, the way the program added it. */
static int synth_event(struct __rpal_thread *t, struct epoll_event *ev)
{
	ev->events = EPOLLIN;
	ev->data = t->evfd_data;
	return 1;
}

static bool has_event_for(const struct __rpal_thread *t,
			  const struct epoll_event *ev, int n)
{
	for (int i = 0; i < n; i++)
		if (ev[i].data.u64 == t->evfd_data.u64)
			return true;
	return false;
}

/* After the context is resumed: what rpal_epoll_wait() returns. */
static int resumed(struct __rpal_thread *t, long how, struct epoll_event *ev,
		   int max)
{
	int n;

	if (how == RPAL_RESUME_CALL) {
		/* A call runs this context: it is no longer the saved one. */
		t->tcb->ctx_live = 1;
		return synth_event(t, ev);
	}
	n = t->wait_result;
	if (n < 0) {
		errno = t->wait_errno;
		return -1;
	}
	if (!__rpal_queue_empty(t->queue) && n < max &&
	    !has_event_for(t, ev, n))
		n += synth_event(t, &ev[n]);
	return n;
}

/* The arguments of a wait, as the wait fiber needs them. */
struct wait_args {
	int epfd, timeout, max;
	struct epoll_event *events;
};

/*
 * Record the wait the context is entering. Only the owner of the context
 * writes (the thread itself, or code in a call of it), so a plain
 * release store publishes the generation, and a wait like the last one
 * (the usual loop) writes nothing. Returns true if the wait fiber,
 * already asleep for an earlier wait, must look again: it polls another
 * epoll set, or a deadline is to be (re)computed.
 */
static bool wait_args_set(struct __rpal_thread *t, int epfd,
			  struct epoll_event *events, int max, int timeout)
{
	int old_epfd =
		atomic_load_explicit(&t->wait_epfd, memory_order_relaxed);
	int old_timeout =
		atomic_load_explicit(&t->wait_timeout, memory_order_relaxed);
	uint32_t gen;

	if (old_epfd == epfd && old_timeout == timeout && timeout < 0 &&
	    atomic_load_explicit(&t->wait_events, memory_order_relaxed) ==
		    events &&
	    atomic_load_explicit(&t->wait_max, memory_order_relaxed) == max)
		return false;
	atomic_store_explicit(&t->wait_epfd, epfd, memory_order_relaxed);
	atomic_store_explicit(&t->wait_events, events, memory_order_relaxed);
	atomic_store_explicit(&t->wait_max, max, memory_order_relaxed);
	atomic_store_explicit(&t->wait_timeout, timeout, memory_order_relaxed);
	gen = atomic_load_explicit(&t->wait_gen, memory_order_relaxed);
	atomic_store_explicit(&t->wait_gen, gen + 1, memory_order_release);
	return old_epfd != epfd || old_timeout != timeout || timeout >= 0;
}

static uint32_t wait_args_get(struct __rpal_thread *t, struct wait_args *a)
{
	uint32_t gen = atomic_load_explicit(&t->wait_gen, memory_order_acquire);

	a->epfd = atomic_load_explicit(&t->wait_epfd, memory_order_relaxed);
	a->events = atomic_load_explicit(&t->wait_events, memory_order_relaxed);
	a->max = atomic_load_explicit(&t->wait_max, memory_order_relaxed);
	a->timeout =
		atomic_load_explicit(&t->wait_timeout, memory_order_relaxed);
	return gen;
}

static long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

VIS int rpal_epoll_ctl(int epfd, int op, int fd, struct epoll_event *event)
{
	struct __rpal_thread *t = __rpal_self;

	if (t && fd == t->evfd && event &&
	    (op == EPOLL_CTL_ADD || op == EPOLL_CTL_MOD))
		t->evfd_data = event->data;
	return epoll_ctl(epfd, op, fd, event);
}

VIS int rpal_epoll_wait(int epfd, struct epoll_event *events, int maxevents,
			int timeout)
{
	struct __rpal_thread *t = __rpal_self;
	struct __rpal_tcb *tcb;
	uint64_t spin;
	long how, end;
	int n;

	if (!t)
		return epoll_wait(epfd, events, maxevents, timeout);
	if (maxevents <= 0) {
		errno = EINVAL;
		return -1;
	}
	tcb = t->tcb;
again:
	if (borrowed(t)) {
		/* More messages: this call serves them too. */
		if (!__rpal_queue_empty(t->queue))
			return synth_event(t, events);
		/*
		 * A sender runs us: its call ends here, and our wait fiber
		 * finishes this wait, into these events (an earlier wait's
		 * array may be dead stack by now). If it must poll another
		 * set or honour another timeout, the caller kicks it.
		 */
		if (wait_args_set(t, epfd, events, maxevents, timeout))
			atomic_store(&tcb->wake_on_return, 1);
		how = __rpal_call_leave(tcb, __rpal_svc.call_how);
		if (how == RPAL_RESUME_REWAIT)
			goto again;
		return resumed(t, how, events, maxevents);
	}
	if (!__rpal_queue_empty(t->queue))
		return synth_event(t, events);
	n = epoll_wait(epfd, events, maxevents, 0);
	if (n != 0)
		return n;
	spin = atomic_load(&__rpal_svc.spin_ns);
	if (spin) {
		end = now_ns() + (long)spin;
		do {
			if (!__rpal_queue_empty(t->queue))
				return synth_event(t, events);
			__builtin_ia32_pause();
		} while (now_ns() < end);
	}
	if (timeout == 0)
		return 0;
	wait_args_set(t, epfd, events, maxevents, timeout);
	tcb->fsbase = t->kb->own_fsbase;
	tcb->pkru = t->kb->pkru_own;
	how = (long)__rpal_fiber_switch(&tcb->ctx, &t->waiter_ctx, t);
	return resumed(t, how, events, maxevents);
}

/* The wait fiber takes the context back (WAITING -> RUNNING). */
static bool own(struct __rpal_tcb *tcb)
{
	uint64_t w = RPAL_TCB_WAITING;

	return atomic_compare_exchange_strong(&tcb->state, &w,
					      RPAL_TCB_RUNNING);
}

/*
 * Resume a context a caller could not finish (it died, or the code it ran
 * faulted): every register and the extended state, on this thread. We
 * own the context (RUNNING). Only returns if the rescue is unusable.
 */
static void resume_rescue(struct __rpal_thread *t)
{
	struct rpal_rescue *r = t->rescue;
	uint64_t regs[RPAL_RESCUE_NREGS], ip, rfbm;
	uint32_t fmt = r->format;
	const char *x = (const char *)r + r->xsave_offset;

	memcpy(regs, r->regs, sizeof(regs));
	if (r->flags & RPAL_RESCUE_PROXY)
		/* Its syscall, which we ran: the caller died waiting. */
		regs[RPAL_RESCUE_RAX] = r->proxy_seq == t->proxy_seq
						? (uint64_t)t->proxy_ret
						: (uint64_t)-EINTR;
	ip = regs[RPAL_RESCUE_RIP];
	if (ip >= (uintptr_t)__rpal_call_leave &&
	    ip < (uintptr_t)__rpal_call_leave_end) {
		/* It was giving the context back: wait again instead. */
		regs[RPAL_RESCUE_RIP] = *(uint64_t *)regs[RPAL_RESCUE_RSP];
		regs[RPAL_RESCUE_RSP] += 8;
		regs[RPAL_RESCUE_RAX] = RPAL_RESUME_REWAIT;
	}
	if (r->xsave_offset % 64 || r->xsave_offset < sizeof(*r) ||
	    r->xsave_size > RPAL_RESCUE_SIZE - r->xsave_offset)
		fmt = RPAL_RESCUE_FMT_NONE;
	/* PKRU stays ours; AMX tiles are not carried. */
	rfbm = r->xfeatures & ~((1ULL << 9) | (3ULL << 17));
	r->flags = 0;
	t->tcb->ctx_live = 1;
	t->stats.rescued++;
	__rpal_rescue_resume(regs, x, rfbm, fmt);
}

static _Noreturn void context_lost(struct __rpal_thread *t)
{
	static const char msg[] =
		"rpal: a caller died while running this thread's code, and "
		"the context it ran could not be recovered\n";

	(void)t;
	__rpal_syscall6(SYS_write, 2, (long)msg, sizeof(msg) - 1, 0, 0, 0);
	abort();
}

/* The caller running our context died (the module says so). */
static void caller_died(struct __rpal_thread *t)
{
	struct __rpal_tcb *tcb = t->tcb;
	uint64_t st = atomic_load(&tcb->state);
	struct rpal_rescue *r = t->rescue;

	if ((st & RPAL_TCB_STATE_MASK) != RPAL_TCB_CALL)
		return;
	if ((atomic_load_explicit((_Atomic uint32_t *)&r->flags,
				  memory_order_acquire) &
	     RPAL_RESCUE_VALID) &&
	    r->owner == st) {
		if (atomic_compare_exchange_strong(&tcb->state, &st,
						   RPAL_TCB_RUNNING))
			resume_rescue(t);
		return;
	}
	/* It died entering or leaving: the saved context is intact. */
	if (!tcb->ctx_live) {
		atomic_compare_exchange_strong(&tcb->state, &st,
					       RPAL_TCB_WAITING);
		return;
	}
	context_lost(t);
}

/* A caller's code faulted and handed the context back (state RESCUE). */
static void rescued(struct __rpal_thread *t, uint64_t st)
{
	if (!(atomic_load_explicit((_Atomic uint32_t *)&t->rescue->flags,
				   memory_order_acquire) &
	      RPAL_RESCUE_VALID))
		context_lost(t);
	if (atomic_compare_exchange_strong(&t->tcb->state, &st,
					   RPAL_TCB_RUNNING))
		resume_rescue(t);
}

/* A syscall of our code, which a caller is running: run it here. */
static void run_proxy(struct __rpal_thread *t, const struct rpal_wait *w)
{
	t->proxy_ret =
		__rpal_syscall6((long)w->proxy_nr, (long)w->proxy_args[0],
				(long)w->proxy_args[1], (long)w->proxy_args[2],
				(long)w->proxy_args[3], (long)w->proxy_args[4],
				(long)w->proxy_args[5]);
	t->proxy_seq = w->proxy_seq;
	t->proxy_report = true;
	t->stats.proxied++;
}

static int module_wait(struct __rpal_thread *t, int fd, int timeout_ms,
		       struct rpal_wait *w)
{
	int ret;

	memset(w, 0, sizeof(*w));
	w->size = sizeof(*w);
	w->index = t->tcb->kindex;
	w->fd = fd;
	w->timeout_ms = timeout_ms;
	if (t->proxy_report) {
		w->flags = RPAL_WAIT_PROXY_DONE;
		w->proxy_ret = t->proxy_ret;
		w->proxy_done_seq = t->proxy_seq;
	}
	ret = (int)__rpal_ioctl(RPAL_IOC_WAIT, w);
	/* The module took the result before it slept, whatever came next. */
	t->proxy_report = false;
	return ret;
}

/*
 * The thread's context is saved and WAITING. Sleep in the module until
 * there is something for the thread, then take the context back; run
 * syscalls of the caller that runs it meanwhile. Returns with the context
 * owned (RUNNING) and t->wait_result set, or resumes a rescued context.
 */
static long deadline_of(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : now_ns() + timeout_ms * 1000000L;
}

static void wait_loop(struct __rpal_thread *t)
{
	struct __rpal_tcb *tcb = t->tcb;
	struct wait_args a;
	uint32_t gen = wait_args_get(t, &a);
	long deadline = deadline_of(a.timeout);
	struct rpal_wait w;
	uint64_t st;
	int ret, left;

	for (;;) {
		/* Code in a call entered another wait: that one counts now. */
		if (atomic_load_explicit(&t->wait_gen, memory_order_acquire) !=
		    gen) {
			gen = wait_args_get(t, &a);
			deadline = deadline_of(a.timeout);
		}
		st = atomic_load(&tcb->state);
		if ((st & RPAL_TCB_STATE_MASK) == RPAL_TCB_WAITING &&
		    !__rpal_queue_empty(t->queue) && own(tcb)) {
			t->wait_result = 0;
			return;
		}
		if ((st & RPAL_TCB_STATE_MASK) == RPAL_TCB_RESCUE) {
			rescued(t, st);
			continue;
		}
		left = -1;
		if (deadline >= 0) {
			long ns = deadline - now_ns();

			left = ns > 0 ? (int)((ns + 999999) / 1000000) : 0;
		}
		/* About to sleep: the calls' time is due now, not later. */
		if (t->tacc.n)
			__rpal_account_flush(t);
		ret = module_wait(t, a.epfd, left, &w);
		if (ret < 0) {
			/* EINTR: a handler ran (on the signal stack). */
			if (own(tcb)) {
				t->wait_result = -1;
				t->wait_errno = -ret;
				return;
			}
			continue;
		}
		if (w.reason & RPAL_WAKE_PROXY) {
			run_proxy(t, &w);
			continue;
		}
		if (w.reason & RPAL_WAKE_CALLER_DIED) {
			caller_died(t);
			continue;
		}
		if (w.reason & (RPAL_WAKE_POLL | RPAL_WAKE_TIMEOUT)) {
			int n;

			if (!own(tcb))
				continue;
			/*
			 * Owned: no call can change the wait any more. A
			 * newer gen makes the next lap recompute the deadline.
			 */
			wait_args_get(t, &a);
			n = epoll_wait(a.epfd, a.events, a.max, 0);
			if (n == 0 && !(w.reason & RPAL_WAKE_TIMEOUT) &&
			    __rpal_queue_empty(t->queue)) {
				/* Spurious: park again. */
				atomic_store(&tcb->state, RPAL_TCB_WAITING);
				continue;
			}
			t->wait_result = n;
			t->wait_errno = n < 0 ? errno : 0;
			return;
		}
		/* A kick: look at the state again. */
	}
}

void __rpal_waiter_main(void *arg)
{
	struct __rpal_thread *t = arg;

	for (;;) {
		/* Off the thread's stack now: senders may take the context. */
		t->tcb->ctx_live = 0;
		atomic_exchange(&t->tcb->state, RPAL_TCB_WAITING);
		wait_loop(t);
		__rpal_fiber_switch(&t->waiter_ctx, &t->tcb->ctx,
				    (void *)RPAL_RESUME_OWN);
	}
}

VIS int rpal_recv(void *buf, size_t len, struct rpal_msg_info *info)
{
	struct __rpal_thread *t = __rpal_self;
	uint32_t sender = 0;
	uint64_t drain;
	int n;

	if (!t)
		return -EPERM;
	for (;;) {
		n = __rpal_queue_pop(
			t->queue, buf,
			len > UINT32_MAX ? UINT32_MAX : (uint32_t)len, &sender);
		if (n != -EINPROGRESS && n != -EIO)
			break;
		/* A claim not published: its sender may be dead. */
		__rpal_read_events();
		if (n == -EIO || __rpal_sender_dead(sender)) {
			__rpal_queue_skip(t->queue);
			continue;
		}
		n = -EAGAIN;
		break;
	}
	if (n >= 0 && info) {
		info->sender_id = sender & 0xffff;
		info->len = (uint32_t)n;
	}
	if (n == -EMSGSIZE && info)
		info->len = __rpal_queue_max_msg(t->queue);
	/* Empty: rearm the receiver fd (not while borrowed: a syscall). */
	if (n == -EAGAIN && !borrowed(t))
		__rpal_syscall6(SYS_read, t->evfd, (long)&drain, sizeof(drain),
				0, 0, 0);
	return n;
}
