//! The number types in the numerics ecosystem: num-traits, `Display`, serde and ndarray.
//!
//! Derivatives of generic code run on the numbers are compared with the runtime's own
//! derivatives of the same computation written directly against `Scalar`.

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
    let p = fomoh::hyperplane(|v| rational(v), &[0.7, -1.3, 0.4], &dirs).unwrap();
    let back: Projection<f64> = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
    assert_eq!(back, p);
    let bad = r#"{"value":1.0,"grad":[1.0,2.0],"hess":[[1.0,2.0]]}"#;
    let err = serde_json::from_str::<Projection<f64>>(bad).unwrap_err().to_string();
    assert!(err.contains("2×2"), "{err}");
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
