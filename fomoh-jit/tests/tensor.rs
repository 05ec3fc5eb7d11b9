//! Tensor programs: compiled modes vs the reference interpreter (over the runtime's own
//! number types) and vs the scalar runtime, shape errors, and the benchmark problems
//! against the independent reference values.
#![allow(clippy::needless_range_loop)]

mod common;

use common::one_hot;

use fomoh_jit::tensor::{models, TensorBuilder};
use fomoh_jit::JitError;
use fomoh_runtime::{BinaryOp, HyperDual, HyperK, Scalar, UnaryOp};
use proptest::prelude::*;

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * a.abs().max(b.abs()).max(1.0)
}

fn dirs(n: usize, k: usize) -> Vec<Vec<f64>> {
    (0..k).map(|j| (0..n).map(|i| ((i + 1) as f64 * ((j + 2) as f64).sqrt()).sin()).collect()).collect()
}

fn rosenbrock<S: Scalar>(x: &[S]) -> S {
    let (one, hundred) = (S::one(), S::from_f64(100.0));
    (0..x.len() - 1).map(|i| hundred * (x[i + 1] - x[i] * x[i]).powi(2) + (one - x[i]).powi(2)).sum()
}

/// Every compiled mode of `p` (primal, hyper-dual, jet, K = 1..=`max_k`) against the
/// interpreter over the runtime's number types, relative to `tol` with a floor of 1.
fn check_modes(p: &fomoh_jit::TensorProgram, x: &[f64], tol: f64, max_k: usize) {
    common::tensor_vs_interpreter("tensor", p, x, common::Tol { rel: tol, floor: 1.0 }, max_k);
}

#[test]
fn rosenbrock_tensor_matches_scalar_runtime() {
    let n = 101;
    let p = models::rosenbrock(n).unwrap();
    let x: Vec<f64> = (0..n).map(|i| 0.3 * (i as f64).cos()).collect();
    check_modes(&p, &x, 1e-12, 4);
    let u = dirs(n, 2);
    let hd = p.hyper_dual(&x, &u[0], &u[1]).unwrap();
    let rt = fomoh_runtime::hyper_dual(rosenbrock, &x, &u[0], &u[1]).unwrap();
    for (a, b) in [(hd.re, rt.re), (hd.e1, rt.e1), (hd.e2, rt.e2), (hd.e12, rt.e12)] {
        assert!(close(a, b, 1e-12), "{a} vs {b}");
    }
    assert_eq!(p.nodes().len(), 13, "a handful of tensor nodes for any n");
}

fn mlp_like(bsz: usize, d: usize, h: usize, c: usize, seed: u64) -> (fomoh_jit::TensorProgram, Vec<f64>) {
    let mut s = seed;
    let mut rnd = || {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    };
    let x: Vec<f64> = (0..bsz * d).map(|_| rnd()).collect();
    let labels: Vec<usize> = (0..bsz).map(|i| i % c).collect();
    let p = models::mlp(x, &labels, d, h, c).unwrap();
    let theta: Vec<f64> = (0..p.dim()).map(|_| 0.5 * rnd()).collect();
    (p, theta)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
    #[test]
    fn random_mlp_shapes_agree(bsz in 1usize..6, d in 1usize..5, h in 1usize..5, c in 2usize..5, seed in any::<u64>()) {
        let (p, theta) = mlp_like(bsz, d, h, c, seed);
        check_modes(&p, &theta, 1e-12, 4);
    }

    #[test]
    fn random_elementwise_chains_agree(n in 2usize..9, ops in proptest::collection::vec(0usize..9, 1..6), seed in any::<u64>()) {
        let (p, theta) = common::elementwise_chain(n, &ops, seed);
        check_modes(&p, &theta, 1e-12, 4);
    }
}

#[test]
fn shape_errors_are_typed() {
    let mut b = TensorBuilder::new(6);
    let a = b.param(0, &[2, 3]).unwrap();
    let c = b.param(0, &[3, 2]).unwrap();
    assert!(matches!(b.add(a, c), Err(JitError::Shape(_))));
    assert!(matches!(b.matmul(a, a), Err(JitError::Shape(_))));
    assert!(matches!(b.param(4, &[3]), Err(JitError::Shape(_))));
    assert!(matches!(b.reshape(a, &[4]), Err(JitError::Shape(_))));
    assert!(matches!(b.slice(a, 1, 3), Err(JitError::Shape(_))));
    assert!(matches!(b.data(vec![1.0; 5], &[2, 3]), Err(JitError::Length { .. })));
    assert!(matches!(b.clone().finish(a), Err(JitError::Shape(_))));
    let s = b.sum(a);
    let p = b.finish(s).unwrap();
    assert!(matches!(p.value(&[1.0; 5]), Err(fomoh_runtime::Error::Length { .. })));
    assert!(p.hyper_dual(&[1.0; 6], &[1.0; 6], &[1.0; 7]).is_err());
    let pairs = p.project(&[1.0; 6], &vec![vec![1.0; 6]; 17]).unwrap();
    assert_eq!((pairs.passes, pairs.grad[16]), (17 * 18 / 2, 6.0));
    assert!(p.project(&[1.0; 6], &vec![vec![1.0; 5]; 17]).is_err());
}

// ---- the benchmark problems against the independent reference values ----

fn reference(problem: &str) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let text = include_str!("data/benchmark_reference_f64.json");
    let at = text.find(&format!("\"{problem}\"")).expect("problem listed");
    let rest = &text[at..];
    let nums = |key: &str| -> Vec<f64> {
        let k = rest.find(&format!("\"{key}\"")).expect("key");
        let s = &rest[k + key.len() + 2..];
        let (open, _) = s.char_indices().find(|&(_, c)| c == '[').expect("array");
        let mut depth = 0;
        let mut end = open;
        for (i, ch) in s[open..].char_indices() {
            match ch {
                '[' => depth += 1,
                ']' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + i;
                        break;
                    }
                }
                _ => {}
            }
        }
        s[open..end].split([',', '[', ']']).filter_map(|t| t.trim().parse().ok()).collect()
    };
    (nums("hd1"), nums("g"), nums("H"))
}

fn check_reference(p: &fomoh_jit::TensorProgram, x: &[f64], problem: &str) {
    let (hd1, g, h) = reference(problem);
    let u = dirs(x.len(), 4);
    let hd = p.hyper_dual(x, &u[0], &u[1]).unwrap();
    for (a, b) in [hd.re, hd.e1, hd.e2, hd.e12].into_iter().zip(&hd1) {
        assert!(close(a, *b, 1e-10), "{problem} hd1: {a} vs {b}");
    }
    let pr = p.project(x, &u).unwrap();
    assert!(close(pr.value, hd1[0], 1e-10));
    for i in 0..4 {
        assert!(close(pr.grad[i], g[i], 1e-10), "{problem} g{i}");
        for j in 0..4 {
            assert!(
                close(pr.hess[i][j], h[4 * i + j], 1e-10),
                "{problem} H{i}{j}: {} vs {}",
                pr.hess[i][j],
                h[4 * i + j]
            );
        }
    }
}

#[test]
fn benchmark_rosenbrock_reference() {
    for n in [100usize, 10_000] {
        let p = models::rosenbrock(n).unwrap();
        let x: Vec<f64> = (0..n).map(|i| if i % 2 == 0 { -1.2 } else { 1.0 }).collect();
        check_reference(&p, &x, &format!("rosenbrock_n{n}"));
    }
}

#[test]
#[ignore = "n = 10^6 (a few seconds in debug); run with --ignored"]
fn benchmark_rosenbrock_1e6_reference() {
    let n = 1_000_000;
    let p = models::rosenbrock(n).unwrap();
    let x: Vec<f64> = (0..n).map(|i| if i % 2 == 0 { -1.2 } else { 1.0 }).collect();
    check_reference(&p, &x, "rosenbrock_n1000000");
}

#[test]
fn benchmark_logreg_reference() {
    let (x, y) = common::digits(1797);
    let p = models::logreg(x, &y, 64, 10).unwrap();
    let theta: Vec<f64> = (0..650).map(|k| 0.1 * ((k + 1) as f64).sin()).collect();
    check_reference(&p, &theta, "logreg_64_10_b1797");
}

#[test]
fn benchmark_mlp_reference() {
    let (x, y) = common::digits(256);
    let p = models::mlp(x, &y, 64, 32, 10).unwrap();
    let theta: Vec<f64> = (0..2410).map(|k| 0.1 * ((k + 1) as f64).sin()).collect();
    check_reference(&p, &theta, "mlp_64_32_10_b256");
}

// ---- passive inputs bound at call time ----

fn close_proj(a: &fomoh_runtime::Projection<f64>, b: &fomoh_runtime::Projection<f64>, tol: f64) -> bool {
    close(a.value, b.value, tol)
        && a.grad.iter().zip(&b.grad).all(|(x, y)| close(*x, *y, tol))
        && a.hess.iter().flatten().zip(b.hess.iter().flatten()).all(|(x, y)| close(*x, *y, tol))
}

/// One compiled minibatch program, bound to several batches, against the runtime's tensor
/// models (`fomoh_runtime::models::Minibatch`, an independent implementation) on each batch.
#[test]
fn minibatch_programs_match_the_runtime_models_on_every_batch() {
    use fomoh_runtime::data::Dataset;
    use fomoh_runtime::models::{Activation, LogisticRegression, Minibatch, Mlp, Model};
    use fomoh_runtime::tensor::Planes;
    use fomoh_runtime::Objective;
    let digits = Dataset::digits().unwrap();
    let bsz = 24;
    let cases: Vec<(Box<dyn Model>, fomoh_jit::TensorProgram)> = vec![
        (Box::new(LogisticRegression::new(64, 10).unwrap()), models::logreg_minibatch(bsz, 64, 10).unwrap()),
        (
            Box::new(Mlp::new(&[64, 12, 7, 10], Activation::Tanh).unwrap()),
            models::mlp_minibatch(bsz, &[64, 12, 7, 10], UnaryOp::Tanh).unwrap(),
        ),
        (
            Box::new(Mlp::new(&[64, 9, 10], Activation::Sigmoid).unwrap()),
            models::mlp_minibatch(bsz, &[64, 9, 10], UnaryOp::Sigmoid).unwrap(),
        ),
    ];
    for (model, p) in &cases {
        assert_eq!(p.dim(), model.num_params(), "{}", model.name());
        assert_eq!(p.input_shapes(), &[vec![bsz, 64], vec![bsz, 10]]);
        let theta = model.init(5);
        let n = theta.len();
        let u = dirs(n, 8);
        for start in [0, 100, 1000] {
            let idx: Vec<usize> = (start..start + bsz).collect();
            let batch = digits.batch(&idx).unwrap();
            let rt = Minibatch::new(model.as_ref(), &batch).unwrap();
            let y = one_hot(&batch.labels, 10);
            let jit = p.bind(&[batch.x.re(), &y]).unwrap();
            let what = format!("{} batch at {start}", model.name());
            assert!(close(jit.value(&theta).unwrap(), rt.value(&theta).unwrap(), 1e-12), "{what}");
            let (a, b) =
                (jit.hyper_dual(&theta, &u[0], &u[1]).unwrap(), rt.hyper_dual(&theta, &u[0], &u[1]).unwrap());
            for (x, y) in [(a.re, b.re), (a.e1, b.e1), (a.e2, b.e2), (a.e12, b.e12)] {
                assert!(close(x, y, 1e-12), "{what}: hyper-dual {x} vs {y}");
            }
            let (a, b) = (jit.directional(&theta, &u[2]).unwrap(), rt.directional(&theta, &u[2]).unwrap());
            assert!(close(a.d1, b.d1, 1e-12) && close(a.d2, b.d2, 1e-12), "{what}: jet");
            for k in [4, 8] {
                let a = Objective::project(&jit, &theta, &u[..k]).unwrap();
                let pa = a.passes;
                let b = rt.project(&theta, &u[..k]).unwrap();
                assert_eq!(pa, 1, "one compiled pass");
                assert!(close_proj(&a, &b, 1e-12), "{what}: K = {k}");
            }
            // the bound interpreter agrees with the compiled code on these inputs
            let seeded: Vec<HyperDual<f64>> =
                (0..n).map(|i| HyperDual::seed(theta[i], u[0][i], u[1][i])).collect();
            let r = jit.interpret(&seeded).unwrap();
            let hd = jit.hyper_dual(&theta, &u[0], &u[1]).unwrap();
            assert!(close(r.e12, hd.e12, 1e-12) && close(r.e1, hd.e1, 1e-12), "{what}: interpreter");
        }
    }
}

#[test]
fn baked_and_bound_models_agree() {
    let (x, y) = common::digits(40);
    let baked = models::mlp(x.clone(), &y, 64, 6, 10).unwrap();
    let bound = models::mlp_minibatch(40, &[64, 6, 10], UnaryOp::Tanh).unwrap();
    let oh = one_hot(&y, 10);
    let b = bound.bind(&[&x, &oh]).unwrap();
    let theta: Vec<f64> = (0..baked.dim()).map(|k| 0.1 * ((k + 1) as f64).sin()).collect();
    let u = dirs(theta.len(), 4);
    assert!(close_proj(&baked.project(&theta, &u).unwrap(), &b.project(&theta, &u).unwrap(), 1e-13));
}

#[test]
fn input_errors_are_typed_and_checked_before_running() {
    use fomoh_runtime::Error;
    let p = models::logreg_minibatch(3, 4, 2).unwrap();
    let (x, y) = (vec![0.5; 12], one_hot(&[0, 1, 1], 2));
    let theta = vec![0.1; 10];
    // wrong count, wrong lengths: typed errors at bind time
    assert!(matches!(p.bind(&[&x]), Err(Error::Length { expected: 2, found: 1, .. })));
    assert!(matches!(p.bind(&[&x, &y, &y]), Err(Error::Length { .. })));
    assert!(matches!(p.bind(&[&x[..11], &y]), Err(Error::Length { expected: 12, found: 11, .. })));
    assert!(matches!(p.bind(&[&x, &y[..5]]), Err(Error::Length { expected: 6, found: 5, .. })));
    // a program with inputs cannot run unbound, in any mode
    assert!(matches!(p.value(&theta), Err(Error::Length { .. })));
    assert!(p.hyper_dual(&theta, &theta, &theta).is_err());
    assert!(p.project(&theta, std::slice::from_ref(&theta)).is_err());
    assert!(p.interpret(&theta).is_err());
    // the parameter lengths are still checked once bound
    let b = p.bind(&[&x, &y]).unwrap();
    assert!(matches!(b.value(&theta[..9]), Err(Error::Length { .. })));
    assert!(b.value(&theta).unwrap().is_finite());
    // builder: a slot redeclared with another shape, a gap in the slots
    let mut tb = TensorBuilder::new(2);
    let a = tb.input(0, &[2]).unwrap();
    assert_eq!(tb.input(0, &[2]).unwrap(), a, "same slot and shape: same tensor");
    assert!(matches!(tb.input(0, &[3]), Err(JitError::Shape(_))));
    let c = tb.input(2, &[2]).unwrap();
    let t = tb.param(0, &[2]).unwrap();
    let s = tb.mul(a, c).unwrap();
    let s = tb.mul(s, t).unwrap();
    let s = tb.sum(s);
    assert!(matches!(tb.finish(s), Err(JitError::Shape(m)) if m.contains("slot 1")));
}

/// Calls reuse their scratch buffers: alternating bound batches and modes gives, bit for bit,
/// what a fresh program computes.
#[test]
fn repeated_calls_on_other_batches_are_exact() {
    let (x, y) = common::digits(60);
    let (x1, x2) = (&x[..30 * 64], &x[30 * 64..]);
    let (y1, y2) = (one_hot(&y[..30], 10), one_hot(&y[30..], 10));
    let p = models::mlp_minibatch(30, &[64, 5, 10], UnaryOp::Tanh).unwrap();
    let theta: Vec<f64> = (0..p.dim()).map(|k| 0.3 * ((k + 1) as f64).cos()).collect();
    let u = dirs(theta.len(), 3);
    let (a, b) = (p.bind(&[x1, &y1]).unwrap(), p.bind(&[x2, &y2]).unwrap());
    let first = (a.project(&theta, &u).unwrap(), a.hyper_dual(&theta, &u[0], &u[1]).unwrap());
    for _ in 0..3 {
        let other = b.project(&theta, &u).unwrap();
        assert_ne!(other.value, first.0.value);
        b.hyper_dual(&theta, &u[1], &u[2]).unwrap();
        assert_eq!(a.project(&theta, &u).unwrap(), first.0);
        assert_eq!(a.hyper_dual(&theta, &u[0], &u[1]).unwrap(), first.1);
    }
    let fresh = models::mlp_minibatch(30, &[64, 5, 10], UnaryOp::Tanh).unwrap();
    let f = fresh.bind(&[x2, &y2]).unwrap();
    assert_eq!(f.project(&theta, &u).unwrap(), b.project(&theta, &u).unwrap());
}

/// Matmuls with every combination of active and passive operands (the lanes of one operand
/// paired with several lanes of the other are multiplied in one stacked product), against the
/// interpreter over the runtime's number types in every mode.
#[test]
fn matmul_operand_combinations_agree() {
    let (m, k, n) = (5, 4, 3);
    let mut b = TensorBuilder::new(m * k + k * n);
    let a = b.param(0, &[m, k]).unwrap();
    let w = b.param(m * k, &[k, n]).unwrap();
    let x = b.input(0, &[m, k]).unwrap();
    let y = b.data((0..k * n).map(|i| (i as f64 * 0.7).cos()).collect(), &[k, n]).unwrap();
    let aw = b.matmul(a, w).unwrap(); // active x active
    let xw = b.matmul(x, w).unwrap(); // passive x active
    let ay = b.matmul(a, y).unwrap(); // active x passive
    let t = b.unary(UnaryOp::Tanh, aw).unwrap();
    let s = b.add(t, xw).unwrap();
    let s = b.mul(s, ay).unwrap();
    let ones = b.data(vec![1.0; n], &[n, 1]).unwrap();
    let z = b.matmul(s, ones).unwrap(); // [m, n] x [n, 1], active x passive
    let f = b.sum(z);
    let p = b.finish(f).unwrap();
    let xs: Vec<f64> = (0..m * k).map(|i| (i as f64 * 0.31).sin()).collect();
    let theta: Vec<f64> = (0..p.dim()).map(|i| 0.4 * ((i + 3) as f64).sin()).collect();
    let bound = p.bind(&[&xs]).unwrap();
    let u = dirs(theta.len(), 4);
    for kk in [1, 3, 4] {
        let pr = bound.project(&theta, &u[..kk]).unwrap();
        let seeded: Vec<HyperK<f64, 4>> = (0..theta.len())
            .map(|i| HyperK::seed(theta[i], core::array::from_fn(|j| if j < kk { u[j][i] } else { 0.0 })))
            .collect();
        let r = bound.interpret(&seeded).unwrap();
        let full = r.hess_full();
        assert!(close(pr.value, r.re, 1e-12));
        for i in 0..kk {
            assert!(close(pr.grad[i], r.grad[i], 1e-12), "K = {kk}, grad {i}");
            for j in 0..kk {
                assert!(close(pr.hess[i][j], full[i][j], 1e-12), "K = {kk}, hess {i} {j}");
            }
        }
    }
    let hd = bound.hyper_dual(&theta, &u[0], &u[1]).unwrap();
    let seeded: Vec<HyperDual<f64>> =
        (0..theta.len()).map(|i| HyperDual::seed(theta[i], u[0][i], u[1][i])).collect();
    let r = bound.interpret(&seeded).unwrap();
    for (a, b) in [(hd.re, r.re), (hd.e1, r.e1), (hd.e2, r.e2), (hd.e12, r.e12)] {
        assert!(close(a, b, 1e-12), "hyper-dual {a} vs {b}");
    }
}

// ---- loop-body strategies: direct staging vs preaccumulation, every mode ----

/// Row reductions, broadcasts along both axes, a reduced buffer with second-order lanes
/// feeding a second loop, and ops without a vector instruction (`sin`, `exp`, `max`).
fn broadcast_rows(rows: usize, cols: usize) -> (fomoh_jit::TensorProgram, Vec<f64>) {
    let n = rows * cols + cols + rows;
    let mut b = TensorBuilder::new(n);
    let xm = b.param(0, &[rows, cols]).unwrap();
    let y = b.param(rows * cols, &[cols]).unwrap();
    let z = b.param(rows * cols + cols, &[rows, 1]).unwrap();
    let xy = b.mul(xm, y).unwrap();
    let s = b.unary(UnaryOp::Sin, xy).unwrap();
    let zz = b.mul(z, z).unwrap();
    let e = b.unary(UnaryOp::Exp, xm).unwrap();
    let one = b.constant(1.0);
    let d = b.add(one, e).unwrap();
    let q = b.div(zz, d).unwrap();
    let t = b.add(s, q).unwrap();
    let c = b.constant(0.1);
    let t = b.binary(BinaryOp::Max, t, c).unwrap();
    let r = b.sum_rows(t).unwrap();
    let r2 = b.mul(r, r).unwrap();
    let f = b.sum(r2);
    let p = b.finish(f).unwrap();
    let theta: Vec<f64> = (0..n).map(|i| 0.9 * ((i as f64) * 0.7 + 0.3).sin()).collect();
    (p, theta)
}

#[test]
fn loop_strategies_agree_with_the_interpreter_in_every_mode() {
    use fomoh_jit::tensor::LoopStrategy;
    type Case = (&'static str, Box<dyn Fn() -> (fomoh_jit::TensorProgram, Vec<f64>)>);
    let cases: Vec<Case> = vec![
        // odd and even column counts: f64x2 pairs with and without a scalar remainder
        (
            "rosenbrock 8",
            Box::new(|| (models::rosenbrock(8).unwrap(), (0..8).map(|i| 0.3 * (i as f64).cos()).collect())),
        ),
        (
            "rosenbrock 9",
            Box::new(|| (models::rosenbrock(9).unwrap(), (0..9).map(|i| 0.3 * (i as f64).cos()).collect())),
        ),
        ("broadcast rows 3x5", Box::new(|| broadcast_rows(3, 5))),
        ("broadcast rows 2x4", Box::new(|| broadcast_rows(2, 4))),
        ("mlp 3-4-3-3", Box::new(|| mlp_like(3, 4, 3, 3, 7))),
    ];
    for (name, make) in &cases {
        for s in [LoopStrategy::Direct, LoopStrategy::Preaccumulate, LoopStrategy::Auto] {
            let (p, x) = make();
            let p = p.with_loop_strategy(s);
            let pre = p.prepare(fomoh_jit::Mode::HyperK(3)).unwrap().preaccumulated_loops;
            match s {
                LoopStrategy::Direct => assert_eq!(pre, 0, "{name}: direct"),
                LoopStrategy::Preaccumulate => assert!(pre > 0, "{name}: preaccumulated"),
                LoopStrategy::Auto => {}
            }
            assert_eq!(p.prepare(fomoh_jit::Mode::Primal).unwrap().preaccumulated_loops, 0);
            check_modes(&p, &x, 1e-12, 16);
            let v = p.value(&x).unwrap();
            let iv = p.interpret(&x).unwrap();
            assert!(close(v, iv, 1e-12), "{name}: primal {v} vs {iv}");
        }
    }
}

/// The code cache tells strategies apart: programs of one graph with different loop
/// strategies, alive at the same time, each run their own plan (the cache once returned the
/// first one compiled for both).
#[test]
fn the_code_cache_keys_plans_by_loop_strategy() {
    use fomoh_jit::tensor::LoopStrategy;
    let mode = fomoh_jit::Mode::HyperK(4);
    let direct = models::rosenbrock(50).unwrap().with_loop_strategy(LoopStrategy::Direct);
    let pre = models::rosenbrock(50).unwrap().with_loop_strategy(LoopStrategy::Preaccumulate);
    let (d, p) = (direct.prepare(mode).unwrap(), pre.prepare(mode).unwrap());
    assert_eq!((d.preaccumulated_loops, p.preaccumulated_loops), (0, 1));
    assert_ne!(d.staged_nodes, p.staged_nodes);
    let again = models::rosenbrock(50).unwrap().with_loop_strategy(LoopStrategy::Direct);
    assert_eq!(again.prepare(mode).unwrap().preaccumulated_loops, 0, "a hit of the direct plan");
}

// ---- fused loops split over the rayon pool ----

/// `sin(x)·x` stored once (two users, so not inlined: a loop without reduction over one long
/// row, split into column ranges), then two summing loops over it.
fn stored_row(n: usize) -> (fomoh_jit::TensorProgram, Vec<f64>) {
    let mut b = TensorBuilder::new(n);
    let x = b.param(0, &[n]).unwrap();
    let s = b.unary(UnaryOp::Sin, x).unwrap();
    let y = b.mul(s, x).unwrap();
    let yy = b.mul(y, y).unwrap();
    let a = b.sum(yy);
    let c = b.sum(y);
    let f = b.add(a, c).unwrap();
    let theta: Vec<f64> = (0..n).map(|i| 1.3 * ((i as f64) * 0.37 + 0.1).cos()).collect();
    (b.finish(f).unwrap(), theta)
}

#[test]
fn loops_split_over_threads_agree_with_the_interpreter() {
    // Large enough to be split (see `PAR_MIN_LOOP_WORK`): column ranges of one row with an
    // odd remainder (Rosenbrock, summing: partial sums added in chunk order), row ranges of
    // a row reduction (`broadcast_rows`), and a stored loop over column ranges. The sums
    // run over up to 2·10^5 terms in another order than the interpreter's, hence 1e-11.
    type Case = (&'static str, Box<dyn Fn() -> (fomoh_jit::TensorProgram, Vec<f64>)>);
    let cases: Vec<Case> = vec![
        (
            "rosenbrock 200001",
            Box::new(|| {
                (models::rosenbrock(200_001).unwrap(), (0..200_001).map(|i| 0.3 * (i as f64).cos()).collect())
            }),
        ),
        ("broadcast rows 301x300", Box::new(|| broadcast_rows(301, 300))),
        ("stored row 100001", Box::new(|| stored_row(100_001))),
    ];
    for (name, make) in &cases {
        let (p, x) = make();
        for mode in [fomoh_jit::Mode::Primal, fomoh_jit::Mode::HyperDual, fomoh_jit::Mode::HyperK(4)] {
            let st = p.prepare(mode).unwrap();
            assert!(st.parallel_loops > 0, "{name}: {mode:?} has no split loop: {st:?}");
        }
        check_modes(&p, &x, 1e-11, 4);
        // Split loops are deterministic: the same chunks, the same order of partial sums.
        let u = dirs(x.len(), 2);
        let a = p.hyper_dual(&x, &u[0], &u[1]).unwrap();
        let b = p.hyper_dual(&x, &u[0], &u[1]).unwrap();
        assert_eq!(
            [a.re, a.e1, a.e2, a.e12].map(f64::to_bits),
            [b.re, b.e1, b.e2, b.e12].map(f64::to_bits),
            "{name}"
        );
    }
    // Small loops stay on the calling thread.
    let (p, _) = stored_row(1000);
    assert_eq!(p.prepare(fomoh_jit::Mode::HyperK(4)).unwrap().parallel_loops, 0);
}

/// A batch large enough that the matmul steps split over the rayon pool: the first layer's
/// product (256·16·288 multiply-adds at K = 8) row by row, the second layer's 36 direct
/// Hessian-lane products (2.9M multiply-adds in all) side by side, and the scratch lanes'
/// additions; every mode against the interpreter.
#[test]
fn large_matmul_steps_split_over_threads_agree_with_the_interpreter() {
    let (p, theta) = mlp_like(256, 16, 32, 10, 3);
    check_modes(&p, &theta, 1e-12, 8);
}

/// A minibatch mean split into shards of the batch (one program compiled for the shard size,
/// bound to each shard, the shards weighted by their share of the rows in a
/// `fomoh_runtime::WeightedSum`) is the whole batch's mean in every mode.
#[test]
fn batch_shards_in_a_weighted_sum_equal_the_whole_batch() {
    use fomoh_runtime::data::Dataset;
    use fomoh_runtime::tensor::Planes;
    use fomoh_runtime::Objective;
    let digits = Dataset::digits().unwrap();
    let (bsz, sizes) = (30, [64, 9, 10]);
    let whole = models::mlp_minibatch(bsz, &sizes, UnaryOp::Tanh).unwrap();
    let half = models::mlp_minibatch(bsz / 2, &sizes, UnaryOp::Tanh).unwrap();
    let batch = digits.batch(&(200..200 + bsz).collect::<Vec<_>>()).unwrap();
    let (x, y) = (batch.x.re(), one_hot(&batch.labels, 10));
    let full = whole.bind(&[x, &y]).unwrap();
    let shards = models::bind_shards(&[&half, &half], x, &y).unwrap();
    assert_eq!(shards.parts().iter().map(|p| p.1).collect::<Vec<_>>(), [0.5, 0.5]);
    // shards that do not cover the rows evenly are a typed error
    assert!(models::bind_shards(&[&half, &half], &x[..x.len() - 64], &y).is_err());
    let theta: Vec<f64> = (0..whole.dim()).map(|i| 0.3 * ((i as f64) * 0.37).sin()).collect();
    let u = dirs(theta.len(), 8);
    assert!(close(shards.value(&theta).unwrap(), full.value(&theta).unwrap(), 1e-12));
    let (a, b) =
        (shards.hyper_dual(&theta, &u[0], &u[1]).unwrap(), full.hyper_dual(&theta, &u[0], &u[1]).unwrap());
    for (p, q) in [(a.re, b.re), (a.e1, b.e1), (a.e2, b.e2), (a.e12, b.e12)] {
        assert!(close(p, q, 1e-12), "hyper-dual {p} vs {q}");
    }
    let (a, b) = (shards.directional(&theta, &u[2]).unwrap(), full.directional(&theta, &u[2]).unwrap());
    assert!(close(a.d1, b.d1, 1e-12) && close(a.d2, b.d2, 1e-12), "jet");
    let (a, b) = (shards.project(&theta, &u).unwrap(), full.project(&theta, &u).unwrap());
    let (pa, pb) = (a.passes, b.passes);
    assert_eq!((pa, pb), (1, 1));
    assert!(close(a.value, b.value, 1e-12));
    for i in 0..8 {
        assert!(close(a.grad[i], b.grad[i], 1e-12), "grad {i}");
        for j in 0..8 {
            assert!(close(a.hess[i][j], b.hess[i][j], 1e-12), "hess {i} {j}");
        }
    }
}
