//! Directory blocks: a snapshot's directories are stored as `dir_blocks`
//! rows of a few hundred directories each, in path order, encoded here.
//!
//! One row per directory costs the server a tuple header, an index entry
//! and the write-ahead log of both for every directory; a block costs them
//! once for hundreds, and its encoding is a fraction of a row's width
//! (paths share their prefix with the previous one, numbers are varints).
//! The server still finds a directory through the primary key: the block
//! holding path `P` is the one with the greatest `first_path ≤ P`.
//!
//! Format [`FORMAT`] (1): one byte, the format; then per directory, in
//! strictly increasing bytewise path order:
//!
//! * the number of leading bytes shared with the previous path (0 for the
//!   first), the length of the rest and its bytes;
//! * the depth;
//! * `total_bytes`, `total_apparent`, `direct_bytes`, `direct_apparent`,
//!   `file_count`, `direct_files`, `child_count`, `error_count`;
//! * `mtime_ns` zigzag-encoded; `dev`, `ino`;
//! * the fingerprint, 16 bytes little-endian.
//!
//! Every number but the fingerprint is an unsigned LEB128 varint. The row's
//! `dir_count` says how many directories the body holds and `first_path`
//! repeats the first one; both are checked while decoding, so a damaged body
//! is reported as corrupt rather than read as a different tree.

use disktracker::{DirRecord, DirStats};

/// The body format written by this build.
pub(crate) const FORMAT: u8 = 1;

/// A block is closed once its body reaches this size: small enough that
/// finding one directory decodes little, large enough that a 65k-directory
/// snapshot is a few hundred rows.
pub(crate) const TARGET_BYTES: usize = 16 * 1024;

/// A closed block: one `dir_blocks` row without its snapshot id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Block {
    pub first_path: Vec<u8>,
    pub dir_count: i32,
    pub body: Vec<u8>,
}

/// Encodes directories, given in strictly increasing path order, into
/// blocks of about [`TARGET_BYTES`].
#[derive(Default)]
pub(crate) struct BlockEncoder {
    body: Vec<u8>,
    first: Vec<u8>,
    prev: Vec<u8>,
    count: i32,
}

impl BlockEncoder {
    /// Adds one directory; the caller checks the order.
    pub(crate) fn push(&mut self, path: &[u8], depth: u32, s: &DirStats) {
        if self.count == 0 {
            self.body.clear();
            self.body.push(FORMAT);
            self.first.clear();
            self.first.extend_from_slice(path);
            self.prev.clear();
        }
        let shared = self
            .prev
            .iter()
            .zip(path)
            .take_while(|(a, b)| a == b)
            .count();
        let suffix = &path[shared..];
        put_varint(&mut self.body, shared as u64);
        put_varint(&mut self.body, suffix.len() as u64);
        self.body.extend_from_slice(suffix);
        put_varint(&mut self.body, u64::from(depth));
        for v in [
            s.total_bytes,
            s.total_apparent,
            s.direct_bytes,
            s.direct_apparent,
            s.file_count,
            s.direct_files,
            s.child_count,
            s.error_count,
        ] {
            put_varint(&mut self.body, v);
        }
        put_varint(&mut self.body, zigzag(s.mtime_ns));
        put_varint(&mut self.body, s.dev);
        put_varint(&mut self.body, s.ino);
        self.body.extend_from_slice(&s.fingerprint.to_le_bytes());
        self.prev.truncate(shared);
        self.prev.extend_from_slice(suffix);
        self.count += 1;
    }

    /// Whether the open block has reached its size.
    pub(crate) fn is_full(&self) -> bool {
        self.body.len() >= TARGET_BYTES
    }

    /// Closes the open block, if it holds any directory.
    pub(crate) fn take(&mut self) -> Option<Block> {
        if self.count == 0 {
            return None;
        }
        let block = Block {
            first_path: std::mem::take(&mut self.first),
            dir_count: self.count,
            body: std::mem::replace(&mut self.body, Vec::with_capacity(TARGET_BYTES + 512)),
        };
        self.count = 0;
        Some(block)
    }
}

/// Decodes one block's directories, checking the body against its row.
pub(crate) struct BlockDecoder<'a> {
    rest: &'a [u8],
    first: &'a [u8],
    remaining: i32,
    prev: Vec<u8>,
    started: bool,
}

impl<'a> BlockDecoder<'a> {
    /// A decoder of `body`, stored with `first_path` and `dir_count`;
    /// `None` if the body is not in a known format.
    pub(crate) fn new(first_path: &'a [u8], dir_count: i32, body: &'a [u8]) -> Option<Self> {
        let (&format, rest) = body.split_first()?;
        if format != FORMAT || dir_count < 0 {
            return None;
        }
        Some(BlockDecoder {
            rest,
            first: first_path,
            remaining: dir_count,
            prev: Vec::new(),
            started: false,
        })
    }

    /// The first path the block's row names.
    pub(crate) fn first_path(&self) -> &'a [u8] {
        self.first
    }

    /// Decodes the next directory into `rec`: `Some(true)`, or `Some(false)`
    /// at the end of the block, or `None` if the body is malformed.
    pub(crate) fn next_into(&mut self, rec: &mut DirRecord) -> Option<bool> {
        if self.remaining == 0 {
            return if self.rest.is_empty() {
                Some(false)
            } else {
                None
            };
        }
        let shared = usize::try_from(self.varint()?).ok()?;
        let len = usize::try_from(self.varint()?).ok()?;
        if shared > self.prev.len() || (!self.started && shared != 0) {
            return None;
        }
        let suffix = self.take(len)?;
        // Strictly increasing: the first differing byte must be greater, or
        // the previous path a proper prefix of this one.
        if self.started {
            let old = self.prev.get(shared..).unwrap_or_default();
            let increasing = match (old.first(), suffix.first()) {
                (Some(a), Some(b)) => b > a,
                (None, Some(_)) => true,
                (_, None) => false,
            };
            if !increasing {
                return None;
            }
        }
        self.prev.truncate(shared);
        self.prev.extend_from_slice(suffix);
        if !self.started && self.prev != self.first {
            return None;
        }
        self.started = true;
        let depth = u32::try_from(self.varint()?).ok()?;
        let mut n = [0u64; 8];
        for v in &mut n {
            *v = self.varint()?;
        }
        let mtime_ns = unzigzag(self.varint()?);
        let dev = self.varint()?;
        let ino = self.varint()?;
        let fingerprint = u128::from_le_bytes(self.take(16)?.try_into().ok()?);
        rec.path.clear();
        rec.path.extend_from_slice(&self.prev);
        rec.depth = depth;
        rec.stats = DirStats {
            total_bytes: n[0],
            total_apparent: n[1],
            direct_bytes: n[2],
            direct_apparent: n[3],
            file_count: n[4],
            direct_files: n[5],
            child_count: n[6],
            error_count: n[7],
            mtime_ns,
            dev,
            ino,
            fingerprint,
        };
        self.remaining -= 1;
        Some(true)
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.rest.len() < n {
            return None;
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Some(head)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut v: u64 = 0;
        for (i, &b) in self.rest.iter().enumerate().take(10) {
            let bits = u64::from(b & 0x7f);
            // The tenth byte may only carry the top bit of a u64.
            if i == 9 && b > 1 {
                return None;
            }
            v |= bits << (7 * i);
            if b & 0x80 == 0 {
                self.rest = &self.rest[i + 1..];
                return Some(v);
            }
        }
        None
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(path: &str, i: u64) -> DirRecord {
        DirRecord {
            path: path.as_bytes().to_vec(),
            depth: path.matches('/').count() as u32,
            stats: DirStats {
                total_bytes: i * 4096,
                total_apparent: u64::MAX - i,
                direct_bytes: i,
                direct_apparent: 1 << 63,
                file_count: i * 3,
                direct_files: 0,
                child_count: 127,
                error_count: 128,
                mtime_ns: if i.is_multiple_of(2) {
                    -(i as i64)
                } else {
                    i64::MAX - i as i64
                },
                dev: 2049,
                ino: i64::MAX as u64 + i,
                fingerprint: u128::MAX / (u128::from(i) + 1),
            },
        }
    }

    fn decode(b: &Block) -> Option<Vec<DirRecord>> {
        let mut d = BlockDecoder::new(&b.first_path, b.dir_count, &b.body)?;
        let mut out = Vec::new();
        let mut r = DirRecord::default();
        while d.next_into(&mut r)? {
            out.push(r.clone());
        }
        Some(out)
    }

    #[test]
    fn directories_come_back_exactly_across_blocks() {
        let mut paths: Vec<String> = vec!["/r".into()];
        for i in 0..2000 {
            paths.push(format!("/r/d{:04}", i / 10));
            paths.push(format!("/r/d{:04}/sub-{i}-\u{e9}", i / 10));
        }
        paths.sort();
        paths.dedup();
        let want: Vec<DirRecord> = paths
            .iter()
            .enumerate()
            .map(|(i, p)| rec(p, i as u64))
            .collect();
        let mut enc = BlockEncoder::default();
        let mut blocks = Vec::new();
        for r in &want {
            enc.push(&r.path, r.depth, &r.stats);
            if enc.is_full() {
                blocks.extend(enc.take());
            }
        }
        blocks.extend(enc.take());
        assert!(blocks.len() > 2, "{} blocks", blocks.len());
        assert!(enc.take().is_none());
        let got: Vec<DirRecord> = blocks.iter().flat_map(|b| decode(b).unwrap()).collect();
        assert_eq!(got, want);
        for b in &blocks {
            assert_eq!(b.first_path, decode(b).unwrap()[0].path);
        }
    }

    #[test]
    fn damage_is_reported_never_decoded_as_another_tree() {
        let mut enc = BlockEncoder::default();
        for (i, p) in ["/a", "/a/b", "/a/c"].iter().enumerate() {
            let r = rec(p, i as u64);
            enc.push(&r.path, r.depth, &r.stats);
        }
        let good = enc.take().unwrap();
        assert_eq!(decode(&good).unwrap().len(), 3);
        let mut b = good.clone();
        b.dir_count = 2;
        assert!(decode(&b).is_none(), "trailing bytes");
        b.dir_count = 4;
        assert!(decode(&b).is_none(), "too few directories");
        let mut b = good.clone();
        b.first_path = b"/b".to_vec();
        assert!(decode(&b).is_none(), "first path differs");
        let mut b = good.clone();
        b.body[0] = 2;
        assert!(decode(&b).is_none(), "unknown format");
        for cut in 0..good.body.len() {
            let mut b = good.clone();
            b.body.truncate(cut);
            assert!(decode(&b).is_none(), "truncated at {cut}");
        }
        // Flipping any byte never panics; whatever decodes still holds
        // three directories in increasing order.
        for at in 1..good.body.len() {
            for bit in 0..8 {
                let mut b = good.clone();
                b.body[at] ^= 1 << bit;
                if let Some(dirs) = decode(&b) {
                    assert_eq!(dirs.len(), 3);
                    assert!(dirs.windows(2).all(|w| w[0].path < w[1].path));
                }
            }
        }
    }

    #[test]
    fn varints_and_zigzag_cover_the_extremes() {
        for v in [0, 1, 127, 128, 16_383, 16_384, u64::MAX / 2, u64::MAX] {
            let mut buf = vec![FORMAT];
            put_varint(&mut buf, v);
            let mut d = BlockDecoder::new(b"", 0, &buf).unwrap();
            assert_eq!(d.varint(), Some(v));
            assert!(d.rest.is_empty());
        }
        for v in [0, -1, 1, i64::MIN, i64::MAX] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        let mut d = BlockDecoder::new(
            b"",
            0,
            &[
                FORMAT, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02,
            ],
        )
        .unwrap();
        assert_eq!(d.varint(), None, "more than 64 bits");
    }
}
