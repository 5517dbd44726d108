//! Measures `derive_snapshot`, what `reconcile` calls: a new snapshot from a
//! stored one plus changed, added and removed directories.
//!
//! ```text
//! cargo run --release -p disktracker-store-sqlite --example derive [-- DIRS [RUNS [WORKLOAD]]]
//! ```
//!
//! Writes one base snapshot of DIRS (default 65,536) directories with paths
//! of about 60-120 bytes into a new database, then derives from it RUNS
//! times (default 9) for each workload and prints the median, fastest and
//! slowest wall and on-CPU times (WORKLOAD, a number from 0, runs only that
//! one: for `valgrind --tool=callgrind --toggle-collect='*derive::derive*'`,
//! whose instruction counts do not depend on the machine's load). Each derived snapshot is deleted again
//! (outside the timing), as retention would, so every run sees the same file.
//!
//! Workloads: 10,000 upserted directories spread over the tree (what
//! reconciling 10,000 mutations gives); the same plus 5 removed subtrees
//! and 500 new directories; 100 upserts; nothing changed (a copy).
// A failed unwrap in a test or benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use disktracker_testkit::rng::Rng;

mod common;
use common::tree;

use disktracker::{DerivedSnapshot, DirRecord, DirStats, SnapshotId, SnapshotMeta, StoreOptions};

fn stats(seed: u64) -> DirStats {
    DirStats {
        total_bytes: seed * 4096,
        total_apparent: seed * 4000,
        direct_bytes: 4096,
        direct_apparent: 100,
        file_count: seed,
        direct_files: seed % 17,
        child_count: seed % 5,
        mtime_ns: 1_700_000_000_000_000_000 + seed as i64,
        dev: 2049,
        ino: seed,
        fingerprint: u128::from(seed) << 64 | u128::from(!seed),
        ..DirStats::default()
    }
}

fn meta(root: &[u8], dirs: usize) -> SnapshotMeta {
    SnapshotMeta {
        root: root.to_vec(),
        host: "bench".into(),
        walker: "derive-example".into(),
        dir_count: dirs as u64,
        ..SnapshotMeta::default()
    }
}

/// Time this process has spent on a CPU (its threads' scheduler accounting).
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

struct Workload {
    name: &'static str,
    removed: Vec<Vec<u8>>,
    upserts: Vec<DirRecord>,
}

fn workloads(paths: &[Vec<u8>], rng: &mut Rng) -> Vec<Workload> {
    let depth = |p: &[u8]| p.iter().filter(|&&b| b == b'/').count() as u32 - 4;
    let upserts = |n: usize, rng: &mut Rng| -> Vec<DirRecord> {
        let mut picked: Vec<usize> = (0..n).map(|_| rng.below(paths.len())).collect();
        picked.sort_unstable();
        picked.dedup();
        picked
            .into_iter()
            .map(|i| DirRecord {
                path: paths[i].clone(),
                depth: depth(&paths[i]),
                stats: stats(rng.next_u64() % 100_000),
            })
            .collect()
    };
    let mut ten_k = upserts(10_000, rng);
    // Top up the duplicates the sampling dropped.
    while ten_k.len() < 10_000 {
        ten_k.extend(upserts(10_000 - ten_k.len(), rng));
        ten_k.sort_by(|a, b| a.path.cmp(&b.path));
        ten_k.dedup_by(|a, b| a.path == b.path);
    }
    // Five subtrees of a few hundred directories each are removed, and 500
    // new directories added in fresh subtrees.
    let removed: Vec<Vec<u8>> = paths
        .iter()
        .filter(|p| depth(p) == 2)
        .step_by(37)
        .take(5)
        .cloned()
        .collect();
    let mut mixed: Vec<DirRecord> = ten_k
        .iter()
        .filter(|r| {
            !removed
                .iter()
                .any(|p| disktracker::path::is_within(&r.path, p))
        })
        .cloned()
        .collect();
    for (k, parent) in paths
        .iter()
        .step_by(paths.len() / 100)
        .take(100)
        .enumerate()
    {
        for j in 0..5 {
            let mut p = parent.clone();
            p.extend_from_slice(format!("/new-{k}-{j}").as_bytes());
            mixed.push(DirRecord {
                depth: depth(&p),
                path: p,
                stats: stats(k as u64),
            });
        }
    }
    mixed.sort_by(|a, b| a.path.cmp(&b.path));
    mixed.dedup_by(|a, b| a.path == b.path);
    vec![
        Workload {
            name: "10,000 upserts",
            removed: Vec::new(),
            upserts: ten_k,
        },
        Workload {
            name: "10,000 upserts, 5 removed subtrees, 500 new dirs",
            removed,
            upserts: mixed,
        },
        Workload {
            name: "100 upserts",
            removed: Vec::new(),
            upserts: upserts(100, rng),
        },
        Workload {
            name: "no change (a copy)",
            removed: Vec::new(),
            upserts: Vec::new(),
        },
    ]
}

fn main() -> disktracker::Result<()> {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>());
    let dirs = args.next().and_then(Result::ok).unwrap_or(65_536);
    let runs = args.next().and_then(Result::ok).unwrap_or(9);
    let only = args.next().and_then(Result::ok);
    let mut rng = Rng::new(0x0dd_ba11_5eed);
    let paths = tree(dirs, &mut rng);
    let root = paths[0].clone();
    let tmp = tempfile::tempdir().map_err(|e| disktracker::Error::io("tempdir", ".", e))?;
    let db = tmp.path().join("data.db");
    let mut store = disktracker_store_sqlite::open_store(&StoreOptions::file(db))?;
    // The same tree written as an ordinary snapshot, RUNS times (all but
    // the last deleted again), for comparison under the same conditions.
    let mut write_wall = Vec::new();
    let mut write_cpu = Vec::new();
    let mut base: SnapshotId = 0;
    for run in 0..runs {
        let (t, c) = (Instant::now(), cpu_time());
        let mut w = store.begin_snapshot(&meta(&root, paths.len()))?;
        for (i, p) in paths.iter().enumerate() {
            let depth = p.iter().filter(|&&b| b == b'/').count() as u32 - 4;
            w.write_dir(p, depth, &stats(i as u64))?;
        }
        let id = w.commit()?;
        write_wall.push(t.elapsed());
        write_cpu.push(cpu_time().saturating_sub(c));
        if run + 1 < runs {
            store.delete_snapshots(&[id])?;
        }
        base = id;
    }
    write_wall.sort();
    write_cpu.sort();
    println!(
        "base: {} directories; {runs} runs per workload (wall, on-CPU)",
        paths.len()
    );
    println!(
        "{:<50} {:>6} rows: median {:>7.1?} (min {:>7.1?}, max {:>7.1?}); cpu median {:>7.1?}",
        "(writing the base as a new snapshot)",
        paths.len(),
        write_wall[runs / 2],
        write_wall[0],
        write_wall[runs - 1],
        write_cpu[runs / 2],
    );
    for (k, w) in workloads(&paths, &mut rng).into_iter().enumerate() {
        if only.is_some_and(|o| o != k) {
            continue;
        }
        let mut wall = Vec::new();
        let mut cpu = Vec::new();
        let mut rows = 0;
        for _ in 0..runs {
            let (t, c) = (Instant::now(), cpu_time());
            let id = store.derive_snapshot(&DerivedSnapshot {
                base,
                meta: &meta(&root, paths.len()),
                removed: &w.removed,
                upserts: &w.upserts,
                deltas: &[],
                watch_state: None,
            })?;
            wall.push(t.elapsed());
            cpu.push(cpu_time().saturating_sub(c));
            let mut n = 0;
            store.visit_tree(id, None, &mut |_| {
                n += 1;
                true
            })?;
            rows = n;
            store.delete_snapshots(&[id])?;
        }
        wall.sort();
        cpu.sort();
        println!(
            "{:<50} {:>6} rows: median {:>7.1?} (min {:>7.1?}, max {:>7.1?}); cpu median {:>7.1?}",
            w.name,
            rows,
            wall[wall.len() / 2],
            wall[0],
            wall[wall.len() - 1],
            cpu[cpu.len() / 2],
        );
    }
    Ok(())
}
