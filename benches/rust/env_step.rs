//! Throughput of `DemandResponse::step` for N in {1e3, 1e4, 1e5, 1e6} agents.
//!
//! Heterogeneous agents (lognormal-like mean arrivals, spread of powers and costs) on two daily
//! profiles of 96 steps with morning and evening peaks. Criterion reports agent-steps/s
//! (`Throughput::Elements(N)`). Measurement times are short so the whole sweep takes about a
//! minute on 2 cores: `cargo bench -p samarl-core --bench env_step`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use samarl_core::env::{
    AgentIds, AgentParams, DemandResponse, DynamicsConfig, OBS_DIM, StepOutputs,
};
use samarl_core::rng::uniform_f32;

const STEPS_PER_DAY: usize = 96;

/// A deterministic pseudo-random value in `[0, 1)` for building the scenario.
fn h(i: usize, salt: u64) -> f32 {
    uniform_f32(salt, 1_000, i as u64, 0)
}

/// Two 96-step profiles with a morning and an evening peak, shifted by an hour between them.
fn profiles() -> Vec<f32> {
    let mut v = Vec::with_capacity(2 * STEPS_PER_DAY);
    for p in 0..2 {
        for k in 0..STEPS_PER_DAY {
            let hour = 24.0 * k as f32 / STEPS_PER_DAY as f32;
            let peak = |centre: f32, width: f32| (-((hour - centre) / width).powi(2)).exp();
            let shift = p as f32;
            v.push(0.4 + 1.0 * peak(7.5 + shift, 1.5) + 1.6 * peak(19.0 - shift, 2.0));
        }
    }
    v
}

fn build(n: usize) -> DemandResponse {
    // Box-Muller on two uniforms for a lognormal mean arrival around 0.5 kWh per step.
    let lognormal = |i: usize| {
        let (u1, u2) = (f64::from(h(i, 1)).max(1e-7), f64::from(h(i, 2)));
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        (0.5 * (0.4 * z).exp()) as f32
    };
    let params = AgentParams {
        mean_arrival: (0..n).map(lognormal).collect(),
        max_power: (0..n).map(|i| 3.0 + 8.0 * h(i, 3)).collect(),
        cost_linear: (0..n).map(|i| 0.5 + h(i, 4)).collect(),
        cost_quadratic: (0..n).map(|i| 0.2 * h(i, 5)).collect(),
        profile_id: (0..n).map(|i| u32::from(h(i, 6) < 0.5)).collect(),
    };
    let config = DynamicsConfig {
        dt_hours: 0.25,
        steps_per_day: STEPS_PER_DAY,
        noise: 0.3,
        profiles: profiles(),
        agents: AgentIds::default(),
    };
    DemandResponse::new(params, config).expect("valid benchmark scenario")
}

fn env_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("env_step");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for n in [1_000, 10_000, 100_000, 1_000_000] {
        let mut env = build(n);
        let actions: Vec<f32> = (0..n).map(|i| 1.2 * h(i, 7) - 0.1).collect();
        let mut obs = vec![0.0f32; n * OBS_DIM];
        let (mut reward, mut used, mut served, mut arrived) =
            (vec![0.0; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        env.reset(7, None, &mut obs).expect("reset");
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                env.step(
                    black_box(&actions),
                    StepOutputs {
                        obs: &mut obs,
                        reward: &mut reward,
                        resource_use: &mut used,
                        served: &mut served,
                        arrived: &mut arrived,
                    },
                )
                .expect("step");
            });
        });
    }
    group.finish();
}

criterion_group!(benches, env_step);
criterion_main!(benches);
