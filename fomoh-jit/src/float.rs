//! The floating-point types compiled programs (scalar and tensor) run in: `f64` (the default) and `f32`.
//!
//! The traced and staged graphs do not depend on the float type (literals are stored as
//! `f64`); only code generation does: an `f32` kernel loads, computes and stores `f32`,
//! its literals are the `f64` literals rounded once to `f32`, and its transcendentals call
//! `extern "C"` wrappers of the runtime's own `f32` functions (`f32::sin`, ...), i.e.
//! exactly the functions the runtime's `HyperDual<f32>`, `Jet<f32>` and `HyperK<f32, K>`
//! evaluate. See [`crate::Program::with_float`].

use fomoh_runtime::{HyperDual, Jet, Projection, RealNum, Scalar};
use std::borrow::Cow;

/// A float type tag, part of the code cache's key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FloatType {
    /// `f32`.
    F32,
    /// `f64`.
    F64,
}

impl FloatType {
    /// The size of one value in bytes.
    pub fn bytes(self) -> usize {
        match self {
            FloatType::F32 => 4,
            FloatType::F64 => 8,
        }
    }

    /// The Rust name of the type.
    pub fn name(self) -> &'static str {
        match self {
            FloatType::F32 => "f32",
            FloatType::F64 => "f64",
        }
    }

    /// The Cranelift type.
    pub(crate) fn clif(self) -> cranelift_codegen::ir::Type {
        match self {
            FloatType::F32 => cranelift_codegen::ir::types::F32,
            FloatType::F64 => cranelift_codegen::ir::types::F64,
        }
    }
}

pub(crate) mod sealed {
    /// Not implementable outside this crate; carries what the tensor programs need per
    /// float type (graph data in place, matmul scratch, the `gemm` kernel).
    pub trait Sealed: Sized {
        /// The `f64` slice as `Self`s if `Self` is `f64` (graph data used in place).
        fn from_f64s(s: &[f64]) -> Option<&[Self]>;
        /// The `f64` vectors as vectors of `Self` if `Self` is `f64`.
        fn from_f64_vecs(v: &[Vec<f64>]) -> Option<&[Vec<Self>]>;
        /// Takes this thread's matmul scratch vector of `Self`s (empty at first).
        fn take_scratch() -> Vec<Self>;
        /// Gives this thread's matmul scratch vector back.
        fn set_scratch(v: Vec<Self>);
        /// `c = alpha·a·b + beta·c` (`matrixmultiply`'s `dgemm` or `sgemm`) for the
        /// `(m, k, n)` shapes; each matrix is a pointer with its row and column strides.
        ///
        /// # Safety
        /// As `matrixmultiply::dgemm`: the strided `m × k`, `k × n` and `m × n` matrices lie
        /// inside live allocations, and `c` does not overlap `a` or `b`.
        unsafe fn gemm(
            mkn: (usize, usize, usize),
            alpha: Self,
            a: Strided<*const Self>,
            b: Strided<*const Self>,
            beta: Self,
            c: Strided<*mut Self>,
        );
    }
    /// A matrix: its first element, row stride and column stride.
    pub type Strided<P> = (P, isize, isize);
    macro_rules! gemm_impl {
        ($f:path, $scratch:ident) => {
            fn take_scratch() -> Vec<Self> {
                $scratch.take()
            }
            fn set_scratch(v: Vec<Self>) {
                $scratch.set(v)
            }
            unsafe fn gemm(
                (m, k, n): (usize, usize, usize),
                alpha: Self,
                (a, rsa, csa): Strided<*const Self>,
                (b, rsb, csb): Strided<*const Self>,
                beta: Self,
                (c, rsc, csc): Strided<*mut Self>,
            ) {
                // SAFETY: the caller's contract is `matrixmultiply`'s.
                unsafe { $f(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc) }
            }
        };
    }
    impl Sealed for f64 {
        fn from_f64s(s: &[f64]) -> Option<&[f64]> {
            Some(s)
        }
        fn from_f64_vecs(v: &[Vec<f64>]) -> Option<&[Vec<f64>]> {
            Some(v)
        }
        gemm_impl!(matrixmultiply::dgemm, SCRATCH_F64);
    }
    thread_local! {
        static SCRATCH_F64: core::cell::Cell<Vec<f64>> = const { core::cell::Cell::new(Vec::new()) };
        static SCRATCH_F32: core::cell::Cell<Vec<f32>> = const { core::cell::Cell::new(Vec::new()) };
    }
    impl Sealed for f32 {
        fn from_f64s(_: &[f64]) -> Option<&[f32]> {
            None
        }
        fn from_f64_vecs(_: &[Vec<f64>]) -> Option<&[Vec<f32>]> {
            None
        }
        gemm_impl!(matrixmultiply::sgemm, SCRATCH_F32);
    }
}

/// A float type a scalar [`crate::Program`] or a [`crate::tensor::TensorProgram`] can be
/// compiled for: `f32` or `f64` (sealed).
pub trait JitFloat: sealed::Sealed + RealNum + Scalar + 'static {
    /// The type's tag.
    const TYPE: FloatType;
}

impl JitFloat for f32 {
    const TYPE: FloatType = FloatType::F32;
}

impl JitFloat for f64 {
    const TYPE: FloatType = FloatType::F64;
}

/// `x` in `T`: borrowed for `f64`, rounded once per element otherwise (the `f64` interface
/// of [`fomoh_runtime::Objective`] over programs in another float type).
pub(crate) fn cast<T: JitFloat>(x: &[f64]) -> Cow<'_, [T]> {
    match T::from_f64s(x) {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(x.iter().map(|&v| T::cst(v)).collect()),
    }
}

/// The vectors `v` in `T` (borrowed for `f64`), as [`cast`].
pub(crate) fn cast_vecs<T: JitFloat>(v: &[Vec<f64>]) -> Cow<'_, [Vec<T>]> {
    match T::from_f64_vecs(v) {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(v.iter().map(|d| d.iter().map(|&x| T::cst(x)).collect()).collect()),
    }
}

/// A hyper-dual result in `f64` (exact).
pub(crate) fn hd_f64<T: JitFloat>(h: HyperDual<T>) -> HyperDual<f64> {
    HyperDual::new(h.re.as_f64(), h.e1.as_f64(), h.e2.as_f64(), h.e12.as_f64())
}

/// A jet in `f64` (exact).
pub(crate) fn jet_f64<T: JitFloat>(j: Jet<T>) -> Jet<f64> {
    Jet::new(j.re.as_f64(), j.d1.as_f64(), j.d2.as_f64())
}

/// A projection in `f64` (exact).
pub(crate) fn projection_f64<T: JitFloat>(p: Projection<T>) -> Projection<f64> {
    Projection {
        value: p.value.as_f64(),
        grad: widen(&p.grad),
        hess: p.hess.iter().map(|r| widen(r)).collect(),
        passes: p.passes,
    }
}

/// `x` in `f64` (exact).
pub(crate) fn widen<T: JitFloat>(x: &[T]) -> Vec<f64> {
    x.iter().map(|v| v.as_f64()).collect()
}
