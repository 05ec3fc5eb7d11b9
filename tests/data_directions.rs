//! FoMoH-KD with data directions (`FomohKd::data_directions`, `fomoh-kd:K+data`): the
//! directions' weights lie in the row space of the minibatch's inputs (where the gradient's
//! weights lie), the step is deterministic per seed and resumes bit-identically, checkpoints
//! without the setting load, bad uses are errors, and on the digits they train logistic
//! regression further than Gaussian directions at equal passes.

#[path = "bad_input_common/mod.rs"]
mod bad_input_common;
use bad_input_common::without_wall_time;

use fomoh::data::{minibatch_order, Batch, Dataset};
use fomoh::models::{evaluate, Activation, LogisticRegression, Minibatch, Mlp, Model};
use fomoh::optim::{Curvature, FomohKd, Optimizer};
use fomoh::tensor::Planes;
use fomoh::{objective, scalar_fn, Error, HyperDual, InputSpan, Objective, Projection, Scalar};
use std::cell::RefCell;
use std::process::{Command, Output};

/// A minibatch objective that records the directions of every projection.
struct Recorder<'a> {
    inner: Minibatch<'a>,
    dirs: RefCell<Vec<Vec<f64>>>,
}

impl Objective for Recorder<'_> {
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn value(&self, x: &[f64]) -> fomoh::Result<f64> {
        self.inner.value(x)
    }
    fn hyper_dual(&self, x: &[f64], v1: &[f64], v2: &[f64]) -> fomoh::Result<HyperDual<f64>> {
        self.inner.hyper_dual(x, v1, v2)
    }
    fn project(&self, x: &[f64], dirs: &[Vec<f64>]) -> fomoh::Result<Projection<f64>> {
        *self.dirs.borrow_mut() = dirs.to_vec();
        self.inner.project(x, dirs)
    }
    fn gradient(&self, x: &[f64]) -> Option<fomoh::Result<Vec<f64>>> {
        self.inner.gradient(x)
    }
    fn input_span(&self) -> Option<InputSpan<'_>> {
        self.inner.input_span()
    }
}

/// The directions of one FoMoH-KD step of `opt` from `theta` on `model` and `batch`.
fn directions_of(opt: &mut FomohKd, model: &dyn Model, batch: &Batch, theta: &[f64]) -> Vec<Vec<f64>> {
    let rec = Recorder { inner: Minibatch::new(model, batch).unwrap(), dirs: RefCell::new(Vec::new()) };
    opt.step(&rec, &mut theta.to_vec()).unwrap();
    rec.dirs.into_inner()
}

/// An orthonormal basis of the span of `rows` (modified Gram–Schmidt, twice).
fn basis(rows: &[&[f64]]) -> Vec<Vec<f64>> {
    let mut q: Vec<Vec<f64>> = Vec::new();
    for r in rows {
        let mut v = r.to_vec();
        let scale = norm(&v);
        for _ in 0..2 {
            for b in &q {
                let d: f64 = v.iter().zip(b).map(|(a, b)| a * b).sum();
                v.iter_mut().zip(b).for_each(|(a, b)| *a -= d * b);
            }
        }
        let n = norm(&v);
        if n > 1e-10 * scale.max(1e-300) {
            q.push(v.iter().map(|a| a / n).collect());
        }
    }
    q
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|a| a * a).sum::<f64>().sqrt()
}

/// The largest relative residual, over the `out` columns of the `inputs × out` weight block
/// of `v` (row-major at offset 0), of the projection onto the span of `q`.
fn worst_residual(v: &[f64], inputs: usize, out: usize, q: &[Vec<f64>]) -> f64 {
    (0..out)
        .map(|o| {
            let mut w: Vec<f64> = (0..inputs).map(|i| v[i * out + o]).collect();
            let n0 = norm(&w);
            for b in q {
                let d: f64 = w.iter().zip(b).map(|(a, b)| a * b).sum();
                w.iter_mut().zip(b).for_each(|(a, b)| *a -= d * b);
            }
            norm(&w) / n0
        })
        .fold(0.0, f64::max)
}

/// 32 digits (fewer samples than the 64 features, so the row space is a proper subspace).
fn small_batch() -> Batch {
    Dataset::digits().unwrap().head(32).unwrap()
}

#[test]
fn the_directions_weights_lie_in_the_row_space_of_the_inputs_as_the_gradients_do() {
    let batch = small_batch();
    let rows: Vec<&[f64]> = batch.x.re().chunks(64).collect();
    let q = basis(&rows);
    assert!(q.len() <= 32);
    let model = LogisticRegression::new(64, 10).unwrap();
    let theta = model.init(1);
    let mut data = FomohKd::new(6).data_directions(true).seed(2);
    let dirs = directions_of(&mut data, &model, &batch, &theta);
    assert_eq!(dirs.len(), 6);
    for d in &dirs {
        assert!(worst_residual(d, 64, 10, &q) < 1e-9, "a data direction leaves the row space");
        // Scaled to the length of a Gaussian tangent on the layer.
        assert!((norm(d) - (650f64).sqrt()).abs() < 1e-9);
    }
    let grad = Minibatch::new(&model, &batch).unwrap().gradient(&theta).unwrap().unwrap();
    assert!(worst_residual(&grad, 64, 10, &q) < 1e-9, "the gradient's weights are in the row space");
    // Gaussian directions are not (the check can fail).
    let mut gaussian = FomohKd::new(6).seed(2);
    for d in directions_of(&mut gaussian, &model, &batch, &theta) {
        assert!(worst_residual(&d, 64, 10, &q) > 0.3);
    }
}

#[test]
fn on_an_mlp_the_first_layer_is_in_the_span_and_the_rest_is_drawn_afresh() {
    let batch = small_batch();
    let q = basis(&batch.x.re().chunks(64).collect::<Vec<_>>());
    let model = Mlp::new(&[64, 8, 10], Activation::Tanh).unwrap();
    let first = 65 * 8;
    let theta = model.init(4);
    let mut opt = FomohKd::new(3).data_directions(true).seed(5);
    for d in directions_of(&mut opt, &model, &batch, &theta) {
        assert!(worst_residual(&d[..first], 64, 8, &q) < 1e-9);
        let rest = &d[first..];
        assert_eq!(rest.len(), 9 * 10);
        assert!(rest.iter().all(|v| *v != 0.0), "the second layer moves too");
    }
}

/// `steps` steps of `opt` over digits minibatches of 64 (seed 0's order), from `theta`.
fn run(opt: &mut FomohKd, model: &dyn Model, train: &Dataset, theta: &mut [f64], epochs: u64) {
    for epoch in 0..epochs {
        for idx in minibatch_order(train.len(), 64, 0, epoch).unwrap() {
            let batch = train.batch(&idx).unwrap();
            opt.step(&Minibatch::new(model, &batch).unwrap(), theta).unwrap();
        }
    }
}

#[test]
fn the_step_is_deterministic_per_seed_and_a_saved_run_resumes_bit_identically() {
    let (train, _) = Dataset::digits().unwrap().split(0.2, 0).unwrap();
    let train = train.subset(&(0..320).collect::<Vec<_>>()).unwrap();
    let model = LogisticRegression::new(64, 10).unwrap();
    let make = |seed| {
        FomohKd::new(4).curvature(Curvature::Damped).previous_step(true).data_directions(true).seed(seed)
    };
    let (mut a, mut b, mut c) = (make(7), make(7), make(8));
    let (mut ta, mut tb, mut tc) = (model.init(0), model.init(0), model.init(0));
    run(&mut a, &model, &train, &mut ta, 1);
    run(&mut b, &model, &train, &mut tb, 1);
    run(&mut c, &model, &train, &mut tc, 1);
    assert_eq!(ta, tb, "same seed, same bits");
    assert_ne!(ta, tc, "another seed, other directions");
    let saved = serde_json::to_string(&a).unwrap();
    let mut resumed: FomohKd = serde_json::from_str(&saved).unwrap();
    assert_eq!(resumed, a);
    assert!(resumed.uses_data_directions());
    let mut tr = ta.clone();
    run(&mut a, &model, &train, &mut ta, 2);
    run(&mut resumed, &model, &train, &mut tr, 2);
    assert_eq!(ta, tr);
}

#[test]
fn a_checkpoint_written_before_the_setting_existed_loads_without_it() {
    let opt = FomohKd::new(4).previous_step(true).seed(3);
    let mut v = serde_json::to_value(&opt).unwrap();
    assert!(v.as_object_mut().unwrap().remove("data_directions").is_some());
    let old: FomohKd = serde_json::from_value(v).unwrap();
    assert_eq!(old, opt);
    assert!(!old.uses_data_directions());
}

#[test]
fn an_objective_without_an_input_span_is_an_error_and_theta_is_unchanged() {
    fn f<S: Scalar>(x: &[S]) -> S {
        x.iter().map(|&v| v * v).sum()
    }
    let obj = objective(3, scalar_fn!(f));
    let mut x = vec![1.0; 3];
    let err = FomohKd::new(2).data_directions(true).step(&obj, &mut x).unwrap_err();
    assert!(matches!(err, Error::Unsupported(ref m) if m.contains("input span")), "{err}");
    assert_eq!(x, vec![1.0; 3]);
    // A span that does not fit the objective (6 parameters in 3) is refused.
    let inputs = [1.0; 4];
    let span = InputSpan::new(0, &inputs, 2, 2, 2).unwrap();
    assert!(matches!(fomoh::WithSpan::new(&obj, span), Err(Error::Shape(_))));
}

/// Train loss after `epochs` epochs of FoMoH-KD K = 4 (η = 0.4, the digits default) on the
/// digits' training split of `seed`, with or without data directions.
fn digits_loss(seed: u64, data: bool, epochs: u64) -> f64 {
    let (train, _) = Dataset::digits().unwrap().split(0.2, seed).unwrap();
    let model = LogisticRegression::new(64, 10).unwrap();
    let mut theta = model.init(seed);
    let mut opt = FomohKd::new(4).learning_rate(0.4).data_directions(data).seed(seed ^ 0xA5A5);
    for epoch in 0..epochs {
        for idx in minibatch_order(train.len(), 64, seed, epoch).unwrap() {
            let batch = train.batch(&idx).unwrap();
            opt.step(&Minibatch::new(&model, &batch).unwrap(), &mut theta).unwrap();
        }
    }
    evaluate(&model, &theta, &train, 1000).unwrap().loss
}

#[test]
fn on_the_digits_data_directions_train_further_than_gaussian_ones_at_equal_passes() {
    // Measured with `fomoh train` (3 epochs, K = 4, η = 0.4, seeds 0..5): Gaussian 1.16–1.28,
    // data directions 0.85–0.98.
    let (mut wins, mut sum_data, mut sum_gauss) = (0, 0.0, 0.0);
    let seeds = 0..5u64;
    for seed in seeds.clone() {
        let (d, g) = (digits_loss(seed, true, 3), digits_loss(seed, false, 3));
        wins += usize::from(d < g);
        sum_data += d;
        sum_gauss += g;
    }
    let n = seeds.count() as f64;
    let (d, g) = (sum_data / n, sum_gauss / n);
    assert!(wins >= 4, "data directions lower on {wins} of 5 seeds");
    assert!(d < 0.9 * g, "mean train loss {d} (data) against {g} (Gaussian)");
}

fn fomoh(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fomoh")).args(args).output().expect("run the fomoh binary")
}

fn one_line_error(args: &[&str]) -> String {
    let o = fomoh(args);
    assert!(!o.status.success(), "{args:?} should fail");
    let err = String::from_utf8(o.stderr).unwrap();
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    err
}

#[test]
fn bad_names_and_models_without_an_input_span_are_one_line_errors() {
    for (opt, want) in [
        ("fomoh-kd:4+bogus", "unknown suffix `+bogus`"),
        ("fomoh-kd:4+data+data", "`+data` given twice"),
        ("fomoh-kd:x+data", "bad K"),
    ] {
        let err = one_line_error(&["train", "--optimizer", opt, "--epochs", "1"]);
        assert!(err.contains(want), "{opt}: {err}");
    }
    let err = one_line_error(&["train", "--model", "cnn", "--optimizer", "fomoh-kd:2+data", "--epochs", "1"]);
    assert!(err.contains("+data") && err.contains("dense on the inputs"), "{err}");
}

#[test]
fn a_cli_run_with_data_directions_resumes_bit_identically_on_both_backends() {
    let dir = tempfile::tempdir().unwrap();
    let p = |s: &str| dir.path().join(s).to_str().unwrap().to_string();
    for backend in ["runtime", "jit"] {
        let (a, b, ck) =
            (p(&format!("{backend}-a")), p(&format!("{backend}-b")), p(&format!("{backend}.json")));
        let common = [
            "train",
            "--optimizer",
            "fomoh-kd:4:damped+prev+data,fomoh-kd:3+data",
            "--batch",
            "100",
            "--seed",
            "2",
            "--quiet",
            "--backend",
            backend,
        ];
        let run = |args: &[&str]| {
            let o = fomoh(&[&common[..], args].concat());
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        };
        run(&["--epochs", "3", "--out", &a]);
        run(&["--epochs", "1", "--out", &b, "--checkpoint", &ck]);
        run(&["--epochs", "3", "--out", &b, "--resume", &ck, "--checkpoint", &ck]);
        let read = |d: &str| std::fs::read_to_string(std::path::Path::new(d).join("train.csv")).unwrap();
        let (a, b) = (read(&a), read(&b));
        assert_eq!(a.lines().count(), 1 + 2 * 4);
        assert_eq!(without_wall_time(&a), without_wall_time(&b), "{backend}");
    }
}
