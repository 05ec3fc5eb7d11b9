//! Branches as selects: a traced function and its flipped trace (every guarded comparison
//! decided the other way, [`crate::trace`]) merged into one branch-free graph.
//!
//! For a sum whose terms each branch on values they compute (a Huber or hinge term per data
//! point: `s += if r.abs() > c { .. } else { .. }`), the two traces have the same terms at the
//! same positions except the branching ones, and one guard per branching term, the guards of
//! the two traces comparing the same nodes with opposite outcomes. Each such term becomes
//! `select(cmp(a, b), taken, other)`: both sides are computed, the comparison picks the value
//! and every derivative lane of one side (a true select: a non-finite value on the side not
//! taken does not leak). The merged graph has no guard, so it serves every input and every
//! data set without tracing again, and the rerolling pass sees terms of one signature.
//!
//! A function that is one branch (`if x > y { f(x, y) } else { g(x, y) }`) is the case of one
//! term: the two outputs become one select.
//!
//! The pairing is checked, not assumed: the same number of terms, signs and guards in both
//! traces; the k-th guard pair belongs to the k-th differing term (it was recorded after the
//! previous differing term and before the next, in both traces); the merged graph computes
//! the first trace's value at the trace point. Anything else (a guard outside the terms, two
//! guards in one term, a term whose shape depends on another term's branch) is refused and
//! the caller keeps the guarded trace.

use crate::ir::{Graph, NodeId, Op};
use crate::reroll::users;
use fomoh_runtime::BinaryOp;

/// A recorded guard: node id, comparison, operands, expected outcome.
#[derive(Clone, Copy)]
struct Guard {
    node: NodeId,
    cmp: crate::ir::Cmp,
    a: NodeId,
    b: NodeId,
    expect: bool,
}

/// Merges the two outputs of `g` (the first trace and its flipped trace; the guards of the
/// first have the sites `0..first`) into one output with a select per branching term, or
/// `None` when the traces do not pair up as described in the module docs. `at` is the trace
/// point (parameters, then data) for the final check.
pub(crate) fn merge(g: &Graph, first: usize, at: &[f64]) -> Option<Graph> {
    let [o1, o2] = g.outputs[..] else { return None };
    let (mut g1, mut g2) = (Vec::new(), Vec::new());
    for (i, op) in g.nodes.iter().enumerate() {
        if let Op::Guard { cmp, a, b, expect, site } = *op {
            let gd = Guard { node: i as NodeId, cmp, a, b, expect };
            if (site as usize) < first {
                g1.push(gd);
            } else {
                g2.push(gd);
            }
        }
    }
    let pairs_up = |p: &Guard, q: &Guard| p.cmp == q.cmp && p.a == q.a && p.b == q.b && p.expect != q.expect;
    if g1.is_empty() || g1.len() != g2.len() || !g1.iter().zip(&g2).all(|(p, q)| pairs_up(p, q)) {
        return None;
    }
    let users = users(g);
    let pairs = paired_terms(&g.nodes, &users, o1, o2);
    let (mut t1, mut t2): (Vec<_>, Vec<_>) = pairs.iter().map(|&(a, b, neg)| ((a, neg), (b, neg))).unzip();
    if t1.iter().zip(&t2).filter(|(p, q)| p.0 != q.0).count() != g1.len() {
        // one branch around the whole function: each output is one term
        (t1, t2) = (vec![(o1, false)], vec![(o2, false)]);
    }
    let differ: Vec<usize> = (0..t1.len()).filter(|&i| t1[i].0 != t2[i].0).collect();
    if differ.len() != g1.len() {
        return None;
    }
    // guard k was recorded after the term before the k-th differing one, and before the
    // term after it, in both traces (in the flipped trace, a term it shares with the first
    // trace, found by hash-consing, has the first trace's place: only its own nodes, after
    // the first output, are compared)
    for (terms, guards, own_after) in [(&t1, &g1, 0), (&t2, &g2, o1)] {
        let ordered = |a: NodeId, b: NodeId| a < b || a <= own_after || b <= own_after;
        for (k, gd) in guards.iter().enumerate() {
            let after_prev = k == 0 || ordered(terms[differ[k - 1]].0, gd.node);
            let before_next = k + 1 == differ.len() || ordered(gd.node, terms[differ[k + 1]].0);
            if !(after_prev && before_next) {
                return None;
            }
        }
    }
    // The merged graph: guards dropped (nothing reads their value), one select per branching
    // term, the signed sum of the terms in order.
    let mut m = g.clone();
    m.drop_guards(|_| true);
    m.guards.clear();
    let mut push = |op: Op| {
        m.nodes.push(op);
        m.nodes.len() as NodeId - 1
    };
    let mut acc: Option<NodeId> = None;
    let mut k = 0;
    for (i, &(r1, neg)) in t1.iter().enumerate() {
        let term = if differ.get(k) == Some(&i) {
            let gd = g1[k];
            k += 1;
            let (t, f) = if gd.expect { (r1, t2[i].0) } else { (t2[i].0, r1) };
            push(Op::Select { cmp: gd.cmp, a: gd.a, b: gd.b, t, f })
        } else {
            r1
        };
        acc = Some(match (acc, neg) {
            (None, false) => term,
            (None, true) => push(Op::Neg(term)),
            (Some(s), false) => push(Op::Binary(BinaryOp::Add, s, term)),
            (Some(s), true) => push(Op::Binary(BinaryOp::Sub, s, term)),
        });
    }
    m.outputs = vec![acc?];
    let m = m.without_dead();
    // at the trace point the selects take the first trace's branches: the same value
    let mut first_only = g.clone();
    first_only.outputs.truncate(1);
    first_only.drop_guards(|site| site as usize >= first);
    let (want, got) = (crate::interp::eval(&first_only, at).ok()?[0], crate::interp::eval(&m, at).ok()?[0]);
    let same = (want - got).abs() <= 1e-12 * want.abs().max(got.abs()) || (want.is_nan() && got.is_nan());
    same.then_some(m)
}

/// The terms of the two sum trees at `o1` and `o2`, walked together: where both traces have
/// the same sum node (`+`, `-`, unary minus; used once, or the root) their arguments are
/// walked pairwise, and anywhere else the pair is one term, `(first, flipped, subtracted)`.
/// So the terms split where the traces part, at the branch: a side that is itself a sum
/// (`r.abs() - 0.5` against `r * r`) stays one term.
fn paired_terms(nodes: &[Op], users: &[u32], o1: NodeId, o2: NodeId) -> Vec<(NodeId, NodeId, bool)> {
    let flat = |n: NodeId, root: NodeId| n == root || users[n as usize] == 1;
    let (mut out, mut stack) = (Vec::new(), vec![(o1, o2, false)]);
    while let Some((a, b, neg)) = stack.pop() {
        if a == b || !flat(a, o1) || !flat(b, o2) {
            out.push((a, b, neg));
            continue;
        }
        match (nodes[a as usize], nodes[b as usize]) {
            (Op::Binary(p @ (BinaryOp::Add | BinaryOp::Sub), a1, a2), Op::Binary(q, b1, b2)) if p == q => {
                stack.push((a2, b2, neg ^ (p == BinaryOp::Sub)));
                stack.push((a1, b1, neg));
            }
            (Op::Neg(a1), Op::Neg(b1)) => stack.push((a1, b1, !neg)),
            _ => out.push((a, b, neg)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::trace::{trace_flipped, Sharing, Tracer};
    use fomoh_runtime::Scalar;

    /// `Σ_i huber(x_0 - d_i)` with the linear side recomputing `|r|` and a literal product.
    fn huber(x: &[Tracer], d: &[Tracer]) -> Tracer {
        let (c, half) = (Tracer::from_f64(1.345), Tracer::from_f64(0.5));
        let mut s = Tracer::zero();
        for &v in d {
            let r = x[0] - v;
            s += if r.abs() > c { c * (r.abs() - half * c) } else { half * r * r };
        }
        s
    }

    #[test]
    fn replayed_and_tabled_flipped_traces_merge_into_the_same_rerollable_sum() {
        let (x, d) = ([f64::NAN], vec![f64::NAN; 3000]);
        let at: Vec<f64> = x.iter().chain(&d).copied().collect();
        let mut sizes = Vec::new();
        for sharing in [Sharing::Replay, Sharing::Table] {
            let (both, first) = trace_flipped(&x, &d, huber, sharing, 1 << 20).unwrap().unwrap();
            let m = super::merge(&both, first, &at).expect("the traces pair up");
            assert!(m.guards.is_empty());
            assert!(crate::reroll::reroll(&m).is_ok(), "{sharing:?}");
            sizes.push(m.nodes.len());
        }
        // the replay shares what the table shares: `|r|` and the term's operands
        assert_eq!(sizes[0], sizes[1]);
    }
}
