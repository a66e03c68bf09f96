#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Build and install rpal through DKMS for each target kernel, exactly as a
# user would on a real machine, boot each DKMS-built rpal.ko in the VM
# (smoke suite), then remove it from DKMS again.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"

if [ "${1:-}" = --help ] || [ "${1:-}" = -h ]; then
	echo "Usage: tools/dkms-check.sh [TARGET...]   (TARGET: 6.1, 6.12; default both)"
	exit 0
fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(6.1 6.12)
rpal_need_root "dkms-check"
ver=$(cat "$RPAL_TOP/VERSION")

# A stale registration (an interrupted earlier run) would make "add" fail.
dkms remove "rpal/$ver" --all >/dev/null 2>&1 || true
rm -rf "/usr/src/rpal-$ver"
cleanup() { dkms remove "rpal/$ver" --all >/dev/null 2>&1 || true; rm -rf "/usr/src/rpal-$ver"; }
trap cleanup EXIT

# What dkms.conf builds from: the module, the uapi header, VERSION.
mkdir -p "/usr/src/rpal-$ver"
cp -r "$RPAL_TOP/module" "$RPAL_TOP/include" "$RPAL_TOP/VERSION" "$RPAL_TOP/dkms.conf" "/usr/src/rpal-$ver/"
rpal_quiet "$RPAL_BUILD/dkms.log" dkms add "rpal/$ver"
while read -r t rel _ _; do
	rpal_log "dkms: build and install rpal/$ver for $rel"
	rpal_quiet "$RPAL_BUILD/dkms-$rel.log" dkms build "rpal/$ver" -k "$rel"
	rpal_quiet "$RPAL_BUILD/dkms-$rel.log" dkms install "rpal/$ver" -k "$rel"
	ko=$(find "/lib/modules/$rel/updates/dkms" -name 'rpal.ko*' | head -n1)
	[ -n "$ko" ] || rpal_die "dkms install left no rpal.ko under /lib/modules/$rel/updates/dkms"
	modinfo -F version "$ko" | grep -qx "$ver" || rpal_die "dkms-built $ko has the wrong version"
	case $ko in
	*.ko) cp "$ko" "$RPAL_BUILD/dkms-rpal-$rel.ko" ;;
	*.ko.xz) xz -dc "$ko" >"$RPAL_BUILD/dkms-rpal-$rel.ko" ;;
	*.ko.zst) zstd -qdc "$ko" >"$RPAL_BUILD/dkms-rpal-$rel.ko" ;;
	*) rpal_die "unexpected module file $ko" ;;
	esac
	"$RPAL_TOP/tools/vm/rpal-vm" --kernel "$t" --suite smoke --name "dkms-$t" \
		--ko "$RPAL_BUILD/dkms-rpal-$rel.ko"
done < <("$RPAL_TOP/tools/vm/kernels.sh" "${targets[@]}")
rpal_log "dkms: rpal/$ver built, installed, booted and removed for ${targets[*]}"
