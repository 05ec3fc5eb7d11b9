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
