//! What the studies write: the CSV of losses, the SVG plots ([`super::plot`]), `summary.json`,
//! and the table (or JSON) on stdout; and the checks of `--out` before a run. Shared by every
//! subcommand that runs optimizers.

use super::plot::{study_svg, XAxis};
use super::rosenbrock::{Series, Study};
use super::{CliError, CliResult, Global};
use fomoh::optim::write_atomic;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
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
    let plots = XAxis::ALL.iter().map(|x| x.file(name));
    std::iter::once(format!("{name}.csv")).chain(plots).chain(["summary.json".to_string()]).collect()
}

/// Writes [`study_files`] under `dir` (atomically): `<name>.csv`, the plots against
/// iterations, forward passes and wall time, and `summary.json`; then prints the table (or
/// the JSON summary) and the directory.
pub fn report(study: &Study, series: &[Series], dir: &Path, global: Global, name: &str) -> CliResult<()> {
    let title = format!("Rosenbrock n = {}, median over {} seeds", study.dim, study.seeds);
    let mut files = vec![(format!("{name}.csv"), csv(series))];
    for x in XAxis::ALL {
        files.push((x.file(name), study_svg(series, study.iters, &title, x)?));
    }
    let summary = summary_json(study, series, dir, name);
    let summary = serde_json::to_string_pretty(&summary).map_err(|e| CliError(e.to_string()))? + "\n";
    files.push(("summary.json".to_string(), summary));
    write_files(dir, &files)?;
    if global.json {
        println!("{}", files[files.len() - 1].1.trim_end());
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
        let names: Vec<&str> = files.iter().map(|f| f.0.as_str()).collect();
        println!("wrote {} under {}", names.join(", "), dir.display());
    }
    Ok(())
}
