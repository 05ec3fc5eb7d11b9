//! Instantiating a rerolled program at a size that was never traced.
//!
//! The rerolled programs of one function traced at three sizes `p0 < p1 < p2` (the probes)
//! are compared node by node. They qualify when they have the same nodes with the same ops
//! and operands, and every number in them is affine in the size: each extent of each shape,
//! each parameter offset and slice start, each gather's index pattern (`a + row·i + col·j`:
//! `a`, `row` and `col`), and each literal (equal at every probe, an integer affine in the
//! size such as `n` or `n - 1`, the reciprocal of one such as `1 / n`, or affine in the size
//! to rounding). The slope of each number is read from the first two probes and checked at
//! the third; the program at the requested size is then recorded again, node by node,
//! through the [`TensorBuilder`] (so every shape, offset and index is checked as when the
//! rerolling pass records it). The caller also instantiates the program at a fourth probe
//! size and compares it with the program traced there ([`predicts`]).

use crate::tensor::{TNode, TOp, Tensor, TensorBuilder, TensorProgram};

/// Why the probes' programs could not be instantiated.
pub(crate) type Refusal = &'static str;

const DIFFER: Refusal = "the programs traced at the probe sizes differ in structure";
const NOT_AFFINE: Refusal = "a shape, offset or index of the probes' programs is not affine in the size";
const LITERAL: Refusal = "a literal of the probes' programs is not affine in the size";
const BUILD: Refusal = "the program instantiated at the requested size does not check";

/// The probes: three sizes and each one's (f64) rerolled program.
pub(crate) struct Probes<'a> {
    /// The sizes, increasing.
    pub sizes: [usize; 3],
    /// The rerolled program at each size.
    pub programs: [&'a TensorProgram; 3],
}

/// An integer read at the three probe sizes, affine in the size (the slope may be a
/// fraction, `(n - 1) / 2` pairs: the value must then be an integer at the third probe and at
/// `at`): its value at `at`.
fn affine(v: [i64; 3], p: [i64; 3], at: i64) -> Option<i64> {
    let (dv, dp) = (i128::from(v[1]) - i128::from(v[0]), i128::from(p[1]) - i128::from(p[0]));
    let extend = |q: i64| {
        let num = dv * (i128::from(q) - i128::from(p[0]));
        (dp != 0 && num % dp == 0).then(|| i128::from(v[0]) + num / dp)
    };
    (extend(p[2])? == i128::from(v[2])).then_some(())?;
    i64::try_from(extend(at)?).ok()
}

/// A count or offset read at the probes: its value at `at` (`None` if not affine or
/// negative there).
fn affine_usize(v: [usize; 3], p: [i64; 3], at: i64) -> Option<usize> {
    let v = [i64::try_from(v[0]).ok()?, i64::try_from(v[1]).ok()?, i64::try_from(v[2]).ok()?];
    usize::try_from(affine(v, p, at)?).ok()
}

/// An integer-valued `f64` as an `i64` (exactly), if it is one.
fn integral(c: f64) -> Option<i64> {
    (c.fract() == 0.0 && c.abs() < (1u64 << 53) as f64).then_some(c as i64)
}

/// A literal read at the three probes: its value at `at` (see the module documentation).
fn literal(c: [f64; 3], p: [i64; 3], at: i64) -> Option<f64> {
    if c.iter().all(|v| v.to_bits() == c[0].to_bits()) {
        return Some(c[0]);
    }
    if !c.iter().all(|v| v.is_finite()) {
        return None;
    }
    // an integer affine in the size (`n`, `2n - 1`): exact
    if let [Some(a), Some(b), Some(d)] = c.map(integral) {
        return affine([a, b, d], p, at).map(|v| v as f64);
    }
    // the reciprocal of one (`1 / n`): computed as the function computes it
    let r = c.map(|v| 1.0 / v);
    let near = r.map(|v| v.round());
    if r.iter().zip(&near).all(|(v, n)| (v - n).abs() <= 1e-9 * n.abs()) {
        if let [Some(a), Some(b), Some(d)] = near.map(integral) {
            return affine([a, b, d], p, at).filter(|&v| v != 0).map(|v| 1.0 / v as f64);
        }
    }
    // affine to rounding
    let (p0, p1, p2) = (p[0] as f64, p[1] as f64, p[2] as f64);
    let slope = (c[1] - c[0]) / (p1 - p0);
    let want = c[0] + slope * (p2 - p0);
    let close = (want - c[2]).abs() <= 1e-12 * c[2].abs().max(c[0].abs());
    close.then_some(c[0] + slope * (at as f64 - p0))
}

/// A gather's shape (`[]`, `[len]` or `[rows, len]`) as `(rows, len)`.
fn rows_len(shape: &[usize]) -> Option<(usize, usize)> {
    match *shape {
        [] => Some((1, 1)),
        [l] => Some((1, l)),
        [r, l] => Some((r, l)),
        _ => None,
    }
}

/// A gather's index list read as `a + row·i + col·j` over `shape` (`[]`, `[len]` or
/// `[rows, len]`): `(a, row, col)`, if it is one.
fn pattern(idx: &[usize], shape: &[usize]) -> Option<[i64; 3]> {
    let (rows, len) = rows_len(shape)?;
    let at = |k: usize| idx.get(k).and_then(|&v| i64::try_from(v).ok());
    let a = at(0)?;
    let col = if len > 1 { at(1)? - a } else { 0 };
    let row = if rows > 1 { at(len)? - a } else { 0 };
    let fits = idx.len() == rows * len
        && (0..rows).all(|i| (0..len).all(|j| at(i * len + j) == Some(a + row * i as i64 + col * j as i64)));
    fits.then_some([a, row, col])
}

/// The rerolled program at size `at`, from the probes' programs (see the module
/// documentation), or why not.
pub(crate) fn instantiate(probes: &Probes<'_>, at: usize) -> Result<TensorProgram, Refusal> {
    let p = probes.sizes.map(|s| s as i64);
    let at = i64::try_from(at).map_err(|_| NOT_AFFINE)?;
    let [a, b, c] = probes.programs;
    let (na, nb, nc) = (a.nodes(), b.nodes(), c.nodes());
    if na.len() != nb.len() || na.len() != nc.len() || a.output() != b.output() || a.output() != c.output() {
        return Err(DIFFER);
    }
    let n_params = affine_usize([a.dim(), b.dim(), c.dim()], p, at).ok_or(NOT_AFFINE)?;
    let mut builder = TensorBuilder::new(n_params);
    let mut map: Vec<Tensor> = Vec::with_capacity(na.len());
    for ((x, y), z) in na.iter().zip(nb).zip(nc) {
        let t = replay(&mut builder, [x, y, z], &map, p, at)?;
        map.push(t);
    }
    let out = *map.get(a.output().index()).ok_or(DIFFER)?;
    builder.finish(out).map_err(|_| BUILD)
}

/// Whether `got` (instantiated at a probe size) is the program traced there, `want`: the
/// same nodes, shapes, offsets and indices, literals equal to rounding.
pub(crate) fn predicts(got: &TensorProgram, want: &TensorProgram) -> bool {
    let (g, w) = (got.nodes(), want.nodes());
    g.len() == w.len()
        && got.output() == want.output()
        && got.dim() == want.dim()
        && g.iter().zip(w).all(|(x, y)| {
            x.shape == y.shape
                && match (&x.op, &y.op) {
                    (TOp::Const(a), TOp::Const(b)) => {
                        a.to_bits() == b.to_bits() || (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
                    }
                    (TOp::Gather(p, i), TOp::Gather(q, j)) => p == q && i == j,
                    (TOp::Data(_) | TOp::MaxSelect(..), _) | (_, TOp::Data(_) | TOp::MaxSelect(..)) => false,
                    (p, q) => format!("{p:?}") == format!("{q:?}"),
                }
        })
}

/// A node's shape at `at`.
fn shape_at(n: [&TNode; 3], p: [i64; 3], at: i64) -> Result<Vec<usize>, Refusal> {
    let rank = n[0].shape.len();
    if n[1].shape.len() != rank || n[2].shape.len() != rank {
        return Err(DIFFER);
    }
    (0..rank)
        .map(|d| affine_usize(n.map(|m| m.shape[d]), p, at).filter(|&e| e > 0).ok_or(NOT_AFFINE))
        .collect()
}

/// Records one node of the probes' programs at `at` into `b` (operands through `map`) and
/// checks its shape.
fn replay(
    b: &mut TensorBuilder,
    n: [&TNode; 3],
    map: &[Tensor],
    p: [i64; 3],
    at: i64,
) -> Result<Tensor, Refusal> {
    let shape = shape_at(n, p, at)?;
    let arg = |i: &u32| map.get(*i as usize).copied().ok_or(DIFFER);
    let built = match (&n[0].op, &n[1].op, &n[2].op) {
        (TOp::Param(o0), TOp::Param(o1), TOp::Param(o2)) => {
            let off = affine_usize([*o0, *o1, *o2], p, at).ok_or(NOT_AFFINE)?;
            b.param(off, &shape)
        }
        (TOp::Input(s0), TOp::Input(s1), TOp::Input(s2)) if s0 == s1 && s0 == s2 => b.input(*s0, &shape),
        (TOp::Const(c0), TOp::Const(c1), TOp::Const(c2)) => {
            Ok(b.constant(literal([*c0, *c1, *c2], p, at).ok_or(LITERAL)?))
        }
        (TOp::Neg(x), TOp::Neg(y), TOp::Neg(z)) => {
            same(x, y, z)?;
            b.neg(arg(x)?)
        }
        (TOp::Unary(u, x), TOp::Unary(v, y), TOp::Unary(w, z)) => {
            same(u, v, w)?;
            same(x, y, z)?;
            b.unary(*u, arg(x)?)
        }
        (TOp::Binary(o, x0, x1), TOp::Binary(q, y0, y1), TOp::Binary(r, z0, z1)) => {
            same(o, q, r)?;
            same(&[x0, x1], &[y0, y1], &[z0, z1])?;
            b.binary(*o, arg(x0)?, arg(x1)?)
        }
        (TOp::Select(c, x), TOp::Select(d, y), TOp::Select(e, z)) => {
            same(c, d, e)?;
            same(x, y, z)?;
            let [s, t, u, v] = [arg(&x[0])?, arg(&x[1])?, arg(&x[2])?, arg(&x[3])?];
            b.select(*c, s, t, u, v)
        }
        (TOp::Sum(x), TOp::Sum(y), TOp::Sum(z)) => {
            same(x, y, z)?;
            Ok(b.sum(arg(x)?))
        }
        (TOp::Reshape(x), TOp::Reshape(y), TOp::Reshape(z)) => {
            same(x, y, z)?;
            b.reshape(arg(x)?, &shape)
        }
        (TOp::Slice(x, s0), TOp::Slice(y, s1), TOp::Slice(z, s2)) => {
            same(x, y, z)?;
            let start = affine_usize([*s0, *s1, *s2], p, at).ok_or(NOT_AFFINE)?;
            let rows = shape.first().copied().ok_or(DIFFER)?;
            b.slice(arg(x)?, start, start + rows)
        }
        (TOp::Gather(x, i0), TOp::Gather(y, i1), TOp::Gather(z, i2)) => {
            same(x, y, z)?;
            let [src] = x[..] else { return Err(DIFFER) };
            let pats = [(i0, n[0]), (i1, n[1]), (i2, n[2])].map(|(i, m)| pattern(i, &m.shape));
            let [Some(q0), Some(q1), Some(q2)] = pats else { return Err(NOT_AFFINE) };
            let coef = |k: usize| affine([q0[k], q1[k], q2[k]], p, at).ok_or(NOT_AFFINE);
            let (a, row, col) = (coef(0)?, coef(1)?, coef(2)?);
            let (rows, len) = rows_len(&shape).ok_or(DIFFER)?;
            let idx = (0..rows as i64)
                .flat_map(|i| (0..len as i64).map(move |j| a + row * i + col * j))
                .map(|k| usize::try_from(k).ok())
                .collect::<Option<Vec<_>>>()
                .ok_or(NOT_AFFINE)?;
            b.gather(arg(&src)?, idx, &shape)
        }
        _ => return Err(DIFFER),
    };
    let t = built.map_err(|_| BUILD)?;
    match b.shape_of(t) {
        Ok(s) if s == shape.as_slice() => Ok(t),
        _ => Err(BUILD),
    }
}

/// The same op kind (unary op, binary op or comparison), or the same operands, at every probe.
fn same<O: PartialEq + ?Sized>(a: &O, b: &O, c: &O) -> Result<(), Refusal> {
    if a == b && a == c {
        Ok(())
    } else {
        Err(DIFFER)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_affine_in_the_size_are_extended() {
        let p = [300, 364, 428];
        let at = 1_000_000;
        assert_eq!(literal([2.5; 3], p, at), Some(2.5));
        assert_eq!(literal([300.0, 364.0, 428.0], p, at), Some(1e6));
        assert_eq!(literal([299.0, 363.0, 427.0], p, at), Some(999_999.0));
        assert_eq!(literal([1.0 / 300.0, 1.0 / 364.0, 1.0 / 428.0], p, at), Some(1.0 / 1e6));
        assert_eq!(literal([300f64.sqrt(), 364f64.sqrt(), 428f64.sqrt()], p, at), None);
        assert_eq!(literal([30.0, 36.4, 42.8], p, at).map(|v| (v - 1e5).abs() < 1e-6), Some(true));
        // an integer that is affine at the first two probes only
        assert_eq!(literal([300.0, 364.0, 500.0], p, at), None);
    }

    #[test]
    fn index_patterns_are_read_and_checked() {
        assert_eq!(pattern(&[3, 5, 7, 9], &[4]), Some([3, 0, 2]));
        assert_eq!(pattern(&[0, 1, 10, 11, 20, 21], &[3, 2]), Some([0, 10, 1]));
        assert_eq!(pattern(&[0, 1, 3], &[3]), None);
        assert_eq!(pattern(&[4], &[]), Some([4, 0, 0]));
    }

    #[test]
    fn counts_must_be_affine_and_stay_non_negative() {
        let p = [300, 364, 428];
        assert_eq!(affine_usize([299, 363, 427], p, 5000), Some(4999));
        assert_eq!(affine_usize([3, 3, 3], p, 5000), Some(3));
        assert_eq!(affine_usize([300, 364, 429], p, 5000), None);
        // negative there
        assert_eq!(affine_usize([600, 536, 472], p, 1_000_000), None);
        // half as many pairs as inputs: an integer at the size
        assert_eq!(affine_usize([150, 182, 214], p, 5036), Some(2518));
        assert_eq!(affine_usize([150, 182, 214], p, 5037), None);
    }
}
