//! The figures of the live commands (issue 10) on a generated 1M-file tree
//! (about 65k directories), each measured by driving the release binary as
//! separate processes, as users run it:
//!
//!     DISKTRACKER_BENCH_TREE=/work/bench-tree-1m \
//!         cargo bench --bench live_figures [-- [FIGURE…] [--runs N] [--trials N] [--writers N]]
//!
//! FIGURE is any of `boot catchup memory latency throughput reconcile`
//! (default: all, in that order). `--runs` (default 5) is the number of
//! repetitions of the boot, catch-up and scan timings (throughput and
//! reconcile use `max(runs / 2, 2)`); `--trials` (default 1000) is the number
//! of latency trials; `--writers` (default 2, one per core here) the threads
//! that write the throughput figure's files.
//!
//! Without `DISKTRACKER_BENCH_TREE`, a tree of `DISKTRACKER_BENCH_FILES`
//! files (default 1,000,000; about 6 KB of disk each) is generated with the
//! testkit's generator in a temporary directory and removed afterwards.
//!
//! The tree is only read, except for one scratch directory the benchmark
//! creates at its top (`zz-live-bench`) and removes at the end; the tree's
//! top directory gets its times back, and `du -sB1` of the tree before and
//! after must agree. Databases, sockets and the configuration home live in
//! a temporary directory.
//!
//! The oracle for sizes is GNU `du -sB1` (or, where the benchmark wrote the
//! files itself, the sum of their `st_blocks`, checked against `du`
//! afterwards). The watcher is asked over its query socket (one JSON line
//! each way) where a fine-grained clock is needed; `size`, `status` and
//! `reconcile` run as processes where the figure is about what a user sees.
// A failed unwrap in a test or benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::error::Error;
use std::ffi::OsStr;
use std::fs::{self, File, FileTimes, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::Value;

type R<T> = Result<T, Box<dyn Error>>;

const BIN: &str = env!("CARGO_BIN_EXE_disktracker");
const SCRATCH: &str = "zz-live-bench";
const FIGURES: [&str; 6] = [
    "boot",
    "catchup",
    "memory",
    "latency",
    "throughput",
    "reconcile",
];

fn err(msg: impl Into<String>) -> Box<dyn Error> {
    msg.into().into()
}

// ---- statistics and printing ------------------------------------------------

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Nearest-rank percentile of `v` (sorted here), `p` in 0..=100.
fn percentile(v: &[Duration], p: f64) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    let mut v = v.to_vec();
    v.sort();
    let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
    v[rank.min(v.len()) - 1]
}

fn median(v: &[Duration]) -> Duration {
    percentile(v, 50.0)
}

fn summary(v: &[Duration]) -> String {
    if v.is_empty() {
        return "no samples".into();
    }
    let mut s = v.to_vec();
    s.sort();
    format!(
        "median {:.1} ms (min {:.1}, max {:.1}, n={})",
        ms(median(v)),
        ms(s[0]),
        ms(s[s.len() - 1]),
        v.len()
    )
}

fn load() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// The report, printed as it grows and again, whole, at the end.
#[derive(Default)]
struct Report(Vec<String>);

impl Report {
    fn line(&mut self, s: impl Into<String>) {
        let s = s.into();
        println!("{s}");
        self.0.push(s);
    }
}

// ---- the tree and the scratch directory ----------------------------------------

/// `du -sB1 PATH`: the independent oracle of disk usage.
fn du(path: &Path) -> R<u64> {
    let out = Command::new("du").arg("-sB1").arg(path).output()?;
    if !out.status.success() {
        return Err(err(format!(
            "du -sB1 {} failed: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| err(format!("du printed {text:?}")))
}

fn free_bytes(path: &Path) -> u64 {
    rustix::fs::statvfs(path).map_or(0, |s| s.f_bavail * s.f_frsize)
}

/// Where the tree is: `DISKTRACKER_BENCH_TREE`, or one generated under
/// `work` (removed with it). `None`: said why, no figures.
fn bench_tree(work: &Path) -> Option<PathBuf> {
    if let Some(t) = std::env::var_os("DISKTRACKER_BENCH_TREE") {
        let t = PathBuf::from(t);
        if !t.is_dir() {
            println!(
                "DISKTRACKER_BENCH_TREE={} is not a directory; generate one with \
                 `cargo run --release -p disktracker-testkit --bin gen_tree -- {} 1000000 1`. \
                 No figures.",
                t.display(),
                t.display()
            );
            return None;
        }
        return fs::canonicalize(&t).ok();
    }
    let files: u64 = std::env::var("DISKTRACKER_BENCH_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let need = files * 6_000 + (5 << 30);
    if free_bytes(work) < need {
        println!(
            "DISKTRACKER_BENCH_TREE is unset and {} has {} GB free, less than the {} GB a \
             generated {files}-file tree needs (with 5 GB to spare). Set \
             DISKTRACKER_BENCH_TREE to an existing tree (or DISKTRACKER_BENCH_FILES lower). \
             No figures.",
            work.display(),
            free_bytes(work) >> 30,
            need >> 30
        );
        return None;
    }
    let out = work.join("tree");
    println!(
        "DISKTRACKER_BENCH_TREE is unset: generating a {files}-file tree in {}",
        out.display()
    );
    match disktracker_testkit::fixtures::gen_tree(&out, files, 1) {
        Ok(()) => fs::canonicalize(&out).ok(),
        Err(e) => {
            println!("cannot generate the benchmark tree: {e}. No figures.");
            None
        }
    }
}

/// The scratch directory at the top of the tree: removed, and the top
/// directory's times put back, when dropped.
struct Scratch {
    path: PathBuf,
    top: PathBuf,
    top_times: (std::time::SystemTime, std::time::SystemTime),
}

impl Scratch {
    fn new(tree: &Path) -> R<Self> {
        let path = tree.join(SCRATCH);
        if path.exists() {
            println!("removing {} left by an interrupted run", path.display());
            fs::remove_dir_all(&path)?;
        }
        let meta = fs::metadata(tree)?;
        Ok(Scratch {
            path,
            top: tree.to_path_buf(),
            top_times: (meta.accessed()?, meta.modified()?),
        })
    }

    fn create(&self) -> R<()> {
        fs::create_dir_all(&self.path)?;
        Ok(())
    }

    fn remove(&self) {
        if let Err(e) = fs::remove_dir_all(&self.path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            eprintln!("cannot remove {}: {e}", self.path.display());
        }
        let times = FileTimes::new()
            .set_accessed(self.top_times.0)
            .set_modified(self.top_times.1);
        if let Err(e) = File::open(&self.top).and_then(|f| f.set_times(times)) {
            eprintln!("cannot restore the times of {}: {e}", self.top.display());
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        self.remove();
    }
}

// ---- the binary: databases, commands, the watcher ----------------------------------

/// One database (and its index and socket beside it) of one store.
#[derive(Clone)]
struct Db {
    dir: PathBuf,
    home: PathBuf,
    backend: &'static str,
}

impl Db {
    fn new(work: &Path, name: &str, backend: &'static str) -> R<Self> {
        let dir = work.join(name);
        fs::create_dir_all(&dir)?;
        Ok(Db {
            dir,
            home: work.join("home"),
            backend,
        })
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("data.sock")
    }

    fn index(&self) -> PathBuf {
        self.dir.join("data.mmap")
    }

    /// `disktracker --db DIR/data.db --backend B ARGS…`, with an empty home
    /// and no `DISKTRACKER_*` variables, so no configuration of the user's
    /// leaks in.
    fn cmd<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let mut c = Command::new(BIN);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("DISKTRACKER_") {
                c.env_remove(k);
            }
        }
        c.env("HOME", &self.home)
            .arg("--db")
            .arg(self.dir.join("data.db"))
            .arg("--backend")
            .arg(self.backend)
            .args(args)
            .stdin(Stdio::null());
        c
    }

    /// Runs a command to success; its wall time and stdout.
    fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> R<(Duration, String)> {
        let mut c = self.cmd(args);
        let t = Instant::now();
        let out = c.output()?;
        let took = t.elapsed();
        if !out.status.success() {
            return Err(err(format!(
                "disktracker {:?} failed ({}): {}",
                args.iter()
                    .map(|a| a.as_ref().to_string_lossy().into_owned())
                    .collect::<Vec<_>>(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok((took, String::from_utf8(out.stdout)?))
    }

    fn run_json<S: AsRef<OsStr>>(&self, args: &[S]) -> R<(Duration, Value)> {
        let mut all: Vec<&OsStr> = vec![OsStr::new("--format"), OsStr::new("json")];
        all.extend(args.iter().map(AsRef::as_ref));
        let (t, out) = self.run(&all)?;
        Ok((t, serde_json::from_str(out.trim())?))
    }

    /// `size --format json PATH` as a process: the size and its status word.
    fn size_cmd(&self, path: &Path) -> R<(Duration, Option<u64>, String)> {
        let (t, v) = self.run_json(&[OsStr::new("size"), path.as_os_str()])?;
        let a = &v["answers"][0];
        Ok((
            t,
            a["disk_usage"].as_u64(),
            a["status"].as_str().unwrap_or("").to_owned(),
        ))
    }

    /// The pending mutations of the root, from `status` as a process.
    fn pending(&self, root: &Path) -> R<u64> {
        let (_, v) = self.run_json(&["status"])?;
        let want = root.to_str().unwrap_or("");
        v["roots"]
            .as_array()
            .and_then(|rs| {
                rs.iter()
                    .find(|r| r["root"]["text"].as_str() == Some(want))
                    .and_then(|r| r["pending_mutations"].as_u64())
            })
            .ok_or_else(|| err(format!("status does not list {want}: {v}")))
    }
}

/// One JSON line to the watcher's socket and its answer; `None` when no
/// watcher answers (yet).
fn ask(socket: &Path, request: &str) -> Option<Value> {
    let mut s = UnixStream::connect(socket).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.write_all(request.as_bytes()).ok()?;
    s.write_all(b"\n").ok()?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).ok()?;
    serde_json::from_str(&line).ok()
}

/// The watcher's live size of `path` (a plain UTF-8 path, which the wire
/// spells as itself).
fn live_size(socket: &Path, path: &Path) -> Option<u64> {
    let req = serde_json::json!({ "size": [path.to_str()?] }).to_string();
    ask(socket, &req)?["sizes"][0]["bytes"].as_u64()
}

/// The watcher's status of its (only) root.
fn live_status(socket: &Path) -> Option<Value> {
    let v = ask(socket, "\"status\"")?;
    Some(v["status"]["roots"][0].clone())
}

fn live_state(socket: &Path) -> Option<String> {
    live_status(socket)?["state"].as_str().map(str::to_owned)
}

/// Polls `f` every `every` until it returns `Some`, or fails after `limit`.
fn poll<T>(what: &str, limit: Duration, every: Duration, mut f: impl FnMut() -> Option<T>) -> R<T> {
    let t = Instant::now();
    loop {
        if let Some(v) = f() {
            return Ok(v);
        }
        if t.elapsed() > limit {
            return Err(err(format!("{what}: not after {limit:?}")));
        }
        thread::sleep(every);
    }
}

/// A running `disktracker watch TREE`, its stderr lines timestamped on arrival.
struct Watch {
    child: Child,
    spawned: Instant,
    lines: Arc<Mutex<Vec<(Instant, String)>>>,
    reader: Option<JoinHandle<()>>,
    socket: PathBuf,
}

impl Watch {
    fn spawn(db: &Db, tree: &Path) -> R<Self> {
        let mut c = db.cmd(&[OsStr::new("watch"), tree.as_os_str()]);
        c.stdout(Stdio::null()).stderr(Stdio::piped());
        let spawned = Instant::now();
        let mut child = c.spawn()?;
        let stderr = child.stderr.take().ok_or_else(|| err("no stderr"))?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let reader = thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push((Instant::now(), line));
            }
        });
        Ok(Watch {
            child,
            spawned,
            lines,
            reader: Some(reader),
            socket: db.socket(),
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// When a stderr line containing `pat` arrived.
    fn line_at(&self, pat: &str) -> Option<Instant> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .find(|(_, l)| l.contains(pat))
            .map(|(t, _)| *t)
    }

    fn count_lines(&self, pat: &str) -> usize {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, l)| l.contains(pat))
            .count()
    }

    fn log(&self) -> Vec<String> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .map(|(_, l)| l.clone())
            .collect()
    }

    fn check_alive(&mut self) -> R<()> {
        if let Some(status) = self.child.try_wait()? {
            return Err(err(format!(
                "the watcher exited ({status}):\n{}",
                self.log().join("\n")
            )));
        }
        Ok(())
    }

    /// Waits until the watcher says `live`; the instant it was first seen.
    fn wait_live(&mut self, limit: Duration) -> R<Instant> {
        let t = Instant::now();
        loop {
            if live_state(&self.socket).as_deref() == Some("live") {
                return Ok(Instant::now());
            }
            self.check_alive()?;
            if t.elapsed() > limit {
                return Err(err(format!(
                    "the watcher is not live after {limit:?}:\n{}",
                    self.log().join("\n")
                )));
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// SIGTERM; it must exit 0. How long it took.
    fn stop(mut self) -> R<Duration> {
        let t = Instant::now();
        let pid = rustix::process::Pid::from_raw(self.pid() as i32).ok_or_else(|| err("pid 0"))?;
        rustix::process::kill_process(pid, rustix::process::Signal::TERM)?;
        let status = self.child.wait()?;
        let took = t.elapsed();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        if !status.success() {
            return Err(err(format!(
                "the watcher exited with {status} on SIGTERM:\n{}",
                self.log().join("\n")
            )));
        }
        Ok(took)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The warnings a watcher logged that matter to the figures.
fn lost_events(w: &Watch) -> usize {
    w.count_lines("events were lost")
}

// ---- /proc -----------------------------------------------------------------

/// `VmRSS`, `VmHWM`, `RssAnon`, `RssFile` in KiB.
fn proc_mem(pid: u32) -> R<[u64; 4]> {
    let text = fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> u64 {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    Ok([
        field("VmRSS:"),
        field("VmHWM:"),
        field("RssAnon:"),
        field("RssFile:"),
    ])
}

/// KiB of the index file resident in the process (from `smaps`).
fn mapped_index_kib(pid: u32, index: &Path) -> u64 {
    let Ok(text) = fs::read_to_string(format!("/proc/{pid}/smaps")) else {
        return 0;
    };
    let name = index.to_string_lossy();
    let mut inside = false;
    let mut rss = 0;
    for l in text.lines() {
        let first = l.split_whitespace().next().unwrap_or("");
        if first.contains('-') && !first.ends_with(':') {
            inside = l.ends_with(name.as_ref());
        } else if inside && l.starts_with("Rss:") {
            rss += l
                .split_whitespace()
                .nth(1)
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    rss
}

/// utime + stime of a process or task, in clock ticks.
fn cpu_ticks(stat_path: &str) -> Option<(String, u64)> {
    let text = fs::read_to_string(stat_path).ok()?;
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text[open + 1..close].to_owned();
    let rest: Vec<&str> = text[close + 2..].split_whitespace().collect();
    // Fields 14 and 15 of stat(5); `rest` starts at field 3.
    let utime: u64 = rest.get(11)?.parse().ok()?;
    let stime: u64 = rest.get(12)?.parse().ok()?;
    Some((comm, utime + stime))
}

fn task_ticks(pid: u32) -> Vec<(String, u64)> {
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut v: Vec<(String, u64)> = dir
        .flatten()
        .filter_map(|e| cpu_ticks(&format!("{}/stat", e.path().display())))
        .collect();
    v.sort();
    v
}

/// USER_HZ, the unit of `/proc/PID/stat` times: 100 on every Linux ABI.
const TICKS_PER_SECOND: u64 = 100;

// ---- writing ---------------------------------------------------------------

/// Disk usage as `du` counts it: allocated blocks.
fn used(meta: &fs::Metadata) -> u64 {
    meta.blocks() * 512
}

/// `dirs` directories with `files` files each under `under` (new), as fast
/// as one thread can; the sum of their disk usage, `under` included, from
/// the writer's own stats.
fn write_files(under: &Path, dirs: usize, files: usize) -> R<u64> {
    write_files_on(under, dirs, files, 1)
}

/// [`write_files`] by `threads` writers, each creating every `threads`-th
/// directory and its files.
fn write_files_on(under: &Path, dirs: usize, files: usize, threads: usize) -> R<u64> {
    fs::create_dir(under)?;
    let totals: Vec<std::io::Result<u64>> = thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || -> std::io::Result<u64> {
                    let body = vec![b'x'; 8192];
                    let mut total = 0;
                    let mut dir_paths = Vec::new();
                    for d in (t..dirs).step_by(threads) {
                        let dir = under.join(format!("d{d:04}"));
                        fs::create_dir(&dir)?;
                        for f in 0..files {
                            let mut file = File::create(dir.join(format!("f{f:03}")))?;
                            // 1..8000 bytes: one or two blocks.
                            file.write_all(&body[..1 + (d * 7919 + f * 104_729) % 8000])?;
                            total += used(&file.metadata()?);
                        }
                        dir_paths.push(dir);
                    }
                    for d in &dir_paths {
                        total += used(&fs::metadata(d)?);
                    }
                    Ok(total)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(std::io::Error::other("writer panicked")))
            })
            .collect()
    });
    let mut total = used(&fs::metadata(under)?);
    for t in totals {
        total += t?;
    }
    Ok(total)
}

/// Appends 4 KiB to every file `f000` of the directories of `under`.
fn append_each(under: &Path) -> R<usize> {
    let block = vec![b'y'; 4096];
    let mut n = 0;
    for e in fs::read_dir(under)? {
        let p = e?.path().join("f000");
        OpenOptions::new()
            .append(true)
            .open(&p)?
            .write_all(&block)?;
        n += 1;
    }
    Ok(n)
}

/// Waits until the watcher's sizes of `path` and `tree` are `want` and
/// `want_tree`; how long after the call.
fn converge(
    socket: &Path,
    path: &Path,
    want: u64,
    tree: &Path,
    want_tree: u64,
    limit: Duration,
) -> R<Duration> {
    let t = Instant::now();
    loop {
        let now = (live_size(socket, path), live_size(socket, tree));
        if now == (Some(want), Some(want_tree)) {
            return Ok(t.elapsed());
        }
        if t.elapsed() > limit {
            return Err(err(format!(
                "live sizes of {} and the tree are {now:?}, not {want} and {want_tree}, after {limit:?}",
                path.display()
            )));
        }
        thread::sleep(Duration::from_millis(10));
    }
}

// ---- the figures -------------------------------------------------------------

struct Bench {
    tree: PathBuf,
    work: PathBuf,
    scratch: Scratch,
    /// `du -sB1` of the tree without the scratch directory.
    known: u64,
    db: Db,
    runs: usize,
    trials: usize,
    /// Writer threads of the throughput figure.
    writers: usize,
    report: Report,
}

impl Bench {
    /// Boot: spawn to the first correct answer from the watcher's socket,
    /// and the first `size` process answering live; then boot to `live`.
    fn boot(&mut self) -> R<()> {
        let r = &mut self.report;
        r.line(format!(
            "\n== boot (load {} at start; {} runs) ==",
            load(),
            self.runs
        ));
        let (mut first, mut first_cmd, mut size_cmd, mut to_live, mut stops) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut states = Vec::new();
        for _ in 0..self.runs {
            let mut w = Watch::spawn(&self.db, &self.tree)?;
            let answered = poll(
                "first answer",
                Duration::from_secs(60),
                Duration::from_micros(500),
                || (live_size(&w.socket, &self.tree) == Some(self.known)).then(Instant::now),
            )?;
            states.push(live_state(&w.socket).unwrap_or_default());
            let (took, bytes, status) = self.db.size_cmd(&self.tree)?;
            let cmd_done = Instant::now();
            if bytes != Some(self.known) || status != "live" {
                return Err(err(format!(
                    "`size` during catch-up said {bytes:?} ({status}), not {} (live)",
                    self.known
                )));
            }
            let live = w.wait_live(Duration::from_secs(600))?;
            first.push(answered - w.spawned);
            first_cmd.push(cmd_done - w.spawned);
            size_cmd.push(took);
            to_live.push(live - w.spawned);
            stops.push(w.stop()?);
        }
        r.line(format!(
            "spawn `watch` -> first correct size from its socket: {}",
            summary(&first)
        ));
        r.line(format!(
            "  watcher state at that answer: {}",
            states.join(", ")
        ));
        r.line(format!(
            "spawn `watch` -> first `size` process answering it (status live), run right after: {}",
            summary(&first_cmd)
        ));
        r.line(format!(
            "  that `size` process alone: {}",
            summary(&size_cmd)
        ));
        r.line(format!(
            "spawn `watch` -> live (catch-up done, no offline change): {}",
            summary(&to_live)
        ));
        r.line(format!("SIGTERM -> exit 0: {}", summary(&stops)));
        r.line(format!(
            "index {} entries, {} KiB; load at end {}",
            self.db.index_entries(),
            fs::metadata(self.db.index()).map_or(0, |m| m.len() >> 10),
            load()
        ));
        Ok(())
    }

    /// Catch-up after offline changes against a warm `scan`, interleaved.
    fn catchup(&mut self) -> R<()> {
        self.report.line(format!(
            "\n== catch-up vs warm scan (load {} at start; {} runs, interleaved) ==",
            load(),
            self.runs
        ));
        let scan_db = Db::new(&self.work, "scan-only", "sqlite")?;
        let (mut scans, mut catchups, mut walks) = (Vec::new(), Vec::new(), Vec::new());
        self.scratch.create()?;
        for run in 0..self.runs {
            // Offline: 100 new directories of 10 files; the previous run's removed.
            let old = self
                .scratch
                .path
                .join(format!("offline-{}", run.wrapping_sub(1)));
            if old.exists() {
                fs::remove_dir_all(&old)?;
            }
            let new = self.scratch.path.join(format!("offline-{run}"));
            write_files(&new, 100, 10)?;
            let want_scratch = du(&self.scratch.path)?;

            // Alternate which goes first, so neither always finds the
            // cache warmed by the other.
            let scan = |scans: &mut Vec<Duration>| -> R<()> {
                for f in fs::read_dir(&scan_db.dir)? {
                    fs::remove_file(f?.path())?;
                }
                let (t, _) =
                    scan_db.run(&[OsStr::new("-q"), OsStr::new("scan"), self.tree.as_os_str()])?;
                scans.push(t);
                Ok(())
            };
            if run % 2 == 0 {
                scan(&mut scans)?;
            }
            let mut w = Watch::spawn(&self.db, &self.tree)?;
            let live = w.wait_live(Duration::from_secs(600))?;
            catchups.push(live - w.spawned);
            // The log line follows the state by a little.
            let seen = Instant::now();
            while w.line_at("caught up").is_none() && seen.elapsed() < Duration::from_secs(2) {
                thread::sleep(Duration::from_millis(5));
            }
            if let (Some(b), Some(c)) = (w.line_at("booting"), w.line_at("caught up")) {
                walks.push(c - b);
            }
            let got = (
                live_size(&w.socket, &self.scratch.path),
                live_size(&w.socket, &self.tree),
            );
            if got != (Some(want_scratch), Some(self.known + want_scratch)) {
                return Err(err(format!(
                    "after catch-up the watcher says {got:?}, du says {want_scratch} and {}",
                    self.known + want_scratch
                )));
            }
            if lost_events(&w) > 0 {
                self.report
                    .line(format!("run {run}: the watcher lost events: {:?}", w.log()));
            }
            w.stop()?;
            if run % 2 == 1 {
                scan(&mut scans)?;
            }
        }
        let r = &mut self.report;
        r.line(format!(
            "warm `scan` of the tree (fresh database each run): {}",
            summary(&scans)
        ));
        r.line(format!(
            "spawn `watch` -> live after offline changes (1,000 files in 100 new dirs, 1,000 removed): {}",
            summary(&catchups)
        ));
        r.line(format!(
            "  of which log line `booting` -> `caught up`: {}",
            summary(&walks)
        ));
        r.line(format!(
            "ratio of medians catch-up / scan: {:.2} (goal <= 1.1); load at end {}",
            ms(median(&catchups)) / ms(median(&scans)),
            load()
        ));
        Ok(())
    }

    /// Memory and idle CPU of a watcher on the tree; returns it running
    /// (live) for the latency and throughput figures.
    fn memory(&mut self) -> R<Watch> {
        self.report.line(format!(
            "\n== watcher memory and idle CPU (load {} at start) ==",
            load()
        ));
        let mut w = Watch::spawn(&self.db, &self.tree)?;
        w.wait_live(Duration::from_secs(600))?;
        let pid = w.pid();
        let after_boot = proc_mem(pid)?;
        // Idle: nothing of ours changes; 30 s of CPU time.
        let events_before = live_status(&w.socket).and_then(|s| s["events"].as_u64());
        let tasks_before = task_ticks(pid);
        let before = cpu_ticks(&format!("/proc/{pid}/stat")).map_or(0, |c| c.1);
        thread::sleep(Duration::from_secs(30));
        let after = cpu_ticks(&format!("/proc/{pid}/stat")).map_or(0, |c| c.1);
        let tasks_after = task_ticks(pid);
        let events_after = live_status(&w.socket).and_then(|s| s["events"].as_u64());
        let steady = proc_mem(pid)?;
        let index_len = fs::metadata(self.db.index())?.len();
        let mapped = mapped_index_kib(pid, &self.db.index());
        let r = &mut self.report;
        r.line(format!(
            "after catch-up: VmRSS {} KiB, VmHWM {} KiB (RssAnon {}, RssFile {})",
            after_boot[0], after_boot[1], after_boot[2], after_boot[3]
        ));
        r.line(format!(
            "after 30 s idle: VmRSS {} KiB (RssAnon {}, RssFile {}), VmHWM {} KiB",
            steady[0], steady[2], steady[3], steady[1]
        ));
        r.line(format!(
            "index file {} KiB, of it resident in the watcher {} KiB; goal: RSS <= 64 MiB + index = {} KiB",
            index_len >> 10,
            mapped,
            (64 << 10) + (index_len >> 10)
        ));
        let hz = TICKS_PER_SECOND;
        r.line(format!(
            "idle CPU over 30 s: {} ticks ({:.2} s at {hz} Hz); events received meanwhile: {:?}",
            after - before,
            (after - before) as f64 / hz as f64,
            events_after.zip(events_before).map(|(a, b)| a - b)
        ));
        let per_task: Vec<String> = tasks_after
            .iter()
            .filter_map(|(name, t)| {
                let b = tasks_before
                    .iter()
                    .find(|(n, _)| n == name)
                    .map_or(0, |x| x.1);
                (t > &b).then(|| format!("{name}: {}", t - b))
            })
            .collect();
        if !per_task.is_empty() {
            r.line(format!("  ticks by thread: {}", per_task.join(", ")));
        }
        r.line(format!("load at end {}", load()));
        Ok(w)
    }

    fn memory_after(&mut self, w: &Watch, what: &str) -> R<()> {
        let m = proc_mem(w.pid())?;
        self.report.line(format!(
            "watcher memory after {what}: VmRSS {} KiB, VmHWM {} KiB (RssAnon {}, RssFile {})",
            m[0], m[1], m[2], m[3]
        ));
        Ok(())
    }

    /// One append, then `size` in other processes until it shows it.
    fn latency(&mut self, w: &mut Watch) -> R<()> {
        self.report.line(format!(
            "\n== latency: one append -> another process sees it (load {} at start; {} trials) ==",
            load(),
            self.trials
        ));
        self.scratch.create()?;
        let dir = self.scratch.path.join("latency");
        fs::create_dir(&dir)?;
        let file = dir.join("appended");
        File::create(&file)?;
        let dir_own = used(&fs::metadata(&dir)?);
        let want_scratch = du(&self.scratch.path)?;
        converge(
            &w.socket,
            &self.scratch.path,
            want_scratch,
            &self.tree,
            self.known + want_scratch,
            Duration::from_secs(30),
        )?;
        let block = vec![b'z'; 4096];
        let mut by_cmd = Vec::new();
        let mut by_socket = Vec::new();
        let mut asks = 0usize;
        for trial in 0..self.trials * 2 {
            let mut f = OpenOptions::new().append(true).open(&file)?;
            f.write_all(&block)?;
            drop(f);
            let t0 = Instant::now();
            // The file's blocks as of now: ext4 may add an extent block at
            // writeback, after the append, without any event, so the
            // oracle is read again at each look.
            let want = || -> R<u64> { Ok(dir_own + used(&fs::metadata(&file)?)) };
            // First half through `size` processes (the figure), second half
            // straight from the socket (the same without process start-up).
            if trial < self.trials {
                loop {
                    let (_, got, _) = self.db.size_cmd(&dir)?;
                    asks += 1;
                    let want = want()?;
                    if got == Some(want) {
                        by_cmd.push(t0.elapsed());
                        break;
                    }
                    if t0.elapsed() > Duration::from_secs(30) {
                        return Err(err(format!(
                            "append not seen after 30 s: {got:?} != {want}"
                        )));
                    }
                }
            } else {
                poll(
                    "append",
                    Duration::from_secs(30),
                    Duration::from_micros(500),
                    || {
                        let got = live_size(&w.socket, &dir);
                        (got.is_some() && got == want().ok()).then(Instant::now)
                    },
                )?;
                by_socket.push(t0.elapsed());
            }
        }
        w.check_alive()?;
        let r = &mut self.report;
        r.line(format!(
            "`size` process: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} `size` runs for {} trials; goal p99 <= 200 ms)",
            ms(percentile(&by_cmd, 50.0)),
            ms(percentile(&by_cmd, 99.0)),
            ms(percentile(&by_cmd, 100.0)),
            asks,
            by_cmd.len()
        ));
        r.line(format!(
            "socket, polled every 0.5 ms: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} trials)",
            ms(percentile(&by_socket, 50.0)),
            ms(percentile(&by_socket, 99.0)),
            ms(percentile(&by_socket, 100.0)),
            by_socket.len()
        ));
        r.line(format!("load at end {}", load()));
        fs::remove_dir_all(&dir)?;
        Ok(())
    }

    /// 100k files in 1,000 new directories, as fast as one writer can.
    fn throughput(&mut self, w: &mut Watch) -> R<()> {
        let runs = (self.runs / 2).max(2);
        self.report.line(format!(
            "\n== throughput: 100k files in 1,000 new directories (load {} at start; {runs} runs) ==",
            load()
        ));
        self.scratch.create()?;
        let base_scratch = du(&self.scratch.path)?;
        converge(
            &w.socket,
            &self.scratch.path,
            base_scratch,
            &self.tree,
            self.known + base_scratch,
            Duration::from_secs(60),
        )?;
        let (mut writes, mut rates, mut all_in, mut equal_after, mut settle) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut states_seen = std::collections::BTreeSet::new();
        let mut lost = 0;
        for run in 0..runs {
            let target = self.scratch.path.join(format!("burst-{run}"));
            let before = live_status(&w.socket).ok_or_else(|| err("no status"))?;
            let ev0 = before["events"].as_u64().unwrap_or(0);
            // Status every 50 ms while writing and settling.
            let stop = Arc::new(AtomicBool::new(false));
            let samples = Arc::new(Mutex::new(Vec::<(Instant, Value)>::new()));
            let sampler = {
                let (stop, samples, socket) = (stop.clone(), samples.clone(), w.socket.clone());
                thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        if let Some(s) = live_status(&socket) {
                            samples.lock().unwrap().push((Instant::now(), s));
                        }
                        thread::sleep(Duration::from_millis(50));
                    }
                })
            };
            let t0 = Instant::now();
            let want = write_files_on(&target, 1000, 100, self.writers)?;
            let t1 = Instant::now();
            let tree_want = self.known + base_scratch + want;
            let took = converge(
                &w.socket,
                &target,
                want,
                &self.tree,
                tree_want,
                Duration::from_secs(120),
            )?;
            // Settled: the events counter stops moving.
            thread::sleep(Duration::from_millis(500));
            stop.store(true, Ordering::Relaxed);
            let _ = sampler.join();
            let samples = samples.lock().unwrap().clone();
            let ev_at = |t: Instant| {
                samples
                    .iter()
                    .rfind(|(s, _)| *s <= t)
                    .and_then(|(_, v)| v["events"].as_u64())
                    .unwrap_or(ev0)
            };
            let ev_end = samples
                .last()
                .and_then(|(_, v)| v["events"].as_u64())
                .unwrap_or(ev0);
            let last_new = samples
                .iter()
                .find(|(_, v)| v["events"].as_u64() == Some(ev_end))
                .map_or(t1, |(t, _)| *t);
            for (_, v) in &samples {
                states_seen.insert(v["state"].as_str().unwrap_or("?").to_owned());
            }
            let in_window = ev_at(t1) - ev0;
            writes.push(t1 - t0);
            rates.push((in_window as f64 / (t1 - t0).as_secs_f64(), ev_end - ev0));
            all_in.push(last_new.saturating_duration_since(t0));
            equal_after.push(took);
            let du_now = du(&target)?;
            if du_now != want {
                self.report.line(format!(
                    "run {run}: du -sB1 says {du_now}, the writer's stats {want}"
                ));
            }
            // Clean up and let the watcher follow.
            let t = Instant::now();
            fs::remove_dir_all(&target)?;
            converge(
                &w.socket,
                &self.scratch.path,
                base_scratch,
                &self.tree,
                self.known + base_scratch,
                Duration::from_secs(120),
            )?;
            settle.push(t.elapsed());
            lost = lost_events(w);
        }
        w.check_alive()?;
        let r = &mut self.report;
        r.line(format!(
            "writer ({} thread(s): mkdir, create, write 1..8000 B, fstat): {}",
            self.writers,
            summary(&writes)
        ));
        let files_per_s: Vec<f64> = writes.iter().map(|d| 100_000.0 / d.as_secs_f64()).collect();
        r.line(format!(
            "  files/s by run: {}",
            files_per_s
                .iter()
                .map(|f| format!("{f:.0}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        r.line(format!(
            "events received by the watcher while the writer ran, per second of writing: {} (total events per run: {})",
            rates
                .iter()
                .map(|(r, _)| format!("{r:.0}"))
                .collect::<Vec<_>>()
                .join(", "),
            rates
                .iter()
                .map(|(_, n)| n.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        let sustained: Vec<f64> = rates
            .iter()
            .zip(&all_in)
            .map(|((_, n), d)| *n as f64 / d.as_secs_f64())
            .collect();
        r.line(format!(
            "all events of a run / (writer start -> last event received, 50 ms sampling): {} events/s (goal >= 50k)",
            sustained
                .iter()
                .map(|f| format!("{f:.0}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        r.line(format!(
            "writer stops -> live sizes of the burst and the tree equal the writer's stats: {} (goal <= 2 s)",
            summary(&equal_after)
        ));
        r.line(format!(
            "rm -r of the burst -> live sizes back: {}",
            summary(&settle)
        ));
        r.line(format!(
            "states seen: {:?}; \"events were lost\" lines: {lost}; inotify max_queued_events {}, max_user_watches {}",
            states_seen,
            fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
                .unwrap_or_default()
                .trim(),
            fs::read_to_string("/proc/sys/fs/inotify/max_user_watches")
                .unwrap_or_default()
                .trim()
        ));
        r.line(format!("load at end {}", load()));
        Ok(())
    }

    /// `reconcile` of about 10k mutations, on each store.
    fn reconcile(&mut self) -> R<()> {
        let runs = (self.runs / 2).max(2);
        self.report.line(format!(
            "\n== reconcile of ~10k mutations (load {} at start; {runs} runs per store) ==",
            load()
        ));
        for backend in ["sqlite", "redb"] {
            let db = if backend == "sqlite" {
                self.db.clone()
            } else {
                let db = Db::new(&self.work, "redb", "redb")?;
                self.scratch.remove();
                db.run(&[OsStr::new("-q"), OsStr::new("scan"), self.tree.as_os_str()])?;
                db
            };
            self.scratch.create()?;
            let mut w = Watch::spawn(&db, &self.tree)?;
            w.wait_live(Duration::from_secs(600))?;
            db.run(&[OsStr::new("-q"), OsStr::new("reconcile")])?;
            let mut rows: Vec<(&str, Vec<Duration>, Vec<u64>)> = vec![
                ("10k new dirs, watcher running", Vec::new(), Vec::new()),
                ("10k changed dirs, watcher running", Vec::new(), Vec::new()),
                ("10k changed dirs, no watcher", Vec::new(), Vec::new()),
                ("nothing new, no watcher", Vec::new(), Vec::new()),
            ];
            let base_scratch = du(&self.scratch.path)?;
            let reconcile = |db: &Db| -> R<(Duration, u64)> {
                let (t, v) = db.run_json(&["reconcile"])?;
                let n = v["roots"].as_array().map_or(0, |rs| {
                    rs.iter().filter_map(|r| r["mutations"].as_u64()).sum()
                });
                Ok((t, n))
            };
            for run in 0..runs {
                let dir = self.scratch.path.join(format!("reconcile-{run}"));
                let settle = |w: &Watch, bench: &Bench| -> R<()> {
                    let want = du(&dir)?;
                    converge(
                        &w.socket,
                        &dir,
                        want,
                        &bench.tree,
                        bench.known + du(&bench.scratch.path)?,
                        Duration::from_secs(120),
                    )?;
                    Ok(())
                };
                write_files(&dir, 10_000, 1)?;
                settle(&w, self)?;
                let (t, n) = reconcile(&db)?;
                rows[0].1.push(t);
                rows[0].2.push(n);

                append_each(&dir)?;
                settle(&w, self)?;
                let (t, n) = reconcile(&db)?;
                rows[1].1.push(t);
                rows[1].2.push(n);

                append_each(&dir)?;
                settle(&w, self)?;
                w.stop()?;
                let pending = db.pending(&self.tree)?;
                let (t, n) = reconcile(&db)?;
                if n != pending {
                    self.report.line(format!(
                        "{backend}: status said {pending} pending, reconcile folded {n}"
                    ));
                }
                rows[2].1.push(t);
                rows[2].2.push(n);
                let (t, n) = reconcile(&db)?;
                rows[3].1.push(t);
                rows[3].2.push(n);

                w = Watch::spawn(&db, &self.tree)?;
                w.wait_live(Duration::from_secs(600))?;
                fs::remove_dir_all(&dir)?;
                converge(
                    &w.socket,
                    &self.scratch.path,
                    base_scratch,
                    &self.tree,
                    self.known + base_scratch,
                    Duration::from_secs(120),
                )?;
                reconcile(&db)?;
            }
            w.stop()?;
            for (what, times, counts) in &rows {
                self.report.line(format!(
                    "{backend}: `reconcile` ({what}; mutations {:?}): {}",
                    counts,
                    summary(times)
                ));
            }
        }
        self.report
            .line(format!("goal <= 200 ms; load at end {}", load()));
        Ok(())
    }
}

impl Db {
    /// Directories in the index, from the tree's latest snapshot.
    fn index_entries(&self) -> String {
        self.run_json(&["snapshots"])
            .ok()
            .and_then(|(_, v)| v["snapshots"].as_array()?.last()?["directories"].as_u64())
            .map_or_else(|| "?".into(), |n| n.to_string())
    }
}

fn main() {
    let mut figures = Vec::new();
    let mut runs = 5usize;
    let mut trials = 1000usize;
    let mut writers = 2usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bench" => {}
            "--runs" => runs = args.next().and_then(|n| n.parse().ok()).unwrap_or(runs),
            "--trials" => trials = args.next().and_then(|n| n.parse().ok()).unwrap_or(trials),
            "--writers" => writers = args.next().and_then(|n| n.parse().ok()).unwrap_or(writers),
            f if FIGURES.contains(&f) => figures.push(f.to_owned()),
            other => {
                eprintln!(
                    "unknown argument {other:?}; figures: {}, options --runs N, --trials N, --writers N",
                    FIGURES.join(" ")
                );
                std::process::exit(2);
            }
        }
    }
    if figures.is_empty() {
        figures = FIGURES.iter().map(|f| (*f).to_owned()).collect();
    }
    let runs = runs.max(1);
    let trials = trials.max(1);
    let work = match tempfile::Builder::new().prefix("live-figures-").tempdir() {
        Ok(w) => w,
        Err(e) => {
            eprintln!("cannot create a temporary directory: {e}");
            std::process::exit(1);
        }
    };
    let Some(tree) = bench_tree(work.path()) else {
        return;
    };
    if let Err(e) = run(&tree, work.path(), &figures, runs, trials, writers.max(1)) {
        eprintln!("live_figures: {e}");
        std::process::exit(1);
    }
}

fn run(
    tree: &Path,
    work: &Path,
    figures: &[String],
    runs: usize,
    trials: usize,
    writers: usize,
) -> R<()> {
    let scratch = Scratch::new(tree)?;
    println!("tree {}; load {}", tree.display(), load());
    let db = Db::new(work, "sqlite", "sqlite")?;
    fs::create_dir_all(&db.home)?;
    let (scan, _) = db.run(&[OsStr::new("-q"), OsStr::new("scan"), tree.as_os_str()])?;
    println!("first scan (sqlite): {:.1} ms", ms(scan));
    let known = du(tree)?;
    let (_, indexed, _) = db.size_cmd(tree)?;
    if indexed != Some(known) {
        return Err(err(format!(
            "the index says {indexed:?} for the tree, du -sB1 says {known}"
        )));
    }
    // A first watch records the watch state that later boots reuse.
    let mut w = Watch::spawn(&db, tree)?;
    w.wait_live(Duration::from_secs(600))?;
    w.stop()?;
    let mut bench = Bench {
        tree: tree.to_path_buf(),
        work: work.to_path_buf(),
        scratch,
        known,
        db,
        runs,
        trials,
        writers,
        report: Report::default(),
    };
    bench.report.line(format!(
        "tree {} ({} bytes by du -sB1); machine: {} cores, load {}",
        tree.display(),
        known,
        thread::available_parallelism().map_or(0, std::num::NonZero::get),
        load()
    ));
    let has = |f: &str| figures.iter().any(|x| x == f);
    if has("boot") {
        bench.boot()?;
    }
    if has("catchup") {
        bench.catchup()?;
    }
    if has("memory") || has("latency") || has("throughput") {
        let mut w = bench.memory()?;
        if has("latency") {
            bench.latency(&mut w)?;
        }
        if has("throughput") {
            bench.throughput(&mut w)?;
            bench.memory_after(&w, "the throughput runs")?;
        }
        w.stop()?;
    }
    if has("reconcile") {
        bench.reconcile()?;
    }
    bench.scratch.remove();
    let after = du(tree)?;
    bench.report.line(format!(
        "\ntree left as found: du -sB1 {after} (before {known}): {}",
        if after == known { "equal" } else { "DIFFERENT" }
    ));
    println!("\n==== summary ====");
    for l in &bench.report.0 {
        println!("{l}");
    }
    if after != known {
        return Err(err("the tree's disk usage changed"));
    }
    Ok(())
}
