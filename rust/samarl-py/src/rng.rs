//! Batched draws of the counter-based streams (`samarl_core::streams`): uint64 counters in, new
//! arrays out. `samarl.rng` validates and broadcasts the arguments.

use numpy::PyArray1;
use pyo3::prelude::*;
use samarl_core::memory::{self, Request};
use samarl_core::streams::{self, Counters};

use crate::arrays::{readonly, slice};
use crate::detach::detach;

/// A float64 array moved out to Python.
type F64Array<'py> = Bound<'py, PyArray1<f64>>;

/// Borrows the counters (`Grid` or `Pairs`) and runs `draw` on them with the GIL released.
fn with_counters<'py, R: Send>(
    py: Python<'py>,
    agents: &Bound<'py, PyArray1<u64>>,
    steps: &Bound<'py, PyArray1<u64>>,
    grid: bool,
    draw: impl FnOnce(Counters<'_>) -> samarl_core::Result<R> + Send,
) -> PyResult<R> {
    let (a, t) = (readonly("agents", agents)?, readonly("steps", steps)?);
    let (agents, steps) = (slice("agents", &a)?, slice("steps", &t)?);
    let counters = if grid {
        Counters::Grid { agents, steps }
    } else {
        Counters::Pairs { agents, steps }
    };
    detach(py, |_| draw(counters))
}

/// A zeroed buffer for the batch's values, reserved fallibly.
fn buffer<T: Clone + Default>(counters: &Counters<'_>) -> samarl_core::Result<Vec<T>> {
    let len = counters.num_values()?;
    memory::filled(Request::new("out", len, "values"), len, T::default())
}

/// `uniform_f32(seed, stream, agent, step)` for every counter, as a new float32 array: with
/// `grid`, value `i * len(steps) + j` is `(agents[i], steps[j])`; otherwise value `k` is
/// `(agents[k], steps[k])`.
#[pyfunction]
#[pyo3(signature = (seed, stream, agents, steps, *, grid))]
pub fn uniform_f32<'py>(
    py: Python<'py>,
    seed: u64,
    stream: u64,
    agents: &Bound<'py, PyArray1<u64>>,
    steps: &Bound<'py, PyArray1<u64>>,
    grid: bool,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    let out = with_counters(py, agents, steps, grid, |c| {
        let mut out = buffer(&c)?;
        streams::uniform_f32(seed, stream, c, &mut out).map(|()| out)
    })?;
    Ok(PyArray1::from_vec(py, out))
}

/// `uniform_f64(seed, stream, agent, step)` for every counter, as a new float64 array (counters
/// as in `uniform_f32`).
#[pyfunction]
#[pyo3(signature = (seed, stream, agents, steps, *, grid))]
pub fn uniform_f64<'py>(
    py: Python<'py>,
    seed: u64,
    stream: u64,
    agents: &Bound<'py, PyArray1<u64>>,
    steps: &Bound<'py, PyArray1<u64>>,
    grid: bool,
) -> PyResult<F64Array<'py>> {
    let out = with_counters(py, agents, steps, grid, |c| {
        let mut out = buffer(&c)?;
        streams::uniform_f64(seed, stream, c, &mut out).map(|()| out)
    })?;
    Ok(PyArray1::from_vec(py, out))
}

/// The Box–Muller halves `(u1, cos(2 pi u2))` of the normal of every counter (counters as in
/// `uniform_f32`): the normal is `sqrt(-2 log(u1)) * cos(2 pi u2)`, with NumPy's logarithm.
#[pyfunction]
#[pyo3(signature = (seed, stream, agents, steps, *, grid))]
pub fn box_muller_f64<'py>(
    py: Python<'py>,
    seed: u64,
    stream: u64,
    agents: &Bound<'py, PyArray1<u64>>,
    steps: &Bound<'py, PyArray1<u64>>,
    grid: bool,
) -> PyResult<(F64Array<'py>, F64Array<'py>)> {
    let (u1, cosine) = with_counters(py, agents, steps, grid, |c| {
        let (mut u1, mut cosine) = (buffer(&c)?, buffer(&c)?);
        streams::box_muller(seed, stream, c, &mut u1, &mut cosine).map(|()| (u1, cosine))
    })?;
    Ok((PyArray1::from_vec(py, u1), PyArray1::from_vec(py, cosine)))
}
