//! The statistics of `fomoh study`: each optimizer's mean curve over seeds ([`Curve`]), and
//! `compare.md`: this library's runs and the paper's code's side by side, per optimizer and
//! epoch. The train loss of the two groups of seeds is compared with Welch's t statistic and
//! an exact two-sided permutation test of the difference in means (every split of the pooled
//! runs into groups of the two sizes); the runs are independent (different random streams), so
//! agreeing implementations give differences of the size of the seed-to-seed spread.

use crate::cli::train::session::Row;
use crate::cli::CliResult;
use std::fmt::Write as _;
use std::path::Path;

/// Mean and spread of one optimizer's runs per epoch.
pub(super) struct Curve {
    /// Per epoch: the mean row (passes of the first run, wall time the mean).
    pub(super) mean: Vec<Row>,
    /// Per epoch: every run's row.
    pub(super) runs: Vec<Vec<Row>>,
}

impl Curve {
    /// The epochs all runs reached.
    pub(super) fn of<'a>(runs: impl Iterator<Item = &'a Vec<Row>>) -> Curve {
        let runs: Vec<&Vec<Row>> = runs.collect();
        let epochs = runs.iter().map(|r| r.len()).min().unwrap_or(0);
        let per_epoch: Vec<Vec<Row>> =
            (0..epochs).map(|e| runs.iter().map(|r| r[e].clone()).collect()).collect();
        let mean = per_epoch
            .iter()
            .map(|rs| {
                let m = |f: fn(&Row) -> f64| rs.iter().map(f).sum::<f64>() / rs.len() as f64;
                Row {
                    epoch: rs[0].epoch,
                    passes: rs[0].passes,
                    train_loss: m(|r| r.train_loss),
                    test_loss: m(|r| r.test_loss),
                    test_accuracy: m(|r| r.test_accuracy),
                    seconds: m(|r| r.seconds),
                }
            })
            .collect();
        Curve { mean, runs: per_epoch }
    }
}

/// Mean and sample standard deviation.
pub(super) fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = if v.len() > 1 { v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    (m, var.sqrt())
}

/// The exact two-sided permutation p-value of the difference in means of `a` and `b` (at most
/// 20 values in all; `NaN` beyond).
pub(crate) fn permutation_p(a: &[f64], b: &[f64]) -> f64 {
    let pooled: Vec<f64> = a.iter().chain(b).copied().collect();
    let (n, k) = (pooled.len(), a.len());
    if n > 20 || k == 0 || k == n {
        return f64::NAN;
    }
    let total: f64 = pooled.iter().sum();
    let diff = |sum_a: f64| sum_a / k as f64 - (total - sum_a) / (n - k) as f64;
    let observed = diff(a.iter().sum()).abs();
    let (mut hits, mut all) = (0u64, 0u64);
    for mask in 0u32..(1 << n) {
        if mask.count_ones() as usize != k {
            continue;
        }
        let s: f64 = (0..n).filter(|i| mask >> i & 1 == 1).map(|i| pooled[i]).sum();
        all += 1;
        hits += u64::from(diff(s).abs() >= observed * (1.0 - 1e-12));
    }
    hits as f64 / all as f64
}

/// Welch's t statistic of the difference in means (`NaN` when both spreads are 0).
fn welch_t(a: &[f64], b: &[f64]) -> f64 {
    let ((ma, sa), (mb, sb)) = (mean_sd(a), mean_sd(b));
    (ma - mb) / (sa * sa / a.len() as f64 + sb * sb / b.len() as f64).sqrt()
}

/// The comparison table (markdown).
pub(super) fn table(
    ours: &[(String, Curve)],
    paper: &[(String, Curve)],
    paper_dir: &Path,
) -> CliResult<String> {
    let mut s = format!(
        "# This library and the paper's code ({}), same settings\n\n\
         Train loss per epoch: mean ± sd over seeds (n), Welch's t, exact permutation p (two-sided);\n\
         training wall time (the paper's: wall_s minus its evaluations, estimated as (epoch + 1) × the\n\
         epoch-0 evaluation).\n\n\
         | optimizer | epoch | ours | paper's | t | p | test acc % ours / paper's | wall s ours / paper's |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
        paper_dir.display()
    );
    for (label, c) in ours {
        let Some((_, p)) = paper.iter().find(|(l, _)| l == label) else { continue };
        for (e, (mine, theirs)) in c.runs.iter().zip(&p.runs).enumerate() {
            let col = |rows: &[Row], f: fn(&Row) -> f64| rows.iter().map(f).collect::<Vec<f64>>();
            let (a, b) = (col(mine, |r| r.train_loss), col(theirs, |r| r.train_loss));
            let ((ma, sa), (mb, sb)) = (mean_sd(&a), mean_sd(&b));
            let acc = |rows: &[Row]| 100.0 * mean_sd(&col(rows, |r| r.test_accuracy)).0;
            let wall = |rows: &[Row]| mean_sd(&col(rows, |r| r.seconds)).0;
            // With one run on a side neither statistic says anything.
            let (t, p) = if a.len() < 2 || b.len() < 2 {
                ("—".to_string(), "—".to_string())
            } else {
                (format!("{:.2}", welch_t(&a, &b)), format!("{:.3}", permutation_p(&a, &b)))
            };
            let _ = writeln!(
                s,
                "| {label} | {e} | {ma:.4} ± {sa:.4} ({}) | {mb:.4} ± {sb:.4} ({}) | {t} | {p} | {:.2} / {:.2} | {:.2} / {:.2} |",
                a.len(),
                b.len(),
                acc(mine),
                acc(theirs),
                wall(mine),
                wall(theirs)
            );
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::permutation_p;

    #[test]
    fn permutation_test_separates_shifted_groups_only() {
        // Fully separated groups of 4 and 4: the observed split is one of the 2 extreme of 70.
        let p = permutation_p(&[1.0, 1.1, 1.2, 1.3], &[2.0, 2.1, 2.2, 2.3]);
        assert!((p - 2.0 / 70.0).abs() < 1e-12, "{p}");
        let p = permutation_p(&[1.0, 2.0, 1.5, 2.5], &[1.1, 2.1, 1.4, 2.4]);
        assert!(p > 0.5, "{p}");
        assert!(permutation_p(&[1.0; 15], &[1.0; 6]).is_nan());
    }
}
