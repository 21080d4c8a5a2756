//! The second largest singular value `sigma2(W)`: the rate at which consensus contracts.

use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::SeedableRng;

use super::Weights;
use crate::error::Result;
use crate::graph::unit_f64;
use crate::interrupt::{Interrupt, Pacer};
use crate::pool::{self, CHUNK};

impl Weights {
    /// The second largest singular value of `W`, i.e. the largest `|eigenvalue|` of
    /// `M = W - (1/n) 1 1^T`; the spectral gap is `1 - sigma2`, and consensus error shrinks by about
    /// `sigma2` per round.
    ///
    /// Power iteration in `f64` from a random start (seeded by `seed`) with the mean removed at
    /// every step. The estimate is `||M v||` for the current unit iterate `v` (the square root of
    /// the Rayleigh quotient of `M^2`, which converges even when `+sigma2` and `-sigma2` are both
    /// eigenvalues); iteration stops once it changes by less than `tol`, or after `max_iter`
    /// products (at least one). Returns 0 for a single node; 1 (up to rounding) if the graph is
    /// disconnected. `interrupt` is asked between products (paced by the clock), and its error
    /// returned.
    pub(super) fn sigma2(
        &self,
        max_iter: usize,
        tol: f64,
        seed: u64,
        interrupt: &dyn Interrupt,
    ) -> Result<f64> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut v: Vec<f64> = (0..self.n).map(|_| unit_f64(&mut rng) - 0.5).collect();
        if center_and_normalize(&mut v) == 0.0 {
            return Ok(0.0);
        }
        let mut pacer = Pacer::new(interrupt);
        let mut w = vec![0.0f64; self.n];
        let mut estimate = f64::NAN;
        for _ in 0..max_iter.max(1) {
            self.apply_f64(&v, &mut w);
            let norm = center_and_normalize(&mut w);
            if norm == 0.0 {
                return Ok(0.0);
            }
            std::mem::swap(&mut v, &mut w);
            let converged = (norm - estimate).abs() < tol;
            estimate = norm;
            if converged {
                break;
            }
            pacer.tick(self.n + self.indices.len())?;
        }
        Ok(estimate)
    }

    /// `y = W v` in `f64` (for [`Weights::sigma2`]).
    fn apply_f64(&self, v: &[f64], y: &mut [f64]) {
        pool::for_each_chunk(y, 1, |chunk, out| {
            for (i, y) in (chunk * CHUNK..).zip(out.iter_mut()) {
                let (nbrs, ws) = self.row(i);
                *y = nbrs
                    .iter()
                    .zip(ws)
                    .fold(f64::from(self.diag[i]) * v[i], |acc, (&j, &w)| {
                        acc + f64::from(w) * v[j as usize]
                    });
            }
        });
    }
}

/// Removes the mean of `v` and scales it to unit norm; returns the norm before scaling (`v` is
/// left centred but unscaled when that norm is 0). Serial sums, so the result is deterministic.
fn center_and_normalize(v: &mut [f64]) -> f64 {
    let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
    for x in v.iter_mut() {
        *x -= mean;
    }
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm > 0.0 {
        for x in v.iter_mut() {
            *x /= norm;
        }
    }
    norm
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::test_support::*;
    use crate::graph::Graph;
    use crate::interrupt::Never;
    use proptest::prelude::*;

    /// Eigenvalues of a symmetric matrix by cyclic Jacobi rotations (test oracle).
    fn symmetric_eigenvalues(mut a: Vec<Vec<f64>>) -> Vec<f64> {
        let n = a.len();
        for _sweep in 0..100 {
            let off: f64 = (0..n)
                .flat_map(|p| (0..n).filter(move |&q| q != p).map(move |q| (p, q)))
                .map(|(p, q)| a[p][q] * a[p][q])
                .sum();
            if off < 1e-26 {
                break;
            }
            for p in 0..n {
                for q in p + 1..n {
                    if a[p][q] == 0.0 {
                        continue;
                    }
                    let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                    let t = theta.signum() / (theta.abs() + theta.hypot(1.0));
                    let c = 1.0 / t.hypot(1.0);
                    let s = t * c;
                    for row in &mut a {
                        let (kp, kq) = (row[p], row[q]);
                        row[p] = c * kp - s * kq;
                        row[q] = s * kp + c * kq;
                    }
                    let (above, below) = a.split_at_mut(q);
                    for (pk, qk) in above[p].iter_mut().zip(below[0].iter_mut()) {
                        (*pk, *qk) = (c * *pk - s * *qk, s * *pk + c * *qk);
                    }
                }
            }
        }
        (0..n).map(|i| a[i][i]).collect()
    }

    /// `sigma2` from the dense spectrum of `W - J/n`.
    fn dense_sigma2(w: &Weights) -> f64 {
        let n = w.num_nodes();
        let mut a = dense(w);
        for row in &mut a {
            for v in row.iter_mut() {
                *v -= 1.0 / n as f64;
            }
        }
        symmetric_eigenvalues(a)
            .iter()
            .fold(0.0f64, |m, l| m.max(l.abs()))
    }

    #[test]
    fn sigma2_of_rings_matches_the_closed_form() {
        for n in [5usize, 8, 10, 17, 30] {
            let w = Weights::metropolis(&Graph::ring(n, 1).unwrap()).unwrap();
            let exact = (1..n)
                .map(|k| {
                    let angle = 2.0 * std::f64::consts::PI * k as f64 / n as f64;
                    ((1.0 + 2.0 * angle.cos()) / 3.0).abs()
                })
                .fold(0.0f64, f64::max);
            let estimate = w.sigma2(100_000, 1e-13, 1, &Never).unwrap();
            assert!(
                (estimate - exact).abs() < 1e-6,
                "n={n}: {estimate} vs {exact}"
            );
            assert!(
                (dense_sigma2(&w) - exact).abs() < 1e-6,
                "jacobi oracle, n={n}"
            );
        }
    }

    #[test]
    #[allow(clippy::float_cmp, reason = "a single node has sigma2 exactly 0")]
    fn sigma2_edge_cases() {
        for n in [2usize, 5, 30] {
            let w = Weights::metropolis(&Graph::complete(n).unwrap()).unwrap();
            assert!(
                w.sigma2(1000, 1e-12, 0, &Never).unwrap() < 1e-6,
                "complete({n})"
            );
        }
        assert_eq!(
            Weights::metropolis(&Graph::complete(1).unwrap())
                .unwrap()
                .sigma2(10, 1e-9, 0, &Never)
                .unwrap(),
            0.0
        );
        let two_rings = Graph::from_edges(6, &[(0, 1), (1, 2), (2, 0), (3, 4), (4, 5), (5, 3)]);
        let w = Weights::metropolis(&two_rings.unwrap()).unwrap();
        assert!((w.sigma2(1000, 1e-12, 0, &Never).unwrap() - 1.0).abs() < 1e-6);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn sigma2_matches_dense_eigenvalues(n in 2usize..25, mean_degree in 0.0f64..6.0, seed: u64) {
            let g = Graph::erdos_renyi(n, mean_degree.min((n - 1) as f64), seed, true).unwrap();
            let w = Weights::metropolis(&g).unwrap();
            let (estimate, exact) = (w.sigma2(200_000, 1e-14, seed, &Never).unwrap(), dense_sigma2(&w));
            prop_assert!((estimate - exact).abs() < 1e-5, "{} vs {}", estimate, exact);
        }
    }
}
