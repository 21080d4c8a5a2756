//! Consensus over a communication graph: Metropolis–Hastings weights, `K` rounds of `x <- W x`,
//! lossy links, dynamic average tracking and the spectral gap.
//!
//! `W` is symmetric and doubly stochastic, so every round keeps the column means of `x` and, on a
//! connected graph, drives every row to them at the rate `sigma2(W)` per round.
//!
//! The kernels gather: output row `i` reads the rows of its neighbours. Rows are split into fixed
//! [`CHUNK`]-row tasks and each row is summed in one fixed order, so the result is bit-identical
//! for any number of threads. Relabelling the graph with [`Graph::rcm_order`] first keeps the
//! gathers close in memory.
//!
//! Lossless rounds on one column of a *banded* graph (bandwidth below 21,840, as after
//! [`Graph::rcm_order`]) take a specialised path, [`Banded`]: the same sums in the same order, but
//! from a compact copy of `W` and over all rounds at once (temporal blocking), so the graph is
//! streamed from memory once per call instead of once per round.
//!
//! One file per job:
//!
//! | file | job |
//! | --- | --- |
//! | `weights.rs` | [`Weights`]: building `W`, its CSR accessors, lossless `mix` (picks the path) |
//! | `gather.rs` | the plain CSR kernel: rounds of `y = W x` on any graph and block width |
//! | `banded.rs` | the banded fast path: window slots, sentinels, temporal blocking |
//! | `relabel.rs` | [`Relabelling`]: kernels in the caller's node order, row permutations |
//! | `lossy.rs` | `mix_lossy`: rounds over links that fail at random |
//! | `track.rs` | `track`: dynamic average tracking |
//! | `spectral.rs` | `sigma2`: the second largest singular value of `W` |
//! | `spare.rs` | working buffers kept between calls |
//!
//! [`CHUNK`]: crate::pool::CHUNK
//! [`Graph::rcm_order`]: crate::graph::Graph::rcm_order
//! [`Banded`]: banded::Banded

mod banded;
mod gather;
mod lossy;
mod relabel;
mod spare;
mod spectral;
#[cfg(test)]
mod test_support;
mod track;
mod weights;

pub use lossy::STREAM_LINKS;
pub use relabel::Relabelling;
pub use weights::Weights;

use crate::error::{CoreError, Result};

/// Checks `cols >= 1` ([`CoreError::InvalidValue`] named `cols`) and that `values` holds a
/// row-major `[n, cols]` block ([`CoreError::Shape`] named `name`).
fn check_block_shape(name: &'static str, values: &[f32], n: usize, cols: usize) -> Result<()> {
    if cols == 0 {
        return Err(CoreError::invalid("cols", "must be >= 1"));
    }
    if n.checked_mul(cols) == Some(values.len()) {
        Ok(())
    } else {
        Err(CoreError::shape(
            name,
            format!("[{n}, {cols}] (num_nodes x cols values)"),
            format!("{} values", values.len()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::test_support::*;
    use crate::graph::Graph;
    use crate::pool::{self, CHUNK};
    use proptest::prelude::*;

    #[test]
    #[allow(
        clippy::float_cmp,
        reason = "the rejected input must be bit-for-bit untouched"
    )]
    fn bad_inputs_are_errors_and_leave_the_state_alone() {
        let w = Weights::metropolis(&Graph::ring(5, 1).unwrap());
        let x0 = random_values(5, 1);
        let mut x = x0.clone();
        let name = |r: Result<()>| match r {
            Err(CoreError::InvalidValue { name, .. } | CoreError::Shape { name, .. }) => name,
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(name(w.mix(&mut x, 0, 1)), "cols");
        assert!(matches!(
            w.mix(&mut x, 2, 1),
            Err(CoreError::Shape { name: "x", .. })
        ));
        assert!(matches!(
            w.mix(&mut x[..4], 1, 1),
            Err(CoreError::Shape { name: "x", .. })
        ));
        let mut bad = x0.clone();
        bad[3] = f32::NAN;
        assert!(matches!(
            w.mix(&mut bad, 1, 1),
            Err(CoreError::InvalidValue { name: "x", .. })
        ));
        assert!(bad[..3] == x0[..3] && bad[4] == x0[4]);
        assert_eq!(name(w.track(&mut x, &x0[..4], &x0, 1, 1)), "g_new");
        assert_eq!(name(w.track(&mut x, &x0, &bad, 1, 1)), "g_old");
        assert_eq!(name(w.track(&mut bad.clone(), &x0, &x0, 1, 1)), "y");
        for p in [-0.1, 1.5, f32::NAN] {
            assert_eq!(name(w.mix_lossy(&mut x, 1, 1, p, 0, 0)), "drop_prob");
        }
        assert_eq!(name(w.mix_lossy(&mut bad, 1, 1, 0.5, 0, 0)), "x");
        assert_eq!(x, x0);
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        // set_num_threads is process-wide: every thread-count comparison lives in this one test.
        let n = 3 * CHUNK + 7_000;
        let g = Graph::erdos_renyi(n, 6.0, 21, true).unwrap();
        let w = Weights::metropolis(&g);
        let x0 = random_values(2 * n, 22);
        let run = |threads: usize| {
            pool::set_num_threads(threads);
            let mut single = x0[..n].to_vec();
            w.mix(&mut single, 1, 5).unwrap();
            let mut block = x0.clone();
            w.mix(&mut block, 2, 3).unwrap();
            let mut lossy = x0[..n].to_vec();
            w.mix_lossy(&mut lossy, 1, 4, 0.3, 5, 0).unwrap();
            let mut tracked = x0[..n].to_vec();
            w.track(&mut tracked, &x0[n..], &x0[..n], 1, 2).unwrap();
            // Banded fast path: one sweep, and several (30 rounds exceed the halo cap).
            let banded: Vec<Vec<u32>> = banded_graphs()
                .iter()
                .flat_map(|g| {
                    let w = Weights::metropolis(g);
                    [3, 30].map(|rounds| {
                        let mut x = x0[..g.num_nodes()].to_vec();
                        w.mix(&mut x, 1, rounds).unwrap();
                        x.iter().map(|v| v.to_bits()).collect()
                    })
                })
                .collect();
            (
                single,
                block,
                lossy,
                tracked,
                w.sigma2(30, 0.0, 3).to_bits(),
                banded,
            )
        };
        let serial = run(1);
        let parallel = run(2);
        pool::set_num_threads(0);
        assert!(serial == parallel, "results differ between 1 and 2 threads");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn mixing_keeps_the_column_means(
            g in arb_graph(40),
            cols in 1usize..4,
            rounds in 0usize..10,
            drop_prob in 0.0f32..=1.0,
            seed: u64,
        ) {
            let w = Weights::metropolis(&g);
            let x0: Vec<f32> = random_values(g.num_nodes() * cols, seed).iter().map(|v| 100.0 * v).collect();
            let tol = 1e-5 * max_abs(&x0).max(1e-3);
            let before = column_means(&x0, cols);
            let mut x = x0.clone();
            w.mix(&mut x, cols, rounds).unwrap();
            for (a, b) in column_means(&x, cols).iter().zip(&before) {
                prop_assert!((a - b).abs() <= tol, "mix: {} vs {}", a, b);
            }
            let mut x = x0.clone();
            w.mix_lossy(&mut x, cols, rounds, drop_prob, seed, 3).unwrap();
            for (a, b) in column_means(&x, cols).iter().zip(&before) {
                prop_assert!((a - b).abs() <= tol, "mix_lossy: {} vs {}", a, b);
            }
        }
    }
}
