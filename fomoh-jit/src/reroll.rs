//! Rerolling: a traced scalar graph whose output sums many isomorphic terms (the trace of
//! `(0..n - 1).map(|i| term(x[i], x[i + 1])).sum()`) becomes a tensor program
//! ([`crate::tensor`]) with one fused loop per group of terms instead of straight-line code.
//!
//! 1. The largest tree of single-use `Add` nodes is flattened into its terms.
//! 2. Each term's subgraph is canonicalized into a signature: its ops in a deterministic
//!    post-order, literals by bit pattern, inputs and external nodes abstracted to slots.
//!    Nodes reached only from this term are part of it; nodes shared with other terms are
//!    recomputed inside it when small, otherwise they are external leaves (broadcast
//!    scalars, which must then be the same node for every term of a group).
//! 3. Terms of one signature are split into runs whose input slots are affine in the term
//!    number (`idx_k(t) = a_k + b_k·t`); a run of at least [`MIN_GROUP`] terms is a group.
//! 4. The tensor graph reads each slot as a parameter view (`b = 1`), a scalar (`b = 0`) or a
//!    gather (other strides), evaluates the term body elementwise over `[T]` (groups of the
//!    same length share one body), sums it, and computes everything else (ungrouped terms,
//!    the code around the sum) as rank-0 tensor ops.
//!
//! Rerolling is refused (the caller keeps the straight-line path) when no group forms, when
//! the rank-0 remainder is over [`MAX_REMAINDER`] nodes, when the graph has a `Select`, or
//! when a guard reads a value computed inside the terms. Guards outside the terms are kept:
//! they are returned as a primal-only graph that the caller checks before each run.
//! Derivatives still come only from staging (the tensor compiler stages its loop bodies from
//! the rule table).

use crate::ir::{Graph, NodeId, Op};
use crate::tensor::{Tensor, TensorBuilder, TensorProgram};
use fomoh_runtime::{BinaryOp, UnaryOp};
use std::collections::HashMap;

/// The fewest terms of one signature (with affine inputs) that form a group.
pub const MIN_GROUP: usize = 8;
/// The most nodes computed outside the groups (rank-0 remainder and guard operands).
pub const MAX_REMAINDER: usize = 64;
/// The most nodes in one term body.
const MAX_TERM_NODES: usize = 256;
/// Shared nodes up to this (tree) size are recomputed inside each term using them.
const INLINE_SHARED: usize = 32;

const NONE: u32 = u32::MAX;
const SHARED: u32 = u32::MAX - 1;

/// A leaf of a term: an input or a node computed outside the term.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Leaf {
    Input(u32),
    Node(NodeId),
}

/// One op of a canonical term body (arguments are body-local indices).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum COp {
    /// Input slot `k`.
    Input(u32),
    /// External (broadcast scalar) slot `k`.
    Ext(u32),
    Const(u64),
    Neg(u32),
    Unary(UnaryOp, u32),
    Binary(BinaryOp, u32, u32),
}

/// A group: terms of one signature with affine input slots.
#[derive(Debug)]
struct Group {
    class: usize,
    len: usize,
    /// Per slot: `Ok((a, b))` for an input `a + b·t`, `Err(node)` for a broadcast node.
    slots: Vec<Result<(i64, i64), NodeId>>,
}

/// A rerolled graph: the tensor program and the guards it must check.
pub(crate) struct Rerolled {
    /// The tensor program computing the same value as the traced graph.
    pub tensor: TensorProgram,
    /// The traced guards as a primal-only graph (`None` if there are none).
    pub guards: Option<Graph>,
}

/// Rerolls `g`, or `None` if it does not qualify (see the module documentation).
pub(crate) fn reroll(g: &Graph) -> Option<Rerolled> {
    let [out] = g.outputs[..] else { return None };
    let live = g.live();
    let nodes = &g.nodes;
    if nodes.iter().zip(&live).any(|(op, &l)| l && matches!(op, Op::Select { .. })) {
        return None;
    }
    let mut users = vec![0u32; nodes.len()];
    for (op, _) in nodes.iter().zip(&live).filter(|(_, &l)| l) {
        for a in op.args() {
            users[a as usize] += 1;
        }
    }
    let is_add = |i: NodeId| matches!(nodes[i as usize], Op::Binary(BinaryOp::Add, ..));
    let flat = |i: NodeId| is_add(i) && users[i as usize] == 1;
    // Add-tree roots: live Adds that are not flattened into a parent Add.
    let mut absorbed = vec![false; nodes.len()];
    for (i, op) in nodes.iter().enumerate() {
        if live[i] && is_add(i as NodeId) {
            for a in op.args() {
                if flat(a) {
                    absorbed[a as usize] = true;
                }
            }
        }
    }
    let terms_of = |root: NodeId| -> (Vec<NodeId>, Vec<NodeId>) {
        let (mut terms, mut tree, mut stack) = (Vec::new(), Vec::new(), vec![root]);
        while let Some(n) = stack.pop() {
            if n == root || flat(n) {
                tree.push(n);
                if let Op::Binary(_, a, b) = nodes[n as usize] {
                    stack.push(b);
                    stack.push(a);
                }
            } else {
                terms.push(n);
            }
        }
        (terms, tree)
    };
    // The largest tree (count its size cheaply first: one flattened Add adds one term).
    let mut size = vec![0u32; nodes.len()];
    let mut best: Option<(u32, NodeId)> = None;
    for i in 0..nodes.len() {
        if live[i] && is_add(i as NodeId) {
            let s: u32 = nodes[i].args().map(|a| if flat(a) { size[a as usize] } else { 1 }).sum();
            size[i] = s;
            if !absorbed[i] && best.is_none_or(|(b, _)| s > b) {
                best = Some((s, i as NodeId));
            }
        }
    }
    let (count, root) = best?;
    if (count as usize) < MIN_GROUP {
        return None;
    }
    let (terms, tree) = terms_of(root);
    let mut in_tree = vec![false; nodes.len()];
    tree.iter().for_each(|&n| in_tree[n as usize] = true);

    // Owners: the term reaching a node, or SHARED.
    let mut owner = vec![NONE; nodes.len()];
    let merge = |o: &mut u32, t: u32| {
        *o = if *o == NONE || *o == t { t } else { SHARED };
    };
    for (t, &r) in terms.iter().enumerate() {
        merge(&mut owner[r as usize], t as u32);
    }
    for i in (0..=root as usize).rev() {
        let o = owner[i];
        if o == NONE || in_tree[i] {
            continue;
        }
        for a in nodes[i].args() {
            merge(&mut owner[a as usize], o);
        }
    }
    // Capped tree sizes (for the inline-shared rule).
    let mut tsize = vec![0u32; root as usize + 1];
    for i in 0..=root as usize {
        let s: u32 = nodes[i].args().map(|a| tsize[a as usize]).sum();
        tsize[i] = (1 + s).min(1 << 20);
    }

    // Canonical signatures.
    let mut classes: HashMap<Vec<COp>, usize> = HashMap::new();
    let mut sigs: Vec<Option<(usize, Vec<Leaf>)>> = Vec::with_capacity(terms.len());
    for (t, &r) in terms.iter().enumerate() {
        let inline = |n: NodeId| {
            n == r || owner[n as usize] == t as u32 || tsize[n as usize] as usize <= INLINE_SHARED
        };
        sigs.push(canonical(nodes, r, inline).map(|(body, leaves)| {
            let k = classes.len();
            (*classes.entry(body).or_insert(k), leaves)
        }));
    }
    let mut bodies: Vec<Vec<COp>> = vec![Vec::new(); classes.len()];
    for (b, k) in classes {
        bodies[k] = b;
    }

    // Groups: affine runs within each class, in term order.
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); bodies.len()];
    for (t, s) in sigs.iter().enumerate() {
        if let Some((c, _)) = s {
            members[*c].push(t);
        }
    }
    let mut grouped = vec![false; terms.len()];
    let mut groups = Vec::new();
    for (class, m) in members.iter().enumerate() {
        let leaves = |j: usize| &sigs[m[j]].as_ref().expect("member of a class").1;
        let mut s = 0;
        while s < m.len() {
            let l0 = leaves(s);
            let step: Vec<i64> = match m.get(s + 1) {
                Some(_) => l0
                    .iter()
                    .zip(leaves(s + 1))
                    .map(|(a, b)| match (a, b) {
                        (Leaf::Input(a), Leaf::Input(b)) => *b as i64 - *a as i64,
                        _ => 0,
                    })
                    .collect(),
                None => vec![0; l0.len()],
            };
            let fits = |j: usize| {
                let d = (j - s) as i64;
                l0.iter().zip(leaves(j)).zip(&step).all(|((a, b), st)| match (a, b) {
                    (Leaf::Input(a), Leaf::Input(b)) => *a as i64 + st * d == *b as i64,
                    (Leaf::Node(a), Leaf::Node(b)) => a == b,
                    _ => false,
                })
            };
            let mut e = s + 1;
            while e < m.len() && fits(e) {
                e += 1;
            }
            if e - s >= MIN_GROUP && step.iter().any(|&b| b != 0) {
                let slots = l0
                    .iter()
                    .zip(&step)
                    .map(|(l, &b)| match *l {
                        Leaf::Input(a) => Ok((a as i64, b)),
                        Leaf::Node(n) => Err(n),
                    })
                    .collect();
                groups.push(Group { class, len: e - s, slots });
                m[s..e].iter().for_each(|&t| grouped[t] = true);
            }
            s = e;
        }
    }
    if groups.is_empty() {
        return None;
    }

    // Guards: none may read a value computed inside the terms.
    let guards = guard_graph(g, &owner)?;

    // The tensor graph.
    let mut em = Emitter {
        nodes,
        b: TensorBuilder::new(g.n_inputs),
        n_params: g.n_inputs,
        memo: HashMap::new(),
        views: HashMap::new(),
        budget: MAX_REMAINDER.saturating_sub(guards.as_ref().map_or(0, |g| g.nodes.len())),
        whole: None,
        root,
        sum: None,
    };
    // Group sums: bodies of one length share a loop.
    let mut by_len: Vec<(usize, Tensor)> = Vec::new();
    for gr in &groups {
        let body = em.body(&bodies[gr.class], gr)?;
        match by_len.iter_mut().find(|(l, _)| *l == gr.len) {
            Some((_, acc)) => *acc = em.b.add(*acc, body).ok()?,
            None => by_len.push((gr.len, body)),
        }
    }
    let mut total: Option<Tensor> = None;
    for (_, body) in by_len {
        let s = em.b.sum(body);
        total = Some(match total {
            Some(t) => em.b.add(t, s).ok()?,
            None => s,
        });
    }
    for (t, &r) in terms.iter().enumerate() {
        // a zero literal (the start of `Iterator::sum`) adds nothing (up to the sign of a
        // zero result)
        if !grouped[t] && !matches!(nodes[r as usize], Op::Const(c) if c == 0.0) {
            let v = em.node(r)?;
            total = Some(em.b.add(total?, v).ok()?);
        }
    }
    em.sum = total;
    let y = em.node(out)?;
    if !em.memo.contains_key(&root) {
        return None; // the sum is not in the output's cone
    }
    let tensor = em.b.finish(y).ok()?;
    Some(Rerolled { tensor, guards })
}

/// The canonical body of the term rooted at `r` and its leaves (slot order), or `None` if it
/// is too large or has an op the tensor front end lacks.
fn canonical(nodes: &[Op], r: NodeId, inline: impl Fn(NodeId) -> bool) -> Option<(Vec<COp>, Vec<Leaf>)> {
    let mut local: HashMap<NodeId, u32> = HashMap::new();
    let (mut body, mut leaves) = (Vec::new(), Vec::new());
    let mut stack = vec![(r, false)];
    while let Some((n, expanded)) = stack.pop() {
        if local.contains_key(&n) {
            continue;
        }
        let op = nodes[n as usize];
        let leaf = match op {
            Op::Input(i) => Some(Leaf::Input(i)),
            Op::Const(_) => None,
            _ if !inline(n) => Some(Leaf::Node(n)),
            _ => None,
        };
        let c = if let Some(l) = leaf {
            leaves.push(l);
            let k = leaves.len() as u32 - 1;
            if matches!(l, Leaf::Input(_)) {
                COp::Input(k)
            } else {
                COp::Ext(k)
            }
        } else if let Op::Const(c) = op {
            COp::Const(c.to_bits())
        } else if !expanded {
            stack.push((n, true));
            let args: Vec<NodeId> = op.args().collect();
            stack.extend(args.into_iter().rev().map(|a| (a, false)));
            continue;
        } else {
            let l = |a: NodeId| local[&a];
            match op {
                Op::Neg(a) => COp::Neg(l(a)),
                Op::Unary(u, a) => COp::Unary(u, l(a)),
                Op::Binary(b, x, y) => COp::Binary(b, l(x), l(y)),
                _ => return None,
            }
        };
        local.insert(n, body.len() as u32);
        body.push(c);
        if body.len() > MAX_TERM_NODES {
            return None;
        }
    }
    Some((body, leaves))
}

/// The guards of `g` as a primal-only graph (output a literal), `None` inside if there are
/// none; `None` outside if a guard reads a node computed inside the terms or the guards'
/// operands are too many nodes.
#[allow(clippy::option_option)]
fn guard_graph(g: &Graph, owner: &[u32]) -> Option<Option<Graph>> {
    if !g.nodes.iter().any(|op| matches!(op, Op::Guard { .. })) {
        return Some(None);
    }
    let mut gg = g.clone();
    gg.nodes.push(Op::Const(0.0));
    gg.outputs = vec![gg.nodes.len() as NodeId - 1];
    let live = gg.live();
    for (i, op) in g.nodes.iter().enumerate() {
        let computed = !matches!(op, Op::Input(_) | Op::Const(_));
        if live[i] && computed && owner.get(i).is_some_and(|&o| o != NONE) {
            return None;
        }
    }
    let gg = gg.without_dead();
    let computed = gg.nodes.iter().filter(|op| !matches!(op, Op::Input(_) | Op::Const(_))).count();
    (computed <= MAX_REMAINDER).then_some(Some(gg))
}

/// Emits rank-0 remainder nodes and term bodies into a [`TensorBuilder`].
struct Emitter<'a> {
    nodes: &'a [Op],
    b: TensorBuilder,
    n_params: usize,
    memo: HashMap<NodeId, Tensor>,
    /// Input views already made: `(a, b, len)` (`len = 0`: a scalar).
    views: HashMap<(i64, i64, usize), Tensor>,
    /// Remainder nodes still allowed.
    budget: usize,
    /// `θ` as one `[n]` tensor (gather source).
    whole: Option<Tensor>,
    /// The rerolled Add tree and its value.
    root: NodeId,
    sum: Option<Tensor>,
}

impl Emitter<'_> {
    /// The rank-0 tensor of traced node `n` (the tree root is the rerolled sum).
    fn node(&mut self, n: NodeId) -> Option<Tensor> {
        if let Some(&t) = self.memo.get(&n) {
            return Some(t);
        }
        if n == self.root {
            let s = self.sum?;
            self.memo.insert(n, s);
            return Some(s);
        }
        let op = self.nodes[n as usize];
        let t = match op {
            Op::Input(i) => self.view(i as i64, 0, 0)?,
            Op::Const(c) => self.b.constant(c),
            _ => {
                self.budget = self.budget.checked_sub(1)?;
                match op {
                    Op::Neg(a) => {
                        let a = self.node(a)?;
                        self.b.neg(a).ok()?
                    }
                    Op::Unary(u, a) => {
                        let a = self.node(a)?;
                        self.b.unary(u, a).ok()?
                    }
                    Op::Binary(o, x, y) => {
                        let (x, y) = (self.node(x)?, self.node(y)?);
                        self.b.binary(o, x, y).ok()?
                    }
                    _ => return None,
                }
            }
        };
        self.memo.insert(n, t);
        Some(t)
    }

    /// The body of group `gr` over `[len]`.
    fn body(&mut self, body: &[COp], gr: &Group) -> Option<Tensor> {
        let t = gr.len;
        let mut slots = Vec::with_capacity(gr.slots.len());
        for s in &gr.slots {
            slots.push(match *s {
                Ok((a, b)) => self.view(a, b, t)?,
                Err(node) => self.node(node)?,
            });
        }
        let mut vals: Vec<Tensor> = Vec::with_capacity(body.len());
        for c in body {
            let v = match *c {
                COp::Input(k) | COp::Ext(k) => slots[k as usize],
                COp::Const(bits) => self.b.constant(f64::from_bits(bits)),
                COp::Neg(a) => self.b.neg(vals[a as usize]).ok()?,
                COp::Unary(u, a) => self.b.unary(u, vals[a as usize]).ok()?,
                COp::Binary(o, x, y) => self.b.binary(o, vals[x as usize], vals[y as usize]).ok()?,
            };
            vals.push(v);
        }
        let v = *vals.last()?;
        (self.b.shape_of(v).ok()? == [t]).then_some(v)
    }

    /// The inputs `x[a + b·j]`, `j < t`, as one tensor (shared by every group reading them,
    /// so the loop loads them once): a scalar (`b = 0`), a view (`b = 1`) or a gather.
    fn view(&mut self, a: i64, b: i64, t: usize) -> Option<Tensor> {
        let key = (a, b, if b == 0 { 0 } else { t });
        if let Some(&v) = self.views.get(&key) {
            return Some(v);
        }
        let v = match (a, b) {
            (a, 0) => self.b.param(a as usize, &[]).ok()?,
            (a, 1) => self.b.param(a as usize, &[t]).ok()?,
            (a, b) => {
                let whole = match self.whole {
                    Some(w) => w,
                    None => {
                        let w = self.b.param(0, &[self.n_params]).ok()?;
                        self.whole = Some(w);
                        w
                    }
                };
                let idx =
                    (0..t as i64).map(|j| usize::try_from(a + b * j).ok()).collect::<Option<Vec<_>>>()?;
                self.b.gather(whole, idx, &[t]).ok()?
            }
        };
        self.views.insert(key, v);
        Some(v)
    }
}
