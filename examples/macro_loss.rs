//! `#[fomoh]`: the forward passes of a plain `f64` function, generated at compile time. Only
//! the parameters listed in `wrt(...)` are active; passive data stays plain `f64`.
//!
//! Run with `cargo run --release --example macro_loss`.

use fomoh::fomoh;
use fomoh::prelude::*;

/// Mean logistic loss of a linear model with `dim` features and a bias, `w[dim]`.
#[fomoh(wrt(w))]
fn logistic(w: &[f64], xs: &[f64], ys: &[f64], dim: usize) -> f64 {
    let rows = ys.len();
    let mut loss = 0.0;
    for r in 0..rows {
        let mut z = w[dim];
        for j in 0..dim {
            z += w[j] * xs[r * dim + j];
        }
        loss += z.softplus() - ys[r] * z;
    }
    loss / rows as f64
}

pub fn main() -> Result<(), fomoh::Error> {
    let dim = 3;
    let xs: Vec<f64> = (0..60).map(|i| ((i * 7 % 11) as f64 / 5.0) - 1.0).collect();
    let ys: Vec<f64> =
        xs.chunks(dim).map(|x| if x[0] - x[1] + 0.5 * x[2] > 0.0 { 1.0 } else { 0.0 }).collect();
    let w = vec![0.1, -0.2, 0.3, 0.0];

    // The function is unchanged.
    let plain = logistic(&w, &xs, &ys, dim);

    // One hyper-dual pass from the generated code, as the runtime computes it on generic code.
    let (v1, v2) = (vec![1.0, 0.0, 0.0, 0.0], vec![0.0, 1.0, 0.0, 1.0]);
    let seeded: Vec<HyperDual<f64>> = (0..4).map(|i| HyperDual::seed(w[i], v1[i], v2[i])).collect();
    let generated = logistic::hyper_dual(&seeded, &xs, &ys, dim);
    let runtime = fomoh::hyper_dual(|w| logistic::generic(w, &xs, &ys, dim), &w, &v1, &v2)?;
    assert_eq!(generated.re, plain);
    assert!((generated.e12 - runtime.e12).abs() <= 1e-12 * runtime.e12.abs());

    // An Objective with the passive arguments captured: the optimizers run the generated code.
    let obj = logistic::objective(4, &xs, &ys, dim);
    fomoh::check::hessian(obj.function(), &w)?.assert_ok(); // name::Function is a ScalarFn
    let mut theta = w.clone();
    let report =
        FomohKd::new(4).learning_rate(1.0).seed(0).minimize(&obj, &mut theta, &Options::iterations(10))?;
    println!(
        "logistic loss {:.4} -> {:.2e} in {} passes",
        report.losses[0],
        report.final_loss(),
        report.passes
    );
    assert!(report.final_loss() < 0.5 * report.losses[0]);
    Ok(())
}
