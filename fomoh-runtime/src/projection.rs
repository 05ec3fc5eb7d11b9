//! [`Projection`]: what every `project` returns, and [`Directions`]: what every `project`
//! accepts.
//!
//! One name, one result: the projection of the gradient and Hessian of `f` at `x` onto K
//! directions `d_1, …, d_K` is `project(x, dirs)` on everything that has forward passes
//! ([`crate::project`] for a [`crate::ScalarFn`], [`crate::Objective::project`], the JIT's
//! programs), with K known at run time, and always a [`Projection`] carrying the number of
//! forward passes it took. [`crate::hyperplane`] is the same projection for a closure whose
//! number type [`crate::HyperK`] needs K at compile time (K from the array of directions).
//!
//! ```
//! use fomoh_runtime::{objective, project, scalar_fn, Objective, Projection, Scalar};
//! fn f<S: Scalar>(x: &[S]) -> S { x[0] * x[0] * x[1] }
//! let x = [1.0, 2.0];
//! // K directions as an array, a slice or a `Vec` of `Vec`s: the same projection.
//! let dirs = vec![vec![1.0, 0.0], vec![0.0, 1.0]];
//! let a: Projection<f64> = project(&scalar_fn!(f), &x, &[vec![1.0, 0.0], vec![0.0, 1.0]]).unwrap();
//! let b = project(&scalar_fn!(f), &x, &dirs[..]).unwrap();
//! let c = objective(2, scalar_fn!(f)).project(&x, &dirs).unwrap();
//! assert_eq!(a, b);
//! assert_eq!(a, c);
//! assert_eq!((a.grad, a.hess, a.passes), (vec![4.0, 1.0], vec![vec![4.0, 2.0], vec![2.0, 0.0]], 1));
//! ```

use crate::error::{Error, Result};
use crate::hyperk::{Dim, HyperK, Packed};
use crate::real::RealNum;
use std::borrow::Cow;

/// The projection of the gradient and Hessian of `f` at `x` onto K directions `d_i`.
#[derive(Clone, Debug, PartialEq)]
pub struct Projection<T> {
    /// `f(x)`.
    pub value: T,
    /// `∇f·d_i`, one entry per direction.
    pub grad: Vec<T>,
    /// `d_iᵀ H d_j`, the full symmetric K×K matrix (row `i` is `hess[i]`).
    pub hess: Vec<Vec<T>>,
    /// The number of forward passes that computed it: 1 for one K-direction pass,
    /// `K(K+1)/2` when it was assembled from hyper-dual passes (more than
    /// [`MAX_K`](crate::MAX_K) directions, or an objective without a K-direction pass).
    pub passes: usize,
}

impl<T> Projection<T> {
    /// The number of directions K.
    pub fn k(&self) -> usize {
        self.grad.len()
    }

    /// An error unless `hess` is K×K for the K = `grad.len()` directions (the fields are
    /// public, so a projection built by hand may be ragged).
    pub fn check_shape(&self) -> Result<()> {
        let k = self.k();
        if self.hess.len() != k || self.hess.iter().any(|row| row.len() != k) {
            let rows: Vec<usize> = self.hess.iter().map(Vec::len).collect();
            return Err(Error::Shape(format!(
                "projection: hess rows of lengths {rows:?} for {k} directions"
            )));
        }
        Ok(())
    }
}

/// The result of one K-direction pass (`passes == 1`).
impl<T: RealNum, const K: usize> From<HyperK<T, K>> for Projection<T>
where
    Dim<K>: Packed,
{
    fn from(h: HyperK<T, K>) -> Self {
        Projection {
            value: h.re,
            grad: h.grad.to_vec(),
            hess: h.hess_full().iter().map(|r| r.to_vec()).collect(),
            passes: 1,
        }
    }
}

/// K directions in `R^n` to project onto: what every `project` method accepts.
///
/// Implemented for directions stored one per row: `[Vec<T>; K]`, `[Vec<T>]` and
/// `Vec<Vec<T>>` (borrowed, not copied; `&[]` is no directions), and references to any of
/// them. With
/// the feature `nalgebra`, for every `nalgebra::Matrix` (e.g. `DMatrix<T>`), and with the
/// feature `ndarray` for every 2-d `ndarray::ArrayBase` (e.g. `Array2<T>`): an `n × K` matrix
/// `D` whose **columns** are the directions (so that the projected gradient is `Dᵀ∇f` and the
/// projected Hessian `DᵀHD`, in both crates).
///
/// Every direction must have the length of `x`: a wrong length is [`Error::Length`].
pub trait Directions<T: Clone> {
    /// The directions, one `Vec` of length `n` each (borrowed where they are stored so).
    fn directions(&self) -> Cow<'_, [Vec<T>]>;
}

impl<T: Clone> Directions<T> for [Vec<T>] {
    fn directions(&self) -> Cow<'_, [Vec<T>]> {
        Cow::Borrowed(self)
    }
}

impl<T: Clone, const K: usize> Directions<T> for [Vec<T>; K] {
    fn directions(&self) -> Cow<'_, [Vec<T>]> {
        Cow::Borrowed(self)
    }
}

impl<T: Clone> Directions<T> for Vec<Vec<T>> {
    fn directions(&self) -> Cow<'_, [Vec<T>]> {
        Cow::Borrowed(self)
    }
}

impl<T: Clone, D: Directions<T> + ?Sized> Directions<T> for &D {
    fn directions(&self) -> Cow<'_, [Vec<T>]> {
        (**self).directions()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_borrowed_in_order() {
        let v = vec![vec![1.0, 2.0], vec![3.0, 4.0]];
        assert!(matches!(v.directions(), Cow::Borrowed(d) if d == v.as_slice()));
        assert!(matches!((&&v[..1]).directions(), Cow::Borrowed(d) if d == &v[..1]));
        let a = [vec![1.0], vec![2.0]];
        assert_eq!(a.directions().as_ref(), &a[..]);
        assert!(<[Vec<f64>; 0] as Directions<f64>>::directions(&[]).is_empty());
    }

    #[test]
    fn a_ragged_projection_is_a_shape_error() {
        let mut p = Projection { value: 1.0, grad: vec![1.0, 2.0], hess: vec![vec![0.0; 2]; 2], passes: 1 };
        assert!(p.check_shape().is_ok());
        p.hess[1].pop();
        assert!(matches!(p.check_shape(), Err(Error::Shape(_))));
        assert_eq!(p.k(), 2);
    }
}
