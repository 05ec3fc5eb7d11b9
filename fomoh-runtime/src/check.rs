//! Derivative checks for users' unit tests.
//!
//! Compares what forward-mode AD computes for a [`ScalarFn`] against central finite
//! differences of the same function evaluated in `f64`, and reports the worst mismatch with
//! its location. The step sizes follow the usual error balance (`h₁ = ε^(1/3)·s` for first
//! derivatives, `h₂ = ε^(1/4)·s` for second, with `s = max(1, ‖x‖∞) / ‖v‖∞`), and the
//! allowed error of every entry is `atol + rtol · max(|ad|, |fd|)`, where `atol` includes the
//! finite differences' own rounding noise (`ε·|f(x)|/h` or `/h²`).
//!
//! ```
//! use fomoh_runtime::{check, scalar_fn, Scalar};
//! fn rosenbrock<S: Scalar>(x: &[S]) -> S {
//!     let one = S::one();
//!     let hundred = S::from_f64(100.0);
//!     (0..x.len() - 1).map(|i| hundred * (x[i + 1] - x[i] * x[i]).powi(2) + (one - x[i]).powi(2)).sum()
//! }
//! let f = scalar_fn!(rosenbrock);
//! let x = [-1.2, 1.0, 0.5];
//! let report = check::hessian(&f, &x).unwrap();
//! assert!(report.passed(), "{report}");
//! check::hyper_dual(&f, &x, &[1.0, 2.0, 3.0], &[0.5, -1.0, 0.0]).unwrap().assert_ok();
//! ```

use crate::api::{self, Projection};
use crate::error::{check_len, Error, Result};
use crate::real::RealNum;
use crate::ScalarFn;
use core::fmt;

/// One compared entry.
#[derive(Clone, Debug, PartialEq)]
pub struct Mismatch {
    /// Which entry (`"value"`, `"∇f·v1"`, `"hess[2][3]"`, ...).
    pub location: String,
    /// What AD computed.
    pub computed: f64,
    /// The finite-difference reference.
    pub reference: f64,
    /// `|computed - reference|`.
    pub error: f64,
    /// The allowed error for this entry.
    pub allowed: f64,
}

impl Mismatch {
    /// `error / allowed`: above 1 is a failure.
    pub fn ratio(&self) -> f64 {
        if self.error.is_nan() {
            f64::INFINITY
        } else {
            self.error / self.allowed
        }
    }
}

/// The outcome of a check: every failing entry and the worst entry overall.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckReport {
    /// How many entries were compared.
    pub checked: usize,
    /// The entry with the largest `error / allowed` (a failure or not).
    pub worst: Option<Mismatch>,
    /// Every entry over its allowed error.
    pub failures: Vec<Mismatch>,
    /// The first-derivative step used (in units of `x`).
    pub step1: f64,
    /// The second-derivative step used.
    pub step2: f64,
}

impl CheckReport {
    /// `true` when no entry exceeds its allowed error.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// Panics with the report when the check failed (for `#[test]`s).
    #[track_caller]
    pub fn assert_ok(&self) {
        assert!(self.passed(), "derivative check failed: {self}");
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} entries checked, {} failed", self.checked, self.failures.len())?;
        if let Some(w) = &self.worst {
            write!(
                f,
                "; worst at {}: computed {:e}, finite differences {:e} (error {:.3e}, allowed {:.3e})",
                w.location, w.computed, w.reference, w.error, w.allowed
            )?;
        }
        write!(f, "; steps h1 = {:.3e}, h2 = {:.3e}", self.step1, self.step2)
    }
}

/// Settings of a derivative check. [`Checker::for_type`] picks tolerances for `f32`/`f64`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Checker {
    /// Relative tolerance of value and first derivatives.
    pub rtol1: f64,
    /// Relative tolerance of second derivatives.
    pub rtol2: f64,
    /// Absolute tolerance added to both (besides the finite differences' noise estimate).
    pub atol: f64,
}

impl Default for Checker {
    fn default() -> Self {
        Self::for_type::<f64>()
    }
}

impl Checker {
    /// Tolerances suited to AD computed in `T`: `rtol1 = max(1e-6, 1e3·ε_T)`,
    /// `rtol2 = max(1e-5, 1e4·ε_T)`, `atol = 1e-9`.
    pub fn for_type<T: RealNum>() -> Self {
        Checker { rtol1: (1e3 * T::EPS).max(1e-6), rtol2: (1e4 * T::EPS).max(1e-5), atol: 1e-9 }
    }

    /// Sets the relative tolerances (first order, second order).
    pub fn rtol(mut self, first: f64, second: f64) -> Self {
        self.rtol1 = first;
        self.rtol2 = second;
        self
    }

    /// Sets the absolute tolerance.
    pub fn atol(mut self, atol: f64) -> Self {
        self.atol = atol;
        self
    }

    /// Checks `hyper_dual(f, x, v1, v2)` lane by lane.
    pub fn hyper_dual<T: RealNum, F: ScalarFn + ?Sized>(
        &self,
        f: &F,
        x: &[T],
        v1: &[T],
        v2: &[T],
    ) -> Result<CheckReport> {
        let hd = api::hyper_dual(|x| f.eval(x), x, v1, v2)?;
        let fd = Fd::new(f, x)?;
        let mut acc = Acc::new(*self, &fd);
        acc.first("value", hd.re.as_f64(), fd.f0, 1.0);
        let (v1, v2) = (to_f64(v1), to_f64(v2));
        acc.first("∇f·v1", hd.e1.as_f64(), fd.d1(&v1), fd.h1(&v1));
        acc.first("∇f·v2", hd.e2.as_f64(), fd.d1(&v2), fd.h1(&v2));
        acc.second("v1ᵀHv2", hd.e12.as_f64(), fd.d2(&v1, &v2), fd.h2(&v1, &v2));
        Ok(acc.finish())
    }

    /// Checks the one-pass projection onto `dirs` (value, `∇f·d_i`, `d_iᵀ H d_j`).
    pub fn hyperplane<T: RealNum, F: ScalarFn + ?Sized>(
        &self,
        f: &F,
        x: &[T],
        dirs: &[Vec<T>],
    ) -> Result<CheckReport> {
        let p = api::project(f, x, dirs)?;
        self.projection(f, x, &p, dirs)
    }

    /// Checks a projection computed elsewhere (by a macro or a JIT program) against finite
    /// differences of `f`.
    pub fn projection<T: RealNum, F: ScalarFn + ?Sized>(
        &self,
        f: &F,
        x: &[T],
        p: &Projection<T>,
        dirs: &[Vec<T>],
    ) -> Result<CheckReport> {
        check_len(|| "projection.grad".into(), dirs.len(), p.grad.len())?;
        check_len(|| "projection.hess".into(), dirs.len(), p.hess.len())?;
        let fd = Fd::new(f, x)?;
        let dirs: Vec<Vec<f64>> = dirs.iter().map(|d| to_f64(d)).collect();
        let mut acc = Acc::new(*self, &fd);
        acc.first("value", p.value.as_f64(), fd.f0, 1.0);
        for (i, d) in dirs.iter().enumerate() {
            acc.first(&format!("grad[{i}]"), p.grad[i].as_f64(), fd.d1(d), fd.h1(d));
        }
        for i in 0..dirs.len() {
            check_len(|| format!("projection.hess[{i}]"), dirs.len(), p.hess[i].len())?;
            for j in i..dirs.len() {
                let r = fd.d2(&dirs[i], &dirs[j]);
                acc.second(&format!("hess[{i}][{j}]"), p.hess[i][j].as_f64(), r, fd.h2(&dirs[i], &dirs[j]));
                acc.first(
                    &format!("hess[{j}][{i}] = hess[{i}][{j}]"),
                    p.hess[j][i].as_f64(),
                    p.hess[i][j].as_f64(),
                    1.0,
                );
            }
        }
        Ok(acc.finish())
    }

    /// Checks [`api::gradient`] entry by entry.
    pub fn gradient<T: RealNum, F: ScalarFn + ?Sized>(&self, f: &F, x: &[T]) -> Result<CheckReport> {
        let g = api::gradient(|x| f.eval(x), x)?;
        let fd = Fd::new(f, x)?;
        let mut acc = Acc::new(*self, &fd);
        for (i, gi) in g.iter().enumerate() {
            let e = fd.axis(i);
            acc.first(&format!("grad[{i}]"), gi.as_f64(), fd.d1(&e), fd.h1(&e));
        }
        Ok(acc.finish())
    }

    /// Checks [`api::hessian`] entry by entry (`n(n+1)/2` second differences).
    pub fn hessian<T: RealNum, F: ScalarFn + ?Sized>(&self, f: &F, x: &[T]) -> Result<CheckReport> {
        let h = api::hessian(|x| f.eval(x), x)?;
        let fd = Fd::new(f, x)?;
        let mut acc = Acc::new(*self, &fd);
        for i in 0..x.len() {
            let ei = fd.axis(i);
            for j in i..x.len() {
                let ej = fd.axis(j);
                acc.second(&format!("hess[{i}][{j}]"), h[i][j].as_f64(), fd.d2(&ei, &ej), fd.h2(&ei, &ej));
            }
        }
        Ok(acc.finish())
    }
}

impl Checker {
    /// Checks a [`crate::Primitive`]'s `rule` at each of `points`: the `f'` and `f''` it
    /// returns against finite differences of the `f` it returns (a wrong derivative in a
    /// user's rule shows up here, in a test, not as a wrong step in training).
    pub fn primitive<P: crate::Primitive>(&self, points: &[f64]) -> Result<CheckReport> {
        struct Lifted<P>(core::marker::PhantomData<P>);
        impl<P: crate::Primitive> ScalarFn for Lifted<P> {
            fn eval<S: crate::Scalar>(&self, x: &[S]) -> S {
                x[0].custom::<P>()
            }
        }
        if points.is_empty() {
            return Err(Error::InvalidArgument(format!("check::primitive `{}`: no points given", P::NAME)));
        }
        let f = Lifted::<P>(core::marker::PhantomData);
        let mut all = CheckReport { checked: 0, worst: None, failures: Vec::new(), step1: 0.0, step2: 0.0 };
        for &x in points {
            let at =
                |m: Mismatch| Mismatch { location: format!("{} at x = {x}: {}", P::NAME, m.location), ..m };
            let r = self.hyper_dual(&f, &[x], &[1.0], &[1.0])?;
            all.checked += r.checked;
            all.step1 = all.step1.max(r.step1);
            all.step2 = all.step2.max(r.step2);
            all.failures.extend(r.failures.into_iter().map(at));
            if let Some(w) = r.worst.filter(|w| all.worst.as_ref().is_none_or(|b| w.ratio() > b.ratio())) {
                all.worst = Some(at(w));
            }
        }
        Ok(all)
    }
}

/// [`Checker::primitive`] with the default `f64` tolerances.
///
/// ```
/// use fomoh_runtime::{check, Primitive};
/// struct Cube;
/// impl Primitive for Cube {
///     const NAME: &'static str = "cube";
///     fn rule(x: f64) -> (f64, f64, f64) { (x * x * x, 3.0 * x * x, 6.0 * x) }
/// }
/// check::primitive::<Cube>(&[-1.5, 0.3, 2.0]).unwrap().assert_ok();
/// struct Wrong;
/// impl Primitive for Wrong {
///     const NAME: &'static str = "wrong";
///     fn rule(x: f64) -> (f64, f64, f64) { (x * x * x, 3.0 * x * x, 3.0 * x) } // f'' off by 2x
/// }
/// assert!(!check::primitive::<Wrong>(&[1.0]).unwrap().passed());
/// ```
pub fn primitive<P: crate::Primitive>(points: &[f64]) -> Result<CheckReport> {
    Checker::default().primitive::<P>(points)
}

/// [`Checker::hyper_dual`] with the default tolerances for `T`.
pub fn hyper_dual<T: RealNum, F: ScalarFn + ?Sized>(
    f: &F,
    x: &[T],
    v1: &[T],
    v2: &[T],
) -> Result<CheckReport> {
    Checker::for_type::<T>().hyper_dual(f, x, v1, v2)
}

/// [`Checker::hyperplane`] with the default tolerances for `T`.
pub fn hyperplane<T: RealNum, F: ScalarFn + ?Sized>(f: &F, x: &[T], dirs: &[Vec<T>]) -> Result<CheckReport> {
    Checker::for_type::<T>().hyperplane(f, x, dirs)
}

/// [`Checker::gradient`] with the default tolerances for `T`.
pub fn gradient<T: RealNum, F: ScalarFn + ?Sized>(f: &F, x: &[T]) -> Result<CheckReport> {
    Checker::for_type::<T>().gradient(f, x)
}

/// [`Checker::hessian`] with the default tolerances for `T`.
pub fn hessian<T: RealNum, F: ScalarFn + ?Sized>(f: &F, x: &[T]) -> Result<CheckReport> {
    Checker::for_type::<T>().hessian(f, x)
}

fn to_f64<T: RealNum>(v: &[T]) -> Vec<f64> {
    v.iter().map(|a| a.as_f64()).collect()
}

/// Finite differences of `f` in `f64` around `x`.
struct Fd<'a, F: ?Sized> {
    f: &'a F,
    x: Vec<f64>,
    f0: f64,
    scale: f64,
}

impl<'a, F: ScalarFn + ?Sized> Fd<'a, F> {
    fn new<T: RealNum>(f: &'a F, x: &[T]) -> Result<Self> {
        let x = to_f64(x);
        if let Some(i) = x.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite(format!("x[{i}] = {} in a derivative check", x[i])));
        }
        let f0 = f.eval(&x);
        let scale = x.iter().fold(1.0_f64, |m, v| m.max(v.abs()));
        Ok(Fd { f, x, f0, scale })
    }

    fn axis(&self, i: usize) -> Vec<f64> {
        let mut e = vec![0.0; self.x.len()];
        e[i] = 1.0;
        e
    }

    fn at(&self, terms: &[(f64, &[f64])]) -> f64 {
        let mut y = self.x.clone();
        for (t, d) in terms {
            for (yi, di) in y.iter_mut().zip(d.iter()) {
                *yi += t * di;
            }
        }
        self.f.eval(&y)
    }

    fn step(&self, root: f64, d: &[f64]) -> f64 {
        let norm = d.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
        f64::EPSILON.powf(root) * self.scale / if norm > 0.0 { norm } else { 1.0 }
    }

    fn h1(&self, d: &[f64]) -> f64 {
        self.step(1.0 / 3.0, d)
    }

    fn h2(&self, a: &[f64], b: &[f64]) -> f64 {
        self.step(0.25, a).min(self.step(0.25, b))
    }

    /// Central first difference along `d` (fourth-order accurate).
    fn d1(&self, d: &[f64]) -> f64 {
        let h = self.h1(d);
        let f = |t: f64| self.at(&[(t * h, d)]);
        (8.0 * (f(1.0) - f(-1.0)) - (f(2.0) - f(-2.0))) / (12.0 * h)
    }

    /// Central mixed second difference along `a` and `b`.
    fn d2(&self, a: &[f64], b: &[f64]) -> f64 {
        let h = self.h2(a, b);
        let f = |s: f64, t: f64| self.at(&[(s * h, a), (t * h, b)]);
        (f(1.0, 1.0) - f(1.0, -1.0) - f(-1.0, 1.0) + f(-1.0, -1.0)) / (4.0 * h * h)
    }
}

struct Acc {
    checker: Checker,
    noise: f64,
    step1: f64,
    step2: f64,
    checked: usize,
    worst: Option<Mismatch>,
    failures: Vec<Mismatch>,
}

impl Acc {
    fn new<F: ScalarFn + ?Sized>(checker: Checker, fd: &Fd<'_, F>) -> Self {
        let ones = vec![1.0; fd.x.len()];
        Acc {
            checker,
            noise: 10.0 * f64::EPSILON * fd.f0.abs().max(1.0),
            step1: fd.h1(&ones),
            step2: fd.h2(&ones, &ones),
            checked: 0,
            worst: None,
            failures: Vec::new(),
        }
    }

    fn push(&mut self, location: &str, computed: f64, reference: f64, allowed: f64) {
        let error = (computed - reference).abs();
        let m = Mismatch { location: location.to_string(), computed, reference, error, allowed };
        self.checked += 1;
        let ok = error <= allowed || computed == reference; // NaN error is never ok
        if self.worst.as_ref().is_none_or(|w| m.ratio() > w.ratio()) {
            self.worst = Some(m.clone());
        }
        if !ok {
            self.failures.push(m);
        }
    }

    fn first(&mut self, location: &str, computed: f64, reference: f64, h: f64) {
        let allowed =
            self.checker.atol + self.noise / h + self.checker.rtol1 * computed.abs().max(reference.abs());
        self.push(location, computed, reference, allowed);
    }

    fn second(&mut self, location: &str, computed: f64, reference: f64, h: f64) {
        let allowed = self.checker.atol
            + self.noise / (h * h)
            + self.checker.rtol2 * computed.abs().max(reference.abs());
        self.push(location, computed, reference, allowed);
    }

    fn finish(self) -> CheckReport {
        CheckReport {
            checked: self.checked,
            worst: self.worst,
            failures: self.failures,
            step1: self.step1,
            step2: self.step2,
        }
    }
}
