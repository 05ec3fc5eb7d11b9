//! [`Scalar`]: the trait user code is written against, and its implementations for `f32`,
//! `f64` and (through the private `number` module) every number type.

use crate::primitive::Primitive;
use crate::rules::{BinaryOp, UnaryOp};
use core::fmt::Debug;
use core::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

macro_rules! scalar_trait {
    ([] $($unary:tt)*) => {
        fomoh_ops::for_each_binary!(scalar_trait [$($unary)*]);
    };
    ([[$( $doc:literal $V:ident $( ( $($p:ident : $pt:ty = $s:expr),+ ) )? $m:ident [$lo:expr, $hi:expr] ; )*]]
        ops { $($od:literal $O:ident $on:ident [$($ol:tt)*] [$($oh:tt)*];)* }
        fns { $( $bdoc:literal $B:ident $bm:ident [$($a:tt)*] [$($b:tt)*] ; )* }) => {
        /// A number that generic user code computes with: `f32`, `f64`, [`crate::HyperDual`],
        /// [`crate::Jet`], [`crate::HyperK`], and the JIT's tracer.
        ///
        /// Write a function once against `S: Scalar` and every backend can run it. Comparisons
        /// (`<`, `==`, ...) look at the primal value only. Elementary functions are methods, so call
        /// them as `x.exp()` or `a.atan2(b)` with only `fomoh::Scalar` in scope.
        ///
        /// ```
        /// use fomoh_runtime::{Scalar, HyperDual};
        /// fn f<S: Scalar>(x: S) -> S {
        ///     (x * x).exp() + x.sin() * S::from_f64(3.0)
        /// }
        /// assert_eq!(f(0.0_f64), 1.0);
        /// let d = f(HyperDual::new(0.5_f64, 1.0, 1.0, 0.0));
        /// let expect = 2.0 * 0.5 * (0.25_f64).exp() + 3.0 * 0.5_f64.cos();
        /// assert!((d.e1 - expect).abs() < 1e-14);
        /// ```
        ///
        /// The elementary functions (one method per operation of the list in `fomoh_ops`,
        /// conventions in [`crate::rules`]) and [`Scalar::custom`] for a user's
        /// [`crate::Primitive`].
        pub trait Scalar:
            Copy
            + Debug
            + PartialEq
            + PartialOrd
            + 'static
            + Add<Output = Self>
            + Sub<Output = Self>
            + Mul<Output = Self>
            + Div<Output = Self>
            + Neg<Output = Self>
            + AddAssign
            + SubAssign
            + MulAssign
            + DivAssign
            + core::iter::Sum
        {
            /// A constant (all derivative lanes zero).
            fn from_f64(c: f64) -> Self;
            /// The primal value as `f64`.
            fn value(&self) -> f64;
            /// Applies an elementary function from the rule table.
            fn unary(self, op: UnaryOp) -> Self;
            /// Applies a binary function from the rule table (`self` is the first argument).
            fn binary(self, op: BinaryOp, rhs: Self) -> Self;

            /// `self * a + b` (fused for plain floats).
            #[inline]
            fn mul_add(self, a: Self, b: Self) -> Self {
                self * a + b
            }
            /// `0`.
            #[inline]
            fn zero() -> Self {
                Self::from_f64(0.0)
            }
            /// `1`.
            #[inline]
            fn one() -> Self {
                Self::from_f64(1.0)
            }
            /// The user-defined primitive `P` (its `(f, f', f'')` lifted like every rule).
            #[inline]
            fn custom<P: Primitive>(self) -> Self {
                self.unary(UnaryOp::custom::<P>())
            }
            $(
                #[doc = $doc]
                #[inline]
                fn $m(self $( $(, $p: $pt)+ )?) -> Self {
                    self.unary(UnaryOp::$V $( ( $($p),+ ) )?)
                }
            )*
            $(
                #[doc = $bdoc]
                #[inline]
                fn $bm(self, y: Self) -> Self {
                    self.binary(BinaryOp::$B, y)
                }
            )*
        }
    };
}
fomoh_ops::for_each_unary!(scalar_trait);

macro_rules! impl_scalar_float {
    ($t:ident) => {
        impl Scalar for $t {
            #[inline(always)]
            fn from_f64(c: f64) -> Self {
                c as $t
            }
            #[inline(always)]
            fn value(&self) -> f64 {
                *self as f64
            }
            #[inline(always)]
            fn unary(self, op: UnaryOp) -> Self {
                op.eval(self)
            }
            #[inline(always)]
            fn binary(self, op: BinaryOp, rhs: Self) -> Self {
                op.eval(self, rhs)
            }
            #[inline(always)]
            fn mul_add(self, a: Self, b: Self) -> Self {
                $t::mul_add(self, a, b)
            }
        }
    };
}

impl_scalar_float!(f32);
impl_scalar_float!(f64);

/// A function written once over [`Scalar`], callable with every number type.
///
/// Closures cannot be generic, so the optimizers, the derivative checks and the JIT take
/// functions through this trait. Make one from a generic `fn` with [`crate::scalar_fn!`], or
/// implement it on a struct that holds data.
///
/// ```
/// use fomoh_runtime::{scalar_fn, Scalar, ScalarFn};
/// fn sum_sq<S: Scalar>(x: &[S]) -> S { x.iter().map(|&v| v * v).sum() }
/// let f = scalar_fn!(sum_sq);
/// assert_eq!(f.eval(&[1.0_f64, 2.0]), 5.0);
/// ```
pub trait ScalarFn {
    /// Evaluates the function at `x`.
    fn eval<S: Scalar>(&self, x: &[S]) -> S;
}

impl<F: ScalarFn + ?Sized> ScalarFn for &F {
    #[inline]
    fn eval<S: Scalar>(&self, x: &[S]) -> S {
        (**self).eval(x)
    }
}

/// Wraps a generic function `fn f<S: Scalar>(x: &[S]) -> S` (a path, optionally with extra
/// leading arguments captured by value) into a [`ScalarFn`].
///
/// ```
/// use fomoh_runtime::{scalar_fn, Scalar, ScalarFn};
/// fn scaled<S: Scalar>(k: f64, x: &[S]) -> S { x[0] * S::from_f64(k) }
/// let f = scalar_fn!(|x| scaled(2.0, x));
/// assert_eq!(f.eval(&[3.0_f64]), 6.0);
/// ```
#[macro_export]
macro_rules! scalar_fn {
    (|$x:ident| $body:expr) => {{
        #[derive(Clone, Copy, Debug)]
        struct __FomohScalarFn;
        impl $crate::ScalarFn for __FomohScalarFn {
            #[inline]
            fn eval<__S: $crate::Scalar>(&self, $x: &[__S]) -> __S {
                $body
            }
        }
        __FomohScalarFn
    }};
    ($f:path) => {{
        #[derive(Clone, Copy, Debug)]
        struct __FomohScalarFn;
        impl $crate::ScalarFn for __FomohScalarFn {
            #[inline]
            fn eval<__S: $crate::Scalar>(&self, x: &[__S]) -> __S {
                $f(x)
            }
        }
        __FomohScalarFn
    }};
}

/// `ln Σ exp(x_i)`, computed as `m + ln Σ exp(x_i - m)` with `m = max_i x_i`, so large
/// inputs do not overflow; `-inf` for an empty slice. The identity holds for any `m`, so the
/// derivative lanes are those of `ln Σ exp(x_i)` (softmax and its covariance); `m` is an
/// ordinary value (no branch on data), so the JIT compiles this too. Infinite entries give
/// NaN (`inf - inf`).
///
/// ```
/// use fomoh_runtime::{logsumexp, HyperDual};
/// assert!((logsumexp(&[1000.0_f64, 1000.0]) - (1000.0 + 2f64.ln())).abs() < 1e-12);
/// let x = [HyperDual::new(0.0_f64, 1.0, 1.0, 0.0), HyperDual::constant(0.0)];
/// let l = logsumexp(&x);
/// assert!((l.e1 - 0.5).abs() < 1e-15 && (l.e12 - 0.25).abs() < 1e-15); // softmax, its variance
/// ```
pub fn logsumexp<S: Scalar>(xs: &[S]) -> S {
    let Some((&first, rest)) = xs.split_first() else {
        return S::from_f64(f64::NEG_INFINITY);
    };
    let m = rest.iter().fold(first, |m, &x| m.max(x));
    xs.iter().map(|&x| (x - m).exp()).sum::<S>().ln() + m
}
