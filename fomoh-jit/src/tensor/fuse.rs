//! Loop-body strategies of the fused tensor loops.
//!
//! **Direct staging** pushes every lane of the mode through every op of the body (what
//! [`stage_lanes`] does for the whole loop body). **Preaccumulation** stages the body once
//! in the local mode `HyperK(m)` over its `m` active leaves, seeded with unit directions,
//! which yields the local gradient `g_a` and Hessian `H_ab` of the body from the runtime's
//! rule table; the lanes of the mode are then the second-order chain rule applied to the
//! leaves' lanes:
//!
//! ```text
//! y.d_i  = Σ_a g_a u_a.d_i
//! y.h_ij = Σ_a g_a u_a.h_ij + Σ_a u_a.d_i w_a,j      with  w_a,j = Σ_b H_ab u_b.d_j
//! ```
//!
//! (hyper-dual: `d_1, d_2 = e1, e2`, `h_12 = e12`; jet: `d = d1`, `h = d2`). The
//! elementary derivatives still come only from staging the rule table; this is composition.
//! For a body over few leaves in a mode with many lanes (Rosenbrock: `m = 2`, `K = 8`) it
//! does far less work per element; [`choose`] picks the smaller of the two staged graphs.
//!
//! The emitter helpers ([`Fusion`]) decide which multiplications are fused into
//! `fma` instructions and how a reduced lane's sum of products is folded into its
//! accumulators.

use crate::error::{JitError, JitResult};
use crate::ir::{Builder, Graph, NodeId, Op};
use crate::stage::{stage_lanes, Mode};
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
            Op::Unary(u, _) if !matches!(u, UnaryOp::Abs | UnaryOp::Sqrt | UnaryOp::Powi(1 | 2)) => 8,
            Op::Binary(BinaryOp::Pow | BinaryOp::Atan2 | BinaryOp::Hypot, ..) => 8,
            _ => 1,
        })
        .sum()
}

/// The lanes of `mode` as chain-rule terms: the first-order lanes, and per second-order lane
/// `(lane, i, j)` with `y.lane = Σ g_a u_a.lane + Σ_ab H_ab u_a.i u_b.j`.
#[allow(clippy::type_complexity)]
fn lane_terms(mode: Mode) -> (Vec<usize>, Vec<(usize, usize, usize)>) {
    match mode {
        Mode::Primal => (vec![], vec![]),
        Mode::HyperDual => (vec![1, 2], vec![(3, 1, 2)]),
        Mode::Jet => (vec![1], vec![(2, 1, 1)]),
        Mode::HyperK(k) => {
            let mut s = Vec::with_capacity(k * (k + 1) / 2);
            for i in 0..k {
                for j in i..k {
                    s.push((1 + k + packed_index(k, i, j), 1 + i, 1 + j));
                }
            }
            ((1..=k).collect(), s)
        }
    }
}

/// The rank of each lane of `mode` in the order a fused loop updates its accumulators: the
/// value and the first-order lanes, then the packed `K×K` block column by column
/// (`(0, j), (1, j), ..., (j, j)` for `j = 0, 1, ...`). Cranelift places the pure
/// instructions of a loop body where the accumulators first need them, so this order
/// decides live ranges: column by column, the column `w_j = H u_j` of a preaccumulated body
/// dies with its column instead of living through the whole block (row by row, all `K`
/// columns stay live). `K = 8` Rosenbrock: 407 instead of 455 instructions per vector
/// iteration. The output layout is unchanged (row-major packed).
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
    let y0 = lo[0];
    let grad: Vec<NodeId> = lo[1..=m].to_vec();
    let hess = |a: usize, c: usize| lo[1 + m + packed_index(m, a, c)];
    let zero = b.push(Op::Const(0.0));
    let lane = |b: &mut Builder, a: usize, l: usize| -> NodeId {
        let k = active[a];
        if present(k, l) {
            b.push(Op::Input((k * ml + l) as u32))
        } else {
            zero
        }
    };
    let sum = |b: &mut Builder, terms: Vec<NodeId>| -> NodeId {
        terms.into_iter().reduce(|s, t| b.push(Op::Binary(BinaryOp::Add, s, t))).unwrap_or(zero)
    };
    let (first, second) = lane_terms(mode);
    let mut out = vec![zero; ml];
    out[0] = y0;
    for &l in &first {
        let t: Vec<NodeId> = (0..m)
            .map(|a| {
                let u = lane(&mut b, a, l);
                b.push(Op::Binary(BinaryOp::Mul, grad[a], u))
            })
            .collect();
        out[l] = sum(&mut b, t);
    }
    // w[j][a] = Σ_c H_ac u_c.j, built on first use.
    let mut w: Vec<Option<Vec<NodeId>>> = vec![None; ml];
    for &(l, i, j) in &second {
        if w[j].is_none() {
            let col: Vec<NodeId> = (0..m)
                .map(|a| {
                    let t: Vec<NodeId> = (0..m)
                        .map(|c| {
                            let u = lane(&mut b, c, j);
                            b.push(Op::Binary(BinaryOp::Mul, hess(a, c), u))
                        })
                        .collect();
                    sum(&mut b, t)
                })
                .collect();
            w[j] = Some(col);
        }
        let wj = w[j].clone().expect("built above");
        let mut t: Vec<NodeId> = (0..m)
            .map(|a| {
                let u = lane(&mut b, a, l);
                b.push(Op::Binary(BinaryOp::Mul, grad[a], u))
            })
            .collect();
        for (a, &wa) in wj.iter().enumerate() {
            let u = lane(&mut b, a, i);
            t.push(b.push(Op::Binary(BinaryOp::Mul, u, wa)));
        }
        out[l] = sum(&mut b, t);
    }
    if b.overflow {
        return Err(JitError::GraphTooLarge { stage: "staged", limit });
    }
    b.graph.outputs = out;
    Ok(Some(b.graph.without_dead()))
}

/// How the emitter folds multiplications into `fma` instructions.
#[derive(Debug, Default)]
pub(super) struct Fusion {
    /// Nodes not emitted on their own (consumed by an `fma` or an accumulator update).
    pub skip: Vec<bool>,
    /// Per `Add` node fused with one of its operands: `(p, q, r)` for `p·q + r`.
    pub fma: Vec<Option<(NodeId, NodeId, NodeId)>>,
    /// Per stored lane: the terms added into its accumulator, `(p, Some(q))` for `p·q`
    /// and `(t, None)` for `t`; empty: add the lane's value.
    pub acc_terms: Vec<Vec<(NodeId, Option<NodeId>)>>,
}

impl Fusion {
    /// Plans the fusion for the staged body `g` whose stored lanes are `stored`. With
    /// `reduce` (the lanes are summed) and at least `chain_lanes` of them, the terms of a
    /// lane's sum go straight into its accumulator (independent accumulators hide the
    /// longer dependency chain). Without `fma`, nothing is fused.
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
        let single_mul = |i: NodeId| match g.nodes[i as usize] {
            Op::Binary(BinaryOp::Mul, p, q) if uses[i as usize] == 1 => Some((p, q)),
            _ => None,
        };
        if reduce && stored.len() >= chain_lanes {
            for (q, &o) in stored.iter().enumerate() {
                if uses[o as usize] != 1 || !matches!(g.nodes[o as usize], Op::Binary(BinaryOp::Add, ..)) {
                    continue;
                }
                let mut stack = vec![o];
                let mut terms = Vec::new();
                while let Some(i) = stack.pop() {
                    match g.nodes[i as usize] {
                        Op::Binary(BinaryOp::Add, x, y) if uses[i as usize] == 1 => {
                            f.skip[i as usize] = true;
                            stack.extend([y, x]);
                        }
                        _ => match single_mul(i) {
                            Some((p, r)) => {
                                f.skip[i as usize] = true;
                                terms.push((p, Some(r)));
                            }
                            None => terms.push((i, None)),
                        },
                    }
                }
                f.acc_terms[q] = terms;
            }
        }
        for (i, op) in g.nodes.iter().enumerate() {
            if f.skip[i] {
                continue;
            }
            if let Op::Binary(BinaryOp::Add, x, y) = *op {
                for (m, r) in [(x, y), (y, x)] {
                    if let Some((p, q)) = single_mul(m).filter(|_| !f.skip[m as usize]) {
                        f.skip[m as usize] = true;
                        f.fma[i] = Some((p, q, r));
                        break;
                    }
                }
            }
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
