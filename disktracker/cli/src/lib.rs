//! The DiskTracker command line: argument parsing, configuration layering,
//! plugin selection by name, progress, output, and exit codes.
//!
//! This crate knows plugins only through the registries; the binary decides
//! which plugin crates are linked.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod args;
mod commands;
pub mod config;
pub mod exit;
mod progress;

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use disktracker::path::escape_path;
use disktracker::registry::{self, IndexPlugin, StorePlugin};
use disktracker::{
    CancelToken, Error, ErrorKind, IndexOptions, PluginSettings, RenderOptions, Report, Reporter,
    Result, SizeKind, SnapshotStore, StoreOptions,
};
use toml::Value;

use crate::args::{Cli, Command};
use crate::config::{Environment, Layered};

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
    pub render: RenderOptions,
    pub cancel: CancelToken,
}

impl App {
    fn new(cli: &Cli) -> Result<Self> {
        let env = Environment::from_process()?;
        let flags = flag_overrides(cli);
        let cfg = Layered::load(cli.config.as_deref(), &env, &flags)?;
        let reporter_plugin = registry::reporters()?
            .get(&cfg.config.format)
            .map_err(|e| with_origin(e, &cfg, "format"))?;
        let size_kind = if cfg.config.report.apparent_size {
            SizeKind::Apparent
        } else {
            SizeKind::DiskUsage
        };
        Ok(App {
            reporter: (reporter_plugin.create)(&PluginSettings::defaults(
                reporter_plugin.name,
                reporter_plugin.settings,
            )?)?,
            render: RenderOptions::new(size_kind),
            cancel: CancelToken::new(),
            cfg,
        })
    }

    /// Whether progress and warnings go to stderr.
    pub fn verbose(&self) -> bool {
        !self.cfg.config.quiet
    }

    /// Prints a warning unless quiet.
    pub fn warn(&self, msg: impl std::fmt::Display) {
        if self.verbose() {
            let _ = writeln!(io::stderr(), "disktracker: warning: {msg}");
        }
    }

    /// Prints a note unless quiet.
    pub fn note(&self, msg: impl std::fmt::Display) {
        if self.verbose() {
            let _ = writeln!(io::stderr(), "disktracker: {msg}");
        }
    }

    /// Renders a report to stdout.
    pub fn emit(&self, report: Report<'_>) -> Result<()> {
        let stdout = io::stdout();
        let mut out = io::BufWriter::new(stdout.lock());
        self.reporter
            .render(&report, &self.render, &mut out)
            .and_then(|()| out.flush())
            .map_err(|e| {
                let kind = if e.kind() == io::ErrorKind::Unsupported {
                    ErrorKind::Usage
                } else {
                    ErrorKind::Io
                };
                Error::new(
                    kind,
                    format!("cannot write {} output", self.cfg.config.format),
                )
                .with_source(e)
            })
    }

    /// The selected store plugin.
    pub fn store_plugin(&self) -> Result<&'static StorePlugin> {
        registry::stores()?
            .get(&self.cfg.config.backend)
            .map_err(|e| with_origin(e, &self.cfg, "backend"))
    }

    /// The store's file: `--db` itself, or a sibling with the store's extension.
    pub fn store_path(&self, plugin: &StorePlugin) -> Result<PathBuf> {
        let db = self.cfg.db_path()?;
        Ok(sibling(&db, plugin.extension))
    }

    /// The selected live-index plugin.
    pub fn index_plugin(&self) -> Result<&'static IndexPlugin> {
        registry::indexes()?
            .get(&self.cfg.config.index.backend)
            .map_err(|e| with_origin(e, &self.cfg, "index.backend"))
    }

    /// Where and how to open the live index: `data.mmap` beside the database.
    pub fn index_options(&self) -> Result<IndexOptions> {
        let mut o = IndexOptions::new(sibling(&self.cfg.db_path()?, "mmap"));
        o.advice = self.cfg.config.index.advice;
        o.preload = self.cfg.config.index.preload;
        o.probe_table = self.cfg.config.index.probe_table;
        Ok(o)
    }

    /// Opens the selected store. `write` creates the state directory (0700)
    /// and the database; otherwise a missing database is a clear error.
    pub fn open_store(&self, write: bool) -> Result<Box<dyn SnapshotStore>> {
        let plugin = self.store_plugin()?;
        let path = self.store_path(plugin)?;
        if write {
            create_state_dir(&path)?;
        } else if !path.exists() {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!("no {} database at {}", plugin.name, escape_path(&path)),
            )
            .with_hint("run `disktracker scan DIR` first, or pass --db/--backend"));
        }
        (plugin.open)(&StoreOptions::file(path).read_only(!write))
    }
}

/// `--db a/data.db` + `redb` → `a/data.redb`.
fn sibling(db: &Path, extension: &str) -> PathBuf {
    if db.extension().is_some_and(|e| e == extension) {
        db.to_path_buf()
    } else {
        db.with_extension(extension)
    }
}

/// Creates the database's directory 0700 if it is missing (existing
/// directories keep their mode: `--db /tmp/x.db` must not chmod /tmp).
fn create_state_dir(db: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Ok(());
    };
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| {
            Error::io("cannot create state directory", dir, e)
                .with_hint("pass --db PATH to use another location")
        })
}

/// Adds "(set in …)" to an error about a configured value.
fn with_origin(e: Error, cfg: &Layered, key: &str) -> Error {
    let src = cfg.source(key);
    let msg = format!("{} (from {src})", e.message());
    let mut out = Error::new(e.kind(), msg);
    if let Some(h) = e.hint() {
        out = out.with_hint(h.to_owned());
    }
    out
}

fn flag_overrides(cli: &Cli) -> Vec<(&'static str, Value)> {
    let mut flags: Vec<(&'static str, Value)> = Vec::new();
    let s = |v: &str| Value::String(v.to_owned());
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
        flags.push((
            "scan.threads",
            Value::Integer(t.min(i64::MAX as u64) as i64),
        ));
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
        Command::Diff(a) => {
            if let Some(n) = a.top {
                flags.push(("diff.top", Value::Integer(n.min(i64::MAX as u64) as i64)));
            }
            if let Some(n) = a.min_delta {
                flags.push((
                    "diff.min_delta",
                    Value::Integer(n.min(i64::MAX as u64) as i64),
                ));
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
    let int = |n: u64| Value::Integer(n.min(i64::MAX as u64) as i64);
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

/// Runs one parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    // Duplicate plugin names are a build mistake: refuse to run at all.
    registry::all_plugins()?;
    let app = App::new(&cli)?;
    let cancel = app.cancel.clone();
    // A second Ctrl-C while the first is being honoured exits at once.
    let _ = ctrlc::set_handler(move || {
        if cancel.is_cancelled() {
            std::process::exit(i32::from(exit::INTERRUPTED));
        }
        cancel.cancel();
    });
    match &cli.command {
        Command::Scan(a) => commands::scan::run(&app, a),
        Command::Snapshots(a) => commands::snapshots::run(&app, a),
        Command::Show(a) => commands::show::run(&app, a),
        Command::Diff(a) => commands::diff::run(&app, a),
        Command::Explain(a) => commands::diff::explain(&app, a),
        Command::Size(a) => commands::size::run(&app, a),
        Command::Plugins => app.emit(Report::Plugins(&registry::all_plugins()?)),
        Command::Config => commands::config::run(&app),
    }
}

/// Makes a user-given path absolute: canonical when it exists, else joined to the cwd.
pub(crate) fn absolute(p: &Path) -> Result<PathBuf> {
    if let Ok(c) = std::fs::canonicalize(p) {
        return Ok(c);
    }
    std::path::absolute(p).map_err(|e| Error::io("cannot resolve path", p, e))
}
