//! The guards of a rerolled graph: those read outside the terms (checked straight-line)
//! and the count of those read inside (rerolled itself).

use super::MAX_REMAINDER;
use crate::ir::{Graph, NodeId, Op};
use fomoh_runtime::BinaryOp;

/// The number of guards of `g` whose outcome differs from the traced one, as a graph (a sum
/// of selects over the guards' operands, no guard left live), or `None` if `g` has no guard.
pub(super) fn violation_count(g: &Graph) -> Option<Graph> {
    let mut v = g.clone();
    // The guards themselves become literals, so that none is live in `v`.
    v.drop_guards(|_| true);
    let (zero, one) = (v.nodes.len() as NodeId, v.nodes.len() as NodeId + 1);
    v.nodes.extend([Op::Const(0.0), Op::Const(1.0)]);
    let mut sum: Option<NodeId> = None;
    for op in &g.nodes {
        if let Op::Guard { cmp, a, b, expect, .. } = *op {
            let (t, f) = if expect { (zero, one) } else { (one, zero) };
            v.nodes.push(Op::Select { cmp, a, b, t, f });
            let miss = v.nodes.len() as NodeId - 1;
            if let Some(s) = sum {
                v.nodes.push(Op::Binary(BinaryOp::Add, s, miss));
            }
            sum = Some(v.nodes.len() as NodeId - 1);
        }
    }
    v.outputs = vec![sum?];
    Some(v)
}

/// The guards of `g` as a primal-only graph (output a literal), `None` inside if there are
/// none; `None` outside if a guard reads a node computed inside the terms or the guards'
/// operands are too many nodes.
#[allow(clippy::option_option)]
pub(super) fn guard_graph(g: &Graph, inside: &[bool]) -> Option<Option<Graph>> {
    let Some(probe) = guard_probe(g) else { return Some(None) };
    let live = probe.live();
    for (i, op) in g.nodes.iter().enumerate() {
        let computed = !matches!(op, Op::Input(_) | Op::Const(_) | Op::Guard { .. });
        if live[i] && computed && inside[i] {
            return None;
        }
    }
    let gg = probe.without_dead();
    (computed(&gg) <= MAX_REMAINDER).then_some(Some(gg))
}

/// The guards of `g` and the values they read, as a primal-only graph (output a literal),
/// or `None` if `g` has no guard.
pub(super) fn guards_only(g: &Graph) -> Option<Graph> {
    guard_probe(g).map(|p| p.without_dead())
}

/// `g` with a literal as its only output (its live nodes: the guards and what they read),
/// or `None` if `g` has no guard.
fn guard_probe(g: &Graph) -> Option<Graph> {
    if !g.nodes.iter().any(|op| matches!(op, Op::Guard { .. })) {
        return None;
    }
    let mut probe = g.clone();
    probe.nodes.push(Op::Const(0.0));
    probe.outputs = vec![probe.nodes.len() as NodeId - 1];
    Some(probe)
}

/// The nodes of `g` that compute a value (not inputs, literals or guards).
pub(super) fn computed(g: &Graph) -> usize {
    g.nodes.iter().filter(|op| !matches!(op, Op::Input(_) | Op::Const(_) | Op::Guard { .. })).count()
}
