#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Build rpal.ko against one kernel build tree, warning-free.
# Usage: tools/build-kmod.sh KDIR OUTDIR [SRCTOP]
set -euo pipefail
kdir=${1:?usage: build-kmod.sh KDIR OUTDIR [SRCTOP]}
out=${2:?usage: build-kmod.sh KDIR OUTDIR [SRCTOP]}
top=${3:-$(cd "$(dirname "$0")/.." && pwd)}

mkdir -p "$out"
# Fresh symlinks each time: files may have been added or removed.
find "$out" -maxdepth 1 -type l -delete
for f in "$top"/module/*.c "$top"/module/*.h "$top"/module/Kbuild; do
	ln -s "$f" "$out/"
done
log="$out/build.log"
# Module BTF needs the kernel's vmlinux, which header packages lack; without
# it Kbuild prints a note on every build, so it is turned off outright.
# Independent of any calling make (CMake): no jobserver or flags leak in.
unset MAKEFLAGS MFLAGS MAKELEVEL
if ! make -C "$kdir" M="$out" RPAL_TOP="$top" CONFIG_DEBUG_INFO_BTF_MODULES= \
	modules >"$log" 2>&1; then
	cat "$log" >&2
	echo "rpal.ko: build failed against $kdir" >&2
	exit 1
fi
if grep -iE 'warning|error' "$log" >&2; then
	echo "rpal.ko: the build against $kdir printed warnings (above); rpal.ko must build warning-free" >&2
	rm -f "$out/rpal.ko"
	exit 1
fi
