/* SPDX-License-Identifier: MIT */
/*
 * Fibers: the saved-context layout shared by fiber.S and C, and the
 * internal API of the user-mode context switch (x86-64 SysV only).
 *
 * A context holds what the SysV ABI calls callee-saved: rbx, rbp, r12-r15,
 * the stack pointer and the resume address, plus MXCSR and the x87 control
 * word (their control bits are callee-saved too; MXCSR is kept whole, so
 * its sticky exception flags travel with the fiber). Everything else is
 * dead across a call and is not saved: rax-r11 (rax carries the switch's
 * argument), rflags, the xmm/ymm/zmm and x87 data registers, the x87
 * status word.
 *
 * Not switched, on purpose (the RPAL call path handles what it needs):
 *  - fsbase/gsbase: a fiber runs with the TLS of the thread that switched
 *    into it (errno, __thread, the libc's own state). The call path sets
 *    fsbase with wrfsbase when the CPU and kernel offer FSGSBASE.
 *  - PKRU: the call path opens and closes pkeys with wrpkru around its jump.
 *  - The signal mask and the alternate signal stack stay the thread's (a
 *    switch must not cost a syscall). A signal that arrives while a fiber
 *    runs is handled on the fiber's stack, below its red zone: size fiber
 *    stacks for a signal frame (getauxval(AT_MINSIGSTKSZ)) on top of their
 *    own use.
 *  - CET: the shadow stack is not switched, and a resume is an indirect
 *    jump to a return address, which has no ENDBR. fiber.S carries no
 *    .note.gnu.property, so a program linking it is not marked IBT/SHSTK
 *    compatible and the loader leaves both off.
 *
 * Red zone and stack rules: the switch stores nothing below rsp. The saved
 * rsp is the caller's stack pointer as it will be after the switch
 * "returns" (the return address is kept in the rip slot, not on the
 * stack), so every byte below a saved rsp is dead: the caller's red zone
 * is not live across a call. A signal frame, or anything else, may use it.
 * rsp always points into a valid stack, also between the two halves of a
 * switch.
 */
#ifndef RPAL_RUNTIME_FIBER_H
#define RPAL_RUNTIME_FIBER_H

/* Byte offsets in struct __rpal_fiber_ctx, for fiber.S. */
#define RPAL_FIBER_OFF_RSP 0x00
#define RPAL_FIBER_OFF_RIP 0x08
#define RPAL_FIBER_OFF_RBX 0x10
#define RPAL_FIBER_OFF_RBP 0x18
#define RPAL_FIBER_OFF_R12 0x20
#define RPAL_FIBER_OFF_R13 0x28
#define RPAL_FIBER_OFF_R14 0x30
#define RPAL_FIBER_OFF_R15 0x38
#define RPAL_FIBER_OFF_MXCSR 0x40 /* 32 bits */
#define RPAL_FIBER_OFF_FPUCW 0x44 /* 16 bits */
#define RPAL_FIBER_CTX_SIZE 0x48

/* __rpal_fiber_make() refuses smaller stacks (they cannot hold a call). */
#define RPAL_FIBER_STACK_MIN 256

#ifndef __ASSEMBLER__

#include <stddef.h>
#include <stdint.h>

/*
 * Saved state of a context that is not running. A context that switched
 * away is resumed by switching to it; a fresh one (__rpal_fiber_make())
 * starts its function. Resuming a context that is running, or one whose
 * function has moved on since it was saved, is undefined.
 */
struct __rpal_fiber_ctx {
	uint64_t rsp;
	uint64_t rip;
	uint64_t rbx;
	uint64_t rbp;
	uint64_t r12; /* fresh context: the fiber function */
	uint64_t r13;
	uint64_t r14;
	uint64_t r15;
	uint32_t mxcsr;
	uint16_t fpucw;
	uint16_t pad;
};

_Static_assert(offsetof(struct __rpal_fiber_ctx, rsp) == RPAL_FIBER_OFF_RSP,
	       "fiber ctx: rsp");
_Static_assert(offsetof(struct __rpal_fiber_ctx, rip) == RPAL_FIBER_OFF_RIP,
	       "fiber ctx: rip");
_Static_assert(offsetof(struct __rpal_fiber_ctx, rbx) == RPAL_FIBER_OFF_RBX,
	       "fiber ctx: rbx");
_Static_assert(offsetof(struct __rpal_fiber_ctx, rbp) == RPAL_FIBER_OFF_RBP,
	       "fiber ctx: rbp");
_Static_assert(offsetof(struct __rpal_fiber_ctx, r12) == RPAL_FIBER_OFF_R12,
	       "fiber ctx: r12");
_Static_assert(offsetof(struct __rpal_fiber_ctx, r13) == RPAL_FIBER_OFF_R13,
	       "fiber ctx: r13");
_Static_assert(offsetof(struct __rpal_fiber_ctx, r14) == RPAL_FIBER_OFF_R14,
	       "fiber ctx: r14");
_Static_assert(offsetof(struct __rpal_fiber_ctx, r15) == RPAL_FIBER_OFF_R15,
	       "fiber ctx: r15");
_Static_assert(offsetof(struct __rpal_fiber_ctx, mxcsr) == RPAL_FIBER_OFF_MXCSR,
	       "fiber ctx: mxcsr");
_Static_assert(offsetof(struct __rpal_fiber_ctx, fpucw) == RPAL_FIBER_OFF_FPUCW,
	       "fiber ctx: fpucw");
_Static_assert(sizeof(struct __rpal_fiber_ctx) == RPAL_FIBER_CTX_SIZE,
	       "fiber ctx: size");

/* A fiber function. It must never return: it ends by switching away. */
typedef void (*__rpal_fiber_fn)(void *arg);

/*
 * Saves the running context into @from and resumes @to. Returns, once
 * something switches back to @from, the @arg that switch passed. A fresh
 * @to starts with fn(@arg). @from == @to is allowed and returns @arg.
 */
void *__rpal_fiber_switch(struct __rpal_fiber_ctx *from,
			  struct __rpal_fiber_ctx *to, void *arg);

/*
 * Prepares @ctx to run @fn on the stack [@stack_base, @stack_base +
 * @stack_size) at its first switch. The fiber starts with the caller's
 * MXCSR (exception flags cleared) and x87 control word, as a new thread
 * inherits its creator's. Returns 0, or -EINVAL for a NULL pointer, a
 * stack smaller than RPAL_FIBER_STACK_MIN or one that wraps around.
 */
int __rpal_fiber_make(struct __rpal_fiber_ctx *ctx, void *stack_base,
		      size_t stack_size, __rpal_fiber_fn fn);

/* fiber.S: where a fresh context starts; never called directly. */
void __rpal_fiber_entry(void);

/* Called by __rpal_fiber_entry if a fiber function returns: aborts. */
_Noreturn void __rpal_fiber_returned(__rpal_fiber_fn fn);

#endif /* !__ASSEMBLER__ */
#endif /* RPAL_RUNTIME_FIBER_H */
