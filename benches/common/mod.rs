//! Helpers shared by the bench binaries (included with `mod common;`).
#![allow(dead_code)]

use fomoh::Scalar;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// The BENCHMARKS.md direction `u_j[i] = sin((i + 1) sqrt(j + 2))`.
pub fn direction(j: usize, n: usize) -> Vec<f64> {
    (0..n).map(|i| ((i + 1) as f64 * ((j + 2) as f64).sqrt()).sin()).collect()
}

/// The median over `batches` batches of the time per call of `f`; the batch size doubles
/// until one batch runs at least `min_batch`.
pub fn time_median<R>(batches: usize, min_batch: Duration, mut f: impl FnMut() -> R) -> f64 {
    let mut reps = 1usize;
    loop {
        let t = Instant::now();
        for _ in 0..reps {
            black_box(f());
        }
        if t.elapsed() > min_batch {
            break;
        }
        reps *= 2;
    }
    let mut v: Vec<f64> = (0..batches)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..reps {
                black_box(f());
            }
            t.elapsed().as_secs_f64() / reps as f64
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v[batches / 2]
}

/// The chained Rosenbrock function of BENCHMARKS.md, written once over `Scalar`.
pub fn rosenbrock<S: Scalar>(x: &[S]) -> S {
    let (one, hundred) = (S::one(), S::from_f64(100.0));
    (0..x.len() - 1).map(|i| hundred * (x[i + 1] - x[i] * x[i]).powi(2) + (one - x[i]).powi(2)).sum()
}

/// The comma-separated sizes in the environment variable `var` (set but empty: none), or
/// `default` when it is not set.
pub fn env_sizes(var: &str, default: &[usize]) -> Vec<usize> {
    std::env::var(var)
        .ok()
        .map(|s| s.split(',').filter_map(|t| t.trim().parse().ok()).collect())
        .unwrap_or_else(|| default.to_vec())
}

/// `lo–hi` of `v` with `decimals` decimals (one number when they agree within 0.5 %; "–"
/// for no values).
pub fn range(v: &[f64], decimals: usize) -> String {
    let (lo, hi) = v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &x| (l.min(x), h.max(x)));
    if v.is_empty() {
        "–".into()
    } else if (hi - lo) < 0.005 * hi.abs() {
        format!("{lo:.decimals$}")
    } else {
        format!("{lo:.decimals$}–{hi:.decimals$}")
    }
}
