//! One FoMoH-KD step on the paper's MNIST models: ours (compiled from the models' one
//! definition, f32 kernels; and the eager runtime in f64) side by side with the paper's own
//! PyTorch library in the same run, plus the flop rate of our compiled step against a large
//! single-precision GEMM on this machine (the practical ceiling of the step's matrix products).
//!
//! ```text
//! cargo bench --bench paper_step                    # ours only
//! FOMOH_PEERS_PYTHON=/path/to/venv/bin/python cargo bench --bench paper_step   # + the paper's code
//! ```
//!
//! Environment: `FOMOH_MNIST` (default `../shared/data/mnist` beside the repository),
//! `FOMOH_PEERS` (default `../shared/peers`: `step_times.py` and `sri-fomoh/`),
//! `KS` (default `2,4,8`), `MODELS` (default `logreg,mlp,cnn`), `REPS` (default 3: our step
//! and the paper's alternate `REPS` times; ranges are over the repetitions).
//!
//! Models and batches as the paper's code (`step_times.py`): logistic regression 784→10 and
//! the MLP 784-100-10 ReLU at B = 2048, the paper's CNN at B = 256, pixels normalised as
//! `(x - 0.1307) / 0.3081`. The paper's time is the faster of its sequential and vectorised
//! K(K+1)/2 hyper-dual passes; ours is one compiled K-direction pass, the K×K solve and the
//! update.

mod common;

use fomoh::data::{mnist, Batch, Dataset};
use fomoh::models::{Activation, Cnn, LogisticRegression, Minibatch, Mlp, Model};
use fomoh::optim::{FomohKd, Optimizer};
use fomoh::tensor::{Planes, Tensor};
use fomoh::Objective;
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn beside_repo(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

/// The first `b` training images, normalised as the paper's scripts do.
fn batch(train: &Dataset, b: usize) -> Batch {
    let head = train.head(b).expect("enough MNIST samples");
    let x: Vec<f64> = head.x.re().iter().map(|&p| (p - 0.1307) / 0.3081).collect();
    Batch::new(Tensor::constant(vec![b, 784], x).expect("shape"), head.labels.clone()).expect("batch")
}

/// Median and the whole sample of `f`'s wall time in ms (at least 3 runs, up to `budget` s).
fn time_ms(budget: f64, mut f: impl FnMut()) -> f64 {
    f();
    let (start, mut v) = (Instant::now(), Vec::new());
    while (v.len() < 3 || start.elapsed().as_secs_f64() < budget) && v.len() < 25 {
        let t = Instant::now();
        f();
        v.push(t.elapsed().as_secs_f64() * 1e3);
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The paper library's step time (ms, the faster of its two forms) for `model` at `k`, or
/// `None` (with the reason printed) if the peers' Python is not set up.
fn paper_ms(python: &str, peers: &Path, mnist_dir: &str, model: &str, k: usize) -> Option<f64> {
    let out = Command::new(python)
        .arg(peers.join("step_times.py"))
        .arg(peers.join("sri-fomoh"))
        .arg(mnist_dir)
        .arg(model)
        .env("KS", k.to_string())
        .output();
    let out = match out {
        Ok(o) if o.status.success() => o,
        Ok(o) => {
            eprintln!(
                "step_times.py failed: {}",
                String::from_utf8_lossy(&o.stderr).lines().last().unwrap_or("")
            );
            return None;
        }
        Err(e) => {
            eprintln!("cannot run {python}: {e}");
            return None;
        }
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 4 && f[0] == model && f[2] == k.to_string())
                .then(|| f[3].parse::<f64>().ok())
                .flatten()
        })
        .min_by(f64::total_cmp)
}

/// Flops of the matrix products of one K-direction pass of a dense layer `[b, i] × [i, o]`
/// whose input carries `lanes_in` planes (1: data) and whose weight carries `1 + k` (θ and
/// its K tangents): the product rule's plane products.
fn dense_flops(b: usize, i: usize, o: usize, k: usize, input_active: bool) -> f64 {
    let s = k * (k + 1) / 2;
    let products = if input_active { (1 + k + s) + k + k * k } else { 1 + k };
    2.0 * (b * i * o) as f64 * products as f64
}

/// The matrix-product flops of one K-direction pass of `name` at batch `b`.
fn model_flops(name: &str, b: usize, k: usize) -> f64 {
    match name {
        "logreg" => dense_flops(b, 784, 10, k, false),
        "mlp" => dense_flops(b, 784, 100, k, false) + dense_flops(b, 100, 10, k, true),
        _ => {
            // conv1 [20, 25] × [25, b·576], conv2 [50, 500] × [500, b·64], fc 800→500→10
            dense_flops(b * 576, 25, 20, k, false)
                + dense_flops(b * 64, 500, 50, k, true)
                + dense_flops(b, 800, 500, k, true)
                + dense_flops(b, 500, 10, k, true)
        }
    }
}

/// GFLOP/s of a large square f32 GEMM through the same crate the compiled programs use, its
/// columns split over the rayon pool as the compiled programs split their products.
fn gemm_ceiling() -> f64 {
    let n = 1024;
    let (a, b) = (vec![0.5f32; n * n], vec![0.25f32; n * n]);
    let mut c = vec![0f32; n * n];
    let parts = rayon::current_num_threads().max(1);
    let ms = time_ms(2.0, || {
        let c_ptr = c.as_mut_ptr() as usize;
        (0..parts).into_par_iter().for_each(|p| {
            let (j0, j1) = (n * p / parts, n * (p + 1) / parts);
            // SAFETY: the parts write disjoint column ranges of `c`; strides stay in bounds.
            unsafe {
                matrixmultiply::sgemm(
                    n,
                    n,
                    j1 - j0,
                    1.0,
                    a.as_ptr(),
                    n as isize,
                    1,
                    b.as_ptr().add(j0),
                    n as isize,
                    1,
                    0.0,
                    (c_ptr as *mut f32).add(j0),
                    n as isize,
                    1,
                )
            }
        });
    });
    2.0 * (n * n * n) as f64 / (ms * 1e-3) / 1e9
}

fn main() {
    let mnist_dir = env_or("FOMOH_MNIST", &beside_repo("shared/data/mnist").to_string_lossy());
    let peers =
        std::env::var("FOMOH_PEERS").map(PathBuf::from).unwrap_or_else(|_| beside_repo("shared/peers"));
    let python = std::env::var("FOMOH_PEERS_PYTHON").ok();
    let ks: Vec<usize> = env_or("KS", "2,4,8").split(',').filter_map(|s| s.trim().parse().ok()).collect();
    let models: Vec<String> = env_or("MODELS", "logreg,mlp,cnn").split(',').map(str::to_string).collect();
    let reps: usize = env_or("REPS", "3").parse().unwrap_or(3).max(1);
    let (train, _) = match mnist::load(&mnist_dir) {
        Ok(d) => d,
        Err(e) => {
            println!("MNIST not found at {mnist_dir} ({e}); set FOMOH_MNIST");
            return;
        }
    };
    let ceiling = gemm_ceiling();
    println!("# One FoMoH-KD step on MNIST: ours (compiled, f32; eager runtime, f64) vs the paper's code");
    println!(
        "\nlarge f32 GEMM (1024³, matrixmultiply, columns split over {} rayon threads): {ceiling:.0} GFLOP/s; paper code: {}\n",
        rayon::current_num_threads(),
        if python.is_some() { "torch, 2 threads, float32" } else { "not run (set FOMOH_PEERS_PYTHON)" }
    );
    println!("| model, batch | K | paper code ms | ours compiled f32 ms | speed-up | ours eager f64 ms | GEMM GFLOP/s (share of ceiling) |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for name in &models {
        let (model, b): (Box<dyn Model>, usize) = match name.as_str() {
            "logreg" => (Box::new(LogisticRegression::new(784, 10).expect("model")), 2048),
            "mlp" => (Box::new(Mlp::new(&[784, 100, 10], Activation::Relu).expect("model")), 2048),
            "cnn" => (Box::new(Cnn::paper()), 256),
            other => {
                println!("unknown model {other}");
                continue;
            }
        };
        let data = batch(&train, b);
        let compiled = fomoh::jit::compile_model(model.as_ref(), b).expect("compiles").with_float::<f32>();
        let obj = compiled.bind(&data).expect("binds");
        let eager = Minibatch::new(model.as_ref(), &data).expect("batch fits");
        let theta0 = model.init(0);
        for &k in &ks {
            let (mut ours, mut theirs, mut eag) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..reps {
                let mut opt = FomohKd::new(k).learning_rate(1e-3);
                let mut theta = theta0.clone();
                ours.push(time_ms(2.0, || {
                    opt.step(&obj, &mut theta).expect("step");
                }));
                if name != "cnn" || k <= 4 {
                    let mut theta = theta0.clone();
                    eag.push(time_ms(2.0, || {
                        opt.step(&eager as &dyn Objective, &mut theta).expect("step");
                    }));
                }
                if let Some(py) = &python {
                    if name != "cnn" || k <= 4 {
                        theirs.extend(paper_ms(py, &peers, &mnist_dir, name, k));
                    }
                }
            }
            let speed: Vec<f64> = if theirs.len() == ours.len() {
                theirs.iter().zip(&ours).map(|(t, o)| t / o).collect()
            } else {
                Vec::new()
            };
            let best = ours.iter().copied().fold(f64::INFINITY, f64::min);
            let gf = model_flops(name, b, k) / (best * 1e-3) / 1e9;
            println!(
                "| {name}, {b} | {k} | {} | {} | {}× | {} | {gf:.0} ({:.0}%) |",
                common::range(&theirs, 3),
                common::range(&ours, 3),
                common::range(&speed, 3),
                common::range(&eag, 3),
                100.0 * gf / ceiling
            );
        }
    }
}
