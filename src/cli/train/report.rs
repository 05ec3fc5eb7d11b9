//! What `fomoh train` writes and prints: the CSV, the SVG plot, `summary.json` and the table.

use super::session::{Row, RunState};
use super::Trainer;
use crate::cli::plot::{color_of, line_chart, plot_err, Axes, Line, XAxis};
use crate::cli::CliResult;
use plotters::prelude::*;
use serde_json::json;
use std::fmt::Write as _;
use std::path::Path;

/// The files `fomoh train` writes under `--out`, in the order it writes them (`train.csv`
/// first: also rewritten after every epoch; the plots against epochs, forward passes and
/// wall time, as [`XAxis::file`] names them).
pub(in crate::cli) const FILES: [&str; 5] =
    ["train.csv", "train.svg", "train_passes.svg", "train_time.svg", "summary.json"];

/// The CSV `optimizer,seed,epoch,passes,train_loss,test_loss,test_accuracy,wall_s` (`wall_s`:
/// the training steps' wall time up to the end of the epoch, as `paper_train.py` writes it).
pub(super) fn csv(runs: &[RunState], seed: u64) -> String {
    let mut s = String::from("optimizer,seed,epoch,passes,train_loss,test_loss,test_accuracy,wall_s\n");
    for run in runs {
        for r in &run.rows {
            let _ = writeln!(
                s,
                "{},{seed},{},{},{:e},{:e},{},{:.3}",
                run.label, r.epoch, r.passes, r.train_loss, r.test_loss, r.test_accuracy, r.seconds
            );
        }
    }
    s
}

/// The x value of `row` on `x` (none for a wall time not recorded: 0 after epoch 0 in a
/// session resumed from an older checkpoint).
fn x_of(row: &Row, x: XAxis) -> Option<f64> {
    match x {
        XAxis::Steps => Some(row.epoch as f64),
        XAxis::Passes => Some(row.passes as f64),
        XAxis::Time => (row.epoch == 0 || row.seconds > 0.0).then_some(row.seconds),
    }
}

/// Two panels against epochs, forward passes or wall time (`x`): train (solid) and test
/// (dashed) loss on a log axis (a loss ≤ 0 drawn at its floor, marked), and test accuracy.
/// Each optimizer has its colour ([`color_of`]).
pub(super) fn svg(runs: &[RunState], title: &str, x: XAxis) -> CliResult<String> {
    let curves: Vec<(&str, &[Row])> = runs.iter().map(|r| (r.label.as_str(), r.rows.as_slice())).collect();
    svg_of(&curves, title, x)
}

/// [`svg`] of labelled rows (one curve per label; `fomoh study` draws its means with it).
pub(super) fn svg_of(runs: &[(&str, &[Row])], title: &str, x: XAxis) -> CliResult<String> {
    let points = |rows: &[Row], f: fn(&Row) -> f64| -> Vec<(f64, f64)> {
        rows.iter().filter_map(|r| Some((x_of(r, x)?, f(r)))).filter(|p| p.1.is_finite()).collect()
    };
    let last = runs.iter().flat_map(|r| r.1).filter_map(|r| x_of(r, x)).fold(0.0, f64::max);
    let last = if last > 0.0 { last } else { 1.0 };
    let losses = runs.iter().flat_map(|r| r.1).flat_map(|r| [r.train_loss, r.test_loss]);
    let (lo, hi) = losses
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold((f64::INFINITY, 0.0_f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (lo, hi) = if lo.is_finite() { (lo / 1.5, hi.max(lo) * 1.5) } else { (1e-2, 10.0) };
    let mut loss_lines = Vec::new();
    let mut acc_lines = Vec::new();
    for &(name, rows) in runs {
        let color = color_of(name);
        let label = Some(format!("{name} (train)"));
        loss_lines.push(Line { label, color, dashed: false, points: points(rows, |r| r.train_loss) });
        loss_lines.push(Line { label: None, color, dashed: true, points: points(rows, |r| r.test_loss) });
        let label = Some(name.to_string());
        acc_lines.push(Line { label, color, dashed: false, points: points(rows, |r| r.test_accuracy) });
    }
    let x_desc = match x {
        XAxis::Steps => "epoch (passes over the training set)",
        XAxis::Passes => "forward passes (a gradient counts as one)",
        XAxis::Time => "training wall time, seconds",
    };
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (1300, 560)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let root = root.titled(title, ("sans-serif", 20)).map_err(plot_err)?;
        let (left, right) = root.split_horizontally(700);
        let loss_axes = Axes {
            title: "loss (solid: train, dashed: test)",
            x: 0.0..last,
            y: (lo..hi).log_scale(),
            x_desc,
            x_fmt: None,
            y_desc: "mean cross-entropy",
            y_fmt: Some(&|v: &f64| format!("{v:.2}")),
            legend: SeriesLabelPosition::UpperRight,
            floor: Some(lo),
        };
        line_chart(&left, loss_axes, &loss_lines)?;
        let acc_axes = Axes {
            title: "test accuracy",
            x: 0.0..last,
            y: 0.0..1.0,
            x_desc,
            x_fmt: None,
            y_desc: "accuracy",
            y_fmt: None,
            legend: SeriesLabelPosition::LowerRight,
            floor: None,
        };
        line_chart(&right, acc_axes, &acc_lines)?;
        root.present().map_err(plot_err)?;
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

pub(super) fn summary_json(t: &Trainer, dir: &Path) -> serde_json::Value {
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
        "peak_rss_mib": crate::cli::memory::peak_rss_mib(),
        "files": FILES,
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

pub(super) fn table(t: &Trainer) -> String {
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
