// SPDX-License-Identifier: GPL-2.0-only
/*
 * rpal.ko entry points: module init/exit and the /dev/rpal misc device.
 */
#define pr_fmt(fmt) "rpal: " fmt

#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/seq_file.h>
#include <uapi/rpal.h>

#include "internal.h"

static void rpal_show_fdinfo(struct seq_file *m, struct file *file)
{
	seq_printf(m, "rpal-api:\t%u\n", RPAL_API_VERSION);
	seq_printf(m, "rpal-features:\t%#llx\n", rpal_caps_features());
}

static const struct file_operations rpal_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = rpal_ioctl,
	.show_fdinfo = rpal_show_fdinfo,
	.llseek = noop_llseek,
};

/* 0666: any process may open; each command checks the caller's rights. */
static struct miscdevice rpal_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "rpal",
	.fops = &rpal_fops,
	.mode = 0666,
};

static int __init rpal_init(void)
{
	int ret;

	rpal_caps_init();

	ret = misc_register(&rpal_misc);
	if (ret) {
		pr_err("misc_register failed: %d\n", ret);
		return ret;
	}
	pr_info("loaded, version " RPAL_VERSION ", api %u\n", RPAL_API_VERSION);
	return 0;
}

static void __exit rpal_exit(void)
{
	misc_deregister(&rpal_misc);
	pr_info("unloaded\n");
}

module_init(rpal_init);
module_exit(rpal_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("rpal developers");
MODULE_DESCRIPTION("Run Process As Library: shared address-space slots and user-mode calls between processes");
MODULE_VERSION(RPAL_VERSION);
