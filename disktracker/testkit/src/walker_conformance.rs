//! Conformance suite for [`Walker`] implementations, and the helpers the
//! walker crates' own tests share.
//!
//! Every check is a plain function taking the walker's registration
//! ([`WalkerPlugin`]); it builds real trees in its own temporary directory
//! (removed when the check ends, passed or failed), walks them with the
//! walker, aggregates with the engine and compares with the independent
//! [`oracle`] and with GNU `du`. [`CHECKS`] lists them all and
//! `tests/walkers.rs` runs every check against every registered walker;
//! [`ROOT_CHECKS`] need root (they mount file systems) and run in an ignored
//! test.
//!
//! The duties, beyond the [`Walker`] trait's documentation:
//!
//! * totals, counts and errors equal the oracle's for every directory, on
//!   handmade trees of edge cases (block-boundary sizes, sparse files,
//!   symlinks of every kind, FIFOs, non-UTF-8 names, hard links within and
//!   across directories, `a-b` sorting before `a/`) and on generated trees;
//! * 1, 2 or 8 threads give identical records, identity, mtime and
//!   fingerprint included, and those equal the oracle's;
//! * excluded entries (by name or by path) are skipped entirely;
//! * a cancelled walk returns [`ErrorKind::Cancelled`], early;
//! * unreadable directories keep their own inode and count one error each;
//!   entries that vanish mid-walk count an error and never abort the walk;
//! * a tree deeper than `PATH_MAX` (4096 bytes) is walked exactly or refused
//!   with [`ErrorKind::Plugin`] and a hint — never a partial answer;
//! * with `one_file_system`, other devices are skipped as `du -x` does.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fmt::Debug;
use std::fs;
use std::io::Write as _;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use disktracker::path::{escape_bytes, escape_path, is_within};
use disktracker::registry::{Plugin as _, WalkerPlugin};
use disktracker::{DirStats, ErrorKind, WalkContext, WalkOptions, Walker, registry};
use disktracker_engine::ScanTree;
use rustix::fs::{AtFlags, Dir, Mode, OFlags, fstat, mkdirat, openat, statat, unlinkat};

use crate::fixtures::{gen_tree, handmade_tree, handmade_walk_tree, make_removable, tempdir};
use crate::oracle::{self, Expected, Identity, Options, Oracle, key};

/// Every check, by name.
pub const CHECKS: &[crate::Check<WalkerPlugin>] = &[
    (
        "handmade_tree_matches_oracle_and_du",
        handmade_tree_matches_oracle_and_du,
    ),
    (
        "edge_case_tree_matches_oracle_and_du",
        edge_case_tree_matches_oracle_and_du,
    ),
    (
        "cross_directory_hard_links_go_to_the_first_path",
        cross_directory_hard_links_go_to_the_first_path,
    ),
    (
        "generated_tree_matches_oracle_and_du",
        generated_tree_matches_oracle_and_du,
    ),
    (
        "identical_records_for_any_thread_count",
        identical_records_for_any_thread_count,
    ),
    (
        "non_utf8_names_are_kept_as_bytes",
        non_utf8_names_are_kept_as_bytes,
    ),
    (
        "excluded_entries_are_skipped_entirely",
        excluded_entries_are_skipped_entirely,
    ),
    (
        "a_cancelled_token_returns_cancelled",
        a_cancelled_token_returns_cancelled,
    ),
    ("cancelling_mid_walk_stops_it", cancelling_mid_walk_stops_it),
    (
        "progress_counts_every_directory",
        progress_counts_every_directory,
    ),
    (
        "unreadable_directories_are_counted_and_reported",
        unreadable_directories_are_counted_and_reported,
    ),
    (
        "entries_vanishing_mid_walk_are_counted_not_fatal",
        entries_vanishing_mid_walk_are_counted_not_fatal,
    ),
    ("a_symlinked_root_is_followed", a_symlinked_root_is_followed),
    (
        "before_dir_runs_before_each_directory_is_read",
        before_dir_runs_before_each_directory_is_read,
    ),
    (
        "a_tree_deeper_than_path_max_is_exact_or_refused",
        a_tree_deeper_than_path_max_is_exact_or_refused,
    ),
];

/// Checks that need root (to mount file systems), by name.
pub const ROOT_CHECKS: &[crate::Check<WalkerPlugin>] = &[(
    "one_file_system_skips_other_devices",
    one_file_system_skips_other_devices,
)];

/// Runs every check of [`CHECKS`] against `plugin` (see [`crate::run_checks`]).
pub fn run_all(plugin: &'static WalkerPlugin) {
    crate::run_checks(plugin, CHECKS);
}

/// Runs every check of [`ROOT_CHECKS`] against `plugin`; panics unless root.
pub fn run_root_checks(plugin: &'static WalkerPlugin) {
    assert!(is_root(), "these checks need root: they mount tmpfs");
    crate::run_checks(plugin, ROOT_CHECKS);
}

/// The registered walker called `name` (see [`crate::registered`]).
pub fn plugin(name: &str) -> &'static WalkerPlugin {
    crate::registered(registry::walkers(), name)
}

/// Creates the registered walker `name`; panics if it is not linked in.
pub fn walker(name: &str) -> Box<dyn Walker> {
    create(plugin(name))
}

fn create(plugin: &WalkerPlugin) -> Box<dyn Walker> {
    (plugin.create)(&plugin.default_settings().expect("valid default settings"))
        .expect("the walker is created")
}

/// Walks `root` with `walker` on `threads` threads, the other options as
/// `tweak` sets them, and aggregates. Panics if the walk or the aggregation
/// fails: these are tests.
pub fn scan(
    walker: &dyn Walker,
    root: &Path,
    threads: usize,
    tweak: impl FnOnce(&mut WalkOptions),
) -> ScanTree {
    let mut opts = WalkOptions::with_threads(threads);
    tweak(&mut opts);
    let out = walker
        .walk(root, &opts, &WalkContext::default())
        .expect("walk succeeds");
    ScanTree::from_walk(out).expect("aggregation succeeds")
}

/// Every directory's numbers in the oracle's shape, by absolute path.
pub fn totals(tree: &ScanTree) -> BTreeMap<Vec<u8>, Expected> {
    (0..tree.len() as u32)
        .map(|id| (tree.path(id), Expected::from(tree.stats(id))))
        .collect()
}

/// Every directory's identity and fingerprint in the oracle's shape, by path.
pub fn identities(tree: &ScanTree) -> BTreeMap<Vec<u8>, Identity> {
    (0..tree.len() as u32)
        .map(|id| (tree.path(id), Identity::from(tree.stats(id))))
        .collect()
}

/// Every directory's full record (identity, mtime, fingerprint too), by path.
pub fn records(tree: &ScanTree) -> BTreeMap<Vec<u8>, DirStats> {
    (0..tree.len() as u32)
        .map(|id| (tree.path(id), *tree.stats(id)))
        .collect()
}

/// Asserts two per-path maps are equal, naming the first differences
/// (a plain `assert_eq!` on thousands of directories is unreadable).
#[track_caller]
pub fn assert_same<T: PartialEq + Debug>(
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

/// Asserts that the set of directories and every directory's numbers
/// (errors included) equal the oracle's.
#[track_caller]
pub fn assert_matches_oracle(tree: &ScanTree, oracle: &Oracle) {
    assert_same("oracle", &totals(tree), &oracle.dirs);
}

/// Asserts that the walk's directories and recursive totals equal what
/// `du -B1` and `du -B1 --apparent-size` (with `extra` arguments, such as
/// `-x`) print, leaving out the directories in `except` on both sides (pass
/// an oracle's `order_dependent`, where `du` disagrees with the first-path
/// rule by design). Returns how many directories were compared.
#[track_caller]
pub fn assert_matches_du(
    tree: &ScanTree,
    root: &Path,
    extra: &[&str],
    except: &BTreeSet<Vec<u8>>,
) -> usize {
    let got = totals(tree);
    let mut compared = 0;
    for apparent in [false, true] {
        let got: BTreeMap<_, _> = got
            .iter()
            .filter(|(k, _)| !except.contains(*k))
            .map(|(k, e)| {
                let total = if apparent {
                    e.total_apparent
                } else {
                    e.total_bytes
                };
                (k.clone(), total)
            })
            .collect();
        let mut want = oracle::du(root, apparent, extra);
        want.retain(|k, _| !except.contains(k));
        let what = if apparent {
            "du -B1 --apparent-size"
        } else {
            "du -B1"
        };
        assert_same(what, &got, &want);
        compared = got.len();
    }
    compared
}

/// A fixture tree in its own temporary directory, removed on drop even when
/// it holds unreadable directories (generated trees do).
pub struct TempTree {
    /// The tree's root (absolute, resolved); not yet created.
    pub root: PathBuf,
    dir: tempfile::TempDir,
}

impl TempTree {
    /// An empty temporary directory; the tree goes in `root`, below it.
    pub fn new() -> Self {
        let (dir, base) = tempdir();
        TempTree {
            root: base.join("tree"),
            dir,
        }
    }

    /// The temporary directory holding `root`.
    pub fn base(&self) -> &Path {
        self.dir.path()
    }

    /// With `build` run on the (created) root.
    pub fn with(build: impl FnOnce(&Path) -> std::io::Result<()>) -> Self {
        let t = TempTree::new();
        build(&t.root).expect("the fixture tree is built");
        t
    }
}

impl Default for TempTree {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TempTree {
    fn drop(&mut self) {
        make_removable(self.dir.path());
    }
}

fn handmade(cross_dir_links: bool) -> TempTree {
    TempTree::with(|root| {
        fs::create_dir(root)?;
        handmade_walk_tree(root, cross_dir_links)
    })
}

fn generated(nfiles: u64, seed: u64) -> TempTree {
    TempTree::with(|root| gen_tree(root, nfiles, seed))
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn handmade_tree_matches_oracle_and_du(plugin: &'static WalkerPlugin) {
    let t = handmade(false);
    let root = &t.root;
    let want = oracle::compute(root);
    for threads in [1, 2, 8] {
        let tree = scan(&*create(plugin), root, threads, |_| {});
        assert_matches_oracle(&tree, &want);
        assert_matches_du(&tree, root, &[], &BTreeSet::new());
        assert_eq!(tree.error_count(), 0, "{:?}", tree.issues());
        // Spot checks that keep the oracle honest.
        let got = totals(&tree);
        assert_eq!(got[&key(&root.join("wide"))].direct_files, 3000);
        assert_eq!(got[&key(&root.join("links"))].direct_files, 6);
        assert_eq!(got[&key(&root.join("fifo"))].direct_files, 1);
        assert_eq!(got[&key(&root.join("hl"))].direct_files, 1);
        let deepest = (0..tree.len() as u32).map(|id| tree.depth(id)).max();
        assert_eq!(deepest, Some(41));
        let root_stats = tree.stats(0);
        assert!(
            root_stats.direct_apparent > root_stats.direct_bytes + (1 << 30),
            "sparse files: apparent size only"
        );
    }
}

fn edge_case_tree_matches_oracle_and_du(plugin: &'static WalkerPlugin) {
    let t = TempTree::with(handmade_tree);
    let root = &t.root;
    let want = oracle::compute(root);
    let tree = scan(&*create(plugin), root, 2, |_| {});
    assert_matches_oracle(&tree, &want);
    assert_matches_du(&tree, root, &[], &want.order_dependent);
    // Computed from the fixture's known layout, not by the oracle: h1
    // (70,000 bytes) has links z/h1, a/h1-link and a-b/h1-link2, and
    // "a-b/h1-link2" sorts first because '-' (0x2d) < '/' (0x2f).
    let got = totals(&tree);
    let dir = |p: &str| got[&key(&root.join(p))];
    let own = |p: &str| fs::symlink_metadata(root.join(p)).unwrap().size();
    let h1 = own("z/h1");
    assert_eq!(dir("a-b").direct_apparent, own("a-b") + h1);
    assert_eq!(dir("a-b").direct_files, 1);
    assert_eq!(dir("z").direct_apparent, own("z"));
    assert_eq!(dir("z").direct_files, 0);
}

fn cross_directory_hard_links_go_to_the_first_path(plugin: &'static WalkerPlugin) {
    let t = handmade(true);
    let root = &t.root;
    let want = oracle::compute(root);
    for threads in [1, 8] {
        let tree = scan(&*create(plugin), root, threads, |_| {});
        let got = totals(&tree);
        assert_same("oracle", &got, &want.dirs);
        // Which directory holds a link does not change the root's totals.
        let du_root = |apparent| oracle::du(root, apparent, &["-s"])[&key(root)];
        assert_eq!(got[&key(root)].total_bytes, du_root(false));
        assert_eq!(got[&key(root)].total_apparent, du_root(true));
        // The first path bytewise: xa/sub/link, not xb/orig.
        assert_eq!(got[&key(&root.join("xa/sub"))].direct_files, 1);
        assert_eq!(got[&key(&root.join("xb"))].direct_files, 0);
    }
}

fn generated_tree_matches_oracle_and_du(plugin: &'static WalkerPlugin) {
    let t = generated(20_000, 1);
    let root = &t.root;
    let want = oracle::compute(root);
    let tree = scan(&*create(plugin), root, 2, |_| {});
    assert_matches_oracle(&tree, &want);
    let compared = assert_matches_du(&tree, root, &[], &want.order_dependent);
    // The comparison with du must cover a good part of the tree to mean
    // anything; generated trees scatter hard links, so the ancestors of
    // links that cross them are left out.
    assert!(
        compared * 2 >= tree.len(),
        "du compared only {compared} of {} dirs",
        tree.len()
    );
    assert!(tree.len() > 500, "a real tree: {} directories", tree.len());
}

/// Same input, same records — identity, mtime, fingerprint and all — for
/// any number of threads, and the identities and fingerprints the oracle
/// computes.
fn identical_records_for_any_thread_count(plugin: &'static WalkerPlugin) {
    for t in [handmade(true), generated(3000, 11)] {
        let root = &t.root;
        let want = oracle::compute(root);
        let reference = records(&scan(&*create(plugin), root, 1, |_| {}));
        assert!(reference.values().any(|s| s.fingerprint != 0));
        for threads in [1, 2, 8] {
            let tree = scan(&*create(plugin), root, threads, |_| {});
            assert_same(
                &format!("{threads} threads against 1"),
                &records(&tree),
                &reference,
            );
            assert_same(
                "identities and fingerprints against the oracle",
                &identities(&tree),
                &want.identities,
            );
        }
    }
}

fn non_utf8_names_are_kept_as_bytes(plugin: &'static WalkerPlugin) {
    let t = handmade(false);
    let tree = scan(&*create(plugin), &t.root, 2, |_| {});
    let got = totals(&tree);
    let mut odd = key(&t.root);
    odd.extend_from_slice(b"/dir\xff\xfe");
    let mut sub = odd.clone();
    sub.extend_from_slice(b"/\x80sub");
    assert_eq!(got[&odd].direct_files, 1, "dir\\xff\\xfe holds `inside`");
    assert_eq!(got[&odd].child_count, 1);
    assert_eq!(got[&sub].direct_files, 1, "\\x80sub holds x\\xc3");
    let own = fs::symlink_metadata(OsStr::from_bytes(&sub)).expect("\\x80sub exists");
    assert_eq!(got[&sub].direct_apparent, own.size() + 7000);
}

fn excluded_entries_are_skipped_entirely(plugin: &'static WalkerPlugin) {
    let t = handmade(false);
    let root = &t.root;
    for d in [
        "build/tmp/x",
        "other/build/tmp",
        "src/node_modules/pkg",
        "node_modules",
    ] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    for f in [
        "a.o",
        "a/b/c/z.o",
        "build/tmp/x/big",
        "other/build/tmp/kept",
        "src/node_modules/pkg/f",
        "src/main.rs",
    ] {
        fs::write(root.join(f), vec![1u8; 5000]).unwrap();
    }
    let patterns = ["*.o", "node_modules", "build/tmp", "/deep/d0/d1/**/d5"];
    let skip = |rel: &[u8]| {
        let name = rel.rsplit(|&c| c == b'/').next().unwrap_or(rel);
        name.ends_with(b".o")
            || name == b"node_modules"
            || rel == b"build/tmp"
            || rel == b"deep/d0/d1/d2/d3/d4/d5"
    };
    let want = oracle::compute_with(root, &Options::skipping(&skip));
    for threads in [1, 4] {
        let tree = scan(&*create(plugin), root, threads, |o| {
            o.exclude = patterns
                .iter()
                .map(std::string::ToString::to_string)
                .collect();
        });
        let got = totals(&tree);
        assert_same("oracle with excludes", &got, &want.dirs);
        assert_same(
            "fingerprints with excludes",
            &identities(&tree),
            &want.identities,
        );
        assert!(!got.contains_key(&key(&root.join("build/tmp"))));
        assert!(got.contains_key(&key(&root.join("other/build/tmp"))));
        assert!(got.contains_key(&key(&root.join("deep/d0/d1/d2/d3/d4"))));
        assert!(!got.contains_key(&key(&root.join("deep/d0/d1/d2/d3/d4/d5"))));
        assert_eq!(got[&key(&root.join("src"))].child_count, 0);
    }
}

fn a_cancelled_token_returns_cancelled(plugin: &'static WalkerPlugin) {
    let t = handmade(false);
    let ctx = WalkContext::default();
    ctx.cancel.cancel();
    let err = create(plugin)
        .walk(&t.root, &WalkOptions::default(), &ctx)
        .expect_err("a cancelled walk fails");
    assert_eq!(err.kind(), ErrorKind::Cancelled);
}

fn cancelling_mid_walk_stops_it(plugin: &'static WalkerPlugin) {
    // 10,000 directories: far more than the canceller needs to react.
    let t = TempTree::with(|root| {
        for i in 0..100 {
            for j in 0..100 {
                fs::create_dir_all(root.join(format!("{i}/{j}")))?;
            }
        }
        Ok(())
    });
    for threads in [1, 3] {
        let ctx = WalkContext::default();
        let opts = WalkOptions::with_threads(threads);
        let res = std::thread::scope(|s| {
            s.spawn(|| {
                while ctx.progress.dirs.load(Ordering::Relaxed) == 0 {
                    std::thread::yield_now();
                }
                ctx.cancel.cancel();
            });
            create(plugin).walk(&t.root, &opts, &ctx)
        });
        let err = res.expect_err("the walk was cancelled");
        assert_eq!(err.kind(), ErrorKind::Cancelled, "{threads} threads");
        assert!(ctx.progress.dirs.load(Ordering::Relaxed) < 10_000);
    }
}

/// A walker that says it calls [`WalkContext::before_dir`] calls it once
/// for every directory, before reading it: a file the hook writes into the
/// directory is counted by the walk (so the totals equal the oracle's,
/// computed afterwards), and the hooked paths are exactly the directories.
fn before_dir_runs_before_each_directory_is_read(plugin: &'static WalkerPlugin) {
    let walker = create(plugin);
    if !walker.calls_before_dir() {
        return;
    }
    let t = handmade(true);
    let hooked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Vec<u8>>::new()));
    let seen = std::sync::Arc::clone(&hooked);
    let wrong_fd = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Vec<u8>>::new()));
    let wrong = std::sync::Arc::clone(&wrong_fd);
    let ctx = WalkContext {
        before_dir: Some(disktracker::DirHook::with_fd(move |dir, fd| {
            // Unwritable directories (none in this tree) would only fail here.
            let _ = fs::write(dir.join("written-by-the-hook"), [7u8; 5000]);
            // A descriptor given with the path is that directory, open.
            let same = fd.is_none_or(|fd| {
                let open = rustix::fs::fstat(fd).map(|st| (st.st_dev, st.st_ino));
                let named = rustix::fs::stat(dir).map(|st| (st.st_dev, st.st_ino));
                open.is_ok() && open == named
            });
            if !same {
                wrong.lock().expect("wrong list").push(key(dir));
            }
            seen.lock().expect("hook list").push(key(dir));
        })),
        ..WalkContext::default()
    };
    let out = walker
        .walk(&t.root, &WalkOptions::with_threads(2), &ctx)
        .expect("walk succeeds");
    let tree = ScanTree::from_walk(out).expect("aggregation succeeds");
    assert_matches_oracle(&tree, &oracle::compute(&t.root));
    let mut hooked = hooked.lock().expect("hook list").clone();
    hooked.sort();
    let mut dirs: Vec<Vec<u8>> = totals(&tree).into_keys().collect();
    dirs.sort();
    assert_eq!(hooked, dirs, "the hook ran once per directory");
    let wrong_fd = wrong_fd.lock().expect("wrong list").clone();
    assert!(
        wrong_fd.is_empty(),
        "the hook was given a descriptor of another file with {wrong_fd:?}"
    );
}

fn progress_counts_every_directory(plugin: &'static WalkerPlugin) {
    let t = handmade(true);
    let ctx = WalkContext::default();
    let out = create(plugin)
        .walk(&t.root, &WalkOptions::with_threads(2), &ctx)
        .expect("walk succeeds");
    let dirs: usize = out.arenas.iter().map(disktracker::DirArena::len).sum();
    assert_eq!(ctx.progress.dirs.load(Ordering::Relaxed), dirs as u64);
    let entries = ctx.progress.entries.load(Ordering::Relaxed);
    assert!(entries >= 3000 + dirs as u64 - 1, "{entries} entries");
}

/// While alive, this thread — and the threads it starts — runs as user and
/// group `nobody` without supplementary groups (credentials are per thread
/// on Linux), so that mode bits apply even when the tests run as root.
/// Restores the thread's credentials on drop, also when a check panics.
struct AsNobody {
    egid: rustix::process::Gid,
    groups: Vec<rustix::process::Gid>,
}

impl AsNobody {
    fn new() -> Self {
        use rustix::process::{Gid, Uid, getegid, getgroups};
        use rustix::thread::{set_thread_groups, set_thread_res_gid, set_thread_res_uid};
        let saved = AsNobody {
            egid: getegid(),
            groups: getgroups().expect("getgroups"),
        };
        // Raw per-thread syscalls: the rest of the process (other tests
        // running beside) keeps its credentials.
        set_thread_groups(&[]).expect("drop supplementary groups");
        let nobody_gid = Gid::from_raw(65534);
        set_thread_res_gid(None, nobody_gid, None).expect("effective gid nobody");
        let nobody = Uid::from_raw(65534);
        set_thread_res_uid(None, nobody, None).expect("effective uid nobody");
        saved
    }
}

impl Drop for AsNobody {
    fn drop(&mut self) {
        use rustix::process::Uid;
        use rustix::thread::{set_thread_groups, set_thread_res_gid, set_thread_res_uid};
        // The saved uid is still root: taking it back restores the
        // capabilities needed for the rest.
        let restored = set_thread_res_uid(None, Uid::ROOT, None)
            .and_then(|()| set_thread_res_gid(None, self.egid, None))
            .and_then(|()| set_thread_groups(&self.groups));
        if let Err(e) = restored
            && !std::thread::panicking()
        {
            panic!("cannot restore this thread's credentials: {e}");
        }
    }
}

/// Unreadable directories keep their own inode, count one error each, and
/// the walk completes; same as `du`. Mode bits do not stop root, so as
/// root the walks run as `nobody` (see [`AsNobody`]).
fn unreadable_directories_are_counted_and_reported(plugin: &'static WalkerPlugin) {
    let t = TempTree::with(|root| {
        for d in ["ok", "locked/sub", "noexec/sub", "nolist"] {
            fs::create_dir_all(root.join(d))?;
        }
        for f in [
            "ok/f",
            "locked/f",
            "locked/sub/g",
            "noexec/f1",
            "noexec/f2",
            "nolist/f",
        ] {
            fs::write(root.join(f), vec![1u8; 3000])?;
        }
        Ok(())
    });
    let root = &t.root;
    // `nobody` must reach the tree.
    fs::set_permissions(t.base(), fs::Permissions::from_mode(0o755)).unwrap();
    for (d, mode) in [("locked", 0o000), ("noexec", 0o644), ("nolist", 0o311)] {
        fs::set_permissions(root.join(d), fs::Permissions::from_mode(mode)).unwrap();
    }
    let _nobody = is_root().then(AsNobody::new);
    let walker = create(plugin);
    let want = oracle::compute(root);
    for threads in [1, 4] {
        let tree = scan(&*walker, root, threads, |_| {});
        let got = totals(&tree);
        assert_same("oracle", &got, &want.dirs);
        assert_matches_du(&tree, root, &[], &BTreeSet::new());
        let errors = |d: &str| got[&key(&root.join(d))].errors;
        // Cannot open: one error each. Listable but not searchable: one per entry.
        assert_eq!(
            (errors("locked"), errors("nolist"), errors("noexec")),
            (1, 1, 3)
        );
        let mut issues: Vec<_> = tree
            .issues()
            .iter()
            .map(|i| (i.path.clone(), i.op))
            .collect();
        issues.sort();
        let want_issues: Vec<_> = [
            ("locked", "open directory"),
            ("noexec/f1", "stat"),
            ("noexec/f2", "stat"),
            ("noexec/sub", "stat"),
            ("nolist", "open directory"),
        ]
        .into_iter()
        .map(|(p, op)| (key(&root.join(p)), op))
        .collect();
        assert_eq!(issues, want_issues);
        assert!(
            tree.issues()
                .iter()
                .all(|i| i.message.contains("ermission denied")),
            "{:?}",
            tree.issues()
        );
        // An unreadable root: its own inode, one error, no panic.
        let locked = root.join("locked");
        let tree = scan(&*walker, &locked, threads, |_| {});
        assert_eq!((tree.len(), tree.error_count()), (1, 1));
        assert_matches_du(&tree, &locked, &[], &BTreeSet::new());
    }
}

/// Files and directories created and removed while walks run: the walk
/// completes, errors match issues, and the untouched part is exact.
fn entries_vanishing_mid_walk_are_counted_not_fatal(plugin: &'static WalkerPlugin) {
    let t = TempTree::with(|root| {
        let stable = root.join("stable");
        // Small, so that walks are quick and many of them race the churn.
        fs::create_dir_all(stable.join("a/b"))?;
        fs::write(stable.join("a/f"), [1u8; 5000])?;
        fs::write(stable.join("a/b/g"), [1u8; 50])?;
        fs::hard_link(stable.join("a/f"), stable.join("a/b/f2"))?;
        fs::create_dir(root.join("churn"))
    });
    let (stable, churn) = (t.root.join("stable"), t.root.join("churn"));
    let want_stable = oracle::compute(&stable).dirs;
    let stop = Arc::new(AtomicBool::new(false));
    let racer = {
        let (stop, churn) = (Arc::clone(&stop), churn.clone());
        std::thread::spawn(move || {
            let mut round = 0u64;
            while !stop.load(Ordering::Relaxed) {
                // Empty files: no data blocks to discard, so rounds are quick.
                for i in 0..5 {
                    let d = churn.join(format!("d{i}/sub"));
                    let _ = fs::create_dir_all(&d);
                    for f in 0..5 {
                        let _ = fs::File::create(d.join(format!("f{f}")));
                    }
                }
                for i in 0..20 {
                    let _ = fs::File::create(churn.join(format!("f{i}")));
                }
                for i in 0..5 {
                    let _ = fs::remove_dir_all(churn.join(format!("d{i}")));
                }
                for i in 0..20 {
                    let _ = fs::remove_file(churn.join(format!("f{i}")));
                }
                round += 1;
            }
            round
        })
    };
    let walker = create(plugin);
    let (mut issues_seen, mut walks) = (0, 0);
    let start = std::time::Instant::now();
    // Until enough races were seen, within a time limit: each walk must be
    // right whether or not it met a vanished entry.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        while walks < 10 || (issues_seen < 20 && start.elapsed().as_secs() < 3) {
            walks += 1;
            let tree = scan(&*walker, &t.root, 4, |_| {});
            check_consistent(&tree);
            let got: BTreeMap<_, _> = totals(&tree)
                .into_iter()
                .filter(|(k, _)| is_within(k, &key(&stable)))
                .collect();
            assert_same("the untouched subtree", &got, &want_stable);
            for i in tree.issues() {
                assert!(is_within(&i.path, &key(&churn)), "{i:?}");
            }
            issues_seen += tree.issues().len();
        }
    }));
    stop.store(true, Ordering::Relaxed);
    let rounds = racer.join().expect("the churn thread does not panic");
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
    eprintln!("{walks} walks, {rounds} churn rounds, {issues_seen} vanished entries seen");
}

/// Every directory's error count is the number of issues attributed to it,
/// and recursive totals add up.
pub fn check_consistent(tree: &ScanTree) {
    let mut per_dir = vec![0u64; tree.len()];
    for i in tree.issues() {
        per_dir[i.dir.index()] += 1;
    }
    let mut sums = vec![(0u64, 0u64, 0u64); tree.len()];
    for id in (0..tree.len() as u32).rev() {
        let s = tree.stats(id);
        assert_eq!(
            s.error_count,
            per_dir[id as usize],
            "{}",
            escape_bytes(&tree.path(id))
        );
        let (bytes, apparent, files) = sums[id as usize];
        assert_eq!(
            (s.total_bytes, s.total_apparent, s.file_count),
            (
                s.direct_bytes + bytes,
                s.direct_apparent + apparent,
                s.direct_files + files
            )
        );
        if id > 0 {
            let p = &mut sums[tree.parent(id) as usize];
            p.0 += s.total_bytes;
            p.1 += s.total_apparent;
            p.2 += s.file_count;
        }
    }
}

/// A root given through a symlink is followed (only the root): same totals
/// as the real directory, and the paths keep the name given.
fn a_symlinked_root_is_followed(plugin: &'static WalkerPlugin) {
    let t = TempTree::with(|dir| {
        fs::create_dir_all(dir.join("real/sub"))?;
        fs::write(dir.join("real/sub/f"), vec![1u8; 6000])?;
        std::os::unix::fs::symlink(dir.join("real"), dir.join("link"))
    });
    let walker = create(plugin);
    let via_link = scan(&*walker, &t.root.join("link"), 2, |_| {});
    let direct = scan(&*walker, &t.root.join("real"), 2, |_| {});
    assert_eq!(via_link.path(0), key(&t.root.join("link")));
    assert_eq!(via_link.stats(0), direct.stats(0));
    assert_eq!(via_link.len(), 2);
}

fn a_tree_deeper_than_path_max_is_exact_or_refused(plugin: &'static WalkerPlugin) {
    // Either outcome is checked inside; which one is the walker's choice.
    let _ = check_deep_tree(&*create(plugin));
}

/// Levels of the deep tree: with 2 bytes (`/d`) per level, its deepest
/// paths are about 1.5 times `PATH_MAX` (4096 bytes).
pub const DEEP_LEVELS: usize = 3000;

/// A chain of [`DEEP_LEVELS`] directories `d/d/d/…`, each holding a file
/// `f` (and the last also a symlink), built and removed relative to
/// directory fds: its paths are too long to use whole.
pub struct DeepTree {
    tree: TempTree,
}

fn open_dir(at: &OwnedFd, name: &str) -> std::io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    Ok(openat(at, name, flags, Mode::empty())?)
}

fn open_root(root: &Path) -> std::io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    Ok(openat(rustix::fs::CWD, root, flags, Mode::empty())?)
}

impl DeepTree {
    /// Builds the tree in a new temporary directory.
    pub fn new() -> std::io::Result<Self> {
        let tree = TempTree::new();
        fs::create_dir(&tree.root)?;
        let deep = DeepTree { tree };
        let mut fd = open_root(&deep.tree.root)?;
        for level in 0..DEEP_LEVELS {
            let file = openat(
                &fd,
                "f",
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o644),
            )?;
            fs::File::from(file).write_all(&vec![b'x'; (level % 9) * 1000])?;
            if level + 1 == DEEP_LEVELS {
                rustix::fs::symlinkat("f", &fd, "link")?;
            } else {
                mkdirat(&fd, "d", Mode::from_raw_mode(0o755))?;
                fd = open_dir(&fd, "d")?;
            }
        }
        Ok(deep)
    }

    /// The top of the chain.
    pub fn root(&self) -> &Path {
        &self.tree.root
    }

    /// What every directory's numbers must be, from a `stat` of each entry
    /// made relative to its directory and summed here.
    pub fn expected(&self) -> std::io::Result<BTreeMap<Vec<u8>, Expected>> {
        let nofollow = AtFlags::SYMLINK_NOFOLLOW;
        let bytes = |s: &rustix::fs::Stat| (s.st_blocks as u64 * 512, s.st_size as u64);
        let mut fd = open_root(self.root())?;
        let mut own = fstat(&fd)?;
        let mut direct = Vec::with_capacity(DEEP_LEVELS);
        for level in 0..DEEP_LEVELS {
            let mut e = Expected::default();
            let mut add = |s: &rustix::fs::Stat, file: bool| {
                let (b, a) = bytes(s);
                e.direct_bytes += b;
                e.direct_apparent += a;
                e.direct_files += u64::from(file);
            };
            add(&own, false);
            add(&statat(&fd, "f", nofollow)?, true);
            if level + 1 == DEEP_LEVELS {
                add(&statat(&fd, "link", nofollow)?, true);
            } else {
                e.child_count = 1;
                own = statat(&fd, "d", nofollow)?;
                fd = open_dir(&fd, "d")?;
            }
            direct.push(e);
        }
        let mut out = BTreeMap::new();
        let mut path = key(self.root());
        let (mut below_bytes, mut below_apparent, mut below_files) = (0, 0, 0);
        let mut paths = Vec::with_capacity(DEEP_LEVELS);
        for _ in 0..DEEP_LEVELS {
            paths.push(path.clone());
            path.extend_from_slice(b"/d");
        }
        for (e, path) in direct.iter().zip(paths).rev() {
            below_bytes += e.direct_bytes;
            below_apparent += e.direct_apparent;
            below_files += e.direct_files;
            let total = Expected {
                total_bytes: below_bytes,
                total_apparent: below_apparent,
                file_count: below_files,
                ..*e
            };
            out.insert(path, total);
        }
        Ok(out)
    }

    /// Removes the chain bottom-up through `..`, holding one fd at a time.
    fn remove(&self) -> std::io::Result<()> {
        let mut fd = open_root(self.root())?;
        let mut depth = 0;
        loop {
            match open_dir(&fd, "d") {
                Ok(child) => {
                    fd = child;
                    depth += 1;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(e) => return Err(e),
            }
        }
        loop {
            let names: Vec<Vec<u8>> = Dir::read_from(&fd)?
                .filter_map(|e| e.ok().map(|e| e.file_name().to_bytes().to_vec()))
                .filter(|n| n != b"." && n != b"..")
                .collect();
            for name in names {
                unlinkat(&fd, name.as_slice(), AtFlags::empty())?;
            }
            if depth == 0 {
                return Ok(());
            }
            let parent = open_dir(&fd, "..")?;
            unlinkat(&parent, "d", AtFlags::REMOVEDIR)?;
            fd = parent;
            depth -= 1;
        }
    }
}

impl Drop for DeepTree {
    fn drop(&mut self) {
        // std's recursive removal would hold one fd per level.
        if let Err(e) = self.remove()
            && !std::thread::panicking()
        {
            panic!(
                "cannot remove the deep tree under {}: {e}",
                escape_path(self.root())
            );
        }
    }
}

/// Walks a tree deeper than `PATH_MAX` with `walker`. A walk that succeeds
/// must be exact (checked here, panicking otherwise); a walk that fails
/// must be a clear refusal — [`ErrorKind::Plugin`], one line naming the
/// root, with a hint — and its error is returned.
pub fn check_deep_tree(walker: &dyn Walker) -> disktracker::Result<()> {
    let deep = DeepTree::new().expect("the deep tree is built");
    let root = deep.root().to_path_buf();
    let want = deep.expected().expect("the deep tree is stat'ed");
    assert_eq!(want.len(), DEEP_LEVELS);
    let longest = want.keys().map(Vec::len).max().unwrap_or(0);
    assert!(longest > 4096, "deeper than PATH_MAX: {longest} bytes");
    let walked = walker.walk(
        &root,
        &WalkOptions::with_threads(2),
        &WalkContext::default(),
    );
    let result = match walked {
        Ok(out) => {
            let tree = ScanTree::from_walk(out).expect("aggregation succeeds");
            assert_same("deep tree", &totals(&tree), &want);
            Ok(())
        }
        Err(e) => {
            let text = e.to_string();
            assert_eq!(
                e.kind(),
                ErrorKind::Plugin,
                "a refusal is a plugin error: {text}"
            );
            assert!(e.hint().is_some(), "a refusal says what to do: {text}");
            assert!(!text.contains('\n'), "one line: {text}");
            assert!(
                e.message().contains(&*escape_path(&root)),
                "a refusal names the root: {text}"
            );
            Err(e)
        }
    };
    drop(deep);
    assert!(!root.exists(), "the deep tree is removed");
    result
}

/// Unmounts on drop, so a failed assertion leaves no mount behind.
struct Mount(PathBuf);

impl Mount {
    fn new(args: &[&str], target: &Path) -> Mount {
        let status = Command::new("mount")
            .args(args)
            .arg(target)
            .status()
            .expect("mount(8) runs");
        assert!(status.success(), "mount {args:?} {target:?}: {status}");
        Mount(target.to_path_buf())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// `one_file_system` skips mount points and files from other devices
/// entirely, as `du -x` does.
fn one_file_system_skips_other_devices(plugin: &'static WalkerPlugin) {
    let t = TempTree::with(|root| {
        fs::create_dir_all(root.join("plain/mnt"))?;
        fs::write(root.join("plain/f"), vec![1u8; 5000])?;
        fs::write(root.join("bound"), b"placeholder")
    });
    let root = &t.root;
    let outside = t.base().join("outside");
    fs::create_dir(&outside).unwrap();
    let _mnt = Mount::new(&["-t", "tmpfs", "none"], &root.join("plain/mnt"));
    fs::create_dir_all(root.join("plain/mnt/sub")).unwrap();
    fs::write(root.join("plain/mnt/sub/big"), vec![1u8; 70_000]).unwrap();
    let _other = Mount::new(&["-t", "tmpfs", "none"], &outside);
    fs::write(outside.join("file"), vec![1u8; 9000]).unwrap();
    let bind_from = outside.join("file");
    let bind_from = bind_from.to_str().expect("a UTF-8 temporary path");
    let _bound = Mount::new(&["--bind", bind_from], &root.join("bound"));

    let walker = create(plugin);
    let all = scan(&*walker, root, 2, |_| {});
    assert_matches_oracle(&all, &oracle::compute(root));
    assert_matches_du(&all, root, &[], &BTreeSet::new());
    assert_eq!(
        all.len(),
        4,
        "root, plain, plain/mnt and plain/mnt/sub without -x"
    );

    let want = oracle::compute_with(
        root,
        &Options {
            one_file_system: true,
            ..Options::default()
        },
    );
    for threads in [1, 2] {
        let xdev = scan(&*walker, root, threads, |o| o.one_file_system = true);
        let got = totals(&xdev);
        assert_same("oracle with one_file_system", &got, &want.dirs);
        assert_same(
            "fingerprints with one_file_system",
            &identities(&xdev),
            &want.identities,
        );
        assert_matches_du(&xdev, root, &["-x"], &BTreeSet::new());
        assert!(!got.contains_key(&key(&root.join("plain/mnt"))));
        assert_eq!(got[&key(&root.join("plain"))].child_count, 0);
        let everything = totals(&all)[&key(root)].total_apparent;
        assert!(got[&key(root)].total_apparent < everything - 70_000 - 9000);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_temp_tree_with_unreadable_directories_is_removed() {
        let t = TempTree::with(|root| {
            fs::create_dir_all(root.join("locked/sub"))?;
            fs::write(root.join("locked/sub/f"), b"x")?;
            fs::set_permissions(root.join("locked/sub"), fs::Permissions::from_mode(0o000))?;
            fs::set_permissions(root.join("locked"), fs::Permissions::from_mode(0o000))
        });
        let base = t.base().to_path_buf();
        drop(t);
        assert!(!base.exists(), "{} is left behind", base.display());
    }
}
