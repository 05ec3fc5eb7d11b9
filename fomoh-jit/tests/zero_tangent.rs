//! Compiled programs follow the runtime's convention "a zero tangent contributes exactly
//! zero" (`tests/zero_tangent.rs`): scalar programs (straight-line and rerolled, `f64` and
//! `f32`) and tensor programs (direct and preaccumulated loop bodies) give the runtime's
//! exact values where a tangent that is zero at run time meets an infinite derivative, and
//! a nonzero tangent still gives ±∞. The guard is staged only for operations that are not
//! regular (`UnaryOp::is_regular`): a program built from regular operations is staged as
//! before, without a select.

use fomoh_jit::tensor::LoopStrategy;
use fomoh_jit::{compile_with, Options, Program, TensorBuilder};
use fomoh_runtime::{BinaryOp, Scalar, UnaryOp};

const INF: f64 = f64::INFINITY;

/// `sqrt(x0) + x1 + 1/x2 + ln(x3) + x4^0.5 + cbrt(x4)`, singular at `x0 = x2 = x3 = x4 = 0`.
fn singular<S: Scalar>(x: &[S]) -> S {
    x[0].sqrt() + x[1] + S::one() / x[2] + x[3].ln() + x[4].powf(0.5) + x[4].cbrt()
}

/// `Σ_i sqrt(x_i)`, long enough to be rerolled into a loop.
fn sqrt_sum<S: Scalar>(x: &[S]) -> S {
    x.iter().map(|v| v.sqrt()).sum()
}

fn options() -> Vec<(&'static str, Options)> {
    vec![
        ("straight", Options { reroll: false, ..Options::default() }),
        ("rerolled", Options { reroll_min_nodes: 0, ..Options::default() }),
    ]
}

fn unit(i: usize, n: usize) -> Vec<f64> {
    (0..n).map(|j| if i == j { 1.0 } else { 0.0 }).collect()
}

#[test]
fn jit_scalar_exact() {
    let x = [0.0, 3.0, 0.0, 0.0, 0.0];
    let (v, z) = (unit(1, 5), vec![0.0; 5]);
    for (what, o) in options() {
        let p: Program = compile_with(5, singular, &o).unwrap();
        // Along x1 only (value NaN: ∞ - ∞): every singular input is at rest.
        let r = p.hyper_dual(&x, &v, &z).unwrap();
        assert_eq!([r.e1, r.e2, r.e12], [1.0, 0.0, 0.0], "{what}: {r:?}");
        let q = compile_with(2, |x| x[0].sqrt() + x[1], &o).unwrap();
        let r = q.hyper_dual(&[0.0, 3.0], &[0.0, 1.0], &[0.0, 1.0]).unwrap();
        assert_eq!([r.re, r.e1, r.e2, r.e12], [3.0, 1.0, 1.0, 0.0], "{what}: {r:?}");
        let j = q.directional(&[0.0, 3.0], &[0.0, 1.0]).unwrap();
        assert_eq!([j.re, j.d1, j.d2], [3.0, 1.0, 0.0], "{what}: {j:?}");
        let k = q.project(&[0.0, 3.0], &[vec![0.0, 1.0], vec![0.0, 0.0]]).unwrap();
        assert_eq!(k.grad, [1.0, 0.0], "{what}: {k:?}");
        assert_eq!(k.hess, [[0.0; 2]; 2], "{what}: {k:?}");
        let f = q.with_float::<f32>();
        let r = f.hyper_dual(&[0.0, 3.0], &[0.0, 1.0], &[0.0, 1.0]).unwrap();
        assert_eq!([r.re, r.e1, r.e2, r.e12], [3.0, 1.0, 1.0, 0.0], "{what} f32: {r:?}");
        // A nonzero tangent through sqrt at 0: +∞ as before.
        let j = q.directional(&[0.0, 3.0], &[1.0, 0.0]).unwrap();
        assert_eq!(j.d1, INF, "{what}: {j:?}");
        assert!(!j.d2.is_finite(), "{what}: {j:?}");
        // x3 = 1: every other singular input at rest, x1 moving.
        let x = [0.0, 3.0, 0.0, 1.0, 0.0];
        let r = p.hyper_dual(&x, &v, &v).unwrap();
        assert_eq!([r.re, r.e1, r.e2, r.e12], [INF, 1.0, 1.0, 0.0], "{what}: {r:?}");
        let k = p.project(&x, &[v.clone(), z.clone()]).unwrap();
        assert_eq!(k.grad, [1.0, 0.0], "{what}: {k:?}");
        assert_eq!(k.hess, [[0.0; 2]; 2], "{what}: {k:?}");
    }
}

#[test]
fn jit_rerolled_exact() {
    let n = 16;
    let mut x = vec![4.0; n];
    x[0] = 0.0;
    for (what, o) in options() {
        let p = compile_with(n, sqrt_sum, &o).unwrap();
        let j = p.directional(&x, &unit(3, n)).unwrap();
        assert_eq!([j.re, j.d1, j.d2], [30.0, 0.25, -1.0 / 32.0], "{what}: {j:?}");
        let r = p.hyper_dual(&x, &unit(3, n), &unit(5, n)).unwrap();
        assert_eq!([r.e1, r.e2, r.e12], [0.25, 0.25, 0.0], "{what}: {r:?}");
        let j = p.directional(&x, &unit(0, n)).unwrap();
        assert_eq!(j.d1, INF, "{what}: {j:?}");
    }
}

/// `Σ_e sqrt(a_e) · b_e + c_e / a_e` over parameter vectors `a, b, c` of length `n`: a fused
/// loop with three leaves, at `a = (0, 4, 4, 4)`, `b = 3`, `c = 2` (value +∞).
fn tensor_program(n: usize) -> fomoh_jit::TensorProgram {
    let mut t = TensorBuilder::new(3 * n);
    let a = t.param(0, &[n]).unwrap();
    let b = t.param(n, &[n]).unwrap();
    let c = t.param(2 * n, &[n]).unwrap();
    let s = t.unary(UnaryOp::Sqrt, a).unwrap();
    let s = t.binary(BinaryOp::Mul, s, b).unwrap();
    let q = t.binary(BinaryOp::Div, c, a).unwrap();
    let s = t.binary(BinaryOp::Add, s, q).unwrap();
    let s = t.sum(s);
    t.finish(s).unwrap()
}

#[test]
fn jit_tensor_exact() {
    let n = 4;
    let mut theta = vec![4.0; n];
    theta.extend(vec![3.0; n]);
    theta.extend(vec![2.0; n]);
    theta[0] = 0.0;
    let a1 = unit(1, 3 * n);
    let b: Vec<f64> = (0..3 * n).map(|i| if (n..2 * n).contains(&i) { 1.0 } else { 0.0 }).collect();
    for s in [LoopStrategy::Direct, LoopStrategy::Preaccumulate, LoopStrategy::Auto] {
        let p = tensor_program(n).with_loop_strategy(s);
        // d/da1 = 0.25 · 3 - 2/16, d²/da1² = -3/32 + 4/64, d/db = Σ sqrt(a) = 6, d²/da1 db = 0.25.
        let r = p.hyper_dual(&theta, &a1, &b).unwrap();
        assert_eq!([r.re, r.e1, r.e2, r.e12], [INF, 0.625, 6.0, 0.25], "{s:?}: {r:?}");
        let j = p.directional(&theta, &a1).unwrap();
        assert_eq!([j.re, j.d1, j.d2], [INF, 0.625, -1.0 / 32.0], "{s:?}: {j:?}");
        let k = p.project(&theta, &[a1.clone(), b.clone()]).unwrap();
        assert_eq!(k.grad, [0.625, 6.0], "{s:?}: {k:?}");
        assert_eq!(k.hess, [[-1.0 / 32.0, 0.25], [0.25, 0.0]], "{s:?}: {k:?}");
        let f = p.with_float::<f32>();
        let theta32: Vec<f32> = theta.iter().map(|&v| v as f32).collect();
        let (a132, b32): (Vec<f32>, Vec<f32>) =
            (a1.iter().map(|&v| v as f32).collect(), b.iter().map(|&v| v as f32).collect());
        let r = f.hyper_dual(&theta32, &a132, &b32).unwrap();
        assert_eq!([r.e1, r.e2, r.e12], [0.625, 6.0, 0.25], "{s:?} f32: {r:?}");
        // Along a0 (the singular entry): non-finite, as before.
        let j = p.directional(&theta, &unit(0, 3 * n)).unwrap();
        assert!(!j.d1.is_finite() && !j.d2.is_finite(), "{s:?}: {j:?}");
    }
}

fn rosenbrock<S: Scalar>(x: &[S]) -> S {
    (0..x.len() - 1)
        .map(|i| {
            let (a, b) = (S::one() - x[i], x[i + 1] - x[i] * x[i]);
            a * a + S::from_f64(100.0) * b * b
        })
        .sum()
}

fn selects(g: &fomoh_jit::ir::Graph) -> usize {
    g.nodes.iter().filter(|op| matches!(op, fomoh_jit::ir::Op::Select { .. })).count()
}

/// The guards cost nothing on a finite result: the code that runs first is staged without a
/// select; the guarded code, run only where an output lane is not finite, has them where an
/// operation is not regular (`UnaryOp::is_regular`), and only there.
#[test]
fn plain_code_first_guarded_code_on_demand() {
    let o = Options { reroll: false, ..Options::default() };
    let regular = compile_with(6, rosenbrock, &o).unwrap();
    let singular = compile_with(6, sqrt_sum, &o).unwrap();
    for mode in [fomoh_jit::Mode::HyperDual, fomoh_jit::Mode::Jet, fomoh_jit::Mode::HyperK(4)] {
        assert_eq!(selects(&regular.staged(mode).unwrap()), 0, "{mode:?}");
        assert_eq!(selects(&singular.staged(mode).unwrap()), 0, "{mode:?}");
        assert!(selects(&singular.staged_guarded(mode).unwrap()) > 0, "{mode:?}");
        assert_eq!(selects(&regular.staged_guarded(mode).unwrap()), 0, "{mode:?}");
    }
}

/// The compiled program and the runtime agree on every lane (equal, or both NaN) where an
/// input sits on a singular point, for every direction pattern of zeros and ones. (An exact
/// zero may differ in sign: the guarded code writes `+0` where the runtime's plain path, taken
/// where a coefficient is finite, computes `c · 0 = -0` for `c < 0`.)
#[test]
fn compiled_and_runtime_agree_at_singular_points() {
    let f = |x: &[fomoh_runtime::HyperK<f64, 2>]| singular(x);
    let same = |a: f64, b: f64| a == b || (a.is_nan() && b.is_nan());
    for (what, o) in options() {
        let p = compile_with(5, singular, &o).unwrap();
        for x in [[0.0, 3.0, 0.5, 1.0, 0.0], [0.0, 3.0, 0.0, 0.0, 0.0], [1.0, 3.0, 0.5, 1.0, 2.0]] {
            for m1 in 0..32u32 {
                let m2 = m1.rotate_left(3) & 31;
                let d = |m: u32| (0..5).map(|i| f64::from((m >> i) & 1)).collect::<Vec<f64>>();
                let dirs = [d(m1), d(m2)];
                let want = fomoh_runtime::hyperplane(f, &x, &dirs).unwrap();
                let got = p.project(&x, &dirs).unwrap();
                let lanes = |p: &fomoh_runtime::Projection<f64>| {
                    let mut l = p.grad.clone();
                    l.extend(p.hess.iter().flatten());
                    l
                };
                let (g, w) = (lanes(&got), lanes(&want));
                assert!(g.iter().zip(&w).all(|(&a, &b)| same(a, b)), "{what} {x:?} {dirs:?}: {g:?} vs {w:?}");
            }
        }
    }
}
