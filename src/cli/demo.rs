//! `fomoh demo`: a short run of the studies, finishing well under a minute; it names the
//! directory it writes at the end.
//!
//! The demo is the README's first command and may be run again and again: its default
//! directory (`fomoh-out/demo`) is its own and is regenerated each time. A directory given
//! with `--out` is treated as `rosenbrock` and `train` treat theirs: the results of an earlier
//! run there (the Rosenbrock files, or `digits/`'s) are not replaced unless `--overwrite` is
//! given, and this is checked before anything runs.

use super::output::{self, Progress};
use super::rosenbrock::{self, Study};
use super::train::{self, DataArg, ModelArg};
use super::{CliResult, Global};
use std::path::PathBuf;

/// Arguments of `fomoh demo`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Output directory [default: fomoh-out/demo, regenerated on every run].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Replace the results of an earlier run in a directory given with --out.
    #[arg(long)]
    pub overwrite: bool,
}

/// The default output directory of `fomoh demo` (regenerated on every run).
pub const DEFAULT_DIR: &str = "fomoh-out/demo";

/// The optimizers of the demo's digits run.
pub const DIGITS_OPTIMIZERS: &str = "fgd,fomoh,fomoh-kd:2,fomoh-kd:4,adam";

/// `fomoh demo`: the Rosenbrock study (n = 10, 100 steps, 5 seeds, the paper's optimizers
/// and FoMoH-KD for K = 2..10), then logistic regression on digits (20 epochs, batch 64) by
/// FGD, FoMoH, FoMoH-KD (k = 2, 4) and Adam, written under `DIR/digits`.
pub fn run(args: &Args, global: Global) -> CliResult<()> {
    // The default directory is the demo's own: a second run regenerates it.
    let overwrite = args.overwrite || args.out.is_none();
    let dir = args.out.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_DIR));
    let digits_dir = dir.join("digits");
    if !overwrite {
        let earlier = output::first_existing(&dir, &output::study_files("rosenbrock"))
            .or_else(|| output::first_existing(&digits_dir, &train::FILES));
        if let Some(path) = earlier {
            return Err(output::refuse_existing(&path, &dir, ""));
        }
    }
    let study = Study::from_args(&rosenbrock::Args {
        dim: 10,
        iters: 100,
        seeds: 5,
        optimizers: rosenbrock::DEFAULT_OPTIMIZERS.into(),
        k_sweep: Some("2..10".into()),
        out: None,
        overwrite,
        curvature: rosenbrock::CurvatureArg::PaperExact,
        tangents: rosenbrock::TangentArg::Gaussian,
        backend: super::backend::Backend::Runtime,
    })?;
    output::create_writable_dir(&dir)?;
    let series = study.run(&Progress::new(global))?;
    output::report(&study, &series, &dir, global, "rosenbrock")?;
    let mut digits = train::Args::new(ModelArg::Logreg, DataArg::Digits, DIGITS_OPTIMIZERS);
    digits.epochs = 20;
    digits.out = Some(digits_dir);
    digits.overwrite = overwrite;
    // Under --json stdout holds the Rosenbrock summary only; the digits one is in its directory.
    let quiet_json = Global { quiet: global.quiet || global.json, json: false };
    train::train(&digits, quiet_json, "")?;
    if !global.json && !global.quiet {
        println!("demo finished: files under {}", dir.display());
    }
    Ok(())
}
