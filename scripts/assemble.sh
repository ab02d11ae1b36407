#!/usr/bin/env bash
# Assemble the patched kernel tree in $SRC (default build/linux):
#   commit "base"  : the pristine Debian linux-source-6.12 tree
#   then one commit per patch of patches/, in the order of patches/series,
#   each carrying the repository's new files that series attributes to it,
#   and a last commit with any new file series does not attribute.
# The work tree is moved to the result with `git reset --hard`, which rewrites
# only files whose content changed, so an edit costs an incremental rebuild.
#
# patches/series (see rfc/README.md): one line per patch file, in order,
# each followed by indented lines naming the new files (or directories,
# ending in "/") that belong to it; "#" starts a comment.  Without it, the
# patches are applied in file-name order and all new files go in the last
# commit.  A patch missing from series is applied after the listed ones, a
# listed patch that does not exist is skipped, a new file series does not
# attribute goes in the last commit: each with a warning (an error with
# --strict, which `make rfc` uses).
#
#   --commits-only  build the commits but leave the work tree and HEAD
#                   alone; print the last commit's id on stdout (make rfc
#                   uses this: it is safe while a kernel build is running)
#   --strict        fail on anything series does not account for
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
SRC=${SRC:-$TOP/build/linux}
TARBALL=/usr/src/linux-source-6.12.tar.xz
# Directories of this repository that hold new kernel files.
NEWDIRS=(rust io_uring include fs mm tools)
SERIES=$TOP/patches/series

commits_only=0 strict=0
for a in "$@"; do
	case "$a" in
	--commits-only) commits_only=1 ;;
	--strict) strict=1 ;;
	*) echo "assemble: unknown argument '$a'" >&2; exit 2 ;;
	esac
done

g() { git -C "$SRC" "$@"; }
export GIT_AUTHOR_NAME="io_uring inline-read build" GIT_AUTHOR_EMAIL="build@localhost"
export GIT_COMMITTER_NAME="$GIT_AUTHOR_NAME" GIT_COMMITTER_EMAIL="$GIT_AUTHOR_EMAIL"
export GIT_AUTHOR_DATE="2026-01-01T00:00:00Z"
export GIT_COMMITTER_DATE="$GIT_AUTHOR_DATE"

# Progress goes to stdout as it always did, except with --commits-only,
# whose stdout is the commit id alone.
if [ "$commits_only" = 1 ]; then exec 3>&2; else exec 3>&1; fi
warnings=0
warn() {
	local what=warning
	[ "$strict" = 1 ] && what=error
	echo "assemble: $what: $*" >&2
	warnings=$((warnings + 1))
}

if ! g rev-parse -q --verify refs/tags/base >/dev/null 2>&1; then
	echo "assemble: unpacking $TARBALL into $SRC" >&3
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

# --- The plan: patches in order, and the new files of each. ---------------
shopt -s nullglob
order=()                  # patch file names, in series order
declare -A listed=()      # patch name -> 1
entry_path=() entry_patch=() entry_used=()
if [ -f "$SERIES" ]; then
	cur= n=0
	while IFS= read -r line || [ -n "$line" ]; do
		n=$((n + 1))
		line=${line%%#*}
		word=${line//[[:space:]]/}
		[ -n "$word" ] || continue
		if [[ $line == [[:space:]]* ]]; then
			if [ -z "$cur" ]; then
				echo "assemble: patches/series:$n: '$word' comes before any patch" >&2
				exit 1
			fi
			entry_path+=("$word") entry_patch+=("$cur") entry_used+=(0)
		else
			if [ -n "${listed[$word]:-}" ]; then
				echo "assemble: patches/series:$n: $word is listed twice" >&2
				exit 1
			fi
			listed[$word]=1
			cur=$word
			if [ -f "$TOP/patches/$word" ]; then
				order+=("$word")
			else
				warn "patches/series:$n: patches/$word does not exist (skipped)"
			fi
		fi
	done <"$SERIES"
fi
for p in "$TOP"/patches/*.patch; do
	p=$(basename "$p")
	if [ -z "${listed[$p]:-}" ]; then
		[ -f "$SERIES" ] && warn "patches/$p is not in patches/series (applied after the listed patches)"
		order+=("$p")
	fi
done

# Each new file goes with the most specific series entry naming it.
declare -A files_of=()    # patch name -> newline-separated new files
unattributed=()
newfiles=()
for d in "${NEWDIRS[@]}"; do
	[ -d "$TOP/$d" ] || continue
	while IFS= read -r -d '' f; do
		newfiles+=("${f#"$TOP"/}")
	done < <(find "$TOP/$d" -type f -print0 | sort -z)
done
for rel in "${newfiles[@]}"; do
	best=-1 bestlen=0
	for i in "${!entry_path[@]}"; do
		e=${entry_path[$i]}
		if [ "$rel" = "$e" ] || { [[ $e == */ ]] && [[ $rel == "$e"* ]]; }; then
			if [ ${#e} -gt $bestlen ]; then
				best=$i bestlen=${#e}
			fi
		fi
	done
	if [ $best -ge 0 ]; then
		entry_used[$best]=1
		files_of[${entry_patch[$best]}]+="$rel"$'\n'
	else
		unattributed+=("$rel")
	fi
done
for i in "${!entry_path[@]}"; do
	[ "${entry_used[$i]}" = 1 ] ||
		warn "patches/series: '${entry_path[$i]}' (under ${entry_patch[$i]}) names no file of the repository"
done
if [ -f "$SERIES" ] && [ ${#unattributed[@]} -gt 0 ]; then
	warn "new files not attributed to a patch in patches/series (they go in a last commit): ${unattributed[*]}"
fi
if [ "$strict" = 1 ] && [ "$warnings" -gt 0 ]; then
	echo "assemble: patches/series does not account for the repository: see rfc/README.md" >&2
	exit 1
fi

# --- The commits. -----------------------------------------------------------
# Build the series on a private index so the work tree is touched only once.
tmp=$(mktemp -d)
idx="$SRC/.git/assemble-index.$$"
trap 'rm -rf "$tmp" "$idx"' EXIT
export GIT_INDEX_FILE=$idx
g read-tree base
head=$(g rev-parse base)

add_file() {
	local rel=$1 f=$TOP/$1 blob mode=100644
	blob=$(g hash-object -w -- "$f")
	[ -x "$f" ] && mode=100755
	g update-index --add --cacheinfo "$mode,$blob,$rel"
}

for name in "${order[@]}"; do
	p=$TOP/patches/$name
	# A patch may carry only a commit message (its commit adds new files only).
	if grep -q '^diff --git ' "$p" && ! g apply --cached --whitespace=nowarn "$p"; then
		echo "assemble: $name does not apply" >&2
		exit 1
	fi
	if [ -n "${files_of[$name]:-}" ]; then
		while IFS= read -r rel; do
			[ -n "$rel" ] && add_file "$rel"
		done <<<"${files_of[$name]}"
	fi
	# The commit message is the patch's whole message (subject and body).
	info=$(g mailinfo "$tmp/msg" "$tmp/diff" <"$p")
	subject=$(sed -n '/^Subject: /{s///p;q}' <<<"$info")
	email=$(sed -n '/^Email: /{s///p;q}' <<<"$info")
	author=$(sed -n '/^Author: /{s///p;q}' <<<"$info")
	{
		echo "${subject:-$name}"
		if grep -q '[^[:space:]]' "$tmp/msg"; then
			echo
			cat "$tmp/msg"
		fi
	} >"$tmp/commit-msg"
	tree=$(g write-tree)
	# A real author named in the patch is kept; placeholders (@localhost)
	# become the build identity.
	if [ -n "$email" ] && [[ $email != *@localhost ]]; then
		head=$(GIT_AUTHOR_NAME=${author:-$email} GIT_AUTHOR_EMAIL=$email \
			g commit-tree "$tree" -p "$head" -F "$tmp/commit-msg")
	else
		head=$(g commit-tree "$tree" -p "$head" -F "$tmp/commit-msg")
	fi
done

if [ ${#unattributed[@]} -gt 0 ]; then
	for rel in "${unattributed[@]}"; do
		add_file "$rel"
	done
	tree=$(g write-tree)
	head=$(g commit-tree "$tree" -p "$head" -m "Add the series' new files")
fi
rm -f "$idx"
unset GIT_INDEX_FILE

if [ "$commits_only" = 1 ]; then
	echo "$head"
	exit 0
fi
if [ "$(g rev-parse HEAD)" != "$head" ]; then
	g reset -q --hard "$head"
fi
echo "assemble: $SRC at $(g rev-parse --short HEAD) ($(g rev-list --count base..HEAD) commits on base)"
