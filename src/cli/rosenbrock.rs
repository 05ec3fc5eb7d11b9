//! `fomoh rosenbrock`: the paper's Rosenbrock study (section 5.1 of arXiv 2408.10419).
//!
//! Same problem (chained Rosenbrock), `x0 ~ N(0, I)` per seed (shared by all optimizers),
//! the paper's step sizes (FoMoH-KD, FoMoH and Newton η = 1, Adam 0.2, FGD 1e-4), and the K
//! sweep of FoMoH-KD.

use super::output::{self, Progress};
use super::spec::{parse_specs, Kind, Spec};
use super::{CliError, CliResult, Global};
use fomoh::optim::{standard_normal, Curvature, Fallback, Optimizer, Options, Tangents};
use fomoh::{objective, scalar_fn, Scalar};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Instant;

/// The default optimizer list (the paper's comparison).
pub const DEFAULT_OPTIMIZERS: &str = "fgd,fomoh,fomoh-kd:2,fomoh-kd:3,newton,adam";

/// Arguments of `fomoh rosenbrock`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Dimension n of the Rosenbrock function (n >= 2).
    #[arg(long, default_value_t = 10)]
    pub dim: usize,
    /// Steps per run.
    #[arg(long, default_value_t = 100)]
    pub iters: usize,
    /// Number of seeds (runs per optimizer); seeds are 0..SEEDS.
    #[arg(long, default_value_t = 10)]
    pub seeds: u64,
    /// Comma-separated optimizers: fgd, fomoh, fomoh-kd:K, fomoh-bp, newton, sgd, adam; append
    /// @LR to override the paper's step size (e.g. adam@0.1).
    #[arg(long, default_value = DEFAULT_OPTIMIZERS)]
    pub optimizers: String,
    /// Also run fomoh-kd:K for every K in A..B (inclusive), e.g. 2..10.
    #[arg(long, value_name = "A..B")]
    pub k_sweep: Option<String>,
    /// Output directory [default: fomoh-out/rosenbrock].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Curvature policy of FoMoH-KD and Newton (paper-exact reproduces the reference code).
    #[arg(long, value_enum, default_value_t = CurvatureArg::PaperExact)]
    pub curvature: CurvatureArg,
    /// Tangent distribution.
    #[arg(long, value_enum, default_value_t = TangentArg::Gaussian)]
    pub tangents: TangentArg,
}

/// `--curvature`.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum CurvatureArg {
    /// Explicit inverse, jitter only when singular, identity fallback.
    PaperExact,
    /// Cholesky, saddle-free eigen fallback.
    Robust,
}

/// `--tangents`.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum TangentArg {
    /// N(0, I).
    Gaussian,
    /// ±1 entries.
    Rademacher,
}

/// The chained Rosenbrock function (as `scipy.optimize.rosen`).
pub fn rosenbrock<S: Scalar>(x: &[S]) -> S {
    let (one, hundred) = (S::one(), S::from_f64(100.0));
    (0..x.len() - 1).map(|i| hundred * (x[i + 1] - x[i] * x[i]).powi(2) + (one - x[i]).powi(2)).sum()
}

/// The paper's Rosenbrock step sizes (FoMoH, FoMoH-KD, FoMoH-BP, Newton 1; Adam 0.2; FGD and
/// SGD 1e-4).
pub fn paper_lr(kind: Kind) -> f64 {
    match kind {
        Kind::Fgd | Kind::Sgd => 1e-4,
        Kind::Fomoh | Kind::FomohKd(_) | Kind::FomohBp | Kind::Newton => 1.0,
        Kind::Adam => 0.2,
    }
}

/// One run: an optimizer from one seed.
#[derive(Clone, Debug)]
pub struct Run {
    /// The seed.
    pub seed: u64,
    /// `f(θ_t)` for `t = 0..=steps taken`.
    pub losses: Vec<f64>,
    /// Forward passes.
    pub passes: usize,
    /// Gradient-source calls.
    pub gradient_evals: usize,
    /// Curvature fallbacks used (jitter + identity + saddle-free).
    pub fallbacks: usize,
    /// Wall time in seconds.
    pub seconds: f64,
    /// Why the run stopped early, if it did (a non-finite loss or step).
    pub diverged: Option<String>,
}

/// All runs of one optimizer.
#[derive(Clone, Debug)]
pub struct Series {
    /// The optimizer's label.
    pub label: String,
    /// One run per seed.
    pub runs: Vec<Run>,
}

/// The settings of a study.
#[derive(Clone, Debug)]
pub struct Study {
    /// Dimension.
    pub dim: usize,
    /// Steps per run.
    pub iters: usize,
    /// Seeds 0..seeds.
    pub seeds: u64,
    /// Optimizers.
    pub specs: Vec<Spec>,
    /// Curvature policy.
    pub curvature: Curvature,
    /// Tangents.
    pub tangents: Tangents,
}

impl Study {
    /// The study described by `args`.
    pub fn from_args(args: &Args) -> CliResult<Study> {
        if args.dim < 2 {
            return Err(CliError(format!("--dim must be at least 2 (got {})", args.dim)));
        }
        if args.seeds == 0 {
            return Err(CliError("--seeds must be at least 1".into()));
        }
        let specs = parse_specs(&args.optimizers, args.k_sweep.as_deref())?;
        if args.dim > 500 && specs.iter().any(|s| s.kind == Kind::Newton) {
            return Err(CliError(format!(
                "newton takes n(n+1)/2 passes per step; use --dim <= 500 (got {})",
                args.dim
            )));
        }
        Ok(Study {
            dim: args.dim,
            iters: args.iters,
            seeds: args.seeds,
            specs,
            curvature: match args.curvature {
                CurvatureArg::PaperExact => Curvature::PaperExact,
                CurvatureArg::Robust => Curvature::Robust,
            },
            tangents: match args.tangents {
                TangentArg::Gaussian => Tangents::Gaussian,
                TangentArg::Rademacher => Tangents::Rademacher,
            },
        })
    }

    /// Runs every optimizer from every seed.
    pub fn run(&self, progress: &Progress) -> CliResult<Vec<Series>> {
        let obj = objective(self.dim, scalar_fn!(rosenbrock));
        let total = self.specs.len() as u64 * self.seeds * self.iters as u64;
        let bar = progress.bar(total, "rosenbrock");
        let mut out = Vec::new();
        for spec in &self.specs {
            let mut runs = Vec::new();
            for seed in 0..self.seeds {
                bar.set_message(format!("{} seed {seed}", spec.label));
                // x0 ~ N(0, I) from the seed; the optimizer's tangents from a different stream.
                let mut x = standard_normal(seed, self.dim);
                let mut opt =
                    spec.build(paper_lr, seed ^ 0xA5A5_A5A5_A5A5_A5A5, self.curvature, self.tangents);
                let mut losses = Vec::with_capacity(self.iters + 1);
                let (mut passes, mut gradient_evals, mut fallbacks) = (0, 0, 0);
                let start = Instant::now();
                let result = opt.minimize_with(&obj, &mut x, &Options::iterations(self.iters), &mut |s| {
                    losses.push(s.loss);
                    passes += s.passes;
                    gradient_evals += s.gradient_evals;
                    fallbacks += usize::from(s.fallback != Fallback::None);
                    bar.inc(1);
                    ControlFlow::Continue(())
                });
                let seconds = start.elapsed().as_secs_f64();
                let diverged = match result {
                    Ok(r) => {
                        losses = r.losses;
                        None
                    }
                    Err(fomoh::Error::NonFinite(why)) => {
                        bar.inc((self.iters - losses.len()) as u64);
                        // θ is the last good point (a failed step never writes it).
                        if let Ok(l) = fomoh::Objective::value(&obj, &x) {
                            if l.is_finite() {
                                losses.push(l);
                            }
                        }
                        Some(why)
                    }
                    Err(e) => return Err(e.into()),
                };
                let run = Run { seed, losses, passes, gradient_evals, fallbacks, seconds, diverged };
                runs.push(run);
            }
            out.push(Series { label: spec.label.clone(), runs });
        }
        bar.finish_and_clear();
        Ok(out)
    }
}

/// `fomoh rosenbrock`.
pub fn run(args: &Args, global: Global) -> CliResult<()> {
    let study = Study::from_args(args)?;
    let dir = args.out.clone().unwrap_or_else(|| PathBuf::from("fomoh-out/rosenbrock"));
    let series = study.run(&Progress::new(global))?;
    output::report(&study, &series, &dir, global, "rosenbrock")
}
