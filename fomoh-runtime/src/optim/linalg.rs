//! Small dense linear algebra for the optimizers: the k×k projected Hessian of FoMoH-KD
//! (k ≤ ~16) and Newton's n×n Hessian for small n.
//!
//! Three routines, each a few lines and tested against identities (`A x = b`, `A A⁻¹ = I`,
//! `A = Q Λ Qᵀ`): a Cholesky solve, a Gauss–Jordan inverse with partial pivoting that reports
//! an exactly singular matrix (as LAPACK's `getrf`, which the paper's reference code reaches
//! through `torch.linalg.inv`), and the cyclic Jacobi eigen-decomposition of a symmetric
//! matrix. Matrices are `&[Vec<f64>]`, row-major. A dependency such as `nalgebra` would do the
//! same; at these sizes the three routines are shorter than the conversions to and from it.
//!
//! Each routine first scales its matrix by a power of two (exact) so that its largest entry
//! is near 1, and undoes the scaling in the result: a matrix near `1e200` or `1e-200` gives
//! the same answer as the same matrix near 1, where squares and sums of squares would
//! otherwise overflow or underflow.

/// The power of two `s` with `s · max|x|` in `[1, 2)` (1 for zero or non-finite input).
fn scale_of<'a>(x: impl IntoIterator<Item = &'a f64>) -> f64 {
    let max = x.into_iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    if max == 0.0 || !max.is_finite() {
        return 1.0;
    }
    let e = (max.log2().floor() as i32).clamp(-1020, 1020);
    2f64.powi(-e)
}

/// `s · A`.
fn scaled(a: &[Vec<f64>], s: f64) -> Matrix {
    a.iter().map(|row| row.iter().map(|v| v * s).collect()).collect()
}

/// A dense row-major matrix.
pub type Matrix = Vec<Vec<f64>>;

/// Solves `A x = b` for a symmetric positive definite `A` by Cholesky (`A = L Lᵀ`).
/// Returns `None` when `A` is not positive definite (a pivot `<= 0` or not finite).
///
/// ```
/// use fomoh_runtime::optim::linalg::cholesky_solve;
/// let x = cholesky_solve(&[vec![4.0, 2.0], vec![2.0, 3.0]], &[2.0, 1.0]).unwrap();
/// assert!((4.0 * x[0] + 2.0 * x[1] - 2.0).abs() < 1e-15);
/// assert!(cholesky_solve(&[vec![1.0, 0.0], vec![0.0, -1.0]], &[1.0, 1.0]).is_none());
/// ```
pub fn cholesky_solve(a: &[Vec<f64>], b: &[f64]) -> Option<Vec<f64>> {
    // (sa A) y = sb b, x = y · sa / sb.
    let (sa, sb) = (scale_of(a.iter().flatten()), scale_of(b));
    let a = scaled(a, sa);
    let b: Vec<f64> = b.iter().map(|v| v * sb).collect();
    let back = sa / sb;
    let n = b.len();
    let mut l = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = a[i][j] - (0..j).map(|p| l[i][p] * l[j][p]).sum::<f64>();
            if i == j {
                if s <= 0.0 || !s.is_finite() {
                    return None;
                }
                l[i][i] = s.sqrt();
            } else {
                l[i][j] = s / l[j][j];
            }
        }
    }
    // L y = b, then Lᵀ x = y.
    let mut y = vec![0.0; n];
    for i in 0..n {
        y[i] = (b[i] - (0..i).map(|p| l[i][p] * y[p]).sum::<f64>()) / l[i][i];
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        x[i] = (y[i] - (i + 1..n).map(|p| l[p][i] * x[p]).sum::<f64>()) / l[i][i];
    }
    Some(x.into_iter().map(|v| v * back).collect())
}

/// The inverse of a square matrix by Gauss–Jordan elimination with partial pivoting.
/// Returns `None` when a pivot is exactly zero (an exactly singular matrix) or the result is
/// not finite. Nearly singular matrices are inverted, as LAPACK does.
///
/// ```
/// use fomoh_runtime::optim::linalg::inverse;
/// let inv = inverse(&[vec![0.0, 2.0], vec![4.0, 0.0]]).unwrap();
/// assert_eq!(inv, vec![vec![0.0, 0.25], vec![0.5, 0.0]]);
/// assert!(inverse(&[vec![1.0, 2.0], vec![2.0, 4.0]]).is_none());
/// ```
pub fn inverse(a: &[Vec<f64>]) -> Option<Matrix> {
    let n = a.len();
    // (s A)⁻¹ = A⁻¹ / s.
    let s = scale_of(a.iter().flatten());
    let mut m: Matrix = scaled(a, s);
    let mut inv: Matrix = identity(n);
    for c in 0..n {
        let p = (c..n).max_by(|&i, &j| m[i][c].abs().total_cmp(&m[j][c].abs()))?;
        if m[p][c] == 0.0 || !m[p][c].is_finite() {
            return None;
        }
        m.swap(c, p);
        inv.swap(c, p);
        let d = m[c][c];
        for j in 0..n {
            m[c][j] /= d;
            inv[c][j] /= d;
        }
        for r in 0..n {
            if r != c {
                let f = m[r][c];
                if f != 0.0 {
                    for j in 0..n {
                        m[r][j] -= f * m[c][j];
                        inv[r][j] -= f * inv[c][j];
                    }
                }
            }
        }
    }
    let inv = scaled(&inv, s);
    inv.iter().flatten().all(|v| v.is_finite()).then_some(inv)
}

/// The n×n identity.
pub fn identity(n: usize) -> Matrix {
    (0..n).map(|i| (0..n).map(|j| if i == j { 1.0 } else { 0.0 }).collect()).collect()
}

/// The dot product `a · b` (in index order).
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(a, b)| a * b).sum()
}

/// Scales `v` in place to the Euclidean length `length`; a zero (or not finite) vector is
/// left as it is, and `false` returned.
pub fn scale_to_length(v: &mut [f64], length: f64) -> bool {
    let norm = dot(v, v).sqrt();
    let scaled = norm > 0.0;
    if scaled {
        let c = length / norm;
        v.iter_mut().for_each(|x| *x *= c);
    }
    scaled
}

/// `A x`.
pub fn mat_vec(a: &[Vec<f64>], x: &[f64]) -> Vec<f64> {
    a.iter().map(|row| dot(row, x)).collect()
}

/// Eigen-decomposition `A = Q diag(λ) Qᵀ` of a symmetric matrix by cyclic Jacobi rotations.
/// Returns `(λ, Q)` with the eigenvectors in the columns of `Q`. Converges quadratically;
/// stops when the off-diagonal mass is below `1e-15·‖A‖_F` or after 100 sweeps.
///
/// ```
/// use fomoh_runtime::optim::linalg::symmetric_eigen;
/// let (l, _) = symmetric_eigen(&[vec![2.0, 1.0], vec![1.0, 2.0]]);
/// let mut l = l; l.sort_by(f64::total_cmp);
/// assert!((l[0] - 1.0).abs() < 1e-14 && (l[1] - 3.0).abs() < 1e-14);
/// ```
pub fn symmetric_eigen(a: &[Vec<f64>]) -> (Vec<f64>, Matrix) {
    let n = a.len();
    // The eigenvalues of s A are s λ.
    let s = scale_of(a.iter().flatten());
    let mut m: Matrix = scaled(a, s);
    let mut q = identity(n);
    let norm: f64 = m.iter().flatten().map(|v| v * v).sum::<f64>().sqrt();
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| m[i][j] * m[i][j])
            .sum::<f64>()
            .sqrt();
        if off <= 1e-15 * norm || off == 0.0 {
            break;
        }
        for p in 0..n {
            for r in p + 1..n {
                if m[p][r] == 0.0 {
                    continue;
                }
                // The rotation that zeroes m[p][r] (Golub & Van Loan, Algorithm 8.5.1).
                let theta = (m[r][r] - m[p][p]) / (2.0 * m[p][r]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (mkp, mkr) = (m[k][p], m[k][r]);
                    m[k][p] = c * mkp - s * mkr;
                    m[k][r] = s * mkp + c * mkr;
                }
                for k in 0..n {
                    let (mpk, mrk) = (m[p][k], m[r][k]);
                    m[p][k] = c * mpk - s * mrk;
                    m[r][k] = s * mpk + c * mrk;
                }
                for k in 0..n {
                    let (qkp, qkr) = (q[k][p], q[k][r]);
                    q[k][p] = c * qkp - s * qkr;
                    q[k][r] = s * qkp + c * qkr;
                }
            }
        }
    }
    ((0..n).map(|i| m[i][i] / s).collect(), q)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spd(n: usize, seed: u64) -> Matrix {
        // B Bᵀ + n I from a deterministic sequence.
        let b: Matrix = (0..n)
            .map(|i| (0..n).map(|j| ((i * 7 + j * 3 + seed as usize) as f64).sin()).collect())
            .collect();
        (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| {
                        (0..n).map(|k| b[i][k] * b[j][k]).sum::<f64>() + if i == j { n as f64 } else { 0.0 }
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn cholesky_solves_spd_systems() {
        for n in 1..=16 {
            let a = spd(n, n as u64);
            let b: Vec<f64> = (0..n).map(|i| (i as f64).cos()).collect();
            let x = cholesky_solve(&a, &b).unwrap();
            for (ax, bi) in mat_vec(&a, &x).iter().zip(&b) {
                assert!((ax - bi).abs() < 1e-12, "n = {n}");
            }
        }
        assert!(cholesky_solve(&[vec![0.0]], &[1.0]).is_none());
        assert!(cholesky_solve(&[vec![f64::NAN]], &[1.0]).is_none());
    }

    #[test]
    fn inverse_times_matrix_is_identity() {
        for n in 1..=12 {
            let mut a = spd(n, 3);
            a[0][n - 1] += 0.5; // not symmetric: the inverse is general
            let inv = inverse(&a).unwrap();
            for i in 0..n {
                for j in 0..n {
                    let v: f64 = (0..n).map(|k| a[i][k] * inv[k][j]).sum();
                    assert!((v - if i == j { 1.0 } else { 0.0 }).abs() < 1e-12);
                }
            }
        }
        assert!(inverse(&[vec![0.0, 0.0], vec![0.0, 1.0]]).is_none());
        // Indefinite but regular: inverted.
        assert!(inverse(&[vec![1.0, 0.0], vec![0.0, -1.0]]).is_some());
    }

    #[test]
    fn huge_and_tiny_matrices_give_the_scaled_answer() {
        for c in [1e155, 1e200, 1e300, 1e-155, 1e-200, 1e-300] {
            for n in [2, 5, 16] {
                let a = spd(n, 7);
                let b: Vec<f64> = (0..n).map(|i| (i as f64 + 0.5).sin()).collect();
                let ca = scaled(&a, c);
                let close = |x: f64, want: f64, what: &str| {
                    assert!(
                        (x - want).abs() <= 1e-9 * want.abs().max(1e-300),
                        "{what} c = {c:e} n = {n}: {x:e} vs {want:e}"
                    );
                };
                // (cA) x = b  =>  x = A⁻¹ b / c.
                let x = cholesky_solve(&a, &b).unwrap();
                let xc = cholesky_solve(&ca, &b).unwrap();
                for (u, v) in xc.iter().zip(&x) {
                    close(*u, v / c, "cholesky");
                }
                let inv = inverse(&a).unwrap();
                let invc = inverse(&ca).unwrap();
                for (u, v) in invc.iter().flatten().zip(inv.iter().flatten()) {
                    close(*u, v / c, "inverse");
                }
                let (mut l, _) = symmetric_eigen(&a);
                let (mut lc, q) = symmetric_eigen(&ca);
                l.sort_by(f64::total_cmp);
                lc.sort_by(f64::total_cmp);
                for (u, v) in lc.iter().zip(&l) {
                    close(*u, v * c, "eigenvalue");
                }
                // Not the diagonal: Q is a genuine rotation for this non-diagonal matrix.
                assert!(q
                    .iter()
                    .enumerate()
                    .any(|(i, r)| r.iter().enumerate().any(|(j, v)| i != j && v.abs() > 1e-3)));
            }
        }
    }

    #[test]
    fn jacobi_reconstructs_symmetric_matrices() {
        for n in 1..=16 {
            let mut a = spd(n, 5);
            for i in 0..n {
                a[i][i] -= 1.5 * n as f64; // make some eigenvalues negative
            }
            let (l, q) = symmetric_eigen(&a);
            for i in 0..n {
                for j in 0..n {
                    let r: f64 = (0..n).map(|k| q[i][k] * l[k] * q[j][k]).sum();
                    assert!((r - a[i][j]).abs() < 1e-11 * n as f64, "n = {n}");
                    let o: f64 = (0..n).map(|k| q[k][i] * q[k][j]).sum();
                    assert!((o - if i == j { 1.0 } else { 0.0 }).abs() < 1e-12);
                }
            }
        }
    }
}
