//! The tensor graph: node handles, ops and nodes with their static shapes, the shape
//! helpers every layer shares, and the graph's structural identity (the code cache's key).

use crate::ir::Cmp;
use fomoh_runtime::{BinaryOp, UnaryOp};
use std::sync::Arc;

/// A handle to a node of a [`TensorBuilder`](super::TensorBuilder).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tensor(pub(super) u32);

impl Tensor {
    /// The node's index in [`TensorProgram::nodes`](super::TensorProgram::nodes) (and in its
    /// builder).
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
    /// [`TensorProgram::bind`](super::TensorProgram::bind), so one compiled program serves
    /// every minibatch of that shape.
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

/// The number of elements of a shape.
pub(super) fn numel(s: &[usize]) -> usize {
    s.iter().product()
}

/// `(rows, cols)` of a shape of rank <= 2 (`[n]` is a row).
pub(super) fn as2(s: &[usize]) -> (usize, usize) {
    match s {
        [] => (1, 1),
        [n] => (1, *n),
        [m, n] => (*m, *n),
        _ => unreachable!("rank checked by the builder"),
    }
}

/// Whether `op` is computed element by element (it may be inlined into a fused loop body).
pub(super) fn is_elementwise(op: &TOp) -> bool {
    matches!(op, TOp::Neg(_) | TOp::Unary(..) | TOp::Binary(..) | TOp::Select(..) | TOp::Const(_))
}

/// The operands of `op`.
pub(super) fn args(op: &TOp) -> Vec<u32> {
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
pub(super) fn strides(s: &[usize], (r, c): (usize, usize)) -> (usize, usize) {
    let (lr, lc) = as2(s);
    let rs = if lr == 1 && r != 1 { 0 } else { lc };
    let cs = if lc == 1 && c != 1 { 0 } else { 1 };
    (if r == 1 { 0 } else { rs }, if c == 1 { 0 } else { cs })
}

/// A 64-bit structural hash of a tensor graph: every node's op (its `Debug` form, which
/// prints indices, shapes, op kinds and the exact round-trip value of every literal; data
/// and index lists directly), its shape, plus the output and the parameter count. Hashing
/// the `Debug` form keeps the key complete for every other op variant without a list.
pub(super) fn structural_hash(nodes: &[TNode], output: u32, n_params: usize) -> u64 {
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
pub(super) fn same_nodes(a: &[TNode], b: &[TNode]) -> bool {
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
