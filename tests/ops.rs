//! Every operation of the list, in every backend: the runtime's numbers (against closed forms
//! and finite differences in `tests/rules.rs`, which walks the same list), `#[fomoh]` and the
//! scalar JIT (here, against the runtime), with one user-defined primitive beside them.
//!
//! Nothing in this file names an operation: the functions below are generated from
//! `fomoh::for_each_unary!` / `UnaryOp::samples()`, so a new entry of the list is tested
//! here without a new test.

use fomoh::{check, objective, BinaryOp, HyperDual, Objective, Primitive, Scalar, ScalarFn, UnaryOp};

/// `op(x0)·(x1 + 1) + op(x1)`: both arguments, a cross term and each one's curvature.
fn lifted<S: Scalar>(op: UnaryOp, x: &[S]) -> S {
    x[0].unary(op) * (x[1] + S::one()) + x[1].unary(op)
}

struct Lifted(UnaryOp);
impl ScalarFn for Lifted {
    fn eval<S: Scalar>(&self, x: &[S]) -> S {
        lifted(self.0, x)
    }
}

/// `k` points of `[lo, hi]²`, spread by the golden ratio (never exactly on a grid of
/// integers or halves, where the piecewise-constant operations jump).
fn points(lo: f64, hi: f64, k: usize) -> Vec<[f64; 2]> {
    let frac = |t: f64| t - t.floor();
    (1..=k)
        .map(|i| {
            let (u, v) = (frac(i as f64 * 0.618_033_988_75 + 0.05), frac(i as f64 * 0.414_213_562_37 + 0.11));
            [lo + (hi - lo) * u, lo + (hi - lo) * v]
        })
        .collect()
}

const DIRS: [[f64; 2]; 3] = [[1.0, 0.0], [0.3, -0.7], [-0.5, 0.9]];

/// Every pass of `b` against `a` at `x`, to `rtol` relative (`floor` absolute).
fn agree(what: &str, a: &dyn Objective, b: &dyn Objective, x: &[f64; 2], rtol: f64) {
    let close = |p: f64, q: f64| p == q || (p - q).abs() <= rtol * p.abs().max(q.abs()).max(1.0);
    let (va, vb) = (a.value(x).unwrap(), b.value(x).unwrap());
    assert!(close(va, vb), "{what} value at {x:?}: {va} vs {vb}");
    let (v1, v2) = (&DIRS[1], &DIRS[2]);
    let (ha, hb) = (a.hyper_dual(x, v1, v2).unwrap(), b.hyper_dual(x, v1, v2).unwrap());
    for (lane, p, q) in
        [("re", ha.re, hb.re), ("e1", ha.e1, hb.e1), ("e2", ha.e2, hb.e2), ("e12", ha.e12, hb.e12)]
    {
        assert!(close(p, q), "{what} hyper-dual {lane} at {x:?}: {p} vs {q}");
    }
    let dirs: Vec<Vec<f64>> = DIRS.iter().map(|d| d.to_vec()).collect();
    let (pa, pb) = (a.project(x, &dirs).unwrap(), b.project(x, &dirs).unwrap());
    for i in 0..3 {
        assert!(close(pa.grad[i], pb.grad[i]), "{what} K=3 grad[{i}] at {x:?}");
        for j in 0..3 {
            assert!(close(pa.hess[i][j], pb.hess[i][j]), "{what} K=3 hess[{i}][{j}] at {x:?}");
        }
    }
}

/// The `#[fomoh]` form of `lifted` for every operation of the list, and the table of their
/// objectives (the sample parameters of the list as literal arguments). On plain `f64` the
/// original functions call `Scalar::erf` & co., which `f64` may gain as inherent methods.
#[allow(unstable_name_collisions)]
mod by_macro {
    use fomoh::Scalar as _;
    macro_rules! generate {
        ([] $( $doc:literal $V:ident $( ( $($p:ident : $pt:ty = $s:expr),+ ) )? $m:ident [$lo:expr, $hi:expr] ; )*) => {
            $(
                #[fomoh::fomoh]
                pub fn $m(x: &[f64]) -> f64 {
                    x[0].$m($($($s),+)?) * (x[1] + 1.0) + x[1].$m($($($s),+)?)
                }
            )*
            /// `(operation, its #[fomoh] objective)` for every entry of the list.
            pub fn objectives() -> Vec<(fomoh::UnaryOp, Box<dyn fomoh::Objective>)> {
                vec![$((
                    fomoh::UnaryOp::$V $( ( $($s),+ ) )?,
                    Box::new($m::objective(2)) as Box<dyn fomoh::Objective>,
                )),*]
            }
        };
    }
    fomoh::for_each_unary!(generate);
}

#[test]
fn every_operation_agrees_across_runtime_macro_and_jit() {
    let macros = by_macro::objectives();
    let samples = UnaryOp::samples();
    assert_eq!(macros.len(), samples.len(), "the macro walked the same list");
    let mut compared = 0;
    for ((op, [lo, hi]), (mop, by_macro)) in samples.into_iter().zip(macros) {
        assert_eq!(op, mop);
        let rt = objective(2, Lifted(op));
        let jit = fomoh::jit::compile(2, move |x| lifted(op, x)).unwrap();
        for x in points(lo, hi, 6) {
            agree(&format!("#[fomoh] {}", op.name()), &rt, by_macro.as_ref(), &x, 1e-12);
            agree(&format!("jit {}", op.name()), &rt, &jit, &x, 1e-12);
            compared += 1;
        }
    }
    assert!(compared >= 6 * 36, "{compared}");
}

#[test]
fn every_binary_operation_agrees_between_runtime_and_jit() {
    for (op, a, b) in BinaryOp::samples() {
        let f = move |x: &[fomoh::jit::Tracer]| x[0].binary(op, x[1]) * x[1];
        struct Rt(BinaryOp);
        impl ScalarFn for Rt {
            fn eval<S: Scalar>(&self, x: &[S]) -> S {
                x[0].binary(self.0, x[1]) * x[1]
            }
        }
        let jit = fomoh::jit::compile(2, f).unwrap();
        let rt = objective(2, Rt(op));
        for (i, [u, _]) in points(0.0, 1.0, 5).into_iter().enumerate() {
            let v = (i as f64 * 0.37 + 0.2) % 1.0;
            let x = [a[0] + (a[1] - a[0]) * u, b[0] + (b[1] - b[0]) * v];
            agree(&format!("jit {}", op.name()), &rt, &jit, &x, 1e-12);
        }
    }
}

/// `x / (1 + |x|)`: a soft clip with closed-form derivatives.
struct SoftClip;
impl Primitive for SoftClip {
    const NAME: &'static str = "softclip";
    fn rule(x: f64) -> (f64, f64, f64) {
        let d = 1.0 + x.abs();
        (x / d, 1.0 / (d * d), -2.0 * x.signum() / (d * d * d))
    }
}

fn soft_loss<S: Scalar>(x: &[S]) -> S {
    x[0].custom::<SoftClip>() * x[1] + (x[0] * x[1]).custom::<SoftClip>()
}

#[fomoh::fomoh]
fn soft_plain(x: &[f64]) -> f64 {
    fomoh::custom::<SoftClip>(x[0]) * x[1] + fomoh::custom::<SoftClip>(x[0] * x[1])
}

#[test]
fn a_user_primitive_agrees_across_backends_and_with_finite_differences() {
    check::primitive::<SoftClip>(&[-2.0, -0.3, 0.4, 1.7]).unwrap().assert_ok();
    let rt = objective(2, fomoh::scalar_fn!(soft_loss));
    let jit = fomoh::jit::compile(2, soft_loss).unwrap();
    let by_macro = soft_plain::objective(2);
    for x in points(-2.0, 2.0, 8) {
        // the plain function is the primitive's value
        assert_eq!(soft_plain(&x), soft_loss(&x));
        agree("#[fomoh] primitive", &rt, &by_macro, &x, 1e-12);
        agree("jit primitive", &rt, &jit, &x, 1e-12);
        check::hyper_dual(&fomoh::scalar_fn!(soft_loss), &x, &DIRS[1], &DIRS[2]).unwrap().assert_ok();
    }
    // f32 programs go through the f64 rule
    let jit32 = fomoh::jit::compile(2, soft_loss).unwrap().with_float::<f32>();
    let v = jit32.value(&[0.5_f32, 2.0]).unwrap();
    assert!((v as f64 - soft_loss(&[0.5, 2.0])).abs() < 1e-6, "{v}");
}

#[test]
fn a_wrong_rule_is_caught_by_the_check() {
    struct BadCurvature;
    impl Primitive for BadCurvature {
        const NAME: &'static str = "bad_curvature";
        fn rule(x: f64) -> (f64, f64, f64) {
            (x.sin(), x.cos(), x.sin()) // f'' has the wrong sign
        }
    }
    let r = check::primitive::<BadCurvature>(&[0.7]).unwrap();
    assert!(!r.passed(), "{r}");
    assert!(r.failures.iter().any(|m| m.location.contains("bad_curvature")), "{r}");
    assert!(check::primitive::<BadCurvature>(&[]).is_err());
}

#[test]
fn a_nan_rule_gives_nan_lanes_not_a_panic() {
    struct Undefined;
    impl Primitive for Undefined {
        const NAME: &'static str = "undefined";
        fn rule(_: f64) -> (f64, f64, f64) {
            (f64::NAN, f64::NAN, f64::NAN)
        }
    }
    let hd = HyperDual::new(0.5_f64, 1.0, 1.0, 0.0).custom::<Undefined>();
    assert!(hd.re.is_nan() && hd.e1.is_nan() && hd.e12.is_nan());
    let p = fomoh::jit::compile(1, |x| x[0].custom::<Undefined>() + x[0]).unwrap();
    let hd = p.hyper_dual(&[0.5], &[1.0], &[1.0]).unwrap();
    assert!(hd.re.is_nan() && hd.e1.is_nan() && hd.e12.is_nan());
}

mod clash {
    //! Two primitives named alike: the JIT refuses the second, never mixing their code.
    use fomoh::Primitive;
    pub struct A;
    impl Primitive for A {
        const NAME: &'static str = "twin";
        fn rule(x: f64) -> (f64, f64, f64) {
            (2.0 * x, 2.0, 0.0)
        }
    }
    pub struct B;
    impl Primitive for B {
        const NAME: &'static str = "twin";
        fn rule(x: f64) -> (f64, f64, f64) {
            (3.0 * x, 3.0, 0.0)
        }
    }
}

#[test]
fn two_primitives_with_one_name_are_an_error_in_the_jit() {
    use fomoh::Scalar as _;
    // In the runtime the two are distinct operations (their identity is the type).
    assert_ne!(UnaryOp::custom::<clash::A>(), UnaryOp::custom::<clash::B>());
    assert_eq!(2.0_f64.custom::<clash::A>(), 4.0);
    assert_eq!(2.0_f64.custom::<clash::B>(), 6.0);
    // Programs compile their passes on first use: run one of each.
    let a = fomoh::jit::compile(1, |x| x[0].custom::<clash::A>()).and_then(|p| p.value(&[2.0]));
    let b = fomoh::jit::compile(1, |x| x[0].custom::<clash::B>()).and_then(|p| p.value(&[2.0]));
    // Whichever ran first owns the name; the other is refused with the name.
    let (v, err) = match (a, b) {
        (Ok(v), Err(e)) | (Err(e), Ok(v)) => (v, e),
        (a, b) => panic!("exactly one may run: {a:?} / {b:?}"),
    };
    assert!(err.to_string().contains("twin"), "{err}");
    assert!(v == 4.0 || v == 6.0, "{v}");
}

#[test]
fn logsumexp_is_stable_and_its_derivatives_are_softmax() {
    let x = [1000.0, 999.0, -5.0];
    let l = fomoh::logsumexp(&x);
    let want = 1000.0 + (1.0 + (-1.0_f64).exp() + (-1005.0_f64).exp()).ln();
    assert!((l - want).abs() < 1e-12, "{l} vs {want}");
    assert_eq!(fomoh::logsumexp::<f64>(&[]), f64::NEG_INFINITY);
    // gradient = softmax, Hessian = diag(p) - p pᵀ (against the runtime on the plain formula)
    let xs = [0.3, -1.2, 2.0];
    let g = fomoh::gradient(fomoh::logsumexp, &xs).unwrap();
    let h = fomoh::hessian(fomoh::logsumexp, &xs).unwrap();
    let z: f64 = xs.iter().map(|v| v.exp()).sum();
    let p: Vec<f64> = xs.iter().map(|v| v.exp() / z).collect();
    for i in 0..3 {
        assert!((g[i] - p[i]).abs() < 1e-14);
        for j in 0..3 {
            let want = if i == j { p[i] - p[i] * p[j] } else { -p[i] * p[j] };
            assert!((h[i][j] - want).abs() < 1e-14);
        }
    }
    // the JIT compiles it too
    let jit = fomoh::jit::compile(3, fomoh::logsumexp).unwrap();
    assert!((jit.value(&xs).unwrap() - z.ln()).abs() < 1e-14);
}
