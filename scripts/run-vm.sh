#!/usr/bin/env bash
# scripts/run-vm.sh VARIANT [MODE] [ONLY]: boot a built test kernel under
# QEMU TCG with the test initramfs.
#   MODE test (default): run everything, parse the console log, print every
#        failure and a summary line; exit non-zero on a failed test, a
#        kernel splat (oops, WARN, lockdep, KASAN...) or a boot timeout.
#   MODE shell: interactive shell on the console.
# ONLY: run just that selftest program (and skip KUnit).
set -euo pipefail
. "$(dirname "$0")/env.sh"

variant=${1:-normal}
mode=${2:-test}
only=${3:-}
out=$(out_dir "$variant")
"$TOP/scripts/initramfs.sh" "$variant"

mem=1G tmo=${VM_TIMEOUT:-900} extra=
if [ "$variant" = debug ]; then
	mem=3G tmo=${VM_TIMEOUT:-1800} extra="iut.kmemleak=1"
elif [ -x "$TOP/bench/target/x86_64-unknown-linux-gnu/release/iu-bench" ]; then
	extra="iut.bench=1"
fi
if [ "$mode" = bench ]; then
	tmo=${VM_TIMEOUT:-1200}
	append_quiet=quiet
fi
append="console=ttyS0 panic=-1 loglevel=6 ${append_quiet:-} iut.mode=$mode $extra"
[ -n "$only" ] && append="$append iut.only=$only"

qemu=(qemu-system-x86_64 -accel tcg,thread=multi -smp 2 -m "$mem" -cpu max
	-nographic -no-reboot -kernel "$out/arch/x86/boot/bzImage"
	-initrd "$out/initramfs.cpio" -append "$append")

if [ "$mode" = shell ]; then
	exec "${qemu[@]}"
fi

log="$out/console.log"
echo "vm: booting the $variant kernel (timeout ${tmo}s, console: $log)"
start=$(date +%s)
rc=0
timeout --foreground -k 10 "$tmo" "${qemu[@]}" </dev/null >"$log" 2>&1 || rc=$?
echo "vm: $variant run took $(($(date +%s) - start)) s"
[ "$rc" = 124 ] && echo "vm: TIMEOUT after ${tmo}s" >>"$log"
if [ "$mode" = bench ]; then
	exec python3 "$TOP/scripts/bench-results.py" "$log" "$TOP/bench/results"
fi
exec python3 "$TOP/scripts/results.py" --variant "$variant" \
	--json "$out/results.json" "$log"
