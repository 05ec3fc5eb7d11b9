//! Every rule of the table (`fomoh::rules`): value, first and second derivative
//!
//! 1. against independent closed forms written here (`d/dx asinh = 1/sqrt(x²+1)`, ...),
//!    evaluated in `f64`;
//! 2. against central finite differences of the primal `eval` (fourth-order stencils);
//! 3. `rule(a).f == eval(a)` bit for bit;
//!
//! on a grid with the edge points (0, negatives, large magnitudes, near the domain ends),
//! in `f64` and `f32`. Plus the conventions at the hard points (tests named `convention_*`).
//!
//! Tolerances (relative to the larger magnitude, plus stated absolute terms):
//! - closed forms: `f64` `1e-12 + 16ε/r`, `f32` `2e-6 + 16ε₃₂/r` (against the `f64` closed
//!   form at the same `f32` point), where `r = min(1, distance to the domain end)` for the
//!   rules that form `1 - x²` or `x² - 1` (asin, acos, atanh, acosh, tan near its poles) and
//!   `r = 1` otherwise; tanh, sigmoid and softplus form `1 - t²` / `s(1 - s)` and may lose
//!   their tiny derivatives there, so they get an absolute `4ε` as well;
//! - finite differences (`f64`): 1e-7 for `f'`, 1e-5 for `f''`, plus the stencil's rounding
//!   noise `64·ε·max|f|/h^k` and (unary) the truncation estimate `|D(h) - D(2h)|`; (`f32`): 2e-3 for `f'`, 5e-2 for `f''`, plus that noise in `f32`.
//!   The step is `2e-3·L` (`f32`: `3e-2·L`) with the function's length scale `L` (|x| for
//!   power-like functions, 1 for exponential and periodic ones), at most 1/200 of the distance
//!   to the nearest non-smooth point.
// Index arithmetic over matrices reads clearer with explicit indices.
#![allow(clippy::needless_range_loop)]

use fomoh::{BinaryOp, HyperDual, HyperK, Jet, Partials, Rule, Scalar, UnaryOp};

const LN2: f64 = std::f64::consts::LN_2;
const LN10: f64 = std::f64::consts::LN_10;

/// The base grid: zero, tiny, ordinary, large and very large magnitudes, both signs.
const GRID: &[f64] = &[
    0.0, 1e-8, -1e-8, 0.3, -0.3, 0.5, -0.5, 0.999, -0.999, 0.9999999, -0.9999999, 1.0, -1.0, 1.000001,
    -1.000001, 1.5, -1.5, 2.5, -2.5, 7.0, -7.0, 30.0, -30.0, 100.0, -100.0, 1e4, -1e4, 1e8, -1e8,
];

/// `1/sigmoid'`-safe logistic pieces: `σ(x)`, `σ'(x)`, `σ''(x)` from `t = e^{-|x|}`.
fn sigmoid_parts(x: f64) -> (f64, f64, f64) {
    let t = (-x.abs()).exp();
    let s = if x >= 0.0 { 1.0 / (1.0 + t) } else { t / (1.0 + t) };
    let d1 = t / ((1.0 + t) * (1.0 + t));
    let d2 = x.signum() * t * (t - 1.0) / ((1.0 + t) * (1.0 + t) * (1.0 + t));
    (s, d1, if x == 0.0 { 0.0 } else { d2 })
}

/// The closed form `(f, f', f'')` of each unary op, written independently of the rule table,
/// and its open domain `(lo, hi)` (`None`: the closed form is not defined at `x`).
fn closed_form(op: UnaryOp, x: f64) -> Option<(f64, f64, f64)> {
    use UnaryOp::*;
    let r = match op {
        Recip if x != 0.0 => (1.0 / x, -1.0 / (x * x), 2.0 / (x * x * x)),
        Exp => (x.exp(), x.exp(), x.exp()),
        ExpM1 => (x.exp_m1(), x.exp(), x.exp()),
        Ln if x > 0.0 => (x.ln(), 1.0 / x, -1.0 / (x * x)),
        Ln1p if x > -1.0 => (x.ln_1p(), 1.0 / (1.0 + x), -1.0 / ((1.0 + x) * (1.0 + x))),
        Log2 if x > 0.0 => (x.log2(), 1.0 / (x * LN2), -1.0 / (x * x * LN2)),
        Log10 if x > 0.0 => (x.log10(), 1.0 / (x * LN10), -1.0 / (x * x * LN10)),
        Sqrt if x > 0.0 => (x.sqrt(), 0.5 / x.sqrt(), -0.25 / (x * x.sqrt())),
        Cbrt if x != 0.0 => {
            let c = x.cbrt();
            (c, 1.0 / (3.0 * c * c), -2.0 / (9.0 * c.powi(5)))
        }
        Powi(n) if n >= 0 || x != 0.0 => {
            let nf = n as f64;
            let p = |k: i32| if k < 0 && x == 0.0 { 0.0 } else { x.powi(k) };
            (
                x.powi(n),
                if n == 0 { 0.0 } else { nf * p(n - 1) },
                if n == 0 || n == 1 { 0.0 } else { nf * (nf - 1.0) * p(n - 2) },
            )
        }
        Powf(p) if x > 0.0 => (x.powf(p), p * x.powf(p - 1.0), p * (p - 1.0) * x.powf(p - 2.0)),
        Abs if x != 0.0 => (x.abs(), x.signum(), 0.0),
        Sin => (x.sin(), x.cos(), -x.sin()),
        Cos => (x.cos(), -x.sin(), -x.cos()),
        Tan => {
            let c = x.cos();
            (x.tan(), 1.0 / (c * c), 2.0 * x.sin() / (c * c * c))
        }
        Asin if x.abs() < 1.0 => {
            let q = 1.0 - x * x;
            (x.asin(), 1.0 / q.sqrt(), x / (q * q.sqrt()))
        }
        Acos if x.abs() < 1.0 => {
            let q = 1.0 - x * x;
            (x.acos(), -1.0 / q.sqrt(), -x / (q * q.sqrt()))
        }
        Atan => (x.atan(), 1.0 / (1.0 + x * x), -2.0 * x / ((1.0 + x * x) * (1.0 + x * x))),
        Sinh => (x.sinh(), x.cosh(), x.sinh()),
        Cosh => (x.cosh(), x.sinh(), x.cosh()),
        Tanh => {
            let c = x.cosh();
            (x.tanh(), 1.0 / (c * c), -2.0 * x.sinh() / (c * c * c))
        }
        Asinh => {
            let q = x * x + 1.0;
            (x.asinh(), 1.0 / q.sqrt(), -x / (q * q.sqrt()))
        }
        Acosh if x > 1.0 => {
            let q = x * x - 1.0;
            (x.acosh(), 1.0 / q.sqrt(), -x / (q * q.sqrt()))
        }
        Atanh if x.abs() < 1.0 => {
            let q = 1.0 - x * x;
            (x.atanh(), 1.0 / q, 2.0 * x / (q * q))
        }
        Sigmoid => sigmoid_parts(x),
        Relu if x != 0.0 => (x.max(0.0), if x > 0.0 { 1.0 } else { 0.0 }, 0.0),
        Softplus => {
            let (s, d1, _) = sigmoid_parts(x);
            (x.max(0.0) + (-x.abs()).exp().ln_1p(), s, d1)
        }
        LogSigmoid => {
            let (s, d1, _) = sigmoid_parts(x);
            (-((-x).max(0.0) + (-x.abs()).exp().ln_1p()), 1.0 - s, -d1)
        }
        Exp2 => {
            let e = 2f64.powf(x);
            (e, LN2 * e, LN2 * LN2 * e)
        }
        // erf by its Taylor series (independent of the implementation's libm), where the
        // series is accurate to ~1e-14; erfc = 1 - erf where that keeps its relative accuracy.
        Erf if x.abs() <= 2.5 => (erf_series(x), erf_d1(x), -2.0 * x * erf_d1(x)),
        Erfc if x.abs() <= 1.0 => (1.0 - erf_series(x), -erf_d1(x), 2.0 * x * erf_d1(x)),
        Floor => (x.floor(), 0.0, 0.0),
        Ceil => (x.ceil(), 0.0, 0.0),
        Round => (x.round(), 0.0, 0.0),
        Trunc => (x.trunc(), 0.0, 0.0),
        Signum => (x.signum(), 0.0, 0.0),
        Clamp(lo, hi) => (x.max(lo).min(hi), if lo <= x && x <= hi { 1.0 } else { 0.0 }, 0.0),
        _ => return None,
    };
    Some(r)
}

/// `erf x = 2/√π Σ (-1)^n x^(2n+1) / (n! (2n+1))`.
fn erf_series(x: f64) -> f64 {
    let (mut term, mut sum) = (x, x);
    for n in 1..200 {
        term *= -x * x / n as f64;
        let t = term / (2 * n + 1) as f64;
        sum += t;
        if t.abs() < 1e-18 * sum.abs() {
            break;
        }
    }
    sum * 2.0 / std::f64::consts::PI.sqrt()
}

/// `erf'(x) = 2/√π e^(-x²)`.
fn erf_d1(x: f64) -> f64 {
    2.0 / std::f64::consts::PI.sqrt() * (-x * x).exp()
}

/// Distance from `x` to the nearest point where the op is not smooth (domain end or kink);
/// `f64::INFINITY` for entire functions.
fn smooth_radius(op: UnaryOp, x: f64) -> f64 {
    use UnaryOp::*;
    match op {
        Recip | Cbrt | Abs | Relu | Signum => x.abs(),
        Floor | Ceil | Trunc => (x - x.round()).abs(),
        Round => (x - (x - 0.5).round() - 0.5).abs(),
        Clamp(lo, hi) => (x - lo).abs().min((x - hi).abs()),
        Powi(n) if n < 0 => x.abs(),
        Ln | Log2 | Log10 | Sqrt => x,
        Powf(p) if p.fract() != 0.0 || p < 0.0 => x,
        Ln1p => x + 1.0,
        Asin | Acos | Atanh => 1.0 - x.abs(),
        Acosh => x - 1.0,
        // tan: distance to the nearest pole (k + 1/2)π
        Tan => {
            let k = (x / std::f64::consts::PI - 0.5).round();
            (x - (k + 0.5) * std::f64::consts::PI).abs()
        }
        _ => f64::INFINITY,
    }
}

/// Every operation of the list (with its sample parameters), and more parameters.
fn all_unary() -> Vec<UnaryOp> {
    use UnaryOp::*;
    let mut v: Vec<UnaryOp> = UnaryOp::samples().into_iter().map(|(op, _)| op).collect();
    v.extend([Clamp(-1.0, 2.0), Clamp(1.0, -1.0), Clamp(f64::NEG_INFINITY, 0.0)]);
    v.extend([-3, -2, -1, 0, 1, 2, 3, 4, 7].map(Powi));
    v.extend([0.0, 1.0, 2.0, 3.0, 0.5, 1.5, 2.5, -0.5, -2.0, 1.0 / 3.0].map(Powf));
    v
}

/// `r` of the closed-form tolerance (see the module docs).
fn cancellation_radius(op: UnaryOp, x: f64) -> f64 {
    use UnaryOp::*;
    match op {
        Asin | Acos | Atanh | Acosh | Tan => smooth_radius(op, x).min(1.0),
        _ => 1.0,
    }
}

/// Absolute tolerance of the closed-form comparison, in units of the type's epsilon.
fn cancellation_atol(op: UnaryOp) -> f64 {
    use UnaryOp::*;
    match op {
        Tanh | Sigmoid | Softplus | LogSigmoid => 4.0,
        _ => 0.0,
    }
}

/// The natural length scale of the op at `x` (finite-difference step = a fraction of it).
fn length_scale(op: UnaryOp, x: f64) -> f64 {
    use UnaryOp::*;
    match op {
        Exp | ExpM1 | Sin | Cos | Tan | Sinh | Cosh | Tanh | Sigmoid | Relu | Softplus | LogSigmoid | Abs
        | Exp2 | Erf | Erfc => 1.0,
        _ => x.abs().max(1.0),
    }
}

/// `|a - b| <= rtol·max(|a|, |b|) + atol`, treating equal infinities as equal.
fn close(a: f64, b: f64, rtol: f64, atol: f64) -> bool {
    a == b || (a - b).abs() <= rtol * a.abs().max(b.abs()) + atol
}

/// Which lanes of a rule: closed form vs the table, in `f64` and `f32`.
#[test]
fn unary_rules_match_closed_forms_f64_and_f32() {
    let mut compared = 0;
    for op in all_unary() {
        for &x in GRID.iter().chain(&[1.0 + 1e-9, 1.0 - 1e-9, 0.1, 3.0, -3.0]) {
            let Some((f, d1, d2)) = closed_form(op, x) else { continue };
            if ![f, d1, d2].iter().all(|v| v.is_finite()) {
                continue; // exp(1e8) and friends: nothing to compare
            }
            let rtol = 1e-12 + 16.0 * f64::EPSILON / cancellation_radius(op, x);
            let atol = cancellation_atol(op) * f64::EPSILON;
            let r: Rule<f64> = op.rule(x);
            for (lane, got, want) in [("f", r.f, f), ("f'", r.d1, d1), ("f''", r.d2, d2)] {
                assert!(
                    close(got, want, rtol, atol),
                    "{} at {x}: {lane} = {got:e}, closed form {want:e}",
                    op.name()
                );
            }
            compared += 1;

            // f32: the table in f32 at the f32 point vs the f64 closed form at that point.
            let x32 = x as f32;
            let Some((f, d1, d2)) = closed_form(op, x32 as f64) else { continue };
            if ![f, d1, d2].iter().all(|v| v.is_finite() && v.abs() < f32::MAX as f64 / 4.0) {
                continue;
            }
            let r: Rule<f32> = op.rule(x32);
            let eps32 = f32::EPSILON as f64;
            let rtol = 2e-6 + 16.0 * eps32 / cancellation_radius(op, x32 as f64);
            // f32 results below the normal range lose precision (subnormals): 1e-37 absolute.
            let atol = cancellation_atol(op) * eps32 + 1e-37;
            for (lane, got, want) in [("f", r.f, f), ("f'", r.d1, d1), ("f''", r.d2, d2)] {
                assert!(
                    close(got as f64, want, rtol, atol),
                    "f32 {} at {x32}: {lane} = {got:e}, closed form {want:e}",
                    op.name()
                );
            }
        }
    }
    assert!(compared > 600, "only {compared} points compared");
}

/// Fourth-order central differences of `eval` in `T` for `f'` and `f''` at step `h`.
fn fd_unary<T: fomoh::RealNum>(op: UnaryOp, x: T, h: T) -> (T, T, T) {
    let f = |t: T| op.eval(x + t * h);
    let c = |v: f64| T::cst(v);
    let (fm2, fm1, f0, f1, f2) = (f(c(-2.0)), f(c(-1.0)), f(c(0.0)), f(c(1.0)), f(c(2.0)));
    let d1 = (c(8.0) * (f1 - fm1) - (f2 - fm2)) / (c(12.0) * h);
    let d2 = (c(16.0) * (f1 + fm1) - (f2 + fm2) - c(30.0) * f0) / (c(12.0) * h * h);
    let fmax = [fm2, fm1, f0, f1, f2].iter().fold(0.0_f64, |m, v| m.max(v.as_f64().abs()));
    (d1, d2, T::cst(fmax))
}

fn check_fd<T: fomoh::RealNum>(op: UnaryOp, x: f64, base_h: f64, rtol1: f64, rtol2: f64) -> bool {
    let radius = smooth_radius(op, x);
    let xt = T::cst(x);
    let h = (base_h * length_scale(op, x)).min(radius / 200.0);
    if h <= 0.0 || radius.is_nan() || radius <= 0.0 {
        return false;
    }
    let ht = T::cst(h);
    let ht = (xt + ht) - xt; // a step representable at x
    if ht.as_f64() == 0.0 {
        return false;
    }
    let (d1, d2, fmax) = fd_unary(op, xt, ht);
    // the truncation error at h is about |D(h) - D(2h)| / 15: allow |D(h) - D(2h)|
    let (e1, e2, _) = fd_unary(op, xt, ht + ht);
    let r = op.rule(xt);
    let vals = [d1, d2, fmax, r.d1, r.d2].map(|v| v.as_f64());
    let (trunc1, trunc2) = ((e1.as_f64() - vals[0]).abs(), (e2.as_f64() - vals[1]).abs());
    if !vals.iter().all(|v| v.is_finite()) {
        return false;
    }
    // values in the subnormal range carry no relative precision to difference
    let tiny = 1e6 * if T::EPS > 1e-10 { f32::MIN_POSITIVE as f64 } else { f64::MIN_POSITIVE };
    if vals[2] != 0.0 && vals[2] < tiny {
        return false;
    }
    let eps = T::EPS;
    let h = ht.as_f64();
    let noise1 = 64.0 * eps * vals[2] / h + trunc1;
    let noise2 = 64.0 * eps * vals[2] / (h * h) + trunc2;
    assert!(
        close(vals[3], vals[0], rtol1, noise1),
        "{} ({}) at {x}: f' = {:e}, finite differences {:e} (h = {h:e})",
        op.name(),
        std::any::type_name::<T>(),
        vals[3],
        vals[0]
    );
    assert!(
        close(vals[4], vals[1], rtol2, noise2),
        "{} ({}) at {x}: f'' = {:e}, finite differences {:e} (h = {h:e})",
        op.name(),
        std::any::type_name::<T>(),
        vals[4],
        vals[1]
    );
    true
}

#[test]
fn unary_rules_match_finite_differences_f64() {
    let mut compared = 0;
    for op in all_unary() {
        for &x in GRID {
            if smooth_radius(op, x) > 1e-2 && check_fd::<f64>(op, x, 2e-3, 1e-7, 1e-5) {
                compared += 1;
            }
        }
    }
    assert!(compared > 500, "only {compared} points compared");
}

#[test]
fn unary_rules_match_finite_differences_f32() {
    let mut compared = 0;
    for op in all_unary() {
        for &x in GRID {
            if x.abs() <= 1e4 && smooth_radius(op, x) > 5e-2 && check_fd::<f32>(op, x, 3e-2, 2e-3, 5e-2) {
                compared += 1;
            }
        }
    }
    assert!(compared > 400, "only {compared} points compared");
}

/// The value lane is the primal, bit for bit (NaN matches NaN), everywhere on the grid,
/// including outside the domains.
#[test]
fn unary_rule_value_is_eval_bitwise() {
    for op in all_unary() {
        for &x in GRID.iter().chain(&[f64::INFINITY, f64::NEG_INFINITY, -0.0, 1e300, -1e300]) {
            let (a, b) = (op.rule(x).f, op.eval(x));
            assert!(
                a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                "{} at {x}: {a} vs {b}",
                op.name()
            );
            let x = x as f32;
            let (a, b) = (op.rule(x).f, op.eval(x));
            assert!(
                a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                "f32 {} at {x}: {a} vs {b}",
                op.name()
            );
        }
    }
}

/// Every binary operation of the list.
fn binary() -> Vec<BinaryOp> {
    BinaryOp::samples().into_iter().map(|(op, _, _)| op).collect()
}

/// Closed forms `(f, fx, fy, fxx, fxy, fyy)`, away from the non-smooth set.
fn closed_form2(op: BinaryOp, x: f64, y: f64) -> Option<[f64; 6]> {
    use BinaryOp::*;
    Some(match op {
        Add => [x + y, 1.0, 1.0, 0.0, 0.0, 0.0],
        Sub => [x - y, 1.0, -1.0, 0.0, 0.0, 0.0],
        Mul => [x * y, y, x, 0.0, 1.0, 0.0],
        Div if y != 0.0 => [x / y, 1.0 / y, -x / (y * y), 0.0, -1.0 / (y * y), 2.0 * x / (y * y * y)],
        Pow if x > 0.0 => {
            let (f, l) = (x.powf(y), x.ln());
            [
                f,
                y * x.powf(y - 1.0),
                f * l,
                y * (y - 1.0) * x.powf(y - 2.0),
                x.powf(y - 1.0) * (1.0 + y * l),
                f * l * l,
            ]
        }
        Atan2 if x != 0.0 || y != 0.0 => {
            let r2 = x * x + y * y;
            let r4 = r2 * r2;
            [x.atan2(y), y / r2, -x / r2, -2.0 * x * y / r4, (x * x - y * y) / r4, 2.0 * x * y / r4]
        }
        Hypot if x != 0.0 || y != 0.0 => {
            let r = (x * x + y * y).sqrt();
            let r3 = r * r * r;
            [r, x / r, y / r, y * y / r3, -x * y / r3, x * x / r3]
        }
        Max if x != y => {
            if x > y {
                [x, 1.0, 0.0, 0.0, 0.0, 0.0]
            } else {
                [y, 0.0, 1.0, 0.0, 0.0, 0.0]
            }
        }
        Min if x != y => {
            if x < y {
                [x, 1.0, 0.0, 0.0, 0.0, 0.0]
            } else {
                [y, 0.0, 1.0, 0.0, 0.0, 0.0]
            }
        }
        _ => return None,
    })
}

fn lanes<T: Copy>(p: Partials<T>) -> [T; 6] {
    [p.f, p.fx, p.fy, p.fxx, p.fxy, p.fyy]
}

const NAMES: [&str; 6] = ["f", "fx", "fy", "fxx", "fxy", "fyy"];

const GRID2: &[f64] = &[0.0, 0.3, -0.3, 1.0, -1.0, 2.5, -2.5, 7.0, -7.0, 1e3, -1e3, 1e-6];

/// Radius around `(x, y)` in which the binary op is smooth.
fn smooth_radius2(op: BinaryOp, x: f64, y: f64) -> f64 {
    use BinaryOp::*;
    match op {
        Add | Sub | Mul => f64::INFINITY,
        Div => y.abs(),
        Pow => x,
        Atan2 => {
            // the branch cut of atan2(x, y): x = 0, y < 0
            let r = x.hypot(y);
            if y < 0.0 {
                r.min(x.abs())
            } else {
                r
            }
        }
        Hypot => x.hypot(y),
        Max | Min => (x - y).abs() / 2.0,
    }
}

#[test]
fn binary_partials_match_closed_forms_f64_and_f32() {
    let mut compared = 0;
    for op in binary() {
        for &x in GRID2 {
            for &y in GRID2 {
                let Some(want) = closed_form2(op, x, y) else { continue };
                if !want.iter().all(|v| v.is_finite()) {
                    continue;
                }
                let got = lanes(op.partials(x, y));
                for k in 0..6 {
                    assert!(
                        close(got[k], want[k], 1e-12, 1e-300),
                        "{}({x}, {y}): {} = {:e}, closed form {:e}",
                        op.name(),
                        NAMES[k],
                        got[k],
                        want[k]
                    );
                }
                compared += 1;
                let (x32, y32) = (x as f32, y as f32);
                let Some(want) = closed_form2(op, x32 as f64, y32 as f64) else { continue };
                if !want.iter().all(|v| v.is_finite() && v.abs() < 1e30) {
                    continue;
                }
                let got = lanes(op.partials(x32, y32));
                for k in 0..6 {
                    assert!(
                        close(got[k] as f64, want[k], 1e-5, 1e-37),
                        "f32 {}({x32}, {y32}): {} = {:e}, closed form {:e}",
                        op.name(),
                        NAMES[k],
                        got[k],
                        want[k]
                    );
                }
            }
        }
    }
    assert!(compared > 600, "only {compared} points compared");
}

/// The length scales `(Lx, Ly)` of a binary op at `(x, y)`.
fn length_scales2(op: BinaryOp, x: f64, y: f64) -> (f64, f64) {
    use BinaryOp::*;
    match op {
        Add | Sub | Mul | Max | Min => (1.0, 1.0),
        Div => (x.abs().max(1.0), y.abs()),
        Pow => (x / y.abs().max(1.0), 1.0 / x.ln().abs().max(1.0)),
        Atan2 | Hypot => (x.hypot(y), x.hypot(y)),
    }
}

/// Finite differences of `eval` for the partials: fourth-order first and pure second
/// differences, Richardson-extrapolated mixed difference; steps `hx`, `hy`.
fn fd2<T: fomoh::RealNum>(op: BinaryOp, x: T, y: T, hx: T, hy: T) -> ([T; 5], T) {
    let c = |v: f64| T::cst(v);
    let f = |s: f64, t: f64| op.eval(x + c(s) * hx, y + c(t) * hy);
    let d1 = |g: &dyn Fn(f64) -> T, h: T| (c(8.0) * (g(1.0) - g(-1.0)) - (g(2.0) - g(-2.0))) / (c(12.0) * h);
    let d2 = |g: &dyn Fn(f64) -> T, h: T| {
        (c(16.0) * (g(1.0) + g(-1.0)) - (g(2.0) + g(-2.0)) - c(30.0) * g(0.0)) / (c(12.0) * h * h)
    };
    let gx = |s: f64| f(s, 0.0);
    let gy = |t: f64| f(0.0, t);
    let mixed = |k: f64| (f(k, k) - f(k, -k) - f(-k, k) + f(-k, -k)) / (c(4.0 * k * k) * hx * hy);
    let fxy = (c(4.0) * mixed(1.0) - mixed(2.0)) / c(3.0);
    let mut fmax = 0.0_f64;
    for s in [-2.0, -1.0, 0.0, 1.0, 2.0] {
        for t in [-2.0, -1.0, 0.0, 1.0, 2.0] {
            fmax = fmax.max(f(s, t).as_f64().abs());
        }
    }
    ([d1(&gx, hx), d1(&gy, hy), d2(&gx, hx), fxy, d2(&gy, hy)], T::cst(fmax))
}

fn check_fd2<T: fomoh::RealNum>(op: BinaryOp, x: f64, y: f64, base_h: f64, rtol1: f64, rtol2: f64) -> bool {
    let radius = smooth_radius2(op, x, y);
    let (lx, ly) = length_scales2(op, x, y);
    let (hx, hy) = ((base_h * lx).min(radius / 200.0), (base_h * ly).min(radius / 200.0));
    if hx.is_nan() || hy.is_nan() || hx <= 0.0 || hy <= 0.0 {
        return false;
    }
    let (xt, yt) = (T::cst(x), T::cst(y));
    let (hx, hy) = ((xt + T::cst(hx)) - xt, (yt + T::cst(hy)) - yt); // representable steps
    if hx.as_f64() == 0.0 || hy.as_f64() == 0.0 {
        return false;
    }
    let (fd, fmax) = fd2(op, xt, yt, hx, hy);
    let got = lanes(op.partials(xt, yt));
    let fmax = fmax.as_f64();
    if !fmax.is_finite() || !got.iter().all(|v| v.as_f64().is_finite()) {
        return false;
    }
    let (hx, hy) = (hx.as_f64(), hy.as_f64());
    let denom = [hx, hy, hx * hx, hx * hy, hy * hy];
    for k in 0..5 {
        let (a, b) = (got[k + 1].as_f64(), fd[k].as_f64());
        let rtol = if k < 2 { rtol1 } else { rtol2 };
        let noise = 64.0 * T::EPS * fmax / denom[k];
        assert!(
            close(a, b, rtol, noise),
            "{} ({}) at ({x}, {y}): {} = {a:e}, finite differences {b:e} (hx = {hx:e}, hy = {hy:e})",
            op.name(),
            std::any::type_name::<T>(),
            NAMES[k + 1]
        );
    }
    true
}

#[test]
fn binary_partials_match_finite_differences_f64_and_f32() {
    let (mut n64, mut n32) = (0, 0);
    for op in binary() {
        for &x in GRID2 {
            for &y in GRID2 {
                if smooth_radius2(op, x, y) > 1e-2 && check_fd2::<f64>(op, x, y, 2e-3, 1e-7, 1e-5) {
                    n64 += 1;
                }
                if smooth_radius2(op, x, y) > 0.2 && check_fd2::<f32>(op, x, y, 3e-2, 2e-3, 5e-2) {
                    n32 += 1;
                }
            }
        }
    }
    assert!(n64 > 600 && n32 > 400, "compared {n64} (f64) and {n32} (f32) points");
}

#[test]
fn binary_partials_value_is_eval_bitwise() {
    let extra = [f64::INFINITY, f64::NEG_INFINITY, f64::NAN, -0.0];
    for op in binary() {
        for &x in GRID2.iter().chain(&extra) {
            for &y in GRID2.iter().chain(&extra) {
                let (a, b) = (op.partials(x, y).f, op.eval(x, y));
                assert!(
                    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                    "{}({x}, {y}): {a} vs {b}",
                    op.name()
                );
                let (x, y) = (x as f32, y as f32);
                let (a, b) = (op.partials(x, y).f, op.eval(x, y));
                assert!(
                    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                    "f32 {}({x}, {y}): {a} vs {b}",
                    op.name()
                );
            }
        }
    }
}

/// The lifted number types give the same value as the plain float for every op (the
/// operator fast paths `+ - * /` included).
#[test]
fn lifted_values_are_the_primal() {
    for op in all_unary() {
        for &x in GRID {
            let want = op.eval(x);
            let hd = HyperDual::seed(x, 1.0, -0.5).unary(op);
            let j = Jet::seed(x, 0.7).unary(op);
            let k = HyperK::<f64, 3>::seed(x, [1.0, 0.0, 2.0]).unary(op);
            for got in [hd.re, j.re, k.re] {
                assert!(
                    got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                    "{} at {x}",
                    op.name()
                );
            }
        }
    }
    for op in binary() {
        for &x in GRID2 {
            for &y in GRID2 {
                let want = op.eval(x, y);
                let hd = HyperDual::seed(x, 1.0, 0.0).binary(op, HyperDual::seed(y, 0.0, 1.0));
                let k = HyperK::<f64, 2>::seed(x, [1.0, 0.0]).binary(op, HyperK::seed(y, [0.0, 1.0]));
                for got in [hd.re, k.re] {
                    assert!(
                        got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                        "{}({x}, {y}): {got} vs {want}",
                        op.name()
                    );
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Conventions at the hard points.

fn square_paths<S: Scalar>(x: S) -> [S; 4] {
    [x.powi(2), x.powf(2.0), x * x, x.pow(S::from_f64(2.0))]
}

#[test]
fn convention_second_derivative_of_square_at_zero_is_two() {
    for (k, y) in square_paths(HyperDual::seed(0.0_f64, 1.0, 1.0)).iter().enumerate() {
        assert_eq!((y.re, y.e1, y.e2, y.e12), (0.0, 0.0, 0.0, 2.0), "HyperDual path {k}");
    }
    for (k, y) in square_paths(HyperDual::seed(0.0_f32, 1.0, 1.0)).iter().enumerate() {
        assert_eq!((y.re, y.e1, y.e2, y.e12), (0.0, 0.0, 0.0, 2.0), "HyperDual<f32> path {k}");
    }
    for (k, y) in square_paths(Jet::seed(0.0_f64, 1.0)).iter().enumerate() {
        assert_eq!((y.re, y.d1, y.d2), (0.0, 0.0, 2.0), "Jet path {k}");
    }
    for (k, y) in square_paths(HyperK::<f64, 2>::seed(0.0, [1.0, 3.0])).iter().enumerate() {
        assert_eq!(y.grad, [0.0, 0.0], "HyperK path {k}");
        assert_eq!(y.hess, [2.0, 6.0, 18.0], "HyperK path {k}"); // 2 u_i u_j
    }
    let p = fomoh::hessian(|x: &[HyperDual<f64>]| x[0].pow(HyperDual::from_f64(2.0)), &[0.0]).unwrap();
    assert_eq!(p, vec![vec![2.0]]);
}

#[test]
fn convention_powi_is_exact_and_finite_at_zero() {
    // (value, first, second) of x^n at 0
    let want = [(1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 2.0), (0.0, 0.0, 0.0)];
    for (n, w) in want.iter().enumerate() {
        let n = n as i32;
        let r = UnaryOp::Powi(n).rule(0.0_f64);
        assert_eq!((r.f, r.d1, r.d2), *w, "powi({n}) rule at 0");
        let r32 = UnaryOp::Powi(n).rule(0.0_f32);
        assert_eq!((r32.f as f64, r32.d1 as f64, r32.d2 as f64), *w, "f32 powi({n}) rule at 0");
        let y = HyperDual::seed(0.0_f64, 1.0, 1.0).powi(n);
        assert_eq!((y.re, y.e1, y.e12), *w, "HyperDual powi({n}) at 0");
        let y = HyperK::<f64, 3>::seed(0.0, [1.0, 1.0, 1.0]).powi(n);
        assert!(y.grad.iter().chain(y.hess.iter()).all(|v| v.is_finite()), "HyperK powi({n}) at 0: {y:?}");
        assert_eq!(y.hess[0], w.2);
        // also at -0.0
        let y = Jet::seed(-0.0_f64, 1.0).powi(n);
        assert_eq!((y.re.abs(), y.d1.abs(), y.d2), (w.0, w.1, w.2), "Jet powi({n}) at -0");
    }
}

#[test]
fn convention_abs_and_relu_have_zero_slope_at_zero() {
    for x in [0.0_f64, -0.0] {
        let r = UnaryOp::Abs.rule(x);
        assert_eq!((r.f, r.d1, r.d2), (0.0, 0.0, 0.0), "abs at {x}");
        let r = UnaryOp::Relu.rule(x);
        assert_eq!((r.f, r.d1, r.d2), (0.0, 0.0, 0.0), "relu at {x}");
        let y = HyperDual::seed(x, 1.0, 1.0).abs();
        assert_eq!((y.e1, y.e2, y.e12), (0.0, 0.0, 0.0));
        let y = HyperDual::seed(x, 1.0, 1.0).relu();
        assert_eq!((y.e1, y.e2, y.e12), (0.0, 0.0, 0.0));
    }
    // and the one-sided slopes next to it
    assert_eq!(UnaryOp::Abs.rule(-1e-300_f64).d1, -1.0);
    assert_eq!(UnaryOp::Abs.rule(1e-300_f64).d1, 1.0);
    assert_eq!(UnaryOp::Relu.rule(1e-300_f64).d1, 1.0);
    assert_eq!(UnaryOp::Relu.rule(-1e-300_f64).d1, 0.0);
    assert_eq!(UnaryOp::Relu.rule(0.0_f32).d1, 0.0);
}

#[test]
fn convention_max_min_ties_take_the_first_argument() {
    let a = HyperDual::new(2.0_f64, 1.0, 3.0, 5.0);
    let b = HyperDual::new(2.0_f64, -7.0, 11.0, 13.0);
    for y in [a.max(b), a.min(b)] {
        assert_eq!((y.re, y.e1, y.e2, y.e12), (2.0, 1.0, 3.0, 5.0));
    }
    for y in [b.max(a), b.min(a)] {
        assert_eq!((y.re, y.e1, y.e2, y.e12), (2.0, -7.0, 11.0, 13.0));
    }
    let p = BinaryOp::Max.partials(2.0_f64, 2.0);
    assert_eq!(lanes(p), [2.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
    let p = BinaryOp::Min.partials(2.0_f64, 2.0);
    assert_eq!(lanes(p), [2.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
    // HyperK too
    let u = HyperK::<f64, 2>::seed(1.0, [1.0, 0.0]);
    let v = HyperK::<f64, 2>::seed(1.0, [0.0, 1.0]);
    assert_eq!(u.max(v).grad, [1.0, 0.0]);
    assert_eq!(v.min(u).grad, [0.0, 1.0]);
    // plain floats: the tie returns the first argument (observable with signed zeros)
    assert_eq!(Scalar::max(0.0_f64, -0.0).to_bits(), 0.0_f64.to_bits());
    assert_eq!(Scalar::max(-0.0_f64, 0.0).to_bits(), (-0.0_f64).to_bits());
    assert_eq!(Scalar::min(-0.0_f64, 0.0).to_bits(), (-0.0_f64).to_bits());
    assert_eq!(Scalar::min(0.0_f64, -0.0).to_bits(), 0.0_f64.to_bits());
    // away from ties the larger / smaller one
    assert_eq!(a.max(HyperDual::constant(3.0)).e1, 0.0);
    assert_eq!(a.min(HyperDual::constant(3.0)).e1, 1.0);
}

/// Documented: sqrt is not differentiable at 0; the table gives `f' = +inf`, `f'' = -inf`
/// and does not make the lanes finite.
#[test]
fn convention_sqrt_at_zero_has_infinite_derivatives() {
    let r = UnaryOp::Sqrt.rule(0.0_f64);
    assert_eq!((r.f, r.d1, r.d2), (0.0, f64::INFINITY, f64::NEG_INFINITY));
    let r = UnaryOp::Sqrt.rule(0.0_f32);
    assert_eq!((r.f, r.d1, r.d2), (0.0, f32::INFINITY, f32::NEG_INFINITY));
    let y = HyperDual::seed(0.0_f64, 1.0, 1.0).sqrt();
    assert_eq!((y.re, y.e1, y.e2), (0.0, f64::INFINITY, f64::INFINITY));
    assert!(!y.e12.is_finite());
    // a zero tangent contributes exactly zero, also times inf (tests/zero_tangent.rs): no NaN
    let y = HyperDual::seed(0.0_f64, 0.0, 0.0).sqrt();
    assert_eq!((y.e1, y.e2, y.e12), (0.0, 0.0, 0.0));
    assert_eq!((y.e1.to_bits(), y.e12.to_bits()), (0.0_f64.to_bits(), 0.0_f64.to_bits()));
}

/// Documented: `pow(x, y)` at `x = 0` drops the `ln x` terms; integer exponents keep the
/// exact polynomial derivatives.
#[test]
fn convention_pow_at_zero_base() {
    // (f, fx, fy, fxx, fxy, fyy)
    assert_eq!(lanes(BinaryOp::Pow.partials(0.0_f64, 2.0)), [0.0, 0.0, 0.0, 2.0, 0.0, 0.0]);
    assert_eq!(lanes(BinaryOp::Pow.partials(0.0_f64, 3.0)), [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    assert_eq!(lanes(BinaryOp::Pow.partials(0.0_f64, 1.0)), [0.0, 1.0, 0.0, 0.0, 1.0, 0.0]);
    assert_eq!(lanes(BinaryOp::Pow.partials(0.0_f64, 2.5)), [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    assert_eq!(lanes(BinaryOp::Pow.partials(0.0_f32, 2.0)), [0.0, 0.0, 0.0, 2.0, 0.0, 0.0]);
    // through a hyper-dual with both arguments varying: no NaN
    let x = HyperDual::seed(0.0_f64, 1.0, 1.0);
    let y = HyperDual::seed(2.0_f64, 1.0, 1.0);
    let z = x.pow(y);
    assert_eq!((z.re, z.e1, z.e2, z.e12), (0.0, 0.0, 0.0, 2.0));
    // powf at 0 with exponents 0, 1, 2 is the exact polynomial rule
    assert_eq!(UnaryOp::Powf(0.0).rule(0.0_f64), Rule { f: 1.0, d1: 0.0, d2: 0.0 });
    assert_eq!(UnaryOp::Powf(1.0).rule(0.0_f64), Rule { f: 0.0, d1: 1.0, d2: 0.0 });
    assert_eq!(UnaryOp::Powf(2.0).rule(0.0_f64), Rule { f: 0.0, d1: 0.0, d2: 2.0 });
}

/// Division by a number type agrees with the quotient rule and keeps the primal exact.
#[test]
fn division_lanes_match_the_quotient_rule() {
    for &(a, b) in &[(3.0_f64, 7.0_f64), (-1.5, 0.3), (1e8, -1e-3), (0.0, 2.0)] {
        let q = HyperDual::seed(a, 1.0, 0.0) / HyperDual::seed(b, 0.0, 1.0);
        assert_eq!(q.re.to_bits(), (a / b).to_bits());
        let p = closed_form2(BinaryOp::Div, a, b).unwrap();
        assert!(
            close(q.e1, p[1], 1e-14, 0.0) && close(q.e2, p[2], 1e-14, 0.0) && close(q.e12, p[4], 1e-14, 0.0)
        );
    }
}
