//! [`InputSpan`]: where the gradient of a dense layer on known inputs lies, and directions
//! drawn inside that span.
//!
//! For a dense layer `z = x W + b` (`W` is `in × out`) on a minibatch `X` (`B × in`), the
//! gradient of any loss of the logits is `∂f/∂W = Xᵀ Δ`, `∂f/∂b = 1ᵀ Δ` with `Δ = ∂f/∂Z`
//! (`B × out`): every column of the weight part lies in the row space of the inputs
//! (`range Xᵀ`, at most `min(B, in)` dimensions), whatever the loss. The directions drawn here
//! keep that property: for mixing coefficients `U` (`B × out`, drawn at random)
//!
//! `V_W = (X − 1μᵀ)ᵀ U`, `V_b = 1ᵀ U`,
//!
//! with `μ` the mean input of the minibatch (`μ = Xᵀ1/B` is in the row space too). With
//! `U = Δ` and without the centring this would be the gradient itself. The centring takes out
//! the mean input, which otherwise dominates `XᵀU` (for inputs that are not centred, such as
//! pixels, the directions would all point nearly along `μ ⊗ u`: the same few directions at
//! every step). Drawing `U` costs one `in × B × out` product per direction and no backward
//! pass: the directions stay forward-only (the "activity perturbation" of the layer's outputs,
//! pulled back to its weights).
//!
//! ```
//! use fomoh_runtime::InputSpan;
//! // Two samples of two features, a layer with one output: 2 weights and a bias.
//! let x = [1.0, 2.0, 3.0, 4.0];
//! let span = InputSpan::new(0, &x, 2, 2, 1).unwrap();
//! assert_eq!(span.len(), 3);
//! let mut v = vec![0.0; 3];
//! span.direction_into(&[1.0, 2.0], &mut v).unwrap();
//! // μ = [2, 3]; (X − 1μᵀ)ᵀU = [−1·1 + 1·2, −1·1 + 1·2]; the bias 1 + 2.
//! assert_eq!(v, vec![1.0, 1.0, 3.0]);
//! ```

use crate::api::Projection;
use crate::error::{Error, Result};
use crate::objective::Objective;
use crate::tensor::gemm::{gemm, MatRef};
use crate::{HyperDual, Jet};

/// The inputs of a dense layer on a minibatch and the layer's place in θ (see the module
/// documentation): the weight `in × out` row-major at `θ[offset..]`, its bias of `out` right
/// after.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InputSpan<'a> {
    offset: usize,
    inputs: &'a [f64],
    rows: usize,
    fan_in: usize,
    fan_out: usize,
}

impl<'a> InputSpan<'a> {
    /// The span of a layer with weight at `θ[offset..]` (`fan_in × fan_out`, then the bias)
    /// on `rows` inputs of `fan_in` features (`inputs`, row-major). Errors if a size is 0,
    /// `inputs` has not `rows × fan_in` entries or the layer's end overflows. (Inputs that
    /// are not finite give directions that are not finite, which a step reports.)
    pub fn new(offset: usize, inputs: &'a [f64], rows: usize, fan_in: usize, fan_out: usize) -> Result<Self> {
        if rows == 0 || fan_in == 0 || fan_out == 0 {
            return Err(Error::InvalidArgument(format!(
                "input span of {rows} rows, {fan_in} inputs and {fan_out} outputs: all must be positive"
            )));
        }
        let len = fan_in.checked_add(1).and_then(|f| f.checked_mul(fan_out));
        if rows.checked_mul(fan_in) != Some(inputs.len()) || len.and_then(|l| l.checked_add(offset)).is_none()
        {
            return Err(Error::Shape(format!(
                "input span: {} inputs for {rows} rows of {fan_in} features at offset {offset}",
                inputs.len()
            )));
        }
        Ok(InputSpan { offset, inputs, rows, fan_in, fan_out })
    }

    /// Where the layer's weight starts in θ.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The parameters of the layer (`(in + 1) · out`: weight and bias), from
    /// [`offset`](Self::offset).
    pub fn len(&self) -> usize {
        (self.fan_in + 1) * self.fan_out
    }

    /// Always `false` (every size is positive).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The number of inputs `B` (rows of the mixing matrix `U`).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The layer's outputs (columns of `U`).
    pub fn fan_out(&self) -> usize {
        self.fan_out
    }

    /// The layer's inputs per row.
    pub fn fan_in(&self) -> usize {
        self.fan_in
    }

    /// The inputs, row-major.
    pub fn inputs(&self) -> &'a [f64] {
        self.inputs
    }

    /// Writes the direction `V_W = (X − 1μᵀ)ᵀ U`, `V_b = 1ᵀ U` (module documentation) for
    /// mixing coefficients `u` (`B × out`, row-major) into `v` (the layer's
    /// [`len`](Self::len) parameters: weight `in × out` row-major, then bias).
    pub fn direction_into(&self, u: &[f64], v: &mut [f64]) -> Result<()> {
        self.directions_into(u, 1, &mut [v])
    }

    /// [`direction_into`](Self::direction_into) for `k` directions at once: `u` is `B × (k ·
    /// out)` row-major, direction `d` taking columns `d·out..(d + 1)·out`; `out[d]` receives
    /// direction `d` (one pass over the inputs for all `k`).
    pub fn directions_into(&self, u: &[f64], k: usize, out: &mut [&mut [f64]]) -> Result<()> {
        let (o, len) = (self.fan_out, self.len());
        let width =
            k.checked_mul(o).ok_or_else(|| Error::InvalidArgument("input span: k overflows".into()))?;
        if u.len() != self.rows * width || out.len() != k || out.iter().any(|v| v.len() != len) {
            return Err(Error::Shape(format!(
                "input span: {} mixing coefficients for {} rows × {k} directions × {o} outputs, {} outputs of {len}",
                u.len(),
                self.rows,
                out.len()
            )));
        }
        // M, (in + 1) × (k·out): Xᵀ U by one product, then the bias row 1ᵀ U.
        let mut m = vec![0.0; (self.fan_in + 1) * width];
        let x = MatRef::new(self.inputs, self.rows, self.fan_in);
        gemm(1.0, x.t(), MatRef::new(u, self.rows, width), 0.0, &mut m[..self.fan_in * width]);
        let bias = &mut m[self.fan_in * width..];
        for ub in u.chunks_exact(width) {
            for (a, &b) in bias.iter_mut().zip(ub) {
                *a += b;
            }
        }
        // Centred: (X − 1μᵀ)ᵀ U = Xᵀ U − μ (1ᵀ U), with μ the mean input.
        let (weights, bias) = m.split_at_mut(self.fan_in * width);
        let mut mean = vec![0.0; self.fan_in];
        for x in self.inputs.chunks_exact(self.fan_in) {
            for (a, &b) in mean.iter_mut().zip(x) {
                *a += b;
            }
        }
        let inv = 1.0 / self.rows as f64;
        for (row, &mu) in weights.chunks_exact_mut(width).zip(&mean) {
            let mu = mu * inv;
            for (a, &b) in row.iter_mut().zip(bias.iter()) {
                *a -= mu * b;
            }
        }
        for (d, v) in out.iter_mut().enumerate() {
            for (vi, mi) in v.chunks_exact_mut(o).zip(m.chunks_exact(width)) {
                vi.copy_from_slice(&mi[d * o..(d + 1) * o]);
            }
        }
        Ok(())
    }
}

/// An objective with the [`InputSpan`] of its first layer attached: every pass is the inner
/// objective's, [`Objective::input_span`] is `span`. For objectives that compute their passes
/// elsewhere (a compiled model bound to a minibatch's rows) while the span comes from the
/// model and the batch (a [`crate::models::Minibatch`]'s [`Objective::input_span`]).
#[derive(Clone, Copy, Debug)]
pub struct WithSpan<'a, O> {
    inner: O,
    span: InputSpan<'a>,
}

impl<'a, O: Objective> WithSpan<'a, O> {
    /// `inner` with `span`; errors if the span's layer does not fit in `inner`'s parameters.
    pub fn new(inner: O, span: InputSpan<'a>) -> Result<Self> {
        if span.offset() + span.len() > inner.dim() {
            return Err(Error::Shape(format!(
                "input span of {} parameters at offset {} in an objective of {}",
                span.len(),
                span.offset(),
                inner.dim()
            )));
        }
        Ok(WithSpan { inner, span })
    }
}

impl<O: Objective> Objective for WithSpan<'_, O> {
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn value(&self, x: &[f64]) -> Result<f64> {
        self.inner.value(x)
    }
    fn hyper_dual(&self, x: &[f64], v1: &[f64], v2: &[f64]) -> Result<HyperDual<f64>> {
        self.inner.hyper_dual(x, v1, v2)
    }
    fn directional(&self, x: &[f64], v: &[f64]) -> Result<Jet<f64>> {
        self.inner.directional(x, v)
    }
    fn project(&self, x: &[f64], dirs: &[Vec<f64>]) -> Result<Projection<f64>> {
        self.inner.project(x, dirs)
    }
    fn gradient(&self, x: &[f64]) -> Option<Result<Vec<f64>>> {
        self.inner.gradient(x)
    }
    fn input_span(&self) -> Option<InputSpan<'_>> {
        Some(self.span)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_spans_are_errors() {
        let x = [1.0, 2.0];
        assert!(InputSpan::new(0, &x, 1, 2, 0).is_err());
        assert!(InputSpan::new(0, &x, 2, 2, 1).is_err());
        assert!(InputSpan::new(usize::MAX, &x, 1, 2, 1).is_err());
        let s = InputSpan::new(0, &x, 1, 2, 1).unwrap();
        assert!(s.direction_into(&[1.0, 2.0], &mut [0.0; 3]).is_err());
        assert!(s.direction_into(&[1.0], &mut [0.0; 2]).is_err());
    }

    #[test]
    fn k_directions_at_once_are_each_direction() {
        let x: Vec<f64> = (0..12).map(|i| (i as f64 * 0.7).sin()).collect();
        let s = InputSpan::new(3, &x, 4, 3, 2).unwrap();
        let u: Vec<f64> = (0..4 * 2 * 2).map(|i| (i as f64 * 1.3).cos()).collect();
        let (mut a, mut b) = (vec![0.0; 8], vec![0.0; 8]);
        s.directions_into(&u, 2, &mut [&mut a, &mut b]).unwrap();
        for (d, got) in [a, b].iter().enumerate() {
            let ud: Vec<f64> = u.chunks(4).flat_map(|r| r[2 * d..2 * d + 2].to_vec()).collect();
            let mut one = vec![0.0; 8];
            s.direction_into(&ud, &mut one).unwrap();
            assert_eq!(&one, got);
            // bias = column sums of U
            assert_eq!(got[6], ud.iter().step_by(2).sum::<f64>());
        }
    }
}
