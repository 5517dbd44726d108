//! Measures the SQLite store's snapshot write and read throughput.
//!
//! ```text
//! cargo run --release -p disktracker-store-sqlite --example throughput [-- DIRS [SNAPSHOTS]]
//! ```
//!
//! Writes SNAPSHOTS (default 3) snapshots of the same synthetic tree of DIRS
//! (default 65,000) directories with paths of about 60-120 bytes, reads each
//! back in path order, and prints the median times, rows per second and the
//! database bytes per directory per snapshot. Later snapshots are the
//! realistic case: their rows land in indexes that already hold the earlier
//! snapshots' paths.

use std::time::{Duration, Instant};

use disktracker::{DirStats, SnapshotMeta, SnapshotStore, StoreOptions};

/// A small deterministic generator (xorshift64*), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `n` distinct directory paths below a 36-byte root, sorted bytewise, each
/// with a parent in the set; most paths are 60-120 bytes long.
fn tree(n: usize, rng: &mut Rng) -> Vec<Vec<u8>> {
    const WORDS: &[&str] = &[
        "src",
        "target",
        "node_modules",
        "build",
        "assets",
        "docs",
        "tests",
        "vendor",
        "release",
        "debug",
        "include",
        "lib",
        "share",
        "cache",
        "packages",
        "components",
        "deps",
        "incremental",
        "fixtures",
        "images",
        "locale",
        "modules",
        "internal",
        "examples",
    ];
    let root = b"/home/someone/projects/workspace-main".to_vec();
    let mut all = vec![root.clone()];
    let mut frontier = vec![root];
    let mut i = 0;
    while all.len() < n {
        let parent = frontier[i % frontier.len()].clone();
        i += 1;
        // Most paths end up 60-120 bytes long.
        if parent.len() > 95 {
            continue;
        }
        let kids = 2 + rng.below(7);
        for _ in 0..kids {
            if all.len() >= n {
                break;
            }
            let word = WORDS[rng.below(WORDS.len() as u64) as usize];
            let mut p = parent.clone();
            p.push(b'/');
            p.extend_from_slice(word.as_bytes());
            p.extend_from_slice(format!("-{:x}", rng.below(1 << 12)).as_bytes());
            all.push(p.clone());
            frontier.push(p);
        }
    }
    all.sort_unstable();
    all.dedup();
    all
}

/// Time this thread has spent on a CPU (from the scheduler's accounting):
/// on a shared machine it is steadier than wall time.
fn cpu_time() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map(Duration::from_nanos)
        .unwrap_or_default()
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

/// Wall time and on-CPU time of one phase.
type Timing = (Duration, Duration);

/// One snapshot's rows, commit, close and read timings.
type Phases = [Timing; 4];

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

fn main() -> disktracker::Result<()> {
    let mut args = std::env::args().skip(1);
    let dirs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(65_000);
    let snapshots: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let tmp = tempfile::tempdir().expect("temporary directory");
    let db = tmp.path().join("data.db");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let paths = tree(dirs, &mut rng);
    let avg_len = paths.iter().map(Vec::len).sum::<usize>() as f64 / paths.len() as f64;
    let rows: Vec<(u32, DirStats)> = paths
        .iter()
        .map(|p| {
            let depth = p.iter().filter(|&&b| b == b'/').count() as u32 - 4;
            let stats = DirStats {
                total_bytes: rng.below(1 << 40),
                total_apparent: rng.below(1 << 40),
                direct_bytes: rng.below(1 << 24),
                direct_apparent: rng.below(1 << 24),
                file_count: rng.below(1 << 20),
                direct_files: rng.below(200),
                child_count: rng.below(9),
                error_count: 0,
                mtime_ns: 1_700_000_000_000_000_000 + rng.below(1 << 50) as i64,
                dev: 64769,
                ino: rng.below(1 << 26),
                fingerprint: u128::from(rng.next()) << 64 | u128::from(rng.next()),
            };
            (depth, stats)
        })
        .collect();

    let open = || {
        disktracker_store_sqlite::open_store(&StoreOptions {
            path: db.clone(),
            read_only: false,
        })
    };
    // Per snapshot, like one `scan` run: open, write the rows, commit, close
    // (closing the last connection checkpoints the log into the file).
    let mut phases: Vec<Phases> = Vec::new();
    for n in 0..snapshots {
        let meta = SnapshotMeta {
            root: paths[0].clone(),
            host: "bench".into(),
            dir_count: paths.len() as u64,
            walker: "synthetic".into(),
            ..SnapshotMeta::default()
        };
        let mut store = open()?;
        let mark = || (Instant::now(), cpu_time());
        let since = |(t, c): (Instant, Duration)| (t.elapsed(), cpu_time() - c);
        let m = mark();
        let mut w = store.begin_snapshot(&meta)?;
        for (p, (depth, stats)) in paths.iter().zip(&rows) {
            w.write_dir(p, *depth, stats)?;
        }
        let rows_t = since(m);
        let m = mark();
        let id = w.commit()?;
        let commit_t = since(m);
        let m = mark();
        drop(store);
        let close_t = since(m);

        let store = open()?;
        let m = mark();
        let mut seen = 0usize;
        let mut bytes = 0usize;
        store.visit_tree(id, None, &mut |r| {
            seen += 1;
            bytes += r.path.len();
            true
        })?;
        let read_t = since(m);
        assert_eq!(seen, paths.len());
        std::hint::black_box(bytes);
        phases.push([rows_t, commit_t, close_t, read_t]);
        eprintln!(
            "snapshot {n}: rows {rows_t:.1?}, commit {commit_t:.1?}, close {close_t:.1?}, read {read_t:.1?} (wall, cpu)"
        );
    }
    let mut store = open()?;
    // Checkpoint so the main file holds everything before measuring it.
    store.reclaim_space()?;
    let lookups = point_reads(store.as_ref(), &paths)?;
    drop(store);
    let file = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);

    // The first snapshot lands in empty indexes; the later ones are typical.
    let typical = if phases.len() > 1 {
        &phases[1..]
    } else {
        &phases[..]
    };
    let med = |f: &dyn Fn(&Phases) -> Timing| {
        let v: Vec<_> = typical.iter().map(f).collect();
        (
            median(v.iter().map(|x| x.0).collect()),
            median(v.iter().map(|x| x.1).collect()),
        )
    };
    let write = med(&|p| (p[0].0 + p[1].0 + p[2].0, p[0].1 + p[1].1 + p[2].1));
    let (rows_m, commit_m, close_m, read_m) = (
        med(&|p| p[0]),
        med(&|p| p[1]),
        med(&|p| p[2]),
        med(&|p| p[3]),
    );
    let per_s = |d: Duration| paths.len() as f64 / d.as_secs_f64();
    println!(
        "{} dirs (mean path {avg_len:.0} bytes), {snapshots} snapshots; medians of snapshots 2..",
        paths.len()
    );
    println!(
        "write: {:.1?} wall ({:.0} rows/s), {:.1?} cpu ({:.0} rows/s)",
        write.0,
        per_s(write.0),
        write.1,
        per_s(write.1),
    );
    println!(
        "  = rows {:.1?} + commit {:.1?} + close {:.1?} wall; {:.1?} + {:.1?} + {:.1?} cpu",
        rows_m.0, commit_m.0, close_m.0, rows_m.1, commit_m.1, close_m.1
    );
    println!(
        "read:  {:.1?} wall ({:.0} rows/s), {:.1?} cpu ({:.0} rows/s)",
        read_m.0,
        per_s(read_m.0),
        read_m.1,
        per_s(read_m.1)
    );
    println!("{lookups}");
    println!(
        "file: {file} bytes = {:.0} bytes per directory per snapshot",
        file as f64 / (paths.len() * snapshots) as f64
    );
    Ok(())
}
