//! Differential testing over random programs: every compiled mode agrees with the runtime
//! (within 1e-12 relative) and with the interpreter over the staged graph (bit for bit).
//!
//! The default run checks `FOMOH_JIT_CASES` (default 2000) random programs, each in four
//! modes (≈8,000 compilations). The generator is in tests/common/random_prog.rs. Set e.g. `FOMOH_JIT_CASES=5000` for a longer run.

mod common;
use common::random_prog::case;
use common::*;
use fomoh_jit::{compile_at, Mode};
use fomoh_runtime::ScalarFn;
use proptest::prelude::*;

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
