//! [`HyperK`]: value, K directional derivatives and the packed K(K+1)/2 second-order block,
//! all from one pass.

use crate::number::{number_impls, number_lhs_impls, Lanes};
use crate::real::Real;
use crate::rules::{Partials, Rule};
use core::fmt::Debug;

/// The number of directions `K` as a type, for [`Packed`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Dim<const K: usize>;

/// Maps `K` to the storage of the packed symmetric `K×K` block, `[T; K(K+1)/2]`.
///
/// Implemented for `K = 1..=16`. (Stable Rust cannot compute `K(K+1)/2` from a const
/// generic, so the block type is looked up here.)
pub trait Packed {
    /// `K(K+1)/2`.
    const P: usize;
    /// The block storage, `[T; P]` (`Send + Sync` like its entries, so that a bound on `K`
    /// alone, `Dim<K>: Packed`, is all generic code over `HyperK<T, K>` needs).
    type Block<T: Copy + Debug + Send + Sync>: Copy + Debug + Send + Sync + AsRef<[T]> + AsMut<[T]>;
    /// A block with every entry `t`.
    fn splat<T: Copy + Debug + Send + Sync>(t: T) -> Self::Block<T>;
}

macro_rules! impl_packed {
    ($($k:literal)*) => {$(
        impl Packed for Dim<$k> {
            const P: usize = $k * ($k + 1) / 2;
            type Block<T: Copy + Debug + Send + Sync> = [T; $k * ($k + 1) / 2];
            #[inline(always)]
            fn splat<T: Copy + Debug + Send + Sync>(t: T) -> Self::Block<T> {
                [t; $k * ($k + 1) / 2]
            }
        }
    )*};
}
fomoh_ops::for_each_k!(impl_packed);

/// Index of `(i, j)`, `i <= j < k`, in the packed upper triangle (row-major).
#[inline(always)]
pub const fn packed_index(k: usize, i: usize, j: usize) -> usize {
    let (i, j) = if i <= j { (i, j) } else { (j, i) };
    i * k - i * (i + 1) / 2 + j
}

/// The k-direction second-order number: seeded with `x + Σ_i u_i ε_i`, one evaluation of
/// `f` yields `f(x)`, `grad[i] = ∇f·u_i` and the packed block `u_iᵀ H u_j` (`i <= j`).
///
/// One pass replaces the `K(K+1)/2` hyper-dual passes of the paper. `K` runs from 1 to 16.
///
/// Same convention at singular points as [`crate::HyperDual`]: a chain-rule term whose
/// tangent factor is exactly zero is exactly zero, even where the derivative it multiplies
/// is ±∞ or NaN, so a direction that does not move a singular input is not poisoned by it.
///
/// ```
/// use fomoh_runtime::{HyperK, Scalar};
/// // f(x, y) = x² y at (1, 2) along the axes: grad (4, 1), H = [[4, 2], [2, 0]]
/// let x = HyperK::<f64, 2>::seed(1.0, [1.0, 0.0]);
/// let y = HyperK::<f64, 2>::seed(2.0, [0.0, 1.0]);
/// let f = x * x * y;
/// assert_eq!(f.grad, [4.0, 1.0]);
/// assert_eq!(f.hess_full(), [[4.0, 2.0], [2.0, 0.0]]);
/// ```
pub struct HyperK<T: Real, const K: usize>
where
    Dim<K>: Packed,
{
    /// The primal value.
    pub re: T,
    /// `∇f·u_i`.
    pub grad: [T; K],
    /// `u_iᵀ H u_j` for `i <= j`, packed row-major (see [`packed_index`]).
    pub hess: <Dim<K> as Packed>::Block<T>,
}

impl<T: Real, const K: usize> Clone for HyperK<T, K>
where
    Dim<K>: Packed,
{
    #[inline(always)]
    fn clone(&self) -> Self {
        *self
    }
}
impl<T: Real, const K: usize> Copy for HyperK<T, K> where Dim<K>: Packed {}

impl<T: Real, const K: usize> Debug for HyperK<T, K>
where
    Dim<K>: Packed,
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HyperK")
            .field("re", &self.re)
            .field("grad", &self.grad)
            .field("hess", &self.hess)
            .finish()
    }
}

impl<T: Real, const K: usize> HyperK<T, K>
where
    Dim<K>: Packed,
{
    /// `K(K+1)/2`, the length of the packed block.
    pub const PACKED: usize = <Dim<K> as Packed>::P;

    /// A constant: every derivative lane zero.
    #[inline(always)]
    pub fn constant(re: T) -> Self {
        let z = T::cst(0.0);
        Self { re, grad: [z; K], hess: <Dim<K> as Packed>::splat(z) }
    }

    /// A variable with tangents `u` (one per direction).
    #[inline(always)]
    pub fn seed(re: T, u: [T; K]) -> Self {
        Self { re, grad: u, hess: <Dim<K> as Packed>::splat(T::cst(0.0)) }
    }

    /// The entry `u_iᵀ H u_j` (either order).
    #[inline]
    pub fn hess_at(&self, i: usize, j: usize) -> T {
        self.hess.as_ref()[packed_index(K, i, j)]
    }

    /// The full symmetric `K×K` block.
    pub fn hess_full(&self) -> [[T; K]; K] {
        let mut m = [[T::cst(0.0); K]; K];
        for (i, row) in m.iter_mut().enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                *v = self.hess_at(i, j);
            }
        }
        m
    }

    #[inline(always)]
    fn map2(self, o: &Self, f: impl Fn(T, T) -> T) -> Self {
        let mut r = self;
        r.re = f(self.re, o.re);
        for i in 0..K {
            r.grad[i] = f(self.grad[i], o.grad[i]);
        }
        for (x, y) in r.hess.as_mut().iter_mut().zip(o.hess.as_ref()) {
            *x = f(*x, *y);
        }
        r
    }

    #[inline(always)]
    pub(crate) fn scale(mut self, k: T) -> Self {
        self.re = self.re * k;
        for g in &mut self.grad {
            *g = *g * k;
        }
        for h in self.hess.as_mut() {
            *h = *h * k;
        }
        self
    }

    #[inline(always)]
    pub(crate) fn add_n(self, o: &Self) -> Self {
        self.map2(o, |a, b| a + b)
    }

    #[inline(always)]
    pub(crate) fn sub_n(self, o: &Self) -> Self {
        self.map2(o, |a, b| a - b)
    }

    #[inline(always)]
    pub(crate) fn neg_n(mut self) -> Self {
        self.re = -self.re;
        for g in &mut self.grad {
            *g = -*g;
        }
        for h in self.hess.as_mut() {
            *h = -*h;
        }
        self
    }

    #[inline(always)]
    pub(crate) fn mul_n(self, o: &Self) -> Self {
        let (a, b) = (self.re, o.re);
        let (ga, gb) = (&self.grad, &o.grad);
        let mut r = Self::constant(a * b);
        let (ha, hb) = (self.hess.as_ref(), o.hess.as_ref());
        let h = r.hess.as_mut();
        let mut p = 0;
        for i in 0..K {
            for j in i..K {
                h[p] = a * hb[p] + b * ha[p] + ga[i] * gb[j] + ga[j] * gb[i];
                p += 1;
            }
        }
        for i in 0..K {
            r.grad[i] = a * gb[i] + b * ga[i];
        }
        r
    }

    /// The chain rule for a unary rule: `g ← f'·g`, `H_ij ← f'·H_ij + f''·g_i g_j`.
    ///
    /// Without the zero-tangent check: for a rule whose `f'` and `f''` are finite.
    #[inline(always)]
    pub(crate) fn lift1_plain(self, rule: Rule<T>) -> Self {
        let g = &self.grad;
        let mut r = Self::constant(rule.f);
        let ha = self.hess.as_ref();
        let h = r.hess.as_mut();
        let mut p = 0;
        for i in 0..K {
            let s = rule.d2 * g[i];
            for j in i..K {
                h[p] = rule.d1 * ha[p] + s * g[j];
                p += 1;
            }
        }
        for i in 0..K {
            r.grad[i] = rule.d1 * g[i];
        }
        r
    }

    /// [`HyperK::scale`] by a factor that is ±∞ or NaN.
    #[cold]
    #[inline(never)]
    fn scale_guarded(mut self, k: T) -> Self {
        self.re = self.re * k;
        for t in self.grad.iter_mut().chain(self.hess.as_mut()) {
            *t = t.zero_tangent(*t * k);
        }
        self
    }

    /// [`HyperK::mul_n`] where a factor is ±∞ or NaN: the terms it multiplies with a zero
    /// tangent are 0.
    #[cold]
    #[inline(never)]
    fn mul_guarded(self, o: &Self) -> Self {
        let (a, b) = (self.re, o.re);
        let (ga, gb) = (&self.grad, &o.grad);
        let mut r = Self::constant(a * b);
        let (ha, hb) = (self.hess.as_ref(), o.hess.as_ref());
        let h = r.hess.as_mut();
        let mut p = 0;
        for i in 0..K {
            for j in i..K {
                h[p] = hb[p].zero_tangent(a * hb[p])
                    + ha[p].zero_tangent(b * ha[p])
                    + ga[i].zero_tangents(gb[j], ga[i] * gb[j])
                    + ga[j].zero_tangents(gb[i], ga[j] * gb[i]);
                p += 1;
            }
        }
        for i in 0..K {
            r.grad[i] = gb[i].zero_tangent(a * gb[i]) + ga[i].zero_tangent(b * ga[i]);
        }
        r
    }

    /// [`HyperK::lift1`] where `f'` or `f''` is ±∞ or NaN.
    #[cold]
    #[inline(never)]
    fn lift1_guarded(self, rule: Rule<T>) -> Self {
        let g = &self.grad;
        let mut r = Self::constant(rule.f);
        let ha = self.hess.as_ref();
        let h = r.hess.as_mut();
        let mut p = 0;
        for i in 0..K {
            let s = rule.d2 * g[i];
            for j in i..K {
                h[p] = ha[p].zero_tangent(rule.d1 * ha[p]) + g[i].zero_tangents(g[j], s * g[j]);
                p += 1;
            }
        }
        for i in 0..K {
            r.grad[i] = g[i].zero_tangent(rule.d1 * g[i]);
        }
        r
    }

    /// The chain rule for a binary rule with partials `q` at `(self.re, o.re)`.
    ///
    /// Without the zero-tangent check: for partials that are all finite.
    #[inline(always)]
    pub(crate) fn lift2_plain(self, o: &Self, q: Partials<T>) -> Self {
        let (ga, gb) = (&self.grad, &o.grad);
        let mut r = Self::constant(q.f);
        let (ha, hb) = (self.hess.as_ref(), o.hess.as_ref());
        let h = r.hess.as_mut();
        let mut p = 0;
        for i in 0..K {
            for j in i..K {
                h[p] = q.fx * ha[p]
                    + q.fy * hb[p]
                    + q.fxx * ga[i] * ga[j]
                    + q.fxy * (ga[i] * gb[j] + gb[i] * ga[j])
                    + q.fyy * gb[i] * gb[j];
                p += 1;
            }
        }
        for i in 0..K {
            r.grad[i] = q.fx * ga[i] + q.fy * gb[i];
        }
        r
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

impl<T: Real, const K: usize> Lanes<T> for HyperK<T, K>
where
    Dim<K>: Packed,
{
    const FIRST: usize = K;
    const SECOND: usize = K * (K + 1) / 2;
    fn pair(p: usize) -> (usize, usize) {
        // the row `i` whose packed entries `(i, i..K)` hold `p`
        let (mut i, mut start) = (0, 0);
        while start + (K - i) <= p {
            start += K - i;
            i += 1;
        }
        (i, i + p - start)
    }
    fn first(&self, i: usize) -> T {
        self.grad[i]
    }
    fn second(&self, p: usize) -> T {
        self.hess.as_ref()[p]
    }
    fn from_lanes(f: T, first: Vec<T>, second: Vec<T>) -> Self {
        let mut r = Self::constant(f);
        r.grad.copy_from_slice(&first);
        r.hess.as_mut().copy_from_slice(&second);
        r
    }
}

impl<T: Real, const K: usize> HyperK<T, K>
where
    Dim<K>: Packed,
{
    /// [`HyperK::lift2`] where a partial is ±∞ or NaN.
    #[cold]
    #[inline(never)]
    fn lift2_guarded(self, o: &Self, q: Partials<T>) -> Self {
        let (ga, gb) = (&self.grad, &o.grad);
        let z = |c: T, t: T| t.zero_tangent(c * t);
        let mut r = Self::constant(q.f);
        let (ha, hb) = (self.hess.as_ref(), o.hess.as_ref());
        let h = r.hess.as_mut();
        let mut p = 0;
        for i in 0..K {
            for j in i..K {
                let mixed =
                    ga[i].zero_tangents(gb[j], ga[i] * gb[j]) + gb[i].zero_tangents(ga[j], gb[i] * ga[j]);
                h[p] = z(q.fx, ha[p])
                    + z(q.fy, hb[p])
                    + ga[i].zero_tangents(ga[j], q.fxx * ga[i] * ga[j])
                    + mixed.zero_tangent(q.fxy * mixed)
                    + gb[i].zero_tangents(gb[j], q.fyy * gb[i] * gb[j]);
                p += 1;
            }
        }
        for i in 0..K {
            r.grad[i] = z(q.fx, ga[i]) + z(q.fy, gb[i]);
        }
        r
    }
}

number_impls!([T: Real, const K: usize] HyperK<T, K>, [Dim<K>: Packed,]);
number_lhs_impls!([const K: usize] HyperK<f64, K>, [Dim<K>: Packed,]);
number_lhs_impls!([const K: usize] HyperK<f32, K>, [Dim<K>: Packed,]);
