//! Report data for reporters' tests: one report of every kind, full
//! ([`Fixtures::new`]), empty ([`Fixtures::empty`]) or with hostile names
//! everywhere a path goes ([`Fixtures::hostile`]); and independent
//! references for UTC dates ([`reference_utc`], [`days_from_civil`]).
//!
//! The data is deliberately awkward: a non-UTF-8 path, a path holding a
//! newline, text cells that a spreadsheet would take for formulas, negative
//! deltas, sizes on both sides of every binary-prefix boundary, an explanation
//! several levels deep with folded contributors.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use disktracker::model::{DiffEntry, DirRecord, DirStats, SnapshotInfo, SnapshotMeta};
use disktracker::report::{
    BenchLine, BenchPart, BenchReport, ChangeStatus, ChangeSummary, ConfigLine, DeletedReport,
    DiffReport, ExplainNode, ExplainReport, FleetReport, FleetRow, HistoryPoint, HistoryReport,
    IssueLine, LogReport, ReconcileLine, ReconcileReport, RootStatus, ScanReport, SizeAnswer,
    SizeReport, SizeStatus, StatusReport, TopReport, TreeNode, TreeSize, WatcherState,
};
use disktracker::{JournalEvent, JournalKind, PluginInfo, PluginKind, Report, ReportKind};

/// A path that is not valid UTF-8 (Latin-1 `é`).
pub const NON_UTF8: &[u8] = b"/data/caf\xe9";
/// A path holding a newline and a tab.
pub const NEWLINE: &[u8] = b"/data/two\nlines\there";

/// Names that break or falsify naive output: not UTF-8, a newline, a
/// spreadsheet formula, a command-line option, a bidirectional override
/// (U+202E, which makes `exe.txt` read as `txt.exe`), and an ESC byte (a
/// terminal colour sequence). [`Fixtures::hostile`] puts them in every path.
pub const HOSTILE_NAMES: &[&[u8]] = &[
    b"caf\xe9",
    b"two\nlines",
    b"=SUM(A1)",
    b"-rf",
    "\u{202e}txt.exe".as_bytes(),
    b"\x1b[31mred\x1b[0m",
];

/// A snapshot of `root` with the given id, start time and disk usage.
pub fn snapshot(id: i64, root: &[u8], started_at_ms: i64, total_bytes: u64) -> SnapshotInfo {
    SnapshotInfo {
        id,
        meta: SnapshotMeta {
            root: root.to_vec(),
            started_at_ms,
            finished_at_ms: started_at_ms + 1234,
            host: "=HOST()".to_owned(),
            walker: "steal".to_owned(),
            total_files: 1000 + id as u64,
            total_bytes,
            total_apparent: total_bytes / 2 + 7,
            dir_count: 40 + id as u64,
            error_count: id as u64 % 3,
        },
    }
}

/// A directory record at `path` with the given depth, disk usage and file count.
pub fn dir(path: &[u8], depth: u32, total_bytes: u64, files: u64) -> DirRecord {
    DirRecord {
        path: path.to_vec(),
        depth,
        stats: DirStats {
            total_bytes,
            total_apparent: total_bytes / 2 + 7,
            direct_bytes: 4096,
            direct_apparent: 120 + u64::from(depth),
            file_count: files,
            direct_files: files / 2,
            child_count: u64::from(depth) + 1,
            error_count: u64::from(depth % 2),
            mtime_ns: 1_700_000_000_123_456_789,
            dev: 2049,
            ino: 1000 + u64::from(depth),
            fingerprint: 0xdead_beef,
        },
    }
}

/// A diff entry: disk usage `a` before and `b` after (`None`: absent).
pub fn entry(path: &[u8], a: Option<u64>, b: Option<u64>) -> DiffEntry {
    DiffEntry {
        path: path.to_vec(),
        bytes_a: a,
        bytes_b: b,
        apparent_a: a.map(|v| v / 2),
        apparent_b: b.map(|v| v / 2 + 1),
    }
}

fn node(e: DiffEntry, direct: i128, share: f64, status: ChangeStatus) -> ExplainNode {
    let mut n = ExplainNode::default();
    n.entry = e;
    n.direct_delta = direct;
    n.share_pct = share;
    n.status = status;
    n
}

/// Owned data for every report kind.
#[derive(Clone, Debug)]
pub struct Fixtures {
    /// For [`Report::Scan`].
    pub scan: ScanReport,
    /// For [`Report::Top`].
    pub top: TopReport,
    /// For [`Report::Snapshots`].
    pub snapshots: Vec<SnapshotInfo>,
    /// For [`Report::Deleted`].
    pub deleted: DeletedReport,
    /// For [`Report::Diff`].
    pub diff: DiffReport,
    /// For [`Report::Explain`].
    pub explain: ExplainReport,
    /// For [`Report::Sizes`].
    pub sizes: SizeReport,
    /// For [`Report::Plugins`].
    pub plugins: Vec<PluginInfo>,
    /// For [`Report::Config`].
    pub config: Vec<ConfigLine>,
    /// For [`Report::Status`].
    pub status: StatusReport,
    /// For [`Report::Log`].
    pub log: LogReport,
    /// For [`Report::Reconcile`].
    pub reconcile: ReconcileReport,
    /// For [`Report::Bench`].
    pub bench: BenchReport,
    /// For [`Report::History`].
    pub history: HistoryReport,
    /// For [`Report::Fleet`].
    pub fleet: FleetReport,
}

impl Default for Fixtures {
    fn default() -> Self {
        Self::new()
    }
}

impl Fixtures {
    /// Full, awkward data for every report kind.
    pub fn new() -> Self {
        let gib = 1u64 << 30;
        let s1 = snapshot(1, b"/data", 1_700_000_000_000, 3 * gib);
        let s2 = snapshot(2, b"/data", 1_700_086_400_500, 3 * gib + 1536);
        let top_rows = vec![
            dir(b"/data", 0, 3 * gib + 1536, 1002),
            dir(b"/data/projects", 1, 2 * gib + (gib / 2), 800),
            dir(NON_UTF8, 1, 1536 * 1024, 100),
            dir(NEWLINE, 1, 1023, 3),
            dir(b"/data/projects/=SUM(A1)", 2, 1024, 1),
            dir(b"/data/empty", 1, 0, 0),
        ];
        let mut since = ChangeSummary::default();
        since.previous = 1;
        since.changed_dirs = 3;
        since.added_dirs = 1;
        since.removed_dirs = 2;
        since.rewritten_dirs = 4;
        since.delta_bytes = 1536;
        since.delta_apparent = -7;
        let scan = ScanReport::new(
            s2.clone(),
            61_234,
            top_rows.clone(),
            vec![
                IssueLine::new(
                    NON_UTF8.to_vec(),
                    "read_dir",
                    "Permission denied (os error 13)",
                ),
                IssueLine::new(
                    b"/data/gone".to_vec(),
                    "statx",
                    "-No such file\nor directory",
                ),
            ],
            Some(since),
        );
        let mut top = TopReport::new(s2.clone(), top_rows[0].clone(), top_rows[1..].to_vec());
        top.tree = Some(fixture_tree(&top_rows, false));

        let mut root = node(
            entry(b"/data", Some(3 * gib), Some(3 * gib + 1536)),
            512,
            100.0,
            ChangeStatus::Changed,
        );
        let mut projects = node(
            entry(b"/data/projects", Some(2 * gib), Some(2 * gib + 2048)),
            0,
            133.3,
            ChangeStatus::Changed,
        );
        projects.children.push(node(
            entry(b"/data/projects/new", None, Some(5 * 1024 * 1024 + 300)),
            5 * 1024 * 1024 + 300,
            250.0,
            ChangeStatus::Added,
        ));
        projects.children.push(node(
            entry(b"/data/projects/old", Some(3 * 1024 * 1024), None),
            -(3 * 1024 * 1024),
            -150.0,
            ChangeStatus::Removed,
        ));
        projects.other_delta = -(5 * 1024 * 1024 + 300) + 3 * 1024 * 1024 + 2048;
        projects.other_count = 4;
        root.children.push(projects);
        root.children.push(node(
            entry(NON_UTF8, Some(4096), Some(3072)),
            -1024,
            -66.7,
            ChangeStatus::Changed,
        ));
        root.other_delta = 0;
        root.other_count = 0;
        let explain = ExplainReport::new(s1.clone(), s2.clone(), 5.0, root);

        let mut diff = DiffReport::new(
            s1.clone(),
            s2.clone(),
            b"/data".to_vec(),
            vec![
                entry(b"/data/projects/new", None, Some(5 * 1024 * 1024 + 300)),
                entry(b"/data/projects/old", Some(3 * 1024 * 1024), None),
                entry(NON_UTF8, Some(4096), Some(3796)),
                entry(NEWLINE, Some(1 << 40), Some(1 << 41)),
                entry(b"-rf", Some(u64::MAX), Some(0)),
                entry(b"@data", Some(0), Some(u64::MAX)),
            ],
            9,
        );
        diff.tree = Some(fixture_tree(&top_rows, true));

        let sizes = SizeReport::new(
            PathBuf::from("/home/u/.disktracker/data.mmap"),
            Some(b"/data".to_vec()),
            true,
            vec![
                SizeAnswer::new(b"/data".to_vec(), Some(3 * gib), SizeStatus::Indexed),
                SizeAnswer::new(NON_UTF8.to_vec(), Some(1536), SizeStatus::Scanned),
                SizeAnswer::new(b"/elsewhere".to_vec(), None, SizeStatus::OutsideRoot),
                SizeAnswer::new(NEWLINE.to_vec(), None, SizeStatus::NotIndexed),
            ],
        );

        let plugins = vec![
            PluginInfo {
                kind: PluginKind::Walker,
                name: "steal",
                summary: "work-stealing walker",
            },
            PluginInfo {
                kind: PluginKind::Reporter,
                name: "table",
                summary: "+aligned tables",
            },
        ];
        let config = vec![
            ConfigLine::new("scan.threads", "-1", "default"),
            ConfigLine::new(
                "db.path",
                "\"=cmd|' /C calc'!A0\"",
                "@/etc/disktracker.toml",
            ),
            ConfigLine::new("\tscan.exclude", "[\"*.tmp\"]", "DISKTRACKER_SCAN_EXCLUDE"),
        ];

        let mut watched = RootStatus::new(b"/data".to_vec());
        watched.watcher_pid = Some(4242);
        watched.state = Some(WatcherState::Degraded);
        watched.snapshot = Some(2);
        watched.events = 1_234_567;
        watched.batches = 890;
        watched.queue_depth = 12;
        watched.overlay_entries = 345;
        watched.last_batch_ms = Some(1_700_086_500_000);
        watched.last_compaction_ms = Some(1_700_086_400_500);
        watched.last_reconcile_ms = Some(1_700_000_000_000);
        watched.pending_mutations = 6789;
        watched.detail =
            Some("no watch for 3 directories: raise fs.inotify.max_user_watches\n(sysctl)".into());
        let mut unwatched = RootStatus::new(NON_UTF8.to_vec());
        unwatched.snapshot = Some(7);
        let status = StatusReport::new(vec![watched, unwatched]);
        let journal = |time_ms, kind, path: &[u8], delta_bytes, is_dir| JournalEvent {
            time_ms,
            kind,
            path: path.to_vec(),
            delta_bytes,
            is_dir,
        };
        let log = LogReport::new(
            Some(b"/data".to_vec()),
            Some(1_700_000_000_000),
            vec![
                journal(
                    1_700_086_500_000,
                    JournalKind::Created,
                    b"/data/projects/new",
                    Some(5 * 1024 * 1024 + 300),
                    true,
                ),
                journal(
                    1_700_086_400_900,
                    JournalKind::Shrank,
                    NON_UTF8,
                    Some(-1024),
                    true,
                ),
                journal(
                    1_700_086_400_800,
                    JournalKind::Removed,
                    NEWLINE,
                    Some(-(1 << 40)),
                    true,
                ),
                journal(
                    1_700_086_400_750,
                    JournalKind::Grew,
                    b"/data/projects",
                    Some(i64::MAX),
                    true,
                ),
                journal(
                    1_700_086_400_740,
                    JournalKind::Changed,
                    b"/data/empty",
                    Some(i64::MIN),
                    true,
                ),
                journal(
                    1_700_086_400_700,
                    JournalKind::Renamed,
                    b"/data/projects/=SUM(A1)",
                    None,
                    false,
                ),
                journal(
                    1_700_086_400_600,
                    JournalKind::Rescanned,
                    b"/data",
                    Some(0),
                    true,
                ),
            ],
        );
        let mut folded = ReconcileLine::new(b"/data".to_vec());
        folded.base = Some(2);
        folded.snapshot = Some(8);
        folded.mutations = 10_000;
        folded.changed_dirs = 1_024;
        folded.delta_bytes = -(1 << 41);
        let mut nothing = ReconcileLine::new(NON_UTF8.to_vec());
        nothing.base = Some(7);
        let reconcile = ReconcileReport::new(vec![folded, nothing]);
        let mut bench = BenchReport::new(b"/data/projects".to_vec());
        bench.entries = 1_075_112;
        bench.dirs = 65_093;
        bench.runs = 5;
        bench.cold_refused = Some("cannot drop the page cache: Permission denied".to_owned());
        let mut walker = BenchLine::new(BenchPart::Walker, "steal");
        (walker.median_us, walker.min_us, walker.max_us) = (1_880_412, 1_790_000, 2_310_999);
        walker.per_second = 571_740.4;
        walker.peak_rss_bytes = Some(41 << 20);
        let mut store = BenchLine::new(BenchPart::Store, "sqlite");
        (store.median_us, store.min_us, store.max_us) = (412_000, 398_500, 431_000);
        store.per_second = 157_992.7;
        store.peak_rss_bytes = None;
        store.bytes_per_dir = Some(212.6);
        store.diff_us = Some(96_400);
        let mut index = BenchLine::new(BenchPart::Index, "mmap");
        (index.median_us, index.min_us, index.max_us) = (38_200, 36_000, 52_900);
        index.per_second = f64::INFINITY;
        index.bytes_per_dir = Some(f64::NAN);
        index.lookup_ns = Some(612);
        bench.lines = vec![walker, store, index];

        let history = {
            let mut points = Vec::new();
            for (id, at, bytes) in [
                (Some(1), 1_700_000_000_000, Some(3 * gib)),
                (Some(2), 1_700_086_400_500, None),
                (Some(5), 1_702_000_000_000, Some(u64::MAX)),
                (None, 1_702_000_100_000, Some(1023)),
            ] {
                let mut p = HistoryPoint::new(id, at);
                p.bytes = bytes;
                p.apparent = id.and(bytes.map(|b| b / 2 + 7));
                p.files = id.and(bytes.map(|_| 1000 + id.unwrap_or(0) as u64));
                points.push(p);
            }
            let mut prev = 0i128;
            for (i, p) in points.iter_mut().enumerate() {
                let now = i128::from(p.bytes.unwrap_or(0));
                p.delta_bytes = (i > 0).then_some(now - prev);
                prev = now;
            }
            points[1].delta_apparent = Some(-(i128::from(3 * gib) / 2 + 7));
            points[2].delta_apparent = Some(i128::from(u64::MAX / 2 + 7));
            HistoryReport::new(NON_UTF8.to_vec(), b"/data".to_vec(), Some(-1), points)
        };

        let fleet = {
            let mut grew = FleetRow::new("web-1", b"/var".to_vec(), 12);
            grew.at_ms = 1_702_000_000_000;
            grew.age_ms = 3_600_000;
            grew.size = TreeSize {
                bytes: 40 * gib,
                apparent: 38 * gib,
            };
            grew.files = 1_200_000;
            grew.baseline = Some(3);
            grew.baseline_at_ms = Some(1_701_400_000_000);
            grew.delta_bytes = Some(i128::from(5 * gib));
            grew.delta_apparent = Some(i128::from(4 * gib));
            grew.growth_path = Some(NON_UTF8.to_vec());
            grew.growth_delta = Some(i128::from(4 * gib));
            let mut stale = FleetRow::new("db-2", NON_UTF8.to_vec(), 9);
            stale.at_ms = -1;
            stale.age_ms = i64::MAX;
            stale.size = TreeSize {
                bytes: u64::MAX,
                apparent: 0,
            };
            stale.stale = true;
            let mut shrank = FleetRow::new("db-2", b"/srv".to_vec(), 10);
            shrank.age_ms = 0;
            shrank.baseline = Some(8);
            shrank.delta_bytes = Some(i128::from(u64::MAX).saturating_neg());
            shrank.delta_apparent = Some(-1);
            FleetReport::new(
                1_702_003_600_000,
                1_701_398_800_000,
                172_800_000,
                vec![stale, shrank, grew],
            )
        };

        Fixtures {
            fleet,
            history,
            status,
            log,
            reconcile,
            bench,
            scan,
            top,
            snapshots: vec![s1, s2, snapshot(7, NON_UTF8, -86_400_000, 0)],
            deleted: DeletedReport::new(vec![3, 4, 9], false),
            diff,
            explain,
            sizes,
            plugins,
            config,
        }
    }

    /// One report of every kind.
    pub fn reports(&self) -> Vec<Report<'_>> {
        vec![
            Report::Scan(&self.scan),
            Report::Top(&self.top),
            Report::Snapshots(&self.snapshots),
            Report::Deleted(&self.deleted),
            Report::Diff(&self.diff),
            Report::Explain(&self.explain),
            Report::Sizes(&self.sizes),
            Report::Plugins(&self.plugins),
            Report::Config(&self.config),
            Report::Status(&self.status),
            Report::Log(&self.log),
            Report::Reconcile(&self.reconcile),
            Report::Bench(&self.bench),
            Report::History(&self.history),
            Report::Fleet(&self.fleet),
        ]
    }

    /// The report of `kind`, if these fixtures have one.
    pub fn report(&self, kind: ReportKind) -> Option<Report<'_>> {
        self.reports().into_iter().find(|r| r.kind() == kind)
    }

    /// [`Fixtures::new`] with every path component (except the `data` of
    /// `/data`) replaced by a name holding all of [`HOSTILE_NAMES`], starting
    /// with a different one each time and numbered so that distinct
    /// directories keep distinct names: the same reports, the same tree
    /// shape, the same number of rows. Hosts, walker and plugin names, issue
    /// messages and configuration lines get the same text (with U+FFFD for
    /// the byte that is not UTF-8).
    pub fn hostile() -> Self {
        Self::new().renamed(|i| {
            let n = HOSTILE_NAMES.len();
            let mut name = HOSTILE_NAMES[i % n].to_vec();
            name.extend_from_slice(i.to_string().as_bytes());
            for k in 1..n {
                name.extend_from_slice(HOSTILE_NAMES[(i + k) % n]);
            }
            name
        })
    }

    /// [`Fixtures::hostile`]'s twin with plain names (`tame0`, `tame1`, …):
    /// whatever separates lines or cells in a rendering of it is structure,
    /// so the same rendering of the hostile twin must hold just as many.
    pub fn tame() -> Self {
        Self::new().renamed(|i| format!("tame{i}").into_bytes())
    }

    /// These fixtures with every path component renamed (the `i`-th
    /// distinct component, in the order met, becomes `name(i)`) and every
    /// other piece of outside text replaced by a `name(i)` of its own.
    fn renamed(mut self, name: impl Fn(usize) -> Vec<u8>) -> Self {
        let mut seen: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut path = |p: &mut Vec<u8>| {
            let parts: Vec<Vec<u8>> = p
                .split(|&c| c == b'/')
                .map(|part| {
                    if part.is_empty() || part == b"data" {
                        return part.to_vec();
                    }
                    let next = seen.len();
                    name(*seen.entry(part.to_vec()).or_insert(next))
                })
                .collect();
            *p = parts.join(&b'/');
        };
        fn node(n: &mut ExplainNode, path: &mut dyn FnMut(&mut Vec<u8>)) {
            path(&mut n.entry.path);
            for c in &mut n.children {
                node(c, path);
            }
        }
        let f = &mut self;
        let snapshots = [&mut f.scan.snapshot, &mut f.top.snapshot]
            .into_iter()
            .chain([
                &mut f.diff.a,
                &mut f.diff.b,
                &mut f.explain.a,
                &mut f.explain.b,
            ])
            .chain(&mut f.snapshots);
        for s in snapshots {
            path(&mut s.meta.root);
        }
        let dirs = f.scan.top.iter_mut().chain(&mut f.top.rows);
        for d in dirs.chain([&mut f.top.under]) {
            path(&mut d.path);
        }
        for i in &mut f.scan.issues {
            path(&mut i.path);
        }
        path(&mut f.diff.under);
        for e in &mut f.diff.entries {
            path(&mut e.path);
        }
        node(&mut f.explain.root, &mut path);
        let mut index = f.sizes.index.as_os_str().as_bytes().to_vec();
        path(&mut index);
        f.sizes.index = Path::new(OsStr::from_bytes(&index)).to_path_buf();
        if let Some(root) = &mut f.sizes.root {
            path(root);
        }
        for a in &mut f.sizes.answers {
            path(&mut a.path);
        }
        for r in &mut f.status.roots {
            path(&mut r.root);
        }
        if let Some(under) = &mut f.log.under {
            path(under);
        }
        for e in &mut f.log.entries {
            path(&mut e.path);
        }
        for r in &mut f.reconcile.roots {
            path(&mut r.root);
        }
        path(&mut f.bench.root);
        path(&mut f.history.path);
        path(&mut f.history.root);
        for r in &mut f.fleet.rows {
            path(&mut r.root);
            if let Some(g) = &mut r.growth_path {
                path(g);
            }
        }
        fn tree(n: &mut TreeNode, path: &mut dyn FnMut(&mut Vec<u8>)) {
            path(&mut n.path);
            for c in &mut n.children {
                tree(c, path);
            }
        }
        for t in [&mut f.top.tree, &mut f.diff.tree].into_iter().flatten() {
            tree(t, &mut path);
        }

        // Other text from outside the program: hosts, walker and plugin
        // names, OS messages, configuration lines.
        let mut count = 0;
        let mut text = || {
            count += 1;
            String::from_utf8_lossy(&name(count - 1)).into_owned()
        };
        let snapshots = [&mut f.scan.snapshot, &mut f.top.snapshot]
            .into_iter()
            .chain([
                &mut f.diff.a,
                &mut f.diff.b,
                &mut f.explain.a,
                &mut f.explain.b,
            ])
            .chain(&mut f.snapshots);
        for s in snapshots {
            s.meta.host = text();
            s.meta.walker = text();
        }
        for r in &mut f.fleet.rows {
            r.host = text();
        }
        for i in &mut f.scan.issues {
            i.op = text();
            i.message = text();
        }
        for p in &mut f.plugins {
            // `PluginInfo` holds `&'static str`; a few bytes per call leak.
            p.name = Box::leak(text().into_boxed_str());
            p.summary = Box::leak(text().into_boxed_str());
        }
        for c in &mut f.config {
            (c.key, c.value, c.source) = (text(), text(), text());
        }
        for l in &mut f.bench.lines {
            l.name = text();
        }
        if f.bench.cold_refused.is_some() {
            f.bench.cold_refused = Some(text());
        }
        for r in &mut f.status.roots {
            if r.detail.is_some() {
                r.detail = Some(text());
            }
        }
        self
    }

    /// [`Fixtures::empty`] when `empty`, else [`Fixtures::new`] (for
    /// tests that run over both as an rstest value).
    pub fn either(empty: bool) -> Self {
        if empty { Self::empty() } else { Self::new() }
    }

    /// Every report kind with empty contents (no rows, no entries, no issues).
    pub fn empty() -> Self {
        let mut f = Fixtures::new();
        f.scan.top.clear();
        f.scan.issues.clear();
        f.top.rows.clear();
        f.snapshots.clear();
        f.deleted.ids.clear();
        f.diff.entries.clear();
        f.diff.changed = 0;
        f.explain.root.children.clear();
        f.sizes.answers.clear();
        f.sizes.root = None;
        f.plugins.clear();
        f.config.clear();
        f.status.roots.clear();
        f.log.entries.clear();
        f.log.under = None;
        f.reconcile.roots.clear();
        f.bench.lines.clear();
        f.bench.cold_refused = None;
        f.fleet.rows.clear();
        f.history = HistoryReport::new(
            f.history.path.clone(),
            f.history.root.clone(),
            None,
            Vec::new(),
        );
        if let Some(t) = &mut f.top.tree {
            t.children.clear();
            (t.folded, t.folded_size) = (0, TreeSize::default());
        }
        f.diff.tree = None;
        f
    }
}

/// A folded tree over `rows` (the first is the top; the rest hang below
/// their parent path, or below the top): with `diff`, each node also has an
/// older size, one added node and one removed, and everything folds a
/// little.
fn fixture_tree(rows: &[DirRecord], diff: bool) -> TreeNode {
    let size = |r: &DirRecord| TreeSize {
        bytes: r.stats.total_bytes,
        apparent: r.stats.total_apparent,
    };
    let node = |i: usize, r: &DirRecord| {
        let mut n = TreeNode::new(r.path.clone(), size(r));
        if diff {
            n.status = match i % 3 {
                1 => ChangeStatus::Added,
                2 => ChangeStatus::Removed,
                _ => ChangeStatus::Changed,
            };
            if n.status == ChangeStatus::Removed {
                n.before = Some(n.size);
                n.size = TreeSize::default();
            } else if n.status == ChangeStatus::Changed {
                n.before = Some(TreeSize {
                    bytes: n.size.bytes / 2,
                    apparent: n.size.apparent.saturating_mul(2),
                });
            }
        }
        n.folded = i as u64;
        n.folded_size = TreeSize {
            bytes: n.size.bytes / 8,
            apparent: n.size.apparent / 8,
        };
        n
    };
    let mut top = node(0, &rows[0]);
    fn insert(into: &mut TreeNode, n: TreeNode) {
        let inside = |p: &[u8]| n.path.starts_with(p) && n.path.get(p.len()) == Some(&b'/');
        match into.children.iter_mut().find(|c| inside(&c.path)) {
            Some(c) => insert(c, n),
            None => into.children.push(n),
        }
    }
    let mut rest: Vec<TreeNode> = rows[1..]
        .iter()
        .enumerate()
        .map(|(i, r)| node(i + 1, r))
        .collect();
    // Shallowest first, so every parent is in place before its children.
    rest.sort_by_key(|n| n.path.len());
    for n in rest {
        insert(&mut top, n);
    }
    top
}

/// Gregorian leap rule.
fn leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Month lengths of year `y`.
fn month_lengths(y: i64) -> [i64; 12] {
    let feb = if leap(y) { 29 } else { 28 };
    [31, feb, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
}

/// Days since 1970-01-01 of a civil date, by counting years and months (an
/// independent reference for the reporters' closed-form conversion).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let year_len = |y: i64| if leap(y) { 366 } else { 365 };
    let years = if y >= 1970 {
        (1970..y).map(year_len).sum::<i64>()
    } else {
        -(y..1970).map(year_len).sum::<i64>()
    };
    years + month_lengths(y)[..(m - 1) as usize].iter().sum::<i64>() + i64::from(d) - 1
}

/// `ms` since the epoch as UTC `"YYYY-MM-DD HH:MM:SS"`, counting days forward
/// from 1970 year by year and month by month (the same kind of reference).
pub fn reference_utc(ms: i64) -> String {
    let mut days = ms.div_euclid(86_400_000);
    let secs = ms.rem_euclid(86_400_000) / 1000;
    let mut year = 1970;
    loop {
        let len = if leap(year) { 366 } else { 365 };
        if days < 0 {
            year -= 1;
            days += if leap(year) { 366 } else { 365 };
        } else if days >= len {
            days -= len;
            year += 1;
        } else {
            break;
        }
    }
    let lens = month_lengths(year);
    let mut month = 0;
    while days >= lens[month] {
        days -= lens[month];
        month += 1;
    }
    format!(
        "{year:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        month + 1,
        days + 1,
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixtures_hold_every_kind_and_the_twins_differ_only_in_names() {
        for f in [
            Fixtures::new(),
            Fixtures::empty(),
            Fixtures::hostile(),
            Fixtures::tame(),
        ] {
            let kinds: Vec<ReportKind> = f.reports().iter().map(Report::kind).collect();
            assert_eq!(kinds, ReportKind::ALL);
        }
        let (h, t) = (Fixtures::hostile(), Fixtures::tame());
        assert_eq!(h.diff.entries.len(), t.diff.entries.len());
        assert_eq!(h.top.rows.len(), t.top.rows.len());
        let all = |f: &Fixtures| -> Vec<u8> {
            let mut v: Vec<u8> = f.top.rows.iter().flat_map(|d| d.path.clone()).collect();
            v.extend(f.diff.entries.iter().flat_map(|e| e.path.clone()));
            v
        };
        // Every report with paths holds every hostile name.
        for paths in [
            h.top
                .rows
                .iter()
                .map(|d| d.path.clone())
                .collect::<Vec<_>>(),
            h.diff.entries.iter().map(|e| e.path.clone()).collect(),
            h.sizes.answers.iter().map(|a| a.path.clone()).collect(),
            h.snapshots.iter().map(|s| s.meta.root.clone()).collect(),
            h.scan.issues.iter().map(|i| i.path.clone()).collect(),
        ] {
            let joined = paths.concat();
            for name in HOSTILE_NAMES {
                assert!(
                    joined.windows(name.len()).any(|w| w == *name),
                    "{} is used",
                    String::from_utf8_lossy(name)
                );
            }
        }
        assert!(all(&t).iter().all(u8::is_ascii_graphic));
        // Distinct directories keep distinct names.
        let mut paths: Vec<_> = h.top.rows.iter().map(|d| &d.path).collect();
        paths.sort();
        paths.dedup();
        assert_eq!(paths.len(), h.top.rows.len());
    }
}
