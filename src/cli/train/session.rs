//! The session `--checkpoint` saves after every epoch and `--resume` continues, and its
//! validation: a checkpoint is read as untrusted input. Besides the configuration, every run
//! must be the optimizer its label names (kind and K), with valid settings and state
//! ([`Optimizer::validate`]), θ of the model's size and finite, epochs and rows that agree
//! with each other and with the optimizer's iteration count, and no more epochs than
//! `--epochs` asks for.

use super::Precision;
use crate::cli::spec::{AnyOptimizer, Kind, Spec};
use crate::cli::{CliError, CliResult};
use fomoh::optim::{read_regular_file, write_atomic, Optimizer};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::Path;

/// The checkpoint format version.
pub(super) const FORMAT: u32 = 1;

/// What a checkpoint must agree on to be resumed (everything but `--epochs` and output).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct Config {
    pub(super) model: String,
    pub(super) data: String,
    pub(super) batch: usize,
    pub(super) seed: u64,
    pub(super) optimizers: Vec<String>,
    pub(super) learning_rates: Vec<f64>,
    pub(super) curvature: String,
    pub(super) tangents: String,
    /// `--precision` (checkpoints written before it existed were f64).
    #[serde(default = "f64_name")]
    pub(super) precision: String,
}

fn f64_name() -> String {
    Precision::F64.name().into()
}

/// One epoch's row of the CSV.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct Row {
    pub(super) epoch: usize,
    pub(super) passes: u64,
    pub(super) train_loss: f64,
    pub(super) test_loss: f64,
    pub(super) test_accuracy: f64,
    /// Wall seconds of training steps up to the end of this epoch (the x axis of
    /// `train_time.svg`; not part of the bit-identical state; 0 in checkpoints written before
    /// it was recorded).
    #[serde(default)]
    pub(super) seconds: f64,
}

/// One optimizer's run: its state at the end of `epoch` epochs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct RunState {
    pub(super) label: String,
    pub(super) optimizer: AnyOptimizer,
    pub(super) theta: Vec<f64>,
    /// Epochs completed.
    pub(super) epoch: usize,
    /// Forward passes so far (k-direction, jet or hyper-dual passes, plus one per gradient).
    pub(super) passes: u64,
    pub(super) gradient_evals: u64,
    pub(super) rows: Vec<Row>,
    /// Wall time of the training steps (not part of the bit-identical state).
    pub(super) seconds: f64,
    /// Why the run stopped early, if it did.
    pub(super) diverged: Option<String>,
}

/// A whole session as saved by `--checkpoint`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct Session {
    pub(super) format: u32,
    pub(super) config: Config,
    pub(super) runs: Vec<RunState>,
}

impl Session {
    /// Writes the session to `path` atomically.
    pub(super) fn save(&self, path: &Path) -> CliResult<()> {
        let bytes = serde_json::to_vec(self).map_err(|e| CliError(format!("checkpoint: {e}")))?;
        Ok(write_atomic(path, &bytes)?)
    }

    /// Reads a session (its format checked; see [`Session::check`] for the rest).
    pub(super) fn load(path: &Path) -> CliResult<Session> {
        let bytes = read_regular_file(path).map_err(|e| match e {
            fomoh::Error::Io { message, .. } => {
                CliError(format!("cannot read checkpoint {}: {message}", path.display()))
            }
            e => e.into(),
        })?;
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

    /// Checks a loaded session against the run it is to continue.
    pub(super) fn check(&self, path: &Path, want: &Expected<'_>) -> CliResult<()> {
        let at = |what: String| CliError(format!("checkpoint {}: {what}", path.display()));
        if self.config != *want.config {
            return Err(at(format!(
                "written for another run ({}); resume with the same --model, --data, --batch, \
                 --seed, --optimizer, --lr, --curvature, --tangents and --precision",
                differences(&self.config, want.config)
            )));
        }
        if self.runs.len() != want.specs.len() {
            return Err(at(format!(
                "{} runs for {} optimizers ({})",
                self.runs.len(),
                want.specs.len(),
                self.config.optimizers.join(",")
            )));
        }
        for (i, (run, spec)) in self.runs.iter().zip(want.specs).enumerate() {
            run.check(spec, self.config.learning_rates[i], want)
                .map_err(|e| at(format!("run {i} ({}): {e}", spec.label)))?;
        }
        Ok(())
    }
}

/// What a resumed session must agree with.
pub(super) struct Expected<'a> {
    /// The configuration of this run.
    pub(super) config: &'a Config,
    /// The optimizers of this run, in order.
    pub(super) specs: &'a [Spec],
    /// The model's parameter count.
    pub(super) params: usize,
    /// `--epochs`.
    pub(super) epochs: usize,
    /// Minibatches per epoch.
    pub(super) steps_per_epoch: usize,
}

/// Whether `opt` is the optimizer `spec` names (with its K, and for FoMoH-KD the previous
/// step, the data directions and the curvature policy if the name gives one).
fn is_kind(opt: &AnyOptimizer, spec: &Spec) -> bool {
    match (opt, spec.kind) {
        (AnyOptimizer::FomohKd(o), Kind::FomohKd(k)) => {
            o.k() == k
                && o.uses_previous_step() == spec.previous
                && o.uses_data_directions() == spec.data
                && spec.curvature.is_none_or(|c| c == o.curvature_policy())
        }
        (AnyOptimizer::Fgd(_), Kind::Fgd)
        | (AnyOptimizer::Fomoh(_), Kind::Fomoh)
        | (AnyOptimizer::FomohBp(_), Kind::FomohBp)
        | (AnyOptimizer::Newton(_), Kind::Newton)
        | (AnyOptimizer::Sgd(_), Kind::Sgd)
        | (AnyOptimizer::Adam(_), Kind::Adam) => true,
        _ => false,
    }
}

impl RunState {
    /// Checks one run of a loaded session (see the module documentation).
    fn check(&self, spec: &Spec, lr: f64, want: &Expected<'_>) -> Result<(), String> {
        if self.label != spec.label {
            return Err(format!("labelled `{}`", self.label));
        }
        if !is_kind(&self.optimizer, spec) {
            let k = match &self.optimizer {
                AnyOptimizer::FomohKd(o) => format!(":{}", o.k()),
                _ => String::new(),
            };
            return Err(format!("holds a {}{k} optimizer", self.optimizer.name()));
        }
        self.optimizer.validate().map_err(|e| e.to_string())?;
        let settings = &self.optimizer.core().settings;
        if settings.learning_rate.to_bits() != lr.to_bits() {
            return Err(format!("step size {} (the configuration says {lr})", settings.learning_rate));
        }
        if self.theta.len() != want.params {
            return Err(format!("{} parameters, the model has {}", self.theta.len(), want.params));
        }
        if let Some(j) = self.theta.iter().position(|v| !v.is_finite()) {
            return Err(format!("theta[{j}] = {} is not finite", self.theta[j]));
        }
        self.check_rows()?;
        if self.epoch > want.epochs {
            return Err(format!(
                "{} epochs done, more than --epochs {} (pass --epochs {} or more to continue it)",
                self.epoch, want.epochs, self.epoch
            ));
        }
        let (done, spe) = (self.optimizer.core().iteration(), want.steps_per_epoch);
        let first = self.epoch.checked_mul(spe).ok_or("epoch count overflows")?;
        let fits = match self.diverged {
            None => done == first,
            Some(_) => (first..first.saturating_add(spe)).contains(&done),
        };
        if !fits {
            return Err(format!("{done} optimizer steps for {} epochs of {spe} minibatches", self.epoch));
        }
        if !(self.seconds.is_finite() && self.seconds >= 0.0) || self.gradient_evals > self.passes {
            return Err(format!(
                "wall time {} s, {} gradients in {} passes",
                self.seconds, self.gradient_evals, self.passes
            ));
        }
        Ok(())
    }

    /// The rows are epochs `0..=epoch` with non-decreasing passes ending at `passes`.
    fn check_rows(&self) -> Result<(), String> {
        if self.rows.is_empty() {
            return if self.epoch == 0 && self.passes == 0 {
                Ok(())
            } else {
                Err(format!("no rows after {} epochs", self.epoch))
            };
        }
        if self.rows.len() != self.epoch.saturating_add(1) {
            return Err(format!("{} rows for {} epochs", self.rows.len(), self.epoch));
        }
        let mut passes = 0;
        for (j, r) in self.rows.iter().enumerate() {
            if r.epoch != j || r.passes < passes || (j == 0 && r.passes != 0) {
                return Err(format!("row {j} is epoch {} after {} passes", r.epoch, r.passes));
            }
            if !(0.0..=1.0).contains(&r.test_accuracy) {
                return Err(format!("row {j}: test accuracy {}", r.test_accuracy));
            }
            if !(r.seconds.is_finite() && r.seconds >= 0.0) {
                return Err(format!("row {j}: wall time {} s", r.seconds));
            }
            passes = r.passes;
        }
        if passes != self.passes {
            return Err(format!("{} passes, the last row says {passes}", self.passes));
        }
        Ok(())
    }
}

/// The fields in which two configurations differ, for the resume error.
pub(super) fn differences(a: &Config, b: &Config) -> String {
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
