//! `DemandResponseCore`: the batched demand-response dynamics of samarl-core.

use numpy::{
    PyArray1, PyReadonlyArray1, PyReadonlyArray2, PyReadwriteArray1, PyReadwriteArray2,
    PyUntypedArrayMethods,
};
use pyo3::prelude::*;
use samarl_core::env::{AgentParams, DemandResponse, DynamicsConfig, OBS_DIM, StepOutputs};

use crate::arrays::{slice, slice_mut, to_u32};
use crate::errors::to_py;

/// Batched demand-response dynamics for N agents (structure of arrays, float32).
///
/// Low level: outputs go into caller-owned buffers so a training loop allocates nothing per step.
/// Use `samarl.envs.Dynamics` for a validated, allocating front end.
#[pyclass(module = "samarl._core", name = "DemandResponseCore")]
pub struct PyDemandResponse {
    inner: DemandResponse,
}

#[pymethods]
impl PyDemandResponse {
    #[new]
    #[pyo3(signature = (*, mean_arrival, max_power, cost_linear, cost_quadratic, profile_id,
                        profiles, dt_hours = 0.25, noise = 0.3))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        mean_arrival: PyReadonlyArray1<'_, f32>,
        max_power: PyReadonlyArray1<'_, f32>,
        cost_linear: PyReadonlyArray1<'_, f32>,
        cost_quadratic: PyReadonlyArray1<'_, f32>,
        profile_id: PyReadonlyArray1<'_, i64>,
        profiles: PyReadonlyArray2<'_, f32>,
        dt_hours: f32,
        noise: f32,
    ) -> PyResult<Self> {
        let steps_per_day = profiles.shape()[1];
        let params = AgentParams {
            mean_arrival: slice("mean_arrival", &mean_arrival)?.to_vec(),
            max_power: slice("max_power", &max_power)?.to_vec(),
            cost_linear: slice("cost_linear", &cost_linear)?.to_vec(),
            cost_quadratic: slice("cost_quadratic", &cost_quadratic)?.to_vec(),
            profile_id: to_u32("profile_id", slice("profile_id", &profile_id)?)?,
        };
        let config = DynamicsConfig {
            dt_hours,
            steps_per_day,
            noise,
            profiles: slice("profiles", &profiles)?.to_vec(),
        };
        Ok(Self {
            inner: to_py(DemandResponse::new(params, config))?,
        })
    }

    /// Number of agents N.
    #[getter]
    fn num_agents(&self) -> usize {
        self.inner.num_agents()
    }

    /// Steps in one day S.
    #[getter]
    fn steps_per_day(&self) -> usize {
        self.inner.steps_per_day()
    }

    /// Step length in hours.
    #[getter]
    fn dt_hours(&self) -> f32 {
        self.inner.dt_hours()
    }

    /// Number of observation features per agent.
    #[classattr]
    fn obs_dim() -> usize {
        OBS_DIM
    }

    /// Steps taken since the last reset.
    #[getter]
    fn step_count(&self) -> u64 {
        self.inner.step_count()
    }

    /// The seed of the current episode's arrivals.
    #[getter]
    fn seed(&self) -> u64 {
        self.inner.seed()
    }

    /// Starts an episode: step count 0, backlog `initial_backlog` (default zeros); writes `obs`.
    #[pyo3(signature = (seed, obs, initial_backlog = None))]
    fn reset(
        &mut self,
        py: Python<'_>,
        seed: u64,
        mut obs: PyReadwriteArray2<'_, f32>,
        initial_backlog: Option<PyReadonlyArray1<'_, f32>>,
    ) -> PyResult<()> {
        let obs = slice_mut("obs", &mut obs)?;
        let backlog = match &initial_backlog {
            Some(b) => Some(slice("initial_backlog", b)?),
            None => None,
        };
        let inner = &mut self.inner;
        to_py(py.detach(|| inner.reset(seed, backlog, obs)))
    }

    /// Advances every agent one step with `actions` (fraction of max power, clipped to [0, 1]),
    /// writing into the caller's buffers. On error the state is unchanged.
    #[allow(clippy::too_many_arguments)]
    fn step(
        &mut self,
        py: Python<'_>,
        actions: PyReadonlyArray1<'_, f32>,
        mut obs: PyReadwriteArray2<'_, f32>,
        mut reward: PyReadwriteArray1<'_, f32>,
        mut resource_use: PyReadwriteArray1<'_, f32>,
        mut served: PyReadwriteArray1<'_, f32>,
        mut arrived: PyReadwriteArray1<'_, f32>,
    ) -> PyResult<()> {
        let actions = slice("actions", &actions)?;
        let out = StepOutputs {
            obs: slice_mut("obs", &mut obs)?,
            reward: slice_mut("reward", &mut reward)?,
            resource_use: slice_mut("resource_use", &mut resource_use)?,
            served: slice_mut("served", &mut served)?,
            arrived: slice_mut("arrived", &mut arrived)?,
        };
        let inner = &mut self.inner;
        to_py(py.detach(|| inner.step(actions, out)))
    }

    /// Writes the current observation into `obs`.
    fn observe(&self, mut obs: PyReadwriteArray2<'_, f32>) -> PyResult<()> {
        to_py(self.inner.observe(slice_mut("obs", &mut obs)?))
    }

    /// The backlog of every agent (kWh), copied.
    fn backlog<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f32>> {
        PyArray1::from_slice(py, self.inner.backlog())
    }

    /// The state needed to resume exactly: `(seed, step_count, backlog, last_arrival)`.
    #[allow(clippy::type_complexity)]
    fn get_state<'py>(
        &self,
        py: Python<'py>,
    ) -> (
        u64,
        u64,
        Bound<'py, PyArray1<f32>>,
        Bound<'py, PyArray1<f32>>,
    ) {
        (
            self.inner.seed(),
            self.inner.step_count(),
            PyArray1::from_slice(py, self.inner.backlog()),
            PyArray1::from_slice(py, self.inner.last_arrival()),
        )
    }

    /// Restores a state returned by `get_state`.
    fn set_state(
        &mut self,
        seed: u64,
        step_count: u64,
        backlog: PyReadonlyArray1<'_, f32>,
        last_arrival: PyReadonlyArray1<'_, f32>,
    ) -> PyResult<()> {
        to_py(self.inner.set_state(
            seed,
            step_count,
            slice("backlog", &backlog)?,
            slice("last_arrival", &last_arrival)?,
        ))
    }
}
