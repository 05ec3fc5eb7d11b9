//! `fomoh train`: a model trained on minibatches by one or more optimizers, each from the
//! same initial parameters, with the same split and the same minibatch order.
//!
//! Writes `train.csv` (`optimizer,seed,epoch,passes,train_loss,test_loss,test_accuracy`;
//! epoch 0 is before training), `train.svg` (train/test loss and test accuracy per epoch),
//! and `summary.json` under `--out`, and prints a table. `--checkpoint FILE` saves the whole
//! session (every optimizer with its RNG state and moments, θ, the curves so far) atomically
//! after each epoch; `--resume FILE` continues it bit-identically.
//!
//! `--backend jit` (logistic regression, the MLP and the CNN) computes the optimizers' forward
//! passes with compiled tensor programs ([`fomoh::jit::tensor`]): one program per minibatch
//! size, the features (or images) and one-hot labels bound as inputs for each minibatch, the
//! same optimizer loop as `--backend runtime`. The per-epoch evaluation (train/test loss and accuracy) is the
//! runtime's primal pass on both backends.

use super::backend::Backend;
use super::output::{self, Axes, Line, Progress};
use super::rosenbrock::{CurvatureArg, TangentArg};
use super::spec::{parse_specs, AnyOptimizer, Kind, Spec};
use super::{CliError, CliResult, Global};
use fomoh::data::{minibatch_order, mnist, Batch, Dataset};
use fomoh::jit::tensor::{models as jit_models, TensorProgram};
use fomoh::models::{evaluate, Activation, Cnn, CnnConfig, LogisticRegression, Minibatch, Mlp, Model};
use fomoh::optim::{write_atomic, Curvature, Optimizer, StepReport, Tangents};
use fomoh::tensor::Planes;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

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
    /// to set one's step size (e.g. fgd,fomoh-kd:4,adam@0.01).
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
    /// Train on the first N training samples only (quick runs).
    #[arg(long, value_name = "N")]
    pub train_samples: Option<usize>,
    /// Hidden widths of --model mlp, comma-separated [default: 32 on digits, 100 on MNIST].
    #[arg(long, value_name = "W,..")]
    pub hidden: Option<String>,
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
    /// How the forward passes are computed (see [`TRAIN_BACKENDS`]; jit: every model, with fgd,
    /// fomoh and fomoh-kd:K).
    #[arg(long, value_enum, default_value_t = Backend::Runtime)]
    pub backend: Backend,
    /// The float type of the compiled forward passes (f32: `--backend jit` only; the
    /// optimizers' state and the evaluation stay f64).
    #[arg(long, value_enum, default_value_t = Precision::F64)]
    pub precision: Precision,
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

/// The hidden-layer activation of `--model mlp`.
const MLP_ACTIVATION: Activation = Activation::Tanh;

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
            train_samples: None,
            hidden: None,
            curvature: CurvatureArg::Robust,
            tangents: TangentArg::Gaussian,
            out: None,
            checkpoint: None,
            resume: None,
            backend: Backend::Runtime,
            precision: Precision::F64,
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

/// The fraction of digits held out for testing.
const TEST_FRACTION: f64 = 0.2;
/// Samples per primal pass when evaluating.
const EVAL_CHUNK: usize = 1000;
/// The checkpoint format version.
const FORMAT: u32 = 1;

/// What a checkpoint must agree on to be resumed (everything but `--epochs` and output).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Config {
    model: String,
    data: String,
    batch: usize,
    seed: u64,
    optimizers: Vec<String>,
    learning_rates: Vec<f64>,
    curvature: String,
    tangents: String,
    /// `--precision` (checkpoints written before it existed were f64).
    #[serde(default = "f64_name")]
    precision: String,
}

fn f64_name() -> String {
    Precision::F64.name().into()
}

/// One epoch's row of the CSV.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Row {
    epoch: usize,
    passes: u64,
    train_loss: f64,
    test_loss: f64,
    test_accuracy: f64,
}

/// One optimizer's run: its state at the end of `epoch` epochs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct RunState {
    label: String,
    optimizer: AnyOptimizer,
    theta: Vec<f64>,
    /// Epochs completed.
    epoch: usize,
    /// Forward passes so far (k-direction, jet or hyper-dual passes, plus one per gradient).
    passes: u64,
    gradient_evals: u64,
    rows: Vec<Row>,
    /// Wall time of the training steps (not part of the bit-identical state).
    seconds: f64,
    /// Why the run stopped early, if it did.
    diverged: Option<String>,
}

/// A whole session as saved by `--checkpoint`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Session {
    format: u32,
    config: Config,
    runs: Vec<RunState>,
}

impl Session {
    fn save(&self, path: &Path) -> CliResult<()> {
        let bytes = serde_json::to_vec(self).map_err(|e| CliError(format!("checkpoint: {e}")))?;
        Ok(write_atomic(path, &bytes)?)
    }

    fn load(path: &Path) -> CliResult<Session> {
        let bytes = std::fs::read(path)
            .map_err(|e| CliError(format!("cannot read checkpoint {}: {e}", path.display())))?;
        let s: Session = serde_json::from_slice(&bytes)
            .map_err(|e| CliError(format!("checkpoint {}: {e}", path.display())))?;
        if s.format != FORMAT {
            return Err(CliError(format!(
                "checkpoint {}: format {} (this build reads {FORMAT})",
                path.display(),
                s.format
            )));
        }
        Ok(s)
    }
}

/// Parses `--hidden`.
fn hidden_widths(s: &str) -> CliResult<Vec<usize>> {
    s.split(',')
        .map(|w| match w.trim().parse::<usize>() {
            Ok(v) if v > 0 => Ok(v),
            _ => Err(CliError(format!("bad --hidden `{s}`: expected positive widths such as 64,32"))),
        })
        .collect()
}

/// The layer widths of `--model mlp` (`--hidden`, default 32 on digits, 100 on MNIST).
fn mlp_sizes(args: &Args, features: usize, classes: usize) -> CliResult<Vec<usize>> {
    let hidden = match &args.hidden {
        Some(h) => hidden_widths(h)?,
        None => vec![if args.data == DataArg::Digits { 32 } else { 100 }],
    };
    Ok(std::iter::once(features).chain(hidden).chain([classes]).collect())
}

/// The model for the data (`features` inputs; digits 8×8 or MNIST 28×28).
fn build_model(args: &Args, features: usize, classes: usize) -> CliResult<Box<dyn Model>> {
    Ok(match args.model {
        ModelArg::Logreg => Box::new(LogisticRegression::new(features, classes)?),
        ModelArg::Mlp => Box::new(Mlp::new(&mlp_sizes(args, features, classes)?, MLP_ACTIVATION)?),
        ModelArg::Cnn => Box::new(Cnn::new(cnn_config(args, classes))?),
    })
}

/// The configuration of `--model cnn`: the paper's on MNIST, a small one (2×2 kernels) on the
/// 8×8 digits.
fn cnn_config(args: &Args, classes: usize) -> CnnConfig {
    match args.data {
        DataArg::Digits => {
            CnnConfig { height: 8, width: 8, conv1: 8, conv2: 16, kernel: 2, hidden: 32, classes }
        }
        DataArg::Mnist => CnnConfig::paper(),
    }
}

/// The data sets: (train, test).
fn load_data(args: &Args) -> CliResult<(Dataset, Dataset)> {
    match args.data {
        DataArg::Digits => {
            if args.mnist.is_some() {
                return Err(CliError("--mnist DIR is only used with --data mnist".into()));
            }
            Ok(Dataset::digits()?.split(TEST_FRACTION, args.seed)?)
        }
        DataArg::Mnist => {
            let dir = args.mnist.as_ref().ok_or_else(|| CliError("--data mnist needs --mnist DIR".into()))?;
            if !dir.is_dir() {
                return Err(CliError(format!("--mnist {}: not a directory", dir.display())));
            }
            Ok(mnist::load(dir)?)
        }
    }
}

/// The fewest rows a shard of a `--backend jit` minibatch gets (smaller batches run whole).
const MIN_SHARD_ROWS: usize = 16;

/// The most shards a `--backend jit` minibatch is split into.
const MAX_SHARDS: usize = 8;

/// How many shards of rows a `--backend jit` minibatch of `rows` samples runs as, side by
/// side: a function of the batch alone, so that a run gives the same numbers on any number
/// of cores (a dense net's shard may still split into row tiles, which are also independent
/// of the core count; see `fomoh::jit::tensor::RowTiling`).
fn shards(rows: usize) -> usize {
    (rows / MIN_SHARD_ROWS).clamp(1, MAX_SHARDS)
}

/// The network `--backend jit` compiles.
enum JitNet {
    /// Logistic regression or the MLP: layer widths (`[features, classes]` for logistic
    /// regression) and the activation between layers.
    Dense { sizes: Vec<usize>, activation: Activation },
    /// The CNN.
    Cnn(CnnConfig),
}

/// The compiled programs of `--backend jit` per shard size, in the float type of
/// `--precision`.
enum ShardPrograms {
    /// `--precision f64`.
    F64(HashMap<usize, TensorProgram>),
    /// `--precision f32`.
    F32(HashMap<usize, TensorProgram<f32>>),
}

/// `--backend jit`: the model as compiled tensor programs with a shard of the minibatch's
/// features (or images) and one-hot labels as bound inputs, one program per shard size (the
/// last minibatch of an epoch may be smaller); compiled code is shared through the JIT's cache.
struct JitModel {
    net: JitNet,
    programs: ShardPrograms,
}

/// The compiled program of each shard (rows `bounds[s]..bounds[s + 1]`) of `net` in the float
/// type `T`, built once per shard size into `programs`.
fn shard_programs<'a, T: fomoh::jit::JitFloat>(
    programs: &'a mut HashMap<usize, TensorProgram<T>>,
    net: &JitNet,
    bounds: &[usize],
) -> fomoh::Result<Vec<&'a TensorProgram<T>>> {
    for w in bounds.windows(2) {
        let rows = w[1] - w[0];
        if let std::collections::hash_map::Entry::Vacant(e) = programs.entry(rows) {
            let p = match net {
                JitNet::Dense { sizes, activation } => {
                    jit_models::mlp_minibatch(rows, sizes, activation.op())?
                }
                JitNet::Cnn(cfg) => jit_models::cnn_minibatch(rows, *cfg)?,
            };
            e.insert(p.with_float::<T>());
        }
    }
    Ok(bounds.windows(2).map(|w| &programs[&(w[1] - w[0])]).collect())
}

impl JitModel {
    /// The JIT form of `--model`.
    fn new(args: &Args, features: usize, classes: usize) -> CliResult<Self> {
        let net = match args.model {
            ModelArg::Logreg => JitNet::Dense { sizes: vec![features, classes], activation: MLP_ACTIVATION },
            ModelArg::Mlp => {
                JitNet::Dense { sizes: mlp_sizes(args, features, classes)?, activation: MLP_ACTIVATION }
            }
            ModelArg::Cnn => JitNet::Cnn(cnn_config(args, classes)),
        };
        let programs = match args.precision {
            Precision::F64 => ShardPrograms::F64(HashMap::new()),
            Precision::F32 => ShardPrograms::F32(HashMap::new()),
        };
        Ok(JitModel { net, programs })
    }

    /// The number of classes (the width of the one-hot labels).
    fn classes(&self) -> usize {
        match &self.net {
            JitNet::Dense { sizes, .. } => *sizes.last().expect("at least two widths"),
            JitNet::Cnn(cfg) => cfg.classes,
        }
    }

    /// One optimizer step on `batch` (already checked against the model by
    /// [`Minibatch::new`]): the batch split into [`shards`] shards of rows, each
    /// bound to the compiled program of its size ([`jit_models::bind_shards`]: a
    /// `WeightedSum` whose shards run side by side; the mean over the batch, in every pass).
    fn step(
        &mut self,
        optimizer: &mut AnyOptimizer,
        batch: &Batch,
        theta: &mut [f64],
    ) -> fomoh::Result<StepReport> {
        let n = batch.labels.len();
        let onehot = jit_models::one_hot(&batch.labels, self.classes());
        let shards = shards(n);
        let bounds: Vec<usize> = (0..=shards).map(|s| n * s / shards).collect();
        match &mut self.programs {
            ShardPrograms::F32(programs) => {
                let programs = shard_programs(programs, &self.net, &bounds)?;
                let x: Vec<f32> = batch.x.re().iter().map(|&v| v as f32).collect();
                let y: Vec<f32> = onehot.iter().map(|&v| v as f32).collect();
                optimizer.step(&jit_models::bind_shards(&programs, &x, &y)?, theta)
            }
            ShardPrograms::F64(programs) => {
                let programs = shard_programs(programs, &self.net, &bounds)?;
                optimizer.step(&jit_models::bind_shards(&programs, batch.x.re(), &onehot)?, theta)
            }
        }
    }
}

/// A training session: model, data, optimizers, and the state of every run.
struct Trainer {
    model: Box<dyn Model>,
    train: Dataset,
    test: Dataset,
    config: Config,
    epochs: usize,
    batch: usize,
    seed: u64,
    backend: Backend,
    /// The compiled model of `--backend jit`.
    jit: Option<JitModel>,
    session: Session,
}

impl Trainer {
    fn new(args: &Args) -> CliResult<Trainer> {
        args.backend.require("train", TRAIN_BACKENDS)?;
        if args.precision == Precision::F32 && args.backend != Backend::Jit {
            return Err(CliError(format!(
                "--precision f32 needs --backend jit (the {} backend computes in f64)",
                args.backend.name()
            )));
        }
        if args.epochs == 0 {
            return Err(CliError("--epochs must be at least 1".into()));
        }
        if args.batch == 0 {
            return Err(CliError("--batch must be at least 1".into()));
        }
        if let Some(lr) = args.lr {
            if !lr.is_finite() || lr < 0.0 {
                return Err(CliError(format!("--lr {lr} must be finite and >= 0")));
            }
        }
        if let Some(dir) = args.checkpoint.as_deref().and_then(Path::parent) {
            if !dir.as_os_str().is_empty() && !dir.is_dir() {
                return Err(CliError(format!("--checkpoint: directory {} does not exist", dir.display())));
            }
        }
        let specs = parse_specs(&args.optimizer, None)?;
        if let Some(s) = specs.iter().find(|s| s.kind == Kind::Newton) {
            return Err(CliError(format!(
                "`{}` takes n(n+1)/2 passes per step and is not offered for training",
                s.label
            )));
        }
        if let Some(s) = specs.iter().find(|s| matches!(s.kind, Kind::FomohKd(k) if k > 16)) {
            return Err(CliError(format!("`{}`: training supports fomoh-kd:K with K <= 16", s.label)));
        }
        let (mut train, test) = load_data(args)?;
        if let Some(n) = args.train_samples {
            if n == 0 || n > train.len() {
                return Err(CliError(format!(
                    "--train-samples {n}: expected 1..={} for {}",
                    train.len(),
                    train.name()
                )));
            }
            train = train.subset(&(0..n).collect::<Vec<_>>())?;
        }
        let model = build_model(args, train.sample_size(), train.classes())?;
        let theta0 = model.init(args.seed);
        let jit = match args.backend {
            Backend::Jit => {
                if let Some(s) =
                    specs.iter().find(|s| matches!(s.kind, Kind::FomohBp | Kind::Sgd | Kind::Adam))
                {
                    return Err(CliError(format!(
                        "`{}` needs a backprop gradient, which --backend jit does not compute (it \
                         compiles forward passes only): use fgd, fomoh or fomoh-kd:K, or --backend runtime",
                        s.label
                    )));
                }
                Some(JitModel::new(args, train.sample_size(), train.classes())?)
            }
            _ => None,
        };
        if let Some(s) = specs.iter().find(|s| matches!(s.kind, Kind::FomohBp | Kind::Sgd | Kind::Adam)) {
            if model.loss_and_gradient(&theta0, &train.head(1)?).is_none() {
                return Err(CliError(format!(
                    "`{}` needs a backprop gradient, which {} does not have (use fgd, fomoh or fomoh-kd:K)",
                    s.label,
                    model.name()
                )));
            }
        }
        let (curvature, tangents) = (
            match args.curvature {
                CurvatureArg::PaperExact => Curvature::PaperExact,
                CurvatureArg::Robust => Curvature::Robust,
            },
            match args.tangents {
                TangentArg::Gaussian => Tangents::Gaussian,
                TangentArg::Rademacher => Tangents::Rademacher,
            },
        );
        let lr_of = |s: &Spec| s.lr.or(args.lr).unwrap_or_else(|| default_lr(s.kind, args.model, args.data));
        let config = Config {
            model: model.name(),
            data: format!("{} ({} train, {} test)", train.name(), train.len(), test.len()),
            batch: args.batch,
            seed: args.seed,
            optimizers: specs.iter().map(|s| s.label.clone()).collect(),
            learning_rates: specs.iter().map(lr_of).collect(),
            curvature: format!("{curvature:?}"),
            tangents: format!("{tangents:?}"),
            precision: args.precision.name().into(),
        };
        let session = match &args.resume {
            Some(path) => {
                let s = Session::load(path)?;
                if s.config != config {
                    return Err(CliError(format!(
                        "checkpoint {} was written for another run ({}); resume with the same \
                         --model, --data, --batch, --seed, --optimizer, --lr, --curvature, --tangents \
                         and --precision",
                        path.display(),
                        differences(&s.config, &config)
                    )));
                }
                s
            }
            None => {
                let runs = specs
                    .iter()
                    .map(|s| RunState {
                        label: s.label.clone(),
                        // The tangents come from a stream other than the initial parameters'.
                        optimizer: s.build(
                            |_| lr_of(s),
                            args.seed ^ 0xA5A5_A5A5_A5A5_A5A5,
                            curvature,
                            tangents,
                        ),
                        theta: theta0.clone(),
                        epoch: 0,
                        passes: 0,
                        gradient_evals: 0,
                        rows: Vec::new(),
                        seconds: 0.0,
                        diverged: None,
                    })
                    .collect();
                Session { format: FORMAT, config: config.clone(), runs }
            }
        };
        Ok(Trainer {
            model,
            train,
            test,
            config,
            epochs: args.epochs,
            batch: args.batch,
            seed: args.seed,
            backend: args.backend,
            jit,
            session,
        })
    }

    /// Train loss, test loss and test accuracy at `theta`.
    fn row(&self, epoch: usize, passes: u64, theta: &[f64]) -> CliResult<Row> {
        let tr = evaluate(self.model.as_ref(), theta, &self.train, EVAL_CHUNK)?;
        let te = evaluate(self.model.as_ref(), theta, &self.test, EVAL_CHUNK)?;
        Ok(Row { epoch, passes, train_loss: tr.loss, test_loss: te.loss, test_accuracy: te.accuracy })
    }

    /// Runs every optimizer up to `epochs`, saving the session to `checkpoint` after each epoch.
    fn run(&mut self, progress: &Progress, checkpoint: Option<&Path>) -> CliResult<()> {
        let steps_per_epoch = self.train.len().div_ceil(self.batch) as u64;
        let todo: u64 = self
            .session
            .runs
            .iter()
            .filter(|r| r.diverged.is_none())
            .map(|r| self.epochs.saturating_sub(r.epoch) as u64 * steps_per_epoch)
            .sum();
        let bar = progress.bar(todo, "train");
        for i in 0..self.session.runs.len() {
            let mut run = self.session.runs[i].clone();
            if run.rows.is_empty() {
                run.rows.push(self.row(0, 0, &run.theta)?);
            }
            while run.epoch < self.epochs && run.diverged.is_none() {
                let start = Instant::now();
                let order = minibatch_order(self.train.len(), self.batch, self.seed, run.epoch as u64)?;
                let (mut sum, mut seen) = (0.0, 0usize);
                for (b, idx) in order.iter().enumerate() {
                    let batch = self.train.batch(idx)?;
                    let obj = Minibatch::new(self.model.as_ref(), &batch)?;
                    let stepped = match &mut self.jit {
                        Some(jit) => jit.step(&mut run.optimizer, &batch, &mut run.theta),
                        None => run.optimizer.step(&obj, &mut run.theta),
                    };
                    match stepped {
                        Ok(s) => {
                            run.passes += (s.passes + s.gradient_evals) as u64;
                            run.gradient_evals += s.gradient_evals as u64;
                            sum += s.loss * idx.len() as f64;
                            seen += idx.len();
                        }
                        Err(fomoh::Error::NonFinite(why)) => {
                            // θ is the last good point; the rest of this run is skipped.
                            bar.inc(steps_per_epoch - b as u64);
                            bar.inc((self.epochs - run.epoch - 1) as u64 * steps_per_epoch);
                            run.diverged = Some(why);
                            break;
                        }
                        Err(e) => return Err(e.into()),
                    }
                    bar.inc(1);
                    let last = run.rows.last().map_or(f64::NAN, |r| r.test_accuracy);
                    bar.set_message(format!(
                        "{} epoch {}/{} loss {:.4} test acc {:.1}%",
                        run.label,
                        run.epoch + 1,
                        self.epochs,
                        sum / seen.max(1) as f64,
                        100.0 * last
                    ));
                }
                run.seconds += start.elapsed().as_secs_f64();
                if run.diverged.is_some() {
                    break;
                }
                run.epoch += 1;
                run.rows.push(self.row(run.epoch, run.passes, &run.theta)?);
                self.session.runs[i] = run.clone();
                if let Some(path) = checkpoint {
                    self.session.save(path)?;
                }
            }
            self.session.runs[i] = run;
            if let Some(path) = checkpoint {
                self.session.save(path)?;
            }
        }
        bar.finish_and_clear();
        Ok(())
    }

    fn title(&self) -> String {
        format!("{} on {}, batch {}, seed {}", self.config.model, self.config.data, self.batch, self.seed)
    }
}

/// The fields in which two configurations differ, for the resume error.
fn differences(a: &Config, b: &Config) -> String {
    let (a, b) = (json!(a), json!(b));
    let fields: Vec<String> = a
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, v)| b.get(k.as_str()) != Some(v))
        .map(|(k, v)| format!("{k}: {v} there, {} here", b[k.as_str()]))
        .collect();
    fields.join("; ")
}

/// The CSV `optimizer,seed,epoch,passes,train_loss,test_loss,test_accuracy`.
fn csv(runs: &[RunState], seed: u64) -> String {
    let mut s = String::from("optimizer,seed,epoch,passes,train_loss,test_loss,test_accuracy\n");
    for run in runs {
        for r in &run.rows {
            let _ = writeln!(
                s,
                "{},{seed},{},{},{:e},{:e},{}",
                run.label, r.epoch, r.passes, r.train_loss, r.test_loss, r.test_accuracy
            );
        }
    }
    s
}

/// Two panels: train (solid) and test (dashed) loss on a log axis, and test accuracy, per epoch.
fn svg(runs: &[RunState], title: &str) -> CliResult<String> {
    let last = runs.iter().flat_map(|r| r.rows.last()).map(|r| r.epoch).max().unwrap_or(0).max(1) as f64;
    let losses = runs.iter().flat_map(|r| &r.rows).flat_map(|r| [r.train_loss, r.test_loss]);
    let (lo, hi) = losses
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold((f64::INFINITY, 0.0_f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (lo, hi) = if lo.is_finite() { (lo / 1.5, hi.max(lo) * 1.5) } else { (1e-2, 10.0) };
    let curve = |run: &RunState, f: fn(&Row) -> f64| -> Vec<(f64, f64)> {
        run.rows.iter().map(|r| (r.epoch as f64, f(r))).filter(|p| p.1.is_finite()).collect()
    };
    let mut loss_lines = Vec::new();
    let mut acc_lines = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        let clamp = |v: Vec<(f64, f64)>| v.into_iter().map(|(x, y)| (x, y.max(lo))).collect();
        loss_lines.push(Line {
            label: Some(format!("{} (train)", run.label)),
            color: i,
            dashed: false,
            points: clamp(curve(run, |r| r.train_loss)),
        });
        loss_lines.push(Line {
            label: None,
            color: i,
            dashed: true,
            points: clamp(curve(run, |r| r.test_loss)),
        });
        acc_lines.push(Line {
            label: Some(run.label.clone()),
            color: i,
            dashed: false,
            points: curve(run, |r| r.test_accuracy),
        });
    }
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (1300, 560)).into_drawing_area();
        root.fill(&WHITE).map_err(output::plot_err)?;
        let root = root.titled(title, ("sans-serif", 20)).map_err(output::plot_err)?;
        let (left, right) = root.split_horizontally(700);
        let loss_axes = Axes {
            title: "loss (solid: train, dashed: test)",
            x: 0.0..last,
            y: (lo..hi).log_scale(),
            x_desc: "epoch (passes over the training set)",
            y_desc: "mean cross-entropy",
            y_fmt: Some(&|v: &f64| format!("{v:.2}")),
            legend: SeriesLabelPosition::UpperRight,
        };
        output::line_chart(&left, loss_axes, &loss_lines)?;
        let acc_axes = Axes {
            title: "test accuracy",
            x: 0.0..last,
            y: 0.0..1.0,
            x_desc: "epoch",
            y_desc: "accuracy",
            y_fmt: None,
            legend: SeriesLabelPosition::LowerRight,
        };
        output::line_chart(&right, acc_axes, &acc_lines)?;
        root.present().map_err(output::plot_err)?;
    }
    Ok(buf)
}

fn num(v: f64) -> serde_json::Value {
    if v.is_finite() {
        json!(v)
    } else {
        json!(v.to_string())
    }
}

fn summary_json(t: &Trainer, dir: &Path) -> serde_json::Value {
    json!({
        "study": "train",
        "backend": t.backend.name(),
        "precision": t.config.precision,
        "model": t.config.model,
        "parameters": t.model.num_params(),
        "data": t.config.data,
        "batch": t.batch,
        "seed": t.seed,
        "epochs": t.epochs,
        "out_dir": dir.display().to_string(),
        "files": ["train.csv", "train.svg", "summary.json"],
        "optimizers": t.session.runs.iter().zip(&t.config.learning_rates).map(|(r, lr)| {
            let last = r.rows.last();
            json!({
                "optimizer": r.label,
                "learning_rate": lr,
                "epochs": r.epoch,
                "passes": r.passes,
                "gradient_evals": r.gradient_evals,
                "train_loss": num(last.map_or(f64::NAN, |x| x.train_loss)),
                "test_loss": num(last.map_or(f64::NAN, |x| x.test_loss)),
                "test_accuracy": num(last.map_or(f64::NAN, |x| x.test_accuracy)),
                "wall_seconds": r.seconds,
                "diverged": r.diverged,
            })
        }).collect::<Vec<_>>(),
    })
}

/// `v` with `digits` decimals, or in scientific notation when far from 1.
fn short(v: f64, digits: usize) -> String {
    if v == 0.0 || (1e-3..1e5).contains(&v.abs()) {
        let s = format!("{v:.digits$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    } else {
        format!("{v:.2e}")
    }
}

fn table(t: &Trainer) -> String {
    let mut s = format!(
        "{:<12} {:>8} {:>6} {:>8} {:>11} {:>10} {:>9} {:>8}\n",
        "optimizer", "lr", "epochs", "passes", "train loss", "test loss", "test acc", "wall s"
    );
    for (r, lr) in t.session.runs.iter().zip(&t.config.learning_rates) {
        let last = r.rows.last().expect("epoch 0 is always recorded");
        let _ = writeln!(
            s,
            "{:<12} {:>8} {:>6} {:>8} {:>11} {:>10} {:>8.1}% {:>8.2}",
            r.label,
            short(*lr, 3),
            r.epoch,
            r.passes,
            short(last.train_loss, 4),
            short(last.test_loss, 4),
            100.0 * last.test_accuracy,
            r.seconds
        );
    }
    s
}

/// Trains and reports; used by `fomoh train` and `fomoh demo`. Returns the output directory.
pub fn train(args: &Args, global: Global, default_dir: &str) -> CliResult<PathBuf> {
    let dir = args.out.clone().unwrap_or_else(|| PathBuf::from(default_dir));
    let mut t = Trainer::new(args)?;
    t.run(&Progress::new(global), args.checkpoint.as_deref())?;
    let summary = summary_json(&t, &dir);
    let files = [
        ("train.csv".to_string(), csv(&t.session.runs, t.seed)),
        ("train.svg".to_string(), svg(&t.session.runs, &t.title())?),
        (
            "summary.json".to_string(),
            serde_json::to_string_pretty(&summary).map_err(|e| CliError(e.to_string()))? + "\n",
        ),
    ];
    output::write_files(&dir, &files)?;
    if global.json {
        println!("{}", files[2].1.trim_end());
    } else if !global.quiet {
        println!("{}, backend {} ({})", t.title(), t.backend.name(), t.config.precision);
        print!("{}", table(&t));
        for r in &t.session.runs {
            if let Some(why) = &r.diverged {
                println!("note: {} stopped after epoch {}: {why}", r.label, r.epoch);
            }
        }
        println!("wrote train.csv, train.svg and summary.json under {}", dir.display());
    }
    Ok(dir)
}

/// `fomoh train`.
pub fn run(args: &Args, global: Global) -> CliResult<()> {
    train(args, global, "fomoh-out/train").map(|_| ())
}
