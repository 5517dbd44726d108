//! The [`SnapshotStore`] plugin trait: durable snapshots and everything derived from them.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::live::{
    DerivedSnapshot, DirDelta, IndexProvenance, JournalEvent, JournalQuery, LiveBatch,
    LoggedMutation, WatchState,
};
use crate::model::{DiffEntry, DirRecord, DirStats, SnapshotId, SnapshotInfo, SnapshotMeta};
use crate::settings::PluginSettings;

/// Where a store lives: a file of its own, or a server named by a URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreLocation {
    /// A database file (SQLite, redb).
    File(PathBuf),
    /// A server URL (`postgres://user@host/db`). Shown without its password.
    Url(String),
}

impl StoreLocation {
    /// The file, for file stores.
    pub fn file(&self) -> Option<&Path> {
        match self {
            StoreLocation::File(p) => Some(p),
            StoreLocation::Url(_) => None,
        }
    }
}

impl fmt::Display for StoreLocation {
    /// The escaped path, or the URL with any password replaced by `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::File(p) => f.write_str(&crate::path::escape_path(p)),
            StoreLocation::Url(u) => f.write_str(&redact_url(u)),
        }
    }
}

/// A connection string with every password replaced by `***`:
///
/// * the user-info password of a URL: `scheme://user:secret@host/…` →
///   `scheme://user:***@host/…`;
/// * a `password=` query parameter of a URL: `…?sslmode=require&password=x`
///   → `…?sslmode=require&password=***`;
/// * a `password=` pair of a key/value string (libpq's other form, quoted
///   or not): `host=db password='a b' user=u` → `host=db password=*** user=u`.
///
/// Anything else is returned unchanged.
pub fn redact_url(url: &str) -> String {
    match url.find("://") {
        Some(scheme_end) => redact_uri(url, scheme_end),
        None => redact_key_values(url),
    }
}

fn redact_uri(url: &str, scheme_end: usize) -> String {
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let mut out = String::with_capacity(url.len());
    out.push_str(&url[..scheme_end + 3]);
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            match userinfo.find(':') {
                Some(colon) => {
                    out.push_str(&userinfo[..colon]);
                    out.push_str(":***");
                }
                None => out.push_str(userinfo),
            }
            out.push_str(&authority[at..]);
        }
        None => out.push_str(authority),
    }
    let tail = &rest[authority_end..];
    let Some(q) = tail.find('?') else {
        out.push_str(tail);
        return out;
    };
    out.push_str(&tail[..=q]);
    let query = &tail[q + 1..];
    let (query, fragment) = match query.find('#') {
        Some(h) => (&query[..h], &query[h..]),
        None => (query, ""),
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
            _ => pair.to_owned(),
        })
        .collect();
    out.push_str(&pairs.join("&"));
    out.push_str(fragment);
    out
}

/// libpq's `key = value` form: values are bare words or single-quoted with
/// `\` escapes; only `password`'s value is replaced.
fn redact_key_values(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        // Copy whitespace and the key.
        let start = i;
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let key_start = i;
        while i < b.len() && b[i] != b'=' && !b[i].is_ascii_whitespace() {
            i += 1;
        }
        let key = &s[key_start..i];
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() || b[i] != b'=' {
            // Not a pair: keep the rest as it is.
            out.push_str(&s[start..]);
            return out;
        }
        i += 1;
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let value_start = i;
        if i < b.len() && b[i] == b'\'' {
            i += 1;
            while i < b.len() && b[i] != b'\'' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i = (i + 1).min(b.len());
        } else {
            while i < b.len() && !b[i].is_ascii_whitespace() {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i = i.min(b.len());
        }
        out.push_str(&s[start..value_start]);
        if key.eq_ignore_ascii_case("password") {
            out.push_str("***");
        } else {
            out.push_str(&s[value_start..i]);
        }
    }
    out
}

/// How to open a store.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct StoreOptions {
    /// Where the store lives.
    pub location: StoreLocation,
    /// Open without creating or migrating anything; writes fail.
    pub read_only: bool,
    /// The store plugin's `[plugins.NAME]` settings.
    pub settings: PluginSettings,
    /// The host this process stores snapshots as. A store shared by many
    /// hosts (a server) keeps each host's live tables (watch state,
    /// mutation log, journal, index provenance) apart by it; a file store,
    /// which one host owns, may ignore it.
    pub host: String,
}

impl StoreOptions {
    /// Writable options for the file at `path`, with empty settings (each
    /// getter then fails; use [`StoreOptions::with_settings`] for real use).
    pub fn file(path: impl Into<PathBuf>) -> Self {
        StoreOptions {
            location: StoreLocation::File(path.into()),
            read_only: false,
            settings: PluginSettings::default(),
            host: String::new(),
        }
    }

    /// Writable options for a server at `url`.
    pub fn url(url: impl Into<String>) -> Self {
        StoreOptions {
            location: StoreLocation::Url(url.into()),
            read_only: false,
            settings: PluginSettings::default(),
            host: String::new(),
        }
    }

    /// Sets read-only.
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// Sets the plugin settings.
    pub fn with_settings(mut self, settings: PluginSettings) -> Self {
        self.settings = settings;
        self
    }

    /// Sets the host this process stores snapshots as.
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }

    /// The file, for file stores.
    pub fn path(&self) -> Option<&Path> {
        self.location.file()
    }

    /// The file, or a usage error saying that the `store` plugin keeps its
    /// data in a file and cannot open a URL.
    pub fn require_file(&self, store: &str) -> Result<&Path> {
        self.location.file().ok_or_else(|| {
            crate::Error::new(
                crate::ErrorKind::Usage,
                format!(
                    "the {store} store keeps its data in a file and cannot open {}",
                    self.location
                ),
            )
            .with_hint("pass --db FILE, or choose a store that serves this URL with --backend")
        })
    }
}

/// Which roots a [`SnapshotQuery`] matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RootFilter<'a> {
    /// Every snapshot.
    Any,
    /// Snapshots whose root is exactly this path.
    Exactly(&'a [u8]),
    /// Snapshots whose root is this path or one of its ancestors (component-wise),
    /// i.e. snapshots that contain the directory.
    Covering(&'a [u8]),
}

/// A selection of snapshots, answered newest (highest id) first in one query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SnapshotQuery<'a> {
    /// Which roots.
    pub root: RootFilter<'a>,
    /// Only snapshots with an id below this one.
    pub before: Option<SnapshotId>,
    /// At most this many (the newest).
    pub limit: Option<usize>,
    /// Only snapshots taken by this host ([`SnapshotMeta::host`]); `None`: any host.
    pub host: Option<&'a str>,
}

impl<'a> SnapshotQuery<'a> {
    /// Every snapshot, newest first.
    pub fn any() -> Self {
        SnapshotQuery {
            root: RootFilter::Any,
            before: None,
            limit: None,
            host: None,
        }
    }

    /// Snapshots of exactly `root`, newest first.
    pub fn of_root(root: &'a [u8]) -> Self {
        SnapshotQuery {
            root: RootFilter::Exactly(root),
            ..Self::any()
        }
    }

    /// Snapshots containing `path`, newest first.
    pub fn covering(path: &'a [u8]) -> Self {
        SnapshotQuery {
            root: RootFilter::Covering(path),
            ..Self::any()
        }
    }

    /// Only snapshots older than `id`.
    pub fn before(mut self, id: SnapshotId) -> Self {
        self.before = Some(id);
        self
    }

    /// At most `n`.
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }

    /// Only snapshots of `host` (`None`: of every host).
    pub fn host(mut self, host: Option<&'a str>) -> Self {
        self.host = host;
        self
    }

    /// Whether `s` matches (for stores that filter in code, and for tests).
    pub fn matches(&self, s: &SnapshotInfo) -> bool {
        let root_ok = match self.root {
            RootFilter::Any => true,
            RootFilter::Exactly(r) => s.meta.root == r,
            RootFilter::Covering(p) => crate::path::is_within(p, &s.meta.root),
        };
        root_ok
            && self.before.is_none_or(|b| s.id < b)
            && self.host.is_none_or(|h| s.meta.host == h)
    }
}

/// An open transaction writing one snapshot. Dropping it without [`commit`]
/// rolls everything back: a snapshot is stored whole or not at all.
///
/// [`commit`]: SnapshotWriter::commit
pub trait SnapshotWriter {
    /// Writes one directory. Rows arrive in strictly increasing bytewise path
    /// order; stores may rely on it (e.g. for path-ordered reads by row id).
    fn write_dir(&mut self, path: &[u8], depth: u32, stats: &DirStats) -> Result<()>;

    /// Deletes these snapshots in the same transaction (retention applied
    /// with the snapshot that triggers it, so a crash cannot leave one
    /// without the other). Unknown ids are ignored.
    fn delete_with(&mut self, ids: &[SnapshotId]) -> Result<()>;

    /// Makes the snapshot durable and visible; returns its id.
    fn commit(self: Box<Self>) -> Result<SnapshotId>;
}

/// A snapshot database.
///
/// Every implementation must pass the conformance suite in
/// `disktracker-testkit`. Errors name the store and say what to do
/// (a corrupt file is [`crate::ErrorKind::Corrupt`], a busy one
/// [`crate::ErrorKind::Locked`]).
///
/// Contract details the suite checks: snapshot ids increase and are never
/// reused; an unknown snapshot is `None` from [`snapshot`](Self::snapshot)
/// and [`dir`](Self::dir) but [`crate::ErrorKind::NotFound`] from
/// [`visit_tree`](Self::visit_tree) and [`children`](Self::children); the
/// subtree of `/` is everything; a trailing `/` on a path is not part of it.
///
/// A store is registered with a [`StorePlugin`](crate::registry::StorePlugin)
/// (name, file extension, the magic bytes its files start with, URL schemes
/// for servers, settings, `open`). The first-party stores, `sqlite` and
/// `redb`, are the examples of a whole implementation. Here is one used as
/// the host uses it — a snapshot written in one transaction (retention in the
/// same one), a transaction dropped without commit, and the selections the
/// engine makes, each one query. (The small in-memory store behind it is
/// hidden; see the source.)
///
/// ```
/// # use std::collections::BTreeMap;
/// # use disktracker::*;
/// # use disktracker::path::is_within;
/// # #[derive(Default)]
/// # struct Memory { location: Option<StoreLocation>, next: SnapshotId, snaps: BTreeMap<SnapshotId, (SnapshotInfo, BTreeMap<Vec<u8>, DirRecord>)> }
/// # struct Writer<'a> { store: &'a mut Memory, meta: SnapshotMeta, rows: BTreeMap<Vec<u8>, DirRecord>, delete: Vec<SnapshotId> }
/// # impl SnapshotWriter for Writer<'_> {
/// #     fn write_dir(&mut self, path: &[u8], depth: u32, stats: &DirStats) -> Result<()> {
/// #         self.rows.insert(path.to_vec(), DirRecord { path: path.to_vec(), depth, stats: *stats });
/// #         Ok(())
/// #     }
/// #     fn delete_with(&mut self, ids: &[SnapshotId]) -> Result<()> { self.delete.extend(ids); Ok(()) }
/// #     fn commit(self: Box<Self>) -> Result<SnapshotId> {
/// #         let w = *self;
/// #         w.store.next += 1;
/// #         let id = w.store.next;
/// #         for d in &w.delete { w.store.snaps.remove(d); }
/// #         w.store.snaps.insert(id, (SnapshotInfo { id, meta: w.meta }, w.rows));
/// #         Ok(id)
/// #     }
/// # }
/// # fn not_here() -> Error { Error::new(ErrorKind::Plugin, "not in this example") }
/// # impl SnapshotStore for Memory {
/// #     fn location(&self) -> &StoreLocation { self.location.as_ref().unwrap() }
/// #     fn begin_snapshot(&mut self, meta: &SnapshotMeta) -> Result<Box<dyn SnapshotWriter + '_>> {
/// #         Ok(Box::new(Writer { store: self, meta: meta.clone(), rows: BTreeMap::new(), delete: Vec::new() }))
/// #     }
/// #     fn snapshots(&self) -> Result<Vec<SnapshotInfo>> { Ok(self.snaps.values().map(|s| s.0.clone()).collect()) }
/// #     fn find_snapshots(&self, q: &SnapshotQuery<'_>) -> Result<Vec<SnapshotInfo>> {
/// #         let hits = self.snaps.values().rev().map(|s| &s.0).filter(|s| q.matches(s));
/// #         Ok(hits.take(q.limit.unwrap_or(usize::MAX)).cloned().collect())
/// #     }
/// #     fn latest_per_root(&self, _: Option<&str>) -> Result<Vec<SnapshotInfo>> {
/// #         let mut by_root = BTreeMap::new();
/// #         for (s, _) in self.snaps.values() { by_root.insert(s.meta.root.clone(), s.clone()); }
/// #         Ok(by_root.into_values().collect())
/// #     }
/// #     fn snapshot(&self, id: SnapshotId) -> Result<Option<SnapshotInfo>> { Ok(self.snaps.get(&id).map(|s| s.0.clone())) }
/// #     fn delete_snapshots(&mut self, ids: &[SnapshotId]) -> Result<usize> {
/// #         Ok(ids.iter().filter(|id| self.snaps.remove(id).is_some()).count())
/// #     }
/// #     fn visit_tree(&self, id: SnapshotId, under: Option<&[u8]>, visit: &mut dyn FnMut(&DirRecord) -> bool) -> Result<()> {
/// #         let (_, rows) = self.snaps.get(&id).ok_or_else(|| Error::new(ErrorKind::NotFound, format!("no snapshot {id}")))?;
/// #         for r in rows.values().filter(|r| under.is_none_or(|u| is_within(&r.path, u))) {
/// #             if !visit(r) { break; }
/// #         }
/// #         Ok(())
/// #     }
/// #     fn dir(&self, id: SnapshotId, path: &[u8]) -> Result<Option<DirRecord>> {
/// #         Ok(self.snaps.get(&id).and_then(|s| s.1.get(path).cloned()))
/// #     }
/// #     fn children(&self, id: SnapshotId, path: &[u8]) -> Result<Vec<DirRecord>> {
/// #         let mut v = Vec::new();
/// #         self.visit_tree(id, Some(path), &mut |r| { if disktracker::path::parent_bytes(&r.path) == Some(path) { v.push(r.clone()); } true })?;
/// #         Ok(v)
/// #     }
/// #     fn cached_diff(&self, _: SnapshotId, _: SnapshotId) -> Result<Option<Vec<DiffEntry>>> { Ok(None) }
/// #     fn store_diff(&mut self, _: SnapshotId, _: SnapshotId, _: &[DiffEntry]) -> Result<()> { Ok(()) }
/// #     fn reclaim_space(&mut self) -> Result<()> { Ok(()) }
/// #     fn append_batch(&mut self, _: &LiveBatch<'_>) -> Result<i64> { Err(not_here()) }
/// #     fn mutations_after(&self, _: i64, _: Option<&[u8]>, _: usize) -> Result<Vec<LoggedMutation>> { Err(not_here()) }
/// #     fn prune_mutations(&mut self, _: i64, _: Option<&[u8]>) -> Result<usize> { Err(not_here()) }
/// #     fn journal(&self, _: &JournalQuery) -> Result<Vec<JournalEvent>> { Err(not_here()) }
/// #     fn prune_journal(&mut self, _: i64) -> Result<usize> { Err(not_here()) }
/// #     fn record_dir_deltas(&mut self, _: &[DirDelta]) -> Result<()> { Err(not_here()) }
/// #     fn dir_deltas(&self, _: SnapshotId) -> Result<Vec<DirDelta>> { Err(not_here()) }
/// #     fn watch_state(&self, _: &[u8]) -> Result<Option<WatchState>> { Err(not_here()) }
/// #     fn watch_states(&self) -> Result<Vec<WatchState>> { Err(not_here()) }
/// #     fn set_watch_state(&mut self, _: &WatchState) -> Result<()> { Err(not_here()) }
/// #     fn derive_snapshot(&mut self, _: &DerivedSnapshot<'_>) -> Result<SnapshotId> { Err(not_here()) }
/// #     fn index_provenance(&self) -> Result<Option<IndexProvenance>> { Err(not_here()) }
/// #     fn set_index_provenance(&mut self, _: &IndexProvenance) -> Result<()> { Err(not_here()) }
/// # }
/// # fn open_a_store() -> Box<dyn SnapshotStore> {
/// #     Box::new(Memory { location: Some(StoreLocation::File("/tmp/example.db".into())), ..Memory::default() })
/// # }
/// use disktracker::{DirRecord, DirStats, Result, SnapshotId, SnapshotMeta, SnapshotQuery, SnapshotStore};
///
/// fn dir(path: &str, depth: u32, total_bytes: u64) -> DirRecord {
///     let stats = DirStats { total_bytes, ..DirStats::default() };
///     DirRecord { path: path.as_bytes().to_vec(), depth, stats }
/// }
///
/// /// Stores one scan, deleting `expired` in the same transaction.
/// fn store_scan(store: &mut dyn SnapshotStore, root: &str, dirs: &[DirRecord], expired: &[SnapshotId]) -> Result<SnapshotId> {
///     let meta = SnapshotMeta { root: root.as_bytes().to_vec(), total_bytes: dirs[0].stats.total_bytes, ..SnapshotMeta::default() };
///     let mut tx = store.begin_snapshot(&meta)?;
///     for d in dirs {
///         // Strictly increasing bytewise path order: the root first.
///         tx.write_dir(&d.path, d.depth, &d.stats)?;
///     }
///     tx.delete_with(expired)?;
///     tx.commit() // nothing is visible before this
/// }
///
/// let mut store = open_a_store(); // the host: `(plugin.open)(&StoreOptions::file(path))`
/// let tree = [dir("/srv", 0, 300), dir("/srv/a", 1, 200), dir("/srv/a/x", 2, 50), dir("/srv/b", 1, 100)];
/// let first = store_scan(&mut *store, "/srv", &tree, &[]).unwrap();
/// let other = store_scan(&mut *store, "/home", &[dir("/home", 0, 10)], &[]).unwrap();
/// let second = store_scan(&mut *store, "/srv", &tree[..2], &[first]).unwrap();
/// assert!(first < other && other < second); // ids increase, never reused
/// assert!(store.snapshot(first).unwrap().is_none()); // retention, in the same transaction
///
/// // A transaction dropped without commit stores nothing.
/// {
///     let mut tx = store.begin_snapshot(&SnapshotMeta::default()).unwrap();
///     tx.write_dir(b"/tmp", 0, &DirStats::default()).unwrap();
/// }
/// assert_eq!(store.snapshots().unwrap().len(), 2);
///
/// // The engine's selections, each one query: newest of a root, newest
/// // containing a path, the newest of every root.
/// assert_eq!(store.latest(SnapshotQuery::of_root(b"/srv")).unwrap().unwrap().id, second);
/// assert_eq!(store.latest(SnapshotQuery::covering(b"/home/u/docs")).unwrap().unwrap().id, other);
/// assert!(store.latest(SnapshotQuery::covering(b"/srv-old")).unwrap().is_none());
/// let roots: Vec<Vec<u8>> = store.latest_per_root(None).unwrap().into_iter().map(|s| s.meta.root).collect();
/// assert_eq!(roots, [b"/home".to_vec(), b"/srv".to_vec()]);
///
/// // Reading a snapshot: one directory, its children, a subtree in path order.
/// assert_eq!(store.dir(second, b"/srv/a").unwrap().unwrap().stats.total_bytes, 200);
/// assert!(store.dir(second, b"/srv/b").unwrap().is_none());
/// let paths = |rows: Vec<DirRecord>| rows.into_iter().map(|r| r.path).collect::<Vec<_>>();
/// assert_eq!(paths(store.children(second, b"/srv").unwrap()), [b"/srv/a".to_vec()]);
/// assert_eq!(paths(store.read_tree(second, Some(b"/srv")).unwrap()), [b"/srv".to_vec(), b"/srv/a".to_vec()]);
/// assert_eq!(store.visit_tree(99, None, &mut |_| true).unwrap_err().kind(), disktracker::ErrorKind::NotFound);
/// ```
pub trait SnapshotStore: Send {
    /// Where this store lives.
    fn location(&self) -> &StoreLocation;

    /// Starts writing a snapshot described by `meta`.
    fn begin_snapshot(&mut self, meta: &SnapshotMeta) -> Result<Box<dyn SnapshotWriter + '_>>;

    /// All snapshots, oldest (lowest id) first.
    fn snapshots(&self) -> Result<Vec<SnapshotInfo>>;

    /// The snapshots matching `query`, newest (highest id) first, in one
    /// query of the store (never a read of every snapshot).
    fn find_snapshots(&self, query: &SnapshotQuery<'_>) -> Result<Vec<SnapshotInfo>>;

    /// The newest snapshot of every distinct root taken by `host`, sorted by
    /// root bytes; with no host, the newest of every distinct (root, host)
    /// pair, sorted by root bytes and then host.
    fn latest_per_root(&self, host: Option<&str>) -> Result<Vec<SnapshotInfo>>;

    /// One snapshot, if it exists.
    fn snapshot(&self, id: SnapshotId) -> Result<Option<SnapshotInfo>>;

    /// Deletes snapshots and every row that depends on them (directories,
    /// cached diffs, deltas) in one transaction; returns how many existed.
    fn delete_snapshots(&mut self, ids: &[SnapshotId]) -> Result<usize>;

    /// Calls `visit` for every directory of snapshot `id` in bytewise path
    /// order, restricted to `under` and its descendants when given. `visit`
    /// returns `false` to stop early.
    fn visit_tree(
        &self,
        id: SnapshotId,
        under: Option<&[u8]>,
        visit: &mut dyn FnMut(&DirRecord) -> bool,
    ) -> Result<()>;

    /// One directory of a snapshot.
    fn dir(&self, id: SnapshotId, path: &[u8]) -> Result<Option<DirRecord>>;

    /// The immediate subdirectories of `path` in snapshot `id`, in path order.
    fn children(&self, id: SnapshotId, path: &[u8]) -> Result<Vec<DirRecord>>;

    /// A previously stored diff of `a` → `b` (every changed directory), if any.
    fn cached_diff(&self, a: SnapshotId, b: SnapshotId) -> Result<Option<Vec<DiffEntry>>>;

    /// Every directory whose recursive size (either kind) or existence
    /// differs between snapshots `a` and `b`, in bytewise path order —
    /// exactly what comparing both trees read in full gives. A store that
    /// can compare on its side (a server, sparing the transfer of both
    /// trees) returns it; `None` (the default) leaves the comparison to the
    /// caller. Both snapshots exist (callers check).
    fn compare_snapshots(&self, a: SnapshotId, b: SnapshotId) -> Result<Option<Vec<DiffEntry>>> {
        let _ = (a, b);
        Ok(None)
    }

    /// Stores the diff `a` → `b` (only changed directories), replacing any earlier one.
    fn store_diff(&mut self, a: SnapshotId, b: SnapshotId, entries: &[DiffEntry]) -> Result<()>;

    /// Returns free space to the file system after deletions, following the
    /// store's documented policy (checkpoint, vacuum, compaction).
    fn reclaim_space(&mut self) -> Result<()>;

    /// Gives back memory held for reads and writes (caches, file mappings)
    /// after a large read or a snapshot write, so a scan's peak memory does
    /// not include a whole previous snapshot or the pages the new one went
    /// through. Later reads work as before. The default does nothing.
    fn release_memory(&mut self) {}

    // ---- the live tables -------------------------------------------------

    /// Appends one watcher batch — mutations, journal entries, watch state —
    /// in one transaction. Returns the id of the last mutation appended (the
    /// previous last id when `batch.mutations` is empty; 0 for an empty log).
    fn append_batch(&mut self, batch: &LiveBatch<'_>) -> Result<i64>;

    /// Mutations with an id above `cursor`, oldest first, at most `limit`;
    /// with `under`, only those whose path is `under` or below it.
    fn mutations_after(
        &self,
        cursor: i64,
        under: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<LoggedMutation>>;

    /// How many mutations have an id above `cursor` (under `under` when given).
    fn count_mutations_after(&self, cursor: i64, under: Option<&[u8]>) -> Result<u64> {
        Ok(self.mutations_after(cursor, under, usize::MAX)?.len() as u64)
    }

    /// Deletes mutations with ids up to and including `through` that lie
    /// under `under` (every one when `None`); returns how many.
    fn prune_mutations(&mut self, through: i64, under: Option<&[u8]>) -> Result<usize>;

    /// Journal entries matching `query`, newest first.
    fn journal(&self, query: &JournalQuery) -> Result<Vec<JournalEvent>>;

    /// Deletes journal entries older than `before_ms`; returns how many.
    fn prune_journal(&mut self, before_ms: i64) -> Result<usize>;

    /// Records per-directory deltas (each against its own `snapshot`).
    fn record_dir_deltas(&mut self, deltas: &[DirDelta]) -> Result<()>;

    /// The deltas recorded against `snapshot`, in path order.
    fn dir_deltas(&self, snapshot: SnapshotId) -> Result<Vec<DirDelta>>;

    /// The watch state of `root`, if one was recorded.
    fn watch_state(&self, root: &[u8]) -> Result<Option<WatchState>>;

    /// Every recorded watch state, by root bytes.
    fn watch_states(&self) -> Result<Vec<WatchState>>;

    /// Records (replaces) the watch state of `state.root`.
    fn set_watch_state(&mut self, state: &WatchState) -> Result<()>;

    /// Writes a snapshot derived from `d.base`, recording `d.deltas` and
    /// `d.watch_state`, all in one transaction; returns the new id. The base
    /// must exist and have the same root ([`crate::ErrorKind::NotFound`] /
    /// [`crate::ErrorKind::Usage`] otherwise, writing nothing).
    fn derive_snapshot(&mut self, d: &DerivedSnapshot<'_>) -> Result<SnapshotId>;

    /// The provenance of the published live index, if recorded.
    fn index_provenance(&self) -> Result<Option<IndexProvenance>>;

    /// Records the provenance of a newly published live index.
    fn set_index_provenance(&mut self, p: &IndexProvenance) -> Result<()>;

    // ---- provided --------------------------------------------------------

    /// Every directory of a snapshot (or of one subtree), in path order.
    fn read_tree(&self, id: SnapshotId, under: Option<&[u8]>) -> Result<Vec<DirRecord>> {
        let mut out = Vec::new();
        self.visit_tree(id, under, &mut |r| {
            out.push(r.clone());
            true
        })?;
        Ok(out)
    }

    /// The newest snapshot matching `query`.
    fn latest(&self, query: SnapshotQuery<'_>) -> Result<Option<SnapshotInfo>> {
        Ok(self.find_snapshots(&query.limit(1))?.into_iter().next())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_url_masks_every_password() {
        for (given, shown) in [
            (
                "postgres://u:secret@db:5432/x",
                "postgres://u:***@db:5432/x",
            ),
            ("postgres://u@db/x", "postgres://u@db/x"),
            ("postgres://db/x", "postgres://db/x"),
            (
                "postgres://u:p%40ss@db/x?sslmode=require",
                "postgres://u:***@db/x?sslmode=require",
            ),
            (
                "postgresql://u@db/x?sslmode=require&password=secret&application_name=a",
                "postgresql://u@db/x?sslmode=require&password=***&application_name=a",
            ),
            (
                "postgres://%2Frun%2Fpostgresql/x?PASSWORD=s#frag",
                "postgres://%2Frun%2Fpostgresql/x?PASSWORD=***#frag",
            ),
            (
                "host=db password=secret user=u",
                "host=db password=*** user=u",
            ),
            (
                "host=db password = 'a \\' b' user=u",
                "host=db password = *** user=u",
            ),
            ("password=secret", "password=***"),
            (
                "host=/run/postgresql dbname=x",
                "host=/run/postgresql dbname=x",
            ),
            ("/var/lib/data.db", "/var/lib/data.db"),
        ] {
            let got = redact_url(given);
            assert_eq!(got, shown, "{given}");
            assert!(!got.contains("secret"), "{got}");
        }
        let loc = StoreLocation::Url("postgres://u:hunter2@h/d?password=hunter2".into());
        assert!(!loc.to_string().contains("hunter2"), "{loc}");
    }
}
