/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * rpal: Run Process As Library -- the /dev/rpal ioctl ABI.
 *
 * Shared by rpal.ko and librpal-rt. Only fixed-width types; every struct
 * starts with a size field (the caller's sizeof) so it can grow: the module
 * accepts older, shorter structs (missing fields read as zero) and newer,
 * longer ones whose unknown tail is all zero (-E2BIG otherwise). Reserved
 * fields and unknown flags must be zero (-EINVAL). Output fields come last.
 *
 * Field annotations: (in) read by the module, (out) written by it.
 */
#ifndef _UAPI_LINUX_RPAL_H
#define _UAPI_LINUX_RPAL_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* Bumped on every incompatible change; additions only bump features. */
#define RPAL_API_VERSION 1

#define RPAL_DEVICE_PATH "/dev/rpal"

/* Feature bits reported by RPAL_IOC_VERSION (rpal_version.features). */
/* The CPU has protection keys and the kernel enabled them (CR4.PKE). */
#define RPAL_FEAT_PKU (1ULL << 0)
/* 5-level paging is active: a slot is one P4D entry, not one PGD entry. */
#define RPAL_FEAT_LA57 (1ULL << 1)
/* User mode may write fsbase directly (CR4.FSGSBASE). */
#define RPAL_FEAT_FSGSBASE (1ULL << 2)
/* prctl(PR_SET_SYSCALL_USER_DISPATCH) is available. */
#define RPAL_FEAT_SYSCALL_USER_DISPATCH (1ULL << 3)
/* Kernel page-table isolation is active (user and kernel top-level tables). */
#define RPAL_FEAT_PTI (1ULL << 4)
/*
 * Calls are supported: syscalls of borrowed code run in the callee's
 * thread (RPAL_WAKE_PROXY), and a caller that dies mid-call leaves its
 * context in the callee's rescue area (struct rpal_rescue).
 */
#define RPAL_FEAT_CALLS (1ULL << 5)

/*
 * struct rpal_version - RPAL_IOC_VERSION: the handshake.
 *
 * Stateless: any number of calls on any fd. Tells the caller which ABI the
 * module speaks, what the machine offers, and which commands exist.
 */
struct rpal_version {
	__u32 size;	/* (in)  sizeof(struct rpal_version) as compiled */
	__u32 flags;	/* (in)  must be 0 */
	__u64 resv[2];	/* (in)  must be 0 */
	__u32 api;	/* (out) RPAL_API_VERSION of the module */
	__u32 pad;	/* (out) 0 */
	__u64 features;	/* (out) RPAL_FEAT_* */
	__u64 commands;	/* (out) bit n set: ioctl number n is implemented */
	__u64 module_version; /* (out) (major << 32) | (minor << 16) | patch */
};

#define RPAL_VERSION_SIZE_VER0 56 /* sizeof first published struct */

/* Each service owns one slot of the address space: 512 GiB. */
#define RPAL_SLOT_SHIFT 39
#define RPAL_SLOT_SIZE (1ULL << RPAL_SLOT_SHIFT)

#define RPAL_NAME_LEN 32

/*
 * struct rpal_register - RPAL_IOC_REGISTER: make the calling process a
 * service, bound to this fd (closing the last reference unregisters it).
 *
 * The module assigns an id, a slot (or the one rpal-run placed the process
 * in), a protection key and a random token. Afterwards every new mapping
 * of the process (mmap, thread stacks, brk if the heap was still empty)
 * lands inside the slot and carries the key. Memory mapped before is not
 * shared.
 */
struct rpal_register {
	__u32 size;		/* (in)  sizeof(struct rpal_register) */
	__u32 flags;		/* (in)  must be 0 */
	/* (in) NUL-terminated, printable; "": the command name */
	__u8 name[RPAL_NAME_LEN];
	__u64 resv[2];		/* (in)  must be 0 */
	__u32 id;		/* (out) service id, 1 and up */
	__s32 pkey;		/* (out) protection key, -1 without PKU */
	__u64 token;		/* (out) secret a peer must present */
	__u64 slot_base;	/* (out) first address of the slot */
	__u64 slot_size;	/* (out) RPAL_SLOT_SIZE */
	/* since 96 bytes: tells this service from an earlier one, same id */
	__u32 generation;	/* (out) see RPAL_TCB_GEN_SHIFT */
	__u32 pad;		/* (out) 0 */
};

#define RPAL_REGISTER_SIZE_VER0 88

/* struct rpal_unregister - RPAL_IOC_UNREGISTER: stop being a service. */
struct rpal_unregister {
	__u32 size;		/* (in)  sizeof(struct rpal_unregister) */
	__u32 flags;		/* (in)  must be 0 */
	__u64 resv[2];		/* (in)  must be 0 */
};

#define RPAL_UNREGISTER_SIZE_VER0 24

/* rpal_request.state */
enum rpal_peer_state {
	RPAL_PEER_PENDING = 1,	/* waiting for the peer's own request */
	RPAL_PEER_ACTIVE = 2,	/* both slots are shared */
};

/*
 * struct rpal_request - RPAL_IOC_REQUEST: ask to share slots with a peer.
 *
 * Mutual: the slots are shared once both services have requested each
 * other. The caller proves it may: it knows the peer's token, and it holds
 * an open /proc/<peer pid>/mem (opened with the rights ptrace needs to
 * attach, so the kernel's full policy applies: credentials, dumpable,
 * CAP_SYS_PTRACE, Yama and other LSMs), opened by the caller's fsuid.
 */
struct rpal_request {
	__u32 size;		/* (in)  sizeof(struct rpal_request) */
	__u32 flags;		/* (in)  must be 0 */
	__u32 peer_id;		/* (in)  the peer's service id */
	__s32 mem_fd;		/* (in)  fd of /proc/<peer pid>/mem */
	__u64 token;		/* (in)  the peer's token */
	__u64 resv[2];		/* (in)  must be 0 */
	__u32 state;		/* (out) enum rpal_peer_state */
	__s32 peer_pkey;	/* (out) the peer's protection key, or -1 */
	__u64 peer_base;	/* (out) the peer's slot */
	__u64 peer_size;	/* (out) RPAL_SLOT_SIZE */
	__u32 peer_pid;		/* (out) the peer's pid (thread group id) */
	__u32 pad;		/* (out) 0 */
};

#define RPAL_REQUEST_SIZE_VER0 72

/* struct rpal_release - RPAL_IOC_RELEASE: stop sharing with a peer. */
struct rpal_release {
	__u32 size;		/* (in)  sizeof(struct rpal_release) */
	__u32 flags;		/* (in)  must be 0 */
	__u32 peer_id;		/* (in)  the peer's service id */
	__u32 pad;		/* (in)  must be 0 */
	__u64 resv[2];		/* (in)  must be 0 */
};

#define RPAL_RELEASE_SIZE_VER0 32

/*
 * struct rpal_exec_place - RPAL_IOC_EXEC_PLACE: the calling thread's next
 * execve() loads the program wholly inside a fresh slot (what rpal-run
 * does): executable, interpreter, libraries, stack, heap, vDSO, and every
 * later mapping. The program must be position-independent (ET_DYN): the
 * exec of anything else fails with ENOEXEC and the arming stays. When the
 * program registers, it keeps that slot. Closing the fd before the exec
 * cancels the arming.
 */
struct rpal_exec_place {
	__u32 size;		/* (in)  sizeof(struct rpal_exec_place) */
	__u32 flags;		/* (in)  must be 0 */
	/* (in) name of the service the program registers as, if it gives none */
	__u8 name[RPAL_NAME_LEN];
	__u64 resv[2];		/* (in)  must be 0 */
	__u64 slot_base;	/* (out) the slot the program will run in */
	__u64 slot_size;	/* (out) RPAL_SLOT_SIZE */
};

#define RPAL_EXEC_PLACE_SIZE_VER0 72

/*
 * The thread control block (TCB) of an rpal thread starts with its state
 * word, which the runtime changes with compare-and-swap and the module
 * reads: who owns the thread's saved user context.
 */
enum rpal_tcb_state {
	RPAL_TCB_RUNNING = 1,	/* the thread itself */
	RPAL_TCB_WAITING = 2,	/* nobody: saved, free to be claimed */
	RPAL_TCB_CALL = 3,	/* a sender, named in the upper bits */
	RPAL_TCB_RESCUE = 4,	/* the context is in the rescue area */
};

#define RPAL_TCB_STATE_MASK 0xffULL
#define RPAL_TCB_CALLER_SHIFT 32	/* CALL: the sender's service id (16 bits) */
#define RPAL_TCB_GEN_SHIFT 48		/* CALL: its generation (16 bits) */

/*
 * The TCB's second word: set by the module while the thread sleeps in
 * RPAL_IOC_WAIT waiting for a call on its context to end; the sender that
 * ends the call reads it and, if set, kicks the thread (RPAL_IOC_WAKE).
 */
#define RPAL_TCB_WAKE_ON_RETURN_OFFSET 8

/* SYSCALL_DISPATCH_FILTER_ALLOW and _BLOCK (linux/prctl.h). */
#define RPAL_CALL_IDLE 0
#define RPAL_CALL_ACTIVE 1

/*
 * struct rpal_call_record - what an rpal thread is running, for the
 * module. It lies in memory with protection key 0 (so the kernel can read
 * it whatever PKRU holds) and is registered with RPAL_IOC_THREAD; its
 * selector byte is also the thread's syscall user dispatch selector
 * (prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON, 0, 0,
 * &record->selector)).
 *
 * While selector is RPAL_CALL_ACTIVE the thread runs the saved context of
 * thread callee_index of service callee_id (whose TCB is callee_tcb):
 *  - its syscalls are not executed by it but handed to that thread
 *    (RPAL_WAKE_PROXY), which runs them in its own process;
 *  - if it dies, the module copies the context it was running (its user
 *    registers and extended state; or, when sigframe is set, those saved
 *    in that signal frame) into the callee's rescue area, so the callee's
 *    own thread can resume it (struct rpal_rescue).
 */
struct rpal_call_record {
	__u32 size;		/* sizeof(struct rpal_call_record) */
	__u8 selector;		/* RPAL_CALL_IDLE or RPAL_CALL_ACTIVE */
	__u8 pad[3];
	__u32 callee_id;	/* the service whose context runs */
	__u32 callee_index;	/* its thread */
	__u64 callee_tcb;	/* that thread's TCB */
	/* a handler's ucontext_t while a signal interrupts the call; or 0 */
	__u64 sigframe;
	__u64 resv[2];		/* 0 */
};

#define RPAL_CALL_RECORD_SIZE_VER0 48

/* struct rpal_rescue.regs: index of each register. */
enum rpal_rescue_reg {
	RPAL_RESCUE_RAX, RPAL_RESCUE_RBX, RPAL_RESCUE_RCX, RPAL_RESCUE_RDX,
	RPAL_RESCUE_RSI, RPAL_RESCUE_RDI, RPAL_RESCUE_RBP, RPAL_RESCUE_RSP,
	RPAL_RESCUE_R8, RPAL_RESCUE_R9, RPAL_RESCUE_R10, RPAL_RESCUE_R11,
	RPAL_RESCUE_R12, RPAL_RESCUE_R13, RPAL_RESCUE_R14, RPAL_RESCUE_R15,
	RPAL_RESCUE_RIP, RPAL_RESCUE_RFLAGS,
	RPAL_RESCUE_NREGS,
};

/* struct rpal_rescue.flags */
#define RPAL_RESCUE_VALID (1U << 0)	/* written completely */
/* rax is the result of syscall proxy_seq, which the callee still runs */
#define RPAL_RESCUE_PROXY (1U << 1)

/* struct rpal_rescue.format: the extended state image */
#define RPAL_RESCUE_FMT_NONE 0
#define RPAL_RESCUE_FMT_FXSAVE 1	/* 512 bytes, FXRSTOR */
#define RPAL_RESCUE_FMT_XSAVE 2		/* standard (non-compacted) XRSTOR */

/* Bytes of a rescue area: the header, then the extended state image. */
#define RPAL_RESCUE_SIZE 16384

/*
 * struct rpal_rescue - a user context taken from a caller thread that
 * stopped running it mid-call, at the start of the callee thread's rescue
 * area (in the callee's slot, registered with RPAL_IOC_THREAD). Written by
 * the module when the caller thread dies in a call, or by the caller's
 * runtime when the callee's code faults (the callee's thread then repeats
 * the faulting access itself). The callee's thread resumes it.
 */
struct rpal_rescue {
	__u32 size;		/* sizeof(struct rpal_rescue) as written */
	__u32 flags;		/* RPAL_RESCUE_*; VALID written last */
	__u64 owner;		/* the TCB state word of the call (CALL|...) */
	__u64 proxy_seq;	/* RPAL_RESCUE_PROXY: that syscall */
	__u64 regs[RPAL_RESCUE_NREGS];
	__u64 xfeatures;	/* XSAVE components present in the image */
	__u32 xsave_offset;	/* from the area's start, 64-aligned */
	__u32 xsave_size;	/* bytes */
	__u32 format;		/* RPAL_RESCUE_FMT_* */
	__u32 pad;
	__u64 resv[3];
};

/*
 * struct rpal_thread - RPAL_IOC_THREAD: make the calling thread an rpal
 * thread of the caller's service, or (RPAL_THREAD_UNREGISTER) stop.
 */
struct rpal_thread {
	__u32 size;		/* (in)  sizeof(struct rpal_thread) */
	__u32 flags;		/* (in)  0 or RPAL_THREAD_UNREGISTER */
	__u64 tcb;		/* (in)  the thread's TCB, 8-aligned, in the slot */
	/* (in) an eventfd signalled on every kick, so epoll sees them; -1 */
	__s32 eventfd;
	__u32 index;		/* (in)  UNREGISTER: which thread */
	/* (in) its struct rpal_call_record (key-0 memory), 8-aligned; 0: none */
	__u64 record;
	/* (in) its rescue area: RPAL_RESCUE_SIZE bytes in the slot,
	 * 64-aligned; 0: none (the thread cannot be called)
	 */
	__u64 rescue;
	__u32 out_index;	/* (out) the thread's index in its service */
	__u32 pad;		/* (out) 0 */
};

#define RPAL_THREAD_SIZE_VER0 48
#define RPAL_THREAD_UNREGISTER (1U << 0)

/* Why RPAL_IOC_WAIT returned (rpal_wait.reason, a bit mask). */
#define RPAL_WAKE_KICK (1U << 0)	/* RPAL_IOC_WAKE for this thread */
#define RPAL_WAKE_POLL (1U << 1)	/* the watched fd is readable */
#define RPAL_WAKE_TIMEOUT (1U << 2)
#define RPAL_WAKE_CALLER_DIED (1U << 3)	/* CALL names a dead service */
/*
 * Run syscall proxy_nr(proxy_args) for the caller running this thread's
 * context; report the result with the next wait (RPAL_WAIT_PROXY_DONE).
 */
#define RPAL_WAKE_PROXY (1U << 4)

/* rpal_wait.flags */
#define RPAL_WAIT_PROXY_DONE (1U << 0)	/* proxy_ret is syscall proxy_seq's */

/*
 * struct rpal_wait - RPAL_IOC_WAIT: sleep in the module until this thread
 * is kicked, the fd (an epoll fd, or any pollable fd) is readable, the
 * timeout passes, or a signal arrives (EINTR). It does not return for
 * readability while the state word says CALL: a sender is running this
 * thread's saved context, and the thread must not get it back until the
 * call ends (it returns for kicks, which carry syscall-proxy requests).
 */
struct rpal_wait {
	__u32 size;		/* (in)  sizeof(struct rpal_wait) */
	__u32 flags;		/* (in)  0 or RPAL_WAIT_PROXY_DONE */
	__u32 index;		/* (in)  the calling thread's index */
	__s32 fd;		/* (in)  fd to watch for readability, -1: none */
	__s32 timeout_ms;	/* (in)  -1: none */
	__u32 pad;		/* (in)  must be 0 */
	__s64 proxy_ret;	/* (in)  RPAL_WAIT_PROXY_DONE: the result */
	__u64 proxy_done_seq;	/* (in)  RPAL_WAIT_PROXY_DONE: of that syscall */
	__u32 reason;		/* (out) RPAL_WAKE_* */
	__u32 kicks;		/* (out) kicks consumed */
	/* since 112 bytes (RPAL_WAKE_PROXY is only reported to these): */
	__u64 proxy_seq;	/* (out) PROXY: the request */
	__u64 proxy_nr;		/* (out) PROXY: syscall number */
	__u64 proxy_args[6];	/* (out) PROXY: its arguments */
};

#define RPAL_WAIT_SIZE_VER0 48
#define RPAL_WAIT_SIZE_VER1 112

/*
 * struct rpal_wake - RPAL_IOC_WAKE: kick a thread of the caller's service
 * or of a peer whose slot the caller actively shares.
 */
struct rpal_wake {
	__u32 size;		/* (in)  sizeof(struct rpal_wake) */
	__u32 flags;		/* (in)  must be 0 */
	__u32 service_id;	/* (in)  0: the caller's own service */
	__u32 index;		/* (in)  the thread */
	__u64 resv[2];		/* (in)  must be 0 */
};

#define RPAL_WAKE_SIZE_VER0 32

/*
 * struct rpal_report - RPAL_IOC_REPORT: time the calling thread spent
 * running a peer's code (TSC cycles, measured by the runtime) since its
 * last report. The module charges the callee and relieves the caller,
 * never more than the thread actually ran since its last report.
 */
struct rpal_report {
	__u32 size;		/* (in)  sizeof(struct rpal_report) */
	__u32 flags;		/* (in)  must be 0 */
	__u32 index;		/* (in)  the calling thread's index */
	__u32 callee_id;	/* (in)  the peer whose code ran */
	__u64 cycles;		/* (in)  TSC cycles in calls since last report */
	__u64 calls;		/* (in)  calls since last report */
	__u64 resv[2];		/* (in)  must be 0 */
	__u64 charged_ns;	/* (out) what was accounted, after clamping */
};

#define RPAL_REPORT_SIZE_VER0 56

/*
 * Events read(2) from a service's fd (poll: POLLIN when there are some).
 * read returns whole events only; a buffer smaller than one event: EINVAL.
 */
enum rpal_event_type {
	RPAL_EVENT_PEER_DIED = 1,	/* the peer process exited */
	RPAL_EVENT_PEER_RELEASED = 2,	/* the peer released or unregistered */
	RPAL_EVENT_LOST = 3,		/* the queue overflowed: events lost */
	RPAL_EVENT_PEER_ACTIVE = 4,	/* the peer requested too: now shared */
};

struct rpal_event {
	__u32 type;		/* enum rpal_event_type */
	__u32 peer_id;
	__s32 peer_pkey;
	__u32 peer_pid;
};

/*
 * Command words encode the size of a struct's first version, never the
 * current sizeof: the struct may grow (its size field says by how much)
 * while the command word stays the same.
 */
#define RPAL_IOC_MAGIC 0xE1

/* Command numbers start at 1 so a zeroed command word is never valid. */
enum rpal_ioc_nr {
	RPAL_IOC_NR_VERSION = 1,
	RPAL_IOC_NR_REGISTER = 2,
	RPAL_IOC_NR_UNREGISTER = 3,
	RPAL_IOC_NR_REQUEST = 4,
	RPAL_IOC_NR_RELEASE = 5,
	RPAL_IOC_NR_EXEC_PLACE = 6,
	RPAL_IOC_NR_THREAD = 7,
	RPAL_IOC_NR_WAIT = 8,
	RPAL_IOC_NR_WAKE = 9,
	RPAL_IOC_NR_REPORT = 10,
	RPAL_IOC_NR_MAX,
};

#define RPAL_IOC_RW(nr, size) \
	_IOC(_IOC_READ | _IOC_WRITE, RPAL_IOC_MAGIC, (nr), (size))

#define RPAL_IOC_VERSION \
	RPAL_IOC_RW(RPAL_IOC_NR_VERSION, RPAL_VERSION_SIZE_VER0)
#define RPAL_IOC_REGISTER \
	RPAL_IOC_RW(RPAL_IOC_NR_REGISTER, RPAL_REGISTER_SIZE_VER0)
#define RPAL_IOC_UNREGISTER \
	RPAL_IOC_RW(RPAL_IOC_NR_UNREGISTER, RPAL_UNREGISTER_SIZE_VER0)
#define RPAL_IOC_REQUEST \
	RPAL_IOC_RW(RPAL_IOC_NR_REQUEST, RPAL_REQUEST_SIZE_VER0)
#define RPAL_IOC_RELEASE \
	RPAL_IOC_RW(RPAL_IOC_NR_RELEASE, RPAL_RELEASE_SIZE_VER0)
#define RPAL_IOC_EXEC_PLACE \
	RPAL_IOC_RW(RPAL_IOC_NR_EXEC_PLACE, RPAL_EXEC_PLACE_SIZE_VER0)
#define RPAL_IOC_THREAD RPAL_IOC_RW(RPAL_IOC_NR_THREAD, RPAL_THREAD_SIZE_VER0)
#define RPAL_IOC_WAIT RPAL_IOC_RW(RPAL_IOC_NR_WAIT, RPAL_WAIT_SIZE_VER0)
#define RPAL_IOC_WAKE RPAL_IOC_RW(RPAL_IOC_NR_WAKE, RPAL_WAKE_SIZE_VER0)
#define RPAL_IOC_REPORT RPAL_IOC_RW(RPAL_IOC_NR_REPORT, RPAL_REPORT_SIZE_VER0)

#endif /* _UAPI_LINUX_RPAL_H */
