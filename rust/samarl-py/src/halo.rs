//! `HaloRowsCore`: a part's rows of the consensus rounds (`samarl_core::consensus::HaloRows`).

use numpy::{PyArray1, PyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;
use samarl_core::consensus::{HaloRows, HaloRowsParts, LinkFailures};

use crate::arrays::{
    CsrArrays, columns, csr_to_py, readonly, readwrite, slice, slice_mut, to_u32, to_usize, to_vec,
};
use crate::consensus::PyConsensus;
use crate::detach::detach;
use crate::errors::{ShapeError, to_py};

/// The arrays of `HaloRowsCore.to_parts`, in order.
type Parts<'py> = (
    usize,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<f32>>,
    Bound<'py, PyArray1<u64>>,
    Bound<'py, PyArray1<f32>>,
);

/// Int64 copies of node ids for Python.
fn ids<'py>(py: Python<'py>, xs: &[u32]) -> Bound<'py, PyArray1<i64>> {
    PyArray1::from_iter(py, xs.iter().map(|&x| i64::from(x)))
}

/// Int64 copies of offsets for Python.
fn offsets<'py>(py: Python<'py>, xs: &[usize]) -> Bound<'py, PyArray1<i64>> {
    PyArray1::from_iter(py, xs.iter().map(|&x| x as i64))
}

/// A part's rows of a consensus's rounds: its rows of W and a halo of `hops` hops, to run up to
/// `hops` rounds on its rows from its own values and its halo's, bit for bit as the whole graph.
#[pyclass(module = "samarl._core", name = "HaloRowsCore", frozen)]
pub struct PyHaloRows {
    inner: HaloRows,
}

impl PyHaloRows {
    /// Borrows the blocks, checks that they agree in shape, and runs `kernel` detached.
    fn run(
        &self,
        py: Python<'_>,
        x: &Bound<'_, PyArrayDyn<f32>>,
        halo: &Bound<'_, PyArrayDyn<f32>>,
        out: &Bound<'_, PyArrayDyn<f32>>,
        kernel: impl FnOnce(&HaloRows, &[f32], &[f32], usize, &mut [f32]) -> samarl_core::Result<()>
        + Send,
    ) -> PyResult<()> {
        let (xr, hr) = (readonly("x", x)?, readonly("halo", halo)?);
        let mut outw = readwrite("out", out)?;
        let cols = columns("x", xr.shape())?;
        if columns("halo", hr.shape())? != cols || hr.shape().len() != xr.shape().len() {
            return Err(ShapeError::new_err(format!(
                "halo: expected [{}] or [{}, {cols}] like x, got shape {:?}",
                self.inner.halo().len(),
                self.inner.halo().len(),
                hr.shape()
            )));
        }
        if outw.shape() != xr.shape() {
            return Err(ShapeError::new_err(format!(
                "out: expected the shape of x {:?}, got {:?}",
                xr.shape(),
                outw.shape()
            )));
        }
        let (xs, hs) = (slice("x", &xr)?, slice("halo", &hr)?);
        let os = slice_mut("out", &mut outw)?;
        let inner = &self.inner;
        detach(py, |_| kernel(inner, xs, hs, cols, os))
    }
}

#[pymethods]
impl PyHaloRows {
    /// The rows `rows` (int64 node ids, the consensus's caller order) of `consensus`'s W, with a
    /// halo of `hops` hops; `halo` (int64) orders the halo values, default by distance then id.
    #[new]
    #[pyo3(signature = (consensus, rows, *, hops = 1, halo = None))]
    fn new(
        py: Python<'_>,
        consensus: &PyConsensus,
        rows: &Bound<'_, PyArray1<i64>>,
        hops: usize,
        halo: Option<&Bound<'_, PyArray1<i64>>>,
    ) -> PyResult<Self> {
        let rows = to_u32("rows", rows)?;
        let halo = halo.map(|h| to_u32("halo", h)).transpose()?;
        let mixer = &consensus.inner;
        let inner = detach(py, |_| mixer.halo_rows(&rows, halo.as_deref(), hops))?;
        Ok(Self { inner })
    }

    /// Nodes of the whole graph.
    #[getter]
    fn num_nodes(&self) -> usize {
        self.inner.num_nodes()
    }

    /// Hops of the halo: the most rounds one call runs.
    #[getter]
    fn hops(&self) -> usize {
        self.inner.hops()
    }

    /// The part's nodes, in row order (int64).
    fn rows<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        ids(py, self.inner.rows())
    }

    /// The halo's nodes, in the order of the halo values the kernels take (int64).
    fn halo<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        ids(py, self.inner.halo())
    }

    /// `rounds` rounds of `x <- W x` on the part's rows `x` (float32 `[rows]` or `[rows, m]`)
    /// with the halo's values `halo` (`[halo]` or `[halo, m]`), written into `out` (x's shape).
    #[pyo3(signature = (x, halo, out, *, rounds))]
    fn mix(
        &self,
        py: Python<'_>,
        x: &Bound<'_, PyArrayDyn<f32>>,
        halo: &Bound<'_, PyArrayDyn<f32>>,
        out: &Bound<'_, PyArrayDyn<f32>>,
        rounds: usize,
    ) -> PyResult<()> {
        self.run(py, x, halo, out, |inner, x, h, cols, out| {
            inner.mix(x, h, cols, rounds, out)
        })
    }

    /// Like `mix`, over links that fail as `ConsensusCore.mix_lossy`'s do (`round_offset`
    /// counts the rounds of the whole run).
    #[pyo3(signature = (x, halo, out, *, rounds, drop_prob, seed, round_offset = 0))]
    #[allow(clippy::too_many_arguments)]
    fn mix_lossy(
        &self,
        py: Python<'_>,
        x: &Bound<'_, PyArrayDyn<f32>>,
        halo: &Bound<'_, PyArrayDyn<f32>>,
        out: &Bound<'_, PyArrayDyn<f32>>,
        rounds: usize,
        drop_prob: f32,
        seed: u64,
        round_offset: u64,
    ) -> PyResult<()> {
        let links = LinkFailures {
            drop_prob,
            seed,
            round_offset,
        };
        self.run(py, x, halo, out, |inner, x, h, cols, out| {
            inner.mix_lossy(x, h, cols, rounds, links, out)
        })
    }

    /// The part's rows of W as CSR `(indptr, indices, data)` (int64, int64, float32), `[rows,
    /// rows + halo]`: each row diagonal first, then the neighbours in the order they are summed.
    fn to_csr<'py>(&self, py: Python<'py>) -> CsrArrays<'py> {
        csr_to_py(py, self.inner.to_csr())
    }

    /// The arrays `from_parts` rebuilds these rows from (for another process: no graph needed).
    fn to_parts<'py>(&self, py: Python<'py>) -> Parts<'py> {
        let p = self.inner.to_parts();
        (
            p.num_nodes,
            ids(py, &p.rows),
            ids(py, &p.halo),
            ids(py, &p.halo_from),
            offsets(py, &p.level_end),
            offsets(py, &p.indptr),
            ids(py, &p.cols),
            PyArray1::from_vec(py, p.data),
            PyArray1::from_vec(py, p.keys),
            PyArray1::from_vec(py, p.diag),
        )
    }

    /// Rebuilds the rows from `to_parts`' arrays, checking that they fit together.
    #[staticmethod]
    #[allow(clippy::too_many_arguments)]
    fn from_parts(
        num_nodes: usize,
        rows: &Bound<'_, PyArray1<i64>>,
        halo: &Bound<'_, PyArray1<i64>>,
        halo_from: &Bound<'_, PyArray1<i64>>,
        level_end: &Bound<'_, PyArray1<i64>>,
        indptr: &Bound<'_, PyArray1<i64>>,
        cols: &Bound<'_, PyArray1<i64>>,
        data: &Bound<'_, PyArray1<f32>>,
        keys: &Bound<'_, PyArray1<u64>>,
        diag: &Bound<'_, PyArray1<f32>>,
    ) -> PyResult<Self> {
        let parts = HaloRowsParts {
            num_nodes,
            rows: to_u32("rows", rows)?,
            halo: to_u32("halo", halo)?,
            halo_from: to_u32("halo_from", halo_from)?,
            level_end: to_usize("level_end", level_end)?,
            indptr: to_usize("indptr", indptr)?,
            cols: to_u32("cols", cols)?,
            data: to_vec("data", data)?,
            keys: to_vec("keys", keys)?,
            diag: to_vec("diag", diag)?,
        };
        Ok(Self {
            inner: to_py(HaloRows::from_parts(parts))?,
        })
    }
}
