//! Deferrable-demand dynamics for N agents at once (`docs/environment.md`, `docs/engine.md`).
//!
//! Agent `n` holds a backlog `q` (kWh not yet served). Each step of `dt_hours`, energy `d` arrives
//! around `mu * phi_p(tod)` (a daily profile `p` scaled by the agent's mean), the agent draws a
//! fraction `a` of its maximum power `pmax`, and pays a waiting cost on what is left:
//!
//! ```text
//! d   = (mu * phi) * ((1 - noise) + (2 * noise) * u)     u = rng::uniform_f32(seed, ARRIVALS, n, t)
//! e   = min((clamp(a, 0, 1) * pmax) * dt, q + d)          energy served (kWh)
//! q'  = max((q + d) - e, 0)                               new backlog (kWh)
//! g   = e / dt                                            resource use: power drawn (kW)
//! r   = -((cl * q') + ((cq * q') * q'))                   reward
//! ```
//!
//! All arithmetic is `f32`, in exactly this order, so the NumPy reference (`samarl.reference.env`)
//! reproduces it to within rounding. Arrivals come from a counter-based generator keyed by
//! `(seed, agent, step)`, so a trajectory depends on the seed only — not on the number of threads.
//!
//! State is structure of arrays (one `Vec` per quantity) and a step is one pass over the agents,
//! split into fixed [`pool::CHUNK`]-row chunks when large.
//!
//! ```
//! use samarl_core::env::{AgentIds, AgentParams, DemandResponse, DynamicsConfig, StepOutputs, OBS_DIM};
//!
//! let n = 3;
//! let params = AgentParams {
//!     mean_arrival: vec![1.0; n],
//!     max_power: vec![4.0; n],
//!     cost_linear: vec![1.0; n],
//!     cost_quadratic: vec![0.1; n],
//!     profile_id: vec![0; n],
//! };
//! let config = DynamicsConfig {
//!     dt_hours: 0.25, steps_per_day: 96, noise: 0.2, profiles: vec![1.0; 96],
//!     agents: AgentIds::default(),
//! };
//! let mut env = DemandResponse::new(params, config)?;
//! let mut obs = vec![0.0; n * OBS_DIM];
//! env.reset(42, None, &mut obs)?;
//! let (mut reward, mut used, mut served, mut arrived) = (vec![0.0; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]);
//! env.step(&[0.5, 1.0, 0.0], StepOutputs {
//!     obs: &mut obs, reward: &mut reward, resource_use: &mut used, served: &mut served, arrived: &mut arrived,
//! })?;
//! assert_eq!(env.step_count(), 1);
//! # Ok::<(), samarl_core::CoreError>(())
//! ```

use super::OBS_DIM;
use crate::error::{CoreError, Result, check_finite, check_len, check_nonnegative};
use crate::memory::{self, Request};
use crate::pool::{self, CHUNK};
use crate::rng::{STREAM_ARRIVALS, uniform_f32};

/// Per-agent parameters, structure of arrays: every field has one entry per agent (length N).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AgentParams {
    /// `mu`: mean arrivals per step at profile value 1 (kWh), `>= 0`.
    pub mean_arrival: Vec<f32>,
    /// `pmax`: maximum power (kW), `>= 0`.
    pub max_power: Vec<f32>,
    /// Waiting-cost weight on the backlog (per kWh), `>= 0`.
    pub cost_linear: Vec<f32>,
    /// Waiting-cost weight on the squared backlog (per kWh^2), `>= 0`.
    pub cost_quadratic: Vec<f32>,
    /// Which row of [`DynamicsConfig::profiles`] drives this agent, `< num_profiles`.
    pub profile_id: Vec<u32>,
}

/// Dynamics shared by all agents: step length, day length, arrival noise and daily profiles.
#[derive(Debug, Clone, PartialEq)]
pub struct DynamicsConfig {
    /// Step length in hours, `> 0` (usually 0.25: 15-minute steps).
    pub dt_hours: f32,
    /// Steps per simulated day `S`, `> 0` (usually 96).
    pub steps_per_day: usize,
    /// Arrival noise in `[0, 1]`: arrivals are uniform on `mu * phi * [1 - noise, 1 + noise]`.
    pub noise: f32,
    /// Daily profiles `phi_p(tod)`, row-major `[num_profiles, steps_per_day]`, finite and `>= 0`.
    pub profiles: Vec<f32>,
    /// Which agents' arrivals the rows draw (usually agents `0..N`): an env over some agents of
    /// a population, numbered by their ids there, reproduces those rows of the env over all of
    /// them (as a part of a distributed run needs).
    pub agents: AgentIds,
}

/// The global agent ids of an env's rows: row `i` draws the arrivals of agent `id(i)`, keyed by
/// `(seed, id, step)`, whatever the other rows are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentIds {
    /// Row `i` is agent `first + i` (`first + N` must not exceed `u64::MAX`).
    Range {
        /// Id of row 0.
        first: u64,
    },
    /// Row `i` is agent `ids[i]`: any ids, one per row (scattered, unsorted or repeated).
    List(Vec<u64>),
}

impl Default for AgentIds {
    /// Agents `0..N`.
    fn default() -> Self {
        Self::Range { first: 0 }
    }
}

impl AgentIds {
    /// The id of row `row`.
    #[inline]
    #[must_use]
    pub fn id(&self, row: usize) -> u64 {
        match self {
            Self::Range { first } => first + row as u64,
            Self::List(ids) => ids[row],
        }
    }

    /// Checks the ids against `n` rows: a list of another length is a [`CoreError::Shape`] named
    /// `agent_ids`; a range past `u64::MAX` a [`CoreError::InvalidValue`] named `first_agent`.
    fn check(&self, n: usize) -> Result<()> {
        match self {
            Self::Range { first } if first.checked_add(n as u64).is_none() => {
                Err(CoreError::invalid(
                    "first_agent",
                    format!(
                        "must be < 2**64 - num_agents = {}, got {first}",
                        u64::MAX - n as u64 + 1,
                    ),
                ))
            }
            Self::Range { .. } => Ok(()),
            Self::List(ids) => check_len("agent_ids", ids, n),
        }
    }
}

/// Caller-owned output buffers of [`DemandResponse::step`]: each has length N, except `obs`
/// (`N * OBS_DIM`, row-major). They are overwritten, never read.
#[derive(Debug)]
pub struct StepOutputs<'a> {
    /// Observation after the step, one row of [`OBS_DIM`] values per agent (see [`super::obs`]).
    pub obs: &'a mut [f32],
    /// Reward `-((cl * q') + ((cq * q') * q'))`.
    pub reward: &'a mut [f32],
    /// Resource use: power drawn during the step, `served / dt_hours` (kW).
    pub resource_use: &'a mut [f32],
    /// Energy served during the step (kWh).
    pub served: &'a mut [f32],
    /// Energy that arrived during the step (kWh).
    pub arrived: &'a mut [f32],
}

/// N demand-response agents advanced in lockstep.
///
/// Owns the parameters, the dynamics, the state (`backlog`, `last_arrival`, step count, seed) and
/// precomputed tables (time-of-day sine/cosine, profiles by time of day). A new env is in the
/// state `reset(0, None)` leaves it in.
#[derive(Debug, Clone)]
pub struct DemandResponse {
    params: AgentParams,
    config: DynamicsConfig,
    backlog: Vec<f32>,
    last_arrival: Vec<f32>,
    step: u64,
    seed: u64,
    num_profiles: usize,
    /// `sin(2 pi k / S)` for `k` in `0..S`, computed in `f64`.
    tod_sin: Vec<f32>,
    /// `cos(2 pi k / S)` for `k` in `0..S`, computed in `f64`.
    tod_cos: Vec<f32>,
    /// The profiles transposed to `[S, num_profiles]`, so one step reads one contiguous row.
    profiles_by_tod: Vec<f32>,
}

/// Everything one step needs that is the same for all agents.
struct StepConstants<'a> {
    seed: u64,
    /// The rows' agent ids ([`DynamicsConfig::agents`]).
    agents: &'a AgentIds,
    t: u64,
    /// `1 - noise`.
    lo: f32,
    /// `2 * noise`.
    span: f32,
    dt: f32,
    /// `phi_p(tod)` for every profile `p`.
    phi_now: &'a [f32],
    /// `phi_p(tod')` for every profile `p`.
    phi_next: &'a [f32],
    sin_next: f32,
    cos_next: f32,
}

/// Read-only per-agent inputs of a range of rows (all the same length).
struct RowInputs<'a> {
    actions: &'a [f32],
    mean_arrival: &'a [f32],
    max_power: &'a [f32],
    cost_linear: &'a [f32],
    cost_quadratic: &'a [f32],
    profile_id: &'a [u32],
}

/// Per-agent outputs and state of a range of rows (all length `rows`, `obs` `rows * OBS_DIM`).
struct RowOutputs<'a> {
    backlog: &'a mut [f32],
    last_arrival: &'a mut [f32],
    obs: &'a mut [f32],
    reward: &'a mut [f32],
    resource_use: &'a mut [f32],
    served: &'a mut [f32],
    arrived: &'a mut [f32],
}

/// Rows per inner tile of [`step_rows`]: small enough that a tile's rows of every array stay in L1
/// between the tile's three loops, large enough to amortise the loop overheads.
const TILE: usize = 256;

impl DemandResponse {
    /// Builds an env after validating every parameter (N > 0, lengths, ranges, profile ids). The
    /// state is that of `reset(0, None)`: zero backlog, zero last arrivals, step 0, seed 0.
    pub fn new(params: AgentParams, config: DynamicsConfig) -> Result<Self> {
        let n = params.mean_arrival.len();
        if n == 0 {
            return Err(CoreError::invalid(
                "num_agents",
                "must be > 0, got 0 agents",
            ));
        }
        check_len("max_power", &params.max_power, n)?;
        check_len("cost_linear", &params.cost_linear, n)?;
        check_len("cost_quadratic", &params.cost_quadratic, n)?;
        check_len("profile_id", &params.profile_id, n)?;
        check_nonnegative("mean_arrival", &params.mean_arrival)?;
        check_nonnegative("max_power", &params.max_power)?;
        check_nonnegative("cost_linear", &params.cost_linear)?;
        check_nonnegative("cost_quadratic", &params.cost_quadratic)?;

        let dt = config.dt_hours;
        if !(dt.is_finite() && dt > 0.0) {
            return Err(CoreError::invalid(
                "dt_hours",
                format!("must be finite and > 0, got {dt}"),
            ));
        }
        let s = config.steps_per_day;
        if s == 0 {
            return Err(CoreError::invalid("steps_per_day", "must be > 0, got 0"));
        }
        let noise = config.noise;
        if !(0.0..=1.0).contains(&noise) {
            return Err(CoreError::invalid(
                "noise",
                format!("must be in [0, 1], got {noise}"),
            ));
        }
        let len = config.profiles.len();
        if len == 0 || !len.is_multiple_of(s) {
            return Err(CoreError::shape(
                "profiles",
                format!(
                    "[num_profiles >= 1, steps_per_day = {s}] (a positive multiple of {s} elements)"
                ),
                format!("{len} elements"),
            ));
        }
        check_nonnegative("profiles", &config.profiles)?;
        config.agents.check(n)?;
        let num_profiles = len / s;
        if let Some(i) = params
            .profile_id
            .iter()
            .position(|&p| p as usize >= num_profiles)
        {
            return Err(CoreError::invalid(
                "profile_id",
                format!(
                    "must be < num_profiles = {num_profiles}, found {} at index {i}",
                    params.profile_id[i]
                ),
            ));
        }

        let angle = |k: usize| 2.0 * std::f64::consts::PI * k as f64 / s as f64;
        let tod_sin = (0..s).map(|k| angle(k).sin() as f32).collect();
        let tod_cos = (0..s).map(|k| angle(k).cos() as f32).collect();
        // The state (backlog, last arrivals) and the profiles by time of day.
        let request = Request::new("num_agents", n, "agents");
        memory::check(request, 8 * n as u64 + 4 * len as u64)?;
        let mut profiles_by_tod = memory::filled(request, len, 0.0)?;
        for (p, row) in config.profiles.chunks_exact(s).enumerate() {
            for (k, &v) in row.iter().enumerate() {
                profiles_by_tod[k * num_profiles + p] = v;
            }
        }

        Ok(Self {
            params,
            config,
            backlog: memory::filled(request, n, 0.0)?,
            last_arrival: memory::filled(request, n, 0.0)?,
            step: 0,
            seed: 0,
            num_profiles,
            tod_sin,
            tod_cos,
            profiles_by_tod,
        })
    }

    /// Number of agents N.
    #[must_use]
    pub fn num_agents(&self) -> usize {
        self.backlog.len()
    }

    /// Steps per simulated day `S`.
    #[must_use]
    pub fn steps_per_day(&self) -> usize {
        self.config.steps_per_day
    }

    /// Step length in hours.
    #[must_use]
    pub fn dt_hours(&self) -> f32 {
        self.config.dt_hours
    }

    /// Number of daily profiles (rows of [`DynamicsConfig::profiles`]).
    #[must_use]
    pub fn num_profiles(&self) -> usize {
        self.num_profiles
    }

    /// The per-agent parameters.
    #[must_use]
    pub fn params(&self) -> &AgentParams {
        &self.params
    }

    /// The shared dynamics.
    #[must_use]
    pub fn config(&self) -> &DynamicsConfig {
        &self.config
    }

    /// Backlog of every agent (kWh), length N.
    #[must_use]
    pub fn backlog(&self) -> &[f32] {
        &self.backlog
    }

    /// Arrivals of the last step for every agent (kWh), length N; zero after a reset.
    #[must_use]
    pub fn last_arrival(&self) -> &[f32] {
        &self.last_arrival
    }

    /// Steps taken since the last reset (the next step's counter `t`).
    #[must_use]
    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// Seed of the arrival draws, set by [`reset`](Self::reset) or [`set_state`](Self::set_state).
    #[must_use]
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Starts a new episode: step 0, the given seed, backlog `initial_backlog` (finite, `>= 0`,
    /// length N) or zeros, last arrivals zero. Writes the observation for time of day 0 into `obs`
    /// (`N * OBS_DIM`). On error nothing is changed.
    pub fn reset(
        &mut self,
        seed: u64,
        initial_backlog: Option<&[f32]>,
        obs: &mut [f32],
    ) -> Result<()> {
        let n = self.num_agents();
        check_len("obs", obs, n * OBS_DIM)?;
        if let Some(q0) = initial_backlog {
            check_len("initial_backlog", q0, n)?;
            check_nonnegative("initial_backlog", q0)?;
        }
        match initial_backlog {
            Some(q0) => self.backlog.copy_from_slice(q0),
            None => self.backlog.fill(0.0),
        }
        self.last_arrival.fill(0.0);
        self.step = 0;
        self.seed = seed;
        self.observe(obs)
    }

    /// Restores a checkpoint: seed, step count, backlog and last arrivals (each length N, finite and
    /// `>= 0`). A following [`step`](Self::step) continues exactly as the recorded run did. On error
    /// nothing is changed.
    pub fn set_state(
        &mut self,
        seed: u64,
        step: u64,
        backlog: &[f32],
        last_arrival: &[f32],
    ) -> Result<()> {
        let n = self.num_agents();
        check_len("backlog", backlog, n)?;
        check_len("last_arrival", last_arrival, n)?;
        check_nonnegative("backlog", backlog)?;
        check_nonnegative("last_arrival", last_arrival)?;
        self.backlog.copy_from_slice(backlog);
        self.last_arrival.copy_from_slice(last_arrival);
        self.step = step;
        self.seed = seed;
        Ok(())
    }

    /// Writes the current observation (for the coming step, time of day `step_count % S`) into
    /// `obs` (`N * OBS_DIM`, row-major); it equals what the last `reset` or `step` wrote.
    pub fn observe(&self, obs: &mut [f32]) -> Result<()> {
        let n = self.num_agents();
        check_len("obs", obs, n * OBS_DIM)?;
        let tod = self.tod(self.step);
        let phi = profile_row(&self.profiles_by_tod, self.num_profiles, tod);
        let last = phi.len() - 1;
        let (sin, cos) = (self.tod_sin[tod], self.tod_cos[tod]);
        let dt = self.config.dt_hours;
        let p = &self.params;
        let (q, d) = (&self.backlog, &self.last_arrival);
        pool::for_each_chunk(obs, OBS_DIM, |c, rows| {
            let start = c * CHUNK;
            let (rows, _) = rows.as_chunks_mut::<OBS_DIM>();
            let end = start + rows.len();
            let (mu, pmax, pid) = (
                &p.mean_arrival[start..end],
                &p.max_power[start..end],
                &p.profile_id[start..end],
            );
            let (q, d) = (&q[start..end], &d[start..end]);
            for (j, row) in rows.iter_mut().enumerate() {
                let mu = mu[j];
                let phi = phi[(pid[j] as usize).min(last)];
                *row = [q[j], d[j], sin, cos, mu * phi, pmax[j] * dt, mu];
            }
        });
        Ok(())
    }

    /// Advances every agent one step with `actions` (length N, finite; values outside `[0, 1]` are
    /// clipped) and writes the step's outputs and the next observation into `out`. Inputs are
    /// validated before any state changes, so on error the env is unchanged.
    pub fn step(&mut self, actions: &[f32], out: StepOutputs<'_>) -> Result<()> {
        let n = self.num_agents();
        check_len("actions", actions, n)?;
        check_len("obs", out.obs, n * OBS_DIM)?;
        check_len("reward", out.reward, n)?;
        check_len("resource_use", out.resource_use, n)?;
        check_len("served", out.served, n)?;
        check_len("arrived", out.arrived, n)?;
        check_finite("actions", actions)?;

        let t = self.step;
        let next = t.wrapping_add(1);
        let (tod, tod_next) = (self.tod(t), self.tod(next));
        let noise = self.config.noise;
        let k = StepConstants {
            seed: self.seed,
            agents: &self.config.agents,
            t,
            lo: 1.0 - noise,
            span: 2.0 * noise,
            dt: self.config.dt_hours,
            phi_now: profile_row(&self.profiles_by_tod, self.num_profiles, tod),
            phi_next: profile_row(&self.profiles_by_tod, self.num_profiles, tod_next),
            sin_next: self.tod_sin[tod_next],
            cos_next: self.tod_cos[tod_next],
        };
        let p = &self.params;
        let (backlog, last_arrival) = (&mut self.backlog, &mut self.last_arrival);
        pool::run(n, |parallel| {
            if parallel {
                use rayon::prelude::*;
                let params = (
                    p.mean_arrival.par_chunks(CHUNK),
                    p.max_power.par_chunks(CHUNK),
                    p.cost_linear.par_chunks(CHUNK),
                    p.cost_quadratic.par_chunks(CHUNK),
                    p.profile_id.par_chunks(CHUNK),
                );
                (
                    actions.par_chunks(CHUNK),
                    params,
                    backlog.par_chunks_mut(CHUNK),
                    last_arrival.par_chunks_mut(CHUNK),
                    out.obs.par_chunks_mut(CHUNK * OBS_DIM),
                    out.reward.par_chunks_mut(CHUNK),
                    out.resource_use.par_chunks_mut(CHUNK),
                    out.served.par_chunks_mut(CHUNK),
                    out.arrived.par_chunks_mut(CHUNK),
                )
                    .into_par_iter()
                    .enumerate()
                    .for_each(
                        |(c, (actions, (mu, pmax, cl, cq, pid), q, la, obs, r, g, e, d))| {
                            let inputs = RowInputs {
                                actions,
                                mean_arrival: mu,
                                max_power: pmax,
                                cost_linear: cl,
                                cost_quadratic: cq,
                                profile_id: pid,
                            };
                            let outputs = RowOutputs {
                                backlog: q,
                                last_arrival: la,
                                obs,
                                reward: r,
                                resource_use: g,
                                served: e,
                                arrived: d,
                            };
                            step_rows(&k, c * CHUNK, &inputs, outputs);
                        },
                    );
            } else {
                let inputs = RowInputs {
                    actions,
                    mean_arrival: &p.mean_arrival,
                    max_power: &p.max_power,
                    cost_linear: &p.cost_linear,
                    cost_quadratic: &p.cost_quadratic,
                    profile_id: &p.profile_id,
                };
                let outputs = RowOutputs {
                    backlog,
                    last_arrival,
                    obs: out.obs,
                    reward: out.reward,
                    resource_use: out.resource_use,
                    served: out.served,
                    arrived: out.arrived,
                };
                step_rows(&k, 0, &inputs, outputs);
            }
        });
        self.step = next;
        Ok(())
    }

    /// Time of day of step `t`.
    fn tod(&self, t: u64) -> usize {
        (t % self.config.steps_per_day as u64) as usize
    }
}

/// `phi_p(tod)` for every profile `p`: row `tod` of the `[S, num_profiles]` transposed profiles.
fn profile_row(profiles_by_tod: &[f32], num_profiles: usize, tod: usize) -> &[f32] {
    &profiles_by_tod[tod * num_profiles..(tod + 1) * num_profiles]
}

/// The arrivals of one tile of rows (row `j` is agent `agent(j)`), and their expected arrivals
/// at the next step.
#[inline]
fn tile_arrivals(
    k: &StepConstants<'_>,
    agent: impl Fn(usize) -> u64,
    pid: &[u32],
    mu: &[f32],
    arrived: &mut [f32],
    expected_next: &mut [f32],
) {
    let last = k.phi_now.len() - 1;
    let (phi_now, phi_next) = (&k.phi_now[..=last], &k.phi_next[..=last]);
    for j in 0..arrived.len() {
        let u = uniform_f32(k.seed, STREAM_ARRIVALS, agent(j), k.t);
        let p = (pid[j] as usize).min(last);
        arrived[j] = (mu[j] * phi_now[p]) * (k.lo + k.span * u);
        expected_next[j] = mu[j] * phi_next[p];
    }
}

/// The step for the rows `first..first + rows` (one pass over them, tile by tile). Every row is
/// independent of the others, so any partition into calls gives the same bits.
///
/// Each tile of [`TILE`] rows takes three short loops over data that stays in L1, so memory is still
/// streamed once: the arrivals (scalar: 64-bit mixing and the profile lookups, which vectorise
/// badly on baseline x86-64), the state update (straight-line `f32` with `min`/`max`, which
/// vectorises), and the observation rows (7 interleaved values per agent). Splitting them roughly
/// halved the time of a single fused loop that the compiler could not vectorise.
fn step_rows(k: &StepConstants<'_>, first: usize, inp: &RowInputs<'_>, out: RowOutputs<'_>) {
    let rows = inp.actions.len();
    let dt = k.dt;
    let (sin, cos) = (k.sin_next, k.cos_next);
    let (obs, _) = out.obs.as_chunks_mut::<OBS_DIM>();
    let mut expected_next = [0.0f32; TILE];
    let mut start = 0;
    while start < rows {
        let end = rows.min(start + TILE);
        let len = end - start;
        let actions = &inp.actions[start..end];
        let mu = &inp.mean_arrival[start..end];
        let pmax = &inp.max_power[start..end];
        let cl = &inp.cost_linear[start..end];
        let cq = &inp.cost_quadratic[start..end];
        let pid = &inp.profile_id[start..end];
        let backlog = &mut out.backlog[start..end];
        let last_arrival = &mut out.last_arrival[start..end];
        let reward = &mut out.reward[start..end];
        let resource_use = &mut out.resource_use[start..end];
        let served = &mut out.served[start..end];
        let arrived = &mut out.arrived[start..end];
        let obs = &mut obs[start..end];
        let expected_next = &mut expected_next[..len];

        // The ids' match outside the row loop: one loop each (the range's as it always was).
        match k.agents {
            AgentIds::Range { first: id0 } => {
                let agent0 = id0 + (first + start) as u64;
                tile_arrivals(k, |j| agent0 + j as u64, pid, mu, arrived, expected_next);
            }
            AgentIds::List(ids) => {
                let ids = &ids[first + start..first + end];
                tile_arrivals(k, |j| ids[j], pid, mu, arrived, expected_next);
            }
        }
        for j in 0..len {
            let d = arrived[j];
            let a = actions[j].clamp(0.0, 1.0);
            let avail = backlog[j] + d;
            let e = ((a * pmax[j]) * dt).min(avail);
            let q = (avail - e).max(0.0);
            backlog[j] = q;
            last_arrival[j] = d;
            reward[j] = -((cl[j] * q) + ((cq[j] * q) * q));
            resource_use[j] = e / dt;
            served[j] = e;
        }
        for j in 0..len {
            // Columns as named in `super::obs`.
            obs[j] = [
                backlog[j],
                arrived[j],
                sin,
                cos,
                expected_next[j],
                pmax[j] * dt,
                mu[j],
            ];
        }
        start = end;
    }
}

#[cfg(test)]
#[allow(
    clippy::float_cmp,
    reason = "the kernel is specified bit for bit; tests compare exactly"
)]
mod tests {
    use super::super::obs;
    use super::*;
    use proptest::prelude::*;

    /// Owned output buffers for N agents.
    struct Buffers {
        obs: Vec<f32>,
        reward: Vec<f32>,
        resource_use: Vec<f32>,
        served: Vec<f32>,
        arrived: Vec<f32>,
    }

    impl Buffers {
        fn new(n: usize) -> Self {
            Self {
                obs: vec![f32::NAN; n * OBS_DIM],
                reward: vec![f32::NAN; n],
                resource_use: vec![f32::NAN; n],
                served: vec![f32::NAN; n],
                arrived: vec![f32::NAN; n],
            }
        }

        fn out(&mut self) -> StepOutputs<'_> {
            StepOutputs {
                obs: &mut self.obs,
                reward: &mut self.reward,
                resource_use: &mut self.resource_use,
                served: &mut self.served,
                arrived: &mut self.arrived,
            }
        }

        /// Every value's bits, for exact comparisons (NaN-safe).
        fn bits(&self) -> Vec<u32> {
            [
                &self.obs,
                &self.reward,
                &self.resource_use,
                &self.served,
                &self.arrived,
            ]
            .iter()
            .flat_map(|v| v.iter().map(|x| x.to_bits()))
            .collect()
        }
    }

    /// A cheap deterministic value in `[0, 1)` for building heterogeneous test data.
    fn hash01(i: usize, salt: u64) -> f32 {
        crate::rng::uniform_f32(salt, 99, i as u64, 0)
    }

    /// Two profiles with morning and evening peaks.
    fn two_profiles(s: usize) -> Vec<f32> {
        let mut v = Vec::with_capacity(2 * s);
        for p in 0..2 {
            for k in 0..s {
                let h = 24.0 * k as f32 / s as f32;
                let peak = |c: f32, w: f32| (-((h - c) / w).powi(2)).exp();
                v.push(0.3 + peak(8.0 + p as f32, 1.5) + 1.2 * peak(19.0 - p as f32, 2.0));
            }
        }
        v
    }

    fn params(n: usize) -> AgentParams {
        AgentParams {
            mean_arrival: (0..n).map(|i| 0.2 + 2.0 * hash01(i, 1)).collect(),
            max_power: (0..n).map(|i| 1.0 + 6.0 * hash01(i, 2)).collect(),
            cost_linear: (0..n).map(|i| hash01(i, 3)).collect(),
            cost_quadratic: (0..n).map(|i| 0.1 * hash01(i, 4)).collect(),
            profile_id: (0..n).map(|i| u32::from(hash01(i, 5) < 0.5)).collect(),
        }
    }

    fn config() -> DynamicsConfig {
        DynamicsConfig {
            dt_hours: 0.25,
            steps_per_day: 96,
            noise: 0.3,
            profiles: two_profiles(96),
            agents: AgentIds::default(),
        }
    }

    fn env(n: usize) -> DemandResponse {
        DemandResponse::new(params(n), config()).expect("valid test env")
    }

    fn actions(n: usize, t: u64) -> Vec<f32> {
        (0..n)
            .map(|i| 1.4 * crate::rng::uniform_f32(t, 77, i as u64, t) - 0.2)
            .collect()
    }

    /// Runs `steps` steps from `reset(seed)` and returns every output's bits, step by step.
    fn trajectory(n: usize, seed: u64, steps: u64) -> Vec<u32> {
        let mut env = env(n);
        let mut b = Buffers::new(n);
        env.reset(seed, None, &mut b.obs).unwrap();
        let mut all: Vec<u32> = b.obs.iter().map(|x| x.to_bits()).collect();
        for t in 0..steps {
            env.step(&actions(n, t), b.out()).unwrap();
            all.extend(b.bits());
        }
        all
    }

    type BufferField = fn(&mut Buffers) -> &mut Vec<f32>;
    type ParamField = fn(&mut AgentParams) -> &mut Vec<f32>;

    fn assert_shape(e: &CoreError, expected: &str) {
        assert!(
            matches!(e, CoreError::Shape { name, .. } if *name == expected),
            "expected Shape {{ name: {expected:?} }}, got {e:?}"
        );
    }

    fn assert_invalid(e: &CoreError, expected: &str) {
        assert!(
            matches!(e, CoreError::InvalidValue { name, .. } if *name == expected),
            "expected InvalidValue {{ name: {expected:?} }}, got {e:?}"
        );
    }

    #[test]
    fn step_follows_the_spec_formulas() {
        let n = 5;
        let mut env = env(n);
        let mut b = Buffers::new(n);
        let q0 = [0.0, 1.0, 2.5, 0.3, 10.0];
        env.reset(11, Some(&q0), &mut b.obs).unwrap();
        for _ in 0..3 {
            let q_prev = env.backlog().to_vec();
            let t = env.step_count();
            let a = [0.5, -1.0, 2.0, 0.25, 1.0];
            env.step(&a, b.out()).unwrap();
            let (p, c) = (env.params(), env.config());
            let (tod, tod1) = (t as usize % 96, (t as usize + 1) % 96);
            for i in 0..n {
                let pr = p.profile_id[i] as usize;
                let phi = c.profiles[pr * 96 + tod];
                let u = uniform_f32(11, STREAM_ARRIVALS, i as u64, t);
                let (lo, span) = (1.0 - c.noise, 2.0 * c.noise);
                let d = (p.mean_arrival[i] * phi) * (lo + span * u);
                let avail = q_prev[i] + d;
                let e = ((a[i].clamp(0.0, 1.0) * p.max_power[i]) * 0.25).min(avail);
                let q = (avail - e).max(0.0);
                let r = -((p.cost_linear[i] * q) + ((p.cost_quadratic[i] * q) * q));
                assert_eq!(b.arrived[i].to_bits(), d.to_bits());
                assert_eq!(b.served[i].to_bits(), e.to_bits());
                assert_eq!(b.resource_use[i].to_bits(), (e / 0.25).to_bits());
                assert_eq!(b.reward[i].to_bits(), r.to_bits());
                assert_eq!(env.backlog()[i].to_bits(), q.to_bits());
                assert_eq!(env.last_arrival()[i].to_bits(), d.to_bits());
                let row = &b.obs[i * OBS_DIM..(i + 1) * OBS_DIM];
                let ang = 2.0 * std::f64::consts::PI * tod1 as f64 / 96.0;
                assert_eq!(row[obs::BACKLOG], q);
                assert_eq!(row[obs::ARRIVED], d);
                assert_eq!(row[obs::TOD_SIN], ang.sin() as f32);
                assert_eq!(row[obs::TOD_COS], ang.cos() as f32);
                let mp = p.mean_arrival[i] * c.profiles[pr * 96 + tod1];
                assert_eq!(row[obs::EXPECTED_ARRIVAL], mp);
                assert_eq!(row[obs::MAX_ENERGY], p.max_power[i] * 0.25);
                assert_eq!(row[obs::MEAN_ARRIVAL], p.mean_arrival[i]);
            }
            assert_eq!(env.step_count(), t + 1);
        }
    }

    #[test]
    fn actions_are_clipped_to_unit_interval() {
        let n = 4;
        let mut env = env(n);
        let mut b = Buffers::new(n);
        // A large backlog so that served energy is set by the action, not by the backlog.
        env.reset(3, Some(&[1e3; 4]), &mut b.obs).unwrap();
        env.step(&[-5.0, 0.0, 1.0, 7.0], b.out()).unwrap();
        let pmax = &env.params().max_power;
        assert_eq!(b.served[0], 0.0);
        assert_eq!(b.served[1], 0.0);
        assert_eq!(b.served[2], pmax[2] * 0.25);
        assert_eq!(b.served[3], pmax[3] * 0.25);
        assert_eq!(b.resource_use[3], pmax[3]);
    }

    #[test]
    fn non_finite_actions_are_rejected_and_state_is_unchanged() {
        let n = 6;
        let mut env = env(n);
        let mut b = Buffers::new(n);
        env.reset(5, Some(&[1.0; 6]), &mut b.obs).unwrap();
        env.step(&[0.5; 6], b.out()).unwrap();
        let before = (env.backlog().to_vec(), env.last_arrival().to_vec());
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let mut a = vec![0.5; n];
            a[4] = bad;
            let e = env.step(&a, b.out()).unwrap_err();
            assert_invalid(&e, "actions");
            assert_eq!(env.step_count(), 1);
            assert_eq!(
                (env.backlog().to_vec(), env.last_arrival().to_vec()),
                before
            );
        }
    }

    #[test]
    fn wrong_lengths_name_the_buffer_and_change_nothing() {
        let n = 4;
        let mut env = env(n);
        let mut b = Buffers::new(n);
        env.reset(1, None, &mut b.obs).unwrap();
        let a = vec![0.5; n];
        let cases: [(&str, BufferField); 5] = [
            ("obs", |b| &mut b.obs),
            ("reward", |b| &mut b.reward),
            ("resource_use", |b| &mut b.resource_use),
            ("served", |b| &mut b.served),
            ("arrived", |b| &mut b.arrived),
        ];
        for (name, field) in cases {
            let mut bad = Buffers::new(n);
            field(&mut bad).pop();
            assert_shape(&env.step(&a, bad.out()).unwrap_err(), name);
        }
        assert_shape(&env.step(&a[..3], b.out()).unwrap_err(), "actions");
        assert_eq!(env.step_count(), 0);

        let e = env.reset(2, Some(&[1.0; 3]), &mut b.obs).unwrap_err();
        assert_shape(&e, "initial_backlog");
        let e = env.reset(2, None, &mut b.obs[..5]).unwrap_err();
        assert_shape(&e, "obs");
        let e = env
            .reset(2, Some(&[1.0, -1.0, 0.0, 0.0]), &mut b.obs)
            .unwrap_err();
        assert_invalid(&e, "initial_backlog");
        assert_shape(&env.observe(&mut b.obs[..1]).unwrap_err(), "obs");
        assert_eq!(env.seed(), 1);

        let e = env.set_state(9, 3, &[0.0; 3], &[0.0; 4]).unwrap_err();
        assert_shape(&e, "backlog");
        let e = env.set_state(9, 3, &[0.0; 4], &[0.0; 5]).unwrap_err();
        assert_shape(&e, "last_arrival");
        let e = env
            .set_state(9, 3, &[0.0, f32::NAN, 0.0, 0.0], &[0.0; 4])
            .unwrap_err();
        assert_invalid(&e, "backlog");
        let e = env
            .set_state(9, 3, &[0.0; 4], &[-1.0, 0.0, 0.0, 0.0])
            .unwrap_err();
        assert_invalid(&e, "last_arrival");
        assert_eq!((env.seed(), env.step_count()), (1, 0));
    }

    /// The error of `DemandResponse::new` on the test params and config after `f` broke them.
    fn new_err(f: &dyn Fn(&mut AgentParams, &mut DynamicsConfig)) -> CoreError {
        let (mut p, mut c) = (params(4), config());
        f(&mut p, &mut c);
        DemandResponse::new(p, c).unwrap_err()
    }

    #[test]
    fn every_agent_parameter_is_validated() {
        assert_invalid(&new_err(&|p, _| *p = AgentParams::default()), "num_agents");
        for name in ["max_power", "cost_linear", "cost_quadratic", "profile_id"] {
            let e = new_err(&|p, _| match name {
                "max_power" => p.max_power.push(1.0),
                "cost_linear" => p.cost_linear.truncate(3),
                "cost_quadratic" => p.cost_quadratic.push(1.0),
                _ => p.profile_id.truncate(3),
            });
            assert_shape(&e, name);
        }
        let fields: [(&str, ParamField); 4] = [
            ("mean_arrival", |p| &mut p.mean_arrival),
            ("max_power", |p| &mut p.max_power),
            ("cost_linear", |p| &mut p.cost_linear),
            ("cost_quadratic", |p| &mut p.cost_quadratic),
        ];
        for (name, field) in fields {
            for v in [-0.5, f32::NAN, f32::INFINITY] {
                assert_invalid(&new_err(&|p, _| field(p)[2] = v), name);
            }
        }
        assert_invalid(&new_err(&|p, _| p.profile_id[1] = 2), "profile_id");
        // Zero means and powers are allowed.
        let mut p = params(4);
        p.mean_arrival[0] = 0.0;
        p.max_power[1] = 0.0;
        assert!(DemandResponse::new(p, config()).is_ok());
    }

    #[test]
    fn every_dynamics_setting_is_validated() {
        for dt in [0.0, -0.25, f32::NAN, f32::INFINITY] {
            assert_invalid(&new_err(&|_, c| c.dt_hours = dt), "dt_hours");
        }
        assert_invalid(&new_err(&|_, c| c.steps_per_day = 0), "steps_per_day");
        for noise in [-0.1, 1.01, f32::NAN] {
            assert_invalid(&new_err(&|_, c| c.noise = noise), "noise");
        }
        assert_shape(&new_err(&|_, c| c.profiles.truncate(100)), "profiles");
        assert_shape(&new_err(&|_, c| c.profiles.clear()), "profiles");
        for v in [-1.0, f32::NAN, f32::INFINITY] {
            assert_invalid(&new_err(&|_, c| c.profiles[150] = v), "profiles");
        }
        // The boundaries are allowed.
        let c = DynamicsConfig {
            dt_hours: 1e-3,
            steps_per_day: 1,
            noise: 1.0,
            profiles: vec![0.0, 2.0],
            agents: AgentIds::default(),
        };
        let env = DemandResponse::new(params(4), c).unwrap();
        assert_eq!((env.num_profiles(), env.steps_per_day()), (2, 1));
        let c = DynamicsConfig {
            noise: 0.0,
            ..config()
        };
        assert!(DemandResponse::new(params(4), c).is_ok());
    }

    #[test]
    fn accessors_report_the_construction() {
        let env = env(7);
        assert_eq!(env.num_agents(), 7);
        assert_eq!(env.steps_per_day(), 96);
        assert_eq!(env.dt_hours(), 0.25);
        assert_eq!(env.num_profiles(), 2);
        assert_eq!(env.params(), &params(7));
        assert_eq!(env.config(), &config());
        assert_eq!((env.seed(), env.step_count()), (0, 0));
        assert!(
            env.backlog()
                .iter()
                .chain(env.last_arrival())
                .all(|&x| x == 0.0)
        );
    }

    #[test]
    fn reset_writes_the_time_of_day_zero_observation() {
        let n = 9;
        let mut env = env(n);
        let mut b = Buffers::new(n);
        env.step(&[1.0; 9], b.out()).unwrap();
        let q0: Vec<f32> = (0..n).map(|i| i as f32 * 0.5).collect();
        env.reset(8, Some(&q0), &mut b.obs).unwrap();
        assert_eq!((env.seed(), env.step_count()), (8, 0));
        assert_eq!(env.backlog(), &q0[..]);
        assert!(env.last_arrival().iter().all(|&x| x == 0.0));
        let p = env.params();
        for (i, row) in b.obs.chunks_exact(OBS_DIM).enumerate() {
            let phi0 = env.config().profiles[p.profile_id[i] as usize * 96];
            let expect = [
                q0[i],
                0.0,
                0.0,
                1.0,
                p.mean_arrival[i] * phi0,
                p.max_power[i] * 0.25,
                p.mean_arrival[i],
            ];
            assert_eq!(row, expect);
        }
        let mut again = vec![0.0; n * OBS_DIM];
        env.observe(&mut again).unwrap();
        assert_eq!(again, b.obs);
        env.reset(8, None, &mut b.obs).unwrap();
        assert!(env.backlog().iter().all(|&x| x == 0.0));
    }

    #[test]
    fn same_seed_same_trajectory_and_different_seed_differs() {
        let a = trajectory(50, 123, 20);
        assert_eq!(a, trajectory(50, 123, 20));
        assert_ne!(a, trajectory(50, 124, 20));
    }

    #[test]
    fn set_state_and_step_reproduce_a_recorded_continuation() {
        let n = 40;
        let mut a = env(n);
        let mut b = Buffers::new(n);
        a.reset(31, Some(&vec![0.7; n]), &mut b.obs).unwrap();
        for t in 0..150 {
            a.step(&actions(n, t), b.out()).unwrap();
        }
        let (seed, step) = (a.seed(), a.step_count());
        let (q, d) = (a.backlog().to_vec(), a.last_arrival().to_vec());
        let obs_at_checkpoint = b.obs.clone();
        let mut recorded = Vec::new();
        for t in 150..170 {
            a.step(&actions(n, t), b.out()).unwrap();
            recorded.push(b.bits());
        }

        let mut restored = env(n);
        restored.set_state(seed, step, &q, &d).unwrap();
        assert_eq!((restored.seed(), restored.step_count()), (31, 150));
        let mut o = vec![0.0; n * OBS_DIM];
        restored.observe(&mut o).unwrap();
        assert_eq!(o, obs_at_checkpoint);
        let mut c = Buffers::new(n);
        for (t, rec) in (150..170).zip(&recorded) {
            restored.step(&actions(n, t), c.out()).unwrap();
            assert_eq!(&c.bits(), rec, "step {t}");
        }
        assert_eq!(restored.backlog(), a.backlog());
    }

    #[test]
    fn results_do_not_depend_on_the_number_of_threads() {
        // The only test that touches the global thread count. Several chunks plus a ragged tail.
        let n = 3 * CHUNK + 1_234;
        crate::pool::set_num_threads(1);
        let serial = trajectory(n, 2024, 3);
        // (No assertion on `use_parallel` here: other modules' tests set the global count too.)
        crate::pool::set_num_threads(2);
        let parallel = trajectory(n, 2024, 3);
        crate::pool::set_num_threads(0);
        assert!(
            serial == parallel,
            "serial and parallel trajectories differ"
        );
    }

    #[test]
    fn arrivals_average_mu_times_phi_and_stay_in_range() {
        let n = 200_000;
        let p = AgentParams {
            mean_arrival: vec![2.0; n],
            max_power: vec![1.0; n],
            cost_linear: vec![1.0; n],
            cost_quadratic: vec![0.0; n],
            profile_id: vec![0; n],
        };
        let mut profiles = vec![0.5; 96];
        profiles[1] = 1.5;
        let c = DynamicsConfig {
            noise: 0.5,
            ..config()
        };
        let c = DynamicsConfig { profiles, ..c };
        let mut env = DemandResponse::new(p, c).unwrap();
        let mut b = Buffers::new(n);
        env.reset(99, None, &mut b.obs).unwrap();
        for expected in [1.0f64, 3.0] {
            env.step(&vec![0.0; n], b.out()).unwrap();
            let mean = b.arrived.iter().map(|&x| f64::from(x)).sum::<f64>() / n as f64;
            // sd of one draw is expected * 0.5 / sqrt(3); the tolerance is about 6 standard errors.
            assert!(
                (mean - expected).abs() < 0.004 * expected,
                "mean {mean} vs {expected}"
            );
            let (lo, hi) = (expected * 0.5, expected * 1.5);
            assert!(b.arrived.iter().all(|&x| (lo..=hi).contains(&f64::from(x))));
        }
    }

    #[test]
    fn a_slice_with_first_agent_reproduces_the_full_envs_rows() {
        // Rows a..b of a 2.5-chunk population, stepped as their own env with first_agent = a,
        // in parallel chunks and serially: the same bits as those rows of the full env.
        let n = 2 * CHUNK + CHUNK / 2;
        let full_params = params(n);
        for (a, b) in [(0, 3), (7, CHUNK + 9), (CHUNK - 1, n)] {
            let slice = |v: &Vec<f32>| v[a..b].to_vec();
            let part = AgentParams {
                mean_arrival: slice(&full_params.mean_arrival),
                max_power: slice(&full_params.max_power),
                cost_linear: slice(&full_params.cost_linear),
                cost_quadratic: slice(&full_params.cost_quadratic),
                profile_id: full_params.profile_id[a..b].to_vec(),
            };
            let c = DynamicsConfig {
                agents: AgentIds::Range { first: a as u64 },
                ..config()
            };
            let mut sub = DemandResponse::new(part, c).unwrap();
            let mut full = env(n);
            let (mut fb, mut sb) = (Buffers::new(n), Buffers::new(b - a));
            full.reset(5, None, &mut fb.obs).unwrap();
            sub.reset(5, None, &mut sb.obs).unwrap();
            for t in 0..3 {
                let acts = actions(n, t);
                full.step(&acts, fb.out()).unwrap();
                sub.step(&acts[a..b], sb.out()).unwrap();
                assert_eq!(sb.arrived, fb.arrived[a..b], "rows {a}..{b}, step {t}");
                assert_eq!(sb.obs, fb.obs[a * OBS_DIM..b * OBS_DIM]);
                assert_eq!(sb.served, fb.served[a..b]);
            }
        }
    }

    /// The parameters of the rows `rows` of `p`, in that order.
    fn rows_of(p: &AgentParams, rows: &[usize]) -> AgentParams {
        let pick = |v: &[f32]| rows.iter().map(|&i| v[i]).collect();
        AgentParams {
            mean_arrival: pick(&p.mean_arrival),
            max_power: pick(&p.max_power),
            cost_linear: pick(&p.cost_linear),
            cost_quadratic: pick(&p.cost_quadratic),
            profile_id: rows.iter().map(|&i| p.profile_id[i]).collect(),
        }
    }

    /// Steps an env over the agents `rows` of the `n`-agent population (`rows` as its ids) and
    /// the population's env side by side, comparing every output of those rows bit for bit.
    fn assert_rows_step_as_in_the_whole(n: usize, rows: &[usize], seed: u64, steps: u64) {
        let ids = rows.iter().map(|&i| i as u64).collect();
        let c = DynamicsConfig {
            agents: AgentIds::List(ids),
            ..config()
        };
        let mut sub = DemandResponse::new(rows_of(&params(n), rows), c).unwrap();
        let mut full = env(n);
        let (mut fb, mut sb) = (Buffers::new(n), Buffers::new(rows.len()));
        let q0: Vec<f32> = (0..n).map(|i| 3.0 * hash01(i, 9)).collect();
        let sub_q0: Vec<f32> = rows.iter().map(|&i| q0[i]).collect();
        full.reset(seed, Some(&q0), &mut fb.obs).unwrap();
        sub.reset(seed, Some(&sub_q0), &mut sb.obs).unwrap();
        for t in 0..steps {
            let acts = actions(n, t);
            let sub_acts: Vec<f32> = rows.iter().map(|&i| acts[i]).collect();
            full.step(&acts, fb.out()).unwrap();
            sub.step(&sub_acts, sb.out()).unwrap();
            let (full_bits, sub_bits) = (fb.bits(), sb.bits());
            // `bits` concatenates obs then the four [N] outputs: compare row by row.
            let per_row = |bits: &[u32], len: usize, k: usize| -> Vec<u32> {
                let mut out = bits[k * OBS_DIM..(k + 1) * OBS_DIM].to_vec();
                for field in 0..4 {
                    out.push(bits[len * OBS_DIM + field * len + k]);
                }
                out
            };
            for (k, &i) in rows.iter().enumerate() {
                assert_eq!(
                    per_row(&sub_bits, rows.len(), k),
                    per_row(&full_bits, n, i),
                    "row {k} (agent {i}), step {t}"
                );
            }
        }
    }

    #[test]
    fn scattered_agent_ids_step_as_their_rows_of_the_whole() {
        // Serial: a few ids out of order, one repeated; every agent (the identity list).
        let n = 300;
        assert_rows_step_as_in_the_whole(n, &[299, 5, 17, 5, 0, 123], 7, 4);
        assert_rows_step_as_in_the_whole(n, &(0..n).collect::<Vec<_>>(), 8, 2);
        // Parallel chunks: about half of 5 chunks of agents, scattered, in shuffled order.
        let n = 5 * CHUNK;
        let mut rows: Vec<usize> = (0..n).filter(|&i| hash01(i, 11) < 0.5).collect();
        rows.sort_by_key(|&i| crate::rng::bits(1, 2, i as u64, 3));
        assert!(rows.len() > pool::PARALLEL_THRESHOLD);
        assert_rows_step_as_in_the_whole(n, &rows, 9, 2);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[test]
        fn any_agent_ids_step_as_their_rows_of_the_whole(
            n in 1usize..60,
            picks in prop::collection::vec(any::<prop::sample::Index>(), 1..40),
            seed: u64,
        ) {
            let rows: Vec<usize> = picks.iter().map(|p| p.index(n)).collect();
            assert_rows_step_as_in_the_whole(n, &rows, seed, 3);
        }
    }

    #[test]
    fn agent_ids_must_be_one_per_row() {
        let c = DynamicsConfig {
            agents: AgentIds::List(vec![1, 2, 3]),
            ..config()
        };
        assert_shape(&DemandResponse::new(params(4), c).unwrap_err(), "agent_ids");
        assert_eq!(AgentIds::List(vec![9, 4]).id(1), 4);
        assert_eq!(AgentIds::Range { first: 9 }.id(1), 10);
    }

    #[test]
    fn first_agent_must_leave_room_for_every_row() {
        let c = |first| DynamicsConfig {
            agents: AgentIds::Range { first },
            ..config()
        };
        assert_invalid(
            &DemandResponse::new(params(4), c(u64::MAX - 3)).unwrap_err(),
            "first_agent",
        );
        assert!(DemandResponse::new(params(4), c(u64::MAX - 4)).is_ok());
    }

    prop_compose! {
        fn arb_env()(n in 1usize..40, s in 1usize..8, np in 1usize..4)
            (mu in prop::collection::vec(0.0f32..5.0, n),
             pmax in prop::collection::vec(0.0f32..10.0, n),
             cl in prop::collection::vec(0.0f32..2.0, n),
             cq in prop::collection::vec(0.0f32..0.5, n),
             pid in prop::collection::vec(0..np as u32, n),
             profiles in prop::collection::vec(0.0f32..3.0, s * np),
             dt in 0.05f32..2.0, noise in 0.0f32..=1.0, s in Just(s))
            -> DemandResponse {
            let params = AgentParams {
                mean_arrival: mu, max_power: pmax, cost_linear: cl, cost_quadratic: cq, profile_id: pid,
            };
            let config = DynamicsConfig { dt_hours: dt, steps_per_day: s, noise, profiles, agents: AgentIds::default() };
            DemandResponse::new(params, config).unwrap()
        }
    }

    proptest! {
        #[test]
        fn energy_balances_and_backlog_stays_nonnegative(
            mut env in arb_env(),
            seed in any::<u64>(),
            raw in prop::collection::vec(-1.0f32..2.0, 1..400),
        ) {
            let n = env.num_agents();
            let mut b = Buffers::new(n);
            env.reset(seed, None, &mut b.obs).unwrap();
            for (t, a) in raw.chunks(n).enumerate() {
                let mut acts = a.to_vec();
                acts.resize(n, 0.5);
                let q = env.backlog().to_vec();
                env.step(&acts, b.out()).unwrap();
                prop_assert_eq!(env.step_count(), t as u64 + 1);
                for (i, &q0) in q.iter().enumerate() {
                    let (q1, d, e) = (env.backlog()[i], b.arrived[i], b.served[i]);
                    prop_assert!(q1 >= 0.0 && d >= 0.0 && e >= 0.0);
                    prop_assert!(b.reward[i] <= 0.0);
                    prop_assert!(b.resource_use[i] <= env.params().max_power[i] * 1.000_001);
                    let scale = q0 + d + e;
                    let gap = (d - (e + (q1 - q0))).abs();
                    prop_assert!(gap <= 4.0 * f32::EPSILON * scale + f32::MIN_POSITIVE,
                        "agent {} step {}: q {} d {} e {} q' {}", i, t, q0, d, e, q1);
                }
            }
        }
    }
}
