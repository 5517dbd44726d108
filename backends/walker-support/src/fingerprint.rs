//! Directory fingerprints.

/// Order-independent 128-bit digest of a directory's direct entries.
///
/// Each entry contributes `xxh3_128(name, ino, size, blocks, mtime)`; the
/// contributions are summed, so the result does not depend on the order in
/// which a walker reads the directory. Two equal fingerprints mean, with
/// overwhelming probability, that no direct entry was added, removed, renamed,
/// resized or rewritten. Every walker must compute it the same way: over every
/// entry it stat'ed and kept — files, symlinks, subdirectories and hard-linked
/// files alike — and not over excluded entries, entries on another device
/// under `one_file_system`, or entries that vanished before their stat.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fingerprint(u128);

impl Fingerprint {
    /// Adds one entry.
    #[inline]
    pub fn add(&mut self, name: &[u8], ino: u64, size: u64, blocks: u64, mtime_ns: i64) {
        let mut buf = [0u8; 32];
        buf[..8].copy_from_slice(&ino.to_le_bytes());
        buf[8..16].copy_from_slice(&size.to_le_bytes());
        buf[16..24].copy_from_slice(&blocks.to_le_bytes());
        buf[24..].copy_from_slice(&mtime_ns.to_le_bytes());
        let h = xxhash_rust::xxh3::xxh3_128_with_seed(name, 0)
            ^ xxhash_rust::xxh3::xxh3_128(&buf).rotate_left(64);
        self.0 = self.0.wrapping_add(h);
    }

    /// The digest.
    pub fn value(self) -> u128 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_independent_and_sensitive_to_size() {
        let mut a = Fingerprint::default();
        a.add(b"x", 1, 10, 8, 5);
        a.add(b"y", 2, 20, 8, 5);
        let mut b = Fingerprint::default();
        b.add(b"y", 2, 20, 8, 5);
        b.add(b"x", 1, 10, 8, 5);
        assert_eq!(a, b);
        let mut c = Fingerprint::default();
        c.add(b"y", 2, 21, 8, 5);
        c.add(b"x", 1, 10, 8, 5);
        assert_ne!(a, c);
    }
}
