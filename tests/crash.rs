//! Crash safety: SIGKILL at any point of a scan, including inside the
//! snapshot's write transaction (counted, from the binary's test-build step
//! marks), leaves a readable database holding only complete snapshots;
//! Ctrl-C cancels cleanly and stores nothing.
// A failed unwrap in a test or benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::{Env, Paused, ok};
use disktracker::{StoreOptions, registry};
use rstest::rstest;

/// Many directories, so writing the snapshot takes a noticeable share of the run.
fn wide_tree(root: &Path, dirs: usize) {
    for i in 0..dirs {
        let d = root.join(format!("group{:03}/dir{i:06}", i % 100));
        fs::create_dir_all(&d).unwrap();
        if i % 10 == 0 {
            fs::write(d.join("f"), vec![1u8; i % 5000]).unwrap();
        }
    }
}

/// Opens the store read-write (so a crashed WAL is recovered) and checks that
/// every snapshot is whole: its row count equals its recorded directory
/// count and its root row equals its recorded totals.
fn assert_only_complete_snapshots(env: &Env, backend: &str) -> usize {
    let plugin = registry::stores().unwrap().get(backend).unwrap();
    let path = if plugin.extension == "db" {
        env.db.clone()
    } else {
        env.db.with_extension(plugin.extension)
    };
    if !path.exists() {
        return 0;
    }
    let store = (plugin.open)(&StoreOptions::file(path.clone()))
        .unwrap_or_else(|e| panic!("database unreadable after kill: {e}"));
    let snaps = store.snapshots().unwrap();
    for s in &snaps {
        let rows = store.read_tree(s.id, None).unwrap();
        assert_eq!(
            rows.len() as u64,
            s.meta.dir_count,
            "snapshot {} is partial",
            s.id
        );
        let root = rows
            .iter()
            .find(|r| r.path == s.meta.root)
            .expect("root row");
        assert_eq!(root.stats.total_bytes, s.meta.total_bytes);
        assert_eq!(root.stats.file_count, s.meta.total_files);
    }
    drop(store);
    if backend == "sqlite" {
        let conn = rusqlite::Connection::open(&path).unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
    }
    snaps.len()
}

/// A scan run with step marks on stderr (the engine's `test-hooks`), each
/// seen at a time since the spawn, as they come.
struct Marked {
    child: std::process::Child,
    start: Instant,
    lines: std::sync::mpsc::Receiver<(Duration, String)>,
    seen: Vec<(Duration, String)>,
}

impl Marked {
    fn spawn(env: &Env, args: &[&str]) -> Marked {
        let mut child = env
            .cmd()
            .env("DT_TEST_MARKS", "1")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let start = Instant::now();
        let err = child.stderr.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send((start.elapsed(), l)).is_err() {
                    break;
                }
            }
        });
        Marked {
            child,
            start,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for `mark: STEP` (or the end of the output); its time if seen.
    fn wait_for(&mut self, step: &str) -> Option<Duration> {
        let want = format!("mark: {step}");
        while let Ok((t, l)) = self.lines.recv() {
            let hit = l == want;
            self.seen.push((t, l));
            if hit {
                return Some(t);
            }
        }
        None
    }

    /// Kills it (if `kill`), waits for the end; every line seen.
    fn finish(mut self, kill: bool) -> Vec<(Duration, String)> {
        if kill {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        self.seen.extend(self.lines.iter());
        self.seen
    }
}

fn mark_time(lines: &[(Duration, String)], step: &str) -> Option<Duration> {
    let want = format!("mark: {step}");
    lines.iter().find(|(_, l)| *l == want).map(|(t, _)| *t)
}

#[rstest]
fn sigkill_during_scan_leaves_only_complete_snapshots(#[values("sqlite", "redb")] backend: &str) {
    let env = Env::new();
    let root = env.path().join("tree");
    wide_tree(&root, 20_000);
    let root = root.to_str().unwrap().to_owned();
    let args = ["--backend", backend, "--quiet", "scan", &root];

    // A full run shows how long the snapshot's write transaction is open.
    let lines = Marked::spawn(&env, &args).finish(false);
    let begin = mark_time(&lines, "snapshot-begin").expect("begin mark");
    let commit = mark_time(&lines, "snapshot-committed").expect("commit mark");
    let mut window = commit - begin;
    let mut complete = assert_only_complete_snapshots(&env, backend);
    assert_eq!(complete, 1);

    // Kill a few times during the walk, and many times at points spread
    // over the write transaction (timed from its begin mark, so a slow walk
    // on a busy machine does not shift them), until enough kills are seen
    // to have landed inside it: began, not committed, by the child's marks.
    const INSIDE_WANTED: usize = 8;
    let (mut inside, mut kills) = (0, 0);
    for i in 0..60u32 {
        if inside >= INSIDE_WANTED && kills >= 14 {
            break;
        }
        let mut run = Marked::spawn(&env, &args);
        if i % 4 == 3 {
            sleep(begin.mul_f64(0.3 + 0.2 * f64::from(i % 3)));
        } else if let Some(t) = run.wait_for("snapshot-begin") {
            let frac = f64::from((i * 7) % 10) / 10.0;
            sleep((t + window.mul_f64(frac)).saturating_sub(run.start.elapsed()));
        }
        let lines = run.finish(true);
        kills += 1;
        let began = mark_time(&lines, "snapshot-begin");
        let committed = mark_time(&lines, "snapshot-committed");
        if let (Some(b), Some(c)) = (began, committed) {
            window = c - b;
        }
        inside += usize::from(began.is_some() && committed.is_none());
        let now = assert_only_complete_snapshots(&env, backend);
        // A kill between the commit and its mark leaves a committed
        // snapshot without the mark: whole, as every snapshot must be.
        let unmarked_commit = committed.is_none() && began.is_some() && now == complete + 1;
        if !unmarked_commit {
            assert_eq!(now, complete + usize::from(committed.is_some()), "kill {i}");
        }
        complete = now;
    }
    assert!(
        inside >= INSIDE_WANTED,
        "only {inside} of {kills} kills landed inside a write transaction"
    );
    // And the database still takes new snapshots.
    ok(&env.run(&args));
    assert_eq!(assert_only_complete_snapshots(&env, backend), complete + 1);
}

#[test]
fn ctrl_c_cancels_and_stores_nothing() {
    let env = Env::new();
    let root = env.path().join("tree");
    wide_tree(&root, 20_000);
    let root = root.to_str().unwrap().to_owned();
    let mut interrupted = 0;
    let mut stored = 0;
    for delay_ms in [5u64, 10, 20, 40, 80, 160, 320] {
        let child = env
            .cmd()
            .args(["--quiet", "scan", &root])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        sleep(Duration::from_millis(delay_ms));
        Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        let out = child.wait_with_output().unwrap();
        match out.status.code() {
            Some(130) => {
                interrupted += 1;
                let err = String::from_utf8_lossy(&out.stderr);
                assert!(err.contains("interrupted"), "{err}");
            }
            Some(0) => stored += 1,
            // Delivered before the handler was installed: the default action
            // ends the process, which also stores nothing.
            None if out.status.signal() == Some(2) => {}
            other => panic!(
                "unexpected exit {other:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
        }
        assert_eq!(assert_only_complete_snapshots(&env, "sqlite"), stored);
    }
    assert!(
        interrupted > 0,
        "no run was interrupted; the tree is too small"
    );
}

/// Runs `args` until the engine's test hook stops it at `step`, then kills it.
fn killed_at(env: &Env, args: &[&str], step: &str) {
    let mut cmd = env.cmd();
    cmd.args(args);
    Paused::at(cmd, step).kill();
}

/// Retention is applied in the new snapshot's own transaction: a kill right
/// after the commit (before anything else runs) cannot leave keep + 1
/// snapshots, and neither can a kill anywhere else.
#[rstest]
fn retention_survives_a_kill_after_the_commit(#[values("sqlite", "redb")] backend: &str) {
    let env = Env::new();
    let root = env.path().join("tree");
    wide_tree(&root, 2_000);
    let cfg = env.path().join("keep2.toml");
    fs::write(&cfg, "[retention]\nkeep = 2\n").unwrap();
    let root = root.to_str().unwrap().to_owned();
    let args = [
        "--config",
        cfg.to_str().unwrap(),
        "--backend",
        backend,
        "--quiet",
        "scan",
        &root,
    ];
    ok(&env.run(&args));
    ok(&env.run(&args));
    assert_eq!(assert_only_complete_snapshots(&env, backend), 2);
    for step in ["snapshot-committed", "index-written", "provenance-recorded"] {
        let before = env.snapshots(backend);
        killed_at(&env, &args, step);
        let after = env.snapshots(backend);
        assert_eq!(after.len(), 2, "killed at {step}: {after:?}");
        assert!(
            after.last().unwrap().id > before.last().unwrap().id,
            "the new snapshot was committed"
        );
    }
    // And at arbitrary points.
    let start = Instant::now();
    ok(&env.run(&args));
    let full = start.elapsed();
    for i in 1..=8 {
        let mut child = env.cmd().args(args).stdout(Stdio::null()).spawn().unwrap();
        sleep(full.mul_f64(f64::from(i) / 8.0));
        let _ = child.kill();
        let _ = child.wait();
        assert!(assert_only_complete_snapshots(&env, backend) <= 2);
    }
}
