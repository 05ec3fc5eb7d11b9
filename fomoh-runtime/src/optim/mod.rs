//! Forward-only optimizers (Cobb et al., arXiv 2408.10419, section 4) and baselines, generic
//! over [`Objective`].
//!
//! | optimizer | step | per step |
//! |---|---|---|
//! | [`Fgd`] | `θ ← θ − η (∇f·v) v` | 1 forward pass |
//! | [`Fomoh`] | `θ ← θ − η (∇f·v)/(\|vᵀHv\| + ε) v` | 1 pass |
//! | [`FomohKd`] | `κ = −H̃⁻¹F`, `θ ← θ + η Σ κ_i v_i` with `F_i = ∇f·v_i`, `H̃_ij = v_iᵀHv_j` | 1 k-direction pass (k ≤ 16) |
//! | [`FomohBp`] | [`Fomoh`] along `v = ∇f` | 1 gradient + 1 pass |
//! | [`Newton`] | `θ ← θ − η H⁻¹∇f`, exact Hessian | `n(n+1)/2` hyper-dual passes |
//! | [`Sgd`], [`Adam`] | the usual, with exact gradients | 1 gradient |
//!
//! Every optimizer has a builder for its settings, a [`Optimizer::step`] returning a typed
//! [`StepReport`], and [`Optimizer::minimize`] (stopping rules in [`Options`]) returning a
//! [`Report`]. Tangents are Gaussian (the paper) or Rademacher ([`Tangents`]), drawn from a
//! seeded xoshiro256++ generator held by the optimizer, so the same seed gives the same run
//! bit for bit, and a [`Checkpoint`] (optimizer with its RNG state, θ, report) resumes a run
//! bit-identically.
//!
//! Curvature ([`Curvature`]): FoMoH-KD and Newton solve `H̃ κ = −F`. [`Curvature::Robust`]
//! (the default) takes a Cholesky solve and, when `H̃` is not positive definite, the
//! saddle-free step `|H̃|⁻¹` from an eigen-decomposition with `|λ|` floored;
//! [`Curvature::PaperExact`] reproduces the reference code (explicit inverse, jitter only when
//! exactly singular, identity fallback, indefinite `H̃` passes through). The report says which
//! was used ([`Fallback`]). [`Curvature::Damped`] adapts a Levenberg–Marquardt damping per
//! step from the actual decrease (one extra primal pass) and refuses steps that raise the loss;
//! [`FomohKd::previous_step`] makes the previous step one of the K directions, and
//! [`FomohKd::data_directions`] draws the directions in the span of the first layer's inputs.
//!
//! Bad input: a non-finite or wrong-length θ is an `Err`; a non-finite loss, derivative,
//! curvature or step is an `Err` (default) or a skipped step recorded in the report
//! ([`NonFinitePolicy::Skip`]). θ is never written with a non-finite value. Settings outside
//! their range (a negative or non-finite step size or decay factor, Adam's `β` outside
//! `[0, 1)`, a negative `ε`, more than [`MAX_DIRECTIONS`] directions) and a state no run can
//! reach (an all-zero generator, as a hand-edited checkpoint may hold) are
//! [`Error::InvalidArgument`] from [`Optimizer::validate`], which every step runs first.
//! [`Optimizer::minimize`] (through [`LastGood`]) puts θ back at the last point with a finite
//! loss when a step lands where the loss is not finite, and stops with an error after
//! [`MAX_SKIPS_IN_A_ROW`] skipped steps in a row.
//!
//! ```
//! use fomoh_runtime::optim::{FomohKd, Optimizer, Options};
//! use fomoh_runtime::{objective, scalar_fn, Scalar};
//! fn rosenbrock<S: Scalar>(x: &[S]) -> S {
//!     let (one, hundred) = (S::one(), S::from_f64(100.0));
//!     (0..x.len() - 1).map(|i| hundred * (x[i + 1] - x[i] * x[i]).powi(2) + (one - x[i]).powi(2)).sum()
//! }
//! let obj = objective(4, scalar_fn!(rosenbrock));
//! let mut x = vec![-1.2, 1.0, -1.2, 1.0];
//! let mut opt = FomohKd::new(4).learning_rate(1.0).seed(7);
//! let report = opt.minimize(&obj, &mut x, &Options::iterations(50)).unwrap();
//! assert!(report.final_loss() < 1e-10);
//! ```

mod aligned;
mod checkpoint;
mod damped;
mod guard;
pub mod linalg;
mod methods;

pub use checkpoint::{read_regular_file, write_atomic, Checkpoint};
pub use guard::LastGood;
pub use methods::{Adam, Fgd, Fomoh, FomohBp, FomohKd, Newton, Sgd};

use crate::error::{check_len, Error, Result};
use crate::Objective;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

/// How tangent directions are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Tangents {
    /// `v ~ N(0, I)` (the paper).
    #[default]
    Gaussian,
    /// Each entry `±1` with probability 1/2 (also `E[v vᵀ] = I`, lower variance).
    Rademacher,
}

/// Multiplicative step-size decay at milestones: `η_t = η · γ^(number of milestones ≤ t)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct Schedule {
    /// Iterations at which the step size is multiplied by `gamma`.
    pub milestones: Vec<usize>,
    /// The factor.
    pub gamma: f64,
}

impl Schedule {
    /// Decay by `gamma` at each of `milestones`.
    pub fn multi_step(milestones: impl Into<Vec<usize>>, gamma: f64) -> Self {
        Schedule { milestones: milestones.into(), gamma }
    }

    /// Checks that `gamma` is finite and `>= 0` (a negative or non-finite factor makes the
    /// step size meaningless).
    pub fn validate(&self) -> Result<()> {
        let g = self.gamma;
        let valid = g.is_finite() && g >= 0.0;
        if !valid && !self.milestones.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "schedule decay factor {g} (must be finite and >= 0)"
            )));
        }
        Ok(())
    }

    /// The factor at iteration `t`.
    pub fn factor(&self, t: usize) -> f64 {
        let hits = self.milestones.iter().filter(|&&m| m <= t).count();
        (0..hits).fold(1.0, |f, _| f * self.gamma)
    }
}

/// `n` independent standard normal draws from xoshiro256++ seeded with `seed` (the
/// generator the optimizers use; e.g. for reproducible starting points `x0 ~ N(0, I)`).
///
/// ```
/// let a = fomoh_runtime::optim::standard_normal(3, 5);
/// assert_eq!(a, fomoh_runtime::optim::standard_normal(3, 5));
/// assert_ne!(a, fomoh_runtime::optim::standard_normal(4, 5));
/// ```
pub fn standard_normal(seed: u64, n: usize) -> Vec<f64> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    (0..n).map(|_| StandardNormal.sample(&mut rng)).collect()
}

/// The most directions [`FomohKd`] takes: beyond 16 every step costs `k(k+1)/2` passes, so
/// `k = 256` is already 32 896 passes per step.
pub const MAX_DIRECTIONS: usize = 256;

/// The largest iteration count an optimizer's state may hold (far beyond any run; a larger
/// one only comes from a damaged checkpoint).
const MAX_ITERATION: usize = 1 << 53;

/// The largest dimension [`Newton`] takes: its exact Hessian is `n × n` (128 MiB here) from
/// `n(n+1)/2` passes per step.
pub const MAX_NEWTON_DIM: usize = 4096;

/// Skipped steps in a row after which a step under [`NonFinitePolicy::Skip`] fails with
/// [`Error::NonFinite`] instead of skipping again.
pub const MAX_SKIPS_IN_A_ROW: usize = 100;

/// What a step does when the loss, a derivative, the curvature or the step is not finite.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum NonFinitePolicy {
    /// Return [`Error::NonFinite`]; θ is unchanged.
    #[default]
    Error,
    /// Leave θ unchanged and record a skipped step in the report; after
    /// [`MAX_SKIPS_IN_A_ROW`] skipped steps in a row, fail as [`NonFinitePolicy::Error`].
    Skip,
}

/// How FoMoH-KD and Newton solve `H̃ κ = −F`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Curvature {
    /// Cholesky solve; if `H̃` is not positive definite, the saddle-free step from the
    /// eigen-decomposition with `|λ|` floored at [`ROBUST_EIGEN_FLOOR`]`·max|λ|` (identity if
    /// `H̃ = 0`).
    #[default]
    Robust,
    /// The paper's reference code: explicit inverse; only if `H̃` is exactly singular, retry
    /// with `H̃ + 1e-3·10^t I` for `t = 0..5`; then the identity. An indefinite `H̃` is used as is.
    PaperExact,
    /// Levenberg–Marquardt damping adapted per step (FoMoH-KD): `(H̃ + λG) κ = −F` with `G`
    /// the directions' Gram matrix; one primal pass per step measures the actual decrease
    /// against the quadratic model's, `λ` shrinks (to 0: the Newton step) when the model
    /// predicts well and grows when it does not, and a step that does not lower the loss is
    /// not taken. [`Newton`] (stateless) takes `H + λI` with the smallest `λ` of a doubling
    /// sequence that makes it positive definite.
    Damped,
}

/// The relative floor on `|λ|` of [`Curvature::Robust`]'s saddle-free fallback.
pub const ROBUST_EIGEN_FLOOR: f64 = 1e-6;

/// What a step did beyond the plain update.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub enum Fallback {
    /// Nothing: the plain update (Cholesky succeeded, or the inverse existed).
    #[default]
    None,
    /// [`Curvature::PaperExact`]: `H̃` was singular; `H̃ + jitter·I` was inverted at retry `retry` (0-based).
    Jitter {
        /// The retry that succeeded (`jitter = 1e-3·10^retry`).
        retry: u32,
        /// The jitter added to the diagonal.
        jitter: f64,
    },
    /// The identity replaced `H̃⁻¹` (PaperExact after 5 failed retries, or Robust with `H̃ = 0`).
    Identity,
    /// [`Curvature::Robust`]: Cholesky failed; the step used `|λ|` floored.
    SaddleFree {
        /// Eigenvalues that were negative.
        negative: usize,
        /// Eigenvalues raised to the floor.
        floored: usize,
    },
    /// [`Curvature::Damped`] (FoMoH-KD): the damping used and the ratio of actual to predicted
    /// decrease.
    Damped {
        /// The damping `λ` of this step.
        lambda: f64,
        /// Actual over predicted decrease (`NaN` when no step was tried).
        rho: f64,
        /// Whether the step was refused (it did not lower the loss); θ is unchanged then.
        rejected: bool,
    },
}

/// What one step did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    /// The iteration index of this step (0-based).
    pub iteration: usize,
    /// `f(θ)` before the step.
    pub loss: f64,
    /// The directional derivatives `∇f·v_i` (FGD/FoMoH/KD/BP), or the gradient (Newton, SGD, Adam).
    pub directional: Vec<f64>,
    /// The curvature used: `vᵀHv` (FoMoH, BP), the k×k `H̃` row-major (FoMoH-KD), the n×n
    /// Hessian (Newton); empty for first-order methods.
    pub curvature: Vec<f64>,
    /// The step size `η_t` after the schedule.
    pub learning_rate: f64,
    /// `‖θ_new − θ‖₂` (0 when skipped).
    pub step_norm: f64,
    /// The fallback used, if any.
    pub fallback: Fallback,
    /// Forward passes of the objective (hyper-dual, jet or k-direction).
    pub passes: usize,
    /// Calls to the objective's gradient source.
    pub gradient_evals: usize,
    /// `Some(reason)` if the step was skipped ([`NonFinitePolicy::Skip`]); θ is unchanged.
    pub skipped: Option<String>,
}

/// Stopping rules of [`Optimizer::minimize`]; the first that holds stops the run.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Options {
    /// At most this many steps.
    pub max_iterations: usize,
    /// Stop once `f(θ) <= loss_tolerance`.
    pub loss_tolerance: Option<f64>,
    /// Stop once this much wall time has passed (checked between steps).
    pub time_limit: Option<Duration>,
}

impl Options {
    /// At most `n` steps.
    pub fn iterations(n: usize) -> Self {
        Options { max_iterations: n, ..Default::default() }
    }
    /// Also stop once `f(θ) <= tol`.
    pub fn loss_tolerance(mut self, tol: f64) -> Self {
        self.loss_tolerance = Some(tol);
        self
    }
    /// Also stop after `limit` of wall time.
    pub fn time_limit(mut self, limit: Duration) -> Self {
        self.time_limit = Some(limit);
        self
    }
}

/// Why [`Optimizer::minimize`] stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum StopReason {
    /// `max_iterations` steps were taken.
    #[default]
    Iterations,
    /// The loss reached `loss_tolerance`.
    LossTolerance,
    /// The time limit passed.
    TimeLimit,
    /// The callback asked to stop.
    Callback,
}

/// How often each fallback was used during a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct FallbackCounts {
    /// [`Fallback::Jitter`].
    pub jitter: usize,
    /// [`Fallback::Identity`].
    pub identity: usize,
    /// [`Fallback::SaddleFree`].
    pub saddle_free: usize,
    /// [`Fallback::Damped`] steps that were refused.
    #[serde(default)]
    pub rejected: usize,
    /// Skipped steps.
    pub skipped: usize,
}

/// The record of a [`Optimizer::minimize`] run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct Report {
    /// Steps taken.
    pub iterations: usize,
    /// `f(θ_t)` for `t = 0..=iterations`: the start, then after every step.
    pub losses: Vec<f64>,
    /// Forward passes of the objective in all steps.
    pub passes: usize,
    /// Gradient-source calls in all steps.
    pub gradient_evals: usize,
    /// Fallbacks and skipped steps.
    pub fallbacks: FallbackCounts,
    /// Why the run stopped.
    pub stop: StopReason,
    /// Wall time of the run in seconds (not part of the bit-identical state).
    pub seconds: f64,
}

impl Report {
    /// The last recorded loss (`NaN` if none).
    pub fn final_loss(&self) -> f64 {
        self.losses.last().copied().unwrap_or(f64::NAN)
    }

    /// Appends `later`, the report of a run that continued from where this one stopped (a
    /// resumed checkpoint): iterations, passes, gradient calls, fallbacks and seconds add up;
    /// the losses continue (the continuation's starting loss is this run's last one and is
    /// not repeated); the stop reason is the continuation's. The merged report is the report
    /// of the uninterrupted run (up to `seconds`).
    pub fn append(&mut self, later: &Report) {
        self.iterations += later.iterations;
        let skip = usize::from(!self.losses.is_empty());
        self.losses.extend(later.losses.iter().skip(skip));
        self.passes += later.passes;
        self.gradient_evals += later.gradient_evals;
        self.fallbacks.jitter += later.fallbacks.jitter;
        self.fallbacks.identity += later.fallbacks.identity;
        self.fallbacks.saddle_free += later.fallbacks.saddle_free;
        self.fallbacks.rejected += later.fallbacks.rejected;
        self.fallbacks.skipped += later.fallbacks.skipped;
        self.stop = later.stop;
        self.seconds += later.seconds;
    }

    fn record(&mut self, s: &StepReport) {
        self.iterations += 1;
        self.passes += s.passes;
        self.gradient_evals += s.gradient_evals;
        match s.fallback {
            Fallback::None => {}
            Fallback::Jitter { .. } => self.fallbacks.jitter += 1,
            Fallback::Identity => self.fallbacks.identity += 1,
            Fallback::SaddleFree { .. } => self.fallbacks.saddle_free += 1,
            Fallback::Damped { rejected, .. } => self.fallbacks.rejected += usize::from(rejected),
        }
        if s.skipped.is_some() {
            self.fallbacks.skipped += 1;
        }
    }
}

/// Settings every optimizer shares (set through each optimizer's builder methods).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// The base step size `η`.
    pub learning_rate: f64,
    /// Step-size schedule.
    pub schedule: Schedule,
    /// Tangent distribution (forward-gradient methods).
    pub tangents: Tangents,
    /// The RNG seed.
    pub seed: u64,
    /// What to do with non-finite values.
    pub on_non_finite: NonFinitePolicy,
}

/// The state every optimizer carries: settings, the RNG and the iteration counter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Core {
    /// The settings.
    pub settings: Settings,
    rng: Xoshiro256PlusPlus,
    iteration: usize,
    /// Steps skipped in a row (under [`NonFinitePolicy::Skip`]).
    #[serde(default)]
    skipped_in_a_row: usize,
}

impl Core {
    fn new(learning_rate: f64) -> Self {
        Core {
            settings: Settings {
                learning_rate,
                schedule: Schedule::default(),
                tangents: Tangents::Gaussian,
                seed: 0,
                on_non_finite: NonFinitePolicy::Error,
            },
            rng: Xoshiro256PlusPlus::seed_from_u64(0),
            iteration: 0,
            skipped_in_a_row: 0,
        }
    }

    fn reseed(&mut self, seed: u64) {
        self.settings.seed = seed;
        self.rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    }

    /// Steps taken so far.
    pub fn iteration(&self) -> usize {
        self.iteration
    }

    /// Checks the settings (step size, schedule) and the generator: its state must not be
    /// all zeros, which xoshiro never leaves (every draw would be 0, every Rademacher
    /// direction all −1) and only a hand-edited checkpoint holds.
    pub fn validate(&self) -> Result<()> {
        let lr = self.settings.learning_rate;
        if !lr.is_finite() || lr < 0.0 {
            return Err(Error::InvalidArgument(format!("learning rate {lr} (must be finite and >= 0)")));
        }
        self.settings.schedule.validate()?;
        if self.iteration > MAX_ITERATION {
            return Err(Error::InvalidArgument(format!(
                "iteration count {} (at most {MAX_ITERATION})",
                self.iteration
            )));
        }
        // The zero state draws 0; only then is the state itself looked at (it is private to
        // the generator, visible through its serialization), so a step pays one draw.
        use rand::Rng;
        if self.rng.clone().next_u64() != 0 {
            return Ok(());
        }
        let state = serde_json::to_value(&self.rng).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let words = state.get("s").and_then(|s| s.as_array());
        if words.is_some_and(|w| w.iter().all(|v| v.as_u64() == Some(0))) {
            return Err(Error::InvalidArgument(
                "random-number generator state is all zeros (xoshiro never reaches it)".into(),
            ));
        }
        Ok(())
    }

    fn learning_rate(&self) -> f64 {
        self.settings.learning_rate * self.settings.schedule.factor(self.iteration)
    }

    /// One tangent of length `n`.
    fn tangent(&mut self, n: usize) -> Vec<f64> {
        match self.settings.tangents {
            Tangents::Gaussian => (0..n).map(|_| StandardNormal.sample(&mut self.rng)).collect(),
            Tangents::Rademacher => {
                use rand::Rng;
                (0..n).map(|_| if self.rng.next_u64() >> 63 == 1 { 1.0 } else { -1.0 }).collect()
            }
        }
    }

    /// Checks θ against the objective before a step.
    fn check_theta(&self, obj: &dyn Objective, theta: &[f64]) -> Result<()> {
        check_len(|| "theta".into(), obj.dim(), theta.len())?;
        if let Some(i) = theta.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite(format!(
                "theta[{i}] = {} before step {}",
                theta[i], self.iteration
            )));
        }
        Ok(())
    }

    /// A fresh report for this iteration.
    fn report(&self, loss: f64) -> StepReport {
        StepReport {
            iteration: self.iteration,
            loss,
            directional: Vec::new(),
            curvature: Vec::new(),
            learning_rate: self.learning_rate(),
            step_norm: 0.0,
            fallback: Fallback::None,
            passes: 0,
            gradient_evals: 0,
            skipped: None,
        }
    }

    /// Applies `θ += delta` if everything in the report and `delta` is finite; otherwise
    /// errs or skips by policy. Advances the iteration counter either way on success.
    fn apply(&mut self, theta: &mut [f64], delta: &[f64], mut rep: StepReport) -> Result<StepReport> {
        let bad = if !rep.loss.is_finite() {
            Some(format!("loss = {}", rep.loss))
        } else if rep.directional.iter().any(|v| !v.is_finite()) {
            Some("a directional derivative or gradient entry is not finite".to_string())
        } else if rep.curvature.iter().any(|v| !v.is_finite()) {
            Some("the curvature is not finite".to_string())
        } else if delta.iter().zip(theta.iter()).any(|(d, t)| !d.is_finite() || !(t + d).is_finite()) {
            Some("the step is not finite".to_string())
        } else {
            None
        };
        if let Some(reason) = bad {
            let reason = format!("{reason} at step {}", self.iteration);
            match self.settings.on_non_finite {
                NonFinitePolicy::Error => return Err(Error::NonFinite(reason)),
                NonFinitePolicy::Skip => {
                    if self.skipped_in_a_row + 1 >= MAX_SKIPS_IN_A_ROW {
                        return Err(Error::NonFinite(format!(
                            "{MAX_SKIPS_IN_A_ROW} steps in a row skipped; the last: {reason}"
                        )));
                    }
                    self.skipped_in_a_row += 1;
                    rep.skipped = Some(reason);
                    self.iteration += 1;
                    return Ok(rep);
                }
            }
        }
        for (t, d) in theta.iter_mut().zip(delta) {
            *t += d;
        }
        rep.step_norm = delta.iter().map(|d| d * d).sum::<f64>().sqrt();
        self.iteration += 1;
        self.skipped_in_a_row = 0;
        Ok(rep)
    }
}

/// An optimizer: a [`step`](Optimizer::step) and a driver. Object safe (the objective is
/// `&dyn Objective`), so a list of different optimizers runs through one loop.
pub trait Optimizer {
    /// A short name (`"fgd"`, `"fomoh-kd"`, ...).
    fn name(&self) -> &'static str;

    /// The shared state (settings, RNG, iteration).
    fn core(&self) -> &Core;

    /// One step: reads `f` and its derivatives at `theta`, updates `theta` in place.
    /// Runs [`validate`](Optimizer::validate) first.
    fn step(&mut self, obj: &dyn Objective, theta: &mut [f64]) -> Result<StepReport>;

    /// Checks every setting and the state (see [`Core::validate`]); an optimizer read from a
    /// checkpoint should pass this before it is used.
    fn validate(&self) -> Result<()> {
        self.core().validate()
    }

    /// Runs [`step`](Optimizer::step) until a rule in `opts` holds.
    fn minimize(&mut self, obj: &dyn Objective, theta: &mut [f64], opts: &Options) -> Result<Report> {
        self.minimize_with(obj, theta, opts, &mut |_| ControlFlow::Continue(()))
    }

    /// As [`minimize`](Optimizer::minimize), calling `callback` after every step; the callback
    /// stops the run by returning `ControlFlow::Break(())`.
    ///
    /// On `Err` (a failed step under [`NonFinitePolicy::Error`], or an objective error), θ
    /// holds the last good point: the last one where the loss was finite ([`LastGood`]); the
    /// callback has seen every completed step. A step that lands where the loss is not finite
    /// is an `Err` under [`NonFinitePolicy::Error`] and, under [`NonFinitePolicy::Skip`],
    /// moves θ back to the last good point.
    fn minimize_with(
        &mut self,
        obj: &dyn Objective,
        theta: &mut [f64],
        opts: &Options,
        callback: &mut dyn FnMut(&StepReport) -> ControlFlow<()>,
    ) -> Result<Report> {
        let start = Instant::now();
        let mut report = Report::default();
        let mut guard = LastGood::default();
        // With a loss tolerance the loss after each step is needed before the next one.
        let mut loss = match opts.loss_tolerance {
            Some(_) => Some(obj.value(theta)?),
            None => None,
        };
        loop {
            if report.iterations >= opts.max_iterations {
                report.stop = StopReason::Iterations;
                break;
            }
            if let (Some(tol), Some(l)) = (opts.loss_tolerance, loss) {
                if l <= tol {
                    report.stop = StopReason::LossTolerance;
                    break;
                }
            }
            if opts.time_limit.is_some_and(|lim| start.elapsed() >= lim) {
                report.stop = StopReason::TimeLimit;
                break;
            }
            let s = guard.step(&mut *self, obj, theta)?;
            report.losses.push(s.loss);
            report.record(&s);
            if opts.loss_tolerance.is_some() {
                loss = Some(obj.value(theta)?);
            }
            if callback(&s).is_break() {
                report.stop = StopReason::Callback;
                break;
            }
        }
        let last = match loss {
            Some(l) => l,
            None => obj.value(theta)?,
        };
        let last = if last.is_finite() { last } else { guard.land(obj, theta, self.core(), last)? };
        report.losses.push(last);
        report.seconds = start.elapsed().as_secs_f64();
        Ok(report)
    }
}
