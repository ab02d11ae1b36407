# Sourced by scripts/rfc.sh and scripts/rfc-check.sh, after env.sh: the
# series as commits, the sender's sign-off, and the per-patch checks.
# Nothing here touches the work tree of build/linux: the commits are built
# on a private index, so this is safe while a kernel build is running.
# Callers set $tmp to a scratch directory.

RFC_OUT=${RFC_OUT:-$BUILD/rfc}
RFC_PREFIX='RFC PATCH'

# rfc_series: the series as commits on `base` in build/linux, exactly as
# scripts/assemble.sh builds them; fails if patches/series does not account
# for every patch and new file.  Prints the last commit's id.
rfc_series() {
	"$TOP/scripts/assemble.sh" --commits-only --strict
}

# rfc_identity: the sender, from git config (never invented).
rfc_identity() {
	RFC_NAME=$(git -C "$TOP" config user.name || true)
	RFC_EMAIL=$(git -C "$TOP" config user.email || true)
	[ -n "$RFC_NAME" ] && [ -n "$RFC_EMAIL" ]
}

rfc_identity_error() {
	cat >&2 <<EOF
rfc: git config user.name and user.email are not both set.
     The series is signed off (Signed-off-by:) by whoever sends it, and the
     sign-off is a legal statement (Documentation/process/submitting-patches.rst,
     "Developer's Certificate of Origin"): set your own identity, e.g.
       git config --global user.name  'Your Name'
       git config --global user.email 'you@example.org'
EOF
}

# rfc_sign HEAD: the same trees as base..HEAD, as commits by the sender, each
# with the sender's Signed-off-by.  An author named in a patch is kept;
# placeholder authors (@localhost) become the sender.  Prints the last id.
rfc_sign() {
	local head=$1 prev c tree an ae sob
	sob="Signed-off-by: $RFC_NAME <$RFC_EMAIL>"
	prev=$(git -C "$SRC" rev-parse base)
	for c in $(git -C "$SRC" rev-list --reverse "base..$head"); do
		tree=$(git -C "$SRC" rev-parse "$c^{tree}")
		an=$(git -C "$SRC" log -1 --format=%an "$c")
		ae=$(git -C "$SRC" log -1 --format=%ae "$c")
		if [[ $ae == *@localhost ]]; then
			an=$RFC_NAME ae=$RFC_EMAIL
		fi
		git -C "$SRC" log -1 --format=%B "$c" |
			git -C "$SRC" interpret-trailers --if-exists addIfDifferent \
				--trailer "$sob" >"$tmp/sign-msg"
		prev=$(GIT_AUTHOR_NAME=$an GIT_AUTHOR_EMAIL=$ae \
			GIT_COMMITTER_NAME=$RFC_NAME GIT_COMMITTER_EMAIL=$RFC_EMAIL \
			git -C "$SRC" commit-tree "$tree" -p "$prev" -F "$tmp/sign-msg")
	done
	echo "$prev"
}

# rfc_format DIR HEAD [format-patch options...]: base..HEAD as patches in DIR.
rfc_format() {
	local dir=$1 head=$2
	shift 2
	mkdir -p "$dir"
	git -C "$SRC" format-patch -q --subject-prefix="$RFC_PREFIX" -o "$dir" "$@" "base..$head"
}

# rfc_checkpatch PATCH [checkpatch options...]: scripts/checkpatch.pl
# --strict in build/linux, as a reviewer runs it.  Sets CP_OUT (its report)
# and CP_E, CP_W, CP_C (errors, warnings, checks); a crash counts as an error.
rfc_checkpatch() {
	local f=$1 total
	shift
	# spdxcheck needs Debian's python3 (python3-ply), not one earlier on PATH.
	CP_OUT=$(cd "$SRC" && PATH=/usr/bin:$PATH \
		scripts/checkpatch.pl --strict --show-types --color=never "$@" "$f" 2>&1) || true
	total=$(grep -E '^total: [0-9]+ errors, [0-9]+ warnings, [0-9]+ checks' <<<"$CP_OUT" | tail -n1 || true)
	if [ -z "$total" ]; then
		CP_E=1 CP_W=0 CP_C=0
		CP_OUT+=$'\n'"ERROR:CHECKPATCH_FAILED: checkpatch.pl printed no summary"
		return
	fi
	read -r CP_E CP_W CP_C < <(sed -E 's/^total: ([0-9]+) errors, ([0-9]+) warnings, ([0-9]+) checks.*/\1 \2 \3/' <<<"$total")
}

# rfc_rustfmt COMMIT: rustfmt on every Rust file COMMIT adds or changes, as
# it is in that commit (fed on stdin, so that a crate root such as
# rust/kernel/lib.rs is checked alone).  Sets RF_FILES and RF_BAD; prints
# the diffs.
rfc_rustfmt() {
	local c=$1 f
	RF_FILES=0 RF_BAD=0
	git -C "$SRC" show "$c:.rustfmt.toml" >"$tmp/rustfmt.toml"
	while IFS= read -r f; do
		RF_FILES=$((RF_FILES + 1))
		git -C "$SRC" show "$c:$f" >"$tmp/rf-in.rs"
		if ! rustfmt --edition 2021 --config-path "$tmp/rustfmt.toml" \
			<"$tmp/rf-in.rs" >"$tmp/rf-out.rs" 2>"$tmp/rf-err"; then
			RF_BAD=$((RF_BAD + 1))
			echo "rustfmt: $f: rustfmt failed:"
			sed 's/^/    /' "$tmp/rf-err" | head -n 20 || true
		elif ! cmp -s "$tmp/rf-in.rs" "$tmp/rf-out.rs"; then
			RF_BAD=$((RF_BAD + 1))
			echo "rustfmt: $f is not formatted:"
			diff -u --label "a/$f" --label "b/$f (rustfmt)" "$tmp/rf-in.rs" "$tmp/rf-out.rs" |
				sed 's/^/    /' | head -n 40 || true
		fi
	done < <(git -C "$SRC" diff-tree --no-commit-id -r --diff-filter=AM --name-only "$c" -- '*.rs')
}
