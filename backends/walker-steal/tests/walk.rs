//! Both walkers against an independent oracle and GNU `du`, on real trees.
//!
//! The jwalk walker is linked here too, so its results can be compared with
//! the default walker's record by record. The oracle, fixtures and
//! comparisons come from `disktracker-testkit`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use disktracker::{ErrorKind, WalkContext, WalkOptions};
use disktracker_engine::ScanTree;
use disktracker_testkit::fixtures::{gen_tree, handmade_walk_tree, tempdir};
use disktracker_testkit::oracle::{self, Options, du, key};
use disktracker_testkit::walker_conformance::{
    assert_matches_du, assert_matches_oracle, assert_same, records, scan, totals, walker,
};
use rstest::rstest;

// Linked for their registrations.
use disktracker_walker_jwalk as _;
use disktracker_walker_steal as _;

const WALKERS: [&str; 2] = ["steal", "jwalk"];

fn is_root() -> bool {
    fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Reruns test `name` of this binary in a child process, started through
/// `launcher` (a command prefix such as `prlimit …`, or none) and prepared
/// by `prepare` (which sets the variable telling the test it is the child);
/// asserts the child passed.
fn rerun(name: &str, launcher: &[&str], prepare: impl FnOnce(&mut Command)) {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = match launcher.split_first() {
        Some((prog, args)) => {
            let mut cmd = Command::new(prog);
            cmd.args(args).arg(&exe);
            cmd
        }
        None => Command::new(&exe),
    };
    cmd.args([name, "--exact", "--nocapture", "--test-threads=1"]);
    prepare(&mut cmd);
    let status = cmd.status().unwrap();
    assert!(status.success(), "child run of {name} failed: {status}");
}

#[test]
fn registered_walkers_are_exactly_steal_and_jwalk() {
    assert_eq!(
        disktracker::registry::walkers().unwrap().names(),
        ["jwalk", "steal"]
    );
}

#[rstest]
fn handmade_tree_matches_oracle_and_du(
    #[values("steal", "jwalk")] name: &str,
    #[values(1, 2, 8)] threads: usize,
) {
    let (_t, root) = tempdir();
    handmade_walk_tree(&root, false).unwrap();
    let tree = scan(&*walker(name), &root, threads, |_| {});
    assert_matches_oracle(&tree, &oracle::compute(&root));
    assert_matches_du(&tree, &root, &[], &BTreeSet::new());
    assert_eq!(tree.error_count(), 0);
    // Spot checks that keep the oracle honest.
    let wide = tree
        .sorted_ids()
        .into_iter()
        .find(|&id| tree.path(id).ends_with(b"/wide"))
        .unwrap();
    assert_eq!(tree.stats(wide).direct_files, 3000);
    let deepest = (0..tree.len() as u32).map(|id| tree.depth(id)).max();
    assert_eq!(deepest, Some(41));
    let root_stats = tree.stats(0);
    assert!(
        root_stats.direct_apparent > root_stats.direct_bytes + (1 << 30),
        "sparse files: apparent size only"
    );
}

#[rstest]
fn cross_directory_hard_links_go_to_the_first_path(
    #[values("steal", "jwalk")] name: &str,
    #[values(1, 8)] threads: usize,
) {
    let (_t, root) = tempdir();
    handmade_walk_tree(&root, true).unwrap();
    let tree = scan(&*walker(name), &root, threads, |_| {});
    let got = totals(&tree);
    assert_same("oracle", &got, &oracle::compute(&root).dirs);
    // Which directory holds a link does not change the root's totals.
    let du_root = |apparent| du(&root, apparent, &["-s"])[&key(&root)];
    assert_eq!(got[&key(&root)].total_bytes, du_root(false));
    assert_eq!(got[&key(&root)].total_apparent, du_root(true));
    // The first path bytewise: xa/sub/link, not xb/orig.
    assert_eq!(got[&key(&root.join("xa/sub"))].direct_files, 1);
    assert_eq!(got[&key(&root.join("xb"))].direct_files, 0);
}

fn generated_tree(nfiles: u64, seed: u64) -> (tempfile::TempDir, PathBuf) {
    let (t, dir) = tempdir();
    let root = dir.join("tree");
    gen_tree(&root, nfiles, seed).expect("gen_tree.py");
    (t, root)
}

#[rstest]
fn generated_tree_matches_oracle(#[values("steal", "jwalk")] name: &str) {
    let (_t, root) = generated_tree(6000, 7);
    let tree = scan(&*walker(name), &root, 2, |_| {});
    let got = totals(&tree);
    assert_same("oracle", &got, &oracle::compute(&root).dirs);
    let du_root = |apparent| du(&root, apparent, &["-s"])[&key(&root)];
    assert_eq!(got[&key(&root)].total_bytes, du_root(false));
    assert_eq!(got[&key(&root)].total_apparent, du_root(true));
    assert!(tree.len() > 100, "a real tree: {} directories", tree.len());
}

/// Same input, same records — identity, mtime, fingerprint and all — for
/// both walkers and any number of threads.
#[rstest]
fn identical_records_for_any_walker_and_thread_count(
    #[values("handmade", "generated")] kind: &str,
) {
    let (_t, root) = if kind == "handmade" {
        let (t, root) = tempdir();
        handmade_walk_tree(&root, true).unwrap();
        (t, root)
    } else {
        generated_tree(3000, 11)
    };
    let reference = records(&scan(&*walker("steal"), &root, 1, |_| {}));
    assert!(reference.values().any(|s| s.fingerprint != 0));
    for name in WALKERS {
        for threads in [1, 2, 8] {
            let tree = scan(&*walker(name), &root, threads, |_| {});
            assert_same(
                &format!("{name} with {threads} threads"),
                &records(&tree),
                &reference,
            );
        }
    }
}

#[rstest]
fn excluded_entries_are_skipped_entirely(
    #[values("steal", "jwalk")] name: &str,
    #[values(1, 4)] threads: usize,
) {
    let (_t, root) = tempdir();
    handmade_walk_tree(&root, false).unwrap();
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
        let name = rel.rsplit(|&c| c == b'/').next().unwrap();
        name.ends_with(b".o")
            || name == b"node_modules"
            || rel == b"build/tmp"
            || rel == b"deep/d0/d1/d2/d3/d4/d5"
    };
    let tree = scan(&*walker(name), &root, threads, |o| {
        o.exclude = patterns.iter().map(|p| p.to_string()).collect();
    });
    let got = totals(&tree);
    let want = oracle::compute_with(&root, &Options::skipping(&skip)).dirs;
    assert_same("oracle with excludes", &got, &want);
    assert!(!got.contains_key(&key(&root.join("build/tmp"))));
    assert!(got.contains_key(&key(&root.join("other/build/tmp"))));
    assert!(got.contains_key(&key(&root.join("deep/d0/d1/d2/d3/d4"))));
    assert!(!got.contains_key(&key(&root.join("deep/d0/d1/d2/d3/d4/d5"))));
    assert_eq!(got[&key(&root.join("src"))].child_count, 0);
}

#[rstest]
fn a_cancelled_token_returns_cancelled(#[values("steal", "jwalk")] name: &str) {
    let (_t, root) = tempdir();
    fs::create_dir(root.join("d")).unwrap();
    let ctx = WalkContext::default();
    ctx.cancel.cancel();
    let err = walker(name)
        .walk(&root, &WalkOptions::default(), &ctx)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
}

#[test]
fn cancelling_mid_walk_stops_it() {
    let (_t, root) = tempdir();
    // 20,000 directories: far more than the canceller needs to react.
    for i in 0..200 {
        for j in 0..100 {
            fs::create_dir_all(root.join(format!("{i}/{j}"))).unwrap();
        }
    }
    for name in WALKERS {
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
                walker(name).walk(&root, &opts, &ctx)
            });
            assert_eq!(
                res.unwrap_err().kind(),
                ErrorKind::Cancelled,
                "{name} with {threads} threads"
            );
            assert!(ctx.progress.dirs.load(Ordering::Relaxed) < 20_000);
        }
    }
}

const UNREADABLE_VAR: &str = "DT_TEST_UNREADABLE_ROOT";

/// Unreadable directories keep their own inode, count one error each, and
/// the scan completes; same as `du`. Mode bits do not stop root, so as root
/// the test reruns itself as `nobody`.
#[test]
fn unreadable_directories_are_counted_and_reported() {
    if let Some(root) = std::env::var_os(UNREADABLE_VAR) {
        return check_unreadable(Path::new(&root));
    }
    let (_t, root) = tempdir();
    fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
    for d in ["ok", "locked/sub", "noexec/sub", "nolist"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    for f in [
        "ok/f",
        "locked/f",
        "locked/sub/g",
        "noexec/f1",
        "noexec/f2",
        "nolist/f",
    ] {
        fs::write(root.join(f), vec![1u8; 3000]).unwrap();
    }
    let modes = [("locked", 0o000), ("noexec", 0o644), ("nolist", 0o311)];
    for (d, mode) in modes {
        fs::set_permissions(root.join(d), fs::Permissions::from_mode(mode)).unwrap();
    }
    if is_root() {
        // Root reads everything: all counted, no errors.
        let tree = scan(&*walker("steal"), &root, 2, |_| {});
        assert_eq!(tree.error_count(), 0);
        assert_same(
            "oracle as root",
            &totals(&tree),
            &oracle::compute(&root).dirs,
        );
        rerun(
            "unreadable_directories_are_counted_and_reported",
            &[],
            |cmd| {
                cmd.env(UNREADABLE_VAR, &root).uid(65534).gid(65534);
            },
        );
    } else {
        check_unreadable(&root);
    }
    for (d, _) in modes {
        fs::set_permissions(root.join(d), fs::Permissions::from_mode(0o755)).unwrap();
    }
}

fn check_unreadable(root: &Path) {
    assert!(!is_root(), "must run unprivileged");
    for name in WALKERS {
        for threads in [1, 4] {
            let tree = scan(&*walker(name), root, threads, |_| {});
            let got = totals(&tree);
            assert_same("oracle", &got, &oracle::compute(root).dirs);
            assert_matches_du(&tree, root, &[], &BTreeSet::new());
            let errors = |d: &str| got[&key(&root.join(d))].errors;
            // Cannot open: one error each. Listable but not searchable: one per entry.
            assert_eq!(
                (errors("locked"), errors("nolist"), errors("noexec")),
                (1, 1, 3),
                "{name}"
            );
            let mut issues: Vec<_> = tree
                .issues()
                .iter()
                .map(|i| (i.path.clone(), i.op))
                .collect();
            issues.sort();
            let want: Vec<_> = [
                ("locked", "open directory"),
                ("noexec/f1", "stat"),
                ("noexec/f2", "stat"),
                ("noexec/sub", "stat"),
                ("nolist", "open directory"),
            ]
            .into_iter()
            .map(|(p, op)| (key(&root.join(p)), op))
            .collect();
            assert_eq!(issues, want, "{name}");
            assert!(
                tree.issues()
                    .iter()
                    .all(|i| i.message.contains("ermission denied"))
            );
            // An unreadable root: its own inode, one error, no panic.
            let locked = root.join("locked");
            let tree = scan(&*walker(name), &locked, threads, |_| {});
            assert_eq!((tree.len(), tree.error_count()), (1, 1), "{name}");
            assert_matches_du(&tree, &locked, &[], &BTreeSet::new());
        }
    }
}

const FD_LIMIT_VAR: &str = "DT_TEST_FD_LIMIT_ROOT";

/// Under a tiny fd limit, deep trees still walk completely (jobs fall back to
/// opening by path), and every directory fd is closed afterwards.
#[test]
fn low_fd_limit_walks_everything_and_leaks_nothing() {
    if let Some(root) = std::env::var_os(FD_LIMIT_VAR) {
        let root = Path::new(&root);
        let fds = || fs::read_dir("/proc/self/fd").unwrap().count();
        let before = fds();
        let want = oracle::compute(root).dirs;
        for threads in [1, 3] {
            let tree = scan(&*walker("steal"), root, threads, |_| {});
            assert_eq!(tree.error_count(), 0, "{:?}", tree.issues());
            assert_same("oracle under a low fd limit", &totals(&tree), &want);
        }
        assert_eq!(fds(), before, "directory fds leaked");
        return;
    }
    let (_t, root) = tempdir();
    // A comb 200 levels deep: three leaves beside the next level, so a
    // depth-first walk usually leaves a leaf pending, and the parent's fd
    // pinned, at each level: far more than the 20 fds the budget allows.
    let mut dir = root.clone();
    for level in 0..200 {
        for k in 0..3 {
            fs::create_dir_all(dir.join(format!("leaf{k}"))).unwrap();
            fs::write(dir.join(format!("leaf{k}/f")), vec![0u8; level]).unwrap();
        }
        dir.push("next");
    }
    fs::create_dir_all(&dir).unwrap();
    // The child runs with a soft and hard limit of 40 fds.
    rerun(
        "low_fd_limit_walks_everything_and_leaks_nothing",
        &["prlimit", "--nofile=40:40"],
        |cmd| {
            cmd.env(FD_LIMIT_VAR, &root);
        },
    );
}

/// Files and directories created and removed while walks run: the walk
/// completes, errors match issues, and the untouched part is exact.
#[rstest]
fn entries_vanishing_mid_scan_are_counted_not_fatal(#[values("steal", "jwalk")] name: &str) {
    let (_t, root) = tempdir();
    let stable = root.join("stable");
    // Small, so that walks are quick and many of them race the churn.
    fs::create_dir_all(stable.join("a/b")).unwrap();
    fs::write(stable.join("a/f"), [1u8; 5000]).unwrap();
    fs::write(stable.join("a/b/g"), [1u8; 50]).unwrap();
    fs::hard_link(stable.join("a/f"), stable.join("a/b/f2")).unwrap();
    let churn = root.join("churn");
    fs::create_dir(&churn).unwrap();
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
    let (mut issues_seen, mut walks) = (0, 0);
    let start = std::time::Instant::now();
    // Until enough races were seen, within a time limit: each walk must be
    // right whether or not it met a vanished entry.
    while walks < 10 || (issues_seen < 20 && start.elapsed().as_secs() < 3) {
        walks += 1;
        let tree = scan(&*walker(name), &root, 4, |_| {});
        check_consistent(&tree);
        let got: BTreeMap<_, _> = totals(&tree)
            .into_iter()
            .filter(|(k, _)| disktracker::path::is_within(k, &key(&stable)))
            .collect();
        assert_same("the untouched subtree", &got, &want_stable);
        for i in tree.issues() {
            assert!(disktracker::path::is_within(&i.path, &key(&churn)), "{i:?}");
        }
        issues_seen += tree.issues().len();
    }
    stop.store(true, Ordering::Relaxed);
    let rounds = racer.join().unwrap();
    eprintln!("{name}: {walks} walks, {rounds} churn rounds, {issues_seen} vanished entries seen");
}

/// Every directory's error count is the number of issues attributed to it,
/// and recursive totals add up.
fn check_consistent(tree: &ScanTree) {
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
            disktracker::path::escape_bytes(tree.path(id))
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

/// Unmounts on drop, so a failed assertion leaves no mount behind.
struct Mount(PathBuf);

impl Mount {
    fn new(args: &[&str], target: &Path) -> Option<Mount> {
        let ok = Command::new("mount")
            .args(args)
            .arg(target)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Mount(target.to_path_buf()))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// `one_file_system` skips mount points and files from other devices
/// entirely, as `du -x` does. Needs root to mount a tmpfs.
#[rstest]
fn one_file_system_skips_other_devices(#[values("steal", "jwalk")] name: &str) {
    if !is_root() {
        eprintln!("one_file_system test needs root to mount tmpfs; not run");
        return;
    }
    let (_t, root) = tempdir();
    let (_t2, outside) = tempdir();
    fs::create_dir_all(root.join("plain/mnt")).unwrap();
    fs::write(root.join("plain/f"), vec![1u8; 5000]).unwrap();
    fs::write(root.join("bound"), b"placeholder").unwrap();
    let Some(_mnt) = Mount::new(&["-t", "tmpfs", "none"], &root.join("plain/mnt")) else {
        eprintln!("mount failed (no CAP_SYS_ADMIN?); one_file_system test not run");
        return;
    };
    fs::create_dir_all(root.join("plain/mnt/sub")).unwrap();
    fs::write(root.join("plain/mnt/sub/big"), vec![1u8; 70_000]).unwrap();
    let _other = Mount::new(&["-t", "tmpfs", "none"], &outside).expect("second tmpfs");
    fs::write(outside.join("file"), vec![1u8; 9000]).unwrap();
    let bind_arg = outside.join("file");
    let _bound = Mount::new(&["--bind", bind_arg.to_str().unwrap()], &root.join("bound"))
        .expect("bind mount");

    let all = scan(&*walker(name), &root, 2, |_| {});
    assert_same(
        "oracle across devices",
        &totals(&all),
        &oracle::compute(&root).dirs,
    );
    assert_matches_du(&all, &root, &[], &BTreeSet::new());

    let xdev = scan(&*walker(name), &root, 2, |o| o.one_file_system = true);
    let got = totals(&xdev);
    let want = oracle::compute_with(
        &root,
        &Options {
            one_file_system: true,
            ..Options::default()
        },
    )
    .dirs;
    assert_same("oracle with one_file_system", &got, &want);
    assert_matches_du(&xdev, &root, &["-x"], &BTreeSet::new());
    assert!(!got.contains_key(&key(&root.join("plain/mnt"))));
    assert_eq!(got[&key(&root.join("plain"))].child_count, 0);
    assert!(got[&key(&root)].total_apparent < totals(&all)[&key(&root)].total_apparent - 70_000);
}

/// A root given through a symlink is followed (only the root): same totals
/// as the real directory, and the paths keep the name given.
#[rstest]
fn a_symlinked_root_is_followed(#[values("steal", "jwalk")] name: &str) {
    let (_t, dir) = tempdir();
    let real = dir.join("real");
    fs::create_dir_all(real.join("sub")).unwrap();
    fs::write(real.join("sub/f"), vec![1u8; 6000]).unwrap();
    std::os::unix::fs::symlink(&real, dir.join("link")).unwrap();
    let via_link = scan(&*walker(name), &dir.join("link"), 2, |_| {});
    let direct = scan(&*walker(name), &real, 2, |_| {});
    assert_eq!(via_link.path(0), key(&dir.join("link")));
    assert_eq!(via_link.stats(0), direct.stats(0));
    assert_eq!(via_link.len(), 2);
}
