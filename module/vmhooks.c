// SPDX-License-Identifier: GPL-2.0-only
/*
 * Placement: a service's new mappings stay in its slot, and no service
 * maps anything into another service's slot (a mapping there would make
 * its faults allocate page tables inside the owner's shared tables).
 */
#define pr_fmt(fmt) "rpal: " fmt

#include <linux/mm.h>
#include <linux/mman.h>

#include "internal.h"

/*
 * get_unmapped_area(file, addr, len, pgoff, flags) on 6.1 (exported),
 * __get_unmapped_area(file, addr, len, pgoff, flags, vm_flags) on 6.12:
 * every mmap, mremap, brk, shmat and special mapping asks it first, also
 * with MAP_FIXED (the address is then returned as is).
 *
 * brk asks with no file and flags == MAP_FIXED exactly (mmap always has a
 * mapping type): a heap outside the slot may not grow, so malloc falls
 * back to mmap, which lands in the slot. (glibc caches the break, so
 * moving the heap instead would desynchronise it.)
 */
static void rpal_gua_cb(unsigned long ip, unsigned long pip,
			struct ftrace_ops *op, struct ftrace_regs *fregs)
{
	struct pt_regs *regs = ftrace_get_regs(fregs);
	unsigned long addr = regs->si, len = regs->dx, flags = regs->r8;
	struct rpal_slot_of own, *svc = &own;

	if (!current->mm)
		return;
	rcu_read_lock();
	if (!rpal_mm_slot_rcu(current->mm, &own))
		goto out;
	if (!regs->di && flags == MAP_FIXED) {
		if (addr < svc->base || addr >= svc->end ||
		    len > svc->end - addr)
			regs->ip = (unsigned long)rpal_stub_enomem;
	} else if (flags & MAP_FIXED) {
		if (rpal_range_hits_foreign_slot(addr, len, svc->slot))
			regs->ip = (unsigned long)rpal_stub_enomem;
	} else if (addr && (addr < svc->base || addr >= svc->end ||
			    len > svc->end - addr)) {
		regs->si = 0;	/* a hint outside the slot: let it search */
	}
out:
	rcu_read_unlock();
}

/*
 * vm_unmapped_area(info): every search (top-down, its bottom-up fallback,
 * hugetlb, shmem, THP) ends here. A foreign slot has no VMA in this mm, so
 * the search would see it as free: limit the search to the own slot.
 */
static void rpal_vm_unmapped_area_cb(unsigned long ip, unsigned long pip,
				     struct ftrace_ops *op,
				     struct ftrace_regs *fregs)
{
	struct pt_regs *regs = ftrace_get_regs(fregs);
	struct vm_unmapped_area_info *info = (void *)regs->di;
	struct rpal_slot_of own, *svc = &own;
	unsigned long low, high;

	if (!current->mm)
		return;
	rcu_read_lock();
	if (!rpal_mm_slot_rcu(current->mm, &own))
		goto out;
	low = max(info->low_limit, svc->base);
	high = min(info->high_limit, svc->end);
	if (low >= high || high - low < info->length)
		regs->ip = (unsigned long)rpal_stub_enomem;
	info->low_limit = low;
	info->high_limit = high;
out:
	rcu_read_unlock();
}

/* expand_stack_locked(vma, addr): stack growth skips get_unmapped_area. */
static void rpal_expand_stack_cb(unsigned long ip, unsigned long pip,
				 struct ftrace_ops *op,
				 struct ftrace_regs *fregs)
{
	struct pt_regs *regs = ftrace_get_regs(fregs);
	struct vm_area_struct *vma = (void *)regs->di;
	unsigned long addr = regs->si;
	struct rpal_slot_of own;

	rcu_read_lock();
	if (rpal_mm_slot_rcu(vma->vm_mm, &own) && addr < vma->vm_start &&
	    rpal_range_hits_foreign_slot(addr, vma->vm_start - addr,
					 own.slot))
		regs->ip = (unsigned long)rpal_stub_enomem;
	rcu_read_unlock();
}

static struct rpal_hook rpal_vm_hooks[] = {
#ifdef RPAL_HAVE___GET_UNMAPPED_AREA
	{ .name = "__get_unmapped_area", .func = rpal_gua_cb,
	  .flags = FTRACE_OPS_FL_IPMODIFY },
#else
	{ .name = "get_unmapped_area", .func = rpal_gua_cb,
	  .flags = FTRACE_OPS_FL_IPMODIFY },
#endif
	{ .name = "vm_unmapped_area", .func = rpal_vm_unmapped_area_cb,
	  .flags = FTRACE_OPS_FL_IPMODIFY },
	{ .name = "expand_stack_locked", .func = rpal_expand_stack_cb,
	  .flags = FTRACE_OPS_FL_IPMODIFY },
};

int rpal_vm_hooks_init(void)
{
	return rpal_hooks_register(rpal_vm_hooks, ARRAY_SIZE(rpal_vm_hooks));
}

void rpal_vm_hooks_exit(void)
{
	rpal_hooks_unregister(rpal_vm_hooks, ARRAY_SIZE(rpal_vm_hooks));
}
