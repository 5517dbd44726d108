//! Timings of reconcile's write and of snapshot selection on the redb store.
//!
//! ```text
//! cargo run --release -p disktracker-store-redb --example live_bench [DIRS] [UPSERTS] [ROUNDS]
//! ```
//!
//! * `derive_snapshot`: a base of DIRS directories (65,000 by default, the
//!   tree of `bench`), UPSERTS changed or added directories (10,000: nine in
//!   ten replace a base row, one in ten is new) and five removed subtrees,
//!   derived ROUNDS times from the same base, each a durable commit; the
//!   result is checked against the count computed here.
//! * selection on a store of 100 snapshots (10 roots, 10 snapshots each, 200
//!   directories each): `find_snapshots` of one root (newest), covering a deep
//!   path, the newest overall, and `latest_per_root`, 1,000 calls each.
//!
//! Prints medians; timings are never asserted (shared, noisy machines).
// A failed unwrap in a test or benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use disktracker::path::is_within;
use disktracker::{
    DerivedSnapshot, DirRecord, SnapshotMeta, SnapshotQuery, SnapshotStore, StoreOptions,
};
use disktracker_store_redb::RedbStore;

mod common;
use common::{cpu_time, median, stats, tree};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() -> disktracker::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(65_000);
    let n_upserts: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(7);
    let dirs = tree(n);
    let tmp =
        tempfile::tempdir().map_err(|e| disktracker::Error::io("cannot create", "/tmp", e))?;

    // ---- derive_snapshot ----
    let path = tmp.path().join("derive.redb");
    let mut store = RedbStore::open(&StoreOptions::file(path.clone()))?;
    let meta = SnapshotMeta {
        root: dirs[0].0.clone(),
        host: "bench".into(),
        walker: "bench".into(),
        dir_count: dirs.len() as u64,
        ..SnapshotMeta::default()
    };
    let t = Instant::now();
    let mut w = store.begin_snapshot(&meta)?;
    for (i, (p, depth)) in dirs.iter().enumerate() {
        w.write_dir(p, *depth, &stats(i as u64))?;
    }
    let base = w.commit()?;
    println!(
        "{} directories; base snapshot written in {:.1} ms",
        dirs.len(),
        ms(t.elapsed())
    );

    // Every 6th directory of the deepest level below the root's first five
    // children is cut with its subtree.
    let removed: Vec<Vec<u8>> = dirs
        .iter()
        .filter(|(_, d)| *d == 2)
        .step_by(6)
        .take(5)
        .map(|(p, _)| p.clone())
        .collect();
    let mut upsert_paths = BTreeSet::new();
    let step = (dirs.len() / (n_upserts * 9 / 10).max(1)).max(1);
    for (p, _) in dirs.iter().step_by(step).take(n_upserts * 9 / 10) {
        upsert_paths.insert((p.clone(), 0));
    }
    for (i, (p, d)) in dirs.iter().step_by(step).enumerate() {
        if upsert_paths.len() >= n_upserts {
            break;
        }
        let mut q = p.clone();
        q.extend_from_slice(format!("/added-{i}").as_bytes());
        upsert_paths.insert((q, d + 1));
    }
    let upserts: Vec<DirRecord> = upsert_paths
        .into_iter()
        .enumerate()
        .map(|(i, (path, depth))| DirRecord {
            path,
            depth,
            stats: stats(1_000_000 + i as u64),
        })
        .collect();
    let kept = dirs
        .iter()
        .filter(|(p, _)| !removed.iter().any(|r| is_within(p, r)))
        .count();
    let base_paths: BTreeSet<&[u8]> = dirs.iter().map(|(p, _)| p.as_slice()).collect();
    let replaced_kept = upserts
        .iter()
        .filter(|u| {
            base_paths.contains(u.path.as_slice()) && !removed.iter().any(|r| is_within(&u.path, r))
        })
        .count();
    let want = kept + upserts.len() - replaced_kept;

    let mut derives = Vec::new();
    let mut cpu = Duration::ZERO;
    for _ in 0..rounds {
        let c = cpu_time();
        let t = Instant::now();
        let id = store.derive_snapshot(&DerivedSnapshot {
            base,
            meta: &meta,
            removed: &removed,
            upserts: &upserts,
            deltas: &[],
            watch_state: None,
        })?;
        derives.push(t.elapsed());
        cpu += cpu_time() - c;
        let mut count = 0;
        store.visit_tree(id, None, &mut |_| {
            count += 1;
            true
        })?;
        assert_eq!(count, want, "derived snapshot {id}");
        store.delete_snapshots(&[id])?;
    }
    println!(
        "derive_snapshot: {} upserts, {} removed subtrees ({} rows), {} rows out: median {:.1} ms; all: {:?}",
        upserts.len(),
        removed.len(),
        dirs.len() - kept,
        want,
        ms(median(derives.clone())),
        derives
            .iter()
            .map(std::time::Duration::as_millis)
            .collect::<Vec<_>>()
    );
    println!(
        "  mean on-CPU time per derive {:.0} ms (10 ms ticks)",
        ms(cpu / rounds as u32)
    );
    drop(store);

    // ---- selection on 100 snapshots ----
    let path = tmp.path().join("select.redb");
    let mut store = RedbStore::open(&StoreOptions::file(path.clone()))?;
    let roots: Vec<Vec<u8>> = (0..10)
        .map(|i| format!("/srv/volume-{i:02}/share").into_bytes())
        .collect();
    for round in 0..10 {
        for root in &roots {
            let m = SnapshotMeta {
                root: root.clone(),
                dir_count: 200,
                ..meta.clone()
            };
            let mut w = store.begin_snapshot(&m)?;
            for i in 0..200u64 {
                let p = [root.as_slice(), format!("/d{round}-{i:04}").as_bytes()].concat();
                w.write_dir(&p, 1, &stats(i))?;
            }
            w.commit()?;
        }
    }
    let deep = [roots[3].as_slice(), b"/d0-0001/x/y/z"].concat();
    let calls = 1000;
    let time = |f: &mut dyn FnMut() -> disktracker::Result<usize>| -> disktracker::Result<(Duration, usize)> {
        let mut v = Vec::with_capacity(calls);
        let mut n = 0;
        for _ in 0..calls {
            let t = Instant::now();
            n = f()?;
            v.push(t.elapsed());
        }
        Ok((median(v), n))
    };
    let (of_root, n1) = time(&mut || {
        Ok(store
            .find_snapshots(&SnapshotQuery::of_root(&roots[7]).limit(1))?
            .len())
    })?;
    let (of_root_all, n2) = time(&mut || {
        Ok(store
            .find_snapshots(&SnapshotQuery::of_root(&roots[7]))?
            .len())
    })?;
    let (covering, n3) = time(&mut || {
        Ok(store
            .find_snapshots(&SnapshotQuery::covering(&deep).limit(1))?
            .len())
    })?;
    let (newest, n4) =
        time(&mut || Ok(store.find_snapshots(&SnapshotQuery::any().limit(1))?.len()))?;
    let (latest, n5) = time(&mut || Ok(store.latest_per_root(None)?.len()))?;
    let (all, n6) = time(&mut || Ok(store.snapshots()?.len()))?;
    println!(
        "selection on {n6} snapshots of {} roots, median of {calls} calls:",
        roots.len()
    );
    println!(
        "  find_snapshots(of_root, limit 1): {:.1} us ({n1})",
        us(of_root)
    );
    println!(
        "  find_snapshots(of_root): {:.1} us ({n2})",
        us(of_root_all)
    );
    println!(
        "  find_snapshots(covering a deep path, limit 1): {:.1} us ({n3})",
        us(covering)
    );
    println!(
        "  find_snapshots(any, limit 1): {:.1} us ({n4})",
        us(newest)
    );
    println!("  latest_per_root: {:.1} us ({n5})", us(latest));
    println!(
        "  for comparison, snapshots() (every record): {:.1} us",
        us(all)
    );
    Ok(())
}
