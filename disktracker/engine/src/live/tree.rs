//! The watcher's model of one watched root: every directory with its direct
//! and recursive totals, kept equal to what a fresh scan would find by
//! re-reading the directories that events point at.
//!
//! Changes happen in batches. Every directory touched during a batch keeps a
//! before-image; [`LiveTree::end_batch`] compares before and after and turns
//! the differences into mutations (for the store's log and for reconcile),
//! index updates and journal entries.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use disktracker::path::{
    bytes_path, descendant_prefix, is_within, join_bytes, parent_bytes, prefix_end,
};
use disktracker::{DirRecord, DirStats, Error, ErrorKind, Result, WalkOutput};
use disktracker::{JournalEvent, JournalKind, Mutation};
use disktracker_walker_support::EntryStat;
use disktracker_walker_support::listing::{ListOptions, Listing};
use disktracker_walker_support::{Exclude, read_listing};

/// Disk usage, apparent size and file count, added and subtracted together.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Sizes {
    bytes: u64,
    apparent: u64,
    files: u64,
}

impl Sizes {
    fn add(&mut self, o: Sizes) {
        self.bytes = self.bytes.wrapping_add(o.bytes);
        self.apparent = self.apparent.wrapping_add(o.apparent);
        self.files = self.files.wrapping_add(o.files);
    }

    fn sub(&mut self, o: Sizes) {
        self.bytes = self.bytes.wrapping_sub(o.bytes);
        self.apparent = self.apparent.wrapping_sub(o.apparent);
        self.files = self.files.wrapping_sub(o.files);
    }
}

/// A file's identity: device and inode.
type InodeKey = (u64, u64);

/// A directory read for a new subtree: its path, its model entry, and the
/// full paths and stats of its multi-link files.
type ReadDir = (Vec<u8>, LiveDir, Vec<(Vec<u8>, EntryStat)>);

/// One directory of the model.
#[derive(Clone, Debug, Default)]
struct LiveDir {
    depth: u32,
    mtime_ns: i64,
    dev: u64,
    ino: u64,
    /// Own inode's apparent size and blocks, when read by the watcher (a
    /// walk folds them into `plain`). Its parent's fingerprint covers them.
    own_size_blocks: Option<(u64, u64)>,
    /// Own inode plus every single-link non-directory entry.
    plain: Sizes,
    /// Hard-linked files attributed here by the first-path rule.
    owned: Sizes,
    /// Recursive: `plain + owned` plus every subdirectory's `total`.
    total: Sizes,
    children: BTreeSet<Box<[u8]>>,
    /// Entries with several links: name and `(dev, ino)`.
    linked: Vec<(Box<[u8]>, InodeKey)>,
    errors: u64,
    fingerprint: u128,
}

impl LiveDir {
    fn stats(&self) -> DirStats {
        DirStats {
            total_bytes: self.total.bytes,
            total_apparent: self.total.apparent,
            direct_bytes: self.plain.bytes.wrapping_add(self.owned.bytes),
            direct_apparent: self.plain.apparent.wrapping_add(self.owned.apparent),
            file_count: self.total.files,
            direct_files: self.plain.files.wrapping_add(self.owned.files),
            child_count: self.children.len() as u64,
            error_count: self.errors,
            mtime_ns: self.mtime_ns,
            dev: self.dev,
            ino: self.ino,
            fingerprint: self.fingerprint,
        }
    }

    fn from_listing(depth: u32, l: &Listing) -> Self {
        let plain = Sizes {
            bytes: l.direct_bytes,
            apparent: l.direct_apparent,
            files: l.direct_files,
        };
        LiveDir {
            depth,
            mtime_ns: l.own.mtime_ns,
            dev: l.own.dev,
            ino: l.own.ino,
            own_size_blocks: Some((l.own.size, l.own.blocks)),
            plain,
            owned: Sizes::default(),
            total: plain,
            children: l.children.iter().map(|(n, _)| n.clone()).collect(),
            linked: l
                .links
                .iter()
                .map(|e| (e.name.clone(), (e.stat.dev, e.stat.ino)))
                .collect(),
            errors: l.issues.len() as u64,
            fingerprint: l.fingerprint,
        }
    }
}

/// A file with several links inside the root: where its names are, and its size.
#[derive(Clone, Debug, Default)]
struct LinkGroup {
    size: Sizes,
    /// Size, blocks and mtime last read (`None`: only walked). Every holder's
    /// fingerprint covers them, but a write through one name is reported
    /// only in that name's directory.
    stat: Option<(u64, u64, i64)>,
    /// Link count last seen by a re-read (0: only walked).
    nlink: u64,
    /// A name was added in this batch.
    grew: bool,
    /// Full paths of its names inside the root; the first one decides
    /// which directory it counts in.
    holders: BTreeSet<Vec<u8>>,
}

impl LinkGroup {
    fn owner(&self) -> Option<&[u8]> {
        self.holders.first().and_then(|p| parent_bytes(p))
    }
}

/// What a batch changed, ready for the log, the index and the journal.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchChanges {
    /// Removed subtrees first (path order), then upserted directories (path order).
    pub mutations: Vec<Mutation>,
    /// Directory-level journal entries.
    pub journal: Vec<JournalEvent>,
}

impl BatchChanges {
    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        self.mutations.is_empty() && self.journal.is_empty()
    }
}

/// Options fixed for the life of a model.
#[derive(Clone, Debug, Default)]
pub struct TreeOptions {
    /// Exclude patterns, as the scan that made the base snapshot used them.
    pub exclude: Exclude,
    /// Stay on the root's file system.
    pub one_file_system: bool,
}

/// The live model of one root.
#[derive(Debug)]
pub struct LiveTree {
    root: Vec<u8>,
    opts: TreeOptions,
    root_dev: u64,
    dirs: BTreeMap<Vec<u8>, LiveDir>,
    links: HashMap<(u64, u64), LinkGroup>,
    /// Stats of every directory touched in the current batch, before it was
    /// touched (`None`: it did not exist).
    before: BTreeMap<Vec<u8>, Option<DirStats>>,
    /// Journal entries of the current batch, without their deltas yet.
    notes: Vec<(Vec<u8>, Note)>,
    /// A new name of a multi-link file appeared and the file has more links
    /// than the model knows: another of its names may still be counted as a
    /// single-link file in a directory no event pointed at (linking a file
    /// reports nothing in the original's directory), so only a walk can
    /// place it.
    needs_validation: bool,
    /// Directories whose fingerprint went stale without an event for them:
    /// the parent of a directory whose own inode changed, the other holders
    /// of a multi-link file that changed. [`LiveTree::take_stale`].
    stale: BTreeSet<Vec<u8>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Note {
    Reread,
    Created,
    Removed(u64),
    Renamed,
}

/// What became of a directory asked to be re-read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reread {
    /// Re-read; the model is current for it (other directories may have
    /// become stale: [`LiveTree::take_stale`]).
    Done,
    /// Not a directory of the model (inside a removed subtree, or new and
    /// to be found by its parent's re-read).
    Unknown,
    /// It is gone: removed with its subtree; its parent must be re-read.
    Gone,
}

impl LiveTree {
    /// The model of a fresh walk of `out.root` (as a scan aggregates it).
    pub fn from_walk(out: &WalkOutput, opts: TreeOptions) -> Result<Self> {
        let n: usize = out.arenas.iter().map(disktracker::DirArena::len).sum();
        let mut slot = vec![(usize::MAX, 0usize); n];
        for (ai, arena) in out.arenas.iter().enumerate() {
            for i in 0..arena.len() {
                let id = arena.hot(i).id as usize;
                if id >= n || slot[id].0 != usize::MAX {
                    return Err(Error::new(
                        ErrorKind::Plugin,
                        "walker bug: bad directory ids",
                    ));
                }
                slot[id] = (ai, i);
            }
        }
        if n == 0 || slot.iter().any(|s| s.0 == usize::MAX) {
            return Err(Error::new(
                ErrorKind::Plugin,
                "walker bug: missing directory ids",
            ));
        }
        // By id (parents before children): paths, depths, direct sizes and
        // children; subtree totals in one reverse pass; then the map, built
        // in bulk from sorted entries.
        let mut paths: Vec<Vec<u8>> = Vec::with_capacity(n);
        let mut depth = vec![0u32; n];
        let mut totals: Vec<Sizes> = Vec::with_capacity(n);
        let mut parents: Vec<usize> = Vec::with_capacity(n);
        let mut children: Vec<Vec<Box<[u8]>>> = vec![Vec::new(); n];
        for (id, &(ai, i)) in slot.iter().enumerate() {
            let arena = &out.arenas[ai];
            let hot = arena.hot(i);
            let name = arena.name(i);
            let path = if id == 0 {
                name.to_vec()
            } else {
                let p = hot.parent as usize;
                if p >= id {
                    return Err(Error::new(
                        ErrorKind::Plugin,
                        "walker bug: parent after child",
                    ));
                }
                depth[id] = depth[p] + 1;
                children[p].push(name.into());
                join_bytes(&paths[p], name)
            };
            paths.push(path);
            parents.push(hot.parent as usize);
            totals.push(Sizes {
                bytes: hot.direct_bytes,
                apparent: hot.direct_apparent,
                files: hot.direct_files,
            });
        }
        for id in (1..n).rev() {
            let t = totals[id];
            totals[parents[id]].add(t);
        }
        let root = paths[0].clone();
        // Files with several links count in the directory of their first
        // path, and up its ancestors; placed here by directory id, before
        // the map exists.
        let mut links: HashMap<InodeKey, LinkGroup> = HashMap::new();
        let mut linked: Vec<Vec<(Box<[u8]>, InodeKey)>> = vec![Vec::new(); n];
        let mut owned = vec![Sizes::default(); n];
        let mut first: HashMap<InodeKey, usize> = HashMap::new();
        for link in out.arenas.iter().flat_map(|a| a.links.iter()) {
            let dir = link.dir.index();
            let Some(dir_path) = paths.get(dir) else {
                continue;
            };
            let key = (link.dev, link.ino);
            linked[dir].push((link.name.clone(), key));
            let full = join_bytes(dir_path, &link.name);
            let g = links.entry(key).or_default();
            g.size = Sizes {
                bytes: link.bytes,
                apparent: link.apparent,
                files: 1,
            };
            if g.holders.first().is_none_or(|f| full < *f) {
                first.insert(key, dir);
            }
            g.holders.insert(full);
        }
        for (key, &dir) in &first {
            let size = links[key].size;
            owned[dir].add(size);
            let mut at = dir;
            loop {
                totals[at].add(size);
                if at == 0 {
                    break;
                }
                at = parents[at];
            }
        }
        // The map is built from entries in path order: sorting them by path
        // instead (a million comparisons of long shared prefixes, and moves
        // of whole entries) cost more than the rest of this function.
        let order = path_order(&out.arenas, &slot, &parents, &paths);
        let (mut paths, mut children) = (paths, children);
        let entries: Vec<(Vec<u8>, LiveDir)> = order
            .into_iter()
            .map(|id| {
                let path = std::mem::take(&mut paths[id]);
                let kids = std::mem::take(&mut children[id]);
                let (ai, i) = slot[id];
                let arena = &out.arenas[ai];
                let (hot, cold) = (arena.hot(i), arena.cold(i));
                let plain = Sizes {
                    bytes: hot.direct_bytes,
                    apparent: hot.direct_apparent,
                    files: hot.direct_files,
                };
                let dir = LiveDir {
                    depth: depth[id],
                    mtime_ns: cold.mtime_ns,
                    dev: cold.dev,
                    ino: cold.ino,
                    own_size_blocks: None,
                    plain,
                    owned: owned[id],
                    total: totals[id],
                    children: kids.into_iter().collect(),
                    linked: std::mem::take(&mut linked[id]),
                    errors: u64::from(hot.errors),
                    fingerprint: cold.fingerprint,
                };
                (path, dir)
            })
            .collect();
        let mut tree = LiveTree::with_dirs(root, opts, entries.into_iter().collect());
        tree.links = links;
        Ok(tree)
    }

    /// The model of a stored tree (a snapshot plus logged mutations), before
    /// the first validation against the file system: sizes are exact as
    /// stored, but hard-link placement is only known after a walk, so
    /// [`LiveTree::replace_with`] a walked model before re-reading anything.
    pub fn from_records(
        root: &[u8],
        records: impl IntoIterator<Item = DirRecord>,
        opts: TreeOptions,
    ) -> Result<Self> {
        // Stores read trees in path order, so the map is built in bulk; the
        // children are found through a hash map, not a search per path.
        let mut entries: Vec<(Vec<u8>, LiveDir)> = Vec::new();
        for r in records {
            if !is_within(&r.path, root) {
                continue;
            }
            let s = r.stats;
            let plain = Sizes {
                bytes: s.direct_bytes,
                apparent: s.direct_apparent,
                files: s.direct_files,
            };
            entries.push((
                r.path,
                LiveDir {
                    depth: r.depth,
                    mtime_ns: s.mtime_ns,
                    dev: s.dev,
                    ino: s.ino,
                    own_size_blocks: None,
                    plain,
                    owned: Sizes::default(),
                    total: Sizes {
                        bytes: s.total_bytes,
                        apparent: s.total_apparent,
                        files: s.file_count,
                    },
                    children: BTreeSet::new(),
                    linked: Vec::new(),
                    errors: s.error_count,
                    fingerprint: s.fingerprint,
                },
            ));
        }
        in_path_order(&mut entries);
        let at: HashMap<&[u8], usize> = entries
            .iter()
            .enumerate()
            .map(|(i, (p, _))| (p.as_slice(), i))
            .collect();
        let mut kids: Vec<(usize, Box<[u8]>)> = Vec::new();
        for (p, _) in &entries {
            if p.as_slice() == root {
                continue;
            }
            if let Some(parent) = parent_bytes(p)
                && let Some(&pi) = at.get(parent)
            {
                let name = &p[parent.len() + usize::from(!parent.ends_with(b"/"))..];
                kids.push((pi, name.into()));
            }
        }
        drop(at);
        for (pi, name) in kids {
            entries[pi].1.children.insert(name);
        }
        let dirs: BTreeMap<Vec<u8>, LiveDir> = entries.into_iter().collect();
        if !dirs.contains_key(root) {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!(
                    "the stored tree has no directory {}",
                    disktracker::path::escape_bytes(root)
                ),
            ));
        }
        Ok(LiveTree::with_dirs(root.to_vec(), opts, dirs))
    }

    /// Whether the model may be wrong about hard links until a validation
    /// walk (see [`LiveTree::replace_with`]); set by [`LiveTree::end_batch`].
    pub fn needs_validation(&self) -> bool {
        self.needs_validation
    }

    /// The watched root.
    pub fn root(&self) -> &[u8] {
        &self.root
    }

    /// Number of directories.
    pub fn len(&self) -> usize {
        self.dirs.len()
    }

    /// Never true: the root is always there.
    pub fn is_empty(&self) -> bool {
        self.dirs.is_empty()
    }

    /// Whether `path` is a directory of the model.
    pub fn contains(&self, path: &[u8]) -> bool {
        self.dirs.contains_key(path)
    }

    /// The stats of one directory.
    pub fn stats(&self, path: &[u8]) -> Option<DirStats> {
        self.dirs.get(path).map(LiveDir::stats)
    }

    /// Every directory in bytewise path order.
    pub fn records(&self) -> impl Iterator<Item = DirRecord> + '_ {
        self.dirs.iter().map(|(p, d)| DirRecord {
            path: p.clone(),
            depth: d.depth,
            stats: d.stats(),
        })
    }

    /// Recursive disk usage of every directory, in path order (for the index).
    pub fn totals(&self) -> impl Iterator<Item = (&[u8], u64)> + '_ {
        self.dirs.iter().map(|(p, d)| (p.as_slice(), d.total.bytes))
    }

    fn relative<'p>(&self, path: &'p [u8]) -> &'p [u8] {
        if path.len() <= self.root.len() {
            return &[];
        }
        let rest = &path[self.root.len()..];
        rest.strip_prefix(b"/").unwrap_or(rest)
    }

    fn read(&self, path: &[u8]) -> std::result::Result<Listing, rustix::io::Errno> {
        let opts = ListOptions {
            exclude: &self.opts.exclude,
            relative: self.relative(path),
            root_dev: self.opts.one_file_system.then_some(self.root_dev),
        };
        read_listing(bytes_path(path), &opts)
    }

    /// Remembers `path`'s stats before the first change in this batch.
    fn touch(&mut self, path: &[u8]) {
        if !self.before.contains_key(path) {
            let s = self.dirs.get(path).map(LiveDir::stats);
            self.before.insert(path.to_vec(), s);
        }
    }

    /// Adds `delta` to the recursive totals of `from` and every ancestor.
    fn adjust(&mut self, from: &[u8], delta: Sizes, negative: bool) {
        let mut cur = Some(from.to_vec());
        while let Some(p) = cur {
            if !is_within(&p, &self.root) {
                break;
            }
            self.touch(&p);
            if let Some(d) = self.dirs.get_mut(&p) {
                if negative {
                    d.total.sub(delta);
                } else {
                    d.total.add(delta);
                }
            }
            cur = if p == self.root {
                None
            } else {
                parent_bytes(&p).map(<[u8]>::to_vec)
            };
        }
    }

    /// Takes a link group's size out of the directory it counts in.
    fn detach(&mut self, key: (u64, u64)) {
        let Some(g) = self.links.get(&key) else {
            return;
        };
        let (Some(owner), size) = (g.owner().map(<[u8]>::to_vec), g.size) else {
            return;
        };
        if self.dirs.contains_key(&owner) {
            self.touch_then(&owner, |d| d.owned.sub(size));
            self.adjust(&owner, size, true);
        }
    }

    /// Puts a link group's size into the directory it now counts in.
    fn attach(&mut self, key: (u64, u64)) {
        let Some(g) = self.links.get(&key) else {
            return;
        };
        if g.holders.is_empty() {
            self.links.remove(&key);
            return;
        }
        let (Some(owner), size) = (g.owner().map(<[u8]>::to_vec), g.size) else {
            return;
        };
        if self.dirs.contains_key(&owner) {
            self.touch_then(&owner, |d| d.owned.add(size));
            self.adjust(&owner, size, false);
        }
    }

    /// Records what a re-read saw of a multi-link file named `full`; when
    /// the file changed, its other holders' directories are stale.
    fn saw_link(&mut self, full: Vec<u8>, st: &EntryStat) {
        let g = self.links.entry((st.dev, st.ino)).or_default();
        let size = Sizes {
            bytes: st.disk_bytes(),
            apparent: st.size,
            files: 1,
        };
        let now = Some((st.size, st.blocks, st.mtime_ns));
        // A group known only from a walk has sizes but no stat: the first
        // re-read compares sizes. Comparing the missing stat would call every
        // file changed and re-read every directory of the link graph.
        let changed = match g.stat {
            Some(_) => g.stat != now,
            None => g.holders.is_empty() || g.size != size,
        };
        g.size = size;
        g.nlink = st.nlink;
        g.stat = now;
        if changed {
            let here = parent_bytes(&full).map(<[u8]>::to_vec);
            for h in &g.holders {
                if let Some(d) = parent_bytes(h)
                    && Some(d) != here.as_deref()
                {
                    self.stale.insert(d.to_vec());
                }
            }
        }
        let g = self.links.entry((st.dev, st.ino)).or_default();
        g.grew |= g.holders.insert(full);
    }

    /// Directories to re-read because of other re-reads (see the field).
    pub fn take_stale(&mut self) -> BTreeSet<Vec<u8>> {
        std::mem::take(&mut self.stale)
    }

    fn touch_then(&mut self, path: &[u8], f: impl FnOnce(&mut LiveDir)) {
        self.touch(path);
        if let Some(d) = self.dirs.get_mut(path) {
            f(d);
        }
    }

    /// A model of `dirs` under `root`, with no link groups and no batch.
    fn with_dirs(root: Vec<u8>, opts: TreeOptions, dirs: BTreeMap<Vec<u8>, LiveDir>) -> LiveTree {
        let root_dev = dirs.get(&root).map_or(0, |d| d.dev);
        LiveTree {
            root,
            opts,
            root_dev,
            dirs,
            links: HashMap::new(),
            before: BTreeMap::new(),
            notes: Vec::new(),
            needs_validation: false,
            stale: BTreeSet::new(),
        }
    }

    /// Starts a batch (forgets the before-images of the previous one).
    pub fn begin_batch(&mut self) {
        self.before.clear();
        self.notes.clear();
    }

    /// Forgets that the model needed validation (the caller walked the root
    /// and replaced the model).
    fn validated(&mut self) {
        self.needs_validation = false;
    }

    /// Re-reads directory `path` and brings the model up to date for its
    /// direct entries: new subdirectories are read with their subtrees,
    /// vanished ones removed with theirs.
    pub fn reread(&mut self, path: &[u8]) -> Reread {
        if !self.dirs.contains_key(path) {
            return Reread::Unknown;
        }
        let Ok(listing) = self.read(path) else {
            // The root itself is never removed from the model: the
            // watcher reports it and stops.
            self.remove_subtree(path);
            return Reread::Gone;
        };
        self.notes.push((path.to_vec(), Note::Reread));
        let (old_children, old_linked) = {
            let d = &self.dirs[path];
            (d.children.clone(), d.linked.clone())
        };
        let new_children: BTreeSet<Box<[u8]>> =
            listing.children.iter().map(|(n, _)| n.clone()).collect();
        for gone in old_children.difference(&new_children) {
            self.remove_subtree(&join_bytes(path, gone));
        }
        // Links: detach every group this directory held or holds, change the
        // holders, attach again — the owner may move either way.
        let mut keys: BTreeSet<(u64, u64)> = old_linked.iter().map(|(_, k)| *k).collect();
        keys.extend(listing.links.iter().map(|e| (e.stat.dev, e.stat.ino)));
        for &k in &keys {
            self.detach(k);
        }
        for (name, key) in &old_linked {
            if let Some(g) = self.links.get_mut(key) {
                g.holders.remove(&join_bytes(path, name));
            }
        }
        for e in &listing.links {
            self.saw_link(join_bytes(path, &e.name), &e.stat);
        }
        let depth = self.dirs[path].depth;
        let fresh = LiveDir::from_listing(depth, &listing);
        self.touch(path);
        let (old_plain, parent_stale) = {
            let d = &self.dirs[path];
            let same = d.own_size_blocks == fresh.own_size_blocks
                && d.mtime_ns == fresh.mtime_ns
                && d.ino == fresh.ino;
            (d.plain, !same && path != self.root.as_slice())
        };
        if let Some(d) = self.dirs.get_mut(path) {
            d.mtime_ns = fresh.mtime_ns;
            d.dev = fresh.dev;
            d.ino = fresh.ino;
            d.own_size_blocks = fresh.own_size_blocks;
            d.plain = fresh.plain;
            d.children = fresh.children;
            d.linked = fresh.linked;
            d.errors = fresh.errors;
            d.fingerprint = fresh.fingerprint;
        }
        self.adjust(path, old_plain, true);
        self.adjust(path, fresh.plain, false);
        for &k in &keys {
            self.attach(k);
        }
        let new: Vec<Box<[u8]>> = new_children.difference(&old_children).cloned().collect();
        for name in new {
            self.add_subtree(&join_bytes(path, &name));
        }
        if parent_stale && let Some(p) = parent_bytes(path) {
            self.stale.insert(p.to_vec());
        }
        Reread::Done
    }

    /// The directories of the subtree at `path` (it first), and the link
    /// groups any of them holds, detached (to be attached again once the
    /// holders changed).
    fn detach_subtree(&mut self, path: &[u8]) -> (Vec<Vec<u8>>, BTreeSet<(u64, u64)>) {
        let lo = descendant_prefix(path);
        let hi = prefix_end(&lo);
        let mut inside: Vec<Vec<u8>> = vec![path.to_vec()];
        inside.extend(self.dirs.range(lo..hi).map(|(p, _)| p.clone()));
        let mut keys = BTreeSet::new();
        for p in &inside {
            keys.extend(self.dirs[p].linked.iter().map(|(_, k)| *k));
        }
        for &k in &keys {
            self.detach(k);
        }
        (inside, keys)
    }

    /// Removes `path` and everything below it (a directory that vanished).
    pub fn remove_subtree(&mut self, path: &[u8]) {
        if path == self.root.as_slice() || !self.dirs.contains_key(path) {
            return;
        }
        let (inside, keys) = self.detach_subtree(path);
        for p in &inside {
            let names: Vec<_> = self.dirs[p].linked.clone();
            for (name, key) in names {
                if let Some(g) = self.links.get_mut(&key) {
                    g.holders.remove(&join_bytes(p, &name));
                }
            }
        }
        let total = self.dirs[path].total;
        let before_total = self.dirs[path].total.bytes;
        if let Some(parent) = parent_bytes(path).map(<[u8]>::to_vec) {
            self.adjust(&parent, total, true);
            let name = &path[parent.len() + usize::from(!parent.ends_with(b"/"))..];
            let name: Box<[u8]> = name.into();
            self.touch_then(&parent, |d| {
                d.children.remove(&name);
            });
        }
        for p in &inside {
            self.touch(p);
            self.dirs.remove(p);
        }
        self.notes
            .push((path.to_vec(), Note::Removed(before_total)));
        for &k in &keys {
            self.attach(k);
        }
    }

    /// Reads a new directory `path` and its whole subtree into the model.
    pub fn add_subtree(&mut self, path: &[u8]) {
        let Some(parent) = parent_bytes(path).map(<[u8]>::to_vec) else {
            return;
        };
        let Some(parent_depth) = self.dirs.get(&parent).map(|d| d.depth) else {
            return;
        };
        if self.dirs.contains_key(path) {
            return;
        }
        // Read everything first: nothing in the model changes until the
        // subtree is known.
        let mut found: Vec<ReadDir> = Vec::new();
        let mut queue = vec![(path.to_vec(), parent_depth + 1)];
        while let Some((p, depth)) = queue.pop() {
            let Ok(listing) = self.read(&p) else {
                continue;
            };
            for (name, _) in &listing.children {
                queue.push((join_bytes(&p, name), depth + 1));
            }
            let links = listing
                .links
                .iter()
                .map(|e| (join_bytes(&p, &e.name), e.stat))
                .collect();
            found.push((p, LiveDir::from_listing(depth, &listing), links));
        }
        if found.is_empty() {
            return;
        }
        // A directory that vanished while being read is not in `found`: keep
        // child sets consistent with what is.
        let present: BTreeSet<Vec<u8>> = found.iter().map(|(p, ..)| p.clone()).collect();
        let keys: BTreeSet<(u64, u64)> = found
            .iter()
            .flat_map(|(_, _, l)| l.iter().map(|(_, s)| (s.dev, s.ino)))
            .collect();
        for &k in &keys {
            self.detach(k);
        }
        found.sort_by_key(|(_, d, _)| std::cmp::Reverse(d.depth));
        let mut subtotal: BTreeMap<Vec<u8>, Sizes> = BTreeMap::new();
        for (p, mut d, links) in found {
            d.children.retain(|n| present.contains(&join_bytes(&p, n)));
            if let Some(s) = subtotal.remove(&p) {
                d.total.add(s);
            }
            if p != path
                && let Some(pp) = parent_bytes(&p)
            {
                subtotal.entry(pp.to_vec()).or_default().add(d.total);
            }
            for (full, st) in links {
                self.saw_link(full, &st);
            }
            self.touch(&p);
            self.dirs.insert(p, d);
        }
        let total = self.dirs[path].total;
        let name: Box<[u8]> = path[parent.len() + usize::from(!parent.ends_with(b"/"))..].into();
        self.touch_then(&parent, |d| {
            d.children.insert(name);
        });
        self.adjust(&parent, total, false);
        self.notes.push((path.to_vec(), Note::Created));
        for &k in &keys {
            self.attach(k);
        }
    }

    /// Moves the subtree at `from` to `to` without re-reading it, when both
    /// are inside the root, `from` is a directory of the model, `to`'s parent
    /// is one and `to` is not. Returns false (and changes nothing) otherwise;
    /// the caller then treats the two sides as a removal and a creation.
    pub fn rename(&mut self, from: &[u8], to: &[u8]) -> bool {
        // Path patterns match relative paths, which a move changes: read
        // the subtree again rather than guess what the patterns now exclude.
        if self.opts.exclude.needs_path()
            || from == self.root.as_slice()
            || !self.dirs.contains_key(from)
            || self.dirs.contains_key(to)
            || is_within(to, from)
            || !is_within(to, &self.root)
        {
            return false;
        }
        let (Some(from_parent), Some(to_parent)) = (
            parent_bytes(from).map(<[u8]>::to_vec),
            parent_bytes(to).map(<[u8]>::to_vec),
        ) else {
            return false;
        };
        let Some(to_parent_depth) = self.dirs.get(&to_parent).map(|d| d.depth) else {
            return false;
        };
        let (inside, keys) = self.detach_subtree(from);
        let total = self.dirs[from].total;
        self.adjust(&from_parent, total, true);
        let old_name: Box<[u8]> =
            from[from_parent.len() + usize::from(!from_parent.ends_with(b"/"))..].into();
        self.touch_then(&from_parent, |d| {
            d.children.remove(&old_name);
        });
        let shift = i64::from(to_parent_depth + 1) - i64::from(self.dirs[from].depth);
        for p in &inside {
            self.touch(p);
            let Some(mut d) = self.dirs.remove(p) else {
                continue;
            };
            let mut q = to.to_vec();
            q.extend_from_slice(&p[from.len()..]);
            d.depth = u32::try_from(i64::from(d.depth) + shift).unwrap_or(d.depth);
            for (name, key) in &d.linked {
                if let Some(g) = self.links.get_mut(key) {
                    g.holders.remove(&join_bytes(p, name));
                    g.holders.insert(join_bytes(&q, name));
                }
            }
            self.touch(&q);
            self.dirs.insert(q, d);
        }
        let new_name: Box<[u8]> =
            to[to_parent.len() + usize::from(!to_parent.ends_with(b"/"))..].into();
        self.touch_then(&to_parent, |d| {
            d.children.insert(new_name);
        });
        self.adjust(&to_parent, total, false);
        for &k in &keys {
            self.attach(k);
        }
        self.notes.push((to.to_vec(), Note::Renamed));
        true
    }

    /// Ends the batch: what changed since [`LiveTree::begin_batch`].
    pub fn end_batch(&mut self, time_ms: i64) -> BatchChanges {
        for g in self.links.values_mut() {
            if std::mem::take(&mut g.grew) && g.nlink > g.holders.len() as u64 {
                self.needs_validation = true;
            }
        }
        let before = std::mem::take(&mut self.before);
        let notes = std::mem::take(&mut self.notes);
        let mut removed: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
        let mut upserts = Vec::new();
        for (path, old) in &before {
            match (old, self.dirs.get(path)) {
                (Some(o), Some(d)) => {
                    let s = d.stats();
                    if s != *o {
                        upserts.push(Mutation::Upsert {
                            time_ms,
                            record: DirRecord {
                                path: path.clone(),
                                depth: d.depth,
                                stats: s,
                            },
                            old_total: Some(o.total_bytes),
                        });
                    }
                }
                (None, Some(d)) => upserts.push(Mutation::Upsert {
                    time_ms,
                    record: DirRecord {
                        path: path.clone(),
                        depth: d.depth,
                        stats: d.stats(),
                    },
                    old_total: None,
                }),
                (Some(o), None) => {
                    removed.insert(path.clone(), o.total_bytes);
                }
                (None, None) => {}
            }
        }
        let mut mutations: Vec<Mutation> = removed
            .iter()
            .filter(|(p, _)| parent_bytes(p).is_none_or(|parent| !removed.contains_key(parent)))
            .map(|(p, &t)| Mutation::RemoveSubtree {
                time_ms,
                path: p.clone(),
                old_total: Some(t),
            })
            .collect();
        mutations.extend(upserts);

        let mut journal = Vec::new();
        let mut seen = BTreeSet::new();
        for (path, note) in notes {
            if !seen.insert((path.clone(), note_rank(note))) {
                continue;
            }
            let now = self.dirs.get(&path).map(|d| d.total.bytes);
            let was = before.get(&path).and_then(|o| o.map(|s| s.total_bytes));
            let delta = |a: Option<u64>, b: Option<u64>| {
                i64::try_from(i128::from(b.unwrap_or(0)) - i128::from(a.unwrap_or(0))).ok()
            };
            let entry = match note {
                Note::Reread => {
                    let Some(now) = now else { continue };
                    let kind = match now.cmp(&was.unwrap_or(0)) {
                        std::cmp::Ordering::Greater => JournalKind::Grew,
                        std::cmp::Ordering::Less => JournalKind::Shrank,
                        std::cmp::Ordering::Equal => {
                            let changed = before.get(&path).and_then(|o| *o)
                                != self.dirs.get(&path).map(LiveDir::stats);
                            if !changed {
                                continue;
                            }
                            JournalKind::Changed
                        }
                    };
                    (kind, delta(was, Some(now)))
                }
                Note::Created => {
                    if now.is_none() {
                        continue;
                    }
                    (JournalKind::Created, delta(None, now))
                }
                Note::Removed(t) => (JournalKind::Removed, delta(Some(t), None)),
                Note::Renamed => (JournalKind::Renamed, Some(0)),
            };
            journal.push(JournalEvent {
                time_ms,
                kind: entry.0,
                path,
                delta_bytes: entry.1,
                is_dir: true,
            });
        }
        BatchChanges { mutations, journal }
    }

    /// The root's recursive disk usage, if the model has the root.
    pub fn root_total(&self) -> Option<u64> {
        self.dirs.get(&self.root).map(|d| d.total.bytes)
    }

    /// Replaces the whole model with `fresh` (a validation walk of the same
    /// root) and returns the differences as one batch. Its journal entry
    /// says how the root changed since `journal_base` (the root's total
    /// before changes not journaled yet) or else since the model replaced.
    pub fn replace_with(
        &mut self,
        fresh: LiveTree,
        time_ms: i64,
        journal_base: Option<u64>,
    ) -> BatchChanges {
        let unjournaled = journal_base.is_some();
        let old_root = journal_base.or_else(|| self.root_total());
        let old = std::mem::replace(self, fresh);
        let old = old.dirs.into_iter().map(|(p, d)| {
            let s = d.stats();
            (p, s)
        });
        self.validated_against(old, old_root, unjournaled, time_ms)
    }

    /// The model of `fresh` (a validation walk) with its differences from
    /// `stored` (the root's directories as the store holds them, pending
    /// mutations applied) as one batch, as [`LiveTree::replace_with`] gives
    /// them against a model built from `stored`, without building that
    /// model: a catch-up at boot.
    pub fn validated_from_stored(
        fresh: LiveTree,
        stored: Vec<DirRecord>,
        time_ms: i64,
    ) -> (LiveTree, BatchChanges) {
        let mut tree = fresh;
        let mut old: Vec<(Vec<u8>, DirStats)> = stored
            .into_iter()
            .filter(|r| is_within(&r.path, &tree.root))
            .map(|r| (r.path, r.stats))
            .collect();
        in_path_order(&mut old);
        let old_root = old
            .iter()
            .find(|(p, _)| *p == tree.root)
            .map(|(_, s)| s.total_bytes);
        let changes = tree.validated_against(old.into_iter(), old_root, false, time_ms);
        (tree, changes)
    }

    /// This model, just walked, against `old` (every directory as it was,
    /// in path order): the differences as one batch.
    fn validated_against(
        &mut self,
        old: impl Iterator<Item = (Vec<u8>, DirStats)>,
        old_root: Option<u64>,
        unjournaled: bool,
        time_ms: i64,
    ) -> BatchChanges {
        self.begin_batch();
        self.validated();
        let mut old_dirs = old.peekable();
        let mut new_dirs = self.dirs.iter().peekable();
        let before = &mut self.before;
        loop {
            let ord = match (old_dirs.peek(), new_dirs.peek()) {
                (None, None) => break,
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some((a, _)), Some((b, _))) => a.cmp(b),
            };
            match ord {
                std::cmp::Ordering::Less => {
                    #[allow(clippy::expect_used)] // cannot fail: the match is on what peek saw
                    let (p, s) = old_dirs.next().expect("peeked");
                    before.insert(p, Some(s));
                }
                std::cmp::Ordering::Greater => {
                    #[allow(clippy::expect_used)] // cannot fail: the match is on what peek saw
                    let (p, _) = new_dirs.next().expect("peeked");
                    before.insert(p.clone(), None);
                }
                std::cmp::Ordering::Equal => {
                    #[allow(clippy::expect_used)] // cannot fail: the match is on what peek saw
                    let ((p, s), (_, now)) = (
                        old_dirs.next().expect("peeked"),
                        new_dirs.next().expect("peeked"),
                    );
                    if now.stats() != s {
                        before.insert(p, Some(s));
                    }
                }
            }
        }
        let mut changes = self.end_batch(time_ms);
        let now = self.root_total();
        if !changes.mutations.is_empty() || unjournaled {
            changes.journal.push(JournalEvent {
                time_ms,
                kind: JournalKind::Rescanned,
                path: self.root.clone(),
                delta_bytes: i64::try_from(
                    i128::from(now.unwrap_or(0)) - i128::from(old_root.unwrap_or(0)),
                )
                .ok(),
                is_dir: true,
            });
        }
        changes
    }

    /// The directory that contains `path` and is in the model, if any
    /// (`path` itself when it is a directory of the model).
    pub fn nearest_dir(&self, path: &Path) -> Option<Vec<u8>> {
        let mut p = disktracker::path::path_bytes(path);
        loop {
            if !is_within(p, &self.root) {
                return None;
            }
            if self.dirs.contains_key(p) {
                return Some(p.to_vec());
            }
            p = parent_bytes(p)?;
        }
    }
}

/// The directory ids of a walk in bytewise order of their paths, from the
/// tree's shape: each directory before its subtree, and among siblings, a
/// directory's own path and its subtree (the paths under `name/`, which
/// are contiguous in that order) placed by `name` and `name/` respectively
/// (`a`, `a-c`, `a-c/…`, `a/…`). Checked, and sorted outright if the walk
/// gave two siblings one name.
fn path_order(
    arenas: &[disktracker::DirArena],
    slot: &[(usize, usize)],
    parents: &[usize],
    paths: &[Vec<u8>],
) -> Vec<usize> {
    let n = slot.len();
    let name = |id: usize| {
        let (ai, i) = slot[id];
        arenas[ai].name(i)
    };
    // Children of each directory, contiguous (counting sort by parent).
    let mut start = vec![0usize; n + 1];
    for &p in parents.iter().skip(1) {
        start[p + 1] += 1;
    }
    for i in 0..n {
        start[i + 1] += start[i];
    }
    let mut fill = start.clone();
    let mut kids = vec![0usize; n.saturating_sub(1)];
    for (id, &p) in parents.iter().enumerate().skip(1) {
        kids[fill[p]] = id;
        fill[p] += 1;
    }
    // (id, true): the directory itself; (id, false): its subtree.
    // As `name` and `name/` compare bytewise: the common length of the two
    // names by `memcmp`, then what is left of the longer one (with the
    // slash) byte by byte.
    let cmp = |&(a, own_a): &(usize, bool), &(b, own_b): &(usize, bool)| {
        let (na, nb) = (name(a), name(b));
        let n = na.len().min(nb.len());
        na[..n].cmp(&nb[..n]).then_with(|| {
            let slash = |own: bool| (!own).then_some(&b'/');
            na[n..]
                .iter()
                .chain(slash(own_a))
                .cmp(nb[n..].iter().chain(slash(own_b)))
        })
    };
    let mut order = Vec::with_capacity(n);
    order.push(0);
    let mut stack: Vec<(usize, bool)> = Vec::new();
    let mut items: Vec<(usize, bool)> = Vec::new();
    let mut expand = |dir: usize, stack: &mut Vec<(usize, bool)>| {
        items.clear();
        for &c in &kids[start[dir]..start[dir + 1]] {
            items.extend([(c, true), (c, false)]);
        }
        items.sort_unstable_by(cmp);
        stack.extend(items.iter().rev());
    };
    expand(0, &mut stack);
    while let Some((id, own)) = stack.pop() {
        if own {
            order.push(id);
        } else {
            expand(id, &mut stack);
        }
    }
    if !order.windows(2).all(|w| paths[w[0]] < paths[w[1]]) {
        order.sort_by(|&a, &b| paths[a].cmp(&paths[b]));
    }
    order
}

/// Sorts records by path, one per path: a later record wins, as inserting
/// them one by one would. Stores read trees in path order already.
fn in_path_order<T>(records: &mut Vec<(Vec<u8>, T)>) {
    if !records.is_sorted_by(|a, b| a.0 < b.0) {
        records.reverse();
        records.sort_by(|a, b| a.0.cmp(&b.0));
        records.dedup_by(|later, earlier| later.0 == earlier.0);
    }
}

fn note_rank(n: Note) -> u8 {
    match n {
        Note::Reread => 0,
        Note::Created => 1,
        Note::Removed(_) => 2,
        Note::Renamed => 3,
    }
}
