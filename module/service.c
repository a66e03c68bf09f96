// SPDX-License-Identifier: GPL-2.0-only
/*
 * Services: registration, lookup by mm and id, teardown (unregister or the
 * mm exiting), peer events.
 */
#define pr_fmt(fmt) "rpal: " fmt

#include <linux/ctype.h>
#include <linux/hashtable.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/moduleparam.h>
#include <linux/poll.h>
#include <linux/random.h>
#include <linux/rculist.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/pkeys.h>

#include "internal.h"

static bool require_pku;
module_param(require_pku, bool, 0444);
MODULE_PARM_DESC(require_pku,
		 "Refuse to register services on a CPU without protection keys, instead of running them unprotected (default: off)");

/* Serialises every change of the service graph (see internal.h). */
DEFINE_MUTEX(rpal_mutex);
LIST_HEAD(rpal_services);

static DEFINE_HASHTABLE(rpal_mm_hash, 8);
/* id -> live service, for lookups without rpal_mutex (wake, wait). */
static struct rpal_service __rcu *rpal_by_id[RPAL_MAX_SERVICES + 1];
static u16 rpal_generation;		/* rpal_mutex */
static DEFINE_SPINLOCK(rpal_hash_lock);

/* Bottom of a legacy (bottom-up) layout inside the slot. */
#define RPAL_LEGACY_OFFSET (4UL * SZ_1G)

struct rpal_service *rpal_service_of_mm_rcu(struct mm_struct *mm)
{
	struct rpal_service *svc;

	hash_for_each_possible_rcu(rpal_mm_hash, svc, hnode, (unsigned long)mm)
		if (svc->mm == mm)
			return svc;
	return NULL;
}

bool rpal_mm_slot_rcu(struct mm_struct *mm, struct rpal_slot_of *out)
{
	struct rpal_service *svc = rpal_service_of_mm_rcu(mm);
	struct rpal_placement *p;

	if (svc) {
		out->slot = svc->slot;
		out->base = svc->base;
		out->end = svc->end;
		return true;
	}
	p = rpal_placement_of_mm_rcu(mm);
	if (p) {
		out->slot = p->slot;
		out->base = p->base;
		out->end = p->end;
		return true;
	}
	return false;
}

struct rpal_service *rpal_service_get_of_mm(struct mm_struct *mm)
{
	struct rpal_service *svc;

	rcu_read_lock();
	svc = rpal_service_of_mm_rcu(mm);
	if (svc && !refcount_inc_not_zero(&svc->ref))
		svc = NULL;
	rcu_read_unlock();
	return svc;
}

struct rpal_service *rpal_service_by_id_rcu(u32 id)
{
	if (id > RPAL_MAX_SERVICES)
		return NULL;
	return rcu_dereference(rpal_by_id[id]);
}

struct rpal_service *rpal_service_by_id(u32 id)
{
	struct rpal_service *svc;

	lockdep_assert_held(&rpal_mutex);
	list_for_each_entry(svc, &rpal_services, node)
		if (svc->id == id)
			return svc;
	return NULL;
}

/* Process context only: RCU readers may still look at svc and its mm. */
void rpal_service_put(struct rpal_service *svc)
{
	if (!refcount_dec_and_test(&svc->ref))
		return;
	synchronize_rcu();
	rpal_threads_free(svc);
	ida_destroy(&svc->thread_ids);
	mmdrop(svc->mm);
	kfree(svc);
}

void rpal_file_init(struct rpal_file *rf)
{
	spin_lock_init(&rf->event_lock);
	INIT_KFIFO(rf->events);
	init_waitqueue_head(&rf->event_wq);
}

void rpal_service_queue_event(struct rpal_service *svc, u32 type,
			      struct rpal_service *peer)
{
	struct rpal_event ev = {
		.type = type,
		.peer_id = peer->id,
		.peer_pkey = peer->pkey,
		.peer_pid = peer->tgid,
	};
	struct rpal_file *rf = svc->rf;

	lockdep_assert_held(&rpal_mutex);
	if (!rf)
		return;
	spin_lock(&rf->event_lock);
	if (!kfifo_put(&rf->events, ev))
		rf->events_lost = true;
	spin_unlock(&rf->event_lock);
	wake_up_interruptible_poll(&rf->event_wq, EPOLLIN | EPOLLRDNORM);
}

static int rpal_name_set(struct rpal_service *svc, const char *name)
{
	size_t i, n = strnlen(name, RPAL_NAME_LEN);

	if (n == RPAL_NAME_LEN)
		return -EINVAL;		/* not NUL-terminated */
	for (i = 0; i < n; i++)
		if (!isprint(name[i]))
			return -EINVAL;
	strscpy(svc->name, name, sizeof(svc->name));
	return 0;
}

/*
 * New mappings go into the slot from now on: mmap_base at its top, the
 * legacy base near its bottom. The brk heap stays where it is (glibc
 * caches the break) but may not grow outside the slot (vmhooks.c).
 */
static void rpal_layout_enter(struct rpal_service *svc)
{
	struct mm_struct *mm = svc->mm;

	mmap_assert_write_locked(mm);
	/* rpal-run laid it out at exec, stack rlimit and all: keep it. */
	if (svc->placed)
		return;
	svc->old_mmap_base = mm->mmap_base;
	svc->old_mmap_legacy_base = mm->mmap_legacy_base;
	mm->mmap_base = svc->end;
	mm->mmap_legacy_base = svc->base + RPAL_LEGACY_OFFSET;
}

static void rpal_layout_leave(struct rpal_service *svc)
{
	struct mm_struct *mm = svc->mm;

	mmap_assert_write_locked(mm);
	if (svc->placed)
		return;
	if (mm->mmap_base == svc->end)
		mm->mmap_base = svc->old_mmap_base;
	if (mm->mmap_legacy_base == svc->base + RPAL_LEGACY_OFFSET)
		mm->mmap_legacy_base = svc->old_mmap_legacy_base;
}

static struct rpal_service *rpal_service_alloc(void)
{
	struct rpal_service *svc = kzalloc(sizeof(*svc), GFP_KERNEL);

	if (!svc)
		return NULL;
	refcount_set(&svc->ref, 1);
	INIT_LIST_HEAD(&svc->node);
	INIT_LIST_HEAD(&svc->viewers);
	INIT_LIST_HEAD(&svc->views);
	INIT_HLIST_NODE(&svc->hnode);
	raw_spin_lock_init(&svc->entry_lock);
	spin_lock_init(&svc->bypass_lock);
	atomic64_set(&svc->faults, 0);
	atomic64_set(&svc->flushes, 0);
	atomic64_set(&svc->calls_made, 0);
	atomic64_set(&svc->calls_received, 0);
	atomic64_set(&svc->ns_lent, 0);
	atomic64_set(&svc->ns_borrowed, 0);
	ida_init(&svc->thread_ids);
	svc->pkey = -1;
	return svc;
}

int rpal_service_register(struct rpal_file *rf, const char *name,
			  struct rpal_register *out)
{
	struct mm_struct *mm = current->mm;
	struct mmu_notifier *mn;
	struct rpal_service *svc, *other;
	int ret, id, slot;

	lockdep_assert_held(&rpal_mutex);
	if (require_pku && !rpal_have_pku())
		return -EOPNOTSUPP;
	if (rf->svc)
		return -EBUSY;		/* this fd is a service already */
	rcu_read_lock();
	other = rpal_service_of_mm_rcu(mm);
	rcu_read_unlock();
	if (other)
		return -EBUSY;		/* this process is, through another fd */

	svc = rpal_service_alloc();
	if (!svc)
		return -ENOMEM;
	ret = rpal_name_set(svc, name);
	if (ret)
		goto err_free;
	id = rpal_id_alloc();
	if (id < 0) {
		ret = id == -ENOSPC ? -ENOSPC : id;
		goto err_free;
	}
	svc->id = id;
	/* Placed by rpal-run: the program's slot is the service's. */
	slot = rpal_placement_take(mm, svc->name, sizeof(svc->name));
	svc->placed = slot >= 0;
	if (slot == -ENOENT)
		slot = rpal_slot_alloc(mm);
	if (slot < 0) {
		ret = slot;
		goto err_id;
	}
	if (!svc->name[0]) {
		char comm[TASK_COMM_LEN];

		get_task_comm(comm, current);
		strscpy(svc->name, comm, sizeof(svc->name));
	}
	svc->slot = slot;
	svc->base = rpal_slot_base(slot);
	svc->end = svc->base + RPAL_SLOT_SIZE;
	do {
		svc->token = get_random_u64();
	} while (!svc->token);
	svc->tgid = current->tgid;
	mmgrab(mm);
	svc->mm = mm;

	ret = mmap_write_lock_killable(mm);
	if (ret)
		goto err_mm;
	ret = rpal_pkey_alloc(svc);
	if (ret)
		goto err_unlock;
	mn = mmu_notifier_get_locked(&rpal_mn_ops, mm);
	if (IS_ERR(mn)) {
		ret = PTR_ERR(mn);
		goto err_pkey;
	}
	svc->mn = container_of(mn, struct rpal_mn, mn);
	rcu_assign_pointer(svc->mn->svc, svc);
	rpal_layout_enter(svc);
	mmap_write_unlock(mm);

	svc->gen = ++rpal_generation;
	svc->state = RPAL_SVC_ACTIVE;
	svc->rf = rf;
	refcount_inc(&svc->ref);	/* one for the registry, one for rf */
	list_add_tail(&svc->node, &rpal_services);
	spin_lock(&rpal_hash_lock);
	hash_add_rcu(rpal_mm_hash, &svc->hnode, (unsigned long)mm);
	spin_unlock(&rpal_hash_lock);
	rcu_assign_pointer(rpal_by_id[svc->id], svc);
	WRITE_ONCE(rf->svc, svc);

	out->id = svc->id;
	out->pkey = svc->pkey;
	out->token = svc->token;
	out->slot_base = svc->base;
	out->slot_size = RPAL_SLOT_SIZE;
	out->generation = svc->gen;
	return 0;

err_pkey:
	rpal_pkey_free(svc, true);
err_unlock:
	mmap_write_unlock(mm);
err_mm:
	rpal_slot_free(svc->slot);
err_id:
	rpal_id_free(svc->id);
err_free:
	if (svc->mm) {
		/* no RCU reader has seen it: drop directly */
		mmdrop(svc->mm);
	}
	kfree(svc);
	return ret;
}

/*
 * The service stops being one: views torn down (peers get @event), gone
 * from lookups, slot, id and key free for reuse. @mm_live: undo the
 * layout and the key in the mm (not when the mm is being torn down).
 */
static void rpal_service_teardown(struct rpal_service *svc, u32 event,
				  bool mm_live)
{
	struct mm_struct *mm = svc->mm;

	lockdep_assert_held(&rpal_mutex);
	WRITE_ONCE(svc->state, RPAL_SVC_DEAD);
	RCU_INIT_POINTER(rpal_by_id[svc->id], NULL);
	rpal_threads_teardown(svc);
	rpal_share_unlink_all(svc, event);

	spin_lock(&rpal_hash_lock);
	hash_del_rcu(&svc->hnode);
	spin_unlock(&rpal_hash_lock);
	RCU_INIT_POINTER(svc->mn->svc, NULL);
	list_del_init(&svc->node);

	if (mm_live && mmget_not_zero(mm)) {
		mmap_write_lock(mm);
		rpal_layout_leave(svc);
		rpal_pkey_free(svc, true);
		mmap_write_unlock(mm);
		mmput_async(mm);
	} else {
		rpal_pkey_free(svc, false);
	}
	rpal_slot_free(svc->slot);
	rpal_id_free(svc->id);
	rpal_service_put(svc);		/* the registry's reference */
}

/* The mm is exiting (mmu_notifier release): before its tables go. */
void rpal_mn_release_service(struct rpal_service *svc)
{
	lockdep_assert_held(&rpal_mutex);
	if (svc->state == RPAL_SVC_ACTIVE)
		rpal_service_teardown(svc, RPAL_EVENT_PEER_DIED, false);
}

/* RPAL_IOC_UNREGISTER, or the fd's last reference went away. */
void rpal_service_unregister(struct rpal_file *rf)
{
	struct rpal_service *svc = rf->svc;

	lockdep_assert_held(&rpal_mutex);
	if (!svc)
		return;
	if (svc->state == RPAL_SVC_ACTIVE)
		rpal_service_teardown(svc, RPAL_EVENT_PEER_RELEASED, true);
	svc->rf = NULL;
	WRITE_ONCE(rf->svc, NULL);
	/* Never from release: it does not call ->release, and may sleep-free. */
	mmu_notifier_put(&svc->mn->mn);
	rpal_service_put(svc);		/* rf's reference */
}
