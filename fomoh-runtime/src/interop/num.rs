//! `num-traits` for the number types, and the `%` operator that `num_traits::Num` requires.

use super::{for_each_number, primal};
use crate::hyperk::{Dim, Packed};
use crate::real::RealNum;
use crate::{HyperDual, HyperK, Jet, Scalar};

macro_rules! num_impls {
    ([$($g:tt)*] $ty:ty, [$($w:tt)*]) => {
        /// `x % y = x - trunc(x / y)·y` ([`Scalar::trunc`]: the quotient is locally constant);
        /// the primal is exactly the float's `%`.
        impl<$($g)*> core::ops::Rem for $ty where $($w)* {
            type Output = Self;
            #[inline]
            fn rem(self, rhs: Self) -> Self {
                let mut r = self - Scalar::trunc(self / rhs) * rhs;
                r.re = self.re % rhs.re;
                r
            }
        }
        impl<$($g)*> core::ops::RemAssign for $ty where $($w)* {
            #[inline]
            fn rem_assign(&mut self, rhs: Self) {
                *self = *self % rhs;
            }
        }
        /// Zero is the constant 0; `is_zero` looks at the primal value.
        impl<$($g)*> num_traits::Zero for $ty where $($w)* {
            #[inline]
            fn zero() -> Self {
                Self::constant(T::zero())
            }
            #[inline]
            fn is_zero(&self) -> bool {
                self.re.is_zero()
            }
        }
        /// One is the constant 1.
        impl<$($g)*> num_traits::One for $ty where $($w)* {
            #[inline]
            fn one() -> Self {
                Self::constant(T::one())
            }
        }
        /// `from_str_radix` parses a constant.
        impl<$($g)*> num_traits::Num for $ty where $($w)* {
            type FromStrRadixErr = T::FromStrRadixErr;
            fn from_str_radix(s: &str, radix: u32) -> Result<Self, Self::FromStrRadixErr> {
                T::from_str_radix(s, radix).map(Self::constant)
            }
        }
        /// The primal value, converted.
        impl<$($g)*> num_traits::ToPrimitive for $ty where $($w)* {
            primal!(&self: to_i64 = to_i64 -> Option<i64>, to_u64 = to_u64 -> Option<u64>,
                to_f32 = to_f32 -> Option<f32>, to_f64 = to_f64 -> Option<f64>);
        }
        /// A constant.
        impl<$($g)*> num_traits::NumCast for $ty where $($w)* {
            #[inline]
            fn from<N: num_traits::ToPrimitive>(n: N) -> Option<Self> {
                <T as num_traits::NumCast>::from(n).map(Self::constant)
            }
        }
        /// A constant.
        impl<$($g)*> num_traits::FromPrimitive for $ty where $($w)* {
            from_primitive!(from_i64(i64), from_u64(u64), from_f32(f32), from_f64(f64));
        }
        float_const_impl!([$($g)*] $ty, [$($w)*], E, FRAC_1_PI, FRAC_1_SQRT_2, FRAC_2_PI,
            FRAC_2_SQRT_PI, FRAC_PI_2, FRAC_PI_3, FRAC_PI_4, FRAC_PI_6, FRAC_PI_8, LN_10, LN_2,
            LOG10_E, LOG2_E, PI, SQRT_2, TAU, LOG10_2, LOG2_10);
    };
}

/// `FromPrimitive` methods through `NumCast` (the floats must not go through the trait's
/// default, which truncates to an integer).
macro_rules! from_primitive {
    ($($f:ident($t:ty)),*) => {$(
        #[inline]
        fn $f(n: $t) -> Option<Self> {
            <Self as num_traits::NumCast>::from(n)
        }
    )*};
}

/// `num_traits::FloatConst`: each constant of the base type, as a constant number.
macro_rules! float_const_impl {
    ([$($g:tt)*] $ty:ty, [$($w:tt)*], $($c:ident),*) => {
        /// The constants of the base type.
        impl<$($g)*> num_traits::FloatConst for $ty where $($w)* {
            $(
                #[inline]
                fn $c() -> Self {
                    Self::constant(T::$c())
                }
            )*
        }
    };
}

for_each_number!(num_impls);
