#!/usr/bin/env bash
# scripts/refresh-patches.sh [WORKTREE]: rewrite patches/ and patches/series
# from the commits on top of `base` in a scratch worktree of build/linux
# (default build/work), one patch per commit, numbered in order.  Make that
# worktree with
#   git -C build/linux worktree add ../work HEAD
# and edit/commit/rebase there; then run this.
#
# The commits there carry the repository's new files (scripts/assemble.sh
# puts each with the patch patches/series attributes it to).  Those files
# live in the repository, not in patches: they are left out of the patches,
# and patches/series is rewritten to say which commit adds which of them.
# Edit new files in the repository itself: a worktree copy that differs is
# reported, never copied back.
set -euo pipefail
. "$(dirname "$0")/env.sh"
wt=${1:-$BUILD/work}
NEWDIRS=(rust io_uring include fs mm tools)
gw() { git -C "$wt" "$@"; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The repository's new files (as scripts/assemble.sh finds them).
: >"$tmp/owned"
for d in "${NEWDIRS[@]}"; do
	[ -d "$TOP/$d" ] || continue
	(cd "$TOP" && find "$d" -type f) >>"$tmp/owned"
done
sort -o "$tmp/owned" "$tmp/owned"
: >"$tmp/owned.ok"
while IFS= read -r f; do
	if gw cat-file -e "base:$f" 2>/dev/null; then
		echo "refresh: $f exists in base: it is patched, not a new file" >&2
	else
		echo "$f" >>"$tmp/owned.ok"
	fi
done <"$tmp/owned"

# A copy of each commit without the new files, on a private index.
export GIT_INDEX_FILE="$tmp/index"
prev=$(gw rev-parse base)
i=0
: >"$tmp/added"
for c in $(gw rev-list --reverse base..HEAD); do
	subject=$(gw log -1 --format=%s "$c")
	if [ "$subject" = "Add the series' new files" ]; then
		continue # scripts/assemble.sh's commit of unattributed files
	fi
	i=$((i + 1))
	gw read-tree "$c"
	gw update-index --force-remove --stdin <"$tmp/owned.ok"
	tree=$(gw write-tree)
	gw log -1 --format=%B "$c" >"$tmp/msg"
	prev=$(GIT_AUTHOR_NAME=$(gw log -1 --format=%an "$c") \
		GIT_AUTHOR_EMAIL=$(gw log -1 --format=%ae "$c") \
		GIT_AUTHOR_DATE=$(gw log -1 --format=%aD "$c") \
		gw commit-tree "$tree" -p "$prev" -F "$tmp/msg")
	# The new files this commit adds.
	gw diff-tree --no-commit-id -r --diff-filter=A --name-only "$c" |
		grep -Fxf "$tmp/owned.ok" | sed "s/^/$i\t/" >>"$tmp/added" || true
done
unset GIT_INDEX_FILE

mkdir -p "$tmp/out"
# --always: a commit that only adds new files still gets its patch (its
# commit message).
gw format-patch -q --always --no-signature --zero-commit -N -o "$tmp/out" "base..$prev"
rm -f "$TOP"/patches/*.patch
mkdir -p "$TOP/patches"
: >"$tmp/names"
for f in "$tmp"/out/*.patch; do
	mv "$f" "$TOP/patches/$(basename "$f")"
	basename "$f" >>"$tmp/names"
done

# Rewrite patches/series: each entry of the old one goes with the commit that
# adds its files; files no entry names are listed one by one.
[ -f "$TOP/patches/series" ] && cp "$TOP/patches/series" "$tmp/series.old" || : >"$tmp/series.old"
python3 - "$tmp/series.old" "$tmp/names" "$tmp/added" "$tmp/owned.ok" \
	>"$TOP/patches/series" <<'PY'
import re, sys
old_path, names_path, added_path, owned_path = sys.argv[1:]
names = [l.strip() for l in open(names_path) if l.strip()]
owned = [l.strip() for l in open(owned_path) if l.strip()]
added = {}  # commit index (1-based) -> files it adds
for l in open(added_path):
    i, f = l.rstrip('\n').split('\t', 1)
    added.setdefault(int(i), []).append(f)
adder = {f: i for i, fs in added.items() for f in fs}

header, entries, comments, patch_order = [], [], {}, []
pending, cur = [], None
for line in open(old_path):
    raw = line.rstrip('\n')
    body = raw.split('#', 1)[0]
    if not body.strip():
        if raw.strip().startswith('#'):
            (header if cur is None and not patch_order else pending).append(raw)
        continue
    if body[0].isspace():
        entries.append((body.strip(), cur))
    else:
        cur = body.strip()
        patch_order.append(cur)
        comments[cur], pending = pending, []

def strip_num(n):
    return re.sub(r'^\d+-', '', n)

# Old patch -> new patch: same name, or same name but renumbered.
new_by_stem = {}
for n in names:
    new_by_stem.setdefault(strip_num(n), n)
def new_name(old):
    if old in names:
        return old
    return new_by_stem.get(strip_num(old))

def best_entry(f):
    best = None
    for k, (e, _) in enumerate(entries):
        if f == e or (e.endswith('/') and f.startswith(e)):
            if best is None or len(e) > len(entries[best][0]):
                best = k
    return best

covered = {}
for f in owned:
    k = best_entry(f)
    if k is not None:
        covered.setdefault(k, []).append(f)

under = {n: [] for n in names}
placed = set()
for k, (e, p) in enumerate(entries):
    fs = covered.get(k, [])
    commits = sorted({adder[f] for f in fs if f in adder})
    if len(commits) == 1:
        under[names[commits[0] - 1]].append(e)
        placed.update(fs)
    elif len(commits) > 1:
        print(f"refresh: '{e}' is split across patches: listing its files one by one",
              file=sys.stderr)
    else:
        n = new_name(p) if p else None
        if n:
            under[n].append(e)
            placed.update(fs)
            print(f"refresh: no commit adds '{e}': kept with {n}", file=sys.stderr)
        else:
            print(f"refresh: no commit adds '{e}' and {p} is gone: dropped from series",
                  file=sys.stderr)
for f in sorted(adder):
    if f not in placed:
        under[names[adder[f] - 1]].append(f)

print('\n'.join(header) if header else
      '# The series, in order: patch files, each followed by its new files '
      '(see rfc/README.md).')
for n in names:
    old = [o for o in patch_order if new_name(o) == n]
    for c in (comments.get(old[0], []) if old else []):
        print(c)
    print(n)
    for e in under[n]:
        print('\t' + e)
PY

# New files edited in the worktree instead of the repository.
while IFS= read -r f; do
	blob=$(gw rev-parse -q --verify "HEAD:$f" 2>/dev/null) || continue
	[ "$blob" = "$(git hash-object -- "$TOP/$f")" ] ||
		echo "refresh: $f differs between $wt and the repository: the repository's copy is the one that counts" >&2
done <"$tmp/owned.ok"

ls "$TOP/patches"
