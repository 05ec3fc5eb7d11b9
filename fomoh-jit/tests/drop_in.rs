//! The scalar JIT as a drop-in accelerator: `compile` traces again for the branches its
//! calls take, `compile_with_inputs` binds data at call time, and both agree with the
//! runtime's generic path on a corpus of data-driven losses (independent reference: the
//! runtime's own number types, the data as constants).

mod common;

use common::losses::{self, lift, CORPUS};
use fomoh_jit::{compile, compile_at, compile_with, compile_with_inputs, compile_with_inputs_opts, Options};
use fomoh_runtime::{Error, HyperDual, HyperK, Objective, Scalar};

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1.0)
}

fn dirs(k: usize, n: usize) -> Vec<Vec<f64>> {
    (0..k).map(|j| (0..n).map(|i| ((1 + i + 3 * j) as f64 * 0.77).sin()).collect()).collect()
}

fn branchy<S: Scalar>(x: &[S]) -> S {
    if x[0] > x[1] {
        x[0] * x[0] * x[1]
    } else {
        (x[1] - x[0]).sin() + x[1]
    }
}

#[test]
fn a_branch_around_the_function_is_a_select_and_agrees_with_the_runtime() {
    let p = compile(2, branchy).unwrap();
    let (v1, v2) = ([1.0, 0.3], [-0.2, 1.0]);
    for x in &[[2.0, 1.0], [0.5, 1.5], [3.0, -1.0], [-1.0, 0.0]] {
        let hd = p.hyper_dual(x, &v1, &v2).unwrap();
        let rt = fomoh_runtime::hyper_dual(branchy, x, &v1, &v2).unwrap();
        for (a, b) in [(hd.re, rt.re), (hd.e1, rt.e1), (hd.e2, rt.e2), (hd.e12, rt.e12)] {
            assert!(close(a, b, 1e-12), "x = {x:?}: {a} vs {b}");
        }
        // one select serves both sides
        assert_eq!(p.variants(), 1, "after x = {x:?}");
    }
    // K directions through the same variants
    let d = dirs(3, 2);
    let pr = p.project(&[0.5, 1.5], &d).unwrap();
    let rt = fomoh_runtime::hyperplane(
        |t: &[HyperK<f64, 3>]| branchy(t),
        &[0.5, 1.5],
        &[d[0].clone(), d[1].clone(), d[2].clone()],
    )
    .unwrap();
    assert!(close(pr.value, rt.value, 1e-12) && (0..3).all(|i| close(pr.grad[i], rt.grad[i], 1e-12)));
    assert!((0..3).all(|i| (0..3).all(|j| close(pr.hess[i][j], rt.hess[i][j], 1e-12))));
    assert_eq!(p.variants(), 1);
}

#[test]
fn strict_mode_gives_a_typed_guard_error() {
    let at = compile_at(&[2.0, 1.0], branchy).unwrap();
    assert_eq!(at.value(&[2.0, 1.0]).unwrap(), 4.0);
    let e = at.value(&[0.0, 1.0]).unwrap_err();
    assert!(matches!(&e, Error::GuardFailed(m) if m.contains("guard")), "{e}");
    let strict =
        compile_with(2, branchy, &Options { retrace: false, select_branches: false, ..Default::default() })
            .unwrap();
    // traced at NaN: `x0 > x1` was false, so x0 > x1 is outside the trace
    assert!(strict.value(&[0.0, 1.0]).is_ok());
    assert!(matches!(strict.value(&[2.0, 1.0]), Err(Error::GuardFailed(_))));
    assert_eq!(strict.variants(), 1);
}

/// `Σ_i |x_i|` written with a branch per entry: one select per entry, one program.
fn signs<S: Scalar>(x: &[S]) -> S {
    x.iter().map(|&v| if v > S::zero() { v } else { -v }).sum()
}

/// A chain of branches per entry (`if / else if`): not paired, so a new pattern of regions
/// is a new variant.
fn regions<S: Scalar>(x: &[S]) -> S {
    x.iter()
        .map(|&v| {
            if v > S::one() {
                v
            } else if v > S::zero() {
                v * v
            } else {
                -v
            }
        })
        .sum()
}

#[test]
fn a_function_branching_differently_on_every_call_hits_the_variant_limit() {
    let one = compile_with(6, signs, &Options { max_variants: 4, ..Default::default() }).unwrap();
    let p = compile_with(6, regions, &Options { max_variants: 4, ..Default::default() }).unwrap();
    let mut seen = 0;
    let mut err = None;
    for pattern in 0..16u32 {
        let x: Vec<f64> =
            (0..6).map(|i| if pattern >> i & 1 == 1 { 1.0 + i as f64 } else { -1.0 - i as f64 }).collect();
        assert_eq!(one.value(&x).unwrap(), x.iter().map(|v| v.abs()).sum::<f64>());
        match p.value(&x) {
            Ok(v) => {
                assert_eq!(v, x.iter().map(|v| v.abs()).sum::<f64>());
                seen += 1;
            }
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    assert_eq!(one.variants(), 1, "the sign branch is a select");
    // the NaN trace (every entry "not positive") serves pattern 0; three more, then the limit
    assert_eq!(seen, 4);
    let e = err.expect("the limit is reached");
    assert!(matches!(&e, Error::GuardFailed(m) if m.contains("limit of 4")), "{e}");
    assert_eq!(p.variants(), 4);
}

#[test]
fn every_corpus_loss_bound_to_two_data_sets_agrees_with_the_runtime() {
    for loss in &CORPUS {
        let n = 200;
        let name = loss.name;
        let p = compile_with_inputs(loss.dim, &[n, n * loss.y_per_point], move |t, d| {
            losses::eval(name, t, d[0], d[1])
        })
        .unwrap();
        let t = losses::theta0(loss.dim);
        let d = dirs(4, loss.dim);
        for seed in [1, 2] {
            let (xs, ys) = losses::data(name, n, seed);
            let b = p.bind(&[&xs, &ys]).unwrap();
            let v = b.value(&t).unwrap();
            assert!(close(v, losses::eval(name, &t, &xs, &ys), 1e-12), "{name} value");
            let hd = b.hyper_dual(&t, &d[0], &d[1]).unwrap();
            let (hx, hy) = (lift::<HyperDual<f64>>(&xs), lift::<HyperDual<f64>>(&ys));
            let rt =
                fomoh_runtime::hyper_dual(|w| losses::eval(name, w, &hx, &hy), &t, &d[0], &d[1]).unwrap();
            for (a, r) in [(hd.re, rt.re), (hd.e1, rt.e1), (hd.e2, rt.e2), (hd.e12, rt.e12)] {
                assert!(close(a, r, 1e-10), "{name} seed {seed}: hyper-dual {a} vs {r}");
            }
            let pr = b.project(&t, &d).unwrap();
            let (kx, ky) = (lift::<HyperK<f64, 4>>(&xs), lift::<HyperK<f64, 4>>(&ys));
            let dd = [d[0].clone(), d[1].clone(), d[2].clone(), d[3].clone()];
            let rk = fomoh_runtime::hyperplane(|w| losses::eval(name, w, &kx, &ky), &t, &dd).unwrap();
            assert!(
                (0..4).all(|i| close(pr.grad[i], rk.grad[i], 1e-10)),
                "{name}: {:?} vs {:?}",
                pr.grad,
                rk.grad
            );
            assert!(
                (0..4).all(|i| (0..4).all(|j| close(pr.hess[i][j], rk.hess[i][j], 1e-10))),
                "{name} hessian"
            );
        }
    }
}

#[test]
fn branch_free_data_sums_are_rerolled_and_agree_with_the_straight_line_code() {
    for name in ["logistic", "poisson", "lasso", "softmax"] {
        let loss = CORPUS.iter().find(|l| l.name == name).unwrap();
        let n = 1000;
        let lens = [n, n * loss.y_per_point];
        let f = move |t: &[fomoh_jit::Tracer], d: &[&[fomoh_jit::Tracer]]| losses::eval(name, t, d[0], d[1]);
        let p = compile_with_inputs(loss.dim, &lens, f).unwrap();
        let straight = Options { reroll: false, ..Default::default() };
        let s = compile_with_inputs_opts(loss.dim, &lens, f, &straight).unwrap();
        assert!(p.is_rerolled(), "{name} should run as a loop");
        assert!(!s.is_rerolled());
        let (xs, ys) = losses::data(name, n, 7);
        let (bp, bs) = (p.bind(&[&xs, &ys]).unwrap(), s.bind(&[&xs, &ys]).unwrap());
        let t = losses::theta0(loss.dim);
        let d = dirs(4, loss.dim);
        let (a, b) = (bp.project(&t, &d).unwrap(), bs.project(&t, &d).unwrap());
        assert!(close(a.value, b.value, 1e-11), "{name}: {} vs {}", a.value, b.value);
        assert!((0..4).all(|i| close(a.grad[i], b.grad[i], 1e-10)), "{name}");
        assert!((0..4).all(|i| (0..4).all(|j| close(a.hess[i][j], b.hess[i][j], 1e-10))), "{name}");
        // other data of the same lengths: the same compiled program
        let (xs2, ys2) = losses::data(name, n, 8);
        let v = p.bind(&[&xs2, &ys2]).unwrap().value(&t).unwrap();
        assert!(close(v, losses::eval(name, &t, &xs2, &ys2), 1e-11), "{name} rebound");
        assert_eq!(p.variants(), 1);
    }
}

#[test]
fn bad_bindings_are_typed_errors_before_any_code_runs() {
    let p = compile_with_inputs(2, &[3, 3], |t, d| losses::logistic(t, d[0], d[1])).unwrap();
    let x = [0.1, 0.2];
    let e = p.bind(&[&[1.0, 2.0, 3.0]]).unwrap_err();
    assert!(matches!(&e, Error::Length { expected: 2, found: 1, .. }), "{e}");
    let e = p.bind(&[&[1.0, 2.0, 3.0], &[1.0, -1.0]]).unwrap_err();
    assert!(
        matches!(&e, Error::Length { what, expected: 3, found: 2 } if what.contains("data input 1")),
        "{e}"
    );
    let e = p.value(&x).unwrap_err(); // data not bound
    assert!(matches!(&e, Error::Length { what, .. } if what.contains("bind")), "{e}");
    let b = p.bind(&[&[1.0, 2.0, 3.0], &[1.0, -1.0, 1.0]]).unwrap();
    assert!(matches!(b.value(&[0.1]), Err(Error::Length { .. })));
    assert!(matches!(b.hyper_dual(&x, &[1.0], &x), Err(Error::Length { .. })));
    // NaN data: NaN results, no panic
    let nan = p.bind(&[&[1.0, f64::NAN, 3.0], &[1.0, -1.0, 1.0]]).unwrap();
    assert!(nan.value(&x).unwrap().is_nan());
    assert!(nan.hyper_dual(&x, &[1.0, 0.0], &[0.0, 1.0]).unwrap().e12.is_nan());
    // a bound program is an Objective for the optimizers
    assert_eq!(Objective::dim(&b), 2);
    assert!(Objective::value(&b, &x).unwrap().is_finite());
}

#[test]
fn a_branch_in_every_term_becomes_a_select_one_program_for_every_data_set() {
    let n = 1000;
    let p = compile_with_inputs(3, &[n, n], |t, d| losses::gaussian_huber(t, d[0], d[1])).unwrap();
    assert!(p.guards().is_empty(), "the Huber branch is a select, not a guard");
    assert!(p.is_rerolled(), "one loop over the data");
    let t = losses::theta0(3);
    let d = dirs(2, 3);
    for seed in 1..4 {
        let (xs, ys) = losses::data("gaussian-huber", n, seed);
        let b = p.bind(&[&xs, &ys]).unwrap();
        for theta in [t.clone(), vec![0.5, 1.5, -1.0], vec![-3.0, 0.0, 2.0]] {
            let hd = b.hyper_dual(&theta, &d[0], &d[1]).unwrap();
            let (hx, hy) = (lift::<HyperDual<f64>>(&xs), lift::<HyperDual<f64>>(&ys));
            let rt = fomoh_runtime::hyper_dual(|w| losses::gaussian_huber(w, &hx, &hy), &theta, &d[0], &d[1])
                .unwrap();
            for (a, r) in [(hd.re, rt.re), (hd.e1, rt.e1), (hd.e2, rt.e2), (hd.e12, rt.e12)] {
                assert!(close(a, r, 1e-10), "seed {seed}, θ = {theta:?}: {a} vs {r}");
            }
        }
    }
    assert_eq!(p.variants(), 1, "no retrace: the select covers every residual");
    // a term that is one branch around the function: one select too
    let q = compile(2, branchy).unwrap();
    assert!(q.guards().is_empty());
}

/// Nested branches (a chain of `if`/`else if`) are not paired: guarded and traced again.
fn steps<S: Scalar>(x: &[S]) -> S {
    if x[0] > S::one() {
        x[0] * x[1]
    } else if x[0] > S::zero() {
        x[0] * x[0] + x[1]
    } else {
        -x[0] * x[1]
    }
}

#[test]
fn nested_branches_are_guarded_and_traced_again() {
    let p = compile(2, steps).unwrap();
    for x in [[2.0, 3.0], [0.5, 1.0], [-1.0, 2.0], [3.0, 1.0]] {
        let hd = p.hyper_dual(&x, &[1.0, 0.5], &[0.0, 1.0]).unwrap();
        let rt = fomoh_runtime::hyper_dual(steps, &x, &[1.0, 0.5], &[0.0, 1.0]).unwrap();
        assert!(close(hd.re, rt.re, 1e-14) && close(hd.e12, rt.e12, 1e-14), "x = {x:?}");
    }
    assert_eq!(p.variants(), 3);
}

#[test]
fn an_f32_program_with_inputs_runs_in_f32() {
    let n = 300;
    let p = compile_with_inputs(2, &[n, n], |t, d| losses::poisson(t, d[0], d[1])).unwrap();
    let (xs, ys) = losses::data("poisson", n, 3);
    let (x32, y32): (Vec<f32>, Vec<f32>) =
        (xs.iter().map(|&v| v as f32).collect(), ys.iter().map(|&v| v as f32).collect());
    let q = p.with_float::<f32>();
    let b = q.bind(&[&x32, &y32]).unwrap();
    let t = [0.2f32, 0.4];
    let v = b.value(&t).unwrap();
    let reference = losses::poisson(&t, &x32, &y32); // the runtime's f32
    assert!((v - reference).abs() <= 1e-4 * reference.abs(), "{v} vs {reference}");
    let hd = b.hyper_dual(&t, &[1.0, 0.0], &[0.0, 1.0]).unwrap();
    let exact = fomoh_runtime::hyper_dual(
        |w| losses::poisson(w, &lift::<HyperDual<f64>>(&xs), &lift::<HyperDual<f64>>(&ys)),
        &[0.2, 0.4],
        &[1.0, 0.0],
        &[0.0, 1.0],
    )
    .unwrap();
    assert!((hd.e12 as f64 - exact.e12).abs() <= 1e-3 * exact.e12.abs(), "{} vs {}", hd.e12, exact.e12);
}

/// `Π (1 + x_i²)`: a long product, no sum to reroll.
fn product<S: Scalar>(x: &[S]) -> S {
    x.iter().fold(S::one(), |p, &v| p * (S::one() + v * v))
}

#[test]
fn compile_stats_say_why_a_program_was_not_rerolled() {
    use fomoh_jit::Mode;
    fn rosen<S: Scalar>(x: &[S]) -> S {
        (0..x.len() - 1).map(|i| (x[i + 1] - x[i] * x[i]).powi(2) + (S::one() - x[i]).powi(2)).sum()
    }
    let s = compile(100, rosen).unwrap().prepare(Mode::HyperDual).unwrap();
    assert!(s.rerolled && s.not_rerolled.is_none());
    let off = compile_with(100, rosen, &Options { reroll: false, ..Default::default() }).unwrap();
    let why = off.prepare(Mode::HyperDual).unwrap().not_rerolled.expect("a reason");
    assert!(why.contains("off"), "{why}");
    let small = compile(3, rosen).unwrap().prepare(Mode::Primal).unwrap().not_rerolled.expect("a reason");
    assert!(small.contains("smaller"), "{small}");
    let prod = compile(200, product).unwrap();
    let why = prod.prepare(Mode::Primal).unwrap().not_rerolled.expect("a reason");
    assert!(why.contains("no sum"), "{why}");
    let x: Vec<f64> = (0..200).map(|i| 0.01 * i as f64).collect();
    let expected: f64 = x.iter().map(|v| 1.0 + v * v).product();
    assert!(close(prod.value(&x).unwrap(), expected, 1e-12));
}

/// No size cliff: the generic Rosenbrock at n = 10⁶ compiles (instantiated from small traces)
/// and runs as one loop. Heavy (the runtime reference at 10⁶): `cargo test -p fomoh-jit --test
/// drop_in -- --ignored`.
#[test]
#[ignore]
fn generic_rosenbrock_at_a_million_inputs_compiles_to_a_loop() {
    fn rosen<S: Scalar>(x: &[S]) -> S {
        let (one, hundred) = (S::one(), S::from_f64(100.0));
        (0..x.len() - 1).map(|i| hundred * (x[i + 1] - x[i] * x[i]).powi(2) + (one - x[i]).powi(2)).sum()
    }
    let n = 1_000_000;
    let p = compile(n, rosen).unwrap();
    assert!(p.is_rerolled());
    let stats = p.prepare(fomoh_jit::Mode::HyperDual).unwrap();
    assert!(stats.instantiated, "{:?}", stats.not_instantiated);
    let x: Vec<f64> = (0..n).map(|i| if i % 2 == 0 { -1.2 } else { 1.0 }).collect();
    let v: Vec<f64> = (0..n).map(|i| ((i + 1) as f64).sin()).collect();
    let hd = p.hyper_dual(&x, &v, &v).unwrap();
    let j = fomoh_runtime::directional(rosen, &x, &v).unwrap();
    assert!(close(hd.re, rosen(&x[..]), 1e-10) && close(hd.e1, j.d1, 1e-10) && close(hd.e12, j.d2, 1e-10));
}

/// A random sum whose terms branch: term `i` is `if u_i > c { A(u_i, v) } else { B(u_i, v) }`
/// (`u_i = x[i]`, `v = x[0]`), with the branch bodies computed before or after the comparison,
/// terms added or subtracted, and optionally one more branch outside the sum.
#[derive(Clone, Debug)]
struct BranchSum {
    n: usize,
    a: u8,
    b: u8,
    c: f64,
    bodies_first: bool,
    signs: u8,
    outer: bool,
}

fn body<S: Scalar>(k: u8, u: S, v: S) -> S {
    match k % 6 {
        0 => u * u,
        1 => u.sin() * v,
        2 => (u - v).abs() + u,
        3 => u.exp() * S::from_f64(0.1),
        4 => -u,
        _ => u * v + S::from_f64(2.0),
    }
}

impl BranchSum {
    fn eval<S: Scalar>(&self, x: &[S]) -> S {
        let c = S::from_f64(self.c);
        let mut s = S::zero();
        for i in 0..self.n {
            let (u, v) = (x[i], x[0]);
            let t = if self.bodies_first {
                let (p, q) = (body(self.a, u, v), body(self.b, u, v));
                if u > c {
                    p
                } else {
                    q
                }
            } else if u > c {
                body(self.a, u, v)
            } else {
                body(self.b, u, v)
            };
            s = if self.signs % 3 == 1 && i % 2 == 1 { s - t } else { s + t };
        }
        if self.outer && x[0] < S::zero() {
            s * S::from_f64(2.0)
        } else {
            s
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 48, ..Default::default() })]
    #[test]
    fn random_branching_sums_agree_with_the_runtime_at_every_point(
        n in 8usize..40, a in 0u8..6, b in 0u8..6, c in -0.5f64..0.5, bodies_first: bool, signs in 0u8..3,
        outer: bool, seed in 0u64..1000,
    ) {
        let f = BranchSum { n, a, b, c, bodies_first, signs, outer };
        let g = f.clone();
        let p = compile(n, move |x| g.eval(x)).unwrap();
        for k in 0..4u64 {
            let x: Vec<f64> = (0..n).map(|i| (((i as u64 + 1) * (seed + 7 * k + 3)) as f64 * 0.618).sin()).collect();
            let (v1, v2) = (dirs(2, n)[0].clone(), dirs(2, n)[1].clone());
            let hd = p.hyper_dual(&x, &v1, &v2).unwrap();
            let rt = fomoh_runtime::hyper_dual(|t| f.eval(t), &x, &v1, &v2).unwrap();
            for (u, r) in [(hd.re, rt.re), (hd.e1, rt.e1), (hd.e2, rt.e2), (hd.e12, rt.e12)] {
                proptest::prop_assert!(close(u, r, 1e-10), "{f:?} at point {k}: {u} vs {r}");
            }
        }
        // one select per term unless a branch is outside the terms, the two sides are the
        // same expression, or both sides are sums of the same kind (walked into, so the traces
        // do not pair up term by term): then guarded and traced per pattern (checked above all
        // the same)
        let sum = |k: u8| matches!(k % 6, 2 | 5);
        if !outer && a % 6 != b % 6 && !(sum(a) && sum(b)) {
            proptest::prop_assert_eq!(p.variants(), 1, "{:?}", f);
            proptest::prop_assert!(p.guards().is_empty());
        }
    }
}

/// A Huber term whose linear side is itself a difference (`|r| - 1/2`): the traces part at the
/// branch, so the side stays one term and the sum is still one select per term.
fn huber_sides<S: Scalar>(t: &[S], xs: &[S], ys: &[S]) -> S {
    xs.iter()
        .zip(ys)
        .map(|(&x, &y)| {
            let r = y - t[0] - t[1] * x;
            if r.abs() > S::one() {
                r.abs() - S::from_f64(0.5)
            } else {
                S::from_f64(0.5) * r * r
            }
        })
        .sum()
}

#[test]
fn a_branch_side_that_is_a_sum_still_pairs() {
    let n = 300;
    let p = compile_with_inputs(2, &[n, n], |t, d| huber_sides(t, d[0], d[1])).unwrap();
    assert!(p.guards().is_empty() && p.is_rerolled());
    let (xs, ys) = losses::data("gaussian-huber", n, 5);
    let b = p.bind(&[&xs, &ys]).unwrap();
    for t in [[0.0, 0.0], [0.5, 1.5], [2.0, -1.0]] {
        let hd = b.hyper_dual(&t, &[1.0, 0.3], &[-0.4, 1.0]).unwrap();
        let (hx, hy) = (lift::<HyperDual<f64>>(&xs), lift::<HyperDual<f64>>(&ys));
        let rt =
            fomoh_runtime::hyper_dual(|w| huber_sides(w, &hx, &hy), &t, &[1.0, 0.3], &[-0.4, 1.0]).unwrap();
        for (a, r) in [(hd.re, rt.re), (hd.e1, rt.e1), (hd.e2, rt.e2), (hd.e12, rt.e12)] {
            assert!(close(a, r, 1e-10), "θ = {t:?}: {a} vs {r}");
        }
    }
    assert_eq!(p.variants(), 1);
}
