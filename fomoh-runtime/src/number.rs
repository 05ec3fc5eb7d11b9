//! Operator boilerplate shared by the number types.
//!
//! Each number type provides the same small core as inherent methods: `constant`, `scale`,
//! `add_n`, `sub_n`, `mul_n`, `neg_n`, `lift1` (the chain rule for a [`crate::rules::Rule`])
//! and `lift2` (for [`crate::rules::Partials`]); this macro derives the operators, the
//! primal-only comparisons and the [`crate::Scalar`] implementation from that core.

macro_rules! number_impls {
    ([$($g:tt)*] $ty:ty, [$($w:tt)*]) => {
        impl<$($g)*> $ty where $($w)* {
            /// The chain rule for a unary rule `(f, f', f'')` (the formula: the type's
            /// `lift1_plain`). A term whose tangent factor is exactly zero is exactly zero, also
            /// where `f'` or `f''` is ±∞ or NaN (see [`crate::HyperDual`]): the coefficients are
            /// checked once, the guarded terms run only where one is not finite.
            #[inline(always)]
            pub fn lift1(self, r: $crate::rules::Rule<T>) -> Self {
                if T::all_guard_free(&[r.d1, r.d2]) { self.lift1_plain(r) } else { self.lift1_guarded(r) }
            }
            /// The chain rule for a binary rule with partials `p` at `(self.re, o.re)`, under the
            /// same convention as [`Self::lift1`].
            #[inline(always)]
            pub fn lift2(self, o: &Self, p: $crate::rules::Partials<T>) -> Self {
                if T::all_guard_free(&[p.fx, p.fy, p.fxx, p.fxy, p.fyy]) {
                    self.lift2_plain(o, p)
                } else {
                    self.lift2_guarded(o, p)
                }
            }
            /// The product under the zero-tangent convention (for a quotient: the reciprocal's
            /// value is ±∞ at 0): guarded where the product is not finite (a factor is ±∞ or
            /// NaN, or it overflowed: then the guarded path gives the same lanes).
            #[inline(always)]
            pub(crate) fn mul_checked(self, o: &Self) -> Self {
                if (self.re * o.re).guard_free() { self.mul_n(o) } else { self.mul_guarded(o) }
            }
            /// The scaling by a plain float under the zero-tangent convention (for a quotient).
            #[inline(always)]
            pub(crate) fn scale_checked(self, k: T) -> Self {
                if k.guard_free() { self.scale(k) } else { self.scale_guarded(k) }
            }
            /// The elementwise operation `op` by the chain rule of its rule
            /// ([`crate::rules::UnaryOp::rule`]), as every backend applies it: checked for the
            /// zero-tangent convention ([`Self::lift1`]) unless the operation is
            /// [regular](crate::rules::UnaryOp::is_regular).
            #[inline(always)]
            pub fn apply_unary(self, op: $crate::rules::UnaryOp) -> Self {
                let r = op.rule(self.re);
                if op.is_regular() { self.lift1_plain(r) } else { self.lift1(r) }
            }
            /// The binary operation `op` by the chain rule, as every backend applies it: the
            /// number type's own arithmetic for `+ - * /`, the partials' chain rule otherwise
            /// (checked as in [`Self::apply_unary`]).
            #[inline(always)]
            pub fn apply_binary(self, op: $crate::rules::BinaryOp, o: Self) -> Self {
                use $crate::rules::BinaryOp::*;
                match op {
                    Add => self.add_n(&o),
                    Sub => self.sub_n(&o),
                    Mul => self.mul_n(&o),
                    Div => self / o,
                    _ => {
                        let p = op.partials(self.re, o.re);
                        if op.is_regular() { self.lift2_plain(&o, p) } else { self.lift2(&o, p) }
                    }
                }
            }
        }
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
                let mut q = self.mul_checked(&o.lift1($crate::rules::UnaryOp::Recip.rule(o.re)));
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
                let mut q = self.scale_checked(T::cst(1.0) / o);
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
            fn unary(self, op: $crate::rules::UnaryOp) -> Self { self.apply_unary(op) }
            #[inline(always)]
            fn binary(self, op: $crate::rules::BinaryOp, rhs: Self) -> Self { self.apply_binary(op, rhs) }
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

/// A second-order number seen as lanes, for the chain rule of a function of several
/// arguments ([`lift_n`]): its first-order lanes, and its second-order lanes, each standing
/// for the product of two first-order lanes ([`Lanes::pair`]).
pub(crate) trait Lanes<T>: Sized {
    /// The number of first-order lanes.
    const FIRST: usize;
    /// The number of second-order lanes.
    const SECOND: usize;
    /// The first-order lanes `(i, j)` that second-order lane `p` pairs (`i <= j`).
    fn pair(p: usize) -> (usize, usize);
    /// First-order lane `i`.
    fn first(&self, i: usize) -> T;
    /// Second-order lane `p`.
    fn second(&self, p: usize) -> T;
    /// The number with primal `f` and these lanes.
    fn from_lanes(f: T, first: Vec<T>, second: Vec<T>) -> Self;
}

/// The second-order chain rule for a function of `m = args.len()` arguments with value `f`,
/// gradient `grad` (`m` partials) and Hessian `hess` (its packed upper triangle,
/// [`crate::packed_index`]`(m, a, b)`) at the arguments' primals:
///
/// ```text
/// y.d_i  = Σ_a g_a a.d_i
/// y.h_ij = Σ_a g_a a.h_ij + Σ_a a.d_i w_a,j      with  w_a,j = Σ_b H_ab b.d_j
/// ```
///
/// (`lift1` and `lift2` are its one- and two-argument cases, written out for speed). Sums
/// run in argument order, the `w` column of lane `j` is formed where it is first needed.
///
/// Where a coefficient of `grad` or `hess` is not [guard-free](crate::Real::guard_free),
/// every product of a coefficient and a tangent
/// factor that is exactly zero is exactly zero: the zero-tangent convention of
/// [`crate::HyperDual`].
pub(crate) fn lift_n<T: crate::Real, N: Lanes<T>>(
    args: &[N],
    f: T,
    grad: &[T],
    hess: &[T],
) -> crate::Result<N> {
    let m = args.len();
    crate::error::check_len(|| "gradient of the local function".into(), m, grad.len())?;
    crate::error::check_len(|| "packed Hessian of the local function".into(), m * (m + 1) / 2, hess.len())?;
    let guarded = !T::all_guard_free(grad) || !T::all_guard_free(hess);
    // A term `product` with the tangent factor `t` (the products keep the operand order of
    // the plain chain rule, so the JIT stages the same graph as before the guard).
    let term = |t: T, product: T| if guarded { t.zero_tangent(product) } else { product };
    let sum = |terms: &mut dyn Iterator<Item = T>| terms.reduce(|s, t| s + t).unwrap_or_else(|| T::cst(0.0));
    let first: Vec<T> = (0..N::FIRST)
        .map(|i| sum(&mut (0..m).map(|a| term(args[a].first(i), grad[a] * args[a].first(i)))))
        .collect();
    let mut w: Vec<Option<Vec<T>>> = vec![None; N::FIRST];
    let second = (0..N::SECOND)
        .map(|p| {
            let (i, j) = N::pair(p);
            let wj = w[j].get_or_insert_with(|| {
                (0..m)
                    .map(|a| {
                        sum(&mut (0..m).map(|b| {
                            term(args[b].first(j), hess[crate::packed_index(m, a, b)] * args[b].first(j))
                        }))
                    })
                    .collect()
            });
            sum(&mut (0..m)
                .map(|a| term(args[a].second(p), grad[a] * args[a].second(p)))
                .chain((0..m).map(|a| term(args[a].first(i), args[a].first(i) * wj[a]))))
        })
        .collect();
    Ok(N::from_lanes(f, first, second))
}
