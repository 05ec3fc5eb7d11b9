//! # fomoh-jit
//!
//! Traces functions written over [`fomoh_runtime::Scalar`] into a graph IR, stages their
//! second-order forward passes from the runtime's rule table, and compiles them to native
//! code with Cranelift.
//!
//! - [`compile`] / [`compile_at`] / [`compile_fn`]: trace a function into a [`Program`].
//! - [`Program`]: `value`, `hyper_dual`, `directional`, `hyperplane` with the runtime's
//!   argument and result types; implements [`fomoh_runtime::Objective`].
//! - [`Retracing`]: an `Objective` that traces again when an input takes a branch no
//!   traced variant covers.
//! - Rerolling: a traced sum of many isomorphic terms (the trace of
//!   `(0..n).map(|i| term(x[i], ..)).sum()`) runs as a fused tensor loop
//!   ([`tensor`]) in every mode instead of straight-line code (see [`Options::reroll`]).
//! - Modes ([`Mode`]): primal, hyper-dual, the `v1 = v2` jet, and K directions (1..=16).
//! - Pipeline: [`trace`] (the [`Tracer`] scalar) → [`ir`] graph → [`stage`] (derivative lanes
//!   from `fomoh_runtime::rules`, with symbolic zeros, CSE, DCE) → [`codegen`] (Cranelift) →
//!   [`cache`]; [`interp`] is the reference interpreter over the same IR.
//!
//! Branches: comparisons on traced values are decided by their trace-time primal value and
//! recorded as guards; a compiled program checks them on every run and returns an error for
//! an input that would take another branch (it never returns the derivative of a branch it
//! did not trace). `max`, `min`, `abs`, `relu` are ops, not branches.
//!
//! ```
//! use fomoh_runtime::Scalar;
//! fn rosenbrock<S: Scalar>(x: &[S]) -> S {
//!     let (one, hundred) = (S::one(), S::from_f64(100.0));
//!     (0..x.len() - 1).map(|i| hundred * (x[i + 1] - x[i] * x[i]).powi(2) + (one - x[i]).powi(2)).sum()
//! }
//! let p = fomoh_jit::compile(2, |x| rosenbrock(x)).unwrap();
//! let hd = p.hyper_dual(&[-1.2, 1.0], &[1.0, 0.0], &[1.0, 0.0]).unwrap();
//! let rt = fomoh_runtime::hyper_dual(|x| rosenbrock(x), &[-1.2, 1.0], &[1.0, 0.0], &[1.0, 0.0]).unwrap();
//! assert!((hd.e12 - rt.e12).abs() < 1e-9 && (hd.e1 - rt.e1).abs() < 1e-12);
//! ```
#![warn(missing_docs)]

pub mod cache;
pub mod codegen;
pub mod error;
pub mod interp;
pub mod ir;
pub mod program;
mod reroll;
pub mod stage;
pub mod tensor;
pub mod trace;

pub use cache::{cache_stats, CacheStats};
pub use codegen::{live_kernels, CodegenOptions, CompileStats};
pub use error::JitError;
pub use program::{
    compile, compile_at, compile_at_with, compile_fn, compile_with, Options, Program, Retracing,
};
pub use stage::Mode;
pub use tensor::{Tensor, TensorBuilder, TensorProgram};
pub use trace::Tracer;
