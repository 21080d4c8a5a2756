//! `W`: the Metropolis–Hastings weights of a graph, their accessors, and lossless `mix`, which
//! picks the [`Banded`] fast path or the plain CSR kernel of [`super::gather`].

use super::banded::{Banded, Plan};
use super::check_block_shape;
use super::gather::all_links_up;
use crate::error::{Result, check_finite};
use crate::graph::Graph;
use crate::interrupt::Interrupt;
use crate::memory::{self, Request};

/// A symmetric, doubly stochastic consensus matrix `W` on a graph.
///
/// The off-diagonal entries share the graph's CSR pattern (`indptr`, `indices`, `data`); the
/// diagonal is stored separately in `diag`.
#[derive(Debug, Clone, PartialEq)]
pub struct Weights {
    pub(super) n: usize,
    pub(super) indptr: Vec<usize>,
    pub(super) indices: Vec<u32>,
    pub(super) data: Vec<f32>,
    pub(super) diag: Vec<f32>,
    /// The compact copy behind the lossless single-column fast path, for banded graphs.
    pub(super) banded: Option<Banded>,
}

impl Weights {
    /// Metropolis–Hastings weights: `W_ij = 1 / (1 + max(deg_i, deg_j))` on every edge and
    /// `W_ii = 1 - sum_j W_ij`, both computed in `f64` and stored as `f32`.
    ///
    /// Each node needs only its neighbours' degrees, so agents can build their row locally.
    /// Its buffers are reserved fallibly ([`CoreError::Memory`] rather than an abort).
    ///
    /// [`CoreError::Memory`]: crate::error::CoreError::Memory
    pub fn metropolis(g: &Graph) -> Result<Self> {
        let degree = g.degrees();
        let (indptr, indices) = (g.indptr(), g.indices());
        let request = Request::new("num_nodes", g.num_nodes(), "nodes");
        let mut data = memory::with_capacity(request, indices.len())?;
        let mut diag = memory::with_capacity(request, g.num_nodes())?;
        for (i, bounds) in indptr.windows(2).enumerate() {
            let mut off_diagonal = 0.0f64;
            for &j in &indices[bounds[0]..bounds[1]] {
                let w = 1.0 / (1.0 + f64::from(degree[i].max(degree[j as usize])));
                off_diagonal += w;
                data.push(w as f32);
            }
            diag.push((1.0 - off_diagonal) as f32);
        }
        let banded = Banded::new(g, &degree, &diag);
        Ok(Self {
            n: g.num_nodes(),
            indptr: memory::copied(request, indptr)?,
            indices: memory::copied(request, indices)?,
            data,
            diag,
            banded,
        })
    }

    /// An upper estimate of the peak bytes of [`Weights::metropolis`] on a graph of `n` nodes and
    /// `entries` adjacency entries (twice its edges): the CSR copy and weights (20 bytes a node, 8
    /// an entry), the degrees, and the banded copy when there is one (20 a node, 3 an entry).
    #[must_use]
    pub fn peak_bytes(n: usize, entries: usize) -> u64 {
        (n as u64)
            .saturating_mul(44)
            .saturating_add((entries as u64).saturating_mul(11))
    }

    /// Number of nodes (rows of `W`).
    #[must_use]
    pub fn num_nodes(&self) -> usize {
        self.n
    }

    /// Row pointers of the off-diagonal part, `n + 1` entries (the graph's `indptr`).
    #[must_use]
    pub fn indptr(&self) -> &[usize] {
        &self.indptr
    }

    /// Column indices of the off-diagonal part, sorted within each row (the graph's `indices`).
    #[must_use]
    pub fn indices(&self) -> &[u32] {
        &self.indices
    }

    /// Off-diagonal weights `W_ij`, aligned with [`Weights::indices`].
    #[must_use]
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// Diagonal weights `W_ii`, one per node.
    #[must_use]
    pub fn diag(&self) -> &[f32] {
        &self.diag
    }

    /// The full `W`, diagonal included, as CSR `(indptr, indices, data)` with columns sorted.
    #[must_use]
    pub fn to_csr(&self) -> (Vec<usize>, Vec<u32>, Vec<f32>) {
        let nnz = self.indices.len() + self.n;
        let mut indptr = Vec::with_capacity(self.n + 1);
        let mut indices = Vec::with_capacity(nnz);
        let mut data = Vec::with_capacity(nnz);
        indptr.push(0);
        for i in 0..self.n {
            let (nbrs, ws) = self.row(i);
            let split = nbrs.partition_point(|&j| (j as usize) < i);
            indices.extend_from_slice(&nbrs[..split]);
            data.extend_from_slice(&ws[..split]);
            indices.push(i as u32);
            data.push(self.diag[i]);
            indices.extend_from_slice(&nbrs[split..]);
            data.extend_from_slice(&ws[split..]);
            indptr.push(indices.len());
        }
        (indptr, indices, data)
    }

    /// Applies `x <- W x` `rounds` times to every column of `x` (row-major `[n, cols]`, already
    /// validated by [`Weights::check_block`]): [`Weights::iterate`] with every link up, or, for
    /// one column of a banded graph, the bit-identical [`Banded`] fast path.
    ///
    /// Row `i` becomes `W_ii * x_i + sum_j W_ij * x_j`, accumulated in `f32` with the diagonal
    /// term first and the neighbours in CSR order. If `interrupt` stops the call, its error is
    /// returned and `x` holds the result of some whole number of rounds.
    pub(super) fn mix(
        &self,
        x: &mut [f32],
        cols: usize,
        rounds: usize,
        interrupt: &dyn Interrupt,
    ) -> Result<()> {
        if let Some((band, plan)) = self.fast_path(cols, rounds) {
            band.iterate(x, rounds, plan, interrupt).map(drop)
        } else {
            self.iterate(x, cols, rounds, |_| all_links_up, interrupt)
        }
    }

    /// Off-diagonal neighbours and weights of row `i`.
    pub(super) fn row(&self, i: usize) -> (&[u32], &[f32]) {
        let range = self.indptr[i]..self.indptr[i + 1];
        (&self.indices[range.clone()], &self.data[range])
    }

    /// Checks `cols >= 1` ([`CoreError::InvalidValue`] named `cols`), `values.len() == n * cols`
    /// ([`CoreError::Shape`] named `name`) and finiteness ([`CoreError::InvalidValue`] named
    /// `name`, with the first bad index).
    ///
    /// [`CoreError::InvalidValue`]: crate::CoreError::InvalidValue
    /// [`CoreError::Shape`]: crate::CoreError::Shape
    pub(super) fn check_block(
        &self,
        name: &'static str,
        values: &[f32],
        cols: usize,
    ) -> Result<()> {
        check_block_shape(name, values, self.n, cols)?;
        check_finite(name, values)
    }

    /// The [`Banded`] fast path and its plan, when it applies: lossless rounds on one column of a
    /// banded graph.
    fn fast_path(&self, cols: usize, rounds: usize) -> Option<(&Banded, Plan)> {
        let band = self.banded.as_ref().filter(|_| cols == 1 && rounds > 0)?;
        Some((band, band.plan()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::test_support::*;
    use crate::interrupt::Never;
    use proptest::prelude::*;

    #[test]
    fn metropolis_on_a_path() {
        // Degrees 1, 2, 1: both edges weigh 1/3.
        let w = Weights::metropolis(&Graph::from_edges(3, &[(0, 1), (1, 2)]).unwrap()).unwrap();
        assert_eq!(w.data(), &[1.0 / 3.0; 4]);
        assert_eq!(w.diag(), &[2.0 / 3.0, 1.0 / 3.0, 2.0 / 3.0]);
        let (indptr, indices, data) = w.to_csr();
        assert_eq!(indptr, vec![0, 2, 5, 7]);
        assert_eq!(indices, vec![0, 1, 0, 1, 2, 1, 2]);
        assert_eq!(data[2..5], [1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0]);
    }

    #[test]
    fn zero_rounds_is_the_identity() {
        let w = Weights::metropolis(&Graph::ring(9, 2).unwrap()).unwrap();
        let x0 = random_values(18, 3);
        let mut x = x0.clone();
        w.mix(&mut x, 2, 0, &Never).unwrap();
        assert_eq!(x, x0);
        w.track(&mut x, &x0, &x0, 2, 0, &Never).unwrap();
        assert_eq!(x, x0);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        #[allow(clippy::float_cmp, reason = "W must be exactly symmetric")]
        fn metropolis_is_symmetric_stochastic_and_nonnegative(g in arb_graph(40)) {
            let w = Weights::metropolis(&g).unwrap();
            prop_assert_eq!(w.indptr(), g.indptr());
            prop_assert_eq!(w.indices(), g.indices());
            for i in 0..w.num_nodes() {
                let (nbrs, ws) = w.row(i);
                let sum: f64 = f64::from(w.diag()[i]) + ws.iter().map(|&v| f64::from(v)).sum::<f64>();
                prop_assert!((sum - 1.0).abs() < 1e-6);
                prop_assert!(w.diag()[i] >= 0.0);
                for (&j, &wij) in nbrs.iter().zip(ws) {
                    prop_assert!(wij > 0.0);
                    let (back, back_ws) = w.row(j as usize);
                    let k = back.binary_search(&(i as u32)).unwrap();
                    prop_assert_eq!(back_ws[k], wij);
                }
            }
        }
    }
}
