//! `--db` means what it says: FILE is exactly that file, DIR means the
//! default file name inside it, an existing database is opened by the store
//! that recognises its header, and what is not a file or directory is refused.
// A failed unwrap in a test or benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::path::Path;

use common::{Env, fails_with, ok};
use disktracker_testkit::fixtures::handmade_tree;
use rstest::rstest;
use serde_json::Value;

const USAGE: i32 = 2;
const SQLITE_MAGIC: &[u8] = b"SQLite format 3\0";
const REDB_MAGIC: &[u8] = b"redb\x1a\x0a\xa9\x0d\x0a";

fn setup() -> (Env, String) {
    let env = Env::new();
    let root = env.path().join("tree");
    handmade_tree(&root).unwrap();
    (env, root.to_string_lossy().into_owned())
}

fn count(env: &Env, args: &[&str]) -> usize {
    let mut a = vec!["--format", "json"];
    a.extend_from_slice(args);
    a.push("snapshots");
    let doc: Value = serde_json::from_str(&ok(&env.run(&a))).unwrap();
    doc["snapshots"].as_array().unwrap().len()
}

fn header(p: &Path) -> Vec<u8> {
    fs::read(p).unwrap()[..16].to_vec()
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[rstest]
fn a_backup_file_is_opened_by_its_own_name_and_store(#[values("sqlite", "redb")] backend: &str) {
    let (env, root) = setup();
    for _ in 0..3 {
        ok(&env.run(&["--backend", backend, "--quiet", "scan", &root]));
    }
    let store = if backend == "sqlite" {
        env.db.clone()
    } else {
        env.db.with_extension("redb")
    };
    if backend == "sqlite" {
        // Fold SQLite's log into the file, as a backup tool would.
        let conn = rusqlite::Connection::open(&store).unwrap();
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
    }
    let bk = env.path().join("bk");
    fs::create_dir(&bk).unwrap();
    let backup = bk.join("data.db.bak");
    fs::copy(&store, &backup).unwrap();
    // No --backend: the header says which store it is.
    assert_eq!(count(&env, &["--db", backup.to_str().unwrap()]), 3);
    // Only the file itself (and SQLite's -wal/-shm of it): no data.db.db.
    let got = names(&bk);
    assert!(got.iter().all(|n| n.starts_with("data.db.bak")), "{got:?}");
}

#[rstest]
fn a_new_file_is_created_exactly_where_named(#[values("sqlite", "redb")] backend: &str) {
    let (env, root) = setup();
    let dir = env.path().join("x");
    let file = dir.join("mydata.sqlite");
    let db = file.to_str().unwrap();
    ok(&env.run(&["--db", db, "--backend", backend, "--quiet", "scan", &root]));
    let magic = if backend == "sqlite" {
        SQLITE_MAGIC
    } else {
        REDB_MAGIC
    };
    assert!(
        header(&file).starts_with(magic),
        "{backend} file at the name given"
    );
    let got = names(&dir);
    assert!(got.contains(&"mydata.mmap".to_owned()), "{got:?}");
    // The database (and SQLite's -wal/-shm), the index (and its lock): no
    // renamed copies such as mydata.db or mydata.redb.
    assert!(
        got.iter()
            .all(|n| n.starts_with("mydata.sqlite") || n.starts_with("mydata.mmap")),
        "{got:?}"
    );
    assert_eq!(count(&env, &["--db", db]), 1);
    assert!(
        !env.db.parent().unwrap().exists(),
        "the default location untouched"
    );
}

#[rstest]
fn a_directory_means_the_default_name_inside_it(#[values("sqlite", "redb")] backend: &str) {
    let (env, root) = setup();
    let dir = env.path().join("some-directory");
    fs::create_dir(&dir).unwrap();
    let d = dir.to_str().unwrap();
    ok(&env.run(&["--db", d, "--backend", backend, "--quiet", "scan", &root]));
    let file = dir.join(if backend == "sqlite" {
        "data.db"
    } else {
        "data.redb"
    });
    assert!(file.is_file(), "{}", file.display());
    assert!(dir.join("data.mmap").is_file());
    assert!(
        !env.path().join("some-directory.db").exists()
            && !env.path().join("some-directory.mmap").exists(),
        "nothing beside the directory"
    );
    assert_eq!(count(&env, &["--db", d, "--backend", backend]), 1);
}

#[test]
fn devices_fifos_and_sockets_are_refused() {
    let (env, root) = setup();
    let fifo = env.path().join("fifo");
    let st = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(st.success());
    let sock = env.path().join("sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    for (path, says) in [
        (Path::new("/dev/null"), "a character device"),
        (fifo.as_path(), "a FIFO"),
        (sock.as_path(), "a socket"),
    ] {
        for backend in ["sqlite", "redb"] {
            let p = path.to_str().unwrap();
            let err = fails_with(
                &env.run(&["--db", p, "--backend", backend, "scan", &root]),
                USAGE,
            );
            assert!(err.contains(says) && err.contains(p), "{err}");
            for ext in ["db", "db-wal", "mmap", "redb"] {
                let beside = format!("{p}.{ext}");
                assert!(!Path::new(&beside).exists(), "{beside} created");
            }
        }
    }
}

#[test]
fn a_parent_that_is_a_file_is_named() {
    let (env, root) = setup();
    let file = env.path().join("plain");
    fs::write(&file, "x").unwrap();
    let db = file.join("x.db");
    let err = fails_with(
        &env.run(&["--db", db.to_str().unwrap(), "scan", &root]),
        USAGE,
    );
    assert!(
        err.contains("is a file, not a directory") && err.contains(file.to_str().unwrap()),
        "{err}"
    );
    assert!(!err.contains("File exists"), "{err}");
}

#[test]
fn backend_matters_only_when_creating() {
    let (env, root) = setup();
    let file = env.path().join("store.data");
    let db = file.to_str().unwrap();
    ok(&env.run(&["--db", db, "--backend", "redb", "--quiet", "scan", &root]));
    assert!(header(&file).starts_with(REDB_MAGIC));
    // Without --backend the header decides; scans go to the same file.
    ok(&env.run(&["--db", db, "--quiet", "scan", &root]));
    assert_eq!(count(&env, &["--db", db]), 2);
    // Naming the other store is an error that says which store it is.
    let err = fails_with(
        &env.run(&["--db", db, "--backend", "sqlite", "snapshots"]),
        USAGE,
    );
    assert!(
        err.contains("is a redb database, not sqlite") && err.contains("--backend redb"),
        "{err}"
    );
    assert!(header(&file).starts_with(REDB_MAGIC), "untouched");
}

/// A database other users can read gets a warning naming its mode and the
/// `chmod` to run; the command still works. One the store created (0600)
/// gets none.
#[rstest]
fn a_database_others_can_read_is_warned_about(#[values("sqlite", "redb")] backend: &str) {
    use std::os::unix::fs::PermissionsExt;
    let (env, root) = setup();
    let db = env.path().join(format!("shared.{backend}"));
    let db_arg = db.to_str().unwrap();
    ok(&env.run(&["--backend", backend, "--db", db_arg, "scan", &root]));
    let o = env.run(&["--db", db_arg, "snapshots"]);
    ok(&o);
    assert!(common::stderr(&o).is_empty(), "{}", common::stderr(&o));
    fs::set_permissions(&db, fs::Permissions::from_mode(0o644)).unwrap();
    let o = env.run(&["--db", db_arg, "snapshots"]);
    ok(&o);
    let err = common::stderr(&o);
    assert!(
        err.contains("mode 0644") && err.contains(&format!("chmod 600 {db_arg}")),
        "{err}"
    );
}

#[test]
fn a_log_left_without_its_database_is_not_replayed_into_a_new_one() {
    let (env, root) = setup();
    ok(&env.run(&["--backend", "sqlite", "--quiet", "scan", &root]));
    let mut log = env.db.clone().into_os_string();
    log.push("-wal");
    let log = std::path::PathBuf::from(log);
    let kept = fs::read(&log).unwrap();
    assert!(!kept.is_empty(), "a scan leaves its snapshot in the log");
    // `rm data.db`, forgetting the log beside it.
    fs::remove_file(&env.db).unwrap();
    let err = fails_with(
        &env.run(&["--backend", "sqlite", "--quiet", "scan", &root]),
        8,
    );
    assert!(
        err.contains("write-ahead log") && err.contains("-wal"),
        "{err}"
    );
    assert!(!env.db.exists(), "no new database over the log");
    assert_eq!(fs::read(&log).unwrap(), kept, "the log is untouched");
    // Once the user removes it, a new database starts empty.
    fs::remove_file(&log).unwrap();
    ok(&env.run(&["--backend", "sqlite", "--quiet", "scan", &root]));
    assert_eq!(count(&env, &[]), 1);
}
