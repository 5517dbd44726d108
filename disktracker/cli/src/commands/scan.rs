//! `disktracker scan [ROOT]`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use disktracker::registry;
use disktracker::report::{IssueLine, ScanReport};
use disktracker::{Error, ErrorKind, Report, Result, ScanProgress, WalkContext, WalkOptions};
use disktracker_engine::{ScanOutcome, resolve_root, run_scan};

use crate::args::ScanArgs;
use crate::commands::snapshots::apply_retention;
use crate::progress::ProgressDisplay;
use crate::{App, with_origin};

/// More threads than this is surely a typo.
const MAX_THREADS: u64 = 1024;
/// Problems listed in the report (all are counted).
const ISSUES_SHOWN: usize = 10;

/// Scans `root`, stores the snapshot, applies `[retention]` and writes the
/// live index. Everything cheap is validated before the disk is touched.
pub fn scan_and_store(app: &App, root: &Path, extra_excludes: &[String]) -> Result<ScanOutcome> {
    let c = &app.cfg.config;
    let root = resolve_root(root)?;
    let walker_plugin = registry::walkers()?
        .get(&c.scan.walker)
        .map_err(|e| with_origin(e, &app.cfg, "scan.walker"))?;
    if c.scan.threads > MAX_THREADS {
        return Err(Error::new(
            ErrorKind::Usage,
            format!(
                "{} threads requested (from {}); at most {MAX_THREADS}",
                c.scan.threads,
                app.cfg.source("scan.threads")
            ),
        ));
    }
    let threads = match c.scan.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n as usize,
    };
    let mut patterns = c.scan.exclude.clone();
    patterns.extend(extra_excludes.iter().cloned());
    let mut opts = WalkOptions::with_threads(threads);
    opts.one_file_system = c.scan.one_file_system;
    opts.exclude = patterns;
    let index_plugin = app.index_plugin()?;
    let mut store = app.open_store(true)?;

    let ctx = WalkContext {
        cancel: app.cancel.clone(),
        progress: Arc::new(ScanProgress::default()),
    };
    let display = ProgressDisplay::start(ctx.progress.clone(), app.verbose());
    let walker = (walker_plugin.create)(&disktracker::PluginSettings::empty(walker_plugin.name))?;
    let outcome = run_scan(
        &*walker,
        walker_plugin.name,
        &mut *store,
        &root,
        &opts,
        &ctx,
    );
    drop(display);
    let outcome = outcome?;

    let pruned = apply_retention(app, &mut *store, &outcome.snapshot.meta.root)?;
    if !pruned.is_empty() {
        app.note(format!("retention: deleted snapshots {pruned:?}"));
    }
    // The snapshot is stored; the index is derived from it and can be rebuilt,
    // so failing to write it is a warning, not a failed scan.
    let tree = &outcome.tree;
    let mut entries = (0..tree.len() as u32).map(|i| (tree.path(i), tree.stats(i).total_bytes));
    if let Err(e) = (index_plugin.create)(&app.index_options()?, &mut entries) {
        app.warn(format!(
            "{e}; `disktracker size` will rebuild it from the snapshot"
        ));
    }
    Ok(outcome)
}

pub fn run(app: &App, args: &ScanArgs) -> Result<()> {
    let root = args.root.clone().unwrap_or_else(|| PathBuf::from("."));
    let outcome = scan_and_store(app, &root, &args.exclude)?;
    let tree = &outcome.tree;
    let errors = outcome.snapshot.meta.error_count;
    if errors > 0 {
        let first = tree
            .issues()
            .first()
            .map(|i| {
                format!(
                    " (first: {} {}: {})",
                    i.op,
                    disktracker::path::escape_bytes(&i.path),
                    i.message
                )
            })
            .unwrap_or_default();
        app.warn(format!(
            "{errors} entries could not be read and were not counted{first}"
        ));
    }
    let c = &app.cfg.config;
    let depth = u32::try_from(c.report.depth).unwrap_or(u32::MAX);
    let top = usize::try_from(c.report.top).unwrap_or(usize::MAX);
    let issues = tree
        .issues()
        .iter()
        .take(ISSUES_SHOWN)
        .map(|i| IssueLine::new(i.path.clone(), i.op, i.message.clone()))
        .collect();
    let report = ScanReport::new(
        outcome.snapshot,
        outcome.elapsed.as_millis() as u64,
        tree.top(depth, top, app.render.size_kind),
        issues,
        outcome.since,
    );

    app.emit(Report::Scan(&report))
}
