//! Helpers shared by the JIT's integration tests.
#![allow(dead_code)]

pub mod losses;
pub mod random_prog;

use fomoh_runtime::Scalar;

/// A tolerance: `|a - b| <= rel * max(|a|, |b|, floor)`. A plain `f64` is `rel` with no
/// floor (purely relative); a floor of 1 makes it absolute for values below 1 in magnitude.
#[derive(Clone, Copy, Debug)]
pub struct Tol {
    pub rel: f64,
    pub floor: f64,
}

impl From<f64> for Tol {
    fn from(rel: f64) -> Tol {
        Tol { rel, floor: 0.0 }
    }
}

/// `a` and `b` agree within `tol` (both non-finite and equal in kind also passes).
pub fn close_within(a: f64, b: f64, tol: Tol) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a.is_infinite() || b.is_infinite() {
        return a == b;
    }
    (a - b).abs() <= tol.rel * a.abs().max(b.abs()).max(tol.floor) + 1e-300
}

/// `|a - b| <= tol * max(|a|, |b|)` (both non-finite and equal in kind also passes).
pub fn close(a: f64, b: f64, tol: f64) -> bool {
    close_within(a, b, tol.into())
}

pub fn assert_close(what: &str, a: &[f64], b: &[f64], tol: impl Into<Tol>) {
    let tol = tol.into();
    assert_eq!(a.len(), b.len(), "{what}: lengths differ");
    for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
        assert!(close_within(x, y, tol), "{what}: lane {i} differs: {x:e} vs {y:e} ({tol:?})\n{a:?}\n{b:?}");
    }
}

/// Bitwise equality with every NaN equal to every NaN.
pub fn assert_same(what: &str, a: &[f64], b: &[f64]) {
    assert_eq!(a.len(), b.len(), "{what}: lengths differ");
    for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
        assert!(
            x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()) || (x == 0.0 && y == 0.0),
            "{what}: lane {i} differs: {x:e} vs {y:e}"
        );
    }
}

/// Every elementary function (unary and binary) and `mul_add`, both sin and cos of one argument, and the piecewise ops.
pub fn zoo<S: Scalar>(x: &[S]) -> S {
    let (a, b, c) = (x[0], x[1], x[2]);
    let half = S::from_f64(0.5);
    let pos = a * a + S::one();
    let t1 = a.sin() * a.cos() + (b * c).exp() / pos + pos.ln() + pos.sqrt() * b.tanh();
    let t2 = (a * half).atan2(b) + a.hypot(c) + pos.pow(b * half) + b.powi(3) - c.powi(-2) + pos.powf(1.5);
    let t3 = b.sigmoid() * c.softplus() + a.max(b) - b.min(c) + (a - b).abs() + (c - half).relu();
    let t4 = pos.cbrt() + pos.ln_1p() + pos.log2() * pos.log10() + (a * half).exp_m1() + a.atan() + b.asinh();
    let t5 = (half * b.tanh()).asin()
        + (half * c.tanh()).acos()
        + (pos + S::one()).acosh()
        + (half * a.tanh()).atanh();
    let t6 = (a * half).sinh() * (b * half).cosh()
        + (c * half).tan()
        + c.recip()
        + a.log_sigmoid()
        + a.mul_add(b, c);
    let mut acc = t1 * t2 - t3 / (t4 + S::from_f64(3.0)) + t5 * t6;
    acc += -a * c;
    acc
}

/// Points where every function of [`zoo`] is defined.
pub fn points() -> Vec<Vec<f64>> {
    vec![vec![0.3, -0.7, 1.1], vec![-1.2, 0.4, 0.9], vec![0.9, 1.3, -0.6], vec![1.7, -0.2, 2.5]]
}

/// The directions of BENCHMARKS.md: `u_j[i] = sin((i + 1) sqrt(j + 2))`.
pub fn direction(j: usize, n: usize) -> Vec<f64> {
    (0..n).map(|i| ((i + 1) as f64 * ((j + 2) as f64).sqrt()).sin()).collect()
}

pub fn flat_hd<T>(h: fomoh_runtime::HyperDual<T>) -> Vec<T> {
    vec![h.re, h.e1, h.e2, h.e12]
}

pub fn flat_jet<T>(j: fomoh_runtime::Jet<T>) -> Vec<T> {
    vec![j.re, j.d1, j.d2]
}

pub fn flat_proj<T: Copy>(p: &fomoh_runtime::Projection<T>) -> Vec<T> {
    let mut v = vec![p.value];
    v.extend(&p.grad);
    for r in &p.hess {
        v.extend(r);
    }
    v
}

/// `v` as `f64`s.
pub fn f64s<T: fomoh_jit::JitFloat>(v: &[T]) -> Vec<f64> {
    v.iter().map(|x| x.as_f64()).collect()
}

/// The projection onto `K` directions of a tensor program, compiled against its interpreter
/// over `HyperK<T, K>`.
fn tensor_interp_k<T: fomoh_jit::JitFloat, const K: usize>(
    what: &str,
    p: &fomoh_jit::TensorProgram<T>,
    x: &[T],
    tol: Tol,
) where
    fomoh_runtime::Dim<K>: fomoh_runtime::Packed,
{
    let u: Vec<Vec<T>> = (0..K).map(|j| direction(j, x.len()).into_iter().map(T::cst).collect()).collect();
    let pr = p.project(x, &u).unwrap();
    let xs: Vec<fomoh_runtime::HyperK<T, K>> =
        (0..x.len()).map(|i| fomoh_runtime::HyperK::seed(x[i], core::array::from_fn(|j| u[j][i]))).collect();
    let r = p.interpret(&xs).unwrap();
    let rp = fomoh_runtime::Projection::from(r);
    assert_close(&format!("{what} interpreter K={K}"), &f64s(&flat_proj(&pr)), &f64s(&flat_proj(&rp)), tol);
}

/// Every compiled mode of a tensor program (in `f64` or `f32`) against its interpreter over
/// `T`, `HyperDual<T>` and `HyperK<T, K>` (the runtime's number types): value, hyper-dual,
/// jet and the projections for K = 1..=`max_k` (≤ `MAX_K`), all along the directions of
/// [`direction`] (rounded to `T`).
pub fn tensor_vs_interpreter<T: fomoh_jit::JitFloat>(
    what: &str,
    p: &fomoh_jit::TensorProgram<T>,
    x: &[T],
    tol: impl Into<Tol>,
    max_k: usize,
) {
    use fomoh_runtime::HyperDual;
    let tol = tol.into();
    let n = x.len();
    let u: Vec<Vec<T>> = (0..3).map(|j| direction(j, n).into_iter().map(T::cst).collect()).collect();
    assert_close(
        &format!("{what} interpreter value"),
        &[p.value(x).unwrap().as_f64()],
        &[p.interpret(x).unwrap().as_f64()],
        tol,
    );
    let xs: Vec<HyperDual<T>> = (0..n).map(|i| HyperDual::seed(x[i], u[0][i], u[1][i])).collect();
    assert_close(
        &format!("{what} interpreter hyper-dual"),
        &f64s(&flat_hd(p.hyper_dual(x, &u[0], &u[1]).unwrap())),
        &f64s(&flat_hd(p.interpret(&xs).unwrap())),
        tol,
    );
    let xs: Vec<HyperDual<T>> = (0..n).map(|i| HyperDual::seed(x[i], u[2][i], u[2][i])).collect();
    let (j, r) = (p.directional(x, &u[2]).unwrap(), p.interpret(&xs).unwrap());
    assert_close(&format!("{what} interpreter jet"), &f64s(&flat_jet(j)), &f64s(&[r.re, r.e1, r.e12]), tol);
    assert!(max_k <= fomoh_runtime::MAX_K, "max_k <= MAX_K");
    macro_rules! ks {
        ($($k:literal)*) => {$(
            if $k <= max_k {
                tensor_interp_k::<T, $k>(what, p, x, tol);
            }
        )*};
    }
    fomoh_runtime::for_each_k!(ks);
}

/// A random chain of elementwise ops over `x` (`[n]`) and a broadcast row `y` (`[1, n]`),
/// summed: `ops` picks each link (0 sin, 1 tanh, 2 `+ x`, 3 `· y`, 4 `exp(tanh(·)) / y`,
/// 5 `max(·, 0.5)`, 6 a select `t > x ? t·y : sin t`, 7 `x - (-1.5)·e`, 8 `-(e·e) - x·y`
/// with `e = exp(tanh t)`);
/// θ in [0.2, 0.9] from `seed`.
pub fn elementwise_chain(n: usize, ops: &[usize], seed: u64) -> (fomoh_jit::TensorProgram, Vec<f64>) {
    use fomoh_runtime::{BinaryOp, UnaryOp};
    let mut b = fomoh_jit::TensorBuilder::new(2 * n);
    let x = b.param(0, &[n]).unwrap();
    let y = b.param(n, &[1, n]).unwrap();
    let mut t = b.mul(x, y).unwrap();
    for &o in ops {
        t = match o {
            0 => b.unary(UnaryOp::Sin, t).unwrap(),
            1 => b.unary(UnaryOp::Tanh, t).unwrap(),
            2 => b.binary(BinaryOp::Add, t, x).unwrap(),
            3 => b.binary(BinaryOp::Mul, t, y).unwrap(),
            // exp of a tanh: exp stays covered and chains of it cannot overflow (inf vs inf is
            // not an agreement a test can check)
            4 => {
                let th = b.unary(UnaryOp::Tanh, t).unwrap();
                let e = b.unary(UnaryOp::Exp, th).unwrap();
                b.binary(BinaryOp::Div, e, y).unwrap()
            }
            5 => {
                let c = b.constant(0.5);
                b.binary(BinaryOp::Max, t, c).unwrap()
            }
            // negations, negative literals and differences (folded into signs, `fnmadd`
            // and `fmsub` by the compiler), of positive terms (e = exp(tanh t)), so they do
            // not cancel: x - (-1.5)·e, and -(e·e) - x·y
            7 | 8 => {
                let th = b.unary(UnaryOp::Tanh, t).unwrap();
                let e = b.unary(UnaryOp::Exp, th).unwrap();
                if o == 7 {
                    let c = b.constant(-1.5);
                    let m = b.mul(c, e).unwrap();
                    b.sub(x, m).unwrap()
                } else {
                    let ee = b.mul(e, e).unwrap();
                    let n = b.neg(ee).unwrap();
                    let xy = b.mul(x, y).unwrap();
                    b.sub(n, xy).unwrap()
                }
            }
            // a piecewise step: t·y where t > x, else sin(t)
            _ => {
                let ty = b.mul(t, y).unwrap();
                let st = b.unary(UnaryOp::Sin, t).unwrap();
                b.select(fomoh_jit::ir::Cmp::Gt, t, x, ty, st).unwrap()
            }
        };
    }
    let s = b.sum(t);
    let theta = (0..2 * n).map(|i| 0.2 + 0.7 * ((i as u64 + seed % 97) as f64).sin().abs()).collect();
    (b.finish(s).unwrap(), theta)
}

/// The first `rows` samples of the bundled digits data (pixels scaled to [0, 1]) and their
/// labels.
pub fn digits(rows: usize) -> (Vec<f64>, Vec<usize>) {
    let text = include_str!("../data/digits.csv");
    let mut x = Vec::new();
    let mut y = Vec::new();
    for line in text.lines().skip(1).take(rows) {
        let v: Vec<f64> = line.split(',').map(|t| t.trim().parse().unwrap()).collect();
        x.extend(v[..64].iter().map(|p| p / 16.0));
        y.push(v[64] as usize);
    }
    (x, y)
}

/// One-hot rows of valid labels (the tests' labels are below `classes`).
pub fn one_hot(labels: &[usize], classes: usize) -> Vec<f64> {
    fomoh_runtime::nn::one_hot(labels, classes).expect("labels below classes")
}
