//! FoMoH-KD under `Curvature::Damped` (adaptive Levenberg–Marquardt damping with a ratio
//! test) and with the previous step as a direction: the Newton step where the quadratic
//! model is good, monotone decrease where the paper's step diverges, the previous step as the
//! first direction, validation and bit-identical resume.

use fomoh::optim::{standard_normal, Curvature, Fallback, FomohKd, Newton, Optimizer, Options};
use fomoh::{objective, scalar_fn, Error, Objective, Scalar, ScalarFn};

/// `f(x) = ½ Σ a_i (x_i − c_i)²`.
struct Diag {
    a: Vec<f64>,
    c: Vec<f64>,
}

impl ScalarFn for Diag {
    fn eval<S: Scalar>(&self, x: &[S]) -> S {
        let mut s = S::zero();
        for ((&xi, &a), &c) in x.iter().zip(&self.a).zip(&self.c) {
            let e = xi - S::from_f64(c);
            s += S::from_f64(0.5 * a) * e * e;
        }
        s
    }
}

/// `Σ √(1 + x_i²)`: convex, minimum `n` at 0, curvature vanishing away from 0, so the Newton
/// step from `|x| > 1` overshoots (`x ← −x³` in one dimension).
fn soft_abs<S: Scalar>(x: &[S]) -> S {
    x.iter().map(|&v| (S::one() + v * v).sqrt()).sum()
}

fn dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>().sqrt()
}

#[test]
fn where_the_model_is_exact_the_damped_step_is_the_newton_step() {
    let n = 6;
    let q = Diag { a: (1..=n).map(|i| i as f64 * 3.0).collect(), c: standard_normal(1, n) };
    let c = q.c.clone();
    let obj = objective(n, q);
    let mut x = standard_normal(2, n);
    let mut opt = FomohKd::new(n).curvature(Curvature::Damped).seed(3);
    let s = opt.step(&obj, &mut x).unwrap();
    assert!(dist(&x, &c) < 1e-9, "{}", dist(&x, &c));
    assert_eq!(s.passes, 2, "the k-direction pass and the trial's primal pass");
    match s.fallback {
        Fallback::Damped { lambda, rho, rejected } => {
            assert_eq!(lambda, 0.0);
            assert!((rho - 1.0).abs() < 1e-9, "ρ = {rho}");
            assert!(!rejected);
        }
        f => panic!("fallback {f:?}"),
    }
    assert_eq!(opt.damping(), 0.0);
}

#[test]
fn the_paper_step_diverges_where_the_damped_step_decreases_monotonically() {
    // K = n: the full Newton step, x ← −x³ per coordinate from x = 1.5.
    let n = 8;
    let obj = objective(n, scalar_fn!(soft_abs));
    let x0 = vec![1.5; n];
    let f0 = obj.value(&x0).unwrap();

    let mut x = x0.clone();
    let mut paper = FomohKd::new(n).curvature(Curvature::PaperExact).learning_rate(1.0).seed(5);
    let mut worst = f0;
    for _ in 0..10 {
        if paper.step(&obj, &mut x).is_err() {
            worst = f64::INFINITY;
            break;
        }
        worst = worst.max(obj.value(&x).unwrap_or(f64::INFINITY));
    }
    assert!(worst > 2.0 * f0, "the paper's step should blow up here: max loss {worst} from {f0}");

    let mut x = x0.clone();
    let mut opt = FomohKd::new(n).curvature(Curvature::Damped).learning_rate(1.0).seed(5);
    let mut last = f0;
    let mut damped_steps = 0;
    for _ in 0..100 {
        let s = opt.step(&obj, &mut x).unwrap();
        let f = obj.value(&x).unwrap();
        assert!(f <= last, "loss rose from {last} to {f}");
        last = f;
        if let Fallback::Damped { lambda, .. } = s.fallback {
            damped_steps += usize::from(lambda > 0.0);
        }
    }
    assert!(damped_steps > 0, "the damping should have been needed");
    assert!(last - n as f64 <= 1e-6, "loss {last}, minimum {n}");
}

#[test]
fn newton_under_damped_descends_at_an_indefinite_point() {
    fn rosenbrock<S: Scalar>(x: &[S]) -> S {
        let (one, hundred) = (S::one(), S::from_f64(100.0));
        (0..x.len() - 1).map(|i| hundred * (x[i + 1] - x[i] * x[i]).powi(2) + (one - x[i]).powi(2)).sum()
    }
    let obj = objective(4, scalar_fn!(rosenbrock));
    let mut x = vec![0.0, 1.0, 0.0, 1.0];
    let f0 = obj.value(&x).unwrap();
    let mut opt = Newton::new().curvature(Curvature::Damped).learning_rate(0.1);
    let s = opt.step(&obj, &mut x).unwrap();
    assert!(matches!(s.fallback, Fallback::Damped { lambda, .. } if lambda > 0.0), "{:?}", s.fallback);
    assert!(obj.value(&x).unwrap() < f0);
}

#[test]
fn the_previous_step_is_the_first_direction() {
    // On a quadratic each (undamped, η = 1) step minimizes exactly over its subspace, so the
    // gradient after it is orthogonal to the step: the next step's first directional
    // derivative (along the previous step) is 0, while fresh directions see the gradient.
    let n = 30;
    let a: Vec<f64> = (0..n).map(|i| 10f64.powf(2.0 * i as f64 / (n - 1) as f64)).collect();
    let obj = objective(n, Diag { a, c: standard_normal(7, n) });
    let mut x = vec![0.0; n];
    for (prev, expect_zero) in [(true, true), (false, false)] {
        let mut opt = FomohKd::new(3).previous_step(prev).seed(4);
        opt.step(&obj, &mut x).unwrap();
        for _ in 0..5 {
            let s = opt.step(&obj, &mut x).unwrap();
            let scale = s.directional.iter().map(|d| d.abs()).fold(0.0, f64::max);
            let first = s.directional[0].abs();
            assert_eq!(first < 1e-9 * scale, expect_zero, "previous_step {prev}: F = {:?}", s.directional);
        }
    }
}

#[test]
fn bad_settings_and_states_are_errors() {
    let obj = objective(3, scalar_fn!(soft_abs));
    let mut x = vec![1.0; 3];
    let e = FomohKd::new(1).previous_step(true).step(&obj, &mut x).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
    // A damaged checkpoint: negative damping.
    let opt = FomohKd::new(2).curvature(Curvature::Damped);
    let mut v = serde_json::to_value(&opt).unwrap();
    v["lambda"] = serde_json::json!(-1.0);
    let bad: FomohKd = serde_json::from_value(v).unwrap();
    assert!(matches!(bad.validate(), Err(Error::InvalidArgument(_))));
    assert_eq!(x, vec![1.0; 3]);
}

#[test]
fn a_saved_damped_run_with_the_previous_step_resumes_bit_identically() {
    let n = 12;
    let obj = objective(n, scalar_fn!(soft_abs));
    let mut opt = FomohKd::new(3).curvature(Curvature::Damped).previous_step(true).seed(9);
    let mut x = vec![2.0; n];
    opt.minimize(&obj, &mut x, &Options::iterations(7)).unwrap();
    let saved = serde_json::to_string(&opt).unwrap();
    let mut y = x.clone();
    let mut resumed: FomohKd = serde_json::from_str(&saved).unwrap();
    assert_eq!(resumed, opt);
    opt.minimize(&obj, &mut x, &Options::iterations(9)).unwrap();
    resumed.minimize(&obj, &mut y, &Options::iterations(9)).unwrap();
    assert_eq!(x, y);
}
