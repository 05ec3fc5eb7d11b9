//! Matmul steps (dgemm blocks over stacked lanes: left lanes stacked in place or copied, right
//! lanes side by side, products straight into consecutive output lanes or scattered) for every
//! active/passive operand combination, against the reference interpreter over the runtime's
//! number types (value, hyper-dual, jet, K = 1..=8) and against the runtime's tensor matmul.

mod common;

use common::{assert_close, direction, flat_hd, flat_jet, flat_proj};
use fomoh_jit::tensor::{Tensor as JT, TensorBuilder};
use fomoh_jit::TensorProgram;
use fomoh_runtime::tensor::{ops, Params, Planes, Tensor};
use fomoh_runtime::{HyperDual, Objective, UnaryOp};

const TOL: f64 = 1e-12;

fn dirs(n: usize, k: usize) -> Vec<Vec<f64>> {
    (0..k).map(|j| direction(j, n)).collect()
}

/// Every compiled mode of `p` against the interpreter: value, hyper-dual, jet, K = 1..=8.
fn interp(what: &str, p: &TensorProgram, x: &[f64]) {
    common::tensor_vs_interpreter(what, p, x, TOL, 8);
}

/// `Σ w ⊙ sin(y)` with fixed weights: every lane of `y` reaches the result.
fn reduce(b: &mut TensorBuilder, y: JT) -> JT {
    let shape = b.shape_of(y).unwrap().to_vec();
    let n: usize = shape.iter().product();
    let s = b.unary(UnaryOp::Sin, y).unwrap();
    let w = b.data((0..n).map(|i| 0.3 + 0.1 * (i % 7) as f64).collect(), &shape).unwrap();
    let sw = b.mul(s, w).unwrap();
    b.sum(sw)
}

fn point(n: usize) -> Vec<f64> {
    (0..n).map(|i| 0.4 * ((i as f64) * 0.77 + 0.3).sin()).collect()
}

fn data(r: usize, c: usize, seed: f64) -> Vec<f64> {
    (0..r * c).map(|i| ((i as f64 + seed) * 0.61).cos()).collect()
}

/// The operand kinds of a matmul factor.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// Constant data (only a value lane).
    Data,
    /// A parameter block (value and tangent lanes, separate input vectors).
    Param,
    /// A fused loop's output (every lane, one after another in one buffer).
    Loop,
    /// Another matmul's output (every lane, in one buffer).
    Matmul,
    /// A transposed copy (gather: every lane in a buffer of its own).
    Gather,
}

const KINDS: [Kind; 5] = [Kind::Data, Kind::Param, Kind::Loop, Kind::Matmul, Kind::Gather];

/// A `r × c` factor of the given kind built from parameters at `off` (`r·c` of them).
fn factor(b: &mut TensorBuilder, kind: Kind, off: usize, (r, c): (usize, usize), seed: f64) -> JT {
    match kind {
        Kind::Data => b.data(data(r, c, seed), &[r, c]).unwrap(),
        Kind::Param => b.param(off, &[r, c]).unwrap(),
        Kind::Loop => {
            let p = b.param(off, &[r, c]).unwrap();
            b.unary(UnaryOp::Tanh, p).unwrap()
        }
        Kind::Matmul => {
            // (r × 2) · (2 × c): parameters `off..off + 2r` and data.
            let p = b.param(off, &[r, 2]).unwrap();
            let d = b.data(data(2, c, seed), &[2, c]).unwrap();
            b.matmul(p, d).unwrap()
        }
        Kind::Gather => {
            let p = b.param(off, &[c, r]).unwrap();
            b.transpose(p).unwrap()
        }
    }
}

#[test]
fn matmul_lanes_agree_with_the_interpreter_for_every_operand_kind() {
    for (m, k, n) in [(3, 4, 2), (1, 3, 1), (5, 1, 3)] {
        for ka in KINDS {
            for kb in KINDS {
                if matches!((ka, kb), (Kind::Data, Kind::Data)) {
                    continue;
                }
                // a's parameters then b's, overlapping half of them so both carry the same
                // directions.
                let na = m * k.max(2);
                let nb = k * n.max(2);
                let dim = na + nb / 2 + nb;
                let mut b = TensorBuilder::new(dim);
                let a = factor(&mut b, ka, 0, (m, k), 0.5);
                let bb = factor(&mut b, kb, na / 2, (k, n), 1.5);
                let y = b.matmul(a, bb).unwrap();
                // The product reused on both sides of a second matmul (left lanes of a
                // matmul's output, right lanes of a loop's output).
                let yt = b.transpose(y).unwrap();
                let z = b.matmul(y, yt).unwrap();
                let zs = b.unary(UnaryOp::Tanh, z).unwrap();
                let y2 = b.matmul(zs, y).unwrap();
                let f1 = reduce(&mut b, y);
                let f2 = reduce(&mut b, y2);
                let f = b.add(f1, f2).unwrap();
                let p = b.finish(f).unwrap();
                interp(&format!("{m}x{k}x{n} {ka:?}·{kb:?}"), &p, &point(dim));
            }
        }
    }
}

/// The runtime's `ops::matmul` (its own product rule, stacked planes) as a reference for
/// `c1 · (a · tanh(w)) · c2` with parameters `a`, `w` and data `c1`, `c2`, in every mode.
#[test]
fn matmul_of_active_operands_agrees_with_the_runtime() {
    let (m, k, n) = (4, 3, 5);
    let dim = m * k + k * n;
    let (c1, c2) = (data(1, m, 0.2), data(n, 1, 0.9));
    let mut b = TensorBuilder::new(dim);
    let a = b.param(0, &[m, k]).unwrap();
    let w = b.param(m * k, &[k, n]).unwrap();
    let wt = b.unary(UnaryOp::Tanh, w).unwrap();
    let y = b.matmul(a, wt).unwrap();
    let l = b.data(c1.clone(), &[1, m]).unwrap();
    let r = b.data(c2.clone(), &[n, 1]).unwrap();
    let ly = b.matmul(l, y).unwrap();
    let f = b.matmul(ly, r).unwrap();
    let f = b.reshape(f, &[]).unwrap();
    let p = b.finish(f).unwrap();
    let rt = |ps: &Params<'_>| -> fomoh_runtime::Result<Tensor> {
        let a = ps.view(0, vec![m, k])?;
        let w = ops::unary(&ps.view(m * k, vec![k, n])?, UnaryOp::Tanh);
        let y = ops::matmul(&a, &w)?;
        let ly = ops::matmul(&Tensor::constant(vec![1, m], c1.clone())?, &y)?;
        let f = ops::matmul(&ly, &Tensor::constant(vec![n, 1], c2.clone())?)?;
        Ok(f)
    };
    let x = point(dim);
    let u = dirs(dim, 8);
    assert_close("value", &[p.value(&x).unwrap()], &[rt(&Params::primal(&x)).unwrap().re()[0]], TOL);
    assert_close(
        "hyper-dual",
        &flat_hd(p.hyper_dual(&x, &u[0], &u[1]).unwrap()),
        &flat_hd(rt(&Params::hyper_dual(&x, &u[0], &u[1]).unwrap()).unwrap().to_hyper_dual().unwrap()),
        TOL,
    );
    assert_close(
        "jet",
        &flat_jet(p.directional(&x, &u[2]).unwrap()),
        &flat_jet(rt(&Params::jet(&x, &u[2]).unwrap()).unwrap().to_jet().unwrap()),
        TOL,
    );
    for kk in 1..=8 {
        let pj = Objective::project(&p, &x, &u[..kk]).unwrap();
        let passes = pj.passes;
        assert_eq!(passes, 1);
        let r = rt(&Params::directions(&x, &u[..kk]).unwrap()).unwrap().to_projection(kk).unwrap();
        assert_close(&format!("K={kk}"), &flat_proj(&pj), &flat_proj(&r), TOL);
    }
}

/// Products large enough to be split over threads (by rows, and by columns when short and
/// wide), value and hyper-dual, against the interpreter.
#[test]
fn large_matmuls_split_over_threads_agree_with_the_interpreter() {
    // 520·128·128 and 8·64·16 400 multiply-adds: both above the threshold for splitting.
    for ((m, k, n), left_param) in [((520, 128, 128), false), ((8, 64, 16_400), true)] {
        let dim = if left_param { m * k } else { k * n };
        let mut b = TensorBuilder::new(dim);
        let (a, w) = if left_param {
            (b.param(0, &[m, k]).unwrap(), b.data(data(k, n, 0.1), &[k, n]).unwrap())
        } else {
            (b.data(data(m, k, 0.1), &[m, k]).unwrap(), b.param(0, &[k, n]).unwrap())
        };
        let y = b.matmul(a, w).unwrap();
        let f = reduce(&mut b, y);
        let p = b.finish(f).unwrap();
        let x = point(dim);
        let what = format!("{m}x{k}x{n}");
        assert_close(&format!("{what} value"), &[p.value(&x).unwrap()], &[p.interpret(&x).unwrap()], TOL);
        let u = dirs(dim, 2);
        let xs: Vec<HyperDual<f64>> = (0..dim).map(|i| HyperDual::seed(x[i], u[0][i], u[1][i])).collect();
        assert_close(
            &format!("{what} hyper-dual"),
            &flat_hd(p.hyper_dual(&x, &u[0], &u[1]).unwrap()),
            &flat_hd(p.interpret(&xs).unwrap()),
            TOL,
        );
    }
}
