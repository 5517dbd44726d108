//! The live half end to end, with the real binary: `watch` runs as a child
//! process over a real tree on both stores while the test changes the tree;
//! `size`, `status`, `log`, `reconcile`, `show`, `diff` and `scan` run as
//! other processes. Every size is compared with the testkit oracle (a
//! separately written walk of the tree), never with the program's own output.
// A failed unwrap in a test or benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod live_support;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::{example, fails_with, ok, stderr};
use disktracker_testkit::fixtures::handmade_tree;
use disktracker_testkit::oracle::{self, Oracle};
use live_support::{Case, Churn, Marked, json_path, mark_time, show, tree_mismatches};
use rstest::rstest;
use rustix::process::Signal;
use serde_json::Value;

fn key(p: &Path) -> Vec<u8> {
    p.as_os_str().as_bytes().to_vec()
}

fn text(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 test path")
}

/// A scanned handmade tree (edge cases: sparse files, symlink loops,
/// non-UTF-8 names, hard links across directories, a wide directory, a deep
/// chain) with a live watcher.
fn watched(backend: &'static str, vars: &[(&str, &str)]) -> (Case, live_support::Watcher) {
    let case = Case::new(backend);
    handmade_tree(&case.root).unwrap();
    case.scan(&case.root);
    let mut w = case.watch_with(vars);
    case.wait_live(&mut w);
    (case, w)
}

/// Scans the root, then a watcher logs `steps` seeded changes and stops
/// without reconciling them; the tree as it is then.
fn logged_changes(case: &Case, seed: u64, steps: usize) -> Oracle {
    case.scan(&case.root);
    let mut w = case.watch();
    case.wait_live(&mut w);
    let mut churn = Churn::new(&case.root, &case.outside, seed);
    churn.steps(steps);
    let want = case.converge(&w, &mut BTreeSet::new(), &churn);
    w.stop(Signal::TERM);
    want
}

/// The invariant (DESIGN §5): after seeded random changes and a quiet
/// period, every directory's live `size` equals the oracle, and after
/// `reconcile` the newest snapshot equals it too, every field of both size
/// kinds, round after round.
#[rstest]
fn random_changes_keep_live_sizes_and_reconciled_snapshots_equal_to_the_tree(
    #[values("sqlite", "redb")] backend: &'static str,
    #[values(11, 29)] seed: u64,
) {
    random_changes_converge(backend, seed);
}

/// The same on PostgreSQL: the watcher's index and live tables stay on this
/// host (its live tables are this host's rows), `reconcile` derives the
/// snapshot into the shared database.
#[test]
#[ignore = "needs a PostgreSQL server (initdb, pg_ctl): apt-get install postgresql"]
fn random_changes_on_postgres_keep_live_sizes_and_reconciled_snapshots_equal_to_the_tree() {
    random_changes_converge("postgres", 11);
}

fn random_changes_converge(backend: &'static str, seed: u64) {
    let (case, mut w) = watched(backend, &[]);
    let mut churn = Churn::new(&case.root, &case.outside, seed);
    let mut seen = BTreeSet::new();
    let mut snapshots = case.snapshot_count();
    for round in 0..3 {
        churn.steps(40);
        let want = case.converge(&w, &mut seen, &churn);
        let out = ok(&case.run(&["reconcile"]));
        snapshots += 1;
        assert_eq!(case.snapshot_count(), snapshots, "{out}");
        case.assert_stored(&want, &format!("seed {seed}, round {round}"));
    }
    w.stop(Signal::TERM);
}

/// SIGKILL while changes pour in (and the index is compacted every 150 ms),
/// more changes with no watcher, a restart: the live answers converge, and
/// reconcile stores the tree.
#[rstest]
fn a_watcher_killed_during_churn_converges_after_a_restart(
    #[values("sqlite", "redb")] backend: &'static str,
) {
    let vars = [("DISKTRACKER_WATCH_COMPACT_EVERY", "150ms")];
    let (case, mut w) = watched(backend, &vars);
    let mut churn = Churn::new(&case.root, &case.outside, 7);
    let mut seen = BTreeSet::new();
    let mut want = Oracle::default();
    for _ in 0..3 {
        let kill_at = churn.delay(200) + Duration::from_millis(30);
        let mut busy = churn;
        let changing = std::thread::spawn(move || {
            busy.steps_paced(30, Duration::from_millis(5));
            busy
        });
        sleep(kill_at);
        w.kill9();
        churn = changing.join().unwrap();

        // Nobody watches: status says so, and size answers from the file.
        let row = case.status_of(&case.root);
        assert!(row["watcher_pid"].is_null(), "{row}");
        assert!(row["state"].is_null(), "{row}");
        let out = case.cmd().arg("size").arg(&case.root).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

        churn.steps(10);
        w = case.watch_with(&vars);
        case.wait_live(&mut w);
        want = case.converge(&w, &mut seen, &churn);
    }
    ok(&case.run(&["reconcile"]));
    case.assert_stored(&want, "after kills and restarts");
    w.stop(Signal::TERM);
}

/// Many directories, so deriving a snapshot from it takes a while.
fn wide_tree(root: &Path, dirs: usize) {
    for i in 0..dirs {
        let d = root.join(format!("g{:02}/d{i:05}", i % 50));
        fs::create_dir_all(&d).unwrap();
        if i % 3 == 0 {
            fs::write(d.join("f"), vec![1u8; i % 9000]).unwrap();
        }
    }
}

/// Copies the regular files of `from` into `to` (a fresh directory).
fn copy_files(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap().flatten() {
        if e.file_type().unwrap().is_file() {
            fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// SIGKILL of `reconcile` (no watcher) at seeded random points, many of
/// them inside the store's write (the binary's step marks say which):
/// afterwards the newest snapshot is exactly the old one or exactly the
/// tree, never a mix; a second reconcile finishes the job, and a third
/// writes nothing.
#[rstest]
fn reconcile_killed_at_any_point_leaves_the_old_or_the_new_state(
    #[values("sqlite", "redb")] backend: &'static str,
) {
    let case = Case::new(backend);
    wide_tree(&case.root, 3000);
    case.scan(&case.root);
    let mut w = case.watch();
    case.wait_live(&mut w);
    // Random changes in one group (listing the whole tree per change is slow),
    // growth all over.
    let mut churn = Churn::new(&case.root.join("g07"), &case.outside, 5);
    churn.steps(60);
    for i in (0..3000).step_by(11).filter(|i| i % 50 != 7) {
        let d = case.root.join(format!("g{:02}/d{i:05}", i % 50));
        fs::write(d.join("grown"), vec![2u8; 5000]).unwrap();
    }
    let new = case.converge(&w, &mut BTreeSet::new(), &churn);
    w.stop(Signal::TERM);

    let (old_info, old_rows) = {
        let store = case.open_store();
        case.newest(&*store)
    };
    assert!(!tree_mismatches(&old_rows, &new).is_empty());
    let old_count = case.snapshot_count();
    let state = case.env.db.parent().unwrap().to_owned();
    let saved = case.env.path().join("saved-state");
    copy_files(&state, &saved);
    let restore = || {
        fs::remove_dir_all(&state).unwrap();
        copy_files(&saved, &state);
    };
    let reconcile = || {
        let mut c = case.cmd();
        c.arg("reconcile");
        c
    };

    // A whole run shows when the write is under way.
    let (status, lines) = Marked::spawn(reconcile()).finish(None);
    assert!(status.success(), "{lines:?}");
    let begin = mark_time(&lines, "reconcile-begin").expect("begin mark");
    let commit = mark_time(&lines, "reconcile-committed").expect("commit mark");

    let mut delays = Churn::new(&case.root, &case.outside, 99);
    let (mut inside, mut kills, mut completed) = (0, 0, 0);
    for i in 0..24u32 {
        if inside >= 4 && kills >= 8 {
            break;
        }
        restore();
        // Mostly between the marks, sometimes before the write begins.
        let at = if i % 4 == 3 {
            begin.mul_f64(0.5 + f64::from(i % 5) / 10.0)
        } else {
            let frac = delays.delay(1000).as_millis() as f64 / 1000.0;
            begin + (commit - begin).mul_f64(frac)
        };
        let (status, lines) = Marked::spawn(reconcile()).finish(Some(at));
        let killed = status.signal() == Some(9);
        kills += usize::from(killed);
        let began = mark_time(&lines, "reconcile-begin").is_some();
        let committed = mark_time(&lines, "reconcile-committed").is_some();

        let store = case.open_store();
        let (info, rows) = case.newest(&*store);
        let count = store.snapshots().unwrap().len();
        drop(store);
        if info.id == old_info.id {
            assert_eq!(count, old_count, "kill {i}");
            assert!(rows == old_rows, "kill {i}: the old snapshot changed");
            assert!(!committed, "kill {i}: committed, yet the old state");
            inside += usize::from(killed && began);
        } else {
            completed += 1;
            assert_eq!(count, old_count + 1, "kill {i}");
            let bad = tree_mismatches(&rows, &new);
            assert!(
                bad.is_empty(),
                "kill {i}: a partial snapshot:\n{}",
                bad.join("\n")
            );
        }
        // A second reconcile finishes the job; a third writes nothing.
        let out = ok(&case.run(&["reconcile"]));
        assert_eq!(case.snapshot_count(), old_count + 1, "kill {i}: {out}");
        case.assert_stored(&new, &format!("reconcile after kill {i}"));
        let out = ok(&case.run(&["reconcile"]));
        assert!(out.contains("nothing new"), "{out}");
        assert_eq!(case.snapshot_count(), old_count + 1);
    }
    assert!(
        inside >= 4,
        "only {inside} of {kills} kills landed inside the write ({completed} completed; \
         begin {begin:?}, commit {commit:?})"
    );
}

/// Changes made while no watcher ran are not in the index (`size` answers
/// from the file, stale); at the next boot they are caught up: the first
/// answers after `status` says `live` equal the tree, no polling.
#[rstest]
fn changes_made_while_no_watcher_ran_are_caught_up_at_boot(
    #[values("sqlite", "redb")] backend: &'static str,
) {
    let (case, mut w) = watched(backend, &[]);
    let before = oracle::compute(&case.root);
    w.stop(Signal::TERM);

    let mut churn = Churn::new(&case.root, &case.outside, 3);
    churn.steps(40);
    fs::write(case.root.join("offline"), vec![1u8; 300_000]).unwrap();
    let want = oracle::compute(&case.root);
    let seen: BTreeSet<Vec<u8>> = before.dirs.keys().cloned().collect();
    let stale = case.size_mismatches(&want, &seen, "indexed");
    assert!(
        !stale.is_empty(),
        "the offline changes are in the index already?"
    );

    let mut w = case.watch();
    let states = case.wait_live(&mut w);
    let bad = case.size_mismatches(&want, &seen, "live");
    assert!(
        bad.is_empty(),
        "first answers once live (states {states:?}) differ:\n{}\nchanges:\n{}\nlog:\n{}",
        bad.join("\n"),
        churn.recent(),
        w.log()
    );
    assert!(w.log().contains("caught up"), "{}", w.log());
    w.stop(Signal::TERM);
}

/// SIGINT and SIGTERM with a batch waiting (a 5 s batch interval, events
/// received, not yet applied): exit 0 within a few seconds, the batch
/// flushed into the index file, which then answers `size` equal to the
/// tree; `status` shows no watcher.
#[rstest]
fn sigint_and_sigterm_flush_the_batch_and_leave_an_index_equal_to_the_tree(
    #[values("sqlite", "redb")] backend: &'static str,
    #[values(Signal::INT, Signal::TERM)] signal: Signal,
) {
    let (case, mut w) = watched(backend, &[("DISKTRACKER_WATCH_BATCH_INTERVAL", "5s")]);
    let seen: BTreeSet<Vec<u8>> = oracle::compute(&case.root).dirs.into_keys().collect();
    let mut churn = Churn::new(&case.root, &case.outside, 17);
    churn.steps(25);
    let want = oracle::compute(&case.root);

    // Wait until the events are in (their count stops moving) and a batch waits.
    let start = Instant::now();
    let mut last = u64::MAX;
    loop {
        let row = case.status_of(&case.root);
        let events = row["events"].as_u64().unwrap();
        if events > 0 && events == last && row["queue_depth"].as_u64().unwrap() > 0 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(4),
            "no waiting batch in status: {row}"
        );
        last = events;
        sleep(Duration::from_millis(50));
    }
    w.stop(signal);
    assert!(w.log().contains("stopped"), "{}", w.log());

    let bad = case.size_mismatches(&want, &seen, "indexed");
    assert!(
        bad.is_empty(),
        "the index after {signal:?} differs from the tree:\n{}\nlog:\n{}",
        bad.join("\n"),
        w.log()
    );
    let row = case.status_of(&case.root);
    assert!(
        row["watcher_pid"].is_null() && row["state"].is_null(),
        "{row}"
    );
    assert!(row["pending_mutations"].as_u64().unwrap() > 0, "{row}");
}

/// A stop at any moment of boot — before the watcher's loop runs, during
/// catch-up, during the first compaction — exits 0 within a few seconds,
/// never waits for the next event. The signal goes at delays spread over a
/// boot of this tree (measured first), counted from the `booting` line (the
/// handler is installed before it; a signal before the process has set up
/// its handler gets the default action, as for any program). Each stop
/// leaves an index that answers every directory as the tree is.
#[test]
fn sigterm_at_any_moment_of_boot_exits_0() {
    let case = Case::new("sqlite");
    handmade_tree(&case.root).unwrap();
    case.scan(&case.root);
    let booting = |w: &live_support::Watcher| {
        w.wait_log("booting");
        Instant::now()
    };
    let want = oracle::compute(&case.root);
    let mut w = case.watch();
    let start = booting(&w);
    case.wait_live(&mut w);
    let boot = start.elapsed();
    w.stop(Signal::TERM);
    for k in 0..=12u32 {
        let mut w = case.watch();
        booting(&w);
        sleep(boot * k / 10);
        w.stop(Signal::TERM);
        // Whenever it stopped, the index it left holds the whole tree.
        let bad = case.size_mismatches(&want, &BTreeSet::new(), "indexed");
        assert!(bad.is_empty(), "after a stop at {k}/10 of boot: {bad:#?}");
    }
}

/// A stop while the catch-up walks (held there by the test hook until the
/// signal is in) ends the catch-up and leaves the index as the store knew
/// the root: its snapshot with the mutations logged since (not reconciled),
/// used as it is by `size`, every directory as the tree is.
#[rstest]
fn a_stop_during_catch_up_keeps_the_logged_changes_in_the_index(
    #[values("sqlite", "redb")] backend: &'static str,
) {
    let case = Case::new(backend);
    handmade_tree(&case.root).unwrap();
    // Enough directories that the walk, resumed with the signal pending,
    // is still going when the signal's handler has cancelled it.
    for i in 0..2000 {
        fs::create_dir_all(case.root.join(format!("wide/d{i:04}"))).unwrap();
    }
    let want = logged_changes(&case, 29, 15);

    let mut w = case.watch_with(&[("DT_TEST_PAUSE", "catch-up-walk")]);
    w.wait_log("paused: catch-up-walk");
    w.signal(Signal::TERM);
    w.signal(Signal::CONT);
    let (status, _) = w
        .wait_exit(Duration::from_secs(10))
        .unwrap_or_else(|| panic!("still running after SIGTERM:\n{}", w.log()));
    assert_eq!(status.code(), Some(0), "{status}:\n{}", w.log());
    assert!(w.log().contains("the next watch catches up"), "{}", w.log());
    let out = case.cmd().arg("size").arg(&case.root).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("rebuilding"), "{}", stderr(&out));
    let bad = case.size_mismatches(&want, &BTreeSet::new(), "indexed");
    assert!(bad.is_empty(), "{bad:#?}\n{}", w.log());
}

/// One watcher per database: a second `watch` (of the same root or
/// another) exits 5 with one line naming the first's pid, and the first
/// keeps answering.
#[rstest]
fn a_second_watcher_exits_5_naming_the_first(#[values("sqlite", "redb")] backend: &'static str) {
    let (case, mut w) = watched(backend, &[]);
    let other = case.env.path().join("other");
    fs::create_dir(&other).unwrap();
    for root in [&case.root, &other] {
        let out = case.cmd().arg("watch").arg(root).output().unwrap();
        let err = fails_with(&out, 5);
        assert!(err.contains(&format!("pid {}", w.pid())), "{err}");
    }
    fs::write(case.root.join("after"), vec![3u8; 70_000]).unwrap();
    case.converge(
        &w,
        &mut BTreeSet::new(),
        &Churn::new(&case.root, &case.outside, 1),
    );
    assert_eq!(case.status_of(&case.root)["state"], "live");
    w.stop(Signal::TERM);
}

/// `reconcile` with nothing ever watched says so and writes nothing;
/// `reconcile ROOT` of a root never watched is an error naming it; a
/// reconcile (through the watcher) stores the tree; a second one, with the
/// watcher or without, adds nothing and says so.
#[rstest]
fn reconcile_twice_adds_nothing(#[values("sqlite", "redb")] backend: &'static str) {
    let case = Case::new(backend);
    handmade_tree(&case.root).unwrap();
    case.scan(&case.root);
    let out = ok(&case.run(&["reconcile"]));
    assert!(out.contains("no root has been watched"), "{out}");
    assert_eq!(case.json(&["reconcile"])["roots"], Value::Array(vec![]));
    let out = case
        .cmd()
        .arg("reconcile")
        .arg(&case.root)
        .output()
        .unwrap();
    let err = fails_with(&out, 3);
    assert!(
        err.contains(text(&case.root)) && err.contains("never been watched"),
        "{err}"
    );
    assert_eq!(case.snapshot_count(), 1);

    let mut w = case.watch();
    case.wait_live(&mut w);
    let mut churn = Churn::new(&case.root, &case.outside, 23);
    churn.steps(20);
    let want = case.converge(&w, &mut BTreeSet::new(), &churn);
    let first = case.json(&["reconcile"]);
    let line = &first["roots"][0];
    assert_eq!(json_path(&line["root"]), key(&case.root), "{first}");
    assert!(line["mutations"].as_u64().unwrap() > 0, "{first}");
    let id = line["snapshot"].as_i64().expect("a new snapshot");
    assert_eq!(case.snapshot_count(), 2);
    assert_eq!(case.assert_stored(&want, "first reconcile"), id);

    // Again, through the watcher: nothing new.
    let again = case.json(&["reconcile"]);
    assert!(again["roots"][0]["snapshot"].is_null(), "{again}");
    assert_eq!(again["roots"][0]["mutations"], 0, "{again}");
    let out = ok(&case.run(&["reconcile"]));
    assert!(
        out.contains("nothing new") && out.contains("nothing written"),
        "{out}"
    );
    assert_eq!(case.snapshot_count(), 2);

    // And without a watcher.
    w.stop(Signal::TERM);
    let out = ok(&case.run(&["reconcile"]));
    assert!(out.contains("nothing new"), "{out}");
    let out = ok(&case
        .cmd()
        .arg("reconcile")
        .arg(&case.root)
        .output()
        .unwrap());
    assert!(out.contains("nothing new"), "{out}");
    assert_eq!(case.snapshot_count(), 2);
    assert_eq!(case.assert_stored(&want, "after the second reconcile"), id);
}

/// Polls `log --format json` args until `done` holds for its entries.
#[track_caller]
fn wait_log(case: &Case, args: &[&str], done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let mut all = vec!["log"];
        all.extend_from_slice(args);
        let v = case.json(&all);
        let entries = v["entries"].as_array().unwrap().clone();
        if done(&entries) {
            return entries;
        }
        assert!(
            start.elapsed() < live_support::CONVERGE,
            "log {args:?} never got there: {entries:?}"
        );
        sleep(Duration::from_millis(50));
    }
}

/// (directory, disk-usage delta) of log entries.
fn path_deltas(entries: &[Value]) -> Vec<(String, i64)> {
    entries
        .iter()
        .map(|e| {
            (
                show(&json_path(&e["path"])),
                e["disk_usage_delta"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// `status` in table, JSON and CSV, with and without a watcher; `log PATH
/// --since 1h --min-delta 1KiB` lists the changes under PATH newest first,
/// drops small ones and never shows the `PATH-x` sibling.
#[rstest]
fn status_in_every_format_and_log_under_a_path_newest_first(
    #[values("sqlite", "redb")] backend: &'static str,
) {
    let case = Case::new(backend);
    let p = case.root.join("p");
    let sub = p.join("sub");
    let px = case.root.join("p-x");
    for d in [&sub, &px, &case.root.join("q")] {
        fs::create_dir_all(d).unwrap();
    }
    case.scan(&case.root);

    let row = case.status_of(&case.root);
    assert!(
        row["watcher_pid"].is_null() && row["state"].is_null(),
        "{row}"
    );
    let mut w = case.watch();
    case.wait_live(&mut w);
    let pid = w.pid().to_string();
    let row = case.status_of(&case.root);
    assert_eq!(row["state"], "live");
    assert_eq!(row["watcher_pid"].to_string(), pid);

    let table = ok(&case.run(&["status"]));
    let mut lines = table.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(&header[..2], ["STATE", "PID"], "{table}");
    let line = lines
        .find(|l| l.ends_with(text(&case.root)))
        .unwrap_or_else(|| panic!("{table}"));
    let cells: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(&cells[..2], ["live", pid.as_str()], "{table}");

    let csv = ok(&case.run(&["--format", "csv", "status"]));
    let mut rows = csv.lines();
    let header: Vec<&str> = rows.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let cells: Vec<&str> = rows
        .find(|r| r.starts_with(text(&case.root)))
        .unwrap()
        .split(',')
        .collect();
    assert_eq!(cells[col("state")], "live", "{csv}");
    assert_eq!(cells[col("watcher_pid")], pid, "{csv}");

    // Three batches, each applied before the next.
    let o0 = oracle::compute(&case.root);
    fs::write(p.join("a"), vec![1u8; 8000]).unwrap();
    let o1 = case.converge(&w, &mut BTreeSet::new(), &Churn::new(&p, &p, 1));
    fs::write(sub.join("b"), vec![1u8; 20_000]).unwrap();
    fs::write(px.join("c"), vec![1u8; 50_000]).unwrap();
    let o2 = case.converge(&w, &mut BTreeSet::new(), &Churn::new(&p, &p, 1));
    // An empty file: the counts change, the sizes do not.
    fs::write(sub.join("zero"), b"").unwrap();
    let everything = wait_log(&case, &[text(&p), "--since", "1h"], |e| {
        let newest = e.first().map(|e| e["time_ms"].clone());
        e.iter()
            .take_while(|e| Some(&e["time_ms"]) == newest.as_ref())
            .any(|e| json_path(&e["path"]) == key(&sub) && e["disk_usage_delta"] == 0)
    });
    let delta = |a: &Oracle, b: &Oracle, d: &Path| {
        b.dirs[&key(d)].total_bytes as i64 - a.dirs[&key(d)].total_bytes as i64
    };
    let (d1p, d2p, d2sub) = (
        delta(&o0, &o1, &p),
        delta(&o1, &o2, &p),
        delta(&o1, &o2, &sub),
    );
    assert!(d1p >= 8000 && d2sub >= 20_000);

    let big = case.json(&["log", text(&p), "--since", "1h", "--min-delta", "1KiB"]);
    let entries = big["entries"].as_array().unwrap();
    let got = path_deltas(entries);
    assert_eq!(got.len(), 3, "{big}");
    let mut newest: Vec<(String, i64)> = got[..2].to_vec();
    newest.sort();
    assert_eq!(
        newest,
        [(show(&key(&p)), d2p), (show(&key(&sub)), d2sub)],
        "{big}"
    );
    assert_eq!(got[2], (show(&key(&p)), d1p), "{big}");
    let times: Vec<i64> = entries
        .iter()
        .map(|e| e["time_ms"].as_i64().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|t| t[0] >= t[1]),
        "not newest first: {times:?}"
    );
    assert!(times[1] > times[2], "{times:?}");
    for e in entries {
        assert_eq!(e["kind"], "grew", "{e}");
    }
    // Without --min-delta the size-neutral entries show, newest first.
    assert!(everything.len() > got.len(), "{everything:?}");
    for (path, _) in path_deltas(&everything) {
        assert!(
            path == show(&key(&p)) || path.starts_with(&format!("{}/", text(&p))),
            "{path}"
        );
    }
    // The sibling and the root are in the unfiltered log.
    let all = path_deltas(case.json(&["log"])["entries"].as_array().unwrap());
    assert!(all.iter().any(|(path, _)| *path == text(&px)), "{all:?}");
    assert!(
        all.iter().any(|(path, _)| *path == text(&case.root)),
        "{all:?}"
    );
    // -n keeps the newest; CSV and tables list the same entries.
    let one = case.json(&["log", text(&p), "-n", "1"]);
    assert_eq!(
        path_deltas(one["entries"].as_array().unwrap()),
        path_deltas(&everything[..1])
    );
    let csv = ok(&case.run(&["--format", "csv", "log", text(&p), "--min-delta", "1KiB"]));
    assert_eq!(csv.lines().count(), 1 + 3, "{csv}");
    let table = ok(&case.run(&["log", text(&p), "--min-delta", "1KiB"]));
    assert!(
        table.contains(text(&sub)) && !table.contains(text(&px)),
        "{table}"
    );
    // --since: nothing within the last second, a second later.
    sleep(Duration::from_millis(1100));
    let recent = case.json(&["log", text(&p), "--since", "1s"]);
    assert_eq!(recent["entries"], Value::Array(vec![]), "{recent}");
    w.stop(Signal::TERM);
}

/// While a watcher runs, other processes use the same database on either
/// store: status, size, show, diff, log, snapshots, and a scan of another
/// root; the watcher goes on following changes; after it stops the index
/// answers for both roots.
#[rstest]
fn other_commands_work_while_a_watcher_runs(#[values("sqlite", "redb")] backend: &'static str) {
    let (case, mut w) = watched(backend, &[]);
    let first = oracle::compute(&case.root);
    let mut churn = Churn::new(&case.root, &case.outside, 41);
    let mut seen = BTreeSet::new();
    churn.steps(20);
    let want = case.converge(&w, &mut seen, &churn);
    let v = case.json(&["reconcile"]);
    let id = v["roots"][0]["snapshot"].as_i64().expect("a snapshot");

    assert_eq!(case.status_of(&case.root)["state"], "live");
    let root_key = key(&case.root);
    let shown = case.json(&["show", "-d", "1"]);
    assert_eq!(shown["snapshot"]["id"], id, "{shown}");
    assert_eq!(
        shown["under"]["disk_usage"],
        want.dirs[&root_key].total_bytes
    );
    assert_eq!(
        shown["under"]["apparent_size"],
        want.dirs[&root_key].total_apparent
    );
    let a = case.root.join("a");
    if let Some(e) = want.dirs.get(&key(&a)) {
        let shown = case
            .cmd()
            .args(["--format", "json", "show", "-p"])
            .arg(&a)
            .output()
            .unwrap();
        let shown: Value = serde_json::from_str(&ok(&shown)).unwrap();
        assert_eq!(shown["under"]["disk_usage"], e.total_bytes, "{shown}");
    }
    let diff = case.json(&["diff", "1", &id.to_string()]);
    let root_row = diff["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| json_path(&e["path"]) == root_key)
        .unwrap_or_else(|| panic!("{diff}"));
    let (before, after) = (&first.dirs[&root_key], &want.dirs[&root_key]);
    assert_eq!(
        root_row["disk_usage_delta"].as_i64().unwrap(),
        after.total_bytes as i64 - before.total_bytes as i64
    );
    assert_eq!(
        root_row["apparent_size_delta"].as_i64().unwrap(),
        after.total_apparent as i64 - before.total_apparent as i64
    );
    assert!(
        !case.json(&["log"])["entries"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    ok(&case.run(&["snapshots"]));

    // A scan of another root, from another process.
    let other = case.env.path().join("other");
    fs::create_dir_all(other.join("x/y")).unwrap();
    fs::write(other.join("x/y/f"), vec![5u8; 12_345]).unwrap();
    case.scan(&other);
    assert_eq!(case.snapshot_count(), 3);
    let other_want = oracle::compute(&other);
    let bad = case.size_mismatches(&other_want, &BTreeSet::new(), "indexed");
    assert!(bad.is_empty(), "{}", bad.join("\n"));

    // The watcher goes on.
    churn.steps(20);
    let want = case.converge(&w, &mut seen, &churn);
    ok(&case.run(&["reconcile"]));
    case.assert_stored(&want, "after a scan of another root");
    w.stop(Signal::TERM);
}

/// One database, many roots, one index (DESIGN §4): the index a stopping
/// watcher publishes answers for its root and for every other root of the
/// database.
#[rstest]
fn after_a_watcher_stops_the_index_answers_for_every_root(
    #[values("sqlite", "redb")] backend: &'static str,
) {
    let case = Case::new(backend);
    handmade_tree(&case.root).unwrap();
    // Sorts before the watched root, and after it.
    let others = [case.env.path().join("before"), case.env.path().join("tail")];
    for (i, other) in others.iter().enumerate() {
        fs::create_dir_all(other.join("x/y")).unwrap();
        fs::write(other.join("x/y/f"), vec![5u8; 12_345 * (i + 1)]).unwrap();
        case.scan(other);
    }
    let want = logged_changes(&case, 43, 20);
    let mut trees = vec![(want, case.root.clone())];
    trees.extend(others.iter().map(|o| (oracle::compute(o), o.clone())));
    for (tree, root) in &trees {
        let bad = case.size_mismatches(tree, &BTreeSet::new(), "indexed");
        assert!(bad.is_empty(), "{}:\n{}", root.display(), bad.join("\n"));
    }
}

/// The example watch configuration loads (no unknown key, every value
/// valid), and the systemd unit runs `watch` with it and lets it write
/// where its database is.
#[test]
fn the_watch_deployment_example_loads_and_fits_its_unit() {
    let env = common::Env::new();
    let config = example("watch.toml");
    let out = env
        .cmd()
        .arg("--config")
        .arg(&config)
        .args(["--format", "json", "config"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_str(&ok(&out)).unwrap();
    let lines = v["config"].as_array().unwrap_or_else(|| panic!("{v}"));
    // (value as TOML, where it came from)
    let value = |k: &str| -> (String, String) {
        let l = lines
            .iter()
            .find(|l| l["key"] == k)
            .unwrap_or_else(|| panic!("no {k} in {v}"));
        (
            l["value"].as_str().unwrap().to_owned(),
            l["source"].as_str().unwrap().to_owned(),
        )
    };
    let from_file = |k: &str| {
        let (value, source) = value(k);
        assert!(
            source.contains("watch.toml"),
            "{k} = {value} comes from {source}"
        );
        value.trim_matches('"').to_owned()
    };
    assert_eq!(from_file("watch.reconcile_every"), "1h");
    from_file("watch.journal_max_age");
    assert!(!from_file("watch.roots").is_empty());
    let db = from_file("db");
    // The watcher accepts the [watch] section too.
    let out = env
        .cmd()
        .arg("--config")
        .arg(&config)
        .args(["watch", "--help"])
        .output()
        .unwrap();
    ok(&out);

    let unit = fs::read_to_string(example("disktracker-watch.service")).unwrap();
    let setting = |k: &str| -> Vec<String> {
        unit.lines()
            .filter_map(|l| l.strip_prefix(&format!("{k}=")))
            .map(str::to_owned)
            .collect()
    };
    let exec = setting("ExecStart").join(" ");
    assert!(
        exec.contains("--config /etc/disktracker/watch.toml") && exec.ends_with(" watch"),
        "{exec}"
    );
    assert_eq!(setting("Type"), ["simple"]);
    assert_eq!(setting("KillSignal"), ["SIGTERM"]);
    assert_eq!(setting("ProtectSystem"), ["strict"]);
    let writable = setting("ReadWritePaths").join(" ");
    let state_dir = Path::new(&db).parent().unwrap();
    assert!(
        writable
            .split_whitespace()
            .any(|p| state_dir.starts_with(p)),
        "the database {db} is not under ReadWritePaths={writable}"
    );
}

/// The unit passes `systemd-analyze verify` (with ExecStart pointed at the
/// binary under test and the example configuration).
#[test]
#[ignore = "needs systemd-analyze"]
fn the_systemd_unit_verifies() {
    let env = common::Env::new();
    let unit = fs::read_to_string(example("disktracker-watch.service")).unwrap();
    let exec = format!(
        "ExecStart={} --config {} watch",
        env!("CARGO_BIN_EXE_disktracker"),
        example("watch.toml").display()
    );
    let unit: Vec<String> = unit
        .lines()
        .map(|l| {
            if l.starts_with("ExecStart=") {
                exec.clone()
            } else {
                l.to_owned()
            }
        })
        .collect();
    let path = env.path().join("disktracker-watch.service");
    fs::write(&path, unit.join("\n")).unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).trim().is_empty(), "{}", stderr(&out));
}
