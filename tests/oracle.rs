//! Independent oracles:
//!
//! - num-dual 0.15 (`HyperDual64`, `Dual2SVec64<K>` seeded with directions or one-hot) on random programs at
//!   random points and directions: every lane of ours vs theirs;
//! - the shared benchmark reference values (`tests/data/benchmark_reference_f64.json`,
//!   computed by another AD system, see BENCHMARKS.md) for extended Rosenbrock.
//!
//! Tolerances: vs num-dual `|a - b| <= 1e-9 · (1 + max(|a|, |b|))` (both libraries compute
//! the same chain rule with differently arranged formulas; rounding differences compound
//! through at most 12 operations); vs the reference JSON `|a - b| <= 1e-11 · max|block|`
//! (the reference agrees with itself to 2e-13; summation order over 10⁴ terms differs).

use fomoh::{HyperDual, HyperK, Scalar};
use nalgebra::SMatrix;
use num_dual::{Derivative, Dual2SVec64, DualNum, HyperDual64};
use proptest::prelude::*;

/// A random straight-line program: each step applies op `op % OPS` to earlier values
/// `a % len`, `b % len` and appends the result; the output is the sum of the last two.
type Program = Vec<(u8, usize, usize)>;
const OPS: u8 = 18;

macro_rules! interpret {
    ($prog:expr, $x:expr, $c:expr) => {{
        let mut v = $x.to_vec();
        for &(op, a, b) in $prog.iter() {
            let (a, b) = (v[a % v.len()], v[b % v.len()]);
            let one = $c(1.0);
            let r = match op % OPS {
                0 => a + b,
                1 => a - b,
                2 => a * b,
                3 => a / (one + b * b),
                4 => a.sin(),
                5 => a.cos(),
                6 => a.tanh(),
                7 => a.tanh().exp(),
                8 => (one + a * a).ln(),
                9 => (one + a * a).sqrt(),
                10 => a.atan(),
                11 => (a * $c(0.5)).powi(3),
                12 => (one + a * a).powf(0.75),
                13 => a.asinh(),
                14 => a.atan2(one + b * b),
                15 => (one + b * b).cbrt() * a,
                16 => (a * a).ln_1p() - (a * $c(0.25)).exp_m1(),
                _ => (one + a * a).recip() + (one + b * b).log10(),
            };
            v.push(r);
        }
        let n = v.len();
        v[n - 1] + v[n - 2]
    }};
}

fn run_ours<S: Scalar>(prog: &Program, x: &[S]) -> S {
    interpret!(prog, x, S::from_f64)
}

fn run_nd<D: DualNum<Primitive = f64> + Copy>(prog: &Program, x: &[D]) -> D {
    interpret!(prog, x, D::from)
}

fn run_f64(prog: &Program, x: &[f64]) -> f64 {
    run_ours(prog, x)
}

fn close(what: &str, a: f64, b: f64) {
    assert!((a - b).abs() <= 1e-9 * (1.0 + a.abs().max(b.abs())), "{what}: ours {a:e}, num-dual {b:e}");
}

const N: usize = 4;

fn program() -> impl Strategy<Value = Program> {
    proptest::collection::vec((0..OPS, 0usize..64, 0usize..64), 1..12)
}

fn vec_n(r: f64) -> impl Strategy<Value = Vec<f64>> {
    proptest::collection::vec(-r..r, N)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn hyperdual_matches_num_dual_hyperdual64(prog in program(), x in vec_n(2.0), v1 in vec_n(1.5), v2 in vec_n(1.5)) {
        let y = run_f64(&prog, &x);
        prop_assume!(y.is_finite() && y.abs() < 1e8);
        let ours = fomoh::hyper_dual(|x| run_ours(&prog, x), &x, &v1, &v2).unwrap();
        let xs: Vec<HyperDual64> = (0..N).map(|i| HyperDual64::new(x[i], v1[i], v2[i], 0.0)).collect();
        let theirs = run_nd(&prog, &xs);
        prop_assume!([theirs.eps1, theirs.eps2, theirs.eps1eps2].iter().all(|v| v.is_finite() && v.abs() < 1e8));
        prop_assert_eq!(ours.re, y);
        close("re", ours.re, theirs.re);
        close("e1", ours.e1, theirs.eps1);
        close("e2", ours.e2, theirs.eps2);
        close("e12", ours.e12, theirs.eps1eps2);
    }

    #[test]
    fn hyperk_matches_num_dual_dual2svec64(prog in program(), x in vec_n(2.0), d in proptest::collection::vec(vec_n(1.5), 3)) {
        let y = run_f64(&prog, &x);
        prop_assume!(y.is_finite() && y.abs() < 1e8);
        let dirs: [Vec<f64>; 3] = [d[0].clone(), d[1].clone(), d[2].clone()];
        let xs: Vec<HyperK<f64, 3>> = (0..N).map(|i| HyperK::seed(x[i], [d[0][i], d[1][i], d[2][i]])).collect();
        let ours = run_ours(&prog, &xs);
        let plane = fomoh::hyperplane(|x| run_ours(&prog, x), &x, &dirs).unwrap();
        let seeds: Vec<Dual2SVec64<3>> = (0..N)
            .map(|i| {
                let u = SMatrix::<f64, 1, 3>::from_fn(|_, k| d[k][i]);
                Dual2SVec64::new(x[i], Derivative::some(u), Derivative::none())
            })
            .collect();
        let theirs = run_nd(&prog, &seeds);
        let g = theirs.v1.0.unwrap_or_else(SMatrix::zeros);
        let h = theirs.v2.0.unwrap_or_else(SMatrix::zeros);
        prop_assume!(g.iter().chain(h.iter()).all(|v| v.is_finite() && v.abs() < 1e8));
        prop_assert_eq!(ours.re, y);
        for i in 0..3 {
            close(&format!("grad[{i}]"), ours.grad[i], g[(0, i)]);
            prop_assert_eq!(plane.grad[i], ours.grad[i]);
            for j in 0..3 {
                close(&format!("hess[{i}][{j}]"), ours.hess_at(i, j), h[(i, j)]);
                prop_assert_eq!(plane.hess[i][j], ours.hess_at(i, j));
            }
        }
    }

    #[test]
    fn hessian_matches_num_dual_one_hot_dual2svec64(prog in program(), x in vec_n(2.0)) {
        let y = run_f64(&prog, &x);
        prop_assume!(y.is_finite() && y.abs() < 1e8);
        let ours_h = fomoh::hessian(|x| run_ours(&prog, x), &x).unwrap();
        let ours_g = fomoh::gradient(|x| run_ours(&prog, x), &x).unwrap();
        let seeds: Vec<Dual2SVec64<N>> = (0..N).map(|i| Dual2SVec64::from_re(x[i]).derivative(i)).collect();
        let theirs = run_nd(&prog, &seeds);
        let g = theirs.v1.0.unwrap_or_else(SMatrix::zeros);
        let h = theirs.v2.0.unwrap_or_else(SMatrix::zeros);
        prop_assume!(g.iter().chain(h.iter()).all(|v| v.is_finite() && v.abs() < 1e8));
        for i in 0..N {
            close(&format!("gradient[{i}]"), ours_g[i], g[(0, i)]);
            for j in 0..N {
                close(&format!("hessian[{i}][{j}]"), ours_h[i][j], h[(i, j)]);
            }
        }
    }

    /// f32 lanes against num-dual's f64 at the same (f32-representable) point, 1e-3 relative.
    #[test]
    fn f32_hyperdual_matches_num_dual_f64(prog in program(), x in vec_n(2.0), v1 in vec_n(1.5), v2 in vec_n(1.5)) {
        let r32 = |v: &Vec<f64>| v.iter().map(|&a| a as f32).collect::<Vec<f32>>();
        let (x32, a32, b32) = (r32(&x), r32(&v1), r32(&v2));
        let up = |v: &[f32]| v.iter().map(|&a| a as f64).collect::<Vec<f64>>();
        let (x, v1, v2) = (up(&x32), up(&a32), up(&b32));
        let y = run_f64(&prog, &x);
        prop_assume!(y.is_finite() && y.abs() < 1e4);
        let ours: HyperDual<f32> = fomoh::hyper_dual(|x| run_ours(&prog, x), &x32, &a32, &b32).unwrap();
        let xs: Vec<HyperDual64> = (0..N).map(|i| HyperDual64::new(x[i], v1[i], v2[i], 0.0)).collect();
        let t = run_nd(&prog, &xs);
        prop_assume!([t.eps1, t.eps2, t.eps1eps2].iter().all(|v| v.is_finite() && v.abs() < 1e4));
        for (name, a, b) in [("re", ours.re, t.re), ("e1", ours.e1, t.eps1), ("e2", ours.e2, t.eps2), ("e12", ours.e12, t.eps1eps2)] {
            prop_assert!(((a as f64) - b).abs() <= 1e-3 * (1.0 + b.abs()), "{}: f32 {} vs num-dual f64 {}", name, a, b);
        }
    }
}

/// The ops the random programs use all occur (so the oracle covers them).
#[test]
fn every_program_op_is_reachable() {
    let x = [0.3, -0.4, 0.5, 0.7];
    let mut seen = std::collections::HashSet::new();
    for op in 0..OPS {
        let prog: Program = vec![(op, 0, 1)];
        let ours =
            fomoh::hyper_dual(|x| run_ours(&prog, x), &x, &[1.0, 0.0, 0.5, 0.0], &[0.0, 1.0, 0.0, 0.5])
                .unwrap();
        let xs: Vec<HyperDual64> = (0..N)
            .map(|i| HyperDual64::new(x[i], [1.0, 0.0, 0.5, 0.0][i], [0.0, 1.0, 0.0, 0.5][i], 0.0))
            .collect();
        let t = run_nd(&prog, &xs);
        close("re", ours.re, t.re);
        close("e1", ours.e1, t.eps1);
        close("e12", ours.e12, t.eps1eps2);
        seen.insert(ours.re.to_bits());
    }
    assert_eq!(seen.len(), OPS as usize, "every op computes something different");
}

// ---------------------------------------------------------------------------------------
// The shared benchmark reference values.

fn rosenbrock<S: Scalar>(x: &[S]) -> S {
    let (one, hundred) = (S::one(), S::from_f64(100.0));
    (0..x.len() - 1).map(|i| hundred * (x[i + 1] - x[i] * x[i]).powi(2) + (one - x[i]).powi(2)).sum()
}

fn direction(j: usize, n: usize) -> Vec<f64> {
    (0..n).map(|i| ((i + 1) as f64 * ((j + 2) as f64).sqrt()).sin()).collect()
}

fn reference() -> serde_json::Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/benchmark_reference_f64.json"
    ))
    .expect("tests/data/benchmark_reference_f64.json");
    serde_json::from_str(&text).expect("valid JSON")
}

fn nums(v: &serde_json::Value) -> Vec<f64> {
    v.as_array().expect("array").iter().map(|a| a.as_f64().expect("number")).collect()
}

fn check_block(what: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}");
    let scale = want.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    for (k, (a, b)) in got.iter().zip(want).enumerate() {
        assert!(
            (a - b).abs() <= 1e-11 * scale,
            "{what}[{k}]: ours {a:e}, reference {b:e} (block scale {scale:e})"
        );
    }
}

fn check_rosenbrock(key: &str) {
    let refs = reference();
    let p = &refs["problems"][key];
    let n = p["n"].as_u64().expect("n") as usize;
    let x: Vec<f64> = (0..n).map(|i| if i % 2 == 0 { -1.2 } else { 1.0 }).collect();
    let dirs: [Vec<f64>; 4] = core::array::from_fn(|j| direction(j, n));

    let hd = fomoh::hyper_dual(rosenbrock, &x, &dirs[0], &dirs[1]).unwrap();
    check_block(&format!("{key} hd1"), &[hd.re, hd.e1, hd.e2, hd.e12], &nums(&p["hd1"]));

    let k4 = fomoh::hyperplane(rosenbrock, &x, &dirs).unwrap();
    check_block(&format!("{key} f"), &[k4.value], &[p["f"].as_f64().unwrap()]);
    check_block(&format!("{key} g"), &k4.grad, &nums(&p["g"]));
    let h_ref: Vec<f64> = p["H"].as_array().unwrap().iter().flat_map(nums).collect();
    let h: Vec<f64> = k4.hess.iter().flatten().copied().collect();
    check_block(&format!("{key} H (HyperK)"), &h, &h_ref);

    // the Jet along u_0 gives H[0][0]
    let j = fomoh::directional(rosenbrock, &x, &dirs[0]).unwrap();
    check_block(&format!("{key} Jet"), &[j.d1, j.d2], &[k4.grad[0], h_ref[0]]);
}

#[test]
fn reference_rosenbrock_n2() {
    check_rosenbrock("rosenbrock_n2");
}

#[test]
fn reference_rosenbrock_n100() {
    check_rosenbrock("rosenbrock_n100");
}

#[test]
fn reference_rosenbrock_n10000() {
    check_rosenbrock("rosenbrock_n10000");
}

/// n = 10⁶ takes seconds in a debug build: `cargo test --release --test oracle -- --ignored`.
#[test]
#[ignore]
fn reference_rosenbrock_n1000000() {
    check_rosenbrock("rosenbrock_n1000000");
}

/// The pairwise passes of the paper reproduce the reference block too (K = 4, 10 passes).
#[test]
fn reference_rosenbrock_n100_pairwise() {
    let refs = reference();
    let p = &refs["problems"]["rosenbrock_n100"];
    let x: Vec<f64> = (0..100).map(|i| if i % 2 == 0 { -1.2 } else { 1.0 }).collect();
    let dirs: Vec<Vec<f64>> = (0..4).map(|j| direction(j, 100)).collect();
    let pw = fomoh::project_pairwise(&fomoh::scalar_fn!(rosenbrock), &x, &dirs).unwrap();
    let passes = pw.passes;
    assert_eq!(passes, 10);
    let h_ref: Vec<f64> = p["H"].as_array().unwrap().iter().flat_map(nums).collect();
    check_block("pairwise g", &pw.grad, &nums(&p["g"]));
    check_block("pairwise H", &pw.hess.concat(), &h_ref);
}
