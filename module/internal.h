/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * rpal.ko internals shared between the module's files.
 *
 * Object graph (grows with the kernel-core work):
 *   /dev/rpal file -> (nothing yet: RPAL_IOC_VERSION is stateless)
 *
 * Lock order: no locks yet.
 */
#ifndef RPAL_INTERNAL_H
#define RPAL_INTERNAL_H

#include <linux/fs.h>
#include <linux/types.h>

/* caps.c: what this machine offers, detected once at load. */
void rpal_caps_init(void);
u64 rpal_caps_features(void);

/* ioctl.c */
long rpal_ioctl(struct file *file, unsigned int cmd, unsigned long arg);
u64 rpal_ioctl_commands(void);

#endif /* RPAL_INTERNAL_H */
