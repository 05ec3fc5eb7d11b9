//! Tensor front end: graphs over tensors with static shapes (rank 0 to 2), compiled to
//! fused Cranelift loops.
//!
//! A [`TensorBuilder`] records nodes: active parameters (contiguous slices of the flat
//! parameter vector θ), passive data (constants of the graph), passive inputs (static shape,
//! bound at call time with [`TensorProgram::bind`], so one compiled program serves every
//! minibatch of a size), scalar constants, elementwise unary/binary ops with numpy-style
//! broadcasting (`maximum` among them), reductions (`sum`, `sum_rows`, the active `max`,
//! `max_rows` and windowed `max_over`, a passive row max and the `logsumexp`/`logsumexp_rows`
//! built from them), `matmul`, `reshape` and `slice` (views, no copy), `broadcast_to`,
//! `concat`, `slice_axis`, `transpose` and `gather` (copies, or views where nothing is
//! copied), and `conv2d`/`max_pool2` built from them ([`models::cnn`] is the paper's CNN).
//!
//! Copies and windowed maxima run as steps over the lane buffers: a copy moves every lane
//! alike; a maximum selects each window's first primal maximum (the runtime's tie rule) and
//! copies every lane of that element. Their indices are checked when the node is built;
//! chains of copies compose and copies of data fold, at build time.
//!
//! Compilation ([`TensorProgram`]): every maximal chain of elementwise ops (each with one
//! consumer of the same shape) together with a trailing reduction becomes ONE loop whose
//! body is a scalar graph over the loaded elements, staged in the requested mode from the
//! runtime's rule table (the same staging as the scalar front end, [`crate::stage`]); all
//! lanes live in registers and only the non-zero lanes of each operand are loaded. In the
//! derivative modes a body over few leaves is instead preaccumulated where that stages
//! fewer nodes (its local gradient and Hessian, then the chain rule, see [`LoopStrategy`]);
//! loops run on 128-bit vectors of columns (`f64x2`, or `f32x4` in an `f32` program, see
//! [`TensorProgram::with_float`]) and fuse products into `fma` where the CPU has it. Matmul
//! lanes are obtained by staging the scalar product `a·b` and reading off its bilinear
//! terms; the products are few large `matrixmultiply` calls (`dgemm`, or `sgemm` in `f32`)
//! on lane planes. Compiled plans go through the process-wide code cache
//! ([`crate::cache`], keyed per float type and loop strategy): building the same graph twice
//! compiles each mode once, and the code is freed with the last program using it. A graph
//! that is a sum over the rows of a batch (a model's mean loss) runs as row tiles, the same
//! graph over blocks of rows side by side, so that a tile's lanes stay in cache
//! ([`RowTiling`], [`TensorProgram::with_row_tiling`]).
//!
//! ```
//! use fomoh_jit::tensor::TensorBuilder;
//! // extended Rosenbrock: a handful of tensor nodes for any n
//! let n = 1000;
//! let mut b = TensorBuilder::new(n);
//! let x = b.param(0, &[n]).unwrap();
//! let (hi, lo) = (b.slice(x, 1, n).unwrap(), b.slice(x, 0, n - 1).unwrap());
//! let t = b.mul(lo, lo).unwrap();
//! let d = b.sub(hi, t).unwrap();
//! let c100 = b.constant(100.0);
//! let one = b.constant(1.0);
//! let a = b.mul(d, d).unwrap();
//! let a = b.mul(c100, a).unwrap();
//! let e = b.sub(one, lo).unwrap();
//! let e2 = b.mul(e, e).unwrap();
//! let s = b.add(a, e2).unwrap();
//! let f = b.sum(s);
//! let p = b.finish(f).unwrap();
//! let x0: Vec<f64> = (0..n).map(|i| if i % 2 == 0 { -1.2 } else { 1.0 }).collect();
//! // pairs (-1.2, 1) give 24.2 each, pairs (1, -1.2) give 100·(2.2)² = 484 each
//! assert!((p.value(&x0).unwrap() - 24.2 * (n / 2) as f64 - 484.0 * (n / 2 - 1) as f64).abs() < 1e-6);
//! ```

use crate::codegen::{self, cg_err, float_cc, CodegenOptions, OwnedCode};
use crate::error::{check_len, JitError, JitResult};
use crate::externs;
use crate::float::{FloatType, JitFloat};
use crate::ir::{Cmp, Graph, NodeId, Op};
use crate::stage::{stage_lanes, Mode, SLOTS};
use cranelift_codegen::entity::packed_option::ReservedValue;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{types, AbiParam, InstBuilder, MemFlagsData, UserFuncName, Value};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use cranelift_module::{FuncId, Linkage, Module};
use fomoh_runtime::{BinaryOp, Dim, HyperDual, Jet, Packed, Projection, Result, Scalar, UnaryOp};
use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

mod fuse;
mod tile;
pub use fuse::LoopStrategy;
pub use tile::{RowTiling, MAX_TILE_ROWS, MIN_TILE_ROWS, TILE_BYTES, TILE_WORK};

/// A handle to a node of a [`TensorBuilder`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tensor(u32);

impl Tensor {
    /// The node's index in [`TensorProgram::nodes`] (and in its builder).
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// One tensor op.
#[derive(Clone, Debug)]
pub enum TOp {
    /// `θ[offset .. offset + numel]` (active).
    Param(usize),
    /// Passive data (row-major), a constant of the graph.
    Data(Arc<Vec<f64>>),
    /// Passive input slot `i` (row-major): data of a static shape bound at call time with
    /// [`TensorProgram::bind`], so one compiled program serves every minibatch of that shape.
    Input(usize),
    /// A scalar literal (broadcasts).
    Const(f64),
    /// `-a`.
    Neg(u32),
    /// Elementwise function from the rule table.
    Unary(UnaryOp, u32),
    /// Elementwise binary op with broadcasting.
    Binary(BinaryOp, u32, u32),
    /// Elementwise `if cmp(a, b) { t } else { f }` with broadcasting, decided by the primal
    /// values of `a` and `b`; every lane comes from the chosen branch (the scalar
    /// `Op::Select`, the runtime's `max`/`abs`/`relu` rule).
    Select(Cmp, [u32; 4]),
    /// Sum of all elements (shape `[]`).
    Sum(u32),
    /// Sum along the last axis (`[m, n] -> [m]`).
    SumRows(u32),
    /// Maximum along the last axis of the primal values, as a passive value (no derivative
    /// lanes): a stop-gradient shift for `logsumexp_rows`.
    MaxRowsPassive(u32),
    /// Matrix product `[m, k] x [k, n]`.
    Matmul(u32, u32),
    /// Same data, new shape.
    Reshape(u32),
    /// Rows `start..start + shape[0]` along the first axis (contiguous view).
    Slice(u32, usize),
    /// A copy: output element `e` is element `idx[e]` of the row-major concatenation of the
    /// parts' elements (gather, concat, broadcast, im2col; every lane is copied alike).
    Gather(Vec<u32>, Arc<Vec<usize>>),
    /// A windowed maximum: with `w = windows.len() / numel(shape)`, output element `e` is
    /// the input element `windows[e·w + t]` for the first `t` with the largest primal value
    /// (strictly greater than every earlier candidate, the runtime's tie rule); all its
    /// derivative lanes are the selected element's lanes.
    MaxSelect(u32, Arc<Vec<usize>>),
}

/// A node: op and static shape.
#[derive(Clone, Debug)]
pub struct TNode {
    /// The op.
    pub op: TOp,
    /// Its static shape (rank 0 to 2).
    pub shape: Vec<usize>,
}

fn numel(s: &[usize]) -> usize {
    s.iter().product()
}

/// `(rows, cols)` of a shape of rank <= 2 (`[n]` is a row).
fn as2(s: &[usize]) -> (usize, usize) {
    match s {
        [] => (1, 1),
        [n] => (1, *n),
        [m, n] => (*m, *n),
        _ => unreachable!("rank checked by the builder"),
    }
}

/// The most scratch buffer sets a program keeps for reuse (one per mode or concurrent caller).
const SCRATCH_SETS: usize = 4;

/// The most passive input slots of one graph.
const MAX_INPUTS: usize = 1 << 10;

fn shape_err<T>(m: String) -> JitResult<T> {
    Err(JitError::Shape(m))
}

/// Records a tensor graph over a parameter vector of length `n_params`.
#[derive(Clone, Debug)]
pub struct TensorBuilder {
    nodes: Vec<TNode>,
    n_params: usize,
    /// The node of each declared input slot.
    inputs: Vec<Option<u32>>,
}

impl TensorBuilder {
    /// A builder over `n_params` active parameters.
    pub fn new(n_params: usize) -> Self {
        TensorBuilder { nodes: Vec::new(), n_params, inputs: Vec::new() }
    }

    fn push(&mut self, op: TOp, shape: Vec<usize>) -> Tensor {
        self.nodes.push(TNode { op, shape });
        Tensor(self.nodes.len() as u32 - 1)
    }

    fn shape(&self, t: Tensor) -> JitResult<&[usize]> {
        self.nodes
            .get(t.0 as usize)
            .map(|n| n.shape.as_slice())
            .ok_or_else(|| JitError::Unsupported("a tensor from another builder".into()))
    }

    /// The static shape of `t` (an error for a tensor of another builder).
    pub fn shape_of(&self, t: Tensor) -> JitResult<&[usize]> {
        self.shape(t)
    }

    fn check_shape(shape: &[usize]) -> JitResult<()> {
        if shape.len() > 2 || shape.contains(&0) {
            return shape_err(format!("shape {shape:?}: rank must be <= 2 and every extent >= 1"));
        }
        numel(shape)
            .checked_mul(8)
            .filter(|&b| b < (1 << 40))
            .map(|_| ())
            .ok_or(JitError::Shape(format!("shape {shape:?} is over the size limit")))
    }

    /// The active slice `θ[offset .. offset + numel(shape)]` viewed with `shape`.
    pub fn param(&mut self, offset: usize, shape: &[usize]) -> JitResult<Tensor> {
        Self::check_shape(shape)?;
        if offset.checked_add(numel(shape)).is_none_or(|e| e > self.n_params) {
            return shape_err(format!(
                "parameter slice at {offset} of shape {shape:?} exceeds the {} parameters",
                self.n_params
            ));
        }
        Ok(self.push(TOp::Param(offset), shape.to_vec()))
    }

    /// Passive data of `shape` (row-major).
    pub fn data(&mut self, values: Vec<f64>, shape: &[usize]) -> JitResult<Tensor> {
        Self::check_shape(shape)?;
        check_len("data", numel(shape), values.len())?;
        Ok(self.push(TOp::Data(Arc::new(values)), shape.to_vec()))
    }

    /// The passive input `slot` of `shape` (row-major), bound at call time by
    /// [`TensorProgram::bind`]. Slots must be numbered `0..n` without gaps by the time the
    /// graph is finished; declaring a slot again with the same shape returns the same tensor.
    pub fn input(&mut self, slot: usize, shape: &[usize]) -> JitResult<Tensor> {
        Self::check_shape(shape)?;
        if slot >= MAX_INPUTS {
            return shape_err(format!("input slot {slot}: at most {MAX_INPUTS} input slots"));
        }
        if let Some(Some(i)) = self.inputs.get(slot) {
            let have = &self.nodes[*i as usize].shape;
            if have != shape {
                return shape_err(format!("input slot {slot} declared with shape {have:?}, now {shape:?}"));
            }
            return Ok(Tensor(*i));
        }
        if self.inputs.len() <= slot {
            self.inputs.resize(slot + 1, None);
        }
        let t = self.push(TOp::Input(slot), shape.to_vec());
        self.inputs[slot] = Some(t.0);
        Ok(t)
    }

    /// A scalar literal.
    pub fn constant(&mut self, c: f64) -> Tensor {
        self.push(TOp::Const(c), Vec::new())
    }

    /// `-a`.
    pub fn neg(&mut self, a: Tensor) -> JitResult<Tensor> {
        let s = self.shape(a)?.to_vec();
        Ok(self.push(TOp::Neg(a.0), s))
    }

    /// An elementwise function (any [`UnaryOp`]).
    pub fn unary(&mut self, op: UnaryOp, a: Tensor) -> JitResult<Tensor> {
        let s = self.shape(a)?.to_vec();
        Ok(self.push(TOp::Unary(op, a.0), s))
    }

    /// The numpy-broadcast shape of `ts` (rank <= 2), or a shape error naming `what`.
    fn broadcast(&self, ts: &[Tensor], what: &str) -> JitResult<Vec<usize>> {
        let shapes: Vec<Vec<usize>> =
            ts.iter().map(|&t| self.shape(t).map(<[usize]>::to_vec)).collect::<JitResult<_>>()?;
        let rank = shapes.iter().map(Vec::len).max().unwrap_or(0);
        let mut out = vec![1; rank];
        for s in &shapes {
            let padded = vec![1; rank - s.len()].into_iter().chain(s.iter().copied());
            for (o, x) in out.iter_mut().zip(padded) {
                *o = match (*o, x) {
                    (o, x) if o == x => o,
                    (1, x) => x,
                    (o, 1) => o,
                    _ => return shape_err(format!("cannot broadcast {shapes:?} in `{what}`")),
                };
            }
        }
        Ok(out)
    }

    /// An elementwise binary op with numpy broadcasting (rank <= 2).
    pub fn binary(&mut self, op: BinaryOp, a: Tensor, b: Tensor) -> JitResult<Tensor> {
        let out = self.broadcast(&[a, b], op.name())?;
        Ok(self.push(TOp::Binary(op, a.0, b.0), out))
    }

    /// Elementwise `if cmp(a, b) { t } else { f }` with numpy broadcasting of all four
    /// (rank <= 2): the comparison is decided on the primal values and every derivative lane
    /// comes from the chosen branch, as the scalar tracer records `max`, `abs` or `relu`.
    ///
    /// ```
    /// use fomoh_jit::{ir::Cmp, TensorBuilder};
    /// // Σ relu(x)² over a vector
    /// let mut b = TensorBuilder::new(3);
    /// let x = b.param(0, &[3]).unwrap();
    /// let zero = b.constant(0.0);
    /// let r = b.select(Cmp::Gt, x, zero, x, zero).unwrap();
    /// let r2 = b.mul(r, r).unwrap();
    /// let f = b.sum(r2);
    /// let p = b.finish(f).unwrap();
    /// assert_eq!(p.value(&[1.0, -2.0, 3.0]).unwrap(), 10.0);
    /// ```
    pub fn select(&mut self, cmp: Cmp, a: Tensor, b: Tensor, t: Tensor, f: Tensor) -> JitResult<Tensor> {
        let out = self.broadcast(&[a, b, t, f], "select")?;
        Ok(self.push(TOp::Select(cmp, [a.0, b.0, t.0, f.0]), out))
    }

    /// `a + b`.
    pub fn add(&mut self, a: Tensor, b: Tensor) -> JitResult<Tensor> {
        self.binary(BinaryOp::Add, a, b)
    }
    /// `a - b`.
    pub fn sub(&mut self, a: Tensor, b: Tensor) -> JitResult<Tensor> {
        self.binary(BinaryOp::Sub, a, b)
    }
    /// `a * b` (elementwise).
    pub fn mul(&mut self, a: Tensor, b: Tensor) -> JitResult<Tensor> {
        self.binary(BinaryOp::Mul, a, b)
    }
    /// `a / b` (elementwise).
    pub fn div(&mut self, a: Tensor, b: Tensor) -> JitResult<Tensor> {
        self.binary(BinaryOp::Div, a, b)
    }

    /// The sum of all elements (a scalar).
    pub fn sum(&mut self, a: Tensor) -> Tensor {
        self.push(TOp::Sum(a.0), Vec::new())
    }

    /// The sum along the last axis: `[m, n] -> [m]` (`[n] -> []`).
    pub fn sum_rows(&mut self, a: Tensor) -> JitResult<Tensor> {
        let s = self.shape(a)?;
        let out = if s.len() == 2 { vec![s[0]] } else { Vec::new() };
        Ok(self.push(TOp::SumRows(a.0), out))
    }

    /// The row maxima of the primal values as a passive tensor (no derivative lanes).
    pub fn max_rows_passive(&mut self, a: Tensor) -> JitResult<Tensor> {
        let s = self.shape(a)?;
        let out = if s.len() == 2 { vec![s[0]] } else { Vec::new() };
        Ok(self.push(TOp::MaxRowsPassive(a.0), out))
    }

    /// `log Σ_j exp(a_ij)` per row, computed as `m + ln Σ exp(a - m)` with the passive row
    /// maximum `m` (exact derivatives: the expression does not depend on `m`).
    pub fn logsumexp_rows(&mut self, a: Tensor) -> JitResult<Tensor> {
        let m = self.max_rows_passive(a)?;
        let m2 = if self.shape(a)?.len() == 2 { self.reshape(m, &[self.shape(m)?[0], 1])? } else { m };
        let d = self.sub(a, m2)?;
        let e = self.unary(UnaryOp::Exp, d)?;
        let s = self.sum_rows(e)?;
        let l = self.unary(UnaryOp::Ln, s)?;
        self.add(l, m)
    }

    /// Matrix product `[m, k] x [k, n] -> [m, n]`.
    pub fn matmul(&mut self, a: Tensor, b: Tensor) -> JitResult<Tensor> {
        let (sa, sb) = (self.shape(a)?.to_vec(), self.shape(b)?.to_vec());
        if sa.len() != 2 || sb.len() != 2 || sa[1] != sb[0] {
            return shape_err(format!("matmul needs [m, k] x [k, n], got {sa:?} x {sb:?}"));
        }
        Ok(self.push(TOp::Matmul(a.0, b.0), vec![sa[0], sb[1]]))
    }

    /// The same elements with another shape.
    pub fn reshape(&mut self, a: Tensor, shape: &[usize]) -> JitResult<Tensor> {
        Self::check_shape(shape)?;
        let s = self.shape(a)?;
        if numel(s) != numel(shape) {
            return shape_err(format!("cannot reshape {s:?} into {shape:?}"));
        }
        Ok(self.push(TOp::Reshape(a.0), shape.to_vec()))
    }

    /// Rows (first-axis entries) `start..end` of `a`: a contiguous view.
    pub fn slice(&mut self, a: Tensor, start: usize, end: usize) -> JitResult<Tensor> {
        let s = self.shape(a)?.to_vec();
        if s.is_empty() || start >= end || end > s[0] {
            return shape_err(format!("slice {start}..{end} of a tensor of shape {s:?}"));
        }
        let mut out = s.clone();
        out[0] = end - start;
        Ok(self.push(TOp::Slice(a.0, start), out))
    }

    /// Elementwise `max(a, b)` with broadcasting (the rule table's `max`: a tie takes `a`,
    /// with `a`'s derivative lanes).
    pub fn maximum(&mut self, a: Tensor, b: Tensor) -> JitResult<Tensor> {
        self.binary(BinaryOp::Max, a, b)
    }

    /// The largest element (a scalar, shape `[]`): the first maximal element in row-major
    /// order, with all its derivative lanes.
    pub fn max(&mut self, a: Tensor) -> JitResult<Tensor> {
        let n = numel(self.shape(a)?);
        self.max_over(a, (0..n).collect(), &[])
    }

    /// The maximum along the last axis: `[m, n] -> [m]` (`[n] -> []`), the first maximal
    /// element of each row with all its derivative lanes (an active reduction, unlike
    /// [`TensorBuilder::max_rows_passive`]).
    pub fn max_rows(&mut self, a: Tensor) -> JitResult<Tensor> {
        let s = self.shape(a)?.to_vec();
        let (r, c) = as2(&s);
        let out = if s.len() == 2 { vec![r] } else { Vec::new() };
        self.max_over(a, (0..r * c).collect(), &out)
    }

    /// A general windowed maximum with its derivatives: output element `e` (of `shape`) is
    /// the element of `a` at `windows[e·w + t]`, `w = windows.len() / numel(shape)`, for the
    /// first `t` whose primal value is strictly greater than every earlier candidate's;
    /// every derivative lane is that element's lane. Errors (typed, at build time) if the
    /// windows do not split evenly into `numel(shape)` non-empty windows or an index is out
    /// of range.
    pub fn max_over(&mut self, a: Tensor, windows: Vec<usize>, shape: &[usize]) -> JitResult<Tensor> {
        if !shape.is_empty() {
            Self::check_shape(shape)?;
        }
        let (len, out) = (numel(self.shape(a)?), numel(shape));
        if windows.is_empty() || !windows.len().is_multiple_of(out) {
            return shape_err(format!(
                "max_over: {} window indices do not form {out} non-empty windows",
                windows.len()
            ));
        }
        if let Some(&j) = windows.iter().find(|&&j| j >= len) {
            return shape_err(format!("max_over: index {j} out of range for {len} elements"));
        }
        let w = windows.len() / out;
        // Views and copies of the input compose into the windows; data folds.
        let (mut src, mut win) = (a.0, windows);
        loop {
            match &self.nodes[src as usize].op {
                TOp::Reshape(x) => src = *x,
                TOp::Slice(x, start) => {
                    let off = start * numel(&self.nodes[*x as usize].shape[1..]);
                    win.iter_mut().for_each(|j| *j += off);
                    src = *x;
                }
                TOp::Gather(parts, idx) if parts.len() == 1 => {
                    win = win.iter().map(|&j| idx[j]).collect();
                    src = parts[0];
                }
                TOp::Data(d) => {
                    let v = win
                        .chunks(w)
                        .map(|c| d[c.iter().copied().fold(c[0], |b, j| if d[j] > d[b] { j } else { b })])
                        .collect();
                    return Ok(self.push(TOp::Data(Arc::new(v)), shape.to_vec()));
                }
                _ => break,
            }
        }
        Ok(self.push(TOp::MaxSelect(src, Arc::new(win)), shape.to_vec()))
    }

    /// `log Σ exp(a)` over all elements (a scalar), max-shifted like
    /// [`TensorBuilder::logsumexp_rows`].
    pub fn logsumexp(&mut self, a: Tensor) -> JitResult<Tensor> {
        let n = numel(self.shape(a)?);
        let flat = self.reshape(a, &[n])?;
        self.logsumexp_rows(flat)
    }

    /// `a` broadcast (numpy rules, explicitly) to `shape`: a view if no element repeats,
    /// otherwise a copy of every lane.
    pub fn broadcast_to(&mut self, a: Tensor, shape: &[usize]) -> JitResult<Tensor> {
        if !shape.is_empty() {
            Self::check_shape(shape)?;
        }
        let s = self.shape(a)?.to_vec();
        let ok =
            s.len() <= shape.len() && s.iter().rev().zip(shape.iter().rev()).all(|(&x, &y)| x == y || x == 1);
        if !ok {
            return shape_err(format!("cannot broadcast {s:?} to {shape:?}"));
        }
        if numel(&s) == numel(shape) {
            return if shape.is_empty() { self.reshape_scalar(a) } else { self.reshape(a, shape) };
        }
        let it = as2(shape);
        let (rs, cs) = strides(&s, it);
        let idx = (0..it.0).flat_map(|r| (0..it.1).map(move |c| r * rs + c * cs)).collect();
        self.gather_parts(vec![a.0], idx, shape)
    }

    /// A one-element tensor viewed as a scalar (shape `[]`).
    fn reshape_scalar(&mut self, a: Tensor) -> JitResult<Tensor> {
        let s = self.shape(a)?;
        if numel(s) != 1 {
            return shape_err(format!("cannot reshape {s:?} into []"));
        }
        Ok(self.push(TOp::Reshape(a.0), Vec::new()))
    }

    /// The concatenation of `parts` (all of rank 1 or all of rank 2, equal extents except
    /// along `axis`) along `axis` (0, or 1 for matrices): a copy of every lane. One part is
    /// returned as is.
    pub fn concat(&mut self, parts: &[Tensor], axis: usize) -> JitResult<Tensor> {
        let shapes: Vec<Vec<usize>> =
            parts.iter().map(|&t| self.shape(t).map(<[usize]>::to_vec)).collect::<JitResult<_>>()?;
        let Some(first) = shapes.first() else {
            return shape_err("concat of no tensors".into());
        };
        let rank = first.len();
        if rank == 0 || axis >= rank {
            return shape_err(format!("concat along axis {axis} of tensors of rank {rank}"));
        }
        for s in &shapes {
            let same = s.len() == rank && (0..rank).all(|d| d == axis || s[d] == first[d]);
            if !same {
                return shape_err(format!("concat along axis {axis}: shapes {shapes:?} do not match"));
            }
        }
        if parts.len() == 1 {
            return Ok(parts[0]);
        }
        let mut out = first.clone();
        out[axis] = shapes.iter().map(|s| s[axis]).sum();
        Self::check_shape(&out)?;
        let total = numel(&out);
        let idx: Vec<usize> = if axis == 0 {
            (0..total).collect()
        } else {
            // Matrices side by side: row r of the output is row r of every part in turn.
            let mut idx = Vec::with_capacity(total);
            for r in 0..out[0] {
                let mut base = 0;
                for s in &shapes {
                    idx.extend((0..s[1]).map(|c| base + r * s[1] + c));
                    base += numel(s);
                }
            }
            idx
        };
        self.gather_parts(parts.iter().map(|t| t.0).collect(), idx, &out)
    }

    /// Entries `start..end` along `axis` of `a` (rank 1 or 2): a view along the first axis
    /// (as [`TensorBuilder::slice`]), a copy of every lane along the columns of a matrix.
    pub fn slice_axis(&mut self, a: Tensor, axis: usize, start: usize, end: usize) -> JitResult<Tensor> {
        let s = self.shape(a)?.to_vec();
        if axis >= s.len() || start >= end || end > s[axis] {
            return shape_err(format!("slice {start}..{end} along axis {axis} of a tensor of shape {s:?}"));
        }
        if axis == 0 {
            return self.slice(a, start, end);
        }
        let (m, n, w) = (s[0], s[1], end - start);
        let idx = (0..m).flat_map(|r| (start..end).map(move |c| r * n + c)).collect();
        self.gather_parts(vec![a.0], idx, &[m, w])
    }

    /// The transpose `[m, n] -> [n, m]` of a matrix (a copy of every lane; a vector or a
    /// scalar is returned as is).
    pub fn transpose(&mut self, a: Tensor) -> JitResult<Tensor> {
        let s = self.shape(a)?.to_vec();
        let [m, n] = s[..] else {
            return Ok(a);
        };
        if m == 1 || n == 1 {
            return self.reshape(a, &[n, m]);
        }
        let idx = (0..n).flat_map(|c| (0..m).map(move |r| r * n + c)).collect();
        self.gather_parts(vec![a.0], idx, &[n, m])
    }

    /// A general copy: output element `e` (of `shape`) is element `indices[e]` of `a`
    /// (row-major), with all its lanes. Errors (typed, at build time) on a count that is
    /// not `numel(shape)` or an index out of range.
    pub fn gather(&mut self, a: Tensor, indices: Vec<usize>, shape: &[usize]) -> JitResult<Tensor> {
        if !shape.is_empty() {
            Self::check_shape(shape)?;
        }
        check_len("gather indices", numel(shape), indices.len())?;
        let len = numel(self.shape(a)?);
        if let Some(&j) = indices.iter().find(|&&j| j >= len) {
            return shape_err(format!("gather: index {j} out of range for {len} elements"));
        }
        self.gather_parts(vec![a.0], indices, shape)
    }

    /// Records a copy from the concatenation of `parts` (indices already checked), composing
    /// it with views and copies of a single part and folding data parts.
    fn gather_parts(
        &mut self,
        mut parts: Vec<u32>,
        mut idx: Vec<usize>,
        shape: &[usize],
    ) -> JitResult<Tensor> {
        let total: usize = parts.iter().map(|&p| numel(&self.nodes[p as usize].shape)).sum();
        if let Some(&j) = idx.iter().find(|&&j| j >= total) {
            return shape_err(format!("gather: index {j} out of range for {total} elements"));
        }
        for p in parts.iter_mut() {
            while let TOp::Reshape(x) = self.nodes[*p as usize].op {
                *p = x;
            }
        }
        while parts.len() == 1 {
            match &self.nodes[parts[0] as usize].op {
                TOp::Reshape(x) => parts[0] = *x,
                TOp::Slice(x, start) => {
                    let off = start * numel(&self.nodes[*x as usize].shape[1..]);
                    idx.iter_mut().for_each(|j| *j += off);
                    parts[0] = *x;
                }
                TOp::Gather(inner, i0) => {
                    idx = idx.iter().map(|&j| i0[j]).collect();
                    parts = inner.clone();
                }
                _ => break,
            }
        }
        let data: Option<Vec<f64>> =
            parts.iter().try_fold(Vec::new(), |mut all, &p| match &self.nodes[p as usize].op {
                TOp::Data(d) => {
                    all.extend_from_slice(d);
                    Some(all)
                }
                _ => None,
            });
        if let Some(all) = data {
            let v = idx.iter().map(|&j| all[j]).collect();
            return Ok(self.push(TOp::Data(Arc::new(v)), shape.to_vec()));
        }
        Ok(self.push(TOp::Gather(parts, Arc::new(idx)), shape.to_vec()))
    }

    /// 2-D convolution as in [`fomoh_runtime::tensor::ops::conv2d`] (cross-correlation,
    /// valid padding, stride 1) over rank-2 storage: `x` holds `x_dims = [B, C, H, W]`
    /// row-major (e.g. shape `[B, C·H·W]`), `w` holds `w_dims = [O, C, kh, kw]` row-major
    /// (the runtime's weight layout), `bias` has `O` elements. The result has shape
    /// `[B, O·Ho·Wo]`, `Ho = H - kh + 1`, `Wo = W - kw + 1`, row-major `(B, O, Ho, Wo)`.
    ///
    /// Lowered to an im2col copy (`[C·kh·kw, B·Ho·Wo]`), one matmul with `w` viewed as
    /// `[O, C·kh·kw]`, the bias add and a copy back to `(B, O, Ho, Wo)` order.
    pub fn conv2d(
        &mut self,
        x: Tensor,
        x_dims: [usize; 4],
        w: Tensor,
        w_dims: [usize; 4],
        bias: Tensor,
    ) -> JitResult<Tensor> {
        let (y, perm) = self.conv2d_channel_major(x, x_dims, w, w_dims, bias)?;
        let out = [x_dims[0], perm.len() / x_dims[0]];
        self.gather(y, perm, &out)
    }

    /// [`TensorBuilder::conv2d`] before its last copy: the result `[O, B·Ho·Wo]` (channel
    /// major) and the indices that copy it into `(B, O, Ho, Wo)` order. Elementwise ops
    /// commute with that copy, so a model applies its activation first and lets the
    /// pooling compose with the copy.
    fn conv2d_channel_major(
        &mut self,
        x: Tensor,
        x_dims: [usize; 4],
        w: Tensor,
        w_dims: [usize; 4],
        bias: Tensor,
    ) -> JitResult<(Tensor, Vec<usize>)> {
        let [bn, c, h, wd] = x_dims;
        let [o, c2, kh, kw] = w_dims;
        let (nx, nw, nb) = (numel(self.shape(x)?), numel(self.shape(w)?), numel(self.shape(bias)?));
        if x_dims.contains(&0)
            || w_dims.contains(&0)
            || x_dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) != Some(nx)
            || w_dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) != Some(nw)
            || c != c2
            || kh > h
            || kw > wd
            || nb != o
        {
            return shape_err(format!(
                "conv2d: input {x_dims:?} ({nx} elements), weight {w_dims:?} ({nw} elements), bias of {nb}"
            ));
        }
        let (ho, wo) = (h - kh + 1, wd - kw + 1);
        let (ckk, cols) = (c * kh * kw, bn * ho * wo);
        Self::check_shape(&[ckk, cols])?;
        let mut idx = Vec::with_capacity(ckk * cols);
        for ci in 0..c {
            for ki in 0..kh {
                for kj in 0..kw {
                    for bi in 0..bn {
                        for oh in 0..ho {
                            for ow in 0..wo {
                                idx.push(((bi * c + ci) * h + oh + ki) * wd + ow + kj);
                            }
                        }
                    }
                }
            }
        }
        let xcols = self.gather(x, idx, &[ckk, cols])?;
        let wm = self.reshape(w, &[o, ckk])?;
        let y = self.matmul(wm, xcols)?;
        let bcol = self.reshape(bias, &[o, 1])?;
        let y = self.add(y, bcol)?;
        // (O, B, Ho·Wo) -> (B, O, Ho·Wo)
        let hw = ho * wo;
        let perm = (0..bn)
            .flat_map(|bi| (0..o).flat_map(move |oc| (0..hw).map(move |s| (oc * bn + bi) * hw + s)))
            .collect();
        Ok((y, perm))
    }

    /// 2×2 max-pooling with stride 2 as in [`fomoh_runtime::tensor::ops::max_pool2`]: `x`
    /// holds `dims = [B, C, H, W]` row-major; the result has shape `[B, C·(H/2)·(W/2)]`
    /// (odd trailing rows/columns dropped), each element the first maximum of its window
    /// in the order (0,0), (0,1), (1,0), (1,1), with its derivative lanes.
    pub fn max_pool2(&mut self, x: Tensor, dims: [usize; 4]) -> JitResult<Tensor> {
        let [bn, c, h, w] = dims;
        let nx = numel(self.shape(x)?);
        let (ho, wo) = (h / 2, w / 2);
        if dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) != Some(nx)
            || ho == 0
            || wo == 0
            || bn * c == 0
        {
            return shape_err(format!("max_pool2: input {dims:?} ({nx} elements) needs 2×2 windows"));
        }
        let mut win = Vec::with_capacity(4 * bn * c * ho * wo);
        for plane in 0..bn * c {
            let base = plane * h * w;
            for oh in 0..ho {
                for ow in 0..wo {
                    for (di, dj) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                        win.push(base + (2 * oh + di) * w + 2 * ow + dj);
                    }
                }
            }
        }
        self.max_over(x, win, &[bn, c * ho * wo])
    }

    /// Finishes the graph with the scalar output `out`.
    pub fn finish(self, out: Tensor) -> JitResult<TensorProgram> {
        let s = self.shape(out)?;
        if numel(s) != 1 {
            return shape_err(format!("the output must be a scalar, got shape {s:?}"));
        }
        let inputs = self
            .inputs
            .iter()
            .enumerate()
            .map(|(slot, n)| match n {
                Some(i) => Ok(self.nodes[*i as usize].shape.clone()),
                None => shape_err(format!("input slot {slot} is not declared (slots must be 0..n)")),
            })
            .collect::<JitResult<Vec<_>>>()?;
        Ok(TensorProgram::from_nodes(self.nodes, out.0, self.n_params, inputs))
    }
}

/// A compiled tensor graph (code generated per mode on first use), evaluated in the float
/// type `T`: `f64` (the default) or `f32` ([`TensorProgram::with_float`]), a batch sum as
/// row tiles where the graph allows it ([`TensorProgram::with_row_tiling`]).
pub struct TensorProgram<T: JitFloat = f64> {
    nodes: Arc<Vec<TNode>>,
    output: u32,
    n_params: usize,
    codegen: CodegenOptions,
    strategy: LoopStrategy,
    kernels: [OnceLock<JitResult<Arc<Plan>>>; SLOTS],
    /// The shape of each input slot.
    inputs: Vec<Vec<usize>>,
    /// The structural hash (the code cache's key), computed on first compilation.
    hash: OnceLock<u64>,
    /// The graph's data converted to `T` per node (only where `T` is not `f64`; `f64` data
    /// is read in place).
    data: OnceLock<Vec<Option<Vec<T>>>>,
    /// Scratch buffer sets of finished calls, reused by later calls of the same mode so a
    /// call neither allocates nor faults in fresh pages for its intermediates.
    scratch: Mutex<Vec<Vec<Vec<T>>>>,
    /// How a batch is run.
    tiling: RowTiling,
    /// The row tiles and their programs (see [`RowTiling`]).
    tiles: tile::TileState<T>,
}

impl<T: JitFloat> core::fmt::Debug for TensorProgram<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TensorProgram")
            .field("float", &T::TYPE.name())
            .field("n_params", &self.n_params)
            .field("nodes", &self.nodes.len())
            .finish()
    }
}

/// Where one lane of a materialized value lives.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Src {
    /// Input vector `v` of the mode (0: θ, 1..: tangents), at an offset.
    X(usize, usize),
    /// Data of node `i` (its contents or its bound input), at an offset.
    Data(u32, usize),
    /// Scratch buffer `b`, at an offset.
    Buf(usize, usize),
}

impl Src {
    fn shifted(self, d: usize) -> Src {
        match self {
            Src::X(v, o) => Src::X(v, o + d),
            Src::Data(i, o) => Src::Data(i, o + d),
            Src::Buf(b, o) => Src::Buf(b, o + d),
        }
    }
}

/// What a fused loop does with its body's lanes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reduce {
    None,
    All,
    Rows,
    MaxRows,
}

/// A fused loop: input and output pointer arrays (to elements of the plan's float type),
/// then the rows `r0..r1` and columns `c0..c1` of the iteration space it runs (`c0` a
/// multiple of the vector width).
type LoopFn = unsafe extern "C" fn(*const *const u8, *const *mut u8, i64, i64, i64, i64);

/// One part of a fused loop's iteration space: rows `r0..r1`, columns `c0..c1`.
type Chunk = (usize, usize, usize, usize);

/// One dgemm of a matmul step: the `a` lanes `ps` stacked vertically (`|ps|·m × k`) times the
/// `b` lanes `qs` side by side (`k × |qs|·n`), so product block `(i, j)` is `ps[i] · qs[j]`.
/// The blocks of a step cover every product its lanes need exactly once.
#[derive(Debug)]
struct MatmulBlock {
    ps: Vec<Src>,
    /// The `ps` lie one after another, `m·k` apart, from `ps[0]`: read in place, no copy.
    a_contig: bool,
    qs: Vec<Src>,
    /// Per product `(i, j, output lane, coef)`: the step's output lane (its place in the
    /// output buffer) it is added into with `coef`.
    uses: Vec<(usize, usize, usize, f64)>,
    /// `Some((lane, coef))`: one right lane, and product `i` goes only to output lane
    /// `lane + i` with the same `coef`, so the dgemm writes straight into the output buffer.
    direct: Option<(usize, f64)>,
}

/// A product a matmul step needs: `(a lane, b lane)` and its `(output lane, coef)` uses.
type MatmulPair = ((Src, Src), Vec<(usize, f64)>);

/// The products a matmul step needs.
type MatmulPairs = [MatmulPair];

/// Lanes of a stacked left operand and of a side-by-side right operand.
type LaneSets = (Vec<Src>, Vec<Src>);

/// A scratch product added into an output lane: `(block, i, j, coef)`.
type Added = (usize, usize, usize, f64);

/// A loop awaiting finalization: step index, function, inputs, output buffers.
type PendingLoop = (usize, FuncId, Vec<(Src, usize)>, Vec<(usize, usize)>, usize, Vec<Chunk>, bool);

enum Step {
    Fused {
        f: LoopFn,
        /// Per staged input: the lane's location and the last element index it reads.
        inputs: Vec<(Src, usize)>,
        /// Per stored lane: its buffer and offset there (the lanes of one loop lie one after
        /// another in one buffer, so a matmul reads them in place as one tall matrix).
        outputs: Vec<(usize, usize)>,
        /// The elements the loop writes per stored lane.
        out_len: usize,
        /// The parts of the iteration space, run in parallel when more than one.
        chunks: Vec<Chunk>,
        /// The loop sums everything into one element per lane: each chunk stores its partial
        /// sums apart and they are added in chunk order.
        partial: bool,
    },
    Matmul {
        m: usize,
        k: usize,
        n: usize,
        /// The output buffer: the nonzero lanes one after another.
        out: usize,
        /// The nonzero lanes.
        count: usize,
        /// The dgemms that compute them.
        blocks: Vec<MatmulBlock>,
    },
    /// A copy (gather, concat, broadcast, im2col) of every lane.
    Gather {
        map: Arc<GatherMap>,
        /// The elements each part must have (checked before reading).
        need: Vec<usize>,
        /// Per output lane: the parts' lanes and the output buffer.
        lanes: Vec<(Vec<Option<Src>>, usize)>,
    },
    /// A windowed maximum: the argmax of each window from the primal lane, then every lane
    /// copied at it.
    MaxSelect {
        windows: Arc<Vec<usize>>,
        width: usize,
        /// The elements the input must have (largest index + 1).
        need: usize,
        /// The input's primal lane (`None`: zero, the first candidate wins).
        primal: Option<Src>,
        /// Per output lane: the input lane and the output buffer.
        lanes: Vec<(Src, usize)>,
    },
}

/// Where each element of a gathered output comes from.
struct GatherMap {
    /// The part of each element (`None`: a single part).
    part: Option<Vec<u32>>,
    /// The index inside its part.
    local: Arc<Vec<usize>>,
}

/// The graph's nodes and data in the float type `T`.
type NodeData<'a, T> = (&'a [TNode], &'a [Option<Vec<T>>]);

/// The elements of one lane (empty if its location is out of range).
fn lane_slice<'a, T: JitFloat>(
    (nodes, data): NodeData<'a, T>,
    parts: &'a [(&str, &'a [T])],
    inputs: &[&'a [T]],
    bufs: &'a [Vec<T>],
    s: Src,
) -> &'a [T] {
    let (sl, o): (&[T], usize) = match s {
        Src::X(v, o) => (parts.get(v).map_or(&[][..], |p| p.1), o),
        Src::Data(i, o) => match nodes.get(i as usize).map(|n| &n.op) {
            Some(TOp::Data(d)) => {
                let conv = || data.get(i as usize).and_then(|c| c.as_deref());
                (T::from_f64s(d).or_else(conv).unwrap_or(&[]), o)
            }
            Some(TOp::Input(slot)) => (inputs.get(*slot).copied().unwrap_or(&[]), o),
            _ => (&[], 0),
        },
        Src::Buf(b, o) => (bufs.get(b).map_or(&[][..], Vec::as_slice), o),
    };
    sl.get(o..).unwrap_or(&[])
}

/// The compiled code of one mode, for one float type.
pub(crate) struct Plan {
    float: FloatType,
    steps: Vec<Step>,
    buf_sizes: Vec<usize>,
    /// The output's lanes (`None`: zero).
    out: Vec<Option<Src>>,
    stats: TensorStats,
    _code: Option<OwnedCode>,
}

// SAFETY: the function pointers point to immutable code owned by `_code`; the steps only
// read/write buffers passed at run time, whose sizes `Plan::run` checks.
unsafe impl Send for Plan {}
unsafe impl Sync for Plan {}

/// What compiling one mode of a tensor graph produced and cost.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TensorStats {
    /// Fused loops generated.
    pub loops: usize,
    /// Matmul steps.
    pub matmuls: usize,
    /// Staged scalar nodes over all loop bodies.
    pub staged_nodes: usize,
    /// Loops whose body was preaccumulated (see [`LoopStrategy`]).
    pub preaccumulated_loops: usize,
    /// Loops large enough to be split over the rayon pool (see [`PAR_MIN_LOOP_WORK`]).
    pub parallel_loops: usize,
    /// Total compile time (analysis, staging, Cranelift).
    pub compile_time: Duration,
    /// The row tiles a pass runs (1: the whole batch at once; see [`RowTiling`]).
    pub row_tiles: usize,
}

fn is_elementwise(op: &TOp) -> bool {
    matches!(op, TOp::Neg(_) | TOp::Unary(..) | TOp::Binary(..) | TOp::Select(..) | TOp::Const(_))
}

fn args(op: &TOp) -> Vec<u32> {
    match *op {
        TOp::Param(_) | TOp::Data(_) | TOp::Input(_) | TOp::Const(_) => vec![],
        TOp::Neg(a) | TOp::Unary(_, a) | TOp::Sum(a) | TOp::SumRows(a) | TOp::MaxRowsPassive(a) => vec![a],
        TOp::Reshape(a) | TOp::Slice(a, _) => vec![a],
        TOp::Binary(_, a, b) | TOp::Matmul(a, b) => vec![a, b],
        TOp::Select(_, ops) => ops.to_vec(),
        TOp::Gather(ref parts, _) => parts.clone(),
        TOp::MaxSelect(a, _) => vec![a],
    }
}

/// Strides (row, col) of a leaf of shape `s` read over the iteration space `(r, c)`.
fn strides(s: &[usize], (r, c): (usize, usize)) -> (usize, usize) {
    let (lr, lc) = as2(s);
    let rs = if lr == 1 && r != 1 { 0 } else { lc };
    let cs = if lc == 1 && c != 1 { 0 } else { 1 };
    (if r == 1 { 0 } else { rs }, if c == 1 { 0 } else { cs })
}

struct Compiler<'a> {
    nodes: &'a [TNode],
    float: FloatType,
    mode: Mode,
    strategy: LoopStrategy,
    lanes: usize,
    loc: HashMap<u32, Vec<Option<Src>>>,
    inline: Vec<bool>,
    buf_sizes: Vec<usize>,
    steps: Vec<Step>,
    pending: Vec<PendingLoop>,
    module: cranelift_jit::JITModule,
    stats: TensorStats,
}

impl Compiler<'_> {
    fn new_buf(&mut self, len: usize) -> usize {
        self.buf_sizes.push(len);
        self.buf_sizes.len() - 1
    }

    /// Lanes of a materialized node (compiling producers on the way).
    fn value(&mut self, i: u32) -> JitResult<Vec<Option<Src>>> {
        if let Some(l) = self.loc.get(&i) {
            return Ok(l.clone());
        }
        let node = &self.nodes[i as usize];
        let lanes = self.lanes;
        let r = match node.op {
            TOp::Param(o) => {
                let m = self.mode.input_vectors();
                (0..lanes).map(|l| (l < m).then_some(Src::X(l, o))).collect()
            }
            // A bound input is read like data: from the slice bound to its slot at run time.
            TOp::Data(_) | TOp::Input(_) => (0..lanes).map(|l| (l == 0).then_some(Src::Data(i, 0))).collect(),
            TOp::Reshape(a) => self.value(a)?,
            TOp::Slice(a, start) => {
                let stride = numel(&self.nodes[a as usize].shape[1..]);
                self.value(a)?.into_iter().map(|s| s.map(|s| s.shifted(start * stride))).collect()
            }
            TOp::Matmul(a, b) => self.matmul(i, a, b)?,
            TOp::Gather(ref parts, ref idx) => {
                let (parts, idx) = (parts.clone(), idx.clone());
                self.gather_step(parts, idx, numel(&node.shape))?
            }
            TOp::MaxSelect(a, ref win) => {
                let win = win.clone();
                self.max_step(a, win, numel(&node.shape))?
            }
            _ => self.fused(i)?,
        };
        self.loc.insert(i, r.clone());
        Ok(r)
    }

    fn matmul(&mut self, i: u32, a: u32, b: u32) -> JitResult<Vec<Option<Src>>> {
        let (la, lb) = (self.value(a)?, self.value(b)?);
        let (sa, sb) = (&self.nodes[a as usize].shape, &self.nodes[b as usize].shape);
        let (m, k, n) = (sa[0], sa[1], sb[1]);
        let l = self.lanes;
        // The lanes of a·b, staged from the runtime's product rule.
        let g = Graph {
            nodes: vec![Op::Input(0), Op::Input(1), Op::Binary(BinaryOp::Mul, 0, 1)],
            outputs: vec![2],
            n_inputs: 2,
            guards: vec![],
        };
        let seed = |x: usize, lane: usize| {
            let lanes = if x == 0 { &la } else { &lb };
            lanes[lane].map(|_| (x * l + lane) as u32)
        };
        let sg = stage_lanes(&g, self.mode, 2 * l, 1 << 20, &seed)?;
        let polys = bilinear(&sg)?;
        let mut lane_terms: Vec<Vec<(f64, Src, Src)>> = Vec::with_capacity(l);
        for &o in &sg.outputs {
            let terms: Vec<(f64, Src, Src)> = polys[o as usize]
                .iter()
                .filter(|(_, &c)| c != 0.0)
                .map(|(&(p, q), &c)| {
                    let (p, q) = (p as usize, q as usize);
                    if p < l && (l..2 * l).contains(&q) {
                        Ok((c, la[p].expect("seeded"), lb[q - l].expect("seeded")))
                    } else {
                        Err(JitError::Unsupported("a matmul lane that is not bilinear".into()))
                    }
                })
                .collect::<JitResult<_>>()?;
            lane_terms.push(terms);
        }
        // The nonzero lanes one after another in one buffer (in lane order), so a block of
        // products that fills consecutive lanes is one dgemm straight into it.
        let count = lane_terms.iter().filter(|t| !t.is_empty()).count();
        self.stats.matmuls += 1;
        if count == 0 {
            return Ok(vec![None; l]);
        }
        let buf = self.new_buf(count * lane_stride(m * n));
        let mut out = Vec::with_capacity(l);
        // Every product `a lane · b lane` the lanes need, with where it goes and its coefficient.
        let mut pairs: Vec<MatmulPair> = Vec::new();
        let mut q = 0;
        for terms in lane_terms {
            if terms.is_empty() {
                out.push(None);
                continue;
            }
            out.push(Some(Src::Buf(buf, q * lane_stride(m * n))));
            for (c, sa, sb) in terms {
                match pairs.iter_mut().find(|x| x.0 == (sa, sb)) {
                    Some(x) => x.1.push((q, c)),
                    None => pairs.push(((sa, sb), vec![(q, c)])),
                }
            }
            q += 1;
        }
        let blocks = matmul_blocks((m, k, n), &pairs);
        let _ = i;
        self.steps.push(Step::Matmul { m, k, n, out: buf, count, blocks });
        Ok(out)
    }

    /// A copy step over every lane of the parts (lanes zero in every part stay zero).
    fn gather_step(
        &mut self,
        parts: Vec<u32>,
        idx: Arc<Vec<usize>>,
        len: usize,
    ) -> JitResult<Vec<Option<Src>>> {
        let srcs: Vec<Vec<Option<Src>>> = parts.iter().map(|&p| self.value(p)).collect::<JitResult<_>>()?;
        let need: Vec<usize> = parts.iter().map(|&p| numel(&self.nodes[p as usize].shape)).collect();
        let map = if parts.len() == 1 {
            GatherMap { part: None, local: idx }
        } else {
            let starts: Vec<usize> =
                need.iter().scan(0, |acc, &n| Some(core::mem::replace(acc, *acc + n))).collect();
            let (mut part, mut local) = (Vec::with_capacity(len), Vec::with_capacity(len));
            for &j in idx.iter() {
                let p = starts.partition_point(|&s| s <= j) - 1;
                part.push(p as u32);
                local.push(j - starts[p]);
            }
            GatherMap { part: Some(part), local: Arc::new(local) }
        };
        let mut out = vec![None; self.lanes];
        let mut lanes = Vec::new();
        for (lane, o) in out.iter_mut().enumerate() {
            let ls: Vec<Option<Src>> = srcs.iter().map(|s| s[lane]).collect();
            if ls.iter().any(Option::is_some) {
                let buf = self.new_buf(len);
                *o = Some(Src::Buf(buf, 0));
                lanes.push((ls, buf));
            }
        }
        if !lanes.is_empty() {
            self.steps.push(Step::Gather { map: Arc::new(map), need, lanes });
        }
        Ok(out)
    }

    /// A windowed-maximum step: argmax from the primal lane, every lane copied at it.
    fn max_step(&mut self, a: u32, windows: Arc<Vec<usize>>, len: usize) -> JitResult<Vec<Option<Src>>> {
        let src = self.value(a)?;
        let need = numel(&self.nodes[a as usize].shape);
        let width = windows.len() / len.max(1);
        let mut out = vec![None; self.lanes];
        let mut lanes = Vec::new();
        for (o, s) in out.iter_mut().zip(&src) {
            if let Some(s) = *s {
                let buf = self.new_buf(len);
                *o = Some(Src::Buf(buf, 0));
                lanes.push((s, buf));
            }
        }
        if !lanes.is_empty() {
            self.steps.push(Step::MaxSelect { windows, width, need, primal: src[0], lanes });
        }
        Ok(out)
    }

    /// Builds, stages and compiles the fused loop rooted at `root`.
    fn fused(&mut self, root: u32) -> JitResult<Vec<Option<Src>>> {
        let (reduce, body_root, iter) = match self.nodes[root as usize].op {
            TOp::Sum(a) => (Reduce::All, a, as2(&self.nodes[a as usize].shape)),
            TOp::SumRows(a) => (Reduce::Rows, a, as2(&self.nodes[a as usize].shape)),
            TOp::MaxRowsPassive(a) => (Reduce::MaxRows, a, as2(&self.nodes[a as usize].shape)),
            _ => (Reduce::None, root, as2(&self.nodes[root as usize].shape)),
        };
        // The scalar body graph: inlined nodes become scalar ops, the rest leaves.
        let mut g = Graph::default();
        let mut leaves: Vec<u32> = Vec::new();
        let mut memo: HashMap<u32, NodeId> = HashMap::new();
        let top = self.body(body_root, true, &mut g, &mut leaves, &mut memo)?;
        g.outputs = vec![top];
        g.n_inputs = leaves.len();
        let leaf_lanes: Vec<Vec<Option<Src>>> =
            leaves.iter().map(|&lf| self.value(lf)).collect::<JitResult<_>>()?;
        let l = self.lanes;
        let mode = if reduce == Reduce::MaxRows { Mode::Primal } else { self.mode };
        let ml = mode.outputs();
        let present = |k: usize, lane: usize| leaf_lanes[k][lane].is_some();
        let (sg, pre) = fuse::choose(&g, mode, self.strategy, 1 << 22, &present)?;
        let sg = fuse::fold_signs(&sg);
        self.stats.staged_nodes += sg.nodes.len();
        self.stats.preaccumulated_loops += usize::from(pre);
        // Inputs actually read, with their strides. Lanes of the same array read with the
        // same strides share one pointer (a constant displacement per lane: Rosenbrock's
        // `x[1..]` and `x[..n-1]`), which spares registers in the loop.
        let mut ins: Vec<(Src, usize)> = Vec::new();
        let mut in_strides: Vec<(usize, usize)> = Vec::new();
        let mut in_index: HashMap<u32, (usize, usize)> = HashMap::new();
        let split = |s: Src| match s {
            Src::X(v, o) => (0u8, v, o),
            Src::Data(i, o) => (1, i as usize, o),
            Src::Buf(b, o) => (2, b, o),
        };
        let mut reads: Vec<(u32, Src, (usize, usize), usize)> = Vec::new();
        let mut base: HashMap<(u8, usize, (usize, usize)), usize> = HashMap::new();
        for op in &sg.nodes {
            if let Op::Input(j) = *op {
                let (k, lane) = (j as usize / ml, j as usize % ml);
                let st = strides(&self.nodes[leaves[k] as usize].shape, iter);
                let last = (iter.0 - 1) * st.0 + (iter.1 - 1) * st.1;
                let src = leaf_lanes[k][lane].expect("seeded");
                let (kind, id, o) = split(src);
                let lo = base.entry((kind, id, st)).or_insert(o);
                *lo = (*lo).min(o);
                reads.push((j, src, st, last));
            }
        }
        let at = |s: Src, o: usize| match s {
            Src::X(v, _) => Src::X(v, o),
            Src::Data(i, _) => Src::Data(i, o),
            Src::Buf(b, _) => Src::Buf(b, o),
        };
        let mut pointer: HashMap<(u8, usize, (usize, usize)), usize> = HashMap::new();
        for (j, src, st, last) in reads {
            let (kind, id, o) = split(src);
            let b0 = base[&(kind, id, st)];
            let (q, disp) = if 8 * (o - b0) <= i32::MAX as usize / 2 {
                let q = *pointer.entry((kind, id, st)).or_insert_with(|| {
                    ins.push((at(src, b0), 0));
                    in_strides.push(st);
                    ins.len() - 1
                });
                (q, o - b0)
            } else {
                // Too far for a load's immediate offset: a pointer of its own.
                ins.push((src, 0));
                in_strides.push(st);
                (ins.len() - 1, 0)
            };
            ins[q].1 = ins[q].1.max(disp + last);
            in_index.insert(j, (q, disp));
        }
        let out_len = match reduce {
            Reduce::None => iter.0 * iter.1,
            Reduce::All => 1,
            Reduce::Rows | Reduce::MaxRows => iter.0,
        };
        let mut out = vec![None; l];
        let mut stored: Vec<(usize, NodeId)> = (sg.outputs.iter().copied().enumerate())
            .filter(|&(_, o)| !matches!(sg.nodes[o as usize], Op::Const(c) if c == 0.0))
            .collect();
        let rank = fuse::update_rank(mode);
        stored.sort_by_key(|&(lane, _)| rank[lane]);
        if stored.is_empty() {
            return Ok(out);
        }
        // All stored lanes in one buffer, in update order (see `fuse::update_rank`).
        let stride = lane_stride(out_len);
        let buf = self.new_buf(stored.len() * stride);
        let mut bufs = Vec::with_capacity(stored.len());
        for (q, &(lane, _)) in stored.iter().enumerate() {
            out[lane] = Some(Src::Buf(buf, q * stride));
            bufs.push((buf, q * stride));
        }
        let fid =
            emit_loop(&mut self.module, self.float, &sg, iter, reduce, &in_index, &in_strides, &stored)?;
        self.stats.loops += 1;
        let chunks = loop_chunks(iter, reduce, fuse::cost(&sg), vector_width(self.float));
        self.stats.parallel_loops += usize::from(chunks.len() > 1);
        let idx = self.steps.len();
        self.steps.push(Step::Matmul { m: 0, k: 0, n: 0, out: 0, count: 0, blocks: vec![] }); // placeholder, patched after finalize
        self.pending.push((idx, fid, ins, bufs, out_len, chunks, reduce == Reduce::All));
        Ok(out)
    }

    fn body(
        &mut self,
        i: u32,
        is_root: bool,
        g: &mut Graph,
        leaves: &mut Vec<u32>,
        memo: &mut HashMap<u32, NodeId>,
    ) -> JitResult<NodeId> {
        if let Some(&id) = memo.get(&i) {
            return Ok(id);
        }
        let node = &self.nodes[i as usize];
        let inl = is_root && is_elementwise(&node.op)
            || self.inline[i as usize]
            || matches!(node.op, TOp::Const(_));
        let op = if !inl {
            leaves.push(i);
            Op::Input(leaves.len() as u32 - 1)
        } else {
            match node.op {
                TOp::Const(c) => Op::Const(c),
                TOp::Neg(a) => Op::Neg(self.body(a, false, g, leaves, memo)?),
                TOp::Unary(u, a) => Op::Unary(u, self.body(a, false, g, leaves, memo)?),
                TOp::Binary(bo, a, b) => {
                    let x = self.body(a, false, g, leaves, memo)?;
                    Op::Binary(bo, x, self.body(b, false, g, leaves, memo)?)
                }
                TOp::Select(cmp, [a, b, t, f]) => {
                    let a = self.body(a, false, g, leaves, memo)?;
                    let b = self.body(b, false, g, leaves, memo)?;
                    let t = self.body(t, false, g, leaves, memo)?;
                    Op::Select { cmp, a, b, t, f: self.body(f, false, g, leaves, memo)? }
                }
                _ => {
                    leaves.push(i);
                    Op::Input(leaves.len() as u32 - 1)
                }
            }
        };
        g.nodes.push(op);
        let id = g.nodes.len() as NodeId - 1;
        memo.insert(i, id);
        Ok(id)
    }
}

/// Bilinear forms of the staged nodes: monomial `(p, q)` (`u32::MAX`: absent) -> coefficient.
#[allow(clippy::type_complexity)]
fn bilinear(g: &Graph) -> JitResult<Vec<BTreeMap<(u32, u32), f64>>> {
    const NO: u32 = u32::MAX;
    let mut v: Vec<BTreeMap<(u32, u32), f64>> = Vec::with_capacity(g.nodes.len());
    let add = |m: &mut BTreeMap<(u32, u32), f64>, k, c: f64| *m.entry(k).or_insert(0.0) += c;
    for op in &g.nodes {
        let mut r = BTreeMap::new();
        match *op {
            Op::Input(j) => add(&mut r, (j, NO), 1.0),
            Op::Const(c) => add(&mut r, (NO, NO), c),
            Op::Neg(a) => {
                for (&k, &c) in &v[a as usize] {
                    add(&mut r, k, -c)
                }
            }
            Op::Binary(BinaryOp::Add | BinaryOp::Sub, a, b) => {
                let s = if matches!(op, Op::Binary(BinaryOp::Sub, ..)) { -1.0 } else { 1.0 };
                for (&k, &c) in &v[a as usize] {
                    add(&mut r, k, c)
                }
                for (&k, &c) in &v[b as usize] {
                    add(&mut r, k, s * c)
                }
            }
            Op::Binary(BinaryOp::Mul, a, b) => {
                for (&(p1, q1), &c1) in &v[a as usize] {
                    for (&(p2, q2), &c2) in &v[b as usize] {
                        let mut f: Vec<u32> = [p1, q1, p2, q2].into_iter().filter(|&x| x != NO).collect();
                        if f.len() > 2 {
                            return Err(JitError::Unsupported("a matmul lane of degree > 2".into()));
                        }
                        f.sort_unstable();
                        f.resize(2, NO);
                        add(&mut r, (f[0], f[1]), c1 * c2);
                    }
                }
            }
            _ => return Err(JitError::Unsupported("a non-polynomial matmul lane".into())),
        }
        v.push(r);
    }
    Ok(v)
}

/// The scalar and the 128-bit vector Cranelift type of `float`, and the vector's lanes.
fn float_types(float: FloatType) -> (types::Type, types::Type, usize) {
    match float {
        FloatType::F64 => (types::F64, types::F64X2, 2),
        FloatType::F32 => (types::F32, types::F32X4, 4),
    }
}

/// The columns one vector iteration of a fused loop covers (`f64x2`: 2, `f32x4`: 4).
fn vector_width(float: FloatType) -> usize {
    float_types(float).2
}

/// Emits one loop `fn(inputs: *const *const T, outputs: *const *mut T, r0, r1, c0, c1)`
/// over `iter`, for `T` = `float`.
///
/// Each row runs the body on 128-bit vectors over consecutive columns (`f64x2` or `f32x4`;
/// broadcast inputs are splat; the ops without a vector instruction run per lane), then in
/// scalar form on the last columns that do not fill a vector. Reduced lanes keep a vector
/// and a scalar accumulator, combined at the end of the row (or of the loop).
#[allow(clippy::too_many_arguments)]
fn emit_loop(
    module: &mut cranelift_jit::JITModule,
    float: FloatType,
    g: &Graph,
    iter: (usize, usize),
    reduce: Reduce,
    in_index: &HashMap<u32, (usize, usize)>,
    in_strides: &[(usize, usize)],
    stored: &[(usize, NodeId)],
) -> JitResult<FuncId> {
    let ptr = module.target_config().pointer_type();
    let mut sig = module.make_signature();
    sig.params.extend([AbiParam::new(ptr), AbiParam::new(ptr)]);
    sig.params.extend([AbiParam::new(types::I64); 4]);
    let name = format!("loop{}", module.declarations().get_functions().count());
    let id = module.declare_function(&name, Linkage::Local, &sig).map_err(cg_err)?;
    let mut ctx = module.make_context();
    ctx.func.signature = sig;
    ctx.func.name = UserFuncName::user(1, id.as_u32());
    let mut fctx = FunctionBuilderContext::new();
    let mem = MemFlagsData::trusted();
    let tcfg = module.target_config();
    let outs: Vec<NodeId> = stored.iter().map(|&(_, o)| o).collect();
    let summed = matches!(reduce, Reduce::All | Reduce::Rows);
    // Without a native `fma` (checked on the ISA), nothing is fused.
    let fusion = fuse::Fusion::plan(g, &outs, summed, module.isa().has_native_fma(), 4);
    // Columns run as vectors of `w` lanes, then a scalar remainder. A chunk starts at a
    // multiple of `w`, so only a row length that is not one leaves a remainder (of fewer
    // than `w` columns).
    let (sty, vty, w) = float_types(float);
    let es = float.bytes();
    let (vector, tail) = (iter.1 >= w, !iter.1.is_multiple_of(w));
    let mut e = BodyEmitter {
        module,
        float,
        g,
        fusion: &fusion,
        in_index,
        in_strides,
        refs: externs::Refs::default(),
    };
    {
        let mut b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        let (pin, pout) = (b.block_params(entry)[0], b.block_params(entry)[1]);
        let [r0, r1, c0, c1] = [2, 3, 4, 5].map(|i| b.block_params(entry)[i]);
        // The end of the vectors: `c1` rounded down to a multiple of `w` (as `c0` is).
        let vend = b.ins().band_imm_s(c1, -(w as i64));
        let bases: Vec<Value> =
            (0..in_strides.len()).map(|j| b.ins().load(ptr, mem, pin, (8 * j) as i32)).collect();
        let obases: Vec<Value> =
            (0..stored.len()).map(|q| b.ins().load(ptr, mem, pout, (8 * q) as i32)).collect();
        let init = if reduce == Reduce::MaxRows { f64::NEG_INFINITY } else { 0.0 };
        let r = b.declare_var(types::I64);
        // Per part (vector, scalar): the column variable and the accumulators.
        let tail_start = if vector { vend } else { c0 };
        let parts = [(vector, vty, c0, vend, w), (tail, sty, tail_start, c1, 1)];
        let cvars: Vec<Variable> = parts.iter().map(|_| b.declare_var(types::I64)).collect();
        let accs: Vec<Vec<Variable>> =
            parts.iter().map(|p| stored.iter().map(|_| b.declare_var(p.1)).collect()).collect();
        let def_init = |b: &mut FunctionBuilder| {
            for (p, acc) in parts.iter().zip(&accs) {
                let mut fi = codegen::float_const(b, float, init);
                if p.1 != sty {
                    fi = b.ins().splat(p.1, fi);
                }
                for &a in acc {
                    b.def_var(a, fi);
                }
            }
        };
        b.def_var(r, r0);
        def_init(&mut b);
        let (outer, row_end, exit) = (b.create_block(), b.create_block(), b.create_block());
        let any = b.ins().icmp(IntCC::SignedLessThan, r0, r1);
        b.ins().brif(any, outer, &[], exit, &[]);
        b.switch_to_block(outer);
        if matches!(reduce, Reduce::Rows | Reduce::MaxRows) {
            def_init(&mut b);
        }
        for (pi, &(on, ty, c0, c1, w)) in parts.iter().enumerate() {
            if !on {
                continue;
            }
            let (inner, next) = (b.create_block(), b.create_block());
            b.def_var(cvars[pi], c0);
            let any = b.ins().icmp(IntCC::SignedLessThan, c0, c1);
            b.ins().brif(any, inner, &[], next, &[]);
            b.switch_to_block(inner);
            let (rv, cv) = (b.use_var(r), b.use_var(cvars[pi]));
            let vals = e.body(&mut b, ty, &bases, rv, cv)?;
            for (q, &(_, o)) in stored.iter().enumerate() {
                let av = accs[pi][q];
                if !fusion.acc_terms[q].is_empty() {
                    let mut acc = b.use_var(av);
                    for t in &fusion.acc_terms[q] {
                        let p = vals[t.p as usize];
                        acc = match (t.q, t.negate) {
                            (Some(r), false) => b.ins().fma(p, vals[r as usize], acc),
                            (Some(r), true) => {
                                let np = b.ins().fneg(p);
                                b.ins().fma(np, vals[r as usize], acc)
                            }
                            (None, false) => b.ins().fadd(acc, p),
                            (None, true) => b.ins().fsub(acc, p),
                        };
                    }
                    b.def_var(av, acc);
                    continue;
                }
                let v = vals[o as usize];
                match reduce {
                    Reduce::None => {
                        let a = b.ins().imul_imm_s(rv, (es * iter.1) as i64);
                        let cc = b.ins().imul_imm_s(cv, es as i64);
                        let off = b.ins().iadd(a, cc);
                        let addr = b.ins().iadd(obases[q], off);
                        b.ins().store(MemFlagsData::new().with_notrap(), v, addr, 0);
                    }
                    Reduce::All | Reduce::Rows => {
                        let acc = b.use_var(av);
                        let s = b.ins().fadd(acc, v);
                        b.def_var(av, s);
                    }
                    Reduce::MaxRows => {
                        let acc = b.use_var(av);
                        let s = b.ins().fmax(acc, v);
                        b.def_var(av, s);
                    }
                }
            }
            let c1v = b.ins().iadd_imm_s(cv, w as i64);
            b.def_var(cvars[pi], c1v);
            let more = b.ins().icmp(IntCC::SignedLessThan, c1v, c1);
            b.ins().brif(more, inner, &[], next, &[]);
            b.switch_to_block(next);
        }
        b.ins().jump(row_end, &[]);
        b.switch_to_block(row_end);
        // The row's (or the loop's) total of every reduced lane: vector lanes, then scalar.
        let total = |b: &mut FunctionBuilder, q: usize| -> Value {
            let mut t: Option<Value> = None;
            for (p, acc) in parts.iter().zip(&accs) {
                if !p.0 {
                    continue;
                }
                let v = b.use_var(acc[q]);
                let lanes: Vec<Value> = if p.1 == sty {
                    vec![v]
                } else {
                    (0..w as u8).map(|l| b.ins().extractlane(v, l)).collect()
                };
                for x in lanes {
                    t = Some(match t {
                        None => x,
                        Some(s) if reduce == Reduce::MaxRows => b.ins().fmax(s, x),
                        Some(s) => b.ins().fadd(s, x),
                    });
                }
            }
            t.unwrap_or_else(|| codegen::float_const(b, float, init))
        };
        let rv = b.use_var(r);
        if matches!(reduce, Reduce::Rows | Reduce::MaxRows) {
            for (q, &ob) in obases.iter().enumerate() {
                let v = total(&mut b, q);
                let off = b.ins().imul_imm_s(rv, es as i64);
                let addr = b.ins().iadd(ob, off);
                b.ins().store(mem, v, addr, 0);
            }
        }
        let rnext = b.ins().iadd_imm_s(rv, 1);
        b.def_var(r, rnext);
        let more = b.ins().icmp(IntCC::SignedLessThan, rnext, r1);
        b.ins().brif(more, outer, &[], exit, &[]);
        b.switch_to_block(exit);
        if reduce == Reduce::All {
            for (q, &ob) in obases.iter().enumerate() {
                let v = total(&mut b, q);
                b.ins().store(mem, v, ob, 0);
            }
        }
        b.ins().return_(&[]);
        b.seal_all_blocks();
        b.finalize(tcfg);
    }
    module.define_function(id, &mut ctx).map_err(cg_err)?;
    module.clear_context(&mut ctx);
    Ok(id)
}

/// The `(pointer, readable length)` of a lane, given the scratch buffers.
type Resolve<'r, T> = dyn Fn(&Vec<Vec<T>>, Src) -> (*const T, usize) + 'r;

/// The slice of `len` elements at a lane, or an internal error if it is shorter.
fn lane<'b, T>(bufs: &'b Vec<Vec<T>>, resolve: &Resolve<'_, T>, s: Src, len: usize) -> JitResult<&'b [T]> {
    let (p, avail) = resolve(bufs, s);
    if avail < len {
        return Err(JitError::Shape("internal: a matmul operand is too short".into()));
    }
    // SAFETY: `resolve` returns a pointer into a live slice (an input, data, or one of `bufs`,
    // all outliving `'b`) with `avail >= len` elements after it.
    Ok(unsafe { core::slice::from_raw_parts(p, len) })
}

/// The distance between consecutive lanes of `len` elements in one buffer: long lanes are
/// padded by a cache line, so that a loop streaming many lanes at once does not have them all
/// map to the same cache sets (a power-of-two lane length otherwise aliases every lane).
fn lane_stride(len: usize) -> usize {
    if len >= 64 {
        len.next_multiple_of(8) + 8
    } else {
        len
    }
}

/// Work (elements times the staged cost per element: computed nodes, extern calls weighing
/// 8) below which a fused loop runs on the calling thread alone.
pub const PAR_MIN_LOOP_WORK: usize = 1 << 18;

/// The work of one chunk of a parallel fused loop.
const LOOP_CHUNK_WORK: usize = 1 << 17;

/// The most chunks a fused loop is split into.
const MAX_LOOP_CHUNKS: usize = 64;

/// Splits a fused loop's iteration space `rows × cols` into chunks for the rayon pool: one
/// chunk below [`PAR_MIN_LOOP_WORK`], else about one per [`LOOP_CHUNK_WORK`] (at most
/// [`MAX_LOOP_CHUNKS`]), over rows first and then column ranges starting at multiples of the
/// vector width `w` (row reductions keep each row whole). The split depends only on the loop
/// and the float type, never on the thread count, so a summing loop adds its partial sums in
/// the same order on every machine.
fn loop_chunks((rows, cols): (usize, usize), reduce: Reduce, cost: usize, w: usize) -> Vec<Chunk> {
    let whole = vec![(0, rows, 0, cols)];
    let work = rows.saturating_mul(cols).saturating_mul(cost.max(1));
    if work < PAR_MIN_LOOP_WORK {
        return whole;
    }
    let n = (work / LOOP_CHUNK_WORK).clamp(2, MAX_LOOP_CHUNKS);
    let nr = n.min(rows);
    let nc = if matches!(reduce, Reduce::Rows | Reduce::MaxRows) { 1 } else { (n / nr).min(cols / w).max(1) };
    if nr * nc < 2 {
        return whole;
    }
    let mut v = Vec::with_capacity(nr * nc);
    for i in 0..nr {
        let (ra, rb) = (rows * i / nr, rows * (i + 1) / nr);
        for j in 0..nc {
            let ca = (cols * j / nc) / w * w;
            let cb = if j + 1 == nc { cols } else { (cols * (j + 1) / nc) / w * w };
            if ra < rb && ca < cb {
                v.push((ra, rb, ca, cb));
            }
        }
    }
    v
}

/// Runs the fused loop `f` over its chunks, in parallel when there are several; a summing
/// loop (`partial`) has each chunk store its sums apart, then adds them in chunk order into
/// the outputs.
///
/// # Safety
/// `ip` and `op` must be valid input and output pointers of `f` for its whole iteration
/// space, and the chunks disjoint parts of that space (see [`loop_chunks`]).
unsafe fn run_loop<T: JitFloat>(f: LoopFn, ip: &[*const T], op: &[*mut T], chunks: &[Chunk], partial: bool) {
    let ins = SendPtr(ip.as_ptr());
    let call = move |o: *const *mut T, (r0, r1, c0, c1): Chunk| {
        let ins = ins;
        // SAFETY: the caller's contract; a chunk lies inside the iteration space (and `f`
        // was compiled for `T`, checked by `TensorProgram::run`).
        unsafe { f(ins.0.cast(), o.cast(), r0 as i64, r1 as i64, c0 as i64, c1 as i64) }
    };
    match chunks {
        [one] => call(op.as_ptr(), *one),
        _ if !partial => {
            let outs = SendPtr(op.as_ptr());
            // Disjoint chunks write disjoint elements.
            chunks.par_iter().for_each(move |&ch| {
                let outs = outs;
                call(outs.0, ch)
            });
        }
        _ => {
            let nq = op.len();
            let mut sums = vec![T::cst(0.0); chunks.len() * nq];
            let base = sums.as_mut_ptr();
            // SAFETY: `i < chunks.len() * nq`, inside `sums`.
            let slots: Vec<*mut T> = (0..sums.len()).map(|i| unsafe { base.add(i) }).collect();
            let slots = SendPtr(slots.as_ptr());
            // Chunk `i` writes only its own `nq` slots.
            (0..chunks.len()).into_par_iter().for_each(move |i| {
                let slots = slots;
                // SAFETY: `i * nq` is inside `slots`.
                call(unsafe { slots.0.add(i * nq) }, chunks[i])
            });
            for (q, &o) in op.iter().enumerate() {
                let total = (0..chunks.len()).fold(T::cst(0.0), |t, i| t + sums[i * nq + q]);
                // SAFETY: each output lane has at least one writable element (the caller's
                // contract).
                unsafe { *o = total };
            }
        }
    }
}

/// Elements below which a copy step (gather, windowed maximum) runs on the calling thread.
const PAR_MIN_COPY: usize = 1 << 15;

/// `out[i] = f(i)` for every `i`, in chunks on the rayon pool when `out` is long.
fn fill_each<T: JitFloat>(out: &mut [T], f: impl Fn(usize) -> T + Sync) {
    if out.len() >= PAR_MIN_COPY {
        const CHUNK: usize = 1 << 13;
        out.par_chunks_mut(CHUNK).enumerate().for_each(|(c, o)| {
            o.iter_mut().enumerate().for_each(|(k, v)| *v = f(c * CHUNK + k));
        });
    } else {
        out.iter_mut().enumerate().for_each(|(i, v)| *v = f(i));
    }
}

/// Multiply-adds below which a dgemm runs on the calling thread alone.
const PAR_MIN_MACS: usize = 1 << 21;

/// Elements added (over all lanes) below which a matmul step's scratch products are added
/// into its output lanes on the calling thread alone.
const PAR_MIN_ADDS: usize = 1 << 16;

/// Splits a matmul's products into dgemm blocks (see [`MatmulBlock`]).
///
/// Two exact covers are considered: right lanes grouped by the set of left lanes they meet
/// (`[a_1; …; a_P] · [b_1 | …]`), and left lanes grouped by their right lanes. Each group is
/// kept whole or split into single right (or left) lanes, whichever a rough memory-traffic
/// model finds cheaper (a stacked left operand is free when its lanes are contiguous; a
/// side-by-side right operand is always a copy; every call packs its operands), and the
/// cheaper cover wins.
fn matmul_blocks((m, k, n): (usize, usize, usize), pairs: &MatmulPairs) -> Vec<MatmulBlock> {
    // Products of several left lanes go straight into consecutive output lanes only if
    // those lanes are not padded apart.
    let tall_direct = lane_stride(m * n) == m * n;
    let (mut ps, mut qs): (Vec<Src>, Vec<Src>) = (Vec::new(), Vec::new());
    for &((a, b), _) in pairs {
        if !ps.contains(&a) {
            ps.push(a);
        }
        if !qs.contains(&b) {
            qs.push(b);
        }
    }
    let need = |p: Src, q: Src| pairs.iter().any(|x| x.0 == (p, q));
    // Left lanes in buffer order, so lanes written one after another are read in place.
    let sorted = |mut v: Vec<Src>| {
        v.sort_by_key(|s| match *s {
            Src::Buf(b, o) => (0, b, o),
            Src::Data(i, o) => (1, i as usize, o),
            Src::X(x, o) => (2, x, o),
        });
        v
    };
    let contig = |v: &[Src]| match v.first() {
        Some(&Src::Buf(b, o)) => {
            v.iter().enumerate().all(|(i, &s)| s == Src::Buf(b, o + i * m * k)) && v.len() > 1
        }
        _ => false,
    };
    let cost = |p: &[Src], q: &[Src]| {
        let (pl, ql) = (p.len(), q.len());
        let copy_a = if pl > 1 && !contig(p) { pl * m * k } else { 0 };
        let copy_b = if ql > 1 { k * ql * n } else { 0 };
        // Straight into the output (see `MatmulBlock::direct`), or through a scratch product.
        let direct = ql == 1 && (pl == 1 || tall_direct) && {
            let uses: Vec<&Vec<(usize, f64)>> =
                p.iter().filter_map(|&a| pairs.iter().find(|x| x.0 == (a, q[0])).map(|x| &x.1)).collect();
            uses.len() == pl
                && uses
                    .iter()
                    .enumerate()
                    .all(|(i, u)| u.len() == 1 && u[0].0 == uses[0][0].0 + i && u[0].1 == uses[0][0].1)
        };
        let scatter = if direct { 0 } else { pl * ql * m * n };
        2 * (copy_a + copy_b) + pl * m * k + k * ql * n + scatter + 4096
    };
    // One group (P, Q), whole or split along the side it was grouped by.
    let choose = |p: Vec<Src>, q: Vec<Src>, split_q: bool| -> (usize, Vec<LaneSets>) {
        let p = sorted(p);
        let whole = cost(&p, &q);
        let parts: Vec<LaneSets> = if split_q {
            q.iter().map(|&x| (p.clone(), vec![x])).collect()
        } else {
            p.iter().map(|&x| (vec![x], q.clone())).collect()
        };
        let split: usize = parts.iter().map(|(p, q)| cost(p, q)).sum();
        if parts.len() > 1 && split < whole {
            (split, parts)
        } else {
            (whole, vec![(p, q)])
        }
    };
    let mut by_right: Vec<LaneSets> = Vec::new();
    for &q in &qs {
        let set: Vec<Src> = ps.iter().copied().filter(|&p| need(p, q)).collect();
        match by_right.iter_mut().find(|g| g.0 == set) {
            Some(g) => g.1.push(q),
            None => by_right.push((set, vec![q])),
        }
    }
    let mut by_left: Vec<LaneSets> = Vec::new();
    for &p in &ps {
        let set: Vec<Src> = qs.iter().copied().filter(|&q| need(p, q)).collect();
        match by_left.iter_mut().find(|g| g.1 == set) {
            Some(g) => g.0.push(p),
            None => by_left.push((vec![p], set)),
        }
    }
    let cover = |groups: Vec<LaneSets>, split_q: bool| {
        groups.into_iter().map(|(p, q)| choose(p, q, split_q)).fold(
            (0, Vec::new()),
            |(c, mut v), (c1, v1)| {
                v.extend(v1);
                (c + c1, v)
            },
        )
    };
    let (cr, r) = cover(by_right, true);
    let (cl, l) = cover(by_left, false);
    let chosen = if cr <= cl { r } else { l };
    chosen
        .into_iter()
        .map(|(ps, qs)| {
            let mut uses = Vec::new();
            for (i, &p) in ps.iter().enumerate() {
                for (j, &q) in qs.iter().enumerate() {
                    let x = pairs.iter().find(|x| x.0 == (p, q)).expect("covered");
                    uses.extend(x.1.iter().map(|&(lane, c)| (i, j, lane, c)));
                }
            }
            let a_contig = contig(&ps);
            let direct = (qs.len() == 1 && uses.len() == ps.len() && (ps.len() == 1 || tall_direct))
                .then(|| (uses[0].2, uses[0].3))
                .filter(|&(o, c)| uses.iter().enumerate().all(|(i, u)| u.0 == i && u.2 == o + i && u.3 == c));
            MatmulBlock { ps, a_contig, qs, uses, direct }
        })
        .collect()
}

/// A pointer that may cross to another thread (each user writes a disjoint range).
#[derive(Clone, Copy)]
struct SendPtr<P>(P);
// SAFETY: only used to hand disjoint ranges of one output (and the shared, read-only pointer
// arrays that locate them) to rayon tasks.
unsafe impl<P> Send for SendPtr<P> {}
unsafe impl<P> Sync for SendPtr<P> {}

/// `c = alpha · a · b + beta · c` for row-major `a` (`rows × k`), `b` (`k × cols`), `c`
/// (`rows × cols`); `beta = 0` ignores `c`'s old contents. Large products are split into row
/// (or, for short wide ones, column) ranges run on the rayon pool.
#[allow(clippy::too_many_arguments)]
fn gemm_par<T: JitFloat>(
    rows: usize,
    k: usize,
    cols: usize,
    alpha: T,
    a: &[T],
    b: &[T],
    beta: T,
    c: &mut [T],
) -> JitResult<()> {
    if a.len() < rows * k || b.len() < k * cols || c.len() < rows * cols {
        return Err(JitError::Shape("internal: a matmul operand is too short".into()));
    }
    let c = &mut c[..rows * cols];
    if rows == 0 || cols == 0 {
        return Ok(());
    }
    if k == 0 {
        c.iter_mut().for_each(|v| *v = if beta == T::cst(0.0) { T::cst(0.0) } else { beta * *v });
        return Ok(());
    }
    let threads = rayon::current_num_threads().max(1);
    let big = rows * k * cols >= PAR_MIN_MACS && threads > 1;
    // SAFETY (all calls below): `a` holds `rows·k`, `b` `k·cols` and `c` `rows·cols` elements
    // (checked above); each call reads and writes only its own rows/columns inside them.
    let call = |r: usize, r0: usize, c0: usize, w: usize, out: *mut T| unsafe {
        T::gemm(
            (r, k, w),
            alpha,
            (a.as_ptr().add(r0 * k), k as isize, 1),
            (b.as_ptr().add(c0), cols as isize, 1),
            beta,
            (out, cols as isize, 1),
        )
    };
    if big && rows >= 16 {
        let chunk = rows.div_ceil(threads.min(rows / 8)).next_multiple_of(8);
        c.par_chunks_mut(chunk * cols).enumerate().for_each(|(i, cc)| {
            call(cc.len() / cols, i * chunk, 0, cols, cc.as_mut_ptr());
        });
    } else if big && cols >= 64 {
        let chunk = cols.div_ceil(threads).next_multiple_of(8);
        let base = SendPtr(c.as_mut_ptr());
        (0..cols.div_ceil(chunk)).into_par_iter().for_each(|i| {
            let (c0, base) = (i * chunk, base);
            // SAFETY: `c0 < cols`, inside `c`; the ranges of different `i` are disjoint.
            call(rows, 0, c0, chunk.min(cols - c0), unsafe { base.0.add(c0) });
        });
    } else {
        call(rows, 0, 0, cols, c.as_mut_ptr());
    }
    Ok(())
}

/// One matmul step: every output lane `Σ coef · a lane · b lane`, from its [`MatmulBlock`]s.
///
/// Blocks that are not direct are dgemms into scratch products, run in parallel (a stacked
/// left operand is read in place when contiguous, else copied; right lanes are copied side by
/// side). Then the direct blocks write straight into the output buffer, one after another
/// (each split over threads when large), and finally every output lane (in parallel) adds
/// its scratch products.
fn matmul_step<T: JitFloat>(
    (m, k, n): (usize, usize, usize),
    (out, count): (usize, usize),
    blocks: &[MatmulBlock],
    bufs: &mut Vec<Vec<T>>,
    resolve: &Resolve<'_, T>,
) -> JitResult<()> {
    // Scratch for copies and products, kept per thread (`JitFloat::take_scratch`). It is
    // taken out (not borrowed) while in use, since a rayon worker may run another step
    // meanwhile; every element is written before it is read (copies, then dgemm with β = 0),
    // so it is never cleared.
    // The output buffer is taken out first (it is never an operand of its own step), so every
    // operand is read from `bufs` while it is written.
    let mut o = match bufs.get_mut(out) {
        Some(o) if o.len() >= count * lane_stride(m * n) => core::mem::take(o),
        _ => return Err(JitError::Shape("internal: a matmul output is too short".into())),
    };
    let mut scratch = T::take_scratch();
    let r = matmul_blocks_run(
        (m, k, n),
        blocks,
        bufs,
        resolve,
        &mut scratch,
        (&mut o[..count * lane_stride(m * n)], count),
    );
    T::set_scratch(scratch);
    bufs[out] = o;
    r
}

/// A direct dgemm of [`matmul_blocks_run`]: first output lane, left lanes, coefficient, left,
/// right.
type DirectJob<'a, T> = (usize, usize, f64, &'a [T], &'a [T]);

/// A dgemm of [`matmul_blocks_run`]: rows, columns, left, right, product (`None`: direct).
type BlockJob<'a, T> = (usize, usize, &'a [T], &'a [T], Option<&'a mut [T]>);

/// [`matmul_step`] with its scratch and its output lanes (`m·n` each) taken out of `bufs`.
fn matmul_blocks_run<T: JitFloat>(
    (m, k, n): (usize, usize, usize),
    blocks: &[MatmulBlock],
    bufs: &Vec<Vec<T>>,
    resolve: &Resolve<'_, T>,
    scratch: &mut Vec<T>,
    (out, count): (&mut [T], usize),
) -> JitResult<()> {
    // Per block: (copied a, copied b, product) lengths.
    let sizes: Vec<(usize, usize, usize)> = blocks
        .iter()
        .map(|bl| {
            let (pl, ql) = (bl.ps.len(), bl.qs.len());
            let a = if pl > 1 && !bl.a_contig { pl * m * k } else { 0 };
            let b = if ql > 1 { k * ql * n } else { 0 };
            (a, b, if bl.direct.is_some() { 0 } else { pl * m * ql * n })
        })
        .collect();
    let total: usize = sizes.iter().map(|s| s.0 + s.1 + s.2).sum();
    if scratch.len() < total {
        scratch.resize(total, T::cst(0.0));
    }
    let mut jobs: Vec<BlockJob<'_, T>> = Vec::with_capacity(blocks.len());
    let mut rest: &mut [T] = &mut scratch[..total];
    for (bl, &(la, lb, lt)) in blocks.iter().zip(&sizes) {
        let (pl, ql) = (bl.ps.len(), bl.qs.len());
        let (ca, r) = core::mem::take(&mut rest).split_at_mut(la);
        let (cb, r) = r.split_at_mut(lb);
        let (t, r) = r.split_at_mut(lt);
        rest = r;
        let a: &[T] = if la == 0 {
            lane(bufs, resolve, bl.ps[0], pl * m * k)?
        } else {
            for (i, &p) in bl.ps.iter().enumerate() {
                ca[i * m * k..(i + 1) * m * k].copy_from_slice(lane(bufs, resolve, p, m * k)?);
            }
            ca
        };
        let w = ql * n;
        let b: &[T] = if lb == 0 {
            lane(bufs, resolve, bl.qs[0], k * n)?
        } else {
            for (j, &q) in bl.qs.iter().enumerate() {
                let src = lane(bufs, resolve, q, k * n)?;
                for r in 0..k {
                    cb[r * w + j * n..r * w + (j + 1) * n].copy_from_slice(&src[r * n..(r + 1) * n]);
                }
            }
            cb
        };
        jobs.push((pl * m, w, a, b, bl.direct.is_none().then_some(t)));
    }
    let run = |j: &mut BlockJob<'_, T>| match j {
        (rows, w, a, b, Some(t)) => gemm_par(*rows, k, *w, T::cst(1.0), a, b, T::cst(0.0), t),
        _ => Ok(()),
    };
    let work: usize = jobs.iter().filter(|j| j.4.is_some()).map(|j| j.0 * k * j.1).sum();
    if work >= PAR_MIN_MACS && jobs.iter().filter(|j| j.4.is_some()).count() > 1 {
        jobs.par_iter_mut().map(run).collect::<JitResult<()>>()?;
    } else {
        jobs.iter_mut().try_for_each(run)?;
    }
    let mut written = vec![false; count];
    let ls = lane_stride(m * n);
    // The direct blocks, in block order: first output lane, lanes, coefficient, operands.
    let mut direct: Vec<DirectJob<'_, T>> = blocks
        .iter()
        .zip(&jobs)
        .filter_map(|(bl, j)| bl.direct.map(|(o, c)| (o, bl.ps.len(), c, j.2, j.3)))
        .collect();
    let mut spans_at: Vec<(usize, usize)> = direct.iter().map(|d| (d.0, d.1)).collect();
    spans_at.sort_unstable();
    let disjoint = spans_at.windows(2).all(|w| w[0].0 + w[0].1 <= w[1].0)
        && spans_at.last().is_none_or(|d| d.0 + d.1 <= count);
    let direct_work: usize = direct.iter().map(|d| d.1 * m * k * n).sum();
    if disjoint && direct.len() > 1 && direct_work >= PAR_MIN_MACS {
        // Pairwise disjoint lanes, each written once (β = 0): in parallel.
        direct.sort_by_key(|d| d.0);
        let mut rest: &mut [T] = out;
        let mut at = 0;
        let mut spans = Vec::with_capacity(direct.len());
        for &(o, pl, c, a, b) in &direct {
            let (_, r) = core::mem::take(&mut rest).split_at_mut((o - at) * ls);
            let (span, r) = r.split_at_mut(((pl - 1) * ls + m * n).min(r.len()));
            spans.push((pl, c, a, b, span));
            written[o..o + pl].fill(true);
            (rest, at) = (r, o + pl);
            // the span ends inside lane `o + pl - 1`; skip the rest of that lane's stride
            let skip = (ls - m * n).min(rest.len());
            rest = &mut core::mem::take(&mut rest)[skip..];
        }
        spans
            .into_par_iter()
            .map(|(pl, c, a, b, span)| gemm_par(pl * m, k, n, T::cst(c), a, b, T::cst(0.0), span))
            .collect::<JitResult<()>>()?;
    } else {
        // One after another: β = 0 on lanes not yet written (zeroed first if the block also
        // covers written ones).
        for &(o, pl, c, a, b) in &direct {
            let ws = written
                .get_mut(o..o + pl)
                .ok_or_else(|| JitError::Shape("internal: a matmul lane".into()))?;
            let dst = &mut out[o * ls..(o + pl - 1) * ls + m * n];
            let beta = if ws.iter().all(|w| !w) {
                T::cst(0.0)
            } else {
                for (w, d) in ws.iter().zip(dst.chunks_mut(ls.max(1))) {
                    if !w {
                        d.fill(T::cst(0.0));
                    }
                }
                T::cst(1.0)
            };
            ws.fill(true);
            gemm_par(pl * m, k, n, T::cst(c), a, b, beta, dst)?;
        }
    }
    // Per output lane: its scratch products `(block, i, j, coef)`.
    let mut added: Vec<Vec<Added>> = vec![Vec::new(); count];
    for (bi, bl) in blocks.iter().enumerate().filter(|b| b.1.direct.is_none()) {
        for &(i, j, o, c) in &bl.uses {
            added
                .get_mut(o)
                .ok_or_else(|| JitError::Shape("internal: a matmul lane".into()))?
                .push((bi, i, j, c));
        }
    }
    let products: Vec<&[T]> = jobs.into_iter().map(|j| j.4.map_or(&[][..], |t| &*t)).collect();
    let fill = |((out, added), &done): ((&mut [T], &Vec<Added>), &bool)| {
        let mut first = !done;
        for &(bi, i, j, c) in added {
            let w = blocks[bi].qs.len() * n;
            let t = products[bi];
            if t.len() < blocks[bi].ps.len() * m * w {
                return Err(JitError::Shape("internal: a matmul product is too short".into()));
            }
            // Row `r` of the product is `n` elements at `(i·m + r)·w + j·n`; with one right
            // lane (`w == n`) the whole product is one contiguous run.
            let (rows, len, step) = if w == n { (1, m * n, m * n) } else { (m, n, w) };
            let src = t[(i * m) * w + j * n..].chunks(step.max(1)).take(rows);
            let c1 = c == 1.0;
            let c = T::cst(c);
            for (o, tr) in out[..m * n].chunks_exact_mut(len.max(1)).zip(src) {
                let tr = &tr[..len];
                match (first, c1) {
                    (true, true) => o.copy_from_slice(tr),
                    (true, false) => o.iter_mut().zip(tr).for_each(|(o, &v)| *o = c * v),
                    (false, true) => o.iter_mut().zip(tr).for_each(|(o, &v)| *o += v),
                    (false, false) => o.iter_mut().zip(tr).for_each(|(o, &v)| *o += c * v),
                }
            }
            first = false;
        }
        if first {
            out.fill(T::cst(0.0));
        }
        Ok(())
    };
    let mut lanes: Vec<&mut [T]> = out.chunks_mut(lane_stride(m * n).max(1)).collect();
    lanes.resize_with(count, Default::default);
    let per_lane = lanes.into_iter().zip(&added).zip(&written);
    let adds: usize = added.iter().map(Vec::len).sum();
    if count > 1 && adds * m * n >= PAR_MIN_ADDS {
        per_lane.collect::<Vec<_>>().into_par_iter().map(fill).collect::<JitResult<()>>()
    } else {
        { per_lane }.try_for_each(fill)
    }
}

/// Emits the body of a fused loop at one element (scalar type) or one vector of
/// consecutive columns.
struct BodyEmitter<'a> {
    module: &'a mut cranelift_jit::JITModule,
    float: FloatType,
    g: &'a Graph,
    fusion: &'a fuse::Fusion,
    in_index: &'a HashMap<u32, (usize, usize)>,
    in_strides: &'a [(usize, usize)],
    refs: externs::Refs,
}

impl BodyEmitter<'_> {
    /// The values of every node at row `rv`, column `cv` (skipped nodes: a reserved value).
    fn body(
        &mut self,
        b: &mut FunctionBuilder,
        ty: types::Type,
        bases: &[Value],
        rv: Value,
        cv: Value,
    ) -> JitResult<Vec<Value>> {
        let g = self.g;
        let (sty, _, w) = float_types(self.float);
        let es = self.float.bytes();
        // The inputs are not written while the loop runs (the outputs are other buffers)
        // and every address read is in bounds (checked before the call): the loads may
        // move to their first use (or out of the loop), which shortens their live ranges.
        let input = MemFlagsData::new().with_notrap().with_readonly().with_can_move();
        let mut vals: Vec<Value> = Vec::with_capacity(g.nodes.len());
        for (i, op) in g.nodes.iter().enumerate() {
            if self.fusion.skip[i] {
                // Consumed by an `fma` or an accumulator update; never read on its own.
                vals.push(Value::reserved_value());
                continue;
            }
            let v = |a: NodeId| vals[a as usize];
            let val = if let Some(m) = self.fusion.fma[i] {
                // An `fneg` feeding `fma` lowers into `fnmadd` / `fmsub`, not an instruction.
                let p = if m.neg_product { b.ins().fneg(v(m.p)) } else { v(m.p) };
                let r = if m.neg_addend { b.ins().fneg(v(m.r)) } else { v(m.r) };
                b.ins().fma(p, v(m.q), r)
            } else {
                match *op {
                    Op::Input(j) => {
                        let (q, disp) = self.in_index[&j];
                        let (rs, cs) = self.in_strides[q];
                        let disp = (es * disp) as i32;
                        let a = b.ins().imul_imm_s(rv, (es * rs) as i64);
                        let cc = b.ins().imul_imm_s(cv, (es * cs) as i64);
                        let off = b.ins().iadd(a, cc);
                        let addr = b.ins().iadd(bases[q], off);
                        if ty == sty || cs == 0 {
                            let x = b.ins().load(sty, input.with_aligned(), addr, disp);
                            if ty == sty {
                                x
                            } else {
                                b.ins().splat(ty, x)
                            }
                        } else {
                            b.ins().load(ty, input, addr, disp)
                        }
                    }
                    Op::Const(k) => {
                        let x = codegen::float_const(b, self.float, k);
                        if ty == sty {
                            x
                        } else {
                            b.ins().splat(ty, x)
                        }
                    }
                    Op::Neg(a) => b.ins().fneg(v(a)),
                    Op::Binary(
                        bo @ (BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div),
                        x,
                        y,
                    ) => codegen::native_binary(b, bo, v(x), v(y)).expect("arithmetic is native"),
                    Op::Unary(u, a) if codegen::is_vector_native_unary(u) => {
                        codegen::native_unary(b, u, v(a)).expect("native unary op")
                    }
                    Op::Guard { .. } => return Err(JitError::Unsupported("guards in a tensor loop".into())),
                    _ => {
                        // Per lane, in scalar code.
                        let args: Vec<Value> = op.args().map(v).collect();
                        if ty == sty {
                            self.scalar(b, op, &args)?
                        } else {
                            let mut out = None;
                            for l in 0..w as u8 {
                                let la: Vec<Value> =
                                    args.iter().map(|&x| b.ins().extractlane(x, l)).collect();
                                let s = self.scalar(b, op, &la)?;
                                out = Some(match out {
                                    None => b.ins().scalar_to_vector(ty, s),
                                    Some(o) => b.ins().insertlane(o, s, l),
                                });
                            }
                            out.expect("w >= 2 lanes")
                        }
                    }
                }
            };
            vals.push(val);
        }
        Ok(vals)
    }

    /// One scalar op on scalar arguments (in `op.args()` order).
    fn scalar(&mut self, b: &mut FunctionBuilder, op: &Op, args: &[Value]) -> JitResult<Value> {
        let (module, refs, float) = (&mut *self.module, &mut self.refs, self.float);
        Ok(match *op {
            Op::Binary(bo, ..) => match codegen::native_binary(b, bo, args[0], args[1]) {
                Some(v) => v,
                None => externs::call_binary(module, b, refs, bo, float, args[0], args[1])?,
            },
            Op::Unary(u, _) => match codegen::native_unary(b, u, args[0]) {
                Some(v) => v,
                None => externs::call_unary(module, b, refs, u, float, args[0])?,
            },
            Op::Select { cmp, .. } => {
                let c = b.ins().fcmp(float_cc(cmp), args[0], args[1]);
                b.ins().select(c, args[2], args[3])
            }
            Op::Neg(_) => b.ins().fneg(args[0]),
            Op::Input(_) | Op::Const(_) | Op::Guard { .. } => {
                return Err(JitError::Unsupported("a leaf in scalar lane code".into()))
            }
        })
    }
}

impl<T: JitFloat> TensorProgram<T> {
    /// A program over `nodes` (checked by the builder) with the defaults.
    fn from_nodes(nodes: Vec<TNode>, output: u32, n_params: usize, inputs: Vec<Vec<usize>>) -> Self {
        TensorProgram {
            nodes: Arc::new(nodes),
            output,
            n_params,
            codegen: CodegenOptions::default(),
            strategy: LoopStrategy::Auto,
            kernels: core::array::from_fn(|_| OnceLock::new()),
            inputs,
            hash: OnceLock::new(),
            data: OnceLock::new(),
            scratch: Mutex::new(Vec::new()),
            tiling: RowTiling::Auto,
            tiles: tile::TileState::default(),
        }
    }

    /// The number of parameters.
    pub fn dim(&self) -> usize {
        self.n_params
    }

    /// The nodes of the graph.
    pub fn nodes(&self) -> &[TNode] {
        &self.nodes
    }

    /// The same graph with the loop-body strategy `s` (default [`LoopStrategy::Auto`]);
    /// nothing compiled is kept.
    pub fn with_loop_strategy(self, s: LoopStrategy) -> TensorProgram<T> {
        TensorProgram {
            strategy: s,
            kernels: core::array::from_fn(|_| OnceLock::new()),
            tiles: tile::TileState::default(),
            ..self
        }
    }

    /// The same graph evaluated in the float type `U` (`f32` or `f64`); nothing compiled is
    /// kept (the code cache serves a type compiled before).
    ///
    /// An `f32` program runs native `f32` code: its loops load, compute and store `f32` on
    /// `f32x4` vectors, its matmuls call `matrixmultiply::sgemm`, the graph's literals and
    /// data are rounded once to `f32`, and its transcendentals call the runtime's own `f32`
    /// functions. It computes what the runtime's `HyperDual<f32>`, `Jet<f32>` and
    /// `HyperK<f32, K>` compute through [`TensorProgram::interpret`], up to rounding (the
    /// derivative code is the same staged code, with literal products folded in `f64`, and
    /// sums are added in another order). Bound inputs, `x` and the directions are `f32`.
    ///
    /// ```
    /// let p = fomoh_jit::tensor::models::rosenbrock(1001).unwrap().with_float::<f32>();
    /// let x = vec![0.5f32; 1001];
    /// let v = vec![1.0f32; 1001];
    /// let j = p.directional(&x, &v).unwrap(); // fomoh_runtime::Jet<f32>
    /// let exact = p.with_float::<f64>().directional(&vec![0.5; 1001], &vec![1.0; 1001]).unwrap();
    /// assert!((j.re as f64 - exact.re).abs() < 1e-5 * exact.re.abs());
    /// assert!(p.value(&x[..1000]).is_err()); // wrong length: an error
    /// ```
    pub fn with_float<U: JitFloat>(&self) -> TensorProgram<U> {
        TensorProgram {
            nodes: self.nodes.clone(),
            output: self.output,
            n_params: self.n_params,
            codegen: self.codegen.clone(),
            strategy: self.strategy,
            kernels: core::array::from_fn(|_| OnceLock::new()),
            inputs: self.inputs.clone(),
            hash: self.hash.clone(),
            data: OnceLock::new(),
            scratch: Mutex::new(Vec::new()),
            tiling: self.tiling,
            tiles: tile::TileState::default(),
        }
    }

    /// The graph's data in `T` (converted once where `T` is not `f64`).
    fn data(&self) -> &[Option<Vec<T>>] {
        self.data.get_or_init(|| {
            if T::from_f64s(&[]).is_some() {
                return Vec::new(); // read in place
            }
            self.nodes
                .iter()
                .map(|n| match &n.op {
                    TOp::Data(d) => Some(crate::float::cast::<T>(d).into_owned()),
                    _ => None,
                })
                .collect()
        })
    }

    /// Sets the code generator's options (before anything is compiled).
    pub(crate) fn set_codegen(&mut self, c: CodegenOptions) {
        self.codegen = c;
    }

    /// Compiles `mode` (or finds it, and the plans of its row tiles) and returns its
    /// statistics (a tiled mode: its first tile's, with every tile length's compile time).
    pub(crate) fn plan_stats(&self, mode: Mode) -> JitResult<TensorStats> {
        let mode = mode.validate()?;
        let Some(t) = self.tiles(mode) else {
            return Ok(self.plan(mode)?.stats);
        };
        t.stats(mode)
    }

    fn plan(&self, mode: Mode) -> JitResult<&Arc<Plan>> {
        let mode = mode.validate()?;
        self.kernels[mode.slot()]
            .get_or_init(|| {
                let hash =
                    *self.hash.get_or_init(|| structural_hash(&self.nodes, self.output, self.n_params));
                let key = crate::cache::TensorKey {
                    nodes: self.nodes.clone(),
                    output: self.output,
                    n_params: self.n_params,
                    hash,
                };
                crate::cache::tensor_plan(&key, mode, T::TYPE, (&self.codegen, self.strategy), || {
                    self.compile(mode)
                })
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The shape of each passive input slot (bound with [`TensorProgram::bind`]).
    pub fn input_shapes(&self) -> &[Vec<usize>] {
        &self.inputs
    }

    /// Binds the passive inputs (one row-major slice per slot, in slot order): the result
    /// evaluates the compiled graph on them. The count and every length are checked here.
    ///
    /// ```
    /// use fomoh_jit::tensor::TensorBuilder;
    /// // f(θ) = Σ (x θ)² for an input x of shape [2, 3]
    /// let mut b = TensorBuilder::new(3);
    /// let x = b.input(0, &[2, 3]).unwrap();
    /// let t = b.param(0, &[3, 1]).unwrap();
    /// let y = b.matmul(x, t).unwrap();
    /// let y2 = b.mul(y, y).unwrap();
    /// let f = b.sum(y2);
    /// let p = b.finish(f).unwrap();
    /// let theta = [1.0, 2.0, 3.0];
    /// let a = p.bind(&[&[1.0, 0.0, 0.0, 0.0, 1.0, 0.0]]).unwrap();
    /// assert_eq!(a.value(&theta).unwrap(), 1.0 + 4.0);
    /// let b2 = p.bind(&[&[0.0, 0.0, 1.0, 1.0, 1.0, 1.0]]).unwrap(); // same code, new data
    /// assert_eq!(b2.value(&theta).unwrap(), 9.0 + 36.0);
    /// assert!(p.bind(&[&[1.0; 5]]).is_err());
    /// assert!(p.value(&theta).is_err(), "unbound inputs");
    /// ```
    pub fn bind<'a>(&'a self, inputs: &[&'a [T]]) -> Result<Bound<'a, T>> {
        self.check_inputs(inputs)?;
        Ok(Bound { program: self, inputs: inputs.to_vec() })
    }

    fn check_inputs(&self, inputs: &[&[T]]) -> JitResult<()> {
        if inputs.len() != self.inputs.len() {
            return Err(JitError::Length {
                what: format!(
                    "passive inputs (bind {} with TensorProgram::bind)",
                    if self.inputs.is_empty() { "none".to_string() } else { self.inputs.len().to_string() }
                ),
                expected: self.inputs.len(),
                found: inputs.len(),
            });
        }
        for (slot, (shape, d)) in self.inputs.iter().zip(inputs).enumerate() {
            check_len(&format!("input {slot} of shape {shape:?}"), numel(shape), d.len())?;
        }
        Ok(())
    }

    /// Compiles `mode` now (every row tile's length, if tiled) and returns what it cost.
    pub fn prepare(&self, mode: Mode) -> Result<TensorStats> {
        Ok(self.plan_stats(mode)?)
    }

    fn compile(&self, mode: Mode) -> JitResult<Plan> {
        let t0 = Instant::now();
        let nodes = &self.nodes[..];
        let mut users = vec![0usize; nodes.len()];
        for n in nodes {
            for a in args(&n.op) {
                users[a as usize] += 1;
            }
        }
        // Inline an elementwise node into its single elementwise/reduction consumer of the
        // same iteration shape.
        let mut inline = vec![false; nodes.len()];
        for (i, n) in nodes.iter().enumerate() {
            let ok = match n.op {
                TOp::Neg(a) | TOp::Unary(_, a) => vec![(a, as2(&n.shape))],
                TOp::Binary(_, a, b) => vec![(a, as2(&n.shape)), (b, as2(&n.shape))],
                TOp::Select(_, ops) => ops.iter().map(|&a| (a, as2(&n.shape))).collect(),
                TOp::Sum(a) | TOp::SumRows(a) | TOp::MaxRowsPassive(a) => {
                    vec![(a, as2(&nodes[a as usize].shape))]
                }
                _ => vec![],
            };
            for (a, it) in ok {
                let an = &nodes[a as usize];
                if is_elementwise(&an.op)
                    && users[a as usize] == 1
                    && a != self.output
                    && as2(&an.shape) == it
                {
                    inline[a as usize] = true;
                }
            }
            let _ = i;
        }
        let mut c = Compiler {
            nodes,
            float: T::TYPE,
            mode,
            strategy: self.strategy,
            lanes: mode.outputs(),
            loc: HashMap::new(),
            inline,
            buf_sizes: Vec::new(),
            steps: Vec::new(),
            pending: Vec::new(),
            module: codegen::new_module(&self.codegen)?,
            stats: TensorStats::default(),
        };
        let out = c.value(self.output)?;
        let mut module = c.module;
        module.finalize_definitions().map_err(cg_err)?;
        for (idx, fid, inputs, outputs, out_len, chunks, partial) in c.pending {
            let p = module.get_finalized_function(fid);
            // SAFETY: `p` is a function compiled with the loop signature (two pointers and
            // four integers in, nothing out) in the platform's default calling convention.
            let f = unsafe { core::mem::transmute::<*const u8, LoopFn>(p) };
            c.steps[idx] = Step::Fused { f, inputs, outputs, out_len, chunks, partial };
        }
        let mut stats = c.stats;
        stats.compile_time = t0.elapsed();
        stats.row_tiles = 1;
        Ok(Plan {
            float: T::TYPE,
            steps: c.steps,
            buf_sizes: c.buf_sizes,
            out,
            stats,
            _code: Some(OwnedCode::new(module)),
        })
    }

    pub(crate) fn run(&self, mode: Mode, parts: &[(&str, &[T])], inputs: &[&[T]]) -> JitResult<Vec<T>> {
        for (what, p) in parts {
            check_len(what, self.n_params, p.len())?;
        }
        self.check_inputs(inputs)?;
        let mode = mode.validate()?;
        if let Some(t) = self.tiles(mode) {
            return self.run_tiles(&t, mode, parts, inputs);
        }
        let plan = self.plan(mode)?;
        if plan.float != T::TYPE {
            return Err(JitError::Codegen("internal: a plan compiled for another float type".into()));
        }
        let nd = (&self.nodes[..], self.data());
        // Every step writes all of its output buffers before they are read (fused loops store
        // every element or row, a matmul lane starts with β = 0), so a reused set needs no
        // clearing.
        let mut bufs = self.take_scratch(&plan.buf_sizes);
        let resolve = |bufs: &Vec<Vec<T>>, s: Src| -> (*const T, usize) {
            let sl = lane_slice(nd, parts, inputs, bufs, s);
            (sl.as_ptr(), sl.len())
        };
        for step in &plan.steps {
            match step {
                Step::Fused { f, inputs, outputs, out_len, chunks, partial } => {
                    let mut ip = Vec::with_capacity(inputs.len());
                    for &(s, last) in inputs {
                        let (p, avail) = resolve(&bufs, s);
                        if last >= avail {
                            return Err(JitError::Shape("internal: a loop input is too short".into()));
                        }
                        ip.push(p);
                    }
                    let mut op: Vec<*mut T> = Vec::with_capacity(outputs.len());
                    for &(b, o) in outputs {
                        match bufs.get_mut(b) {
                            Some(v) if v.len() >= o + out_len => op.push(v[o..].as_mut_ptr()),
                            _ => return Err(JitError::Shape("internal: a loop output is too short".into())),
                        }
                    }
                    // SAFETY: every input pointer has at least `last + 1` readable elements
                    // (checked above) and the loop reads no further; each output lane has
                    // `out_len` writable elements (checked above), the loop writes no more,
                    // the lanes do not overlap, and their buffer is distinct from every input.
                    // The chunks lie inside the iteration space and are disjoint, so parallel
                    // chunks write disjoint elements (or, summing, their own partials).
                    unsafe { run_loop(*f, &ip, &op, chunks, *partial) };
                }
                Step::Matmul { m, k, n, out, count, blocks } => {
                    matmul_step((*m, *k, *n), (*out, *count), blocks, &mut bufs, &resolve)?
                }
                Step::Gather { map, need, lanes } => {
                    let short = || JitError::Shape("internal: a gather operand is too short".into());
                    for (srcs, buf) in lanes {
                        let mut out = core::mem::take(&mut bufs[*buf]);
                        let ins: Vec<Option<&[T]>> = srcs
                            .iter()
                            .zip(need)
                            .map(|(s, &n)| match s {
                                Some(s) => {
                                    let sl = lane_slice(nd, parts, inputs, &bufs, *s);
                                    (sl.len() >= n).then_some(Some(sl)).ok_or_else(short)
                                }
                                None => Ok(None),
                            })
                            .collect::<JitResult<_>>()?;
                        if out.len() != map.local.len() {
                            return Err(short());
                        }
                        let local = &map.local[..];
                        match &map.part {
                            None => {
                                let src = ins[0].ok_or_else(short)?;
                                fill_each(&mut out, |i| src[local[i]]);
                            }
                            Some(part) => {
                                fill_each(&mut out, |i| {
                                    ins[part[i] as usize].map_or(T::cst(0.0), |s| s[local[i]])
                                });
                            }
                        }
                        bufs[*buf] = out;
                    }
                }
                Step::MaxSelect { windows, width, need, primal, lanes } => {
                    let short = || JitError::Shape("internal: a max operand is too short".into());
                    let sel: Vec<usize> = match primal {
                        Some(s) => {
                            let p = lane_slice(nd, parts, inputs, &bufs, *s);
                            if p.len() < *need {
                                return Err(short());
                            }
                            // The first largest element (its value carried along).
                            let argmax = |w: &[usize]| {
                                let first = (w[0], p[w[0]]);
                                w[1..]
                                    .iter()
                                    .fold(first, |(b, pb), &j| if p[j] > pb { (j, p[j]) } else { (b, pb) })
                                    .0
                            };
                            if windows.len() >= PAR_MIN_COPY {
                                windows.par_chunks(*width).map(argmax).collect()
                            } else {
                                windows.chunks(*width).map(argmax).collect()
                            }
                        }
                        None => windows.chunks(*width).map(|w| w[0]).collect(),
                    };
                    for &(s, buf) in lanes {
                        let mut out = core::mem::take(&mut bufs[buf]);
                        let src = lane_slice(nd, parts, inputs, &bufs, s);
                        if src.len() < *need || out.len() != sel.len() {
                            return Err(short());
                        }
                        fill_each(&mut out, |i| src[sel[i]]);
                        bufs[buf] = out;
                    }
                }
            }
        }
        let out = plan
            .out
            .iter()
            .map(|s| {
                s.map_or(T::cst(0.0), |s| {
                    let (p, n) = resolve(&bufs, s);
                    // SAFETY: `n >= 1` is checked; `p` points into a live slice.
                    if n == 0 {
                        T::cst(f64::NAN)
                    } else {
                        unsafe { *p }
                    }
                })
            })
            .collect();
        self.give_scratch(bufs);
        Ok(out)
    }

    /// A scratch buffer set with these lengths: a reused one, or a new zeroed one.
    fn take_scratch(&self, sizes: &[usize]) -> Vec<Vec<T>> {
        let mut pool = self.scratch.lock().unwrap_or_else(|p| p.into_inner());
        let fits =
            |set: &Vec<Vec<T>>| set.len() == sizes.len() && set.iter().zip(sizes).all(|(b, &n)| b.len() == n);
        match pool.iter().position(fits) {
            Some(i) => pool.swap_remove(i),
            None => sizes.iter().map(|&n| vec![T::cst(0.0); n]).collect(),
        }
    }

    /// Returns a scratch set to the pool (at most [`SCRATCH_SETS`] are kept).
    fn give_scratch(&self, set: Vec<Vec<T>>) {
        let mut pool = self.scratch.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < SCRATCH_SETS {
            pool.push(set);
        }
    }

    /// The program with no inputs bound (the graph must have no [`TOp::Input`]).
    fn unbound(&self) -> Bound<'_, T> {
        Bound { program: self, inputs: Vec::new() }
    }

    /// `f(θ)`.
    pub fn value(&self, x: &[T]) -> Result<T> {
        self.unbound().value(x)
    }

    /// One compiled hyper-dual pass.
    pub fn hyper_dual(&self, x: &[T], v1: &[T], v2: &[T]) -> Result<HyperDual<T>> {
        self.unbound().hyper_dual(x, v1, v2)
    }

    /// One compiled three-lane pass along `v`.
    pub fn directional(&self, x: &[T], v: &[T]) -> Result<Jet<T>> {
        self.unbound().directional(x, v)
    }

    /// One compiled k-direction pass (K from the array, 1..=16).
    pub fn hyperplane<const K: usize>(&self, x: &[T], dirs: &[Vec<T>; K]) -> Result<Projection<T>>
    where
        Dim<K>: Packed,
    {
        self.project(x, dirs)
    }

    /// [`TensorProgram::hyperplane`] with K known at run time (1..=`MAX_K`).
    pub fn project(&self, x: &[T], dirs: &[Vec<T>]) -> Result<Projection<T>> {
        self.unbound().project(x, dirs)
    }

    /// The reference interpreter: evaluates the graph with any [`Scalar`] (naive loops),
    /// e.g. with `HyperDual<f64>` seeded by the caller: what the runtime computes.
    pub fn interpret<S: Scalar>(&self, theta: &[S]) -> Result<S> {
        self.interpret_in(theta, &[])
    }

    fn interpret_in<S: Scalar>(&self, theta: &[S], inputs: &[&[T]]) -> Result<S> {
        check_len("x", self.n_params, theta.len())?;
        self.check_inputs(inputs)?;
        let mut vals: Vec<Vec<S>> = Vec::with_capacity(self.nodes.len());
        for n in self.nodes.iter() {
            let v: Vec<S> = match &n.op {
                TOp::Param(o) => theta[*o..*o + numel(&n.shape)].to_vec(),
                TOp::Data(d) => d.iter().map(|&x| S::from_f64(x)).collect(),
                TOp::Input(slot) => inputs[*slot].iter().map(|&x| S::from_f64(x.as_f64())).collect(),
                TOp::Const(c) => vec![S::from_f64(*c)],
                TOp::Neg(a) => vals[*a as usize].iter().map(|&x| -x).collect(),
                TOp::Unary(u, a) => vals[*a as usize].iter().map(|&x| x.unary(*u)).collect(),
                TOp::Binary(bo, a, b) => {
                    let it = as2(&n.shape);
                    let (sa, sb) = (
                        strides(&self.nodes[*a as usize].shape, it),
                        strides(&self.nodes[*b as usize].shape, it),
                    );
                    let (va, vb) = (&vals[*a as usize], &vals[*b as usize]);
                    let mut o = Vec::with_capacity(it.0 * it.1);
                    for r in 0..it.0 {
                        for c in 0..it.1 {
                            o.push(va[r * sa.0 + c * sa.1].binary(*bo, vb[r * sb.0 + c * sb.1]));
                        }
                    }
                    o
                }
                TOp::Select(cmp, ops) => {
                    let it = as2(&n.shape);
                    let st: Vec<(usize, usize)> =
                        ops.iter().map(|&a| strides(&self.nodes[a as usize].shape, it)).collect();
                    let at = |k: usize, r: usize, c: usize| vals[ops[k] as usize][r * st[k].0 + c * st[k].1];
                    let mut o = Vec::with_capacity(it.0 * it.1);
                    for r in 0..it.0 {
                        for c in 0..it.1 {
                            let yes = cmp.eval(at(0, r, c).value(), at(1, r, c).value());
                            o.push(if yes { at(2, r, c) } else { at(3, r, c) });
                        }
                    }
                    o
                }
                TOp::Sum(a) => vec![vals[*a as usize].iter().fold(S::zero(), |s, &x| s + x)],
                TOp::SumRows(a) | TOp::MaxRowsPassive(a) => {
                    let (r, c) = as2(&self.nodes[*a as usize].shape);
                    let va = &vals[*a as usize];
                    (0..r)
                        .map(|i| {
                            let row = &va[i * c..(i + 1) * c];
                            if matches!(n.op, TOp::SumRows(_)) {
                                row.iter().fold(S::zero(), |s, &x| s + x)
                            } else {
                                S::from_f64(row.iter().map(|x| x.value()).fold(f64::NEG_INFINITY, f64::max))
                            }
                        })
                        .collect()
                }
                TOp::Matmul(a, b) => {
                    let (sa, sb) = (&self.nodes[*a as usize].shape, &self.nodes[*b as usize].shape);
                    let (m, k, nn) = (sa[0], sa[1], sb[1]);
                    let (va, vb) = (&vals[*a as usize], &vals[*b as usize]);
                    let mut o = vec![S::zero(); m * nn];
                    for i in 0..m {
                        for j in 0..nn {
                            o[i * nn + j] = (0..k).fold(S::zero(), |s, p| s + va[i * k + p] * vb[p * nn + j]);
                        }
                    }
                    o
                }
                TOp::Reshape(a) => vals[*a as usize].clone(),
                TOp::Slice(a, start) => {
                    let st = numel(&self.nodes[*a as usize].shape[1..]);
                    vals[*a as usize][start * st..start * st + numel(&n.shape)].to_vec()
                }
                TOp::Gather(parts, idx) => {
                    let all: Vec<S> = parts.iter().flat_map(|&p| vals[p as usize].iter().copied()).collect();
                    idx.iter().map(|&j| all[j]).collect()
                }
                TOp::MaxSelect(a, win) => {
                    let va = &vals[*a as usize];
                    win.chunks(win.len() / numel(&n.shape))
                        .map(|w| {
                            va[w[1..]
                                .iter()
                                .fold(w[0], |b, &j| if va[j].value() > va[b].value() { j } else { b })]
                        })
                        .collect()
                }
            };
            vals.push(v);
        }
        Ok(vals[self.output as usize][0])
    }
}

/// A [`TensorProgram`] with its passive inputs bound ([`TensorProgram::bind`]): the same
/// compiled code, run on these inputs. Implements [`Objective`](fomoh_runtime::Objective).
#[derive(Clone)]
pub struct Bound<'a, T: JitFloat = f64> {
    program: &'a TensorProgram<T>,
    inputs: Vec<&'a [T]>,
}

impl<T: JitFloat> core::fmt::Debug for Bound<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Bound")
            .field("program", self.program)
            .field("input_lengths", &self.inputs.iter().map(|d| d.len()).collect::<Vec<_>>())
            .finish()
    }
}

impl<T: JitFloat> Bound<'_, T> {
    /// The program.
    pub fn program(&self) -> &TensorProgram<T> {
        self.program
    }

    /// `f(θ)`.
    pub fn value(&self, x: &[T]) -> Result<T> {
        Ok(self.program.run(Mode::Primal, &[("x", x)], &self.inputs)?[0])
    }

    /// One compiled hyper-dual pass.
    pub fn hyper_dual(&self, x: &[T], v1: &[T], v2: &[T]) -> Result<HyperDual<T>> {
        let o = self.program.run(Mode::HyperDual, &[("x", x), ("v1", v1), ("v2", v2)], &self.inputs)?;
        Ok(HyperDual::new(o[0], o[1], o[2], o[3]))
    }

    /// One compiled three-lane pass along `v`.
    pub fn directional(&self, x: &[T], v: &[T]) -> Result<Jet<T>> {
        let o = self.program.run(Mode::Jet, &[("x", x), ("v", v)], &self.inputs)?;
        Ok(Jet::new(o[0], o[1], o[2]))
    }

    /// One compiled k-direction pass with K = `dirs.len()` (1..=`MAX_K`).
    pub fn project(&self, x: &[T], dirs: &[Vec<T>]) -> Result<Projection<T>> {
        let k = dirs.len();
        let mode = Mode::HyperK(k).validate()?;
        let mut parts: Vec<(&str, &[T])> = vec![("x", x)];
        parts.extend(dirs.iter().map(|d| ("direction", d.as_slice())));
        Ok(Mode::projection(k, &self.program.run(mode, &parts, &self.inputs)?))
    }

    /// The reference interpreter on these inputs (see [`TensorProgram::interpret`]).
    pub fn interpret<S: Scalar>(&self, theta: &[S]) -> Result<S> {
        self.program.interpret_in(theta, &self.inputs)
    }
}

compiled_objective!(Bound<'_, T>, |b| b.program.n_params);

compiled_objective!(TensorProgram<T>, |p| p.n_params);

/// A 64-bit structural hash of a tensor graph: every node's op (its `Debug` form, which
/// prints indices, shapes, op kinds and the exact round-trip value of every literal; data
/// and index lists directly), its shape, plus the output and the parameter count. Hashing
/// the `Debug` form keeps the key complete for every other op variant without a list.
pub(crate) fn structural_hash(nodes: &[TNode], output: u32, n_params: usize) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (nodes.len(), output, n_params).hash(&mut h);
    for n in nodes {
        n.shape.hash(&mut h);
        match &n.op {
            TOp::Data(d) => {
                "data".hash(&mut h);
                d.len().hash(&mut h);
                d.iter().for_each(|v| v.to_bits().hash(&mut h));
            }
            // index lists can be large: hashed directly, not through their `Debug` text
            TOp::Gather(parts, idx) => ("gather", parts, &**idx).hash(&mut h),
            TOp::MaxSelect(a, win) => ("max_select", a, &**win).hash(&mut h),
            op => format!("{op:?}").hash(&mut h),
        }
    }
    h.finish()
}

/// Whether two node lists describe the same graph (the equality behind [`structural_hash`]:
/// data and literals compared bit for bit).
pub(crate) fn same_nodes(a: &[TNode], b: &[TNode]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.shape == y.shape
                && match (&x.op, &y.op) {
                    (TOp::Data(p), TOp::Data(q)) => {
                        Arc::ptr_eq(p, q)
                            || p.len() == q.len()
                                && p.iter().zip(q.iter()).all(|(u, v)| u.to_bits() == v.to_bits())
                    }
                    (TOp::Data(_), _) | (_, TOp::Data(_)) => false,
                    (TOp::Gather(p, i), TOp::Gather(q, j)) => p == q && (Arc::ptr_eq(i, j) || i == j),
                    (TOp::MaxSelect(a, i), TOp::MaxSelect(b, j)) => a == b && (Arc::ptr_eq(i, j) || i == j),
                    (TOp::Gather(..) | TOp::MaxSelect(..), _) | (_, TOp::Gather(..) | TOp::MaxSelect(..)) => {
                        false
                    }
                    (p, q) => format!("{p:?}") == format!("{q:?}"),
                }
        })
}

/// The benchmark problems of `BENCHMARKS.md` as tensor graphs.
pub mod models {
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
            parts.push((
                p.bind(&[&x[at * d..(at + r) * d], &y[at * c..(at + r) * c]])?,
                r as f64 / rows as f64,
            ));
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
}

#[cfg(test)]
mod matmul_plan_tests {
    use super::*;

    /// The product rule's terms for `h · W` at K directions, with `h` a loop output (lane `l`
    /// at `l·lane_stride(m·k)` in buffer 0, as a loop lays them out) and `W` a parameter
    /// block (value and tangent lanes only).
    fn hk_pairs(kk: usize, (m, k): (usize, usize)) -> Vec<MatmulPair> {
        let h = |l: usize| Src::Buf(0, l * lane_stride(m * k));
        let w = |l: usize| Src::X(l, 0);
        let mut lanes: Vec<Vec<(f64, Src, Src)>> = vec![vec![(1.0, h(0), w(0))]];
        for i in 1..=kk {
            lanes.push(vec![(1.0, h(i), w(0)), (1.0, h(0), w(i))]);
        }
        let mut l = kk + 1;
        for i in 1..=kk {
            for j in i..=kk {
                let mut t = vec![(1.0, h(l), w(0))];
                if i == j {
                    t.push((2.0, h(i), w(i)));
                } else {
                    t.push((1.0, h(i), w(j)));
                    t.push((1.0, h(j), w(i)));
                }
                lanes.push(t);
                l += 1;
            }
        }
        let mut pairs: Vec<MatmulPair> = Vec::new();
        for (q, terms) in lanes.into_iter().enumerate() {
            for (c, a, b) in terms {
                pairs.push(((a, b), vec![(q, c)]));
            }
        }
        pairs
    }

    /// Every product of `pairs` is computed by exactly one block, with all its uses.
    fn exact_cover(blocks: &[MatmulBlock], pairs: &[MatmulPair]) {
        let mut seen = 0;
        for bl in blocks {
            for (i, &p) in bl.ps.iter().enumerate() {
                for (j, &q) in bl.qs.iter().enumerate() {
                    let x =
                        pairs.iter().find(|x| x.0 == (p, q)).expect("a block computes a product nobody uses");
                    let uses: Vec<(usize, f64)> =
                        bl.uses.iter().filter(|u| (u.0, u.1) == (i, j)).map(|u| (u.2, u.3)).collect();
                    assert_eq!(uses, x.1);
                    seen += 1;
                }
            }
        }
        assert_eq!(seen, pairs.len());
    }

    #[test]
    fn hidden_layer_products_are_covered_once_and_short_lanes_stack_in_place() {
        for kk in 1..=8 {
            let (m, k, n) = (256, 32, 10);
            let pairs = hk_pairs(kk, (m, k));
            let blocks = matmul_blocks((m, k, n), &pairs);
            exact_cover(&blocks, &pairs);
            // Padded lanes: every block's stacked left lanes are copies (none in place), and
            // only single products go straight into their lane.
            assert!(blocks.iter().all(|b| !b.a_contig));
            assert!(blocks.iter().all(|b| b.direct.is_none() || b.ps.len() == 1), "K={kk}: {blocks:?}");
            // Unpadded (short) lanes laid one after another are read in place and written
            // straight into consecutive output lanes.
            let (m, k, n) = (2, 3, 4);
            let pairs: Vec<MatmulPair> = hk_pairs(kk, (m, k));
            let blocks = matmul_blocks((m, k, n), &pairs);
            exact_cover(&blocks, &pairs);
            assert!(blocks.iter().all(|b| b.a_contig || b.ps.len() == 1), "K={kk}: {blocks:?}");
            assert!(blocks.iter().any(|b| b.direct.is_some() && b.ps.len() > 1), "K={kk}: {blocks:?}");
        }
    }

    #[test]
    fn loop_chunks_cover_the_iteration_space_once() {
        for (iter, reduce, cost) in [
            ((1, 1_000_001), Reduce::All, 30),
            ((1, 1_000_000), Reduce::None, 400),
            ((301, 300), Reduce::Rows, 40),
            ((3, 200_001), Reduce::None, 10),
            ((200_000, 3), Reduce::MaxRows, 5),
            ((100, 100), Reduce::All, 1),
            ((1, 7), Reduce::All, 1 << 20),
        ] {
            for w in [2, 4] {
                let chunks = loop_chunks(iter, reduce, cost, w);
                let work = iter.0 * iter.1 * cost;
                // One row shorter than two vectors cannot be split.
                let splittable = iter.0 > 1 || iter.1 >= 2 * w;
                assert_eq!(chunks.len() > 1, work >= PAR_MIN_LOOP_WORK && splittable, "{iter:?} w = {w}");
                assert!(chunks.len() <= MAX_LOOP_CHUNKS);
                let mut seen = vec![0u8; iter.0 * iter.1];
                for &(r0, r1, c0, c1) in &chunks {
                    assert!(r0 < r1 && r1 <= iter.0 && c0 < c1 && c1 <= iter.1, "{chunks:?}");
                    assert_eq!(c0 % w, 0, "chunks start at multiples of the vector width");
                    if matches!(reduce, Reduce::Rows | Reduce::MaxRows) {
                        assert_eq!((c0, c1), (0, iter.1), "row reductions keep rows whole");
                    }
                    for r in r0..r1 {
                        for c in c0..c1 {
                            seen[r * iter.1 + c] += 1;
                        }
                    }
                }
                assert!(seen.iter().all(|&s| s == 1), "{iter:?}: not an exact cover");
            }
        }
    }

    #[test]
    fn wide_right_lanes_are_not_copied_side_by_side() {
        // W (parameters) · cols (a loop output, wide): no right lanes are copied side by side;
        // [W_0; …; W_4] (small, copied) meets each first-order lane of `cols`, and the
        // second-order lanes, which meet only W_0, are each one dgemm straight into their lane.
        let (m, k, n) = (16, 150, 2048);
        let pairs: Vec<MatmulPair> = hk_pairs(4, (k, n))
            .into_iter()
            .map(|((h, w), u)| {
                let Src::X(l, _) = w else { unreachable!() };
                ((Src::X(l, 0), h), u)
            })
            .collect();
        let blocks = matmul_blocks((m, k, n), &pairs);
        exact_cover(&blocks, &pairs);
        assert!(blocks.iter().all(|b| b.qs.len() == 1), "{blocks:?}");
        assert_eq!(blocks.len(), 15, "{blocks:?}");
        assert_eq!(blocks.iter().filter(|b| b.direct.is_some()).count(), 10, "{blocks:?}");
    }
}
