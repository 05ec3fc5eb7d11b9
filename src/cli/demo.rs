//! `fomoh demo`: a short run of the studies, finishing well under a minute; it names the
//! directory it writes at the end. (The model experiments join here once they exist.)

use super::output::Progress;
use super::rosenbrock::{self, Study};
use super::{CliResult, Global};
use std::path::PathBuf;

/// Arguments of `fomoh demo`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Output directory [default: fomoh-out/demo].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// `fomoh demo`: the Rosenbrock study (n = 10, 100 steps, 5 seeds, the paper's optimizers
/// and FoMoH-KD for K = 2..10).
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
    })?;
    let series = study.run(&Progress::new(global))?;
    super::output::report(&study, &series, &dir, global, "rosenbrock")?;
    if !global.json && !global.quiet {
        println!("demo finished: files under {}", dir.display());
    }
    Ok(())
}
