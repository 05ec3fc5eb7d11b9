//! Reverse mode in plain `f64` for the models' backprop gradients (FoMoH-BP, SGD, Adam and
//! the memory comparison). Every layer's activations are stored: the memory that the
//! forward-only methods do not need. Activation slopes come from the rule table.
//!
//! **The one exception to "a model is written once"**: the forward passes of [`Mlp`] and
//! [`Cnn`] are defined once in the tensor language ([`crate::nn`], [`Model::forward`]); the
//! reverse passes here restate them by hand, for speed and as the memory reference of a
//! stored backward pass. `tests/models.rs` checks every gradient against forward-mode
//! directional derivatives of the one definition.

use super::{batch_rows, Cnn, Mlp, Model};
use crate::data::Batch;
use crate::error::{check_len, Result};
use crate::rules::UnaryOp;
use crate::tensor::ops::{self, im2col_index, pool2_argmax};
use crate::tensor::{gemm, MatRef, Planes, Tensor};
use rayon::prelude::*;

/// The offsets of the model's parameter blocks in the flat vector.
fn offsets(model: &dyn Model) -> Vec<usize> {
    let mut off = 0;
    model
        .blocks()
        .iter()
        .map(|b| {
            let o = off;
            off += b.len();
            o
        })
        .collect()
}

/// Mean cross-entropy of `logits (b, c)` and its gradient `(softmax - onehot) / b`.
fn cross_entropy_grad(logits: Vec<f64>, b: usize, c: usize, labels: &[usize]) -> Result<(f64, Vec<f64>)> {
    let logp = ops::log_softmax(&Tensor::constant(vec![b, c], logits)?)?;
    let loss = ops::nll(&logp, labels)?.value()?;
    let inv = 1.0 / b as f64;
    let mut dz: Vec<f64> = logp.re().iter().map(|&lp| lp.exp() * inv).collect();
    for (r, &y) in labels.iter().enumerate() {
        dz[r * c + y] -= inv;
    }
    Ok((loss, dz))
}

/// `h (b×i) · w (i×o) + bias`.
fn dense_forward(h: &[f64], w: &[f64], bias: &[f64], b: usize, i: usize, o: usize) -> Vec<f64> {
    let mut z = vec![0.0; b * o];
    for row in z.chunks_mut(o) {
        row.copy_from_slice(bias);
    }
    gemm(1.0, MatRef::new(h, b, i), MatRef::new(w, i, o), 1.0, &mut z);
    z
}

/// Writes `dL/dW = hᵀ dz` and `dL/db = Σ_rows dz` into `gw`, `gb`; returns `dL/dh = dz wᵀ`
/// when `need_dh`.
#[allow(clippy::too_many_arguments)]
fn dense_backward(
    h: &[f64],
    dz: &[f64],
    w: &[f64],
    b: usize,
    i: usize,
    o: usize,
    gw: &mut [f64],
    gb: &mut [f64],
    need_dh: bool,
) -> Option<Vec<f64>> {
    gemm(1.0, MatRef::new(h, b, i).t(), MatRef::new(dz, b, o), 0.0, gw);
    gb.fill(0.0);
    for row in dz.chunks(o) {
        gb.iter_mut().zip(row).for_each(|(g, d)| *g += d);
    }
    need_dh.then(|| {
        let mut dh = vec![0.0; b * i];
        gemm(1.0, MatRef::new(dz, b, o), MatRef::new(w, i, o).t(), 0.0, &mut dh);
        dh
    })
}

/// `dz = dh ∘ f'(z)` with `f'` from the rule table.
fn through(op: UnaryOp, dh: &[f64], z: &[f64]) -> Vec<f64> {
    dh.iter().zip(z).map(|(&d, &a)| d * op.rule(a).d1).collect()
}

pub(super) fn mlp_backprop(m: &Mlp, theta: &[f64], batch: &Batch) -> Result<(f64, Vec<f64>)> {
    check_len(|| "parameters".into(), m.num_params(), theta.len())?;
    let b = batch_rows(&batch.x, m.sizes[0], "mlp")?;
    let layers = m.sizes.len() - 1;
    let off = offsets(m);
    let act = m.activation.op();
    let block = |l: usize| {
        let (i, o) = (m.sizes[l], m.sizes[l + 1]);
        (&theta[off[2 * l]..off[2 * l] + i * o], &theta[off[2 * l + 1]..off[2 * l + 1] + o], i, o)
    };
    // Forward: each layer's input h_l and the hidden pre-activations z_l.
    let mut hs: Vec<Vec<f64>> = vec![batch.x.re().to_vec()];
    let mut zs: Vec<Vec<f64>> = Vec::with_capacity(layers);
    for l in 0..layers {
        let (w, bias, i, o) = block(l);
        let z = dense_forward(&hs[l], w, bias, b, i, o);
        if l + 1 < layers {
            hs.push(z.iter().map(|&a| act.eval(a)).collect());
        }
        zs.push(z);
    }
    let (loss, mut dz) = cross_entropy_grad(zs.pop().expect("one layer"), b, m.classes(), &batch.labels)?;
    let mut grad = vec![0.0; theta.len()];
    for l in (0..layers).rev() {
        let (w, _, i, o) = block(l);
        let (gw, gb) = grad[off[2 * l]..off[2 * l + 1] + o].split_at_mut(i * o);
        if let Some(dh) = dense_backward(&hs[l], &dz, w, b, i, o, gw, gb, l > 0) {
            dz = through(act, &dh, &zs[l - 1]);
        }
    }
    Ok((loss, grad))
}

/// One image's stored forward quantities.
struct ImageFwd {
    z1: Vec<f64>,
    idx1: Vec<usize>,
    p1: Vec<f64>,
    z2: Vec<f64>,
    idx2: Vec<usize>,
    p2: Vec<f64>,
}

/// `dW += dy (o × q) · colsᵀ`, `db += Σ_q dy`; returns `Wᵀ dy` scattered back to the image
/// through the im2col map when `dx_len > 0`.
#[allow(clippy::too_many_arguments)]
fn conv_backward(
    dy: &[f64],
    image: &[f64],
    idx: &[usize],
    w: &[f64],
    o: usize,
    ckk: usize,
    q: usize,
    gw: &mut [f64],
    gb: &mut [f64],
    dx_len: usize,
) -> Vec<f64> {
    let cols: Vec<f64> = idx.iter().map(|&i| image[i]).collect();
    gemm(1.0, MatRef::new(dy, o, q), MatRef::new(&cols, ckk, q).t(), 1.0, gw);
    for (g, row) in gb.iter_mut().zip(dy.chunks(q)) {
        *g += row.iter().sum::<f64>();
    }
    let mut dx = vec![0.0; dx_len];
    if dx_len > 0 {
        let mut dcols = vec![0.0; ckk * q];
        gemm(1.0, MatRef::new(w, o, ckk).t(), MatRef::new(dy, o, q), 0.0, &mut dcols);
        for (&i, d) in idx.iter().zip(&dcols) {
            dx[i] += d;
        }
    }
    dx
}

/// `W (o × ckk) · im2col(image) + bias` for one image: `(o, q)`.
fn conv_forward(
    image: &[f64],
    idx: &[usize],
    w: &[f64],
    bias: &[f64],
    o: usize,
    ckk: usize,
    q: usize,
) -> Vec<f64> {
    let cols: Vec<f64> = idx.iter().map(|&i| image[i]).collect();
    let mut y = vec![0.0; o * q];
    for (row, &bv) in y.chunks_mut(q).zip(bias) {
        row.fill(bv);
    }
    gemm(1.0, MatRef::new(w, o, ckk), MatRef::new(&cols, ckk, q), 1.0, &mut y);
    y
}

pub(super) fn cnn_backprop(net: &Cnn, theta: &[f64], batch: &Batch) -> Result<(f64, Vec<f64>)> {
    check_len(|| "parameters".into(), net.num_params(), theta.len())?;
    let b = batch_rows(&batch.x, net.sample_size(), "cnn")?;
    check_len(|| "labels".into(), b, batch.labels.len())?;
    let c = net.cfg;
    let k = c.kernel;
    let (h0, w0) = (c.height, c.width);
    let (h1, w1) = (h0 - k + 1, w0 - k + 1);
    let (ph1, pw1) = (h1 / 2, w1 / 2);
    let (h2, w2) = (ph1 - k + 1, pw1 - k + 1);
    let (ckk1, ckk2) = (k * k, c.conv1 * k * k);
    let (q1, q2) = (h1 * w1, h2 * w2);
    let idx_c1 = im2col_index(1, h0, w0, k, k);
    let idx_c2 = im2col_index(c.conv1, ph1, pw1, k, k);
    let off = offsets(net);
    let blk = |i: usize, len: usize| &theta[off[i]..off[i] + len];
    let (cw1, cb1) = (blk(0, c.conv1 * ckk1), blk(1, c.conv1));
    let (cw2, cb2) = (blk(2, c.conv2 * ckk2), blk(3, c.conv2));
    let (fw1, fb1) = (blk(4, net.flat * c.hidden), blk(5, c.hidden));
    let (fw2, fb2) = (blk(6, c.hidden * c.classes), blk(7, c.classes));
    let relu = UnaryOp::Relu;
    let x = batch.x.re();
    let fwd: Vec<ImageFwd> = (0..b)
        .into_par_iter()
        .map(|i| {
            let img = &x[i * h0 * w0..(i + 1) * h0 * w0];
            let z1 = conv_forward(img, &idx_c1, cw1, cb1, c.conv1, ckk1, q1);
            let a1: Vec<f64> = z1.iter().map(|&v| relu.eval(v)).collect();
            let idx1 = pool2_argmax(&a1, c.conv1, h1, w1);
            let p1: Vec<f64> = idx1.iter().map(|&j| a1[j]).collect();
            let z2 = conv_forward(&p1, &idx_c2, cw2, cb2, c.conv2, ckk2, q2);
            let a2: Vec<f64> = z2.iter().map(|&v| relu.eval(v)).collect();
            let idx2 = pool2_argmax(&a2, c.conv2, h2, w2);
            let p2: Vec<f64> = idx2.iter().map(|&j| a2[j]).collect();
            ImageFwd { z1, idx1, p1, z2, idx2, p2 }
        })
        .collect();
    let flat: Vec<f64> = fwd.iter().flat_map(|f| f.p2.iter().copied()).collect();
    let z3 = dense_forward(&flat, fw1, fb1, b, net.flat, c.hidden);
    let a3: Vec<f64> = z3.iter().map(|&v| relu.eval(v)).collect();
    let z4 = dense_forward(&a3, fw2, fb2, b, c.hidden, c.classes);
    let (loss, dz4) = cross_entropy_grad(z4, b, c.classes, &batch.labels)?;

    let mut grad = vec![0.0; theta.len()];
    let (head, tail) = grad.split_at_mut(off[4]);
    let (g_fc1, g_fc2) = tail.split_at_mut(off[6] - off[4]);
    let (gw4, gb4) = g_fc2.split_at_mut(c.hidden * c.classes);
    let da3 = dense_backward(&a3, &dz4, fw2, b, c.hidden, c.classes, gw4, gb4, true).expect("dh requested");
    let dz3 = through(relu, &da3, &z3);
    let (gw3, gb3) = g_fc1.split_at_mut(net.flat * c.hidden);
    let dflat =
        dense_backward(&flat, &dz3, fw1, b, net.flat, c.hidden, gw3, gb3, true).expect("dh requested");
    // Convolutions: per image in parallel, gradients summed.
    let sizes = [c.conv1 * ckk1, c.conv1, c.conv2 * ckk2, c.conv2];
    let conv_grad = (0..b)
        .into_par_iter()
        .fold(
            || vec![0.0; off[4]],
            |mut acc, i| {
                let f = &fwd[i];
                let (g1, rest) = acc.split_at_mut(sizes[0]);
                let (gb1, rest) = rest.split_at_mut(sizes[1]);
                let (g2, gb2) = rest.split_at_mut(sizes[2]);
                let mut da2 = vec![0.0; c.conv2 * q2];
                for (&j, d) in f.idx2.iter().zip(&dflat[i * net.flat..(i + 1) * net.flat]) {
                    da2[j] += d;
                }
                let dz2 = through(relu, &da2, &f.z2);
                let dp1 =
                    conv_backward(&dz2, &f.p1, &idx_c2, cw2, c.conv2, ckk2, q2, g2, gb2, c.conv1 * ph1 * pw1);
                let mut da1 = vec![0.0; c.conv1 * q1];
                for (&j, d) in f.idx1.iter().zip(&dp1) {
                    da1[j] += d;
                }
                let dz1 = through(relu, &da1, &f.z1);
                let img = &x[i * h0 * w0..(i + 1) * h0 * w0];
                conv_backward(&dz1, img, &idx_c1, cw1, c.conv1, ckk1, q1, g1, gb1, 0);
                acc
            },
        )
        .reduce(
            || vec![0.0; off[4]],
            |mut a, b| {
                a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                a
            },
        );
    head.copy_from_slice(&conv_grad);
    Ok((loss, grad))
}
