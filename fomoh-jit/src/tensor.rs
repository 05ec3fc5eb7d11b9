//! Tensor front end: graphs over tensors with static shapes (rank 0 to 2), compiled to
//! fused Cranelift loops.
//!
//! A [`TensorBuilder`] records nodes: active parameters (contiguous slices of the flat
//! parameter vector θ), passive data (constants of the graph), passive inputs (static shape,
//! bound at call time with [`TensorProgram::bind`], so one compiled program serves every
//! minibatch of a size), scalar constants, elementwise unary/binary ops with numpy-style
//! broadcasting (`maximum` among them), reductions (`sum`, `sum_rows`, the active `max`,
//! `max_rows` and windowed `max_over`, a passive row max), `matmul`, `reshape` and `slice`
//! (views, no copy), `broadcast_to`, `concat`, `slice_axis`, `transpose` and `gather`
//! (copies, or views where nothing is copied). Layers and losses (`conv2d`, `max_pool2`,
//! `logsumexp_rows`, cross-entropy) are not the builder's: they are written once in the
//! tensor language ([`fomoh_runtime::nn`]) and recorded here by [`crate::TensorTracer`]
//! (the models: [`crate::compile_model`]).
//!
//! Copies and windowed maxima run as steps over the lane buffers: a copy moves every lane
//! alike; a maximum selects each window's first primal maximum (the runtime's tie rule) and
//! copies every lane of that element. Their indices are checked when the node is built;
//! chains of copies compose and copies of data fold, at build time.
//!
//! Compilation ([`TensorProgram`]): every maximal chain of elementwise ops (each with one
//! consumer of the same shape) together with a trailing reduction becomes ONE loop whose
//! body is a scalar graph over the loaded elements, staged in the requested mode from the
//! runtime's rule table (the same staging as the scalar front end, [`crate::stage`]); all
//! lanes live in registers and only the non-zero lanes of each operand are loaded. In the
//! derivative modes a body over few leaves is instead preaccumulated where that stages
//! fewer nodes (its local gradient and Hessian, then the chain rule, see [`LoopStrategy`]);
//! loops run on 128-bit vectors of columns (`f64x2`, or `f32x4` in an `f32` program, see
//! [`TensorProgram::with_float`]) and fuse products into `fma` where the CPU has it. Matmul
//! lanes are obtained by staging the scalar product `a·b` and reading off its bilinear
//! terms; the products are few large `matrixmultiply` calls (`dgemm`, or `sgemm` in `f32`)
//! on lane planes. Compiled plans go through the process-wide code cache
//! ([`crate::cache`], keyed per float type and loop strategy): building the same graph twice
//! compiles each mode once, and the code is freed with the last program using it. A graph
//! that is a sum over the rows of a batch (a model's mean loss) runs as row tiles, the same
//! graph over blocks of rows side by side, so that a tile's lanes stay in cache
//! ([`RowTiling`], [`TensorProgram::with_row_tiling`]).
//!
//! ```
//! use fomoh_jit::tensor::TensorBuilder;
//! // extended Rosenbrock: a handful of tensor nodes for any n
//! let n = 1000;
//! let mut b = TensorBuilder::new(n);
//! let x = b.param(0, &[n]).unwrap();
//! let (hi, lo) = (b.slice(x, 1, n).unwrap(), b.slice(x, 0, n - 1).unwrap());
//! let t = b.mul(lo, lo).unwrap();
//! let d = b.sub(hi, t).unwrap();
//! let c100 = b.constant(100.0);
//! let one = b.constant(1.0);
//! let a = b.mul(d, d).unwrap();
//! let a = b.mul(c100, a).unwrap();
//! let e = b.sub(one, lo).unwrap();
//! let e2 = b.mul(e, e).unwrap();
//! let s = b.add(a, e2).unwrap();
//! let f = b.sum(s);
//! let p = b.finish(f).unwrap();
//! let x0: Vec<f64> = (0..n).map(|i| if i % 2 == 0 { -1.2 } else { 1.0 }).collect();
//! // pairs (-1.2, 1) give 24.2 each, pairs (1, -1.2) give 100·(2.2)² = 484 each
//! assert!((p.value(&x0).unwrap() - 24.2 * (n / 2) as f64 - 484.0 * (n / 2 - 1) as f64).abs() < 1e-6);
//! ```

// The layers, bottom up (each file uses only the ones above it in this list):
// - `graph`: ops, nodes, shapes and the graph's structural identity;
// - `fuse`: what a fused loop body computes (staging strategy, sign folding, `fma` plan);
// - `lanes`: where one lane of a value lives and how it is read;
// - `gemm`: matmul steps (dgemm blocks and their scheduling);
// - `exec`: the steps of a compiled plan and how they run (loops, copies, maxima);
// - `emit`: fused loops, their operations lowered by `crate::lower` (shared with the scalar code);
// - `plan`: a graph compiled into steps (loop fusion, matmul lanes, copies), cached;
// - `tile`: the row structure of a batch sum;
// - `interp`: the reference interpreter;
// - `program`: the public program API (`TensorProgram`, `Bound`), over all of the above;
// - `builder`: recording a graph (`TensorBuilder`), finished into a `TensorProgram`;
// - `models`: the benchmark problems, built with the builder.

mod builder;
mod emit;
mod exec;
mod fuse;
mod gemm;
mod graph;
mod interp;
mod lanes;
mod plan;
mod program;
mod tile;

#[cfg(test)]
mod matmul_plan_tests;

pub mod models;

pub use builder::TensorBuilder;
pub use fuse::LoopStrategy;
pub use graph::{TNode, TOp, Tensor};
pub use plan::{TensorStats, PAR_MIN_LOOP_WORK};
pub use program::{Bound, TensorProgram};
pub use tile::{RowTiling, MAX_TILE_ROWS, MIN_TILE_ROWS, TILE_BYTES, TILE_WORK};
