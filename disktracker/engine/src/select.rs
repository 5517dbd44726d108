//! Choosing snapshots. Each choice is one query of the store
//! ([`SnapshotStore::find_snapshots`] / [`SnapshotStore::latest`]); a second
//! query is made only to word an error well.

use disktracker::path::escape_bytes;
use disktracker::{
    Error, ErrorKind, Result, SnapshotId, SnapshotInfo, SnapshotQuery, SnapshotStore,
};

/// The error for a snapshot id that does not exist.
pub fn unknown_snapshot(store: &dyn SnapshotStore, id: SnapshotId) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!("no snapshot {id} in {}", store.location()),
    )
    .with_hint("`disktracker snapshots` lists them")
}

fn empty_database(store: &dyn SnapshotStore) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!("database {} holds no snapshots", store.location()),
    )
    .with_hint("run `disktracker scan DIR` first")
}

/// Snapshot `id`, or [`unknown_snapshot`].
pub fn by_id(store: &dyn SnapshotStore, id: SnapshotId) -> Result<SnapshotInfo> {
    store
        .snapshot(id)?
        .ok_or_else(|| unknown_snapshot(store, id))
}

/// The newest snapshot of exactly `root`, if any.
pub fn newest_of_root(store: &dyn SnapshotStore, root: &[u8]) -> Result<Option<SnapshotInfo>> {
    store.latest(SnapshotQuery::of_root(root))
}

/// The newest snapshot whose root is `path` or one of its ancestors (the
/// newest of all with no path). An error says whether the database is empty
/// or only holds other roots.
pub fn newest_covering(store: &dyn SnapshotStore, path: Option<&[u8]>) -> Result<SnapshotInfo> {
    let query = path.map_or_else(SnapshotQuery::any, SnapshotQuery::covering);
    if let Some(s) = store.latest(query)? {
        return Ok(s);
    }
    let Some(p) = path else {
        return Err(empty_database(store));
    };
    if store.latest(SnapshotQuery::any())?.is_none() {
        return Err(empty_database(store));
    }
    Err(Error::new(
        ErrorKind::NotFound,
        format!("no snapshot covers {}", escape_bytes(p)),
    )
    .with_hint("scan it first, or see `disktracker snapshots`"))
}

/// The two newest snapshots of exactly `root`, older first.
pub fn last_two_of_root(
    store: &dyn SnapshotStore,
    root: &[u8],
) -> Result<(SnapshotInfo, SnapshotInfo)> {
    let mut two = store.find_snapshots(&SnapshotQuery::of_root(root).limit(2))?;
    match (two.pop(), two.pop()) {
        (Some(older), Some(newer)) => Ok((older, newer)),
        _ => Err(Error::new(
            ErrorKind::NotFound,
            format!(
                "only one snapshot of {} in {}",
                escape_bytes(root),
                store.location()
            ),
        )
        .with_hint("scan it again to have something to compare")),
    }
}

/// The newest snapshot of `a`'s root other than `a` itself.
pub fn newest_other(store: &dyn SnapshotStore, a: &SnapshotInfo) -> Result<SnapshotInfo> {
    let two = store.find_snapshots(&SnapshotQuery::of_root(&a.meta.root).limit(2))?;
    two.into_iter().find(|s| s.id != a.id).ok_or_else(|| {
        Error::new(
            ErrorKind::NotFound,
            format!(
                "snapshot {} is the only snapshot of {}",
                a.id,
                escape_bytes(&a.meta.root)
            ),
        )
        .with_hint("scan it again to have something to compare")
    })
}

/// Two given snapshots, refusing a pair of different roots.
pub fn pair(
    store: &dyn SnapshotStore,
    a: SnapshotId,
    b: SnapshotId,
) -> Result<(SnapshotInfo, SnapshotInfo)> {
    let (sa, sb) = (by_id(store, a)?, by_id(store, b)?);
    if sa.meta.root != sb.meta.root {
        return Err(Error::new(
            ErrorKind::Usage,
            format!(
                "snapshots {a} and {b} are of different roots ({} and {})",
                escape_bytes(&sa.meta.root),
                escape_bytes(&sb.meta.root)
            ),
        )
        .with_hint("compare two snapshots of the same directory"));
    }
    Ok((sa, sb))
}

/// The two snapshots `diff` and `explain` compare: both as given; or `a`
/// and the newest other snapshot of its root; or the two newest snapshots of
/// the root of the newest snapshot covering `path` (of the newest snapshot
/// at all without a path).
pub fn compared(
    store: &dyn SnapshotStore,
    a: Option<SnapshotId>,
    b: Option<SnapshotId>,
    path: Option<&[u8]>,
) -> Result<(SnapshotInfo, SnapshotInfo)> {
    match (a, b) {
        (Some(a), Some(b)) => pair(store, a, b),
        (Some(a), None) => {
            let sa = by_id(store, a)?;
            let sb = newest_other(store, &sa)?;
            Ok((sa, sb))
        }
        (None, Some(_)) => Err(Error::new(
            ErrorKind::Usage,
            "give the older snapshot too (--from with --to)",
        )),
        (None, None) => {
            let newest = newest_covering(store, path)?;
            last_two_of_root(store, &newest.meta.root)
        }
    }
}
