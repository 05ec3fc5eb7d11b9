//! The traced variants of one function: a bounded list of [`Traced`] graphs, one per branch
//! pattern met, tried in turn (the last one that served first), with a new trace at the
//! caller's point when none covers an input. [`super::Program`] and [`Retracing`] share it.

use super::traced::Traced;
use super::Options;
use crate::error::{check_len, JitError, JitResult};
use crate::float::JitFloat;
use crate::ir::Graph;
use crate::trace;
use fomoh_runtime::{HyperDual, Jet, Objective, Projection, Result, ScalarFn};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

/// Traces the function again at a point: `(x, data) -> graph`.
pub(crate) type Retrace<'a> = &'a dyn Fn(&[f64], &[f64]) -> JitResult<Graph>;

/// The variants traced so far and which one served last.
pub(crate) struct Variants<T: JitFloat> {
    /// The first variant (also `list[0]`), tried without taking the lock.
    first: Option<Arc<Traced<T>>>,
    list: RwLock<Vec<Arc<Traced<T>>>>,
    hint: AtomicUsize,
}

impl<T: JitFloat> Variants<T> {
    pub(crate) fn new(list: Vec<Arc<Traced<T>>>) -> Self {
        Variants { first: list.first().cloned(), list: RwLock::new(list), hint: AtomicUsize::new(0) }
    }

    /// Every variant, in the order traced.
    pub(crate) fn all(&self) -> Vec<Arc<Traced<T>>> {
        self.list.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The number of variants.
    pub(crate) fn len(&self) -> usize {
        self.list.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Runs `run` on the variant that served last, then on the others; when every variant
    /// meets a guard it did not trace, traces again at `(x, data)` with `retrace` (if given
    /// and fewer than `options.max_variants` variants exist) and runs the new variant. Without `retrace` the
    /// first guard failure is returned.
    pub(crate) fn call<R>(
        &self,
        x: &[T],
        data: &[T],
        retrace: Option<(Retrace<'_>, &Options)>,
        run: impl Fn(&Traced<T>) -> JitResult<R>,
    ) -> JitResult<R> {
        let mut failure = None;
        // the common case without the lock: one variant, or the first served last
        if self.hint.load(Ordering::Relaxed) == 0 {
            if let Some(first) = &self.first {
                match run(first) {
                    Err(e @ JitError::GuardFailed(_)) => failure = Some(e),
                    r => return r,
                }
            }
        }
        let known = {
            let list = self.list.read().unwrap_or_else(|p| p.into_inner());
            let h = self.hint.load(Ordering::Relaxed).min(list.len().saturating_sub(1));
            let tried_first = failure.is_some();
            let order = core::iter::once(h).chain((0..list.len()).filter(|&i| i != h)).take(list.len());
            for i in order.filter(|&i| !(tried_first && i == 0)) {
                match run(&list[i]) {
                    Err(e @ JitError::GuardFailed(_)) => {
                        failure.get_or_insert(e);
                    }
                    r => {
                        if i != h {
                            self.hint.store(i, Ordering::Relaxed);
                        }
                        return r;
                    }
                }
            }
            list.len()
        };
        let Some((retrace, options)) = retrace else {
            return Err(failure.unwrap_or_else(|| JitError::GuardFailed("no traced variant".into())));
        };
        if known >= options.max_variants {
            return Err(JitError::TooManyVariants { limit: options.max_variants });
        }
        let (x64, d64) = (crate::float::widen(x), crate::float::widen(data));
        let t = Arc::new(Traced::new(retrace(&x64, &d64)?, options.clone()));
        let r = run(&t);
        let mut list = self.list.write().unwrap_or_else(|p| p.into_inner());
        list.push(t);
        self.hint.store(list.len() - 1, Ordering::Relaxed);
        r
    }
}

/// An [`Objective`] over a generic [`ScalarFn`] that traces at its first call and traces
/// again whenever an input takes a branch none of its variants traced (at most 64 variants
/// by default): the same machinery as [`crate::compile`], for a function held by value
/// (it need not be `'static`).
///
/// ```
/// use fomoh_runtime::{scalar_fn, Objective, Scalar};
/// fn f<S: Scalar>(x: &[S]) -> S { if x[0] > S::zero() { x[0] * x[0] } else { -x[0] } }
/// let obj = fomoh_jit::Retracing::new(1, scalar_fn!(f));
/// assert_eq!(obj.value(&[3.0]).unwrap(), 9.0);
/// assert_eq!(obj.value(&[-3.0]).unwrap(), 3.0); // traced again for the other branch
/// assert_eq!(obj.variants(), 2);
/// ```
pub struct Retracing<F> {
    f: F,
    n: usize,
    options: Options,
    variants: Variants<f64>,
}

/// The dimension, the options, the variant limit and the number of variants traced so far
/// (the function itself is not required to be `Debug`).
///
/// ```
/// use fomoh_runtime::{scalar_fn, Objective, Scalar};
/// fn f<S: Scalar>(x: &[S]) -> S { x[0].abs() }
/// let obj = fomoh_jit::Retracing::new(1, scalar_fn!(f)).max_variants(4);
/// obj.value(&[3.0]).unwrap();
/// let shown = format!("{obj:?}");
/// assert!(shown.contains("dim: 1") && shown.contains("max_variants: 4") && shown.contains("variants: 1"), "{shown}");
/// ```
impl<F> core::fmt::Debug for Retracing<F> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Retracing")
            .field("dim", &self.n)
            .field("options", &self.options)
            .field("max_variants", &self.options.max_variants)
            .field("variants", &self.variants.len())
            .finish_non_exhaustive()
    }
}

impl<F: ScalarFn> Retracing<F> {
    /// A re-tracing objective of `f` over `n` inputs (at most 64 traced variants).
    pub fn new(n: usize, f: F) -> Self {
        Retracing { f, n, options: Options::default(), variants: Variants::new(Vec::new()) }
    }

    /// Sets the largest number of traced variants kept (further branch patterns are
    /// [`JitError::TooManyVariants`] errors).
    pub fn max_variants(mut self, m: usize) -> Self {
        self.options.max_variants = m;
        self
    }

    /// The number of variants traced so far.
    pub fn variants(&self) -> usize {
        self.variants.len()
    }

    fn with<R>(&self, x: &[f64], call: impl Fn(&Traced<f64>) -> JitResult<R>) -> Result<R> {
        check_len("x", self.n, x.len())?;
        let retrace =
            |x: &[f64], _: &[f64]| trace::trace_at(x, |t| self.f.eval(t), self.options.max_traced_nodes);
        Ok(self.variants.call(x, &[], Some((&retrace, &self.options)), call)?)
    }
}

impl<F: ScalarFn> Objective for Retracing<F> {
    fn dim(&self) -> usize {
        self.n
    }

    fn value(&self, x: &[f64]) -> Result<f64> {
        self.with(x, |p| super::value_on(p, x, &[]))
    }

    fn hyper_dual(&self, x: &[f64], v1: &[f64], v2: &[f64]) -> Result<HyperDual<f64>> {
        self.with(x, |p| super::hyper_dual_on(p, x, v1, v2, &[]))
    }

    fn directional(&self, x: &[f64], v: &[f64]) -> Result<Jet<f64>> {
        self.with(x, |p| super::directional_on(p, x, v, &[]))
    }

    fn project(&self, x: &[f64], dirs: &[Vec<f64>]) -> Result<Projection<f64>> {
        super::project_or_pairs(
            dirs,
            || self.with(x, |p| super::project_on(p, x, dirs, &[])),
            |a, b| Objective::hyper_dual(self, x, a, b),
        )
    }
}
