//! What the studies write: the CSV of losses, the SVG plot, `summary.json`, and the table (or
//! JSON) on stdout. Shared by every subcommand that runs optimizers.

use super::rosenbrock::{Series, Study};
use super::{CliError, CliResult, Global};
use fomoh::optim::write_atomic;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;
use serde_json::json;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Makes progress bars, or hidden ones under `--quiet`/`--json` (indicatif also hides them
/// when stderr is not a terminal).
pub struct Progress {
    hidden: bool,
}

impl Progress {
    /// Progress bars for these flags.
    pub fn new(global: Global) -> Self {
        Progress { hidden: global.quiet || global.json }
    }

    /// A bar over `total` units.
    pub fn bar(&self, total: u64, prefix: &str) -> ProgressBar {
        if self.hidden {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{prefix} {bar:30} {pos}/{len} steps {elapsed} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix(prefix.to_string());
        bar
    }
}

/// The median of the finite values, with non-finite ones counted as `+inf` (a diverged run
/// loses); `NaN` for an empty slice.
pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().map(|&x| if x.is_finite() { x } else { f64::INFINITY }).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 || v[m].is_infinite() {
        v[m]
    } else {
        0.5 * (v[m - 1] + v[m])
    }
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> CliError {
    CliError(format!("cannot write {}: {e}", path.display()))
}

/// The final loss of a run: `+inf` if it diverged.
fn final_loss(run: &super::rosenbrock::Run) -> f64 {
    match (&run.diverged, run.losses.last()) {
        (None, Some(&l)) => l,
        _ => f64::INFINITY,
    }
}

/// The CSV `optimizer,seed,iteration,loss` (iteration 0 is the starting point).
pub fn csv(series: &[Series]) -> String {
    let mut s = String::from("optimizer,seed,iteration,loss\n");
    for ser in series {
        for run in &ser.runs {
            for (t, l) in run.losses.iter().enumerate() {
                let _ = writeln!(s, "{},{},{},{:e}", ser.label, run.seed, t, l);
            }
        }
    }
    s
}

/// The per-iteration median over seeds of each series (`+inf` where a run has diverged).
fn median_curves(series: &[Series], iters: usize) -> Vec<Vec<f64>> {
    series
        .iter()
        .map(|ser| {
            (0..=iters)
                .map(|t| {
                    let at: Vec<f64> =
                        ser.runs.iter().map(|r| r.losses.get(t).copied().unwrap_or(f64::INFINITY)).collect();
                    median(&at)
                })
                .collect()
        })
        .collect()
}

/// One curve of a [`line_chart`].
pub struct Line {
    /// The legend entry (none: not in the legend).
    pub label: Option<String>,
    /// The palette index of its colour.
    pub color: usize,
    /// Dashed instead of solid.
    pub dashed: bool,
    /// The points.
    pub points: Vec<(f64, f64)>,
}

/// The axes and labels of a [`line_chart`].
pub struct Axes<'a, X, Y> {
    /// The chart's caption.
    pub title: &'a str,
    /// The x range (linear or `.log_scale()`).
    pub x: X,
    /// The y range.
    pub y: Y,
    /// The x axis label.
    pub x_desc: &'a str,
    /// The y axis label.
    pub y_desc: &'a str,
    /// Formats the y tick labels (default: plotters').
    pub y_fmt: Option<&'a dyn Fn(&f64) -> String>,
    /// Where the legend goes.
    pub legend: SeriesLabelPosition,
}

/// A plotting failure as a one-line error.
pub fn plot_err(e: impl std::fmt::Display) -> CliError {
    CliError(format!("plot: {e}"))
}

/// Draws `lines` in `area` with a mesh, axis labels and a legend; every SVG plot of the
/// command line goes through here.
pub fn line_chart<DB, X, Y>(
    area: &DrawingArea<DB, Shift>,
    axes: Axes<'_, X, Y>,
    lines: &[Line],
) -> CliResult<()>
where
    DB: DrawingBackend,
    X: AsRangedCoord<Value = f64>,
    Y: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(area)
        .caption(axes.title, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(axes.x, axes.y)
        .map_err(plot_err)?;
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(axes.x_desc).y_desc(axes.y_desc);
    if let Some(f) = axes.y_fmt {
        mesh.y_label_formatter(f);
    }
    mesh.draw().map_err(plot_err)?;
    for line in lines {
        let (i, style) = (line.color, Palette99::pick(line.color).stroke_width(2));
        let drawn = if line.dashed {
            chart.draw_series(DashedLineSeries::new(line.points.clone(), 6, 4, style)).map_err(plot_err)?
        } else {
            chart.draw_series(LineSeries::new(line.points.clone(), style)).map_err(plot_err)?
        };
        if let Some(label) = &line.label {
            drawn.label(label.as_str()).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], Palette99::pick(i).stroke_width(2))
            });
        }
    }
    chart
        .configure_series_labels()
        .position(axes.legend)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(plot_err)?;
    Ok(())
}

/// The SVG plot: median loss over seeds vs iteration + 1, both axes logarithmic.
pub fn svg(series: &[Series], iters: usize, title: &str) -> CliResult<String> {
    let curves = median_curves(series, iters);
    let finite = curves.iter().flatten().copied().filter(|v| v.is_finite() && *v > 0.0);
    let (lo, hi) = finite.fold((f64::INFINITY, 0.0_f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    // Losses below 1e-12 (Newton reaches exact zeros) are drawn on the floor of the axis.
    let (lo, hi) = if lo.is_finite() { (lo.max(1e-12) / 2.0, hi.max(lo) * 2.0) } else { (1e-3, 1.0) };
    let lines: Vec<Line> = series
        .iter()
        .zip(&curves)
        .enumerate()
        .map(|(i, (ser, curve))| Line {
            label: Some(ser.label.clone()),
            color: i,
            dashed: false,
            points: curve
                .iter()
                .enumerate()
                .take_while(|(_, v)| v.is_finite())
                .map(|(t, &v)| ((t + 1) as f64, v.max(lo)))
                .collect(),
        })
        .collect();
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (900, 600)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let axes = Axes {
            title,
            x: (1.0..(iters + 1) as f64 + 0.5).log_scale(),
            y: (lo..hi).log_scale(),
            x_desc: "iteration + 1",
            y_desc: "loss (median over seeds)",
            y_fmt: Some(&|v: &f64| format!("{v:.0e}")),
            legend: SeriesLabelPosition::LowerLeft,
        };
        line_chart(&root, axes, &lines)?;
        root.present().map_err(plot_err)?;
    }
    Ok(buf)
}

/// The first of `files` (names under `dir`) that already exists: a result of an earlier run
/// that this one would replace.
pub fn first_existing<S: AsRef<str>>(dir: &Path, files: &[S]) -> Option<PathBuf> {
    files.iter().map(|f| dir.join(f.as_ref())).find(|p| p.symlink_metadata().is_ok())
}

/// The error for an earlier run's result `path` under `dir` (`why`: an optional reason
/// appended to "already exists").
pub fn refuse_existing(path: &Path, dir: &Path, why: &str) -> CliError {
    CliError(format!(
        "{} already exists{why}: pass --overwrite to replace the results of the earlier run in {}, \
         or choose another --out",
        path.display(),
        dir.display()
    ))
}

/// Refuses (unless `overwrite`) to write into `dir` if it holds any of `files` (the results
/// this run writes), naming the first one, then creates `dir` and checks that files can be
/// written in it: all before any work whose results would go there.
pub fn prepare_dir<S: AsRef<str>>(dir: &Path, files: &[S], overwrite: bool) -> CliResult<()> {
    if !overwrite {
        if let Some(path) = first_existing(dir, files) {
            return Err(refuse_existing(&path, dir, ""));
        }
    }
    create_writable_dir(dir)
}

/// Creates `dir` and checks that files can be written in it.
pub fn create_writable_dir(dir: &Path) -> CliResult<()> {
    std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    check_writable(&dir.join("summary.json"))
}

/// Checks that a file can be created next to `path` (in its directory) by creating and
/// removing a probe file; `path` itself is not touched.
pub fn check_writable(path: &Path) -> CliResult<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let probe = dir.join(format!(".fomoh-probe-{}", std::process::id()));
    std::fs::File::create(&probe).map_err(|e| io_err(path, e))?;
    std::fs::remove_file(&probe).map_err(|e| io_err(path, e))
}

/// Creates `dir` and writes each `(file name, text)` under it atomically.
pub fn write_files(dir: &Path, files: &[(String, String)]) -> CliResult<()> {
    std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    for (file, text) in files {
        write_atomic(&dir.join(file), text.as_bytes())?;
    }
    Ok(())
}

/// One row of the summary.
struct Row {
    label: String,
    runs: usize,
    diverged: usize,
    median_final: f64,
    passes: f64,
    gradient_evals: f64,
    fallbacks: usize,
    seconds: f64,
}

fn rows(series: &[Series]) -> Vec<Row> {
    series
        .iter()
        .map(|s| {
            let n = s.runs.len().max(1) as f64;
            Row {
                label: s.label.clone(),
                runs: s.runs.len(),
                diverged: s.runs.iter().filter(|r| r.diverged.is_some()).count(),
                median_final: median(&s.runs.iter().map(final_loss).collect::<Vec<_>>()),
                passes: s.runs.iter().map(|r| r.passes as f64).sum::<f64>() / n,
                gradient_evals: s.runs.iter().map(|r| r.gradient_evals as f64).sum::<f64>() / n,
                fallbacks: s.runs.iter().map(|r| r.fallbacks).sum(),
                seconds: s.runs.iter().map(|r| r.seconds).sum(),
            }
        })
        .collect()
}

/// The summary as JSON (also written to `summary.json`).
fn summary_json(study: &Study, series: &[Series], dir: &Path, name: &str) -> serde_json::Value {
    let num = |v: f64| if v.is_finite() { json!(v) } else { json!(v.to_string()) };
    json!({
        "study": name,
        "dim": study.dim,
        "iters": study.iters,
        "seeds": study.seeds,
        "curvature": format!("{:?}", study.curvature),
        "tangents": format!("{:?}", study.tangents),
        "backend": study.backend.name(),
        "out_dir": dir.display().to_string(),
        "files": study_files(name),
        "optimizers": rows(series).iter().map(|r| json!({
            "optimizer": r.label,
            "runs": r.runs,
            "diverged": r.diverged,
            "median_final_loss": num(r.median_final),
            "passes_per_run": r.passes,
            "gradient_evals_per_run": r.gradient_evals,
            "fallbacks": r.fallbacks,
            "wall_seconds": r.seconds,
        })).collect::<Vec<_>>(),
        "diverged_runs": series.iter().flat_map(|s| s.runs.iter().filter_map(move |r| {
            r.diverged.as_ref().map(|why| json!({"optimizer": s.label, "seed": r.seed, "reason": why}))
        })).collect::<Vec<_>>(),
    })
}

/// The table printed on stdout.
fn table(series: &[Series]) -> String {
    let mut s = format!(
        "{:<14} {:>5} {:>8} {:>17} {:>12} {:>11} {:>9} {:>10}\n",
        "optimizer",
        "runs",
        "diverged",
        "median final loss",
        "passes/run",
        "grads/run",
        "fallbacks",
        "wall ms"
    );
    for r in rows(series) {
        let _ = writeln!(
            s,
            "{:<14} {:>5} {:>8} {:>17.6e} {:>12.0} {:>11.0} {:>9} {:>10.1}",
            r.label,
            r.runs,
            r.diverged,
            r.median_final,
            r.passes,
            r.gradient_evals,
            r.fallbacks,
            r.seconds * 1e3
        );
    }
    s
}

/// The files a study named `name` writes under its `--out`, in the order it writes them.
pub fn study_files(name: &str) -> Vec<String> {
    vec![format!("{name}.csv"), format!("{name}.svg"), "summary.json".to_string()]
}

/// Writes `<name>.csv`, `<name>.svg` and `summary.json` under `dir` (atomically) and prints
/// the table (or the JSON summary), then the directory.
pub fn report(study: &Study, series: &[Series], dir: &Path, global: Global, name: &str) -> CliResult<()> {
    let title = format!("Rosenbrock n = {}, median over {} seeds", study.dim, study.seeds);
    let files = [
        (format!("{name}.csv"), csv(series)),
        (format!("{name}.svg"), svg(series, study.iters, &title)?),
        ("summary.json".to_string(), {
            let v = summary_json(study, series, dir, name);
            serde_json::to_string_pretty(&v).map_err(|e| CliError(e.to_string()))? + "\n"
        }),
    ];
    write_files(dir, &files)?;
    if global.json {
        println!("{}", files[2].1.trim_end());
    } else if !global.quiet {
        println!("{title}, backend {}", study.backend.name());
        print!("{}", table(series));
        for s in series {
            for r in &s.runs {
                if let Some(why) = &r.diverged {
                    println!("note: {} seed {} stopped: {why}", s.label, r.seed);
                }
            }
        }
        println!("wrote {name}.csv, {name}.svg and summary.json under {}", dir.display());
    }
    Ok(())
}
