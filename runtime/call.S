/* SPDX-License-Identifier: MIT */
/*
 * The RPAL call in assembly: entering another service's saved context and
 * leaving it again (PKRU, fsbase, stack, dispatch selector, in the order
 * that keeps every memory access legal), a save/jump pair for recovery
 * points, resuming a rescued context, and a raw syscall.
 * docs/runtime-design.md has the protocol; layouts: fiber.h,
 * tcb_layout.h.
 */
#include "fiber.h"
#include "tcb_layout.h"

	.text

/* long __rpal_syscall6(long nr, long a, b, c, d, e, f): no errno. */
	.globl	__rpal_syscall6
	.hidden	__rpal_syscall6
	.type	__rpal_syscall6, @function
	.p2align 4
__rpal_syscall6:
	.cfi_startproc
	endbr64
	movq	%rdi, %rax
	movq	%rsi, %rdi
	movq	%rdx, %rsi
	movq	%rcx, %rdx
	movq	%r8, %r10
	movq	%r9, %r8
	movq	8(%rsp), %r9
	syscall
	ret
	.cfi_endproc
	.size	__rpal_syscall6, .-__rpal_syscall6

/* Save the callee-saved state of the caller into the fiber ctx at \c. */
.macro SAVE_CTX c
	movq	(%rsp), %rax
	leaq	8(%rsp), %r10
	movq	%r10, RPAL_FIBER_OFF_RSP(\c)
	movq	%rax, RPAL_FIBER_OFF_RIP(\c)
	movq	%rbx, RPAL_FIBER_OFF_RBX(\c)
	movq	%rbp, RPAL_FIBER_OFF_RBP(\c)
	movq	%r12, RPAL_FIBER_OFF_R12(\c)
	movq	%r13, RPAL_FIBER_OFF_R13(\c)
	movq	%r14, RPAL_FIBER_OFF_R14(\c)
	movq	%r15, RPAL_FIBER_OFF_R15(\c)
	stmxcsr	RPAL_FIBER_OFF_MXCSR(\c)
	fnstcw	RPAL_FIBER_OFF_FPUCW(\c)
.endm

/*
 * int __rpal_ctx_save(struct __rpal_fiber_ctx *ctx)		%rdi
 * Returns 0; later returns again, with __rpal_ctx_jump()'s value.
 */
	.globl	__rpal_ctx_save
	.hidden	__rpal_ctx_save
	.type	__rpal_ctx_save, @function
	.p2align 4
__rpal_ctx_save:
	.cfi_startproc
	endbr64
	SAVE_CTX %rdi
	xorl	%eax, %eax
	ret
	.cfi_endproc
	.size	__rpal_ctx_save, .-__rpal_ctx_save

/*
 * _Noreturn void __rpal_ctx_jump(const struct __rpal_fiber_ctx *ctx,	%rdi
 *				  long val)				%rsi
 * Resume the context saved by __rpal_ctx_save(), which returns @val.
 */
	.globl	__rpal_ctx_jump
	.hidden	__rpal_ctx_jump
	.type	__rpal_ctx_jump, @function
	.p2align 4
__rpal_ctx_jump:
	.cfi_startproc
	endbr64
	ldmxcsr	RPAL_FIBER_OFF_MXCSR(%rdi)
	fldcw	RPAL_FIBER_OFF_FPUCW(%rdi)
	movq	RPAL_FIBER_OFF_RBX(%rdi), %rbx
	movq	RPAL_FIBER_OFF_RBP(%rdi), %rbp
	movq	RPAL_FIBER_OFF_R12(%rdi), %r12
	movq	RPAL_FIBER_OFF_R13(%rdi), %r13
	movq	RPAL_FIBER_OFF_R14(%rdi), %r14
	movq	RPAL_FIBER_OFF_R15(%rdi), %r15
	movq	RPAL_FIBER_OFF_RIP(%rdi), %rcx
	movq	RPAL_FIBER_OFF_RSP(%rdi), %rsp
	movq	%rsi, %rax
	jmpq	*%rcx
	.cfi_endproc
	.size	__rpal_ctx_jump, .-__rpal_ctx_jump

/*
 * long __rpal_call_enter(struct __rpal_tcb *r,		%rdi
 *			  uint64_t callee_fsbase,	%rsi
 *			  uint32_t callee_pkru,		%edx
 *			  volatile uint8_t *selector,	%rcx
 *			  uint32_t how)			%r8d: RPAL_CALL_*
 *
 * The sender owns @r (it won the CAS to CALL) and has the callee's key
 * open. Saves the sender's context into r->caller_ctx (the callee reads
 * it to return; the sender's memory will be closed by then), switches
 * fsbase to the callee's TLS, arms syscall dispatch, switches PKRU to the
 * callee's own, and resumes r->ctx, which sees RPAL_RESUME_CALL. Returns
 * 0 when the callee's __rpal_call_leave() comes back here.
 */
	.globl	__rpal_call_enter
	.hidden	__rpal_call_enter
	.type	__rpal_call_enter, @function
	.p2align 4
__rpal_call_enter:
	.cfi_startproc
	endbr64
	leaq	RPAL_TCB_OFF_CALLER_CTX(%rdi), %r11
	SAVE_CTX %r11
	/* Callee-saved registers are free now: keep the arguments there. */
	movq	%rdi, %r12
	movl	%edx, %r13d
	movq	%rcx, %r14
	movl	%r8d, %r15d
	testl	$RPAL_CALL_WRFSBASE, %r8d
	jz	1f
	wrfsbase %rsi
	jmp	2f
1:	/* No FSGSBASE: arch_prctl, before dispatch is armed. */
	movl	$RPAL_SYS_ARCH_PRCTL, %eax
	movl	$RPAL_ARCH_SET_FS, %edi
	syscall
2:	movb	$RPAL_SUD_BLOCK, (%r14)
	/* The callee's PKRU: its key open, ours closed. r->ctx stays readable. */
	testl	$RPAL_CALL_PKU, %r15d
	jz	3f
	movl	%r13d, %eax
	xorl	%ecx, %ecx
	xorl	%edx, %edx
	wrpkru
3:	ldmxcsr	RPAL_TCB_OFF_CTX + RPAL_FIBER_OFF_MXCSR(%r12)
	fldcw	RPAL_TCB_OFF_CTX + RPAL_FIBER_OFF_FPUCW(%r12)
	movq	RPAL_TCB_OFF_CTX + RPAL_FIBER_OFF_RBX(%r12), %rbx
	movq	RPAL_TCB_OFF_CTX + RPAL_FIBER_OFF_RBP(%r12), %rbp
	movq	RPAL_TCB_OFF_CTX + RPAL_FIBER_OFF_R13(%r12), %r13
	movq	RPAL_TCB_OFF_CTX + RPAL_FIBER_OFF_R14(%r12), %r14
	movq	RPAL_TCB_OFF_CTX + RPAL_FIBER_OFF_R15(%r12), %r15
	movq	RPAL_TCB_OFF_CTX + RPAL_FIBER_OFF_RIP(%r12), %rcx
	movq	RPAL_TCB_OFF_CTX + RPAL_FIBER_OFF_RSP(%r12), %rsp
	movq	RPAL_TCB_OFF_CTX + RPAL_FIBER_OFF_R12(%r12), %r12
	movl	$RPAL_RESUME_CALL, %eax
	jmpq	*%rcx
	.cfi_endproc
	.size	__rpal_call_enter, .-__rpal_call_enter

/*
 * long __rpal_call_leave(struct __rpal_tcb *r,		%rdi
 *			  uint32_t how)			%esi: RPAL_CALL_*
 *
 * Run by the callee's code (its rpal_epoll_wait()) while it is borrowed:
 * saves its context into r->ctx, goes back onto the sender's stack, and
 * only then publishes WAITING (with a full barrier), while the callee's
 * key is still open: from that moment another sender, or the thread
 * itself, may resume r->ctx, so r is never touched again. Then dispatch
 * is disarmed, fsbase and PKRU become the sender's, and the sender's
 * __rpal_call_enter() returns 0. Returns when r->ctx is resumed, with
 * RPAL_RESUME_CALL or RPAL_RESUME_OWN.
 */
	.globl	__rpal_call_leave
	.hidden	__rpal_call_leave
	.type	__rpal_call_leave, @function
	.p2align 4
__rpal_call_leave:
	.cfi_startproc
	endbr64
	leaq	RPAL_TCB_OFF_CTX(%rdi), %r11
	SAVE_CTX %r11
	/* Saved: if the caller dies from here on, ctx is the context. */
	movl	$0, RPAL_TCB_OFF_CTX_LIVE(%rdi)
	movl	RPAL_TCB_OFF_CALLER_PKRU(%rdi), %r8d
	movq	RPAL_TCB_OFF_CALLER_FSBASE(%rdi), %r9
	movq	RPAL_TCB_OFF_CALLER_SELECTOR(%rdi), %r10
	movl	%esi, %r11d
	ldmxcsr	RPAL_TCB_OFF_CALLER_CTX + RPAL_FIBER_OFF_MXCSR(%rdi)
	fldcw	RPAL_TCB_OFF_CALLER_CTX + RPAL_FIBER_OFF_FPUCW(%rdi)
	movq	RPAL_TCB_OFF_CALLER_CTX + RPAL_FIBER_OFF_RBX(%rdi), %rbx
	movq	RPAL_TCB_OFF_CALLER_CTX + RPAL_FIBER_OFF_RBP(%rdi), %rbp
	movq	RPAL_TCB_OFF_CALLER_CTX + RPAL_FIBER_OFF_R12(%rdi), %r12
	movq	RPAL_TCB_OFF_CALLER_CTX + RPAL_FIBER_OFF_R13(%rdi), %r13
	movq	RPAL_TCB_OFF_CALLER_CTX + RPAL_FIBER_OFF_R14(%rdi), %r14
	movq	RPAL_TCB_OFF_CALLER_CTX + RPAL_FIBER_OFF_R15(%rdi), %r15
	movq	RPAL_TCB_OFF_CALLER_CTX + RPAL_FIBER_OFF_RIP(%rdi), %rsi
	movq	RPAL_TCB_OFF_CALLER_CTX + RPAL_FIBER_OFF_RSP(%rdi), %rsp
	/* On the sender's stack: the context may be claimed again. */
	movl	$RPAL_TCB_WAITING_VALUE, %eax
	xchgq	%rax, RPAL_TCB_OFF_STATE(%rdi)
	movb	$RPAL_SUD_ALLOW, (%r10)
	testl	$RPAL_CALL_WRFSBASE, %r11d
	jz	1f
	wrfsbase %r9
	jmp	2f
1:	pushq	%rsi
	pushq	%r8
	pushq	%r11
	movq	%r9, %rsi
	movl	$RPAL_ARCH_SET_FS, %edi
	movl	$RPAL_SYS_ARCH_PRCTL, %eax
	syscall
	popq	%r11
	popq	%r8
	popq	%rsi
2:	testl	$RPAL_CALL_PKU, %r11d
	jz	3f
	movl	%r8d, %eax
	xorl	%ecx, %ecx
	xorl	%edx, %edx
	wrpkru
3:	xorl	%eax, %eax
	jmpq	*%rsi
	.cfi_endproc
	.size	__rpal_call_leave, .-__rpal_call_leave
	.globl	__rpal_call_leave_end
	.hidden	__rpal_call_leave_end
__rpal_call_leave_end:

/*
 * _Noreturn void __rpal_rescue_resume(const uint64_t *regs,	%rdi
 *				       const void *xsave,	%rsi
 *				       uint64_t rfbm,		%rdx
 *				       uint32_t format)		%ecx
 *
 * Resume a complete user context (struct rpal_rescue: every general
 * register, rflags, rip, and the extended state image at @xsave, which
 * is 64-aligned) on the calling thread, whose fsbase and PKRU already
 * are the context's own. rdi, rsi, rflags and rip travel on the target
 * stack below its red zone, which the context does not own; "ret $128"
 * then leaves rsp exactly at the context's.
 */
	.globl	__rpal_rescue_resume
	.hidden	__rpal_rescue_resume
	.type	__rpal_rescue_resume, @function
	.p2align 4
__rpal_rescue_resume:
	.cfi_startproc
	endbr64
	cmpl	$2, %ecx		/* RPAL_RESCUE_FMT_XSAVE */
	jne	1f
	movq	%rdx, %rax
	shrq	$32, %rdx
	xrstor64 (%rsi)
	jmp	2f
1:	cmpl	$1, %ecx		/* RPAL_RESCUE_FMT_FXSAVE */
	jne	2f
	fxrstor64 (%rsi)
2:	movq	RPAL_RR_RSP(%rdi), %rsi
	subq	$160, %rsi		/* 128 (red zone) + 4 words */
	movq	RPAL_RR_RDI(%rdi), %rax
	movq	%rax, 0(%rsi)
	movq	RPAL_RR_RSI(%rdi), %rax
	movq	%rax, 8(%rsi)
	movq	RPAL_RR_RFLAGS(%rdi), %rax
	movq	%rax, 16(%rsi)
	movq	RPAL_RR_RIP(%rdi), %rax
	movq	%rax, 24(%rsi)
	movq	RPAL_RR_RAX(%rdi), %rax
	movq	RPAL_RR_RBX(%rdi), %rbx
	movq	RPAL_RR_RCX(%rdi), %rcx
	movq	RPAL_RR_RDX(%rdi), %rdx
	movq	RPAL_RR_RBP(%rdi), %rbp
	movq	RPAL_RR_R8(%rdi), %r8
	movq	RPAL_RR_R9(%rdi), %r9
	movq	RPAL_RR_R10(%rdi), %r10
	movq	RPAL_RR_R11(%rdi), %r11
	movq	RPAL_RR_R12(%rdi), %r12
	movq	RPAL_RR_R13(%rdi), %r13
	movq	RPAL_RR_R14(%rdi), %r14
	movq	RPAL_RR_R15(%rdi), %r15
	movq	%rsi, %rsp
	popq	%rdi
	popq	%rsi
	popfq
	ret	$128
	.cfi_endproc
	.size	__rpal_rescue_resume, .-__rpal_rescue_resume

	.section .note.GNU-stack, "", @progbits
