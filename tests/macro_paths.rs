//! `#[fomoh]` calls a callee by path (`m::f`, `self::`, `super::`, `crate::`, another crate)
//! and with more arguments than `fomoh::__macro::Callee` takes: each pass calls the callee's
//! pass of the same mode (a `#[fomoh]` function) or the callee itself (a function generic over
//! `S: Scalar`), checked against the same function written generically and run on the number
//! types. Plain `f64` helpers are refused at compile time (`tests/ui/plain_path_call.rs`,
//! `tests/ui/plain_many_args.rs`).

mod common;

use fomoh::{fomoh, scalar_fn, HyperDual, Objective, Scalar};

mod geom {
    use fomoh::{fomoh, Scalar};

    pub fn sq_plus<S: Scalar>(t: S, c: f64) -> S {
        t * t + S::from_f64(c)
    }

    #[fomoh]
    pub fn cube(x: &[f64]) -> f64 {
        x[0] * x[0] * x[0]
    }

    pub mod deeper {
        use fomoh::{fomoh, Scalar};

        pub fn wave<S: Scalar>(t: S) -> S {
            t.sin() * t
        }

        /// Calls up (`super::`) and into itself (`self::`).
        #[fomoh]
        pub fn up_and_in(x: &[f64]) -> f64 {
            super::cube(x) + super::sq_plus(x[1], 0.5) * self::wave(x[2])
        }
    }
}

/// Thirteen active arguments.
#[allow(clippy::too_many_arguments)]
fn sum13<S: Scalar>(a: S, b: S, c: S, d: S, e: S, f: S, g: S, h: S, i: S, j: S, k: S, l: S, m: S) -> S {
    a * b + c * d + e * f + g * h + i * j + k * l + m.exp()
}

/// The same as a `#[fomoh]` function: its passes take thirteen active arguments.
#[fomoh]
#[allow(clippy::too_many_arguments)]
fn sum13f(
    a: f64,
    b: f64,
    c: f64,
    d: f64,
    e: f64,
    f: f64,
    g: f64,
    h: f64,
    i: f64,
    j: f64,
    k: f64,
    l: f64,
    m: f64,
) -> f64 {
    a * b + c * d + e * f + g * h + i * j + k * l + m.exp()
}

#[fomoh]
fn by_path(x: &[f64]) -> f64 {
    let a = geom::sq_plus(x[0], 1.0) * geom::cube(x);
    let b = crate::geom::deeper::up_and_in(x) + self::geom::deeper::wave(x[1]);
    let c = ::fomoh::logsumexp(&[x[0], x[1], x[2]]) + fomoh::logsumexp(x);
    let d = sum13(x[0], x[1], x[2], x[0], x[1], x[2], x[0], x[1], x[2], x[0], x[1], x[2], x[0]);
    let e = crate::sum13(x[2], x[1], x[0], x[2], x[1], x[0], x[2], x[1], x[0], x[2], x[1], x[0], x[1]);
    let f = sum13f(x[1], x[1], x[2], x[0], x[1], x[2], x[0], x[1], x[2], x[0], x[1], x[2], x[2]);
    a + b * c + d - e * f
}

/// 25 active arguments: more than `fomoh::__macro::Callee` takes (a function pointer instead).
#[allow(clippy::too_many_arguments)]
fn sum25<S: Scalar>(
    a: S,
    b: S,
    c: S,
    d: S,
    e: S,
    f: S,
    g: S,
    h: S,
    i: S,
    j: S,
    k: S,
    l: S,
    m: S,
    n: S,
    o: S,
    p: S,
    q: S,
    r: S,
    s: S,
    t: S,
    u: S,
    v: S,
    w: S,
    y: S,
    z: S,
) -> S {
    sum13(a, b, c, d, e, f, g, h, i, j, k, l, m) * sum13(n, o, p, q, r, s, t, u, v, w, y, z, a)
}

#[fomoh]
fn many25(x: &[f64]) -> f64 {
    let (a, b, c) = (x[0], x[1], x[2]);
    sum25(a, b, c, a, b, c, a, b, c, a, b, c, a, b, c, a, b, c, a, b, c, a, b, c, c)
}

fn by_path_g<S: Scalar>(x: &[S]) -> S {
    let cube = |x: &[S]| x[0] * x[0] * x[0];
    let a = geom::sq_plus(x[0], 1.0) * cube(x);
    let up = cube(x) + geom::sq_plus(x[1], 0.5) * geom::deeper::wave(x[2]);
    let b = up + geom::deeper::wave(x[1]);
    let c = fomoh::logsumexp(&[x[0], x[1], x[2]]) + fomoh::logsumexp(x);
    let d = sum13(x[0], x[1], x[2], x[0], x[1], x[2], x[0], x[1], x[2], x[0], x[1], x[2], x[0]);
    let e = sum13(x[2], x[1], x[0], x[2], x[1], x[0], x[2], x[1], x[0], x[2], x[1], x[0], x[1]);
    let f = sum13(x[1], x[1], x[2], x[0], x[1], x[2], x[0], x[1], x[2], x[0], x[1], x[2], x[2]);
    a + b * c + d - e * f
}

#[test]
fn callees_by_path_and_with_many_arguments_run_in_every_pass() {
    let obj = by_path::objective(3);
    let reference = fomoh::objective(3, scalar_fn!(by_path_g));
    let x = [0.4, -0.7, 1.1];
    let (v1, v2) = ([0.3, -0.4, 0.8], [1.0, 0.5, -0.2]);
    let close = |a: f64, b: f64| assert!((a - b).abs() <= 1e-12 * a.abs().max(1.0), "{a} vs {b}");
    close(by_path(&x), reference.value(&x).unwrap());
    close(by_path::generic::<f64>(&x), by_path(&x));
    let seeded =
        [HyperDual::seed(x[0], 1.0, 0.0), HyperDual::seed(x[1], 0.0, 1.0), HyperDual::seed(x[2], 0.0, 0.0)];
    let h = many25::hyper_dual(&seeded);
    let [a, b, c] = seeded;
    let want = sum25(a, b, c, a, b, c, a, b, c, a, b, c, a, b, c, a, b, c, a, b, c, a, b, c, c);
    assert_ne!(want.e12, 0.0);
    assert_eq!((h.re, h.e1, h.e2, h.e12), (want.re, want.e1, want.e2, want.e12));
    assert_ne!(reference.hyper_dual(&x, &v1, &v2).unwrap().e12, 0.0);
    let dirs = vec![v1.to_vec(), v2.to_vec(), vec![0.0, 0.0, 1.0]];
    common::assert_passes_agree(&obj, &reference, &x, (&v1, &v2), &dirs);
}
