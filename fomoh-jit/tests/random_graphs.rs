//! Differential testing over random programs: every compiled mode agrees with the runtime
//! (within 1e-12 relative) and with the interpreter over the staged graph (bit for bit).
//!
//! The default run checks `FOMOH_JIT_CASES` (default 400) random programs, each in four
//! modes (≈1,600 compilations). Set e.g. `FOMOH_JIT_CASES=5000` for a longer run.

mod common;
use common::*;
use fomoh_jit::{compile_at, Mode};
use fomoh_runtime::{Scalar, ScalarFn};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Step {
    Const(f64),
    Un(u8, usize),
    Bin(u8, usize, usize),
    /// `if v[a] > v[b] { v[c] } else { v[d] }`: a branch, recorded as a guard.
    Branch(usize, usize, usize, usize),
}

#[derive(Clone, Debug)]
struct Prog {
    n: usize,
    steps: Vec<Step>,
}

impl ScalarFn for Prog {
    fn eval<S: Scalar>(&self, x: &[S]) -> S {
        let mut v: Vec<S> = x.to_vec();
        let c = S::from_f64;
        for st in &self.steps {
            let at = |i: usize| v[i % v.len()];
            let r = match *st {
                Step::Const(k) => c(k),
                Step::Un(op, a) => {
                    let a = at(a);
                    let pos = a * a + c(0.5);
                    match op % 22 {
                        0 => a.tanh().exp(),
                        1 => pos.ln(),
                        2 => pos.sqrt(),
                        3 => a.sin(),
                        4 => a.cos(),
                        5 => a.tanh(),
                        6 => a.atan(),
                        7 => a.sigmoid(),
                        8 => a.softplus(),
                        9 => a.asinh(),
                        10 => a.powi(2),
                        11 => a.powi(3),
                        12 => pos.powi(-2),
                        13 => pos.powf(1.5),
                        14 => a.abs(),
                        15 => a.relu(),
                        16 => pos.recip(),
                        17 => a.log_sigmoid(),
                        18 => a.tanh().sinh() * a.tanh().cosh(),
                        19 => -a,
                        20 => pos.cbrt(),
                        _ => a.mul_add(a, c(0.25)),
                    }
                }
                Step::Bin(op, a, b) => {
                    let (a, b) = (at(a), at(b));
                    match op % 9 {
                        0 => a + b,
                        1 => a - b,
                        2 => a * b,
                        3 => a / (b * b + c(0.5)),
                        4 => (a * a + c(0.5)).pow(b.tanh()),
                        5 => a.atan2(b),
                        6 => a.hypot(b),
                        7 => a.max(b),
                        _ => a.min(b),
                    }
                }
                Step::Branch(a, b, t, f) => {
                    if at(a) > at(b) {
                        at(t)
                    } else {
                        at(f) * c(2.0)
                    }
                }
            };
            v.push(r);
        }
        *v.last().expect("at least the inputs")
    }
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        1 => (-2.0..2.0f64).prop_map(Step::Const),
        5 => (any::<u8>(), 0..64usize).prop_map(|(o, a)| Step::Un(o, a)),
        5 => (any::<u8>(), 0..64usize, 0..64usize).prop_map(|(o, a, b)| Step::Bin(o, a, b)),
        1 => (0..64usize, 0..64usize, 0..64usize, 0..64usize).prop_map(|(a, b, c, d)| Step::Branch(a, b, c, d)),
    ]
}

fn case() -> impl Strategy<Value = (Prog, Vec<f64>, Vec<Vec<f64>>, usize)> {
    (1..5usize).prop_flat_map(|n| {
        (
            prop::collection::vec(step(), 1..14).prop_map(move |steps| Prog { n, steps }),
            prop::collection::vec(-2.0..2.0f64, n),
            prop::collection::vec(prop::collection::vec(-1.0..1.0f64, n), 4),
            1..5usize,
        )
    })
}

fn cases() -> u32 {
    std::env::var("FOMOH_JIT_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(2000)
}

/// Compares lanes where the runtime's value is finite. Where the runtime produces a
/// non-finite lane from a structural zero (0·∞), the JIT's exact zero is allowed to differ.
fn agree(what: &str, jit: &[f64], rt: &[f64]) -> Result<(), TestCaseError> {
    for (i, (&a, &b)) in jit.iter().zip(rt).enumerate() {
        if b.is_finite() {
            prop_assert!(close(a, b, 1e-12), "{what} lane {i}: jit {a:e} vs runtime {b:e}");
        }
    }
    Ok(())
}

fn same(what: &str, a: &[f64], b: &[f64]) -> Result<(), TestCaseError> {
    for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
        prop_assert!(
            x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
            "{what} lane {i}: {x:e} vs {y:e}"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn compiled_modes_agree_with_runtime_and_interpreter((prog, x, dirs, k) in case()) {
        let p = compile_at(&x, |t| prog.eval(t)).expect("compiles");
        let n = prog.n;
        prop_assert_eq!(p.dim(), n);

        let y = p.value(&x).unwrap();
        agree("value", &[y], &[prog.eval(&x)])?;
        same("value/interp", &[y], &p.interpret(Mode::Primal, &[&x]).unwrap())?;

        let (v1, v2) = (&dirs[0], &dirs[1]);
        let hd = flat_hd(p.hyper_dual(&x, v1, v2).unwrap());
        agree("hyper_dual", &hd, &flat_hd(fomoh_runtime::hyper_dual(|t| prog.eval(t), &x, v1, v2).unwrap()))?;
        same("hyper_dual/interp", &hd, &p.interpret(Mode::HyperDual, &[&x, v1, v2]).unwrap())?;

        let j = flat_jet(p.directional(&x, v1).unwrap());
        agree("directional", &j, &flat_jet(fomoh_runtime::directional(|t| prog.eval(t), &x, v1).unwrap()))?;
        same("directional/interp", &j, &p.interpret(Mode::Jet, &[&x, v1]).unwrap())?;

        let d = &dirs[..k];
        let pk = p.project(&x, d).unwrap();
        let (rk, _) = fomoh_runtime::project(&prog, &x, d).unwrap();
        agree("project", &flat_proj(&pk), &flat_proj(&rk))?;
        let mut parts: Vec<&[f64]> = vec![&x];
        parts.extend(d.iter().map(|v| v.as_slice()));
        let it = p.interpret(Mode::HyperK(k), &parts).unwrap();
        prop_assert!(it[0].to_bits() == pk.value.to_bits() || it[0].is_nan());
        same("project grad/interp", &pk.grad, &it[1..=k])?;
    }
}
