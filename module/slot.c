// SPDX-License-Identifier: GPL-2.0-only
/*
 * Slots (512 GiB pieces of the user address space) and service ids.
 *
 * The allocated-slot bitmap is read without locks by the placement hooks
 * (is this range in somebody else's slot?); it is written under
 * rpal_slot_lock only. Readers may see a slot a moment late, which is why
 * attaching re-checks both mms after the slot is published (share.c).
 */
#define pr_fmt(fmt) "rpal: " fmt

#include <linux/bitmap.h>
#include <linux/idr.h>
#include <linux/mm.h>
#include <linux/spinlock.h>

#include "internal.h"

static DECLARE_BITMAP(rpal_slots_used, RPAL_NR_SLOTS);
static DEFINE_SPINLOCK(rpal_slot_lock);
static DEFINE_IDA(rpal_ids);

/*
 * Slots every ordinary process already uses, with ASLR at the default
 * mmap_rnd_bits of 28 on both kernels (docs/kernel-design.md, "Slots").
 */
static const struct {
	u16 first, last;
} rpal_reserved[] = {
	{ 0, 0 },	/* non-PIE executables, low mappings */
	{ 40, 42 },	/* mmap_base with an unlimited stack rlimit */
	{ 85, 87 },	/* legacy layout, bottom-up fallback */
	{ 170, 173 },	/* PIE base (ELF_ET_DYN_BASE + rnd) */
	{ 252, 255 },	/* mmap_base, stack, vDSO */
};

bool rpal_slot_reserved(u32 slot)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rpal_reserved); i++)
		if (slot >= rpal_reserved[i].first &&
		    slot <= rpal_reserved[i].last)
			return true;
	return false;
}

/* Nothing of @mm lives in the slot: no VMA and no page table under it. */
static bool rpal_slot_empty_in(struct mm_struct *mm, u32 slot)
{
	unsigned long base = rpal_slot_base(slot);
	struct vm_area_struct *vma;
	bool empty;

	mmap_read_lock(mm);
	vma = find_vma(mm, base);
	empty = (!vma || vma->vm_start >= base + RPAL_SLOT_SIZE) &&
		rpal_entry_none(mm, base);
	mmap_read_unlock(mm);
	return empty;
}

/*
 * The lowest free slot that is empty in @mm (any free slot if @mm is NULL:
 * for an exec, whose mm does not exist yet; then this never sleeps). A
 * slot is claimed before @mm is checked (so two registrations never race
 * for one slot) and given back if @mm uses it.
 */
int rpal_slot_alloc(struct mm_struct *mm)
{
	u32 slot;

	for (slot = 1; slot < RPAL_NR_SLOTS; slot++) {
		bool claimed = false;

		if (rpal_slot_reserved(slot))
			continue;
		spin_lock(&rpal_slot_lock);
		if (!test_bit(slot, rpal_slots_used)) {
			set_bit(slot, rpal_slots_used);
			claimed = true;
		}
		spin_unlock(&rpal_slot_lock);
		if (!claimed)
			continue;
		if (!mm || rpal_slot_empty_in(mm, slot))
			return slot;
		rpal_slot_free(slot);
	}
	return -ENOSPC;
}

void rpal_slot_free(u32 slot)
{
	spin_lock(&rpal_slot_lock);
	clear_bit(slot, rpal_slots_used);
	spin_unlock(&rpal_slot_lock);
}

/* Does [start, start + len) touch a slot allocated to another mm? */
bool rpal_range_hits_foreign_slot(unsigned long start, unsigned long len,
				  u32 own_slot)
{
	unsigned long last, s;

	if (!len || start >= (unsigned long)RPAL_NR_SLOTS << RPAL_SLOT_SHIFT)
		return false;
	last = start + len - 1;
	if (last < start)	/* wraps: certainly overlaps something */
		return true;
	last = min_t(unsigned long, last >> RPAL_SLOT_SHIFT, RPAL_NR_SLOTS - 1);
	for (s = start >> RPAL_SLOT_SHIFT; s <= last; s++)
		if (s != own_slot && test_bit(s, rpal_slots_used))
			return true;
	return false;
}

int rpal_id_alloc(void)
{
	return ida_alloc_range(&rpal_ids, 1, RPAL_MAX_SERVICES, GFP_KERNEL);
}

void rpal_id_free(u32 id)
{
	ida_free(&rpal_ids, id);
}
