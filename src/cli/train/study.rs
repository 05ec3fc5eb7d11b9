//! `fomoh study`: the MNIST learning studies, one command each. A study is a preset (model,
//! optimizers with their step sizes, epochs, seeds, batch, training subset) run as one
//! `fomoh train` process per optimizer and seed (so each run's peak resident memory is its
//! own), each with its checkpoint, then summarized over seeds: `curves.csv` (mean and standard
//! deviation per optimizer and epoch), `summary.md` (the last epoch, wall time, peak memory),
//! and plots of the means against epochs, forward passes and wall time. `--paper DIR` adds the
//! same summary of the paper's code's runs (CSV files written by `scripts/paper_study.sh`) and
//! `compare.md`, the two side by side with a test per epoch ([`compare`]).
//!
//! An interrupted study continues where it stopped: finished runs are kept, a run with a
//! checkpoint resumes from it.

mod compare;

use compare::{mean_sd, Curve};

use super::report::svg_of;
use super::session::Row;
use super::{missing_mnist, ModelArg};
use crate::cli::output;
use crate::cli::plot::XAxis;
use crate::cli::spec::{parse_specs, Kind, Spec};
use crate::cli::{CliError, CliResult, Global};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `--preset`: which study.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// Logistic regression (7,850 parameters): FGD, FoMoH, FoMoH-KD K = 2, 3, 4, 8 (the paper's
    /// curvature), FoMoH-BP, SGD, Adam; 5 seeds, 5 epochs, batch 1024.
    Logreg,
    /// MLP 784-100-10 ReLU: FGD, FoMoH-KD K = 2, 4 at η = 0.02 and at η = 0.1 (the paper's
    /// curvature), the damped FoMoH-KD (K = 4 at η = 1; K = 4, 8 with the previous step at
    /// η = 0.2), FoMoH-BP, SGD, Adam; 3 seeds, 3 epochs, batch 1024.
    Mlp,
    /// The paper's CNN (431,080 parameters) on the first 4096 training images: FGD, FoMoH-KD
    /// K = 2 at η = 0.02 and K = 4 at η = 0.1 (the paper's curvature), the damped FoMoH-KD with
    /// the previous step (K = 4, 8, η = 0.2), Adam; 1 seed, 2 epochs.
    Cnn,
    /// Beyond the paper, logistic regression: the damped FoMoH-KD at K = 4, 8, 16, with the
    /// previous step as a direction, against FoMoH-KD (the paper's), FGD and Adam; 3 seeds, 5 epochs.
    Beyond,
}

/// A study's settings.
struct Plan {
    model: ModelArg,
    relu: bool,
    optimizers: &'static str,
    seeds: u64,
    epochs: usize,
    batch: usize,
    train_samples: Option<usize>,
}

impl Preset {
    fn plan(self) -> Plan {
        let base = |model, optimizers, seeds, epochs| Plan {
            model,
            relu: model == ModelArg::Mlp,
            optimizers,
            seeds,
            epochs,
            batch: 1024,
            train_samples: None,
        };
        match self {
            Preset::Logreg => base(
                ModelArg::Logreg,
                "fgd@0.005,fomoh@0.1,fomoh-kd:2@0.1,fomoh-kd:3@0.1,fomoh-kd:4@0.1,fomoh-kd:8@0.1,\
                 fomoh-bp@0.5,sgd@0.5,adam@0.003",
                5,
                5,
            ),
            Preset::Mlp => base(
                ModelArg::Mlp,
                "fgd@0.005,fomoh-kd:2@0.02,fomoh-kd:4@0.02,fomoh-kd:4:paper-exact@0.1,fomoh-kd:4:damped@1,\
                 fomoh-kd:4:damped+prev@0.2,fomoh-kd:8:damped+prev@0.2,fomoh-bp@0.5,sgd@0.1,adam@0.003",
                3,
                3,
            ),
            Preset::Cnn => Plan {
                train_samples: Some(4096),
                ..base(
                    ModelArg::Cnn,
                    "fgd@0.005,fomoh-kd:2@0.02,fomoh-kd:4:paper-exact@0.1,fomoh-kd:4:damped+prev@0.2,\
                     fomoh-kd:8:damped+prev@0.2,adam@0.003",
                    1,
                    2,
                )
            },
            Preset::Beyond => base(
                ModelArg::Logreg,
                "fgd@0.005,fomoh-kd:4@0.1,fomoh-kd:4:damped@1,fomoh-kd:8:damped@1,fomoh-kd:16:damped@1,\
                 fomoh-kd:4:damped+prev@1,fomoh-kd:16:damped+prev@1,adam@0.003",
                3,
                5,
            ),
        }
    }
}

/// Arguments of `fomoh study`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The study (docs/studies.md describes each).
    #[arg(long, value_enum)]
    pub preset: Preset,
    /// Directory of MNIST's four IDX files.
    #[arg(long, value_name = "DIR")]
    pub mnist: PathBuf,
    /// Output directory (runs/ holds each run; reused to continue an interrupted study).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Seeds 0..N instead of the preset's.
    #[arg(long, value_name = "N")]
    pub seeds: Option<u64>,
    /// Epochs instead of the preset's.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Train on the first N training samples instead of the preset's.
    #[arg(long, value_name = "N")]
    pub train_samples: Option<usize>,
    /// Minibatch size instead of the preset's (1024).
    #[arg(long)]
    pub batch: Option<usize>,
    /// Optimizers instead of the preset's (as `fomoh train --optimizer`).
    #[arg(long)]
    pub optimizer: Option<String>,
    /// The paper's code's runs of this study (the CSV files of `scripts/paper_study.sh`), to
    /// summarize and compare.
    #[arg(long, value_name = "DIR")]
    pub paper: Option<PathBuf>,
    /// Only summarize the runs already under --out (and --paper).
    #[arg(long)]
    pub summarize_only: bool,
}

/// A directory name for a run.
fn run_dir(out: &Path, label: &str, seed: u64) -> PathBuf {
    out.join("runs").join(format!("{}-s{seed}", label.replace([':', '+'], "_")))
}

/// Whether a run needs a backprop gradient (so it runs on the runtime backend).
fn needs_gradient(kind: Kind) -> bool {
    matches!(kind, Kind::FomohBp | Kind::Sgd | Kind::Adam)
}

/// The `fomoh train` arguments of one run.
fn train_args(a: &Args, plan: &Plan, spec: &Spec, lr: f64, seed: u64, dir: &Path) -> Vec<String> {
    let ckpt = dir.join("checkpoint.json");
    let model = match plan.model {
        ModelArg::Logreg => "logreg",
        ModelArg::Mlp => "mlp",
        ModelArg::Cnn => "cnn",
    };
    let mut v: Vec<String> = vec![
        "--quiet".into(),
        "train".into(),
        "--data".into(),
        "mnist".into(),
        "--normalize".into(),
        "--mnist".into(),
        a.mnist.display().to_string(),
        "--model".into(),
        model.into(),
        "--optimizer".into(),
        format!("{}@{lr}", spec.label),
        "--epochs".into(),
        a.epochs.unwrap_or(plan.epochs).to_string(),
        "--batch".into(),
        a.batch.unwrap_or(plan.batch).to_string(),
        "--seed".into(),
        seed.to_string(),
        "--curvature".into(),
        "paper-exact".into(),
        "--out".into(),
        dir.display().to_string(),
        "--checkpoint".into(),
        ckpt.display().to_string(),
    ];
    if plan.relu {
        v.extend(["--activation".into(), "relu".into()]);
    }
    if let Some(n) = a.train_samples.or(plan.train_samples) {
        v.extend(["--train-samples".into(), n.to_string()]);
    }
    if needs_gradient(spec.kind) {
        v.extend(["--backend".into(), "runtime".into()]);
    } else {
        v.extend(["--backend".into(), "jit".into(), "--precision".into(), "f32".into()]);
    }
    if ckpt.exists() {
        v.extend(["--resume".into(), ckpt.display().to_string()]);
    }
    v
}

/// One run's results: its rows and what `summary.json` says.
struct RunResult {
    rows: Vec<Row>,
    peak_rss_mib: Option<f64>,
    diverged: bool,
}

/// Reads `train.csv` rows (`optimizer,seed,epoch,passes,train_loss,test_loss,test_accuracy,wall_s`)
/// grouped by optimizer, from `fomoh train` or `paper_train.py`.
fn read_csv(path: &Path) -> CliResult<Vec<(String, Row)>> {
    let text = std::fs::read_to_string(path).map_err(|e| CliError(format!("{}: {e}", path.display())))?;
    let bad = |i: usize| CliError(format!("{}: line {} is not a train.csv row", path.display(), i + 1));
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1).filter(|(_, l)| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() < 8 {
            return Err(bad(i));
        }
        let num = |j: usize| f[j].trim().parse::<f64>().map_err(|_| bad(i));
        let row = Row {
            epoch: f[2].parse().map_err(|_| bad(i))?,
            passes: f[3].parse().map_err(|_| bad(i))?,
            train_loss: num(4)?,
            test_loss: num(5)?,
            test_accuracy: num(6)?,
            seconds: num(7)?,
        };
        out.push((f[0].to_string(), row));
    }
    Ok(out)
}

/// The finished (epoch `epochs` recorded, or stopped early) run in `dir`, if any.
fn finished(dir: &Path, epochs: usize) -> Option<RunResult> {
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).ok()?).ok()?;
    let run = summary.get("optimizers")?.get(0)?;
    let diverged = !run.get("diverged")?.is_null();
    let done = run.get("epochs")?.as_u64()? as usize;
    if done < epochs && !diverged {
        return None;
    }
    let rows = read_csv(&dir.join("train.csv")).ok()?.into_iter().map(|r| r.1).collect();
    Some(RunResult { rows, peak_rss_mib: summary.get("peak_rss_mib")?.as_f64(), diverged })
}

/// `fomoh study`.
pub fn run(a: &Args, global: Global) -> CliResult<()> {
    let plan = a.preset.plan();
    if !a.mnist.is_dir() {
        return Err(CliError(missing_mnist(&a.mnist)));
    }
    let specs = parse_specs(a.optimizer.as_deref().unwrap_or(plan.optimizers), None)?;
    let seeds = a.seeds.unwrap_or(plan.seeds);
    let epochs = a.epochs.unwrap_or(plan.epochs);
    if seeds == 0 || seeds > 100 {
        return Err(CliError(format!("--seeds {seeds}: expected 1..=100")));
    }
    // Every run's arguments, checked before the first run starts (and before --out is made).
    let mut runs = Vec::new();
    for seed in 0..seeds {
        for (i, spec) in specs.iter().enumerate() {
            let lr =
                spec.lr.unwrap_or_else(|| super::default_lr(spec.kind, plan.model, super::DataArg::Mnist));
            let dir = run_dir(&a.out, &spec.label, seed);
            let args = train_args(a, &plan, spec, lr, seed, &dir);
            crate::cli::check_train_command(&args)?;
            runs.push((i, spec, seed, dir, args));
        }
    }
    let made = [a.out.join("runs"), a.out.clone()].map(|d| (!d.exists()).then_some(d));
    output::create_writable_dir(&a.out)?;
    let exe = std::env::current_exe().map_err(|e| CliError(format!("cannot find the fomoh binary: {e}")))?;
    let mut results: BTreeMap<usize, Vec<RunResult>> = BTreeMap::new();
    for (i, spec, seed, dir, args) in runs {
        let result = match finished(&dir, epochs) {
            Some(r) => r,
            None if a.summarize_only => continue,
            None => {
                if !global.quiet {
                    eprintln!("study: {} seed {seed}", spec.label);
                }
                std::fs::create_dir_all(&dir).map_err(|e| CliError(format!("{}: {e}", dir.display())))?;
                let status = Command::new(&exe)
                    .args(&args)
                    .status()
                    .map_err(|e| CliError(format!("cannot run {}: {e}", exe.display())))?;
                if !status.success() {
                    // A run that failed before writing anything leaves no empty directory
                    // (nor does the study, if it made them).
                    for d in std::iter::once(&dir).chain(made.iter().flatten()) {
                        let _ = std::fs::remove_dir(d);
                    }
                    return Err(CliError(format!(
                        "fomoh {} failed ({status}; its error is above); the study continues from its finished runs when run again",
                        args.join(" ")
                    )));
                }
                finished(&dir, epochs).ok_or_else(|| {
                    CliError(format!("{}: the run ended without its results", dir.display()))
                })?
            }
        };
        results.entry(i).or_default().push(result);
    }
    let labels: Vec<String> = specs.iter().map(|s| s.label.clone()).collect();
    let ours: Vec<(String, Curve)> = results
        .iter()
        .map(|(i, runs)| (labels[*i].clone(), Curve::of(runs.iter().map(|r| &r.rows))))
        .collect();
    let title = format!("{:?} study, means over seeds", a.preset).to_lowercase();
    let mut files = summary_files("", &ours, &title)?;
    let mut md = format!("# {title}\n\n");
    md += &summary_table(&specs, &results, &ours);
    if let Some(dir) = &a.paper {
        let paper = paper_curves(dir)?;
        files.extend(summary_files("paper_", &paper, &format!("{title} (paper's code)"))?);
        let cmp = compare::table(&ours, &paper, dir)?;
        files.push(("compare.md".into(), cmp));
    }
    files.push(("summary.md".into(), md));
    output::write_files(&a.out, &files)?;
    if !global.quiet {
        print!("{}", files.last().map_or("", |f| f.1.as_str()));
        println!(
            "wrote {} under {}",
            files.iter().map(|f| f.0.as_str()).collect::<Vec<_>>().join(", "),
            a.out.display()
        );
    }
    Ok(())
}

/// `PREFIXcurves.csv` and the three plots of the means.
fn summary_files(prefix: &str, curves: &[(String, Curve)], title: &str) -> CliResult<Vec<(String, String)>> {
    let mut csv = String::from(
        "optimizer,epoch,passes,seeds,train_loss_mean,train_loss_sd,test_loss_mean,test_loss_sd,\
         test_accuracy_mean,test_accuracy_sd,wall_s_min,wall_s_max\n",
    );
    for (label, c) in curves {
        for (mean, rows) in c.mean.iter().zip(&c.runs) {
            let col = |f: fn(&Row) -> f64| mean_sd(&rows.iter().map(f).collect::<Vec<_>>());
            let (tl, tls) = col(|r| r.train_loss);
            let (el, els) = col(|r| r.test_loss);
            let (ac, acs) = col(|r| r.test_accuracy);
            let w = rows.iter().map(|r| r.seconds);
            let (wmin, wmax) = w.fold((f64::INFINITY, 0.0_f64), |(a, b), x| (a.min(x), b.max(x)));
            let _ = writeln!(
                csv,
                "{label},{},{},{},{tl:.6},{tls:.6},{el:.6},{els:.6},{ac:.5},{acs:.5},{wmin:.2},{wmax:.2}",
                mean.epoch,
                mean.passes,
                rows.len()
            );
        }
    }
    let mut files = vec![(format!("{prefix}curves.csv"), csv)];
    let curves: Vec<(&str, &[Row])> = curves.iter().map(|(l, c)| (l.as_str(), c.mean.as_slice())).collect();
    for x in XAxis::ALL {
        files.push((x.file(&format!("{prefix}study")), svg_of(&curves, title, x)?));
    }
    Ok(files)
}

/// The summary table at the last epoch.
fn summary_table(
    specs: &[Spec],
    results: &BTreeMap<usize, Vec<RunResult>>,
    curves: &[(String, Curve)],
) -> String {
    let mut s = String::from(
        "| optimizer | seeds | epochs | passes | train loss | test loss | test accuracy % (min–max) | \
         wall s (min–max) | peak RSS MiB (max) | stopped early |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for ((i, runs), (label, c)) in results.iter().zip(curves) {
        let Some(rows) = c.runs.last() else { continue };
        let col = |f: fn(&Row) -> f64| rows.iter().map(f).collect::<Vec<_>>();
        let (tl, tls) = mean_sd(&col(|r| r.train_loss));
        let (el, els) = mean_sd(&col(|r| r.test_loss));
        let acc = col(|r| 100.0 * r.test_accuracy);
        let (am, asd) = mean_sd(&acc);
        let range =
            |v: &[f64]| v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
        let (amin, amax) = range(&acc);
        let (wmin, wmax) = range(&col(|r| r.seconds));
        let rss = runs.iter().filter_map(|r| r.peak_rss_mib).fold(f64::NAN, f64::max);
        let early = runs.iter().filter(|r| r.diverged).count();
        let lr = specs[*i].lr.map_or(String::new(), |lr| format!(" (η = {lr})"));
        let _ = writeln!(
            s,
            "| {label}{lr} | {} | {} | {} | {tl:.4} ± {tls:.4} | {el:.4} ± {els:.4} | {am:.2} ± {asd:.2} ({amin:.2}–{amax:.2}) | \
             {wmin:.1}–{wmax:.1} | {rss:.0} | {early} |",
            rows.len(),
            rows[0].epoch,
            rows[0].passes
        );
    }
    s
}

/// The paper's code's runs in `dir` (every `*.csv`), grouped by optimizer, with its training
/// wall time: `paper_train.py`'s `wall_s` includes its evaluations, the first of which is
/// `wall_s` at epoch 0, so `wall_s − (epoch + 1)·wall_s(0)` estimates the training time.
fn paper_curves(dir: &Path) -> CliResult<Vec<(String, Curve)>> {
    let mut by: BTreeMap<String, Vec<Vec<Row>>> = BTreeMap::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| CliError(format!("--paper {}: {e}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "csv"))
        .collect();
    files.sort();
    for f in files {
        let rows = read_csv(&f)?;
        let Some(label) = rows.first().map(|r| r.0.clone()) else { continue };
        let eval = rows[0].1.seconds;
        let rows: Vec<Row> = rows
            .into_iter()
            .map(|(_, mut r)| {
                r.seconds = (r.seconds - (r.epoch as f64 + 1.0) * eval).max(0.0);
                r
            })
            .collect();
        by.entry(label).or_default().push(rows);
    }
    Ok(by.into_iter().map(|(l, runs)| (l, Curve::of(runs.iter()))).collect())
}
