//! The reference interpreter of a tensor graph: naive loops over any [`Scalar`], e.g.
//! `HyperDual<f64>` seeded by the caller, computing what the runtime computes.

use super::graph::{as2, numel, strides, TNode, TOp};
use crate::float::JitFloat;
use fomoh_runtime::Scalar;

/// The value of the graph `nodes` at its node `output` for the parameters `theta` and the
/// bound `inputs` (lengths checked by the caller).
pub(super) fn eval<S: Scalar, T: JitFloat>(nodes: &[TNode], output: u32, theta: &[S], inputs: &[&[T]]) -> S {
    let mut vals: Vec<Vec<S>> = Vec::with_capacity(nodes.len());
    for n in nodes.iter() {
        let v: Vec<S> = match &n.op {
            TOp::Param(o) => theta[*o..*o + numel(&n.shape)].to_vec(),
            TOp::Data(d) => d.iter().map(|&x| S::from_f64(x)).collect(),
            TOp::Input(slot) => inputs[*slot].iter().map(|&x| S::from_f64(x.as_f64())).collect(),
            TOp::Const(c) => vec![S::from_f64(*c)],
            TOp::Neg(a) => vals[*a as usize].iter().map(|&x| -x).collect(),
            TOp::Unary(u, a) => vals[*a as usize].iter().map(|&x| x.unary(*u)).collect(),
            TOp::Binary(bo, a, b) => {
                let it = as2(&n.shape);
                let (sa, sb) =
                    (strides(&nodes[*a as usize].shape, it), strides(&nodes[*b as usize].shape, it));
                let (va, vb) = (&vals[*a as usize], &vals[*b as usize]);
                let mut o = Vec::with_capacity(it.0 * it.1);
                for r in 0..it.0 {
                    for c in 0..it.1 {
                        o.push(va[r * sa.0 + c * sa.1].binary(*bo, vb[r * sb.0 + c * sb.1]));
                    }
                }
                o
            }
            TOp::Select(cmp, ops) => {
                let it = as2(&n.shape);
                let st: Vec<(usize, usize)> =
                    ops.iter().map(|&a| strides(&nodes[a as usize].shape, it)).collect();
                let at = |k: usize, r: usize, c: usize| vals[ops[k] as usize][r * st[k].0 + c * st[k].1];
                let mut o = Vec::with_capacity(it.0 * it.1);
                for r in 0..it.0 {
                    for c in 0..it.1 {
                        let yes = cmp.eval(at(0, r, c).value(), at(1, r, c).value());
                        o.push(if yes { at(2, r, c) } else { at(3, r, c) });
                    }
                }
                o
            }
            TOp::Sum(a) => vec![vals[*a as usize].iter().fold(S::zero(), |s, &x| s + x)],
            TOp::SumRows(a) | TOp::MaxRowsPassive(a) => {
                let (r, c) = as2(&nodes[*a as usize].shape);
                let va = &vals[*a as usize];
                (0..r)
                    .map(|i| {
                        let row = &va[i * c..(i + 1) * c];
                        if matches!(n.op, TOp::SumRows(_)) {
                            row.iter().fold(S::zero(), |s, &x| s + x)
                        } else {
                            S::from_f64(row.iter().map(|x| x.value()).fold(f64::NEG_INFINITY, f64::max))
                        }
                    })
                    .collect()
            }
            TOp::Matmul(a, b) => {
                let (sa, sb) = (&nodes[*a as usize].shape, &nodes[*b as usize].shape);
                let (m, k, nn) = (sa[0], sa[1], sb[1]);
                let (va, vb) = (&vals[*a as usize], &vals[*b as usize]);
                let mut o = vec![S::zero(); m * nn];
                for i in 0..m {
                    for j in 0..nn {
                        o[i * nn + j] = (0..k).fold(S::zero(), |s, p| s + va[i * k + p] * vb[p * nn + j]);
                    }
                }
                o
            }
            TOp::Reshape(a) => vals[*a as usize].clone(),
            TOp::Slice(a, start) => {
                let st = numel(&nodes[*a as usize].shape[1..]);
                vals[*a as usize][start * st..start * st + numel(&n.shape)].to_vec()
            }
            TOp::Gather(parts, idx) => {
                let all: Vec<S> = parts.iter().flat_map(|&p| vals[p as usize].iter().copied()).collect();
                idx.iter().map(|&j| all[j]).collect()
            }
            TOp::MaxSelect(a, win) => {
                let va = &vals[*a as usize];
                win.chunks(win.len() / numel(&n.shape))
                    .map(|w| {
                        va[w[1..]
                            .iter()
                            .fold(w[0], |b, &j| if va[j].value() > va[b].value() { j } else { b })]
                    })
                    .collect()
            }
        };
        vals.push(v);
    }
    vals[output as usize][0]
}
