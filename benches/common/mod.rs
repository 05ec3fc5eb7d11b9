//! Helpers shared by the bench binaries (included with `mod common;`).

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
