//! Which snapshots a retention policy deletes.

use std::collections::BTreeMap;

use disktracker::SnapshotInfo;
use disktracker::path::is_within;

/// A retention policy; a snapshot is deleted only when every rule given allows it.
#[derive(Clone, Debug, Default)]
pub struct Retention<'a> {
    /// Keep the newest N snapshots of each root.
    pub keep: Option<usize>,
    /// Delete snapshots that finished before this time (ms since the epoch).
    pub older_than_ms: Option<i64>,
    /// Only consider snapshots whose root is this path or below it.
    pub root: Option<&'a [u8]>,
}

/// The ids `policy` deletes from `snaps` (any order), ascending, per host and root. With no
/// rule at all, nothing is deleted.
pub fn plan(snaps: &[SnapshotInfo], policy: &Retention<'_>) -> Vec<i64> {
    if policy.keep.is_none() && policy.older_than_ms.is_none() {
        return Vec::new();
    }
    // Per host and root: hosts sharing a store keep their own history.
    let mut by_root: BTreeMap<(&[u8], &str), Vec<&SnapshotInfo>> = BTreeMap::new();
    for s in snaps {
        if policy.root.is_none_or(|r| is_within(&s.meta.root, r)) {
            by_root
                .entry((&s.meta.root, &s.meta.host))
                .or_default()
                .push(s);
        }
    }
    let mut out = Vec::new();
    for group in by_root.values_mut() {
        group.sort_by_key(|s| std::cmp::Reverse(s.id));
        for (rank, s) in group.iter().enumerate() {
            let beyond_keep = policy.keep.is_none_or(|k| rank >= k);
            let too_old = policy
                .older_than_ms
                .is_none_or(|t| s.meta.finished_at_ms < t);
            if beyond_keep && too_old {
                out.push(s.id);
            }
        }
    }
    out.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use disktracker::SnapshotMeta;

    fn snap(id: i64, root: &str, at: i64) -> SnapshotInfo {
        SnapshotInfo {
            id,
            meta: SnapshotMeta {
                root: root.as_bytes().to_vec(),
                finished_at_ms: at,
                ..SnapshotMeta::default()
            },
        }
    }

    #[test]
    fn keep_is_per_root_and_rules_combine_conservatively() {
        let snaps = [
            snap(1, "/a", 10),
            snap(2, "/b", 20),
            snap(3, "/a", 30),
            snap(4, "/a", 40),
            snap(5, "/b", 50),
        ];
        let keep1 = Retention {
            keep: Some(1),
            ..Default::default()
        };
        assert_eq!(plan(&snaps, &keep1), [1, 2, 3]);
        let old = Retention {
            older_than_ms: Some(35),
            ..Default::default()
        };
        assert_eq!(plan(&snaps, &old), [1, 2, 3]);
        let both = Retention {
            keep: Some(2),
            older_than_ms: Some(35),
            ..Default::default()
        };
        // /a keeps 4 and 3 (newest two); /b keeps 5 and 2.
        assert_eq!(plan(&snaps, &both), [1]);
        let only_b = Retention {
            keep: Some(0),
            root: Some(b"/b"),
            ..Default::default()
        };
        assert_eq!(plan(&snaps, &only_b), [2, 5]);
        assert!(plan(&snaps, &Retention::default()).is_empty());
    }
}
