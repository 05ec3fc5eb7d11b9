//! [`Scalar`]: the trait user code is written against, and its implementations for `f32`,
//! `f64` and (through the private `number` module) every number type.

use crate::rules::{BinaryOp, UnaryOp};
use core::fmt::Debug;
use core::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

/// A number that generic user code computes with: `f32`, `f64`, [`crate::HyperDual`],
/// [`crate::Jet`], [`crate::HyperK`], and the JIT's tracer.
///
/// Write a function once against `S: Scalar` and every backend can run it. Comparisons
/// (`<`, `==`, ...) look at the primal value only. Elementary functions are methods, so call
/// them as `x.exp()` or `a.atan2(b)` with only `fomoh::Scalar` in scope.
///
/// ```
/// use fomoh_runtime::{Scalar, HyperDual};
/// fn f<S: Scalar>(x: S) -> S {
///     (x * x).exp() + x.sin() * S::from_f64(3.0)
/// }
/// assert_eq!(f(0.0_f64), 1.0);
/// let d = f(HyperDual::new(0.5_f64, 1.0, 1.0, 0.0));
/// let expect = 2.0 * 0.5 * (0.25_f64).exp() + 3.0 * 0.5_f64.cos();
/// assert!((d.e1 - expect).abs() < 1e-14);
/// ```
pub trait Scalar:
    Copy
    + Debug
    + PartialEq
    + PartialOrd
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + core::iter::Sum
{
    /// A constant (all derivative lanes zero).
    fn from_f64(c: f64) -> Self;
    /// The primal value as `f64`.
    fn value(&self) -> f64;
    /// Applies an elementary function from the rule table.
    fn unary(self, op: UnaryOp) -> Self;
    /// Applies a binary function from the rule table (`self` is the first argument).
    fn binary(self, op: BinaryOp, rhs: Self) -> Self;

    /// `self * a + b` (fused for plain floats).
    #[inline]
    fn mul_add(self, a: Self, b: Self) -> Self {
        self * a + b
    }
    /// `0`.
    #[inline]
    fn zero() -> Self {
        Self::from_f64(0.0)
    }
    /// `1`.
    #[inline]
    fn one() -> Self {
        Self::from_f64(1.0)
    }
    /// `e^x`.
    #[inline]
    fn exp(self) -> Self {
        self.unary(UnaryOp::Exp)
    }
    /// `e^x - 1`.
    #[inline]
    fn exp_m1(self) -> Self {
        self.unary(UnaryOp::ExpM1)
    }
    /// Natural logarithm.
    #[inline]
    fn ln(self) -> Self {
        self.unary(UnaryOp::Ln)
    }
    /// `ln(1 + x)`.
    #[inline]
    fn ln_1p(self) -> Self {
        self.unary(UnaryOp::Ln1p)
    }
    /// Base-2 logarithm.
    #[inline]
    fn log2(self) -> Self {
        self.unary(UnaryOp::Log2)
    }
    /// Base-10 logarithm.
    #[inline]
    fn log10(self) -> Self {
        self.unary(UnaryOp::Log10)
    }
    /// Square root (see [`crate::rules`] for the convention at 0).
    #[inline]
    fn sqrt(self) -> Self {
        self.unary(UnaryOp::Sqrt)
    }
    /// Cube root.
    #[inline]
    fn cbrt(self) -> Self {
        self.unary(UnaryOp::Cbrt)
    }
    /// Integer power, exact at 0 (never through `exp`/`ln`).
    #[inline]
    fn powi(self, n: i32) -> Self {
        self.unary(UnaryOp::Powi(n))
    }
    /// Power with a constant real exponent.
    #[inline]
    fn powf(self, p: f64) -> Self {
        self.unary(UnaryOp::Powf(p))
    }
    /// Power with a variable exponent.
    #[inline]
    fn pow(self, y: Self) -> Self {
        self.binary(BinaryOp::Pow, y)
    }
    /// `1 / x`.
    #[inline]
    fn recip(self) -> Self {
        self.unary(UnaryOp::Recip)
    }
    /// Absolute value; `abs'(0) = 0`.
    #[inline]
    fn abs(self) -> Self {
        self.unary(UnaryOp::Abs)
    }
    /// Sine.
    #[inline]
    fn sin(self) -> Self {
        self.unary(UnaryOp::Sin)
    }
    /// Cosine.
    #[inline]
    fn cos(self) -> Self {
        self.unary(UnaryOp::Cos)
    }
    /// Tangent.
    #[inline]
    fn tan(self) -> Self {
        self.unary(UnaryOp::Tan)
    }
    /// Arcsine.
    #[inline]
    fn asin(self) -> Self {
        self.unary(UnaryOp::Asin)
    }
    /// Arccosine.
    #[inline]
    fn acos(self) -> Self {
        self.unary(UnaryOp::Acos)
    }
    /// Arctangent.
    #[inline]
    fn atan(self) -> Self {
        self.unary(UnaryOp::Atan)
    }
    /// Four-quadrant arctangent of `self / x` (as `f64::atan2`).
    #[inline]
    fn atan2(self, x: Self) -> Self {
        self.binary(BinaryOp::Atan2, x)
    }
    /// Hyperbolic sine.
    #[inline]
    fn sinh(self) -> Self {
        self.unary(UnaryOp::Sinh)
    }
    /// Hyperbolic cosine.
    #[inline]
    fn cosh(self) -> Self {
        self.unary(UnaryOp::Cosh)
    }
    /// Hyperbolic tangent.
    #[inline]
    fn tanh(self) -> Self {
        self.unary(UnaryOp::Tanh)
    }
    /// Inverse hyperbolic sine.
    #[inline]
    fn asinh(self) -> Self {
        self.unary(UnaryOp::Asinh)
    }
    /// Inverse hyperbolic cosine.
    #[inline]
    fn acosh(self) -> Self {
        self.unary(UnaryOp::Acosh)
    }
    /// Inverse hyperbolic tangent.
    #[inline]
    fn atanh(self) -> Self {
        self.unary(UnaryOp::Atanh)
    }
    /// `sqrt(self² + y²)`.
    #[inline]
    fn hypot(self, y: Self) -> Self {
        self.binary(BinaryOp::Hypot, y)
    }
    /// The larger of the two; at a tie `self` (value and derivatives).
    #[inline]
    fn max(self, other: Self) -> Self {
        self.binary(BinaryOp::Max, other)
    }
    /// The smaller of the two; at a tie `self` (value and derivatives).
    #[inline]
    fn min(self, other: Self) -> Self {
        self.binary(BinaryOp::Min, other)
    }
    /// Logistic sigmoid `1 / (1 + e^-x)`.
    #[inline]
    fn sigmoid(self) -> Self {
        self.unary(UnaryOp::Sigmoid)
    }
    /// `max(x, 0)`; `relu'(0) = 0`.
    #[inline]
    fn relu(self) -> Self {
        self.unary(UnaryOp::Relu)
    }
    /// `ln(1 + e^x)`.
    #[inline]
    fn softplus(self) -> Self {
        self.unary(UnaryOp::Softplus)
    }
    /// `ln(sigmoid(x))`.
    #[inline]
    fn log_sigmoid(self) -> Self {
        self.unary(UnaryOp::LogSigmoid)
    }
}

macro_rules! impl_scalar_float {
    ($t:ident) => {
        impl Scalar for $t {
            #[inline(always)]
            fn from_f64(c: f64) -> Self {
                c as $t
            }
            #[inline(always)]
            fn value(&self) -> f64 {
                *self as f64
            }
            #[inline(always)]
            fn unary(self, op: UnaryOp) -> Self {
                op.eval(self)
            }
            #[inline(always)]
            fn binary(self, op: BinaryOp, rhs: Self) -> Self {
                op.eval(self, rhs)
            }
            #[inline(always)]
            fn mul_add(self, a: Self, b: Self) -> Self {
                $t::mul_add(self, a, b)
            }
        }
    };
}

impl_scalar_float!(f32);
impl_scalar_float!(f64);

/// A function written once over [`Scalar`], callable with every number type.
///
/// Closures cannot be generic, so the optimizers, the derivative checks and the JIT take
/// functions through this trait. Make one from a generic `fn` with [`crate::scalar_fn!`], or
/// implement it on a struct that holds data.
///
/// ```
/// use fomoh_runtime::{scalar_fn, Scalar, ScalarFn};
/// fn sum_sq<S: Scalar>(x: &[S]) -> S { x.iter().map(|&v| v * v).sum() }
/// let f = scalar_fn!(sum_sq);
/// assert_eq!(f.eval(&[1.0_f64, 2.0]), 5.0);
/// ```
pub trait ScalarFn {
    /// Evaluates the function at `x`.
    fn eval<S: Scalar>(&self, x: &[S]) -> S;
}

impl<F: ScalarFn + ?Sized> ScalarFn for &F {
    #[inline]
    fn eval<S: Scalar>(&self, x: &[S]) -> S {
        (**self).eval(x)
    }
}

/// Wraps a generic function `fn f<S: Scalar>(x: &[S]) -> S` (a path, optionally with extra
/// leading arguments captured by value) into a [`ScalarFn`].
///
/// ```
/// use fomoh_runtime::{scalar_fn, Scalar, ScalarFn};
/// fn scaled<S: Scalar>(k: f64, x: &[S]) -> S { x[0] * S::from_f64(k) }
/// let f = scalar_fn!(|x| scaled(2.0, x));
/// assert_eq!(f.eval(&[3.0_f64]), 6.0);
/// ```
#[macro_export]
macro_rules! scalar_fn {
    (|$x:ident| $body:expr) => {{
        struct __FomohScalarFn;
        impl $crate::ScalarFn for __FomohScalarFn {
            #[inline]
            fn eval<__S: $crate::Scalar>(&self, $x: &[__S]) -> __S {
                $body
            }
        }
        __FomohScalarFn
    }};
    ($f:path) => {{
        struct __FomohScalarFn;
        impl $crate::ScalarFn for __FomohScalarFn {
            #[inline]
            fn eval<__S: $crate::Scalar>(&self, x: &[__S]) -> __S {
                $f(x)
            }
        }
        __FomohScalarFn
    }};
}
