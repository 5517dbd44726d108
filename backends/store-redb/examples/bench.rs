//! Write and read timings of the redb store on a 65,000-directory snapshot.
//!
//! ```text
//! cargo run --release -p disktracker-store-redb --example bench [DIRS] [ROUNDS]
//! ```
//!
//! Writes ROUNDS snapshots of DIRS directories (paths 60–120 bytes, a
//! deterministic tree) into a fresh store in a temp dir, timing each from
//! `begin_snapshot` to a durable `commit`; reads one snapshot back in path
//! order ROUNDS times; then prints medians, rows/s, file bytes per directory
//! per snapshot, and the peak RSS of the process. Timings are printed, never
//! asserted: the machines are shared and noisy.
// A failed unwrap in a test or benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use disktracker::{SnapshotMeta, SnapshotStore, StoreOptions};
use disktracker_store_redb::RedbStore;

mod common;
use common::{cpu_time, median, peak_rss_kib, stats, tree};

fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() -> disktracker::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(65_000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(7);
    let dirs = tree(n);
    let lens: Vec<usize> = dirs.iter().map(|d| d.0.len()).collect();
    println!(
        "{} directories, path bytes min {} / mean {} / max {}",
        dirs.len(),
        lens.iter().min().unwrap_or(&0),
        lens.iter().sum::<usize>() / lens.len().max(1),
        lens.iter().max().unwrap_or(&0)
    );

    let rss_before = rss_kib();
    let tmp =
        tempfile::tempdir().map_err(|e| disktracker::Error::io("cannot create", "/tmp", e))?;
    let path = tmp.path().join("data.redb");
    let mut store = RedbStore::open(&StoreOptions::file(path.clone()))?;
    let empty_len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let meta = SnapshotMeta {
        root: dirs[0].0.clone(),
        host: "bench".into(),
        walker: "bench".into(),
        dir_count: dirs.len() as u64,
        ..SnapshotMeta::default()
    };

    let mut writes = Vec::new();
    let mut commits = Vec::new();
    let mut ids = Vec::new();
    let mut len_after = Vec::new();
    let cpu_before_writes = cpu_time();
    for _ in 0..rounds {
        let t = Instant::now();
        let mut w = store.begin_snapshot(&meta)?;
        for (i, (p, depth)) in dirs.iter().enumerate() {
            w.write_dir(p, *depth, &stats(i as u64))?;
        }
        let c = Instant::now();
        ids.push(w.commit()?);
        commits.push(c.elapsed());
        writes.push(t.elapsed());
        len_after.push(std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0));
    }
    let write_cpu = (cpu_time() - cpu_before_writes) / rounds as u32;
    let rss_after_writes = peak_rss_kib();

    let mut reads = Vec::new();
    let mut count = 0usize;
    let cpu_before_reads = cpu_time();
    for _ in 0..rounds {
        let t = Instant::now();
        count = 0;
        let mut last_total = 0u64;
        store.visit_tree(ids[0], None, &mut |r| {
            count += 1;
            last_total ^= r.stats.total_bytes;
            true
        })?;
        reads.push(t.elapsed());
        std::hint::black_box(last_total);
    }
    assert_eq!(count, dirs.len());
    let read_cpu = (cpu_time() - cpu_before_reads) / rounds as u32;

    let mut children = Vec::new();
    let mut child_count = 0;
    for _ in 0..rounds {
        let t = Instant::now();
        child_count = std::hint::black_box(store.children(ids[0], &dirs[0].0)?).len();
        children.push(t.elapsed());
    }

    let t = Instant::now();
    store.delete_snapshots(&ids[..ids.len() - 1])?;
    let delete = t.elapsed();
    let t = Instant::now();
    store.reclaim_space()?;
    let reclaim = t.elapsed();
    let final_len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);

    let w = median(writes.clone());
    let r = median(reads.clone());
    let rows = dirs.len() as f64;
    println!(
        "write one snapshot: median {:.1} ms ({:.0} rows/s); all: {:?}",
        w.as_secs_f64() * 1e3,
        rows / w.as_secs_f64(),
        writes
            .iter()
            .map(std::time::Duration::as_millis)
            .collect::<Vec<_>>()
    );
    println!(
        "  of which commit (flush, two fsyncs): median {:.1} ms; mean on-CPU time per snapshot {:.0} ms",
        median(commits).as_secs_f64() * 1e3,
        write_cpu.as_secs_f64() * 1e3
    );
    println!(
        "read one snapshot in path order: median {:.1} ms ({:.0} rows/s); all: {:?}",
        r.as_secs_f64() * 1e3,
        rows / r.as_secs_f64(),
        reads
            .iter()
            .map(std::time::Duration::as_micros)
            .collect::<Vec<_>>()
    );
    println!(
        "  mean on-CPU time per read {:.1} ms (10 ms ticks)",
        read_cpu.as_secs_f64() * 1e3
    );
    println!(
        "children of the root ({}): median {:.2} ms",
        child_count,
        median(children).as_secs_f64() * 1e3
    );
    let two = len_after.get(1).copied().unwrap_or(len_after[0]);
    println!(
        "file: empty {} B; after 1 snapshot {} B; after 2 {} B -> {:.0} B/dir/snapshot (2 snapshots); after {} {} B -> {:.0} B/dir/snapshot",
        empty_len,
        len_after[0],
        two,
        (two - empty_len) as f64 / (2.0 * rows),
        rounds,
        len_after[rounds - 1],
        (len_after[rounds - 1] - empty_len) as f64 / (rounds as f64 * rows),
    );
    println!(
        "delete {} snapshots: {:.1} ms; reclaim_space: {:.1} ms; file after: {} B ({:.0} B/dir for the one left)",
        rounds - 1,
        delete.as_secs_f64() * 1e3,
        reclaim.as_secs_f64() * 1e3,
        final_len,
        (final_len - empty_len) as f64 / rows
    );
    println!(
        "RSS with the generated paths in memory, before opening the store: {} KiB",
        rss_before.unwrap_or(0)
    );
    println!(
        "peak RSS after writes {} KiB, at end {} KiB",
        rss_after_writes.unwrap_or(0),
        peak_rss_kib().unwrap_or(0)
    );
    let (len, used) = store.space_usage()?;
    println!("after reclaim: file {len} B, live pages {used} B");
    drop(store);
    // Where the bytes go, from redb's own accounting of the directory table.
    let db = redb::ReadOnlyDatabase::open(&path)
        .map_err(|e| disktracker::Error::new(disktracker::ErrorKind::Database, e.to_string()))?;
    let txn = redb::ReadableDatabase::begin_read(&db)
        .map_err(|e| disktracker::Error::new(disktracker::ErrorKind::Database, e.to_string()))?;
    let def: redb::TableDefinition<&[u8], &[u8; 108]> =
        redb::TableDefinition::new("disktracker.dirs");
    let st = txn
        .open_table(def)
        .and_then(|t| Ok(redb::ReadableTableMetadata::stats(&t)?))
        .map_err(|e| disktracker::Error::new(disktracker::ErrorKind::Database, e.to_string()))?;
    println!(
        "dirs table (one snapshot): {} leaf + {} branch pages, stored {} B ({:.0}/dir), metadata {} B, fragmented {} B",
        st.leaf_pages(),
        st.branch_pages(),
        st.stored_bytes(),
        st.stored_bytes() as f64 / rows,
        st.metadata_bytes(),
        st.fragmented_bytes()
    );
    Ok(())
}
