//! The database file cannot be planted or misnamed (issue 9, findings 7
//! and 9): what creating and opening do with symbolic links, empty files,
//! sockets, a parent that is a file, and what a full disk says.
// A failed unwrap in a test or benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use disktracker::{DirStats, ErrorKind, SnapshotMeta, SnapshotStore, StoreOptions};
use disktracker_store_sqlite::SqliteStore;

fn open(path: &Path, read_only: bool) -> disktracker::Result<SqliteStore> {
    SqliteStore::open(&StoreOptions::file(path.to_path_buf()).read_only(read_only))
}

fn open_err(path: &Path, read_only: bool) -> disktracker::Error {
    match open(path, read_only) {
        Ok(_) => panic!(
            "opened {} (read_only: {read_only}), which must be refused",
            path.display()
        ),
        Err(e) => e,
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn write_snapshot(store: &mut SqliteStore, root: &[u8], dirs: usize) -> disktracker::Result<i64> {
    let meta = SnapshotMeta {
        root: root.to_vec(),
        host: "h".into(),
        walker: "w".into(),
        ..SnapshotMeta::default()
    };
    let mut w = store.begin_snapshot(&meta)?;
    for i in 0..dirs {
        let mut p = root.to_vec();
        p.extend_from_slice(format!("/a-fairly-long-directory-name-{i:08}").as_bytes());
        w.write_dir(&p, 1, &DirStats::default())?;
    }
    w.commit()
}

#[test]
fn creating_leaves_only_the_database_and_its_log() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("data.db");
    let mut store = open(&path, false).unwrap();
    write_snapshot(&mut store, b"/r", 10).unwrap();
    drop(store);
    assert_eq!(
        names_in(tmp.path()),
        ["data.db", "data.db-shm", "data.db-wal"],
        "no temporary file is left behind"
    );
    assert_eq!(mode(&path), 0o600);
}

#[test]
fn an_empty_file_at_the_path_is_refused_and_left_as_it_was() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("data.db");
    std::fs::write(&path, b"").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    for read_only in [false, true] {
        let err = open_err(&path, read_only);
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains("data.db") && msg.contains("empty file"),
            "names the file and says what is wrong: {msg}"
        );
    }
    assert_eq!(std::fs::read(&path).unwrap(), b"", "still empty");
    assert_eq!(mode(&path), 0o644, "its mode unchanged");
    assert_eq!(
        names_in(tmp.path()),
        ["data.db"],
        "nothing created beside it"
    );
}

#[test]
fn a_link_to_an_empty_file_does_not_make_it_a_database() {
    let tmp = tempfile::tempdir().unwrap();
    let victim = tmp.path().join("victim");
    std::fs::write(&victim, b"").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
    let path = tmp.path().join("data.db");
    symlink(&victim, &path).unwrap();
    let err = open_err(&path, false);
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert!(err.to_string().contains("empty file"), "{err}");
    assert_eq!(std::fs::read(&victim).unwrap(), b"");
    assert_eq!(mode(&victim), 0o644);
    assert_eq!(names_in(tmp.path()), ["data.db", "victim"]);
}

#[test]
fn a_dangling_link_at_the_path_is_never_followed_to_create() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("elsewhere.db");
    let path = tmp.path().join("data.db");
    symlink(&target, &path).unwrap();
    let err = open_err(&path, false);
    assert_eq!(err.kind(), ErrorKind::Permission, "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("data.db")
            && msg.contains("symbolic link")
            && msg.contains("elsewhere.db")
            && msg.contains("does not exist"),
        "says what is wrong: {msg}"
    );
    assert!(msg.contains("remove the link"), "says what to do: {msg}");
    let err = open_err(&path, true);
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert!(!target.exists(), "nothing created at the link's target");
    assert_eq!(names_in(tmp.path()), ["data.db"]);
}

#[test]
fn a_link_of_ones_own_to_a_database_is_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let real = tmp.path().join("real.db");
    let id = write_snapshot(&mut open(&real, false).unwrap(), b"/r", 3).unwrap();
    let link = tmp.path().join("data.db");
    symlink(&real, &link).unwrap();
    for read_only in [false, true] {
        let store = open(&link, read_only).unwrap();
        assert_eq!(store.read_tree(id, None).unwrap().len(), 3);
        assert_eq!(store.location().file(), Some(link.as_path()));
    }
    // SQLite keeps the log beside the file the link names.
    assert!(!sidecar(&link, "-wal").exists());
    assert!(sidecar(&real, "-wal").exists());
}

#[test]
fn a_link_at_the_log_or_shared_memory_file_is_refused_naming_it() {
    for suffix in ["-shm", "-wal"] {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("data.db");
        write_snapshot(&mut open(&path, false).unwrap(), b"/r", 3).unwrap();
        let side = sidecar(&path, suffix);
        // A checkpoint copies the log first, so removing it loses nothing.
        drop(open(&path, false).unwrap().reclaim_space());
        let _ = std::fs::remove_file(&side);
        let target = tmp.path().join("target");
        std::fs::write(&target, b"precious").unwrap();
        symlink(&target, &side).unwrap();
        for read_only in [false, true] {
            let err = open_err(&path, read_only);
            assert_eq!(err.kind(), ErrorKind::Permission, "{suffix}: {err}");
            let msg = err.to_string();
            assert!(
                msg.contains(&format!("data.db{suffix}")) && msg.contains("symbolic link"),
                "{suffix}: names the file and the problem: {msg}"
            );
            assert!(
                msg.contains("remove") && !msg.contains("directory exists"),
                "{suffix}: says what to do: {msg}"
            );
        }
        assert_eq!(std::fs::read(&target).unwrap(), b"precious");
    }
}

#[test]
fn a_parent_that_is_a_file_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("notes.txt");
    std::fs::write(&file, b"x").unwrap();
    for path in [file.join("data.db"), file.join("sub/deeper/data.db")] {
        for read_only in [false, true] {
            let err = open_err(&path, read_only);
            assert_eq!(err.kind(), ErrorKind::Usage, "{}: {err}", path.display());
            let msg = err.to_string();
            assert!(
                msg.contains("notes.txt is a file, not a directory"),
                "{}: {msg}",
                path.display()
            );
            assert!(
                !msg.contains("File exists") && msg.contains("--db"),
                "{msg}"
            );
        }
    }
    assert_eq!(std::fs::read(&file).unwrap(), b"x");
}

#[test]
fn a_socket_at_the_path_is_not_a_database() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("data.db");
    let _listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let err = open_err(&path, false);
    assert_eq!(err.kind(), ErrorKind::Usage, "{err}");
    assert!(err.to_string().contains("not a regular file"), "{err}");
    assert_eq!(names_in(tmp.path()), ["data.db"]);
}

/// As root: a link another user owns is not followed, even to a good
/// database (in a sticky directory, anyone can plant one for root).
#[test]
#[ignore = "needs root"]
fn a_link_owned_by_another_user_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let real = tmp.path().join("real.db");
    write_snapshot(&mut open(&real, false).unwrap(), b"/r", 3).unwrap();
    let before = std::fs::read(&real).unwrap();
    let link = tmp.path().join("data.db");
    symlink(&real, &link).unwrap();
    std::os::unix::fs::lchown(&link, Some(65534), Some(65534)).expect("lchown needs root");
    for read_only in [false, true] {
        let err = open_err(&link, read_only);
        assert_eq!(err.kind(), ErrorKind::Permission, "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains("owned by another user") && msg.contains("65534"),
            "{msg}"
        );
    }
    assert_eq!(std::fs::read(&real).unwrap(), before);
}

/// A real full disk: a 4 MiB tmpfs. The message must say what works.
#[test]
#[ignore = "needs root"]
fn a_full_disk_says_what_works() {
    let mnt = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
        .arg(mnt.path())
        .status()
        .expect("run mount");
    assert!(status.success(), "mounting a tmpfs needs root");
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(mnt.path());
    // Space someone else uses on the same file system.
    let other = mnt.path().join("other-data");
    std::fs::write(&other, vec![7u8; 1 << 20]).unwrap();
    let path = mnt.path().join("data.db");
    let mut store = open(&path, false).unwrap();
    let mut stored = 0;
    let err = loop {
        match write_snapshot(&mut store, b"/r", 5_000) {
            Ok(_) => stored += 1,
            Err(e) => break e,
        }
        assert!(stored < 100, "the disk never filled");
    };
    let msg = err.to_string();
    assert!(msg.contains("full"), "says what is wrong: {msg}");
    assert!(
        msg.contains("free some space") && msg.contains("deleting snapshots cannot help"),
        "says what works (freeing space) and that deleting needs space too: {msg}"
    );
    assert!(!msg.contains("or delete old snapshots"), "{msg}");
    assert_eq!(
        store.snapshots().unwrap().len(),
        stored,
        "nothing of the failed write stayed"
    );
    // As the hint says, deleting snapshots does not free space by itself...
    let ids: Vec<i64> = store.snapshots().unwrap().iter().map(|s| s.id).collect();
    let err = store.delete_snapshots(&ids[..1]).unwrap_err();
    assert!(err.to_string().contains("full"), "{err}");
    assert_eq!(store.snapshots().unwrap().len(), stored);
    // ...and freeing space on the file system is what works.
    std::fs::remove_file(&other).unwrap();
    assert_eq!(store.delete_snapshots(&ids[..1]).unwrap(), 1);
    write_snapshot(&mut store, b"/r", 100).unwrap();
}
