//! The data model: per-directory statistics and snapshot descriptions.

use serde::{Deserialize, Serialize};

/// Identifier of a stored snapshot (positive, increasing with time).
pub type SnapshotId = i64;

/// Which size a report ranks and prints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SizeKind {
    /// Allocated bytes (`st_blocks × 512`), like `du`. The default.
    #[default]
    DiskUsage,
    /// Apparent bytes (`st_size`), like `du --apparent-size`.
    Apparent,
}

/// One directory's sizes and identity in a scan.
///
/// *Direct* totals cover the directory's own inode plus its non-directory
/// entries; *recursive* (`total_*`) totals add every subdirectory's recursive
/// totals. A file with several hard links inside one scan counts once, in the
/// directory whose full path sorts first bytewise among its links.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirStats {
    /// Recursive disk usage in bytes.
    pub total_bytes: u64,
    /// Recursive apparent size in bytes.
    pub total_apparent: u64,
    /// Direct disk usage: own inode plus non-directory entries.
    pub direct_bytes: u64,
    /// Direct apparent size.
    pub direct_apparent: u64,
    /// Recursive count of non-directory entries (a hard-linked file once).
    pub file_count: u64,
    /// Non-directory entries directly inside.
    pub direct_files: u64,
    /// Number of immediate subdirectories.
    pub child_count: u64,
    /// Errors met while reading this directory and its direct entries.
    pub error_count: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Order-independent digest of the direct entries, computed the same way by
    /// every walker (`disktracker-walker-support`'s `Fingerprint`).
    pub fingerprint: u128,
}

impl DirStats {
    /// The recursive size of the requested kind.
    pub fn total(&self, kind: SizeKind) -> u64 {
        match kind {
            SizeKind::DiskUsage => self.total_bytes,
            SizeKind::Apparent => self.total_apparent,
        }
    }

    /// The direct size of the requested kind.
    pub fn direct(&self, kind: SizeKind) -> u64 {
        match kind {
            SizeKind::DiskUsage => self.direct_bytes,
            SizeKind::Apparent => self.direct_apparent,
        }
    }
}

/// A directory of a snapshot: absolute path bytes, depth below the root, stats.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirRecord {
    /// Absolute path, raw bytes.
    pub path: Vec<u8>,
    /// Depth below the scan root (the root is 0).
    pub depth: u32,
    /// Sizes and identity.
    pub stats: DirStats,
}

/// What a snapshot is of, known when the scan finishes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotMeta {
    /// Absolute scan root, raw bytes.
    pub root: Vec<u8>,
    /// Scan start, milliseconds since the Unix epoch.
    pub started_at_ms: i64,
    /// Scan end, milliseconds since the Unix epoch.
    pub finished_at_ms: i64,
    /// Host name the scan ran on.
    pub host: String,
    /// Recursive non-directory entries under the root.
    pub total_files: u64,
    /// Recursive disk usage of the root.
    pub total_bytes: u64,
    /// Recursive apparent size of the root.
    pub total_apparent: u64,
    /// Number of directories stored.
    pub dir_count: u64,
    /// Errors met during the scan.
    pub error_count: u64,
    /// Name of the walker that produced it.
    pub walker: String,
}

impl SnapshotMeta {
    /// The root's recursive size of the requested kind.
    pub fn total(&self, kind: SizeKind) -> u64 {
        match kind {
            SizeKind::DiskUsage => self.total_bytes,
            SizeKind::Apparent => self.total_apparent,
        }
    }
}

/// A stored snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotInfo {
    /// Its id.
    pub id: SnapshotId,
    /// What it is of.
    #[serde(flatten)]
    pub meta: SnapshotMeta,
}

/// One directory's change between two snapshots A and B (`None`: absent in that snapshot).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffEntry {
    /// Absolute path, raw bytes.
    pub path: Vec<u8>,
    /// Recursive disk usage in A.
    pub bytes_a: Option<u64>,
    /// Recursive disk usage in B.
    pub bytes_b: Option<u64>,
    /// Recursive apparent size in A.
    pub apparent_a: Option<u64>,
    /// Recursive apparent size in B.
    pub apparent_b: Option<u64>,
}

impl DiffEntry {
    /// Whether the directory was added, removed, or exists on both sides.
    pub fn status(&self) -> crate::report::ChangeStatus {
        use crate::report::ChangeStatus;
        match (self.bytes_a.is_some(), self.bytes_b.is_some()) {
            (false, true) => ChangeStatus::Added,
            (true, false) => ChangeStatus::Removed,
            _ => ChangeStatus::Changed,
        }
    }

    /// The sizes in A and in B of the requested kind.
    pub fn sides(&self, kind: SizeKind) -> (Option<u64>, Option<u64>) {
        match kind {
            SizeKind::DiskUsage => (self.bytes_a, self.bytes_b),
            SizeKind::Apparent => (self.apparent_a, self.apparent_b),
        }
    }

    /// B minus A of the requested kind (an absent side counts as 0).
    pub fn delta(&self, kind: SizeKind) -> i128 {
        let (a, b) = self.sides(kind);
        i128::from(b.unwrap_or(0)) - i128::from(a.unwrap_or(0))
    }
}
