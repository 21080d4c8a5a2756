//! Batched draws of the counter-based streams ([`crate::rng`]): one `(seed, stream)` and many
//! `(agent, step)` counters per call, in parallel over fixed chunks of the output.
//!
//! These are the per-agent streams of training with per-agent weights (stream ids 3 to 6: initial
//! weights, action noise, episode multipliers, initial backlogs). Every value is a pure function of
//! its own counters, so the result is the same for any thread count and any batch it is drawn in:
//! agents `a..b` drawn alone get exactly their rows of a draw over all agents.
//!
//! Normals are Box–Muller, `sqrt(-2 ln u1) * cos(2 pi u2)`. [`box_muller`] returns `u1` and
//! `cos(2 pi u2)` and leaves the logarithm to the caller: the values must equal those NumPy draws
//! (`samarl.reference.rng.normal_f64`, which saved policies and checkpoints were made with), and
//! NumPy's `float64` logarithm is not the platform's `ln` everywhere (on x86-64 with AVX-512 it is
//! Intel SVML's, which differs from glibc's in the last bit on about 0.3% of inputs). The cosine,
//! the bits and the uniforms are the same in both (NumPy's `float64` cosine is the C library's,
//! which `f64::cos` calls), and they are most of the work.

use crate::error::{CoreError, Result};
use crate::pool::{self, CHUNK};
use crate::rng;

/// The `(agent, step)` counters of a batch, and the order of its values.
#[derive(Debug, Clone, Copy)]
pub enum Counters<'a> {
    /// Every agent with every step: value `i * steps.len() + j` is `(agents[i], steps[j])`.
    Grid {
        /// One counter per row of the output.
        agents: &'a [u64],
        /// One counter per column of the output.
        steps: &'a [u64],
    },
    /// Value `k` is `(agents[k], steps[k])`; both have the same length.
    Pairs {
        /// One counter per value.
        agents: &'a [u64],
        /// One counter per value.
        steps: &'a [u64],
    },
}

impl Counters<'_> {
    /// Number of values of the batch. A pairing of unequal lengths is a [`CoreError::Shape`]
    /// named `steps`; a grid of more than `usize::MAX` values an [`CoreError::InvalidValue`]
    /// named `agents`.
    pub fn num_values(&self) -> Result<usize> {
        match *self {
            Counters::Grid { agents, steps } => {
                agents.len().checked_mul(steps.len()).ok_or_else(|| {
                    CoreError::invalid(
                        "agents",
                        format!(
                            "{} agents x {} steps is too many values",
                            agents.len(),
                            steps.len()
                        ),
                    )
                })
            }
            Counters::Pairs { agents, steps } if agents.len() == steps.len() => Ok(agents.len()),
            Counters::Pairs { agents, steps } => Err(CoreError::shape(
                "steps",
                format!("{} counters (one per agent counter)", agents.len()),
                format!("{} counters", steps.len()),
            )),
        }
    }

    /// Calls `f(agent, step, k)` for the values `first..first + count`, in order.
    #[inline]
    fn each(&self, first: usize, count: usize, mut f: impl FnMut(u64, u64, usize)) {
        match *self {
            Counters::Grid { agents, steps } => {
                let width = steps.len();
                if width == 0 {
                    return;
                }
                let (mut i, mut j) = (first / width, first % width);
                for k in 0..count {
                    f(agents[i], steps[j], k);
                    j += 1;
                    if j == width {
                        (i, j) = (i + 1, 0);
                    }
                }
            }
            Counters::Pairs { agents, steps } => {
                let range = first..first + count;
                for (k, (&a, &t)) in agents[range.clone()].iter().zip(&steps[range]).enumerate() {
                    f(a, t, k);
                }
            }
        }
    }
}

/// Checks that `out` holds one value per counter ([`CoreError::Shape`] named `name`).
fn check_out<T>(name: &'static str, counters: &Counters<'_>, out: &[T]) -> Result<()> {
    let len = counters.num_values()?;
    if out.len() == len {
        Ok(())
    } else {
        Err(CoreError::shape(
            name,
            format!("{len} values (one per counter)"),
            format!("{} values", out.len()),
        ))
    }
}

/// Fills `out[k]` with `draw(agent_k, step_k)`, in parallel over fixed chunks of [`CHUNK`] values.
fn fill<T: Send>(counters: &Counters<'_>, out: &mut [T], draw: impl Fn(u64, u64) -> T + Sync) {
    pool::for_each_chunk(out, 1, |chunk, out| {
        counters.each(chunk * CHUNK, out.len(), |a, t, k| out[k] = draw(a, t));
    });
}

/// `out[k] = rng::uniform_f32(seed, stream, agent_k, step_k)`, in `[0, 1)`.
pub fn uniform_f32(seed: u64, stream: u64, counters: Counters<'_>, out: &mut [f32]) -> Result<()> {
    check_out("out", &counters, out)?;
    fill(&counters, out, |a, t| rng::uniform_f32(seed, stream, a, t));
    Ok(())
}

/// `out[k] = rng::uniform_f64(seed, stream, agent_k, step_k)`, in `(0, 1]`.
pub fn uniform_f64(seed: u64, stream: u64, counters: Counters<'_>, out: &mut [f64]) -> Result<()> {
    check_out("out", &counters, out)?;
    fill(&counters, out, |a, t| rng::uniform_f64(seed, stream, a, t));
    Ok(())
}

/// The Box–Muller halves of every counter ([`rng::box_muller_parts`]): `u1[k]` and
/// `cosine[k] = cos(2 pi u2)`, so that `sqrt(-2 ln u1[k]) * cosine[k]` is the standard normal of
/// `(seed, stream, agent_k, step_k)` (the module's docs say why the logarithm is the caller's).
pub fn box_muller(
    seed: u64,
    stream: u64,
    counters: Counters<'_>,
    u1: &mut [f64],
    cosine: &mut [f64],
) -> Result<()> {
    check_out("u1", &counters, u1)?;
    check_out("cosine", &counters, cosine)?;
    let run = |first: usize, u1: &mut [f64], cosine: &mut [f64]| {
        counters.each(first, u1.len(), |a, t, k| {
            (u1[k], cosine[k]) = rng::box_muller_parts(seed, stream, a, t);
        });
    };
    pool::run(u1.len(), |parallel| {
        if parallel {
            use rayon::prelude::*;
            u1.par_chunks_mut(CHUNK)
                .zip(cosine.par_chunks_mut(CHUNK))
                .enumerate()
                .for_each(|(c, (u1, cosine))| run(c * CHUNK, u1, cosine));
        } else {
            run(0, u1, cosine);
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{STREAM_ACTION_NOISE, STREAM_INIT};
    use proptest::prelude::*;

    fn bit_vec(x: &[f64]) -> Vec<u64> {
        x.iter().map(|v| v.to_bits()).collect()
    }

    #[test]
    fn grid_and_pairs_order_their_values() {
        let (agents, steps) = ([7, u64::MAX, 0], [0, 1 << 63, u64::MAX, 2]);
        let mut grid = vec![0.0; 12];
        uniform_f64(
            9,
            STREAM_INIT,
            Counters::Grid {
                agents: &agents,
                steps: &steps,
            },
            &mut grid,
        )
        .unwrap();
        for (i, &a) in agents.iter().enumerate() {
            for (j, &t) in steps.iter().enumerate() {
                let want = rng::uniform_f64(9, STREAM_INIT, a, t);
                assert_eq!(grid[i * 4 + j].to_bits(), want.to_bits());
            }
        }
        let mut pairs = vec![0.0f32; 3];
        uniform_f32(
            9,
            5,
            Counters::Pairs {
                agents: &agents,
                steps: &steps[..3],
            },
            &mut pairs,
        )
        .unwrap();
        for k in 0..3 {
            let want = rng::uniform_f32(9, 5, agents[k], steps[k]);
            assert_eq!(pairs[k].to_bits(), want.to_bits());
        }
    }

    #[test]
    fn shapes_are_checked_and_name_the_buffer() {
        let mut out = vec![0.0; 5];
        let grid = Counters::Grid {
            agents: &[1, 2],
            steps: &[1, 2, 3],
        };
        let name = |r: Result<()>| match r {
            Err(CoreError::Shape { name, .. }) => name,
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(name(uniform_f64(0, 3, grid, &mut out)), "out");
        let pairs = Counters::Pairs {
            agents: &[1, 2],
            steps: &[1],
        };
        assert_eq!(name(uniform_f64(0, 3, pairs, &mut out[..2])), "steps");
        let (mut u1, mut c) = (vec![0.0; 6], vec![0.0; 5]);
        assert_eq!(name(box_muller(0, 3, grid, &mut u1, &mut c)), "cosine");
        // Empty batches are fine.
        let empty = Counters::Grid {
            agents: &[1, 2],
            steps: &[],
        };
        uniform_f64(0, 3, empty, &mut []).unwrap();
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count_or_the_batch() {
        // 5 chunks of values; a row split across chunks.
        let agents: Vec<u64> = (0..41).map(|a| a * 1_000_003).collect();
        let steps: Vec<u64> = (0..2001).collect();
        let grid = Counters::Grid {
            agents: &agents,
            steps: &steps,
        };
        let n = grid.num_values().unwrap();
        let run = |threads: usize| {
            pool::set_num_threads(threads);
            let (mut u1, mut c, mut u) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
            box_muller(1, STREAM_ACTION_NOISE, grid, &mut u1, &mut c).unwrap();
            uniform_f64(1, STREAM_ACTION_NOISE, grid, &mut u).unwrap();
            (bit_vec(&u1), bit_vec(&c), bit_vec(&u))
        };
        let serial = run(1);
        let parallel = run(2);
        pool::set_num_threads(0);
        assert!(serial == parallel, "results differ between 1 and 2 threads");
        // Agent 17 drawn alone: its row of the grid.
        let (mut u1, mut c) = (vec![0.0; steps.len()], vec![0.0; steps.len()]);
        let one = Counters::Grid {
            agents: &agents[17..18],
            steps: &steps,
        };
        box_muller(1, STREAM_ACTION_NOISE, one, &mut u1, &mut c).unwrap();
        let row = 17 * steps.len()..18 * steps.len();
        assert_eq!(bit_vec(&u1), serial.0[row.clone()]);
        assert_eq!(bit_vec(&c), serial.1[row]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn batches_equal_the_scalar_draws(
            seed: u64,
            stream in 0u64..8,
            agents in prop::collection::vec(any::<u64>(), 0..6),
            steps in prop::collection::vec(any::<u64>(), 0..6),
        ) {
            let grid = Counters::Grid { agents: &agents, steps: &steps };
            let n = agents.len() * steps.len();
            let (mut u1, mut c, mut u, mut f) = (vec![0.0; n], vec![0.0; n], vec![0.0; n], vec![0.0f32; n]);
            box_muller(seed, stream, grid, &mut u1, &mut c).unwrap();
            uniform_f64(seed, stream, grid, &mut u).unwrap();
            uniform_f32(seed, stream, grid, &mut f).unwrap();
            for (k, (a, t)) in agents.iter().flat_map(|&a| steps.iter().map(move |&t| (a, t))).enumerate() {
                let (w1, wc) = rng::box_muller_parts(seed, stream, a, t);
                prop_assert_eq!(u1[k].to_bits(), w1.to_bits());
                prop_assert_eq!(c[k].to_bits(), wc.to_bits());
                prop_assert_eq!(u[k].to_bits(), rng::uniform_f64(seed, stream, a, t).to_bits());
                prop_assert_eq!(f[k].to_bits(), rng::uniform_f32(seed, stream, a, t).to_bits());
                prop_assert!(u[k] > 0.0 && u[k] <= 1.0);
                prop_assert!((-1.0..=1.0).contains(&c[k]));
            }
        }
    }
}
