use super::{Tensor, TensorBuilder, TensorProgram};
use crate::error::{JitError, JitResult};
use fomoh_runtime::models::{Cnn, CnnConfig, Model};
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

/// Mean softmax cross-entropy of logits `z` (`[B, C]`) against one-hot labels.
pub fn cross_entropy_mean(b: &mut TensorBuilder, z: Tensor, onehot: Vec<f64>) -> JitResult<Tensor> {
    let (rows, cols) = super::as2(&b.nodes[z.0 as usize].shape);
    let y = b.data(onehot, &[rows, cols])?;
    cross_entropy_mean_of(b, z, y)
}

/// Mean softmax cross-entropy of logits `z` (`[B, C]`) against one-hot rows `y` (`[B, C]`,
/// passive: data or an input).
pub fn cross_entropy_mean_of(b: &mut TensorBuilder, z: Tensor, y: Tensor) -> JitResult<Tensor> {
    let rows = b.shape(z)?.first().copied().unwrap_or(1);
    let lse = b.logsumexp_rows(z)?;
    let zy = b.mul(z, y)?;
    let picked = b.sum_rows(zy)?;
    let per = b.sub(lse, picked)?;
    let tot = b.sum(per);
    let inv = b.constant(1.0 / rows as f64);
    b.mul(tot, inv)
}

/// One-hot rows for `labels` over `classes`.
pub fn one_hot(labels: &[usize], classes: usize) -> Vec<f64> {
    let mut y = vec![0.0; labels.len() * classes];
    for (r, &l) in labels.iter().enumerate() {
        if l < classes {
            y[r * classes + l] = 1.0;
        }
    }
    y
}

/// Multinomial logistic regression `d -> c` on `x` (`[B, d]`, row-major), θ = `W` (`d×c`
/// row-major) then `b` (`c`).
pub fn logreg(x: Vec<f64>, labels: &[usize], d: usize, c: usize) -> JitResult<TensorProgram> {
    let bsz = labels.len();
    let mut b = TensorBuilder::new(d * c + c);
    let xs = b.data(x, &[bsz, d])?;
    let w = b.param(0, &[d, c])?;
    let bias = b.param(d * c, &[c])?;
    let xw = b.matmul(xs, w)?;
    let z = b.add(xw, bias)?;
    let l = cross_entropy_mean(&mut b, z, one_hot(labels, c))?;
    b.finish(l)
}

/// The paper's CNN ([`fomoh_runtime::models::Cnn`]) on `x` (`[B, height·width]`,
/// row-major images) with `labels`, the batch baked into the graph as data (the first
/// im2col copy folds into data): the graph of [`cnn_minibatch`] with its inputs fixed.
/// θ has exactly the runtime model's layout (its [`Model::blocks`]).
///
/// Errors (typed) on a configuration the runtime rejects, an input of the wrong length,
/// an empty batch or a label that is not below `classes`.
pub fn cnn(x: Vec<f64>, labels: &[usize], cfg: CnnConfig) -> JitResult<TensorProgram> {
    let model = Cnn::new(cfg).map_err(|e| JitError::Shape(e.to_string()))?;
    if let Some(&y) = labels.iter().find(|&&y| y >= cfg.classes) {
        return Err(JitError::Shape(format!("label {y} is not below {} classes", cfg.classes)));
    }
    let bsz = labels.len();
    let mut b = TensorBuilder::new(model.num_params());
    let xs = b.data(x, &[bsz, cfg.height * cfg.width])?;
    let y = b.data(one_hot(labels, cfg.classes), &[bsz, cfg.classes])?;
    let l = cnn_net(&mut b, &model, xs, y)?;
    b.finish(l)
}

/// The paper's CNN ([`fomoh_runtime::models::Cnn`]) on minibatches of `batch` samples:
/// input 0 is the images (`[batch, height·width]`, row-major), input 1 the one-hot labels
/// (`[batch, classes]`, see [`one_hot`]). One compiled program serves every minibatch of
/// that size ([`TensorProgram::bind`](super::TensorProgram::bind)); the first im2col copy
/// is a run-time gather of the bound images. θ has exactly the runtime model's layout.
///
/// Errors (typed) on a configuration the runtime rejects or `batch == 0`.
///
/// ```
/// use fomoh_jit::tensor::models::{cnn_minibatch, one_hot};
/// use fomoh_runtime::models::{Cnn, CnnConfig, Model};
/// let cfg = CnnConfig { height: 8, width: 8, conv1: 2, conv2: 2, kernel: 2, hidden: 4, classes: 3 };
/// let p = cnn_minibatch(2, cfg).unwrap();
/// let theta = vec![0.0; Cnn::new(cfg).unwrap().num_params()];
/// let (x, y) = (vec![0.5; 2 * 64], one_hot(&[2, 0], 3));
/// let loss = p.bind(&[&x, &y]).unwrap().value(&theta).unwrap();
/// assert!((loss - 3f64.ln()).abs() < 1e-12, "zero weights: equal logits");
/// ```
pub fn cnn_minibatch(batch: usize, cfg: CnnConfig) -> JitResult<TensorProgram> {
    let model = Cnn::new(cfg).map_err(|e| JitError::Shape(e.to_string()))?;
    let mut b = TensorBuilder::new(model.num_params());
    let xs = b.input(0, &[batch, cfg.height * cfg.width])?;
    let y = b.input(1, &[batch, cfg.classes])?;
    let l = cnn_net(&mut b, &model, xs, y)?;
    b.finish(l)
}

/// The CNN's mean cross-entropy on the images `xs` (`[B, height·width]`) against the
/// one-hot rows `y` (`[B, classes]`): conv(1→conv1, k×k), relu, max-pool 2,
/// conv(conv1→conv2, k×k), relu, max-pool 2, flatten, dense(→hidden), relu,
/// dense(→classes). θ in the layout of `model`'s [`Model::blocks`] (conv weights
/// `out×in×kh×kw` then bias, dense weights `in×out` then bias).
fn cnn_net(b: &mut TensorBuilder, model: &Cnn, xs: Tensor, y: Tensor) -> JitResult<Tensor> {
    let cfg = model.config();
    let bsz = b.shape(xs)?.first().copied().unwrap_or(1);
    // The parameter blocks in the runtime's order: conv1 w, b, conv2 w, b, fc1 w, b, fc2 w, b.
    let mut blocks = Vec::new();
    let mut offset = 0;
    for blk in model.blocks() {
        let n = blk.len();
        let shape =
            if blk.shape.len() == 4 { vec![blk.shape[0], n / blk.shape[0]] } else { blk.shape.clone() };
        blocks.push((b.param(offset, &shape)?, blk.shape));
        offset += n;
    }
    let dims4 = |s: &[usize]| [s[0], s[1], s[2], s[3]];
    let (k, mut h, mut w, mut c, mut act) = (cfg.kernel, cfg.height, cfg.width, 1, xs);
    for layer in 0..2 {
        let (wt, ws) = &blocks[2 * layer];
        let o = ws[0];
        // relu before the copy into (B, O, Ho, Wo) order, which the pooling then reads
        // through (one windowed max straight from the relu's output).
        let (yc, perm) =
            b.conv2d_channel_major(act, [bsz, c, h, w], *wt, dims4(ws), blocks[2 * layer + 1].0)?;
        let yc = b.unary(UnaryOp::Relu, yc)?;
        let yc = b.gather(yc, perm, &[bsz, o * (h - k + 1) * (w - k + 1)])?;
        (h, w, c) = (h - k + 1, w - k + 1, o);
        act = b.max_pool2(yc, [bsz, c, h, w])?;
        (h, w) = (h / 2, w / 2);
    }
    let flat = c * h * w;
    let act = b.reshape(act, &[bsz, flat])?;
    let z = b.matmul(act, blocks[4].0)?;
    let z = b.add(z, blocks[5].0)?;
    let z = b.unary(UnaryOp::Relu, z)?;
    let z = b.matmul(z, blocks[6].0)?;
    let z = b.add(z, blocks[7].0)?;
    cross_entropy_mean_of(b, z, y)
}

/// MLP `d -> h (tanh) -> c` on `x` (`[B, d]`), θ = `W1` (`d×h`), `b1`, `W2` (`h×c`), `b2`.
pub fn mlp(x: Vec<f64>, labels: &[usize], d: usize, h: usize, c: usize) -> JitResult<TensorProgram> {
    let bsz = labels.len();
    let mut b = TensorBuilder::new(d * h + h + h * c + c);
    let xs = b.data(x, &[bsz, d])?;
    let w1 = b.param(0, &[d, h])?;
    let b1 = b.param(d * h, &[h])?;
    let w2 = b.param(d * h + h, &[h, c])?;
    let b2 = b.param(d * h + h + h * c, &[c])?;
    let a = b.matmul(xs, w1)?;
    let a = b.add(a, b1)?;
    let a = b.unary(UnaryOp::Tanh, a)?;
    let z = b.matmul(a, w2)?;
    let z = b.add(z, b2)?;
    let l = cross_entropy_mean(&mut b, z, one_hot(labels, c))?;
    b.finish(l)
}

/// The mean cross-entropy of the MLP `sizes[0] -> ... -> sizes[L]` (`activation` between
/// layers) on the features `xs` (`[B, sizes[0]]`) against one-hot rows `y`; θ holds
/// `W1` (`sizes[0]×sizes[1]`, row-major), `b1`, `W2`, `b2`, ... (the runtime's layout).
fn dense_net(
    b: &mut TensorBuilder,
    xs: Tensor,
    y: Tensor,
    sizes: &[usize],
    activation: UnaryOp,
) -> JitResult<Tensor> {
    let mut h = xs;
    let mut offset = 0;
    for (l, w) in sizes.windows(2).enumerate() {
        if l > 0 {
            h = b.unary(activation, h)?;
        }
        let wt = b.param(offset, &[w[0], w[1]])?;
        let bias = b.param(offset + w[0] * w[1], &[w[1]])?;
        offset += w[0] * w[1] + w[1];
        let a = b.matmul(h, wt)?;
        h = b.add(a, bias)?;
    }
    cross_entropy_mean_of(b, h, y)
}

/// The parameter count of a dense net with layer widths `sizes` (at least two, all
/// positive; else a shape error).
fn dense_params(sizes: &[usize]) -> JitResult<usize> {
    if sizes.len() < 2 || sizes.contains(&0) {
        return Err(crate::JitError::Shape(format!(
            "layer widths {sizes:?}: need at least two positive widths"
        )));
    }
    sizes
        .windows(2)
        .try_fold(0usize, |n, w| {
            w[0].checked_mul(w[1]).and_then(|m| m.checked_add(w[1])).and_then(|m| n.checked_add(m))
        })
        .ok_or_else(|| crate::JitError::Shape(format!("layer widths {sizes:?} overflow")))
}

/// Logistic regression `d -> c` on minibatches of `batch` samples: input 0 is the
/// features (`[batch, d]`), input 1 the one-hot labels (`[batch, c]`, see [`one_hot`]).
/// One compiled program serves every minibatch of that size
/// ([`TensorProgram::bind`](super::TensorProgram::bind)).
///
/// ```
/// use fomoh_jit::tensor::models::{logreg_minibatch, one_hot};
/// let p = logreg_minibatch(2, 3, 2).unwrap();
/// let theta = vec![0.1; 3 * 2 + 2];
/// let (x, y) = ([1.0, 2.0, 3.0, 0.0, 1.0, 0.0], one_hot(&[1, 0], 2));
/// let loss = p.bind(&[&x, &y]).unwrap().value(&theta).unwrap();
/// assert!((loss - 2f64.ln()).abs() < 1e-12, "equal logits: ln 2");
/// ```
pub fn logreg_minibatch(batch: usize, d: usize, c: usize) -> JitResult<TensorProgram> {
    mlp_minibatch(batch, &[d, c], UnaryOp::Tanh)
}

/// A minibatch mean over row shards: shard `s` is the next `rows_s` rows of the features
/// `x` and the one-hot labels `y` (inputs 0 and 1, `rows_s` the first dimension of
/// `programs[s]`'s input 0), bound to `programs[s]` and weighted by `rows_s / rows`; the
/// shards together must cover every row. The result's passes run the shards side by side
/// (see [`fomoh_runtime::WeightedSum`]) and equal the whole batch's mean.
///
/// ```
/// use fomoh_jit::tensor::models;
/// let (x, y) = (vec![0.5; 5 * 3], models::one_hot(&[0, 1, 1, 0, 1], 2));
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

/// The MLP with layer widths `sizes` and `activation` between layers on minibatches of
/// `batch` samples: input 0 is the features (`[batch, sizes[0]]`), input 1 the one-hot
/// labels (`[batch, classes]`); θ in the runtime's layout (`W1`, `b1`, `W2`, `b2`, ...).
pub fn mlp_minibatch(batch: usize, sizes: &[usize], activation: UnaryOp) -> JitResult<TensorProgram> {
    let mut b = TensorBuilder::new(dense_params(sizes)?);
    let xs = b.input(0, &[batch, sizes[0]])?;
    let y = b.input(1, &[batch, *sizes.last().unwrap_or(&0)])?;
    let l = dense_net(&mut b, xs, y, sizes, activation)?;
    b.finish(l)
}
