//! `fleet`: every host's roots in a shared store, their newest size, their
//! change over a period and where it grew.

use std::time::Duration;

use disktracker::report::{FleetReport, FleetRow, TreeSize};
use disktracker::{DiffEntry, Result, SizeKind, SnapshotInfo, SnapshotQuery};

use super::{Access, Tracker, now_ms};
use crate::diff::changed_dirs;

/// How far back `fleet` looks when no period is given: "which host grew this week".
pub const DEFAULT_PERIOD: Duration = Duration::from_secs(7 * 24 * 3600);

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Tracker {
    /// Per host and root (every host's, from one query for the newest
    /// snapshots), the newest size, the change since `since` ago (default a
    /// week) and the directory where the growth concentrates, ranked by
    /// `kind`; rows whose newest snapshot is older than `stale_after` are
    /// marked stale. The diffs computed are cached in the store when it can
    /// be written.
    pub fn fleet(
        &mut self,
        since: Option<Duration>,
        stale_after: Duration,
        kind: SizeKind,
    ) -> Result<FleetReport> {
        let now = now_ms();
        let since_ms = now.saturating_sub(ms(since.unwrap_or(DEFAULT_PERIOD)));
        let stale_after_ms = ms(stale_after);
        let store = self.store.get(Access::ReadCaching)?;
        let mut rows = Vec::new();
        for newest in store.latest_per_root(None)? {
            let history = store.find_snapshots(
                &SnapshotQuery::of_root(&newest.meta.root).host(Some(&newest.meta.host)),
            )?;
            let mut row = FleetRow::new(
                newest.meta.host.clone(),
                newest.meta.root.clone(),
                newest.id,
            );
            row.at_ms = newest.meta.finished_at_ms;
            row.age_ms = now.saturating_sub(newest.meta.finished_at_ms).max(0);
            row.size = TreeSize {
                bytes: newest.meta.total_bytes,
                apparent: newest.meta.total_apparent,
            };
            row.files = newest.meta.total_files;
            row.stale = row.age_ms > stale_after_ms;
            if let Some(base) = baseline(&history, &newest, since_ms) {
                row.baseline = Some(base.id);
                row.baseline_at_ms = Some(base.meta.finished_at_ms);
                row.delta_bytes =
                    Some(i128::from(newest.meta.total_bytes) - i128::from(base.meta.total_bytes));
                row.delta_apparent = Some(
                    i128::from(newest.meta.total_apparent) - i128::from(base.meta.total_apparent),
                );
                let changes = changed_dirs(&mut **store, base.id, newest.id)?;
                if let Some((path, delta)) = growth(&changes, kind) {
                    row.growth_path = Some(path.to_vec());
                    row.growth_delta = Some(delta);
                }
            }
            rows.push(row);
        }
        rows.sort_by(|a, b| (&a.host, &a.root).cmp(&(&b.host, &b.root)));
        Ok(FleetReport::new(now, since_ms, stale_after_ms, rows))
    }
}

/// The snapshot `newest`'s change is measured from: the newest of `history`
/// (one host's snapshots of one root) finished at or before `since_ms`,
/// else the oldest finished after it; never `newest` itself. None when
/// `newest` itself is older than the period: nothing is known of it.
fn baseline<'a>(
    history: &'a [SnapshotInfo],
    newest: &SnapshotInfo,
    since_ms: i64,
) -> Option<&'a SnapshotInfo> {
    if newest.meta.finished_at_ms <= since_ms {
        return None;
    }
    let others = || history.iter().filter(|s| s.id != newest.id);
    others()
        .filter(|s| s.meta.finished_at_ms <= since_ms)
        .max_by_key(|s| (s.meta.finished_at_ms, s.id))
        .or_else(|| others().min_by_key(|s| (s.meta.finished_at_ms, s.id)))
}

/// Where the growth concentrates: of the directories that grew by at least
/// half the largest growth of any, the deepest (the larger growth among
/// equally deep ones). Ancestors carry their descendants' growth, so this
/// walks down from the root as far as one subtree holds most of it.
fn growth(changes: &[DiffEntry], kind: SizeKind) -> Option<(&[u8], i128)> {
    let delta = |e: &DiffEntry| {
        let (a, b) = e.sides(kind);
        i128::from(b.unwrap_or(0)) - i128::from(a.unwrap_or(0))
    };
    let largest = changes.iter().map(delta).max().filter(|&d| d > 0)?;
    let depth = |p: &[u8]| p.iter().filter(|&&c| c == b'/').count();
    changes
        .iter()
        .map(|e| (e.path.as_slice(), delta(e)))
        .filter(|&(_, d)| d > 0 && d * 2 >= largest)
        .max_by_key(|&(p, d)| (depth(p), d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use disktracker::SnapshotMeta;

    fn change(path: &str, a: Option<u64>, b: Option<u64>) -> DiffEntry {
        DiffEntry {
            path: path.as_bytes().to_vec(),
            bytes_a: a,
            bytes_b: b,
            apparent_a: a.map(|x| x / 2),
            apparent_b: b.map(|x| x / 2),
        }
    }

    #[test]
    fn growth_descends_while_one_subtree_holds_most_of_it() {
        // /r grew 100: /r/a 80 of it (/r/a/x 70, /r/a/y 10), /r/b 20.
        let changes = [
            change("/r", Some(1000), Some(1100)),
            change("/r/a", Some(500), Some(580)),
            change("/r/a/x", Some(100), Some(170)),
            change("/r/a/y", Some(100), Some(110)),
            change("/r/b", Some(400), Some(420)),
        ];
        assert_eq!(
            growth(&changes, SizeKind::DiskUsage),
            Some((&b"/r/a/x"[..], 70))
        );
    }

    #[test]
    fn growth_stays_high_when_it_is_spread_out() {
        // Two subtrees of 40 each: neither holds half of /r's 100.
        let changes = [
            change("/r", Some(0), Some(100)),
            change("/r/a", Some(0), Some(40)),
            change("/r/b", None, Some(40)),
        ];
        assert_eq!(
            growth(&changes, SizeKind::DiskUsage),
            Some((&b"/r"[..], 100))
        );
    }

    #[test]
    fn growth_finds_a_growing_subtree_under_a_shrinking_root() {
        let changes = [
            change("/r", Some(1000), Some(900)),
            change("/r/old", Some(500), None),
            change("/r/new", None, Some(400)),
            change("/r/new/deep", None, Some(390)),
        ];
        assert_eq!(
            growth(&changes, SizeKind::DiskUsage),
            Some((&b"/r/new/deep"[..], 390))
        );
        assert_eq!(
            growth(&changes[..2], SizeKind::DiskUsage),
            None,
            "nothing grew"
        );
    }

    fn snap(id: i64, finished_at_ms: i64) -> SnapshotInfo {
        SnapshotInfo {
            id,
            meta: SnapshotMeta {
                finished_at_ms,
                ..SnapshotMeta::default()
            },
        }
    }

    #[test]
    fn baseline_is_the_state_at_the_period_start() {
        let h = [snap(1, 10), snap(2, 20), snap(3, 30), snap(4, 40)];
        assert_eq!(baseline(&h, &h[3], 25).map(|s| s.id), Some(2));
        assert_eq!(baseline(&h, &h[3], 20).map(|s| s.id), Some(2));
        // Nothing that old: the oldest within the period.
        assert_eq!(baseline(&h, &h[3], 5).map(|s| s.id), Some(1));
        // Everything older than the period: no change within it is known.
        assert_eq!(baseline(&h, &h[3], 40).map(|s| s.id), None);
        assert_eq!(baseline(&h[3..], &h[3], 25).map(|s| s.id), None);
    }
}
