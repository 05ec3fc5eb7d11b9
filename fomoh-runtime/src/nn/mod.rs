//! One tensor language for models and losses: written once, run eagerly or compiled.
//!
//! A model's forward pass and its loss are written against [`Backend`], the way scalar code
//! is written against [`crate::Scalar`]. Two backends run the same definition:
//!
//! - [`Eager`]: the runtime's tensors ([`crate::tensor::Tensor`]), every derivative plane of
//!   the pass's [`crate::tensor::Mode`] computed op by op;
//! - the JIT's tensor tracer (`fomoh_jit::model::TensorTracer`), which records the graph and
//!   compiles it into fused native loops (`fomoh::jit::compile_model`).
//!
//! Tensors are handles ([`Var`]) that an operation consumes: a value used twice is
//! duplicated first with [`Backend::dup`] (free in both backends), so the eager backend can
//! update a tensor in place and free it as soon as it is consumed. Tensors have rank 0 to 2
//! (a scalar, a vector, a matrix: the JIT's shapes); elementwise binary operations broadcast
//! as numpy does.
//!
//! The layers ([`dense`], [`conv2d`], [`max_pool2`]) and the losses ([`log_softmax`],
//! [`cross_entropy`], [`nll`]) are defined once, here, in this language; the models of
//! [`crate::models`] are written with them.
//!
//! ```
//! use fomoh_runtime::nn::{self, Backend, Eager, Var};
//! use fomoh_runtime::tensor::{Params, Planes, Tensor};
//! use fomoh_runtime::Result;
//! // A user's layer, written once: swish(x W + b) = z · sigmoid(z).
//! fn swish_dense(b: &mut dyn Backend, x: Var, w: Var, bias: Var) -> Result<Var> {
//!     let z = nn::dense(b, x, w, bias)?;
//!     let z2 = b.dup(&z)?;
//!     let s = b.unary(fomoh_runtime::UnaryOp::Sigmoid, z2)?;
//!     b.mul(z, s)
//! }
//! let theta = [0.5, -0.25, 0.1];
//! let params = Params::primal(&theta);
//! let x = Tensor::constant(vec![1, 2], vec![1.0, 2.0])?;
//! let mut e = Eager::new(&params);
//! let xv = e.input(&x)?;
//! let (w, bias) = (e.param(0, &[2, 1])?, e.param(2, &[1])?);
//! let y = swish_dense(&mut e, xv, w, bias)?;
//! let z: f64 = 0.5 * 1.0 - 0.25 * 2.0 + 0.1;
//! assert!((e.take(y)?.re()[0] - z / (1.0 + (-z).exp())).abs() < 1e-15);
//! # Ok::<(), fomoh_runtime::Error>(())
//! ```

mod eager;
mod layers;

pub use eager::Eager;
pub use layers::{
    conv2d, conv2d_im2col, cross_entropy, dense, log_softmax, logsumexp_rows, max_pool2, nll, one_hot, Blocks,
};

use crate::error::Result;
use crate::rules::{BinaryOp, UnaryOp};
use std::sync::Arc;

/// A tensor of a [`Backend`]: a handle, consumed by the operation it is passed to (see
/// [`Backend::dup`] to use a value twice). Handles are only meaningful to the backend that
/// made them; another backend's handle is an error, not undefined behaviour.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Var(u32);

impl Var {
    /// A handle with the backend's own index `i` (for backend implementations).
    pub fn from_index(i: u32) -> Self {
        Var(i)
    }

    /// The backend's index of this handle.
    pub fn index(&self) -> u32 {
        self.0
    }
}

/// The operations a model or loss is written with: implemented by the runtime's eager
/// tensors ([`Eager`]) and by the JIT's tensor tracer. Shapes have rank 0 to 2; every
/// operation checks its shapes and returns [`crate::Error::Shape`] on a mismatch.
///
/// The object-safe primitives are the trait's methods; `add`, `mul` and
/// the other conveniences are defined on `dyn Backend` from them.
pub trait Backend {
    /// The parameter block `θ[offset .. offset + numel(shape)]` viewed with `shape`
    /// (active: it carries the pass's derivative planes).
    fn param(&mut self, offset: usize, shape: &[usize]) -> Result<Var>;

    /// A scalar literal (shape `[]`, broadcasts).
    fn constant(&mut self, c: f64) -> Result<Var>;

    /// The shape of `x`.
    fn shape(&self, x: &Var) -> Result<Vec<usize>>;

    /// A second handle to the value of `x` (no copy of the data in either backend).
    fn dup(&mut self, x: &Var) -> Result<Var>;

    /// An elementwise function from the rule table (any [`UnaryOp`], user primitives too).
    fn unary(&mut self, op: UnaryOp, x: Var) -> Result<Var>;

    /// An elementwise binary function with numpy broadcasting.
    fn binary(&mut self, op: BinaryOp, a: Var, b: Var) -> Result<Var>;

    /// The matrix product `[m, k] × [k, n] -> [m, n]`.
    fn matmul(&mut self, a: Var, b: Var) -> Result<Var>;

    /// The same elements (row-major) with another shape.
    fn reshape(&mut self, x: Var, shape: &[usize]) -> Result<Var>;

    /// A copy: element `e` of the result (of `shape`) is element `idx[e]` of `x` (row-major),
    /// every derivative plane alike. (Index lists are shared: layers reuse the lists of
    /// equal shapes.)
    fn gather(&mut self, x: Var, idx: Arc<Vec<usize>>, shape: &[usize]) -> Result<Var>;

    /// A windowed maximum: with `w = windows.len() / numel(shape)`, element `e` of the result
    /// is the element of `x` at `windows[e·w + t]` for the first `t` whose primal value is
    /// strictly greater than every earlier candidate's, with all that element's planes.
    fn max_over(&mut self, x: Var, windows: Arc<Vec<usize>>, shape: &[usize]) -> Result<Var>;

    /// The sum along the last axis: `[m, n] -> [m]`, `[n] -> []`.
    fn sum_rows(&mut self, x: Var) -> Result<Var>;

    /// The sum of all elements (shape `[]`).
    fn sum(&mut self, x: Var) -> Result<Var>;

    /// The row maxima of the primal values as a passive tensor (no derivative planes):
    /// `[m, n] -> [m]`, `[n] -> []`; a stop-gradient shift.
    fn max_rows_passive(&mut self, x: Var) -> Result<Var>;

    /// [`conv2d`]: [`conv2d_im2col`] (the one definition) run on the whole batch, or on
    /// blocks of samples whose results are stacked (a schedule, not another definition).
    fn conv2d(&mut self, x: Var, x_dims: [usize; 4], w: Var, w_dims: [usize; 4], bias: Var) -> Result<Var>;
}

/// Whether `idx` lists every index below `n` exactly once (a copy by `idx` is then a
/// permutation, which both backends let elementwise functions pass through).
pub fn is_permutation(idx: &[usize], n: usize) -> bool {
    if idx.len() != n {
        return false;
    }
    let mut seen = vec![false; n];
    idx.iter().all(|&j| j < n && !std::mem::replace(&mut seen[j], true))
}

impl dyn Backend + '_ {
    /// `a + b` (broadcasting).
    pub fn add(&mut self, a: Var, b: Var) -> Result<Var> {
        self.binary(BinaryOp::Add, a, b)
    }

    /// `a - b` (broadcasting).
    pub fn sub(&mut self, a: Var, b: Var) -> Result<Var> {
        self.binary(BinaryOp::Sub, a, b)
    }

    /// `a · b` elementwise (broadcasting).
    pub fn mul(&mut self, a: Var, b: Var) -> Result<Var> {
        self.binary(BinaryOp::Mul, a, b)
    }

    /// `a / b` elementwise (broadcasting).
    pub fn div(&mut self, a: Var, b: Var) -> Result<Var> {
        self.binary(BinaryOp::Div, a, b)
    }

    /// `c · x`.
    pub fn scale(&mut self, x: Var, c: f64) -> Result<Var> {
        let c = self.constant(c)?;
        self.mul(x, c)
    }

    /// The number of elements of `x`.
    pub fn numel(&self, x: &Var) -> Result<usize> {
        Ok(self.shape(x)?.iter().product())
    }
}
