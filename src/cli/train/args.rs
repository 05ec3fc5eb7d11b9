//! The arguments of `fomoh train`, their defaults, and the checks that need neither the data
//! nor the file system.

use crate::cli::backend::Backend;
use crate::cli::rosenbrock::{CurvatureArg, TangentArg};
use crate::cli::spec::{parse_specs, Kind, Spec};
use crate::cli::{CliError, CliResult};
use fomoh::models::Activation;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `--model`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ModelArg {
    /// Multinomial logistic regression.
    Logreg,
    /// A tanh MLP with `--hidden` widths.
    Mlp,
    /// The paper's CNN on MNIST; a small one (2×2 kernels) on 8×8 digits.
    Cnn,
}

/// `--data`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DataArg {
    /// The bundled UCI digits (8×8, 1797 samples), split 80/20 by the seed.
    Digits,
    /// MNIST from `--mnist DIR` (60 000 train, 10 000 test).
    Mnist,
}

/// Arguments of `fomoh train`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The model.
    #[arg(long, value_enum, default_value_t = ModelArg::Logreg)]
    pub model: ModelArg,
    /// The data set.
    #[arg(long, value_enum, default_value_t = DataArg::Digits)]
    pub data: DataArg,
    /// Directory of MNIST's IDX files (train-images-idx3-ubyte[.gz], ...), for --data mnist.
    #[arg(long, value_name = "DIR")]
    pub mnist: Option<PathBuf>,
    /// Comma-separated optimizers: fgd, fomoh, fomoh-kd:K, fomoh-bp, sgd, adam; append @LR
    /// to set one's step size (e.g. fgd,fomoh-kd:4,adam@0.01). FoMoH-KD takes a curvature
    /// policy, the previous step as a direction and data directions in its name:
    /// fomoh-kd:8:damped+prev, fomoh-kd:16:damped+prev+data.
    #[arg(long, alias = "optimizers", default_value = "fomoh-kd:4")]
    pub optimizer: String,
    /// Passes over the training set.
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Minibatch size.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Step size of every optimizer without @LR [default: per optimizer and model, see README].
    #[arg(long, value_name = "η")]
    pub lr: Option<f64>,
    /// Seed of the split, the initial parameters, the minibatch order and the tangents.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// MNIST pixels as (x/255 − 0.1307)/0.3081 (the paper's scripts) instead of x/255.
    #[arg(long)]
    pub normalize: bool,
    /// Train on the first N training samples only (quick runs).
    #[arg(long, value_name = "N")]
    pub train_samples: Option<usize>,
    /// Hidden widths of --model mlp, comma-separated [default: 32 on digits, 100 on MNIST].
    #[arg(long, value_name = "W,..")]
    pub hidden: Option<String>,
    /// Hidden-layer activation of --model mlp (the paper's MLP: relu).
    #[arg(long, value_enum, default_value_t = ActivationArg::Tanh)]
    pub activation: ActivationArg,
    /// Curvature policy of FoMoH-KD.
    #[arg(long, value_enum, default_value_t = CurvatureArg::Robust)]
    pub curvature: CurvatureArg,
    /// Tangent distribution.
    #[arg(long, value_enum, default_value_t = TangentArg::Gaussian)]
    pub tangents: TangentArg,
    /// Output directory [default: fomoh-out/train].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Save the session here (atomically) after every epoch.
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,
    /// Continue the session saved in FILE (same arguments; --epochs may grow).
    #[arg(long, value_name = "FILE")]
    pub resume: Option<PathBuf>,
    /// Replace the results of an earlier run in --out, and let --checkpoint replace an
    /// existing file that --resume does not read (both refused by default).
    #[arg(long)]
    pub overwrite: bool,
    /// How the forward passes are computed: runtime (the runtime's tensors) or jit (the model
    /// compiled with Cranelift; every model, with fgd, fomoh and fomoh-kd:K).
    #[arg(long, default_value = "runtime", value_parser = train_backend())]
    pub backend: Backend,
    /// The float type of the compiled forward passes (f32: `--backend jit` only; the
    /// optimizers' state and the evaluation stay f64).
    #[arg(long, value_enum, default_value_t = Precision::F64)]
    pub precision: Precision,
    /// Data-parallel over the ranks of an MPI job (`mpirun -n RANKS fomoh train --distributed
    /// ...`; a build with the `mpi` feature): each rank computes its shards of every minibatch,
    /// rank 0 writes the outputs and checkpoints.
    #[arg(long)]
    pub distributed: bool,
    /// With --distributed: the shards each minibatch is split into, divided among the ranks
    /// (a rank beyond them idles). The run is bitwise the same at any number of ranks for a
    /// given value [default: as --backend jit: one per 16 rows, at most 8].
    #[arg(long, value_name = "N", requires = "distributed")]
    pub shards: Option<usize>,
}

/// `--precision`: the float type `--backend jit` compiles the model's passes for.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    /// `f64`.
    F64,
    /// `f32` (`f32x4` loops, `sgemm`): arguments rounded once to `f32` per pass, results
    /// widened exactly.
    F32,
}

impl Precision {
    /// The name on the command line (and in the reports and checkpoints).
    pub fn name(self) -> &'static str {
        match self {
            Precision::F64 => "f64",
            Precision::F32 => "f32",
        }
    }
}

/// The backends `fomoh train` supports (the one place to extend).
pub const TRAIN_BACKENDS: &[Backend] = &[Backend::Runtime, Backend::Jit];

/// `--backend` of `train`: only the names of [`TRAIN_BACKENDS`] are offered (and listed by
/// `--help`).
fn train_backend() -> impl clap::builder::TypedValueParser<Value = Backend> {
    use clap::builder::TypedValueParser;
    let names: Vec<&'static str> = TRAIN_BACKENDS.iter().map(|b| b.name()).collect();
    clap::builder::PossibleValuesParser::new(names)
        .map(|s: String| *TRAIN_BACKENDS.iter().find(|b| b.name() == s).expect("one of the offered names"))
}

/// `--activation`: the hidden-layer activation of `--model mlp`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActivationArg {
    /// `tanh`.
    Tanh,
    /// `max(x, 0)` (the paper's MLP).
    Relu,
    /// `1 / (1 + e^-x)`.
    Sigmoid,
}

impl ActivationArg {
    /// The model's activation.
    pub(super) fn activation(self) -> Activation {
        match self {
            ActivationArg::Tanh => Activation::Tanh,
            ActivationArg::Relu => Activation::Relu,
            ActivationArg::Sigmoid => Activation::Sigmoid,
        }
    }
}

impl Args {
    /// The defaults with these data, model and optimizers.
    pub fn new(model: ModelArg, data: DataArg, optimizer: &str) -> Self {
        Args {
            model,
            data,
            mnist: None,
            optimizer: optimizer.into(),
            epochs: 10,
            batch: 64,
            lr: None,
            seed: 0,
            normalize: false,
            train_samples: None,
            hidden: None,
            activation: ActivationArg::Tanh,
            curvature: CurvatureArg::Robust,
            tangents: TangentArg::Gaussian,
            out: None,
            checkpoint: None,
            resume: None,
            overwrite: false,
            backend: Backend::Runtime,
            precision: Precision::F64,
            distributed: false,
            shards: None,
        }
    }
}

/// The default step size of an optimizer for a model and data set.
///
/// Digits: chosen by sweeps (20 epochs, batch 64, seeds 0..3; README "Learning on digits").
/// MNIST logistic regression: chosen by one-epoch runs (seed 0). MNIST MLP and CNN: not tuned
/// (the MNIST logreg values, FoMoH-KD lowered as on digits). FoMoH-KD on the non-convex MLP and
/// CNN is unstable above about 0.05 on digits, hence its small default there.
pub fn default_lr(kind: Kind, model: ModelArg, data: DataArg) -> f64 {
    let logreg = model == ModelArg::Logreg;
    //              fgd    fomoh  kd     bp   sgd  adam
    let row = match (data, logreg) {
        (DataArg::Digits, true) => [0.05, 0.5, 0.4, 0.5, 0.5, 0.03],
        (DataArg::Digits, false) => [0.01, 0.5, 0.02, 0.5, 0.5, 0.01],
        (DataArg::Mnist, true) => [0.005, 0.1, 0.1, 0.5, 0.5, 0.003],
        (DataArg::Mnist, false) => [0.005, 0.1, 0.02, 0.5, 0.1, 0.003],
    };
    match kind {
        Kind::Fgd => row[0],
        Kind::Fomoh => row[1],
        Kind::FomohKd(_) => row[2],
        Kind::FomohBp => row[3],
        Kind::Sgd => row[4],
        Kind::Adam => row[5],
        Kind::Newton => 1.0,
    }
}

/// The most epochs `fomoh train` runs.
pub const MAX_EPOCHS: usize = 100_000;

/// The checks of `fomoh train`'s arguments that need neither the data nor the file system
/// (`fomoh study` runs them on every run's arguments before it starts one); returns the
/// optimizers.
pub fn check_args(args: &Args) -> CliResult<Vec<Spec>> {
    args.backend.require("train", TRAIN_BACKENDS)?;
    if args.precision == Precision::F32 && args.backend != Backend::Jit {
        return Err(CliError(format!(
            "--precision f32 needs --backend jit (the {} backend computes in f64)",
            args.backend.name()
        )));
    }
    if args.epochs == 0 || args.epochs > MAX_EPOCHS {
        return Err(CliError(format!("--epochs {}: expected 1..={MAX_EPOCHS}", args.epochs)));
    }
    if args.batch == 0 {
        return Err(CliError("--batch must be at least 1".into()));
    }
    if args.shards == Some(0) {
        return Err(CliError("--shards must be at least 1".into()));
    }
    if let Some(lr) = args.lr {
        if !lr.is_finite() || lr < 0.0 {
            return Err(CliError(format!("--lr {lr} must be finite and >= 0")));
        }
    }
    let specs = parse_specs(&args.optimizer, None)?;
    if let Some(s) = specs.iter().find(|s| s.kind == Kind::Newton) {
        return Err(CliError(format!(
            "`{}` takes n(n+1)/2 passes per step and is not offered for training",
            s.label
        )));
    }
    if let Some(s) = specs.iter().find(|s| matches!(s.kind, Kind::FomohKd(k) if k > fomoh::MAX_K)) {
        return Err(CliError(format!(
            "`{}`: training supports fomoh-kd:K with K <= {}",
            s.label,
            fomoh::MAX_K
        )));
    }
    Ok(specs)
}
