//! Differential testing over random programs: every compiled mode agrees with the runtime
//! (within 1e-12 relative) and with the interpreter over the staged graph (bit for bit).
//!
//! The default run checks `FOMOH_JIT_CASES` (default 2000) random programs, each in four
//! modes (≈8,000 compilations). The generator and the checker (shared with the `f32` run in
//! tests/f32.rs) are in tests/common/random_prog.rs. Set e.g. `FOMOH_JIT_CASES=5000` for a
//! longer run.

mod common;
use common::random_prog::{case, check_case, Checks};
use common::*;
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("FOMOH_JIT_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(2000)
}

/// Compares lanes where the runtime's value is finite. Where the runtime produces a
/// non-finite lane from a structural zero (0·∞), the JIT's exact zero is allowed to differ.
fn agree(what: &str, jit: &[f64], rt: &[f64], _same_in_f64: &[f64]) -> Result<(), TestCaseError> {
    for (i, (&a, &b)) in jit.iter().zip(rt).enumerate() {
        if b.is_finite() {
            prop_assert!(close(a, b, 1e-12), "{what} lane {i}: jit {a:e} vs runtime {b:e}");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn compiled_modes_agree_with_runtime_and_interpreter((prog, x, dirs, k) in case()) {
        // traced at `x` itself: a guard failure is a failure; signed zeros must match
        check_case::<f64>(&prog, &x, &dirs, k, &Checks { agree: &agree, zeros_equal: false, guard_may_fail: false })?;
    }
}
