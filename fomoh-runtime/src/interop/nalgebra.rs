//! nalgebra: the number types as real fields, so that matrices of them factorize.
//!
//! Follows num-dual's pattern: a number is a one-lane "SIMD" value, its own real field
//! (`ComplexField::RealField = Self`, imaginary part zero), comparisons and `approx`'s
//! tolerances on the primal value, and every function through the [`crate::Scalar`]
//! method of the same name.

use super::{for_each_number, Lanes};
use crate::hyperk::{Dim, Packed};
use crate::real::RealNum;
use crate::{HyperDual, HyperK, Jet};

macro_rules! nalgebra_impls {
    ([$($g:tt)*] $ty:ty, [$($w:tt)*]) => {
        /// On the primal values, with a tolerance of the same type (its primal is used).
        impl<$($g)*> approx::AbsDiffEq for $ty where $($w)* T: approx::AbsDiffEq<Epsilon = T> {
            type Epsilon = Self;
            #[inline]
            fn default_epsilon() -> Self {
                Self::constant(T::default_epsilon())
            }
            #[inline]
            fn abs_diff_eq(&self, other: &Self, epsilon: Self) -> bool {
                self.re.abs_diff_eq(&other.re, epsilon.re)
            }
        }
        /// On the primal values.
        impl<$($g)*> approx::RelativeEq for $ty where $($w)* T: approx::RelativeEq<Epsilon = T> {
            #[inline]
            fn default_max_relative() -> Self {
                Self::constant(T::default_max_relative())
            }
            #[inline]
            fn relative_eq(&self, other: &Self, epsilon: Self, max_relative: Self) -> bool {
                self.re.relative_eq(&other.re, epsilon.re, max_relative.re)
            }
        }
        /// On the primal values.
        impl<$($g)*> approx::UlpsEq for $ty where $($w)* T: approx::UlpsEq<Epsilon = T> {
            #[inline]
            fn default_max_ulps() -> u32 {
                T::default_max_ulps()
            }
            #[inline]
            fn ulps_eq(&self, other: &Self, epsilon: Self, max_ulps: u32) -> bool {
                self.re.ulps_eq(&other.re, epsilon.re, max_ulps)
            }
        }
        /// A scalar: one lane.
        impl<$($g)*> simba::simd::SimdValue for $ty where $($w)* {
            const LANES: usize = 1;
            type Element = Self;
            type SimdBool = bool;
            #[inline]
            fn splat(val: Self) -> Self {
                val
            }
            #[inline]
            fn extract(&self, _: usize) -> Self {
                *self
            }
            #[inline]
            unsafe fn extract_unchecked(&self, _: usize) -> Self {
                *self
            }
            #[inline]
            fn replace(&mut self, _: usize, val: Self) {
                *self = val;
            }
            #[inline]
            unsafe fn replace_unchecked(&mut self, _: usize, val: Self) {
                *self = val;
            }
            #[inline]
            fn select(self, cond: bool, other: Self) -> Self {
                if cond { self } else { other }
            }
        }
        /// The identity.
        impl<$($g)*> simba::scalar::SubsetOf<Self> for $ty where $($w)* {
            #[inline]
            fn to_superset(&self) -> Self {
                *self
            }
            #[inline]
            fn from_superset_unchecked(element: &Self) -> Self {
                *element
            }
            #[inline]
            fn is_in_subset(_: &Self) -> bool {
                true
            }
        }
        /// `f64` values are the constants; a number with a derivative is not one of them.
        impl<$($g)*> simba::scalar::SupersetOf<f64> for $ty where $($w)* {
            #[inline]
            fn is_in_subset(&self) -> bool {
                self.is_constant()
            }
            #[inline]
            fn to_subset_unchecked(&self) -> f64 {
                self.re.as_f64()
            }
            #[inline]
            fn from_subset(element: &f64) -> Self {
                Self::constant(T::cst(*element))
            }
        }
        /// `f32` values are the constants; a number with a derivative is not one of them.
        impl<$($g)*> simba::scalar::SupersetOf<f32> for $ty where $($w)* {
            #[inline]
            fn is_in_subset(&self) -> bool {
                self.is_constant()
            }
            #[inline]
            fn to_subset_unchecked(&self) -> f32 {
                self.re.as_f64() as f32
            }
            #[inline]
            fn from_subset(element: &f32) -> Self {
                Self::constant(T::cst(f64::from(*element)))
            }
        }
        impl<$($g)*> simba::scalar::Field for $ty where $($w)* {}
    };
}

for_each_number!(nalgebra_impls);
