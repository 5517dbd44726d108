//! Behaviour across processes: a store held by another process is `Locked`,
//! and a process killed in the middle of writing a snapshot leaves the last
//! committed state intact and readable.
//!
//! The child processes are this test binary run again with `CHILD_ENV` set,
//! selecting [`child_entry`], which does the child's part and then waits to
//! be killed.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::*;
use disktracker::{ErrorKind, SnapshotStore};

const CHILD_ENV: &str = "DISKTRACKER_REDB_TEST_CHILD";
const PATH_ENV: &str = "DISKTRACKER_REDB_TEST_PATH";
const ROWS: usize = 40_000;
/// What a child prints when it is ready (libtest may print on the same line first).
const READY: &str = "CHILD-READY";

/// Runs as a child only (see the module docs); as a plain test it does nothing.
#[test]
fn child_entry() {
    let Ok(role) = std::env::var(CHILD_ENV) else {
        return;
    };
    let path = std::path::PathBuf::from(std::env::var(PATH_ENV).unwrap());
    let mut store = open(&path);
    let mut out = std::io::stdout();
    match role.as_str() {
        "hold" => {
            writeln!(out, "{READY}").unwrap();
        }
        "crash-mid-snapshot" => {
            let mut w = store.begin_snapshot(&meta(b"/")).unwrap();
            for (i, p) in synthetic_paths(ROWS).iter().enumerate() {
                w.write_dir(p, 6, &stats(i as u64)).unwrap();
            }
            // Everything is written but not committed when the parent kills us.
            writeln!(out, "{READY}").unwrap();
            out.flush().unwrap();
            std::thread::sleep(std::time::Duration::from_secs(60));
            drop(w);
        }
        other => panic!("unknown child role {other}"),
    }
    out.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_secs(60));
}

/// Starts a child in `role` on `path` and waits until it says it is ready.
fn spawn(role: &str, path: &Path) -> Child {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, role)
        .env(PATH_ENV, path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap());
    loop {
        line.clear();
        assert!(
            lines.read_line(&mut line).unwrap() > 0,
            "child {role} exited before it was ready"
        );
        if line.trim_end().ends_with(READY) {
            break;
        }
    }
    child
}

fn kill(mut child: Child) {
    child.kill().unwrap(); // SIGKILL: no destructors, no clean close
    child.wait().unwrap();
}

#[test]
fn a_store_held_by_another_process_is_locked() {
    let (_dir, path) = temp_store();
    drop(open(&path));
    let child = spawn("hold", &path);
    for read_only in [false, true] {
        let err = try_open(&path, read_only).unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::Locked,
            "read_only={read_only}: {err}"
        );
        assert!(
            err.to_string().contains("another disktracker is using"),
            "{err}"
        );
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
    }
    kill(child);
    // The lock dies with the process.
    drop(open(&path));
}

#[test]
fn a_crash_mid_snapshot_leaves_the_committed_state() {
    let (_dir, path) = temp_store();
    let (kept, rows) = {
        let mut store = open(&path);
        let rows = records(&[b"/", b"/a", b"/a/b", b"/c"]);
        (
            write_snapshot(&mut store, b"/", &rows),
            store.read_tree(1, None).unwrap(),
        )
    };
    kill(spawn("crash-mid-snapshot", &path));

    // redb flags the file while a writer has it open; a read-only open runs
    // redb's crash recovery first (a writable open, as SQLite's readers roll
    // back a hot journal) and then reads the committed state.
    let ro = open_ro(&path).unwrap();
    assert_eq!(
        ro.snapshots()
            .unwrap()
            .iter()
            .map(|s| s.id)
            .collect::<Vec<_>>(),
        [kept]
    );
    assert_eq!(ro.read_tree(kept, None).unwrap(), rows);
    drop(ro);
    assert_eq!(
        raw_dir_rows(&path),
        rows.len() as u64,
        "rows of the uncommitted snapshot remain"
    );

    // Once recovered, a read-only open changes nothing.
    let before = std::fs::read(&path).unwrap();
    let ro = open_ro(&path).unwrap();
    assert_eq!(ro.read_tree(kept, None).unwrap(), rows);
    drop(ro);
    assert_eq!(std::fs::read(&path).unwrap(), before);

    let mut store = open(&path);
    assert_eq!(
        store
            .snapshots()
            .unwrap()
            .iter()
            .map(|s| s.id)
            .collect::<Vec<_>>(),
        [kept]
    );
    assert_eq!(store.read_tree(kept, None).unwrap(), rows);
    let next = write_snapshot(&mut store, b"/", &records(&[b"/", b"/new"]));
    assert!(next > kept);
    assert_eq!(
        visited(&store, next, None),
        [b"/".to_vec(), b"/new".to_vec()]
    );
}
