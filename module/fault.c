// SPDX-License-Identifier: GPL-2.0-only
/*
 * Faults on a peer's memory. A viewer touching an owner's slot faults in
 * its own mm, which has no VMA there, and reaches
 * bad_area_nosemaphore(regs, error_code, address) with no lock held. The
 * ftrace callback on that function either leaves it alone or points ip at
 * rpal_fault_handler(), which has the same prototype and resolves the
 * fault in the owner's mm. docs/kernel-design.md has the reasoning.
 */
#define pr_fmt(fmt) "rpal: " fmt

#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/signal.h>
#include <linux/uaccess.h>
#include <asm/trap_pf.h>

#include "internal.h"

/* Handlers running now: module exit waits for them (they may sleep). */
static atomic_t rpal_fault_inflight = ATOMIC_INIT(0);
static DECLARE_WAIT_QUEUE_HEAD(rpal_fault_wq);

static void rpal_fault_bypass_add(struct rpal_service *svc, unsigned long addr)
{
	unsigned int i;

	spin_lock(&svc->bypass_lock);
	for (i = 0; i < RPAL_BYPASS_SLOTS; i++)
		if (svc->bypass[i].task == current)
			break;
	if (i == RPAL_BYPASS_SLOTS)
		i = svc->bypass_next++ % RPAL_BYPASS_SLOTS;
	svc->bypass[i].task = current;
	svc->bypass[i].page = addr & PAGE_MASK;
	spin_unlock(&svc->bypass_lock);
}

static bool rpal_fault_bypass_take(struct rpal_service *svc, unsigned long addr)
{
	bool found = false;
	unsigned int i;

	spin_lock(&svc->bypass_lock);
	for (i = 0; i < RPAL_BYPASS_SLOTS; i++) {
		if (svc->bypass[i].task == current &&
		    svc->bypass[i].page == (addr & PAGE_MASK)) {
			svc->bypass[i].task = NULL;
			found = true;
			break;
		}
	}
	spin_unlock(&svc->bypass_lock);
	return found;
}

/*
 * Resolve @addr in @owner's mm as if the owner had touched it. Returns 0
 * when the access can be retried, -EINTR when a fatal signal is pending,
 * another errno when the kernel's own path must handle the fault.
 */
static int rpal_fault_resolve(struct rpal_service *viewer,
			      struct rpal_service *owner,
			      unsigned long error_code, unsigned long addr)
{
	struct mm_struct *mm = owner->mm;
	unsigned int flags = 0;
	struct vm_area_struct *vma;
	bool unlocked = false;
	int ret;

	if (!mmget_not_zero(mm))
		return -ESRCH;
	if (mmap_read_lock_killable(mm)) {
		mmput_async(mm);
		return -EINTR;
	}
	vma = find_vma(mm, addr);
	if (!vma || vma->vm_start > addr) {
		ret = -EFAULT;
		goto out;
	}
	if ((error_code & X86_PF_INSTR) && !(vma->vm_flags & VM_EXEC)) {
		ret = -EFAULT;
		goto out;
	}
	if (error_code & X86_PF_WRITE)
		flags |= FAULT_FLAG_WRITE;
	/* Checks VM_READ/VM_WRITE itself; skips PKRU for a foreign mm. */
	ret = fixup_user_fault(mm, addr, flags, &unlocked);
out:
	mmap_read_unlock(mm);
	mmput_async(mm);
	if (ret)
		return ret;
	ret = rpal_share_sync(viewer, owner);
	if (!ret)
		atomic64_inc(&viewer->faults);
	return ret;
}

/* Runs instead of bad_area_nosemaphore(): sleepable, no locks held. */
static void rpal_fault_handler(struct pt_regs *regs, unsigned long error_code,
			       unsigned long addr)
{
	struct rpal_service *viewer, *owner = NULL;
	int ret = -ENOENT;

	viewer = rpal_service_get_of_mm(current->mm);
	if (viewer)
		owner = rpal_share_owner_get(viewer, addr);
	if (owner)
		ret = rpal_fault_resolve(viewer, owner, error_code, addr);
	/*
	 * A fatal signal in user mode: return, the task dies on the way
	 * out. Otherwise an unresolved fault goes to the kernel's own path
	 * next time: SIGSEGV for a user access, -EFAULT for a uaccess.
	 */
	if (ret && viewer && !(ret == -EINTR && user_mode(regs)))
		rpal_fault_bypass_add(viewer, addr);
	if (owner)
		rpal_service_put(owner);
	if (viewer)
		rpal_service_put(viewer);
	if (atomic_dec_and_test(&rpal_fault_inflight))
		wake_up(&rpal_fault_wq);
}

/* SIGSEGV/SEGV_PKUERR as the kernel sends it; false if it would not be
 * delivered (blocked or ignored): then the kernel's path kills instead.
 */
static bool rpal_fault_send_pkuerr(unsigned long addr, int pkey)
{
	struct k_sigaction *ka = &current->sighand->action[SIGSEGV - 1];
	struct kernel_siginfo info;

	if (sigismember(&current->blocked, SIGSEGV) ||
	    ka->sa.sa_handler == SIG_IGN)
		return false;
	clear_siginfo(&info);
	info.si_signo = SIGSEGV;
	info.si_code = SEGV_PKUERR;
	info.si_addr = (void __user *)addr;
	info.si_pkey = pkey;
	return send_sig_info(SIGSEGV, &info, current) == 0;
}

/* bad_area_nosemaphore(regs, error_code, address) */
static void rpal_fault_cb(unsigned long ip, unsigned long pip,
			  struct ftrace_ops *op, struct ftrace_regs *fregs)
{
	struct pt_regs *regs = ftrace_get_regs(fregs);
	struct pt_regs *uregs = (struct pt_regs *)regs->di;
	unsigned long error_code = regs->si, addr = regs->dx;
	unsigned long slot = addr >> RPAL_SLOT_SHIFT;
	struct mm_struct *mm = current->mm;
	struct rpal_service *svc, *owner;

	/*
	 * The early call (pagefault_disable()d uaccess, or no mm) comes
	 * before do_user_addr_fault() enables interrupts, on 6.1 and 6.12:
	 * interrupts off means "not a context we may sleep in". Not
	 * faulthandler_disabled(): ftrace disables preemption around this
	 * callback, so in_atomic() is always true here.
	 */
	if (!mm || slot >= RPAL_NR_SLOTS || irqs_disabled() ||
	    pagefault_disabled())
		return;
	/* Reserved bits set, or SMAP: not ours to fix. */
	if (error_code & X86_PF_RSVD)
		return;
	if (!(error_code & X86_PF_USER) && !(uregs->flags & X86_EFLAGS_AC) &&
	    cpu_feature_enabled(X86_FEATURE_SMAP))
		return;

	rcu_read_lock();
	svc = rpal_service_of_mm_rcu(mm);
	if (!svc || !test_bit(slot, svc->viewing))
		goto out;
	if (rpal_fault_bypass_take(svc, addr))
		goto out;
	if (error_code & X86_PF_PK) {
		/* The owner's key is closed in PKRU: nothing to resolve. */
		if (!user_mode(uregs))
			goto out;	/* uaccess: -EFAULT from the kernel */
		owner = rpal_share_owner_rcu(svc, addr);
		if (owner && rpal_fault_send_pkuerr(addr, owner->pkey))
			regs->ip = (unsigned long)rpal_stub_void;
		goto out;
	}
	atomic_inc(&rpal_fault_inflight);
	regs->ip = (unsigned long)rpal_fault_handler;
out:
	rcu_read_unlock();
}

static struct rpal_hook rpal_fault_hooks[] = {
	{ .name = "bad_area_nosemaphore", .func = rpal_fault_cb,
	  .flags = FTRACE_OPS_FL_IPMODIFY },
};

int rpal_fault_init(void)
{
	return rpal_hooks_register(rpal_fault_hooks,
				   ARRAY_SIZE(rpal_fault_hooks));
}

/* After this, no task is in (or about to enter) rpal_fault_handler(). */
void rpal_fault_exit(void)
{
	rpal_hooks_unregister(rpal_fault_hooks, ARRAY_SIZE(rpal_fault_hooks));
	wait_event(rpal_fault_wq, !atomic_read(&rpal_fault_inflight));
}
