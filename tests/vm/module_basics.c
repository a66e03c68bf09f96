// SPDX-License-Identifier: MIT
/*
 * The module's first contract: /dev/rpal exists with mode 0666 and
 * RPAL_IOC_VERSION reports the API, the version and exactly the features
 * the guest kernel enabled.
 */
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <rpal/version.h>

#include "vmtest.h"

TEST(device_node)
{
	struct stat st;

	ASSERT_OK(stat(RPAL_DEVICE_PATH, &st));
	ASSERT_TRUE(S_ISCHR(st.st_mode));
	ASSERT_EQ(st.st_mode & 07777, 0666);
	/* misc devices have major 10 */
	ASSERT_EQ(major(st.st_rdev), 10);
}

TEST(version_answers)
{
	struct rpal_version v;
	int fd = rpal_open();

	ASSERT_GE(fd, 0);
	ASSERT_OK(rpal_version(fd, &v));
	ASSERT_EQ(v.size, sizeof(v));
	ASSERT_EQ(v.api, RPAL_API_VERSION);
	ASSERT_EQ(v.pad, 0);
	ASSERT_EQ(v.module_version, ((uint64_t)RPAL_VERSION_MAJOR << 32) |
					    (RPAL_VERSION_MINOR << 16) |
					    RPAL_VERSION_PATCH);
	ASSERT_TRUE(v.commands & (1ULL << RPAL_IOC_NR_VERSION));
	ASSERT_FALSE(v.commands & 1); /* number 0 is never a command */
	close(fd);
}

TEST(features_match_cpuinfo)
{
	struct rpal_version v;
	int fd = rpal_open();

	ASSERT_GE(fd, 0);
	ASSERT_OK(rpal_version(fd, &v));
	/* PKU is usable when the CPU has it and the kernel turned it on. */
	EXPECT_EQ(!!(v.features & RPAL_FEAT_PKU),
		  cpuinfo_has("pku") && cpuinfo_has("ospke"));
	EXPECT_EQ(!!(v.features & RPAL_FEAT_LA57), cpuinfo_has("la57"));
	EXPECT_EQ(!!(v.features & RPAL_FEAT_FSGSBASE), cpuinfo_has("fsgsbase"));
	EXPECT_EQ(!!(v.features & RPAL_FEAT_PTI), cpuinfo_has("pti"));
	EXPECT_TRUE(v.features & RPAL_FEAT_SYSCALL_USER_DISPATCH);
	printf("# features %#llx pku=%d la57=%d pti=%d\n",
	       (unsigned long long)v.features, cpuinfo_has("pku"),
	       cpuinfo_has("la57"), cpuinfo_has("pti"));
	close(fd);
}

TEST(fdinfo_reports_api)
{
	char path[64], buf[4096];
	int fd = rpal_open();
	ssize_t n;
	int info;

	ASSERT_GE(fd, 0);
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	info = open(path, O_RDONLY);
	ASSERT_GE(info, 0);
	n = read(info, buf, sizeof(buf) - 1);
	ASSERT_GT(n, 0);
	buf[n] = 0;
	ASSERT_TRUE(strstr(buf, "rpal-api:\t1\n"));
	ASSERT_TRUE(strstr(buf, "rpal-features:\t"));
	close(info);
	close(fd);
}

TEST(many_opens)
{
	int fds[256];

	for (int i = 0; i < 256; i++) {
		fds[i] = rpal_open();
		ASSERT_GE(fds[i], 0);
	}
	for (int i = 0; i < 256; i++)
		ASSERT_OK(close(fds[i]));
}
