// SPDX-License-Identifier: MIT
/*
 * Run by exec_place.c, usually through rpal-run. Checks from the inside
 * that the whole process lies in one slot: every line of /proc/self/maps
 * (but the fixed legacy [vsyscall] page), the brk heap, malloc'd memory,
 * a new thread's stack. Options:
 *   --unplaced       expect the opposite (not placed)
 *   --register NAME  then register and expect that slot and NAME
 *   --dump           print /proc/self/maps on stdout first
 * Exit status: 0 as expected, else the number of the failed check.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <uapi/rpal.h>

static uint64_t slot_of(uint64_t addr)
{
	return addr >> RPAL_SLOT_SHIFT;
}

/* Where the main stack's VMA starts. */
static uintptr_t stack_low(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	unsigned long lo = 0, hi;

	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, "[stack]"))
			sscanf(line, "%lx-%lx", &lo, &hi);
	if (f)
		fclose(f);
	return lo;
}

static void *thread_fn(void *arg)
{
	int local = 0;

	*(uintptr_t *)arg = (uintptr_t)&local;
	return NULL;
}

/* The one slot all mappings share, or -1 (printing the odd one out). */
static int64_t maps_slot(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int64_t slot = -2;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (strstr(line, "[vsyscall]"))
			continue;
		if (sscanf(line, "%lx-%lx", &lo, &hi) != 2)
			continue;
		if (slot == -2)
			slot = (int64_t)slot_of(lo);
		if (slot_of(lo) != (uint64_t)slot ||
		    slot_of(hi - 1) != (uint64_t)slot) {
			fprintf(stderr, "maps_probe: outside slot %lld: %s",
				(long long)slot, line);
			slot = -1;
			break;
		}
	}
	fclose(f);
	return slot;
}

int main(int argc, char **argv)
{
	const char *name = NULL;
	int unplaced = 0;
	uintptr_t tstack = 0;
	pthread_t t;
	int64_t slot;
	void *heap;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--unplaced"))
			unplaced = 1;
		else if (!strcmp(argv[i], "--register") && i + 1 < argc)
			name = argv[++i];
		else if (!strcmp(argv[i], "--dump")) {
			FILE *f = fopen("/proc/self/maps", "r");
			char line[512];

			while (f && fgets(line, sizeof(line), f))
				fputs(line, stdout);
			if (f)
				fclose(f);
		}
	}
	slot = maps_slot();
	if (unplaced)
		return slot == -1 ? 0 : 20;
	if (slot <= 0)
		return 2;
	if (slot_of((uintptr_t)sbrk(0)) != (uint64_t)slot)
		return 3;
	heap = malloc(100);
	if (!heap || slot_of((uintptr_t)heap) != (uint64_t)slot)
		return 4;
	if (pthread_create(&t, NULL, thread_fn, &tstack) ||
	    pthread_join(t, NULL))
		return 5;
	if (slot_of(tstack) != (uint64_t)slot)
		return 6;
	if (maps_slot() != slot) /* still, after all of that */
		return 7;
	if (name) {
		struct rpal_register r;
		char line[256], want[64];
		int fd = open(RPAL_DEVICE_PATH, O_RDWR);
		int found = 0;
		FILE *f;

		memset(&r, 0, sizeof(r));
		r.size = sizeof(r);
		if (fd < 0 || ioctl(fd, RPAL_IOC_REGISTER, &r))
			return 8;
		if (slot_of(r.slot_base) != (uint64_t)slot)
			return 9; /* registering kept the placed slot */
		f = fopen("/sys/kernel/debug/rpal/services", "r");
		snprintf(want, sizeof(want), "%u %d %s ", r.id, getpid(), name);
		while (f && fgets(line, sizeof(line), f))
			if (!strncmp(line, want, strlen(want)))
				found = 1;
		if (f)
			fclose(f);
		if (!found)
			return 10; /* the name given to rpal-run */
		/*
		 * Registered: new mappings still go below the stack (its
		 * rlimit room intact), in the slot, usable at once.
		 */
		char *m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (m == MAP_FAILED || slot_of((uintptr_t)m) != (uint64_t)slot)
			return 11;
		if ((uintptr_t)m + (1 << 20) > stack_low())
			return 12;
		memset(m, 1, 1 << 20);
	}
	return 0;
}
