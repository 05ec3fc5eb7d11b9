//! Rerolled programs with selects against the staged straight-line graph.

use super::*;
use crate::stage::{stage, Mode};

/// `Σ_i (cmp(x_i, x_{i+1}) ? x_i·x_i : sin(x_{i+1}))` plus a select outside the terms,
/// built as IR (the tracer records `max`/`abs`/`relu` as ops of the rule table, so a
/// traced graph has no `Select`).
fn selects(n: usize, cmp: Cmp) -> Graph {
    let mut nodes: Vec<Op> = (0..n as u32).map(Op::Input).collect();
    let mut push = |op: Op| {
        nodes.push(op);
        nodes.len() as NodeId - 1
    };
    let mut acc = push(Op::Const(0.0));
    for i in 0..n as NodeId - 1 {
        let sq = push(Op::Binary(BinaryOp::Mul, i, i));
        let s = push(Op::Unary(UnaryOp::Sin, i + 1));
        let t = push(Op::Select { cmp, a: i, b: i + 1, t: sq, f: s });
        acc = push(if i % 3 == 2 {
            Op::Binary(BinaryOp::Sub, acc, t)
        } else {
            Op::Binary(BinaryOp::Add, acc, t)
        });
    }
    let c = push(Op::Const(0.5));
    let out = push(Op::Select { cmp: Cmp::Lt, a: acc, b: c, t: acc, f: 0 });
    Graph { nodes, outputs: vec![out], n_inputs: n, ..Graph::default() }
}

fn close(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-12 * x.abs().max(y.abs()).max(1.0))
}

#[test]
fn terms_with_selects_are_rerolled_and_agree_with_the_staged_graph() {
    for (n, cmp) in [(30, Cmp::Gt), (41, Cmp::Le), (25, Cmp::Ne)] {
        let g = selects(n, cmp);
        let r = reroll(&g).expect("rerolled");
        assert!(r.guards.is_none());
        let x: Vec<f64> = (0..n).map(|i| (i as f64 * 1.3).sin()).collect();
        let d: Vec<Vec<f64>> =
            (0..8).map(|j| (0..n).map(|i| ((i + j) as f64 * 0.7).cos()).collect()).collect();
        let interp = |mode: Mode, parts: &[&[f64]]| {
            let buf: Vec<f64> = parts.concat();
            crate::interp::eval(&stage(&g, mode, 1 << 20).unwrap(), &buf).unwrap()
        };
        let y = r.tensor.value(&x).unwrap();
        assert!(close(&[y], &interp(Mode::Primal, &[&x])), "{cmp:?} value");
        let hd = r.tensor.hyper_dual(&x, &d[0], &d[1]).unwrap();
        assert!(close(&[hd.re, hd.e1, hd.e2, hd.e12], &interp(Mode::HyperDual, &[&x, &d[0], &d[1]])));
        let j = r.tensor.directional(&x, &d[2]).unwrap();
        assert!(close(&[j.re, j.d1, j.d2], &interp(Mode::Jet, &[&x, &d[2]])));
        for k in 1..=8 {
            let p = r.tensor.project(&x, &d[..k]).unwrap();
            let mut parts: Vec<&[f64]> = vec![&x];
            parts.extend(d[..k].iter().map(Vec::as_slice));
            let q = Mode::projection(k, &interp(Mode::HyperK(k), &parts));
            assert!(close(&[p.value], &[q.value]) && close(&p.grad, &q.grad), "{cmp:?} K={k}");
            assert!((0..k).all(|i| close(&p.hess[i], &q.hess[i])), "{cmp:?} K={k} hessian");
        }
    }
}
