//! The graph IR: a flat, topologically ordered list of nodes.
//!
//! The same IR holds the *traced* graph (what the user's function computes, with the
//! elementary functions of [`UnaryOp`]/[`BinaryOp`] and the guards recorded for branches)
//! and the *staged* graph (the primal and every derivative lane, lowered to the primitives
//! of [`fomoh_runtime::Real`] by instantiating the runtime's rules, see [`crate::stage`]).
//! Node ids are indices; every argument of a node precedes it.
//!
//! The op set is scalar for now. Every node has a [`Shape`]; scalar nodes have the empty
//! shape, and the tensor ops (reductions, matmul, movement) are meant to join this enum with
//! their static shapes.

use core::hash::{BuildHasherDefault, Hash, Hasher};
use fomoh_runtime::{BinaryOp, UnaryOp};
use std::collections::HashMap;

/// Index of a node in its [`Graph`].
pub type NodeId = u32;

/// The static shape of a node's value (empty for scalars).
pub type Shape = Vec<usize>;

/// A comparison of two primal values (IEEE semantics, as Rust's operators).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cmp {
    /// `a < b`.
    Lt,
    /// `a <= b`.
    Le,
    /// `a > b`.
    Gt,
    /// `a >= b`.
    Ge,
    /// `a == b`.
    Eq,
    /// `a != b` (true if either is NaN).
    Ne,
    /// Either is NaN.
    Unordered,
}

impl Cmp {
    /// Evaluates the comparison.
    #[inline]
    pub fn eval(self, a: f64, b: f64) -> bool {
        match self {
            Cmp::Lt => a < b,
            Cmp::Le => a <= b,
            Cmp::Gt => a > b,
            Cmp::Ge => a >= b,
            Cmp::Eq => a == b,
            Cmp::Ne => a != b,
            Cmp::Unordered => a.is_nan() || b.is_nan(),
        }
    }

    /// The operator's symbol, for messages.
    pub fn symbol(self) -> &'static str {
        match self {
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
            Cmp::Eq => "==",
            Cmp::Ne => "!=",
            Cmp::Unordered => "unordered with",
        }
    }
}

/// One node of the graph.
#[derive(Clone, Copy, Debug)]
pub enum Op {
    /// The `i`-th entry of the flat input buffer.
    Input(u32),
    /// A literal.
    Const(f64),
    /// `-a`.
    Neg(NodeId),
    /// An elementary function from the runtime's rule table.
    Unary(UnaryOp, NodeId),
    /// A binary function (arithmetic included).
    Binary(BinaryOp, NodeId, NodeId),
    /// `if cmp(a, b) { t } else { f }`, on primal values.
    Select {
        /// The comparison.
        cmp: Cmp,
        /// Left operand.
        a: NodeId,
        /// Right operand.
        b: NodeId,
        /// Value when the comparison holds.
        t: NodeId,
        /// Value otherwise.
        f: NodeId,
    },
    /// A branch decision recorded at trace time: at run time `cmp(a, b)` must equal
    /// `expect`, otherwise the program stops with a guard failure naming `site`.
    Guard {
        /// The comparison.
        cmp: Cmp,
        /// Left operand.
        a: NodeId,
        /// Right operand.
        b: NodeId,
        /// The outcome observed while tracing.
        expect: bool,
        /// Index into [`Graph::guards`].
        site: u32,
    },
}

impl Op {
    /// The node's arguments.
    pub fn args(&self) -> impl Iterator<Item = NodeId> {
        let (v, n): ([NodeId; 4], usize) = match *self {
            Op::Input(_) | Op::Const(_) => ([0; 4], 0),
            Op::Neg(a) | Op::Unary(_, a) => ([a, 0, 0, 0], 1),
            Op::Binary(_, a, b) | Op::Guard { a, b, .. } => ([a, b, 0, 0], 2),
            Op::Select { a, b, t, f, .. } => ([a, b, t, f], 4),
        };
        v.into_iter().take(n)
    }

    /// Whether the node is a literal.
    pub fn is_const(&self) -> bool {
        matches!(self, Op::Const(_))
    }

    /// The static shape of the node's value (every current op is scalar).
    pub fn shape(&self) -> Shape {
        Vec::new()
    }
}

impl PartialEq for Op {
    fn eq(&self, o: &Self) -> bool {
        use Op::*;
        match (*self, *o) {
            (Input(a), Input(b)) => a == b,
            (Const(a), Const(b)) => a.to_bits() == b.to_bits(),
            (Neg(a), Neg(b)) => a == b,
            (Unary(p, a), Unary(q, b)) => p == q && a == b,
            (Binary(p, a, b), Binary(q, c, d)) => p == q && a == c && b == d,
            (Select { cmp, a, b, t, f }, Select { cmp: c2, a: a2, b: b2, t: t2, f: f2 }) => {
                cmp == c2 && a == a2 && b == b2 && t == t2 && f == f2
            }
            (Guard { cmp, a, b, expect, site }, Guard { cmp: c2, a: a2, b: b2, expect: e2, site: s2 }) => {
                cmp == c2 && a == a2 && b == b2 && expect == e2 && site == s2
            }
            _ => false,
        }
    }
}
impl Eq for Op {}

impl Hash for Op {
    fn hash<H: Hasher>(&self, h: &mut H) {
        core::mem::discriminant(self).hash(h);
        match *self {
            Op::Input(i) => i.hash(h),
            Op::Const(c) => c.to_bits().hash(h),
            Op::Neg(a) => a.hash(h),
            Op::Unary(op, a) => {
                op.hash(h);
                a.hash(h)
            }
            Op::Binary(op, a, b) => {
                op.hash(h);
                a.hash(h);
                b.hash(h)
            }
            Op::Select { cmp, a, b, t, f } => {
                cmp.hash(h);
                [a, b, t, f].hash(h)
            }
            Op::Guard { cmp, a, b, expect, site } => {
                cmp.hash(h);
                [a, b, site].hash(h);
                expect.hash(h)
            }
        }
    }
}

/// What a guard checked at trace time (for error messages).
#[derive(Clone, Debug, PartialEq)]
pub struct GuardInfo {
    /// The comparison.
    pub cmp: Cmp,
    /// Its outcome at trace time.
    pub expect: bool,
    /// The primal operands at trace time.
    pub operands: (f64, f64),
}

impl GuardInfo {
    /// A one-line description: `"a < b was true at trace time (a = 1, b = 2)"`.
    pub fn describe(&self, site: u32) -> String {
        format!(
            "guard #{site}: `a {} b` was {} at trace time (a = {}, b = {})",
            self.cmp.symbol(),
            self.expect,
            self.operands.0,
            self.operands.1
        )
    }
}

/// A graph: nodes in topological order, the outputs, and the guard descriptions.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Graph {
    /// The nodes; each node's arguments precede it.
    pub nodes: Vec<Op>,
    /// The output nodes, in order.
    pub outputs: Vec<NodeId>,
    /// The number of active inputs (parameters): `Op::Input(i)` for `i < n_inputs`, the
    /// entries of `x` that directions move.
    pub n_inputs: usize,
    /// The number of passive inputs (data bound at call time, no tangent):
    /// `Op::Input(n_inputs + k)` for `k < n_data`.
    pub n_data: usize,
    /// One entry per guard site.
    pub guards: Vec<GuardInfo>,
}

impl Graph {
    /// A 64-bit structural hash of the graph (nodes, outputs, input counts).
    pub fn structural_hash(&self) -> u64 {
        let mut h = FxHasher::default();
        self.nodes.hash(&mut h);
        self.outputs.hash(&mut h);
        self.n_inputs.hash(&mut h);
        self.n_data.hash(&mut h);
        h.finish()
    }

    /// Turns the guards whose site satisfies `which` into literals (nothing reads a guard's
    /// value, so they are no longer live).
    pub(crate) fn drop_guards(&mut self, which: impl Fn(u32) -> bool) {
        for op in self.nodes.iter_mut() {
            if matches!(*op, Op::Guard { site, .. } if which(site)) {
                *op = Op::Const(0.0);
            }
        }
    }

    /// The nodes reachable from the outputs and the guards.
    pub fn live(&self) -> Vec<bool> {
        let mut live = vec![false; self.nodes.len()];
        for &o in &self.outputs {
            live[o as usize] = true;
        }
        for (i, op) in self.nodes.iter().enumerate().rev() {
            if matches!(op, Op::Guard { .. }) {
                live[i] = true;
            }
            if live[i] {
                for a in op.args() {
                    live[a as usize] = true;
                }
            }
        }
        live
    }

    /// The number of nodes reachable from the outputs and guards.
    pub fn live_count(&self) -> usize {
        self.live().iter().filter(|&&b| b).count()
    }

    /// A copy without dead nodes (ids renumbered, order kept).
    pub fn without_dead(&self) -> Graph {
        let live = self.live();
        let mut map = vec![NodeId::MAX; self.nodes.len()];
        let mut nodes = Vec::with_capacity(live.iter().filter(|&&b| b).count());
        for (i, op) in self.nodes.iter().enumerate() {
            if !live[i] {
                continue;
            }
            let m = |a: NodeId| map[a as usize];
            let new = match *op {
                Op::Input(_) | Op::Const(_) => *op,
                Op::Neg(a) => Op::Neg(m(a)),
                Op::Unary(u, a) => Op::Unary(u, m(a)),
                Op::Binary(b, x, y) => Op::Binary(b, m(x), m(y)),
                Op::Select { cmp, a, b, t, f } => Op::Select { cmp, a: m(a), b: m(b), t: m(t), f: m(f) },
                Op::Guard { cmp, a, b, expect, site } => Op::Guard { cmp, a: m(a), b: m(b), expect, site },
            };
            map[i] = nodes.len() as NodeId;
            nodes.push(new);
        }
        Graph {
            nodes,
            outputs: self.outputs.iter().map(|&o| map[o as usize]).collect(),
            n_inputs: self.n_inputs,
            n_data: self.n_data,
            guards: self.guards.clone(),
        }
    }
}

/// The Fx hash (rustc's): fast and good enough for hash-consing node keys.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(b));
        }
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.write_u64(i as u64)
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.write_u64(i as u64)
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64)
    }
    /// Rotated so that the well-mixed high bits of the product reach the low bits that pick
    /// a bucket (as rustc-hash 2 does): without it, hash-consing tables of millions of nodes
    /// probe long chains.
    #[inline]
    fn finish(&self) -> u64 {
        self.0.rotate_left(26)
    }
}

pub(crate) type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// How far ahead of its position a replayed pass looks for its node in the tape.
pub(crate) const REPLAY_WINDOW: usize = 64;

/// The nodes a pass's pushes returned, in order (computed nodes only: literals and inputs are
/// in the builder's full table), and the position of a later pass replaying it
/// ([`Builder::push_replayed`]).
#[derive(Debug, Default)]
pub(crate) struct Tape {
    /// The ids returned, in push order.
    pub ids: Vec<NodeId>,
    /// The replay's position in `ids`.
    pub at: usize,
    /// Whether the pass recording now replays (else it records).
    pub replay: bool,
    /// The number of nodes when the replay began (the earlier pass's nodes are below it).
    pub first_end: NodeId,
}

/// Builds a graph with hash-consing (common-subexpression elimination; see
/// [`Builder::recent_only`]), constant folding and, if `fold_zeros`, the algebraic
/// identities that drop structurally-zero lanes.
#[derive(Debug)]
pub(crate) struct Builder {
    pub graph: Graph,
    memo: FxMap<Op, NodeId>,
    /// A direct-mapped table of recent nodes, used instead of `memo` (see
    /// [`Builder::recent_only`]).
    recent: Option<Box<[(Op, NodeId)]>>,
    limit: usize,
    fold_zeros: bool,
    /// Set when the node limit was hit; later pushes return node 0.
    pub overflow: bool,
}

impl Builder {
    pub fn new(n_inputs: usize, limit: usize, fold_zeros: bool) -> Self {
        Builder {
            graph: Graph { n_inputs, ..Graph::default() },
            memo: FxMap::default(),
            recent: None,
            limit,
            fold_zeros,
            overflow: false,
        }
    }

    /// Hash-conses computed nodes through a direct-mapped table of recent nodes (2¹⁴
    /// entries, half a megabyte: it stays in cache; literals and inputs, few distinct, keep
    /// the full table) instead of a table of every node: for traces, where a
    /// table over millions of nodes costs a cache miss or two per node (most of tracing
    /// time). It finds what user code recomputes nearby (a literal, the same expression in
    /// every term of a sum) and may miss a repeat from far back, which costs a node, never a
    /// wrong one (the stager's own hash-consing shares it again).
    pub fn recent_only(mut self) -> Self {
        self.recent = Some(vec![(Op::Const(f64::NAN), NodeId::MAX); 1 << 14].into_boxed_slice());
        self
    }

    /// The slot of `op` in the recent-node table.
    fn recent_slot(op: &Op, len: usize) -> usize {
        let mut h = FxHasher::default();
        op.hash(&mut h);
        (h.0 >> 40) as usize & (len - 1)
    }

    fn konst(&self, id: NodeId) -> Option<f64> {
        match self.graph.nodes.get(id as usize) {
            Some(Op::Const(c)) => Some(*c),
            _ => None,
        }
    }

    /// Adds a node (or finds or folds it) and returns its id.
    pub fn push(&mut self, op: Op) -> NodeId {
        let op = match self.simplify(op) {
            Ok(id) => return id,
            Err(op) => op,
        };
        let slot = match &self.recent {
            // literals and inputs (few distinct) stay in the full table
            Some(t) if !matches!(op, Op::Const(_) | Op::Input(_)) => {
                let k = Self::recent_slot(&op, t.len());
                if t[k].1 != NodeId::MAX && t[k].0 == op {
                    return t[k].1;
                }
                Some(k)
            }
            _ => {
                if let Some(&id) = self.memo.get(&op) {
                    return id;
                }
                None
            }
        };
        if self.graph.nodes.len() >= self.limit {
            self.overflow = true;
            return 0;
        }
        let id = self.graph.nodes.len() as NodeId;
        self.graph.nodes.push(op);
        match (slot, &mut self.recent) {
            (Some(k), Some(t)) => t[k] = (op, id),
            _ => {
                self.memo.insert(op, id);
            }
        }
        id
    }

    /// [`Builder::push`] in a pass that replays an earlier one (the flipped pass of a branch
    /// trace): the node is first looked for among those the earlier pass's pushes returned
    /// from the tape's position on (at most [`REPLAY_WINDOW`] ahead; found, the position
    /// moves past it), then as far behind it, so that the two passes share the nodes they
    /// both compute without a table of every node. Not found (the other side of a branch):
    /// an ordinary push.
    pub fn push_replayed(&mut self, op: Op, tape: &mut Tape) -> NodeId {
        let op = match self.simplify(op) {
            Ok(id) => return id,
            Err(op) => op,
        };
        // a node reading one the earlier pass did not make is not one of its nodes
        if op.args().any(|a| a >= tape.first_end) {
            return self.push(op);
        }
        let same = |k: usize| self.graph.nodes.get(tape.ids[k] as usize) == Some(&op);
        let end = tape.ids.len().min(tape.at.saturating_add(REPLAY_WINDOW));
        if let Some(k) = (tape.at..end).find(|&k| same(k)) {
            tape.at = k + 1;
            return tape.ids[k];
        }
        // behind the position: what the other side of a branch shares with this side (`|r|`
        // in both sides of a Huber term); the position stays
        let start = tape.at.saturating_sub(REPLAY_WINDOW);
        if let Some(k) = (start..tape.at.min(tape.ids.len())).rev().find(|&k| same(k)) {
            return tape.ids[k];
        }
        self.push(op)
    }

    fn cst(&mut self, c: f64) -> Result<NodeId, Op> {
        Ok(self.push(Op::Const(c)))
    }

    /// Either an existing node equal to `op`, or `op` itself (possibly rewritten).
    // Guards spell out the float comparisons (`-0.0` counts as zero too).
    #[allow(clippy::redundant_guards)]
    fn simplify(&mut self, op: Op) -> Result<NodeId, Op> {
        let k = |s: &Self, a| s.konst(a);
        match op {
            Op::Neg(a) => {
                if let Some(c) = k(self, a) {
                    return self.cst(-c);
                }
                if let Some(Op::Neg(x)) = self.graph.nodes.get(a as usize) {
                    return Ok(*x);
                }
            }
            Op::Unary(u, a) => {
                if let Some(c) = k(self, a) {
                    return self.cst(u.eval(c));
                }
            }
            Op::Binary(b, x, y) => {
                let (cx, cy) = (k(self, x), k(self, y));
                if let (Some(p), Some(q)) = (cx, cy) {
                    return self.cst(b.eval(p, q));
                }
                if self.fold_zeros {
                    use BinaryOp::*;
                    match (b, cx, cy) {
                        (Add, Some(z), _) if z == 0.0 => return Ok(y),
                        (Add | Sub, _, Some(z)) if z == 0.0 => return Ok(x),
                        (Sub, Some(z), _) if z == 0.0 => return Ok(self.push(Op::Neg(y))),
                        (Mul, Some(z), _) | (Mul, _, Some(z)) if z == 0.0 => return self.cst(0.0),
                        (Mul, Some(o), _) if o == 1.0 => return Ok(y),
                        (Mul | Div, _, Some(o)) if o == 1.0 => return Ok(x),
                        (Mul, Some(o), _) if o == -1.0 => return Ok(self.push(Op::Neg(y))),
                        (Mul | Div, _, Some(o)) if o == -1.0 => return Ok(self.push(Op::Neg(x))),
                        (Div, Some(z), _) if z == 0.0 => return self.cst(0.0),
                        _ => {}
                    }
                }
            }
            Op::Select { cmp, a, b, t, f } => {
                if t == f {
                    return Ok(t);
                }
                if let (Some(p), Some(q)) = (k(self, a), k(self, b)) {
                    return Ok(if cmp.eval(p, q) { t } else { f });
                }
            }
            Op::Input(_) | Op::Const(_) | Op::Guard { .. } => {}
        }
        Err(op)
    }
}
