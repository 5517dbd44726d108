//! `disktracker snapshots [list | delete ID…]`.

use disktracker::{Error, ErrorKind, Report, Result};

use crate::App;
use crate::args::{SnapshotsAction, SnapshotsArgs};
use crate::commands::show::unknown_snapshot;

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
            let n = store.delete_snapshots(&ids)?;
            if n != ids.len() {
                return Err(Error::new(
                    ErrorKind::Database,
                    format!(
                        "deleted {n} of {} snapshots; another process changed the database",
                        ids.len()
                    ),
                ));
            }
            store.reclaim_space()?;
            app.emit(Report::Deleted(&ids))
        }
    }
}
