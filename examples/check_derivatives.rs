//! Derivative checks for your own tests: `fomoh::check` compares what forward mode computes
//! with central finite differences and reports the worst entry by name.
//!
//! Run with `cargo run --release --example check_derivatives`.

use fomoh::check::{self, Checker};
use fomoh::{scalar_fn, Primitive, Scalar};

/// A function with transcendental operations, written once over `Scalar`.
fn trans<S: Scalar>(x: &[S]) -> S {
    (x[0].sin() * x[1]).exp() + (S::one() + x[2] * x[2]).ln() * x[0].tanh()
}

/// `ln(1 + x²)` with its derivatives written by hand.
struct LogOnePlusSquare;
impl Primitive for LogOnePlusSquare {
    const NAME: &'static str = "example_log_one_plus_square";
    fn rule(x: f64) -> (f64, f64, f64) {
        let d = 1.0 + x * x;
        (d.ln(), 2.0 * x / d, 2.0 * (1.0 - x * x) / (d * d))
    }
}

/// The same function with a wrong second derivative (the factor `(1 - x²) / d` is missing).
struct WrongSecond;
impl Primitive for WrongSecond {
    const NAME: &'static str = "example_wrong_second";
    fn rule(x: f64) -> (f64, f64, f64) {
        let d = 1.0 + x * x;
        (d.ln(), 2.0 * x / d, 2.0 / d)
    }
}

pub fn main() -> Result<(), fomoh::Error> {
    let f = scalar_fn!(trans);
    let x = [0.3, -0.7, 1.1];
    let (v1, v2) = (vec![1.0, 0.5, -0.25], vec![0.0, -1.0, 1.5]);

    // Each lane of one hyper-dual pass, the gradient, the Hessian and a projection.
    let report = check::hyper_dual(&f, &x, &v1, &v2)?;
    println!("hyper_dual: {report}");
    report.assert_ok();
    check::gradient(&f, &x)?.assert_ok();
    check::hessian(&f, &x)?.assert_ok();
    check::hyperplane(&f, &x, &[v1.clone(), v2.clone()])?.assert_ok();

    // The same checks for a pass computed in f32, with tolerances suited to f32.
    let x32 = [0.3f32, -0.7, 1.1];
    Checker::for_type::<f32>().hessian(&f, &x32)?.assert_ok();

    // A projection computed elsewhere (here: tampered with) is checked entry by entry.
    let dirs = [v1, v2];
    let mut p = fomoh::hyperplane(trans, &x, &dirs)?;
    p.hess[0][1] += 1e-3;
    p.hess[1][0] += 1e-3;
    let report = Checker::default().projection(&f, &x, &p, &dirs)?;
    println!("tampered projection: {report}");
    assert!(!report.passed());
    assert_eq!(report.failures[0].location, "hess[0][1]");

    // A user's rule: a correct one passes, a wrong f'' is caught at every point.
    check::primitive::<LogOnePlusSquare>(&[-2.0, 0.0, 0.5, 3.0])?.assert_ok();
    let report = check::primitive::<WrongSecond>(&[-2.0, 0.5, 3.0])?;
    println!("wrong rule: {report}");
    assert_eq!(report.failures.len(), 3);
    assert!(report.failures.iter().all(|m| m.location.ends_with("v1ᵀHv2")));
    Ok(())
}
