//! The one seeded random number generator of the model zoo (visit orders of the linear solvers,
//! the networks' shuffles and subsamples, projections, forests, K-means): SplitMix64 (Steele,
//! Lea & Flood 2014). It is tiny, fast, passes BigCrush and, above all, its output is fixed by
//! this code alone, so saved models and seeded runs never depend on an external crate's version.
//! Public so that the sweep runner's random search draws from the same generator.

/// The SplitMix64 finaliser: a bijective mix of 64 bits, also used to hash keys.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Derives an independent seed for stream `index` of a generator seeded with `seed` (one per
/// tree, one per restart), so results do not depend on the order streams are consumed in.
pub fn derive_seed(seed: u64, index: u64) -> u64 {
    mix64(mix64(seed ^ 0x6a09_e667_f3bc_c909).wrapping_add(index.wrapping_mul(GOLDEN_GAMMA)))
}

const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// A SplitMix64 stream.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        mix64(self.state)
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `0..bound` (`bound > 0`), without modulo bias (Lemire's method).
    pub fn below(&mut self, bound: usize) -> usize {
        let bound = bound as u64;
        let threshold = bound.wrapping_neg() % bound;
        loop {
            let product = u128::from(self.next_u64()) * u128::from(bound);
            if (product as u64) >= threshold {
                return (product >> 64) as usize;
            }
        }
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }

    /// The first `count` entries of a uniformly shuffled `0..n` (partial Fisher-Yates), i.e. a
    /// sample of `count` distinct indices without replacement, in random order.
    pub fn sample_indices(&mut self, n: usize, count: usize) -> Vec<usize> {
        let count = count.min(n);
        let mut indices: Vec<usize> = (0..n).collect();
        for i in 0..count {
            let j = i + self.below(n - i);
            indices.swap(i, j);
        }
        indices.truncate(count);
        indices
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_stays_in_range_and_samples_are_distinct() {
        let mut rng = SplitMix64::new(7);
        assert!((0..1000).all(|_| rng.below(3) < 3));
        let mut sample = rng.sample_indices(100, 40);
        assert_eq!(sample.len(), 40);
        sample.sort_unstable();
        sample.dedup();
        assert_eq!(sample.len(), 40);
        assert!(sample.iter().all(|&i| i < 100));
        assert_eq!(rng.sample_indices(5, 10).len(), 5);
    }

    #[test]
    fn derived_seeds_differ() {
        assert_ne!(derive_seed(1, 0), derive_seed(1, 1));
        assert_ne!(derive_seed(1, 0), derive_seed(2, 0));
    }
}
