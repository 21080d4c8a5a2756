//! Batched environments: N agents advanced together, one contiguous array per quantity.
//!
//! The only environment is [`DemandResponse`] (see [`demand_response`]): households or devices with
//! deferrable demand that arrives around a daily profile and is served at up to a maximum power.
//! The core only does transitions; auto-reset and episode statistics belong to a wrapper.
//!
//! Observations are written row-major into an `[N, OBS_DIM]` buffer; the column of each feature is
//! a named constant in [`obs`].

pub mod demand_response;

pub use demand_response::*;

/// Number of observation features per agent (the width of an observation row).
pub const OBS_DIM: usize = 7;

/// Column indices of the observation row `obs[n * OBS_DIM..(n + 1) * OBS_DIM]`.
///
/// Every row describes the agent at the start of the coming step `t + 1` (after a step) or `0`
/// (after a reset); `tod'` below is that step's time of day.
pub mod obs {
    /// Backlog `q'` after the step (kWh).
    pub const BACKLOG: usize = 0;
    /// Arrivals `d` of the step just taken (kWh); `0` after a reset.
    pub const ARRIVED: usize = 1;
    /// `sin(2 pi tod' / S)`, computed in `f64` and rounded to `f32`.
    pub const TOD_SIN: usize = 2;
    /// `cos(2 pi tod' / S)`, computed in `f64` and rounded to `f32`.
    pub const TOD_COS: usize = 3;
    /// Expected arrivals of the coming step, `mu * phi_p(tod')` (kWh).
    pub const EXPECTED_ARRIVAL: usize = 4;
    /// Largest energy servable in one step, `max_power * dt_hours` (kWh).
    pub const MAX_ENERGY: usize = 5;
    /// Mean arrivals per step at profile value 1, `mu` (kWh).
    pub const MEAN_ARRIVAL: usize = 6;
}
