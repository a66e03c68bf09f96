// SPDX-License-Identifier: MIT
/*
 * Signals in an rpal process. Every handler runs on the thread's key-0
 * signal stack and opens the thread's own key first (the kernel starts
 * handlers with only key 0 open).
 *
 *  - A signal for a thread that is running another service's code (a
 *    call: stack, TLS and key are the callee's) is not handled there: its
 *    siginfo is kept and it is raised again when the call is over.
 *  - Faults (SIGSEGV, SIGBUS, SIGFPE, SIGILL) during a send or a call are
 *    recovery points: a fault on a peer that went away ends the send with
 *    -ECONNRESET; a fault of the callee's own code hands the context back
 *    to the callee's thread (a rescue), which repeats the faulting access
 *    itself and so gets the signal its own code earned, in its own
 *    process. Other faults go to the program's handler or kill as usual.
 *
 * Handlers here touch no TLS (fsbase may be a peer's) and make raw
 * syscalls only.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "rt.h"

#define VIS __attribute__((visibility("default")))

#define RPAL_NSIG 65
#ifndef FP_XSTATE_MAGIC1
#define FP_XSTATE_MAGIC1 0x46505853U
#endif

/* What the program asked for, per signal (in .bss: key 0). */
static struct sigaction user_act[RPAL_NSIG];
static bool signals_ready;

static bool is_fault(int sig)
{
	return sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE ||
	       sig == SIGILL;
}

static bool is_handler(const struct sigaction *a)
{
	return (a->sa_flags & SA_SIGINFO) ||
	       (a->sa_handler != SIG_DFL && a->sa_handler != SIG_IGN);
}

static void set_default(int sig)
{
	struct sigaction dfl;

	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigaction(sig, &dfl, NULL);
}

/* The program's handler, as the kernel would have run it, keys opened. */
static void run_user(struct __rpal_kblock *kb, int sig, siginfo_t *si, void *uc)
{
	struct sigaction *a = &user_act[sig];
	struct __rpal_service *s = &__rpal_svc;

	if (s->have_pku)
		__rpal_wrpkru(
			kb ? kb->pkru_own
			   : __rpal_pkru_open(__rpal_rdpkru(), s->reg.pkey));
	if (a->sa_flags & SA_SIGINFO)
		a->sa_sigaction(sig, si, uc);
	else
		a->sa_handler(sig);
	if (a->sa_flags & SA_RESETHAND) {
		a->sa_handler = SIG_DFL;
		a->sa_flags &= ~SA_SIGINFO;
	}
}

/* A fault that is none of ours: what the program would have had. */
static void chain_fault(struct __rpal_kblock *kb, int sig, siginfo_t *si,
			void *uc)
{
	if (is_handler(&user_act[sig])) {
		run_user(kb, sig, si, uc);
		return;
	}
	/* Default or ignored: the access repeats and the kernel decides. */
	set_default(sig);
	if (si->si_code <= 0)
		__rpal_syscall6(SYS_tgkill,
				__rpal_syscall6(SYS_getpid, 0, 0, 0, 0, 0, 0),
				__rpal_syscall6(SYS_gettid, 0, 0, 0, 0, 0, 0),
				sig, 0, 0, 0);
}

static _Noreturn void recover(struct __rpal_kblock *kb, int code, long how)
{
	kb->fault_code = code;
	kb->rec.selector = RPAL_CALL_IDLE;
	kb->rec.sigframe = 0;
	kb->recover_armed = 0;
	__rpal_set_fsbase(kb->own_fsbase);
	if (__rpal_svc.have_pku)
		__rpal_wrpkru(kb->pkru_own);
	__rpal_ctx_jump(&kb->recover_ctx, how);
}

/*
 * The callee's code faulted at @uc: give its thread the context (every
 * register and the extended state from the signal frame) to resume. A
 * fault here (the callee is gone) lands in the handler again, rescuing.
 */
static void rescue_fault(struct __rpal_kblock *kb, const ucontext_t *uc)
{
	static const int map[RPAL_RESCUE_NREGS] = {
		[RPAL_RESCUE_RAX] = REG_RAX, [RPAL_RESCUE_RBX] = REG_RBX,
		[RPAL_RESCUE_RCX] = REG_RCX, [RPAL_RESCUE_RDX] = REG_RDX,
		[RPAL_RESCUE_RSI] = REG_RSI, [RPAL_RESCUE_RDI] = REG_RDI,
		[RPAL_RESCUE_RBP] = REG_RBP, [RPAL_RESCUE_RSP] = REG_RSP,
		[RPAL_RESCUE_R8] = REG_R8,   [RPAL_RESCUE_R9] = REG_R9,
		[RPAL_RESCUE_R10] = REG_R10, [RPAL_RESCUE_R11] = REG_R11,
		[RPAL_RESCUE_R12] = REG_R12, [RPAL_RESCUE_R13] = REG_R13,
		[RPAL_RESCUE_R14] = REG_R14, [RPAL_RESCUE_R15] = REG_R15,
		[RPAL_RESCUE_RIP] = REG_RIP, [RPAL_RESCUE_RFLAGS] = REG_EFL,
	};
	struct __rpal_service *s = &__rpal_svc;
	struct rpal_rescue *r = kb->callee_rescue;
	const uint8_t *fp = (const uint8_t *)uc->uc_mcontext.fpregs;
	uint64_t word = __rpal_state_call(s->reg.id, s->reg.generation);
	uint32_t magic = 0, xsize = 0;
	uint64_t xfeatures = 0;

	if (fp) {
		memcpy(&magic, fp + 464, 4);
		memcpy(&xfeatures, fp + 472, 8);
		memcpy(&xsize, fp + 480, 4);
	}
	r->format = RPAL_RESCUE_FMT_NONE;
	r->xsave_size = 0;
	r->xfeatures = 0;
	if (fp && magic == FP_XSTATE_MAGIC1 && xsize >= 576 &&
	    xsize <= RPAL_RESCUE_SIZE - 256) {
		r->format = RPAL_RESCUE_FMT_XSAVE;
		r->xsave_size = xsize;
		r->xfeatures = xfeatures;
	} else if (fp) {
		r->format = RPAL_RESCUE_FMT_FXSAVE;
		r->xsave_size = 512;
		r->xfeatures = 3;
	}
	if (fp)
		memcpy((char *)r + 256, fp, r->xsave_size);
	for (int i = 0; i < RPAL_RESCUE_NREGS; i++)
		r->regs[i] = (uint64_t)uc->uc_mcontext.gregs[map[i]];
	r->size = sizeof(*r);
	r->owner = word;
	r->proxy_seq = 0;
	r->xsave_offset = 256;
	atomic_store_explicit((_Atomic uint32_t *)&r->flags, RPAL_RESCUE_VALID,
			      memory_order_release);
	if (atomic_compare_exchange_strong(&kb->callee_tcb->state, &word,
					   RPAL_TCB_RESCUE))
		__rpal_wake((uint32_t)kb->rec.callee_id, kb->callee_kindex);
}

static void fault_handler(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	struct __rpal_kblock *kb = __rpal_kblock_of(uc);
	uint64_t ip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
	long how = RPAL_RECOVER_RESET;

	if (kb && kb->rec.selector == RPAL_CALL_ACTIVE) {
		if (!kb->rec.sigframe)
			kb->rec.sigframe = (uintptr_t)uc;
		if (kb->inner_armed) {
			/* rpal_read_caller() in the callee's code. */
			kb->inner_armed = 0;
			kb->rec.sigframe = 0;
			if (__rpal_svc.have_pku)
				__rpal_wrpkru(kb->inner_pkru);
			__rpal_ctx_jump(&kb->inner_ctx, 1);
		}
		/* The call is over for us: our syscalls are ours again. */
		kb->rec.selector = RPAL_CALL_IDLE;
		if (si->si_code > 0 && !kb->rescuing &&
		    __rpal_in_slot(kb->callee_base, ip)) {
			kb->rescuing = 1;
			if (__rpal_svc.have_pku)
				__rpal_wrpkru(kb->pkru_send);
			rescue_fault(kb, uc);
			how = RPAL_RECOVER_HANDED_OFF;
		}
		kb->rescuing = 0;
		recover(kb, si->si_code, how);
	}
	if (kb && kb->recover_armed)
		recover(kb, si->si_code, how);
	if (kb && kb->inner_armed) {
		/* rpal_read_caller() in a context this thread took back. */
		kb->inner_armed = 0;
		if (__rpal_svc.have_pku)
			__rpal_wrpkru(kb->inner_pkru);
		__rpal_ctx_jump(&kb->inner_ctx, 1);
	}
	chain_fault(kb, sig, si, uc);
}

/* Every other handler the program installs runs through here. */
static void wrapper(int sig, siginfo_t *si, void *uc)
{
	struct __rpal_kblock *kb = __rpal_kblock_of(uc);

	if (kb && kb->rec.selector == RPAL_CALL_ACTIVE) {
		memcpy(&kb->pending_info[sig], si, sizeof(*si));
		atomic_fetch_or(&kb->pending_sigs, 1ULL << sig);
		return;
	}
	run_user(kb, sig, si, uc);
}

/* After a call: raise what was held, with its original siginfo. */
void __rpal_deliver_pending(struct __rpal_kblock *kb)
{
	uint64_t p = atomic_exchange(&kb->pending_sigs, 0);
	long pid, tid;

	if (!p)
		return;
	pid = __rpal_syscall6(SYS_getpid, 0, 0, 0, 0, 0, 0);
	tid = __rpal_syscall6(SYS_gettid, 0, 0, 0, 0, 0, 0);
	kb->thread->stats.deferred_sig += (uint64_t)__builtin_popcountll(p);
	for (int sig = 1; sig < RPAL_NSIG; sig++)
		if (p & (1ULL << sig))
			__rpal_syscall6(SYS_rt_tgsigqueueinfo, pid, tid, sig,
					(long)&kb->pending_info[sig], 0, 0);
}

static int install(int sig, const struct sigaction *user)
{
	struct sigaction a;

	memset(&a, 0, sizeof(a));
	if (is_fault(sig)) {
		/* Ours for good; the program's handler is chained. */
		a.sa_sigaction = fault_handler;
		a.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
		sigemptyset(&a.sa_mask);
	} else if (is_handler(user)) {
		a.sa_sigaction = wrapper;
		a.sa_flags = (user->sa_flags & ~SA_RESETHAND) | SA_SIGINFO |
			     SA_ONSTACK;
		a.sa_mask = user->sa_mask;
	} else {
		a = *user;
	}
	return sigaction(sig, &a, NULL) ? -errno : 0;
}

static bool reserved(int sig)
{
	/* SIGKILL, SIGSTOP, and glibc's own (cancellation, setxid). */
	return sig == SIGKILL || sig == SIGSTOP || (sig >= 32 && sig < 34);
}

int __rpal_signals_init(void)
{
	struct sigaction old;
	int ret;

	for (int sig = 1; sig < RPAL_NSIG; sig++) {
		if (reserved(sig) || sigaction(sig, NULL, &old))
			continue;
		user_act[sig] = old;
		if (!is_fault(sig) && !is_handler(&old))
			continue;
		ret = install(sig, &old);
		if (ret)
			return ret;
	}
	signals_ready = true;
	return 0;
}

VIS int rpal_sigaction(int sig, const struct sigaction *act,
		       struct sigaction *old)
{
	int ret;

	if (!signals_ready || sig <= 0 || sig >= RPAL_NSIG || reserved(sig))
		return sigaction(sig, act, old) ? -errno : 0;
	if (old)
		*old = user_act[sig];
	if (!act)
		return 0;
	ret = install(sig, act);
	if (!ret)
		user_act[sig] = *act;
	return ret;
}
