//! `--backend jit`: the session's model compiled from its one definition, one compiled model
//! per shard size of a minibatch.

use super::{Args, Precision};
use crate::cli::spec::AnyOptimizer;
use fomoh::data::Batch;
use fomoh::jit::{compile_model, BoundModel, CompiledModel};
use fomoh::models::Model;
use fomoh::optim::{LastGood, StepReport};
use fomoh::{InputSpan, Objective, WeightedSum, WithSpan};
use std::collections::HashMap;
/// The fewest rows a shard of a `--backend jit` minibatch gets (smaller batches run whole).
const MIN_SHARD_ROWS: usize = 16;

/// The most shards a `--backend jit` minibatch is split into.
const MAX_SHARDS: usize = 8;

/// How many shards of rows a `--backend jit` minibatch of `rows` samples runs as, side by
/// side: a function of the batch alone, so that a run gives the same numbers on any number
/// of cores (a dense net's shard may still split into row tiles, which are also independent
/// of the core count; see `fomoh::jit::tensor::RowTiling`).
pub(super) fn shards(rows: usize) -> usize {
    (rows / MIN_SHARD_ROWS).clamp(1, MAX_SHARDS)
}

/// The compiled models of `--backend jit` per shard size, in the float type of
/// `--precision`.
enum ShardPrograms {
    /// `--precision f64`.
    F64(HashMap<usize, CompiledModel>),
    /// `--precision f32`.
    F32(HashMap<usize, CompiledModel<f32>>),
}

/// `--backend jit`: the session's model compiled from its one definition
/// ([`fomoh::jit::compile_model`]), one compiled model per shard size (the last minibatch of
/// an epoch may be smaller), each shard of a minibatch bound to its rows; compiled code is
/// shared through the JIT's cache.
pub(super) struct JitModel {
    programs: ShardPrograms,
}

/// The compiled model of each shard (rows `bounds[s]..bounds[s + 1]`) of `model` in the
/// float type `T`, compiled once per shard size into `programs`.
fn shard_programs<'a, T: fomoh::jit::JitFloat>(
    programs: &'a mut HashMap<usize, CompiledModel<T>>,
    model: &dyn Model,
    bounds: &[usize],
) -> fomoh::Result<Vec<&'a CompiledModel<T>>> {
    for w in bounds.windows(2) {
        let rows = w[1] - w[0];
        if let std::collections::hash_map::Entry::Vacant(e) = programs.entry(rows) {
            e.insert(compile_model(model, rows)?.with_float::<T>());
        }
    }
    Ok(bounds.windows(2).map(|w| &programs[&(w[1] - w[0])]).collect())
}

/// The mean loss over `batch` as the weighted sum of its shards (rows `bounds[s]..bounds[s +
/// 1]`), each bound to its compiled model; the shards run side by side
/// ([`fomoh::WeightedSum`]).
fn bind_shards<'a, T: fomoh::jit::JitFloat>(
    programs: &[&'a CompiledModel<T>],
    batch: &'a Batch,
    bounds: &[usize],
) -> fomoh::Result<WeightedSum<BoundModel<'a, T>>> {
    let n = batch.labels.len() as f64;
    let parts = bind_each(programs, batch, bounds)?;
    WeightedSum::new(
        parts.into_iter().zip(bounds.windows(2)).map(|(p, w)| (p, (w[1] - w[0]) as f64 / n)).collect(),
    )
}

/// Each shard (rows `bounds[s]..bounds[s + 1]`) bound to its compiled model.
fn bind_each<'a, T: fomoh::jit::JitFloat>(
    programs: &[&'a CompiledModel<T>],
    batch: &'a Batch,
    bounds: &[usize],
) -> fomoh::Result<Vec<BoundModel<'a, T>>> {
    programs.iter().zip(bounds.windows(2)).map(|(p, w)| p.bind_rows(batch, w[0]..w[1])).collect()
}

/// One guarded step on `obj`, with `span` attached if there is one.
fn step_with_span<O: Objective>(
    guard: &mut LastGood,
    optimizer: &mut AnyOptimizer,
    obj: O,
    span: Option<InputSpan<'_>>,
    theta: &mut [f64],
) -> fomoh::Result<StepReport> {
    match span {
        Some(span) => guard.step(optimizer, &WithSpan::new(obj, span)?, theta),
        None => guard.step(optimizer, &obj, theta),
    }
}

impl JitModel {
    /// The JIT form of the session's model, in the float type of `--precision`.
    pub(super) fn new(args: &Args) -> Self {
        let programs = match args.precision {
            Precision::F64 => ShardPrograms::F64(HashMap::new()),
            Precision::F32 => ShardPrograms::F32(HashMap::new()),
        };
        JitModel { programs }
    }

    /// One optimizer step of `model` on `batch` (already checked against the model by
    /// [`fomoh::models::Minibatch::new`]): the batch split into [`shards`] shards of rows,
    /// each bound to the compiled model of its size (a `WeightedSum` whose shards run side by
    /// side: the mean over the batch, in every pass), with `span`, the batch's input span
    /// (the minibatch's [`Objective::input_span`]) if the model has one (for FoMoH-KD's data
    /// directions).
    pub(super) fn step(
        &mut self,
        model: &dyn Model,
        guard: &mut LastGood,
        optimizer: &mut AnyOptimizer,
        (batch, span): (&Batch, Option<InputSpan<'_>>),
        theta: &mut [f64],
    ) -> fomoh::Result<StepReport> {
        let n = batch.labels.len();
        let shards = shards(n);
        let bounds: Vec<usize> = (0..=shards).map(|s| n * s / shards).collect();
        match &mut self.programs {
            ShardPrograms::F32(programs) => {
                let programs = shard_programs(programs, model, &bounds)?;
                step_with_span(guard, optimizer, bind_shards(&programs, batch, &bounds)?, span, theta)
            }
            ShardPrograms::F64(programs) => {
                let programs = shard_programs(programs, model, &bounds)?;
                step_with_span(guard, optimizer, bind_shards(&programs, batch, &bounds)?, span, theta)
            }
        }
    }

    /// `f` on the compiled models of shards `owned` of `batch` (rows `bounds[s]..bounds[s +
    /// 1]`), each bound to its rows (`fomoh train --distributed`: a rank's shards).
    pub(super) fn with_shards<R>(
        &mut self,
        model: &dyn Model,
        batch: &Batch,
        bounds: &[usize],
        owned: std::ops::Range<usize>,
        f: impl FnOnce(Vec<&(dyn Objective + Sync)>) -> fomoh::Result<R>,
    ) -> fomoh::Result<R> {
        let mine = &bounds[owned.start..=owned.end];
        match &mut self.programs {
            ShardPrograms::F32(programs) => {
                let programs = shard_programs(programs, model, mine)?;
                let parts = bind_each(&programs, batch, mine)?;
                f(parts.iter().map(|p| p as &(dyn Objective + Sync)).collect())
            }
            ShardPrograms::F64(programs) => {
                let programs = shard_programs(programs, model, mine)?;
                let parts = bind_each(&programs, batch, mine)?;
                f(parts.iter().map(|p| p as &(dyn Objective + Sync)).collect())
            }
        }
    }
}
