//! # fomoh-jit
//!
//! Traces functions written over [`fomoh_runtime::Scalar`] into a graph IR, stages their
//! second-order forward passes from the runtime's rule table, and compiles them to native
//! code with Cranelift.
//!
//! - [`compile`] / [`compile_at`] / [`compile_fn`]: trace a function into a [`Program`];
//!   [`compile_with_inputs`]: with data inputs bound at call time ([`Program::bind`] gives a
//!   [`BoundProgram`]; one program for every data set of those lengths).
//! - [`Program`]: `value`, `hyper_dual`, `directional`, `project` with the runtime's
//!   argument and result types; implements [`fomoh_runtime::Objective`].
//! - [`Retracing`]: an `Objective` that traces again when an input takes a branch no
//!   traced variant covers.
//! - Rerolling: a traced sum of many isomorphic terms (the trace of
//!   `(0..n).map(|i| term(x[i], ..)).sum()`) runs as a fused tensor loop
//!   ([`tensor`]) in every mode instead of straight-line code (see [`Options::reroll`]).
//! - Modes ([`Mode`]): primal, hyper-dual, the `v1 = v2` jet, and K directions (1..=`MAX_K`, 16).
//! - Float types ([`JitFloat`]): `f64` by default; [`Program::with_float`] and
//!   [`TensorProgram::with_float`] give `f32` programs running native `f32` code (`f32x4`
//!   loops, `sgemm`; rerolled programs too).
//! - Pipeline: [`trace`] (the [`Tracer`] scalar) → [`ir`] graph → [`stage`] (derivative lanes
//!   from `fomoh_runtime::rules`, with symbolic zeros, CSE, DCE) → [`codegen`] (Cranelift) →
//!   [`cache`]; [`interp`] is the reference interpreter over the same IR.
//!
//! Branches: comparisons on traced values are decided by their trace-time primal value and
//! recorded as guards; a compiled program checks them on every run and never returns the
//! derivative of a branch it did not trace. A program from [`compile`] turns a branch in every
//! term of a sum (or around the whole function) into a select (`branches`: both sides traced,
//! the traces merged), and traces again for any other branch an input takes (bounded); one
//! from [`compile_at`] returns a typed error instead. `max`, `min`, `abs`, `relu` are ops, not
//! branches.
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

/// Implements [`fomoh_runtime::Objective`] for a compiled program type `$ty` over a float
/// type `T: JitFloat` (`$ty` names `T`) from its inherent `value`, `hyper_dual`,
/// `directional` and `project` methods over `T` (`project`: one compiled k-direction pass for
/// `1 <= K <= MAX_K` (16) directions, `K(K+1)/2` compiled hyper-dual passes beyond, assembled
/// as the runtime does).
/// The objective's `f64` arguments are used in place for `f64` programs and rounded once to
/// `f32` for `f32` programs, whose results are returned exactly as `f64`. `$dim` computes the
/// parameter count from `$s` (the program). With `gradient_by_axes`,
/// [`fomoh_runtime::Objective::gradient`] is `n` compiled jet passes along the axes (for
/// small scalar programs; tensor models have no gradient here).
macro_rules! compiled_objective {
    ($ty:ty, |$s:ident| $dim:expr, gradient_by_axes) => {
        compiled_objective!($ty, |$s| $dim, {
            /// The gradient from `n` compiled three-lane passes along the axes.
            fn gradient(&self, x: &[f64]) -> Option<fomoh_runtime::Result<Vec<f64>>> {
                let n = fomoh_runtime::Objective::dim(self);
                let run = || -> fomoh_runtime::Result<Vec<f64>> {
                    crate::error::check_len("x", n, x.len())?;
                    let x = crate::float::cast::<T>(x);
                    let mut e = vec![T::cst(0.0); n];
                    let mut g = Vec::with_capacity(n);
                    for i in 0..n {
                        e[i] = T::cst(1.0);
                        g.push(<$ty>::directional(self, &x, &e)?.d1.as_f64());
                        e[i] = T::cst(0.0);
                    }
                    Ok(g)
                };
                Some(run())
            }
        });
    };
    ($ty:ty, |$s:ident| $dim:expr) => {
        compiled_objective!($ty, |$s| $dim, {});
    };
    ($ty:ty, |$s:ident| $dim:expr, { $($extra:tt)* }) => {
        impl<T: crate::JitFloat> fomoh_runtime::Objective for $ty {
            fn dim(&self) -> usize {
                let $s = self;
                $dim
            }
            fn value(&self, x: &[f64]) -> fomoh_runtime::Result<f64> {
                Ok(<$ty>::value(self, &crate::float::cast::<T>(x))?.as_f64())
            }
            fn hyper_dual(
                &self,
                x: &[f64],
                v1: &[f64],
                v2: &[f64],
            ) -> fomoh_runtime::Result<fomoh_runtime::HyperDual<f64>> {
                use crate::float::cast;
                Ok(crate::float::hd_f64(<$ty>::hyper_dual(self, &cast::<T>(x), &cast::<T>(v1), &cast::<T>(v2))?))
            }
            fn directional(&self, x: &[f64], v: &[f64]) -> fomoh_runtime::Result<fomoh_runtime::Jet<f64>> {
                use crate::float::cast;
                Ok(crate::float::jet_f64(<$ty>::directional(self, &cast::<T>(x), &cast::<T>(v))?))
            }
            /// The inherent `project`: one compiled k-direction pass for `1 <= K <= MAX_K`,
            /// else `K(K+1)/2` compiled hyper-dual passes.
            fn project(
                &self,
                x: &[f64],
                dirs: &[Vec<f64>],
            ) -> fomoh_runtime::Result<fomoh_runtime::Projection<f64>> {
                let (x, dirs) = (crate::float::cast::<T>(x), crate::float::cast_vecs::<T>(dirs));
                Ok(crate::float::projection_f64(<$ty>::project(self, &x, &*dirs)?))
            }
            $($extra)*
        }
    };
}

mod branches;
pub mod cache;
pub mod codegen;
pub mod error;
mod externs;
pub mod float;
pub mod interp;
pub mod ir;
mod lower;
pub mod model;
pub mod program;
mod reroll;
pub mod stage;
pub mod tensor;
pub mod trace;

pub use cache::{cache_stats, CacheStats};
pub use codegen::{live_kernels, CodegenOptions, CompileStats};
pub use error::JitError;
pub use float::{FloatType, JitFloat};
pub use model::{compile_model, compile_model_for, BoundModel, CompiledModel, TensorTracer};
pub use program::{
    compile, compile_at, compile_at_with, compile_fn, compile_with, compile_with_inputs,
    compile_with_inputs_opts, BoundProgram, Options, Program, Retracing,
};
pub use stage::Mode;
pub use tensor::{Tensor, TensorBuilder, TensorProgram};
pub use trace::Tracer;
