// SPDX-License-Identifier: GPL-2.0-only
/*
 * Syscalls of borrowed code. During an RPAL call a thread runs another
 * service's code from that service's saved context; a syscall there must
 * run in the callee's process, as the thread whose context it is.
 *
 * The runtime arms syscall user dispatch on every rpal thread, with the
 * selector byte in the thread's call record: RPAL_CALL_ACTIVE (BLOCK)
 * while it runs a call. Every syscall then reaches
 * syscall_user_dispatch(regs) (kernel/entry/syscall_user_dispatch.c, the
 * same on 6.1 and 6.12), which would raise SIGSYS. For a thread in a call
 * the ftrace callback points ip at rpal_sud_dispatch(), same prototype,
 * which hands the syscall to the callee's thread (asleep in
 * RPAL_IOC_WAIT: it runs the syscall in its own process and reports the
 * result with its next wait), sleeps until the result is back, and
 * returns true: syscall_trace_enter() then skips the syscall and the
 * thread returns to user mode with regs->ax, the result.
 */
#define pr_fmt(fmt) "rpal: " fmt

#include <linux/compat.h>
#include <linux/prctl.h>
#include <linux/sched/signal.h>
#include <linux/uaccess.h>
#include <asm/prctl.h>
#include <asm/unistd.h>

#include "internal.h"

/* Dispatches running now: module exit waits for them (they sleep). */
static atomic_t rpal_sud_inflight = ATOMIC_INIT(0);
static DECLARE_WAIT_QUEUE_HEAD(rpal_sud_wq);

/*
 * What a syscall of borrowed code becomes: run by the callee's thread (the
 * rule), run here (those acting on the user context itself, which is the
 * callee's: a signal handler's return, reading fsbase), or refused (those
 * that would act on the callee's thread, asleep in the module, or create
 * threads and processes from a context that is not theirs).
 */
enum rpal_sud_policy { RPAL_SUD_PROXY, RPAL_SUD_LOCAL, RPAL_SUD_REFUSE };

static enum rpal_sud_policy rpal_sud_policy(struct pt_regs *regs)
{
	if (in_compat_syscall())
		return RPAL_SUD_REFUSE;
	switch (regs->orig_ax) {
	case __NR_rt_sigreturn:
		return RPAL_SUD_LOCAL;
	case __NR_arch_prctl:
		if (regs->di == ARCH_GET_FS || regs->di == ARCH_GET_GS)
			return RPAL_SUD_LOCAL;
		return RPAL_SUD_REFUSE;
	case __NR_clone:
	case __NR_clone3:
	case __NR_fork:
	case __NR_vfork:
	case __NR_exit:
	case __NR_rseq:
	case __NR_set_tid_address:
	case __NR_sigaltstack:
		return RPAL_SUD_REFUSE;
	case __NR_prctl:
		if (regs->di == PR_SET_SYSCALL_USER_DISPATCH)
			return RPAL_SUD_REFUSE;
		return RPAL_SUD_PROXY;
	default:
		return RPAL_SUD_PROXY;
	}
}

/* Called by the callee's RPAL_IOC_WAIT: hand out a posted syscall. */
bool rpal_proxy_take(struct rpal_kthread *th, struct rpal_wait *out)
{
	struct rpal_proxy *p = &th->proxy;
	bool taken = false;

	spin_lock(&th->proxy_lock);
	if (p->state == RPAL_PROXY_POSTED) {
		p->state = RPAL_PROXY_TAKEN;
		out->proxy_seq = p->seq;
		out->proxy_nr = p->nr;
		memcpy(out->proxy_args, p->args, sizeof(out->proxy_args));
		out->reason |= RPAL_WAKE_PROXY;
		taken = true;
	}
	spin_unlock(&th->proxy_lock);
	return taken;
}

/* Called by the callee's next RPAL_IOC_WAIT: the result of @seq. */
void rpal_proxy_complete(struct rpal_kthread *th, u64 seq, s64 ret)
{
	struct rpal_proxy *p = &th->proxy;

	spin_lock(&th->proxy_lock);
	if (p->state == RPAL_PROXY_TAKEN && p->seq == seq) {
		p->ret = ret;
		p->state = RPAL_PROXY_DONE;
	}
	spin_unlock(&th->proxy_lock);
	wake_up(&th->proxy_wq);
}

/* The wait of the caller for @seq is over: answered, or nobody will. */
static bool rpal_proxy_settled(struct rpal_service *self,
			       struct rpal_service *callee,
			       struct rpal_kthread *cth, u64 seq)
{
	struct rpal_proxy *p = &cth->proxy;
	bool settled, linked;

	if (READ_ONCE(cth->dead) || READ_ONCE(callee->state) != RPAL_SVC_ACTIVE)
		return true;
	if (callee != self) {
		rcu_read_lock();
		linked = rpal_share_sees_rcu(self, callee);
		rcu_read_unlock();
		if (!linked)
			return true;
	}
	spin_lock(&cth->proxy_lock);
	settled = p->seq != seq || p->state == RPAL_PROXY_DONE;
	spin_unlock(&cth->proxy_lock);
	return settled;
}

/* Post the syscall in @regs to @cth and wait for its result. */
static long rpal_proxy_run(struct rpal_service *self, struct rpal_kthread *th,
			   struct rpal_service *callee,
			   struct rpal_kthread *cth, struct pt_regs *regs)
{
	struct rpal_proxy *p = &cth->proxy;
	u64 seq;
	long ret;

	spin_lock(&cth->proxy_lock);
	if (p->state == RPAL_PROXY_POSTED || p->state == RPAL_PROXY_TAKEN) {
		/* Only the thread holding the context posts: cannot happen. */
		spin_unlock(&cth->proxy_lock);
		return -EBUSY;
	}
	seq = ++cth->proxy_seq;
	p->state = RPAL_PROXY_POSTED;
	p->seq = seq;
	p->nr = regs->orig_ax;
	p->args[0] = regs->di;
	p->args[1] = regs->si;
	p->args[2] = regs->dx;
	p->args[3] = regs->r10;
	p->args[4] = regs->r8;
	p->args[5] = regs->r9;
	p->from = th;
	spin_unlock(&cth->proxy_lock);
	wake_up(&cth->wq);

	/*
	 * Killable only: an ordinary signal of the caller waits until the
	 * call ends (the runtime defers it anyway). A fatal one leaves the
	 * request posted: the rescued context (rescue.c) still needs it.
	 */
	ret = wait_event_killable(cth->proxy_wq,
				  rpal_proxy_settled(self, callee, cth, seq));
	spin_lock(&cth->proxy_lock);
	if (p->seq == seq && p->state == RPAL_PROXY_DONE) {
		ret = p->ret;
		p->state = RPAL_PROXY_IDLE;
	} else if (!ret) {
		ret = -ECONNRESET;	/* the callee went away */
	}
	spin_unlock(&cth->proxy_lock);
	return ret;
}

/*
 * The calling thread's rpal thread, its call record, and the callee
 * thread it names, with references. Returns 0 or the errno the syscall
 * gets.
 */
static long rpal_sud_find(struct rpal_service **svc, struct rpal_kthread **th,
			  struct rpal_service **callee,
			  struct rpal_kthread **cth)
{
	struct rpal_call_record rec;

	*svc = rpal_service_get_of_mm(current->mm);
	if (!*svc)
		return -EPERM;
	rcu_read_lock();
	*th = rpal_kthread_of_task_rcu(*svc, current);
	if (*th && !refcount_inc_not_zero(&(*th)->ref))
		*th = NULL;
	rcu_read_unlock();
	if (!*th || !(*th)->record)
		return -EPERM;
	if (copy_from_user(&rec, (*th)->record, sizeof(rec)))
		return -EFAULT;
	if (rec.selector != RPAL_CALL_ACTIVE)
		return -EPERM;
	rcu_read_lock();
	*callee = rpal_reachable_rcu(*svc, rec.callee_id);
	if (*callee && !refcount_inc_not_zero(&(*callee)->ref))
		*callee = NULL;
	if (*callee)
		*cth = rpal_kthread_get_rcu(*callee, rec.callee_index);
	rcu_read_unlock();
	if (!*callee || !*cth)
		return -ECONNRESET;
	if ((*cth)->tcb != (u64 __user *)(unsigned long)rec.callee_tcb ||
	    !(*cth)->rescue || *cth == *th)
		return -ECONNRESET;
	return 0;
}

/* Runs instead of syscall_user_dispatch(): sleepable, interrupts on. */
static bool rpal_sud_dispatch(struct pt_regs *regs)
{
	struct rpal_service *svc = NULL, *callee = NULL;
	struct rpal_kthread *th = NULL, *cth = NULL;
	bool handled = true;
	long ret;

	switch (rpal_sud_policy(regs)) {
	case RPAL_SUD_LOCAL:
		handled = false;
		break;
	case RPAL_SUD_REFUSE:
		regs->ax = -EPERM;
		break;
	case RPAL_SUD_PROXY:
		ret = rpal_sud_find(&svc, &th, &callee, &cth);
		if (!ret)
			ret = rpal_proxy_run(svc, th, callee, cth, regs);
		regs->ax = ret;
		break;
	}
	if (cth)
		rpal_kthread_put(cth);
	if (callee)
		rpal_service_put(callee);
	if (th)
		rpal_kthread_put(th);
	if (svc)
		rpal_service_put(svc);
	if (atomic_dec_and_test(&rpal_sud_inflight))
		wake_up(&rpal_sud_wq);
	return handled;
}

/*
 * The rpal thread of current if it runs an RPAL call: its dispatch
 * selector reads RPAL_CALL_ACTIVE and is the one in the call record it
 * registered. Atomic context (no faults taken), under rcu_read_lock();
 * *svc is its service.
 */
struct rpal_kthread *rpal_kthread_in_call_rcu(struct rpal_service **svc)
{
	struct syscall_user_dispatch *sd = &current->syscall_dispatch;
	struct rpal_kthread *th;
	u8 selector;

	if (!sd->selector || !current->mm || (current->flags & PF_KTHREAD))
		return NULL;
	if (copy_from_user_nofault(&selector, sd->selector, 1) ||
	    selector != RPAL_CALL_ACTIVE)
		return NULL;
	*svc = rpal_service_of_mm_rcu(current->mm);
	th = *svc ? rpal_kthread_of_task_rcu(*svc, current) : NULL;
	if (!th || !th->record ||
	    sd->selector != (char __user *)&th->record->selector)
		return NULL;
	return th;
}

/* syscall_user_dispatch(regs): only threads in an RPAL call are ours. */
static void rpal_sud_cb(unsigned long ip, unsigned long pip,
			struct ftrace_ops *op, struct ftrace_regs *fregs)
{
	struct pt_regs *regs = ftrace_get_regs(fregs);
	struct rpal_service *svc;

	rcu_read_lock();
	if (rpal_kthread_in_call_rcu(&svc)) {
		atomic_inc(&rpal_sud_inflight);
		regs->ip = (unsigned long)rpal_sud_dispatch;
	}
	rcu_read_unlock();
}

static struct rpal_hook rpal_proxy_hooks[] = {
	{ .name = "syscall_user_dispatch", .func = rpal_sud_cb,
	  .flags = FTRACE_OPS_FL_IPMODIFY },
};

int rpal_proxy_init(void)
{
	return rpal_hooks_register(rpal_proxy_hooks,
				   ARRAY_SIZE(rpal_proxy_hooks));
}

/* After this, no task is in (or about to enter) rpal_sud_dispatch(). */
void rpal_proxy_exit(void)
{
	rpal_hooks_unregister(rpal_proxy_hooks, ARRAY_SIZE(rpal_proxy_hooks));
	wait_event(rpal_sud_wq, !atomic_read(&rpal_sud_inflight));
}
