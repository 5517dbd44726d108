//! DiskTracker's PostgreSQL [`SnapshotStore`]: many hosts report into one
//! database.
//!
//! Registered as `postgres`, for URLs `postgres://…` and `postgresql://…`
//! (or libpq's `key=value` strings in `[plugins.postgres] url`). The
//! connection follows libpq's conventions — `PGHOST`, `PGPORT`, `PGUSER`,
//! `PGPASSWORD`, `PGDATABASE`, `PGSSLMODE`, `PGSSLROOTCERT`,
//! `PGCONNECT_TIMEOUT`, `PGAPPNAME`, `PGPASSFILE`/`~/.pgpass`, Unix sockets,
//! `sslmode` from `disable` to `verify-full` — see `conninfo.rs`. A password
//! never appears in a message: locations are shown through
//! [`disktracker::store::redact_url`].
//!
//! # Dependencies
//!
//! * `postgres` (the synchronous API over `tokio-postgres`): the protocol,
//!   prepared statements, binary `COPY`; nothing hand-written.
//! * `tokio-postgres-rustls` with `rustls` on the `ring` provider: TLS
//!   without a system library at build time (no OpenSSL headers), the same
//!   on every machine; `rustls` directly for the verifiers libpq's sslmodes
//!   need (`verify-ca` checks the chain but not the name).
//! * `rustix` (already in the workspace): the machine's name and user.
//!
//! # Layout and types
//!
//! `schema.rs` has the tables. A `u64` is a `bigint` holding its bit pattern
//! (`as i64` and back: exact, though values above `i64::MAX` look negative
//! in `psql`), paths `bytea`, which PostgreSQL compares bytewise — the order
//! every read returns. A snapshot's directories are `dir_blocks` rows of a
//! few hundred directories each (`block.rs` encodes them), keyed by
//! `(snapshot_id, first_path)`: a directory is in the block with the
//! greatest `first_path` at or before it, a subtree (`path = P` or the range
//! `P/ ≤ path < P0`) in the blocks from that one to the last starting below
//! the range's end — one index range each. Snapshots carry their host;
//! `(host, scan_root, id)` and `(scan_root, id)` indexes serve the per-host
//! and per-root selections, each one statement.
//!
//! # Writing
//!
//! A snapshot is one transaction: its `snapshots` row is inserted when the
//! writer begins (so the id is known), its directories follow as blocks in
//! binary `COPY`s of about a mebibyte, retention deletes go in the same
//! transaction, and nothing is visible to other sessions before the
//! commit. A writer dropped without commit rolls back; a lost connection
//! leaves nothing (the server rolls back). `derive_snapshot` reads the
//! base's blocks, merges the changes in, and writes the result as new
//! blocks.
//!
//! # Privileges
//!
//! The first open of an empty database creates the tables (schema
//! migrations, `schema.rs`); after that, opening needs no DDL privilege.
//! `sql/roles.sql` creates the group roles: `disktracker_host` (`SELECT`,
//! `INSERT`, `DELETE` on every table, `UPDATE` only on the three tables
//! whose rows are replaced — `watch_state`, `index_provenance`,
//! `mutation_heads` — and `USAGE, SELECT` on the sequences) and
//! `disktracker_reader` (`SELECT`). A refused statement is
//! [`disktracker::ErrorKind::Permission`] naming that file. Row-level
//! security is not enabled: any host role may delete any host's snapshots
//! (retention runs per host and root in the engine); `roles.sql` shows the
//! policy that would confine a host to its own rows.
//!
//! # Reclaiming space
//!
//! [`SnapshotStore::reclaim_space`] runs `VACUUM (ANALYZE)` on our tables,
//! which makes deleted rows' space reusable, and `VACUUM FULL` on a table
//! more than twice the size its live rows need (plus 1 MiB), which gives the
//! space back to the file system but locks the table while it runs. Both
//! need the owner: for a host role they are skipped with the server's
//! warning, and autovacuum does the first part anyway.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod block;
mod conninfo;
mod error;
mod legacy;
mod live;
mod schema;
mod settings;
mod writer;

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use disktracker::model::DiffEntry;
use disktracker::path::{descendant_prefix, escape_bytes, parent_bytes, prefix_end, trim_slashes};
use disktracker::registry::StorePlugin;
use disktracker::{
    DerivedSnapshot, DirDelta, DirRecord, Error, ErrorKind, IndexProvenance, JournalEvent,
    JournalQuery, LiveBatch, LoggedMutation, Result, RootFilter, SnapshotId, SnapshotInfo,
    SnapshotMeta, SnapshotQuery, SnapshotStore, SnapshotWriter, StoreLocation, StoreOptions,
    WatchState,
};
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use postgres::{Client, GenericClient, Row, Statement};

use crate::block::BlockDecoder;
use crate::error::{Ctx, Phase};

/// The schema version this build creates and reads.
pub const SCHEMA_VERSION: i32 = schema::LATEST;

disktracker::register_store!(
    StorePlugin::new(
        "postgres",
        "PostgreSQL server: many hosts report into one database (postgres://USER@HOST/DB)",
        "",
        b"",
        open_store
    )
    .url_schemes(&["postgres", "postgresql"])
    .settings(settings::SETTINGS)
    .reads_beside_writes()
);

/// Opens the PostgreSQL store named by `opts` (a URL, or the `url` setting),
/// creating and migrating its tables unless read-only. The registered factory.
pub fn open_store(opts: &StoreOptions) -> Result<Box<dyn SnapshotStore>> {
    Ok(Box::new(PgStore::open(opts)?))
}

/// Statements prepared on this connection, by their text.
type Cache = HashMap<&'static str, Statement>;

/// The PostgreSQL [`SnapshotStore`].
pub struct PgStore {
    /// Reads take `&self` but the driver wants `&mut Client`; a store is
    /// used by one thread at a time (`Send`, not `Sync`).
    client: RefCell<Client>,
    stmts: RefCell<Cache>,
    location: StoreLocation,
    /// The location as shown (password redacted).
    shown: String,
    read_only: bool,
    /// Whose live tables this store reads and writes.
    live_host: String,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("location", &self.shown)
            .field("read_only", &self.read_only)
            .finish()
    }
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A `u64` as the `bigint` holding its bits.
pub(crate) fn to_sql_u64(v: u64) -> i64 {
    v as i64
}

/// Inverse of [`to_sql_u64`].
pub(crate) fn from_sql_u64(v: i64) -> u64 {
    v as u64
}

pub(crate) fn opt_u64(v: Option<u64>) -> Option<i64> {
    v.map(to_sql_u64)
}

pub(crate) fn split_u128(v: u128) -> (i64, i64) {
    (to_sql_u64(v as u64), to_sql_u64((v >> 64) as u64))
}

pub(crate) fn join_u128(lo: i64, hi: i64) -> u128 {
    (u128::from(from_sql_u64(hi)) << 64) | u128::from(from_sql_u64(lo))
}

/// A `usize` limit as `LIMIT` takes it.
pub(crate) fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

macro_rules! snapshot_cols {
    () => {
        "id, scan_root, host, started_at, finished_at, total_files, total_bytes, total_apparent, \
         dir_count, error_count, walker"
    };
}

fn decode_snapshot(row: &Row) -> std::result::Result<SnapshotInfo, postgres::Error> {
    let u = |i: usize| row.try_get::<_, i64>(i).map(from_sql_u64);
    Ok(SnapshotInfo {
        id: row.try_get(0)?,
        meta: SnapshotMeta {
            root: row.try_get::<_, Vec<u8>>(1)?,
            host: row.try_get(2)?,
            started_at_ms: row.try_get(3)?,
            finished_at_ms: row.try_get(4)?,
            total_files: u(5)?,
            total_bytes: u(6)?,
            total_apparent: u(7)?,
            dir_count: u(8)?,
            error_count: u(9)?,
            walker: row.try_get(10)?,
        },
    })
}

/// A path and the bounds of its strict descendants: a subtree is `path =
/// exact OR (path >= lo AND path < hi)`, so `P-x` (between `P` and `P/`)
/// stays out.
pub(crate) struct Under {
    pub exact: Vec<u8>,
    pub lo: Vec<u8>,
    pub hi: Vec<u8>,
}

impl Under {
    pub(crate) fn new(path: &[u8]) -> Self {
        let lo = descendant_prefix(path);
        Under {
            exact: trim_slashes(path).to_vec(),
            hi: prefix_end(&lo),
            lo,
        }
    }
}

/// A decoder of one `dir_blocks` row of snapshot `id` (its
/// [`block_cols!`]); a body it cannot read is corrupt.
pub(crate) fn open_block<'r>(
    row: &'r Row,
    id: SnapshotId,
    shown: &str,
    what: &str,
) -> Result<BlockDecoder<'r>> {
    let first: &[u8] = row.try_get(0).ctx(shown, what)?;
    let count: i32 = row.try_get(1).ctx(shown, what)?;
    let body: &[u8] = row.try_get(2).ctx(shown, what)?;
    BlockDecoder::new(first, count, body).ok_or_else(|| bad_block(shown, id, first))
}

/// Decodes the next directory of `d` into `rec`; `false` at the block's end.
pub(crate) fn next_dir(
    d: &mut BlockDecoder<'_>,
    rec: &mut DirRecord,
    id: SnapshotId,
    shown: &str,
) -> Result<bool> {
    d.next_into(rec)
        .ok_or_else(|| bad_block(shown, id, d.first_path()))
}

fn bad_block(shown: &str, id: SnapshotId, first: &[u8]) -> Error {
    error::corrupt(
        shown,
        format!(
            "the directory block of snapshot {id} starting at {} is malformed",
            escape_bytes(first)
        ),
    )
}

/// Prepares `sql` once per connection.
pub(crate) fn prepare(
    client: &mut impl GenericClient,
    cache: &mut Cache,
    sql: &'static str,
) -> std::result::Result<Statement, postgres::Error> {
    if let Some(s) = cache.get(sql) {
        return Ok(s.clone());
    }
    let s = client.prepare(sql)?;
    cache.insert(sql, s.clone());
    Ok(s)
}

const SELECT_ALL: &str = concat!("SELECT ", snapshot_cols!(), " FROM snapshots ORDER BY id");
const SELECT_ONE: &str = concat!("SELECT ", snapshot_cols!(), " FROM snapshots WHERE id = $1");
const FIND_ANY: &str = concat!(
    "SELECT ",
    snapshot_cols!(),
    " FROM snapshots WHERE id < $1 ORDER BY id DESC LIMIT $2"
);
const FIND_ROOTS: &str = concat!(
    "SELECT ",
    snapshot_cols!(),
    " FROM snapshots WHERE id < $1 AND scan_root = ANY($3) ORDER BY id DESC LIMIT $2"
);
const FIND_ANY_OF_HOST: &str = concat!(
    "SELECT ",
    snapshot_cols!(),
    " FROM snapshots WHERE id < $1 AND host = $3 ORDER BY id DESC LIMIT $2"
);
const FIND_ROOTS_OF_HOST: &str = concat!(
    "SELECT ",
    snapshot_cols!(),
    " FROM snapshots WHERE id < $1 AND scan_root = ANY($3) AND host = $4 ORDER BY id DESC LIMIT $2"
);
// Hosts sort bytewise ("C"), as the other stores sort them, whatever the
// database's collation.
const LATEST_PER_ROOT: &str = concat!(
    "SELECT DISTINCT ON (scan_root, host COLLATE \"C\") ",
    snapshot_cols!(),
    " FROM snapshots ORDER BY scan_root, host COLLATE \"C\", id DESC"
);
const LATEST_PER_ROOT_OF_HOST: &str = concat!(
    "SELECT DISTINCT ON (scan_root) ",
    snapshot_cols!(),
    " FROM snapshots WHERE host = $1 ORDER BY scan_root, id DESC"
);
/// The columns a block is decoded from, in [`open_block`] order.
macro_rules! block_cols {
    () => {
        "first_path, dir_count, body"
    };
}
pub(crate) const TREE: &str = concat!(
    "SELECT ",
    block_cols!(),
    " FROM dir_blocks WHERE snapshot_id = $1 ORDER BY first_path"
);
/// The blocks that may hold a path in `[$2, $3)`: the one holding `$2` (the
/// last starting at or before it) and every later one starting before `$3`.
const BLOCKS_IN: &str = concat!(
    "SELECT ",
    block_cols!(),
    " FROM dir_blocks WHERE snapshot_id = $1 AND first_path < $3 AND first_path >= \
     coalesce((SELECT first_path FROM dir_blocks WHERE snapshot_id = $1 AND first_path <= $2 \
     ORDER BY first_path DESC LIMIT 1), $2) ORDER BY first_path"
);
/// The block that holds `$2` if the snapshot has it.
const ONE_BLOCK: &str = concat!(
    "SELECT ",
    block_cols!(),
    " FROM dir_blocks WHERE snapshot_id = $1 AND first_path <= $2 \
     ORDER BY first_path DESC LIMIT 1"
);
const EXISTS: &str = "SELECT 1 FROM snapshots WHERE id = $1";

/// The paths whose subtree contains `path`: itself and each ancestor.
fn covering_roots(path: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut cur = Some(trim_slashes(path));
    while let Some(p) = cur {
        out.push(p.to_vec());
        cur = parent_bytes(p);
    }
    out
}

impl PgStore {
    /// Opens (creating and migrating unless read-only) the store named by
    /// `opts`. See [`open_store`].
    pub fn open(opts: &StoreOptions) -> Result<Self> {
        Self::open_in(opts, &conninfo::ProcessEnv)
    }

    /// [`PgStore::open`] with `env` in place of the process environment's
    /// `PG*` variables (for tests and embedders: changing the process
    /// environment is not thread-safe).
    pub fn open_with_env(opts: &StoreOptions, env: &[(&str, &str)]) -> Result<Self> {
        let map: std::collections::BTreeMap<&str, &str> = env.iter().copied().collect();
        Self::open_in(opts, &map)
    }

    fn open_in(opts: &StoreOptions, env: &dyn conninfo::Env) -> Result<Self> {
        let settings = settings::Settings::from_settings(&opts.settings)?;
        let url = match &opts.location {
            StoreLocation::Url(u) if !u.is_empty() => u.clone(),
            _ if !settings.url.is_empty() => settings.url.clone(),
            // libpq's empty connection string: everything from PG* variables.
            StoreLocation::Url(u) => u.clone(),
            other => {
                return Err(Error::new(
                    ErrorKind::Usage,
                    format!("the postgres store needs a server URL, not {other}"),
                )
                .with_hint(
                    "pass --db postgres://USER@HOST:PORT/DATABASE or set [plugins.postgres] url",
                ));
            }
        };
        let location = StoreLocation::Url(url.clone());
        let shown = location.to_string();
        let defaults = conninfo::Defaults {
            connect_timeout: settings.connect_timeout,
            application_name: settings.application_name.clone(),
        };
        let target = conninfo::resolve(&url, env, &defaults)?;
        let tls = conninfo::tls(&target, &shown)?;
        let mut client = target
            .config
            .connect(tls)
            .map_err(|e| error::pg(&shown, "cannot connect to", Phase::Connect, e))?;
        if opts.read_only {
            // A second guard behind the store's own checks.
            client
                .batch_execute("SET default_transaction_read_only = on")
                .ctx(&shown, "configuring the session on")?;
        }
        let state = probe(&mut client, &shown)?;
        match state {
            Probe::Current => {}
            Probe::Empty if opts.read_only => {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!("no DiskTracker store in {shown}: the database has none of its tables"),
                )
                .with_hint(
                    "run `disktracker scan` with a writable connection first to create it",
                ));
            }
            Probe::Older(v) if opts.read_only => {
                return Err(Error::new(
                    ErrorKind::Database,
                    format!(
                        "{shown} uses schema version {v}, older than this disktracker's {}",
                        schema::LATEST
                    ),
                )
                .with_hint("open it once without read-only to upgrade it; nothing was changed"));
            }
            Probe::Empty | Probe::Older(_) => migrate(&mut client, &shown)?,
        }
        Ok(PgStore {
            client: RefCell::new(client),
            stmts: RefCell::new(HashMap::new()),
            location,
            shown,
            read_only: opts.read_only,
            live_host: settings.live_host_for(&opts.host),
        })
    }

    /// The schema version of the database.
    pub fn schema_version(&self) -> Result<i32> {
        self.with("reading the schema version of", |c, _| {
            c.query_one("SELECT version FROM disktracker_schema WHERE id = 1", &[])
                .and_then(|r| r.try_get(0))
        })
    }

    /// The host whose live tables this store reads and writes.
    pub fn live_host(&self) -> &str {
        &self.live_host
    }

    /// Runs `f` with the connection and the statement cache.
    pub(crate) fn with<T>(
        &self,
        what: &str,
        f: impl FnOnce(&mut Client, &mut Cache) -> std::result::Result<T, postgres::Error>,
    ) -> Result<T> {
        self.with_checked(what, |c, cache, shown| f(c, cache).ctx(shown, what))
    }

    /// Runs `f` with the connection, the statement cache and the shown
    /// location; `f` gives its errors their context.
    pub(crate) fn with_checked<T>(
        &self,
        what: &str,
        f: impl FnOnce(&mut Client, &mut Cache, &str) -> Result<T>,
    ) -> Result<T> {
        let (Ok(mut client), Ok(mut cache)) =
            (self.client.try_borrow_mut(), self.stmts.try_borrow_mut())
        else {
            return Err(Error::new(
                ErrorKind::Plugin,
                format!(
                    "{what} {}: the store was called again from inside a visit",
                    self.shown
                ),
            ));
        };
        f(&mut client, &mut cache, &self.shown)
    }

    /// Refuses writes to a read-only store.
    pub(crate) fn check_writable(&self, what: &str) -> Result<()> {
        if self.read_only {
            Err(error::read_only(&self.shown, what))
        } else {
            Ok(())
        }
    }

    /// Runs `f` in one transaction: committed when it returns `Ok`.
    pub(crate) fn in_transaction<T>(
        &mut self,
        what: &str,
        f: impl FnOnce(&mut postgres::Transaction<'_>, &mut Cache, &str) -> Result<T>,
    ) -> Result<T> {
        self.in_transaction_at(postgres::IsolationLevel::ReadCommitted, what, f)
    }

    /// [`PgStore::in_transaction`] at `level` (`RepeatableRead`: every
    /// statement sees the same snapshot of the database).
    pub(crate) fn in_transaction_at<T>(
        &mut self,
        level: postgres::IsolationLevel,
        what: &str,
        f: impl FnOnce(&mut postgres::Transaction<'_>, &mut Cache, &str) -> Result<T>,
    ) -> Result<T> {
        let shown = self.shown.clone();
        let client = self.client.get_mut();
        let cache = self.stmts.get_mut();
        let mut tx = client
            .build_transaction()
            .isolation_level(level)
            .start()
            .ctx(&shown, what)?;
        let out = f(&mut tx, cache, &shown)?;
        // Dropping `tx` on an error rolls back.
        tx.commit().ctx(&shown, what)?;
        Ok(out)
    }

    fn exists(&self, id: SnapshotId) -> Result<bool> {
        self.with("reading snapshots from", |c, cache| {
            let s = prepare(c, cache, EXISTS)?;
            Ok(c.query_opt(&s, &[&id])?.is_some())
        })
    }
}

/// What an open found in the database.
enum Probe {
    Current,
    Older(i32),
    Empty,
}

/// Validates the database without changing it: ours and current, ours and
/// older, or empty. Newer versions and foreign tables are refused.
fn probe(client: &mut Client, shown: &str) -> Result<Probe> {
    let what = "inspecting";
    let names: Vec<&str> = schema::TABLES
        .iter()
        .chain(schema::RETIRED)
        .copied()
        .collect();
    let row = client
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL, \
             ARRAY(SELECT t FROM unnest($2::text[]) t WHERE to_regclass(t) IS NOT NULL)",
            &[&schema::MARKER, &names],
        )
        .ctx(shown, what)?;
    let marked: bool = row.try_get(0).ctx(shown, what)?;
    let ours: Vec<String> = row.try_get(1).ctx(shown, what)?;
    if !marked {
        if let Some(t) = ours.first() {
            return Err(error::corrupt(
                shown,
                format!(
                    "it has a table {t:?} but no {} table, so it belongs to something else",
                    schema::MARKER
                ),
            ));
        }
        return Ok(Probe::Empty);
    }
    let version: Option<i32> = client
        .query_opt("SELECT version FROM disktracker_schema WHERE id = 1", &[])
        .ctx(shown, what)?
        .map(|r| r.try_get(0))
        .transpose()
        .ctx(shown, what)?;
    let Some(version) = version else {
        return Err(error::corrupt(
            shown,
            "its disktracker_schema table is empty",
        ));
    };
    if version > schema::LATEST {
        return Err(Error::new(
            ErrorKind::Corrupt,
            format!(
                "{shown} uses schema version {version}, from a newer DiskTracker (this one knows up to {})",
                schema::LATEST
            ),
        )
        .with_hint("upgrade disktracker, or point --db at another database; nothing was changed"));
    }
    if version == schema::LATEST {
        let missing: Vec<&str> = schema::TABLES
            .iter()
            .copied()
            .filter(|t| !ours.iter().any(|o| o == t))
            .collect();
        if !missing.is_empty() {
            return Err(error::corrupt(
                shown,
                format!("tables are missing: {}", missing.join(", ")),
            ));
        }
        return Ok(Probe::Current);
    }
    Ok(Probe::Older(version))
}

/// Brings the schema to [`schema::LATEST`] in one transaction under the
/// migration lock, checking again under the lock (another host may have
/// migrated meanwhile).
fn migrate(client: &mut Client, shown: &str) -> Result<()> {
    let what = "creating or migrating the tables in";
    // A session lock taken before the transaction begins: a transaction
    // that began first could miss the tables another host just created (its
    // catalog cache is only refreshed when a transaction starts) and fail
    // creating them again. The server drops the lock if the session dies.
    client
        .execute("SELECT pg_advisory_lock($1)", &[&schema::MIGRATION_LOCK])
        .ctx(shown, what)?;
    let result = migrate_locked(client, shown, what);
    let unlocked = client
        .execute("SELECT pg_advisory_unlock($1)", &[&schema::MIGRATION_LOCK])
        .ctx(shown, what);
    result.and(unlocked.map(drop))
}

/// [`migrate`]'s work, under its lock, in one transaction.
fn migrate_locked(client: &mut Client, shown: &str, what: &str) -> Result<()> {
    let mut tx = client.transaction().ctx(shown, what)?;
    let marked: bool = tx
        .query_one("SELECT to_regclass('disktracker_schema') IS NOT NULL", &[])
        .and_then(|r| r.try_get(0))
        .ctx(shown, what)?;
    let from: i32 = if marked {
        tx.query_one("SELECT version FROM disktracker_schema WHERE id = 1", &[])
            .and_then(|r| r.try_get(0))
            .ctx(shown, what)?
    } else {
        tx.batch_execute(schema::CREATE_MARKER).ctx(shown, what)?;
        tx.execute(
            "INSERT INTO disktracker_schema (id, version, migrated_at) VALUES (1, 0, $1)",
            &[&now_ms()],
        )
        .ctx(shown, what)?;
        0
    };
    if from > schema::LATEST {
        return Err(Error::new(
            ErrorKind::Corrupt,
            format!("{shown} uses schema version {from}, from a newer DiskTracker"),
        )
        .with_hint("upgrade disktracker, or point --db at another database; nothing was changed"));
    }
    if from == schema::LATEST {
        // Another host migrated while this one waited for the lock.
        return tx.commit().ctx(shown, what);
    }
    for m in schema::MIGRATIONS.iter().filter(|m| m.version > from) {
        tx.batch_execute(m.sql)
            .and_then(|()| m.convert.map_or(Ok(()), |convert| convert(&mut tx)))
            .map_err(|e| {
                let err = error::pg(shown, what, Phase::Session, e);
                let msg = format!("{} (migration {}: {})", err.message(), m.version, m.summary);
                let hint = err.hint().unwrap_or_default().to_owned();
                Error::new(err.kind(), msg).with_hint(hint)
            })?;
    }
    tx.execute(
        "UPDATE disktracker_schema SET version = $1, migrated_at = $2 WHERE id = 1",
        &[&schema::LATEST, &now_ms()],
    )
    .ctx(shown, what)?;
    // The group roles of sql/roles.sql get their grants on new tables
    // here, when they exist (the owner runs this).
    tx.batch_execute(schema::GRANTS).ctx(shown, what)?;
    tx.commit().ctx(shown, what)
}

/// Deletes snapshots and their rows inside `tx`; returns how many existed.
pub(crate) fn delete_in(
    tx: &mut postgres::Transaction<'_>,
    ids: &[SnapshotId],
) -> std::result::Result<usize, postgres::Error> {
    if ids.is_empty() {
        return Ok(0);
    }
    let ids: Vec<i64> = ids.to_vec();
    tx.execute(
        "DELETE FROM dir_blocks WHERE snapshot_id = ANY($1)",
        &[&ids],
    )?;
    tx.execute(
        "DELETE FROM diff_cache WHERE snapshot_a = ANY($1) OR snapshot_b = ANY($1)",
        &[&ids],
    )?;
    // diff_cache_sets and dir_deltas follow by their foreign keys.
    let n = tx.execute("DELETE FROM snapshots WHERE id = ANY($1)", &[&ids])?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

impl SnapshotStore for PgStore {
    fn location(&self) -> &StoreLocation {
        &self.location
    }

    fn begin_snapshot(&mut self, meta: &SnapshotMeta) -> Result<Box<dyn SnapshotWriter + '_>> {
        self.check_writable("write a snapshot")?;
        let shown = self.shown.as_str();
        Ok(Box::new(writer::Writer::begin(
            self.client.get_mut(),
            self.stmts.get_mut(),
            shown,
            meta,
        )?))
    }

    fn snapshots(&self) -> Result<Vec<SnapshotInfo>> {
        self.with("listing snapshots in", |c, cache| {
            let s = prepare(c, cache, SELECT_ALL)?;
            c.query(&s, &[])?.iter().map(decode_snapshot).collect()
        })
    }

    fn find_snapshots(&self, query: &SnapshotQuery<'_>) -> Result<Vec<SnapshotInfo>> {
        let before = query.before.unwrap_or(i64::MAX);
        let limit = sql_limit(query.limit.unwrap_or(usize::MAX));
        let roots: Option<Vec<Vec<u8>>> = match query.root {
            RootFilter::Any => None,
            RootFilter::Exactly(r) => Some(vec![r.to_vec()]),
            RootFilter::Covering(p) => Some(covering_roots(p)),
        };
        let host = query.host;
        self.with("selecting snapshots in", |c, cache| {
            let rows = match (&roots, host) {
                (None, None) => {
                    let s = prepare(c, cache, FIND_ANY)?;
                    c.query(&s, &[&before, &limit])?
                }
                (None, Some(h)) => {
                    let s = prepare(c, cache, FIND_ANY_OF_HOST)?;
                    c.query(&s, &[&before, &limit, &h])?
                }
                (Some(roots), None) => {
                    let s = prepare(c, cache, FIND_ROOTS)?;
                    c.query(&s, &[&before, &limit, roots])?
                }
                (Some(roots), Some(h)) => {
                    let s = prepare(c, cache, FIND_ROOTS_OF_HOST)?;
                    c.query(&s, &[&before, &limit, roots, &h])?
                }
            };
            rows.iter().map(decode_snapshot).collect()
        })
    }

    fn latest_per_root(&self, host: Option<&str>) -> Result<Vec<SnapshotInfo>> {
        self.with("selecting snapshots in", |c, cache| {
            let rows = match host {
                None => {
                    let s = prepare(c, cache, LATEST_PER_ROOT)?;
                    c.query(&s, &[])?
                }
                Some(h) => {
                    let s = prepare(c, cache, LATEST_PER_ROOT_OF_HOST)?;
                    c.query(&s, &[&h])?
                }
            };
            rows.iter().map(decode_snapshot).collect()
        })
    }

    fn snapshot(&self, id: SnapshotId) -> Result<Option<SnapshotInfo>> {
        self.with("reading snapshots from", |c, cache| {
            let s = prepare(c, cache, SELECT_ONE)?;
            c.query_opt(&s, &[&id])?
                .as_ref()
                .map(decode_snapshot)
                .transpose()
        })
    }

    fn delete_snapshots(&mut self, ids: &[SnapshotId]) -> Result<usize> {
        self.check_writable("delete snapshots")?;
        let what = "deleting snapshots from";
        self.in_transaction(what, |tx, _, shown| delete_in(tx, ids).ctx(shown, what))
    }

    fn visit_tree(
        &self,
        id: SnapshotId,
        under: Option<&[u8]>,
        visit: &mut dyn FnMut(&DirRecord) -> bool,
    ) -> Result<()> {
        let what = "reading a snapshot from";
        let under = under.map(Under::new);
        let seen = self.with_checked(what, |c, cache, shown| {
            let mut rows = match &under {
                None => {
                    let s = prepare(c, cache, TREE).ctx(shown, what)?;
                    c.query_raw(&s, [&id as &(dyn ToSql + Sync)])
                }
                Some(u) => {
                    let s = prepare(c, cache, BLOCKS_IN).ctx(shown, what)?;
                    let p: [&(dyn ToSql + Sync); 3] = [&id, &u.exact, &u.hi];
                    c.query_raw(&s, p)
                }
            }
            .ctx(shown, what)?;
            let mut rec = DirRecord::default();
            let mut seen = false;
            // Blocks are streamed and decoded as they arrive; stopping
            // early drops the rest.
            while let Some(row) = rows.next().ctx(shown, what)? {
                seen = true;
                let mut d = open_block(&row, id, shown, what)?;
                while next_dir(&mut d, &mut rec, id, shown)? {
                    let wanted = match &under {
                        None => true,
                        Some(u) if rec.path.as_slice() >= u.hi.as_slice() => return Ok(true),
                        Some(u) => rec.path == u.exact || rec.path.starts_with(&u.lo),
                    };
                    if wanted && !visit(&rec) {
                        return Ok(true);
                    }
                }
            }
            Ok(seen)
        })?;
        if !seen && !self.exists(id)? {
            return Err(error::no_snapshot(&self.shown, id));
        }
        Ok(())
    }

    fn dir(&self, id: SnapshotId, path: &[u8]) -> Result<Option<DirRecord>> {
        let path = trim_slashes(path).to_vec();
        let what = "reading a directory from";
        self.with_checked(what, |c, cache, shown| {
            let s = prepare(c, cache, ONE_BLOCK).ctx(shown, what)?;
            let Some(row) = c.query_opt(&s, &[&id, &path]).ctx(shown, what)? else {
                return Ok(None);
            };
            let mut d = open_block(&row, id, shown, what)?;
            let mut rec = DirRecord::default();
            while next_dir(&mut d, &mut rec, id, shown)? {
                match rec.path.as_slice().cmp(&path) {
                    std::cmp::Ordering::Less => {}
                    std::cmp::Ordering::Equal => return Ok(Some(rec)),
                    std::cmp::Ordering::Greater => break,
                }
            }
            Ok(None)
        })
    }

    fn children(&self, id: SnapshotId, path: &[u8]) -> Result<Vec<DirRecord>> {
        let u = Under::new(path);
        let mut out = Vec::new();
        // Immediate children: below `P/` with no further separator.
        self.visit_tree(id, Some(path), &mut |rec| {
            if rec.path.len() > u.lo.len() && !rec.path[u.lo.len()..].contains(&b'/') {
                out.push(rec.clone());
            }
            true
        })?;
        Ok(out)
    }

    fn cached_diff(&self, a: SnapshotId, b: SnapshotId) -> Result<Option<Vec<DiffEntry>>> {
        let what = "reading a cached diff from";
        let got = self.with(what, |c, cache| {
            let s = prepare(
                c,
                cache,
                "SELECT entry_count FROM diff_cache_sets WHERE snapshot_a = $1 AND snapshot_b = $2",
            )?;
            let Some(count) = c.query_opt(&s, &[&a, &b])? else {
                return Ok(None);
            };
            let count: i64 = count.try_get(0)?;
            let s = prepare(
                c,
                cache,
                "SELECT path, bytes_a, bytes_b, apparent_a, apparent_b FROM diff_cache \
                 WHERE snapshot_a = $1 AND snapshot_b = $2 ORDER BY position",
            )?;
            let entries = c
                .query(&s, &[&a, &b])?
                .iter()
                .map(|r| {
                    let u = |i: usize| r.try_get::<_, Option<i64>>(i).map(|v| v.map(from_sql_u64));
                    Ok(DiffEntry {
                        path: r.try_get(0)?,
                        bytes_a: u(1)?,
                        bytes_b: u(2)?,
                        apparent_a: u(3)?,
                        apparent_b: u(4)?,
                    })
                })
                .collect::<std::result::Result<Vec<_>, postgres::Error>>()?;
            Ok(Some((count, entries)))
        })?;
        let Some((count, entries)) = got else {
            return Ok(None);
        };
        if usize::try_from(count).ok() != Some(entries.len()) {
            return Err(error::corrupt(
                &self.shown,
                format!(
                    "the cached diff {a} -> {b} should have {count} entries but has {}",
                    entries.len()
                ),
            ));
        }
        Ok(Some(entries))
    }

    fn store_diff(&mut self, a: SnapshotId, b: SnapshotId, entries: &[DiffEntry]) -> Result<()> {
        self.check_writable("cache a diff")?;
        let what = "caching a diff in";
        self.in_transaction(what, |tx, _, shown| {
            // The diff_cache_sets row's foreign keys then hold both
            // snapshots against a concurrent delete until commit.
            let ids = vec![a, b];
            let found = tx
                .query("SELECT id FROM snapshots WHERE id = ANY($1)", &[&ids])
                .ctx(shown, what)?;
            for id in [a, b] {
                if !found.iter().any(|r| r.get::<_, i64>(0) == id) {
                    return Err(error::no_snapshot(shown, id));
                }
            }
            tx.execute(
                "DELETE FROM diff_cache WHERE snapshot_a = $1 AND snapshot_b = $2",
                &[&a, &b],
            )
            .ctx(shown, what)?;
            tx.execute(
                "DELETE FROM diff_cache_sets WHERE snapshot_a = $1 AND snapshot_b = $2",
                &[&a, &b],
            )
            .ctx(shown, what)?;
            let count = i64::try_from(entries.len()).unwrap_or(i64::MAX);
            tx.execute(
                "INSERT INTO diff_cache_sets (snapshot_a, snapshot_b, entry_count, stored_at) \
                 VALUES ($1, $2, $3, $4)",
                &[&a, &b, &count, &now_ms()],
            )
            .ctx(shown, what)?;
            writer::copy_diff(tx, a, b, entries).ctx(shown, what)
        })
    }

    fn reclaim_space(&mut self) -> Result<()> {
        self.check_writable("reclaim space")?;
        let what = "reclaiming free space in";
        let tables = schema::TABLES.join(", ");
        let vacuum = format!("VACUUM (ANALYZE) {tables}");
        self.with(what, |c, _| c.batch_execute(&vacuum))?;
        // The live rows' size, generously: a block's stored body and key
        // with tuple and TOAST overhead; a diff row (fixed columns) and its
        // index entry from the planner's average width.
        let checks = [
            (
                "dir_blocks",
                "SELECT pg_total_relation_size('dir_blocks'), \
                 coalesce(sum(pg_column_size(body) * 1.1 + 2 * pg_column_size(first_path) + 128), \
                 0)::float8 FROM dir_blocks",
            ),
            (
                "diff_cache",
                "SELECT pg_total_relation_size(c.oid), greatest(c.reltuples, 0)::float8 * \
                 (2 * coalesce((SELECT sum(avg_width) FROM pg_stats s \
                 WHERE s.schemaname = n.nspname AND s.tablename = c.relname), 0) + 64)::float8 \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.oid = to_regclass('diff_cache')",
            ),
        ];
        for (table, sql) in checks {
            let loose = self.with(what, |c, _| {
                let r = c.query_one(sql, &[])?;
                let total: i64 = r.try_get(0)?;
                let live: f64 = r.try_get(1)?;
                Ok(total as f64 > 2.0 * live + 1_048_576.0)
            })?;
            if loose {
                // Static names only: `table` is one of the two above.
                let full = format!("VACUUM (FULL, ANALYZE) {table}");
                self.with(what, |c, _| c.batch_execute(&full))?;
            }
        }
        Ok(())
    }

    fn release_memory(&mut self) {
        // Rows are decoded as they arrive and dropped; the driver keeps no
        // cache of results, so there is nothing to give back.
    }

    fn append_batch(&mut self, batch: &LiveBatch<'_>) -> Result<i64> {
        live::append_batch(self, batch)
    }

    fn mutations_after(
        &self,
        cursor: i64,
        under: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<LoggedMutation>> {
        live::mutations_after(self, cursor, under, limit)
    }

    fn count_mutations_after(&self, cursor: i64, under: Option<&[u8]>) -> Result<u64> {
        live::count_mutations_after(self, cursor, under)
    }

    fn prune_mutations(&mut self, through: i64, under: Option<&[u8]>) -> Result<usize> {
        live::prune_mutations(self, through, under)
    }

    fn journal(&self, query: &JournalQuery) -> Result<Vec<JournalEvent>> {
        live::journal(self, query)
    }

    fn prune_journal(&mut self, before_ms: i64) -> Result<usize> {
        live::prune_journal(self, before_ms)
    }

    fn record_dir_deltas(&mut self, deltas: &[DirDelta]) -> Result<()> {
        live::record_dir_deltas(self, deltas)
    }

    fn dir_deltas(&self, snapshot: SnapshotId) -> Result<Vec<DirDelta>> {
        live::dir_deltas(self, snapshot)
    }

    fn watch_state(&self, root: &[u8]) -> Result<Option<WatchState>> {
        live::watch_state(self, root)
    }

    fn watch_states(&self) -> Result<Vec<WatchState>> {
        live::watch_states(self)
    }

    fn set_watch_state(&mut self, state: &WatchState) -> Result<()> {
        live::set_watch_state(self, state)
    }

    fn derive_snapshot(&mut self, d: &DerivedSnapshot<'_>) -> Result<SnapshotId> {
        live::derive_snapshot(self, d)
    }

    fn index_provenance(&self) -> Result<Option<IndexProvenance>> {
        live::index_provenance(self)
    }

    fn set_index_provenance(&mut self, p: &IndexProvenance) -> Result<()> {
        live::set_index_provenance(self, p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covering_roots_are_the_path_and_its_ancestors() {
        assert_eq!(
            covering_roots(b"/a/b-c/d/"),
            [
                b"/a/b-c/d".to_vec(),
                b"/a/b-c".to_vec(),
                b"/a".to_vec(),
                b"/".to_vec()
            ]
        );
    }

    #[test]
    fn bit_casts_are_lossless() {
        for v in [0, 1, i64::MAX as u64, i64::MAX as u64 + 1, u64::MAX] {
            assert_eq!(from_sql_u64(to_sql_u64(v)), v);
        }
        for v in [0, 1, u128::MAX, 1 << 64, (1 << 64) - 1] {
            let (lo, hi) = split_u128(v);
            assert_eq!(join_u128(lo, hi), v);
        }
    }
}
