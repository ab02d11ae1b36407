#!/usr/bin/env bash
# scripts/refresh-patches.sh [WORKTREE]: rewrite patches/ from the commits on
# top of `base` in a scratch worktree of build/linux (default build/work),
# one patch per commit, numbered in order.  Make that worktree with
#   git -C build/linux worktree add ../work HEAD
# and edit/commit/rebase there; then run this.
set -euo pipefail
. "$(dirname "$0")/env.sh"
wt=${1:-$BUILD/work}
tmp=$(mktemp -d)
git -C "$wt" format-patch -q --no-signature --zero-commit -N -o "$tmp" base..HEAD
rm -f "$TOP"/patches/*.patch
mkdir -p "$TOP/patches"
for f in "$tmp"/*.patch; do
	mv "$f" "$TOP/patches/$(basename "$f")"
done
rmdir "$tmp"
ls "$TOP/patches"
