#!/usr/bin/env bash
# scripts/rfc.sh: the series as the io-uring list would receive it.
#
#   scripts/rfc.sh          write build/rfc/: `git format-patch --cover-letter
#                           --subject-prefix='RFC PATCH'` of the series against
#                           `base`, signed off by the sender (git config
#                           user.name/user.email), To/Cc from get_maintainer.pl,
#                           the cover letter filled from rfc/cover-letter.txt;
#                           then checkpatch --strict on every patch
#   scripts/rfc.sh --check  the fast form for `make check`: the same series
#                           (no sign-off needed) through checkpatch --strict
#                           and rustfmt; fails on a checkpatch error or a
#                           formatting diff
#
# The series is scripts/assemble.sh's commits (patches/series says which new
# files go with which patch); nothing here touches build/linux's work tree.
# See rfc/README.md.
set -euo pipefail
. "$(dirname "$0")/env.sh"
. "$TOP/scripts/rfc-lib.sh"

mode=export
case "${1:-}" in
"") ;;
--check) mode=check ;;
*) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# ---------------------------------------------------------------------------
if [ "$mode" = check ]; then
	head=$(rfc_series)
	rfc_format "$tmp/series" "$head" --no-signature
	mapfile -t commits < <(git -C "$SRC" rev-list --reverse "base..$head")
	n=${#commits[@]} i=0 errors=0 badfmt=0
	for p in "$tmp"/series/*.patch; do
		c=${commits[$i]}
		i=$((i + 1))
		# The sender's Signed-off-by is added by `make rfc`.
		rfc_checkpatch "$p" --ignore MISSING_SIGN_OFF
		mkdir -p "$tmp/cp"
		echo "$CP_OUT" >"$tmp/cp/$i"
		rfc_rustfmt "$c" >"$tmp/rustfmt.log"
		line=$(printf '[%d/%d] checkpatch %d errors, %d warnings, %d checks; rustfmt %s  %s' \
			"$i" "$n" "$CP_E" "$CP_W" "$CP_C" \
			"$([ "$RF_FILES" = 0 ] && echo - || { [ "$RF_BAD" = 0 ] && echo ok || echo FAIL; })" \
			"$(git -C "$SRC" log -1 --format=%s "$c")")
		echo "$line"
		if [ "$CP_E" != 0 ]; then
			errors=$((errors + CP_E))
			grep -E -A4 '^ERROR:' <<<"$CP_OUT" | sed 's/^/    /' || true
		fi
		if [ "$RF_BAD" != 0 ]; then
			badfmt=$((badfmt + RF_BAD))
			cat "$tmp/rustfmt.log"
		fi
	done
	# Warnings and checks too: each must be fixed or explained, as for `make rfc`.
	python3 "$TOP/scripts/checkpatch-notes.py" "$tmp/cp" "$n" "$TOP/rfc/checkpatch-notes" \
		>"$tmp/CHECKPATCH" 2>"$tmp/unexplained"
	unexplained=$(cat "$tmp/unexplained")
	if [ "${unexplained:-0}" != 0 ]; then
		grep -B4 'not explained yet' "$tmp/CHECKPATCH" || true
	fi
	echo "rfc --check: $n patches, $errors checkpatch errors, ${unexplained:-0} unexplained findings, $badfmt Rust files to format"
	[ "$errors" = 0 ] && [ "${unexplained:-0}" = 0 ] && [ "$badfmt" = 0 ]
	exit
fi

# ---------------------------------------------------------------------------
if ! rfc_identity; then
	rfc_identity_error
	exit 1
fi
export GIT_AUTHOR_NAME=$RFC_NAME GIT_AUTHOR_EMAIL=$RFC_EMAIL
export GIT_COMMITTER_NAME=$RFC_NAME GIT_COMMITTER_EMAIL=$RFC_EMAIL

head=$(rfc_series)
signed=$(rfc_sign "$head")
# Keep the exported commits reachable (and at hand for b4: rfc/README.md).
git -C "$SRC" update-ref refs/rfc/series "$signed"
n=$(git -C "$SRC" rev-list --count "base..$signed")

# To/Cc as b4 prep --auto-to-cc would: maintainers (and reviewers) To, lists Cc.
rfc_format "$tmp/pass1" "$signed"
gm=(scripts/get_maintainer.pl --no-git --no-git-fallback --no-git-chief-penguins --no-rolestats)
(cd "$SRC" && "${gm[@]}" --no-l "$tmp"/pass1/*.patch) | awk 'NF && !seen[$0]++' >"$tmp/to"
(cd "$SRC" && "${gm[@]}" --no-m "$tmp"/pass1/*.patch) | awk 'NF && !seen[$0]++' >"$tmp/cc.all"
grep -vxF -f "$tmp/to" "$tmp/cc.all" >"$tmp/cc" || true
addr=()
while IFS= read -r a; do addr+=("--to=$a"); done <"$tmp/to"
while IFS= read -r a; do addr+=("--cc=$a"); done <"$tmp/cc"

rm -rf "$RFC_OUT"
rfc_format "$RFC_OUT" "$signed" --cover-letter "${addr[@]}"

# checkpatch on what will be sent.
cp_report=$RFC_OUT/checkpatch.txt
: >"$cp_report"
mkdir -p "$tmp/cp"
errors=0 warnings=0 checks=0 i=0
printf '%-5s %-6s %-8s %-6s  %s\n' '#' errors warnings checks patch >"$tmp/table"
for p in "$RFC_OUT"/0*.patch; do
	case "$p" in */0000-cover-letter.patch) continue ;; esac
	i=$((i + 1))
	rfc_checkpatch "$p"
	errors=$((errors + CP_E)) warnings=$((warnings + CP_W)) checks=$((checks + CP_C))
	printf '%-5s %-6s %-8s %-6s  %s\n' "$i/$n" "$CP_E" "$CP_W" "$CP_C" "$(basename "$p")" >>"$tmp/table"
	echo "$CP_OUT" >"$tmp/cp/$i"
	{
		echo "=== $(basename "$p")"
		echo "$CP_OUT"
		echo
	} >>"$cp_report"
done

# --- The cover letter -------------------------------------------------------
tpl=$TOP/rfc/cover-letter.txt

# The file types whose file_operations the series gives FOP_INLINE_READ.
declare -A kind=(
	[fs/pipe.c]="pipes (and FIFOs)"
	[fs/eventfd.c]="eventfd"
	[fs/signalfd.c]="signalfd"
	[fs/fuse/dev.c]="/dev/fuse"
	[fs/userfaultfd.c]="userfaultfd"
)
have=() missing=()
for f in fs/pipe.c fs/eventfd.c fs/signalfd.c fs/fuse/dev.c fs/userfaultfd.c; do
	if grep -q '^+.*FOP_INLINE_READ' <<<"$(git -C "$SRC" diff "base..$signed" -- "$f")"; then
		have+=("${kind[$f]}")
	else
		missing+=("${kind[$f]}")
	fi
done
others=$(git -C "$SRC" diff --name-only "base..$signed" -- 'fs/*.c' 'mm/*.c' 'drivers/*.c' |
	while IFS= read -r f; do
		[ -n "${kind[$f]:-}" ] && continue
		grep -q '^+.*FOP_INLINE_READ' <<<"$(git -C "$SRC" diff "base..$signed" -- "$f")" && echo "$f"
	done || true)
join() { # the words of "$@" as an English list
	local n=$#
	case $n in
	0) echo "none" ;;
	1) echo "$1" ;;
	2) echo "$1 and $2" ;;
	*) local out="" i=0 w
	   for w in "$@"; do
		i=$((i + 1))
		if [ $i -eq $n ]; then
			out="${out%, } and $w"
		else
			out+="$w, "
		fi
	   done
	   echo "$out" ;;
	esac
}
# shellcheck disable=SC2086
join "${have[@]}" $others >"$tmp/PROVIDERS"
join "${missing[@]}" >"$tmp/NOT_YET"
if [ ${#missing[@]} -gt 0 ]; then
	echo "File types converted in this version: $(cat "$tmp/PROVIDERS").  The" \
		"other types, $(cat "$tmp/NOT_YET"), follow once the core is agreed" \
		"on." | fold -s -w 72 | sed 's/ *$//' >"$tmp/SCOPE"
	echo "- Other special files: $(cat "$tmp/NOT_YET") are not converted in" \
		"this version; their reads behave as today on every" \
		"ring." | fold -s -w 69 | sed 's/ *$//; 2,$s/^/  /' >"$tmp/NOT_YET_ITEM"
else
	echo "File types converted: $(cat "$tmp/PROVIDERS")." >"$tmp/SCOPE"
	: >"$tmp/NOT_YET_ITEM"
fi

# The selftest programs, and those that exercise block devices.
st=tools/testing/selftests/io_uring_cancel
progs=$(git -C "$SRC" show "$signed:$st/Makefile" 2>/dev/null |
	sed -n 's/^TEST_GEN_PROGS *[:+]*= *//p' | tr -s ' \t' '\n' | grep -v '^$' || true)
join $progs >"$tmp/TESTS"
blk=$(grep -E 'blk|block|null' <<<"$progs" || true)
if [ -n "$blk" ]; then
	echo "The selftests $(join $blk) show that reads of block devices, their
cancellation attempts and ring teardown stay bounded by the block
layer's own timeouts." >"$tmp/BLOCK_TESTS"
else
	echo "This version has no selftest for block devices yet: the plan is
null_blk with a long completion_nsec and timeout injection, showing
that a read, a cancel attempt and ring teardown all finish within the
configured timeout with the error the block layer reports." >"$tmp/BLOCK_TESTS"
fi

if [ -f "$TOP/bench/results/latest.md" ]; then
	cp "$TOP/bench/results/latest.md" "$tmp/BENCH"
else
	echo "[No benchmark results yet: bench/results/latest.md was not there when
this letter was generated.]" >"$tmp/BENCH"
	echo "rfc: warning: no bench/results/latest.md: the cover letter has a placeholder" >&2
fi

git -C "$SRC" log -1 --format=%s base >"$tmp/BASE"

# checkpatch findings left, each with its explanation from rfc/checkpatch-notes.
python3 "$TOP/scripts/checkpatch-notes.py" "$tmp/cp" "$n" "$TOP/rfc/checkpatch-notes" \
	>"$tmp/CHECKPATCH" 2>"$tmp/unexplained"
unexplained=$(cat "$tmp/unexplained" 2>/dev/null || echo 0)
unexplained=${unexplained:-0}

python3 - "$RFC_OUT/0000-cover-letter.patch" "$tpl" "$tmp" <<'PY'
# Fill the template: a placeholder alone on its line is replaced by its text
# as a block (indented like the placeholder; an empty text drops the line);
# a paragraph with a placeholder inside a sentence is filled in and wrapped
# again at 72 columns, keeping its indentation.
import os, re, sys, textwrap
cover, tpl, d = sys.argv[1:]
lines = open(tpl).read().split('\n')
while lines and lines[0].startswith('#'):
    lines.pop(0)
assert lines[0].startswith('Subject: '), 'rfc/cover-letter.txt must start with "Subject: "'
subject = lines[0][len('Subject: '):].strip()

def value(name):
    p = os.path.join(d, name)
    if not os.path.exists(p):
        raise SystemExit(f'rfc/cover-letter.txt: unknown placeholder @{name}@')
    return open(p).read().rstrip('\n')

out = []
for para in '\n'.join(lines[1:]).strip('\n').split('\n\n'):
    block = []
    inline = False
    for line in para.split('\n'):
        m = re.fullmatch(r'(\s*)@([A-Z_]+)@\s*', line)
        if m:
            v = value(m.group(2))
            block += [(m.group(1) + l) if l else '' for l in v.split('\n')] if v else []
        else:
            if re.search(r'@[A-Z_]+@', line):
                inline = True
            block.append(line)
    if inline:
        # Wrap again the run of lines around each placeholder that share its
        # text indentation (a "- " bullet counts as indentation).
        def tind(l):
            m = re.match(r'(\s*)(- )?', l)
            return len(m.group(1)) + (2 if m.group(2) else 0)
        i = 0
        res = []
        while i < len(block):
            if not re.search(r'@[A-Z_]+@', block[i]):
                res.append(block[i])
                i += 1
                continue
            t = tind(block[i])
            a = i
            while a > 0 and tind(block[a - 1]) == t and not re.match(r'\s*- ', block[a]):
                a -= 1
            b = i + 1
            while b < len(block) and tind(block[b]) == t and not re.match(r'\s*- ', block[b]):
                b += 1
            res = res[:len(res) - (i - a)]
            prefix = re.match(r'\s*(?:- )?', block[a]).group(0)
            text = ' '.join(l.strip() for l in block[a:b])
            if prefix.strip():
                text = text[len(prefix.strip()):].strip()
            text = re.sub(r'@([A-Z_]+)@', lambda m: value(m.group(1)), text)
            res += textwrap.wrap(text, width=72, initial_indent=prefix,
                                 subsequent_indent=' ' * t,
                                 break_long_words=False, break_on_hyphens=False)
            i = b
        block = res
    if block:
        out.append('\n'.join(block))
body = '\n\n'.join(out)
c = open(cover).read()
assert '*** SUBJECT HERE ***' in c and '*** BLURB HERE ***' in c
c = c.replace('*** SUBJECT HERE ***', subject, 1)
c = c.replace('*** BLURB HERE ***', body, 1)
open(cover, 'w').write(c)
PY

# --- Summary ----------------------------------------------------------------
echo "rfc: $n patches and a cover letter in ${RFC_OUT#"$TOP"/}/ (commits: refs/rfc/series in ${SRC#"$TOP"/})"
echo "rfc: signed off by $RFC_NAME <$RFC_EMAIL>"
echo "rfc: To: $(paste -sd, "$tmp/to" | sed 's/,/, /g')"
echo "rfc: Cc: $(paste -sd, "$tmp/cc" | sed 's/,/, /g')"
echo "rfc: checkpatch --strict: $errors errors, $warnings warnings, $checks checks (report: ${cp_report#"$TOP"/})"
cat "$tmp/table"
if [ $((errors + warnings + checks)) -gt 0 ]; then
	tail -n +2 "$tmp/CHECKPATCH"
fi
echo "rfc: send with: git send-email ${RFC_OUT#"$TOP"/}/*.patch   (To/Cc are in the files)"
rc=0
if [ "$errors" != 0 ]; then
	echo "rfc: FAIL: checkpatch reports $errors errors: fix them before sending" >&2
	rc=1
fi
if [ "$unexplained" != 0 ]; then
	echo "rfc: FAIL: $unexplained checkpatch findings are neither fixed nor explained in rfc/checkpatch-notes" >&2
	rc=1
fi
exit $rc
