//! Edge cases of `#[fomoh]`: each generated pass equals the runtime pass of the generated
//! generic form and of a hand-written twin, and finite differences.
#![allow(clippy::needless_range_loop)]

mod common;

use fomoh::{check, fomoh, scalar_fn, HyperDual, Scalar};

/// Passive parameters of other types.
pub struct Params {
    /// A passive scale.
    pub scale: f64,
}

#[fomoh]
fn edge(x: &[f64], p: &Params) -> f64 {
    assert!(x.len() > 2);
    debug_assert!(x[0] > -100.0, "x[0] = {}", x.len());
    let n = x.len();
    let y: f64 = if x[0] > 0.0 { 1.0 } else { x[1] };
    let mut v = vec![0.0; n];
    for i in 0..n {
        v[i] = x[i] * 2.0;
    }
    let mut m = vec![vec![0.0; 2]; 2];
    m[0][1] = x[0];
    m[1][0] = 3.0;
    let (a, b) = (x[0], 2.0);
    let t = (x[1], x[2]);
    let x0 = x[0];
    let x0 = x0 * 2.0;
    let mut s =
        -x[0] - (2.0 * x[1]) + f64::max(0.5, x[0]) + 2.0_f64.powf(x[0]) + x[1].powf(2.5) + x[1].powf(x[2]);
    let mut acc = 1.0;
    acc *= x[0];
    for (i, xi) in x.iter().enumerate() {
        s += *xi * i as f64 + n as f64;
    }
    let sq = |u: f64| u * u;
    s += sq(3.0) * x[0] * p.scale;
    let mut best = 0.0;
    for i in 0..n {
        if x[i] > best {
            best = x[i];
        }
    }
    let mut w = Vec::with_capacity(n);
    for i in 0..n {
        w.push(x[i] * x[i]);
    }
    'outer: for i in 0..n {
        for j in 0..n {
            if i + j > 3 {
                break 'outer;
            }
            s += w[j] * v[i];
        }
    }
    let c = match n {
        3 => {
            s += 1.0;
            x[2]
        }
        _ => return s,
    };
    s + y * a * b + t.0 * t.1 + x0 + acc + best + m[0][1] * m[1][0] + c + std::f64::consts::E
}

fn edge_g<S: Scalar>(x: &[S], p: &Params) -> S {
    let n = x.len();
    let y = if x[0] > S::zero() { S::one() } else { x[1] };
    let mut v = vec![S::zero(); n];
    for i in 0..n {
        v[i] = x[i] * S::from_f64(2.0);
    }
    let c2 = S::from_f64(2.0);
    let mut s =
        -x[0] - (c2 * x[1]) + S::from_f64(0.5).max(x[0]) + c2.pow(x[0]) + x[1].powf(2.5) + x[1].pow(x[2]);
    let acc = S::one() * x[0];
    for (i, xi) in x.iter().enumerate() {
        s += *xi * S::from_f64(i as f64) + S::from_f64(n as f64);
    }
    s += S::from_f64(9.0) * x[0] * S::from_f64(p.scale);
    let mut best = S::zero();
    for i in 0..n {
        if x[i] > best {
            best = x[i];
        }
    }
    let w: Vec<S> = (0..n).map(|i| x[i] * x[i]).collect();
    'outer: for i in 0..n {
        for j in 0..n {
            if i + j > 3 {
                break 'outer;
            }
            s += w[j] * v[i];
        }
    }
    if n != 3 {
        return s;
    }
    s += S::one();
    let c = x[2];
    s + y * x[0] * c2
        + x[1] * x[2]
        + x[0] * c2
        + acc
        + best
        + x[0] * S::from_f64(3.0)
        + c
        + S::from_f64(std::f64::consts::E)
}

#[fomoh]
fn constant(x: &[f64]) -> f64 {
    let _ = x.len();
    1.5
}

#[fomoh]
fn fixed<const N: usize>(x: &[f64; N]) -> f64 {
    let mut s = 0.0;
    for i in 0..N {
        s += x[i].sin();
    }
    s
}

#[test]
fn edge_cases_agree() {
    let p = Params { scale: 0.7 };
    let v1 = [0.3, -0.4, 0.8];
    let v2 = [1.0, 0.5, -0.2];
    for x in [[0.6, 1.3, 0.9], [-0.6, 1.3, 0.9]] {
        let g = fomoh::hyper_dual(|z| edge::hyper_dual(z, &p), &x, &v1, &v2).unwrap();
        let r = fomoh::hyper_dual(|z| edge_g(z, &p), &x, &v1, &v2).unwrap();
        for (a, b) in [(g.re, r.re), (g.e1, r.e1), (g.e2, r.e2), (g.e12, r.e12)] {
            assert!((a - b).abs() <= 1e-12 * a.abs().max(1.0), "{g:?} vs {r:?}");
        }
        assert_eq!(edge(&x, &p), edge::generic::<f64>(&x, &p));
        check::hyper_dual(&edge::Function::new(&p), &x, &v1, &v2).unwrap().assert_ok();
    }
    let c = constant::hyper_dual(&[HyperDual::seed(1.0, 1.0, 1.0)]);
    assert_eq!((c.re, c.e1, c.e2, c.e12), (1.5, 0.0, 0.0, 0.0));
    let x = [HyperDual::seed(0.5, 1.0, 1.0), HyperDual::seed(0.25, 0.0, 0.0)];
    let h = fixed::hyper_dual(&x);
    assert_eq!((h.e1, h.e12), (0.5_f64.cos(), -(0.5_f64.sin())));
    assert_eq!(h.re, fixed(&[0.5, 0.25]));
    check::hyper_dual(
        &scalar_fn!(|z| fixed::generic(<&[_; 2]>::try_from(z).unwrap())),
        &[0.5, 0.25],
        &[1.0, 0.0],
        &[1.0, 0.0],
    )
    .unwrap()
    .assert_ok();
}

/// Helpers generic over `Scalar`, without `#[fomoh]`: a `#[fomoh]` function calls them with
/// active values in every pass (`&v` of a `Vec` coerces to the helper's slice, as in a plain
/// call), next to a `#[fomoh]` callee with a const generic (inferred).
fn sq_plus<S: Scalar>(t: S, c: f64) -> S {
    t * t + S::from_f64(c)
}

fn dot<S: Scalar>(a: &[S], b: &[S]) -> S {
    a.iter().zip(b).map(|(&p, &q)| p * q).sum()
}

#[fomoh]
fn with_helpers(x: &[f64]) -> f64 {
    let mut v = vec![0.0; x.len()];
    for i in 0..x.len() {
        v[i] = x[i] * 2.0;
    }
    let pair = [x[1], x[2]];
    sq_plus(x[0], 1.5) * dot(&v, x) + fixed(&pair)
}

fn with_helpers_g<S: Scalar>(x: &[S]) -> S {
    let v: Vec<S> = x.iter().map(|&t| t * S::from_f64(2.0)).collect();
    sq_plus(x[0], 1.5) * dot(&v, x) + x[1].sin() + x[2].sin()
}

#[test]
fn generic_helpers_are_called_with_active_values_in_every_pass() {
    use fomoh::Objective;
    let obj = with_helpers::objective(3);
    let reference = fomoh::objective(3, scalar_fn!(with_helpers_g));
    let x = [0.6, -1.3, 0.9];
    let (v1, v2) = ([0.3, -0.4, 0.8], [1.0, 0.5, -0.2]);
    let close = |a: f64, b: f64| assert!((a - b).abs() <= 1e-12 * a.abs().max(1.0), "{a} vs {b}");
    close(with_helpers(&x), reference.value(&x).unwrap());
    close(with_helpers::generic::<f64>(&x), with_helpers(&x));
    let dirs = vec![v1.to_vec(), v2.to_vec()];
    common::assert_passes_agree(&obj, &reference, &x, (&v1, &v2), &dirs);
    check::hyper_dual(&with_helpers::Function::new(), &x, &v1, &v2).unwrap().assert_ok();
}
