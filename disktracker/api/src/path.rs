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

/// Printable form of path bytes: valid UTF-8 as is, every invalid byte as `\xNN`,
/// control characters escaped so one path never breaks a line or a terminal,
/// and `\` doubled so an escape cannot be confused with a literal name.
pub fn escape_bytes(b: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(b) {
        Ok(s) if !s.chars().any(|c| c.is_control() || c == '\\') => Cow::Borrowed(s),
        _ => {
            let mut out = String::with_capacity(b.len() + 8);
            for chunk in b.utf8_chunks() {
                for c in chunk.valid().chars() {
                    if c.is_control() || c == '\\' {
                        out.extend(c.escape_default());
                    } else {
                        out.push(c);
                    }
                }
                for byte in chunk.invalid() {
                    out.push_str(&format!("\\x{byte:02x}"));
                }
            }
            Cow::Owned(out)
        }
    }
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
    fn escapes_invalid_and_control_bytes() {
        assert_eq!(escape_bytes(b"/a/b"), "/a/b");
        assert_eq!(escape_bytes(b"/caf\xe9"), "/caf\\xe9");
        assert_eq!(escape_bytes(b"/a\nb"), "/a\\nb");
        assert_eq!(escape_bytes(b"/a\\x41"), "/a\\\\x41");
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
