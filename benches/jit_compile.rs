//! Compile time of the scalar JIT with and without instantiation from small traces
//! (`fomoh::jit::Options::instantiate`), side by side: the corpus of data-driven losses
//! (`fomoh-jit/tests/common/losses.rs`, `compile_with_inputs` + `bind`) and the generic
//! Rosenbrock through `compile`, and at the largest Rosenbrock size the time per pass of the
//! program against the hand-built tensor program (`fomoh::jit::tensor::models::rosenbrock`).
//!
//! Every measurement runs in a fresh process (this binary started again), so the process-wide
//! code cache never serves one configuration the other's code; the configurations alternate,
//! `REPS` times (default 3). Compile time: from the call to `compile*` until every mode
//! (value, hyper-dual, K = 4, K = 8) has run once ("all"); the call to `compile*` alone
//! ("call": tracing, or the small traces, the instantiation and its check); and "compile":
//! "all" less the time of a second run of every mode (what is not the passes' own work).
//!
//! `cargo bench --bench jit_compile` (`FOMOH_COMPILE_N=1000,10000,100000` data sizes,
//! `FOMOH_COMPILE_ROSENBROCK=1000000` Rosenbrock sizes, `FOMOH_DROPIN_LOSSES=logistic,...` to
//! pick losses, `REPS=5`).

mod common;

#[path = "../fomoh-jit/tests/common/losses.rs"]
mod losses;

use fomoh::jit::Options;
use fomoh::Objective;
use std::process::Command;
use std::time::{Duration, Instant};

/// The numbers printed by a run traced in full and by an instantiated run.
type Pair = (Vec<String>, Vec<String>);

/// The variable that makes a child process measure one configuration.
const ONE: &str = "FOMOH_COMPILE_ONE";

/// Compiles one configuration (`what` = loss name or `rosenbrock`) and prints
/// `compile_ms instantiated [hd_ms k4_ms k8_ms hand_hd hand_k4 hand_k8]`.
/// Runs every mode once (value, hyper-dual, K = 4, K = 8: compiling each on first use), then
/// once more; returns the ms from `t0` to the end of the first round, and the second round's.
fn rounds(o: &dyn Objective, x: &[f64], d: &[Vec<f64>], t0: Instant) -> Result<(f64, f64), fomoh::Error> {
    let round = || -> Result<(), fomoh::Error> {
        o.value(x)?;
        o.hyper_dual(x, &d[0], &d[1])?;
        o.project(x, &d[..4])?;
        o.project(x, d)?;
        Ok(())
    };
    round()?;
    let ms = t0.elapsed().as_secs_f64() * 1e3;
    let t1 = Instant::now();
    round()?;
    Ok((ms, t1.elapsed().as_secs_f64() * 1e3))
}

fn one(what: &str, n: usize, instantiate: bool) -> Result<(), fomoh::Error> {
    let options = Options { instantiate, ..Default::default() };
    if what == "rosenbrock" {
        let x: Vec<f64> = (0..n).map(|i| if i % 2 == 0 { -1.2 } else { 1.0 }).collect();
        let d: Vec<Vec<f64>> = (0..8).map(|j| common::direction(j, n)).collect();
        let t0 = Instant::now();
        let p = fomoh::jit::compile_with(n, common::rosenbrock, &options)?;
        let call = t0.elapsed().as_secs_f64() * 1e3;
        let (ms, again) = rounds(&p, &x, &d, t0)?;
        let inst = p.prepare(fomoh::jit::Mode::Primal)?.instantiated;
        let hand = fomoh::jit::tensor::models::rosenbrock(n)?;
        let batch = Duration::from_millis(100);
        let t = |f: &dyn Fn()| common::time_median(5, batch, f) * 1e3;
        let hd = t(&|| {
            std::hint::black_box(p.hyper_dual(&x, &d[0], &d[1]).unwrap());
        });
        let k4 = t(&|| drop(p.project(&x, &d[..4]).unwrap()));
        let k8 = t(&|| drop(p.project(&x, &d).unwrap()));
        let hhd = t(&|| {
            std::hint::black_box(hand.hyper_dual(&x, &d[0], &d[1]).unwrap());
        });
        let hk4 = t(&|| drop(hand.project(&x, &d[..4]).unwrap()));
        let hk8 = t(&|| drop(hand.project(&x, &d).unwrap()));
        println!("{ms} {inst} {call} {again} {hd} {k4} {k8} {hhd} {hk4} {hk8}");
        return Ok(());
    }
    let loss = losses::CORPUS.iter().find(|l| l.name == what).expect("a corpus loss");
    let (name, dim) = (loss.name, loss.dim);
    let (xs, ys) = losses::data(name, n, 1);
    let t = losses::theta0(dim);
    let d: Vec<Vec<f64>> = (0..8).map(|j| common::direction(j, dim)).collect();
    let t0 = Instant::now();
    let f = move |t: &[fomoh::jit::Tracer], d: &[&[fomoh::jit::Tracer]]| losses::eval(name, t, d[0], d[1]);
    let p = fomoh::jit::compile_with_inputs_opts(dim, &[n, ys.len()], f, &options)?;
    let call = t0.elapsed().as_secs_f64() * 1e3;
    let b = p.bind(&[&xs, &ys])?;
    let (ms, again) = rounds(&b, &t, &d, t0)?;
    let inst = p.prepare(fomoh::jit::Mode::Primal)?.instantiated;
    println!("{ms} {inst} {call} {again}");
    Ok(())
}

/// Runs one configuration in a fresh process and returns its printed numbers.
fn child(what: &str, n: usize, instantiate: bool) -> Vec<String> {
    let exe = std::env::current_exe().expect("the bench binary");
    let out = Command::new(exe)
        .env(ONE, format!("{what},{n},{instantiate}"))
        .output()
        .expect("the bench binary runs");
    assert!(out.status.success(), "{what} n={n}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_string).collect()
}

fn main() -> Result<(), fomoh::Error> {
    if let Ok(spec) = std::env::var(ONE) {
        let parts: Vec<&str> = spec.split(',').collect();
        let (n, inst) = (parts[1].parse().expect("a size"), parts[2] == "true");
        return one(parts[0], n, inst);
    }
    let reps: usize = std::env::var("REPS").ok().and_then(|r| r.parse().ok()).unwrap_or(3);
    let sizes = common::env_sizes("FOMOH_COMPILE_N", &[1000, 10000, 100000]);
    let rsizes = common::env_sizes("FOMOH_COMPILE_ROSENBROCK", &[1_000_000]);
    let pick: Option<Vec<String>> = std::env::var("FOMOH_DROPIN_LOSSES")
        .ok()
        .map(|s| s.split(',').map(|t| t.trim().to_string()).collect());
    let mut rows: Vec<(&str, usize)> = Vec::new();
    for loss in losses::CORPUS.iter().filter(|l| pick.as_ref().is_none_or(|p| p.iter().any(|q| q == l.name)))
    {
        rows.extend(sizes.iter().map(|&n| (loss.name, n)));
    }
    rows.extend(rsizes.iter().map(|&n| ("rosenbrock", n)));
    println!(
        "{:<15} {:>8} | {:>13} {:>11} {:>11} | {:>13} {:>11} {:>11} {:>5} | {:>11}",
        "function",
        "n",
        "full: all ms",
        "call",
        "compile",
        "inst: all ms",
        "call",
        "compile",
        "inst",
        "compile f/i"
    );
    for (what, n) in rows {
        let mut flag = String::new();
        let mut runs: Vec<Pair> = Vec::new();
        for _ in 0..reps {
            let a = child(what, n, false);
            let b = child(what, n, true);
            flag = b[1].clone();
            runs.push((a, b));
        }
        let num = |r: &Vec<String>, i: usize| r[i].parse::<f64>().unwrap_or(f64::NAN);
        // compile: until every mode has run once, less one more run of every mode
        let compile = |r: &Vec<String>| num(r, 0) - num(r, 3);
        let col = |f: &dyn Fn(&Pair) -> f64| runs.iter().map(f).collect::<Vec<f64>>();
        println!(
            "{:<15} {:>8} | {:>13} {:>11} {:>11} | {:>13} {:>11} {:>11} {:>5} | {:>11}",
            what,
            n,
            common::range(&col(&|(a, _)| num(a, 0)), 1),
            common::range(&col(&|(a, _)| num(a, 2)), 1),
            common::range(&col(&|(a, _)| compile(a)), 1),
            common::range(&col(&|(_, b)| num(b, 0)), 1),
            common::range(&col(&|(_, b)| num(b, 2)), 1),
            common::range(&col(&|(_, b)| compile(b)), 1),
            if flag == "true" { "yes" } else { "no" },
            common::range(&col(&|(a, b)| compile(a) / compile(b)), 1) + "x",
        );
        if what == "rosenbrock" {
            for (k, mode) in ["hyper-dual", "K = 4", "K = 8"].iter().enumerate() {
                let col = |r: &Vec<String>, i: usize| r[i].parse::<f64>().unwrap_or(f64::NAN);
                let f: Vec<f64> = runs.iter().map(|(a, _)| col(a, 4 + k) / col(a, 7 + k)).collect();
                let i: Vec<f64> = runs.iter().map(|(_, b)| col(b, 4 + k) / col(b, 7 + k)).collect();
                let ms: Vec<f64> = runs.iter().map(|(_, b)| col(b, 4 + k)).collect();
                println!(
                    "    {mode:<10} ms per pass (instantiated) {}; time / hand-built tensor program: full {}x, instantiated {}x",
                    common::range(&ms, 3),
                    common::range(&f, 2),
                    common::range(&i, 2)
                );
            }
        }
    }
    println!(
        "(ms; all: from the compile call until every mode ran once; call: the compile call alone; compile: all less a \
         second run of every mode; ranges over {reps} alternating runs, each in a fresh process)"
    );
    Ok(())
}
