//! Rosenbrock: one hyper-dual pass, one k-direction pass, and a derivative check.
//!
//! Run with `cargo run --release --example rosenbrock`.

use fomoh::prelude::*;

/// The chained Rosenbrock function (as `scipy.optimize.rosen`), written once over `Scalar`.
fn rosenbrock<S: Scalar>(x: &[S]) -> S {
    let (one, hundred) = (S::one(), S::from_f64(100.0));
    (0..x.len() - 1).map(|i| hundred * (x[i + 1] - x[i] * x[i]).powi(2) + (one - x[i]).powi(2)).sum()
}

/// The directions of BENCHMARKS.md: `u_j[i] = sin((i + 1) sqrt(j + 2))`.
fn direction(j: usize, n: usize) -> Vec<f64> {
    (0..n).map(|i| ((i + 1) as f64 * ((j + 2) as f64).sqrt()).sin()).collect()
}

pub fn main() -> Result<(), fomoh::Error> {
    let n = 100;
    let x: Vec<f64> = (0..n).map(|i| if i % 2 == 0 { -1.2 } else { 1.0 }).collect();
    let (v1, v2) = (direction(0, n), direction(1, n));

    let hd = fomoh::hyper_dual(rosenbrock, &x, &v1, &v2)?;
    println!("Rosenbrock n = {n} at the benchmark point (reference values in BENCHMARKS.md):");
    println!("  f(x)     = {}", hd.re);
    println!("  ∇f·v1    = {}", hd.e1);
    println!("  ∇f·v2    = {}", hd.e2);
    println!("  v1ᵀH v2  = {}", hd.e12);
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs();
    assert!(close(hd.re, 24926.0) && close(hd.e1, -79.69491890850065));
    assert!(close(hd.e2, -128.45683047043926) && close(hd.e12, -17712.525222275966));

    let dirs: [Vec<f64>; 4] = core::array::from_fn(|j| direction(j, n));
    let p = fomoh::hyperplane(rosenbrock, &x, &dirs)?;
    println!("One k-direction pass, K = 4:");
    println!("  grad = {:?}", p.grad);
    for row in &p.hess {
        println!("  H    = {row:?}");
    }

    let f = fomoh::scalar_fn!(rosenbrock);
    let report = fomoh::check::hyper_dual(&f, &x, &v1, &v2)?;
    println!("Finite-difference check of the hyper-dual lanes: {report}");
    report.assert_ok();
    let report = fomoh::check::hyperplane(&f, &x, &dirs)?;
    println!("Finite-difference check of the K = 4 block: {report}");
    report.assert_ok();
    assert!(close(p.hess[0][1], hd.e12)); // the block's (0, 1) entry is the hyper-dual pass's v1ᵀHv2
    Ok(())
}
