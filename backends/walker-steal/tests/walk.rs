//! What only the `steal` walker promises, beyond the walker conformance
//! suite every walker passes (`disktracker/testkit/tests/walkers.rs`):
//! exact results on trees deeper than `PATH_MAX`, and complete walks
//! without leaks under a tiny fd limit.
// A failed unwrap in a test or benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::Path;
use std::process::Command;

use disktracker_testkit::fixtures::tempdir;
use disktracker_testkit::oracle;
use disktracker_testkit::walker_conformance::{assert_same, check_deep_tree, scan, totals};
use disktracker_walker_steal::StealWalker;

/// The suite accepts exact or refused; this walker must be exact.
#[test]
fn a_tree_deeper_than_path_max_is_walked_exactly() {
    if let Err(e) = check_deep_tree(&StealWalker) {
        panic!("steal refused a deep tree: {e}");
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
            let tree = scan(&StealWalker, root, threads, |_| {});
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
    // The child reruns this test with a soft and hard limit of 40 fds.
    let name = "low_fd_limit_walks_everything_and_leaks_nothing";
    let status = Command::new("prlimit")
        .arg("--nofile=40:40")
        .arg(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(FD_LIMIT_VAR, &root)
        .status()
        .expect("prlimit(1) runs");
    assert!(status.success(), "child run of {name} failed: {status}");
}

/// Walks `root` starting with one worker that may grow to `max`, each
/// directory held up by a write and `fsync` of `scratch` (the thread waits
/// for the disk in uninterruptible sleep, as on a cold cache); returns the
/// tree and how many threads read directories.
fn walk_blocked(root: &Path, scratch: &Path, max: usize) -> (disktracker_engine::ScanTree, usize) {
    use std::collections::HashSet;
    use std::io::Write;
    use std::sync::{Arc, Mutex};
    let threads = Arc::new(Mutex::new(HashSet::new()));
    let seen = Arc::clone(&threads);
    let scratch = scratch.to_owned();
    let ctx = disktracker::WalkContext {
        before_dir: Some(disktracker::DirHook::new(move |_| {
            let me = std::thread::current().id();
            seen.lock().unwrap().insert(me);
            let mut f = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(scratch.join(format!("{me:?}")))
                .unwrap();
            f.write_all(&[7u8; 512 << 10]).unwrap();
            f.sync_all().unwrap();
        })),
        ..disktracker::WalkContext::default()
    };
    let opts = disktracker::WalkOptions::growing(1, max);
    let out = disktracker::Walker::walk(&StealWalker, root, &opts, &ctx).unwrap();
    let tree = disktracker_engine::ScanTree::from_walk(out).unwrap();
    let n = threads.lock().unwrap().len();
    (tree, n)
}

const GROW_VAR: &str = "DT_TEST_GROW_ROOT";

/// While workers wait on the disk (here: an `fsync` before each directory)
/// and directories queue up, the pool grows up to its cap, never beyond,
/// and the totals stay exact; a fixed pool does not grow. The walks run in
/// a child process, so that no other test's threads share it.
#[test]
fn the_pool_grows_while_workers_wait_and_the_totals_stay_exact() {
    if let Some(root) = std::env::var_os(GROW_VAR) {
        let root = Path::new(&root);
        let want = oracle::compute(root).dirs;
        let (_s, scratch) = tempdir();
        // The governor samples the workers' states every 10 ms and each
        // `fsync` here takes a millisecond or two, so on a busy machine a
        // walk may end before it saw a worker wait twice in a row: up to
        // three walks, of which one must grow, and none beyond the cap.
        let mut grown = Vec::new();
        for _ in 0..3 {
            let (tree, used) = walk_blocked(root, &scratch, 6);
            assert_same("oracle, growing pool", &totals(&tree), &want);
            assert!(used <= 6, "{used} threads read directories; the cap is 6");
            grown.push(used);
            if used >= 2 {
                break;
            }
        }
        assert!(
            grown.iter().any(|&used| used >= 2),
            "threads reading directories in each walk: {grown:?}; expected 2 to 6 in one"
        );
        let (tree, used) = walk_blocked(root, &scratch, 1);
        assert_same("oracle, fixed pool", &totals(&tree), &want);
        assert_eq!(used, 1);
        return;
    }
    let (_t, root) = tempdir();
    for a in 0..20 {
        for b in 0..12 {
            let d = root.join(format!("a{a}/b{b}"));
            fs::create_dir_all(&d).unwrap();
            fs::write(d.join("f"), vec![1u8; a * 100 + b]).unwrap();
        }
    }
    let name = "the_pool_grows_while_workers_wait_and_the_totals_stay_exact";
    let status = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(GROW_VAR, &root)
        .status()
        .unwrap();
    assert!(status.success(), "child run of {name} failed: {status}");
}
