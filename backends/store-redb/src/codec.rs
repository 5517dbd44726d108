//! The on-disk encodings of keys and values (store format 2; format 1 is
//! the same without the live tables' records).
//!
//! Everything is written by hand in a fixed little-endian layout rather than
//! through a serialization crate: the records are flat, the layout is part of
//! the file format (so it must not drift with a dependency's version), and a
//! hand-written decoder of a fixed width costs a few loads per row, which is
//! what keeps a 65k-row tree read in single-digit milliseconds. Keys that must
//! sort are big-endian so that redb's bytewise comparison orders them.
//!
//! Decoders never panic: anything that does not fit is reported as `None`
//! and turned into a [`disktracker::ErrorKind::Corrupt`] error by the caller.

use disktracker::model::DiffEntry;
use disktracker::{
    DirDelta, DirRecord, DirStats, IndexProvenance, JournalEvent, JournalKind, Mutation,
    SnapshotId, SnapshotMeta, WatchState,
};

/// Width of the snapshot-id prefix of a directory key.
pub(crate) const ID_LEN: usize = 8;

/// Width of an encoded directory row value: depth (u32) and every [`DirStats`] field.
pub(crate) const DIR_VALUE_LEN: usize = 4 + 8 * 8 + 8 + 8 + 8 + 16;

/// A directory row value.
pub(crate) type DirValue = [u8; DIR_VALUE_LEN];

/// The key prefix shared by every directory of snapshot `id`.
///
/// Big-endian, so that `(id, path)` sorts by id first, then bytewise by path:
/// one snapshot's rows are one contiguous, path-ordered key range.
#[inline]
pub(crate) fn id_prefix(id: u64) -> [u8; ID_LEN] {
    id.to_be_bytes()
}

/// Appends the key of directory `path` of snapshot `id` to `out`.
#[inline]
pub(crate) fn push_dir_key(out: &mut Vec<u8>, id: u64, path: &[u8]) {
    out.extend_from_slice(&id_prefix(id));
    out.extend_from_slice(path);
}

/// The key of directory `path` of snapshot `id`.
pub(crate) fn dir_key(id: u64, path: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(ID_LEN + path.len());
    push_dir_key(&mut k, id, path);
    k
}

/// The path part of a directory key, or `None` if the key is too short.
#[inline]
pub(crate) fn dir_key_path(key: &[u8]) -> Option<&[u8]> {
    key.get(ID_LEN..)
}

/// Encodes a directory row value.
pub(crate) fn encode_dir(depth: u32, s: &DirStats) -> DirValue {
    let mut v = [0u8; DIR_VALUE_LEN];
    v[0..4].copy_from_slice(&depth.to_le_bytes());
    let words = [
        s.total_bytes,
        s.total_apparent,
        s.direct_bytes,
        s.direct_apparent,
        s.file_count,
        s.direct_files,
        s.child_count,
        s.error_count,
    ];
    for (i, w) in words.iter().enumerate() {
        let at = 4 + 8 * i;
        v[at..at + 8].copy_from_slice(&w.to_le_bytes());
    }
    v[68..76].copy_from_slice(&s.mtime_ns.to_le_bytes());
    v[76..84].copy_from_slice(&s.dev.to_le_bytes());
    v[84..92].copy_from_slice(&s.ino.to_le_bytes());
    v[92..108].copy_from_slice(&s.fingerprint.to_le_bytes());
    v
}

/// The error count of an encoded directory value, without decoding the rest.
pub(crate) fn dir_error_count(v: &DirValue) -> u64 {
    u64_at(v, 4 + 8 * 7)
}

#[inline]
fn u64_at(v: &[u8; DIR_VALUE_LEN], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&v[at..at + 8]);
    u64::from_le_bytes(b)
}

/// Decodes a directory row value into `(depth, stats)`.
///
/// The value type is fixed-width in redb, so every 108-byte array is a valid
/// encoding: there is nothing to reject.
#[inline]
pub(crate) fn decode_dir(v: &DirValue) -> (u32, DirStats) {
    let mut d = [0u8; 4];
    d.copy_from_slice(&v[0..4]);
    let mut fp = [0u8; 16];
    fp.copy_from_slice(&v[92..108]);
    let stats = DirStats {
        total_bytes: u64_at(v, 4),
        total_apparent: u64_at(v, 12),
        direct_bytes: u64_at(v, 20),
        direct_apparent: u64_at(v, 28),
        file_count: u64_at(v, 36),
        direct_files: u64_at(v, 44),
        child_count: u64_at(v, 52),
        error_count: u64_at(v, 60),
        mtime_ns: u64_at(v, 68) as i64,
        dev: u64_at(v, 76),
        ino: u64_at(v, 84),
        fingerprint: u128::from_le_bytes(fp),
    };
    (u32::from_le_bytes(d), stats)
}

/// A cursor over bytes being decoded; every read is bounds-checked.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.u32()?).ok()?;
        self.take(n)
    }
}

fn push_bytes(out: &mut Vec<u8>, b: &[u8]) -> Option<()> {
    out.extend_from_slice(&u32::try_from(b.len()).ok()?.to_le_bytes());
    out.extend_from_slice(b);
    Some(())
}

/// Encodes a snapshot description: seven fixed 8-byte fields, then root,
/// host and walker, each as a u32 length and its bytes. `None` if a string is
/// longer than 4 GiB.
pub(crate) fn encode_meta(m: &SnapshotMeta) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(56 + 12 + m.root.len() + m.host.len() + m.walker.len());
    for w in [
        m.started_at_ms as u64,
        m.finished_at_ms as u64,
        m.total_files,
        m.total_bytes,
        m.total_apparent,
        m.dir_count,
        m.error_count,
    ] {
        out.extend_from_slice(&w.to_le_bytes());
    }
    push_bytes(&mut out, &m.root)?;
    push_bytes(&mut out, m.host.as_bytes())?;
    push_bytes(&mut out, m.walker.as_bytes())?;
    Some(out)
}

/// Decodes [`encode_meta`]'s output; `None` if it is malformed.
pub(crate) fn decode_meta(v: &[u8]) -> Option<SnapshotMeta> {
    let mut r = Reader(v);
    let started_at_ms = r.u64()? as i64;
    let finished_at_ms = r.u64()? as i64;
    let total_files = r.u64()?;
    let total_bytes = r.u64()?;
    let total_apparent = r.u64()?;
    let dir_count = r.u64()?;
    let error_count = r.u64()?;
    let root = r.bytes()?.to_vec();
    let host = String::from_utf8(r.bytes()?.to_vec()).ok()?;
    let walker = String::from_utf8(r.bytes()?.to_vec()).ok()?;
    if !r.0.is_empty() {
        return None;
    }
    Some(SnapshotMeta {
        root,
        started_at_ms,
        finished_at_ms,
        host,
        total_files,
        total_bytes,
        total_apparent,
        dir_count,
        error_count,
        walker,
    })
}

/// Encodes one cached diff entry: a presence byte (bit 0 `bytes_a`, 1
/// `bytes_b`, 2 `apparent_a`, 3 `apparent_b`), the four sizes (0 when
/// absent), then the path bytes to the end.
pub(crate) fn encode_diff(e: &DiffEntry) -> Vec<u8> {
    let sides = [e.bytes_a, e.bytes_b, e.apparent_a, e.apparent_b];
    let mut out = Vec::with_capacity(1 + 32 + e.path.len());
    let mut flags = 0u8;
    for (i, s) in sides.iter().enumerate() {
        if s.is_some() {
            flags |= 1 << i;
        }
    }
    out.push(flags);
    for s in sides {
        out.extend_from_slice(&s.unwrap_or(0).to_le_bytes());
    }
    out.extend_from_slice(&e.path);
    out
}

/// Decodes [`encode_diff`]'s output; `None` if it is malformed.
pub(crate) fn decode_diff(v: &[u8]) -> Option<DiffEntry> {
    let mut r = Reader(v);
    let flags = r.take(1)?[0];
    if flags >> 4 != 0 {
        return None;
    }
    let mut sides = [None; 4];
    for (i, side) in sides.iter_mut().enumerate() {
        let w = r.u64()?;
        if flags & (1 << i) != 0 {
            *side = Some(w);
        } else if w != 0 {
            return None;
        }
    }
    Some(DiffEntry {
        path: r.0.to_vec(),
        bytes_a: sides[0],
        bytes_b: sides[1],
        apparent_a: sides[2],
        apparent_b: sides[3],
    })
}

fn push_opt_u64(out: &mut Vec<u8>, v: Option<u64>) {
    out.push(u8::from(v.is_some()));
    out.extend_from_slice(&v.unwrap_or(0).to_le_bytes());
}

impl Reader<'_> {
    fn i64(&mut self) -> Option<i64> {
        Some(self.u64()? as i64)
    }

    fn flag(&mut self) -> Option<bool> {
        match self.take(1)?[0] {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }

    /// A presence byte and a u64 that is 0 when absent.
    fn opt_u64(&mut self) -> Option<Option<u64>> {
        let present = self.flag()?;
        let v = self.u64()?;
        match (present, v) {
            (true, v) => Some(Some(v)),
            (false, 0) => Some(None),
            (false, _) => None,
        }
    }

    fn dir_value(&mut self) -> Option<DirValue> {
        self.take(DIR_VALUE_LEN)?.try_into().ok()
    }
}

const UPSERT: u8 = 1;
const REMOVE_SUBTREE: u8 = 2;

/// Encodes a logged mutation: a tag byte (1 upsert, 2 removed subtree), the
/// time (i64), the old total (presence byte and u64), for an upsert the
/// directory row value ([`encode_dir`]), then the path bytes to the end.
pub(crate) fn encode_mutation(m: &Mutation) -> Vec<u8> {
    let mut out = Vec::with_capacity(18 + DIR_VALUE_LEN + m.path().len());
    match m {
        Mutation::Upsert {
            time_ms,
            record,
            old_total,
        } => {
            out.push(UPSERT);
            out.extend_from_slice(&time_ms.to_le_bytes());
            push_opt_u64(&mut out, *old_total);
            out.extend_from_slice(&encode_dir(record.depth, &record.stats));
            out.extend_from_slice(&record.path);
        }
        Mutation::RemoveSubtree {
            time_ms,
            path,
            old_total,
        } => {
            out.push(REMOVE_SUBTREE);
            out.extend_from_slice(&time_ms.to_le_bytes());
            push_opt_u64(&mut out, *old_total);
            out.extend_from_slice(path);
        }
    }
    out
}

/// Decodes [`encode_mutation`]'s output; `None` if it is malformed.
pub(crate) fn decode_mutation(v: &[u8]) -> Option<Mutation> {
    let mut r = Reader(v);
    let tag = r.take(1)?[0];
    let time_ms = r.i64()?;
    let old_total = r.opt_u64()?;
    match tag {
        UPSERT => {
            let (depth, stats) = decode_dir(&r.dir_value()?);
            Some(Mutation::Upsert {
                time_ms,
                record: DirRecord {
                    path: r.0.to_vec(),
                    depth,
                    stats,
                },
                old_total,
            })
        }
        REMOVE_SUBTREE => Some(Mutation::RemoveSubtree {
            time_ms,
            path: r.0.to_vec(),
            old_total,
        }),
        _ => None,
    }
}

/// The path of an encoded mutation, without decoding the rest.
pub(crate) fn mutation_path(v: &[u8]) -> Option<&[u8]> {
    let fixed = 1 + 8 + 9;
    match *v.first()? {
        UPSERT => v.get(fixed + DIR_VALUE_LEN..),
        REMOVE_SUBTREE => v.get(fixed..),
        _ => None,
    }
}

/// Encodes a journal entry without its time (which is in the key): the kind
/// code (one byte), `is_dir` (one byte), the size change (presence byte and
/// i64), then the path bytes to the end.
pub(crate) fn encode_event(e: &JournalEvent) -> Vec<u8> {
    let mut out = Vec::with_capacity(11 + e.path.len());
    // Codes are small and stable (1..=7); see `JournalKind::code`.
    out.push(u8::try_from(e.kind.code()).unwrap_or(u8::MAX));
    out.push(u8::from(e.is_dir));
    push_opt_u64(&mut out, e.delta_bytes.map(|d| d as u64));
    out.extend_from_slice(&e.path);
    out
}

/// Decodes [`encode_event`]'s output for an entry made at `time_ms`.
pub(crate) fn decode_event(time_ms: i64, v: &[u8]) -> Option<JournalEvent> {
    let mut r = Reader(v);
    let kind = JournalKind::from_code(i64::from(r.take(1)?[0]))?;
    let is_dir = r.flag()?;
    let delta_bytes = r.opt_u64()?.map(|d| d as i64);
    Some(JournalEvent {
        time_ms,
        kind,
        path: r.0.to_vec(),
        delta_bytes,
        is_dir,
    })
}

/// Encodes a recorded directory delta without its snapshot and path (which
/// are in the key): previous bytes (presence byte and u64), current bytes,
/// and the time it was recorded.
pub(crate) fn encode_delta(d: &DirDelta) -> Vec<u8> {
    let mut out = Vec::with_capacity(25);
    push_opt_u64(&mut out, d.previous_bytes);
    out.extend_from_slice(&d.current_bytes.to_le_bytes());
    out.extend_from_slice(&d.recorded_at_ms.to_le_bytes());
    out
}

/// Decodes [`encode_delta`]'s output.
pub(crate) fn decode_delta(snapshot: SnapshotId, path: &[u8], v: &[u8]) -> Option<DirDelta> {
    let mut r = Reader(v);
    let previous_bytes = r.opt_u64()?;
    let current_bytes = r.u64()?;
    let recorded_at_ms = r.i64()?;
    if !r.0.is_empty() {
        return None;
    }
    Some(DirDelta {
        snapshot,
        path: path.to_vec(),
        previous_bytes,
        current_bytes,
        recorded_at_ms,
    })
}

/// Encodes a watch state without its root (the key): last event time, last
/// reconcile time and last snapshot (each a presence byte and an i64), then
/// the mutation cursor.
pub(crate) fn encode_watch(w: &WatchState) -> Vec<u8> {
    let mut out = Vec::with_capacity(35);
    for v in [w.last_event_ms, w.last_reconcile_ms, w.last_snapshot] {
        push_opt_u64(&mut out, v.map(|x| x as u64));
    }
    out.extend_from_slice(&w.mutation_cursor.to_le_bytes());
    out
}

/// Decodes [`encode_watch`]'s output for `root`.
pub(crate) fn decode_watch(root: &[u8], v: &[u8]) -> Option<WatchState> {
    let mut r = Reader(v);
    let mut opt = || Some(r.opt_u64()?.map(|x| x as i64));
    let last_event_ms = opt()?;
    let last_reconcile_ms = opt()?;
    let last_snapshot = opt()?;
    let mutation_cursor = r.i64()?;
    if !r.0.is_empty() {
        return None;
    }
    Some(WatchState {
        root: root.to_vec(),
        last_event_ms,
        last_reconcile_ms,
        last_snapshot,
        mutation_cursor,
    })
}

/// Encodes an index provenance: length, device, inode, modification time,
/// checksum and mutation cursor (8 bytes each), the number of roots (u32),
/// then each root as a u32 length, its bytes and its snapshot id (i64).
/// `None` if a root is over 4 GiB or there are over 4 G of them.
pub(crate) fn encode_provenance(p: &IndexProvenance) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(52 + p.snapshots.len() * 64);
    for w in [
        p.len,
        p.dev,
        p.ino,
        p.mtime_ns as u64,
        p.checksum,
        p.mutation_cursor as u64,
    ] {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out.extend_from_slice(&u32::try_from(p.snapshots.len()).ok()?.to_le_bytes());
    for (root, id) in &p.snapshots {
        push_bytes(&mut out, root)?;
        out.extend_from_slice(&id.to_le_bytes());
    }
    Some(out)
}

/// Decodes [`encode_provenance`]'s output.
pub(crate) fn decode_provenance(v: &[u8]) -> Option<IndexProvenance> {
    let mut r = Reader(v);
    let len = r.u64()?;
    let dev = r.u64()?;
    let ino = r.u64()?;
    let mtime_ns = r.i64()?;
    let checksum = r.u64()?;
    let mutation_cursor = r.i64()?;
    let n = r.u32()?;
    let mut snapshots = Vec::new();
    for _ in 0..n {
        let root = r.bytes()?.to_vec();
        snapshots.push((root, r.i64()?));
    }
    if !r.0.is_empty() {
        return None;
    }
    Some(IndexProvenance {
        snapshots,
        len,
        dev,
        ino,
        mtime_ns,
        checksum,
        mutation_cursor,
    })
}

/// A snapshot id as the u64 the tables use, or `None` for ids no snapshot can
/// have (zero and negatives).
#[inline]
pub(crate) fn stored_id(id: SnapshotId) -> Option<u64> {
    u64::try_from(id).ok().filter(|&i| i > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_round_trip_extremes() {
        let s = DirStats {
            total_bytes: u64::MAX,
            total_apparent: 1,
            direct_bytes: u64::MAX - 1,
            direct_apparent: 0,
            file_count: 3,
            direct_files: u64::MAX,
            child_count: 5,
            error_count: 6,
            mtime_ns: i64::MIN,
            dev: u64::MAX,
            ino: 7,
            fingerprint: u128::MAX - 3,
        };
        assert_eq!(decode_dir(&encode_dir(u32::MAX, &s)), (u32::MAX, s));
    }

    #[test]
    fn meta_round_trip_and_rejects_garbage() {
        let m = SnapshotMeta {
            root: b"/r\xff".to_vec(),
            started_at_ms: -5,
            finished_at_ms: i64::MAX,
            host: "h\u{e9}".into(),
            total_files: 1,
            total_bytes: 2,
            total_apparent: 3,
            dir_count: 4,
            error_count: 5,
            walker: "steal".into(),
        };
        let enc = encode_meta(&m).unwrap();
        assert_eq!(decode_meta(&enc), Some(m));
        for n in 0..enc.len() {
            assert_eq!(decode_meta(&enc[..n]), None, "truncated at {n}");
        }
        let mut long = enc.clone();
        long.push(0);
        assert_eq!(decode_meta(&long), None);
    }

    #[test]
    fn diff_round_trip_and_rejects_garbage() {
        let e = DiffEntry {
            path: b"/a\x80".to_vec(),
            bytes_a: None,
            bytes_b: Some(u64::MAX),
            apparent_a: Some(0),
            apparent_b: None,
        };
        let enc = encode_diff(&e);
        assert_eq!(decode_diff(&enc), Some(e));
        assert_eq!(decode_diff(&enc[..20]), None);
        let mut bad = enc.clone();
        bad[0] = 0x10;
        assert_eq!(decode_diff(&bad), None);
    }
}
