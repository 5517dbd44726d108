//! What only the `steal` walker promises, beyond the walker conformance
//! suite every walker passes (`disktracker/testkit/tests/walkers.rs`):
//! exact results on trees deeper than `PATH_MAX`, and complete walks
//! without leaks under a tiny fd limit.

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
