//! Derivative staging: the runtime's rule table, instantiated with a value that emits IR.
//!
//! [`Staged`] implements [`fomoh_runtime::Real`] by appending nodes to a thread-local
//! `Builder`. Evaluating the traced graph with `HyperDual<Staged>`, `Jet<Staged>` or
//! `HyperK<Staged, K>` (through their own `lift1`/`lift2` and arithmetic, exactly as the
//! runtime's `Scalar` implementation does) therefore *writes down* the derivative code the
//! runtime would execute, from the single rule table in `fomoh_runtime::rules`. Nothing
//! here restates a derivative.
//!
//! Activity analysis is symbolic: the lanes a constant or a seed starts with are literal
//! zeros, and the builder folds `0·x`, `0 + x`, `x·1`, ... as it goes, so lanes that are
//! provably zero are never computed (so `∞ · 0` from a structural zero is the exact `0`).
//! A tangent that is zero only at run time: the runtime's number types make a chain-rule
//! term whose tangent factor is exactly zero exactly zero, even where the coefficient is ±∞
//! or NaN (their zero-tangent convention, a check per operation). Staged code cannot afford
//! that check on every term (a compare and select per term made compiled Rosenbrock 3-4x
//! slower), so every program is staged twice, on demand: the plain chain rule (what runs),
//! and under [`Guards::On`] the number types' guarded chain rules (a select per term whose
//! coefficient is not a finite literal). A compiled program whose output has a lane that is
//! not finite runs its guarded code and returns that: where the plain code's lanes are all
//! finite no guard could have changed them (a guard only replaces `∞ · 0` or `NaN · 0`, and
//! a NaN reaches the output), so the result is always the runtime's, at no cost on finite
//! results. Common subexpressions are shared by hash-consing and dead nodes are dropped
//! afterwards.

use crate::error::{JitError, JitResult};
use crate::ir::{Builder, Cmp, Graph, NodeId, Op};
use core::ops::{Add, Div, Mul, Neg, Sub};
use fomoh_runtime::{BinaryOp, Dim, HyperDual, HyperK, Jet, Packed, Real, UnaryOp, MAX_K};
use std::cell::RefCell;

/// A compilation mode: which number type the compiled program evaluates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// `f(x)` only.
    Primal,
    /// `f`, `∇f·v1`, `∇f·v2`, `v1ᵀHv2`.
    HyperDual,
    /// `f`, `∇f·v`, `vᵀHv` (the `v1 = v2` jet).
    Jet,
    /// `f`, K directional derivatives, the packed K×K block (`K` in 1..=[`MAX_K`]).
    HyperK(usize),
}

impl Mode {
    /// Checks that the mode is supported (`K` in 1..=[`MAX_K`]).
    pub fn validate(self) -> JitResult<Self> {
        match self {
            Mode::HyperK(k) if !(1..=MAX_K).contains(&k) => {
                Err(JitError::Unsupported(format!("k-direction mode needs 1 <= K <= {MAX_K}, got K = {k}")))
            }
            m => Ok(m),
        }
    }

    /// How many input vectors of length `n` the mode reads (x and the tangents).
    pub fn input_vectors(self) -> usize {
        match self {
            Mode::Primal => 1,
            Mode::HyperDual => 3,
            Mode::Jet => 2,
            Mode::HyperK(k) => 1 + k,
        }
    }

    /// How many numbers the mode writes.
    pub fn outputs(self) -> usize {
        match self {
            Mode::Primal => 1,
            Mode::HyperDual => 4,
            Mode::Jet => 3,
            Mode::HyperK(k) => 1 + k + k * (k + 1) / 2,
        }
    }

    /// The projection in the outputs `o` of the mode `HyperK(k)`: value, the `k` gradient
    /// lanes, then the packed upper triangle of the Hessian block (unpacked to `k × k`).
    pub(crate) fn projection<T: Copy>(k: usize, o: &[T]) -> fomoh_runtime::Projection<T> {
        let h = &o[1 + k..];
        let hess =
            (0..k).map(|i| (0..k).map(|j| h[fomoh_runtime::packed_index(k, i, j)]).collect()).collect();
        fomoh_runtime::Projection { value: o[0], grad: o[1..=k].to_vec(), hess, passes: 1 }
    }

    /// A dense index (`0..SLOTS`) for per-mode tables.
    pub(crate) fn slot(self) -> usize {
        match self {
            Mode::Primal => 0,
            Mode::HyperDual => 1,
            Mode::Jet => 2,
            Mode::HyperK(k) => 2 + k,
        }
    }

    /// A dense index (`0..GUARDED_SLOTS`) for per-mode tables of plain and guarded code.
    pub(crate) fn guarded_slot(self, guards: Guards) -> usize {
        self.slot() + SLOTS * usize::from(guards == Guards::On)
    }
}

/// The number of modes: primal, hyper-dual, jet and `HyperK(1..=MAX_K)` (see [`Mode::slot`]).
pub(crate) const SLOTS: usize = 3 + MAX_K;

/// The number of (mode, [`Guards`]) pairs (see [`Mode::guarded_slot`]).
pub(crate) const GUARDED_SLOTS: usize = 2 * SLOTS;

/// A base-field value that is a node of the graph being staged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Staged(NodeId);

/// Whether staging writes the number types' zero-tangent guards (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Guards {
    /// The plain chain rule (the code that runs first).
    #[default]
    Off,
    /// The guarded chain rule (the code that runs where the plain code's output is not
    /// finite).
    On,
}

impl Guards {
    /// Runs `f` with staging on this thread in this setting.
    pub(crate) fn scope<R>(self, f: impl FnOnce() -> R) -> R {
        struct Restore(Guards);
        impl Drop for Restore {
            fn drop(&mut self) {
                GUARDS.set(self.0);
            }
        }
        let _restore = Restore(GUARDS.replace(self));
        f()
    }
}

/// Whether the output of a pass in `mode` needs the guarded code ([`Guards::On`]) run and
/// returned instead: a derivative mode whose output holds a value that is not finite.
pub(crate) fn needs_guards<T: crate::float::JitFloat>(mode: Mode, out: &[T]) -> bool {
    mode != Mode::Primal && out.iter().any(|v| !v.as_f64().is_finite())
}

thread_local! {
    static GUARDS: core::cell::Cell<Guards> = const { core::cell::Cell::new(Guards::Off) };
    static STAGE: RefCell<Vec<Builder>> = const { RefCell::new(Vec::new()) };
}

fn push(op: Op) -> Staged {
    Staged(STAGE.with(|s| s.borrow_mut().last_mut().map_or(0, |b| b.push(op))))
}

impl Staged {
    fn un(self, op: UnaryOp) -> Staged {
        push(Op::Unary(op, self.0))
    }
    fn bin(self, op: BinaryOp, o: Staged) -> Staged {
        push(Op::Binary(op, self.0, o.0))
    }
    /// The node id.
    pub fn id(self) -> NodeId {
        self.0
    }
}

macro_rules! staged_arith {
    ($tr:ident, $m:ident, $op:expr) => {
        impl $tr for Staged {
            type Output = Staged;
            #[inline]
            fn $m(self, o: Staged) -> Staged {
                self.bin($op, o)
            }
        }
    };
}
staged_arith!(Add, add, BinaryOp::Add);
staged_arith!(Sub, sub, BinaryOp::Sub);
staged_arith!(Mul, mul, BinaryOp::Mul);
staged_arith!(Div, div, BinaryOp::Div);

impl Neg for Staged {
    type Output = Staged;
    fn neg(self) -> Staged {
        push(Op::Neg(self.0))
    }
}

impl Real for Staged {
    fn cst(c: f64) -> Self {
        push(Op::Const(c))
    }
    fn unary(self, op: UnaryOp) -> Self {
        self.un(op)
    }
    fn binary(self, op: BinaryOp, y: Self) -> Self {
        self.bin(op, y)
    }
    fn select_ge(self, other: Self, x: Self, y: Self) -> Self {
        push(Op::Select { cmp: Cmp::Ge, a: self.0, b: other.0, t: x.0, f: y.0 })
    }
    fn select_zero(self, x: Self, y: Self) -> Self {
        let z = Staged::cst(0.0);
        push(Op::Select { cmp: Cmp::Eq, a: self.0, b: z.0, t: x.0, f: y.0 })
    }
    /// Under [`Guards::Off`] every node (the plain chain rule). Under [`Guards::On`] only a
    /// finite literal: any other node may be ±∞ or NaN at run time, so the number types stage
    /// their zero-tangent guards (a select per term, folded where the tangent is a literal).
    fn guard_free(self) -> bool {
        if GUARDS.get() == Guards::Off {
            return true;
        }
        STAGE.with(|s| {
            let s = s.borrow();
            let node = s.last().and_then(|b| b.graph.nodes.get(self.0 as usize).copied());
            matches!(node, Some(Op::Const(c)) if c.is_finite())
        })
    }
}

/// A number type over [`Staged`] lanes, applied to the traced graph exactly as the
/// runtime's `Scalar` implementation applies it (`fomoh_runtime::number`).
trait Lane:
    Copy + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self> + Div<Output = Self> + Neg<Output = Self>
{
    fn primal(&self) -> Staged;
    fn constant(c: Staged) -> Self;
    fn unary(self, op: UnaryOp) -> Self;
    fn binary(self, op: BinaryOp, o: Self) -> Self;
    fn lanes(&self, out: &mut Vec<NodeId>);
    /// The number from its lanes, in the order of [`Lane::lanes`].
    fn from_lanes(l: &[Staged]) -> Self;
    /// The chain rule for a function of several arguments (the runtime's `lift_n`).
    fn lift_n(args: &[Self], f: Staged, grad: &[Staged], hess: &[Staged]) -> fomoh_runtime::Result<Self>;
}

impl Lane for Staged {
    fn primal(&self) -> Staged {
        *self
    }
    fn constant(c: Staged) -> Self {
        c
    }
    fn unary(self, op: UnaryOp) -> Self {
        op.eval(self)
    }
    fn binary(self, op: BinaryOp, o: Self) -> Self {
        op.eval(self, o)
    }
    fn lanes(&self, out: &mut Vec<NodeId>) {
        out.push(self.0)
    }
    fn from_lanes(l: &[Staged]) -> Self {
        l[0]
    }
    fn lift_n(_: &[Self], f: Staged, _: &[Staged], _: &[Staged]) -> fomoh_runtime::Result<Self> {
        Ok(f)
    }
}

macro_rules! lane_number {
    ([$($g:tt)*] $ty:ty, [$($w:tt)*], |$s:ident, $out:ident| $lanes:block, |$l:ident| $from:block) => {
        impl<$($g)*> Lane for $ty where $($w)* {
            fn primal(&self) -> Staged {
                self.re
            }
            fn constant(c: Staged) -> Self {
                <$ty>::constant(c)
            }
            fn unary(self, op: UnaryOp) -> Self {
                self.apply_unary(op)
            }
            fn binary(self, op: BinaryOp, o: Self) -> Self {
                self.apply_binary(op, o)
            }
            fn lanes(&self, $out: &mut Vec<NodeId>) {
                let $s = self;
                $lanes
            }
            fn from_lanes($l: &[Staged]) -> Self {
                $from
            }
            fn lift_n(args: &[Self], f: Staged, grad: &[Staged], hess: &[Staged]) -> fomoh_runtime::Result<Self> {
                <$ty>::lift_n(args, f, grad, hess)
            }
        }
    };
}
lane_number!([] HyperDual<Staged>, [], |s, out| { out.extend([s.re.0, s.e1.0, s.e2.0, s.e12.0]) },
    |l| { HyperDual::new(l[0], l[1], l[2], l[3]) });
lane_number!([] Jet<Staged>, [], |s, out| { out.extend([s.re.0, s.d1.0, s.d2.0]) },
    |l| { Jet::new(l[0], l[1], l[2]) });
lane_number!([const K: usize] HyperK<Staged, K>, [Dim<K>: Packed], |s, out| {
    out.push(s.re.0);
    out.extend(s.grad.iter().map(|g| g.0));
    out.extend(s.hess.as_ref().iter().map(|h| h.0));
}, |l| {
    let mut h = HyperK::<Staged, K>::constant(l[0]);
    h.grad.copy_from_slice(&l[1..=K]);
    h.hess.as_mut().copy_from_slice(&l[1 + K..]);
    h
});

/// A staging step generic over the mode's number type: [`for_mode`] calls it with the lane
/// type of a mode (the one place the modes are matched to types).
trait WithLane {
    type Out;
    fn call<L: Lane>(self) -> Self::Out;
}

/// Calls `f` with the number type of `mode` over [`Staged`] (`mode` validated).
fn for_mode<F: WithLane>(mode: Mode, f: F) -> F::Out {
    match mode {
        Mode::Primal => f.call::<Staged>(),
        Mode::HyperDual => f.call::<HyperDual<Staged>>(),
        Mode::Jet => f.call::<Jet<Staged>>(),
        Mode::HyperK(k) => {
            macro_rules! dispatch {
                ($($kk:literal)*) => {
                    match k {
                        $($kk => f.call::<HyperK<Staged, $kk>>(),)*
                        _ => unreachable!("validated by the caller"),
                    }
                };
            }
            fomoh_runtime::for_each_k!(dispatch)
        }
    }
}

/// Evaluates the traced graph over lane type `L`, seeding input `i` with `seed(i)`.
fn run<L: Lane>(g: &Graph, seed: impl Fn(usize) -> L) -> JitResult<Vec<NodeId>> {
    let mut vals: Vec<L> = Vec::with_capacity(g.nodes.len());
    let zero = L::constant(Staged::cst(0.0));
    for op in &g.nodes {
        let v = |a: NodeId| vals[a as usize];
        let r = match *op {
            Op::Input(i) => seed(i as usize),
            Op::Const(c) => L::constant(Staged::cst(c)),
            Op::Neg(a) => -v(a),
            Op::Unary(u, a) => v(a).unary(u),
            Op::Binary(b, x, y) => v(x).binary(b, v(y)),
            Op::Guard { cmp, a, b, expect, site } => {
                let (pa, pb) = (v(a).primal(), v(b).primal());
                push(Op::Guard { cmp, a: pa.0, b: pb.0, expect, site });
                zero
            }
            // Control flow, not a derivative rule: decided on the primal values, every lane
            // copied from the chosen branch (a lane zero in both stays zero: `t == f` folds).
            Op::Select { cmp, a, b, t, f } => {
                let (pa, pb) = (v(a).primal(), v(b).primal());
                let (mut lt, mut lf) = (Vec::new(), Vec::new());
                v(t).lanes(&mut lt);
                v(f).lanes(&mut lf);
                let sel: Vec<Staged> = lt
                    .iter()
                    .zip(&lf)
                    .map(|(&t, &f)| push(Op::Select { cmp, a: pa.0, b: pb.0, t, f }))
                    .collect();
                L::from_lanes(&sel)
            }
        };
        vals.push(r);
    }
    let mut out = Vec::new();
    for &o in &g.outputs {
        vals[o as usize].lanes(&mut out);
    }
    Ok(out)
}

/// Pops the staging builder on drop (also when staging fails half-way).
struct Pop;

impl Drop for Pop {
    fn drop(&mut self) {
        STAGE.with(|s| s.borrow_mut().pop());
    }
}

/// The builder on top of the staging stack, replaced by an empty one ([`Pop`] removes that).
fn take_top() -> Builder {
    STAGE.with(|s| {
        let mut s = s.borrow_mut();
        let top = s.last_mut().expect("a builder was pushed");
        core::mem::replace(top, Builder::new(0, 0, true))
    })
}

/// The second-order chain rule of `mode`'s number type (the runtime's `lift_n`), staged
/// into `b`: `leaves[a]` holds the lanes of argument `a` in the mode's lane order (nodes of
/// `b`; `None`: a structural zero), `f`, `grad` and the packed `hess` are the nodes of the
/// local function's value, gradient and Hessian at the arguments. Returns `b` and the
/// lanes of the result.
pub(crate) fn stage_lift_n(
    b: Builder,
    mode: Mode,
    leaves: &[Vec<Option<NodeId>>],
    f: NodeId,
    grad: &[NodeId],
    hess: &[NodeId],
) -> JitResult<(Builder, Vec<NodeId>)> {
    struct LiftN<'a> {
        leaves: &'a [Vec<Option<NodeId>>],
        f: NodeId,
        grad: &'a [NodeId],
        hess: &'a [NodeId],
    }
    impl WithLane for LiftN<'_> {
        type Out = JitResult<Vec<NodeId>>;
        fn call<L: Lane>(self) -> Self::Out {
            let args: Vec<L> = self
                .leaves
                .iter()
                .map(|ls| {
                    L::from_lanes(
                        &ls.iter().map(|l| l.map_or_else(|| Staged::cst(0.0), Staged)).collect::<Vec<_>>(),
                    )
                })
                .collect();
            let (g, h): (Vec<Staged>, Vec<Staged>) = (
                self.grad.iter().map(|&n| Staged(n)).collect(),
                self.hess.iter().map(|&n| Staged(n)).collect(),
            );
            let y = L::lift_n(&args, Staged(self.f), &g, &h)
                .map_err(|e| JitError::Unsupported(format!("preaccumulation: {e}")))?;
            let mut out = Vec::new();
            y.lanes(&mut out);
            Ok(out)
        }
    }
    let mode = mode.validate()?;
    STAGE.with(|s| s.borrow_mut().push(b));
    let _pop = Pop;
    let lanes = for_mode(mode, LiftN { leaves, f, grad, hess })?;
    Ok((take_top(), lanes))
}

/// Stages the traced graph `g` (with `n` parameters and `d` passive inputs) in `mode`: the
/// returned graph reads the flat buffer `[x, tangent_1, ..., tangent_m, data]` (`x` and each
/// tangent of length `n`, the data of length `d`) and writes `mode.outputs()` numbers.
pub fn stage(g: &Graph, mode: Mode, limit: usize) -> JitResult<Graph> {
    let mode = mode.validate()?;
    let (n, m) = (g.n_inputs, mode.input_vectors());
    let n_in = n.checked_mul(m).and_then(|v| v.checked_add(g.n_data)).filter(|&v| u32::try_from(v).is_ok());
    let n_in = n_in.ok_or(JitError::GraphTooLarge { stage: "staged", limit })?;
    // Parameter `i` carries `x_i` and its tangents (the second-order lanes start at zero);
    // a passive input carries its value only.
    stage_lanes(g, mode, n_in, limit, &|i, l| match i.checked_sub(n) {
        None => (l < m).then(|| (l * n + i) as u32),
        Some(k) => (l == 0).then(|| (m * n + k) as u32),
    })
}

/// Stages `g` in `mode` where lane `l` of traced input `i` is the staged input
/// `seed(i, l)` (`None`: a structural zero). The returned graph reads `n_in` inputs and
/// writes the lanes of every output (in the lane order of the mode's number type).
pub(crate) fn stage_lanes(
    g: &Graph,
    mode: Mode,
    n_in: usize,
    limit: usize,
    seed: &dyn Fn(usize, usize) -> Option<u32>,
) -> JitResult<Graph> {
    let mode = mode.validate()?;
    STAGE.with(|s| s.borrow_mut().push(Builder::new(n_in, limit, true)));
    let _pop = Pop;
    let lanes = mode.outputs();
    let lane_vals = |i: usize| -> Vec<Staged> {
        (0..lanes).map(|l| seed(i, l).map_or_else(|| Staged::cst(0.0), |k| push(Op::Input(k)))).collect()
    };
    struct Run<'a> {
        g: &'a Graph,
        lane_vals: &'a dyn Fn(usize) -> Vec<Staged>,
    }
    impl WithLane for Run<'_> {
        type Out = JitResult<Vec<NodeId>>;
        fn call<L: Lane>(self) -> Self::Out {
            run(self.g, |i| L::from_lanes(&(self.lane_vals)(i)))
        }
    }
    let outputs = for_mode(mode, Run { g, lane_vals: &lane_vals })?;
    let mut b = take_top();
    if b.overflow {
        return Err(JitError::GraphTooLarge { stage: "staged", limit });
    }
    b.graph.outputs = outputs;
    b.graph.guards = g.guards.clone();
    // Guards whose operands folded to literals are decided now.
    let nodes = &b.graph.nodes;
    let decided: Vec<bool> = nodes
        .iter()
        .map(|op| match *op {
            Op::Guard { cmp, a, b: bb, expect, .. } => match (nodes[a as usize], nodes[bb as usize]) {
                (Op::Const(p), Op::Const(q)) => cmp.eval(p, q) == expect,
                _ => false,
            },
            _ => false,
        })
        .collect();
    for (i, d) in decided.into_iter().enumerate() {
        if d {
            // A guard that always holds: replace by an inert literal (dropped as dead).
            b.graph.nodes[i] = Op::Const(f64::from_bits(0x7ff8_dead_0000_0000 | i as u64));
        }
    }
    Ok(b.graph.without_dead())
}
