//! Helpers shared by the consensus tests.

use proptest::collection::vec;
use proptest::prelude::*;
use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::{Rng, SeedableRng};

use super::{LinkFailures, Weights};
use crate::graph::Graph;
use crate::pool::CHUNK;

pub(super) fn random_values(len: usize, seed: u64) -> Vec<f32> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    (0..len)
        .map(|_| (rng.next_u64() >> 40) as f32 / 8_388_608.0 - 1.0)
        .collect()
}

/// `W` as a dense `f64` matrix.
pub(super) fn dense(w: &Weights) -> Vec<Vec<f64>> {
    let n = w.num_nodes();
    let (indptr, indices, data) = w.to_csr();
    let mut a = vec![vec![0.0; n]; n];
    for i in 0..n {
        for k in indptr[i]..indptr[i + 1] {
            a[i][indices[k] as usize] = f64::from(data[k]);
        }
    }
    a
}

pub(super) fn column_means(x: &[f32], cols: usize) -> Vec<f64> {
    let rows = x.len() / cols;
    (0..cols)
        .map(|c| {
            x.iter()
                .skip(c)
                .step_by(cols)
                .map(|&v| f64::from(v))
                .sum::<f64>()
                / rows as f64
        })
        .collect()
}

pub(super) fn max_abs(x: &[f32]) -> f64 {
    x.iter().fold(0.0f64, |m, &v| m.max(f64::from(v.abs())))
}

pub(super) fn arb_graph(max_n: usize) -> impl Strategy<Value = Graph> {
    (1..max_n)
        .prop_flat_map(|n| (Just(n), vec((0..n as u32, 0..n as u32), 0..3 * n)))
        .prop_map(|(n, edges)| Graph::from_edges(n, &edges).unwrap())
}

/// Banded graphs of several blocks: a grid and a random geometric graph in RCM order.
pub(super) fn banded_graphs() -> [Graph; 2] {
    let n = 3 * CHUNK;
    let rgg = Graph::random_geometric(n, (6.0 / (std::f64::consts::PI * n as f64)).sqrt(), 5);
    let rgg = rgg.unwrap();
    [
        Graph::grid_2d(200, 300).unwrap(),
        rgg.permuted(&rgg.rcm_order()).unwrap(),
    ]
}

/// [`LinkFailures`] from its fields.
pub(super) fn links(drop_prob: f32, seed: u64, round_offset: u64) -> LinkFailures {
    LinkFailures {
        drop_prob,
        seed,
        round_offset,
    }
}
