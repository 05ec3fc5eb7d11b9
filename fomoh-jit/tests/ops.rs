//! Every operation of the list on tensors: the compiled tensor program `Σ_e w_e·op(x_e)`
//! against the runtime (the same sum over `Scalar`, and the runtime's tensor op) and against
//! the reference interpreter, in every mode; and a user primitive the same way. The list is
//! walked (`UnaryOp::samples()`): a new operation is tested here without a new test.

mod common;

use common::{assert_close, direction, flat_hd};
use fomoh_jit::tensor::TensorBuilder;
use fomoh_jit::TensorProgram;
use fomoh_runtime::tensor::{ops, Mode, Planes, Tensor};
use fomoh_runtime::{objective, HyperDual, Objective, Primitive, Scalar, ScalarFn, UnaryOp};

const N: usize = 12;

fn weights() -> Vec<f64> {
    (0..N).map(|i| 0.3 + ((i * 7 + 3) % 11) as f64 / 10.0).collect()
}

/// `N` points of `[lo, hi]` (off the integers and halves).
fn point(lo: f64, hi: f64) -> Vec<f64> {
    (0..N).map(|i| lo + (hi - lo) * ((i as f64 * 0.618_033_988_75 + 0.05) % 1.0)).collect()
}

fn program(op: UnaryOp) -> TensorProgram {
    let mut b = TensorBuilder::new(N);
    let x = b.param(0, &[N]).unwrap();
    let y = b.unary(op, x).unwrap();
    let w = b.data(weights(), &[N]).unwrap();
    let t = b.mul(y, w).unwrap();
    let s = b.sum(t);
    b.finish(s).unwrap()
}

struct Reference(UnaryOp);
impl ScalarFn for Reference {
    fn eval<S: Scalar>(&self, x: &[S]) -> S {
        x.iter().zip(weights()).map(|(&v, w)| v.unary(self.0) * S::from_f64(w)).sum()
    }
}

fn check(op: UnaryOp, lo: f64, hi: f64) {
    let what = op.name();
    let p = program(op);
    let r = objective(N, Reference(op));
    let x = point(lo, hi);
    let (u, v) = (direction(0, N), direction(1, N));
    assert_close(&format!("{what} value"), &[p.value(&x).unwrap()], &[r.value(&x).unwrap()], 1e-12);
    assert_close(
        &format!("{what} hyper-dual"),
        &flat_hd(p.hyper_dual(&x, &u, &v).unwrap()),
        &flat_hd(r.hyper_dual(&x, &u, &v).unwrap()),
        1e-12,
    );
    let dirs: Vec<Vec<f64>> = (0..4).map(|j| direction(j, N)).collect();
    let (pp, rp) = (Objective::project(&p, &x, &dirs).unwrap(), r.project(&x, &dirs).unwrap());
    let flat = |q: &fomoh_runtime::Projection<f64>| -> Vec<f64> {
        q.grad.iter().copied().chain(q.hess.iter().flatten().copied()).collect()
    };
    assert_close(&format!("{what} K=4"), &flat(&pp), &flat(&rp), 1e-12);
    // every mode against the interpreter
    common::tensor_vs_interpreter(&what, &p, &x, 1e-12, 3);
    // the runtime's tensor op, elementwise, against the scalar numbers
    let xs: Vec<HyperDual<f64>> = (0..N).map(|i| HyperDual::seed(x[i], u[i], v[i])).collect();
    let tangents = u.iter().chain(&v).copied().collect();
    let t = Tensor::from_planes(vec![N], Mode::HyperDual, x.clone(), Some(tangents), None).unwrap();
    let y = ops::unary(&t, op);
    let plane = |p: Option<&[f64]>, i: usize| p.map_or(0.0, |p| p[i]);
    for (i, &xi) in xs.iter().enumerate() {
        let want = xi.unary(op);
        let got =
            HyperDual::new(y.re()[i], plane(y.tangent(0), i), plane(y.tangent(1), i), plane(y.second(0), i));
        assert_eq!(flat_hd(got), flat_hd(want), "{what} runtime tensor element {i}");
    }
}

#[test]
fn every_operation_of_the_list_compiles_on_tensors() {
    let samples = UnaryOp::samples();
    assert!(samples.len() >= 37);
    for (op, [lo, hi]) in samples {
        check(op, lo, hi);
    }
}

struct Bump;
impl Primitive for Bump {
    const NAME: &'static str = "bump";
    fn rule(x: f64) -> (f64, f64, f64) {
        let e = (-x * x).exp();
        (e, -2.0 * x * e, (4.0 * x * x - 2.0) * e)
    }
}

#[test]
fn a_user_primitive_compiles_on_tensors() {
    check(UnaryOp::custom::<Bump>(), -2.0, 2.0);
    let f32p = program(UnaryOp::custom::<Bump>()).with_float::<f32>();
    let x: Vec<f32> = point(-2.0, 2.0).iter().map(|&v| v as f32).collect();
    let want: f64 = x.iter().zip(weights()).map(|(&v, w)| (-(v as f64) * v as f64).exp() * w).sum();
    assert!((f32p.value(&x).unwrap() as f64 - want).abs() < 1e-5);
}
