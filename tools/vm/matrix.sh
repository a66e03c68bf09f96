#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Run the in-VM suite across rpal's target configurations.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"

usage() {
	cat <<USAGE
Usage: tools/vm/matrix.sh [--with-debug] [--only NAME]... [--list]

Boots every configuration below and runs its suite with tools/vm/rpal-vm;
prints a summary table (time to boot and run each). Exit status 1 if any
configuration failed.

  --with-debug  also run the full suite on the debug kernel (KASAN, lockdep,
                kmemleak; built by tools/vm/debug-kernel.sh, cached)
  --only NAME   run only the named configuration (repeatable)
  --list        print the configurations and exit

Configurations (name: kernel, paging, protection keys, extra, suite):
$(print_configs | sed 's/^/  /')
USAGE
}

# name kernel rpal-vm-flags suite. Full suites where the design differs
# most (5-level vs 4-level, each kernel's TLB/notifier code, PTI's user
# copy of top-level entries); smoke runs elsewhere.
configs() {
	cat <<'CONFIGS'
6.1-la57-pku        6.1   -                       full
6.12-4level-pku     6.12  --no-la57               full
6.12-4level-pku-pti 6.12  --no-la57,--append=pti=on full
6.1-4level-pku-pti  6.1   --no-la57,--append=pti=on smoke
6.1-4level-pku      6.1   --no-la57               smoke
6.1-la57-nopku      6.1   --no-pku                smoke
6.1-4level-nopku    6.1   --no-la57,--no-pku      smoke
6.12-la57-pku       6.12  -                       smoke
6.12-la57-nopku     6.12  --no-pku                smoke
6.12-4level-nopku   6.12  --no-la57,--no-pku      smoke
CONFIGS
}
print_configs() { configs | awk '{ printf "%-20s %-5s %-28s %s\n", $1, $2, $3, $4 }'; }

with_debug=0 only=()
while [ $# -gt 0 ]; do
	case $1 in
	--with-debug) with_debug=1 ;;
	--only) only+=("${2:?}"); shift ;;
	--list) print_configs; exit 0 ;;
	-h|--help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
	shift
done

rows=() failed=0
run() {
	local name=$1 kernel=$2 flags=$3 suite=$4 args=() start verdict
	if [ ${#only[@]} -gt 0 ] && ! printf '%s\n' "${only[@]}" | grep -qx "$name"; then
		return 0
	fi
	if [ "$flags" != - ]; then
		IFS=, read -r -a fl <<<"$flags"
		for f in "${fl[@]}"; do
			case $f in
			--append=*) args+=(--append "${f#--append=}") ;;
			*) args+=("$f") ;;
			esac
		done
	fi
	start=$(date +%s)
	if "$RPAL_TOP/tools/vm/rpal-vm" --kernel "$kernel" --suite "$suite" --name "$name" "${args[@]}"; then
		verdict=pass
	else
		verdict=FAIL
		failed=$((failed + 1))
	fi
	rows+=("$(printf '%-22s %-6s %-5s %4ss' "$name" "$suite" "$verdict" $(( $(date +%s) - start )))")
}

while read -r name kernel flags suite; do
	run "$name" "$kernel" "$flags" "$suite"
done < <(configs)
[ $with_debug = 0 ] || run debug-la57-pku debug - full

echo
echo "configuration          suite  result time"
printf '%s\n' "${rows[@]}"
[ $failed -eq 0 ] || rpal_die "$failed configuration(s) failed"
