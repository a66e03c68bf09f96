/* SPDX-License-Identifier: MIT */
/*
 * Byte offsets in struct __rpal_tcb (rt.h), for call.S. rt.h checks each
 * against the C layout with _Static_assert.
 */
#ifndef RPAL_RUNTIME_TCB_LAYOUT_H
#define RPAL_RUNTIME_TCB_LAYOUT_H

#define RPAL_TCB_OFF_STATE 0
#define RPAL_TCB_OFF_CTX 32 /* struct __rpal_fiber_ctx */
#define RPAL_TCB_OFF_FSBASE 104
#define RPAL_TCB_OFF_PKRU 112
#define RPAL_TCB_OFF_CTX_LIVE 116
#define RPAL_TCB_OFF_CALLER_CTX 120 /* struct __rpal_fiber_ctx */
#define RPAL_TCB_OFF_CALLER_FSBASE 192
#define RPAL_TCB_OFF_CALLER_PKRU 200
#define RPAL_TCB_OFF_CALLER_SELECTOR 216

/* Values call.S stores or returns. */
#define RPAL_TCB_WAITING_VALUE 2 /* uapi RPAL_TCB_WAITING */
#define RPAL_SUD_BLOCK 1	 /* RPAL_CALL_ACTIVE */
#define RPAL_SUD_ALLOW 0	 /* RPAL_CALL_IDLE */
#define RPAL_RESUME_CALL 1	 /* a sender resumed the context */
#define RPAL_RESUME_OWN 2	 /* the thread's own wait ended */
#define RPAL_RESUME_REWAIT 3	 /* a rescue: wait again */

/* How __rpal_call_enter/leave switch (the CPU's features). */
#define RPAL_CALL_WRFSBASE 1 /* else arch_prctl(ARCH_SET_FS) */
#define RPAL_CALL_PKU 2	     /* else PKRU is left alone */

#define RPAL_SYS_ARCH_PRCTL 158
#define RPAL_ARCH_SET_FS 0x1002

/* struct rpal_rescue.regs indexes (uapi enum rpal_rescue_reg) * 8. */
#define RPAL_RR_RAX 0
#define RPAL_RR_RBX 8
#define RPAL_RR_RCX 16
#define RPAL_RR_RDX 24
#define RPAL_RR_RSI 32
#define RPAL_RR_RDI 40
#define RPAL_RR_RBP 48
#define RPAL_RR_RSP 56
#define RPAL_RR_R8 64
#define RPAL_RR_R9 72
#define RPAL_RR_R10 80
#define RPAL_RR_R11 88
#define RPAL_RR_R12 96
#define RPAL_RR_R13 104
#define RPAL_RR_R14 112
#define RPAL_RR_R15 120
#define RPAL_RR_RIP 128
#define RPAL_RR_RFLAGS 136

#endif /* RPAL_RUNTIME_TCB_LAYOUT_H */
