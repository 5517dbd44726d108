//! Choosing the largest directories to show.

use disktracker::{DirRecord, SizeKind};

/// The `n` largest directories strictly below `under` and at most
/// `max_depth` levels below it, largest first (ties by path).
pub fn top_dirs<'a>(
    rows: impl IntoIterator<Item = &'a DirRecord>,
    under: &DirRecord,
    max_depth: u32,
    n: usize,
    kind: SizeKind,
) -> Vec<DirRecord> {
    let lo = under.depth;
    let mut picked: Vec<&DirRecord> = rows
        .into_iter()
        .filter(|r| {
            r.depth > lo
                && r.depth - lo <= max_depth
                && disktracker::path::is_within(&r.path, &under.path)
        })
        .collect();
    picked.sort_by(|a, b| {
        b.stats
            .total(kind)
            .cmp(&a.stats.total(kind))
            .then_with(|| a.path.cmp(&b.path))
    });
    picked.into_iter().take(n).cloned().collect()
}
