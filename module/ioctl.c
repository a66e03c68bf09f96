// SPDX-License-Identifier: GPL-2.0-only
/*
 * /dev/rpal ioctl dispatch: one rpal_ioc_<name>() per command.
 *
 * Every handler validates in the same order: the struct's size field
 * (copy_struct_from_user semantics), unknown flags, reserved fields, then
 * state. On error nothing is written back.
 */
#define pr_fmt(fmt) "rpal: " fmt

#include <linux/build_bug.h>
#include <linux/kernel.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <uapi/rpal.h>

#include "internal.h"

/*
 * Copy in a struct whose first field is its __u32 size. Shorter than the
 * first version: -EINVAL. Longer than we know with a non-zero tail: -E2BIG.
 */
static int rpal_copy_in(void *karg, size_t ksize, size_t ver0,
			void __user *uarg, u32 *usize)
{
	u32 size;

	if (get_user(size, (u32 __user *)uarg))
		return -EFAULT;
	if (size < ver0)
		return -EINVAL;
	if (size > PAGE_SIZE)
		return -E2BIG;
	*usize = size;
	return copy_struct_from_user(karg, ksize, uarg, size);
}

/* Write back no more than the caller's struct holds, with size set. */
static int rpal_copy_out(void __user *uarg, void *karg, size_t ksize,
			 u32 usize)
{
	u32 n = min_t(u32, usize, ksize);

	*(u32 *)karg = n;
	return copy_to_user(uarg, karg, n) ? -EFAULT : 0;
}

static long rpal_ioc_version(void __user *uarg)
{
	struct rpal_version v;
	u32 usize;
	int ret;

	ret = rpal_copy_in(&v, sizeof(v), RPAL_VERSION_SIZE_VER0, uarg, &usize);
	if (ret)
		return ret;
	if (v.flags)
		return -EINVAL;
	if (memchr_inv(v.resv, 0, sizeof(v.resv)))
		return -EINVAL;

	memset(&v, 0, sizeof(v));
	v.api = RPAL_API_VERSION;
	v.features = rpal_caps_features();
	v.commands = rpal_ioctl_commands();
	v.module_version = ((u64)RPAL_VERSION_MAJOR << 32) |
			   (RPAL_VERSION_MINOR << 16) | RPAL_VERSION_PATCH;
	return rpal_copy_out(uarg, &v, sizeof(v), usize);
}

u64 rpal_ioctl_commands(void)
{
	return BIT_ULL(RPAL_IOC_NR_VERSION);
}

long rpal_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	void __user *uarg = (void __user *)arg;

	BUILD_BUG_ON(sizeof(struct rpal_version) != RPAL_VERSION_SIZE_VER0);
	BUILD_BUG_ON(offsetof(struct rpal_version, api) != 24);
	BUILD_BUG_ON(offsetof(struct rpal_version, module_version) != 48);
	BUILD_BUG_ON(RPAL_IOC_NR_MAX > 64);

	switch (cmd) {
	case RPAL_IOC_VERSION:
		return rpal_ioc_version(uarg);
	default:
		return -ENOTTY;
	}
}
