//! Helpers shared by the JIT's integration tests.
#![allow(dead_code)]

/// `|a - b| <= tol * max(|a|, |b|)` (both non-finite and equal in kind also passes).
pub fn close(a: f64, b: f64, tol: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a.is_infinite() || b.is_infinite() {
        return a == b;
    }
    (a - b).abs() <= tol * a.abs().max(b.abs()) + 1e-300
}

pub fn assert_close(what: &str, a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len(), "{what}: lengths differ");
    for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
        assert!(close(x, y, tol), "{what}: lane {i} differs: {x:e} vs {y:e} (tol {tol:e})\n{a:?}\n{b:?}");
    }
}

/// Bitwise equality with every NaN equal to every NaN.
pub fn assert_same(what: &str, a: &[f64], b: &[f64]) {
    assert_eq!(a.len(), b.len(), "{what}: lengths differ");
    for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
        assert!(
            x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()) || (x == 0.0 && y == 0.0),
            "{what}: lane {i} differs: {x:e} vs {y:e}"
        );
    }
}

/// The directions of BENCHMARKS.md: `u_j[i] = sin((i + 1) sqrt(j + 2))`.
pub fn direction(j: usize, n: usize) -> Vec<f64> {
    (0..n).map(|i| ((i + 1) as f64 * ((j + 2) as f64).sqrt()).sin()).collect()
}

pub fn flat_hd(h: fomoh_runtime::HyperDual<f64>) -> Vec<f64> {
    vec![h.re, h.e1, h.e2, h.e12]
}

pub fn flat_jet(j: fomoh_runtime::Jet<f64>) -> Vec<f64> {
    vec![j.re, j.d1, j.d2]
}

pub fn flat_proj(p: &fomoh_runtime::Projection<f64>) -> Vec<f64> {
    let mut v = vec![p.value];
    v.extend(&p.grad);
    for r in &p.hess {
        v.extend(r);
    }
    v
}
