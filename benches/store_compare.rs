//! Snapshot-store comparison on the 1M-file benchmark tree (about 65k
//! directories): for every registered store, the snapshot write rate, the
//! database bytes per directory per snapshot, and the median time of a diff
//! between two snapshots (computed, and served from the diff cache).
//!
//!     cargo bench --bench store_compare [-- TREE [RUNS]]
//!
//! TREE defaults to /work/bench-tree-1m (`cargo run --release -p
//! disktracker-testkit --bin gen_tree -- TREE 1000000 1`). Snapshot A is
//! a real scan of TREE; snapshot B is A with about 400 directories grown by a
//! few blocks (their ancestors' totals too), about 200 directories removed
//! and 200 added.
//!
//! A server store (PostgreSQL) is measured on a throwaway server of the
//! testkit's (`disktracker_testkit::postgres`) with PostgreSQL's default
//! durability, over 127.0.0.1 with TLS (`sslmode=require`), a fresh
//! database per run; its bytes are its tables' and indexes'. It is skipped,
//! saying so, where the server binaries are not installed. Then, for it:
//! 20 hosts writing 300-directory snapshots at once (snapshots stored per
//! second, median and p99 store time).
// A failed unwrap in a test or benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use disktracker::{DirRecord, SizeKind, StoreOptions, registry};
use disktracker_defaults as _;
use disktracker_engine::{DiffFilter, changed_dirs, merge_trees, select};
use disktracker_testkit::postgres::TestPostgres;

mod common;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// B: A with about 400 directories grown (ancestors re-totalled), about 200
/// directories removed and 200 new ones, still in path order.
fn changed_copy(a: &[DirRecord]) -> Vec<DirRecord> {
    let mut b: Vec<DirRecord> = a
        .iter()
        .enumerate()
        .filter(|(i, r)| !(r.depth > 2 && i % 300 == 7))
        .map(|(_, r)| r.clone())
        .collect();
    let grow: Vec<Vec<u8>> = b
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 50 == 3)
        .map(|(_, r)| r.path.clone())
        .collect();
    for (k, p) in grow.iter().enumerate() {
        let add = 4096 * (1 + k as u64 % 7);
        for r in b
            .iter_mut()
            .filter(|r| disktracker::path::is_within(p, &r.path))
        {
            r.stats.total_bytes += add;
            r.stats.total_apparent += add;
        }
        if k > 400 {
            break;
        }
    }
    let mut extra: Vec<DirRecord> = (0..200)
        .map(|i| {
            let mut r = a[i * 97 % a.len()].clone();
            r.path.extend_from_slice(format!("/zz-new-{i}").as_bytes());
            r.depth += 1;
            r
        })
        .collect();
    b.append(&mut extra);
    b.sort_by(|x, y| x.path.cmp(&y.path));
    b.dedup_by(|x, y| x.path == y.path);
    b
}

fn file_bytes(path: &Path) -> u64 {
    ["", "-wal"]
        .iter()
        .map(|s| std::fs::metadata(format!("{}{s}", path.display())).map_or(0, |m| m.len()))
        .sum()
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let tree = PathBuf::from(
        args.first()
            .cloned()
            .unwrap_or_else(|| "/work/bench-tree-1m".into()),
    );
    let runs: usize = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(5);
    if !tree.is_dir() {
        eprintln!(
            "no benchmark tree at {0}; generate it with `cargo run --release -p \
             disktracker-testkit --bin gen_tree -- {0} 1000000 1`",
            tree.display()
        );
        return;
    }
    let a = common::records(&tree);
    let b = changed_copy(&a);
    let root = a[0].path.clone();
    let dirs = a.len();
    println!(
        "tree {} : snapshot A {} dirs, snapshot B {} dirs, {} changed",
        tree.display(),
        a.len(),
        b.len(),
        merge_trees(&a, &b).len()
    );
    println!(
        "{:8} {:>14} {:>14} {:>12} {:>14} {:>12}",
        "store", "write A rows/s", "write B rows/s", "bytes/dir/sn", "diff computed", "diff cached"
    );
    let mut server: Option<TestPostgres> = None;
    for plugin in registry::stores().unwrap().iter() {
        let is_server = plugin.extension.is_empty();
        if is_server && (plugin.name != "postgres" || !TestPostgres::available()) {
            println!("{:8} skipped: no server to measure it on", plugin.name);
            continue;
        }
        let (mut wa, mut wb, mut dc, mut dk, mut bytes) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), 0);
        for _ in 0..runs {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(format!("bench.{}", plugin.extension));
            let (options, db) = if is_server {
                let pg = server.get_or_insert_with(durable_server);
                let db = pg.create_database();
                let url = bench_url(pg, &db);
                (StoreOptions::url(url), Some(db))
            } else {
                (StoreOptions::file(path.clone()), None)
            };
            let mut store = (plugin.open)(&options).unwrap();
            let (ia, ta) = common::write_snapshot(&mut *store, &root, &a);
            let (ib, tb) = common::write_snapshot(&mut *store, &root, &b);
            wa.push(ta);
            wb.push(tb);
            drop(store);
            bytes = match (&server, &db) {
                (Some(pg), Some(db)) => pg.relation_bytes(db),
                _ => file_bytes(&path),
            };
            let mut store = (plugin.open)(&options).unwrap();
            // What `disktracker diff` does: changed directories (computed on
            // the first call, cached after), then filter and rank.
            let filter = DiffFilter {
                under: None,
                min_delta: 0,
                top: 30,
                kind: SizeKind::DiskUsage,
            };
            let t = Instant::now();
            let (rows, _) = select(changed_dirs(&mut *store, ia, ib).unwrap(), &filter);
            dc.push(t.elapsed());
            assert!(!rows.is_empty());
            for _ in 0..3 {
                let t = Instant::now();
                let _ = select(changed_dirs(&mut *store, ia, ib).unwrap(), &filter);
                dk.push(t.elapsed());
            }
        }
        let rate = |d: Duration, n: usize| n as f64 / d.as_secs_f64();
        println!(
            "{:8} {:>14.0} {:>14.0} {:>12.0} {:>11.1} ms {:>9.1} ms",
            plugin.name,
            rate(median(wa), a.len()),
            rate(median(wb), b.len()),
            bytes as f64 / (2.0 * dirs as f64),
            median(dc).as_secs_f64() * 1e3,
            median(dk).as_secs_f64() * 1e3,
        );
    }
    if let Some(pg) = &server {
        concurrent_hosts(pg, &root);
    }
}

/// A server with PostgreSQL's default durability and a password role.
fn durable_server() -> TestPostgres {
    let pg = TestPostgres::durable();
    pg.admin_client("postgres")
        .batch_execute("CREATE ROLE bench LOGIN SUPERUSER PASSWORD 'bench-pw'")
        .unwrap();
    pg
}

/// The bench role's URL to `db`, over TCP with TLS, as a remote host connects.
fn bench_url(pg: &TestPostgres, db: &str) -> String {
    pg.tcp_url("bench", "bench-pw", db, "sslmode=require")
}

/// 20 hosts, each with its own connection, storing 300-directory snapshots
/// of their own root at once, 10 rounds: snapshots per second over the
/// whole run, median and p99 of one store.
fn concurrent_hosts(pg: &TestPostgres, root: &[u8]) {
    const HOSTS: usize = 20;
    const ROUNDS: usize = 10;
    let db = pg.create_database();
    let url = bench_url(pg, &db);
    let plugin = registry::stores().unwrap().get("postgres").unwrap();
    drop((plugin.open)(&StoreOptions::url(url.clone())).unwrap());
    let rows: Vec<DirRecord> = (0..300u64)
        .map(|i| {
            let mut path = root.to_vec();
            if i > 0 {
                path.extend_from_slice(format!("/d{i:04}").as_bytes());
            }
            DirRecord {
                path,
                depth: u32::from(i > 0),
                stats: disktracker::DirStats {
                    total_bytes: 4096 * (i + 1),
                    ..disktracker::DirStats::default()
                },
            }
        })
        .collect();
    let start = Instant::now();
    let times: Vec<Duration> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..HOSTS)
            .map(|h| {
                let (url, rows) = (url.clone(), &rows);
                s.spawn(move || {
                    let options = StoreOptions::url(url).host(format!("host-{h:02}"));
                    let mut store = (plugin.open)(&options).unwrap();
                    (0..ROUNDS)
                        .map(|_| common::write_snapshot(&mut *store, &rows[0].path, rows).1)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let wall = start.elapsed();
    let mut sorted = times.clone();
    sorted.sort();
    let p99 = sorted[(sorted.len() * 99).div_ceil(100) - 1];
    println!(
        "postgres, {HOSTS} hosts x {ROUNDS} snapshots of {} directories at once: {:.0} snapshots/s, store median {:.1} ms, p99 {:.1} ms",
        rows.len(),
        times.len() as f64 / wall.as_secs_f64(),
        median(times).as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
    );
}
