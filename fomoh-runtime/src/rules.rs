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
//! - `pow(x, y)` at `x = 0`: terms carrying `ln x` are taken as 0 (the derivative with
//!   respect to the exponent is not defined there); `x^y` with integer-valued `y` keeps the
//!   exact polynomial derivatives (`d²/dx² x^2 = 2` at 0).
//! - `powi` and `powf` with exponent 0, 1 or 2 use the exact polynomial rule (no `0 * inf`).

use crate::real::Real;

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

/// The elementary unary functions. The JIT's IR uses the same enum for its elementwise ops.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UnaryOp {
    /// `1 / x`.
    Recip,
    /// `e^x`.
    Exp,
    /// `e^x - 1`.
    ExpM1,
    /// `ln x`.
    Ln,
    /// `ln(1 + x)`.
    Ln1p,
    /// `log2 x`.
    Log2,
    /// `log10 x`.
    Log10,
    /// `sqrt x`.
    Sqrt,
    /// `cbrt x`.
    Cbrt,
    /// `x^n`, integer `n`.
    Powi(i32),
    /// `x^p`, constant real `p`.
    Powf(f64),
    /// `|x|`.
    Abs,
    /// `sin x`.
    Sin,
    /// `cos x`.
    Cos,
    /// `tan x`.
    Tan,
    /// `asin x`.
    Asin,
    /// `acos x`.
    Acos,
    /// `atan x`.
    Atan,
    /// `sinh x`.
    Sinh,
    /// `cosh x`.
    Cosh,
    /// `tanh x`.
    Tanh,
    /// `asinh x`.
    Asinh,
    /// `acosh x`.
    Acosh,
    /// `atanh x`.
    Atanh,
    /// `1 / (1 + e^-x)`.
    Sigmoid,
    /// `max(x, 0)`.
    Relu,
    /// `ln(1 + e^x)`.
    Softplus,
    /// `ln sigmoid(x) = -softplus(-x)`.
    LogSigmoid,
}

impl Eq for UnaryOp {}

impl core::hash::Hash for UnaryOp {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        core::mem::discriminant(self).hash(state);
        match *self {
            UnaryOp::Powi(n) => n.hash(state),
            UnaryOp::Powf(p) => p.to_bits().hash(state),
            _ => {}
        }
    }
}

/// The binary functions (arithmetic included, for IR and generic lifting).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `x + y`.
    Add,
    /// `x - y`.
    Sub,
    /// `x * y`.
    Mul,
    /// `x / y`.
    Div,
    /// `x^y`.
    Pow,
    /// `atan2(x, y)`: the angle of the point `(y, x)`, as `f64::atan2` (`self` is the ordinate).
    Atan2,
    /// `sqrt(x² + y²)`.
    Hypot,
    /// `max(x, y)`; ties choose `x`.
    Max,
    /// `min(x, y)`; ties choose `x`.
    Min,
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
    /// The primal value `f(a)`.
    #[inline(always)]
    pub fn eval<T: Real>(self, a: T) -> T {
        use UnaryOp::*;
        match self {
            Recip => c::<T>(1.0) / a,
            Exp => a.exp(),
            ExpM1 => a.exp_m1(),
            Ln => a.ln(),
            Ln1p => a.ln_1p(),
            Log2 => a.log2(),
            Log10 => a.log10(),
            Sqrt => a.sqrt(),
            Cbrt => a.cbrt(),
            Powi(n) => a.powi(n),
            Powf(p) => a.powf(p),
            Abs => a.abs(),
            Sin => a.sin_cos().0,
            Cos => a.sin_cos().1,
            Tan => a.tan(),
            Asin => a.asin(),
            Acos => a.acos(),
            Atan => a.atan(),
            Sinh => a.sinh(),
            Cosh => a.cosh(),
            Tanh => a.tanh(),
            Asinh => a.asinh(),
            Acosh => a.acosh(),
            Atanh => a.atanh(),
            Sigmoid => a.sigmoid(),
            Relu => a.select_ge(c(0.0), a, c(0.0)),
            Softplus => a.softplus(),
            LogSigmoid => -(-a).softplus(),
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
                r(a.select_ge(zero, a, zero), slope, zero)
            }
            Softplus => {
                let s = a.sigmoid();
                r(a.softplus(), s, s * (one - s))
            }
            LogSigmoid => {
                let s = a.sigmoid();
                let t = (-a).sigmoid();
                r(-(-a).softplus(), t, -s * t)
            }
        }
    }

    /// A short lower-case name (`"exp"`, `"powi(3)"`), used in IR dumps and error messages.
    pub fn name(self) -> String {
        match self {
            UnaryOp::Powi(n) => format!("powi({n})"),
            UnaryOp::Powf(p) => format!("powf({p})"),
            other => format!("{other:?}").to_lowercase(),
        }
    }
}

impl BinaryOp {
    /// The primal value `f(x, y)`.
    #[inline(always)]
    pub fn eval<T: Real>(self, x: T, y: T) -> T {
        use BinaryOp::*;
        match self {
            Add => x + y,
            Sub => x - y,
            Mul => x * y,
            Div => x / y,
            Pow => x.pow(y),
            Atan2 => x.atan2(y),
            Hypot => x.hypot(y),
            Max => x.select_ge(y, x, y),
            Min => y.select_ge(x, x, y),
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

    /// A short lower-case name (`"add"`, `"atan2"`).
    pub fn name(self) -> &'static str {
        use BinaryOp::*;
        match self {
            Add => "add",
            Sub => "sub",
            Mul => "mul",
            Div => "div",
            Pow => "pow",
            Atan2 => "atan2",
            Hypot => "hypot",
            Max => "max",
            Min => "min",
        }
    }
}
