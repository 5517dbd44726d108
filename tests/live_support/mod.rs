//! Helpers for the end-to-end tests of the live commands (`tests/live.rs`):
//! a database with a root and a place outside it, a watcher run as a child
//! process, seeded random changes to a real tree, and comparisons of the
//! binary's answers with the testkit oracle.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{JoinHandle, sleep};
use std::time::{Duration, Instant};

use base64::Engine as _;
use disktracker::{DirRecord, SnapshotInfo, SnapshotStore, StoreOptions, registry};
use disktracker_testkit::oracle::{Expected, Oracle};
use disktracker_testkit::rng::Rng;
use rustix::process::{Pid, Signal, kill_process};
use serde_json::Value;

use crate::common::{Env, ok, stderr, stdout};

/// How long a live answer may take to follow a quiet tree.
pub const CONVERGE: Duration = Duration::from_secs(15);

/// The words `status` may use for a running watcher's state.
pub const STATES: [&str; 5] = ["booting", "catching-up", "live", "rescanning", "degraded"];

/// One database of one store, a root to watch and a directory outside it
/// on the same file system (for moves out of the tree and into it).
pub struct Case {
    pub env: Env,
    pub backend: &'static str,
    /// For a server store (postgres): a fresh database on the testkit's
    /// throwaway server, given as `--db`.
    pub url: Option<String>,
    pub root: PathBuf,
    pub outside: PathBuf,
}

impl Case {
    pub fn new(backend: &'static str) -> Case {
        let env = Env::new();
        let root = env.path().join("root");
        let outside = env.path().join("outside");
        fs::create_dir(&root).unwrap();
        fs::create_dir(&outside).unwrap();
        let url = (backend == "postgres")
            .then(|| disktracker_testkit::postgres::TestPostgres::shared().fresh_database());
        Case {
            env,
            backend,
            url,
            root,
            outside,
        }
    }

    /// The binary with this case's home and store.
    pub fn cmd(&self) -> Command {
        let mut c = self.env.cmd();
        match &self.url {
            Some(url) => c.args(["--db", url]),
            None => c.args(["--backend", self.backend]),
        };
        c
    }

    /// How to open this case's store.
    fn store_options(&self) -> StoreOptions {
        if let Some(url) = &self.url {
            return StoreOptions::url(url.clone());
        }
        let plugin = registry::stores().unwrap().get(self.backend).unwrap();
        let path = if plugin.extension == "db" {
            self.env.db.clone()
        } else {
            self.env.db.with_extension(plugin.extension)
        };
        StoreOptions::file(path)
    }

    /// Opens the store read-only through its plugin.
    pub fn read_store(&self) -> Box<dyn SnapshotStore> {
        let plugin = registry::stores().unwrap().get(self.backend).unwrap();
        (plugin.open)(&self.store_options().read_only(true)).unwrap()
    }

    pub fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    /// Runs with `--format json`, asserts success, parses stdout.
    #[track_caller]
    pub fn json<S: AsRef<OsStr>>(&self, args: &[S]) -> Value {
        let out = self
            .cmd()
            .args(["--format", "json"])
            .args(args)
            .output()
            .unwrap();
        let text = ok(&out);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }

    pub fn scan(&self, root: &Path) {
        ok(&self.run(&[OsStr::new("-q"), OsStr::new("scan"), root.as_os_str()]));
    }

    /// Starts `watch` on the case's root.
    pub fn watch(&self) -> Watcher {
        self.watch_with(&[])
    }

    /// Starts `watch` with extra environment (`DISKTRACKER_WATCH_*`).
    pub fn watch_with(&self, vars: &[(&str, &str)]) -> Watcher {
        let mut c = self.cmd();
        c.envs(vars.iter().copied()).arg("watch").arg(&self.root);
        Watcher::spawn(c)
    }

    /// `status --format json`'s row for `root`.
    pub fn status_of(&self, root: &Path) -> Value {
        let v = self.json(&["status"]);
        let want = root.as_os_str().as_bytes();
        v["roots"]
            .as_array()
            .expect("roots")
            .iter()
            .find(|r| json_path(&r["root"]) == want)
            .cloned()
            .unwrap_or_else(|| panic!("no status row for {}: {v}", root.display()))
    }

    /// Polls `status` until the watcher says `live` for the root; every
    /// state seen on the way must be one of the five words. Returns them.
    #[track_caller]
    pub fn wait_live(&self, w: &mut Watcher) -> Vec<String> {
        let start = Instant::now();
        let mut seen = Vec::new();
        loop {
            assert!(w.running(), "the watcher exited:\n{}", w.log());
            let row = self.status_of(&self.root);
            if let Some(pid) = row["watcher_pid"].as_u64() {
                assert_eq!(pid, u64::from(w.pid()), "status names another pid: {row}");
                // Locked before it answers on its socket: no state yet.
                if let Some(state) = row["state"].as_str() {
                    assert!(STATES.contains(&state), "state {state:?} in {row}");
                    if seen.last().is_none_or(|s| s != state) {
                        seen.push(state.to_owned());
                    }
                    if state == "live" {
                        return seen;
                    }
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "not live after 60 s (states {seen:?}); log:\n{}",
                w.log()
            );
            sleep(Duration::from_millis(30));
        }
    }

    /// `size --format json` for `dirs`: each path's status and disk usage.
    pub fn sizes(&self, dirs: &BTreeSet<Vec<u8>>) -> BTreeMap<Vec<u8>, (String, Option<u64>)> {
        let out = self
            .cmd()
            .args(["--format", "json", "size"])
            .args(dirs.iter().map(|d| OsStr::from_bytes(d)))
            .output()
            .unwrap();
        // Exit 3 when some path is not indexed (a directory that is gone).
        assert!(
            matches!(out.status.code(), Some(0 | 3)),
            "size failed: {:?}\n{}",
            out.status,
            stderr(&out)
        );
        let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
        v["answers"]
            .as_array()
            .expect("answers")
            .iter()
            .map(|a| {
                (
                    json_path(&a["path"]),
                    (
                        a["status"].as_str().unwrap().to_owned(),
                        a["disk_usage"].as_u64(),
                    ),
                )
            })
            .collect()
    }

    /// What `size` answers that differs from `want`: every directory of
    /// the tree must have `status` and its size; every directory `seen`
    /// before that is gone now must have no size.
    pub fn size_mismatches(
        &self,
        want: &Oracle,
        seen: &BTreeSet<Vec<u8>>,
        status: &str,
    ) -> Vec<String> {
        let gone: Vec<&Vec<u8>> = seen
            .iter()
            .filter(|g| !want.dirs.contains_key(*g))
            .collect();
        let mut asked: BTreeSet<Vec<u8>> = want.dirs.keys().cloned().collect();
        asked.extend(gone.iter().map(|g| (*g).clone()));
        let got = self.sizes(&asked);
        let mut bad = Vec::new();
        for (path, e) in &want.dirs {
            match got.get(path) {
                Some((s, Some(b))) if s == status && *b == e.total_bytes => {}
                other => bad.push(format!(
                    "{}: want {status} {} got {other:?}",
                    show(path),
                    e.total_bytes
                )),
            }
        }
        for path in gone {
            if let Some((s, Some(b))) = got.get(path) {
                bad.push(format!("{} is gone, yet {s} {b}", show(path)));
            }
        }
        bad
    }

    /// Polls `size` until every directory's live answer equals the oracle
    /// of the (quiet) tree, and no directory `seen` before and gone now has
    /// one; returns the oracle, and adds its directories to `seen`.
    #[track_caller]
    pub fn converge(&self, w: &Watcher, seen: &mut BTreeSet<Vec<u8>>, churn: &Churn) -> Oracle {
        let want = disktracker_testkit::oracle::compute(&self.root);
        let start = Instant::now();
        loop {
            let bad = self.size_mismatches(&want, seen, "live");
            if bad.is_empty() {
                seen.extend(want.dirs.keys().cloned());
                return want;
            }
            if start.elapsed() > CONVERGE {
                panic!(
                    "{} directories differ {CONVERGE:?} after the last change ({} store):\n{}\n\
                     last changes:\n{}\nwatcher log:\n{}",
                    bad.len(),
                    self.backend,
                    bad.iter().take(20).cloned().collect::<Vec<_>>().join("\n"),
                    churn.recent(),
                    w.log()
                );
            }
            sleep(Duration::from_millis(100));
        }
    }

    /// Opens the store read-write through its plugin (a store a killed
    /// process left behind is recovered), with no other user.
    pub fn open_store(&self) -> Box<dyn SnapshotStore> {
        let plugin = registry::stores().unwrap().get(self.backend).unwrap();
        (plugin.open)(&self.store_options()).unwrap()
    }

    /// The newest snapshot of the root and its rows, read from `store`,
    /// checked to be whole (rows and root totals as recorded).
    pub fn newest(&self, store: &dyn SnapshotStore) -> (SnapshotInfo, Vec<DirRecord>) {
        let want = self.root.as_os_str().as_bytes();
        let info = store
            .snapshots()
            .unwrap()
            .into_iter()
            .filter(|s| s.meta.root == want)
            .max_by_key(|s| s.id)
            .expect("a snapshot of the root");
        let rows = store.read_tree(info.id, None).unwrap();
        assert_eq!(
            rows.len() as u64,
            info.meta.dir_count,
            "snapshot {} is partial",
            info.id
        );
        let top = rows.iter().find(|r| r.path == want).expect("root row");
        assert_eq!(top.stats.total_bytes, info.meta.total_bytes);
        assert_eq!(top.stats.total_apparent, info.meta.total_apparent);
        assert_eq!(top.stats.file_count, info.meta.total_files);
        (info, rows)
    }

    /// How many snapshots the store holds.
    pub fn snapshot_count(&self) -> usize {
        self.read_store().snapshots().unwrap().len()
    }

    /// Asserts that the newest stored snapshot of the root equals `want`
    /// directory by directory, every field of both size kinds; returns its id.
    #[track_caller]
    pub fn assert_stored(&self, want: &Oracle, what: &str) -> i64 {
        let store = self.read_store();
        let (info, rows) = self.newest(&*store);
        drop(store);
        let bad = tree_mismatches(&rows, want);
        assert!(
            bad.is_empty(),
            "{what}: snapshot {} ({} store) differs from the tree in {} directories:\n{}",
            info.id,
            self.backend,
            bad.len(),
            bad.iter().take(20).cloned().collect::<Vec<_>>().join("\n")
        );
        info.id
    }
}

/// Where `rows` and `want` differ (missing, extra, or any number).
pub fn tree_mismatches(rows: &[DirRecord], want: &Oracle) -> Vec<String> {
    let got: BTreeMap<&[u8], Expected> = rows
        .iter()
        .map(|r| (r.path.as_slice(), Expected::from(&r.stats)))
        .collect();
    let mut bad = Vec::new();
    for (path, e) in &want.dirs {
        match got.get(path.as_slice()) {
            Some(g) if g == e => {}
            Some(g) => bad.push(format!("{}:\n  want {e:?}\n  got  {g:?}", show(path))),
            None => bad.push(format!("{}: missing", show(path))),
        }
    }
    for path in got.keys().filter(|p| !want.dirs.contains_key(**p)) {
        bad.push(format!("{}: stored, not in the tree", show(path)));
    }
    bad
}

/// A path for messages.
pub fn show(p: &[u8]) -> String {
    String::from_utf8_lossy(p).into_owned()
}

/// A JSON path (`{"text": …}` or `{"bytes": base64}`) as bytes.
pub fn json_path(v: &Value) -> Vec<u8> {
    match v.get("text").and_then(Value::as_str) {
        Some(t) => t.as_bytes().to_vec(),
        None => base64::engine::general_purpose::STANDARD
            .decode(v["bytes"].as_str().expect("text or bytes"))
            .unwrap(),
    }
}

/// A `watch` process, its stderr gathered as it comes.
pub struct Watcher {
    child: Child,
    log: Arc<Mutex<String>>,
    reader: Option<JoinHandle<()>>,
}

impl Watcher {
    pub fn spawn(mut c: Command) -> Watcher {
        let mut child = c
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let err = child.stderr.take().unwrap();
        let sink = log.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        Watcher {
            child,
            log,
            reader: Some(reader),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What it wrote to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits (up to 10 s) until its stderr holds `text`.
    #[track_caller]
    pub fn wait_log(&self, text: &str) {
        let start = Instant::now();
        while !self.log().contains(text) {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "no {text:?} in:\n{}",
                self.log()
            );
            sleep(Duration::from_millis(1));
        }
    }

    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    pub fn signal(&self, sig: Signal) {
        kill_process(Pid::from_child(&self.child), sig).unwrap();
    }

    /// Waits up to `limit` for the exit; the status and how long it took.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<(ExitStatus, Duration)> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(s) = self.child.try_wait().unwrap() {
                if let Some(r) = self.reader.take() {
                    r.join().unwrap();
                }
                return Some((s, start.elapsed()));
            }
            sleep(Duration::from_millis(10));
        }
        None
    }

    /// Sends `sig` and asserts a clean exit (0) within a few seconds.
    #[track_caller]
    pub fn stop(&mut self, sig: Signal) -> Duration {
        self.signal(sig);
        let (status, took) = self
            .wait_exit(Duration::from_secs(10))
            .unwrap_or_else(|| panic!("still running 10 s after {sig:?}:\n{}", self.log()));
        assert_eq!(
            status.code(),
            Some(0),
            "{status} after {sig:?}:\n{}",
            self.log()
        );
        assert!(
            took < Duration::from_secs(5),
            "{took:?} to stop after {sig:?}"
        );
        took
    }

    /// SIGKILL, and reap it.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(r) = self.reader.take() {
            r.join().unwrap();
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Seeded random changes to a real tree: creates, appends, truncates
/// (sparse growth too), deletes, renames of files and directories within
/// the tree, out of it and into it, new directories with files written at
/// once, hard links across directories, symlinks.
pub struct Churn {
    pub root: PathBuf,
    pub outside: PathBuf,
    rng: Rng,
    n: u64,
    done: Vec<String>,
}

impl Churn {
    pub fn new(root: &Path, outside: &Path, seed: u64) -> Churn {
        Churn {
            root: root.to_owned(),
            outside: outside.to_owned(),
            rng: Rng::new(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1),
            n: 0,
            done: Vec::new(),
        }
    }

    /// A random delay below `max_ms` (for kills).
    pub fn delay(&mut self, max_ms: u64) -> Duration {
        Duration::from_millis(self.rng.below_u64(max_ms))
    }

    /// The last changes made, for failure messages.
    pub fn recent(&self) -> String {
        let from = self.done.len().saturating_sub(40);
        self.done[from..].join("\n")
    }

    /// A new name; one in eight is not UTF-8.
    fn name(&mut self, what: &str) -> OsString {
        self.n += 1;
        if self.rng.below(8) == 0 {
            let mut b = format!("{what}{}", self.n).into_bytes();
            b.extend_from_slice(b"\xff\xe9");
            OsString::from_vec(b)
        } else {
            OsString::from(format!("{what}{}", self.n))
        }
    }

    /// Every directory, the root first.
    pub fn dirs(&self) -> Vec<PathBuf> {
        let mut out = vec![self.root.clone()];
        let mut i = 0;
        while i < out.len() {
            let mut subs: Vec<PathBuf> = fs::read_dir(&out[i])
                .unwrap()
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .collect();
            subs.sort();
            out.extend(subs);
            i += 1;
        }
        out
    }

    /// Every non-directory entry (files, symlinks, …).
    fn entries(&self, dirs: &[PathBuf]) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for d in dirs {
            let mut f: Vec<PathBuf> = fs::read_dir(d)
                .unwrap()
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| !t.is_dir()))
                .map(|e| e.path())
                .collect();
            f.sort();
            out.extend(f);
        }
        out
    }

    fn pick<T: Clone>(&mut self, v: &[T]) -> Option<T> {
        (!v.is_empty()).then(|| v[self.rng.below(v.len())].clone())
    }

    /// Writes a new file: mostly small, sometimes large, sometimes sparse.
    fn write(&mut self, path: &Path) {
        match self.rng.below(12) {
            0 => fs::write(path, b"").unwrap(),
            1 => fs::write(path, vec![b'L'; 150_000 + self.rng.below(100_000)]).unwrap(),
            2 => {
                fs::write(path, vec![b'S'; 4096]).unwrap();
                let f = fs::OpenOptions::new().write(true).open(path).unwrap();
                f.set_len(1_000_000 + self.rng.below_u64(4_000_000))
                    .unwrap();
            }
            _ => fs::write(path, vec![b'y'; self.rng.below(20_000)]).unwrap(),
        }
    }

    fn note(&mut self, what: String) {
        self.done.push(what);
    }

    /// Applies `n` random changes.
    pub fn steps(&mut self, n: usize) {
        for _ in 0..n {
            self.step();
        }
    }

    /// Applies `n` random changes, pausing `pause` between them.
    pub fn steps_paced(&mut self, n: usize, pause: Duration) {
        for _ in 0..n {
            self.step();
            sleep(pause);
        }
    }

    /// One random change.
    pub fn step(&mut self) {
        let dirs = self.dirs();
        let entries = self.entries(&dirs);
        let regular: Vec<PathBuf> = entries
            .iter()
            .filter(|p| fs::symlink_metadata(p).is_ok_and(|m| m.is_file()))
            .cloned()
            .collect();
        let subdirs = dirs[1..].to_vec();
        let outside = self.outside.clone();
        let d = self.pick(&dirs).expect("the root");
        match self.rng.below(20) {
            0..=2 => {
                let p = d.join(self.name("f"));
                self.write(&p);
                self.note(format!("create {}", p.display()));
            }
            3 => {
                let Some(f) = self.pick(&regular) else { return };
                let n = self.rng.below(60_000);
                let mut h = fs::OpenOptions::new().append(true).open(&f).unwrap();
                h.write_all(&vec![b'a'; n]).unwrap();
                self.note(format!("append {n} to {}", f.display()));
            }
            4 => {
                let Some(f) = self.pick(&regular) else { return };
                let len = fs::metadata(&f).unwrap().len();
                let new = match self.rng.below(3) {
                    0 => 0,
                    1 => len / 2,
                    // Sparse growth: a hole, no new blocks.
                    _ => len + 1_000_000 + self.rng.below_u64(3_000_000),
                };
                let h = fs::OpenOptions::new().write(true).open(&f).unwrap();
                h.set_len(new).unwrap();
                self.note(format!("truncate {} to {new}", f.display()));
            }
            5 => {
                let Some(f) = self.pick(&entries) else { return };
                fs::remove_file(&f).unwrap();
                self.note(format!("delete {}", f.display()));
            }
            6 => {
                // A new directory with files written at once, and maybe a
                // subdirectory: they may land before its watch exists.
                let nd = d.join(self.name("d"));
                fs::create_dir(&nd).unwrap();
                for _ in 0..self.rng.below(5) {
                    let p = nd.join(self.name("f"));
                    self.write(&p);
                }
                if self.rng.below(2) == 0 {
                    let sub = nd.join(self.name("s"));
                    fs::create_dir(&sub).unwrap();
                    let p = sub.join(self.name("f"));
                    self.write(&p);
                }
                self.note(format!("mkdir with files {}", nd.display()));
            }
            7 => {
                // A file renamed, maybe to another directory.
                let Some(f) = self.pick(&entries) else { return };
                let to = d.join(self.name("r"));
                fs::rename(&f, &to).unwrap();
                self.note(format!("rename {} -> {}", f.display(), to.display()));
            }
            8 => {
                // A file renamed over another one (an editor's save).
                let (Some(a), Some(b)) = (self.pick(&regular), self.pick(&regular)) else {
                    return;
                };
                if a == b {
                    return;
                }
                fs::rename(&a, &b).unwrap();
                self.note(format!("rename {} over {}", a.display(), b.display()));
            }
            9 => {
                // A directory renamed inside the root (never into itself).
                let Some(from) = self.pick(&subdirs) else {
                    return;
                };
                let targets: Vec<PathBuf> = dirs
                    .iter()
                    .filter(|t| !t.starts_with(&from))
                    .cloned()
                    .collect();
                let to = self.pick(&targets).unwrap().join(self.name("m"));
                fs::rename(&from, &to).unwrap();
                self.note(format!("rename dir {} -> {}", from.display(), to.display()));
            }
            10 => {
                // A directory moved out of the root.
                let Some(from) = self.pick(&subdirs) else {
                    return;
                };
                let to = outside.join(self.name("out"));
                fs::rename(&from, &to).unwrap();
                self.note(format!("move out {}", from.display()));
            }
            11 => {
                // A directory with contents moved into the root.
                let src = outside.join(self.name("in"));
                fs::create_dir_all(src.join("deep/er")).unwrap();
                for rel in ["a", "deep/b", "deep/er/c"] {
                    let p = src.join(rel);
                    self.write(&p);
                }
                let to = d.join(self.name("came"));
                fs::rename(&src, &to).unwrap();
                self.note(format!("move in {}", to.display()));
            }
            12 => {
                let Some(victim) = self.pick(&subdirs) else {
                    return;
                };
                fs::remove_dir_all(&victim).unwrap();
                self.note(format!("rm -r {}", victim.display()));
            }
            13 => {
                // A hard link in another directory: the first path counts.
                let Some(f) = self.pick(&regular) else { return };
                let to = d.join(self.name("hl"));
                fs::hard_link(&f, &to).unwrap();
                self.note(format!("link {} -> {}", to.display(), f.display()));
            }
            14 => {
                // A file whose other name is outside the tree.
                let out = outside.join(self.name("o"));
                self.write(&out);
                let to = d.join(self.name("ol"));
                fs::hard_link(&out, &to).unwrap();
                self.note(format!("link from outside {}", to.display()));
            }
            15 => {
                let p = d.join(self.name("sl"));
                let target = self
                    .pick(&entries)
                    .unwrap_or_else(|| PathBuf::from("nowhere"));
                symlink(target, &p).unwrap();
                self.note(format!("symlink {}", p.display()));
            }
            16 => {
                let p = d.join(self.name("e"));
                fs::create_dir(&p).unwrap();
                self.note(format!("mkdir {}", p.display()));
            }
            17 => {
                // A file moved out of the tree, or one moved in.
                if self.rng.below(2) == 0 {
                    let Some(f) = self.pick(&entries) else { return };
                    let to = outside.join(self.name("fo"));
                    fs::rename(&f, &to).unwrap();
                    self.note(format!("move file out {}", f.display()));
                } else {
                    let src = outside.join(self.name("fi"));
                    self.write(&src);
                    let to = d.join(self.name("fi"));
                    fs::rename(&src, &to).unwrap();
                    self.note(format!("move file in {}", to.display()));
                }
            }
            18 => {
                // Written and gone before anyone looks.
                let p = d.join(self.name("t"));
                self.write(&p);
                fs::remove_file(&p).unwrap();
                self.note(format!("transient {}", p.display()));
            }
            _ => {
                // A tree made with mkdir -p, then files at several depths.
                let nd = d.join(self.name("p"));
                let deep = nd.join("x/y/z");
                fs::create_dir_all(&deep).unwrap();
                let p = deep.join(self.name("f"));
                self.write(&p);
                let q = nd.join("x").join(self.name("f"));
                self.write(&q);
                self.note(format!("mkdir -p {}", deep.display()));
            }
        }
    }
}

/// A command's stderr lines with the time since `start` each arrived, for
/// `DT_TEST_MARKS` step marks.
pub struct Marked {
    pub child: Child,
    pub start: Instant,
    lines: JoinHandle<Vec<(Duration, String)>>,
}

impl Marked {
    pub fn spawn(mut c: Command) -> Marked {
        let mut child = c
            .env("DT_TEST_MARKS", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let start = Instant::now();
        let err = child.stderr.take().unwrap();
        let lines = std::thread::spawn(move || {
            BufReader::new(err)
                .lines()
                .map_while(Result::ok)
                .map(|l| (start.elapsed(), l))
                .collect()
        });
        Marked {
            child,
            start,
            lines,
        }
    }

    /// Waits for the end, killing it (SIGKILL) at `kill_at` after the
    /// spawn when given; the exit status and the lines seen.
    pub fn finish(mut self, kill_at: Option<Duration>) -> (ExitStatus, Vec<(Duration, String)>) {
        if let Some(d) = kill_at {
            sleep(d.saturating_sub(self.start.elapsed()));
            let _ = self.child.kill();
        }
        let status = self.child.wait().unwrap();
        (status, self.lines.join().unwrap())
    }
}

/// When the mark `step` was seen.
pub fn mark_time(lines: &[(Duration, String)], step: &str) -> Option<Duration> {
    let want = format!("mark: {step}");
    lines.iter().find(|(_, l)| *l == want).map(|(t, _)| *t)
}
