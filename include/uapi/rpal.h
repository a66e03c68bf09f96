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

/*
 * Command words encode the size of a struct's first version, never the
 * current sizeof: the struct may grow (its size field says by how much)
 * while the command word stays the same.
 */
#define RPAL_IOC_MAGIC 0xE1

/* Command numbers start at 1 so a zeroed command word is never valid. */
enum rpal_ioc_nr {
	RPAL_IOC_NR_VERSION = 1,
	RPAL_IOC_NR_MAX,
};

#define RPAL_IOC_VERSION                                                  \
	_IOC(_IOC_READ | _IOC_WRITE, RPAL_IOC_MAGIC, RPAL_IOC_NR_VERSION, \
	     RPAL_VERSION_SIZE_VER0)

#endif /* _UAPI_LINUX_RPAL_H */
