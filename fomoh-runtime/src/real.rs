//! The base field the derivative lanes live in.
//!
//! [`Real`] is the small algebra the rule table ([`crate::rules`]) and the chain-rule lifts
//! are written against: field arithmetic, the primal elementary functions and two
//! primal-only selections for the piecewise rules. It is implemented by `f32` and `f64`, and
//! can be implemented by a *staging* value that emits code instead of computing (the JIT does
//! this), so a derivative rule is written once and used by every backend.
//!
//! [`RealNum`] adds what a concrete float offers (ordering, conversions via `num-traits`);
//! the user-facing number types need it.

use core::fmt::Debug;
use core::ops::{Add, Div, Mul, Neg, Sub};

/// The base scalar of the derivative lanes: arithmetic plus the primal elementary functions.
///
/// Every method computes a *primal* value; derivatives are assembled by the rules in
/// [`crate::rules`] from these primitives. Method names deliberately mirror `f64`'s.
pub trait Real:
    Copy
    + Debug
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
{
    /// The constant `c` (rounded to this type).
    fn cst(c: f64) -> Self;
    /// `e^x`.
    fn exp(self) -> Self;
    /// `e^x - 1`, accurate near 0.
    fn exp_m1(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// `ln(1 + x)`, accurate near 0.
    fn ln_1p(self) -> Self;
    /// Base-2 logarithm.
    fn log2(self) -> Self;
    /// Base-10 logarithm.
    fn log10(self) -> Self;
    /// Square root.
    fn sqrt(self) -> Self;
    /// Cube root.
    fn cbrt(self) -> Self;
    /// Sine and cosine of the same argument (one call serves both).
    fn sin_cos(self) -> (Self, Self);
    /// Tangent.
    fn tan(self) -> Self;
    /// Arcsine.
    fn asin(self) -> Self;
    /// Arccosine.
    fn acos(self) -> Self;
    /// Arctangent.
    fn atan(self) -> Self;
    /// Four-quadrant arctangent of `self / x`.
    fn atan2(self, x: Self) -> Self;
    /// Hyperbolic sine.
    fn sinh(self) -> Self;
    /// Hyperbolic cosine.
    fn cosh(self) -> Self;
    /// Hyperbolic tangent.
    fn tanh(self) -> Self;
    /// Inverse hyperbolic sine.
    fn asinh(self) -> Self;
    /// Inverse hyperbolic cosine.
    fn acosh(self) -> Self;
    /// Inverse hyperbolic tangent.
    fn atanh(self) -> Self;
    /// `sqrt(self² + y²)` without undue overflow.
    fn hypot(self, y: Self) -> Self;
    /// Integer power (repeated multiplication, never through `exp`/`ln`).
    fn powi(self, n: i32) -> Self;
    /// Real power with a constant exponent.
    fn powf(self, p: f64) -> Self;
    /// Real power with a variable exponent.
    fn pow(self, y: Self) -> Self;
    /// Absolute value.
    fn abs(self) -> Self;
    /// Logistic sigmoid `1 / (1 + e^-x)`, evaluated without overflow.
    fn sigmoid(self) -> Self;
    /// `ln(1 + e^x)`, evaluated without overflow.
    fn softplus(self) -> Self;
    /// `x` if `self >= other` (on primal values), otherwise `y`.
    fn select_ge(self, other: Self, x: Self, y: Self) -> Self;
    /// `x` if `self == 0`, otherwise `y`.
    fn select_zero(self, x: Self, y: Self) -> Self;
}

/// A concrete floating-point base type (`f32` or `f64`): [`Real`] plus ordering and the
/// conversions of `num-traits`.
pub trait RealNum:
    Real
    + PartialOrd
    + PartialEq
    + Default
    + Send
    + Sync
    + core::fmt::Display
    + core::iter::Sum
    + num_traits::Float
    + num_traits::FloatConst
{
    /// Machine epsilon of the type, as `f64`.
    const EPS: f64;
    /// This value as `f64` (exact for `f32` and `f64`).
    fn as_f64(self) -> f64;
}

macro_rules! impl_real {
    ($t:ident) => {
        impl Real for $t {
            #[inline(always)]
            fn cst(c: f64) -> Self {
                c as $t
            }
            #[inline(always)]
            fn exp(self) -> Self {
                $t::exp(self)
            }
            #[inline(always)]
            fn exp_m1(self) -> Self {
                $t::exp_m1(self)
            }
            #[inline(always)]
            fn ln(self) -> Self {
                $t::ln(self)
            }
            #[inline(always)]
            fn ln_1p(self) -> Self {
                $t::ln_1p(self)
            }
            #[inline(always)]
            fn log2(self) -> Self {
                $t::log2(self)
            }
            #[inline(always)]
            fn log10(self) -> Self {
                $t::log10(self)
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                $t::sqrt(self)
            }
            #[inline(always)]
            fn cbrt(self) -> Self {
                $t::cbrt(self)
            }
            #[inline(always)]
            fn sin_cos(self) -> (Self, Self) {
                $t::sin_cos(self)
            }
            #[inline(always)]
            fn tan(self) -> Self {
                $t::tan(self)
            }
            #[inline(always)]
            fn asin(self) -> Self {
                $t::asin(self)
            }
            #[inline(always)]
            fn acos(self) -> Self {
                $t::acos(self)
            }
            #[inline(always)]
            fn atan(self) -> Self {
                $t::atan(self)
            }
            #[inline(always)]
            fn atan2(self, x: Self) -> Self {
                $t::atan2(self, x)
            }
            #[inline(always)]
            fn sinh(self) -> Self {
                $t::sinh(self)
            }
            #[inline(always)]
            fn cosh(self) -> Self {
                $t::cosh(self)
            }
            #[inline(always)]
            fn tanh(self) -> Self {
                $t::tanh(self)
            }
            #[inline(always)]
            fn asinh(self) -> Self {
                $t::asinh(self)
            }
            #[inline(always)]
            fn acosh(self) -> Self {
                $t::acosh(self)
            }
            #[inline(always)]
            fn atanh(self) -> Self {
                $t::atanh(self)
            }
            #[inline(always)]
            fn hypot(self, y: Self) -> Self {
                $t::hypot(self, y)
            }
            #[inline(always)]
            fn powi(self, n: i32) -> Self {
                $t::powi(self, n)
            }
            #[inline(always)]
            fn powf(self, p: f64) -> Self {
                $t::powf(self, p as $t)
            }
            #[inline(always)]
            fn pow(self, y: Self) -> Self {
                $t::powf(self, y)
            }
            #[inline(always)]
            fn abs(self) -> Self {
                $t::abs(self)
            }
            #[inline(always)]
            fn sigmoid(self) -> Self {
                if self >= 0.0 {
                    1.0 / (1.0 + $t::exp(-self))
                } else {
                    let e = $t::exp(self);
                    e / (1.0 + e)
                }
            }
            #[inline(always)]
            fn softplus(self) -> Self {
                // ln(1 + e^x) = max(x, 0) + ln(1 + e^-|x|)
                self.max(0.0) + $t::ln_1p($t::exp(-$t::abs(self)))
            }
            #[inline(always)]
            fn select_ge(self, other: Self, x: Self, y: Self) -> Self {
                if self >= other {
                    x
                } else {
                    y
                }
            }
            #[inline(always)]
            fn select_zero(self, x: Self, y: Self) -> Self {
                if self == 0.0 {
                    x
                } else {
                    y
                }
            }
        }

        impl RealNum for $t {
            const EPS: f64 = $t::EPSILON as f64;
            #[inline(always)]
            fn as_f64(self) -> f64 {
                self as f64
            }
        }
    };
}

impl_real!(f32);
impl_real!(f64);
