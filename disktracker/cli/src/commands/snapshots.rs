//! `disktracker snapshots [list | delete ID…]`.

use std::time::{SystemTime, UNIX_EPOCH};

use disktracker::path::path_bytes;
use disktracker::report::DeletedReport;
use disktracker::{Error, ErrorKind, Report, Result, SnapshotStore};
use disktracker_engine::retention::{self, Retention};

use crate::args::{PruneArgs, SnapshotsAction, SnapshotsArgs};
use crate::commands::show::unknown_snapshot;
use crate::{App, absolute};

pub fn run(app: &App, args: &SnapshotsArgs) -> Result<()> {
    match args.action.as_ref().unwrap_or(&SnapshotsAction::List) {
        SnapshotsAction::List => {
            let store = match app.open_store(false) {
                Ok(s) => s,
                // No database yet simply means no snapshots yet.
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    app.note(e.to_string());
                    return app.emit(Report::Snapshots(&[]));
                }
                Err(e) => return Err(e),
            };
            app.emit(Report::Snapshots(&store.snapshots()?))
        }
        SnapshotsAction::Delete { ids } => {
            let mut store = app.open_store(true)?;
            // All or nothing: a typo in one id must not delete the others.
            for &id in ids {
                if store.snapshot(id)?.is_none() {
                    return Err(unknown_snapshot(&*store, id));
                }
            }
            let mut ids = ids.clone();
            ids.sort_unstable();
            ids.dedup();
            delete(&mut *store, &ids)?;
            app.emit(Report::Deleted(&DeletedReport::new(ids, false)))
        }
        SnapshotsAction::Prune(p) => prune(app, p),
    }
}

fn prune(app: &App, args: &PruneArgs) -> Result<()> {
    let mut store = app.open_store(!args.dry_run)?;
    let root = args.root.as_deref().map(absolute).transpose()?;
    let policy = Retention {
        keep: args.keep.map(|k| usize::try_from(k).unwrap_or(usize::MAX)),
        older_than_ms: args
            .older_than
            .map(|d| now_ms() - d.as_millis().min(i64::MAX as u128) as i64),
        root: root.as_deref().map(path_bytes),
    };
    let ids = retention::plan(&store.snapshots()?, &policy);
    if !args.dry_run {
        delete(&mut *store, &ids)?;
    }
    app.emit(Report::Deleted(&DeletedReport::new(ids, args.dry_run)))
}

/// Applies `[retention]` to the root just scanned. Returns the ids deleted.
pub fn apply_retention(app: &App, store: &mut dyn SnapshotStore, root: &[u8]) -> Result<Vec<i64>> {
    let r = &app.cfg.config.retention;
    if r.keep == 0 && r.max_age.is_empty() {
        return Ok(Vec::new());
    }
    let policy = Retention {
        keep: (r.keep > 0).then(|| usize::try_from(r.keep).unwrap_or(usize::MAX)),
        older_than_ms: (!r.max_age.is_empty())
            .then(|| humantime::parse_duration(&r.max_age).ok())
            .flatten()
            .map(|d| now_ms() - d.as_millis().min(i64::MAX as u128) as i64),
        root: Some(root),
    };
    // Only this root's snapshots, not those of roots below it.
    let snaps: Vec<_> = store
        .snapshots()?
        .into_iter()
        .filter(|s| s.meta.root == root)
        .collect();
    let ids = retention::plan(&snaps, &policy);
    delete(store, &ids)?;
    Ok(ids)
}

fn delete(store: &mut dyn SnapshotStore, ids: &[i64]) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let n = store.delete_snapshots(ids)?;
    if n != ids.len() {
        return Err(Error::new(
            ErrorKind::Database,
            format!(
                "deleted {n} of {} snapshots; another process changed the database",
                ids.len()
            ),
        ));
    }
    store.reclaim_space()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
