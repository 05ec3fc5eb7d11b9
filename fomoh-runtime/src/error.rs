//! The typed error of the fomoh runtime (re-exported as `fomoh::Error`).

/// Everything that can go wrong in a fomoh library call. Library APIs return this in a
/// `Result` instead of panicking on user data.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An input's length does not match what the call expects.
    #[error("length mismatch: {what} has length {found}, expected {expected}")]
    Length {
        /// Which input (e.g. `"v1"`, `"dirs[2]"`).
        what: String,
        /// The length the call needed.
        expected: usize,
        /// The length it got.
        found: usize,
    },
    /// Tensor or matrix shapes that do not agree.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// A non-finite (NaN or infinite) input or result where a finite one is required.
    #[error("non-finite value: {0}")]
    NonFinite(String),
    /// An argument outside its allowed range (empty input, bad setting, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A singular or indefinite system where no fallback is allowed.
    #[error("singular system: {0}")]
    Singular(String),
    /// An operation or construct this backend does not support.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A compiled program met an input that takes a branch its traces do not cover (a
    /// program compiled in strict mode, or one whose limit of traced variants is reached).
    #[error("{0}")]
    GuardFailed(String),
    /// A failure inside a backend (e.g. the JIT compiler), with its message.
    #[error("{backend}: {message}")]
    Backend {
        /// The backend's name (`"jit"`, ...).
        backend: &'static str,
        /// What went wrong.
        message: String,
    },
    /// A file could not be read or written.
    #[error("I/O error on {path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's message.
        message: String,
    },
    /// Malformed data (a data set, a checkpoint, ...).
    #[error("bad data in {source_name}: {message}")]
    Data {
        /// Where the data came from (file name or description).
        source_name: String,
        /// What is wrong with it.
        message: String,
    },
}

impl Error {
    /// A [`Error::Length`] error.
    pub fn length(what: impl Into<String>, expected: usize, found: usize) -> Self {
        Error::Length { what: what.into(), expected, found }
    }

    /// An [`Error::Io`] error for `path`.
    pub fn io(path: impl AsRef<std::path::Path>, err: &std::io::Error) -> Self {
        Error::Io { path: path.as_ref().display().to_string(), message: err.to_string() }
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Checks that `found == expected`, naming the input in the error.
pub fn check_len(what: impl FnOnce() -> String, expected: usize, found: usize) -> Result<()> {
    if found == expected {
        Ok(())
    } else {
        Err(Error::Length { what: what(), expected, found })
    }
}
