/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * rpal.ko internals shared between the module's files.
 *
 * Object graph (docs/kernel-design.md has the why):
 *
 *   /dev/rpal file -> struct rpal_file -> struct rpal_service (one per mm)
 *   rpal_mm_hash: mm -> struct rpal_service              (RCU readers)
 *   struct rpal_mn (mmu_notifier on the mm) -> service   (RCU pointer)
 *   struct rpal_link: one per pair of services that requested each other;
 *                     view[i]: svc[i]'s page table holds the other's slot
 *
 * Lock order:
 *   rpal_mutex -> mmap_lock (one mm at a time)
 *              -> rpal_hash_lock | svc->entry_lock | rf->event_lock
 *   The spinlocks are leaves. Nothing drops the last mm_users reference
 *   or calls mmu_notifier_unregister() under rpal_mutex: the mm-release
 *   callback takes rpal_mutex.
 */
#ifndef RPAL_INTERNAL_H
#define RPAL_INTERNAL_H

#include <linux/fs.h>
#include <linux/ftrace.h>
#include <linux/kfifo.h>
#include <linux/list.h>
#include <linux/mm_types.h>
#include <linux/mmu_notifier.h>
#include <linux/mutex.h>
#include <linux/refcount.h>
#include <linux/seq_file.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/wait.h>
#include <uapi/rpal.h>

/* Slots cover the 47-bit user window in both paging modes. */
#define RPAL_NR_SLOTS 256
#define RPAL_MAX_SERVICES 240
#define RPAL_EVENT_QUEUE 64	/* events per fd; a power of two */
#define RPAL_BYPASS_SLOTS 16	/* concurrent declined faults per service */
#define RPAL_MAX_THREADS 1024	/* rpal threads per service */

enum rpal_svc_state {
	RPAL_SVC_ACTIVE = 1,	/* registered, mm alive */
	RPAL_SVC_DEAD,		/* mm exited or unregistered: only refs remain */
};

struct rpal_bypass {
	struct task_struct *task;
	unsigned long page;
};

struct rpal_file;

struct rpal_service {
	/* Set at registration, then constant. */
	u32 id;
	u32 slot;
	unsigned long base, end;	/* the slot: [base, end) */
	int pkey;			/* -1: no protection keys */
	u64 token;
	struct mm_struct *mm;		/* mmgrab'd for the service's life */
	pid_t tgid;
	char name[RPAL_NAME_LEN];
	struct rpal_mn *mn;
	bool placed;			/* by rpal-run: layout already in slot */
	unsigned long old_mmap_base, old_mmap_legacy_base;

	/*
	 * The last reference is dropped in process context only: the final
	 * put waits for RCU readers, then drops the mm.
	 */
	refcount_t ref;

	/* Protected by rpal_mutex. */
	enum rpal_svc_state state;
	struct rpal_file *rf;		/* the fd it is bound to */
	struct list_head node;		/* rpal_services */

	/* Written under rpal_mutex, read under RCU. */
	struct list_head viewers;	/* rpal_view.by_owner: who sees us */
	struct list_head views;		/* rpal_view.by_viewer: whom we see */
	struct hlist_node hnode;	/* rpal_mm_hash (rpal_hash_lock) */

	/*
	 * entry_lock: writes of foreign top-level entries into mm, and the
	 * active flags of our views (and the viewing bits, read locklessly
	 * by the fault callback as a first filter).
	 */
	raw_spinlock_t entry_lock;
	DECLARE_BITMAP(viewing, RPAL_NR_SLOTS);

	/* Declined faults that must reach the kernel's own path once. */
	spinlock_t bypass_lock;
	struct rpal_bypass bypass[RPAL_BYPASS_SLOTS];
	unsigned int bypass_next;

	/* rpal threads (thread.c): slots under rpal_mutex, read under RCU. */
	struct rpal_kthread __rcu *__rcu *threads;
	struct ida thread_ids;
	u16 gen;			/* registration generation */

	/* Counters for rpalctl status. */
	atomic64_t faults;		/* peer faults resolved for us */
	atomic64_t flushes;		/* our flushes forwarded to viewers */
	atomic64_t calls_made, calls_received;
	atomic64_t ns_lent;		/* our threads ran peers' code */
	atomic64_t ns_borrowed;		/* peers' threads ran ours */
};

/* "viewer's page table holds owner's slot entry" */
struct rpal_view {
	struct rpal_service *viewer, *owner;
	struct list_head by_owner;	/* owner->viewers; RCU */
	struct list_head by_viewer;	/* viewer->views; RCU */
	bool active;			/* viewer->entry_lock */
};

/* Two services that requested each other: two views, one per direction. */
struct rpal_link {
	struct rpal_view view[2];	/* view[i].viewer holds a reference */
	bool requested[2];		/* by view[i].viewer; rpal_mutex */
	struct list_head node;		/* rpal_links; rpal_mutex */
	struct rcu_head rcu;
};

enum rpal_place_state {
	RPAL_PLACE_ARMED = 1,	/* the task's next exec will be placed */
	RPAL_PLACE_EXECUTING,	/* that exec is under way */
	RPAL_PLACE_PLACED,	/* the new mm runs in the slot */
};

/* An exec placed in a slot, until its process registers or exits. */
struct rpal_placement {
	struct list_head node;		/* rpal_placements; RCU */
	struct list_head dead;		/* reaping */
	enum rpal_place_state state;	/* rpal_place_lock; PLACED released */
	struct task_struct *task;	/* ARMED, EXECUTING: a reference */
	struct mm_struct *mm;		/* PLACED: mmgrab'd */
	struct rpal_file *rf;		/* ARMED: the fd that armed it */
	u32 slot;
	unsigned long base, end;
	char name[RPAL_NAME_LEN];
	bool pie_moved, exec_done;	/* only the exec'ing task writes */
};

/* The slot an mm owns, as the placement hooks need it. */
struct rpal_slot_of {
	u32 slot;
	unsigned long base, end;
};

struct rpal_mn {
	struct mmu_notifier mn;
	struct rpal_service __rcu *svc;
};

/*
 * Per open file. The event queue and its waitqueue live here, not in the
 * service: epoll keeps wait entries until the file is released, and the
 * service may be gone long before.
 */
struct rpal_file {
	struct rpal_service *svc;	/* rpal_mutex; holds a reference */
	spinlock_t event_lock;
	DECLARE_KFIFO(events, struct rpal_event, RPAL_EVENT_QUEUE);
	bool events_lost;
	wait_queue_head_t event_wq;
};

extern struct mutex rpal_mutex;
extern struct list_head rpal_services;

/* exec.c: exec placement (rpal-run, ELF marker). */
int rpal_exec_place(struct rpal_file *rf, const char *name,
		    struct rpal_exec_place *out);
void rpal_exec_disarm(struct rpal_file *rf);
struct rpal_placement *rpal_placement_of_mm_rcu(struct mm_struct *mm);
int rpal_placement_take(struct mm_struct *mm, char *name, size_t len);
void rpal_placements_reap(void);
void rpal_placements_show(struct seq_file *m);
int rpal_exec_init(void);
void rpal_exec_exit(void);

/* The slot @mm owns as a service or a placed program (RCU held). */
bool rpal_mm_slot_rcu(struct mm_struct *mm, struct rpal_slot_of *out);

/* A syscall of borrowed code, handed to the callee's thread (proxy.c). */
enum rpal_proxy_state {
	RPAL_PROXY_IDLE = 0,
	RPAL_PROXY_POSTED,	/* by the caller, waiting in rpal_sud_dispatch */
	RPAL_PROXY_TAKEN,	/* returned to the callee by RPAL_IOC_WAIT */
	RPAL_PROXY_DONE,	/* result posted by the callee's next wait */
};

struct rpal_proxy {
	enum rpal_proxy_state state;
	u64 seq;
	u64 nr;
	u64 args[6];
	s64 ret;
	const void *from;	/* the caller's rpal_kthread, compared only */
};

/*
 * An rpal thread (thread.c). Referenced by its slot in svc->threads (RCU)
 * and by whoever looked it up; unregistering, or the service's teardown,
 * empties the slot, marks it dead and wakes its sleepers.
 */
struct rpal_kthread {
	struct rpal_service *svc;	/* no reference: the service outlives */
	u32 index;
	struct task_struct *task;	/* compared only, never dereferenced */
	u64 __user *tcb;
	struct rpal_call_record __user *record;	/* key-0 memory, or NULL */
	void __user *rescue;		/* RPAL_RESCUE_SIZE in the slot, or NULL */
	struct eventfd_ctx *evctx;
	atomic_t kicks;
	bool dead;
	wait_queue_head_t wq;		/* its own RPAL_IOC_WAIT */
	u64 last_runtime;		/* sum_exec_runtime at the last report */
	u64 budget;			/* ran, not yet claimed by reports */
	/* Syscalls of callers running this thread's context. */
	spinlock_t proxy_lock;
	struct rpal_proxy proxy;
	u64 proxy_seq;
	wait_queue_head_t proxy_wq;	/* callers waiting for results */
	refcount_t ref;
	struct rcu_head rcu;
};

/* thread.c: rpal threads, waits, kicks, time reports. */
int rpal_thread_register(struct rpal_service *svc, struct rpal_thread *t);
int rpal_thread_unregister(struct rpal_service *svc, u32 index);
void rpal_threads_teardown(struct rpal_service *svc);
void rpal_threads_free(struct rpal_service *svc);
long rpal_thread_wait(struct rpal_service *svc, struct rpal_wait *wt);
long rpal_thread_wake(struct rpal_service *self, struct rpal_wake *wk);
long rpal_thread_report(struct rpal_service *self, struct rpal_report *rp);
struct rpal_kthread *rpal_kthread_get_rcu(struct rpal_service *svc, u32 index);
struct rpal_kthread *rpal_kthread_of_task_rcu(struct rpal_service *svc,
					      struct task_struct *task);
void rpal_kthread_put(struct rpal_kthread *th);
void rpal_threads_poke(struct rpal_service *svc);
struct rpal_service *rpal_reachable_rcu(struct rpal_service *self, u32 id);

/* proxy.c: syscalls of borrowed code run by the callee's thread. */
struct rpal_kthread *rpal_kthread_in_call_rcu(struct rpal_service **svc);
bool rpal_proxy_take(struct rpal_kthread *th, struct rpal_wait *out);
void rpal_proxy_complete(struct rpal_kthread *th, u64 seq, s64 ret);
int rpal_proxy_init(void);
void rpal_proxy_exit(void);

/* rescue.c: the context a dying caller was running, for the callee. */
int rpal_rescue_init(void);
void rpal_rescue_exit(void);

/* caps.c: what this machine offers, detected once at load. */
void rpal_caps_init(void);
u64 rpal_caps_features(void);
static inline bool rpal_have_pku(void)
{
	return rpal_caps_features() & RPAL_FEAT_PKU;
}

/* ioctl.c */
long rpal_ioctl(struct file *file, unsigned int cmd, unsigned long arg);
u64 rpal_ioctl_commands(void);

/* slot.c: the slot and id allocators. */
static inline unsigned long rpal_slot_base(u32 slot)
{
	return (unsigned long)slot << RPAL_SLOT_SHIFT;
}

bool rpal_slot_reserved(u32 slot);
int rpal_slot_alloc(struct mm_struct *mm);
void rpal_slot_free(u32 slot);
bool rpal_range_hits_foreign_slot(unsigned long start, unsigned long len,
				  u32 own_slot);
int rpal_id_alloc(void);
void rpal_id_free(u32 id);

/* service.c: lifecycle and lookup. */
int rpal_service_register(struct rpal_file *rf, const char *name,
			  struct rpal_register *out);
void rpal_service_unregister(struct rpal_file *rf);
struct rpal_service *rpal_service_by_id(u32 id);	/* rpal_mutex */
struct rpal_service *rpal_service_by_id_rcu(u32 id);
struct rpal_service *rpal_service_of_mm_rcu(struct mm_struct *mm);
struct rpal_service *rpal_service_get_of_mm(struct mm_struct *mm);
void rpal_service_put(struct rpal_service *svc);
void rpal_service_queue_event(struct rpal_service *svc, u32 type,
			      struct rpal_service *peer);
void rpal_mn_release_service(struct rpal_service *svc);
void rpal_file_init(struct rpal_file *rf);

/* share.c: links, entry copies. */
int rpal_share_request(struct rpal_service *self, struct rpal_request *req);
int rpal_share_release(struct rpal_service *self, u32 peer_id);
void rpal_share_unlink_all(struct rpal_service *svc, u32 event);
struct rpal_service *rpal_share_owner_rcu(struct rpal_service *viewer,
					  unsigned long addr);
struct rpal_service *rpal_share_owner_get(struct rpal_service *viewer,
					  unsigned long addr);
int rpal_share_sync(struct rpal_service *viewer, struct rpal_service *owner);
bool rpal_share_sees_rcu(struct rpal_service *viewer,
			 struct rpal_service *owner);
void rpal_share_forward_flush(struct rpal_service *owner, unsigned long start,
			      unsigned long end);
int rpal_share_proc_mem_init(void);

/* pgtable.c: the one top-level entry of a slot, in any mm. */
int rpal_entry_copy(struct mm_struct *dst, struct mm_struct *src,
		    unsigned long base);
bool rpal_entry_clear(struct mm_struct *mm, unsigned long base);
bool rpal_entry_none(struct mm_struct *mm, unsigned long base);

/* tlb.c */
void rpal_flush_mm(struct mm_struct *mm);
int rpal_tlb_init(void);
void rpal_tlb_exit(void);
extern const struct mmu_notifier_ops rpal_mn_ops;

/* hooks.c: ftrace hooks. */
struct rpal_hook {
	const char *name;
	ftrace_func_t func;
	unsigned long flags;		/* extra FTRACE_OPS_FL_* */
	struct ftrace_ops ops;
	bool registered;
};

int rpal_hooks_register(struct rpal_hook *hooks, size_t n);
void rpal_hooks_unregister(struct rpal_hook *hooks, size_t n);
int rpal_vm_hooks_init(void);
void rpal_vm_hooks_exit(void);
int rpal_fault_init(void);
void rpal_fault_exit(void);
int rpal_pkey_alloc(struct rpal_service *svc);	/* mmap write lock held */
void rpal_pkey_free(struct rpal_service *svc, bool in_mm);
int rpal_pkey_init(void);
void rpal_pkey_exit(void);

/* Stubs an ftrace callback may redirect a hooked function to. */
long rpal_stub_enomem(void);
long rpal_stub_enoexec(void);
long rpal_stub_eperm(void);
void rpal_stub_void(void);

/* debugfs.c */
void rpal_debugfs_init(void);
void rpal_debugfs_exit(void);

#endif /* RPAL_INTERNAL_H */
