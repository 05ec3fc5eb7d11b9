//! `#[fomoh]`-generated passes against the runtime generic path and num-dual.
//!
//! Problems (see `../shared/BENCHMARKS.md` beside the repository): Rosenbrock at n = 10⁴, and a logistic loss of
//! 65 weights over the 1,797 × 64 digits features (passive data; label: digit < 5).
//! Criterion measures every variant; at the end the binary prints the ratios measured in one
//! run. `cargo bench --bench macro`.

use criterion::Criterion;
use fomoh::{fomoh, HyperK, Scalar};
use nalgebra::SMatrix;
use num_dual::{Derivative, Dual2SVec64, DualNum, HyperDual64};
use std::hint::black_box;
use std::time::Instant;

// ------------------------------------------------------------------ Rosenbrock

#[fomoh]
fn rosenbrock(x: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..x.len() - 1 {
        let a = x[i + 1] - x[i] * x[i];
        let b = 1.0 - x[i];
        s += 100.0 * a * a + b * b;
    }
    s
}

fn rosenbrock_g<S: Scalar>(x: &[S]) -> S {
    let mut s = S::zero();
    let (one, hundred) = (S::one(), S::from_f64(100.0));
    for i in 0..x.len() - 1 {
        let a = x[i + 1] - x[i] * x[i];
        let b = one - x[i];
        s += hundred * a * a + b * b;
    }
    s
}

fn rosenbrock_nd<D: DualNum<Primitive = f64> + Copy>(x: &[D]) -> D {
    let mut s = D::zero();
    for i in 0..x.len() - 1 {
        let a = x[i + 1] - x[i] * x[i];
        let b = -x[i] + 1.0;
        s += a * a * 100.0 + b * b;
    }
    s
}

// ------------------------------------------------------------------ logistic loss

const FEATURES: usize = 64;

/// Mean logistic loss of `w` (64 weights + bias) over `rows` examples; `xs` row-major.
#[fomoh(wrt(w))]
fn logistic(w: &[f64], xs: &[f64], ys: &[f64], rows: usize) -> f64 {
    let mut loss = 0.0;
    for r in 0..rows {
        let row = &xs[r * 64..(r + 1) * 64];
        let mut z = w[64];
        for j in 0..64 {
            z += w[j] * row[j];
        }
        loss += z.softplus() - ys[r] * z;
    }
    loss / rows as f64
}

fn logistic_g<S: Scalar>(w: &[S], xs: &[f64], ys: &[f64], rows: usize) -> S {
    let mut loss = S::zero();
    for r in 0..rows {
        let row = &xs[r * 64..(r + 1) * 64];
        let mut z = w[64];
        for j in 0..64 {
            z += w[j] * S::from_f64(row[j]);
        }
        loss += z.softplus() - S::from_f64(ys[r]) * z;
    }
    loss / S::from_f64(rows as f64)
}

fn logistic_nd<D: DualNum<Primitive = f64> + Copy>(w: &[D], xs: &[f64], ys: &[f64], rows: usize) -> D {
    let mut loss = D::zero();
    for r in 0..rows {
        let row = &xs[r * 64..(r + 1) * 64];
        let mut z = w[64];
        for j in 0..64 {
            z += w[j] * row[j];
        }
        // softplus(z) = max(z, 0) + ln(1 + e^{-|z|}), as the rule table computes it
        let sp = if z.re() > 0.0 { z + (-z).exp().ln_1p() } else { z.exp().ln_1p() };
        loss += sp - z * ys[r];
    }
    loss / rows as f64
}

fn digits() -> (Vec<f64>, Vec<f64>, usize) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/digits.csv");
    let text = std::fs::read_to_string(path);
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    match text {
        Ok(t) => {
            for line in t.lines().skip(1) {
                let v: Vec<f64> = line.split(',').map(|c| c.trim().parse().expect("a number")).collect();
                xs.extend(v[..FEATURES].iter().map(|p| p / 16.0));
                ys.push(if v[FEATURES] < 5.0 { 1.0 } else { 0.0 });
            }
        }
        Err(_) => {
            // Synthetic data of the same shape.
            for r in 0..1797 {
                xs.extend((0..FEATURES).map(|j| (((r * 31 + j * 17) % 17) as f64) / 16.0));
                ys.push((r % 2) as f64);
            }
        }
    }
    let rows = ys.len();
    (xs, ys, rows)
}

// ------------------------------------------------------------------ seeding

fn dirs(n: usize, k: usize) -> Vec<Vec<f64>> {
    (0..k).map(|j| (0..n).map(|i| ((i + 1) as f64 * ((j + 2) as f64).sqrt()).sin()).collect()).collect()
}

fn nd_hd(x: &[f64], v1: &[f64], v2: &[f64]) -> Vec<HyperDual64> {
    x.iter().zip(v1).zip(v2).map(|((&a, &b), &c)| HyperDual64::new(a, b, c, 0.0)).collect()
}

fn nd_k4(x: &[f64], d: &[Vec<f64>]) -> Vec<Dual2SVec64<4>> {
    (0..x.len())
        .map(|i| {
            let g = SMatrix::<f64, 1, 4>::from_fn(|_, k| d[k][i]);
            Dual2SVec64::new(x[i], Derivative::some(g), Derivative::none())
        })
        .collect()
}

fn hk4(x: &[f64], d: &[Vec<f64>]) -> Vec<HyperK<f64, 4>> {
    (0..x.len()).map(|i| HyperK::seed(x[i], core::array::from_fn(|k| d[k][i]))).collect()
}

fn hd(x: &[f64], v1: &[f64], v2: &[f64]) -> Vec<fomoh::HyperDual<f64>> {
    x.iter().zip(v1).zip(v2).map(|((&a, &b), &c)| fomoh::HyperDual::seed(a, b, c)).collect()
}

// ------------------------------------------------------------------ runs

/// A named pass to time (returns one lane so that nothing is optimised away).
type Variant = (&'static str, Box<dyn Fn() -> f64>);

struct Problem {
    name: &'static str,
    variants: Vec<Variant>,
}

fn problems() -> Vec<Problem> {
    let n = 10_000;
    let x: Vec<f64> = (0..n).map(|i| if i % 2 == 0 { -1.2 } else { 1.0 }).collect();
    let d = dirs(n, 4);
    let (xh, xk, nh, nk) = (hd(&x, &d[0], &d[1]), hk4(&x, &d), nd_hd(&x, &d[0], &d[1]), nd_k4(&x, &d));
    let (xh2, xk2) = (xh.clone(), xk.clone());
    let rosen = Problem {
        name: "rosenbrock n=1e4",
        variants: vec![
            ("hyper_dual macro", Box::new(move || rosenbrock::hyper_dual(black_box(&xh)).e12)),
            ("hyper_dual runtime", Box::new(move || rosenbrock_g(black_box(&xh2)).e12)),
            ("hyper_dual num-dual", Box::new(move || rosenbrock_nd(black_box(&nh)).eps1eps2)),
            (
                "hyperplane<4> macro",
                Box::new(move || rosenbrock::hyperplane::<4>(black_box(&xk)).hess_at(0, 1)),
            ),
            ("hyperplane<4> runtime", Box::new(move || rosenbrock_g(black_box(&xk2)).hess_at(0, 1))),
            ("hyperplane<4> num-dual", Box::new(move || rosenbrock_nd(black_box(&nk)).v2.0.unwrap()[(0, 1)])),
        ],
    };
    let (xs, ys, rows) = digits();
    let w: Vec<f64> = (0..FEATURES + 1).map(|k| 0.1 * ((k + 1) as f64).sin()).collect();
    let d = dirs(FEATURES + 1, 4);
    let (wh, wk, nh, nk) = (hd(&w, &d[0], &d[1]), hk4(&w, &d), nd_hd(&w, &d[0], &d[1]), nd_k4(&w, &d));
    let data = std::rc::Rc::new((xs, ys));
    let (d1, d2, d3, d4, d5, d6) =
        (data.clone(), data.clone(), data.clone(), data.clone(), data.clone(), data);
    let (wh2, wk2) = (wh.clone(), wk.clone());
    let logi = Problem {
        name: "logistic 1797x64",
        variants: vec![
            (
                "hyper_dual macro",
                Box::new(move || logistic::hyper_dual(black_box(&wh), &d1.0, &d1.1, rows).e12),
            ),
            ("hyper_dual runtime", Box::new(move || logistic_g(black_box(&wh2), &d2.0, &d2.1, rows).e12)),
            (
                "hyper_dual num-dual",
                Box::new(move || logistic_nd(black_box(&nh), &d3.0, &d3.1, rows).eps1eps2),
            ),
            (
                "hyperplane<4> macro",
                Box::new(move || logistic::hyperplane::<4>(black_box(&wk), &d4.0, &d4.1, rows).hess_at(0, 1)),
            ),
            (
                "hyperplane<4> runtime",
                Box::new(move || logistic_g(black_box(&wk2), &d5.0, &d5.1, rows).hess_at(0, 1)),
            ),
            (
                "hyperplane<4> num-dual",
                Box::new(move || logistic_nd(black_box(&nk), &d6.0, &d6.1, rows).v2.0.unwrap()[(0, 1)]),
            ),
        ],
    };
    vec![rosen, logi]
}

/// Median time per call in µs of each variant. The variants are timed in turns (one batch
/// of each per round, 21 rounds) so that load from other processes affects them alike.
fn times(vs: &[Variant]) -> Vec<f64> {
    let calls: Vec<u32> = vs
        .iter()
        .map(|(_, f)| {
            let mut calls = 1;
            loop {
                let t = Instant::now();
                for _ in 0..calls {
                    black_box(f());
                }
                if t.elapsed().as_secs_f64() > 0.01 {
                    return calls;
                }
                calls *= 2;
            }
        })
        .collect();
    let mut samples = vec![Vec::new(); vs.len()];
    for _ in 0..21 {
        for (k, (_, f)) in vs.iter().enumerate() {
            let t = Instant::now();
            for _ in 0..calls[k] {
                black_box(f());
            }
            samples[k].push(t.elapsed().as_secs_f64() * 1e6 / calls[k] as f64);
        }
    }
    samples
        .into_iter()
        .map(|mut v| {
            v.sort_by(|a, b| a.total_cmp(b));
            v[v.len() / 2]
        })
        .collect()
}

fn main() {
    let ps = problems();
    // The passes agree before they are timed.
    for p in &ps {
        let vals: Vec<f64> = p.variants.iter().map(|(_, f)| f()).collect();
        for pair in [(0, 1), (0, 2), (3, 4), (3, 5)] {
            let (a, b) = (vals[pair.0], vals[pair.1]);
            assert!((a - b).abs() <= 1e-9 * a.abs().max(1.0), "{}: {a} vs {b}", p.name);
        }
    }
    // `FOMOH_RATIOS_ONLY=1 cargo bench --bench macro`: only the side-by-side table.
    let ratios_only = std::env::var_os("FOMOH_RATIOS_ONLY").is_some();
    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2))
        .configure_from_args();
    for p in ps.iter().filter(|_| !ratios_only) {
        let mut g = c.benchmark_group(p.name);
        for (name, f) in &p.variants {
            g.bench_function(*name, |b| b.iter(f));
        }
        g.finish();
    }
    c.final_summary();

    println!("\n#[fomoh] ratios (median µs per pass, measured in this run):");
    println!(
        "{:<20} {:<12} {:>10} {:>10} {:>10} {:>14} {:>14}",
        "problem", "pass", "macro", "runtime", "num-dual", "runtime/macro", "num-dual/macro"
    );
    for p in &ps {
        let t = times(&p.variants);
        for (k, pass) in [(0, "hyper_dual"), (3, "hyperplane<4>")] {
            println!(
                "{:<20} {:<12} {:>10.1} {:>10.1} {:>10.1} {:>13.2}x {:>13.2}x",
                p.name,
                pass,
                t[k],
                t[k + 1],
                t[k + 2],
                t[k + 1] / t[k],
                t[k + 2] / t[k]
            );
        }
    }
}
