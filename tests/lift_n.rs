//! The chain rule for a function of several arguments (`lift_n` of `HyperDual`, `Jet` and
//! `HyperK`), against the numbers' own arithmetic applied to the same function, and against
//! `lift1`/`lift2` for one and two arguments.

use fomoh::{packed_index, BinaryOp, Error, HyperDual, HyperK, Jet, Scalar, UnaryOp};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * (1.0 + a.abs().max(b.abs()))
}

/// `f(x, y, z) = x·y·sin z + exp(x)·z²`: value, gradient and packed Hessian in closed form.
fn local(p: [f64; 3]) -> (f64, Vec<f64>, Vec<f64>) {
    let [x, y, z] = p;
    let (s, c, e) = (z.sin(), z.cos(), x.exp());
    let f = x * y * s + e * z * z;
    let g = vec![y * s + e * z * z, x * s, x * y * c + 2.0 * e * z];
    let h = [
        [e * z * z, s, y * c + 2.0 * e * z],
        [s, 0.0, x * c],
        [y * c + 2.0 * e * z, x * c, -x * y * s + 2.0 * e],
    ];
    let mut packed = vec![0.0; 6];
    for a in 0..3 {
        for b in a..3 {
            packed[packed_index(3, a, b)] = h[a][b];
        }
    }
    (f, g, packed)
}

/// The same function in the numbers' arithmetic.
fn direct<S: Scalar>(u: &[S]) -> S {
    u[0] * u[1] * u[2].sin() + u[0].exp() * u[2] * u[2]
}

/// Arguments that are themselves results of earlier operations (all lanes non-zero).
fn args<S: Scalar>(seeds: &[S]) -> Vec<S> {
    vec![seeds[0].tanh() + seeds[1], seeds[1] * seeds[2], (seeds[2] - seeds[0]).sin()]
}

#[test]
fn hyper_dual_lift_n_is_the_function_applied() {
    let x = [0.3, -0.7, 1.1];
    let (v1, v2) = ([0.5, -1.0, 0.25], [1.5, 0.2, -0.75]);
    let seeds: Vec<HyperDual<f64>> = (0..3).map(|i| HyperDual::new(x[i], v1[i], v2[i], 0.0)).collect();
    let u = args(&seeds);
    let (f, g, h) = local([u[0].re, u[1].re, u[2].re]);
    let composed = HyperDual::lift_n(&u, f, &g, &h).unwrap();
    let want = direct(&u);
    for (a, b) in
        [(composed.re, want.re), (composed.e1, want.e1), (composed.e2, want.e2), (composed.e12, want.e12)]
    {
        assert!(close(a, b), "{composed:?} vs {want:?}");
    }
}

#[test]
fn jet_lift_n_is_the_function_applied() {
    let x = [0.9, 0.4, -1.3];
    let v = [0.5, -1.0, 0.25];
    let seeds: Vec<Jet<f64>> = (0..3).map(|i| Jet::new(x[i], v[i], 0.0)).collect();
    let u = args(&seeds);
    let (f, g, h) = local([u[0].re, u[1].re, u[2].re]);
    let composed = Jet::lift_n(&u, f, &g, &h).unwrap();
    let want = direct(&u);
    for (a, b) in [(composed.re, want.re), (composed.d1, want.d1), (composed.d2, want.d2)] {
        assert!(close(a, b), "{composed:?} vs {want:?}");
    }
}

#[test]
fn hyper_k_lift_n_is_the_function_applied() {
    let x = [-0.2, 0.8, 0.6];
    let dirs = [[1.0, 0.0, 0.5], [-0.3, 1.0, 0.0], [0.2, 0.7, -1.0], [0.0, -0.4, 0.9]];
    let seeds: Vec<HyperK<f64, 4>> = (0..3)
        .map(|i| {
            let mut s = HyperK::<f64, 4>::constant(x[i]);
            for (k, d) in dirs.iter().enumerate() {
                s.grad[k] = d[i];
            }
            s
        })
        .collect();
    let u = args(&seeds);
    let (f, g, h) = local([u[0].re, u[1].re, u[2].re]);
    let composed = HyperK::lift_n(&u, f, &g, &h).unwrap();
    let want = direct(&u);
    assert!(close(composed.re, want.re));
    for k in 0..4 {
        assert!(close(composed.grad[k], want.grad[k]), "grad {k}: {composed:?} vs {want:?}");
    }
    for (p, (a, b)) in composed.hess.iter().zip(want.hess.iter()).enumerate() {
        assert!(close(*a, *b), "hess {p}: {a} vs {b}");
    }
    // the block is not trivially zero: the test compares something
    assert!(want.hess.iter().all(|h| h.abs() > 1e-6), "{want:?}");
}

#[test]
fn one_and_two_arguments_are_lift1_and_lift2() {
    let a = HyperDual::new(0.7, 0.3, -1.2, 0.4);
    let b = HyperDual::new(-1.1, 0.9, 0.5, -0.2);
    let r = UnaryOp::Atan.rule(a.re);
    let one = HyperDual::lift_n(&[a], r.f, &[r.d1], &[r.d2]).unwrap();
    let lifted = a.lift1(r);
    for (x, y) in [(one.re, lifted.re), (one.e1, lifted.e1), (one.e2, lifted.e2), (one.e12, lifted.e12)] {
        assert!(close(x, y), "{one:?} vs {lifted:?}");
    }
    let p = BinaryOp::Atan2.partials(a.re, b.re);
    let two = HyperDual::lift_n(&[a, b], p.f, &[p.fx, p.fy], &[p.fxx, p.fxy, p.fyy]).unwrap();
    let lifted = a.lift2(&b, p);
    for (x, y) in [(two.re, lifted.re), (two.e1, lifted.e1), (two.e2, lifted.e2), (two.e12, lifted.e12)] {
        assert!(close(x, y), "{two:?} vs {lifted:?}");
    }
}

#[test]
fn wrong_lengths_are_length_errors() {
    let a = Jet::new(1.0, 1.0, 0.0);
    assert!(matches!(
        Jet::lift_n(&[a, a], 1.0, &[1.0], &[0.0; 3]),
        Err(Error::Length { expected: 2, found: 1, .. })
    ));
    assert!(matches!(
        Jet::lift_n(&[a, a], 1.0, &[1.0, 1.0], &[0.0; 2]),
        Err(Error::Length { expected: 3, found: 2, .. })
    ));
    // no argument: a constant
    let c = Jet::<f64>::lift_n(&[], 2.5, &[], &[]).unwrap();
    assert_eq!((c.re, c.d1, c.d2), (2.5, 0.0, 0.0));
}
