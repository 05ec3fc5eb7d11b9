//! The scalar JIT as a drop-in accelerator on data-driven losses: a corpus of losses written
//! once over `Scalar` (Gaussian NLL with a Huber branch, logistic, Poisson, least squares with
//! an L1 penalty, softmax regression; `fomoh-jit/tests/common/losses.rs`), compiled with
//! `compile_with_inputs` and bound to the data, against the runtime's generic path (the same
//! function over `HyperDual`/`HyperK`, the data as constants) and against `#[fomoh]` (the
//! losses restated in the macro's `f64` dialect below, data passive: `name::objective`), in
//! one run.
//!
//! `cargo bench --bench jit_dropin` (`FOMOH_DROPIN_N=1000,10000,100000` to change sizes,
//! `FOMOH_DROPIN_LOSSES=logistic,poisson` to pick losses). Prints, per loss and size: the
//! compile time (trace, reroll or stage, Cranelift: until every mode has run once), whether
//! the program runs as a loop, and per mode the time per pass of each path and the ratio
//! runtime / JIT (above 1: the JIT is faster); then, for hyper-dual and K = 4, `#[fomoh]`'s
//! time and the ratio macro / JIT.

mod common;

#[path = "../fomoh-jit/tests/common/losses.rs"]
mod losses;

use fomoh::{fomoh, HyperDual, HyperK, Objective};
use losses::lift;
use std::time::{Duration, Instant};

// The corpus in `#[fomoh]`'s dialect (plain f64 code; `t` active, the data passive). Same
// functions as `losses.rs` (checked against it at the start of each row).

#[fomoh(wrt(t))]
fn m_gaussian_huber(t: &[f64], xs: &[f64], ys: &[f64]) -> f64 {
    let c = 1.345;
    let inv_s = (-t[2]).exp();
    let mut s = 0.0;
    for i in 0..xs.len() {
        let r = (ys[i] - t[0] - t[1] * xs[i]) * inv_s;
        if r.abs() > c {
            s += c * (r.abs() - 0.5 * c);
        } else {
            s += 0.5 * r * r;
        }
    }
    s + t[2] * xs.len() as f64
}

#[fomoh(wrt(t))]
fn m_logistic(t: &[f64], xs: &[f64], ys: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..xs.len() {
        s += (1.0 + (-(ys[i] * (t[0] + t[1] * xs[i]))).exp()).ln();
    }
    s
}

#[fomoh(wrt(t))]
fn m_poisson(t: &[f64], xs: &[f64], ys: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..xs.len() {
        let eta = t[0] + t[1] * xs[i];
        s += eta.exp() - ys[i] * eta;
    }
    s
}

#[fomoh(wrt(t))]
fn m_lasso(t: &[f64], xs: &[f64], ys: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..xs.len() {
        let r = ys[i] - t[0] - t[1] * xs[i] - t[2] * xs[i] * xs[i];
        s += r * r;
    }
    s + 0.1 * (t[0].abs() + t[1].abs() + t[2].abs())
}

#[fomoh(wrt(t))]
fn m_softmax(t: &[f64], xs: &[f64], ys: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..xs.len() {
        let (l0, l1, l2) = (t[0] + t[1] * xs[i], t[2] + t[3] * xs[i], t[4] + t[5] * xs[i]);
        let m = l0.max(l1).max(l2);
        let lse = m + ((l0 - m).exp() + (l1 - m).exp() + (l2 - m).exp()).ln();
        s += lse - (ys[3 * i] * l0 + ys[3 * i + 1] * l1 + ys[3 * i + 2] * l2);
    }
    s
}

/// The `#[fomoh]` objective of the corpus loss `name` on the data.
fn macro_objective<'a>(name: &str, dim: usize, xs: &'a [f64], ys: &'a [f64]) -> Box<dyn Objective + 'a> {
    match name {
        "gaussian-huber" => Box::new(m_gaussian_huber::objective(dim, xs, ys)),
        "logistic" => Box::new(m_logistic::objective(dim, xs, ys)),
        "poisson" => Box::new(m_poisson::objective(dim, xs, ys)),
        "lasso" => Box::new(m_lasso::objective(dim, xs, ys)),
        "softmax" => Box::new(m_softmax::objective(dim, xs, ys)),
        other => panic!("no loss named {other}"),
    }
}

fn time<R>(f: impl FnMut() -> R) -> f64 {
    common::time_median(5, Duration::from_millis(20), f)
}

fn us(s: f64) -> String {
    format!("{:>10.1}", s * 1e6)
}

fn main() -> Result<(), fomoh::Error> {
    let sizes = common::env_sizes("FOMOH_DROPIN_N", &[1000, 10000, 100000]);
    let pick: Option<Vec<String>> = std::env::var("FOMOH_DROPIN_LOSSES")
        .ok()
        .map(|s| s.split(',').map(|t| t.trim().to_string()).collect());
    println!(
        "{:<15} {:>7} {:>11} {:>6} {:>8} | {:>10} {:>10} {:>7} | {:>10} {:>10} {:>7} | {:>10} {:>10} {:>7} | {:>10} {:>10} {:>7} | {:>10} {:>7} {:>10} {:>7}",
        "loss", "n", "compile ms", "loop", "variants",
        "value rt", "jit", "ratio", "hd rt", "jit", "ratio", "K=4 rt", "jit", "ratio", "K=8 rt", "jit", "ratio",
        "hd macro", "m/jit", "K=4 macro", "m/jit"
    );
    for loss in losses::CORPUS.iter().filter(|l| pick.as_ref().is_none_or(|p| p.iter().any(|q| q == l.name)))
    {
        for &n in &sizes {
            let name = loss.name;
            let (xs, ys) = losses::data(name, n, 1);
            let t = losses::theta0(loss.dim);
            let dirs: Vec<Vec<f64>> = (0..8).map(|j| common::direction(j, loss.dim)).collect();
            let d4: [Vec<f64>; 4] = core::array::from_fn(|j| dirs[j].clone());
            let d8: [Vec<f64>; 8] = core::array::from_fn(|j| dirs[j].clone());

            let t0 = Instant::now();
            let p = fomoh::jit::compile_with_inputs(loss.dim, &[n, ys.len()], move |t, d| {
                losses::eval(name, t, d[0], d[1])
            })?;
            let b = p.bind(&[&xs, &ys])?;
            b.value(&t)?;
            b.hyper_dual(&t, &dirs[0], &dirs[1])?;
            b.project(&t, &d4)?;
            b.project(&t, &d8)?;
            let compile_ms = t0.elapsed().as_secs_f64() * 1e3;

            let (fx, fy) = (xs.clone(), ys.clone());
            let (hx, hy) = (lift::<HyperDual<f64>>(&xs), lift::<HyperDual<f64>>(&ys));
            let (kx, ky) = (lift::<HyperK<f64, 4>>(&xs), lift::<HyperK<f64, 4>>(&ys));
            let (ex, ey) = (lift::<HyperK<f64, 8>>(&xs), lift::<HyperK<f64, 8>>(&ys));
            // interleaved: runtime, then JIT, per mode
            let v_rt = time(|| losses::eval(name, &t, &fx, &fy));
            let v_jit = time(|| b.value(&t).unwrap());
            let h_rt = time(|| {
                fomoh::hyper_dual(|w| losses::eval(name, w, &hx, &hy), &t, &dirs[0], &dirs[1]).unwrap()
            });
            let h_jit = time(|| b.hyper_dual(&t, &dirs[0], &dirs[1]).unwrap());
            let k4_rt = time(|| fomoh::hyperplane(|w| losses::eval(name, w, &kx, &ky), &t, &d4).unwrap());
            let k4_jit = time(|| b.project(&t, &d4).unwrap());
            let k8_rt = time(|| fomoh::hyperplane(|w| losses::eval(name, w, &ex, &ey), &t, &d8).unwrap());
            let k8_jit = time(|| b.project(&t, &d8).unwrap());
            let mo = macro_objective(name, loss.dim, &xs, &ys);
            let (hm, hj) = (mo.hyper_dual(&t, &dirs[0], &dirs[1])?, b.hyper_dual(&t, &dirs[0], &dirs[1])?);
            assert!(
                (hm.e12 - hj.e12).abs() <= 1e-9 * hm.e12.abs().max(1.0),
                "{name}: macro {hm:?} vs JIT {hj:?}"
            );
            let h_m = time(|| mo.hyper_dual(&t, &dirs[0], &dirs[1]).unwrap());
            let k4_m = time(|| mo.project(&t, &dirs[..4]).unwrap());
            println!(
                "{:<15} {:>7} {:>11.1} {:>6} {:>8} | {} {} {:>6.2}x | {} {} {:>6.2}x | {} {} {:>6.2}x | {} {} {:>6.2}x | {} {:>6.2}x {} {:>6.2}x",
                name,
                n,
                compile_ms,
                if p.is_rerolled() { "yes" } else { "no" },
                p.variants(),
                us(v_rt),
                us(v_jit),
                v_rt / v_jit,
                us(h_rt),
                us(h_jit),
                h_rt / h_jit,
                us(k4_rt),
                us(k4_jit),
                k4_rt / k4_jit,
                us(k8_rt),
                us(k8_jit),
                k8_rt / k8_jit,
                us(h_m),
                h_m / h_jit,
                us(k4_m),
                k4_m / k4_jit,
            );
        }
    }
    println!("(times in µs per pass, median of 5 batches; ratio = runtime / JIT; m/jit = #[fomoh] / JIT)");
    Ok(())
}
