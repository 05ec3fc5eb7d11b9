//! `num_traits::{Float, Signed}`: every function through the [`Scalar`] method of the same
//! name (so through the rule table), predicates and classification on the primal value,
//! constants with every derivative lane zero.

use super::{for_each_number, forward, primal, Lanes};
use crate::hyperk::{Dim, Packed};
use crate::real::RealNum;
use crate::{HyperDual, HyperK, Jet, Scalar};

/// Constants of the base type, as constant numbers.
macro_rules! constants {
    ($($f:ident),*) => {$(
        #[inline]
        fn $f() -> Self {
            Self::constant(T::$f())
        }
    )*};
}

macro_rules! float_impls {
    ([$($g:tt)*] $ty:ty, [$($w:tt)*]) => {
        /// `abs` and `signum` through [`Scalar`]; the sign predicates on the primal value.
        impl<$($g)*> num_traits::Signed for $ty where $($w)* {
            #[inline]
            fn abs(&self) -> Self {
                Scalar::abs(*self)
            }
            #[inline]
            fn abs_sub(&self, other: &Self) -> Self {
                num_traits::Float::abs_sub(*self, *other)
            }
            #[inline]
            fn signum(&self) -> Self {
                Scalar::signum(*self)
            }
            primal!(&self: is_positive = is_sign_positive -> bool, is_negative = is_sign_negative -> bool);
        }

        /// Every function through [`Scalar`]; `powf` with a constant exponent is
        /// [`Scalar::powf`] (finite derivatives at a negative base), otherwise [`Scalar::pow`].
        impl<$($g)*> num_traits::Float for $ty where $($w)* {
            constants!(nan, infinity, neg_infinity, neg_zero, min_value, min_positive_value, max_value, epsilon);
            primal!(self: is_nan = is_nan -> bool, is_infinite = is_infinite -> bool,
                is_finite = is_finite -> bool, is_normal = is_normal -> bool,
                is_subnormal = is_subnormal -> bool, is_sign_positive = is_sign_positive -> bool,
                is_sign_negative = is_sign_negative -> bool, classify = classify -> core::num::FpCategory,
                integer_decode = integer_decode -> (u64, i16, i8));
            forward!(Scalar: floor, ceil, round, trunc, abs, signum, recip, sqrt, exp, exp2, ln, log2,
                log10, cbrt, sin, cos, tan, asin, acos, atan, exp_m1, ln_1p, sinh, cosh, tanh, asinh,
                acosh, atanh; max, min, hypot, atan2);
            #[inline]
            fn fract(self) -> Self {
                self - Scalar::trunc(self)
            }
            #[inline]
            fn mul_add(self, a: Self, b: Self) -> Self {
                Scalar::mul_add(self, a, b)
            }
            #[inline]
            fn powi(self, n: i32) -> Self {
                Scalar::powi(self, n)
            }
            #[inline]
            fn powf(self, n: Self) -> Self {
                if n.is_constant() {
                    Scalar::powf(self, n.re.as_f64())
                } else {
                    Scalar::pow(self, n)
                }
            }
            #[inline]
            fn log(self, base: Self) -> Self {
                Scalar::ln(self) / Scalar::ln(base)
            }
            #[inline]
            fn to_degrees(self) -> Self {
                self * T::one().to_degrees()
            }
            #[inline]
            fn to_radians(self) -> Self {
                self * T::one().to_radians()
            }
            /// Constant bounds: [`Scalar::clamp`]; bounds with derivatives: `min(max(x, lo), hi)`
            /// (the same value, the active bound's derivatives).
            #[inline]
            fn clamp(self, lo: Self, hi: Self) -> Self {
                if lo.is_constant() && hi.is_constant() {
                    Scalar::clamp(self, lo.value(), hi.value())
                } else {
                    Scalar::min(Scalar::max(self, lo), hi)
                }
            }
            /// `max(0, self - other)`: 0 (a constant) where `self <= other`.
            #[inline]
            fn abs_sub(self, other: Self) -> Self {
                Scalar::max(Self::constant(T::zero()), self - other)
            }
            #[inline]
            fn sin_cos(self) -> (Self, Self) {
                (Scalar::sin(self), Scalar::cos(self))
            }
        }
    };
}

for_each_number!(float_impls);
