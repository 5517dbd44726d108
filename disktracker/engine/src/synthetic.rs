//! Synthetic walker output for the engine's tests: a tree described by hand
//! (or generated), handed to [`ScanTree::from_walk`](crate::ScanTree) as
//! several workers' arenas with the ids spread over them in any order, and
//! an oracle computed from the description alone.

use std::collections::BTreeMap;

use disktracker::{DirArena, DirCold, DirHot, DirId, LinkedFile, WalkOutput};

/// One directory: its parent (an index below its own; `None` for the root),
/// its name (the absolute path for the root) and its direct totals, hard
/// links excluded.
#[derive(Clone, Debug)]
pub struct Dir {
    pub parent: Option<usize>,
    pub name: Vec<u8>,
    pub bytes: u64,
    pub apparent: u64,
    pub files: u64,
}

/// A hard link: the name `name` in directory `dir` of the file (`dev`, `ino`).
#[derive(Clone, Debug)]
pub struct Link {
    pub dir: usize,
    pub name: Vec<u8>,
    pub dev: u64,
    pub ino: u64,
}

/// A tree; directory `i` gets walker id `i`.
#[derive(Clone, Debug, Default)]
pub struct Tree {
    pub dirs: Vec<Dir>,
    pub links: Vec<Link>,
}

/// Disk usage and apparent size of a hard-linked file: a function of its
/// identity, as every link of one file has the same size.
pub fn link_size(dev: u64, ino: u64) -> (u64, u64) {
    (4096 * (1 + ino % 7 + dev), 1000 * (1 + ino % 5) + dev)
}

/// What the tree's totals must be, computed without the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    pub path: Vec<u8>,
    pub depth: u32,
    pub direct_bytes: u64,
    pub direct_apparent: u64,
    pub direct_files: u64,
    pub total_bytes: u64,
    pub total_apparent: u64,
    pub file_count: u64,
}

impl Expected {
    /// Directory `id` of a finished tree, in this shape, for comparison.
    pub fn of(t: &crate::ScanTree, id: u32) -> Expected {
        let s = t.stats(id);
        Expected {
            path: t.path(id).to_vec(),
            depth: t.depth(id),
            direct_bytes: s.direct_bytes,
            direct_apparent: s.direct_apparent,
            direct_files: s.direct_files,
            total_bytes: s.total_bytes,
            total_apparent: s.total_apparent,
            file_count: s.file_count,
        }
    }
}

impl Tree {
    /// A root called `root`.
    pub fn new(root: &str) -> Tree {
        Tree {
            dirs: vec![Dir {
                parent: None,
                name: root.as_bytes().to_vec(),
                bytes: 4096,
                apparent: 4096,
                files: 0,
            }],
            links: Vec::new(),
        }
    }

    /// Adds a directory; returns its id.
    pub fn dir(&mut self, parent: usize, name: &str, bytes: u64, files: u64) -> usize {
        self.dirs.push(Dir {
            parent: Some(parent),
            name: name.as_bytes().to_vec(),
            bytes,
            apparent: bytes / 2,
            files,
        });
        self.dirs.len() - 1
    }

    /// Adds a hard link.
    pub fn link(&mut self, dir: usize, name: &str, dev: u64, ino: u64) {
        self.links.push(Link {
            dir,
            name: name.as_bytes().to_vec(),
            dev,
            ino,
        });
    }

    /// The full path of directory `i`, by string concatenation.
    pub fn path(&self, i: usize) -> Vec<u8> {
        let d = &self.dirs[i];
        match d.parent {
            None => d.name.clone(),
            Some(p) => {
                let mut s = self.path(p);
                s.push(b'/');
                s.extend_from_slice(&d.name);
                s
            }
        }
    }

    /// The walker output: directory `i` goes to arena `arena_of[i]`, the
    /// directories are pushed in the order `order` (a permutation of ids),
    /// and link `k` goes to arena `link_arena[k]`.
    pub fn walk(
        &self,
        arenas: usize,
        arena_of: &[usize],
        order: &[usize],
        link_arena: &[usize],
    ) -> WalkOutput {
        let mut out: Vec<DirArena> = (0..arenas).map(|_| DirArena::default()).collect();
        for &i in order {
            let d = &self.dirs[i];
            let hot = DirHot {
                id: i as u32,
                parent: d.parent.map_or(DirId::NONE.0, |p| p as u32),
                direct_bytes: d.bytes,
                direct_apparent: d.apparent,
                direct_files: d.files,
                child_dirs: self.dirs.iter().filter(|c| c.parent == Some(i)).count() as u32,
                errors: 0,
            };
            out[arena_of[i] % arenas].push(
                hot,
                &d.name,
                DirCold::new(i as i64, 1, 1000 + i as u64, i as u128),
            );
        }
        for (k, l) in self.links.iter().enumerate() {
            let (bytes, apparent) = link_size(l.dev, l.ino);
            out[link_arena[k] % arenas].links.push(LinkedFile {
                dir: DirId(l.dir as u32),
                name: l.name.clone().into_boxed_slice(),
                dev: l.dev,
                ino: l.ino,
                bytes,
                apparent,
            });
        }
        WalkOutput {
            root: std::path::PathBuf::from(String::from_utf8_lossy(&self.dirs[0].name).as_ref()),
            arenas: out,
        }
    }

    /// Every directory's expected totals, in id order: a hard-linked file
    /// counts once, in the directory of the link whose full path is the
    /// smallest; recursive totals sum every directory whose path lies
    /// inside (by prefix comparison of the built paths).
    pub fn expected(&self) -> Vec<Expected> {
        let paths: Vec<Vec<u8>> = (0..self.dirs.len()).map(|i| self.path(i)).collect();
        let mut owner: BTreeMap<(u64, u64), (Vec<u8>, usize)> = BTreeMap::new();
        for l in &self.links {
            let mut full = paths[l.dir].clone();
            full.push(b'/');
            full.extend_from_slice(&l.name);
            let slot = owner.entry((l.dev, l.ino)).or_insert((full.clone(), l.dir));
            if full < slot.0 {
                *slot = (full, l.dir);
            }
        }
        let mut direct: Vec<(u64, u64, u64)> = self
            .dirs
            .iter()
            .map(|d| (d.bytes, d.apparent, d.files))
            .collect();
        for ((dev, ino), (_, dir)) in &owner {
            let (b, a) = link_size(*dev, *ino);
            direct[*dir].0 += b;
            direct[*dir].1 += a;
            direct[*dir].2 += 1;
        }
        let inside = |p: &[u8], d: &[u8]| p == d || (p.starts_with(d) && p[d.len()] == b'/');
        (0..self.dirs.len())
            .map(|i| {
                let mut e = Expected {
                    path: paths[i].clone(),
                    depth: 0,
                    direct_bytes: direct[i].0,
                    direct_apparent: direct[i].1,
                    direct_files: direct[i].2,
                    total_bytes: 0,
                    total_apparent: 0,
                    file_count: 0,
                };
                let mut p = self.dirs[i].parent;
                while let Some(q) = p {
                    e.depth += 1;
                    p = self.dirs[q].parent;
                }
                for (j, pj) in paths.iter().enumerate() {
                    if inside(pj, &paths[i]) {
                        e.total_bytes += direct[j].0;
                        e.total_apparent += direct[j].1;
                        e.file_count += direct[j].2;
                    }
                }
                e
            })
            .collect()
    }
}
