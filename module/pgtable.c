// SPDX-License-Identifier: GPL-2.0-only
/*
 * The one top-level page-table entry of a slot: a PGD entry with 4-level
 * paging, a P4D entry with 5-level paging. Reading it, comparing it and
 * copying it from the owner's mm into a viewer's mm.
 *
 * Callers keep interrupts off: with 5-level paging the P4D page holding
 * the entry can be freed by its mm's munmap, and that free waits for an
 * RCU grace period or an IPI round (like GUP-fast, we rely on both).
 * No pointer into a page table is kept beyond one call.
 */
#define pr_fmt(fmt) "rpal: " fmt

#include <linux/mm.h>
#include <linux/pgtable.h>
#include <asm/cpufeature.h>
#include <asm/pgtable.h>

#include "internal.h"

#if IS_ENABLED(CONFIG_PAGE_TABLE_ISOLATION) || \
	IS_ENABLED(CONFIG_MITIGATION_PAGE_TABLE_ISOLATION)
#define RPAL_PTI_BUILT 1
#else
#define RPAL_PTI_BUILT 0
#endif

/* With 4-level paging and PTI the entry exists twice: kernel and user. */
static bool rpal_entry_has_user_copy(void)
{
	return RPAL_PTI_BUILT && !pgtable_l5_enabled() &&
	       cpu_feature_enabled(X86_FEATURE_PTI);
}

/* Where the slot's entry lives in @mm, or NULL if the level above it is
 * missing (5-level only: the mm has no P4D page for that range).
 */
static p4d_t *rpal_entry_ptr(struct mm_struct *mm, unsigned long base)
{
	pgd_t *pgd = pgd_offset(mm, base);

	lockdep_assert_irqs_disabled();
	if (!pgtable_l5_enabled())
		return (p4d_t *)pgd;
	if (!pgd_present(READ_ONCE(*pgd)))
		return NULL;
	return p4d_offset(pgd, base);
}

/* The value user mode walks through (the user copy under PTI). */
static p4dval_t rpal_entry_read(p4d_t *p)
{
#if RPAL_PTI_BUILT
	if (rpal_entry_has_user_copy())
		return READ_ONCE(kernel_to_user_pgdp((pgd_t *)p)->pgd);
#endif
	return p4d_val(READ_ONCE(*p));
}

/*
 * Write @val (a user-copy value) as native_set_p4d() would: under PTI the
 * user copy gets @val and the kernel copy @val with NX, so the kernel can
 * never execute user memory through it.
 */
static void rpal_entry_write(p4d_t *p, p4dval_t val)
{
#if RPAL_PTI_BUILT
	if (rpal_entry_has_user_copy()) {
		WRITE_ONCE(kernel_to_user_pgdp((pgd_t *)p)->pgd, val);
		if ((val & (_PAGE_USER | _PAGE_PRESENT)) ==
			    (_PAGE_USER | _PAGE_PRESENT) &&
		    (__supported_pte_mask & _PAGE_NX))
			val |= _PAGE_NX;
	}
#endif
	WRITE_ONCE(*p, __p4d(val));
}

/* The CPU sets Accessed in upper-level entries; it is not a change. */
static bool rpal_entry_same(p4dval_t a, p4dval_t b)
{
	return (a & ~_PAGE_ACCESSED) == (b & ~_PAGE_ACCESSED);
}

/*
 * Make @dst's entry for the slot at @base equal @src's. Returns 1 if a
 * present entry was replaced (the caller must flush @dst's TLB), 0 if
 * nothing or only an empty entry changed, -ENOENT if @dst has no table
 * level to hold the entry.
 */
int rpal_entry_copy(struct mm_struct *dst, struct mm_struct *src,
		    unsigned long base)
{
	p4d_t *sp = rpal_entry_ptr(src, base);
	p4d_t *dp = rpal_entry_ptr(dst, base);
	p4dval_t want = sp ? rpal_entry_read(sp) : 0;
	p4dval_t have;

	if (!dp)
		return want ? -ENOENT : 0;
	have = rpal_entry_read(dp);
	if (rpal_entry_same(have, want))
		return 0;
	rpal_entry_write(dp, want);
	return have ? 1 : 0;
}

/* Clear @mm's entry for the slot at @base; true if it was present. */
bool rpal_entry_clear(struct mm_struct *mm, unsigned long base)
{
	p4d_t *p = rpal_entry_ptr(mm, base);
	bool had;

	if (!p)
		return false;
	had = rpal_entry_read(p) != 0;
	rpal_entry_write(p, 0);
	return had;
}

bool rpal_entry_none(struct mm_struct *mm, unsigned long base)
{
	unsigned long flags;
	p4d_t *p;
	bool none;

	local_irq_save(flags);
	p = rpal_entry_ptr(mm, base);
	none = !p || !rpal_entry_read(p);
	local_irq_restore(flags);
	return none;
}
