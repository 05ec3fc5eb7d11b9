//! [`HyperDual`]: `a + b·e1 + c·e2 + d·e1e2` with `e1² = e2² = 0`.

use crate::number::{number_impls, number_lhs_impls, Lanes};
use crate::real::Real;
use crate::rules::{Partials, Rule};

/// A hyper-dual number `re + e1·ε1 + e2·ε2 + e12·ε1ε2` (`ε1² = ε2² = 0`, `ε1ε2 ≠ 0`).
///
/// Seeded with `x + v1·ε1 + v2·ε2`, one evaluation of `f` gives `f(x)` in `re`, `∇f·v1` in
/// `e1`, `∇f·v2` in `e2` and `v1ᵀ H v2` in `e12`.
///
/// **A zero tangent contributes exactly zero**: in every chain-rule term (a derivative of
/// the operation — `f'`, `f''`, a partial, or the other factor of a product — times a
/// tangent factor), a tangent factor that is exactly zero makes the term exactly zero, even
/// where the derivative is ±∞ or NaN. So `sqrt(x0) + x1` at `x0 = 0` along `(0, 1)` gives
/// `e1 = 1`, not `∞ · 0 = NaN`, while a nonzero tangent through `sqrt` at 0 still gives
/// `+∞`. (Tangent lanes that are themselves ±∞/NaN propagate as usual.) [`crate::Jet`],
/// [`crate::HyperK`], the runtime tensors, `#[fomoh]` and compiled programs follow the same
/// convention (a compiled program runs guarded code where its plain code's output is not
/// finite, see `fomoh_jit::stage`). The operations whose derivatives can be ±∞ or NaN where
/// their value is finite (`sqrt`, `ln`, a quotient, ...: those that are not
/// [regular](crate::UnaryOp::is_regular)) test their coefficients once and take the guarded
/// terms only where one is not finite; a product keeps IEEE arithmetic (its value is already
/// ±∞ or NaN where a coefficient is).
///
/// ```
/// use fomoh_runtime::{HyperDual, Scalar};
/// let (x0, x1) = (HyperDual::seed(0.0_f64, 0.0, 0.0), HyperDual::seed(3.0, 1.0, 1.0));
/// let y = x0.sqrt() + x1;
/// assert_eq!((y.re, y.e1, y.e2, y.e12), (3.0, 1.0, 1.0, 0.0));
/// assert_eq!(HyperDual::seed(0.0_f64, 1.0, 1.0).sqrt().e1, f64::INFINITY);
/// ```
///
/// The base `T` is a [`Real`] (`f32`, `f64`, or a staging value); `HyperDual` is not itself
/// a `Real`, so nesting (`HyperDual<HyperDual<f64>>`) cannot be written and perturbation
/// confusion cannot arise:
///
/// ```compile_fail
/// use fomoh_runtime::HyperDual;
/// let x: HyperDual<HyperDual<f64>> = HyperDual::constant(HyperDual::constant(1.0));
/// ```
///
/// ```
/// use fomoh_runtime::{HyperDual, Scalar};
/// let x = HyperDual::new(3.0_f64, 1.0, 1.0, 0.0);
/// let y = x * x * x; // d/dx = 3x² = 27, d²/dx² = 6x = 18
/// assert_eq!((y.re, y.e1, y.e2, y.e12), (27.0, 27.0, 27.0, 18.0));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct HyperDual<T> {
    /// The primal value `f(x)`.
    pub re: T,
    /// The `ε1` lane: `∇f·v1`.
    pub e1: T,
    /// The `ε2` lane: `∇f·v2`.
    pub e2: T,
    /// The `ε1ε2` lane: `v1ᵀ H v2`.
    pub e12: T,
}

impl<T: Real> HyperDual<T> {
    /// A hyper-dual number from its four lanes.
    #[inline(always)]
    pub const fn new(re: T, e1: T, e2: T, e12: T) -> Self {
        Self { re, e1, e2, e12 }
    }

    /// A constant: every derivative lane zero.
    #[inline(always)]
    pub fn constant(re: T) -> Self {
        let z = T::cst(0.0);
        Self { re, e1: z, e2: z, e12: z }
    }

    /// A variable seeded with the tangents `v1`, `v2` (second-order lane zero).
    #[inline(always)]
    pub fn seed(re: T, v1: T, v2: T) -> Self {
        Self { re, e1: v1, e2: v2, e12: T::cst(0.0) }
    }

    #[inline(always)]
    pub(crate) fn scale(self, k: T) -> Self {
        Self { re: self.re * k, e1: self.e1 * k, e2: self.e2 * k, e12: self.e12 * k }
    }

    #[inline(always)]
    pub(crate) fn add_n(self, o: &Self) -> Self {
        Self { re: self.re + o.re, e1: self.e1 + o.e1, e2: self.e2 + o.e2, e12: self.e12 + o.e12 }
    }

    #[inline(always)]
    pub(crate) fn sub_n(self, o: &Self) -> Self {
        Self { re: self.re - o.re, e1: self.e1 - o.e1, e2: self.e2 - o.e2, e12: self.e12 - o.e12 }
    }

    #[inline(always)]
    pub(crate) fn neg_n(self) -> Self {
        Self { re: -self.re, e1: -self.e1, e2: -self.e2, e12: -self.e12 }
    }

    #[inline(always)]
    pub(crate) fn mul_n(self, o: &Self) -> Self {
        let re = self.re * o.re;
        Self {
            re,
            e1: self.re * o.e1 + self.e1 * o.re,
            e2: self.re * o.e2 + self.e2 * o.re,
            e12: self.re * o.e12 + self.e1 * o.e2 + self.e2 * o.e1 + self.e12 * o.re,
        }
    }

    /// The chain rule for a unary rule: `f(a) + f'(a)(b ε1 + c ε2) + (f'(a) d + f''(a) b c) ε1ε2`.
    ///
    /// Without the zero-tangent check: for a rule whose `f'` and `f''` are finite.
    #[inline(always)]
    pub(crate) fn lift1_plain(self, r: Rule<T>) -> Self {
        Self {
            re: r.f,
            e1: r.d1 * self.e1,
            e2: r.d1 * self.e2,
            e12: r.d1 * self.e12 + r.d2 * self.e1 * self.e2,
        }
    }

    /// The chain rule for a binary rule with partials `p` at `(self.re, o.re)`.
    ///
    /// Without the zero-tangent check: for partials that are all finite.
    #[inline(always)]
    pub(crate) fn lift2_plain(self, o: &Self, p: Partials<T>) -> Self {
        Self {
            re: p.f,
            e1: p.fx * self.e1 + p.fy * o.e1,
            e2: p.fx * self.e2 + p.fy * o.e2,
            e12: p.fx * self.e12
                + p.fy * o.e12
                + p.fxx * self.e1 * self.e2
                + p.fxy * (self.e1 * o.e2 + o.e1 * self.e2)
                + p.fyy * o.e1 * o.e2,
        }
    }

    // The same chain rules where a coefficient is ±∞ or NaN: the same expressions, with
    // every term whose tangent factor is exactly zero made exactly 0.

    #[cold]
    #[inline(never)]
    fn scale_guarded(self, k: T) -> Self {
        let z = |t: T| t.zero_tangent(t * k);
        Self { re: self.re * k, e1: z(self.e1), e2: z(self.e2), e12: z(self.e12) }
    }

    #[cold]
    #[inline(never)]
    fn mul_guarded(self, o: &Self) -> Self {
        let (a, b) = (self.re, o.re);
        let (za, zb) = (|t: T| t.zero_tangent(a * t), |t: T| t.zero_tangent(t * b));
        Self {
            re: a * b,
            e1: za(o.e1) + zb(self.e1),
            e2: za(o.e2) + zb(self.e2),
            e12: za(o.e12)
                + self.e1.zero_tangents(o.e2, self.e1 * o.e2)
                + self.e2.zero_tangents(o.e1, self.e2 * o.e1)
                + zb(self.e12),
        }
    }

    #[cold]
    #[inline(never)]
    fn lift1_guarded(self, r: Rule<T>) -> Self {
        let (e1, e2, e12) = (self.e1, self.e2, self.e12);
        Self {
            re: r.f,
            e1: e1.zero_tangent(r.d1 * e1),
            e2: e2.zero_tangent(r.d1 * e2),
            e12: e12.zero_tangent(r.d1 * e12) + e1.zero_tangents(e2, r.d2 * e1 * e2),
        }
    }

    #[cold]
    #[inline(never)]
    fn lift2_guarded(self, o: &Self, p: Partials<T>) -> Self {
        let z = |c: T, t: T| t.zero_tangent(c * t);
        let (x1, x2, y1, y2) = (self.e1, self.e2, o.e1, o.e2);
        let mixed = x1.zero_tangents(y2, x1 * y2) + y1.zero_tangents(x2, y1 * x2);
        Self {
            re: p.f,
            e1: z(p.fx, x1) + z(p.fy, y1),
            e2: z(p.fx, x2) + z(p.fy, y2),
            e12: z(p.fx, self.e12)
                + z(p.fy, o.e12)
                + x1.zero_tangents(x2, p.fxx * x1 * x2)
                + mixed.zero_tangent(p.fxy * mixed)
                + y1.zero_tangents(y2, p.fyy * y1 * y2),
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

impl<T: Real> Lanes<T> for HyperDual<T> {
    const FIRST: usize = 2;
    const SECOND: usize = 1;
    fn pair(_: usize) -> (usize, usize) {
        (0, 1)
    }
    fn first(&self, i: usize) -> T {
        if i == 0 {
            self.e1
        } else {
            self.e2
        }
    }
    fn second(&self, _: usize) -> T {
        self.e12
    }
    fn from_lanes(f: T, first: Vec<T>, second: Vec<T>) -> Self {
        Self { re: f, e1: first[0], e2: first[1], e12: second[0] }
    }
}

number_impls!([T: Real] HyperDual<T>, []);
number_lhs_impls!([] HyperDual<f64>, []);
number_lhs_impls!([] HyperDual<f32>, []);
