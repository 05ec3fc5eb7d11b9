//! The JIT on a loss: trace a function written over `Scalar` once, then run its forward
//! passes as native code (Cranelift). Data bound at call time, branches (traced again as
//! needed, or strict), and a tensor program with inputs bound per batch.
//!
//! Run with `cargo run --release --example jit_loss`.

use fomoh::jit::{Retracing, TensorBuilder};
use fomoh::prelude::*;

/// Mean squared error of the line `w0 x + w1` on data (`xs`, `ys` are passive: the same
/// number type, no tangent).
fn mse<S: Scalar>(w: &[S], xs: &[S], ys: &[S]) -> S {
    let mut s = S::zero();
    for (&x, &y) in xs.iter().zip(ys) {
        let r = w[0] * x + w[1] - y;
        s += r * r;
    }
    s / S::from_f64(xs.len() as f64)
}

/// The Huber loss of the same residuals: it branches on traced values.
#[derive(Clone)]
struct Huber {
    xs: Vec<f64>,
    ys: Vec<f64>,
    delta: f64,
}

impl ScalarFn for Huber {
    fn eval<S: Scalar>(&self, w: &[S]) -> S {
        let delta = S::from_f64(self.delta);
        let mut s = S::zero();
        for (&x, &y) in self.xs.iter().zip(&self.ys) {
            let r = w[0] * S::from_f64(x) + w[1] - S::from_f64(y);
            s += if r.abs() <= delta {
                S::from_f64(0.5) * r * r
            } else {
                delta * (r.abs() - S::from_f64(0.5) * delta)
            };
        }
        s
    }
}

pub fn main() -> Result<(), fomoh::Error> {
    let xs: Vec<f64> = (0..50).map(|i| i as f64 / 10.0).collect();
    let ys: Vec<f64> = xs.iter().map(|x| 3.0 * x - 1.0 + 0.1 * (7.0 * x).sin()).collect();

    // 1. compile_with_inputs: trace once, bind the data at call time (one program serves
    //    every data set of these lengths), run any mode.
    let program = fomoh::jit::compile_with_inputs(2, &[xs.len(), ys.len()], |w, d| mse(w, d[0], d[1]))?;
    let data = program.bind(&[&xs, &ys])?;
    let (w, v1, v2) = ([0.5, 0.5], [1.0, 0.0], [0.0, 1.0]);
    let compiled = data.hyper_dual(&w, &v1, &v2)?;
    let (cx, cy): (Vec<HyperDual<f64>>, Vec<HyperDual<f64>>) = (
        xs.iter().map(|&x| HyperDual::constant(x)).collect(),
        ys.iter().map(|&y| HyperDual::constant(y)).collect(),
    );
    let runtime = fomoh::hyper_dual(|w| mse(w, &cx, &cy), &w, &v1, &v2)?;
    assert!((compiled.e12 - runtime.e12).abs() < 1e-12 * runtime.e12.abs());
    let p = data.project(&w, &[v1.to_vec(), v2.to_vec()])?; // K = 2 directions, one pass
    assert!((p.hess[1][1] - 2.0).abs() < 1e-12); // ∂²/∂w1² of the mean of r² is 2

    // A bound program is an Objective: the optimizers run on native code.
    let mut theta = vec![0.0, 0.0];
    let report =
        FomohKd::new(2).learning_rate(1.0).seed(1).minimize(&data, &mut theta, &Options::iterations(3))?;
    println!("mse fit: w = {theta:?}, loss {:.3e} -> {:.3e}", report.losses[0], report.final_loss());
    assert!((theta[0] - 3.0).abs() < 0.05 && (theta[1] + 1.0).abs() < 0.1);
    let shifted: Vec<f64> = ys.iter().map(|y| y + 1.0).collect();
    let other = program.bind(&[&xs, &shifted])?; // new data, same code: no tracing, no compiling
    assert!((other.value(&[theta[0], theta[1] + 1.0])? - data.value(&theta)?).abs() < 1e-12);

    // 2. compile: a branch in every term (the Huber residual) becomes a select, so one
    //    program serves every residual pattern; other branches are guarded and traced again.
    //    compile_at traces once at a point (strict: another branch is an error).
    let huber = Huber { xs: xs.clone(), ys: ys.clone(), delta: 1.0 };
    let h = huber.clone();
    let any_branch = fomoh::jit::compile(2, move |w| h.eval(w))?;
    let far = any_branch.value(&[0.0, 0.0])?; // residuals beyond delta
    let near = any_branch.value(&theta)?; // residuals within delta: the same program
    assert!((far - huber.eval(&[0.0f64, 0.0])).abs() < 1e-12 * far.abs());
    assert!(near < far && any_branch.variants() == 1);
    let at_fit = fomoh::jit::compile_at(&theta, |w| huber.eval(w))?;
    assert!(at_fit.value(&theta).is_ok());
    let strict = at_fit.value(&[0.0, 0.0]);
    assert!(
        matches!(strict, Err(fomoh::Error::GuardFailed(_))),
        "residuals beyond delta take the other branch"
    );

    // 3. Retracing: an Objective that traces again for each new branch pattern it meets.
    let reference = fomoh::hyper_dual(|w| huber.eval(w), &[0.0, 0.0], &v1, &v2)?;
    let retracing = Retracing::new(2, huber);
    let far = retracing.hyper_dual(&[0.0, 0.0], &v1, &v2)?; // traced at (0, 0)
    assert!((far.e1 - reference.e1).abs() < 1e-12 * reference.e1.abs());
    let mut w = vec![2.5, 0.0]; // residuals on both sides of delta
    let report =
        Fgd::new().learning_rate(1e-3).seed(2).minimize(&retracing, &mut w, &Options::iterations(100))?;
    println!(
        "huber fit: w = {w:?}, loss {:.4} -> {:.4}, {} traced variants",
        report.losses[0],
        report.final_loss(),
        retracing.variants()
    );
    assert!(report.final_loss() < report.losses[0]);
    assert!(retracing.variants() >= 2);

    // 4. A tensor program: the loss as a few tensor nodes, the data as inputs bound per batch.
    let (rows, d) = (4, 2);
    let mut b = TensorBuilder::new(d);
    let x = b.input(0, &[rows, d])?;
    let y = b.input(1, &[rows, 1])?;
    let w = b.param(0, &[d, 1])?;
    let pred = b.matmul(x, w)?;
    let r = b.sub(pred, y)?;
    let r2 = b.mul(r, r)?;
    let total = b.sum(r2);
    let scale = b.constant(1.0 / rows as f64);
    let loss = b.mul(scale, total)?;
    let tensor_program = b.finish(loss)?;
    let batch_x = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 2.0, -1.0];
    let batch_y: Vec<f64> = batch_x.chunks(2).map(|r| 2.0 * r[0] - r[1]).collect(); // w* = (2, -1)
    let batch = tensor_program.bind(&[&batch_x, &batch_y])?; // an Objective for this batch
    let mut theta = vec![0.0, 0.0];
    FomohKd::new(2).learning_rate(1.0).seed(3).minimize(&batch, &mut theta, &Options::iterations(2))?;
    println!("tensor program fit: w = {theta:?}");
    assert!(batch.value(&theta)? < 1e-20);
    Ok(())
}
