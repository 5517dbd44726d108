//! The one-shot reader: the search of [`format::search`] over the file
//! itself, with positioned reads (`pread`) into stack buffers. Nothing is
//! mapped, so nothing another program does to the file can raise a signal
//! here: a shrunken file is a short read, a rewritten one reads as whatever
//! it holds, and both are caught by the search's checks or by comparing the
//! file's status before and after (see `MmapIndex::lookup`).
//!
//! A lookup on 1M entries is ~20 probes of two small reads each; no heap
//! allocation.

use std::cmp::Ordering;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use crate::format::{self, ENTRY_LEN, FormatError, HEADER_LEN, Source};

/// Bytes of a path compared per read: most paths fit in one.
const CHUNK: usize = 512;

/// A read that failed or a format violation.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The file broke a rule of the format.
    Format(FormatError),
    /// A read failed; `UnexpectedEof` means the file is shorter than when opened.
    Io(io::Error),
}

impl From<FormatError> for ReadError {
    fn from(e: FormatError) -> Self {
        ReadError::Format(e)
    }
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

/// The file's entries and pool, read on demand.
pub(crate) struct PreadSource<'a> {
    pub(crate) file: &'a File,
    /// Entry count, from the header checked at open.
    pub(crate) count: usize,
    /// Pool length, from the header checked at open.
    pub(crate) pool_len: u64,
}

impl PreadSource<'_> {
    fn pool_start(&self) -> u64 {
        HEADER_LEN as u64 + ENTRY_LEN as u64 * self.count as u64
    }

    /// Reads `buf.len()` bytes of the path at pool offset `at`.
    #[inline]
    fn read_pool(&self, buf: &mut [u8], at: u64) -> io::Result<()> {
        self.file.read_exact_at(buf, self.pool_start() + at)
    }

    /// The whole path of a checked entry, for the root at open.
    pub(crate) fn path_to_vec(&self, off: u32, len: u32) -> Result<Vec<u8>, ReadError> {
        let mut v = vec![0u8; len as usize];
        self.read_pool(&mut v, u64::from(off))?;
        Ok(v)
    }
}

impl Source for PreadSource<'_> {
    type Error = ReadError;

    fn count(&self) -> usize {
        self.count
    }

    fn pool_len(&self) -> u64 {
        self.pool_len
    }

    #[inline]
    fn raw(&self, i: usize) -> Result<(u32, u32, u64), ReadError> {
        let mut e = [0u8; ENTRY_LEN];
        self.file
            .read_exact_at(&mut e, HEADER_LEN as u64 + (i as u64) * ENTRY_LEN as u64)?;
        Ok(format::decode_entry(e))
    }

    fn cmp_key(&self, index: usize, off: u32, len: u32, key: &[u8]) -> Result<Ordering, ReadError> {
        let len = len as usize;
        let mut buf = [0u8; CHUNK];
        // The common prefix decides unless it is equal; read at least one
        // byte to check the path is absolute.
        let common = len.min(key.len());
        let mut done = 0usize;
        while done < common.max(1) {
            let n = (common.max(1) - done).min(CHUNK);
            let chunk = buf.get_mut(..n).unwrap_or_default();
            self.read_pool(chunk, u64::from(off) + done as u64)?;
            if done == 0 && chunk.first() != Some(&b'/') {
                return Err(FormatError::NotAbsolute { index }.into());
            }
            let mine = chunk.get(..n.min(common - done)).unwrap_or_default();
            let theirs = key.get(done..done + mine.len()).unwrap_or_default();
            match mine.cmp(theirs) {
                Ordering::Equal => done += n,
                other => return Ok(other),
            }
        }
        Ok(len.cmp(&key.len()))
    }

    fn cmp_paths(&self, a: (usize, u32, u32), b: (usize, u32, u32)) -> Result<Ordering, ReadError> {
        let (la, lb) = (a.2 as usize, b.2 as usize);
        let common = la.min(lb);
        let mut ba = [0u8; CHUNK];
        let mut bb = [0u8; CHUNK];
        let mut done = 0usize;
        // Both lengths are at least 1 (checked), so the first round reads
        // the first byte of each.
        while done < common {
            let n = (common - done).min(CHUNK);
            let ca = ba.get_mut(..n).unwrap_or_default();
            let cb = bb.get_mut(..n).unwrap_or_default();
            self.read_pool(ca, u64::from(a.1) + done as u64)?;
            self.read_pool(cb, u64::from(b.1) + done as u64)?;
            if done == 0 {
                if ca.first() != Some(&b'/') {
                    return Err(FormatError::NotAbsolute { index: a.0 }.into());
                }
                if cb.first() != Some(&b'/') {
                    return Err(FormatError::NotAbsolute { index: b.0 }.into());
                }
            }
            match (*ca).cmp(cb) {
                Ordering::Equal => done += n,
                other => return Ok(other),
            }
        }
        Ok(la.cmp(&lb))
    }
}
