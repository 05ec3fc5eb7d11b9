//! Tensor JIT benchmark: extended Rosenbrock n = 10^6, logistic regression 64-10 (batch
//! 1797) and MLP 64-32-10 (batch 256) from `BENCHMARKS.md`, each compiled once per mode.
//!
//! `cargo bench --bench jit_tensor`. Prints, side by side in one run: the JIT primal,
//! hyper-dual, K = 4 and K = 8 passes (and their ratios to the JIT primal and to an `f64`
//! primal outside the JIT: Rosenbrock's plain loop, the models' reference interpreter), the
//! comparison paths (Rosenbrock: the plain `f64` loop and the runtime's scalar
//! `hyper_dual`; models: the tensor reference interpreter over `f64` and over the runtime's
//! `HyperDual<f64>`), and the compile time of every mode.

mod common;

use fomoh::HyperDual;
use fomoh_jit::tensor::models;
use fomoh_jit::{Mode, TensorProgram};
use fomoh_runtime::Scalar;
use std::hint::black_box;
use std::time::Duration;

fn rosenbrock<S: Scalar>(x: &[S]) -> S {
    let (one, hundred) = (S::one(), S::from_f64(100.0));
    (0..x.len() - 1).map(|i| hundred * (x[i + 1] - x[i] * x[i]).powi(2) + (one - x[i]).powi(2)).sum()
}

fn dirs(n: usize, k: usize) -> Vec<Vec<f64>> {
    (0..k).map(|j| common::direction(j, n)).collect()
}

/// Median over 5 batches of the time per call; each batch runs at least 40 ms.
fn time<R>(f: impl FnMut() -> R) -> f64 {
    common::time_median(5, Duration::from_millis(40), f)
}

fn digits(rows: usize) -> (Vec<f64>, Vec<usize>) {
    let text = include_str!("../fomoh-jit/tests/data/digits.csv");
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for line in text.lines().skip(1).take(rows) {
        let v: Vec<f64> = line.split(',').map(|t| t.trim().parse().unwrap()).collect();
        x.extend(v[..64].iter().map(|p| p / 16.0));
        y.push(v[64] as usize);
    }
    (x, y)
}

/// `others[0]` is the `f64` primal the second ratio column refers to.
fn report(name: &str, p: &TensorProgram, x: &[f64], others: &[(&str, f64)]) -> Result<(), fomoh::Error> {
    let n = x.len();
    let u = dirs(n, 8);
    println!("== {name} (n = {n}) ==");
    for mode in [Mode::Primal, Mode::HyperDual, Mode::HyperK(4), Mode::HyperK(8)] {
        let s = p.prepare(mode)?;
        println!(
            "compile {mode:?}: {:.2} ms ({} loops ({} preaccumulated), {} matmuls, {} staged nodes)",
            s.compile_time.as_secs_f64() * 1e3,
            s.loops,
            s.preaccumulated_loops,
            s.matmuls,
            s.staged_nodes
        );
    }
    let t0 = time(|| p.value(x).unwrap());
    let thd = time(|| p.hyper_dual(x, &u[0], &u[1]).unwrap());
    let t4 = time(|| p.project(x, &u[..4]).unwrap());
    let t8 = time(|| p.project(x, &u[..8]).unwrap());
    let ms = |t: f64| t * 1e3;
    let (base, tb) = others[0];
    println!("jit primal      {:>10.3} ms   1.00x jit primal   {:>6.2}x {base}", ms(t0), t0 / tb);
    for (what, t, target) in [("jit hyper-dual", thd, 3), ("jit K=4", t4, 8), ("jit K=8", t8, 20)] {
        println!(
            "{what:<15} {:>10.3} ms   {:.2}x jit primal   {:>6.2}x {base}   (target <= {target})",
            ms(t),
            t / t0,
            t / tb
        );
    }
    for (what, t) in others {
        println!(
            "{what:<40} {:>10.3} ms   {:.2}x jit primal, {:.2}x jit hyper-dual",
            ms(*t),
            t / t0,
            t / thd
        );
    }
    println!();
    Ok(())
}

fn main() -> Result<(), fomoh::Error> {
    let n = 1_000_000;
    let x: Vec<f64> = (0..n).map(|i| if i % 2 == 0 { -1.2 } else { 1.0 }).collect();
    let u = dirs(n, 2);
    let p = models::rosenbrock(n)?;
    let tf = time(|| rosenbrock::<f64>(black_box(&x)));
    let trt = time(|| fomoh::hyper_dual(rosenbrock, &x, &u[0], &u[1]).unwrap());
    report(
        "extended Rosenbrock (tensor form)",
        &p,
        &x,
        &[("plain f64 loop (primal)", tf), ("runtime scalar hyper_dual", trt)],
    )?;

    let theta = |n: usize| -> Vec<f64> { (0..n).map(|k| 0.1 * ((k + 1) as f64).sin()).collect() };
    for (name, p) in [
        ("logreg 64-10, batch 1797", {
            let (xs, ys) = digits(1797);
            models::logreg(xs, &ys, 64, 10)?
        }),
        ("MLP 64-32-10 tanh, batch 256", {
            let (xs, ys) = digits(256);
            models::mlp(xs, &ys, 64, 32, 10)?
        }),
    ] {
        let th = theta(p.dim());
        let u = dirs(p.dim(), 2);
        let ti = time(|| p.interpret::<f64>(&th).unwrap());
        let seeded: Vec<HyperDual<f64>> =
            (0..th.len()).map(|i| HyperDual::seed(th[i], u[0][i], u[1][i])).collect();
        let tih = time(|| p.interpret(&seeded).unwrap());
        report(
            name,
            &p,
            &th,
            &[("interpreter, f64 (naive loops)", ti), ("interpreter, runtime HyperDual<f64>", tih)],
        )?;
    }
    Ok(())
}
