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

use disktracker::{DirStats, SnapshotMeta, StoreOptions};

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
        if parent.len() > 110 {
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
            p.extend_from_slice(format!("-{:x}", rng.below(1 << 20)).as_bytes());
            all.push(p.clone());
            frontier.push(p);
        }
    }
    all.sort_unstable();
    all.dedup();
    all
}

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
    let mut store = disktracker_store_sqlite::open_store(&StoreOptions {
        path: db.clone(),
        read_only: false,
    })?;

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

    let mut writes = Vec::new();
    let mut reads = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..snapshots {
        let meta = SnapshotMeta {
            root: paths[0].clone(),
            host: "bench".into(),
            dir_count: paths.len() as u64,
            walker: "synthetic".into(),
            ..SnapshotMeta::default()
        };
        let t = Instant::now();
        let mut w = store.begin_snapshot(&meta)?;
        for (p, (depth, stats)) in paths.iter().zip(&rows) {
            w.write_dir(p, *depth, stats)?;
        }
        let tc = Instant::now();
        ids.push(w.commit()?);
        if std::env::var_os("SHOW_COMMIT").is_some() {
            eprintln!("commit {:?}", tc.elapsed());
        }
        writes.push(t.elapsed());

        let t = Instant::now();
        let mut n = 0usize;
        let mut bytes = 0usize;
        store.visit_tree(*ids.last().expect("just pushed"), None, &mut |r| {
            n += 1;
            bytes += r.path.len();
            true
        })?;
        reads.push(t.elapsed());
        assert_eq!(n, paths.len());
        std::hint::black_box(bytes);
    }
    // Checkpoint so the main file holds everything before measuring it.
    store.reclaim_space()?;
    let file = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);

    let (w, r) = (median(writes.clone()), median(reads.clone()));
    let per_s = |d: Duration| paths.len() as f64 / d.as_secs_f64();
    println!(
        "{} dirs (mean path {avg_len:.0} bytes), {snapshots} snapshots",
        paths.len()
    );
    println!(
        "write: each {writes:.1?}; median {w:.1?} = {:.0} rows/s",
        per_s(w)
    );
    println!(
        "read:  each {reads:.1?}; median {r:.1?} = {:.0} rows/s",
        per_s(r)
    );
    println!(
        "file: {file} bytes = {:.0} bytes per directory per snapshot",
        file as f64 / (paths.len() * snapshots) as f64
    );
    Ok(())
}
