//! JIT benchmark: scalar Rosenbrock (the generic function traced as is), compiled by the
//! JIT (rerolled into a fused tensor loop, the default, and as straight-line code with
//! `Options::reroll = false`) vs the runtime's operator-overloading path vs the plain `f64`
//! primal, in one run.
//!
//! `cargo bench --bench jit` (set `FOMOH_JIT_BENCH_N=100,1000,10000` to change sizes).
//! Prints the time per call, the ratios, and the compile time of every mode, and the JIT in
//! `f32` against the JIT in `f64` (straight-line code both) and the runtime in `f32`.
//!
//! Then the other rerolled shapes (rerolled vs straight-line vs runtime): a variance
//! written with a subtraction chain around a shared mean (nested sums) at
//! `FOMOH_JIT_BENCH_SHAPES_N` (default 10000) inputs, and a rectangular double sum (a
//! Gaussian kernel over all pairs) over `sqrt` of it (`n²` terms). `FOMOH_JIT_BENCH_N=` (empty)
//! runs only these.

mod common;

use common::rosenbrock;

use fomoh::prelude::*;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// A variance as a subtraction chain around a shared mean (itself a sum): two nested sums.
fn variance<S: Scalar>(x: &[S]) -> S {
    let n = S::from_f64(x.len() as f64);
    let m = x.iter().copied().sum::<S>() / n;
    x.iter().fold(S::zero(), |acc, &v| acc - (v - m).powi(2)) / -n
}

/// A Gaussian kernel sum over all pairs: a rectangular double sum.
fn kernel<S: Scalar>(x: &[S]) -> S {
    let n = x.len();
    (0..n).map(|i| (0..n).map(|j| (-(x[i] - x[j]).powi(2)).exp() * x[j]).sum::<S>()).sum()
}

fn direction(j: usize, n: usize) -> Vec<f64> {
    common::direction(j, n)
}

/// Median over 7 batches of the time per call; each batch runs at least 30 ms.
fn time<R>(f: impl FnMut() -> R) -> f64 {
    common::time_median(7, Duration::from_millis(30), f)
}

fn us(s: f64) -> String {
    format!("{:>10.2} µs", s * 1e6)
}

fn main() -> Result<(), fomoh::Error> {
    let sizes = common::env_sizes("FOMOH_JIT_BENCH_N", &[100, 1000]);
    let shapes_n: usize =
        std::env::var("FOMOH_JIT_BENCH_SHAPES_N").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(10000);
    for n in sizes {
        let x: Vec<f64> = (0..n).map(|i| if i % 2 == 0 { -1.2 } else { 1.0 }).collect();
        let dirs: Vec<Vec<f64>> = (0..8).map(|j| direction(j, n)).collect();
        let (v1, v2) = (&dirs[0], &dirs[1]);
        let d4: [Vec<f64>; 4] = core::array::from_fn(|j| dirs[j].clone());
        let d8: [Vec<f64>; 8] = core::array::from_fn(|j| dirs[j].clone());

        println!("== scalar Rosenbrock, n = {n} ==");
        let t0 = Instant::now();
        let p = fomoh::jit::compile(n, rosenbrock)?;
        println!("trace: {:.2} ms, {} traced nodes", t0.elapsed().as_secs_f64() * 1e3, p.graph().nodes.len());
        // the same trace as straight-line code (rerolling off)
        let straight = fomoh::jit::Options { reroll: false, ..fomoh::jit::Options::default() };
        let q = fomoh::jit::compile_with(n, rosenbrock, &straight)?;
        println!("rerolled: {} (straight-line program: {})", p.is_rerolled(), q.is_rerolled());
        println!(
            "{:<12} {:<10} {:>12} {:>12} {:>12} {:>10}",
            "mode", "program", "staged nodes", "stage ms", "codegen ms", "functions"
        );
        for (name, mode) in [
            ("primal", fomoh::jit::Mode::Primal),
            ("hyper-dual", fomoh::jit::Mode::HyperDual),
            ("jet", fomoh::jit::Mode::Jet),
            ("K=4", fomoh::jit::Mode::HyperK(4)),
            ("K=8", fomoh::jit::Mode::HyperK(8)),
        ] {
            for (which, prog) in [("rerolled", &p), ("straight", &q)] {
                let s = prog.prepare(mode)?;
                println!(
                    "{:<12} {:<10} {:>12} {:>12.2} {:>12.2} {:>10}",
                    name,
                    if s.rerolled { which } else { "straight" },
                    s.staged_nodes,
                    s.stage_time.as_secs_f64() * 1e3,
                    s.codegen_time.as_secs_f64() * 1e3,
                    s.functions
                );
            }
        }
        // check against the runtime before timing
        let rt = fomoh::hyper_dual(rosenbrock, &x, v1, v2)?;
        for prog in [&p, &q] {
            let hd = prog.hyper_dual(&x, v1, v2)?;
            assert!((hd.e12 - rt.e12).abs() <= 1e-12 * rt.e12.abs());
            assert!((hd.re - rt.re).abs() <= 1e-12 * rt.re.abs());
        }
        println!("check: f = {}, ∇f·v1 = {}, v1ᵀHv2 = {}", rt.re, rt.e1, rt.e12);

        let primal = time(|| rosenbrock(black_box(&x)));
        println!(
            "\n{:<12} {:>13} {:>13} {:>13} {:>10} {:>10} {:>12} {:>14}",
            "pass",
            "runtime",
            "jit rerolled",
            "jit straight",
            "rt/primal",
            "rer/primal",
            "rt/rerolled",
            "straight/rer"
        );
        let row = |name: &str, rt: f64, rer: f64, st: f64| {
            println!(
                "{:<12} {} {} {} {:>9.2}x {:>9.2}x {:>11.2}x {:>13.2}x",
                name,
                us(rt),
                us(rer),
                us(st),
                rt / primal,
                rer / primal,
                rt / rer,
                st / rer
            );
        };
        row(
            "primal",
            primal,
            time(|| p.value(black_box(&x)).unwrap()),
            time(|| q.value(black_box(&x)).unwrap()),
        );
        row(
            "hyper-dual",
            time(|| fomoh::hyper_dual(rosenbrock, black_box(&x), v1, v2).unwrap()),
            time(|| p.hyper_dual(black_box(&x), v1, v2).unwrap()),
            time(|| q.hyper_dual(black_box(&x), v1, v2).unwrap()),
        );
        row(
            "jet",
            time(|| fomoh::directional(rosenbrock, black_box(&x), v1).unwrap()),
            time(|| p.directional(black_box(&x), v1).unwrap()),
            time(|| q.directional(black_box(&x), v1).unwrap()),
        );
        row(
            "K=4",
            time(|| fomoh::hyperplane(rosenbrock, black_box(&x), &d4).unwrap()),
            time(|| p.project(black_box(&x), &d4).unwrap()),
            time(|| q.project(black_box(&x), &d4).unwrap()),
        );
        row(
            "K=8",
            time(|| fomoh::hyperplane(rosenbrock, black_box(&x), &d8).unwrap()),
            time(|| p.project(black_box(&x), &d8).unwrap()),
            time(|| q.project(black_box(&x), &d8).unwrap()),
        );
        println!(
            "(ratios against the plain f64 primal; 'rt/rerolled' = runtime / rerolled jit, \
             'straight/rer' = straight-line jit / rerolled jit)\n"
        );

        // f32 vs f64: the same straight-line trace compiled for f32 (rerolling is f64 only, so
        // both columns run straight-line code) and the runtime's f32 passes
        f32_vs_f64(&q, &x, &dirs)?;

        // code-generation settings of the straight-line path: Cranelift optimizer on/off,
        // segment size
        println!(
            "{:<28} {:>12} {:>12} {:>12}",
            "settings (hyper-dual, K=4)", "compile ms", "hd µs", "K=4 µs"
        );
        for (optimize, seg) in
            [(true, 8192), (false, 8192), (true, 256), (false, 1024), (false, 256), (false, 64)]
        {
            let o = fomoh::jit::Options {
                codegen: fomoh::jit::CodegenOptions { optimize, segment_nodes: seg },
                reroll: false,
                ..fomoh::jit::Options::default()
            };
            let q = fomoh::jit::compile_with(
                n,
                move |x| rosenbrock(x) * Scalar::from_f64(1.0 + seg as f64 * 1e-30),
                &o,
            )?;
            let c = q.prepare(fomoh::jit::Mode::HyperDual)?.codegen_time
                + q.prepare(fomoh::jit::Mode::HyperK(4))?.codegen_time;
            println!(
                "{:<28} {:>12.1} {} {}",
                format!("optimize={optimize}, segment={seg}"),
                c.as_secs_f64() * 1e3,
                us(time(|| q.hyper_dual(black_box(&x), v1, v2).unwrap())),
                us(time(|| q.project(black_box(&x), &d4).unwrap()))
            );
        }
        println!();
    }
    shape("variance (sub chain, nested mean)", &fomoh::scalar_fn!(variance), shapes_n)?;
    shape("kernel (rectangular double sum)", &fomoh::scalar_fn!(kernel), (shapes_n as f64).sqrt() as usize)?;
    Ok(())
}

/// One shape: the rerolled and the straight-line program of its trace against the runtime
/// (checked first), every mode.
fn shape<F: ScalarFn + Clone + Send + Sync + 'static>(
    name: &str,
    f: &F,
    n: usize,
) -> Result<(), fomoh::Error> {
    let x: Vec<f64> = (0..n).map(|i| 0.3 + 0.9 * ((i as f64) * 1.37).sin()).collect();
    let dirs: Vec<Vec<f64>> = (0..8).map(|j| direction(j, n)).collect();
    let (v1, v2) = (&dirs[0], &dirs[1]);
    let t0 = Instant::now();
    let p = fomoh::jit::compile_fn(n, f)?;
    let trace_ms = t0.elapsed().as_secs_f64() * 1e3;
    let straight = fomoh::jit::Options { reroll: false, ..fomoh::jit::Options::default() };
    let g = f.clone();
    let q = fomoh::jit::compile_with(n, move |t| g.eval(t), &straight)?;
    println!(
        "== {name}, n = {n}: {} traced nodes (trace {trace_ms:.1} ms), rerolled: {} ==",
        p.graph().nodes.len(),
        p.is_rerolled()
    );
    let rt = fomoh::hyper_dual(|t| f.eval(t), &x, v1, v2)?;
    for prog in [&p, &q] {
        let hd = prog.hyper_dual(&x, v1, v2)?;
        for (a, b) in [(hd.re, rt.re), (hd.e1, rt.e1), (hd.e2, rt.e2), (hd.e12, rt.e12)] {
            assert!((a - b).abs() <= 1e-10 * b.abs().max(1e-300), "{a} vs {b}");
        }
    }
    println!(
        "{:<12} {:>13} {:>13} {:>13} {:>12} {:>12} {:>14} {:>12}",
        "pass",
        "runtime",
        "jit rerolled",
        "jit straight",
        "rt/rerolled",
        "straight/rer",
        "compile rer",
        "compile st"
    );
    let modes: [(&str, fomoh::jit::Mode); 5] = [
        ("primal", fomoh::jit::Mode::Primal),
        ("hyper-dual", fomoh::jit::Mode::HyperDual),
        ("jet", fomoh::jit::Mode::Jet),
        ("K=4", fomoh::jit::Mode::HyperK(4)),
        ("K=8", fomoh::jit::Mode::HyperK(8)),
    ];
    for (mname, mode) in modes {
        let ms = |s: fomoh::jit::CompileStats| (s.stage_time + s.codegen_time).as_secs_f64() * 1e3;
        let (cr, cs) = (ms(p.prepare(mode)?), ms(q.prepare(mode)?));
        let k = match mode {
            fomoh::jit::Mode::HyperK(k) => k,
            _ => 0,
        };
        let run = |prog: &fomoh::jit::Program| match mode {
            fomoh::jit::Mode::Primal => time(|| prog.value(black_box(&x)).unwrap()),
            fomoh::jit::Mode::HyperDual => time(|| prog.hyper_dual(black_box(&x), v1, v2).unwrap()),
            fomoh::jit::Mode::Jet => time(|| prog.directional(black_box(&x), v1).unwrap()),
            _ => time(|| prog.project(black_box(&x), &dirs[..k]).unwrap()),
        };
        let rt = match mode {
            fomoh::jit::Mode::Primal => time(|| f.eval(black_box(&x[..]))),
            fomoh::jit::Mode::HyperDual => {
                time(|| fomoh::hyper_dual(|t| f.eval(t), black_box(&x), v1, v2).unwrap())
            }
            fomoh::jit::Mode::Jet => time(|| fomoh::directional(|t| f.eval(t), black_box(&x), v1).unwrap()),
            _ => time(|| fomoh_project(f, &x, &dirs[..k])),
        };
        let (rer, st) = (run(&p), run(&q));
        println!(
            "{:<12} {} {} {} {:>11.2}x {:>11.2}x {:>11.1} ms {:>9.1} ms",
            mname,
            us(rt),
            us(rer),
            us(st),
            rt / rer,
            st / rer,
            cr,
            cs
        );
    }
    println!("('rt/rerolled' = runtime / rerolled jit, 'straight/rer' = straight-line jit / rerolled jit)\n");
    Ok(())
}

/// The runtime's one-pass projection onto `dirs` (K <= 16).
fn fomoh_project<F: ScalarFn>(f: &F, x: &[f64], dirs: &[Vec<f64>]) -> Projection<f64> {
    fomoh::project(f, black_box(x), dirs).unwrap()
}

/// The straight-line program `q` compiled for `f32` against itself in `f64` and the runtime's
/// `f32` passes: time per call and ratios (after a check against the runtime in `f32`).
fn f32_vs_f64(q: &fomoh::jit::Program, x: &[f64], dirs: &[Vec<f64>]) -> Result<(), fomoh::Error> {
    let q32 = q.with_float::<f32>();
    let to32 = |v: &[f64]| v.iter().map(|&t| t as f32).collect::<Vec<f32>>();
    let x32 = to32(x);
    let (v1, v2) = (&dirs[0], &dirs[1]);
    let (w1, w2) = (to32(v1), to32(v2));
    let d4: [Vec<f64>; 4] = core::array::from_fn(|j| dirs[j].clone());
    let e4: [Vec<f32>; 4] = core::array::from_fn(|j| to32(&dirs[j]));
    let c = std::time::Instant::now();
    q32.prepare(fomoh::jit::Mode::HyperDual)?;
    let compile_ms = c.elapsed().as_secs_f64() * 1e3;
    let rt = fomoh::hyper_dual(rosenbrock, &x32, &w1, &w2)?;
    let hd = q32.hyper_dual(&x32, &w1, &w2)?;
    assert!((hd.e12 - rt.e12).abs() <= 1e-5 * rt.e12.abs(), "{hd:?} vs {rt:?}");
    assert!((hd.re - rt.re).abs() <= 1e-5 * rt.re.abs(), "{hd:?} vs {rt:?}");
    println!(
        "f32 (straight-line; hyper-dual compile {compile_ms:.1} ms): v1ᵀHv2 = {} (runtime f32 {})",
        hd.e12, rt.e12
    );
    println!(
        "{:<12} {:>13} {:>13} {:>13} {:>10} {:>12}",
        "pass", "jit f64", "jit f32", "runtime f32", "f64/f32", "rt32/jit32"
    );
    let row = |name: &str, j64: f64, j32: f64, r32: f64| {
        println!("{:<12} {} {} {} {:>9.2}x {:>11.2}x", name, us(j64), us(j32), us(r32), j64 / j32, r32 / j32);
    };
    row(
        "hyper-dual",
        time(|| q.hyper_dual(black_box(x), v1, v2).unwrap()),
        time(|| q32.hyper_dual(black_box(&x32), &w1, &w2).unwrap()),
        time(|| fomoh::hyper_dual(rosenbrock, black_box(&x32), &w1, &w2).unwrap()),
    );
    row(
        "jet",
        time(|| q.directional(black_box(x), v1).unwrap()),
        time(|| q32.directional(black_box(&x32), &w1).unwrap()),
        time(|| fomoh::directional(rosenbrock, black_box(&x32), &w1).unwrap()),
    );
    row(
        "K=4",
        time(|| q.project(black_box(x), &d4).unwrap()),
        time(|| q32.project(black_box(&x32), &e4).unwrap()),
        time(|| fomoh::hyperplane(rosenbrock, black_box(&x32), &e4).unwrap()),
    );
    println!("('f64/f32' = jit f64 time / jit f32 time; 'rt32/jit32' = runtime f32 / jit f32)\n");
    Ok(())
}
