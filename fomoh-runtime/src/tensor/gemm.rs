//! The matrix product kernel: a thin, bounds-checked wrapper over `matrixmultiply::dgemm`.
//!
//! `matrixmultiply` (bluss; the kernel behind `ndarray`) is pure Rust, has no dependencies,
//! selects AVX/FMA kernels at run time and takes arbitrary row/column strides, so a transposed
//! operand costs nothing and a plane of a tensor is multiplied in place.

/// A read-only row-major or transposed view of an `rows × cols` matrix in a slice.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MatRef<'a> {
    data: &'a [f64],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a> MatRef<'a> {
    /// A row-major `rows × cols` matrix. Panics if `data` is shorter than `rows * cols`
    /// (an internal invariant: callers check shapes first).
    pub(crate) fn new(data: &'a [f64], rows: usize, cols: usize) -> Self {
        assert!(data.len() >= rows * cols, "MatRef: buffer too short");
        Self { data, rows, cols, rs: cols, cs: 1 }
    }

    /// The transpose (a stride swap; no copy).
    pub(crate) fn t(self) -> Self {
        Self { data: self.data, rows: self.cols, cols: self.rows, rs: self.cs, cs: self.rs }
    }
}

/// `c = alpha · a · b + beta · c`, with `c` a row-major `a.rows × b.cols` buffer.
///
/// Panics on inconsistent dimensions (an internal invariant; the tensor ops check shapes and
/// return [`crate::Error::Shape`] before calling this).
pub(crate) fn gemm(alpha: f64, a: MatRef<'_>, b: MatRef<'_>, beta: f64, c: &mut [f64]) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(k, b.rows, "gemm: inner dimensions differ");
    assert!(c.len() >= m * n, "gemm: output too short");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        for v in &mut c[..m * n] {
            *v *= beta;
        }
        return;
    }
    // SAFETY: the views were built from slices holding at least rows*cols elements with
    // in-bounds strides (row-major or its transpose), `c` holds m*n elements, and `c` does not
    // alias `a` or `b` (it is a distinct `&mut`).
    unsafe {
        matrixmultiply::dgemm(
            m,
            k,
            n,
            alpha,
            a.data.as_ptr(),
            a.rs as isize,
            a.cs as isize,
            b.data.as_ptr(),
            b.rs as isize,
            b.cs as isize,
            beta,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}
