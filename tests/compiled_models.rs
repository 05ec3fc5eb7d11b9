//! Models written once: every model (the three built-in ones and a user's model from
//! `examples/user_model.rs`) runs eagerly and compiled from its one `Model::forward`, and the
//! two agree in every mode (value, jet, hyper-dual, K = 1..16 directions) to 1e-12 (f64).
//! The eager path is itself checked against independent references in `tests/models.rs`.

#[path = "../examples/user_model.rs"]
mod user_model;

use fomoh::data::{Batch, Dataset};
use fomoh::jit::compile_model;
use fomoh::models::{Activation, Cnn, CnnConfig, LogisticRegression, Minibatch, Mlp, Model};
use fomoh::tensor::Tensor;
use fomoh::{Error, Objective};

/// Directions with entries in [-0.5, 0.5), seeded.
fn dirs(n: usize, k: usize, seed: usize) -> Vec<Vec<f64>> {
    (0..k)
        .map(|j| (0..n).map(|i| (((i + 1) * (2 * j + 3) + 7 * seed) % 97) as f64 / 97.0 - 0.5).collect())
        .collect()
}

fn close(what: &str, a: f64, b: f64) {
    assert!((a - b).abs() <= 1e-12 * (1.0 + a.abs().max(b.abs())), "{what}: eager {a} vs compiled {b}");
}

/// Eager and compiled agree on `batch` in every mode, for K in `ks`.
fn agree(model: &dyn Model, batch: &Batch, ks: &[usize]) {
    let name = model.name();
    let theta = model.init(3);
    let n = model.num_params();
    let eager = Minibatch::new(model, batch).unwrap();
    let compiled = compile_model(model, batch.len()).unwrap();
    let obj = compiled.bind(batch).unwrap();
    assert_eq!(obj.dim(), n);
    close(&format!("{name} value"), eager.value(&theta).unwrap(), obj.value(&theta).unwrap());
    let d = dirs(n, 2, 1);
    let (a, b) =
        (eager.hyper_dual(&theta, &d[0], &d[1]).unwrap(), obj.hyper_dual(&theta, &d[0], &d[1]).unwrap());
    for (lane, x, y) in [("re", a.re, b.re), ("e1", a.e1, b.e1), ("e2", a.e2, b.e2), ("e12", a.e12, b.e12)] {
        close(&format!("{name} hyper-dual {lane}"), x, y);
    }
    let (a, b) = (eager.directional(&theta, &d[0]).unwrap(), obj.directional(&theta, &d[0]).unwrap());
    for (lane, x, y) in [("re", a.re, b.re), ("d1", a.d1, b.d1), ("d2", a.d2, b.d2)] {
        close(&format!("{name} jet {lane}"), x, y);
    }
    for &k in ks {
        let d = dirs(n, k, k);
        let (pa, pb) = (eager.project(&theta, &d).unwrap(), obj.project(&theta, &d).unwrap());
        assert_eq!(pb.passes, 1, "{name}: one compiled pass for K = {k}");
        close(&format!("{name} K={k} value"), pa.value, pb.value);
        for i in 0..k {
            close(&format!("{name} K={k} F[{i}]"), pa.grad[i], pb.grad[i]);
            for j in 0..k {
                close(&format!("{name} K={k} H[{i}][{j}]"), pa.hess[i][j], pb.hess[i][j]);
            }
        }
    }
}

fn all_k() -> Vec<usize> {
    (1..=fomoh::MAX_K).collect()
}

#[test]
fn logistic_regression_eager_and_compiled_agree() {
    let batch = Dataset::digits().unwrap().head(48).unwrap();
    agree(&LogisticRegression::new(64, 10).unwrap(), &batch, &all_k());
}

#[test]
fn mlp_eager_and_compiled_agree_for_every_activation() {
    let batch = Dataset::digits().unwrap().head(40).unwrap();
    for act in [Activation::Tanh, Activation::Relu, Activation::Sigmoid] {
        agree(&Mlp::new(&[64, 12, 7, 10], act).unwrap(), &batch, &all_k());
    }
}

#[test]
fn cnn_eager_and_compiled_agree() {
    let digits = Dataset::digits().unwrap().with_sample_shape(vec![8, 8]).unwrap();
    let cfg = CnnConfig { height: 8, width: 8, conv1: 3, conv2: 4, kernel: 2, hidden: 6, classes: 10 };
    // chunks of 8 in the eager path; the compiled graph takes the batch whole
    let model = Cnn::new(cfg).unwrap().with_chunk_size(8);
    agree(&model, &digits.head(20).unwrap(), &all_k());
}

#[test]
fn paper_cnn_eager_and_compiled_agree() {
    // two 28×28 images (a smooth pattern), the paper's network (431 080 parameters)
    let x: Vec<f64> = (0..2 * 784).map(|i| ((i as f64) * 0.37).sin()).collect();
    let batch = Batch::new(Tensor::constant(vec![2, 784], x).unwrap(), vec![3, 8]).unwrap();
    agree(&Cnn::paper(), &batch, &[1, 4]);
}

#[test]
fn user_model_eager_and_compiled_agree() {
    let batch = Dataset::digits().unwrap().head(30).unwrap();
    let model = user_model::SkipNet { inputs: 64, hidden: 9, classes: 10 };
    agree(&model, &batch, &all_k());
    user_model::main().unwrap();
}

#[test]
fn f32_kernels_keep_an_f64_interface() {
    let batch = Dataset::digits().unwrap().head(64).unwrap();
    let model = Mlp::new(&[64, 16, 10], Activation::Relu).unwrap();
    let theta = model.init(1);
    let compiled = compile_model(&model, batch.len()).unwrap();
    let (a, b) = (
        compiled.bind(&batch).unwrap().value(&theta).unwrap(),
        compiled.with_float::<f32>().bind(&batch).unwrap().value(&theta).unwrap(),
    );
    assert!((a - b).abs() < 1e-5 * a.abs(), "f64 {a} vs f32 {b}");
    assert_ne!(a, b, "the f32 program computes in f32");
}

#[test]
fn one_compiled_model_serves_every_minibatch_of_its_size() {
    let digits = Dataset::digits().unwrap();
    let model = LogisticRegression::new(64, 10).unwrap();
    let theta = model.init(5);
    let compiled = compile_model(&model, 16).unwrap();
    for start in [0, 16, 100] {
        let idx: Vec<usize> = (start..start + 16).collect();
        let batch = digits.batch(&idx).unwrap();
        let eager = Minibatch::new(&model, &batch).unwrap().value(&theta).unwrap();
        close("minibatch", eager, compiled.bind(&batch).unwrap().value(&theta).unwrap());
    }
}

#[test]
fn bad_batches_are_typed_errors_before_native_code() {
    let digits = Dataset::digits().unwrap();
    let model = LogisticRegression::new(64, 10).unwrap();
    let compiled = compile_model(&model, 16).unwrap();
    assert!(
        matches!(compiled.bind(&digits.head(15).unwrap()), Err(Error::Length { .. })),
        "wrong batch size"
    );
    let wide = Batch::new(Tensor::constant(vec![16, 65], vec![0.0; 16 * 65]).unwrap(), vec![0; 16]).unwrap();
    assert!(matches!(compiled.bind(&wide), Err(Error::Length { .. })), "wrong sample size");
    let bad_label =
        Batch::new(Tensor::constant(vec![16, 64], vec![0.0; 16 * 64]).unwrap(), vec![10; 16]).unwrap();
    assert!(matches!(compiled.bind(&bad_label), Err(Error::InvalidArgument(_))), "label out of range");
    assert!(compile_model(&model, 0).is_err(), "an empty batch");
    let head = digits.head(16).unwrap();
    let obj = compiled.bind(&head).unwrap();
    assert!(matches!(obj.value(&[0.0; 3]), Err(Error::Length { .. })), "wrong parameter count");
}

/// A model whose forward pass returns the wrong shape is refused by both paths.
#[derive(Debug)]
struct Truncated;

impl Model for Truncated {
    fn name(&self) -> String {
        "truncated".into()
    }
    fn blocks(&self) -> Vec<fomoh::models::Block> {
        vec![fomoh::models::Block { name: "w".into(), shape: vec![64, 10], fan_in: 64 }]
    }
    fn sample_size(&self) -> usize {
        64
    }
    fn classes(&self) -> usize {
        10
    }
    fn forward(&self, b: &mut dyn fomoh::nn::Backend, x: fomoh::nn::Var) -> fomoh::Result<fomoh::nn::Var> {
        let w = b.param(0, &[64, 9])?;
        b.matmul(x, w)
    }
}

#[test]
fn a_forward_pass_of_the_wrong_shape_is_an_error_in_both_paths() {
    let batch = Dataset::digits().unwrap().head(4).unwrap();
    let theta = Truncated.init(0);
    assert!(matches!(Minibatch::new(&Truncated, &batch).unwrap().value(&theta), Err(Error::Shape(_))));
    assert!(matches!(compile_model(&Truncated, 4), Err(Error::Shape(_))));
}
