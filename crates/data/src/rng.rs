//! Seeded random draws, identical on every machine.
//!
//! Every purpose has its own ChaCha8 stream: the generator is
//! `ChaCha8Rng::seed_from_u64(seed)` with `set_stream(purpose)`, where the
//! seed is `split_seed` or `noise_seed` and the stream numbers are the
//! [`Stream`] values. Draws use only `next_u64`, so they depend on the
//! ChaCha8 output alone and not on the sampling code of the `rand` crate.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

/// The stream of each purpose. `split_seed` seeds the first four,
/// `noise_seed` the last.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub(crate) enum Stream {
    TrainSubset = 1,
    TestSubset = 2,
    MetaHoldOut = 3,
    Imbalance = 4,
    Noise = 5,
}

pub(crate) struct Draws {
    generator: ChaCha8Rng,
}

impl Draws {
    pub(crate) fn new(seed: u64, stream: Stream) -> Draws {
        let mut generator = ChaCha8Rng::seed_from_u64(seed);
        generator.set_stream(stream as u64);
        Draws { generator }
    }

    /// Draws a uniform integer in `0..bound`, without modulo bias (Lemire's
    /// multiply-and-reject method). `bound` must be positive.
    pub(crate) fn below(&mut self, bound: u64) -> u64 {
        debug_assert!(bound > 0);
        let threshold = bound.wrapping_neg() % bound;
        loop {
            let product = u128::from(self.generator.next_u64()) * u128::from(bound);
            if (product as u64) >= threshold {
                return (product >> 64) as u64;
            }
        }
    }

    /// Draws a uniform float in `[0, 1)` from the top 53 bits of one output.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.generator.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Picks `count` items of `items` uniformly without replacement and
    /// returns them sorted. Runs the first `count` steps of a Fisher-Yates
    /// shuffle.
    pub(crate) fn choose_sorted(&mut self, items: &[usize], count: usize) -> Vec<usize> {
        let mut pool = items.to_vec();
        let count = count.min(pool.len());
        for index in 0..count {
            let remaining = (pool.len() - index) as u64;
            let pick = index + self.below(remaining) as usize;
            pool.swap(index, pick);
        }
        pool.truncate(count);
        pool.sort_unstable();
        pool
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_differ_for_one_seed() {
        let mut train = Draws::new(7, Stream::TrainSubset);
        let mut noise = Draws::new(7, Stream::Noise);
        let train_draws: Vec<u64> = (0..4).map(|_| train.below(1000)).collect();
        let noise_draws: Vec<u64> = (0..4).map(|_| noise.below(1000)).collect();
        assert_ne!(train_draws, noise_draws);
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut draws = Draws::new(0, Stream::Noise);
        let mut seen = [false; 7];
        for _ in 0..1000 {
            let value = draws.below(7);
            assert!(value < 7);
            seen[value as usize] = true;
        }
        assert!(seen.iter().all(|&hit| hit));
    }

    #[test]
    fn choose_sorted_returns_distinct_members() {
        let items: Vec<usize> = (100..200).collect();
        let chosen = Draws::new(3, Stream::MetaHoldOut).choose_sorted(&items, 10);
        assert_eq!(chosen.len(), 10);
        assert!(chosen.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(chosen.iter().all(|item| items.contains(item)));
    }
}
