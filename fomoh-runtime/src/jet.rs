//! [`Jet`]: the three-lane number for the `v1 = v2` case (FGD, FoMoH).

use crate::number::{number_impls, number_lhs_impls, Lanes};
use crate::real::Real;
use crate::rules::{Partials, Rule};

/// A second-order jet along one direction: `(f, ∇f·v, vᵀHv)`.
///
/// Equivalent to a [`crate::HyperDual`] with `v1 = v2`, with one lane fewer to compute.
/// Same convention at singular points: a chain-rule term whose tangent factor is exactly
/// zero is exactly zero, even where the derivative it multiplies is ±∞ or NaN.
///
/// ```
/// use fomoh_runtime::{Jet, Scalar};
/// let x = Jet::seed(2.0_f64, 1.0);
/// let y = x.powi(3); // 8, 3x² = 12, 6x = 12
/// assert_eq!((y.re, y.d1, y.d2), (8.0, 12.0, 12.0));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Jet<T> {
    /// The primal value `f(x)`.
    pub re: T,
    /// The directional derivative `∇f·v`.
    pub d1: T,
    /// The directional curvature `vᵀ H v`.
    pub d2: T,
}

impl<T: Real> Jet<T> {
    /// A jet from its three lanes.
    #[inline(always)]
    pub const fn new(re: T, d1: T, d2: T) -> Self {
        Self { re, d1, d2 }
    }

    /// A constant: both derivative lanes zero.
    #[inline(always)]
    pub fn constant(re: T) -> Self {
        Self { re, d1: T::cst(0.0), d2: T::cst(0.0) }
    }

    /// A variable seeded with the tangent `v`.
    #[inline(always)]
    pub fn seed(re: T, v: T) -> Self {
        Self { re, d1: v, d2: T::cst(0.0) }
    }

    #[inline(always)]
    pub(crate) fn scale(self, k: T) -> Self {
        Self { re: self.re * k, d1: self.d1 * k, d2: self.d2 * k }
    }

    #[inline(always)]
    pub(crate) fn add_n(self, o: &Self) -> Self {
        Self { re: self.re + o.re, d1: self.d1 + o.d1, d2: self.d2 + o.d2 }
    }

    #[inline(always)]
    pub(crate) fn sub_n(self, o: &Self) -> Self {
        Self { re: self.re - o.re, d1: self.d1 - o.d1, d2: self.d2 - o.d2 }
    }

    #[inline(always)]
    pub(crate) fn neg_n(self) -> Self {
        Self { re: -self.re, d1: -self.d1, d2: -self.d2 }
    }

    #[inline(always)]
    pub(crate) fn mul_n(self, o: &Self) -> Self {
        let re = self.re * o.re;
        let two = T::cst(2.0);
        Self {
            re,
            d1: self.re * o.d1 + self.d1 * o.re,
            d2: self.re * o.d2 + two * self.d1 * o.d1 + self.d2 * o.re,
        }
    }

    /// The chain rule for a unary rule: `(f, f'·d1, f'·d2 + f''·d1²)`.
    ///
    /// Without the zero-tangent check: for a rule whose `f'` and `f''` are finite.
    #[inline(always)]
    pub(crate) fn lift1_plain(self, r: Rule<T>) -> Self {
        Self { re: r.f, d1: r.d1 * self.d1, d2: r.d1 * self.d2 + r.d2 * self.d1 * self.d1 }
    }

    /// The chain rule for a binary rule with partials `p` at `(self.re, o.re)`.
    ///
    /// Without the zero-tangent check: for partials that are all finite.
    #[inline(always)]
    pub(crate) fn lift2_plain(self, o: &Self, p: Partials<T>) -> Self {
        Self {
            re: p.f,
            d1: p.fx * self.d1 + p.fy * o.d1,
            d2: p.fx * self.d2
                + p.fy * o.d2
                + p.fxx * self.d1 * self.d1
                + T::cst(2.0) * p.fxy * self.d1 * o.d1
                + p.fyy * o.d1 * o.d1,
        }
    }

    // The same chain rules where a coefficient is ±∞ or NaN: the same expressions, with
    // every term whose tangent factor is exactly zero made exactly 0.

    #[cold]
    #[inline(never)]
    fn scale_guarded(self, k: T) -> Self {
        let z = |t: T| t.zero_tangent(t * k);
        Self { re: self.re * k, d1: z(self.d1), d2: z(self.d2) }
    }

    #[cold]
    #[inline(never)]
    fn mul_guarded(self, o: &Self) -> Self {
        let two = T::cst(2.0);
        let (a, b) = (self.re, o.re);
        let (za, zb) = (|t: T| t.zero_tangent(a * t), |t: T| t.zero_tangent(t * b));
        Self {
            re: a * b,
            d1: za(o.d1) + zb(self.d1),
            d2: za(o.d2) + self.d1.zero_tangents(o.d1, two * self.d1 * o.d1) + zb(self.d2),
        }
    }

    #[cold]
    #[inline(never)]
    fn lift1_guarded(self, r: Rule<T>) -> Self {
        let (t, s) = (self.d1, self.d2);
        Self {
            re: r.f,
            d1: t.zero_tangent(r.d1 * t),
            d2: s.zero_tangent(r.d1 * s) + t.zero_tangent(r.d2 * t * t),
        }
    }

    #[cold]
    #[inline(never)]
    fn lift2_guarded(self, o: &Self, p: Partials<T>) -> Self {
        let z = |c: T, t: T| t.zero_tangent(c * t);
        let (x, y) = (self.d1, o.d1);
        Self {
            re: p.f,
            d1: z(p.fx, x) + z(p.fy, y),
            d2: z(p.fx, self.d2)
                + z(p.fy, o.d2)
                + x.zero_tangent(p.fxx * x * x)
                + x.zero_tangents(y, T::cst(2.0) * p.fxy * x * y)
                + y.zero_tangent(p.fyy * y * y),
        }
    }

    /// The second-order chain rule for a function of `args.len()` arguments, given its
    /// value `f`, gradient `grad` and Hessian `hess` (the packed upper triangle,
    /// [`crate::packed_index`]`(m, a, b)`) at the arguments' primals: what [`Self::lift1`]
    /// and [`Self::lift2`] do for one and two arguments, for any number of them (a local
    /// function preaccumulated once and applied to many inputs), under the same zero-tangent
    /// convention. A `grad` or `hess` of the wrong length is an [`crate::Error::Length`].
    pub fn lift_n(args: &[Self], f: T, grad: &[T], hess: &[T]) -> crate::Result<Self> {
        crate::number::lift_n(args, f, grad, hess)
    }
}

impl<T: Real> Lanes<T> for Jet<T> {
    const FIRST: usize = 1;
    const SECOND: usize = 1;
    fn pair(_: usize) -> (usize, usize) {
        (0, 0)
    }
    fn first(&self, _: usize) -> T {
        self.d1
    }
    fn second(&self, _: usize) -> T {
        self.d2
    }
    fn from_lanes(f: T, first: Vec<T>, second: Vec<T>) -> Self {
        Self { re: f, d1: first[0], d2: second[0] }
    }
}

number_impls!([T: Real] Jet<T>, []);
number_lhs_impls!([] Jet<f64>, []);
number_lhs_impls!([] Jet<f32>, []);
