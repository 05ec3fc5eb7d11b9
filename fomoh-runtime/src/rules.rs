//! The rule table: every elementary function's `(f, f', f'')`, written once.
//!
//! A unary rule is a [`Rule`] `(f(a), f'(a), f''(a))`; a binary rule is a [`Partials`]
//! `(f, f_x, f_y, f_xx, f_xy, f_yy)`. Both are generic over the base [`Real`], so the same
//! table serves `f32`, `f64`, and a staging value that emits IR (the JIT). Every number type
//! lifts these with one chain-rule routine of its own (see [`crate::HyperDual`],
//! [`crate::Jet`], [`crate::HyperK`]).
//!
//! # Conventions at non-differentiable points
//! - `abs`: `abs'(0) = 0` (the zero subgradient), `abs'' = 0` everywhere.
//! - `relu`: `relu'(0) = 0`, `relu'' = 0` everywhere.
//! - `max(a, b)` / `min(a, b)`: at a tie the *first* argument (`self`) is chosen, value and
//!   derivatives; second partials are 0.
//! - `sqrt` at 0: value 0, `f' = +inf`, `f'' = -inf` (the function is not differentiable
//!   there; the lanes become infinite or NaN, they are not silently made finite).
//! - A zero tangent contributes exactly zero: in every backend (number types, runtime
//!   tensors, `#[fomoh]`, compiled programs) a chain-rule term whose tangent factor is
//!   exactly zero is exactly zero, even where the derivative from this table is ±inf or
//!   NaN, so `sqrt(x0)` at `x0 = 0` does not poison a direction that does not move `x0`
//!   (see [`crate::HyperDual`] and [`UnaryOp::is_regular`]).
//! - `pow(x, y)` at `x = 0`: terms carrying `ln x` are taken as 0 (the derivative with
//!   respect to the exponent is not defined there); `x^y` with integer-valued `y` keeps the
//!   exact polynomial derivatives (`d²/dx² x^2 = 2` at 0).
//! - `powi` and `powf` with exponent 0, 1 or 2 use the exact polynomial rule (no `0 * inf`).
//! - `floor`, `ceil`, `round`, `trunc`, `signum`: piecewise constant, so `f' = f'' = 0`
//!   everywhere, also at the jumps (values as `f64`'s methods: `round` takes halves away
//!   from 0, `signum(±0) = ±1`).
//! - `clamp(lo, hi)`: `f' = 1` on the closed interval `[lo, hi]` (ties as `max`/`min`: the
//!   argument is chosen), 0 outside, `f'' = 0`; `lo > hi` gives the constant `hi`; a NaN
//!   argument gives NaN.
//! - A [`crate::Primitive`] supplies its own `(f, f', f'')`; derivatives of its derivative
//!   lanes beyond the second order are NaN (staged code never needs them).
//!
//! # Where the list of operations lives
//! The *list* of operations (names, parameters, method names) is `fomoh_ops`; this module
//! holds what each one computes: [`UnaryOp::eval_float`] (the primal on `f32`/`f64`) and
//! [`UnaryOp::rule`] (the value and derivatives, generic over [`Real`]), and the same two
//! for [`BinaryOp`]. Adding an operation is an entry in the list and an arm in each match
//! here.

pub use crate::ops::{BinaryOp, OpParam, UnaryOp};
use crate::real::{Real, RealNum};
use num_traits::Float;

/// A unary rule: the value and the first two derivatives at a point.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rule<T> {
    /// `f(a)`.
    pub f: T,
    /// `f'(a)`.
    pub d1: T,
    /// `f''(a)`.
    pub d2: T,
}

/// A binary rule: the value, first and second partials of `f(x, y)` at a point.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Partials<T> {
    /// `f(x, y)`.
    pub f: T,
    /// `∂f/∂x`.
    pub fx: T,
    /// `∂f/∂y`.
    pub fy: T,
    /// `∂²f/∂x²`.
    pub fxx: T,
    /// `∂²f/∂x∂y`.
    pub fxy: T,
    /// `∂²f/∂y²`.
    pub fyy: T,
}

#[inline(always)]
fn c<T: Real>(v: f64) -> T {
    T::cst(v)
}

/// `sign(a)` with `sign(0) = 0`.
#[inline(always)]
fn sign<T: Real>(a: T) -> T {
    let z = c::<T>(0.0);
    a.select_zero(z, a.select_ge(z, c(1.0), c(-1.0)))
}

/// Exact rule for `x^n` with an integer `n` (as `f64`), never through `exp`/`ln`.
#[inline(always)]
fn power_rule<T: Real>(a: T, n: f64, pow: impl Fn(T, f64) -> T) -> Rule<T> {
    if n == 0.0 {
        Rule { f: c(1.0), d1: c(0.0), d2: c(0.0) }
    } else if n == 1.0 {
        Rule { f: a, d1: c(1.0), d2: c(0.0) }
    } else if n == 2.0 {
        Rule { f: a * a, d1: c::<T>(2.0) * a, d2: c(2.0) }
    } else {
        Rule { f: pow(a, n), d1: c::<T>(n) * pow(a, n - 1.0), d2: c::<T>(n * (n - 1.0)) * pow(a, n - 2.0) }
    }
}

impl UnaryOp {
    /// Whether the rule's `f'` and `f''` are finite wherever the value `f(a)` is (`exp`,
    /// `tanh`, `sin`, `relu`, `x²`, ...): then a tangent that is zero already contributes
    /// exactly zero, and every backend applies the plain chain rule without a check. The
    /// others (`sqrt` and `cbrt` at 0, `asin`/`acos` at ±1, `acosh` at 1, `ln`, `recip`,
    /// `powi`/`powf` with other exponents at tiny arguments, where `f''` overflows, `atan`,
    /// `erf`, `erfc` at ±∞, where `f''` is `∞ · 0`) and every
    /// [`crate::Primitive`] get the zero-tangent check (see [`crate::HyperDual`]).
    /// `tests/zero_tangent.rs` checks the claim for every operation over the float range, in
    /// `f64` and `f32`.
    #[inline(always)]
    pub fn is_regular(self) -> bool {
        use UnaryOp::*;
        match self {
            Recip | Ln | Log2 | Log10 | Sqrt | Cbrt | Asin | Acos | Acosh | Custom(_) => false,
            // f'' = -2a·f' is ∞ · 0 at a = ±∞ (or where a² overflows), where the value is finite
            Atan | Erf | Erfc => false,
            // n x^(n-1) and n(n-1) x^(n-2) are at most max(|x|^n, n^n)
            Powi(n) => (0..=16).contains(&n),
            Powf(p) => p == 0.0 || p == 1.0 || (2.0..=16.0).contains(&p),
            Exp | ExpM1 | Exp2 | Ln1p | Abs | Sin | Cos | Tan | Sinh | Cosh | Tanh | Asinh | Atanh
            | Sigmoid | Relu | Softplus | LogSigmoid | Floor | Ceil | Round | Trunc | Signum | Clamp(..) => {
                true
            }
        }
    }

    /// The primal value `f(a)` in any [`Real`] (a staging value records the operation).
    #[inline(always)]
    pub fn eval<T: Real>(self, a: T) -> T {
        a.unary(self)
    }

    /// The primal value on a concrete float: the one definition of what each operation
    /// computes (`Real::unary` of `f32`/`f64` and the JIT's native calls use it).
    #[inline(always)]
    pub fn eval_float<F: RealNum>(self, x: F) -> F {
        use UnaryOp::*;
        let one = F::cst(1.0);
        match self {
            Recip => one / x,
            Exp => Float::exp(x),
            ExpM1 => Float::exp_m1(x),
            Exp2 => Float::exp2(x),
            Ln => Float::ln(x),
            Ln1p => Float::ln_1p(x),
            Log2 => Float::log2(x),
            Log10 => Float::log10(x),
            Sqrt => Float::sqrt(x),
            Cbrt => Float::cbrt(x),
            Powi(n) => Float::powi(x, n),
            Powf(p) => Float::powf(x, F::cst(p)),
            Abs => Float::abs(x),
            Sin => Float::sin(x),
            Cos => Float::cos(x),
            Tan => Float::tan(x),
            Asin => Float::asin(x),
            Acos => Float::acos(x),
            Atan => Float::atan(x),
            Sinh => Float::sinh(x),
            Cosh => Float::cosh(x),
            Tanh => Float::tanh(x),
            Asinh => Float::asinh(x),
            Acosh => Float::acosh(x),
            Atanh => Float::atanh(x),
            Sigmoid => {
                if x >= F::cst(0.0) {
                    one / (one + Float::exp(-x))
                } else {
                    let e = Float::exp(x);
                    e / (one + e)
                }
            }
            Relu => {
                if x >= F::cst(0.0) {
                    x
                } else {
                    F::cst(0.0)
                }
            }
            // ln(1 + e^x) = max(x, 0) + ln(1 + e^-|x|)
            Softplus => Float::max(x, F::cst(0.0)) + Float::ln_1p(Float::exp(-Float::abs(x))),
            LogSigmoid => -Softplus.eval_float(-x),
            Erf => F::cst(libm::erf(x.as_f64())),
            Erfc => F::cst(libm::erfc(x.as_f64())),
            Floor => Float::floor(x),
            Ceil => Float::ceil(x),
            Round => Float::round(x),
            Trunc => Float::trunc(x),
            Signum => Float::signum(x),
            Clamp(lo, hi) => {
                let (lo, hi) = (F::cst(lo), F::cst(hi));
                let u = if lo >= x { lo } else { x };
                if u >= hi {
                    hi
                } else {
                    u
                }
            }
            Custom(c) => F::cst(c.eval(x.as_f64())),
        }
    }

    /// The rule `(f(a), f'(a), f''(a))`: the single source of every backend's derivatives.
    #[inline(always)]
    pub fn rule<T: Real>(self, a: T) -> Rule<T> {
        use UnaryOp::*;
        let one = c::<T>(1.0);
        let zero = c::<T>(0.0);
        let r = |f, d1, d2| Rule { f, d1, d2 };
        match self {
            Recip => {
                let q = one / a;
                let q2 = q * q;
                r(q, -q2, c::<T>(2.0) * q2 * q)
            }
            Exp => {
                let e = a.exp();
                r(e, e, e)
            }
            ExpM1 => {
                let e = a.exp();
                r(a.exp_m1(), e, e)
            }
            Exp2 => {
                let e = a.exp2();
                let l = c::<T>(core::f64::consts::LN_2);
                r(e, l * e, l * l * e)
            }
            Ln => {
                let q = one / a;
                r(a.ln(), q, -q * q)
            }
            Ln1p => {
                let q = one / (one + a);
                r(a.ln_1p(), q, -q * q)
            }
            Log2 => {
                let q = one / (a * c(core::f64::consts::LN_2));
                r(a.log2(), q, -q / a)
            }
            Log10 => {
                let q = one / (a * c(core::f64::consts::LN_10));
                r(a.log10(), q, -q / a)
            }
            Sqrt => {
                let s = a.sqrt();
                let d1 = c::<T>(0.5) / s;
                r(s, d1, -d1 / (c::<T>(2.0) * a))
            }
            Cbrt => {
                let s = a.cbrt();
                let d1 = one / (c::<T>(3.0) * s * s);
                r(s, d1, c::<T>(-2.0 / 3.0) * d1 / (s * s * s))
            }
            Powi(n) => power_rule(a, n as f64, |x, k| x.powi(k as i32)),
            Powf(p) => power_rule(a, p, |x, k| x.powf(k)),
            Abs => r(a.abs(), sign(a), zero),
            Sin => {
                let (s, co) = a.sin_cos();
                r(s, co, -s)
            }
            Cos => {
                let (s, co) = a.sin_cos();
                r(co, -s, -co)
            }
            Tan => {
                let t = a.tan();
                let d1 = one + t * t;
                r(t, d1, c::<T>(2.0) * t * d1)
            }
            Asin => {
                let d1 = one / (one - a * a).sqrt();
                r(a.asin(), d1, a * d1 * d1 * d1)
            }
            Acos => {
                let d1 = -one / (one - a * a).sqrt();
                r(a.acos(), d1, a * d1 * d1 * d1)
            }
            Atan => {
                let d1 = one / (one + a * a);
                r(a.atan(), d1, c::<T>(-2.0) * a * d1 * d1)
            }
            Sinh => r(a.sinh(), a.cosh(), a.sinh()),
            Cosh => r(a.cosh(), a.sinh(), a.cosh()),
            Tanh => {
                let t = a.tanh();
                let d1 = one - t * t;
                r(t, d1, c::<T>(-2.0) * t * d1)
            }
            Asinh => {
                let d1 = one / (a * a + one).sqrt();
                r(a.asinh(), d1, -a * d1 * d1 * d1)
            }
            Acosh => {
                let d1 = one / ((a - one).sqrt() * (a + one).sqrt());
                r(a.acosh(), d1, -a * d1 * d1 * d1)
            }
            Atanh => {
                let d1 = one / (one - a * a);
                r(a.atanh(), d1, c::<T>(2.0) * a * d1 * d1)
            }
            Sigmoid => {
                let s = a.sigmoid();
                let d1 = s * (one - s);
                r(s, d1, d1 * (one - c::<T>(2.0) * s))
            }
            Relu => {
                let slope = a.select_zero(zero, a.select_ge(zero, one, zero));
                r(a.relu(), slope, zero)
            }
            Softplus => {
                let s = a.sigmoid();
                r(a.softplus(), s, s * (one - s))
            }
            LogSigmoid => {
                let s = a.sigmoid();
                let t = (-a).sigmoid();
                r(a.log_sigmoid(), t, -s * t)
            }
            Erf => {
                let g = c::<T>(core::f64::consts::FRAC_2_SQRT_PI) * (-(a * a)).exp();
                r(a.erf(), g, c::<T>(-2.0) * a * g)
            }
            Erfc => {
                let g = -(c::<T>(core::f64::consts::FRAC_2_SQRT_PI) * (-(a * a)).exp());
                r(a.erfc(), g, c::<T>(-2.0) * a * g)
            }
            Floor | Ceil | Round | Trunc | Signum => r(a.unary(self), zero, zero),
            Clamp(lo, hi) => {
                let slope = a.select_ge(c(lo), c::<T>(hi).select_ge(a, one, zero), zero);
                r(a.unary(self), slope, zero)
            }
            Custom(op) => match op.part() {
                0 => {
                    let (f, d1, d2) = a.custom_rule(op);
                    r(f, d1, d2)
                }
                1 => r(a.unary(self), a.unary(Custom(op.with_part(2))), c(f64::NAN)),
                _ => r(a.unary(self), c(f64::NAN), c(f64::NAN)),
            },
        }
    }
}

impl BinaryOp {
    /// Whether the partials are finite wherever the value is (as [`UnaryOp::is_regular`]):
    /// `+`, `-`, `*` (whose partials are the operands' values), `max`, `min`. A quotient
    /// (the reciprocal's value and partials at 0), `pow`, `atan2` and `hypot` (at the origin)
    /// get the zero-tangent check.
    #[inline(always)]
    pub fn is_regular(self) -> bool {
        use BinaryOp::*;
        match self {
            Add | Sub | Mul | Max | Min => true,
            Div | Pow | Atan2 | Hypot => false,
        }
    }

    /// The primal value `f(x, y)` in any [`Real`] (a staging value records the operation).
    #[inline(always)]
    pub fn eval<T: Real>(self, x: T, y: T) -> T {
        x.binary(self, y)
    }

    /// The primal value on a concrete float: the one definition of what each operation
    /// computes.
    #[inline(always)]
    pub fn eval_float<F: RealNum>(self, x: F, y: F) -> F {
        use BinaryOp::*;
        match self {
            Add => x + y,
            Sub => x - y,
            Mul => x * y,
            Div => x / y,
            Pow => Float::powf(x, y),
            Atan2 => Float::atan2(x, y),
            Hypot => Float::hypot(x, y),
            Max => {
                if x >= y {
                    x
                } else {
                    y
                }
            }
            Min => {
                if y >= x {
                    x
                } else {
                    y
                }
            }
        }
    }

    /// The partials `(f, f_x, f_y, f_xx, f_xy, f_yy)`: the single source of every backend's
    /// binary derivatives.
    #[inline(always)]
    pub fn partials<T: Real>(self, x: T, y: T) -> Partials<T> {
        use BinaryOp::*;
        let one = c::<T>(1.0);
        let zero = c::<T>(0.0);
        let p = |f, fx, fy, fxx, fxy, fyy| Partials { f, fx, fy, fxx, fxy, fyy };
        match self {
            Add => p(x + y, one, one, zero, zero, zero),
            Sub => p(x - y, one, -one, zero, zero, zero),
            Mul => p(x * y, y, x, zero, one, zero),
            Div => {
                let q = one / y;
                let q2 = q * q;
                p(x / y, q, -x * q2, zero, -q2, c::<T>(2.0) * x * q2 * q)
            }
            Pow => {
                let f = x.pow(y);
                let lnx = x.select_zero(zero, x.ln());
                let ym1 = y - one;
                let xym1 = x.pow(ym1);
                let fx = y.select_zero(zero, y * xym1);
                let yy1 = y * ym1;
                let fxx = yy1.select_zero(zero, yy1 * x.pow(y - c(2.0)));
                p(f, fx, f * lnx, fxx, xym1 * (one + y * lnx), f * lnx * lnx)
            }
            Atan2 => {
                // f = atan2(x, y): ∂/∂x = y / r², ∂/∂y = -x / r²
                let r2 = x * x + y * y;
                let q = one / (r2 * r2);
                let xy2 = c::<T>(2.0) * x * y;
                p(x.atan2(y), y / r2, -x / r2, -xy2 * q, (x * x - y * y) * q, xy2 * q)
            }
            Hypot => {
                let h = x.hypot(y);
                let q = one / h;
                let q3 = q * q * q;
                p(h, x * q, y * q, y * y * q3, -x * y * q3, x * x * q3)
            }
            Max => {
                let w = x.select_ge(y, one, zero);
                p(x.select_ge(y, x, y), w, one - w, zero, zero, zero)
            }
            Min => {
                let w = y.select_ge(x, one, zero);
                p(y.select_ge(x, x, y), w, one - w, zero, zero, zero)
            }
        }
    }
}
