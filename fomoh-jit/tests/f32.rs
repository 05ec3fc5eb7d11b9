//! `f32` programs ([`fomoh_jit::Program::with_float`]): native `f32` code that agrees with
//! the runtime's `f32` number types (`HyperDual<f32>`, `Jet<f32>`, `HyperK<f32, K>`), bit for
//! bit with the interpreter over the staged graph in `f32`, and gives typed errors.
//!
//! Tolerance against the runtime: the JIT executes the runtime's own chain rules, operation
//! for operation, in `f32`; it differs only where the tracer or the stager folded a function
//! of literals (folded in `f64` and rounded once to `f32`, where the runtime rounds at every
//! `f32` operation) and where it drops structurally-zero terms (exact). Those one-ulp
//! differences are amplified by the conditioning of what follows them, so lanes are
//! compared with `|a - b| <= RTOL * max(|a|, |b|) + RTOL * scale`, `RTOL = 1e-5` (~84 ulps of
//! `f32`) and `scale` the largest magnitude among the lanes compared together (a floor for
//! lanes that cancel to near zero). Where literals cancel, a folded one can move a lane by
//! more than that; the random programs then allow twice the runtime's own `f32` rounding
//! error of the lane (its distance to the runtime's `f64` lane at the same point). The
//! bitwise check against the `f32` interpreter is the strict one.

mod common;
use common::random_prog::{case, check_case, Checks};
use common::*;
use fomoh_jit::{compile, compile_at, compile_with, FloatType, JitError, Mode, Options, Program};
use fomoh_runtime::{scalar_fn, HyperDual, Jet, Scalar, ScalarFn};
use proptest::prelude::*;

/// Relative tolerance of `f32` lanes against the runtime's `f32` (see the file comment).
const RTOL: f64 = 1e-5;

fn rosenbrock<S: Scalar>(x: &[S]) -> S {
    let (one, hundred) = (S::one(), S::from_f64(100.0));
    (0..x.len() - 1).map(|i| hundred * (x[i + 1] - x[i] * x[i]).powi(2) + (one - x[i]).powi(2)).sum()
}

fn widen(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

fn to32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

/// The lanes `jit` and `rt` agree to [`RTOL`] with the magnitude floor; lanes where the
/// runtime is not finite are skipped if `skip_nonfinite` (a structural zero where the
/// runtime computes `0·∞`). Returns the largest `|a - b| / (max(|a|, |b|) + scale)`.
fn agree32(what: &str, jit: &[f32], rt: &[f32], skip_nonfinite: bool) -> Result<f64, String> {
    agree32_slack(what, jit, rt, skip_nonfinite, |_| 0.0)
}

/// [`agree32`] with lane `i` allowed `slack(i)` more absolute difference.
fn agree32_slack(
    what: &str,
    jit: &[f32],
    rt: &[f32],
    skip_nonfinite: bool,
    slack: impl Fn(usize) -> f64,
) -> Result<f64, String> {
    if jit.len() != rt.len() {
        return Err(format!("{what}: lengths {} vs {}", jit.len(), rt.len()));
    }
    let scale = rt.iter().filter(|v| v.is_finite()).fold(0.0f64, |m, &v| m.max((v as f64).abs()));
    let mut worst = 0.0f64;
    for (i, (&a, &b)) in jit.iter().zip(rt).enumerate() {
        if skip_nonfinite && !b.is_finite() {
            continue;
        }
        let (a, b) = (a as f64, b as f64);
        let ok = if a.is_nan() || b.is_nan() {
            a.is_nan() && b.is_nan()
        } else if a.is_infinite() || b.is_infinite() {
            a == b
        } else {
            let d = (a - b).abs();
            if d > 0.0 {
                worst = worst.max(d / (a.abs().max(b.abs()) + scale));
            }
            d <= RTOL * a.abs().max(b.abs()) + RTOL * scale + slack(i)
        };
        if !ok {
            return Err(format!("{what}: lane {i}: jit {a:e} vs runtime {b:e}\n{jit:?}\n{rt:?}"));
        }
    }
    Ok(worst)
}

/// The largest relative deviation seen by [`assert_agree32`] in this process (in units of
/// 1e-9, for the report printed by the tests).
static WORST: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn assert_agree32(what: &str, jit: &[f32], rt: &[f32]) {
    match agree32(what, jit, rt, false) {
        Ok(w) => {
            WORST.fetch_max((w * 1e9) as u64, std::sync::atomic::Ordering::Relaxed);
        }
        Err(e) => panic!("{e}"),
    }
}

/// Bit for bit (NaN equal to NaN, 0 to -0), through the exact widening to `f64`.
fn assert_same32(what: &str, a: &[f32], b: &[f32]) {
    assert_same(what, &widen(a), &widen(b));
}

/// The K-direction projection of the `f32` program against the runtime's `f32` hyperplane
/// (both through the const-generic entry) and against the staged `f32` interpreter.
fn check_k<F: ScalarFn, const K: usize>(p: &Program<f32>, f: &F, x: &[f32])
where
    fomoh_runtime::Dim<K>: fomoh_runtime::Packed,
{
    let n = x.len();
    let dirs: [Vec<f32>; K] = core::array::from_fn(|j| to32(&direction(j, n)));
    let pk = p.project(x, &dirs).unwrap();
    let rk = fomoh_runtime::hyperplane(|t| f.eval(t), x, &dirs).unwrap();
    assert_agree32(&format!("hyperplane K={K} vs runtime f32"), &flat_proj(&pk), &flat_proj(&rk));
    let mut parts: Vec<&[f32]> = vec![x];
    parts.extend(dirs.iter().map(|d| d.as_slice()));
    let it = p.interpret(Mode::HyperK(K), &parts).unwrap();
    let mut packed = vec![pk.value];
    packed.extend(&pk.grad);
    for i in 0..K {
        packed.extend(&pk.hess[i][i..]);
    }
    assert_same32(&format!("K={K} vs staged f32 interpreter"), &packed, &it);
}

/// Every mode of `f` compiled in `f32` (`p`) against the runtime's `f32` passes and the
/// staged `f32` interpreter, at `x`.
fn check_all_modes32<F: ScalarFn>(f: &F, x: &[f32], p: &Program<f32>) {
    let n = x.len();
    assert_eq!(p.float_type(), FloatType::F32);
    assert!(!p.is_rerolled(), "bitwise checks against the staged interpreter need straight-line code");
    let (v1, v2) = (to32(&direction(0, n)), to32(&direction(1, n)));

    let rt = fomoh_runtime::hyper_dual(|t| f.eval(t), x, &v1, &v2).unwrap();
    let y = p.value(x).unwrap();
    assert_agree32("value vs runtime f32", &[y], &[rt.re]);
    assert_agree32("value vs plain f32", &[y], &[f.eval(x)]);
    assert_same32("value vs staged f32 interpreter", &[y], &p.interpret(Mode::Primal, &[x]).unwrap());

    let hd = p.hyper_dual(x, &v1, &v2).unwrap();
    assert_agree32("hyper_dual vs runtime f32", &flat_hd(hd), &flat_hd(rt));
    assert_same32(
        "hyper_dual vs staged f32 interpreter",
        &flat_hd(hd),
        &p.interpret(Mode::HyperDual, &[x, &v1, &v2]).unwrap(),
    );

    let j = p.directional(x, &v1).unwrap();
    let rj = fomoh_runtime::directional(|t| f.eval(t), x, &v1).unwrap();
    assert_agree32("directional vs runtime f32", &flat_jet(j), &flat_jet(rj));
    assert_same32(
        "directional vs staged f32 interpreter",
        &flat_jet(j),
        &p.interpret(Mode::Jet, &[x, &v1]).unwrap(),
    );

    check_k::<F, 1>(p, f, x);
    check_k::<F, 2>(p, f, x);
    check_k::<F, 3>(p, f, x);
    check_k::<F, 4>(p, f, x);
    check_k::<F, 5>(p, f, x);
    check_k::<F, 6>(p, f, x);
    check_k::<F, 7>(p, f, x);
    check_k::<F, 8>(p, f, x);
    // K = 16 through the run-time entry, against the runtime's one-pass projection
    let dirs: Vec<Vec<f32>> = (0..16).map(|j| to32(&direction(j, n))).collect();
    let rk = fomoh_runtime::project(f, x, &dirs).unwrap();
    let passes = rk.passes;
    assert_eq!(passes, 1);
    assert_agree32("project K=16 vs runtime f32", &flat_proj(&p.project(x, &dirs).unwrap()), &flat_proj(&rk));
}

#[test]
fn every_elementary_function_agrees_with_the_runtime_in_f32() {
    let f = scalar_fn!(zoo);
    let p = compile(3, move |t| f.eval(t)).unwrap().with_float::<f32>();
    for x in points() {
        check_all_modes32(&f, &to32(&x), &p);
    }
    let worst = WORST.load(std::sync::atomic::Ordering::Relaxed) as f64 * 1e-9;
    eprintln!("largest deviation from the runtime's f32: {worst:.2e} (relative, with the floor)");
}

#[test]
fn rosenbrock_agrees_in_f32_including_a_rerollable_size() {
    let f = scalar_fn!(rosenbrock);
    for n in [2usize, 3, 10, 100] {
        let x: Vec<f32> = (0..n).map(|i| if i % 2 == 0 { -1.2 } else { 1.0 }).collect();
        let p = compile(n, move |t| f.eval(t)).unwrap().with_float::<f32>();
        let straight = Options { reroll: false, ..Default::default() };
        let s = compile_with(n, move |t| f.eval(t), &straight).unwrap().with_float();
        check_all_modes32(&f, &x, &s);
        if p.is_rerolled() {
            // an f32 tensor program (its sum reassociated): against the runtime's f32 pass
            let (v1, v2) = (to32(&direction(0, n)), to32(&direction(1, n)));
            let rt = fomoh_runtime::hyper_dual(|t| f.eval(t), &x, &v1, &v2).unwrap();
            assert_agree32(
                "rerolled hyper_dual vs runtime f32",
                &flat_hd(p.hyper_dual(&x, &v1, &v2).unwrap()),
                &flat_hd(rt),
            );
        } else {
            check_all_modes32(&f, &x, &p);
        }
    }
    // n = 100 is rerolled, in f64 and in f32 (the tensor program runs in f32)
    assert!(compile(100, rosenbrock).unwrap().is_rerolled());
    assert!(compile(100, rosenbrock).unwrap().with_float::<f32>().is_rerolled());
}

#[test]
fn f32_programs_compute_in_f32() {
    // (1e8 + 1) - 1e8 is 0 in f32 (1e8 + 1 rounds to 1e8) and 1 in f64.
    let p = compile(2, |x| x[0] + x[1] - x[0]).unwrap();
    assert_eq!(p.value(&[1e8, 1.0]).unwrap(), 1.0);
    let p32 = p.with_float::<f32>();
    assert_eq!(p32.value(&[1e8f32, 1.0]).unwrap(), 0.0);
    assert_eq!(p32.hyper_dual(&[1e8f32, 1.0], &[0.0, 1.0], &[0.0, 1.0]).unwrap().e1, 1.0);
    // literals are rounded to f32: 0.1 + x at 0 is 0.1f32, not 0.1f64 rounded later
    let q = compile(1, |x| x[0] * Scalar::from_f64(3.0) + Scalar::from_f64(0.1)).unwrap().with_float::<f32>();
    assert_eq!(q.value(&[0.1f32]).unwrap(), 0.1f32 * 3.0 + 0.1f32);
    // transcendentals call the runtime's f32 functions: bit for bit with f32::sin, f32::exp, ...
    let t = compile(1, |x| x[0].sin()).unwrap().with_float::<f32>();
    let e = compile(1, |x| x[0].exp()).unwrap().with_float::<f32>();
    let pw = compile(1, |x| x[0].powf(1.7)).unwrap().with_float::<f32>();
    let mut differ_from_f64 = 0;
    for i in 0..2000 {
        let x = -10.0f32 + i as f32 * 0.01037;
        let s = t.value(&[x]).unwrap();
        assert_eq!(s.to_bits(), x.sin().to_bits(), "sin({x})");
        assert_eq!(e.value(&[x]).unwrap().to_bits(), x.exp().to_bits(), "exp({x})");
        let a = x.abs();
        assert_eq!(pw.value(&[a]).unwrap().to_bits(), a.powf(1.7f32).to_bits(), "powf({a})");
        differ_from_f64 += usize::from(s != (x as f64).sin() as f32);
    }
    eprintln!("f32::sin differs from the rounded f64 sin at {differ_from_f64} of 2000 points");
}

#[test]
fn guards_and_selects_in_f32() {
    fn f<S: Scalar>(x: &[S]) -> S {
        let y = x[0] * x[1];
        // a branch (a guard), and the piecewise ops (selects)
        let b = if y > S::from_f64(0.5) { y.sin() } else { y.cos() * S::from_f64(2.0) };
        b + x[0].max(x[1]) + x[1].min(x[0]) + (x[0] - x[1]).abs() + (x[1] - S::one()).relu()
    }
    let fs = scalar_fn!(f);
    for x0 in [[1.0f32, 2.0], [0.2, 0.3], [1.5, 1.5], [2.0, 1.0]] {
        let p = compile_at(&widen(&x0), f).unwrap().with_float::<f32>();
        check_all_modes32(&fs, &x0, &p);
        let v = [1.0f32, 1.0];
        let hd = p.hyper_dual(&x0, &v, &v).unwrap();
        let rt = fomoh_runtime::hyper_dual(f, &x0, &v, &v).unwrap();
        assert_agree32("traced at x0", &flat_hd(hd), &flat_hd(rt));
        // an input taking the other branch is a guard failure, not a wrong derivative
        let other = if x0[0] * x0[1] > 0.5 { [0.1f32, 0.1] } else { [2.0f32, 2.0] };
        let e = p.value(&other).unwrap_err();
        assert!(e.to_string().contains("guard"), "{e}");
    }
}

#[test]
fn wrong_lengths_are_errors_in_f32() {
    let p = compile(3, |x| x[0] * x[1] + x[2]).unwrap().with_float::<f32>();
    let (x, v) = ([1.0f32, 2.0, 3.0], [1.0f32, 0.0, 0.0]);
    assert!(p.value(&x[..2]).is_err());
    assert!(p.value(&[0.0f32; 4]).is_err());
    assert!(p.hyper_dual(&x[..2], &v, &v).is_err());
    assert!(p.hyper_dual(&x, &v[..1], &v).is_err());
    assert!(p.hyper_dual(&x, &v, &[]).is_err());
    assert!(p.directional(&x, &v[..2]).is_err());
    assert!(p.project(&x, &[v.to_vec(), vec![1.0; 2]]).is_err());
    assert!(p.project(&x, &[]).is_err(), "K = 0");
    assert_eq!(p.project(&x, &vec![v.to_vec(); 17]).unwrap().passes, 17 * 18 / 2, "K = 17: pairs");
    assert!(p.interpret(Mode::HyperDual, &[&x, &v]).is_err());
    // the errors are the typed JIT errors, converted
    let e: fomoh_runtime::Error = p.value(&x[..1]).unwrap_err();
    let expect: fomoh_runtime::Error = JitError::Length { what: "x".into(), expected: 3, found: 1 }.into();
    assert_eq!(e.to_string(), expect.to_string());
    // and the right lengths work
    assert_eq!(p.value(&x).unwrap(), 5.0);
    assert_eq!(flat_hd(p.hyper_dual(&x, &v, &v).unwrap()), vec![5.0, 2.0, 2.0, 0.0]);
    assert_eq!(flat_jet(p.directional(&x, &v).unwrap()), vec![5.0, 2.0, 0.0]);
}

#[test]
fn f32_program_is_shared_across_threads() {
    let f = scalar_fn!(zoo);
    let p = compile(3, move |t| f.eval(t)).unwrap().with_float::<f32>();
    let x = to32(&points()[1]);
    let (a, b) = ([1.0f32, 0.5, 0.2], [0.3f32, 1.0, -1.0]);
    let expect = flat_hd(p.hyper_dual(&x, &a, &b).unwrap());
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..50 {
                    assert_same32("threaded", &flat_hd(p.hyper_dual(&x, &a, &b).unwrap()), &expect);
                }
            });
        }
    });
    let _: (HyperDual<f32>, Jet<f32>) = (p.hyper_dual(&x, &a, &b).unwrap(), p.directional(&x, &a).unwrap());
}

fn cases() -> u32 {
    std::env::var("FOMOH_JIT_F32_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(300)
}

/// [`agree32`], widened per lane by twice the runtime's own `f32` rounding error there
/// (`|rt - rt64|`, `rt64` the runtime's lane in `f64` at the same point): a literal the JIT
/// folded in `f64` sits between the two, and what follows it amplifies that difference as
/// much as it amplifies the runtime's rounding (a program of literals only is folded whole).
fn agree(what: &str, jit: &[f32], rt: &[f32], rt64: &[f64]) -> Result<(), TestCaseError> {
    prop_assert_eq!(jit.len(), rt64.len());
    let own = |i: usize| if rt64[i].is_finite() { 2.0 * (rt[i] as f64 - rt64[i]).abs() } else { 0.0 };
    agree32_slack(what, jit, rt, true, own).map(|_| ()).map_err(TestCaseError::fail)
}

proptest! {
    // `FOMOH_JIT_F32_CASES` (default 300) random programs, each in four modes.
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn random_programs_agree_in_f32((prog, x, dirs, k) in case()) {
        // traced at the point rounded to f32; a branch whose operands are within rounding of
        // each other may go the other way in f32: the guard reports it (never a wrong
        // result) and the case is discarded
        check_case::<f32>(&prog, &x, &dirs, k, &Checks { agree: &agree, zeros_equal: true, guard_may_fail: true })?;
    }
}

/// A program of literals only is folded whole in `f64` by the tracer: its `f32` value is the
/// `f64` result rounded once, which may differ from the runtime's step-by-step `f32` far
/// beyond [`RTOL`] where the literals cancel. The random-program check accepts it by the
/// runtime's own rounding error, and still refuses a lane that is wrong.
#[test]
fn literals_folded_in_f64_are_within_the_runtimes_own_rounding() {
    use common::random_prog::{Prog, Step};
    let prog = Prog { n: 1, steps: vec![Step::Const(1.000_000_1), Step::Const(1.0), Step::Bin(1, 1, 2)] };
    let x = [0.5f32];
    let p = compile_at(&widen(&x), |t| prog.eval(t)).unwrap().with_float::<f32>();
    let (jit, rt, rt64) = (p.value(&x).unwrap(), prog.eval(&x), prog.eval(&widen(&x)));
    assert_eq!(jit, rt64 as f32, "folded in f64, rounded once");
    assert!(agree32("literals", &[jit], &[rt], true).is_err(), "beyond RTOL: {jit:e} vs {rt:e}");
    assert!(agree("literals", &[jit], &[rt], &[rt64]).is_ok());
    assert!(agree("wrong", &[-jit], &[rt], &[rt64]).is_err());
    check_case::<f32>(
        &prog,
        &widen(&x),
        &[vec![1.0], vec![0.5], vec![-1.0], vec![0.25]],
        2,
        &Checks { agree: &agree, zeros_equal: true, guard_may_fail: false },
    )
    .unwrap();
}
