//! A small deterministic random generator for tests and benchmarks.

/// xorshift64*: tiny, fast and seeded, so failures reproduce and benchmark
/// runs are comparable. Not for anything that needs real randomness.
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits. The seed must not be 0.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (as an index).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// A number in `0..n`.
    pub fn below_u64(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}
