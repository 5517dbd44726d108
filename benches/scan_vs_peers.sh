#!/usr/bin/env bash
# Whole-command benchmark: `disktracker scan` (walk + aggregation + SQLite
# snapshot + live index) against pdu (parallel-disk-usage) and diskus on the
# same tree, warm cache, in one hyperfine run; then peak RSS of each with
# GNU time. Prints medians and ratios.
#
#   benches/scan_vs_peers.sh [TREE] [RUNS]
#
# TREE defaults to /work/bench-tree-1m, generated with
# `python3 ../shared/bench/gen_tree.py TREE 1000000 1` when missing.
# Needs: hyperfine, /usr/bin/time (GNU), pdu and diskus
# (`cargo install parallel-disk-usage diskus`).
set -euo pipefail
cd "$(dirname "$0")/.."
TREE=${1:-/work/bench-tree-1m}
RUNS=${2:-15}
OUT=benches/out
mkdir -p "$OUT"
for tool in hyperfine pdu diskus /usr/bin/time python3; do
    command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done
if [ ! -d "$TREE" ]; then
    python3 ../shared/bench/gen_tree.py "$TREE" 1000000 1
fi
cargo build --release --quiet
DT=$PWD/target/release/disktracker
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# Fresh database per run (`--prepare`), and one that keeps every snapshot
# (a history that grows over the runs, as in real use).
hyperfine --warmup 3 --runs "$RUNS" --export-json "$OUT/scan_vs_peers.json" \
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

python3 - "$OUT/scan_vs_peers.json" "$OUT/rss.txt" <<'PY'
import json, sys
res = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
rss = {}
for line in open(sys.argv[2]):
    name, kib = line.rsplit(" ", 1)
    rss[name] = int(kib)
med = {k: r["median"] for k, r in res.items()}
print(f"{'command':32} {'median s':>9} {'min':>7} {'max':>7} {'peak RSS':>10}")
for k, r in res.items():
    print(f"{k:32} {r['median']:9.3f} {r['min']:7.3f} {r['max']:7.3f} {rss.get(k, 0)/1024:8.1f} MiB")
for ours in [k for k in med if k.startswith("disktracker")]:
    print(f"{ours}: {med[ours]/med['pdu']:.2f}x pdu, {med[ours]/med['diskus']:.2f}x diskus")
PY
