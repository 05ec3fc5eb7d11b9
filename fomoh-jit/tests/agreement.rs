//! Compiled programs agree with the runtime (the same rules executed by operator overloading),
//! with the interpreter over the staged graph (bit for bit), and with analytic derivatives.

mod common;
use common::*;
use fomoh_jit::{compile, compile_fn, interp, Mode};
use fomoh_runtime::{scalar_fn, HyperDual, HyperK, Jet, Scalar};

const TOL: f64 = 1e-12;

fn rosenbrock<S: Scalar>(x: &[S]) -> S {
    let (one, hundred) = (S::one(), S::from_f64(100.0));
    (0..x.len() - 1).map(|i| hundred * (x[i + 1] - x[i] * x[i]).powi(2) + (one - x[i]).powi(2)).sum()
}

fn check_all_modes<F: fomoh_runtime::ScalarFn>(f: &F, x: &[f64]) {
    let n = x.len();
    // The straight-line path (compared bit for bit with its staged interpreter below); the
    // rerolled path of the same functions is checked in tests/reroll.rs.
    let straight = fomoh_jit::Options { reroll: false, ..Default::default() };
    let p = fomoh_jit::compile_at_with(x, |x| f.eval(x), &straight).unwrap();
    let (v1, v2) = (direction(0, n), direction(1, n));

    // primal
    let y = p.value(x).unwrap();
    assert!(close(y, f.eval(x), TOL), "value {y} vs {}", f.eval(x));
    assert_same("value vs staged interpreter", &[y], &p.interpret(Mode::Primal, &[x]).unwrap());

    // hyper-dual
    let hd = p.hyper_dual(x, &v1, &v2).unwrap();
    let rt = fomoh_runtime::hyper_dual(|x| f.eval(x), x, &v1, &v2).unwrap();
    assert_close("hyper_dual vs runtime", &flat_hd(hd), &flat_hd(rt), TOL);
    assert_same(
        "hyper_dual vs staged interpreter",
        &flat_hd(hd),
        &p.interpret(Mode::HyperDual, &[x, &v1, &v2]).unwrap(),
    );
    // the interpreter over the traced graph with the runtime's own number type
    let seeds: Vec<HyperDual<f64>> = (0..n).map(|i| HyperDual::seed(x[i], v1[i], v2[i])).collect();
    let it = interp::eval(p.graph(), &seeds).unwrap()[0];
    assert_same("traced interpreter vs runtime", &flat_hd(it), &flat_hd(rt));

    // jet
    let j = p.directional(x, &v1).unwrap();
    let rj = fomoh_runtime::directional(|x| f.eval(x), x, &v1).unwrap();
    assert_close("directional vs runtime", &flat_jet(j), &flat_jet(rj), TOL);
    assert_same(
        "directional vs staged interpreter",
        &flat_jet(j),
        &p.interpret(Mode::Jet, &[x, &v1]).unwrap(),
    );
    let seeds: Vec<Jet<f64>> = (0..n).map(|i| Jet::seed(x[i], v1[i])).collect();
    assert_same(
        "traced interpreter (jet)",
        &flat_jet(interp::eval(p.graph(), &seeds).unwrap()[0]),
        &flat_jet(rj),
    );

    // k directions, one const K through the public generic entry, several through `project`
    let dirs: [Vec<f64>; 3] = core::array::from_fn(|j| direction(j, n));
    let pk = p.project(x, &dirs).unwrap();
    let rk = fomoh_runtime::hyperplane(|x| f.eval(x), x, &dirs).unwrap();
    assert_close("hyperplane K=3 vs runtime", &flat_proj(&pk), &flat_proj(&rk), TOL);
    let seeds: Vec<HyperK<f64, 3>> =
        (0..n).map(|i| HyperK::seed(x[i], core::array::from_fn(|k| dirs[k][i]))).collect();
    let itk: fomoh_runtime::Projection<f64> = interp::eval(p.graph(), &seeds).unwrap()[0].into();
    assert_same("traced interpreter (K=3)", &flat_proj(&itk), &flat_proj(&rk));
    for k in [1usize, 2, 5, 16] {
        let dirs: Vec<Vec<f64>> = (0..k).map(|j| direction(j, n)).collect();
        let pk = p.project(x, &dirs).unwrap();
        let rk = fomoh_runtime::project(f, x, &dirs).unwrap();
        let passes = rk.passes;
        assert_eq!(passes, 1);
        assert_close(&format!("project K={k} vs runtime"), &flat_proj(&pk), &flat_proj(&rk), TOL);
        let mut parts: Vec<&[f64]> = vec![x];
        parts.extend(dirs.iter().map(|d| d.as_slice()));
        let interp_flat = p.interpret(Mode::HyperK(k), &parts).unwrap();
        // the compiled output is packed; compare through the projection
        let mut packed = vec![pk.value];
        packed.extend(&pk.grad);
        for i in 0..k {
            for j in i..k {
                packed.push(pk.hess[i][j]);
            }
        }
        assert_same(&format!("K={k} vs staged interpreter"), &packed, &interp_flat);
    }
}

#[test]
fn rosenbrock_all_modes_agree() {
    let f = scalar_fn!(rosenbrock);
    for n in [2usize, 3, 10] {
        let x: Vec<f64> = (0..n).map(|i| if i % 2 == 0 { -1.2 } else { 1.0 }).collect();
        check_all_modes(&f, &x);
    }
}

#[test]
fn every_elementary_function_agrees() {
    let f = scalar_fn!(zoo);
    for x in points() {
        check_all_modes(&f, &x);
    }
}

#[test]
fn rosenbrock_matches_analytic_derivatives() {
    // f = 100 (y - x²)² + (1 - x)²
    let p = compile(2, rosenbrock).unwrap();
    let (x, y) = (-1.2, 1.0);
    let gx = -400.0 * x * (y - x * x) - 2.0 * (1.0 - x);
    let gy = 200.0 * (y - x * x);
    let (hxx, hxy, hyy) = (1200.0 * x * x - 400.0 * y + 2.0, -400.0 * x, 200.0);
    let pr = p.project(&[x, y], &[vec![1.0, 0.0], vec![0.0, 1.0]]).unwrap();
    assert!(close(pr.value, 24.2, 1e-14));
    assert!(close(pr.grad[0], gx, 1e-13) && close(pr.grad[1], gy, 1e-13));
    assert!(
        close(pr.hess[0][0], hxx, 1e-13)
            && close(pr.hess[0][1], hxy, 1e-13)
            && close(pr.hess[1][1], hyy, 1e-13)
    );
    assert_eq!(pr.hess[0][1], pr.hess[1][0]);
}

#[test]
fn a_sin_and_cos_of_one_argument_agree_with_separate_calls() {
    // sin and cos of one argument share one sincos call in the generated code; the results
    // must equal the separate functions'. f = sin²x + cos x, f' = 2 sin x cos x - sin x.
    let p = compile(1, |x| x[0].sin() * x[0].sin() + x[0].cos()).unwrap();
    let g = p.staged(Mode::HyperDual).unwrap();
    let has = |u| g.nodes.iter().any(|op| matches!(op, fomoh_jit::ir::Op::Unary(v, _) if *v == u));
    assert!(has(fomoh_runtime::UnaryOp::Sin) && has(fomoh_runtime::UnaryOp::Cos));
    for x in [-2.0, 0.3, 1.0, 7.5] {
        let hd = p.hyper_dual(&[x], &[1.0], &[1.0]).unwrap();
        let (s, c) = (f64::sin(x), f64::cos(x));
        assert_eq!(hd.re, s * s + c);
        assert!(close(hd.e1, 2.0 * s * c - s, 1e-14));
        assert!(close(hd.e12, 2.0 * (c * c - s * s) - c, 1e-13));
    }
}

#[test]
fn a_program_is_shared_across_threads() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    let f = scalar_fn!(zoo);
    let p = compile_fn(3, &f).unwrap();
    send_sync(&p);
    let x = points();
    let expect: Vec<Vec<f64>> =
        x.iter().map(|x| flat_hd(p.hyper_dual(x, &[1.0, 0.5, 0.2], &[0.3, 1.0, -1.0]).unwrap())).collect();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..50 {
                    for (x, e) in x.iter().zip(&expect) {
                        let hd = p.hyper_dual(x, &[1.0, 0.5, 0.2], &[0.3, 1.0, -1.0]).unwrap();
                        assert_same("threaded", &flat_hd(hd), e);
                    }
                }
            });
        }
    });
}
