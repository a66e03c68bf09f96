// SPDX-License-Identifier: GPL-2.0-only
/*
 * Machine capabilities rpal depends on, detected once at module load.
 * Every test and tool reads them through RPAL_IOC_VERSION, so they must
 * say what the running kernel actually enabled, not what the CPU lists.
 */
#define pr_fmt(fmt) "rpal: " fmt

#include <linux/kernel.h>
#include <linux/pgtable.h>
#include <asm/cpufeature.h>
#include <uapi/rpal.h>

#include "internal.h"

static u64 rpal_features __ro_after_init;

void rpal_caps_init(void)
{
	u64 f = 0;

	/* OSPKE, not PKU: the kernel clears it when it leaves CR4.PKE off. */
	if (cpu_feature_enabled(X86_FEATURE_OSPKE))
		f |= RPAL_FEAT_PKU;
	if (pgtable_l5_enabled())
		f |= RPAL_FEAT_LA57;
	if (cpu_feature_enabled(X86_FEATURE_FSGSBASE))
		f |= RPAL_FEAT_FSGSBASE;
	/* Syscall user dispatch is part of the generic entry code (5.11+). */
	if (IS_ENABLED(CONFIG_GENERIC_ENTRY))
		f |= RPAL_FEAT_SYSCALL_USER_DISPATCH | RPAL_FEAT_CALLS;
	if (cpu_feature_enabled(X86_FEATURE_PTI))
		f |= RPAL_FEAT_PTI;
	rpal_features = f;

	if (!(f & RPAL_FEAT_PKU))
		pr_warn("no protection keys: services run unprotected\n");
	pr_info("features:%s%s%s%s%s\n",
		f & RPAL_FEAT_PKU ? " pku" : " no-pku(unprotected)",
		f & RPAL_FEAT_LA57 ? " la57" : " 4-level",
		f & RPAL_FEAT_FSGSBASE ? " fsgsbase" : "",
		f & RPAL_FEAT_SYSCALL_USER_DISPATCH ? " sud" : "",
		f & RPAL_FEAT_PTI ? " pti" : "");
}

u64 rpal_caps_features(void)
{
	return rpal_features;
}
