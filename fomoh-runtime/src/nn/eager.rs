//! The eager backend: the runtime's tensors, every derivative plane computed op by op.

use super::{is_permutation, Backend, Var};
use crate::data::Batch;
use crate::error::{Error, Result};
use crate::nn;
use crate::rules::{BinaryOp, UnaryOp};
use crate::tensor::ops::{self, Reshaped};
use crate::tensor::{Mode, ParamView, Params, Planes, Tensor};
use std::rc::Rc;
use std::sync::Arc;

/// A borrowed tensor seen with a shape of the same element count (the batch's inputs).
#[derive(Clone, Debug)]
struct Shaped<'a> {
    t: &'a Tensor,
    shape: Vec<usize>,
}

impl Planes for Shaped<'_> {
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn mode(&self) -> Mode {
        self.t.mode()
    }
    fn re(&self) -> &[f64] {
        self.t.re()
    }
    fn tangent(&self, i: usize) -> Option<&[f64]> {
        self.t.tangent(i)
    }
    fn second(&self, p: usize) -> Option<&[f64]> {
        self.t.second(p)
    }
    fn tangent_block(&self) -> Option<&[f64]> {
        self.t.tangent_block()
    }
    fn second_block(&self) -> Option<&[f64]> {
        self.t.second_block()
    }
}

/// A value with its planes at hand.
#[derive(Clone, Debug)]
enum Plain<'a> {
    /// A computed tensor (shared by [`Backend::dup`]; updated in place when not shared).
    Owned(Rc<Tensor>),
    /// A parameter block: a view of θ and the pass's directions.
    Param(ParamView<'a>, usize),
    /// A borrowed input.
    Input(Shaped<'a>),
}

impl Plain<'_> {
    fn planes(&self) -> &dyn Planes {
        match self {
            Plain::Owned(t) => &**t,
            Plain::Param(v, _) => v,
            Plain::Input(s) => s,
        }
    }

    /// The tensor, owned (copied if it is a view or shared).
    fn into_tensor(self) -> Tensor {
        match self {
            Plain::Owned(t) => Rc::unwrap_or_clone(t),
            other => Tensor::from_view(other.planes()),
        }
    }
}

/// A live value: plain, or a permuting copy of a plain value not made yet (elementwise
/// functions apply before it, and a following copy or windowed maximum composes with it:
/// the eager form of the rewrite the JIT's tracer does).
#[derive(Clone, Debug)]
enum Slot<'a> {
    Plain(Plain<'a>),
    /// Element `e` (of the shape) is element `idx[e]` of the value.
    Permuted(Plain<'a>, Arc<Vec<usize>>, Vec<usize>),
}

impl Slot<'_> {
    fn shape(&self) -> &[usize] {
        match self {
            Slot::Plain(p) => p.planes().shape(),
            Slot::Permuted(_, _, shape) => shape,
        }
    }
}

/// The eager [`Backend`]: runs a model or loss written in the tensor language on the
/// runtime's [`Tensor`]s, with the derivative planes of the [`Params`]' mode (value,
/// jet, hyper-dual, K directions). A tensor is freed as soon as the operation that consumes
/// its last handle has run, and updated in place where possible.
#[derive(Debug)]
pub struct Eager<'a> {
    params: Params<'a>,
    slots: Vec<Option<Slot<'a>>>,
}

fn check_rank(shape: &[usize], what: &str) -> Result<()> {
    if shape.len() > 2 {
        return Err(Error::Shape(format!(
            "{what}: shape {shape:?} has rank {} (the tensor language has ranks 0 to 2)",
            shape.len()
        )));
    }
    Ok(())
}

impl<'a> Eager<'a> {
    /// A backend whose parameter blocks are views of `params`.
    pub fn new(params: &Params<'a>) -> Self {
        Self { params: params.clone(), slots: Vec::new() }
    }

    fn push_plain(&mut self, p: Plain<'a>) -> Result<Var> {
        self.push(Slot::Plain(p))
    }

    fn push(&mut self, s: Slot<'a>) -> Result<Var> {
        let i = u32::try_from(self.slots.len())
            .map_err(|_| Error::InvalidArgument("eager backend: more than 2³² tensors".into()))?;
        self.slots.push(Some(s));
        Ok(Var::from_index(i))
    }

    fn owned(&mut self, t: Tensor) -> Result<Var> {
        self.push_plain(Plain::Owned(Rc::new(t)))
    }

    /// The value of `v`, consumed, with its planes at hand (a pending copy is made now).
    fn take_plain(&mut self, v: Var) -> Result<Plain<'a>> {
        Ok(match self.take_slot(v)? {
            Slot::Plain(p) => p,
            Slot::Permuted(p, idx, shape) => Plain::Owned(Rc::new(ops::gather(p.planes(), 0, &idx, shape)?)),
        })
    }

    fn slot(&self, v: &Var) -> Result<&Slot<'a>> {
        self.slots.get(v.index() as usize).and_then(Option::as_ref).ok_or_else(|| {
            Error::InvalidArgument(format!("tensor {} is not live in this eager backend", v.index()))
        })
    }

    fn take_slot(&mut self, v: Var) -> Result<Slot<'a>> {
        self.slots.get_mut(v.index() as usize).and_then(Option::take).ok_or_else(|| {
            Error::InvalidArgument(format!("tensor {} is not live in this eager backend", v.index()))
        })
    }

    /// A passive input borrowed from `x` (no copy): a `[B, ...]` batch is seen as
    /// `[B, features]`; ranks 0 to 2 keep their shape.
    pub fn input(&mut self, x: &'a Tensor) -> Result<Var> {
        let s = x.shape();
        let shape = if s.len() > 2 { vec![s[0], s[1..].iter().product()] } else { s.to_vec() };
        self.push_plain(Plain::Input(Shaped { t: x, shape }))
    }

    /// An owned tensor (data, or a result of another computation) as a value of this backend.
    pub fn tensor(&mut self, t: Tensor) -> Result<Var> {
        check_rank(t.shape(), "tensor")?;
        self.owned(t)
    }

    /// The value of `v` as an owned tensor (consumed; copied if it is a view).
    pub fn take(&mut self, v: Var) -> Result<Tensor> {
        Ok(self.take_plain(v)?.into_tensor())
    }

    /// One-hot targets `[labels.len(), classes]` ([`super::one_hot`]) as a value.
    pub fn targets(&mut self, labels: &[usize], classes: usize) -> Result<Var> {
        self.owned(Tensor::constant(vec![labels.len(), classes], super::one_hot(labels, classes)?)?)
    }

    /// The batch's inputs (`[B, features]`) and its one-hot targets (`[B, classes]`).
    pub fn batch(&mut self, batch: &'a Batch, classes: usize) -> Result<(Var, Var)> {
        let x = self.input(&batch.x)?;
        Ok((x, self.targets(&batch.labels, classes)?))
    }
}

/// `op` on a plain value (in place when it is an unshared tensor).
fn unary_plain(p: Plain<'_>, op: UnaryOp) -> Tensor {
    match p {
        Plain::Owned(t) => ops::unary_into(Rc::unwrap_or_clone(t), op),
        other => ops::unary(other.planes(), op),
    }
}

impl Backend for Eager<'_> {
    fn param(&mut self, offset: usize, shape: &[usize]) -> Result<Var> {
        check_rank(shape, "param")?;
        let view = self.params.view(offset, shape.to_vec())?;
        self.push_plain(Plain::Param(view, offset))
    }

    fn constant(&mut self, c: f64) -> Result<Var> {
        self.owned(Tensor::constant(Vec::new(), vec![c])?)
    }

    fn shape(&self, x: &Var) -> Result<Vec<usize>> {
        Ok(self.slot(x)?.shape().to_vec())
    }

    fn dup(&mut self, x: &Var) -> Result<Var> {
        let s = self.slot(x)?.clone();
        self.push(s)
    }

    fn unary(&mut self, op: UnaryOp, x: Var) -> Result<Var> {
        match self.take_slot(x)? {
            Slot::Plain(p) => self.owned(unary_plain(p, op)),
            Slot::Permuted(p, idx, shape) => {
                let t = Plain::Owned(Rc::new(unary_plain(p, op)));
                self.push(Slot::Permuted(t, idx, shape))
            }
        }
    }

    fn binary(&mut self, op: BinaryOp, a: Var, b: Var) -> Result<Var> {
        let (a, b) = (self.take_plain(a)?, self.take_plain(b)?);
        // `+` and `-` into an unshared tensor of the result's shape: in place.
        if let (BinaryOp::Add | BinaryOp::Sub, Plain::Owned(t)) = (op, &a) {
            if Rc::strong_count(t) == 1 && b.planes().numel() <= t.numel() {
                if let Plain::Owned(t) = a {
                    let mut t = Rc::unwrap_or_clone(t);
                    if ops::add_assign(&mut t, b.planes(), op == BinaryOp::Sub).is_ok() {
                        return self.owned(t);
                    }
                    let t = ops::binary(op, &t, b.planes())?;
                    return self.owned(t);
                }
            }
        }
        let t = ops::binary(op, a.planes(), b.planes())?;
        self.owned(t)
    }

    fn matmul(&mut self, a: Var, b: Var) -> Result<Var> {
        let (a, b) = (self.take_plain(a)?, self.take_plain(b)?);
        let t = ops::matmul(a.planes(), b.planes())?;
        self.owned(t)
    }

    fn reshape(&mut self, x: Var, shape: &[usize]) -> Result<Var> {
        check_rank(shape, "reshape")?;
        let s = self.take_slot(x)?;
        let n: usize = shape.iter().product();
        if n != s.shape().iter().product::<usize>() {
            return Err(Error::Shape(format!("cannot reshape {:?} into {shape:?}", s.shape())));
        }
        let s = match s {
            Slot::Plain(Plain::Owned(t)) => {
                Plain::Owned(Rc::new(Rc::unwrap_or_clone(t).reshape(shape.to_vec())?))
            }
            Slot::Plain(Plain::Param(_, offset)) => {
                Plain::Param(self.params.view(offset, shape.to_vec())?, offset)
            }
            Slot::Plain(Plain::Input(i)) => Plain::Input(Shaped { t: i.t, shape: shape.to_vec() }),
            Slot::Permuted(p, idx, _) => return self.push(Slot::Permuted(p, idx, shape.to_vec())),
        };
        self.push_plain(s)
    }

    fn gather(&mut self, x: Var, idx: Arc<Vec<usize>>, shape: &[usize]) -> Result<Var> {
        check_rank(shape, "gather")?;
        let (p, idx) = match self.take_slot(x)? {
            Slot::Plain(p) => (p, idx),
            Slot::Permuted(p, inner, _) => {
                if let Some(&j) = idx.iter().find(|&&j| j >= inner.len()) {
                    return Err(Error::Shape(format!("gather: index {j} out of range {}", inner.len())));
                }
                (p, Arc::new(idx.iter().map(|&j| inner[j]).collect()))
            }
        };
        if shape.iter().product::<usize>() == idx.len() && is_permutation(&idx, p.planes().numel()) {
            return self.push(Slot::Permuted(p, idx, shape.to_vec()));
        }
        let t = ops::gather(p.planes(), 0, &idx, shape.to_vec())?;
        self.owned(t)
    }

    fn max_over(&mut self, x: Var, windows: Arc<Vec<usize>>, shape: &[usize]) -> Result<Var> {
        check_rank(shape, "max_over")?;
        let t = match self.take_slot(x)? {
            Slot::Plain(p) => ops::max_over(p.planes(), &windows, shape.to_vec())?,
            Slot::Permuted(p, idx, _) => {
                if let Some(&j) = windows.iter().find(|&&j| j >= idx.len()) {
                    return Err(Error::Shape(format!("max_over: index {j} out of range {}", idx.len())));
                }
                let composed: Vec<usize> = windows.iter().map(|&j| idx[j]).collect();
                ops::max_over(p.planes(), &composed, shape.to_vec())?
            }
        };
        self.owned(t)
    }

    fn sum_rows(&mut self, x: Var) -> Result<Var> {
        let p = self.take_plain(x)?;
        let t = ops::sum_last(p.planes())?;
        self.owned(t)
    }

    fn sum(&mut self, x: Var) -> Result<Var> {
        let p = self.take_plain(x)?;
        let flat = [p.planes().numel()];
        let t = ops::sum_last(&Reshaped::new(p.planes(), &flat)?)?;
        self.owned(t)
    }

    fn max_rows_passive(&mut self, x: Var) -> Result<Var> {
        let p = self.take_plain(x)?;
        let p = p.planes();
        let (shape, cols) = match p.shape() {
            [m, n] => (vec![*m], *n),
            [n] => (Vec::new(), *n),
            other => return Err(Error::Shape(format!("max_rows_passive of a tensor of shape {other:?}"))),
        };
        let m =
            p.re().chunks(cols.max(1)).map(|r| r.iter().copied().fold(f64::NEG_INFINITY, f64::max)).collect();
        self.owned(Tensor::constant(shape, m)?)
    }

    /// One sample at a time (the im2col copy of one sample stays small and in cache), the
    /// results stacked: [`nn::conv2d_im2col`] on each sample.
    fn conv2d(&mut self, x: Var, x_dims: [usize; 4], w: Var, w_dims: [usize; 4], bias: Var) -> Result<Var> {
        let bn = x_dims[0];
        let xs = self.take_plain(x)?;
        let per = x_dims[1..].iter().product::<usize>();
        let blockable = bn > 1 && xs.planes().numel() == bn * per && !matches!(xs, Plain::Param(..));
        if !blockable {
            let x = self.push_plain(xs)?;
            return nn::conv2d_im2col(self, x, x_dims, w, w_dims, bias);
        }
        let (w, bias) = (self.take_plain(w)?, self.take_plain(bias)?);
        let whole = xs.into_tensor().reshape(vec![bn, per])?;
        let mut parts = Vec::with_capacity(bn);
        for i in 0..bn {
            let mut one = Eager::new(&self.params);
            let xi = one.owned(whole.rows(i, i + 1)?)?;
            let (wi, bi) = (one.push_plain(w.clone())?, one.push_plain(bias.clone())?);
            let y = nn::conv2d_im2col(&mut one, xi, [1, x_dims[1], x_dims[2], x_dims[3]], wi, w_dims, bi)?;
            parts.push(one.take(y)?);
        }
        let cols = parts[0].numel();
        let t = ops::stack(parts, vec![1, cols])?.reshape(vec![bn, cols])?;
        self.owned(t)
    }
}
