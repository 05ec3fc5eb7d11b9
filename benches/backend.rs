//! One FoMoH-KD step (k = 4) on the chained Rosenbrock function, n = 1000, on each backend
//! of `fomoh rosenbrock --backend`: the runtime's generic path, the JIT (rerolled into a
//! tensor loop, the default; and straight-line, `Options::reroll = false`), and `#[fomoh]`.
//! Printed side by side with ratios, measured in one run: `cargo bench --bench backend`
//! (set `FOMOH_BACKEND_BENCH_N=100,1000` to change sizes).

mod common;

use common::rosenbrock;

use fomoh::prelude::*;
use fomoh::{fomoh, Optimizer};
use std::hint::black_box;
use std::time::Instant;

/// The plain-`f64` Rosenbrock of the CLI's macro backend.
#[fomoh]
fn rosenbrock_f64(x: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..x.len() - 1 {
        s += 100.0 * (x[i + 1] - x[i] * x[i]).powi(2) + (1.0 - x[i]).powi(2);
    }
    s
}

/// Median over 9 batches of the seconds per step (each batch ≥ 20 ms).
fn time_step(obj: &dyn Objective, x0: &[f64]) -> f64 {
    let mut opt = FomohKd::new(4).seed(7);
    let mut x = x0.to_vec();
    let mut step = || {
        x.copy_from_slice(x0);
        black_box(opt.step(obj, &mut x).expect("step"));
    };
    let mut reps = 1;
    loop {
        let t = Instant::now();
        (0..reps).for_each(|_| step());
        if t.elapsed().as_secs_f64() > 0.02 {
            break;
        }
        reps *= 2;
    }
    let mut v: Vec<f64> = (0..9)
        .map(|_| {
            let t = Instant::now();
            (0..reps).for_each(|_| step());
            t.elapsed().as_secs_f64() / reps as f64
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v[4]
}

fn main() -> Result<(), fomoh::Error> {
    let sizes = common::env_sizes("FOMOH_BACKEND_BENCH_N", &[1000]);
    println!("FoMoH-KD step, k = 4, chained Rosenbrock (median µs per step, one run)");
    println!(
        "{:>6} {:>10} {:>10} {:>12} {:>10} {:>14} {:>14} {:>12}",
        "n", "runtime", "jit", "jit straight", "macro", "runtime/jit", "runtime/macro", "jit compile"
    );
    for n in sizes {
        let x0: Vec<f64> = (0..n).map(|i| if i % 2 == 0 { -1.2 } else { 1.0 }).collect();
        let runtime = objective(n, fomoh::scalar_fn!(rosenbrock));
        let t = Instant::now();
        let jit = fomoh::jit::compile(n, rosenbrock)?;
        // The first step compiles the K = 4 kernel: time tracing + code generation once.
        let mut warm = x0.clone();
        FomohKd::new(4).step(&jit, &mut warm)?;
        let compile = t.elapsed().as_secs_f64();
        // the same trace as straight-line code (rerolling off)
        let straight = fomoh::jit::Options { reroll: false, ..fomoh::jit::Options::default() };
        let jit_straight = fomoh::jit::compile_with(n, rosenbrock, &straight)?;
        let macro_ = rosenbrock_f64::objective(n);
        let (r, j, m) = (time_step(&runtime, &x0), time_step(&jit, &x0), time_step(&macro_, &x0));
        let js = time_step(&jit_straight, &x0);
        println!(
            "{n:>6} {:>10.1} {:>10.1} {:>12.1} {:>10.1} {:>14.2} {:>14.2} {:>9.1} ms",
            r * 1e6,
            j * 1e6,
            js * 1e6,
            m * 1e6,
            r / j,
            r / m,
            compile * 1e3
        );
    }
    Ok(())
}
