/* SPDX-License-Identifier: MIT */
/*
 * The user-mode context switch (x86-64 SysV, AT&T syntax): save the
 * callee-saved state of one context, restore another's, and the trampoline
 * a fresh context starts in. Layout and rules: fiber.h.
 */
#include "fiber.h"

	.text

/*
 * void *__rpal_fiber_switch(struct __rpal_fiber_ctx *from,	%rdi
 *			     struct __rpal_fiber_ctx *to,	%rsi
 *			     void *arg)				%rdx
 *
 * The return address goes to from->rip and from->rsp gets the stack
 * pointer as it is after a return, so nothing of ours stays below rsp.
 * All of @from is written before any of @to is read (from == to works).
 * The resumed context sees @arg in %rax: the return value of its own
 * switch, or, for a fresh context, what the trampoline hands to fn.
 */
	.globl	__rpal_fiber_switch
	.hidden	__rpal_fiber_switch
	.type	__rpal_fiber_switch, @function
	.p2align 4
__rpal_fiber_switch:
	.cfi_startproc
	endbr64
	movq	(%rsp), %rcx
	leaq	8(%rsp), %r8
	movq	%r8, RPAL_FIBER_OFF_RSP(%rdi)
	movq	%rcx, RPAL_FIBER_OFF_RIP(%rdi)
	movq	%rbx, RPAL_FIBER_OFF_RBX(%rdi)
	movq	%rbp, RPAL_FIBER_OFF_RBP(%rdi)
	movq	%r12, RPAL_FIBER_OFF_R12(%rdi)
	movq	%r13, RPAL_FIBER_OFF_R13(%rdi)
	movq	%r14, RPAL_FIBER_OFF_R14(%rdi)
	movq	%r15, RPAL_FIBER_OFF_R15(%rdi)
	stmxcsr	RPAL_FIBER_OFF_MXCSR(%rdi)
	fnstcw	RPAL_FIBER_OFF_FPUCW(%rdi)

	ldmxcsr	RPAL_FIBER_OFF_MXCSR(%rsi)
	fldcw	RPAL_FIBER_OFF_FPUCW(%rsi)
	movq	RPAL_FIBER_OFF_RBX(%rsi), %rbx
	movq	RPAL_FIBER_OFF_RBP(%rsi), %rbp
	movq	RPAL_FIBER_OFF_R12(%rsi), %r12
	movq	RPAL_FIBER_OFF_R13(%rsi), %r13
	movq	RPAL_FIBER_OFF_R14(%rsi), %r14
	movq	RPAL_FIBER_OFF_R15(%rsi), %r15
	movq	RPAL_FIBER_OFF_RIP(%rsi), %rcx
	/* One instruction moves us from one valid stack to the other. */
	movq	RPAL_FIBER_OFF_RSP(%rsi), %rsp
	/* From here an unwinder sees the resumed context: its caller's
	 * frame at rsp, its resume address in rcx. */
	.cfi_def_cfa %rsp, 0
	.cfi_register %rip, %rcx
	movq	%rdx, %rax
	jmpq	*%rcx
	.cfi_endproc
	.size	__rpal_fiber_switch, .-__rpal_fiber_switch

/*
 * First code of a fresh context, reached by the jump above with the state
 * __rpal_fiber_make() prepared: r12 = fn, rbp = 0 (ends frame-pointer
 * walks), rsp = the top of the fiber's stack; %rax = the switch's arg.
 * The return address column is undefined, so DWARF unwinders stop here.
 */
	.globl	__rpal_fiber_entry
	.hidden	__rpal_fiber_entry
	.type	__rpal_fiber_entry, @function
	.p2align 4
__rpal_fiber_entry:
	.cfi_startproc
	.cfi_undefined %rip
	endbr64
	andq	$-16, %rsp		/* 16-byte aligned at the call */
	movq	%rax, %rdi
	callq	*%r12
	/* fn returned: there is nothing to return to. */
	movq	%r12, %rdi
	callq	__rpal_fiber_returned
	ud2
	.cfi_endproc
	.size	__rpal_fiber_entry, .-__rpal_fiber_entry

	.section .note.GNU-stack, "", @progbits
