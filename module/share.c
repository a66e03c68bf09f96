// SPDX-License-Identifier: GPL-2.0-only
/*
 * Sharing slots: mutual requests, the views they create (a viewer's page
 * table holding the owner's slot entry), keeping those copies in step
 * with the owner, and tearing them down.
 */
#define pr_fmt(fmt) "rpal: " fmt

#include <linux/cred.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/rculist.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

#include "internal.h"

static LIST_HEAD(rpal_links);		/* rpal_mutex */

/*
 * The file operations of /proc/<pid>/mem, learnt by opening our own at
 * load: a file with these fops and a given mm in private_data was opened
 * after the kernel's full ptrace-attach check against that mm's owner
 * (mem_open -> proc_mem_open -> mm_access(PTRACE_MODE_ATTACH)).
 */
static const struct file_operations *rpal_proc_mem_fops;

int rpal_share_proc_mem_init(void)
{
	struct file *f = filp_open("/proc/self/mem", O_RDONLY, 0);

	if (IS_ERR(f)) {
		pr_warn("cannot open /proc/self/mem (%ld): peer requests will be refused\n",
			PTR_ERR(f));
		return 0;
	}
	rpal_proc_mem_fops = f->f_op;
	filp_close(f, NULL);
	return 0;
}

/* Does @fd prove the caller may attach to @peer (see uapi rpal_request)? */
static int rpal_check_mem_fd(int fd, struct rpal_service *peer)
{
	struct file *f;
	int ret = 0;

	if (fd < 0)
		return -EBADF;
	f = fget(fd);
	if (!f)
		return -EBADF;
	if (!rpal_proc_mem_fops || f->f_op != rpal_proc_mem_fops ||
	    f->private_data != peer->mm)
		ret = -EACCES;
	/* Opened by someone else and passed on: not the caller's right. */
	else if (!uid_eq(f->f_cred->fsuid, current_fsuid()))
		ret = -EACCES;
	fput(f);
	return ret;
}

static struct rpal_link *rpal_link_find(struct rpal_service *a,
					struct rpal_service *b)
{
	struct rpal_link *l;

	list_for_each_entry(l, &rpal_links, node)
		if ((l->view[0].viewer == a && l->view[1].viewer == b) ||
		    (l->view[0].viewer == b && l->view[1].viewer == a))
			return l;
	return NULL;
}

static struct rpal_link *rpal_link_new(struct rpal_service *a,
				       struct rpal_service *b)
{
	struct rpal_link *l = kzalloc(sizeof(*l), GFP_KERNEL);
	int i;

	if (!l)
		return NULL;
	l->view[0].viewer = a;
	l->view[0].owner = b;
	l->view[1].viewer = b;
	l->view[1].owner = a;
	for (i = 0; i < 2; i++) {
		struct rpal_view *v = &l->view[i];

		refcount_inc(&v->viewer->ref);
		list_add_tail_rcu(&v->by_owner, &v->owner->viewers);
		list_add_tail_rcu(&v->by_viewer, &v->viewer->views);
	}
	list_add_tail(&l->node, &rpal_links);
	return l;
}

/*
 * Copy the owner's entry into the viewer if the view is active. Returns
 * as rpal_entry_copy(); 0 when inactive.
 */
static int rpal_view_sync(struct rpal_view *v)
{
	struct rpal_service *viewer = v->viewer;
	unsigned long flags;
	int ret = 0;

	raw_spin_lock_irqsave(&viewer->entry_lock, flags);
	if (v->active)
		ret = rpal_entry_copy(viewer->mm, v->owner->mm, v->owner->base);
	raw_spin_unlock_irqrestore(&viewer->entry_lock, flags);
	return ret;
}

static void rpal_view_activate(struct rpal_view *v)
{
	struct rpal_service *viewer = v->viewer;
	unsigned long flags;

	raw_spin_lock_irqsave(&viewer->entry_lock, flags);
	v->active = true;
	set_bit(v->owner->slot, viewer->viewing);
	/* The viewer's entry was empty (checked): nothing to flush. */
	rpal_entry_copy(viewer->mm, v->owner->mm, v->owner->base);
	raw_spin_unlock_irqrestore(&viewer->entry_lock, flags);
}

static void rpal_view_deactivate(struct rpal_view *v)
{
	struct rpal_service *viewer = v->viewer;
	unsigned long flags;
	bool was;

	raw_spin_lock_irqsave(&viewer->entry_lock, flags);
	was = v->active;
	v->active = false;
	clear_bit(v->owner->slot, viewer->viewing);
	if (was)
		rpal_entry_clear(viewer->mm, v->owner->base);
	raw_spin_unlock_irqrestore(&viewer->entry_lock, flags);
	/* Whatever it cached through the old entry goes. */
	if (was)
		rpal_flush_mm(viewer->mm);
}

/* Nothing of @mm lives in @owner's slot: no VMA, no table under it. */
static bool rpal_mm_clear_of(struct mm_struct *mm, struct rpal_service *owner)
{
	struct vm_area_struct *vma;
	bool clear;

	if (!mmget_not_zero(mm))
		return false;
	mmap_read_lock(mm);
	vma = find_vma(mm, owner->base);
	clear = !vma || vma->vm_start >= owner->end;
	mmap_read_unlock(mm);
	clear = clear && rpal_entry_none(mm, owner->base);
	mmput_async(mm);
	return clear;
}

static int rpal_link_activate(struct rpal_link *l)
{
	struct rpal_service *a = l->view[0].viewer, *b = l->view[1].viewer;

	/*
	 * One mm at a time (never two mmap locks). Neither mm can create a
	 * mapping in the other's slot after this check: both slots are
	 * allocated, and the placement hooks refuse foreign slots.
	 */
	if (!rpal_mm_clear_of(a->mm, b) || !rpal_mm_clear_of(b->mm, a))
		return -EBUSY;
	rpal_view_activate(&l->view[0]);
	rpal_view_activate(&l->view[1]);
	return 0;
}

/* Unlink and free @l; each side that did not cause it gets @event. */
static void rpal_link_destroy(struct rpal_link *l, struct rpal_service *cause,
			      u32 event)
{
	int i;

	lockdep_assert_held(&rpal_mutex);
	for (i = 0; i < 2; i++)
		rpal_view_deactivate(&l->view[i]);
	for (i = 0; i < 2; i++) {
		struct rpal_view *v = &l->view[i];

		list_del_rcu(&v->by_owner);
		list_del_rcu(&v->by_viewer);
		if (v->viewer != cause && l->requested[i])
			rpal_service_queue_event(v->viewer, event, v->owner);
	}
	list_del(&l->node);
	/* Calls across the link end: their waiters re-check and give up. */
	for (i = 0; i < 2; i++)
		rpal_threads_poke(l->view[i].viewer);
	for (i = 0; i < 2; i++)
		rpal_service_put(l->view[i].viewer);
	kfree_rcu(l, rcu);
}

int rpal_share_request(struct rpal_service *self, struct rpal_request *req)
{
	struct rpal_service *peer;
	struct rpal_link *l;
	int side, ret;

	lockdep_assert_held(&rpal_mutex);
	peer = rpal_service_by_id(req->peer_id);
	if (!peer || peer->state != RPAL_SVC_ACTIVE)
		return -ENOENT;
	if (peer == self)
		return -EINVAL;
	if (req->token != peer->token)
		return -EACCES;
	ret = rpal_check_mem_fd(req->mem_fd, peer);
	if (ret)
		return ret;

	l = rpal_link_find(self, peer);
	if (!l) {
		l = rpal_link_new(self, peer);
		if (!l)
			return -ENOMEM;
	}
	side = l->view[0].viewer == self ? 0 : 1;
	if (l->requested[side])
		return -EALREADY;
	l->requested[side] = true;
	if (l->requested[!side]) {
		ret = rpal_link_activate(l);
		if (ret) {
			l->requested[side] = false;
			return ret;
		}
		/* The first requester learns that it is active now. */
		rpal_service_queue_event(peer, RPAL_EVENT_PEER_ACTIVE, self);
	}

	req->state = l->requested[!side] ? RPAL_PEER_ACTIVE : RPAL_PEER_PENDING;
	req->peer_pkey = peer->pkey;
	req->peer_base = peer->base;
	req->peer_size = RPAL_SLOT_SIZE;
	req->peer_pid = peer->tgid;
	req->pad = 0;
	return 0;
}

int rpal_share_release(struct rpal_service *self, u32 peer_id)
{
	struct rpal_service *peer;
	struct rpal_link *l;

	lockdep_assert_held(&rpal_mutex);
	peer = rpal_service_by_id(peer_id);
	if (!peer)
		return -ENOENT;
	l = rpal_link_find(self, peer);
	if (!l || !l->requested[l->view[0].viewer == self ? 0 : 1])
		return -ENOENT;
	rpal_link_destroy(l, self, RPAL_EVENT_PEER_RELEASED);
	return 0;
}

void rpal_share_unlink_all(struct rpal_service *svc, u32 event)
{
	struct rpal_link *l, *tmp;

	lockdep_assert_held(&rpal_mutex);
	list_for_each_entry_safe(l, tmp, &rpal_links, node)
		if (l->view[0].viewer == svc || l->view[1].viewer == svc)
			rpal_link_destroy(l, svc, event);
}

/* The owner whose slot holds @addr, as @viewer actively sees it. */
struct rpal_service *rpal_share_owner_rcu(struct rpal_service *viewer,
					  unsigned long addr)
{
	struct rpal_view *v;

	list_for_each_entry_rcu(v, &viewer->views, by_viewer)
		if (READ_ONCE(v->active) && addr >= v->owner->base &&
		    addr < v->owner->end)
			return v->owner;
	return NULL;
}

/* Does @viewer actively see @owner's slot (they are linked)? */
bool rpal_share_sees_rcu(struct rpal_service *viewer,
			 struct rpal_service *owner)
{
	struct rpal_view *v;

	list_for_each_entry_rcu(v, &viewer->views, by_viewer)
		if (v->owner == owner && READ_ONCE(v->active))
			return true;
	return false;
}

/* The same, with a reference the caller drops. */
struct rpal_service *rpal_share_owner_get(struct rpal_service *viewer,
					  unsigned long addr)
{
	struct rpal_service *owner;

	rcu_read_lock();
	owner = rpal_share_owner_rcu(viewer, addr);
	if (owner && !refcount_inc_not_zero(&owner->ref))
		owner = NULL;
	rcu_read_unlock();
	return owner;
}

/*
 * After a peer fault: bring @viewer's copy of @owner's entry up to date.
 * Returns 0 if the copy is current, -ENOENT if the view is gone or the
 * viewer cannot hold the entry.
 */
int rpal_share_sync(struct rpal_service *viewer, struct rpal_service *owner)
{
	struct rpal_view *v;
	int ret = -ENOENT;

	rcu_read_lock();
	list_for_each_entry_rcu(v, &viewer->views, by_viewer) {
		if (v->owner != owner)
			continue;
		ret = rpal_view_sync(v);
		if (ret == 1)
			rpal_flush_mm(viewer->mm);
		ret = ret < 0 || !READ_ONCE(v->active) ? -ENOENT : 0;
		break;
	}
	rcu_read_unlock();
	return ret;
}

/*
 * @owner flushed [start, end) of its TLB: every active viewer may have
 * cached the same translations through its copy. Re-sync the copy (the
 * owner may have freed or replaced the slot's table) and flush the viewer.
 * Not sleepable; interrupts are on.
 */
void rpal_share_forward_flush(struct rpal_service *owner, unsigned long start,
			      unsigned long end)
{
	struct rpal_view *v;

	if (end <= owner->base || start >= owner->end)
		return;
	list_for_each_entry_rcu(v, &owner->viewers, by_owner) {
		if (!READ_ONCE(v->active))
			continue;
		rpal_view_sync(v);
		rpal_flush_mm(v->viewer->mm);
		atomic64_inc(&owner->flushes);
	}
}
