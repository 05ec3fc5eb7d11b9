//! User-defined primitives: a scalar function declared once with its first and second
//! derivative, usable by every backend.
//!
//! ```
//! use fomoh_runtime::{Primitive, Scalar, HyperDual};
//! /// `x / (1 + |x|)`, a soft clip with a closed-form derivative.
//! struct SoftClip;
//! impl Primitive for SoftClip {
//!     const NAME: &'static str = "softclip";
//!     fn rule(x: f64) -> (f64, f64, f64) {
//!         let d = 1.0 + x.abs();
//!         (x / d, 1.0 / (d * d), -2.0 * x.signum() / (d * d * d))
//!     }
//! }
//! fn loss<S: Scalar>(x: &[S]) -> S { x[0].custom::<SoftClip>() * x[1] }
//! let y = loss(&[HyperDual::new(1.0, 1.0, 1.0, 0.0), HyperDual::constant(2.0)]);
//! assert_eq!(y.re, 1.0);          // 2 · 1/2
//! assert_eq!(y.e1, 0.5);          // 2 · 1/4
//! assert_eq!(y.e12, -0.5);        // 2 · (-2/8)
//! assert_eq!(fomoh_runtime::custom::<SoftClip>(1.0), 0.5);
//! ```

use core::any::TypeId;
use core::marker::PhantomData;

/// A scalar function with its first and second derivative, declared once and used by every
/// backend: the runtime's numbers and tensors, `#[fomoh]` (as `fomoh::custom::<P>(x)`) and
/// the JIT (a native call to `rule`). Apply it with [`crate::Scalar::custom`].
///
/// `rule` should not panic: the JIT calls it from generated code, where a panic aborts the
/// process. Return NaN where the function is not defined; NaN lanes follow.
/// [`crate::check::primitive`] tests a `rule` against finite differences.
pub trait Primitive: 'static {
    /// The name shown in messages and IR dumps. Two primitives with one name are an error the
    /// first time the JIT compiles them.
    const NAME: &'static str;
    /// `(f(x), f'(x), f''(x))`.
    fn rule(x: f64) -> (f64, f64, f64);
}

/// `P`'s function value at `x` (for plain `f64` code and `#[fomoh]` functions).
#[inline]
pub fn custom<P: Primitive>(x: f64) -> f64 {
    P::rule(x).0
}

/// The static description of a primitive: its name, identity and entry points.
struct PrimitiveDesc {
    name: &'static str,
    id: fn() -> TypeId,
    rule: fn(f64) -> (f64, f64, f64),
    parts_f64: [extern "C" fn(f64) -> f64; 3],
    parts_f32: [extern "C" fn(f32) -> f32; 3],
}

extern "C" fn part_f64<P: Primitive, const K: usize>(x: f64) -> f64 {
    let r = P::rule(x);
    [r.0, r.1, r.2][K]
}

extern "C" fn part_f32<P: Primitive, const K: usize>(x: f32) -> f32 {
    let r = P::rule(x as f64);
    [r.0, r.1, r.2][K] as f32
}

struct Holder<P>(PhantomData<P>);
impl<P: Primitive> Holder<P> {
    const DESC: PrimitiveDesc = PrimitiveDesc {
        name: P::NAME,
        id: TypeId::of::<P>,
        rule: P::rule,
        parts_f64: [part_f64::<P, 0>, part_f64::<P, 1>, part_f64::<P, 2>],
        parts_f32: [part_f32::<P, 0>, part_f32::<P, 1>, part_f32::<P, 2>],
    };
}

/// A primitive as an operation: which primitive, and which of its lanes (0: `f`, 1: `f'`,
/// 2: `f''`). Staged derivative code reads the derivative lanes as operations of their own.
/// Two `CustomOp`s are equal when they are the same primitive type and lane.
#[derive(Clone, Copy)]
pub struct CustomOp {
    desc: &'static PrimitiveDesc,
    part: u8,
}

impl CustomOp {
    /// The value lane of `P`.
    pub fn of<P: Primitive>() -> CustomOp {
        CustomOp { desc: &Holder::<P>::DESC, part: 0 }
    }

    /// The primitive's `NAME`.
    pub fn name(self) -> &'static str {
        self.desc.name
    }

    /// Which lane: 0 for `f`, 1 for `f'`, 2 for `f''`.
    pub fn part(self) -> u8 {
        self.part
    }

    /// The same primitive's lane `part` (0, 1 or 2; larger is clamped to 2).
    pub fn with_part(self, part: u8) -> CustomOp {
        CustomOp { desc: self.desc, part: part.min(2) }
    }

    /// The primitive's type identity (distinguishes two primitives with one name).
    pub fn type_id(self) -> TypeId {
        (self.desc.id)()
    }

    /// `(f(x), f'(x), f''(x))` from the user's rule.
    #[inline]
    pub fn rule(self, x: f64) -> (f64, f64, f64) {
        (self.desc.rule)(x)
    }

    /// This lane's value at `x`.
    #[inline]
    pub fn eval(self, x: f64) -> f64 {
        let r = self.rule(x);
        [r.0, r.1, r.2][self.part as usize]
    }

    /// The `extern "C"` entry point of this lane in `f64` (what compiled code calls).
    pub fn entry_f64(self) -> extern "C" fn(f64) -> f64 {
        self.desc.parts_f64[self.part as usize]
    }

    /// The `extern "C"` entry point of this lane in `f32` (through the `f64` rule).
    pub fn entry_f32(self) -> extern "C" fn(f32) -> f32 {
        self.desc.parts_f32[self.part as usize]
    }
}

impl PartialEq for CustomOp {
    fn eq(&self, o: &Self) -> bool {
        self.part == o.part && self.type_id() == o.type_id()
    }
}
impl Eq for CustomOp {}

impl core::hash::Hash for CustomOp {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.type_id().hash(state);
        self.part.hash(state);
    }
}

impl core::fmt::Debug for CustomOp {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        const LANES: [&str; 3] = ["", "'", "''"];
        write!(f, "Custom({}{})", self.desc.name, LANES[self.part as usize])
    }
}
