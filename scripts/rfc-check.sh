#!/usr/bin/env bash
# scripts/rfc-check.sh [--no-build | --dry-run]: every patch of the series,
# in order, the way a reviewer would check it (make rfc-check):
#   - build: the normal test kernel's .config (build/out/.config, else the
#     Kconfig fragment on allnoconfig), olddefconfig, then `make CLIPPY=1
#     bzImage headers`; a compiler or clippy diagnostic naming a file the
#     series has touched so far fails the patch (as scripts/build.sh does);
#     once the selftests are in, they are built too (warnings fail);
#   - checkpatch.pl --strict on the patch as `make rfc` exports it: errors
#     fail, warnings and checks are counted (rfc/checkpatch-notes explains
#     them in the cover letter);
#   - rustfmt on the Rust files the patch adds or changes.
# The builds run in a worktree of build/linux (build/rfc-src) with their own
# output directory (build/out-rfc), so build/linux and build/out are never
# touched; moving the worktree from patch to patch rewrites only the files
# that differ, so each build is incremental.  A patch whose tree, config and
# toolchain already passed is not built again (build/out-rfc/passed/).
#
#   --no-build  checkpatch and rustfmt only (seconds)
#   --dry-run   print the build commands instead of running them
set -euo pipefail
. "$(dirname "$0")/env.sh"
. "$TOP/scripts/rfc-lib.sh"

build=1 dry=0
for a in "$@"; do
	case "$a" in
	--no-build) build=0 ;;
	--dry-run) dry=1 ;;
	*) echo "usage: $0 [--no-build | --dry-run]" >&2; exit 2 ;;
	esac
done

WT=${RFC_WT:-$BUILD/rfc-src}
OUT=${RFC_BUILD_OUT:-$BUILD/out-rfc}
ST=tools/testing/selftests/io_uring_cancel
# A compiler warning located in a file of that directory (not ../*.h).
stwarn='^[A-Za-z0-9_]+\.[ch]:[0-9]+:[0-9]+: warning:'
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

head=$(rfc_series)
mapfile -t commits < <(git -C "$SRC" rev-list --reverse "base..$head")
n=${#commits[@]}

# checkpatch sees the patches as `make rfc` sends them: signed off by the
# sender if git config names one.
cpopts=()
if rfc_identity; then
	signed=$(rfc_sign "$head")
else
	echo "rfc-check: no git config user.name/user.email: checking without the Signed-off-by" >&2
	signed=$head
	cpopts=(--ignore MISSING_SIGN_OFF)
fi
rfc_format "$tmp/series" "$signed" --no-signature
mapfile -t patches < <(ls "$tmp"/series/*.patch)
[ ${#patches[@]} -eq "$n" ] || { echo "rfc-check: $n commits but ${#patches[@]} patches" >&2; exit 1; }

exec 3>&1
run() { # a build command: run it, or print it with --dry-run
	if [ "$dry" = 1 ]; then
		echo "    would run: $*" >&3
	else
		"$@"
	fi
}

if [ "$build" = 1 ]; then
	# The worktree: recreated if build/linux was unpacked anew.
	git -C "$SRC" worktree prune
	if [ "$(git -C "$WT" rev-parse --path-format=absolute --git-common-dir 2>/dev/null)" != \
		"$(git -C "$SRC" rev-parse --path-format=absolute --git-common-dir)" ]; then
		echo "rfc-check: creating the worktree $WT (one full checkout)"
		rm -rf "$WT"
		git -C "$SRC" worktree add -q --detach "$WT" "${commits[0]}"
	fi
	mkdir -p "$OUT/passed"

	# The config: the normal kernel's, or the fragment's if there is none yet.
	if [ -f "$BUILD/out/.config" ]; then
		seed=$BUILD/out/.config
		if ! cmp -s "$seed" "$OUT/seed.config" || [ ! -f "$OUT/.config" ]; then
			cp "$seed" "$OUT/seed.config"
			cp "$seed" "$OUT/.config"
		fi
		fresh=0
	else
		seed=$TOP/Kconfig
		fresh=1
		[ -f "$OUT/.config" ] && cmp -s "$seed" "$OUT/seed.config" && fresh=0
		cp "$seed" "$OUT/seed.config"
	fi
	toolchain=$(
		/usr/bin/rustc -V
		clang --version | head -n1 || true
		"${CARGO_HOME:-$HOME/.cargo}/bin/bindgen" --version 2>&1 | head -n1 || true
		/usr/bin/clippy-driver -V 2>&1 | head -n1 || true
		gcc --version | head -n1 || true
	)
	rmake() { SRC=$WT kmake "$OUT" "$@"; }
fi

# The files of a diagnostic location ("path:line:" or "--> path:line") that
# belong to the series so far; their objects are removed so that a rerun
# compiles them again and shows the diagnostic again.
forget_objects() {
	local f
	for f in "$@"; do
		case "$f" in
		rust/kernel/*.rs) rm -f "$OUT/rust/kernel.o" ;;
		*.rs) rm -f "$OUT/${f%.rs}.o" ;;
		*.c) rm -f "$OUT/${f%.c}.o" ;;
		*) echo "    (a rerun may not show the diagnostics in $f again: run make clean in $OUT)" ;;
		esac
	done
}

table=$tmp/table
printf '%-5s %-8s %-10s %-10s %-8s %s\n' '#' build 'warnings' 'checkpatch' rustfmt patch >"$table"
failed=0
for ((i = 0; i < n; i++)); do
	c=${commits[$i]}
	k=$((i + 1))
	subject=$(git -C "$SRC" log -1 --format=%s "$c")
	echo "=== [$k/$n] $subject"

	# checkpatch
	rfc_checkpatch "${patches[$i]}" "${cpopts[@]}"
	cp="$CP_E/$CP_W/$CP_C"
	if [ "$CP_E" != 0 ]; then
		failed=1
		grep -E -A4 '^ERROR:' <<<"$CP_OUT" | sed 's/^/    /' || true
	fi
	grep -E '^(WARNING|CHECK):' <<<"$CP_OUT" | sed 's/^/    /' || true

	# rustfmt
	rfc_rustfmt "$c"
	rf=-
	if [ "$RF_FILES" != 0 ]; then
		rf=ok
		[ "$RF_BAD" = 0 ] || { rf=FAIL; failed=1; }
	fi

	# build
	bres=skipped wres=-
	if [ "$build" = 1 ]; then
		tree=$(git -C "$SRC" rev-parse "$c^{tree}")
		key=$(printf '%s\n' "$tree" "$(sha1sum <"$OUT/seed.config")" "$toolchain" | sha1sum | cut -c1-20)
		if [ -f "$OUT/passed/$key" ]; then
			bres=cached wres=ok
			echo "    build: passed before (same tree, config and toolchain)"
		else
			start=$(date +%s)
			log=$OUT/build-$k.log
			ours=$(git -C "$SRC" diff --name-only "base..$c")
			pattern=$(sed 's/[.]/\\./g' <<<"$ours" | paste -sd'|')
			bres=ok wres=ok
			if [ "$dry" = 0 ]; then
				git -C "$WT" checkout -q --detach "$c"
			else
				echo "    would run: git -C $WT checkout -q --detach $c"
			fi
			if [ "$fresh" = 1 ]; then
				run rmake KCONFIG_ALLCONFIG="$OUT/seed.config" allnoconfig >/dev/null
				fresh=0
			fi
			if ! run rmake olddefconfig >/dev/null; then
				bres=CONFIG
			elif [ "$dry" = 0 ]; then
				# Every option the fragment asks for must stick, unless its
				# symbol does not exist yet at this patch.
				while IFS= read -r line; do
					sym=${line%%=*}
					grep -qxF -- "$line" "$OUT/.config" && continue
					if git -C "$SRC" grep -q -E "^[[:space:]]*(menu)?config ${sym#CONFIG_}\$" "$c" -- '*Kconfig*'; then
						echo "    config: $line did not stick (got: $(grep -E "^(# )?$sym[= ]" "$OUT/.config" || echo absent))"
						bres=CONFIG
					fi
				done < <(grep -E '^CONFIG_[A-Z0-9_]+=' "$TOP/Kconfig")
			fi
			if [ "$bres" = ok ]; then
				if ! run rmake CLIPPY=1 -j"$JOBS" bzImage headers >"$log" 2>&1; then
					bres=FAIL
					grep -E 'error|Error' -A5 "$log" | head -n 40 | sed 's/^/    /' || true
				fi
				if [ -n "$pattern" ] && grep -qE "(^|--> |/)($pattern):[0-9]+" "$log"; then
					wres=FAIL
					echo "    diagnostics in the series' files:"
					grep -nE -B6 -A8 "(^|--> |/)($pattern):[0-9]+" "$log" | head -n 80 | sed 's/^/    /' || true
					mapfile -t bad < <(grep -oE "(^|--> |/)($pattern):[0-9]+" "$log" |
						sed -E 's/^(--> |\/)?//; s/:[0-9]+$//' | sort -u)
					forget_objects "${bad[@]}"
				fi
			fi
			# The selftests, once the series has them.
			if [ "$bres" = ok ] && grep -q "^$ST/" <<<"$ours"; then
				stlog=$OUT/selftests-$k.log
				mkdir -p "$OUT/selftests"
				if ! run make -B -s -C "$WT/$ST" OUTPUT="$OUT/selftests" \
					KHDR_INCLUDES="-isystem $OUT/usr/include" CC=gcc LLVM= >"$stlog" 2>&1; then
					bres=FAIL
					echo "    selftests failed to build:"
					head -n 40 "$stlog" | sed 's/^/    /' || true
				elif grep -qE "$stwarn" "$stlog"; then
					# Only the series' own files: kselftest_harness.h
					# itself warns under -Wextra.
					wres=FAIL
					echo "    selftests warnings:"
					grep -E -A3 "$stwarn" "$stlog" | head -n 40 | sed 's/^/    /' || true
				fi
			fi
			[ "$bres" = ok ] && [ "$wres" = ok ] && [ "$dry" = 0 ] && : >"$OUT/passed/$key"
			[ "$bres" = ok ] || failed=1
			[ "$wres" = ok ] || failed=1
			[ "$dry" = 1 ] && bres=dry-run wres=-
			echo "    build: $bres, warnings: $wres ($(($(date +%s) - start)) s)"
		fi
	fi
	printf '%-5s %-8s %-10s %-10s %-8s %s\n' "$k/$n" "$bres" "$wres" "$cp" "$rf" "$subject" >>"$table"
done

echo
echo "rfc-check: $n patches (checkpatch: errors/warnings/checks)"
cat "$table"
if [ "$build" = 1 ] && [ "$dry" = 0 ]; then
	cp "$table" "$OUT/rfc-check.txt"
fi
if [ "$failed" = 0 ]; then
	echo "rfc-check: every patch passes"
else
	echo "rfc-check: FAIL" >&2
fi
exit "$failed"
