//! The [`Reporter`] plugin trait and the typed report data it renders.
//!
//! Reporters receive data, never preformatted strings: a table, a JSON
//! document and a CSV file are three renderings of the same [`Report`].

use std::io::{self, Write};
use std::path::PathBuf;

use crate::model::{DiffEntry, DirRecord, SizeKind, SnapshotId, SnapshotInfo};
use crate::registry::PluginInfo;

/// Rendering choices that apply to every report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RenderOptions {
    /// Which size to show (and which the rows were ranked by).
    pub size_kind: SizeKind,
}

impl RenderOptions {
    /// Options showing `size_kind`.
    pub fn new(size_kind: SizeKind) -> Self {
        RenderOptions { size_kind }
    }
}

/// A problem met during a scan, for display.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct IssueLine {
    /// Absolute path concerned.
    pub path: Vec<u8>,
    /// What was being done.
    pub op: String,
    /// The OS error.
    pub message: String,
}

impl IssueLine {
    /// A problem at `path` while doing `op`.
    pub fn new(path: Vec<u8>, op: impl Into<String>, message: impl Into<String>) -> Self {
        IssueLine {
            path,
            op: op.into(),
            message: message.into(),
        }
    }
}

/// Result of `scan`: the stored snapshot and its largest directories.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ScanReport {
    /// The snapshot written.
    pub snapshot: SnapshotInfo,
    /// Wall time of walk plus store, milliseconds.
    pub duration_ms: u64,
    /// Largest directories, largest first.
    pub top: Vec<DirRecord>,
    /// The first few problems (all are counted in `snapshot.meta.error_count`).
    pub issues: Vec<IssueLine>,
    /// What changed since the previous snapshot of the same root, if any.
    pub since: Option<ChangeSummary>,
}

impl ScanReport {
    /// A scan report; `since` is `None` for a first scan.
    pub fn new(
        snapshot: SnapshotInfo,
        duration_ms: u64,
        top: Vec<DirRecord>,
        issues: Vec<IssueLine>,
        since: Option<ChangeSummary>,
    ) -> Self {
        ScanReport {
            snapshot,
            duration_ms,
            top,
            issues,
            since,
        }
    }
}

/// What a warm rescan found changed since the previous snapshot of its root.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChangeSummary {
    /// The previous snapshot.
    pub previous: SnapshotId,
    /// Directories in both snapshots whose size changed.
    pub changed_dirs: u64,
    /// Directories that are new.
    pub added_dirs: u64,
    /// Directories that are gone.
    pub removed_dirs: u64,
    /// Directories with the same sizes whose direct entries were nevertheless
    /// rewritten, renamed or replaced (their fingerprint changed).
    pub rewritten_dirs: u64,
    /// Change of the root's recursive disk usage.
    pub delta_bytes: i128,
    /// Change of the root's recursive apparent size.
    pub delta_apparent: i128,
}

/// Result of `show`: the largest directories of a snapshot under a path.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct TopReport {
    /// The snapshot read.
    pub snapshot: SnapshotInfo,
    /// The directory the rows are under; its total is what the rows' shares
    /// are taken of. It is not itself one of `rows`.
    pub under: DirRecord,
    /// Largest directories below `under`, largest first.
    pub rows: Vec<DirRecord>,
    /// The snapshot below `under` as a folded tree, for reporters that draw
    /// one ([`ReporterPlugin::draws_trees`](crate::registry::ReporterPlugin::draws_trees)).
    pub tree: Option<TreeNode>,
}

impl TopReport {
    /// The largest `rows` below `under` in `snapshot`.
    pub fn new(snapshot: SnapshotInfo, under: DirRecord, rows: Vec<DirRecord>) -> Self {
        TopReport {
            snapshot,
            under,
            rows,
            tree: None,
        }
    }
}

/// Result of `diff`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct DiffReport {
    /// Older snapshot.
    pub a: SnapshotInfo,
    /// Newer snapshot.
    pub b: SnapshotInfo,
    /// The subtree compared.
    pub under: Vec<u8>,
    /// Changed directories, largest absolute delta first.
    pub entries: Vec<DiffEntry>,
    /// How many directories changed in all (before `--top` / `--min-delta`).
    pub changed: u64,
    /// Both snapshots below `under` as one folded tree, for reporters that
    /// draw one.
    pub tree: Option<TreeNode>,
}

impl DiffReport {
    /// The `entries` shown of `changed` changed directories under `under`, A → B.
    pub fn new(
        a: SnapshotInfo,
        b: SnapshotInfo,
        under: Vec<u8>,
        entries: Vec<DiffEntry>,
        changed: u64,
    ) -> Self {
        DiffReport {
            a,
            b,
            under,
            entries,
            changed,
            tree: None,
        }
    }
}

/// One contributor in an explanation tree.
#[derive(Clone, Debug, PartialEq, Default)]
#[non_exhaustive]
pub struct ExplainNode {
    /// The directory.
    pub entry: DiffEntry,
    /// Change of its direct entries (files and own inode), B minus A.
    pub direct_delta: i128,
    /// Share of the parent's change, in percent (100 for the root).
    pub share_pct: f64,
    /// Whether the directory exists only in B / only in A.
    pub status: ChangeStatus,
    /// Contributors that pass the threshold, largest first.
    pub children: Vec<ExplainNode>,
    /// Change of the children below the threshold, summed.
    pub other_delta: i128,
    /// How many children were folded into `other_delta`.
    pub other_count: u64,
}

/// Whether a directory was added, removed or changed between two snapshots.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ChangeStatus {
    /// In both.
    #[default]
    Changed,
    /// Only in B.
    Added,
    /// Only in A.
    Removed,
}

/// Result of `explain`.
#[derive(Clone, Debug, PartialEq, Default)]
#[non_exhaustive]
pub struct ExplainReport {
    /// Older snapshot.
    pub a: SnapshotInfo,
    /// Newer snapshot.
    pub b: SnapshotInfo,
    /// Share threshold, percent.
    pub threshold_pct: f64,
    /// The explanation, rooted at the asked path.
    pub root: ExplainNode,
}

impl ExplainReport {
    /// The explanation `root` of A → B at `threshold_pct`.
    pub fn new(a: SnapshotInfo, b: SnapshotInfo, threshold_pct: f64, root: ExplainNode) -> Self {
        ExplainReport {
            a,
            b,
            threshold_pct,
            root,
        }
    }
}

/// How trustworthy a live size is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SizeStatus {
    /// Answered from the index.
    #[default]
    Indexed,
    /// Answered from a scan made because the index could not answer.
    Scanned,
    /// The path is not inside the indexed root.
    OutsideRoot,
    /// The path is inside the root but is not an indexed directory.
    NotIndexed,
    /// Answered by the running watcher: current to its last batch.
    Live,
}

impl SizeStatus {
    /// Stable kebab-case name (`indexed`, `outside-root`, …) for text formats.
    pub fn as_str(self) -> &'static str {
        match self {
            SizeStatus::Indexed => "indexed",
            SizeStatus::Scanned => "scanned",
            SizeStatus::OutsideRoot => "outside-root",
            SizeStatus::NotIndexed => "not-indexed",
            SizeStatus::Live => "live",
        }
    }
}

/// One answer of `size`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SizeAnswer {
    /// The path asked (absolute).
    pub path: Vec<u8>,
    /// Recursive disk usage, when known.
    pub total_bytes: Option<u64>,
    /// Where the answer came from.
    pub status: SizeStatus,
}

impl SizeAnswer {
    /// The answer for `path`.
    pub fn new(path: Vec<u8>, total_bytes: Option<u64>, status: SizeStatus) -> Self {
        SizeAnswer {
            path,
            total_bytes,
            status,
        }
    }
}

/// Result of `size`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SizeReport {
    /// The index consulted.
    pub index: PathBuf,
    /// Its root, if any.
    pub root: Option<Vec<u8>>,
    /// Whether the index was found stale (older than the newest snapshot).
    pub stale: bool,
    /// Answers in the order asked.
    pub answers: Vec<SizeAnswer>,
}

impl SizeReport {
    /// Answers from the index at `index`.
    pub fn new(
        index: PathBuf,
        root: Option<Vec<u8>>,
        stale: bool,
        answers: Vec<SizeAnswer>,
    ) -> Self {
        SizeReport {
            index,
            root,
            stale,
            answers,
        }
    }
}

/// What a watcher is doing for a root.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WatcherState {
    /// Starting: answering from the index file, not yet following changes.
    Booting,
    /// Validating the root against the file system after a start.
    CatchingUp,
    /// Following changes.
    Live,
    /// Validating the root again after lost events.
    Rescanning,
    /// Parts of the root cannot be watched; they are rescanned periodically.
    Degraded,
}

impl WatcherState {
    /// The word `status` prints (`booting`, `catching-up`, `live`, `rescanning`, `degraded`).
    pub fn as_str(self) -> &'static str {
        match self {
            WatcherState::Booting => "booting",
            WatcherState::CatchingUp => "catching-up",
            WatcherState::Live => "live",
            WatcherState::Rescanning => "rescanning",
            WatcherState::Degraded => "degraded",
        }
    }

    /// The state named `word`.
    pub fn parse(word: &str) -> Option<Self> {
        [
            WatcherState::Booting,
            WatcherState::CatchingUp,
            WatcherState::Live,
            WatcherState::Rescanning,
            WatcherState::Degraded,
        ]
        .into_iter()
        .find(|s| s.as_str() == word)
    }
}

/// One root in `status`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RootStatus {
    /// The root.
    pub root: Vec<u8>,
    /// The watcher's process id, when one runs for this database and root.
    pub watcher_pid: Option<u32>,
    /// Its state, when a watcher runs.
    pub state: Option<WatcherState>,
    /// The snapshot the live state is based on.
    pub snapshot: Option<SnapshotId>,
    /// Events received since the watcher started.
    pub events: u64,
    /// Batches applied since the watcher started.
    pub batches: u64,
    /// Events received and not yet applied.
    pub queue_depth: u64,
    /// Entries in the index's in-memory overlay.
    pub overlay_entries: u64,
    /// Time of the last applied batch, ms since the epoch.
    pub last_batch_ms: Option<i64>,
    /// Time of the last index compaction, ms since the epoch.
    pub last_compaction_ms: Option<i64>,
    /// Time of the last reconcile, ms since the epoch.
    pub last_reconcile_ms: Option<i64>,
    /// Mutations logged and not yet reconciled into the store.
    pub pending_mutations: u64,
    /// Why the state is `degraded` (the limit to raise), if it is.
    pub detail: Option<String>,
}

impl RootStatus {
    /// A root with no watcher and nothing pending.
    pub fn new(root: Vec<u8>) -> Self {
        RootStatus {
            root,
            ..RootStatus::default()
        }
    }
}

/// One (host, root) pair of `fleet`: its newest snapshot and its change
/// over the period.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FleetRow {
    /// The host that took the snapshots.
    pub host: String,
    /// The scanned root.
    pub root: Vec<u8>,
    /// The newest snapshot of this host and root.
    pub snapshot: SnapshotId,
    /// When it finished, ms since the epoch.
    pub at_ms: i64,
    /// How long before the report it finished, ms (never negative).
    pub age_ms: i64,
    /// Its recursive disk usage and apparent size.
    pub size: TreeSize,
    /// Its file count.
    pub files: u64,
    /// The snapshot the change is measured from: the newest finished at or
    /// before the period's start, else the oldest within it; `None` when
    /// the newest is the only one.
    pub baseline: Option<SnapshotId>,
    /// When the baseline finished, ms since the epoch.
    pub baseline_at_ms: Option<i64>,
    /// Change of disk usage from the baseline.
    pub delta_bytes: Option<i128>,
    /// Change of apparent size from the baseline.
    pub delta_apparent: Option<i128>,
    /// Where the growth is: the deepest directory that grew by at least half
    /// the largest growth of any directory of the root (in the size kind
    /// ranked by); `None` when nothing grew.
    pub growth_path: Option<Vec<u8>>,
    /// That directory's change in the ranked size kind.
    pub growth_delta: Option<i128>,
    /// The newest snapshot is older than the report's `stale_after_ms`.
    pub stale: bool,
}

impl FleetRow {
    /// A row for `host`'s newest snapshot `snapshot` of `root`, nothing else known.
    pub fn new(host: impl Into<String>, root: Vec<u8>, snapshot: SnapshotId) -> Self {
        FleetRow {
            host: host.into(),
            root,
            snapshot,
            ..FleetRow::default()
        }
    }
}

/// Result of `fleet`: per host and root, the newest size and its change
/// over the period.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FleetReport {
    /// When the report was made, ms since the epoch.
    pub now_ms: i64,
    /// The period's start, ms since the epoch.
    pub since_ms: i64,
    /// A host whose newest snapshot is older than this many ms is stale.
    pub stale_after_ms: i64,
    /// The rows, by host and then root bytes.
    pub rows: Vec<FleetRow>,
}

impl FleetReport {
    /// A report made at `now_ms` over the period from `since_ms`.
    pub fn new(now_ms: i64, since_ms: i64, stale_after_ms: i64, rows: Vec<FleetRow>) -> Self {
        FleetReport {
            now_ms,
            since_ms,
            stale_after_ms,
            rows,
        }
    }
}

/// Result of `status`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatusReport {
    /// Every root of the database, by root bytes.
    pub roots: Vec<RootStatus>,
}

impl StatusReport {
    /// A report of `roots`.
    pub fn new(roots: Vec<RootStatus>) -> Self {
        StatusReport { roots }
    }
}

/// Disk usage and apparent size of a directory (recursive).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TreeSize {
    /// Disk usage, bytes.
    pub bytes: u64,
    /// Apparent size, bytes.
    pub apparent: u64,
}

impl TreeSize {
    /// The size of `kind`.
    pub fn of(&self, kind: SizeKind) -> u64 {
        match kind {
            SizeKind::DiskUsage => self.bytes,
            SizeKind::Apparent => self.apparent,
        }
    }
}

/// A directory of a folded tree (`show` and `diff` for reporters that draw
/// trees): the largest directories down to a readable depth and count,
/// each with the rest of its subdirectories folded into one "other" part.
/// A node's size minus its children's and its folded part is its own files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TreeNode {
    /// Absolute path.
    pub path: Vec<u8>,
    /// Recursive size (in the newer snapshot of a diff; zero when removed).
    pub size: TreeSize,
    /// In a diff: the size in the older snapshot (`None` when added, or
    /// outside a diff).
    pub before: Option<TreeSize>,
    /// Added, removed or (also unchanged, and always outside a diff) changed.
    pub status: ChangeStatus,
    /// Subdirectories shown, largest first.
    pub children: Vec<TreeNode>,
    /// Subdirectories folded into "other".
    pub folded: u64,
    /// Their total size.
    pub folded_size: TreeSize,
    /// In a diff: their total size in the older snapshot.
    pub folded_before: TreeSize,
}

impl TreeNode {
    /// A node at `path` of `size` with nothing below it yet.
    pub fn new(path: Vec<u8>, size: TreeSize) -> Self {
        TreeNode {
            path,
            size,
            ..TreeNode::default()
        }
    }

    /// This node and every node below it.
    pub fn count(&self) -> usize {
        1 + self.children.iter().map(TreeNode::count).sum::<usize>()
    }
}

/// One row of `history`: a directory's size in one snapshot, or live.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HistoryPoint {
    /// The snapshot; `None` for the live value of the index.
    pub snapshot: Option<SnapshotId>,
    /// When: the snapshot's start, or the time of the live answer (ms since the epoch).
    pub at_ms: i64,
    /// Recursive disk usage; `None` where the directory did not exist.
    pub bytes: Option<u64>,
    /// Recursive apparent size; `None` where it did not exist, or is not
    /// known (the live index keeps disk usage only).
    pub apparent: Option<u64>,
    /// Files below it; `None` where unknown.
    pub files: Option<u64>,
    /// Disk usage change from the previous row (absent counts as zero);
    /// `None` on the first row.
    pub delta_bytes: Option<i128>,
    /// Apparent size change from the previous row with an apparent size.
    pub delta_apparent: Option<i128>,
}

impl HistoryPoint {
    /// A row for `snapshot` (`None`: live) at `at_ms`, with no sizes yet.
    pub fn new(snapshot: Option<SnapshotId>, at_ms: i64) -> Self {
        HistoryPoint {
            snapshot,
            at_ms,
            ..HistoryPoint::default()
        }
    }
}

/// Result of `history`: a directory's size in every snapshot of its root,
/// oldest first, then its live value when the live index is newer.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct HistoryReport {
    /// The directory.
    pub path: Vec<u8>,
    /// The root whose snapshots these are.
    pub root: Vec<u8>,
    /// Only snapshots from this time on (ms since the epoch).
    pub since_ms: Option<i64>,
    /// The rows, oldest first.
    pub points: Vec<HistoryPoint>,
    /// Average change of disk usage per day from the first row to the last;
    /// `None` with fewer than two rows or no time between them.
    pub bytes_per_day: Option<f64>,
    /// The same for the apparent size (rows with one only).
    pub apparent_per_day: Option<f64>,
}

impl HistoryReport {
    /// A history of `path` (under `root`) from `points`, with the average
    /// growth per day computed from them.
    pub fn new(
        path: Vec<u8>,
        root: Vec<u8>,
        since_ms: Option<i64>,
        points: Vec<HistoryPoint>,
    ) -> Self {
        let per_day = |value: &dyn Fn(&HistoryPoint) -> Option<u64>| {
            let mut known = points.iter().filter_map(|p| value(p).map(|v| (p.at_ms, v)));
            let first = known.next()?;
            let last = known.last()?;
            let days = (last.0 as f64 - first.0 as f64) / 86_400_000.0;
            (days > 0.0).then(|| (last.1 as f64 - first.1 as f64) / days)
        };
        let bytes_per_day = per_day(&|p| p.bytes.or(p.snapshot.map(|_| 0)));
        let apparent_per_day = per_day(&|p| p.apparent.or(p.snapshot.map(|_| 0)));
        HistoryReport {
            path,
            root,
            since_ms,
            points,
            bytes_per_day,
            apparent_per_day,
        }
    }
}

/// Result of `log`: journal entries, newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogReport {
    /// The subtree asked about, if any.
    pub under: Option<Vec<u8>>,
    /// Only entries at or after this time.
    pub since_ms: Option<i64>,
    /// The entries.
    pub entries: Vec<crate::live::JournalEvent>,
}

impl LogReport {
    /// A log of `entries`.
    pub fn new(
        under: Option<Vec<u8>>,
        since_ms: Option<i64>,
        entries: Vec<crate::live::JournalEvent>,
    ) -> Self {
        LogReport {
            under,
            since_ms,
            entries,
        }
    }
}

/// What `reconcile` did for one root.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReconcileLine {
    /// The root.
    pub root: Vec<u8>,
    /// The snapshot the mutations were folded over.
    pub base: Option<SnapshotId>,
    /// The snapshot written; `None` when there was nothing to fold.
    pub snapshot: Option<SnapshotId>,
    /// Mutations folded.
    pub mutations: u64,
    /// Directories changed, added or removed.
    pub changed_dirs: u64,
    /// Change of the root's recursive disk usage.
    pub delta_bytes: i128,
}

impl ReconcileLine {
    /// The line for `root`.
    pub fn new(root: Vec<u8>) -> Self {
        ReconcileLine {
            root,
            ..ReconcileLine::default()
        }
    }
}

/// Result of `reconcile`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReconcileReport {
    /// One line per root.
    pub roots: Vec<ReconcileLine>,
}

impl ReconcileReport {
    /// A report of `roots`.
    pub fn new(roots: Vec<ReconcileLine>) -> Self {
        ReconcileReport { roots }
    }
}

/// What a line of a [`BenchReport`] measured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum BenchPart {
    /// A walker: walking the tree.
    #[default]
    Walker,
    /// A snapshot store: storing the walked tree as a snapshot.
    Store,
    /// A live index: building it from the walked tree.
    Index,
}

impl BenchPart {
    /// `walker`, `store` or `index`.
    pub fn as_str(self) -> &'static str {
        match self {
            BenchPart::Walker => "walker",
            BenchPart::Store => "store",
            BenchPart::Index => "index",
        }
    }
}

/// One backend's figures in `bench`. What the main operation is depends on
/// the part: a walk, a snapshot write, or an index build.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct BenchLine {
    /// Which kind of backend.
    pub part: BenchPart,
    /// Its registered name.
    pub name: String,
    /// Median wall time of the main operation, microseconds.
    pub median_us: u64,
    /// Fastest run, microseconds.
    pub min_us: u64,
    /// Slowest run, microseconds.
    pub max_us: u64,
    /// Items per second at the median: entries walked, or directories
    /// stored or indexed.
    pub per_second: f64,
    /// Peak resident memory of the process during the operation, bytes,
    /// where the kernel lets it be measured.
    pub peak_rss_bytes: Option<u64>,
    /// Bytes on disk per directory per snapshot (stores) or per directory
    /// (indexes).
    pub bytes_per_dir: Option<f64>,
    /// Median time to compute the diff of two snapshots, microseconds (stores).
    pub diff_us: Option<u64>,
    /// Median time of one lookup, nanoseconds (indexes).
    pub lookup_ns: Option<u64>,
}

impl BenchLine {
    /// A line for backend `name` of kind `part`.
    pub fn new(part: BenchPart, name: impl Into<String>) -> Self {
        BenchLine {
            part,
            name: name.into(),
            ..BenchLine::default()
        }
    }
}

/// Result of `bench`.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct BenchReport {
    /// The tree measured.
    pub root: Vec<u8>,
    /// Entries in it (directories included), as the walk counted them.
    pub entries: u64,
    /// Directories in it.
    pub dirs: u64,
    /// Timed runs per backend.
    pub runs: u32,
    /// Whether the page cache was dropped before every walk.
    pub cold: bool,
    /// Why the page cache could not be dropped, when `--cold` asked for it.
    pub cold_refused: Option<String>,
    /// One line per backend measured, walkers first.
    pub lines: Vec<BenchLine>,
}

impl BenchReport {
    /// A report on the tree at `root`.
    pub fn new(root: Vec<u8>) -> Self {
        BenchReport {
            root,
            ..BenchReport::default()
        }
    }
}

/// Result of `snapshots delete` and `snapshots prune`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeletedReport {
    /// The snapshots deleted, or with `dry_run` the ones that would be.
    pub ids: Vec<SnapshotId>,
    /// Nothing was deleted: `ids` is what would have been.
    pub dry_run: bool,
}

impl DeletedReport {
    /// Snapshots `ids` deleted (or, with `dry_run`, that would be).
    pub fn new(ids: Vec<SnapshotId>, dry_run: bool) -> Self {
        DeletedReport { ids, dry_run }
    }
}

/// One effective configuration value and where it came from.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ConfigLine {
    /// Dotted key (`scan.threads`).
    pub key: String,
    /// Value, in TOML syntax.
    pub value: String,
    /// Origin: `default`, a file path, an environment variable, or `flag`.
    pub source: String,
}

impl ConfigLine {
    /// `key = value`, from `source`.
    pub fn new(
        key: impl Into<String>,
        value: impl Into<String>,
        source: impl Into<String>,
    ) -> Self {
        ConfigLine {
            key: key.into(),
            value: value.into(),
            source: source.into(),
        }
    }
}

/// Typed report data handed to a [`Reporter`].
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Report<'a> {
    /// `scan`.
    Scan(&'a ScanReport),
    /// `show`.
    Top(&'a TopReport),
    /// `snapshots`.
    Snapshots(&'a [SnapshotInfo]),
    /// `snapshots delete` / `snapshots prune`.
    Deleted(&'a DeletedReport),
    /// `diff`.
    Diff(&'a DiffReport),
    /// `explain`.
    Explain(&'a ExplainReport),
    /// `size`.
    Sizes(&'a SizeReport),
    /// `plugins`.
    Plugins(&'a [PluginInfo]),
    /// `config`.
    Config(&'a [ConfigLine]),
    /// `status`.
    Status(&'a StatusReport),
    /// `log`.
    Log(&'a LogReport),
    /// `reconcile`.
    Reconcile(&'a ReconcileReport),
    /// `bench`.
    Bench(&'a BenchReport),
    /// `history`.
    History(&'a HistoryReport),
    /// `fleet`.
    Fleet(&'a FleetReport),
}

/// The kinds of [`Report`], for a reporter to declare what it renders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ReportKind {
    /// [`Report::Scan`].
    Scan,
    /// [`Report::Top`].
    Top,
    /// [`Report::Snapshots`].
    Snapshots,
    /// [`Report::Deleted`].
    Deleted,
    /// [`Report::Diff`].
    Diff,
    /// [`Report::Explain`].
    Explain,
    /// [`Report::Sizes`].
    Sizes,
    /// [`Report::Plugins`].
    Plugins,
    /// [`Report::Config`].
    Config,
    /// [`Report::Status`].
    Status,
    /// [`Report::Log`].
    Log,
    /// [`Report::Reconcile`].
    Reconcile,
    /// [`Report::Bench`].
    Bench,
    /// [`Report::History`].
    History,
    /// [`Report::Fleet`].
    Fleet,
}

impl ReportKind {
    /// Every kind this version of the API knows. A reporter registered with
    /// `ALL` claims the kinds of the API version it is built against, so it
    /// must render (or decline with [`unsupported`]) kinds added later.
    pub const ALL: &'static [ReportKind] = &[
        ReportKind::Scan,
        ReportKind::Top,
        ReportKind::Snapshots,
        ReportKind::Deleted,
        ReportKind::Diff,
        ReportKind::Explain,
        ReportKind::Sizes,
        ReportKind::Plugins,
        ReportKind::Config,
        ReportKind::Status,
        ReportKind::Log,
        ReportKind::Reconcile,
        ReportKind::Bench,
        ReportKind::History,
        ReportKind::Fleet,
    ];

    /// A short name (`scan`, `top`, …), as used in JSON and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportKind::Scan => "scan",
            ReportKind::Top => "top",
            ReportKind::Snapshots => "snapshots",
            ReportKind::Deleted => "deleted",
            ReportKind::Diff => "diff",
            ReportKind::Explain => "explain",
            ReportKind::Sizes => "sizes",
            ReportKind::Plugins => "plugins",
            ReportKind::Config => "config",
            ReportKind::Status => "status",
            ReportKind::Log => "log",
            ReportKind::Reconcile => "reconcile",
            ReportKind::Bench => "bench",
            ReportKind::History => "history",
            ReportKind::Fleet => "fleet",
        }
    }
}

impl std::fmt::Display for ReportKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Report<'_> {
    /// The kind of this report.
    pub fn kind(&self) -> ReportKind {
        match self {
            Report::Scan(_) => ReportKind::Scan,
            Report::Top(_) => ReportKind::Top,
            Report::Snapshots(_) => ReportKind::Snapshots,
            Report::Deleted(_) => ReportKind::Deleted,
            Report::Diff(_) => ReportKind::Diff,
            Report::Explain(_) => ReportKind::Explain,
            Report::Sizes(_) => ReportKind::Sizes,
            Report::Plugins(_) => ReportKind::Plugins,
            Report::Config(_) => ReportKind::Config,
            Report::Status(_) => ReportKind::Status,
            Report::Log(_) => ReportKind::Log,
            Report::Reconcile(_) => ReportKind::Reconcile,
            Report::Bench(_) => ReportKind::Bench,
            Report::History(_) => ReportKind::History,
            Report::Fleet(_) => ReportKind::Fleet,
        }
    }
}

/// Renders reports to a writer: the plugin trait behind `--format NAME`.
///
/// A reporter receives typed data, never preformatted text, and turns it into
/// bytes. The rules every reporter keeps:
///
/// * **Never panic**, whatever the data: sizes near `u64::MAX`, deltas near
///   `i128::MIN`, empty lists, times before 1970 or far outside any
///   calendar, text in any script. [`crate::human`] formats sizes, deltas,
///   percentages and times totally, the way the built-in reporters do.
/// * **Paths are bytes** (`Vec<u8>`): they may not be UTF-8 and may hold
///   newlines, tabs, terminal escape sequences or bidirectional overrides
///   (`U+202E`). Never `unwrap` a UTF-8 conversion. Print them with
///   [`crate::path::escape_bytes`] (one line, safe on a terminal, reversible
///   with [`crate::path::unescape`]), or carry the bytes losslessly (JSON
///   sends `{"bytes": base64}` for a path that is not UTF-8).
/// * **Other text from outside is escaped too**: host and walker names, OS
///   messages of [`IssueLine`], plugin names and summaries, configuration
///   keys, values and origins go through [`crate::path::escape_text`]. A
///   format that escapes on its own must still not write control or bidi
///   characters raw (the JSON reporter writes them as `\uXXXX`).
/// * **Return I/O errors from `out` as they come**, unchanged: the host
///   turns a closed pipe into a quiet exit. Lay a report out in memory and
///   write it once if a half-written line would mislead.
/// * **Declare what you render** in the registration
///   ([`ReporterPlugin::new`](crate::registry::ReporterPlugin::new)'s
///   `renders`): the host checks it before a command changes anything, so a
///   command never deletes or stores and then fails to report. For a
///   [`Report`] you do not render — including kinds added by a later API
///   version, since `Report` is `#[non_exhaustive]` — return [`unsupported`].
/// * **Settings** come from the `[plugins.NAME]` table you declare
///   ([`crate::settings`]) and are handed to your factory, which returns a
///   [`crate::ErrorKind::Config`] error (from the typed getters) for a bad value.
/// * **Register** with [`register_reporter!`](crate::register_reporter), and
///   link the crate into a binary by naming it (`use my_reporter as _;`):
///   see the crate documentation on the linking pitfall.
/// * **Rank nothing yourself**: rows arrive ranked by the size kind of
///   [`RenderOptions::size_kind`]; show that kind
///   ([`crate::DirStats::total`], [`crate::DiffEntry::delta`]).
///
/// A whole reporter, registered:
///
/// ```
/// use std::io::{self, Write};
/// use disktracker::registry::ReporterPlugin;
/// use disktracker::report::{ReportKind, unsupported};
/// use disktracker::settings::{PluginSettings, SettingSpec};
/// use disktracker::{RenderOptions, Report, Reporter, Result};
///
/// /// Prints the number of snapshots, or of rows.
/// struct Count { label: String }
///
/// impl Reporter for Count {
///     fn render(&self, report: &Report<'_>, _: &RenderOptions, out: &mut dyn Write) -> io::Result<()> {
///         match report {
///             Report::Snapshots(s) => writeln!(out, "{}: {}", self.label, s.len()),
///             Report::Top(t) => writeln!(out, "{}: {}", self.label, t.rows.len()),
///             _ => Err(unsupported("count", report)),
///         }
///     }
/// }
///
/// const SETTINGS: &[SettingSpec] = &[SettingSpec::new("label", "\"count\"", "Printed before the number.")];
///
/// fn create(settings: &PluginSettings) -> Result<Box<dyn Reporter>> {
///     Ok(Box::new(Count { label: settings.string("label")? }))
/// }
///
/// disktracker::register_reporter!(
///     ReporterPlugin::new("count", "How many", &[ReportKind::Snapshots, ReportKind::Top], create)
///         .settings(SETTINGS)
/// );
///
/// let plugin = disktracker::registry::reporters().unwrap().get("count").unwrap();
/// assert!(plugin.renders(ReportKind::Top) && !plugin.renders(ReportKind::Diff));
/// let reporter = (plugin.create)(&PluginSettings::defaults("count", SETTINGS).unwrap()).unwrap();
/// let mut out = Vec::new();
/// reporter.render(&Report::Snapshots(&[]), &RenderOptions::default(), &mut out).unwrap();
/// assert_eq!(out, b"count: 0\n");
/// ```
pub trait Reporter: Send + Sync {
    /// Writes `report`. A reporter that cannot render a kind returns an
    /// [`io::ErrorKind::Unsupported`] error saying so ([`unsupported`]).
    fn render(
        &self,
        report: &Report<'_>,
        opts: &RenderOptions,
        out: &mut dyn Write,
    ) -> io::Result<()>;
}

/// The error a reporter returns for a report kind it does not render.
pub fn unsupported(reporter: &str, report: &Report<'_>) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!(
            "the {reporter} reporter does not render {} reports",
            report.kind()
        ),
    )
}
