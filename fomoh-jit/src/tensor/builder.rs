//! [`TensorBuilder`]: records a tensor graph node by node (shapes checked, views and copies
//! composed, copies of data folded), including the neural-network helpers built from the
//! primitive ops (`logsumexp`, `conv2d`, `max_pool2`).

use super::graph::{as2, numel, strides, TNode, TOp, Tensor};
use super::program::TensorProgram;
use crate::error::{check_len, JitError, JitResult};
use crate::ir::Cmp;
use fomoh_runtime::{BinaryOp, UnaryOp};
use std::sync::Arc;

/// The most passive input slots of one graph.
const MAX_INPUTS: usize = 1 << 10;

/// A shape error.
fn shape_err<T>(m: String) -> JitResult<T> {
    Err(JitError::Shape(m))
}

/// Records a tensor graph over a parameter vector of length `n_params`.
#[derive(Clone, Debug)]
pub struct TensorBuilder {
    pub(super) nodes: Vec<TNode>,
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

    /// The shape of `t` (an error for a tensor of another builder).
    pub(super) fn shape(&self, t: Tensor) -> JitResult<&[usize]> {
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
