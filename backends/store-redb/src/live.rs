//! Snapshot selection through the root index, the live tables (mutation
//! log, journal, deltas, watch state, index provenance), and snapshots
//! derived from a stored one.

use std::collections::BTreeMap;
use std::ops::Bound;

use disktracker::path::{
    descendant_prefix, escape_bytes, escape_path, is_within, prefix_end, trim_slashes,
};
use disktracker::store::RootFilter;
use disktracker::{
    DerivedSnapshot, DirDelta, Error, ErrorKind, IndexProvenance, JournalEvent, JournalQuery,
    LiveBatch, LoggedMutation, Result, SnapshotId, SnapshotInfo, SnapshotQuery, WatchState,
};
use redb::{ReadOnlyTable, ReadableDatabase, ReadableTable, WriteTransaction};

use crate::errors::{Ctx, bad_record};
use crate::{
    DELTAS, DIRS, JOURNAL, KEY_NEXT_DELTA, KEY_NEXT_EVENT, KEY_NEXT_MUTATION, MUTATIONS,
    PROVENANCE, PROVENANCE_KEY, ROOTS, RedbStore, RedbWriter, SNAPSHOTS, WATCH, add_removed, codec,
    encode_meta, take_ids,
};

/// The snapshots table opened for reading.
type SnapsTable = ReadOnlyTable<u64, &'static [u8]>;

/// Every root that covers `path` in the sense of [`is_within`]: `/` for an
/// absolute path, and `path` cut at each `/` and at its end.
fn covering_roots(path: &[u8]) -> Vec<&[u8]> {
    let mut roots: Vec<&[u8]> = Vec::new();
    if path.first() == Some(&b'/') {
        roots.push(b"/");
    }
    for i in 0..=path.len() {
        if i == path.len() || path[i] == b'/' {
            roots.push(&path[..i]);
        }
    }
    roots.sort_unstable();
    roots.dedup();
    roots
}

/// The key ranges `[lo, hi)` of snapshot `id`'s directory rows that survive
/// removing the subtrees `removed` (each path itself and every path below
/// it, but not siblings such as `P-x` that sort between them), in order.
fn kept_ranges(id: u64, removed: &[Vec<u8>]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut cut: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(removed.len() * 2);
    for p in removed {
        let p = trim_slashes(p);
        // The point `P`: every key from it up to its immediate successor.
        let mut after = p.to_vec();
        after.push(0);
        cut.push((p.to_vec(), after));
        let below = descendant_prefix(p);
        let end = prefix_end(&below);
        cut.push((below, end));
    }
    cut.sort_unstable();
    let mut kept = Vec::with_capacity(cut.len() + 1);
    let mut start: Vec<u8> = Vec::new();
    for (lo, hi) in cut {
        if lo > start {
            kept.push((codec::dir_key(id, &start), codec::dir_key(id, &lo)));
        }
        if hi > start {
            start = hi;
        }
    }
    kept.push((
        codec::dir_key(id, &start),
        codec::id_prefix(id + 1).to_vec(),
    ));
    kept
}

impl RedbStore {
    pub(crate) fn find_snapshots_impl(&self, q: &SnapshotQuery<'_>) -> Result<Vec<SnapshotInfo>> {
        let limit = q.limit.unwrap_or(usize::MAX);
        // Ids are below `below`; no id is below 1.
        let below = match q.before {
            None => u64::MAX,
            Some(b) if b <= 1 => return Ok(Vec::new()),
            Some(b) => b.unsigned_abs(),
        };
        if limit == 0 {
            return Ok(Vec::new());
        }
        let txn = self.read()?;
        let Some(snaps) = self.table(&txn, SNAPSHOTS)? else {
            return Ok(Vec::new());
        };
        let candidates = match q.root {
            RootFilter::Any => return self.filter_every_snapshot(&snaps, q, below, limit),
            RootFilter::Exactly(root) => vec![root],
            RootFilter::Covering(path) => covering_roots(path),
        };
        let Some(roots) = self.table(&txn, ROOTS)? else {
            // A format 1 file opened read-only has no root index yet.
            return self.filter_every_snapshot(&snaps, q, below, limit);
        };
        // The host is in the snapshot record, not in the root index: with a
        // host, each root's entries are read until `limit` of them match.
        let mut found = Vec::new();
        for root in candidates {
            let range = roots
                .range::<(&[u8], u64)>((root, 0)..(root, below))
                .ctx(&self.path, "cannot read")?;
            let mut taken = 0;
            for item in range.rev() {
                if taken >= limit {
                    break;
                }
                let id = item.ctx(&self.path, "cannot read")?.0.value().1;
                let info = self.indexed_info(&snaps, id)?;
                if q.host.is_none_or(|h| info.meta.host == h) {
                    found.push(info);
                    taken += 1;
                }
            }
        }
        found.sort_unstable_by_key(|s| std::cmp::Reverse(s.id));
        found.dedup_by_key(|s| s.id);
        found.truncate(limit);
        Ok(found)
    }

    /// The snapshot an index entry names; its absence is damage.
    fn indexed_info(&self, snaps: &SnapsTable, id: u64) -> Result<SnapshotInfo> {
        let v = snaps
            .get(id)
            .ctx(&self.path, "cannot read")?
            .ok_or_else(|| bad_record(&self.path, "the root index"))?;
        self.info(id, v.value())
    }

    /// [`SnapshotQuery::matches`] over every snapshot record, newest first:
    /// only for format 1 files opened read-only.
    fn filter_every_snapshot(
        &self,
        snaps: &SnapsTable,
        q: &SnapshotQuery<'_>,
        below: u64,
        limit: usize,
    ) -> Result<Vec<SnapshotInfo>> {
        let mut out = Vec::new();
        for item in snaps.range(..below).ctx(&self.path, "cannot read")?.rev() {
            let (k, v) = item.ctx(&self.path, "cannot read")?;
            let info = self.info(k.value(), v.value())?;
            if q.matches(&info) {
                out.push(info);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    pub(crate) fn latest_per_root_impl(&self, host: Option<&str>) -> Result<Vec<SnapshotInfo>> {
        let txn = self.read()?;
        let Some(snaps) = self.table(&txn, SNAPSHOTS)? else {
            return Ok(Vec::new());
        };
        let mut newest: BTreeMap<(Vec<u8>, String), SnapshotInfo> = BTreeMap::new();
        let mut keep = |s: SnapshotInfo| {
            if host.is_none_or(|h| s.meta.host == h) {
                let key = (s.meta.root.clone(), s.meta.host.clone());
                if newest.get(&key).is_none_or(|n| n.id < s.id) {
                    newest.insert(key, s);
                }
            }
        };
        let Some(roots) = self.table(&txn, ROOTS)? else {
            // A format 1 file opened read-only has no root index yet.
            for s in self.snapshots_impl()? {
                keep(s);
            }
            return Ok(newest.into_values().collect());
        };
        // Each root's entries, newest first, until every host has one (with
        // a host given, until it has): hosts are in the snapshot records.
        let mut previous: Option<Vec<u8>> = None;
        loop {
            // The first index entry after every entry of the previous root.
            let from = match &previous {
                None => Bound::Unbounded,
                Some(r) => Bound::Excluded((r.as_slice(), u64::MAX)),
            };
            let next = roots
                .range::<(&[u8], u64)>((from, Bound::Unbounded))
                .ctx(&self.path, "cannot read")?
                .next();
            let Some(item) = next else {
                break;
            };
            let root = item.ctx(&self.path, "cannot read")?.0.value().0.to_vec();
            let entries = roots
                .range::<(&[u8], u64)>((root.as_slice(), 0)..=(root.as_slice(), u64::MAX))
                .ctx(&self.path, "cannot read")?;
            for entry in entries.rev() {
                let id = entry.ctx(&self.path, "cannot read")?.0.value().1;
                let info = self.indexed_info(&snaps, id)?;
                let matched = host.is_some_and(|h| info.meta.host == h);
                keep(info);
                if matched {
                    break;
                }
            }
            previous = Some(root);
        }
        Ok(newest.into_values().collect())
    }

    pub(crate) fn append_batch_impl(&mut self, batch: &LiveBatch<'_>) -> Result<i64> {
        let db = self.writable()?;
        let what = "cannot append a watcher batch to";
        let txn = self.write_txn(db)?;
        let n = batch.mutations.len() as u64;
        let first = take_ids(&txn, &self.path, KEY_NEXT_MUTATION, n)?;
        {
            let mut log = txn.open_table(MUTATIONS).ctx(&self.path, what)?;
            for (id, m) in (first..).zip(batch.mutations) {
                log.insert(id, codec::encode_mutation(m).as_slice())
                    .ctx(&self.path, what)?;
            }
        }
        if !batch.events.is_empty() {
            let seq = take_ids(&txn, &self.path, KEY_NEXT_EVENT, batch.events.len() as u64)?;
            let mut journal = txn.open_table(JOURNAL).ctx(&self.path, what)?;
            for (seq, e) in (seq..).zip(batch.events) {
                journal
                    .insert((e.time_ms, seq), codec::encode_event(e).as_slice())
                    .ctx(&self.path, what)?;
            }
        }
        if let Some(state) = batch.watch_state {
            self.put_watch_state(&txn, state)?;
        }
        txn.commit().ctx(&self.path, what)?;
        // take_ids keeps every id within i64; `first - 1` is the last id
        // appended before (0 when none ever was).
        Ok((first + n - 1) as i64)
    }

    pub(crate) fn mutations_after_impl(
        &self,
        cursor: i64,
        under: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<LoggedMutation>> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        let txn = self.read()?;
        let Some(log) = self.table(&txn, MUTATIONS)? else {
            return Ok(out);
        };
        let under = under.map(trim_slashes);
        let after = u64::try_from(cursor).unwrap_or(0);
        let range = log
            .range::<u64>((Bound::Excluded(after), Bound::Unbounded))
            .ctx(&self.path, "cannot read")?;
        for item in range {
            let (k, v) = item.ctx(&self.path, "cannot read")?;
            let bytes = v.value();
            if let Some(u) = under {
                let p = codec::mutation_path(bytes)
                    .ok_or_else(|| bad_record(&self.path, "a logged mutation"))?;
                if !is_within(p, u) {
                    continue;
                }
            }
            let mutation = codec::decode_mutation(bytes)
                .ok_or_else(|| bad_record(&self.path, "a logged mutation"))?;
            out.push(LoggedMutation {
                id: i64::try_from(k.value())
                    .map_err(|_| bad_record(&self.path, "a mutation id"))?,
                mutation,
            });
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    pub(crate) fn prune_mutations_impl(
        &mut self,
        through: i64,
        under: Option<&[u8]>,
    ) -> Result<usize> {
        let db = self.writable()?;
        let Ok(through) = u64::try_from(through) else {
            return Ok(0);
        };
        let what = "cannot prune the mutation log of";
        let under = under.map(trim_slashes);
        let txn = self.write_txn(db)?;
        let mut pruned = 0usize;
        {
            let mut log = txn.open_table(MUTATIONS).ctx(&self.path, what)?;
            log.retain_in(..=through, |_, v| {
                // A record that does not decode has no path: it is under
                // nothing, and only a prune of everything removes it.
                let hit = match under {
                    None => true,
                    Some(u) => codec::mutation_path(v).is_some_and(|p| is_within(p, u)),
                };
                pruned += usize::from(hit);
                !hit
            })
            .ctx(&self.path, what)?;
        }
        add_removed(&txn, &self.path, pruned as u64)?;
        txn.commit().ctx(&self.path, what)?;
        Ok(pruned)
    }

    pub(crate) fn journal_impl(&self, q: &JournalQuery) -> Result<Vec<JournalEvent>> {
        let mut out = Vec::new();
        let limit = q.limit.unwrap_or(usize::MAX);
        let since = q.since_ms.unwrap_or(i64::MIN);
        if limit == 0 || q.until_ms.is_some_and(|u| u <= since) {
            return Ok(out);
        }
        let txn = self.read()?;
        let Some(journal) = self.table(&txn, JOURNAL)? else {
            return Ok(out);
        };
        // Sequence numbers start at 1, so `(t, 0)` sorts before every entry at `t`.
        let lo = Bound::Included((since, 0u64));
        let hi = q
            .until_ms
            .map_or(Bound::Unbounded, |u| Bound::Excluded((u, 0u64)));
        let under = q.under.as_deref().map(trim_slashes);
        let range = journal
            .range::<(i64, u64)>((lo, hi))
            .ctx(&self.path, "cannot read")?;
        for item in range.rev() {
            let (k, v) = item.ctx(&self.path, "cannot read")?;
            let e = codec::decode_event(k.value().0, v.value())
                .ok_or_else(|| bad_record(&self.path, "a journal entry"))?;
            if under.is_some_and(|u| !is_within(&e.path, u)) {
                continue;
            }
            out.push(e);
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    pub(crate) fn prune_journal_impl(&mut self, before_ms: i64) -> Result<usize> {
        let db = self.writable()?;
        let what = "cannot prune the journal of";
        let txn = self.write_txn(db)?;
        let mut pruned = 0usize;
        {
            let mut journal = txn.open_table(JOURNAL).ctx(&self.path, what)?;
            journal
                .retain_in::<(i64, u64), _>(..(before_ms, 0), |_, _| {
                    pruned += 1;
                    false
                })
                .ctx(&self.path, what)?;
        }
        add_removed(&txn, &self.path, pruned as u64)?;
        txn.commit().ctx(&self.path, what)?;
        Ok(pruned)
    }

    pub(crate) fn record_dir_deltas_impl(&mut self, deltas: &[DirDelta]) -> Result<()> {
        let db = self.writable()?;
        let txn = self.write_txn(db)?;
        self.insert_deltas(&txn, deltas, None)?;
        txn.commit()
            .ctx(&self.path, "cannot record directory deltas in")
    }

    /// Inserts `deltas` in `txn`, each against `snapshot` when given and
    /// against its own (which must exist) otherwise.
    fn insert_deltas(
        &self,
        txn: &WriteTransaction,
        deltas: &[DirDelta],
        snapshot: Option<u64>,
    ) -> Result<()> {
        if deltas.is_empty() {
            return Ok(());
        }
        let what = "cannot record directory deltas in";
        let first = take_ids(txn, &self.path, KEY_NEXT_DELTA, deltas.len() as u64)?;
        let snaps = txn.open_table(SNAPSHOTS).ctx(&self.path, what)?;
        let mut table = txn.open_table(DELTAS).ctx(&self.path, what)?;
        for (seq, d) in (first..).zip(deltas) {
            let id = match snapshot {
                Some(id) => id,
                None => match codec::stored_id(d.snapshot) {
                    Some(u) if snaps.get(u).ctx(&self.path, what)?.is_some() => u,
                    _ => return Err(self.no_snapshot(d.snapshot)),
                },
            };
            table
                .insert(
                    (id, d.path.as_slice(), seq),
                    codec::encode_delta(d).as_slice(),
                )
                .ctx(&self.path, what)?;
        }
        Ok(())
    }

    pub(crate) fn dir_deltas_impl(&self, snapshot: SnapshotId) -> Result<Vec<DirDelta>> {
        let mut out = Vec::new();
        let Some(u) = codec::stored_id(snapshot) else {
            return Ok(out);
        };
        let txn = self.read()?;
        let Some(table) = self.table(&txn, DELTAS)? else {
            return Ok(out);
        };
        let none: &[u8] = &[];
        for item in table
            .range::<(u64, &[u8], u64)>((u, none, 0)..(u + 1, none, 0))
            .ctx(&self.path, "cannot read")?
        {
            let (k, v) = item.ctx(&self.path, "cannot read")?;
            let (_, path, _) = k.value();
            out.push(
                codec::decode_delta(snapshot, path, v.value())
                    .ok_or_else(|| bad_record(&self.path, "a directory delta"))?,
            );
        }
        Ok(out)
    }

    pub(crate) fn watch_state_impl(&self, root: &[u8]) -> Result<Option<WatchState>> {
        let txn = self.read()?;
        let Some(table) = self.table(&txn, WATCH)? else {
            return Ok(None);
        };
        match table.get(root).ctx(&self.path, "cannot read")? {
            None => Ok(None),
            Some(v) => Ok(Some(
                codec::decode_watch(root, v.value())
                    .ok_or_else(|| bad_record(&self.path, "a watch state"))?,
            )),
        }
    }

    pub(crate) fn watch_states_impl(&self) -> Result<Vec<WatchState>> {
        let txn = self.read()?;
        let Some(table) = self.table(&txn, WATCH)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for item in table.iter().ctx(&self.path, "cannot read")? {
            let (k, v) = item.ctx(&self.path, "cannot read")?;
            out.push(
                codec::decode_watch(k.value(), v.value())
                    .ok_or_else(|| bad_record(&self.path, "a watch state"))?,
            );
        }
        Ok(out)
    }

    pub(crate) fn set_watch_state_impl(&mut self, state: &WatchState) -> Result<()> {
        let db = self.writable()?;
        let txn = self.write_txn(db)?;
        self.put_watch_state(&txn, state)?;
        txn.commit()
            .ctx(&self.path, "cannot record the watch state in")
    }

    fn put_watch_state(&self, txn: &WriteTransaction, state: &WatchState) -> Result<()> {
        let what = "cannot record the watch state in";
        txn.open_table(WATCH)
            .ctx(&self.path, what)?
            .insert(state.root.as_slice(), codec::encode_watch(state).as_slice())
            .ctx(&self.path, what)?;
        Ok(())
    }

    pub(crate) fn index_provenance_impl(&self) -> Result<Option<IndexProvenance>> {
        let txn = self.read()?;
        let Some(table) = self.table(&txn, PROVENANCE)? else {
            return Ok(None);
        };
        match table.get(PROVENANCE_KEY).ctx(&self.path, "cannot read")? {
            None => Ok(None),
            Some(v) => Ok(Some(codec::decode_provenance(v.value()).ok_or_else(
                || bad_record(&self.path, "the live index's provenance"),
            )?)),
        }
    }

    pub(crate) fn set_index_provenance_impl(&mut self, p: &IndexProvenance) -> Result<()> {
        let db = self.writable()?;
        let what = "cannot record the live index's provenance in";
        let encoded = codec::encode_provenance(p).ok_or_else(|| {
            Error::new(
                ErrorKind::Usage,
                "an index provenance with a root over 4 GiB, or over 4 G roots",
            )
        })?;
        let txn = self.write_txn(db)?;
        txn.open_table(PROVENANCE)
            .ctx(&self.path, what)?
            .insert(PROVENANCE_KEY, encoded.as_slice())
            .ctx(&self.path, what)?;
        txn.commit().ctx(&self.path, what)
    }

    /// See [`disktracker::SnapshotStore::derive_snapshot`]. The unchanged
    /// rows are copied as stored (key and value bytes, never decoded): the
    /// base's key range minus the removed subtrees, merged in path order with
    /// the upserts, appended at the end of the directory table like any new
    /// snapshot's rows.
    pub(crate) fn derive_snapshot_impl(&mut self, d: &DerivedSnapshot<'_>) -> Result<SnapshotId> {
        let db = self.writable()?;
        if let Some(w) = d.upserts.windows(2).find(|w| w[0].path >= w[1].path) {
            return Err(Error::new(
                ErrorKind::Usage,
                format!(
                    "the directories of a derived snapshot must come in strictly increasing path order; {} follows {}",
                    escape_bytes(&w[1].path),
                    escape_bytes(&w[0].path)
                ),
            ));
        }
        let encoded = encode_meta(d.meta)?;
        let Some(base) = codec::stored_id(d.base) else {
            return Err(self.no_snapshot(d.base));
        };
        let what = "cannot derive a snapshot in";
        let txn = self.write_txn(db)?;
        // Begun after the write transaction, which excludes every other
        // writer, so it reads exactly the state this write starts from.
        let read = db.begin_read().ctx(&self.path, "cannot read")?;
        let base_root = {
            let snaps = read.open_table(SNAPSHOTS).ctx(&self.path, "cannot read")?;
            let v = snaps
                .get(base)
                .ctx(&self.path, "cannot read")?
                .ok_or_else(|| self.no_snapshot(d.base))?;
            codec::decode_meta(v.value())
                .ok_or_else(|| bad_record(&self.path, "a snapshot record"))?
                .root
        };
        if base_root != d.meta.root {
            return Err(Error::new(
                ErrorKind::Usage,
                format!(
                    "snapshot {} of {} is of root {}, not {}: a derived snapshot keeps its base's root",
                    d.base,
                    escape_path(&self.path),
                    escape_bytes(&base_root),
                    escape_bytes(&d.meta.root)
                ),
            ));
        }
        let id = self.next_snapshot_id(&txn)?;
        let mut w = RedbWriter::new(&self.path, txn, id, encoded, d.meta.root.clone());
        let dirs = read.open_table(DIRS).ctx(&self.path, "cannot read")?;
        let mut upserts = d.upserts.iter().peekable();
        let mut errors = 0u64;
        for (lo, hi) in kept_ranges(base, d.removed) {
            for item in dirs
                .range::<&[u8]>(lo.as_slice()..hi.as_slice())
                .ctx(&self.path, "cannot read")?
            {
                let (k, v) = item.ctx(&self.path, "cannot read")?;
                let key = k.value();
                let path = codec::dir_key_path(key)
                    .ok_or_else(|| bad_record(&self.path, "a directory key"))?;
                let mut replaced = false;
                while let Some(u) = upserts.next_if(|u| u.path.as_slice() <= path) {
                    replaced |= u.path == path;
                    errors = errors.saturating_add(u.stats.error_count);
                    w.push(&u.path, &codec::encode_dir(u.depth, &u.stats))?;
                }
                if !replaced {
                    errors = errors.saturating_add(codec::dir_error_count(v.value()));
                    w.push(path, v.value())?;
                }
            }
        }
        for u in upserts {
            errors = errors.saturating_add(u.stats.error_count);
            w.push(&u.path, &codec::encode_dir(u.depth, &u.stats))?;
        }
        // The counts are the rows written, whatever the caller said.
        let mut meta = d.meta.clone();
        meta.dir_count = w.rows;
        meta.error_count = errors;
        w.meta = encode_meta(&meta)?;
        let (txn, id) = w.finish()?;
        self.insert_deltas(&txn, d.deltas, Some(id))?;
        let id = i64::try_from(id).map_err(|_| bad_record(&self.path, "the next snapshot id"))?;
        if let Some(state) = d.watch_state {
            let mut state = state.clone();
            state.last_snapshot = Some(id);
            self.put_watch_state(&txn, &state)?;
        }
        txn.commit().ctx(&self.path, what)?;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covering_roots_are_exactly_what_is_within_accepts() {
        let paths: [&[u8]; 6] = [b"/a/b/c", b"/", b"/a//b/", b"rel/x", b"", b"/a-b/c"];
        let dirs: [&[u8]; 12] = [
            b"",
            b"/",
            b"/a",
            b"/a/",
            b"/a/b",
            b"/a/b/",
            b"/a/b/c",
            b"/a-b",
            b"/a//b",
            b"rel",
            b"rel/x",
            b"/a/b/c/d",
        ];
        for p in paths {
            let got = covering_roots(p);
            for d in dirs {
                assert_eq!(
                    got.contains(&d),
                    is_within(p, d),
                    "path {} root {}",
                    escape_bytes(p),
                    escape_bytes(d)
                );
            }
        }
    }

    #[test]
    fn kept_ranges_skip_subtrees_but_not_siblings_that_sort_between() {
        let paths: [&[u8]; 9] = [
            b"/", b"/P", b"/P-x", b"/P.x", b"/P/a", b"/P/a/b", b"/P0", b"/Q", b"/Q/x",
        ];
        let kept = |removed: &[&[u8]]| -> Vec<&[u8]> {
            let removed: Vec<Vec<u8>> = removed.iter().map(|r| r.to_vec()).collect();
            let ranges = kept_ranges(7, &removed);
            paths
                .iter()
                .copied()
                .filter(|p| {
                    let k = codec::dir_key(7, p);
                    ranges.iter().any(|(lo, hi)| lo <= &k && &k < hi)
                })
                .collect()
        };
        assert_eq!(kept(&[]), paths);
        assert_eq!(
            kept(&[b"/P"]),
            [&b"/"[..], b"/P-x", b"/P.x", b"/P0", b"/Q", b"/Q/x"]
        );
        assert_eq!(
            kept(&[b"/P/a/", b"/Q"]),
            [&b"/"[..], b"/P", b"/P-x", b"/P.x", b"/P0"]
        );
        assert_eq!(kept(&[b"/P", b"/P/a"]), kept(&[b"/P"]));
        assert!(kept(&[b"/"]).is_empty());
        assert!(kept(&[b"/Q/x", b"/"]).is_empty());
    }
}
