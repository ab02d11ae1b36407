#!/usr/bin/env bash
# scripts/config.sh VARIANT: write the .config of a test kernel.
#   allnoconfig + Kconfig (+ Kconfig.debug for the debug variant), then
#   olddefconfig, then check that every option the fragments ask for is
#   set as asked, naming those that are not.
set -euo pipefail
. "$(dirname "$0")/env.sh"

variant=${1:-normal}
out=$(out_dir "$variant")
mkdir -p "$out"

frag="$out/fragment.config"
cat "$TOP/Kconfig" >"$frag.new"
[ "$variant" = debug ] && cat "$TOP/Kconfig.debug" >>"$frag.new"

# Regenerate only when the fragment changed or there is no config yet:
# kconfig rewrites .config, which would force a rebuild of everything.
if [ -f "$out/.config" ] && cmp -s "$frag.new" "$frag"; then
	rm "$frag.new"
	kmake "$out" olddefconfig >/dev/null
else
	mv "$frag.new" "$frag"
	kmake "$out" KCONFIG_ALLCONFIG="$frag" allnoconfig >/dev/null
	kmake "$out" olddefconfig >/dev/null
fi

missing=()
while IFS= read -r line; do
	case "$line" in
	CONFIG_*=*)
		grep -qxF -- "$line" "$out/.config" || missing+=("$line (got: $(grep -E "^(# )?${line%%=*}[= ]" "$out/.config" || echo absent))")
		;;
	"# CONFIG_"*" is not set")
		opt=${line#\# }
		opt=${opt%% *}
		grep -q "^$opt=" "$out/.config" && missing+=("$line (got: $(grep "^$opt=" "$out/.config"))")
		;;
	esac
done <"$frag"

if [ ${#missing[@]} -gt 0 ]; then
	echo "config: $variant: these options did not stick after olddefconfig:" >&2
	printf '  %s\n' "${missing[@]}" >&2
	echo "config: is the toolchain complete? (make rustavailable: $(kmake "$out" rustavailable 2>&1 | tail -n1))" >&2
	exit 1
fi
echo "config: $variant: all $(grep -c '^CONFIG_\|^# CONFIG_.* is not set' "$frag") requested options set"
