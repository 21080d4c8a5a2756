//! The plain CSR kernel: rounds of `y = W x` gathered row by row over any graph and any block
//! width, with a per-round filter of the links that are up (all of them for lossless rounds, the
//! surviving ones for [`Weights::mix_lossy`]).

use super::Weights;
use crate::error::Result;
use crate::interrupt::{Interrupt, Pacer};
use crate::pool::{self, CHUNK};

impl Weights {
    /// Runs `rounds` rounds, ping-ponging between `x` and one scratch buffer. `links(r)` says
    /// which links are up in round `r`.
    ///
    /// `interrupt` is asked between rounds (paced by the clock); if it stops the call, its error
    /// is returned and `x` holds the result of some whole number of rounds.
    pub(super) fn iterate<L>(
        &self,
        x: &mut [f32],
        cols: usize,
        rounds: usize,
        links: impl Fn(usize) -> L,
        interrupt: &dyn Interrupt,
    ) -> Result<()>
    where
        L: Fn(usize, usize) -> bool + Sync,
    {
        if rounds == 0 {
            return Ok(());
        }
        let mut pacer = Pacer::new(interrupt);
        let per_round = (self.n + self.indices.len()) * cols;
        let mut scratch = vec![0.0f32; x.len()];
        for r in 0..rounds {
            if r % 2 == 0 {
                self.round(x, &mut scratch, cols, &links(r));
            } else {
                self.round(&scratch, x, cols, &links(r));
            }
            pacer.tick(per_round)?;
        }
        if rounds % 2 == 1 {
            x.copy_from_slice(&scratch);
        }
        Ok(())
    }

    /// One round `y = W x` (without the links that are down), in parallel over row chunks.
    /// Narrow blocks get a kernel with the width known at compile time, which the compiler
    /// unrolls and vectorises; every kernel sums in the same order, so they agree bit for bit.
    fn round(
        &self,
        x: &[f32],
        y: &mut [f32],
        cols: usize,
        up: &(impl Fn(usize, usize) -> bool + Sync),
    ) {
        pool::for_each_chunk(y, cols, |chunk, out| {
            let first = chunk * CHUNK;
            match cols {
                1 => self.gather_fixed::<1>(x, out, first, up),
                2 => self.gather_fixed::<2>(x, out, first, up),
                3 => self.gather_fixed::<3>(x, out, first, up),
                4 => self.gather_fixed::<4>(x, out, first, up),
                _ => self.gather_any(x, out, first, cols, up),
            }
        });
    }

    /// Rows `first..` of `W x` for `[n, C]` blocks; `out` holds whole rows.
    fn gather_fixed<const C: usize>(
        &self,
        x: &[f32],
        out: &mut [f32],
        first: usize,
        up: &impl Fn(usize, usize) -> bool,
    ) {
        let (x, _) = x.as_chunks::<C>();
        let (out, _) = out.as_chunks_mut::<C>();
        for (i, y) in (first..).zip(out) {
            let (nbrs, ws) = self.row(i);
            let xi = &x[i];
            let d = self.diag[i];
            let mut acc = xi.map(|v| d * v);
            for (&j, &w) in nbrs.iter().zip(ws) {
                let j = j as usize;
                let xj = if up(i, j) { &x[j] } else { xi };
                for (a, &v) in acc.iter_mut().zip(xj) {
                    *a += w * v;
                }
            }
            *y = acc;
        }
    }

    /// Rows `first..` of `W x` for `[n, cols]` blocks of any width; `out` holds whole rows.
    fn gather_any(
        &self,
        x: &[f32],
        out: &mut [f32],
        first: usize,
        cols: usize,
        up: &impl Fn(usize, usize) -> bool,
    ) {
        for (i, y) in (first..).zip(out.chunks_exact_mut(cols)) {
            let (nbrs, ws) = self.row(i);
            let xi = &x[i * cols..(i + 1) * cols];
            let d = self.diag[i];
            for (a, &v) in y.iter_mut().zip(xi) {
                *a = d * v;
            }
            for (&j, &w) in nbrs.iter().zip(ws) {
                let j = j as usize;
                let xj = if up(i, j) {
                    &x[j * cols..(j + 1) * cols]
                } else {
                    xi
                };
                for (a, &v) in y.iter_mut().zip(xj) {
                    *a += w * v;
                }
            }
        }
    }
}

/// The link filter of lossless rounds.
pub(super) fn all_links_up(_: usize, _: usize) -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::test_support::*;
    use crate::graph::Graph;
    use crate::interrupt::Never;

    #[test]
    fn one_round_matches_the_dense_product() {
        let g = Graph::erdos_renyi(60, 5.0, 1, true).unwrap();
        let w = Weights::metropolis(&g).unwrap();
        let a = dense(&w);
        let x0 = random_values(60, 2);
        let mut x = x0.clone();
        w.mix(&mut x, 1, 1, &Never).unwrap();
        for (row, &got) in a.iter().zip(&x) {
            let want: f64 = row.iter().zip(&x0).map(|(a, &x)| a * f64::from(x)).sum();
            assert!((want - f64::from(got)).abs() < 1e-6);
        }
    }

    #[test]
    fn every_block_width_matches_single_columns_bitwise() {
        // Widths 1-4 take the fixed-width kernels, 5 and 9 the general one.
        let n = 300;
        let w = Weights::metropolis(&Graph::random_geometric(n, 0.12, 4).unwrap()).unwrap();
        for cols in [2, 3, 4, 5, 9] {
            let x0 = random_values(n * cols, cols as u64);
            let column = |x: &[f32], c: usize| -> Vec<f32> {
                x.iter().skip(c).step_by(cols).copied().collect()
            };
            let (mut mixed, mut lossy) = (x0.clone(), x0.clone());
            w.mix(&mut mixed, cols, 7, &Never).unwrap();
            w.mix_lossy(&mut lossy, cols, 3, links(0.25, 9, 1), &Never)
                .unwrap();
            for c in 0..cols {
                let (mut one, mut one_lossy) = (column(&x0, c), column(&x0, c));
                w.mix(&mut one, 1, 7, &Never).unwrap();
                w.mix_lossy(&mut one_lossy, 1, 3, links(0.25, 9, 1), &Never)
                    .unwrap();
                assert_eq!(column(&mixed, c), one, "mix, cols={cols}, column {c}");
                assert_eq!(
                    column(&lossy, c),
                    one_lossy,
                    "mix_lossy, cols={cols}, column {c}"
                );
            }
        }
    }

    #[test]
    fn mix_converges_to_the_mean_on_connected_graphs() {
        let graphs = [
            Graph::ring(20, 2).unwrap(),
            Graph::grid_2d(6, 7).unwrap(),
            Graph::erdos_renyi(50, 4.0, 8, true).unwrap(),
            Graph::watts_strogatz(40, 2, 0.3, 8).unwrap(),
        ];
        for g in &graphs {
            let w = Weights::metropolis(g).unwrap();
            let mut x = random_values(g.num_nodes() * 2, 9);
            let means = column_means(&x, 2);
            w.mix(&mut x, 2, 5000, &Never).unwrap();
            for (k, &v) in x.iter().enumerate() {
                assert!(
                    (f64::from(v) - means[k % 2]).abs() < 1e-4,
                    "{v} vs {}",
                    means[k % 2]
                );
            }
        }
    }
}
