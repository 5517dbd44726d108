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

/// The newest snapshot of exactly `root` taken by `host` (any host with
/// `None`), if any.
pub fn newest_of_root(
    store: &dyn SnapshotStore,
    root: &[u8],
    host: Option<&str>,
) -> Result<Option<SnapshotInfo>> {
    store.latest(SnapshotQuery::of_root(root).host(host))
}

/// "of host H", for messages about a host-filtered selection.
fn of_host(host: Option<&str>) -> String {
    host.map(|h| format!(" of host {h}")).unwrap_or_default()
}

/// The error for a selection that `host` left empty while other hosts'
/// snapshots match `query`; `None` when no other host's do either.
fn other_hosts_hint(
    store: &dyn SnapshotStore,
    query: SnapshotQuery<'_>,
    host: Option<&str>,
    what: String,
) -> Result<Option<Error>> {
    if host.is_none() {
        return Ok(None);
    }
    Ok(store.latest(query.host(None))?.map(|other| {
        Error::new(ErrorKind::NotFound, format!("{what}{}", of_host(host))).with_hint(format!(
            "host {} has one: pass --host {}, or see `disktracker fleet`",
            other.meta.host, other.meta.host
        ))
    }))
}

/// The newest snapshot taken by `host` (any host with `None`) whose root is
/// `path` or one of its ancestors (the newest of all with no path). An
/// error says whether the database is empty, only other hosts have one, or
/// it only holds other roots.
pub fn newest_covering(
    store: &dyn SnapshotStore,
    path: Option<&[u8]>,
    host: Option<&str>,
) -> Result<SnapshotInfo> {
    let query = path.map_or_else(SnapshotQuery::any, SnapshotQuery::covering);
    if let Some(s) = store.latest(query.host(host))? {
        return Ok(s);
    }
    let what = match path {
        Some(p) => format!("no snapshot covers {}", escape_bytes(p)),
        None => format!("database {} holds no snapshots", store.location()),
    };
    if let Some(e) = other_hosts_hint(store, query, host, what.clone())? {
        return Err(e);
    }
    let Some(p) = path else {
        return Err(match host {
            None => empty_database(store),
            Some(_) => Error::new(ErrorKind::NotFound, format!("{what}{}", of_host(host)))
                .with_hint("run `disktracker scan DIR` first"),
        });
    };
    if store.latest(SnapshotQuery::any())?.is_none() {
        return Err(empty_database(store));
    }
    Err(Error::new(
        ErrorKind::NotFound,
        format!("no snapshot{} covers {}", of_host(host), escape_bytes(p)),
    )
    .with_hint("scan it first, or see `disktracker snapshots`"))
}

/// The two newest snapshots of exactly `root` taken by `host`, older first.
pub fn last_two_of_root(
    store: &dyn SnapshotStore,
    root: &[u8],
    host: Option<&str>,
) -> Result<(SnapshotInfo, SnapshotInfo)> {
    let mut two = store.find_snapshots(&SnapshotQuery::of_root(root).host(host).limit(2))?;
    match (two.pop(), two.pop()) {
        (Some(older), Some(newer)) => Ok((older, newer)),
        _ => Err(Error::new(
            ErrorKind::NotFound,
            format!(
                "only one snapshot{} of {} in {}",
                of_host(host),
                escape_bytes(root),
                store.location()
            ),
        )
        .with_hint("scan it again to have something to compare")),
    }
}

/// The newest snapshot of `a`'s root taken by `host`, other than `a` itself.
pub fn newest_other(
    store: &dyn SnapshotStore,
    a: &SnapshotInfo,
    host: Option<&str>,
) -> Result<SnapshotInfo> {
    let two = store.find_snapshots(&SnapshotQuery::of_root(&a.meta.root).host(host).limit(2))?;
    two.into_iter().find(|s| s.id != a.id).ok_or_else(|| {
        Error::new(
            ErrorKind::NotFound,
            format!(
                "snapshot {} is the only snapshot{} of {}",
                a.id,
                of_host(host),
                escape_bytes(&a.meta.root)
            ),
        )
        .with_hint("scan it again to have something to compare")
    })
}

/// Two given snapshots, refusing a pair of different roots (the hosts may
/// differ: comparing two machines' copies of one directory is allowed).
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

/// The hosts whose snapshots the two sides of a comparison are taken from
/// (`None`: any host).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sides<'a> {
    /// The older side.
    pub older: Option<&'a str>,
    /// The newer side.
    pub newer: Option<&'a str>,
}

impl<'a> Sides<'a> {
    /// Both sides from `host`.
    pub fn same(host: Option<&'a str>) -> Self {
        Sides {
            older: host,
            newer: host,
        }
    }
}

/// The two snapshots `diff` and `explain` compare: both as given; or `a`
/// and the newest other snapshot of its root on the newer side's host; or,
/// with one host for both sides, the two newest snapshots of the root of
/// its newest snapshot covering `path` (of its newest snapshot at all
/// without a path); with two hosts, the older host's newest snapshot
/// covering `path` and the newer host's newest of the same root.
pub fn compared(
    store: &dyn SnapshotStore,
    a: Option<SnapshotId>,
    b: Option<SnapshotId>,
    path: Option<&[u8]>,
    sides: Sides<'_>,
) -> Result<(SnapshotInfo, SnapshotInfo)> {
    match (a, b) {
        (Some(a), Some(b)) => pair(store, a, b),
        (Some(a), None) => {
            let sa = by_id(store, a)?;
            let sb = newest_other(store, &sa, sides.newer)?;
            Ok((sa, sb))
        }
        (None, Some(_)) => Err(Error::new(
            ErrorKind::Usage,
            "give the older snapshot too (--from with --to)",
        )),
        (None, None) if sides.older == sides.newer => {
            let newest = newest_covering(store, path, sides.older)?;
            last_two_of_root(store, &newest.meta.root, sides.older)
        }
        (None, None) => {
            let older = newest_covering(store, path, sides.older)?;
            let newer = newest_of_root(store, &older.meta.root, sides.newer)?.ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    format!(
                        "no snapshot{} of {} to compare with host {}'s",
                        of_host(sides.newer),
                        escape_bytes(&older.meta.root),
                        older.meta.host
                    ),
                )
                .with_hint("scan the same directory on both hosts")
            })?;
            Ok((older, newer))
        }
    }
}
