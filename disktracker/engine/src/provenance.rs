//! The live index's contents and provenance.
//!
//! The index holds the newest snapshot of every root in the database; where
//! one root lies inside another, each directory comes from the newest
//! snapshot whose root contains it. When a file is published its provenance
//! — the snapshot of every root, the file's length, device, inode,
//! modification time and a checksum of its bytes — is recorded in the store,
//! and a reader trusts the file only when the store's newest snapshots are
//! exactly those recorded and the file is exactly the one recorded (or, when
//! its identity differs, when its bytes still have the recorded checksum).
//! No clock is compared with another.

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use disktracker::path::{escape_bytes, escape_path, is_within};
use disktracker::registry::{IndexCreateSortedFn, IndexPlugin};
use disktracker::{
    DirRecord, Error, FileIdentity, IndexOptions, IndexProvenance, Result, SnapshotId,
    SnapshotInfo, SnapshotMeta, SnapshotStore,
};

use crate::tree::ScanTree;

/// The newest snapshot of every root taken by one host (`latest_per_root`), by root bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Roots(pub Vec<SnapshotInfo>);

impl Roots {
    /// Reads those of `host` from the store (one query).
    pub fn of(store: &dyn SnapshotStore, host: &str) -> Result<Roots> {
        Ok(Roots(store.latest_per_root(Some(host))?))
    }

    /// `(root, snapshot)` pairs, as recorded in [`IndexProvenance::snapshots`].
    pub fn pairs(&self) -> Vec<(Vec<u8>, SnapshotId)> {
        self.0.iter().map(|s| (s.meta.root.clone(), s.id)).collect()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The snapshot whose directory `path` is: the newest of those whose
    /// root contains it.
    pub fn owner(&self, path: &[u8]) -> Option<&SnapshotInfo> {
        self.0
            .iter()
            .filter(|s| is_within(path, &s.meta.root))
            .max_by_key(|s| s.id)
    }

    /// Roots as text, for messages (`/a, /b`).
    pub fn list(&self) -> String {
        let v: Vec<String> = self
            .0
            .iter()
            .map(|s| format!("{} (snapshot {})", escape_bytes(&s.meta.root), s.id))
            .collect();
        v.join(", ")
    }
}

/// Paths and recursive sizes in one buffer (a 1M-directory index is
/// millions of small paths: one allocation, not millions).
#[derive(Debug, Default)]
pub struct Entries {
    bytes: Vec<u8>,
    items: Vec<(usize, usize, u64)>,
}

impl Entries {
    /// Room for `n` more entries of `bytes` path bytes in all.
    fn reserve(&mut self, n: usize, bytes: usize) {
        self.bytes.reserve_exact(bytes);
        self.items.reserve_exact(n);
    }

    fn push(&mut self, path: &[u8], size: u64) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(path);
        self.items.push((start, path.len(), size));
    }

    /// Every entry, in the order added.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], u64)> + '_ {
        self.items
            .iter()
            .map(|&(s, n, size)| (&self.bytes[s..s + n], size))
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Sorts by path and keeps one entry per path, the one added last (as
    /// an index built from them would).
    fn sort_dedup(&mut self) {
        let bytes = &self.bytes;
        let path = |&(s, n, _): &(usize, usize, u64)| &bytes[s..s + n];
        self.items.sort_by(|a, b| path(a).cmp(path(b)));
        self.items.dedup_by(|later, kept| {
            if path(later) == path(kept) {
                kept.2 = later.2;
                true
            } else {
                false
            }
        });
    }

    /// Sorts by path, for [`Entries::get`].
    pub fn sort(&mut self) {
        let bytes = &self.bytes;
        self.items
            .sort_unstable_by(|a, b| bytes[a.0..a.0 + a.1].cmp(&bytes[b.0..b.0 + b.1]));
    }

    /// The size of `path` (after [`Entries::sort`]).
    pub fn get(&self, path: &[u8]) -> Option<u64> {
        self.items
            .binary_search_by(|&(s, n, _)| self.bytes[s..s + n].cmp(path))
            .ok()
            .map(|i| self.items[i].2)
    }
}

/// Everything the index of `roots` holds: every directory of each root's
/// newest snapshot that no newer snapshot of an enclosing or enclosed root
/// covers. `fresh` is the tree of one of those snapshots just scanned (used
/// instead of reading it back).
pub fn entries(
    store: &dyn SnapshotStore,
    roots: &Roots,
    fresh: Option<(SnapshotId, &ScanTree)>,
) -> Result<Entries> {
    let source = index_source(store, roots, fresh)?;
    let mut out = Entries::default();
    let (fresh_dirs, fresh_bytes) = source
        .fresh
        .as_ref()
        .map_or((0, 0), |f| (f.tree.len(), f.tree.path_bytes()));
    // Sized at once: a buffer this large is not reallocated while it fills.
    out.reserve(
        source.stored.len() + fresh_dirs,
        source.stored.bytes.len() + fresh_bytes,
    );
    let Ok(()) = source.merge(|path, size| {
        out.push(path, size);
        Ok::<(), std::convert::Infallible>(())
    });
    Ok(out)
}

/// What the index of `roots` holds after a scan, as entries in path order
/// for [`disktracker::registry::IndexPlugin::create_sorted`]: the other
/// roots' directories, read from the store, and the fresh tree's, whose
/// paths are built as they are read (never all at once).
pub struct IndexSource<'t> {
    /// Every root's entries but the fresh tree's, sorted, one per path.
    stored: Entries,
    fresh: Option<FreshPart<'t>>,
}

/// The fresh tree's part of an [`IndexSource`].
struct FreshPart<'t> {
    tree: &'t ScanTree,
    /// Roots of newer snapshots inside it, whose directories are theirs.
    newer: Vec<Vec<u8>>,
}

impl FreshPart<'_> {
    fn keeps(&self, path: &[u8]) -> bool {
        !self.newer.iter().any(|r| is_within(path, r))
    }
}

impl IndexSource<'_> {
    /// Calls `f` with every entry, in path order, one per path.
    fn merge<E>(
        &self,
        mut f: impl FnMut(&[u8], u64) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let mut stored = self.stored.iter().peekable();
        if let Some(fresh) = &self.fresh {
            let mut rows = fresh.tree.in_order();
            while let Some((id, path)) = rows.current() {
                if fresh.keeps(path) {
                    while let Some((p, size)) = stored.next_if(|&(p, _)| p < path) {
                        f(p, size)?;
                    }
                    // Roots never share a directory; if they did, the
                    // fresh scan would be the newer answer.
                    stored.next_if(|&(p, _)| p == path);
                    f(path, fresh.tree.stats(id).total_bytes)?;
                }
                rows.advance();
            }
        }
        for (p, size) in stored {
            f(p, size)?;
        }
        Ok(())
    }
}

impl disktracker::registry::SortedIndexEntries for IndexSource<'_> {
    fn visit(&self, f: &mut dyn FnMut(&[u8], u64) -> std::io::Result<()>) -> std::io::Result<()> {
        self.merge(f)
    }
}

/// Stands for the id of a snapshot being written, which the store assigns
/// only at its commit; as the largest id it is the newest, as it will be.
const WRITING: SnapshotId = SnapshotId::MAX;

/// Writes the live index of a snapshot while its rows are written (see
/// [`crate::scan::store_walk_beside`]): the index file costs its writing,
/// its sync and a read for its checksum, none of which needs the snapshot
/// committed. The file replaces the old one before the commit; its
/// provenance is recorded only after it, so until then (or for good, when
/// the write fails) readers find the file unproven and rebuild it from the
/// database, as they do when a scan dies between the two today.
pub struct IndexBeside<'a> {
    /// The index plugin; without `create_sorted` the index is written after
    /// the commit instead.
    pub plugin: &'a IndexPlugin,
    /// Where and how.
    pub opts: &'a IndexOptions,
    /// The host whose roots the index holds.
    pub host: &'a str,
}

/// An [`IndexBeside`] ready to run: what it reads from the store is read.
pub struct IndexJob<'a, 't> {
    create: IndexCreateSortedFn,
    opts: &'a IndexOptions,
    source: IndexSource<'t>,
    pairs: Vec<(Vec<u8>, SnapshotId)>,
}

/// The index written beside a snapshot's rows, not yet proven.
#[derive(Debug)]
pub struct StagedIndex {
    identity: FileIdentity,
    /// `None`: the file was replaced again before its checksum was read.
    checksum: Option<u64>,
    /// The `(root, snapshot)` pairs it holds, [`WRITING`] for the new one.
    pairs: Vec<(Vec<u8>, SnapshotId)>,
}

impl IndexBeside<'_> {
    /// Reads what the index needs from `store` before the write of `meta`
    /// (whose directories are `tree`) begins: the host's roots as they will
    /// be once it is committed, and the other roots' directories. `None`
    /// when the plugin cannot write from a sorted source.
    pub fn prepare<'a, 't>(
        &'a self,
        store: &dyn SnapshotStore,
        tree: &'t ScanTree,
        meta: &SnapshotMeta,
    ) -> Result<Option<IndexJob<'a, 't>>> {
        let Some(create) = self.plugin.create_sorted else {
            return Ok(None);
        };
        let mut roots = Roots::of(store, self.host)?;
        if meta.host == self.host {
            roots.0.retain(|s| s.meta.root != meta.root);
            roots.0.push(SnapshotInfo {
                id: WRITING,
                meta: meta.clone(),
            });
        }
        let source = index_source(store, &roots, Some((WRITING, tree)))?;
        Ok(Some(IndexJob {
            create,
            opts: self.opts,
            source,
            pairs: roots.pairs(),
        }))
    }
}

impl IndexJob<'_, '_> {
    /// Writes the index file and reads its checksum.
    pub fn run(self) -> Result<StagedIndex> {
        let index = (self.create)(self.opts, &self.source)?;
        let identity = index.identity();
        let checksum = checksum(index.path(), &identity)?;
        drop(index);
        crate::hooks::step("index-staged");
        Ok(StagedIndex {
            checksum,
            identity,
            pairs: self.pairs,
        })
    }
}

impl StagedIndex {
    /// Its provenance once the new snapshot is committed as `id`, provided
    /// the host's roots are then `roots` (another scan may have committed
    /// meanwhile); `None` leaves the file unproven, for readers to rebuild.
    pub fn provenance(&self, id: SnapshotId, roots: &Roots) -> Option<IndexProvenance> {
        let checksum = self.checksum?;
        let mut held: Vec<_> = self
            .pairs
            .iter()
            .map(|(root, s)| (root.clone(), if *s == WRITING { id } else { *s }))
            .collect();
        let mut now = roots.pairs();
        held.sort();
        now.sort();
        (held == now).then(|| proven(&self.identity, checksum, roots))
    }
}

/// [`entries`] as an [`IndexSource`]: the same directories, with those of
/// the snapshot just stored (`fresh`) left in its tree.
pub fn index_source<'t>(
    store: &dyn SnapshotStore,
    roots: &Roots,
    fresh: Option<(SnapshotId, &'t ScanTree)>,
) -> Result<IndexSource<'t>> {
    let mut stored = Entries::default();
    let mut fresh_part = None;
    for s in &roots.0 {
        let newer = newer_than(roots, s);
        if newer.iter().any(|r| is_within(&s.meta.root, r)) {
            continue; // an enclosing root's newer snapshot covers all of it
        }
        match fresh.filter(|&(id, _)| id == s.id) {
            Some((_, tree)) => {
                fresh_part = Some(FreshPart {
                    tree,
                    newer: newer.into_iter().map(<[u8]>::to_vec).collect(),
                });
            }
            None => read_root(store, s, &newer, &mut stored)?,
        }
    }
    stored.sort_dedup();
    Ok(IndexSource {
        stored,
        fresh: fresh_part,
    })
}

/// The roots of snapshots newer than `s` that lie inside its root or
/// around it: their directories are theirs.
fn newer_than<'r>(roots: &'r Roots, s: &SnapshotInfo) -> Vec<&'r [u8]> {
    roots
        .0
        .iter()
        .filter(|o| o.id > s.id && o.meta.root != s.meta.root)
        .map(|o| &o.meta.root[..])
        .filter(|r| is_within(r, &s.meta.root) || is_within(&s.meta.root, r))
        .collect()
}

/// Adds the directories of stored snapshot `s` that none of `newer` covers.
fn read_root(
    store: &dyn SnapshotStore,
    s: &SnapshotInfo,
    newer: &[&[u8]],
    out: &mut Entries,
) -> Result<()> {
    store.visit_tree(s.id, None, &mut |r: &DirRecord| {
        if !newer.iter().any(|n| is_within(&r.path, n)) {
            out.push(&r.path, r.stats.total_bytes);
        }
        true
    })
}

/// What a reader found about the index file against the recorded provenance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trust {
    /// Exactly the file recorded, of exactly the store's newest snapshots.
    Exact,
    /// Another file (copied, restored, rewritten) with the recorded bytes.
    SameBytes,
    /// Not to be trusted; why, for the user.
    Not(String),
}

/// Compares the open index (`identity`) of `path` and the store's newest
/// snapshots with the recorded provenance. The checksum is computed only
/// when the identity differs, or when `verify` asks for it.
pub fn trust(
    path: &Path,
    identity: &FileIdentity,
    roots: &Roots,
    recorded: Option<&IndexProvenance>,
    verify: bool,
) -> Result<Trust> {
    let shown = escape_path(path);
    let Some(p) = recorded else {
        return Ok(Trust::Not(format!(
            "no provenance is recorded for index {shown}"
        )));
    };
    let mut held = p.snapshots.clone();
    held.sort();
    let mut newest = roots.pairs();
    newest.sort();
    if held != newest {
        return Ok(Trust::Not(format!(
            "index {shown} holds other snapshots than the newest ones ({})",
            roots.list()
        )));
    }
    let same_file = identity.len == p.len
        && identity.dev == p.dev
        && identity.ino == p.ino
        && identity.mtime_ns == p.mtime_ns;
    if same_file && !verify {
        return Ok(Trust::Exact);
    }
    match checksum(path, identity)? {
        Some(sum) if sum == p.checksum => Ok(if same_file {
            Trust::Exact
        } else {
            Trust::SameBytes
        }),
        Some(_) => Ok(Trust::Not(format!(
            "index {shown} does not have the checksum recorded when it was written"
        ))),
        None => Ok(Trust::Not(format!(
            "index {shown} changed while it was being checked"
        ))),
    }
}

/// The checksum (xxh3-64) of the file at `path`, if the file read is the
/// one with `identity` and did not change while being read.
pub fn checksum(path: &Path, identity: &FileIdentity) -> Result<Option<u64>> {
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("cannot read index", path, e)),
    };
    let stat = |f: &std::fs::File| -> Result<FileIdentity> {
        let m = f
            .metadata()
            .map_err(|e| Error::io("cannot read index", path, e))?;
        Ok(FileIdentity {
            len: m.len(),
            dev: m.dev(),
            ino: m.ino(),
            mtime_ns: m
                .mtime()
                .saturating_mul(1_000_000_000)
                .saturating_add(m.mtime_nsec()),
        })
    };
    if stat(&f)? != *identity {
        return Ok(None);
    }
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => h.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io("cannot read index", path, e)),
        }
    }
    Ok((stat(&f)? == *identity).then(|| h.digest()))
}

/// The provenance of a just-written index file, or `None` when the file at
/// `path` is no longer the one written (another writer replaced it; it
/// records its own).
pub fn provenance_of(
    path: &Path,
    identity: &FileIdentity,
    roots: &Roots,
) -> Result<Option<IndexProvenance>> {
    Ok(checksum(path, identity)?.map(|checksum| proven(identity, checksum, roots)))
}

/// The provenance of the index file `identity` with bytes `checksum`,
/// holding the newest snapshots of `roots` and no logged mutation.
fn proven(identity: &FileIdentity, checksum: u64, roots: &Roots) -> IndexProvenance {
    IndexProvenance {
        snapshots: roots.pairs(),
        len: identity.len,
        dev: identity.dev,
        ino: identity.ino,
        mtime_ns: identity.mtime_ns,
        checksum,
        mutation_cursor: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use disktracker::SnapshotMeta;

    fn snap(id: i64, root: &str) -> SnapshotInfo {
        SnapshotInfo {
            id,
            meta: SnapshotMeta {
                root: root.as_bytes().to_vec(),
                ..SnapshotMeta::default()
            },
        }
    }

    #[test]
    fn the_newest_covering_root_owns_a_path() {
        let roots = Roots(vec![
            snap(5, "/a"),
            snap(7, "/a/b"),
            snap(3, "/a/b/c"),
            snap(2, "/d"),
        ]);
        let owner = |p: &str| roots.owner(p.as_bytes()).map(|s| s.id);
        assert_eq!(owner("/a"), Some(5));
        assert_eq!(owner("/a/x"), Some(5));
        assert_eq!(owner("/a/b"), Some(7));
        assert_eq!(
            owner("/a/b/c/d"),
            Some(7),
            "the older inner root is covered"
        );
        assert_eq!(owner("/a/bc"), Some(5));
        assert_eq!(owner("/d/e"), Some(2));
        assert_eq!(owner("/e"), None);
    }

    #[test]
    fn entries_sort_and_find() {
        let mut e = Entries::default();
        for (p, n) in [("/b", 2), ("/a/x", 3), ("/a", 1)] {
            e.push(p.as_bytes(), n);
        }
        e.sort();
        let got: Vec<(&[u8], u64)> = e.iter().collect();
        assert_eq!(got, [(&b"/a"[..], 1), (b"/a/x", 3), (b"/b", 2)]);
        assert_eq!(e.get(b"/a/x"), Some(3));
        assert_eq!(e.get(b"/c"), None);
    }

    fn staged(pairs: &[(&str, SnapshotId)]) -> StagedIndex {
        StagedIndex {
            identity: FileIdentity {
                len: 120,
                dev: 1,
                ino: 2,
                mtime_ns: 3,
            },
            checksum: Some(99),
            pairs: pairs
                .iter()
                .map(|(r, id)| (r.as_bytes().to_vec(), *id))
                .collect(),
        }
    }

    #[test]
    fn a_staged_index_is_proven_only_for_the_roots_it_holds() {
        let held = staged(&[("/a", 4), ("/b", WRITING)]);
        // Committed as 9, nothing else changed: proven, with the real id, in
        // the store's order.
        let now = Roots(vec![snap(9, "/b"), snap(4, "/a")]);
        let p = held.provenance(9, &now).expect("proven");
        assert_eq!(p.snapshots, [(b"/b".to_vec(), 9), (b"/a".to_vec(), 4)]);
        assert_eq!(
            (p.len, p.dev, p.ino, p.mtime_ns, p.checksum),
            (120, 1, 2, 3, 99)
        );
        assert_eq!(p.mutation_cursor, 0);
        // Another scan of /a committed meanwhile: the file does not hold it.
        let moved = Roots(vec![snap(9, "/b"), snap(10, "/a")]);
        assert!(held.provenance(9, &moved).is_none());
        // A root appeared meanwhile.
        let more = Roots(vec![snap(9, "/b"), snap(4, "/a"), snap(11, "/c")]);
        assert!(held.provenance(9, &more).is_none());
        // The new snapshot is not the one committed.
        assert!(held.provenance(8, &now).is_none());
        // The file was replaced before its checksum was read.
        let mut unread = staged(&[("/a", 4), ("/b", WRITING)]);
        unread.checksum = None;
        assert!(unread.provenance(9, &now).is_none());
    }
}
