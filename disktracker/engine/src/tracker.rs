//! The engine facade: [`Tracker`] owns the store and the live index of one
//! database and answers every command with typed report data.
//!
//! The command line maps its arguments and configuration to a
//! [`TrackerConfig`], calls one method, and renders what comes back. Every
//! decision — which plugin, where the files are, which snapshot, whether the
//! index can be trusted, when to rebuild it, what retention deletes — is
//! made here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use disktracker::path::{escape_bytes, escape_path, is_within, path_bytes};
use disktracker::registry::{
    self, IndexPlugin, Plugin, PluginInfo, PluginKind, Registry, StorePlugin,
};
use disktracker::report::{
    BenchReport, DeletedReport, DiffReport, ExplainReport, IssueLine, ScanReport, SizeAnswer,
    SizeReport, SizeStatus, TopReport,
};
use disktracker::{
    CancelToken, Error, ErrorKind, IndexOptions, IndexProvenance, LiveIndex, PluginSettings,
    ReadAdvice, Result, ScanProgress, SizeKind, SnapshotId, SnapshotInfo, SnapshotQuery,
    SnapshotStore, StoreLocation, StoreOptions, WalkContext, WalkOptions,
};
use disktracker_walker_support::Exclude;

use crate::bench::BenchOptions;
use crate::diff::{DiffFilter, changed_dirs, select as select_rows};
use crate::location::{self, Placement};
use crate::provenance::{self, IndexBeside, Roots, StagedIndex, Trust};
use crate::retention::{self, Retention};
use crate::scan::{
    Beside, OpenReader, ScanBy, ScanOutcome, ScanRetention, WalkOrigin, now_ms, resolve_root,
    store_walk_beside, walk_to_store,
};
use crate::select;
use crate::top::top_dirs;

mod fleet;
mod history;
mod live;

pub use fleet::DEFAULT_PERIOD as DEFAULT_FLEET_PERIOD;
pub use live::WatchConfig;

/// More scan threads than this is surely a typo.
pub const MAX_THREADS: u64 = 1024;

/// Walk options for `threads` workers (from `scan.threads`): a fixed pool
/// when set, else one worker per core that may grow to 8 per core (at
/// least 8, at most 64) while the workers wait on the disk.
pub fn walk_threads(threads: u64) -> WalkOptions {
    match threads {
        0 => {
            let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
            WalkOptions::growing(cores, (cores * 8).clamp(8, 64))
        }
        n => WalkOptions::with_threads(usize::try_from(n).unwrap_or(1)),
    }
}

/// Problems listed in a scan report (all are counted).
const ISSUES_SHOWN: usize = 10;
/// The origin of a value nobody set.
pub const DEFAULT_ORIGIN: &str = "default";

/// Where the engine's warnings, notes and scan progress go.
pub trait Observer {
    /// Something the user should know that did not stop the command.
    fn warning(&self, message: &str);
    /// Something that happened on the way (a rebuilt index, retention).
    fn note(&self, message: &str);
    /// A walk starts; `progress` is bumped by the walker until it ends.
    fn walk_started(&self, progress: &Arc<ScanProgress>) {
        let _ = progress;
    }
    /// The walk started last has ended.
    fn walk_finished(&self) {}
}

/// An [`Observer`] that drops everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl Observer for Silent {
    fn warning(&self, _: &str) {}
    fn note(&self, _: &str) {}
}

/// A plugin chosen by name, and where the name came from.
#[derive(Clone, Debug)]
pub struct PluginChoice {
    /// The registered name.
    pub name: String,
    /// Where the choice came from (`default`, a file, `env NAME`, `flag`),
    /// named in errors.
    pub origin: String,
}

impl PluginChoice {
    /// The plugin `name`, chosen by default.
    pub fn new(name: impl Into<String>) -> Self {
        PluginChoice {
            name: name.into(),
            origin: DEFAULT_ORIGIN.to_owned(),
        }
    }

    /// Says where the choice came from.
    pub fn origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = origin.into();
        self
    }

    /// Whether nobody chose it (the built-in default).
    pub fn is_default(&self) -> bool {
        self.origin == DEFAULT_ORIGIN
    }

    fn resolve<T: Plugin>(&self, registry: &Registry<T>) -> Result<&'static T> {
        registry
            .get(&self.name)
            .map_err(|e| with_origin(e, &self.origin))
    }
}

/// The effective `[plugins.NAME]` settings of plugins, by kind and name.
#[derive(Clone, Debug, Default)]
pub struct SettingsMap(BTreeMap<(PluginKind, String), PluginSettings>);

impl SettingsMap {
    /// Records the settings of the `kind` plugin they belong to.
    pub fn insert(&mut self, kind: PluginKind, settings: PluginSettings) {
        self.0
            .insert((kind, settings.plugin().to_owned()), settings);
    }

    /// The settings of `plugin`: as configured, or the defaults it declares.
    pub fn for_plugin<T: Plugin>(&self, plugin: &T) -> Result<PluginSettings> {
        match self.0.get(&(T::KIND, plugin.name().to_owned())) {
            Some(s) => Ok(s.clone()),
            None => plugin.default_settings(),
        }
    }
}

/// Warns when an existing database file can be read or written by group or
/// others: it holds the names and sizes of every scanned directory.
fn warn_if_shared(path: &Path, observer: &dyn Observer) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return; // not created yet: the store creates it 0600
    };
    let mode = meta.permissions().mode() & 0o777;
    if meta.is_file() && mode & 0o077 != 0 {
        observer.warning(&format!(
            "database {} has mode {mode:04o}: other users can read the names and sizes of \
             every scanned directory; run `chmod 600 {}` unless that is meant",
            escape_path(path),
            escape_path(path)
        ));
    }
}

/// Adds "(from ORIGIN)" to an error about a configured value.
pub fn with_origin(e: Error, origin: &str) -> Error {
    let mut out = Error::new(e.kind(), format!("{} (from {origin})", e.message()));
    if let Some(h) = e.hint() {
        out = out.with_hint(h.to_owned());
    }
    out
}

/// The live index: which plugin, and how to read it.
#[derive(Clone, Debug)]
pub struct IndexConfig {
    /// The index plugin.
    pub plugin: PluginChoice,
    /// Kernel read advice.
    pub advice: ReadAdvice,
    /// Fault the whole file in at open.
    pub preload: bool,
    /// Let a long-running reader build an in-memory lookup table.
    pub probe_table: bool,
}

impl IndexConfig {
    /// The index plugin `plugin` with [`IndexOptions::new`]'s reading defaults.
    pub fn new(plugin: PluginChoice) -> Self {
        let o = IndexOptions::new(PathBuf::new());
        IndexConfig {
            plugin,
            advice: o.advice,
            preload: o.preload,
            probe_table: o.probe_table,
        }
    }
}

/// How to scan.
#[derive(Clone, Debug, Default)]
pub struct ScanConfig {
    /// Worker threads; 0 = one per core, growing while they wait on the
    /// disk (see [`walk_threads`]); at most [`MAX_THREADS`].
    pub threads: u64,
    /// Where `threads` came from, named in errors.
    pub threads_origin: String,
    /// Stay on the root's file system.
    pub one_file_system: bool,
    /// Exclude globs (checked before anything is opened).
    pub exclude: Vec<String>,
    /// Applied to the scanned root with every scan, in the snapshot's transaction.
    pub retention: ScanRetention,
}

/// Everything a [`Tracker`] is opened with.
#[derive(Clone, Debug)]
pub struct TrackerConfig {
    /// The database: a file path (`~` already expanded) or a `scheme://` URL.
    pub db: String,
    /// Whether `db` was given (`--db`, `db =`); the built-in default keeps
    /// the chosen store's own extension (`data.db` → `data.redb`).
    pub db_explicit: bool,
    /// The default state directory (`~/.disktracker`), where a server
    /// store's live index lives.
    pub state_dir: Option<PathBuf>,
    /// The snapshot store.
    pub store: PluginChoice,
    /// The walker.
    pub walker: PluginChoice,
    /// The live index.
    pub index: IndexConfig,
    /// How to scan.
    pub scan: ScanConfig,
    /// Every plugin's configured settings (others take their defaults).
    pub settings: SettingsMap,
    /// The host snapshots are stored as and read for by default; empty:
    /// this machine's name (uname).
    pub host: String,
}

impl TrackerConfig {
    /// A database `db` with these plugins, scanning with one thread per
    /// core, nothing excluded, no retention.
    pub fn new(
        db: impl Into<String>,
        store: PluginChoice,
        walker: PluginChoice,
        index: PluginChoice,
    ) -> Self {
        TrackerConfig {
            db: db.into(),
            db_explicit: true,
            state_dir: None,
            store,
            walker,
            index: IndexConfig::new(index),
            scan: ScanConfig {
                threads_origin: DEFAULT_ORIGIN.to_owned(),
                ..ScanConfig::default()
            },
            settings: SettingsMap::default(),
            host: String::new(),
        }
    }
}

/// How many rows and levels a listing (`scan`, `show`) shows, and by which size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listing {
    /// Levels below the root (or the path) considered.
    pub depth: u32,
    /// Rows listed at most.
    pub top: usize,
    /// The size ranked by.
    pub kind: SizeKind,
    /// Attach the folded tree of the subtree too (for a reporter that
    /// draws trees), ranked by `kind`.
    pub tree: Option<crate::folded::TreeLimits>,
}

/// Which changed directories `diff` lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiffOptions {
    /// Rows listed at most.
    pub top: usize,
    /// Changes smaller than this many bytes are hidden.
    pub min_delta: u64,
    /// The size compared.
    pub kind: SizeKind,
    /// Attach the folded tree of both snapshots too (for a reporter that
    /// draws trees), ranked by `kind`.
    pub tree: Option<crate::folded::TreeLimits>,
}

/// Whose snapshots a command reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Hosts {
    /// This host's ([`Tracker::host`]).
    #[default]
    This,
    /// The named host's.
    Named(String),
    /// Every host's.
    All,
}

impl Hosts {
    /// `Named(h)`, or `This` without a name.
    pub fn named(host: Option<String>) -> Self {
        host.map_or(Hosts::This, Hosts::Named)
    }
}

/// What `snapshots prune` deletes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Prune {
    /// Keep the newest N snapshots of each root.
    pub keep: Option<usize>,
    /// Delete snapshots older than this.
    pub older_than: Option<std::time::Duration>,
    /// Only snapshots of this directory or of directories below it.
    pub root: Option<PathBuf>,
    /// Only say what would be deleted.
    pub dry_run: bool,
    /// Whose snapshots: retention is per host and root.
    pub hosts: Hosts,
}

/// Whether a command only reads the store or may change it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    Read,
    /// Writable if it can be (to cache what was computed), else read-only.
    ReadCaching,
    Write,
}

struct OpenStore {
    store: Box<dyn SnapshotStore>,
    writable: bool,
}

/// The store, opened on first use.
struct StoreHandle {
    place: Placement,
    settings: PluginSettings,
    /// The host this process stores snapshots as.
    host: String,
    open: Option<OpenStore>,
    /// Told of a store file other users can read, once it opened as a store.
    observer: Arc<dyn Observer>,
    checked_mode: bool,
}

impl StoreHandle {
    /// How to open the store (writable).
    fn options(&self) -> StoreOptions {
        match &self.place.store {
            StoreLocation::File(p) => StoreOptions::file(p.clone()),
            StoreLocation::Url(u) => StoreOptions::url(u.clone()),
        }
        .with_settings(self.settings.clone())
        .host(self.host.clone())
    }

    /// Opens another, read-only handle on the store, for a thread of its own
    /// (see [`Beside::reader`]).
    /// `None` for a store that cannot read beside a write in one process.
    fn reader(&self) -> Option<Box<OpenReader<'static>>> {
        let plugin = self.place.plugin;
        let opts = self.options().read_only(true);
        plugin
            .reads_beside_writes
            .then(|| Box::new(move || (plugin.open)(&opts)) as Box<OpenReader<'static>>)
    }

    /// The open store, opened (or reopened writable) as `access` needs. A
    /// read of a file store that does not exist is [`ErrorKind::NotFound`];
    /// a write creates it (and, for a file, its directory 0700).
    fn get(&mut self, access: Access) -> Result<&mut Box<dyn SnapshotStore>> {
        if access == Access::ReadCaching {
            // Never creates a database, and falls back to reading when the
            // user may not write it.
            let missing = self.place.store.file().is_some_and(|f| !f.exists());
            if self.open.is_none() && !missing {
                match self.get(Access::Write) {
                    Ok(_) => {}
                    Err(e)
                        if matches!(
                            e.kind(),
                            ErrorKind::Permission | ErrorKind::Io | ErrorKind::Database
                        ) => {}
                    Err(e) => return Err(e),
                }
            }
            return self.get(Access::Read);
        }
        let reuse = self
            .open
            .as_ref()
            .is_some_and(|o| o.writable || access == Access::Read);
        if !reuse {
            // Drop a read-only handle before opening a writable one.
            self.open = None;
            let plugin = self.place.plugin;
            let writable = access == Access::Write;
            if writable && self.place.store.file().is_none() {
                // A server store's live index lives in the state directory.
                location::create_state_dir(&self.place.index)?;
            }
            if let StoreLocation::File(path) = &self.place.store {
                if writable {
                    location::create_state_dir(path)?;
                } else if !path.exists() {
                    return Err(Error::new(
                        ErrorKind::NotFound,
                        format!("no {} database at {}", plugin.name, escape_path(path)),
                    )
                    .with_hint("run `disktracker scan DIR` first, or pass --db/--backend"));
                }
            }
            let opts = self.options().read_only(!writable);
            let store = (plugin.open)(&opts)?;
            // Only a file that opened as a store: a damaged one gets its
            // one-line error and nothing else.
            if !self.checked_mode
                && let StoreLocation::File(path) = &self.place.store
            {
                self.checked_mode = true;
                warn_if_shared(path, &*self.observer);
            }
            self.open = Some(OpenStore { store, writable });
        }
        match &mut self.open {
            Some(o) => Ok(&mut o.store),
            None => Err(Error::new(ErrorKind::Plugin, "store handle lost")),
        }
    }
}

/// One database, its live index, and every command over them.
pub struct Tracker {
    cfg: TrackerConfig,
    store: StoreHandle,
    observer: Arc<dyn Observer>,
    cancel: CancelToken,
}

impl std::fmt::Debug for Tracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracker")
            .field("store", &self.store.place.store)
            .field("index", &self.store.place.index)
            .finish_non_exhaustive()
    }
}

impl Tracker {
    /// Chooses the store plugin and places the store and its index. Nothing
    /// is opened or created until a command needs it.
    pub fn new(
        cfg: TrackerConfig,
        observer: Box<dyn Observer>,
        cancel: CancelToken,
    ) -> Result<Tracker> {
        let plugin = cfg.store.resolve(registry::stores()?)?;
        let mut cfg = cfg;
        // A server store chosen without --db: its `url` setting says where.
        if !cfg.db_explicit && plugin.extension.is_empty() {
            let url = match cfg.settings.for_plugin(plugin)?.get("url") {
                Some(setting) => setting.value.as_str().unwrap_or_default().to_owned(),
                None => String::new(),
            };
            if url.is_empty() {
                return Err(Error::new(
                    ErrorKind::Config,
                    format!(
                        "the {} store is a server and no database was named",
                        plugin.name
                    ),
                )
                .with_hint(format!(
                    "pass --db {}://USER@HOST/DB, or set url in [plugins.{}]",
                    plugin.url_schemes.first().copied().unwrap_or("scheme"),
                    plugin.name
                )));
            }
            cfg.db = url;
            cfg.db_explicit = true;
        }
        let place = location::place(&location::Request {
            db: &cfg.db,
            db_explicit: cfg.db_explicit,
            plugin,
            backend_origin: (!cfg.store.is_default()).then_some(cfg.store.origin.as_str()),
            state_dir: cfg.state_dir.as_deref(),
        })?;
        let observer: Arc<dyn Observer> = Arc::from(observer);
        if cfg.host.is_empty() {
            cfg.host = crate::scan::host_name();
        }
        Ok(Tracker {
            store: StoreHandle {
                settings: cfg.settings.for_plugin(place.plugin)?,
                host: cfg.host.clone(),
                place,
                open: None,
                observer: Arc::clone(&observer),
                checked_mode: false,
            },
            cfg,
            observer,
            cancel,
        })
    }

    /// Where the store is.
    pub fn location(&self) -> &StoreLocation {
        &self.store.place.store
    }

    /// The store plugin serving it.
    pub fn store_plugin(&self) -> &'static StorePlugin {
        self.store.place.plugin
    }

    /// The host this process stores snapshots as, and reads by default.
    pub fn host(&self) -> &str {
        &self.cfg.host
    }

    /// The host filter of `hosts` for store queries (`None`: every host).
    fn host_filter<'a>(&'a self, hosts: &'a Hosts) -> Option<&'a str> {
        match hosts {
            Hosts::This => Some(&self.cfg.host),
            Hosts::Named(h) => Some(h),
            Hosts::All => None,
        }
    }

    /// The live index file.
    pub fn index_path(&self) -> &Path {
        &self.store.place.index
    }

    // ---- commands ------------------------------------------------------

    /// Measures every chosen walker, store and index on the tree at `root`
    /// (see [`crate::bench`]). The database is not opened: stores and
    /// indexes are written into a temporary directory.
    pub fn bench(&self, root: &Path, opts: &BenchOptions) -> Result<BenchReport> {
        let root = resolve_root(root)?;
        let walk = self.walk_options(&[])?;
        let observer = &self.observer;
        crate::bench::Bench {
            root: &root,
            walk,
            ctx: WalkContext {
                cancel: self.cancel.clone(),
                progress: Arc::new(ScanProgress::default()),
                before_dir: None,
            },
            opts,
            settings: &self.cfg.settings,
            warn: &|m| observer.warning(m),
        }
        .run()
    }

    /// Scans `root` (plus `extra_excludes`), stores the snapshot with
    /// retention applied in the same transaction, writes the live index, and
    /// reports the largest directories.
    pub fn scan(
        &mut self,
        root: &Path,
        extra_excludes: &[String],
        listing: Listing,
    ) -> Result<ScanReport> {
        let outcome = self.scan_and_store(root, extra_excludes)?;
        Ok(self.stored_report(outcome, listing))
    }

    /// The report of a stored walk (a scan or an import): warns about the
    /// entries that could not be read, and lists the largest directories.
    fn stored_report(&self, outcome: ScanOutcome, listing: Listing) -> ScanReport {
        if let Some(e) = &outcome.since_lost {
            self.observer.warning(&format!(
                "no change summary: the previous snapshot was deleted while this scan ran ({})",
                without_hint(e)
            ));
        }
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
                        escape_bytes(&i.path),
                        i.message
                    )
                })
                .unwrap_or_default();
            self.observer.warning(&format!(
                "{errors} entries could not be read and were not counted{first}"
            ));
        }
        let issues = tree
            .issues()
            .iter()
            .take(ISSUES_SHOWN)
            .map(|i| IssueLine::new(i.path.clone(), i.op, i.message.clone()))
            .collect();
        let top = tree.top(listing.depth, listing.top, listing.kind);
        ScanReport::new(
            outcome.snapshot,
            u64::try_from(outcome.elapsed.as_millis()).unwrap_or(u64::MAX),
            top,
            issues,
            outcome.since,
        )
    }

    /// Stores a snapshot read from ncdu's JSON export (`source` names the
    /// input in messages), aggregated as a scan aggregates a walk, and
    /// writes the live index as `scan` does. The whole input is read and
    /// checked before the database is opened: a malformed or truncated file
    /// is an [`ErrorKind::Corrupt`] error naming the byte offset, and
    /// nothing is stored. Host and time come from the export's metadata
    /// where it has them (ncdu writes `timestamp`), else this host and now.
    pub fn import_ncdu(
        &mut self,
        input: &mut dyn std::io::Read,
        source: &str,
        listing: Listing,
    ) -> Result<ScanReport> {
        let start = std::time::Instant::now();
        let index_plugin = self.cfg.index.plugin.resolve(registry::indexes()?)?;
        let index_opts = self.index_options(index_plugin)?;
        let parsed = crate::ncdu::read_ncdu(input, source, &self.cancel)?;
        let now = now_ms();
        let origin = WalkOrigin {
            started_at_ms: parsed.timestamp_ms.unwrap_or(now),
            finished_at_ms: Some(parsed.timestamp_ms.unwrap_or(now)),
            host: parsed.host.unwrap_or_else(|| self.cfg.host.clone()),
            walker: format!(
                "import {}",
                parsed
                    .program
                    .as_deref()
                    .unwrap_or("ncdu (unknown program)")
            ),
        };
        let retention = self.cfg.scan.retention;
        let beside = beside_write(&self.store, index_plugin, &index_opts, &self.cfg.host);
        let store = self.store.get(Access::Write)?;
        let mut outcome = store_walk_beside(
            &mut **store,
            parsed.walk,
            &origin,
            &self.cancel,
            retention,
            start,
            &beside,
        )?;
        drop(beside);
        let staged = outcome.index.take();
        self.after_store(index_plugin, &index_opts, &outcome, staged);
        Ok(self.stored_report(outcome, listing))
    }

    /// Writes a snapshot (default: the newest covering the current
    /// directory, else the newest) to `out` as an ncdu export that `ncdu -f`
    /// browses (see [`crate::ncdu::write_ncdu`]). Returns the snapshot.
    pub fn export_ncdu(
        &mut self,
        snapshot: Option<SnapshotId>,
        out: &mut dyn std::io::Write,
    ) -> Result<SnapshotInfo> {
        let cwd = absolute(Path::new("."))?;
        let host = Some(self.cfg.host.as_str());
        let store = self.store.get(Access::Read)?;
        let snap = match snapshot {
            Some(id) => select::by_id(&**store, id)?,
            None => match store.latest(SnapshotQuery::covering(path_bytes(&cwd)).host(host))? {
                Some(s) => s,
                None => select::newest_covering(&**store, None, host)?,
            },
        };
        crate::ncdu::write_ncdu(&**store, &snap, out)?;
        Ok(snap)
    }

    /// Every snapshot of `hosts`, oldest first. A database that does not
    /// exist is [`ErrorKind::NotFound`].
    pub fn snapshots(&mut self, hosts: &Hosts) -> Result<Vec<SnapshotInfo>> {
        let host = self.host_filter(hosts).map(str::to_owned);
        let store = self.store.get(Access::Read)?;
        let Some(host) = host else {
            return store.snapshots();
        };
        let mut snaps = store.find_snapshots(&SnapshotQuery::any().host(Some(&host)))?;
        snaps.reverse();
        Ok(snaps)
    }

    /// The largest directories of a snapshot (default: the newest of
    /// `hosts` covering `path`, or their newest) under `path` (default: its root).
    pub fn show(
        &mut self,
        snapshot: Option<SnapshotId>,
        path: Option<&Path>,
        listing: Listing,
        hosts: &Hosts,
    ) -> Result<TopReport> {
        let path = path.map(absolute).transpose()?;
        let path = path.as_deref().map(path_bytes);
        let host = self.host_filter(hosts).map(str::to_owned);
        let store = self.store.get(Access::Read)?;
        let snap = match snapshot {
            Some(id) => select::by_id(&**store, id)?,
            None => select::newest_covering(&**store, path, host.as_deref())?,
        };
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
        let mut rows = Vec::new();
        store.visit_tree(id, Some(under_path), &mut |r| {
            if r.depth > under.depth && r.depth - under.depth <= listing.depth {
                rows.push(r.clone());
            }
            true
        })?;
        let rows = top_dirs(&rows, &under, listing.depth, listing.top, listing.kind);
        let tree = match listing.tree {
            Some(limits) => crate::folded::snapshot_tree(&**store, id, under_path, limits)?,
            None => None,
        };
        let mut report = TopReport::new(snap, under, rows);
        report.tree = tree;
        Ok(report)
    }

    /// Per-directory changes between two snapshots of one root (see
    /// [`select::compared`] for the defaults), under `path`.
    pub fn diff(
        &mut self,
        a: Option<SnapshotId>,
        b: Option<SnapshotId>,
        path: Option<&Path>,
        opts: DiffOptions,
        hosts: [&Hosts; 2],
    ) -> Result<DiffReport> {
        let path = path.map(absolute).transpose()?;
        let path = path.as_deref().map(path_bytes);
        let older = self.host_filter(hosts[0]).map(str::to_owned);
        let newer = self.host_filter(hosts[1]).map(str::to_owned);
        // Writable when it can be, so the computed diff is cached (best
        // effort: a read-only store still gets its answer).
        let store = self.store.get(Access::ReadCaching)?;
        let sides = select::Sides {
            older: older.as_deref(),
            newer: newer.as_deref(),
        };
        let (a, b) = select::compared(&**store, a, b, path, sides)?;
        if let Some(p) = path {
            check_inside(p, &a)?;
        }
        let all = changed_dirs(&mut **store, a.id, b.id)?;
        let filter = DiffFilter {
            under: path,
            min_delta: opts.min_delta,
            top: opts.top,
            kind: opts.kind,
        };
        let (entries, changed) = select_rows(all, &filter);
        let under = path.map_or_else(|| a.meta.root.clone(), <[u8]>::to_vec);
        let tree = match opts.tree {
            Some(limits) => crate::folded::diff_tree(&**store, a.id, b.id, &under, limits)?,
            None => None,
        };
        let mut report = DiffReport::new(a, b, under, entries, changed);
        report.tree = tree;
        Ok(report)
    }

    /// Attributes `path`'s change between two snapshots to its contributors.
    pub fn explain(
        &mut self,
        path: &Path,
        from: Option<SnapshotId>,
        to: Option<SnapshotId>,
        threshold_pct: f64,
        kind: SizeKind,
        hosts: [&Hosts; 2],
    ) -> Result<ExplainReport> {
        let path = absolute(path)?;
        let path = path_bytes(&path);
        let older = self.host_filter(hosts[0]).map(str::to_owned);
        let newer = self.host_filter(hosts[1]).map(str::to_owned);
        let store = self.store.get(Access::Read)?;
        let sides = select::Sides {
            older: older.as_deref(),
            newer: newer.as_deref(),
        };
        let (a, b) = select::compared(&**store, from, to, Some(path), sides)?;
        check_inside(path, &a)?;
        let root = crate::explain::explain(&**store, a.id, b.id, path, threshold_pct, kind)?;
        Ok(ExplainReport::new(a, b, threshold_pct, root))
    }

    /// Deletes snapshots `ids` and everything derived from them: all or
    /// nothing (an unknown id deletes none).
    pub fn delete(&mut self, ids: &[SnapshotId]) -> Result<DeletedReport> {
        let store = self.store.get(Access::Write)?;
        for &id in ids {
            if store.snapshot(id)?.is_none() {
                return Err(select::unknown_snapshot(&**store, id));
            }
        }
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        delete(&mut **store, &ids, &*self.observer)?;
        Ok(DeletedReport::new(ids, false))
    }

    /// Retention by hand, per root.
    pub fn prune(&mut self, p: &Prune) -> Result<DeletedReport> {
        let root = p.root.as_deref().map(absolute).transpose()?;
        let access = if p.dry_run {
            Access::Read
        } else {
            Access::Write
        };
        let host = self.host_filter(&p.hosts).map(str::to_owned);
        let store = self.store.get(access)?;
        let policy = Retention {
            keep: p.keep,
            older_than_ms: p
                .older_than
                .map(|d| now_ms().saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))),
            root: root.as_deref().map(path_bytes),
        };
        // The plan needs every snapshot of every root it may touch: one
        // query. With every host's, the plan keeps per host and root.
        let snaps = store.find_snapshots(&SnapshotQuery::any().host(host.as_deref()))?;
        let ids = retention::plan(&snaps, &policy);
        if !p.dry_run {
            delete(&mut **store, &ids, &*self.observer)?;
        }
        Ok(DeletedReport::new(ids, p.dry_run))
    }

    /// Recursive sizes of `paths` (default: the current directory) from the
    /// live index, which holds the newest snapshot of every root. The index
    /// is trusted only when its recorded provenance matches exactly (with
    /// `verify`, its checksum and structure are checked too); otherwise it
    /// is rebuilt from the database, or, when it cannot be written, the
    /// answers come from the database directly. A path under no scanned root
    /// is not answered (see [`SizeResult::unanswered`]).
    pub fn size(&mut self, paths: &[PathBuf], verify: bool) -> Result<SizeResult> {
        let paths: Vec<PathBuf> = if paths.is_empty() {
            vec![absolute(Path::new("."))?]
        } else {
            paths.iter().map(|p| absolute(p)).collect::<Result<_>>()?
        };
        // A running watcher's answers are the newest; the file's are the
        // fallback for paths under none of its roots.
        let live = self.live_sizes(&paths);
        if let Some(live) = &live
            && live.iter().all(Option::is_some)
        {
            let answers = live.iter().flatten().cloned().collect();
            let report = SizeReport::new(self.store.place.index.clone(), None, false, answers);
            return Ok(SizeResult {
                report,
                unanswered: None,
            });
        }
        let plugin = self.index_plugin()?;
        let opts = self.index_options(plugin)?;
        let store = self.store.get(Access::Read)?;
        let roots = Roots::of(&**store, &self.cfg.host)?;
        let mut source = None;
        if !roots.is_empty() {
            let recorded = store.index_provenance()?;
            source = self.trusted_index(plugin, &opts, &roots, recorded.as_ref(), verify)?;
        }
        let mut rebuilt = false;
        let answers = loop {
            let src = match source.take() {
                Some(s) => s,
                None if roots.is_empty() => Answers::Nothing,
                None => {
                    rebuilt = true;
                    self.rebuild_index(plugin, &opts, &roots)?
                }
            };
            match src.answer(&roots, &paths) {
                Ok(a) => break a,
                // The file changed or proved corrupt under the lookups: once more, rebuilt.
                Err(e) if e.kind() == ErrorKind::Corrupt && !rebuilt => {
                    self.observer
                        .warning(&format!("{}; rebuilding it", without_hint(&e)));
                }
                // Changed again under the new file's lookups (another
                // program keeps rewriting it): the database answers.
                Err(e) if e.kind() == ErrorKind::Corrupt => {
                    self.observer.warning(&format!(
                        "{}; answering from the database",
                        without_hint(&e)
                    ));
                    let mut entries =
                        provenance::entries(&**self.store.get(Access::Read)?, &roots, None)?;
                    entries.sort();
                    source = Some(Answers::Memory(entries));
                }
                Err(e) => return Err(e),
            }
        };
        let answers = match live {
            Some(live) => answers
                .into_iter()
                .zip(live)
                .map(|(from_index, from_watcher)| from_watcher.unwrap_or(from_index))
                .collect(),
            None => answers,
        };
        let root = paths
            .first()
            .and_then(|p| roots.owner(path_bytes(p)))
            .map(|s| s.meta.root.clone());
        let report = SizeReport::new(self.store.place.index.clone(), root, false, answers);
        let unanswered = unanswered(&report, &roots, self.location(), &self.cfg.host);
        Ok(SizeResult { report, unanswered })
    }

    /// The index on disk, if it can be trusted as it is.
    fn trusted_index(
        &mut self,
        plugin: &IndexPlugin,
        opts: &IndexOptions,
        roots: &Roots,
        recorded: Option<&IndexProvenance>,
        verify: bool,
    ) -> Result<Option<Answers>> {
        let index = match (plugin.open)(opts) {
            Ok(index) => index,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                self.observer.note(&format!(
                    "index {} does not exist yet; building it from {}",
                    escape_path(&opts.path),
                    roots.list()
                ));
                return Ok(None);
            }
            // Corrupt, unreadable, not a file: the database can answer.
            Err(e) => {
                self.observer.warning(&format!(
                    "{}; rebuilding it from {}",
                    without_hint(&e),
                    roots.list()
                ));
                return Ok(None);
            }
        };
        match provenance::trust(index.path(), &index.identity(), roots, recorded, verify)? {
            Trust::Exact => {}
            Trust::SameBytes => {
                // A copy of the recorded file: record its identity, so the
                // next reader need not read it whole again (best effort).
                if let Some(p) = recorded {
                    let id = index.identity();
                    let mut p = p.clone();
                    (p.len, p.dev, p.ino, p.mtime_ns) = (id.len, id.dev, id.ino, id.mtime_ns);
                    let _ = self
                        .store
                        .get(Access::Write)
                        .and_then(|store| store.set_index_provenance(&p));
                }
            }
            Trust::Not(why) => {
                self.observer.note(&format!("{why}; rebuilding it"));
                return Ok(None);
            }
        }
        if verify && let Err(e) = index.verify() {
            self.observer
                .warning(&format!("{}; rebuilding it", without_hint(&e)));
            return Ok(None);
        }
        Ok(Some(Answers::Index(index)))
    }

    /// Rebuilds the index from the newest snapshot of every root and records
    /// its provenance; when the file cannot be written, answers come from
    /// the snapshots read.
    fn rebuild_index(
        &mut self,
        plugin: &IndexPlugin,
        opts: &IndexOptions,
        roots: &Roots,
    ) -> Result<Answers> {
        let mut entries = provenance::entries(&**self.store.get(Access::Read)?, roots, None)?;
        let created = (plugin.create)(opts, &mut entries.iter());
        let index = match created {
            Ok(index) => index,
            Err(e) => {
                self.observer.warning(&format!(
                    "cannot write index {}: {}; answering from the database",
                    escape_path(&opts.path),
                    without_hint(&e)
                ));
                entries.sort();
                return Ok(Answers::Memory(entries));
            }
        };
        crate::hooks::step("index-written");
        if let Some(p) = provenance::provenance_of(index.path(), &index.identity(), roots)? {
            // Best effort: without it the next reader rebuilds again.
            let recorded = self
                .store
                .get(Access::Write)
                .and_then(|store| store.set_index_provenance(&p));
            match recorded {
                Ok(()) => crate::hooks::step("provenance-recorded"),
                Err(e) => self.observer.note(&format!(
                    "cannot record the index's provenance in {} ({}); the next lookup rebuilds it again",
                    self.store.place.store,
                    without_hint(&e)
                )),
            }
        }
        Ok(Answers::Index(index))
    }

    // ---- scanning ------------------------------------------------------

    /// The walk options of the configuration, with `extra_excludes` added;
    /// checks the thread count and the globs.
    pub(crate) fn walk_options(&self, extra_excludes: &[String]) -> Result<WalkOptions> {
        let sc = &self.cfg.scan;
        if sc.threads > MAX_THREADS {
            return Err(Error::new(
                ErrorKind::Usage,
                format!(
                    "{} threads requested (from {}); at most {MAX_THREADS}",
                    sc.threads, sc.threads_origin
                ),
            ));
        }
        let mut exclude = sc.exclude.clone();
        exclude.extend(extra_excludes.iter().cloned());
        Exclude::new(&exclude)?;
        let mut opts = walk_threads(sc.threads);
        opts.one_file_system = sc.one_file_system;
        opts.exclude = exclude;
        Ok(opts)
    }

    /// Validates everything cheap (root, walker, threads, excludes, index
    /// plugin) before touching the database, then walks, stores and indexes.
    fn scan_and_store(&mut self, root: &Path, extra_excludes: &[String]) -> Result<ScanOutcome> {
        let root = resolve_root(root)?;
        let walker_plugin = self.cfg.walker.resolve(registry::walkers()?)?;
        let opts = self.walk_options(extra_excludes)?;
        let sc = &self.cfg.scan;
        let retention = sc.retention;
        let index_plugin = self.cfg.index.plugin.resolve(registry::indexes()?)?;
        let index_opts = self.index_options(index_plugin)?;
        let walker = (walker_plugin.create)(&self.cfg.settings.for_plugin(walker_plugin)?)?;

        let ctx = WalkContext {
            cancel: self.cancel.clone(),
            progress: Arc::new(ScanProgress::default()),
            before_dir: None,
        };
        let beside = beside_write(&self.store, index_plugin, &index_opts, &self.cfg.host);
        let store = self.store.get(Access::Write)?;
        self.observer.walk_started(&ctx.progress);
        let by = ScanBy {
            walker: walker_plugin.name,
            host: &self.cfg.host,
        };
        let outcome =
            walk_to_store(&*walker, by, &root, &opts, &ctx).and_then(|(out, origin, start)| {
                store_walk_beside(
                    &mut **store,
                    out,
                    &origin,
                    &ctx.cancel,
                    retention,
                    start,
                    &beside,
                )
            });
        self.observer.walk_finished();
        let mut outcome = outcome?;
        drop(beside);
        let staged = outcome.index.take();
        self.after_store(index_plugin, &index_opts, &outcome, staged);
        Ok(outcome)
    }

    /// After a snapshot is stored (scan or import): says what retention
    /// deleted, and writes the live index.
    fn after_store(
        &mut self,
        index_plugin: &IndexPlugin,
        index_opts: &IndexOptions,
        outcome: &ScanOutcome,
        staged: Option<Result<StagedIndex>>,
    ) {
        if !outcome.pruned.is_empty() {
            self.observer.note(&format!(
                "retention: deleted snapshots {:?}",
                outcome.pruned
            ));
        }
        // The snapshot is stored; the index is derived from the database and
        // can be rebuilt, so failing to write it is a warning, not a failed scan.
        let published = match staged {
            Some(staged) => {
                staged.and_then(|staged| self.prove_index(&staged, outcome.snapshot.id))
            }
            None => self.publish_index(index_plugin, index_opts, outcome),
        };
        if let Err(e) = published {
            self.observer.warning(&format!(
                "the live index was not updated: {}; `disktracker size` rebuilds it",
                without_hint(&e)
            ));
        }
    }

    // ---- the live index ------------------------------------------------

    /// After a scan: writes the index of every root (the new tree for its
    /// part) and records its provenance.
    fn publish_index(
        &mut self,
        plugin: &IndexPlugin,
        opts: &IndexOptions,
        outcome: &ScanOutcome,
    ) -> Result<()> {
        let store = self.store.get(Access::Write)?;
        let roots = Roots::of(&**store, &self.cfg.host)?;
        let fresh = Some((outcome.snapshot.id, &outcome.tree));
        let index = match plugin.create_sorted {
            // The scan's paths are built as the index reads them, not
            // collected first (they would be most of a large scan's peak).
            Some(create_sorted) => {
                create_sorted(opts, &provenance::index_source(&**store, &roots, fresh)?)?
            }
            None => {
                let entries = provenance::entries(&**store, &roots, fresh)?;
                (plugin.create)(opts, &mut entries.iter())?
            }
        };
        crate::hooks::step("index-written");
        if let Some(p) = provenance::provenance_of(index.path(), &index.identity(), &roots)? {
            store.set_index_provenance(&p)?;
            crate::hooks::step("provenance-recorded");
        }
        Ok(())
    }

    /// Records the provenance of the index written beside snapshot `id`'s
    /// rows, now that it is committed (unless another scan committed
    /// meanwhile: then the file stays unproven and the next reader rebuilds it).
    fn prove_index(&mut self, staged: &StagedIndex, id: SnapshotId) -> Result<()> {
        crate::hooks::step("index-written");
        let store = self.store.get(Access::Write)?;
        let roots = Roots::of(&**store, &self.cfg.host)?;
        let Some(p) = staged.provenance(id, &roots) else {
            return Ok(());
        };
        store.set_index_provenance(&p)?;
        crate::hooks::step("provenance-recorded");
        Ok(())
    }

    fn index_plugin(&self) -> Result<&'static IndexPlugin> {
        self.cfg.index.plugin.resolve(registry::indexes()?)
    }

    fn index_options(&self, plugin: &IndexPlugin) -> Result<IndexOptions> {
        let mut o = IndexOptions::new(&self.store.place.index);
        o.advice = self.cfg.index.advice;
        o.preload = self.cfg.index.preload;
        o.probe_table = self.cfg.index.probe_table;
        o.settings = self.cfg.settings.for_plugin(plugin)?;
        Ok(o)
    }
}

/// What a scan or an import does beside its write: the live index with
/// `plugin`, and a warm rescan's read through a second handle on `store`.
fn beside_write<'a>(
    store: &StoreHandle,
    plugin: &'a IndexPlugin,
    opts: &'a IndexOptions,
    host: &'a str,
) -> Beside<'a> {
    Beside {
        index: Some(IndexBeside { plugin, opts, host }),
        reader: store.reader(),
    }
}

/// Where `size` answers come from.
enum Answers {
    /// The index file.
    Index(Box<dyn LiveIndex>),
    /// The snapshots themselves (the index could not be written).
    Memory(provenance::Entries),
    /// Nothing: no root is scanned.
    Nothing,
}

impl Answers {
    fn answer(&self, roots: &Roots, paths: &[PathBuf]) -> Result<Vec<SizeAnswer>> {
        paths
            .iter()
            .map(|p| {
                let path = path_bytes(p).to_vec();
                if roots.owner(&path).is_none() {
                    return Ok(SizeAnswer::new(path, None, SizeStatus::OutsideRoot));
                }
                let total = match self {
                    Answers::Index(index) => index.lookup(&path)?,
                    Answers::Memory(entries) => entries.get(&path),
                    Answers::Nothing => None,
                };
                let status = if total.is_some() {
                    SizeStatus::Indexed
                } else {
                    SizeStatus::NotIndexed
                };
                Ok(SizeAnswer::new(path, total, status))
            })
            .collect()
    }
}

/// What `size` found.
#[derive(Debug)]
pub struct SizeResult {
    /// The answers.
    pub report: SizeReport,
    /// The error for the paths not answered (exit 3), shown after the report.
    pub unanswered: Option<Error>,
}

/// An error's message and cause without its hint, for a message that says
/// itself what happens next.
fn without_hint(e: &Error) -> String {
    match std::error::Error::source(e) {
        Some(src) => format!("{}: {src}", e.message()),
        None => e.message().to_owned(),
    }
}

/// The error for the paths of a `size` report that were not answered, if
/// any: the first one, and the scan that would answer it.
fn unanswered(
    report: &SizeReport,
    roots: &Roots,
    location: &StoreLocation,
    host: &str,
) -> Option<Error> {
    let missing: Vec<&SizeAnswer> = report
        .answers
        .iter()
        .filter(|a| a.total_bytes.is_none())
        .collect();
    let first = missing.first()?;
    let path = escape_bytes(&first.path);
    let (what, hint) = match roots.owner(&first.path) {
        None if roots.is_empty() => (
            format!("{path} is not indexed: {location} holds no snapshots of host {host}"),
            format!("run `disktracker scan {path}`"),
        ),
        None => (
            format!("{path} is under no scanned root ({})", roots.list()),
            format!("run `disktracker scan {path}`"),
        ),
        Some(s) => (
            format!(
                "{path} is not a directory of snapshot {} of {}",
                s.id,
                escape_bytes(&s.meta.root)
            ),
            format!(
                "if it is new, run `disktracker scan {}`",
                escape_bytes(&s.meta.root)
            ),
        ),
    };
    let what = if missing.len() > 1 {
        format!(
            "{} of {} paths are not answered; {what}",
            missing.len(),
            report.answers.len()
        )
    } else {
        what
    };
    Some(Error::new(ErrorKind::NotFound, what).with_hint(hint))
}

/// Every registered plugin of every kind, by kind then name.
pub fn plugins() -> Result<Vec<PluginInfo>> {
    registry::all_plugins()
}

fn check_inside(path: &[u8], snap: &SnapshotInfo) -> Result<()> {
    if is_within(path, &snap.meta.root) {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::NotFound,
        format!(
            "{} is not inside the snapshots' root {}",
            escape_bytes(path),
            escape_bytes(&snap.meta.root)
        ),
    ))
}

fn delete(
    store: &mut dyn SnapshotStore,
    ids: &[SnapshotId],
    observer: &dyn Observer,
) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    crate::hooks::step("snapshots-chosen");
    let n = store.delete_snapshots(ids)?;
    // The others existed when the command chose them: another process
    // deleted them since. Every one asked for is gone, as asked.
    if n < ids.len() {
        observer.note(&format!(
            "{} of these snapshots were deleted by another process meanwhile",
            ids.len() - n
        ));
    }
    store.reclaim_space()
}

/// Makes a user-given path absolute: canonical when it exists, else joined to the cwd.
pub fn absolute(p: &Path) -> Result<PathBuf> {
    if let Ok(c) = std::fs::canonicalize(p) {
        return Ok(c);
    }
    std::path::absolute(p).map_err(|e| Error::io("cannot resolve path", p, e))
}
