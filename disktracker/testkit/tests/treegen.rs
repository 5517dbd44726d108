//! The tree generator: the same (count, seed) gives the same tree, the tree
//! holds what its documentation promises (counted here by an independent
//! walk), and on such a tree the testkit's oracle agrees with GNU `du`.
// A test kit: a failed unwrap is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use disktracker_testkit::fixtures::{make_removable, tempdir};
use disktracker_testkit::oracle;
use disktracker_testkit::treegen::{SPARSE_THRESHOLD, Summary, generate};
use rstest::rstest;
use rustix::io::Errno;

/// A generated tree in a temporary directory, made removable when dropped
/// (its unreadable directory would otherwise stay behind for a non-root user).
struct Tree {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    summary: Summary,
}

impl Tree {
    fn new(nfiles: u64, seed: u64) -> Tree {
        let (tmp, dir) = tempdir();
        let root = dir.join("tree");
        let summary = generate(&root, nfiles, seed).expect("the tree is generated");
        Tree {
            _tmp: tmp,
            root,
            summary,
        }
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        make_removable(&self.root);
    }
}

fn is_root() -> bool {
    fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// One entry as a `find`-like walk sees it (symlinks not followed).
struct Entry {
    /// Path relative to the root.
    rel: Vec<u8>,
    meta: fs::Metadata,
}

/// Every entry below `root`, by a plain recursive walk. The tree must be
/// readable (see `make_removable`).
fn walk(root: &Path) -> Vec<Entry> {
    fn visit(root_len: usize, dir: &Path, out: &mut Vec<Entry>) {
        for e in fs::read_dir(dir).expect("readable directory") {
            let path = e.expect("directory entry").path();
            let meta = fs::symlink_metadata(&path).expect("entry metadata");
            let rel = path.as_os_str().as_bytes()[root_len + 1..].to_vec();
            let is_dir = meta.is_dir();
            out.push(Entry { rel, meta });
            if is_dir {
                visit(root_len, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    visit(root.as_os_str().len(), root, &mut out);
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    out
}

/// What two generated trees must share: every path with its type, size,
/// link target (the root's own absolute path replaced) and hard-link group
/// (named by the group's first path), in path order.
fn listing(root: &Path) -> Vec<(Vec<u8>, String)> {
    let entries = walk(root);
    let mut first_name: HashMap<u64, &[u8]> = HashMap::new();
    for e in entries.iter().filter(|e| e.meta.is_file()) {
        first_name.entry(e.meta.ino()).or_insert(&e.rel);
    }
    entries
        .iter()
        .map(|e| {
            let m = &e.meta;
            let what = if m.is_dir() {
                "dir".to_owned()
            } else if m.is_file() {
                let group = String::from_utf8_lossy(first_name[&m.ino()]);
                format!("file {} bytes, inode of {group:?}", m.len())
            } else {
                let path = root.join(std::ffi::OsStr::from_bytes(&e.rel));
                let target = fs::read_link(path).expect("a symlink");
                let target = target.as_os_str().as_bytes();
                let target = match target.strip_prefix(root.as_os_str().as_bytes()) {
                    Some(rest) => [b"$ROOT", rest].concat(),
                    None => target.to_vec(),
                };
                format!("symlink to {:?}", String::from_utf8_lossy(&target))
            };
            (e.rel.clone(), what)
        })
        .collect()
}

#[test]
fn the_same_count_and_seed_give_the_same_tree() {
    let a = Tree::new(3_000, 9);
    let b = Tree::new(3_000, 9);
    let c = Tree::new(3_000, 10);
    for t in [&a, &b, &c] {
        make_removable(&t.root);
    }
    let (la, lb, lc) = (listing(&a.root), listing(&b.root), listing(&c.root));
    assert!(la.len() > 3_000, "{} entries", la.len());
    if la != lb {
        let diff: Vec<_> = la.iter().zip(&lb).filter(|(x, y)| x != y).take(5).collect();
        panic!("two runs differ, first differences: {diff:?}");
    }
    let mut sa = a.summary.clone();
    sa.out.clone_from(&b.summary.out);
    sa.unreadable_dir = b.summary.out.join(
        a.summary
            .unreadable_dir
            .strip_prefix(&a.summary.out)
            .unwrap(),
    );
    assert_eq!(sa, b.summary);
    // Another seed, another tree (the listing does depend on the seed).
    assert_ne!(la, lc);
}

#[rstest]
#[case::small(2_000, 3)]
#[case::mid(20_000, 1)]
fn the_tree_holds_what_is_promised(#[case] nfiles: u64, #[case] seed: u64) {
    let t = Tree::new(nfiles, seed);
    let s = &t.summary;
    let root = &t.root;

    // The unreadable directory, checked before anything opens it up.
    let unreadable = &s.unreadable_dir;
    assert!(unreadable.starts_with(root));
    let mode = fs::symlink_metadata(unreadable).unwrap().mode();
    assert_eq!(mode & 0o777, 0, "{} is mode 000", unreadable.display());
    if !is_root() {
        assert!(fs::read_dir(unreadable).is_err());
    }
    // The manifest beside the tree says the same as the returned summary.
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(root.with_extension("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest, serde_json::to_value(s).unwrap());

    make_removable(root);
    let entries = walk(root);
    let files: Vec<&Entry> = entries.iter().filter(|e| e.meta.is_file()).collect();
    let dirs: Vec<&Entry> = entries.iter().filter(|e| e.meta.is_dir()).collect();
    let links: Vec<&Entry> = entries.iter().filter(|e| e.meta.is_symlink()).collect();
    assert_eq!(entries.len(), files.len() + dirs.len() + links.len());

    // Exactly `nfiles` regular-file inodes; the rest of the names are links.
    let mut names_of: BTreeMap<u64, Vec<&[u8]>> = BTreeMap::new();
    for f in &files {
        names_of.entry(f.meta.ino()).or_default().push(&f.rel);
    }
    assert_eq!(names_of.len() as u64, nfiles);
    assert_eq!(s.regular_files, nfiles);
    let extra_names = files.len() - names_of.len();
    assert_eq!(extra_names as u64, s.hardlinks_extra_names);
    assert!(
        extra_names as u64 >= (nfiles / 200).max(10),
        "{extra_names} extra names"
    );
    let parent = |p: &[u8]| p[..p.iter().rposition(|&c| c == b'/').unwrap_or(0)].to_vec();
    let spans_dirs = names_of
        .values()
        .filter(|names| {
            names
                .iter()
                .map(|n| parent(n))
                .collect::<BTreeSet<_>>()
                .len()
                > 1
        })
        .count();
    assert!(spans_dirs > 0, "some hard links cross directories");
    for f in &files {
        assert_eq!(f.meta.nlink(), names_of[&f.meta.ino()].len() as u64);
    }

    // Sizes: about 8% empty; the large ones sparse, some with four names.
    let inodes: BTreeMap<u64, &fs::Metadata> =
        files.iter().map(|f| (f.meta.ino(), &f.meta)).collect();
    let empty = inodes.values().filter(|m| m.len() == 0).count() as f64 / nfiles as f64;
    assert!(
        (0.05..0.11).contains(&empty),
        "{:.1}% empty files",
        empty * 100.0
    );
    let sparse: Vec<_> = inodes
        .values()
        .filter(|m| m.len() >= SPARSE_THRESHOLD)
        .collect();
    assert_eq!(sparse.len() as u64, s.sparse_files);
    assert!(!sparse.is_empty());
    for m in &sparse {
        assert!(
            m.blocks() * 512 < m.len() / 2,
            "sparse: {} blocks for {} bytes",
            m.blocks(),
            m.len()
        );
    }
    assert!(
        sparse.iter().any(|m| m.nlink() >= 4),
        "a big file with several names"
    );
    let apparent: u64 = inodes.values().map(|m| m.len()).sum();
    assert_eq!(apparent, s.apparent_bytes_unique_inodes);

    // Directories: the count, the depth, a wide one, empty ones.
    assert_eq!(dirs.len() as u64 + 1, s.dirs);
    assert_eq!(entries.len() as u64, s.entries);
    let depth = |e: &&Entry| e.rel.iter().filter(|&&c| c == b'/').count() as u32 + 1;
    assert_eq!(dirs.iter().map(depth).max(), Some(s.max_depth));
    assert!(s.max_depth >= 18, "deep chains: depth {}", s.max_depth);
    let mut direct_files: HashMap<Vec<u8>, usize> = HashMap::new();
    for f in &files {
        *direct_files.entry(parent(&f.rel)).or_default() += 1;
    }
    let widest = direct_files.values().max().copied().unwrap_or(0);
    assert!(
        widest as u64 >= (nfiles / 10).min(10_000),
        "widest has {widest}"
    );
    let is_empty = |d: &&&Entry| {
        fs::read_dir(root.join(std::ffi::OsStr::from_bytes(&d.rel)))
            .unwrap()
            .next()
            .is_none()
    };
    assert!(dirs.iter().filter(is_empty).count() as u64 >= s.empty_dirs);
    // Directories average about 14 files, as on real disks.
    let per_dir = nfiles as f64 / s.dirs as f64;
    assert!(
        (8.0..20.0).contains(&per_dir),
        "{per_dir:.1} files per directory"
    );

    // Names: non-UTF-8 (directories and files), hidden, odd.
    let name =
        |e: &Entry| e.rel[e.rel.iter().rposition(|&c| c == b'/').map_or(0, |i| i + 1)..].to_vec();
    let non_utf8: Vec<_> = entries
        .iter()
        .filter(|e| std::str::from_utf8(&name(e)).is_err())
        .collect();
    assert!(non_utf8.iter().any(|e| e.meta.is_dir()) && non_utf8.iter().any(|e| e.meta.is_file()));
    let first_names = non_utf8
        .iter()
        .filter(|e| !e.meta.is_file() || names_of[&e.meta.ino()][0] == e.rel.as_slice());
    assert_eq!(first_names.count() as u64, s.non_utf8_names);
    assert!(
        entries
            .iter()
            .any(|e| e.meta.is_dir() && name(e).starts_with(b"."))
    );
    assert!(
        entries
            .iter()
            .any(|e| e.meta.is_file() && name(e).starts_with(b"."))
    );
    let all_names: BTreeSet<Vec<u8>> = entries.iter().map(name).collect();
    for odd in [
        "-rf",
        "new\nline",
        "\u{202e}gnp.exe",
        "esc\x1b[31mred",
        "line\nbreak",
        "with spaces",
    ] {
        assert!(all_names.contains(odd.as_bytes()), "{odd:?} present");
    }
    assert!(all_names.iter().any(|n| n.len() == 255), "a 255-byte name");

    // Symlinks of every kind, none followed by the walk above.
    assert_eq!(links.len() as u64, s.symlinks);
    let (mut to_file, mut to_dir, mut dangling, mut looping) = (0, 0, 0, 0);
    for l in &links {
        let path = root.join(std::ffi::OsStr::from_bytes(&l.rel));
        match fs::metadata(&path) {
            Ok(m) if m.is_file() => to_file += 1,
            Ok(_) => to_dir += 1,
            Err(e) if e.raw_os_error() == Some(Errno::LOOP.raw_os_error()) => looping += 1,
            Err(_) => dangling += 1,
        }
    }
    assert!(
        to_file > 0 && to_dir > 0 && dangling > 0,
        "{to_file} {to_dir} {dangling}"
    );
    assert!(looping >= 2, "the two-link loop");
    let up = links
        .iter()
        .find(|l| name(l) == b"ancestor_loop")
        .expect("a link to an ancestor");
    let up_path = root.join(std::ffi::OsStr::from_bytes(&up.rel));
    let target = fs::canonicalize(&up_path).unwrap();
    assert!(up_path.parent().unwrap().starts_with(&target) && target.starts_with(root));
}

/// The oracle every walker is compared with agrees with GNU `du -B1` on a
/// generated tree, except where hard links make `du`'s answer depend on
/// the order it meets them (the oracle's `order_dependent`).
#[test]
fn the_oracle_agrees_with_du_on_a_generated_tree() {
    let t = Tree::new(6_000, 4);
    let want = oracle::compute(&t.root);
    assert_eq!(want.dirs.len() as u64, t.summary.dirs);
    for apparent in [false, true] {
        let du = oracle::du(&t.root, apparent, &[]);
        let ours: BTreeMap<&Vec<u8>, u64> = want
            .dirs
            .iter()
            .filter(|(k, _)| !want.order_dependent.contains(*k))
            .map(|(k, e)| {
                (
                    k,
                    if apparent {
                        e.total_apparent
                    } else {
                        e.total_bytes
                    },
                )
            })
            .collect();
        let theirs: BTreeMap<&Vec<u8>, u64> = du
            .iter()
            .filter(|(k, _)| !want.order_dependent.contains(*k))
            .map(|(k, v)| (k, *v))
            .collect();
        assert!(
            ours.len() * 2 > want.dirs.len(),
            "compared {} of {}",
            ours.len(),
            want.dirs.len()
        );
        assert_eq!(ours, theirs, "apparent: {apparent}");
        // The root holds every inode once, whatever the order.
        let root = oracle::key(&t.root);
        let total = if apparent {
            want.dirs[&root].total_apparent
        } else {
            want.dirs[&root].total_bytes
        };
        assert_eq!(du[&root], total);
    }
}

#[test]
fn bad_arguments_are_errors_not_panics() {
    let (_tmp, dir) = tempdir();
    let err = generate(&dir.join("small"), 50, 1).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("too few"), "{err}");
    fs::write(dir.join("busy"), "x").unwrap();
    let err = generate(&dir, 2_000, 1).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
}

#[test]
fn a_trailing_slash_names_the_same_directory() {
    let (_tmp, dir) = tempdir();
    let mut out = dir.join("tree").into_os_string();
    out.push("/");
    let s = generate(Path::new(&out), 500, 2).unwrap();
    assert_eq!(s.out, dir.join("tree"));
    assert!(dir.join("tree.manifest.json").is_file());
    assert!(!dir.join("tree/.manifest.json").exists());
    assert_eq!(s.regular_files, 500);
    make_removable(&s.out);
}
