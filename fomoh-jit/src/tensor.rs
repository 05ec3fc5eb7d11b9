//! Tensor front end: graphs over tensors with static shapes (rank 0 to 2), compiled to
//! fused Cranelift loops.
//!
//! A [`TensorBuilder`] records nodes: active parameters (contiguous slices of the flat
//! parameter vector θ), passive data, scalar constants, elementwise unary/binary ops with
//! numpy-style broadcasting, reductions (`sum`, `sum_rows`, a passive row max and the
//! `logsumexp_rows` built from them), `matmul`, `reshape` and `slice` (views, no copy).
//!
//! Compilation ([`TensorProgram`]): every maximal chain of elementwise ops (each with one
//! consumer of the same shape) together with a trailing reduction becomes ONE loop whose
//! body is a scalar graph over the loaded elements, staged in the requested mode from the
//! runtime's rule table (the same staging as the scalar front end, [`crate::stage`]); all
//! lanes live in registers and only the non-zero lanes of each operand are loaded. In the
//! derivative modes a body over few leaves is instead preaccumulated where that stages
//! fewer nodes (its local gradient and Hessian, then the chain rule, see [`LoopStrategy`]);
//! loops run on `f64x2` column pairs and fuse products into `fma` where the CPU has it. Matmul
//! lanes are obtained by staging the scalar product `a·b` and reading off its bilinear
//! terms; each term is one `matrixmultiply::dgemm` call on lane planes.
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

use crate::codegen::{self, binary_extern, cg_err, float_cc, unary_extern, CodegenOptions, OwnedCode};
use crate::error::{check_len, JitError, JitResult};
use crate::ir::{Graph, NodeId, Op};
use crate::stage::{stage_lanes, Mode};
use cranelift_codegen::entity::packed_option::ReservedValue;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{types, AbiParam, InstBuilder, MemFlagsData, UserFuncName, Value};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use cranelift_module::{FuncId, Linkage, Module};
use fomoh_runtime::{
    packed_index, BinaryOp, Dim, HyperDual, Jet, Objective, Packed, Projection, Result, Scalar, UnaryOp,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

mod fuse;
pub use fuse::LoopStrategy;

/// A handle to a node of a [`TensorBuilder`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tensor(u32);

/// One tensor op.
#[derive(Clone, Debug)]
pub enum TOp {
    /// `θ[offset .. offset + numel]` (active).
    Param(usize),
    /// Passive data (row-major).
    Data(Arc<Vec<f64>>),
    /// A scalar literal (broadcasts).
    Const(f64),
    /// `-a`.
    Neg(u32),
    /// Elementwise function from the rule table.
    Unary(UnaryOp, u32),
    /// Elementwise binary op with broadcasting.
    Binary(BinaryOp, u32, u32),
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

fn shape_err<T>(m: String) -> JitResult<T> {
    Err(JitError::Shape(m))
}

/// Records a tensor graph over a parameter vector of length `n_params`.
#[derive(Clone, Debug)]
pub struct TensorBuilder {
    nodes: Vec<TNode>,
    n_params: usize,
}

impl TensorBuilder {
    /// A builder over `n_params` active parameters.
    pub fn new(n_params: usize) -> Self {
        TensorBuilder { nodes: Vec::new(), n_params }
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

    /// An elementwise binary op with numpy broadcasting (rank <= 2).
    pub fn binary(&mut self, op: BinaryOp, a: Tensor, b: Tensor) -> JitResult<Tensor> {
        let (sa, sb) = (self.shape(a)?.to_vec(), self.shape(b)?.to_vec());
        let rank = sa.len().max(sb.len());
        let pad = |s: &[usize]| -> Vec<usize> {
            vec![1; rank - s.len()].into_iter().chain(s.iter().copied()).collect()
        };
        let (pa, pb) = (pad(&sa), pad(&sb));
        let mut out = Vec::with_capacity(rank);
        for (x, y) in pa.iter().zip(&pb) {
            out.push(match (x, y) {
                (x, y) if x == y => *x,
                (1, y) => *y,
                (x, 1) => *x,
                _ => return shape_err(format!("cannot broadcast {sa:?} with {sb:?} in `{}`", op.name())),
            });
        }
        Ok(self.push(TOp::Binary(op, a.0, b.0), out))
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

    /// Finishes the graph with the scalar output `out`.
    pub fn finish(self, out: Tensor) -> JitResult<TensorProgram> {
        let s = self.shape(out)?;
        if numel(s) != 1 {
            return shape_err(format!("the output must be a scalar, got shape {s:?}"));
        }
        Ok(TensorProgram {
            nodes: Arc::new(self.nodes),
            output: out.0,
            n_params: self.n_params,
            codegen: CodegenOptions::default(),
            strategy: LoopStrategy::Auto,
            kernels: core::array::from_fn(|_| OnceLock::new()),
        })
    }
}

/// A compiled tensor graph (code generated per mode on first use).
pub struct TensorProgram {
    nodes: Arc<Vec<TNode>>,
    output: u32,
    n_params: usize,
    codegen: CodegenOptions,
    strategy: LoopStrategy,
    kernels: [OnceLock<JitResult<Arc<Plan>>>; 19],
}

impl core::fmt::Debug for TensorProgram {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TensorProgram")
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
    /// Data of node `i`, at an offset.
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

type LoopFn = unsafe extern "C" fn(*const *const f64, *const *mut f64);

/// One output lane of a matmul: its buffer and the terms `(coef, a lane, b lane)`.
type MatmulLane = (usize, Vec<(f64, Src, Src)>);

/// A loop awaiting finalization: step index, function, inputs, output buffers.
type PendingLoop = (usize, FuncId, Vec<(Src, usize)>, Vec<usize>);

enum Step {
    Fused {
        f: LoopFn,
        /// Per staged input: the lane's location and the last element index it reads.
        inputs: Vec<(Src, usize)>,
        /// Per stored lane: the buffer and its length.
        outputs: Vec<usize>,
    },
    Matmul {
        m: usize,
        k: usize,
        n: usize,
        /// Per output lane: its buffer and the terms `(coef, a lane, b lane)`.
        lanes: Vec<MatmulLane>,
    },
}

/// The compiled code of one mode.
struct Plan {
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
    /// Total compile time (analysis, staging, Cranelift).
    pub compile_time: Duration,
}

fn is_elementwise(op: &TOp) -> bool {
    matches!(op, TOp::Neg(_) | TOp::Unary(..) | TOp::Binary(..) | TOp::Const(_))
}

fn args(op: &TOp) -> Vec<u32> {
    match *op {
        TOp::Param(_) | TOp::Data(_) | TOp::Const(_) => vec![],
        TOp::Neg(a) | TOp::Unary(_, a) | TOp::Sum(a) | TOp::SumRows(a) | TOp::MaxRowsPassive(a) => vec![a],
        TOp::Reshape(a) | TOp::Slice(a, _) => vec![a],
        TOp::Binary(_, a, b) | TOp::Matmul(a, b) => vec![a, b],
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
            TOp::Data(_) => (0..lanes).map(|l| (l == 0).then_some(Src::Data(i, 0))).collect(),
            TOp::Reshape(a) => self.value(a)?,
            TOp::Slice(a, start) => {
                let stride = numel(&self.nodes[a as usize].shape[1..]);
                self.value(a)?.into_iter().map(|s| s.map(|s| s.shifted(start * stride))).collect()
            }
            TOp::Matmul(a, b) => self.matmul(i, a, b)?,
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
        let mut out = Vec::with_capacity(l);
        let mut lanes = Vec::new();
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
            if terms.is_empty() {
                out.push(None);
            } else {
                let buf = self.new_buf(m * n);
                out.push(Some(Src::Buf(buf, 0)));
                lanes.push((buf, terms));
            }
        }
        let _ = i;
        self.stats.matmuls += 1;
        self.steps.push(Step::Matmul { m, k, n, lanes });
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
        let mut stored: Vec<(usize, NodeId)> = Vec::new();
        let mut bufs = Vec::new();
        for (lane, &o) in sg.outputs.iter().enumerate() {
            if matches!(sg.nodes[o as usize], Op::Const(c) if c == 0.0) {
                continue;
            }
            let buf = self.new_buf(out_len);
            out[lane] = Some(Src::Buf(buf, 0));
            stored.push((lane, o));
            bufs.push(buf);
        }
        if stored.is_empty() {
            return Ok(out);
        }
        let fid = emit_loop(&mut self.module, &sg, iter, reduce, &in_index, &in_strides, &stored)?;
        self.stats.loops += 1;
        let idx = self.steps.len();
        self.steps.push(Step::Matmul { m: 0, k: 0, n: 0, lanes: vec![] }); // placeholder, patched after finalize
        self.pending.push((idx, fid, ins, bufs));
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

/// Emits one loop `fn(inputs: *const *const f64, outputs: *const *mut f64)` over `iter`.
///
/// Each row runs the body on `f64x2` vectors over consecutive columns (broadcast inputs
/// are splat; the ops without a vector instruction run per lane), then once in scalar
/// form on an odd last column. Reduced lanes keep a vector and a scalar accumulator,
/// combined at the end of the row (or of the loop).
fn emit_loop(
    module: &mut cranelift_jit::JITModule,
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
    // Columns run as f64x2 pairs, then a scalar remainder.
    let vcols = iter.1 / 2 * 2;
    let mut e = BodyEmitter { module, g, fusion: &fusion, in_index, in_strides, refs: HashMap::new() };
    {
        let mut b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        let (pin, pout) = (b.block_params(entry)[0], b.block_params(entry)[1]);
        let bases: Vec<Value> =
            (0..in_strides.len()).map(|j| b.ins().load(ptr, mem, pin, (8 * j) as i32)).collect();
        let obases: Vec<Value> =
            (0..stored.len()).map(|q| b.ins().load(ptr, mem, pout, (8 * q) as i32)).collect();
        let init = if reduce == Reduce::MaxRows { f64::NEG_INFINITY } else { 0.0 };
        let r = b.declare_var(types::I64);
        // Per part (vector, scalar): the column variable and the accumulators.
        let parts = [(vcols > 0, types::F64X2, 0, vcols, 2), (vcols < iter.1, types::F64, vcols, iter.1, 1)];
        let cvars: Vec<Variable> = parts.iter().map(|_| b.declare_var(types::I64)).collect();
        let accs: Vec<Vec<Variable>> =
            parts.iter().map(|p| stored.iter().map(|_| b.declare_var(p.1)).collect()).collect();
        let def_init = |b: &mut FunctionBuilder| {
            for (p, acc) in parts.iter().zip(&accs) {
                let mut fi = b.ins().f64const(init);
                if p.1 != types::F64 {
                    fi = b.ins().splat(p.1, fi);
                }
                for &a in acc {
                    b.def_var(a, fi);
                }
            }
        };
        let z = b.ins().iconst(types::I64, 0);
        b.def_var(r, z);
        def_init(&mut b);
        let (outer, row_end, exit) = (b.create_block(), b.create_block(), b.create_block());
        b.ins().jump(outer, &[]);
        b.switch_to_block(outer);
        if matches!(reduce, Reduce::Rows | Reduce::MaxRows) {
            def_init(&mut b);
        }
        for (pi, &(on, ty, c0, c1, w)) in parts.iter().enumerate() {
            if !on {
                continue;
            }
            let (inner, next) = (b.create_block(), b.create_block());
            let z = b.ins().iconst(types::I64, c0 as i64);
            b.def_var(cvars[pi], z);
            b.ins().jump(inner, &[]);
            b.switch_to_block(inner);
            let (rv, cv) = (b.use_var(r), b.use_var(cvars[pi]));
            let vals = e.body(&mut b, ty, &bases, rv, cv)?;
            for (q, &(_, o)) in stored.iter().enumerate() {
                let av = accs[pi][q];
                if !fusion.acc_terms[q].is_empty() {
                    let mut acc = b.use_var(av);
                    for &(p, t) in &fusion.acc_terms[q] {
                        acc = match t {
                            Some(t) => b.ins().fma(vals[p as usize], vals[t as usize], acc),
                            None => b.ins().fadd(acc, vals[p as usize]),
                        };
                    }
                    b.def_var(av, acc);
                    continue;
                }
                let v = vals[o as usize];
                match reduce {
                    Reduce::None => {
                        let a = b.ins().imul_imm_s(rv, (8 * iter.1) as i64);
                        let cc = b.ins().imul_imm_s(cv, 8);
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
            let more = b.ins().icmp_imm_s(IntCC::SignedLessThan, c1v, c1 as i64);
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
                let lanes: Vec<Value> = if p.1 == types::F64 {
                    vec![v]
                } else {
                    (0..2u8).map(|l| b.ins().extractlane(v, l)).collect()
                };
                for x in lanes {
                    t = Some(match t {
                        None => x,
                        Some(s) if reduce == Reduce::MaxRows => b.ins().fmax(s, x),
                        Some(s) => b.ins().fadd(s, x),
                    });
                }
            }
            t.unwrap_or_else(|| b.ins().f64const(init))
        };
        let rv = b.use_var(r);
        if matches!(reduce, Reduce::Rows | Reduce::MaxRows) {
            for (q, &ob) in obases.iter().enumerate() {
                let v = total(&mut b, q);
                let off = b.ins().imul_imm_s(rv, 8);
                let addr = b.ins().iadd(ob, off);
                b.ins().store(mem, v, addr, 0);
            }
        }
        let r1 = b.ins().iadd_imm_s(rv, 1);
        b.def_var(r, r1);
        let more = b.ins().icmp_imm_s(IntCC::SignedLessThan, r1, iter.0 as i64);
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

/// Emits the body of a fused loop at one element (`F64`) or two consecutive columns
/// (`F64X2`).
struct BodyEmitter<'a> {
    module: &'a mut cranelift_jit::JITModule,
    g: &'a Graph,
    fusion: &'a fuse::Fusion,
    in_index: &'a HashMap<u32, (usize, usize)>,
    in_strides: &'a [(usize, usize)],
    refs: HashMap<&'static str, cranelift_codegen::ir::FuncRef>,
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
            let val = if let Some((p, q, r)) = self.fusion.fma[i] {
                b.ins().fma(v(p), v(q), v(r))
            } else {
                match *op {
                    Op::Input(j) => {
                        let (q, disp) = self.in_index[&j];
                        let (rs, cs) = self.in_strides[q];
                        let disp = (8 * disp) as i32;
                        let a = b.ins().imul_imm_s(rv, (8 * rs) as i64);
                        let cc = b.ins().imul_imm_s(cv, (8 * cs) as i64);
                        let off = b.ins().iadd(a, cc);
                        let addr = b.ins().iadd(bases[q], off);
                        if ty == types::F64 || cs == 0 {
                            let x = b.ins().load(types::F64, input.with_aligned(), addr, disp);
                            if ty == types::F64 {
                                x
                            } else {
                                b.ins().splat(ty, x)
                            }
                        } else {
                            b.ins().load(ty, input, addr, disp)
                        }
                    }
                    Op::Const(k) => {
                        let x = b.ins().f64const(k);
                        if ty == types::F64 {
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
                    Op::Unary(UnaryOp::Sqrt, a) => b.ins().sqrt(v(a)),
                    Op::Unary(UnaryOp::Abs, a) => b.ins().fabs(v(a)),
                    Op::Unary(UnaryOp::Powi(1), a) => v(a),
                    Op::Unary(UnaryOp::Powi(2), a) => b.ins().fmul(v(a), v(a)),
                    Op::Guard { .. } => return Err(JitError::Unsupported("guards in a tensor loop".into())),
                    _ => {
                        // Per lane, in scalar code.
                        let args: Vec<Value> = op.args().map(v).collect();
                        if ty == types::F64 {
                            self.scalar(b, op, &args)?
                        } else {
                            let mut out = None;
                            for l in 0..2u8 {
                                let la: Vec<Value> =
                                    args.iter().map(|&x| b.ins().extractlane(x, l)).collect();
                                let s = self.scalar(b, op, &la)?;
                                out = Some(match out {
                                    None => b.ins().scalar_to_vector(ty, s),
                                    Some(o) => b.ins().insertlane(o, s, l),
                                });
                            }
                            out.expect("two lanes")
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
        let (module, refs) = (&mut *self.module, &mut self.refs);
        Ok(match *op {
            Op::Binary(bo, ..) => match codegen::native_binary(b, bo, args[0], args[1]) {
                Some(v) => v,
                None => {
                    let (nm, _) = binary_extern(bo).ok_or_else(|| {
                        JitError::Unsupported(format!("no native code for `{}`", bo.name()))
                    })?;
                    call(module, b, refs, nm, &[types::F64, types::F64], args)?
                }
            },
            Op::Unary(u, _) => {
                let x = args[0];
                match u {
                    UnaryOp::Sqrt => b.ins().sqrt(x),
                    UnaryOp::Abs => b.ins().fabs(x),
                    UnaryOp::Powi(1) => x,
                    UnaryOp::Powi(2) => b.ins().fmul(x, x),
                    UnaryOp::Powi(k) => {
                        let kk = b.ins().iconst(types::I32, k as i64);
                        call(module, b, refs, "fomoh_jit_powi", &[types::F64, types::I32], &[x, kk])?
                    }
                    UnaryOp::Powf(p) => {
                        let pp = b.ins().f64const(p);
                        call(module, b, refs, "fomoh_jit_powf", &[types::F64, types::F64], &[x, pp])?
                    }
                    other => {
                        let (nm, _) = unary_extern(other).ok_or_else(|| {
                            JitError::Unsupported(format!("no native code for `{}`", other.name()))
                        })?;
                        call(module, b, refs, nm, &[types::F64], &[x])?
                    }
                }
            }
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

fn call(
    module: &mut cranelift_jit::JITModule,
    b: &mut FunctionBuilder,
    refs: &mut HashMap<&'static str, cranelift_codegen::ir::FuncRef>,
    name: &'static str,
    params: &[types::Type],
    args: &[Value],
) -> JitResult<Value> {
    let fr = match refs.get(name) {
        Some(&r) => r,
        None => {
            let mut s = module.make_signature();
            s.params.extend(params.iter().map(|&t| AbiParam::new(t)));
            s.returns.push(AbiParam::new(types::F64));
            let fid = module.declare_function(name, Linkage::Import, &s).map_err(cg_err)?;
            let r = module.declare_func_in_func(fid, b.func);
            refs.insert(name, r);
            r
        }
    };
    let inst = b.ins().call(fr, args);
    Ok(b.inst_results(inst)[0])
}

impl TensorProgram {
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
    pub fn with_loop_strategy(self, s: LoopStrategy) -> TensorProgram {
        TensorProgram { strategy: s, kernels: core::array::from_fn(|_| OnceLock::new()), ..self }
    }

    fn plan(&self, mode: Mode) -> JitResult<&Arc<Plan>> {
        let mode = mode.validate()?;
        let slot = match mode {
            Mode::Primal => 0,
            Mode::HyperDual => 1,
            Mode::Jet => 2,
            Mode::HyperK(k) => 2 + k,
        };
        self.kernels[slot].get_or_init(|| self.compile(mode).map(Arc::new)).as_ref().map_err(Clone::clone)
    }

    /// Compiles `mode` now and returns what it cost.
    pub fn prepare(&self, mode: Mode) -> Result<TensorStats> {
        Ok(self.plan(mode)?.stats)
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
        for (idx, fid, inputs, outputs) in c.pending {
            let p = module.get_finalized_function(fid);
            // SAFETY: `p` is a function compiled with the loop signature (two pointers in,
            // nothing out) in the platform's default calling convention.
            let f = unsafe { core::mem::transmute::<*const u8, LoopFn>(p) };
            c.steps[idx] = Step::Fused { f, inputs, outputs };
        }
        let mut stats = c.stats;
        stats.compile_time = t0.elapsed();
        Ok(Plan { steps: c.steps, buf_sizes: c.buf_sizes, out, stats, _code: Some(OwnedCode::new(module)) })
    }

    fn run(&self, mode: Mode, parts: &[(&str, &[f64])]) -> JitResult<Vec<f64>> {
        for (what, p) in parts {
            check_len(what, self.n_params, p.len())?;
        }
        let plan = self.plan(mode)?;
        let mut bufs: Vec<Vec<f64>> = plan.buf_sizes.iter().map(|&n| vec![0.0; n]).collect();
        let resolve = |bufs: &Vec<Vec<f64>>, s: Src| -> (*const f64, usize) {
            let (sl, o): (&[f64], usize) = match s {
                Src::X(v, o) => (parts[v].1, o),
                Src::Data(i, o) => match &self.nodes[i as usize].op {
                    TOp::Data(d) => (d.as_slice(), o),
                    _ => (&[], 0),
                },
                Src::Buf(b, o) => (bufs[b].as_slice(), o),
            };
            (sl.as_ptr().wrapping_add(o), sl.len().saturating_sub(o))
        };
        for step in &plan.steps {
            match step {
                Step::Fused { f, inputs, outputs } => {
                    let mut ip = Vec::with_capacity(inputs.len());
                    for &(s, last) in inputs {
                        let (p, avail) = resolve(&bufs, s);
                        if last >= avail {
                            return Err(JitError::Shape("internal: a loop input is too short".into()));
                        }
                        ip.push(p);
                    }
                    let op: Vec<*mut f64> = outputs.iter().map(|&b| bufs[b].as_mut_ptr()).collect();
                    // SAFETY: every input pointer has at least `last + 1` readable elements
                    // (checked above) and the loop reads no further; each output buffer was
                    // allocated with the length the loop writes (fixed at compile time) and
                    // is distinct from every input.
                    unsafe { f(ip.as_ptr(), op.as_ptr()) };
                }
                Step::Matmul { m, k, n, lanes } => {
                    for (buf, terms) in lanes {
                        let mut out = core::mem::take(&mut bufs[*buf]);
                        for (t, &(coef, sa, sb)) in terms.iter().enumerate() {
                            let (pa, na) = resolve(&bufs, sa);
                            let (pb, nb) = resolve(&bufs, sb);
                            if na < m * k || nb < k * n || out.len() < m * n {
                                return Err(JitError::Shape(
                                    "internal: a matmul operand is too short".into(),
                                ));
                            }
                            // SAFETY: a is m×k, b is k×n, out m×n, row-major, sizes checked.
                            unsafe {
                                matrixmultiply::dgemm(
                                    *m,
                                    *k,
                                    *n,
                                    coef,
                                    pa,
                                    *k as isize,
                                    1,
                                    pb,
                                    *n as isize,
                                    1,
                                    if t == 0 { 0.0 } else { 1.0 },
                                    out.as_mut_ptr(),
                                    *n as isize,
                                    1,
                                )
                            };
                        }
                        bufs[*buf] = out;
                    }
                }
            }
        }
        Ok(plan
            .out
            .iter()
            .map(|s| {
                s.map_or(0.0, |s| {
                    let (p, n) = resolve(&bufs, s);
                    // SAFETY: `n >= 1` is checked; `p` points into a live slice.
                    if n == 0 {
                        f64::NAN
                    } else {
                        unsafe { *p }
                    }
                })
            })
            .collect())
    }

    /// `f(θ)`.
    pub fn value(&self, x: &[f64]) -> Result<f64> {
        Ok(self.run(Mode::Primal, &[("x", x)])?[0])
    }

    /// One compiled hyper-dual pass.
    pub fn hyper_dual(&self, x: &[f64], v1: &[f64], v2: &[f64]) -> Result<HyperDual<f64>> {
        let o = self.run(Mode::HyperDual, &[("x", x), ("v1", v1), ("v2", v2)])?;
        Ok(HyperDual::new(o[0], o[1], o[2], o[3]))
    }

    /// One compiled three-lane pass along `v`.
    pub fn directional(&self, x: &[f64], v: &[f64]) -> Result<Jet<f64>> {
        let o = self.run(Mode::Jet, &[("x", x), ("v", v)])?;
        Ok(Jet::new(o[0], o[1], o[2]))
    }

    /// One compiled k-direction pass (K from the array, 1..=16).
    pub fn hyperplane<const K: usize>(&self, x: &[f64], dirs: &[Vec<f64>; K]) -> Result<Projection<f64>>
    where
        Dim<K>: Packed,
    {
        self.project(x, dirs)
    }

    /// [`TensorProgram::hyperplane`] with K known at run time (1..=16).
    pub fn project(&self, x: &[f64], dirs: &[Vec<f64>]) -> Result<Projection<f64>> {
        let k = dirs.len();
        let mode = Mode::HyperK(k).validate()?;
        let mut parts: Vec<(&str, &[f64])> = vec![("x", x)];
        parts.extend(dirs.iter().map(|d| ("direction", d.as_slice())));
        let o = self.run(mode, &parts)?;
        let h = &o[1 + k..];
        let hess = (0..k).map(|i| (0..k).map(|j| h[packed_index(k, i, j)]).collect()).collect();
        Ok(Projection { value: o[0], grad: o[1..=k].to_vec(), hess })
    }

    /// The reference interpreter: evaluates the graph with any [`Scalar`] (naive loops),
    /// e.g. with `HyperDual<f64>` seeded by the caller: what the runtime computes.
    pub fn interpret<S: Scalar>(&self, theta: &[S]) -> Result<S> {
        check_len("x", self.n_params, theta.len())?;
        let mut vals: Vec<Vec<S>> = Vec::with_capacity(self.nodes.len());
        for n in self.nodes.iter() {
            let v: Vec<S> = match &n.op {
                TOp::Param(o) => theta[*o..*o + numel(&n.shape)].to_vec(),
                TOp::Data(d) => d.iter().map(|&x| S::from_f64(x)).collect(),
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
            };
            vals.push(v);
        }
        Ok(vals[self.output as usize][0])
    }
}

impl Objective for TensorProgram {
    fn dim(&self) -> usize {
        self.n_params
    }
    fn value(&self, x: &[f64]) -> Result<f64> {
        TensorProgram::value(self, x)
    }
    fn hyper_dual(&self, x: &[f64], v1: &[f64], v2: &[f64]) -> Result<HyperDual<f64>> {
        TensorProgram::hyper_dual(self, x, v1, v2)
    }
    fn directional(&self, x: &[f64], v: &[f64]) -> Result<Jet<f64>> {
        TensorProgram::directional(self, x, v)
    }
    /// One compiled k-direction pass for `1 <= K <= 16`, else K(K+1)/2 compiled hyper-dual passes.
    fn hyperplane(&self, x: &[f64], dirs: &[Vec<f64>]) -> Result<(Projection<f64>, usize)> {
        if (1..=16).contains(&dirs.len()) {
            return Ok((self.project(x, dirs)?, 1));
        }
        fomoh_runtime::api::assemble_pairwise(dirs.len(), |i, j| {
            Objective::hyper_dual(self, x, &dirs[i], &dirs[j])
        })
    }
}

/// The benchmark problems of `BENCHMARKS.md` as tensor graphs.
pub mod models {
    use super::{Tensor, TensorBuilder, TensorProgram};
    use crate::error::JitResult;
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
}
