// SPDX-License-Identifier: GPL-2.0-only
/*
 * ftrace hooks on kernel functions, and the stubs a hook may redirect a
 * function to. A hook only observes, rewrites argument registers, or sets
 * ip to one of the module's own functions; the hooked function is never
 * called through a pointer (it may be sealed for IBT on 6.12).
 */
#define pr_fmt(fmt) "rpal: " fmt

#include <linux/ftrace.h>
#include <linux/kernel.h>
#include <linux/string.h>

#include "internal.h"

/* Stand-ins with the hooked function's return type; arguments ignored. */
noinline long rpal_stub_enomem(void)
{
	return -ENOMEM;
}

noinline long rpal_stub_enoexec(void)
{
	return -ENOEXEC;
}

noinline long rpal_stub_eperm(void)
{
	return -EPERM;
}

noinline void rpal_stub_void(void)
{
}

static void rpal_hook_unregister_one(struct rpal_hook *h)
{
	if (!h->registered)
		return;
	unregister_ftrace_function(&h->ops);
	ftrace_free_filter(&h->ops);
	h->registered = false;
}

int rpal_hooks_register(struct rpal_hook *hooks, size_t n)
{
	size_t i;
	int ret;

	for (i = 0; i < n; i++) {
		struct rpal_hook *h = &hooks[i];

		/* SAVE_REGS: callbacks read and write argument registers. */
		h->ops.func = h->func;
		h->ops.flags = FTRACE_OPS_FL_SAVE_REGS |
			       FTRACE_OPS_FL_RECURSION | h->flags;
		ret = ftrace_set_filter(&h->ops, (unsigned char *)h->name,
					strlen(h->name), 1);
		if (ret) {
			pr_err("cannot hook %s: %d\n", h->name, ret);
			goto err_unwind;
		}
		ret = register_ftrace_function(&h->ops);
		if (ret) {
			pr_err("cannot register hook on %s: %d\n", h->name, ret);
			ftrace_free_filter(&h->ops);
			goto err_unwind;
		}
		h->registered = true;
	}
	return 0;

err_unwind:
	while (i--)
		rpal_hook_unregister_one(&hooks[i]);
	return ret;
}

void rpal_hooks_unregister(struct rpal_hook *hooks, size_t n)
{
	size_t i;

	for (i = n; i--;)
		rpal_hook_unregister_one(&hooks[i]);
}
