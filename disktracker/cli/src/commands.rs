//! Each command: arguments to one [`Tracker`] call, its result to one report.

use std::path::PathBuf;

use disktracker::report::ConfigLine;
use disktracker::{Error, ErrorKind, Report, ReportKind, Result};
use disktracker_engine::folded::TreeLimits;
use disktracker_engine::{BenchOptions, DiffOptions, Hosts, Listing, Prune};

use crate::App;
use crate::args::{Command, ExportFormat, HostsArgs, ImportFormat, SidesArgs, SnapshotsAction};

/// The kind of report `command` prints (none for `watch`, which logs to
/// stderr): checked against the reporter before anything runs.
pub fn report_kind(command: &Command) -> Option<ReportKind> {
    Some(match command {
        Command::Scan(_) => ReportKind::Scan,
        Command::Snapshots(a) => match a.action {
            None | Some(SnapshotsAction::List) => ReportKind::Snapshots,
            Some(SnapshotsAction::Delete { .. } | SnapshotsAction::Prune(_)) => ReportKind::Deleted,
        },
        Command::Show(_) => ReportKind::Top,
        Command::Diff(_) => ReportKind::Diff,
        Command::Explain(_) => ReportKind::Explain,
        Command::Size(_) => ReportKind::Sizes,
        Command::Bench(_) => ReportKind::Bench,
        Command::Plugins => ReportKind::Plugins,
        Command::Config => ReportKind::Config,
        Command::Watch(_) => return None,
        Command::Status => ReportKind::Status,
        Command::History(_) => ReportKind::History,
        Command::Fleet(_) => ReportKind::Fleet,
        Command::Log(_) => ReportKind::Log,
        Command::Reconcile(_) => ReportKind::Reconcile,
        Command::Import(_) => ReportKind::Scan,
        // Writes a data file, not a report.
        Command::Export(_) => return None,
    })
}

/// The command's name as typed, for messages.
pub fn name(command: &Command) -> &'static str {
    match command {
        Command::Scan(_) => "scan",
        Command::Snapshots(a) => match a.action {
            None | Some(SnapshotsAction::List) => "snapshots",
            Some(SnapshotsAction::Delete { .. }) => "snapshots delete",
            Some(SnapshotsAction::Prune(_)) => "snapshots prune",
        },
        Command::Show(_) => "show",
        Command::Diff(_) => "diff",
        Command::Explain(_) => "explain",
        Command::Size(_) => "size",
        Command::Bench(_) => "bench",
        Command::Plugins => "plugins",
        Command::Config => "config",
        Command::Watch(_) => "watch",
        Command::Status => "status",
        Command::History(_) => "history",
        Command::Fleet(_) => "fleet",
        Command::Log(_) => "log",
        Command::Reconcile(_) => "reconcile",
        Command::Import(_) => "import ncdu",
        Command::Export(_) => "export ncdu",
    }
}

fn listing(app: &App) -> Listing {
    // The flags are already layered into the configuration.
    let r = &app.cfg.config.report;
    Listing {
        depth: u32::try_from(r.depth).unwrap_or(u32::MAX),
        top: usize::try_from(r.top).unwrap_or(usize::MAX),
        kind: app.render.size_kind,
        tree: tree_limits(app),
    }
}

/// The folded tree's limits when the reporter draws trees.
fn tree_limits(app: &App) -> Option<TreeLimits> {
    app.draws_trees.then(|| TreeLimits {
        kind: app.render.size_kind,
        ..TreeLimits::default()
    })
}

/// The hosts `--host` / `--all-hosts` name.
fn hosts(a: &HostsArgs) -> Hosts {
    if a.all_hosts {
        Hosts::All
    } else {
        Hosts::named(a.host.clone())
    }
}

/// The hosts of the older and newer side: none given, this host's for both;
/// one, that host's for both; two, one each.
fn sides(a: &SidesArgs) -> Result<[Hosts; 2]> {
    match a.host.as_slice() {
        [] => Ok([Hosts::This, Hosts::This]),
        [h] => Ok([Hosts::Named(h.clone()), Hosts::Named(h.clone())]),
        [older, newer] => Ok([Hosts::Named(older.clone()), Hosts::Named(newer.clone())]),
        _ => Err(Error::new(
            ErrorKind::Usage,
            "--host is given at most twice: the older side's host, then the newer side's",
        )),
    }
}

/// Runs `command`.
pub fn run(app: &App, command: &Command) -> Result<()> {
    match command {
        Command::Scan(a) => {
            let root = a.root.clone().unwrap_or_else(|| PathBuf::from("."));
            let report = app.tracker()?.scan(&root, &a.exclude, listing(app))?;
            app.emit(Report::Scan(&report))
        }
        Command::Snapshots(a) => match a.action.as_ref().unwrap_or(&SnapshotsAction::List) {
            SnapshotsAction::List => {
                let hosts = hosts(&a.hosts);
                app.emit(Report::Snapshots(&app.tracker()?.snapshots(&hosts)?))
            }
            SnapshotsAction::Delete { ids } => {
                app.emit(Report::Deleted(&app.tracker()?.delete(ids)?))
            }
            SnapshotsAction::Prune(p) => {
                let prune = Prune {
                    keep: p.keep.map(|k| usize::try_from(k).unwrap_or(usize::MAX)),
                    older_than: p.older_than,
                    root: p.root.clone(),
                    dry_run: p.dry_run,
                    hosts: hosts(&a.hosts),
                };
                app.emit(Report::Deleted(&app.tracker()?.prune(&prune)?))
            }
        },
        Command::Show(a) => {
            let report = app.tracker()?.show(
                a.snapshot,
                a.path.as_deref(),
                listing(app),
                &Hosts::named(a.host.clone()),
            )?;
            app.emit(Report::Top(&report))
        }
        Command::Diff(a) => {
            let c = &app.cfg.config.diff;
            let opts = DiffOptions {
                top: usize::try_from(c.top).unwrap_or(usize::MAX),
                min_delta: c.min_delta,
                kind: app.render.size_kind,
                tree: tree_limits(app),
            };
            let [older, newer] = sides(&a.sides)?;
            let report =
                app.tracker()?
                    .diff(a.a, a.b, a.path.as_deref(), opts, [&older, &newer])?;
            app.emit(Report::Diff(&report))
        }
        Command::Explain(a) => {
            let [older, newer] = sides(&a.sides)?;
            let report = app.tracker()?.explain(
                &a.path,
                a.from,
                a.to,
                app.cfg.config.explain.threshold,
                app.render.size_kind,
                [&older, &newer],
            )?;
            app.emit(Report::Explain(&report))
        }
        Command::Size(a) => {
            let result = app.tracker()?.size(&a.paths, a.verify)?;
            app.emit(Report::Sizes(&result.report))?;
            result.unanswered.map_or(Ok(()), Err)
        }
        Command::Bench(a) => {
            let root = a.root.clone().unwrap_or_else(|| PathBuf::from("."));
            let opts = BenchOptions {
                walkers: a.walkers.clone(),
                stores: a.stores.clone(),
                runs: a.runs,
                cold: a.cold,
            };
            app.emit(Report::Bench(&app.tracker()?.bench(&root, &opts)?))
        }
        Command::Plugins => app.emit(Report::Plugins(&disktracker_engine::plugins()?)),
        Command::Watch(a) => {
            let roots = if a.roots.is_empty() {
                let configured: Vec<PathBuf> = app
                    .cfg
                    .config
                    .watch
                    .roots
                    .iter()
                    .map(PathBuf::from)
                    .collect();
                if configured.is_empty() {
                    vec![PathBuf::from(".")]
                } else {
                    configured
                }
            } else {
                a.roots.clone()
            };
            let config = app.watch_config()?;
            app.tracker()?.watch(&roots, &config, |control| {
                crate::set_watch_control(control);
            })
        }
        Command::Status => app.emit(Report::Status(&app.tracker()?.status()?)),
        Command::History(a) => {
            let path = a.path.clone().unwrap_or_else(|| PathBuf::from("."));
            let hosts = Hosts::named(a.host.clone());
            app.emit(Report::History(
                &app.tracker()?.history(&path, a.since, &hosts)?,
            ))
        }
        Command::Fleet(a) => {
            let report = app
                .tracker()?
                .fleet(a.since, a.stale_after, app.render.size_kind)?;
            app.emit(Report::Fleet(&report))
        }
        Command::Log(a) => {
            let report = app.tracker()?.log(
                a.path.as_deref(),
                a.since,
                a.min_delta.unwrap_or(0),
                a.limit,
            )?;
            app.emit(Report::Log(&report))
        }
        Command::Reconcile(a) => app.emit(Report::Reconcile(&app.tracker()?.reconcile(&a.roots)?)),
        Command::Import(a) => {
            let ImportFormat::Ncdu { file, .. } = &a.format;
            let report = if file.as_os_str() == "-" {
                let mut stdin = std::io::stdin().lock();
                app.tracker()?
                    .import_ncdu(&mut stdin, "standard input", listing(app))?
            } else {
                let f = std::fs::File::open(file)
                    .map_err(|e| Error::io("cannot open ncdu export", file, e))?;
                // A file never blocks for long, so it can be read ahead while
                // the parse runs (standard input could be a terminal).
                let mut f = disktracker_engine::ncdu::Prefetch::new(f)
                    .map_err(|e| Error::io("cannot start reading ncdu export", file, e))?;
                let source = disktracker::path::escape_path(file).into_owned();
                app.tracker()?.import_ncdu(&mut f, &source, listing(app))?
            };
            app.emit(Report::Scan(&report))
        }
        Command::Export(a) => {
            let ExportFormat::Ncdu { snapshot } = &a.format;
            export_ncdu(app, *snapshot, app.output.as_deref())
        }
        Command::Config => {
            let lines: Vec<ConfigLine> = app
                .cfg
                .lines()
                .into_iter()
                .map(|(key, value, source)| ConfigLine::new(key, value, source))
                .collect();
            app.emit(Report::Config(&lines))
        }
    }
}

/// `export ncdu`: to standard output, or to FILE through a temporary file
/// beside it, renamed over FILE only once complete (a failed export leaves
/// no partial file).
fn export_ncdu(
    app: &App,
    snapshot: Option<disktracker::SnapshotId>,
    output: Option<&std::path::Path>,
) -> Result<()> {
    use std::io::Write;
    let mut tracker = app.tracker()?;
    let Some(path) = output.filter(|p| p.as_os_str() != "-") else {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
        tracker.export_ncdu(snapshot, &mut out)?;
        return out
            .flush()
            .map_err(|e| Error::new(ErrorKind::Io, "cannot write the ncdu export").with_source(e));
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".disktracker-export")
        .tempfile_in(dir)
        .map_err(|e| Error::io("cannot create a file in", dir, e))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 16, tmp);
    tracker.export_ncdu(snapshot, &mut out)?;
    let tmp = out
        .into_inner()
        .map_err(|e| Error::io("cannot write", path, e.into_error()))?;
    tmp.persist(path)
        .map_err(|e| Error::io("cannot write", path, e.error))?;
    Ok(())
}
