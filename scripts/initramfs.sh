#!/usr/bin/env bash
# scripts/initramfs.sh VARIANT: build the selftests against the variant's
# uapi headers and pack them with busybox and vm/init into an initramfs,
# with the kernel's own gen_init_cpio (no root, no device nodes on disk).
set -euo pipefail
. "$(dirname "$0")/env.sh"

variant=${1:-normal}
out=$(out_dir "$variant")
st="$out/selftests"
mkdir -p "$st"

make -s -C "$SRC/tools/testing/selftests/io_uring_cancel" OUTPUT="$st" \
	KHDR_INCLUDES="-isystem $out/usr/include" CC=gcc LLVM= >"$st/build.log" 2>&1 || {
	cat "$st/build.log" >&2
	echo "initramfs: selftests failed to build" >&2
	exit 1
}
progs=$(make -s -C "$SRC/tools/testing/selftests/io_uring_cancel" OUTPUT="$st" \
	--no-print-directory -f Makefile -f - print-progs <<<'print-progs: ; @echo $(notdir $(TEST_GEN_PROGS))')

# The demo `make` shows: built like the selftests, against the same headers.
gcc -static -O2 -Wall -Wextra -Werror -isystem "$out/usr/include" \
	-I"$SRC/tools/testing/selftests/io_uring_cancel" \
	-o "$st/iu-demo" "$TOP/vm/iu-demo.c"

spec="$out/initramfs.list"
{
	echo "dir /dev 0755 0 0"
	echo "nod /dev/console 0600 0 0 c 5 1"
	echo "nod /dev/null 0666 0 0 c 1 3"
	for d in /bin /sbin /proc /sys /tmp /root /selftests; do echo "dir $d 0755 0 0"; done
	echo "file /bin/busybox /bin/busybox 0755 0 0"
	echo "file /init $TOP/vm/init 0755 0 0"
	echo "file /bin/iu-demo $st/iu-demo 0755 0 0"
	bench=$TOP/bench/target/x86_64-unknown-linux-gnu/release/iu-bench
	[ -x "$bench" ] && echo "file /bin/iu-bench $bench 0755 0 0"
	printf '%s\n' $progs >"$st/list"
	echo "file /selftests/list $st/list 0644 0 0"
	echo "file /selftests/settings $SRC/tools/testing/selftests/io_uring_cancel/settings 0644 0 0"
	for p in $progs; do echo "file /selftests/$p $st/$p 0755 0 0"; done
} >"$spec"
"$out/usr/gen_init_cpio" "$spec" >"$out/initramfs.cpio"
echo "initramfs: $variant: $(echo $progs | wc -w) selftest programs"
