//! Counter-based random numbers: a value is a pure function of `(seed, stream, agent, step)`.
//!
//! The env draws agent `n`'s arrivals at step `t` as `uniform_f32(seed, STREAM_ARRIVALS, n, t)`, so a
//! trajectory is the same whatever the number of threads, the chunking, or the order agents are
//! visited in. The construction is SplitMix64's finaliser applied to a combination of the counters;
//! every operation is a wrapping `u64` add, multiply, xor or shift, which NumPy reproduces exactly
//! (see `samarl.reference.rng`).
//!
//! Stream ids: 1 arrivals ([`STREAM_ARRIVALS`]), 2 lossy-consensus links (`consensus::STREAM_LINKS`),
//! 3 to 6 the trainer's per-agent draws with per-agent weights ([`STREAM_INIT`] to
//! [`STREAM_BACKLOG`]: weight initialisation, action noise, episode multipliers, initial
//! backlogs), drawn in batches by [`crate::streams`]. A new stream takes 7 or above.

/// Golden-ratio increment of SplitMix64.
pub const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;
/// Odd constants that separate the counters before mixing.
const K_AGENT: u64 = 0xD1B5_4A32_D192_ED03;
const K_STEP: u64 = 0x8CB9_2BA7_2F3D_8DD7;
const K_STREAM: u64 = 0xF135_7AEA_2E62_A9C5;

/// Stream id of the arrival draws.
pub const STREAM_ARRIVALS: u64 = 1;
/// Stream id of the initial per-agent weights (agent id, position in the agent's weights).
pub const STREAM_INIT: u64 = 3;
/// Stream id of the training action noise (row id `copy * N + agent`, step of training).
pub const STREAM_ACTION_NOISE: u64 = 4;
/// Stream id of each training episode's multiplier profile (row id, `episode * 2^32 + draw`).
pub const STREAM_MULTS: u64 = 5;
/// Stream id of each training episode's initial backlog (row id, episode).
pub const STREAM_BACKLOG: u64 = 6;

/// `2^-53`: scales a 53-bit integer into `[0, 1)` exactly.
const INV_2_53: f64 = 1.0 / 9_007_199_254_740_992.0;

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

/// A uniform `f64` in `(0, 1]` from 64 random bits: the top 53 bits plus one half, times `2^-53`.
///
/// The sum rounds to nearest even in `f64`, as NumPy's does, so the one draw with all 53 bits set
/// gives exactly 1 (probability `2^-53`); 0 never comes, so the logarithm is always finite.
#[inline]
#[must_use]
pub fn uniform_f64_from_bits(b: u64) -> f64 {
    ((b >> 11) as f64 + 0.5) * INV_2_53
}

/// A uniform `f64` in `(0, 1]` for `(seed, stream, agent, step)` (see [`uniform_f64_from_bits`]).
#[inline]
#[must_use]
pub fn uniform_f64(seed: u64, stream: u64, agent: u64, step: u64) -> f64 {
    uniform_f64_from_bits(bits(seed, stream, agent, step))
}

/// The two halves of the Box–Muller normal of `(seed, stream, agent, step)`:
/// `(u1, cos(2 pi u2))` with `u1 = uniform_f64(.., 2 * step)` and `u2 = uniform_f64(.., 2 * step +
/// 1)` (wrapping). The normal is `sqrt(-2 ln u1) * cos(2 pi u2)`; the logarithm is left to the
/// caller (see [`crate::streams`] for why).
#[inline]
#[must_use]
pub fn box_muller_parts(seed: u64, stream: u64, agent: u64, step: u64) -> (f64, f64) {
    let t2 = step.wrapping_mul(2);
    let u1 = uniform_f64(seed, stream, agent, t2);
    let u2 = uniform_f64(seed, stream, agent, t2.wrapping_add(1));
    (u1, (2.0 * std::f64::consts::PI * u2).cos())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::float_cmp, reason = "the conversion is exact by construction")]
    fn uniform_f64_rounds_like_numpy_at_the_edges() {
        // Below 2^52 the half is exact; above it, (top + 0.5) is a tie rounded to even.
        assert_eq!(uniform_f64_from_bits(0), 0.5 * INV_2_53);
        assert_eq!(uniform_f64_from_bits(1 << 11), 1.5 * INV_2_53);
        let top = |t: u64| t << 11;
        assert_eq!(uniform_f64_from_bits(top((1 << 53) - 1)), 1.0);
        assert_eq!(
            uniform_f64_from_bits(top((1 << 53) - 2)),
            ((1u64 << 53) - 2) as f64 * INV_2_53
        );
        assert_eq!(uniform_f64_from_bits(top(1 << 52)), 0.5);
        assert_eq!(
            uniform_f64_from_bits(top((1 << 52) + 1)),
            0.5 + INV_2_53 * 2.0
        );
        // The low 11 bits never matter.
        assert_eq!(
            uniform_f64_from_bits(top(5) | 0x7ff),
            uniform_f64_from_bits(top(5))
        );
    }

    #[test]
    fn box_muller_counters_wrap() {
        // step 2^63 doubles to 0 (wrapping): the same draws as step 0.
        let (a, b) = (
            box_muller_parts(3, 4, 5, 0),
            box_muller_parts(3, 4, 5, 1 << 63),
        );
        assert_eq!(a.0.to_bits(), b.0.to_bits());
        assert_eq!(a.1.to_bits(), b.1.to_bits());
        let (u1, _) = box_muller_parts(3, 4, 5, u64::MAX);
        assert_eq!(u1.to_bits(), uniform_f64(3, 4, 5, u64::MAX - 1).to_bits());
    }

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
