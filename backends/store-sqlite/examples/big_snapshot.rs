//! Writes one synthetic snapshot of N directories under ROOT into a SQLite
//! database, for measuring `disktracker size` on a large index (a 1M-file
//! tree has only ~65k directories):
//!
//! ```text
//! cargo run --release -p disktracker-store-sqlite --example big_snapshot -- DB ROOT [N]
//! ```
//!
//! ROOT is created if missing (empty: the directories below it exist only in
//! the snapshot). The paths are `ROOT/aNNN/bNNN/cNNN`, N in total
//! (default 1,000,000), with consistent recursive totals.
// A failed unwrap in a benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use disktracker::{DirStats, SnapshotMeta, StoreOptions};

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(db), Some(root)) = (args.next(), args.next()) else {
        eprintln!("usage: big_snapshot DB ROOT [N]");
        std::process::exit(2);
    };
    let n: usize = args.next().map_or(1_000_000, |s| s.parse().unwrap());
    std::fs::create_dir_all(&root).unwrap();
    let root = std::fs::canonicalize(&root).unwrap();
    let root_bytes = root.as_os_str().as_encoded_bytes().to_vec();
    // 100 × 100 × (n / 10_000) leaves; each level's totals are sums.
    let per_b = (n / 10_000).max(1);
    let leaf = 4096u64;
    let mut rows: Vec<(Vec<u8>, u32, u64)> = Vec::with_capacity(n + 10_101);
    rows.push((root_bytes.clone(), 0, 0));
    for a in 0..100 {
        let pa = [root_bytes.as_slice(), format!("/a{a:03}").as_bytes()].concat();
        rows.push((pa.clone(), 1, leaf * (1 + 100 * (1 + per_b as u64))));
        for b in 0..100 {
            let pb = [pa.as_slice(), format!("/b{b:03}").as_bytes()].concat();
            rows.push((pb.clone(), 2, leaf * (1 + per_b as u64)));
            for c in 0..per_b {
                rows.push((
                    [pb.as_slice(), format!("/c{c:03}").as_bytes()].concat(),
                    3,
                    leaf,
                ));
            }
        }
    }
    rows[0].2 = leaf * (1 + 100 * (1 + 100 * (1 + per_b as u64)));
    rows.sort_unstable();
    let meta = SnapshotMeta {
        root: root_bytes,
        host: "bench".into(),
        dir_count: rows.len() as u64,
        total_bytes: rows.iter().find(|r| r.1 == 0).unwrap().2,
        walker: "synthetic".into(),
        ..SnapshotMeta::default()
    };
    let mut store =
        disktracker_store_sqlite::open_store(&StoreOptions::file(PathBuf::from(&db))).unwrap();
    let mut w = store.begin_snapshot(&meta).unwrap();
    for (path, depth, total) in &rows {
        let stats = DirStats {
            total_bytes: *total,
            total_apparent: *total,
            direct_bytes: leaf,
            direct_apparent: leaf,
            ..DirStats::default()
        };
        w.write_dir(path, *depth, &stats).unwrap();
    }
    let id = w.commit().unwrap();
    println!(
        "snapshot {id}: {} directories under {}",
        rows.len(),
        root.display()
    );
}
