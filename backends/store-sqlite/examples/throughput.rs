//! Measures the SQLite store's snapshot write and read throughput.
//!
//! ```text
//! cargo run --release -p disktracker-store-sqlite --example throughput [-- DIRS [SNAPSHOTS [RUNS [WALK]]]]
//! ```
//!
//! Writes SNAPSHOTS (default 13) snapshots of the same synthetic tree of
//! DIRS (default 65,000) directories with paths of about 60-120 bytes into a
//! new database, each the way one `scan` process does it (open, write the
//! rows, commit, close), then reads each back in path order through a new
//! read-only open. Repeats that RUNS times (default 1) on new databases and
//! prints, for snapshots 1, 5, 13 and the last, the median write time (wall
//! and on-CPU) with its phases, the median read, point-read times and the
//! bytes per directory per snapshot. Snapshot 1 lands in an empty file; the
//! later ones show whether the cost grows with history.
//!
//! WALK (default 0) puts WALK million steps of busy work on each of two
//! threads between opening the store and writing, standing in for the tree
//! walk of a `scan`: the store's background checkpoint runs during it, and
//! the report then also gives the whole "scan" (open, walk, the previous
//! snapshot's read that a rescan does after walking, write, close).
// A failed unwrap in a test or benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use disktracker::{DirStats, SnapshotMeta, SnapshotStore, StoreOptions};
use disktracker_testkit::rng::Rng;

mod common;
use common::tree;

/// Time this process's live threads have spent on a CPU (the scheduler's
/// accounting in nanoseconds, summed over /proc/self/task): on a shared,
/// loaded machine it is steadier than wall time. A thread that exits within
/// a span (the store's background checkpoint, the stand-in walk's second
/// thread) drops out of it: [`process_cpu`] counts those.
fn cpu_time() -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map(Duration::from_nanos)
        .sum()
}

/// On-CPU time of the whole process, including threads that have exited
/// (such as the store's background checkpoint), in the kernel's clock ticks
/// of 10 ms: only meaningful as a mean over many spans.
fn process_cpu() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // Fields after the command name, which may contain spaces: utime and
    // stime are the 14th and 15th fields, the 12th and 13th after it.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: u64 = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

/// Mean times of the point reads in the newest snapshot: `dir`, `children`
/// of the root and of a small directory, and a small subtree.
fn point_reads(store: &dyn SnapshotStore, paths: &[Vec<u8>]) -> disktracker::Result<String> {
    let id = store.snapshots()?.last().map(|s| s.id).unwrap_or_default();
    let time = |n: usize, f: &mut dyn FnMut(usize) -> disktracker::Result<usize>| {
        let t = Instant::now();
        let mut rows = 0;
        for i in 0..n {
            rows += f(i)?;
        }
        Ok::<_, disktracker::Error>((t.elapsed() / n as u32, rows / n))
    };
    let step = paths.len() / 1000;
    let (dir, _) = time(1000, &mut |i| {
        Ok(store.dir(id, &paths[i * step])?.map_or(0, |_| 1))
    })?;
    let (root_kids, nk) = time(20, &mut |_| Ok(store.children(id, &paths[0])?.len()))?;
    // Directories whose subtree has a few dozen rows.
    let small: Vec<&Vec<u8>> = paths
        .iter()
        .filter(|p| p.len() > 80)
        .step_by(97)
        .take(200)
        .collect();
    let (kids, _) = time(small.len(), &mut |i| {
        Ok(store.children(id, small[i])?.len())
    })?;
    let (sub, ns) = time(small.len(), &mut |i| {
        Ok(store.read_tree(id, Some(small[i]))?.len())
    })?;
    Ok(format!(
        "point reads: dir {dir:.1?}; children of the root ({nk}) {root_kids:.1?}; \
         children of a small dir {kids:.1?}; small subtree ({ns} rows) {sub:.1?}"
    ))
}

/// Stands in for the tree walk a `scan` does between opening the store and
/// writing the snapshot: `million` million steps of busy work on each of two
/// threads (the walker's), so work the store does meanwhile competes for the
/// CPUs as it would in a scan. A fixed amount of work, not of time, so two
/// builds can be compared.
fn walk(million: u64) {
    let work = move || {
        let mut r = Rng::new(million | 1);
        let mut acc = 0u64;
        for _ in 0..million * 1_000_000 {
            acc = acc.wrapping_add(r.next_u64());
        }
        std::hint::black_box(acc);
    };
    let t = std::thread::spawn(work);
    work();
    let _ = t.join();
}

/// Wall time and on-CPU time of one phase.
#[derive(Clone, Copy, Default)]
struct Timing {
    wall: Duration,
    cpu: Duration,
}

impl std::fmt::Display for Timing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:>7.1?} wall {:>7.1?} cpu", self.wall, self.cpu)
    }
}

/// Starts timing a phase.
fn mark() -> (Instant, Duration) {
    (Instant::now(), cpu_time())
}

/// Ends a phase started by [`mark`].
fn since((t, c): (Instant, Duration)) -> Timing {
    Timing {
        wall: t.elapsed(),
        cpu: cpu_time().saturating_sub(c),
    }
}

/// One snapshot as one `scan` run writes it (open, rows, commit, close),
/// then one read of it by a new read-only process (open, whole-tree visit).
#[derive(Clone, Copy, Default)]
struct Phases {
    open: Timing,
    /// The stand-in walk between open and write (see [`walk`]).
    walk: Timing,
    /// Reading the previous snapshot back, as a rescan does before writing.
    previous: Timing,
    rows: Timing,
    commit: Timing,
    close: Timing,
    /// Open, walk, write and close: what the store adds to a scan, with
    /// anything it does during the walk.
    scan: Timing,
    /// [`process_cpu`] over open, walk, write and close.
    scan_process_cpu: Duration,
    /// The whole write (the scan less the walk and the previous snapshot's
    /// read), timed as one span (more exact on-CPU time than the
    /// sum of the phases: the scheduler's accounting has tick resolution).
    write: Timing,
    open_ro: Timing,
    read: Timing,
    /// Bytes of the write-ahead log left after the writer closed.
    wal: u64,
}

/// Milliseconds, for the phase breakdowns.
fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

/// The median wall and (separately) the median on-CPU time.
fn median(v: &[Timing]) -> Timing {
    let mid = |mut d: Vec<Duration>| {
        d.sort_unstable();
        d.get(d.len() / 2).copied().unwrap_or_default()
    };
    Timing {
        wall: mid(v.iter().map(|t| t.wall).collect()),
        cpu: mid(v.iter().map(|t| t.cpu).collect()),
    }
}

fn file_len(p: &std::path::Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

/// Writes `snapshots` snapshots into a new database, one "process" each.
fn run(
    paths: &[Vec<u8>],
    rows: &[(u32, DirStats)],
    snapshots: usize,
    walk_work: u64,
    verbose: bool,
) -> disktracker::Result<(Vec<Phases>, u64, u64, String)> {
    let tmp = tempfile::tempdir().expect("temporary directory");
    let db = tmp.path().join("data.db");
    let wal = tmp.path().join("data.db-wal");
    let open = |read_only: bool| {
        disktracker_store_sqlite::open_store(&StoreOptions::file(db.clone()).read_only(read_only))
    };
    let mut phases: Vec<Phases> = Vec::new();
    for n in 0..snapshots {
        let meta = SnapshotMeta {
            root: paths[0].clone(),
            host: "bench".into(),
            dir_count: paths.len() as u64,
            walker: "synthetic".into(),
            ..SnapshotMeta::default()
        };
        let mut ph = Phases::default();
        let whole = mark();
        let process_before = process_cpu();
        let m = mark();
        let mut store = open(false)?;
        ph.open = since(m);
        let m = mark();
        walk(walk_work);
        ph.walk = since(m);
        // A rescan reads the previous snapshot after the walk, in path
        // order, to diff it against the new tree.
        let m = mark();
        if let Some(prev) = store.snapshots()?.last().map(|s| s.id) {
            let mut bytes = 0u64;
            store.visit_tree(prev, None, &mut |r| {
                bytes = bytes.wrapping_add(r.stats.total_bytes);
                true
            })?;
            std::hint::black_box(bytes);
        }
        ph.previous = since(m);
        let m = mark();
        let mut w = store.begin_snapshot(&meta)?;
        for (p, (depth, stats)) in paths.iter().zip(rows) {
            w.write_dir(p, *depth, stats)?;
        }
        ph.rows = since(m);
        let m = mark();
        let id = w.commit()?;
        ph.commit = since(m);
        let m = mark();
        drop(store);
        ph.close = since(m);
        ph.scan = since(whole);
        ph.scan_process_cpu = process_cpu().saturating_sub(process_before);
        ph.write = Timing {
            wall: ph.scan.wall.saturating_sub(ph.walk.wall + ph.previous.wall),
            cpu: ph.scan.cpu.saturating_sub(ph.walk.cpu + ph.previous.cpu),
        };
        ph.wal = file_len(&wal);

        let m = mark();
        let store = open(true)?;
        ph.open_ro = since(m);
        let m = mark();
        let mut seen = 0usize;
        let mut bytes = 0usize;
        store.visit_tree(id, None, &mut |r| {
            seen += 1;
            bytes += r.path.len();
            true
        })?;
        ph.read = since(m);
        drop(store);
        assert_eq!(seen, paths.len());
        std::hint::black_box(bytes);
        if verbose {
            eprintln!(
                "snapshot {:>2}: walk {}; previous {}; write {} = open {} + rows {} + commit {} + close {} ms; \
                 wal {:.1} MiB; read-only open {}, read {}",
                n + 1,
                ph.walk,
                ph.previous,
                ph.write,
                ms(ph.open.wall),
                ms(ph.rows.wall),
                ms(ph.commit.wall),
                ms(ph.close.wall),
                ph.wal as f64 / 1048576.0,
                ph.open_ro,
                ph.read,
            );
        }
        phases.push(ph);
    }
    // What the files hold after the last scan, and after reclaim_space
    // (which checkpoints the log into the file and truncates it).
    let files = file_len(&db) + file_len(&wal);
    let page_size: i64 = rusqlite::Connection::open(&db)
        .and_then(|c| c.query_row("PRAGMA page_size", [], |r| r.get(0)))
        .unwrap_or(0);
    let mut store = open(false)?;
    store.reclaim_space()?;
    let lookups = point_reads(store.as_ref(), paths)?;
    drop(store);
    let lookups = format!("{lookups}\npage size {page_size}");
    Ok((phases, files, file_len(&db) + file_len(&wal), lookups))
}

fn main() -> disktracker::Result<()> {
    let mut args = std::env::args().skip(1);
    let dirs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(65_000);
    let snapshots: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(13)
        .max(1);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1).max(1);
    let walk_work: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(0);
    let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15);
    let paths = tree(dirs, &mut rng);
    let avg_len = paths.iter().map(Vec::len).sum::<usize>() as f64 / paths.len() as f64;
    let rows: Vec<(u32, DirStats)> = paths
        .iter()
        .map(|p| {
            let depth = p.iter().filter(|&&b| b == b'/').count() as u32 - 4;
            let stats = DirStats {
                total_bytes: rng.below_u64(1 << 40),
                total_apparent: rng.below_u64(1 << 40),
                direct_bytes: rng.below_u64(1 << 24),
                direct_apparent: rng.below_u64(1 << 24),
                file_count: rng.below_u64(1 << 20),
                direct_files: rng.below_u64(200),
                child_count: rng.below_u64(9),
                error_count: 0,
                mtime_ns: 1_700_000_000_000_000_000 + rng.below_u64(1 << 50) as i64,
                dev: 64769,
                ino: rng.below_u64(1 << 26),
                fingerprint: u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64()),
            };
            (depth, stats)
        })
        .collect();

    let mut all: Vec<Vec<Phases>> = Vec::new();
    let (mut files, mut reclaimed, mut lookups) = (0, 0, String::new());
    for r in 0..runs {
        eprintln!("run {}/{runs}", r + 1);
        let (phases, f, rc, l) = run(&paths, &rows, snapshots, walk_work, true)?;
        all.push(phases);
        (files, reclaimed, lookups) = (f, rc, l);
    }

    println!(
        "{} dirs (mean path {avg_len:.0} bytes), {snapshots} snapshots, {runs} run(s); medians over runs",
        paths.len()
    );
    let mut picks: Vec<usize> = [1, 5, 13].into_iter().filter(|&n| n <= snapshots).collect();
    if !picks.contains(&snapshots) {
        picks.push(snapshots);
    }
    for n in picks {
        let at: Vec<Phases> = all.iter().map(|p| p[n - 1]).collect();
        let med = |f: fn(&Phases) -> Timing| median(&at.iter().map(f).collect::<Vec<_>>());
        let write = med(|p| p.write);
        if walk_work > 0 {
            println!(
                "snapshot {n:>2}: scan {} = walk {} + previous snapshot's read {} + write {} (wall)",
                med(|p| p.scan),
                med(|p| p.walk),
                med(|p| p.previous),
                ms(med(|p| p.write).wall)
            );
        }
        let mut wal: Vec<u64> = at.iter().map(|p| p.wal).collect();
        wal.sort_unstable();
        println!(
            "snapshot {n:>2}: write {write} = open {} + rows {} + commit {} + close {} ms wall \
             ({} + {} + {} + {} cpu); wal after close {:.1} MiB",
            ms(med(|p| p.open).wall),
            ms(med(|p| p.rows).wall),
            ms(med(|p| p.commit).wall),
            ms(med(|p| p.close).wall),
            ms(med(|p| p.open).cpu),
            ms(med(|p| p.rows).cpu),
            ms(med(|p| p.commit).cpu),
            ms(med(|p| p.close).cpu),
            wal[wal.len() / 2] as f64 / 1048576.0,
        );
    }
    let every: Vec<Phases> = all.iter().flatten().copied().collect();
    let n = every.len().max(1) as u32;
    let walk_cpu: Duration = every.iter().map(|p| p.walk.cpu).sum::<Duration>() / n;
    println!(
        "process on-CPU time per snapshot, every thread (10 ms ticks, mean over {n}): \
         {:.1?} for open, walk, write and close (the walk alone, this thread: {walk_cpu:.1?})",
        every.iter().map(|p| p.scan_process_cpu).sum::<Duration>() / n,
    );
    let med = |f: fn(&Phases) -> Timing| median(&every.iter().map(f).collect::<Vec<_>>());
    println!(
        "read (every snapshot): read-only open {}; whole tree {} ({:.0} rows/s cpu)",
        med(|p| p.open_ro),
        med(|p| p.read),
        paths.len() as f64 / med(|p| p.read).cpu.as_secs_f64(),
    );
    println!("{lookups}");
    let per = |b: u64| b as f64 / (paths.len() * snapshots) as f64;
    println!(
        "files: {files} bytes after the last scan ({:.0} per directory per snapshot), {reclaimed} after reclaim_space ({:.0})",
        per(files),
        per(reclaimed),
    );
    Ok(())
}
