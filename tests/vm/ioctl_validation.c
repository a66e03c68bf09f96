// SPDX-License-Identifier: MIT
/*
 * Every malformed RPAL_IOC_VERSION gets a precise errno and no write-back;
 * every other command word gets ENOTTY.
 */
#include <stddef.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "vmtest.h"

FIXTURE(dev)
{
	int fd;
	long page;
};

FIXTURE_SETUP(dev)
{
	self->fd = rpal_open();
	ASSERT_GE(self->fd, 0);
	self->page = sysconf(_SC_PAGESIZE);
}

FIXTURE_TEARDOWN(dev)
{
	close(self->fd);
}

/* A struct buffer whose bytes past the header stay 0xAA unless written. */
static void fill(struct rpal_version *v, uint32_t size)
{
	memset(v, 0xAA, sizeof(*v));
	v->size = size;
	v->flags = 0;
	v->resv[0] = v->resv[1] = 0;
}

static bool untouched(const struct rpal_version *v)
{
	const unsigned char *p = (const unsigned char *)&v->api;
	size_t n = sizeof(*v) - offsetof(struct rpal_version, api);

	for (size_t i = 0; i < n; i++)
		if (p[i] != 0xAA)
			return false;
	return true;
}

TEST_F(dev, flags_einval)
{
	struct rpal_version v;

	fill(&v, sizeof(v));
	v.flags = 1;
	ASSERT_ERRNO(ioctl(self->fd, RPAL_IOC_VERSION, &v), EINVAL);
	ASSERT_TRUE(untouched(&v));
	v.flags = 0x80000000u;
	ASSERT_ERRNO(ioctl(self->fd, RPAL_IOC_VERSION, &v), EINVAL);
}

TEST_F(dev, resv_einval)
{
	struct rpal_version v;

	fill(&v, sizeof(v));
	v.resv[1] = 1;
	ASSERT_ERRNO(ioctl(self->fd, RPAL_IOC_VERSION, &v), EINVAL);
	ASSERT_TRUE(untouched(&v));
}

TEST_F(dev, short_size_einval)
{
	struct rpal_version v;

	for (uint32_t s = 0; s < sizeof(v); s++) {
		fill(&v, s);
		ASSERT_ERRNO(ioctl(self->fd, RPAL_IOC_VERSION, &v), EINVAL);
		ASSERT_TRUE(untouched(&v));
	}
}

TEST_F(dev, longer_struct_zero_tail_ok)
{
	struct {
		struct rpal_version v;
		uint64_t future[4];
	} big;

	memset(&big, 0, sizeof(big));
	big.v.size = sizeof(big);
	ASSERT_OK(ioctl(self->fd, RPAL_IOC_VERSION, &big));
	/* The module says how much it wrote: its own struct, no more. */
	ASSERT_EQ(big.v.size, sizeof(struct rpal_version));
	ASSERT_EQ(big.v.api, RPAL_API_VERSION);
	for (int i = 0; i < 4; i++)
		ASSERT_EQ(big.future[i], 0);
}

TEST_F(dev, longer_struct_nonzero_tail_e2big)
{
	struct {
		struct rpal_version v;
		uint64_t future[4];
	} big;

	memset(&big, 0, sizeof(big));
	big.v.size = sizeof(big);
	big.future[3] = 1;
	ASSERT_ERRNO(ioctl(self->fd, RPAL_IOC_VERSION, &big), E2BIG);
	ASSERT_EQ(big.v.api, 0);
}

TEST_F(dev, huge_size_e2big)
{
	struct rpal_version v;

	fill(&v, (uint32_t)self->page + 1);
	ASSERT_ERRNO(ioctl(self->fd, RPAL_IOC_VERSION, &v), E2BIG);
	fill(&v, 0xffffffffu);
	ASSERT_ERRNO(ioctl(self->fd, RPAL_IOC_VERSION, &v), E2BIG);
}

TEST_F(dev, bad_pointers_efault)
{
	char *pages;
	struct rpal_version *v;

	ASSERT_ERRNO(ioctl(self->fd, RPAL_IOC_VERSION, NULL), EFAULT);
	ASSERT_ERRNO(ioctl(self->fd, RPAL_IOC_VERSION, (void *)1), EFAULT);
	ASSERT_ERRNO(ioctl(self->fd, RPAL_IOC_VERSION, (void *)-4096L), EFAULT);
	/* Kernel addresses are never user pointers. */
	ASSERT_ERRNO(
		ioctl(self->fd, RPAL_IOC_VERSION, (void *)0xffffffff81000000UL),
		EFAULT);

	/* A struct straddling into an unmapped page. */
	pages = mmap(NULL, 2 * self->page, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(pages, MAP_FAILED);
	ASSERT_OK(munmap(pages + self->page, self->page));
	v = (struct rpal_version *)(pages + self->page - 16);
	memset(v, 0, 16);
	v->size = sizeof(*v);
	ASSERT_ERRNO(ioctl(self->fd, RPAL_IOC_VERSION, v), EFAULT);

	/* A read-only struct: valid input, but the answer cannot be written. */
	v = (struct rpal_version *)pages;
	memset(v, 0, sizeof(*v));
	v->size = sizeof(*v);
	ASSERT_OK(mprotect(pages, self->page, PROT_READ));
	ASSERT_ERRNO(ioctl(self->fd, RPAL_IOC_VERSION, v), EFAULT);
	munmap(pages, self->page);
}

/* The command words the module implements. */
static bool is_command(unsigned long cmd)
{
	static const unsigned long cmds[] = {
		RPAL_IOC_VERSION, RPAL_IOC_REGISTER, RPAL_IOC_UNREGISTER,
		RPAL_IOC_REQUEST, RPAL_IOC_RELEASE,  RPAL_IOC_EXEC_PLACE,
		RPAL_IOC_THREAD,  RPAL_IOC_WAIT,     RPAL_IOC_WAKE,
		RPAL_IOC_REPORT,
	};

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (cmds[i] == cmd)
			return true;
	return false;
}

TEST_F(dev, unknown_commands_enotty)
{
	static const unsigned int dirs[] = { _IOC_NONE, _IOC_READ, _IOC_WRITE,
					     _IOC_READ | _IOC_WRITE };
	static const unsigned int sizes[] = { 0,
					      8,
					      RPAL_VERSION_SIZE_VER0 - 8,
					      RPAL_VERSION_SIZE_VER0,
					      RPAL_VERSION_SIZE_VER0 + 8,
					      4096 };
	/*
	 * rpal's magic and its neighbours. Types the VFS answers itself
	 * (0: FIBMAP/FIGETBSZ, 'T': FIONBIO..., 'f', 'X': FIFREEZE...) never
	 * reach the driver, so they say nothing about it.
	 */
	static const unsigned int types[] = { RPAL_IOC_MAGIC,
					      RPAL_IOC_MAGIC - 1,
					      RPAL_IOC_MAGIC + 1, 0xAB };
	struct rpal_version v;
	unsigned int tried = 0;

	for (size_t ty = 0; ty < 4; ty++)
		for (unsigned int nr = 0; nr < 256; nr++)
			for (size_t d = 0; d < 4; d++)
				for (size_t s = 0; s < 6; s++) {
					unsigned long cmd =
						_IOC(dirs[d], types[ty], nr,
						     sizes[s]);
					long r;

					if (is_command(cmd))
						continue;
					fill(&v, sizeof(v));
					errno = 0;
					r = ioctl(self->fd, cmd, &v);
					if (r != -1 || errno != ENOTTY)
						TH_LOG("command %#lx: %ld (%s)",
						       cmd, r, strerror(errno));
					ASSERT_EQ(r, -1);
					ASSERT_EQ(errno, ENOTTY);
					ASSERT_TRUE(untouched(&v));
					tried++;
				}
	printf("# %u command words refused\n", tried);
	/* The handshake still works after all of that. */
	ASSERT_OK(rpal_version(self->fd, &v));
}
