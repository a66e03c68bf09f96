/* SPDX-License-Identifier: MIT */
/*
 * The runtime's shared data structures: the runtime area at the base of a
 * service's slot (read by peers), the thread control block (TCB), and each
 * thread's key-0 block (signal stack, dispatch selector). Layouts used by
 * assembly are pinned by _Static_assert. docs/runtime-design.md has the
 * protocol.
 */
#ifndef RPAL_RUNTIME_RT_H
#define RPAL_RUNTIME_RT_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>

#include <rpal/rpal.h>
#include <uapi/rpal.h>

#include "fiber.h"
#include "tcb_layout.h"
#include "tsc.h"

#define RPAL_AREA_MAGIC 0x4c415052u /* "RPAL" */
#define RPAL_AREA_VERSION 2	    /* layouts here; peers must agree */
#define RPAL_MAX_RTHREADS 64	    /* rpal threads per service */
#define RPAL_AREA_HDR_SIZE (4096UL * (1 + RPAL_MAX_RTHREADS)) /* + TCBs */
#define RPAL_THREAD_REGION (4UL << 20) /* per thread: see below */
#define RPAL_WAIT_STACK (128UL << 10)
#define RPAL_AREA_SIZE \
	(RPAL_AREA_HDR_SIZE + RPAL_MAX_RTHREADS * RPAL_THREAD_REGION)
#define RPAL_TCB_OFF(i) (4096UL * (1 + (i)))
#define RPAL_REGION_OFF(i) (RPAL_AREA_HDR_SIZE + (i)*RPAL_THREAD_REGION)
/*
 * A thread's region: its struct __rpal_thread (one page), its queue, then
 * at the end its rescue area and the wait fiber's stack. Peers compute
 * these addresses from the slot base and the index; they never follow a
 * pointer a peer wrote.
 */
#define RPAL_QUEUE_OFF 4096UL
#define RPAL_RESCUE_OFF \
	(RPAL_THREAD_REGION - RPAL_WAIT_STACK - RPAL_RESCUE_SIZE)
#define RPAL_QUEUE_MAX_BYTES (RPAL_RESCUE_OFF - RPAL_QUEUE_OFF)

/* Key-0 blocks: one per thread, mapped before registering (key 0). */
#define RPAL_KBLOCK_SIZE (128UL << 10) /* power of two: found by masking */
#define RPAL_KBLOCK_HDR (16UL << 10)   /* struct __rpal_kblock */
#define RPAL_SIGSTACK_SIZE (RPAL_KBLOCK_SIZE - RPAL_KBLOCK_HDR)

/* What a peer reads at the base of a service's slot. */
struct __rpal_area {
	uint32_t magic, version;
	uint32_t id, generation;
	int32_t pid, pkey;
	uint32_t max_msg, queue_len;
	/* 0: unused; else the thread's module index + 1 */
	_Atomic uint32_t kindex[RPAL_MAX_RTHREADS];
};

/* A receiver's state word for a call by service @id, generation @gen. */
static inline uint64_t __rpal_state_call(uint32_t id, uint32_t gen)
{
	return RPAL_TCB_CALL |
	       (uint64_t)(id & 0xffff) << RPAL_TCB_CALLER_SHIFT |
	       (uint64_t)(gen & 0xffff) << RPAL_TCB_GEN_SHIFT;
}

/*
 * Thread control block: one page in the service's slot (its key). The
 * first two words are the uapi TCB (the module reads them). A sender that
 * won the CAS to CALL writes the caller fields before it enters.
 */
struct __rpal_tcb {
	_Atomic uint64_t state;		 /* RPAL_TCB_* (uapi) */
	_Atomic uint64_t wake_on_return; /* set by the module */
	uint32_t kindex;		 /* the module's index of this thread */
	uint32_t index;			 /* the runtime's (receiver index) */
	uint64_t pad0;

	/* The thread's own context, saved while WAITING. */
	struct __rpal_fiber_ctx ctx;
	uint64_t fsbase;
	uint32_t pkru; /* PKRU its own code runs with */
	/* 1 once a call resumed ctx, 0 once it is saved again */
	volatile uint32_t ctx_live;

	/* Written by the sender that holds the thread (state CALL). */
	struct __rpal_fiber_ctx caller_ctx; /* where the call returns */
	uint64_t caller_fsbase;
	uint32_t caller_pkru;
	uint32_t caller_id;
	uint32_t caller_gen;
	uint32_t caller_kindex;
	uint64_t caller_selector; /* its call record's selector byte */
	uint64_t caller_kblock;	  /* its struct __rpal_kblock */
	uint64_t caller_base;	  /* its slot */
	int32_t caller_pkey;
	/* 1: stack, TLS and code of this thread lie in the slot */
	uint32_t callable;
};

_Static_assert(offsetof(struct __rpal_tcb, wake_on_return) ==
		       RPAL_TCB_WAKE_ON_RETURN_OFFSET,
	       "TCB: uapi layout");
_Static_assert(offsetof(struct __rpal_tcb, ctx) == RPAL_TCB_OFF_CTX, "ctx");
_Static_assert(offsetof(struct __rpal_tcb, fsbase) == RPAL_TCB_OFF_FSBASE,
	       "fsbase");
_Static_assert(offsetof(struct __rpal_tcb, pkru) == RPAL_TCB_OFF_PKRU, "pkru");
_Static_assert(offsetof(struct __rpal_tcb, ctx_live) == RPAL_TCB_OFF_CTX_LIVE,
	       "ctx_live");
_Static_assert(offsetof(struct __rpal_tcb, caller_ctx) ==
		       RPAL_TCB_OFF_CALLER_CTX,
	       "caller_ctx");
_Static_assert(offsetof(struct __rpal_tcb, caller_fsbase) ==
		       RPAL_TCB_OFF_CALLER_FSBASE,
	       "caller_fsbase");
_Static_assert(offsetof(struct __rpal_tcb, caller_pkru) ==
		       RPAL_TCB_OFF_CALLER_PKRU,
	       "caller_pkru");
_Static_assert(offsetof(struct __rpal_tcb, caller_selector) ==
		       RPAL_TCB_OFF_CALLER_SELECTOR,
	       "caller_selector");
_Static_assert(sizeof(struct __rpal_tcb) <= 4096, "TCB: one page");
_Static_assert(RPAL_TCB_WAITING_VALUE == RPAL_TCB_WAITING, "WAITING");
_Static_assert(RPAL_SUD_BLOCK == RPAL_CALL_ACTIVE, "selector values");
_Static_assert(RPAL_RR_RSP == 8 * RPAL_RESCUE_RSP &&
		       RPAL_RR_RIP == 8 * RPAL_RESCUE_RIP &&
		       RPAL_RR_RFLAGS == 8 * RPAL_RESCUE_RFLAGS &&
		       RPAL_RR_R15 == 8 * RPAL_RESCUE_R15,
	       "rescue register order");

/*
 * Per thread, in key-0 memory (readable whatever PKRU says): the call
 * record the module reads, and what a signal handler, starting with only
 * key 0 open, needs first. At the base of the thread's key-0 block; the
 * signal stack fills the rest, so a handler finds it by masking its stack
 * pointer.
 */
#define RPAL_KBLOCK_MAGIC 0x6b62706cu
#define RPAL_OWED_KICKS 8
struct __rpal_kblock {
	struct rpal_call_record rec; /* rec.selector: "in a call" */
	uint32_t magic;
	uint32_t pkru_own;	      /* PKRU of the thread's own code */
	uint32_t pkru_send;	      /* own and the callee's key open */
	uint32_t callee_pkru;	      /* PKRU of the code a call runs */
	struct __rpal_thread *thread; /* in the slot: open pkru_own first */
	uint64_t own_fsbase;
	/* The call under way (valid while rec.selector is ACTIVE). */
	struct __rpal_tcb *callee_tcb;
	struct rpal_rescue *callee_rescue;
	uint64_t callee_base; /* the callee's slot */
	uint32_t callee_kindex;
	/* Recovery: a fault on a peer during a send or call lands here. */
	volatile uint32_t recover_armed;
	volatile uint32_t inner_armed; /* rpal_read_caller() */
	volatile uint32_t rescuing;    /* the fault handler writes a rescue */
	uint32_t inner_pkru;
	int32_t fault_code; /* si_code of the last recovered fault */
	struct __rpal_fiber_ctx recover_ctx;
	struct __rpal_fiber_ctx inner_ctx;
	/* Signals that arrived during a call, delivered after it. */
	_Atomic uint64_t pending_sigs;
	siginfo_t pending_info[64];
	/*
	 * Kicks owed by the code a call of this thread ran (its sends from
	 * inside the call queue and do not call): made by this thread with
	 * its own fd when the call returns, rather than each as a syscall
	 * the callee's own thread runs by proxy. Only this kernel thread
	 * touches them: the callee code that records them runs on it.
	 */
	uint32_t owed_kicks;
	struct {
		uint32_t service_id, kindex;
	} owed[RPAL_OWED_KICKS];
};

_Static_assert(sizeof(struct __rpal_kblock) <= RPAL_KBLOCK_HDR, "kblock");
_Static_assert(offsetof(struct __rpal_kblock, rec) == 0, "kblock: record");

/* The runtime's per-thread state (in the slot, the service's key). */
struct __rpal_thread {
	struct __rpal_tcb *tcb;
	struct __rpal_kblock *kb;
	void *queue;
	struct rpal_rescue *rescue;	    /* this thread's rescue area */
	struct __rpal_fiber_ctx waiter_ctx; /* the wait fiber */
	int index;			    /* receiver index */
	int evfd;			    /* receiver fd */
	epoll_data_t evfd_data;		    /* as added to the epoll set */
	/*
	 * The wait in progress (rpal_epoll_wait), for the wait fiber. Code
	 * in a call (on another thread) updates it before it hands the
	 * thread back, so these are relaxed atomics published by wait_gen.
	 */
	_Atomic int wait_epfd, wait_timeout, wait_max;
	_Atomic(struct epoll_event *) wait_events;
	_Atomic uint32_t wait_gen;
	int wait_result, wait_errno;
	/* The last syscall run for a caller; reported with the next wait. */
	uint64_t proxy_seq;
	int64_t proxy_ret;
	bool proxy_report;
	struct rpal_thread_stats stats;
	struct __rpal_tacc tacc; /* call time, reported in batches */
};

/* A peer this service shares slots with. */
struct rpal_peer {
	struct rpal_identity id;
	uint64_t base; /* its slot */
	struct __rpal_area *area;
	bool verified; /* its area speaks our layout */
	struct rpal_peer *next;
};

/* The process-wide state (in .bss, mapped before registering: key 0). */
struct __rpal_service {
	int fd;
	struct rpal_register reg;
	struct __rpal_area *area;
	bool have_pku, have_fsgsbase;
	uint32_t call_how; /* RPAL_CALL_* for call.S */
	uint32_t queue_len, max_msg;
	uint32_t sender_id;		/* id | generation << 16 */
	char *kblocks;			/* RPAL_MAX_RTHREADS key-0 blocks */
	_Atomic uint64_t rthreads_used; /* bitmap of receiver indexes */
	_Atomic uint64_t spin_ns;
	uint64_t tsc_hz;
	/* Services that died (from the fd's events): their queue claims go. */
	_Atomic uint32_t dead[64];
	_Atomic uint32_t ndead;
};

extern struct __rpal_service __rpal_svc;
extern __thread struct __rpal_thread *__rpal_self;

/* This service as a queue sender id: id and generation, 16 bits each. */
static inline uint32_t __rpal_sender_id(uint32_t id, uint32_t gen)
{
	return (id & 0xffff) | (gen & 0xffff) << 16;
}

/* PKRU access (only with PKU). */
static inline uint32_t __rpal_rdpkru(void)
{
	uint32_t eax, edx;

	__asm__ volatile("rdpkru" : "=a"(eax), "=d"(edx) : "c"(0));
	return eax;
}

static inline void __rpal_wrpkru(uint32_t v)
{
	__asm__ volatile("wrpkru" : : "a"(v), "c"(0), "d"(0) : "memory");
}

/* A PKRU that additionally allows access to @pkey. */
static inline uint32_t __rpal_pkru_open(uint32_t pkru, int pkey)
{
	return pkey > 0 ? pkru & ~(3u << (2 * pkey)) : pkru;
}

/* The slot-relative addresses of a peer's thread @i (never pointers). */
static inline struct __rpal_tcb *__rpal_tcb_at(uint64_t base, uint32_t i)
{
	return (struct __rpal_tcb *)(uintptr_t)(base + RPAL_TCB_OFF(i));
}

static inline void *__rpal_queue_at(uint64_t base, uint32_t i)
{
	return (void *)(uintptr_t)(base + RPAL_REGION_OFF(i) + RPAL_QUEUE_OFF);
}

static inline struct rpal_rescue *__rpal_rescue_at(uint64_t base, uint32_t i)
{
	return (struct rpal_rescue *)(uintptr_t)(base + RPAL_REGION_OFF(i) +
						 RPAL_RESCUE_OFF);
}

static inline bool __rpal_in_slot(uint64_t base, uint64_t addr)
{
	return addr - base < RPAL_SLOT_SIZE;
}

/* How a recovery point is resumed (signal.c, send.c). */
#define RPAL_RECOVER_HANDED_OFF 1 /* the callee's thread took the context */
#define RPAL_RECOVER_RESET 2	  /* the peer's memory is gone */

/* call.S */
long __rpal_syscall6(long nr, long a, long b, long c, long d, long e, long f);
__attribute__((returns_twice)) long
__rpal_ctx_save(struct __rpal_fiber_ctx *ctx);
_Noreturn void __rpal_ctx_jump(const struct __rpal_fiber_ctx *ctx, long val);
long __rpal_call_enter(struct __rpal_tcb *r, uint64_t callee_fsbase,
		       uint32_t callee_pkru, volatile uint8_t *selector,
		       uint32_t how);
long __rpal_call_leave(struct __rpal_tcb *r, uint32_t how);
extern char __rpal_call_leave_end[];
_Noreturn void __rpal_rescue_resume(const uint64_t *regs, const void *xsave,
				    uint64_t rfbm, uint32_t format);

/* service.c: module requests without errno (-errno returned). */
long __rpal_ioctl(unsigned long cmd, void *arg);
int __rpal_wake(uint32_t service_id, uint32_t kindex);
bool __rpal_sender_dead(uint32_t sender);
void __rpal_read_events(void);

/* thread.c */
struct __rpal_kblock *__rpal_kblock_of(const void *sp);
void __rpal_set_fsbase(uint64_t fsbase);

/* recv.c: the wait fiber. */
void __rpal_waiter_main(void *arg);

/* signal.c */
int __rpal_signals_init(void);
void __rpal_deliver_pending(struct __rpal_kblock *kb);

/* send.c */
void __rpal_account_flush(struct __rpal_thread *t);

#endif /* RPAL_RUNTIME_RT_H */
