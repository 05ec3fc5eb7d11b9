//! [`Objective`]: what the optimizers minimise.
//!
//! Implemented by generic functions over [`Scalar`](crate::Scalar) through [`FnObjective`]
//! (one line: [`objective`]), by `#[fomoh]` functions, by models on a minibatch and by JIT
//! programs. Everything is in `f64`.

use crate::api::{self, Projection};
use crate::error::{check_len, Error, Result};
use crate::span::InputSpan;
use crate::{HyperDual, Jet, ScalarFn};

/// A function `R^n -> R` that can be evaluated with forward-mode second-order AD.
pub trait Objective {
    /// The number of parameters `n`.
    fn dim(&self) -> usize;

    /// `f(x)`.
    fn value(&self, x: &[f64]) -> Result<f64>;

    /// One hyper-dual pass: `f(x)`, `∇f·v1`, `∇f·v2`, `v1ᵀ H v2`.
    fn hyper_dual(&self, x: &[f64], v1: &[f64], v2: &[f64]) -> Result<HyperDual<f64>>;

    /// `f(x)`, `∇f·v`, `vᵀ H v`. The default takes one hyper-dual pass with `v1 = v2 = v`.
    fn directional(&self, x: &[f64], v: &[f64]) -> Result<Jet<f64>> {
        let hd = self.hyper_dual(x, v, v)?;
        Ok(Jet::new(hd.re, hd.e1, hd.e12))
    }

    /// The projection of the gradient and Hessian at `x` onto `dirs` (any K), with the
    /// number of forward passes it took in [`Projection::passes`]. The default takes
    /// `K(K+1)/2` hyper-dual passes (the paper's method); implementors with a K-direction pass
    /// override it. `dirs` is a slice so that `dyn Objective` has it: an array or a `Vec` of
    /// directions coerces to one, any other [`Directions`](crate::Directions) (a matrix whose
    /// columns are the directions) passes `&m.directions()`.
    ///
    /// ```
    /// use fomoh_runtime::{objective, scalar_fn, Objective, Scalar};
    /// fn f<S: Scalar>(x: &[S]) -> S { x[0] * x[0] * x[1] }
    /// let obj = objective(2, scalar_fn!(f));
    /// let p = obj.project(&[1.0, 2.0], &[vec![1.0, 0.0], vec![0.0, 1.0]]).unwrap();
    /// assert_eq!((p.grad, p.passes), (vec![4.0, 1.0], 1));
    /// ```
    fn project(&self, x: &[f64], dirs: &[Vec<f64>]) -> Result<Projection<f64>> {
        api::assemble_pairwise(dirs.len(), |i, j| self.hyper_dual(x, &dirs[i], &dirs[j]))
    }

    /// [`Objective::project`] with the pass count returned beside the projection.
    #[deprecated(
        note = "use `Objective::project`: the same projection, with the pass count in `Projection::passes`"
    )]
    fn hyperplane(&self, x: &[f64], dirs: &[Vec<f64>]) -> Result<(Projection<f64>, usize)> {
        let p = self.project(x, dirs)?;
        let passes = p.passes;
        Ok((p, passes))
    }

    /// The exact gradient, if this objective has a gradient source (backprop, or forward
    /// passes for small `n`); `None` otherwise. FoMoH-BP, SGD and Adam need it.
    fn gradient(&self, _x: &[f64]) -> Option<Result<Vec<f64>>> {
        None
    }

    /// Where the gradient of the first layer lies, if this objective knows it (a dense layer
    /// on a minibatch's inputs: [`InputSpan`]); `None` otherwise. FoMoH-KD with
    /// [`data_directions`](crate::optim::FomohKd::data_directions) draws its directions there.
    fn input_span(&self) -> Option<InputSpan<'_>> {
        None
    }
}

/// A reference to an objective is one (every call forwarded), so combinators such as
/// [`WeightedSum`] can hold borrowed or `dyn` objectives.
impl<O: Objective + ?Sized> Objective for &O {
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn value(&self, x: &[f64]) -> Result<f64> {
        (**self).value(x)
    }
    fn hyper_dual(&self, x: &[f64], v1: &[f64], v2: &[f64]) -> Result<HyperDual<f64>> {
        (**self).hyper_dual(x, v1, v2)
    }
    fn directional(&self, x: &[f64], v: &[f64]) -> Result<Jet<f64>> {
        (**self).directional(x, v)
    }
    fn project(&self, x: &[f64], dirs: &[Vec<f64>]) -> Result<Projection<f64>> {
        (**self).project(x, dirs)
    }
    fn gradient(&self, x: &[f64]) -> Option<Result<Vec<f64>>> {
        (**self).gradient(x)
    }
    fn input_span(&self) -> Option<InputSpan<'_>> {
        (**self).input_span()
    }
}

/// An [`Objective`] from a generic function over [`Scalar`](crate::Scalar) and its dimension.
#[derive(Clone, Debug)]
pub struct FnObjective<F> {
    f: F,
    n: usize,
}

/// Makes an [`Objective`] of a generic function in one line.
///
/// ```
/// use fomoh_runtime::{objective, scalar_fn, Objective, Scalar};
/// fn sphere<S: Scalar>(x: &[S]) -> S { x.iter().map(|&v| v * v).sum() }
/// let obj = objective(3, scalar_fn!(sphere));
/// assert_eq!(obj.value(&[1.0, 2.0, 3.0]).unwrap(), 14.0);
/// assert!(obj.value(&[1.0]).is_err());
/// ```
pub fn objective<F: ScalarFn>(n: usize, f: F) -> FnObjective<F> {
    FnObjective { f, n }
}

impl<F: ScalarFn> FnObjective<F> {
    /// The wrapped function.
    pub fn function(&self) -> &F {
        &self.f
    }
}

impl<F: ScalarFn> Objective for FnObjective<F> {
    fn dim(&self) -> usize {
        self.n
    }

    fn value(&self, x: &[f64]) -> Result<f64> {
        check_len(|| "x".into(), self.n, x.len())?;
        Ok(self.f.eval(x))
    }

    fn hyper_dual(&self, x: &[f64], v1: &[f64], v2: &[f64]) -> Result<HyperDual<f64>> {
        check_len(|| "x".into(), self.n, x.len())?;
        api::hyper_dual(|x| self.f.eval(x), x, v1, v2)
    }

    fn directional(&self, x: &[f64], v: &[f64]) -> Result<Jet<f64>> {
        check_len(|| "x".into(), self.n, x.len())?;
        api::directional(|x| self.f.eval(x), x, v)
    }

    fn project(&self, x: &[f64], dirs: &[Vec<f64>]) -> Result<Projection<f64>> {
        check_len(|| "x".into(), self.n, x.len())?;
        api::project(&self.f, x, dirs)
    }

    fn gradient(&self, x: &[f64]) -> Option<Result<Vec<f64>>> {
        Some(check_len(|| "x".into(), self.n, x.len()).and_then(|_| api::gradient(|x| self.f.eval(x), x)))
    }
}

/// `Σ_s w_s · f_s(x)`: a weighted sum of objectives over the same parameters, whose parts
/// are evaluated side by side on the rayon pool.
///
/// Every pass is linear in the parts, so its value, directional derivatives, projected
/// gradient and Hessian and exact gradient are the weighted sums of the parts' (added in part
/// order, so the result does not depend on the thread count). The typical use is a minibatch
/// mean split into shards of the batch (each shard's mean weighted by its share of the
/// rows): the shards run in parallel with no synchronisation inside a pass.
///
/// ```
/// use fomoh_runtime::{objective, Objective, Scalar, WeightedSum};
/// fn sq<S: Scalar>(x: &[S]) -> S { x[0] * x[0] + x[1] }
/// fn cube<S: Scalar>(x: &[S]) -> S { x[0] * x[1] * x[1] }
/// let (a, b) = (objective(2, fomoh_runtime::scalar_fn!(sq)), objective(2, fomoh_runtime::scalar_fn!(cube)));
/// let f = WeightedSum::new(vec![(&a as &(dyn Objective + Sync), 0.5), (&b, 2.0)]).unwrap();
/// let x = [3.0, -1.0];
/// assert_eq!(f.value(&x).unwrap(), 0.5 * (9.0 - 1.0) + 2.0 * 3.0);
/// assert!(WeightedSum::<&(dyn Objective + Sync)>::new(vec![]).is_err());
/// ```
#[derive(Clone, Debug)]
pub struct WeightedSum<O> {
    parts: Vec<(O, f64)>,
}

impl<O: Objective + Sync> WeightedSum<O> {
    /// The sum of `parts` (objective, weight): at least one, all of one dimension, finite
    /// weights.
    pub fn new(parts: Vec<(O, f64)>) -> Result<Self> {
        let Some((first, _)) = parts.first() else {
            return Err(Error::InvalidArgument("a weighted sum needs at least one part".into()));
        };
        let n = first.dim();
        for (i, (o, w)) in parts.iter().enumerate() {
            check_len(|| format!("part {i}"), n, o.dim())?;
            if !w.is_finite() {
                return Err(Error::NonFinite(format!("weight of part {i} is {w}")));
            }
        }
        Ok(WeightedSum { parts })
    }

    /// The parts and their weights.
    pub fn parts(&self) -> &[(O, f64)] {
        &self.parts
    }

    /// Every part's `pass` (in parallel when there are several), in part order.
    fn each<R: Send>(&self, pass: impl Fn(&O) -> Result<R> + Sync) -> Result<Vec<(R, f64)>> {
        use rayon::prelude::*;
        let run = |(o, w): &(O, f64)| pass(o).map(|r| (r, *w));
        if self.parts.len() == 1 {
            self.parts.iter().map(run).collect()
        } else {
            self.parts.par_iter().map(run).collect()
        }
    }
}

/// `Σ_s w_s · v_s` over vectors of `n` entries: from 0, one multiply-add `a += w_s · v_s[i]`
/// per entry and part, in part order. [`WeightedSum`] adds its parts this way, and
/// `fomoh::distributed` adds its shards' partials with it, so that its results are the same
/// bits as `WeightedSum`'s.
///
/// ```
/// use fomoh_runtime::objective::weighted_vec;
/// let parts = [(vec![1.0, 2.0], 0.5), (vec![4.0, 8.0], 0.25)];
/// assert_eq!(weighted_vec(parts.iter().map(|(v, w)| (v, *w)), 2), vec![1.5, 3.0]);
/// ```
pub fn weighted_vec<V: AsRef<[f64]>>(parts: impl IntoIterator<Item = (V, f64)>, n: usize) -> Vec<f64> {
    parts.into_iter().fold(vec![0.0; n], |mut acc, (v, w)| {
        acc.iter_mut().zip(v.as_ref()).for_each(|(a, b)| *a += w * b);
        acc
    })
}

impl<O: Objective + Sync> Objective for WeightedSum<O> {
    fn dim(&self) -> usize {
        self.parts[0].0.dim()
    }

    fn value(&self, x: &[f64]) -> Result<f64> {
        Ok(self.each(|o| o.value(x))?.into_iter().fold(0.0, |s, (v, w)| s + w * v))
    }

    fn hyper_dual(&self, x: &[f64], v1: &[f64], v2: &[f64]) -> Result<HyperDual<f64>> {
        let parts = self.each(|o| o.hyper_dual(x, v1, v2))?;
        Ok(parts.into_iter().fold(HyperDual::new(0.0, 0.0, 0.0, 0.0), |s, (h, w)| {
            HyperDual::new(s.re + w * h.re, s.e1 + w * h.e1, s.e2 + w * h.e2, s.e12 + w * h.e12)
        }))
    }

    fn directional(&self, x: &[f64], v: &[f64]) -> Result<Jet<f64>> {
        let parts = self.each(|o| o.directional(x, v))?;
        Ok(parts.into_iter().fold(Jet::new(0.0, 0.0, 0.0), |s, (j, w)| {
            Jet::new(s.re + w * j.re, s.d1 + w * j.d1, s.d2 + w * j.d2)
        }))
    }

    /// The weighted sum of the parts' projections; the passes are those of the part that
    /// took the most (the parts run side by side over their own data).
    fn project(&self, x: &[f64], dirs: &[Vec<f64>]) -> Result<Projection<f64>> {
        let k = dirs.len();
        let parts = self.each(|o| o.project(x, dirs))?;
        let passes = parts.iter().map(|(p, _)| p.passes).max().unwrap_or(0);
        let value = parts.iter().fold(0.0, |s, (p, w)| s + w * p.value);
        let grad = weighted_vec(parts.iter().map(|(p, w)| (&p.grad, *w)), k);
        let flat = weighted_vec(parts.iter().map(|(p, w)| (p.hess.concat(), *w)), k * k);
        let hess = flat.chunks(k.max(1)).take(k).map(<[f64]>::to_vec).collect();
        Ok(Projection { value, grad, hess, passes })
    }

    /// The weighted sum of the parts' gradients, if every part has one (a part's error
    /// comes first).
    fn gradient(&self, x: &[f64]) -> Option<Result<Vec<f64>>> {
        let parts = match self.each(|o| o.gradient(x).transpose()) {
            Ok(p) => p,
            Err(e) => return Some(Err(e)),
        };
        let parts: Option<Vec<(Vec<f64>, f64)>> = parts.into_iter().map(|(g, w)| g.map(|g| (g, w))).collect();
        parts.map(|p| Ok(weighted_vec(p, self.dim())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{scalar_fn, Scalar};

    fn f1<S: Scalar>(x: &[S]) -> S {
        (x[0] * x[1]).sin() + x[2] * x[2] * x[0]
    }
    fn f2<S: Scalar>(x: &[S]) -> S {
        x[0].exp() - x[1] * x[2].cos()
    }
    fn f3<S: Scalar>(x: &[S]) -> S {
        (x[0] * x[0] + x[1] * x[1] + x[2] * x[2] + S::one()).ln()
    }
    /// The same sum written as one function: AD through it is an independent reference.
    fn whole<S: Scalar>(x: &[S]) -> S {
        f1(x) * S::from_f64(0.25) + f2(x) * S::from_f64(-1.5) + f3(x) * S::from_f64(2.0)
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-13 * a.abs().max(b.abs()).max(1.0)
    }

    #[test]
    fn weighted_sum_matches_ad_through_the_summed_function() {
        let (a, b, c) =
            (objective(3, scalar_fn!(f1)), objective(3, scalar_fn!(f2)), objective(3, scalar_fn!(f3)));
        let parts: Vec<(&(dyn Objective + Sync), f64)> = vec![(&a, 0.25), (&b, -1.5), (&c, 2.0)];
        let s = WeightedSum::new(parts).unwrap();
        let r = objective(3, scalar_fn!(whole));
        let x = [0.3, -1.1, 0.7];
        let (v1, v2) = ([1.0, 0.5, -0.25], [-0.3, 2.0, 0.1]);
        assert_eq!(s.dim(), 3);
        assert!(close(s.value(&x).unwrap(), r.value(&x).unwrap()));
        let (h, hr) = (s.hyper_dual(&x, &v1, &v2).unwrap(), r.hyper_dual(&x, &v1, &v2).unwrap());
        for (p, q) in [(h.re, hr.re), (h.e1, hr.e1), (h.e2, hr.e2), (h.e12, hr.e12)] {
            assert!(close(p, q), "hyper-dual {p} vs {q}");
        }
        let (j, jr) = (s.directional(&x, &v1).unwrap(), r.directional(&x, &v1).unwrap());
        assert!(close(j.re, jr.re) && close(j.d1, jr.d1) && close(j.d2, jr.d2));
        let dirs = vec![v1.to_vec(), v2.to_vec(), vec![0.0, 1.0, 1.0]];
        let (p, pr) = (s.project(&x, &dirs).unwrap(), r.project(&x, &dirs).unwrap());
        assert_eq!((p.passes, pr.passes), (1, 1));
        assert!(close(p.value, pr.value));
        for i in 0..3 {
            assert!(close(p.grad[i], pr.grad[i]));
            for k in 0..3 {
                assert!(close(p.hess[i][k], pr.hess[i][k]), "hess {i} {k}");
            }
        }
        let (g, gr) = (s.gradient(&x).unwrap().unwrap(), r.gradient(&x).unwrap().unwrap());
        assert!(g.iter().zip(&gr).all(|(p, q)| close(*p, *q)));
    }

    /// An objective without a gradient source.
    struct NoGrad;
    impl Objective for NoGrad {
        fn dim(&self) -> usize {
            3
        }
        fn value(&self, x: &[f64]) -> Result<f64> {
            Ok(x[0])
        }
        fn hyper_dual(&self, x: &[f64], v1: &[f64], v2: &[f64]) -> Result<HyperDual<f64>> {
            Ok(HyperDual::new(x[0], v1[0], v2[0], 0.0))
        }
    }

    #[test]
    fn weighted_sum_errors_are_typed() {
        let a = objective(3, scalar_fn!(f1));
        let two = objective(2, scalar_fn!(|x| x[0] * x[1]));
        assert!(matches!(
            WeightedSum::<&(dyn Objective + Sync)>::new(vec![]),
            Err(Error::InvalidArgument(_))
        ));
        let mixed: Vec<(&(dyn Objective + Sync), f64)> = vec![(&a, 1.0), (&two, 1.0)];
        assert!(matches!(WeightedSum::new(mixed), Err(Error::Length { .. })));
        assert!(matches!(WeightedSum::new(vec![(&a, f64::NAN)]), Err(Error::NonFinite(_))));
        // a part's error comes through; a part without a gradient means no gradient
        let s = WeightedSum::new(vec![(&a, 1.0)]).unwrap();
        assert!(matches!(s.value(&[1.0]), Err(Error::Length { .. })));
        let parts: Vec<(&(dyn Objective + Sync), f64)> = vec![(&a, 1.0), (&NoGrad, 1.0)];
        assert!(WeightedSum::new(parts).unwrap().gradient(&[0.1, 0.2, 0.3]).is_none());
    }
}
