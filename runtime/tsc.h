/* SPDX-License-Identifier: MIT */
/*
 * Time on the call path: TSC stamps, the TSC's frequency, the clamp the
 * module applies to reported call time, and the per-thread accumulator
 * that batches call times until they are worth a report (see "Time
 * accounting" in docs/runtime-design.md).
 *
 * A call's time runs on the sender's kernel thread; the sender stamps the
 * switch into the callee and the switch back, adds the difference to its
 * accumulator, and reports the batch (RPAL_IOC_REPORT). The module
 * converts cycles with its own tsc_khz and clamps the claim to the CPU
 * time the thread actually ran, so nothing here is trusted by the kernel:
 * a wrong figure can only under-charge.
 */
#ifndef RPAL_RUNTIME_TSC_H
#define RPAL_RUNTIME_TSC_H

#include <stdbool.h>
#include <stdint.h>

/*
 * The TSC, read after every earlier instruction has completed.
 *
 * rdtsc alone may execute before the instructions preceding it, so the
 * stamp that closes a call could be taken while the call's last
 * instructions are still in flight (and the one that opens it while the
 * caller's are). lfence waits for all earlier instructions to complete
 * locally, which is what a stamp at a boundary needs (on AMD too: Linux
 * sets DE_CFG's LFENCE-serialising bit at boot and relies on it in its
 * own rdtsc_ordered(), which is this same pair). Not rdtscp: some CPUs
 * and hypervisors lack it (the development VM does), and it orders no
 * more than lfence does.
 * Nothing orders *later* instructions after the read; they may start a
 * few cycles early, which moves no stamp by more than the out-of-order
 * window: noise against a batch of 1,024 calls or 1 ms.
 *
 * Inline: it sits on every call's path, where a function call would cost
 * as much as the read.
 */
static inline uint64_t __rpal_tsc(void)
{
	uint32_t lo, hi;

	__asm__ __volatile__("lfence\n\trdtsc" : "=a"(lo), "=d"(hi)::"memory");
	return (uint64_t)hi << 32 | lo;
}

/*
 * Cycles from @start to @end; 0 if the TSC went backwards (a thread that
 * migrated to a CPU whose TSC lags), rather than nearly 2^64.
 */
static inline uint64_t __rpal_tsc_delta(uint64_t start, uint64_t end)
{
	return end > start ? end - start : 0;
}

/*
 * The TSC frequency in Hz, determined on first use and then cached: from
 * CPUID leaf 0x15 when it enumerates the crystal (exact), otherwise by
 * calibration against CLOCK_MONOTONIC_RAW over about 50 ms. Thread-safe:
 * threads racing on the first use may each measure, but all of them, and
 * every later caller, get the one value that was stored first. 0 if the
 * TSC cannot be measured (no such clock).
 */
uint64_t __rpal_tsc_hz(void);

/*
 * Measures the TSC frequency against CLOCK_MONOTONIC_RAW over about @ms
 * milliseconds (at least 1), every time it is called (not cached). Each
 * end of the interval is the bracket, among a few tries, in which a clock
 * read took the fewest cycles, so a preemption does not skew it. Returns
 * Hz, or 0 if the clock is unavailable.
 */
uint64_t __rpal_tsc_calibrate(unsigned int ms);

/*
 * @claimed_cycles at @tsc_hz in nanoseconds, rounded down, but never more
 * than @ran_ns, the CPU time the reporting thread ran over the same
 * period; 0 when tsc_hz is 0. Exact for all 64-bit inputs (128-bit
 * intermediate). The module applies the same rule to reported call time,
 * so a wrong (or hostile) TSC figure cannot charge more than was spent.
 */
uint64_t __rpal_clamp_ns(uint64_t claimed_cycles, uint64_t tsc_hz,
			 uint64_t ran_ns);

/* A report is due after this many calls, or this much call time. */
#define RPAL_TACC_CALLS 1024
#define RPAL_TACC_NS 1000000
/* Callees a thread can call between two reports before it must report. */
#define RPAL_TACC_CALLEES 8

/*
 * Per-thread call time since the last report, per callee. Plain memory:
 * only its thread touches it (it lives in the thread's control block).
 */
struct __rpal_tacc {
	uint64_t due_cycles; /* RPAL_TACC_NS in cycles; 0: no limit */
	uint64_t cycles;     /* all callees */
	uint32_t calls;	     /* all callees */
	uint32_t n;	     /* entries in use */
	struct __rpal_tacc_entry {
		uint32_t callee;
		uint32_t calls;
		uint64_t cycles;
	} e[RPAL_TACC_CALLEES];
};

/*
 * Empties @a, and sets its time threshold from @tsc_hz (0: unknown; then
 * only the call count makes a report due).
 */
void __rpal_tacc_init(struct __rpal_tacc *a, uint64_t tsc_hz);

/*
 * Adds one call of @cycles to @callee. Returns 1 when a report is now due
 * (RPAL_TACC_CALLS calls, RPAL_TACC_NS of call time, or the callee table
 * full, so that the next call finds room), 0 when not yet. The caller
 * reports a->e[0..n) on 1, then calls __rpal_tacc_reset(). A caller that
 * could not report and meets a new callee with the table full gets
 * -ENOSPC: that call is not recorded; report, reset, and add it again.
 */
int __rpal_tacc_add(struct __rpal_tacc *a, uint32_t callee, uint64_t cycles);

/* Starts a new batch after a report; keeps the threshold. */
void __rpal_tacc_reset(struct __rpal_tacc *a);

#endif /* RPAL_RUNTIME_TSC_H */
