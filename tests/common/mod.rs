//! Scalar references for the tensor tests: the same computations written element by element,
//! generic over `Scalar`, so that `HyperDual` and `HyperK` evaluate them lane by lane; and
//! [`assert_passes_agree`], one objective's passes against a reference's.
#![allow(dead_code)]

use fomoh::tensor::{Mode, Planes, Tensor};
use fomoh::{HyperDual, HyperK, Scalar};

/// A deterministic pseudo-random number in [-1, 1) for index `i` and stream `s`.
pub fn pseudo(i: usize, s: usize) -> f64 {
    let v = ((i as f64 + 1.0) * 12.9898 + (s as f64 + 1.0) * 78.233).sin() * 43758.5453;
    2.0 * (v - v.floor()) - 1.0
}

/// A number type whose lanes map onto a tensor mode.
pub trait Lanes: Scalar {
    const MODE: Mode;
    fn from_lanes(re: f64, t: &[f64], s: &[f64]) -> Self;
    fn lanes(&self) -> (f64, Vec<f64>, Vec<f64>);
}

impl Lanes for HyperDual<f64> {
    const MODE: Mode = Mode::HyperDual;
    fn from_lanes(re: f64, t: &[f64], s: &[f64]) -> Self {
        HyperDual::new(re, t[0], t[1], s[0])
    }
    fn lanes(&self) -> (f64, Vec<f64>, Vec<f64>) {
        (self.re, vec![self.e1, self.e2], vec![self.e12])
    }
}

impl Lanes for HyperK<f64, 3> {
    const MODE: Mode = Mode::Directions(3);
    fn from_lanes(re: f64, t: &[f64], s: &[f64]) -> Self {
        let mut h = HyperK::<f64, 3>::seed(re, [t[0], t[1], t[2]]);
        h.hess.copy_from_slice(s);
        h
    }
    fn lanes(&self) -> (f64, Vec<f64>, Vec<f64>) {
        (self.re, self.grad.to_vec(), self.hess.to_vec())
    }
}

/// A tensor of `shape` in `S::MODE` with pseudo-random planes (second-order planes zero if
/// `!second`); stream `s` picks the numbers.
pub fn random_tensor<S: Lanes>(shape: Vec<usize>, s: usize, second: bool) -> Tensor {
    let n: usize = shape.iter().product();
    let (k, p) = (S::MODE.tangents(), S::MODE.seconds());
    let re = (0..n).map(|i| pseudo(i, s)).collect();
    let tan = (0..n * k).map(|i| pseudo(i, s + 101)).collect();
    let sec = second.then(|| (0..n * p).map(|i| pseudo(i, s + 202)).collect());
    Tensor::from_planes(shape, S::MODE, re, Some(tan), sec).unwrap()
}

/// The elements of a tensor as numbers of type `S`.
pub fn to_scalars<S: Lanes>(t: &Tensor) -> Vec<S> {
    let mode = S::MODE;
    (0..t.numel())
        .map(|e| {
            let tl: Vec<f64> = (0..mode.tangents()).map(|i| t.tangent(i).map_or(0.0, |p| p[e])).collect();
            let sl: Vec<f64> = (0..mode.seconds()).map(|q| t.second(q).map_or(0.0, |p| p[e])).collect();
            S::from_lanes(t.re()[e], &tl, &sl)
        })
        .collect()
}

/// Asserts that every lane of `t` equals the scalar result (relative tolerance `tol`).
pub fn assert_lanes<S: Lanes>(what: &str, t: &Tensor, want: &[S], tol: f64) {
    assert_eq!(t.numel(), want.len(), "{what}: element count");
    let got = to_scalars::<S>(t);
    for (e, (g, w)) in got.iter().zip(want).enumerate() {
        let (g, w) = (g.lanes(), w.lanes());
        let all_g = std::iter::once(g.0).chain(g.1).chain(g.2);
        let all_w = std::iter::once(w.0).chain(w.1).chain(w.2);
        for (lane, (a, b)) in all_g.zip(all_w).enumerate() {
            assert!(
                (a - b).abs() <= tol * (1.0 + a.abs().max(b.abs())),
                "{what}: element {e} lane {lane}: {a} vs {b}"
            );
        }
    }
}

pub fn matmul<S: Scalar>(a: &[S], b: &[S], m: usize, k: usize, n: usize) -> Vec<S> {
    let mut c = vec![S::zero(); m * n];
    for i in 0..m {
        for j in 0..n {
            c[i * n + j] = (0..k).map(|l| a[i * k + l] * b[l * n + j]).sum();
        }
    }
    c
}

pub fn add_bias<S: Scalar>(x: &[S], b: &[S]) -> Vec<S> {
    let n = b.len();
    x.iter().enumerate().map(|(e, &v)| v + b[e % n]).collect()
}

/// Valid, stride-1 cross-correlation: x (B,C,H,W), w (O,C,kh,kw), b (O).
#[allow(clippy::too_many_arguments)]
pub fn conv2d<S: Scalar>(
    x: &[S],
    w: &[S],
    b: &[S],
    dims: [usize; 4],
    o: usize,
    kh: usize,
    kw: usize,
) -> Vec<S> {
    let [bn, c, h, wd] = dims;
    let (ho, wo) = (h - kh + 1, wd - kw + 1);
    let mut out = Vec::with_capacity(bn * o * ho * wo);
    for bi in 0..bn {
        for oc in 0..o {
            for i in 0..ho {
                for j in 0..wo {
                    let mut acc = b[oc];
                    for ci in 0..c {
                        for ki in 0..kh {
                            for kj in 0..kw {
                                acc += w[((oc * c + ci) * kh + ki) * kw + kj]
                                    * x[((bi * c + ci) * h + i + ki) * wd + j + kj];
                            }
                        }
                    }
                    out.push(acc);
                }
            }
        }
    }
    out
}

/// 2×2 max-pool, stride 2, first maximum (by primal) at ties.
pub fn max_pool2<S: Scalar>(x: &[S], dims: [usize; 4]) -> Vec<S> {
    let [bn, c, h, w] = dims;
    let mut out = Vec::new();
    for pl in 0..bn * c {
        for i in 0..h / 2 {
            for j in 0..w / 2 {
                let at = |di: usize, dj: usize| x[pl * h * w + (2 * i + di) * w + 2 * j + dj];
                let mut best = at(0, 0);
                for (di, dj) in [(0, 1), (1, 0), (1, 1)] {
                    if at(di, dj) > best {
                        best = at(di, dj);
                    }
                }
                out.push(best);
            }
        }
    }
    out
}

/// Row-wise log-softmax of (B, C) with the primal max shift.
pub fn log_softmax<S: Scalar>(z: &[S], c: usize) -> Vec<S> {
    let mut out = Vec::with_capacity(z.len());
    for row in z.chunks(c) {
        let m = row.iter().map(|v| v.value()).fold(f64::NEG_INFINITY, f64::max);
        let shifted: Vec<S> = row.iter().map(|&v| v - S::from_f64(m)).collect();
        let lse = shifted.iter().map(|&v| v.exp()).sum::<S>().ln();
        out.extend(shifted.iter().map(|&v| v - lse));
    }
    out
}

/// Mean softmax cross-entropy of (B, C) logits.
pub fn cross_entropy<S: Scalar>(z: &[S], c: usize, labels: &[usize]) -> S {
    let lp = log_softmax(z, c);
    let b = labels.len();
    -labels.iter().enumerate().map(|(i, &y)| lp[i * c + y]).sum::<S>() / S::from_f64(b as f64)
}

/// An MLP's logits, theta in the flat layout (W in×out then b per layer).
pub fn mlp_logits<S: Scalar>(theta: &[S], x: &[f64], b: usize, sizes: &[usize], act: fn(S) -> S) -> Vec<S> {
    let mut h: Vec<S> = x.iter().map(|&v| S::from_f64(v)).collect();
    let mut off = 0;
    for (l, w) in sizes.windows(2).enumerate() {
        let (i, o) = (w[0], w[1]);
        let z =
            add_bias(&matmul(&h, &theta[off..off + i * o], b, i, o), &theta[off + i * o..off + i * o + o]);
        off += i * o + o;
        h = if l + 2 < sizes.len() { z.into_iter().map(act).collect() } else { z };
    }
    h
}

/// `obj`'s value, hyper-dual pass along `(v1, v2)`, jet along `v1` and projection onto `dirs`
/// at `x` agree with `reference`'s to 1e-12 (relative, absolute below 1).
pub fn assert_passes_agree(
    obj: &dyn fomoh::Objective,
    reference: &dyn fomoh::Objective,
    x: &[f64],
    (v1, v2): (&[f64], &[f64]),
    dirs: &[Vec<f64>],
) {
    let close = |a: f64, b: f64| assert!((a - b).abs() <= 1e-12 * a.abs().max(1.0), "{a} vs {b}");
    close(obj.value(x).unwrap(), reference.value(x).unwrap());
    let (g, r) = (obj.hyper_dual(x, v1, v2).unwrap(), reference.hyper_dual(x, v1, v2).unwrap());
    for (a, b) in [(g.re, r.re), (g.e1, r.e1), (g.e2, r.e2), (g.e12, r.e12)] {
        close(a, b);
    }
    let (g, r) = (obj.directional(x, v1).unwrap(), reference.directional(x, v1).unwrap());
    close(g.d1, r.d1);
    close(g.d2, r.d2);
    let (g, r) = (obj.project(x, dirs).unwrap(), reference.project(x, dirs).unwrap());
    assert_eq!((g.grad.len(), g.hess.len()), (r.grad.len(), r.hess.len()));
    for (a, b) in g.grad.iter().zip(&r.grad).chain(g.hess.iter().flatten().zip(r.hess.iter().flatten())) {
        close(*a, *b);
    }
}
