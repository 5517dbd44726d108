//! Scan speed at default settings, cold and warm, side by side in one run:
//! `disktracker scan` at its default thread count and at fixed `-j` counts,
//! a floor walker of our own (below), and pdu.
//!
//!     cargo bench --bench scan_speed -- [TREE] [--rounds N] [--warm-only] [--j LIST] [--store-bound]
//!
//! TREE defaults to /work/bench-tree-1m (`cargo run --release -p
//! disktracker-testkit --bin gen_tree -- TREE 1000000 1`). Each round runs
//! every command once, in the same order, so slow drifts of the machine hit
//! them alike; medians over the rounds are printed with ratios, each ratio
//! both of the medians and as the median of the rounds' own ratios. Cold rounds
//! drop the page cache (root only) before every command; warm rounds run
//! every command once untimed first.
//!
//! The floor is the least a disk-usage walk can do: `openat` of each
//! directory relative to its parent's fd, `getdents64`, and one `fstatat`
//! per entry relative to the directory fd, summing `st_blocks`; no paths,
//! no store, no hard-link bookkeeping, a plain shared stack for work. This
//! binary runs it when started as `scan_speed --floor TREE THREADS`.
//!
//! `disktracker` runs as `scan` into a fresh database ("scan") and as a
//! rescan of a database holding the previous snapshot ("rescan", which also
//! streams the old snapshot against the new one and caches their diff).
//!
//! Two more contenders bound what a store can cost (`--store-bound`): the
//! SQLite write of the tree's snapshot alone ("store write"), and the same
//! write on a thread of its own while the 2-thread floor walks ("floor +
//! store beside it"): the least any scan that stores the tree can take,
//! however well it overlaps its write with its walk. Both read the tree
//! first, untimed, and time themselves (`wall_ns=` on their output).
// A failed unwrap in a test or benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::ffi::CString;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use disktracker::{DirRecord, StoreOptions, registry};
use disktracker_defaults as _;
use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags, RawDir, openat, statat};

mod common;

/// A directory to read: its name relative to its parent's open fd.
struct Job {
    parent: Option<Arc<OwnedFd>>,
    name: CString,
}

struct Queue {
    jobs: Vec<Job>,
    /// Workers waiting for a job.
    idle: usize,
    /// Set when every worker is idle and no job is left.
    done: bool,
}

/// Walks `root` with `threads` workers; (entries, bytes of `st_blocks`).
/// Each worker goes depth first through its own stack and shares half of it
/// only when another worker waits, so the lock is taken rarely.
fn floor(root: &Path, threads: usize) -> (u64, u64) {
    let shared = Arc::new((
        Mutex::new(Queue {
            jobs: vec![Job {
                parent: None,
                name: CString::new(root.as_os_str().as_encoded_bytes()).unwrap(),
            }],
            idle: 0,
            done: false,
        }),
        Condvar::new(),
        AtomicUsize::new(0),
    ));
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || {
                let (lock, wake, idle) = &*shared;
                let mut buf = Vec::with_capacity(64 << 10);
                let (mut entries, mut bytes) = (0u64, 0u64);
                let mut local: Vec<Job> = Vec::new();
                loop {
                    let job = match local.pop() {
                        Some(job) => job,
                        None => {
                            let mut q = lock.lock().unwrap();
                            loop {
                                if let Some(job) = q.jobs.pop() {
                                    break job;
                                }
                                if q.done {
                                    return (entries, bytes);
                                }
                                q.idle += 1;
                                idle.store(q.idle, Ordering::Relaxed);
                                if q.idle == threads {
                                    q.done = true;
                                    wake.notify_all();
                                    return (entries, bytes);
                                }
                                q = wake.wait(q).unwrap();
                                q.idle -= 1;
                                idle.store(q.idle, Ordering::Relaxed);
                            }
                        }
                    };
                    local.extend(read_dir(&job, &mut buf, &mut entries, &mut bytes));
                    if local.len() > 1 && idle.load(Ordering::Relaxed) > 0 {
                        let half = local.len() / 2;
                        let mut q = lock.lock().unwrap();
                        q.jobs.extend(local.drain(..half));
                        wake.notify_all();
                    }
                }
            })
        })
        .collect();
    workers
        .into_iter()
        .map(|w| w.join().unwrap())
        .fold((1, 0), |(e, b), (we, wb)| (e + we, b + wb))
}

/// Reads one directory: stats every entry, returns its subdirectories.
fn read_dir(job: &Job, buf: &mut Vec<u8>, entries: &mut u64, bytes: &mut u64) -> Vec<Job> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let opened = match &job.parent {
        Some(p) => openat(&**p, job.name.as_c_str(), flags, Mode::empty()),
        None => openat(CWD, job.name.as_c_str(), flags, Mode::empty()),
    };
    let Ok(fd) = opened else { return Vec::new() };
    let fd = Arc::new(fd);
    let mut subdirs = Vec::new();
    let spare: &mut [MaybeUninit<u8>] = buf.spare_capacity_mut();
    let mut dir = RawDir::new(&*fd, spare);
    while let Some(Ok(e)) = dir.next() {
        let name = e.file_name();
        if name == c"." || name == c".." {
            continue;
        }
        let Ok(st) = statat(&*fd, name, AtFlags::SYMLINK_NOFOLLOW) else {
            continue;
        };
        *entries += 1;
        *bytes += u64::try_from(st.st_blocks).unwrap_or(0) * 512;
        if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
            subdirs.push(Job {
                parent: Some(Arc::clone(&fd)),
                name: name.to_owned(),
            });
        }
    }
    subdirs
}

/// Writes `rows` as one snapshot into a new SQLite database under `dir`
/// (opened before the clock starts, as a scan opens its store before it
/// walks); returns how long the write took.
fn store_write(dir: &Path, rows: &[DirRecord]) -> Duration {
    let plugin = registry::stores().unwrap().get("sqlite").unwrap();
    let mut store = (plugin.open)(&StoreOptions::file(dir.join("bound.db"))).unwrap();
    common::write_snapshot(&mut *store, &rows[0].path, rows).1
}

/// `--store-bound TREE beside|alone`: the store write of TREE's snapshot,
/// alone or beside the 2-thread floor; prints its own wall time.
fn store_bound(tree: &Path, beside: bool) {
    raise_nofile();
    let rows = common::records(tree);
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let write = if beside {
        std::thread::scope(|s| {
            let writer = s.spawn(|| store_write(dir.path(), &rows));
            floor(tree, 2);
            writer.join().unwrap()
        })
    } else {
        store_write(dir.path(), &rows)
    };
    let wall = t.elapsed();
    println!(
        "{} rows, write {:.1} ms, wall_ns={}",
        rows.len(),
        write.as_secs_f64() * 1e3,
        wall.as_nanos()
    );
}

/// Median, least and greatest of `v` (not empty).
fn spread(v: impl IntoIterator<Item = f64>) -> (f64, f64, f64) {
    let mut v: Vec<f64> = v.into_iter().collect();
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn drop_caches() -> bool {
    rustix::fs::sync();
    std::fs::write("/proc/sys/vm/drop_caches", "3\n").is_ok()
}

struct Contender {
    name: String,
    cmd: Vec<String>,
    /// Runs before each timed run, untimed (a fresh database).
    prepare: Option<Box<dyn Fn()>>,
    /// Times itself: its `wall_ns=` replaces the process's wall time.
    timed_inside: bool,
}

fn run(c: &Contender) -> Duration {
    if let Some(p) = &c.prepare {
        p();
    }
    let t = Instant::now();
    let out = Command::new(&c.cmd[0]).args(&c.cmd[1..]).output().unwrap();
    let took = t.elapsed();
    assert!(
        out.status.success(),
        "{} failed: {}",
        c.name,
        String::from_utf8_lossy(&out.stderr)
    );
    if !c.timed_inside {
        return took;
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let ns = stdout
        .split_once("wall_ns=")
        .and_then(|(_, rest)| rest.trim().parse().ok())
        .unwrap_or_else(|| panic!("{} printed no wall_ns=: {stdout}", c.name));
    Duration::from_nanos(ns)
}

fn raise_nofile() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut lim = getrlimit(Resource::Nofile);
    lim.current = lim.maximum;
    let _ = setrlimit(Resource::Nofile, lim);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--floor") {
        raise_nofile();
        let (entries, bytes) = floor(Path::new(&args[1]), args[2].parse().unwrap());
        println!("{entries} entries, {bytes} bytes");
        return;
    }
    if args.first().map(String::as_str) == Some("--store-bound-child") {
        store_bound(Path::new(&args[1]), args[2] == "beside");
        return;
    }
    let mut tree = PathBuf::from("/work/bench-tree-1m");
    let (mut rounds, mut warm_only, mut js) = (7usize, false, vec![8u32, 16, 32]);
    let mut bound = false;
    let mut it = args.iter().filter(|a| *a != "--bench");
    while let Some(a) = it.next() {
        match a.as_str() {
            "--rounds" => rounds = it.next().unwrap().parse().unwrap(),
            "--warm-only" => warm_only = true,
            "--store-bound" => bound = true,
            "--j" => {
                js = it
                    .next()
                    .unwrap()
                    .split(',')
                    .map(|j| j.parse().unwrap())
                    .collect();
            }
            other => tree = PathBuf::from(other),
        }
    }
    if !tree.is_dir() {
        eprintln!(
            "no benchmark tree at {0}; generate it with `cargo run --release -p \
             disktracker-testkit --bin gen_tree -- {0} 1000000 1`",
            tree.display()
        );
        return;
    }
    let dt = env!("CARGO_BIN_EXE_disktracker").to_owned();
    let me = std::env::current_exe()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let work = tempfile::tempdir().unwrap();
    let t = tree.to_string_lossy().into_owned();
    let fresh = work.path().join("fresh.db");
    let history = work
        .path()
        .join("history.db")
        .to_string_lossy()
        .into_owned();
    let scan = |name: &str, j: Option<u32>, db: &str, fresh: bool| {
        let mut cmd = vec![dt.clone(), "--db".into(), db.into(), "-q".into()];
        if let Some(j) = j {
            cmd.extend(["-j".into(), j.to_string()]);
        }
        cmd.extend(["scan".into(), t.clone()]);
        let dir = work.path().to_owned();
        Contender {
            name: name.to_owned(),
            cmd,
            timed_inside: false,
            prepare: fresh.then(|| {
                Box::new(move || {
                    for e in std::fs::read_dir(&dir).unwrap().flatten() {
                        if e.file_name().to_string_lossy().starts_with("fresh.") {
                            std::fs::remove_file(e.path()).unwrap();
                        }
                    }
                }) as Box<dyn Fn()>
            }),
        }
    };
    let f = fresh.to_string_lossy().into_owned();
    let mut contenders = vec![
        scan("scan (default)", None, &f, true),
        scan("rescan (default)", None, &history, false),
    ];
    for &j in &js {
        contenders.push(scan(&format!("scan -j {j}"), Some(j), &f, true));
    }
    for threads in [2, 32] {
        contenders.push(Contender {
            name: format!("floor, {threads} threads"),
            cmd: vec![me.clone(), "--floor".into(), t.clone(), threads.to_string()],
            prepare: None,
            timed_inside: false,
        });
    }
    if bound {
        for (name, how) in [("store write", "alone"), ("floor + store beside", "beside")] {
            contenders.push(Contender {
                name: name.into(),
                cmd: vec![
                    me.clone(),
                    "--store-bound-child".into(),
                    t.clone(),
                    how.into(),
                ],
                prepare: None,
                timed_inside: true,
            });
        }
    }
    let pdu = Command::new("pdu").arg("--version").output().is_ok();
    if pdu {
        contenders.push(Contender {
            name: "pdu".into(),
            cmd: vec!["pdu".into(), "--max-depth=1".into(), t.clone()],
            prepare: None,
            timed_inside: false,
        });
    } else {
        eprintln!("pdu not found (`cargo install parallel-disk-usage`): left out");
    }

    let cold = !warm_only && drop_caches();
    if !warm_only && !cold {
        eprintln!("cannot drop the page cache (needs root): warm rounds only");
    }
    let mut phases = vec![("warm", false)];
    if cold {
        phases.push(("cold", true));
    }
    println!("tree {t}, {rounds} rounds; medians, seconds");
    for (phase, is_cold) in phases {
        if !is_cold {
            for c in &contenders {
                run(c);
            }
        }
        let mut times: BTreeMap<usize, Vec<Duration>> = BTreeMap::new();
        for _ in 0..rounds {
            for (i, c) in contenders.iter().enumerate() {
                if is_cold {
                    // A rescan's previous snapshot would be read cold too,
                    // and the store bounds read the tree before they time:
                    // keep the comparison about the walk.
                    if c.name.starts_with("rescan") || c.timed_inside {
                        continue;
                    }
                    drop_caches();
                }
                times.entry(i).or_default().push(run(c));
            }
        }
        let secs = |v: &[Duration]| spread(v.iter().map(Duration::as_secs_f64));
        let med: BTreeMap<&str, f64> = times
            .iter()
            .map(|(&i, v)| (contenders[i].name.as_str(), secs(v).0))
            .collect();
        println!("\n{phase}:");
        for (&i, v) in &times {
            let (median, min, max) = secs(v);
            println!(
                "  {:22} {median:7.3}   (min {min:.3}, max {max:.3})",
                contenders[i].name
            );
        }
        let best = med
            .iter()
            .filter(|(n, _)| n.starts_with("scan -j"))
            .min_by(|a, b| a.1.total_cmp(b.1))
            .map_or("scan (default)", |(n, _)| *n);
        let index = |name: &str| contenders.iter().position(|c| c.name == name);
        // Two readings of each ratio: of the medians, and the median of the
        // rounds' own ratios. A round runs its commands within seconds of
        // each other, so the second is the one a drifting machine moves less.
        let ratio = |label: &str, a: &str, b: &str| {
            let (Some(va), Some(vb)) = (
                index(a).and_then(|i| times.get(&i)),
                index(b).and_then(|i| times.get(&i)),
            ) else {
                return;
            };
            let (median, min, max) = spread(
                va.iter()
                    .zip(vb)
                    .map(|(x, y)| x.as_secs_f64() / y.as_secs_f64()),
            );
            println!(
                "  {label:32} {:.2}x   (per round: median {median:.2}x, {min:.2}x to {max:.2}x)",
                med[a] / med[b]
            );
        };
        ratio(
            &format!("default / best -j ({best}):"),
            "scan (default)",
            best,
        );
        ratio(
            "default / floor, 2 threads:",
            "scan (default)",
            "floor, 2 threads",
        );
        ratio(
            "rescan / floor, 2 threads:",
            "rescan (default)",
            "floor, 2 threads",
        );
        ratio("default / pdu:", "scan (default)", "pdu");
        ratio(
            "(floor + store beside) / floor:",
            "floor + store beside",
            "floor, 2 threads",
        );
    }
}
