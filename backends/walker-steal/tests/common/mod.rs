//! Test support shared by both walker crates (the jwalk crate includes this
//! file by path): handmade trees, an independent oracle, GNU `du` output,
//! and comparisons with readable failure messages.
//!
//! The oracle is deliberately naive and shares no code with the walkers:
//! `std::fs::read_dir` plus `symlink_metadata`, its own recursion, hard
//! links deduplicated by (dev, ino) and attributed to the bytewise-first
//! full path.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

use disktracker::path::escape_bytes;
use disktracker::{DirStats, WalkContext, WalkOptions, Walker};
use disktracker_engine::ScanTree;

/// What a test compares per directory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Expect {
    pub total_bytes: u64,
    pub total_apparent: u64,
    pub direct_bytes: u64,
    pub direct_apparent: u64,
    pub file_count: u64,
    pub direct_files: u64,
    pub child_count: u64,
    pub errors: u64,
}

impl From<&DirStats> for Expect {
    fn from(s: &DirStats) -> Self {
        Expect {
            total_bytes: s.total_bytes,
            total_apparent: s.total_apparent,
            direct_bytes: s.direct_bytes,
            direct_apparent: s.direct_apparent,
            file_count: s.file_count,
            direct_files: s.direct_files,
            child_count: s.child_count,
            errors: s.error_count,
        }
    }
}

pub fn b(p: &Path) -> Vec<u8> {
    p.as_os_str().as_bytes().to_vec()
}

pub fn p(b: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(b))
}

/// Walks `root` with `walker` and aggregates.
pub fn scan(
    walker: &dyn Walker,
    root: &Path,
    threads: usize,
    tweak: impl FnOnce(&mut WalkOptions),
) -> ScanTree {
    let mut opts = WalkOptions {
        threads,
        ..WalkOptions::default()
    };
    tweak(&mut opts);
    let out = walker
        .walk(root, &opts, &WalkContext::default())
        .expect("walk succeeds");
    ScanTree::from_walk(out).expect("aggregation succeeds")
}

/// Every directory's comparable totals, by absolute path.
pub fn totals(tree: &ScanTree) -> BTreeMap<Vec<u8>, Expect> {
    (0..tree.len() as u32)
        .map(|id| (tree.path(id).to_vec(), Expect::from(tree.stats(id))))
        .collect()
}

/// Every directory's full record (identity, mtime, fingerprint too), by path.
pub fn records(tree: &ScanTree) -> BTreeMap<Vec<u8>, DirStats> {
    (0..tree.len() as u32)
        .map(|id| (tree.path(id).to_vec(), *tree.stats(id)))
        .collect()
}

/// Asserts two per-path maps are equal, naming the first differences.
pub fn assert_same<T: PartialEq + std::fmt::Debug>(
    what: &str,
    got: &BTreeMap<Vec<u8>, T>,
    want: &BTreeMap<Vec<u8>, T>,
) {
    if got == want {
        return;
    }
    let mut msgs = Vec::new();
    for (path, w) in want {
        match got.get(path) {
            None => msgs.push(format!("missing {}", escape_bytes(path))),
            Some(g) if g != w => msgs.push(format!(
                "{}:\n   got {g:?}\n  want {w:?}",
                escape_bytes(path)
            )),
            Some(_) => {}
        }
    }
    for path in got.keys().filter(|k| !want.contains_key(*k)) {
        msgs.push(format!("unexpected {}", escape_bytes(path)));
    }
    let n = msgs.len();
    msgs.truncate(12);
    panic!(
        "{what}: {n} differences (first {}):\n{}",
        msgs.len(),
        msgs.join("\n")
    );
}

/// Decides, from its path relative to the root, whether to skip an entry.
pub type SkipFn<'a> = &'a dyn Fn(&[u8]) -> bool;

/// How the oracle filters, mirroring the walk options under test.
#[derive(Default)]
pub struct OracleOpts<'a> {
    /// Entries to skip, by path relative to the root.
    pub skip: Option<SkipFn<'a>>,
    /// Skip entries whose device differs from the root's.
    pub one_file_system: bool,
}

struct Linked {
    full: Vec<u8>,
    dir: Vec<u8>,
    bytes: u64,
    apparent: u64,
}

struct Oracle<'a> {
    opts: &'a OracleOpts<'a>,
    root_len: usize,
    root_dev: u64,
    direct: BTreeMap<Vec<u8>, Expect>,
    links: HashMap<(u64, u64), Linked>,
}

impl Oracle<'_> {
    fn dir(&mut self, dir: &Path, own: &fs::Metadata) {
        let key = b(dir);
        let mut e = Expect {
            direct_bytes: own.blocks() * 512,
            direct_apparent: own.len(),
            ..Expect::default()
        };
        let mut subdirs = Vec::new();
        match fs::read_dir(dir) {
            Err(_) => e.errors += 1,
            Ok(rd) => {
                for ent in rd {
                    let Ok(ent) = ent else {
                        e.errors += 1;
                        continue;
                    };
                    let path = ent.path();
                    let full = b(&path);
                    let rel = &full[(self.root_len + 1).min(full.len())..];
                    if self.opts.skip.is_some_and(|skip| skip(rel)) {
                        continue;
                    }
                    let Ok(m) = fs::symlink_metadata(&path) else {
                        e.errors += 1;
                        continue;
                    };
                    if self.opts.one_file_system && m.dev() != self.root_dev {
                        continue;
                    }
                    if m.is_dir() {
                        e.child_count += 1;
                        subdirs.push((path, m));
                    } else if m.nlink() > 1 {
                        let cand = Linked {
                            full,
                            dir: key.clone(),
                            bytes: m.blocks() * 512,
                            apparent: m.len(),
                        };
                        let slot = self
                            .links
                            .entry((m.dev(), m.ino()))
                            .or_insert_with(|| Linked {
                                full: vec![0xff; 4097],
                                dir: Vec::new(),
                                bytes: 0,
                                apparent: 0,
                            });
                        if cand.full < slot.full {
                            *slot = cand;
                        }
                    } else {
                        e.direct_bytes += m.blocks() * 512;
                        e.direct_apparent += m.len();
                        e.direct_files += 1;
                    }
                }
            }
        }
        self.direct.insert(key, e);
        for (path, m) in subdirs {
            self.dir(&path, &m);
        }
    }
}

/// Expected totals of every directory under `root`, computed independently.
pub fn oracle(root: &Path, opts: &OracleOpts<'_>) -> BTreeMap<Vec<u8>, Expect> {
    let own = fs::metadata(root).expect("root metadata");
    let mut o = Oracle {
        opts,
        root_len: b(root).len(),
        root_dev: own.dev(),
        direct: BTreeMap::new(),
        links: HashMap::new(),
    };
    o.dir(root, &own);
    let Oracle {
        mut direct, links, ..
    } = o;
    for l in links.into_values() {
        let e = direct.get_mut(&l.dir).expect("link's directory recorded");
        e.direct_bytes += l.bytes;
        e.direct_apparent += l.apparent;
        e.direct_files += 1;
    }
    // Recursive totals: every directory adds its direct part to itself and
    // to each ancestor up to the root.
    let root_key = b(root);
    let mut out = direct.clone();
    for (path, e) in &direct {
        let mut cur = path.as_slice();
        loop {
            let t = out.get_mut(cur).expect("ancestor recorded");
            t.total_bytes += e.direct_bytes;
            t.total_apparent += e.direct_apparent;
            t.file_count += e.direct_files;
            if cur == root_key.as_slice() {
                break;
            }
            let cut = cur.iter().rposition(|&c| c == b'/').expect("absolute path");
            cur = &cur[..cut.max(1)];
        }
    }
    out
}

/// GNU `du -B1 -0` output (per directory, recursive) as path -> bytes.
pub fn du(root: &Path, apparent: bool, extra: &[&str]) -> BTreeMap<Vec<u8>, u64> {
    let mut cmd = Command::new("du");
    cmd.args(["-B1", "-0"]).args(extra);
    if apparent {
        cmd.arg("--apparent-size");
    }
    let out = cmd.arg(root).output().expect("GNU du is installed");
    // du exits 1 after reporting unreadable directories; its sizes still count.
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "du failed: {out:?}"
    );
    let mut map = BTreeMap::new();
    for rec in out.stdout.split(|&c| c == 0).filter(|r| !r.is_empty()) {
        let tab = rec.iter().position(|&c| c == b'\t').expect("SIZE\\tPATH");
        let size = std::str::from_utf8(&rec[..tab]).unwrap().parse().unwrap();
        map.insert(rec[tab + 1..].to_vec(), size);
    }
    map
}

/// Checks a walk's per-directory totals against `du -B1` and `du -B1 --apparent-size`.
pub fn assert_matches_du(tree: &ScanTree, root: &Path, extra: &[&str]) {
    let got = totals(tree);
    for apparent in [false, true] {
        let want = du(root, apparent, extra);
        let got: BTreeMap<_, _> = got
            .iter()
            .map(|(k, e)| {
                (
                    k.clone(),
                    if apparent {
                        e.total_apparent
                    } else {
                        e.total_bytes
                    },
                )
            })
            .collect();
        assert_same(
            if apparent { "du --apparent-size" } else { "du" },
            &got,
            &want,
        );
    }
}

fn write(path: &Path, len: usize) {
    fs::write(path, vec![b'z'; len]).unwrap();
}

/// A hand-made tree with every kind of entry the walkers must handle. With
/// `cross_dir_links`, some files also get hard links in other directories.
pub fn build_handmade(root: &Path, cross_dir_links: bool) {
    let j = |s: &str| root.join(s);
    for d in ["a/b/c", "empty", "e/f", "links", "hl", "wide", "fifo"] {
        fs::create_dir_all(j(d)).unwrap();
    }
    for (i, len) in [0, 1, 511, 512, 4095, 4096, 4097, 65_536, 100_000]
        .into_iter()
        .enumerate()
    {
        write(&j(&format!("f{i}")), len);
    }
    write(&j("a/one"), 10);
    write(&j("a/b/two"), 5000);
    write(&j("a/b/c/three"), 123_456);
    // Sparse: apparent size far above disk usage.
    fs::File::create(j("sparse"))
        .unwrap()
        .set_len(10 << 20)
        .unwrap();
    write(&j("sparse_tail"), 4096);
    fs::OpenOptions::new()
        .write(true)
        .open(j("sparse_tail"))
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    // Symlinks: counted as themselves, never followed.
    symlink("../f1", j("links/to_file")).unwrap();
    symlink("../a", j("links/to_dir")).unwrap();
    symlink("nowhere/at/all", j("links/dangling")).unwrap();
    symlink("loop2", j("links/loop1")).unwrap();
    symlink("loop1", j("links/loop2")).unwrap();
    symlink("..", j("links/up")).unwrap();
    // Names that are not UTF-8.
    write(&root.join(OsStr::from_bytes(b"caf\xe9.txt")), 300);
    let odd = root.join(OsStr::from_bytes(b"dir\xff\xfe"));
    fs::create_dir_all(odd.join(OsStr::from_bytes(b"\x80sub"))).unwrap();
    write(&odd.join("inside"), 700);
    write(&odd.join(OsStr::from_bytes(b"\x80sub/x\xc3")), 7000);
    // Hard links within one directory: counted once.
    write(&j("hl/orig"), 9000);
    fs::hard_link(j("hl/orig"), j("hl/alias")).unwrap();
    fs::hard_link(j("hl/orig"), j("hl/alias2")).unwrap();
    // A wide directory.
    for i in 0..3000 {
        write(&j(&format!("wide/w{i:04}")), i % 97);
    }
    // A 40-level chain.
    let mut deep = j("deep");
    for level in 0..40 {
        deep.push(format!("d{level}"));
        fs::create_dir_all(&deep).unwrap();
        write(&deep.join("f"), level * 10);
    }
    // A FIFO: neither file nor directory, still an entry.
    let st = Command::new("mkfifo").arg(j("fifo/pipe")).status().unwrap();
    assert!(st.success());
    if cross_dir_links {
        fs::create_dir_all(j("xb")).unwrap();
        fs::create_dir_all(j("xa/sub")).unwrap();
        write(&j("xb/orig"), 20_000);
        fs::hard_link(j("xb/orig"), j("xa/sub/link")).unwrap();
        fs::hard_link(j("xb/orig"), j("xb/link")).unwrap();
        // Between the deep chain and the root: the root's `0…` sorts first.
        fs::hard_link(j("deep/d0/d1/d2/f"), j("0_deep_link")).unwrap();
        // `a/b/two` (first) gets a second name in the wide directory.
        fs::hard_link(j("a/b/two"), j("wide/0first")).unwrap();
    }
}

/// A canonical temporary directory (the walkers expect absolute, resolved roots).
pub fn tempdir() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let root = fs::canonicalize(t.path()).unwrap();
    (t, root)
}
