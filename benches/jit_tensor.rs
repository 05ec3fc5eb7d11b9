//! Tensor JIT benchmark: extended Rosenbrock n = 10^6, logistic regression 64-10 (batch
//! 1797), MLP 64-32-10 (batch 256) from `BENCHMARKS.md` and the paper's CNN (batch 32),
//! each compiled once per mode.
//!
//! `cargo bench --bench jit_tensor [-- <section>]` (sections: rosenbrock, logreg, mlp, f32,
//! cnn). Prints, side by side in one run: the JIT primal,
//! hyper-dual, K = 4 and K = 8 passes (and their ratios to the JIT primal and to an `f64`
//! primal outside the JIT: Rosenbrock's plain loop, the models' reference interpreter; the
//! issue's targets, "against the plain primal f", are judged on the latter and the verdict
//! against the JIT primal is printed beside), the
//! comparison paths (Rosenbrock: the plain `f64` loop and the runtime's scalar
//! `hyper_dual`; models: the tensor reference interpreter over `f64` and over the runtime's
//! `HyperDual<f64>`), and the compile time of every mode.
//!
//! Models vs the runtime's tensor path: the same batch as a `fomoh::models::Minibatch` over
//! `LogisticRegression` / `Mlp` / `Cnn` (value, hyper-dual, hyperplane K = 4 and K = 8)
//! against the JIT minibatch program (`models::logreg_minibatch` / `mlp_minibatch` /
//! `cnn_minibatch`, the batch bound as inputs, as `fomoh train --backend jit` runs it), with
//! the JIT's speedup per mode (issue target: at least 1.5x).
//!
//! f32: the Rosenbrock, logreg and MLP graphs compiled for `f32` against `f64`, per mode.
//!
//! Row tiles (`-- tiles`): the bound logreg and MLP minibatch programs run as row tiles
//! (`RowTiling::Auto`, the default) against the whole batch at once (`RowTiling::Off`), per
//! mode, and the tile sizes the `Auto` rule is calibrated on.

mod common;

use common::rosenbrock;

use fomoh::data::Batch;
use fomoh::models::{Activation, LogisticRegression, Minibatch, Mlp, Model};
use fomoh::tensor::Tensor;
use fomoh::{HyperDual, Objective, UnaryOp};
use fomoh_jit::tensor::{models, Bound, RowTiling};
use fomoh_jit::{Mode, TensorProgram};
use std::hint::black_box;
use std::time::Duration;

/// One-hot rows (the labels are valid here).
fn one_hot(labels: &[usize], classes: usize) -> Vec<f64> {
    fomoh::nn::one_hot(labels, classes).expect("labels below classes")
}

fn dirs(n: usize, k: usize) -> Vec<Vec<f64>> {
    (0..k).map(|j| common::direction(j, n)).collect()
}

/// Median over 5 batches of the time per call; each batch runs at least 40 ms.
fn time<R>(f: impl FnMut() -> R) -> f64 {
    common::time_median(5, Duration::from_millis(40), f)
}

fn digits(rows: usize) -> (Vec<f64>, Vec<usize>) {
    let text = include_str!("../fomoh-jit/tests/data/digits.csv");
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for line in text.lines().skip(1).take(rows) {
        let v: Vec<f64> = line.split(',').map(|t| t.trim().parse().unwrap()).collect();
        x.extend(v[..64].iter().map(|p| p / 16.0));
        y.push(v[64] as usize);
    }
    (x, y)
}

/// Compiles every benchmarked mode of `p`, printing what each cost.
fn compile_report(p: &TensorProgram) -> Result<(), fomoh::Error> {
    for mode in [Mode::Primal, Mode::HyperDual, Mode::HyperK(4), Mode::HyperK(8)] {
        let s = p.prepare(mode)?;
        println!(
            "compile {mode:?}: {:.2} ms ({} loops ({} preaccumulated), {} matmuls, {} staged nodes, {} row tiles)",
            s.compile_time.as_secs_f64() * 1e3,
            s.loops,
            s.preaccumulated_loops,
            s.matmuls,
            s.staged_nodes,
            s.row_tiles
        );
    }
    Ok(())
}

/// `others[0]` is the `f64` primal the second ratio column refers to. Returns the JIT's
/// primal, hyper-dual, K = 4 and K = 8 times.
fn report(
    name: &str,
    p: &TensorProgram,
    x: &[f64],
    others: &[(&str, f64)],
) -> Result<[f64; 4], fomoh::Error> {
    let n = x.len();
    let u = dirs(n, 8);
    println!("== {name} (n = {n}) ==");
    compile_report(p)?;
    let t0 = time(|| p.value(x).unwrap());
    let thd = time(|| p.hyper_dual(x, &u[0], &u[1]).unwrap());
    let t4 = time(|| p.project(x, &u[..4]).unwrap());
    let t8 = time(|| p.project(x, &u[..8]).unwrap());
    let ms = |t: f64| t * 1e3;
    let (base, tb) = others[0];
    println!("jit primal      {:>10.3} ms   1.00x jit primal   {:>6.2}x {base}", ms(t0), t0 / tb);
    // The targets are against "the plain primal f" (`others[0]`); the ratio to the
    // JIT's own primal is printed beside, with whether it would meet them too.
    let verdict = |r: f64, target: f64| if r <= target { "met" } else { "missed" };
    for (what, t, target) in [("jit hyper-dual", thd, 3.0), ("jit K=4", t4, 8.0), ("jit K=8", t8, 20.0)] {
        println!(
            "{what:<15} {:>10.3} ms   {:.2}x jit primal   {:>6.2}x {base}   (target <= {target}: {} vs {base}, {} vs jit primal)",
            ms(t),
            t / t0,
            t / tb,
            verdict(t / tb, target),
            verdict(t / t0, target)
        );
    }
    for (what, t) in others {
        println!(
            "{what:<40} {:>10.3} ms   {:.2}x jit primal, {:.2}x jit hyper-dual",
            ms(*t),
            t / t0,
            t / thd
        );
    }
    println!();
    Ok([t0, thd, t4, t8])
}

/// One forward pass of an objective (result dropped).
type Pass<'a> = Box<dyn Fn(&dyn Objective) + Sync + 'a>;

/// The benchmarked passes at `th` along the directions `u` (at least 8): value, hyper-dual,
/// K = 4 and K = 8, each with its mode and label, on any `Objective`.
fn passes<'a>(th: &'a [f64], u: &'a [Vec<f64>]) -> [(&'static str, Mode, Pass<'a>); 4] {
    [
        (
            "value",
            Mode::Primal,
            Box::new(move |o| {
                black_box(o.value(th).unwrap());
            }),
        ),
        (
            "hyper-dual",
            Mode::HyperDual,
            Box::new(move |o| {
                black_box(o.hyper_dual(th, &u[0], &u[1]).unwrap());
            }),
        ),
        (
            "K=4",
            Mode::HyperK(4),
            Box::new(move |o| {
                black_box(o.project(th, &u[..4]).unwrap());
            }),
        ),
        (
            "K=8",
            Mode::HyperK(8),
            Box::new(move |o| {
                black_box(o.project(th, &u[..8]).unwrap());
            }),
        ),
    ]
}

/// Rounds of [`alternating`].
const ROUNDS: usize = 9;

/// Times `a` and `b` alternately over [`ROUNDS`] rounds (each ≥ 30 ms per side), so load
/// from other processes hits both alike: median seconds per call of each and the median of
/// the per-round ratios `a / b`.
fn alternating(a: &dyn Fn(), b: &dyn Fn()) -> (f64, f64, f64) {
    let mut v: Vec<(f64, f64, f64)> = (0..ROUNDS)
        .map(|_| {
            let ta = common::time_median(1, Duration::from_millis(30), a);
            let tb = common::time_median(1, Duration::from_millis(30), b);
            (ta, tb, ta / tb)
        })
        .collect();
    let med = |v: &mut Vec<(f64, f64, f64)>, f: fn(&(f64, f64, f64)) -> f64| {
        v.sort_by(|x, y| f(x).total_cmp(&f(y)));
        f(&v[ROUNDS / 2])
    };
    (med(&mut v, |t| t.0), med(&mut v, |t| t.1), med(&mut v, |t| t.2))
}

/// How many threads each side may use (both share rayon's global pool).
fn threads_note() -> String {
    let (t, cores) =
        (rayon::current_num_threads(), std::thread::available_parallelism().map_or(1, |n| n.get()));
    format!(
        "threads: runtime = rayon pool of {t} (planes, jobs); JIT = the same pool of {t} (large fused \
         loops in chunks, dgemms above 2^21 multiply-adds, lane additions); {cores} cores"
    )
}

/// Whether a section runs: `cargo bench --bench jit_tensor -- <filter>` runs the sections
/// whose name contains `<filter>` (case-insensitive); no filter runs all.
fn wanted(section: &str) -> bool {
    match std::env::args().skip(1).find(|a| !a.starts_with("--")) {
        Some(f) => section.to_lowercase().contains(&f.to_lowercase()),
        None => true,
    }
}

/// The runtime's tensor path (`Minibatch` over `model`) against the bound JIT program on the
/// same batch, per mode (both through `Objective`), with the JIT's speedup.
fn versus_runtime(
    name: &str,
    model: &dyn Model,
    batch: &Batch,
    jit: &Bound,
    shards: &dyn Objective,
    th: &[f64],
) -> Result<(), fomoh::Error> {
    let rt = Minibatch::new(model, batch)?;
    let u = dirs(th.len(), 8);
    // the two agree before they are timed
    let (a, b) = (Objective::project(jit, th, &u)?, rt.project(th, &u)?);
    let rel = |x: f64, y: f64| (x - y).abs() / x.abs().max(y.abs()).max(1.0);
    let err = a.grad.iter().zip(&b.grad).map(|(x, y)| rel(*x, *y)).fold(rel(a.value, b.value), f64::max);
    let err =
        a.hess.iter().flatten().zip(b.hess.iter().flatten()).map(|(x, y)| rel(*x, *y)).fold(err, f64::max);
    println!(
        "== {name}: runtime tensor path vs JIT minibatch program (K = 8 max rel. difference {err:.1e}) =="
    );
    println!("{}", threads_note());
    println!(
        "{:<12} {:>12} {:>12} {:>14} {:>16} {:>16}   (medians over {ROUNDS} alternating rounds)",
        "mode", "runtime ms", "jit ms", "jit speedup", "2 shards ms", "shards speedup"
    );
    for (mode, _, pass) in passes(th, &u) {
        let (r, j, ratio) = alternating(&|| pass(&rt), &|| pass(jit));
        let (_, js, ratio_s) = alternating(&|| pass(&rt), &|| pass(shards));
        println!(
            "{mode:<12} {:>12.3} {:>12.3} {:>13.2}x {:>16.3} {:>15.2}x (target >= 1.5)",
            r * 1e3,
            j * 1e3,
            ratio,
            js * 1e3,
            ratio_s
        );
    }
    println!();
    Ok(())
}

/// The bound minibatch programs as row tiles (`Auto`, and fixed tile sizes) against the
/// whole batch at once, per mode, timed alternately.
fn row_tiles() -> Result<(), fomoh::Error> {
    println!("== row tiles vs the whole batch at once (medians over {ROUNDS} alternating rounds) ==");
    println!("{}", threads_note());
    println!(
        "{:<30} {:<11} {:>10} {:>7} {:>10} {:>9}   fixed tiles of 16/32/64/128/256 rows: ms (tiles)",
        "problem", "mode", "whole ms", "tiles", "tiled ms", "speedup"
    );
    let problems = [
        ("logreg 64-10, batch 1797", models::logreg_minibatch(1797, 64, 10)?, 1797),
        ("MLP 64-32-10 tanh, batch 256", models::mlp_minibatch(256, &[64, 32, 10], UnaryOp::Tanh)?, 256),
    ];
    for (name, p, rows) in problems {
        let (xs, ys) = digits(rows);
        let y = one_hot(&ys, 10);
        let th: Vec<f64> = (0..p.dim()).map(|k| 0.1 * ((k + 1) as f64).sin()).collect();
        let u = dirs(p.dim(), 8);
        let whole = p.with_row_tiling(RowTiling::Off);
        let fixed: Vec<TensorProgram> =
            [16, 32, 64, 128, 256].iter().map(|&r| p.with_row_tiling(RowTiling::Rows(r))).collect();
        let (bp, bw) = (p.bind(&[&xs, &y])?, whole.bind(&[&xs, &y])?);
        let bf: Vec<Bound> = fixed.iter().map(|q| q.bind(&[&xs, &y])).collect::<Result<_, _>>()?;
        for (label, mode, pass) in passes(&th, &u) {
            let (tw, tt, ratio) = alternating(&|| pass(&bw), &|| pass(&bp));
            let others: Vec<String> = bf
                .iter()
                .zip(&fixed)
                .map(|(b, q)| {
                    let n = q.prepare(mode).map_or(0, |s| s.row_tiles);
                    format!(
                        "{:.3} ({n})",
                        common::time_median(5, Duration::from_millis(30), || pass(b)) * 1e3
                    )
                })
                .collect();
            println!(
                "{name:<30} {label:<11} {:>10.3} {:>7} {:>10.3} {:>8.2}x   {}",
                tw * 1e3,
                p.prepare(mode)?.row_tiles,
                tt * 1e3,
                ratio,
                others.join("  ")
            );
        }
    }
    println!();
    Ok(())
}

/// The same tensor graphs compiled for `f32` (`with_float::<f32>()`: `f32x4` loops,
/// `sgemm`) against `f64`, per mode, timed alternately; and the `f32` passes' ratios to the
/// `f32` primal.
fn f32_versus_f64(n: usize) -> Result<(), fomoh::Error> {
    println!("== f32 vs f64 tensor programs (medians over {ROUNDS} alternating rounds) ==");
    println!(
        "{:<30} {:<11} {:>10} {:>10} {:>12} {:>16}",
        "problem", "mode", "f64 ms", "f32 ms", "f32 speedup", "f32 / f32 primal"
    );
    let (xs, ys) = digits(1797);
    let (xm, ym) = digits(256);
    let problems: [(&str, TensorProgram, Vec<f64>); 3] = [
        (
            "Rosenbrock n = 10^6",
            models::rosenbrock(n)?,
            (0..n).map(|i| if i % 2 == 0 { -1.2 } else { 1.0 }).collect(),
        ),
        ("logreg 64-10, batch 1797", models::logreg(xs, &ys, 64, 10)?, vec![]),
        ("MLP 64-32-10 tanh, batch 256", models::mlp(xm, &ym, 64, 32, 10)?, vec![]),
    ];
    for (name, p64, x) in problems {
        let x = if x.is_empty() { (0..p64.dim()).map(|k| 0.1 * ((k + 1) as f64).sin()).collect() } else { x };
        let p32 = p64.with_float::<f32>();
        let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let u = dirs(x.len(), 8);
        let u32s: Vec<Vec<f32>> = u.iter().map(|d| d.iter().map(|&v| v as f32).collect()).collect();
        let mut primal32 = 0.0;
        type Side<'a> = Box<dyn Fn() + 'a>;
        let modes: [(&str, Side, Side); 4] = [
            (
                "value",
                Box::new(|| {
                    black_box(p64.value(&x).unwrap());
                }),
                Box::new(|| {
                    black_box(p32.value(&x32).unwrap());
                }),
            ),
            (
                "hyper-dual",
                Box::new(|| {
                    black_box(p64.hyper_dual(&x, &u[0], &u[1]).unwrap());
                }),
                Box::new(|| {
                    black_box(p32.hyper_dual(&x32, &u32s[0], &u32s[1]).unwrap());
                }),
            ),
            (
                "K=4",
                Box::new(|| {
                    black_box(p64.project(&x, &u[..4]).unwrap());
                }),
                Box::new(|| {
                    black_box(p32.project(&x32, &u32s[..4]).unwrap());
                }),
            ),
            (
                "K=8",
                Box::new(|| {
                    black_box(p64.project(&x, &u).unwrap());
                }),
                Box::new(|| {
                    black_box(p32.project(&x32, &u32s).unwrap());
                }),
            ),
        ];
        for (mode, a, b) in modes {
            let (t64, t32, ratio) = alternating(&*a, &*b);
            if mode == "value" {
                primal32 = t32;
            }
            println!(
                "{name:<30} {mode:<11} {:>10.3} {:>10.3} {:>11.2}x {:>15.2}x",
                t64 * 1e3,
                t32 * 1e3,
                ratio,
                t32 / primal32
            );
        }
    }
    println!();
    Ok(())
}

/// Seconds to stream `arrays` once (a vectorizable sum of each, chunks side by side on the
/// rayon pool): the least time any pass reading them can take on this machine.
fn stream(arrays: &[&[f64]]) -> f64 {
    use rayon::prelude::*;
    const CHUNK: usize = 1 << 14;
    let n = arrays[0].len();
    time(|| {
        (0..n.div_ceil(CHUNK))
            .into_par_iter()
            .map(|c| {
                let r = c * CHUNK..((c + 1) * CHUNK).min(n);
                let mut acc = [0.0f64; 8];
                for a in arrays {
                    let chunks = a[r.clone()].chunks_exact(8);
                    let tail: f64 = chunks.remainder().iter().sum();
                    for ch in chunks {
                        for (s, v) in acc.iter_mut().zip(ch) {
                            *s += v;
                        }
                    }
                    acc[0] += tail;
                }
                acc.iter().sum::<f64>()
            })
            .sum::<f64>()
    })
}

/// Rosenbrock against the memory floor and on one thread: each pass must read `x` and its
/// directions (1, 3, 5 and 9 arrays of `n` doubles), so against a primal that streams `x`
/// at the machine's bandwidth no pass can beat the ratio of the bytes it reads. Prints the
/// streaming time of each pass's inputs (2 threads), the JIT pass (`jit`: [`report`]'s
/// times) over it, and the JIT passes on a one-thread pool against the plain `f64` loop
/// (also one thread).
fn rosenbrock_floor(p: &TensorProgram, x: &[f64], u: &[Vec<f64>], plain: f64, jit: [f64; 4]) {
    println!("-- Rosenbrock: memory floor (streaming each pass's inputs) and one thread --");
    println!(
        "{:<11} {:>6} {:>10} {:>14} {:>10} {:>12} {:>13} {:>16}",
        "pass",
        "arrays",
        "floor ms",
        "floor/floor(x)",
        "jit ms",
        "jit / floor",
        "jit 1-thr ms",
        "1-thr / plain"
    );
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("a one-thread pool");
    let inputs: Vec<Vec<&[f64]>> = [0, 2, 4, 8]
        .iter()
        .map(|&k| [x].into_iter().chain(u[..k].iter().map(|v| &v[..])).collect())
        .collect();
    // Each pass's floor, the primal's first (the ratios' denominator).
    let floors: Vec<f64> = inputs.iter().map(|a| stream(a)).collect();
    for (i, (name, _, run)) in passes(x, u).into_iter().enumerate() {
        let t1 = one.install(|| time(|| run(p)));
        println!(
            "{name:<11} {:>6} {:>10.3} {:>13.2}x {:>10.3} {:>11.2}x {:>13.3} {:>15.2}x",
            inputs[i].len(),
            floors[i] * 1e3,
            floors[i] / floors[0],
            jit[i] * 1e3,
            jit[i] / floors[i],
            t1 * 1e3,
            t1 / plain
        );
    }
    println!("(plain f64 loop, one thread: {:.3} ms)\n", plain * 1e3);
}

fn main() -> Result<(), fomoh::Error> {
    let n = 1_000_000;
    if wanted("rosenbrock") {
        let x: Vec<f64> = (0..n).map(|i| if i % 2 == 0 { -1.2 } else { 1.0 }).collect();
        let u = dirs(n, 2);
        let p = models::rosenbrock(n)?;
        let tf = time(|| rosenbrock::<f64>(black_box(&x)));
        let trt = time(|| fomoh::hyper_dual(rosenbrock, &x, &u[0], &u[1]).unwrap());
        let jit = report(
            "extended Rosenbrock (tensor form)",
            &p,
            &x,
            &[("plain f64 loop (primal)", tf), ("runtime scalar hyper_dual", trt)],
        )?;
        rosenbrock_floor(&p, &x, &dirs(n, 8), tf, jit);
    }

    let theta = |n: usize| -> Vec<f64> { (0..n).map(|k| 0.1 * ((k + 1) as f64).sin()).collect() };
    for (name, p) in [
        ("logreg 64-10, batch 1797", {
            let (xs, ys) = digits(1797);
            models::logreg(xs, &ys, 64, 10)?
        }),
        ("MLP 64-32-10 tanh, batch 256", {
            let (xs, ys) = digits(256);
            models::mlp(xs, &ys, 64, 32, 10)?
        }),
    ] {
        if !wanted(name) {
            continue;
        }
        let th = theta(p.dim());
        let u = dirs(p.dim(), 2);
        let ti = time(|| p.interpret::<f64>(&th).unwrap());
        let seeded: Vec<HyperDual<f64>> =
            (0..th.len()).map(|i| HyperDual::seed(th[i], u[0][i], u[1][i])).collect();
        let tih = time(|| p.interpret(&seeded).unwrap());
        report(
            name,
            &p,
            &th,
            &[("interpreter, f64 (naive loops)", ti), ("interpreter, runtime HyperDual<f64>", tih)],
        )?;
    }

    let logreg = LogisticRegression::new(64, 10)?;
    let mlp = Mlp::new(&[64, 32, 10], Activation::Tanh)?;
    type Build = Box<dyn Fn(usize) -> Result<TensorProgram, fomoh::Error>>;
    let builds: [(&str, &dyn Model, usize, Build); 2] = [
        ("logreg 64-10, batch 1797", &logreg, 1797, Box::new(|b| Ok(models::logreg_minibatch(b, 64, 10)?))),
        (
            "MLP 64-32-10 tanh, batch 256",
            &mlp,
            256,
            Box::new(|b| Ok(models::mlp_minibatch(b, &[64, 32, 10], UnaryOp::Tanh)?)),
        ),
    ];
    for (name, model, rows, build) in builds {
        if !wanted(name) {
            continue;
        }
        let (xs, ys) = digits(rows);
        let y = one_hot(&ys, 10);
        let program = build(rows)?;
        let bound = program.bind(&[&xs, &y])?;
        let halves = [build(rows / 2)?, build(rows - rows / 2)?];
        let shards = models::bind_shards(&[&halves[0], &halves[1]], &xs, &y)?;
        let batch = Batch::new(Tensor::constant(vec![rows, 64], xs.clone())?, ys)?;
        versus_runtime(name, model, &batch, &bound, &shards, &theta(model.num_params()))?;
    }

    if wanted("row tiles") {
        row_tiles()?;
    }

    if wanted("f32 tensor programs") {
        f32_versus_f64(n)?;
    }

    // The paper's CNN (431 080 parameters) on 32 synthetic 28×28 images: the runtime's
    // tensor model (`Minibatch` over `Cnn`, rayon-parallel planes) against the bound
    // `cnn_minibatch` program.
    if wanted("paper CNN") {
        use fomoh_runtime::models::{Cnn, CnnConfig};
        let bsz = 32;
        let xs: Vec<f64> = (0..bsz * 784)
            .map(|e| {
                let (s, r, c) = (e / 784, (e / 28) % 28, e % 28);
                let v = ((r as f64 * 0.7 + s as f64).sin() * (c as f64 * 0.45 - s as f64 * 0.3).cos()).abs();
                if v > 0.35 {
                    v
                } else {
                    0.0
                }
            })
            .collect();
        let ys: Vec<usize> = (0..bsz).map(|i| (3 * i + 1) % 10).collect();
        let program = models::cnn_minibatch(bsz, CnnConfig::paper())?;
        let name = "paper CNN, batch 32";
        println!("== {name}: compiling the JIT minibatch program ==");
        compile_report(&program)?;
        println!();
        let y = one_hot(&ys, 10);
        let bound = program.bind(&[&xs, &y])?;
        let model = Cnn::paper();
        let halves = [
            models::cnn_minibatch(bsz / 2, CnnConfig::paper())?,
            models::cnn_minibatch(bsz - bsz / 2, CnnConfig::paper())?,
        ];
        let shards = models::bind_shards(&[&halves[0], &halves[1]], &xs, &y)?;
        let batch = Batch::new(Tensor::constant(vec![bsz, 784], xs.clone())?, ys)?;
        versus_runtime(name, &model, &batch, &bound, &shards, &model.init(0))?;
    }
    Ok(())
}
