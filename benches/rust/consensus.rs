//! `Mixer::mix` with K = 10 rounds on one column, on graphs of mean degree 6 (a random geometric
//! graph, the headline, and a connected Erdős–Rényi graph), in the generated node order and after
//! reverse Cuthill–McKee relabelling (which takes the banded fast path on the geometric graph).
//!
//! Throughput is `n` elements per call, so agent-rounds/s = elements/s x ROUNDS.
//!
//! `mix_rounds` checks that the cost is linear in K: one call of K = 2,000 and of K = 64,000
//! rounds on a ring of 1,000 nodes in RCM order (throughput `n * K`, so the two agent-rounds/s
//! figures should match).

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use samarl_core::consensus::Mixer;
use samarl_core::graph::Graph;
use samarl_core::interrupt::Never;

const ROUNDS: usize = 10;
const MEAN_DEGREE: f64 = 6.0;
const SEED: u64 = 7;

fn mix(c: &mut Criterion) {
    let mut group = c.benchmark_group("mix_k10");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for n in [1_000usize, 10_000, 100_000, 1_000_000] {
        let radius = (MEAN_DEGREE / (std::f64::consts::PI * n as f64)).sqrt();
        let geometric = Graph::random_geometric(n, radius, SEED).expect("valid parameters");
        let er = Graph::erdos_renyi(n, MEAN_DEGREE, SEED, true).expect("valid parameters");
        let x0: Vec<f32> = (0..n).map(|i| (i % 1000) as f32 / 1000.0).collect();
        group.throughput(Throughput::Elements(n as u64));
        for (name, given) in [("geometric", &geometric), ("erdos_renyi", &er)] {
            let rcm = given
                .permuted(&given.rcm_order())
                .expect("rcm_order is a permutation");
            for (order, graph) in [("given", given), ("rcm", &rcm)] {
                let mixer = Mixer::new(graph, None).expect("no relabelling to check");
                let mut x = x0.clone();
                let id = BenchmarkId::new(format!("{name}/{order}"), n);
                group.bench_with_input(id, &mixer, |b, w| {
                    b.iter(|| {
                        w.mix(black_box(&mut x), 1, ROUNDS, &Never)
                            .expect("finite input");
                    });
                });
            }
        }
    }
    group.finish();
}

fn mix_rounds(c: &mut Criterion) {
    let mut group = c.benchmark_group("mix_rounds");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    let n = 1_000;
    let ring = Graph::ring(n, 1).expect("valid parameters");
    let rcm = ring
        .permuted(&ring.rcm_order())
        .expect("rcm_order is a permutation");
    let mixer = Mixer::new(&rcm, None).expect("no relabelling to check");
    let mut x: Vec<f32> = (0..n).map(|i| (i % 7) as f32).collect();
    for rounds in [2_000usize, 64_000] {
        group.throughput(Throughput::Elements((n * rounds) as u64));
        group.bench_with_input(BenchmarkId::new("ring_1000", rounds), &rounds, |b, &k| {
            b.iter(|| {
                mixer
                    .mix(black_box(&mut x), 1, k, &Never)
                    .expect("finite input");
            });
        });
    }
    group.finish();
}

criterion_group!(benches, mix, mix_rounds);
criterion_main!(benches);
