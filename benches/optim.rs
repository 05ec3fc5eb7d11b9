//! Optimizer step cost: FoMoH-KD with the one-pass k-direction projection vs the paper's
//! k(k+1)/2 hyper-dual passes, and the per-step cost of FGD / FoMoH / Newton, on Rosenbrock.
//!
//! `cargo bench --bench optim` (criterion prints the times side by side per group).

mod common;

use common::rosenbrock;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use fomoh::optim::{Fgd, Fomoh, FomohKd, Newton, Optimizer};
use fomoh::{objective, scalar_fn, HyperDual, Objective};
use std::hint::black_box;
use std::time::Duration;

/// Rosenbrock through the trait's default `hyperplane` (pairwise hyper-dual passes).
struct Pairwise(usize);

impl Objective for Pairwise {
    fn dim(&self) -> usize {
        self.0
    }
    fn value(&self, x: &[f64]) -> fomoh::Result<f64> {
        Ok(rosenbrock(x))
    }
    fn hyper_dual(&self, x: &[f64], v1: &[f64], v2: &[f64]) -> fomoh::Result<HyperDual<f64>> {
        fomoh::hyper_dual(rosenbrock, x, v1, v2)
    }
}

fn step(c: &mut Criterion) {
    let n = 1000;
    let one_pass = objective(n, scalar_fn!(rosenbrock));
    let pairwise = Pairwise(n);
    let x0: Vec<f64> = (0..n).map(|i| if i % 2 == 0 { -1.2 } else { 1.0 }).collect();
    let mut g = c.benchmark_group("fomoh_kd_step_n1000");
    g.measurement_time(Duration::from_secs(2)).sample_size(20);
    for k in [2usize, 4, 8] {
        for (name, obj) in [("one_pass", &one_pass as &dyn Objective), ("pairwise", &pairwise)] {
            g.bench_with_input(BenchmarkId::new(name, k), &k, |b, &k| {
                let mut opt = FomohKd::new(k).learning_rate(1e-3).seed(1);
                b.iter(|| {
                    let mut x = x0.clone();
                    black_box(opt.step(obj, &mut x).unwrap());
                })
            });
        }
    }
    g.finish();

    let mut g = c.benchmark_group("step_n1000");
    g.measurement_time(Duration::from_secs(2)).sample_size(20);
    g.bench_function("fgd", |b| {
        let mut opt = Fgd::new().seed(1);
        b.iter(|| black_box(opt.step(&one_pass, &mut x0.clone()).unwrap()))
    });
    g.bench_function("fomoh", |b| {
        let mut opt = Fomoh::new().learning_rate(1e-3).seed(1);
        b.iter(|| black_box(opt.step(&one_pass, &mut x0.clone()).unwrap()))
    });
    g.finish();

    let n = 20;
    let obj = objective(n, scalar_fn!(rosenbrock));
    let x0: Vec<f64> = (0..n).map(|i| if i % 2 == 0 { -1.2 } else { 1.0 }).collect();
    let mut g = c.benchmark_group("second_order_n20");
    g.measurement_time(Duration::from_secs(2)).sample_size(20);
    g.bench_function("newton_210_passes", |b| {
        let mut opt = Newton::new();
        b.iter(|| black_box(opt.step(&obj, &mut x0.clone()).unwrap()))
    });
    g.bench_function("fomoh_kd16_one_pass", |b| {
        let mut opt = FomohKd::new(16).seed(1);
        b.iter(|| black_box(opt.step(&obj, &mut x0.clone()).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, step);
criterion_main!(benches);
