//! Row tiling: a batched program run as the sum of the same program over blocks of rows.
//!
//! A model's loss over a batch of `B` rows is usually a sum over rows of a function of one
//! row (features, labels) and the shared parameters, scaled by a constant (the mean). Run
//! as one program, every intermediate holds all `B` rows in every lane: at `K = 8` the
//! 45 lanes of a 32-wide hidden layer of 256 rows are 2.9 MB, beyond the L2 cache, and each
//! step streams them from memory. Run as tiles of a few dozen rows, one tile's
//! intermediates stay in cache from the step that writes them to the step that reads them,
//! and the tiles run side by side on the rayon pool with no barrier between steps.
//!
//! [`analyze`] proves that a graph is such a sum, by classifying every node that the output
//! uses:
//! - **rows** (`R`): the node's first axis is the batch and its row `i` depends only on row
//!   `i` of the batched leaves (data or inputs whose first extent is the batch) and on
//!   non-batched nodes: elementwise ops whose batched operands have the output's rank and
//!   whose other operands broadcast along the batch axis, row reductions of matrices,
//!   `R × N` matmuls, reshapes that keep the first axis;
//! - **none** (`N`): independent of the batch (parameters, other data, ops on them);
//! - **linear** (`L`): a scalar that is a sum over rows: a full sum (or the row sum of a
//!   vector) of a rows node, sums and differences of linear nodes, and a linear node times
//!   (or divided by) a literal or one-element data.
//!
//! The output must be linear, and every other use of a rows or linear node rejects the
//! graph (which then runs whole, as before). Then `f = Σ_t f_t` as functions of θ, where
//! `f_t` is the same graph over the rows of tile `t` (the batched leaves replaced by input
//! slots bound to those rows, read in place): so every lane (value, gradient, Hessian
//! products) of the whole is the sum of the tiles' lanes. The tiles' results are added in
//! tile order, and the split depends only on the graph, the mode and the float type (never
//! on the thread count), so the result is the same on every machine; it differs from the
//! untiled program only by the order of the batch sum's additions.

use super::graph::{args, numel, TNode, TOp};
use crate::error::{JitError, JitResult};
use crate::stage::Mode;
use fomoh_runtime::BinaryOp;

/// How a tensor program runs a batch (see
/// [`TensorProgram::with_row_tiling`](super::TensorProgram::with_row_tiling)).
///
/// A graph is tiled when it is provably a sum over the rows of a batch: its output is a
/// full sum of per-row values (or sums and differences of such sums, scaled by literals,
/// e.g. a mean loss), where a row's value depends only on that row of the data or inputs
/// whose first extent is the batch and on values that do not depend on the batch
/// (parameters, other data). Elementwise ops with broadcasting along the batch axis, row
/// reductions, `rows × weights` matmuls and reshapes that keep the first axis preserve
/// rows; anything that mixes rows (a transpose, a slice of the batch, a maximum over it, a
/// function of the batch sum, a regularizer added to it) makes the graph run whole. Each
/// tile is the same graph over a block of rows, its batched data or inputs read in place;
/// every lane of the result (value, directional derivatives, curvature terms) is the sum
/// of the tiles' lanes, added in tile order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RowTiling {
    /// Tiles where the graph allows it, sized per mode: one tile's intermediates (all lanes
    /// of the per-row values it stores) take about [`TILE_BYTES`], a tile has at most
    /// [`MAX_TILE_ROWS`] rows (so a large batch runs on every core in every mode), and at
    /// least [`MIN_TILE_ROWS`] rows and [`TILE_WORK`] of work (so a small problem runs
    /// whole, without the cost of handing tiles to the pool).
    #[default]
    Auto,
    /// Always the whole batch at once.
    Off,
    /// Tiles of at most this many rows (at least 1) where the graph allows it.
    Rows(usize),
}

/// The bytes of intermediates (all lanes of the stored per-row values) one
/// [`RowTiling::Auto`] tile aims at: a quarter of a 2 MB L2 cache, which leaves room for
/// the weights' lanes and the matmul kernel's packed operands. (Measured on the MLP
/// 64-32-10 and the logistic regression 64-10 with `cargo bench --bench jit_tensor --
/// tiles`: `K = 8` runs best at 16-32 and 64-256 rows per tile, `K = 4` at 32-64 and
/// 128-256, the primal and hyper-dual passes at 64-256 rows, against 1.3-2.2x slower for
/// the whole batch at once.)
pub const TILE_BYTES: usize = 1 << 19;

/// The most rows of a [`RowTiling::Auto`] tile.
pub const MAX_TILE_ROWS: usize = 128;

/// The fewest rows of a [`RowTiling::Auto`] tile.
pub const MIN_TILE_ROWS: usize = 8;

/// The least work of a [`RowTiling::Auto`] tile: per-row elements of the stored values
/// and multiply-adds of the matmuls, times the lanes of the mode.
pub const TILE_WORK: usize = 1 << 16;

/// What a node is with respect to the batch (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    /// Not used by the output.
    Unused,
    /// Independent of the batch.
    None,
    /// Row `i` from row `i` of the batched leaves.
    Rows,
    /// A scalar sum over rows.
    Linear,
}

/// Where a tile program's input slot comes from: a data or input leaf of the whole graph,
/// and its row width if the tile reads only its own rows of it (`None`: all of it).
pub(super) type TileSrc = (u32, Option<usize>);

/// A graph proved to be a sum over the rows of a batch.
#[derive(Debug)]
pub(super) struct RowSplit {
    batch: usize,
    class: Vec<Class>,
    /// Per tile input slot: its source.
    pub(super) srcs: Vec<TileSrc>,
    /// The tile slot of each batched or input leaf.
    slot: Vec<Option<usize>>,
    /// Estimated stored elements per row and lane (rows nodes that are neither views nor
    /// inlined into their single consumer).
    width: usize,
    /// Estimated work per row and lane: the elements of every rows node, the multiply-adds
    /// of its matmuls.
    work: usize,
}

/// The row structure of the graph `nodes` with output `output`, if it is a sum over the rows
/// of a batch of at least 2 rows (see the module docs).
pub(super) fn analyze(nodes: &[TNode], output: u32) -> Option<RowSplit> {
    let mut used = vec![false; nodes.len()];
    let mut users = vec![0usize; nodes.len()];
    *used.get_mut(output as usize)? = true;
    for i in (0..nodes.len()).rev() {
        if used[i] {
            for a in args(&nodes[i].op) {
                used[a as usize] = true;
                users[a as usize] += 1;
            }
        }
    }
    let mut batches: Vec<usize> = nodes
        .iter()
        .zip(&used)
        .filter(|(n, &u)| u && matches!(n.op, TOp::Data(_) | TOp::Input(_)))
        .filter_map(|(n, _)| n.shape.first().copied())
        .filter(|&b| b >= 2)
        .collect();
    batches.sort_unstable_by(|a, b| b.cmp(a));
    batches.dedup();
    batches.into_iter().find_map(|b| classify(nodes, output, &used, &users, b))
}

fn classify(nodes: &[TNode], output: u32, used: &[bool], users: &[usize], batch: usize) -> Option<RowSplit> {
    use Class::*;
    let mut class = vec![Unused; nodes.len()];
    let (mut width, mut work) = (0usize, 0usize);
    for (i, n) in nodes.iter().enumerate() {
        if !used[i] {
            continue;
        }
        let s = &n.shape;
        let c = |a: &u32| class[*a as usize];
        let batched = !s.is_empty() && s[0] == batch;
        // A scalar literal or one-element data: a factor that may scale a linear node.
        let literal = |a: u32| {
            let m = &nodes[a as usize];
            numel(&m.shape) == 1 && matches!(m.op, TOp::Const(_) | TOp::Data(_))
        };
        // Operands of an elementwise op with rows: batched ones have the output's rank,
        // the others broadcast along the batch axis.
        let rows_ok = |ops: &[u32]| {
            batched
                && ops.iter().all(|&a| match class[a as usize] {
                    Rows => nodes[a as usize].shape.len() == s.len(),
                    None => {
                        let sa = &nodes[a as usize].shape;
                        sa.len() < s.len() || sa[0] == 1
                    }
                    _ => false,
                })
        };
        let k = match &n.op {
            TOp::Param(_) | TOp::Const(_) => None,
            TOp::Data(_) | TOp::Input(_) if batched => Rows,
            TOp::Data(_) | TOp::Input(_) => None,
            TOp::Neg(a) => c(a),
            TOp::Unary(_, a) => match c(a) {
                Linear => return Option::None,
                k => k,
            },
            TOp::Binary(op, a, b) => match (c(a), c(b)) {
                (None, None) => None,
                (Linear, Linear) if matches!(op, BinaryOp::Add | BinaryOp::Sub) => Linear,
                (Linear, None) if matches!(op, BinaryOp::Mul | BinaryOp::Div) && literal(*b) => Linear,
                (None, Linear) if matches!(op, BinaryOp::Mul) && literal(*a) => Linear,
                (Linear, _) | (_, Linear) => return Option::None,
                _ if rows_ok(&[*a, *b]) => Rows,
                _ => return Option::None,
            },
            TOp::Select(_, ops) => match ops.iter().map(c).collect::<Vec<_>>() {
                cs if cs.iter().all(|&k| k == None) => None,
                cs if cs.contains(&Linear) => return Option::None,
                _ if rows_ok(ops) => Rows,
                _ => return Option::None,
            },
            TOp::Sum(a) => match c(a) {
                Rows | Linear => Linear,
                k => k,
            },
            TOp::SumRows(a) => match c(a) {
                Rows if nodes[*a as usize].shape.len() == 2 => Rows,
                Rows | Linear => Linear,
                k => k,
            },
            TOp::MaxRowsPassive(a) => match c(a) {
                Rows if nodes[*a as usize].shape.len() == 2 => Rows,
                None => None,
                _ => return Option::None,
            },
            TOp::Matmul(a, b) => match (c(a), c(b)) {
                (None, None) => None,
                (Rows, None) => Rows,
                _ => return Option::None,
            },
            TOp::Reshape(a) => match c(a) {
                Rows if batched => Rows,
                Rows => return Option::None,
                k => k,
            },
            TOp::Slice(..) | TOp::Gather(..) | TOp::MaxSelect(..) => {
                if args(&n.op).iter().all(|a| c(a) == None) {
                    None
                } else {
                    return Option::None;
                }
            }
        };
        if k == Rows && !matches!(n.op, TOp::Data(_) | TOp::Input(_) | TOp::Reshape(_)) {
            let row = numel(s) / batch;
            let inlined = matches!(n.op, TOp::Neg(_) | TOp::Unary(..) | TOp::Binary(..) | TOp::Select(..))
                && users[i] == 1;
            if !inlined {
                width += row;
            }
            work += match n.op {
                TOp::Matmul(a, _) => row * nodes[a as usize].shape[1],
                _ => row,
            };
        }
        class[i] = k;
    }
    if class[output as usize] != Linear {
        return Option::None;
    }
    let mut srcs = Vec::new();
    let mut slot = vec![Option::None; nodes.len()];
    for (i, n) in nodes.iter().enumerate() {
        let row = || numel(&n.shape) / batch;
        let src = match (&n.op, class[i]) {
            (TOp::Data(_) | TOp::Input(_), Rows) => (i as u32, Some(row())),
            (TOp::Input(_), None) => (i as u32, Option::None),
            _ => continue,
        };
        slot[i] = Some(srcs.len());
        srcs.push(src);
    }
    Some(RowSplit { batch, class, srcs, slot, width: width.max(1), work: work.max(1) })
}

impl RowSplit {
    /// The graph over `rows` rows of the batch: batched leaves become input slots of
    /// `rows` rows, every rows node has `rows` as its first extent, unused nodes become
    /// literals. Returns the nodes and the input slots' shapes.
    pub(super) fn tile_nodes(&self, nodes: &[TNode], rows: usize) -> (Vec<TNode>, Vec<Vec<usize>>) {
        let mut shapes = vec![Vec::new(); self.srcs.len()];
        let out = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let mut shape = n.shape.clone();
                if self.class[i] == Class::Rows {
                    shape[0] = rows;
                }
                let op = match (self.class[i], self.slot[i]) {
                    (Class::Unused, _) => return TNode { op: TOp::Const(0.0), shape: Vec::new() },
                    (_, Some(s)) => {
                        shapes[s] = shape.clone();
                        TOp::Input(s)
                    }
                    _ => n.op.clone(),
                };
                TNode { op, shape }
            })
            .collect();
        (out, shapes)
    }

    /// The rows of the tiles of `mode` under `tiling` (`None`: run whole).
    pub(super) fn bounds(&self, tiling: RowTiling, mode: Mode, elem: usize) -> Option<Vec<(usize, usize)>> {
        let b = self.batch;
        let n = match tiling {
            RowTiling::Off => return Option::None,
            RowTiling::Rows(r) => b.div_ceil(r.max(1)),
            RowTiling::Auto => {
                let lanes = mode.outputs();
                let bytes = self.width.saturating_mul(lanes).saturating_mul(elem).max(1);
                let by_work = TILE_WORK.div_ceil(self.work.saturating_mul(lanes).max(1));
                let rows = (TILE_BYTES / bytes).min(MAX_TILE_ROWS).max(by_work).max(MIN_TILE_ROWS);
                b.div_ceil(rows).min(b / MIN_TILE_ROWS)
            }
        };
        if n < 2 {
            return Option::None;
        }
        // n tiles as even as possible: the first `b % n` have one row more.
        let (q, r) = (b / n, b % n);
        let mut at = 0;
        Some(
            (0..n)
                .map(|t| {
                    let len = q + usize::from(t < r);
                    at += len;
                    (at - len, at)
                })
                .collect(),
        )
    }
}

/// Rows `r0..r1` of a row-major matrix with rows of `w` elements.
pub(super) fn rows_of<T>(d: &[T], w: usize, (r0, r1): (usize, usize)) -> JitResult<&[T]> {
    d.get(r0 * w..r1 * w).ok_or_else(|| JitError::Shape("internal: a tile's rows are out of range".into()))
}
