//! `fomoh demo`: a short run of the studies, finishing well under a minute; it names the
//! directory it writes at the end.

use super::output::Progress;
use super::rosenbrock::{self, Study};
use super::train::{self, DataArg, ModelArg};
use super::{CliResult, Global};
use std::path::PathBuf;

/// Arguments of `fomoh demo`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Output directory [default: fomoh-out/demo].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// The optimizers of the demo's digits run.
pub const DIGITS_OPTIMIZERS: &str = "fgd,fomoh,fomoh-kd:2,fomoh-kd:4,adam";

/// `fomoh demo`: the Rosenbrock study (n = 10, 100 steps, 5 seeds, the paper's optimizers
/// and FoMoH-KD for K = 2..10), then logistic regression on digits (20 epochs, batch 64) by
/// FGD, FoMoH, FoMoH-KD (k = 2, 4) and Adam, written under `DIR/digits`.
pub fn run(args: &Args, global: Global) -> CliResult<()> {
    let dir = args.out.clone().unwrap_or_else(|| PathBuf::from("fomoh-out/demo"));
    let study = Study::from_args(&rosenbrock::Args {
        dim: 10,
        iters: 100,
        seeds: 5,
        optimizers: rosenbrock::DEFAULT_OPTIMIZERS.into(),
        k_sweep: Some("2..10".into()),
        out: None,
        curvature: rosenbrock::CurvatureArg::PaperExact,
        tangents: rosenbrock::TangentArg::Gaussian,
        backend: super::backend::Backend::Runtime,
    })?;
    super::output::prepare_dir(&dir)?;
    let series = study.run(&Progress::new(global))?;
    super::output::report(&study, &series, &dir, global, "rosenbrock")?;
    let mut digits = train::Args::new(ModelArg::Logreg, DataArg::Digits, DIGITS_OPTIMIZERS);
    digits.epochs = 20;
    digits.out = Some(dir.join("digits"));
    // Under --json stdout holds the Rosenbrock summary only; the digits one is in its directory.
    let quiet_json = Global { quiet: global.quiet || global.json, json: false };
    train::train(&digits, quiet_json, "")?;
    if !global.json && !global.quiet {
        println!("demo finished: files under {}", dir.display());
    }
    Ok(())
}
