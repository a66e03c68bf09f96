#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Resolve, fetch and cache Debian's guest kernels for the VM tests.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"

usage() {
	cat <<USAGE
Usage: tools/vm/kernels.sh [--fetch] TARGET...

TARGET is 6.1 (Debian's linux-image-amd64) or 6.12 (linux-image-6.12-amd64,
same archive). The newest release of each is taken from apt's metadata at
the time of the call; no point release is hard-coded.

Prints one line per target: TARGET RELEASE VMLINUZ KDIR

Besides vmlinuz, the cache holds the modules the guest loads from the same
package (zram and what it depends on, for a swap device), decompressed,
with their load order in modules/order.

  --fetch   install the matching linux-headers package (for building
            rpal.ko) and download and unpack the kernel image into
            \$RPAL_CACHE/kernels/RELEASE/ (default $RPAL_CACHE); without it,
            only targets already fetched are printed, others are an error.
USAGE
}

fetch=0
targets=()
while [ $# -gt 0 ]; do
	case $1 in
	--fetch) fetch=1 ;;
	-h|--help) usage; exit 0 ;;
	6.1|6.12) targets+=("$1") ;;
	*) usage >&2; exit 2 ;;
	esac
	shift
done
[ ${#targets[@]} -gt 0 ] || { usage >&2; exit 2; }

meta_of() {
	case $1 in
	6.1) echo linux-image-amd64 ;;
	6.12) echo linux-image-6.12-amd64 ;;
	esac
}

# The concrete image package a meta package points at, e.g.
# linux-image-6.1.0-56-amd64; the release is the part after linux-image-.
resolve() {
	local meta=$1 dep
	dep=$(apt-cache depends "$meta" 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[^ ]*\)$/\1/p' | head -n1)
	[ -n "$dep" ] || rpal_die "cannot resolve $meta: run apt-get update"
	echo "${dep#linux-image-}"
}

# Copy module NAME and its dependencies out of an unpacked /lib/modules/REL
# into OUT (decompressed), dependencies first, their order in OUT/order.
extract_modules() {
	local tree=$1 out=$2 name=$3 file dep
	rm -rf "$out"
	mkdir -p "$out"
	: >"$out/order"
	add_module() {
		local m=$1
		grep -qx "$m" "$out/order" && return 0
		file=$(find "$tree/kernel" -name "$m.ko*" | head -n1)
		[ -n "$file" ] || rpal_die "module $m not in the package"
		case $file in
		*.ko.xz) xz -dc "$file" >"$out/$m.ko" ;;
		*.ko.zst) zstd -qdc "$file" >"$out/$m.ko" ;;
		*) cp "$file" "$out/$m.ko" ;;
		esac
		for dep in $(modinfo -F depends "$out/$m.ko" | tr , ' '); do
			add_module "$dep"
		done
		echo "$m" >>"$out/order"
	}
	add_module "$name"
}

for t in "${targets[@]}"; do
	rel=$(resolve "$(meta_of "$t")")
	dir="$RPAL_CACHE/kernels/$rel"
	kdir="/lib/modules/$rel/build"
	if [ $fetch = 1 ]; then
		if [ ! -e "$kdir/include/generated/utsrelease.h" ]; then
			rpal_log "kernels: installing linux-headers-$rel"
			rpal_quiet "$RPAL_CACHE/apt-headers.log" env DEBIAN_FRONTEND=noninteractive \
				apt-get install -y --no-install-recommends "linux-headers-$rel"
		fi
		if [ ! -f "$dir/vmlinuz" ] || [ ! -f "$dir/modules/order" ]; then
			rpal_log "kernels: fetching linux-image-$rel"
			tmp=$(mktemp -d "$RPAL_CACHE/dl.XXXXXX")
			(cd "$tmp" && rpal_quiet "$tmp/download.log" apt-get download "linux-image-$rel")
			mkdir -p "$dir" "$tmp/x"
			dpkg-deb -x "$tmp"/linux-image-*.deb "$tmp/x"
			extract_modules "$tmp/x/lib/modules/$rel" "$dir/modules" zram
			cp "$tmp/x/boot/vmlinuz-$rel" "$dir/vmlinuz.tmp"
			mv "$dir/vmlinuz.tmp" "$dir/vmlinuz"
			rm -rf "$tmp"
		fi
	fi
	[ -f "$dir/vmlinuz" ] || rpal_die "kernel $t ($rel) not fetched: run tools/vm/kernels.sh --fetch $t"
	[ -e "$kdir" ] || rpal_die "headers for $rel missing: run tools/vm/kernels.sh --fetch $t"
	echo "$t $rel $dir/vmlinuz $kdir"
done
