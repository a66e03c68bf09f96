// SPDX-License-Identifier: MIT
/*
 * Exec placement: rpal-run and RPAL_IOC_EXEC_PLACE put a whole program
 * in a slot (checked from inside by maps_probe); non-PIE programs are
 * refused; arming is undone by closing the fd; a placement whose process
 * exits gives its slot back; the ELF marker works when enabled.
 */
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "peer.h"
#include "vmtest.h"

#define PROBE "/rpal/tests/maps_probe"
#define RPAL_RUN "/rpal/bin/rpal-run"

/* Run argv; exit status (or 128 + signal); stderr into err if given. */
static int run(char *const argv[], char *err, size_t errlen)
{
	int p[2], status;
	pid_t pid;
	ssize_t n = 0;

	if (pipe(p))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		fflush(stdout);
		dup2(p[1], 2);
		execv(argv[0], argv);
		_exit(99);
	}
	close(p[1]);
	if (err) {
		n = read(p[0], err, errlen - 1);
		err[n > 0 ? n : 0] = 0;
	}
	close(p[0]);
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int place(int fd, const char *name)
{
	struct rpal_exec_place e;

	memset(&e, 0, sizeof(e));
	e.size = sizeof(e);
	snprintf((char *)e.name, sizeof(e.name), "%s", name);
	return ioctl(fd, RPAL_IOC_EXEC_PLACE, &e) ? -errno : 0;
}

static int count_placements(void)
{
	FILE *f = fopen("/sys/kernel/debug/rpal/services", "r");
	char line[256];
	int n = 0;

	while (f && fgets(line, sizeof(line), f))
		n += !strncmp(line, "placed ", 7);
	if (f)
		fclose(f);
	return n;
}

TEST(rpal_run_places_everything)
{
	/* --dump: the layout goes into the log, for the reader. */
	char *argv[] = { RPAL_RUN, "--name",	 "placed", PROBE,
			 "--dump", "--register", "placed", NULL };
	char err[512];

	ASSERT_EQ(run(argv, err, sizeof(err)), 0);
}

TEST(unregistered_placement_gives_slot_back)
{
	char *argv[] = { RPAL_RUN, PROBE, NULL };

	ASSERT_EQ(run(argv, NULL, 0), 0);
	/* Reaped when next looked at: the process is gone. */
	ASSERT_EQ(count_placements(), 0);
}

TEST(rpal_run_refuses_non_pie)
{
	char *argv[] = { RPAL_RUN, "/bin/busybox", "true", NULL };
	char err[512];

	ASSERT_EQ(run(argv, err, sizeof(err)), 126);
	EXPECT_TRUE(strstr(err, "not position-independent") != NULL);
	ASSERT_EQ(count_placements(), 0);
}

TEST(module_refuses_non_pie_exec)
{
	int status;
	pid_t pid = fork();

	ASSERT_GE(pid, 0);
	if (pid == 0) {
		int fd = rpal_open();

		if (fd < 0 || place(fd, "x"))
			_exit(30);
		if (place(fd, "again") != -EALREADY)
			_exit(31);
		/* busybox is not a PIE: the exec fails, cleanly. */
		execl("/bin/busybox", "true", (char *)NULL);
		if (errno != ENOEXEC)
			_exit(32);
		/* Still armed: a PIE now lands in the slot. */
		execl(PROBE, PROBE, (char *)NULL);
		_exit(33);
	}
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(closing_the_fd_disarms)
{
	int status;
	pid_t pid = fork();

	ASSERT_GE(pid, 0);
	if (pid == 0) {
		int fd = rpal_open();

		if (fd < 0 || place(fd, "x"))
			_exit(30);
		close(fd);
		execl(PROBE, PROBE, "--unplaced", (char *)NULL);
		_exit(33);
	}
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(WEXITSTATUS(status), 0);
	ASSERT_EQ(count_placements(), 0);
}

TEST(bad_exec_place_input)
{
	struct rpal_exec_place e;
	int fd = rpal_open();

	ASSERT_GE(fd, 0);
	memset(&e, 0, sizeof(e));
	e.size = sizeof(e);
	e.flags = 1;
	ASSERT_ERRNO(ioctl(fd, RPAL_IOC_EXEC_PLACE, &e), EINVAL);
	e.flags = 0;
	memset(e.name, 'y', sizeof(e.name));
	ASSERT_ERRNO(ioctl(fd, RPAL_IOC_EXEC_PLACE, &e), EINVAL);
	memset(&e, 0, sizeof(e));
	e.size = 8;
	ASSERT_ERRNO(ioctl(fd, RPAL_IOC_EXEC_PLACE, &e), EINVAL);
	ASSERT_ERRNO(ioctl(fd, RPAL_IOC_EXEC_PLACE, (void *)16), EFAULT);
	close(fd);
}

/* Copy of maps_probe with e_ident[12..15] = "RPAL". */
static int make_marked(const char *path)
{
	static char buf[4 << 20];
	int in = open(PROBE, O_RDONLY), out;
	ssize_t n = read(in, buf, sizeof(buf));

	close(in);
	if (n <= 16)
		return -1;
	memcpy(buf + 12, "RPAL", 4);
	out = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	if (out < 0 || write(out, buf, n) != n)
		return -1;
	close(out);
	return 0;
}

TEST(elf_marker_when_enabled)
{
	char *marked[] = { "/tmp/marked_probe", NULL };
	char *unplaced[] = { "/tmp/marked_probe", "--unplaced", NULL };

	ASSERT_EQ(make_marked("/tmp/marked_probe"), 0);
	/* Off by default: the marker means nothing. */
	ASSERT_EQ(run(unplaced, NULL, 0), 0);
	ASSERT_EQ(rpal_module_reload("elf_marker=1"), 0);
	EXPECT_EQ(run(marked, NULL, 0), 0);
	EXPECT_EQ(count_placements(), 0);
	/* Back to the default, for the tests after this one. */
	ASSERT_EQ(rpal_module_reload(""), 0);
	EXPECT_EQ(run(unplaced, NULL, 0), 0);
}
