// SPDX-License-Identifier: MIT
/*
 * Fibers, the C half: preparing a fresh context for fiber.S, and the last
 * stop of a fiber function that returned.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fiber.h"

/* MXCSR bits 0-5: sticky exception flags, not part of the inherited mode. */
#define MXCSR_FLAGS 0x3fu

int __rpal_fiber_make(struct __rpal_fiber_ctx *ctx, void *stack_base,
		      size_t stack_size, __rpal_fiber_fn fn)
{
	uintptr_t base = (uintptr_t)stack_base;
	uint16_t fpucw;

	if (!ctx || !stack_base || !fn || stack_size < RPAL_FIBER_STACK_MIN ||
	    base + stack_size < base)
		return -EINVAL;

	memset(ctx, 0, sizeof(*ctx));
	/* The trampoline aligns it again; nothing lives at or above it. */
	ctx->rsp = (base + stack_size) & ~(uintptr_t)15;
	ctx->rip = (uintptr_t)__rpal_fiber_entry;
	ctx->r12 = (uintptr_t)fn;
	ctx->mxcsr = __builtin_ia32_stmxcsr() & ~MXCSR_FLAGS;
	__asm__("fnstcw %0" : "=m"(fpucw));
	ctx->fpucw = fpucw;
	return 0;
}

_Noreturn void __rpal_fiber_returned(__rpal_fiber_fn fn)
{
	static const char head[] = "rpal: fiber function 0x";
	static const char tail[] = " returned; a fiber must switch away\n";
	char msg[sizeof(head) + 16 + sizeof(tail)];
	uintptr_t v = (uintptr_t)fn;
	size_t n = sizeof(head) - 1;

	/* No stdio: the fiber's stack may be small and its state unknown. */
	memcpy(msg, head, n);
	for (int shift = 60; shift >= 0; shift -= 4)
		msg[n++] = "0123456789abcdef"[(v >> shift) & 0xf];
	memcpy(msg + n, tail, sizeof(tail) - 1);
	n += sizeof(tail) - 1;
	if (write(STDERR_FILENO, msg, n) < 0) {
		/* Nowhere to report it; abort anyway. */
	}
	abort();
}
