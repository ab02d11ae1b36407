#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Builds iu-bench as a static x86_64 binary for the test VM's initramfs
# (busybox, no C library):
#   target/x86_64-unknown-linux-gnu/release/iu-bench
#
#   bench/build.sh [extra cargo build arguments, e.g. -j1]
#
# Needs only cargo (and the C toolchain any Rust link on Linux needs: cc and
# glibc's static libc.a from libc6-dev). Dependencies are pinned by
# Cargo.lock: built offline when cargo's cache already has them, fetched
# from crates.io otherwise. The static-link flags are in .cargo/config.toml.
set -eu
cd "$(dirname "$0")"

# Flags from the environment would replace those of .cargo/config.toml
# (crt-static), and a RUSTC meant for the kernel build (Debian's rustc-web)
# is not this crate's compiler: use the toolchain that comes with cargo.
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS RUSTC RUSTDOC CARGO_BUILD_TARGET
CARGO=${CARGO:-cargo}

if ! "$CARGO" fetch --locked --offline >/dev/null 2>&1; then
	echo "build.sh: fetching the pinned crates from crates.io" >&2
	"$CARGO" fetch --locked
fi
"$CARGO" build --release --locked --offline "$@"

bin=${CARGO_TARGET_DIR:-target}/x86_64-unknown-linux-gnu/release/iu-bench
[ -x "$bin" ] || { echo "build.sh: $bin was not built" >&2; exit 1; }
# A static executable has no program interpreter (PT_INTERP).
if command -v readelf >/dev/null 2>&1; then
	if readelf -lW "$bin" | grep -q INTERP; then
		echo "build.sh: $bin is dynamically linked" >&2
		exit 1
	fi
elif command -v file >/dev/null 2>&1; then
	file "$bin" | grep -q 'statically linked' || {
		echo "build.sh: $bin is not statically linked" >&2
		exit 1
	}
fi
echo "$bin"
