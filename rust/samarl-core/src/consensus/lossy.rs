//! Consensus over unreliable links: every round each link fails independently, as a pure
//! function of `(seed, link, round)`, and its weight moves onto both endpoints' diagonals.

use super::Weights;
use crate::error::{CoreError, Result};
use crate::interrupt::Interrupt;
use crate::rng;

/// Stream id of the link-failure draws of lossy rounds (the env's arrivals use
/// [`rng::STREAM_ARRIVALS`]).
pub const STREAM_LINKS: u64 = 2;

/// How links fail in lossy rounds: in round `r` of a call, each link is down with probability
/// `drop_prob`, drawn from `(seed, link, round_offset + r)`. A later call with `round_offset`
/// advanced by the rounds already run continues the same sequence of failures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkFailures {
    /// Probability that a link is down in a round, in `[0, 1]`.
    pub drop_prob: f32,
    /// Seed of the failure draws.
    pub seed: u64,
    /// Round number of the call's first round.
    pub round_offset: u64,
}

impl LinkFailures {
    /// Checks that `drop_prob` is in `[0, 1]` ([`CoreError::InvalidValue`] named `drop_prob`).
    pub fn check(&self) -> Result<()> {
        if (0.0..=1.0).contains(&self.drop_prob) {
            Ok(())
        } else {
            Err(CoreError::invalid(
                "drop_prob",
                format!("must be in [0, 1], got {}", self.drop_prob),
            ))
        }
    }
}

impl Weights {
    /// Like [`Weights::mix`], over unreliable links (`links` checked by [`LinkFailures::check`],
    /// `x` by [`Weights::check_block`]).
    ///
    /// In round `r` the undirected edge `{i, j}` (`i < j`) is down when
    /// `rng::uniform_f32(seed, STREAM_LINKS, i * n + j, round_offset + r) < drop_prob` (the
    /// fields of `links`). Both endpoints then use their own value in place of the other's, which
    /// moves the edge's weight onto both diagonals: every round's matrix stays symmetric and
    /// doubly stochastic, so the column means are kept. Row `i` is
    /// `W_ii * x_i + sum_j W_ij * (up ? x_j : x_i)` in CSR order. `drop_prob == 0` is exactly
    /// [`Weights::mix`]; `drop_prob == 1` leaves `x` unchanged. Interruption as in
    /// [`Weights::mix`].
    pub(super) fn mix_lossy(
        &self,
        x: &mut [f32],
        cols: usize,
        rounds: usize,
        links: LinkFailures,
        interrupt: &dyn Interrupt,
    ) -> Result<()> {
        let LinkFailures {
            drop_prob,
            seed,
            round_offset,
        } = links;
        if drop_prob == 0.0 {
            self.mix(x, cols, rounds, interrupt)
        } else if drop_prob < 1.0 {
            let n = self.n as u64;
            let links_up = |r: usize| {
                let step = round_offset.wrapping_add(r as u64);
                move |i: usize, j: usize| {
                    let (lo, hi) = (i.min(j) as u64, i.max(j) as u64);
                    rng::uniform_f32(seed, STREAM_LINKS, lo * n + hi, step) >= drop_prob
                }
            };
            self.iterate(x, cols, rounds, links_up, interrupt)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::test_support::*;
    use crate::graph::Graph;
    use crate::interrupt::Never;

    #[test]
    fn lossy_extremes_are_mix_and_identity() {
        let w = Weights::metropolis(&Graph::erdos_renyi(200, 6.0, 2, true).unwrap()).unwrap();
        let x0 = random_values(400, 4);
        let (mut lossless, mut mixed, mut frozen) = (x0.clone(), x0.clone(), x0.clone());
        w.mix_lossy(&mut lossless, 2, 5, links(0.0, 7, 0), &Never)
            .unwrap();
        w.mix(&mut mixed, 2, 5, &Never).unwrap();
        assert_eq!(lossless, mixed);
        w.mix_lossy(&mut frozen, 2, 5, links(1.0, 7, 0), &Never)
            .unwrap();
        assert_eq!(frozen, x0);
    }

    #[test]
    fn lossy_matches_a_dense_reference_and_composes_over_rounds() {
        let g = Graph::erdos_renyi(40, 5.0, 3, true).unwrap();
        let w = Weights::metropolis(&g).unwrap();
        let (n, drop_prob, seed, offset) = (40usize, 0.4f32, 11u64, 5u64);
        let x0 = random_values(n, 6);

        let mut want: Vec<f64> = x0.iter().map(|&v| f64::from(v)).collect();
        for r in 0..3u64 {
            let mut a = dense(&w);
            for i in 0..n {
                for j in i + 1..n {
                    let key = (i * n + j) as u64;
                    if a[i][j] > 0.0
                        && rng::uniform_f32(seed, STREAM_LINKS, key, offset + r) < drop_prob
                    {
                        let wij = a[i][j];
                        (a[i][j], a[j][i]) = (0.0, 0.0);
                        a[i][i] += wij;
                        a[j][j] += wij;
                    }
                }
            }
            want = a
                .iter()
                .map(|row| row.iter().zip(&want).map(|(a, x)| a * x).sum())
                .collect();
        }
        let mut x = x0.clone();
        w.mix_lossy(&mut x, 1, 3, links(drop_prob, seed, offset), &Never)
            .unwrap();
        for (&got, want) in x.iter().zip(&want) {
            assert!((f64::from(got) - want).abs() < 1e-5);
        }

        let mut stepped = x0.clone();
        w.mix_lossy(&mut stepped, 1, 1, links(drop_prob, seed, offset), &Never)
            .unwrap();
        w.mix_lossy(
            &mut stepped,
            1,
            2,
            links(drop_prob, seed, offset + 1),
            &Never,
        )
        .unwrap();
        assert_eq!(stepped, x);
    }
}
