//! The watch loop: events in, batches out — to the model, the index overlay,
//! the mutation log and the journal — plus the timers of a long-running
//! process (compaction, reconcile, journal pruning, periodic rescans of what
//! cannot be watched) and a clean stop.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use disktracker::path::{escape_bytes, escape_path, is_within, path_bytes};
use disktracker::report::{ReconcileLine, WatcherState};
use disktracker::{
    CancelToken, DirHook, DirRecord, EventSource, FsEvent, LiveIndex, Result, SnapshotId,
    SnapshotStore, WalkOutput,
};
use disktracker::{JournalQuery, LiveBatch, Mutation, WatchState};

use super::dispatch::apply_events;
use super::fold::{apply, fold};
use super::reconcile::reconcile_root;
use super::socket::{self, Answer, RootState};
use super::tree::{BatchChanges, LiveTree, TreeOptions};

/// Timings of a watcher (`[watch]` in the configuration).
#[derive(Clone, Debug)]
pub struct WatchTimings {
    /// Events are gathered this long after the first one before a batch is applied.
    pub batch_interval: Duration,
    /// The index overlay is compacted into the file at least this often when non-empty.
    pub compact_every: Duration,
    /// Reconcile by itself this often (`None`: only when asked).
    pub reconcile_every: Option<Duration>,
    /// Journal entries older than this are pruned.
    pub journal_max_age: Duration,
    /// Subtrees that cannot be watched are rescanned this often.
    pub degraded_rescan: Duration,
}

impl Default for WatchTimings {
    fn default() -> Self {
        WatchTimings {
            batch_interval: Duration::from_millis(100),
            compact_every: Duration::from_secs(30),
            reconcile_every: None,
            journal_max_age: Duration::from_secs(7 * 86_400),
            degraded_rescan: Duration::from_secs(300),
        }
    }
}

/// What the watcher needs from its surroundings (the engine facade).
pub trait WatchHost: Send + Sync {
    /// Opens the store for writing; the watcher opens it per use, so other
    /// processes can use stores that lock the whole file between uses.
    fn open_store(&self) -> Result<Box<dyn SnapshotStore>>;
    /// Walks `root` with the configured walker and options, calling
    /// `before_dir` for every directory when the walker supports it.
    fn walk(
        &self,
        root: &Path,
        cancel: &CancelToken,
        before_dir: Option<DirHook>,
    ) -> Result<WalkOutput>;
    /// Whether [`WatchHost::walk`] calls its hook for every directory, so an
    /// event source can watch the tree as it is walked.
    fn walk_calls_before_dir(&self) -> bool {
        false
    }
    /// A new event source.
    fn event_source(&self) -> Result<Box<dyn EventSource>>;
    /// Writes the index file from `entries` (every root of the database:
    /// the watched ones live, the others from the store) and records its
    /// provenance, including `mutation_cursor`; returns the opened index.
    fn publish_index(
        &self,
        live: &[(&[u8], SnapshotId, &LiveTree)],
        mutation_cursor: i64,
    ) -> Result<Box<dyn LiveIndex>>;
    /// The exclude patterns and file-system choice the root's snapshots use.
    fn tree_options(&self, root: &Path) -> Result<TreeOptions>;
    /// Logs one notable event (boot, caught up, rescan, degraded, compaction).
    fn log(&self, line: &str);
    /// This host's name, recorded in reconciled snapshots.
    fn host_name(&self) -> String;
}

/// What the loop is told from outside.
#[derive(Debug)]
pub enum Control {
    /// A file-system event.
    Event(FsEvent),
    /// Reconcile now and send the result.
    Reconcile(Sender<Result<Vec<ReconcileLine>>>),
    /// Flush, compact, record state and return.
    Stop,
}

/// One watched root.
struct Watched {
    root: PathBuf,
    base: SnapshotId,
    status: RootState,
    unwatched: Vec<PathBuf>,
    /// The root's total before a batch whose journal entries were left out
    /// (a hard link's other names to place): the rescan that follows
    /// journals the change from there.
    journal_base: Option<u64>,
    /// What the store holds for the root (pending mutations applied) until
    /// the catch-up walk replaces it: no model is built from it while the
    /// index answers.
    stored: Option<Vec<DirRecord>>,
    source: Option<Box<dyn EventSource>>,
    /// Watches each directory a walk of this root reaches (sources that
    /// watch as walked).
    before_dir: Option<DirHook>,
}

/// State shared with the query socket.
struct Shared {
    trees: Vec<Option<LiveTree>>,
    roots: Vec<Vec<u8>>,
    index: Option<Box<dyn LiveIndex>>,
    status: Vec<RootState>,
}

struct SharedAnswer(Arc<Mutex<Shared>>, Option<Sender<Control>>);

fn lock(m: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // A panic elsewhere left it poisoned; the data is still the last state.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Answer for SharedAnswer {
    fn sizes(&self, paths: &[Vec<u8>]) -> Vec<(Option<u64>, Option<Vec<u8>>)> {
        let s = lock(&self.0);
        paths
            .iter()
            .map(|p| {
                // The deepest watched root holding the path answers.
                let best = s
                    .roots
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| is_within(p, r))
                    .max_by_key(|(_, r)| r.len());
                let Some((i, r)) = best else {
                    return (None, None);
                };
                let bytes = match &s.trees[i] {
                    Some(t) => t.stats(p).map(|st| st.total_bytes),
                    // A damaged index is no answer; the models answer soon.
                    None => s.index.as_ref().and_then(|x| x.lookup(p).ok().flatten()),
                };
                (bytes, Some(r.clone()))
            })
            .collect()
    }

    fn status(&self) -> Vec<RootState> {
        let s = lock(&self.0);
        let overlay = s.index.as_ref().map_or(0, |i| i.overlay_len() as u64);
        s.status
            .iter()
            .cloned()
            .map(|mut st| {
                st.overlay_entries = overlay;
                st
            })
            .collect()
    }

    fn reconcile(&self) -> std::result::Result<Vec<socket::ReconcileWire>, String> {
        let Some(control) = &self.1 else {
            return Err("this watcher does not reconcile".into());
        };
        let (tx, rx) = channel();
        control
            .send(Control::Reconcile(tx))
            .map_err(|_| "the watcher is stopping".to_owned())?;
        match rx.recv() {
            Ok(Ok(lines)) => Ok(lines.iter().map(socket::ReconcileWire::from_line).collect()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("the watcher stopped before answering".into()),
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A running watcher's loop. Create with [`Watcher::boot`], drive with [`Watcher::run`].
pub struct Watcher<'h> {
    host: &'h dyn WatchHost,
    timings: WatchTimings,
    shared: Arc<Mutex<Shared>>,
    roots: Vec<Watched>,
    tx: Sender<Control>,
    rx: Receiver<Control>,
    cursor: i64,
    cancel: CancelToken,
    _server: Option<socket::Server>,
    last_compaction: Instant,
    last_reconcile: Instant,
    last_prune: Option<Instant>,
    last_degraded_rescan: Instant,
}

impl std::fmt::Debug for Watcher<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher")
            .field(
                "roots",
                &self.roots.iter().map(|r| &r.root).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl<'h> Watcher<'h> {
    /// Boots: opens the published index and starts answering queries on
    /// `socket_path` at once (state `booting`), loads each root's live state
    /// from the store (or scans a root that has no snapshot), starts
    /// watching, then validates every root against the file system
    /// (`catching-up`) and goes `live`. [`Booting::serve`] then
    /// [`Booting::boot`], for callers with nothing to do in between.
    pub fn boot(
        host: &'h dyn WatchHost,
        roots: &[PathBuf],
        index: Option<Box<dyn LiveIndex>>,
        socket_path: Option<&Path>,
        timings: WatchTimings,
        cancel: CancelToken,
    ) -> Result<Self> {
        Booting::serve(roots, index, socket_path).boot(host, timings, cancel)
    }
}

/// A watcher that answers from the published index alone (state
/// `booting`): made as soon as the index is checked, so that queries are
/// answered while everything else a watcher needs is set up.
pub struct Booting {
    roots: Vec<PathBuf>,
    shared: Arc<Mutex<Shared>>,
    tx: Sender<Control>,
    rx: Receiver<Control>,
    server: Option<socket::Server>,
    /// Why there is no server, logged once there is a host to log it.
    unserved: Option<disktracker::Error>,
}

impl std::fmt::Debug for Booting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Booting")
            .field("roots", &self.roots)
            .finish_non_exhaustive()
    }
}

impl Booting {
    /// Starts answering queries on `socket_path` (when given) from `index`
    /// (whose provenance the caller checked; `None`: no answer until the
    /// models load).
    pub fn serve(
        roots: &[PathBuf],
        index: Option<Box<dyn LiveIndex>>,
        socket_path: Option<&Path>,
    ) -> Booting {
        let shared = Arc::new(Mutex::new(Shared {
            trees: roots.iter().map(|_| None).collect(),
            roots: roots.iter().map(|r| path_bytes(r).to_vec()).collect(),
            index,
            status: roots
                .iter()
                .map(|r| RootState {
                    root: escape_path(r).into_owned(),
                    state: WatcherState::Booting.as_str().into(),
                    ..RootState::default()
                })
                .collect(),
        }));
        let (tx, rx) = channel();
        let (server, unserved) = match socket_path
            .map(|p| socket::serve(p, Arc::new(SharedAnswer(shared.clone(), Some(tx.clone())))))
        {
            Some(Ok(s)) => (Some(s), None),
            Some(Err(e)) => (None, Some(e)),
            None => (None, None),
        };
        Booting {
            roots: roots.to_vec(),
            shared,
            tx,
            rx,
            server,
            unserved,
        }
    }

    /// Loads the models, starts watching and catches up (see [`Watcher::boot`]).
    pub fn boot(
        self,
        host: &dyn WatchHost,
        timings: WatchTimings,
        cancel: CancelToken,
    ) -> Result<Watcher<'_>> {
        let Booting {
            roots,
            shared,
            tx,
            rx,
            server,
            unserved,
        } = self;
        let roots = roots.as_slice();
        if let Some(e) = unserved {
            host.log(&format!(
                "warning: {e}; other processes read the index file instead"
            ));
        }
        let mut w = Watcher {
            host,
            timings,
            shared,
            roots: Vec::new(),
            tx,
            rx,
            cursor: 0,
            cancel,
            _server: server,
            last_compaction: Instant::now(),
            last_reconcile: Instant::now(),
            last_prune: None,
            last_degraded_rescan: Instant::now(),
        };
        host.log(&format!(
            "booting: {} root(s); answering from the index",
            roots.len()
        ));
        // Watch first (each directory as the catch-up walk reaches it, where
        // the source and the walker can), so nothing falls between the walk
        // and the events; then walk while the stored models load.
        let mut sources = Vec::with_capacity(roots.len());
        for root in roots {
            sources.push(w.new_source(root)?);
        }
        let hooks: Vec<Option<DirHook>> = sources.iter().map(|s| s.1.clone()).collect();
        let cancel = w.cancel.clone();
        let walk_all = || -> Vec<Result<LiveTree>> {
            crate::hooks::step("catch-up-walk");
            roots
                .iter()
                .zip(&hooks)
                .map(|(root, hook)| walk_fresh(host, root, &cancel, hook.clone()))
                .collect()
        };
        let (loaded, walked) = std::thread::scope(|s| {
            let walks = std::thread::Builder::new()
                .name("catch-up".into())
                .spawn_scoped(s, walk_all);
            let loaded = w.load_models(roots, sources);
            let walked = match walks {
                Ok(h) => h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
                // No thread: walk here, after the models.
                Err(_) => walk_all(),
            };
            (loaded, walked)
        });
        loaded?;
        for (i, fresh) in walked.into_iter().enumerate() {
            match fresh {
                // Stopped during catch-up: `run` stops at once, keeping
                // what the store knew (the next boot catches up).
                Err(e) if e.kind() == disktracker::ErrorKind::Cancelled => {
                    w.keep_stored()?;
                    w.host.log(&format!(
                        "stopping before {} caught up; the next watch catches up",
                        escape_path(&w.roots[i].root)
                    ));
                    return Ok(w);
                }
                fresh => w.apply_fresh(i, fresh?)?,
            }
            w.host.log(&format!(
                "caught up: {} is live",
                escape_path(&w.roots[i].root)
            ));
        }
        if w.index_behind() {
            w.compact()?;
        }
        Ok(w)
    }
}

impl<'h> Watcher<'h> {
    /// Loads what the store knows of every root into its model, taking
    /// each root's event source.
    fn load_models(
        &mut self,
        roots: &[PathBuf],
        sources: Vec<(Box<dyn EventSource>, Option<DirHook>)>,
    ) -> Result<()> {
        let host = self.host;
        let w = self;
        let mut store = host.open_store()?;
        let mut cursor = 0i64;
        for ((i, root), (source, hook)) in roots.iter().enumerate().zip(sources) {
            let rb = path_bytes(root);
            let state = store.watch_state(rb)?;
            let base = match state
                .as_ref()
                .and_then(|s| s.last_snapshot)
                .filter(|&id| store.snapshot(id).ok().flatten().is_some())
            {
                Some(id) => id,
                None => match store.latest(disktracker::SnapshotQuery::of_root(rb))? {
                    Some(s) => s.id,
                    None => {
                        return Err(disktracker::Error::new(
                            disktracker::ErrorKind::NotFound,
                            format!("no snapshot of {} to watch from", escape_path(root)),
                        )
                        .with_hint("scan it first: `disktracker scan ROOT`"));
                    }
                },
            };
            let from = state.as_ref().map_or(0, |s| s.mutation_cursor);
            let pending = store.mutations_after(from, Some(rb), usize::MAX)?;
            cursor = cursor.max(pending.last().map_or(from, |m| m.id));
            let records = apply(store.read_tree(base, Some(rb))?, &fold(&pending, 0));
            // While the index answers, the catch-up compares its walk with
            // the records themselves; a model is built only to answer.
            let stored = if lock(&w.shared).index.is_some() {
                Some(records)
            } else {
                let tree = LiveTree::from_records(rb, records, host.tree_options(root)?)?;
                lock(&w.shared).trees[i] = Some(tree);
                None
            };
            w.roots.push(Watched {
                root: root.clone(),
                base,
                status: RootState {
                    root: escape_path(root).into_owned(),
                    state: WatcherState::CatchingUp.as_str().into(),
                    snapshot: Some(base),
                    last_reconcile_ms: state.as_ref().and_then(|s| s.last_reconcile_ms),
                    ..RootState::default()
                },
                unwatched: Vec::new(),
                journal_base: None,
                stored,
                source: Some(source),
                before_dir: hook,
            });
            // A state that names this base makes the next boot reuse it.
            store.set_watch_state(&WatchState {
                root: rb.to_vec(),
                last_event_ms: state.as_ref().and_then(|s| s.last_event_ms),
                last_reconcile_ms: state.as_ref().and_then(|s| s.last_reconcile_ms),
                last_snapshot: Some(base),
                mutation_cursor: from,
            })?;
        }
        cursor = cursor.max(store.append_batch(&LiveBatch::default())?);
        drop(store);
        w.cursor = cursor;
        w.publish_status();
        Ok(())
    }

    /// A sender for [`Control`] messages (Ctrl-C handlers, reconcile requests).
    pub fn control(&self) -> Sender<Control> {
        self.tx.clone()
    }

    /// A started event source for `root`, forwarding to the loop, and its
    /// walk hook when it watches as walked.
    fn new_source(&self, root: &Path) -> Result<(Box<dyn EventSource>, Option<DirHook>)> {
        let mut source = self.host.event_source()?;
        let (etx, erx) = channel::<FsEvent>();
        let hook = if self.host.walk_calls_before_dir() {
            source.watch_as_walked(root, etx)?
        } else {
            source.watch(root, etx)?;
            None
        };
        let tx = self.tx.clone();
        std::thread::Builder::new()
            .name("events".into())
            .spawn(move || {
                for e in erx {
                    if tx.send(Control::Event(e)).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| {
                disktracker::Error::new(disktracker::ErrorKind::Io, "cannot start an event thread")
                    .with_source(e)
            })?;
        Ok((source, hook))
    }

    fn publish_status(&self) {
        let mut s = lock(&self.shared);
        s.status = self.roots.iter().map(|r| r.status.clone()).collect();
    }

    fn set_state(&mut self, i: usize, state: WatcherState) {
        self.roots[i].status.state = state.as_str().into();
        self.publish_status();
    }

    /// Walks root `i`, replaces its model with what the walk found, and logs
    /// the differences (a catch-up after boot, a rescan after lost events).
    fn validate(&mut self, i: usize, state: WatcherState) -> Result<()> {
        self.set_state(i, state);
        let root = self.roots[i].root.clone();
        // Ctrl-C may end the catch-up at boot; a rescan in the loop is
        // finished, so that stopping leaves an exact index (a second
        // Ctrl-C exits at once).
        let cancel = if state == WatcherState::CatchingUp {
            self.cancel.clone()
        } else {
            CancelToken::new()
        };
        let fresh = walk_fresh(self.host, &root, &cancel, self.roots[i].before_dir.clone())?;
        self.apply_fresh(i, fresh)
    }

    /// Builds the model of every root still known only by its stored
    /// records (a stop during catch-up keeps what the store knew).
    fn keep_stored(&mut self) -> Result<()> {
        for i in 0..self.roots.len() {
            if let Some(records) = self.roots[i].stored.take() {
                let root = &self.roots[i].root;
                let tree = LiveTree::from_records(
                    path_bytes(root),
                    records,
                    self.host.tree_options(root)?,
                )?;
                lock(&self.shared).trees[i] = Some(tree);
            }
        }
        Ok(())
    }

    /// Replaces root `i`'s model with `fresh` (a walk of it), logs the
    /// differences, and goes back to live (degraded while parts of it
    /// cannot be watched).
    fn apply_fresh(&mut self, i: usize, fresh: LiveTree) -> Result<()> {
        let back = if self.roots[i].unwatched.is_empty() {
            WatcherState::Live
        } else {
            WatcherState::Degraded
        };
        // The state changes with the model, under one lock, so a client that
        // sees the fresh sizes never sees the state of the walk before them.
        let changes = {
            let mut s = lock(&self.shared);
            let journal_base = self.roots[i].journal_base.take();
            let changes = match (s.trees[i].as_mut(), self.roots[i].stored.take()) {
                (Some(tree), _) => tree.replace_with(fresh, now_ms(), journal_base),
                (None, stored) => {
                    let (tree, changes) = LiveTree::validated_from_stored(
                        fresh,
                        stored.unwrap_or_default(),
                        now_ms(),
                    );
                    s.trees[i] = Some(tree);
                    changes
                }
            };
            self.roots[i].status.state = back.as_str().into();
            s.status = self.roots.iter().map(|r| r.status.clone()).collect();
            changes
        };
        self.commit(i, changes)?;
        super::heap::release_free_memory();
        Ok(())
    }

    /// Logs a batch's changes in one transaction and applies them to the index.
    fn commit(&mut self, i: usize, changes: BatchChanges) -> Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut store = self.host.open_store()?;
        let last = store.append_batch(&LiveBatch {
            mutations: &changes.mutations,
            events: &changes.journal,
            watch_state: None,
        })?;
        drop(store);
        self.cursor = self.cursor.max(last);
        let mut s = lock(&self.shared);
        if let Some(index) = s.index.as_mut() {
            let applied: Result<()> = changes.mutations.iter().try_for_each(|m| match m {
                Mutation::RemoveSubtree { path, .. } => index.remove_subtree(path),
                Mutation::Upsert { record, .. } => {
                    index.set(&record.path, record.stats.total_bytes);
                    Ok(())
                }
            });
            if let Err(e) = applied {
                // The models stay exact; the next compaction writes a new file.
                self.host.log(&format!(
                    "warning: {e}; the index is rewritten at the next compaction"
                ));
                s.index = None;
                self.last_compaction = Instant::now() - self.timings.compact_every;
            }
        }
        drop(s);
        let st = &mut self.roots[i].status;
        st.batches += 1;
        st.last_batch_ms = Some(now_ms());
        self.publish_status();
        Ok(())
    }

    /// Runs until [`Control::Stop`]; then flushes, compacts and records state.
    pub fn run(&mut self) -> Result<()> {
        let mut pending: Vec<FsEvent> = Vec::new();
        let mut deadline: Option<Instant> = None;
        let mut interval = self.timings.batch_interval;
        loop {
            // Ctrl-C cancels the token (and, once the loop runs, also sends
            // `Stop`); a stop during boot reaches the loop only this way.
            if self.cancel.is_cancelled() {
                self.apply_batch(std::mem::take(&mut pending))?;
                return self.stop();
            }
            let wait = self.next_wakeup(deadline);
            match self.rx.recv_timeout(wait) {
                Ok(Control::Event(e)) => {
                    let mut shared = lock(&self.shared);
                    let mut mine = false;
                    for (r, seen) in self.roots.iter_mut().zip(shared.status.iter_mut()) {
                        if e.path.starts_with(&r.root)
                            || e.from.as_ref().is_some_and(|f| f.starts_with(&r.root))
                        {
                            mine = true;
                            r.status.events += 1;
                            r.status.queue_depth += 1;
                            // `status` shows events waiting for their batch.
                            seen.events = r.status.events;
                            seen.queue_depth = r.status.queue_depth;
                        }
                    }
                    drop(shared);
                    // A source may name paths outside its root (a directory
                    // moved out keeps its kernel watch): nothing to apply.
                    if mine {
                        pending.push(e);
                        deadline.get_or_insert_with(|| Instant::now() + interval);
                    }
                    // A steady stream of events must not starve the batch.
                    if deadline.is_none_or(|d| Instant::now() < d) {
                        continue;
                    }
                }
                Ok(Control::Reconcile(reply)) => {
                    self.apply_batch(std::mem::take(&mut pending))?;
                    deadline = None;
                    let _ = reply.send(self.reconcile());
                }
                Ok(Control::Stop) | Err(RecvTimeoutError::Disconnected) => {
                    self.apply_batch(std::mem::take(&mut pending))?;
                    return self.stop();
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                let started = Instant::now();
                let rescanned = self.apply_batch(std::mem::take(&mut pending))?;
                deadline = None;
                // A batch that took long means a busy tree: gather more
                // events per batch instead of re-reading the same
                // directories over and over. A rescan's walk says nothing
                // about the event rate.
                interval = if rescanned {
                    self.timings.batch_interval
                } else {
                    self.timings
                        .batch_interval
                        .max(started.elapsed() * 2)
                        .min(Duration::from_secs(2))
                };
            }
            self.timers()?;
        }
    }

    /// How long the loop may sleep: until the batch deadline or the next
    /// timer. With nothing pending it sleeps an hour: no polling when idle.
    fn next_wakeup(&self, deadline: Option<Instant>) -> Duration {
        let now = Instant::now();
        let mut next = now + Duration::from_secs(3600);
        if let Some(d) = deadline {
            next = next.min(d);
        }
        if self.index_behind() {
            next = next.min(self.last_compaction + self.timings.compact_every);
        }
        if let Some(every) = self.timings.reconcile_every {
            next = next.min(self.last_reconcile + every);
        }
        if self.roots.iter().any(|r| !r.unwatched.is_empty()) {
            next = next.min(self.last_degraded_rescan + self.timings.degraded_rescan);
        }
        next.saturating_duration_since(now)
            .max(Duration::from_millis(1))
    }

    fn timers(&mut self) -> Result<()> {
        let now = Instant::now();
        if self.index_behind() && now >= self.last_compaction + self.timings.compact_every {
            self.compact()?;
        }
        if let Some(every) = self.timings.reconcile_every
            && now >= self.last_reconcile + every
        {
            let lines = self.reconcile()?;
            let n: u64 = lines.iter().map(|l| l.mutations).sum();
            if n > 0 {
                self.host.log(&format!("reconciled {n} mutations"));
            }
        }
        if self.roots.iter().any(|r| !r.unwatched.is_empty())
            && now >= self.last_degraded_rescan + self.timings.degraded_rescan
        {
            self.last_degraded_rescan = now;
            for i in 0..self.roots.len() {
                if !self.roots[i].unwatched.is_empty() {
                    self.host.log(&format!(
                        "rescanning {} (parts of it cannot be watched)",
                        escape_path(&self.roots[i].root)
                    ));
                    self.validate(i, WatcherState::Degraded)?;
                }
            }
        }
        if self
            .last_prune
            .is_none_or(|t| now >= t + Duration::from_secs(3600))
        {
            self.last_prune = Some(now);
            let before = now_ms()
                - i64::try_from(self.timings.journal_max_age.as_millis()).unwrap_or(i64::MAX);
            let mut store = self.host.open_store()?;
            store.prune_journal(before)?;
        }
        Ok(())
    }

    /// Whether the index file lags the models (an overlay to merge, or no
    /// usable file at all).
    fn index_behind(&self) -> bool {
        lock(&self.shared)
            .index
            .as_ref()
            .is_none_or(|i| i.overlay_len() > 0)
    }

    /// Applies one batch of events to every root they concern.
    /// Applies a batch; says whether a root had to be rescanned for it.
    fn apply_batch(&mut self, events: Vec<FsEvent>) -> Result<bool> {
        if events.is_empty() {
            return Ok(false);
        }
        let mut rescanned = false;
        for i in 0..self.roots.len() {
            let root = self.roots[i].root.clone();
            let mine: Vec<FsEvent> = events
                .iter()
                .filter(|e| {
                    e.path.starts_with(&root)
                        || e.from.as_ref().is_some_and(|f| f.starts_with(&root))
                })
                .cloned()
                .collect();
            self.roots[i].status.queue_depth = 0;
            if mine.is_empty() {
                continue;
            }
            let (changes, d) = {
                let mut s = lock(&self.shared);
                #[allow(clippy::expect_used)] // boot fails without a model of every root
                let tree = s.trees[i]
                    .as_mut()
                    .expect("every root has a model after boot");
                let root_before = tree.root_total();
                tree.begin_batch();
                let d = apply_events(tree, &mine);
                let mut changes = tree.end_batch(now_ms());
                if tree.needs_validation() {
                    // Where the linked files count is settled by the rescan
                    // below, outside the lock, which journals the change.
                    changes.journal.clear();
                    self.roots[i].journal_base = self.roots[i].journal_base.or(root_before);
                }
                (changes, d)
            };
            self.commit(i, changes)?;
            for (path, detail) in &d.unwatched {
                if !self.roots[i].unwatched.contains(path) {
                    let why = detail.clone().unwrap_or_else(|| "cannot be watched".into());
                    self.host.log(&format!(
                        "degraded: {} is not watched ({why}); rescanning it every {}s",
                        escape_path(path),
                        self.timings.degraded_rescan.as_secs()
                    ));
                    self.roots[i].status.detail = Some(why);
                    self.roots[i].unwatched.push(path.clone());
                }
            }
            if !self.roots[i].unwatched.is_empty() {
                self.set_state(i, WatcherState::Degraded);
            }
            if d.root_gone {
                return Err(disktracker::Error::new(
                    disktracker::ErrorKind::NotFound,
                    format!("watched root {} is gone", escape_path(&root)),
                ));
            }
            let needs = lock(&self.shared).trees[i]
                .as_ref()
                .is_some_and(LiveTree::needs_validation);
            if d.rescan || needs {
                self.host.log(&format!(
                    "rescanning {}: {}",
                    escape_path(&root),
                    if d.rescan {
                        "events were lost"
                    } else {
                        "a hard link's other names must be placed"
                    }
                ));
                self.validate(i, WatcherState::Rescanning)?;
                rescanned = true;
            }
        }
        self.publish_status();
        Ok(rescanned)
    }

    /// Compacts the index overlay into the published file.
    fn compact(&mut self) -> Result<()> {
        let index = {
            let s = lock(&self.shared);
            let trees: Vec<(&[u8], SnapshotId, &LiveTree)> = self
                .roots
                .iter()
                .zip(&s.trees)
                .filter_map(|(r, t)| t.as_ref().map(|t| (path_bytes(&r.root), r.base, t)))
                .collect();
            self.host.publish_index(&trees, self.cursor)?
        };
        lock(&self.shared).index = Some(index);
        self.last_compaction = Instant::now();
        let t = now_ms();
        for r in &mut self.roots {
            r.status.last_compaction_ms = Some(t);
        }
        self.publish_status();
        super::heap::release_free_memory();
        self.host.log("compacted the index");
        Ok(())
    }

    fn reconcile(&mut self) -> Result<Vec<ReconcileLine>> {
        self.last_reconcile = Instant::now();
        let mut store = self.host.open_store()?;
        let host = self.host.host_name();
        let mut lines = Vec::new();
        for r in &mut self.roots {
            let line = reconcile_root(&mut *store, path_bytes(&r.root), now_ms(), &host)?;
            if let Some(id) = line.snapshot {
                r.base = id;
                r.status.snapshot = Some(id);
                r.status.last_reconcile_ms = Some(now_ms());
            }
            lines.push(line);
        }
        self.publish_status();
        Ok(lines)
    }

    /// Stops watching, compacts, records each root's state.
    fn stop(&mut self) -> Result<()> {
        for r in &mut self.roots {
            if let Some(mut s) = r.source.take() {
                let _ = s.stop();
            }
        }
        self.compact()?;
        let mut store = self.host.open_store()?;
        let t = now_ms();
        for r in &self.roots {
            let rb = path_bytes(&r.root);
            let old = store.watch_state(rb)?;
            store.set_watch_state(&WatchState {
                root: rb.to_vec(),
                last_event_ms: Some(t),
                last_reconcile_ms: old.as_ref().and_then(|s| s.last_reconcile_ms),
                last_snapshot: Some(r.base),
                mutation_cursor: old.map_or(0, |s| s.mutation_cursor),
            })?;
        }
        self.host.log("stopped");
        Ok(())
    }

    /// The journal entries under `under` since `since_ms` (for tests and `log`).
    pub fn journal(&self, under: &[u8], since_ms: i64) -> Result<Vec<disktracker::JournalEvent>> {
        let store = self.host.open_store()?;
        store.journal(&JournalQuery::all().since(since_ms).under(under.to_vec()))
    }

    /// Live recursive disk usage of `path`, if it is a watched directory.
    pub fn size(&self, path: &[u8]) -> Option<u64> {
        SharedAnswer(self.shared.clone(), None).sizes(&[path.to_vec()])[0].0
    }
}

/// A walk of `root` as a model (`hook` called for every directory where
/// the walker supports it).
fn walk_fresh(
    host: &dyn WatchHost,
    root: &Path,
    cancel: &CancelToken,
    hook: Option<DirHook>,
) -> Result<LiveTree> {
    let out = host.walk(root, cancel, hook)?;
    LiveTree::from_walk(&out, host.tree_options(root)?)
}

/// The roots' escaped names, for messages.
pub fn show_roots(roots: &[PathBuf]) -> String {
    roots
        .iter()
        .map(|r| escape_bytes(path_bytes(r)).into_owned())
        .collect::<Vec<_>>()
        .join(", ")
}
