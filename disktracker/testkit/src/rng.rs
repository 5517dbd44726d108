//! The seeded random generator of the tests, benchmarks and generated trees.
//!
//! [`Rng`] is rand's xoshiro256++ seeded through SplitMix64
//! (`seed_from_u64`): a generator the rand project declares portable, whose
//! output is fixed by its published reference code, so a seed means the same
//! stream on every machine. The samplers on top (uniform ranges here, and
//! rand_distr's distributions in [`crate::treegen`]) are value-stable within
//! a minor version of `rand`/`rand_distr`; a bump of those requirements may
//! change generated trees (rand's policy allows value-breaking changes only
//! in minor versions), so benchmark trees made before and after are not
//! comparable.

use std::convert::Infallible;

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt as _, SeedableRng as _, TryRng};

/// A seeded generator: failures reproduce and benchmark runs compare. It is a
/// [`rand::Rng`], so every rand sampler and `rand_distr` distribution takes it.
/// Not for anything that needs real randomness.
#[derive(Clone, Debug)]
pub struct Rng(Xoshiro256PlusPlus);

impl Rng {
    /// The generator for `seed` (any value, 0 included).
    pub fn new(seed: u64) -> Self {
        Rng(Xoshiro256PlusPlus::seed_from_u64(seed))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        rand::Rng::next_u64(&mut self.0)
    }

    /// A number in `0..n` (as an index), uniformly. `n` must not be 0.
    pub fn below(&mut self, n: usize) -> usize {
        self.0.random_range(0..n)
    }

    /// A number in `0..n`, uniformly. `n` must not be 0.
    pub fn below_u64(&mut self, n: u64) -> u64 {
        self.0.random_range(0..n)
    }

    /// A number in `lo..=hi`, uniformly.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        self.0.random_range(lo..=hi)
    }

    /// A float in `[0, 1)`, uniformly.
    pub fn unit(&mut self) -> f64 {
        self.0.random()
    }

    /// True with probability `p` (0 ≤ `p` ≤ 1).
    pub fn chance(&mut self, p: f64) -> bool {
        self.0.random_bool(p)
    }

    /// One of `items`, uniformly. `items` must not be empty.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

impl TryRng for Rng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        self.0.try_next_u32()
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        self.0.try_next_u64()
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.0.try_fill_bytes(dst)
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    /// SplitMix64 seeding and xoshiro256++, written here from the published
    /// reference code (prng.di.unimi.it), independently of rand's.
    struct Reference([u64; 4]);

    impl Reference {
        fn new(mut seed: u64) -> Self {
            let mut s = [0u64; 4];
            for word in &mut s {
                seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = seed;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                *word = z ^ (z >> 31);
            }
            Reference(s)
        }

        fn next(&mut self) -> u64 {
            let s = &mut self.0;
            let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
            let t = s[1] << 17;
            s[2] ^= s[0];
            s[3] ^= s[1];
            s[1] ^= s[2];
            s[0] ^= s[3];
            s[2] ^= t;
            s[3] = s[3].rotate_left(45);
            result
        }
    }

    /// The stream every generated tree derives from is the published
    /// algorithm's: a rand release that changed it would fail here.
    #[test]
    fn stream_is_the_reference_algorithm() {
        for seed in [0, 1, 7, 0xdead_beef, u64::MAX] {
            let (mut ours, mut reference) = (Rng::new(seed), Reference::new(seed));
            for i in 0..1000 {
                assert_eq!(ours.next_u64(), reference.next(), "seed {seed}, draw {i}");
            }
        }
    }

    #[test]
    fn helpers_stay_in_range_and_cover_it() {
        let mut rng = Rng::new(3);
        let mut seen = [0u32; 7];
        for _ in 0..7000 {
            seen[rng.below(7)] += 1;
            let v = rng.between(18, 24);
            assert!((18..=24).contains(&v));
            let u = rng.unit();
            assert!((0.0..1.0).contains(&u));
        }
        // Each of 7 values about 1000 times; 700 is > 9 standard deviations off.
        assert!(seen.iter().all(|&n| n > 700), "{seen:?}");
        assert!(!(0..100).any(|_| rng.chance(0.0)));
        assert!((0..100).all(|_| rng.chance(1.0)));
    }
}
