//! Models over hyper-dual tensors: the benchmark layouts against the independent reference
//! values, tensor passes against the scalar `HyperDual`/`HyperK` path, the one-pass
//! k-direction block against pairwise passes, backprop against forward mode, errors, and a
//! short forward-only training run.

use fomoh::data::{minibatch_order, Batch, Dataset};
use fomoh::models::{evaluate, Activation, Cnn, CnnConfig, LogisticRegression, Minibatch, Mlp, Model};
use fomoh::tensor::{Params, Planes, Tensor};
use fomoh::{Error, HyperDual, HyperK, Objective, Scalar};

const REFERENCE: &str = include_str!("data/benchmark_reference_f64.json");

/// `u_j[i] = sin((i + 1) sqrt(j + 2))` (BENCHMARKS.md).
fn bench_dir(j: usize, n: usize) -> Vec<f64> {
    (0..n).map(|i| ((i + 1) as f64 * ((j + 2) as f64).sqrt()).sin()).collect()
}

/// `theta_k = 0.1 sin(k + 1)`.
fn bench_theta(n: usize) -> Vec<f64> {
    (0..n).map(|k| 0.1 * ((k + 1) as f64).sin()).collect()
}

fn close(a: f64, b: f64, rtol: f64) -> bool {
    (a - b).abs() <= rtol * (1.0 + a.abs().max(b.abs()))
}

fn check_reference(key: &str, model: &dyn Model, batch: &Batch) {
    let json: serde_json::Value = serde_json::from_str(REFERENCE).unwrap();
    let r = &json["problems"][key];
    let n = model.num_params();
    assert_eq!(r["n"].as_u64().unwrap() as usize, n, "{key}: parameter count");
    let theta = bench_theta(n);
    let obj = Minibatch::new(model, batch).unwrap();
    let hd1: Vec<f64> = r["hd1"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let hd = obj.hyper_dual(&theta, &bench_dir(0, n), &bench_dir(1, n)).unwrap();
    for (got, want) in [hd.re, hd.e1, hd.e2, hd.e12].iter().zip(&hd1) {
        assert!(close(*got, *want, 1e-11), "{key} hd1: {got} vs {want}");
    }
    let dirs: Vec<Vec<f64>> = (0..4).map(|j| bench_dir(j, n)).collect();
    let (p, passes) = obj.hyperplane(&theta, &dirs).unwrap();
    assert_eq!(passes, 1);
    assert!(close(p.value, r["f"].as_f64().unwrap(), 1e-11));
    for i in 0..4 {
        assert!(close(p.grad[i], r["g"][i].as_f64().unwrap(), 1e-11), "{key} g[{i}]");
        for j in 0..4 {
            let want = r["H"][i][j].as_f64().unwrap();
            assert!(close(p.hess[i][j], want, 1e-10), "{key} H[{i}][{j}]: {} vs {want}", p.hess[i][j]);
        }
    }
}

#[test]
fn mlp_benchmark_layout_matches_reference() {
    let digits = Dataset::digits().unwrap();
    let model = Mlp::new(&[64, 32, 10], Activation::Tanh).unwrap();
    check_reference("mlp_64_32_10_b256", &model, &digits.head(256).unwrap());
}

#[test]
fn logreg_benchmark_layout_matches_reference() {
    let digits = Dataset::digits().unwrap();
    let model = LogisticRegression::new(64, 10).unwrap();
    check_reference("logreg_64_10_b1797", &model, &digits.head(1797).unwrap());
}
