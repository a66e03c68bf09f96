// SPDX-License-Identifier: GPL-2.0-only
/*
 * /sys/kernel/debug/rpal/services: the live state, one line per service
 * (rpalctl status reads it; the format is in docs/uapi.md).
 */
#define pr_fmt(fmt) "rpal: " fmt

#include <linux/debugfs.h>
#include <linux/rculist.h>
#include <linux/seq_file.h>

#include "internal.h"

static struct dentry *rpal_debugfs_dir;

static int rpal_services_show(struct seq_file *m, void *unused)
{
	struct rpal_service *svc;
	struct rpal_view *v;

	rpal_placements_reap();
	seq_puts(m, "# id pid name slot base pkey peers faults flushes calls_made calls_received ns_lent ns_borrowed\n");
	mutex_lock(&rpal_mutex);
	list_for_each_entry(svc, &rpal_services, node) {
		int n = 0;

		seq_printf(m, "%u %d %s %u %#lx %d ", svc->id, svc->tgid,
			   svc->name[0] ? svc->name : "-", svc->slot, svc->base,
			   svc->pkey);
		list_for_each_entry(v, &svc->views, by_viewer)
			if (READ_ONCE(v->active))
				seq_printf(m, "%s%u", n++ ? "," : "",
					   v->owner->id);
		seq_printf(m, "%s %lld %lld %lld %lld %lld %lld\n", n ? "" : "-",
			   atomic64_read(&svc->faults),
			   atomic64_read(&svc->flushes),
			   atomic64_read(&svc->calls_made),
			   atomic64_read(&svc->calls_received),
			   atomic64_read(&svc->ns_lent),
			   atomic64_read(&svc->ns_borrowed));
	}
	mutex_unlock(&rpal_mutex);
	rpal_placements_show(m);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(rpal_services);

void rpal_debugfs_init(void)
{
	rpal_debugfs_dir = debugfs_create_dir("rpal", NULL);
	debugfs_create_file("services", 0400, rpal_debugfs_dir, NULL,
			    &rpal_services_fops);
}

void rpal_debugfs_exit(void)
{
	debugfs_remove_recursive(rpal_debugfs_dir);
}
