#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Build (once, cached) the debug kernel: Debian's linux-source-6.12 with
# KASAN, lockdep, DEBUG_VM, KFENCE and kmemleak, the only place rpal's suite
# can see lock-order bugs and memory errors (Debian's kernels have neither).
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"

usage() {
	cat <<USAGE
Usage: tools/vm/debug-kernel.sh [--print-dir] [--if-built] [--jobs N]

Builds bzImage and modules from /usr/src/linux-source-6.12.tar.xz
(package linux-source-6.12) with x86_64_defconfig plus
tools/vm/debug-kernel.config. The result is cached in
\$RPAL_CACHE/debug-kernel/<key> (default $RPAL_CACHE), keyed by the
source package version and the config fragment, so a rebuild happens
only when either changes. A full build takes about 13 minutes on 2 cores.

  --print-dir  print the cache directory of the built kernel (build first
               if needed); it holds bzImage and the O= tree for modules
  --if-built   never build: print the directory if the kernel is built,
               else exit 1
  --jobs N     parallel make jobs (default: number of CPUs)
USAGE
}

print_dir=0 if_built=0
jobs=$(nproc)
while [ $# -gt 0 ]; do
	case $1 in
	--print-dir) print_dir=1 ;;
	--if-built) if_built=1 ;;
	--jobs) jobs=${2:?--jobs needs a number}; shift ;;
	-h|--help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
	shift
done

tarball=/usr/src/linux-source-6.12.tar.xz
[ -f "$tarball" ] || rpal_die "$tarball missing: apt-get install linux-source-6.12"
srcver=$(dpkg-query -W -f='${Version}' linux-source-6.12)
frag="$RPAL_TOP/tools/vm/debug-kernel.config"
key=$( { echo "$srcver"; cat "$frag"; gcc --version | head -n1; } | sha256sum | cut -c1-16)
dir="$RPAL_CACHE/debug-kernel/$key"

if [ -f "$dir/done" ]; then
	[ $print_dir = 1 ] && echo "$dir"
	exit 0
fi
[ $if_built = 0 ] || exit 1

# One build at a time: a second caller waits for the first, then finds
# the kernel built.
mkdir -p "$RPAL_CACHE"
exec 9>"$RPAL_CACHE/debug-kernel.lock"
if ! flock -n 9; then
	rpal_log "debug kernel: another build is running; waiting for it"
	flock 9
fi
if [ -f "$dir/done" ]; then
	[ $print_dir = 1 ] && echo "$dir"
	exit 0
fi

rpal_log "debug kernel: building $srcver (key $key) in $dir, ~13 min on 2 cores"
rm -rf "$dir"
mkdir -p "$dir"
rpal_log "debug kernel: unpacking source"
tar -xf "$tarball" -C "$dir"
mv "$dir/linux-source-6.12" "$dir/src"
out="$dir/out"
mkdir -p "$out"
mk() { make -C "$dir/src" O="$out" LOCALVERSION=-rpal-debug "$@"; }
rpal_quiet "$dir/config.log" mk x86_64_defconfig
# merge_config.sh applies the fragment and reports options that did not stick.
rpal_quiet "$dir/config.log" "$dir/src/scripts/kconfig/merge_config.sh" \
	-m -O "$out" "$out/.config" "$frag"
rpal_quiet "$dir/config.log" mk olddefconfig
missing=""
while IFS= read -r line; do
	case $line in CONFIG_*=y) grep -qx "$line" "$out/.config" || missing+=" ${line%=y}" ;; esac
done <"$frag"
[ -z "$missing" ] || rpal_die "debug kernel: options did not stick:$missing"

rpal_log "debug kernel: make -j$jobs bzImage modules (log: $dir/build.log)"
start=$(date +%s)
(mk -j"$jobs" bzImage modules >"$dir/build.log" 2>&1) &
pid=$!
while kill -0 $pid 2>/dev/null; do
	sleep 30
	kill -0 $pid 2>/dev/null || break
	rpal_log "debug kernel: $(( $(date +%s) - start ))s, $(grep -c '^  CC' "$dir/build.log" || true) files compiled"
done
if ! wait $pid; then
	tail -n 40 "$dir/build.log" >&2
	rpal_die "debug kernel build failed (log: $dir/build.log)"
fi
cp "$out/arch/x86/boot/bzImage" "$dir/bzImage"
make -s -C "$dir/src" O="$out" LOCALVERSION=-rpal-debug kernelrelease >"$dir/release"
# The O= tree keeps what external module builds need; the sources are
# needed too (O= points back at them), so both stay.
touch "$dir/done"
# Only one debug kernel is kept: builds for older keys go.
for old in "$RPAL_CACHE"/debug-kernel/*; do
	[ "$old" = "$dir" ] || rm -rf "$old"
done
rpal_log "debug kernel: built $(cat "$dir/release") in $(( $(date +%s) - start ))s"
[ $print_dir = 1 ] && echo "$dir"
exit 0
