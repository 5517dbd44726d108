//! `disktracker diff` and `disktracker explain`.

use disktracker::path::{escape_bytes, is_within, path_bytes};
use disktracker::report::{DiffReport, ExplainReport};
use disktracker::{Error, ErrorKind, Report, Result, SnapshotId, SnapshotInfo, SnapshotStore};
use disktracker_engine::{
    DiffFilter, changed_dirs, explain as explain_tree, select, snapshot_pair,
};

use crate::args::{DiffArgs, ExplainArgs};
use crate::commands::show::{pick_snapshot, unknown_snapshot};
use crate::{App, absolute};

pub fn run(app: &App, args: &DiffArgs) -> Result<()> {
    // Writable so the computed diff can be cached; see changed_dirs.
    let mut store = app.open_store(true)?;
    let path = args.path.as_deref().map(absolute).transpose()?;
    let path = path.as_deref().map(path_bytes);
    let (a, b) = pick_pair(&*store, args.a, args.b, path)?;
    if let Some(p) = path
        && !is_within(p, &a.meta.root)
    {
        return Err(Error::new(
            ErrorKind::NotFound,
            format!(
                "{} is not inside the snapshots' root {}",
                escape_bytes(p),
                escape_bytes(&a.meta.root)
            ),
        ));
    }
    let all = changed_dirs(&mut *store, a.id, b.id)?;
    let c = &app.cfg.config.diff;
    let filter = DiffFilter {
        under: path,
        min_delta: c.min_delta,
        top: usize::try_from(c.top).unwrap_or(usize::MAX),
        kind: app.render.size_kind,
    };
    let (entries, changed) = select(all, &filter);
    let under = path.map_or_else(|| a.meta.root.clone(), <[u8]>::to_vec);
    app.emit(Report::Diff(&DiffReport::new(
        a, b, under, entries, changed,
    )))
}

pub fn explain(app: &App, args: &ExplainArgs) -> Result<()> {
    let store = app.open_store(false)?;
    let path = absolute(&args.path)?;
    let path = path_bytes(&path);
    let (a, b) = pick_pair(&*store, args.from, args.to, Some(path))?;
    if !is_within(path, &a.meta.root) {
        return Err(Error::new(
            ErrorKind::NotFound,
            format!(
                "{} is not inside the snapshots' root {}",
                escape_bytes(path),
                escape_bytes(&a.meta.root)
            ),
        ));
    }
    let threshold = app.cfg.config.explain.threshold;
    let root = explain_tree(&*store, a.id, b.id, path, threshold, app.render.size_kind)?;
    app.emit(Report::Explain(&ExplainReport::new(a, b, threshold, root)))
}

/// The two snapshots to compare: as given; or A and the newest other
/// snapshot of A's root; or the two newest snapshots of the root covering
/// `path` (of the newest snapshot's root when no path is given).
fn pick_pair(
    store: &dyn SnapshotStore,
    a: Option<SnapshotId>,
    b: Option<SnapshotId>,
    path: Option<&[u8]>,
) -> Result<(SnapshotInfo, SnapshotInfo)> {
    match (a, b) {
        (Some(a), Some(b)) => snapshot_pair(store, a, b),
        (Some(a), None) => {
            let sa = store
                .snapshot(a)?
                .ok_or_else(|| unknown_snapshot(store, a))?;
            let newest = same_root(store, &sa.meta.root)?
                .into_iter()
                .rev()
                .find(|s| s.id != a);
            let sb = newest.ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    format!(
                        "snapshot {a} is the only snapshot of {}",
                        escape_bytes(&sa.meta.root)
                    ),
                )
                .with_hint("scan it again to have something to compare")
            })?;
            Ok((sa, sb))
        }
        (None, Some(_)) => Err(Error::new(
            ErrorKind::Usage,
            "give the older snapshot too (--from with --to)",
        )),
        (None, None) => {
            let newest = pick_snapshot(store, None, path)?;
            let mut snaps = same_root(store, &newest.meta.root)?;
            if snaps.len() < 2 {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!(
                        "only one snapshot of {} in {}",
                        escape_bytes(&newest.meta.root),
                        store.location()
                    ),
                )
                .with_hint("scan it again to have something to compare"));
            }
            let b = snaps.pop().expect("two snapshots");
            let a = snaps.pop().expect("two snapshots");
            Ok((a, b))
        }
    }
}

fn same_root(store: &dyn SnapshotStore, root: &[u8]) -> Result<Vec<SnapshotInfo>> {
    Ok(store
        .snapshots()?
        .into_iter()
        .filter(|s| s.meta.root == root)
        .collect())
}
