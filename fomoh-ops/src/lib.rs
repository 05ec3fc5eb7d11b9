//! # fomoh-ops
//!
//! The one list of fomoh's elementary operations. Every part of fomoh that enumerates
//! operations reads this list instead of keeping its own: the runtime generates its
//! `UnaryOp`/`BinaryOp` enums, the `Real` and `Scalar` methods, the parameter hashing and the
//! list that the per-operation tests walk; the JIT generates its native-call wrappers; the
//! `#[fomoh]` macro takes its accepted methods and its help text from it.
//!
//! The list is a `macro_rules!` callback: `for_each_unary!(m)` expands to `m! { ... }` with
//! every entry, so a consumer writes one macro that turns entries into code. (A proc-macro
//! crate can read it too, which is why it is a crate of its own with no dependencies.)
//!
//! # Adding an operation
//! 1. Its rule in `fomoh-runtime/src/rules.rs`: the primal on `f32`/`f64` (`eval_float`) and
//!    `(f, f', f'')` generic over `Real` (`UnaryOp::rule`). The compiler points at both
//!    matches once the entry exists.
//! 2. One entry here.
//!
//! Nothing else: the runtime's numbers and tensors, `#[fomoh]`, the scalar and tensor JIT and
//! the tests that walk the list pick it up.
#![no_std]
#![warn(missing_docs)]

/// The largest K of the k-direction number (`HyperK<T, K>`) and of every K-dispatch.
pub const MAX_K: usize = 16;

/// Calls `$cb! { 1 2 ... MAX_K }` (every supported K as a literal), for code that
/// instantiates a const-generic K by value.
#[macro_export]
macro_rules! for_each_k {
    ($cb:ident) => {
        $cb! { 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 }
    };
}

macro_rules! count {
    ($($k:literal)*) => { 0 $(+ { let _ = $k; 1 })* };
}
const _: () = assert!(for_each_k!(count) == MAX_K, "for_each_k! must list 1..=MAX_K");

/// Calls `$cb!` with every elementwise unary operation.
///
/// Each entry is `"doc" Variant(param: type = sample, ...) method [lo, hi];`: the doc line,
/// the `UnaryOp` variant, its constant parameters (optional; each with the sample value the
/// tests use), the method name on `Real`/`Scalar`, and an interval inside the domain where
/// the tests sample points. `$cb!` receives `[extra tokens] entries...`, where the extra
/// tokens are whatever followed the callback's name.
///
/// A consumer matches the entries with
/// `$( $doc:literal $V:ident $( ( $($p:ident : $pt:ty = $s:expr),+ ) )? $m:ident [$lo:expr, $hi:expr] ; )*`.
#[macro_export]
macro_rules! for_each_unary {
    ($cb:ident $($extra:tt)*) => {
        $cb! { [$($extra)*]
            "`1 / x`." Recip recip [0.2, 3.0];
            "`e^x`." Exp exp [-3.0, 3.0];
            "`e^x - 1`, accurate near 0." ExpM1 exp_m1 [-3.0, 3.0];
            "`2^x`." Exp2 exp2 [-3.0, 3.0];
            "Natural logarithm." Ln ln [0.1, 5.0];
            "`ln(1 + x)`, accurate near 0." Ln1p ln_1p [-0.5, 3.0];
            "Base-2 logarithm." Log2 log2 [0.1, 5.0];
            "Base-10 logarithm." Log10 log10 [0.1, 5.0];
            "Square root (`f' = +inf` at 0)." Sqrt sqrt [0.1, 5.0];
            "Cube root." Cbrt cbrt [0.1, 5.0];
            "`x^n` with a constant integer `n`; exact at 0 (never through `exp`/`ln`)." Powi(n: i32 = 3) powi [-2.0, 2.0];
            "`x^p` with a constant real `p`." Powf(p: f64 = 1.5) powf [0.1, 3.0];
            "`|x|`; `abs'(0) = 0`." Abs abs [-2.0, 2.0];
            "Sine." Sin sin [-3.0, 3.0];
            "Cosine." Cos cos [-3.0, 3.0];
            "Tangent." Tan tan [-1.2, 1.2];
            "Arcsine." Asin asin [-0.9, 0.9];
            "Arccosine." Acos acos [-0.9, 0.9];
            "Arctangent." Atan atan [-3.0, 3.0];
            "Hyperbolic sine." Sinh sinh [-2.0, 2.0];
            "Hyperbolic cosine." Cosh cosh [-2.0, 2.0];
            "Hyperbolic tangent." Tanh tanh [-2.0, 2.0];
            "Inverse hyperbolic sine." Asinh asinh [-3.0, 3.0];
            "Inverse hyperbolic cosine." Acosh acosh [1.2, 4.0];
            "Inverse hyperbolic tangent." Atanh atanh [-0.9, 0.9];
            "Logistic sigmoid `1 / (1 + e^-x)`." Sigmoid sigmoid [-4.0, 4.0];
            "`max(x, 0)`; `relu'(0) = 0`." Relu relu [-4.0, 4.0];
            "`ln(1 + e^x)`." Softplus softplus [-4.0, 4.0];
            "`ln sigmoid(x) = -softplus(-x)`." LogSigmoid log_sigmoid [-4.0, 4.0];
            "The error function `erf x`." Erf erf [-2.5, 2.5];
            "The complementary error function `erfc x = 1 - erf x`, accurate for large `x`." Erfc erfc [-2.5, 2.5];
            "The largest integer `<= x`; derivatives exactly 0." Floor floor [-3.0, 3.0];
            "The smallest integer `>= x`; derivatives exactly 0." Ceil ceil [-3.0, 3.0];
            "The nearest integer, halves away from 0 (as `f64::round`); derivatives exactly 0." Round round [-3.0, 3.0];
            "The integer part (towards 0); derivatives exactly 0." Trunc trunc [-3.0, 3.0];
            "`1` for `x >= +0`, `-1` for `x <= -0` (as `f64::signum`); derivatives exactly 0." Signum signum [-3.0, 3.0];
            "`x` limited to `[lo, hi]` (as `x.max(lo).min(hi)`: `hi` when `lo > hi`); derivative 1 on `[lo, hi]`, 0 outside." Clamp(lo: f64 = -0.5, hi: f64 = 0.5) clamp [-1.0, 1.0];
        }
    };
}

/// Calls `$cb!` with every binary operation: the arithmetic operators first, then the
/// functions with a method name.
///
/// `$cb!` receives `[extra tokens] ops { "doc" Variant name [lo, hi] [lo, hi]; ... }
/// fns { "doc" Variant method [lo, hi] [lo, hi]; ... }`: the doc line, the `BinaryOp`
/// variant, the operator's lower-case name or the method name, and intervals for the two
/// arguments where the tests sample points.
#[macro_export]
macro_rules! for_each_binary {
    ($cb:ident $($extra:tt)*) => {
        $cb! { [$($extra)*]
            ops {
                "`x + y`." Add add [-2.0, 2.0] [-2.0, 2.0];
                "`x - y`." Sub sub [-2.0, 2.0] [-2.0, 2.0];
                "`x * y`." Mul mul [-2.0, 2.0] [-2.0, 2.0];
                "`x / y`." Div div [-2.0, 2.0] [0.3, 2.0];
            }
            fns {
                "`x^y`; at `x = 0` the `ln x` terms are taken as 0." Pow pow [0.2, 3.0] [-2.0, 2.0];
                "`atan2(x, y)`: the angle of the point `(y, x)`, as `f64::atan2` (`self` is the ordinate)." Atan2 atan2 [0.3, 2.0] [0.3, 2.0];
                "`sqrt(x² + y²)` without undue overflow." Hypot hypot [0.3, 2.0] [-2.0, -0.3];
                "The larger of the two; at a tie `x` (value and derivatives)." Max max [-2.0, 2.0] [-2.0, 2.0];
                "The smaller of the two; at a tie `x` (value and derivatives)." Min min [-2.0, 2.0] [-2.0, 2.0];
            }
        }
    };
}

/// The kind of a constant parameter of a unary operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    /// An `i32` (`powi`'s exponent).
    Int,
    /// An `f64` (`powf`'s exponent, `clamp`'s bounds).
    Real,
}

/// One unary operation as plain data, for consumers that cannot use types from the runtime
/// (the `#[fomoh]` macro).
#[derive(Clone, Copy, Debug)]
pub struct UnaryInfo {
    /// The method name (`"exp"`, `"powi"`).
    pub method: &'static str,
    /// The constant parameters after the receiver, in order.
    pub params: &'static [ParamKind],
    /// The doc line.
    pub doc: &'static str,
}

/// One binary function with a method name (`pow`, `atan2`, `hypot`, `max`, `min`).
#[derive(Clone, Copy, Debug)]
pub struct BinaryInfo {
    /// The method name.
    pub method: &'static str,
    /// The doc line.
    pub doc: &'static str,
}

#[doc(hidden)]
#[macro_export]
macro_rules! __param_kind {
    (i32) => {
        $crate::ParamKind::Int
    };
    (f64) => {
        $crate::ParamKind::Real
    };
}

macro_rules! unary_info {
    ([] $( $doc:literal $V:ident $( ( $($p:ident : $pt:tt = $s:expr),+ ) )? $m:ident [$lo:expr, $hi:expr] ; )*) => {
        /// Every unary operation, in list order.
        pub const UNARY: &[UnaryInfo] = &[$(UnaryInfo {
            method: stringify!($m),
            params: &[$($($crate::__param_kind!($pt)),+)?],
            doc: $doc,
        }),*];
    };
}
for_each_unary!(unary_info);

macro_rules! binary_info {
    ([] ops { $($od:literal $O:ident $on:ident [$($ol:tt)*] [$($oh:tt)*];)* }
        fns { $( $doc:literal $V:ident $m:ident [$($a:tt)*] [$($b:tt)*] ; )* }) => {
        /// Every binary function with a method name, in list order (the arithmetic operators
        /// are not methods).
        pub const BINARY_FNS: &[BinaryInfo] = &[$(BinaryInfo { method: stringify!($m), doc: $doc }),*];
    };
}
for_each_binary!(binary_info);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_names_are_unique() {
        let names = UNARY.iter().map(|u| u.method).chain(BINARY_FNS.iter().map(|b| b.method));
        for (i, a) in names.clone().enumerate() {
            assert_eq!(names.clone().filter(|b| *b == a).count(), 1, "`{a}` listed twice (entry {i})");
        }
    }

    #[test]
    fn parameters_are_listed() {
        let find = |m: &str| UNARY.iter().find(|u| u.method == m).expect("listed").params;
        assert_eq!(find("powi"), &[ParamKind::Int]);
        assert_eq!(find("clamp"), &[ParamKind::Real, ParamKind::Real]);
        assert!(find("exp").is_empty());
    }
}
