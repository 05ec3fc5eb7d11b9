//! The scalar JIT on the generic Rosenbrock (the function written once over `Scalar`, traced
//! by `fomoh::jit::compile`) against JAX's `jit` of the same passes, in one run.
//!
//! ```text
//! cargo bench --bench jax_rosenbrock                                   # ours only
//! FOMOH_JAX_PYTHON=/path/to/venv/bin/python cargo bench --bench jax_rosenbrock   # + JAX
//! ```
//!
//! The JAX side is `benches/peers/jax_rosenbrock.py` (float64 on the CPU; hyper-dual as one
//! jvp of a jvp, K = 4 as vmapped jvps and a vmap of a vmap of jvps of jvps). Sizes:
//! `FOMOH_JAX_N` (default `10000,1000000`); `REPS` (default 2): ours and JAX's alternate
//! `REPS` times, ranges are over the repetitions. Points and directions as BENCHMARKS.md
//! (`x = (-1.2, 1, -1.2, ...)`, `u_j[i] = sin((i + 1) sqrt(j + 2))`); both sides print
//! `v1ᵀHv2`, which must agree.

mod common;

use common::rosenbrock;

use std::process::Command;
use std::time::{Duration, Instant};

/// One measurement: compile ms (hyper-dual, K = 4), µs per pass (hyper-dual, K = 4), e12.
type Sample = [f64; 5];

fn ours(n: usize) -> Result<Sample, fomoh::Error> {
    let x: Vec<f64> = (0..n).map(|i| if i % 2 == 0 { -1.2 } else { 1.0 }).collect();
    let d: Vec<Vec<f64>> = (0..4).map(|j| common::direction(j, n)).collect();
    let t = Instant::now();
    let p = fomoh::jit::compile(n, rosenbrock)?;
    let e12 = p.hyper_dual(&x, &d[0], &d[1])?.e12;
    let c_hd = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    p.project(&x, &d)?;
    let c_k4 = t.elapsed().as_secs_f64() * 1e3;
    let time = |f: &mut dyn FnMut()| common::time_median(7, Duration::from_millis(50), f) * 1e6;
    let hd = time(&mut || drop(p.hyper_dual(&x, &d[0], &d[1])));
    let k4 = time(&mut || drop(p.project(&x, &d)));
    Ok([c_hd, c_k4, hd, k4, e12])
}

fn jax(python: &str, n: usize) -> Option<Sample> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/peers/jax_rosenbrock.py");
    let out = Command::new(python).arg(script).arg(n.to_string()).output().ok()?;
    if !out.status.success() {
        eprintln!(
            "jax_rosenbrock.py failed: {}",
            String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("")
        );
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("jax "))?;
    let v: Vec<f64> = line.split_whitespace().skip(2).filter_map(|t| t.parse().ok()).collect();
    (v.len() == 5).then(|| [v[0], v[1], v[2], v[3], v[4]])
}

fn main() -> Result<(), fomoh::Error> {
    let sizes = common::env_sizes("FOMOH_JAX_N", &[10_000, 1_000_000]);
    let reps: usize = std::env::var("REPS").ok().and_then(|s| s.parse().ok()).unwrap_or(2).max(1);
    let python = std::env::var("FOMOH_JAX_PYTHON").ok();
    println!(
        "{:>9} | {:>20} {:>20} | {:>16} {:>16} | {:>14} {:>14}",
        "n",
        "ours hd µs (compile ms)",
        "jax hd µs (compile)",
        "ours K=4 µs",
        "jax K=4 µs",
        "jax/ours hd",
        "jax/ours K=4"
    );
    for &n in &sizes {
        let (mut o, mut j): (Vec<Sample>, Vec<Sample>) = (Vec::new(), Vec::new());
        for _ in 0..reps {
            o.push(ours(n)?);
            if let Some(p) = &python {
                j.extend(jax(p, n));
            }
        }
        let col = |s: &[Sample], k: usize| s.iter().map(|r| r[k]).collect::<Vec<_>>();
        if let (Some(a), Some(b)) = (o.first(), j.first()) {
            let rel = (a[4] - b[4]).abs() / a[4].abs().max(1e-300);
            assert!(rel < 1e-9, "v1ᵀHv2 differs: ours {} vs JAX {}", a[4], b[4]);
        }
        let ratio = |k: usize| -> String {
            if j.is_empty() {
                return "-".into();
            }
            let r: Vec<f64> = j.iter().flat_map(|b| o.iter().map(move |a| b[k] / a[k])).collect();
            format!("{}x", common::range(&r, 1))
        };
        let jax_col = |k: usize, c: usize| {
            if j.is_empty() {
                "not run".to_string()
            } else {
                format!("{} ({})", common::range(&col(&j, k), 1), common::range(&col(&j, c), 1))
            }
        };
        println!(
            "{:>9} | {:>20} {:>20} | {:>16} {:>16} | {:>14} {:>14}",
            n,
            format!("{} ({})", common::range(&col(&o, 2), 1), common::range(&col(&o, 0), 1)),
            jax_col(2, 0),
            common::range(&col(&o, 3), 1),
            if j.is_empty() { "not run".into() } else { common::range(&col(&j, 3), 1) },
            ratio(2),
            ratio(3),
        );
    }
    if python.is_none() {
        println!("(JAX not run: set FOMOH_JAX_PYTHON to a Python with jax installed)");
    }
    Ok(())
}
