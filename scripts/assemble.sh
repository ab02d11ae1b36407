#!/usr/bin/env bash
# Assemble the patched kernel tree in $SRC (default build/linux):
#   commit "base"  : the pristine Debian linux-source-6.12 tree
#   then one commit per file of patches/ (applied in order), and a last commit
#   laying the repository's new files at their kernel paths.
# The work tree is moved to the result with `git reset --hard`, which rewrites
# only files whose content changed, so an edit costs an incremental rebuild.
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
SRC=${SRC:-$TOP/build/linux}
TARBALL=/usr/src/linux-source-6.12.tar.xz
# Directories of this repository that hold new kernel files.
NEWDIRS=(rust io_uring include fs mm tools)

g() { git -C "$SRC" "$@"; }
export GIT_AUTHOR_NAME="io_uring inline-read build" GIT_AUTHOR_EMAIL="build@localhost"
export GIT_COMMITTER_NAME="$GIT_AUTHOR_NAME" GIT_COMMITTER_EMAIL="$GIT_AUTHOR_EMAIL"
export GIT_AUTHOR_DATE="2026-01-01T00:00:00Z"
export GIT_COMMITTER_DATE="$GIT_AUTHOR_DATE"

if ! g rev-parse -q --verify refs/tags/base >/dev/null 2>&1; then
	echo "assemble: unpacking $TARBALL into $SRC"
	rm -rf "$SRC" "$SRC.tmp"
	mkdir -p "$SRC.tmp"
	tar -C "$SRC.tmp" --strip-components=1 -xf "$TARBALL"
	git -C "$SRC.tmp" init -q -b series
	git -C "$SRC.tmp" config core.autocrlf false
	git -C "$SRC.tmp" config gc.auto 0
	git -C "$SRC.tmp" add -A -f
	git -C "$SRC.tmp" commit -q -m "Linux 6.12.117 (Debian linux-source-6.12 6.12.117-1~deb12u1)"
	git -C "$SRC.tmp" tag base
	mv "$SRC.tmp" "$SRC"
fi

# Build the series on a private index so the work tree is touched only once.
export GIT_INDEX_FILE="$SRC/.git/assemble-index"
rm -f "$GIT_INDEX_FILE"
g read-tree base
head=$(g rev-parse base)

shopt -s nullglob
for p in "$TOP"/patches/*.patch; do
	if ! g apply --cached --whitespace=nowarn "$p"; then
		echo "assemble: $(basename "$p") does not apply" >&2
		exit 1
	fi
	msg=$(sed -n 's/^Subject: \(\[PATCH[^]]*\] \)\?//p' "$p" | head -n1)
	tree=$(g write-tree)
	head=$(g commit-tree "$tree" -p "$head" -m "${msg:-$(basename "$p")}")
done

added=0
for d in "${NEWDIRS[@]}"; do
	[ -d "$TOP/$d" ] || continue
	while IFS= read -r -d '' f; do
		rel=${f#"$TOP"/}
		blob=$(g hash-object -w -- "$f")
		mode=100644
		[ -x "$f" ] && mode=100755
		g update-index --add --cacheinfo "$mode,$blob,$rel"
		added=1
	done < <(find "$TOP/$d" -type f -print0)
done
if [ "$added" = 1 ]; then
	tree=$(g write-tree)
	head=$(g commit-tree "$tree" -p "$head" -m "Add the series' new files")
fi
unset GIT_INDEX_FILE

if [ "$(g rev-parse HEAD)" != "$head" ]; then
	g reset -q --hard "$head"
fi
echo "assemble: $SRC at $(g rev-parse --short HEAD) ($(g rev-list --count base..HEAD) commits on base)"
