//! The convention "a zero tangent contributes exactly zero" (docs/bad-input.md): a
//! chain-rule term whose tangent factor is exactly zero is exactly zero, even where the
//! derivative it multiplies is ±∞ or NaN (`sqrt`, `ln`, `powf(0.5)`, `cbrt` at 0, a division
//! by 0). A singular input does not poison the directions that do not move it, while a
//! nonzero tangent through an infinite derivative still gives ±∞/NaN. The runtime numbers
//! (`HyperDual`, `Jet`, `HyperK`), the runtime tensors and `#[fomoh]` here; the JIT in
//! `fomoh-jit/tests/zero_tangent.rs`.

use fomoh::tensor::{ops, Params, Tensor};
use fomoh::{fomoh, BinaryOp, HyperDual, HyperK, Jet, Scalar, UnaryOp};

const INF: f64 = f64::INFINITY;

fn sqrt_plus<S: Scalar>(x: &[S]) -> S {
    x[0].sqrt() + x[1]
}
fn ln_plus<S: Scalar>(x: &[S]) -> S {
    x[0].ln() + x[1]
}
fn powf_plus<S: Scalar>(x: &[S]) -> S {
    x[0].powf(0.5) + x[1]
}
fn pow_plus<S: Scalar>(x: &[S]) -> S {
    x[0].pow(S::from_f64(0.5)) + x[1]
}
fn cbrt_plus<S: Scalar>(x: &[S]) -> S {
    x[0].cbrt() + x[1]
}
/// `|x0|` written as `sqrt(x0²)`: a kink whose inner tangent is 0 at 0 along every direction.
fn kink_plus<S: Scalar>(x: &[S]) -> S {
    (x[0] * x[0]).sqrt() + x[1]
}
/// A division by a 0 that does not move (value +∞).
fn recip_plus<S: Scalar>(x: &[S]) -> S {
    x[1] + S::one() / x[0]
}
/// A variable numerator over a 0 that does not move (value +∞).
fn div_plus<S: Scalar>(x: &[S]) -> S {
    x[1] + x[2] / x[0]
}

type Hd = fn(&[HyperDual<f64>]) -> HyperDual<f64>;
type Jt = fn(&[Jet<f64>]) -> Jet<f64>;
type Hk = fn(&[HyperK<f64, 2>]) -> HyperK<f64, 2>;

/// `(name, f over HyperDual, Jet, HyperK<2>, the value at x = (0, 3, 2))`.
macro_rules! cases {
    ($($f:ident => $v:expr;)*) => {
        vec![$((stringify!($f), $f::<HyperDual<f64>> as Hd, $f::<Jet<f64>> as Jt, $f::<HyperK<f64, 2>> as Hk, $v)),*]
    };
}

fn cases() -> Vec<(&'static str, Hd, Jt, Hk, f64)> {
    cases![
        sqrt_plus => 3.0;
        ln_plus => -INF;
        powf_plus => 3.0;
        pow_plus => 3.0;
        cbrt_plus => 3.0;
        kink_plus => 3.0;
        recip_plus => INF;
        div_plus => INF;
    ]
}

const X: [f64; 3] = [0.0, 3.0, 2.0];
const ALONG_X1: [f64; 3] = [0.0, 1.0, 0.0];

/// Along `x1` only (the singular `x0` and `x2` do not move): first order exactly 1, second
/// order exactly 0, in every number type.
#[test]
fn numbers_along_a_regular_input_are_exact() {
    let v = ALONG_X1;
    for (name, hd, jet, hk, value) in cases() {
        let r = fomoh::hyper_dual(hd, &X, &v, &v).unwrap();
        assert_eq!([r.re, r.e1, r.e2, r.e12], [value, 1.0, 1.0, 0.0], "{name} hyper-dual");
        let r = fomoh::hyper_dual(hd, &X, &v, &[0.0; 3]).unwrap();
        assert_eq!([r.re, r.e1, r.e2, r.e12], [value, 1.0, 0.0, 0.0], "{name} hyper-dual, v2 = 0");
        let j = fomoh::directional(jet, &X, &v).unwrap();
        assert_eq!([j.re, j.d1, j.d2], [value, 1.0, 0.0], "{name} jet");
        let p = fomoh::hyperplane(hk, &X, &[v.to_vec(), vec![0.0; 3]]).unwrap();
        assert_eq!(p.value, value, "{name} K=2 value");
        assert_eq!(p.grad, [1.0, 0.0], "{name} K=2 gradient");
        assert_eq!(p.hess, [[0.0, 0.0], [0.0, 0.0]], "{name} K=2 block");
    }
}

/// A nonzero tangent through the singular input still gives ±∞/NaN, as before.
#[test]
fn numbers_through_the_singular_input_stay_non_finite() {
    let v = [1.0, 1.0, 0.0];
    for (name, hd, jet, hk, _) in cases() {
        if name == "kink_plus" {
            continue; // x0² has a zero tangent at 0 along every direction
        }
        let r = fomoh::hyper_dual(hd, &X, &v, &v).unwrap();
        assert!(r.e1.is_infinite() && r.e2.is_infinite() && !r.e12.is_finite(), "{name}: {r:?}");
        let j = fomoh::directional(jet, &X, &v).unwrap();
        assert!(j.d1.is_infinite() && !j.d2.is_finite(), "{name}: {j:?}");
        let p = fomoh::hyperplane(hk, &X, &[v.to_vec(), ALONG_X1.to_vec()]).unwrap();
        assert!(p.grad[0].is_infinite() && !p.hess[0][0].is_finite(), "{name}: {p:?}");
        assert_eq!((p.grad[1], p.hess[1][1]), (1.0, 0.0), "{name}: {p:?}");
    }
    // sqrt at 0 along 1: f' · 1 = +∞ exactly as before.
    let r = fomoh::hyper_dual(sqrt_plus, &X, &v, &v).unwrap();
    assert_eq!([r.e1, r.e2], [INF, INF]);
    let r = HyperDual::new(0.0_f64, 1.0, 1.0, 1.0).sqrt();
    assert_eq!(r.e1, INF);
    assert!(r.e12.is_nan(), "∞ · 1 + (-∞) · 1 · 1: {r:?}");
}

/// The kinks of the rule table keep their conventions (`abs'(0) = 0`, `relu'(0) = 0`).
#[test]
fn abs_and_relu_kinks() {
    let f = |x: &[HyperDual<f64>]| x[0].abs() + x[1] * x[0].relu() + (x[0] * x[0]).sqrt();
    for v in [[0.0, 1.0], [1.0, 0.0]] {
        let r = fomoh::hyper_dual(f, &[0.0, 3.0], &v, &v).unwrap();
        assert_eq!([r.re, r.e1, r.e2], [0.0, 0.0, 0.0], "{v:?}");
    }
    let r = fomoh::hyper_dual(f, &[0.0, 3.0], &[0.0, 1.0], &[0.0, 1.0]).unwrap();
    assert_eq!(r.e12, 0.0);
}

/// Dividing by a plain 0, ±∞ or NaN: the lanes with a zero tangent stay 0. A product with a
/// non-finite factor keeps IEEE arithmetic (its value is ±∞ or NaN already, and a check on
/// every product would cost 13-25 % on polynomial code): `∞ · 0 = NaN` in its lanes.
#[test]
fn dividing_by_a_non_finite_float() {
    let x = HyperDual::new(1.0_f64, 0.0, 2.0, 0.0);
    let y = x / 0.0;
    assert_eq!([y.re, y.e1, y.e2, y.e12], [INF, 0.0, INF, 0.0]);
    let y = Jet::new(1.0_f64, 0.0, 0.0) / f64::NAN;
    assert!(y.re.is_nan());
    assert_eq!([y.d1, y.d2], [0.0, 0.0]);
    let mut k = HyperK::<f64, 2>::seed(1.0, [0.0, 1.0]);
    k /= 0.0;
    assert_eq!(k.grad, [0.0, INF]);
    assert_eq!(k.hess, [0.0, 0.0, 0.0]);
    // the product: IEEE
    let y = x * INF;
    assert!(y.re == INF && y.e1.is_nan() && y.e2 == INF, "{y:?}");
}

/// `UnaryOp::is_regular` / `BinaryOp::is_regular` are what every backend trusts to skip the
/// check: a regular operation's derivatives are finite wherever its value is, over the whole
/// float range (subnormals, overflow, ±∞, the edges of each domain), in f64 and f32.
#[test]
fn regular_operations_have_finite_derivatives_wherever_their_value_is() {
    let mut xs: Vec<f64> = vec![
        0.0,
        5e-324,
        2.2250738585072014e-308,
        1e-300,
        1e-200,
        1e-160,
        1e-154,
        1e-100,
        1e-45,
        1e-40,
        1e-38,
        1e-20,
        1e-8,
        0.5,
        1.0 - f64::EPSILON,
        1.0,
        1.0 + f64::EPSILON,
        std::f64::consts::FRAC_PI_2,
        2.0,
        10.0,
        19.0,
        88.0,
        89.0,
        100.0,
        700.0,
        709.7,
        710.0,
        1e10,
        1e19,
        1e20,
        1e38,
        1e39,
        1e100,
        1e154,
        1e155,
        1e200,
        1e300,
        f64::MAX,
        f64::INFINITY,
    ];
    let neg: Vec<f64> = xs.iter().map(|x| -x).collect();
    xs.extend(neg);
    xs.extend((0..200).map(|i| -10.0 + 0.1 * i as f64));
    let mut ops: Vec<UnaryOp> = UnaryOp::samples().into_iter().map(|(op, _)| op).collect();
    ops.extend((-3..=20).map(UnaryOp::Powi));
    ops.extend([-1.5, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 16.0, 17.0].map(UnaryOp::Powf));
    let mut regular = 0;
    let mut bad = Vec::new();
    for op in ops.into_iter().filter(|op| op.is_regular()) {
        regular += 1;
        for &x in &xs {
            let r = op.rule(x);
            if r.f.is_finite() && !(r.d1.is_finite() && r.d2.is_finite()) {
                bad.push(format!("{op:?} at {x:e} (f64): {r:?}"));
            }
            let r = op.rule(x as f32);
            if r.f.is_finite() && !(r.d1.is_finite() && r.d2.is_finite()) {
                bad.push(format!("{op:?} at {x:e} (f32): {r:?}"));
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    assert!(regular > 30, "{regular}");
    for (op, ..) in BinaryOp::samples().into_iter().filter(|(op, ..)| op.is_regular()) {
        for &x in xs.iter().step_by(3) {
            for &y in xs.iter().step_by(5) {
                let p = op.partials(x, y);
                let all = [p.fx, p.fy, p.fxx, p.fxy, p.fyy];
                assert!(
                    !p.f.is_finite() || all.iter().all(|c| c.is_finite()),
                    "{op:?} at ({x:e}, {y:e}): {p:?}"
                );
            }
        }
    }
}

/// An operation that is not regular really can have an infinite derivative at a finite value
/// (so the list of checked operations is not longer than it needs to be, for the common ones).
#[test]
fn checked_operations_can_be_singular() {
    for (op, x) in [
        (UnaryOp::Sqrt, 0.0_f64),
        (UnaryOp::Cbrt, 0.0),
        (UnaryOp::Ln, 1e-200),
        (UnaryOp::Recip, 1e-200),
        (UnaryOp::Asin, 1.0),
        (UnaryOp::Acos, -1.0),
        (UnaryOp::Acosh, 1.0),
        (UnaryOp::Powf(0.5), 0.0),
    ] {
        assert!(!op.is_regular(), "{op:?}");
        let r = op.rule(x);
        assert!(r.f.is_finite() && !(r.d1.is_finite() && r.d2.is_finite()), "{op:?} at {x:e}: {r:?}");
    }
}

/// Binary rules (`lift2`) with non-finite partials: `hypot` and `atan2` at (0, 0).
#[test]
fn binary_rules_with_non_finite_partials() {
    let x = [0.0, 0.0, 1.0];
    let v = [0.0, 0.0, 1.0];
    let f = |x: &[HyperDual<f64>]| x[0].hypot(x[1]) + x[2];
    let r = fomoh::hyper_dual(f, &x, &v, &v).unwrap();
    assert_eq!([r.re, r.e1, r.e2, r.e12], [1.0, 1.0, 1.0, 0.0]);
    let f = |x: &[Jet<f64>]| x[0].atan2(x[1]) + x[2];
    let j = fomoh::directional(f, &x, &v).unwrap();
    assert_eq!([j.d1, j.d2], [1.0, 0.0]);
    let f = |x: &[HyperK<f64, 2>]| x[0].hypot(x[1]) + x[2];
    let p = fomoh::hyperplane(f, &x, &[v.to_vec(), vec![0.0; 3]]).unwrap();
    assert_eq!(p.grad, [1.0, 0.0]);
    assert_eq!(p.hess, [[0.0, 0.0], [0.0, 0.0]]);
    // Along x0 the partials' NaN still shows.
    let f = |x: &[HyperDual<f64>]| x[0].hypot(x[1]) + x[2];
    let r = fomoh::hyper_dual(f, &x, &[1.0, 0.0, 0.0], &[1.0, 0.0, 0.0]).unwrap();
    assert!(r.e1.is_nan() && r.e12.is_nan(), "{r:?}");
}

/// Runtime tensors (`lift_planes` and `binary`, with a broadcast):
/// `Σ_e sqrt(a_e) · b + c / a_e` at a = (0, 4), b = 3, c = 2 (value +∞).
fn rt(p: &Params<'_>) -> fomoh::Result<Tensor> {
    let a = p.view(0, vec![2])?;
    let b = p.view(2, vec![1])?;
    let c = p.view(3, vec![1])?;
    let s = ops::unary(&a, UnaryOp::Sqrt);
    let s = ops::binary(BinaryOp::Mul, &s, &b)?;
    let q = ops::binary(BinaryOp::Div, &c, &a)?;
    let s = ops::binary(BinaryOp::Add, &s, &q)?;
    ops::sum_last(&s)
}

fn rt_numbers<S: Scalar>(x: &[S]) -> S {
    x[..2].iter().map(|&a| a.sqrt() * x[2] + x[3] / a).sum()
}

#[test]
fn runtime_tensors() {
    let theta = [0.0, 4.0, 3.0, 2.0];
    let (a1, b) = ([0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]);
    assert_eq!(rt(&Params::primal(&theta)).unwrap().value().unwrap(), INF);
    // d/da1 = 0.25 · 3 - 2/16, d²/da1² = -3/32 + 4/64, d/db = 2, d²/da1 db = 0.25.
    let hd = rt(&Params::hyper_dual(&theta, &a1, &b).unwrap()).unwrap().to_hyper_dual().unwrap();
    assert_eq!([hd.re, hd.e1, hd.e2, hd.e12], [INF, 0.625, 2.0, 0.25], "{hd:?}");
    let num = fomoh::hyper_dual(rt_numbers, &theta, &a1, &b).unwrap();
    assert_eq!([num.re, num.e1, num.e2, num.e12], [INF, 0.625, 2.0, 0.25], "{num:?}");
    let j = rt(&Params::jet(&theta, &a1).unwrap()).unwrap().to_jet().unwrap();
    assert_eq!([j.re, j.d1, j.d2], [INF, 0.625, -1.0 / 32.0], "{j:?}");
    let dirs = [a1.to_vec(), b.to_vec()];
    let p = rt(&Params::directions(&theta, &dirs).unwrap()).unwrap().to_projection(2).unwrap();
    assert_eq!(p.grad, [0.625, 2.0]);
    assert_eq!(p.hess, [[-1.0 / 32.0, 0.25], [0.25, 0.0]]);
    // Along a0 (the singular entry): non-finite, as before.
    let a0 = [1.0, 0.0, 0.0, 0.0];
    let j = rt(&Params::jet(&theta, &a0).unwrap()).unwrap().to_jet().unwrap();
    assert!(!j.d1.is_finite() && !j.d2.is_finite(), "{j:?}");
}

/// `#[fomoh]`: the generated passes call the runtime numbers, so they follow.
#[fomoh(wrt(x))]
fn generated(x: &[f64]) -> f64 {
    x[0].sqrt() + x[1] + 1.0 / x[2] + x[2].ln() * 2.0
}

#[test]
fn fomoh_macro() {
    let x = [0.0, 3.0, 0.0];
    let seeded: Vec<HyperDual<f64>> =
        (0..3).map(|i| HyperDual::seed(x[i], ALONG_X1[i], ALONG_X1[i])).collect();
    let r = generated::hyper_dual(&seeded);
    assert_eq!([r.e1, r.e2, r.e12], [1.0, 1.0, 0.0], "{r:?}");
    let seeded: Vec<Jet<f64>> = (0..3).map(|i| Jet::seed(x[i], ALONG_X1[i])).collect();
    let j = generated::directional(&seeded);
    assert_eq!([j.d1, j.d2], [1.0, 0.0], "{j:?}");
    let seeded: Vec<HyperK<f64, 2>> = (0..3).map(|i| HyperK::seed(x[i], [ALONG_X1[i], 0.0])).collect();
    let k = generated::hyperplane(&seeded);
    assert_eq!(k.grad, [1.0, 0.0]);
    assert_eq!(k.hess, [0.0; 3]);
    // A nonzero tangent through sqrt at 0: +∞.
    let seeded: Vec<Jet<f64>> = (0..3).map(|i| Jet::seed(x[i], [1.0, 0.0, 0.0][i])).collect();
    assert_eq!(generated::directional(&seeded).d1, INF);
}
