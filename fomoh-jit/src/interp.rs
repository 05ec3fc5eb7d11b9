//! The reference interpreter over the IR.
//!
//! Evaluates a graph with any [`Scalar`]: over `f64` (or `f32`) it is the reference for the
//! compiled `f64` (or `f32`) code (traced and staged graphs alike); over `HyperDual<f64>`, `Jet<f64>` or
//! `HyperK<f64, K>` it evaluates the *traced* graph with the runtime's own number types, i.e.
//! exactly what the runtime would compute. Guards are checked like the compiled program
//! checks them.

use crate::error::{JitError, JitResult};
use crate::ir::{Graph, Op};
use fomoh_runtime::Scalar;

/// Evaluates every output of `g` at `inputs` (the flat input buffer: the `n_inputs`
/// parameters, then the `n_data` passive inputs).
///
/// ```
/// use fomoh_runtime::Scalar;
/// let p = fomoh_jit::compile(2, |x| x[0] * x[1].sin()).unwrap();
/// let y = fomoh_jit::interp::eval(p.graph(), &[2.0, 0.5]).unwrap();
/// assert_eq!(y, vec![2.0 * 0.5_f64.sin()]);
/// ```
pub fn eval<S: Scalar>(g: &Graph, inputs: &[S]) -> JitResult<Vec<S>> {
    crate::error::check_len("inputs", g.n_inputs + g.n_data, inputs.len())?;
    let mut vals: Vec<S> = Vec::with_capacity(g.nodes.len());
    for op in &g.nodes {
        let v = |a: u32| vals[a as usize];
        let r = match *op {
            Op::Input(i) => inputs[i as usize],
            Op::Const(c) => S::from_f64(c),
            Op::Neg(a) => -v(a),
            Op::Unary(u, a) => v(a).unary(u),
            Op::Binary(b, x, y) => v(x).binary(b, v(y)),
            Op::Select { cmp, a, b, t, f } => {
                if cmp.eval(v(a).value(), v(b).value()) {
                    v(t)
                } else {
                    v(f)
                }
            }
            Op::Guard { cmp, a, b, expect, site } => {
                if cmp.eval(v(a).value(), v(b).value()) != expect {
                    return Err(guard_error(g, site));
                }
                S::zero()
            }
        };
        vals.push(r);
    }
    Ok(g.outputs.iter().map(|&o| vals[o as usize]).collect())
}

pub(crate) fn guard_error(g: &Graph, site: u32) -> JitError {
    let what = g.guards.get(site as usize).map_or_else(|| format!("guard #{site}"), |gi| gi.describe(site));
    JitError::GuardFailed(what)
}
