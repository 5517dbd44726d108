//! The live commands of the facade: `watch`, `status`, `log`, `reconcile`.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::time::Duration;

use disktracker::path::{escape_bytes, escape_path, is_within, path_bytes};
use disktracker::registry::{self, IndexPlugin};
use disktracker::report::{
    LogReport, ReconcileReport, RootStatus, SizeAnswer, SizeStatus, StatusReport, WatcherState,
};
use disktracker::{
    CancelToken, DirHook, Error, ErrorKind, EventSource, LiveIndex, Result, SnapshotId,
    SnapshotQuery, SnapshotStore, StoreLocation, StoreOptions, WalkContext, WalkOptions,
    WalkOutput,
};
use disktracker::{IndexProvenance, JournalQuery};
use disktracker_walker_support::Exclude;

use super::{Access, PluginChoice, Tracker, absolute, now_ms};
use crate::live::socket::{self, Request, Response};
use crate::live::{
    Booting, Control, LiveTree, TreeOptions, WatchHost, WatchTimings, reconcile_root,
};
use crate::provenance::{Roots, Trust};

/// How to watch (`[watch]` in the configuration).
#[derive(Clone, Debug)]
pub struct WatchConfig {
    /// The event source plugin.
    pub events: PluginChoice,
    /// Batching and timers.
    pub timings: WatchTimings,
}

impl WatchConfig {
    /// The `notify` source with the default timings.
    pub fn new(events: PluginChoice) -> Self {
        WatchConfig {
            events,
            timings: WatchTimings::default(),
        }
    }
}

/// The exclusive lock of the one watcher of a database, held for the
/// process's life; the file holds its pid.
#[derive(Debug)]
pub struct WatchLock {
    _fd: OwnedFd,
}

fn lock_watch(path: &Path) -> Result<WatchLock> {
    use rustix::fs::{FlockOperation, Mode, OFlags, flock, open};
    let fd = open(
        path,
        OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .map_err(|e| {
        Error::io("cannot open the watcher lock", path, e.into())
            .with_hint("check that the database directory is writable")
    })?;
    if let Err(e) = flock(&fd, FlockOperation::NonBlockingLockExclusive) {
        if e == rustix::io::Errno::WOULDBLOCK {
            let pid = std::fs::read_to_string(path).unwrap_or_default();
            let pid = pid.trim();
            return Err(Error::new(
                ErrorKind::Locked,
                format!(
                    "another watcher (pid {}) is watching this database ({})",
                    if pid.is_empty() { "unknown" } else { pid },
                    escape_path(path)
                ),
            )
            .with_hint(
                "one watcher per database; stop it first, or pass --db for another database",
            ));
        }
        return Err(Error::io("cannot lock", path, e.into()));
    }
    let mut f = std::fs::File::from(fd);
    let _ = f.set_len(0);
    // Not synced: the pid is only for messages, and no watcher outlives a crash.
    let _ = writeln!(f, "{}", std::process::id());
    Ok(WatchLock { _fd: f.into() })
}

/// The pid written in the lock file, when a watcher holds the lock.
fn watcher_pid(path: &Path) -> Option<u32> {
    use rustix::fs::{FlockOperation, Mode, OFlags, flock, open};
    let fd = open(
        path,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    if flock(&fd, FlockOperation::NonBlockingLockShared).is_ok() {
        return None;
    }
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// What the watcher borrows from the tracker: everything needed to open
/// the store, walk, watch and write the index, without the tracker itself.
struct Host {
    store_plugin: &'static disktracker::registry::StorePlugin,
    store_opts: StoreOptions,
    walker: Box<dyn disktracker::Walker>,
    walk_opts: WalkOptions,
    tree_opts: TreeOptions,
    events: &'static disktracker::registry::EventSourcePlugin,
    events_settings: disktracker::PluginSettings,
    index_plugin: &'static IndexPlugin,
    index_opts: disktracker::IndexOptions,
}

fn log_line(line: &str) {
    let stamp = disktracker::human::iso_utc(now_ms());
    let _ = writeln!(std::io::stderr(), "{stamp} disktracker watch: {line}");
}

impl WatchHost for Host {
    fn open_store(&self) -> Result<Box<dyn SnapshotStore>> {
        (self.store_plugin.open)(&self.store_opts)
    }

    fn walk(
        &self,
        root: &Path,
        cancel: &CancelToken,
        before_dir: Option<DirHook>,
    ) -> Result<WalkOutput> {
        let ctx = WalkContext {
            cancel: cancel.clone(),
            before_dir,
            ..WalkContext::default()
        };
        self.walker.walk(root, &self.walk_opts, &ctx)
    }

    fn walk_calls_before_dir(&self) -> bool {
        self.walker.calls_before_dir()
    }

    fn event_source(&self) -> Result<Box<dyn EventSource>> {
        (self.events.create)(&self.events_settings)
    }

    fn publish_index(
        &self,
        live: &[(&[u8], SnapshotId, &LiveTree)],
        mutation_cursor: i64,
    ) -> Result<Box<dyn LiveIndex>> {
        let mut store = self.open_store()?;
        publish(
            &mut *store,
            &self.store_opts.host,
            self.index_plugin,
            &self.index_opts,
            live,
            mutation_cursor,
        )
    }

    fn tree_options(&self, _root: &Path) -> Result<TreeOptions> {
        Ok(self.tree_opts.clone())
    }

    fn log(&self, line: &str) {
        log_line(line);
    }

    fn host_name(&self) -> String {
        self.store_opts.host.clone()
    }
}

/// Writes the index of every root of the database — the watched ones from
/// their live models, every other from its newest snapshot; a root inside
/// another wins for its subtree when newer — and records its provenance.
fn publish(
    store: &mut dyn SnapshotStore,
    host: &str,
    plugin: &IndexPlugin,
    opts: &disktracker::IndexOptions,
    live: &[(&[u8], SnapshotId, &LiveTree)],
    mutation_cursor: i64,
) -> Result<Box<dyn LiveIndex>> {
    let mut stored = store.latest_per_root(Some(host))?;
    stored.retain(|s| !live.iter().any(|(r, ..)| *r == s.meta.root.as_slice()));
    stored.sort_by_key(|s| s.id);
    let mut entries: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
    let mut snapshots = Vec::new();
    let cover = |entries: &mut BTreeMap<Vec<u8>, u64>, root: &[u8]| {
        let lo = disktracker::path::descendant_prefix(root);
        let hi = disktracker::path::prefix_end(&lo);
        let inside: Vec<Vec<u8>> = entries.range(lo..hi).map(|(p, _)| p.clone()).collect();
        for p in inside {
            entries.remove(&p);
        }
        entries.remove(root);
    };
    for s in &stored {
        cover(&mut entries, &s.meta.root);
        store.visit_tree(s.id, None, &mut |r| {
            entries.insert(r.path.clone(), r.stats.total_bytes);
            true
        })?;
        snapshots.push((s.meta.root.clone(), s.id));
    }
    // Live roots are the newest of all.
    for (root, base, tree) in live {
        cover(&mut entries, root);
        entries.extend(tree.totals().map(|(p, t)| (p.to_vec(), t)));
        snapshots.push((root.to_vec(), *base));
    }
    snapshots.sort();
    let mut it = entries.iter().map(|(p, t)| (p.as_slice(), *t));
    let index = (plugin.create)(opts, &mut it)?;
    // Recorded only for the file written: if another writer replaced it
    // meanwhile, that writer records its own.
    let identity = index.identity();
    if let Some(checksum) = crate::provenance::checksum(index.path(), &identity)? {
        store.set_index_provenance(&IndexProvenance {
            snapshots,
            len: identity.len,
            dev: identity.dev,
            ino: identity.ino,
            mtime_ns: identity.mtime_ns,
            checksum,
            mutation_cursor,
        })?;
    }
    Ok(index)
}

/// The published index, when its provenance matches the store exactly;
/// `None` (the watcher answers from its models and publishes a new one).
fn current_index(
    store: &mut dyn SnapshotStore,
    plugin: &IndexPlugin,
    opts: &disktracker::IndexOptions,
    host: &str,
) -> Option<Box<dyn LiveIndex>> {
    let recorded = store.index_provenance().ok()??;
    let roots = Roots::of(store, host).ok()?;
    let index = (plugin.open)(opts).ok()?;
    // The checksum is read only when the file is not the one recorded.
    match crate::provenance::trust(
        index.path(),
        &index.identity(),
        &roots,
        Some(&recorded),
        false,
    ) {
        Ok(Trust::Exact | Trust::SameBytes) => Some(index),
        Ok(Trust::Not(why)) => {
            log_line(&format!("{why}; it will be rebuilt"));
            None
        }
        Err(e) => {
            log_line(&format!("{e}; it will be rebuilt"));
            None
        }
    }
}

impl Tracker {
    fn sidecar(&self, extension: &str) -> PathBuf {
        self.index_path().with_extension(extension)
    }

    /// The socket a running watcher answers on.
    pub fn socket_path(&self) -> PathBuf {
        self.sidecar("sock")
    }

    /// Watches `roots` until stopped: boots from the store and the index,
    /// catches up with the file system, follows events, logs mutations and
    /// keeps the index current. `ready` receives the control sender (for
    /// Ctrl-C and SIGTERM) once the watcher runs. One watcher per database.
    pub fn watch(
        &mut self,
        roots: &[PathBuf],
        config: &WatchConfig,
        ready: impl FnOnce(Sender<Control>),
    ) -> Result<()> {
        if roots.is_empty() {
            return Err(Error::new(ErrorKind::Usage, "no root to watch")
                .with_hint("name a directory, or set [watch] roots"));
        }
        let mut resolved = Vec::new();
        for r in roots {
            let r = crate::scan::resolve_root(r)?;
            if !resolved.contains(&r) {
                resolved.push(r);
            }
        }
        if let StoreLocation::File(p) = self.location() {
            super::location::create_state_dir(p)?;
        }
        crate::location::create_state_dir(self.index_path())?;
        let _lock = lock_watch(&self.sidecar("watch"))?;
        let (index_plugin, index_opts) = self.watch_index()?;
        // Answer from the index before anything else: a read-only store
        // (no checkpoint, no migration) says whether every root has a
        // snapshot and whether the index is the one recorded for them.
        let early = self
            .early_index(&resolved, index_plugin, &index_opts)
            .map(|index| Booting::serve(&resolved, index, Some(&self.socket_path())));
        if early.is_none() {
            // A root with no snapshot yet is scanned first.
            for r in &resolved {
                let has = {
                    let store = self.store.get(Access::Write)?;
                    store
                        .latest(SnapshotQuery::of_root(path_bytes(r)))?
                        .is_some()
                };
                if !has {
                    log_line(&format!(
                        "no snapshot of {} yet: scanning it",
                        escape_path(r)
                    ));
                    self.scan_and_store(r, &[])?;
                }
            }
        }
        let booting = match early {
            Some(b) => b,
            None => {
                let host = self.store.host.clone();
                let store = self.store.get(Access::Write)?;
                let index = current_index(&mut **store, index_plugin, &index_opts, &host);
                Booting::serve(&resolved, index, Some(&self.socket_path()))
            }
        };
        // Let go of the tracker's own handle: the watcher opens the store per use.
        self.store.open = None;
        let host = self.watch_host(config, index_plugin, index_opts)?;
        let mut watcher = booting.boot(&host, config.timings.clone(), self.cancel.clone())?;
        ready(watcher.control());
        watcher.run()
    }

    /// The index plugin and its options as a watcher uses them.
    fn watch_index(&self) -> Result<(&'static IndexPlugin, disktracker::IndexOptions)> {
        let plugin = self.index_plugin()?;
        let mut opts = self.index_options(plugin)?;
        opts.access = disktracker::IndexAccess::LongRunning;
        Ok((plugin, opts))
    }

    /// When every root has a snapshot, the published index if its
    /// provenance matches the store (`Some(None)`: it does not); `None`
    /// when a root needs a scan first or the store cannot be read as is
    /// (missing, or of an older schema): the caller then opens it writable.
    fn early_index(
        &mut self,
        roots: &[PathBuf],
        plugin: &IndexPlugin,
        opts: &disktracker::IndexOptions,
    ) -> Option<Option<Box<dyn LiveIndex>>> {
        let host = self.store.host.clone();
        let index = {
            let store = self.store.get(Access::Read).ok()?;
            for r in roots {
                store.latest(SnapshotQuery::of_root(path_bytes(r))).ok()??;
            }
            current_index(&mut **store, plugin, opts, &host)
        };
        self.store.open = None;
        Some(index)
    }

    fn watch_host(
        &self,
        config: &WatchConfig,
        index_plugin: &'static IndexPlugin,
        index_opts: disktracker::IndexOptions,
    ) -> Result<Host> {
        let walker_plugin = self.cfg.walker.resolve(registry::walkers()?)?;
        let walker = (walker_plugin.create)(&self.cfg.settings.for_plugin(walker_plugin)?)?;
        let sc = &self.cfg.scan;
        let walk_opts = self.walk_options(&[])?;
        let tree_opts = TreeOptions {
            exclude: Exclude::new(&sc.exclude)?,
            one_file_system: sc.one_file_system,
        };
        let events = config.events.resolve(registry::event_sources()?)?;
        let plugin = self.store.place.plugin;
        let store_opts = self.store.options();
        Ok(Host {
            store_plugin: plugin,
            store_opts,
            walker,
            walk_opts,
            tree_opts,
            events,
            events_settings: self.cfg.settings.for_plugin(events)?,
            index_plugin,
            index_opts,
        })
    }

    /// Live sizes from a running watcher, one per path (`None` for a path
    /// under none of its roots); `None` when no watcher answers.
    pub(super) fn live_sizes(&self, paths: &[PathBuf]) -> Option<Vec<Option<SizeAnswer>>> {
        let asked = paths
            .iter()
            .map(|p| escape_bytes(path_bytes(p)).into_owned())
            .collect();
        let Some(Response::Sizes(answers)) =
            socket::ask(&self.socket_path(), &Request::Size(asked))
        else {
            return None;
        };
        if answers.len() != paths.len() {
            return None;
        }
        Some(
            answers
                .into_iter()
                .zip(paths)
                .map(|(a, p)| {
                    a.root.as_ref()?;
                    let status = if a.bytes.is_some() {
                        SizeStatus::Live
                    } else {
                        SizeStatus::NotIndexed
                    };
                    Some(SizeAnswer::new(path_bytes(p).to_vec(), a.bytes, status))
                })
                .collect(),
        )
    }

    /// Every root of the database: whether a watcher runs for it, its
    /// state and counters, and what is pending for reconcile.
    pub fn status(&mut self) -> Result<StatusReport> {
        let live = match socket::ask(&self.socket_path(), &Request::Status) {
            Some(Response::Status { pid, roots }) => Some((pid, roots)),
            _ => None,
        };
        let locked_pid = watcher_pid(&self.sidecar("watch"));
        let store = match self.store.get(Access::Read) {
            Ok(s) => s,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(StatusReport::new(Vec::new())),
            Err(e) => return Err(e),
        };
        let mut roots: BTreeMap<Vec<u8>, RootStatus> = BTreeMap::new();
        for s in store.latest_per_root(Some(&self.cfg.host))? {
            let mut st = RootStatus::new(s.meta.root.clone());
            st.snapshot = Some(s.id);
            roots.insert(s.meta.root.clone(), st);
        }
        for ws in store.watch_states()? {
            let st = roots
                .entry(ws.root.clone())
                .or_insert_with(|| RootStatus::new(ws.root.clone()));
            st.snapshot = ws.last_snapshot.or(st.snapshot);
            st.last_reconcile_ms = ws.last_reconcile_ms;
            st.pending_mutations =
                store.count_mutations_after(ws.mutation_cursor, Some(&ws.root))?;
        }
        if let Some((pid, live)) = &live {
            for l in live {
                let Some(root) = disktracker::path::unescape(&l.root) else {
                    continue;
                };
                let st = roots
                    .entry(root.clone())
                    .or_insert_with(|| RootStatus::new(root));
                st.watcher_pid = Some(*pid);
                st.state = WatcherState::parse(&l.state);
                st.snapshot = l.snapshot.or(st.snapshot);
                st.events = l.events;
                st.batches = l.batches;
                st.queue_depth = l.queue_depth;
                st.overlay_entries = l.overlay_entries;
                st.last_batch_ms = l.last_batch_ms;
                st.last_compaction_ms = l.last_compaction_ms;
                st.last_reconcile_ms = l.last_reconcile_ms.or(st.last_reconcile_ms);
                st.detail = l.detail.clone();
            }
        } else if let Some(pid) = locked_pid {
            // Locked but not answering: starting (before its socket) or busy.
            for st in roots.values_mut() {
                st.watcher_pid = Some(pid);
            }
        }
        Ok(StatusReport::new(roots.into_values().collect()))
    }

    /// The live changes under `under` from the journal, newest first.
    pub fn log(
        &mut self,
        under: Option<&Path>,
        since: Option<Duration>,
        min_delta: u64,
        limit: Option<usize>,
    ) -> Result<LogReport> {
        let under = under.map(absolute).transpose()?;
        let since_ms = since
            .map(|d| now_ms().saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)));
        let store = self.store.get(Access::Read)?;
        let mut q = JournalQuery::all();
        if let Some(s) = since_ms {
            q = q.since(s);
        }
        if let Some(u) = &under {
            q = q.under(path_bytes(u).to_vec());
        }
        let mut entries = store.journal(&q)?;
        entries.retain(|e| {
            e.delta_bytes
                .map_or(min_delta == 0, |d| d.unsigned_abs() >= min_delta)
        });
        if let Some(n) = limit {
            entries.truncate(n);
        }
        Ok(LogReport::new(
            under.map(|u| path_bytes(&u).to_vec()),
            since_ms,
            entries,
        ))
    }

    /// Folds the mutations logged for `roots` (default: every watched root)
    /// into the store. A running watcher does it (it owns the live state);
    /// otherwise it is done here.
    pub fn reconcile(&mut self, roots: &[PathBuf]) -> Result<ReconcileReport> {
        let wanted: Vec<Vec<u8>> = roots
            .iter()
            .map(|r| absolute(r).map(|p| path_bytes(&p).to_vec()))
            .collect::<Result<_>>()?;
        if let Some(resp) = socket::ask_with(
            &self.socket_path(),
            &Request::Reconcile,
            Duration::from_secs(600),
        ) {
            return match resp {
                Response::Reconciled(lines) => {
                    let lines = lines
                        .iter()
                        .filter_map(socket::ReconcileWire::to_line)
                        .filter(|l| {
                            wanted.is_empty() || wanted.iter().any(|w| is_within(&l.root, w))
                        })
                        .collect();
                    Ok(ReconcileReport::new(lines))
                }
                Response::Error(e) => Err(Error::new(
                    ErrorKind::Database,
                    format!("the watcher could not reconcile: {e}"),
                )),
                other => Err(Error::new(
                    ErrorKind::Plugin,
                    format!("unexpected answer from the watcher: {other:?}"),
                )),
            };
        }
        let host = self.cfg.host.clone();
        let store = self.store.get(Access::Write)?;
        let mut lines = Vec::new();
        let states = store.watch_states()?;
        let mut unknown: Vec<String> = wanted
            .iter()
            .filter(|w| !states.iter().any(|s| &&s.root == w))
            .map(|w| escape_bytes(w).into_owned())
            .collect();
        if let Some(first) = unknown.pop() {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!("{first} has never been watched: nothing to reconcile"),
            )
            .with_hint("`disktracker watch ROOT` logs the changes that reconcile folds"));
        }
        for s in states {
            if !wanted.is_empty() && !wanted.contains(&s.root) {
                continue;
            }
            lines.push(reconcile_root(&mut **store, &s.root, now_ms(), &host)?);
        }
        Ok(ReconcileReport::new(lines))
    }
}
