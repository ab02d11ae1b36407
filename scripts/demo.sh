#!/usr/bin/env bash
# scripts/demo.sh: after `run-vm.sh normal`, show what the boot proved:
# the kernel that ran, our option, and our Rust code's tests in it.
set -euo pipefail
. "$(dirname "$0")/env.sh"
out=$(out_dir normal)
log="$out/console.log"

echo
echo "=== the patched kernel booted under QEMU"
grep -m1 '@@@ KERNEL' "$log" | sed 's/.*@@@ KERNEL /    /'
echo "    $(grep '^CONFIG_IO_URING_INLINE_READ=' "$out/.config")"
echo "    series: $(git -C "$SRC" rev-list --count base..HEAD) commits on the pristine base ($(git -C "$SRC" diff --shortstat base HEAD))"
echo "=== the feature: a read completed by the writer while the reader is stopped"
sed -n '/@@@ DEMO BEGIN/,/@@@ DEMO END/p' "$log" | sed '1d;$d' | sed 's/^/    /'
echo "=== our Rust code, run in that kernel (KUnit / doctests)"
python3 - "$out/results.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
ours = ('wait_rs',)
for kind in ('passed', 'failed'):
    for t in r[kind]:
        name = t if isinstance(t, str) else t['name']
        if name.startswith('kunit/') and any(o in name for o in ours):
            print(f'    {"ok    " if kind == "passed" else "FAILED"} {name}')
print(f'=== whole run: {len(r["passed"])} passed, {len(r["failed"])} failed, '
      f'{len(r["skipped"])} skipped (make check runs the debug kernel too)')
PY
