#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Style gates: the module passes the kernel's checkpatch.pl (from Debian's
# linux-source-6.12) with no errors or warnings; userspace C is exactly
# as clang-format (.clang-format) lays it out.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"

if [ "${1:-}" = --help ] || [ "${1:-}" = -h ]; then
	echo "Usage: tools/lint.sh   (checkpatch on module/, clang-format on userspace C)"
	exit 0
fi

tarball=/usr/src/linux-source-6.12.tar.xz
[ -f "$tarball" ] || rpal_die "$tarball missing: apt-get install linux-source-6.12"
ver=$(dpkg-query -W -f='${Version}' linux-source-6.12)
cp_dir="$RPAL_CACHE/checkpatch/$ver"
if [ ! -x "$cp_dir/scripts/checkpatch.pl" ]; then
	rpal_log "lint: extracting checkpatch.pl from linux-source-6.12 $ver"
	mkdir -p "$cp_dir"
	tar -xf "$tarball" -C "$cp_dir" --strip-components=1 \
		linux-source-6.12/scripts/checkpatch.pl \
		linux-source-6.12/scripts/spelling.txt \
		linux-source-6.12/scripts/const_structs.checkpatch
fi

fail=0
cd "$RPAL_TOP"
# --no-tree: checking files, not a kernel tree. SPDX_LICENSE_TAG and
# FILE_PATH_CHANGES concern in-tree patches only.
if ! "$cp_dir/scripts/checkpatch.pl" --no-tree --strict --quiet --terse \
	--ignore FILE_PATH_CHANGES,SPDX_LICENSE_TAG \
	-f module/*.c module/*.h include/uapi/rpal.h; then
	echo "lint: checkpatch found problems in module/ (above)" >&2
	fail=1
fi

mapfile -t cfiles < <(git ls-files -co --exclude-standard '*.c' '*.h' | grep -v '^module/' | grep -v '^include/uapi/')
bad=()
for f in "${cfiles[@]}"; do
	clang-format --style=file "$f" | cmp -s - "$f" || bad+=("$f")
done
if [ ${#bad[@]} -gt 0 ]; then
	echo "lint: not clang-formatted (run clang-format -i):" "${bad[@]}" >&2
	fail=1
fi
[ $fail = 0 ] && rpal_log "lint: checkpatch and clang-format clean"
exit $fail
