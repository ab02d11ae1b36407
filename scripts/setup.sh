#!/usr/bin/env bash
# Install everything the build, the VM and the tests need on a Debian 12 host.
# Idempotent: a second run only checks and returns in a few seconds.
set -euo pipefail

KVER_PKG=linux-source-6.12
KVER_PIN=6.12.117-1~deb12u1
BINDGEN_VER=0.69.5

APT_PKGS=(
	"$KVER_PKG" rustc-web rust-web-src rust-web-clippy
	clang llvm lld libclang-dev gcc bc flex bison libelf-dev libssl-dev
	cpio kmod pahole qemu-system-x86 busybox-static python3 python3-ply
	python3-git xz-utils
	git make
)

need=()
for p in "${APT_PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		need+=("$p")
done

SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo

if [ ${#need[@]} -gt 0 ]; then
	echo "setup: installing ${need[*]}"
	$SUDO apt-get update -qq
	# The pinned version need not be apt's candidate: security updates
	# move the candidate on, and the archive keeps the older versions.
	avail=$(apt-cache madison "$KVER_PKG" | awk -F'|' '{gsub(/ /, "", $2); print $2}')
	inst=$(dpkg-query -W -f='${Version}' "$KVER_PKG" 2>/dev/null || true)
	if [ "$inst" != "$KVER_PIN" ] && ! grep -qxF "$KVER_PIN" <<<"$avail"; then
		echo "setup: $KVER_PKG $KVER_PIN is required, apt serves '$(echo $avail)'" >&2
		echo "setup: the patches are made against $KVER_PIN; refusing to continue" >&2
		exit 1
	fi
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
		--no-install-recommends "${need[@]/#$KVER_PKG/$KVER_PKG=$KVER_PIN}" >/dev/null
fi

inst=$(dpkg-query -W -f='${Version}' "$KVER_PKG")
if [ "$inst" != "$KVER_PIN" ]; then
	echo "setup: $KVER_PKG $inst is installed, $KVER_PIN is required" >&2
	exit 1
fi

BINDGEN="${CARGO_HOME:-$HOME/.cargo}/bin/bindgen"
if ! "$BINDGEN" --version 2>/dev/null | grep -q "$BINDGEN_VER"; then
	echo "setup: cargo install bindgen-cli@$BINDGEN_VER"
	cargo install --locked --quiet "bindgen-cli@$BINDGEN_VER"
fi

echo "setup: ok ($KVER_PKG $inst, $(/usr/bin/rustc --version), bindgen $BINDGEN_VER)"
