//! `bench`: every registered walker, snapshot store and live index measured
//! on the user's own tree, so that backends (a third-party one included)
//! are compared where they will run. Stores and indexes are written into a
//! temporary directory, never into the user's database.
//!
//! Per backend and run, one operation is timed:
//!
//! - a walker walks the tree (with `--cold`, after the page cache is dropped);
//! - a store writes the walked tree as a snapshot, then (untimed) a second,
//!   changed snapshot, whose diff with the first is timed on its own;
//! - an index is built from the walked tree, then opened as a long-running
//!   reader (the watcher) and looked up at a spread of its directories.
//!
//! Peak memory is what the operation added to the process's resident set at
//! its highest (`VmHWM` after resetting it through `/proc/self/clear_refs`),
//! so that what the bench itself holds is not charged to a backend.

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use disktracker::registry::{self, IndexPlugin, Plugin, Registry, StorePlugin, WalkerPlugin};
use disktracker::report::{BenchLine, BenchPart, BenchReport};
use disktracker::{
    DirStats, Error, ErrorKind, IndexAccess, IndexOptions, Result, SnapshotMeta, StoreOptions,
    WalkContext, WalkOptions,
};

use crate::tree::ScanTree;

/// Most lookups timed per index and run.
const LOOKUPS: usize = 10_000;

/// What `bench` measures.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BenchOptions {
    /// Walkers by name; empty means every registered one.
    pub walkers: Vec<String>,
    /// Stores by name; empty means every registered one.
    pub stores: Vec<String>,
    /// Timed runs per backend (at least 1).
    pub runs: u32,
    /// Drop the page cache before every walk.
    pub cold: bool,
}

/// The plugins of `registry` named in `names` (every one when empty or
/// `all`), by name, each once; an unknown name is an error naming the
/// registered ones.
fn chosen<T: Plugin>(registry: &'static Registry<T>, names: &[String]) -> Result<Vec<&'static T>> {
    if names.is_empty() || names.iter().any(|n| n == "all") {
        return Ok(registry.iter().collect());
    }
    for n in names {
        registry.get(n)?;
    }
    Ok(registry
        .iter()
        .filter(|p| names.iter().any(|n| n == p.name()))
        .collect())
}

/// Median, fastest and slowest of `times` (not empty).
fn spread(times: &mut [Duration]) -> (Duration, Duration, Duration) {
    times.sort_unstable();
    (times[times.len() / 2], times[0], times[times.len() - 1])
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn per_second(items: u64, d: Duration) -> f64 {
    if d.is_zero() {
        0.0
    } else {
        items as f64 / d.as_secs_f64()
    }
}

/// A line for `name` with the spread of `times`, the rate of `items` at the
/// median, and the peak memory added.
fn timed_line(
    part: BenchPart,
    name: &str,
    times: &mut [Duration],
    items: u64,
    peak: Option<u64>,
) -> BenchLine {
    let (median, min, max) = spread(times);
    let mut line = BenchLine::new(part, name);
    line.median_us = micros(median);
    line.min_us = micros(min);
    line.max_us = micros(max);
    line.per_second = per_second(items, median);
    line.peak_rss_bytes = peak;
    line
}

/// Writes back dirty pages and drops the page cache, dentries and inodes,
/// so the next walk reads from the disk.
fn drop_page_cache() -> std::io::Result<()> {
    rustix::fs::sync();
    std::fs::OpenOptions::new()
        .write(true)
        .open("/proc/sys/vm/drop_caches")?
        .write_all(b"3\n")
}

/// The resident set's high-water mark, measured from [`PeakMemory::start`].
struct PeakMemory {
    before: u64,
}

impl PeakMemory {
    /// Resets the high-water mark to the current resident set; `None` where
    /// the kernel does not allow it.
    fn start() -> Option<PeakMemory> {
        // Pages freed by an earlier run stay in the allocator and would be
        // reused unseen: give them back first.
        crate::live::heap::release_free_memory();
        std::fs::OpenOptions::new()
            .write(true)
            .open("/proc/self/clear_refs")
            .and_then(|mut f| f.write_all(b"5"))
            .ok()?;
        Some(PeakMemory {
            before: status_kib("VmRSS:")?,
        })
    }

    /// Bytes the resident set grew by at its highest since `start`.
    fn added(&self) -> Option<u64> {
        Some(status_kib("VmHWM:")?.saturating_sub(self.before) * 1024)
    }
}

/// A `kB` field of `/proc/self/status`.
fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Times `op` once, with the memory it added at its peak.
fn measured<T>(op: impl FnOnce() -> Result<T>) -> Result<(T, Duration, Option<u64>)> {
    let peak = PeakMemory::start();
    let t = Instant::now();
    let out = op()?;
    let elapsed = t.elapsed();
    Ok((out, elapsed, peak.and_then(|p| p.added())))
}

/// Bytes in the regular files under `dir` (a store may keep several).
fn bytes_under(dir: &Path) -> u64 {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .flatten()
            .filter_map(|e| e.metadata().ok())
            .filter(std::fs::Metadata::is_file)
            .map(|m| m.len())
            .sum()
    })
}

fn temp_dir() -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("disktracker-bench-")
        .tempdir()
        .map_err(|e| {
            Error::io(
                "cannot create a temporary directory for the benchmark",
                std::env::temp_dir(),
                e,
            )
        })
}

/// The walked tree as rows in path order, as a scan stores them.
struct Rows {
    root: Vec<u8>,
    rows: Vec<(Vec<u8>, u32, DirStats)>,
}

impl Rows {
    fn of(tree: &ScanTree) -> Rows {
        Rows {
            root: tree.root().to_vec(),
            rows: {
                let mut rows = Vec::with_capacity(tree.len());
                let mut it = tree.in_order();
                while let Some((i, path)) = it.current() {
                    rows.push((path.to_vec(), tree.depth(i), *tree.stats(i)));
                    it.advance();
                }
                rows
            },
        }
    }

    /// The same tree with one directory in 50 grown by a block, as the second
    /// snapshot of a diff.
    fn grown(&self) -> Vec<(Vec<u8>, u32, DirStats)> {
        let mut rows = self.rows.clone();
        for (_, _, s) in rows.iter_mut().skip(1).step_by(50) {
            s.total_bytes += 4096;
            s.total_apparent += 4096;
        }
        rows
    }

    fn dirs(&self) -> u64 {
        self.rows.len() as u64
    }
}

/// A bench run over the tree at `root`, with every choice already resolved.
pub(crate) struct Bench<'a> {
    pub root: &'a Path,
    pub walk: WalkOptions,
    pub ctx: WalkContext,
    pub opts: &'a BenchOptions,
    pub settings: &'a crate::tracker::SettingsMap,
    pub warn: &'a dyn Fn(&str),
}

impl Bench<'_> {
    pub fn run(&self) -> Result<BenchReport> {
        if self.opts.runs == 0 {
            return Err(Error::new(ErrorKind::Usage, "--runs must be at least 1"));
        }
        let walkers = chosen(registry::walkers()?, &self.opts.walkers)?;
        let stores = chosen(registry::stores()?, &self.opts.stores)?;
        let indexes: Vec<&IndexPlugin> = registry::indexes()?.iter().collect();
        let mut report = BenchReport::new(disktracker::path::path_bytes(self.root).to_vec());
        report.runs = self.opts.runs;
        if self.opts.cold {
            match drop_page_cache() {
                Ok(()) => report.cold = true,
                Err(e) => {
                    let why = format!(
                        "cannot drop the page cache (/proc/sys/vm/drop_caches: {e}); \
                         run as root for cold figures: these are warm"
                    );
                    (self.warn)(&why);
                    report.cold_refused = Some(why);
                }
            }
        }
        let mut rows = None;
        for &w in &walkers {
            let (line, tree) = self.walker(w, report.cold)?;
            report.lines.push(line);
            if rows.is_none() {
                report.entries = tree.stats(0).file_count + tree.len() as u64;
                report.dirs = tree.len() as u64;
                rows = Some(Rows::of(&tree));
            }
        }
        let Some(rows) = rows else {
            return Err(Error::new(
                ErrorKind::Usage,
                "no walker is registered: nothing to measure",
            ));
        };
        for &s in &stores {
            if let Some(line) = self.store(s, &rows)? {
                report.lines.push(line);
            }
        }
        for &i in &indexes {
            report.lines.push(self.index(i, &rows)?);
        }
        Ok(report)
    }

    fn cancelled(&self) -> Result<()> {
        if self.ctx.cancel.is_cancelled() {
            return Err(Error::cancelled());
        }
        Ok(())
    }

    fn walker(&self, plugin: &WalkerPlugin, cold: bool) -> Result<(BenchLine, ScanTree)> {
        let walker = (plugin.create)(&self.settings.for_plugin(plugin)?)?;
        if !cold {
            // Untimed: the first walk warms the caches for every walker alike.
            drop(walker.walk(self.root, &self.walk, &self.ctx)?);
        }
        let (mut times, mut peak, mut last) = (Vec::new(), None, None);
        for _ in 0..self.opts.runs {
            self.cancelled()?;
            if cold {
                drop_page_cache().map_err(|e| {
                    Error::io("cannot drop the page cache", "/proc/sys/vm/drop_caches", e)
                })?;
            }
            let (out, t, added) = measured(|| walker.walk(self.root, &self.walk, &self.ctx))?;
            times.push(t);
            peak = peak.max(added);
            last = Some(out);
        }
        self.cancelled()?;
        let tree = match last {
            Some(out) => ScanTree::from_walk(out)?,
            None => return Err(Error::new(ErrorKind::Usage, "--runs must be at least 1")),
        };
        let entries = tree.stats(0).file_count + tree.len() as u64;
        let line = timed_line(BenchPart::Walker, plugin.name, &mut times, entries, peak);
        Ok((line, tree))
    }

    fn store(&self, plugin: &StorePlugin, rows: &Rows) -> Result<Option<BenchLine>> {
        if plugin.extension.is_empty() {
            (self.warn)(&format!(
                "store {} is a server, not a file this command can create and throw away: not measured \
                 (`cargo bench --bench store_compare` measures it on a throwaway server)",
                plugin.name
            ));
            return Ok(None);
        }
        let settings = self.settings.for_plugin(plugin)?;
        let grown = rows.grown();
        let meta = SnapshotMeta {
            root: rows.root.clone(),
            dir_count: rows.dirs(),
            walker: "bench".into(),
            ..SnapshotMeta::default()
        };
        let write = |store: &mut dyn disktracker::SnapshotStore,
                     rows: &[(Vec<u8>, u32, DirStats)]|
         -> Result<i64> {
            let mut w = store.begin_snapshot(&meta)?;
            for (path, depth, stats) in rows {
                w.write_dir(path, *depth, stats)?;
            }
            w.commit()
        };
        let (mut writes, mut diffs, mut peak, mut bytes) = (Vec::new(), Vec::new(), None, 0);
        for _ in 0..self.opts.runs {
            self.cancelled()?;
            let dir = temp_dir()?;
            let path = dir.path().join(format!("bench.{}", plugin.extension));
            let options = StoreOptions::file(&path).with_settings(settings.clone());
            let mut store = (plugin.open)(&options)?;
            let (a, t, added) = measured(|| write(&mut *store, &rows.rows))?;
            writes.push(t);
            peak = peak.max(added);
            let b = write(&mut *store, &grown)?;
            drop(store);
            bytes = bytes_under(dir.path());
            // Reopened, as `disktracker diff` finds it: nothing cached in memory.
            let mut store = (plugin.open)(&options)?;
            let t = Instant::now();
            let changed = crate::diff::changed_dirs(&mut *store, a, b)?;
            diffs.push(t.elapsed());
            if changed.is_empty() {
                return Err(Error::new(
                    ErrorKind::Plugin,
                    format!(
                        "store {}: the diff of two different snapshots is empty",
                        plugin.name
                    ),
                ));
            }
        }
        let mut line = timed_line(
            BenchPart::Store,
            plugin.name,
            &mut writes,
            rows.dirs(),
            peak,
        );
        line.bytes_per_dir = Some(bytes as f64 / (2 * rows.dirs().max(1)) as f64);
        line.diff_us = Some(micros(spread(&mut diffs).0));
        Ok(Some(line))
    }

    fn index(&self, plugin: &IndexPlugin, rows: &Rows) -> Result<BenchLine> {
        let step = (rows.rows.len() / LOOKUPS).max(1);
        let probes: Vec<&(Vec<u8>, u32, DirStats)> = rows.rows.iter().step_by(step).collect();
        let (mut builds, mut lookups, mut peak, mut bytes) = (Vec::new(), Vec::new(), None, 0);
        for _ in 0..self.opts.runs {
            self.cancelled()?;
            let dir = temp_dir()?;
            let mut options = IndexOptions::new(dir.path().join("bench.mmap"));
            options.settings = self.settings.for_plugin(plugin)?;
            let (index, t, added) = measured(|| {
                let mut entries = rows
                    .rows
                    .iter()
                    .map(|(path, _, s)| (path.as_slice(), s.total_bytes));
                (plugin.create)(&options, &mut entries)
            })?;
            builds.push(t);
            peak = peak.max(added);
            bytes = bytes_under(dir.path());
            drop(index);
            // Lookups as a reader asking many questions makes them (the
            // watcher); `size`'s one-shot reads cost a process start anyway.
            options.access = IndexAccess::LongRunning;
            let index = (plugin.open)(&options)?;
            let t = Instant::now();
            for (path, _, stats) in &probes {
                if index.lookup(path)? != Some(stats.total_bytes) {
                    return Err(Error::new(
                        ErrorKind::Plugin,
                        format!(
                            "index {}: a lookup of {} did not answer the size it was built with",
                            plugin.name,
                            disktracker::path::escape_bytes(path)
                        ),
                    ));
                }
            }
            lookups.push(t.elapsed() / u32::try_from(probes.len().max(1)).unwrap_or(u32::MAX));
        }
        let mut line = timed_line(
            BenchPart::Index,
            plugin.name,
            &mut builds,
            rows.dirs(),
            peak,
        );
        line.bytes_per_dir = Some(bytes as f64 / rows.dirs().max(1) as f64);
        line.lookup_ns = Some(u64::try_from(spread(&mut lookups).0.as_nanos()).unwrap_or(u64::MAX));
        Ok(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_is_median_min_max() {
        let ms = Duration::from_millis;
        let mut t = vec![ms(5), ms(1), ms(9), ms(3), ms(7)];
        assert_eq!(spread(&mut t), (ms(5), ms(1), ms(9)));
    }

    #[test]
    fn peak_memory_sees_an_allocation_that_was_freed() {
        let peak = PeakMemory::start().expect("Linux resets VmHWM through /proc/self/clear_refs");
        let big = vec![1u8; 64 << 20];
        std::hint::black_box(&big);
        drop(big);
        let added = peak.added().expect("VmHWM is readable where clear_refs is");
        assert!(added >= 60 << 20, "added {added} bytes");
    }
}
