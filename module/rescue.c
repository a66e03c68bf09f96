// SPDX-License-Identifier: GPL-2.0-only
/*
 * The context a caller thread was running when it died in an RPAL call.
 *
 * During a call the caller's thread runs the callee's saved user context;
 * if the caller's process is killed then, that context lives only in the
 * dying thread's registers. Before they go, the module copies them into
 * the callee thread's rescue area (struct rpal_rescue, in the callee's
 * slot); the callee's own thread resumes them and finishes the work as
 * if it had run it itself. Without this the callee's thread would have no
 * valid context left: its stack has moved on since it was saved.
 *
 * Hook: exit_signals(tsk) (kernel/signal.c), which do_exit() calls with
 * tsk == current before exit_mm(), on 6.1 and 6.12: the mm, the user
 * registers (task_pt_regs()) and the FPU state are all still there, and
 * every thread of a killed process passes through it. The callback is
 * atomic (ftrace disables preemption), so user memory is read and written
 * with the _nofault helpers: a page that is not present makes the rescue
 * fail, never sleep. Protection keys are opened around those accesses.
 */
#define pr_fmt(fmt) "rpal: " fmt

#include <linux/percpu.h>
#include <linux/sched/task_stack.h>
#include <linux/uaccess.h>
#include <asm/fpu/api.h>
#include <asm/fpu/types.h>
#include <asm/fpu/xcr.h>
#include <asm/pkru.h>
#include <asm/sigcontext.h>

#include "internal.h"

/* Where the extended state image starts in a rescue area. */
#define RPAL_RESCUE_XOFF 256
/* The components a rescue carries: x87, SSE, AVX, AVX-512. */
#define RPAL_RESCUE_XMASK                                               \
	(XFEATURE_MASK_FP | XFEATURE_MASK_SSE | XFEATURE_MASK_YMM |     \
	 XFEATURE_MASK_OPMASK | XFEATURE_MASK_ZMM_Hi256 |               \
	 XFEATURE_MASK_Hi16_ZMM)
#define RPAL_XSAVE_HDR 512		/* legacy area; header follows */
#define RPAL_XSAVE_EXT 576		/* first extended component */
#define RPAL_RESCUE_BUF 4096
#define RPAL_XCOMP_MAX 32
#define RPAL_UC_MCONTEXT 40		/* offsetof(ucontext_t, uc_mcontext) */

/* XSAVE components: size, standard offset, 64-byte alignment (CPUID 0xD). */
static struct {
	u32 size, offset;
	bool align64;
} rpal_xcomp[RPAL_XCOMP_MAX] __ro_after_init;
static u64 rpal_xmask __ro_after_init;	/* RPAL_RESCUE_XMASK & XCR0 */
static u32 rpal_xsize __ro_after_init;	/* standard image of rpal_xmask */
static void __percpu *rpal_rescue_buf;

static void rpal_xcomp_init(void)
{
	u32 eax, ebx, ecx, edx, i;

	rpal_xsize = 512;
	if (!cpu_feature_enabled(X86_FEATURE_XSAVE))
		return;
	rpal_xmask = RPAL_RESCUE_XMASK & xgetbv(XCR_XFEATURE_ENABLED_MASK);
	rpal_xsize = RPAL_XSAVE_EXT;
	for (i = 2; i < RPAL_XCOMP_MAX; i++) {
		cpuid_count(0xd, i, &eax, &ebx, &ecx, &edx);
		rpal_xcomp[i].size = eax;
		rpal_xcomp[i].offset = ebx;
		rpal_xcomp[i].align64 = ecx & 2;
		if ((rpal_xmask & BIT_ULL(i)) &&
		    ebx + eax > rpal_xsize)
			rpal_xsize = ebx + eax;
	}
	if (rpal_xsize > RPAL_RESCUE_BUF) {
		pr_warn("extended state of %u bytes: rescues keep SSE only\n",
			rpal_xsize);
		rpal_xmask &= XFEATURE_MASK_FP | XFEATURE_MASK_SSE;
		rpal_xsize = RPAL_XSAVE_EXT;
	}
}

/*
 * The kernel's XSAVE image @src (standard, or compacted when XSAVES is in
 * use) as a standard image of rpal_xmask components in @dst, which the
 * runtime can XRSTOR in user mode. Returns the components present.
 */
static u64 rpal_xstate_to_standard(u8 *dst, const struct xregs_state *src)
{
	u64 xcomp = src->header.xcomp_bv, present;
	struct xstate_header *hdr = (struct xstate_header *)(dst + 512);
	const u8 *s = (const u8 *)src;
	u32 off = RPAL_XSAVE_EXT, i;

	present = src->header.xfeatures & rpal_xmask;
	memset(dst, 0, rpal_xsize);
	memcpy(dst, s, 512);
	hdr->xfeatures = present;
	if (!(xcomp & XCOMP_BV_COMPACTED_FORMAT)) {
		for (i = 2; i < RPAL_XCOMP_MAX; i++)
			if (present & BIT_ULL(i))
				memcpy(dst + rpal_xcomp[i].offset,
				       s + rpal_xcomp[i].offset,
				       rpal_xcomp[i].size);
		return present;
	}
	/* Compacted: components in bit order, packed, some 64-aligned. */
	for (i = 2; i < RPAL_XCOMP_MAX; i++) {
		if (!(xcomp & BIT_ULL(i)))
			continue;
		if (rpal_xcomp[i].align64)
			off = ALIGN(off, 64);
		if (present & BIT_ULL(i))
			memcpy(dst + rpal_xcomp[i].offset, s + off,
			       rpal_xcomp[i].size);
		off += rpal_xcomp[i].size;
	}
	return present;
}

/* The dying task's own extended state, into @buf. */
static void rpal_rescue_fpu_task(u8 *buf, struct rpal_rescue *r)
{
	struct fpstate *fps;

	/* Puts live user registers into fpstate (if they are live). */
	kernel_fpu_begin_mask(0);
	fps = current->thread.fpu.fpstate;
	if (cpu_feature_enabled(X86_FEATURE_XSAVE)) {
		r->xfeatures = rpal_xstate_to_standard(buf, &fps->regs.xsave);
		r->xsave_size = rpal_xsize;
		r->format = RPAL_RESCUE_FMT_XSAVE;
	} else {
		memcpy(buf, &fps->regs.fxsave, 512);
		r->xfeatures = XFEATURE_MASK_FP | XFEATURE_MASK_SSE;
		r->xsave_size = 512;
		r->format = RPAL_RESCUE_FMT_FXSAVE;
	}
	kernel_fpu_end();
}

/* The extended state a signal frame saved (user memory at @fp), into @buf. */
static int rpal_rescue_fpu_frame(u8 *buf, u64 fp, struct rpal_rescue *r)
{
	struct _fpx_sw_bytes sw;
	struct xstate_header *hdr = (struct xstate_header *)(buf + 512);

	if (!fp)
		return -EFAULT;
	if (copy_from_user_nofault(buf, (void __user *)fp, 512))
		return -EFAULT;
	memcpy(&sw, buf + 464, sizeof(sw));
	if (sw.magic1 != FP_XSTATE_MAGIC1 || !rpal_xmask) {
		r->xfeatures = XFEATURE_MASK_FP | XFEATURE_MASK_SSE;
		r->xsave_size = 512;
		r->format = RPAL_RESCUE_FMT_FXSAVE;
		return 0;
	}
	/* A signal frame's image is standard; take our components. */
	if (sw.xstate_size < rpal_xsize ||
	    copy_from_user_nofault(buf, (void __user *)fp, rpal_xsize))
		return -EFAULT;
	hdr->xfeatures &= rpal_xmask;
	hdr->xcomp_bv = 0;
	memset(hdr->reserved, 0, sizeof(hdr->reserved));
	r->xfeatures = hdr->xfeatures;
	r->xsave_size = rpal_xsize;
	r->format = RPAL_RESCUE_FMT_XSAVE;
	return 0;
}

static void rpal_rescue_regs_pt(struct rpal_rescue *r, struct pt_regs *p)
{
	r->regs[RPAL_RESCUE_RAX] = p->ax;
	r->regs[RPAL_RESCUE_RBX] = p->bx;
	r->regs[RPAL_RESCUE_RCX] = p->cx;
	r->regs[RPAL_RESCUE_RDX] = p->dx;
	r->regs[RPAL_RESCUE_RSI] = p->si;
	r->regs[RPAL_RESCUE_RDI] = p->di;
	r->regs[RPAL_RESCUE_RBP] = p->bp;
	r->regs[RPAL_RESCUE_RSP] = p->sp;
	r->regs[RPAL_RESCUE_R8] = p->r8;
	r->regs[RPAL_RESCUE_R9] = p->r9;
	r->regs[RPAL_RESCUE_R10] = p->r10;
	r->regs[RPAL_RESCUE_R11] = p->r11;
	r->regs[RPAL_RESCUE_R12] = p->r12;
	r->regs[RPAL_RESCUE_R13] = p->r13;
	r->regs[RPAL_RESCUE_R14] = p->r14;
	r->regs[RPAL_RESCUE_R15] = p->r15;
	r->regs[RPAL_RESCUE_RIP] = p->ip;
	r->regs[RPAL_RESCUE_RFLAGS] = p->flags;
}

static void rpal_rescue_regs_sc(struct rpal_rescue *r,
				const struct sigcontext_64 *sc)
{
	r->regs[RPAL_RESCUE_RAX] = sc->ax;
	r->regs[RPAL_RESCUE_RBX] = sc->bx;
	r->regs[RPAL_RESCUE_RCX] = sc->cx;
	r->regs[RPAL_RESCUE_RDX] = sc->dx;
	r->regs[RPAL_RESCUE_RSI] = sc->si;
	r->regs[RPAL_RESCUE_RDI] = sc->di;
	r->regs[RPAL_RESCUE_RBP] = sc->bp;
	r->regs[RPAL_RESCUE_RSP] = sc->sp;
	r->regs[RPAL_RESCUE_R8] = sc->r8;
	r->regs[RPAL_RESCUE_R9] = sc->r9;
	r->regs[RPAL_RESCUE_R10] = sc->r10;
	r->regs[RPAL_RESCUE_R11] = sc->r11;
	r->regs[RPAL_RESCUE_R12] = sc->r12;
	r->regs[RPAL_RESCUE_R13] = sc->r13;
	r->regs[RPAL_RESCUE_R14] = sc->r14;
	r->regs[RPAL_RESCUE_R15] = sc->r15;
	r->regs[RPAL_RESCUE_RIP] = sc->ip;
	r->regs[RPAL_RESCUE_RFLAGS] = sc->flags;
}

/*
 * @svc's thread @th dies in a call on @cth of @callee (RCU held, keys
 * open): take the context and write it to @cth's rescue area.
 */
static void rpal_rescue_write(struct rpal_service *svc, struct rpal_kthread *th,
			      struct rpal_service *callee,
			      struct rpal_kthread *cth,
			      const struct rpal_call_record *rec)
{
	u8 *buf = this_cpu_ptr(rpal_rescue_buf);
	struct rpal_rescue r = { .size = sizeof(r) };
	struct sigcontext_64 sc;
	u64 state, ip, sp;
	u8 __user *dst = cth->rescue;
	u32 valid = RPAL_RESCUE_VALID;

	/* The callee's state word must name this caller. */
	if (copy_from_user_nofault(&state, cth->tcb, sizeof(state)))
		return;
	if ((state & RPAL_TCB_STATE_MASK) != RPAL_TCB_CALL ||
	    ((state >> RPAL_TCB_CALLER_SHIFT) & 0xffff) != svc->id ||
	    (u16)(state >> RPAL_TCB_GEN_SHIFT) != svc->gen)
		return;
	r.owner = state;
	if (rec->sigframe) {
		/* A handler of ours interrupted the call: its frame has it. */
		if (copy_from_user_nofault(&sc, (void __user *)(unsigned long)
					   (rec->sigframe + RPAL_UC_MCONTEXT),
					   sizeof(sc)))
			return;
		rpal_rescue_regs_sc(&r, &sc);
		if (rpal_rescue_fpu_frame(buf, sc.fpstate, &r))
			return;
	} else {
		rpal_rescue_regs_pt(&r, task_pt_regs(current));
	}
	/*
	 * Only the callee's own code is the callee's context: in the caller's
	 * code (entering the call, or back on its own stack when leaving),
	 * the callee's saved context is still the valid one.
	 */
	ip = r.regs[RPAL_RESCUE_RIP];
	sp = r.regs[RPAL_RESCUE_RSP];
	if (ip < callee->base || ip >= callee->end || sp < callee->base ||
	    sp >= callee->end)
		return;
	if (!rec->sigframe)
		rpal_rescue_fpu_task(buf, &r);
	spin_lock(&cth->proxy_lock);
	if (cth->proxy.from == th && (cth->proxy.state == RPAL_PROXY_POSTED ||
				      cth->proxy.state == RPAL_PROXY_TAKEN)) {
		r.flags |= RPAL_RESCUE_PROXY;
		r.proxy_seq = cth->proxy.seq;
	}
	spin_unlock(&cth->proxy_lock);
	r.xsave_offset = RPAL_RESCUE_XOFF;
	if (copy_to_user_nofault(dst + RPAL_RESCUE_XOFF, buf, r.xsave_size) ||
	    copy_to_user_nofault(dst, &r, sizeof(r)))
		return;
	/* Complete before valid: x86 keeps the order of these stores. */
	valid |= r.flags;
	copy_to_user_nofault(dst + offsetof(struct rpal_rescue, flags), &valid,
			     sizeof(valid));
}

/* exit_signals(tsk): tsk == current, before the mm goes. */
static void rpal_rescue_cb(unsigned long ip, unsigned long pip,
			   struct ftrace_ops *op, struct ftrace_regs *fregs)
{
	struct rpal_service *svc, *callee;
	struct rpal_kthread *th, *cth;
	struct rpal_call_record rec;
	u32 pkru = 0;

	rcu_read_lock();
	th = rpal_kthread_in_call_rcu(&svc);
	if (!th)
		goto out;
	if (copy_from_user_nofault(&rec, th->record, sizeof(rec)) ||
	    rec.selector != RPAL_CALL_ACTIVE)
		goto out;
	callee = rpal_reachable_rcu(svc, rec.callee_id);
	if (!callee || callee == svc)
		goto out;
	cth = rpal_kthread_get_rcu(callee, rec.callee_index);
	if (!cth)
		goto out;
	if (cth->tcb == (u64 __user *)(unsigned long)rec.callee_tcb &&
	    cth->rescue) {
		if (cpu_feature_enabled(X86_FEATURE_OSPKE)) {
			pkru = read_pkru();
			write_pkru(0);
		}
		rpal_rescue_write(svc, th, callee, cth, &rec);
		if (cpu_feature_enabled(X86_FEATURE_OSPKE))
			write_pkru(pkru);
		/* Its thread is asleep; the caller's death wakes it later. */
	}
	rpal_kthread_put(cth);
out:
	rcu_read_unlock();
}

static struct rpal_hook rpal_rescue_hooks[] = {
	{ .name = "exit_signals", .func = rpal_rescue_cb },
};

int rpal_rescue_init(void)
{
	int ret;

	rpal_xcomp_init();
	rpal_rescue_buf = __alloc_percpu(RPAL_RESCUE_BUF, 64);
	if (!rpal_rescue_buf)
		return -ENOMEM;
	ret = rpal_hooks_register(rpal_rescue_hooks,
				  ARRAY_SIZE(rpal_rescue_hooks));
	if (ret)
		free_percpu(rpal_rescue_buf);
	return ret;
}

void rpal_rescue_exit(void)
{
	rpal_hooks_unregister(rpal_rescue_hooks,
			      ARRAY_SIZE(rpal_rescue_hooks));
	/* A callback still running on another CPU finishes first. */
	synchronize_rcu();
	free_percpu(rpal_rescue_buf);
}
