// SPDX-License-Identifier: MIT
/*
 * An open /dev/rpal holds the module: rmmod is refused while any fd is
 * open and works once the last one is closed. The module is loaded again
 * at the end so the runner's own rmmod check still applies.
 */
#include <stdlib.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "vmtest.h"

static long delete_module(const char *name)
{
	return syscall(SYS_delete_module, name, O_NONBLOCK);
}

static long load_module(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	long ret;

	if (fd < 0)
		return -1;
	ret = syscall(SYS_finit_module, fd, "", 0);
	close(fd);
	return ret;
}

TEST(open_fd_holds_module)
{
	int fd = rpal_open(), fd2;
	struct rpal_version v;

	ASSERT_GE(fd, 0);
	ASSERT_ERRNO(delete_module("rpal"), EWOULDBLOCK);
	/* A dup of the fd holds it just the same. */
	fd2 = dup(fd);
	ASSERT_GE(fd2, 0);
	ASSERT_OK(close(fd));
	ASSERT_ERRNO(delete_module("rpal"), EWOULDBLOCK);
	ASSERT_OK(rpal_version(fd2, &v));
	ASSERT_OK(close(fd2));

	ASSERT_OK(delete_module("rpal"));
	ASSERT_ERRNO(access(RPAL_DEVICE_PATH, F_OK), ENOENT);
	ASSERT_OK(load_module(RPAL_VM_KO_PATH));
	fd = rpal_open();
	ASSERT_GE(fd, 0);
	ASSERT_OK(rpal_version(fd, &v));
	close(fd);
}

TEST(fd_held_by_killed_child)
{
	int pipefd[2];
	pid_t pid;
	char c;

	ASSERT_OK(pipe(pipefd));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		int fd = rpal_open();

		if (fd < 0)
			_exit(1);
		if (write(pipefd[1], "x", 1) != 1)
			_exit(1);
		pause();
	}
	ASSERT_EQ(read(pipefd[0], &c, 1), 1);
	ASSERT_ERRNO(delete_module("rpal"), EWOULDBLOCK);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	ASSERT_OK(delete_module("rpal"));
	ASSERT_OK(load_module(RPAL_VM_KO_PATH));
}
