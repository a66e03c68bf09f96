// SPDX-License-Identifier: MIT
/*
 * Describing the machine. Inside a VM, the exits and the host's
 * scheduling shape every number, which is why the tables print
 * "VM, QEMU TCG (emulated timings)" or "VM (hardware-virtualised)"
 * rather than leave the reader to guess.
 */
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "machine.h"

static bool has_flag(const char *flags, const char *flag)
{
	size_t len = strlen(flag);
	const char *p = flags;

	while ((p = strstr(p, flag))) {
		bool start = p == flags || p[-1] == ' ' || p[-1] == '\t';
		bool end = p[len] == ' ' || p[len] == '\n' || !p[len];

		if (start && end)
			return true;
		p += len;
	}
	return false;
}

static void read_cpuinfo(struct machine *m)
{
	char line[4096], flags[4096] = "";
	FILE *f = fopen("/proc/cpuinfo", "re");

	snprintf(m->cpu, sizeof(m->cpu), "unknown CPU");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *v = strchr(line, ':');

		if (!v)
			continue;
		v++;
		v += strspn(v, " \t");
		v[strcspn(v, "\n")] = 0;
		if (!strncmp(line, "model name", 10) &&
		    !strcmp(m->cpu, "unknown CPU"))
			snprintf(m->cpu, sizeof(m->cpu), "%s", v);
		else if (!strncmp(line, "flags", 5) && !flags[0])
			snprintf(flags, sizeof(flags), "%s", v);
	}
	fclose(f);
	m->tsc_invariant = has_flag(flags, "constant_tsc") &&
			   has_flag(flags, "nonstop_tsc");
	m->tsc_known_freq = has_flag(flags, "tsc_known_freq");
	m->vm = has_flag(flags, "hypervisor");
}

static void read_hypervisor(struct machine *m)
{
#if defined(__x86_64__) || defined(__i386__)
	unsigned int a, b, c, d;

	__cpuid(1, a, b, c, d);
	if (!(c & (1u << 31)))
		return;
	m->vm = true;
	__cpuid(0x40000000, a, b, c, d);
	memcpy(m->hypervisor, &b, 4);
	memcpy(m->hypervisor + 4, &c, 4);
	memcpy(m->hypervisor + 8, &d, 4);
	m->hypervisor[12] = 0;
	/* vendors pad their 12 bytes with spaces ("bhyve bhyve ") */
	for (int i = 11; i >= 0 && m->hypervisor[i] == ' '; i--)
		m->hypervisor[i] = 0;
#else
	(void)m;
#endif
}

void machine_probe(struct machine *m)
{
	struct utsname u;
	cpu_set_t set;
	time_t now = time(NULL);
	struct tm tm;

	memset(m, 0, sizeof(*m));
	read_cpuinfo(m);
	read_hypervisor(m);
	m->cores_online = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (!sched_getaffinity(0, sizeof(set), &set))
		m->cores_usable = CPU_COUNT(&set);
	if (!uname(&u))
		snprintf(m->kernel, sizeof(m->kernel), "%s %s %s", u.sysname,
			 u.release, u.machine);
	/* QEMU without KVM emulates the CPU; other hypervisors run it. */
	if (m->vm &&
	    (!strcmp(m->hypervisor, "TCGTCGTCGTCG") || strstr(m->cpu, "TCG")))
		snprintf(m->env, sizeof(m->env),
			 "VM, QEMU TCG (emulated CPU: emulated timings)");
	else if (m->vm && m->hypervisor[0])
		snprintf(m->env, sizeof(m->env),
			 "VM (hardware-virtualised; hypervisor %s)",
			 m->hypervisor);
	else if (m->vm)
		snprintf(m->env, sizeof(m->env), "VM (hardware-virtualised)");
	else
		snprintf(m->env, sizeof(m->env), "native");
	gmtime_r(&now, &tm);
	strftime(m->date, sizeof(m->date), "%Y-%m-%dT%H:%M:%SZ", &tm);
}
