#!/usr/bin/env bash
# scripts/build.sh VARIANT: configure and build a test kernel, its uapi
# headers and the selftests.  Rust is compiled through clippy
# (CLIPPY=1) so lints are part of every build.  A warning from the
# compiler or clippy in a file this repository adds or patches fails
# the build: warnings in our code are errors.
set -euo pipefail
. "$(dirname "$0")/env.sh"

variant=${1:-normal}
out=$(out_dir "$variant")
"$TOP/scripts/config.sh" "$variant"

log="$out/build.log"
echo "build: $variant kernel (log: $log)"
start=$(date +%s)
if ! kmake "$out" CLIPPY=1 -j"$JOBS" bzImage headers >"$log" 2>&1; then
	grep -E 'error|Error' -A5 "$log" | head -n 80 >&2
	echo "build: $variant kernel failed, see $log" >&2
	exit 1
fi

# Files this repository owns or changes, as paths in the kernel tree.
ours=$(
	cd "$TOP"
	for d in rust io_uring include fs mm; do
		[ -d "$d" ] && find "$d" -type f
	done
	sed -n 's|^+++ b/||p' patches/*.patch 2>/dev/null
)
pattern=$(printf '%s\n' "$ours" | sort -u | sed 's/[.]/\\./g' | paste -sd'|')
# make -s prints nothing for a clean file, so any diagnostic location
# naming one of our files (C "path:line:" or rustc/clippy "--> path:line")
# is a warning in our code.
if [ -n "$pattern" ] && grep -qE "(^|--> |/)($pattern):[0-9]+" "$log"; then
	echo "build: warnings in our files:" >&2
	grep -nE -B6 -A8 "(^|--> |/)($pattern):[0-9]+" "$log" | head -n 150 >&2
	exit 1
fi
echo "build: $variant kernel ok in $(($(date +%s) - start)) s"
