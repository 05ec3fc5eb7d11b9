//! # fomoh
//!
//! Second-order forward-mode automatic differentiation and the forward-only optimizers built
//! on it (FoMoH, FoMoH-KD, FoMoH-BP; Cobb et al., arXiv 2408.10419).
//!
//! This facade re-exports [`fomoh_runtime`] (numbers, rules, entry points, checks).
//!
//! ```
//! use fomoh::Scalar;
//! fn f<S: Scalar>(x: &[S]) -> S { (x[0] * x[1]).sin() }
//! let hd = fomoh::hyper_dual(|x| f(x), &[1.0, 2.0], &[1.0, 0.0], &[0.0, 1.0]).unwrap();
//! // ∂²f/∂x0∂x1 = cos(x0 x1) - x0 x1 sin(x0 x1)
//! assert!((hd.e12 - (2.0_f64.cos() - 2.0 * 2.0_f64.sin())).abs() < 1e-14);
//! ```
#![warn(missing_docs)]

pub use fomoh_runtime::*;

/// The JIT: trace a function written over [`Scalar`] and compile its forward passes with
/// Cranelift (re-exports [`fomoh_jit`]).
///
/// ```
/// use fomoh::Scalar;
/// fn f<S: Scalar>(x: &[S]) -> S { (x[0] * x[1]).sin() }
/// let p = fomoh::jit::compile(2, |x| f(x)).unwrap();
/// let hd = p.hyper_dual(&[1.0, 2.0], &[1.0, 0.0], &[0.0, 1.0]).unwrap();
/// assert!((hd.e12 - (2.0_f64.cos() - 2.0 * 2.0_f64.sin())).abs() < 1e-14);
/// ```
pub mod jit {
    pub use fomoh_jit::*;
}

/// The names most programs need: `use fomoh::prelude::*;`.
pub mod prelude {
    pub use fomoh_runtime::{objective, HyperDual, HyperK, Jet, Objective, Projection, Scalar, ScalarFn};
}
