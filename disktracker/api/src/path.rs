//! Paths as bytes: conversion and display without loss or panics.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The raw bytes of a path.
pub fn path_bytes(p: &Path) -> &[u8] {
    p.as_os_str().as_bytes()
}

/// A path from raw bytes.
pub fn bytes_path(b: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(b))
}

/// Printable, reversible form of path bytes, on one line and safe on a terminal.
///
/// * valid UTF-8 stays as it is, except:
/// * `\\` is doubled, so an escape cannot be confused with a literal name;
/// * ASCII control bytes (`\n`, `\t`, ESC, DEL, …) and every byte that is not
///   valid UTF-8 become `\xNN` (two lower-case hex digits);
/// * Unicode characters that can make text lie — C1 controls, bidirectional
///   embeddings, overrides and isolates (U+202E …), zero-width and other
///   format characters, line and paragraph separators — become `\u{XXXX}`.
///
/// [`unescape`] gives back the exact bytes. Tables, CSV, error messages and
/// logs all print paths through this one function.
pub fn escape_bytes(b: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(b) {
        Ok(s) if !s.chars().any(needs_escape) => Cow::Borrowed(s),
        _ => {
            let mut out = String::with_capacity(b.len() + 8);
            for chunk in b.utf8_chunks() {
                for c in chunk.valid().chars() {
                    if c == '\\' {
                        out.push_str("\\\\");
                    } else {
                        push_char(&mut out, c);
                    }
                }
                for &byte in chunk.invalid() {
                    push_hex_byte(&mut out, byte);
                }
            }
            Cow::Owned(out)
        }
    }
}

/// [`escape_bytes`] for text that came from outside the program as a
/// string: host names, walker and plugin names, OS error messages,
/// configuration keys, values and their origins. Every reporter prints such
/// text through this function (and paths through [`escape_bytes`]), so no
/// control or bidi character reaches a terminal or a file unescaped.
pub fn escape_text(s: &str) -> Cow<'_, str> {
    escape_bytes(s.as_bytes())
}

/// Text that may already hold escapes (an error message naming an escaped
/// path) made safe to print: control and bidi characters are escaped as by
/// [`escape_bytes`], but backslashes are left alone, so what was escaped
/// once is not escaped again. Not reversible; for messages only.
pub(crate) fn neutralize(s: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| c != '\\' && needs_escape(c);
    if !s.chars().any(unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if unsafe_char(c) {
            push_char(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Appends `c` as [`escape_bytes`] prints it (backslash excepted).
fn push_char(out: &mut String, c: char) {
    if c.is_ascii_control() {
        push_hex_byte(out, c as u8);
    } else if needs_escape(c) {
        out.push_str(&format!("\\u{{{:04x}}}", u32::from(c)));
    } else {
        out.push(c);
    }
}

fn push_hex_byte(out: &mut String, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push_str("\\x");
    out.push(char::from(HEX[usize::from(byte >> 4)]));
    out.push(char::from(HEX[usize::from(byte & 0xf)]));
}

/// Characters [`escape_bytes`] does not print as themselves.
fn needs_escape(c: char) -> bool {
    c == '\\'
        || c.is_control()
        || matches!(
            c,
            '\u{00ad}'
                | '\u{061c}'
                | '\u{180e}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2069}'
                | '\u{206a}'..='\u{206f}'
                | '\u{feff}'
                | '\u{fff9}'..='\u{fffb}'
        )
}

/// Reverses [`escape_bytes`]: the exact original bytes, or `None` when
/// `text` is not something [`escape_bytes`] can produce (a lone `\\`, a bad
/// hex digit, an unknown escape).
pub fn unescape(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('\\') {
        out.extend_from_slice(&rest.as_bytes()[..i]);
        let esc = &rest[i + 1..];
        if let Some(after) = esc.strip_prefix('\\') {
            out.push(b'\\');
            rest = after;
        } else if let Some(after) = esc.strip_prefix('x') {
            let hex = after.get(..2)?;
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &after[2..];
        } else if let Some(after) = esc.strip_prefix("u{") {
            let end = after.find('}')?;
            let c = char::from_u32(u32::from_str_radix(&after[..end], 16).ok()?)?;
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            rest = &after[end + 1..];
        } else {
            return None;
        }
    }
    out.extend_from_slice(rest.as_bytes());
    Some(out)
}

/// [`escape_bytes`] for a [`Path`].
pub fn escape_path(p: &Path) -> Cow<'_, str> {
    escape_bytes(path_bytes(p))
}

/// True when `path` is `dir` itself or lies inside it (bytewise, on `/` boundaries).
pub fn is_within(path: &[u8], dir: &[u8]) -> bool {
    if dir == b"/" {
        return path.first() == Some(&b'/');
    }
    path.starts_with(dir) && (path.len() == dir.len() || path[dir.len()] == b'/')
}

/// A directory path without trailing slashes (`/` stays `/`; empty means `/`),
/// the form every store and index compares.
pub fn trim_slashes(path: &[u8]) -> &[u8] {
    let mut p = path;
    while p.len() > 1 && p.ends_with(b"/") {
        p = &p[..p.len() - 1];
    }
    if p.is_empty() { b"/" } else { p }
}

/// The prefix every strict descendant of `dir` starts with: `dir/` (`/` for the root).
pub fn descendant_prefix(dir: &[u8]) -> Vec<u8> {
    let mut p = trim_slashes(dir).to_vec();
    if !p.ends_with(b"/") {
        p.push(b'/');
    }
    p
}

/// The exclusive upper bound of the paths that start with `prefix`, which
/// must end with `/`: the same bytes with that `/` replaced by `0`, the next
/// byte. Every strict descendant of `dir` lies in
/// `descendant_prefix(dir) .. prefix_end(&descendant_prefix(dir))`; paths
/// such as `dir-x` that sort between `dir` and `dir/` are outside it.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    if let Some(last) = end.last_mut() {
        *last = b'/' + 1;
    }
    end
}

/// The smallest path above `p`: `p` followed by a zero byte.
pub fn just_after(p: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(p.len() + 1);
    v.extend_from_slice(p);
    v.push(0);
    v
}

/// The ranges `[lo, hi)` of the bytewise path order that deriving a snapshot
/// leaves out of its base (each removed subtree `P`: `[P, P\0)` and
/// `[P/, P0)`, so `P-x` is kept; each path of `replaced`: `[U, U\0)`),
/// sorted and merged. A store copies the base's rows outside them.
pub fn left_out_ranges<'a>(
    removed: &[Vec<u8>],
    replaced: impl IntoIterator<Item = &'a [u8]>,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut ranges = Vec::with_capacity(removed.len() * 2);
    for p in removed {
        let p = trim_slashes(p);
        ranges.push((p.to_vec(), just_after(p)));
        let lo = descendant_prefix(p);
        let hi = prefix_end(&lo);
        ranges.push((lo, hi));
    }
    for u in replaced {
        ranges.push((u.to_vec(), just_after(u)));
    }
    ranges.sort_unstable();
    let mut merged: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(ranges.len());
    for (lo, hi) in ranges {
        match merged.last_mut() {
            Some(last) if lo <= last.1 => {
                if hi > last.1 {
                    last.1 = hi;
                }
            }
            _ => merged.push((lo, hi)),
        }
    }
    merged
}

/// The parent of an absolute path in bytes, or `None` for `/`.
pub fn parent_bytes(path: &[u8]) -> Option<&[u8]> {
    if path.len() <= 1 {
        return None;
    }
    match path.iter().rposition(|&c| c == b'/') {
        Some(0) => Some(b"/"),
        Some(i) => Some(&path[..i]),
        None => None,
    }
}

/// Joins a directory and an entry name with one `/`.
pub fn join_bytes(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(dir.len() + 1 + name.len());
    v.extend_from_slice(dir);
    if !dir.ends_with(b"/") {
        v.push(b'/');
    }
    v.extend_from_slice(name);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_invalid_control_and_bidi_characters_reversibly() {
        assert_eq!(escape_bytes(b"/a/b"), "/a/b");
        assert!(matches!(escape_bytes(b"/caf\xc3\xa9"), Cow::Borrowed(_)));
        assert_eq!(escape_bytes(b"/caf\xe9"), "/caf\\xe9");
        assert_eq!(escape_bytes(b"/a\nb\x1b[2J"), "/a\\x0ab\\x1b[2J");
        assert_eq!(escape_bytes(b"/a\\x41"), "/a\\\\x41");
        assert_eq!(
            escape_bytes("/evil\u{202e}txt.exe".as_bytes()),
            "/evil\\u{202e}txt.exe"
        );
        assert_eq!(
            escape_bytes("\u{85}\u{2066}".as_bytes()),
            "\\u{0085}\\u{2066}"
        );
        let samples: [&[u8]; 7] = [
            b"/plain",
            b"/caf\xe9/\xff\xfe",
            b"/a\\b\\\\x41",
            b"/tab\there\x7f",
            "/\u{202e}\u{200b}\u{feff}/\u{1f600}/\u{65e5}\u{672c}".as_bytes(),
            b"/trail\xc3",
            b"",
        ];
        for raw in samples {
            let text = escape_bytes(raw);
            assert!(!text.chars().any(char::is_control), "{text}");
            assert_eq!(unescape(&text).as_deref(), Some(raw), "{text}");
        }
        for bad in ["\\", "\\q", "\\x4", "\\xzz", "\\u{110000}", "\\u{41"] {
            assert_eq!(unescape(bad), None, "{bad}");
        }
    }

    #[test]
    fn neutralize_escapes_controls_but_not_earlier_escapes() {
        let once = escape_bytes(b"/a\nb");
        assert_eq!(neutralize(&once), "/a\\x0ab");
        assert_eq!(
            neutralize("evil\u{1b}[2J \u{202e}exe.txt \\ done"),
            "evil\\x1b[2J \\u{202e}exe.txt \\ done"
        );
        assert!(matches!(neutralize("plain \\x41"), Cow::Borrowed(_)));
        assert_eq!(escape_text("h\u{1b}]0;x\u{7}"), "h\\x1b]0;x\\x07");
    }

    #[test]
    fn subtree_bounds_exclude_siblings_that_sort_between() {
        assert_eq!(trim_slashes(b"/a//"), b"/a");
        assert_eq!(trim_slashes(b"///"), b"/");
        assert_eq!(trim_slashes(b""), b"/");
        assert_eq!(descendant_prefix(b"/a/"), b"/a/");
        assert_eq!(descendant_prefix(b"/"), b"/");
        let lo = descendant_prefix(b"/a");
        let hi = prefix_end(&lo);
        let inside = |p: &[u8]| lo.as_slice() <= p && p < hi.as_slice();
        assert!(inside(b"/a/b") && inside(b"/a/\xff"));
        assert!(!inside(b"/a-x") && !inside(b"/a") && !inside(b"/a0") && !inside(b"/b"));
    }

    #[test]
    fn within_respects_component_boundaries() {
        assert!(is_within(b"/a/b", b"/a"));
        assert!(is_within(b"/a", b"/a"));
        assert!(!is_within(b"/ab", b"/a"));
        assert!(is_within(b"/x", b"/"));
        assert_eq!(parent_bytes(b"/a/b"), Some(&b"/a"[..]));
        assert_eq!(parent_bytes(b"/a"), Some(&b"/"[..]));
        assert_eq!(parent_bytes(b"/"), None);
    }
}
