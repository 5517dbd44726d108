#!/usr/bin/env bash
# Whole-command benchmark: `disktracker scan` (walk + aggregation + SQLite
# snapshot + live index) against pdu (parallel-disk-usage) and diskus on the
# same tree, warm cache, in one hyperfine run; then peak RSS of each with
# GNU time. Prints medians and ratios.
#
#   benches/scan_vs_peers.sh [TREE] [RUNS]
#
# TREE defaults to /work/bench-tree-1m, generated when missing with the
# project's generator: `cargo run --release -p disktracker-testkit --bin
# gen_tree -- TREE 1000000 1` (about 5.5 GiB of disk).
# Needs: hyperfine, /usr/bin/time (GNU), pdu and diskus
# (`cargo install parallel-disk-usage diskus`).
set -euo pipefail
cd "$(dirname "$0")/.."
TREE=${1:-/work/bench-tree-1m}
RUNS=${2:-15}
OUT=benches/out
mkdir -p "$OUT"
for tool in hyperfine pdu diskus /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done
if [ ! -d "$TREE" ]; then
    cargo run --release --quiet -p disktracker-testkit --bin gen_tree -- "$TREE" 1000000 1
fi
cargo build --release --quiet
DT=$PWD/target/release/disktracker
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# Fresh database per run (`--prepare`), and one that keeps every snapshot
# (a history that grows over the runs, as in real use).
hyperfine --warmup 3 --runs "$RUNS" --export-json "$OUT/scan_vs_peers.json" \
    --export-csv "$OUT/scan_vs_peers.csv" \
    --prepare "rm -f $WORK/fresh.*" \
    -n "disktracker scan (fresh db)" "$DT --db $WORK/fresh.db --quiet scan $TREE" \
    -n "disktracker scan (history db)" "$DT --db $WORK/history.db --quiet scan $TREE" \
    -n "pdu" "pdu --max-depth=1 $TREE" \
    -n "diskus" "diskus $TREE"

# Median peak RSS (KiB) over 5 runs; PREP (if set) runs before each.
rss() {
    for _ in 1 2 3 4 5; do
        [ -n "${PREP:-}" ] && eval "$PREP"
        /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tr -d '\r' | tail -1
    done | sort -n | sed -n 3p
}
{
    echo "disktracker scan (fresh db) $(PREP="rm -f $WORK/fresh.*" rss "$DT" --db "$WORK/fresh.db" --quiet scan "$TREE")"
    echo "disktracker scan (history db) $(rss "$DT" --db "$WORK/history.db" --quiet scan "$TREE")"
    echo "pdu $(rss pdu --max-depth=1 "$TREE")"
    echo "diskus $(rss diskus "$TREE")"
} > "$OUT/rss.txt"

# Medians, ranges and peak RSS per command, then ours against the peers.
awk -F, -v rss_file="$OUT/rss.txt" '
BEGIN {
    while ((getline line < rss_file) > 0) {
        kib = line; sub(/.* /, "", kib)
        name = line; sub(/ [^ ]*$/, "", name)
        rss[name] = kib
    }
    printf "%-32s %9s %7s %7s %12s\n", "command", "median s", "min", "max", "peak RSS"
}
NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
{
    name = $col["command"]; med[name] = $col["median"]; order[++n] = name
    printf "%-32s %9.3f %7.3f %7.3f %8.1f MiB\n", name, $col["median"], $col["min"], $col["max"], rss[name] / 1024
}
END {
    for (i = 1; i <= n; i++)
        if (order[i] ~ /^disktracker/)
            printf "%s: %.2fx pdu, %.2fx diskus\n", order[i], med[order[i]] / med["pdu"], med[order[i]] / med["diskus"]
}' "$OUT/scan_vs_peers.csv"
