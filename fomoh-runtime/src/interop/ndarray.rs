//! ndarray: the number types as scalar operands (`&array * x`, `array += x`); directions as
//! the columns of a 2-d array and projections and Hessians as arrays.
//!
//! Arrays of numbers need nothing more: their elementwise arithmetic and `dot` (through
//! `ndarray::LinalgScalar`, which `Zero`, `One` and the operators give) already work.

use super::for_each_number;
use crate::error::{Error, Result};
use crate::hyperk::{Dim, Packed};
use crate::real::RealNum;
use crate::{Directions, HyperDual, HyperK, Jet, Projection};
use std::borrow::Cow;

macro_rules! scalar_operand_impl {
    ([$($g:tt)*] $ty:ty, [$($w:tt)*]) => {
        impl<$($g)*> ndarray::ScalarOperand for $ty where $($w)* {}
    };
}

for_each_number!(scalar_operand_impl);

/// An `n × K` array whose columns are the K directions (as for nalgebra): `project(x, &d)`
/// gives `Dᵀ∇f` and `DᵀHD`. Directions stored one per row are `d.t()`.
impl<T, S> Directions<T> for ndarray::ArrayBase<S, ndarray::Ix2>
where
    T: Clone,
    S: ndarray::Data<Elem = T>,
{
    fn directions(&self) -> Cow<'_, [Vec<T>]> {
        Cow::Owned(self.columns().into_iter().map(|c| c.to_vec()).collect())
    }
}

impl<T: Clone> Projection<T> {
    /// `∇f·d_i` as an array (`Dᵀ∇f` for the `n × K` direction array `D`).
    pub fn grad_array(&self) -> ndarray::Array1<T> {
        ndarray::Array1::from(self.grad.clone())
    }

    /// `d_iᵀ H d_j` as a K×K array (`DᵀHD`); [`crate::Error::Shape`] if `hess` is not K×K.
    pub fn hess_array(&self) -> Result<ndarray::Array2<T>> {
        self.check_shape()?;
        array2(&self.hess)
    }
}

/// A 2-d array from its rows (e.g. a [`crate::hessian`]), [`crate::Error::Shape`] if they
/// differ in length. A gradient is `Array1::from(g)`.
///
/// ```
/// use fomoh_runtime::{hessian, interop::array2, Scalar};
/// fn f<S: Scalar>(x: &[S]) -> S { x[0] * x[0] * x[1] }
/// let h = array2(&hessian(|x| f(x), &[1.0, 2.0]).unwrap()).unwrap();
/// assert_eq!(h, ndarray::array![[4.0, 2.0], [2.0, 0.0]]);
/// assert!(array2(&[vec![1.0, 2.0], vec![3.0]]).is_err());
/// ```
pub fn array2<T: Clone>(rows: &[Vec<T>]) -> Result<ndarray::Array2<T>> {
    let cols = super::rectangular(rows)?;
    let flat: Vec<T> = rows.iter().flatten().cloned().collect();
    ndarray::Array2::from_shape_vec((rows.len(), cols), flat).map_err(|e| Error::Shape(e.to_string()))
}
