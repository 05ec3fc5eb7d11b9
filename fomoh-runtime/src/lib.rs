//! # fomoh-runtime
//!
//! The numeric core of fomoh-rs: second-order forward-mode automatic differentiation
//! (Cobb et al., "Second-Order Forward-Mode Automatic Differentiation for Optimization",
//! arXiv 2408.10419).
//!
//! - [`Scalar`]: the trait user code is written against (`f32`, `f64` and every number type).
//! - [`HyperDual`]: `f`, `∇f·v1`, `∇f·v2`, `v1ᵀHv2` in one pass.
//! - [`HyperK`]: `f`, K directional derivatives and the K×K projected Hessian in one pass.
//! - [`Jet`]: the three-lane `v1 = v2` case.
//! - [`rules`]: every elementary function's `(f, f', f'')`, written once, generic over the
//!   base [`Real`] so that the JIT reuses it.
//! - Entry points [`hyper_dual`], [`hyperplane`], [`directional`], [`gradient`], [`hessian`],
//!   [`project`] (the [`Projection`] onto any [`Directions`]; see [`projection`]), and
//!   derivative checks for tests in [`check`].
//!
//! ```
//! use fomoh_runtime::{hyper_dual, hyperplane, Scalar};
//! fn rosenbrock<S: Scalar>(x: &[S]) -> S {
//!     let (one, hundred) = (S::one(), S::from_f64(100.0));
//!     (0..x.len() - 1).map(|i| hundred * (x[i + 1] - x[i] * x[i]).powi(2) + (one - x[i]).powi(2)).sum()
//! }
//! let x = [-1.2, 1.0];
//! let hd = hyper_dual(|x| rosenbrock(x), &x, &[1.0, 0.0], &[1.0, 0.0]).unwrap();
//! assert!((hd.re - 24.2).abs() < 1e-12);
//! assert!((hd.e1 - -215.6).abs() < 1e-12);   // ∂f/∂x0
//! assert!((hd.e12 - 1330.0).abs() < 1e-9);   // ∂²f/∂x0²
//! let p = hyperplane(|x| rosenbrock(x), &x, &[vec![1.0, 0.0], vec![0.0, 1.0]]).unwrap();
//! assert!((p.hess[0][1] - 480.0).abs() < 1e-9);
//! ```
#![warn(missing_docs)]
// Index arithmetic over packed blocks and matrices reads clearer with explicit indices.
#![allow(clippy::needless_range_loop)]

pub mod api;
pub mod check;
pub mod data;
pub mod error;
pub mod hyperdual;
pub mod hyperk;
pub mod interop;
pub mod jet;
pub mod models;
pub mod nn;
mod number;
pub mod objective;
pub mod ops;
pub mod optim;
pub mod primitive;
pub mod projection;
pub mod real;
pub mod rules;
pub mod scalar;
pub mod span;
pub mod tensor;

pub use api::{directional, gradient, hessian, hyper_dual, hyperplane, project, project_pairwise, KPass};
pub use error::{Error, Result};
pub use fomoh_ops::{for_each_binary, for_each_k, for_each_unary, MAX_K};
pub use hyperdual::HyperDual;
pub use hyperk::{packed_index, Dim, HyperK, Packed};
pub use jet::Jet;
pub use objective::{objective, FnObjective, Objective, WeightedSum};
pub use optim::{
    Adam, Checkpoint, Curvature, Fallback, Fgd, Fomoh, FomohBp, FomohKd, LastGood, Newton, NonFinitePolicy,
    Optimizer, Options, Report, Schedule, Sgd, StepReport, Tangents,
};
pub use primitive::{custom, CustomOp, Primitive};
pub use projection::{Directions, Projection};
pub use real::{Real, RealNum};
pub use rules::{BinaryOp, OpParam, Partials, Rule, UnaryOp};
pub use scalar::{logsumexp, Scalar, ScalarFn};
pub use span::{InputSpan, WithSpan};
