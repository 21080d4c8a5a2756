//! `ConsensusCore`: Metropolis–Hastings weights and K rounds of `x <- W x`.

use numpy::{PyArray1, PyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;
use samarl_core::consensus::{LinkFailures, Mixer};

use crate::arrays::{CsrArrays, columns, csr_to_py, readonly, readwrite, slice, slice_mut, to_u32};
use crate::detach::detach;
use crate::errors::ShapeError;
use crate::graph::PyGraph;

/// Doubly stochastic Metropolis–Hastings weights of a graph, and the consensus kernels on them.
#[pyclass(module = "samarl._core", name = "ConsensusCore", frozen)]
pub struct PyConsensus {
    pub(crate) inner: Mixer,
}

fn same_shape(name: &str, a: &[usize], b: &[usize]) -> PyResult<()> {
    if a == b {
        Ok(())
    } else {
        Err(ShapeError::new_err(format!(
            "{name}: expected shape {a:?} (the shape of y), got {b:?}"
        )))
    }
}

#[pymethods]
impl PyConsensus {
    /// Metropolis–Hastings weights `W_ij = 1 / (1 + max(deg_i, deg_j))` of `graph`. With
    /// `order` (int64, a permutation), `graph` is a relabelled graph whose node `i` is the
    /// caller's node `order[i]`, and every kernel takes and returns blocks in the caller's order.
    #[new]
    #[pyo3(signature = (graph, *, order = None))]
    fn new(
        py: Python<'_>,
        graph: &PyGraph,
        order: Option<&Bound<'_, PyArray1<i64>>>,
    ) -> PyResult<Self> {
        let order = match order {
            Some(order) => Some(to_u32("order", order)?),
            None => None,
        };
        let inner = detach(py, |_| Mixer::new(&graph.inner, order.as_deref()))?;
        Ok(Self { inner })
    }

    /// Number of nodes.
    #[getter]
    fn num_nodes(&self) -> usize {
        self.inner.num_nodes()
    }

    /// `rounds` rounds of `x <- W x`, in place, on a float32 `[n]` or `[n, m]` array.
    #[pyo3(signature = (x, *, rounds))]
    fn mix(&self, py: Python<'_>, x: &Bound<'_, PyArrayDyn<f32>>, rounds: usize) -> PyResult<()> {
        let mut x = readwrite("x", x)?;
        let cols = columns("x", x.shape())?;
        let xs = slice_mut("x", &mut x)?;
        detach(py, |interrupt| self.inner.mix(xs, cols, rounds, interrupt))
    }

    /// Like `mix`, but each link fails independently with probability `drop_prob` in every round
    /// (its weight moves to the diagonal, so the mean is still preserved).
    #[pyo3(signature = (x, *, rounds, drop_prob, seed, round_offset = 0))]
    fn mix_lossy(
        &self,
        py: Python<'_>,
        x: &Bound<'_, PyArrayDyn<f32>>,
        rounds: usize,
        drop_prob: f32,
        seed: u64,
        round_offset: u64,
    ) -> PyResult<()> {
        let mut x = readwrite("x", x)?;
        let cols = columns("x", x.shape())?;
        let xs = slice_mut("x", &mut x)?;
        let links = LinkFailures {
            drop_prob,
            seed,
            round_offset,
        };
        detach(py, |interrupt| {
            self.inner.mix_lossy(xs, cols, rounds, links, interrupt)
        })
    }

    /// Dynamic average tracking, in place: `y <- W^rounds y + (g_new - g_old)`.
    #[pyo3(signature = (y, g_new, g_old, *, rounds))]
    fn track(
        &self,
        py: Python<'_>,
        y: &Bound<'_, PyArrayDyn<f32>>,
        g_new: &Bound<'_, PyArrayDyn<f32>>,
        g_old: &Bound<'_, PyArrayDyn<f32>>,
        rounds: usize,
    ) -> PyResult<()> {
        let mut y = readwrite("y", y)?;
        let (g_new, g_old) = (readonly("g_new", g_new)?, readonly("g_old", g_old)?);
        let shape = y.shape().to_vec();
        same_shape("g_new", &shape, g_new.shape())?;
        same_shape("g_old", &shape, g_old.shape())?;
        let cols = columns("y", &shape)?;
        let (gn, go) = (slice("g_new", &g_new)?, slice("g_old", &g_old)?);
        let ys = slice_mut("y", &mut y)?;
        detach(py, |interrupt| {
            self.inner.track(ys, gn, go, cols, rounds, interrupt)
        })
    }

    /// Second largest singular value of W (power iteration on W minus the averaging projector).
    #[pyo3(signature = (*, max_iter = 10_000, tol = 1e-9, seed = 0))]
    fn sigma2(&self, py: Python<'_>, max_iter: usize, tol: f64, seed: u64) -> PyResult<f64> {
        detach(py, |interrupt| {
            self.inner.sigma2(max_iter, tol, seed, interrupt)
        })
    }

    /// W as CSR arrays `(indptr, indices, data)` including the diagonal (int64, int64, float32),
    /// in the order of the graph it was built on.
    fn to_csr<'py>(&self, py: Python<'py>) -> CsrArrays<'py> {
        csr_to_py(py, py.detach(|| self.inner.to_csr()))
    }
}
