//! `f32` tensor programs (`TensorProgram::with_float::<f32>()`): every compiled mode against
//! the reference interpreter over the runtime's `f32` number types (`f32`, `HyperDual<f32>`,
//! `HyperK<f32, K>`), through every kind of step (fused `f32x4` loops with every remainder
//! length, split loops, `sgemm` matmul steps, copies, windowed maxima), plus evidence that
//! the arithmetic really is `f32`, the cache and the errors.
//!
//! Tolerances: the compiled loops add their sums in another order than the interpreter
//! (vector lanes, chunks) and `sgemm` blocks its dot products, so results agree to a few
//! `f32` roundings of the terms' magnitude, not bitwise: `rel` 2e-5 of the larger value with
//! a floor of the output's scale (stated per test).
#![allow(clippy::needless_range_loop)]

mod common;

use common::one_hot;

use common::Tol;
use fomoh_jit::tensor::{models, TensorBuilder};
use fomoh_jit::Mode;
use fomoh_runtime::{BinaryOp, UnaryOp};
use proptest::prelude::*;

fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

/// Extended Rosenbrock for every remainder of the row length modulo the vector width (4),
/// odd and even, against the interpreter in every mode up to K = 8.
#[test]
fn rosenbrock_f32_matches_the_f32_interpreter_for_every_tail() {
    for n in [2, 3, 4, 5, 6, 7, 8, 9, 101, 1002] {
        let p = models::rosenbrock(n).unwrap().with_float::<f32>();
        let x: Vec<f32> = (0..n).map(|i| 0.3 * (i as f32).cos()).collect();
        // Output scale: 100·n for the value and the curvature lanes.
        let tol = Tol { rel: 2e-5, floor: 100.0 * n as f64 };
        common::tensor_vs_interpreter(&format!("rosenbrock {n}"), &p, &x, tol, 8);
    }
}

/// The f32 program computes in f32: `Σ ((x + 1e8) - 1e8)` is 0 per element in `f32` (1e8 + x
/// rounds to 1e8 for |x| < 4) and `x` in `f64`; the derivative lanes are exact in both.
#[test]
fn f32_programs_round_like_f32() {
    let n = 13;
    let mut b = TensorBuilder::new(n);
    let x = b.param(0, &[n]).unwrap();
    let big = b.constant(1e8);
    let y = b.add(x, big).unwrap();
    let z = b.sub(y, big).unwrap();
    let f = b.sum(z);
    let p64 = b.finish(f).unwrap();
    let p32 = p64.with_float::<f32>();
    let x64: Vec<f64> = (0..n).map(|i| 1.0 + 0.1 * i as f64).collect();
    let x32 = f32s(&x64);
    assert_eq!(p32.value(&x32).unwrap(), 0.0);
    assert_eq!(p32.value(&x32).unwrap(), p32.interpret(&x32).unwrap());
    assert!((p64.value(&x64).unwrap() - x64.iter().sum::<f64>()).abs() < 1e-6);
    let ones = vec![1.0f32; n];
    let j = p32.directional(&x32, &ones).unwrap();
    assert_eq!((j.d1, j.d2), (n as f32, 0.0));
}

/// Every unary and binary function (extern `f32` wrappers and native instructions) in one
/// elementwise chain with a broadcast row, over lengths with every vector remainder.
#[test]
fn elementwise_functions_f32_match_the_interpreter() {
    for cols in [1, 3, 4, 6, 9] {
        let rows = 3;
        let n = rows * cols + cols;
        let mut b = TensorBuilder::new(n);
        let a = b.param(0, &[rows, cols]).unwrap();
        let r = b.param(rows * cols, &[1, cols]).unwrap();
        let s = b.unary(UnaryOp::Sin, a).unwrap();
        let e = b.unary(UnaryOp::Exp, r).unwrap();
        let t = b.binary(BinaryOp::Mul, s, e).unwrap();
        let th = b.unary(UnaryOp::Tanh, t).unwrap();
        let sq = b.mul(a, a).unwrap();
        let one = b.constant(1.0);
        let q = b.add(sq, one).unwrap();
        let l = b.unary(UnaryOp::Ln, q).unwrap();
        let pw = b.unary(UnaryOp::Powf(1.5), q).unwrap();
        let pi = b.unary(UnaryOp::Powi(3), th).unwrap();
        let at = b.binary(BinaryOp::Atan2, a, q).unwrap();
        let hy = b.binary(BinaryOp::Hypot, a, r).unwrap();
        let pp = b.binary(BinaryOp::Pow, q, th).unwrap();
        let mx = b.maximum(a, r).unwrap();
        let sr = b.unary(UnaryOp::Sqrt, q).unwrap();
        let mut acc = l;
        for t in [pw, pi, at, hy, pp, mx, sr] {
            acc = b.add(acc, t).unwrap();
        }
        let f = b.sum(acc);
        let p = b.finish(f).unwrap().with_float::<f32>();
        let x: Vec<f32> = (0..n).map(|i| 0.9 * ((i as f32) * 0.71 + 0.2).sin()).collect();
        let tol = Tol { rel: 2e-5, floor: 10.0 * n as f64 };
        common::tensor_vs_interpreter(&format!("functions {rows}x{cols}"), &p, &x, tol, 4);
    }
}

/// Loops large enough to run as chunks on the rayon pool (column ranges starting at
/// multiples of 4, partial sums added in chunk order) agree with the interpreter and are
/// bitwise repeatable.
#[test]
fn split_f32_loops_agree_and_repeat() {
    let n = 200_003;
    let p = models::rosenbrock(n).unwrap().with_float::<f32>();
    for mode in [Mode::Primal, Mode::HyperDual, Mode::HyperK(4)] {
        assert!(p.prepare(mode).unwrap().parallel_loops > 0, "{mode:?}");
    }
    let x: Vec<f32> = (0..n).map(|i| 0.3 * (i as f32).cos()).collect();
    // 2·10^5 f32 terms summed in two orders: sqrt(n)·eps relative to the sum's scale.
    let tol = Tol { rel: 2e-4, floor: 100.0 * n as f64 };
    common::tensor_vs_interpreter("rosenbrock 200003 f32", &p, &x, tol, 4);
    let u = common::direction(0, n).iter().map(|&v| v as f32).collect::<Vec<_>>();
    let a = p.hyper_dual(&x, &u, &u).unwrap();
    let b = p.hyper_dual(&x, &u, &u).unwrap();
    assert_eq!([a.re, a.e1, a.e2, a.e12].map(f32::to_bits), [b.re, b.e1, b.e2, b.e12].map(f32::to_bits));
}

/// The paper's models in f32 (sgemm matmul steps, row reductions, the CNN's gathers and
/// windowed maxima) against the f32 interpreter, and against the f64 program.
#[test]
fn models_f32_match_the_interpreter_and_the_f64_program() {
    let text = include_str!("data/digits.csv");
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for line in text.lines().skip(1).take(40) {
        let v: Vec<f64> = line.split(',').map(|t| t.trim().parse().unwrap()).collect();
        x.extend(v[..64].iter().map(|p| p / 16.0));
        y.push(v[64] as usize);
    }
    let cfg = fomoh_runtime::models::CnnConfig {
        height: 12,
        width: 12,
        conv1: 2,
        conv2: 3,
        kernel: 3,
        hidden: 8,
        classes: 10,
    };
    let images: Vec<f64> = (0..4 * 144).map(|i| 0.5 + 0.5 * ((i as f64) * 0.29).sin()).collect();
    let progs = [
        ("logreg", models::logreg(x.clone(), &y, 64, 10).unwrap(), 8),
        ("mlp", models::mlp(x.clone(), &y, 64, 16, 10).unwrap(), 8),
        ("cnn", models::cnn(images, &y[..4], cfg).unwrap(), 4),
    ];
    for (name, p64, max_k) in progs {
        let p = p64.with_float::<f32>();
        let theta: Vec<f64> = (0..p.dim()).map(|i| 0.2 * ((i as f64) * 0.37 + 0.1).sin()).collect();
        let t32 = f32s(&theta);
        // Mean cross-entropies: values of order 1, derivative lanes of order 10.
        let tol = Tol { rel: 2e-5, floor: 10.0 };
        common::tensor_vs_interpreter(name, &p, &t32, tol, max_k);
        // The same numbers as the f64 program up to f32 rounding of the inputs and the work.
        let u = common::direction(0, theta.len());
        let (a, b) = (p.directional(&t32, &f32s(&u)).unwrap(), p64.directional(&theta, &u).unwrap());
        for (s, d) in [(a.re, b.re), (a.d1, b.d1), (a.d2, b.d2)] {
            assert!(common::close_within(s as f64, d, Tol { rel: 1e-4, floor: 10.0 }), "{name}: {s} vs {d}");
        }
    }
}

/// A batch large enough that the f32 matmul steps split over the rayon pool (the first
/// layer's sgemm row by row, the second layer's direct Hessian-lane products side by side):
/// every mode up to K = 8 against the f32 interpreter.
#[test]
fn large_f32_matmul_steps_split_over_threads_agree() {
    let (bsz, d) = (256, 16);
    let x: Vec<f64> = (0..bsz * d).map(|i| ((i as f64) * 0.61).sin()).collect();
    let labels: Vec<usize> = (0..bsz).map(|i| (i * 3) % 10).collect();
    let p = models::mlp(x, &labels, d, 32, 10).unwrap().with_float::<f32>();
    let theta: Vec<f32> = (0..p.dim()).map(|i| 0.25 * ((i as f32) * 0.43 + 0.3).cos()).collect();
    common::tensor_vs_interpreter("mlp 256x16-32-10 f32", &p, &theta, Tol { rel: 2e-5, floor: 10.0 }, 8);
}

/// Minibatch programs bind `f32` inputs; their matmuls and shards run through the same steps.
#[test]
fn bound_f32_minibatches_match_the_interpreter() {
    let (bsz, sizes) = (64, [16, 32, 10]);
    let p = models::mlp_minibatch(bsz, &sizes, UnaryOp::Tanh).unwrap().with_float::<f32>();
    let xb: Vec<f32> = (0..bsz * 16).map(|i| ((i as f32) * 0.13).sin()).collect();
    let labels: Vec<usize> = (0..bsz).map(|i| (i * 7) % 10).collect();
    let yb = f32s(&one_hot(&labels, 10));
    let bound = p.bind(&[&xb, &yb]).unwrap();
    let theta: Vec<f32> = (0..p.dim()).map(|i| 0.3 * ((i as f32) * 0.37).sin()).collect();
    let u: Vec<Vec<f32>> = (0..8).map(|j| f32s(&common::direction(j, theta.len()))).collect();
    let pr = bound.project(&theta, &u).unwrap();
    let xs: Vec<fomoh_runtime::HyperK<f32, 8>> = (0..theta.len())
        .map(|i| fomoh_runtime::HyperK::seed(theta[i], core::array::from_fn(|j| u[j][i])))
        .collect();
    let r = bound.interpret(&xs).unwrap();
    let tol = Tol { rel: 2e-5, floor: 10.0 };
    assert!(common::close_within(pr.value as f64, r.re as f64, tol));
    for i in 0..8 {
        assert!(common::close_within(pr.grad[i] as f64, r.grad[i] as f64, tol), "grad {i}");
        for j in 0..8 {
            let (a, b) = (pr.hess[i][j] as f64, r.hess_full()[i][j] as f64);
            assert!(common::close_within(a, b, tol), "hess {i} {j}: {a} vs {b}");
        }
    }
    assert!(p.bind(&[&xb[1..], &yb]).is_err(), "a short input is an error");
    assert!(bound.value(&theta[1..]).is_err(), "a short x is an error");
    assert!(bound.project(&theta, &u[..3].iter().map(|d| d[1..].to_vec()).collect::<Vec<_>>()).is_err());
}

/// f32 and f64 plans of one graph are separate cache entries; each is compiled once.
#[test]
fn f32_plans_are_cached_apart_from_f64() {
    let n = 77; // a graph no other test builds
    let p64 = models::rosenbrock(n).unwrap();
    let p32 = p64.with_float::<f32>();
    let x: Vec<f64> = (0..n).map(|i| 0.1 * i as f64).collect();
    let v64 = p64.value(&x).unwrap();
    let before = fomoh_jit::cache_stats();
    let v32 = p32.value(&f32s(&x)).unwrap();
    let after = fomoh_jit::cache_stats();
    assert!(after.misses > before.misses, "the f32 plan is compiled, not the f64 one reused");
    assert!(((v32 as f64) - v64).abs() <= 1e-5 * v64.abs());
    let again = p64.with_float::<f32>();
    let h0 = fomoh_jit::cache_stats().hits;
    assert_eq!(again.value(&f32s(&x)).unwrap().to_bits(), v32.to_bits());
    assert!(fomoh_jit::cache_stats().hits > h0, "the second f32 program is a cache hit");
}

// ---- f32 scalar programs that run as rerolled tensor programs, and f32 objectives ----

fn rosenbrock<S: fomoh_runtime::Scalar>(x: &[S]) -> S {
    let (one, hundred) = (S::one(), S::from_f64(100.0));
    (0..x.len() - 1).map(|i| hundred * (x[i + 1] - x[i] * x[i]).powi(2) + (one - x[i]).powi(2)).sum()
}

/// A traced sum rerolled into a tensor program runs that program in f32: it agrees with the
/// f32 straight-line program of the same trace and with the runtime over f32.
#[test]
fn f32_programs_reroll_into_f32_tensor_programs() {
    let n = 300;
    let x: Vec<f64> = (0..n).map(|i| 0.3 * (i as f64 * 0.7).cos()).collect();
    let x32 = f32s(&x);
    let p = fomoh_jit::compile_at(&x, rosenbrock).unwrap().with_float::<f32>();
    assert!(p.is_rerolled());
    assert!(p.prepare(Mode::HyperK(4)).unwrap().rerolled);
    let o = fomoh_jit::Options { reroll: false, ..Default::default() };
    let s = fomoh_jit::compile_at_with(&x, rosenbrock, &o).unwrap().with_float::<f32>();
    assert!(!s.is_rerolled());
    let u: Vec<Vec<f32>> = (0..4).map(|j| f32s(&common::direction(j, n))).collect();
    let tol = Tol { rel: 2e-5, floor: 100.0 * n as f64 };
    let hd = |q: &fomoh_jit::Program<f32>| {
        common::f64s(&common::flat_hd(q.hyper_dual(&x32, &u[0], &u[1]).unwrap()))
    };
    let rt = fomoh_runtime::hyper_dual(rosenbrock, &x32, &u[0], &u[1]).unwrap();
    common::assert_close("rerolled vs straight-line f32", &hd(&p), &hd(&s), tol);
    common::assert_close("rerolled f32 vs runtime f32", &hd(&p), &common::f64s(&common::flat_hd(rt)), tol);
    let (a, b) = (p.project(&x32, &u).unwrap(), s.project(&x32, &u).unwrap());
    common::assert_close(
        "rerolled K=4",
        &common::f64s(&common::flat_proj(&a)),
        &common::f64s(&common::flat_proj(&b)),
        tol,
    );
}

/// An f32 program is an `Objective`: the f64 arguments rounded once to f32, the f32 results
/// returned exactly; more than 16 directions go through pairwise hyper-dual passes; a
/// Newton optimizer runs on it.
#[test]
fn f32_programs_are_objectives() {
    use fomoh_runtime::optim::{Newton, Optimizer};
    use fomoh_runtime::Objective;
    let n = 20;
    let x: Vec<f64> = (0..n).map(|i| 0.1 + 0.013 * i as f64).collect();
    let p32 = fomoh_jit::compile(n, rosenbrock).unwrap().with_float::<f32>();
    let o: &dyn Objective = &p32;
    assert_eq!(o.value(&x).unwrap(), p32.value(&f32s(&x)).unwrap() as f64);
    let u: Vec<Vec<f64>> = (0..17).map(|j| common::direction(j, n)).collect();
    let exact = fomoh_runtime::api::project(&fomoh_runtime::scalar_fn!(rosenbrock), &x, &u).unwrap();
    for k in [4, 17] {
        let pr = o.project(&x, &u[..k]).unwrap();
        for i in 0..k {
            assert!(
                common::close_within(pr.grad[i], exact.grad[i], Tol { rel: 1e-4, floor: 1.0 }),
                "K={k} g{i}"
            );
            for j in 0..k {
                let (a, b) = (pr.hess[i][j], exact.hess[i][j]);
                assert!(
                    common::close_within(a, b, Tol { rel: 1e-4, floor: 100.0 }),
                    "K={k} H{i}{j}: {a} vs {b}"
                );
            }
        }
    }
    // tensor programs too
    let t32 = models::rosenbrock(n).unwrap().with_float::<f32>();
    let ot: &dyn Objective = &t32;
    assert!(common::close_within(ot.value(&x).unwrap(), o.value(&x).unwrap(), Tol { rel: 1e-6, floor: 1.0 }));
    // Newton steps on the f32 program decrease the f64 objective from a start near the minimum.
    let mut theta: Vec<f64> = (0..n).map(|i| 1.0 + 0.05 * ((i as f64) * 0.9).sin()).collect();
    let f0 = rosenbrock(&theta);
    let mut newton = Newton::new();
    for _ in 0..5 {
        newton.step(o, &mut theta).unwrap();
    }
    assert!(rosenbrock(&theta) < 1e-3 * f0, "{} vs {f0}", rosenbrock(&theta));
    assert!(o.value(&x[1..]).is_err(), "a short x is an error");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
    /// The random elementwise chains of `tests/tensor.rs` (every link kind, a broadcast row, a
    /// select) in f32 over lengths with every remainder of 4, every mode up to K = 4.
    /// Observed differences up to ~1e-5 relative (chains of up to five transcendental links,
    /// `fma` contraction and preaccumulation reorder f32 roundings), and lanes that cancel
    /// to ~1e-4 of the largest lane; tolerance 1e-4 of the larger value with a floor at the
    /// largest lane (6000 cases passed at 1e-5 too).
    #[test]
    fn random_elementwise_chains_agree_in_f32(
        n in 2usize..14,
        ops in proptest::collection::vec(0usize..7, 1..6),
        seed in any::<u64>(),
    ) {
        let (p, theta) = common::elementwise_chain(n, &ops, seed);
        let (p, theta) = (p.with_float::<f32>(), f32s(&theta));
        // A lane that cancels keeps the absolute error of its terms: the floor is the scale
        // of the K = 4 outputs (the largest lane), at least 1.
        let u: Vec<Vec<f32>> = (0..4).map(|j| f32s(&common::direction(j, 2 * n))).collect();
        let scale = common::f64s(&common::flat_proj(&p.project(&theta, &u).unwrap()))
            .iter()
            .fold(1.0f64, |m, v| m.max(v.abs()));
        let tol = Tol { rel: 1e-4, floor: scale };
        common::tensor_vs_interpreter("f32 chain", &p, &theta, tol, 4);
    }
}
