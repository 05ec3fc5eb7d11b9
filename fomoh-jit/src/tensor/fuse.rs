//! Loop-body strategies of the fused tensor loops.
//!
//! **Direct staging** pushes every lane of the mode through every op of the body (what
//! [`stage_lanes`] does for the whole loop body). **Preaccumulation** stages the body once
//! in the local mode `HyperK(m)` over its `m` active leaves, seeded with unit directions,
//! which yields the local gradient `g_a` and Hessian `H_ab` of the body from the runtime's
//! rule table; the lanes of the mode are then the second-order chain rule applied to the
//! leaves' lanes, staged from the runtime's own `lift_n` of the mode's number type:
//!
//! ```text
//! y.d_i  = Σ_a g_a u_a.d_i
//! y.h_ij = Σ_a g_a u_a.h_ij + Σ_a u_a.d_i w_a,j      with  w_a,j = Σ_b H_ab u_b.d_j
//! ```
//!
//! (hyper-dual: `d_1, d_2 = e1, e2`, `h_12 = e12`; jet: `d = d1`, `h = d2`). Nothing here
//! restates a derivative: the local derivatives come from staging the rule table, their
//! composition from staging the number types' chain rule.
//! For a body over few leaves in a mode with many lanes (Rosenbrock: `m = 2`, `K = 8`) it
//! does far less work per element; [`choose`] picks the smaller of the two staged graphs.
//!
//! The emitter helpers ([`Fusion`]) decide which multiplications are fused into
//! `fma` instructions and how a reduced lane's sum of products is folded into its
//! accumulators.

use crate::error::{JitError, JitResult};
use crate::ir::{Builder, Graph, NodeId, Op};
use crate::stage::{stage_lanes, stage_lift_n, Mode};
use fomoh_runtime::{packed_index, BinaryOp, UnaryOp};

/// How the body of a fused loop is staged in a derivative mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum LoopStrategy {
    /// Per loop, whichever of the two staged bodies has fewer nodes.
    #[default]
    Auto,
    /// Always push every lane through every op of the body.
    Direct,
    /// Preaccumulate the body's local gradient and Hessian over its active leaves and apply
    /// the chain rule to the leaves' lanes, wherever applicable (a derivative mode, at most
    /// 16 active leaves and a body within the node limit); elsewhere direct.
    Preaccumulate,
}

/// The largest number of active leaves preaccumulation handles (the `HyperK` limit).
const MAX_LEAVES: usize = 16;

/// Stages the loop body `g` (leaf `k`'s lane `l` is staged input `k * ml + l`, present iff
/// `present(k, l)`) in `mode` with the chosen strategy. Returns the staged graph and
/// whether it was preaccumulated.
pub(super) fn choose(
    g: &Graph,
    mode: Mode,
    strategy: LoopStrategy,
    limit: usize,
    present: &dyn Fn(usize, usize) -> bool,
) -> JitResult<(Graph, bool)> {
    let ml = mode.outputs();
    let seed = |k: usize, lane: usize| present(k, lane).then_some((k * ml + lane) as u32);
    let n_in = g.n_inputs * ml;
    if strategy == LoopStrategy::Direct || mode == Mode::Primal {
        return Ok((stage_lanes(g, mode, n_in, limit, &seed)?, false));
    }
    // A preaccumulated body that does not fit the node limit is simply not a candidate.
    let pre = preaccumulate(g, mode, limit, present).ok().flatten();
    if strategy == LoopStrategy::Preaccumulate {
        if let Some(p) = pre {
            return Ok((p, true));
        }
        return Ok((stage_lanes(g, mode, n_in, limit, &seed)?, false));
    }
    // Auto: the smaller body (the direct one may also overflow the limit).
    let direct = stage_lanes(g, mode, n_in, limit, &seed);
    match (direct, pre) {
        (Ok(d), Some(p)) => Ok(if cost(&p) < cost(&d) { (p, true) } else { (d, false) }),
        (Ok(d), None) => Ok((d, false)),
        (Err(_), Some(p)) => Ok((p, true)),
        (Err(e), None) => Err(e),
    }
}

/// The work per element of a staged body: its computed nodes (extern calls weigh more).
pub(super) fn cost(g: &Graph) -> usize {
    g.nodes
        .iter()
        .map(|op| match op {
            Op::Input(_) | Op::Const(_) => 0,
            Op::Unary(u, _) if !crate::lower::is_native_unary(*u) => 8,
            Op::Binary(BinaryOp::Pow | BinaryOp::Atan2 | BinaryOp::Hypot, ..) => 8,
            _ => 1,
        })
        .sum()
}

/// The rank of each lane of `mode` in the order a fused loop updates its accumulators: the
/// value and the first-order lanes, then the packed `K×K` block column by column
/// (`(0, j), (1, j), ..., (j, j)` for `j = 0, 1, ...`). Cranelift places the pure
/// instructions of a loop body where the accumulators first need them, so this order
/// decides live ranges: column by column, the column `w_j = H u_j` of a preaccumulated body
/// dies with its column instead of living through the whole block (row by row, all `K`
/// columns stay live; `K = 8` Rosenbrock went from 455 to 407 instructions per vector
/// iteration). The output layout is unchanged (row-major packed).
pub(super) fn update_rank(mode: Mode) -> Vec<usize> {
    let mut rank: Vec<usize> = (0..mode.outputs()).collect();
    if let Mode::HyperK(k) = mode {
        let mut next = 1 + k;
        for j in 0..k {
            for i in 0..=j {
                rank[1 + k + packed_index(k, i, j)] = next;
                next += 1;
            }
        }
    }
    rank
}

/// The preaccumulated body, or `None` where it does not apply (the primal mode, no active
/// leaf, or more than [`MAX_LEAVES`] of them).
pub(super) fn preaccumulate(
    g: &Graph,
    mode: Mode,
    limit: usize,
    present: &dyn Fn(usize, usize) -> bool,
) -> JitResult<Option<Graph>> {
    let ml = mode.outputs();
    let n = g.n_inputs;
    let active: Vec<usize> = (0..n).filter(|&k| (1..ml).any(|l| present(k, l))).collect();
    let m = active.len();
    if mode == Mode::Primal || m == 0 || m > MAX_LEAVES {
        return Ok(None);
    }
    // The local pass: leaf `active[a]` carries its primal and the unit direction `a`,
    // a placeholder input `unit + a` replaced by the literal 1 below.
    let unit = n * ml;
    let mut slot = vec![usize::MAX; n];
    for (a, &k) in active.iter().enumerate() {
        slot[k] = a;
    }
    let lm = Mode::HyperK(m).outputs();
    let seed = |k: usize, lane: usize| match lane {
        0 => present(k, 0).then_some((k * ml) as u32),
        l if slot[k] != usize::MAX && l == 1 + slot[k] => Some((unit + slot[k]) as u32),
        _ => None,
    };
    let local = stage_lanes(g, Mode::HyperK(m), unit + m, limit, &seed)?;
    debug_assert_eq!(local.outputs.len(), lm);
    let mut b = Builder::new(unit, limit, true);
    let mut map: Vec<NodeId> = Vec::with_capacity(local.nodes.len());
    for op in &local.nodes {
        let f = |a: NodeId| map[a as usize];
        let new = match *op {
            Op::Input(j) if j as usize >= unit => Op::Const(1.0),
            Op::Input(_) | Op::Const(_) => *op,
            Op::Neg(a) => Op::Neg(f(a)),
            Op::Unary(u, a) => Op::Unary(u, f(a)),
            Op::Binary(o, x, y) => Op::Binary(o, f(x), f(y)),
            Op::Select { cmp, a, b: bb, t, f: ff } => {
                Op::Select { cmp, a: f(a), b: f(bb), t: f(t), f: f(ff) }
            }
            Op::Guard { .. } => return Err(JitError::Unsupported("guards in a tensor loop".into())),
        };
        map.push(b.push(new));
    }
    let lo: Vec<NodeId> = local.outputs.iter().map(|&o| map[o as usize]).collect();
    // The chain rule is the runtime's own (`lift_n` of the mode's number type), staged.
    let leaves: Vec<Vec<Option<NodeId>>> = active
        .iter()
        .map(|&k| {
            (0..ml)
                .map(|l| (l > 0 && present(k, l)).then(|| b.push(Op::Input((k * ml + l) as u32))))
                .collect()
        })
        .collect();
    let (mut b, out) = stage_lift_n(b, mode, &leaves, lo[0], &lo[1..=m], &lo[1 + m..])?;
    if b.overflow {
        return Err(JitError::GraphTooLarge { stage: "staged", limit });
    }
    b.graph.outputs = out;
    Ok(Some(b.graph.without_dead()))
}

/// The staged body `g` with its negations moved to where they cost nothing: into the sign
/// of a product or quotient, into `Add`/`Sub` (`x + (-y)` is `x - y`), through the even
/// functions that drop them (`powi` with an even exponent, `abs`), and out of negative
/// literals (`c · x` with `c < 0` is `-(|c| · x)`, so `2` and `-2` are one register).
/// Every rewrite is an IEEE identity (negation is exact), up to the sign of a zero sum.
/// A negation is only materialized where an operand of another op needs it, and at the
/// outputs. Rosenbrock's local derivatives have two (`-(x + x)`, `-(2 (1 - x))`), each
/// three instructions on x86-64 (a sign mask built, then `xor`).
pub(super) fn fold_signs(g: &Graph) -> Graph {
    use BinaryOp::{Add, Div, Mul, Sub};
    // No zero identities (`0 · x = 0` is not IEEE): signs only, and exact constant folding.
    let mut b = Builder::new(g.n_inputs, usize::MAX, false);
    // Per node of `g`: (node of the new graph, negated).
    let mut map: Vec<(NodeId, bool)> = Vec::with_capacity(g.nodes.len());
    let plain = |b: &mut Builder, (x, neg): (NodeId, bool)| if neg { b.push(Op::Neg(x)) } else { x };
    for op in &g.nodes {
        let m = |a: NodeId| map[a as usize];
        let r = match *op {
            Op::Const(c) if c < 0.0 => (b.push(Op::Const(-c)), true),
            Op::Input(_) | Op::Const(_) => (b.push(*op), false),
            Op::Neg(a) => {
                let (x, n) = m(a);
                (x, !n)
            }
            Op::Binary(o @ (Mul | Div), x, y) => {
                let ((x, nx), (y, ny)) = (m(x), m(y));
                (b.push(Op::Binary(o, x, y)), nx ^ ny)
            }
            Op::Binary(o @ (Add | Sub), x, y) => {
                let ((x, nx), (y, ny)) = (m(x), m(y));
                // Whether `y` enters `x ± y` with a minus sign.
                let minus_y = ny ^ (o == Sub);
                match (nx, minus_y) {
                    (false, false) => (b.push(Op::Binary(Add, x, y)), false),
                    (false, true) => (b.push(Op::Binary(Sub, x, y)), false),
                    (true, false) => (b.push(Op::Binary(Sub, y, x)), false),
                    (true, true) => (b.push(Op::Binary(Add, x, y)), true),
                }
            }
            Op::Unary(u @ (UnaryOp::Abs | UnaryOp::Powi(_)), a) if !matches!(u, UnaryOp::Powi(k) if k % 2 != 0) => {
                (b.push(Op::Unary(u, m(a).0)), false)
            }
            Op::Unary(u, a) => {
                let x = plain(&mut b, m(a));
                (b.push(Op::Unary(u, x)), false)
            }
            Op::Binary(o, x, y) => {
                let (x, y) = (plain(&mut b, m(x)), plain(&mut b, m(y)));
                (b.push(Op::Binary(o, x, y)), false)
            }
            Op::Select { cmp, a, b: bb, t, f } => {
                let [a, bb, t, f] = [a, bb, t, f].map(|v| plain(&mut b, m(v)));
                (b.push(Op::Select { cmp, a, b: bb, t, f }), false)
            }
            Op::Guard { cmp, a, b: bb, expect, site } => {
                let [a, bb] = [a, bb].map(|v| plain(&mut b, m(v)));
                (b.push(Op::Guard { cmp, a, b: bb, expect, site }), false)
            }
        };
        map.push(r);
    }
    b.graph.outputs = g.outputs.iter().map(|&o| plain(&mut b, map[o as usize])).collect();
    b.graph.guards = g.guards.clone();
    b.graph.without_dead()
}

/// One fused multiply-add, `±(p·q) ± r`: `p·q + r`, `r - p·q` (`neg_product`, an `fnmadd`)
/// or `p·q - r` (`neg_addend`, an `fmsub`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Fma {
    pub p: NodeId,
    pub q: NodeId,
    pub r: NodeId,
    pub neg_product: bool,
    pub neg_addend: bool,
}

/// One term of an accumulator update: `acc ± p·q` (`q` present) or `acc ± p`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct AccTerm {
    pub p: NodeId,
    pub q: Option<NodeId>,
    pub negate: bool,
}

/// How the emitter folds multiplications into `fma` instructions.
#[derive(Debug, Default)]
pub(super) struct Fusion {
    /// Nodes not emitted on their own (consumed by an `fma` or an accumulator update).
    pub skip: Vec<bool>,
    /// Per `Add`/`Sub` node fused with a product operand: the `fma` it becomes.
    pub fma: Vec<Option<Fma>>,
    /// Per stored lane: the terms added into (or subtracted from) its accumulator; empty:
    /// add the lane's value.
    pub acc_terms: Vec<Vec<AccTerm>>,
}

impl Fusion {
    /// Plans the fusion for the staged body `g` whose stored lanes are `stored`. With
    /// `reduce` (the lanes are summed) and at least `chain_lanes` of them, the terms of a
    /// lane's sum (a tree of `Add`/`Sub`/`Neg`) go straight into its accumulator (independent
    /// accumulators hide the longer dependency chain). Without `fma`, nothing is fused.
    pub fn plan(g: &Graph, stored: &[NodeId], reduce: bool, fma: bool, chain_lanes: usize) -> Fusion {
        let n = g.nodes.len();
        let mut f =
            Fusion { skip: vec![false; n], fma: vec![None; n], acc_terms: vec![Vec::new(); stored.len()] };
        if !fma {
            return f;
        }
        let mut uses = vec![0usize; n];
        for op in &g.nodes {
            for a in op.args() {
                uses[a as usize] += 1;
            }
        }
        for &o in stored {
            uses[o as usize] += 1;
        }
        // x86-64 has only the `fma` forms that overwrite a multiplicand (213/132), so the
        // first multiplicand is the one to lose: a value used once (it dies there) rather
        // than a literal or a value used again, which would cost a register copy.
        let keep = |i: NodeId| (matches!(g.nodes[i as usize], Op::Const(_)), uses[i as usize] > 1);
        let single_mul = |i: NodeId| match g.nodes[i as usize] {
            Op::Binary(BinaryOp::Mul, p, q) if uses[i as usize] == 1 => {
                Some(if keep(q) < keep(p) { (q, p) } else { (p, q) })
            }
            _ => None,
        };
        let sum = |i: NodeId| match g.nodes[i as usize] {
            Op::Binary(o @ (BinaryOp::Add | BinaryOp::Sub), x, y) => Some((x, y, o == BinaryOp::Sub)),
            _ => None,
        };
        if reduce && stored.len() >= chain_lanes {
            for (q, &o) in stored.iter().enumerate() {
                let neg = matches!(g.nodes[o as usize], Op::Neg(_));
                if uses[o as usize] != 1 || (sum(o).is_none() && !neg) {
                    continue;
                }
                let mut stack = vec![(o, false)];
                let mut terms = Vec::new();
                while let Some((i, negate)) = stack.pop() {
                    match (sum(i), g.nodes[i as usize]) {
                        (Some((x, y, sub)), _) if uses[i as usize] == 1 => {
                            f.skip[i as usize] = true;
                            stack.extend([(y, negate ^ sub), (x, negate)]);
                        }
                        (_, Op::Neg(a)) if uses[i as usize] == 1 => {
                            f.skip[i as usize] = true;
                            stack.push((a, !negate));
                        }
                        _ => match single_mul(i) {
                            Some((p, r)) => {
                                f.skip[i as usize] = true;
                                terms.push(AccTerm { p, q: Some(r), negate });
                            }
                            None => terms.push(AccTerm { p: i, q: None, negate }),
                        },
                    }
                }
                f.acc_terms[q] = terms;
            }
        }
        for i in 0..n {
            if f.skip[i] {
                continue;
            }
            let Some((x, y, sub)) = sum(i as NodeId) else { continue };
            // `x + p·q`, `p·q + y`, `x - p·q`, `p·q - y`.
            for (m, r, first) in [(x, y, true), (y, x, false)] {
                if let Some((p, q)) = single_mul(m).filter(|_| !f.skip[m as usize]) {
                    f.skip[m as usize] = true;
                    f.fma[i] = Some(Fma { p, q, r, neg_product: sub && !first, neg_addend: sub && first });
                    break;
                }
            }
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Cmp;

    /// A random graph over 3 inputs from a seed (a small LCG): negations, negative
    /// literals, sums, differences, products, quotients, even and odd powers, `abs`,
    /// `sin` and a select, with 1-3 outputs.
    fn random_graph(seed: u64) -> Graph {
        let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let mut next = |m: usize| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 33) as usize) % m
        };
        let mut g = Graph { n_inputs: 3, ..Graph::default() };
        for i in 0..3 {
            g.nodes.push(Op::Input(i));
        }
        let consts = [-2.0, -1.5, -0.0, 0.5, 2.0, 3.0];
        for _ in 0..12 + next(12) {
            let n = g.nodes.len() as NodeId;
            let (a, b) = (next(n as usize) as NodeId, next(n as usize) as NodeId);
            let op = match next(12) {
                0 | 1 => Op::Neg(a),
                2 => Op::Const(consts[next(consts.len())]),
                3 => Op::Binary(BinaryOp::Add, a, b),
                4 | 5 => Op::Binary(BinaryOp::Sub, a, b),
                6 | 7 => Op::Binary(BinaryOp::Mul, a, b),
                8 => Op::Binary(BinaryOp::Div, a, b),
                9 => Op::Unary([UnaryOp::Powi(2), UnaryOp::Powi(3), UnaryOp::Abs][next(3)], a),
                10 => Op::Unary(UnaryOp::Sin, a),
                _ => Op::Select { cmp: Cmp::Gt, a, b, t: a, f: b },
            };
            g.nodes.push(op);
        }
        let n = g.nodes.len();
        g.outputs = (0..1 + next(3)).map(|k| (n - 1 - k.min(n - 1)) as NodeId).collect();
        g
    }

    /// Folding the signs computes the same numbers (equal as floats: a zero may change its
    /// sign) and removes most negations (one can be duplicated where a negated value meets
    /// two ops that cannot take its sign, e.g. two outputs); a body whose negations all meet
    /// products and sums keeps none, and its negative literals become their magnitudes.
    #[test]
    fn signs_fold_exactly_and_remove_negations() {
        let negs = |g: &Graph| g.nodes.iter().filter(|o| matches!(o, Op::Neg(_))).count();
        let (mut before, mut after) = (0, 0);
        for seed in 0..2000u64 {
            let g = random_graph(seed).without_dead();
            let f = fold_signs(&g);
            before += negs(&g);
            after += negs(&f);
            for k in 0..4 {
                let x: Vec<f64> =
                    (0..3).map(|i| ((seed * 7 + k * 3 + i) as f64 * 0.77).sin() * 2.0).collect();
                let (a, b) = (crate::interp::eval(&g, &x).unwrap(), crate::interp::eval(&f, &x).unwrap());
                for (p, q) in a.iter().zip(&b) {
                    assert!(
                        p == q || (p.is_nan() && q.is_nan()),
                        "seed {seed} at {x:?}: {p} vs {q}\n{g:?}\n{f:?}"
                    );
                }
            }
        }
        // (Many of the random negations feed `sin`, odd powers or selects: they stay.)
        assert!(before > 1000 && after * 4 < before * 3, "negations: {before} before, {after} after");
        // y - (-2)·(-(x + x)) + (1 - x)·(-3): no negation and no negative literal left.
        let mut b = Builder::new(2, 100, true);
        let (x, y) = (b.push(Op::Input(0)), b.push(Op::Input(1)));
        let xx = b.push(Op::Binary(BinaryOp::Add, x, x));
        let n = b.push(Op::Neg(xx));
        let m2 = b.push(Op::Const(-2.0));
        let p = b.push(Op::Binary(BinaryOp::Mul, m2, n));
        let d = b.push(Op::Binary(BinaryOp::Sub, y, p));
        let one = b.push(Op::Const(1.0));
        let s = b.push(Op::Binary(BinaryOp::Sub, one, x));
        let m3 = b.push(Op::Const(-3.0));
        let q = b.push(Op::Binary(BinaryOp::Mul, s, m3));
        let out = b.push(Op::Binary(BinaryOp::Add, d, q));
        b.graph.outputs = vec![out];
        let f = fold_signs(&b.graph);
        assert_eq!(negs(&f), 0, "{f:?}");
        assert!(f.nodes.iter().all(|o| !matches!(o, Op::Const(c) if *c < 0.0)), "{f:?}");
        let at = [0.3, -1.1];
        assert_eq!(crate::interp::eval(&f, &at).unwrap(), crate::interp::eval(&b.graph, &at).unwrap());
    }

    /// Differences fuse like sums: `r - p·q` and `p·q - r` become `fma`s with a negated
    /// product or addend, and an accumulated lane's terms keep their signs.
    #[test]
    fn differences_fuse_into_fma_with_signs() {
        let mut g = Graph { n_inputs: 4, ..Graph::default() };
        for i in 0..4 {
            g.nodes.push(Op::Input(i));
        }
        let pq = |g: &mut Graph, a: NodeId, b: NodeId| {
            g.nodes.push(Op::Binary(BinaryOp::Mul, a, b));
            g.nodes.len() as NodeId - 1
        };
        let m1 = pq(&mut g, 0, 1);
        g.nodes.push(Op::Binary(BinaryOp::Sub, 2, m1)); // 5: x2 - x0·x1
        let m2 = pq(&mut g, 2, 3);
        g.nodes.push(Op::Binary(BinaryOp::Sub, m2, 0)); // 7: x2·x3 - x0
        g.outputs = vec![5, 7];
        let f = Fusion::plan(&g, &[5, 7], false, true, 4);
        // x0 is used again (in 7), x1 only here: x1 is the multiplicand the `fma` overwrites.
        assert_eq!(f.fma[5], Some(Fma { p: 1, q: 0, r: 2, neg_product: true, neg_addend: false }));
        assert_eq!(f.fma[7], Some(Fma { p: 3, q: 2, r: 0, neg_product: false, neg_addend: true }));
        assert!(f.skip[4] && f.skip[6]);
        // Summed lanes: (x2 - x0·x1) - (x2·x3 - x0) into one accumulator (x0 and x1 are
        // stored lanes too, so neither dies in the product: the order stays).
        g.nodes.push(Op::Binary(BinaryOp::Sub, 5, 7)); // 8
        g.outputs = vec![8, 0, 1, 2];
        let f = Fusion::plan(&g, &[8, 0, 1, 2], true, true, 4);
        let t = |p, q, negate| AccTerm { p, q, negate };
        assert_eq!(
            f.acc_terms[0],
            vec![t(2, None, false), t(0, Some(1), true), t(3, Some(2), true), t(0, None, false)]
        );
        // A negated lane: its terms change sign.
        g.nodes.push(Op::Neg(8)); // 9
        g.outputs = vec![9, 0, 1, 2];
        let f = Fusion::plan(&g, &[9, 0, 1, 2], true, true, 4);
        assert_eq!(
            f.acc_terms[0],
            vec![t(2, None, true), t(0, Some(1), false), t(3, Some(2), false), t(0, None, true)]
        );
    }

    /// The update order is a permutation of the lanes: value, first-order lanes, then the
    /// packed block column by column.
    #[test]
    fn accumulators_are_updated_column_by_column() {
        assert_eq!(update_rank(Mode::HyperDual), vec![0, 1, 2, 3]);
        let k = 3;
        let rank = update_rank(Mode::HyperK(k));
        let mut order: Vec<usize> = (0..rank.len()).collect();
        order.sort_by_key(|&l| rank[l]);
        let p = |i, j| 1 + k + packed_index(k, i, j);
        assert_eq!(order, vec![0, 1, 2, 3, p(0, 0), p(0, 1), p(1, 1), p(0, 2), p(1, 2), p(2, 2)]);
        for k in 1..=16 {
            let mut r = update_rank(Mode::HyperK(k));
            r.sort_unstable();
            assert_eq!(r, (0..Mode::HyperK(k).outputs()).collect::<Vec<_>>(), "K = {k}");
        }
    }
}
