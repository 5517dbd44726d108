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
pub struct RenderOptions {
    /// Which size to show (and which the rows were ranked by).
    pub size_kind: SizeKind,
}

/// A problem met during a scan, for display.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssueLine {
    /// Absolute path concerned.
    pub path: Vec<u8>,
    /// What was being done.
    pub op: String,
    /// The OS error.
    pub message: String,
}

/// Result of `scan`: the stored snapshot and its largest directories.
#[derive(Clone, Debug, PartialEq, Eq)]
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

/// What a warm rescan found changed since the previous snapshot of its root.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopReport {
    /// The snapshot read.
    pub snapshot: SnapshotInfo,
    /// The directory the rows are under (included as the first row's reference total).
    pub under: DirRecord,
    /// Largest directories below `under`, largest first.
    pub rows: Vec<DirRecord>,
}

/// Result of `diff`.
#[derive(Clone, Debug, PartialEq, Eq)]
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
}

/// One contributor in an explanation tree.
#[derive(Clone, Debug, PartialEq)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeStatus {
    /// In both.
    Changed,
    /// Only in B.
    Added,
    /// Only in A.
    Removed,
}

/// Result of `explain`.
#[derive(Clone, Debug, PartialEq)]
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

/// How trustworthy a live size is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SizeStatus {
    /// Answered from the index.
    Indexed,
    /// Answered from a scan made because the index could not answer.
    Scanned,
    /// The path is not inside the indexed root.
    OutsideRoot,
    /// The path is inside the root but is not an indexed directory.
    NotIndexed,
}

/// One answer of `size`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SizeAnswer {
    /// The path asked (absolute).
    pub path: Vec<u8>,
    /// Recursive disk usage, when known.
    pub total_bytes: Option<u64>,
    /// Where the answer came from.
    pub status: SizeStatus,
}

/// Result of `size`.
#[derive(Clone, Debug, PartialEq, Eq)]
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

/// One effective configuration value and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigLine {
    /// Dotted key (`scan.threads`).
    pub key: String,
    /// Value, in TOML syntax.
    pub value: String,
    /// Origin: `default`, a file path, an environment variable, or `flag`.
    pub source: String,
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
    /// `snapshots delete` / `snapshots prune`: the ids removed.
    Deleted(&'a [SnapshotId]),
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
}

impl Report<'_> {
    /// A short name of the report kind (`scan`, `top`, …), as used in JSON.
    pub fn kind(&self) -> &'static str {
        match self {
            Report::Scan(_) => "scan",
            Report::Top(_) => "top",
            Report::Snapshots(_) => "snapshots",
            Report::Deleted(_) => "deleted",
            Report::Diff(_) => "diff",
            Report::Explain(_) => "explain",
            Report::Sizes(_) => "sizes",
            Report::Plugins(_) => "plugins",
            Report::Config(_) => "config",
        }
    }
}

/// Renders reports to a writer.
pub trait Reporter: Send + Sync {
    /// Writes `report`. A reporter that cannot render a kind returns an
    /// [`io::ErrorKind::Unsupported`] error saying so.
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
            "the {reporter} reporter cannot render {} reports; use --format table or json",
            report.kind()
        ),
    )
}
