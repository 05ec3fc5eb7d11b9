//! The optimizers. Each is a small struct (settings + state, serializable for checkpoints)
//! with builder methods and an [`Optimizer`] implementation.

use super::linalg::{cholesky_solve, identity, inverse, mat_vec, scale_to_length, symmetric_eigen, Matrix};
use super::{aligned, damped};
use super::{
    Core, Curvature, Fallback, NonFinitePolicy, Optimizer, Schedule, Settings, StepReport, Tangents,
    MAX_DIRECTIONS, MAX_NEWTON_DIM, ROBUST_EIGEN_FLOOR,
};
use crate::error::{Error, Result};
use crate::Objective;
use serde::{Deserialize, Serialize};

/// For each optimizer: the [`Optimizer`] impl (its `run_step` is the step) and builder
/// methods for the settings every optimizer shares.
macro_rules! optimizers {
    ($($t:ty => $name:literal),*) => {$(
        impl Optimizer for $t {
            fn name(&self) -> &'static str {
                $name
            }
            fn core(&self) -> &Core {
                &self.core
            }
            fn step(&mut self, obj: &dyn Objective, theta: &mut [f64]) -> Result<StepReport> {
                self.validate()?;
                self.run_step(obj, theta)
            }
            fn validate(&self) -> Result<()> {
                self.core.validate()?;
                self.check_own()
            }
        }

        impl $t {
            /// Sets the base step size `η`.
            pub fn learning_rate(mut self, learning_rate: f64) -> Self {
                self.core.settings.learning_rate = learning_rate;
                self
            }
            /// Sets a step-size schedule.
            pub fn schedule(mut self, schedule: Schedule) -> Self {
                self.core.settings.schedule = schedule;
                self
            }
            /// Sets the tangent distribution.
            pub fn tangents(mut self, tangents: Tangents) -> Self {
                self.core.settings.tangents = tangents;
                self
            }
            /// Seeds the RNG (the same seed gives the same run, bit for bit).
            pub fn seed(mut self, seed: u64) -> Self {
                self.core.reseed(seed);
                self
            }
            /// Sets what a step does with non-finite values.
            pub fn on_non_finite(mut self, policy: NonFinitePolicy) -> Self {
                self.core.settings.on_non_finite = policy;
                self
            }
            /// The shared settings.
            pub fn settings(&self) -> &Settings {
                &self.core.settings
            }
        }
    )*};
}

optimizers!(Fgd => "fgd", Fomoh => "fomoh", FomohKd => "fomoh-kd", FomohBp => "fomoh-bp", Newton => "newton",
    Sgd => "sgd", Adam => "adam");

/// `check_own` (the settings beyond [`Core`]) for the optimizers without any.
macro_rules! nothing_own {
    ($($t:ty),*) => {$(
        impl $t {
            fn check_own(&self) -> Result<()> {
                Ok(())
            }
        }
    )*};
}

nothing_own!(Fgd, Newton, Sgd);

/// Checks that `ε` (added to a denominator) is finite and `>= 0`.
fn check_epsilon(who: &str, epsilon: f64) -> Result<()> {
    if epsilon.is_finite() && epsilon >= 0.0 {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!("{who} epsilon {epsilon} (must be finite and >= 0)")))
    }
}

/// The most tangent entries (`k × n`) one FoMoH-KD step draws (2 GiB of `f64`).
const MAX_TANGENT_ENTRIES: usize = 1 << 28;

/// `Default` as `new()` for the optimizers without required arguments.
macro_rules! default_is_new {
    ($($t:ty),*) => {$(
        impl Default for $t {
            fn default() -> Self {
                Self::new()
            }
        }
    )*};
}

default_is_new!(Fgd, Fomoh, FomohBp, Newton, Sgd, Adam);

/// Forward gradient descent: `θ ← θ − η (∇f·v) v`, one jet pass per step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fgd {
    core: Core,
}

impl Fgd {
    /// FGD with step size `1e-4` (the paper's Rosenbrock setting).
    pub fn new() -> Self {
        Fgd { core: Core::new(1e-4) }
    }

    fn run_step(&mut self, obj: &dyn Objective, theta: &mut [f64]) -> Result<StepReport> {
        self.core.check_theta(obj, theta)?;
        let v = self.core.tangent(theta.len());
        let j = obj.directional(theta, &v)?;
        let mut rep = self.core.report(j.re);
        rep.directional = vec![j.d1];
        rep.passes = 1;
        let c = -rep.learning_rate * j.d1;
        let delta: Vec<f64> = v.iter().map(|vi| c * vi).collect();
        self.core.apply(theta, &delta, rep)
    }
}

/// FoMoH: `θ ← θ − η (∇f·v)/(|vᵀHv| + ε) v`, one jet pass per step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fomoh {
    core: Core,
    epsilon: f64,
}

impl Fomoh {
    /// FoMoH with `η = 1`, `ε = 1e-8`.
    pub fn new() -> Self {
        Fomoh { core: Core::new(1.0), epsilon: 1e-8 }
    }
    /// Sets `ε` in the denominator.
    pub fn epsilon(mut self, epsilon: f64) -> Self {
        self.epsilon = epsilon;
        self
    }
}

/// `−η (∇f·v)/(|vᵀHv| + ε) v`: FoMoH's step along `v`, shared with FoMoH-BP.
fn newton_along(v: &[f64], d1: f64, d2: f64, lr: f64, epsilon: f64) -> Vec<f64> {
    let c = -lr * d1 / (d2.abs() + epsilon);
    v.iter().map(|vi| c * vi).collect()
}

impl Fomoh {
    fn check_own(&self) -> Result<()> {
        check_epsilon("fomoh", self.epsilon)
    }

    fn run_step(&mut self, obj: &dyn Objective, theta: &mut [f64]) -> Result<StepReport> {
        self.core.check_theta(obj, theta)?;
        let v = self.core.tangent(theta.len());
        let j = obj.directional(theta, &v)?;
        let mut rep = self.core.report(j.re);
        rep.directional = vec![j.d1];
        rep.curvature = vec![j.d2];
        rep.passes = 1;
        let delta = newton_along(&v, j.d1, j.d2, rep.learning_rate, self.epsilon);
        self.core.apply(theta, &delta, rep)
    }
}

/// Solves `H κ = −F` under a curvature policy; returns `κ` and what was done.
/// `H` must be finite (the callers check).
pub(super) fn solve_curvature(h: &[Vec<f64>], f: &[f64], policy: Curvature) -> (Vec<f64>, Fallback) {
    let neg = |x: Vec<f64>| x.into_iter().map(|v| -v).collect::<Vec<f64>>();
    match policy {
        Curvature::Damped => match damped::solve(h, &identity(f.len()), f, 0.0, 1.0) {
            Some(s) => (s.kappa, Fallback::Damped { lambda: s.lambda, rho: f64::NAN, rejected: false }),
            None => (neg(f.to_vec()), Fallback::Identity),
        },
        Curvature::Robust => {
            if let Some(x) = cholesky_solve(h, f) {
                return (neg(x), Fallback::None);
            }
            let (lambda, q) = symmetric_eigen(h);
            let max = lambda.iter().fold(0.0_f64, |m, l| m.max(l.abs()));
            if max == 0.0 {
                return (neg(f.to_vec()), Fallback::Identity);
            }
            let floor = ROBUST_EIGEN_FLOOR * max;
            let (mut negative, mut floored) = (0, 0);
            // κ = −Q diag(1/max(|λ|, floor)) Qᵀ F
            let n = f.len();
            let mut kappa = vec![0.0; n];
            for (c, &l) in lambda.iter().enumerate() {
                negative += usize::from(l < 0.0);
                floored += usize::from(l.abs() < floor);
                let proj: f64 = (0..n).map(|r| q[r][c] * f[r]).sum();
                let s = proj / l.abs().max(floor);
                for r in 0..n {
                    kappa[r] -= q[r][c] * s;
                }
            }
            (kappa, Fallback::SaddleFree { negative, floored })
        }
        Curvature::PaperExact => {
            if let Some(inv) = inverse(h) {
                return (neg(mat_vec(&inv, f)), Fallback::None);
            }
            for retry in 0..5u32 {
                let jitter = 1e-3 * 10f64.powi(retry as i32);
                let mut hj: Matrix = h.to_vec();
                for (i, row) in hj.iter_mut().enumerate() {
                    row[i] += jitter;
                }
                if let Some(inv) = inverse(&hj) {
                    return (neg(mat_vec(&inv, f)), Fallback::Jitter { retry, jitter });
                }
            }
            (neg(mat_vec(&identity(f.len()), f)), Fallback::Identity)
        }
    }
}

/// FoMoH-KD: `F_i = ∇f·v_i`, `H̃_ij = v_iᵀHv_j`, `κ = −H̃⁻¹F`, `θ ← θ + η Σ κ_i v_i`.
/// One k-direction pass per step for `k <= MAX_K` (16, through [`Objective::project`]), pairwise
/// hyper-dual passes beyond. Under [`Curvature::Damped`] one primal pass more per step (the
/// actual decrease). With [`FomohKd::previous_step`] the first direction is the previous step;
/// with [`FomohKd::data_directions`] the fresh directions lie in the span of the first layer's
/// inputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FomohKd {
    core: Core,
    k: usize,
    curvature: Curvature,
    /// The damping `λ` of [`Curvature::Damped`] (0: the Newton step).
    #[serde(default)]
    lambda: f64,
    /// Whether the previous step is one of the directions.
    #[serde(default)]
    previous_step: bool,
    /// The last step taken (empty before the first, or without `previous_step`).
    #[serde(default)]
    previous: Vec<f64>,
    /// Whether the fresh directions are drawn in the objective's input span.
    #[serde(default)]
    data_directions: bool,
}

impl FomohKd {
    /// FoMoH-KD with `k` directions, `η = 1`, [`Curvature::Robust`]. `k` must be in
    /// `1..=`[`MAX_DIRECTIONS`] (a step errs otherwise).
    pub fn new(k: usize) -> Self {
        FomohKd {
            core: Core::new(1.0),
            k,
            curvature: Curvature::Robust,
            lambda: 0.0,
            previous_step: false,
            previous: Vec::new(),
            data_directions: false,
        }
    }
    /// Sets the curvature policy.
    pub fn curvature(mut self, curvature: Curvature) -> Self {
        self.curvature = curvature;
        self
    }
    /// Makes the previous step (scaled to the length `√n` of a Gaussian tangent) the first of
    /// the `k` directions, `k − 1` drawn afresh (a subspace momentum: the step is the best in
    /// the span of the last step and new directions, under the quadratic model). Needs
    /// `k >= 2` (a step errs otherwise). Not in the paper.
    pub fn previous_step(mut self, on: bool) -> Self {
        self.previous_step = on;
        self
    }
    /// Draws the fresh directions inside the span where the first layer's gradient lies
    /// ([`Objective::input_span`], [`crate::InputSpan`]): weights `(X − 1μᵀ)ᵀ U` and bias
    /// `1ᵀ U` on the minibatch's inputs `X` (mean input `μ`) with `U` drawn from the [`Tangents`]
    /// distribution, scaled to the length of a Gaussian tangent on the layer, fresh tangents
    /// on the other parameters. Same cost per step (one product of the inputs with `U`, no
    /// backward pass). A step errs ([`Error::Unsupported`]) on an objective without an input
    /// span. Not in the paper.
    pub fn data_directions(mut self, on: bool) -> Self {
        self.data_directions = on;
        self
    }
    /// Whether the fresh directions are drawn in the objective's input span.
    pub fn uses_data_directions(&self) -> bool {
        self.data_directions
    }
    /// The number of directions.
    pub fn k(&self) -> usize {
        self.k
    }
    /// The curvature policy.
    pub fn curvature_policy(&self) -> Curvature {
        self.curvature
    }
    /// Whether the previous step is one of the directions.
    pub fn uses_previous_step(&self) -> bool {
        self.previous_step
    }
    /// The damping `λ` of [`Curvature::Damped`] (0 before the first step and where the
    /// quadratic model has been predicting well).
    pub fn damping(&self) -> f64 {
        self.lambda
    }

    fn check_own(&self) -> Result<()> {
        if !(1..=MAX_DIRECTIONS).contains(&self.k) {
            return Err(Error::InvalidArgument(format!(
                "fomoh-kd with k = {} directions (must be 1..={MAX_DIRECTIONS})",
                self.k
            )));
        }
        if self.previous_step && self.k < 2 {
            return Err(Error::InvalidArgument(
                "fomoh-kd with the previous step as a direction needs k >= 2".into(),
            ));
        }
        if !(self.lambda.is_finite() && self.lambda >= 0.0) {
            return Err(Error::InvalidArgument(format!(
                "fomoh-kd damping {} (must be finite and >= 0)",
                self.lambda
            )));
        }
        if self.previous.iter().any(|v| !v.is_finite()) || (!self.previous_step && !self.previous.is_empty())
        {
            return Err(Error::InvalidArgument(
                "fomoh-kd previous step: not finite, or kept without previous_step".into(),
            ));
        }
        Ok(())
    }

    /// The step's directions: the previous step (if on and there is one) and fresh ones
    /// (tangents, or drawn in `obj`'s input span).
    fn directions(&mut self, obj: &dyn Objective, n: usize) -> Result<Vec<Vec<f64>>> {
        let mut dirs = Vec::with_capacity(self.k);
        if self.previous_step && !self.previous.is_empty() {
            if self.previous.len() != n {
                return Err(Error::length("fomoh-kd previous step", n, self.previous.len()));
            }
            let mut previous = self.previous.clone();
            if scale_to_length(&mut previous, (n as f64).sqrt()) {
                dirs.push(previous);
            }
        }
        if self.data_directions {
            let span = obj.input_span().ok_or_else(|| {
                Error::Unsupported(
                    "fomoh-kd with data directions needs an objective with an input span (a model \
                     whose first layer is dense on the inputs, on a minibatch)"
                        .into(),
                )
            })?;
            let fresh = self.k - dirs.len();
            dirs.extend(aligned::directions(&mut self.core, &span, n, fresh)?);
        }
        while dirs.len() < self.k {
            dirs.push(self.core.tangent(n));
        }
        Ok(dirs)
    }

    fn run_step(&mut self, obj: &dyn Objective, theta: &mut [f64]) -> Result<StepReport> {
        self.core.check_theta(obj, theta)?;
        let n = theta.len();
        if self.k.checked_mul(n).is_none_or(|e| e > MAX_TANGENT_ENTRIES) {
            return Err(Error::InvalidArgument(format!(
                "fomoh-kd:{} on {n} parameters draws {} × {n} tangent entries per step (at most {MAX_TANGENT_ENTRIES})",
                self.k, self.k
            )));
        }
        let dirs = self.directions(obj, n)?;
        let p = obj.project(theta, &dirs)?;
        let mut rep = self.core.report(p.value);
        rep.directional = p.grad.clone();
        rep.curvature = p.hess.iter().flatten().copied().collect();
        rep.passes = p.passes;
        let mut delta = vec![0.0; n];
        if rep.curvature.iter().chain(&p.grad).all(|v| v.is_finite()) && p.value.is_finite() {
            let kappa = match self.curvature {
                Curvature::Damped => self.damped_kappa(obj, theta, &p, &dirs, &mut rep)?,
                policy => {
                    let (kappa, fallback) = solve_curvature(&p.hess, &p.grad, policy);
                    rep.fallback = fallback;
                    Some(kappa)
                }
            };
            if let Some(kappa) = kappa {
                add_step(&mut delta, &kappa, &dirs, rep.learning_rate);
            }
        }
        let rep = self.core.apply(theta, &delta, rep)?;
        if self.previous_step && rep.skipped.is_none() && delta.iter().any(|d| *d != 0.0) {
            self.previous = delta;
        }
        Ok(rep)
    }

    /// [`Curvature::Damped`]: `κ` of the damped model if its step lowers the loss (one primal
    /// pass at the trial point), `None` otherwise; updates `λ` and the report.
    fn damped_kappa(
        &mut self,
        obj: &dyn Objective,
        theta: &[f64],
        p: &crate::Projection<f64>,
        dirs: &[Vec<f64>],
        rep: &mut StepReport,
    ) -> Result<Option<Vec<f64>>> {
        let lr = rep.learning_rate;
        let Some(s) = damped::solve(&p.hess, &damped::gram(dirs), &p.grad, self.lambda, lr) else {
            rep.fallback = Fallback::Damped { lambda: self.lambda, rho: f64::NAN, rejected: true };
            return Ok(None);
        };
        if !(s.predicted > 0.0 && s.predicted.is_finite()) {
            // Nothing to gain by the model (F = 0 or η = 0): no trial pass.
            rep.fallback = Fallback::Damped { lambda: s.lambda, rho: f64::NAN, rejected: true };
            return Ok(None);
        }
        let mut trial = theta.to_vec();
        add_step(&mut trial, &s.kappa, dirs, lr);
        let f1 = obj.value(&trial)?;
        rep.passes += 1;
        let rho = (p.value - f1) / s.predicted;
        self.lambda = damped::update(s.lambda, s.scale, rho);
        let accepted = f1 < p.value;
        rep.fallback = Fallback::Damped { lambda: s.lambda, rho, rejected: !accepted };
        Ok(accepted.then_some(s.kappa))
    }
}

/// `x += η Σ κ_i d_i`, direction by direction (the step of a subspace method, added to the
/// zero step or to θ for a trial point).
fn add_step(x: &mut [f64], kappa: &[f64], dirs: &[Vec<f64>], lr: f64) {
    for (kap, d) in kappa.iter().zip(dirs) {
        let c = lr * kap;
        for (x, di) in x.iter_mut().zip(d) {
            *x += c * di;
        }
    }
}

/// The gradient from the objective's gradient source, or an error naming the optimizer.
fn gradient_of(obj: &dyn Objective, theta: &[f64], who: &str) -> Result<Vec<f64>> {
    obj.gradient(theta).unwrap_or_else(|| {
        Err(Error::Unsupported(format!("{who} needs an objective with a gradient source")))
    })
}

/// FoMoH-BP: FoMoH along the gradient, `v = ∇f` (one gradient call + one jet pass).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FomohBp {
    core: Core,
    epsilon: f64,
}

impl FomohBp {
    /// FoMoH-BP with `η = 1`, `ε = 1e-8`.
    pub fn new() -> Self {
        FomohBp { core: Core::new(1.0), epsilon: 1e-8 }
    }
    /// Sets `ε` in the denominator.
    pub fn epsilon(mut self, epsilon: f64) -> Self {
        self.epsilon = epsilon;
        self
    }

    fn check_own(&self) -> Result<()> {
        check_epsilon("fomoh-bp", self.epsilon)
    }

    fn run_step(&mut self, obj: &dyn Objective, theta: &mut [f64]) -> Result<StepReport> {
        self.core.check_theta(obj, theta)?;
        let g = gradient_of(obj, theta, "fomoh-bp")?;
        let j = obj.directional(theta, &g)?;
        let mut rep = self.core.report(j.re);
        rep.directional = vec![j.d1];
        rep.curvature = vec![j.d2];
        rep.passes = 1;
        rep.gradient_evals = 1;
        let delta = newton_along(&g, j.d1, j.d2, rep.learning_rate, self.epsilon);
        self.core.apply(theta, &delta, rep)
    }
}

/// Newton's method with the exact Hessian from `n(n+1)/2` one-hot hyper-dual passes (small
/// `n`, at most [`MAX_NEWTON_DIM`](super::MAX_NEWTON_DIM)): `θ ← θ + η κ`, `H κ = −∇f` under
/// a [`Curvature`] policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Newton {
    core: Core,
    curvature: Curvature,
}

impl Newton {
    /// Newton with `η = 1` and [`Curvature::Robust`].
    pub fn new() -> Self {
        Newton { core: Core::new(1.0), curvature: Curvature::Robust }
    }
    /// Sets the curvature policy.
    pub fn curvature(mut self, curvature: Curvature) -> Self {
        self.curvature = curvature;
        self
    }
}

/// `f`, `∇f` and the exact Hessian from `n(n+1)/2` hyper-dual passes along pairs of axes.
fn exact_second_order(obj: &dyn Objective, x: &[f64]) -> Result<(f64, Vec<f64>, Matrix, usize)> {
    let n = x.len();
    let (mut g, mut h) = (vec![0.0; n], vec![vec![0.0; n]; n]);
    let (mut ei, mut ej) = (vec![0.0; n], vec![0.0; n]);
    let (mut value, mut passes) = (0.0, 0);
    for i in 0..n {
        ei[i] = 1.0;
        for j in i..n {
            ej[j] = 1.0;
            let hd = obj.hyper_dual(x, &ei, &ej)?;
            passes += 1;
            value = hd.re;
            g[i] = hd.e1;
            h[i][j] = hd.e12;
            h[j][i] = hd.e12;
            ej[j] = 0.0;
        }
        ei[i] = 0.0;
    }
    if n == 0 {
        value = obj.value(x)?;
    }
    Ok((value, g, h, passes))
}

impl Newton {
    fn run_step(&mut self, obj: &dyn Objective, theta: &mut [f64]) -> Result<StepReport> {
        self.core.check_theta(obj, theta)?;
        if theta.len() > MAX_NEWTON_DIM {
            return Err(Error::InvalidArgument(format!(
                "newton on {} parameters: at most {MAX_NEWTON_DIM} (its Hessian is n × n)",
                theta.len()
            )));
        }
        let (value, g, h, passes) = exact_second_order(obj, theta)?;
        let mut rep = self.core.report(value);
        rep.curvature = h.iter().flatten().copied().collect();
        rep.passes = passes;
        let mut delta = vec![0.0; theta.len()];
        if rep.curvature.iter().chain(&g).all(|v| v.is_finite()) {
            let (kappa, fallback) = solve_curvature(&h, &g, self.curvature);
            rep.fallback = fallback;
            delta = kappa.iter().map(|k| rep.learning_rate * k).collect();
        }
        rep.directional = g;
        self.core.apply(theta, &delta, rep)
    }
}

/// Gradient descent with exact gradients: `θ ← θ − η ∇f`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sgd {
    core: Core,
}

impl Sgd {
    /// SGD with step size `1e-4`.
    pub fn new() -> Self {
        Sgd { core: Core::new(1e-4) }
    }

    fn run_step(&mut self, obj: &dyn Objective, theta: &mut [f64]) -> Result<StepReport> {
        self.core.check_theta(obj, theta)?;
        let g = gradient_of(obj, theta, "sgd")?;
        let mut rep = self.core.report(obj.value(theta)?);
        rep.gradient_evals = 1;
        let delta: Vec<f64> = g.iter().map(|gi| -rep.learning_rate * gi).collect();
        rep.directional = g;
        self.core.apply(theta, &delta, rep)
    }
}

/// Adam (Kingma & Ba) with exact gradients and bias correction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Adam {
    core: Core,
    beta1: f64,
    beta2: f64,
    epsilon: f64,
    m: Vec<f64>,
    v: Vec<f64>,
    /// Steps applied (bias correction counts only applied steps).
    t: i32,
}

impl Adam {
    /// Adam with `η = 0.2` (the paper's Rosenbrock setting), `β = (0.9, 0.999)`, `ε = 1e-8`.
    pub fn new() -> Self {
        Adam { core: Core::new(0.2), beta1: 0.9, beta2: 0.999, epsilon: 1e-8, m: vec![], v: vec![], t: 0 }
    }
    /// Sets `β1` and `β2` (each in `[0, 1)`; a step errs otherwise).
    pub fn betas(mut self, beta1: f64, beta2: f64) -> Self {
        self.beta1 = beta1;
        self.beta2 = beta2;
        self
    }
    /// Sets `ε` (finite and `>= 0`; a step errs otherwise).
    pub fn epsilon(mut self, epsilon: f64) -> Self {
        self.epsilon = epsilon;
        self
    }

    fn check_own(&self) -> Result<()> {
        for (name, b) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&b) {
                return Err(Error::InvalidArgument(format!("adam {name} {b} (must be in [0, 1))")));
            }
        }
        check_epsilon("adam", self.epsilon)?;
        if self.m.len() != self.v.len() || !(0..i32::MAX).contains(&self.t) {
            return Err(Error::InvalidArgument(format!(
                "adam state: {} first and {} second moments after {} steps",
                self.m.len(),
                self.v.len(),
                self.t
            )));
        }
        if self.m.iter().chain(&self.v).any(|x| !x.is_finite()) || self.v.iter().any(|&x| x < 0.0) {
            return Err(Error::InvalidArgument(
                "adam state: a moment is not finite or a second moment is negative".into(),
            ));
        }
        Ok(())
    }

    fn run_step(&mut self, obj: &dyn Objective, theta: &mut [f64]) -> Result<StepReport> {
        self.core.check_theta(obj, theta)?;
        let n = theta.len();
        if self.m.is_empty() {
            (self.m, self.v) = (vec![0.0; n], vec![0.0; n]);
        } else if self.m.len() != n {
            return Err(Error::length("theta (Adam state)", self.m.len(), n));
        }
        let g = gradient_of(obj, theta, "adam")?;
        let mut rep = self.core.report(obj.value(theta)?);
        rep.gradient_evals = 1;
        let t = self.t + 1;
        let (b1, b2) = (self.beta1, self.beta2);
        let m: Vec<f64> = self.m.iter().zip(&g).map(|(m, g)| b1 * m + (1.0 - b1) * g).collect();
        let v: Vec<f64> = self.v.iter().zip(&g).map(|(v, g)| b2 * v + (1.0 - b2) * g * g).collect();
        let (c1, c2) = (1.0 - b1.powi(t), 1.0 - b2.powi(t));
        let delta: Vec<f64> = m
            .iter()
            .zip(&v)
            .map(|(m, v)| -rep.learning_rate * (m / c1) / ((v / c2).sqrt() + self.epsilon))
            .collect();
        rep.directional = g;
        let rep = self.core.apply(theta, &delta, rep)?;
        if rep.skipped.is_none() {
            (self.m, self.v, self.t) = (m, v, t);
        }
        Ok(rep)
    }
}
