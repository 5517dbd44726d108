//! Data of the live half: what a watcher logs, journals and remembers, what
//! `reconcile` folds back into the store, and the provenance of the live
//! index file.
//!
//! A watcher keeps every directory of a watched root current. Each batch of
//! filesystem changes becomes a [`LiveBatch`]: the directories whose stats
//! changed, *with their new recursive totals already propagated to every
//! ancestor* ([`Mutation::Upsert`]), the subtrees that disappeared
//! ([`Mutation::RemoveSubtree`]), and a human-level journal of what happened
//! ([`JournalEvent`]). Folding the mutations in log order over the snapshot
//! they started from — remove each removed subtree, then write each upserted
//! directory, last write wins — gives exactly the tree a fresh scan would.
//! `reconcile` does that through [`crate::SnapshotStore::derive_snapshot`].

use serde::{Deserialize, Serialize};

use crate::model::{DirRecord, SnapshotId};

/// One change to a watched tree, as logged in `mutation_log`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mutation {
    /// A directory now has these stats (recursive totals included); it may be new.
    Upsert {
        /// When the change was seen, ms since the Unix epoch.
        time_ms: i64,
        /// The directory and its complete new stats.
        record: DirRecord,
        /// Its recursive disk usage before, when it existed.
        old_total: Option<u64>,
    },
    /// A directory and everything below it are gone (deleted or moved away).
    RemoveSubtree {
        /// When the change was seen, ms since the Unix epoch.
        time_ms: i64,
        /// The removed directory.
        path: Vec<u8>,
        /// Its recursive disk usage before, when known.
        old_total: Option<u64>,
    },
}

impl Mutation {
    /// The directory concerned.
    pub fn path(&self) -> &[u8] {
        match self {
            Mutation::Upsert { record, .. } => &record.path,
            Mutation::RemoveSubtree { path, .. } => path,
        }
    }

    /// When the change was seen, ms since the Unix epoch.
    pub fn time_ms(&self) -> i64 {
        match self {
            Mutation::Upsert { time_ms, .. } | Mutation::RemoveSubtree { time_ms, .. } => *time_ms,
        }
    }
}

/// A mutation as stored, with its position in the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedMutation {
    /// Its id in the log: positive, increasing in append order, never reused.
    pub id: i64,
    /// The mutation.
    pub mutation: Mutation,
}

/// What a journal entry says happened to a directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum JournalKind {
    /// The directory appeared (created or moved in).
    Created,
    /// Its contents changed size.
    Grew,
    /// Its contents shrank.
    Shrank,
    /// Its contents changed without changing its size.
    Changed,
    /// It disappeared (deleted or moved out).
    Removed,
    /// It was renamed within the watched tree.
    Renamed,
    /// Events were lost and the tree was revalidated.
    Rescanned,
}

impl JournalKind {
    /// Every kind, in code order.
    pub const ALL: [JournalKind; 7] = [
        JournalKind::Created,
        JournalKind::Grew,
        JournalKind::Shrank,
        JournalKind::Changed,
        JournalKind::Removed,
        JournalKind::Renamed,
        JournalKind::Rescanned,
    ];

    /// The stable small integer stored in `fs_events.event_type`.
    pub fn code(self) -> i64 {
        match self {
            JournalKind::Created => 1,
            JournalKind::Grew => 2,
            JournalKind::Shrank => 3,
            JournalKind::Changed => 4,
            JournalKind::Removed => 5,
            JournalKind::Renamed => 6,
            JournalKind::Rescanned => 7,
        }
    }

    /// The kind stored as `code`, if any.
    pub fn from_code(code: i64) -> Option<Self> {
        JournalKind::ALL.into_iter().find(|k| k.code() == code)
    }

    /// Lower-case name, as `disktracker log` prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            JournalKind::Created => "created",
            JournalKind::Grew => "grew",
            JournalKind::Shrank => "shrank",
            JournalKind::Changed => "changed",
            JournalKind::Removed => "removed",
            JournalKind::Renamed => "renamed",
            JournalKind::Rescanned => "rescanned",
        }
    }
}

/// One directory-level change in the event journal (`fs_events`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEvent {
    /// When, ms since the Unix epoch.
    pub time_ms: i64,
    /// What happened.
    pub kind: JournalKind,
    /// The directory (or, for a file-level entry, the file).
    pub path: Vec<u8>,
    /// Change of its recursive disk usage, when known.
    pub delta_bytes: Option<i64>,
    /// Whether `path` is a directory.
    pub is_dir: bool,
}

/// Which journal entries to read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct JournalQuery {
    /// Only entries at or after this time (ms since the epoch).
    pub since_ms: Option<i64>,
    /// Only entries before this time (ms since the epoch).
    pub until_ms: Option<i64>,
    /// Only entries for this path or below it (component-wise).
    pub under: Option<Vec<u8>>,
    /// At most this many entries (the newest).
    pub limit: Option<usize>,
}

impl JournalQuery {
    /// Every entry.
    pub fn all() -> Self {
        Self::default()
    }

    /// Only entries at or after `ms`.
    pub fn since(mut self, ms: i64) -> Self {
        self.since_ms = Some(ms);
        self
    }

    /// Only entries before `ms`.
    pub fn until(mut self, ms: i64) -> Self {
        self.until_ms = Some(ms);
        self
    }

    /// Only entries for `path` or below it.
    pub fn under(mut self, path: impl Into<Vec<u8>>) -> Self {
        self.under = Some(path.into());
        self
    }

    /// At most `n` entries, the newest.
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }
}

/// One directory's change recorded by `reconcile` (`dir_deltas`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirDelta {
    /// The snapshot the change was folded into.
    pub snapshot: SnapshotId,
    /// The directory.
    pub path: Vec<u8>,
    /// Recursive disk usage in the base snapshot, if it was there.
    pub previous_bytes: Option<u64>,
    /// Recursive disk usage now (0 when removed).
    pub current_bytes: u64,
    /// When it was recorded, ms since the epoch.
    pub recorded_at_ms: i64,
}

impl DirDelta {
    /// Current minus previous (an absent side counts as 0).
    pub fn delta_bytes(&self) -> i128 {
        i128::from(self.current_bytes) - i128::from(self.previous_bytes.unwrap_or(0))
    }
}

/// What the store remembers about one watched root (`watch_state`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchState {
    /// The watched root, absolute path bytes.
    pub root: Vec<u8>,
    /// Time of the last filesystem event handled, ms since the epoch.
    pub last_event_ms: Option<i64>,
    /// Time of the last reconcile, ms since the epoch.
    pub last_reconcile_ms: Option<i64>,
    /// The snapshot the live state of this root is based on.
    pub last_snapshot: Option<SnapshotId>,
    /// Id of the last mutation already folded into `last_snapshot` (0: none).
    pub mutation_cursor: i64,
}

/// One watcher batch, appended in one transaction: mutations, journal
/// entries, and (optionally) the root's new watch state.
#[derive(Clone, Copy, Debug, Default)]
pub struct LiveBatch<'a> {
    /// Appended to `mutation_log` in this order.
    pub mutations: &'a [Mutation],
    /// Appended to `fs_events`.
    pub events: &'a [JournalEvent],
    /// Replaces the stored state of `watch_state.root`.
    pub watch_state: Option<&'a WatchState>,
}

/// A snapshot derived from a stored one by a set of changes; the store copies
/// every unchanged directory itself. Written in one transaction together with
/// `deltas` and `watch_state`, so `reconcile` is all or nothing.
#[derive(Clone, Copy, Debug)]
pub struct DerivedSnapshot<'a> {
    /// The snapshot to start from.
    pub base: SnapshotId,
    /// The new snapshot's description (same root as the base). Its
    /// `dir_count` and `error_count` are not taken from here: the store
    /// counts the rows it writes (the caller would need a pass over the
    /// whole base to know them).
    pub meta: &'a crate::model::SnapshotMeta,
    /// Subtrees of the base left out (each path and everything below it).
    pub removed: &'a [Vec<u8>],
    /// Directories written over the base, or added, in strictly increasing
    /// bytewise path order; applied after `removed`.
    pub upserts: &'a [DirRecord],
    /// Recorded in `dir_deltas` against the new snapshot (their `snapshot`
    /// field is ignored).
    pub deltas: &'a [DirDelta],
    /// Replaces the stored state of `watch_state.root`; its `last_snapshot`
    /// is set to the new snapshot's id.
    pub watch_state: Option<&'a WatchState>,
}

/// Which snapshot of each root a published live index holds, and the file's
/// identity, recorded by the writer when the file is published and compared
/// exactly by every reader: any difference means the file is not the one
/// recorded (rewritten, restored, half-written, or of an older scan).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexProvenance {
    /// `(root, snapshot)` for every root in the file, sorted by root bytes.
    pub snapshots: Vec<(Vec<u8>, SnapshotId)>,
    /// The file also holds every logged mutation up to this id (a watcher
    /// compacted its live changes into it); 0 when it holds only snapshots.
    pub mutation_cursor: i64,
    /// File length in bytes.
    pub len: u64,
    /// Device and inode of the file.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Modification time, ns since the epoch.
    pub mtime_ns: i64,
    /// Checksum of the whole file (the index plugin's choice of function).
    pub checksum: u64,
}
