//! The benchmark problems of `BENCHMARKS.md` as tensor programs: the extended Rosenbrock
//! function built directly, and the paper's models compiled from their one definition
//! ([`crate::compile_model`], [`crate::compile_model_for`]; the models themselves are
//! [`fomoh_runtime::models`]).

use super::{TensorBuilder, TensorProgram};
use crate::error::{JitError, JitResult};
use crate::model::{compile_model, compile_model_for};
use fomoh_runtime::data::Batch;
use fomoh_runtime::models::{Activation, Cnn, CnnConfig, LogisticRegression, Mlp, Model};
use fomoh_runtime::tensor::Tensor;
use fomoh_runtime::UnaryOp;

/// Extended (chained) Rosenbrock over `n >= 2` parameters: six tensor ops for any `n`.
pub fn rosenbrock(n: usize) -> JitResult<TensorProgram> {
    let mut b = TensorBuilder::new(n);
    let x = b.param(0, &[n])?;
    let (hi, lo) = (b.slice(x, 1, n)?, b.slice(x, 0, n - 1)?);
    let sq = b.mul(lo, lo)?;
    let d = b.sub(hi, sq)?;
    let d2 = b.unary(UnaryOp::Powi(2), d)?;
    let c100 = b.constant(100.0);
    let a = b.mul(c100, d2)?;
    let one = b.constant(1.0);
    let e = b.sub(one, lo)?;
    let e2 = b.unary(UnaryOp::Powi(2), e)?;
    let s = b.add(a, e2)?;
    let f = b.sum(s);
    b.finish(f)
}

/// A runtime error (model construction, batch checks) as the JIT's error of the same kind.
fn runtime_err(e: fomoh_runtime::Error) -> JitError {
    match e {
        fomoh_runtime::Error::Length { what, expected, found } => JitError::Length { what, expected, found },
        fomoh_runtime::Error::Unsupported(m) => JitError::Unsupported(m),
        other => JitError::Shape(other.to_string()),
    }
}

/// The activation of `op` (tanh, relu or sigmoid).
fn activation(op: UnaryOp) -> JitResult<Activation> {
    match op {
        UnaryOp::Tanh => Ok(Activation::Tanh),
        UnaryOp::Relu => Ok(Activation::Relu),
        UnaryOp::Sigmoid => Ok(Activation::Sigmoid),
        other => Err(JitError::Unsupported(format!(
            "{} as an MLP activation (tanh, relu or sigmoid)",
            other.name()
        ))),
    }
}

/// `model`'s loss on the features `x` (row-major, `[labels.len(), sample_size]`) and
/// `labels`, baked into the graph.
fn baked(model: &dyn Model, x: Vec<f64>, labels: &[usize]) -> JitResult<TensorProgram> {
    let rows = labels.len();
    let x = Tensor::constant(vec![rows, model.sample_size()], x).map_err(runtime_err)?;
    let batch = Batch::new(x, labels.to_vec()).map_err(runtime_err)?;
    compile_model_for(model, &batch).map_err(runtime_err)
}

/// Multinomial logistic regression `d -> c` ([`LogisticRegression`]) on `x` (`[B, d]`,
/// row-major) with `labels`, baked into the graph. θ = `W` (`d×c` row-major) then `b` (`c`).
pub fn logreg(x: Vec<f64>, labels: &[usize], d: usize, c: usize) -> JitResult<TensorProgram> {
    baked(&LogisticRegression::new(d, c).map_err(runtime_err)?, x, labels)
}

/// The MLP `d -> h (tanh) -> c` ([`Mlp`]) on `x` (`[B, d]`) with `labels`, baked into the
/// graph. θ = `W1` (`d×h`), `b1`, `W2` (`h×c`), `b2`.
pub fn mlp(x: Vec<f64>, labels: &[usize], d: usize, h: usize, c: usize) -> JitResult<TensorProgram> {
    baked(&Mlp::new(&[d, h, c], Activation::Tanh).map_err(runtime_err)?, x, labels)
}

/// The paper's CNN ([`Cnn`]) on `x` (`[B, height·width]`, row-major images) with `labels`,
/// baked into the graph (the first im2col copy folds into data). θ has the runtime model's
/// layout ([`Model::blocks`]).
///
/// Errors (typed) on a configuration the runtime rejects, an input of the wrong length,
/// an empty batch or a label that is not below `classes`.
pub fn cnn(x: Vec<f64>, labels: &[usize], cfg: CnnConfig) -> JitResult<TensorProgram> {
    baked(&Cnn::new(cfg).map_err(runtime_err)?, x, labels)
}

/// The paper's CNN on minibatches of `batch` samples ([`compile_model`]): input 0 is the
/// images (`[batch, height·width]`, row-major), input 1 the one-hot labels
/// (`[batch, classes]`, [`fomoh_runtime::nn::one_hot`]).
///
/// ```
/// use fomoh_jit::tensor::models::cnn_minibatch;
/// use fomoh_runtime::models::{Cnn, CnnConfig, Model};
/// use fomoh_runtime::nn::one_hot;
/// let cfg = CnnConfig { height: 8, width: 8, conv1: 2, conv2: 2, kernel: 2, hidden: 4, classes: 3 };
/// let p = cnn_minibatch(2, cfg).unwrap();
/// let theta = vec![0.0; Cnn::new(cfg).unwrap().num_params()];
/// let (x, y) = (vec![0.5; 2 * 64], one_hot(&[2, 0], 3).unwrap());
/// let loss = p.bind(&[&x, &y]).unwrap().value(&theta).unwrap();
/// assert!((loss - 3f64.ln()).abs() < 1e-12, "zero weights: equal logits");
/// ```
pub fn cnn_minibatch(batch: usize, cfg: CnnConfig) -> JitResult<TensorProgram> {
    let model = Cnn::new(cfg).map_err(runtime_err)?;
    Ok(compile_model(&model, batch).map_err(runtime_err)?.into_program())
}

/// Logistic regression `d -> c` on minibatches of `batch` samples ([`compile_model`]):
/// input 0 is the features (`[batch, d]`), input 1 the one-hot labels (`[batch, c]`).
///
/// ```
/// use fomoh_jit::tensor::models::logreg_minibatch;
/// use fomoh_runtime::nn::one_hot;
/// let p = logreg_minibatch(2, 3, 2).unwrap();
/// let theta = vec![0.1; 3 * 2 + 2];
/// let (x, y) = ([1.0, 2.0, 3.0, 0.0, 1.0, 0.0], one_hot(&[1, 0], 2).unwrap());
/// let loss = p.bind(&[&x, &y]).unwrap().value(&theta).unwrap();
/// assert!((loss - 2f64.ln()).abs() < 1e-12, "equal logits: ln 2");
/// ```
pub fn logreg_minibatch(batch: usize, d: usize, c: usize) -> JitResult<TensorProgram> {
    let model = LogisticRegression::new(d, c).map_err(runtime_err)?;
    Ok(compile_model(&model, batch).map_err(runtime_err)?.into_program())
}

/// The MLP with layer widths `sizes` and `activation` (tanh, relu or sigmoid) between layers
/// on minibatches of `batch` samples ([`compile_model`]): input 0 is the features
/// (`[batch, sizes[0]]`), input 1 the one-hot labels (`[batch, classes]`); θ in the
/// runtime's layout (`W1`, `b1`, `W2`, `b2`, ...).
pub fn mlp_minibatch(batch: usize, sizes: &[usize], activation_op: UnaryOp) -> JitResult<TensorProgram> {
    let model = Mlp::new(sizes, activation(activation_op)?).map_err(runtime_err)?;
    Ok(compile_model(&model, batch).map_err(runtime_err)?.into_program())
}

/// A minibatch mean over row shards: shard `s` is the next `rows_s` rows of the features
/// `x` and the one-hot labels `y` (inputs 0 and 1, `rows_s` the first dimension of
/// `programs[s]`'s input 0), bound to `programs[s]` and weighted by `rows_s / rows`; the
/// shards together must cover every row. The result's passes run the shards side by side
/// (see [`fomoh_runtime::WeightedSum`]) and equal the whole batch's mean.
///
/// ```
/// use fomoh_jit::tensor::models;
/// let (x, y) = (vec![0.5; 5 * 3], fomoh_runtime::nn::one_hot(&[0, 1, 1, 0, 1], 2).unwrap());
/// let (p2, p3) = (models::logreg_minibatch(2, 3, 2).unwrap(), models::logreg_minibatch(3, 3, 2).unwrap());
/// let shards = models::bind_shards(&[&p2, &p3], &x, &y).unwrap();
/// let whole = models::logreg_minibatch(5, 3, 2).unwrap();
/// let theta = vec![0.1; 8];
/// use fomoh_runtime::Objective;
/// let (a, b) = (shards.value(&theta).unwrap(), whole.bind(&[&x, &y]).unwrap().value(&theta).unwrap());
/// assert!((a - b).abs() < 1e-15);
/// ```
pub fn bind_shards<'a, T: crate::JitFloat>(
    programs: &[&'a TensorProgram<T>],
    x: &'a [T],
    y: &'a [T],
) -> fomoh_runtime::Result<fomoh_runtime::WeightedSum<super::Bound<'a, T>>> {
    let rows_of = |p: &TensorProgram<T>| p.input_shapes().first().and_then(|s| s.first().copied());
    let rows: usize = programs.iter().map(|p| rows_of(p).unwrap_or(0)).sum();
    if rows == 0 || !x.len().is_multiple_of(rows) || !y.len().is_multiple_of(rows) {
        return Err(JitError::Shape(format!(
            "shards of {rows} rows in all do not split features of {} and labels of {} values",
            x.len(),
            y.len()
        ))
        .into());
    }
    let (d, c) = (x.len() / rows, y.len() / rows);
    let mut at = 0;
    let mut parts = Vec::with_capacity(programs.len());
    for p in programs {
        let r = rows_of(p).unwrap_or(0);
        parts.push((p.bind(&[&x[at * d..(at + r) * d], &y[at * c..(at + r) * c]])?, r as f64 / rows as f64));
        at += r;
    }
    fomoh_runtime::WeightedSum::new(parts)
}
