//! The tensor front end's convolution and pooling (the tensor language's layers recorded
//! into builder graphs) and the paper's CNN, compiled in every mode against the runtime's
//! tensor ops, the runtime model and the interpreter, plus the CNN's typed errors.
#![allow(clippy::needless_range_loop)]

mod common;
mod tensor_support;

use common::one_hot;
use fomoh_jit::tensor::{models, TOp, TensorBuilder};
use fomoh_jit::JitError;
use fomoh_runtime::data::Batch;
use fomoh_runtime::models::{Cnn, CnnConfig, Minibatch, Model};
use fomoh_runtime::tensor::{ops, Params, Tensor};
use fomoh_runtime::{HyperDual, Objective, UnaryOp};
use tensor_support::*;

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
    let pj = Objective::project(&p, &theta, &u).unwrap();
    let rj = mb.project(&theta, &u).unwrap();
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
