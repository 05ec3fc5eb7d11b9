//! `fomoh train`: a model trained on minibatches by one or more optimizers, each from the
//! same initial parameters, with the same split and the same minibatch order.
//!
//! Writes `train.csv` (`optimizer,seed,epoch,passes,train_loss,test_loss,test_accuracy,wall_s`;
//! epoch 0 is before training; `wall_s` the training steps' wall time so far), `train.svg`, `train_passes.svg` and `train_time.svg`
//! (train/test loss and test accuracy against epochs, forward passes and wall time), and
//! `summary.json` under `--out`, and prints a table. `--checkpoint FILE` saves the whole
//! session (every optimizer with its RNG state and moments, θ, the curves so far) atomically
//! after each epoch; `--resume FILE` continues it bit-identically.
//!
//! Nothing earlier is lost: the arguments, the data, the model size and a resumed checkpoint
//! ([`session`]) are checked, and `--out` and the checkpoint's directory are created and
//! tried for writing, before the first step; `--checkpoint` refuses to replace an existing
//! file unless it is the one `--resume` reads or `--overwrite` is given; `train.csv` is
//! rewritten (atomically) after every epoch.
//!
//! `--backend jit` (logistic regression, the MLP and the CNN) computes the optimizers' forward
//! passes with compiled tensor programs ([`fomoh::jit::tensor`]): one program per minibatch
//! size, the features (or images) and one-hot labels bound as inputs for each minibatch, the
//! same optimizer loop as `--backend runtime`. The per-epoch evaluation (train/test loss and accuracy) is the
//! runtime's primal pass on both backends.

mod args;
mod distributed;
mod jit;
mod report;
mod session;
pub mod study;

use super::backend::Backend;
use super::output::{self, Progress};
use super::plot::XAxis;
use super::rosenbrock::TangentArg;
use super::spec::{check_data_directions, Kind, Spec};
use super::{CliError, CliResult, Global};
pub use args::{check_args, default_lr, Args, DataArg, ModelArg, Precision};
use distributed::Dist;
use fomoh::data::{minibatch_order, mnist, Dataset};
use fomoh::models::{evaluate, Cnn, CnnConfig, LogisticRegression, Minibatch, Mlp, Model};
use fomoh::optim::{LastGood, Tangents};
use fomoh::Objective;
use jit::JitModel;
pub(super) use report::FILES;
use session::{Config, Expected, Row, RunState, Session, FORMAT};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The fraction of digits held out for testing.
const TEST_FRACTION: f64 = 0.2;
/// Samples per primal pass when evaluating.
const EVAL_CHUNK: usize = 1000;
/// The most parameters of a model `fomoh train` trains (23 times the paper's CNN).
pub const MAX_TRAIN_PARAMS: usize = 10_000_000;

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
        ModelArg::Mlp => {
            Box::new(Mlp::new(&mlp_sizes(args, features, classes)?, args.activation.activation())?)
        }
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
            if args.mnist.is_some() || args.normalize {
                return Err(CliError("--mnist DIR and --normalize are only used with --data mnist".into()));
            }
            Ok(Dataset::digits()?.split(TEST_FRACTION, args.seed)?)
        }
        DataArg::Mnist => {
            let dir = args.mnist.as_ref().ok_or_else(|| CliError("--data mnist needs --mnist DIR".into()))?;
            if !dir.is_dir() {
                return Err(CliError(missing_mnist(dir)));
            }
            let (train, test) = mnist::load(dir)?;
            if args.normalize {
                let (m, s) = MNIST_NORMALIZATION;
                return Ok((train.normalized(m, s)?, test.normalized(m, s)?));
            }
            Ok((train, test))
        }
    }
}

/// The mean and standard deviation of MNIST's training pixels (in `[0, 1]`) that `--normalize`
/// subtracts and divides by.
pub const MNIST_NORMALIZATION: (f64, f64) = (0.1307, 0.3081);

/// The error for an `--mnist DIR` that is not a directory: the path and how to get the files.
pub fn missing_mnist(dir: &Path) -> String {
    format!(
        "--mnist {}: not a directory; put MNIST's four IDX files there (train-images-idx3-ubyte.gz, \
         train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz, as \
         published by Yann LeCun's MNIST page and its mirrors; gzipped or not)",
        dir.display()
    )
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
    /// The MPI job of `--distributed`.
    dist: Option<Dist>,
}

impl Trainer {
    fn new(args: &Args) -> CliResult<Trainer> {
        let specs = check_args(args)?;
        if let Some(path) = &args.checkpoint {
            check_checkpoint_target(path, args.resume.as_deref(), args.overwrite)?;
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
        if args.batch > train.len() {
            return Err(CliError(format!(
                "--batch {} is larger than the training set ({} samples of {}); --batch {} takes full-batch steps",
                args.batch,
                train.len(),
                train.name(),
                train.len()
            )));
        }
        let model = build_model(args, train.sample_size(), train.classes())?;
        if model.num_params() > MAX_TRAIN_PARAMS {
            return Err(CliError(format!(
                "{} has {} parameters; fomoh train takes at most {MAX_TRAIN_PARAMS}",
                model.name(),
                model.num_params()
            )));
        }
        check_data_directions(&specs, model.as_ref(), args.distributed)?;
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
                Some(JitModel::new(args))
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
            args.curvature.policy(),
            match args.tangents {
                TangentArg::Gaussian => Tangents::Gaussian,
                TangentArg::Rademacher => Tangents::Rademacher,
            },
        );
        let lr_of = |s: &Spec| s.lr.or(args.lr).unwrap_or_else(|| default_lr(s.kind, args.model, args.data));
        let config = Config {
            model: model.name(),
            data: format!(
                "{} ({} train, {} test{})",
                train.name(),
                train.len(),
                test.len(),
                if args.normalize { ", normalized" } else { "" }
            ),
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
                s.check(
                    path,
                    &Expected {
                        config: &config,
                        specs: &specs,
                        params: model.num_params(),
                        epochs: args.epochs,
                        steps_per_epoch: train.len().div_ceil(args.batch),
                    },
                )?;
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
            dist: None,
        })
    }

    /// Train loss, test loss and test accuracy of `run` at its `theta`, after `run.epoch`
    /// epochs, `run.passes` passes and `run.seconds` seconds.
    fn row(&self, run: &RunState) -> CliResult<Row> {
        if self.dist.as_ref().is_some_and(|d| d.rank() != 0) {
            // `--distributed`: rank 0 alone evaluates and reports.
            let nan = f64::NAN;
            let (epoch, passes, seconds) = (run.epoch, run.passes, run.seconds);
            return Ok(Row { epoch, passes, train_loss: nan, test_loss: nan, test_accuracy: nan, seconds });
        }
        let tr = evaluate(self.model.as_ref(), &run.theta, &self.train, EVAL_CHUNK)?;
        let te = evaluate(self.model.as_ref(), &run.theta, &self.test, EVAL_CHUNK)?;
        Ok(Row {
            epoch: run.epoch,
            passes: run.passes,
            train_loss: tr.loss,
            test_loss: te.loss,
            test_accuracy: te.accuracy,
            seconds: run.seconds,
        })
    }

    /// Runs every optimizer up to `epochs`, calling `save` with the session after each epoch
    /// and after each run.
    fn run(&mut self, progress: &Progress, save: &dyn Fn(&Session) -> CliResult<()>) -> CliResult<()> {
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
            if let Some(d) = &mut self.dist {
                d.start_run();
            }
            if run.rows.is_empty() {
                run.rows.push(self.row(&run)?);
            }
            let mut guard = LastGood::default();
            while run.epoch < self.epochs && run.diverged.is_none() {
                let start = Instant::now();
                let order = minibatch_order(self.train.len(), self.batch, self.seed, run.epoch as u64)?;
                let (mut sum, mut seen) = (0.0, 0usize);
                for (b, idx) in order.iter().enumerate() {
                    let batch = self.train.batch(idx)?;
                    let obj = Minibatch::new(self.model.as_ref(), &batch)?;
                    let stepped = match (&mut self.dist, &mut self.jit) {
                        (Some(d), jit) => d.step(
                            self.model.as_ref(),
                            jit.as_mut(),
                            &mut guard,
                            &mut run.optimizer,
                            &self.train,
                            idx,
                            &batch,
                            &mut run.theta,
                        ),
                        (None, Some(jit)) => jit.step(
                            self.model.as_ref(),
                            &mut guard,
                            &mut run.optimizer,
                            (&batch, obj.input_span()),
                            &mut run.theta,
                        ),
                        (None, None) => guard.step(&mut run.optimizer, &obj, &mut run.theta),
                    };
                    match stepped {
                        Ok(s) => {
                            run.passes += (s.passes + s.gradient_evals) as u64;
                            run.gradient_evals += s.gradient_evals as u64;
                            sum += s.loss * idx.len() as f64;
                            seen += idx.len();
                        }
                        Err(fomoh::Error::NonFinite(why)) => {
                            // θ is the last point with a finite loss (`LastGood`); the rest of
                            // this run is skipped.
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
                let row = self.row(&run)?;
                run.rows.push(row);
                self.session.runs[i] = run.clone();
                save(&self.session)?;
            }
            if let Some(d) = &mut self.dist {
                d.end_run(&run.label);
            }
            self.session.runs[i] = run;
            save(&self.session)?;
        }
        bar.finish_and_clear();
        Ok(())
    }

    fn title(&self) -> String {
        format!("{} on {}, batch {}, seed {}", self.config.model, self.config.data, self.batch, self.seed)
    }
}

/// Trains and reports; used by `fomoh train` and `fomoh demo`. Returns the output directory.
pub fn train(args: &Args, global: Global, default_dir: &str) -> CliResult<PathBuf> {
    let dir = args.out.clone().unwrap_or_else(|| PathBuf::from(default_dir));
    // `--distributed`: join the job first; then every rank prepares, and all agree before
    // the first step (no rank waits for one that stopped).
    let dist = if args.distributed { Some(Dist::init(args.shards)?) } else { None };
    let root = dist.as_ref().is_none_or(|d| d.rank() == 0);
    let prepared = prepare(args, &dir, root, dist.as_ref());
    let mut t = match dist {
        Some(d) => match d.agree(prepared) {
            Ok(mut t) => {
                t.dist = Some(d);
                t
            }
            Err(e) => d.exit_with(&e),
        },
        None => prepared?,
    };
    let global = if root { global } else { Global { quiet: true, json: false } };
    let done = train_prepared(&mut t, args, global, &dir, root);
    match (&done, &t.dist) {
        // A failure on one rank: end them all (the others may wait in a collective).
        (Err(e), Some(d)) => d.fail(e),
        _ => done.map(|_| dir),
    }
}

/// The checks before the first step: the session, and (on the rank that writes) the outputs.
fn prepare(args: &Args, dir: &Path, root: bool, dist: Option<&Dist>) -> CliResult<Trainer> {
    let t = Trainer::new(args)?;
    if let Some(d) = dist {
        if d.size() > t.train.len() {
            return Err(CliError(format!(
                "--distributed: {} ranks for {} training samples; use at most one rank per sample",
                d.size(),
                t.train.len()
            )));
        }
    }
    if root {
        check_outputs(dir, args, &t)?;
        output::create_writable_dir(dir)?;
        if let Some(path) = &args.checkpoint {
            output::check_writable(path)?;
        }
    }
    Ok(t)
}

/// Trains the prepared session; the rank that writes (`root`) saves and reports.
fn train_prepared(t: &mut Trainer, args: &Args, global: Global, dir: &Path, root: bool) -> CliResult<()> {
    let seed = t.seed;
    let save = |s: &Session| -> CliResult<()> {
        if !root {
            return Ok(());
        }
        if let Some(path) = &args.checkpoint {
            s.save(path)?;
        }
        output::write_files(dir, &[("train.csv".to_string(), report::csv(&s.runs, seed))])
    };
    t.run(&Progress::new(global), &save)?;
    if !root {
        return Ok(());
    }
    let mut summary = report::summary_json(t, dir);
    if let Some(d) = &t.dist {
        summary["distributed"] = d.summary();
    }
    let mut files = vec![(FILES[0].to_string(), report::csv(&t.session.runs, t.seed))];
    for x in XAxis::ALL {
        files.push((x.file("train"), report::svg(&t.session.runs, &t.title(), x)?));
    }
    let summary = serde_json::to_string_pretty(&summary).map_err(|e| CliError(e.to_string()))? + "\n";
    files.push(("summary.json".to_string(), summary));
    debug_assert!(files.iter().map(|f| f.0.as_str()).eq(FILES));
    output::write_files(dir, &files)?;
    if global.json {
        println!("{}", files[files.len() - 1].1.trim_end());
    } else if !global.quiet {
        println!("{}, backend {} ({})", t.title(), t.backend.name(), t.config.precision);
        print!("{}", report::table(t));
        for r in &t.session.runs {
            if let Some(why) = &r.diverged {
                println!("note: {} stopped after epoch {}: {why}", r.label, r.epoch);
            }
        }
        println!("wrote {} under {}", FILES.join(", "), dir.display());
    }
    Ok(())
}

/// Refuses a `--checkpoint` target that is a directory, is in a missing directory, or is an
/// existing file that `--resume` does not read (unless `--overwrite`): a finished session is
/// never replaced by a new run's first epoch.
fn check_checkpoint_target(path: &Path, resume: Option<&Path>, overwrite: bool) -> CliResult<()> {
    if path.is_dir() {
        return Err(CliError(format!("--checkpoint {} is a directory; give a file path", path.display())));
    }
    if path.exists() && !path.is_file() {
        return Err(CliError(format!("--checkpoint {} is not a regular file", path.display())));
    }
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() && !dir.is_dir() {
            return Err(CliError(format!("--checkpoint: directory {} does not exist", dir.display())));
        }
    }
    let same =
        |r: &Path| r == path || matches!((r.canonicalize(), path.canonicalize()), (Ok(a), Ok(b)) if a == b);
    if path.exists() && !overwrite && !resume.is_some_and(same) {
        return Err(CliError(format!(
            "--checkpoint {0} already exists: continue it with --resume {0}, or pass --overwrite to replace it",
            path.display()
        )));
    }
    Ok(())
}

/// Refuses (unless `--overwrite`) an `--out` that holds results of an earlier run
/// ([`report::FILES`]), except a resumed session's own: with `--resume`, an existing
/// `train.csv` whose rows are all rows of the checkpoint (it was written by the run that saved
/// it, up to the last epoch saved or one before) lets the continued session replace the
/// results.
fn check_outputs(dir: &Path, args: &Args, t: &Trainer) -> CliResult<()> {
    if args.overwrite {
        return Ok(());
    }
    let Some(path) = output::first_existing(dir, &report::FILES) else { return Ok(()) };
    let Some(resume) = &args.resume else { return Err(output::refuse_existing(&path, dir, "")) };
    let csv = dir.join(report::FILES[0]);
    let own = std::fs::read_to_string(&csv).is_ok_and(|old| {
        let session = report::csv(&t.session.runs, t.seed);
        let rows: std::collections::HashSet<&str> = session.lines().collect();
        old.lines().all(|l| rows.contains(l))
    });
    if own {
        return Ok(());
    }
    let why = format!(" and is not the output of the session in {}", resume.display());
    Err(output::refuse_existing(if csv.exists() { &csv } else { &path }, dir, &why))
}

/// `fomoh train`.
pub fn run(args: &Args, global: Global) -> CliResult<()> {
    train(args, global, "fomoh-out/train").map(|_| ())
}
