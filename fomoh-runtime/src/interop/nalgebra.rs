//! nalgebra: the number types as real fields, so that matrices of them factorize; directions
//! as the columns of a matrix and projections and Hessians as vectors and matrices.
//!
//! Follows num-dual's pattern: a number is a one-lane "SIMD" value, its own real field
//! (`ComplexField::RealField = Self`, imaginary part zero), comparisons and `approx`'s
//! tolerances on the primal value, and every function through the [`crate::Scalar`]
//! method of the same name.

use super::{forward, primal, Lanes};
use crate::error::Result;
use crate::hyperk::{Dim, Packed};
use crate::real::RealNum;
use crate::{Directions, HyperDual, HyperK, Jet, Projection};
use num_traits::{Float, FloatConst};
use std::borrow::Cow;

/// `RealField` constants, from `num_traits::FloatConst`.
macro_rules! constants {
    ($($f:ident = $c:ident),*) => {$(
        #[inline]
        fn $f() -> Self {
            <Self as FloatConst>::$c()
        }
    )*};
}

/// `SupersetOf<$t>`: the values of `$t` are the constants; a number with a derivative is not
/// one of them.
macro_rules! superset {
    ([$($g:tt)*] $ty:ty, [$($w:tt)*], $t:ty) => {
        /// The constants.
        impl<$($g)*> simba::scalar::SupersetOf<$t> for $ty where $($w)* {
            #[inline]
            fn is_in_subset(&self) -> bool {
                self.is_constant()
            }
            #[inline]
            fn to_subset_unchecked(&self) -> $t {
                <$t as num_traits::NumCast>::from(self.re).expect("a float converts to a float")
            }
            #[inline]
            fn from_subset(element: &$t) -> Self {
                Self::constant(<T as num_traits::NumCast>::from(*element).expect("a float converts to a float"))
            }
        }
    };
}

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
        superset!([$($g)*] $ty, [$($w)*], f64);
        superset!([$($g)*] $ty, [$($w)*], f32);
        impl<$($g)*> simba::scalar::Field for $ty where $($w)* {}

        /// A real number: its own real part, imaginary part 0; every function through
        /// `num_traits::Float`, so through [`crate::Scalar`].
        impl<$($g)*> nalgebra::ComplexField for $ty where $($w)* T: approx::RelativeEq<Epsilon = T> + approx::UlpsEq<Epsilon = T> {
            type RealField = Self;
            #[inline]
            fn from_real(re: Self) -> Self {
                re
            }
            #[inline]
            fn real(self) -> Self {
                self
            }
            #[inline]
            fn imaginary(self) -> Self {
                Self::constant(T::zero())
            }
            #[inline]
            fn modulus(self) -> Self {
                Float::abs(self)
            }
            #[inline]
            fn modulus_squared(self) -> Self {
                self * self
            }
            /// 0 for a non-negative number, π otherwise (a constant), as for `f64`.
            #[inline]
            fn argument(self) -> Self {
                Self::constant(if self.re >= T::zero() { T::zero() } else { T::PI() })
            }
            #[inline]
            fn norm1(self) -> Self {
                Float::abs(self)
            }
            #[inline]
            fn scale(self, factor: Self) -> Self {
                self * factor
            }
            #[inline]
            fn unscale(self, factor: Self) -> Self {
                self / factor
            }
            forward!(Float: floor, ceil, round, trunc, fract, abs, recip, sin, cos, tan, asin, acos,
                atan, sinh, cosh, tanh, asinh, acosh, atanh, log2, log10, ln, ln_1p, sqrt, exp, exp2,
                exp_m1, cbrt, signum; hypot, log, powf);
            #[inline]
            fn mul_add(self, a: Self, b: Self) -> Self {
                Float::mul_add(self, a, b)
            }
            #[inline]
            fn conjugate(self) -> Self {
                self
            }
            #[inline]
            fn sin_cos(self) -> (Self, Self) {
                Float::sin_cos(self)
            }
            #[inline]
            fn powi(self, n: i32) -> Self {
                Float::powi(self, n)
            }
            /// `powf`: the exponent is real too.
            #[inline]
            fn powc(self, n: Self) -> Self {
                Float::powf(self, n)
            }
            primal!(&self: is_finite = is_finite -> bool);
            /// `Some(sqrt)` for a non-negative primal value, as for `f64`.
            #[inline]
            fn try_sqrt(self) -> Option<Self> {
                (self.re >= T::zero()).then(|| Float::sqrt(self))
            }
        }

        /// Ordering and sign on the primal value; `max`, `min`, `clamp`, `atan2` through
        /// `num_traits::Float`.
        impl<$($g)*> nalgebra::RealField for $ty where $($w)* T: approx::RelativeEq<Epsilon = T> + approx::UlpsEq<Epsilon = T> {
            primal!(&self: is_sign_positive = is_sign_positive -> bool,
                is_sign_negative = is_sign_negative -> bool);
            forward!(Float: ; copysign, max, min, atan2);
            #[inline]
            fn clamp(self, lo: Self, hi: Self) -> Self {
                Float::clamp(self, lo, hi)
            }
            #[inline]
            fn min_value() -> Option<Self> {
                Some(Float::min_value())
            }
            #[inline]
            fn max_value() -> Option<Self> {
                Some(Float::max_value())
            }
            constants!(pi = PI, two_pi = TAU, frac_pi_2 = FRAC_PI_2, frac_pi_3 = FRAC_PI_3,
                frac_pi_4 = FRAC_PI_4, frac_pi_6 = FRAC_PI_6, frac_pi_8 = FRAC_PI_8,
                frac_1_pi = FRAC_1_PI, frac_2_pi = FRAC_2_PI, frac_2_sqrt_pi = FRAC_2_SQRT_PI,
                e = E, log2_e = LOG2_E, log10_e = LOG10_E, ln_2 = LN_2, ln_10 = LN_10);
        }
    };
}

nalgebra_impls!([T: RealNum] HyperDual<T>, []);
nalgebra_impls!([T: RealNum] Jet<T>, []);
nalgebra_impls!([T: RealNum, const K: usize] HyperK<T, K>, [Dim<K>: Packed,]);

/// An `n × K` matrix whose columns are the K directions (nalgebra's convention for a set of
/// vectors): `project(x, &d)` gives `Dᵀ∇f` and `DᵀHD`.
impl<T, R, C, S> Directions<T> for nalgebra::Matrix<T, R, C, S>
where
    T: nalgebra::Scalar,
    R: nalgebra::Dim,
    C: nalgebra::Dim,
    S: nalgebra::RawStorage<T, R, C>,
{
    fn directions(&self) -> Cow<'_, [Vec<T>]> {
        Cow::Owned(self.column_iter().map(|c| c.iter().cloned().collect()).collect())
    }
}

impl<T: nalgebra::Scalar> Projection<T> {
    /// `∇f·d_i` as a vector (`Dᵀ∇f` for the `n × K` direction matrix `D`).
    pub fn grad_vector(&self) -> nalgebra::DVector<T> {
        nalgebra::DVector::from_column_slice(&self.grad)
    }

    /// `d_iᵀ H d_j` as a K×K matrix (`DᵀHD`); [`crate::Error::Shape`] if `hess` is not K×K.
    pub fn hess_matrix(&self) -> Result<nalgebra::DMatrix<T>> {
        self.check_shape()?;
        dmatrix(&self.hess)
    }
}

/// A matrix from its rows (e.g. a [`crate::hessian`]), [`crate::Error::Shape`] if they differ
/// in length. A gradient is `DVector::from_vec(g)`.
///
/// ```
/// use fomoh_runtime::{hessian, interop::dmatrix, Scalar};
/// fn f<S: Scalar>(x: &[S]) -> S { x[0] * x[0] * x[1] }
/// let h = dmatrix(&hessian(|x| f(x), &[1.0, 2.0]).unwrap()).unwrap();
/// assert_eq!(h, nalgebra::DMatrix::from_row_slice(2, 2, &[4.0, 2.0, 2.0, 0.0]));
/// assert!(dmatrix(&[vec![1.0, 2.0], vec![3.0]]).is_err());
/// ```
pub fn dmatrix<T: nalgebra::Scalar>(rows: &[Vec<T>]) -> Result<nalgebra::DMatrix<T>> {
    let cols = super::rectangular(rows)?;
    Ok(nalgebra::DMatrix::from_fn(rows.len(), cols, |i, j| rows[i][j].clone()))
}
