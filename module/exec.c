// SPDX-License-Identifier: GPL-2.0-only
/*
 * Exec placement: the next exec of an armed task (RPAL_IOC_EXEC_PLACE,
 * what rpal-run does), or of any ELF marked "RPAL" in e_ident[12..15]
 * when elf_marker=1, loads the whole program inside a fresh slot:
 * executable, interpreter, libraries, stack, heap, vDSO, and every later
 * mapping (the placement hooks treat a placed mm like a service's).
 *
 * Hook points, on both 6.1 and 6.12 (fs/binfmt_elf.c load_elf_binary()):
 *   begin_new_exec(bprm)        refuse non-PIE before the point of no
 *                               return (-ENOEXEC: the exec fails cleanly)
 *   setup_arg_pages(bprm, top)  the new mm exists: move mmap_base into the
 *                               slot, rewrite the stack top
 *   vm_mmap(file, addr, ...)    the PIE's first MAP_FIXED_NOREPLACE
 *                               segment: moved into the slot; the loader
 *                               re-bases load_bias on where it landed
 *   finalize_exec(bprm)         a brk left outside the slot (static PIE)
 *                               is moved in
 * All four are exported functions with ftrace sites; the hooks only
 * rewrite argument registers and mm fields of the mm being built, or
 * redirect ip to a stub.
 */
#define pr_fmt(fmt) "rpal: " fmt

#include <linux/binfmts.h>
#include <linux/elf.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/random.h>
#include <linux/rculist.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/slab.h>

#include "internal.h"

static bool elf_marker;
module_param(elf_marker, bool, 0444);
MODULE_PARM_DESC(elf_marker,
		 "Place every ELF whose e_ident[12..15] is \"RPAL\" in a slot at exec (default: off)");

/* Slot layout of a placed program, from the slot's base. */
#define RPAL_PLACE_BRK SZ_1G		/* heap of a static PIE */
#define RPAL_PLACE_PIE SZ_2G		/* executable, 1 GiB aligned */
#define RPAL_PLACE_TOP_GAP SZ_4M	/* 6.1's vDSO goes above the stack */
#define RPAL_PLACE_STACK_RND SZ_256M

static LIST_HEAD(rpal_placements);	/* RCU readers; rpal_place_lock */
static DEFINE_SPINLOCK(rpal_place_lock);

/* The placement of the exec current is doing, if any (rpal_place_lock). */
static struct rpal_placement *rpal_placement_of_task(enum rpal_place_state s)
{
	struct rpal_placement *p;

	list_for_each_entry(p, &rpal_placements, node)
		if (p->task == current && p->state == s)
			return p;
	return NULL;
}

struct rpal_placement *rpal_placement_of_mm_rcu(struct mm_struct *mm)
{
	struct rpal_placement *p;

	list_for_each_entry_rcu(p, &rpal_placements, node) {
		/*
		 * state first, with acquire: pairs with the release in
		 * rpal_setup_arg_pages_cb(), which sets p->mm before PLACED.
		 */
		if (smp_load_acquire(&p->state) != RPAL_PLACE_PLACED)
			continue;
		if (p->mm == mm)
			return p;
	}
	return NULL;
}

int rpal_exec_place(struct rpal_file *rf, const char *name,
		    struct rpal_exec_place *out)
{
	struct rpal_placement *p;
	int slot;

	rpal_placements_reap();
	p = kzalloc(sizeof(*p), GFP_KERNEL);
	if (!p)
		return -ENOMEM;
	slot = rpal_slot_alloc(NULL);
	if (slot < 0) {
		kfree(p);
		return slot;
	}
	p->slot = slot;
	p->base = rpal_slot_base(slot);
	p->end = p->base + RPAL_SLOT_SIZE;
	strscpy(p->name, name, sizeof(p->name));
	p->rf = rf;
	p->task = get_task_struct(current);
	p->state = RPAL_PLACE_ARMED;

	spin_lock(&rpal_place_lock);
	/* Re-arming replaces an earlier arming of the same task. */
	if (rpal_placement_of_task(RPAL_PLACE_ARMED)) {
		spin_unlock(&rpal_place_lock);
		put_task_struct(p->task);
		rpal_slot_free(p->slot);
		kfree(p);
		return -EALREADY;
	}
	list_add_tail_rcu(&p->node, &rpal_placements);
	spin_unlock(&rpal_place_lock);

	out->slot_base = p->base;
	out->slot_size = RPAL_SLOT_SIZE;
	return 0;
}

/* Unlink @p (caller holds rpal_place_lock); then rpal_placement_destroy. */
static void rpal_placement_unlink(struct rpal_placement *p)
{
	list_del_rcu(&p->node);
}

/*
 * Process context. After the grace period no hook still looks at @p or
 * compares p->mm with its own (the mm could otherwise be freed and
 * reused for another process while a hook still matched it).
 */
static void rpal_placement_destroy(struct rpal_placement *p, bool free_slot)
{
	synchronize_rcu();
	if (p->task)
		put_task_struct(p->task);
	if (p->mm)
		mmdrop(p->mm);
	if (free_slot)
		rpal_slot_free(p->slot);
	kfree(p);
}

/* The arming fd went away before its exec: cancel what it armed. */
void rpal_exec_disarm(struct rpal_file *rf)
{
	struct rpal_placement *p, *tmp;
	LIST_HEAD(dead);

	spin_lock(&rpal_place_lock);
	list_for_each_entry_safe(p, tmp, &rpal_placements, node) {
		if (p->rf == rf && p->state == RPAL_PLACE_ARMED) {
			rpal_placement_unlink(p);
			list_add(&p->dead, &dead);
		}
	}
	spin_unlock(&rpal_place_lock);
	list_for_each_entry_safe(p, tmp, &dead, dead)
		rpal_placement_destroy(p, true);
}

/*
 * A placed mm registers: it keeps its slot, the placement ends. Returns
 * the slot, or -ENOENT if @mm was not placed.
 */
int rpal_placement_take(struct mm_struct *mm, char *name, size_t len)
{
	struct rpal_placement *p;
	int slot;

	spin_lock(&rpal_place_lock);
	rcu_read_lock();
	p = rpal_placement_of_mm_rcu(mm);
	rcu_read_unlock();
	if (p)
		rpal_placement_unlink(p);
	spin_unlock(&rpal_place_lock);
	if (!p)
		return -ENOENT;
	slot = p->slot;
	if (!name[0])
		strscpy(name, p->name, len);
	rpal_placement_destroy(p, false);
	return slot;
}

/* Placements whose process is gone: their slots come back. */
void rpal_placements_reap(void)
{
	struct rpal_placement *p, *tmp;
	LIST_HEAD(dead);

	spin_lock(&rpal_place_lock);
	list_for_each_entry_safe(p, tmp, &rpal_placements, node) {
		bool gone = p->state == RPAL_PLACE_PLACED ?
				    !atomic_read(&p->mm->mm_users) :
				    p->task->exit_state != 0;

		if (gone) {
			rpal_placement_unlink(p);
			list_add(&p->dead, &dead);
		}
	}
	spin_unlock(&rpal_place_lock);
	list_for_each_entry_safe(p, tmp, &dead, dead)
		rpal_placement_destroy(p, true);
}

void rpal_placements_show(struct seq_file *m)
{
	struct rpal_placement *p;

	rcu_read_lock();
	list_for_each_entry_rcu(p, &rpal_placements, node)
		seq_printf(m, "placed %d %s %u %#lx %s\n",
			   p->task ? task_tgid_nr(p->task) : -1,
			   p->name[0] ? p->name : "-", p->slot, p->base,
			   p->state == RPAL_PLACE_PLACED ? "running" : "armed");
	rcu_read_unlock();
}

static bool rpal_elf_is_pie(const struct linux_binprm *bprm)
{
	const struct elf64_hdr *eh = (const void *)bprm->buf;

	return !memcmp(eh->e_ident, ELFMAG, SELFMAG) &&
	       eh->e_ident[EI_CLASS] == ELFCLASS64 && eh->e_type == ET_DYN;
}

static bool rpal_elf_is_marked(const struct linux_binprm *bprm)
{
	const struct elf64_hdr *eh = (const void *)bprm->buf;

	return !memcmp(eh->e_ident, ELFMAG, SELFMAG) &&
	       !memcmp(&eh->e_ident[12], "RPAL", 4);
}

/* An unarmed exec of a marked ELF gets a placement of its own. */
static struct rpal_placement *rpal_marker_placement(void)
{
	struct rpal_placement *p = kzalloc(sizeof(*p), GFP_ATOMIC);
	int slot;

	if (!p)
		return NULL;
	slot = rpal_slot_alloc(NULL);
	if (slot < 0) {
		kfree(p);
		return NULL;
	}
	p->slot = slot;
	p->base = rpal_slot_base(slot);
	p->end = p->base + RPAL_SLOT_SIZE;
	p->task = get_task_struct(current);
	p->state = RPAL_PLACE_EXECUTING;
	list_add_tail_rcu(&p->node, &rpal_placements);
	return p;
}

/* begin_new_exec(bprm): the last point where the exec may still fail. */
static void rpal_begin_new_exec_cb(unsigned long ip, unsigned long pip,
				   struct ftrace_ops *op,
				   struct ftrace_regs *fregs)
{
	struct pt_regs *regs = ftrace_get_regs(fregs);
	struct linux_binprm *bprm = (void *)regs->di;
	struct rpal_placement *p;

	spin_lock(&rpal_place_lock);
	p = rpal_placement_of_task(RPAL_PLACE_ARMED);
	if (p) {
		if (!rpal_elf_is_pie(bprm)) {
			/* Stays armed: the caller may exec a PIE next. */
			regs->ip = (unsigned long)rpal_stub_enoexec;
		} else {
			p->state = RPAL_PLACE_EXECUTING;
			p->rf = NULL;	/* the fd may close during exec */
		}
	} else if (elf_marker && rpal_elf_is_marked(bprm) &&
		   rpal_elf_is_pie(bprm)) {
		rpal_marker_placement();
	}
	spin_unlock(&rpal_place_lock);
}

/* setup_arg_pages(bprm, stack_top, executable_stack): the new mm. */
static void rpal_setup_arg_pages_cb(unsigned long ip, unsigned long pip,
				    struct ftrace_ops *op,
				    struct ftrace_regs *fregs)
{
	struct pt_regs *regs = ftrace_get_regs(fregs);
	struct mm_struct *mm = current->mm;
	unsigned long top, gap, rnd;
	struct rpal_placement *p;

	spin_lock(&rpal_place_lock);
	p = rpal_placement_of_task(RPAL_PLACE_EXECUTING);
	if (!p)
		goto out;
	rnd = current->flags & PF_RANDOMIZE ?
		      get_random_u32_below(RPAL_PLACE_STACK_RND >> PAGE_SHIFT)
			      << PAGE_SHIFT :
		      0;
	top = p->end - RPAL_PLACE_TOP_GAP - rnd;
	/* Like mmap_base(): room for the stack rlimit, within reason. */
	gap = clamp_t(unsigned long, rlimit(RLIMIT_STACK), SZ_128M, SZ_16G);
	mmgrab(mm);
	p->mm = mm;
	mm->mmap_base = PAGE_ALIGN(top - gap - SZ_128M);
	mm->mmap_legacy_base = p->base + RPAL_PLACE_PIE + SZ_1G;
	regs->si = top;
	put_task_struct(p->task);
	p->task = NULL;
	/*
	 * Published last, with release: pairs with the acquire in
	 * rpal_placement_of_mm_rcu(), so a hook that sees PLACED sees p->mm.
	 */
	smp_store_release(&p->state, RPAL_PLACE_PLACED);
out:
	spin_unlock(&rpal_place_lock);
}

/*
 * vm_mmap(file, addr, len, prot, flag, offset): during exec only, the
 * main executable's first segment (the one MAP_FIXED_NOREPLACE mapping
 * outside the slot) goes into the slot; the low 30 bits of the address
 * (its randomisation and alignment) are kept.
 */
static void rpal_vm_mmap_cb(unsigned long ip, unsigned long pip,
			    struct ftrace_ops *op, struct ftrace_regs *fregs)
{
	struct pt_regs *regs = ftrace_get_regs(fregs);
	unsigned long addr = regs->si;
	struct rpal_placement *p;

	if (!regs->di || !(regs->r8 & MAP_FIXED_NOREPLACE) || !current->mm)
		return;
	rcu_read_lock();
	p = rpal_placement_of_mm_rcu(current->mm);
	if (p && !p->exec_done && !p->pie_moved &&
	    (addr < p->base || addr >= p->end)) {
		regs->si = p->base + RPAL_PLACE_PIE + (addr & (SZ_1G - 1));
		WRITE_ONCE(p->pie_moved, true);
	}
	rcu_read_unlock();
}

/* finalize_exec(bprm): everything is mapped; fix a brk outside the slot. */
static void rpal_finalize_exec_cb(unsigned long ip, unsigned long pip,
				  struct ftrace_ops *op,
				  struct ftrace_regs *fregs)
{
	struct mm_struct *mm = current->mm;
	struct rpal_placement *p;

	rcu_read_lock();
	p = mm ? rpal_placement_of_mm_rcu(mm) : NULL;
	if (p && !p->exec_done) {
		if (mm->start_brk < p->base || mm->start_brk >= p->end) {
			mm->start_brk = p->base + RPAL_PLACE_BRK;
			mm->brk = mm->start_brk;
		}
		WRITE_ONCE(p->exec_done, true);
	}
	rcu_read_unlock();
}

static struct rpal_hook rpal_exec_hooks[] = {
	{ .name = "begin_new_exec", .func = rpal_begin_new_exec_cb,
	  .flags = FTRACE_OPS_FL_IPMODIFY },
	{ .name = "setup_arg_pages", .func = rpal_setup_arg_pages_cb },
	{ .name = "vm_mmap", .func = rpal_vm_mmap_cb },
	{ .name = "finalize_exec", .func = rpal_finalize_exec_cb },
};

int rpal_exec_init(void)
{
	return rpal_hooks_register(rpal_exec_hooks,
				   ARRAY_SIZE(rpal_exec_hooks));
}

void rpal_exec_exit(void)
{
	struct rpal_placement *p, *tmp;

	rpal_hooks_unregister(rpal_exec_hooks, ARRAY_SIZE(rpal_exec_hooks));
	/* No fd is open: only running placements (and their slots) remain. */
	list_for_each_entry_safe(p, tmp, &rpal_placements, node) {
		list_del_rcu(&p->node);
		rpal_placement_destroy(p, true);
	}
}
