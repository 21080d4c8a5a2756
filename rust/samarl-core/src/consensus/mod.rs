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
//! [`Graph::rcm_order`]) take a specialised path (`banded.rs`): the same sums in the same order, but
//! from a compact copy of `W` and over all rounds at once (temporal blocking), so the graph is
//! streamed from memory once per call instead of once per round.
//!
//! One file per job:
//!
//! | file | job |
//! | --- | --- |
//! | `mod.rs` | [`Mixer`]: the public entry point, `W` plus an optional relabelling |
//! | `weights.rs` | [`Weights`]: building `W`, its CSR accessors, lossless `mix` (picks the path) |
//! | `gather.rs` | the plain CSR kernel: rounds of `y = W x` on any graph and block width |
//! | `halo.rs` | [`HaloRows`]: a part's rows of the rounds, from its values and its halo's |
//! | `banded.rs` | the banded fast path: window slots, sentinels, temporal blocking |
//! | `relabel.rs` | [`Relabelling`]: kernels in the caller's node order, row permutations |
//! | `lossy.rs` | `mix_lossy`: rounds over links that fail at random |
//! | `track.rs` | `track`: dynamic average tracking |
//! | `spectral.rs` | `sigma2`: the second largest singular value of `W` |
//! | `spare.rs` | working buffers kept between calls |
//!
//! [`CHUNK`]: crate::pool::CHUNK
//! [`Graph::rcm_order`]: crate::graph::Graph::rcm_order

mod banded;
mod gather;
mod halo;
mod lossy;
mod relabel;
mod spare;
mod spectral;
#[cfg(test)]
mod test_support;
mod track;
mod weights;

pub use halo::{HaloRows, HaloRowsParts};
pub use lossy::{LinkFailures, STREAM_LINKS};
pub use relabel::Relabelling;
pub use weights::Weights;

use crate::error::{CoreError, Result};
use crate::graph::Graph;
use crate::interrupt::Interrupt;

/// The consensus kernels on the Metropolis–Hastings weights of a graph, in the caller's node order.
///
/// Built on a graph relabelled for locality (typically by [`Graph::rcm_order`]) with the
/// relabelling's `order`, every kernel takes and returns blocks in the caller's order: rows move
/// to the internal order and back once per call (through buffers kept between calls), and the
/// rounds run on the well-ordered graph. Without an order the graph's own order is the caller's.
///
/// Blocks are row-major `[n, cols]` `f32` slices: one row per node, one column per quantity.
/// Every kernel validates its arguments first and leaves them untouched on error.
///
/// The kernels that loop (over rounds, or power iterations) ask their `interrupt` between chunks
/// of work, about every [`CHECK_INTERVAL`], always on the calling thread. When it returns an
/// error (Ctrl-C: [`CoreError::Interrupted`]) the kernel stops and returns that error; a block
/// being mixed in place then holds the result of some whole number of rounds (or is untouched,
/// with a relabelling). Pass [`Never`] to run uninterrupted.
///
/// [`CHECK_INTERVAL`]: crate::interrupt::CHECK_INTERVAL
/// [`Never`]: crate::interrupt::Never
#[derive(Debug, Clone, PartialEq)]
pub struct Mixer {
    weights: Weights,
    relabelling: Option<Relabelling>,
}

impl Mixer {
    /// The weights of `graph`. With `order`, `graph` is the relabelled graph: its node `i` is the
    /// caller's node `order[i]`, and `order` must be a permutation of `0..num_nodes`
    /// ([`CoreError::Shape`] named `order` for a wrong length, [`CoreError::InvalidValue`] named
    /// `order` otherwise).
    pub fn new(graph: &Graph, order: Option<&[u32]>) -> Result<Self> {
        let n = graph.num_nodes();
        let relabel_bytes = if order.is_some() { 8 * n as u64 } else { 0 };
        crate::memory::check(
            crate::memory::Request::new("num_nodes", n, "nodes"),
            Weights::peak_bytes(n, graph.indices().len()).saturating_add(relabel_bytes),
        )?;
        let relabelling = match order {
            Some(order) if order.len() != n => {
                return Err(CoreError::shape(
                    "order",
                    format!("{n} entries (one per node)"),
                    format!("{} entries", order.len()),
                ));
            }
            Some(order) => Some(Relabelling::new(order)?),
            None => None,
        };
        Ok(Self {
            weights: Weights::metropolis(graph)?,
            relabelling,
        })
    }

    /// Number of nodes.
    #[must_use]
    pub fn num_nodes(&self) -> usize {
        self.weights.num_nodes()
    }

    /// `W`, in the order of the graph it was built on.
    #[must_use]
    pub fn weights(&self) -> &Weights {
        &self.weights
    }

    /// The relabelling from the caller's order to the graph's, if any.
    #[must_use]
    pub fn relabelling(&self) -> Option<&Relabelling> {
        self.relabelling.as_ref()
    }

    /// Applies `x <- W x` `rounds` times to every column of `x`.
    ///
    /// Row `i` becomes `W_ii * x_i + sum_j W_ij * x_j`, accumulated in `f32` with the diagonal
    /// term first and the neighbours in CSR order, so results do not depend on the thread count.
    /// `cols == 0` and non-finite values are [`CoreError::InvalidValue`] (named `cols` and `x`), a
    /// length other than `num_nodes * cols` is a [`CoreError::Shape`] named `x`.
    pub fn mix(
        &self,
        x: &mut [f32],
        cols: usize,
        rounds: usize,
        interrupt: &dyn Interrupt,
    ) -> Result<()> {
        self.weights.check_block("x", x, cols)?;
        self.in_graph_order("x", x, cols, |x| {
            self.weights.mix(x, cols, rounds, interrupt)
        })
    }

    /// Like [`Mixer::mix`], over links that fail at random as `links` says (the failures are
    /// drawn on the graph's own node numbers). Every round's matrix is still symmetric and
    /// doubly stochastic, so the column means are kept. `links.drop_prob` outside `[0, 1]` is a
    /// [`CoreError::InvalidValue`] named `drop_prob`.
    pub fn mix_lossy(
        &self,
        x: &mut [f32],
        cols: usize,
        rounds: usize,
        links: LinkFailures,
        interrupt: &dyn Interrupt,
    ) -> Result<()> {
        links.check()?;
        self.weights.check_block("x", x, cols)?;
        self.in_graph_order("x", x, cols, |x| {
            self.weights.mix_lossy(x, cols, rounds, links, interrupt)
        })
    }

    /// Dynamic average tracking: `y <- W^rounds y + (g_new - g_old)`, all `[n, cols]` blocks.
    ///
    /// If `y` starts at `g` and the signals change from `g_old` to `g_new` between calls, the
    /// column means of `y` always equal those of the current signal. Validation as in
    /// [`Mixer::mix`], with the names `y`, `g_new` and `g_old`.
    pub fn track(
        &self,
        y: &mut [f32],
        g_new: &[f32],
        g_old: &[f32],
        cols: usize,
        rounds: usize,
        interrupt: &dyn Interrupt,
    ) -> Result<()> {
        self.weights.check_track(y, g_new, g_old, cols)?;
        let Some(r) = &self.relabelling else {
            return self.weights.track(y, g_new, g_old, cols, rounds, interrupt);
        };
        let g_new = r.to_internal("g_new", g_new, cols)?;
        let g_old = r.to_internal("g_old", g_old, cols)?;
        r.run_internal("y", y, cols, |y| {
            self.weights
                .track(y, &g_new, &g_old, cols, rounds, interrupt)
        })
    }

    /// The second largest singular value of `W` (the same in any node order), i.e. the largest
    /// `|eigenvalue|` of `W - (1/n) 1 1^T`: consensus error shrinks by about this factor per
    /// round, and `1 - sigma2` is the spectral gap.
    ///
    /// Power iteration in `f64` from a random start drawn from `seed`, stopping once the estimate
    /// moves by less than `tol`, or after `max_iter` products (at least one). Returns 0 for a
    /// single node; 1 (up to rounding) if the graph is disconnected.
    pub fn sigma2(
        &self,
        max_iter: usize,
        tol: f64,
        seed: u64,
        interrupt: &dyn Interrupt,
    ) -> Result<f64> {
        self.weights.sigma2(max_iter, tol, seed, interrupt)
    }

    /// `W` with its diagonal as CSR `(indptr, indices, data)`, in the order of the graph it was
    /// built on (see [`Weights::to_csr`]).
    #[must_use]
    pub fn to_csr(&self) -> (Vec<usize>, Vec<u32>, Vec<f32>) {
        self.weights.to_csr()
    }

    /// Runs `kernel` on `x` (validated) in the graph's node order: directly, or moved there and
    /// back (not back if `kernel` fails).
    fn in_graph_order(
        &self,
        name: &'static str,
        x: &mut [f32],
        cols: usize,
        kernel: impl FnOnce(&mut [f32]) -> Result<()>,
    ) -> Result<()> {
        match &self.relabelling {
            Some(r) => r.run_internal(name, x, cols, kernel),
            None => kernel(x),
        }
    }
}

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
    use crate::interrupt::Never;
    use crate::pool::{self, CHUNK};
    use proptest::prelude::*;

    #[test]
    fn a_relabelled_mixer_runs_the_kernels_on_the_relabelled_graph() {
        // Graphs of several blocks (the fast path, one sweep and several) and a small one.
        let small = Graph::random_geometric(3000, 0.03, 8).unwrap();
        let mut graphs = banded_graphs().to_vec();
        graphs.push(small);
        for g in graphs {
            let n = g.num_nodes();
            let order = g.rcm_order();
            let internal = g.permuted(&order).unwrap();
            let mixer = Mixer::new(&internal, Some(&order)).unwrap();
            let (w, relabelling) = (mixer.weights(), mixer.relabelling().unwrap());
            let x0 = random_values(2 * n, 31);
            // Runs a kernel through the mixer in the caller's order, and directly on the
            // internal copy, and compares row by row.
            let check =
                |cols: usize, what: &str, run: &dyn Fn(&mut [f32]), kernel: &dyn Fn(&mut [f32])| {
                    let x0 = &x0[..n * cols];
                    let mut caller = x0.to_vec();
                    run(&mut caller);
                    let mut expected = relabelling.to_internal("x", x0, cols).unwrap();
                    kernel(&mut expected);
                    for (i, &k) in order.iter().enumerate() {
                        let k = k as usize;
                        assert_eq!(
                            caller[k * cols..(k + 1) * cols],
                            expected[i * cols..(i + 1) * cols],
                            "{what}, cols={cols}"
                        );
                    }
                };
            for (cols, rounds) in [(1, 0), (1, 1), (1, 12), (2, 3)] {
                let what = format!("mix, rounds={rounds}");
                check(
                    cols,
                    &what,
                    &|x| mixer.mix(x, cols, rounds, &Never).unwrap(),
                    &|x| {
                        w.mix(x, cols, rounds, &Never).unwrap();
                    },
                );
            }
            let lossy = links(0.3, 4, 2);
            check(
                2,
                "mix_lossy",
                &|x| mixer.mix_lossy(x, 2, 3, lossy, &Never).unwrap(),
                &|x| {
                    w.mix_lossy(x, 2, 3, lossy, &Never).unwrap();
                },
            );
            let g = random_values(2 * n, 32);
            let (g_new, g_old) = (&g[..n], &g[n..]);
            let new_internal = relabelling.to_internal("g_new", g_new, 1).unwrap();
            let old_internal = relabelling.to_internal("g_old", g_old, 1).unwrap();
            check(
                1,
                "track",
                &|y| mixer.track(y, g_new, g_old, 1, 2, &Never).unwrap(),
                &|y| {
                    w.track(y, &new_internal, &old_internal, 1, 2, &Never)
                        .unwrap();
                },
            );
            assert!(matches!(
                Mixer::new(&internal, Some(&[0])),
                Err(CoreError::Shape { name: "order", .. })
            ));
        }
    }

    #[test]
    fn every_loop_stops_when_interrupted() {
        let stop = || Err(CoreError::Interrupted);
        let forever = 1usize << 40;
        let rcm = |g: Graph| g.permuted(&g.rcm_order()).unwrap();
        // The serial banded path, the parallel one (with two threads or more), and plain CSR.
        let graphs = [
            rcm(Graph::ring(1000, 1).unwrap()),
            rcm(Graph::ring(3 * CHUNK, 1).unwrap()),
            Graph::erdos_renyi(2000, 6.0, 1, true).unwrap(),
        ];
        for g in graphs {
            let n = g.num_nodes();
            let mixer = Mixer::new(&g, None).unwrap();
            let x0 = random_values(2 * n, 1);
            for cols in [1, 2] {
                let mut x = x0[..n * cols].to_vec();
                assert_eq!(
                    mixer.mix(&mut x, cols, forever, &stop),
                    Err(CoreError::Interrupted)
                );
                // Stopped between whole rounds: the column means are kept.
                for (a, b) in column_means(&x, cols)
                    .iter()
                    .zip(column_means(&x0[..n * cols], cols))
                {
                    assert!((a - b).abs() < 1e-4, "{a} vs {b}");
                }
            }
            let mut x = x0[..n].to_vec();
            let lossy = links(0.5, 1, 0);
            assert_eq!(
                mixer.mix_lossy(&mut x, 1, forever, lossy, &stop),
                Err(CoreError::Interrupted)
            );
            let (g_new, g_old) = (&x0[..n], &x0[n..]);
            assert_eq!(
                mixer.track(&mut x, g_new, g_old, 1, forever, &stop),
                Err(CoreError::Interrupted)
            );
            assert_eq!(
                mixer.sigma2(forever, 0.0, 1, &stop),
                Err(CoreError::Interrupted)
            );
            // With a relabelling an interrupted block is left untouched.
            let order: Vec<u32> = (0..n as u32).rev().collect();
            let relabelled = Mixer::new(&g, Some(&order)).unwrap();
            let mut x = x0[..n].to_vec();
            assert_eq!(
                relabelled.mix(&mut x, 1, forever, &stop),
                Err(CoreError::Interrupted)
            );
            assert_eq!(x, x0[..n]);
        }
    }

    #[test]
    fn a_relabelled_mixer_reports_bad_values_at_the_callers_index() {
        let ring = Graph::ring(4, 1).unwrap();
        let mixer = Mixer::new(&ring, Some(&[2, 0, 3, 1])).unwrap();
        let mut x = vec![0.0, 1.0, 2.0, f32::NAN];
        let Err(CoreError::InvalidValue { name, reason }) = mixer.mix(&mut x, 1, 1, &Never) else {
            panic!("NaN accepted");
        };
        assert_eq!(name, "x");
        assert!(reason.ends_with("at index 3"), "{reason}");
        assert!(matches!(
            Mixer::new(&ring, Some(&[0, 1, 1, 2])),
            Err(CoreError::InvalidValue { name: "order", .. })
        ));
    }

    #[test]
    #[allow(
        clippy::float_cmp,
        reason = "the rejected input must be bit-for-bit untouched"
    )]
    fn bad_inputs_are_errors_and_leave_the_state_alone() {
        let w = Mixer::new(&Graph::ring(5, 1).unwrap(), None).unwrap();
        let x0 = random_values(5, 1);
        let mut x = x0.clone();
        let name = |r: Result<()>| match r {
            Err(CoreError::InvalidValue { name, .. } | CoreError::Shape { name, .. }) => name,
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(name(w.mix(&mut x, 0, 1, &Never)), "cols");
        assert!(matches!(
            w.mix(&mut x, 2, 1, &Never),
            Err(CoreError::Shape { name: "x", .. })
        ));
        assert!(matches!(
            w.mix(&mut x[..4], 1, 1, &Never),
            Err(CoreError::Shape { name: "x", .. })
        ));
        let mut bad = x0.clone();
        bad[3] = f32::NAN;
        assert!(matches!(
            w.mix(&mut bad, 1, 1, &Never),
            Err(CoreError::InvalidValue { name: "x", .. })
        ));
        assert!(bad[..3] == x0[..3] && bad[4] == x0[4]);
        assert_eq!(name(w.track(&mut x, &x0[..4], &x0, 1, 1, &Never)), "g_new");
        assert_eq!(name(w.track(&mut x, &x0, &bad, 1, 1, &Never)), "g_old");
        assert_eq!(name(w.track(&mut bad.clone(), &x0, &x0, 1, 1, &Never)), "y");
        for p in [-0.1, 1.5, f32::NAN] {
            assert_eq!(
                name(w.mix_lossy(&mut x, 1, 1, links(p, 0, 0), &Never)),
                "drop_prob"
            );
        }
        assert_eq!(
            name(w.mix_lossy(&mut bad, 1, 1, links(0.5, 0, 0), &Never)),
            "x"
        );
        assert_eq!(x, x0);
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        // set_num_threads is process-wide: every thread-count comparison lives in this one test.
        let n = 3 * CHUNK + 7_000;
        let g = Graph::erdos_renyi(n, 6.0, 21, true).unwrap();
        let w = Weights::metropolis(&g).unwrap();
        let x0 = random_values(2 * n, 22);
        let run = |threads: usize| {
            pool::set_num_threads(threads);
            let mut single = x0[..n].to_vec();
            w.mix(&mut single, 1, 5, &Never).unwrap();
            let mut block = x0.clone();
            w.mix(&mut block, 2, 3, &Never).unwrap();
            let mut lossy = x0[..n].to_vec();
            w.mix_lossy(&mut lossy, 1, 4, links(0.3, 5, 0), &Never)
                .unwrap();
            let mut tracked = x0[..n].to_vec();
            w.track(&mut tracked, &x0[n..], &x0[..n], 1, 2, &Never)
                .unwrap();
            // Banded fast path: one sweep, and several (30 rounds exceed the halo cap).
            let banded: Vec<Vec<u32>> = banded_graphs()
                .iter()
                .flat_map(|g| {
                    let w = Weights::metropolis(g).unwrap();
                    [3, 30].map(|rounds| {
                        let mut x = x0[..g.num_nodes()].to_vec();
                        w.mix(&mut x, 1, rounds, &Never).unwrap();
                        x.iter().map(|v| v.to_bits()).collect()
                    })
                })
                .collect();
            (
                single,
                block,
                lossy,
                tracked,
                w.sigma2(30, 0.0, 3, &Never).unwrap().to_bits(),
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
            let w = Weights::metropolis(&g).unwrap();
            let x0: Vec<f32> = random_values(g.num_nodes() * cols, seed).iter().map(|v| 100.0 * v).collect();
            let tol = 1e-5 * max_abs(&x0).max(1e-3);
            let before = column_means(&x0, cols);
            let mut x = x0.clone();
            w.mix(&mut x, cols, rounds, &Never).unwrap();
            for (a, b) in column_means(&x, cols).iter().zip(&before) {
                prop_assert!((a - b).abs() <= tol, "mix: {} vs {}", a, b);
            }
            let mut x = x0.clone();
            w.mix_lossy(&mut x, cols, rounds, links(drop_prob, seed, 3), &Never).unwrap();
            for (a, b) in column_means(&x, cols).iter().zip(&before) {
                prop_assert!((a - b).abs() <= tol, "mix_lossy: {} vs {}", a, b);
            }
        }
    }
}
