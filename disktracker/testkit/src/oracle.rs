//! Independent oracles for directory totals.
//!
//! [`compute`] is a deliberately plain, separately written computation (a
//! recursive `std::fs` walk, totals summed over path prefixes) of what every
//! directory's numbers must be, including the hard-link first-path rule.
//! [`du`] runs GNU `du`. Neither shares code with the walkers or the engine.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

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
}

/// The oracle's view of a tree.
#[derive(Debug, Default)]
pub struct Oracle {
    /// Every directory by absolute path bytes.
    pub dirs: BTreeMap<Vec<u8>, Expected>,
    /// Directories whose totals depend on which hard link is met first
    /// (some inode has links both inside and outside them): `du` disagrees
    /// with the first-path rule there by design.
    pub order_dependent: BTreeSet<Vec<u8>>,
    /// Directories that could not be read.
    pub unreadable: u64,
}

struct Link {
    full: Vec<u8>,
    dir: Vec<u8>,
    bytes: u64,
    apparent: u64,
}

/// Computes the expected totals of every directory under `root` (absolute).
pub fn compute(root: &Path) -> Oracle {
    let mut direct: BTreeMap<Vec<u8>, Expected> = BTreeMap::new();
    let mut links: HashMap<(u64, u64), Vec<Link>> = HashMap::new();
    let mut unreadable = 0;
    visit(root, &mut direct, &mut links, &mut unreadable);

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

    let mut order_dependent = BTreeSet::new();
    for dir in direct.keys() {
        let spans = links.values().any(|g| {
            let inside = g.iter().filter(|l| within(&l.dir, dir)).count();
            inside > 0 && inside < g.len()
        });
        if spans {
            order_dependent.insert(dir.clone());
        }
    }

    // Recursive totals: sum over every directory at or below, by path prefix.
    let mut dirs = BTreeMap::new();
    for (path, e) in &direct {
        let mut total = *e;
        total.total_bytes = 0;
        total.total_apparent = 0;
        total.file_count = 0;
        for (other, o) in direct.range(path.clone()..) {
            if !within(other, path) {
                // Paths under `path` all start with `path/`; stop past them.
                if !other.starts_with(path) {
                    break;
                }
                continue;
            }
            total.total_bytes += o.direct_bytes;
            total.total_apparent += o.direct_apparent;
            total.file_count += o.direct_files;
        }
        dirs.insert(path.clone(), total);
    }
    Oracle {
        dirs,
        order_dependent,
        unreadable,
    }
}

fn within(path: &[u8], dir: &[u8]) -> bool {
    path == dir || (path.starts_with(dir) && path.get(dir.len()) == Some(&b'/'))
}

fn visit(
    dir: &Path,
    direct: &mut BTreeMap<Vec<u8>, Expected>,
    links: &mut HashMap<(u64, u64), Vec<Link>>,
    unreadable: &mut u64,
) {
    let key = dir.as_os_str().as_bytes().to_vec();
    let meta = fs::symlink_metadata(dir).expect("directory stat");
    let mut e = Expected {
        direct_bytes: meta.blocks() * 512,
        direct_apparent: meta.size(),
        ..Expected::default()
    };
    let mut subdirs = Vec::new();
    match fs::read_dir(dir) {
        Err(_) => *unreadable += 1,
        Ok(rd) => {
            for entry in rd {
                let Ok(entry) = entry else {
                    *unreadable += 1;
                    continue;
                };
                let path = entry.path();
                let Ok(m) = fs::symlink_metadata(&path) else {
                    continue;
                };
                if m.is_dir() {
                    e.child_count += 1;
                    subdirs.push(path);
                } else if m.nlink() > 1 {
                    links.entry((m.dev(), m.ino())).or_default().push(Link {
                        full: path.as_os_str().as_bytes().to_vec(),
                        dir: key.clone(),
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
    direct.insert(key, e);
    for sub in subdirs {
        visit(&sub, direct, links, unreadable);
    }
}

/// Runs GNU `du -B1 -0` (with `--apparent-size` when asked) on `root` and
/// returns every directory's total.
pub fn du(root: &Path, apparent: bool) -> BTreeMap<Vec<u8>, u64> {
    let mut cmd = Command::new("du");
    cmd.arg("-B1").arg("-0");
    if apparent {
        cmd.arg("--apparent-size");
    }
    let out = cmd.arg(root).output().expect("GNU du runs");
    let mut map = BTreeMap::new();
    for rec in out.stdout.split(|&b| b == 0).filter(|r| !r.is_empty()) {
        let tab = rec
            .iter()
            .position(|&b| b == b'\t')
            .expect("du line has a tab");
        let size: u64 = std::str::from_utf8(&rec[..tab])
            .expect("ascii")
            .parse()
            .expect("number");
        map.insert(OsStr::from_bytes(&rec[tab + 1..]).as_bytes().to_vec(), size);
    }
    map
}
