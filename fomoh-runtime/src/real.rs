//! The base field the derivative lanes live in.
//!
//! [`Real`] is the small algebra the rule table ([`crate::rules`]) and the chain-rule lifts
//! are written against: field arithmetic, the primal elementary functions and two
//! primal-only selections for the piecewise rules. It is implemented by `f32` and `f64`, and
//! can be implemented by a *staging* value that emits code instead of computing (the JIT does
//! this), so a derivative rule is written once and used by every backend.
//!
//! [`RealNum`] adds what a concrete float offers (ordering, conversions via `num-traits`);
//! the user-facing number types need it.

use crate::primitive::CustomOp;
use crate::rules::{BinaryOp, UnaryOp};
use core::fmt::Debug;
use core::ops::{Add, Div, Mul, Neg, Sub};

macro_rules! real_trait {
    ([] $($unary:tt)*) => {
        fomoh_ops::for_each_binary!(real_trait [$($unary)*]);
    };
    ([[$( $doc:literal $V:ident $( ( $($p:ident : $pt:ty = $s:expr),+ ) )? $m:ident [$lo:expr, $hi:expr] ; )*]]
        ops { $($od:literal $O:ident $on:ident [$($ol:tt)*] [$($oh:tt)*];)* }
        fns { $( $bdoc:literal $B:ident $bm:ident [$($a:tt)*] [$($b:tt)*] ; )* }) => {
        /// The base scalar of the derivative lanes: arithmetic plus the primal elementary
        /// functions.
        ///
        /// Every method computes a *primal* value; derivatives are assembled by the rules in
        /// [`crate::rules`] from these primitives. An implementation provides [`Real::unary`]
        /// and [`Real::binary`] (the primal of every operation of the list) and the two
        /// selections; the named methods (one per operation, generated from the list) call
        /// them.
        pub trait Real:
            Copy
            + Debug
            + Send
            + Sync
            + 'static
            + Add<Output = Self>
            + Sub<Output = Self>
            + Mul<Output = Self>
            + Div<Output = Self>
            + Neg<Output = Self>
        {
            /// The constant `c` (rounded to this type).
            fn cst(c: f64) -> Self;
            /// The primal of a unary operation.
            fn unary(self, op: UnaryOp) -> Self;
            /// The primal of a binary operation (`self` is the first argument).
            fn binary(self, op: BinaryOp, y: Self) -> Self;
            /// `x` if `self >= other` (on primal values), otherwise `y`.
            fn select_ge(self, other: Self, x: Self, y: Self) -> Self;
            /// `x` if `self == 0`, otherwise `y`.
            fn select_zero(self, x: Self, y: Self) -> Self;
            /// Whether a chain-rule term with this coefficient needs no zero-tangent guard
            /// ([`Real::zero_tangent`]): a float answers [`f64::is_finite`] (a finite
            /// coefficient times a zero tangent is already zero). The default, `false`,
            /// guards every term. The number types' chain rules take their plain
            /// expressions where every coefficient is guard-free and guard term by term
            /// otherwise. (The JIT's staging value answers `true` while it stages a program's
            /// plain code and only for finite literals while it stages the guarded code that
            /// runs where the plain code's output is not finite, see `fomoh_jit::stage`.)
            #[inline(always)]
            fn guard_free(self) -> bool {
                false
            }
            /// Whether every value of `cs` is [guard-free](Real::guard_free).
            #[inline(always)]
            fn all_guard_free(cs: &[Self]) -> bool {
                cs.iter().all(|c| c.guard_free())
            }
            /// A chain-rule term `term = c · self` with the tangent factor `self`: `term`,
            /// or exactly `0` where the tangent factor is exactly zero, whatever the
            /// coefficient `c` (so `∞ · 0` and `NaN · 0` from a zero tangent give `0`).
            #[inline(always)]
            fn zero_tangent(self, term: Self) -> Self {
                self.select_zero(Self::cst(0.0), term)
            }
            /// A chain-rule term `term = c · self · u` with the two tangent factors `self`
            /// and `u`: `term`, or exactly `0` where either factor is exactly zero.
            #[inline(always)]
            fn zero_tangents(self, u: Self, term: Self) -> Self {
                self.zero_tangent(u.zero_tangent(term))
            }
            /// Sine and cosine of the same argument (one call serves both where it can).
            #[inline(always)]
            fn sin_cos(self) -> (Self, Self) {
                (self.unary(UnaryOp::Sin), self.unary(UnaryOp::Cos))
            }
            /// A primitive's `(f, f', f'')` at `self` (a concrete float calls the rule once).
            #[inline(always)]
            fn custom_rule(self, c: CustomOp) -> (Self, Self, Self) {
                let lane = |k| self.unary(UnaryOp::Custom(c.with_part(k)));
                (lane(0), lane(1), lane(2))
            }
            $(
                #[doc = $doc]
                #[inline(always)]
                fn $m(self $( $(, $p: $pt)+ )?) -> Self {
                    self.unary(UnaryOp::$V $( ( $($p),+ ) )?)
                }
            )*
            $(
                #[doc = $bdoc]
                #[inline(always)]
                fn $bm(self, y: Self) -> Self {
                    self.binary(BinaryOp::$B, y)
                }
            )*
        }
    };
}
fomoh_ops::for_each_unary!(real_trait);

/// A concrete floating-point base type (`f32` or `f64`): [`Real`] plus ordering and the
/// conversions of `num-traits`.
pub trait RealNum:
    Real
    + PartialOrd
    + PartialEq
    + Default
    + Send
    + Sync
    + core::fmt::Display
    + core::iter::Sum
    + num_traits::Float
    + num_traits::FloatConst
{
    /// Machine epsilon of the type, as `f64`.
    const EPS: f64;
    /// This value as `f64` (exact for `f32` and `f64`).
    fn as_f64(self) -> f64;
}

macro_rules! impl_real {
    ($t:ident) => {
        impl Real for $t {
            #[inline(always)]
            fn cst(c: f64) -> Self {
                c as $t
            }
            #[inline(always)]
            fn unary(self, op: UnaryOp) -> Self {
                op.eval_float(self)
            }
            #[inline(always)]
            fn binary(self, op: BinaryOp, y: Self) -> Self {
                op.eval_float(self, y)
            }
            #[inline(always)]
            fn sin_cos(self) -> (Self, Self) {
                $t::sin_cos(self)
            }
            #[inline(always)]
            fn custom_rule(self, c: CustomOp) -> (Self, Self, Self) {
                let (f, d1, d2) = c.rule(self as f64);
                (f as $t, d1 as $t, d2 as $t)
            }
            #[inline(always)]
            fn select_ge(self, other: Self, x: Self, y: Self) -> Self {
                if self >= other {
                    x
                } else {
                    y
                }
            }
            #[inline(always)]
            fn select_zero(self, x: Self, y: Self) -> Self {
                if self == 0.0 {
                    x
                } else {
                    y
                }
            }
            #[inline(always)]
            fn guard_free(self) -> bool {
                self.is_finite()
            }
            // One test for all: a sum of finite values is finite or overflows (then the
            // guarded path runs, with the same values); any ±∞ or NaN makes it non-finite.
            #[inline(always)]
            fn all_guard_free(cs: &[Self]) -> bool {
                cs.iter().copied().reduce(|s, c| s + c).is_none_or(|s| s.is_finite())
            }
        }

        impl RealNum for $t {
            const EPS: f64 = $t::EPSILON as f64;
            #[inline(always)]
            fn as_f64(self) -> f64 {
                self as f64
            }
        }
    };
}

impl_real!(f32);
impl_real!(f64);
