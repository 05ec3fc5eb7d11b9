//! Data-aligned directions for [`FomohKd::data_directions`](super::FomohKd::data_directions):
//! directions drawn inside the span where the first layer's gradient lies
//! ([`InputSpan`]), `V_W = (X − 1μᵀ)ᵀ U`, `V_b = 1ᵀ U` with `U` drawn from the optimizer's
//! [`Tangents`](super::Tangents) distribution, each scaled to the length `√len` of a Gaussian tangent on the layer; the
//! parameters outside the layer (deeper layers of an MLP) get fresh tangents.

use super::linalg::scale_to_length;
use super::Core;
use crate::error::{Error, Result};
use crate::span::InputSpan;

/// `k` directions of length `n`: the layer of `span` in its input span, the rest drawn as
/// tangents. The generator draws `U` (`B × k·out`) first, then the rest of each direction.
pub(super) fn directions(core: &mut Core, span: &InputSpan<'_>, n: usize, k: usize) -> Result<Vec<Vec<f64>>> {
    let (start, len) = (span.offset(), span.len());
    if start.checked_add(len).is_none_or(|end| end > n) {
        return Err(Error::Shape(format!(
            "input span of {len} parameters at offset {start} in {n} parameters"
        )));
    }
    let mixing = span
        .rows()
        .checked_mul(span.fan_out())
        .and_then(|r| r.checked_mul(k))
        .ok_or_else(|| Error::InvalidArgument("input span: mixing matrix size overflows".into()))?;
    let u = core.tangent(mixing);
    let mut dirs = vec![vec![0.0; n]; k];
    {
        let mut blocks: Vec<&mut [f64]> = dirs.iter_mut().map(|d| &mut d[start..start + len]).collect();
        span.directions_into(&u, k, &mut blocks)?;
        for b in blocks {
            scale_to_length(b, (len as f64).sqrt());
        }
    }
    if len < n {
        for d in &mut dirs {
            let rest = core.tangent(n - len);
            let (head, tail) = rest.split_at(start);
            d[..start].copy_from_slice(head);
            d[start + len..].copy_from_slice(tail);
        }
    }
    Ok(dirs)
}
