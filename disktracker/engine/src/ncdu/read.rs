//! Reading ncdu's JSON export (format 1.x, as `ncdu -o` and `gdu -o` write
//! it) into walker output, in one streaming pass with bounded state.
//!
//! The file is untrusted: every string is read as bytes (ncdu writes names
//! that are not UTF-8 as raw bytes inside JSON strings), every number is
//! range-checked, nesting is bounded, and the first problem stops the read
//! with an error naming its byte offset. Nothing here recurses on the stack.

use std::io::Read;

use disktracker::{
    CancelToken, DirArena, DirCold, DirHot, DirId, Error, ErrorKind, LinkedFile, Result, WalkOutput,
};
use disktracker_walker_support::Fingerprint;

/// Directories nested deeper than this are refused: a real path of 4096
/// bytes (`PATH_MAX`) holds at most 2048 levels, and the directory paths a
/// snapshot stores grow with the square of the depth.
pub const MAX_DEPTH: usize = 4096;
/// Longest string accepted (a file name is at most 255 bytes on Linux).
const MAX_STRING: usize = 64 * 1024;
/// Sizes are stored as signed 64-bit integers; their sum must fit too, so
/// that no recursive total can overflow.
const MAX_SIZE: u64 = i64::MAX as u64;
/// All directory paths together, as the tree holds them.
const MAX_PATH_BYTES: u64 = 1 << 30;
/// The format's own bound on version numbers.
const MAX_VERSION: u64 = 10_000;

/// What an ncdu export describes, ready for [`crate::ScanTree::from_walk`].
#[derive(Debug)]
pub struct NcduImport {
    /// The directories (one arena, ids in file order) and hard-linked files.
    pub walk: WalkOutput,
    /// The export's minor format version.
    pub minor: u64,
    /// `timestamp` of the metadata, in ms since the epoch.
    pub timestamp_ms: Option<i64>,
    /// `host` of the metadata (written by `disktracker export ncdu`).
    pub host: Option<String>,
    /// The program that wrote it (`progname progver`), if it said.
    pub program: Option<String>,
    /// Entries read (directories and files).
    pub entries: u64,
}

/// One entry's info block; only the fields that matter here.
#[derive(Default)]
struct Info {
    name: Vec<u8>,
    has_name: bool,
    asize: u64,
    dsize: u64,
    ino: Option<u64>,
    dev: Option<u64>,
    nlink: u64,
    hlnkc: bool,
    read_error: bool,
    excluded: bool,
    mtime: Option<u64>,
    /// How many files a folded entry stands for (`disktracker_files`,
    /// written by `disktracker export ncdu`; ncdu ignores it).
    files: Option<u64>,
    /// The key being read (a buffer kept across entries).
    key: Vec<u8>,
}

impl Info {
    fn clear(&mut self) {
        self.name.clear();
        self.has_name = false;
        self.asize = 0;
        self.dsize = 0;
        self.ino = None;
        self.dev = None;
        self.nlink = 0;
        self.hlnkc = false;
        self.read_error = false;
        self.excluded = false;
        self.mtime = None;
        self.files = None;
    }

    fn mtime_ns(&self) -> i64 {
        self.mtime.map_or(0, |s| {
            i64::try_from(s)
                .unwrap_or(i64::MAX)
                .saturating_mul(1_000_000_000)
        })
    }
}

/// A directory whose entries are being read.
struct Open {
    id: u32,
    dev: u64,
    fingerprint: Fingerprint,
    /// Hash of every entry name seen in it, with the entry's offset, to find
    /// duplicates when it closes (a 128-bit hash: no false alarm in practice).
    names: Vec<(u128, u64)>,
    path_len: u64,
}

/// A buffered byte reader that knows its offset.
struct Input<'a> {
    r: &'a mut dyn Read,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
    /// Offset of `buf[0]` in the file.
    base: u64,
    source: &'a str,
}

impl<'a> Input<'a> {
    fn new(r: &'a mut dyn Read, source: &'a str) -> Self {
        Input {
            r,
            buf: vec![0; 256 * 1024].into_boxed_slice(),
            pos: 0,
            len: 0,
            base: 0,
            source,
        }
    }

    fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    fn err_at(&self, offset: u64, what: impl std::fmt::Display) -> Error {
        Error::new(
            ErrorKind::Corrupt,
            format!("{}: {what} at byte {offset}", self.source),
        )
        .with_hint("not a complete, valid ncdu export (`ncdu -o FILE`); nothing was stored")
    }

    fn err(&self, what: impl std::fmt::Display) -> Error {
        self.err_at(self.offset(), what)
    }

    fn eof(&self) -> Error {
        self.err("unexpected end of file")
    }

    /// Refills the buffer; false at the end of the input. Out of line: the
    /// byte-level fast paths below stay small.
    #[cold]
    #[inline(never)]
    fn fill(&mut self) -> Result<bool> {
        self.base += self.len as u64;
        self.pos = 0;
        self.len = 0;
        loop {
            match self.r.read(&mut self.buf) {
                Ok(n) => {
                    self.len = n;
                    return Ok(n > 0);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(Error::new(
                        ErrorKind::Io,
                        format!("cannot read {} at byte {}", self.source, self.base),
                    )
                    .with_source(e));
                }
            }
        }
    }

    #[inline]
    fn peek(&mut self) -> Result<Option<u8>> {
        if self.pos == self.len && !self.fill()? {
            return Ok(None);
        }
        Ok(Some(self.buf[self.pos]))
    }

    /// The next byte that is not JSON whitespace (not consumed).
    #[inline]
    fn ws(&mut self) -> Result<Option<u8>> {
        loop {
            match self.peek()? {
                Some(b' ' | b'\n' | b'\r' | b'\t') => self.pos += 1,
                other => return Ok(other),
            }
        }
    }

    /// The next non-whitespace byte, which must exist (not consumed).
    #[inline]
    fn ws_some(&mut self) -> Result<u8> {
        // ncdu writes no whitespace but a newline after each entry.
        if let Some(&c) = self.buf[..self.len].get(self.pos)
            && !matches!(c, b' ' | b'\n' | b'\r' | b'\t')
        {
            return Ok(c);
        }
        self.ws_some_slow()
    }

    #[inline(never)]
    fn ws_some_slow(&mut self) -> Result<u8> {
        self.ws()?.ok_or_else(|| self.eof())
    }

    /// Consumes `want` after whitespace, or fails saying what was expected.
    #[inline]
    fn expect(&mut self, want: u8, what: &str) -> Result<()> {
        if self.buf[..self.len].get(self.pos) == Some(&want) {
            self.pos += 1;
            return Ok(());
        }
        self.expect_slow(want, what)
    }

    #[inline(never)]
    fn expect_slow(&mut self, want: u8, what: &str) -> Result<()> {
        let c = self.ws_some()?;
        if c != want {
            return Err(self.err(format!("expected {what}, found {}", shown(c))));
        }
        self.pos += 1;
        Ok(())
    }

    /// A string's bytes, after its opening quote, into `out` (cleared first).
    fn string(&mut self, out: &mut Vec<u8>) -> Result<()> {
        out.clear();
        loop {
            if self.pos == self.len && !self.fill()? {
                return Err(self.eof());
            }
            let chunk = &self.buf[self.pos..self.len];
            match chunk
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
            {
                None => {
                    out.extend_from_slice(chunk);
                    self.pos = self.len;
                }
                Some(i) => {
                    out.extend_from_slice(&chunk[..i]);
                    self.pos += i;
                    match self.buf[self.pos] {
                        b'"' => {
                            self.pos += 1;
                            return Ok(());
                        }
                        b'\\' => {
                            self.pos += 1;
                            self.escape(out)?;
                        }
                        c => {
                            return Err(
                                self.err(format!("control character {} inside a string", shown(c)))
                            );
                        }
                    }
                }
            }
            if out.len() > MAX_STRING {
                return Err(self.err(format!("string longer than {MAX_STRING} bytes")));
            }
        }
    }

    fn next_byte(&mut self) -> Result<u8> {
        let c = self.peek()?.ok_or_else(|| self.eof())?;
        self.pos += 1;
        Ok(c)
    }

    /// One escape sequence, after its backslash.
    fn escape(&mut self, out: &mut Vec<u8>) -> Result<()> {
        let at = self.offset() - 1;
        let c = self.next_byte()?;
        let simple = match c {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 8,
            b'f' => 12,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let hi = self.hex4()?;
                let cp = if (0xD800..0xDC00).contains(&hi) {
                    if self.next_byte()? != b'\\' || self.next_byte()? != b'u' {
                        return Err(self.err_at(at, "unpaired surrogate in a \\u escape"));
                    }
                    let lo = self.hex4()?;
                    if !(0xDC00..0xE000).contains(&lo) {
                        return Err(self.err_at(at, "unpaired surrogate in a \\u escape"));
                    }
                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                } else {
                    hi
                };
                let ch = char::from_u32(cp)
                    .ok_or_else(|| self.err_at(at, "unpaired surrogate in a \\u escape"))?;
                let mut b = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut b).as_bytes());
                return Ok(());
            }
            other => {
                return Err(self.err_at(at, format!("invalid escape \\{}", shown(other))));
            }
        };
        out.push(simple);
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32> {
        let mut v = 0u32;
        for _ in 0..4 {
            let c = self.next_byte()?;
            let d = (c as char)
                .to_digit(16)
                .ok_or_else(|| self.err_at(self.offset() - 1, "invalid \\u escape"))?;
            v = v * 16 + d;
        }
        Ok(v)
    }

    /// A non-negative integer (the only numbers ncdu's fields hold).
    fn uint(&mut self, field: &str) -> Result<u64> {
        let c = self.ws_some()?;
        let at = self.offset();
        if !c.is_ascii_digit() {
            return Err(if c == b'-' {
                self.err(format!("negative number for \"{field}\""))
            } else {
                self.err(format!(
                    "expected a non-negative integer for \"{field}\", found {}",
                    shown(c)
                ))
            });
        }
        let mut v: u64 = 0;
        let mut digits = 0u32;
        loop {
            // The digits in the buffer, without a call per byte.
            while let Some(&c) = self.buf[..self.len].get(self.pos) {
                if !c.is_ascii_digit() {
                    break;
                }
                if digits == 1 && v == 0 {
                    return Err(self.err_at(at, "number with a leading zero"));
                }
                v = v
                    .checked_mul(10)
                    .and_then(|v| v.checked_add(u64::from(c - b'0')))
                    .ok_or_else(|| self.err_at(at, format!("\"{field}\" out of range")))?;
                digits += 1;
                self.pos += 1;
            }
            if self.pos < self.len || !self.fill()? {
                break;
            }
        }
        if matches!(self.buf[..self.len].get(self.pos), Some(b'.' | b'e' | b'E')) {
            return Err(self.err(format!("\"{field}\" is not an integer")));
        }
        Ok(v)
    }

    /// A size field: an integer below 2^63.
    fn size(&mut self, field: &str) -> Result<u64> {
        let at = self.offset();
        let v = self.uint(field)?;
        if v > MAX_SIZE {
            return Err(self.err_at(at, format!("\"{field}\" out of range (above 2^63)")));
        }
        Ok(v)
    }

    fn literal(&mut self, word: &[u8]) -> Result<()> {
        let at = self.offset();
        for &w in word {
            if self.next_byte()? != w {
                return Err(self.err_at(at, "invalid literal"));
            }
        }
        Ok(())
    }

    fn boolean(&mut self, field: &str) -> Result<bool> {
        match self.ws_some()? {
            b't' => self.literal(b"true").map(|()| true),
            b'f' => self.literal(b"false").map(|()| false),
            c => Err(self.err(format!(
                "expected true or false for \"{field}\", found {}",
                shown(c)
            ))),
        }
    }

    /// Any JSON number, checked for its grammar and dropped.
    fn skip_number(&mut self) -> Result<()> {
        let at = self.offset();
        let bad = |s: &Self| s.err_at(at, "invalid number");
        if self.peek()? == Some(b'-') {
            self.pos += 1;
        }
        let digits = |s: &mut Self| -> Result<usize> {
            let mut n = 0;
            while let Some(c) = s.peek()? {
                if !c.is_ascii_digit() {
                    break;
                }
                s.pos += 1;
                n += 1;
            }
            Ok(n)
        };
        if digits(self)? == 0 {
            return Err(bad(self));
        }
        if self.peek()? == Some(b'.') {
            self.pos += 1;
            if digits(self)? == 0 {
                return Err(bad(self));
            }
        }
        if matches!(self.peek()?, Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek()?, Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if digits(self)? == 0 {
                return Err(bad(self));
            }
        }
        Ok(())
    }

    /// Skips one value of any kind (fields this reader does not use),
    /// without recursion; `depth` is the nesting it sits at.
    fn skip_value(&mut self, depth: usize, scratch: &mut Vec<u8>) -> Result<()> {
        let mut closers: Vec<u8> = Vec::new();
        loop {
            // A value.
            let c = self.ws_some()?;
            let mut opened = false;
            match c {
                b'{' | b'[' => {
                    if depth + closers.len() >= MAX_DEPTH {
                        return Err(self.err(format!("nesting deeper than {MAX_DEPTH} levels")));
                    }
                    self.pos += 1;
                    let close = if c == b'{' { b'}' } else { b']' };
                    if self.ws_some()? == close {
                        self.pos += 1;
                    } else {
                        closers.push(close);
                        if close == b'}' {
                            self.key(scratch)?;
                        }
                        opened = true;
                    }
                }
                b'"' => {
                    self.pos += 1;
                    self.string(scratch)?;
                }
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                b'-' | b'0'..=b'9' => self.skip_number()?,
                c => return Err(self.err(format!("expected a value, found {}", shown(c)))),
            }
            if opened {
                continue;
            }
            // After a value: close what ends here, or go on to the next one.
            loop {
                let Some(&close) = closers.last() else {
                    return Ok(());
                };
                let c = self.ws_some()?;
                self.pos += 1;
                if c == close {
                    closers.pop();
                } else if c == b',' {
                    if close == b'}' {
                        self.key(scratch)?;
                    }
                    break;
                } else {
                    self.pos -= 1;
                    return Err(self.err(format!(
                        "expected ',' or '{}', found {}",
                        close as char,
                        shown(c)
                    )));
                }
            }
        }
    }

    /// An object key and its colon, into `out`.
    fn key(&mut self, out: &mut Vec<u8>) -> Result<()> {
        self.expect(b'"', "a quoted key")?;
        self.string(out)?;
        self.expect(b':', "':'")
    }

    /// An info block's key and its colon, recognised; read straight from
    /// the buffer when it is there whole and unescaped (always, in practice).
    #[inline]
    fn field(&mut self, out: &mut Vec<u8>) -> Result<Key> {
        self.expect(b'"', "a quoted key")?;
        let rest = &self.buf[self.pos..self.len];
        let end = rest
            .iter()
            .take(24)
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20);
        let key = match end {
            Some(i) if rest[i] == b'"' => {
                let k = Key::of(&rest[..i]);
                self.pos += i + 1;
                k
            }
            _ => {
                self.string(out)?;
                Key::of(out)
            }
        };
        self.expect(b':', "':'")?;
        Ok(key)
    }

    /// An info block, after its `{`.
    fn info(&mut self, info: &mut Info, depth: usize, scratch: &mut Vec<u8>) -> Result<()> {
        info.clear();

        if self.ws_some()? == b'}' {
            self.pos += 1;
            return Ok(());
        }
        loop {
            match self.field(&mut info.key)? {
                Key::Name => {
                    self.expect(b'"', "a string for \"name\"")?;
                    self.string(&mut info.name)?;
                    info.has_name = true;
                }
                Key::Asize => info.asize = self.size("asize")?,
                Key::Dsize => info.dsize = self.size("dsize")?,
                Key::Ino => info.ino = Some(self.uint("ino")?),
                Key::Dev => info.dev = Some(self.uint("dev")?),
                Key::Nlink => info.nlink = self.uint("nlink")?,
                Key::Mtime => info.mtime = Some(self.uint("mtime")?),
                Key::Files => info.files = Some(self.uint("disktracker_files")?),
                Key::Hlnkc => info.hlnkc = self.boolean("hlnkc")?,
                Key::ReadError => info.read_error = self.boolean("read_error")?,
                Key::Notreg => {
                    self.boolean("notreg")?;
                }
                // A string naming why (`pattern`, `otherfs`, `kernfs`, `frmlnk`).
                Key::Excluded => {
                    if self.ws_some()? == b'f' {
                        self.literal(b"false")?;
                    } else {
                        self.skip_value(depth + 1, scratch)?;
                        info.excluded = true;
                    }
                }
                Key::Other => self.skip_value(depth + 1, scratch)?,
            }
            let c = self.ws_some()?;
            self.pos += 1;
            match c {
                b',' => {}
                b'}' => return Ok(()),
                c => {
                    self.pos -= 1;
                    return Err(self.err(format!("expected ',' or '}}', found {}", shown(c))));
                }
            }
        }
    }
}

/// The info block fields this reader uses, recognised without a string
/// comparison per candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Key {
    Name,
    Asize,
    Dsize,
    Ino,
    Dev,
    Nlink,
    Mtime,
    Hlnkc,
    ReadError,
    Notreg,
    Excluded,
    Files,
    Other,
}

/// Up to 16 bytes of a key as a little-endian number (with its length,
/// unambiguous), for the constants [`Key::of`] matches.
const fn pack(k: &[u8]) -> u128 {
    let mut v = 0u128;
    let mut i = 0;
    while i < k.len() && i < 16 {
        v |= (k[i] as u128) << (8 * i);
        i += 1;
    }
    v
}

impl Key {
    fn of(k: &[u8]) -> Key {
        const NAME: u128 = pack(b"name");
        const ASIZE: u128 = pack(b"asize");
        const DSIZE: u128 = pack(b"dsize");
        const INO: u128 = pack(b"ino");
        const DEV: u128 = pack(b"dev");
        const NLINK: u128 = pack(b"nlink");
        const MTIME: u128 = pack(b"mtime");
        const HLNKC: u128 = pack(b"hlnkc");
        const READ_ERROR: u128 = pack(b"read_error");
        const NOTREG: u128 = pack(b"notreg");
        const EXCLUDED: u128 = pack(b"excluded");
        if k.len() > 16 {
            return if k == b"disktracker_files" {
                Key::Files
            } else {
                Key::Other
            };
        }
        // At run time one copy and one load, not a loop over the bytes.
        let mut b = [0u8; 16];
        b[..k.len()].copy_from_slice(k);
        match (k.len(), u128::from_le_bytes(b)) {
            (4, NAME) => Key::Name,
            (5, ASIZE) => Key::Asize,
            (5, DSIZE) => Key::Dsize,
            (3, INO) => Key::Ino,
            (3, DEV) => Key::Dev,
            (5, NLINK) => Key::Nlink,
            (5, MTIME) => Key::Mtime,
            (5, HLNKC) => Key::Hlnkc,
            (10, READ_ERROR) => Key::ReadError,
            (6, NOTREG) => Key::Notreg,
            (8, EXCLUDED) => Key::Excluded,
            _ => Key::Other,
        }
    }
}

/// A byte as an error message shows it.
fn shown(c: u8) -> String {
    if c.is_ascii_graphic() {
        format!("'{}'", c as char)
    } else {
        format!("byte 0x{c:02x}")
    }
}

/// Whether `name` can be an entry of a directory: not empty, `.` or `..`,
/// and without `/` or NUL (no file system allows those).
fn valid_name(name: &[u8]) -> bool {
    match name {
        [] | [b'.'] | [b'.', b'.'] => false,
        _ => !name.iter().any(|&c| c == b'/' || c == 0),
    }
}

/// Reads an ncdu export from `r` (`source` names it in errors). The whole
/// input is read and checked; the first problem is an error of kind
/// [`ErrorKind::Corrupt`] naming its byte offset. Polls `cancel`.
pub fn read_ncdu(r: &mut dyn Read, source: &str, cancel: &CancelToken) -> Result<NcduImport> {
    let mut inp = Input::new(r, source);
    let mut scratch = Vec::new();
    inp.expect(b'[', "'[' (an ncdu export starts with [1,")?;
    let at = inp.offset();
    let major = inp.uint("major version")?;
    inp.expect(b',', "','")?;
    let minor = inp.uint("minor version")?;
    if major != 1 || minor > MAX_VERSION {
        return Err(inp
            .err_at(
                at,
                format!("unsupported ncdu export format version {major}.{minor}"),
            )
            .with_hint("this reads format 1.x, as ncdu 1.9 to 2.x and gdu write it"));
    }
    inp.expect(b',', "','")?;

    // Metadata: an object of short values.
    inp.expect(b'{', "the metadata object")?;
    let (mut timestamp_ms, mut host, mut progname, mut progver) = (None, None, None, None);
    if inp.ws_some()? == b'}' {
        inp.pos += 1;
    } else {
        let mut key = Vec::new();
        loop {
            inp.key(&mut key)?;
            let text = |inp: &mut Input<'_>, scratch: &mut Vec<u8>| -> Result<Option<String>> {
                if inp.ws_some()? == b'"' {
                    inp.pos += 1;
                    inp.string(scratch)?;
                    Ok(Some(
                        String::from_utf8_lossy(scratch).chars().take(64).collect(),
                    ))
                } else {
                    inp.skip_value(1, scratch)?;
                    Ok(None)
                }
            };
            match key.as_slice() {
                b"timestamp" => {
                    let at = inp.offset();
                    let t = inp.uint("timestamp")?;
                    let ms = i64::try_from(t)
                        .ok()
                        .and_then(|t| t.checked_mul(1000))
                        .ok_or_else(|| inp.err_at(at, "\"timestamp\" out of range"))?;
                    timestamp_ms = Some(ms);
                }
                b"progname" => progname = text(&mut inp, &mut scratch)?,
                b"progver" => progver = text(&mut inp, &mut scratch)?,
                b"host" => host = text(&mut inp, &mut scratch)?,
                _ => inp.skip_value(1, &mut scratch)?,
            }
            let c = inp.ws_some()?;
            inp.pos += 1;
            match c {
                b',' => {}
                b'}' => break,
                c => {
                    inp.pos -= 1;
                    return Err(inp.err(format!("expected ',' or '}}', found {}", shown(c))));
                }
            }
        }
    }
    inp.expect(b',', "','")?;

    // The root directory.
    let mut arena = DirArena::default();
    let mut stack: Vec<Open> = Vec::new();
    let mut spare: Vec<Vec<(u128, u64)>> = Vec::new();
    let mut info = Info::default();
    let mut entries: u64 = 0;
    let (mut sum_disk, mut sum_apparent, mut path_bytes) = (0u64, 0u64, 0u64);
    let mut count = |inp: &Input<'_>, at: u64, info: &Info| -> Result<()> {
        sum_disk = sum_disk.saturating_add(info.dsize);
        sum_apparent = sum_apparent.saturating_add(info.asize);
        if sum_disk > MAX_SIZE || sum_apparent > MAX_SIZE {
            return Err(inp.err_at(at, "sizes add up to more than 2^63 bytes"));
        }
        Ok(())
    };

    inp.expect(b'[', "the root directory ('[')")?;
    let at = inp.offset();
    inp.expect(b'{', "the root directory's info object")?;
    inp.info(&mut info, 2, &mut scratch)?;
    if !info.has_name {
        return Err(inp.err_at(at, "the root directory has no \"name\""));
    }
    let root = disktracker::path::trim_slashes(&info.name).to_vec();
    if !root.starts_with(b"/") || root.contains(&0) {
        return Err(inp
            .err_at(at, "the root directory's name is not an absolute path")
            .with_hint("ncdu writes the scanned directory's absolute path there"));
    }
    count(&inp, at, &info)?;
    entries += 1;
    let root_dev = info.dev.unwrap_or(0);
    arena.push(
        DirHot {
            id: 0,
            parent: DirId::NONE.0,
            direct_bytes: info.dsize,
            direct_apparent: info.asize,
            direct_files: 0,
            child_dirs: 0,
            errors: u32::from(info.read_error),
        },
        &root,
        DirCold::new(info.mtime_ns(), root_dev, info.ino.unwrap_or(0), 0),
    );
    path_bytes += root.len() as u64;
    stack.push(Open {
        id: 0,
        dev: root_dev,
        fingerprint: Fingerprint::default(),
        names: Vec::new(),
        path_len: root.len() as u64,
    });
    let mut links: Vec<LinkedFile> = Vec::new();

    // Entries until the root closes: `,` then a directory (`[`) or a file
    // (`{`), or `]` closing the innermost open directory.
    while !stack.is_empty() {
        let c = inp.ws_some()?;
        inp.pos += 1;
        match c {
            b']' => {
                let Some(mut done) = stack.pop() else { break };
                arena.cold_mut(done.id as usize).fingerprint = done.fingerprint.value();
                done.names.sort_unstable();
                if let Some(w) = done.names.windows(2).find(|w| w[0].0 == w[1].0) {
                    let later = w[0].1.max(w[1].1);
                    return Err(inp.err_at(later, "duplicate name in one directory"));
                }
                done.names.clear();
                spare.push(done.names);
                continue;
            }
            b',' => {}
            c => {
                inp.pos -= 1;
                return Err(inp.err(format!("expected ',' or ']', found {}", shown(c))));
            }
        }
        entries += 1;
        if entries & 0xffff == 0 && cancel.is_cancelled() {
            return Err(Error::cancelled());
        }
        inp.ws_some()?;
        let at = inp.offset();
        let is_dir = match inp.next_byte()? {
            b'[' => {
                inp.expect(b'{', "a directory's info object")?;
                true
            }
            b'{' => false,
            c => {
                return Err(inp.err_at(
                    at,
                    format!(
                        "expected a directory ('[') or a file ('{{'), found {}",
                        shown(c)
                    ),
                ));
            }
        };
        let depth = stack.len();
        if is_dir && depth >= MAX_DEPTH {
            return Err(inp.err_at(
                at,
                format!("directories nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        inp.info(&mut info, depth + 2, &mut scratch)?;
        if !info.has_name {
            return Err(inp.err_at(at, "an entry without \"name\""));
        }
        if !valid_name(&info.name) {
            return Err(inp.err_at(
                at,
                format!(
                    "invalid entry name \"{}\" (empty, '.', '..', or with '/' or NUL)",
                    disktracker::path::escape_bytes(&info.name)
                ),
            ));
        }
        count(&inp, at, &info)?;
        let Some(top) = stack.last_mut() else { break };
        top.names
            .push((xxhash_rust::xxh3::xxh3_128(&info.name), at));
        let dev = info.dev.unwrap_or(top.dev);
        if info.excluded {
            // Not counted, as a scan skips excluded entries; an excluded
            // directory may still list what ncdu knew of it.
            if is_dir {
                skip_excluded_dir(&mut inp, depth + 1, &mut scratch)?;
            }
            continue;
        }
        top.fingerprint.add(
            &info.name,
            info.ino.unwrap_or(0),
            info.asize,
            info.dsize / 512,
            info.mtime_ns(),
        );
        let parent = top.id as usize;
        if is_dir {
            let id = u32::try_from(arena.len())
                .ok()
                .filter(|&id| id < u32::MAX - 1)
                .ok_or_else(|| inp.err_at(at, "too many directories"))?;
            let path_len = top.path_len + 1 + info.name.len() as u64;
            path_bytes += path_len;
            if path_bytes > MAX_PATH_BYTES {
                return Err(inp.err_at(at, "directory paths exceed 1 GiB in total"));
            }
            let p = arena.hot_mut(parent);
            p.child_dirs = p.child_dirs.saturating_add(1);
            arena.push(
                DirHot {
                    id,
                    parent: parent as u32,
                    direct_bytes: info.dsize,
                    direct_apparent: info.asize,
                    direct_files: 0,
                    child_dirs: 0,
                    errors: u32::from(info.read_error),
                },
                &info.name,
                DirCold::new(info.mtime_ns(), dev, info.ino.unwrap_or(0), 0),
            );
            stack.push(Open {
                id,
                dev,
                fingerprint: Fingerprint::default(),
                names: spare.pop().unwrap_or_default(),
                path_len,
            });
        } else {
            let p = arena.hot_mut(parent);
            p.errors = p.errors.saturating_add(u32::from(info.read_error));
            if info.hlnkc || info.nlink > 1 {
                // Counted once per (dev, ino) by the first-path rule, as a scan does.
                let ino = info.ino.ok_or_else(|| {
                    inp.err_at(
                        at,
                        "a hard-linked file (\"hlnkc\"/\"nlink\") without \"ino\"",
                    )
                })?;
                links.push(LinkedFile {
                    dir: DirId(parent as u32),
                    name: info.name.as_slice().into(),
                    dev,
                    ino,
                    bytes: info.dsize,
                    apparent: info.asize,
                });
            } else {
                p.direct_bytes += info.dsize;
                p.direct_apparent += info.asize;
                p.direct_files = p.direct_files.saturating_add(info.files.unwrap_or(1));
            }
        }
    }

    // After the root: the array ends (later elements, from a newer minor
    // version, are skipped), and nothing but whitespace follows.
    loop {
        let c = inp.ws_some()?;
        inp.pos += 1;
        match c {
            b']' => break,
            b',' => inp.skip_value(1, &mut scratch)?,
            c => {
                inp.pos -= 1;
                return Err(inp.err(format!("expected ']', found {}", shown(c))));
            }
        }
    }
    if let Some(c) = inp.ws()? {
        return Err(inp.err(format!("data after the end of the export ({})", shown(c))));
    }
    arena.links = links;
    let program = match (progname, progver) {
        (Some(n), Some(v)) => Some(format!("{n} {v}")),
        (Some(n), None) => Some(n),
        _ => None,
    };
    Ok(NcduImport {
        walk: WalkOutput {
            root: disktracker::path::bytes_path(&root).to_path_buf(),
            arenas: vec![arena],
        },
        minor,
        timestamp_ms,
        host,
        program,
        entries,
    })
}

/// The rest of an excluded directory's array, after its info block: dropped.
fn skip_excluded_dir(inp: &mut Input<'_>, depth: usize, scratch: &mut Vec<u8>) -> Result<()> {
    loop {
        let c = inp.ws_some()?;
        inp.pos += 1;
        match c {
            b']' => return Ok(()),
            b',' => inp.skip_value(depth, scratch)?,
            c => {
                inp.pos -= 1;
                return Err(inp.err(format!("expected ',' or ']', found {}", shown(c))));
            }
        }
    }
}

#[cfg(test)]
mod key_tests {
    use super::Key;

    #[test]
    fn keys_are_recognised_exactly() {
        let known: [(&[u8], Key); 12] = [
            (b"name", Key::Name),
            (b"asize", Key::Asize),
            (b"dsize", Key::Dsize),
            (b"ino", Key::Ino),
            (b"dev", Key::Dev),
            (b"nlink", Key::Nlink),
            (b"mtime", Key::Mtime),
            (b"hlnkc", Key::Hlnkc),
            (b"read_error", Key::ReadError),
            (b"notreg", Key::Notreg),
            (b"excluded", Key::Excluded),
            (b"disktracker_files", Key::Files),
        ];
        for (k, want) in known {
            assert_eq!(Key::of(k), want);
            // A byte more or less, or a NUL appended, is another key.
            assert_eq!(Key::of(&k[..k.len() - 1]), Key::Other);
            assert_eq!(Key::of(&[k, b"\0"].concat()), Key::Other);
            assert_eq!(Key::of(&[k, b"s"].concat()), Key::Other);
        }
        assert_eq!(Key::of(b""), Key::Other);
        assert_eq!(Key::of(b"disktracker_filez"), Key::Other);
    }
}
