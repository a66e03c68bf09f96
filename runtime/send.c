// SPDX-License-Identifier: MIT
/*
 * Sending: rpal_send() copies the message into the receiver's queue and,
 * when the receiver is waiting, runs it (the RPAL call); otherwise the
 * receiver is woken the ordinary way. rpal_read_caller() lets the code a
 * call runs copy from the caller's memory. Call time goes to the module
 * in batches (RPAL_IOC_REPORT). docs/runtime-design.md has the protocol.
 */
#include <errno.h>
#include <string.h>

#include "queue.h"
#include "rt.h"

#define VIS __attribute__((visibility("default")))

static uint64_t state_of(struct __rpal_tcb *tcb)
{
	return atomic_load(&tcb->state) & RPAL_TCB_STATE_MASK;
}

void __rpal_account_flush(struct __rpal_thread *t)
{
	struct __rpal_tacc *a = &t->tacc;
	struct rpal_report rp;

	for (uint32_t i = 0; i < a->n; i++) {
		memset(&rp, 0, sizeof(rp));
		rp.size = sizeof(rp);
		rp.index = t->tcb->kindex;
		rp.callee_id = a->e[i].callee;
		rp.cycles = a->e[i].cycles;
		rp.calls = a->e[i].calls;
		/* A callee that went away takes its time with it. */
		__rpal_ioctl(RPAL_IOC_REPORT, &rp);
	}
	__rpal_tacc_reset(a);
}

static void account(struct __rpal_thread *t, uint32_t callee, uint64_t cycles)
{
	int due = __rpal_tacc_add(&t->tacc, callee, cycles);

	if (due < 0) {
		__rpal_account_flush(t);
		due = __rpal_tacc_add(&t->tacc, callee, cycles);
	}
	if (due > 0)
		__rpal_account_flush(t);
}

/* The receiver's saved context lies where we can run it. */
static bool context_runnable(const struct __rpal_tcb *r, uint64_t base)
{
	return r->callable && __rpal_in_slot(base, r->ctx.rsp) &&
	       __rpal_in_slot(base, r->ctx.rip) &&
	       __rpal_in_slot(base, r->fsbase);
}

/*
 * The kicks the callee's sends owed (see owe_kick()). Its pushes worked
 * in our address space, so we share slots with each target and may kick
 * it with our own fd.
 */
static void pay_owed_kicks(struct __rpal_kblock *kb)
{
	for (uint32_t i = 0; i < kb->owed_kicks; i++)
		__rpal_wake(kb->owed[i].service_id, kb->owed[i].kindex);
	kb->owed_kicks = 0;
}

/*
 * The call: we own @r (CALL). Tell the receiver who we are and the module
 * what we run, enter, and come back when its code waits again.
 */
static void call(struct __rpal_thread *t, struct rpal_peer *peer,
		 struct __rpal_tcb *r, uint32_t receiver, uint32_t kindex)
{
	struct __rpal_service *s = &__rpal_svc;
	struct __rpal_kblock *kb = t->kb;
	uint64_t t0, t1;

	r->caller_fsbase = kb->own_fsbase;
	r->caller_pkru = kb->pkru_send;
	r->caller_id = s->reg.id;
	r->caller_gen = s->reg.generation;
	r->caller_kindex = t->tcb->kindex;
	r->caller_selector = (uintptr_t)&kb->rec.selector;
	r->caller_kblock = (uintptr_t)kb;
	r->caller_base = s->reg.slot_base;
	r->caller_pkey = s->reg.pkey;
	kb->callee_tcb = r;
	kb->callee_rescue = __rpal_rescue_at(peer->base, receiver);
	kb->callee_base = peer->base;
	kb->callee_kindex = kindex;
	kb->callee_pkru = r->pkru;
	kb->rec.callee_id = peer->id.id;
	kb->rec.callee_index = kindex;
	kb->rec.callee_tcb = (uintptr_t)r;
	kb->rec.sigframe = 0;
	t->stats.calls++;
	t0 = __rpal_tsc();
	__rpal_call_enter(r, r->fsbase, r->pkru, &kb->rec.selector,
			  s->call_how);
	t1 = __rpal_tsc();
	/*
	 * The receiver is WAITING again (or already someone else's). Pairs
	 * with the module's "wake_on_return = 1; full barrier; read state":
	 * one of us sees the other. Clearing a flag set for a later call is
	 * harmless: the kick makes the thread look again and set it again.
	 */
	if (atomic_exchange(&r->wake_on_return, 0))
		__rpal_wake(peer->id.id, kindex);
	account(t, peer->id.id, __rpal_tsc_delta(t0, t1));
}

/* Check once that the peer's runtime speaks our layout. */
static int peer_verify(struct rpal_peer *peer)
{
	const struct __rpal_area *a = peer->area;

	if (a->magic != RPAL_AREA_MAGIC || a->version != RPAL_AREA_VERSION ||
	    a->id != peer->id.id)
		return -EPROTO;
	peer->verified = true;
	return 0;
}

/* The armed part of send_own(): faults on the peer land in send_own(). */
static __attribute__((noinline)) int
send_own_armed(struct __rpal_thread *t, struct rpal_peer *peer,
	       uint32_t receiver, const void *buf, uint32_t len)
{
	struct __rpal_service *s = &__rpal_svc;
	struct __rpal_tcb *r = __rpal_tcb_at(peer->base, receiver);
	uint64_t w = RPAL_TCB_WAITING;
	uint32_t kindex;
	int ret;

	ret = peer->verified ? 0 : peer_verify(peer);
	if (ret)
		return ret;
	kindex = atomic_load_explicit(&peer->area->kindex[receiver],
				      memory_order_acquire);
	if (!kindex--)
		return -ENOENT;
	ret = __rpal_queue_push(__rpal_queue_at(peer->base, receiver), buf, len,
				s->sender_id);
	if (ret)
		return ret;
	t->stats.sends++;
	if (context_runnable(r, peer->base) &&
	    atomic_compare_exchange_strong(
		    &r->state, &w,
		    __rpal_state_call(s->reg.id, s->reg.generation))) {
		call(t, peer, r, receiver, kindex);
	} else if ((w & RPAL_TCB_STATE_MASK) != RPAL_TCB_RUNNING) {
		/*
		 * Asleep (not callable), held by another sender, or being
		 * rescued: the message waits in the queue, the thread gets
		 * a kick. RUNNING needs none: it checks its queue after it
		 * publishes WAITING (a seq_cst exchange, against our CAS).
		 */
		__rpal_wake(peer->id.id, kindex);
	}
	return 0;
}

/* A send from the thread's own code: may call. */
static int send_own(struct __rpal_thread *t, struct rpal_peer *peer,
		    uint32_t receiver, const void *buf, uint32_t len)
{
	struct __rpal_kblock *kb = t->kb;
	long how;
	int ret;

	kb->pkru_send = __rpal_pkru_open(kb->pkru_own, peer->id.pkey);
	if (__rpal_svc.have_pku)
		__rpal_wrpkru(kb->pkru_send);
	how = __rpal_ctx_save(&kb->recover_ctx);
	if (how) {
		/*
		 * A fault on the peer's memory; the handler restored us. If
		 * the callee's own code faulted, its thread took the context
		 * over and the message is delivered.
		 */
		ret = how == RPAL_RECOVER_HANDED_OFF ? 0 : -ECONNRESET;
	} else {
		kb->recover_armed = 1;
		ret = send_own_armed(t, peer, receiver, buf, len);
		kb->recover_armed = 0;
		if (__rpal_svc.have_pku)
			__rpal_wrpkru(kb->pkru_own);
	}
	/* Also after a recovery: what the callee queued before stays queued. */
	if (kb->owed_kicks)
		pay_owed_kicks(kb);
	if (atomic_load_explicit(&kb->pending_sigs, memory_order_relaxed))
		__rpal_deliver_pending(kb);
	return ret;
}

/*
 * A receiver that is RUNNING re-checks its queue after it publishes
 * WAITING (a seq_cst exchange), so it needs no kick. That is the common
 * reply, to the thread whose call runs us, and the kick would be a
 * syscall our own thread runs for us. The fence orders the push before
 * the state load, as the failed CAS does in send_own_armed().
 */
static __attribute__((noinline)) int
send_borrowed_armed(struct rpal_peer *peer, uint32_t receiver, const void *buf,
		    uint32_t len, uint32_t *kindex, bool *kick)
{
	int ret = peer->verified ? 0 : peer_verify(peer);

	if (ret)
		return ret;
	*kindex = atomic_load_explicit(&peer->area->kindex[receiver],
				       memory_order_acquire);
	if (!*kindex)
		return -ENOENT;
	ret = __rpal_queue_push(__rpal_queue_at(peer->base, receiver), buf, len,
				__rpal_svc.sender_id);
	if (ret)
		return ret;
	atomic_thread_fence(memory_order_seq_cst);
	*kick = state_of(__rpal_tcb_at(peer->base, receiver)) !=
		RPAL_TCB_RUNNING;
	return 0;
}

/*
 * From inside a call, leave the kick to the caller, who makes it with its
 * own fd as soon as the call returns: a syscall here would run in our
 * own thread, by proxy (two more context switches). The caller's kblock
 * is key-0 memory and this is its kernel thread. Returns false when the
 * list is full: kick now.
 */
static bool owe_kick(struct __rpal_thread *t, uint32_t service_id,
		     uint32_t kindex)
{
	struct __rpal_kblock *ckb =
		(struct __rpal_kblock *)(uintptr_t)t->tcb->caller_kblock;
	uint32_t i, n = ckb->owed_kicks;

	for (i = 0; i < n; i++)
		if (ckb->owed[i].service_id == service_id &&
		    ckb->owed[i].kindex == kindex)
			return true;
	if (n == RPAL_OWED_KICKS)
		return false;
	ckb->owed[n].service_id = service_id;
	ckb->owed[n].kindex = kindex;
	ckb->owed_kicks = n + 1;
	return true;
}

/*
 * A send from code running in a call (this thread's context is borrowed
 * by another service's thread): queue, no nested call, and leave the kick
 * to the caller. Its syscalls run in this service's own thread. A fault
 * here reaches the caller's handler, which hands the context back to
 * this thread (a rescue); the fault repeats on it, and our own handler
 * lands here.
 */
static int send_borrowed(struct __rpal_thread *t, struct rpal_peer *peer,
			 uint32_t receiver, const void *buf, uint32_t len)
{
	struct __rpal_kblock *kb = t->kb;
	uint32_t kindex = 0;
	bool kick = true;
	int ret;

	kb->inner_pkru = __rpal_svc.have_pku ? __rpal_rdpkru() : 0;
	if (__rpal_svc.have_pku)
		__rpal_wrpkru(__rpal_pkru_open(kb->inner_pkru, peer->id.pkey));
	if (__rpal_ctx_save(&kb->recover_ctx))
		return -ECONNRESET;
	kb->recover_armed = 1;
	ret = send_borrowed_armed(peer, receiver, buf, len, &kindex, &kick);
	kb->recover_armed = 0;
	if (__rpal_svc.have_pku)
		__rpal_wrpkru(kb->inner_pkru);
	if (ret)
		return ret;
	t->stats.sends++;
	if (kick && !owe_kick(t, peer->id.id, kindex - 1))
		__rpal_wake(peer->id.id, kindex - 1);
	return 0;
}

VIS int rpal_send(rpal_peer_t *peer, uint32_t receiver, const void *buf,
		  size_t len)
{
	struct __rpal_thread *t = __rpal_self;

	if (!t)
		return -EPERM;
	if (!peer || (!buf && len))
		return -EINVAL;
	if (receiver >= RPAL_MAX_RTHREADS)
		return -ENOENT;
	if (len > RPAL_QUEUE_MAX_MSG)
		return -EMSGSIZE;
	if ((atomic_load(&t->tcb->state) & RPAL_TCB_STATE_MASK) ==
	    RPAL_TCB_CALL)
		return send_borrowed(t, peer, receiver, buf, (uint32_t)len);
	return send_own(t, peer, receiver, buf, (uint32_t)len);
}

VIS int rpal_read_caller(void *dst, const void *src, size_t len)
{
	struct __rpal_thread *t = __rpal_self;
	struct __rpal_kblock *kb, *ckb;
	struct __rpal_tcb *tcb;
	uint64_t a = (uintptr_t)src;

	if (!t)
		return -EPERM;
	tcb = t->tcb;
	if (state_of(tcb) != RPAL_TCB_CALL)
		return -EPERM;
	if (!len)
		return 0;
	if (!__rpal_in_slot(tcb->caller_base, a) ||
	    len > RPAL_SLOT_SIZE - (a - tcb->caller_base))
		return -EFAULT;
	kb = t->kb;
	ckb = (struct __rpal_kblock *)(uintptr_t)tcb->caller_kblock;
	kb->inner_pkru = __rpal_svc.have_pku ? __rpal_rdpkru() : 0;
	/*
	 * A fault reaches the caller's handler (this is the caller's kernel
	 * thread): the inner point in its kblock brings us back. If the
	 * caller dies meanwhile, our own thread resumes the context (a
	 * rescue) and the fault repeats under our own handler: our kblock.
	 */
	if (__rpal_ctx_save(&kb->inner_ctx)) {
		ckb->inner_armed = 0;
		kb->inner_armed = 0;
		return -EFAULT;
	}
	ckb->inner_ctx = kb->inner_ctx;
	ckb->inner_pkru = kb->inner_pkru;
	ckb->inner_armed = 1;
	kb->inner_armed = 1;
	if (__rpal_svc.have_pku)
		__rpal_wrpkru(
			__rpal_pkru_open(kb->inner_pkru, tcb->caller_pkey));
	memcpy(dst, src, len);
	if (__rpal_svc.have_pku)
		__rpal_wrpkru(kb->inner_pkru);
	ckb->inner_armed = 0;
	kb->inner_armed = 0;
	return 0;
}
