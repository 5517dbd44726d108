//! `disktracker show [SNAPSHOT] [--path P] [--depth N] [--top N]`.

use disktracker::path::{escape_bytes, is_within, path_bytes};
use disktracker::report::TopReport;
use disktracker::{Error, ErrorKind, Report, Result, SnapshotInfo, SnapshotStore};
use disktracker_engine::top_dirs;

use crate::args::ShowArgs;
use crate::{App, absolute};

pub fn run(app: &App, args: &ShowArgs) -> Result<()> {
    let store = app.open_store(false)?;
    let path = args.path.as_deref().map(absolute).transpose()?;
    let path = path.as_deref().map(path_bytes);
    let snap = pick_snapshot(&*store, args.snapshot, path)?;
    let under_path = path.unwrap_or(&snap.meta.root);
    let id = snap.id;
    let under = store.dir(id, under_path)?.ok_or_else(|| {
        Error::new(
            ErrorKind::NotFound,
            format!(
                "{} is not a directory of snapshot {id} (root {})",
                escape_bytes(under_path),
                escape_bytes(&snap.meta.root)
            ),
        )
    })?;
    let c = &app.cfg.config;
    let max_depth = u32::try_from(c.report.depth).unwrap_or(u32::MAX);
    let mut rows = Vec::new();
    store.visit_tree(id, Some(under_path), &mut |r| {
        if r.depth > under.depth && r.depth - under.depth <= max_depth {
            rows.push(r.clone());
        }
        true
    })?;
    let top = usize::try_from(c.report.top).unwrap_or(usize::MAX);
    let rows = top_dirs(&rows, &under, max_depth, top, app.render.size_kind);
    app.emit(Report::Top(&TopReport::new(snap, under, rows)))
}

/// The snapshot asked for, or the newest one covering `path`, or the newest.
pub fn pick_snapshot(
    store: &dyn SnapshotStore,
    id: Option<i64>,
    path: Option<&[u8]>,
) -> Result<SnapshotInfo> {
    if let Some(id) = id {
        return store
            .snapshot(id)?
            .ok_or_else(|| unknown_snapshot(store, id));
    }
    let snaps = store.snapshots()?;
    if snaps.is_empty() {
        return Err(Error::new(
            ErrorKind::NotFound,
            format!("database {} holds no snapshots", store.location()),
        )
        .with_hint("run `disktracker scan DIR` first"));
    }
    let newest = snaps
        .into_iter()
        .rev()
        .find(|s| path.is_none_or(|p| is_within(p, &s.meta.root)));
    newest.ok_or_else(|| {
        Error::new(
            ErrorKind::NotFound,
            format!(
                "no snapshot covers {}",
                escape_bytes(path.unwrap_or_default())
            ),
        )
        .with_hint("scan it first, or see `disktracker snapshots`")
    })
}

/// The error for a snapshot id that does not exist.
pub fn unknown_snapshot(store: &dyn SnapshotStore, id: i64) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!("no snapshot {id} in {}", store.location()),
    )
    .with_hint("`disktracker snapshots` lists them")
}
