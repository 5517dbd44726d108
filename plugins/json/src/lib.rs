//! The `json` reporter: one JSON document per report, stable and versioned.
//!
//! The schema is defined here, by the `J*` structs below, and not derived
//! from the data model, so that internal refactoring cannot change it. Any
//! incompatible change bumps [`SCHEMA_VERSION`].
//!
//! # Schema (version 1)
//!
//! Every document is one line (so a stream of them is also JSON Lines) and is
//! an object with:
//!
//! - `"schema_version": 1`, `"kind"`: the report kind (`scan`, `top`,
//!   `snapshots`, `deleted`, `diff`, `explain`, `sizes`, `plugins`, `config`),
//!   and `"size_kind"`: `"disk-usage"` or `"apparent"`, the size the rows were
//!   ranked by and that the single-kind fields of `explain` refer to;
//! - the report's own fields, next to those three.
//!
//! Conventions:
//!
//! - **Paths** are lossless, as in ripgrep's JSON output: `{"text": "..."}`
//!   when the bytes are valid UTF-8, else `{"bytes": "<base64>"}` (standard
//!   alphabet, padded).
//! - **Text** (paths' `text`, host and walker names, messages, configuration
//!   values) is exact: a JSON parser gives back the very string. Characters
//!   that could make the raw document lie on a terminal — control
//!   characters (JSON escapes C0 anyway; DEL and C1 too here), bidi
//!   embeddings, overrides and isolates such as U+202E, zero-width and other
//!   format characters, line and paragraph separators — are written as
//!   `\uXXXX` escapes (the set [`disktracker::path::escape_text`] escapes),
//!   so the document itself never holds them raw.
//! - **Sizes** are integer bytes. Wherever the data has both, both are given:
//!   `disk_usage` (allocated bytes, like `du`) and `apparent_size` (`st_size`).
//!   A size absent on one side of a diff is `null`.
//! - **Deltas** (B minus A) are exact signed integers. They can exceed the
//!   `i64` range only if one directory changed by more than 8 EiB; they are
//!   then still written exactly (never saturated), so a consumer that parses
//!   numbers into `i64` should be ready for it. JavaScript-style consumers lose
//!   precision above 2^53 bytes (8 PiB), as they do for every size.
//! - **Times** are integer milliseconds since the Unix epoch (UTC).
//! - **Percentages** are floats; one that is not finite is `null`.
//! - Directory fingerprints are internal and not exported.
//!
//! Objects:
//!
//! - snapshot: `id, root, started_at_ms, finished_at_ms, host, walker, files,
//!   directories, errors, disk_usage, apparent_size`
//! - directory: `path, depth, disk_usage, apparent_size, direct_disk_usage,
//!   direct_apparent_size, files, direct_files, subdirectories, errors,
//!   mtime_ns, dev, ino`
//! - diff entry: `path, status ("added" | "removed" | "changed"),
//!   disk_usage_before, disk_usage_after, disk_usage_delta,
//!   apparent_size_before, apparent_size_after, apparent_size_delta`
//! - explain node: a diff entry plus `direct_delta, share_pct, other_delta,
//!   other_count` (in `size_kind`) and `children` (explain nodes)
//!
//! Reports:
//!
//! - `scan`: `snapshot, duration_ms, top` (directories), `issues`
//!   (`path, op, message`), `since` (null on a first scan, else `previous,
//!   changed_directories, added_directories, removed_directories,
//!   rewritten_directories, disk_usage_delta, apparent_size_delta`)
//! - `top`: `snapshot, under` (directory), `rows` (directories)
//! - `snapshots`: `snapshots`; `deleted`: `deleted` (ids)
//! - `diff`: `a, b` (snapshots), `under` (path), `changed`, `entries`
//! - `explain`: `a, b, threshold_pct, root` (the whole tree)
//! - `sizes`: `index` (path), `root` (path or null), `stale`, `answers`
//!   (`path, status ("indexed" | "scanned" | "outside-root" | "not-indexed"),
//!   disk_usage` or null)
//! - `plugins`: `plugins` (`kind, name, summary`); `config`: `config`
//!   (`key, value, source`)
//! - `status`: `roots` (`root` (path), `watcher_pid` (null when no watcher
//!   runs), `state` (`"booting" | "catching-up" | "live" | "rescanning" |
//!   "degraded"`, null when no watcher runs), `snapshot`, `events`,
//!   `batches`, `queue_depth`, `overlay_entries`, `pending_mutations`,
//!   `last_batch_ms`, `last_compaction_ms`, `last_reconcile_ms`, `detail`)
//! - `log`: `under` (path or null), `since_ms`, `entries` (`time_ms, kind
//!   ("created" | "grew" | "shrank" | "changed" | "removed" | "renamed" |
//!   "rescanned"), path, is_dir, disk_usage_delta` (null when unknown))
//! - `history`: `path, root` (paths), `since_ms`, `points` (oldest first:
//!   `snapshot` (null for the live row), `time_ms, disk_usage,
//!   apparent_size, files` (null where absent or unknown),
//!   `disk_usage_delta, apparent_size_delta` (null on the first row)),
//!   `disk_usage_per_day, apparent_size_per_day` (null when unknown)
//! - `fleet`: `time_ms, since_ms, stale_after_ms`, `rows` (by host, then
//!   root: `host`, `root` (path), `snapshot, time_ms, age_ms, stale,
//!   disk_usage, apparent_size, files`, `baseline, baseline_time_ms,
//!   disk_usage_delta, apparent_size_delta` (null without an older
//!   snapshot in the period), `growth_path` (path or null), `growth_delta`)
//! - `reconcile`: `roots` (`root` (path), `base`, `snapshot` (null when
//!   nothing was folded), `mutations, changed_directories, disk_usage_delta`)
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::io::{self, Write};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use disktracker::model::{DiffEntry, DirRecord, SizeKind, SnapshotInfo};
use disktracker::path::{escape_text, path_bytes};
use disktracker::report::{
    BenchLine, BenchReport, ChangeStatus, ConfigLine, DiffReport, ExplainNode, ExplainReport,
    FleetReport, HistoryReport, IssueLine, LogReport, ReconcileLine, ReconcileReport, RootStatus,
    ScanReport, SizeAnswer, SizeReport, StatusReport, TopReport, unsupported,
};
use disktracker::{PluginInfo, RenderOptions, Report, Reporter, SnapshotId};
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

disktracker::register_reporter!(disktracker::registry::ReporterPlugin::new(
    "json",
    "one versioned JSON document per report; paths are lossless",
    disktracker::ReportKind::ALL,
    |_| Ok(Box::new(JsonReporter))
));

/// Version of the document schema; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// The `json` reporter.
#[derive(Clone, Copy, Debug, Default)]
pub struct JsonReporter;

impl Reporter for JsonReporter {
    fn render(
        &self,
        report: &Report<'_>,
        opts: &RenderOptions,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        let kind = opts.size_kind;
        let mut w = io::BufWriter::new(out);
        match *report {
            Report::Scan(r) => emit(&mut w, report, kind, JScan::new(r)),
            Report::Top(r) => emit(&mut w, report, kind, JTop::new(r)),
            Report::Snapshots(r) => emit(
                &mut w,
                report,
                kind,
                JSnapshots {
                    snapshots: r.iter().map(JSnapshot::new).collect(),
                },
            ),
            Report::Deleted(r) => emit(
                &mut w,
                report,
                kind,
                JDeleted {
                    deleted: &r.ids,
                    dry_run: r.dry_run,
                },
            ),
            Report::Diff(r) => emit(&mut w, report, kind, JDiff::new(r)),
            Report::Explain(r) => emit(&mut w, report, kind, JExplain::new(r)),
            Report::Sizes(r) => emit(&mut w, report, kind, JSizes::new(r)),
            Report::Plugins(r) => emit(
                &mut w,
                report,
                kind,
                JPlugins {
                    plugins: r.iter().map(JPlugin::new).collect(),
                },
            ),
            Report::Config(r) => emit(
                &mut w,
                report,
                kind,
                JConfig {
                    config: r.iter().map(JConfigLine::new).collect(),
                },
            ),
            Report::Status(r) => emit(&mut w, report, kind, JWatchStatus::new(r)),
            Report::Log(r) => emit(&mut w, report, kind, JLog::new(r)),
            Report::Reconcile(r) => emit(&mut w, report, kind, JReconcile::new(r)),
            Report::Bench(r) => emit(&mut w, report, kind, JBench::new(r)),
            Report::History(r) => emit(&mut w, report, kind, JHistory::new(r)),
            Report::Fleet(r) => emit(&mut w, report, kind, JFleet::new(r)),
            _ => return Err(unsupported("json", report)),
        }?;
        w.flush()
    }
}

/// Writes one document: the envelope's three fields, then `data`'s, then a newline.
fn emit<T: Serialize>(
    w: &mut impl Write,
    report: &Report<'_>,
    kind: SizeKind,
    data: T,
) -> io::Result<()> {
    let doc = Envelope {
        schema_version: SCHEMA_VERSION,
        kind: report.kind().as_str(),
        size_kind: size_kind_name(kind),
        data,
    };
    let mut ser = serde_json::Serializer::with_formatter(&mut *w, SafeText);
    doc.serialize(&mut ser)?;
    w.write_all(b"\n")
}

/// serde_json's compact output, except that string contents are written
/// with a `\uXXXX` escape for every character `escape_text` would escape
/// (see "Text" in the crate docs). serde_json itself escapes `"`, `\\` and
/// C0 before a fragment gets here.
struct SafeText;

impl serde_json::ser::Formatter for SafeText {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        // One pass over the common, clean fragment; char by char only when
        // something in it needs escaping.
        if matches!(escape_text(fragment), std::borrow::Cow::Borrowed(_)) {
            return writer.write_all(fragment.as_bytes());
        }
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if shown_escaped(c) {
                writer.write_all(&fragment.as_bytes()[start..i])?;
                for unit in c.encode_utf16(&mut [0; 2]) {
                    write!(writer, "\\u{unit:04x}")?;
                }
                start = i + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

/// Whether the one escaping of outside text prints `c` other than as itself.
fn shown_escaped(c: char) -> bool {
    matches!(
        escape_text(c.encode_utf8(&mut [0; 4])),
        std::borrow::Cow::Owned(_)
    )
}

/// The `size_kind` value (the same spelling as the `--apparent-size`
/// configuration uses, but fixed here so the schema owns it).
fn size_kind_name(kind: SizeKind) -> &'static str {
    match kind {
        SizeKind::DiskUsage => "disk-usage",
        SizeKind::Apparent => "apparent",
    }
}

#[derive(Serialize)]
struct Envelope<T> {
    schema_version: u32,
    kind: &'static str,
    size_kind: &'static str,
    #[serde(flatten)]
    data: T,
}

/// A path: `{"text": ...}` if UTF-8, else `{"bytes": base64}` (ripgrep's rule).
#[derive(Serialize)]
#[serde(rename_all = "lowercase")]
enum JPath<'a> {
    Text(&'a str),
    Bytes(String),
}

impl<'a> JPath<'a> {
    fn new(b: &'a [u8]) -> Self {
        match std::str::from_utf8(b) {
            Ok(s) => JPath::Text(s),
            Err(_) => JPath::Bytes(STANDARD.encode(b)),
        }
    }
}

#[derive(Serialize)]
struct JSnapshot<'a> {
    id: SnapshotId,
    root: JPath<'a>,
    started_at_ms: i64,
    finished_at_ms: i64,
    host: &'a str,
    walker: &'a str,
    files: u64,
    directories: u64,
    errors: u64,
    disk_usage: u64,
    apparent_size: u64,
}

impl<'a> JSnapshot<'a> {
    fn new(s: &'a SnapshotInfo) -> Self {
        let m = &s.meta;
        JSnapshot {
            id: s.id,
            root: JPath::new(&m.root),
            started_at_ms: m.started_at_ms,
            finished_at_ms: m.finished_at_ms,
            host: &m.host,
            walker: &m.walker,
            files: m.total_files,
            directories: m.dir_count,
            errors: m.error_count,
            disk_usage: m.total_bytes,
            apparent_size: m.total_apparent,
        }
    }
}

#[derive(Serialize)]
struct JDir<'a> {
    path: JPath<'a>,
    depth: u32,
    disk_usage: u64,
    apparent_size: u64,
    direct_disk_usage: u64,
    direct_apparent_size: u64,
    files: u64,
    direct_files: u64,
    subdirectories: u64,
    errors: u64,
    mtime_ns: i64,
    dev: u64,
    ino: u64,
}

impl<'a> JDir<'a> {
    fn new(d: &'a DirRecord) -> Self {
        let s = &d.stats;
        JDir {
            path: JPath::new(&d.path),
            depth: d.depth,
            disk_usage: s.total_bytes,
            apparent_size: s.total_apparent,
            direct_disk_usage: s.direct_bytes,
            direct_apparent_size: s.direct_apparent,
            files: s.file_count,
            direct_files: s.direct_files,
            subdirectories: s.child_count,
            errors: s.error_count,
            mtime_ns: s.mtime_ns,
            dev: s.dev,
            ino: s.ino,
        }
    }
}

#[derive(Serialize)]
struct JIssue<'a> {
    path: JPath<'a>,
    op: &'a str,
    message: &'a str,
}

impl<'a> JIssue<'a> {
    fn new(i: &'a IssueLine) -> Self {
        JIssue {
            path: JPath::new(&i.path),
            op: &i.op,
            message: &i.message,
        }
    }
}

#[derive(Serialize)]
struct JScan<'a> {
    snapshot: JSnapshot<'a>,
    duration_ms: u64,
    top: Vec<JDir<'a>>,
    issues: Vec<JIssue<'a>>,
    since: Option<JSince>,
}

/// Changes since the previous snapshot of the same root (`null` on a first scan).
#[derive(Serialize)]
struct JSince {
    previous: SnapshotId,
    changed_directories: u64,
    added_directories: u64,
    removed_directories: u64,
    rewritten_directories: u64,
    disk_usage_delta: i128,
    apparent_size_delta: i128,
}

impl<'a> JScan<'a> {
    fn new(r: &'a ScanReport) -> Self {
        JScan {
            snapshot: JSnapshot::new(&r.snapshot),
            duration_ms: r.duration_ms,
            top: r.top.iter().map(JDir::new).collect(),
            issues: r.issues.iter().map(JIssue::new).collect(),
            since: r.since.as_ref().map(|c| JSince {
                previous: c.previous,
                changed_directories: c.changed_dirs,
                added_directories: c.added_dirs,
                removed_directories: c.removed_dirs,
                rewritten_directories: c.rewritten_dirs,
                disk_usage_delta: c.delta_bytes,
                apparent_size_delta: c.delta_apparent,
            }),
        }
    }
}

#[derive(Serialize)]
struct JTop<'a> {
    snapshot: JSnapshot<'a>,
    under: JDir<'a>,
    rows: Vec<JDir<'a>>,
}

impl<'a> JTop<'a> {
    fn new(r: &'a TopReport) -> Self {
        JTop {
            snapshot: JSnapshot::new(&r.snapshot),
            under: JDir::new(&r.under),
            rows: r.rows.iter().map(JDir::new).collect(),
        }
    }
}

#[derive(Serialize)]
struct JSnapshots<'a> {
    snapshots: Vec<JSnapshot<'a>>,
}

#[derive(Serialize)]
struct JDeleted<'a> {
    deleted: &'a [SnapshotId],
    dry_run: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "lowercase")]
enum JStatus {
    Added,
    Removed,
    Changed,
}

impl From<ChangeStatus> for JStatus {
    fn from(s: ChangeStatus) -> Self {
        match s {
            ChangeStatus::Added => JStatus::Added,
            ChangeStatus::Removed => JStatus::Removed,
            ChangeStatus::Changed => JStatus::Changed,
        }
    }
}

#[derive(Serialize)]
struct JEntry<'a> {
    path: JPath<'a>,
    status: JStatus,
    disk_usage_before: Option<u64>,
    disk_usage_after: Option<u64>,
    /// Exact: serde_json writes an `i128` as an integer literal of any size.
    disk_usage_delta: i128,
    apparent_size_before: Option<u64>,
    apparent_size_after: Option<u64>,
    apparent_size_delta: i128,
}

impl<'a> JEntry<'a> {
    /// `status` is given by explain nodes; diff entries derive it from which
    /// sides exist (disk usage and apparent size are present together).
    fn new(e: &'a DiffEntry, status: Option<ChangeStatus>) -> Self {
        let status = status.unwrap_or(match (e.bytes_a, e.bytes_b) {
            (None, Some(_)) => ChangeStatus::Added,
            (Some(_), None) => ChangeStatus::Removed,
            _ => ChangeStatus::Changed,
        });
        JEntry {
            path: JPath::new(&e.path),
            status: status.into(),
            disk_usage_before: e.bytes_a,
            disk_usage_after: e.bytes_b,
            disk_usage_delta: e.delta(SizeKind::DiskUsage),
            apparent_size_before: e.apparent_a,
            apparent_size_after: e.apparent_b,
            apparent_size_delta: e.delta(SizeKind::Apparent),
        }
    }
}

#[derive(Serialize)]
struct JDiff<'a> {
    a: JSnapshot<'a>,
    b: JSnapshot<'a>,
    under: JPath<'a>,
    changed: u64,
    entries: Vec<JEntry<'a>>,
}

impl<'a> JDiff<'a> {
    fn new(r: &'a DiffReport) -> Self {
        JDiff {
            a: JSnapshot::new(&r.a),
            b: JSnapshot::new(&r.b),
            under: JPath::new(&r.under),
            changed: r.changed,
            entries: r.entries.iter().map(|e| JEntry::new(e, None)).collect(),
        }
    }
}

#[derive(Serialize)]
struct JExplain<'a> {
    a: JSnapshot<'a>,
    b: JSnapshot<'a>,
    threshold_pct: f64,
    root: JNode<'a>,
}

impl<'a> JExplain<'a> {
    fn new(r: &'a ExplainReport) -> Self {
        JExplain {
            a: JSnapshot::new(&r.a),
            b: JSnapshot::new(&r.b),
            threshold_pct: r.threshold_pct,
            root: JNode(&r.root),
        }
    }
}

/// An explain node, serialized lazily: children are converted as they are
/// written, so no second copy of the tree is built. Serialization recurses
/// once per tree level, which the directory depth bounds.
struct JNode<'a>(&'a ExplainNode);

impl Serialize for JNode<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let n = self.0;
        let e = JEntry::new(&n.entry, Some(n.status));
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("path", &e.path)?;
        m.serialize_entry("status", &e.status)?;
        m.serialize_entry("disk_usage_before", &e.disk_usage_before)?;
        m.serialize_entry("disk_usage_after", &e.disk_usage_after)?;
        m.serialize_entry("disk_usage_delta", &e.disk_usage_delta)?;
        m.serialize_entry("apparent_size_before", &e.apparent_size_before)?;
        m.serialize_entry("apparent_size_after", &e.apparent_size_after)?;
        m.serialize_entry("apparent_size_delta", &e.apparent_size_delta)?;
        m.serialize_entry("direct_delta", &n.direct_delta)?;
        m.serialize_entry("share_pct", &n.share_pct)?;
        m.serialize_entry("other_delta", &n.other_delta)?;
        m.serialize_entry("other_count", &n.other_count)?;
        m.serialize_entry("children", &JChildren(&n.children))?;
        m.end()
    }
}

struct JChildren<'a>(&'a [ExplainNode]);

impl Serialize for JChildren<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(JNode))
    }
}

#[derive(Serialize)]
struct JAnswer<'a> {
    path: JPath<'a>,
    status: &'static str,
    disk_usage: Option<u64>,
}

impl<'a> JAnswer<'a> {
    fn new(a: &'a SizeAnswer) -> Self {
        JAnswer {
            path: JPath::new(&a.path),
            status: a.status.as_str(),
            disk_usage: a.total_bytes,
        }
    }
}

#[derive(Serialize)]
struct JSizes<'a> {
    index: JPath<'a>,
    root: Option<JPath<'a>>,
    stale: bool,
    answers: Vec<JAnswer<'a>>,
}

impl<'a> JSizes<'a> {
    fn new(r: &'a SizeReport) -> Self {
        JSizes {
            index: JPath::new(path_bytes(&r.index)),
            root: r.root.as_deref().map(JPath::new),
            stale: r.stale,
            answers: r.answers.iter().map(JAnswer::new).collect(),
        }
    }
}

#[derive(Serialize)]
struct JPlugin<'a> {
    kind: &'static str,
    name: &'a str,
    summary: &'a str,
}

impl<'a> JPlugin<'a> {
    fn new(p: &'a PluginInfo) -> Self {
        JPlugin {
            kind: p.kind.as_str(),
            name: p.name,
            summary: p.summary,
        }
    }
}

#[derive(Serialize)]
struct JPlugins<'a> {
    plugins: Vec<JPlugin<'a>>,
}

#[derive(Serialize)]
struct JConfigLine<'a> {
    key: &'a str,
    value: &'a str,
    source: &'a str,
}

impl<'a> JConfigLine<'a> {
    fn new(c: &'a ConfigLine) -> Self {
        JConfigLine {
            key: &c.key,
            value: &c.value,
            source: &c.source,
        }
    }
}

#[derive(Serialize)]
struct JConfig<'a> {
    config: Vec<JConfigLine<'a>>,
}

#[derive(Serialize)]
struct JWatchStatus<'a> {
    roots: Vec<JRootStatus<'a>>,
}

#[derive(Serialize)]
struct JRootStatus<'a> {
    root: JPath<'a>,
    watcher_pid: Option<u32>,
    state: Option<&'static str>,
    snapshot: Option<SnapshotId>,
    events: u64,
    batches: u64,
    queue_depth: u64,
    overlay_entries: u64,
    pending_mutations: u64,
    last_batch_ms: Option<i64>,
    last_compaction_ms: Option<i64>,
    last_reconcile_ms: Option<i64>,
    detail: Option<&'a str>,
}

impl<'a> JWatchStatus<'a> {
    fn new(r: &'a StatusReport) -> Self {
        JWatchStatus {
            roots: r.roots.iter().map(JRootStatus::new).collect(),
        }
    }
}

impl<'a> JRootStatus<'a> {
    fn new(s: &'a RootStatus) -> Self {
        JRootStatus {
            root: JPath::new(&s.root),
            watcher_pid: s.watcher_pid,
            state: s.state.map(disktracker::report::WatcherState::as_str),
            snapshot: s.snapshot,
            events: s.events,
            batches: s.batches,
            queue_depth: s.queue_depth,
            overlay_entries: s.overlay_entries,
            pending_mutations: s.pending_mutations,
            last_batch_ms: s.last_batch_ms,
            last_compaction_ms: s.last_compaction_ms,
            last_reconcile_ms: s.last_reconcile_ms,
            detail: s.detail.as_deref(),
        }
    }
}

#[derive(Serialize)]
struct JLog<'a> {
    under: Option<JPath<'a>>,
    since_ms: Option<i64>,
    entries: Vec<JJournal<'a>>,
}

#[derive(Serialize)]
struct JJournal<'a> {
    time_ms: i64,
    kind: &'static str,
    path: JPath<'a>,
    is_dir: bool,
    disk_usage_delta: Option<i64>,
}

impl<'a> JLog<'a> {
    fn new(r: &'a LogReport) -> Self {
        JLog {
            under: r.under.as_deref().map(JPath::new),
            since_ms: r.since_ms,
            entries: r
                .entries
                .iter()
                .map(|e| JJournal {
                    time_ms: e.time_ms,
                    kind: e.kind.as_str(),
                    path: JPath::new(&e.path),
                    is_dir: e.is_dir,
                    disk_usage_delta: e.delta_bytes,
                })
                .collect(),
        }
    }
}

#[derive(Serialize)]
struct JHistory<'a> {
    path: JPath<'a>,
    root: JPath<'a>,
    since_ms: Option<i64>,
    points: Vec<JHistoryPoint>,
    disk_usage_per_day: Option<f64>,
    apparent_size_per_day: Option<f64>,
}

#[derive(Serialize)]
struct JHistoryPoint {
    snapshot: Option<SnapshotId>,
    time_ms: i64,
    disk_usage: Option<u64>,
    apparent_size: Option<u64>,
    files: Option<u64>,
    disk_usage_delta: Option<i128>,
    apparent_size_delta: Option<i128>,
}

impl<'a> JHistory<'a> {
    fn new(r: &'a HistoryReport) -> Self {
        JHistory {
            path: JPath::new(&r.path),
            root: JPath::new(&r.root),
            since_ms: r.since_ms,
            points: r
                .points
                .iter()
                .map(|p| JHistoryPoint {
                    snapshot: p.snapshot,
                    time_ms: p.at_ms,
                    disk_usage: p.bytes,
                    apparent_size: p.apparent,
                    files: p.files,
                    disk_usage_delta: p.delta_bytes,
                    apparent_size_delta: p.delta_apparent,
                })
                .collect(),
            disk_usage_per_day: r.bytes_per_day.filter(|v| v.is_finite()),
            apparent_size_per_day: r.apparent_per_day.filter(|v| v.is_finite()),
        }
    }
}

#[derive(Serialize)]
struct JFleet<'a> {
    time_ms: i64,
    since_ms: i64,
    stale_after_ms: i64,
    rows: Vec<JFleetRow<'a>>,
}

#[derive(Serialize)]
struct JFleetRow<'a> {
    host: &'a str,
    root: JPath<'a>,
    snapshot: SnapshotId,
    time_ms: i64,
    age_ms: i64,
    stale: bool,
    disk_usage: u64,
    apparent_size: u64,
    files: u64,
    baseline: Option<SnapshotId>,
    baseline_time_ms: Option<i64>,
    disk_usage_delta: Option<i128>,
    apparent_size_delta: Option<i128>,
    growth_path: Option<JPath<'a>>,
    growth_delta: Option<i128>,
}

impl<'a> JFleet<'a> {
    fn new(r: &'a FleetReport) -> Self {
        JFleet {
            time_ms: r.now_ms,
            since_ms: r.since_ms,
            stale_after_ms: r.stale_after_ms,
            rows: r
                .rows
                .iter()
                .map(|row| JFleetRow {
                    host: &row.host,
                    root: JPath::new(&row.root),
                    snapshot: row.snapshot,
                    time_ms: row.at_ms,
                    age_ms: row.age_ms,
                    stale: row.stale,
                    disk_usage: row.size.bytes,
                    apparent_size: row.size.apparent,
                    files: row.files,
                    baseline: row.baseline,
                    baseline_time_ms: row.baseline_at_ms,
                    disk_usage_delta: row.delta_bytes,
                    apparent_size_delta: row.delta_apparent,
                    growth_path: row.growth_path.as_deref().map(JPath::new),
                    growth_delta: row.growth_delta,
                })
                .collect(),
        }
    }
}

#[derive(Serialize)]
struct JReconcile<'a> {
    roots: Vec<JReconcileLine<'a>>,
}

#[derive(Serialize)]
struct JReconcileLine<'a> {
    root: JPath<'a>,
    base: Option<SnapshotId>,
    snapshot: Option<SnapshotId>,
    mutations: u64,
    changed_directories: u64,
    disk_usage_delta: i128,
}

impl<'a> JReconcile<'a> {
    fn new(r: &'a ReconcileReport) -> Self {
        JReconcile {
            roots: r
                .roots
                .iter()
                .map(|l: &'a ReconcileLine| JReconcileLine {
                    root: JPath::new(&l.root),
                    base: l.base,
                    snapshot: l.snapshot,
                    mutations: l.mutations,
                    changed_directories: l.changed_dirs,
                    disk_usage_delta: l.delta_bytes,
                })
                .collect(),
        }
    }
}

#[derive(Serialize)]
struct JBench<'a> {
    root: JPath<'a>,
    entries: u64,
    directories: u64,
    runs: u32,
    cold: bool,
    cold_refused: Option<&'a str>,
    backends: Vec<JBenchLine<'a>>,
}

#[derive(Serialize)]
struct JBenchLine<'a> {
    part: &'static str,
    name: &'a str,
    median_us: u64,
    min_us: u64,
    max_us: u64,
    per_second: f64,
    peak_mem_bytes: Option<u64>,
    bytes_per_dir: Option<f64>,
    diff_us: Option<u64>,
    lookup_ns: Option<u64>,
}

impl<'a> JBench<'a> {
    fn new(r: &'a BenchReport) -> Self {
        JBench {
            root: JPath::new(&r.root),
            entries: r.entries,
            directories: r.dirs,
            runs: r.runs,
            cold: r.cold,
            cold_refused: r.cold_refused.as_deref(),
            backends: r
                .lines
                .iter()
                .map(|l: &'a BenchLine| JBenchLine {
                    part: l.part.as_str(),
                    name: &l.name,
                    median_us: l.median_us,
                    min_us: l.min_us,
                    max_us: l.max_us,
                    // JSON has no NaN or infinity.
                    per_second: if l.per_second.is_finite() {
                        l.per_second
                    } else {
                        0.0
                    },
                    peak_mem_bytes: l.peak_rss_bytes,
                    bytes_per_dir: l.bytes_per_dir.filter(|b| b.is_finite()),
                    diff_us: l.diff_us,
                    lookup_ns: l.lookup_ns,
                })
                .collect(),
        }
    }
}
