# Sourced by the scripts: the toolchain every kernel make call needs.
# Without LLVM/RUSTC/BINDGEN on *every* call, kconfig decides Rust is
# unavailable and CONFIG_RUST silently drops out of the config.
TOP=${TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BUILD=${BUILD:-$TOP/build}
SRC=${SRC:-$BUILD/linux}
JOBS=${JOBS:-$(nproc)}
KMAKE_ARGS=(
	LLVM=1
	RUSTC=/usr/bin/rustc
	RUSTDOC=/usr/bin/rustdoc
	CLIPPY_DRIVER=/usr/bin/clippy-driver
	BINDGEN="${CARGO_HOME:-$HOME/.cargo}/bin/bindgen"
	RUSTFMT="$(command -v rustfmt || echo rustfmt)"
)

# out_dir VARIANT: the O= directory of a variant (normal or debug).
out_dir() {
	case "$1" in
	normal) echo "$BUILD/out" ;;
	debug) echo "$BUILD/out-debug" ;;
	*) echo "unknown variant '$1' (normal or debug)" >&2; return 1 ;;
	esac
}

kmake() {
	local out=$1
	shift
	make -s -C "$SRC" O="$out" "${KMAKE_ARGS[@]}" "$@"
}
