//! Schema version 1 kept one `dir_snapshots` row per directory; migration 2
//! re-encodes them as `dir_blocks` and drops the table.

use disktracker::{DirRecord, DirStats};
use postgres::{Row, Transaction};

use crate::writer::{BlockSink, COPY_BLOCKS};
use crate::{from_sql_u64, join_u128};

/// The columns of a version 1 directory row, in [`decode_row`] order.
const ROW_COLS: &str = "path, depth, total_bytes, total_apparent, direct_bytes, direct_apparent, \
     file_count, direct_files, child_count, error_count, mtime_ns, dev, ino, fingerprint_lo, \
     fingerprint_hi";

fn decode_row(row: &Row) -> Result<DirRecord, postgres::Error> {
    let depth: i32 = row.try_get(1)?;
    let u = |i: usize| row.try_get::<_, i64>(i).map(from_sql_u64);
    Ok(DirRecord {
        path: row.try_get(0)?,
        depth: depth as u32,
        stats: DirStats {
            total_bytes: u(2)?,
            total_apparent: u(3)?,
            direct_bytes: u(4)?,
            direct_apparent: u(5)?,
            file_count: u(6)?,
            direct_files: u(7)?,
            child_count: u(8)?,
            error_count: u(9)?,
            mtime_ns: row.try_get(10)?,
            dev: u(11)?,
            ino: u(12)?,
            fingerprint: join_u128(row.try_get(13)?, row.try_get(14)?),
        },
    })
}

/// Re-encodes every snapshot's `dir_snapshots` rows as blocks, one
/// snapshot at a time, then drops the table (inside the migration's
/// transaction: all or nothing).
pub(crate) fn rows_to_blocks(tx: &mut Transaction<'_>) -> Result<(), postgres::Error> {
    let ids: Vec<i64> = tx
        .query(
            "SELECT DISTINCT snapshot_id FROM dir_snapshots ORDER BY 1",
            &[],
        )?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    let select = tx.prepare(&format!(
        "SELECT {ROW_COLS} FROM dir_snapshots WHERE snapshot_id = $1 ORDER BY path"
    ))?;
    let copy = tx.prepare(COPY_BLOCKS)?;
    for id in ids {
        let rows = tx.query(&select, &[&id])?;
        let mut sink = BlockSink::default();
        for row in &rows {
            let r = decode_row(row)?;
            sink.push(tx, &copy, id, &r.path, r.depth, &r.stats)?;
        }
        drop(rows);
        sink.finish(tx, &copy, id)?;
    }
    tx.batch_execute("DROP TABLE dir_snapshots")
}

#[cfg(test)]
mod tests {
    use disktracker::{SnapshotStore, StoreOptions};
    use disktracker_testkit::postgres::TestPostgres;

    use super::*;
    use crate::schema::{CREATE_MARKER, MIGRATIONS};
    use crate::{PgStore, split_u128, to_sql_u64};

    /// Directories of snapshot `n` in bytewise order, with values at the
    /// edges of their types.
    fn dirs(n: u64, count: u64) -> Vec<DirRecord> {
        let mut paths: Vec<Vec<u8>> = (0..count)
            .map(|i| {
                let mut p = format!("/v1/s{n}/d{:03}", i / 7).into_bytes();
                if i % 7 > 0 {
                    p.extend_from_slice(format!("/e{i}").as_bytes());
                }
                if i % 50 == 3 {
                    p.extend_from_slice(b"/\xff\xfe");
                }
                p
            })
            .collect();
        paths.push(b"/v1".to_vec());
        paths.sort();
        paths.dedup();
        paths
            .into_iter()
            .enumerate()
            .map(|(i, path)| {
                let i = i as u64;
                DirRecord {
                    depth: path.iter().filter(|&&b| b == b'/').count() as u32 - 1,
                    path,
                    stats: DirStats {
                        total_bytes: u64::MAX - i,
                        total_apparent: i << 40,
                        direct_bytes: i,
                        direct_apparent: i * 3,
                        file_count: i * 11,
                        direct_files: i % 5,
                        child_count: i % 3,
                        error_count: u64::from(i.is_multiple_of(13)),
                        mtime_ns: -(i as i64) * 1_000_003,
                        dev: n,
                        ino: i + (1 << 63),
                        fingerprint: u128::MAX - u128::from(i),
                    },
                }
            })
            .collect()
    }

    #[test]
    #[ignore = "needs a PostgreSQL server (initdb, pg_ctl): apt-get install postgresql"]
    fn a_version_1_database_gets_every_directory_back_from_blocks() {
        let pg = TestPostgres::shared();
        let url = pg.fresh_database();
        let db = url.rsplit('/').next().unwrap().to_owned();
        let mut c = pg.admin_client(&db);
        // The released version 1 schema, filled the way version 1 wrote.
        c.batch_execute(CREATE_MARKER).unwrap();
        c.execute(
            "INSERT INTO disktracker_schema (id, version, migrated_at) VALUES (1, 1, 0)",
            &[],
        )
        .unwrap();
        c.batch_execute(MIGRATIONS[0].sql).unwrap();
        let mut want = Vec::new();
        for (n, count) in [(1u64, 3000u64), (2, 40), (3, 0)] {
            let rows = dirs(n, count);
            let id: i64 = c
                .query_one(
                    "INSERT INTO snapshots (scan_root, host, started_at, finished_at, total_files, \
                     total_bytes, total_apparent, dir_count, error_count, walker) \
                     VALUES ('/v1'::bytea, 'h', 1, 2, 0, 0, 0, $1, 0, 'w') RETURNING id",
                    &[&(rows.len() as i64)],
                )
                .unwrap()
                .get(0);
            for r in &rows {
                let s = &r.stats;
                let (lo, hi) = split_u128(s.fingerprint);
                c.execute(
                    &format!(
                        "INSERT INTO dir_snapshots (snapshot_id, {ROW_COLS}) VALUES \
                         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
                    ),
                    &[
                        &id,
                        &r.path,
                        &(r.depth as i32),
                        &to_sql_u64(s.total_bytes),
                        &to_sql_u64(s.total_apparent),
                        &to_sql_u64(s.direct_bytes),
                        &to_sql_u64(s.direct_apparent),
                        &to_sql_u64(s.file_count),
                        &to_sql_u64(s.direct_files),
                        &to_sql_u64(s.child_count),
                        &to_sql_u64(s.error_count),
                        &s.mtime_ns,
                        &to_sql_u64(s.dev),
                        &to_sql_u64(s.ino),
                        &lo,
                        &hi,
                    ],
                )
                .unwrap();
            }
            want.push((id, rows));
        }

        let store = PgStore::open(&StoreOptions::url(url.clone())).unwrap();
        assert_eq!(store.schema_version().unwrap(), 2);
        for (id, rows) in &want {
            assert_eq!(&store.read_tree(*id, None).unwrap(), rows, "snapshot {id}");
            for r in rows.iter().step_by(97) {
                assert_eq!(store.dir(*id, &r.path).unwrap().as_ref(), Some(r));
            }
        }
        let gone: bool = c
            .query_one("SELECT to_regclass('dir_snapshots') IS NULL", &[])
            .unwrap()
            .get(0);
        assert!(gone, "dir_snapshots is dropped");
        drop(store);
        // Opening again finds it current and changes nothing.
        let before = pg.dump(&db);
        drop(PgStore::open(&StoreOptions::url(url)).unwrap());
        assert_eq!(pg.dump(&db), before);
    }
}
