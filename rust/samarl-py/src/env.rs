//! `DemandResponseCore`: the batched demand-response dynamics of samarl-core.

use numpy::{PyArray1, PyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use samarl_core::CoreError;
use samarl_core::env::{
    AgentIds, AgentParams, DemandResponse, DynamicsConfig, OBS_DIM, StepOutputs,
};

use crate::arrays::{readonly, readwrite, slice, slice_mut, to_u32, to_vec};
use crate::detach::detach;
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
                        profiles, dt_hours = 0.25, noise = 0.3, first_agent = 0,
                        agent_ids = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        mean_arrival: &Bound<'_, PyArray1<f32>>,
        max_power: &Bound<'_, PyArray1<f32>>,
        cost_linear: &Bound<'_, PyArray1<f32>>,
        cost_quadratic: &Bound<'_, PyArray1<f32>>,
        profile_id: &Bound<'_, PyArray1<i64>>,
        profiles: &Bound<'_, PyArray2<f32>>,
        dt_hours: f32,
        noise: f32,
        first_agent: u64,
        agent_ids: Option<&Bound<'_, PyArray1<u64>>>,
    ) -> PyResult<Self> {
        let steps_per_day = profiles.shape()[1];
        let params = AgentParams {
            mean_arrival: to_vec("mean_arrival", mean_arrival)?,
            max_power: to_vec("max_power", max_power)?,
            cost_linear: to_vec("cost_linear", cost_linear)?,
            cost_quadratic: to_vec("cost_quadratic", cost_quadratic)?,
            profile_id: to_u32("profile_id", profile_id)?,
        };
        let config = DynamicsConfig {
            dt_hours,
            steps_per_day,
            noise,
            profiles: to_vec("profiles", profiles)?,
            agents: match agent_ids {
                None => AgentIds::Range { first: first_agent },
                Some(_) if first_agent != 0 => {
                    return to_py(Err(CoreError::invalid(
                        "first_agent",
                        "give first_agent or agent_ids, not both",
                    )));
                }
                Some(ids) => AgentIds::List(to_vec("agent_ids", ids)?),
            },
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

    /// Agent id of row 0 when the rows are agents `first_agent + i`; None for listed ids.
    #[getter]
    fn first_agent(&self) -> Option<u64> {
        match self.inner.config().agents {
            AgentIds::Range { first } => Some(first),
            AgentIds::List(_) => None,
        }
    }

    /// The agent id of every row (row `i` draws agent `agent_ids()[i]`'s arrivals), copied.
    fn agent_ids<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<u64>> {
        let agents = &self.inner.config().agents;
        PyArray1::from_iter(py, (0..self.inner.num_agents()).map(|i| agents.id(i)))
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
        obs: &Bound<'_, PyArray2<f32>>,
        initial_backlog: Option<&Bound<'_, PyArray1<f32>>>,
    ) -> PyResult<()> {
        let mut obs = readwrite("obs", obs)?;
        let initial_backlog = match initial_backlog {
            Some(b) => Some(readonly("initial_backlog", b)?),
            None => None,
        };
        let obs = slice_mut("obs", &mut obs)?;
        let backlog = match &initial_backlog {
            Some(b) => Some(slice("initial_backlog", b)?),
            None => None,
        };
        let inner = &mut self.inner;
        detach(py, |_| inner.reset(seed, backlog, obs))
    }

    /// Advances every agent one step with `actions` (fraction of max power, clipped to [0, 1]),
    /// writing into the caller's buffers. On error the state is unchanged.
    #[allow(clippy::too_many_arguments)]
    fn step(
        &mut self,
        py: Python<'_>,
        actions: &Bound<'_, PyArray1<f32>>,
        obs: &Bound<'_, PyArray2<f32>>,
        reward: &Bound<'_, PyArray1<f32>>,
        resource_use: &Bound<'_, PyArray1<f32>>,
        served: &Bound<'_, PyArray1<f32>>,
        arrived: &Bound<'_, PyArray1<f32>>,
    ) -> PyResult<()> {
        let actions = readonly("actions", actions)?;
        let mut obs = readwrite("obs", obs)?;
        let mut reward = readwrite("reward", reward)?;
        let mut resource_use = readwrite("resource_use", resource_use)?;
        let mut served = readwrite("served", served)?;
        let mut arrived = readwrite("arrived", arrived)?;
        let actions = slice("actions", &actions)?;
        let out = StepOutputs {
            obs: slice_mut("obs", &mut obs)?,
            reward: slice_mut("reward", &mut reward)?,
            resource_use: slice_mut("resource_use", &mut resource_use)?,
            served: slice_mut("served", &mut served)?,
            arrived: slice_mut("arrived", &mut arrived)?,
        };
        let inner = &mut self.inner;
        detach(py, |_| inner.step(actions, out))
    }

    /// Writes the current observation into `obs`.
    fn observe(&self, obs: &Bound<'_, PyArray2<f32>>) -> PyResult<()> {
        to_py(
            self.inner
                .observe(slice_mut("obs", &mut readwrite("obs", obs)?)?),
        )
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
        backlog: &Bound<'_, PyArray1<f32>>,
        last_arrival: &Bound<'_, PyArray1<f32>>,
    ) -> PyResult<()> {
        to_py(self.inner.set_state(
            seed,
            step_count,
            slice("backlog", &readonly("backlog", backlog)?)?,
            slice("last_arrival", &readonly("last_arrival", last_arrival)?)?,
        ))
    }
}
