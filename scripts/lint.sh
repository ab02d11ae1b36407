#!/usr/bin/env bash
# scripts/lint.sh: rustfmt on our Rust, checkpatch --strict on our patches
# and new files. (clippy runs in every kernel build: scripts/build.sh.)
# Each check is one result in build/lint.json for the summary.
set -uo pipefail
. "$(dirname "$0")/env.sh"
cd "$TOP"

passed=() failed=()
check() {
	local name=$1
	shift
	local out
	if out=$("$@" 2>&1); then
		passed+=("$name")
	else
		failed+=("$name")
		echo "--- FAIL: lint/$name"
		sed 's/^/    /' <<<"$out" | head -n 60
	fi
}

mapfile -t rs < <(git ls-files '*.rs')
if [ ${#rs[@]} -gt 0 ]; then
	check rustfmt rustfmt --check --edition 2021 --config-path "$SRC/.rustfmt.toml" "${rs[@]}"
fi

# checkpatch runs in the assembled kernel tree, as a reviewer would run it.
# The stored patches carry no Signed-off-by: `make rfc` adds the sender's.
# spdxcheck needs Debian's python3 (python3-ply), not a python3 earlier on PATH.
export PATH=/usr/bin:$PATH
cp=(scripts/checkpatch.pl --strict --quiet --ignore MISSING_SIGN_OFF)
for p in patches/*.patch; do
	check "checkpatch/$(basename "$p")" bash -c 'cd "$1" && shift && "$@"' _ "$SRC" "${cp[@]}" "$TOP/$p"
done
mapfile -t new < <(git ls-files -- rust io_uring include fs mm tools | grep -E '\.(c|h|rs)$')
for f in "${new[@]}"; do
	extra=()
	# User-space tests cannot use the kernel's BIT() macro.
	[[ $f == tools/* ]] && extra=(--ignore BIT_MACRO)
	check "checkpatch/$f" bash -c 'cd "$1" && shift && "$@"' _ "$SRC" "${cp[@]}" "${extra[@]}" -f "$TOP/$f"
done

python3 - "$BUILD/lint.json" "${#failed[@]}" "${passed[@]}" -- "${failed[@]}" <<'PY'
import json, sys
out, nf, rest = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
i = rest.index('--')
json.dump({'variant': 'lint', 'passed': rest[:i], 'skipped': [],
           'failed': [{'name': n, 'log': []} for n in rest[i + 1:]]}, open(out, 'w'))
PY
echo "lint: ${#passed[@]} passed, ${#failed[@]} failed"
[ ${#failed[@]} -eq 0 ]
