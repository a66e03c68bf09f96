// SPDX-License-Identifier: GPL-2.0-only
/*
 * Protection keys: one per service, the same number in no two services
 * (a viewer's PKRU is read against the owner's key number in the owner's
 * PTEs), allocated in the service's own mm so pkey_alloc() never hands it
 * out there, carried by every new VMA in the slot, and impossible for the
 * service to free or replace.
 */
#define pr_fmt(fmt) "rpal: " fmt

#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/pkeys.h>
#include <asm/pkru.h>

#include "internal.h"

/* Keys 1..15 handed to services; rpal_mutex. Key 0 is everybody's. */
static unsigned long rpal_pkeys_used;

#define RPAL_PKEY_BITS(k) ((unsigned long)(k) << VM_PKEY_SHIFT)

int rpal_pkey_alloc(struct rpal_service *svc)
{
	struct mm_struct *mm = svc->mm;
	int k;
	u32 pkru;

	lockdep_assert_held(&rpal_mutex);
	mmap_assert_write_locked(mm);
	svc->pkey = -1;
	if (!rpal_have_pku())
		return 0;
	for (k = 1; k < arch_max_pkey(); k++) {
		if (rpal_pkeys_used & BIT(k) || mm_pkey_is_allocated(mm, k))
			continue;
		rpal_pkeys_used |= BIT(k);
		mm_set_pkey_allocated(mm, k);
		svc->pkey = k;
		/*
		 * Like pkey_alloc(0, 0): the calling thread may use the key
		 * (other threads open it themselves, see docs/uapi.md).
		 */
		preempt_disable();
		pkru = read_pkru() & ~(3U << (k * PKRU_BITS_PER_PKEY));
		write_pkru(pkru);
		preempt_enable();
		return 0;
	}
	return -ENOSPC;
}

/*
 * Give the key back: always to the global pool; to the mm's own allocation
 * map too if @in_mm (the caller holds the mmap write lock; not when the mm
 * is being torn down).
 */
void rpal_pkey_free(struct rpal_service *svc, bool in_mm)
{
	lockdep_assert_held(&rpal_mutex);
	if (svc->pkey < 0 || !(rpal_pkeys_used & BIT(svc->pkey)))
		return;
	rpal_pkeys_used &= ~BIT(svc->pkey);
	if (in_mm) {
		mmap_assert_write_locked(svc->mm);
		mm_set_pkey_free(svc->mm, svc->pkey);
	}
}

/* The key a new mapping at [addr, addr + len) of @mm must carry, or -1. */
static int rpal_pkey_for(struct mm_struct *mm, unsigned long addr,
			 unsigned long len, struct rpal_service **svcp)
{
	struct rpal_service *svc = mm ? rpal_service_of_mm_rcu(mm) : NULL;

	*svcp = svc;
	if (!svc || svc->pkey < 0)
		return -1;
	if (addr >= svc->end || addr + len <= svc->base)
		return -1;
	return svc->pkey;
}

/*
 * Thread stacks (MAP_STACK: glibc's stacks, which also hold the thread's
 * TLS and its rseq area) keep key 0. After setting up a signal frame the
 * kernel runs with the default PKRU (only key 0 open) and then updates the
 * task's rseq area on the way to user mode: under any other key that
 * update faults and the kernel kills the task (force_sigsegv). The same
 * update happens when a thread is preempted during an RPAL call, whose
 * PKRU closes the caller's own key.
 *
 * Only 6.12 carries MAP_STACK into the VMA's flags, so do_mmap() marks the
 * task for the mmap_region() call it makes next. mmap_region() has no
 * other caller (6.1 and 6.12 mm/mmap.c), and every do_mmap() sets or
 * clears the mark, so a mark never outlives its own do_mmap().
 */
#define RPAL_STACK_MARKS 256
static struct task_struct *rpal_stack_marks[RPAL_STACK_MARKS];
static DEFINE_SPINLOCK(rpal_stack_marks_lock);

/* Set (@on) or clear current's mark; returns whether it was set. */
static bool rpal_stack_mark(bool on)
{
	int i, free = -1;
	bool was = false;

	spin_lock(&rpal_stack_marks_lock);
	for (i = 0; i < RPAL_STACK_MARKS; i++) {
		if (rpal_stack_marks[i] == current) {
			was = true;
			if (!on)
				rpal_stack_marks[i] = NULL;
			break;
		}
		if (!rpal_stack_marks[i] && free < 0)
			free = i;
	}
	if (on && !was && free >= 0)
		rpal_stack_marks[free] = current;
	spin_unlock(&rpal_stack_marks_lock);
	if (on && !was && free < 0)
		pr_warn_once("too many concurrent stack mappings: a thread stack gets the service key\n");
	return was;
}

/* do_mmap(file, addr, len, prot, flags, ...): flags in r8, both kernels. */
static void rpal_do_mmap_cb(unsigned long ip, unsigned long pip,
			    struct ftrace_ops *op, struct ftrace_regs *fregs)
{
	struct pt_regs *regs = ftrace_get_regs(fregs);
	struct rpal_service *svc;

	if (!current->mm)
		return;
	rcu_read_lock();
	svc = rpal_service_of_mm_rcu(current->mm);
	if (svc && svc->pkey >= 0)
		rpal_stack_mark(regs->r8 & MAP_STACK);
	rcu_read_unlock();
}

/* mmap_region(file, addr, len, vm_flags, pgoff, uf): key the new VMA. */
static void rpal_mmap_region_cb(unsigned long ip, unsigned long pip,
				struct ftrace_ops *op, struct ftrace_regs *fregs)
{
	struct pt_regs *regs = ftrace_get_regs(fregs);
	struct rpal_service *svc;
	int k;

	rcu_read_lock();
	k = rpal_pkey_for(current->mm, regs->si, regs->dx, &svc);
	if (k >= 0 && !rpal_stack_mark(false))
		regs->cx = (regs->cx & ~ARCH_VM_PKEY_FLAGS) | RPAL_PKEY_BITS(k);
	rcu_read_unlock();
}

/* do_brk_flags(vmi/mas, vma, addr, len, flags): key the heap. */
static void rpal_do_brk_flags_cb(unsigned long ip, unsigned long pip,
				 struct ftrace_ops *op,
				 struct ftrace_regs *fregs)
{
	struct pt_regs *regs = ftrace_get_regs(fregs);
	struct rpal_service *svc;
	int k;

	rcu_read_lock();
	k = rpal_pkey_for(current->mm, regs->dx, regs->cx, &svc);
	if (k >= 0)
		regs->r8 = (regs->r8 & ~ARCH_VM_PKEY_FLAGS) | RPAL_PKEY_BITS(k);
	rcu_read_unlock();
}

/*
 * do_mprotect_pkey(start, len, prot, pkey), behind mprotect() and
 * pkey_mprotect(): inside the slot no other key than the service's may be
 * given. A plain mprotect keeps each VMA's key (key 0 of a thread stack
 * included), except PROT_EXEC alone, which would switch to the exec-only
 * key: that one gets the service key instead.
 */
static void rpal_mprotect_cb(unsigned long ip, unsigned long pip,
			     struct ftrace_ops *op, struct ftrace_regs *fregs)
{
	struct pt_regs *regs = ftrace_get_regs(fregs);
	unsigned long prot = regs->dx & (PROT_READ | PROT_WRITE | PROT_EXEC);
	struct rpal_service *svc;
	int k, want = (int)regs->cx;

	rcu_read_lock();
	k = rpal_pkey_for(current->mm, regs->di, regs->si, &svc);
	if (k >= 0) {
		if (want == -1 && prot == PROT_EXEC)
			regs->cx = k;
		else if (want != -1 && want != k)
			regs->ip = (unsigned long)rpal_stub_eperm;
	}
	rcu_read_unlock();
}

/* pkey_free(key): a service's key stays allocated while it is one. */
static void rpal_pkey_free_check(struct pt_regs *regs, unsigned long key)
{
	struct rpal_service *svc;

	rcu_read_lock();
	svc = current->mm ? rpal_service_of_mm_rcu(current->mm) : NULL;
	if (svc && svc->pkey >= 0 && key == (unsigned long)svc->pkey)
		regs->ip = (unsigned long)rpal_stub_eperm;
	rcu_read_unlock();
}

static void rpal_x64_pkey_free_cb(unsigned long ip, unsigned long pip,
				  struct ftrace_ops *op,
				  struct ftrace_regs *fregs)
{
	struct pt_regs *regs = ftrace_get_regs(fregs);
	const struct pt_regs *uregs = (const struct pt_regs *)regs->di;

	rpal_pkey_free_check(regs, (unsigned int)uregs->di);
}

static void rpal_ia32_pkey_free_cb(unsigned long ip, unsigned long pip,
				   struct ftrace_ops *op,
				   struct ftrace_regs *fregs)
{
	struct pt_regs *regs = ftrace_get_regs(fregs);
	const struct pt_regs *uregs = (const struct pt_regs *)regs->di;

	rpal_pkey_free_check(regs, (unsigned int)uregs->bx);
}

static struct rpal_hook rpal_pkey_hooks[] = {
	{ .name = "do_mmap", .func = rpal_do_mmap_cb },
	{ .name = "mmap_region", .func = rpal_mmap_region_cb },
	{ .name = "do_brk_flags", .func = rpal_do_brk_flags_cb },
	{ .name = "do_mprotect_pkey", .func = rpal_mprotect_cb,
	  .flags = FTRACE_OPS_FL_IPMODIFY },
	{ .name = "__x64_sys_pkey_free", .func = rpal_x64_pkey_free_cb,
	  .flags = FTRACE_OPS_FL_IPMODIFY },
	{ .name = "__ia32_sys_pkey_free", .func = rpal_ia32_pkey_free_cb,
	  .flags = FTRACE_OPS_FL_IPMODIFY },
};

int rpal_pkey_init(void)
{
	if (!rpal_have_pku())
		return 0;
	return rpal_hooks_register(rpal_pkey_hooks,
				   ARRAY_SIZE(rpal_pkey_hooks));
}

void rpal_pkey_exit(void)
{
	rpal_hooks_unregister(rpal_pkey_hooks, ARRAY_SIZE(rpal_pkey_hooks));
}
