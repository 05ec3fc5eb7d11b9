//! Operator boilerplate shared by the number types.
//!
//! Each number type provides the same small core as inherent methods: `constant`, `scale`,
//! `add_n`, `sub_n`, `mul_n`, `neg_n`, `lift1` (the chain rule for a [`crate::rules::Rule`])
//! and `lift2` (for [`crate::rules::Partials`]); this macro derives the operators, the
//! primal-only comparisons and the [`crate::Scalar`] implementation from that core.

macro_rules! number_impls {
    ([$($g:tt)*] $ty:ty, [$($w:tt)*]) => {
        impl<$($g)*> core::ops::Add for $ty where $($w)* {
            type Output = Self;
            #[inline(always)]
            fn add(self, o: Self) -> Self { self.add_n(&o) }
        }
        impl<$($g)*> core::ops::Sub for $ty where $($w)* {
            type Output = Self;
            #[inline(always)]
            fn sub(self, o: Self) -> Self { self.sub_n(&o) }
        }
        impl<$($g)*> core::ops::Mul for $ty where $($w)* {
            type Output = Self;
            #[inline(always)]
            fn mul(self, o: Self) -> Self { self.mul_n(&o) }
        }
        impl<$($g)*> core::ops::Div for $ty where $($w)* {
            type Output = Self;
            #[inline(always)]
            fn div(self, o: Self) -> Self {
                let mut q = self.mul_n(&o.lift1($crate::rules::UnaryOp::Recip.rule(o.re)));
                q.re = self.re / o.re; // the primal exactly as the plain float computes it
                q
            }
        }
        impl<$($g)*> core::ops::Neg for $ty where $($w)* {
            type Output = Self;
            #[inline(always)]
            fn neg(self) -> Self { self.neg_n() }
        }
        impl<$($g)*> core::ops::Add<T> for $ty where $($w)* {
            type Output = Self;
            #[inline(always)]
            fn add(mut self, o: T) -> Self { self.re = self.re + o; self }
        }
        impl<$($g)*> core::ops::Sub<T> for $ty where $($w)* {
            type Output = Self;
            #[inline(always)]
            fn sub(mut self, o: T) -> Self { self.re = self.re - o; self }
        }
        impl<$($g)*> core::ops::Mul<T> for $ty where $($w)* {
            type Output = Self;
            #[inline(always)]
            fn mul(self, o: T) -> Self { self.scale(o) }
        }
        impl<$($g)*> core::ops::Div<T> for $ty where $($w)* {
            type Output = Self;
            #[inline(always)]
            fn div(self, o: T) -> Self {
                let mut q = self.scale(T::cst(1.0) / o);
                q.re = self.re / o;
                q
            }
        }
        impl<$($g)*> core::ops::AddAssign for $ty where $($w)* {
            #[inline(always)]
            fn add_assign(&mut self, o: Self) { *self = *self + o; }
        }
        impl<$($g)*> core::ops::SubAssign for $ty where $($w)* {
            #[inline(always)]
            fn sub_assign(&mut self, o: Self) { *self = *self - o; }
        }
        impl<$($g)*> core::ops::MulAssign for $ty where $($w)* {
            #[inline(always)]
            fn mul_assign(&mut self, o: Self) { *self = *self * o; }
        }
        impl<$($g)*> core::ops::DivAssign for $ty where $($w)* {
            #[inline(always)]
            fn div_assign(&mut self, o: Self) { *self = *self / o; }
        }
        impl<$($g)*> core::ops::AddAssign<T> for $ty where $($w)* {
            #[inline(always)]
            fn add_assign(&mut self, o: T) { *self = *self + o; }
        }
        impl<$($g)*> core::ops::SubAssign<T> for $ty where $($w)* {
            #[inline(always)]
            fn sub_assign(&mut self, o: T) { *self = *self - o; }
        }
        impl<$($g)*> core::ops::MulAssign<T> for $ty where $($w)* {
            #[inline(always)]
            fn mul_assign(&mut self, o: T) { *self = *self * o; }
        }
        impl<$($g)*> core::ops::DivAssign<T> for $ty where $($w)* {
            #[inline(always)]
            fn div_assign(&mut self, o: T) { *self = *self / o; }
        }
        impl<$($g)*> core::iter::Sum for $ty where $($w)* {
            #[inline]
            fn sum<I: Iterator<Item = Self>>(it: I) -> Self {
                it.fold(Self::constant(T::cst(0.0)), |a, b| a + b)
            }
        }
        impl<$($g)*> core::iter::Product for $ty where $($w)* {
            #[inline]
            fn product<I: Iterator<Item = Self>>(it: I) -> Self {
                it.fold(Self::constant(T::cst(1.0)), |a, b| a * b)
            }
        }
        /// Compares the primal values only.
        impl<$($g)*> PartialEq for $ty where $($w)* T: PartialEq {
            #[inline(always)]
            fn eq(&self, o: &Self) -> bool { self.re == o.re }
        }
        /// Compares the primal values only.
        impl<$($g)*> PartialOrd for $ty where $($w)* T: PartialOrd {
            #[inline(always)]
            fn partial_cmp(&self, o: &Self) -> Option<core::cmp::Ordering> {
                self.re.partial_cmp(&o.re)
            }
        }
        impl<$($g)*> From<T> for $ty where $($w)* {
            #[inline(always)]
            fn from(c: T) -> Self { Self::constant(c) }
        }
        impl<$($g)*> $crate::Scalar for $ty where $($w)* T: $crate::RealNum {
            #[inline(always)]
            fn from_f64(c: f64) -> Self { Self::constant(T::cst(c)) }
            #[inline(always)]
            fn value(&self) -> f64 { self.re.as_f64() }
            #[inline(always)]
            fn unary(self, op: $crate::rules::UnaryOp) -> Self { self.lift1(op.rule(self.re)) }
            #[inline(always)]
            fn binary(self, op: $crate::rules::BinaryOp, rhs: Self) -> Self {
                use $crate::rules::BinaryOp::*;
                match op {
                    Add => self + rhs,
                    Sub => self - rhs,
                    Mul => self * rhs,
                    Div => self / rhs,
                    _ => self.lift2(&rhs, op.partials(self.re, rhs.re)),
                }
            }
        }
    };
}

/// `f32 * x`, `f64 + x`, ... for a number type with a plain float on the left.
macro_rules! number_lhs_impls {
    ([$($g:tt)*] $ty:ident < $t:ident $(, $k:ident)? >, [$($w:tt)*]) => {
        impl<$($g)*> core::ops::Add<$ty<$t $(, $k)?>> for $t where $($w)* {
            type Output = $ty<$t $(, $k)?>;
            #[inline(always)]
            fn add(self, o: $ty<$t $(, $k)?>) -> Self::Output { o + self }
        }
        impl<$($g)*> core::ops::Sub<$ty<$t $(, $k)?>> for $t where $($w)* {
            type Output = $ty<$t $(, $k)?>;
            #[inline(always)]
            fn sub(self, o: $ty<$t $(, $k)?>) -> Self::Output { -o + self }
        }
        impl<$($g)*> core::ops::Mul<$ty<$t $(, $k)?>> for $t where $($w)* {
            type Output = $ty<$t $(, $k)?>;
            #[inline(always)]
            fn mul(self, o: $ty<$t $(, $k)?>) -> Self::Output { o * self }
        }
        impl<$($g)*> core::ops::Div<$ty<$t $(, $k)?>> for $t where $($w)* {
            type Output = $ty<$t $(, $k)?>;
            #[inline(always)]
            fn div(self, o: $ty<$t $(, $k)?>) -> Self::Output {
                <$ty<$t $(, $k)?>>::constant(self) / o
            }
        }
    };
}

pub(crate) use number_impls;
pub(crate) use number_lhs_impls;
