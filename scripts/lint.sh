#!/usr/bin/env bash
# scripts/lint.sh: rustfmt on our Rust, checkpatch --strict on the series as
# exported by scripts/rfc.sh. (clippy runs in every kernel build:
# scripts/build.sh.)
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

mapfile -t rs < <(git ls-files -- 'rust/*.rs' 'io_uring/*.rs' 'fs/*.rs' 'mm/*.rs')
if [ ${#rs[@]} -gt 0 ]; then
	check rustfmt rustfmt --check --edition 2021 --config-path "$SRC/.rustfmt.toml" "${rs[@]}"
fi

# The benchmark is an ordinary cargo crate (bench/build.sh's toolchain).
check bench-fmt env -u RUSTC -u RUSTDOC -u RUSTFLAGS -C bench cargo fmt --check
check bench-clippy env -u RUSTC -u RUSTDOC -u RUSTFLAGS -C bench \
	cargo clippy --release --locked -q -- -D warnings

# The series as the list would receive it: checkpatch --strict on every
# exported patch (new files included, findings explained in
# rfc/checkpatch-notes), rustfmt on the Rust each patch touches.
check rfc-series "$TOP/scripts/rfc.sh" --check

python3 - "$BUILD/lint.json" "${#failed[@]}" "${passed[@]}" -- "${failed[@]}" <<'PY'
import json, sys
out, nf, rest = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
i = rest.index('--')
json.dump({'variant': 'lint', 'passed': rest[:i], 'skipped': [],
           'failed': [{'name': n, 'log': []} for n in rest[i + 1:]]}, open(out, 'w'))
PY
echo "lint: ${#passed[@]} passed, ${#failed[@]} failed"
[ ${#failed[@]} -eq 0 ]
