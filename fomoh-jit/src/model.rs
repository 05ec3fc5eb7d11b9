//! Models compiled from their one definition: the tensor tracer ([`TensorTracer`], the
//! tensor language's recording backend) and [`compile_model`].
//!
//! A model's [`Model::forward`] is written once against [`fomoh_runtime::nn::Backend`]; the
//! runtime runs it eagerly, and [`compile_model`] runs the very same code on a
//! [`TensorTracer`], which records a tensor graph ([`TensorBuilder`]) with the batch's
//! inputs and one-hot targets as bound input slots, appends the language's
//! [`nn::cross_entropy`] and compiles it ([`TensorProgram`]).
//!
//! ```
//! use fomoh_runtime::data::Dataset;
//! use fomoh_runtime::models::{Activation, Minibatch, Mlp, Model};
//! use fomoh_runtime::Objective;
//! let digits = Dataset::digits()?;
//! let batch = digits.head(64)?;
//! let model = Mlp::new(&[64, 16, 10], Activation::Tanh)?;
//! let theta = model.init(0);
//! let eager = Minibatch::new(&model, &batch)?;
//! let compiled = fomoh_jit::compile_model(&model, batch.len())?;
//! let obj = compiled.bind(&batch)?;
//! assert!((obj.value(&theta)? - eager.value(&theta)?).abs() < 1e-12);
//! let obj32 = compiled.with_float::<f32>().bind(&batch)?;   // f32 kernels, f64 interface
//! assert!((obj32.value(&theta)? - eager.value(&theta)?).abs() < 1e-4);
//! # Ok::<(), fomoh_runtime::Error>(())
//! ```

use crate::tensor::{Bound, Tensor, TensorBuilder, TensorProgram};
use crate::JitFloat;
use fomoh_runtime::data::Batch;
use fomoh_runtime::models::Model;
use fomoh_runtime::nn::{self, Backend, Var};
use fomoh_runtime::tensor::Planes;
use fomoh_runtime::{BinaryOp, Error, HyperDual, Jet, Objective, Projection, Result, UnaryOp};
use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

/// The tensor language's recording backend: every operation appends nodes to a
/// [`TensorBuilder`] graph, which [`TensorTracer::finish`] turns into a [`TensorProgram`].
///
/// One rewrite happens while recording: an elementwise function of a permuting copy is
/// recorded before the copy (`f(P x) = P f(x)`, same cost), so that a following copy or
/// windowed maximum composes with the permutation (a convolution's activation and pooling
/// read straight from the convolution's output).
#[derive(Debug)]
pub struct TensorTracer {
    b: TensorBuilder,
    /// The node of each handle.
    vars: Vec<Tensor>,
    /// Nodes that are a permuting copy `P x` of a whole node: node index -> (`x`, `P`).
    perms: HashMap<usize, (Tensor, Arc<Vec<usize>>)>,
}

impl TensorTracer {
    /// A tracer over `n_params` parameters.
    pub fn new(n_params: usize) -> Self {
        Self { b: TensorBuilder::new(n_params), vars: Vec::new(), perms: HashMap::new() }
    }

    fn var(&mut self, t: Tensor) -> Result<Var> {
        let i = u32::try_from(self.vars.len())
            .map_err(|_| Error::InvalidArgument("tensor tracer: more than 2³² handles".into()))?;
        self.vars.push(t);
        Ok(Var::from_index(i))
    }

    fn node(&self, v: &Var) -> Result<Tensor> {
        self.vars.get(v.index() as usize).copied().ok_or_else(|| {
            Error::InvalidArgument(format!("tensor {} does not belong to this tensor tracer", v.index()))
        })
    }

    /// A tracer that continues recording into `b` (to mix the builder's own operations with
    /// the language's layers: [`TensorTracer::wrap`], [`TensorTracer::tensor`]).
    pub fn from_builder(b: TensorBuilder) -> Self {
        Self { b, vars: Vec::new(), perms: HashMap::new() }
    }

    /// The graph recorded so far.
    pub fn into_builder(self) -> TensorBuilder {
        self.b
    }

    /// A handle to the builder's tensor `t`.
    pub fn wrap(&mut self, t: Tensor) -> Result<Var> {
        self.b.shape_of(t)?;
        self.var(t)
    }

    /// The builder's tensor behind the handle `v`.
    pub fn tensor(&self, v: &Var) -> Result<Tensor> {
        self.node(v)
    }

    /// The passive input `slot` of `shape`, bound at call time ([`TensorProgram::bind`]).
    pub fn input(&mut self, slot: usize, shape: &[usize]) -> Result<Var> {
        let t = self.b.input(slot, shape)?;
        self.var(t)
    }

    /// Passive data of `shape` (row-major): a constant of the graph.
    pub fn data(&mut self, values: Vec<f64>, shape: &[usize]) -> Result<Var> {
        let t = self.b.data(values, shape)?;
        self.var(t)
    }

    /// The recorded graph, finished with the scalar output `out`.
    pub fn finish(self, out: Var) -> Result<TensorProgram> {
        let t = self.node(&out)?;
        Ok(self.b.finish(t)?)
    }
}

impl Backend for TensorTracer {
    fn param(&mut self, offset: usize, shape: &[usize]) -> Result<Var> {
        let t = self.b.param(offset, shape)?;
        self.var(t)
    }

    fn constant(&mut self, c: f64) -> Result<Var> {
        let t = self.b.constant(c);
        self.var(t)
    }

    fn shape(&self, x: &Var) -> Result<Vec<usize>> {
        Ok(self.b.shape_of(self.node(x)?)?.to_vec())
    }

    fn dup(&mut self, x: &Var) -> Result<Var> {
        let t = self.node(x)?;
        self.var(t)
    }

    fn unary(&mut self, op: UnaryOp, x: Var) -> Result<Var> {
        let t = self.node(&x)?;
        if let Some((src, perm)) = self.perms.get(&t.index()).cloned() {
            let shape = self.b.shape_of(t)?.to_vec();
            let y = self.b.unary(op, src)?;
            let g = self.b.gather(y, perm.to_vec(), &shape)?;
            self.perms.insert(g.index(), (y, perm));
            return self.var(g);
        }
        let y = self.b.unary(op, t)?;
        self.var(y)
    }

    fn binary(&mut self, op: BinaryOp, a: Var, b: Var) -> Result<Var> {
        let (a, b) = (self.node(&a)?, self.node(&b)?);
        let t = self.b.binary(op, a, b)?;
        self.var(t)
    }

    fn matmul(&mut self, a: Var, b: Var) -> Result<Var> {
        let (a, b) = (self.node(&a)?, self.node(&b)?);
        let t = self.b.matmul(a, b)?;
        self.var(t)
    }

    fn reshape(&mut self, x: Var, shape: &[usize]) -> Result<Var> {
        let x = self.node(&x)?;
        let t = self.b.reshape(x, shape)?;
        self.var(t)
    }

    fn gather(&mut self, x: Var, idx: Arc<Vec<usize>>, shape: &[usize]) -> Result<Var> {
        let x = self.node(&x)?;
        let n: usize = self.b.shape_of(x)?.iter().product();
        let perm = nn::is_permutation(&idx, n).then(|| idx.clone());
        let t = self.b.gather(x, idx.to_vec(), shape)?;
        if let Some(perm) = perm {
            self.perms.insert(t.index(), (x, perm));
        }
        self.var(t)
    }

    fn max_over(&mut self, x: Var, windows: Arc<Vec<usize>>, shape: &[usize]) -> Result<Var> {
        let x = self.node(&x)?;
        let t = self.b.max_over(x, windows.to_vec(), shape)?;
        self.var(t)
    }

    fn sum_rows(&mut self, x: Var) -> Result<Var> {
        let x = self.node(&x)?;
        let t = self.b.sum_rows(x)?;
        self.var(t)
    }

    fn sum(&mut self, x: Var) -> Result<Var> {
        let x = self.node(&x)?;
        let t = self.b.sum(x);
        self.var(t)
    }

    fn max_rows_passive(&mut self, x: Var) -> Result<Var> {
        let x = self.node(&x)?;
        let t = self.b.max_rows_passive(x)?;
        self.var(t)
    }

    /// The whole batch at once: one im2col copy and one matrix product.
    fn conv2d(&mut self, x: Var, x_dims: [usize; 4], w: Var, w_dims: [usize; 4], bias: Var) -> Result<Var> {
        nn::conv2d_im2col(self, x, x_dims, w, w_dims, bias)
    }
}

/// A model's mean cross-entropy compiled for minibatches of a fixed number of samples:
/// input 0 is the batch's features (`[batch, sample_size]`), input 1 its one-hot targets
/// (`[batch, classes]`). Made by [`compile_model`]; one compiled program serves every
/// minibatch of that size ([`CompiledModel::bind`]).
#[derive(Debug)]
pub struct CompiledModel<T: JitFloat = f64> {
    program: Arc<TensorProgram<T>>,
    name: String,
    rows: usize,
    features: usize,
    classes: usize,
}

/// Where the traced loss reads the batch from.
enum Source<'a> {
    /// Input slots 0 (features) and 1 (one-hot targets) for batches of this many samples.
    Inputs(usize),
    /// One batch, baked into the graph as data.
    Data(&'a Batch),
}

/// Traces `model`'s mean cross-entropy ([`Model::forward`], then [`nn::cross_entropy`]).
fn trace_loss(model: &dyn Model, source: Source<'_>) -> Result<TensorProgram> {
    let (features, classes) = (model.sample_size(), model.classes());
    let rows = match source {
        Source::Inputs(rows) => rows,
        Source::Data(batch) => batch.labels.len(),
    };
    if rows == 0 {
        return Err(Error::InvalidArgument(format!("compile_model: {} on an empty batch", model.name())));
    }
    let mut t = TensorTracer::new(model.num_params());
    let (x, y) = match source {
        Source::Inputs(_) => (t.input(0, &[rows, features])?, t.input(1, &[rows, classes])?),
        Source::Data(batch) => {
            fomoh_runtime::error::check_len(
                || format!("batch features for {} ({features} per sample)", model.name()),
                rows * features,
                batch.x.numel(),
            )?;
            let y = nn::one_hot(&batch.labels, classes)?;
            (t.data(batch.x.re().to_vec(), &[rows, features])?, t.data(y, &[rows, classes])?)
        }
    };
    let z = model.forward(&mut t, x)?;
    let zs = t.shape(&z)?;
    if zs != [rows, classes] {
        return Err(Error::Shape(format!(
            "{}: forward gave logits of shape {zs:?}, expected [{rows}, {classes}]",
            model.name()
        )));
    }
    let loss = nn::cross_entropy(&mut t, z, y)?;
    t.finish(loss)
}

/// Compiles `model`'s mean cross-entropy on minibatches of `batch` samples from its one
/// definition ([`Model::forward`] traced on a [`TensorTracer`], then [`nn::cross_entropy`]).
/// Code is generated per mode on first use and shared through the JIT's code cache.
///
/// Errors (typed) if `batch` is 0 or the model's forward pass does not give logits of
/// shape `[batch, classes]`.
pub fn compile_model(model: &dyn Model, batch: usize) -> Result<CompiledModel> {
    Ok(CompiledModel {
        program: Arc::new(trace_loss(model, Source::Inputs(batch))?),
        name: model.name(),
        rows: batch,
        features: model.sample_size(),
        classes: model.classes(),
    })
}

/// `model`'s mean cross-entropy on this one `batch`, its features and targets constants of
/// the graph (copies of them fold at build time, e.g. a CNN's first im2col copy): a program
/// without inputs. [`compile_model`] serves every minibatch of a size instead.
pub fn compile_model_for(model: &dyn Model, batch: &Batch) -> Result<TensorProgram> {
    trace_loss(model, Source::Data(batch))
}

impl<T: JitFloat> CompiledModel<T> {
    /// The same model with kernels in the float type `U` (`f32`: half the bytes per lane;
    /// the [`Objective`] interface stays `f64`).
    pub fn with_float<U: JitFloat>(&self) -> CompiledModel<U> {
        CompiledModel {
            program: Arc::new(self.program.with_float::<U>()),
            name: self.name.clone(),
            rows: self.rows,
            features: self.features,
            classes: self.classes,
        }
    }

    /// The compiled tensor program.
    pub fn program(&self) -> &TensorProgram<T> {
        &self.program
    }

    /// The compiled tensor program, consumed (inputs: features, then one-hot targets; a
    /// program still shared by a bound model is copied, its code shared through the cache).
    pub fn into_program(self) -> TensorProgram<T> {
        Arc::try_unwrap(self.program).unwrap_or_else(|p| p.with_float::<T>())
    }

    /// The number of samples per minibatch.
    pub fn batch_size(&self) -> usize {
        self.rows
    }

    /// The model's name ([`Model::name`]).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The compiled loss on `batch` (the features used in place in `f64`, converted to `T`
    /// once otherwise; the labels as one-hot rows): an [`Objective`] in every mode.
    ///
    /// Errors (typed, before any native code runs) if the batch does not have
    /// [`CompiledModel::batch_size`] samples of the model's sample size, or a label is not
    /// below the number of classes.
    pub fn bind<'a>(&self, batch: &'a Batch) -> Result<BoundModel<'a, T>> {
        self.bind_rows(batch, 0..batch.labels.len())
    }

    /// [`CompiledModel::bind`] on the samples `rows` of `batch` (no copy in `f64`): one
    /// shard of a larger minibatch.
    pub fn bind_rows<'a>(&self, batch: &'a Batch, rows: Range<usize>) -> Result<BoundModel<'a, T>> {
        let labels = batch.labels.get(rows.clone()).ok_or_else(|| {
            Error::InvalidArgument(format!("rows {rows:?} of a batch of {} samples", batch.labels.len()))
        })?;
        fomoh_runtime::error::check_len(
            || format!("samples in the batch for {} compiled for {} samples", self.name, self.rows),
            self.rows,
            labels.len(),
        )?;
        fomoh_runtime::error::check_len(
            || format!("batch features for {} ({} per sample)", self.name, self.features),
            batch.labels.len() * self.features,
            batch.x.numel(),
        )?;
        let x = &batch.x.re()[rows.start * self.features..rows.end * self.features];
        let y = nn::one_hot(labels, self.classes)?;
        let bound = BoundModel {
            program: self.program.clone(),
            x: crate::float::cast::<T>(x),
            y: crate::float::cast::<T>(&y).into_owned(),
        };
        bound.bound()?;
        Ok(bound)
    }
}

/// A [`CompiledModel`] bound to one minibatch: its mean cross-entropy as an [`Objective`]
/// (value, hyper-dual, jet, one compiled pass for K = 1..16 directions).
#[derive(Debug)]
pub struct BoundModel<'a, T: JitFloat = f64> {
    program: Arc<TensorProgram<T>>,
    x: Cow<'a, [T]>,
    y: Vec<T>,
}

impl<T: JitFloat> BoundModel<'_, T> {
    fn bound(&self) -> Result<Bound<'_, T>> {
        self.program.bind(&[self.x.as_ref(), self.y.as_slice()])
    }

    /// The compiled program.
    pub fn program(&self) -> &TensorProgram<T> {
        &self.program
    }
}

impl<T: JitFloat> Objective for BoundModel<'_, T> {
    fn dim(&self) -> usize {
        self.program.dim()
    }
    fn value(&self, x: &[f64]) -> Result<f64> {
        Objective::value(&self.bound()?, x)
    }
    fn hyper_dual(&self, x: &[f64], v1: &[f64], v2: &[f64]) -> Result<HyperDual<f64>> {
        Objective::hyper_dual(&self.bound()?, x, v1, v2)
    }
    fn directional(&self, x: &[f64], v: &[f64]) -> Result<Jet<f64>> {
        Objective::directional(&self.bound()?, x, v)
    }
    fn project(&self, x: &[f64], dirs: &[Vec<f64>]) -> Result<Projection<f64>> {
        Objective::project(&self.bound()?, x, dirs)
    }
}
