//! Odd trees end to end: unreadable directories (as an unprivileged user),
//! entries vanishing mid-scan, non-UTF-8 names, symlink loops, hard links —
//! each counted or handled, and the scan completes.
// A failed unwrap in a test or benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{Env, bytes, ok, stderr};
use disktracker_testkit::fixtures::{gen_tree, handmade_tree, make_removable};
use disktracker_testkit::oracle;
use rstest::rstest;

fn is_root() -> bool {
    fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

#[rstest]
fn stored_totals_equal_the_oracle(
    #[values("sqlite", "redb")] backend: &str,
    #[values("steal", "jwalk")] walker: &str,
) {
    let env = Env::new();
    let root = env.path().join("tree");
    gen_tree(&root, 3_000, 11).unwrap();
    ok(&env.run(&[
        "--backend",
        backend,
        "--walker",
        walker,
        "--quiet",
        "scan",
        root.to_str().unwrap(),
    ]));
    let want = oracle::compute(&root);
    let store = env.store(backend);
    let snaps = store.snapshots().unwrap();
    assert_eq!(snaps.len(), 1);
    let s = &snaps[0];
    assert_eq!(s.meta.root, bytes(&root));
    assert_eq!(s.meta.walker, walker);
    let rows = store.read_tree(s.id, None).unwrap();
    assert_eq!(rows.len(), want.dirs.len());
    for r in &rows {
        let e = want
            .dirs
            .get(&r.path)
            .unwrap_or_else(|| panic!("unexpected dir {}", String::from_utf8_lossy(&r.path)));
        let st = &r.stats;
        let got = (
            st.total_bytes,
            st.total_apparent,
            st.file_count,
            st.direct_bytes,
            st.direct_apparent,
            st.direct_files,
            st.child_count,
        );
        let exp = (
            e.total_bytes,
            e.total_apparent,
            e.file_count,
            e.direct_bytes,
            e.direct_apparent,
            e.direct_files,
            e.child_count,
        );
        assert_eq!(got, exp, "{}", String::from_utf8_lossy(&r.path));
    }
    let root_e = &want.dirs[&bytes(&root)];
    assert_eq!(
        (
            s.meta.total_bytes,
            s.meta.total_apparent,
            s.meta.total_files
        ),
        (root_e.total_bytes, root_e.total_apparent, root_e.file_count)
    );
    make_removable(&root);
}

#[test]
fn unreadable_directory_is_counted_as_an_error_and_the_scan_completes() {
    let env = Env::new();
    let root = env.path().join("tree");
    gen_tree(&root, 2_000, 5).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(env.path().join("tree.manifest.json")).unwrap())
            .unwrap();
    let unreadable = std::path::PathBuf::from(manifest["unreadable_dir"].as_str().unwrap());
    // The unprivileged user needs a HOME it can write.
    fs::set_permissions(&env.home, fs::Permissions::from_mode(0o777)).unwrap();
    let mut cmd = env.cmd();
    cmd.args(["scan", root.to_str().unwrap()]);
    if is_root() {
        cmd.uid(65534).gid(65534);
    }
    let out = cmd.output().unwrap();
    ok(&out);
    let err = stderr(&out);
    assert!(
        err.contains("warning") && err.contains("unreadable"),
        "warns about it: {err}"
    );
    let store = env.store("sqlite");
    let s = &store.snapshots().unwrap()[0];
    assert!(s.meta.error_count >= 1);
    let dir = store
        .dir(s.id, &bytes(&unreadable))
        .unwrap()
        .expect("unreadable dir stored");
    let own = fs::symlink_metadata(&unreadable).unwrap();
    assert_eq!(
        dir.stats.total_bytes,
        own.blocks() * 512,
        "only its own inode is counted"
    );
    assert_eq!(dir.stats.file_count, 0);
    assert!(dir.stats.error_count >= 1);
    make_removable(&root);
}

#[test]
fn entries_vanishing_mid_scan_never_break_a_scan() {
    let env = Env::new();
    let root = env.path().join("tree");
    handmade_tree(&root).unwrap();
    let churn = root.join("churn");
    fs::create_dir(&churn).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let worker = {
        let (stop, churn) = (stop.clone(), churn.clone());
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let d = churn.join(format!("d{}", i % 50));
                let _ = fs::create_dir(&d);
                let _ = fs::write(d.join("f"), [0u8; 5000]);
                let _ = fs::write(churn.join(format!("f{}", i % 200)), [0u8; 100]);
                let _ = fs::remove_file(d.join("f"));
                let _ = fs::remove_dir(&d);
                let _ = fs::remove_file(churn.join(format!("f{}", (i + 100) % 200)));
                i += 1;
            }
        })
    };
    for walker in ["steal", "jwalk", "steal", "jwalk", "steal", "jwalk"] {
        let out = env.run(&[
            "--walker",
            walker,
            "--quiet",
            "scan",
            root.to_str().unwrap(),
        ]);
        ok(&out);
    }
    stop.store(true, Ordering::Relaxed);
    worker.join().unwrap();
    // Every stored snapshot is internally consistent.
    let store = env.store("sqlite");
    for s in store.snapshots().unwrap() {
        let rows = store.read_tree(s.id, None).unwrap();
        assert_eq!(rows.len() as u64, s.meta.dir_count);
        let direct_sum: u64 = rows.iter().map(|r| r.stats.direct_bytes).sum();
        assert_eq!(
            direct_sum, s.meta.total_bytes,
            "recursive root total = sum of direct totals"
        );
    }
}

#[test]
fn non_utf8_names_are_stored_losslessly_and_printed_escaped() {
    let env = Env::new();
    let root = env.path().join("tree");
    handmade_tree(&root).unwrap();
    let out = ok(&env.run(&[
        "scan",
        "--depth",
        "1",
        "--top",
        "100",
        root.to_str().unwrap(),
    ]));
    assert!(out.contains("caf\\xe9"), "table escapes the byte: {out}");
    let store = env.store("sqlite");
    let s = &store.snapshots().unwrap()[0];
    let mut p = bytes(&root);
    p.extend_from_slice(b"/caf\xe9");
    let d = store
        .dir(s.id, &p)
        .unwrap()
        .expect("non-UTF-8 directory stored by its exact bytes");
    assert_eq!(d.stats.direct_files, 1);
}
