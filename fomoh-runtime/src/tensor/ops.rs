//! Tensor operations, each carrying every derivative plane of its operands.
//!
//! - Linear maps (reshape, gather, max-pool selection, sums, bias add) apply the same map to
//!   every plane.
//! - Bilinear maps (the matrix product, and convolution through im2col) follow the product
//!   rule plane by plane: for planes `(re, t_i, s_ij)` of `a` and `b`,
//!   `re = a·b`, `t_i = a_i·b + a·b_i`, `s_ij = a_ij·b + a·b_ij + a_i·b_j + a_j·b_i`,
//!   skipping the products with a zero plane and computing the output planes in parallel.
//! - Elementwise functions take `(f, f', f'')` from the rule table ([`UnaryOp::rule`]) and
//!   lift it with the one plane-level chain rule [`lift_planes`].

use super::gemm::{gemm, MatRef};
use super::Params;
use super::{Mode, Planes, Tensor};
use crate::error::{Error, Result};
use crate::nn::{self, Backend, Eager, Var};
use crate::real::Real;
use crate::rules::{Rule, UnaryOp};

pub(crate) use super::binary::add_assign;
pub use super::binary::binary;
use rayon::prelude::*;

/// A [`Planes`] operand under another shape with the same number of elements (no copy).
#[derive(Clone, Copy, Debug)]
pub struct Reshaped<'a, P: ?Sized> {
    inner: &'a P,
    shape: &'a [usize],
}

impl<'a, P: Planes + ?Sized> Reshaped<'a, P> {
    /// `inner` seen with `shape`; errors if the element counts differ.
    pub fn new(inner: &'a P, shape: &'a [usize]) -> Result<Self> {
        let n: usize = shape.iter().product();
        if n != inner.numel() {
            return Err(Error::Shape(format!("cannot view {:?} as {shape:?}", inner.shape())));
        }
        Ok(Self { inner, shape })
    }
}

impl<P: Planes + ?Sized> Planes for Reshaped<'_, P> {
    fn shape(&self) -> &[usize] {
        self.shape
    }
    fn mode(&self) -> Mode {
        self.inner.mode()
    }
    fn re(&self) -> &[f64] {
        self.inner.re()
    }
    fn tangent(&self, i: usize) -> Option<&[f64]> {
        self.inner.tangent(i)
    }
    fn second(&self, p: usize) -> Option<&[f64]> {
        self.inner.second(p)
    }
    fn tangent_block(&self) -> Option<&[f64]> {
        self.inner.tangent_block()
    }
    fn second_block(&self) -> Option<&[f64]> {
        self.inner.second_block()
    }
}

/// Applies a linear map `f(input plane, output plane)` to every plane of `x`.
fn map_linear<P: Planes + ?Sized>(x: &P, shape: Vec<usize>, f: impl Fn(&[f64], &mut [f64]) + Sync) -> Tensor {
    let n: usize = shape.iter().product();
    let mode = x.mode();
    let mut re = vec![0.0; n];
    f(x.re(), &mut re);
    let planes = |srcs: Vec<Option<&[f64]>>| -> Option<Vec<f64>> {
        if srcs.iter().all(Option::is_none) {
            return None;
        }
        let mut out = vec![0.0; n * srcs.len()];
        out.par_chunks_mut(n.max(1)).zip(srcs).for_each(|(o, src)| {
            if let Some(src) = src {
                f(src, o)
            }
        });
        Some(out)
    };
    let tan = planes((0..mode.tangents()).map(|i| x.tangent(i)).collect());
    let sec = planes((0..mode.seconds()).map(|p| x.second(p)).collect());
    Tensor::raw(shape, mode, re, tan, sec)
}

/// One product term `alpha · x ∘ y` of an output plane.
type Term<'a> = (f64, &'a [f64], &'a [f64]);

/// One output plane of a bilinear map: the sum of `alpha · product(x, y)` over its terms.
struct Job<'a> {
    out: &'a mut [f64],
    terms: Vec<Term<'a>>,
}

/// The product rule for a bilinear `product(alpha, x, y, beta, out)` (`out = alpha·x∘y +
/// beta·out`), over all planes of `a` and `b`.
///
/// With `stack_left`, `product` must also accept an `x` of several planes stacked (its
/// output then holds as many planes, as a matrix product does for stacked rows); the terms
/// `a_i·b` and `a_ij·b` of all planes are then each one call on `a`'s contiguous blocks.
fn bilinear<A, B, F>(a: &A, b: &B, shape: Vec<usize>, stack_left: bool, product: F) -> Result<Tensor>
where
    A: Planes + ?Sized,
    B: Planes + ?Sized,
    F: Fn(f64, &[f64], &[f64], f64, &mut [f64]) + Sync,
{
    let n: usize = shape.iter().product();
    let mode = a.mode().merge(b.mode())?;
    let (k, s) = (mode.tangents(), mode.seconds());
    let tan_block = a.tangent_block().filter(|_| stack_left && k > 0);
    let sec_block = a.second_block().filter(|_| stack_left && s > 0);
    let tan_terms: Vec<Vec<Term<'_>>> = (0..k)
        .map(|i| {
            let mut t = Vec::new();
            if let Some(ai) = a.tangent(i).filter(|_| tan_block.is_none()) {
                t.push((1.0, ai, b.re()));
            }
            if let Some(bi) = b.tangent(i) {
                t.push((1.0, a.re(), bi));
            }
            t
        })
        .collect();
    let sec_terms: Vec<Vec<Term<'_>>> = (0..s)
        .map(|p| {
            let (i, j) = mode.pair(p);
            let mut t = Vec::new();
            if let Some(ap) = a.second(p).filter(|_| sec_block.is_none()) {
                t.push((1.0, ap, b.re()));
            }
            if let Some(bp) = b.second(p) {
                t.push((1.0, a.re(), bp));
            }
            if i == j {
                if let (Some(ai), Some(bi)) = (a.tangent(i), b.tangent(i)) {
                    t.push((2.0, ai, bi));
                }
            } else {
                if let (Some(ai), Some(bj)) = (a.tangent(i), b.tangent(j)) {
                    t.push((1.0, ai, bj));
                }
                if let (Some(aj), Some(bi)) = (a.tangent(j), b.tangent(i)) {
                    t.push((1.0, aj, bi));
                }
            }
            t
        })
        .collect();
    let mut re = vec![0.0; n];
    let mut tan = (tan_block.is_some() || tan_terms.iter().any(|t| !t.is_empty())).then(|| vec![0.0; n * k]);
    let mut sec = (sec_block.is_some() || sec_terms.iter().any(|t| !t.is_empty())).then(|| vec![0.0; n * s]);
    // Stacked terms first (they initialise the buffers), then per-plane terms accumulate.
    let stacked = [(tan_block, tan.as_deref_mut()), (sec_block, sec.as_deref_mut())];
    stacked.into_par_iter().for_each(|(blk, out)| {
        if let (Some(blk), Some(out)) = (blk, out) {
            product(1.0, blk, b.re(), 0.0, out);
        }
    });
    let mut jobs = vec![Job { out: &mut re, terms: vec![(1.0, a.re(), b.re())] }];
    for (buf, terms) in [(&mut tan, tan_terms), (&mut sec, sec_terms)] {
        if let Some(buf) = buf {
            for (out, terms) in buf.chunks_mut(n.max(1)).zip(terms) {
                jobs.push(Job { out, terms });
            }
        }
    }
    // Buffers start at zero (or hold the stacked terms): every per-plane term accumulates.
    jobs.into_par_iter().for_each(|job| {
        for &(alpha, x, y) in &job.terms {
            product(alpha, x, y, 1.0, job.out);
        }
    });
    Ok(Tensor::raw(shape, mode, re, tan, sec))
}

fn dims2(what: &str, shape: &[usize]) -> Result<(usize, usize)> {
    match *shape {
        [r, c] => Ok((r, c)),
        _ => Err(Error::Shape(format!("{what}: expected a matrix, found shape {shape:?}"))),
    }
}

/// The matrix product `a (m×k) · b (k×n)` with every derivative plane.
///
/// A passive operand (no derivative planes) costs 1 + (tangents) + (second-order planes of
/// the other) GEMMs: 3 in hyper-dual mode for data times parameters. Two active operands
/// cost the full product rule: 9 in hyper-dual mode, 8 when `b` is a parameter block (whose
/// second-order plane is zero).
///
/// ```
/// use fomoh_runtime::tensor::{ops, Params, Planes, Tensor};
/// let x = Tensor::constant(vec![1, 2], vec![1.0, 2.0]).unwrap();
/// let theta = [3.0, 4.0];
/// let p = Params::hyper_dual(&theta, &[1.0, 0.0], &[0.0, 1.0]).unwrap();
/// let y = ops::matmul(&x, &p.view(0, vec![2, 1]).unwrap()).unwrap();
/// assert_eq!(y.re(), &[11.0]);
/// assert_eq!((y.tangent(0).unwrap()[0], y.tangent(1).unwrap()[0]), (1.0, 2.0));
/// assert!(ops::matmul(&x, &p.view(0, vec![1, 2]).unwrap()).is_err());
/// ```
pub fn matmul<A, B>(a: &A, b: &B) -> Result<Tensor>
where
    A: Planes + ?Sized,
    B: Planes + ?Sized,
{
    let (m, k) = dims2("matmul lhs", a.shape())?;
    let (k2, n) = dims2("matmul rhs", b.shape())?;
    if k != k2 {
        return Err(Error::Shape(format!("matmul: {:?} · {:?}", a.shape(), b.shape())));
    }
    // `x` may be several planes of `a` stacked: (planes·m) × k rows, as many output planes.
    bilinear(a, b, vec![m, n], true, |alpha, x, y, beta, out| {
        let rows = x.len().checked_div(k).unwrap_or(m);
        gemm(alpha, MatRef::new(x, rows, k), MatRef::new(y, k, n), beta, &mut out[..rows * n])
    })
}

/// `x += alpha · b` in place, with the vector `b` broadcast along axis `axis` of `x`
/// (`b.numel() == x.shape[axis]`); `x` gains derivative planes if `b` has them.
pub fn add_broadcast_assign<B: Planes + ?Sized>(
    x: &mut Tensor,
    b: &B,
    axis: usize,
    alpha: f64,
) -> Result<()> {
    let c = *x.shape.get(axis).ok_or_else(|| {
        Error::Shape(format!("broadcast: axis {axis} out of range for shape {:?}", x.shape))
    })?;
    if b.numel() != c {
        return Err(Error::Shape(format!(
            "broadcast: {:?} along axis {axis} of {:?} (needs {c} elements)",
            b.shape(),
            x.shape
        )));
    }
    let mode = x.mode.merge(b.mode())?;
    let inner: usize = x.shape[axis + 1..].iter().product();
    let n = x.re.len();
    let add = |out: &mut [f64], bp: &[f64]| {
        for chunk in out.chunks_mut((c * inner).max(1)) {
            for (seg, &v) in chunk.chunks_mut(inner.max(1)).zip(bp) {
                let v = alpha * v;
                seg.iter_mut().for_each(|o| *o += v);
            }
        }
    };
    add(&mut x.re, b.re());
    let b_tan: Vec<Option<&[f64]>> = (0..mode.tangents()).map(|i| b.tangent(i)).collect();
    let b_sec: Vec<Option<&[f64]>> = (0..mode.seconds()).map(|p| b.second(p)).collect();
    for (planes, srcs) in [(&mut x.tan, b_tan), (&mut x.sec, b_sec)] {
        if srcs.iter().any(Option::is_some) {
            let buf = planes.get_or_insert_with(|| vec![0.0; n * srcs.len()]);
            for (out, bp) in buf.chunks_mut(n.max(1)).zip(srcs) {
                if let Some(bp) = bp {
                    add(out, bp);
                }
            }
        }
    }
    if x.tan.is_some() || x.sec.is_some() {
        x.mode = mode;
    }
    Ok(())
}

/// `x + alpha · b` with `b` broadcast along `axis` (see [`add_broadcast_assign`]).
pub fn add_broadcast<B: Planes + ?Sized>(x: &Tensor, b: &B, axis: usize, alpha: f64) -> Result<Tensor> {
    let mut y = x.clone();
    add_broadcast_assign(&mut y, b, axis, alpha)?;
    Ok(y)
}

/// The bias add `x (…, n) += b (n)` in place.
pub fn add_bias_assign<B: Planes + ?Sized>(x: &mut Tensor, b: &B) -> Result<()> {
    let axis = x.shape.len().checked_sub(1).ok_or_else(|| Error::Shape("bias add on a scalar".into()))?;
    add_broadcast_assign(x, b, axis, 1.0)
}

/// The bias add `x (…, n) + b (n)`.
pub fn add_bias<B: Planes + ?Sized>(x: &Tensor, b: &B) -> Result<Tensor> {
    let axis = x.shape().len().checked_sub(1).ok_or_else(|| Error::Shape("bias add on a scalar".into()))?;
    add_broadcast(x, b, axis, 1.0)
}

/// The one plane-level chain rule, in place: given each element's rule `(f, f', f'')`, the
/// planes become `f`, `f'·t_i` and `f'·s_ij + f''·t_i·t_j` (the elementwise form of
/// [`crate::HyperDual::lift1`] and [`crate::HyperK::lift1`]), with the same convention: a
/// term whose tangent factor is exactly zero is exactly zero, even where `f'` or `f''` is
/// ±∞ or NaN.
///
/// Errors if `rules` does not hold one rule per element.
pub fn lift_planes(x: &mut Tensor, rules: &[Rule<f64>]) -> Result<()> {
    lift_planes_checked(x, rules, true)
}

/// [`lift_planes`], scanning the rules for a coefficient that is not finite only if `check`
/// (the rules of a [regular](UnaryOp::is_regular) operation need no scan).
fn lift_planes_checked(x: &mut Tensor, rules: &[Rule<f64>], check: bool) -> Result<()> {
    let n = x.re.len();
    crate::error::check_len(|| "rules (one per element)".into(), n, rules.len())?;
    let mode = x.mode;
    for (v, r) in x.re.iter_mut().zip(rules) {
        *v = r.f;
    }
    // A zero tangent contributes exactly zero (see `HyperDual`): where some `f'`/`f''` is
    // ±∞ or NaN, every term whose tangent factor is exactly zero is made 0.
    let finite = !check || rules.iter().fold(0.0, |s, r| s + r.d1 + r.d2).is_finite();
    if let Some(tan) = &x.tan {
        // Second-order planes first: they need the incoming tangents.
        let sec = x.sec.get_or_insert_with(|| vec![0.0; n * mode.seconds()]);
        sec.par_chunks_mut(n.max(1)).enumerate().for_each(|(p, o)| {
            let (i, j) = mode.pair(p);
            let (ti, tj) = (&tan[i * n..(i + 1) * n], &tan[j * n..(j + 1) * n]);
            if finite {
                for e in 0..n {
                    o[e] = rules[e].d1 * o[e] + rules[e].d2 * ti[e] * tj[e];
                }
            } else {
                for e in 0..n {
                    o[e] = o[e].zero_tangent(rules[e].d1 * o[e])
                        + ti[e].zero_tangents(tj[e], rules[e].d2 * ti[e] * tj[e]);
                }
            }
        });
    } else if let Some(sec) = &mut x.sec {
        sec.par_chunks_mut(n.max(1)).for_each(|o| scale_planes(o, rules, finite));
    }
    if let Some(tan) = &mut x.tan {
        tan.par_chunks_mut(n.max(1)).for_each(|o| scale_planes(o, rules, finite));
    }
    Ok(())
}

/// `o[e] ← f'_e · o[e]`, a term with `o[e] = 0` exactly 0 unless every `f'` is `finite`.
fn scale_planes(o: &mut [f64], rules: &[Rule<f64>], finite: bool) {
    if finite {
        o.iter_mut().zip(rules).for_each(|(o, r)| *o *= r.d1);
    } else {
        o.iter_mut().zip(rules).for_each(|(o, r)| *o = o.zero_tangent(*o * r.d1));
    }
}

/// An elementwise function from the rule table (tanh, relu, sigmoid, exp, ln, ...), in place.
pub fn unary_into(mut x: Tensor, op: UnaryOp) -> Tensor {
    let rules: Vec<Rule<f64>> = x.re.iter().map(|&a| op.rule(a)).collect();
    lift_planes_checked(&mut x, &rules, !op.is_regular()).expect("one rule per element by construction");
    x
}

/// An elementwise function from the rule table on any operand (copied first).
pub fn unary<P: Planes + ?Sized>(x: &P, op: UnaryOp) -> Tensor {
    unary_into(Tensor::from_view(x), op)
}

/// `out[e] = x[base + idx[e]]` on every plane (a linear selection: im2col, pooling, picks).
pub fn gather<P: Planes + ?Sized>(x: &P, base: usize, idx: &[usize], shape: Vec<usize>) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    if n != idx.len() {
        return Err(Error::Shape(format!("gather: {} indices for shape {shape:?}", idx.len())));
    }
    // a max by fold vectorizes (the bounds check is a scan over every index)
    let m = idx.iter().copied().fold(0, usize::max);
    let end = base.checked_add(m).filter(|&e| idx.is_empty() || e < x.numel());
    let Some(end) = end else {
        return Err(Error::Shape(format!(
            "gather: index {} out of range {}",
            base.saturating_add(m),
            x.numel()
        )));
    };
    Ok(map_linear(x, shape, |src, out| {
        if idx.is_empty() {
            return;
        }
        let src = &src[base..=end];
        for (o, &i) in out.iter_mut().zip(idx) {
            // SAFETY: `i <= m = end - base` for every index (the fold above), so `i` is in
            // bounds of `src`, which holds `end - base + 1` elements (the slice above
            // checked that the plane has them).
            *o = unsafe { *src.get_unchecked(i) };
        }
    }))
}

/// Elements `lo..lo + n` of every plane (`n` the number of elements of `shape`), as a tensor
/// of `shape`: a contiguous [`gather`].
pub(crate) fn range<P: Planes + ?Sized>(x: &P, lo: usize, shape: Vec<usize>) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let end = lo.checked_add(n).filter(|&e| e <= x.numel());
    let Some(end) = end else {
        return Err(Error::Shape(format!("elements {lo}.. ({n} of them) of {}", x.numel())));
    };
    Ok(map_linear(x, shape, |src, out| out.copy_from_slice(&src[lo..end])))
}

/// The sum over the last axis (`(…, n) -> (…)`).
pub fn sum_last<P: Planes + ?Sized>(x: &P) -> Result<Tensor> {
    let shape = x.shape();
    let n = *shape.last().ok_or_else(|| Error::Shape("sum over the last axis of a scalar".into()))?;
    let out_shape = shape[..shape.len() - 1].to_vec();
    Ok(map_linear(x, out_shape, |src, out| {
        for (o, row) in out.iter_mut().zip(src.chunks(n.max(1))) {
            *o = row.iter().sum();
        }
    }))
}

/// `k · x`.
pub fn scale<P: Planes + ?Sized>(x: &P, k: f64) -> Tensor {
    map_linear(x, x.shape().to_vec(), |src, out| {
        for (o, s) in out.iter_mut().zip(src) {
            *o = k * s;
        }
    })
}

fn dims4(what: &str, shape: &[usize]) -> Result<[usize; 4]> {
    match *shape {
        [a, b, c, d] => Ok([a, b, c, d]),
        _ => Err(Error::Shape(format!("{what}: expected 4 dimensions, found shape {shape:?}"))),
    }
}

/// Concatenates tensors of equal shape along a new leading axis.
pub(crate) fn stack(parts: Vec<Tensor>, mut shape: Vec<usize>) -> Result<Tensor> {
    let mode = parts.iter().try_fold(Mode::Primal, |m, t| m.merge(t.mode()))?;
    let n: usize = parts.first().map_or(0, |t| t.numel());
    shape.insert(0, parts.len());
    let total = n * parts.len();
    let mut re = Vec::with_capacity(total);
    for t in &parts {
        re.extend_from_slice(t.re());
    }
    let gather_planes = |count: usize, get: &dyn Fn(&Tensor, usize) -> Option<&[f64]>| -> Option<Vec<f64>> {
        if parts.iter().all(|t| (0..count).all(|i| get(t, i).is_none())) {
            return None;
        }
        let mut out = vec![0.0; total * count];
        for i in 0..count {
            for (b, t) in parts.iter().enumerate() {
                if let Some(src) = get(t, i) {
                    out[i * total + b * n..i * total + (b + 1) * n].copy_from_slice(src);
                }
            }
        }
        Some(out)
    };
    let tan = gather_planes(mode.tangents(), &|t, i| t.tangent(i));
    let sec = gather_planes(mode.seconds(), &|t, p| t.second(p));
    Ok(Tensor::raw(shape, mode, re, tan, sec))
}

/// 2-D convolution (cross-correlation as in deep-learning libraries), valid padding, stride 1:
/// `x (B, C, H, W)`, `w (O, C, kh, kw)`, bias `b (O)` -> `(B, O, H-kh+1, W-kw+1)`.
///
/// Each image is lowered to a `(C·kh·kw) × (Ho·Wo)` column matrix (im2col, a gather on every
/// plane) and multiplied by the `O × (C·kh·kw)` weight matrix with [`matmul`]'s product rule;
/// images run in parallel.
pub fn conv2d<W, Bi>(x: &Tensor, w: &W, b: &Bi) -> Result<Tensor>
where
    W: Planes + ?Sized,
    Bi: Planes + ?Sized,
{
    let [batch, c, h, wd] = dims4("conv2d input", x.shape())?;
    let [o, c2, kh, kw] = dims4("conv2d weight", w.shape())?;
    if c != c2 || kh == 0 || kw == 0 || kh > h || kw > wd {
        return Err(Error::Shape(format!("conv2d: input {:?} with weight {:?}", x.shape(), w.shape())));
    }
    if b.numel() != o {
        return Err(Error::Shape(format!("conv2d: bias {:?} for {o} output channels", b.shape())));
    }
    if batch == 0 {
        return Err(Error::InvalidArgument("conv2d: empty batch".into()));
    }
    let (ho, wo) = (h - kh + 1, wd - kw + 1);
    let ckk = c * kh * kw;
    let idx = im2col_index(c, h, wd, kh, kw);
    let wshape = [o, ckk];
    let wmat = Reshaped::new(w, &wshape)?;
    let parts = (0..batch)
        .into_par_iter()
        .map(|bi| {
            let cols = gather(x, bi * c * h * wd, &idx, vec![ckk, ho * wo])?;
            let mut y = matmul(&wmat, &cols)?;
            add_broadcast_assign(&mut y, b, 0, 1.0)?;
            Ok(y)
        })
        .collect::<Result<Vec<_>>>()?;
    stack(parts, vec![o, ho, wo])
}

/// The im2col map of one `(c, h, w)` image for a `kh × kw` kernel: entry `(r, q)` of the
/// `(c·kh·kw) × (ho·wo)` column matrix is image element `idx[r·ho·wo + q]`.
pub(crate) fn im2col_index(c: usize, h: usize, w: usize, kh: usize, kw: usize) -> Vec<usize> {
    let (ho, wo) = (h - kh + 1, w - kw + 1);
    let mut idx = Vec::with_capacity(c * kh * kw * ho * wo);
    for ci in 0..c {
        for ki in 0..kh {
            for kj in 0..kw {
                for oh in 0..ho {
                    for ow in 0..wo {
                        idx.push(ci * h * w + (oh + ki) * w + ow + kj);
                    }
                }
            }
        }
    }
    idx
}

/// For each output of a 2×2 stride-2 max-pool over `planes` planes of `h × w`, the index of
/// the (first) primal maximum in `re`.
pub(crate) fn pool2_argmax(re: &[f64], planes: usize, h: usize, w: usize) -> Vec<usize> {
    let (ho, wo) = (h / 2, w / 2);
    let mut idx = Vec::with_capacity(planes * ho * wo);
    for plane in 0..planes {
        let base = plane * h * w;
        for oh in 0..ho {
            for ow in 0..wo {
                let mut best = base + 2 * oh * w + 2 * ow;
                for (di, dj) in [(0, 1), (1, 0), (1, 1)] {
                    let e = base + (2 * oh + di) * w + 2 * ow + dj;
                    if re[e] > re[best] {
                        best = e;
                    }
                }
                idx.push(best);
            }
        }
    }
    idx
}

/// 2×2 max-pooling with stride 2 over `(B, C, H, W)` (odd trailing rows/columns dropped).
/// Every plane takes the element at the primal's argmax (the first one at a tie).
pub fn max_pool2(x: &Tensor) -> Result<Tensor> {
    let [batch, c, h, w] = dims4("max_pool2", x.shape())?;
    let (ho, wo) = (h / 2, w / 2);
    if ho == 0 || wo == 0 {
        return Err(Error::Shape(format!("max_pool2: input {:?} is smaller than 2×2", x.shape())));
    }
    let idx = pool2_argmax(x.re(), batch * c, h, w);
    gather(x, 0, &idx, vec![batch, c, ho, wo])
}

/// Runs `f` on the eager backend over `z` (borrowed) and, with `labels`, its one-hot
/// targets: the losses below are the tensor language's ([`crate::nn`]) run eagerly.
fn eager_loss(
    z: &Tensor,
    labels: Option<&[usize]>,
    f: impl FnOnce(&mut dyn Backend, Var, Option<Var>) -> Result<Var>,
) -> Result<Tensor> {
    let params = Params::primal(&[]);
    let mut e = Eager::new(&params);
    let zv = e.tensor(z.clone())?;
    let y = match labels {
        Some(labels) => {
            let (b, c) = dims2("labels for logits", z.shape())?;
            crate::error::check_len(|| "labels".into(), b, labels.len())?;
            Some(e.targets(labels, c)?)
        }
        None => None,
    };
    let out = f(&mut e, zv, y)?;
    e.take(out)
}

/// Log-softmax over the last axis of `z (B, C)`: [`nn::log_softmax`] run eagerly.
pub fn log_softmax(z: &Tensor) -> Result<Tensor> {
    eager_loss(z, None, |b, z, _| nn::log_softmax(b, z))
}

/// The mean negative log-likelihood `-(1/B) Σ_b logp[b, y_b]` of log-probabilities
/// `(B, C)`, a scalar tensor: [`nn::nll`] against one-hot targets, run eagerly.
pub fn nll(logp: &Tensor, labels: &[usize]) -> Result<Tensor> {
    eager_loss(logp, Some(labels), |b, z, y| nn::nll(b, z, y.expect("labels given")))
}

/// Softmax cross-entropy of logits `(B, C)` against labels, averaged over the batch:
/// [`nn::cross_entropy`] against one-hot targets, run eagerly.
pub fn cross_entropy(logits: &Tensor, labels: &[usize]) -> Result<Tensor> {
    eager_loss(logits, Some(labels), |b, z, y| nn::cross_entropy(b, z, y.expect("labels given")))
}

fn check_labels(b: usize, c: usize, labels: &[usize]) -> Result<()> {
    crate::error::check_len(|| "labels".into(), b, labels.len())?;
    if let Some((i, &y)) = labels.iter().enumerate().find(|(_, &y)| y >= c) {
        return Err(Error::InvalidArgument(format!("label {y} of sample {i} is not below {c} classes")));
    }
    Ok(())
}

/// A windowed maximum with its planes: with `w = windows.len() / numel(shape)`, output
/// element `e` is `x[windows[e·w + t]]` for the first `t` whose primal value is strictly
/// greater than every earlier candidate's (every plane takes that element).
pub fn max_over<P: Planes + ?Sized>(x: &P, windows: &[usize], shape: Vec<usize>) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    if n == 0 || windows.is_empty() || !windows.len().is_multiple_of(n) {
        return Err(Error::Shape(format!(
            "max_over: {} window indices do not form {n} non-empty windows",
            windows.len()
        )));
    }
    let re = x.re();
    if let Some(&j) = windows.iter().find(|&&j| j >= re.len()) {
        return Err(Error::Shape(format!("max_over: index {j} out of range for {} elements", re.len())));
    }
    let idx: Vec<usize> = windows
        .chunks(windows.len() / n)
        .map(|w| w.iter().copied().fold(w[0], |best, j| if re[j] > re[best] { j } else { best }))
        .collect();
    gather(x, 0, &idx, shape)
}

/// The fraction of rows of `logits (B, C)` whose (first) primal argmax is the label.
pub fn accuracy<P: Planes + ?Sized>(logits: &P, labels: &[usize]) -> Result<f64> {
    let (b, c) = dims2("accuracy", logits.shape())?;
    if b == 0 || c == 0 {
        return Err(Error::InvalidArgument("accuracy: empty batch".into()));
    }
    check_labels(b, c, labels)?;
    let hits = logits
        .re()
        .chunks(c)
        .zip(labels)
        .filter(|(row, &y)| {
            let arg = (1..c).fold(0, |best, j| if row[j] > row[best] { j } else { best });
            arg == y
        })
        .count();
    Ok(hits as f64 / b as f64)
}
