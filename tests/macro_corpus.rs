//! `#[fomoh]` corpus: for each annotated function, the generated `hyper_dual`, `hyperplane`
//! and `directional` equal the runtime passes of the same function written generically by
//! hand (to 1e-12 relative), and the generated passes match finite differences
//! (`fomoh::check`).
#![allow(clippy::needless_range_loop)]

use fomoh::{check, fomoh, scalar_fn, HyperDual, HyperK, Jet, Objective, Scalar};

// ---------------------------------------------------------------- the corpus

#[fomoh]
fn rosenbrock(x: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..x.len() - 1 {
        s += 100.0 * (x[i + 1] - x[i] * x[i]).powi(2) + (1.0 - x[i]).powi(2);
    }
    s
}
fn rosenbrock_g<S: Scalar>(x: &[S]) -> S {
    let mut s = S::zero();
    for i in 0..x.len() - 1 {
        s += S::from_f64(100.0) * (x[i + 1] - x[i] * x[i]).powi(2) + (S::one() - x[i]).powi(2);
    }
    s
}

/// Logistic loss of `w` over `rows` examples of `d` features (last column of a row: label).
#[fomoh(wrt(w))]
fn logistic(w: &[f64], data: &[f64], rows: usize, d: usize) -> f64 {
    let mut loss = 0.0;
    for r in 0..rows {
        let row = &data[r * (d + 1)..(r + 1) * (d + 1)];
        let mut z = w[d];
        for (wj, xj) in w.iter().zip(row.iter()).take(d) {
            z += *wj * xj;
        }
        let y = row[d];
        // softplus(z) - y z  =  -log-likelihood of a Bernoulli(sigmoid(z))
        loss += z.softplus() - y * z;
    }
    loss / rows as f64
}
fn logistic_g<S: Scalar>(w: &[S], data: &[f64], rows: usize, d: usize) -> S {
    let mut loss = S::zero();
    for r in 0..rows {
        let row = &data[r * (d + 1)..(r + 1) * (d + 1)];
        let mut z = w[d];
        for j in 0..d {
            z += w[j] * S::from_f64(row[j]);
        }
        let y = S::from_f64(row[d]);
        loss += z.softplus() - y * z;
    }
    loss / S::from_f64(rows as f64)
}

/// A 2-3-1 tanh network, weights packed in `p` (9 + 4 = 13), squared error on `xs`/`ys`.
#[fomoh(wrt(p))]
fn mlp(p: &[f64], xs: &[f64], ys: &[f64]) -> f64 {
    let mut err = 0.0;
    for n in 0..ys.len() {
        let mut h = [0.0; 3];
        for j in 0..3 {
            let mut a = p[6 + j];
            for i in 0..2 {
                a += p[j * 2 + i] * xs[n * 2 + i];
            }
            h[j] = a.tanh();
        }
        let mut out = p[12];
        for j in 0..3 {
            out += p[9 + j] * h[j];
        }
        let e = out - ys[n];
        err += e * e;
    }
    0.5 * err
}
fn mlp_g<S: Scalar>(p: &[S], xs: &[f64], ys: &[f64]) -> S {
    let mut err = S::zero();
    for n in 0..ys.len() {
        let mut h = [S::zero(); 3];
        for j in 0..3 {
            let mut a = p[6 + j];
            for i in 0..2 {
                a += p[j * 2 + i] * S::from_f64(xs[n * 2 + i]);
            }
            h[j] = a.tanh();
        }
        let mut out = p[12];
        for j in 0..3 {
            out += p[9 + j] * h[j];
        }
        let e = out - S::from_f64(ys[n]);
        err += e * e;
    }
    S::from_f64(0.5) * err
}

/// Piecewise: the branch is decided by the primal.
#[fomoh]
fn piecewise(x: &[f64]) -> f64 {
    let t = x[0] * x[1];
    if t > 1.0 {
        t.ln() + x[1]
    } else if t < -1.0 {
        -t.exp()
    } else {
        0.5 * t * t + x[0]
    }
}
fn piecewise_g<S: Scalar>(x: &[S]) -> S {
    let t = x[0] * x[1];
    if t > S::one() {
        t.ln() + x[1]
    } else if t < S::from_f64(-1.0) {
        -t.exp()
    } else {
        S::from_f64(0.5) * t * t + x[0]
    }
}

/// Horner evaluation of a polynomial with passive coefficients at `x`.
#[fomoh(wrt(x))]
fn horner(x: f64, coef: &[f64]) -> f64 {
    let mut acc = 0.0;
    for &c in coef.iter().rev() {
        acc = acc * x + c;
    }
    acc
}
fn horner_g<S: Scalar>(x: S, coef: &[f64]) -> S {
    let mut acc = S::zero();
    for &c in coef.iter().rev() {
        acc = acc * x + S::from_f64(c);
    }
    acc
}
#[fomoh]
fn horner_vec(x: &[f64]) -> f64 {
    horner(x[0], &[1.0, -2.0, 0.5, 0.25]) * x[1] + horner(x[1], &[0.0, 1.0, 1.0])
}
fn horner_vec_g<S: Scalar>(x: &[S]) -> S {
    horner_g(x[0], &[1.0, -2.0, 0.5, 0.25]) * x[1] + horner_g(x[1], &[0.0, 1.0, 1.0])
}

/// Early returns.
#[fomoh]
fn early(x: &[f64]) -> f64 {
    if x[0] < 0.0 {
        return x[0] * x[0] * x[1];
    }
    for i in 0..x.len() {
        if x[i] > 10.0 {
            return x[i].sqrt();
        }
    }
    (x[0] + 1.0).ln() * x[1].cos()
}
fn early_g<S: Scalar>(x: &[S]) -> S {
    if x[0] < S::zero() {
        return x[0] * x[0] * x[1];
    }
    for i in 0..x.len() {
        if x[i] > S::from_f64(10.0) {
            return x[i].sqrt();
        }
    }
    (x[0] + S::one()).ln() * x[1].cos()
}

/// Nested calls to other #[fomoh] functions.
#[fomoh]
fn nested(x: &[f64]) -> f64 {
    let r = rosenbrock(x);
    let p = piecewise(x);
    r.sqrt() * p + early(&x[1..])
}
fn nested_g<S: Scalar>(x: &[S]) -> S {
    let r = rosenbrock_g(x);
    let p = piecewise_g(x);
    r.sqrt() * p + early_g(&x[1..])
}

/// `match` on a passive integer and on comparisons of active values.
#[fomoh(wrt(x))]
fn matcher(x: &[f64], mode: u8) -> f64 {
    let base = match mode {
        0 => x[0] * x[1],
        1 => x[0].atan2(x[1]),
        _ => x[0].hypot(x[1]),
    };
    match base {
        b if b > 1.0 => b.powf(1.5),
        b => b * 2.0 + 1.0,
    }
}
fn matcher_g<S: Scalar>(x: &[S], mode: u8) -> S {
    let base = match mode {
        0 => x[0] * x[1],
        1 => x[0].atan2(x[1]),
        _ => x[0].hypot(x[1]),
    };
    if base > S::one() {
        base.powf(1.5)
    } else {
        base * S::from_f64(2.0) + S::one()
    }
}

/// `while`, `loop`, `break`, `continue`.
#[fomoh]
fn loops(x: &[f64]) -> f64 {
    let mut s = x[0];
    let mut k = 0;
    while k < 5 {
        s = s * 0.9 + x[1].sin();
        k += 1;
    }
    let mut i = 0;
    loop {
        i += 1;
        if i % 2 == 0 {
            continue;
        }
        s += x[i % x.len()] / i as f64;
        if i > 6 {
            break;
        }
    }
    s
}
fn loops_g<S: Scalar>(x: &[S]) -> S {
    let mut s = x[0];
    let mut k = 0;
    while k < 5 {
        s = s * S::from_f64(0.9) + x[1].sin();
        k += 1;
    }
    let mut i = 0;
    loop {
        i += 1;
        if i % 2 == 0 {
            continue;
        }
        s += x[i % x.len()] / S::from_f64(i as f64);
        if i > 6 {
            break;
        }
    }
    s
}

/// Iterators: zip, enumerate, rev, skip, `sum`.
#[fomoh]
fn iters(x: &[f64], y: &[f64]) -> f64 {
    let mut s = 0.0;
    for (i, (&a, b)) in x.iter().zip(y.iter()).enumerate() {
        s += (i as f64 + 1.0) * a * *b;
    }
    let mut t = 0.0;
    for v in x.iter().rev().skip(1) {
        t = t * 0.5 + v;
    }
    let q: f64 = y.iter().sum();
    s + t * q
}
fn iters_g<S: Scalar>(x: &[S], y: &[S]) -> S {
    let mut s = S::zero();
    for (i, (&a, b)) in x.iter().zip(y.iter()).enumerate() {
        s += S::from_f64(i as f64 + 1.0) * a * *b;
    }
    let mut t = S::zero();
    for v in x.iter().rev().skip(1) {
        t = t * S::from_f64(0.5) + *v;
    }
    let q: S = y.iter().copied().sum();
    s + t * q
}

/// Local `Vec<f64>` of active values, `f64::max`, consts.
#[fomoh]
fn softmax_ce(x: &[f64]) -> f64 {
    let mut m = x[0];
    for i in 1..x.len() {
        m = f64::max(m, x[i]);
    }
    let mut e: Vec<f64> = Vec::new();
    let mut z = 0.0;
    for &v in x {
        let t = (v - m).exp();
        e.push(t);
        z += t;
    }
    -(e[0] / z).ln() + std::f64::consts::PI * x[0] * x[0]
}
fn softmax_ce_g<S: Scalar>(x: &[S]) -> S {
    let mut m = x[0];
    for i in 1..x.len() {
        m = m.max(x[i]);
    }
    let mut e: Vec<S> = Vec::new();
    let mut z = S::zero();
    for &v in x {
        let t = (v - m).exp();
        e.push(t);
        z += t;
    }
    -(e[0] / z).ln() + S::from_f64(std::f64::consts::PI) * x[0] * x[0]
}

/// Scalar active parameters and a passive scale.
#[fomoh(wrt(a, b))]
fn two_scalars(a: f64, b: f64, scale: f64) -> f64 {
    let c = scale * 2.0; // passive
    (a * b).sin() * c + a.powi(3) / b + c.sqrt()
}
fn two_scalars_g<S: Scalar>(a: S, b: S, scale: f64) -> S {
    let c = scale * 2.0;
    (a * b).sin() * S::from_f64(c) + a.powi(3) / b + S::from_f64(c.sqrt())
}

/// Local arrays, indexing assignment, a `&[f64; N]` parameter.
#[fomoh]
fn arrays(x: &[f64; 3]) -> f64 {
    let mut acc = [0.0; 3];
    for i in 0..3 {
        acc[i] = x[i] * x[(i + 1) % 3];
    }
    let w = [1.0, 2.0, 3.0];
    let mut s = 0.0;
    for i in 0..3 {
        s += w[i] * acc[i].exp();
    }
    s
}
fn arrays_g<S: Scalar>(x: &[S; 3]) -> S {
    let mut acc = [S::zero(); 3];
    for i in 0..3 {
        acc[i] = x[i] * x[(i + 1) % 3];
    }
    let w = [1.0, 2.0, 3.0];
    let mut s = S::zero();
    for i in 0..3 {
        s += S::from_f64(w[i]) * acc[i].exp();
    }
    s
}

/// `f32` variant.
#[fomoh]
fn rosen32(x: &[f32]) -> f32 {
    let mut s = 0.0;
    for i in 0..x.len() - 1 {
        s += 100.0 * (x[i + 1] - x[i] * x[i]).powi(2) + (1.0 - x[i]).powi(2);
    }
    s
}

/// Nested sequences `&[Vec<f64>]`.
#[fomoh]
fn nested_vecs(m: &[Vec<f64>]) -> f64 {
    let mut s = 0.0;
    for row in m {
        let mut r = 0.0;
        for &v in row.iter() {
            r += v * v;
        }
        s += r.sqrt();
    }
    s + m[0][1] * m[1][0]
}
fn nested_vecs_g<S: Scalar>(m: &[Vec<S>]) -> S {
    let mut s = S::zero();
    for row in m {
        let mut r = S::zero();
        for &v in row.iter() {
            r += v * v;
        }
        s += r.sqrt();
    }
    s + m[0][1] * m[1][0]
}

/// Elementary functions and sigmoid / relu / softplus.
#[fomoh]
fn elementary(x: &[f64]) -> f64 {
    let a = x[0].sigmoid() * x[1].relu() + x[2].softplus();
    let b = x[0].sinh() + x[1].cosh() * 0.1 + (x[2] * 0.5).atanh();
    let c = x[0].cbrt() + x[1].exp_m1() + x[2].ln_1p() + x[0].mul_add(x[1], 2.0);
    a * b - c + x[0].abs().sqrt().recip()
}
fn elementary_g<S: Scalar>(x: &[S]) -> S {
    let a = x[0].sigmoid() * x[1].relu() + x[2].softplus();
    let b = x[0].sinh() + x[1].cosh() * S::from_f64(0.1) + (x[2] * S::from_f64(0.5)).atanh();
    let c = x[0].cbrt() + x[1].exp_m1() + x[2].ln_1p() + x[0].mul_add(x[1], S::from_f64(2.0));
    a * b - c + x[0].abs().sqrt().recip()
}

// ---------------------------------------------------------------- the harness

/// `|a - b| <= 1e-12 · max(|a|, |b|)` (or both exactly equal, NaN included).
fn assert_close(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let ok = g.to_bits() == w.to_bits() || (g - w).abs() <= 1e-12 * g.abs().max(w.abs());
        assert!(ok, "{what}[{i}]: generated {g:e} vs runtime {w:e}");
    }
}

fn proj_lanes(p: &fomoh::Projection<f64>) -> Vec<f64> {
    let mut v = vec![p.value];
    v.extend(&p.grad);
    for r in &p.hess {
        v.extend(r);
    }
    v
}

/// Three deterministic pseudo-random directions in R^n.
fn dirs(n: usize, seed: u64) -> [Vec<f64>; 3] {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut next = move || {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    };
    core::array::from_fn(|_| (0..n).map(|_| next()).collect())
}

/// The generated passes of `$m` equal the runtime passes of the hand-written generic version
/// (hyper_dual, hyperplane with K = 3, directional), the generated lanes agree with each other,
/// and the generated projection matches finite differences of `$fd` (a `ScalarFn` whose `f64`
/// evaluation is the original function).
macro_rules! agree {
    ($x0:expr, |$z:ident| $m:ident $args:tt, |$h:ident| $hand:expr, $fd:expr) => {{
        let x0: Vec<f64> = $x0;
        let [v1, v2, v3] = dirs(x0.len(), x0.len() as u64);
        let what = stringify!($m);
        let g = fomoh::hyper_dual(|$z: &[HyperDual<f64>]| $m::hyper_dual $args, &x0, &v1, &v2).unwrap();
        let r = fomoh::hyper_dual(|$h: &[HyperDual<f64>]| $hand, &x0, &v1, &v2).unwrap();
        assert_close(&[g.re, g.e1, g.e2, g.e12], &[r.re, r.e1, r.e2, r.e12], &format!("{what} hyper_dual"));
        let ds = [v1.clone(), v2.clone(), v3.clone()];
        let gp = fomoh::hyperplane(|$z: &[HyperK<f64, 3>]| $m::hyperplane $args, &x0, &ds).unwrap();
        let rp = fomoh::hyperplane(|$h: &[HyperK<f64, 3>]| $hand, &x0, &ds).unwrap();
        assert_close(&proj_lanes(&gp), &proj_lanes(&rp), &format!("{what} hyperplane"));
        // One K-pass carries what the hyper-dual pass carries.
        assert_close(&[gp.value, gp.grad[0], gp.grad[1], gp.hess[0][1]], &[g.re, g.e1, g.e2, g.e12], &format!("{what} hyperplane vs hyper_dual"));
        let gj = fomoh::directional(|$z: &[Jet<f64>]| $m::directional $args, &x0, &v3).unwrap();
        let rj = fomoh::directional(|$h: &[Jet<f64>]| $hand, &x0, &v3).unwrap();
        assert_close(&[gj.re, gj.d1, gj.d2], &[rj.re, rj.d1, rj.d2], &format!("{what} directional"));
        assert_close(&[gj.d1, gj.d2], &[gp.grad[2], gp.hess[2][2]], &format!("{what} directional vs hyperplane"));
        // The generic form at f64 is the original function.
        let plain = { let $z: &[f64] = &x0; $m $args };
        let generic = { let $z: &[f64] = &x0; $m::generic::<f64> $args };
        assert_eq!(plain.to_bits(), generic.to_bits(), "{what}: generic::<f64> vs the original");
        assert_close(&[g.re], &[plain], &format!("{what} value"));
        check::Checker::default().projection(&$fd, &x0, &gp, &ds).unwrap().assert_ok();
    }};
}

// ---------------------------------------------------------------- the cases

fn data(rows: usize, d: usize) -> Vec<f64> {
    let [a, b, _] = dirs(rows * (d + 1), 7);
    (0..rows * (d + 1))
        .map(|i| if i % (d + 1) == d { (b[i] > 0.0) as u8 as f64 } else { a[i] * 2.0 })
        .collect()
}

#[test]
fn corpus_agrees_with_runtime_and_finite_differences() {
    agree!(vec![-1.2, 1.0, 0.5, 0.8, -0.3], |z| rosenbrock(z), |z| rosenbrock_g(z), scalar_fn!(rosenbrock_g));

    let (rows, d) = (20, 3);
    let dat = data(rows, d);
    let f = logistic::Function::new(&dat, rows, d);
    assert_eq!(format!("{f:?}"), "logistic::Function { .. }");
    agree!(vec![0.3, -0.2, 0.5, 0.1], |z| logistic(z, &dat, rows, d), |z| logistic_g(z, &dat, rows, d), f);

    let xs: Vec<f64> = dirs(10, 3)[0].clone();
    let ys: Vec<f64> = dirs(5, 4)[1].clone();
    let p0 = dirs(13, 5)[2].clone();
    agree!(p0, |z| mlp(z, &xs, &ys), |z| mlp_g(z, &xs, &ys), mlp::Function::new(&xs, &ys));

    for x in [vec![2.0, 1.0], vec![-2.0, 1.0], vec![0.3, 0.5]] {
        agree!(x, |z| piecewise(z), |z| piecewise_g(z), scalar_fn!(piecewise_g));
    }
    agree!(vec![0.7, -1.3], |z| horner_vec(z), |z| horner_vec_g(z), scalar_fn!(horner_vec_g));
    for x in [vec![-0.5, 2.0, 1.0], vec![0.5, 12.0, 1.0], vec![0.5, 2.0, 1.0]] {
        agree!(x, |z| early(z), |z| early_g(z), scalar_fn!(early_g));
    }
    agree!(vec![0.9, 1.1, 0.4], |z| nested(z), |z| nested_g(z), scalar_fn!(nested_g));
    for mode in 0..3u8 {
        for x in [vec![1.5, 1.2], vec![0.3, 0.4]] {
            agree!(x, |z| matcher(z, mode), |z| matcher_g(z, mode), matcher::Function::new(mode));
        }
    }
    agree!(vec![0.4, -0.7, 1.3], |z| loops(z), |z| loops_g(z), scalar_fn!(loops_g));
    agree!(
        vec![0.4, -0.7, 1.3, 0.2, 0.9, -0.4],
        |z| iters(&z[..3], &z[3..]),
        |z| iters_g(&z[..3], &z[3..]),
        scalar_fn!(|z| iters_g(&z[..3], &z[3..]))
    );
    agree!(vec![0.4, -0.7, 1.3, 0.2], |z| softmax_ce(z), |z| softmax_ce_g(z), scalar_fn!(softmax_ce_g));
    agree!(
        vec![0.8, 1.7],
        |z| two_scalars(z[0], z[1], 1.5),
        |z| two_scalars_g(z[0], z[1], 1.5),
        scalar_fn!(|z| two_scalars_g(z[0], z[1], 1.5))
    );
    agree!(
        vec![0.3, -0.6, 0.9],
        |z| arrays(z.try_into().unwrap()),
        |z| arrays_g(z.try_into().unwrap()),
        scalar_fn!(|z| arrays_g(z.try_into().unwrap()))
    );
    agree!(
        vec![0.3, -0.6, 0.9, 1.2, 0.5, -0.1],
        |z| nested_vecs(&z.chunks(3).map(|c| c.to_vec()).collect::<Vec<_>>()),
        |z| nested_vecs_g(&z.chunks(3).map(|c| c.to_vec()).collect::<Vec<_>>()),
        scalar_fn!(|z| nested_vecs_g(&z.chunks(3).map(|c| c.to_vec()).collect::<Vec<_>>()))
    );
    agree!(vec![0.3, 0.6, 0.9], |z| elementary(z), |z| elementary_g(z), scalar_fn!(elementary_g));
    agree!(
        vec![0.6],
        |z| horner(z[0], &[1.0, -2.0, 0.5, 0.25]),
        |z| horner_g(z[0], &[1.0, -2.0, 0.5, 0.25]),
        scalar_fn!(|z| horner_g(z[0], &[1.0, -2.0, 0.5, 0.25]))
    );
}

#[test]
fn f32_variant_matches_runtime_in_f32() {
    let x = [-1.2_f32, 1.0, 0.5];
    let (v1, v2) = ([1.0_f32, 0.5, -0.25], [0.0_f32, 1.0, 2.0]);
    let g = fomoh::hyper_dual(rosen32::hyper_dual, &x, &v1, &v2).unwrap();
    let r = fomoh::hyper_dual(rosenbrock_g, &x, &v1, &v2).unwrap();
    assert_eq!([g.re, g.e1, g.e2, g.e12], [r.re, r.e1, r.e2, r.e12]);
    assert_eq!(rosen32(&x), rosen32::generic::<f32>(&x));
    let f = scalar_fn!(rosen32::generic);
    check::hyper_dual(&f, &x, &v1, &v2).unwrap().assert_ok();
}

#[test]
fn objective_adapter_runs_the_generated_passes() {
    let n = 6;
    let x: Vec<f64> = dirs(n, 11)[0].clone();
    let obj = rosenbrock::objective(n);
    let reference = fomoh::objective(n, scalar_fn!(rosenbrock_g));
    assert_eq!(obj.dim(), n);
    assert_eq!(obj.value(&x).unwrap(), rosenbrock(&x));
    let ds: Vec<Vec<f64>> = dirs(n, 12).to_vec();
    let p = obj.project(&x, &ds).unwrap();
    let passes = p.passes;
    let q = reference.project(&x, &ds).unwrap();
    assert_eq!(passes, 1);
    assert_close(&proj_lanes(&p), &proj_lanes(&q), "objective hyperplane");
    // Beyond 16 directions: pairwise hyper-dual passes.
    let many: Vec<Vec<f64>> = (0..17).map(|k| dirs(n, 100 + k)[0].clone()).collect();
    let p = obj.project(&x, &many).unwrap();
    let passes = p.passes;
    assert_eq!(passes, 17 * 18 / 2);
    let q = reference.project(&x, &many).unwrap();
    assert_close(&proj_lanes(&p), &proj_lanes(&q), "objective hyperplane k=17");
    let g = obj.gradient(&x).unwrap().unwrap();
    check::gradient(obj.function(), &x).unwrap().assert_ok();
    assert_close(&g, &reference.gradient(&x).unwrap().unwrap(), "objective gradient");
    let j = obj.directional(&x, &ds[0]).unwrap();
    let hd = obj.hyper_dual(&x, &ds[0], &ds[0]).unwrap();
    assert_close(&[j.re, j.d1, j.d2], &[hd.re, hd.e1, hd.e12], "objective directional");
    // Bad input is an error, not a panic.
    assert!(obj.value(&x[..3]).is_err());
    assert!(obj.hyper_dual(&x, &ds[0][..2], &ds[1]).is_err());
    assert!(obj.project(&x, &[]).is_err());

    let (rows, d) = (12, 3);
    let dat = data(rows, d);
    let lobj = logistic::objective(d + 1, &dat, rows, d);
    let w = [0.1, -0.3, 0.2, 0.05];
    let p = lobj.project(&w, &dirs(d + 1, 13)).unwrap();
    check::Checker::default().projection(lobj.function(), &w, &p, &dirs(d + 1, 13)).unwrap().assert_ok();
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn lanes(h: HyperDual<f64>) -> [f64; 4] {
        [h.re, h.e1, h.e2, h.e12]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Random points and directions: generated == runtime (hand-written twin).
        #[test]
        fn generated_equals_runtime_at_random_points(
            x in prop::collection::vec(-2.0..2.0f64, 13),
            v1 in prop::collection::vec(-1.0..1.0f64, 13),
            v2 in prop::collection::vec(-1.0..1.0f64, 13),
        ) {
            let g = fomoh::hyper_dual(rosenbrock::hyper_dual, &x, &v1, &v2).unwrap();
            let r = fomoh::hyper_dual(rosenbrock_g, &x, &v1, &v2).unwrap();
            assert_close(&lanes(g), &lanes(r), "rosenbrock");
            let xs: Vec<f64> = x.iter().take(10).map(|v| v * 0.5).collect();
            let ys: Vec<f64> = v1.iter().take(5).copied().collect();
            let g = fomoh::hyper_dual(|p| mlp::hyper_dual(p, &xs, &ys), &x, &v1, &v2).unwrap();
            let r = fomoh::hyper_dual(|p| mlp_g(p, &xs, &ys), &x, &v1, &v2).unwrap();
            assert_close(&lanes(g), &lanes(r), "mlp");
            let (a, b, c) = (&x[..3], &v1[..3], &v2[..3]);
            let g = fomoh::hyper_dual(piecewise::hyper_dual, a, b, c).unwrap();
            let r = fomoh::hyper_dual(piecewise_g, a, b, c).unwrap();
            assert_close(&lanes(g), &lanes(r), "piecewise");
            let ds = [v1.clone(), v2.clone()];
            let g = fomoh::hyperplane(nested::hyperplane, &x, &ds).unwrap();
            let r = fomoh::hyperplane(nested_g, &x, &ds).unwrap();
            assert_close(&proj_lanes(&g), &proj_lanes(&r), "nested");
        }
    }
}
