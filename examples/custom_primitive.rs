//! A user-defined primitive: a function with a closed-form derivative that is not in the list
//! of operations, declared once with its rule `(f, f', f'')` and used by every backend.
//!
//! Run with `cargo run --release --example custom_primitive`.

use fomoh::{HyperDual, Objective, Primitive, Scalar};

/// `x / (1 + |x|)`, a soft clip.
struct SoftClip;
impl Primitive for SoftClip {
    const NAME: &'static str = "example_softclip";
    fn rule(x: f64) -> (f64, f64, f64) {
        let d = 1.0 + x.abs();
        (x / d, 1.0 / (d * d), -2.0 * x.signum() / (d * d * d))
    }
}

/// Generic code applies it with `Scalar::custom`.
fn loss<S: Scalar>(x: &[S]) -> S {
    x[0].custom::<SoftClip>() * x[1]
}

/// `#[fomoh]` code calls `fomoh::custom::<P>(x)`.
#[fomoh::fomoh]
fn plain(x: &[f64]) -> f64 {
    fomoh::custom::<SoftClip>(x[0]) * x[1]
}

pub fn main() -> Result<(), fomoh::Error> {
    // First test the rule against finite differences.
    fomoh::check::primitive::<SoftClip>(&[-2.0, -0.5, 0.5, 2.0])?.assert_ok();

    // The runtime's numbers: at x0 = 1, f = 1/2, f' = 1/4, f'' = -1/4.
    let y = loss(&[HyperDual::new(1.0, 1.0, 1.0, 0.0), HyperDual::constant(2.0)]);
    assert_eq!((y.re, y.e1, y.e12), (1.0, 0.5, -0.5));

    // The JIT (a native call of the rule) and the macro agree with the runtime.
    let (x, v1, v2) = ([1.0, 2.0], [1.0, 0.0], [0.5, 1.0]);
    let runtime = fomoh::hyper_dual(loss, &x, &v1, &v2)?;
    let jit = fomoh::jit::compile(2, loss)?;
    let by_macro = plain::objective(2);
    for hd in [jit.hyper_dual(&x, &v1, &v2)?, by_macro.hyper_dual(&x, &v1, &v2)?] {
        assert_eq!((hd.re, hd.e1, hd.e2, hd.e12), (runtime.re, runtime.e1, runtime.e2, runtime.e12));
    }
    assert_eq!(plain(&x), 1.0);
    println!(
        "softclip: f = {}, ∇f·v1 = {}, ∇f·v2 = {}, v1ᵀHv2 = {}",
        runtime.re, runtime.e1, runtime.e2, runtime.e12
    );
    Ok(())
}
