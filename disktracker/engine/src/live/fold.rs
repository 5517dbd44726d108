//! Folding logged mutations: what `reconcile` writes, and the live state a
//! restarted watcher resumes from.

use std::collections::{BTreeMap, BTreeSet};

use disktracker::DirRecord;
use disktracker::path::{descendant_prefix, is_within, prefix_end};
use disktracker::{DirDelta, LoggedMutation, Mutation};

/// The net effect of a run of mutations, in log order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Folded {
    /// Subtrees removed (none inside another), in path order.
    pub removed: Vec<Vec<u8>>,
    /// Directories written after the removals, in path order.
    pub upserts: Vec<DirRecord>,
    /// Per directory: recursive disk usage before the first mutation of the
    /// run (`None`: it did not exist) and after the last one (0: removed).
    pub deltas: Vec<DirDelta>,
    /// Id of the last mutation folded (0 for none).
    pub last_id: i64,
}

impl Folded {
    /// True when the mutations change nothing.
    pub fn is_empty(&self) -> bool {
        self.removed.is_empty() && self.upserts.is_empty()
    }
}

/// Folds `mutations` (in log order): a removal drops everything written
/// below it so far; a later write wins over an earlier one.
pub fn fold(mutations: &[LoggedMutation], recorded_at_ms: i64) -> Folded {
    let mut state: BTreeMap<Vec<u8>, DirRecord> = BTreeMap::new();
    let mut removed: BTreeSet<Vec<u8>> = BTreeSet::new();
    let mut first_old: BTreeMap<Vec<u8>, Option<u64>> = BTreeMap::new();
    let mut last_id = 0;
    for m in mutations {
        last_id = last_id.max(m.id);
        match &m.mutation {
            Mutation::RemoveSubtree {
                path, old_total, ..
            } => {
                first_old.entry(path.clone()).or_insert(*old_total);
                let lo = descendant_prefix(path);
                let hi = prefix_end(&lo);
                let below: Vec<Vec<u8>> = state
                    .range(lo.clone()..hi.clone())
                    .map(|(p, _)| p.clone())
                    .collect();
                for p in below {
                    state.remove(&p);
                }
                state.remove(path);
                let covered: Vec<Vec<u8>> = removed.range(lo..hi).cloned().collect();
                for p in covered {
                    removed.remove(&p);
                }
                if !removed.iter().any(|r| is_within(path, r)) {
                    removed.insert(path.clone());
                }
            }
            Mutation::Upsert {
                record, old_total, ..
            } => {
                first_old.entry(record.path.clone()).or_insert(*old_total);
                state.insert(record.path.clone(), record.clone());
            }
        }
    }
    let deltas = first_old
        .into_iter()
        .filter_map(|(path, previous)| {
            let current = state.get(&path).map(|r| r.stats.total_bytes);
            if current.is_none() && previous.is_none() {
                return None;
            }
            Some(DirDelta {
                snapshot: 0,
                path,
                previous_bytes: previous,
                current_bytes: current.unwrap_or(0),
                recorded_at_ms,
            })
        })
        .filter(|d| d.previous_bytes != Some(d.current_bytes))
        .collect();
    Folded {
        removed: removed.into_iter().collect(),
        upserts: state.into_values().collect(),
        deltas,
        last_id,
    }
}

/// `base` (a stored tree in path order) with `folded` applied: the tree a
/// reconcile would store, and the state a restarted watcher resumes from.
pub fn apply(base: Vec<DirRecord>, folded: &Folded) -> Vec<DirRecord> {
    let sorted = |v: &[DirRecord]| v.is_sorted_by(|a, b| a.path < b.path);
    if sorted(&base) && sorted(&folded.upserts) {
        // As stores read trees and as `fold` makes upserts: merged in one
        // pass, without a map of every path.
        let kept = |r: &DirRecord| !folded.removed.iter().any(|p| is_within(&r.path, p));
        let mut out = Vec::with_capacity(base.len() + folded.upserts.len());
        let mut ups = folded.upserts.iter().peekable();
        for r in base.into_iter().filter(kept) {
            while let Some(u) = ups.next_if(|u| u.path < r.path) {
                out.push(u.clone());
            }
            match ups.next_if(|u| u.path == r.path) {
                Some(u) => out.push(u.clone()),
                None => out.push(r),
            }
        }
        out.extend(ups.cloned());
        return out;
    }
    let mut out: BTreeMap<Vec<u8>, DirRecord> = base
        .into_iter()
        .filter(|r| !folded.removed.iter().any(|p| is_within(&r.path, p)))
        .map(|r| (r.path.clone(), r))
        .collect();
    for u in &folded.upserts {
        out.insert(u.path.clone(), u.clone());
    }
    out.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use disktracker::DirStats;

    fn up(id: i64, path: &str, total: u64, old: Option<u64>) -> LoggedMutation {
        LoggedMutation {
            id,
            mutation: Mutation::Upsert {
                time_ms: id,
                record: DirRecord {
                    path: path.as_bytes().to_vec(),
                    depth: path.matches('/').count() as u32,
                    stats: DirStats {
                        total_bytes: total,
                        ..DirStats::default()
                    },
                },
                old_total: old,
            },
        }
    }

    fn rm(id: i64, path: &str, old: Option<u64>) -> LoggedMutation {
        LoggedMutation {
            id,
            mutation: Mutation::RemoveSubtree {
                time_ms: id,
                path: path.as_bytes().to_vec(),
                old_total: old,
            },
        }
    }

    fn paths(f: &Folded) -> (Vec<String>, Vec<(String, u64)>) {
        (
            f.removed
                .iter()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect(),
            f.upserts
                .iter()
                .map(|r| {
                    (
                        String::from_utf8_lossy(&r.path).into_owned(),
                        r.stats.total_bytes,
                    )
                })
                .collect(),
        )
    }

    #[test]
    fn later_writes_win_and_removals_drop_what_was_written_below() {
        let m = [
            up(1, "/r/a", 10, Some(5)),
            up(2, "/r/a/x", 3, None),
            up(3, "/r/a-x", 7, Some(7)),
            rm(4, "/r/a", Some(10)),
            up(5, "/r/a", 1, None),
            up(6, "/r/b", 4, Some(2)),
            up(7, "/r/b", 6, Some(4)),
            rm(8, "/r/c/d", Some(9)),
            rm(9, "/r/c", Some(20)),
        ];
        let f = fold(&m, 99);
        let (removed, upserts) = paths(&f);
        assert_eq!(removed, ["/r/a", "/r/c"]);
        assert_eq!(
            upserts,
            [("/r/a".into(), 1), ("/r/a-x".into(), 7), ("/r/b".into(), 6)]
        );
        assert_eq!(f.last_id, 9);
        let d: Vec<(String, Option<u64>, u64)> = f
            .deltas
            .iter()
            .map(|d| {
                (
                    String::from_utf8_lossy(&d.path).into_owned(),
                    d.previous_bytes,
                    d.current_bytes,
                )
            })
            .collect();
        // First old value against the final value; unchanged ones left out.
        assert_eq!(
            d,
            [
                ("/r/a".into(), Some(5), 1),
                ("/r/b".into(), Some(2), 6),
                ("/r/c".into(), Some(20), 0),
                ("/r/c/d".into(), Some(9), 0),
            ]
        );
    }

    #[test]
    fn applying_removes_subtrees_on_component_boundaries() {
        let rec = |p: &str, t: u64| DirRecord {
            path: p.as_bytes().to_vec(),
            depth: 0,
            stats: DirStats {
                total_bytes: t,
                ..DirStats::default()
            },
        };
        let base = vec![
            rec("/r", 1),
            rec("/r/a", 2),
            rec("/r/a-x", 3),
            rec("/r/a/b", 4),
        ];
        let f = fold(&[rm(1, "/r/a", Some(6)), up(2, "/r/n", 5, None)], 0);
        let out: Vec<String> = apply(base, &f)
            .iter()
            .map(|r| String::from_utf8_lossy(&r.path).into_owned())
            .collect();
        assert_eq!(out, ["/r", "/r/a-x", "/r/n"]);
    }
}
