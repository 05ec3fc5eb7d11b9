//! One projection API: `project(x, dirs)` gives the same `Projection` (with its pass count) on
//! every backend, for K known at compile time or at run time; helpers generic over K compile
//! with public items only; the deprecated spellings still compile and agree.
// The closure form `|x| f(x)` is the documented way to call the entry points; keep it.
#![allow(clippy::redundant_closure)]

use fomoh::prelude::*;
use fomoh::{fomoh, Dim, Packed};

fn rosenbrock<S: Scalar>(x: &[S]) -> S {
    let (one, hundred) = (S::one(), S::from_f64(100.0));
    (0..x.len() - 1).map(|i| hundred * (x[i + 1] - x[i] * x[i]).powi(2) + (one - x[i]).powi(2)).sum()
}

#[fomoh]
fn rosen_macro(x: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..x.len() - 1 {
        s += 100.0 * (x[i + 1] - x[i] * x[i]).powi(2) + (1.0 - x[i]).powi(2);
    }
    s
}

fn direction(j: usize, n: usize) -> Vec<f64> {
    (0..n).map(|i| ((i + 1) as f64 * ((j + 2) as f64).sqrt()).sin()).collect()
}

fn assert_same(what: &str, p: &Projection<f64>, r: &Projection<f64>) {
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-11 * a.abs().max(b.abs()).max(1.0);
    assert_eq!((p.grad.len(), p.hess.len()), (r.grad.len(), r.hess.len()), "{what}: K");
    assert!(close(p.value, r.value), "{what}: value {} vs {}", p.value, r.value);
    for i in 0..r.grad.len() {
        assert!(close(p.grad[i], r.grad[i]), "{what}: grad[{i}] {} vs {}", p.grad[i], r.grad[i]);
        for j in 0..r.grad.len() {
            assert!(close(p.hess[i][j], r.hess[i][j]), "{what}: hess[{i}][{j}]");
        }
    }
}

// Helpers generic over K, written with public items only.

/// The closure form: the number type `HyperK<f64, K>` needs the public bound `Dim<K>: Packed`.
fn closure_k<const K: usize>(x: &[f64], dirs: &[Vec<f64>; K]) -> fomoh::Result<Projection<f64>>
where
    Dim<K>: Packed,
{
    fomoh::hyperplane(|v| rosenbrock(v), x, dirs)
}

/// The `#[fomoh]` K-direction pass, through the same closure form.
fn macro_k<const K: usize>(x: &[f64], dirs: &[Vec<f64>; K]) -> fomoh::Result<Projection<f64>>
where
    Dim<K>: Packed,
{
    fomoh::hyperplane(|v| rosen_macro::hyperplane::<K>(v), x, dirs)
}

/// `project` needs no bound at all: an array of any K is `Directions`.
fn jit_k<const K: usize>(
    p: &fomoh::jit::Program,
    x: &[f64],
    dirs: &[Vec<f64>; K],
) -> fomoh::Result<Projection<f64>> {
    p.project(x, dirs)
}

/// The same for any objective and the runtime's free function.
fn objective_k<const K: usize>(
    o: &dyn Objective,
    x: &[f64],
    dirs: &[Vec<f64>; K],
) -> fomoh::Result<Projection<f64>> {
    o.project(x, dirs)
}

fn free_k<const K: usize>(x: &[f64], dirs: &[Vec<f64>; K]) -> fomoh::Result<Projection<f64>> {
    fomoh::project(&fomoh::scalar_fn!(rosenbrock), x, dirs)
}

fn every_form<const K: usize>(n: usize) -> fomoh::Result<()>
where
    Dim<K>: Packed,
{
    let x: Vec<f64> = (0..n).map(|i| 0.3 - 0.1 * i as f64).collect();
    let dirs: [Vec<f64>; K] = core::array::from_fn(|j| direction(j, n));
    let program = fomoh::jit::compile(n, |v| rosenbrock(v))?;
    let reference = closure_k(&x, &dirs)?;
    assert_eq!(reference.passes, 1);
    assert!(reference.hess.iter().flatten().any(|h| h.abs() > 1.0), "K={K}: a Hessian that is not zero");
    let obj = objective(n, fomoh::scalar_fn!(rosenbrock));
    let generated = rosen_macro::objective(n);
    for (what, p) in [
        ("macro", macro_k(&x, &dirs)?),
        ("jit", jit_k(&program, &x, &dirs)?),
        ("objective", objective_k(&obj, &x, &dirs)?),
        ("#[fomoh] objective", objective_k(&generated, &x, &dirs)?),
        ("compiled objective", objective_k(&program, &x, &dirs)?),
        ("free", free_k(&x, &dirs)?),
    ] {
        assert_eq!(p.passes, 1, "{what} K={K}: one pass");
        assert_same(&format!("{what} K={K}"), &p, &reference);
    }
    Ok(())
}

#[test]
fn helpers_generic_over_k_compile_with_public_bounds_and_agree() -> fomoh::Result<()> {
    every_form::<1>(3)?;
    every_form::<4>(6)?;
    every_form::<16>(20)
}

#[test]
fn one_method_takes_arrays_slices_and_vecs_on_every_backend() -> fomoh::Result<()> {
    let n = 5;
    let x = vec![0.9; n];
    let v: Vec<Vec<f64>> = (0..3).map(|j| direction(j, n)).collect();
    let a: [Vec<f64>; 3] = [v[0].clone(), v[1].clone(), v[2].clone()];
    let program = fomoh::jit::compile(n, |t| rosenbrock(t))?;
    let reference = program.project(&x, &a)?;
    for p in [program.project(&x, &v)?, program.project(&x, &v[..])?, program.project(&x, &&v[..])?] {
        assert_eq!(p, reference);
    }
    // data inputs bound: the same method
    let shifted = fomoh::jit::compile_with_inputs(n, &[n], |t, d| {
        let y: Vec<_> = t.iter().zip(d[0]).map(|(&a, &b)| a - b).collect();
        rosenbrock(&y)
    })?;
    let bound = shifted.bind(&[&[0.0; 5]])?;
    assert_eq!(bound.project(&x, &a)?, bound.project(&x, &v)?);
    assert_same("bound", &bound.project(&x, &v[..])?, &reference);
    assert!(matches!(bound.project(&x, &[]), Err(fomoh::Error::InvalidArgument(_))));
    let short = vec![v[0].clone(), v[1][1..].to_vec()];
    assert!(matches!(bound.project(&x, &short), Err(fomoh::Error::Length { .. })));
    assert!(matches!(
        fomoh::project(&fomoh::scalar_fn!(rosenbrock), &x, &short),
        Err(fomoh::Error::Length { .. })
    ));
    Ok(())
}

#[test]
fn pass_counts_are_in_the_projection_on_every_backend() -> fomoh::Result<()> {
    let n = 4;
    let x = vec![-0.5; n];
    let many: Vec<Vec<f64>> = (0..17).map(|j| direction(j, n)).collect();
    let f = fomoh::scalar_fn!(rosenbrock);
    let pairwise = fomoh::project_pairwise(&f, &x, &many)?;
    assert_eq!(pairwise.passes, 17 * 18 / 2);
    let program = fomoh::jit::compile(n, |t| rosenbrock(t))?;
    let generated = rosen_macro::objective(n);
    for (what, p) in [
        ("free", fomoh::project(&f, &x, &many)?),
        ("objective", objective(n, fomoh::scalar_fn!(rosenbrock)).project(&x, &many)?),
        ("#[fomoh]", generated.project(&x, &many)?),
        ("jit method", program.project(&x, &many)?),
        ("jit objective", Objective::project(&program, &x, &many)?),
    ] {
        assert_eq!(p.passes, pairwise.passes, "{what}");
        assert_same(what, &p, &pairwise);
    }
    // a pairwise pass count for the first few directions, one pass for them in one go
    assert_eq!(fomoh::project_pairwise(&f, &x, &many[..3])?.passes, 6);
    assert_eq!(fomoh::project(&f, &x, &many[..3])?.passes, 1);
    Ok(())
}

#[test]
#[allow(deprecated)]
fn the_deprecated_spellings_still_compile_and_agree() -> fomoh::Result<()> {
    let n = 3;
    let x = vec![0.2, -0.4, 1.1];
    let dirs = [direction(0, n), direction(1, n)];
    let program = fomoh::jit::compile(n, |t| rosenbrock(t))?;
    let p = program.hyperplane(&x, &dirs)?;
    assert_eq!(p, program.project(&x, &dirs)?);
    let bound = fomoh::jit::compile_with_inputs(n, &[1], |t, d| rosenbrock(t) * d[0][0])?.bind(&[&[1.0]])?;
    assert_eq!(bound.hyperplane(&x, &dirs)?, bound.project(&x, &dirs)?);
    // the Objective's old method: the projection and its pass count, as before
    let obj = objective(n, fomoh::scalar_fn!(rosenbrock));
    let (q, passes) = obj.hyperplane(&x, &dirs)?;
    assert_eq!((q.clone(), passes), (obj.project(&x, &dirs)?, 1));
    let many: Vec<Vec<f64>> = (0..17).map(|j| direction(j, n)).collect();
    assert_eq!(Objective::hyperplane(&program, &x, &many)?.1, 17 * 18 / 2);
    assert_same("deprecated", &p, &q);
    Ok(())
}

#[test]
fn a_minibatch_and_a_compiled_model_project_in_one_pass() -> fomoh::Result<()> {
    let batch = Dataset::digits()?.head(8)?;
    let model = LogisticRegression::new(64, 10)?;
    let theta = model.init(3);
    let eager = Minibatch::new(&model, &batch)?;
    let compiled = fomoh::jit::compile_model(&model, 8)?;
    let bound = compiled.bind(&batch)?;
    let dirs: Vec<Vec<f64>> = (0..3).map(|j| direction(j, model.num_params())).collect();
    let (a, b) = (eager.project(&theta, &dirs)?, bound.project(&theta, &dirs)?);
    assert_eq!((a.passes, b.passes), (1, 1));
    assert_same("compiled model", &b, &a);
    #[allow(deprecated)]
    let (c, passes) = bound.hyperplane(&theta, &dirs)?;
    assert_eq!((c, passes), (b, 1));
    Ok(())
}
