//! Layers and losses, defined once in the tensor language ([`Backend`]).

use super::{Backend, Var};
use crate::error::{Error, Result};
use crate::rules::UnaryOp;
use std::sync::{Arc, Mutex};

/// Which index list, for which shapes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum IndexKey {
    /// `conv2d`'s im2col copy: `[B, C, H, W]`, `kh`, `kw`.
    Im2col([usize; 6]),
    /// `conv2d`'s copy from `(O, B, Ho·Wo)` to `(B, O, Ho·Wo)`.
    ChannelsLast([usize; 3]),
    /// `max_pool2`'s windows over `[B, C, H, W]`.
    Pool([usize; 4]),
}

/// The most index lists kept for reuse.
const INDEX_CACHE: usize = 16;

/// The index lists of the layers' copies, shared by every call with the same shapes (a model
/// run chunk after chunk builds each list once), least recently used dropped first.
static INDICES: Mutex<Vec<(IndexKey, Arc<Vec<usize>>)>> = Mutex::new(Vec::new());

fn indices(key: IndexKey, build: impl FnOnce() -> Vec<usize>) -> Arc<Vec<usize>> {
    let mut cache = INDICES.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(i) = cache.iter().position(|(k, _)| *k == key) {
        let hit = cache.remove(i);
        let idx = hit.1.clone();
        cache.push(hit);
        return idx;
    }
    let idx = Arc::new(build());
    if cache.len() >= INDEX_CACHE {
        cache.remove(0);
    }
    cache.push((key, idx.clone()));
    idx
}

fn shape_err<T>(m: String) -> Result<T> {
    Err(Error::Shape(m))
}

/// Hands out the parameter blocks of a flat θ in order (a model's layout).
#[derive(Clone, Copy, Debug, Default)]
pub struct Blocks {
    offset: usize,
}

impl Blocks {
    /// A cursor at the start of θ.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next block, of `shape`.
    pub fn next(&mut self, b: &mut dyn Backend, shape: &[usize]) -> Result<Var> {
        let v = b.param(self.offset, shape)?;
        self.offset += shape.iter().product::<usize>();
        Ok(v)
    }

    /// The offset of the next block (the parameters handed out so far).
    pub fn offset(&self) -> usize {
        self.offset
    }
}

/// A dense layer `x W + b`: `x [B, in]`, `W [in, out]`, `b [out]`.
pub fn dense(b: &mut dyn Backend, x: Var, w: Var, bias: Var) -> Result<Var> {
    let y = b.matmul(x, w)?;
    b.add(y, bias)
}

/// `ln Σ_j exp(z_ij)` per row (`[B, C] -> [B]`, `[C] -> []`), computed as
/// `m + ln Σ exp(z - m)` with the passive row maximum `m` (exact derivatives: the
/// expression does not depend on `m`).
pub fn logsumexp_rows(b: &mut dyn Backend, z: Var) -> Result<Var> {
    let shape = b.shape(&z)?;
    let z2 = b.dup(&z)?;
    let m = b.max_rows_passive(z2)?;
    let m_col = b.dup(&m)?;
    let m_col = if shape.len() == 2 { b.reshape(m_col, &[shape[0], 1])? } else { m_col };
    let d = b.sub(z, m_col)?;
    let e = b.unary(UnaryOp::Exp, d)?;
    let s = b.sum_rows(e)?;
    let l = b.unary(UnaryOp::Ln, s)?;
    b.add(l, m)
}

/// `[B, C]` from a row count and a shape check, naming `what`.
fn rows_cols(b: &dyn Backend, z: &Var, what: &str) -> Result<(usize, usize)> {
    match b.shape(z)?[..] {
        [r, c] if r > 0 && c > 0 => Ok((r, c)),
        ref s => shape_err(format!("{what}: expected logits [batch, classes], got shape {s:?}")),
    }
}

/// Log-softmax over the last axis of `z [B, C]`: `z - logsumexp_rows(z)`.
pub fn log_softmax(b: &mut dyn Backend, z: Var) -> Result<Var> {
    let (rows, _) = rows_cols(b, &z, "log_softmax")?;
    let z2 = b.dup(&z)?;
    let lse = logsumexp_rows(b, z2)?;
    let lse = b.reshape(lse, &[rows, 1])?;
    b.sub(z, lse)
}

/// The mean negative log-likelihood `-(1/B) Σ_b Σ_c y_bc · logp_bc` of log-probabilities
/// `logp [B, C]` against targets `y [B, C]` (one-hot rows, see [`one_hot`]).
pub fn nll(b: &mut dyn Backend, logp: Var, y: Var) -> Result<Var> {
    let (rows, _) = rows_cols(b, &logp, "nll")?;
    let picked = b.mul(logp, y)?;
    let s = b.sum(picked)?;
    b.scale(s, -1.0 / rows as f64)
}

/// The mean softmax cross-entropy `(1/B) Σ_b (logsumexp(z_b) - Σ_c y_bc z_bc)` of logits
/// `z [B, C]` against targets `y [B, C]` (one-hot rows, see [`one_hot`]): a scalar.
pub fn cross_entropy(b: &mut dyn Backend, z: Var, y: Var) -> Result<Var> {
    let (rows, cols) = rows_cols(b, &z, "cross_entropy")?;
    let ys = b.shape(&y)?;
    if ys != [rows, cols] {
        return shape_err(format!("cross_entropy: targets of shape {ys:?} for logits [{rows}, {cols}]"));
    }
    let z2 = b.dup(&z)?;
    let lse = logsumexp_rows(b, z2)?;
    let zy = b.mul(z, y)?;
    let picked = b.sum_rows(zy)?;
    let per = b.sub(lse, picked)?;
    let total = b.sum(per)?;
    b.scale(total, 1.0 / rows as f64)
}

/// One-hot rows `[labels.len(), classes]` (row-major); errors on a label not below `classes`.
pub fn one_hot(labels: &[usize], classes: usize) -> Result<Vec<f64>> {
    if let Some((i, &y)) = labels.iter().enumerate().find(|(_, &y)| y >= classes) {
        return Err(Error::InvalidArgument(format!(
            "label {y} of sample {i} is not below {classes} classes"
        )));
    }
    let mut y = vec![0.0; labels.len() * classes];
    for (r, &l) in labels.iter().enumerate() {
        y[r * classes + l] = 1.0;
    }
    Ok(y)
}

fn checked_numel(dims: &[usize]) -> Option<usize> {
    dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
}

/// 2-D convolution (cross-correlation as in deep-learning libraries), valid padding,
/// stride 1, over rank-2 storage: `x` holds `x_dims = [B, C, H, W]` row-major (e.g. shape
/// `[B, C·H·W]`), `w` holds `w_dims = [O, C, kh, kw]` row-major, `bias` has `O` elements.
/// The result has shape `[B, O·Ho·Wo]` (`Ho = H - kh + 1`, `Wo = W - kw + 1`), row-major
/// `(B, O, Ho, Wo)`.
///
/// The backend runs [`conv2d_im2col`], the one definition, on the whole batch (the JIT) or
/// on one sample at a time (the eager backend, so that a sample's im2col copy stays small
/// and in cache): see [`Backend::conv2d`].
pub fn conv2d(
    b: &mut dyn Backend,
    x: Var,
    x_dims: [usize; 4],
    w: Var,
    w_dims: [usize; 4],
    bias: Var,
) -> Result<Var> {
    b.conv2d(x, x_dims, w, w_dims, bias)
}

/// [`conv2d`] as the tensor language defines it: an im2col copy `[C·kh·kw, B·Ho·Wo]`, one
/// matrix product with `w` viewed as `[O, C·kh·kw]`, the bias added per output channel and
/// a copy into `(B, O, Ho, Wo)` order. (An elementwise function applied to the result
/// commutes with that last copy; both backends apply it first, so that a following
/// [`max_pool2`] reads straight through the copy.)
pub fn conv2d_im2col(
    b: &mut dyn Backend,
    x: Var,
    x_dims: [usize; 4],
    w: Var,
    w_dims: [usize; 4],
    bias: Var,
) -> Result<Var> {
    let [bn, c, h, wd] = x_dims;
    let [o, c2, kh, kw] = w_dims;
    let (nx, nw, nb) = (b.numel(&x)?, b.numel(&w)?, b.numel(&bias)?);
    if x_dims.contains(&0)
        || w_dims.contains(&0)
        || checked_numel(&x_dims) != Some(nx)
        || checked_numel(&w_dims) != Some(nw)
        || c != c2
        || kh > h
        || kw > wd
        || nb != o
    {
        return shape_err(format!(
            "conv2d: input {x_dims:?} ({nx} elements), weight {w_dims:?} ({nw} elements), bias of {nb}"
        ));
    }
    let (ho, wo) = (h - kh + 1, wd - kw + 1);
    let (ckk, cols) = (c * kh * kw, bn * ho * wo);
    let idx = indices(IndexKey::Im2col([bn, c, h, wd, kh, kw]), || {
        let mut idx = Vec::with_capacity(ckk * cols);
        for ci in 0..c {
            for ki in 0..kh {
                for kj in 0..kw {
                    for bi in 0..bn {
                        for oh in 0..ho {
                            for ow in 0..wo {
                                idx.push(((bi * c + ci) * h + oh + ki) * wd + ow + kj);
                            }
                        }
                    }
                }
            }
        }
        idx
    });
    let xcols = b.gather(x, idx, &[ckk, cols])?;
    let wm = b.reshape(w, &[o, ckk])?;
    let y = b.matmul(wm, xcols)?;
    let bcol = b.reshape(bias, &[o, 1])?;
    let y = b.add(y, bcol)?;
    // (O, B, Ho·Wo) -> (B, O, Ho·Wo): for one sample, the same order
    let hw = ho * wo;
    if bn == 1 {
        return b.reshape(y, &[1, o * hw]);
    }
    let perm = indices(IndexKey::ChannelsLast([o, bn, hw]), || {
        (0..bn)
            .flat_map(|bi| (0..o).flat_map(move |oc| (0..hw).map(move |s| (oc * bn + bi) * hw + s)))
            .collect()
    });
    b.gather(y, perm, &[bn, o * hw])
}

/// 2×2 max-pooling with stride 2: `x` holds `dims = [B, C, H, W]` row-major; the result has
/// shape `[B, C·(H/2)·(W/2)]` (odd trailing rows and columns dropped), each element the
/// first maximum of its window in the order (0,0), (0,1), (1,0), (1,1), with its planes.
pub fn max_pool2(b: &mut dyn Backend, x: Var, dims: [usize; 4]) -> Result<Var> {
    let [bn, c, h, w] = dims;
    let nx = b.numel(&x)?;
    let (ho, wo) = (h / 2, w / 2);
    if checked_numel(&dims) != Some(nx) || ho == 0 || wo == 0 || bn * c == 0 {
        return shape_err(format!("max_pool2: input {dims:?} ({nx} elements) needs 2×2 windows"));
    }
    let win = indices(IndexKey::Pool(dims), || {
        let mut win = Vec::with_capacity(4 * bn * c * ho * wo);
        for plane in 0..bn * c {
            let base = plane * h * w;
            for oh in 0..ho {
                for ow in 0..wo {
                    for (di, dj) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                        win.push(base + (2 * oh + di) * w + 2 * ow + dj);
                    }
                }
            }
        }
        win
    });
    b.max_over(x, win, &[bn, c * ho * wo])
}
