//! Bad input gets a one-line error, a documented exit code, no panic, and
//! leaves what is stored intact.
// A failed unwrap in a test or benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;

use common::{Env, Paused, fails_with, ok, stderr};
use disktracker_testkit::fixtures::handmade_tree;
use rstest::rstest;

/// Exit codes, as documented in the README.
const USAGE: i32 = 2;
const NOT_FOUND: i32 = 3;
const CORRUPT: i32 = 4;
const CONFIG: i32 = 6;
const PERMISSION: i32 = 7;

fn env_with_snapshot() -> (Env, String) {
    let env = Env::new();
    let root = env.path().join("tree");
    handmade_tree(&root).unwrap();
    let root = root.to_string_lossy().into_owned();
    ok(&env.run(&["--quiet", "scan", &root]));
    assert_eq!(env.snapshots("sqlite").len(), 1);
    (env, root)
}

#[rstest]
#[case::missing_root(&["scan", "/nonexistent/dir"], NOT_FOUND, "/nonexistent/dir")]
#[case::unknown_backend(&["--backend", "oracle", "scan", "."], USAGE, "unknown store \"oracle\"")]
#[case::unknown_walker(&["--walker", "find", "scan", "."], USAGE, "unknown walker \"find\"")]
#[case::unknown_format(&["--format", "yaml", "snapshots"], USAGE, "unknown reporter \"yaml\"")]
#[case::unknown_snapshot(&["show", "999"], NOT_FOUND, "no snapshot 999")]
#[case::unknown_snapshot_delete(&["snapshots", "delete", "1", "999"], NOT_FOUND, "no snapshot 999")]
#[case::bad_exclude(&["scan", "--exclude", "a[", "."], USAGE, "a[")]
#[case::path_outside(&["show", "--path", "/usr"], NOT_FOUND, "/usr")]
#[case::too_many_threads(&["--threads", "2000", "scan", "."], USAGE, "2000 threads requested (from flag)")]
#[case::bad_size_flag(&["diff", "--min-delta", "99999999999999999999999"], USAGE, "larger than the largest size")]
fn bad_arguments(#[case] args: &[&str], #[case] code: i32, #[case] says: &str) {
    let (env, _) = env_with_snapshot();
    let before = env.snapshots("sqlite");
    let o = env.run(args);
    // clap's own errors (bad flag values) come with a usage note after the error line.
    let err = if args.contains(&"--min-delta") {
        assert_eq!(o.status.code(), Some(code));
        let e = stderr(&o);
        assert!(!e.contains("panicked"), "{e}");
        e
    } else {
        fails_with(&o, code)
    };
    assert!(err.contains(says), "{err}");
    assert_eq!(
        env.snapshots("sqlite"),
        before,
        "stored snapshots unchanged"
    );
}

#[test]
fn root_that_is_a_file_is_refused() {
    let env = Env::new();
    let file = env.path().join("plain.txt");
    fs::write(&file, "x").unwrap();
    let err = fails_with(&env.run(&["scan", file.to_str().unwrap()]), USAGE);
    assert!(
        err.contains("not a directory") && err.contains("plain.txt"),
        "{err}"
    );
    assert!(!env.db.exists());
}

#[test]
fn clap_usage_errors_exit_2() {
    let env = Env::new();
    let o = env.run(&["scan", "--no-such-flag"]);
    assert_eq!(o.status.code(), Some(USAGE));
    assert!(!stderr(&o).contains("panicked"));
}

#[test]
fn missing_root_creates_no_database() {
    let env = Env::new();
    fails_with(&env.run(&["scan", "/nonexistent/dir"]), NOT_FOUND);
    assert!(!env.db.exists());
}

#[test]
fn corrupt_database_is_refused_and_left_untouched() {
    let env = Env::new();
    fs::create_dir_all(env.db.parent().unwrap()).unwrap();
    let garbage: Vec<u8> = (0..20_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    fs::write(&env.db, &garbage).unwrap();
    let root = env.path().join("tree");
    handmade_tree(&root).unwrap();
    for args in [
        vec!["scan", root.to_str().unwrap()],
        vec!["snapshots"],
        vec!["show"],
    ] {
        let err = fails_with(&env.run(&args), CORRUPT);
        assert!(
            err.contains(&*env.db.to_string_lossy()),
            "names the file: {err}"
        );
        assert_eq!(
            fs::read(&env.db).unwrap(),
            garbage,
            "file untouched by {args:?}"
        );
    }
}

#[test]
fn truncated_database_is_refused_and_left_untouched() {
    let (env, root) = env_with_snapshot();
    // Fold the WAL in, then cut the file in half.
    drop(env.store("sqlite"));
    let full = fs::read(&env.db).unwrap();
    let half = &full[..full.len() / 2];
    for ext in ["db-wal", "db-shm"] {
        let _ = fs::remove_file(env.db.with_extension(ext));
    }
    fs::write(&env.db, half).unwrap();
    let o = env.run(&["scan", &root]);
    assert_ne!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"));
    assert_eq!(fs::read(&env.db).unwrap(), half);
}

#[test]
fn unknown_config_key_names_key_and_file() {
    let env = Env::new();
    let cfg = env.path().join("c.toml");
    fs::write(&cfg, "[scan]\nthreds = 4\n").unwrap();
    let err = fails_with(
        &env.run(&["--config", cfg.to_str().unwrap(), "snapshots"]),
        CONFIG,
    );
    assert!(
        err.contains("scan.threds") && err.contains(&*cfg.to_string_lossy()),
        "{err}"
    );
    let err = fails_with(
        &env.cmd()
            .env("DISKTRACKER_FORMATT", "json")
            .arg("snapshots")
            .output()
            .unwrap(),
        CONFIG,
    );
    assert!(err.contains("DISKTRACKER_FORMATT"), "{err}");
}

#[test]
fn unknown_backend_from_config_says_where_it_came_from() {
    let env = Env::new();
    let cfg = env.path().join("c.toml");
    fs::write(&cfg, "backend = \"mysql\"\n").unwrap();
    let err = fails_with(
        &env.run(&["--config", cfg.to_str().unwrap(), "snapshots"]),
        USAGE,
    );
    assert!(
        err.contains("mysql") && err.contains(&*cfg.to_string_lossy()),
        "{err}"
    );
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Every file of the state directory and the directory itself read-only
/// (0444 / 0555): readable, but not writable by an unprivileged owner.
fn set_modes(state: &std::path::Path, files: u32, dir: u32) {
    fs::set_permissions(state, fs::Permissions::from_mode(0o700)).unwrap();
    for entry in fs::read_dir(state).unwrap() {
        let p = entry.unwrap().path();
        fs::set_permissions(&p, fs::Permissions::from_mode(files)).unwrap();
    }
    fs::set_permissions(state, fs::Permissions::from_mode(dir)).unwrap();
}

/// Checks a refused scan of a read-only database: exit 7, one line naming
/// the location, the stored snapshot intact.
#[track_caller]
fn refused_and_intact(env: &Env, backend: &str, o: &std::process::Output) {
    let err = fails_with(o, PERMISSION);
    let state = env.db.parent().unwrap();
    assert!(
        err.contains(&*state.to_string_lossy()),
        "names the location: {err}"
    );
    assert_eq!(env.snapshots(backend).len(), 1, "existing snapshot intact");
}

fn env_with_snapshot_on(backend: &str) -> (Env, String) {
    let env = Env::new();
    let root = env.path().join("tree");
    handmade_tree(&root).unwrap();
    let root = root.to_string_lossy().into_owned();
    ok(&env.run(&["--backend", backend, "--quiet", "scan", &root]));
    (env, root)
}

/// A database the user may read but not write. Root ignores permission
/// bits, so as root the command runs as `nobody` (the files stay readable).
#[rstest]
fn read_only_database_location_fails_cleanly_and_keeps_snapshots(
    #[values("sqlite", "redb")] backend: &str,
) {
    let (env, root) = env_with_snapshot_on(backend);
    let state = env.db.parent().unwrap();
    set_modes(state, 0o444, 0o555);
    let mut cmd = env.cmd();
    cmd.args(["--backend", backend, "--quiet", "scan", &root]);
    if is_root() {
        cmd.uid(65534).gid(65534);
    }
    let o = cmd.output().unwrap();
    set_modes(state, 0o600, 0o700);
    refused_and_intact(&env, backend, &o);
}

/// The same for root itself: an immutable state directory and files
/// (`chattr +i`), which even root cannot write.
#[rstest]
#[ignore = "needs root and a file system that supports chattr +i"]
fn immutable_database_location_fails_cleanly_for_root(#[values("sqlite", "redb")] backend: &str) {
    assert!(is_root(), "run as root");
    let (env, root) = env_with_snapshot_on(backend);
    let state = env.db.parent().unwrap().to_path_buf();
    let chattr = |flag: &str| {
        let mut files: Vec<std::path::PathBuf> = fs::read_dir(&state)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.push(state.clone());
        let st = std::process::Command::new("chattr")
            .arg(flag)
            .args(&files)
            .status()
            .expect("chattr is installed");
        assert!(st.success(), "chattr {flag} failed");
    };
    chattr("+i");
    let o = env
        .cmd()
        .args(["--backend", backend, "--quiet", "scan", &root])
        .output()
        .unwrap();
    chattr("-i");
    refused_and_intact(&env, backend, &o);
}

#[test]
fn deleting_leaves_others_and_reports_ids() {
    let (env, root) = env_with_snapshot();
    ok(&env.run(&["--quiet", "scan", &root]));
    let snaps = env.snapshots("sqlite");
    assert_eq!(snaps.len(), 2);
    ok(&env.run(&["snapshots", "delete", &snaps[0].id.to_string()]));
    let left = env.snapshots("sqlite");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, snaps[1].id);
    let store = env.store("sqlite");
    let gone = store.read_tree(snaps[0].id, None).unwrap_err();
    assert_eq!(gone.kind(), disktracker::ErrorKind::NotFound);
    assert_eq!(
        store.read_tree(snaps[1].id, None).unwrap().len() as u64,
        snaps[1].meta.dir_count
    );
}

/// Two deletions of overlapping snapshots at once (`snapshots delete` or
/// `prune`): the second finds one of its snapshots already gone when it
/// deletes. Every snapshot it asked for is gone then, as asked, so it
/// succeeds and says what the other process deleted; it used to exit 8
/// with its own part of the deletion committed.
#[rstest]
#[case::delete(&["snapshots", "delete", "1", "2"])]
#[case::prune(&["snapshots", "prune", "--keep", "1"])]
fn a_snapshot_deleted_meanwhile_by_another_process_is_not_a_failure(#[case] args: &[&str]) {
    let (env, root) = env_with_snapshot();
    for _ in 0..2 {
        ok(&env.run(&["--quiet", "scan", &root]));
    }
    let ids: Vec<i64> = env.snapshots("sqlite").iter().map(|s| s.id).collect();
    assert_eq!(ids, [1, 2, 3]);
    let mut cmd = env.cmd();
    cmd.args(args);
    let mut paused = Paused::at(cmd, "snapshots-chosen");
    ok(&env.run(&["snapshots", "delete", "1"]));
    paused.resume();
    let mut rest = String::new();
    paused.stderr.read_to_string(&mut rest).unwrap();
    let status = paused.child.wait().unwrap();
    assert!(status.success(), "{status:?}: {rest}");
    assert!(
        rest.contains("1 of these snapshots were deleted by another process meanwhile"),
        "{rest}"
    );
    let left: Vec<i64> = env.snapshots("sqlite").iter().map(|s| s.id).collect();
    assert_eq!(left, [3]);
}

const LOCKED: i32 = 5;

#[test]
fn locked_redb_database_is_reported_and_nothing_is_lost() {
    let env = Env::new();
    let root = env.path().join("tree");
    handmade_tree(&root).unwrap();
    let root = root.to_str().unwrap();
    ok(&env.run(&["--backend", "redb", "--quiet", "scan", root]));
    // redb locks the whole file: a writable handle held here is "another disktracker".
    let plugin = disktracker::registry::stores()
        .unwrap()
        .get("redb")
        .unwrap();
    let path = env.db.with_extension("redb");
    let holder = (plugin.open)(&disktracker::StoreOptions::file(path.clone())).unwrap();
    let err = fails_with(&env.run(&["--backend", "redb", "scan", root]), LOCKED);
    assert!(
        err.contains(&*path.to_string_lossy()),
        "names the file: {err}"
    );
    drop(holder);
    assert_eq!(env.snapshots("redb").len(), 1, "nothing lost");
}

#[test]
fn locked_sqlite_database_is_reported_after_the_busy_timeout() {
    let (env, root) = env_with_snapshot();
    // Another writer holding the write lock for longer than the busy timeout.
    let conn = rusqlite::Connection::open(&env.db).unwrap();
    conn.execute_batch("BEGIN IMMEDIATE; DELETE FROM diff_cache;")
        .unwrap();
    let err = fails_with(&env.run(&["--quiet", "scan", &root]), LOCKED);
    assert!(
        err.contains(&*env.db.to_string_lossy()),
        "names the file: {err}"
    );
    conn.execute_batch("ROLLBACK").unwrap();
    drop(conn);
    assert_eq!(env.snapshots("sqlite").len(), 1, "nothing lost");
}

#[rstest]
fn read_commands_on_a_missing_database_are_not_found(
    #[values(&["snapshots"][..], &["show"], &["diff"], &["explain", "/"], &["size", "/"])]
    args: &[&str],
) {
    let env = Env::new();
    let err = fails_with(&env.run(args), NOT_FOUND);
    assert!(
        err.contains(&*env.db.to_string_lossy()) && err.contains("disktracker scan"),
        "{err}"
    );
    assert!(!env.db.exists(), "nothing created");
}

#[test]
fn bad_sizes_and_plugin_keys_in_config_files_name_key_and_file() {
    let env = Env::new();
    let cfg = env.path().join("c.toml");
    for (text, says) in [
        ("[diff]\nmin_delta = \"10 parsecs\"\n", "diff.min_delta"),
        ("[retention]\nmax_age = \"soon\"\n", "retention.max_age"),
        (
            "[plugins.sqlite]\nbusy_timout = \"5s\"\n",
            "plugins.sqlite.busy_timout",
        ),
        ("[plugins.oracle]\nurl = \"x\"\n", "plugins.oracle.url"),
        ("[index]\nbackend = \"btree\"\n", "btree"),
    ] {
        fs::write(&cfg, text).unwrap();
        let o = env.run(&["--config", cfg.to_str().unwrap(), "size", "/"]);
        let code = if says == "btree" { USAGE } else { CONFIG };
        let err = fails_with(&o, code);
        assert!(
            err.contains(says) && err.contains(&*cfg.to_string_lossy()),
            "{text}: {err}"
        );
    }
}

#[test]
fn an_unreadable_scan_root_is_refused_and_nothing_is_stored() {
    let (env, _) = env_with_snapshot();
    let root = env.path().join("secret");
    fs::create_dir_all(root.join("inner")).unwrap();
    fs::write(root.join("inner/f"), "x").unwrap();
    fs::set_permissions(&root, fs::Permissions::from_mode(0o000)).unwrap();
    let mut cmd = env.cmd();
    cmd.args(["--quiet", "scan", root.to_str().unwrap()]);
    if is_root() {
        // Root reads everything: run as nobody, with a home of its own.
        cmd.uid(65534).gid(65534).env("HOME", "/nonexistent");
    }
    let o = cmd.output().unwrap();
    fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
    let err = fails_with(&o, PERMISSION);
    assert!(
        err.contains("cannot read scan root") && err.contains(root.to_str().unwrap()),
        "{err}"
    );
    assert_eq!(env.snapshots("sqlite").len(), 1, "nothing stored");
}
