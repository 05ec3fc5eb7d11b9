//! The optimizers against known answers: convex quadratics with known minimizers, FoMoH-KD
//! with k = n against the Newton step, the (1 − K/n) contraction, FGD's unbiasedness, the
//! curvature policies (Robust saddle-free descent; PaperExact against an independent
//! re-implementation of the reference algorithm, with its jitter and identity fallbacks),
//! bad input, schedules, stopping rules and bit-identical checkpoint/resume.

use fomoh::optim::{
    standard_normal, Adam, Checkpoint, Curvature, Fallback, Fgd, Fomoh, FomohBp, FomohKd, Newton,
    NonFinitePolicy, Optimizer, Options, Schedule, Sgd, StopReason, Tangents,
};
use fomoh::{objective, scalar_fn, Error, Objective, Scalar, ScalarFn};
use std::ops::ControlFlow;

/// `f(x) = ½ (x − c)ᵀ A (x − c)`: gradient `A (x − c)`, Hessian `A`, minimizer `c`.
struct Quad {
    a: Vec<Vec<f64>>,
    c: Vec<f64>,
}

impl ScalarFn for Quad {
    fn eval<S: Scalar>(&self, x: &[S]) -> S {
        let e: Vec<S> = x.iter().zip(&self.c).map(|(&xi, &ci)| xi - S::from_f64(ci)).collect();
        let mut s = S::zero();
        for i in 0..e.len() {
            for j in 0..e.len() {
                if self.a[i][j] != 0.0 {
                    s += S::from_f64(0.5 * self.a[i][j]) * e[i] * e[j];
                }
            }
        }
        s
    }
}

/// A well-conditioned SPD matrix `B Bᵀ + I` from a seed.
fn spd(n: usize, seed: u64) -> Vec<Vec<f64>> {
    let b = standard_normal(seed, n * n);
    (0..n)
        .map(|i| {
            (0..n)
                .map(|j| {
                    (0..n).map(|k| b[i * n + k] * b[j * n + k]).sum::<f64>() + f64::from(u8::from(i == j))
                })
                .collect()
        })
        .collect()
}

fn quad(n: usize, seed: u64) -> (Quad, Vec<f64>) {
    let q = Quad { a: spd(n, seed), c: standard_normal(seed + 1000, n) };
    let x0 = standard_normal(seed + 2000, n);
    (q, x0)
}

fn dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>().sqrt()
}

/// A constant in generic code.
fn k<S: Scalar>(v: f64) -> S {
    S::from_f64(v)
}

fn rosenbrock<S: Scalar>(x: &[S]) -> S {
    let (one, hundred) = (S::one(), S::from_f64(100.0));
    (0..x.len() - 1).map(|i| hundred * (x[i + 1] - x[i] * x[i]).powi(2) + (one - x[i]).powi(2)).sum()
}

#[test]
fn newton_solves_a_quadratic_in_one_step_under_both_policies() {
    for policy in [Curvature::Robust, Curvature::PaperExact] {
        let (q, mut x) = quad(6, 1);
        let c = q.c.clone();
        let obj = objective(6, q);
        let mut opt = Newton::new().curvature(policy);
        let s = opt.step(&obj, &mut x).unwrap();
        assert!(dist(&x, &c) < 1e-10, "{policy:?}: {}", dist(&x, &c));
        assert_eq!(s.fallback, Fallback::None);
        assert_eq!(s.passes, 21); // n(n+1)/2 hyper-dual passes
    }
}

#[test]
fn fomoh_kd_with_k_equal_n_is_the_newton_step() {
    // On a quadratic: lands on the minimizer, for k <= 16 (one pass) and k > 16 (pairwise).
    for (n, seed) in [(3, 3), (8, 4), (17, 5)] {
        let (q, mut x) = quad(n, seed);
        let c = q.c.clone();
        let obj = objective(n, q);
        let s = FomohKd::new(n).seed(seed).step(&obj, &mut x).unwrap();
        assert!(dist(&x, &c) < 1e-8 * (1.0 + c.iter().map(|v| v.abs()).sum::<f64>()), "n = {n}");
        assert_eq!(s.passes, if n <= 16 { 1 } else { n * (n + 1) / 2 });
    }
    // On Rosenbrock, at points where the Hessian is indefinite (PaperExact passes it through
    // on both sides) and positive definite (Robust: Cholesky on both sides).
    let obj = objective(4, scalar_fn!(rosenbrock));
    for (x0, policy) in
        [(vec![0.0, 1.0, 0.0, 1.0], Curvature::PaperExact), (vec![1.05, 1.1, 0.95, 0.9], Curvature::Robust)]
    {
        let (mut a, mut b) = (x0.clone(), x0.clone());
        let sn = Newton::new().curvature(policy).step(&obj, &mut a).unwrap();
        let sk = FomohKd::new(4).curvature(policy).seed(11).step(&obj, &mut b).unwrap();
        assert_eq!((sn.fallback.clone(), sk.fallback.clone()), (Fallback::None, Fallback::None));
        // H[0][0] = 2 - 400 x1 + 1200 x0^2 < 0 at the first point: indefinite, passed through.
        assert_eq!(sn.curvature[0] < 0.0, policy == Curvature::PaperExact);
        let step: Vec<f64> = a.iter().zip(&x0).map(|(a, x)| a - x).collect();
        assert!(dist(&a, &b) < 1e-8 * (1.0 + step.iter().map(|v| v.abs()).sum::<f64>()), "{policy:?}");
    }
}

#[test]
fn fomoh_kd_contracts_the_error_by_one_minus_k_over_n_on_average() {
    // f = 1.5 |x - c|^2 (H = 3 I): one FoMoH-KD step projects the error onto the complement of
    // a random K-dimensional subspace, so E[|e1|^2 / |e0|^2] = 1 - K/n exactly (the ratio is
    // Beta((n-K)/2, K/2): sd 0.13 here, so the mean of 400 is within 0.0065 (1 sd)).
    let (n, k) = (20, 5);
    let c = standard_normal(99, n);
    let obj = objective(
        n,
        Quad {
            a: (0..n).map(|i| (0..n).map(|j| if i == j { 3.0 } else { 0.0 }).collect()).collect(),
            c: c.clone(),
        },
    );
    let expect = 1.0 - k as f64 / n as f64;
    let seeds = 400;
    let (mut one, mut ten) = (0.0, 0.0);
    for seed in 0..seeds {
        let mut x = standard_normal(5000 + seed, n);
        let e0 = dist(&x, &c).powi(2);
        let mut opt = FomohKd::new(k).seed(seed);
        opt.step(&obj, &mut x).unwrap();
        one += dist(&x, &c).powi(2) / e0;
        opt.minimize(&obj, &mut x, &Options::iterations(9)).unwrap();
        ten += dist(&x, &c).powi(2) / e0;
    }
    let (one, ten) = (one / seeds as f64, ten / seeds as f64);
    assert!((one - expect).abs() < 0.03, "one-step mean ratio {one}, expected {expect}");
    // After 10 steps E = (1 - K/n)^10 = 0.0563 (coefficient of variation 0.59: 3% for 400 runs).
    let expect10 = expect.powi(10);
    assert!((ten / expect10 - 1.0).abs() < 0.15, "ten-step mean ratio {ten}, expected {expect10}");
}

#[test]
fn fgd_direction_is_an_unbiased_gradient_estimate() {
    // f(x) = g·x has gradient g everywhere; with η = 1 FGD moves by -(g·v) v, whose mean is -g.
    // Per component, Var[(g·v) v_i] = |g|^2 + g_i^2 (Gaussian), |g|^2 - g_i^2 (Rademacher).
    let g = [1.5, -0.5, 2.0, 0.25];
    let obj = objective(4, scalar_fn!(|x| x[0] * k(1.5) - x[1] * k(0.5) + x[2] * k(2.0) + x[3] * k(0.25)));
    let draws = 20_000;
    let g2: f64 = g.iter().map(|v| v * v).sum();
    for (tangents, sign) in [(Tangents::Gaussian, 1.0), (Tangents::Rademacher, -1.0)] {
        let mut x = vec![0.0; 4];
        let report = Fgd::new()
            .learning_rate(1.0)
            .tangents(tangents)
            .seed(3)
            .minimize(&obj, &mut x, &Options::iterations(draws))
            .unwrap();
        assert_eq!(report.passes, draws);
        for i in 0..4 {
            let mean = -x[i] / draws as f64;
            let se = ((g2 + sign * g[i] * g[i]) / draws as f64).sqrt();
            assert!(
                (mean - g[i]).abs() < 5.0 * se,
                "{tangents:?} component {i}: {mean} vs {} (se {se})",
                g[i]
            );
        }
    }
}

#[test]
fn rademacher_tangents_have_unit_entries() {
    // On f = g·x one FGD step with η = 1 moves by -(g·v) v: every |Δθ_i| = |g·v| when v_i = ±1.
    let obj = objective(6, scalar_fn!(|x| x[0] - x[1] * k(2.0) + x[2] + x[3] * k(0.5) + x[4] - x[5]));
    let mut signs = 0;
    for seed in 0..20 {
        let mut x = vec![0.0; 6];
        let s = Fgd::new()
            .learning_rate(1.0)
            .tangents(Tangents::Rademacher)
            .seed(seed)
            .step(&obj, &mut x)
            .unwrap();
        assert!(x.iter().all(|d| d.abs() == s.directional[0].abs()), "{x:?}");
        signs += x.iter().filter(|d| **d > 0.0).count();
    }
    assert!((30..=90).contains(&signs), "{signs} positive of 120");
}

#[test]
fn fomoh_and_fomoh_bp_take_exact_line_minimizing_steps_on_quadratics() {
    // n = 1: FoMoH's step -(g v)/(|h| v^2) v = -g/h is the minimizer for any v.
    let obj = objective(1, Quad { a: vec![vec![4.0]], c: vec![0.7] });
    let mut x = vec![-3.0];
    Fomoh::new().epsilon(0.0).seed(1).step(&obj, &mut x).unwrap();
    assert!((x[0] - 0.7).abs() < 1e-12, "{}", x[0]);
    // H = 2 I: the Newton step along the gradient is the minimizer.
    let c = vec![1.0, -2.0, 0.5];
    let obj = objective(
        3,
        Quad { a: vec![vec![2.0, 0.0, 0.0], vec![0.0, 2.0, 0.0], vec![0.0, 0.0, 2.0]], c: c.clone() },
    );
    let mut x = vec![0.0; 3];
    let s = FomohBp::new().epsilon(0.0).step(&obj, &mut x).unwrap();
    assert!(dist(&x, &c) < 1e-12);
    assert_eq!((s.passes, s.gradient_evals), (1, 1));
    // On a general SPD quadratic FoMoH decreases f monotonically (exact line search, η = 1).
    let (q, mut x) = quad(5, 8);
    let obj = objective(5, q);
    let r = Fomoh::new().seed(2).minimize(&obj, &mut x, &Options::iterations(50)).unwrap();
    assert!(r.losses.windows(2).all(|w| w[1] <= w[0] * (1.0 + 1e-12)));
}

#[test]
fn first_order_baselines_converge_on_a_quadratic() {
    let (q, x0) = quad(4, 6);
    let c = q.c.clone();
    let obj = objective(4, q);
    // The largest eigenvalue is below the trace; η = 1/trace is stable for gradient descent.
    let trace: f64 = (0..4).map(|i| spd(4, 6)[i][i]).sum();
    let mut x = x0.clone();
    Sgd::new().learning_rate(1.0 / trace).minimize(&obj, &mut x, &Options::iterations(3000)).unwrap();
    assert!(dist(&x, &c) < 1e-6, "sgd {}", dist(&x, &c));
    let mut x = x0.clone();
    let sched = Schedule::multi_step([400, 800, 1200], 0.1);
    let r = Adam::new()
        .learning_rate(0.1)
        .schedule(sched)
        .minimize(&obj, &mut x, &Options::iterations(1600))
        .unwrap();
    assert!(dist(&x, &c) < 1e-3, "adam {}", dist(&x, &c));
    assert_eq!((r.passes, r.gradient_evals), (0, 1600));
}

#[test]
fn robust_policy_takes_a_descent_step_on_an_indefinite_projection() {
    // f = x0^2 - x1^2 + x2^2 - 3 x3^2 + x0 x1: indefinite everywhere.
    let f = scalar_fn!(|x| x[0] * x[0] - x[1] * x[1] + x[2] * x[2] - x[3] * x[3] * k(3.0) + x[0] * x[1]);
    let obj = objective(4, f);
    let mut saddle_free = 0;
    for seed in 0..50 {
        for k in 1..=4 {
            let x0 = standard_normal(700 + seed, 4);
            let g = obj.gradient(&x0).unwrap().unwrap();
            let mut x = x0.clone();
            let s = FomohKd::new(k).seed(seed).step(&obj, &mut x).unwrap();
            let dx: Vec<f64> = x.iter().zip(&x0).map(|(a, b)| a - b).collect();
            let slope: f64 = g.iter().zip(&dx).map(|(a, b)| a * b).sum();
            assert!(slope <= 0.0, "seed {seed} k {k}: g·Δθ = {slope} ({:?})", s.fallback);
            if let Fallback::SaddleFree { negative, .. } = s.fallback {
                assert!(negative >= 1);
                saddle_free += 1;
            }
        }
    }
    assert!(saddle_free > 50, "the saddle-free branch ran {saddle_free} times");
    // Newton: PaperExact goes to the saddle point (0), Robust goes downhill.
    let mut x = vec![0.3, -0.2, 0.5, 0.1];
    let f0 = obj.value(&x).unwrap();
    let s = Newton::new().curvature(Curvature::PaperExact).step(&obj, &mut x).unwrap();
    assert_eq!(s.fallback, Fallback::None);
    assert!(x.iter().all(|v| v.abs() < 1e-12), "{x:?}");
    let mut x = vec![0.3, -0.2, 0.5, 0.1];
    let s = Newton::new().step(&obj, &mut x).unwrap();
    assert!(matches!(s.fallback, Fallback::SaddleFree { negative: 2, floored: 0 }));
    assert!(obj.value(&x).unwrap() < f0);
}

/// The reference algorithm (the paper's code) for k = 2, written independently: pairwise
/// hyper-dual passes, a closed-form 2×2 inverse, the same tangent stream.
fn reference_kd2_step(x: &[f64], dirs: &[Vec<f64>], lr: f64) -> Vec<f64> {
    let p = fomoh::project_pairwise(&scalar_fn!(rosenbrock), x, dirs).unwrap();
    let h = &p.hess;
    let det = h[0][0] * h[1][1] - h[0][1] * h[1][0];
    assert!(det != 0.0);
    let inv = [[h[1][1] / det, -h[0][1] / det], [-h[1][0] / det, h[0][0] / det]];
    let kappa =
        [-(inv[0][0] * p.grad[0] + inv[0][1] * p.grad[1]), -(inv[1][0] * p.grad[0] + inv[1][1] * p.grad[1])];
    (0..x.len()).map(|i| x[i] + lr * (kappa[0] * dirs[0][i] + kappa[1] * dirs[1][i])).collect()
}

#[test]
fn paper_exact_reproduces_the_reference_algorithm() {
    let n = 6;
    let obj = objective(n, scalar_fn!(rosenbrock));
    let steps = 30;
    let seed = 17;
    let stream = standard_normal(seed, steps * 2 * n);
    // Start where the Hessian is indefinite (d²f/dx0² = 2 - 400 x1 < 0).
    let mut x = vec![0.0, 1.0, 0.0, 1.0, 0.0, 1.0];
    let mut opt = FomohKd::new(2).curvature(Curvature::PaperExact).learning_rate(0.2).seed(seed);
    let mut indefinite = 0;
    for t in 0..steps {
        let base = t * 2 * n;
        let dirs = vec![stream[base..base + n].to_vec(), stream[base + n..base + 2 * n].to_vec()];
        let expect = reference_kd2_step(&x, &dirs, 0.2);
        let s = opt.step(&obj, &mut x).unwrap();
        assert_eq!(s.fallback, Fallback::None);
        let h = &s.curvature;
        indefinite += usize::from(h[0] * h[3] - h[1] * h[2] < 0.0 || h[0] < 0.0);
        let scale = 1.0 + expect.iter().map(|v| v.abs()).sum::<f64>();
        assert!(dist(&x, &expect) < 1e-9 * scale, "step {t}: {:?} vs {expect:?}", x);
        x = expect; // continue from the reference point
    }
    eprintln!("indefinite H̃ in {indefinite} of {steps} steps");
    assert!(indefinite > 0, "the trajectory should meet an indefinite H̃ (passed through)");
}

#[test]
fn paper_exact_jitters_only_when_singular_then_falls_back_to_identity() {
    // H = diag(4, 0): exactly singular; H + 1e-3 I is regular -> Jitter { retry 0 }.
    let obj = objective(2, scalar_fn!(|x| x[0] * x[0] * k(2.0) + x[1] * k(3.0)));
    let mut x = vec![1.0, 1.0];
    let s = Newton::new().curvature(Curvature::PaperExact).step(&obj, &mut x).unwrap();
    assert_eq!(s.fallback, Fallback::Jitter { retry: 0, jitter: 1e-3 });
    assert!((x[0] - (1.0 - 4.0 / (4.0 + 1e-3))).abs() < 1e-14);
    assert!((x[1] - (1.0 - 3.0 / 1e-3)).abs() < 1e-9);
    // H = diag(0, -j0, ..., -j4) with j_t = 1e-3 10^t: H + j_t I is singular for every retry
    // -> the identity, i.e. a gradient step.
    struct Trap;
    impl ScalarFn for Trap {
        fn eval<S: Scalar>(&self, x: &[S]) -> S {
            let mut s = x[0] * k(0.5);
            for t in 0..5 {
                let j = 1e-3 * 10f64.powi(t);
                s -= S::from_f64(0.5 * j) * x[t as usize + 1].powi(2);
            }
            s
        }
    }
    let obj = objective(6, Trap);
    let x0 = vec![1.0, 0.1, 0.2, 0.3, 0.4, 0.5];
    let g = obj.gradient(&x0).unwrap().unwrap();
    let mut x = x0.clone();
    let s = Newton::new().curvature(Curvature::PaperExact).learning_rate(0.5).step(&obj, &mut x).unwrap();
    assert_eq!(s.fallback, Fallback::Identity);
    for i in 0..6 {
        assert_eq!(x[i], x0[i] - 0.5 * g[i]);
    }
    // FoMoH-KD on a linear function: H̃ = 0 -> jitter (PaperExact), identity (Robust).
    let obj = objective(3, scalar_fn!(|x| x[0] + x[1] * k(2.0) - x[2]));
    let s = FomohKd::new(2).curvature(Curvature::PaperExact).step(&obj, &mut [0.0; 3]).unwrap();
    assert_eq!(s.fallback, Fallback::Jitter { retry: 0, jitter: 1e-3 });
    let s = FomohKd::new(2).step(&obj, &mut [0.0; 3]).unwrap();
    assert_eq!(s.fallback, Fallback::Identity);
}

#[test]
fn bad_input_errs_or_skips_and_never_corrupts_theta() {
    let obj = objective(2, scalar_fn!(|x| (x[0] * x[1]).ln() + x[0] * x[0]));
    // Non-finite θ: an error, θ untouched.
    let mut x = vec![f64::NAN, 1.0];
    assert!(matches!(Fomoh::new().step(&obj, &mut x), Err(Error::NonFinite(_))));
    assert!(x[0].is_nan() && x[1] == 1.0);
    // Wrong length.
    assert!(matches!(Fgd::new().step(&obj, &mut [1.0]), Err(Error::Length { .. })));
    // A NaN loss (ln of a negative number): Err by default...
    let mut x = vec![-1.0, 1.0];
    for opt in [
        Box::new(FomohKd::new(2)) as Box<dyn Optimizer>,
        Box::new(Fomoh::new()),
        Box::new(Newton::new()),
        Box::new(Adam::new()),
        Box::new(FomohBp::new()),
    ] {
        let mut opt = opt;
        assert!(matches!(opt.step(&obj, &mut x), Err(Error::NonFinite(_))), "{}", opt.name());
        assert_eq!(x, vec![-1.0, 1.0]);
    }
    // ... or a skipped step recorded in the report.
    let mut opt = FomohKd::new(2).on_non_finite(NonFinitePolicy::Skip);
    let r = opt.minimize(&obj, &mut x, &Options::iterations(3)).unwrap();
    assert_eq!((r.iterations, r.fallbacks.skipped), (3, 3));
    assert_eq!(x, vec![-1.0, 1.0]);
    let mut adam = Adam::new().on_non_finite(NonFinitePolicy::Skip);
    assert!(adam.step(&obj, &mut x).unwrap().skipped.is_some());
    // Adam's moments were not touched by the skipped step: a good step afterwards equals a
    // fresh Adam's first step.
    let mut a = vec![1.0, 1.0];
    let mut b = a.clone();
    adam.step(&obj, &mut a).unwrap();
    Adam::new().step(&obj, &mut b).unwrap();
    assert_eq!(a, b);
    // Bad settings.
    assert!(matches!(
        Fgd::new().learning_rate(f64::NAN).step(&obj, &mut [1.0, 1.0]),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(FomohKd::new(0).step(&obj, &mut [1.0, 1.0]), Err(Error::InvalidArgument(_))));
    // No gradient source.
    struct NoGrad;
    impl Objective for NoGrad {
        fn dim(&self) -> usize {
            1
        }
        fn value(&self, x: &[f64]) -> fomoh::Result<f64> {
            Ok(x[0] * x[0])
        }
        fn hyper_dual(&self, x: &[f64], v1: &[f64], v2: &[f64]) -> fomoh::Result<fomoh::HyperDual<f64>> {
            fomoh::hyper_dual(|x| x[0] * x[0], x, v1, v2)
        }
    }
    assert!(matches!(Sgd::new().step(&NoGrad, &mut [1.0]), Err(Error::Unsupported(_))));
    // The default (pairwise) hyperplane of a user objective serves FoMoH-KD.
    let mut x = vec![2.0];
    let s = FomohKd::new(1).step(&NoGrad, &mut x).unwrap();
    assert!(x[0].abs() < 1e-15 && s.passes == 1);
}

#[test]
fn same_seed_same_run_bit_for_bit_and_schedules_decay() {
    let obj = objective(5, scalar_fn!(rosenbrock));
    let run = |seed: u64, tangents: Tangents| {
        let mut x = standard_normal(4, 5);
        let r = FomohKd::new(3)
            .seed(seed)
            .tangents(tangents)
            .minimize(&obj, &mut x, &Options::iterations(20))
            .unwrap();
        (x.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), r.losses)
    };
    for t in [Tangents::Gaussian, Tangents::Rademacher] {
        assert_eq!(run(1, t), run(1, t));
        assert_ne!(run(1, t).0, run(2, t).0);
    }
    let mut lrs = vec![];
    let mut x = vec![0.5; 5];
    Fgd::new()
        .learning_rate(1e-4)
        .schedule(Schedule::multi_step([2, 4], 0.5))
        .minimize_with(&obj, &mut x, &Options::iterations(5), &mut |s| {
            lrs.push(s.learning_rate);
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(lrs, vec![1e-4, 1e-4, 0.5e-4, 0.5e-4, 0.25e-4]);
}

#[test]
fn minimize_stops_by_iterations_tolerance_time_and_callback() {
    let (q, x0) = quad(3, 9);
    let obj = objective(3, q);
    let mut x = x0.clone();
    let r = Newton::new().minimize(&obj, &mut x, &Options::iterations(100).loss_tolerance(1e-20)).unwrap();
    assert_eq!(r.stop, StopReason::LossTolerance);
    assert!(r.iterations <= 2 && r.final_loss() <= 1e-20);
    assert_eq!(r.losses.len(), r.iterations + 1);
    let mut x = x0.clone();
    let r = Fgd::new()
        .minimize(&obj, &mut x, &Options::iterations(100).time_limit(std::time::Duration::ZERO))
        .unwrap();
    assert_eq!((r.stop, r.iterations, r.losses.len()), (StopReason::TimeLimit, 0, 1));
    let mut x = x0.clone();
    let mut seen = 0;
    let r = Fomoh::new()
        .minimize_with(&obj, &mut x, &Options::iterations(100), &mut |s| {
            seen += 1;
            if s.iteration == 6 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
    assert_eq!((r.stop, r.iterations, seen), (StopReason::Callback, 7, 7));
    let mut x = x0;
    let r = Fomoh::new().minimize(&obj, &mut x, &Options::iterations(12)).unwrap();
    assert_eq!((r.stop, r.iterations, r.losses.len(), r.passes), (StopReason::Iterations, 12, 13, 12));
    assert_eq!(r.final_loss(), obj.value(&x).unwrap());
}

/// Runs `steps` uninterrupted, and `cut` steps + checkpoint + load + the rest; both must agree
/// bit for bit (θ, losses, and the optimizer state itself).
fn resume_is_bit_identical<O>(make: impl Fn() -> O, obj: &dyn Objective, x0: &[f64], steps: usize, cut: usize)
where
    O: Optimizer + serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ckpt.json");
    let mut a = make();
    let mut xa = x0.to_vec();
    let ra = a.minimize(obj, &mut xa, &Options::iterations(steps)).unwrap();

    let mut b = make();
    let mut xb = x0.to_vec();
    let rb1 = b.minimize(obj, &mut xb, &Options::iterations(cut)).unwrap();
    Checkpoint::new(b, xb, rb1).save(&path).unwrap();
    let ck: Checkpoint<O> = Checkpoint::load(&path).unwrap();
    let (mut b, mut xb, rb1) = (ck.optimizer, ck.theta, ck.report);
    let rb2 = b.minimize(obj, &mut xb, &Options::iterations(steps - cut)).unwrap();

    assert_eq!(
        xa.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        xb.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
    let mut lb = rb1.losses[..cut].to_vec();
    lb.extend(&rb2.losses);
    assert_eq!(
        ra.losses.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        lb.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
    assert_eq!(a, b, "optimizer state after resume");
    // The atomic write left no temporary file behind.
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("ckpt.json")]);
}

#[test]
fn checkpoint_resume_is_bit_identical() {
    let obj = objective(6, scalar_fn!(rosenbrock));
    let x0 = standard_normal(21, 6);
    resume_is_bit_identical(|| FomohKd::new(3).seed(5).curvature(Curvature::PaperExact), &obj, &x0, 25, 11);
    resume_is_bit_identical(|| FomohKd::new(2).seed(6).tangents(Tangents::Rademacher), &obj, &x0, 25, 7);
    resume_is_bit_identical(
        || Fgd::new().seed(7).schedule(Schedule::multi_step([5, 15], 0.5)),
        &obj,
        &x0,
        20,
        10,
    );
    resume_is_bit_identical(|| Fomoh::new().seed(8).on_non_finite(NonFinitePolicy::Skip), &obj, &x0, 20, 3);
    resume_is_bit_identical(|| Adam::new().learning_rate(0.05), &obj, &x0, 20, 9);
}

#[test]
fn checkpoint_load_rejects_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.json");
    std::fs::write(&path, b"{\"format\": 1, \"optimizer\": ").unwrap();
    assert!(matches!(Checkpoint::<Fgd>::load(&path), Err(Error::Data { .. })));
    assert!(matches!(Checkpoint::<Fgd>::load(dir.path().join("missing.json")), Err(Error::Io { .. })));
    let c = Checkpoint::new(Fgd::new(), vec![f64::NAN], Default::default());
    assert!(matches!(c.save(&path), Err(Error::NonFinite(_))));
    // A checkpoint of one optimizer does not load as another.
    Checkpoint::new(Adam::new(), vec![1.0], Default::default()).save(&path).unwrap();
    assert!(matches!(Checkpoint::<FomohKd>::load(&path), Err(Error::Data { .. })));
}
