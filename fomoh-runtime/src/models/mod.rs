//! The paper's models over hyper-dual tensors, with one flat parameter vector each, and the
//! [`Minibatch`] objective that lets every optimizer train every model.
//!
//! - [`LogisticRegression`]: `z = x W + b`.
//! - [`Mlp`]: `z = act(… act(x W1 + b1) …) WL + bL`.
//! - [`Cnn`]: the paper's conv 1→20 5×5, relu, pool 2, conv 20→50 5×5, relu, pool 2,
//!   800→500, relu, 500→10 (431 080 parameters on MNIST).
//!
//! Parameter layout: the blocks of [`Model::blocks`] in order, each row-major (a dense weight
//! is `in × out`, `W[i][o] = θ[offset + i·out + o]`, followed by its bias; a convolution weight
//! is `out × in × kh × kw`). This is the layout of `BENCHMARKS.md`.
//!
//! ```
//! use fomoh_runtime::data::Dataset;
//! use fomoh_runtime::models::{Minibatch, Model, LogisticRegression};
//! use fomoh_runtime::Objective;
//! let digits = Dataset::digits().unwrap();
//! let batch = digits.head(32).unwrap();
//! let model = LogisticRegression::new(64, 10).unwrap();
//! let theta = model.init(0);
//! let obj = Minibatch::new(&model, &batch).unwrap();
//! let dirs = vec![vec![1.0; model.num_params()], theta.clone()];
//! let p = obj.project(&theta, &dirs).unwrap();   // one tensor pass, any k
//! assert_eq!(p.passes, 1);
//! assert!((p.value - obj.value(&theta).unwrap()).abs() < 1e-12);
//! ```

use crate::api::Projection;
use crate::data::{Batch, Dataset};
use crate::error::{check_len, Error, Result};
use crate::nn::{self, Backend, Blocks, Eager, Var};
use crate::objective::Objective;
use crate::rules::UnaryOp;
use crate::tensor::ops;
use crate::tensor::{Params, Planes, Tensor};
use crate::{HyperDual, Jet};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

mod backprop;
use backprop::{cnn_backprop, mlp_backprop};

/// The hidden-layer nonlinearity of an [`Mlp`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Activation {
    /// `tanh`.
    Tanh,
    /// `max(x, 0)`.
    Relu,
    /// `1 / (1 + e^-x)`.
    Sigmoid,
}

impl Activation {
    /// The rule-table function.
    pub fn op(self) -> UnaryOp {
        match self {
            Activation::Tanh => UnaryOp::Tanh,
            Activation::Relu => UnaryOp::Relu,
            Activation::Sigmoid => UnaryOp::Sigmoid,
        }
    }
}

/// One block of the flat parameter vector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// A name such as `"fc1.weight"`.
    pub name: String,
    /// The block's shape.
    pub shape: Vec<usize>,
    /// The fan-in used by [`Model::init`].
    pub fan_in: usize,
}

impl Block {
    fn new(name: String, shape: Vec<usize>, fan_in: usize) -> Self {
        Self { name, shape, fan_in }
    }
    /// The number of parameters in the block.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    /// Whether the block is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A classifier with a flat parameter vector, evaluated on [`Tensor`]s in any
/// [`crate::tensor::Mode`].
pub trait Model: Send + Sync + core::fmt::Debug {
    /// A short description (`"mlp[64,32,10] tanh"`).
    fn name(&self) -> String;

    /// The parameter blocks in layout order.
    fn blocks(&self) -> Vec<Block>;

    /// The number of input features per sample.
    fn sample_size(&self) -> usize;

    /// The number of classes (logits per sample).
    fn classes(&self) -> usize;

    /// The logits `[B, classes]` of the inputs `x` (`[B, sample_size]`), written once in the
    /// tensor language ([`crate::nn`]): the same definition runs eagerly
    /// ([`Model::logits`], [`Model::loss`], [`Minibatch`]) and compiled
    /// (`fomoh::jit::compile_model`). Parameter blocks come from `b.param` in the layout of
    /// [`Model::blocks`] (see [`nn::Blocks`]).
    fn forward(&self, b: &mut dyn Backend, x: Var) -> Result<Var>;

    /// The logits `(B, classes)` of inputs `(B, ...)` (any per-sample shape of
    /// [`Model::sample_size`] elements): [`Model::forward`] on the eager backend.
    fn logits(&self, params: &Params<'_>, x: &Tensor) -> Result<Tensor> {
        check_len(|| "parameters".into(), self.num_params(), params.len())?;
        let rows = batch_rows(x, self.sample_size(), &self.name())?;
        let mut e = Eager::new(params);
        let xv = e.input(x)?;
        let z = self.forward(&mut e, xv)?;
        let z = e.take(z)?;
        if z.shape() != [rows, self.classes()] {
            return Err(Error::Shape(format!(
                "{}: forward gave logits of shape {:?}, expected [{rows}, {}]",
                self.name(),
                z.shape(),
                self.classes()
            )));
        }
        Ok(z)
    }

    /// The mean cross-entropy and its exact gradient by backpropagation, if the model has one.
    fn loss_and_gradient(&self, _theta: &[f64], _batch: &Batch) -> Option<Result<(f64, Vec<f64>)>> {
        None
    }

    /// The width `out` of the first layer if it is dense on the raw inputs, its weight
    /// (`sample_size × out`) the first block and its bias the second (then its gradient lies
    /// in the span of the minibatch's inputs: [`crate::InputSpan`], [`Minibatch`]'s
    /// [`Objective::input_span`]); `None` otherwise (the default).
    fn input_layer_width(&self) -> Option<usize> {
        None
    }

    /// The number of parameters.
    fn num_params(&self) -> usize {
        self.blocks().iter().map(Block::len).sum()
    }

    /// Seeded initial parameters: each block uniform in `±1/sqrt(fan_in)` (PyTorch's default
    /// for linear and convolution layers), from `StdRng::seed_from_u64(seed)`.
    fn init(&self, seed: u64) -> Vec<f64> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut theta = Vec::with_capacity(self.num_params());
        for b in self.blocks() {
            let a = 1.0 / (b.fan_in.max(1) as f64).sqrt();
            theta.extend((0..b.len()).map(|_| rng.random_range(-a..a)));
        }
        theta
    }

    /// Samples per forward chunk in [`Model::loss`]: only one chunk's activations (with all
    /// their derivative planes) are alive at a time. Unbounded by default; the CNN uses 8 (its im2col copies of 8 images stay in cache).
    fn chunk_size(&self) -> usize {
        usize::MAX
    }

    /// The mean softmax cross-entropy on `batch` as a scalar tensor with the planes of
    /// `params`' mode, computed over chunks of [`Model::chunk_size`] samples
    /// (`Σ_chunks (n_c / B) · mean_c`).
    fn loss(&self, params: &Params<'_>, batch: &Batch) -> Result<Tensor> {
        crate::tensor::on_pool(|| chunked_loss(self, params, batch))
    }
}

/// [`Model::loss`], on the calling thread: the batch in chunks of the model's chunk size.
fn chunked_loss<M: Model + ?Sized>(model: &M, params: &Params<'_>, batch: &Batch) -> Result<Tensor> {
    check_len(|| "parameters".into(), model.num_params(), params.len())?;
    let b = batch.labels.len();
    let chunk = model.chunk_size().max(1);
    if b <= chunk {
        return eager_loss(model, params, &batch.x, &batch.labels);
    }
    let mut total: Option<Tensor> = None;
    for start in (0..b).step_by(chunk) {
        let end = (start + chunk).min(b);
        let ce = eager_loss(model, params, &batch.x.rows(start, end)?, &batch.labels[start..end])?;
        let part = ops::scale(&ce, (end - start) as f64 / b as f64).reshape(vec![1])?;
        match &mut total {
            None => total = Some(part),
            Some(t) => ops::add_broadcast_assign(t, &part, 0, 1.0)?,
        }
    }
    total.expect("b > chunk >= 1").reshape(vec![])
}

/// The mean cross-entropy ([`nn::cross_entropy`]) of `model` on inputs `x` with `labels`, on
/// the eager backend.
fn eager_loss<M: Model + ?Sized>(
    model: &M,
    params: &Params<'_>,
    x: &Tensor,
    labels: &[usize],
) -> Result<Tensor> {
    let rows = batch_rows(x, model.sample_size(), &model.name())?;
    check_len(|| "labels".into(), rows, labels.len())?;
    let mut e = Eager::new(params);
    let xv = e.input(x)?;
    let y = e.targets(labels, model.classes())?;
    let z = model.forward(&mut e, xv)?;
    let l = nn::cross_entropy(&mut e, z, y)?;
    e.take(l)
}

/// `(B, ...)` with `per` elements per sample -> `B`; errors on an empty batch or bad size.
fn batch_rows(x: &Tensor, per: usize, what: &str) -> Result<usize> {
    let b = *x.shape().first().ok_or_else(|| Error::Shape(format!("{what}: scalar input")))?;
    if b == 0 {
        return Err(Error::InvalidArgument(format!("{what}: empty batch")));
    }
    let got: usize = x.shape()[1..].iter().product();
    if got != per {
        return Err(Error::Shape(format!(
            "{what}: input {:?} has {got} features per sample, expected {per}",
            x.shape()
        )));
    }
    Ok(b)
}

fn dense_blocks(prefix: &str, fan_in: usize, fan_out: usize) -> [Block; 2] {
    [
        Block::new(format!("{prefix}.weight"), vec![fan_in, fan_out], fan_in),
        Block::new(format!("{prefix}.bias"), vec![fan_out], fan_in),
    ]
}

/// The most parameters a model constructor accepts (2²⁸, 2 GiB of `f64` per copy of θ):
/// larger sizes are an error up front instead of an allocation failure later.
pub const MAX_PARAMS: usize = 1 << 28;

/// A multi-layer perceptron `[n0, n1, ..., nL]` with an activation between layers and none
/// after the last.
#[derive(Clone, Debug, PartialEq)]
pub struct Mlp {
    sizes: Vec<usize>,
    activation: Activation,
}

impl Mlp {
    /// An MLP with layer widths `sizes` (at least input and output, all positive, at most
    /// [`MAX_PARAMS`] parameters).
    pub fn new(sizes: &[usize], activation: Activation) -> Result<Self> {
        if sizes.len() < 2 {
            return Err(Error::InvalidArgument(format!(
                "mlp sizes {sizes:?}: need at least two widths (inputs and classes)"
            )));
        }
        if let Some(i) = sizes.iter().position(|&w| w == 0) {
            return Err(Error::InvalidArgument(format!(
                "mlp sizes {sizes:?}: width {i} is 0 (must be positive)"
            )));
        }
        let params = sizes.windows(2).try_fold(0usize, |acc, w| {
            w[0].checked_add(1).and_then(|fan| fan.checked_mul(w[1])).and_then(|p| acc.checked_add(p))
        });
        if params.is_none_or(|p| p > MAX_PARAMS) {
            return Err(Error::InvalidArgument(format!(
                "mlp sizes {sizes:?}: more than {MAX_PARAMS} parameters"
            )));
        }
        Ok(Self { sizes: sizes.to_vec(), activation })
    }

    /// The layer widths.
    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }

    /// The activation.
    pub fn activation(&self) -> Activation {
        self.activation
    }
}

impl Model for Mlp {
    fn name(&self) -> String {
        format!("mlp{:?} {:?}", self.sizes, self.activation).to_lowercase().replace(' ', "")
    }

    fn blocks(&self) -> Vec<Block> {
        self.sizes
            .windows(2)
            .enumerate()
            .flat_map(|(l, w)| dense_blocks(&format!("fc{}", l + 1), w[0], w[1]))
            .collect()
    }

    fn sample_size(&self) -> usize {
        self.sizes[0]
    }

    fn classes(&self) -> usize {
        *self.sizes.last().expect("at least two sizes")
    }

    fn forward(&self, b: &mut dyn Backend, x: Var) -> Result<Var> {
        let mut blocks = Blocks::new();
        let mut h = x;
        for (l, w) in self.sizes.windows(2).enumerate() {
            if l > 0 {
                h = b.unary(self.activation.op(), h)?;
            }
            let (wt, bias) = (blocks.next(b, &[w[0], w[1]])?, blocks.next(b, &[w[1]])?);
            h = nn::dense(b, h, wt, bias)?;
        }
        Ok(h)
    }

    fn loss_and_gradient(&self, theta: &[f64], batch: &Batch) -> Option<Result<(f64, Vec<f64>)>> {
        Some(crate::tensor::on_pool(|| mlp_backprop(self, theta, batch)))
    }

    fn input_layer_width(&self) -> Option<usize> {
        Some(self.sizes[1])
    }
}

/// Multinomial logistic regression `z = x W + b` (an [`Mlp`] without hidden layers).
#[derive(Clone, Debug, PartialEq)]
pub struct LogisticRegression(Mlp);

impl LogisticRegression {
    /// `inputs` features, `classes` classes (both positive, at most [`MAX_PARAMS`]
    /// parameters).
    pub fn new(inputs: usize, classes: usize) -> Result<Self> {
        if inputs == 0 || classes == 0 {
            return Err(Error::InvalidArgument(format!(
                "logistic regression with {inputs} inputs and {classes} classes: both must be positive"
            )));
        }
        Mlp::new(&[inputs, classes], Activation::Tanh).map(Self).map_err(|_| {
            Error::InvalidArgument(format!(
                "logistic regression with {inputs} inputs and {classes} classes: more than {MAX_PARAMS} parameters"
            ))
        })
    }
}

impl Model for LogisticRegression {
    fn name(&self) -> String {
        format!("logreg[{},{}]", self.0.sizes[0], self.0.sizes[1])
    }
    fn blocks(&self) -> Vec<Block> {
        self.0.blocks()
    }
    fn sample_size(&self) -> usize {
        self.0.sample_size()
    }
    fn classes(&self) -> usize {
        self.0.classes()
    }
    fn forward(&self, b: &mut dyn Backend, x: Var) -> Result<Var> {
        self.0.forward(b, x)
    }
    fn loss_and_gradient(&self, theta: &[f64], batch: &Batch) -> Option<Result<(f64, Vec<f64>)>> {
        self.0.loss_and_gradient(theta, batch)
    }
    fn input_layer_width(&self) -> Option<usize> {
        self.0.input_layer_width()
    }
}

/// The shape of a [`Cnn`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CnnConfig {
    /// Input height.
    pub height: usize,
    /// Input width.
    pub width: usize,
    /// Channels of the first convolution (input has one channel).
    pub conv1: usize,
    /// Channels of the second convolution.
    pub conv2: usize,
    /// Square kernel size of both convolutions.
    pub kernel: usize,
    /// Width of the hidden dense layer.
    pub hidden: usize,
    /// Number of classes.
    pub classes: usize,
}

impl CnnConfig {
    /// The paper's network on 28×28 MNIST: 20 and 50 channels, 5×5 kernels, 500 hidden.
    pub fn paper() -> Self {
        Self { height: 28, width: 28, conv1: 20, conv2: 50, kernel: 5, hidden: 500, classes: 10 }
    }
}

/// conv(1→c1, k×k), relu, max-pool 2, conv(c1→c2, k×k), relu, max-pool 2, flatten,
/// dense(→hidden), relu, dense(→classes).
#[derive(Clone, Debug, PartialEq)]
pub struct Cnn {
    cfg: CnnConfig,
    flat: usize,
    chunk: usize,
}

impl Cnn {
    /// A CNN of the given shape; errors if the input is too small for the two conv/pool stages.
    pub fn new(cfg: CnnConfig) -> Result<Self> {
        let k = cfg.kernel;
        let stage = |s: usize| if k > 0 && s >= k { (s - k).div_ceil(2) } else { 0 };
        let (h, w) = (stage(stage(cfg.height)), stage(stage(cfg.width)));
        if h == 0 || w == 0 {
            return Err(Error::InvalidArgument(format!(
                "cnn {cfg:?}: a {}×{} input is too small for two {k}×{k} convolutions and pools",
                cfg.height, cfg.width
            )));
        }
        if [cfg.conv1, cfg.conv2, cfg.hidden, cfg.classes].contains(&0) {
            return Err(Error::InvalidArgument(format!("cnn {cfg:?}: a zero width")));
        }
        let kk = k.checked_mul(k);
        let params = [
            kk.and_then(|kk| kk.checked_add(1)).and_then(|f| f.checked_mul(cfg.conv1)),
            kk.and_then(|kk| kk.checked_mul(cfg.conv1))
                .and_then(|f| f.checked_add(1))
                .and_then(|f| f.checked_mul(cfg.conv2)),
            cfg.conv2
                .checked_mul(h)
                .and_then(|f| f.checked_mul(w))
                .and_then(|f| f.checked_add(1))
                .and_then(|f| f.checked_mul(cfg.hidden)),
            cfg.hidden.checked_add(1).and_then(|f| f.checked_mul(cfg.classes)),
        ]
        .into_iter()
        .try_fold(0usize, |acc, p| p.and_then(|p| acc.checked_add(p)));
        if params.is_none_or(|p| p > MAX_PARAMS) {
            return Err(Error::InvalidArgument(format!("cnn {cfg:?}: more than {MAX_PARAMS} parameters")));
        }
        Ok(Self { cfg, flat: cfg.conv2 * h * w, chunk: 8 })
    }

    /// The paper's CNN (431 080 parameters).
    pub fn paper() -> Self {
        Self::new(CnnConfig::paper()).expect("the paper's configuration is valid")
    }

    /// Sets the samples per forward chunk (see [`Model::chunk_size`]; default 8).
    pub fn with_chunk_size(mut self, chunk: usize) -> Self {
        self.chunk = chunk.max(1);
        self
    }

    /// The configuration.
    pub fn config(&self) -> CnnConfig {
        self.cfg
    }
}

impl Model for Cnn {
    fn name(&self) -> String {
        let c = &self.cfg;
        format!(
            "cnn[{}x{},{},{},k{},{},{}]",
            c.height, c.width, c.conv1, c.conv2, c.kernel, c.hidden, c.classes
        )
    }

    fn loss_and_gradient(&self, theta: &[f64], batch: &Batch) -> Option<Result<(f64, Vec<f64>)>> {
        Some(crate::tensor::on_pool(|| cnn_backprop(self, theta, batch)))
    }

    fn chunk_size(&self) -> usize {
        self.chunk
    }

    fn blocks(&self) -> Vec<Block> {
        let c = &self.cfg;
        let kk = c.kernel * c.kernel;
        let mut v = vec![
            Block::new("conv1.weight".into(), vec![c.conv1, 1, c.kernel, c.kernel], kk),
            Block::new("conv1.bias".into(), vec![c.conv1], kk),
            Block::new("conv2.weight".into(), vec![c.conv2, c.conv1, c.kernel, c.kernel], c.conv1 * kk),
            Block::new("conv2.bias".into(), vec![c.conv2], c.conv1 * kk),
        ];
        v.extend(dense_blocks("fc1", self.flat, c.hidden));
        v.extend(dense_blocks("fc2", c.hidden, c.classes));
        v
    }

    fn sample_size(&self) -> usize {
        self.cfg.height * self.cfg.width
    }

    fn classes(&self) -> usize {
        self.cfg.classes
    }

    fn forward(&self, b: &mut dyn Backend, x: Var) -> Result<Var> {
        let c = &self.cfg;
        let bsz = match b.shape(&x)?[..] {
            [rows, n] if n == self.sample_size() => rows,
            ref s => {
                return Err(Error::Shape(format!(
                    "{}: input of shape {s:?}, expected [B, {}]",
                    self.name(),
                    self.sample_size()
                )))
            }
        };
        let mut blocks = Blocks::new();
        let k = c.kernel;
        let (mut h, mut w, mut ch, mut act) = (c.height, c.width, 1, x);
        for o in [c.conv1, c.conv2] {
            let (wt, bias) = (blocks.next(b, &[o, ch * k * k])?, blocks.next(b, &[o])?);
            let y = nn::conv2d(b, act, [bsz, ch, h, w], wt, [o, ch, k, k], bias)?;
            let y = b.unary(UnaryOp::Relu, y)?;
            (h, w, ch) = (h - k + 1, w - k + 1, o);
            act = nn::max_pool2(b, y, [bsz, ch, h, w])?;
            (h, w) = (h / 2, w / 2);
        }
        let (w1, b1) = (blocks.next(b, &[self.flat, c.hidden])?, blocks.next(b, &[c.hidden])?);
        let z = nn::dense(b, act, w1, b1)?;
        let z = b.unary(UnaryOp::Relu, z)?;
        let (w2, b2) = (blocks.next(b, &[c.hidden, c.classes])?, blocks.next(b, &[c.classes])?);
        nn::dense(b, z, w2, b2)
    }
}

/// A model on a minibatch as an [`Objective`] of its flat parameters: the mean
/// cross-entropy. [`Objective::project`] takes ONE k-direction tensor pass for any `k`;
/// [`Objective::gradient`] is the model's backprop gradient (all three models have one).
#[derive(Clone, Copy, Debug)]
pub struct Minibatch<'a> {
    model: &'a dyn Model,
    batch: &'a Batch,
}

impl<'a> Minibatch<'a> {
    /// `model` on `batch`; errors if the batch's samples do not fit the model or a label is
    /// not below the number of classes.
    pub fn new(model: &'a dyn Model, batch: &'a Batch) -> Result<Self> {
        batch_rows(&batch.x, model.sample_size(), &model.name())?;
        if let Some(&y) = batch.labels.iter().find(|&&y| y >= model.classes()) {
            return Err(Error::InvalidArgument(format!(
                "label {y} for a model with {} classes",
                model.classes()
            )));
        }
        Ok(Self { model, batch })
    }

    /// The model.
    pub fn model(&self) -> &'a dyn Model {
        self.model
    }

    /// The batch.
    pub fn batch(&self) -> &'a Batch {
        self.batch
    }
}

impl Objective for Minibatch<'_> {
    fn dim(&self) -> usize {
        self.model.num_params()
    }

    fn value(&self, x: &[f64]) -> Result<f64> {
        self.model.loss(&Params::primal(x), self.batch)?.value()
    }

    fn hyper_dual(&self, x: &[f64], v1: &[f64], v2: &[f64]) -> Result<HyperDual<f64>> {
        self.model.loss(&Params::hyper_dual(x, v1, v2)?, self.batch)?.to_hyper_dual()
    }

    fn directional(&self, x: &[f64], v: &[f64]) -> Result<Jet<f64>> {
        self.model.loss(&Params::jet(x, v)?, self.batch)?.to_jet()
    }

    fn project(&self, x: &[f64], dirs: &[Vec<f64>]) -> Result<Projection<f64>> {
        self.model.loss(&Params::directions(x, dirs)?, self.batch)?.to_projection(dirs.len())
    }

    fn gradient(&self, x: &[f64]) -> Option<Result<Vec<f64>>> {
        self.model.loss_and_gradient(x, self.batch).map(|r| r.map(|(_, g)| g))
    }

    /// The batch's inputs as the span of the model's first layer, if it is dense on them
    /// ([`Model::input_layer_width`]).
    fn input_span(&self) -> Option<crate::InputSpan<'_>> {
        let out = self.model.input_layer_width()?;
        let x = &self.batch.x;
        let rows = x.shape().first().copied()?;
        crate::InputSpan::new(0, x.re(), rows, self.model.sample_size(), out).ok()
    }
}

/// Loss and accuracy of a model over a data set.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluation {
    /// Mean cross-entropy over all samples.
    pub loss: f64,
    /// Fraction classified correctly.
    pub accuracy: f64,
}

/// Evaluates `model` at `theta` on all of `data` in primal passes of at most `chunk` samples.
pub fn evaluate(model: &dyn Model, theta: &[f64], data: &Dataset, chunk: usize) -> Result<Evaluation> {
    if data.is_empty() {
        return Err(Error::InvalidArgument(format!("evaluate: data set {} is empty", data.name())));
    }
    if chunk == 0 {
        return Err(Error::InvalidArgument(format!("evaluate: chunk size 0 for data set {}", data.name())));
    }
    let params = Params::primal(theta);
    check_len(|| "parameters".into(), model.num_params(), theta.len())?;
    let (mut loss, mut hits) = (0.0, 0.0);
    let idx: Vec<usize> = (0..data.len()).collect();
    for part in idx.chunks(chunk) {
        let batch = data.batch(part)?;
        let logits = model.logits(&params, &batch.x)?;
        let n = part.len() as f64;
        loss += n * ops::cross_entropy(&logits, &batch.labels)?.value()?;
        hits += n * ops::accuracy(&logits, &batch.labels)?;
    }
    let n = data.len() as f64;
    Ok(Evaluation { loss: loss / n, accuracy: hits / n })
}
