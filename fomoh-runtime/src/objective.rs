//! [`Objective`]: what the optimizers minimise.
//!
//! Implemented by generic functions over [`Scalar`](crate::Scalar) through [`FnObjective`]
//! (one line: [`objective`]), by `#[fomoh]` functions, by models on a minibatch and by JIT
//! programs. Everything is in `f64`.

use crate::api::{self, Projection};
use crate::error::{check_len, Result};
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

    /// The projection onto `dirs` and the number of forward passes it took. The default
    /// takes `K(K+1)/2` hyper-dual passes (the paper's method); implementors with a
    /// k-direction pass override it.
    fn hyperplane(&self, x: &[f64], dirs: &[Vec<f64>]) -> Result<(Projection<f64>, usize)> {
        api::assemble_pairwise(dirs.len(), |i, j| self.hyper_dual(x, &dirs[i], &dirs[j]))
    }

    /// The exact gradient, if this objective has a gradient source (backprop, or forward
    /// passes for small `n`); `None` otherwise. FoMoH-BP, SGD and Adam need it.
    fn gradient(&self, _x: &[f64]) -> Option<Result<Vec<f64>>> {
        None
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

    fn hyperplane(&self, x: &[f64], dirs: &[Vec<f64>]) -> Result<(Projection<f64>, usize)> {
        check_len(|| "x".into(), self.n, x.len())?;
        api::project(&self.f, x, dirs)
    }

    fn gradient(&self, x: &[f64]) -> Option<Result<Vec<f64>>> {
        Some(check_len(|| "x".into(), self.n, x.len()).and_then(|_| api::gradient(|x| self.f.eval(x), x)))
    }
}
