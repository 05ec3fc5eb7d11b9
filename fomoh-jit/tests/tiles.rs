//! Row tiling: batch sums run as the sum of the same program over blocks of rows
//! (`RowTiling`), checked against the interpreter over the runtime's number types and against
//! the untiled program; graphs that are not batch sums must run whole (and stay correct).

mod common;

use common::one_hot;

use common::{assert_close, direction, flat_hd, flat_proj, Tol};
use fomoh_jit::ir::Cmp;
use fomoh_jit::tensor::{models, RowTiling, Tensor, TensorBuilder, TensorProgram};
use fomoh_jit::Mode;
use fomoh_runtime::{HyperDual, UnaryOp};
use proptest::prelude::*;

const TOL: Tol = Tol { rel: 1e-12, floor: 1.0 };

fn dirs(n: usize, k: usize) -> Vec<Vec<f64>> {
    (0..k).map(|j| direction(j, n)).collect()
}

/// Deterministic values in [-1, 1).
fn values(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        })
        .collect()
}

fn tiles(p: &TensorProgram, mode: Mode) -> usize {
    p.prepare(mode).unwrap().row_tiles
}

/// The tiled program's K-direction pass and hyper-dual pass equal the untiled program's.
fn same_as_whole(what: &str, tiled: &TensorProgram, theta: &[f64], k: usize) {
    let whole = tiled.with_row_tiling(RowTiling::Off);
    let u = dirs(theta.len(), k.max(2));
    let (a, b) = (tiled.project(theta, &u[..k]).unwrap(), whole.project(theta, &u[..k]).unwrap());
    assert_close(&format!("{what} K={k} tiled vs whole"), &flat_proj(&a), &flat_proj(&b), TOL);
    let (a, b) =
        (tiled.hyper_dual(theta, &u[0], &u[1]).unwrap(), whole.hyper_dual(theta, &u[0], &u[1]).unwrap());
    assert_close(&format!("{what} hyper-dual tiled vs whole"), &flat_hd(a), &flat_hd(b), TOL);
}

#[test]
fn tiled_models_agree_with_the_interpreter_in_every_mode() {
    let (d, h, c, bsz) = (5, 4, 3, 37);
    let x = values(bsz * d, 1);
    let labels: Vec<usize> = (0..bsz).map(|i| (i * 7) % c).collect();
    let mlp = models::mlp(x.clone(), &labels, d, h, c).unwrap();
    let logreg = models::logreg(x, &labels, d, c).unwrap();
    for (name, p) in [("mlp", mlp), ("logreg", logreg)] {
        let theta: Vec<f64> = values(p.dim(), 2).iter().map(|v| 0.5 * v).collect();
        for rows in [1, 5, 8, 36] {
            let t = p.with_row_tiling(RowTiling::Rows(rows));
            for mode in [Mode::Primal, Mode::HyperDual, Mode::Jet, Mode::HyperK(4)] {
                assert_eq!(tiles(&t, mode), bsz.div_ceil(rows), "{name}: {rows} rows per tile");
            }
            common::tensor_vs_interpreter(&format!("{name} tiles of {rows}"), &t, &theta, TOL, 4);
            same_as_whole(&format!("{name} tiles of {rows}"), &t, &theta, 9);
        }
        let whole = p.with_row_tiling(RowTiling::Off);
        assert_eq!(tiles(&whole, Mode::HyperK(8)), 1);
        // a tile of the whole batch is no tiling
        assert_eq!(tiles(&p.with_row_tiling(RowTiling::Rows(bsz)), Mode::HyperK(8)), 1);
    }
}

/// `RowTiling::Auto` on the benchmark MLP (batch 256): more, smaller tiles in the modes with
/// more lanes (a whole-batch intermediate at K = 8 does not fit in cache), at most
/// `MAX_TILE_ROWS` rows in every mode; a small batch or a small net runs whole.
#[test]
fn auto_tiling_follows_the_lanes_of_the_mode() {
    use fomoh_jit::tensor::{MAX_TILE_ROWS, MIN_TILE_ROWS};
    let (x, y) = common::digits(256);
    let p = models::mlp(x, &y, 64, 32, 10).unwrap();
    let theta: Vec<f64> = (0..p.dim()).map(|k| 0.1 * ((k + 1) as f64).sin()).collect();
    let n: Vec<usize> =
        [Mode::Primal, Mode::HyperDual, Mode::HyperK(4), Mode::HyperK(8)].map(|m| tiles(&p, m)).to_vec();
    assert_eq!(n[0], 256 / MAX_TILE_ROWS, "{n:?}");
    assert!(n[1] >= n[0] && n[2] > n[1] && n[3] > n[2], "{n:?}");
    assert!(256 / n[3] >= MIN_TILE_ROWS, "{n:?}");
    same_as_whole("digits mlp", &p, &theta, 8);
    // a small batch is never tiled
    let (x, y) = common::digits(12);
    assert_eq!(tiles(&models::mlp(x, &y, 64, 32, 10).unwrap(), Mode::HyperK(16)), 1);
    // nor a small net (too little work per tile) outside the modes with many lanes
    let (x, y) = common::digits(256);
    let x: Vec<f64> = x.chunks(64).flat_map(|r| r[..4].to_vec()).collect();
    let y: Vec<usize> = y.iter().map(|&c| c % 3).collect();
    let small = models::mlp(x, &y, 4, 3, 3).unwrap();
    assert_eq!(tiles(&small, Mode::Primal), 1);
    assert!(tiles(&small, Mode::HyperK(8)) >= 2);
}

/// Bound minibatches (inputs whose first axis is the batch) are tiled in place, in `f64`
/// and in `f32`; lengths are still checked.
#[test]
fn bound_minibatches_are_tiled() {
    let (x, y) = common::digits(40);
    let y = one_hot(&y, 10);
    let p =
        models::mlp_minibatch(40, &[64, 6, 10], UnaryOp::Tanh).unwrap().with_row_tiling(RowTiling::Rows(8));
    let whole = p.with_row_tiling(RowTiling::Off);
    let theta: Vec<f64> = (0..p.dim()).map(|k| 0.3 * ((k + 1) as f64).cos()).collect();
    let u = dirs(theta.len(), 5);
    let (a, b) = (p.bind(&[&x, &y]).unwrap(), whole.bind(&[&x, &y]).unwrap());
    assert_eq!(tiles(&p, Mode::HyperK(5)), 5);
    assert_close(
        "bound K=5",
        &flat_proj(&a.project(&theta, &u).unwrap()),
        &flat_proj(&b.project(&theta, &u).unwrap()),
        TOL,
    );
    let seeded: Vec<HyperDual<f64>> =
        (0..theta.len()).map(|i| HyperDual::seed(theta[i], u[0][i], u[1][i])).collect();
    assert_close(
        "bound hyper-dual vs interpreter",
        &flat_hd(a.hyper_dual(&theta, &u[0], &u[1]).unwrap()),
        &flat_hd(a.interpret(&seeded).unwrap()),
        TOL,
    );
    assert!(p.bind(&[&x[1..], &y]).is_err());
    assert!(a.value(&theta[1..]).is_err());
    assert!(a.project(&theta, &[u[0].clone(), u[1][1..].to_vec()]).is_err());

    let (p32, w32) = (p.with_float::<f32>(), whole.with_float::<f32>());
    let (x32, y32, t32): (Vec<f32>, Vec<f32>, Vec<f32>) = (
        x.iter().map(|&v| v as f32).collect(),
        y.iter().map(|&v| v as f32).collect(),
        theta.iter().map(|&v| v as f32).collect(),
    );
    let u32s: Vec<Vec<f32>> = u.iter().map(|d| d.iter().map(|&v| v as f32).collect()).collect();
    let a = p32.bind(&[&x32, &y32]).unwrap().project(&t32, &u32s).unwrap();
    let b = w32.bind(&[&x32, &y32]).unwrap().project(&t32, &u32s).unwrap();
    let exact = flat_proj(&b.clone()).iter().fold(0f32, |m, v| m.max(v.abs())) as f64;
    assert_close(
        "f32 tiled vs whole",
        &common::f64s(&flat_proj(&a)),
        &common::f64s(&flat_proj(&b)),
        Tol { rel: 1e-5, floor: exact },
    );
    assert_eq!(p32.prepare(Mode::HyperK(5)).unwrap().row_tiles, 5);
}

/// A tiled pass gives the same bits whatever the thread count (the split and the order of
/// the tiles' sum depend only on the graph and the mode).
#[test]
fn tiled_results_do_not_depend_on_the_thread_count() {
    let (x, y) = common::digits(200);
    let p = models::mlp(x, &y, 64, 16, 10).unwrap().with_row_tiling(RowTiling::Rows(24));
    let theta: Vec<f64> = (0..p.dim()).map(|k| 0.1 * ((k + 3) as f64).sin()).collect();
    let u = dirs(theta.len(), 8);
    let many = p.project(&theta, &u).unwrap();
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let single = one.install(|| p.project(&theta, &u).unwrap());
    assert_eq!(many, single);
    assert_eq!(p.project(&theta, &u).unwrap(), many, "repeatable");
}

/// `Σ_rows` of per-row values of `x` (`[b, d]` data) and θ, built by `body`, with `extra`
/// applied to that sum: the program over `d·h + b` parameters (`W` is the first `d·h`).
fn graph(
    b: usize,
    d: usize,
    h: usize,
    body: impl Fn(&mut TensorBuilder, Tensor, Tensor) -> Tensor,
    extra: impl Fn(&mut TensorBuilder, Tensor) -> Tensor,
) -> (TensorProgram, Vec<f64>) {
    let mut tb = TensorBuilder::new(d * h + b);
    let x = tb.data(values(b * d, 5), &[b, d]).unwrap();
    let w = tb.param(0, &[d, h]).unwrap();
    let r = body(&mut tb, x, w);
    let s = tb.sum(r);
    let out = extra(&mut tb, s);
    (tb.finish(out).unwrap(), values(d * h + b, 6).iter().map(|v| 0.7 * v).collect())
}

fn tanh_rows(tb: &mut TensorBuilder, x: Tensor, w: Tensor) -> Tensor {
    let z = tb.matmul(x, w).unwrap();
    tb.unary(UnaryOp::Tanh, z).unwrap()
}

/// Batch sums of every accepted shape are tiled; graphs that are not batch sums (or not
/// provably) run whole. Either way every mode agrees with the interpreter.
#[test]
fn only_batch_sums_are_tiled() {
    let (b, d, h) = (24, 3, 4);
    let id = |_: &mut TensorBuilder, s: Tensor| s;
    type Body = Box<dyn Fn(&mut TensorBuilder, Tensor, Tensor) -> Tensor>;
    type Extra = Box<dyn Fn(&mut TensorBuilder, Tensor) -> Tensor>;
    let cases: Vec<(&str, bool, Body, Extra)> = vec![
        ("sum of tanh(x W)", true, Box::new(tanh_rows), Box::new(id)),
        (
            "relu as a select, per-row weights [b], a mean, a difference of sums, a negation",
            true,
            Box::new(move |tb, x, w| {
                let z = tb.matmul(x, w).unwrap();
                let zero = tb.constant(0.0);
                let r = tb.select(Cmp::Gt, z, zero, z, zero).unwrap();
                let per = tb.sum_rows(r).unwrap(); // [b]
                let wts = tb.data(values(b, 9), &[b]).unwrap();
                tb.mul(per, wts).unwrap()
            }),
            Box::new(move |tb, s| {
                let half = tb.constant(0.5);
                let m = tb.mul(s, half).unwrap();
                let inv = tb.data(vec![1.0 / b as f64], &[1]).unwrap();
                let m = tb.div(m, inv).unwrap();
                let n = tb.neg(s).unwrap();
                let d = tb.sub(m, n).unwrap();
                tb.neg(d).unwrap()
            }),
        ),
        (
            "a loss plus a regularizer (not a batch sum)",
            false,
            Box::new(tanh_rows),
            Box::new(|tb, s| {
                let w = tb.param(0, &[12]).unwrap();
                let w2 = tb.mul(w, w).unwrap();
                let r = tb.sum(w2);
                tb.add(s, r).unwrap()
            }),
        ),
        (
            "the log of the batch sum",
            false,
            Box::new(tanh_rows),
            Box::new(|tb, s| tb.unary(UnaryOp::Ln1p, s).unwrap()),
        ),
        (
            "a product of batch sums",
            false,
            Box::new(tanh_rows),
            Box::new(|tb, s| {
                let t = tb.mul(s, s).unwrap();
                tb.mul(t, s).unwrap()
            }),
        ),
        (
            "a batch sum times a parameter",
            false,
            Box::new(tanh_rows),
            Box::new(|tb, s| {
                let w = tb.param(1, &[]).unwrap();
                tb.mul(s, w).unwrap()
            }),
        ),
        (
            "the maximum over the batch",
            false,
            Box::new(|tb, x, w| {
                let z = tanh_rows(tb, x, w);
                tb.max(z).unwrap()
            }),
            Box::new(id),
        ),
        (
            "rows mixed by a transpose",
            false,
            Box::new(|tb, x, w| {
                let z = tanh_rows(tb, x, w); // [b, h]
                let zt = tb.transpose(z).unwrap(); // [h, b]
                tb.matmul(zt, z).unwrap()
            }),
            Box::new(id),
        ),
        (
            "a slice of the batch",
            false,
            Box::new(|tb, x, w| {
                let z = tanh_rows(tb, x, w);
                tb.slice(z, 1, 20).unwrap()
            }),
            Box::new(id),
        ),
        (
            "rows paired with a non-batch tensor of the batch's extent",
            false,
            Box::new(move |tb, x, w| {
                let z = tanh_rows(tb, x, w); // [b, h]
                let p = tb.param(0, &[b, 1]).unwrap();
                tb.mul(z, p).unwrap()
            }),
            Box::new(id),
        ),
        (
            "a batch vector broadcast along columns",
            false,
            Box::new(move |tb, x, w| {
                let z = tanh_rows(tb, x, w);
                let per = tb.sum_rows(z).unwrap(); // [b], as a row
                let p = tb.param(0, &[2, 1]).unwrap();
                tb.mul(per, p).unwrap() // [2, b]
            }),
            Box::new(id),
        ),
        (
            "a reshape across rows",
            false,
            Box::new(move |tb, x, w| {
                let z = tanh_rows(tb, x, w);
                let flat = tb.reshape(z, &[b / 2, 2 * h]).unwrap();
                let z2 = tb.mul(flat, flat).unwrap();
                tb.max_rows(z2).unwrap()
            }),
            Box::new(id),
        ),
    ];
    for (what, tiled, body, extra) in cases {
        let (p, theta) = graph(b, d, h, body, extra);
        let p = p.with_row_tiling(RowTiling::Rows(5));
        let n = tiles(&p, Mode::HyperK(3));
        assert_eq!(n, if tiled { 5 } else { 1 }, "{what}: {n} tiles");
        common::tensor_vs_interpreter(what, &p, &theta, TOL, 3);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    /// Random dense nets (depth, widths, activation, batch, tile rows) on random data: the
    /// tiled hyper-dual pass against the interpreter over `HyperDual<f64>`, the tiled K = 3
    /// pass against the untiled one.
    #[test]
    fn random_dense_nets_tile_exactly(
        bsz in 2usize..40,
        rows in 1usize..40,
        sizes in proptest::collection::vec(1usize..5, 2..4),
        act in 0usize..3,
        seed in any::<u64>(),
    ) {
        let activation = [UnaryOp::Tanh, UnaryOp::Sigmoid, UnaryOp::Relu][act];
        let p = models::mlp_minibatch(bsz, &sizes, activation).unwrap().with_row_tiling(RowTiling::Rows(rows));
        let classes = *sizes.last().unwrap();
        let x = values(bsz * sizes[0], seed);
        let y = one_hot(&(0..bsz).map(|i| (i + seed as usize) % classes).collect::<Vec<_>>(), classes);
        let theta: Vec<f64> = values(p.dim(), seed ^ 0x5555).iter().map(|v| 0.8 * v).collect();
        let a = p.bind(&[&x, &y]).unwrap();
        prop_assert_eq!(tiles(&p, Mode::HyperDual), bsz.div_ceil(rows).max(1));
        let u = dirs(theta.len(), 3);
        let seeded: Vec<HyperDual<f64>> =
            (0..theta.len()).map(|i| HyperDual::seed(theta[i], u[0][i], u[1][i])).collect();
        let (hd, r) = (flat_hd(a.hyper_dual(&theta, &u[0], &u[1]).unwrap()), flat_hd(a.interpret(&seeded).unwrap()));
        for (x, y) in hd.iter().zip(&r) {
            prop_assert!(common::close_within(*x, *y, TOL), "hyper-dual {:?} vs interpreter {:?}", hd, r);
        }
        let whole = p.with_row_tiling(RowTiling::Off);
        let b = whole.bind(&[&x, &y]).unwrap();
        let (k3, w3) = (flat_proj(&a.project(&theta, &u).unwrap()), flat_proj(&b.project(&theta, &u).unwrap()));
        for (x, y) in k3.iter().zip(&w3) {
            prop_assert!(common::close_within(*x, *y, TOL), "K=3 tiled {:?} vs whole {:?}", k3, w3);
        }
    }
}
