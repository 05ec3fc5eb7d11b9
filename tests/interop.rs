//! The number types in the numerics ecosystem: num-traits, `Display`, serde, ndarray and
//! nalgebra; directions and projections as nalgebra and ndarray matrices.
//!
//! Derivatives of generic code run on the numbers are compared with the runtime's own
//! derivatives of the same computation written directly against `Scalar`. The features
//! `nalgebra`, `ndarray` and `serde` are on in every test build (the dev-dependencies turn
//! them on), so `cargo test --workspace` runs these.

use fomoh::{HyperDual, HyperK, Jet, Projection, Scalar};
use ndarray::Array1;
use num_traits::{FloatConst, FromPrimitive, Num, NumCast, One, ToPrimitive, Zero};

fn assert_close(a: f64, b: f64, tol: f64, what: &str) {
    assert!((a - b).abs() <= tol * (1.0 + b.abs()), "{what}: {a} vs {b}");
}

/// The hyper-dual Hessian, the jet gradient and a two-direction `HyperK` projection of
/// `subject` equal those of `reference`; the reference's Hessian is not zero (the
/// comparison is not vacuous).
macro_rules! assert_same_derivatives {
    ($subject:expr, $reference:expr, $x:expr) => {{
        let x: &[f64] = $x;
        let n = x.len();
        let (hs, hr) =
            (fomoh::hessian(|v| $subject(v), x).unwrap(), fomoh::hessian(|v| $reference(v), x).unwrap());
        assert!(hr.iter().flatten().any(|h| h.abs() > 1e-3), "reference Hessian is zero: {hr:?}");
        for i in 0..n {
            for j in 0..n {
                assert_close(hs[i][j], hr[i][j], 1e-10, &format!("H[{i}][{j}]"));
            }
        }
        let (gs, gr) =
            (fomoh::gradient(|v| $subject(v), x).unwrap(), fomoh::gradient(|v| $reference(v), x).unwrap());
        for i in 0..n {
            assert_close(gs[i], gr[i], 1e-10, &format!("grad[{i}]"));
        }
        let dirs = [
            (0..n).map(|i| (i as f64 + 1.0).sin()).collect::<Vec<_>>(),
            (0..n).map(|i| 0.5 - i as f64).collect(),
        ];
        let (ps, pr) = (
            fomoh::hyperplane(|v| $subject(v), x, &dirs).unwrap(),
            fomoh::hyperplane(|v| $reference(v), x, &dirs).unwrap(),
        );
        assert_close(ps.value, pr.value, 1e-12, "value");
        for i in 0..2 {
            assert_close(ps.grad[i], pr.grad[i], 1e-10, "projected grad");
            for j in 0..2 {
                assert_close(ps.hess[i][j], pr.hess[i][j], 1e-10, "projected hess");
            }
        }
    }};
}

/// Horner's rule, written for any `num_traits::Num`.
fn horner<T: Num + NumCast + Copy>(coefs: &[f64], x: T) -> T {
    coefs.iter().fold(T::zero(), |acc, &c| acc * x + T::from(c).unwrap())
}

/// Generic numeric code of the kind num-traits users write: `Num`, `NumCast`, `FromPrimitive`,
/// `FloatConst`, `One`.
fn rational<T: Num + NumCast + FromPrimitive + FloatConst + Copy>(x: &[T]) -> T {
    let p = horner(&[2.0, 0.5, -3.0, 1.0], x[0]);
    let q = T::one() + x[0] * x[0] + T::from_i32(2).unwrap() * x[1] * x[1];
    p * x[1] / q + T::PI() * x[0] * x[1] * x[2] - x[2] * x[2] / T::from_f64(4.0).unwrap()
}

/// The same computation, written against `Scalar`.
fn rational_direct<S: Scalar>(x: &[S]) -> S {
    let c = S::from_f64;
    let p = ((c(2.0) * x[0] + c(0.5)) * x[0] - c(3.0)) * x[0] + c(1.0);
    let q = c(1.0) + x[0] * x[0] + c(2.0) * x[1] * x[1];
    p * x[1] / q + c(std::f64::consts::PI) * x[0] * x[1] * x[2] - x[2] * x[2] / c(4.0)
}

#[test]
fn generic_num_traits_code_is_differentiated_through_the_numbers() {
    assert_same_derivatives!(rational, rational_direct, &[0.7, -1.3, 0.4]);
    assert_same_derivatives!(rational, rational_direct, &[-2.0, 0.25, 3.0]);
}

/// `(x0 % x1) x0 x1`: weighted so that the second derivatives are not all zero.
fn rem_weighted<T: Scalar + std::ops::Rem<Output = T>>(v: &[T]) -> T {
    (v[0] % v[1]) * v[0] * v[1]
}

#[test]
fn remainder_is_the_locally_affine_x_minus_q_y() {
    // At (5.3, 2.0) the quotient is 2: x % y = x - 2y nearby.
    fn direct<S: Scalar>(v: &[S]) -> S {
        (v[0] - S::from_f64(2.0) * v[1]) * v[0] * v[1]
    }
    assert_same_derivatives!(rem_weighted, direct, &[5.3, 2.0]);
    // A negative dividend: the quotient truncates toward zero (-2), as f64's `%`.
    fn direct_neg<S: Scalar>(v: &[S]) -> S {
        (v[0] + S::from_f64(2.0) * v[1]) * v[0] * v[1]
    }
    assert_same_derivatives!(rem_weighted, direct_neg, &[-5.3, 2.0]);
    // The primal is exactly the float's remainder.
    let (a, b) = (HyperDual::seed(7.1_f64, 1.0, 0.0), HyperDual::constant(0.3));
    assert_eq!((a % b).re, 7.1 % 0.3);
    let mut r = Jet::seed(7.1_f64, 1.0);
    r %= Jet::constant(0.3);
    assert_eq!((r.re, r.d1, r.d2), (7.1 % 0.3, 1.0, 0.0));
}

#[test]
fn constants_and_conversions_carry_no_derivative() {
    let pi = <HyperDual<f64> as FloatConst>::PI();
    assert_eq!((pi.re, pi.e1, pi.e2, pi.e12), (std::f64::consts::PI, 0.0, 0.0, 0.0));
    let tau = <HyperK<f32, 3> as FloatConst>::TAU();
    assert_eq!(tau.re, std::f32::consts::TAU);
    assert!(tau.grad.iter().chain(tau.hess.iter()).all(|&l| l == 0.0));
    let k = <Jet<f64> as NumCast>::from(7_u8).unwrap();
    assert_eq!((k.re, k.d1, k.d2), (7.0, 0.0, 0.0));
    let k = <Jet<f32> as FromPrimitive>::from_i64(-3).unwrap();
    assert_eq!((k.re, k.d1), (-3.0, 0.0));
    // Floats are not truncated on the way (the trait's default would).
    assert_eq!(<HyperDual<f64> as FromPrimitive>::from_f64(2.7).unwrap().re, 2.7);
    assert_eq!(<HyperK<f64, 2> as FromPrimitive>::from_f32(-0.5).unwrap().re, -0.5);
    assert!(<HyperDual<f32> as NumCast>::from(f64::MAX).is_some_and(|x| x.re.is_infinite()));
    assert!(<HyperDual<f64> as Num>::from_str_radix("-1.5", 10).is_ok_and(|x| x.re == -1.5 && x.e1 == 0.0));
    assert!(<HyperDual<f64> as Num>::from_str_radix("one", 10).is_err());
    // ToPrimitive reads the primal value.
    let x = HyperDual::new(-2.75_f64, 1.0, 2.0, 3.0);
    assert_eq!((x.to_f64(), x.to_i64(), x.to_u64()), (Some(-2.75), Some(-2), None));
    // Zero/One are constants; `is_zero` looks at the primal, as `==` does.
    let (z, o) = (<HyperK<f64, 2> as Zero>::zero(), <HyperK<f64, 2> as One>::one());
    assert_eq!((z.re, o.re, o.grad, o.hess), (0.0, 1.0, [0.0; 2], [0.0; 3]));
    assert!(HyperDual::new(0.0_f64, 1.0, 0.0, 0.0).is_zero());
    assert!(!HyperDual::new(1e-300_f64, 0.0, 0.0, 0.0).is_zero());
}

#[test]
fn display_writes_every_lane_with_the_format_options() {
    let x = HyperDual::new(1.5_f64, -2.0, 0.25, 3.0);
    assert_eq!(x.to_string(), "1.5 - 2ε1 + 0.25ε2 + 3ε1ε2");
    assert_eq!(format!("{x:.2}"), "1.50 - 2.00ε1 + 0.25ε2 + 3.00ε1ε2");
    let j = Jet::new(8.0_f32, 12.0, -6.0);
    assert_eq!(j.to_string(), "8 + 12ε - 6ε²/2");
    let mut k = HyperK::<f64, 2>::seed(1.0, [1.0, 0.0]);
    k.hess = [4.0, 2.0, 0.5];
    assert_eq!(k.to_string(), "1 (grad [1, 0], hess [[4, 2], [2, 0.5]])");
}

#[test]
fn serde_round_trips_keep_every_lane() {
    let x = HyperDual::new(1.5_f64, -2.0, 0.1, 3.0e-300);
    let s = serde_json::to_string(&x).unwrap();
    assert_eq!(s, r#"{"re":1.5,"e1":-2.0,"e2":0.1,"e12":3e-300}"#);
    let y: HyperDual<f64> = serde_json::from_str(&s).unwrap();
    assert_eq!((y.re, y.e1, y.e2, y.e12), (x.re, x.e1, x.e2, x.e12));

    let j = Jet::new(0.1_f32, 0.2, 0.3);
    let back: Jet<f32> = serde_json::from_str(&serde_json::to_string(&j).unwrap()).unwrap();
    assert_eq!((back.re, back.d1, back.d2), (j.re, j.d1, j.d2));

    let mut k = HyperK::<f64, 3>::seed(2.0, [1.0, -1.0, 0.5]);
    k.hess = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    let s = serde_json::to_string(&k).unwrap();
    assert_eq!(s, r#"{"re":2.0,"grad":[1.0,-1.0,0.5],"hess":[1.0,2.0,3.0,4.0,5.0,6.0]}"#);
    let back: HyperK<f64, 3> = serde_json::from_str(&s).unwrap();
    assert_eq!((back.re, back.grad, back.hess), (k.re, k.grad, k.hess));
    // The lengths are checked against K.
    let err = serde_json::from_str::<HyperK<f64, 2>>(&s).unwrap_err().to_string();
    assert!(err.contains("grad of 2 entries"), "{err}");
    let bad = r#"{"re":2.0,"grad":[1.0,-1.0],"hess":[1.0,2.0]}"#;
    let err = serde_json::from_str::<HyperK<f64, 2>>(bad).unwrap_err().to_string();
    assert!(err.contains("hess of 3 entries"), "{err}");
}

#[test]
fn serde_round_trips_a_projection() {
    let dirs = [vec![1.0, 0.0, 0.5], vec![0.0, 1.0, -1.0]];
    let p = fomoh::hyperplane(rational, &[0.7, -1.3, 0.4], &dirs).unwrap();
    let back: Projection<f64> = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
    assert_eq!(back, p);
    assert!(serde_json::to_string(&p).unwrap().contains(r#""passes":1"#));
    let bad = r#"{"value":1.0,"grad":[1.0,2.0],"hess":[[1.0,2.0]]}"#;
    let err = serde_json::from_str::<Projection<f64>>(bad).unwrap_err().to_string();
    assert!(err.contains("2×2"), "{err}");
    // written before projections recorded their passes: 0, not recorded
    let old = r#"{"value":1.0,"grad":[2.0],"hess":[[3.0]]}"#;
    assert_eq!(serde_json::from_str::<Projection<f64>>(old).unwrap().passes, 0);
}

/// `x0 · Σ x_i²` through ndarray: a number as the scalar operand, then `dot`.
fn ndarray_weighted<T: Scalar + ndarray::ScalarOperand + ndarray::LinalgScalar>(v: &[T]) -> T {
    let a = Array1::from(v.to_vec());
    let mut b = &a * v[0];
    b += T::from_f64(0.5); // `array += number`
    b.dot(&a)
}

fn ndarray_direct<S: Scalar>(v: &[S]) -> S {
    v.iter().map(|&x| (v[0] * x + S::from_f64(0.5)) * x).sum()
}

#[test]
fn ndarray_arrays_of_numbers_take_numbers_as_operands() {
    assert_same_derivatives!(ndarray_weighted, ndarray_direct, &[1.5, -0.5, 2.0, 0.25]);
}

/// Code written for `T: num_traits::Float`, touching most of its functions.
fn float_code<T: num_traits::Float>(x: &[T]) -> T {
    let c = |v: f64| T::from(v).unwrap();
    let (a, b, d) = (x[0], x[1], x[2]);
    a.exp().mul_add(b, d.cos()) + (a * b).tanh() * d.hypot(a).ln() + b.powf(d) + a.powf(c(3.0))
        - a.abs().sqrt() * d.cbrt()
        + (a / b).atan2(d)
        + d.exp2()
        + a.abs().log(c(3.0))
        + b.max(d) * a.min(d)
        + a.clamp(c(-0.5), c(0.5)) * b
        + (a * c(3.0)).floor() * b
        + d.round() * a
        + b.signum() * d
        + a.fract() * b
        + a.to_degrees()
        + b.sinh() * a.asinh()
        + d.recip().exp_m1()
        + b.ln_1p() * a.sin_cos().1
        + (b - d).abs_sub(a) * a
}

/// The same computation, written against `Scalar`.
fn float_direct<S: Scalar>(x: &[S]) -> S {
    let c = S::from_f64;
    let (a, b, d) = (x[0], x[1], x[2]);
    a.exp().mul_add(b, d.cos()) + (a * b).tanh() * d.hypot(a).ln() + b.pow(d) + a.powf(3.0)
        - a.abs().sqrt() * d.cbrt()
        + (a / b).atan2(d)
        + d.exp2()
        + a.abs().ln() / c(3.0).ln()
        + b.max(d) * a.min(d)
        + a.clamp(-0.5, 0.5) * b
        + (a * c(3.0)).floor() * b
        + d.round() * a
        + b.signum() * d
        + (a - a.trunc()) * b
        + a * c(180.0 / std::f64::consts::PI)
        + b.sinh() * a.asinh()
        + d.recip().exp_m1()
        + b.ln_1p() * a.cos()
        + c(0.0).max(b - d - a) * a
}

#[test]
fn generic_float_code_is_differentiated_through_the_numbers() {
    // Both sides of the clamp, of abs_sub and of the sign.
    assert_same_derivatives!(float_code, float_direct, &[0.3, 1.7, 0.9]);
    assert_same_derivatives!(float_code, float_direct, &[-1.3, 0.6, 2.2]);
    assert_same_derivatives!(float_code, float_direct, &[1.2, 2.5, -0.7]);
}

#[test]
fn float_code_derivatives_match_finite_differences() {
    // An independent reference: central differences of the plain f64 instantiation.
    let x = [0.3, 1.7, 0.9];
    let h = 1e-4;
    let shifted = |i: usize, di: f64, j: usize, dj: f64| {
        let mut y = x;
        y[i] += di;
        y[j] += dj;
        float_code(&y)
    };
    let hd = fomoh::hessian(float_code, &x).unwrap();
    let g = fomoh::gradient(float_code, &x).unwrap();
    for i in 0..3 {
        let fd = (shifted(i, h, i, 0.0) - shifted(i, -h, i, 0.0)) / (2.0 * h);
        assert_close(g[i], fd, 1e-6, &format!("grad[{i}]"));
        for (j, &hij) in hd[i].iter().enumerate() {
            let fd = (shifted(i, h, j, h) - shifted(i, h, j, -h) - shifted(i, -h, j, h)
                + shifted(i, -h, j, -h))
                / (4.0 * h * h);
            assert_close(hij, fd, 1e-4, &format!("H[{i}][{j}]"));
        }
    }
}

#[test]
fn float_predicates_and_piecewise_constants() {
    use num_traits::Float;
    let x = HyperDual::new(-2.5_f64, 1.0, 2.0, 3.0);
    // floor & co: the float's value, every derivative lane zero.
    let piecewise = [
        (Float::floor(x), -3.0),
        (Float::ceil(x), -2.0),
        (Float::round(x), -3.0),
        (Float::trunc(x), -2.0),
        (Float::signum(x), -1.0),
    ];
    for (y, want) in piecewise {
        assert_eq!((y.re, y.e1, y.e2, y.e12), (want, 0.0, 0.0, 0.0));
    }
    // fract keeps the derivative of x.
    let f = Float::fract(x);
    assert_eq!((f.re, f.e1, f.e2, f.e12), (-0.5, 1.0, 2.0, 3.0));
    // A constant exponent at a negative base: finite, the integer power's derivatives.
    let p = Float::powf(x, HyperDual::constant(3.0));
    let q = Scalar::powi(x, 3);
    assert_eq!((p.re, p.e1, p.e2, p.e12), (q.re, q.e1, q.e2, q.e12));
    assert!(p.e12.is_finite());
    // clamp: constant bounds through Scalar::clamp; a bound with derivatives passes them on
    // where it is active.
    let c = Float::clamp(x, HyperDual::constant(-1.0), HyperDual::constant(2.0));
    assert_eq!((c.re, c.e1, c.e2, c.e12), (-1.0, 0.0, 0.0, 0.0));
    let lo = HyperDual::new(-1.0, 0.5, -0.5, 0.25);
    let c = Float::clamp(x, lo, HyperDual::constant(2.0));
    assert_eq!((c.re, c.e1, c.e2, c.e12), (-1.0, 0.5, -0.5, 0.25));
    let c = Float::clamp(HyperDual::new(0.5, 1.0, 2.0, 3.0), lo, HyperDual::constant(2.0));
    assert_eq!((c.re, c.e1, c.e2, c.e12), (0.5, 1.0, 2.0, 3.0));
    // nalgebra's ComplexField and RealField reach the same functions.
    let y = nalgebra::ComplexField::floor(x);
    assert_eq!((y.re, y.e1, y.e12), (-3.0, 0.0, 0.0));
    let y = nalgebra::RealField::clamp(x, lo, HyperDual::constant(2.0));
    assert_eq!((y.re, y.e1), (-1.0, 0.5));
    let y = nalgebra::ComplexField::sqrt(HyperDual::seed(4.0, 1.0, 1.0));
    assert_eq!((y.re, y.e1, y.e12), (2.0, 0.25, -1.0 / 32.0));
    // Predicates read the primal value.
    assert!(Float::is_nan(HyperDual::new(f64::NAN, 0.0, 0.0, 0.0)));
    assert!(!Float::is_nan(HyperDual::new(1.0_f64, f64::NAN, 0.0, 0.0)));
    assert!(Float::is_sign_negative(x) && !Float::is_finite(<HyperDual<f64> as Float>::infinity()));
    assert_eq!(Float::integer_decode(x), Float::integer_decode(-2.5_f64));
    let e = <Jet<f32> as Float>::epsilon();
    assert_eq!((e.re, e.d1, e.d2), (f32::EPSILON, 0.0, 0.0));
}

mod linalg {
    //! nalgebra over hyper-duals: factorizations and norms against the same computation
    //! written directly against `Scalar` (and, for LU, a different algorithm: Cramer's rule).

    use super::assert_close;
    use fomoh::Scalar;
    use nalgebra::{DMatrix, DVector, RealField};

    const N: usize = 3;

    /// The entries of a 3×3 matrix depending on `x`, with the given elementary function.
    fn entries<T: Copy + std::ops::Add<Output = T> + std::ops::Mul<Output = T>>(
        x: &[T],
        c: impl Fn(f64) -> T,
        sin: impl Fn(T) -> T,
    ) -> Vec<Vec<T>> {
        (0..N)
            .map(|i| {
                (0..N)
                    .map(|j| x[i] * x[j] * c(0.3 * (i + 1) as f64 + j as f64) + sin(x[(i + j) % N]) * c(0.5))
                    .collect()
            })
            .collect()
    }

    /// `M Mᵀ + 3 I` (symmetric positive definite).
    fn spd<T: Copy + std::ops::Add<Output = T> + std::ops::Mul<Output = T>>(
        m: &[Vec<T>],
        c: impl Fn(f64) -> T,
    ) -> Vec<Vec<T>> {
        (0..N)
            .map(|i| {
                (0..N)
                    .map(|j| {
                        m[i].iter()
                            .zip(&m[j])
                            .fold(c(if i == j { 3.0 } else { 0.0 }), |s, (&a, &b)| s + a * b)
                    })
                    .collect()
            })
            .collect()
    }

    const B: [f64; N] = [1.0, -1.0, 0.5];

    fn matrix<T: RealField + Copy>(x: &[T]) -> (DMatrix<T>, DMatrix<T>) {
        let c = |v: f64| nalgebra::convert::<f64, T>(v);
        let m = entries(x, c, |v: T| v.sin());
        let a = spd(&m, c);
        (DMatrix::from_fn(N, N, |i, j| m[i][j]), DMatrix::from_fn(N, N, |i, j| a[i][j]))
    }

    /// `ln det A + bᵀ A⁻¹ b` through nalgebra's Cholesky.
    fn cholesky<T: RealField + Copy>(x: &[T]) -> T {
        let (_, a) = matrix(x);
        let chol = a.cholesky().expect("positive definite");
        let b = DVector::from_fn(N, |i, _| nalgebra::convert::<f64, T>(B[i]));
        let logdet = chol.l().diagonal().iter().fold(T::zero(), |s, &l| s + l.ln());
        logdet + logdet + b.dot(&chol.solve(&b))
    }

    /// The same, with the Cholesky factorization and the triangular solves written out.
    fn cholesky_direct<S: Scalar>(x: &[S]) -> S {
        let c = S::from_f64;
        let a = spd(&entries(x, c, |v: S| v.sin()), c);
        let mut l = vec![vec![c(0.0); N]; N];
        for i in 0..N {
            for j in 0..=i {
                let s = a[i][j] - (0..j).map(|k| l[i][k] * l[j][k]).sum::<S>();
                l[i][j] = if i == j { s.sqrt() } else { s / l[j][j] };
            }
        }
        let mut z = [c(0.0); N];
        for i in 0..N {
            z[i] = (c(B[i]) - (0..i).map(|k| l[i][k] * z[k]).sum::<S>()) / l[i][i];
        }
        let mut y = [c(0.0); N];
        for i in (0..N).rev() {
            y[i] = (z[i] - (i + 1..N).map(|k| l[k][i] * y[k]).sum::<S>()) / l[i][i];
        }
        let logdet: S = (0..N).map(|i| l[i][i].ln()).sum();
        logdet + logdet + (0..N).map(|i| c(B[i]) * y[i]).sum()
    }

    /// `det M + bᵀ M⁻¹ b` through nalgebra's LU (with partial pivoting) of the
    /// non-symmetric `M`.
    fn lu<T: RealField + Copy>(x: &[T]) -> T {
        let (m, _) = matrix(x);
        let lu = m.lu();
        let b = DVector::from_fn(N, |i, _| nalgebra::convert::<f64, T>(B[i]));
        lu.determinant() + b.dot(&lu.solve(&b).expect("invertible"))
    }

    /// The same by Cramer's rule (the 3×3 determinant written out).
    fn lu_direct<S: Scalar>(x: &[S]) -> S {
        let c = S::from_f64;
        let m = entries(x, c, |v: S| v.sin());
        let det = |m: &[Vec<S>]| {
            m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
                - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
                + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
        };
        let d = det(&m);
        let mut quad = c(0.0);
        for k in 0..N {
            let mut mk = m.clone();
            for i in 0..N {
                mk[i][k] = c(B[i]);
            }
            quad += c(B[k]) * det(&mk) / d;
        }
        d + quad
    }

    /// `‖v‖ + v·w + (v/‖v‖)₀` through nalgebra's `norm`, `dot` and `normalize`.
    fn norms<T: RealField + Copy>(x: &[T]) -> T {
        let v = DVector::from_vec(vec![x[0] * x[1], x[2].sin(), x[0] - x[2], x[1].exp()]);
        let w = DVector::from_vec(vec![x[2], x[0], x[1], x[0] * x[2]]);
        v.norm() + v.dot(&w) + v.normalize()[0]
    }

    fn norms_direct<S: Scalar>(x: &[S]) -> S {
        let v = [x[0] * x[1], x[2].sin(), x[0] - x[2], x[1].exp()];
        let w = [x[2], x[0], x[1], x[0] * x[2]];
        let norm = v.iter().map(|&e| e * e).sum::<S>().sqrt();
        norm + (0..4).map(|i| v[i] * w[i]).sum::<S>() + v[0] / norm
    }

    #[test]
    fn cholesky_over_hyper_duals() {
        assert_same_derivatives!(cholesky, cholesky_direct, &[0.4, -0.8, 1.1]);
        assert_same_derivatives!(cholesky, cholesky_direct, &[1.5, 0.2, -0.6]);
    }

    #[test]
    fn lu_over_hyper_duals() {
        assert_same_derivatives!(lu, lu_direct, &[0.4, -0.8, 1.1]);
        assert_same_derivatives!(lu, lu_direct, &[1.5, 0.2, -0.6]);
    }

    #[test]
    fn norm_and_dot_over_hyper_duals() {
        assert_same_derivatives!(norms, norms_direct, &[0.4, -0.8, 1.1]);
    }
}

/// Directions as the columns of an nalgebra or ndarray matrix `D` (n × K), and results as
/// vectors and matrices: `Dᵀ∇f` and `DᵀHD` from the runtime's own gradient and Hessian.
mod matrices {
    use fomoh::interop::{array2, dmatrix};
    use fomoh::{Directions, Error, Objective, Scalar};
    use nalgebra::{DMatrix, DVector};
    use ndarray::{Array1, Array2};

    fn f<S: Scalar>(x: &[S]) -> S {
        x[0] * x[1] * x[2] + (x[3] * x[0]).sin() + x[1].exp() * x[3]
    }

    const X: [f64; 4] = [0.3, -0.7, 1.1, 0.4];

    /// K = 3 directions in R^4, one `Vec` each.
    fn rows() -> Vec<Vec<f64>> {
        (0..3).map(|j| (0..4).map(|i| ((4 * j + i) as f64 + 1.0).sin()).collect()).collect()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0)
    }

    #[test]
    fn the_columns_of_a_matrix_are_the_directions() {
        let (rows, sf) = (rows(), fomoh::scalar_fn!(f));
        let reference = fomoh::project(&sf, &X, &rows).unwrap();
        let d = DMatrix::from_fn(4, 3, |i, j| rows[j][i]);
        let a = Array2::from_shape_fn((4, 3), |(i, j)| rows[j][i]);
        let stored_as_rows = Array2::from_shape_fn((3, 4), |(j, i)| rows[j][i]);
        assert_eq!(fomoh::project(&sf, &X, &d).unwrap(), reference);
        assert_eq!(fomoh::project(&sf, &X, &a).unwrap(), reference);
        assert_eq!(fomoh::project(&sf, &X, &stored_as_rows.t()).unwrap(), reference);
        assert_eq!(
            fomoh::project(&sf, &X, &d.columns(0, 2)).unwrap(),
            fomoh::project(&sf, &X, &rows[..2]).unwrap()
        );
        // a compiled program takes them the same way; an objective through `directions()`
        let program = fomoh::jit::compile(4, f).unwrap();
        for p in [program.project(&X, &d).unwrap(), program.project(&X, &a.view()).unwrap()] {
            assert_eq!((p.passes, p.grad.len()), (1, 3));
            for i in 0..3 {
                assert!(close(p.grad[i], reference.grad[i]), "grad[{i}]");
                assert!((0..3).all(|j| close(p.hess[i][j], reference.hess[i][j])), "hess[{i}]");
            }
        }
        let obj = fomoh::objective(4, fomoh::scalar_fn!(f));
        assert_eq!(obj.project(&X, &d.directions()).unwrap(), reference);
    }

    #[test]
    fn results_as_vectors_and_matrices_are_the_projected_gradient_and_hessian() {
        let d = DMatrix::from_fn(4, 3, |i, j| rows()[j][i]);
        let p = fomoh::project(&fomoh::scalar_fn!(f), &X, &d).unwrap();
        let g = DVector::from_vec(fomoh::gradient(f, &X).unwrap());
        let h = dmatrix(&fomoh::hessian(f, &X).unwrap()).unwrap();
        assert!(h.iter().any(|v| v.abs() > 0.1), "a Hessian that is not zero");
        let (dg, dhd) = (d.transpose() * g, d.transpose() * &h * &d);
        let (pg, ph) = (p.grad_vector(), p.hess_matrix().unwrap());
        assert_eq!((pg.len(), ph.shape()), (3, (3, 3)));
        assert!(pg.iter().zip(dg.iter()).all(|(a, b)| close(*a, *b)), "{pg} vs {dg}");
        assert!(ph.iter().zip(dhd.iter()).all(|(a, b)| close(*a, *b)), "{ph} vs {dhd}");
        // ndarray: the same numbers
        let (ag, ah) = (p.grad_array(), p.hess_array().unwrap());
        assert_eq!(ag, Array1::from(pg.as_slice().to_vec()));
        assert_eq!(ah, Array2::from_shape_fn((3, 3), |(i, j)| ph[(i, j)]));
        let ha = array2(&fomoh::hessian(f, &X).unwrap()).unwrap();
        assert_eq!(ha, Array2::from_shape_fn((4, 4), |(i, j)| h[(i, j)]));
    }

    #[test]
    fn wrong_shapes_are_typed_errors() {
        let sf = fomoh::scalar_fn!(f);
        let tall = DMatrix::<f64>::zeros(5, 2);
        assert!(matches!(fomoh::project(&sf, &X, &tall), Err(Error::Length { .. })));
        assert!(matches!(fomoh::project(&sf, &X, &Array2::<f64>::zeros((3, 2))), Err(Error::Length { .. })));
        assert!(matches!(
            fomoh::project(&sf, &X, &DMatrix::<f64>::zeros(4, 0)),
            Err(Error::InvalidArgument(_))
        ));
        let program = fomoh::jit::compile(4, f).unwrap();
        assert!(matches!(program.project(&X, &tall), Err(Error::Length { .. })));
        let ragged = [vec![1.0, 2.0], vec![3.0]];
        assert!(matches!(dmatrix(&ragged), Err(Error::Shape(_))));
        assert!(matches!(array2(&ragged), Err(Error::Shape(_))));
        let mut p = fomoh::project(&sf, &X, &rows()).unwrap();
        p.hess[2].pop();
        assert!(matches!(p.hess_matrix(), Err(Error::Shape(_))));
        assert!(matches!(p.hess_array(), Err(Error::Shape(_))));
    }
}

/// Code generic over K needs only the public bound `Dim<K>: Packed` to use nalgebra's fields
/// over `HyperK<f64, K>`: the norm of `x` along K directions, against the same computation
/// written with `Scalar`.
#[test]
fn nalgebra_norm_generic_over_k() {
    use fomoh::{Dim, HyperK, Packed, Scalar};
    fn norm<const K: usize>(x: &[f64], dirs: &[Vec<f64>; K]) -> (HyperK<f64, K>, HyperK<f64, K>)
    where
        Dim<K>: Packed,
    {
        let v: Vec<HyperK<f64, K>> =
            (0..x.len()).map(|i| HyperK::seed(x[i], core::array::from_fn(|k| dirs[k][i]))).collect();
        let by_nalgebra = nalgebra::DVector::from_vec(v.clone()).norm();
        let by_hand = v.iter().fold(HyperK::constant(0.0), |s, &a| s + a * a).sqrt();
        (by_nalgebra, by_hand)
    }
    let close = |a: &[f64], b: &[f64]| {
        assert_eq!(a.len(), b.len());
        for (p, q) in a.iter().zip(b) {
            assert!((p - q).abs() <= 1e-13 * q.abs().max(1.0), "{p} vs {q}");
        }
    };
    let x = [0.3, -1.2, 2.0];
    let (a, b) = norm(&x, &[vec![1.0, 0.0, 0.5]]);
    close(&a.grad, &b.grad);
    let (a, b) =
        norm(&x, &[vec![1.0, 0.0, 0.5], vec![0.0, 1.0, -1.0], vec![1.0, 1.0, 1.0], vec![0.0, 0.0, 1.0]]);
    assert!((a.re - b.re).abs() < 1e-14 && a.re > 0.0);
    close(&a.grad, &b.grad);
    close(a.hess.as_ref(), b.hess.as_ref());
    assert!(a.hess.as_ref().iter().any(|h| h.abs() > 1e-3), "a curved norm: {:?}", a.hess);
}
