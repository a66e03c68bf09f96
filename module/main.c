// SPDX-License-Identifier: GPL-2.0-only
/*
 * rpal.ko entry points: module init/exit and the /dev/rpal misc device
 * (open, release, ioctl, and read/poll for peer events).
 */
#define pr_fmt(fmt) "rpal: " fmt

#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mmu_notifier.h>
#include <linux/module.h>
#include <linux/poll.h>
#include <linux/rcupdate.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <uapi/rpal.h>

#include "internal.h"

static int rpal_open(struct inode *inode, struct file *file)
{
	struct rpal_file *rf = kzalloc(sizeof(*rf), GFP_KERNEL);

	if (!rf)
		return -ENOMEM;
	rpal_file_init(rf);
	file->private_data = rf;
	return 0;
}

static int rpal_release(struct inode *inode, struct file *file)
{
	struct rpal_file *rf = file->private_data;

	rpal_exec_disarm(rf);
	mutex_lock(&rpal_mutex);
	rpal_service_unregister(rf);
	mutex_unlock(&rpal_mutex);
	kfree(rf);
	return 0;
}

static bool rpal_events_ready(struct rpal_file *rf)
{
	return !kfifo_is_empty(&rf->events) || READ_ONCE(rf->events_lost);
}

/* Whole struct rpal_event records; RPAL_EVENT_LOST first after overflow. */
static ssize_t rpal_read(struct file *file, char __user *buf, size_t count,
			 loff_t *ppos)
{
	struct rpal_file *rf = file->private_data;
	struct rpal_event ev[8];
	size_t n = 0, max;
	int ret;

	if (count < sizeof(ev[0]))
		return -EINVAL;
	max = min(count / sizeof(ev[0]), ARRAY_SIZE(ev));
	for (;;) {
		spin_lock(&rf->event_lock);
		if (rf->events_lost) {
			ev[n++] = (struct rpal_event){ .type = RPAL_EVENT_LOST,
						       .peer_pkey = -1 };
			rf->events_lost = false;
		}
		while (n < max && kfifo_get(&rf->events, &ev[n]))
			n++;
		spin_unlock(&rf->event_lock);
		if (n)
			break;
		/* Nothing queued and nothing can come: not a service. */
		if (!READ_ONCE(rf->svc))
			return -ENOENT;
		if (file->f_flags & O_NONBLOCK)
			return -EAGAIN;
		ret = wait_event_interruptible(rf->event_wq,
					       rpal_events_ready(rf) ||
					       !READ_ONCE(rf->svc));
		if (ret)
			return ret;
	}
	if (copy_to_user(buf, ev, n * sizeof(ev[0])))
		return -EFAULT;
	return n * sizeof(ev[0]);
}

static __poll_t rpal_poll(struct file *file, poll_table *wait)
{
	struct rpal_file *rf = file->private_data;
	__poll_t mask = 0;

	poll_wait(file, &rf->event_wq, wait);
	if (rpal_events_ready(rf))
		mask |= EPOLLIN | EPOLLRDNORM;
	else if (!READ_ONCE(rf->svc))
		mask |= EPOLLHUP;
	return mask;
}

static void rpal_show_fdinfo(struct seq_file *m, struct file *file)
{
	struct rpal_file *rf = file->private_data;

	seq_printf(m, "rpal-api:\t%u\n", RPAL_API_VERSION);
	seq_printf(m, "rpal-features:\t%#llx\n", rpal_caps_features());
	mutex_lock(&rpal_mutex);
	if (rf->svc)
		seq_printf(m, "rpal-service:\t%u\n", rf->svc->id);
	mutex_unlock(&rpal_mutex);
}

static const struct file_operations rpal_fops = {
	.owner = THIS_MODULE,
	.open = rpal_open,
	.release = rpal_release,
	.read = rpal_read,
	.poll = rpal_poll,
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
	rpal_share_proc_mem_init();
	ret = rpal_tlb_init();
	if (ret)
		goto err_tlb;
	ret = rpal_fault_init();
	if (ret)
		goto err_fault;
	ret = rpal_vm_hooks_init();
	if (ret)
		goto err_vm;
	ret = rpal_pkey_init();
	if (ret)
		goto err_pkey;
	ret = rpal_exec_init();
	if (ret)
		goto err_exec;
	ret = rpal_proxy_init();
	if (ret)
		goto err_proxy;
	ret = rpal_rescue_init();
	if (ret)
		goto err_rescue;
	rpal_debugfs_init();
	ret = misc_register(&rpal_misc);
	if (ret) {
		pr_err("misc_register failed: %d\n", ret);
		goto err_misc;
	}
	pr_info("loaded, version " RPAL_VERSION ", api %u\n", RPAL_API_VERSION);
	return 0;

err_misc:
	rpal_debugfs_exit();
	rpal_rescue_exit();
err_rescue:
	rpal_proxy_exit();
err_proxy:
	rpal_exec_exit();
err_exec:
	rpal_pkey_exit();
err_pkey:
	rpal_vm_hooks_exit();
err_vm:
	rpal_fault_exit();
err_fault:
	rpal_tlb_exit();
err_tlb:
	synchronize_rcu_tasks();
	return ret;
}

static void __exit rpal_exit(void)
{
	misc_deregister(&rpal_misc);
	rpal_debugfs_exit();
	rpal_rescue_exit();
	rpal_proxy_exit();
	rpal_exec_exit();
	rpal_pkey_exit();
	rpal_vm_hooks_exit();
	rpal_fault_exit();
	rpal_tlb_exit();
	/* A task preempted inside a stub or a redirected handler leaves. */
	synchronize_rcu_tasks();
	/* Pending free_notifier callbacks run module code. */
	mmu_notifier_synchronize();
	WARN_ON(!list_empty(&rpal_services));
	pr_info("unloaded\n");
}

module_init(rpal_init);
module_exit(rpal_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("rpal developers");
MODULE_DESCRIPTION("Run Process As Library: shared address-space slots and user-mode calls between processes");
MODULE_VERSION(RPAL_VERSION);
