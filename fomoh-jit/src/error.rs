//! The JIT's typed error, convertible into [`fomoh_runtime::Error`].

use fomoh_runtime::Error;

/// Everything that can go wrong while tracing, staging, compiling or running a program.
///
/// The public entry points return [`fomoh_runtime::Error`]; [`From`] maps each variant onto
/// it (lengths onto [`Error::Length`], unsupported constructs onto [`Error::Unsupported`],
/// guard failures onto [`Error::GuardFailed`], the rest onto [`Error::Backend`] with backend
/// `"jit"`).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum JitError {
    /// An input of the wrong length was passed to a compiled program.
    #[error("length mismatch: {what} has length {found}, expected {expected}")]
    Length {
        /// Which input.
        what: String,
        /// The length needed.
        expected: usize,
        /// The length given.
        found: usize,
    },
    /// The traced or staged graph exceeds the configured node limit.
    #[error("graph too large: the {stage} graph needs more than {limit} nodes")]
    GraphTooLarge {
        /// `"traced"` or `"staged"`.
        stage: &'static str,
        /// The configured limit.
        limit: usize,
    },
    /// A branch recorded at trace time went the other way at run time: the compiled
    /// program does not contain the code of the branch that would have been taken.
    #[error(
        "guard failed: {0}; this input takes a branch the trace did not record (re-trace at this point)"
    )]
    GuardFailed(String),
    /// A program that traces again met more branch patterns than its limit of variants
    /// ([`crate::Options::max_variants`]): the function branches differently on (almost)
    /// every input; write the branch with `max`/`min`/`abs` or a select, or raise the limit.
    #[error("guard failed: this input takes a branch no traced variant covers, and the limit of {limit} traced variants is reached")]
    TooManyVariants {
        /// The limit.
        limit: usize,
    },
    /// The traced function read the primal value of an input-dependent tracer with
    /// `Scalar::value()`, so its control flow may depend on data the trace cannot guard.
    #[error("the traced function called value() on an input-dependent value; compare tracers instead (comparisons are recorded as guards)")]
    ValueEscape,
    /// A tracer from another trace (or from outside any trace) was used.
    #[error("a tracer from a different trace (or outside any trace) was used")]
    ForeignTracer,
    /// An operation or mode this backend does not support.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// Tensor shapes that do not agree (or a tensor outside the supported ranks/sizes).
    #[error("shape error: {0}")]
    Shape(String),
    /// Two different [`fomoh_runtime::Primitive`]s with one name were compiled in this
    /// process (their native calls are registered by name).
    #[error("two different primitives are named `{0}`; give each primitive a unique NAME")]
    PrimitiveNameClash(String),
    /// Cranelift failed to compile or link the generated code.
    #[error("code generation failed: {0}")]
    Codegen(String),
}

impl From<JitError> for Error {
    fn from(e: JitError) -> Self {
        match e {
            JitError::Length { what, expected, found } => Error::Length { what, expected, found },
            JitError::Unsupported(m) => Error::Unsupported(m),
            JitError::Shape(m) => Error::Shape(m),
            e @ (JitError::GuardFailed(_) | JitError::TooManyVariants { .. }) => {
                Error::GuardFailed(e.to_string())
            }
            other => Error::Backend { backend: "jit", message: other.to_string() },
        }
    }
}

/// `Result` with [`JitError`].
pub type JitResult<T> = core::result::Result<T, JitError>;

pub(crate) fn check_len(what: &str, expected: usize, found: usize) -> JitResult<()> {
    if expected == found {
        Ok(())
    } else {
        Err(JitError::Length { what: what.to_string(), expected, found })
    }
}

/// A code generator (Cranelift) error as a [`JitError::Codegen`].
pub(crate) fn cg_err(e: impl core::fmt::Display) -> JitError {
    JitError::Codegen(e.to_string())
}
