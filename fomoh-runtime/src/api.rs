//! The entry points: one forward pass (or a few) of a user function over a number type.

use crate::error::{check_len, Result};
use crate::hyperk::{Dim, HyperK, Packed};
pub use crate::projection::{Directions, Projection};
use crate::real::RealNum;
use crate::{HyperDual, Jet, ScalarFn};

fn check_dirs<T>(x: &[T], dirs: &[Vec<T>]) -> Result<()> {
    for (i, d) in dirs.iter().enumerate() {
        check_len(|| format!("dirs[{i}] (direction {i})"), x.len(), d.len())?;
    }
    Ok(())
}

/// One hyper-dual pass: `f(x)`, `∇f·v1`, `∇f·v2`, `v1ᵀ H v2`.
///
/// ```
/// use fomoh_runtime::{hyper_dual, Scalar};
/// fn f<S: Scalar>(x: &[S]) -> S { x[0] * x[0] * x[1] }
/// let hd = hyper_dual(|x| f(x), &[1.0, 2.0], &[1.0, 0.0], &[0.0, 1.0]).unwrap();
/// assert_eq!((hd.re, hd.e1, hd.e2, hd.e12), (2.0, 4.0, 1.0, 2.0));
/// assert!(hyper_dual(|x| f(x), &[1.0, 2.0], &[1.0], &[0.0, 1.0]).is_err());
/// ```
pub fn hyper_dual<T, F>(f: F, x: &[T], v1: &[T], v2: &[T]) -> Result<HyperDual<T>>
where
    T: RealNum,
    F: Fn(&[HyperDual<T>]) -> HyperDual<T>,
{
    check_len(|| "v1".into(), x.len(), v1.len())?;
    check_len(|| "v2".into(), x.len(), v2.len())?;
    let xs: Vec<HyperDual<T>> =
        x.iter().zip(v1).zip(v2).map(|((&a, &b), &c)| HyperDual::seed(a, b, c)).collect();
    Ok(f(&xs))
}

/// One three-lane pass along `v`: `f(x)`, `∇f·v`, `vᵀ H v`.
///
/// ```
/// use fomoh_runtime::{directional, Scalar};
/// fn f<S: Scalar>(x: &[S]) -> S { x[0].exp() }
/// let j = directional(|x| f(x), &[0.0], &[2.0]).unwrap();
/// assert_eq!((j.re, j.d1, j.d2), (1.0, 2.0, 4.0));
/// ```
pub fn directional<T, F>(f: F, x: &[T], v: &[T]) -> Result<Jet<T>>
where
    T: RealNum,
    F: Fn(&[Jet<T>]) -> Jet<T>,
{
    check_len(|| "v".into(), x.len(), v.len())?;
    let xs: Vec<Jet<T>> = x.iter().zip(v).map(|(&a, &b)| Jet::seed(a, b)).collect();
    Ok(f(&xs))
}

/// The projection onto K directions from one pass of a closure over [`HyperK<T, K>`]:
/// `f(x)`, `∇f·d_i` and `d_iᵀ H d_j` (K from 1 to 16, inferred from the array; `passes` is 1).
///
/// This is [`project`] for a closure, whose number type needs K at compile time; a helper
/// generic over K writes the public bound `Dim<K>: Packed`. A direction whose length is not
/// `x.len()` is [`Error::Length`](crate::Error::Length).
///
/// ```
/// use fomoh_runtime::{hyperplane, Dim, Packed, Projection, Result, Scalar};
/// fn f<S: Scalar>(x: &[S]) -> S { x[0] * x[0] * x[1] }
/// let p = hyperplane(|x| f(x), &[1.0, 2.0], &[vec![1.0, 0.0], vec![0.0, 1.0]]).unwrap();
/// assert_eq!(p.grad, vec![4.0, 1.0]);
/// assert_eq!(p.hess, vec![vec![4.0, 2.0], vec![2.0, 0.0]]);
/// assert_eq!(p.passes, 1);
///
/// // Generic over K:
/// fn at_origin<const K: usize>(dirs: &[Vec<f64>; K]) -> Result<Projection<f64>>
/// where
///     Dim<K>: Packed,
/// {
///     hyperplane(|x| f(x), &[0.0, 0.0], dirs)
/// }
/// assert_eq!(at_origin(&[vec![1.0, 1.0]]).unwrap().hess, vec![vec![0.0]]);
/// ```
pub fn hyperplane<T, F, const K: usize>(f: F, x: &[T], dirs: &[Vec<T>; K]) -> Result<Projection<T>>
where
    T: RealNum,
    Dim<K>: Packed,
    F: Fn(&[HyperK<T, K>]) -> HyperK<T, K>,
{
    check_dirs(x, dirs)?;
    let xs: Vec<HyperK<T, K>> =
        (0..x.len()).map(|i| HyperK::seed(x[i], core::array::from_fn(|k| dirs[k][i]))).collect();
    Ok(f(&xs).into())
}

/// The gradient, from `n` three-lane passes along the coordinate axes.
///
/// ```
/// use fomoh_runtime::{gradient, Scalar};
/// fn f<S: Scalar>(x: &[S]) -> S { x[0] * x[1] }
/// assert_eq!(gradient(|x| f(x), &[3.0, 4.0]).unwrap(), vec![4.0, 3.0]);
/// ```
pub fn gradient<T, F>(f: F, x: &[T]) -> Result<Vec<T>>
where
    T: RealNum,
    F: Fn(&[Jet<T>]) -> Jet<T>,
{
    let mut xs: Vec<Jet<T>> = x.iter().map(|&a| Jet::constant(a)).collect();
    let mut g = Vec::with_capacity(x.len());
    for i in 0..x.len() {
        xs[i].d1 = T::one();
        g.push(f(&xs).d1);
        xs[i].d1 = T::zero();
    }
    Ok(g)
}

/// The exact Hessian, from `n(n+1)/2` hyper-dual passes along pairs of coordinate axes.
///
/// ```
/// use fomoh_runtime::{hessian, Scalar};
/// fn f<S: Scalar>(x: &[S]) -> S { x[0] * x[0] * x[1] }
/// assert_eq!(hessian(|x| f(x), &[1.0, 2.0]).unwrap(), vec![vec![4.0, 2.0], vec![2.0, 0.0]]);
/// ```
pub fn hessian<T, F>(f: F, x: &[T]) -> Result<Vec<Vec<T>>>
where
    T: RealNum,
    F: Fn(&[HyperDual<T>]) -> HyperDual<T>,
{
    let n = x.len();
    let mut xs: Vec<HyperDual<T>> = x.iter().map(|&a| HyperDual::constant(a)).collect();
    let mut h = vec![vec![T::zero(); n]; n];
    for i in 0..n {
        for j in i..n {
            xs[i].e1 = T::one();
            xs[j].e2 = T::one();
            let v = f(&xs).e12;
            h[i][j] = v;
            h[j][i] = v;
            xs[i].e1 = T::zero();
            xs[j].e2 = T::zero();
        }
    }
    Ok(h)
}

/// A function with a K-direction pass for every `K` from 1 to 16 and a hyper-dual pass: what
/// [`project`] dispatches on when K is known only at run time. Implemented for every
/// [`ScalarFn`]; `#[fomoh]` functions and compiled programs implement it with their own passes.
pub trait KPass<T: RealNum> {
    /// One K-direction pass over seeded inputs.
    fn pass_k<const K: usize>(&self, x: &[HyperK<T, K>]) -> HyperK<T, K>
    where
        Dim<K>: Packed;
    /// One hyper-dual pass over seeded inputs (the fallback for K > `MAX_K`).
    fn pass_hd(&self, x: &[HyperDual<T>]) -> HyperDual<T>;
}

impl<T: RealNum, F: ScalarFn + ?Sized> KPass<T> for F {
    #[inline]
    fn pass_k<const K: usize>(&self, x: &[HyperK<T, K>]) -> HyperK<T, K>
    where
        Dim<K>: Packed,
    {
        self.eval(x)
    }
    #[inline]
    fn pass_hd(&self, x: &[HyperDual<T>]) -> HyperDual<T> {
        self.eval(x)
    }
}

/// The projection of `f`'s gradient and Hessian at `x` onto the directions `dirs` (K of them,
/// known at run time, in any [`Directions`] container): one [`HyperK`] pass for
/// `1 <= K <= MAX_K` (16), `K(K+1)/2` hyper-dual passes for more; the count is in
/// [`Projection::passes`]. `f` is any [`ScalarFn`] (or [`KPass`]). No directions is
/// [`Error::InvalidArgument`](crate::Error::InvalidArgument), a direction whose length is not
/// `x.len()` [`Error::Length`](crate::Error::Length).
///
/// ```
/// use fomoh_runtime::{project, scalar_fn, Scalar};
/// fn f<S: Scalar>(x: &[S]) -> S { x[0] * x[0] * x[1] }
/// let p = project(&scalar_fn!(f), &[1.0, 2.0], &[vec![1.0, 0.0], vec![0.0, 1.0]]).unwrap();
/// assert_eq!((p.grad, p.passes), (vec![4.0, 1.0], 1));
/// let many = vec![vec![1.0, 0.0]; 17];
/// assert_eq!(project(&scalar_fn!(f), &[1.0, 2.0], &many).unwrap().passes, 17 * 18 / 2);
/// assert!(project(&scalar_fn!(f), &[1.0, 2.0], &[vec![1.0]]).is_err());
/// ```
pub fn project<T, P, D>(f: &P, x: &[T], dirs: &D) -> Result<Projection<T>>
where
    T: RealNum,
    P: KPass<T> + ?Sized,
    D: Directions<T> + ?Sized,
{
    let dirs = dirs.directions();
    let dirs: &[Vec<T>] = &dirs;
    check_dirs(x, dirs)?;
    macro_rules! one_pass {
        ($($k:literal)*) => {
            match dirs.len() {
                $($k => {
                    let d: &[Vec<T>; $k] = dirs.try_into().expect("length checked by match");
                    hyperplane(|x| f.pass_k::<$k>(x), x, d)
                })*
                _ => assemble_pairwise(dirs.len(), |i, j| hyper_dual(|x| f.pass_hd(x), x, &dirs[i], &dirs[j])),
            }
        };
    }
    fomoh_ops::for_each_k!(one_pass)
}

/// The projection from `K(K+1)/2` hyper-dual passes (the paper's method); the reference the
/// one-pass [`project`] is tested and benchmarked against.
pub fn project_pairwise<T, F, D>(f: &F, x: &[T], dirs: &D) -> Result<Projection<T>>
where
    T: RealNum,
    F: ScalarFn + ?Sized,
    D: Directions<T> + ?Sized,
{
    let dirs = dirs.directions();
    check_dirs(x, &dirs)?;
    assemble_pairwise(dirs.len(), |i, j| hyper_dual(|x| f.eval(x), x, &dirs[i], &dirs[j]))
}

/// Assembles a projection onto `k` directions from the `K(K+1)/2` hyper-dual passes
/// `pass(i, j)` (seeded with `d_i`, `d_j`, for `i <= j`); `passes` counts them.
pub fn assemble_pairwise<T: RealNum>(
    k: usize,
    mut pass: impl FnMut(usize, usize) -> Result<HyperDual<T>>,
) -> Result<Projection<T>> {
    if k == 0 {
        return Err(crate::Error::InvalidArgument("project: no directions given".into()));
    }
    let z = T::zero();
    let mut p = Projection { value: z, grad: vec![z; k], hess: vec![vec![z; k]; k], passes: 0 };
    for i in 0..k {
        for j in i..k {
            let hd = pass(i, j)?;
            p.passes += 1;
            p.value = hd.re;
            p.grad[i] = hd.e1;
            p.grad[j] = hd.e2;
            p.hess[i][j] = hd.e12;
            p.hess[j][i] = hd.e12;
        }
    }
    Ok(p)
}
