//! Rerolled programs (a traced sum of isomorphic terms run as a fused tensor loop) agree with
//! the straight-line programs of the same trace and with the runtime, in every mode; graphs
//! that must not be rerolled still give correct results.

mod common;
use common::*;
use fomoh_jit::{compile_at, compile_at_with, Mode, Options, Program};
use fomoh_runtime::{scalar_fn, Scalar, ScalarFn};
use proptest::prelude::*;

const TOL: f64 = 1e-12;

fn rosenbrock<S: Scalar>(x: &[S]) -> S {
    let (one, hundred) = (S::one(), S::from_f64(100.0));
    (0..x.len() - 1).map(|i| hundred * (x[i + 1] - x[i] * x[i]).powi(2) + (one - x[i]).powi(2)).sum()
}

/// Terms reading inputs with stride 2 (and one slot with stride 3 from the back).
fn strided<S: Scalar>(x: &[S]) -> S {
    let n = x.len();
    (0..n / 3)
        .map(|i| (x[2 * i] - x[2 * i + 1].powi(2)).powi(2) + x[2 * i + 1].sin() * x[n - 1 - 3 * i])
        .sum()
}

/// A sum inside other code, plus terms of other shapes that form no group.
fn with_remainder<S: Scalar>(x: &[S]) -> S {
    let n = x.len();
    let half = S::from_f64(0.5);
    let s: S = (0..n).map(|i| (x[i] - half).powi(2) * (x[i] * half).cosh()).sum::<S>()
        + x[0] * x[n - 1]
        + x[1].tanh()
        + x[2].exp() / (S::one() + x[3] * x[3]);
    (s * half).ln_1p() + x[0].atan()
}

/// A broadcast scalar shared by all terms: the mean (a large shared node, itself a sum).
fn variance<S: Scalar>(x: &[S]) -> S {
    let n = S::from_f64(x.len() as f64);
    let m = x.iter().copied().sum::<S>() / n;
    x.iter().map(|&v| (v - m).powi(2)).sum::<S>() / n
}

/// A sum written as a chain of subtractions (`acc = acc - term(i)`).
fn sub_chain<S: Scalar>(x: &[S]) -> S {
    (0..x.len() - 1).fold(x[0] * x[0], |acc, i| acc - (x[i + 1] * x[i]).sin())
}

/// Terms with alternating signs at the top level: `t0 - t1 + t2 - ...`.
fn alternating<S: Scalar>(x: &[S]) -> S {
    (0..x.len() - 1).fold(S::zero(), |acc, i| {
        let t = (x[i] - x[i + 1]).powi(2) * x[i].cos();
        if i % 2 == 0 {
            acc + t
        } else {
            acc - t
        }
    })
}

/// Negated terms and a subtracted sum: `1 - (Σ -expm1(x_i²) - x_0)`.
fn negated<S: Scalar>(x: &[S]) -> S {
    let s: S = x.iter().map(|&v| -(v * v * S::from_f64(0.3)).exp_m1()).sum();
    S::one() - (s - x[0])
}

/// Sums nested two deep through shared scalars: the mean, the variance around it, then a
/// weighted fourth moment scaled by the variance (not shift or scale invariant like the
/// kurtosis, whose derivatives cancel to below the 1e-12 agreement of a reassociated sum).
fn moments<S: Scalar>(x: &[S]) -> S {
    let n = S::from_f64(x.len() as f64);
    let m = x.iter().copied().sum::<S>() / n;
    let v = x.iter().map(|&a| (a - m).powi(2)).sum::<S>() / n;
    let sd = v.sqrt();
    x.iter().map(|&a| ((a - m) / sd).powi(4) * a.exp()).sum::<S>() / n + v.ln() + m * m
}

/// A rectangular double sum over all pairs (diagonal included): a Gaussian kernel sum.
fn pairwise<S: Scalar>(x: &[S]) -> S {
    let n = x.len();
    (0..n).map(|i| (0..n).map(|j| (-(x[i] - x[j]).powi(2)).exp() * x[j]).sum::<S>()).sum()
}

/// A rectangular double sum over two halves with strided reads, inside other code.
fn cross<S: Scalar>(x: &[S]) -> S {
    let m = x.len() / 2;
    let s: S = (0..m / 2)
        .map(|i| (0..m).map(|j| (x[2 * i] * x[m + j]).tanh() - x[m + j] * S::from_f64(0.1)).sum::<S>())
        .sum();
    s.powi(2) + x[1]
}

/// A triangular double sum (`j > i`): each row of at least 8 terms is a group of its own,
/// the 28 terms of the last 7 rows are remainder (2 nodes each: rerolled).
fn triangular<S: Scalar>(x: &[S]) -> S {
    let n = x.len();
    (0..n).map(|i| (i + 1..n).map(|j| (x[i] * x[j]).sin()).sum::<S>()).sum()
}

/// The same with a term of 4 nodes: the short rows are over the remainder limit, not
/// rerolled.
fn triangular_heavy<S: Scalar>(x: &[S]) -> S {
    let n = x.len();
    (0..n).map(|i| (i + 1..n).map(|j| (-(x[i] - x[j]).powi(2)).exp()).sum::<S>()).sum()
}

/// The piecewise ops (max, min, abs, relu) inside every term.
fn piecewise<S: Scalar>(x: &[S]) -> S {
    (0..x.len() - 1)
        .map(|i| x[i].max(x[i + 1]).powi(2) + (x[i] - x[i + 1]).abs() * x[i].min(S::zero()) + x[i + 1].relu())
        .sum()
}

/// A branch on an input inside every term (the guards read inputs only): rerolled where the
/// traced branches follow an affine pattern, the guards checked.
fn input_branch<S: Scalar>(x: &[S]) -> S {
    (0..x.len() - 1)
        .map(|i| if x[i] > S::zero() { (x[i] * x[i + 1]).sin() } else { (x[i] - x[i + 1]).powi(2) })
        .sum()
}

/// A branch inside every term (guards read term values).
fn branchy<S: Scalar>(x: &[S]) -> S {
    (0..x.len() - 1)
        .map(|i| {
            let d = x[i + 1] - x[i];
            if d > S::zero() {
                d * d
            } else {
                -d
            }
        })
        .sum()
}

/// A branch outside the terms: rerolled, the guard still checked.
fn guarded<S: Scalar>(x: &[S]) -> S {
    let s: S = (0..x.len() - 1).map(|i| (x[i + 1] * x[i]).sin()).sum();
    if x[0] > S::zero() {
        s
    } else {
        s * S::from_f64(2.0)
    }
}

/// A product: not a sum, not rerolled.
fn product<S: Scalar>(x: &[S]) -> S {
    x.iter().fold(S::one(), |a, &v| a * (S::one() + v * v * S::from_f64(0.1)))
}

fn point(n: usize) -> Vec<f64> {
    (0..n).map(|i| if i % 2 == 0 { -1.2 } else { 1.0 } + 0.01 * (i % 7) as f64).collect()
}

fn straight() -> Options {
    Options { reroll: false, ..Options::default() }
}

/// Rerolling at any graph size (the default skips graphs under `reroll_min_nodes`).
fn rerolling() -> Options {
    Options { reroll_min_nodes: 0, ..Options::default() }
}

/// Every mode of `p` (rerolled or not) against the straight-line program of the same trace
/// and against the runtime.
fn check<F: ScalarFn>(what: &str, f: &F, p: &Program, s: &Program, x: &[f64]) {
    let n = x.len();
    let d: Vec<Vec<f64>> = (0..8).map(|j| direction(j, n)).collect();
    let (v1, v2) = (&d[0], &d[1]);
    let y = p.value(x).unwrap();
    assert!(close(y, s.value(x).unwrap(), TOL) && close(y, f.eval(x), TOL), "{what}: value");
    let rt = flat_hd(fomoh_runtime::hyper_dual(|x| f.eval(x), x, v1, v2).unwrap());
    assert_close(&format!("{what}: hd vs runtime"), &flat_hd(p.hyper_dual(x, v1, v2).unwrap()), &rt, TOL);
    assert_close(&format!("{what}: hd vs straight"), &flat_hd(s.hyper_dual(x, v1, v2).unwrap()), &rt, TOL);
    let rj = flat_jet(fomoh_runtime::directional(|x| f.eval(x), x, v1).unwrap());
    assert_close(&format!("{what}: jet vs runtime"), &flat_jet(p.directional(x, v1).unwrap()), &rj, TOL);
    assert_close(&format!("{what}: jet vs straight"), &flat_jet(s.directional(x, v1).unwrap()), &rj, TOL);
    for k in 1..=8 {
        let rk = fomoh_runtime::project(f, x, &d[..k]).unwrap();
        let pk = p.project(x, &d[..k]).unwrap();
        let sk = s.project(x, &d[..k]).unwrap();
        assert_close(&format!("{what}: K={k} vs runtime"), &flat_proj(&pk), &flat_proj(&rk), TOL);
        assert_close(&format!("{what}: K={k} vs straight"), &flat_proj(&pk), &flat_proj(&sk), TOL);
    }
}

/// Compiles `f` both ways at `x`, checks the rerolled flag and every mode.
fn both<F: ScalarFn>(what: &str, f: &F, x: &[f64], rerolled: Option<bool>) -> Program {
    let p = compile_at_with(x, |t| f.eval(t), &rerolling()).unwrap();
    let s = compile_at_with(x, |t| f.eval(t), &straight()).unwrap();
    if let Some(r) = rerolled {
        assert_eq!(p.is_rerolled(), r, "{what}: rerolled");
        assert_eq!(p.prepare(Mode::HyperDual).unwrap().rerolled, r, "{what}: stats");
    }
    assert!(!s.is_rerolled() && !s.prepare(Mode::Primal).unwrap().rerolled);
    check(what, f, &p, &s, x);
    p
}

#[test]
fn rosenbrock_rerolled_agrees_in_every_mode() {
    let f = scalar_fn!(rosenbrock);
    for (n, r) in [(2, false), (9, true), (100, true), (1000, true)] {
        both(&format!("rosenbrock n={n}"), &f, &point(n), Some(r));
    }
    // by default, traces under `reroll_min_nodes` stay straight-line code
    let min = Options::default().reroll_min_nodes;
    for n in [9, 100] {
        let p = compile_at(&point(n), rosenbrock).unwrap();
        assert_eq!(p.is_rerolled(), p.graph().nodes.len() >= min, "n={n}: {} nodes", p.graph().nodes.len());
    }
    assert!(compile_at(&point(100), rosenbrock).unwrap().is_rerolled());
}

#[test]
fn strided_inputs_are_gathered() {
    let f = scalar_fn!(strided);
    for n in [30usize, 61] {
        both(&format!("strided n={n}"), &f, &point(n), Some(true));
    }
}

#[test]
fn a_sum_with_a_remainder_is_rerolled() {
    let f = scalar_fn!(with_remainder);
    both("remainder", &f, &point(40), Some(true));
}

#[test]
fn a_broadcast_mean_is_rerolled() {
    let f = scalar_fn!(variance);
    for n in [50, 200] {
        both(&format!("variance n={n}"), &f, &point(n), Some(true));
    }
}

#[test]
fn sub_chains_and_negations_are_rerolled() {
    for n in [20, 121] {
        let x = point(n);
        both(&format!("sub chain n={n}"), &scalar_fn!(sub_chain), &x, Some(true));
        both(&format!("alternating n={n}"), &scalar_fn!(alternating), &x, Some(true));
        both(&format!("negated n={n}"), &scalar_fn!(negated), &x, Some(true));
    }
}

#[test]
fn nested_sums_are_rerolled() {
    for n in [40, 150] {
        both(&format!("moments n={n}"), &scalar_fn!(moments), &point(n), Some(true));
    }
}

#[test]
fn rectangular_double_sums_are_rerolled() {
    // one loop body over the [n, n] rectangle (not one group per row): the staged tensor
    // program does not grow with n
    let staged = |n: usize| {
        let x: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin()).collect();
        let p = both(&format!("pairwise n={n}"), &scalar_fn!(pairwise), &x, Some(true));
        p.prepare(Mode::HyperDual).unwrap().staged_nodes
    };
    assert_eq!(staged(10), staged(16));
    for n in [16, 28] {
        both(&format!("cross n={n}"), &scalar_fn!(cross), &point(n), Some(true));
    }
}

#[test]
fn triangular_double_sums_are_rerolled_by_rows_or_refused() {
    both("triangular", &scalar_fn!(triangular), &point(20), Some(true));
    both("triangular heavy", &scalar_fn!(triangular_heavy), &point(20), Some(false));
}

#[test]
fn piecewise_ops_in_terms_are_rerolled() {
    for n in [20, 101] {
        let x: Vec<f64> = (0..n).map(|i| (i as f64 * 0.9).sin()).collect();
        both(&format!("piecewise n={n}"), &scalar_fn!(piecewise), &x, Some(true));
    }
}

#[test]
fn branches_on_inputs_inside_terms_are_rerolled_and_checked() {
    let f = scalar_fn!(input_branch);
    // every x_i positive: one branch everywhere
    let x: Vec<f64> = (0..100).map(|i| 0.5 + 0.4 * (i as f64 * 0.3).sin()).collect();
    let p = both("input branch, one side", &f, &x, Some(true));
    assert_eq!(p.guards().len(), 99);
    let mut y = x.clone();
    y[77] = -0.5;
    assert!(matches!(p.value(&y), Err(e) if e.to_string().contains("guard")));
    assert!(p.hyper_dual(&y, &x, &x).is_err() && p.project(&y, std::slice::from_ref(&x)).is_err());
    // alternating signs: the two branches are two strided groups
    let z: Vec<f64> = (0..100).map(|i| if i % 2 == 0 { 0.7 } else { -0.4 } + 0.01 * (i % 5) as f64).collect();
    let q = both("input branch, alternating", &f, &z, Some(true));
    let mut w = z.clone();
    w[10] = -w[10];
    assert!(q.value(&w).is_err());
    // the retracing objective serves inputs taking other branches
    let r = fomoh_jit::Retracing::new(100, f);
    assert!(close(fomoh_runtime::Objective::value(&r, &y).unwrap(), input_branch(&y), TOL));
}

/// Guards reading values computed inside the terms (`d = x[i+1] - x[i]`, `if d > 0`): the
/// program and the count of violated guards are both rerolled; every guard is still checked,
/// per element, and a failure names its guard.
#[test]
fn guards_inside_terms_are_rerolled_and_checked_per_element() {
    let f = scalar_fn!(branchy);
    // both branches, in no affine pattern: groups per branch, the rest in the remainder
    let x: Vec<f64> = (0..30).map(|i| (i as f64 * 0.7).sin()).collect();
    let p = both("branchy", &f, &x, Some(true));
    let mut y = x.clone();
    y.swap(3, 4);
    assert_ne!(x[4] - x[3] > 0.0, y[4] - y[3] > 0.0);
    assert!(matches!(p.value(&y), Err(e) if e.to_string().contains("guard")));
    // one branch everywhere (increasing x)
    let x: Vec<f64> = (0..200).map(|i| i as f64 * 0.01 + 0.1 * (i as f64 * 0.05).sin()).collect();
    assert!(x.windows(2).all(|w| w[1] > w[0]));
    let p = both("branchy, increasing", &f, &x, Some(true));
    assert_eq!(p.guards().len(), 199);
    // other points on the same branches run (no false alarm) and agree with f
    let z: Vec<f64> = x.iter().enumerate().map(|(i, v)| 1.5 * v + 0.001 * (i % 3) as f64).collect();
    assert!(close(p.value(&z).unwrap(), branchy(&z), TOL));
    // one term on the other branch: every pass fails, naming that guard (term 120)
    let mut w = x.clone();
    w[121] = w[120] - 0.5;
    let name = p.guards()[120].describe(120);
    for r in [
        p.value(&w).map(|_| ()),
        p.hyper_dual(&w, &x, &x).map(|_| ()),
        p.project(&w, std::slice::from_ref(&x)).map(|_| ()),
    ] {
        assert!(matches!(&r, Err(e) if e.to_string().contains(&name)), "{r:?} should name {name}");
    }
    // in f32 too
    let p32 = p.with_float::<f32>();
    assert!(p32.is_rerolled());
    let w32: Vec<f32> = w.iter().map(|&v| v as f32).collect();
    let z32: Vec<f32> = z.iter().map(|&v| v as f32).collect();
    assert!(p32.value(&w32).is_err());
    assert!((p32.value(&z32).unwrap() as f64 - branchy(&z)).abs() < 1e-4 * branchy(&z).abs());
}

#[test]
fn a_guard_outside_the_terms_is_still_checked() {
    let f = scalar_fn!(guarded);
    let x = point(40).iter().map(|v| v.abs()).collect::<Vec<_>>();
    let p = both("guarded", &f, &x, Some(true));
    let mut y = x.clone();
    y[0] = -1.0;
    assert!(matches!(p.value(&y), Err(e) if e.to_string().contains("guard")));
    assert!(p.hyper_dual(&y, &x, &x).is_err() && p.project(&y, std::slice::from_ref(&x)).is_err());
    // the retracing objective (default options) serves the other branch
    let r = fomoh_jit::Retracing::new(40, f);
    let want = guarded(&y);
    assert!(close(fomoh_runtime::Objective::value(&r, &y).unwrap(), want, TOL));
}

#[test]
fn a_product_is_not_rerolled() {
    let f = scalar_fn!(product);
    both("product", &f, &point(20), Some(false));
}

#[test]
fn errors_are_typed_on_rerolled_programs() {
    let p = compile_at_with(&point(20), rosenbrock, &rerolling()).unwrap();
    assert!(p.is_rerolled());
    assert!(p.value(&[1.0; 19]).is_err());
    assert!(p.hyper_dual(&point(20), &[1.0; 3], &point(20)).is_err());
    assert!(p.project(&point(20), &[vec![0.0; 20], vec![0.0; 21]]).is_err());
}

/// A random sum of terms: `count` terms, each a random expression over two input slots
/// `x[a + s·i]`, `x[b + t·i]`, added or subtracted by a sign pattern, plus a random part
/// outside the sum.
#[derive(Clone, Debug)]
struct SumProg {
    n: usize,
    count: usize,
    slots: [(usize, usize); 2],
    ops: Vec<(u8, f64)>,
    outer: u8,
    /// 0: all added, 1: all subtracted, 2: alternating, 3: every third subtracted.
    signs: u8,
}

impl SumProg {
    /// Whether term `i` is subtracted.
    fn negative(&self, i: usize) -> bool {
        match self.signs % 4 {
            0 => false,
            1 => true,
            2 => i % 2 == 1,
            _ => i % 3 == 2,
        }
    }

    fn term<S: Scalar>(&self, x: &[S], i: usize) -> S {
        let c = S::from_f64;
        let u = x[self.slots[0].0 + self.slots[0].1 * i];
        let v = x[self.slots[1].0 + self.slots[1].1 * i];
        let mut acc = u;
        for &(op, k) in &self.ops {
            acc = match op % 8 {
                0 => acc * v + c(k),
                1 => (acc - v).powi(2),
                2 => acc.sin() * c(k) + v,
                3 => acc / (c(1.0) + v * v),
                4 => (acc * c(0.3)).tanh() - v * c(k),
                5 => acc.max(v),
                6 => (acc * acc + c(0.5)).ln() * v,
                _ => acc * c(k) - v.exp() * c(0.1),
            };
        }
        acc
    }

    /// The part outside the sum.
    fn rest<S: Scalar>(&self, x: &[S]) -> S {
        match self.outer % 3 {
            0 => S::zero(),
            1 => x[0].cos() * S::from_f64(0.5),
            _ => (x[self.n - 1] * x[0]).sin() + x[0].exp(),
        }
    }
}

impl ScalarFn for SumProg {
    fn eval<S: Scalar>(&self, x: &[S]) -> S {
        let s = (0..self.count).fold(S::zero(), |acc, i| {
            if self.negative(i) {
                acc - self.term(x, i)
            } else {
                acc + self.term(x, i)
            }
        });
        s + self.rest(x)
    }
}

/// One piece of a [`SumProg`]: term `Some(i)` or the rest (`None`).
struct Piece<'a>(&'a SumProg, Option<usize>);

impl ScalarFn for Piece<'_> {
    fn eval<S: Scalar>(&self, x: &[S]) -> S {
        match self.1 {
            Some(i) => self.0.term(x, i),
            None => self.0.rest(x),
        }
    }
}

fn sum_prog() -> impl Strategy<Value = SumProg> {
    (
        8usize..40,
        0usize..5,
        0usize..4,
        0usize..5,
        0usize..4,
        prop::collection::vec((0u8..8, -2.0f64..2.0), 1..5),
        0u8..3,
        0u8..4,
    )
        .prop_map(|(count, a, s, b, t, ops, outer, signs)| {
            let n = (a + s * (count - 1)).max(b + t * (count - 1)) + 1;
            SumProg { n, count, slots: [(a, s), (b, t)], ops, outer, signs }
        })
}

/// `a` and `b` agree lane by lane within `1e-12 · (|a| + |b| + Σ|piece lanes|)`: a reassociated
/// sum of terms differs from the runtime's left fold by rounding relative to the sum of the
/// terms' magnitudes (at most ~count·ε of it), not of the (possibly cancelled) result.
fn assert_close_sum(what: &str, a: &[f64], b: &[f64], pieces: &[Vec<f64>]) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for i in 0..a.len() {
        let m: f64 = pieces.iter().map(|p| p[i].abs()).sum();
        let tol = 1e-12 * (a[i].abs() + b[i].abs() + m);
        assert!(
            (a[i] - b[i]).abs() <= tol || (a[i].is_nan() && b[i].is_nan()),
            "{what}: lane {i}: {a:?} vs {b:?}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn random_sums_agree(f in sum_prog()) {
        let x: Vec<f64> = (0..f.n).map(|i| 0.3 + 0.9 * ((i as f64) * 1.37).sin()).collect();
        let p = compile_at_with(&x, |t| f.eval(t), &rerolling()).unwrap();
        let s = compile_at_with(&x, |t| f.eval(t), &straight()).unwrap();
        prop_assume!(f.eval(&x[..]).is_finite());
        // terms reading an input with a non-zero stride reroll (also where the two slots
        // meet at some terms: every use of an input is a slot of its own), unless a sign
        // class has fewer than 8 terms
        let [(_, s1), (_, t1)] = f.slots;
        let neg = (0..f.count).filter(|&i| f.negative(i)).count();
        let signs_group = [neg, f.count - neg].iter().all(|&c| c == 0 || c >= 8);
        if (s1 != 0 || t1 != 0) && signs_group {
            prop_assert!(p.is_rerolled(), "{f:?} was not rerolled");
        }
        let pieces: Vec<Piece> = (0..f.count).map(|i| Piece(&f, Some(i))).chain([Piece(&f, None)]).collect();
        let d: Vec<Vec<f64>> = (0..8).map(|j| direction(j, f.n)).collect();
        let (v1, v2) = (&d[0], &d[1]);
        let rt = flat_hd(fomoh_runtime::hyper_dual(|t| f.eval(t), &x, v1, v2).unwrap());
        let env: Vec<Vec<f64>> = pieces
            .iter()
            .map(|pc| flat_hd(fomoh_runtime::hyper_dual(|t| pc.eval(t), &x, v1, v2).unwrap()))
            .collect();
        assert_close_sum("hd vs runtime", &flat_hd(p.hyper_dual(&x, v1, v2).unwrap()), &rt, &env);
        assert_close_sum("hd vs straight", &flat_hd(p.hyper_dual(&x, v1, v2).unwrap()),
            &flat_hd(s.hyper_dual(&x, v1, v2).unwrap()), &env);
        let rj = flat_jet(fomoh_runtime::directional(|t| f.eval(t), &x, v1).unwrap());
        let env: Vec<Vec<f64>> = pieces
            .iter()
            .map(|pc| flat_jet(fomoh_runtime::directional(|t| pc.eval(t), &x, v1).unwrap()))
            .collect();
        assert_close_sum("jet vs runtime", &flat_jet(p.directional(&x, v1).unwrap()), &rj, &env);
        for k in [1usize, 3, 8] {
            let rk = fomoh_runtime::project(&f, &x, &d[..k]).unwrap();
            let env: Vec<Vec<f64>> =
                pieces.iter().map(|pc| flat_proj(&fomoh_runtime::project(pc, &x, &d[..k]).unwrap())).collect();
            let pk = flat_proj(&p.project(&x, &d[..k]).unwrap());
            assert_close_sum(&format!("K={k} vs runtime"), &pk, &flat_proj(&rk), &env);
            assert_close_sum(&format!("K={k} vs straight"), &pk, &flat_proj(&s.project(&x, &d[..k]).unwrap()), &env);
        }
        let y = p.value(&x).unwrap();
        let env: Vec<Vec<f64>> = pieces.iter().map(|pc| vec![pc.eval(&x[..])]).collect();
        assert_close_sum("value", &[y], &[f.eval(&x[..])], &env);
    }
}
