//! The tensor front end's reductions and movement ops: every compiled mode against the
//! reference interpreter (over the runtime's number types) and against the runtime (scalar
//! functions over `Scalar`, the tensor ops of `fomoh_runtime::tensor::ops`), plus every
//! build-time error path and random compositions. Convolution, pooling and the CNN:
//! `tensor_cnn.rs`.
#![allow(clippy::needless_range_loop)]

mod common;

mod tensor_support;

use fomoh_jit::tensor::{TOp, TensorBuilder};
use fomoh_jit::JitError;
use fomoh_runtime::tensor::{ops, Params, Tensor};
use fomoh_runtime::{objective, scalar_fn, Scalar, UnaryOp};
use tensor_support::*;

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

// ---- random compositions against the interpreter ----

use proptest::prelude::*;

/// A random chain of movements and maxima over an `r × c` parameter, then a weighted sum of
/// `sin`: compiled against the interpreter in every mode.
fn random_chain(r: usize, c: usize, ops: Vec<(usize, u64)>, seed: u64) {
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
    // Every value of these chains is O(1) (sin, tanh, ×1.3, exp of those): lanes are compared
    // to 1e-12 of their own size or of 1, whichever is larger, so that a lane the chain's
    // terms cancel to 1e-7 is held to the rounding of those terms (the compiled loops fuse and
    // order them differently from the interpreter).
    common::tensor_vs_interpreter("random chain", &p, &x, common::Tol { rel: 1e-12, floor: 1.0 }, 4);
}

/// A case the random chains found: concatenations with `exp` and a broadcast, whose
/// derivative lanes cancel to 2e-7 (the compiled lane and the interpreter's differed by
/// 2e-19, 1e-12 of the lane).
#[test]
fn random_chain_with_cancelling_lanes() {
    random_chain(
        2,
        4,
        vec![(3, 4164), (3, 1721149420979596075), (4, 15232261377296312270)],
        15210639028062698472,
    );
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
        random_chain(r, c, ops, seed);
    }
}
