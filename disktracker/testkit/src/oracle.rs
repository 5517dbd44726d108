//! Independent oracles for directory totals.
//!
//! [`compute`] (and [`compute_with`], which mirrors the walk options) is a
//! deliberately plain, separately written computation of what every
//! directory's numbers must be: a recursive `std::fs::read_dir` walk with
//! `symlink_metadata`, hard links deduplicated by (dev, ino) and attributed to
//! the bytewise-first full path, and totals summed up the ancestor chain.
//! [`du`] runs GNU `du`. Neither shares code with the walkers or the engine,
//! so a bug there cannot hide by being repeated here. The one shared piece is
//! the fingerprint's hash ([`Fingerprint`], a documented primitive every
//! walker must use): the oracle decides which entries it covers and with what
//! values, from its own `symlink_metadata`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use disktracker::DirStats;
use disktracker_walker_support::Fingerprint;

/// What a directory's numbers must be.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Expected {
    /// Recursive disk usage.
    pub total_bytes: u64,
    /// Recursive apparent size.
    pub total_apparent: u64,
    /// Recursive non-directory entries.
    pub file_count: u64,
    /// Own inode plus direct non-directory entries, disk usage.
    pub direct_bytes: u64,
    /// Same, apparent.
    pub direct_apparent: u64,
    /// Direct non-directory entries.
    pub direct_files: u64,
    /// Immediate subdirectories.
    pub child_count: u64,
    /// Errors met reading this directory and stating its direct entries:
    /// one if it cannot be opened, one per entry that cannot be listed or
    /// stated.
    pub errors: u64,
}

/// A scanned directory's numbers in the oracle's shape, for comparison.
impl From<&DirStats> for Expected {
    fn from(s: &DirStats) -> Self {
        Expected {
            total_bytes: s.total_bytes,
            total_apparent: s.total_apparent,
            file_count: s.file_count,
            direct_bytes: s.direct_bytes,
            direct_apparent: s.direct_apparent,
            direct_files: s.direct_files,
            child_count: s.child_count,
            errors: s.error_count,
        }
    }
}

/// Decides, from an entry's path relative to the root (no leading `/`),
/// whether to skip it.
pub type Skip<'a> = &'a dyn Fn(&[u8]) -> bool;

/// How the oracle filters entries, mirroring the walk options under test.
/// The default filters nothing.
#[derive(Clone, Copy, Default)]
pub struct Options<'a> {
    /// Entries to skip entirely (a skipped directory is not descended into).
    /// The walkers' glob matching is not reused: each test states the
    /// paths its patterns must match.
    pub skip: Option<Skip<'a>>,
    /// Skip entries whose device differs from the root's, as `du -x` does.
    pub one_file_system: bool,
}

impl<'a> Options<'a> {
    /// Skips the entries `skip` selects; filters nothing else.
    pub fn skipping(skip: Skip<'a>) -> Self {
        Options {
            skip: Some(skip),
            ..Options::default()
        }
    }
}

/// A directory's identity and the digest of its direct entries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Identity {
    /// Modification time, ns since the epoch.
    pub mtime_ns: i64,
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
    /// Digest of every direct entry kept (stat'ed, not skipped).
    pub fingerprint: u128,
}

/// A scanned directory's identity in the oracle's shape, for comparison.
impl From<&DirStats> for Identity {
    fn from(s: &DirStats) -> Self {
        Identity {
            mtime_ns: s.mtime_ns,
            dev: s.dev,
            ino: s.ino,
            fingerprint: s.fingerprint,
        }
    }
}

/// The oracle's view of a tree.
#[derive(Debug, Default)]
pub struct Oracle {
    /// Every directory by absolute path bytes.
    pub dirs: BTreeMap<Vec<u8>, Expected>,
    /// Every directory's identity and fingerprint, by absolute path bytes.
    pub identities: BTreeMap<Vec<u8>, Identity>,
    /// Directories whose totals depend on which hard link is met first
    /// (some inode has links both inside and outside them): `du` disagrees
    /// with the first-path rule there by design.
    pub order_dependent: BTreeSet<Vec<u8>>,
    /// Directories that could not be read (plus listings that broke off).
    pub unreadable: u64,
}

/// The key the oracle's maps use for `path`: its bytes.
pub fn key(path: &Path) -> Vec<u8> {
    path.as_os_str().as_bytes().to_vec()
}

/// Computes the expected numbers of every directory under `root` (absolute,
/// resolved), filtering nothing.
pub fn compute(root: &Path) -> Oracle {
    compute_with(root, &Options::default())
}

/// Computes the expected numbers of every directory under `root` (absolute,
/// resolved), skipping what `opts` says.
pub fn compute_with(root: &Path, opts: &Options<'_>) -> Oracle {
    // The root is followed if it is a symlink (a root given by a link means
    // its target); nothing below it is.
    let own = fs::metadata(root).expect("root metadata");
    let root_key = key(root);
    let mut walk = Walk {
        opts,
        root_len: root_key.len(),
        root_dev: own.dev(),
        direct: BTreeMap::new(),
        identities: BTreeMap::new(),
        links: HashMap::new(),
        unreadable: 0,
    };
    walk.visit(root, &own);
    let Walk {
        mut direct,
        identities,
        links,
        unreadable,
        ..
    } = walk;

    // A hard-linked inode counts once, in the directory of its bytewise-first
    // path (DESIGN.md §2).
    for group in links.values() {
        let first = group
            .iter()
            .min_by(|a, b| a.full.cmp(&b.full))
            .expect("non-empty group");
        let e = direct
            .get_mut(&first.dir)
            .expect("link's directory was visited");
        e.direct_bytes += first.bytes;
        e.direct_apparent += first.apparent;
        e.direct_files += 1;
    }

    let order_dependent = direct
        .keys()
        .filter(|dir| {
            links.values().any(|g| {
                let inside = g.iter().filter(|l| within(&l.dir, dir)).count();
                inside > 0 && inside < g.len()
            })
        })
        .cloned()
        .collect();

    // Recursive totals: every directory adds its direct part to itself and to
    // each ancestor up to the root.
    let mut dirs = direct.clone();
    for (path, e) in &direct {
        let mut cur = path.as_slice();
        loop {
            let t = dirs.get_mut(cur).expect("ancestor visited");
            t.total_bytes += e.direct_bytes;
            t.total_apparent += e.direct_apparent;
            t.file_count += e.direct_files;
            if cur == root_key.as_slice() {
                break;
            }
            let cut = cur.iter().rposition(|&c| c == b'/').expect("absolute");
            // The parent of `/x` is `/`, not the empty string.
            cur = &cur[..cut.max(1)];
        }
    }
    Oracle {
        dirs,
        identities,
        order_dependent,
        unreadable,
    }
}

/// Whether `path` is `dir` or below it.
fn within(path: &[u8], dir: &[u8]) -> bool {
    path == dir || (path.starts_with(dir) && path.get(dir.len()) == Some(&b'/'))
}

/// One name of a hard-linked inode.
struct Link {
    full: Vec<u8>,
    dir: Vec<u8>,
    bytes: u64,
    apparent: u64,
}

/// The state of one [`compute_with`] walk.
struct Walk<'a> {
    opts: &'a Options<'a>,
    root_len: usize,
    root_dev: u64,
    /// Direct numbers only; totals are summed afterwards.
    direct: BTreeMap<Vec<u8>, Expected>,
    identities: BTreeMap<Vec<u8>, Identity>,
    /// Every name of every inode with more than one link, by (dev, ino):
    /// which one counts is only known once all are seen.
    links: HashMap<(u64, u64), Vec<Link>>,
    unreadable: u64,
}

impl Walk<'_> {
    fn visit(&mut self, dir: &Path, own: &fs::Metadata) {
        let dir_key = key(dir);
        let mut e = Expected {
            direct_bytes: own.blocks() * 512,
            direct_apparent: own.size(),
            ..Expected::default()
        };
        let mut subdirs = Vec::new();
        let mut fingerprint = Fingerprint::default();
        match fs::read_dir(dir) {
            // Cannot open: the directory still counts its own inode.
            Err(_) => {
                e.errors += 1;
                self.unreadable += 1;
            }
            Ok(rd) => {
                for entry in rd {
                    let Ok(entry) = entry else {
                        e.errors += 1;
                        self.unreadable += 1;
                        continue;
                    };
                    let path = entry.path();
                    let full = key(&path);
                    let rel = &full[self.root_len..];
                    let rel = rel.strip_prefix(b"/").unwrap_or(rel);
                    if self.opts.skip.is_some_and(|skip| skip(rel)) {
                        continue;
                    }
                    // Fails when the entry vanished or the directory is
                    // listable but not searchable.
                    let Ok(m) = fs::symlink_metadata(&path) else {
                        e.errors += 1;
                        continue;
                    };
                    if self.opts.one_file_system && m.dev() != self.root_dev {
                        continue;
                    }
                    let mtime_ns = m.mtime() * 1_000_000_000 + m.mtime_nsec();
                    let name = entry.file_name();
                    fingerprint.add(name.as_bytes(), m.ino(), m.size(), m.blocks(), mtime_ns);
                    if m.is_dir() {
                        e.child_count += 1;
                        subdirs.push((path, m));
                    } else if m.nlink() > 1 {
                        self.links
                            .entry((m.dev(), m.ino()))
                            .or_default()
                            .push(Link {
                                full,
                                dir: dir_key.clone(),
                                bytes: m.blocks() * 512,
                                apparent: m.size(),
                            });
                    } else {
                        e.direct_bytes += m.blocks() * 512;
                        e.direct_apparent += m.size();
                        e.direct_files += 1;
                    }
                }
            }
        }
        let identity = Identity {
            mtime_ns: own.mtime() * 1_000_000_000 + own.mtime_nsec(),
            dev: own.dev(),
            ino: own.ino(),
            fingerprint: fingerprint.value(),
        };
        self.identities.insert(dir_key.clone(), identity);
        self.direct.insert(dir_key, e);
        for (path, m) in subdirs {
            self.visit(&path, &m);
        }
    }
}

/// Runs GNU `du -B1 -0` with `extra` arguments (such as `-s` or `-x`), and
/// `--apparent-size` when asked, on `root`; returns every directory it
/// prints with its total.
pub fn du(root: &Path, apparent: bool, extra: &[&str]) -> BTreeMap<Vec<u8>, u64> {
    let mut cmd = Command::new("du");
    cmd.args(["-B1", "-0"]).args(extra);
    if apparent {
        cmd.arg("--apparent-size");
    }
    let out = cmd.arg(root).output().expect("GNU du runs");
    // du exits 1 after reporting unreadable directories; its sizes still count.
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "du failed: {out:?}"
    );
    let mut map = BTreeMap::new();
    for rec in out.stdout.split(|&c| c == 0).filter(|r| !r.is_empty()) {
        let tab = rec
            .iter()
            .position(|&c| c == b'\t')
            .expect("du prints SIZE\\tPATH");
        let size = std::str::from_utf8(&rec[..tab])
            .expect("ascii")
            .parse()
            .expect("number");
        map.insert(rec[tab + 1..].to_vec(), size);
    }
    map
}
