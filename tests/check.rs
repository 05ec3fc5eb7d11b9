//! The `check` module: correct derivatives pass; a deliberately wrong derivative (one
//! number type's path perturbed, or a wrong `Projection`) fails, at the right location.

use std::any::TypeId;

use fomoh::check::{self, Checker};
use fomoh::{scalar_fn, Error, HyperDual, HyperK, Jet, Scalar, ScalarFn};

fn trans<S: Scalar>(x: &[S]) -> S {
    let one = S::one();
    (x[0].sin() * x[1]).exp() + (one + x[2] * x[2]).ln() * x[0].tanh() + x[1].atan2(x[3] * x[3] + one)
        - x[2].hypot(x[3] + S::from_f64(0.5)) * x[1].cos()
}

fn rosenbrock<S: Scalar>(x: &[S]) -> S {
    let (one, hundred) = (S::one(), S::from_f64(100.0));
    (0..x.len() - 1).map(|i| hundred * (x[i + 1] - x[i] * x[i]).powi(2) + (one - x[i]).powi(2)).sum()
}

/// `trans` plus a term that only number type `P` sees: `w · (x_i - x_i⁰)(x_j - x_j⁰)` (zero
/// value and zero first derivatives at `x⁰`, second derivative `w` in the `(i, j)` entry), or
/// with `j = None` the first-order term `w · (x_i - x_i⁰)`.
struct Perturbed<P> {
    i: usize,
    j: Option<usize>,
    w: f64,
    _p: core::marker::PhantomData<P>,
}

impl<P: 'static> Perturbed<P> {
    fn new(i: usize, j: Option<usize>, w: f64) -> Self {
        Perturbed { i, j, w, _p: core::marker::PhantomData }
    }
}

impl<P: 'static> ScalarFn for Perturbed<P> {
    fn eval<S: Scalar>(&self, x: &[S]) -> S {
        let base = trans(x);
        if TypeId::of::<S>() != TypeId::of::<P>() {
            return base;
        }
        let dev = |k: usize| x[k] - S::from_f64(x[k].value());
        let w = S::from_f64(self.w);
        match self.j {
            Some(j) => base + w * dev(self.i) * dev(j),
            None => base + w * dev(self.i),
        }
    }
}

const X: [f64; 4] = [0.3, -0.7, 1.1, 0.4];
const V1: [f64; 4] = [1.0, 0.5, -0.25, 2.0];
const V2: [f64; 4] = [0.0, -1.0, 1.5, 0.5];

fn locations(r: &check::CheckReport) -> Vec<&str> {
    r.failures.iter().map(|m| m.location.as_str()).collect()
}

#[test]
fn correct_derivatives_pass_f64() {
    let f = scalar_fn!(trans);
    let dirs = vec![V1.to_vec(), V2.to_vec(), vec![0.3, 0.3, -0.6, 1.0]];
    for r in [
        check::hyper_dual(&f, &X, &V1, &V2).unwrap(),
        check::hyperplane(&f, &X, &dirs).unwrap(),
        check::gradient(&f, &X).unwrap(),
        check::hessian(&f, &X).unwrap(),
    ] {
        assert!(r.passed(), "{r}");
        assert!(r.checked >= 4);
        assert!(r.worst.as_ref().unwrap().ratio() <= 1.0);
    }
    let x: Vec<f64> = (0..8).map(|i| if i % 2 == 0 { -1.2 } else { 1.0 }).collect();
    check::hessian(&scalar_fn!(rosenbrock), &x).unwrap().assert_ok();
    // pairwise fallback (K = 17) is checked too
    let many: Vec<Vec<f64>> =
        (0..17).map(|j| (0..8).map(|i| ((i + 1) as f64 * (j as f64 + 2.0).sqrt()).sin()).collect()).collect();
    let r = check::hyperplane(&scalar_fn!(rosenbrock), &x, &many).unwrap();
    assert!(r.passed(), "{r}");
    assert_eq!(r.checked, 1 + 17 + 2 * 17 * 18 / 2);
}

#[test]
fn correct_derivatives_pass_f32() {
    let f = scalar_fn!(trans);
    let x = X.map(|v| v as f32);
    let (v1, v2) = (V1.map(|v| v as f32), V2.map(|v| v as f32));
    check::hyper_dual(&f, &x, &v1, &v2).unwrap().assert_ok();
    check::hessian(&f, &x).unwrap().assert_ok();
    check::hyperplane(&f, &x, &[v1.to_vec(), v2.to_vec()]).unwrap().assert_ok();
    assert_eq!(
        Checker::for_type::<f32>(),
        Checker { rtol1: 1e3 * f32::EPSILON as f64, rtol2: 1e4 * f32::EPSILON as f64, atol: 1e-9 }
    );
}

#[test]
fn a_wrong_second_order_hyperdual_lane_is_reported_there() {
    // (x2 - x2⁰)² · 0.05 seen only by HyperDual<f64>: v1ᵀHv2 off by 0.1 · v1[2] v2[2] = -0.0375
    let f = Perturbed::<HyperDual<f64>>::new(2, Some(2), 0.05);
    let r = check::hyper_dual(&f, &X, &V1, &V2).unwrap();
    assert_eq!(locations(&r), ["v1ᵀHv2"], "{r}");
    let worst = r.worst.as_ref().unwrap();
    assert_eq!(worst.location, "v1ᵀHv2");
    assert!((worst.computed - worst.reference - 0.1 * V1[2] * V2[2]).abs() < 1e-5, "{worst:?}");
    assert!(worst.ratio() > 1.0);
    assert!(r.to_string().contains("1 failed") && r.to_string().contains("v1ᵀHv2"), "{r}");
    // the Hessian from one-hot hyper-dual passes is wrong in exactly one entry
    let r = check::hessian(&f, &X).unwrap();
    assert_eq!(locations(&r), ["hess[2][2]"], "{r}");
    // the HyperK path is not perturbed: its check passes
    check::hyperplane(&f, &X, &[V1.to_vec(), V2.to_vec()]).unwrap().assert_ok();
}

#[test]
fn a_wrong_first_order_lane_is_reported_there() {
    let f = Perturbed::<HyperDual<f64>>::new(1, None, 0.05);
    let r = check::hyper_dual(&f, &X, &V1, &V2).unwrap();
    assert_eq!(locations(&r), ["∇f·v1", "∇f·v2"], "{r}");
    // the gradient runs on jets
    let f = Perturbed::<Jet<f64>>::new(3, None, 0.05);
    let r = check::gradient(&f, &X).unwrap();
    assert_eq!(locations(&r), ["grad[3]"], "{r}");
    assert!(check::hessian(&f, &X).unwrap().passed());
}

#[test]
fn a_wrong_hyperk_block_entry_is_reported_there() {
    // the mixed term (x0 - x0⁰)(x3 - x3⁰) only in the K = 3 path; directions e0, e3, e1
    let f = Perturbed::<HyperK<f64, 3>>::new(0, Some(3), 0.05);
    let axis = |i: usize| (0..4).map(|k| if k == i { 1.0 } else { 0.0 }).collect::<Vec<f64>>();
    let dirs = vec![axis(0), axis(3), axis(1)];
    let r = check::hyperplane(&f, &X, &dirs).unwrap();
    assert_eq!(locations(&r), ["hess[0][1]"], "{r}");
    // with K = 2 (another type) the same function passes
    check::hyperplane(&f, &X, &dirs[..2]).unwrap().assert_ok();
}

#[test]
fn a_wrong_projection_is_reported_at_its_entry() {
    let f = scalar_fn!(trans);
    let dirs = vec![V1.to_vec(), V2.to_vec(), vec![0.3, 0.3, -0.6, 1.0]];
    let good = fomoh::project(&f, &X, &dirs).unwrap();
    let c = Checker::default();
    assert!(c.projection(&f, &X, &good, &dirs).unwrap().passed());

    let mut p = good.clone();
    p.grad[2] *= 1.01;
    assert_eq!(locations(&c.projection(&f, &X, &p, &dirs).unwrap()), ["grad[2]"]);

    let mut p = good.clone();
    p.hess[1][2] += 0.01;
    p.hess[2][1] += 0.01;
    assert_eq!(locations(&c.projection(&f, &X, &p, &dirs).unwrap()), ["hess[1][2]"]);

    // an asymmetric block: the lower entry disagrees with the upper one
    let mut p = good.clone();
    p.hess[2][0] += 0.01;
    assert_eq!(locations(&c.projection(&f, &X, &p, &dirs).unwrap()), ["hess[2][0] = hess[0][2]"]);

    let mut p = good.clone();
    p.value += 1e-3;
    assert_eq!(locations(&c.projection(&f, &X, &p, &dirs).unwrap()), ["value"]);

    // wrong shapes are errors, not panics
    let mut p = good.clone();
    p.hess[1].pop();
    assert!(matches!(c.projection(&f, &X, &p, &dirs), Err(Error::Length { .. })));
    let mut p = good;
    p.grad.pop();
    assert!(matches!(c.projection(&f, &X, &p, &dirs), Err(Error::Length { .. })));
}

#[test]
fn tolerances_are_the_checkers() {
    let f = Perturbed::<HyperDual<f64>>::new(2, Some(2), 1e-3);
    // a 2e-3·|v1[2] v2[2]| = 7.5e-4 error: caught at the default tolerance (rtol2 1e-5),
    // accepted at rtol 1e-2 or atol 1e-3
    assert!(!check::hyper_dual(&f, &X, &V1, &V2).unwrap().passed());
    assert!(Checker::default().rtol(1e-2, 1e-2).hyper_dual(&f, &X, &V1, &V2).unwrap().passed());
    assert!(Checker::default().atol(1e-3).hyper_dual(&f, &X, &V1, &V2).unwrap().passed());
}

#[test]
fn non_finite_points_are_errors() {
    let f = scalar_fn!(trans);
    let x = [0.3, f64::NAN, 1.1, 0.4];
    assert!(matches!(check::gradient(&f, &x), Err(Error::NonFinite(_))));
    let x = [0.3, 0.1, f64::INFINITY, 0.4];
    assert!(matches!(check::hessian(&f, &x), Err(Error::NonFinite(_))));
}
