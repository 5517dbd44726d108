//! The DiskTracker command line: argument parsing, configuration layering,
//! reporter selection, progress, output, and exit codes.
//!
//! The CLI maps arguments and configuration to the engine's
//! [`Tracker`] and the engine's results to
//! reports; every decision about stores, snapshots and the index is the
//! engine's. This crate knows plugins only through the registries; the
//! binary decides which plugin crates are linked.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod args;
mod commands;
pub mod config;
pub mod exit;
mod progress;

use std::cell::RefCell;
use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use disktracker::registry::{self, PluginKind, ReporterPlugin};
use disktracker::{
    CancelToken, Error, ErrorKind, PluginSettings, RenderOptions, Report, ReportKind, Reporter,
    Result, ScanProgress, SizeKind,
};
use disktracker_engine::{IndexConfig, Observer, PluginChoice, ScanConfig, Tracker, TrackerConfig};
use toml::Value;

use crate::args::{Cli, Command};
use crate::config::{Environment, Layered, registered_plugin_specs};
use crate::progress::ProgressDisplay;

/// Runs the command line with the process arguments and environment.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::from(exit::OK),
        Err(e) if is_broken_pipe(&e) => ExitCode::from(exit::OK),
        Err(e) => {
            let _ = writeln!(io::stderr(), "disktracker: error: {e}");
            ExitCode::from(exit::for_kind(e.kind()))
        }
    }
}

fn is_broken_pipe(e: &Error) -> bool {
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<io::Error>())
        .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
}

/// Everything a command needs: configuration, output, cancellation.
pub(crate) struct App {
    pub cfg: Layered,
    reporter: Box<dyn Reporter>,
    reporter_name: &'static str,
    /// The reporter draws trees: `show` and `diff` attach one.
    pub draws_trees: bool,
    /// `-o FILE`, else standard output.
    pub output: Option<std::path::PathBuf>,
    pub render: RenderOptions,
    pub cancel: CancelToken,
}

impl App {
    fn new(cli: &Cli) -> Result<Self> {
        let env = Environment::from_process()?;
        let flags = flag_overrides(cli);
        let cfg = Layered::load_with_plugins(
            cli.config.as_deref(),
            &env,
            &flags,
            &registered_plugin_specs()?,
        )?;
        let reporter_plugin = registry::reporters()?
            .get(&cfg.config.format)
            .map_err(|e| disktracker_engine::tracker::with_origin(e, &origin(&cfg, "format")))?;
        if let Some(kind) = commands::report_kind(&cli.command) {
            check_renders(reporter_plugin, kind, &cli.command)?;
        }
        let size_kind = if cfg.config.report.apparent_size {
            SizeKind::Apparent
        } else {
            SizeKind::DiskUsage
        };
        let settings = plugin_settings(&cfg, PluginKind::Reporter, reporter_plugin.name);
        Ok(App {
            reporter: (reporter_plugin.create)(&settings)?,
            reporter_name: reporter_plugin.name,
            draws_trees: reporter_plugin.draws_trees,
            output: cli.output.clone(),
            render: RenderOptions::new(size_kind),
            cancel: CancelToken::new(),
            cfg,
        })
    }

    /// Renders a report to standard output, or to the `-o` file: written
    /// beside it and renamed over it once complete, so a reader (a web
    /// server, a metrics collector) never sees half a report.
    pub fn emit(&self, report: Report<'_>) -> Result<()> {
        // `-o -` is standard output, as for `export ncdu`.
        let Some(path) = self.output.as_ref().filter(|p| p.as_os_str() != "-") else {
            let stdout = io::stdout();
            let mut out = io::BufWriter::new(stdout.lock());
            return self.render_to(&report, &mut out);
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => std::path::Path::new("."),
        };
        let cannot = |e: io::Error| {
            Error::new(
                ErrorKind::Io,
                format!("cannot write {}", disktracker::path::escape_path(path)),
            )
            .with_source(e)
            .with_hint("check that its directory exists and is writable")
        };
        let mut file = tempfile::Builder::new()
            .prefix(".disktracker-report-")
            .tempfile_in(dir)
            .map_err(cannot)?;
        {
            let mut out = io::BufWriter::new(file.as_file_mut());
            self.render_to(&report, &mut out)?;
        }
        // Readable like any file the user creates (a temporary file is 0600).
        let mode = 0o666 & !current_umask();
        std::fs::set_permissions(
            file.path(),
            std::os::unix::fs::PermissionsExt::from_mode(mode),
        )
        .map_err(cannot)?;
        file.persist(path).map_err(|e| cannot(e.error))?;
        Ok(())
    }

    fn render_to(&self, report: &Report<'_>, out: &mut dyn Write) -> Result<()> {
        self.reporter
            .render(report, &self.render, out)
            .and_then(|()| out.flush())
            .map_err(|e| {
                if e.kind() == io::ErrorKind::Unsupported {
                    // It was checked before the command ran: the reporter
                    // declined a kind it declares.
                    Error::new(
                        ErrorKind::Plugin,
                        format!(
                            "the {} reporter declares that it renders {} reports but declined one",
                            self.reporter_name,
                            report.kind()
                        ),
                    )
                    .with_source(e)
                } else {
                    Error::new(
                        ErrorKind::Io,
                        format!("cannot write {} output", self.reporter_name),
                    )
                    .with_source(e)
                }
            })
    }

    /// `[watch]`, checked.
    pub fn watch_config(&self) -> Result<disktracker_engine::WatchConfig> {
        let w = &self.cfg.config.watch;
        let dur = |key: &str, v: &str| {
            disktracker::settings::parse_duration(v).map_err(|e| {
                Error::new(
                    ErrorKind::Config,
                    format!(
                        "watch.{key} (from {}): {e}",
                        origin(&self.cfg, &format!("watch.{key}"))
                    ),
                )
            })
        };
        let events = PluginChoice::new(&w.events).origin(origin(&self.cfg, "watch.events"));
        let mut c = disktracker_engine::WatchConfig::new(events);
        c.timings.batch_interval = dur("batch_interval", &w.batch_interval)?;
        c.timings.compact_every = dur("compact_every", &w.compact_every)?;
        c.timings.reconcile_every = if w.reconcile_every.trim().is_empty() {
            None
        } else {
            Some(dur("reconcile_every", &w.reconcile_every)?)
        };
        c.timings.journal_max_age = dur("journal_max_age", &w.journal_max_age)?;
        c.timings.degraded_rescan = dur("degraded_rescan", &w.degraded_rescan)?;
        Ok(c)
    }

    /// The engine over the configured database.
    pub fn tracker(&self) -> Result<Tracker> {
        let c = &self.cfg.config;
        let choice = |key: &str, name: &str| PluginChoice::new(name).origin(origin(&self.cfg, key));
        let mut index = IndexConfig::new(choice("index.backend", &c.index.backend));
        index.advice = c.index.advice;
        index.preload = c.index.preload;
        index.probe_table = c.index.probe_table;
        let retention = disktracker_engine::ScanRetention {
            keep: (c.retention.keep > 0)
                .then(|| usize::try_from(c.retention.keep).unwrap_or(usize::MAX)),
            max_age: if c.retention.max_age.is_empty() {
                None
            } else {
                Some(
                    disktracker::settings::parse_duration(&c.retention.max_age).map_err(|e| {
                        Error::new(ErrorKind::Config, format!("retention.max_age: {e}"))
                    })?,
                )
            },
        };
        let cfg = TrackerConfig {
            db: self.cfg.db_path()?.to_string_lossy().into_owned(),
            db_explicit: self.cfg.source("db") != config::Source::Default,
            state_dir: self.cfg.state_dir(),
            store: choice("backend", &c.backend),
            walker: choice("scan.walker", &c.scan.walker),
            index,
            scan: ScanConfig {
                threads: c.scan.threads,
                threads_origin: origin(&self.cfg, "scan.threads"),
                one_file_system: c.scan.one_file_system,
                exclude: c.scan.exclude.clone(),
                retention,
            },
            settings: self.cfg.settings_map(),
            host: self.cfg.config.host.clone(),
        };
        let observer = CliObserver {
            verbose: !c.quiet,
            progress: RefCell::new(None),
        };
        Tracker::new(cfg, Box::new(observer), self.cancel.clone())
    }
}

/// Where a configured value came from, as errors name it.
fn origin(cfg: &Layered, key: &str) -> String {
    cfg.source(key).to_string()
}

fn plugin_settings(cfg: &Layered, kind: PluginKind, name: &str) -> PluginSettings {
    cfg.plugin_settings(kind, name)
        .cloned()
        .unwrap_or_else(|| PluginSettings::empty(name))
}

/// Refuses, before anything runs, a reporter that does not render the
/// report `command` prints: a command must never change data and then fail
/// to say so.
fn check_renders(plugin: &ReporterPlugin, kind: ReportKind, command: &Command) -> Result<()> {
    if plugin.renders(kind) {
        return Ok(());
    }
    let able: Vec<&str> = registry::reporters()?
        .iter()
        .filter(|p| p.renders(kind))
        .map(|p| p.name)
        .collect();
    let hint = if able.is_empty() {
        "no linked reporter renders it".to_owned()
    } else {
        format!("reporters that render it: {}", able.join(", "))
    };
    Err(Error::new(
        ErrorKind::Usage,
        format!(
            "--format {} cannot show `{}`: the {} reporter does not render {kind} reports; nothing was done",
            plugin.name,
            commands::name(command),
            plugin.name,
        ),
    )
    .with_hint(hint))
}

/// Warnings and notes on stderr unless quiet; progress while walking.
struct CliObserver {
    verbose: bool,
    progress: RefCell<Option<ProgressDisplay>>,
}

impl Observer for CliObserver {
    fn warning(&self, message: &str) {
        if self.verbose {
            let _ = writeln!(io::stderr(), "disktracker: warning: {message}");
        }
    }

    fn note(&self, message: &str) {
        if self.verbose {
            let _ = writeln!(io::stderr(), "disktracker: {message}");
        }
    }

    fn walk_started(&self, progress: &Arc<ScanProgress>) {
        *self.progress.borrow_mut() = ProgressDisplay::start(progress.clone(), self.verbose);
    }

    fn walk_finished(&self) {
        self.progress.borrow_mut().take();
    }
}

fn flag_overrides(cli: &Cli) -> Vec<(&'static str, Value)> {
    let mut flags: Vec<(&'static str, Value)> = Vec::new();
    let s = |v: &str| Value::String(v.to_owned());
    let int = |n: u64| Value::Integer(i64::try_from(n).unwrap_or(i64::MAX));
    if let Some(db) = &cli.db {
        flags.push(("db", Value::String(db.to_string_lossy().into_owned())));
    }
    if let Some(b) = &cli.backend {
        flags.push(("backend", s(b)));
    }
    if let Some(w) = &cli.walker {
        flags.push(("scan.walker", s(w)));
    }
    if let Some(f) = &cli.format {
        flags.push(("format", s(f)));
    }
    if let Some(t) = cli.threads {
        flags.push(("scan.threads", int(t)));
    }
    if let Some(q) = pair(cli.quiet, cli.no_quiet) {
        flags.push(("quiet", Value::Boolean(q)));
    }
    if let Some(a) = pair(cli.apparent_size, cli.no_apparent_size) {
        flags.push(("report.apparent_size", Value::Boolean(a)));
    }
    match &cli.command {
        Command::Scan(a) => {
            if let Some(x) = pair(a.one_file_system, a.no_one_file_system) {
                flags.push(("scan.one_file_system", Value::Boolean(x)));
            }
            listing_flags(&a.listing, &mut flags);
        }
        Command::Show(a) => listing_flags(&a.listing, &mut flags),
        Command::Import(a) => {
            let args::ImportFormat::Ncdu { listing, .. } = &a.format;
            listing_flags(listing, &mut flags);
        }
        Command::Diff(a) => {
            if let Some(n) = a.top {
                flags.push(("diff.top", int(n)));
            }
            if let Some(n) = a.min_delta {
                flags.push(("diff.min_delta", int(n)));
            }
        }
        Command::Explain(a) => {
            if let Some(t) = a.threshold {
                flags.push(("explain.threshold", Value::Float(t)));
            }
        }
        _ => {}
    }
    flags
}

fn listing_flags(l: &args::ListingArgs, flags: &mut Vec<(&'static str, Value)>) {
    let int = |n: u64| Value::Integer(i64::try_from(n).unwrap_or(i64::MAX));
    if let Some(n) = l.top {
        flags.push(("report.top", int(n)));
    }
    if let Some(d) = l.depth {
        flags.push(("report.depth", int(d)));
    }
}

/// A `--x` / `--no-x` pair: `Some` only when one was given (clap keeps the last).
fn pair(yes: bool, no: bool) -> Option<bool> {
    match (yes, no) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    }
}

/// Where Ctrl-C and SIGTERM reach a running watcher.
static WATCH_CONTROL: std::sync::Mutex<
    Option<std::sync::mpsc::Sender<disktracker_engine::live::Control>>,
> = std::sync::Mutex::new(None);

fn set_watch_control(tx: std::sync::mpsc::Sender<disktracker_engine::live::Control>) {
    if let Ok(mut c) = WATCH_CONTROL.lock() {
        *c = Some(tx);
    }
}

/// Runs one parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    // Duplicate plugin names are a build mistake: refuse to run at all.
    registry::all_plugins()?;
    let app = App::new(&cli)?;
    let cancel = app.cancel.clone();
    // A second Ctrl-C (or SIGTERM) while the first is being honoured exits
    // at once. A watcher is stopped through its loop, which flushes,
    // compacts and records its state.
    let _ = ctrlc::set_handler(move || {
        if cancel.is_cancelled() {
            std::process::exit(i32::from(exit::INTERRUPTED));
        }
        cancel.cancel();
        let control = WATCH_CONTROL.lock().ok().and_then(|c| c.clone());
        if let Some(tx) = control {
            let _ = tx.send(disktracker_engine::live::Control::Stop);
        }
    });
    commands::run(&app, &cli.command)
}

/// The process's file-creation mask, from `/proc/self/status` (reading it
/// through umask(2) would change it for a moment); 022 when unknown.
fn current_umask() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Umask:"))
                .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        })
        .unwrap_or(0o022)
}
