//! Command-line syntax (clap). Global options go before the subcommand.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use disktracker::SnapshotId;

/// Persistent disk-usage observability: scan, snapshot, diff, explain, and live sizes.
#[derive(Debug, Parser)]
#[command(
    name = "disktracker",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Config file, layered over ~/.disktracker/config.toml [env: DISKTRACKER_CONFIG].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Database: exactly this file, or data.db in this directory, or a
    /// scheme:// URL [default: ~/.disktracker/data.db].
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Snapshot store plugin (sqlite, redb, …).
    #[arg(long, value_name = "NAME")]
    pub backend: Option<String>,
    /// Walker plugin (steal, jwalk, …).
    #[arg(long, value_name = "NAME")]
    pub walker: Option<String>,
    /// Output format, i.e. reporter plugin (table, json, csv, html, prometheus, …).
    #[arg(long, value_name = "NAME")]
    pub format: Option<String>,
    /// Write the report to FILE (replaced whole, only once complete)
    /// instead of standard output (`-` is standard output).
    #[arg(long, short = 'o', value_name = "FILE", global = true)]
    pub output: Option<PathBuf>,
    /// Worker threads for scanning; 0 = one per core, growing up to 8 per
    /// core while they wait on the disk.
    #[arg(long, short = 'j', value_name = "N")]
    pub threads: Option<u64>,
    /// No progress display and no warnings on stderr.
    #[arg(long, short = 'q', overrides_with = "no_quiet")]
    pub quiet: bool,
    /// Undo --quiet (or `quiet = true` in a config file).
    #[arg(long, overrides_with = "quiet")]
    pub no_quiet: bool,
    /// Rank and print apparent sizes (st_size) instead of disk usage.
    #[arg(long, global = true, overrides_with = "no_apparent_size")]
    pub apparent_size: bool,
    /// Rank and print disk usage (the default).
    #[arg(long, global = true, overrides_with = "apparent_size")]
    pub no_apparent_size: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan a directory tree, store a snapshot, print the largest directories.
    Scan(ScanArgs),
    /// List snapshots, or delete some.
    Snapshots(SnapshotsArgs),
    /// Show the largest directories of a snapshot under a path.
    Show(ShowArgs),
    /// Per-directory changes between two snapshots of the same root.
    Diff(DiffArgs),
    /// Attribute a directory's change to the subdirectories and files that caused it.
    Explain(ExplainArgs),
    /// Recursive disk usage of directories, from the live index.
    Size(SizeArgs),
    /// Follow changes under ROOTs and keep the live index current, until Ctrl-C or SIGTERM.
    Watch(WatchArgs),
    /// Every root of the database: its watcher, state and pending changes.
    Status,
    /// A directory's size in every snapshot of its root, and live.
    History(HistoryArgs),
    /// Every host's roots in a shared store: newest size, change over a period, where it grew.
    Fleet(FleetArgs),
    /// Live changes under PATH from the event journal, newest first.
    Log(LogArgs),
    /// Fold the logged live changes into the store as new snapshots.
    Reconcile(ReconcileArgs),
    /// Compare every walker, store and index on a tree (stores go to a temporary directory).
    Bench(BenchArgs),
    /// List every registered plugin by kind.
    Plugins,
    /// Print the effective configuration and where each value came from.
    Config,
    /// Store a snapshot from another tool's export (ncdu).
    Import(ImportArgs),
    /// Write a snapshot in another tool's format (ncdu).
    Export(ExportArgs),
}

/// `import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The format.
    #[command(subcommand)]
    pub format: ImportFormat,
}

/// `import …`.
#[derive(Debug, Subcommand)]
pub enum ImportFormat {
    /// ncdu's JSON export (`ncdu -o FILE`, `gdu -o FILE`), format 1.x.
    Ncdu {
        /// The export, or `-` for standard input.
        #[arg(value_name = "FILE|-")]
        file: PathBuf,
        /// How many rows and levels to list.
        #[command(flatten)]
        listing: ListingArgs,
    },
}

/// `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The format.
    #[command(subcommand)]
    pub format: ExportFormat,
}

/// `export …`.
#[derive(Debug, Subcommand)]
pub enum ExportFormat {
    /// An ncdu JSON export that `ncdu -f FILE` browses (each directory's
    /// files are folded into one entry, "[files]": the store keeps no file names).
    Ncdu {
        /// Snapshot id [default: the newest snapshot covering the current
        /// directory, or the newest].
        snapshot: Option<SnapshotId>,
    },
}

/// `scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Directory to scan [default: the current directory].
    pub root: Option<PathBuf>,
    /// Do not descend into other file systems.
    #[arg(long, short = 'x', overrides_with = "no_one_file_system")]
    pub one_file_system: bool,
    /// Cross file-system boundaries (the default).
    #[arg(long, overrides_with = "one_file_system")]
    pub no_one_file_system: bool,
    /// Skip entries matching GLOB (repeatable; adds to scan.exclude).
    #[arg(long, short = 'e', value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// How many rows and levels to list.
    #[command(flatten)]
    pub listing: ListingArgs,
}

/// How many rows and levels a listing shows.
#[derive(Debug, Args)]
pub struct ListingArgs {
    /// How many directories to list.
    #[arg(long, short = 'n', value_name = "N")]
    pub top: Option<u64>,
    /// How many levels below the root (or --path) to consider.
    #[arg(long, short = 'd', value_name = "N")]
    pub depth: Option<u64>,
}

/// `snapshots`.
#[derive(Debug, Args)]
pub struct SnapshotsArgs {
    /// Default: list.
    #[command(subcommand)]
    pub action: Option<SnapshotsAction>,
    /// Whose snapshots to list or prune.
    #[command(flatten)]
    pub hosts: HostsArgs,
}

/// `--host` / `--all-hosts`.
#[derive(Debug, Args)]
pub struct HostsArgs {
    /// Only this host's snapshots [default: this host's, see `host` in the config].
    #[arg(long, value_name = "HOST", global = true, conflicts_with = "all_hosts")]
    pub host: Option<String>,
    /// Every host's snapshots.
    #[arg(long, global = true)]
    pub all_hosts: bool,
}

/// `--host`, once or once per side of a comparison.
#[derive(Debug, Args)]
pub struct SidesArgs {
    /// Compare this host's snapshots [default: this host's]; given twice,
    /// the first host's newest snapshot with the second's newest of the same root.
    #[arg(long, value_name = "HOST", num_args = 1, action = clap::ArgAction::Append)]
    pub host: Vec<String>,
}

/// `fleet`.
#[derive(Debug, Args)]
pub struct FleetArgs {
    /// The period over which the change is measured ("7d", "24h") [default: 7d].
    #[arg(long, value_name = "DURATION", value_parser = disktracker::settings::parse_duration)]
    pub since: Option<std::time::Duration>,
    /// Mark hosts whose newest snapshot is older than this as stale.
    #[arg(long, value_name = "DURATION", value_parser = disktracker::settings::parse_duration, default_value = "2d")]
    pub stale_after: std::time::Duration,
}

/// `snapshots …`.
#[derive(Debug, Subcommand)]
pub enum SnapshotsAction {
    /// List snapshots, oldest first.
    List,
    /// Delete snapshots and everything derived from them.
    Delete {
        /// Snapshot ids.
        #[arg(required = true, value_name = "ID")]
        ids: Vec<SnapshotId>,
    },
    /// Delete old snapshots, per root; with both rules, only what both allow.
    Prune(PruneArgs),
}

/// `snapshots prune`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("rule").required(true).multiple(true).args(["keep", "older_than"])))]
pub struct PruneArgs {
    /// Keep the newest N snapshots of each root.
    #[arg(long, value_name = "N")]
    pub keep: Option<u64>,
    /// Delete snapshots older than DURATION ("30d", "12h", "1y").
    #[arg(long, value_name = "DURATION", value_parser = disktracker::settings::parse_duration)]
    pub older_than: Option<std::time::Duration>,
    /// Only snapshots of this root (or of directories below it).
    #[arg(long, value_name = "PATH")]
    pub root: Option<PathBuf>,
    /// Show what would be deleted without deleting it.
    #[arg(long)]
    pub dry_run: bool,
}

/// `diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Older snapshot [default: the second newest of the root].
    pub a: Option<SnapshotId>,
    /// Newer snapshot [default: the newest of A's root].
    pub b: Option<SnapshotId>,
    /// Only this directory and below (also picks the root when A is not given).
    #[arg(long, short = 'p', value_name = "PATH")]
    pub path: Option<PathBuf>,
    /// How many changed directories to list.
    #[arg(long, short = 'n', value_name = "N")]
    pub top: Option<u64>,
    /// Hide changes smaller than SIZE ("4096", "10MiB", "1.5GB").
    #[arg(long, value_name = "SIZE", value_parser = disktracker::settings::parse_size)]
    pub min_delta: Option<u64>,
    /// Whose snapshots.
    #[command(flatten)]
    pub sides: SidesArgs,
}

/// `explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The directory whose change to explain.
    pub path: PathBuf,
    /// Older snapshot [default: the second newest covering PATH].
    #[arg(long, value_name = "ID")]
    pub from: Option<SnapshotId>,
    /// Newer snapshot [default: the newest covering PATH].
    #[arg(long, value_name = "ID")]
    pub to: Option<SnapshotId>,
    /// Contributor threshold, percent of the parent's change.
    #[arg(long, value_name = "PCT")]
    pub threshold: Option<f64>,
    /// Whose snapshots.
    #[command(flatten)]
    pub sides: SidesArgs,
}

/// `show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Snapshot id [default: the newest snapshot containing --path, or the newest].
    pub snapshot: Option<SnapshotId>,
    /// Directory to list under [default: the snapshot's root].
    #[arg(long, short = 'p', value_name = "PATH")]
    pub path: Option<PathBuf>,
    /// How many rows and levels to list.
    #[command(flatten)]
    pub listing: ListingArgs,
    /// Whose snapshots [default: this host's].
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
}

/// `size`.
#[derive(Debug, Args)]
pub struct SizeArgs {
    /// Directories to look up [default: the current directory].
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Check the whole index file (its checksum and structure) before
    /// answering; rebuild it if it fails.
    #[arg(long)]
    pub verify: bool,
}

/// `watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Directories to watch [default: `[watch] roots`, else the current directory].
    #[arg(value_name = "ROOT")]
    pub roots: Vec<PathBuf>,
}

/// `log`.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// Only changes in this directory or below it.
    #[arg(value_name = "PATH")]
    pub path: Option<PathBuf>,
    /// Only changes within this long ("10m", "1h", "2d").
    #[arg(long, value_name = "DURATION", value_parser = disktracker::settings::parse_duration)]
    pub since: Option<std::time::Duration>,
    /// Hide changes smaller than SIZE ("4096", "10MiB").
    #[arg(long, value_name = "SIZE", value_parser = disktracker::settings::parse_size)]
    pub min_delta: Option<u64>,
    /// At most N entries (the newest).
    #[arg(long, short = 'n', value_name = "N")]
    pub limit: Option<usize>,
}

/// `history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The directory [default: the current directory].
    #[arg(value_name = "PATH")]
    pub path: Option<PathBuf>,
    /// Only snapshots within this long ("30d", "12h").
    #[arg(long, value_name = "DURATION", value_parser = disktracker::settings::parse_duration)]
    pub since: Option<std::time::Duration>,
    /// Whose snapshots [default: this host's].
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
}

/// `reconcile`.
#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// Roots to reconcile [default: every watched root].
    #[arg(value_name = "ROOT")]
    pub roots: Vec<PathBuf>,
}

/// `bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Tree to measure on [default: the current directory].
    pub root: Option<PathBuf>,
    /// Walkers to measure, comma-separated, or `all`.
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        default_value = "all"
    )]
    pub walkers: Vec<String>,
    /// Stores to measure, comma-separated, or `all`.
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        default_value = "all"
    )]
    pub stores: Vec<String>,
    /// Timed runs per backend; the median is reported.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub runs: u32,
    /// Drop the page cache before every walk (needs root; says so otherwise).
    #[arg(long)]
    pub cold: bool,
}
