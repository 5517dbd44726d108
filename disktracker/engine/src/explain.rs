//! Explaining a directory's change: which subdirectories and direct files
//! account for it, recursively.

use std::collections::BTreeMap;

use disktracker::path::{escape_bytes, is_within};
use disktracker::report::ExplainNode;
use disktracker::{
    DiffEntry, DirRecord, Error, ErrorKind, Result, SizeKind, SnapshotId, SnapshotStore,
};

/// Loads `path`'s subtree from both snapshots and explains its change.
/// Contributors are children whose change is at least `threshold_pct` percent
/// of their parent's; they are explained in turn.
pub fn explain(
    store: &dyn SnapshotStore,
    a: SnapshotId,
    b: SnapshotId,
    path: &[u8],
    threshold_pct: f64,
    kind: SizeKind,
) -> Result<ExplainNode> {
    let (ta, tb) = (
        store.read_tree(a, Some(path))?,
        store.read_tree(b, Some(path))?,
    );
    explain_records(ta, tb, path, threshold_pct, kind).ok_or_else(|| {
        Error::new(
            ErrorKind::NotFound,
            format!("{} is in neither snapshot {a} nor {b}", escape_bytes(path)),
        )
        .with_hint("give a directory inside the scanned root")
    })
}

/// Explains `path`'s change from the directories of two snapshots (any
/// order; directories outside `path` are ignored). `None` when `path` is in
/// neither.
pub fn explain_records(
    a: impl IntoIterator<Item = DirRecord>,
    b: impl IntoIterator<Item = DirRecord>,
    path: &[u8],
    threshold_pct: f64,
    kind: SizeKind,
) -> Option<ExplainNode> {
    let load = |rows: &mut dyn Iterator<Item = DirRecord>| -> BTreeMap<Vec<u8>, DirRecord> {
        rows.filter(|r| is_within(&r.path, path))
            .map(|r| (r.path.clone(), r))
            .collect()
    };
    let ta = load(&mut a.into_iter());
    let tb = load(&mut b.into_iter());
    if !ta.contains_key(path) && !tb.contains_key(path) {
        return None;
    }
    let ctx = Ctx {
        ta: &ta,
        tb: &tb,
        threshold: threshold_pct / 100.0,
        kind,
    };
    Some(ctx.node(path, None))
}

struct Ctx<'a> {
    ta: &'a BTreeMap<Vec<u8>, DirRecord>,
    tb: &'a BTreeMap<Vec<u8>, DirRecord>,
    threshold: f64,
    kind: SizeKind,
}

impl Ctx<'_> {
    fn entry(&self, path: &[u8]) -> DiffEntry {
        let (ra, rb) = (self.ta.get(path), self.tb.get(path));
        DiffEntry {
            path: path.to_vec(),
            bytes_a: ra.map(|r| r.stats.total_bytes),
            bytes_b: rb.map(|r| r.stats.total_bytes),
            apparent_a: ra.map(|r| r.stats.total_apparent),
            apparent_b: rb.map(|r| r.stats.total_apparent),
        }
    }

    /// Immediate subdirectories of `path` in either snapshot, in path order.
    fn children(&self, path: &[u8]) -> Vec<Vec<u8>> {
        let depth = self
            .ta
            .get(path)
            .or(self.tb.get(path))
            .map_or(0, |r| r.depth)
            + 1;
        let mut prefix = path.to_vec();
        prefix.push(b'/');
        let mut out: Vec<Vec<u8>> = Vec::new();
        for t in [self.ta, self.tb] {
            out.extend(
                t.range(prefix.clone()..)
                    .take_while(|(p, _)| p.starts_with(&prefix))
                    .filter(|(_, r)| r.depth == depth)
                    .map(|(p, _)| p.clone()),
            );
        }
        out.sort();
        out.dedup();
        out
    }

    fn node(&self, path: &[u8], parent_delta: Option<i128>) -> ExplainNode {
        let entry = self.entry(path);
        let delta = entry.delta(self.kind);
        let direct = |t: &BTreeMap<Vec<u8>, DirRecord>| {
            t.get(path)
                .map_or(0, |r| i128::from(r.stats.direct(self.kind)))
        };
        let status = entry.status();
        let share_pct = match parent_delta {
            None => 100.0,
            Some(0) => 0.0,
            Some(p) => delta as f64 * 100.0 / p as f64,
        };
        let kids: Vec<(Vec<u8>, i128)> = self
            .children(path)
            .into_iter()
            .map(|c| {
                let d = self.entry(&c).delta(self.kind);
                (c, d)
            })
            .filter(|(_, d)| *d != 0)
            .collect();
        // Moves inside a directory can cancel out; then shares are measured
        // against the total movement instead of the (zero) net change.
        let base = if delta != 0 {
            delta.unsigned_abs()
        } else {
            kids.iter().map(|(_, d)| d.unsigned_abs()).sum()
        };
        let mut children = Vec::new();
        let (mut other_delta, mut other_count) = (0i128, 0u64);
        for (c, d) in kids {
            if base > 0 && d.unsigned_abs() as f64 >= self.threshold * base as f64 {
                children.push(self.node(&c, Some(if delta != 0 { delta } else { base as i128 })));
            } else {
                other_delta += d;
                other_count += 1;
            }
        }
        children.sort_by(|x, y| {
            y.entry
                .delta(self.kind)
                .unsigned_abs()
                .cmp(&x.entry.delta(self.kind).unsigned_abs())
                .then_with(|| x.entry.path.cmp(&y.entry.path))
        });
        debug_assert!(children.iter().all(|c| is_within(&c.entry.path, path)));
        let mut node = ExplainNode::default();
        node.direct_delta = direct(self.tb) - direct(self.ta);
        node.entry = entry;
        node.share_pct = share_pct;
        node.status = status;
        node.children = children;
        node.other_delta = other_delta;
        node.other_count = other_count;
        node
    }
}

#[cfg(test)]
mod tests;
