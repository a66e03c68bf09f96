// SPDX-License-Identifier: GPL-2.0-only
/*
 * rpal threads: the kernel half of the RPAL call. A thread of a service
 * registers its thread control block (RPAL_IOC_THREAD), sleeps in the
 * module until kicked or its epoll fd is ready (RPAL_IOC_WAIT), is kicked
 * by its own service or a linked peer (RPAL_IOC_WAKE), and reports the
 * time it spent running peers' code (RPAL_IOC_REPORT).
 *
 * Lifetime: a thread object is referenced by its slot in svc->threads
 * (RCU) and by whoever looked it up (RPAL_IOC_WAIT sleeps holding one);
 * unregistering, or the service's teardown, empties the slot, marks it
 * dead and wakes its sleeper.
 */
#define pr_fmt(fmt) "rpal: " fmt

#include <linux/eventfd.h>
#include <linux/file.h>
#include <linux/poll.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <asm/div64.h>
#include <asm/tsc.h>

#include "internal.h"

void rpal_kthread_put(struct rpal_kthread *th)
{
	if (!refcount_dec_and_test(&th->ref))
		return;
	if (th->evctx)
		eventfd_ctx_put(th->evctx);
	kfree_rcu(th, rcu);
}

static void rpal_kick(struct rpal_kthread *th)
{
	atomic_inc(&th->kicks);
	wake_up(&th->wq);
	if (th->evctx) {
#ifdef RPAL_HAVE_EVENTFD_SIGNAL_NO_COUNT
		eventfd_signal(th->evctx);
#else
		eventfd_signal(th->evctx, 1);
#endif
	}
}

/* @svc's thread @index, with a reference (RCU held by the caller). */
struct rpal_kthread *rpal_kthread_get_rcu(struct rpal_service *svc, u32 index)
{
	struct rpal_kthread __rcu **threads = rcu_dereference(svc->threads);
	struct rpal_kthread *th;

	if (!threads || index >= RPAL_MAX_THREADS)
		return NULL;
	th = rcu_dereference(threads[index]);
	if (th && !refcount_inc_not_zero(&th->ref))
		th = NULL;
	return th;
}

/*
 * @svc's thread run by @task, without a reference (RCU held). A scan: only
 * slow paths ask (proxied syscalls, exits of tasks in a call).
 */
struct rpal_kthread *rpal_kthread_of_task_rcu(struct rpal_service *svc,
					      struct task_struct *task)
{
	struct rpal_kthread __rcu **threads = rcu_dereference(svc->threads);
	struct rpal_kthread *th;
	u32 i;

	if (!threads)
		return NULL;
	for (i = 0; i < RPAL_MAX_THREADS; i++) {
		th = rcu_dereference(threads[i]);
		if (th && th->task == task && !READ_ONCE(th->dead))
			return th;
	}
	return NULL;
}

static bool rpal_in_slot(struct rpal_service *svc, u64 addr, u64 len)
{
	return addr >= svc->base && addr < svc->end && len <= svc->end - addr;
}

int rpal_thread_register(struct rpal_service *svc, struct rpal_thread *t)
{
	struct rpal_kthread __rcu **threads;
	struct rpal_kthread *th;
	int index, ret;

	lockdep_assert_held(&rpal_mutex);
	if (!IS_ALIGNED(t->tcb, 8) || !rpal_in_slot(svc, t->tcb, 16))
		return -EINVAL;
	/* Read by the kernel whatever PKRU says: it must be key-0 memory. */
	if (t->record && (!IS_ALIGNED(t->record, 8) ||
			  !access_ok((void __user *)(unsigned long)t->record,
				     RPAL_CALL_RECORD_SIZE_VER0)))
		return -EINVAL;
	if (t->rescue && (!IS_ALIGNED(t->rescue, 64) ||
			  !rpal_in_slot(svc, t->rescue, RPAL_RESCUE_SIZE)))
		return -EINVAL;
	threads = rcu_dereference_protected(svc->threads,
					    lockdep_is_held(&rpal_mutex));
	if (!threads) {
		threads = kvcalloc(RPAL_MAX_THREADS, sizeof(*threads),
				   GFP_KERNEL);
		if (!threads)
			return -ENOMEM;
		rcu_assign_pointer(svc->threads, threads);
	}
	th = kzalloc(sizeof(*th), GFP_KERNEL);
	if (!th)
		return -ENOMEM;
	if (t->eventfd >= 0) {
		th->evctx = eventfd_ctx_fdget(t->eventfd);
		if (IS_ERR(th->evctx)) {
			ret = PTR_ERR(th->evctx);
			kfree(th);
			return ret == -EINVAL ? -EBADF : ret;
		}
	}
	index = ida_alloc_max(&svc->thread_ids, RPAL_MAX_THREADS - 1,
			      GFP_KERNEL);
	if (index < 0) {
		if (th->evctx)
			eventfd_ctx_put(th->evctx);
		kfree(th);
		return index;
	}
	th->svc = svc;
	th->index = index;
	th->task = current;
	th->tcb = (u64 __user *)(unsigned long)t->tcb;
	th->record = (struct rpal_call_record __user *)(unsigned long)t->record;
	th->rescue = (void __user *)(unsigned long)t->rescue;
	atomic_set(&th->kicks, 0);
	init_waitqueue_head(&th->wq);
	spin_lock_init(&th->proxy_lock);
	init_waitqueue_head(&th->proxy_wq);
	th->last_runtime = current->se.sum_exec_runtime;
	refcount_set(&th->ref, 1);
	rcu_assign_pointer(threads[index], th);
	t->out_index = index;
	return 0;
}

/* Empty the slot, wake a sleeper, drop the slot's reference. */
static void rpal_thread_remove(struct rpal_service *svc, u32 index)
{
	struct rpal_kthread __rcu **threads;
	struct rpal_kthread *th;

	lockdep_assert_held(&rpal_mutex);
	threads = rcu_dereference_protected(svc->threads,
					    lockdep_is_held(&rpal_mutex));
	th = rcu_dereference_protected(threads[index],
				       lockdep_is_held(&rpal_mutex));
	RCU_INIT_POINTER(threads[index], NULL);
	WRITE_ONCE(th->dead, true);
	wake_up(&th->wq);
	wake_up(&th->proxy_wq);
	ida_free(&svc->thread_ids, index);
	rpal_kthread_put(th);
}

int rpal_thread_unregister(struct rpal_service *svc, u32 index)
{
	struct rpal_kthread __rcu **threads;

	lockdep_assert_held(&rpal_mutex);
	threads = rcu_dereference_protected(svc->threads,
					    lockdep_is_held(&rpal_mutex));
	if (!threads || index >= RPAL_MAX_THREADS ||
	    !rcu_access_pointer(threads[index]))
		return -ENOENT;
	rpal_thread_remove(svc, index);
	return 0;
}

/* Teardown: every thread goes; sleepers wake and return -ENOENT. */
void rpal_threads_teardown(struct rpal_service *svc)
{
	struct rpal_kthread __rcu **threads;
	u32 i;

	lockdep_assert_held(&rpal_mutex);
	threads = rcu_dereference_protected(svc->threads,
					    lockdep_is_held(&rpal_mutex));
	if (!threads)
		return;
	for (i = 0; i < RPAL_MAX_THREADS; i++)
		if (rcu_access_pointer(threads[i]))
			rpal_thread_remove(svc, i);
}

/*
 * Something @svc's threads may be waiting for changed (a caller died, a
 * link went): each re-checks its state word or its pending syscall.
 */
void rpal_threads_poke(struct rpal_service *svc)
{
	struct rpal_kthread __rcu **threads;
	struct rpal_kthread *th;
	u32 i;

	rcu_read_lock();
	threads = rcu_dereference(svc->threads);
	for (i = 0; threads && i < RPAL_MAX_THREADS; i++) {
		th = rcu_dereference(threads[i]);
		if (!th)
			continue;
		wake_up(&th->wq);
		wake_up(&th->proxy_wq);
	}
	rcu_read_unlock();
}

/* After the last reference to the service (no reader is left). */
void rpal_threads_free(struct rpal_service *svc)
{
	kvfree(rcu_dereference_protected(svc->threads, 1));
}

/* A wait entry that wakes the sleeping task and remembers it did. */
struct rpal_waiter {
	poll_table pt;
	wait_queue_entry_t poll_entry, kick_entry;
	wait_queue_head_t *poll_head;
	struct task_struct *task;
	int triggered;
};

static int rpal_waiter_wake(struct rpal_waiter *w)
{
	/* Seen after the task sets its state, before it schedules. */
	smp_store_release(&w->triggered, 1);
	return wake_up_process(w->task);
}

static int rpal_poll_entry_wake(wait_queue_entry_t *e, unsigned int mode,
				int sync, void *key)
{
	return rpal_waiter_wake(container_of(e, struct rpal_waiter,
					     poll_entry));
}

static int rpal_kick_entry_wake(wait_queue_entry_t *e, unsigned int mode,
				int sync, void *key)
{
	return rpal_waiter_wake(container_of(e, struct rpal_waiter,
					     kick_entry));
}

/* poll_wait() from the watched file: one wait queue is enough (epoll). */
static void rpal_poll_queue(struct file *f, wait_queue_head_t *head,
			    poll_table *pt)
{
	struct rpal_waiter *w = container_of(pt, struct rpal_waiter, pt);

	if (w->poll_head)
		return;
	w->poll_head = head;
	init_waitqueue_func_entry(&w->poll_entry, rpal_poll_entry_wake);
	add_wait_queue(head, &w->poll_entry);
}

/* Does a CALL state word name a service that no longer runs? */
static bool rpal_caller_dead(u64 state)
{
	u32 id = (state >> RPAL_TCB_CALLER_SHIFT) & 0xffff;
	u32 gen = state >> RPAL_TCB_GEN_SHIFT;
	struct rpal_service *caller;
	bool dead;

	rcu_read_lock();
	caller = rpal_service_by_id_rcu(id);
	dead = !caller || caller->gen != gen ||
	       READ_ONCE(caller->state) != RPAL_SVC_ACTIVE;
	rcu_read_unlock();
	return dead;
}

static long rpal_thread_sleep(struct rpal_kthread *th, struct file *f,
			      long timeout, bool can_proxy,
			      struct rpal_wait *out)
{
	u64 __user *wake_on_return = th->tcb + 1;
	struct rpal_waiter w = { .task = current };
	bool queued = false;
	long ret = 0;
	u64 state;

	init_poll_funcptr(&w.pt, rpal_poll_queue);
	init_waitqueue_func_entry(&w.kick_entry, rpal_kick_entry_wake);
	add_wait_queue(&th->wq, &w.kick_entry);
	for (;;) {
		bool in_call;

		/* A syscall of the caller running our context comes first. */
		if (can_proxy && rpal_proxy_take(th, out))
			break;
		if (get_user(state, th->tcb)) {
			ret = -EFAULT;
			break;
		}
		in_call = (state & RPAL_TCB_STATE_MASK) == RPAL_TCB_CALL;
		if (in_call && rpal_caller_dead(state)) {
			out->reason |= RPAL_WAKE_CALLER_DIED;
			break;
		}
		out->kicks = atomic_xchg(&th->kicks, 0);
		if (out->kicks) {
			out->reason |= RPAL_WAKE_KICK;
			break;
		}
		if (READ_ONCE(th->dead)) {
			ret = -ENOENT;
			break;
		}
		if (f) {
			__poll_t mask = vfs_poll(f, queued ? NULL : &w.pt);

			queued = true;
			if ((mask & (EPOLLIN | EPOLLRDNORM)) && !in_call) {
				out->reason |= RPAL_WAKE_POLL;
				break;
			}
		}
		if (in_call) {
			/*
			 * Ask the sender to kick us when it ends the call.
			 * Pairs with its "state = WAITING; full barrier;
			 * read wake_on_return": one of us sees the other.
			 */
			if (put_user(1ULL, wake_on_return)) {
				ret = -EFAULT;
				break;
			}
			/* The flag store before the state re-read: Dekker. */
			smp_mb();
			if (get_user(state, th->tcb)) {
				ret = -EFAULT;
				break;
			}
			if ((state & RPAL_TCB_STATE_MASK) != RPAL_TCB_CALL)
				continue;
		}
		if (!timeout) {
			out->reason |= RPAL_WAKE_TIMEOUT;
			break;
		}
		set_current_state(TASK_INTERRUPTIBLE);
		/* Pairs with the release in rpal_waiter_wake(). */
		if (smp_load_acquire(&w.triggered) ||
		    atomic_read(&th->kicks)) {
			__set_current_state(TASK_RUNNING);
			WRITE_ONCE(w.triggered, 0);
			continue;
		}
		if (signal_pending(current)) {
			__set_current_state(TASK_RUNNING);
			ret = -EINTR;
			break;
		}
		timeout = schedule_timeout(timeout);
		__set_current_state(TASK_RUNNING);
		WRITE_ONCE(w.triggered, 0);
	}
	remove_wait_queue(&th->wq, &w.kick_entry);
	if (w.poll_head)
		remove_wait_queue(w.poll_head, &w.poll_entry);
	return ret;
}

long rpal_thread_wait(struct rpal_service *svc, struct rpal_wait *wt)
{
	struct file *f = NULL;
	struct rpal_kthread *th;
	long timeout, ret;

	rcu_read_lock();
	th = rpal_kthread_get_rcu(svc, wt->index);
	rcu_read_unlock();
	if (!th)
		return -ENOENT;
	if (th->task != current) {
		ret = -EPERM;
		goto out;
	}
	if (wt->fd >= 0) {
		f = fget(wt->fd);
		if (!f) {
			ret = -EBADF;
			goto out;
		}
	}
	if (wt->flags & RPAL_WAIT_PROXY_DONE)
		rpal_proxy_complete(th, wt->proxy_done_seq, wt->proxy_ret);
	timeout = wt->timeout_ms < 0 ? MAX_SCHEDULE_TIMEOUT :
				       msecs_to_jiffies(wt->timeout_ms);
	ret = rpal_thread_sleep(th, f, timeout,
				wt->size >= RPAL_WAIT_SIZE_VER1 && th->rescue,
				wt);
	if (f)
		fput(f);
out:
	rpal_kthread_put(th);
	return ret;
}

/* The service @id if it is the caller's own or a peer it actively sees. */
struct rpal_service *rpal_reachable_rcu(struct rpal_service *self, u32 id)
{
	struct rpal_service *peer;

	if (!id || id == self->id)
		return self;
	peer = rpal_service_by_id_rcu(id);
	if (!peer || !rpal_share_sees_rcu(self, peer))
		return NULL;
	return peer;
}

long rpal_thread_wake(struct rpal_service *self, struct rpal_wake *wk)
{
	struct rpal_service *target;
	struct rpal_kthread *th = NULL;

	rcu_read_lock();
	target = rpal_reachable_rcu(self, wk->service_id);
	if (target)
		th = rpal_kthread_get_rcu(target, wk->index);
	rcu_read_unlock();
	if (!target)
		return -ENOENT;
	if (!th)
		return -ESRCH;
	rpal_kick(th);
	rpal_kthread_put(th);
	return 0;
}

/*
 * TSC cycles to ns, saturating. x86's mul_u64_u64_div_u64() is mulq;divq,
 * and divq traps (#DE) when the quotient does not fit 64 bits: any
 * claim that large is cut to U64_MAX before dividing.
 */
static u64 rpal_cycles_to_ns(u64 cycles)
{
	if (!tsc_khz)
		return 0;
	if (div_u64(cycles, tsc_khz) >= div_u64(U64_MAX, NSEC_PER_MSEC))
		return U64_MAX;
	return mul_u64_u64_div_u64(cycles, NSEC_PER_MSEC, tsc_khz);
}

long rpal_thread_report(struct rpal_service *self, struct rpal_report *rp)
{
	struct rpal_service *callee;
	struct rpal_kthread *th;
	u64 now, ran, ns;
	long ret = 0;

	rcu_read_lock();
	th = rpal_kthread_get_rcu(self, rp->index);
	callee = rpal_reachable_rcu(self, rp->callee_id);
	if (callee == self)
		callee = NULL;
	if (callee && !refcount_inc_not_zero(&callee->ref))
		callee = NULL;
	rcu_read_unlock();
	if (!th || th->task != current) {
		ret = th ? -EPERM : -ENOENT;
		goto out;
	}
	if (!callee) {
		ret = -ENOENT;
		goto out;
	}
	/*
	 * Never more than the thread has run and not yet accounted, whatever
	 * the figure claims (a wrong TSC reading or a lie). One budget for
	 * all callees: reports for several callees in a row share it.
	 */
	now = current->se.sum_exec_runtime;
	ran = now - th->last_runtime;
	th->last_runtime = now;
	th->budget += ran;
	ns = min(rpal_cycles_to_ns(rp->cycles), th->budget);
	th->budget -= ns;
	atomic64_add(ns, &callee->ns_borrowed);
	atomic64_add(ns, &self->ns_lent);
	atomic64_add(rp->calls, &callee->calls_received);
	atomic64_add(rp->calls, &self->calls_made);
	rp->charged_ns = ns;
out:
	if (callee)
		rpal_service_put(callee);
	if (th)
		rpal_kthread_put(th);
	return ret;
}
