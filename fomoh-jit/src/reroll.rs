//! Rerolling: a traced scalar graph whose output sums many isomorphic terms (the trace of
//! `(0..n - 1).map(|i| term(x[i], x[i + 1])).sum()`) becomes a tensor program
//! ([`crate::tensor`]) with one fused loop per group of terms instead of straight-line code.
//!
//! 1. A *sum tree* is a maximal tree of single-use `Add`, `Sub` and `Neg` nodes; it is
//!    flattened into signed terms (`a - (b + c)` has the terms `+a`, `-b`, `-c`; `-t` is the
//!    term `t` with sign `-1`). Every sum tree of at least [`MIN_GROUP`] terms that the
//!    output needs outside a term body is rerolled on its own: the outermost sum, and sums
//!    nested in its remainder or shared by its terms (the `mean` of `Σ (x_i - mean)²`,
//!    `mean = Σ x_j / n`, becomes one rank-0 tensor, itself the sum of a group, computed
//!    once).
//! 2. Each term's subgraph is canonicalized into a signature: its ops (`Neg`, unary,
//!    binary, `Select`) in a deterministic post-order, literals by bit pattern, every use of
//!    an input and every external node abstracted to a slot, and the term's sign. Nodes
//!    reached only from this term are part of it; nodes shared with other terms are
//!    recomputed inside it when small (at most 32 nodes as a tree), otherwise they are
//!    external leaves (broadcast scalars, which must then be the same node for every term of
//!    a group) and what they read is not part of the term through them.
//! 3. Terms of one signature are split into runs whose input slots are affine in the term
//!    number (`idx_k(t) = a_k + b_k·t`). Consecutive runs of one length whose starts are
//!    affine in the run number merge into a rectangle (`idx_k(i, j) = a_k + c_k·i + b_k·j`,
//!    the trace of `Σ_i Σ_j f(x_i, x_j)`); a run or rectangle of at least [`MIN_GROUP`]
//!    terms is a group.
//! 4. The tensor graph reads each slot as a parameter view (`[J]`, `[I, 1]` or `[I, J]`), a
//!    scalar (no stride) or a gather (other strides), evaluates the term body elementwise
//!    over `[J]` or `[I, J]` (groups of the same shape share one body; opposite signs are
//!    subtracted), sums it, and computes everything else (ungrouped terms, the code around
//!    the sums) as rank-0 tensor ops.
//!
//! Covered: sums written with `+`, `-` and unary minus in any association (`acc - term(i)`,
//! `a - b + c - ...`, `c - Σ ...`); nested and shared sums as above (any depth: a variance
//! around a mean, a moment scaled by that variance, ...); rectangular double sums; terms
//! with every op of the rule table (`max`, `min`, `abs`, `relu` included) and with `Select`
//! nodes (tensor `select`, which decides on the primal and takes every lane from the chosen
//! side, as the scalar select); branches inside the terms whose guards compare inputs and
//! literals only (the guards are checked before every run as below; terms on different
//! sides have different signatures, so this pays when the sides follow an affine pattern).
//! A triangular double sum `Σ_i Σ_{j>i}` is covered row by row (each row of at least
//! [`MIN_GROUP`] terms is a group, one loop per row length), if its short rows fit the
//! remainder.
//!
//! Refused (the caller keeps the straight-line path): no group forms anywhere; the rank-0
//! remainder (ungrouped terms, code around the sums, one node per sum tree, the values the
//! guards read outside the terms) is over [`MAX_REMAINDER`] nodes; guards reading values
//! computed inside the terms whose count (below) does not reroll; products and other
//! reductions that are not sums.
//! Guards are kept: those reading inputs, literals and values outside the terms are returned
//! as a primal-only graph that the caller checks before each run. Guards reading values
//! computed inside a term body (e.g. `if x[i + 1] - x[i] > 0` in every term) are checked per
//! element: the graph counting the guards whose outcome differs from the trace's
//! (`Σ select(cmp(a, b), 0, 1)`, the guards' operands computed as in the terms) is rerolled
//! too, and the caller runs its primal pass before each run (and names the failed guard from
//! the guards' graph only when the count is not zero). Derivatives still come only from
//! staging (the tensor compiler stages its loop bodies from the rule table).

mod guards;
pub(crate) mod instantiate;
#[cfg(test)]
mod tests;

use crate::ir::FxMap as HashMap;
use crate::ir::{Cmp, Graph, NodeId, Op};
use crate::tensor::{Tensor, TensorBuilder, TensorProgram};
use fomoh_runtime::{BinaryOp, UnaryOp};
use guards::{computed, guard_graph, guards_only, violation_count};

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
    Select(Cmp, [u32; 4]),
}

/// An input index affine in the row `i` and column `j` of a group: `a + row·i + col·j`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Affine {
    a: i64,
    row: i64,
    col: i64,
}

/// A group: `rows × len` terms of one signature with affine input slots (`rows = 1` for a
/// run).
#[derive(Debug)]
struct Group {
    class: usize,
    rows: usize,
    len: usize,
    /// Per slot: an affine input or a broadcast node.
    slots: Vec<Result<Affine, NodeId>>,
}

/// A run of terms of one class: members `m[start..start + len]`, input slots
/// `a_k + step_k·t`.
struct Run {
    start: usize,
    len: usize,
    step: Vec<i64>,
}

/// The rerolling plan of one sum tree.
struct Plan {
    /// The signed terms (`true`: subtracted).
    terms: Vec<(NodeId, bool)>,
    /// The canonical body of each class and its sign.
    bodies: Vec<(Vec<COp>, bool)>,
    groups: Vec<Group>,
    grouped: Vec<bool>,
    /// Every node reached from the terms.
    cone: Vec<NodeId>,
}

/// A rerolled graph: the tensor program and the guards it must check.
pub(crate) struct Rerolled {
    /// The tensor program computing the same value as the traced graph.
    pub tensor: TensorProgram,
    /// The traced guards as a primal-only graph, to check before every run (`None` if there
    /// are none, or if they are counted by `violations`).
    pub guards: Option<Graph>,
    /// Where guards read values computed inside the terms: a rerolled program counting the
    /// guards whose outcome differs from the trace's (`Σ select(cmp(a, b), 0, 1)` over the
    /// guards expecting true, and the converse), to run before every pass, and the guards
    /// as a primal-only graph that names the failed guard (evaluated only when the count is
    /// not zero).
    pub violations: Option<(TensorProgram, Graph)>,
}

/// Records that term `t` reaches a node whose owner is `o`.
fn merge(o: &mut u32, t: u32) {
    *o = if *o == NONE || *o == t { t } else { SHARED };
}

fn is_sum(op: &Op) -> bool {
    matches!(op, Op::Binary(BinaryOp::Add | BinaryOp::Sub, ..) | Op::Neg(_))
}

/// The signed terms (`true`: subtracted) of the sum tree rooted at `root`, in trace order:
/// `Add`, `Sub` and `Neg` nodes used once (`users`) are flattened; a root that is not a sum is
/// its only term.
fn sum_terms(nodes: &[Op], users: &[u32], root: NodeId) -> Vec<(NodeId, bool)> {
    if !is_sum(&nodes[root as usize]) {
        return vec![(root, false)];
    }
    let flat = |i: NodeId| is_sum(&nodes[i as usize]) && users[i as usize] == 1;
    let (mut terms, mut stack) = (Vec::new(), vec![(root, false)]);
    while let Some((n, neg)) = stack.pop() {
        if n != root && !flat(n) {
            terms.push((n, neg));
            continue;
        }
        match nodes[n as usize] {
            Op::Binary(o, a, b) => {
                stack.push((b, neg ^ (o == BinaryOp::Sub)));
                stack.push((a, neg));
            }
            Op::Neg(a) => stack.push((a, !neg)),
            _ => terms.push((n, neg)),
        }
    }
    terms
}

/// How many live nodes use each node of `g`.
pub(crate) fn users(g: &Graph) -> Vec<u32> {
    let live = g.live();
    let mut users = vec![0u32; g.nodes.len()];
    for (op, _) in g.nodes.iter().zip(&live).filter(|(_, &l)| l) {
        for a in op.args() {
            users[a as usize] += 1;
        }
    }
    users
}

/// Rerolls `g`, or says why it does not qualify (see the module documentation).
pub(crate) fn reroll(g: &Graph) -> Result<Rerolled, &'static str> {
    let [out] = g.outputs[..] else { return Err("the graph has more than one output") };
    let live = g.live();
    let nodes = &g.nodes;
    let users = users(g);
    let flat = |i: NodeId| is_sum(&nodes[i as usize]) && users[i as usize] == 1;
    // Sum-tree roots: live sum nodes not flattened into a parent sum node, with their term
    // counts (one flattened node adds its terms, any other argument is one term).
    let mut size = vec![0u32; nodes.len()];
    let mut absorbed = vec![false; nodes.len()];
    for (i, op) in nodes.iter().enumerate() {
        if live[i] && is_sum(op) {
            size[i] = op.args().map(|a| if flat(a) { size[a as usize] } else { 1 }).sum();
            for a in op.args().filter(|&a| flat(a)) {
                absorbed[a as usize] = true;
            }
        }
    }
    let roots: Vec<bool> = (0..nodes.len())
        .map(|i| live[i] && is_sum(&nodes[i]) && !absorbed[i] && size[i] as usize >= MIN_GROUP)
        .collect();
    if !roots.iter().any(|&r| r) {
        return Err("no sum of at least 8 terms (`+`, `-`, unary minus)");
    }
    // Capped tree sizes (for the inline-shared rule).
    let mut tsize = vec![0u32; nodes.len()];
    for i in 0..nodes.len() {
        let s: u32 = nodes[i].args().map(|a| tsize[a as usize]).sum();
        tsize[i] = (1 + s).min(1 << 20);
    }
    let mut b = TensorBuilder::new(g.n_inputs);
    // The data inputs (if any) are one input slot, declared even if unused (so every rerolled
    // program of `g` is run with the same inputs).
    let data = match g.n_data {
        0 => None,
        d => Some(b.input(0, &[d]).map_err(|_| "the data inputs do not fit a tensor")?),
    };
    let mut em = Emitter {
        nodes,
        users: &users,
        roots: &roots,
        tsize: &tsize,
        b,
        n_params: g.n_inputs,
        data,
        memo: HashMap::default(),
        views: HashMap::default(),
        used: 0,
        whole: None,
        inside: vec![false; nodes.len()],
        groups: 0,
    };
    const REMAINDER: &str =
        "the code outside the groups of isomorphic terms is over 64 nodes (or has an op the tensor compiler lacks)";
    let y = em.node(out).ok_or(REMAINDER)?;
    if em.groups == 0 {
        return Err("no 8 consecutive terms of one shape whose inputs are affine in the term number");
    }
    // Guards that read only values computed outside the terms are checked straight-line;
    // guards reading values inside the terms are counted by a rerolled program of their own.
    let (guards, violations) = match guard_graph(g, &em.inside) {
        Some(gg) => (gg, None),
        None => {
            const GUARDS: &str = "branches inside the terms whose checks do not reroll";
            let count = violation_count(g).ok_or(GUARDS).and_then(|v| reroll(&v).map_err(|_| GUARDS))?;
            (None, Some((count.tensor, guards_only(g).ok_or(GUARDS)?)))
        }
    };
    let outside = if violations.is_some() { 0 } else { guards.as_ref().map_or(0, computed) };
    if em.used + outside > MAX_REMAINDER {
        return Err(REMAINDER);
    }
    let tensor = em.b.finish(y).map_err(|_| "the tensor program could not be finished")?;
    Ok(Rerolled { tensor, guards, violations })
}

/// The canonical body of the term rooted at `r` and its leaves (slot order), or `None` if it
/// is too large or has an op the tensor front end lacks. Every use of an input is a slot of
/// its own (so `x_i·x_i` has the signature of `x_i·x_j`, and a rectangle `Σ_i Σ_j f(x_i, x_j)`
/// keeps its diagonal); an external node is one slot however often it is used.
fn canonical(nodes: &[Op], r: NodeId, inline: impl Fn(NodeId) -> bool) -> Option<(Vec<COp>, Vec<Leaf>)> {
    let mut local: HashMap<NodeId, u32> = HashMap::default();
    let (mut body, mut leaves) = (Vec::new(), Vec::new());
    let mut stack = vec![(r, false)];
    while let Some((n, expanded)) = stack.pop() {
        if local.contains_key(&n) {
            continue;
        }
        let op = nodes[n as usize];
        let c = match op {
            // only the root: an input argument is a slot at its use (below)
            Op::Input(i) => {
                leaves.push(Leaf::Input(i));
                COp::Input(leaves.len() as u32 - 1)
            }
            Op::Const(c) => COp::Const(c.to_bits()),
            _ if !inline(n) => {
                leaves.push(Leaf::Node(n));
                COp::Ext(leaves.len() as u32 - 1)
            }
            _ if !expanded => {
                stack.push((n, true));
                let args: Vec<NodeId> =
                    op.args().filter(|&a| !matches!(nodes[a as usize], Op::Input(_))).collect();
                stack.extend(args.into_iter().rev().map(|a| (a, false)));
                continue;
            }
            _ => {
                let mut l = |a: NodeId| match nodes[a as usize] {
                    Op::Input(i) => {
                        leaves.push(Leaf::Input(i));
                        body.push(COp::Input(leaves.len() as u32 - 1));
                        body.len() as u32 - 1
                    }
                    _ => local[&a],
                };
                match op {
                    Op::Neg(a) => COp::Neg(l(a)),
                    Op::Unary(u, a) => COp::Unary(u, l(a)),
                    Op::Binary(b, x, y) => {
                        let x = l(x);
                        COp::Binary(b, x, l(y))
                    }
                    Op::Select { cmp, a, b, t, f } => {
                        let (a, b, t) = (l(a), l(b), l(t));
                        COp::Select(cmp, [a, b, t, l(f)])
                    }
                    Op::Input(_) | Op::Const(_) | Op::Guard { .. } => return None,
                }
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

/// Splits the members `m` of one class (term indices in order, with their leaves) into
/// affine runs, then merges consecutive runs into rectangles; returns the groups.
fn groups_of(class: usize, m: &[usize], leaves: impl Fn(usize) -> Vec<Leaf>) -> Vec<(Group, usize, usize)> {
    let lv: Vec<Vec<Leaf>> = m.iter().map(|&t| leaves(t)).collect();
    let delta = |a: &[Leaf], b: &[Leaf]| -> Vec<i64> {
        a.iter()
            .zip(b)
            .map(|(a, b)| match (a, b) {
                (Leaf::Input(a), Leaf::Input(b)) => *b as i64 - *a as i64,
                _ => 0,
            })
            .collect()
    };
    // `b` is `a` moved by `d·step` (inputs) with the same external nodes.
    let moved = |a: &[Leaf], b: &[Leaf], step: &[i64], d: i64| {
        a.iter().zip(b).zip(step).all(|((a, b), st)| match (a, b) {
            (Leaf::Input(a), Leaf::Input(b)) => *a as i64 + st * d == *b as i64,
            (Leaf::Node(a), Leaf::Node(b)) => a == b,
            _ => false,
        })
    };
    let mut runs = Vec::new();
    let mut s = 0;
    while s < m.len() {
        let step = match lv.get(s + 1) {
            Some(next) => delta(&lv[s], next),
            None => vec![0; lv[s].len()],
        };
        let mut e = s + 1;
        while e < m.len() && moved(&lv[s], &lv[e], &step, (e - s) as i64) {
            e += 1;
        }
        runs.push(Run { start: s, len: e - s, step });
        s = e;
    }
    let affine = |l0: &[Leaf], row: &[i64], col: &[i64]| -> Vec<Result<Affine, NodeId>> {
        l0.iter()
            .zip(row.iter().zip(col))
            .map(|(l, (&row, &col))| match *l {
                Leaf::Input(a) => Ok(Affine { a: a as i64, row, col }),
                Leaf::Node(n) => Err(n),
            })
            .collect()
    };
    let mut out = Vec::new();
    let mut r = 0;
    while r < runs.len() {
        let r0 = &runs[r];
        let l0 = &lv[r0.start];
        let inner = r0.step.iter().any(|&b| b != 0);
        // rows: consecutive runs of the same length and step, starts affine in the row
        let mut e = r + 1;
        let mut row = vec![0; l0.len()];
        if inner && r0.len >= 2 && runs.get(r + 1).is_some_and(|r1| r1.len == r0.len && r1.step == r0.step) {
            row = delta(l0, &lv[runs[r + 1].start]);
            while e < runs.len()
                && runs[e].len == r0.len
                && runs[e].step == r0.step
                && moved(l0, &lv[runs[e].start], &row, (e - r) as i64)
            {
                e += 1;
            }
        }
        let rows = e - r;
        if rows >= 2 && rows * r0.len >= MIN_GROUP && row.iter().any(|&c| c != 0) {
            let slots = affine(l0, &row, &r0.step);
            out.push((Group { class, rows, len: r0.len, slots }, r0.start, rows * r0.len));
            r = e;
            continue;
        }
        if r0.len >= MIN_GROUP && inner {
            let slots = affine(l0, &vec![0; l0.len()], &r0.step);
            out.push((Group { class, rows: 1, len: r0.len, slots }, r0.start, r0.len));
        }
        r += 1;
    }
    out
}

/// Emits rank-0 remainder nodes, sum trees and term bodies into a [`TensorBuilder`].
struct Emitter<'a> {
    nodes: &'a [Op],
    users: &'a [u32],
    /// The roots of sum trees of at least [`MIN_GROUP`] terms.
    roots: &'a [bool],
    /// Capped tree sizes.
    tsize: &'a [u32],
    b: TensorBuilder,
    n_params: usize,
    /// The data inputs (traced inputs `n_params..`) as one `[n_data]` tensor.
    data: Option<Tensor>,
    memo: HashMap<NodeId, Tensor>,
    /// Input views already made (shared by every group reading them, so a loop loads them
    /// once).
    views: HashMap<(Affine, usize, usize), Tensor>,
    /// Remainder nodes emitted (and sum trees planned).
    used: usize,
    /// `θ` as one `[n]` tensor (gather source).
    whole: Option<Tensor>,
    /// Nodes reached from the terms of a rerolled sum.
    inside: Vec<bool>,
    /// Groups emitted.
    groups: usize,
}

impl Emitter<'_> {
    /// Counts one remainder node; `None` when over [`MAX_REMAINDER`].
    fn charge(&mut self) -> Option<()> {
        self.used += 1;
        (self.used <= MAX_REMAINDER).then_some(())
    }

    /// The rank-0 tensor of traced node `n` (a sum tree is rerolled if it can be).
    fn node(&mut self, n: NodeId) -> Option<Tensor> {
        if let Some(&t) = self.memo.get(&n) {
            return Some(t);
        }
        let op = self.nodes[n as usize];
        let t = match op {
            Op::Input(i) => self.view(Affine { a: i as i64, row: 0, col: 0 }, 1, 1)?,
            Op::Const(c) => self.b.constant(c),
            _ => {
                self.charge()?;
                match self.roots[n as usize].then(|| self.plan(n)).flatten() {
                    Some(plan) => self.sum(&plan)?,
                    None => match op {
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
                        Op::Select { cmp, a, b, t, f } => {
                            let (a, b, t, f) = (self.node(a)?, self.node(b)?, self.node(t)?, self.node(f)?);
                            self.b.select(cmp, a, b, t, f).ok()?
                        }
                        Op::Input(_) | Op::Const(_) | Op::Guard { .. } => return None,
                    },
                }
            }
        };
        self.memo.insert(n, t);
        Some(t)
    }

    /// The signed terms of the sum tree rooted at `root`, in trace order.
    fn terms(&self, root: NodeId) -> Vec<(NodeId, bool)> {
        sum_terms(self.nodes, self.users, root)
    }

    /// The groups of the sum tree rooted at `root`, or `None` if none forms.
    fn plan(&self, root: NodeId) -> Option<Plan> {
        let nodes = self.nodes;
        let terms = self.terms(root);
        // Owners: the term reaching a node, or SHARED. Users precede their arguments in the
        // reverse scan, so a node's owner is final when it is reached; a shared node too
        // large to recompute per term is an external leaf and its arguments are not reached
        // through it (`(x_i - m) / sd` keeps `x_i - m` in term `i` although `sd` reads every
        // `x_j - m` too).
        let external = |n: usize, o: u32| {
            o == SHARED
                && self.tsize[n] as usize > INLINE_SHARED
                && !matches!(nodes[n], Op::Input(_) | Op::Const(_))
        };
        let mut owner = vec![NONE; root as usize + 1];
        for (t, &(r, _)) in terms.iter().enumerate() {
            merge(&mut owner[r as usize], t as u32);
        }
        let mut cone = Vec::new();
        for i in (0..root as usize).rev() {
            let o = owner[i];
            if o == NONE {
                continue;
            }
            cone.push(i as NodeId);
            if !external(i, o) {
                for a in nodes[i].args() {
                    merge(&mut owner[a as usize], o);
                }
            }
        }
        // Canonical signatures (the sign is part of the class).
        let mut classes: HashMap<(Vec<COp>, bool), usize> = HashMap::default();
        let mut sigs: Vec<Option<(usize, Vec<Leaf>)>> = Vec::with_capacity(terms.len());
        for (t, &(r, neg)) in terms.iter().enumerate() {
            let inline = |n: NodeId| {
                n == r || owner[n as usize] == t as u32 || self.tsize[n as usize] as usize <= INLINE_SHARED
            };
            sigs.push(canonical(nodes, r, inline).map(|(body, leaves)| {
                let k = classes.len();
                (*classes.entry((body, neg)).or_insert(k), leaves)
            }));
        }
        let mut bodies: Vec<(Vec<COp>, bool)> = vec![(Vec::new(), false); classes.len()];
        for (b, k) in classes {
            bodies[k] = b;
        }
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); bodies.len()];
        for (t, s) in sigs.iter().enumerate() {
            if let Some((c, _)) = s {
                members[*c].push(t);
            }
        }
        let mut grouped = vec![false; terms.len()];
        let mut groups = Vec::new();
        for (class, m) in members.iter().enumerate() {
            let leaves = |t: usize| sigs[t].as_ref().expect("member of a class").1.clone();
            for (gr, start, count) in groups_of(class, m, leaves) {
                m[start..start + count].iter().for_each(|&t| grouped[t] = true);
                groups.push(gr);
            }
        }
        if groups.is_empty() {
            return None;
        }
        Some(Plan { terms, bodies, groups, grouped, cone })
    }

    /// The rank-0 sum of a planned sum tree.
    fn sum(&mut self, plan: &Plan) -> Option<Tensor> {
        for &n in &plan.cone {
            self.inside[n as usize] = true;
        }
        self.groups += plan.groups.len();
        // Group bodies of one shape share a loop (opposite signs are subtracted).
        let mut by_shape: Vec<((usize, usize), Tensor, bool)> = Vec::new();
        for gr in &plan.groups {
            let (body, neg) = &plan.bodies[gr.class];
            let v = self.body(body, gr)?;
            match by_shape.iter_mut().find(|(s, ..)| *s == (gr.rows, gr.len)) {
                Some((_, acc, n0)) => {
                    *acc = if neg == n0 { self.b.add(*acc, v) } else { self.b.sub(*acc, v) }.ok()?;
                }
                None => by_shape.push(((gr.rows, gr.len), v, *neg)),
            }
        }
        let mut total: Option<Tensor> = None;
        for (_, body, neg) in by_shape {
            let s = self.b.sum(body);
            total = Some(self.signed(total, s, neg)?);
        }
        for (t, &(r, neg)) in plan.terms.iter().enumerate() {
            // a zero literal (the start of `Iterator::sum`) adds nothing (up to the sign of a
            // zero result)
            if !plan.grouped[t] && !matches!(self.nodes[r as usize], Op::Const(c) if c == 0.0) {
                let v = self.node(r)?;
                total = Some(self.signed(total, v, neg)?);
            }
        }
        total
    }

    /// `acc ± v` (`±v` without `acc`).
    fn signed(&mut self, acc: Option<Tensor>, v: Tensor, neg: bool) -> Option<Tensor> {
        match (acc, neg) {
            (None, false) => Some(v),
            (None, true) => self.b.neg(v).ok(),
            (Some(a), false) => self.b.add(a, v).ok(),
            (Some(a), true) => self.b.sub(a, v).ok(),
        }
    }

    /// The body of group `gr` over `[len]` (`[rows, len]` for a rectangle).
    fn body(&mut self, body: &[COp], gr: &Group) -> Option<Tensor> {
        let mut slots = Vec::with_capacity(gr.slots.len());
        for s in &gr.slots {
            slots.push(match *s {
                Ok(af) => self.view(af, gr.rows, gr.len)?,
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
                COp::Select(cmp, [a, b, t, f]) => {
                    let v = |k: u32| vals[k as usize];
                    self.b.select(cmp, v(a), v(b), v(t), v(f)).ok()?
                }
            };
            vals.push(v);
        }
        let v = *vals.last()?;
        let want: &[usize] = if gr.rows == 1 { &[gr.len] } else { &[gr.rows, gr.len] };
        (self.b.shape_of(v).ok()? == want).then_some(v)
    }

    /// The inputs `x[a + row·i + col·j]`, `i < rows`, `j < len`, as one tensor broadcasting
    /// to `[rows, len]`: a scalar, `[len]`, `[rows, 1]` or `[rows, len]` (a parameter view
    /// when contiguous, else a gather).
    fn view(&mut self, af: Affine, rows: usize, len: usize) -> Option<Tensor> {
        let rows = if af.row == 0 { 1 } else { rows };
        let len = if af.col == 0 { 1 } else { len };
        let af =
            Affine { row: if rows == 1 { 0 } else { af.row }, col: if len == 1 { 0 } else { af.col }, ..af };
        let key = (af, rows, len);
        if let Some(&v) = self.views.get(&key) {
            return Some(v);
        }
        let shape: Vec<usize> = match (rows, len) {
            (1, 1) => vec![],
            (1, l) => vec![l],
            (r, 1) => vec![r, 1],
            (r, l) => vec![r, l],
        };
        let contiguous = match (rows, len) {
            (1, 1) => true,
            (1, _) => af.col == 1,
            (_, 1) => af.row == 1,
            (_, l) => af.col == 1 && af.row == l as i64,
        };
        // the range of the indices: parameters or data, not both
        let lo = af.a + (af.row * (rows as i64 - 1)).min(0) + (af.col * (len as i64 - 1)).min(0);
        let hi = af.a + (af.row * (rows as i64 - 1)).max(0) + (af.col * (len as i64 - 1)).max(0);
        if hi >= self.n_params as i64 {
            let v = self.data_view(af, lo, rows, len, &shape, contiguous)?;
            self.views.insert(key, v);
            return Some(v);
        }
        let start = usize::try_from(af.a).ok()?;
        let v = if contiguous {
            self.b.param(start, &shape).ok()?
        } else {
            let whole = match self.whole {
                Some(w) => w,
                None => {
                    let w = self.b.param(0, &[self.n_params]).ok()?;
                    self.whole = Some(w);
                    w
                }
            };
            let idx = (0..rows as i64)
                .flat_map(|i| (0..len as i64).map(move |j| af.a + af.row * i + af.col * j))
                .map(|k| usize::try_from(k).ok())
                .collect::<Option<Vec<_>>>()?;
            self.b.gather(whole, idx, &shape).ok()?
        };
        self.views.insert(key, v);
        Some(v)
    }

    /// [`Emitter::view`] of data inputs (every index, from `lo`, at or past `n_params`): a
    /// slice of the data tensor when contiguous, else a gather.
    fn data_view(
        &mut self,
        af: Affine,
        lo: i64,
        rows: usize,
        len: usize,
        shape: &[usize],
        contiguous: bool,
    ) -> Option<Tensor> {
        let data = self.data?;
        let n = self.n_params as i64;
        if lo < n {
            return None;
        }
        let a = af.a - n;
        if contiguous && !shape.is_empty() {
            let start = usize::try_from(a).ok()?;
            let s = self.b.slice(data, start, start + rows * len).ok()?;
            return if shape.len() == 1 { Some(s) } else { self.b.reshape(s, shape).ok() };
        }
        let idx = (0..rows as i64)
            .flat_map(|i| (0..len as i64).map(move |j| a + af.row * i + af.col * j))
            .map(|k| usize::try_from(k).ok())
            .collect::<Option<Vec<_>>>()?;
        self.b.gather(data, idx, shape).ok()
    }
}
