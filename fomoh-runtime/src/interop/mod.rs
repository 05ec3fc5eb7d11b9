//! The number types in the Rust numerics ecosystem.
//!
//! [`HyperDual`], [`Jet`] and [`HyperK`] (over `f32` or `f64`) implement the traits generic
//! numeric code is written against, so that such code runs on them and is differentiated:
//!
//! - always: `num_traits::{Zero, One, Num, NumCast, ToPrimitive, FromPrimitive, Signed, Float,
//!   FloatConst}`, `Display` and `%` (`Rem`, `RemAssign`);
//! - feature `serde`: `Serialize`/`Deserialize` for the numbers and [`Projection`](crate::Projection);
//! - feature `ndarray`: `ndarray::ScalarOperand` (`array * x` with a number `x`);
//! - feature `nalgebra`: `nalgebra::{RealField, ComplexField}` and what they require (`approx`'s
//!   comparisons, `SimdValue`, the subset conversions), so `DMatrix<HyperDual<f64>>` has
//!   `cholesky`, `lu`, `norm`, `dot`, ...
//!
//! Directions and results as matrices: with `nalgebra`, every `nalgebra::Matrix` is
//! [`Directions`](crate::Directions) (an `n × K` matrix `D`, one direction per **column**),
//! `Projection::grad_vector` and `Projection::hess_matrix` give `Dᵀ∇f` and `DᵀHD`, and
//! `dmatrix` turns a [`hessian`](crate::hessian) into a `DMatrix`; with `ndarray`, every 2-d
//! array is `Directions` (columns too), with `Projection::grad_array`, `Projection::hess_array`
//! and `array2`. A [`gradient`](crate::gradient) is `DVector::from_vec(g)` or `Array1::from(g)`.
//!
//! ```
//! # #[cfg(all(feature = "nalgebra", feature = "ndarray"))] {
//! use fomoh_runtime::{project, scalar_fn, Scalar};
//! fn f<S: Scalar>(x: &[S]) -> S { x[0] * x[0] * x[1] }
//! use nalgebra::{DMatrix, DVector};
//! let d = DMatrix::from_row_slice(2, 2, &[1.0, 1.0, 0.0, 2.0]); // directions (1, 0) and (1, 2)
//! let p = project(&scalar_fn!(f), &[1.0, 2.0], &d).unwrap();
//! assert_eq!(p.grad_vector(), DVector::from_vec(vec![4.0, 6.0])); // Dᵀ∇f, ∇f = (4, 1)
//! assert_eq!(p.hess_matrix().unwrap(), DMatrix::from_row_slice(2, 2, &[4.0, 8.0, 8.0, 12.0])); // DᵀHD
//! let a = ndarray::array![[1.0, 1.0], [0.0, 2.0]];
//! assert_eq!(project(&scalar_fn!(f), &[1.0, 2.0], &a).unwrap(), p);
//! # }
//! ```
//!
//! Every function computes through the [`Scalar`](crate::Scalar) method of the same name, so
//! the derivatives come from the one rule table in [`crate::rules`] (`floor`, `round`,
//! `signum`, ... have zero derivatives; `fract` is `x - trunc(x)`; `log(x, b)` is
//! `ln x / ln b`; `powf` with a constant exponent is `Scalar::powf`). As for the operators,
//! comparisons, `is_zero`, `is_nan` and the other predicates look at the primal value only.
//! Constants (`zero`, `PI`, `from_f64`, `epsilon`, ...) have every derivative lane zero.
//!
//! ```
//! use fomoh_runtime::HyperDual;
//! use num_traits::{Num, NumCast};
//!
//! // Written for any `num_traits::Num`, differentiated through a hyper-dual number.
//! fn horner<T: Num + NumCast + Copy>(coefs: &[f64], x: T) -> T {
//!     coefs.iter().fold(T::zero(), |acc, &c| acc * x + T::from(c).unwrap())
//! }
//! let x = HyperDual::new(2.0_f64, 1.0, 1.0, 0.0);
//! let y = horner(&[1.0, -3.0, 0.0, 5.0], x); // x³ - 3x² + 5
//! assert_eq!((y.re, y.e1, y.e12), (1.0, 0.0, 6.0)); // 3x² - 6x = 0, 6x - 6 = 6
//! assert_eq!(format!("{y}"), "1 + 0ε1 + 0ε2 + 6ε1ε2");
//! ```

use crate::hyperk::{Dim, Packed};
use crate::real::RealNum;
use crate::{HyperDual, HyperK, Jet};
use core::fmt;

mod float;
#[cfg(feature = "nalgebra")]
mod nalgebra;
#[cfg(feature = "nalgebra")]
pub use self::nalgebra::dmatrix;
#[cfg(feature = "ndarray")]
mod ndarray;
#[cfg(feature = "ndarray")]
pub use self::ndarray::array2;
mod num;
#[cfg(feature = "serde")]
mod serde;

/// Applies an impl-generating macro, written as `m!([generics] Type, [where-clauses])`, to
/// each number type.
macro_rules! for_each_number {
    ($m:ident) => {
        $m!([T: RealNum] HyperDual<T>, []);
        $m!([T: RealNum] Jet<T>, []);
        $m!([T: RealNum, const K: usize] HyperK<T, K>, [Dim<K>: Packed,]);
    };
}
pub(crate) use for_each_number;

/// Trait methods forwarded to the method of the same name of trait `$to`: `(self) -> Self`
/// ones, then after `;` the `(self, Self) -> Self` ones.
macro_rules! forward {
    ($to:path: $($f:ident),*; $($f2:ident),*) => {
        $(
            #[inline]
            fn $f(self) -> Self {
                <Self as $to>::$f(self)
            }
        )*
        $(
            #[inline]
            fn $f2(self, other: Self) -> Self {
                <Self as $to>::$f2(self, other)
            }
        )*
    };
}
pub(crate) use forward;

/// Trait methods answered by the primal value's method: `name = primal_method -> Return`,
/// taking `self` (first arm) or `&self` (second arm).
macro_rules! primal {
    (self: $($f:ident = $p:ident -> $r:ty),*) => {$(
        #[inline]
        fn $f(self) -> $r {
            self.re.$p()
        }
    )*};
    (&self: $($f:ident = $p:ident -> $r:ty),*) => {$(
        #[inline]
        fn $f(&self) -> $r {
            self.re.$p()
        }
    )*};
}
pub(crate) use primal;

/// The length of every row of a matrix given by its rows (0 for no rows), or
/// [`crate::Error::Shape`] if they differ.
#[cfg(any(feature = "nalgebra", feature = "ndarray"))]
fn rectangular<T>(rows: &[Vec<T>]) -> crate::Result<usize> {
    let cols = rows.first().map_or(0, Vec::len);
    match rows.iter().position(|r| r.len() != cols) {
        Some(i) => {
            Err(crate::Error::Shape(format!("row {i} has {} entries, row 0 has {cols}", rows[i].len())))
        }
        None => Ok(cols),
    }
}

/// Whether every derivative lane of a number is zero (the number is a constant).
pub(crate) trait Lanes {
    /// `true` when the number carries no derivative.
    fn is_constant(&self) -> bool;
}

impl<T: RealNum> Lanes for HyperDual<T> {
    fn is_constant(&self) -> bool {
        [self.e1, self.e2, self.e12].iter().all(|l| l.is_zero())
    }
}

impl<T: RealNum> Lanes for Jet<T> {
    fn is_constant(&self) -> bool {
        self.d1.is_zero() && self.d2.is_zero()
    }
}

impl<T: RealNum, const K: usize> Lanes for HyperK<T, K>
where
    Dim<K>: Packed,
{
    fn is_constant(&self) -> bool {
        self.grad.iter().chain(self.hess.as_ref()).all(|l| l.is_zero())
    }
}

/// Writes `re + l₁n₁ + l₂n₂ + ...`, each number with the caller's format options, a
/// negative lane as `- |l|n`.
fn write_terms<T: RealNum>(f: &mut fmt::Formatter<'_>, re: T, terms: &[(T, &str)]) -> fmt::Result {
    fmt::Display::fmt(&re, f)?;
    for &(lane, name) in terms {
        f.write_str(if lane.is_sign_negative() { " - " } else { " + " })?;
        fmt::Display::fmt(&num_traits::Float::abs(lane), f)?;
        f.write_str(name)?;
    }
    Ok(())
}

/// `re + e1ε1 + e2ε2 + e12ε1ε2`; format options (`{:.3}`) apply to each lane.
impl<T: RealNum> fmt::Display for HyperDual<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_terms(f, self.re, &[(self.e1, "ε1"), (self.e2, "ε2"), (self.e12, "ε1ε2")])
    }
}

/// `re + d1ε + d2ε²/2` (the Taylor polynomial of `f(x + εv)`); format options apply to each
/// lane.
impl<T: RealNum> fmt::Display for Jet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_terms(f, self.re, &[(self.d1, "ε"), (self.d2, "ε²/2")])
    }
}

/// `re (grad [g0, g1, ...], hess [[h00, h01, ...], ...])` with the full symmetric block;
/// format options apply to each entry.
impl<T: RealNum, const K: usize> fmt::Display for HyperK<T, K>
where
    Dim<K>: Packed,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn list<T: RealNum>(f: &mut fmt::Formatter<'_>, xs: impl Iterator<Item = T>) -> fmt::Result {
            f.write_str("[")?;
            for (i, x) in xs.enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                fmt::Display::fmt(&x, f)?;
            }
            f.write_str("]")
        }
        fmt::Display::fmt(&self.re, f)?;
        f.write_str(" (grad ")?;
        list(f, self.grad.iter().copied())?;
        f.write_str(", hess [")?;
        for i in 0..K {
            if i > 0 {
                f.write_str(", ")?;
            }
            list(f, (0..K).map(|j| self.hess_at(i, j)))?;
        }
        f.write_str("])")
    }
}
