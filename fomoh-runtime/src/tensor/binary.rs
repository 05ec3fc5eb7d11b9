//! Elementwise binary functions with numpy broadcasting, every plane by the second-order
//! chain rule.

use super::{Planes, Tensor};
use crate::error::{Error, Result};
use crate::real::Real;
use crate::rules::BinaryOp;
use rayon::prelude::*;

/// The numpy broadcast of two shapes.
fn broadcast_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let rank = a.len().max(b.len());
    let pad = |s: &[usize], d: usize| if d + s.len() >= rank { s[d + s.len() - rank] } else { 1 };
    (0..rank)
        .map(|d| match (pad(a, d), pad(b, d)) {
            (x, y) if x == y => Ok(x),
            (1, y) => Ok(y),
            (x, 1) => Ok(x),
            _ => Err(Error::Shape(format!("cannot broadcast {a:?} with {b:?}"))),
        })
        .collect()
}

/// How an operand's elements map onto the output's (row-major).
#[derive(Clone, Debug)]
enum Bcast {
    /// The output's shape: element `e` is `e`.
    Same,
    /// One element for all.
    Scalar,
    /// A row repeated: element `e` is `e % n`.
    Row(usize),
    /// A column repeated along rows of `n`: element `e` is `e / n`.
    Col(usize),
    /// Any other broadcast: element `e` is `map[e]`.
    Map(Vec<usize>),
}

impl Bcast {
    fn of(s: &[usize], out: &[usize]) -> Bcast {
        let (n, len) = (s.iter().product::<usize>(), out.iter().product::<usize>());
        if n == len {
            return Bcast::Same;
        }
        if n == 1 {
            return Bcast::Scalar;
        }
        let rank = out.len();
        let padded: Vec<usize> = std::iter::repeat_n(1, rank - s.len()).chain(s.iter().copied()).collect();
        if rank == 2 && padded == [1, out[1]] {
            return Bcast::Row(out[1]);
        }
        if rank == 2 && padded == [out[0], 1] {
            return Bcast::Col(out[1]);
        }
        let mut strides = vec![0; rank];
        let mut acc = 1;
        for d in (0..rank).rev() {
            strides[d] = if padded[d] == 1 { 0 } else { acc };
            acc *= padded[d];
        }
        let mut map = Vec::with_capacity(len);
        let mut coord = vec![0; rank];
        for _ in 0..len {
            map.push(coord.iter().zip(&strides).map(|(c, s)| c * s).sum());
            for d in (0..rank).rev() {
                coord[d] += 1;
                if coord[d] < out[d] {
                    break;
                }
                coord[d] = 0;
            }
        }
        Bcast::Map(map)
    }
}

/// One broadcast operand plane.
#[derive(Clone, Copy)]
struct Operand<'a> {
    plane: &'a [f64],
    b: &'a Bcast,
}

impl Operand<'_> {
    #[inline(always)]
    fn at(&self, e: usize) -> f64 {
        match self.b {
            Bcast::Same => self.plane[e],
            Bcast::Scalar => self.plane[0],
            Bcast::Row(n) => self.plane[e % n],
            Bcast::Col(n) => self.plane[e / n],
            Bcast::Map(m) => self.plane[m[e]],
        }
    }
}

/// `out (+)= coef · x` over a run of elements with `x` contiguous (`coef` `None`: 1).
#[inline(always)]
fn run(out: &mut [f64], coef: Option<&[f64]>, x: &[f64], acc: bool) {
    match (coef, acc) {
        (None, false) => out.copy_from_slice(x),
        (None, true) => out.iter_mut().zip(x).for_each(|(o, v)| *o += v),
        (Some(c), false) => out.iter_mut().zip(x).zip(c).for_each(|((o, v), c)| *o = c * v),
        (Some(c), true) => out.iter_mut().zip(x).zip(c).for_each(|((o, v), c)| *o += c * v),
    }
}

/// `out (+)= coef · v` over a run of elements with one value `v`.
#[inline(always)]
fn run_scalar(out: &mut [f64], coef: Option<&[f64]>, v: f64, acc: bool) {
    match (coef, acc) {
        (None, false) => out.fill(v),
        (None, true) => out.iter_mut().for_each(|o| *o += v),
        (Some(c), false) => out.iter_mut().zip(c).for_each(|(o, c)| *o = c * v),
        (Some(c), true) => out.iter_mut().zip(c).for_each(|(o, c)| *o += c * v),
    }
}

/// `out[e] (+)= coef[e] · x[e]` (`coef` `None`: 1; `acc`: accumulate), row by row for the
/// row and column broadcasts.
fn axpy(out: &mut [f64], coef: Option<&[f64]>, x: Operand<'_>, acc: bool) {
    match x.b {
        Bcast::Same => run(out, coef, x.plane, acc),
        Bcast::Scalar => run_scalar(out, coef, x.plane[0], acc),
        Bcast::Row(n) => {
            for (r, o) in out.chunks_mut((*n).max(1)).enumerate() {
                run(o, coef.map(|c| &c[r * n..r * n + o.len()]), x.plane, acc);
            }
        }
        Bcast::Col(n) => {
            for (r, o) in out.chunks_mut((*n).max(1)).enumerate() {
                run_scalar(o, coef.map(|c| &c[r * n..r * n + o.len()]), x.plane[r], acc);
            }
        }
        Bcast::Map(_) => {
            for (e, o) in out.iter_mut().enumerate() {
                let v = coef.map_or(1.0, |c| c[e]) * x.at(e);
                *o = if acc { *o + v } else { v };
            }
        }
    }
}

/// [`axpy`] and [`axpy2`] where a coefficient may be ±∞ or NaN: `out[e] (+)= coef[e] ·
/// x[e] (· y[e])`, the term exactly 0 where a tangent factor `x[e]` or `y[e]` is exactly 0
/// (a zero tangent contributes exactly zero).
#[cold]
#[inline(never)]
fn axpy_guarded(out: &mut [f64], coef: &[f64], x: Operand<'_>, y: Option<Operand<'_>>, acc: bool) {
    for (e, o) in out.iter_mut().enumerate() {
        let v = match y {
            Some(y) => x.at(e).zero_tangents(y.at(e), coef[e] * x.at(e) * y.at(e)),
            None => x.at(e).zero_tangent(coef[e] * x.at(e)),
        };
        *o = if acc { *o + v } else { v };
    }
}

/// `out[e] += coef[e] · x[e] · y[e]`.
fn axpy2(out: &mut [f64], coef: &[f64], x: Operand<'_>, y: Operand<'_>) {
    if let (Bcast::Same, Bcast::Same) = (x.b, y.b) {
        for (((o, c), u), v) in out.iter_mut().zip(coef).zip(x.plane).zip(y.plane) {
            *o += c * u * v;
        }
    } else {
        for (e, o) in out.iter_mut().enumerate() {
            *o += coef[e] * x.at(e) * y.at(e);
        }
    }
}

/// An elementwise binary function from the rule table ([`BinaryOp::partials`]) with numpy
/// broadcasting, every plane by the second-order chain rule: `t_i = f_x·a_i + f_y·b_i`,
/// `s_ij = f_x·a_ij + f_y·b_ij + f_xx·a_i·a_j + f_xy·(a_i·b_j + a_j·b_i) + f_yy·b_i·b_j`.
/// A zero plane (`None`) contributes no term at all; where a partial is ±∞ or NaN, a term
/// whose tangent factor is exactly zero is exactly zero (as in [`crate::HyperDual::lift2`]).
/// `+` and `-` (constant partials) add and subtract planes; a passive operand's terms are
/// skipped.
pub fn binary<A, B>(op: BinaryOp, a: &A, b: &B) -> Result<Tensor>
where
    A: Planes + ?Sized,
    B: Planes + ?Sized,
{
    let shape = broadcast_shape(a.shape(), b.shape())?;
    let n: usize = shape.iter().product();
    let mode = a.mode().merge(b.mode())?;
    let (ia, ib) = (Bcast::of(a.shape(), &shape), Bcast::of(b.shape(), &shape));
    let (ia, ib) = (&ia, &ib);
    let (ar, br) = (Operand { plane: a.re(), b: ia }, Operand { plane: b.re(), b: ib });
    let linear = matches!(op, BinaryOp::Add | BinaryOp::Sub);
    let neg_b: Option<Vec<f64>> = (op == BinaryOp::Sub).then(|| vec![-1.0; n]);
    // The partials, one array each (for `+` and `-` only the signs, below).
    let mut p = [vec![], vec![], vec![], vec![], vec![], vec![]];
    let re: Vec<f64> = if linear {
        let mut re = vec![0.0; n];
        axpy(&mut re, None, ar, false);
        axpy(&mut re, neg_b.as_deref(), br, true);
        re
    } else {
        p.iter_mut().for_each(|v| v.reserve_exact(n));
        for e in 0..n {
            let q = op.partials(ar.at(e), br.at(e));
            for (v, x) in p.iter_mut().zip([q.f, q.fx, q.fy, q.fxx, q.fxy, q.fyy]) {
                v.push(x);
            }
        }
        std::mem::take(&mut p[0])
    };
    // Whether every partial is finite (the plain loops); otherwise the guarded ones. A
    // regular operation's partials are finite wherever its value is.
    let finite = linear || op.is_regular() || p[1..].iter().flatten().fold(0.0, |s, &c| s + c).is_finite();
    let lane_axpy = |o: &mut [f64], c: Option<&[f64]>, x: Operand<'_>, acc: bool| match c {
        Some(c) if !finite => axpy_guarded(o, c, x, None, acc),
        _ => axpy(o, c, x, acc),
    };
    let (fx, fy): (Option<&[f64]>, Option<&[f64]>) =
        if linear { (None, neg_b.as_deref()) } else { (Some(&p[1]), Some(&p[2])) };
    let (k, s) = (mode.tangents(), mode.seconds());
    let at: Vec<Option<Operand<'_>>> =
        (0..k).map(|i| a.tangent(i).map(|plane| Operand { plane, b: ia })).collect();
    let bt: Vec<Option<Operand<'_>>> =
        (0..k).map(|i| b.tangent(i).map(|plane| Operand { plane, b: ib })).collect();
    let any_tan = at.iter().chain(&bt).any(Option::is_some);
    let any_sec = (!linear && any_tan) || (0..s).any(|q| a.second(q).is_some() || b.second(q).is_some());
    let tan = any_tan.then(|| {
        let mut out = vec![0.0; n * k];
        out.par_chunks_mut(n.max(1)).enumerate().for_each(|(i, o)| {
            let mut acc = false;
            for (x, c) in [(at[i], fx), (bt[i], fy)] {
                if let Some(x) = x {
                    lane_axpy(o, c, x, acc);
                    acc = true;
                }
            }
        });
        out
    });
    let sec = any_sec.then(|| {
        let mut out = vec![0.0; n * s];
        out.par_chunks_mut(n.max(1)).enumerate().for_each(|(q, o)| {
            let (i, j) = mode.pair(q);
            let asec = a.second(q).map(|plane| Operand { plane, b: ia });
            let bsec = b.second(q).map(|plane| Operand { plane, b: ib });
            let mut acc = false;
            for (x, c) in [(asec, fx), (bsec, fy)] {
                if let Some(x) = x {
                    lane_axpy(o, c, x, acc);
                    acc = true;
                }
            }
            if linear {
                return;
            }
            let (fxx, fxy, fyy) = (&p[3], &p[4], &p[5]);
            for (u, v, c) in
                [(at[i], at[j], fxx), (at[i], bt[j], fxy), (at[j], bt[i], fxy), (bt[i], bt[j], fyy)]
            {
                if let (Some(u), Some(v)) = (u, v) {
                    if finite {
                        axpy2(o, c, u, v);
                    } else {
                        axpy_guarded(o, c, u, Some(v), true);
                    }
                }
            }
        });
        out
    });
    Ok(Tensor::raw(shape, mode, re, tan, sec))
}

/// `a ← a + b` (or `a - b` with `negate`) in place, `b` broadcast onto `a`'s shape, every
/// plane (planes `a` lacks are created where `b` has them). Errors if `b` does not broadcast
/// to `a`'s shape or the modes differ; `a` is then unchanged (every check comes first).
pub(crate) fn add_assign<B: Planes + ?Sized>(a: &mut Tensor, b: &B, negate: bool) -> Result<()> {
    let shape = broadcast_shape(&a.shape, b.shape())?;
    if shape != a.shape {
        return Err(Error::Shape(format!("cannot add {:?} into {:?} in place", b.shape(), a.shape)));
    }
    let mode = a.mode.merge(b.mode())?;
    let n = a.re.len();
    let ib = Bcast::of(b.shape(), &shape);
    let neg: Option<Vec<f64>> = negate.then(|| vec![-1.0; n]);
    let neg = neg.as_deref();
    axpy(&mut a.re, neg, Operand { plane: b.re(), b: &ib }, true);
    let (k, s) = (mode.tangents(), mode.seconds());
    if (0..k).any(|i| b.tangent(i).is_some()) {
        let tan = a.tan.get_or_insert_with(|| vec![0.0; n * k]);
        tan.par_chunks_mut(n.max(1)).enumerate().for_each(|(i, o)| {
            if let Some(plane) = b.tangent(i) {
                axpy(o, neg, Operand { plane, b: &ib }, true);
            }
        });
    }
    if (0..s).any(|q| b.second(q).is_some()) {
        let sec = a.sec.get_or_insert_with(|| vec![0.0; n * s]);
        sec.par_chunks_mut(n.max(1)).enumerate().for_each(|(q, o)| {
            if let Some(plane) = b.second(q) {
                axpy(o, neg, Operand { plane, b: &ib }, true);
            }
        });
    }
    if a.tan.is_some() || a.sec.is_some() {
        a.mode = mode;
    }
    Ok(())
}
