//! `history`: a directory's size in every snapshot of its root.

use std::path::Path;
use std::time::Duration;

use disktracker::path::{escape_bytes, path_bytes};
use disktracker::report::{HistoryPoint, HistoryReport, SizeStatus};
use disktracker::{Error, ErrorKind, Result, SnapshotQuery};

use super::{Access, Hosts, Tracker, absolute, now_ms};

impl Tracker {
    /// `path`'s size in every snapshot of the root of the newest snapshot
    /// covering it (from `since` ago on, if given), oldest first; then its
    /// live size when the index holds changes newer than the last snapshot
    /// (a watcher answers, or compacted logged changes into the file).
    pub fn history(
        &mut self,
        path: &Path,
        since: Option<Duration>,
        hosts: &Hosts,
    ) -> Result<HistoryReport> {
        let abs = absolute(path)?;
        let host = self.host_filter(hosts).map(str::to_owned);
        let me = self.host().to_owned();
        let path = path_bytes(&abs).to_vec();
        let now = now_ms();
        let since_ms =
            since.map(|d| now.saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)));
        let store = self.store.get(Access::Read)?;
        let covering = store.find_snapshots(
            &SnapshotQuery::covering(&path)
                .host(host.as_deref())
                .limit(1),
        )?;
        let Some(newest) = covering.into_iter().next() else {
            let whose = host.map(|h| format!(" of host {h}")).unwrap_or_default();
            return Err(Error::new(
                ErrorKind::NotFound,
                format!("no snapshot{whose} contains {}", escape_bytes(&path)),
            )
            .with_hint(format!(
                "run `disktracker scan` on it or on a directory above it (database {})",
                self.store.place.store
            )));
        };
        let root = newest.meta.root.clone();
        // One host's series: with every host's, the newest snapshot's host.
        let series_host = host.as_deref().unwrap_or(&newest.meta.host);
        let mut snaps =
            store.find_snapshots(&SnapshotQuery::of_root(&root).host(Some(series_host)))?;
        snaps.retain(|s| since_ms.is_none_or(|t| s.meta.started_at_ms >= t));
        snaps.sort_by_key(|s| (s.meta.started_at_ms, s.id));
        let mut points = Vec::with_capacity(snaps.len() + 1);
        for s in &snaps {
            let dir = store.dir(s.id, &path)?;
            let mut p = HistoryPoint::new(Some(s.id), s.meta.started_at_ms);
            p.bytes = dir.as_ref().map(|d| d.stats.total_bytes);
            p.apparent = dir.as_ref().map(|d| d.stats.total_apparent);
            p.files = dir.as_ref().map(|d| d.stats.file_count);
            points.push(p);
        }
        let watched_cursor = store.watch_state(&root)?.map(|w| w.mutation_cursor);
        let index_cursor = store.index_provenance()?.map(|p| p.mutation_cursor);
        // With `--since` past the newest snapshot, the live row still follows.
        // The live index is this host's: another host's series has no live row.
        let newest_is_last = series_host == me && snaps.last().is_none_or(|s| s.id == newest.id);
        // Sizes from the live index: the watcher's answer when it runs;
        // otherwise the file's, when it holds logged changes that no
        // snapshot has folded yet.
        let live = self.size(std::slice::from_ref(&abs), false);
        if let Ok(live) = live
            && let Some(answer) = live.report.answers.first()
            && let Some(bytes) = answer.total_bytes
        {
            let newer_file = matches!((index_cursor, watched_cursor), (Some(i), Some(w)) if i > w)
                || matches!((index_cursor, watched_cursor), (Some(i), None) if i > 0);
            let live = answer.status == SizeStatus::Live
                || (answer.status == SizeStatus::Indexed && newer_file);
            if live && newest_is_last {
                let mut p = HistoryPoint::new(None, now);
                p.bytes = Some(bytes);
                points.push(p);
            }
        }
        fill_deltas(&mut points);
        Ok(HistoryReport::new(path, root, since_ms, points))
    }
}

/// Each row's change from the row before (a directory absent from a
/// snapshot counts as empty there); the live row has no apparent size, so
/// its apparent change is left out.
fn fill_deltas(points: &mut [HistoryPoint]) {
    let mut prev_bytes: Option<u64> = None;
    let mut prev_apparent: Option<u64> = None;
    for (i, p) in points.iter_mut().enumerate() {
        let bytes = p.bytes.unwrap_or(0);
        if i > 0 {
            p.delta_bytes = Some(i128::from(bytes) - i128::from(prev_bytes.unwrap_or(0)));
        }
        prev_bytes = Some(bytes);
        if p.snapshot.is_some() {
            let apparent = p.apparent.unwrap_or(0);
            if let Some(prev) = prev_apparent {
                p.delta_apparent = Some(i128::from(apparent) - i128::from(prev));
            }
            prev_apparent = Some(apparent);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(snapshot: Option<i64>, bytes: Option<u64>) -> HistoryPoint {
        let mut p = HistoryPoint::new(snapshot, 0);
        p.bytes = bytes;
        p.apparent = snapshot.and(bytes.map(|b| b / 2));
        p
    }

    #[test]
    fn deltas_are_taken_from_the_previous_row_absent_as_zero() {
        let mut p = vec![
            point(Some(1), Some(100)),
            point(Some(2), None),
            point(Some(3), Some(40)),
            point(None, Some(50)),
        ];
        fill_deltas(&mut p);
        let bytes: Vec<Option<i128>> = p.iter().map(|p| p.delta_bytes).collect();
        assert_eq!(bytes, [None, Some(-100), Some(40), Some(10)]);
        let apparent: Vec<Option<i128>> = p.iter().map(|p| p.delta_apparent).collect();
        assert_eq!(apparent, [None, Some(-50), Some(20), None]);
    }
}
