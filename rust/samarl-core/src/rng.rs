//! Counter-based random numbers: a value is a pure function of `(seed, stream, agent, step)`.
//!
//! The env draws agent `n`'s arrivals at step `t` as `uniform_f32(seed, STREAM_ARRIVALS, n, t)`, so a
//! trajectory is the same whatever the number of threads, the chunking, or the order agents are
//! visited in. The construction is SplitMix64's finaliser applied to a combination of the counters;
//! every operation is a wrapping `u64` add, multiply, xor or shift, which NumPy reproduces exactly
//! (see `samarl.reference.rng`).
//!
//! Stream ids: 1 arrivals ([`STREAM_ARRIVALS`]), 2 lossy-consensus links (`consensus::STREAM_LINKS`),
//! 3 to 6 the trainer's per-agent draws with per-agent weights (weight initialisation, action noise,
//! episode multipliers, initial backlogs), which only NumPy draws (`samarl.reference.rng`,
//! `STREAM_INIT` to `STREAM_BACKLOG`). A new stream takes 7 or above.

/// Golden-ratio increment of SplitMix64.
pub const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;
/// Odd constants that separate the counters before mixing.
const K_AGENT: u64 = 0xD1B5_4A32_D192_ED03;
const K_STEP: u64 = 0x8CB9_2BA7_2F3D_8DD7;
const K_STREAM: u64 = 0xF135_7AEA_2E62_A9C5;

/// Stream id of the arrival draws.
pub const STREAM_ARRIVALS: u64 = 1;

/// SplitMix64's output function (Stafford's variant 13): a bijection on `u64` with full avalanche.
#[inline]
#[must_use]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// 64 random bits for `(seed, stream, agent, step)`.
#[inline]
#[must_use]
pub fn bits(seed: u64, stream: u64, agent: u64, step: u64) -> u64 {
    let key = mix64(seed.wrapping_add(GOLDEN));
    let ctr = agent
        .wrapping_mul(K_AGENT)
        .wrapping_add(step.wrapping_mul(K_STEP))
        .wrapping_add(stream.wrapping_mul(K_STREAM));
    mix64(mix64(key ^ ctr).wrapping_add(GOLDEN))
}

/// A uniform `f32` in `[0, 1)` with 24 random bits (exactly representable, so NumPy agrees bit for bit).
#[inline]
#[must_use]
pub fn uniform_f32(seed: u64, stream: u64, agent: u64, step: u64) -> f32 {
    (bits(seed, stream, agent, step) >> 40) as f32 * (1.0 / 16_777_216.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix64_matches_splitmix64_reference_values() {
        // SplitMix64 seeded with 0 produces mix64(GOLDEN), mix64(2 * GOLDEN), ...; first output is
        // the well-known 0xE220A8397B1DCDAF.
        assert_eq!(mix64(GOLDEN), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn uniform_is_in_unit_interval_and_roughly_uniform() {
        let n = 100_000u64;
        let mut sum = 0.0f64;
        for i in 0..n {
            let u = uniform_f32(7, STREAM_ARRIVALS, i, 3);
            assert!((0.0..1.0).contains(&u));
            sum += f64::from(u);
        }
        let mean = sum / n as f64;
        assert!((mean - 0.5).abs() < 0.005, "mean {mean}");
    }

    #[test]
    fn counters_are_independent_keys() {
        let a = bits(1, 1, 2, 3);
        assert_ne!(a, bits(1, 1, 3, 2));
        assert_ne!(a, bits(2, 1, 2, 3));
        assert_ne!(a, bits(1, 2, 2, 3));
        assert_eq!(a, bits(1, 1, 2, 3));
    }
}
