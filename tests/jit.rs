//! The JIT through the facade: `fomoh::jit::compile` gives the runtime's results with the
//! runtime's types, and a compiled program is an `Objective`.
// The closure form `|x| f(x)` is the documented way to call the entry points; keep it.
#![allow(clippy::redundant_closure)]

use fomoh::prelude::*;

fn rosenbrock<S: Scalar>(x: &[S]) -> S {
    let (one, hundred) = (S::one(), S::from_f64(100.0));
    (0..x.len() - 1).map(|i| hundred * (x[i + 1] - x[i] * x[i]).powi(2) + (one - x[i]).powi(2)).sum()
}

fn direction(j: usize, n: usize) -> Vec<f64> {
    (0..n).map(|i| ((i + 1) as f64 * ((j + 2) as f64).sqrt()).sin()).collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1e-300)
}

#[test]
fn jit_matches_the_runtime_entry_points() -> Result<(), fomoh::Error> {
    let n = 100;
    let x: Vec<f64> = (0..n).map(|i| if i % 2 == 0 { -1.2 } else { 1.0 }).collect();
    let (v1, v2) = (direction(0, n), direction(1, n));
    let compiled = fomoh::jit::compile(n, |x| rosenbrock(x))?;

    let hd: HyperDual<f64> = compiled.hyper_dual(&x, &v1, &v2)?;
    let rt = fomoh::hyper_dual(|x| rosenbrock(x), &x, &v1, &v2)?;
    assert!(close(hd.re, rt.re) && close(hd.e1, rt.e1) && close(hd.e2, rt.e2) && close(hd.e12, rt.e12));

    let dirs: [Vec<f64>; 4] = core::array::from_fn(|j| direction(j, n));
    let p: Projection<f64> = compiled.project(&x, &dirs)?;
    let r = fomoh::hyperplane(|x| rosenbrock(x), &x, &dirs)?;
    assert!(close(p.value, r.value));
    for i in 0..4 {
        assert!(close(p.grad[i], r.grad[i]));
        for j in 0..4 {
            assert!(close(p.hess[i][j], r.hess[i][j]), "H[{i}][{j}]");
        }
    }
    assert!(close(compiled.value(&x)?, rosenbrock(&x)));
    Ok(())
}

#[test]
fn a_compiled_program_is_an_objective() -> Result<(), fomoh::Error> {
    let n = 6;
    let compiled = fomoh::jit::compile_fn(n, &fomoh::scalar_fn!(rosenbrock))?;
    let reference = objective(n, fomoh::scalar_fn!(rosenbrock));
    let obj: &dyn Objective = &compiled;
    let x = vec![0.7; n];
    let dirs: Vec<Vec<f64>> = (0..5).map(|j| direction(j, n)).collect();
    assert_eq!(obj.dim(), n);
    let (p, r) = (obj.project(&x, &dirs)?, reference.project(&x, &dirs)?);
    let passes = p.passes;
    assert_eq!(passes, 1);
    assert!(close(p.hess[1][3], r.hess[1][3]));
    let j = obj.directional(&x, &dirs[0])?;
    let rj = reference.directional(&x, &dirs[0])?;
    assert!(close(j.d2, rj.d2));
    let g = obj.gradient(&x).expect("has a gradient")?;
    let rg = reference.gradient(&x).expect("has a gradient")?;
    for (a, b) in g.iter().zip(&rg) {
        assert!(close(*a, *b));
    }
    Ok(())
}
