//! Selecting snapshots by root: one statement per question, served by
//! `idx_snapshots_root (scan_root_blob, id)` (schema migration 5).

use disktracker::path::{parent_bytes, trim_slashes};
use disktracker::{RootFilter, SnapshotQuery};
use rusqlite::types::Value;

use crate::SNAPSHOT_COLS;

/// The paths whose subtree contains `path` (component-wise): `path`
/// itself and each of its ancestors up to `/`.
pub(crate) fn covering_roots(path: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut cur = Some(trim_slashes(path));
    while let Some(p) = cur {
        out.push(p);
        cur = parent_bytes(p);
    }
    out
}

/// The statement answering `query`, newest first, and its parameters.
/// A covering query names every root that could contain the path
/// (`scan_root_blob IN (path, its parent, …, /)`), so the index finds them
/// without reading the snapshots of other roots.
pub(crate) fn find_sql(query: &SnapshotQuery<'_>) -> (String, Vec<Value>) {
    let limit = query.limit.unwrap_or(usize::MAX);
    let mut params = vec![Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX))];
    let mut filters = Vec::new();
    if let Some(before) = query.before {
        params.push(Value::Integer(before));
        filters.push(format!("id < ?{}", params.len()));
    }
    if let Some(host) = query.host {
        params.push(Value::Text(host.to_owned()));
        filters.push(format!("host = ?{}", params.len()));
    }
    let roots = match query.root {
        RootFilter::Any => None,
        RootFilter::Exactly(root) => Some(vec![root]),
        RootFilter::Covering(path) => Some(covering_roots(path)),
    };
    if let Some(roots) = roots {
        let marks: Vec<String> = roots
            .iter()
            .map(|r| {
                params.push(Value::Blob(r.to_vec()));
                format!("?{}", params.len())
            })
            .collect();
        filters.push(format!("scan_root_blob IN ({})", marks.join(", ")));
    }
    let filter = if filters.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", filters.join(" AND "))
    };
    let sql = format!("SELECT {SNAPSHOT_COLS} FROM snapshots {filter} ORDER BY id DESC LIMIT ?1");
    (sql, params)
}

/// The newest snapshot of each root taken by host `?1`, by root bytes;
/// with `?1` NULL, of each (root, host) pair, by root bytes then host.
pub(crate) fn latest_per_root_sql() -> String {
    format!(
        "SELECT {SNAPSHOT_COLS} FROM snapshots WHERE id IN \
         (SELECT max(id) FROM snapshots WHERE ?1 IS NULL OR host = ?1 \
          GROUP BY scan_root_blob, host) ORDER BY scan_root_blob, host"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covering_roots_are_the_path_and_its_ancestors() {
        assert_eq!(
            covering_roots(b"/a/b-c/d/"),
            [&b"/a/b-c/d"[..], b"/a/b-c", b"/a", b"/"]
        );
        assert_eq!(covering_roots(b"/"), [&b"/"[..]]);
        assert_eq!(covering_roots(b"/x\xff"), [&b"/x\xff"[..], b"/"]);
    }
}
