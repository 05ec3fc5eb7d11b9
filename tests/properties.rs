//! The lifts agree with each other and with exact Hessians; one-hot passes reproduce
//! analytic gradients and Hessians; entry points reject bad lengths; `project` falls back
//! to pairwise passes for K > 16 with the same result.
//!
//! Tolerance of the cross-checks: `|a - b| <= 1e-10 · (1 + scale)`, where `scale` is the
//! magnitude of the entry's terms (`Σ |v1_i| |H_ij| |v2_j|` for a contraction), i.e. a
//! relative error of 1e-10 against the sum of absolute terms, well above rounding (~1e-15)
//! and far below any wrong term.
// Index arithmetic over matrices reads clearer with explicit indices.
#![allow(clippy::needless_range_loop)]

use fomoh::{project, project_pairwise, scalar_fn, Error, HyperDual, HyperK, Jet, Scalar, ScalarFn};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------
// Test functions (generic over Scalar).

/// A polynomial with mixed terms.
fn poly<S: Scalar>(x: &[S]) -> S {
    let c = S::from_f64;
    x[0] * x[0] * x[1] + c(3.0) * x[1] * x[2].powi(3) - x[0] * x[2] + c(0.5) * x[3].powi(4)
        - x[3] * x[0] * x[1]
}

/// Transcendental compositions, including binary functions.
fn trans<S: Scalar>(x: &[S]) -> S {
    let one = S::one();
    (x[0].sin() * x[1]).exp() + (one + x[2] * x[2]).ln() * x[0].tanh() + x[1].atan2(x[3] * x[3] + one)
        - x[2].hypot(x[3] + S::from_f64(0.5)) * x[1].cos()
        + (x[0] * x[3]).sigmoid()
        + (one + x[1] * x[1]).sqrt() / (S::from_f64(2.0) + x[2].sin())
        + (S::from_f64(1.5) + x[3].cos()).pow(x[0] * S::from_f64(0.3))
}

/// Deeper nesting: softplus, asinh, cbrt, log1p, exp_m1 and powf.
fn nested<S: Scalar>(x: &[S]) -> S {
    let one = S::one();
    let a = (x[0] * x[1] - x[2]).softplus().asinh();
    let b = (one + x[3] * x[3]).powf(1.5).ln_1p();
    let c = (x[0] * S::from_f64(0.2)).exp_m1() * (x[1] + S::from_f64(3.0)).cbrt();
    (a * b + c).tanh() * (x[2] * x[3]).cos() + a.log_sigmoid()
}

/// Extended Rosenbrock.
fn rosenbrock<S: Scalar>(x: &[S]) -> S {
    let (one, hundred) = (S::one(), S::from_f64(100.0));
    (0..x.len() - 1).map(|i| hundred * (x[i + 1] - x[i] * x[i]).powi(2) + (one - x[i]).powi(2)).sum()
}

/// Beale's function of two variables.
fn beale<S: Scalar>(x: &[S]) -> S {
    let (a, b) = (x[0], x[1]);
    let c = S::from_f64;
    (c(1.5) - a + a * b).powi(2) + (c(2.25) - a + a * b * b).powi(2) + (c(2.625) - a + a * b * b * b).powi(2)
}

/// Softmax cross-entropy of a linear model: `θ` is `W` (C×D, row-major), data fixed.
const C: usize = 3;
const D: usize = 2;
const DATA: [([f64; D], usize); 3] = [([0.5, -1.0], 0), ([1.5, 0.25], 2), ([-0.75, 2.0], 1)];

fn softmax_ce<S: Scalar>(w: &[S]) -> S {
    let mut total = S::zero();
    for (a, y) in DATA {
        let z: Vec<S> = (0..C).map(|c| (0..D).map(|d| w[c * D + d] * S::from_f64(a[d])).sum()).collect();
        let m = z.iter().copied().fold(z[0], |m, v| m.max(v));
        let lse = m + z.iter().map(|&v| (v - m).exp()).sum::<S>().ln();
        total += lse - z[y];
    }
    total / S::from_f64(DATA.len() as f64)
}

fn analytic_rosenbrock(x: &[f64]) -> (Vec<f64>, Vec<Vec<f64>>) {
    let n = x.len();
    let mut g = vec![0.0; n];
    let mut h = vec![vec![0.0; n]; n];
    for i in 0..n - 1 {
        g[i] += -400.0 * x[i] * (x[i + 1] - x[i] * x[i]) - 2.0 * (1.0 - x[i]);
        g[i + 1] += 200.0 * (x[i + 1] - x[i] * x[i]);
        h[i][i] += 1200.0 * x[i] * x[i] - 400.0 * x[i + 1] + 2.0;
        h[i + 1][i + 1] += 200.0;
        h[i][i + 1] = -400.0 * x[i];
        h[i + 1][i] = -400.0 * x[i];
    }
    (g, h)
}

fn analytic_beale(x: &[f64]) -> (Vec<f64>, Vec<Vec<f64>>) {
    let (a, b) = (x[0], x[1]);
    let mut g = vec![0.0; 2];
    let mut h = vec![vec![0.0; 2]; 2];
    for (k, c) in [(1, 1.5), (2, 2.25), (3, 2.625)] {
        let kf = k as f64;
        // r = c - a + a b^k, ∇r = (b^k - 1, k a b^(k-1)), ∇²r = [[0, k b^(k-1)], [., k(k-1) a b^(k-2)]]
        let r = c - a + a * b.powi(k);
        let ra = b.powi(k) - 1.0;
        let rb = kf * a * b.powi(k - 1);
        let rab = kf * b.powi(k - 1);
        let rbb = if k >= 2 { kf * (kf - 1.0) * a * b.powi(k - 2) } else { 0.0 };
        g[0] += 2.0 * r * ra;
        g[1] += 2.0 * r * rb;
        h[0][0] += 2.0 * ra * ra;
        h[0][1] += 2.0 * (ra * rb + r * rab);
        h[1][1] += 2.0 * (rb * rb + r * rbb);
    }
    h[1][0] = h[0][1];
    (g, h)
}

/// `∇ = mean (p - e_y) ⊗ a`, `∇² = mean (diag p - p pᵀ) ⊗ a aᵀ`.
fn analytic_softmax_ce(w: &[f64]) -> (Vec<f64>, Vec<Vec<f64>>) {
    let n = C * D;
    let mut g = vec![0.0; n];
    let mut h = vec![vec![0.0; n]; n];
    let b = DATA.len() as f64;
    for (a, y) in DATA {
        let z: Vec<f64> = (0..C).map(|c| (0..D).map(|d| w[c * D + d] * a[d]).sum()).collect();
        let m = z.iter().cloned().fold(f64::MIN, f64::max);
        let e: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
        let s: f64 = e.iter().sum();
        let p: Vec<f64> = e.iter().map(|v| v / s).collect();
        for c in 0..C {
            for d in 0..D {
                g[c * D + d] += (p[c] - if c == y { 1.0 } else { 0.0 }) * a[d] / b;
                for c2 in 0..C {
                    for d2 in 0..D {
                        let dp = if c == c2 { p[c] } else { 0.0 } - p[c] * p[c2];
                        h[c * D + d][c2 * D + d2] += dp * a[d] * a[d2] / b;
                    }
                }
            }
        }
    }
    (g, h)
}

fn assert_close(what: &str, got: f64, want: f64, scale: f64) {
    assert!((got - want).abs() <= 1e-10 * (1.0 + scale), "{what}: {got:e} vs {want:e} (scale {scale:e})");
}

fn matvec_terms(h: &[Vec<f64>], a: &[f64], b: &[f64]) -> (f64, f64) {
    let mut v = 0.0;
    let mut s = 0.0;
    for i in 0..a.len() {
        for j in 0..b.len() {
            v += a[i] * h[i][j] * b[j];
            s += (a[i] * h[i][j] * b[j]).abs();
        }
    }
    (v, s)
}

fn dot_terms(g: &[f64], a: &[f64]) -> (f64, f64) {
    (g.iter().zip(a).map(|(x, y)| x * y).sum(), g.iter().zip(a).map(|(x, y)| (x * y).abs()).sum())
}

/// All lifts at `x` along directions `dirs` (K = 3) against the exact Hessian from one-hot
/// hyper-dual passes and the gradient from one-hot jets.
fn lifts_agree<F: ScalarFn>(name: &str, f: &F, x: &[f64], dirs: &[Vec<f64>; 3]) {
    let g = fomoh::gradient(|x| f.eval(x), x).unwrap();
    let h = fomoh::hessian(|x| f.eval(x), x).unwrap();
    let f0 = f.eval(x);
    // the exact Hessian is symmetric: the (j, i) one-hot pass gives the (i, j) entry
    for i in 0..x.len() {
        for j in 0..i {
            let (ei, ej) = (axis(x.len(), i), axis(x.len(), j));
            let hji = fomoh::hyper_dual(|x| f.eval(x), x, &ej, &ei).unwrap().e12;
            assert_close(&format!("{name}: H[{i}][{j}] = H[{j}][{i}]"), hji, h[i][j], h[i][j].abs());
        }
    }
    let hk: HyperK<f64, 3> = {
        let xs: Vec<HyperK<f64, 3>> =
            (0..x.len()).map(|i| HyperK::seed(x[i], [dirs[0][i], dirs[1][i], dirs[2][i]])).collect();
        f.eval(&xs)
    };
    let plane = fomoh::hyperplane(|x| f.eval(x), x, dirs).unwrap();
    assert_eq!(hk.re, f0, "{name}: HyperK value is the primal");
    assert_eq!(plane.value, f0);
    for i in 0..3 {
        let (gi, si) = dot_terms(&g, &dirs[i]);
        assert_close(&format!("{name}: HyperK grad[{i}]"), hk.grad[i], gi, si);
        assert_eq!(plane.grad[i], hk.grad[i]);
        let jet = fomoh::directional(|x| f.eval(x), x, &dirs[i]).unwrap();
        assert_eq!(jet.re, f0);
        assert_close(&format!("{name}: Jet d1 along {i}"), jet.d1, gi, si);
        let (hii, sii) = matvec_terms(&h, &dirs[i], &dirs[i]);
        assert_close(&format!("{name}: Jet d2 along {i}"), jet.d2, hii, sii);
        for j in 0..3 {
            let (hij, sij) = matvec_terms(&h, &dirs[i], &dirs[j]);
            let hd = fomoh::hyper_dual(|x| f.eval(x), x, &dirs[i], &dirs[j]).unwrap();
            assert_eq!(hd.re, f0);
            assert_close(&format!("{name}: HyperDual e1 ({i},{j})"), hd.e1, gi, si);
            assert_close(&format!("{name}: HyperDual e12 ({i},{j})"), hd.e12, hij, sij);
            assert_close(&format!("{name}: HyperK hess ({i},{j})"), hk.hess_at(i, j), hij, sij);
            assert_close(&format!("{name}: HyperK vs HyperDual ({i},{j})"), hk.hess_at(i, j), hd.e12, sij);
            // the block is symmetric: the (j, i) hyper-dual pass gives the same entry
            assert_eq!(plane.hess[i][j], plane.hess[j][i], "{name}: Projection symmetric");
            assert_eq!(plane.hess[i][j], hk.hess_at(i, j));
        }
        // v = v1 = v2: the Jet is the hyper-dual's diagonal
        let hd = fomoh::hyper_dual(|x| f.eval(x), x, &dirs[i], &dirs[i]).unwrap();
        assert_close(&format!("{name}: Jet vs HyperDual ({i})"), jet.d2, hd.e12, sii);
    }
}

fn axis(n: usize, i: usize) -> Vec<f64> {
    (0..n).map(|k| if k == i { 1.0 } else { 0.0 }).collect()
}

fn vec_in(n: usize, r: f64) -> impl Strategy<Value = Vec<f64>> {
    proptest::collection::vec(-r..r, n)
}

fn dirs3(n: usize) -> impl Strategy<Value = [Vec<f64>; 3]> {
    (vec_in(n, 2.0), vec_in(n, 2.0), vec_in(n, 2.0)).prop_map(|(a, b, c)| [a, b, c])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn lifts_agree_on_a_polynomial(x in vec_in(4, 3.0), d in dirs3(4)) {
        lifts_agree("poly", &scalar_fn!(poly), &x, &d);
    }

    #[test]
    fn lifts_agree_on_transcendental_compositions(x in vec_in(4, 2.0), d in dirs3(4)) {
        lifts_agree("trans", &scalar_fn!(trans), &x, &d);
    }

    #[test]
    fn lifts_agree_on_nested_compositions(x in vec_in(4, 2.0), d in dirs3(4)) {
        lifts_agree("nested", &scalar_fn!(nested), &x, &d);
    }

    #[test]
    fn lifts_agree_on_rosenbrock(x in vec_in(5, 2.0), d in dirs3(5)) {
        lifts_agree("rosenbrock", &scalar_fn!(rosenbrock), &x, &d);
    }

    #[test]
    fn one_hot_passes_reproduce_rosenbrock(x in vec_in(6, 2.0)) {
        one_hot("rosenbrock", &scalar_fn!(rosenbrock), &x, analytic_rosenbrock(&x));
    }

    #[test]
    fn one_hot_passes_reproduce_beale(x in vec_in(2, 4.5)) {
        one_hot("beale", &scalar_fn!(beale), &x, analytic_beale(&x));
    }

    #[test]
    fn one_hot_passes_reproduce_softmax_cross_entropy(w in vec_in(C * D, 3.0)) {
        one_hot("softmax_ce", &scalar_fn!(softmax_ce), &w, analytic_softmax_ce(&w));
    }

    /// K = 2 and K = 5 blocks equal the exact contractions too (other const K).
    #[test]
    fn hyperk_blocks_of_other_sizes(x in vec_in(4, 2.0), d in proptest::collection::vec(vec_in(4, 2.0), 5)) {
        let f = scalar_fn!(trans);
        let h = fomoh::hessian(|x| f.eval(x), &x).unwrap();
        let d5: [Vec<f64>; 5] = core::array::from_fn(|i| d[i].clone());
        let d2: [Vec<f64>; 2] = [d[3].clone(), d[1].clone()];
        let p5 = fomoh::hyperplane(|x| f.eval(x), &x, &d5).unwrap();
        let p2 = fomoh::hyperplane(|x| f.eval(x), &x, &d2).unwrap();
        for i in 0..5 {
            for j in 0..5 {
                let (v, s) = matvec_terms(&h, &d[i], &d[j]);
                assert_close("K=5", p5.hess[i][j], v, s);
            }
        }
        assert_eq!(p2.hess[0][1], p2.hess[1][0]);
        assert_close("K=2 vs K=5", p2.hess[0][1], p5.hess[3][1], p5.hess[3][1].abs());
        assert_close("K=2 vs K=5 grad", p2.grad[0], p5.grad[3], p5.grad[3].abs());
    }

    /// `project` for K > 16 (pairwise fallback) equals one-pass blocks over any K <= 16 subset.
    #[test]
    fn project_fallback_matches_one_pass_subsets(
        x in vec_in(4, 1.5),
        d in proptest::collection::vec(vec_in(4, 1.0), 18),
        pick in proptest::collection::vec(0usize..18, 1..=16),
    ) {
        let f = scalar_fn!(trans);
        let big = project(&f, &x, &d).unwrap();
        let passes = big.passes;
        prop_assert_eq!(passes, 18 * 19 / 2);
        let sub: Vec<Vec<f64>> = pick.iter().map(|&i| d[i].clone()).collect();
        let small = project(&f, &x, &sub).unwrap();
        let passes = small.passes;
        prop_assert_eq!(passes, 1);
        prop_assert_eq!(small.value, big.value);
        for (a, &i) in pick.iter().enumerate() {
            assert_close("grad", small.grad[a], big.grad[i], big.grad[i].abs());
            for (b, &j) in pick.iter().enumerate() {
                assert_close("hess", small.hess[a][b], big.hess[i][j], big.hess[i][j].abs());
            }
        }
    }
}

fn one_hot<F: ScalarFn>(name: &str, f: &F, x: &[f64], (g, h): (Vec<f64>, Vec<Vec<f64>>)) {
    let gad = fomoh::gradient(|x| f.eval(x), x).unwrap();
    let had = fomoh::hessian(|x| f.eval(x), x).unwrap();
    let gscale = g.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    let hscale = h.iter().flatten().fold(0.0_f64, |m, v| m.max(v.abs()));
    for i in 0..x.len() {
        assert_close(&format!("{name}: gradient[{i}]"), gad[i], g[i], gscale);
        for j in 0..x.len() {
            assert_close(&format!("{name}: hessian[{i}][{j}]"), had[i][j], h[i][j], hscale);
        }
    }
    // the same from one-hot HyperK passes in blocks of (up to) 4 axes
    for start in (0..x.len()).step_by(4) {
        let axes: Vec<Vec<f64>> = (start..(start + 4).min(x.len())).map(|i| axis(x.len(), i)).collect();
        let p = project(f, x, &axes).unwrap();
        for a in 0..axes.len() {
            assert_close(
                &format!("{name}: one-hot HyperK grad[{}]", start + a),
                p.grad[a],
                g[start + a],
                gscale,
            );
            for b in 0..axes.len() {
                assert_close(
                    &format!("{name}: one-hot HyperK hess"),
                    p.hess[a][b],
                    h[start + a][start + b],
                    hscale,
                );
            }
        }
    }
}

#[test]
fn pairwise_and_one_pass_agree_and_count_passes() {
    let f = scalar_fn!(nested);
    let x = [0.3, -0.7, 1.1, 0.4];
    let dirs: Vec<Vec<f64>> =
        (0..6).map(|j| (0..4).map(|i| ((i + 1) as f64 * (j as f64 + 2.0).sqrt()).sin()).collect()).collect();
    let one = project(&f, &x, &dirs).unwrap();
    let n1 = one.passes;
    let pw = project_pairwise(&f, &x, &dirs).unwrap();
    let n2 = pw.passes;
    assert_eq!((n1, n2), (1, 21));
    for i in 0..6 {
        assert_close("grad", one.grad[i], pw.grad[i], pw.grad[i].abs());
        for j in 0..6 {
            assert_close("hess", one.hess[i][j], pw.hess[i][j], pw.hess[i][j].abs());
        }
    }
}

#[test]
fn f32_lifts_agree_with_f64() {
    let x64 = [0.3, -0.7, 1.1, 0.4];
    let x32 = x64.map(|v| v as f32);
    let d64: [Vec<f64>; 2] = [vec![1.0, 0.5, -0.25, 2.0], vec![0.0, -1.0, 1.5, 0.5]];
    let d32: [Vec<f32>; 2] = [vec![1.0, 0.5, -0.25, 2.0], vec![0.0, -1.0, 1.5, 0.5]];
    let p64 = fomoh::hyperplane(trans, &x64, &d64).unwrap();
    let p32 = fomoh::hyperplane(trans, &x32, &d32).unwrap();
    let hd32 = fomoh::hyper_dual(trans, &x32, &d32[0], &d32[1]).unwrap();
    let close32 = |a: f32, b: f64| ((a as f64) - b).abs() <= 1e-4 * (1.0 + b.abs());
    assert!(close32(p32.value, p64.value));
    for i in 0..2 {
        assert!(close32(p32.grad[i], p64.grad[i]));
        for j in 0..2 {
            assert!(close32(p32.hess[i][j], p64.hess[i][j]), "{} vs {}", p32.hess[i][j], p64.hess[i][j]);
        }
    }
    assert!(close32(hd32.e12, p64.hess[0][1]));
}

#[test]
fn length_mismatches_are_errors_naming_the_input() {
    let f = scalar_fn!(poly);
    let x = [1.0, 2.0, 3.0, 4.0];
    let ok = vec![0.0; 4];
    let short = vec![0.0; 3];
    let named = |e: Error, name: &str, expected: usize, found: usize| match e {
        Error::Length { what, expected: e, found: fd } => {
            assert!(what.contains(name), "error names {what:?}, expected it to name {name:?}");
            assert_eq!((e, fd), (expected, found));
            let msg = Error::Length { what, expected, found }.to_string();
            assert!(msg.contains(name) && msg.contains("expected 4"), "{msg}");
        }
        other => panic!("expected a length error naming {name}, got {other:?}"),
    };
    named(fomoh::hyper_dual(|x| f.eval(x), &x, &short, &ok).unwrap_err(), "v1", 4, 3);
    named(fomoh::hyper_dual(|x| f.eval(x), &x, &ok, &short).unwrap_err(), "v2", 4, 3);
    named(fomoh::directional(|x| f.eval(x), &x, &short).unwrap_err(), "v", 4, 3);
    named(fomoh::hyperplane(|x| f.eval(x), &x, &[ok.clone(), short.clone()]).unwrap_err(), "dirs[1]", 4, 3);
    named(project(&f, &x, &[ok.clone(), ok.clone(), vec![0.0; 5]]).unwrap_err(), "dirs[2]", 4, 5);
    let many: Vec<Vec<f64>> = (0..20).map(|i| if i == 17 { short.clone() } else { ok.clone() }).collect();
    named(project(&f, &x, &many).unwrap_err(), "dirs[17]", 4, 3);
    named(project_pairwise(&f, &x, std::slice::from_ref(&short)).unwrap_err(), "dirs[0]", 4, 3);
    named(fomoh::check::hyper_dual(&f, &x, &ok, &short).unwrap_err(), "v2", 4, 3);
    named(fomoh::check::hyperplane(&f, &x, std::slice::from_ref(&short)).unwrap_err(), "dirs[0]", 4, 3);
    // no directions at all
    assert!(matches!(project(&f, &x, &[]), Err(Error::InvalidArgument(_))));
    assert!(matches!(project_pairwise(&f, &x, &[]), Err(Error::InvalidArgument(_))));
    // matching lengths are fine
    assert!(fomoh::hyper_dual(|x| f.eval(x), &x, &ok, &ok).is_ok());
}

#[test]
fn jet_and_hyperdual_lanes_on_a_known_function() {
    // f(x, y) = x² y at (1, 2) along v = (1, 1): ∇f·v = 4 + 1, vᵀHv = 4 + 2·2 + 0
    let j = fomoh::directional(|x| x[0] * x[0] * x[1], &[1.0, 2.0], &[1.0, 1.0]).unwrap();
    assert_eq!((j.re, j.d1, j.d2), (2.0, 5.0, 8.0));
    let hd = fomoh::hyper_dual(|x| x[0] * x[0] * x[1], &[1.0, 2.0], &[1.0, 1.0], &[1.0, 1.0]).unwrap();
    assert_eq!((hd.re, hd.e1, hd.e2, hd.e12), (2.0, 5.0, 5.0, 8.0));
    // a Jet is a HyperDual with v1 = v2 and one lane fewer
    let jet = Jet::seed(1.5_f64, 2.0).tanh();
    let hd = HyperDual::seed(1.5_f64, 2.0, 2.0).tanh();
    assert_eq!((jet.re, jet.d1, jet.d2), (hd.re, hd.e1, hd.e12));
}

#[test]
fn packed_index_is_a_symmetric_bijection_onto_the_block() {
    for k in 1..=16 {
        let p = k * (k + 1) / 2;
        let mut seen = vec![false; p];
        for i in 0..k {
            for j in i..k {
                let q = fomoh::packed_index(k, i, j);
                assert!(q < p && !seen[q], "K = {k}: ({i}, {j}) -> {q}");
                seen[q] = true;
                assert_eq!(fomoh::packed_index(k, j, i), q);
            }
        }
        assert!(seen.iter().all(|&s| s));
    }
    assert_eq!(HyperK::<f64, 4>::PACKED, 10);
    assert_eq!(HyperK::<f64, 16>::PACKED, 136);
}
