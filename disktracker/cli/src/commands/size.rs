//! `disktracker size PATH…`: recursive sizes from the live index in O(log n).

use std::path::PathBuf;
use std::time::UNIX_EPOCH;

use disktracker::path::{escape_bytes, escape_path, is_within, path_bytes};
use disktracker::report::{SizeAnswer, SizeReport, SizeStatus};
use disktracker::{Error, ErrorKind, LiveIndex, Report, Result, SnapshotInfo, SnapshotStore};

use crate::args::SizeArgs;
use crate::commands::scan::scan_and_store;
use crate::{App, absolute};

pub fn run(app: &App, args: &SizeArgs) -> Result<()> {
    let paths: Vec<PathBuf> = if args.paths.is_empty() {
        vec![absolute(".".as_ref())?]
    } else {
        args.paths
            .iter()
            .map(|p| absolute(p))
            .collect::<Result<_>>()?
    };
    let (index, how) = open_or_recover(app, &paths)?;
    let root = index.root().map(<[u8]>::to_vec);
    let answers: Vec<SizeAnswer> = paths
        .iter()
        .map(|p| {
            let path = path_bytes(p).to_vec();
            let inside = root.as_deref().is_some_and(|r| is_within(&path, r));
            let total_bytes = if inside { index.lookup(&path)? } else { None };
            let status = match (inside, total_bytes, how) {
                (false, ..) => SizeStatus::OutsideRoot,
                (true, None, _) => SizeStatus::NotIndexed,
                (true, Some(_), Recovery::Scanned) => SizeStatus::Scanned,
                (true, Some(_), _) => SizeStatus::Indexed,
            };
            Ok(SizeAnswer::new(path, total_bytes, status))
        })
        .collect::<Result<_>>()?;
    let unanswered = answers.iter().filter(|a| a.total_bytes.is_none()).count();
    app.emit(Report::Sizes(&SizeReport::new(
        index.path().to_path_buf(),
        root.clone(),
        how == Recovery::RebuiltStale,
        answers,
    )))?;
    if unanswered > 0 {
        let root = root
            .as_deref()
            .map_or_else(|| "nothing".into(), escape_bytes);
        return Err(Error::new(
            ErrorKind::NotFound,
            format!(
                "{unanswered} of {} paths are not directories indexed under {root}",
                paths.len()
            ),
        )
        .with_hint("run `disktracker scan PATH` to index them"));
    }
    Ok(())
}

/// Clock slack when comparing the index file's mtime with a snapshot's end.
const MTIME_SLACK_MS: i64 = 1_000;

/// How the index being answered from came to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Recovery {
    /// Opened as it was.
    AsIs,
    /// Older than the newest snapshot of its root: rebuilt from that snapshot.
    RebuiltStale,
    /// Absent or unreadable: rebuilt from the newest snapshot covering the path.
    Rebuilt,
    /// Absent or unreadable and no snapshot covers the path: scanned now.
    Scanned,
}

fn open_or_recover(app: &App, paths: &[PathBuf]) -> Result<(Box<dyn LiveIndex>, Recovery)> {
    let plugin = app.index_plugin()?;
    let opts = app.index_options()?;
    let store = match app.open_store(false) {
        Ok(s) => Some(s),
        Err(e) if e.kind() == ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    match (plugin.open)(&opts) {
        Ok(index) => {
            let Some(store) = store else {
                return Ok((index, Recovery::AsIs));
            };
            let Some(root) = index.root().map(<[u8]>::to_vec) else {
                return Ok((index, Recovery::AsIs));
            };
            let written_ms = std::fs::metadata(&opts.path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(i64::MAX, |d| d.as_millis() as i64);
            // Every scan rewrites the index after it finishes, so a newer
            // snapshot of the same root means the index missed that scan.
            // File times come from the kernel's coarse clock and can read a
            // few ms behind the wall clock: allow for that.
            match newest_of_root(&*store, &root)? {
                Some(snap)
                    if snap.meta.finished_at_ms > written_ms.saturating_add(MTIME_SLACK_MS) =>
                {
                    app.note(format!(
                        "index {} is older than snapshot {} of {}; rebuilding it from that snapshot",
                        escape_path(&opts.path),
                        snap.id,
                        escape_bytes(&root)
                    ));
                    Ok((rebuild(app, &*store, &snap)?, Recovery::RebuiltStale))
                }
                _ => Ok((index, Recovery::AsIs)),
            }
        }
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::Corrupt) => {
            let first = path_bytes(&paths[0]);
            let covering = match &store {
                Some(s) => s
                    .snapshots()?
                    .into_iter()
                    .rev()
                    .find(|s| is_within(first, &s.meta.root)),
                None => None,
            };
            if let (Some(store), Some(snap)) = (&store, covering) {
                app.warn(format!(
                    "{e}; rebuilding it from snapshot {} of {}",
                    snap.id,
                    escape_bytes(&snap.meta.root)
                ));
                return Ok((rebuild(app, &**store, &snap)?, Recovery::Rebuilt));
            }
            app.warn(format!(
                "{e}; no snapshot covers {}, scanning it now",
                escape_path(&paths[0])
            ));
            drop(store);
            scan_and_store(app, &paths[0], &[])?;
            Ok(((plugin.open)(&opts)?, Recovery::Scanned))
        }
        Err(e) => Err(e),
    }
}

fn newest_of_root(store: &dyn SnapshotStore, root: &[u8]) -> Result<Option<SnapshotInfo>> {
    Ok(store
        .snapshots()?
        .into_iter()
        .rev()
        .find(|s| s.meta.root == root))
}

fn rebuild(
    app: &App,
    store: &dyn SnapshotStore,
    snap: &SnapshotInfo,
) -> Result<Box<dyn LiveIndex>> {
    let rows = store.read_tree(snap.id, None)?;
    let mut entries = rows.iter().map(|r| (&r.path[..], r.stats.total_bytes));
    (app.index_plugin()?.create)(&app.index_options()?, &mut entries)
}
