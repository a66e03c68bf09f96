// SPDX-License-Identifier: GPL-2.0-only
/*
 * TLB reach: every flush of an owner's mm is forwarded to the mms that view
 * its slot, and a viewer whose copied entry changed is flushed.
 *
 * 6.12: mmu_notifier_ops.arch_invalidate_secondary_tlbs (called from
 *       flush_tlb_mm_range() and arch_tlbbatch_add_pending()).
 * 6.1:  mmu_notifier_ops.invalidate_range (mmu_gather flushes, including
 *       freed page tables, and the clear-and-flush helpers) plus an ftrace
 *       hook on flush_tlb_mm_range(), which notifies nobody there.
 */
#define pr_fmt(fmt) "rpal: " fmt

#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include <asm/invpcid.h>
#include <asm/tlbflush.h>

#include "internal.h"

static void rpal_flush_ipi(void *info)
{
	/* Also a CPU in lazy TLB mode has the mm loaded. */
	if (current->active_mm != info)
		return;
	if (boot_cpu_has(X86_FEATURE_INVPCID))
		invpcid_flush_all_nonglobals();	/* every PCID, PTI's too */
	else
		__flush_tlb_all();
}

/*
 * Flush @mm everywhere. The generation bump makes every CPU that has @mm's
 * ASID cached but not loaded flush when it switches back
 * (switch_mm_irqs_off() compares generations); the IPI covers the CPUs
 * that have it loaded. The bump is inc_mm_tlb_gen(), which 6.12 hides from
 * modules: a fully ordered increment, so the page-table writes before it
 * are visible before mm_cpumask() is read, as in the kernel's own flush.
 */
void rpal_flush_mm(struct mm_struct *mm)
{
	atomic64_inc_return(&mm->context.tlb_gen);
	on_each_cpu_cond_mask(NULL, rpal_flush_ipi, mm, true, mm_cpumask(mm));
}

static void rpal_mn_release(struct mmu_notifier *mn, struct mm_struct *mm)
{
	struct rpal_mn *rmn = container_of(mn, struct rpal_mn, mn);
	struct rpal_service *svc;

	mutex_lock(&rpal_mutex);
	svc = rcu_dereference_protected(rmn->svc, lockdep_is_held(&rpal_mutex));
	if (svc)
		rpal_mn_release_service(svc);
	mutex_unlock(&rpal_mutex);
}

static void rpal_mn_tlb(struct mmu_notifier *mn, struct mm_struct *mm,
			unsigned long start, unsigned long end)
{
	struct rpal_mn *rmn = container_of(mn, struct rpal_mn, mn);
	struct rpal_service *svc;

	rcu_read_lock();
	svc = rcu_dereference(rmn->svc);
	if (svc)
		rpal_share_forward_flush(svc, start, end);
	rcu_read_unlock();
}

static struct mmu_notifier *rpal_mn_alloc(struct mm_struct *mm)
{
	struct rpal_mn *rmn = kzalloc(sizeof(*rmn), GFP_KERNEL);

	return rmn ? &rmn->mn : ERR_PTR(-ENOMEM);
}

static void rpal_mn_free(struct mmu_notifier *mn)
{
	kfree(container_of(mn, struct rpal_mn, mn));
}

const struct mmu_notifier_ops rpal_mn_ops = {
	.release = rpal_mn_release,
#ifdef RPAL_HAVE_SECONDARY_TLBS
	.arch_invalidate_secondary_tlbs = rpal_mn_tlb,
#else
	.invalidate_range = rpal_mn_tlb,
#endif
	.alloc_notifier = rpal_mn_alloc,
	.free_notifier = rpal_mn_free,
};

#ifndef RPAL_HAVE_SECONDARY_TLBS
/* flush_tlb_mm_range(mm, start, end, stride_shift, freed_tables) */
static void rpal_flush_tlb_mm_range_cb(unsigned long ip, unsigned long pip,
				       struct ftrace_ops *op,
				       struct ftrace_regs *fregs)
{
	struct pt_regs *regs = ftrace_get_regs(fregs);
	struct mm_struct *mm = (struct mm_struct *)regs->di;
	struct rpal_service *svc;

	rcu_read_lock();
	svc = rpal_service_of_mm_rcu(mm);
	if (svc)
		rpal_share_forward_flush(svc, regs->si, regs->dx);
	rcu_read_unlock();
}

static struct rpal_hook rpal_tlb_hooks[] = {
	{ .name = "flush_tlb_mm_range", .func = rpal_flush_tlb_mm_range_cb },
};

int rpal_tlb_init(void)
{
	return rpal_hooks_register(rpal_tlb_hooks, ARRAY_SIZE(rpal_tlb_hooks));
}

void rpal_tlb_exit(void)
{
	rpal_hooks_unregister(rpal_tlb_hooks, ARRAY_SIZE(rpal_tlb_hooks));
}
#else
int rpal_tlb_init(void)
{
	return 0;
}

void rpal_tlb_exit(void)
{
}
#endif
