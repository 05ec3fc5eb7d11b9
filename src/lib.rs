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

// The guides' and the README's code blocks are doctests: `cargo test --doc` compiles and runs
// them, so the documentation cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
#[cfg(doctest)]
#[doc = include_str!("../docs/jit.md")]
pub struct JitGuide;
#[cfg(doctest)]
#[doc = include_str!("../docs/add-an-operation.md")]
pub struct AddAnOperationGuide;
#[cfg(doctest)]
#[doc = include_str!("../docs/testing-derivatives.md")]
pub struct TestingDerivativesGuide;
#[cfg(doctest)]
#[doc = include_str!("../docs/bad-input.md")]
pub struct BadInputGuide;
#[cfg(doctest)]
#[doc = include_str!("../docs/cli.md")]
pub struct CliGuide;
#[cfg(doctest)]
#[doc = include_str!("../docs/benchmarks.md")]
pub struct BenchmarksDoc;
#[cfg(doctest)]
#[doc = include_str!("../docs/models.md")]
pub struct ModelsGuide;
#[cfg(doctest)]
#[doc = include_str!("../docs/distributed.md")]
pub struct DistributedGuide;

pub mod generated;
/// Generates the second-order forward passes of an ordinary `f64` (or `f32`) function at
/// compile time.
///
/// ```
/// use fomoh::{fomoh, HyperDual, Objective};
///
/// #[fomoh]                       // every float parameter is active
/// fn rosenbrock(x: &[f64]) -> f64 {
///     let mut s = 0.0;
///     for i in 0..x.len() - 1 {
///         s += 100.0 * (x[i + 1] - x[i] * x[i]).powi(2) + (1.0 - x[i]).powi(2);
///     }
///     s
/// }
///
/// #[fomoh(wrt(w))]               // only `w` is active; `data` and `n` stay plain
/// fn loss(w: &[f64], data: &[f64], n: usize) -> f64 {
///     let mut s = 0.0;
///     for i in 0..n {
///         let (x, y) = (data[2 * i], data[2 * i + 1]);
///         s += (w[0] * x + w[1] - y).powi(2);
///     }
///     s / n as f64
/// }
///
/// fn main() {
/// // The original function is unchanged...
/// assert_eq!(rosenbrock(&[1.0, 1.0]), 0.0);
/// // ...and a module of the same name holds its forward passes.
/// let x = [HyperDual::seed(-1.2, 1.0, 1.0), HyperDual::seed(1.0, 0.0, 0.0)];
/// let hd = rosenbrock::hyper_dual(&x);
/// assert!((hd.e12 - 1330.0).abs() < 1e-9);          // ∂²f/∂x0²
/// let hd = fomoh::hyper_dual(|x| loss::hyper_dual(x, &[1.0, 2.0, 2.0, 3.0], 2), &[0.5, 0.0], &[1.0, 0.0], &[0.0, 1.0]).unwrap();
/// assert!((hd.e12 - 3.0).abs() < 1e-12);            // ∂²f/∂w0∂w1 = (2/n) Σ x
/// // An Objective for the optimizers, with the passive arguments captured.
/// let obj = loss::objective(2, &[1.0, 2.0, 2.0, 3.0], 2);
/// assert_eq!(obj.dim(), 2);
/// let p = obj.project(&[0.5, 0.0], &[vec![1.0, 0.0], vec![0.0, 1.0]]).unwrap();
/// assert!((p.hess[0][0] - 5.0).abs() < 1e-12 && p.passes == 1); // (2/n) Σ x²
/// }
/// ```
///
/// # What it generates
/// The function is kept as written; next to it a module `name` holds:
/// - `name::generic::<S: Scalar>(...)`: the function with active floats as `S`. Passive
///   arguments keep their types; passive constants become `S::from_f64(c)` only where they
///   meet active values. Runs on every backend (runtime entry points, checks, JIT tracer).
/// - `name::hyper_dual(...)`: the same parameters in the same order, active floats as
///   `HyperDual<F>` (slices as slices of it), returning `HyperDual<F>` (`F` is the function's
///   float type).
/// - `name::hyperplane::<K>(...)` with `HyperK<F, K>` (one pass, K directions, K known at
///   compile time: `Projection::from` its result is the projection), and
///   `name::directional(...)` with `Jet<F>` (three lanes, `v1 = v2`).
/// - For an `f64` function whose only active parameter is a slice `&[f64]` (and whose passive
///   parameters are references or numbers): `name::Function` (the passive arguments captured;
///   implements [`ScalarFn`] and [`Generated`]) and `name::objective(dim, passive...)`, a
///   [`GeneratedObjective`] (an [`Objective`] of dimension `dim` whose passes run the generated
///   code: one `HyperK` pass for up to 16 directions).
///
/// In the concrete passes, passive data and everything computed from it alone stay plain
/// floats, and they meet active values through the mixed operators (`HyperDual * f64`): no
/// derivative lanes are computed for them (activity analysis).
///
/// # What it accepts
/// Parameters `f64`/`f32`, `&[f64]`, `&[f64; N]`, `&Vec<f64>`, `&[Vec<f64>]` (active unless
/// `wrt(...)` lists others), integers, bools and references to other data (passive). Bodies
/// with `let` (typed or not), assignment and compound assignment, arithmetic, casts of passive
/// values, indexing, `.len()`, `for` over ranges and slices (`.iter()`, `.zip`, `.enumerate`,
/// `.rev`, `.skip`, `.take`, `.step_by`, `.copied`, `.sum()`, patterns like `&c` and
/// `(i, (&a, b))`), `while`, `loop`/`break`/`continue`, `if`/`else` and `match` on passive
/// values or comparisons of active values (the primal decides), `return`, blocks, local arrays
/// and `Vec`s of active values (`[0.0; N]`, `vec![0.0; n]`, `Vec::new()` + `push`), the
/// methods of [`Scalar`] (`exp`, `ln`, `powi`, `powf`, `tanh`, `sigmoid`, `max`, `atan2`, ...),
/// `f64::max(a, b)`-style calls, `std::f64::consts`, `assert!`-family macros, calls to
/// other `#[fomoh]` functions (their matching pass is called: an active argument must go to an
/// active parameter of the callee), and calls of functions generic over `S: Scalar` that
/// return `S` (`fn helper<S: Scalar>(t: S, c: f64) -> S`: called with the pass's number type),
/// by name or by path (`m::helper`, `self::`, `super::`, `crate::`, another crate's
/// `fomoh::logsumexp`). Annotate functions at module level (the generated module reaches the
/// function's surroundings through `use super::*`, which does not see items declared inside a
/// function body).
///
/// # What it refuses
/// Each of these is a compile error at its span, all reported in one compile: methods and
/// free functions with no derivative rule (`x.floor()`, `std::...`, `f64::signum`), casts of
/// active values to integers or to the other float type, `unsafe`, raw pointers, closures
/// and iterator adaptors that capture active values, `&mut` active parameters and `&mut`
/// borrows of active values, storing active values in passive parameters, `async`, methods
/// (`self`), type generics and `impl Trait` (they hide the float type), and a return type
/// other than `f64`/`f32`. A call with active arguments to any other function (a plain
/// `fn helper(t: f64) -> f64`) is refused at the call, naming the function: "`fn(f64) -> f64
/// {helper}` is called with active values in a #[fomoh] function, but it has no derivative
/// passes", with the fix (mark it `#[fomoh]`, or make it generic over `S: Scalar`). The macro
/// sees only its own function, so this one comes from rustc (error E0277, through
/// `#[diagnostic::on_unimplemented]`) rather than from the macro. The same holds for a callee
/// named by a path (`m::helper(x)`, `crate::m::helper`, `super::helper`, another crate's
/// function). Past 24 active arguments the refusal is a type mismatch instead ("expected fn
/// pointer `fn(_, …) -> HyperDual<f64>`, found fn item `… -> f64 {helper}`").
pub use fomoh_macros::fomoh;
#[doc(hidden)]
pub use generated::__private as __macro;
pub use generated::{Generated, GeneratedObjective};

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
    pub use fomoh_runtime::{
        data::Dataset,
        models::{Activation, Cnn, LogisticRegression, Minibatch, Mlp, Model},
    };
    pub use fomoh_runtime::{
        nn::{Backend, Var},
        optim::{Checkpoint, Report, StopReason},
    };
    pub use fomoh_runtime::{
        objective, Directions, HyperDual, HyperK, Jet, Objective, Projection, Scalar, ScalarFn,
    };
    pub use fomoh_runtime::{
        Adam, Curvature, Fgd, Fomoh, FomohBp, FomohKd, Newton, Optimizer, Options, Sgd, Tangents,
    };
}

pub mod distributed;
