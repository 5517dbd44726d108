//! `size` and the live index: every scanned root is indexed, the index's
//! provenance is exact (a kill at any step of scan + publish, a file
//! rewritten in place or a flipped bit leads to a rebuild, never a stale
//! answer), and a failed index write recovers. Expected sizes come from the
//! testkit's oracle, computed from the tree itself.
// A failed unwrap in a test or benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::{Env, Paused, bytes, fails_with, ok, stderr};
use disktracker_testkit::oracle;
use rstest::rstest;
use serde_json::Value;

const NOT_FOUND: i32 = 3;

fn write(p: &Path, len: usize) {
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, vec![7u8; len]).unwrap();
}

/// `size PATHS` as JSON: (status, disk usage) per path.
fn sizes(env: &Env, backend: &str, extra: &[&str], paths: &[&Path]) -> Vec<(String, Option<u64>)> {
    let mut args = vec!["--backend", backend, "--format", "json", "--quiet", "size"];
    args.extend_from_slice(extra);
    let p: Vec<String> = paths
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    args.extend(p.iter().map(String::as_str));
    let o = env.run(&args);
    let doc: Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&o)));
    doc["answers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["status"].as_str().unwrap().to_owned(),
                a["disk_usage"].as_u64(),
            )
        })
        .collect()
}

fn truth(path: &Path) -> u64 {
    let o = oracle::compute(path);
    o.dirs[&bytes(path)].total_bytes
}

fn scan(env: &Env, backend: &str, root: &Path) {
    ok(&env.run(&[
        "--backend",
        backend,
        "--quiet",
        "scan",
        root.to_str().unwrap(),
    ]));
}

fn index_file(env: &Env) -> std::path::PathBuf {
    env.db.with_extension("mmap")
}

#[rstest]
fn every_scanned_root_is_answered(#[values("sqlite", "redb")] backend: &str) {
    let env = Env::new();
    let (a, b) = (env.path().join("a"), env.path().join("b"));
    write(&a.join("x/f"), 100_000);
    write(&a.join("x/y/g"), 5_000);
    write(&b.join("z/h"), 30_000);
    scan(&env, backend, &a);
    scan(&env, backend, &b);
    let ax = a.join("x");
    let bz = b.join("z");
    let got = sizes(&env, backend, &[], &[&ax, &a, &bz, &b]);
    let want: Vec<(String, Option<u64>)> = [&ax, &a, &bz, &b]
        .iter()
        .map(|p| ("indexed".to_owned(), Some(truth(p))))
        .collect();
    assert_eq!(got, want);

    // A root inside another, scanned later and changed since: the newer
    // snapshot wins for its subtree, the outer root keeps its own.
    let a_before = truth(&a);
    write(&ax.join("new"), 200_000);
    scan(&env, backend, &ax);
    let got = sizes(&env, backend, &[], &[&ax, &a]);
    assert_eq!(got[0], ("indexed".to_owned(), Some(truth(&ax))));
    assert_eq!(got[1], ("indexed".to_owned(), Some(a_before)));
    scan(&env, backend, &a);
    assert_eq!(sizes(&env, backend, &[], &[&a])[0].1, Some(truth(&a)));
}

#[test]
fn a_path_under_no_scanned_root_names_the_scan_to_run() {
    let env = Env::new();
    let (a, c) = (env.path().join("a"), env.path().join("c"));
    write(&a.join("f"), 1000);
    fs::create_dir_all(&c).unwrap();
    scan(&env, "sqlite", &a);
    let o = env.run(&["size", c.to_str().unwrap()]);
    let err = fails_with(&o, NOT_FOUND);
    assert!(
        err.contains("under no scanned root")
            && err.contains(&format!("run `disktracker scan {}`", c.display())),
        "{err}"
    );
    assert_eq!(env.snapshots("sqlite").len(), 1, "nothing scanned");
    // No database at all: exit 3 too, naming the scan.
    let fresh = Env::new();
    let err = fails_with(&fresh.run(&["size", c.to_str().unwrap()]), NOT_FOUND);
    assert!(err.contains("disktracker scan"), "{err}");
    assert!(!fresh.db.exists());
}

#[rstest]
fn a_failed_index_write_recovers(#[values("sqlite", "redb")] backend: &str) {
    let env = Env::new();
    let (a, b) = (env.path().join("a"), env.path().join("b"));
    write(&a.join("f"), 10_000);
    write(&b.join("y/g"), 20_000);
    scan(&env, backend, &a);
    // The index cannot be written while the scan of /b runs (a directory
    // stands where the file goes; the database beside it is fine).
    let index = index_file(&env);
    fs::remove_file(&index).unwrap();
    fs::create_dir(&index).unwrap();
    let o = env.run(&["--backend", backend, "scan", b.to_str().unwrap()]);
    ok(&o);
    assert!(
        stderr(&o).contains("the live index was not updated"),
        "{}",
        stderr(&o)
    );
    // Still unwritable: answered from the database.
    let by = b.join("y");
    assert_eq!(
        sizes(&env, backend, &[], &[&by]),
        [("indexed".into(), Some(truth(&by)))]
    );
    // Writable again: rebuilt, with both roots.
    fs::remove_dir(&index).unwrap();
    assert_eq!(
        sizes(&env, backend, &[], &[&by, &a]),
        [
            ("indexed".into(), Some(truth(&by))),
            ("indexed".into(), Some(truth(&a)))
        ]
    );
    assert!(index.is_file());
}

/// Runs a scan that stops itself at `step` (the engine's test hook), then
/// kills it there.
fn scan_killed_at(env: &Env, backend: &str, root: &Path, step: &str) {
    let mut cmd = env.cmd();
    cmd.args([
        "--backend",
        backend,
        "--quiet",
        "scan",
        root.to_str().unwrap(),
    ]);
    let status = Paused::at(cmd, step).kill();
    assert!(status.code().is_none(), "killed at {step}: {status:?}");
}

#[rstest]
fn a_kill_at_any_step_never_leaves_a_stale_answer(
    #[values("sqlite", "redb")] backend: &str,
    #[values(
        "snapshot-rows-written",
        "index-staged",
        "snapshot-committed",
        "index-written",
        "provenance-recorded"
    )]
    step: &str,
) {
    let env = Env::new();
    let root = env.path().join("tree");
    write(&root.join("a/f"), 50_000);
    write(&root.join("b/g"), 900_000);
    scan(&env, backend, &root);
    let before = truth(&root);
    assert_eq!(sizes(&env, backend, &[], &[&root])[0].1, Some(before));
    // Grow it by 30 MB and rescan at once (well within a second), killed at `step`.
    write(&root.join("a/big"), 30 << 20);
    scan_killed_at(&env, backend, &root, step);
    let newest = env.snapshots(backend).last().unwrap().meta.total_bytes;
    let now = truth(&root);
    // The index is written beside the rows: stopped there, the snapshot may
    // or may not be committed yet, but the file may already hold it.
    let committed = match step {
        "snapshot-rows-written" => Some(false),
        "index-staged" => None,
        _ => Some(true),
    };
    if let Some(committed) = committed {
        assert_eq!(
            newest,
            if committed { now } else { before },
            "the database at {step}"
        );
    }
    assert!(newest == now || newest == before, "the database at {step}");
    // The answer is always the database's newest snapshot, never the old index.
    assert_eq!(
        sizes(&env, backend, &[], &[&root]),
        [("indexed".into(), Some(newest))],
        "{backend}, killed at {step}"
    );
}

#[rstest]
fn an_index_rewritten_in_place_is_rebuilt(#[values("sqlite", "redb")] backend: &str) {
    let env = Env::new();
    let (a, b) = (env.path().join("a"), env.path().join("b"));
    write(&a.join("f"), 10_000);
    write(&b.join("f"), 70_000);
    scan(&env, backend, &a);
    let index = index_file(&env);
    let of_a_only = fs::read(&index).unwrap();
    scan(&env, backend, &b);
    // `cp old.mmap data.mmap`: same inode, other bytes, other length.
    fs::write(&index, &of_a_only).unwrap();
    assert_eq!(sizes(&env, backend, &[], &[&b])[0].1, Some(truth(&b)));
    // A byte-identical copy (a restored backup) is trusted as it is.
    let good = fs::read(&index).unwrap();
    fs::remove_file(&index).unwrap();
    fs::write(&index, &good).unwrap();
    let o = env.run(&["--backend", backend, "size", b.to_str().unwrap()]);
    ok(&o);
    assert!(!stderr(&o).contains("rebuild"), "{}", stderr(&o));
    // ... and its identity is recorded, so the next reader need not read it whole.
    let recorded = env.store(backend).index_provenance().unwrap().unwrap();
    let m = fs::metadata(&index).unwrap();
    assert_eq!((recorded.ino, recorded.len), (m.ino(), m.len()));
}

/// Sets bit 46 of every entry's size (64 TiB too much), leaving the
/// structure valid: entries start at byte 20, 16 bytes each, size at +8.
fn flip_sizes(index: &Path) {
    let mut b = fs::read(index).unwrap();
    let count = u32::from_le_bytes(b[12..16].try_into().unwrap()) as usize;
    for i in 0..count {
        b[20 + 16 * i + 8 + 5] ^= 0x40;
    }
    fs::write(index, b).unwrap();
}

#[rstest]
fn flipped_bits_are_caught_by_the_checksum(#[values("sqlite", "redb")] backend: &str) {
    let env = Env::new();
    let root = env.path().join("tree");
    write(&root.join("x/f"), 10_000);
    scan(&env, backend, &root);
    let index = index_file(&env);
    let want = [("indexed".to_owned(), Some(truth(&root)))];
    // Written in place: its identity changed, so the checksum is checked.
    flip_sizes(&index);
    assert_eq!(sizes(&env, backend, &[], &[&root]), want);
    // The same damage with the recorded modification time put back (the
    // identity then matches): only --verify reads the whole file.
    let mtime = fs::metadata(&index).unwrap().modified().unwrap();
    flip_sizes(&index);
    fs::File::options()
        .write(true)
        .open(&index)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    assert_eq!(sizes(&env, backend, &["--verify"], &[&root]), want);
}

/// Finding 1 of the adversarial pass: `size` processes beside a program
/// that rewrites the index in place — `cp good.mmap data.mmap` (same inode,
/// truncated then written) and truncate-then-rewrite in two steps, in a
/// tight loop. Not one of 500 `size` runs may die by a signal, and every
/// answer is the true size (from the index or, when the file was caught
/// changing, from a rebuild).
#[test]
fn size_never_dies_of_a_signal_while_the_index_is_rewritten_in_place() {
    use std::os::unix::process::ExitStatusExt;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    const RUNS: usize = 500;
    let env = Env::new();
    let root = env.path().join("tree");
    // Enough directories that a lookup's probes span several pages.
    for i in 0..3000 {
        write(&root.join(format!("d{}/e{i}/f", i % 60)), 100 + i);
    }
    scan(&env, "sqlite", &root);
    let index = index_file(&env);
    let good = fs::read(&index).unwrap();
    let asked = root.join("d7");
    let want = truth(&asked);

    let stop = Arc::new(AtomicBool::new(false));
    let rewrites = Arc::new(AtomicU64::new(0));
    let rewriter = {
        let (stop, rewrites, index) = (stop.clone(), rewrites.clone(), index.clone());
        std::thread::spawn(move || {
            let mut k = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if k.is_multiple_of(2) {
                    // What `cp good.mmap data.mmap` does.
                    let _ = fs::write(&index, &good);
                } else if let Ok(f) = fs::OpenOptions::new().write(true).open(&index) {
                    let _ = f.set_len(0);
                    let _ = f.set_len(good.len() as u64 / 3);
                    drop(f);
                    let _ = fs::write(&index, &good);
                }
                k += 1;
                rewrites.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let mut failures = Vec::new();
    for run in 0..RUNS {
        let o = env.run(&[
            "--format",
            "json",
            "--quiet",
            "size",
            asked.to_str().unwrap(),
        ]);
        if let Some(sig) = o.status.signal() {
            failures.push(format!("run {run}: killed by signal {sig}: {}", stderr(&o)));
            continue;
        }
        if !o.status.success() {
            failures.push(format!("run {run}: {}: {}", o.status, stderr(&o)));
            continue;
        }
        let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
        let got = doc["answers"][0]["disk_usage"].as_u64();
        if got != Some(want) {
            failures.push(format!(
                "run {run}: answered {got:?}, the tree holds {want}"
            ));
        }
    }
    stop.store(true, Ordering::Relaxed);
    rewriter.join().unwrap();
    assert!(
        rewrites.load(Ordering::Relaxed) > RUNS as u64,
        "the rewriter barely ran"
    );
    assert!(
        failures.is_empty(),
        "{} of {RUNS} runs failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
