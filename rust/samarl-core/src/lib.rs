//! samarl-core: the engine of samarl, in plain Rust (no Python types).
//!
//! - [`mod@env`]: batched demand-response dynamics for N agents (structure of arrays).
//! - [`graph`]: undirected communication graphs in CSR form, generators, connectivity,
//!   node reordering and spectral estimates.
//! - [`consensus`]: Metropolis–Hastings weights and K rounds of `x <- W x`, plus dynamic average
//!   tracking.
//! - [`interrupt`]: how long kernels are stopped (Ctrl-C) between chunks of work.
//! - [`rng`]: counter-based random numbers keyed by `(seed, agent, step)`.
//! - [`streams`]: batched draws of those numbers (the per-agent streams of training).
//! - [`memory`]: sizes checked against the machine's memory before allocating.
//! - [`pool`]: the private thread pool.

pub mod consensus;
pub mod env;
pub mod error;
pub mod graph;
pub mod interrupt;
pub mod memory;
pub mod pool;
pub mod rng;
pub mod streams;

pub use error::{CoreError, Result};
