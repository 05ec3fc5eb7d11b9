//! Optimizers as named on the command line (`fgd`, `fomoh-kd:3`, `adam@0.1`, ...), shared by
//! every subcommand that runs them, and [`AnyOptimizer`]: one of them with all its state,
//! serializable for checkpoints.

use super::{CliError, CliResult};
use fomoh::optim::{
    Adam, Core, Curvature, Fgd, Fomoh, FomohBp, FomohKd, Newton, Optimizer, Sgd, StepReport, Tangents,
    MAX_DIRECTIONS,
};
use fomoh::Objective;
use serde::{Deserialize, Serialize};

/// Which optimizer a [`Spec`] names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `fgd`.
    Fgd,
    /// `fomoh`.
    Fomoh,
    /// `fomoh-kd:K`.
    FomohKd(usize),
    /// `fomoh-bp`.
    FomohBp,
    /// `newton`.
    Newton,
    /// `sgd`.
    Sgd,
    /// `adam`.
    Adam,
}

/// One optimizer as named on the command line.
#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    /// The name as given (without `@LR`), used in the CSV and the table.
    pub label: String,
    /// The optimizer.
    pub kind: Kind,
    /// The step size given with `@LR`, if any.
    pub lr: Option<f64>,
    /// FoMoH-KD's curvature policy given in the name (`fomoh-kd:4:damped`), overriding
    /// `--curvature`.
    pub curvature: Option<Curvature>,
    /// FoMoH-KD with the previous step as a direction (`fomoh-kd:4+prev`).
    pub previous: bool,
    /// FoMoH-KD with directions in the span of the first layer's inputs (`fomoh-kd:4+data`).
    pub data: bool,
}

/// FoMoH-KD's name after `fomoh-kd:`, parsed by [`parse_kd`].
struct KdName {
    k: usize,
    curvature: Option<Curvature>,
    previous: bool,
    data: bool,
}

/// Parses FoMoH-KD's name after `fomoh-kd:`: `K[:POLICY][+prev][+data]` with POLICY one of
/// `paper-exact`, `robust`, `damped` (the suffixes in any order, each at most once).
fn parse_kd(rest: &str, name: &str) -> CliResult<KdName> {
    let mut parts = rest.split('+');
    let head = parts.next().unwrap_or_default();
    let (mut previous, mut data) = (false, false);
    for suffix in parts {
        let flag = match suffix {
            "prev" => &mut previous,
            "data" => &mut data,
            _ => {
                return Err(CliError(format!(
                    "unknown suffix `+{suffix}` in `{name}` (expected +prev or +data)"
                )))
            }
        };
        if *flag {
            return Err(CliError(format!("`+{suffix}` given twice in `{name}`")));
        }
        *flag = true;
    }
    let (k, policy) = match head.split_once(':') {
        Some((k, p)) => (k, Some(p)),
        None => (head, None),
    };
    let k = match k.parse::<usize>() {
        Ok(k) if (1..=MAX_DIRECTIONS).contains(&k) => k,
        _ => {
            return Err(CliError(format!(
                "bad K in `{name}`: expected fomoh-kd:K[:paper-exact|robust|damped][+prev][+data] with 1 <= K <= {MAX_DIRECTIONS}"
            )))
        }
    };
    let curvature = match policy {
        None => None,
        Some("paper-exact") => Some(Curvature::PaperExact),
        Some("robust") => Some(Curvature::Robust),
        Some("damped") => Some(Curvature::Damped),
        Some(p) => {
            return Err(CliError(format!(
                "unknown curvature policy `{p}` in `{name}` (expected paper-exact, robust or damped)"
            )))
        }
    };
    if previous && k < 2 {
        return Err(CliError(format!("`{name}`: +prev needs K >= 2 (one direction is the previous step)")));
    }
    Ok(KdName { k, curvature, previous, data })
}

impl Spec {
    /// Parses `fgd`, `fomoh-kd:3`, `fomoh-kd:8:damped+prev`, `fomoh-kd:8+data`, `adam@0.1`, ...
    pub fn parse(s: &str) -> CliResult<Spec> {
        let s = s.trim();
        let (name, lr) = match s.split_once('@') {
            Some((n, lr)) => {
                let v: f64 =
                    lr.parse().map_err(|_| CliError(format!("bad learning rate `{lr}` in `{s}`")))?;
                if !v.is_finite() || v < 0.0 {
                    return Err(CliError(format!("learning rate in `{s}` must be finite and >= 0")));
                }
                (n, Some(v))
            }
            None => (s, None),
        };
        let kind = match name {
            "fgd" => Kind::Fgd,
            "fomoh" => Kind::Fomoh,
            "fomoh-bp" => Kind::FomohBp,
            "newton" => Kind::Newton,
            "sgd" => Kind::Sgd,
            "adam" => Kind::Adam,
            _ => match name.strip_prefix("fomoh-kd:") {
                Some(rest) => {
                    let kd = parse_kd(rest, name)?;
                    return Ok(Spec {
                        label: name.to_string(),
                        kind: Kind::FomohKd(kd.k),
                        lr,
                        curvature: kd.curvature,
                        previous: kd.previous,
                        data: kd.data,
                    });
                }
                None => {
                    return Err(CliError(format!(
                        "unknown optimizer `{name}` (expected fgd, fomoh, fomoh-kd:K, fomoh-bp, newton, sgd or adam)"
                    )))
                }
            },
        };
        Ok(Spec { label: name.to_string(), kind, lr, curvature: None, previous: false, data: false })
    }

    /// The optimizer with step size `@LR` if given, else `default_lr(kind)`.
    pub fn build(
        &self,
        default_lr: impl Fn(Kind) -> f64,
        seed: u64,
        curvature: Curvature,
        tangents: Tangents,
    ) -> AnyOptimizer {
        let lr = self.lr.unwrap_or_else(|| default_lr(self.kind));
        macro_rules! cfg {
            ($variant:ident, $o:expr) => {
                AnyOptimizer::$variant($o.learning_rate(lr).seed(seed).tangents(tangents))
            };
        }
        match self.kind {
            Kind::Fgd => cfg!(Fgd, Fgd::new()),
            Kind::Fomoh => cfg!(Fomoh, Fomoh::new()),
            Kind::FomohKd(k) => cfg!(
                FomohKd,
                FomohKd::new(k)
                    .curvature(self.curvature.unwrap_or(curvature))
                    .previous_step(self.previous)
                    .data_directions(self.data)
            ),
            Kind::FomohBp => cfg!(FomohBp, FomohBp::new()),
            Kind::Newton => cfg!(Newton, Newton::new().curvature(curvature)),
            Kind::Sgd => cfg!(Sgd, Sgd::new()),
            Kind::Adam => cfg!(Adam, Adam::new()),
        }
    }
}

/// Parses the optimizer list and the K sweep (`A..B` or `A..=B`, inclusive).
pub fn parse_specs(list: &str, k_sweep: Option<&str>) -> CliResult<Vec<Spec>> {
    let mut specs = Vec::new();
    for s in list.split(',').filter(|s| !s.trim().is_empty()) {
        let spec = Spec::parse(s)?;
        if specs.iter().any(|o: &Spec| o.label == spec.label) {
            return Err(CliError(format!("optimizer `{}` given twice", spec.label)));
        }
        specs.push(spec);
    }
    if let Some(sweep) = k_sweep {
        let bad = || CliError(format!("bad --k-sweep `{sweep}`: expected A..B with 1 <= A <= B, e.g. 2..10"));
        let (a, b) = sweep.split_once("..").ok_or_else(bad)?;
        let b = b.strip_prefix('=').unwrap_or(b);
        let (a, b): (usize, usize) =
            (a.trim().parse().map_err(|_| bad())?, b.trim().parse().map_err(|_| bad())?);
        if a < 1 || a > b {
            return Err(bad());
        }
        if b > MAX_DIRECTIONS {
            return Err(CliError(format!("--k-sweep `{sweep}`: K is at most {MAX_DIRECTIONS}")));
        }
        for k in a..=b {
            let label = format!("fomoh-kd:{k}");
            if !specs.iter().any(|o| o.label == label) {
                specs.push(Spec {
                    label,
                    kind: Kind::FomohKd(k),
                    lr: None,
                    curvature: None,
                    previous: false,
                    data: false,
                });
            }
        }
    }
    if specs.is_empty() {
        return Err(CliError("no optimizers given".into()));
    }
    Ok(specs)
}

/// Refuses `+data` (FoMoH-KD's data directions) for a model whose first layer is not dense
/// on the inputs, and with `--distributed` (a rank holds only its shards' inputs).
pub fn check_data_directions(
    specs: &[Spec],
    model: &dyn fomoh::models::Model,
    distributed: bool,
) -> CliResult<()> {
    let Some(s) = specs.iter().find(|s| s.data) else { return Ok(()) };
    if model.input_layer_width().is_none() {
        return Err(CliError(format!(
            "`{}`: +data draws directions in the span of the first layer's inputs, which needs a \
             first layer dense on the inputs (logreg or mlp); {} has none",
            s.label,
            model.name()
        )));
    }
    if distributed {
        return Err(CliError(format!(
            "`{}`: +data is not offered with --distributed (a rank holds only its shards' inputs)",
            s.label
        )));
    }
    Ok(())
}

/// One optimizer with all its state (settings, RNG, moments, iteration); serializable, so a
/// checkpoint holds it exactly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum AnyOptimizer {
    /// [`Fgd`].
    Fgd(Fgd),
    /// [`Fomoh`].
    Fomoh(Fomoh),
    /// [`FomohKd`].
    FomohKd(FomohKd),
    /// [`FomohBp`].
    FomohBp(FomohBp),
    /// [`Newton`].
    Newton(Newton),
    /// [`Sgd`].
    Sgd(Sgd),
    /// [`Adam`].
    Adam(Adam),
}

/// `match` over every variant of [`AnyOptimizer`], binding the optimizer to `$o`.
macro_rules! each {
    ($any:expr, $o:ident => $e:expr) => {
        match $any {
            AnyOptimizer::Fgd($o) => $e,
            AnyOptimizer::Fomoh($o) => $e,
            AnyOptimizer::FomohKd($o) => $e,
            AnyOptimizer::FomohBp($o) => $e,
            AnyOptimizer::Newton($o) => $e,
            AnyOptimizer::Sgd($o) => $e,
            AnyOptimizer::Adam($o) => $e,
        }
    };
}

impl Optimizer for AnyOptimizer {
    fn name(&self) -> &'static str {
        each!(self, o => o.name())
    }
    fn core(&self) -> &Core {
        each!(self, o => o.core())
    }
    fn step(&mut self, obj: &dyn Objective, theta: &mut [f64]) -> fomoh::Result<StepReport> {
        each!(self, o => o.step(obj, theta))
    }
    fn validate(&self) -> fomoh::Result<()> {
        each!(self, o => o.validate())
    }
}
