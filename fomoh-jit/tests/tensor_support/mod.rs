//! Helpers of the tensor front end's op tests (`tensor_ops.rs`, `tensor_cnn.rs`): every
//! compiled mode against a reference, the runtime's tensor functions as objectives, and the
//! tensor language's layers recorded into a builder graph.
#![allow(dead_code)]

use crate::common::{self, direction};
pub use crate::common::{assert_close, flat_hd, flat_jet, flat_proj};
use fomoh_jit::tensor::TensorBuilder;
use fomoh_jit::{TensorProgram, TensorTracer};
use fomoh_runtime::nn;
use fomoh_runtime::tensor::{ops, Params, Planes, Tensor};
use fomoh_runtime::{HyperDual, Objective, Projection, UnaryOp};

pub const TOL: f64 = 1e-12;

pub fn dirs(n: usize, k: usize) -> Vec<Vec<f64>> {
    (0..k).map(|j| direction(j, n)).collect()
}

/// Every compiled mode of `p` against the reference objective `r`: value, hyper-dual, jet
/// and the one-pass projection for K = 1..4.
pub fn agree(what: &str, p: &dyn Objective, r: &dyn Objective, x: &[f64], tol: f64) {
    let n = x.len();
    let u = dirs(n, 4);
    assert_close(&format!("{what} value"), &[p.value(x).unwrap()], &[r.value(x).unwrap()], tol);
    assert_close(
        &format!("{what} hyper-dual"),
        &flat_hd(p.hyper_dual(x, &u[0], &u[1]).unwrap()),
        &flat_hd(r.hyper_dual(x, &u[0], &u[1]).unwrap()),
        tol,
    );
    assert_close(
        &format!("{what} jet"),
        &flat_jet(p.directional(x, &u[2]).unwrap()),
        &flat_jet(r.directional(x, &u[2]).unwrap()),
        tol,
    );
    for k in 1..=4 {
        let pj = p.project(x, &u[..k]).unwrap();
        let passes = pj.passes;
        assert_eq!(passes, 1);
        let rj = r.project(x, &u[..k]).unwrap();
        assert_close(&format!("{what} K={k}"), &flat_proj(&pj), &flat_proj(&rj), tol);
    }
}

/// Every compiled mode of `p` against the interpreter over `f64`, `HyperDual` and `HyperK`.
pub fn interp(what: &str, p: &TensorProgram, x: &[f64], tol: f64) {
    common::tensor_vs_interpreter(what, p, x, tol, 4);
}

/// A runtime tensor function of the parameters (ending in a scalar tensor) as an objective.
pub struct RtObj<F>(pub usize, pub F);

impl<F: Fn(&Params<'_>) -> fomoh_runtime::Result<Tensor>> Objective for RtObj<F> {
    fn dim(&self) -> usize {
        self.0
    }
    fn value(&self, x: &[f64]) -> fomoh_runtime::Result<f64> {
        (self.1)(&Params::primal(x))?.value()
    }
    fn hyper_dual(&self, x: &[f64], v1: &[f64], v2: &[f64]) -> fomoh_runtime::Result<HyperDual<f64>> {
        (self.1)(&Params::hyper_dual(x, v1, v2)?)?.to_hyper_dual()
    }
    fn directional(&self, x: &[f64], v: &[f64]) -> fomoh_runtime::Result<fomoh_runtime::Jet<f64>> {
        (self.1)(&Params::jet(x, v)?)?.to_jet()
    }
    fn project(&self, x: &[f64], d: &[Vec<f64>]) -> fomoh_runtime::Result<Projection<f64>> {
        (self.1)(&Params::directions(x, d)?)?.to_projection(d.len())
    }
}

/// `Σ_e w_e · sin(t_e)` on the runtime's tensors (a scalar tensor).
pub fn rt_weighted_sin(t: &Tensor, w: &[f64]) -> fomoh_runtime::Result<Tensor> {
    let n = t.numel();
    let s = ops::unary(t, UnaryOp::Sin).reshape(vec![1, n])?;
    let wt = Tensor::constant(vec![n, 1], w.to_vec())?;
    ops::matmul(&s, &wt)?.reshape(vec![])
}

// ---- the tensor language's layers, recorded into a builder graph ----

/// Runs `f` on a [`TensorTracer`] recording into `b` (the builder's own operations and the
/// language's layers in one graph).
pub fn with_tracer<R>(
    b: &mut TensorBuilder,
    f: impl FnOnce(&mut TensorTracer) -> fomoh_runtime::Result<R>,
) -> fomoh_runtime::Result<R> {
    let mut t = TensorTracer::from_builder(std::mem::replace(b, TensorBuilder::new(0)));
    let r = f(&mut t);
    *b = t.into_builder();
    r
}

/// [`nn::conv2d`] on builder tensors.
pub fn conv2d(
    b: &mut TensorBuilder,
    x: fomoh_jit::Tensor,
    x_dims: [usize; 4],
    w: fomoh_jit::Tensor,
    w_dims: [usize; 4],
    bias: fomoh_jit::Tensor,
) -> fomoh_runtime::Result<fomoh_jit::Tensor> {
    with_tracer(b, |t| {
        let (x, w, bias) = (t.wrap(x)?, t.wrap(w)?, t.wrap(bias)?);
        let y = nn::conv2d(t, x, x_dims, w, w_dims, bias)?;
        t.tensor(&y)
    })
}

/// [`nn::max_pool2`] on a builder tensor.
pub fn max_pool2(
    b: &mut TensorBuilder,
    x: fomoh_jit::Tensor,
    dims: [usize; 4],
) -> fomoh_runtime::Result<fomoh_jit::Tensor> {
    with_tracer(b, |t| {
        let x = t.wrap(x)?;
        let y = nn::max_pool2(t, x, dims)?;
        t.tensor(&y)
    })
}

/// `ln Σ exp` over all elements of a builder tensor ([`nn::logsumexp_rows`] of it flattened).
pub fn logsumexp(b: &mut TensorBuilder, x: fomoh_jit::Tensor) -> fomoh_runtime::Result<fomoh_jit::Tensor> {
    with_tracer(b, |t| {
        let x = t.wrap(x)?;
        let n = fomoh_runtime::nn::Backend::shape(t, &x)?.iter().product::<usize>();
        let flat = fomoh_runtime::nn::Backend::reshape(t, x, &[n])?;
        let y = nn::logsumexp_rows(t, flat)?;
        t.tensor(&y)
    })
}

/// The same on the JIT's tensors.
pub fn jit_weighted_sin(
    b: &mut TensorBuilder,
    t: fomoh_jit::tensor::Tensor,
    w: &[f64],
) -> fomoh_jit::tensor::Tensor {
    let s = b.unary(UnaryOp::Sin, t).unwrap();
    let n = w.len();
    let s = b.reshape(s, &[1, n]).unwrap();
    let wt = b.data(w.to_vec(), &[n, 1]).unwrap();
    let z = b.matmul(s, wt).unwrap();
    b.sum(z)
}

pub fn weights(n: usize) -> Vec<f64> {
    (0..n).map(|i| 0.3 + ((i * 7 + 3) % 11) as f64 / 10.0).collect()
}

pub fn point(n: usize) -> Vec<f64> {
    (0..n).map(|i| (1.3 * i as f64 + 0.4).sin() * 0.9).collect()
}

/// The static shape of a builder tensor.
pub fn p_shape(b: &TensorBuilder, t: fomoh_jit::tensor::Tensor) -> Vec<usize> {
    b.shape_of(t).unwrap().to_vec()
}
