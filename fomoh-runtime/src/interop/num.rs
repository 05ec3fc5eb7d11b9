//! `num-traits` for the number types, and the `%` operator that `num_traits::Num` requires.

use super::for_each_number;
use crate::hyperk::{Dim, Packed};
use crate::real::RealNum;
use crate::{HyperDual, HyperK, Jet};

macro_rules! num_impls {
    ([$($g:tt)*] $ty:ty, [$($w:tt)*]) => {
        /// `x % y = x - q·y` with the integer quotient `q = trunc(x / y)` of the primal
        /// values (locally constant); the primal is exactly the float's `%`.
        impl<$($g)*> core::ops::Rem for $ty where $($w)* {
            type Output = Self;
            #[inline]
            fn rem(self, rhs: Self) -> Self {
                let mut r = self - rhs * (self.re / rhs.re).trunc();
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
            #[inline]
            fn to_i64(&self) -> Option<i64> {
                self.re.to_i64()
            }
            #[inline]
            fn to_u64(&self) -> Option<u64> {
                self.re.to_u64()
            }
            #[inline]
            fn to_f32(&self) -> Option<f32> {
                self.re.to_f32()
            }
            #[inline]
            fn to_f64(&self) -> Option<f64> {
                self.re.to_f64()
            }
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
            #[inline]
            fn from_i64(n: i64) -> Option<Self> {
                <Self as num_traits::NumCast>::from(n)
            }
            #[inline]
            fn from_u64(n: u64) -> Option<Self> {
                <Self as num_traits::NumCast>::from(n)
            }
            #[inline]
            fn from_f32(n: f32) -> Option<Self> {
                <Self as num_traits::NumCast>::from(n)
            }
            #[inline]
            fn from_f64(n: f64) -> Option<Self> {
                <Self as num_traits::NumCast>::from(n)
            }
        }
        float_const_impl!([$($g)*] $ty, [$($w)*], E, FRAC_1_PI, FRAC_1_SQRT_2, FRAC_2_PI,
            FRAC_2_SQRT_PI, FRAC_PI_2, FRAC_PI_3, FRAC_PI_4, FRAC_PI_6, FRAC_PI_8, LN_10, LN_2,
            LOG10_E, LOG2_E, PI, SQRT_2, TAU, LOG10_2, LOG2_10);
    };
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
