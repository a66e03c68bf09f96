// SPDX-License-Identifier: MIT
/*
 * rpal-run: start a program wholly inside an rpal slot.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <rpal/rpal.h>
#include <uapi/rpal.h>

static void usage(FILE *f)
{
	fputs("NAME\n"
	      "    rpal-run - start a program wholly inside an rpal slot\n"
	      "\n"
	      "SYNOPSIS\n"
	      "    rpal-run [--name NAME] [--verbose] [--] PROGRAM [ARG...]\n"
	      "\n"
	      "DESCRIPTION\n"
	      "    Asks rpal.ko to place the next exec of this process in a\n"
	      "    fresh 512 GiB slot, then executes PROGRAM (searched in "
	      "PATH\n"
	      "    like a shell does). Everything the program maps lands in "
	      "the\n"
	      "    slot: executable, dynamic loader, libraries, heap, thread\n"
	      "    stacks, TLS, vDSO, and every later mapping. When the "
	      "program\n"
	      "    registers as a service (RPAL_IOC_REGISTER, or rpal_init()\n"
	      "    from librpal-rt) it keeps that slot, so all of its memory\n"
	      "    can be shared with its peers.\n"
	      "\n"
	      "    PROGRAM must be position-independent (ET_DYN: built with\n"
	      "    -fPIE -pie, the default on Debian); a script runs with its\n"
	      "    interpreter placed. Non-PIE executables cannot move and "
	      "are\n"
	      "    refused.\n"
	      "\n"
	      "OPTIONS\n"
	      "    -n, --name NAME  the service name the program registers\n"
	      "                     under if it gives none (default: its\n"
	      "                     command name)\n"
	      "    -v, --verbose    print the slot on stderr before the exec\n"
	      "    -h, --help       this text\n"
	      "\n"
	      "EXIT STATUS\n"
	      "    PROGRAM's own; 126 if PROGRAM cannot be run in a slot (not "
	      "a\n"
	      "    PIE, or rpal.ko is missing); 127 if PROGRAM is not found;\n"
	      "    2 bad usage.\n",
	      f);
}

/* Find @prog like execvp() would, into @out. */
static int resolve(const char *prog, char *out, size_t len)
{
	const char *path = getenv("PATH");
	const char *p, *end;

	if (strchr(prog, '/')) {
		snprintf(out, len, "%s", prog);
		return access(out, X_OK) ? -errno : 0;
	}
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path; *p; p = *end ? end + 1 : end) {
		end = strchr(p, ':');
		if (!end)
			end = p + strlen(p);
		snprintf(out, len, "%.*s/%s", (int)(end - p),
			 end == p ? "." : p, prog);
		if (!access(out, X_OK))
			return 0;
	}
	return -ENOENT;
}

/*
 * Explain, before exec, why a program cannot be placed: the module refuses
 * the same programs (ENOEXEC), but cannot say why.
 */
static int check_elf(const char *path)
{
	unsigned char buf[sizeof(Elf64_Ehdr)];
	const Elf64_Ehdr *eh = (const void *)buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0) {
		fprintf(stderr, "rpal-run: %s: %s\n", path, strerror(errno));
		return -1;
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n >= 2 && buf[0] == '#' && buf[1] == '!')
		return 0; /* the interpreter is what gets placed */
	if (n < (ssize_t)sizeof(buf) || memcmp(eh->e_ident, ELFMAG, SELFMAG)) {
		fprintf(stderr, "rpal-run: %s is not an ELF program\n", path);
		return -1;
	}
	if (eh->e_ident[EI_CLASS] != ELFCLASS64) {
		fprintf(stderr, "rpal-run: %s is not a 64-bit program\n", path);
		return -1;
	}
	if (eh->e_type != ET_DYN) {
		fprintf(stderr,
			"rpal-run: %s is not position-independent (ELF type "
			"%s): it cannot be moved into a slot; rebuild it with "
			"-fPIE -pie\n",
			path, eh->e_type == ET_EXEC ? "EXEC" : "other");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct rpal_exec_place ep;
	const char *name = "";
	char path[4096];
	int opt, fd, ret, verbose = 0;

	while ((opt = getopt_long(argc, argv, "+n:vh", opts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			name = optarg;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	if (strlen(name) >= RPAL_NAME_LEN) {
		fprintf(stderr, "rpal-run: --name is longer than %d bytes\n",
			RPAL_NAME_LEN - 1);
		return 2;
	}
	ret = resolve(argv[optind], path, sizeof(path));
	if (ret) {
		fprintf(stderr, "rpal-run: %s: %s\n", argv[optind],
			strerror(-ret));
		return 127;
	}
	if (check_elf(path))
		return 126;

	fd = open(RPAL_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		fprintf(stderr, "rpal-run: %s\n", rpal_error_hint(ret));
		return 126;
	}
	memset(&ep, 0, sizeof(ep));
	ep.size = sizeof(ep);
	snprintf((char *)ep.name, sizeof(ep.name), "%s", name);
	if (ioctl(fd, RPAL_IOC_EXEC_PLACE, &ep)) {
		fprintf(stderr, "rpal-run: cannot place %s in a slot: %s\n",
			path, strerror(errno));
		return 126;
	}
	if (verbose)
		fprintf(stderr, "rpal-run: %s in slot %#llx-%#llx\n", path,
			(unsigned long long)ep.slot_base,
			(unsigned long long)(ep.slot_base + ep.slot_size));
	/* The fd closes in the exec; the placement is already under way. */
	execv(path, argv + optind);
	ret = errno;
	fprintf(stderr, "rpal-run: %s: %s%s\n", path, strerror(ret),
		ret == ENOEXEC ? " (rpal.ko refused it: not a PIE?)" : "");
	return ret == ENOENT ? 127 : 126;
}
