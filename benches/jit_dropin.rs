//! The scalar JIT as a drop-in accelerator on data-driven losses: a corpus of losses written
//! once over `Scalar` (Gaussian NLL with a Huber branch, logistic, Poisson, least squares with
//! an L1 penalty, softmax regression; `fomoh-jit/tests/common/losses.rs`), compiled with
//! `compile_with_inputs` and bound to the data, against the runtime's generic path (the same
//! function over `HyperDual`/`HyperK`, the data as constants), in one run.
//!
//! `cargo bench --bench jit_dropin` (`FOMOH_DROPIN_N=1000,10000,100000` to change sizes,
//! `FOMOH_DROPIN_LOSSES=logistic,poisson` to pick losses). Prints, per loss and size: the
//! compile time (trace, reroll or stage, Cranelift: until every mode has run once), whether
//! the program runs as a loop, and per mode the time per pass of each path and the ratio
//! runtime / JIT (above 1: the JIT is faster).

mod common;

#[path = "../fomoh-jit/tests/common/losses.rs"]
mod losses;

use fomoh::{HyperDual, HyperK, Scalar};
use std::time::{Duration, Instant};

fn time<R>(f: impl FnMut() -> R) -> f64 {
    common::time_median(5, Duration::from_millis(20), f)
}

fn lift<S: Scalar>(d: &[f64]) -> Vec<S> {
    d.iter().map(|&v| S::from_f64(v)).collect()
}

fn us(s: f64) -> String {
    format!("{:>10.1}", s * 1e6)
}

fn main() -> Result<(), fomoh::Error> {
    let sizes: Vec<usize> = std::env::var("FOMOH_DROPIN_N")
        .ok()
        .map(|s| s.split(',').filter_map(|t| t.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1000, 10000, 100000]);
    let pick: Option<Vec<String>> = std::env::var("FOMOH_DROPIN_LOSSES")
        .ok()
        .map(|s| s.split(',').map(|t| t.trim().to_string()).collect());
    println!(
        "{:<15} {:>7} {:>11} {:>6} {:>8} | {:>10} {:>10} {:>7} | {:>10} {:>10} {:>7} | {:>10} {:>10} {:>7} | {:>10} {:>10} {:>7}",
        "loss", "n", "compile ms", "loop", "variants",
        "value rt", "jit", "ratio", "hd rt", "jit", "ratio", "K=4 rt", "jit", "ratio", "K=8 rt", "jit", "ratio"
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
            b.hyperplane(&t, &d4)?;
            b.hyperplane(&t, &d8)?;
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
            let k4_jit = time(|| b.hyperplane(&t, &d4).unwrap());
            let k8_rt = time(|| fomoh::hyperplane(|w| losses::eval(name, w, &ex, &ey), &t, &d8).unwrap());
            let k8_jit = time(|| b.hyperplane(&t, &d8).unwrap());
            println!(
                "{:<15} {:>7} {:>11.1} {:>6} {:>8} | {} {} {:>6.2}x | {} {} {:>6.2}x | {} {} {:>6.2}x | {} {} {:>6.2}x",
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
            );
        }
    }
    println!("(times in µs per pass, median of 5 batches; ratio = runtime / JIT)");
    Ok(())
}
