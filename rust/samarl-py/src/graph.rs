//! `GraphCore`: undirected communication graphs in CSR form.

use numpy::{PyArray1, PyArray2, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::prelude::*;
use samarl_core::graph::Graph;
use samarl_core::memory::{self, Request};

use crate::arrays::{readonly, slice, to_u32, to_usize};
use crate::detach::detach;
use crate::errors::{ShapeError, to_py};

fn usize_to_i64(xs: impl IntoIterator<Item = usize>) -> Vec<i64> {
    xs.into_iter().map(|x| x as i64).collect()
}

/// An undirected simple graph (symmetric CSR, sorted neighbours, no self loops). Immutable.
#[pyclass(module = "samarl._core", name = "GraphCore", frozen)]
pub struct PyGraph {
    pub(crate) inner: Graph,
}

impl From<Graph> for PyGraph {
    fn from(inner: Graph) -> Self {
        Self { inner }
    }
}

#[pymethods]
impl PyGraph {
    /// Graph on `num_nodes` nodes from an `[E, 2]` int64 edge list (self loops and duplicates dropped).
    #[staticmethod]
    fn from_edges(
        py: Python<'_>,
        num_nodes: usize,
        edges: &Bound<'_, PyArray2<i64>>,
    ) -> PyResult<Self> {
        if edges.shape()[1] != 2 {
            return Err(ShapeError::new_err(format!(
                "edges: expected shape [E, 2], got {:?}",
                edges.shape()
            )));
        }
        let flat = to_u32("edges", edges)?;
        let mut pairs = to_py(memory::with_capacity(
            Request::new("edges", flat.len() / 2, "edges"),
            flat.len() / 2,
        ))?;
        pairs.extend(flat.chunks_exact(2).map(|p| (p[0], p[1])));
        drop(flat);
        detach(py, |_| Graph::from_edges(num_nodes, &pairs)).map(Self::from)
    }

    /// Graph from a symmetric CSR pattern (`indptr`, `indices`, int64); the diagonal is dropped.
    #[staticmethod]
    fn from_csr(
        py: Python<'_>,
        num_nodes: usize,
        indptr: &Bound<'_, PyArray1<i64>>,
        indices: &Bound<'_, PyArray1<i64>>,
    ) -> PyResult<Self> {
        let indptr = to_usize("indptr", indptr)?;
        let indices = to_u32("indices", indices)?;
        detach(py, |_| Graph::from_csr(num_nodes, &indptr, &indices)).map(Self::from)
    }

    /// Ring where node i links to i±1 … i±k.
    #[staticmethod]
    fn ring(py: Python<'_>, num_nodes: usize, k: usize) -> PyResult<Self> {
        detach(py, |_| Graph::ring(num_nodes, k)).map(Self::from)
    }

    /// 4-neighbour lattice with `rows * cols` nodes (node = r * cols + c).
    #[staticmethod]
    fn grid_2d(py: Python<'_>, rows: usize, cols: usize) -> PyResult<Self> {
        detach(py, |_| Graph::grid_2d(rows, cols)).map(Self::from)
    }

    /// Complete graph (small N only).
    #[staticmethod]
    fn complete(py: Python<'_>, num_nodes: usize) -> PyResult<Self> {
        detach(py, |_| Graph::complete(num_nodes)).map(Self::from)
    }

    /// Erdős–Rényi G(n, p) with `p = mean_degree / (n - 1)`; `connected` adds a random Hamiltonian cycle.
    #[staticmethod]
    fn erdos_renyi(
        py: Python<'_>,
        num_nodes: usize,
        mean_degree: f64,
        seed: u64,
        connected: bool,
    ) -> PyResult<Self> {
        detach(py, |_| {
            Graph::erdos_renyi(num_nodes, mean_degree, seed, connected)
        })
        .map(Self::from)
    }

    /// `num_nodes` points uniform in the unit square, `[n, 2]` float32 (the points of `random_geometric`).
    #[staticmethod]
    fn random_points(
        py: Python<'_>,
        num_nodes: usize,
        seed: u64,
    ) -> PyResult<Bound<'_, PyArray2<f32>>> {
        let pts = detach(py, |_| Graph::random_points(num_nodes, seed))?;
        PyArray1::from_vec(py, pts).reshape([num_nodes, 2])
    }

    /// Links every pair of points (`[n, 2]` float32) within euclidean distance `radius`.
    #[staticmethod]
    fn geometric_from_points(
        py: Python<'_>,
        points: &Bound<'_, PyArray2<f32>>,
        radius: f64,
    ) -> PyResult<Self> {
        let points = readonly("points", points)?;
        if points.shape()[1] != 2 {
            return Err(ShapeError::new_err(format!(
                "points: expected shape [n, 2], got {:?}",
                points.shape()
            )));
        }
        let pts = slice("points", &points)?;
        detach(py, |_| Graph::geometric_from_points(pts, radius)).map(Self::from)
    }

    /// Random geometric graph: `random_points(n, seed)` linked within `radius`.
    #[staticmethod]
    fn random_geometric(
        py: Python<'_>,
        num_nodes: usize,
        radius: f64,
        seed: u64,
    ) -> PyResult<Self> {
        detach(py, |_| Graph::random_geometric(num_nodes, radius, seed)).map(Self::from)
    }

    /// Watts–Strogatz small world: ring(n, k) with each edge rewired with probability `beta`.
    #[staticmethod]
    fn watts_strogatz(
        py: Python<'_>,
        num_nodes: usize,
        k: usize,
        beta: f64,
        seed: u64,
    ) -> PyResult<Self> {
        detach(py, |_| Graph::watts_strogatz(num_nodes, k, beta, seed)).map(Self::from)
    }

    /// Number of nodes.
    #[getter]
    fn num_nodes(&self) -> usize {
        self.inner.num_nodes()
    }

    /// Number of undirected edges.
    #[getter]
    fn num_edges(&self) -> usize {
        self.inner.num_edges()
    }

    /// CSR row pointer (int64, length n + 1).
    fn indptr<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        PyArray1::from_vec(py, usize_to_i64(self.inner.indptr().iter().copied()))
    }

    /// CSR column indices (int64, sorted within each row).
    fn indices<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        PyArray1::from_vec(
            py,
            self.inner.indices().iter().map(|&i| i64::from(i)).collect(),
        )
    }

    /// Degree of every node (int64).
    fn degrees<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        PyArray1::from_vec(
            py,
            self.inner.degrees().into_iter().map(i64::from).collect(),
        )
    }

    /// `(count, labels)`: the connected components, labels numbered in order of their smallest node.
    fn component_labels<'py>(&self, py: Python<'py>) -> (usize, Bound<'py, PyArray1<i64>>) {
        let (count, labels) = py.detach(|| self.inner.component_labels());
        (
            count,
            PyArray1::from_vec(py, labels.into_iter().map(i64::from).collect()),
        )
    }

    /// Whether the graph is connected.
    fn is_connected(&self, py: Python<'_>) -> bool {
        py.detach(|| self.inner.is_connected())
    }

    /// Reverse Cuthill–McKee order: `order[new] = old`.
    fn rcm_order<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        let order = py.detach(|| self.inner.rcm_order());
        PyArray1::from_vec(py, order.into_iter().map(i64::from).collect())
    }

    /// The graph relabelled so that new node i is old node `order[i]`.
    fn permuted(&self, py: Python<'_>, order: &Bound<'_, PyArray1<i64>>) -> PyResult<Self> {
        let order = to_u32("order", order)?;
        detach(py, |_| self.inner.permuted(&order)).map(Self::from)
    }

    /// Largest |i - j| over the edges.
    fn bandwidth(&self) -> usize {
        self.inner.bandwidth()
    }
}
