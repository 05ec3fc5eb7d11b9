//! The tensor front end's reductions, movement ops, convolution, pooling and the paper's CNN:
//! every compiled mode against the reference interpreter (over the runtime's number types)
//! and against the runtime (scalar functions over `Scalar`, the tensor ops of
//! `fomoh_runtime::tensor::ops`, and `fomoh_runtime::models::Minibatch`), plus every
//! build-time error path.
#![allow(clippy::needless_range_loop)]

mod common;

use common::{assert_close, direction, flat_hd, flat_jet, flat_proj};
use fomoh_jit::tensor::{models, TOp, TensorBuilder};
use fomoh_jit::{JitError, TensorProgram, TensorTracer};
use fomoh_runtime::data::Batch;
use fomoh_runtime::models::{Cnn, CnnConfig, Minibatch, Model};
use fomoh_runtime::nn;
use fomoh_runtime::tensor::{ops, Params, Planes, Tensor};
use fomoh_runtime::{objective, scalar_fn, HyperDual, Objective, Projection, Scalar, UnaryOp};

const TOL: f64 = 1e-12;

fn dirs(n: usize, k: usize) -> Vec<Vec<f64>> {
    (0..k).map(|j| direction(j, n)).collect()
}

/// Every compiled mode of `p` against the reference objective `r`: value, hyper-dual, jet
/// and the one-pass projection for K = 1..4.
fn agree(what: &str, p: &dyn Objective, r: &dyn Objective, x: &[f64], tol: f64) {
    let n = x.len();
    let u = dirs(n, 4);
    assert_close(&format!("{what} value"), &[p.value(x).unwrap()], &[r.value(x).unwrap()], tol);
    assert_close(
        &format!("{what} hyper-dual"),
        &flat_hd(p.hyper_dual(x, &u[0], &u[1]).unwrap()),
        &flat_hd(r.hyper_dual(x, &u[0], &u[1]).unwrap()),
        tol,
    );
    assert_close(
        &format!("{what} jet"),
        &flat_jet(p.directional(x, &u[2]).unwrap()),
        &flat_jet(r.directional(x, &u[2]).unwrap()),
        tol,
    );
    for k in 1..=4 {
        let (pj, passes) = p.hyperplane(x, &u[..k]).unwrap();
        assert_eq!(passes, 1);
        let (rj, _) = r.hyperplane(x, &u[..k]).unwrap();
        assert_close(&format!("{what} K={k}"), &flat_proj(&pj), &flat_proj(&rj), tol);
    }
}

/// Every compiled mode of `p` against the interpreter over `f64`, `HyperDual` and `HyperK`.
fn interp(what: &str, p: &TensorProgram, x: &[f64], tol: f64) {
    common::tensor_vs_interpreter(what, p, x, tol, 4);
}

/// A runtime tensor function of the parameters (ending in a scalar tensor) as an objective.
struct RtObj<F>(usize, F);

impl<F: Fn(&Params<'_>) -> fomoh_runtime::Result<Tensor>> Objective for RtObj<F> {
    fn dim(&self) -> usize {
        self.0
    }
    fn value(&self, x: &[f64]) -> fomoh_runtime::Result<f64> {
        (self.1)(&Params::primal(x))?.value()
    }
    fn hyper_dual(&self, x: &[f64], v1: &[f64], v2: &[f64]) -> fomoh_runtime::Result<HyperDual<f64>> {
        (self.1)(&Params::hyper_dual(x, v1, v2)?)?.to_hyper_dual()
    }
    fn directional(&self, x: &[f64], v: &[f64]) -> fomoh_runtime::Result<fomoh_runtime::Jet<f64>> {
        (self.1)(&Params::jet(x, v)?)?.to_jet()
    }
    fn hyperplane(&self, x: &[f64], d: &[Vec<f64>]) -> fomoh_runtime::Result<(Projection<f64>, usize)> {
        Ok(((self.1)(&Params::directions(x, d)?)?.to_projection(d.len())?, 1))
    }
}

/// `Σ_e w_e · sin(t_e)` on the runtime's tensors (a scalar tensor).
fn rt_weighted_sin(t: &Tensor, w: &[f64]) -> fomoh_runtime::Result<Tensor> {
    let n = t.numel();
    let s = ops::unary(t, UnaryOp::Sin).reshape(vec![1, n])?;
    let wt = Tensor::constant(vec![n, 1], w.to_vec())?;
    ops::matmul(&s, &wt)?.reshape(vec![])
}

// ---- the tensor language's layers, recorded into a builder graph ----

/// Runs `f` on a [`TensorTracer`] recording into `b` (the builder's own operations and the
/// language's layers in one graph).
fn with_tracer<R>(
    b: &mut TensorBuilder,
    f: impl FnOnce(&mut TensorTracer) -> fomoh_runtime::Result<R>,
) -> fomoh_runtime::Result<R> {
    let mut t = TensorTracer::from_builder(std::mem::replace(b, TensorBuilder::new(0)));
    let r = f(&mut t);
    *b = t.into_builder();
    r
}

/// [`nn::conv2d`] on builder tensors.
fn conv2d(
    b: &mut TensorBuilder,
    x: fomoh_jit::Tensor,
    x_dims: [usize; 4],
    w: fomoh_jit::Tensor,
    w_dims: [usize; 4],
    bias: fomoh_jit::Tensor,
) -> fomoh_runtime::Result<fomoh_jit::Tensor> {
    with_tracer(b, |t| {
        let (x, w, bias) = (t.wrap(x)?, t.wrap(w)?, t.wrap(bias)?);
        let y = nn::conv2d(t, x, x_dims, w, w_dims, bias)?;
        t.tensor(&y)
    })
}

/// [`nn::max_pool2`] on a builder tensor.
fn max_pool2(
    b: &mut TensorBuilder,
    x: fomoh_jit::Tensor,
    dims: [usize; 4],
) -> fomoh_runtime::Result<fomoh_jit::Tensor> {
    with_tracer(b, |t| {
        let x = t.wrap(x)?;
        let y = nn::max_pool2(t, x, dims)?;
        t.tensor(&y)
    })
}

/// `ln Σ exp` over all elements of a builder tensor ([`nn::logsumexp_rows`] of it flattened).
fn logsumexp(b: &mut TensorBuilder, x: fomoh_jit::Tensor) -> fomoh_runtime::Result<fomoh_jit::Tensor> {
    with_tracer(b, |t| {
        let x = t.wrap(x)?;
        let n = fomoh_runtime::nn::Backend::shape(t, &x)?.iter().product::<usize>();
        let flat = fomoh_runtime::nn::Backend::reshape(t, x, &[n])?;
        let y = nn::logsumexp_rows(t, flat)?;
        t.tensor(&y)
    })
}

/// The same on the JIT's tensors.
fn jit_weighted_sin(
    b: &mut TensorBuilder,
    t: fomoh_jit::tensor::Tensor,
    w: &[f64],
) -> fomoh_jit::tensor::Tensor {
    let s = b.unary(UnaryOp::Sin, t).unwrap();
    let n = w.len();
    let s = b.reshape(s, &[1, n]).unwrap();
    let wt = b.data(w.to_vec(), &[n, 1]).unwrap();
    let z = b.matmul(s, wt).unwrap();
    b.sum(z)
}

fn weights(n: usize) -> Vec<f64> {
    (0..n).map(|i| 0.3 + ((i * 7 + 3) % 11) as f64 / 10.0).collect()
}

fn point(n: usize) -> Vec<f64> {
    (0..n).map(|i| (1.3 * i as f64 + 0.4).sin() * 0.9).collect()
}

// ---- reductions ----

fn max_ref<S: Scalar>(x: &[S]) -> S {
    // t = sin(x_i)·(i+1)/4 over [3, 4]; max over all, row maxima, then a smooth combination.
    let t: Vec<S> = x.iter().enumerate().map(|(i, &v)| v.sin() * S::from_f64((i + 1) as f64 / 4.0)).collect();
    let all = t[1..].iter().fold(t[0], |m, &v| m.max(v));
    let rows: Vec<S> = t.chunks(4).map(|r| r[1..].iter().fold(r[0], |m, &v| m.max(v))).collect();
    all * all + rows.iter().fold(S::zero(), |s, &r| s + r * r.exp())
}

#[test]
fn max_and_max_rows_agree_with_the_scalar_runtime_and_the_interpreter() {
    let mut b = TensorBuilder::new(12);
    let a = b.param(0, &[3, 4]).unwrap();
    let s = b.unary(UnaryOp::Sin, a).unwrap();
    let sc = b.data((1..=12).map(|i| i as f64 / 4.0).collect(), &[3, 4]).unwrap();
    let t = b.mul(s, sc).unwrap();
    let all = b.max(t).unwrap();
    let rows = b.max_rows(t).unwrap();
    let sq = b.mul(all, all).unwrap();
    let e = b.unary(UnaryOp::Exp, rows).unwrap();
    let re = b.mul(rows, e).unwrap();
    let sr = b.sum(re);
    let f = b.add(sq, sr).unwrap();
    let p = b.finish(f).unwrap();
    let shapes: Vec<&[usize]> =
        p.nodes().iter().filter(|n| matches!(n.op, TOp::MaxSelect(..))).map(|n| n.shape.as_slice()).collect();
    assert_eq!(shapes, [&[][..], &[3][..]], "two active max reductions");
    let x = point(12);
    agree("max", &p, &objective(12, scalar_fn!(max_ref)), &x, TOL);
    interp("max", &p, &x, TOL);
}

/// `Σ_ij (x_ij > y_j ? x_ij·y_j : sin(x_ij))` plus `Σ_ij (x_ij <= 0.2 ? x_ij² : 0.2)` for
/// `x` of `[3, 4]` and a row `y` of `[4]`, decided on primal values as in the scalar code.
fn select_ref<S: Scalar>(v: &[S]) -> S {
    let (x, y) = (&v[..12], &v[12..]);
    let mut s = S::zero();
    for i in 0..3 {
        for j in 0..4 {
            let xij = x[i * 4 + j];
            s += if xij.value() > y[j].value() { xij * y[j] } else { xij.sin() };
            s += if xij.value() <= 0.2 { xij * xij } else { S::from_f64(0.2) };
        }
    }
    s
}

#[test]
fn select_agrees_with_the_scalar_runtime_and_the_interpreter() {
    use fomoh_jit::ir::Cmp;
    let mut b = TensorBuilder::new(16);
    let x = b.param(0, &[3, 4]).unwrap();
    let y = b.param(12, &[4]).unwrap();
    let xy = b.mul(x, y).unwrap();
    let sx = b.unary(UnaryOp::Sin, x).unwrap();
    let s1 = b.select(Cmp::Gt, x, y, xy, sx).unwrap();
    let c = b.constant(0.2);
    let xx = b.mul(x, x).unwrap();
    let s2 = b.select(Cmp::Le, x, c, xx, c).unwrap();
    let t = b.add(s1, s2).unwrap();
    let f = b.sum(t);
    let p = b.finish(f).unwrap();
    assert_eq!(p.nodes()[s1.index()].shape, [3, 4]);
    // both branches of each select are taken somewhere
    let v = point(16);
    let (xs, ys) = (&v[..12], &v[12..]);
    let taken: Vec<bool> = (0..12).map(|e| xs[e] > ys[e % 4]).collect();
    assert!(taken.iter().any(|&t| t) && taken.iter().any(|&t| !t), "{v:?}");
    assert!(xs.iter().any(|&x| x <= 0.2) && xs.iter().any(|&x| x > 0.2), "{v:?}");
    agree("select", &p, &objective(16, scalar_fn!(select_ref)), &v, TOL);
    interp("select", &p, &v, TOL);
    // shapes that do not broadcast are a typed error
    let mut b = TensorBuilder::new(7);
    let (u, w) = (b.param(0, &[3]).unwrap(), b.param(3, &[4]).unwrap());
    assert!(matches!(b.select(Cmp::Lt, u, u, u, w), Err(JitError::Shape(_))));
}

#[test]
fn max_ties_take_the_first_element_like_the_runtime() {
    // x = [1, 3, 3, 2]: the maximum is taken at index 1, with index 1's derivative lanes.
    let mut b = TensorBuilder::new(4);
    let a = b.param(0, &[4]).unwrap();
    let m = b.max(a).unwrap();
    let p = b.finish(m).unwrap();
    let x = [1.0, 3.0, 3.0, 2.0];
    let v = [0.1, 0.2, 0.7, 0.4];
    let j = p.directional(&x, &v).unwrap();
    assert_eq!((j.re, j.d1, j.d2), (3.0, 0.2, 0.0));
    let fold = objective(4, scalar_fn!(|x| x[1..].iter().fold(x[0], |m, &y| m.max(y))));
    agree("max tie", &p, &fold, &x, 0.0);
    // Row maxima: [[2, 2], [5, 1]] picks (0, 0) and (1, 0).
    let mut b = TensorBuilder::new(4);
    let a = b.param(0, &[2, 2]).unwrap();
    let r = b.max_rows(a).unwrap();
    let w = b.data(vec![1.0, 10.0], &[2]).unwrap();
    let r = b.mul(r, w).unwrap();
    let f = b.sum(r);
    let p = b.finish(f).unwrap();
    let j = p.directional(&[2.0, 2.0, 5.0, 1.0], &v).unwrap();
    assert_eq!((j.re, j.d1), (52.0, 0.1 + 10.0 * 0.7));
    // A rank-1 row max is a scalar.
    let mut b = TensorBuilder::new(3);
    let a = b.param(0, &[3]).unwrap();
    let r = b.max_rows(a).unwrap();
    let p = b.finish(r).unwrap();
    assert_eq!(p.value(&[-1.0, 4.0, 2.0]).unwrap(), 4.0);
}

fn maximum_ref<S: Scalar>(x: &[S]) -> S {
    let w = weights(6);
    let mut s = S::zero();
    for i in 0..2 {
        for j in 0..3 {
            s += x[3 * i + j].max(x[3 + j]).sin() * S::from_f64(w[3 * i + j]);
        }
    }
    s
}

#[test]
fn elementwise_maximum_takes_the_first_argument_at_ties() {
    let mut b = TensorBuilder::new(6);
    let a = b.param(0, &[2, 3]).unwrap();
    let c = b.param(3, &[3]).unwrap();
    let m = b.maximum(a, c).unwrap();
    let f = jit_weighted_sin(&mut b, m, &weights(6));
    let p = b.finish(f).unwrap();
    // Row 1 of `a` is `c` itself (ties of an element with itself) and a[0][0] = c[0] (a tie
    // of two different parameters).
    let x = [0.5, -0.2, 0.9, 0.5, 0.4, -0.3];
    agree("maximum", &p, &objective(6, scalar_fn!(maximum_ref)), &x, TOL);
    interp("maximum", &p, &x, TOL);
    // At a tie the derivative lanes are the first argument's.
    let mut b = TensorBuilder::new(2);
    let a = b.param(0, &[]).unwrap();
    let c = b.param(1, &[]).unwrap();
    let m = b.maximum(a, c).unwrap();
    let p = b.finish(m).unwrap();
    assert_eq!(p.directional(&[2.0, 2.0], &[1.0, 0.0]).unwrap().d1, 1.0);
    assert_eq!(p.directional(&[2.0, 2.0], &[0.0, 1.0]).unwrap().d1, 0.0);
    assert_eq!(p.directional(&[1.0, 2.0], &[0.0, 1.0]).unwrap().d1, 1.0);
}

fn lse_ref<S: Scalar>(x: &[S]) -> S {
    let w = weights(6);
    let s = x.iter().zip(&w).fold(S::zero(), |s, (&v, &c)| s + (v * S::from_f64(c)).exp());
    s.ln() * x[0]
}

#[test]
fn logsumexp_over_all_elements() {
    let mut b = TensorBuilder::new(6);
    let a = b.param(0, &[2, 3]).unwrap();
    let c = b.data(weights(6), &[2, 3]).unwrap();
    let t = b.mul(a, c).unwrap();
    let l = logsumexp(&mut b, t).unwrap();
    let first = b.slice(a, 0, 1).unwrap();
    let first = b.gather(first, vec![0], &[]).unwrap();
    let f = b.mul(l, first).unwrap();
    let p = b.finish(f).unwrap();
    let x = point(6);
    agree("logsumexp", &p, &objective(6, scalar_fn!(lse_ref)), &x, TOL);
    interp("logsumexp", &p, &x, TOL);
    // Max-shifted: finite where exp overflows.
    let mut b = TensorBuilder::new(3);
    let a = b.param(0, &[3]).unwrap();
    let l = logsumexp(&mut b, a).unwrap();
    let p = b.finish(l).unwrap();
    let v = p.value(&[1000.0, 1000.0, 999.0]).unwrap();
    assert!((v - (1000.0 + (2.0 + (-1.0f64).exp()).ln())).abs() < 1e-9, "{v}");
}

// ---- movement ops ----

fn bcast_ref<S: Scalar>(x: &[S]) -> S {
    // a: [3] -> [2, 3]; c: [2, 1] -> [2, 3]; s: [] -> [2, 3]
    let w = weights(6);
    let mut t = S::zero();
    for r in 0..2 {
        for j in 0..3 {
            let e = x[j] * x[3 + r] + x[5];
            t += e.sin() * S::from_f64(w[3 * r + j]);
        }
    }
    t
}

#[test]
fn broadcast_to_is_a_view_or_a_copy_of_every_lane() {
    let mut b = TensorBuilder::new(6);
    let a = b.param(0, &[3]).unwrap();
    let c = b.param(3, &[2, 1]).unwrap();
    let s = b.param(5, &[]).unwrap();
    let ab = b.broadcast_to(a, &[2, 3]).unwrap();
    let cb = b.broadcast_to(c, &[2, 3]).unwrap();
    let sb = b.broadcast_to(s, &[2, 3]).unwrap();
    let view = b.broadcast_to(a, &[1, 3]).unwrap();
    let scalar = b.broadcast_to(s, &[]).unwrap();
    let m = b.mul(ab, cb).unwrap();
    let e = b.add(m, sb).unwrap();
    let f = jit_weighted_sin(&mut b, e, &weights(6));
    let p = b.finish(f).unwrap();
    assert!(matches!(p.nodes()[view.index()].op, TOp::Reshape(_)), "no repeat: a view");
    assert!(matches!(p.nodes()[scalar.index()].op, TOp::Reshape(_)));
    assert_eq!(p.nodes()[scalar.index()].shape, Vec::<usize>::new());
    assert!(matches!(p.nodes()[ab.index()].op, TOp::Gather(..)), "repeats: a copy");
    let x = point(6);
    agree("broadcast_to", &p, &objective(6, scalar_fn!(bcast_ref)), &x, TOL);
    interp("broadcast_to", &p, &x, TOL);
}

fn concat_ref<S: Scalar>(x: &[S]) -> S {
    // a = x[0..6] as [2, 3], c = x[6..8] as [2, 1], d = data [2, 2] (passive);
    // m = [a | c | tanh(d·x8)] ([2, 6]); v = concat([m row-sums..]) rank 1 with a's column 0.
    let w = weights(12);
    let d = [0.5, -1.0, 2.0, 0.25];
    let mut t = S::zero();
    for r in 0..2 {
        let row: Vec<S> = (0..3)
            .map(|j| x[3 * r + j])
            .chain([x[6 + r]])
            .chain((0..2).map(|j| (S::from_f64(d[2 * r + j]) * x[8]).tanh()))
            .collect();
        for (j, &e) in row.iter().enumerate() {
            t += e.sin() * S::from_f64(w[6 * r + j]);
        }
    }
    // axis 0 and rank 1: [x0..x2 ; x3..x5] then [x6, x7] then [x8]
    let flat: Vec<S> = x[..9].to_vec();
    let v = flat.iter().enumerate().fold(S::zero(), |s, (i, &e)| s + e * e * S::from_f64((i + 1) as f64));
    t + v
}

#[test]
fn concat_along_both_axes_and_rank_one() {
    let mut b = TensorBuilder::new(9);
    let a = b.param(0, &[2, 3]).unwrap();
    let c = b.param(6, &[2, 1]).unwrap();
    let d = b.data(vec![0.5, -1.0, 2.0, 0.25], &[2, 2]).unwrap();
    let k = b.param(8, &[]).unwrap();
    let dk = b.mul(d, k).unwrap();
    let dk = b.unary(UnaryOp::Tanh, dk).unwrap();
    let m = b.concat(&[a, c, dk], 1).unwrap();
    assert_eq!(p_shape(&b, m), vec![2, 6]);
    let f1 = jit_weighted_sin(&mut b, m, &weights(12));
    // axis 0 of matrices, then rank 1
    let a0 = b.slice(a, 0, 1).unwrap();
    let a1 = b.slice(a, 1, 2).unwrap();
    let rows = b.concat(&[a0, a1], 0).unwrap();
    assert_eq!(p_shape(&b, rows), vec![2, 3]);
    let rows = b.reshape(rows, &[6]).unwrap();
    let cv = b.reshape(c, &[2]).unwrap();
    let kv = b.reshape(k, &[1]).unwrap();
    let v = b.concat(&[rows, cv, kv], 0).unwrap();
    assert_eq!(p_shape(&b, v), vec![9]);
    let sq = b.mul(v, v).unwrap();
    let ws = b.data((1..=9).map(f64::from).collect(), &[9]).unwrap();
    let sq = b.mul(sq, ws).unwrap();
    let f2 = b.sum(sq);
    let f = b.add(f1, f2).unwrap();
    // One part: the part itself.
    assert_eq!(b.concat(&[a], 1).unwrap(), a);
    let p = b.finish(f).unwrap();
    let x = point(9);
    agree("concat", &p, &objective(9, scalar_fn!(concat_ref)), &x, TOL);
    interp("concat", &p, &x, TOL);
}

fn p_shape(b: &TensorBuilder, t: fomoh_jit::tensor::Tensor) -> Vec<usize> {
    b.shape_of(t).unwrap().to_vec()
}

fn cols_ref<S: Scalar>(x: &[S]) -> S {
    // a = x as [3, 4]; columns 1..3 ([3, 2]), then its transpose [2, 3] times data.
    let w = weights(6);
    let mut t = S::zero();
    for c in 0..2 {
        for r in 0..3 {
            t += (x[4 * r + 1 + c] * x[4 * r + 1 + c]).sin() * S::from_f64(w[3 * c + r]);
        }
    }
    t
}

#[test]
fn slice_along_columns_and_transpose() {
    let mut b = TensorBuilder::new(12);
    let a = b.param(0, &[3, 4]).unwrap();
    let cols = b.slice_axis(a, 1, 1, 3).unwrap();
    assert_eq!(p_shape(&b, cols), vec![3, 2]);
    let sq = b.mul(cols, cols).unwrap();
    let t = b.transpose(sq).unwrap();
    assert_eq!(p_shape(&b, t), vec![2, 3]);
    let f = jit_weighted_sin(&mut b, t, &weights(6));
    // Along the first axis: a view; a vector transposes to itself; a column to a row view.
    let rows = b.slice_axis(a, 0, 1, 2).unwrap();
    let v = b.reshape(a, &[12]).unwrap();
    let col = b.reshape(a, &[12, 1]).unwrap();
    let row = b.transpose(col).unwrap();
    assert_eq!(b.transpose(v).unwrap(), v);
    let p = b.finish(f).unwrap();
    assert!(matches!(p.nodes()[rows.index()].op, TOp::Slice(..)));
    assert!(matches!(p.nodes()[row.index()].op, TOp::Reshape(_)));
    assert_eq!(p.nodes()[row.index()].shape, vec![1, 12]);
    let x = point(12);
    agree("slice_axis/transpose", &p, &objective(12, scalar_fn!(cols_ref)), &x, TOL);
    interp("slice_axis/transpose", &p, &x, TOL);
}

/// Copies long enough to be split over the rayon pool (`PAR_MIN_COPY` = 2^15 elements): a
/// gather of 40 000 elements (repeats, skips, reversed runs), a windowed maximum over 36 000
/// windows of 4 with ties, against the interpreter in every mode.
#[test]
fn long_gathers_and_window_maxima_agree_with_the_interpreter() {
    let n = 3000;
    let mut b = TensorBuilder::new(n);
    let a = b.param(0, &[n]).unwrap();
    let t = b.unary(UnaryOp::Sin, a).unwrap();
    let idx: Vec<usize> = (0..40_000).map(|i| (i * 7919 + i / 13) % n).collect();
    let g = b.gather(t, idx, &[200, 200]).unwrap();
    // windows: (i, i+1, i+2, i+3) mod n with the last element repeated (a tie)
    let windows: Vec<usize> =
        (0..36_000).flat_map(|w| [w % n, (w + 1) % n, (w + 2) % n, (w + 2) % n]).collect();
    let m = b.max_over(t, windows, &[36_000]).unwrap();
    let g2 = b.mul(g, g).unwrap();
    let s1 = b.sum(g2);
    let s2 = b.sum(m);
    let f = b.add(s1, s2).unwrap();
    let p = b.finish(f).unwrap();
    let x: Vec<f64> = (0..n).map(|i| 1.7 * ((i as f64) * 0.61).cos()).collect();
    // sums over 40 000 terms in the loops' chunk order: 1e-11
    interp("long copies", &p, &x, 1e-11);
}

#[test]
fn gather_agrees_with_the_runtime_gather() {
    // idx repeats, skips and permutes; gathers of a slice and of a gather compose; a gather
    // of data folds into data.
    let n = 10;
    let idx: Vec<usize> = vec![3, 0, 0, 7, 9, 2, 5, 5, 1, 8, 4, 3];
    let idx2: Vec<usize> = vec![11, 2, 4, 0, 6];
    let mut b = TensorBuilder::new(n);
    let a = b.param(0, &[2, 5]).unwrap();
    let t = b.unary(UnaryOp::Tanh, a).unwrap();
    let g = b.gather(t, idx.clone(), &[3, 4]).unwrap();
    let g2 = b.gather(g, idx2.clone(), &[5]).unwrap();
    let tail = b.slice(a, 1, 2).unwrap();
    let g3 = b.gather(tail, vec![4, 0], &[2]).unwrap();
    let data = b.data((0..6).map(|i| i as f64 * 0.1).collect(), &[6]).unwrap();
    let g4 = b.gather(data, vec![5, 1], &[2]).unwrap();
    let w = weights(12);
    let f1 = jit_weighted_sin(&mut b, g, &w);
    let f2 = jit_weighted_sin(&mut b, g2, &weights(5));
    let s3 = b.mul(g3, g4).unwrap();
    let f3 = b.sum(s3);
    let f = b.add(f1, f2).unwrap();
    let f = b.add(f, f3).unwrap();
    let p = b.finish(f).unwrap();
    assert!(matches!(p.nodes()[g4.index()].op, TOp::Data(_)), "data folds");
    match &p.nodes()[g2.index()].op {
        TOp::Gather(parts, i) => {
            assert_eq!(parts.len(), 1);
            assert_eq!(
                **i,
                idx2.iter().map(|&j| idx[j]).collect::<Vec<_>>(),
                "a gather of a gather composes"
            );
        }
        other => panic!("{other:?}"),
    }
    match &p.nodes()[g3.index()].op {
        TOp::Gather(parts, i) => assert_eq!((parts[0], &***i), (a.index() as u32, &[9usize, 5][..])),
        other => panic!("{other:?}"),
    }
    let (i1, i2) = (idx.clone(), idx2.clone());
    let rt = RtObj(n, move |prm: &Params<'_>| {
        let a = prm.view(0, vec![2, 5])?;
        let t = ops::unary(&a, UnaryOp::Tanh);
        let g = ops::gather(&t, 0, &i1, vec![3, 4])?;
        let g2 = ops::gather(&g, 0, &i2, vec![5])?;
        let g3 = ops::gather(&a, 5, &[4, 0], vec![1, 2])?;
        let f1 = rt_weighted_sin(&g, &weights(12))?;
        let f2 = rt_weighted_sin(&g2, &weights(5))?;
        let f3 = ops::matmul(&g3, &Tensor::constant(vec![2, 1], vec![0.5, 0.1])?)?.reshape(vec![])?;
        let mut s = f1.reshape(vec![1])?;
        ops::add_broadcast_assign(&mut s, &f2, 0, 1.0)?;
        ops::add_broadcast_assign(&mut s, &f3, 0, 1.0)?;
        s.reshape(vec![])
    });
    let x = point(n);
    agree("gather", &p, &rt, &x, TOL);
    interp("gather", &p, &x, TOL);
}

// ---- convolution and pooling ----

#[test]
fn conv2d_and_max_pool2_agree_with_the_runtime_ops() {
    // Active input (tanh of parameters), odd sizes (pooling drops the trailing row/column).
    let (bn, c, h, w) = (2, 2, 7, 6);
    let (o, kh, kw) = (3, 3, 2);
    let nx = bn * c * h * w;
    let nw = o * c * kh * kw;
    let n = nx + nw + o;
    let (ho, wo) = (h - kh + 1, w - kw + 1);
    let (hp, wp) = (ho / 2, wo / 2);
    let nout = bn * o * hp * wp;
    let mut b = TensorBuilder::new(n);
    let xp = b.param(0, &[bn, c * h * w]).unwrap();
    let xa = b.unary(UnaryOp::Tanh, xp).unwrap();
    let wt = b.param(nx, &[o, c * kh * kw]).unwrap();
    let bias = b.param(nx + nw, &[o]).unwrap();
    let y = conv2d(&mut b, xa, [bn, c, h, w], wt, [o, c, kh, kw], bias).unwrap();
    let conv = jit_weighted_sin(&mut b, y, &weights(bn * o * ho * wo));
    let r = b.unary(UnaryOp::Relu, y).unwrap();
    let pl = max_pool2(&mut b, r, [bn, o, ho, wo]).unwrap();
    assert_eq!(p_shape(&b, pl), vec![bn, o * hp * wp]);
    let pool = jit_weighted_sin(&mut b, pl, &weights(nout));
    let f = b.add(conv, pool).unwrap();
    let p = b.finish(f).unwrap();
    let rt = RtObj(n, move |prm: &Params<'_>| {
        let xa = ops::unary(&prm.view(0, vec![bn, c, h, w])?, UnaryOp::Tanh);
        let y = ops::conv2d(&xa, &prm.view(nx, vec![o, c, kh, kw])?, &prm.view(nx + nw, vec![o])?)?;
        let conv = rt_weighted_sin(&y, &weights(bn * o * ho * wo))?;
        let pl = ops::max_pool2(&ops::unary(&y, UnaryOp::Relu))?;
        let pool = rt_weighted_sin(&pl, &weights(nout))?;
        let mut s = conv.reshape(vec![1])?;
        ops::add_broadcast_assign(&mut s, &pool, 0, 1.0)?;
        s.reshape(vec![])
    });
    let x: Vec<f64> = point(n).iter().map(|v| 1.5 * v).collect();
    agree("conv2d/max_pool2", &p, &rt, &x, TOL);
    interp("conv2d/max_pool2", &p, &x, TOL);
}

#[test]
fn max_pool2_ties_match_the_runtime() {
    // A 4×4 plane with ties inside every window (equal primals, different tangents).
    let re = [1.0, 1.0, 0.0, 2.0, 0.5, 1.0, 2.0, 2.0, 3.0, 0.0, 4.0, 4.0, 3.0, 3.0, 4.0, 4.0];
    let mut b = TensorBuilder::new(16);
    let a = b.param(0, &[1, 16]).unwrap();
    let pl = max_pool2(&mut b, a, [1, 1, 4, 4]).unwrap();
    let f = jit_weighted_sin(&mut b, pl, &weights(4));
    let p = b.finish(f).unwrap();
    let rt = RtObj(16, |prm: &Params<'_>| {
        let x = Tensor::from_view(&prm.view(0, vec![1, 1, 4, 4])?);
        rt_weighted_sin(&ops::max_pool2(&x)?, &weights(4))
    });
    agree("max_pool2 ties", &p, &rt, &re, TOL);
    interp("max_pool2 ties", &p, &re, TOL);
    // The selected elements: (0,0)->0, (0,1)->3 (2 before the tied 7), (1,0)->8, (1,1)->10.
    let mut v = vec![0.0; 16];
    for (e, &j) in [0usize, 3, 8, 10].iter().enumerate() {
        v[j] = (e + 1) as f64;
    }
    let mut b = TensorBuilder::new(16);
    let a = b.param(0, &[16]).unwrap();
    let pl = max_pool2(&mut b, a, [1, 1, 4, 4]).unwrap();
    let wv = b.data(vec![1.0, 10.0, 100.0, 1000.0], &[4]).unwrap();
    let pw = b.mul(pl, wv).unwrap();
    let f = b.sum(pw);
    let p = b.finish(f).unwrap();
    assert_eq!(p.directional(&re, &v).unwrap().d1, 4321.0);
}

// ---- the paper's CNN ----

fn images(bsz: usize, h: usize, w: usize) -> Vec<f64> {
    // Smooth strokes in [0, 1], like normalised MNIST digits.
    (0..bsz * h * w)
        .map(|e| {
            let (s, r, c) = (e / (h * w), (e / w) % h, e % w);
            let v = ((r as f64 * 0.7 + s as f64).sin() * (c as f64 * 0.45 - s as f64 * 0.3).cos()).abs();
            if v > 0.35 {
                v
            } else {
                0.0
            }
        })
        .collect()
}

fn cnn_case(cfg: CnnConfig, bsz: usize, seed: u64) {
    let model = Cnn::new(cfg).unwrap();
    let x = images(bsz, cfg.height, cfg.width);
    let labels: Vec<usize> = (0..bsz).map(|i| (3 * i + 1) % cfg.classes).collect();
    let p = models::cnn(x.clone(), &labels, cfg).unwrap();
    assert_eq!(p.dim(), model.num_params());
    // Both poolings read the relu outputs directly (the layout copy composed away).
    let nodes = p.nodes();
    let pools: Vec<&TOp> = nodes
        .iter()
        .filter_map(|n| match n.op {
            TOp::MaxSelect(a, _) => Some(&nodes[a as usize].op),
            _ => None,
        })
        .collect();
    assert_eq!(pools.len(), 2);
    assert!(pools.iter().all(|op| matches!(op, TOp::Unary(UnaryOp::Relu, _))), "{pools:?}");
    let batch = Batch::new(Tensor::constant(vec![bsz, cfg.height * cfg.width], x).unwrap(), labels).unwrap();
    let mb = Minibatch::new(&model, &batch).unwrap();
    let theta: Vec<f64> = model.init(seed).iter().map(|v| 2.0 * v).collect();
    agree(&format!("cnn {cfg:?}"), &p, &mb, &theta, TOL);
    interp(&format!("cnn {cfg:?}"), &p, &theta, TOL);
}

#[test]
fn cnn_agrees_with_the_runtime_model_in_every_mode() {
    let cfg = CnnConfig { height: 12, width: 12, conv1: 2, conv2: 3, kernel: 3, hidden: 8, classes: 10 };
    cnn_case(cfg, 3, 1);
    // More samples than the runtime's forward chunk (32): its chunk-weighted mean is the mean.
    cnn_case(cfg, 33, 3);
    // Odd sizes: both pools drop a trailing row/column.
    let cfg = CnnConfig { height: 13, width: 11, conv1: 2, conv2: 2, kernel: 3, hidden: 5, classes: 4 };
    cnn_case(cfg, 2, 2);
}

#[test]
fn paper_cnn_compiles_and_agrees_in_value_hyper_dual_and_k2() {
    let cfg = CnnConfig::paper();
    let model = Cnn::paper();
    let x = images(2, 28, 28);
    let labels = vec![7, 2];
    let p = models::cnn(x.clone(), &labels, cfg).unwrap();
    assert_eq!(p.dim(), 431_080);
    let batch = Batch::new(Tensor::constant(vec![2, 784], x).unwrap(), labels).unwrap();
    let mb = Minibatch::new(&model, &batch).unwrap();
    let theta = model.init(0);
    assert_close("paper cnn value", &[p.value(&theta).unwrap()], &[mb.value(&theta).unwrap()], TOL);
    let u = dirs(theta.len(), 2);
    assert_close(
        "paper cnn hyper-dual",
        &flat_hd(p.hyper_dual(&theta, &u[0], &u[1]).unwrap()),
        &flat_hd(mb.hyper_dual(&theta, &u[0], &u[1]).unwrap()),
        TOL,
    );
    let (pj, _) = Objective::hyperplane(&p, &theta, &u).unwrap();
    let (rj, _) = mb.hyperplane(&theta, &u).unwrap();
    assert_close("paper cnn K=2", &flat_proj(&pj), &flat_proj(&rj), TOL);
}

/// One compiled minibatch CNN, bound to three different batches, against the runtime's
/// model on each batch in every mode; the baked graph (same builder, data instead of inputs)
/// agrees with it too.
#[test]
fn cnn_minibatch_agrees_with_the_runtime_model_on_every_batch() {
    let cfg = CnnConfig { height: 12, width: 12, conv1: 2, conv2: 3, kernel: 3, hidden: 8, classes: 10 };
    let model = Cnn::new(cfg).unwrap();
    let bsz = 4;
    let p = models::cnn_minibatch(bsz, cfg).unwrap();
    assert_eq!(p.dim(), model.num_params());
    assert_eq!(p.input_shapes(), &[vec![bsz, 144], vec![bsz, 10]]);
    let all = images(3 * bsz, cfg.height, cfg.width);
    let theta: Vec<f64> = model.init(7).iter().map(|v| 2.0 * v).collect();
    let mut values = Vec::new();
    for chunk in 0..3 {
        let x = all[chunk * bsz * 144..(chunk + 1) * bsz * 144].to_vec();
        let labels: Vec<usize> = (0..bsz).map(|i| (5 * i + 3 * chunk + 1) % cfg.classes).collect();
        let y = one_hot(&labels, cfg.classes);
        let bound = p.bind(&[&x, &y]).unwrap();
        let batch = Batch::new(Tensor::constant(vec![bsz, 144], x.clone()).unwrap(), labels.clone()).unwrap();
        let mb = Minibatch::new(&model, &batch).unwrap();
        agree(&format!("bound cnn, batch {chunk}"), &bound, &mb, &theta, TOL);
        let baked = models::cnn(x.clone(), &labels, cfg).unwrap();
        agree(&format!("baked vs bound cnn, batch {chunk}"), &baked, &bound, &theta, TOL);
        values.push(bound.value(&theta).unwrap());
    }
    assert!(values[0] != values[1] && values[1] != values[2], "the batches differ: {values:?}");
    // the bound interpreter agrees with the compiled code
    let x = &all[..bsz * 144];
    let y = one_hot(&[1, 2, 3, 4], 10);
    let bound = p.bind(&[x, &y]).unwrap();
    let u = dirs(theta.len(), 2);
    let seeded: Vec<HyperDual<f64>> =
        (0..theta.len()).map(|i| HyperDual::seed(theta[i], u[0][i], u[1][i])).collect();
    assert_close(
        "bound cnn interpreter",
        &flat_hd(bound.interpret(&seeded).unwrap()),
        &flat_hd(bound.hyper_dual(&theta, &u[0], &u[1]).unwrap()),
        TOL,
    );
}

#[test]
fn cnn_minibatch_errors_are_typed() {
    use fomoh_runtime::Error;
    let cfg = CnnConfig { height: 12, width: 12, conv1: 2, conv2: 3, kernel: 3, hidden: 8, classes: 10 };
    assert!(matches!(models::cnn_minibatch(0, cfg), Err(JitError::Shape(_))), "empty batch");
    let small = CnnConfig { height: 6, width: 6, ..cfg };
    assert!(matches!(models::cnn_minibatch(2, small), Err(JitError::Shape(_))), "too small");
    assert!(matches!(models::cnn_minibatch(2, CnnConfig { classes: 0, ..cfg }), Err(JitError::Shape(_))));
    let p = models::cnn_minibatch(2, cfg).unwrap();
    let theta = Cnn::new(cfg).unwrap().init(0);
    let (x, y) = (images(2, 12, 12), one_hot(&[3, 9], 10));
    assert!(matches!(p.bind(&[&x]), Err(Error::Length { expected: 2, found: 1, .. })), "one input");
    assert!(matches!(p.bind(&[&x, &y, &y]), Err(Error::Length { .. })), "three inputs");
    assert!(matches!(p.bind(&[&x[..287], &y]), Err(Error::Length { expected: 288, found: 287, .. })));
    assert!(matches!(p.bind(&[&x, &x]), Err(Error::Length { expected: 20, found: 288, .. })));
    assert!(matches!(p.value(&theta), Err(Error::Length { .. })), "unbound");
    let b = p.bind(&[&x, &y]).unwrap();
    assert!(matches!(b.value(&theta[1..]), Err(Error::Length { .. })), "θ length");
    assert!(b.value(&theta).unwrap().is_finite());
}

// ---- error paths ----

#[test]
fn new_ops_report_typed_build_errors() {
    let mut b = TensorBuilder::new(12);
    let a = b.param(0, &[3, 4]).unwrap();
    let v = b.param(0, &[4]).unwrap();
    let s = b.param(0, &[]).unwrap();
    // gather
    assert!(matches!(b.gather(a, vec![12], &[1]), Err(JitError::Shape(_))), "index out of range");
    assert!(matches!(b.gather(a, vec![0, 1], &[3]), Err(JitError::Length { .. })));
    assert!(matches!(b.gather(a, vec![], &[0]), Err(JitError::Shape(_))));
    // slice_axis
    assert!(matches!(b.slice_axis(a, 2, 0, 1), Err(JitError::Shape(_))), "axis");
    assert!(matches!(b.slice_axis(a, 1, 2, 2), Err(JitError::Shape(_))), "empty");
    assert!(matches!(b.slice_axis(a, 1, 3, 5), Err(JitError::Shape(_))), "past the end");
    assert!(matches!(b.slice_axis(s, 0, 0, 1), Err(JitError::Shape(_))), "scalar");
    // max_over
    assert!(matches!(b.max_over(a, vec![0, 1, 2], &[2]), Err(JitError::Shape(_))), "uneven windows");
    assert!(matches!(b.max_over(a, vec![], &[]), Err(JitError::Shape(_))));
    assert!(matches!(b.max_over(a, vec![0, 12], &[]), Err(JitError::Shape(_))));
    // broadcast_to
    assert!(matches!(b.broadcast_to(a, &[4, 3]), Err(JitError::Shape(_))));
    assert!(matches!(b.broadcast_to(a, &[4]), Err(JitError::Shape(_))), "rank cannot shrink");
    assert!(matches!(b.broadcast_to(v, &[2, 5]), Err(JitError::Shape(_))));
    assert!(matches!(b.broadcast_to(v, &[2, 3, 4]), Err(JitError::Shape(_))), "rank <= 2");
    // concat
    assert!(matches!(b.concat(&[], 0), Err(JitError::Shape(_))));
    assert!(matches!(b.concat(&[a, v], 0), Err(JitError::Shape(_))), "rank mismatch");
    assert!(matches!(b.concat(&[a, a], 2), Err(JitError::Shape(_))), "axis out of range");
    assert!(matches!(b.concat(&[s, s], 0), Err(JitError::Shape(_))), "scalars");
    let c = b.param(0, &[3, 2]).unwrap();
    assert!(matches!(b.concat(&[a, c], 0), Err(JitError::Shape(_))), "columns differ");
    assert!(b.concat(&[a, c], 1).is_ok());
    let r = b.param(0, &[2, 4]).unwrap();
    assert!(matches!(b.concat(&[a, r], 1), Err(JitError::Shape(_))), "rows differ");
    // conv2d / max_pool2
    let x = b.param(0, &[1, 12]).unwrap();
    let w = b.param(0, &[2, 4]).unwrap();
    let bias = b.param(0, &[2]).unwrap();
    assert!(conv2d(&mut b, x, [1, 1, 3, 4], w, [2, 1, 2, 2], bias).is_ok());
    assert!(
        matches!(conv2d(&mut b, x, [1, 1, 3, 3], w, [2, 1, 2, 2], bias), Err(fomoh_runtime::Error::Shape(_))),
        "x size"
    );
    assert!(
        matches!(conv2d(&mut b, x, [1, 1, 3, 4], w, [2, 2, 2, 1], bias), Err(fomoh_runtime::Error::Shape(_))),
        "channels"
    );
    assert!(
        matches!(conv2d(&mut b, x, [1, 1, 3, 4], w, [1, 1, 4, 2], bias), Err(fomoh_runtime::Error::Shape(_))),
        "kernel"
    );
    assert!(
        matches!(conv2d(&mut b, x, [1, 1, 3, 4], w, [2, 1, 2, 2], v), Err(fomoh_runtime::Error::Shape(_))),
        "bias"
    );
    assert!(matches!(
        conv2d(&mut b, x, [1, 1, 12, 1], w, [2, 1, 2, 2], bias),
        Err(fomoh_runtime::Error::Shape(_))
    ));
    assert!(matches!(
        conv2d(&mut b, x, [0, 1, 3, 4], w, [2, 1, 2, 2], bias),
        Err(fomoh_runtime::Error::Shape(_))
    ));
    assert!(
        matches!(max_pool2(&mut b, x, [1, 1, 12, 1]), Err(fomoh_runtime::Error::Shape(_))),
        "smaller than 2×2"
    );
    assert!(matches!(max_pool2(&mut b, x, [1, 1, 3, 3]), Err(fomoh_runtime::Error::Shape(_))), "x size");
    assert!(max_pool2(&mut b, x, [1, 1, 3, 4]).is_ok());
    // a tensor of another builder
    let other = TensorBuilder::new(1).param(0, &[1]).unwrap();
    let mut tiny = TensorBuilder::new(1);
    let _ = tiny.param(0, &[1]).unwrap();
    assert!(matches!(tiny.max(r), Err(JitError::Unsupported(_))));
    assert!(matches!(tiny.gather(r, vec![0], &[1]), Err(JitError::Unsupported(_))));
    assert!(matches!(tiny.concat(&[other, r], 0), Err(JitError::Unsupported(_))));
    assert!(tiny.max(other).is_ok());
}

#[test]
fn cnn_builder_errors_are_typed() {
    let cfg = CnnConfig { height: 12, width: 12, conv1: 2, conv2: 3, kernel: 3, hidden: 8, classes: 10 };
    let x = images(2, 12, 12);
    assert!(matches!(models::cnn(x.clone(), &[1, 10], cfg), Err(JitError::Shape(_))), "label");
    assert!(matches!(models::cnn(x.clone(), &[1], cfg), Err(JitError::Length { .. })), "x length");
    assert!(matches!(models::cnn(vec![], &[], cfg), Err(JitError::Shape(_))), "empty batch");
    let small = CnnConfig { height: 6, width: 6, ..cfg };
    assert!(matches!(models::cnn(images(1, 6, 6), &[0], small), Err(JitError::Shape(_))), "too small");
    let p = models::cnn(x, &[1, 2], cfg).unwrap();
    assert!(matches!(p.value(&[0.0; 3]), Err(fomoh_runtime::Error::Length { .. })));
}

// ---- random compositions against the interpreter ----

use proptest::prelude::*;

/// One-hot rows (the labels are valid here).
fn one_hot(labels: &[usize], classes: usize) -> Vec<f64> {
    fomoh_runtime::nn::one_hot(labels, classes).expect("labels below classes")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]
    #[test]
    fn random_movement_and_max_chains_agree_with_the_interpreter(
        r in 1usize..4,
        c in 1usize..5,
        ops in proptest::collection::vec((0usize..8, any::<u64>()), 1..5),
        seed in any::<u64>(),
    ) {
        let n = r * c;
        let mut b = TensorBuilder::new(n);
        let a = b.param(0, &[r, c]).unwrap();
        let mut t = b.unary(UnaryOp::Sin, a).unwrap();
        for (op, s) in ops {
            let shape = b.shape_of(t).unwrap().to_vec();
            let len: usize = shape.iter().product();
            let mut rnd = s;
            let mut next = |m: usize| {
                rnd = rnd.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (rnd >> 33) as usize % m
            };
            t = match op {
                0 => {
                    let k = 1 + next(6);
                    b.gather(t, (0..k).map(|_| next(len)).collect(), &[k]).unwrap()
                }
                1 => b.max_rows(t).unwrap(),
                2 => {
                    let (out, w) = (1 + next(3), 1 + next(3));
                    b.max_over(t, (0..out * w).map(|_| next(len)).collect(), &[out]).unwrap()
                }
                3 if !shape.is_empty() => {
                    let axis = next(shape.len());
                    let e = b.unary(UnaryOp::Exp, t).unwrap();
                    b.concat(&[t, e], axis).unwrap()
                }
                4 if shape.len() < 2 => {
                    let last = shape.last().copied().unwrap_or(1);
                    b.broadcast_to(t, &[2, last]).unwrap()
                }
                5 => b.transpose(t).unwrap(),
                6 if shape.len() == 2 && shape[1] > 1 => b.slice_axis(t, 1, 1, shape[1]).unwrap(),
                _ => {
                    let m = b.max(t).unwrap();
                    let l = logsumexp(&mut b, t).unwrap();
                    b.mul(m, l).unwrap()
                }
            };
            t = b.unary(UnaryOp::Tanh, t).unwrap();
            let k = b.data(vec![1.3], &[]).unwrap();
            t = b.mul(t, k).unwrap();
        }
        let len: usize = b.shape_of(t).unwrap().iter().product();
        let f = jit_weighted_sin(&mut b, t, &weights(len));
        let p = b.finish(f).unwrap();
        let x: Vec<f64> = (0..n).map(|i| ((i as u64 + seed % 1000) as f64 * 0.77).sin()).collect();
        interp("random chain", &p, &x, 1e-12);
    }
}
