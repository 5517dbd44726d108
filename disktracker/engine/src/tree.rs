//! Aggregating a walk into per-directory recursive totals.
//!
//! The tree keeps every directory's name, not its absolute path: on a tree of
//! 260,000 directories the paths alone are 36 MB, the names 3 MB. Paths are
//! built when needed, in path order by [`InOrder`], which reuses the
//! previous path's prefix so that each directory costs about its own name.

use std::cmp::Ordering;
use std::collections::HashMap;

use disktracker::arena::direct_stats;
use disktracker::{DirId, DirStats, Error, ErrorKind, LinkedFile, Result, WalkIssue, WalkOutput};

/// A finished walk: every directory with direct and recursive totals.
///
/// Index `i` is the directory with [`DirId`] `i`; parents have lower
/// indices than their children.
#[derive(Debug, Default)]
pub struct ScanTree {
    parent: Vec<u32>,
    depth: Vec<u32>,
    /// Where each directory's totals are in `rows` (in the order the arenas
    /// were drained, which is not the id order).
    slot: Vec<u32>,
    rows: Vec<DirStats>,
    /// Every directory's name relative to its parent (the root's is its
    /// absolute path), as `(start, len)` in `names`.
    name_ranges: Vec<(u32, u32)>,
    names: Vec<u8>,
    issues: Vec<WalkIssue>,
    /// [`ScanTree::sorted_ids`], computed once: the store, the diff stream
    /// and the index all want the same order.
    sorted: std::sync::OnceLock<Vec<u32>>,
}

impl ScanTree {
    /// Merges the walkers' arenas, attributes hard-linked files by the
    /// first-path rule, and aggregates recursive totals in one reverse pass.
    ///
    /// The arenas are drained as they are copied, and the totals are
    /// appended in that order (not placed by id, which would need all of
    /// them allocated first), so the walk's output and the tree are never
    /// both whole in memory. The result depends only on what was walked,
    /// never on which worker found what first.
    pub fn from_walk(out: WalkOutput) -> Result<ScanTree> {
        let n: usize = out.arenas.iter().map(disktracker::DirArena::len).sum();
        if n == 0 || n > u32::MAX as usize {
            return Err(Error::new(
                ErrorKind::Plugin,
                "walker returned no root directory",
            ));
        }
        let names_len: usize = out
            .arenas
            .iter()
            .map(disktracker::DirArena::names_len)
            .sum();
        if names_len > u32::MAX as usize {
            return Err(Error::new(
                ErrorKind::Io,
                "directory names exceed 4 GiB in total",
            ));
        }
        let mut parent = vec![u32::MAX; n];
        let mut slot = vec![u32::MAX; n];
        let mut rows = Vec::with_capacity(n);
        let mut name_ranges = vec![(0u32, 0u32); n];
        let mut names = Vec::with_capacity(names_len);
        let mut links = Vec::new();
        let mut issues = Vec::new();
        let bad = |what: String| Error::new(ErrorKind::Plugin, format!("walker bug: {what}"));
        for mut arena in out.arenas {
            links.append(&mut arena.links);
            issues.append(&mut arena.issues);
            arena.drain(|hot, cold, name| {
                let id = hot.id as usize;
                if id >= n || slot[id] != u32::MAX {
                    return Err(bad(format!("directory id {id} out of range or repeated")));
                }
                if (id == 0) != (hot.parent == DirId::NONE.0)
                    || (id != 0 && hot.parent as usize >= id)
                {
                    return Err(bad(format!("directory {id} has parent {}", hot.parent)));
                }
                parent[id] = hot.parent;
                // Below n and names_len, both checked to fit in u32.
                slot[id] = rows.len() as u32;
                rows.push(direct_stats(hot, cold));
                name_ranges[id] = (names.len() as u32, name.len() as u32);
                names.extend_from_slice(name);
                Ok(())
            })?;
        }
        // Every id below n appeared exactly once, so every parent is known.
        let mut depth = vec![0u32; n];
        for id in 1..n {
            depth[id] = depth[parent[id] as usize] + 1;
        }

        let mut tree = ScanTree {
            parent,
            depth,
            slot,
            rows,
            name_ranges,
            names,
            issues,
            sorted: std::sync::OnceLock::new(),
        };
        tree.attribute_links(&links);
        drop(links);
        tree.issues.sort_by(|a, b| a.path.cmp(&b.path));
        tree.aggregate();
        Ok(tree)
    }

    /// A file with several links inside the scan counts once, in the
    /// directory whose full path sorts first bytewise among its links.
    fn attribute_links(&mut self, links: &[LinkedFile]) {
        /// The link seen so far whose full path sorts first.
        struct First<'a> {
            full: Vec<u8>,
            link: &'a LinkedFile,
        }
        let mut first: HashMap<(u64, u64), First<'_>> = HashMap::new();
        let mut paths = PathCursor::new(self);
        for link in links {
            let full = disktracker::path::join_bytes(paths.path(link.dir.0), &link.name);
            match first.get_mut(&(link.dev, link.ino)) {
                Some(cur) if cur.full <= full => {}
                Some(cur) => *cur = First { full, link },
                None => {
                    first.insert((link.dev, link.ino), First { full, link });
                }
            }
        }
        for First { link, .. } in first.into_values() {
            let s = &mut self.rows[self.slot[link.dir.index()] as usize];
            s.direct_bytes += link.bytes;
            s.direct_apparent += link.apparent;
            s.direct_files += 1;
        }
    }

    fn aggregate(&mut self) {
        for s in &mut self.rows {
            s.total_bytes = s.direct_bytes;
            s.total_apparent = s.direct_apparent;
            s.file_count = s.direct_files;
        }
        for id in (1..self.len()).rev() {
            let child = self.rows[self.slot[id] as usize];
            let p = &mut self.rows[self.slot[self.parent[id] as usize] as usize];
            p.total_bytes += child.total_bytes;
            p.total_apparent += child.total_apparent;
            p.file_count += child.file_count;
        }
    }

    /// Number of directories.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Always false: a tree has at least its root.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Absolute path of directory `id`, built from the names up to the
    /// root. To visit many, [`ScanTree::in_order`] or a [`PathCursor`] is
    /// cheaper.
    pub fn path(&self, id: u32) -> Vec<u8> {
        PathCursor::new(self).path(id).to_vec()
    }

    /// Name of `id` relative to its parent (the root's: its absolute path).
    pub fn name(&self, id: u32) -> &[u8] {
        let (s, len) = self.name_ranges[id as usize];
        &self.names[s as usize..(s + len) as usize]
    }

    /// The root's absolute path.
    pub fn root(&self) -> &[u8] {
        self.name(0)
    }

    /// Depth of `id` below the root.
    pub fn depth(&self, id: u32) -> u32 {
        self.depth[id as usize]
    }

    /// Parent of `id` (`u32::MAX` for the root).
    pub fn parent(&self, id: u32) -> u32 {
        self.parent[id as usize]
    }

    /// Totals of `id`.
    pub fn stats(&self, id: u32) -> &DirStats {
        &self.rows[self.slot[id as usize] as usize]
    }

    /// Problems met during the walk, sorted by path.
    pub fn issues(&self) -> &[WalkIssue] {
        &self.issues
    }

    /// Total number of problems.
    pub fn error_count(&self) -> u64 {
        self.rows.iter().map(|s| s.error_count).sum()
    }

    /// Total length of every directory's absolute path, to size a buffer
    /// that will hold them all.
    pub fn path_bytes(&self) -> usize {
        // Parents come first; a child adds a separator and its name, but
        // no separator after a root that ends with one ("/").
        let root_sep = usize::from(!self.root().ends_with(b"/"));
        let mut len = vec![0usize; self.len()];
        len[0] = self.root().len();
        for id in 1..self.len() {
            let p = self.parent[id] as usize;
            let sep = if p == 0 { root_sep } else { 1 };
            len[id] = len[p] + sep + self.name_ranges[id].1 as usize;
        }
        len.iter().sum()
    }

    /// Directory ids in bytewise path order.
    pub fn sorted_ids(&self) -> &[u32] {
        self.sorted.get_or_init(|| self.path_order())
    }

    /// Every directory in bytewise path order, with its path.
    pub fn in_order(&self) -> InOrder<'_> {
        InOrder::new(self, self.sorted_ids())
    }

    /// The ids in bytewise path order, from the names alone.
    ///
    /// Below a directory P, child `c`'s own path `P/c` and its descendants
    /// `P/c/…` are two separate runs: a sibling whose name extends `c`
    /// (`c-x`, since `-` sorts before `/`) falls between them. So each
    /// child has two keys among its siblings, `c` for itself and `c/` for
    /// its subtree; sorting a directory's keys and expanding each subtree
    /// key in place (depth first) gives exactly the bytewise order of the
    /// full paths, with no path ever built.
    fn path_order(&self) -> Vec<u32> {
        let n = self.len();
        // Children grouped by parent (a counting sort): those of `p` are
        // `kids[ends[p - 1]..ends[p]]` (from 0 for the root).
        let mut ends = vec![0u32; n];
        for &p in &self.parent[1..] {
            ends[p as usize] += 1;
        }
        let mut sum = 0;
        for e in &mut ends {
            sum += *e;
            *e = sum - *e; // the start, for now
        }
        let mut kids = vec![0u32; n - 1];
        for id in 1..n as u32 {
            let e = &mut ends[self.parent[id as usize] as usize];
            kids[*e as usize] = id;
            *e += 1; // ends at the end
        }
        let children = |p: u32| {
            let start = if p == 0 { 0 } else { ends[p as usize - 1] };
            &kids[start as usize..ends[p as usize] as usize]
        };

        let mut order = Vec::with_capacity(n);
        order.push(0);
        // Keys still to visit, the next one last: (directory, its subtree?).
        let mut todo: Vec<(u32, bool)> = Vec::new();
        let expand = |todo: &mut Vec<(u32, bool)>, p: u32| {
            let from = todo.len();
            for &c in children(p) {
                todo.push((c, false));
                if !children(c).is_empty() {
                    todo.push((c, true));
                }
            }
            // Largest first: the stack then pops them smallest first.
            todo[from..].sort_unstable_by(|&(a, a_sub), &(b, b_sub)| {
                sibling_key_cmp(self.name(b), b_sub, self.name(a), a_sub)
            });
        };
        expand(&mut todo, 0);
        while let Some((id, subtree)) = todo.pop() {
            if subtree {
                expand(&mut todo, id);
            } else {
                order.push(id);
            }
        }
        order
    }
}

/// Orders two siblings' keys: `a`'s name, followed by `/` when `a_sub`
/// (its subtree), against `b`'s likewise.
fn sibling_key_cmp(a: &[u8], a_sub: bool, b: &[u8], b_sub: bool) -> Ordering {
    let n = a.len().min(b.len());
    a[..n]
        .cmp(&b[..n])
        .then_with(|| key_rest(&a[n..], a_sub).cmp(key_rest(&b[n..], b_sub)))
}

/// The bytes of a sibling key from some point on: the rest of the name,
/// then `/` for a subtree key.
fn key_rest(rest: &[u8], sub: bool) -> impl Iterator<Item = u8> + '_ {
    let slash: &'static [u8] = if sub { b"/" } else { b"" };
    rest.iter().chain(slash).copied()
}

/// Builds absolute paths of a tree's directories in one reused buffer.
///
/// It keeps the ancestors whose path the buffer starts with, so a directory
/// after its parent or a sibling (as in path order) costs its own name; any
/// other costs the names up to the nearest ancestor kept.
#[derive(Debug)]
pub struct PathCursor<'t> {
    tree: &'t ScanTree,
    buf: Vec<u8>,
    /// The directories whose paths `buf` begins with, root first (entry `d`
    /// is at depth `d`), with where their paths end in `buf`.
    chain: Vec<(u32, usize)>,
    /// Scratch: the directories to append, deepest first.
    climb: Vec<u32>,
}

impl<'t> PathCursor<'t> {
    /// A cursor over `tree`'s paths.
    pub fn new(tree: &'t ScanTree) -> Self {
        PathCursor {
            tree,
            buf: Vec::new(),
            chain: Vec::new(),
            climb: Vec::new(),
        }
    }

    /// The absolute path of `id` (valid until the next call).
    pub fn path(&mut self, id: u32) -> &[u8] {
        let t = self.tree;
        self.climb.clear();
        let mut x = id;
        let keep = loop {
            let d = t.depth(x) as usize;
            if self.chain.get(d).is_some_and(|&(c, _)| c == x) {
                break d + 1;
            }
            self.climb.push(x);
            if x == 0 {
                break 0;
            }
            x = t.parent(x);
        };
        self.chain.truncate(keep);
        self.buf
            .truncate(self.chain.last().map_or(0, |&(_, end)| end));
        while let Some(x) = self.climb.pop() {
            // The root "/" already ends with the separator.
            if !self.buf.is_empty() && self.buf.last() != Some(&b'/') {
                self.buf.push(b'/');
            }
            self.buf.extend_from_slice(t.name(x));
            self.chain.push((x, self.buf.len()));
        }
        &self.buf
    }
}

/// A tree's directories in bytewise path order, each with its absolute path:
/// a cursor, looked at with [`InOrder::current`] and moved with
/// [`InOrder::advance`] (the path lives in a buffer the next one reuses).
#[derive(Debug)]
pub struct InOrder<'t> {
    order: &'t [u32],
    pos: usize,
    paths: PathCursor<'t>,
}

impl<'t> InOrder<'t> {
    fn new(tree: &'t ScanTree, order: &'t [u32]) -> Self {
        let mut it = InOrder {
            order,
            pos: 0,
            paths: PathCursor::new(tree),
        };
        it.build();
        it
    }

    fn build(&mut self) {
        if let Some(&id) = self.order.get(self.pos) {
            self.paths.path(id);
        }
    }

    /// The directory at the cursor and its path; `None` past the last.
    pub fn current(&self) -> Option<(u32, &[u8])> {
        let &id = self.order.get(self.pos)?;
        Some((id, &self.paths.buf))
    }

    /// Moves to the next directory in path order.
    pub fn advance(&mut self) {
        if self.pos < self.order.len() {
            self.pos += 1;
            self.build();
        }
    }
}

impl ScanTree {
    /// Directory `id` as a record.
    pub fn record(&self, id: u32) -> disktracker::DirRecord {
        disktracker::DirRecord {
            path: self.path(id),
            depth: self.depth(id),
            stats: *self.stats(id),
        }
    }

    /// The `n` largest directories below the root, at most `max_depth`
    /// levels down, largest first (ties by path).
    pub fn top(
        &self,
        max_depth: u32,
        n: usize,
        kind: disktracker::SizeKind,
    ) -> Vec<disktracker::DirRecord> {
        let mut ids: Vec<u32> = (1..self.len() as u32)
            .filter(|&i| self.depth(i) <= max_depth)
            .collect();
        // Largest first; ties by path, which the position in path order gives
        // without building paths.
        let mut rank = vec![0u32; self.len()];
        for (pos, &id) in self.sorted_ids().iter().enumerate() {
            rank[id as usize] = pos as u32;
        }
        ids.sort_unstable_by(|&a, &b| {
            self.stats(b)
                .total(kind)
                .cmp(&self.stats(a).total(kind))
                .then_with(|| rank[a as usize].cmp(&rank[b as usize]))
        });
        ids.into_iter().take(n).map(|i| self.record(i)).collect()
    }
}

#[cfg(test)]
mod tests;
