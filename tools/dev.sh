#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README's entry point: install what is missing, build, demo, test.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"

usage() {
	cat <<USAGE
NAME
    dev.sh - set up, build, demonstrate and test rpal on Debian 12

SYNOPSIS
    tools/dev.sh deps | build | demo | test | vm-matrix | help

COMMANDS
    deps       apt-get install what is missing; fetch Debian's 6.1 and 6.12
               guest kernels and their headers (newest in the archive)
    build      deps, then configure and build everything in $RPAL_BUILD:
               librpal-rt.a, tools, tests, and rpal.ko for 6.1, 6.12 and
               (if built) the debug kernel
    demo       build, then boot Debian's 6.12 kernel in QEMU, load rpal.ko,
               show what it reports, and run the seed's experiment
               (rpal-demo): 1,000,000 32-byte messages over epoll + a
               Unix socket, then as RPAL calls, side by side (emulated
               timings: compare the ratio; a few minutes)
    test       everything CI runs: build (including the debug kernel,
               cached after the first ~15-25 minutes), lint (checkpatch,
               clang-format), native unit tests (ctest), DKMS build and
               install for both kernels, the VM matrix (6.1 and 6.12 x
               4/5-level paging x PKU on/off, pti=on), and the full suite
               on the debug kernel (KASAN, lockdep, kmemleak)
    vm-matrix  only the VM matrix (after build)

ENVIRONMENT
    RPAL_CACHE  downloads, guest kernels, debug kernel (default /var/cache/rpal)
    RPAL_BUILD  build directory (default <source>/build)

Must run as root (apt-get, DKMS). Requires Debian 12 (bookworm) on x86_64.
USAGE
}

# Everything the build and the tests use, from Debian's archive.
PACKAGES=(build-essential cmake pkg-config file cpio gzip xz-utils zstd kmod
	qemu-system-x86 busybox-static dkms linux-source-6.12
	flex bison bc libelf-dev libssl-dev clang-format
	liburing-dev gnuplot-nox linux-perf)

stage_start=0
stage() { stage_start=$(date +%s); rpal_log "== $*"; }
stage_done() { rpal_log "== done in $(( $(date +%s) - stage_start ))s"; }

deps() {
	rpal_need_root "tools/dev.sh deps"
	local missing=() p
	stage "deps: apt packages and guest kernels"
	mkdir -p "$RPAL_CACHE"
	rpal_quiet "$RPAL_CACHE/apt-update.log" apt-get update
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		rpal_log "installing: ${missing[*]}"
		rpal_quiet "$RPAL_CACHE/apt-install.log" env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y --no-install-recommends "${missing[@]}"
	fi
	"$RPAL_TOP/tools/vm/kernels.sh" --fetch 6.1 6.12 >/dev/null
	stage_done
}

kdirs() {
	local dirs="" t rel vmlinuz kdir ddir
	while read -r t rel vmlinuz kdir; do dirs="$dirs${dirs:+;}$kdir"; done \
		< <("$RPAL_TOP/tools/vm/kernels.sh" 6.1 6.12)
	if ddir=$("$RPAL_TOP/tools/vm/debug-kernel.sh" --print-dir --if-built 2>/dev/null) && [ -n "$ddir" ]; then
		dirs="$dirs;$ddir/out"
	fi
	echo "$dirs"
}

build() {
	stage "build: cmake in $RPAL_BUILD"
	cmake -S "$RPAL_TOP" -B "$RPAL_BUILD" -DRPAL_KDIRS="$(kdirs)" >"$RPAL_CACHE/cmake.log" ||
		{ cat "$RPAL_CACHE/cmake.log" >&2; rpal_die "cmake configure failed"; }
	cmake --build "$RPAL_BUILD" -j "$(nproc)" >"$RPAL_BUILD/build.log" 2>&1 ||
		{ tail -n 60 "$RPAL_BUILD/build.log" >&2; rpal_die "build failed (log: $RPAL_BUILD/build.log)"; }
	stage_done
}

cmd=${1:-help}
case $cmd in
deps) deps ;;
build) deps; build ;;
demo)
	deps
	build
	stage "demo: Debian 6.12 in QEMU"
	"$RPAL_TOP/tools/vm/rpal-vm" --kernel 6.12 --demo
	stage_done
	;;
test)
	t0=$(date +%s)
	deps
	stage "debug kernel (cached after the first build)"
	"$RPAL_TOP/tools/vm/debug-kernel.sh"
	stage_done
	build
	stage "lint"
	"$RPAL_TOP/tools/lint.sh"
	stage_done
	stage "native unit tests (ctest)"
	ctest --test-dir "$RPAL_BUILD" --output-on-failure -j "$(nproc)"
	stage_done
	stage "DKMS: build, install and boot for 6.1 and 6.12"
	"$RPAL_TOP/tools/dkms-check.sh"
	stage_done
	stage "VM matrix and debug kernel"
	"$RPAL_TOP/tools/vm/matrix.sh" --with-debug
	stage_done
	rpal_log "all tests passed in $(( $(date +%s) - t0 ))s"
	;;
vm-matrix) "$RPAL_TOP/tools/vm/matrix.sh" --with-debug ;;
help|-h|--help) usage ;;
*) usage >&2; exit 2 ;;
esac
