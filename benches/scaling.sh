#!/usr/bin/env bash
# Scaling: wall time and peak RSS of the main operations on trees of growing
# size, warm page cache, to show that the cost per entry stays flat.
#
#   benches/scaling.sh [RUNS] TREE...
#
# Per tree, into a fresh database: `scan` (first snapshot), `scan` again
# (warm rescan: re-stats everything and streams the previous snapshot
# against the new tree), `diff` of the two, the index rebuilt from the store
# (`size` after deleting the index file), and `size` on a valid index. Each
# is run RUNS times (default 3; the database is recreated for the scans);
# medians are printed, with microseconds per entry for the scans.
# Trees come from the project's generator, for example
#   cargo run --release -p disktracker-testkit --bin gen_tree -- /work/bench-tree-4m 4000000 1
# The binary is this checkout's release build (in $CARGO_TARGET_DIR when
# set), or $SCALING_BINARY when set (nothing is built then: to compare
# builds). Needs GNU time (/usr/bin/time).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=3
if [[ ${1:-} =~ ^[0-9]+$ ]]; then RUNS=$1; shift; fi
[ $# -gt 0 ] || { echo "usage: benches/scaling.sh [RUNS] TREE..." >&2; exit 2; }
command -v /usr/bin/time >/dev/null || { echo "missing GNU time (/usr/bin/time)" >&2; exit 1; }
if [ -n "${SCALING_BINARY:-}" ]; then
    DT=$(realpath "$SCALING_BINARY")
else
    cargo build --release --quiet
    DT=$(realpath "${CARGO_TARGET_DIR:-target}")/release/disktracker
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
DB=$WORK/s.db

# Prints "SECONDS KIB" for one run of the command.
measure() {
    /usr/bin/time -f '%e %M' -o "$WORK/time" "$@" >/dev/null
    cat "$WORK/time"
}
# Median of RUNS lines of "SECONDS KIB" on stdin, per column.
median() {
    local lines col1 col2
    lines=$(cat)
    col1=$(printf '%s\n' "$lines" | awk 'NF { print $1 }' | sort -g)
    col2=$(printf '%s\n' "$lines" | awk 'NF { print $2 }' | sort -g)
    local n mid
    n=$(printf '%s\n' "$col1" | wc -l)
    mid=$(( (n + 1) / 2 ))
    echo "$(printf '%s\n' "$col1" | sed -n "${mid}p") $(printf '%s\n' "$col2" | sed -n "${mid}p")"
}

printf '%-22s %10s %-12s %9s %12s %10s\n' tree entries operation "median s" "peak RSS" "us/entry"
for TREE in "$@"; do
    ENTRIES=$(find "$TREE" 2>/dev/null | wc -l)
    "$DT" --db "$WORK/warm.db" -q scan "$TREE" >/dev/null # warm the page cache
    rm -f "$WORK"/warm.*
    declare -A R=()
    for _ in $(seq "$RUNS"); do
        rm -f "$WORK"/s.*
        R[scan]+="$(measure "$DT" --db "$DB" -q scan "$TREE")"$'\n'
        R[rescan]+="$(measure "$DT" --db "$DB" -q scan "$TREE")"$'\n'
        R[diff]+="$(measure "$DT" --db "$DB" -q diff)"$'\n'
        rm -f "$WORK/s.mmap"
        R[index build]+="$(measure "$DT" --db "$DB" -q size "$TREE")"$'\n'
        R[size]+="$(measure "$DT" --db "$DB" -q size "$TREE")"$'\n'
    done
    for op in scan rescan diff "index build" size; do
        read -r secs kib < <(printf '%s' "${R[$op]}" | median)
        per=""
        case $op in scan|rescan) per=$(awk -v s="$secs" -v n="$ENTRIES" 'BEGIN { printf "%.2f", s * 1e6 / n }') ;; esac
        printf '%-22s %10d %-12s %9.2f %8.1f MiB %10s\n' "$(basename "$TREE")" "$ENTRIES" "$op" "$secs" \
            "$(awk -v k="$kib" 'BEGIN { print k / 1024 }')" "$per"
    done
done
