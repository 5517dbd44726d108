//! Aggregating a walk into per-directory recursive totals.

use std::collections::HashMap;

use disktracker::arena::direct_stats;
use disktracker::{DirId, DirStats, Error, ErrorKind, Result, WalkIssue, WalkOutput};

/// A finished walk: every directory with direct and recursive totals.
///
/// Index `i` is the directory with [`DirId`] `i`; parents have lower
/// indices than their children.
#[derive(Debug, Default)]
pub struct ScanTree {
    parent: Vec<u32>,
    depth: Vec<u32>,
    stats: Vec<DirStats>,
    /// Absolute path of every directory, as ranges into `paths`.
    path_ranges: Vec<(u32, u32)>,
    paths: Vec<u8>,
    issues: Vec<WalkIssue>,
    /// [`ScanTree::sorted_ids`], computed once: the store, the diff stream
    /// and the index all want the same order.
    sorted: std::sync::OnceLock<Vec<u32>>,
}

impl ScanTree {
    /// Merges the walkers' arenas, attributes hard-linked files by the
    /// first-path rule, and aggregates recursive totals in one reverse pass.
    ///
    /// The result depends only on what was walked, never on which worker
    /// found what first.
    pub fn from_walk(out: WalkOutput) -> Result<ScanTree> {
        let n: usize = out.arenas.iter().map(disktracker::DirArena::len).sum();
        if n == 0 || n > u32::MAX as usize {
            return Err(Error::new(
                ErrorKind::Plugin,
                "walker returned no root directory",
            ));
        }
        let mut parent = vec![u32::MAX; n];
        let mut stats = vec![DirStats::default(); n];
        let mut seen = vec![false; n];
        // (arena, index in arena) of every id, to read names in id order.
        let mut slot = vec![(0u32, 0u32); n];
        let bad = |what: String| Error::new(ErrorKind::Plugin, format!("walker bug: {what}"));
        for (ai, arena) in out.arenas.iter().enumerate() {
            for i in 0..arena.len() {
                let hot = arena.hot(i);
                let id = hot.id as usize;
                if id >= n || seen[id] {
                    return Err(bad(format!("directory id {id} out of range or repeated")));
                }
                if (id == 0) != (hot.parent == DirId::NONE.0)
                    || (id != 0 && hot.parent as usize >= id)
                {
                    return Err(bad(format!("directory {id} has parent {}", hot.parent)));
                }
                seen[id] = true;
                parent[id] = hot.parent;
                stats[id] = direct_stats(hot, arena.cold(i));
                slot[id] = (ai as u32, i as u32);
            }
        }

        // Absolute paths, built forward (parents first), in a buffer sized
        // exactly: doubling slack would be a quarter of a scan's peak memory.
        let mut path_len = vec![0usize; n];
        for id in 0..n {
            let (ai, i) = slot[id];
            let name = out.arenas[ai as usize].name(i as usize).len();
            path_len[id] = if id == 0 {
                name
            } else {
                path_len[parent[id] as usize] + 1 + name
            };
        }
        let mut path_ranges = Vec::with_capacity(n);
        let mut paths = Vec::with_capacity(path_len.iter().sum());
        drop(path_len);
        let mut depth = vec![0u32; n];
        for id in 0..n {
            let (ai, i) = slot[id];
            let name = out.arenas[ai as usize].name(i as usize);
            let start = paths.len();
            if id == 0 {
                paths.extend_from_slice(name);
            } else {
                let p = parent[id] as usize;
                depth[id] = depth[p] + 1;
                let (ps, pe) = path_ranges[p];
                paths.extend_from_within(ps as usize..pe as usize);
                if paths.last() != Some(&b'/') {
                    paths.push(b'/');
                }
                paths.extend_from_slice(name);
            }
            path_ranges.push((start as u32, paths.len() as u32));
        }
        if paths.len() > u32::MAX as usize {
            return Err(Error::new(
                ErrorKind::Io,
                "directory paths exceed 4 GiB in total",
            ));
        }

        let mut tree = ScanTree {
            parent,
            depth,
            stats,
            path_ranges,
            paths,
            issues: Vec::new(),
            sorted: std::sync::OnceLock::new(),
        };
        tree.attribute_links(&out);
        for arena in out.arenas {
            tree.issues.extend(arena.issues);
        }
        tree.issues.sort_by(|a, b| a.path.cmp(&b.path));
        tree.aggregate();
        Ok(tree)
    }

    /// A file with several links inside the scan counts once, in the
    /// directory whose full path sorts first bytewise among its links.
    fn attribute_links(&mut self, out: &WalkOutput) {
        /// The link seen so far whose full path sorts first.
        struct First<'a> {
            full: Vec<u8>,
            link: &'a disktracker::LinkedFile,
        }
        let mut first: HashMap<(u64, u64), First<'_>> = HashMap::new();
        for link in out.arenas.iter().flat_map(|a| a.links.iter()) {
            let full = disktracker::path::join_bytes(self.path(link.dir.0), &link.name);
            match first.get_mut(&(link.dev, link.ino)) {
                Some(cur) if cur.full <= full => {}
                Some(cur) => *cur = First { full, link },
                None => {
                    first.insert((link.dev, link.ino), First { full, link });
                }
            }
        }
        for First { link, .. } in first.into_values() {
            let s = &mut self.stats[link.dir.index()];
            s.direct_bytes += link.bytes;
            s.direct_apparent += link.apparent;
            s.direct_files += 1;
        }
    }

    fn aggregate(&mut self) {
        for s in &mut self.stats {
            s.total_bytes = s.direct_bytes;
            s.total_apparent = s.direct_apparent;
            s.file_count = s.direct_files;
        }
        for id in (1..self.stats.len()).rev() {
            let child = self.stats[id];
            let p = &mut self.stats[self.parent[id] as usize];
            p.total_bytes += child.total_bytes;
            p.total_apparent += child.total_apparent;
            p.file_count += child.file_count;
        }
    }

    /// Number of directories.
    pub fn len(&self) -> usize {
        self.stats.len()
    }

    /// Always false: a tree has at least its root.
    pub fn is_empty(&self) -> bool {
        self.stats.is_empty()
    }

    /// Absolute path of directory `id`.
    pub fn path(&self, id: u32) -> &[u8] {
        let (s, e) = self.path_ranges[id as usize];
        &self.paths[s as usize..e as usize]
    }

    /// The root's absolute path.
    pub fn root(&self) -> &[u8] {
        self.path(0)
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
        &self.stats[id as usize]
    }

    /// Problems met during the walk, sorted by path.
    pub fn issues(&self) -> &[WalkIssue] {
        &self.issues
    }

    /// Total number of problems.
    pub fn error_count(&self) -> u64 {
        self.stats.iter().map(|s| s.error_count).sum()
    }

    /// Directory ids in bytewise path order.
    pub fn sorted_ids(&self) -> &[u32] {
        self.sorted.get_or_init(|| {
            let mut ids: Vec<u32> = (0..self.len() as u32).collect();
            ids.sort_unstable_by(|&a, &b| self.path(a).cmp(self.path(b)));
            ids
        })
    }
}

impl ScanTree {
    /// Directory `id` as a record.
    pub fn record(&self, id: u32) -> disktracker::DirRecord {
        disktracker::DirRecord {
            path: self.path(id).to_vec(),
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
        ids.sort_unstable_by(|&a, &b| {
            self.stats(b)
                .total(kind)
                .cmp(&self.stats(a).total(kind))
                .then_with(|| self.path(a).cmp(self.path(b)))
        });
        ids.into_iter().take(n).map(|i| self.record(i)).collect()
    }
}

#[cfg(test)]
mod tests;
