//! The format version: creating the tables of a new file, refusing newer or
//! foreign files, and migrating older formats (see the crate docs).

use disktracker::path::escape_path;
use disktracker::{Error, ErrorKind, Result};
use redb::{Database, ReadableTable, WriteTransaction};

use crate::errors::{Ctx, bad_record, from_redb};
use crate::{
    DELTAS, DIFF_SETS, DIFFS, DIRS, FORMAT_VERSION, Handle, JOURNAL, KEY_FORMAT, KEY_NEXT_DELTA,
    KEY_NEXT_EVENT, KEY_NEXT_ID, KEY_NEXT_MUTATION, META, MUTATIONS, PROVENANCE, ROOTS, RedbStore,
    SNAPSHOTS, WATCH, codec, is_missing,
};

impl RedbStore {
    /// Checks the format version; creates the tables in a new file and
    /// migrates an older format, unless read-only.
    pub(crate) fn check_schema(&self) -> Result<()> {
        let txn = self.read()?;
        match txn.open_table(META) {
            Ok(meta) => {
                let version = meta.get(KEY_FORMAT).ctx(&self.path, "cannot read")?;
                match version.map(|v| v.value()) {
                    Some(FORMAT_VERSION) => Ok(()),
                    Some(1) => match &self.db {
                        Handle::Rw(db) => {
                            drop(meta);
                            drop(txn);
                            self.migrate_from_1(db)
                        }
                        // Read as it is; see "Migrations" in the crate docs.
                        Handle::Ro(_) => Ok(()),
                    },
                    Some(v) if v > FORMAT_VERSION => Err(Error::new(
                        ErrorKind::Corrupt,
                        format!(
                            "{} was written by a newer disktracker (store format {v}; this build reads up to {FORMAT_VERSION})",
                            escape_path(&self.path)
                        ),
                    )
                    .with_hint("upgrade disktracker, or pass --db")),
                    _ => Err(bad_record(&self.path, "the store format version")),
                }
            }
            Err(e) if is_missing(&e) => {
                let foreign = txn
                    .list_tables()
                    .ctx(&self.path, "cannot read")?
                    .next()
                    .is_some()
                    || txn
                        .list_multimap_tables()
                        .ctx(&self.path, "cannot read")?
                        .next()
                        .is_some();
                drop(txn);
                if foreign {
                    return Err(Error::new(
                        ErrorKind::Corrupt,
                        format!(
                            "{} is a redb database, but not a disktracker store",
                            escape_path(&self.path)
                        ),
                    )
                    .with_hint("pass --db with another path"));
                }
                match &self.db {
                    Handle::Rw(db) => self.initialize(db),
                    // Read-only on a file that never got its tables (a crash
                    // right after creation): an empty store; reads find nothing.
                    Handle::Ro(_) => Ok(()),
                }
            }
            Err(e) => Err(from_redb(&self.path, "cannot read", e.into())),
        }
    }

    /// A new file: every table in one commit, so a store has either all of
    /// them or (crash) none.
    fn initialize(&self, db: &Database) -> Result<()> {
        let what = "cannot initialize";
        let txn = self.write_txn(db)?;
        {
            let mut meta = txn.open_table(META).ctx(&self.path, what)?;
            meta.insert(KEY_FORMAT, FORMAT_VERSION)
                .ctx(&self.path, what)?;
            meta.insert(KEY_NEXT_ID, 1).ctx(&self.path, what)?;
            txn.open_table(SNAPSHOTS).ctx(&self.path, what)?;
            txn.open_table(DIRS).ctx(&self.path, what)?;
            txn.open_table(DIFFS).ctx(&self.path, what)?;
            txn.open_table(DIFF_SETS).ctx(&self.path, what)?;
        }
        self.create_format_2_tables(&txn, what)?;
        txn.commit().ctx(&self.path, what)
    }

    /// The tables and counters format 2 added.
    fn create_format_2_tables(&self, txn: &WriteTransaction, what: &str) -> Result<()> {
        txn.open_table(ROOTS).ctx(&self.path, what)?;
        txn.open_table(MUTATIONS).ctx(&self.path, what)?;
        txn.open_table(JOURNAL).ctx(&self.path, what)?;
        txn.open_table(DELTAS).ctx(&self.path, what)?;
        txn.open_table(WATCH).ctx(&self.path, what)?;
        txn.open_table(PROVENANCE).ctx(&self.path, what)?;
        let mut meta = txn.open_table(META).ctx(&self.path, what)?;
        for key in [KEY_NEXT_MUTATION, KEY_NEXT_EVENT, KEY_NEXT_DELTA] {
            if meta.get(key).ctx(&self.path, what)?.is_none() {
                meta.insert(key, 1).ctx(&self.path, what)?;
            }
        }
        Ok(())
    }

    /// Format 1 → 2 in one transaction: the live tables, and the root index
    /// built from the stored snapshots. Nothing changes if any step fails.
    fn migrate_from_1(&self, db: &Database) -> Result<()> {
        let what = "cannot migrate (to store format 2)";
        let txn = self.write_txn(db)?;
        self.create_format_2_tables(&txn, what)?;
        {
            let snaps = txn.open_table(SNAPSHOTS).ctx(&self.path, what)?;
            let mut roots = txn.open_table(ROOTS).ctx(&self.path, what)?;
            for item in snaps.iter().ctx(&self.path, what)? {
                let (k, v) = item.ctx(&self.path, what)?;
                let meta = codec::decode_meta(v.value())
                    .ok_or_else(|| bad_record(&self.path, "a snapshot record"))?;
                roots
                    .insert((meta.root.as_slice(), k.value()), ())
                    .ctx(&self.path, what)?;
            }
            let mut meta = txn.open_table(META).ctx(&self.path, what)?;
            meta.insert(KEY_FORMAT, FORMAT_VERSION)
                .ctx(&self.path, what)?;
        }
        txn.commit().ctx(&self.path, what)
    }
}
