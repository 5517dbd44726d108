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
}

impl TopReport {
    /// The largest `rows` below `under` in `snapshot`.
    pub fn new(snapshot: SnapshotInfo, under: DirRecord, rows: Vec<DirRecord>) -> Self {
        TopReport {
            snapshot,
            under,
            rows,
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
}

impl SizeStatus {
    /// Stable kebab-case name (`indexed`, `outside-root`, …) for text formats.
    pub fn as_str(self) -> &'static str {
        match self {
            SizeStatus::Indexed => "indexed",
            SizeStatus::Scanned => "scanned",
            SizeStatus::OutsideRoot => "outside-root",
            SizeStatus::NotIndexed => "not-indexed",
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
