//! The scalar front end: [`Tracer`], a [`Scalar`] that records the operations applied to it.
//!
//! A tracer carries a node id *and* the concrete primal value at the trace point, so any
//! comparison the traced function makes (`<`, `==`, `partial_cmp`, ...) is decided by the
//! primal value, exactly as the runtime decides it, and is recorded as a *guard*: the
//! compiled program re-checks every guard at run time and returns an error when an input
//! takes the other branch, so it never returns the derivative of a branch it did not trace.
//! `max`, `min`, `abs`, `relu` are ops (selects), not branches, and need no guard.
//!
//! The graph under construction lives in a thread-local stack of frames (tracers are
//! `Copy` and carry no pointer); every tracer knows the frame (epoch) it belongs to, so
//! mixing tracers of two traces is detected and reported as an error.

use crate::error::{JitError, JitResult};
use crate::ir::{Builder, Cmp, GuardInfo, NodeId, Op, Tape};
use core::cmp::Ordering;
use core::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};
use fomoh_runtime::{BinaryOp, Scalar, UnaryOp};
use std::cell::RefCell;
use std::sync::atomic::{AtomicU32, Ordering as AtomicOrdering};

/// A traced scalar: a node of the graph being recorded plus its primal value.
///
/// Obtained only as the argument of the closure given to [`crate::compile`]; write the
/// function generically over [`Scalar`] and it traces as is.
#[derive(Clone, Copy, Debug)]
pub struct Tracer {
    id: NodeId,
    epoch: u32,
    val: f64,
}

struct Frame {
    epoch: u32,
    builder: Builder,
    foreign: bool,
    escape: bool,
    /// In a flipped pass: how many more guarded comparisons to decide against their value
    /// (as many as the first pass recorded; the rest are decided by value, so that a loop
    /// whose condition is flipped still ends as the first pass's did).
    flip: Option<usize>,
    /// A flipped pass met more guards than the first pass.
    overrun: bool,
    /// An evaluation ([`eval_only`]): nothing is recorded; tracers carry [`EVAL_CONST`] or
    /// [`EVAL_VAR`] instead of a node.
    eval: bool,
    /// A flipped trace sharing nodes by replay: the first pass's nodes in push order (see
    /// [`Builder::push_replayed`]).
    tape: Option<Tape>,
}

/// The node id of a tracer in an evaluation ([`eval_only`]) whose value is a literal.
const EVAL_CONST: NodeId = NodeId::MAX - 1;
/// The node id of a tracer in an evaluation whose value depends on the inputs.
const EVAL_VAR: NodeId = NodeId::MAX - 2;

thread_local! {
    static FRAMES: RefCell<Vec<Frame>> = const { RefCell::new(Vec::new()) };
}

static EPOCH: AtomicU32 = AtomicU32::new(1);

impl Frame {
    /// A frame of `epoch` recording into `builder` (or evaluating only, `eval`), sharing a
    /// flipped pass's nodes through `tape` if given.
    fn new(epoch: u32, builder: Builder, eval: bool, tape: Option<Tape>) -> Frame {
        Frame { epoch, builder, foreign: false, escape: false, flip: None, overrun: false, eval, tape }
    }

    /// The errors of a finished pass whose result is `out`: a tracer of another trace, a
    /// value read from a traced value.
    fn check(&self, out: &Tracer) -> JitResult<()> {
        if self.foreign || out.epoch != self.epoch {
            return Err(JitError::ForeignTracer);
        }
        if self.escape {
            return Err(JitError::ValueEscape);
        }
        Ok(())
    }
}

/// Runs `f` (given the epoch) with the frame `frame(epoch)` of a new epoch on top of this
/// thread's frames; returns `f`'s result and the frame, taken off again (also if `f` panics).
fn in_new_frame<R>(frame: impl FnOnce(u32) -> Frame, f: impl FnOnce(u32) -> R) -> (R, Frame) {
    struct Pop;
    impl Drop for Pop {
        fn drop(&mut self) {
            FRAMES.with(|fr| fr.borrow_mut().pop());
        }
    }
    let epoch = EPOCH.fetch_add(1, AtomicOrdering::Relaxed);
    FRAMES.with(|fr| fr.borrow_mut().push(frame(epoch)));
    let pop = Pop;
    let out = f(epoch);
    core::mem::forget(pop);
    let top = FRAMES.with(|fr| fr.borrow_mut().pop()).expect("the frame pushed above");
    (out, top)
}

/// Runs `f` on the current frame if `epochs` all belong to it.
fn with_frame<R>(epochs: &[u32], f: impl FnOnce(&mut Frame) -> R) -> Option<R> {
    FRAMES.with(|fr| {
        let mut fr = fr.borrow_mut();
        let frame = fr.last_mut()?;
        if epochs.iter().any(|&e| e != frame.epoch) {
            frame.foreign = true;
            return None;
        }
        Some(f(frame))
    })
}

impl Tracer {
    fn record(epochs: &[u32], op: impl FnOnce(&[NodeId]) -> Op, ids: &[NodeId], val: f64) -> Tracer {
        let push = |fr: &mut Frame| {
            if fr.eval {
                // a function of literals only is a literal (as the builder folds it)
                let konst = !ids.is_empty() && ids.iter().all(|&i| i == EVAL_CONST);
                return (fr.epoch, if konst { EVAL_CONST } else { EVAL_VAR });
            }
            let op = op(ids);
            let id = match &mut fr.tape {
                Some(t) if !matches!(op, Op::Const(_) | Op::Input(_)) => match t.replay {
                    true => fr.builder.push_replayed(op, t),
                    false => {
                        let id = fr.builder.push(op);
                        t.ids.push(id);
                        id
                    }
                },
                _ => fr.builder.push(op),
            };
            (fr.epoch, id)
        };
        match with_frame(epochs, push) {
            Some((epoch, id)) => Tracer { id, epoch, val },
            None => Tracer { id: NodeId::MAX, epoch: 0, val },
        }
    }

    fn constant(c: f64) -> Tracer {
        let push = |fr: &mut Frame| match fr.eval {
            true => (fr.epoch, EVAL_CONST),
            false => (fr.epoch, fr.builder.push(Op::Const(c))),
        };
        match with_frame(&[], push) {
            Some((epoch, id)) => Tracer { id, epoch, val: c },
            None => Tracer { id: NodeId::MAX, epoch: 0, val: c },
        }
    }

    fn unop(self, op: UnaryOp) -> Tracer {
        Tracer::record(&[self.epoch], |i| Op::Unary(op, i[0]), &[self.id], op.eval(self.val))
    }

    fn binop(self, op: BinaryOp, o: Tracer) -> Tracer {
        Tracer::record(
            &[self.epoch, o.epoch],
            |i| Op::Binary(op, i[0], i[1]),
            &[self.id, o.id],
            op.eval(self.val, o.val),
        )
    }

    /// Decides `cmp(self, o)` on the primal values (against them in a flipped trace) and
    /// records the outcome as a guard.
    fn guard(&self, cmp: Cmp, o: &Tracer) -> bool {
        let value = cmp.eval(self.val, o.val);
        with_frame(&[self.epoch, o.epoch], |fr| {
            if fr.eval {
                return value;
            }
            let nodes = &fr.builder.graph.nodes;
            let both_const = nodes.get(self.id as usize).is_some_and(Op::is_const)
                && nodes.get(o.id as usize).is_some_and(Op::is_const);
            if both_const {
                return value;
            }
            let expect = match &mut fr.flip {
                Some(0) => {
                    fr.overrun = true;
                    value
                }
                Some(left) => {
                    *left -= 1;
                    !value
                }
                None => value,
            };
            let site = fr.builder.graph.guards.len() as u32;
            fr.builder.graph.guards.push(GuardInfo { cmp, expect, operands: (self.val, o.val) });
            fr.builder.push(Op::Guard { cmp, a: self.id, b: o.id, expect, site });
            expect
        })
        .unwrap_or(value)
    }

    /// The primal value seen while tracing.
    pub fn trace_value(&self) -> f64 {
        self.val
    }
}

/// Traces `f` over `n` inputs at the point `x` (comparisons are decided at `x`).
pub(crate) fn trace_at<F>(x: &[f64], f: F, limit: usize) -> JitResult<crate::ir::Graph>
where
    F: Fn(&[Tracer]) -> Tracer,
{
    trace_with_data(x, &[], |x, _| f(x), limit)
}

/// Traces `f` at the parameters `x` and the passive inputs `data` (comparisons are decided
/// at those values): the parameters are `Op::Input(0..n)`, the data `Op::Input(n..n + d)`
/// (recorded in [`crate::ir::Graph::n_data`]; staging gives them no tangent).
pub(crate) fn trace_with_data<F>(x: &[f64], data: &[f64], f: F, limit: usize) -> JitResult<crate::ir::Graph>
where
    F: Fn(&[Tracer], &[Tracer]) -> Tracer,
{
    Ok(trace_passes(x, data, &f, None, limit)?.0)
}

/// Traces `f` twice into one graph at `(x, data)`: as [`trace_with_data`], then with every
/// guarded comparison decided against its value (the other side of every branch). The graph
/// has the two outputs (nodes both passes compute are shared); returned with the number of
/// guard sites of the first pass, or `None` when the second pass panics (a branch the
/// function cannot take at this point).
pub(crate) fn trace_flipped<F>(
    x: &[f64],
    data: &[f64],
    f: F,
    sharing: Sharing,
    limit: usize,
) -> JitResult<Option<(crate::ir::Graph, usize)>>
where
    F: Fn(&[Tracer], &[Tracer]) -> Tracer,
{
    let (g, first) = trace_passes(x, data, &f, Some(sharing), limit)?;
    Ok(first.map(|k| (g, k)))
}

/// How the two passes of a flipped trace find the nodes they share.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sharing {
    /// The second pass replays the first's nodes in order (a table of recent nodes and a
    /// window of the first pass's pushes, [`crate::ir::Builder::push_replayed`]): fast, and
    /// enough when the terms of a sum are computed in the same order by both passes.
    Replay,
    /// Hash-consing through a table of every node: finds every shared node, at a cache miss
    /// or two per node.
    Table,
}

/// Evaluates `f` at `(x, data)` in `f64` through tracers that record nothing (every
/// comparison decided by value, as the runtime decides it): the function's value at a point,
/// at a fraction of a trace's cost. The same errors as a trace (a tracer of another trace, a
/// value read from a traced value).
pub(crate) fn eval_only<F>(x: &[f64], data: &[f64], f: F) -> JitResult<f64>
where
    F: Fn(&[Tracer], &[Tracer]) -> Tracer,
{
    let frame = |epoch| Frame::new(epoch, Builder::new(0, 0, false), true, None);
    let (out, frame) = in_new_frame(frame, |epoch| {
        let tracer = |&val: &f64| Tracer { id: EVAL_VAR, epoch, val };
        let xs: Vec<Tracer> = x.iter().map(tracer).collect();
        let ds: Vec<Tracer> = data.iter().map(tracer).collect();
        f(&xs, &ds)
    });
    frame.check(&out)?;
    Ok(out.val)
}

/// Traces `f` at `(x, data)`, and a second time with every guard flipped if `flip` says how
/// the passes share nodes; returns the graph and, if the second pass ran to its end, the guard
/// sites of the first pass.
fn trace_passes(
    x: &[f64],
    data: &[f64],
    f: &dyn Fn(&[Tracer], &[Tracer]) -> Tracer,
    flip: Option<Sharing>,
    limit: usize,
) -> JitResult<(crate::ir::Graph, Option<usize>)> {
    let total = x.len().saturating_add(data.len());
    if total > limit || u32::try_from(total).is_err() {
        return Err(JitError::GraphTooLarge { stage: "traced", limit });
    }
    // a flipped trace finds the first pass's nodes by replay or by hash-consing (the pairing
    // compares them); a plain trace hash-conses recent nodes only
    let mut builder = Builder::new(x.len(), limit, false);
    if flip != Some(Sharing::Table) {
        builder = builder.recent_only();
    }
    builder.graph.n_data = data.len();
    let tape = (flip == Some(Sharing::Replay)).then(Tape::default);
    let ((out, second), frame) = in_new_frame(
        |epoch| Frame::new(epoch, builder, false, tape),
        |epoch| {
            let mut xs: Vec<Tracer> = x
                .iter()
                .chain(data)
                .enumerate()
                .map(|(i, &v)| Tracer::record(&[epoch], |_| Op::Input(i as u32), &[], v))
                .collect();
            let ds = xs.split_off(x.len());
            let out = f(&xs, &ds);
            let mut second = None;
            if flip.is_some() {
                let first = FRAMES.with(|fr| {
                    let mut fr = fr.borrow_mut();
                    let top = fr.last_mut().expect("frame pushed by trace");
                    let k = top.builder.graph.guards.len();
                    top.flip = Some(k);
                    if let Some(t) = &mut top.tape {
                        t.replay = true;
                        t.first_end = top.builder.graph.nodes.len() as NodeId;
                    }
                    k
                });
                let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&xs, &ds)));
                second = run.ok().map(|o| (o, first));
            }
            (out, second)
        },
    );
    if frame.builder.overflow {
        return Err(JitError::GraphTooLarge { stage: "traced", limit: frame.builder.graph.nodes.len() });
    }
    frame.check(&out)?;
    let mut graph = frame.builder.graph;
    graph.outputs.push(out.id);
    let mut first = None;
    if let Some((o2, k)) = second.filter(|_| !frame.overrun) {
        if o2.epoch != frame.epoch {
            return Err(JitError::ForeignTracer);
        }
        graph.outputs.push(o2.id);
        first = Some(k);
    }
    Ok((graph, first))
}

impl Scalar for Tracer {
    fn from_f64(c: f64) -> Self {
        Tracer::constant(c)
    }

    /// The primal value at the trace point. Reading it from an input-dependent tracer makes
    /// the compilation fail with [`JitError::ValueEscape`]: control flow on it could not be
    /// guarded. Compare tracers instead (`a < b` is recorded as a guard).
    fn value(&self) -> f64 {
        let _ = with_frame(&[self.epoch], |fr| {
            let konst = match fr.eval {
                true => self.id == EVAL_CONST,
                false => fr.builder.graph.nodes.get(self.id as usize).is_some_and(Op::is_const),
            };
            if !konst {
                fr.escape = true;
            }
        });
        self.val
    }

    fn unary(self, op: UnaryOp) -> Self {
        self.unop(op)
    }

    fn binary(self, op: BinaryOp, rhs: Self) -> Self {
        self.binop(op, rhs)
    }
}

macro_rules! tracer_binop {
    ($tr:ident, $m:ident, $atr:ident, $am:ident, $op:expr) => {
        impl $tr for Tracer {
            type Output = Tracer;
            #[inline]
            fn $m(self, o: Tracer) -> Tracer {
                self.binop($op, o)
            }
        }
        impl $atr for Tracer {
            #[inline]
            fn $am(&mut self, o: Tracer) {
                *self = self.binop($op, o);
            }
        }
    };
}
tracer_binop!(Add, add, AddAssign, add_assign, BinaryOp::Add);
tracer_binop!(Sub, sub, SubAssign, sub_assign, BinaryOp::Sub);
tracer_binop!(Mul, mul, MulAssign, mul_assign, BinaryOp::Mul);
tracer_binop!(Div, div, DivAssign, div_assign, BinaryOp::Div);

impl Neg for Tracer {
    type Output = Tracer;
    fn neg(self) -> Tracer {
        Tracer::record(&[self.epoch], |i| Op::Neg(i[0]), &[self.id], -self.val)
    }
}

impl core::iter::Sum for Tracer {
    fn sum<I: Iterator<Item = Tracer>>(it: I) -> Tracer {
        it.fold(Tracer::constant(0.0), |a, b| a + b)
    }
}

/// Compares primal values; the outcome is recorded as a guard.
impl PartialEq for Tracer {
    fn eq(&self, o: &Tracer) -> bool {
        self.guard(Cmp::Eq, o)
    }
    #[allow(clippy::partialeq_ne_impl)]
    fn ne(&self, o: &Tracer) -> bool {
        self.guard(Cmp::Ne, o)
    }
}

/// Compares primal values; the outcome is recorded as a guard.
impl PartialOrd for Tracer {
    fn partial_cmp(&self, o: &Tracer) -> Option<Ordering> {
        if self.guard(Cmp::Lt, o) {
            Some(Ordering::Less)
        } else if self.guard(Cmp::Gt, o) {
            Some(Ordering::Greater)
        } else if self.guard(Cmp::Eq, o) {
            Some(Ordering::Equal)
        } else {
            None
        }
    }
    fn lt(&self, o: &Tracer) -> bool {
        self.guard(Cmp::Lt, o)
    }
    fn le(&self, o: &Tracer) -> bool {
        self.guard(Cmp::Le, o)
    }
    fn gt(&self, o: &Tracer) -> bool {
        self.guard(Cmp::Gt, o)
    }
    fn ge(&self, o: &Tracer) -> bool {
        self.guard(Cmp::Ge, o)
    }
}
