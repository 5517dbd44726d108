//! Helpers for end-to-end tests that run the real `disktracker` binary.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Output, Stdio};

use disktracker::{DirRecord, SnapshotInfo, SnapshotStore, StoreOptions, registry};
use disktracker_defaults as _;

/// A private HOME and database for one test.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub home: PathBuf,
    pub db: PathBuf,
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let base = dir.path().canonicalize().unwrap();
        let home = base.join("home");
        std::fs::create_dir(&home).unwrap();
        let db = home.join(".disktracker/data.db");
        Env { dir, home, db }
    }

    /// The scratch directory (for trees).
    pub fn path(&self) -> PathBuf {
        self.dir.path().canonicalize().unwrap()
    }

    /// A command with HOME pointing at the private home and no inherited
    /// DISKTRACKER_* variables.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_disktracker"));
        c.env_clear()
            .env("HOME", &self.home)
            .env("PATH", std::env::var_os("PATH").unwrap_or_default());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    /// Opens the store `backend` read-only, through the registered plugin.
    pub fn store(&self, backend: &str) -> Box<dyn SnapshotStore> {
        let plugin = registry::stores().unwrap().get(backend).unwrap();
        let path = if plugin.extension == "db" {
            self.db.clone()
        } else {
            self.db.with_extension(plugin.extension)
        };
        (plugin.open)(&StoreOptions::file(path).read_only(true)).unwrap()
    }

    pub fn snapshots(&self, backend: &str) -> Vec<SnapshotInfo> {
        self.store(backend).snapshots().unwrap()
    }
}

/// A `disktracker` process that the engine's test hook stopped at a step
/// (`DT_TEST_PAUSE`, see `disktracker/engine/src/hooks.rs`).
pub struct Paused {
    pub child: Child,
    /// Its stderr, from the line after `paused: STEP` on.
    pub stderr: BufReader<ChildStderr>,
}

impl Paused {
    /// Spawns `cmd` (standard output discarded) and waits until it stops
    /// itself at `step`; fails the test if it ends first.
    #[track_caller]
    #[allow(
        clippy::zombie_processes,
        reason = "the child is the caller's to wait for, or waited for here when it ends early"
    )]
    pub fn at(mut cmd: Command, step: &str) -> Paused {
        let mut child = cmd
            .env("DT_TEST_PAUSE", step)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let want = format!("paused: {step}");
        let mut seen = String::new();
        loop {
            let start = seen.len();
            if stderr.read_line(&mut seen).unwrap() == 0 {
                let status = child.wait();
                panic!("ended ({status:?}) before reaching {step}: {seen}");
            }
            if seen[start..].trim_end() == want {
                return Paused { child, stderr };
            }
        }
    }

    /// Kills it where it stopped; how it ended.
    pub fn kill(mut self) -> std::process::ExitStatus {
        let _ = self.child.kill();
        self.child.wait().unwrap()
    }

    /// Lets it go on (SIGCONT).
    pub fn resume(&self) {
        rustix::process::kill_process(
            rustix::process::Pid::from_child(&self.child),
            rustix::process::Signal::CONT,
        )
        .unwrap();
    }
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Asserts success and returns stdout.
#[track_caller]
pub fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstderr: {}\nstdout: {}",
        o.status.code(),
        stderr(o),
        stdout(o)
    );
    stdout(o)
}

/// Asserts a failure with `code`, a single-line error on stderr, no panic.
#[track_caller]
pub fn fails_with(o: &Output, code: i32) -> String {
    let err = stderr(o);
    assert_eq!(
        o.status.code(),
        Some(code),
        "stderr: {err}\nstdout: {}",
        stdout(o)
    );
    assert!(!err.contains("panicked"), "panic: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 1, "one-line error expected, got: {err}");
    assert!(lines[0].starts_with("disktracker: error: "), "{err}");
    err
}

/// Every directory of a snapshot.
pub fn tree(store: &dyn SnapshotStore, id: i64) -> Vec<DirRecord> {
    store.read_tree(id, None).unwrap()
}

/// Path bytes of a path.
pub fn bytes(p: &Path) -> Vec<u8> {
    p.as_os_str().as_encoded_bytes().to_vec()
}

/// Writes `len` bytes to `p`, creating its directories.
pub fn write(p: &Path, len: usize) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, vec![7u8; len]).unwrap();
}

/// Appends `len` bytes to the file `p`.
pub fn append(p: &Path, len: usize) {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(p)
        .unwrap()
        .write_all(&vec![9u8; len])
        .unwrap();
}

/// A file of `config/examples/`.
pub fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("config/examples")
        .join(name)
}
