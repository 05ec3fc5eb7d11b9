//! [`Curvature::Damped`](super::Curvature::Damped): FoMoH-KD's step with Levenberg–Marquardt
//! damping adapted per step from how well the K-dimensional quadratic model predicted the
//! actual decrease (a trust region in the metric of the step in θ).
//!
//! With `F`, `H̃` from the step's k-direction pass and `G_ij = v_i·v_j` (the directions' Gram
//! matrix, so that `‖Σ κ_i v_i‖² = κᵀGκ`), the step solves `(H̃ + λG) κ = −F` and moves
//! `s = η Σ κ_i v_i`. The model predicts the decrease `pred = −(η Fᵀκ + ½ η² κᵀH̃κ)`, positive
//! whenever `H̃ + λG` is positive definite; one primal pass gives the actual decrease
//! `f(θ) − f(θ + s)`, and `ρ = actual / pred`:
//!
//! - `ρ > 0.75` (the model is good): `λ ← λ/3`, down to 0, where the step is the Newton step of
//!   the paper's FoMoH-KD;
//! - `ρ < 0.25`: `λ ← max(4λ, scale/10)` (`scale = |tr H̃| / tr G`, the mean curvature per unit
//!   step);
//! - the step is taken only if the loss went down (`ρ > 0`); otherwise θ stays.
//!
//! An indefinite `H̃ + λG` raises `λ` for this step (doubling from `scale·1e-6`) until the
//! Cholesky factorization succeeds.

use super::linalg::{cholesky_solve, dot, mat_vec, Matrix};

/// `ρ` above which the damping is relaxed.
const GOOD: f64 = 0.75;
/// `ρ` below which the damping is raised.
const POOR: f64 = 0.25;
/// The most doublings of `λ` tried to make `H̃ + λG` positive definite.
const MAX_DOUBLINGS: usize = 200;

/// One damped solve: `κ`, the `λ` used and the predicted decrease of the step `η Σ κ_i v_i`.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct DampedSolve {
    /// The coefficients of the directions (before `η`).
    pub(super) kappa: Vec<f64>,
    /// The damping used (at least the stored one).
    pub(super) lambda: f64,
    /// `−(η Fᵀκ + ½ η² κᵀH̃κ)`.
    pub(super) predicted: f64,
    /// `|tr H̃| / tr G`.
    pub(super) scale: f64,
}

/// The Gram matrix `G_ij = v_i·v_j` of the directions.
pub(super) fn gram(dirs: &[Vec<f64>]) -> Matrix {
    let k = dirs.len();
    let mut g = vec![vec![0.0; k]; k];
    for i in 0..k {
        for j in i..k {
            let d = dot(&dirs[i], &dirs[j]);
            g[i][j] = d;
            g[j][i] = d;
        }
    }
    g
}

/// Solves `(H̃ + λG) κ = −F` with the smallest `λ >= lambda` (of the doublings tried) for which
/// `H̃ + λG` is positive definite. `None` if no such `λ` was found or `G` is zero.
pub(super) fn solve(h: &[Vec<f64>], g: &[Vec<f64>], f: &[f64], lambda: f64, lr: f64) -> Option<DampedSolve> {
    let k = f.len();
    let tr_g: f64 = (0..k).map(|i| g[i][i]).sum();
    if tr_g.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        return None;
    }
    let tr_h: f64 = (0..k).map(|i| h[i][i]).sum::<f64>().abs();
    let scale = (tr_h / tr_g).max(f64::MIN_POSITIVE);
    let neg_f: Vec<f64> = f.iter().map(|v| -v).collect();
    let mut lam = lambda;
    for _ in 0..MAX_DOUBLINGS {
        let a: Matrix = (0..k).map(|i| (0..k).map(|j| h[i][j] + lam * g[i][j]).collect()).collect();
        if let Some(kappa) = cholesky_solve(&a, &neg_f) {
            let (fk, khk) = (dot(f, &kappa), dot(&kappa, &mat_vec(h, &kappa)));
            let predicted = -(lr * fk + 0.5 * lr * lr * khk);
            return Some(DampedSolve { kappa, lambda: lam, predicted, scale });
        }
        lam = (2.0 * lam).max(scale * 1e-6);
    }
    None
}

/// The damping after a step with ratio `rho` (actual over predicted decrease), from the `λ`
/// the step used.
pub(super) fn update(lambda: f64, scale: f64, rho: f64) -> f64 {
    if rho > GOOD {
        let l = lambda / 3.0;
        if l < scale * 1e-9 {
            0.0
        } else {
            l
        }
    } else if rho < POOR || !rho.is_finite() {
        (4.0 * lambda).max(scale / 10.0)
    } else {
        lambda
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undamped_positive_definite_solve_is_newton() {
        let h = vec![vec![4.0, 1.0], vec![1.0, 3.0]];
        let g = vec![vec![1.0, 0.0], vec![0.0, 1.0]];
        let f = vec![1.0, 2.0];
        let s = solve(&h, &g, &f, 0.0, 1.0).unwrap();
        // H κ = −F: κ = −(1/11)·[3 −1; −1 4]·[1, 2] = [−1/11, −7/11]
        assert!((s.kappa[0] + 1.0 / 11.0).abs() < 1e-12 && (s.kappa[1] + 7.0 / 11.0).abs() < 1e-12);
        assert_eq!(s.lambda, 0.0);
        assert!(s.predicted > 0.0);
    }

    #[test]
    fn indefinite_curvature_is_damped_until_positive_definite() {
        let h = vec![vec![1.0, 0.0], vec![0.0, -2.0]];
        let g = vec![vec![1.0, 0.0], vec![0.0, 1.0]];
        let s = solve(&h, &g, &[1.0, 1.0], 0.0, 1.0).unwrap();
        assert!(s.lambda > 2.0 && s.lambda < 4.1, "λ = {}", s.lambda);
        assert!(s.predicted > 0.0);
    }

    #[test]
    fn damping_follows_the_ratio() {
        assert_eq!(update(3.0, 1.0, 0.9), 1.0);
        assert_eq!(update(1e-12, 1.0, 0.9), 0.0);
        assert_eq!(update(1.0, 1.0, 0.5), 1.0);
        assert_eq!(update(1.0, 1.0, 0.1), 4.0);
        assert_eq!(update(0.0, 1.0, -1.0), 0.1);
        assert_eq!(update(0.0, 1.0, f64::NAN), 0.1);
    }
}
