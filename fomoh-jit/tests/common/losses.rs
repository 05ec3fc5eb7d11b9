//! A corpus of data-driven losses `loss(θ, xs, ys)`, each written once over `Scalar` (the
//! data are of the same number type, passive): the JIT's drop-in tests and the `jit_dropin`
//! benchmark (`benches/jit_dropin.rs`) use it.
#![allow(dead_code)]

use fomoh_runtime::Scalar;

/// One loss of the corpus: its name, parameter count, `ys` per data point, and the function.
pub struct Loss {
    /// Name (for messages and tables).
    pub name: &'static str,
    /// Parameter count.
    pub dim: usize,
    /// Entries of `ys` per data point (1, or the classes of a one-hot target).
    pub y_per_point: usize,
}

/// Huber's threshold (in units of σ).
const HUBER: f64 = 1.345;
/// The L1 penalty's weight.
const LAMBDA: f64 = 0.1;
/// The classes of the softmax regression.
pub const CLASSES: usize = 3;

/// Gaussian negative log-likelihood of a line with a Huber term on the standardized
/// residual: `Σ ρ((y - a - b x)/σ) + n ln σ`, `σ = exp(θ2)`, `ρ` quadratic within `c` and
/// linear beyond (a branch per term).
pub fn gaussian_huber<S: Scalar>(t: &[S], xs: &[S], ys: &[S]) -> S {
    let (c, half) = (S::from_f64(HUBER), S::from_f64(0.5));
    let inv_s = (-t[2]).exp();
    let mut s = S::zero();
    for (&x, &y) in xs.iter().zip(ys) {
        let r = (y - t[0] - t[1] * x) * inv_s;
        s += if r.abs() > c { c * (r.abs() - half * c) } else { half * r * r };
    }
    s + t[2] * S::from_f64(xs.len() as f64)
}

/// Logistic regression with labels `y ∈ {-1, 1}`: `Σ ln(1 + exp(-y (a + b x)))`.
pub fn logistic<S: Scalar>(t: &[S], xs: &[S], ys: &[S]) -> S {
    xs.iter().zip(ys).map(|(&x, &y)| (S::one() + (-(y * (t[0] + t[1] * x))).exp()).ln()).sum()
}

/// Poisson regression with a log link: `Σ exp(a + b x) - y (a + b x)`.
pub fn poisson<S: Scalar>(t: &[S], xs: &[S], ys: &[S]) -> S {
    xs.iter()
        .zip(ys)
        .map(|(&x, &y)| {
            let eta = t[0] + t[1] * x;
            eta.exp() - y * eta
        })
        .sum()
}

/// Least squares on the features `(1, x, x²)` with an L1 penalty: `Σ (y - θ·φ(x))² + λ Σ |θ_j|`.
pub fn lasso<S: Scalar>(t: &[S], xs: &[S], ys: &[S]) -> S {
    let fit: S = xs
        .iter()
        .zip(ys)
        .map(|(&x, &y)| {
            let r = y - t[0] - t[1] * x - t[2] * x * x;
            r * r
        })
        .sum();
    fit + S::from_f64(LAMBDA) * (t[0].abs() + t[1].abs() + t[2].abs())
}

/// Softmax regression with [`CLASSES`] classes on one feature and one-hot targets (`ys` has
/// `CLASSES` entries per point): `Σ_i [logsumexp_c(a_c + b_c x_i) - Σ_c y_ic (a_c + b_c x_i)]`
/// (`θ = (a_0, b_0, a_1, b_1, ...)`).
pub fn softmax<S: Scalar>(t: &[S], xs: &[S], ys: &[S]) -> S {
    xs.iter()
        .enumerate()
        .map(|(i, &x)| {
            let logits: Vec<S> = (0..CLASSES).map(|c| t[2 * c] + t[2 * c + 1] * x).collect();
            let picked: S = (0..CLASSES).map(|c| ys[CLASSES * i + c] * logits[c]).sum();
            fomoh_runtime::logsumexp(&logits) - picked
        })
        .sum()
}

/// The corpus (evaluate one with [`eval`]).
pub const CORPUS: [Loss; 5] = [
    Loss { name: "gaussian-huber", dim: 3, y_per_point: 1 },
    Loss { name: "logistic", dim: 2, y_per_point: 1 },
    Loss { name: "poisson", dim: 2, y_per_point: 1 },
    Loss { name: "lasso", dim: 3, y_per_point: 1 },
    Loss { name: "softmax", dim: 2 * CLASSES, y_per_point: CLASSES },
];

/// Evaluates the corpus loss `name` over any number type.
pub fn eval<S: Scalar>(name: &str, t: &[S], xs: &[S], ys: &[S]) -> S {
    match name {
        "gaussian-huber" => gaussian_huber(t, xs, ys),
        "logistic" => logistic(t, xs, ys),
        "poisson" => poisson(t, xs, ys),
        "lasso" => lasso(t, xs, ys),
        "softmax" => softmax(t, xs, ys),
        other => panic!("no loss named {other}"),
    }
}

/// `n` data points for the loss `name` (deterministic in `seed`): features in [-2, 2] and
/// targets from a model near the point [`theta0`] with noise (and outliers for the Huber loss).
pub fn data(name: &str, n: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut u = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let xs: Vec<f64> = (0..n).map(|_| 4.0 * u() - 2.0).collect();
    let ys: Vec<f64> = match name {
        "gaussian-huber" => xs
            .iter()
            .map(|&x| 0.5 + 1.5 * x + 0.3 * (u() - 0.5) + if u() < 0.1 { 5.0 } else { 0.0 })
            .collect(),
        "logistic" => {
            xs.iter().map(|&x| if u() < 1.0 / (1.0 + (-2.0 * x).exp()) { 1.0 } else { -1.0 }).collect()
        }
        "poisson" => xs.iter().map(|&x| ((0.2 + 0.5 * x).exp() * 2.0 * u()).round()).collect(),
        "lasso" => xs.iter().map(|&x| 1.0 - 0.5 * x * x + 0.1 * (u() - 0.5)).collect(),
        "softmax" => xs
            .iter()
            .flat_map(|&x| {
                let c = if x + 0.5 * (u() - 0.5) < -0.7 {
                    0
                } else if x < 0.7 {
                    1
                } else {
                    2
                };
                (0..CLASSES).map(move |k| if k == c { 1.0 } else { 0.0 })
            })
            .collect(),
        other => panic!("no loss named {other}"),
    };
    (xs, ys)
}

/// A parameter point near the data's model (every Huber residual is not on one side).
pub fn theta0(dim: usize) -> Vec<f64> {
    (0..dim).map(|j| 0.3 + 0.2 * (j as f64 * 1.7).sin()).collect()
}

/// Data lifted to a number type (constants: no tangent), for the runtime's reference passes.
pub fn lift<S: Scalar>(d: &[f64]) -> Vec<S> {
    d.iter().map(|&v| S::from_f64(v)).collect()
}
