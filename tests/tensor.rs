//! Each tensor op's planes against the scalar `HyperDual` / `HyperK` evaluation of the same
//! computation element by element (tests/common), and against central finite differences.

mod common;

use common::*;
use fomoh::tensor::ops::{self, Reshaped};
use fomoh::tensor::{Mode, Params, Planes, Tensor};
use fomoh::{Error, HyperDual, HyperK, UnaryOp};

type K3 = HyperK<f64, 3>;
const TOL: f64 = 1e-12;

fn unary_case<S: Lanes>() {
    let x = random_tensor::<S>(vec![3, 5], 1, true);
    let xs = to_scalars::<S>(&x);
    for op in [UnaryOp::Tanh, UnaryOp::Relu, UnaryOp::Sigmoid, UnaryOp::Exp] {
        let want: Vec<S> = xs.iter().map(|v| v.unary(op)).collect();
        assert_lanes(&format!("{op:?}"), &ops::unary(&x, op), &want, TOL);
    }
    // Without second-order input planes the output's come from f'' t_i t_j alone.
    let x = random_tensor::<S>(vec![4], 2, false);
    let want: Vec<S> = to_scalars::<S>(&x).iter().map(|v| v.tanh()).collect();
    let y = ops::unary(&x, UnaryOp::Tanh);
    assert!(y.seconds().is_some());
    assert_lanes("tanh (no input seconds)", &y, &want, TOL);
}

#[test]
fn unary_matches_scalar_path() {
    unary_case::<HyperDual<f64>>();
    unary_case::<K3>();
}

fn matmul_case<S: Lanes>() {
    let (m, k, n) = (3, 4, 2);
    let a = random_tensor::<S>(vec![m, k], 3, true);
    let b = random_tensor::<S>(vec![k, n], 4, true);
    let (sa, sb) = (to_scalars::<S>(&a), to_scalars::<S>(&b));
    assert_lanes("active·active", &ops::matmul(&a, &b).unwrap(), &common::matmul(&sa, &sb, m, k, n), TOL);
    // A passive (data) operand on either side.
    let d = Tensor::constant(vec![m, k], (0..m * k).map(|i| pseudo(i, 9)).collect()).unwrap();
    let sd: Vec<S> = d.re().iter().map(|&v| S::from_f64(v)).collect();
    let y = ops::matmul(&d, &b).unwrap();
    assert_lanes("data·active", &y, &common::matmul(&sd, &sb, m, k, n), TOL);
    let dt = Tensor::constant(vec![n, m], (0..m * n).map(|i| pseudo(i, 10)).collect()).unwrap();
    let sdt: Vec<S> = dt.re().iter().map(|&v| S::from_f64(v)).collect();
    assert_lanes("active·data", &ops::matmul(&dt, &a).unwrap(), &common::matmul(&sdt, &sa, n, m, k), TOL);
}

#[test]
fn matmul_matches_scalar_path() {
    matmul_case::<HyperDual<f64>>();
    matmul_case::<K3>();
}

#[test]
fn matmul_skips_zero_planes() {
    // Data times parameters: tangent planes only, no second-order plane (3 GEMMs in hyper-dual).
    let theta: Vec<f64> = (0..6).map(|i| pseudo(i, 1)).collect();
    let (v1, v2): (Vec<f64>, Vec<f64>) =
        ((0..6).map(|i| pseudo(i, 2)).collect(), (0..6).map(|i| pseudo(i, 3)).collect());
    let p = Params::hyper_dual(&theta, &v1, &v2).unwrap();
    let x = Tensor::constant(vec![2, 3], vec![1.0; 6]).unwrap();
    let y = ops::matmul(&x, &p.view(0, vec![3, 2]).unwrap()).unwrap();
    assert_eq!(y.mode(), Mode::HyperDual);
    assert!(y.tangents().is_some() && y.seconds().is_none());
    let plain = ops::matmul(&x, &Tensor::constant(vec![3, 2], theta.clone()).unwrap()).unwrap();
    assert_eq!(plain.mode(), Mode::Primal);
    assert!(plain.tangents().is_none());
}

fn bias_case<S: Lanes>() {
    let x = random_tensor::<S>(vec![3, 4], 5, true);
    let b = random_tensor::<S>(vec![4], 6, false);
    let want = common::add_bias(&to_scalars::<S>(&x), &to_scalars::<S>(&b));
    assert_lanes("bias", &ops::add_bias(&x, &b).unwrap(), &want, TOL);
    // Passive input, active bias: the result gains the bias's planes.
    let d = Tensor::constant(vec![3, 4], (0..12).map(|i| pseudo(i, 13)).collect()).unwrap();
    let sd: Vec<S> = d.re().iter().map(|&v| S::from_f64(v)).collect();
    let mut y = d.clone();
    ops::add_bias_assign(&mut y, &b).unwrap();
    assert_eq!(y.mode(), S::MODE);
    assert_lanes("data + bias", &y, &common::add_bias(&sd, &to_scalars::<S>(&b)), TOL);
    // Broadcast along a leading axis (per-row shift, as in log-softmax).
    let r = random_tensor::<S>(vec![3], 14, true);
    let sr = to_scalars::<S>(&r);
    let want: Vec<S> = to_scalars::<S>(&x).iter().enumerate().map(|(e, &v)| v - sr[e / 4]).collect();
    assert_lanes("row broadcast", &ops::add_broadcast(&x, &r, 0, -1.0).unwrap(), &want, TOL);
}

#[test]
fn bias_add_broadcasts() {
    bias_case::<HyperDual<f64>>();
    bias_case::<K3>();
}

fn conv_pool_case<S: Lanes>() {
    let dims = [2, 2, 6, 5];
    let (o, kh, kw) = (3, 3, 2);
    let x = random_tensor::<S>(dims.to_vec(), 7, true);
    let w = random_tensor::<S>(vec![o, 2, kh, kw], 8, false);
    let b = random_tensor::<S>(vec![o], 9, false);
    let want =
        common::conv2d(&to_scalars::<S>(&x), &to_scalars::<S>(&w), &to_scalars::<S>(&b), dims, o, kh, kw);
    let y = ops::conv2d(&x, &w, &b).unwrap();
    assert_eq!(y.shape(), &[2, o, 4, 4]);
    assert_lanes("conv2d", &y, &want, TOL);
    // Max-pool on an odd-sized input (trailing column dropped).
    let pooled = ops::max_pool2(&x).unwrap();
    assert_eq!(pooled.shape(), &[2, 2, 3, 2]);
    assert_lanes("max_pool2", &pooled, &common::max_pool2(&to_scalars::<S>(&x), dims), 0.0);
}

#[test]
fn conv2d_and_max_pool_match_scalar_path() {
    conv_pool_case::<HyperDual<f64>>();
    conv_pool_case::<K3>();
}

fn softmax_case<S: Lanes>() {
    let mut z = random_tensor::<S>(vec![4, 5], 11, true);
    // Large logits: the max shift keeps the result finite.
    z = ops::scale(&z, 400.0);
    let zs = to_scalars::<S>(&z);
    let lp = ops::log_softmax(&z).unwrap();
    assert!(lp.re().iter().all(|v| v.is_finite()));
    assert_lanes("log_softmax", &lp, &common::log_softmax(&zs, 5), 1e-12);
    let labels = [0, 4, 2, 2];
    let ce = ops::cross_entropy(&z, &labels).unwrap();
    assert_eq!(ce.numel(), 1);
    assert_lanes("cross_entropy", &ce, &[common::cross_entropy(&zs, 5, &labels)], 1e-12);
}

#[test]
fn log_softmax_and_cross_entropy_match_scalar_path() {
    softmax_case::<HyperDual<f64>>();
    softmax_case::<K3>();
}

#[test]
fn reshape_flatten_and_accuracy() {
    let x = random_tensor::<K3>(vec![2, 3, 2, 2], 12, true);
    let f = x.clone().flatten().unwrap();
    assert_eq!(f.shape(), &[2, 12]);
    assert_eq!((f.re(), f.tangents(), f.seconds()), (x.re(), x.tangents(), x.seconds()));
    assert!(matches!(x.clone().reshape(vec![5, 5]), Err(Error::Shape(_))));
    let logits = Tensor::constant(vec![3, 3], vec![0.1, 0.9, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 2.0]).unwrap();
    // argmax rows: 1, 0 (first at a tie), 2
    assert_eq!(ops::accuracy(&logits, &[1, 0, 2]).unwrap(), 1.0);
    assert!((ops::accuracy(&logits, &[1, 1, 0]).unwrap() - 1.0 / 3.0).abs() < 1e-15);
}

/// `L(θ) = Σ_e c_e out(θ)_e` for a tensor-valued `out`, as a scalar tensor.
fn weighted_sum(out: &Tensor) -> Tensor {
    let n = out.numel();
    let c = Tensor::constant(vec![n, 1], (0..n).map(|i| pseudo(i, 77)).collect()).unwrap();
    let shape = [1, n];
    ops::matmul(&Reshaped::new(out, &shape).unwrap(), &c).unwrap().reshape(vec![]).unwrap()
}

/// Checks the hyper-dual lanes of `f` at a pseudo-random point against central differences
/// (first: h = 1e-5; mixed second: h = 1e-4; relative tolerance 1e-6).
fn fd_check(what: &str, n: usize, f: &dyn Fn(&Params<'_>) -> Tensor) {
    let theta: Vec<f64> = (0..n).map(|i| pseudo(i, 31)).collect();
    let v1: Vec<f64> = (0..n).map(|i| pseudo(i, 32)).collect();
    let v2: Vec<f64> = (0..n).map(|i| pseudo(i, 33)).collect();
    let hd = weighted_sum(&f(&Params::hyper_dual(&theta, &v1, &v2).unwrap())).to_hyper_dual().unwrap();
    let at = |a: f64, b: f64| {
        let t: Vec<f64> = (0..n).map(|i| theta[i] + a * v1[i] + b * v2[i]).collect();
        weighted_sum(&f(&Params::primal(&t))).value().unwrap()
    };
    let (h1, h2) = (1e-5, 1e-4);
    let d1 = (at(h1, 0.0) - at(-h1, 0.0)) / (2.0 * h1);
    let d2 = (at(0.0, h1) - at(0.0, -h1)) / (2.0 * h1);
    let d12 = (at(h2, h2) - at(h2, -h2) - at(-h2, h2) + at(-h2, -h2)) / (4.0 * h2 * h2);
    for (name, ad, fd) in
        [("value", hd.re, at(0.0, 0.0)), ("e1", hd.e1, d1), ("e2", hd.e2, d2), ("e12", hd.e12, d12)]
    {
        assert!(
            (ad - fd).abs() <= 1e-6 * (1.0 + ad.abs().max(fd.abs())),
            "{what} {name}: AD {ad} vs FD {fd}"
        );
    }
}

#[test]
fn ops_match_finite_differences() {
    // Each op applied to a nonlinear function of parameter blocks, so that its inputs carry
    // all planes.
    let act = |p: &Params<'_>, off: usize, shape: Vec<usize>| {
        ops::unary(&p.view(off, shape).unwrap(), UnaryOp::Tanh)
    };
    fd_check("tanh/sigmoid/relu", 6, &|p| {
        let t = act(p, 0, vec![6]);
        ops::unary(&ops::unary(&t, UnaryOp::Sigmoid), UnaryOp::Relu)
    });
    fd_check("matmul", 12, &|p| {
        ops::matmul(&act(p, 0, vec![2, 3]), &p.view(6, vec![3, 2]).unwrap()).unwrap()
    });
    fd_check("bias", 9, &|p| ops::add_bias(&act(p, 0, vec![2, 3]), &p.view(6, vec![3]).unwrap()).unwrap());
    fd_check("conv2d", 32 + 12 + 3, &|p| {
        let x = act(p, 0, vec![1, 2, 4, 4]);
        ops::conv2d(&x, &p.view(32, vec![3, 2, 2, 1]).unwrap(), &p.view(44, vec![3]).unwrap()).unwrap()
    });
    fd_check("max_pool2", 16, &|p| ops::max_pool2(&act(p, 0, vec![1, 1, 4, 4])).unwrap());
    fd_check("cross_entropy", 12, &|p| ops::cross_entropy(&act(p, 0, vec![3, 4]), &[1, 3, 0]).unwrap());
}

#[test]
fn shape_and_mode_errors_are_err() {
    let a = random_tensor::<HyperDual<f64>>(vec![2, 3], 1, true);
    let b = random_tensor::<HyperDual<f64>>(vec![2, 3], 2, true);
    let k = random_tensor::<K3>(vec![3, 2], 3, true);
    assert!(matches!(ops::matmul(&a, &b), Err(Error::Shape(_))));
    assert!(matches!(ops::matmul(&a, &k), Err(Error::InvalidArgument(_))), "modes differ");
    assert!(matches!(
        ops::add_bias(&a, &Tensor::constant(vec![2], vec![0.0; 2]).unwrap()),
        Err(Error::Shape(_))
    ));
    let img = random_tensor::<HyperDual<f64>>(vec![1, 2, 3, 3], 4, false);
    let w = Tensor::constant(vec![1, 3, 2, 2], vec![0.0; 12]).unwrap();
    let bias = Tensor::constant(vec![1], vec![0.0]).unwrap();
    assert!(matches!(ops::conv2d(&img, &w, &bias), Err(Error::Shape(_))), "channel mismatch");
    let big = Tensor::constant(vec![1, 2, 4, 4], vec![0.0; 32]).unwrap();
    assert!(matches!(ops::conv2d(&img, &big, &bias), Err(Error::Shape(_))), "kernel larger than input");
    assert!(ops::max_pool2(&Tensor::constant(vec![1, 1, 1, 3], vec![0.0; 3]).unwrap()).is_err());
    assert!(ops::max_pool2(&a).is_err(), "not 4-D");
    let empty = Tensor::constant(vec![0, 3], vec![]).unwrap();
    assert!(ops::log_softmax(&empty).is_err());
    assert!(ops::cross_entropy(&empty, &[]).is_err());
    assert!(matches!(ops::cross_entropy(&a, &[0]), Err(Error::Length { .. })));
    assert!(matches!(ops::cross_entropy(&a, &[0, 3]), Err(Error::InvalidArgument(_))), "label out of range");
    assert!(Tensor::from_planes(vec![2], Mode::HyperDual, vec![0.0; 2], Some(vec![0.0; 3]), None).is_err());
    assert!(Tensor::from_planes(vec![2], Mode::Directions(0), vec![0.0; 2], None, None).is_err());
    assert!(Tensor::from_planes(vec![2], Mode::Primal, vec![0.0; 2], Some(vec![]), None).is_err());
    let theta = [0.0; 4];
    assert!(matches!(Params::hyper_dual(&theta, &[0.0; 4], &[0.0; 3]), Err(Error::Length { .. })));
    assert!(Params::directions(&theta, &[]).is_err());
}

#[test]
fn modes_name_their_planes() {
    assert_eq!(Mode::HyperDual.pairs(), vec![(0, 1)]);
    assert_eq!(Mode::Jet.pairs(), vec![(0, 0)]);
    assert_eq!(Mode::Primal.pairs(), vec![]);
    let pairs = Mode::Directions(3).pairs();
    assert_eq!(pairs, vec![(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]);
    for (p, &(i, j)) in pairs.iter().enumerate() {
        assert_eq!(fomoh::packed_index(3, i, j), p);
    }
    assert_eq!((Mode::Directions(5).tangents(), Mode::Directions(5).seconds()), (5, 15));
    let mut x = random_tensor::<K3>(vec![4], 1, true);
    assert!(matches!(ops::lift_planes(&mut x, &[]), Err(Error::Length { .. })));
}
