//! Live-index lookups on 1,000,000 directory paths: the mmap index against a
//! SQLite indexed point query (the seed's `dir_snapshots` table and its
//! `idx_dir_path_bytes` index), a redb table keyed by path bytes, and an
//! in-memory `HashMap` — all in one run, on the same paths and queries.
//! Also: opening and validating the 1M-entry file, and compacting it with
//! 10,000 overlay changes.
//!
//! Run: `cargo bench --bench index_lookup` (a few minutes on 2 cores, most of
//! it building the SQLite and redb copies). Criterion's medians are in
//! `target/criterion/<group>/<name>/new/estimates.json` (`median.point_estimate`,
//! nanoseconds).
//!
//! Targets (issue 4): mmap lookup ≤ 500 ns median and ≥ 10× faster than
//! SQLite; open + validate ≤ 1 ms; compaction of 1M entries with 10k
//! changes ≤ 1.5 s.
//!
//! Two kinds of warm. `lookup_1M`: every store is in the page cache and has
//! answered the whole query set during warm-up, but the queries are 65,536
//! distinct paths in random order, so CPU caches hold only the top of each
//! search structure (a stream of unrelated `size` calls or watcher updates).
//! `lookup_1M_hot1k`: 1,024 queries asked over and over, so each structure's
//! search paths stay in CPU caches too.
//!
//! The mmap index builds its probe table (a hash table from path to entry)
//! on the 65,536th lookup of an open index (`PROBE_TABLE_AFTER_LOOKUPS`),
//! which is the last query of the warm-up pass: `mmap` is that steady state
//! (a watcher), asserted below. `mmap_bsearch` is the same file without it,
//! the plain binary search (what the first 65,535 lookups of any open index,
//! e.g. a mapped one-shot call, cost), and `probe_table_1M` measures the build
//! itself and a mapped open + one lookup. `mmap_pread` and `oneshot_1M` are
//! the one-shot reader `disktracker size` uses: positioned reads, nothing
//! mapped, so no signal whatever another program does to the file.
// A failed unwrap in a test or benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use disktracker::{IndexAccess, IndexOptions};
use disktracker_index_mmap::{Load, MmapIndex};
use redb::ReadableDatabase;
use rusqlite::{Connection, OptionalExtension, params};

const N: usize = 1_000_000;
const QUERIES: usize = 1 << 16;
const CHANGES: usize = 10_000;

/// SplitMix64: deterministic data without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A home-directory-like tree of `n` directories, grown breadth-first from
/// `/home/alice` with 0–7 children each: source trees, build output,
/// `node_modules`, git objects, photo years. Names are unique per parent.
fn generate_paths(n: usize) -> Vec<Vec<u8>> {
    const WORDS: &[&str] = &[
        "src",
        "lib",
        "bin",
        "docs",
        "tests",
        "build",
        "target",
        "debug",
        "release",
        "deps",
        "node_modules",
        ".git",
        "objects",
        "refs",
        "assets",
        "images",
        "photos",
        "2019",
        "2020",
        "2021",
        "2022",
        "2023",
        "2024",
        "Downloads",
        "Documents",
        "projects",
        "vendor",
        "cache",
        ".cache",
        "config",
        "share",
        "local",
        "include",
        "examples",
        "benches",
        "fixtures",
        "incremental",
        "components",
        "utils",
        "internal",
        "pkg",
        "cmd",
        "api",
        "static",
        "public",
        "dist",
        "out",
        "tmp",
        "logs",
        "data",
        "backup",
        "music",
        "videos",
        "archive",
        "old",
    ];
    let mut rng = Rng(0xD15C_7EAC);
    let mut paths: Vec<Vec<u8>> = Vec::with_capacity(n);
    paths.push(b"/home/alice".to_vec());
    let mut next = 0usize;
    while paths.len() < n {
        // Breadth-first; if the tree dies out, keep growing from the start.
        let parent_idx = if next < paths.len() {
            next
        } else {
            rng.below(paths.len())
        };
        next += 1;
        let kids = [0usize, 1, 1, 2, 2, 3, 4, 7][rng.below(8)];
        for j in 0..kids {
            if paths.len() >= n {
                break;
            }
            let mut p = paths[parent_idx].clone();
            p.push(b'/');
            match rng.below(10) {
                // git-object-like fan-out directories
                0 => p.extend_from_slice(format!("{:02x}{j}", rng.below(256)).as_bytes()),
                1 => p.extend_from_slice(
                    format!("pkg-{}.{}.{j}", rng.below(9), rng.below(30)).as_bytes(),
                ),
                _ => {
                    p.extend_from_slice(WORDS[rng.below(WORDS.len())].as_bytes());
                    if j > 0 {
                        p.extend_from_slice(format!("_{j}").as_bytes());
                    }
                }
            }
            paths.push(p);
        }
    }
    paths
}

fn size_of(i: usize) -> u64 {
    (i as u64).wrapping_mul(0x2545_F491_4F6C_DD1D) >> 24
}

/// Half hits, half misses (a real path plus `~`: sorts right next to a hit,
/// so a miss costs a full search), in random order.
fn queries(paths: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut rng = Rng(7);
    (0..QUERIES)
        .map(|k| {
            let mut q = paths[rng.below(paths.len())].clone();
            if k % 2 == 1 {
                q.push(b'~');
            }
            q
        })
        .collect()
}

/// A long-running reader's options (the mapped index, with its probe
/// table): what every contender below is compared with.
fn index_opts(path: &Path) -> IndexOptions {
    let mut o = IndexOptions::new(path);
    o.access = IndexAccess::LongRunning;
    o
}

/// A one-shot reader's options (`disktracker size`): positioned reads.
fn oneshot_opts(path: &Path) -> IndexOptions {
    IndexOptions::new(path)
}

/// The seed's connection setup and `dir_snapshots` DDL with its indexes.
fn build_sqlite(path: &Path, paths: &[Vec<u8>]) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA cache_size = -65536;
         PRAGMA mmap_size = 268435456;
         PRAGMA temp_store = MEMORY;
         PRAGMA foreign_keys = ON;
         CREATE TABLE IF NOT EXISTS snapshots (
             id INTEGER PRIMARY KEY AUTOINCREMENT, scan_root TEXT NOT NULL,
             started_at INTEGER NOT NULL, finished_at INTEGER NOT NULL,
             total_files INTEGER NOT NULL, total_bytes INTEGER NOT NULL,
             error_count INTEGER NOT NULL DEFAULT 0, host TEXT NOT NULL);
         CREATE TABLE IF NOT EXISTS dir_snapshots (
             id INTEGER PRIMARY KEY AUTOINCREMENT,
             snapshot_id INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
             path_blob BLOB NOT NULL, path_utf8 TEXT, depth INTEGER NOT NULL,
             total_bytes INTEGER NOT NULL, file_count INTEGER NOT NULL, mtime INTEGER NOT NULL,
             dev INTEGER NOT NULL DEFAULT 0, ino INTEGER NOT NULL DEFAULT 0,
             fingerprint_lo INTEGER NOT NULL DEFAULT 0, fingerprint_hi INTEGER NOT NULL DEFAULT 0,
             direct_bytes INTEGER NOT NULL DEFAULT 0, child_count INTEGER NOT NULL DEFAULT 0);
         CREATE INDEX IF NOT EXISTS idx_dir_snapshot_id ON dir_snapshots(snapshot_id);
         CREATE INDEX IF NOT EXISTS idx_dir_path_bytes ON dir_snapshots(path_blob, snapshot_id);
         CREATE INDEX IF NOT EXISTS idx_dir_identity ON dir_snapshots(dev, ino, snapshot_id);",
    )
    .unwrap();
    let tx = conn.unchecked_transaction().unwrap();
    tx.execute(
        "INSERT INTO snapshots (id, scan_root, started_at, finished_at, total_files, total_bytes, host)
         VALUES (1, '/home/alice', 0, 0, 0, 0, 'bench')",
        [],
    )
    .unwrap();
    {
        let mut ins = tx
            .prepare(
                "INSERT INTO dir_snapshots (snapshot_id, path_blob, path_utf8, depth, total_bytes,
                 file_count, mtime, dev, ino) VALUES (1, ?1, ?2, ?3, ?4, 0, 0, 1, ?5)",
            )
            .unwrap();
        for (i, p) in paths.iter().enumerate() {
            let depth = p.iter().filter(|&&c| c == b'/').count() as i64;
            ins.execute(params![
                p,
                std::str::from_utf8(p).ok(),
                depth,
                size_of(i) as i64,
                i as i64
            ])
            .unwrap();
        }
    }
    tx.commit().unwrap();
    conn.execute_batch("ANALYZE").unwrap();
    conn
}

const REDB_TABLE: redb::TableDefinition<&[u8], u64> = redb::TableDefinition::new("index");

fn build_redb(path: &Path, paths: &[Vec<u8>]) -> redb::Database {
    let db = redb::Database::create(path).unwrap();
    let mut sorted: Vec<(&[u8], u64)> = paths
        .iter()
        .enumerate()
        .map(|(i, p)| (p.as_slice(), size_of(i)))
        .collect();
    sorted.sort_unstable();
    let tx = db.begin_write().unwrap();
    {
        let mut t = tx.open_table(REDB_TABLE).unwrap();
        for (p, n) in sorted {
            t.insert(p, n).unwrap();
        }
    }
    tx.commit().unwrap();
    db
}

/// Runs `lookup` over the query set in a fixed cycle, one query per iteration.
fn bench_lookups<T>(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    queries: &[Vec<u8>],
    expect_hits: usize,
    mut lookup: impl FnMut(&[u8]) -> Option<T>,
) {
    // Sanity, and the warm-up pass: every query once, answers as expected.
    let hits = queries.iter().filter(|q| lookup(q).is_some()).count();
    assert_eq!(hits, expect_hits, "{name} answered wrongly");
    let mut i = 0usize;
    c.bench_function(name, |b| {
        b.iter(|| {
            let q = &queries[i % queries.len()];
            i = i.wrapping_add(1);
            black_box(lookup(black_box(q)))
        });
    });
}

fn lookups(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let paths = generate_paths(N);
    let avg = paths.iter().map(Vec::len).sum::<usize>() as f64 / N as f64;
    let maxd = paths
        .iter()
        .map(|p| p.iter().filter(|&&c| c == b'/').count())
        .max()
        .unwrap();
    eprintln!(
        "generated {N} paths in {:?} (mean length {avg:.1} bytes, max depth {maxd})",
        t.elapsed()
    );
    let qs = queries(&paths);
    let hits = qs.iter().filter(|q| q.last() != Some(&b'~')).count();

    let mmap_path = dir.path().join("data.mmap");
    let t = Instant::now();
    MmapIndex::create(
        &index_opts(&mmap_path),
        paths
            .iter()
            .enumerate()
            .map(|(i, p)| (p.as_slice(), size_of(i))),
    )
    .unwrap();
    eprintln!(
        "mmap index: written in {:?}, {} MB",
        t.elapsed(),
        std::fs::metadata(&mmap_path).unwrap().len() >> 20
    );
    let t = Instant::now();
    let conn = build_sqlite(&dir.path().join("data.db"), &paths);
    eprintln!("sqlite: built in {:?}", t.elapsed());
    let plan: String = conn
        .query_row(
            "EXPLAIN QUERY PLAN SELECT total_bytes FROM dir_snapshots WHERE path_blob = ?1 AND snapshot_id = ?2",
            params![b"/x".as_slice(), 1],
            |r| r.get(3),
        )
        .unwrap();
    eprintln!("sqlite plan: {plan}");
    assert!(plan.contains("idx_dir_path_bytes"), "{plan}");
    let t = Instant::now();
    let redb = build_redb(&dir.path().join("data.redb"), &paths);
    eprintln!("redb: built in {:?}", t.elapsed());
    let map: HashMap<Vec<u8>, u64> = paths
        .iter()
        .enumerate()
        .map(|(i, p)| (p.clone(), size_of(i)))
        .collect();

    let mut g = c.benchmark_group("lookup_1M");
    g.sample_size(60)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    let mmap = MmapIndex::open(&index_opts(&mmap_path)).unwrap();
    assert!(mmap.is_mapped());
    bench_lookups(&mut g, "mmap", &qs, hits, |q| mmap.lookup(q).unwrap());
    assert!(
        mmap.has_probe_table(),
        "the warm-up pass should have built the probe table"
    );
    let plain = MmapIndex::open(&index_opts(&mmap_path)).unwrap();
    plain.disable_probe_table();
    bench_lookups(&mut g, "mmap_bsearch", &qs, hits, |q| {
        plain.lookup(q).unwrap()
    });
    let only_hits: Vec<Vec<u8>> = qs
        .iter()
        .filter(|q| q.last() != Some(&b'~'))
        .cloned()
        .cycle()
        .take(QUERIES)
        .collect();
    let only_misses: Vec<Vec<u8>> = qs
        .iter()
        .filter(|q| q.last() == Some(&b'~'))
        .cloned()
        .cycle()
        .take(QUERIES)
        .collect();
    bench_lookups(&mut g, "mmap_hits", &only_hits, QUERIES, |q| {
        mmap.lookup(q).unwrap()
    });
    bench_lookups(&mut g, "mmap_misses", &only_misses, 0, |q| {
        mmap.lookup(q).unwrap()
    });
    let heap = MmapIndex::open_with(&index_opts(&mmap_path), Load::Read).unwrap();
    bench_lookups(&mut g, "mmap_read_fallback", &qs, hits, |q| {
        heap.lookup(q).unwrap()
    });
    drop(heap);
    // A one-shot reader's lookups: ~20 probes of two `pread`s each, plus
    // one `fstat` to see that the file did not change meanwhile.
    let pread = MmapIndex::open(&oneshot_opts(&mmap_path)).unwrap();
    assert_eq!(pread.load(), Load::Pread);
    bench_lookups(&mut g, "mmap_pread", &qs, hits, |q| {
        pread.lookup(q).unwrap()
    });
    drop(pread);

    let mut stmt = conn
        .prepare("SELECT total_bytes FROM dir_snapshots WHERE path_blob = ?1 AND snapshot_id = ?2")
        .unwrap();
    let mut sqlite = |q: &[u8]| {
        stmt.query_row(params![q, 1i64], |r| r.get::<_, i64>(0))
            .optional()
            .unwrap()
    };
    bench_lookups(&mut g, "sqlite", &qs, hits, &mut sqlite);
    let rtx = redb.begin_read().unwrap();
    let table = rtx.open_table(REDB_TABLE).unwrap();
    let redb_get = |q: &[u8]| table.get(q).unwrap().map(|v| v.value());
    bench_lookups(&mut g, "redb", &qs, hits, redb_get);
    bench_lookups(&mut g, "hashmap", &qs, hits, |q| map.get(q).copied());
    g.finish();

    // The same contenders on a hot set: 1,024 queries (half misses) asked
    // over and over, so every structure's search path stays in CPU caches.
    // This is "warm" in the strongest sense; the group above is warm only in
    // the page cache.
    let hot = &qs[..1024];
    let hot_hits = hot.iter().filter(|q| q.last() != Some(&b'~')).count();
    let mut g = c.benchmark_group("lookup_1M_hot1k");
    g.sample_size(60)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    bench_lookups(&mut g, "mmap", hot, hot_hits, |q| mmap.lookup(q).unwrap());
    bench_lookups(&mut g, "mmap_bsearch", hot, hot_hits, |q| {
        plain.lookup(q).unwrap()
    });
    drop(plain);
    bench_lookups(&mut g, "sqlite", hot, hot_hits, &mut sqlite);
    bench_lookups(&mut g, "redb", hot, hot_hits, redb_get);
    bench_lookups(&mut g, "hashmap", hot, hot_hits, |q| map.get(q).copied());
    g.finish();
    drop((table, rtx, stmt));

    // Open: open(2) + fstat + mmap + madvise + header/length check.
    let mut g = c.benchmark_group("open_1M");
    g.sample_size(100)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    g.bench_function("open_validate", |b| {
        b.iter(|| MmapIndex::open(black_box(&index_opts(&mmap_path))).unwrap());
    });
    // The one-shot open: open(2) + fstat + fadvise + header and root reads.
    g.bench_function("open_validate_pread", |b| {
        b.iter(|| MmapIndex::open(black_box(&oneshot_opts(&mmap_path))).unwrap());
    });
    // For comparison: the full O(n) check (bounds + order of every entry),
    // which is why open does not do it.
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    g.bench_function("open_and_verify_all", |b| {
        b.iter(|| {
            let ix = MmapIndex::open(&index_opts(&mmap_path)).unwrap();
            ix.verify().unwrap();
            ix
        });
    });
    g.finish();

    // The probe table: building it on a freshly opened index (what the
    // lookup that crosses the threshold pays, once), and open + a single
    // lookup (a one-shot CLI call, which never builds one).
    let mut g = c.benchmark_group("probe_table_1M");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    g.bench_function("build", |b| {
        b.iter_batched(
            || MmapIndex::open(&index_opts(&mmap_path)).unwrap(),
            |ix| {
                assert!(ix.prepare_probe_table());
                ix
            },
            BatchSize::PerIteration,
        );
    });
    g.sample_size(100).measurement_time(Duration::from_secs(3));
    let mut k = 0usize;
    g.bench_function("open_first_lookup", |b| {
        b.iter(|| {
            let ix = MmapIndex::open(black_box(&index_opts(&mmap_path))).unwrap();
            k = k.wrapping_add(7919);
            black_box(ix.lookup(&qs[k % qs.len()]).unwrap())
        });
    });
    g.finish();

    // What `disktracker size` does per process: open the index one-shot
    // (positioned reads, nothing mapped) and look one path up.
    let mut g = c.benchmark_group("oneshot_1M");
    g.sample_size(100)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let mut k = 0usize;
    g.bench_function("open_one_lookup", |b| {
        b.iter(|| {
            let ix = MmapIndex::open(black_box(&oneshot_opts(&mmap_path))).unwrap();
            k = k.wrapping_add(7919);
            black_box(ix.lookup(&qs[k % qs.len()]).unwrap())
        });
    });
    g.finish();

    // Compaction: a fresh copy of the 1M file each time, 10k overlay changes
    // (6k updates, 3k new directories, 1k subtree removals of leaves).
    let work = dir.path().join("work.mmap");
    let mut g = c.benchmark_group("compact_1M");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(15));
    g.bench_function("10k_changes", |b| {
        b.iter_batched(
            || {
                std::fs::copy(&mmap_path, &work).unwrap();
                let mut ix = MmapIndex::open(&index_opts(&work)).unwrap();
                let mut rng = Rng(99);
                for k in 0..CHANGES {
                    let p = &paths[rng.below(N)];
                    match k % 10 {
                        0..=5 => ix.set(p, rng.next() >> 20),
                        6..=8 => {
                            let mut q = p.clone();
                            q.extend_from_slice(format!("/new{k}").as_bytes());
                            ix.set(&q, 4096);
                        }
                        _ => ix.remove_subtree(&paths[N - 1 - rng.below(N / 4)]).unwrap(),
                    }
                }
                ix
            },
            |mut ix| {
                ix.compact().unwrap();
                ix
            },
            BatchSize::PerIteration,
        );
    });
    g.finish();
}

criterion_group!(benches, lookups);
criterion_main!(benches);
