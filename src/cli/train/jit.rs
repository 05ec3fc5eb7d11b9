//! `--backend jit`: the model as compiled tensor programs, one per shard size of a minibatch.

use super::{cnn_config, mlp_sizes, Args, ModelArg, Precision, MLP_ACTIVATION};
use crate::cli::spec::AnyOptimizer;
use crate::cli::CliResult;
use fomoh::data::Batch;
use fomoh::jit::tensor::{models as jit_models, TensorProgram};
use fomoh::models::{Activation, CnnConfig};
use fomoh::optim::{LastGood, StepReport};
use fomoh::tensor::Planes;
use std::collections::HashMap;
/// The fewest rows a shard of a `--backend jit` minibatch gets (smaller batches run whole).
const MIN_SHARD_ROWS: usize = 16;

/// The most shards a `--backend jit` minibatch is split into.
const MAX_SHARDS: usize = 8;

/// How many shards of rows a `--backend jit` minibatch of `rows` samples runs as, side by
/// side: a function of the batch alone, so that a run gives the same numbers on any number
/// of cores (a dense net's shard may still split into row tiles, which are also independent
/// of the core count; see `fomoh::jit::tensor::RowTiling`).
fn shards(rows: usize) -> usize {
    (rows / MIN_SHARD_ROWS).clamp(1, MAX_SHARDS)
}

/// The network `--backend jit` compiles.
enum JitNet {
    /// Logistic regression or the MLP: layer widths (`[features, classes]` for logistic
    /// regression) and the activation between layers.
    Dense { sizes: Vec<usize>, activation: Activation },
    /// The CNN.
    Cnn(CnnConfig),
}

/// The compiled programs of `--backend jit` per shard size, in the float type of
/// `--precision`.
enum ShardPrograms {
    /// `--precision f64`.
    F64(HashMap<usize, TensorProgram>),
    /// `--precision f32`.
    F32(HashMap<usize, TensorProgram<f32>>),
}

/// `--backend jit`: the model as compiled tensor programs with a shard of the minibatch's
/// features (or images) and one-hot labels as bound inputs, one program per shard size (the
/// last minibatch of an epoch may be smaller); compiled code is shared through the JIT's cache.
pub(super) struct JitModel {
    net: JitNet,
    programs: ShardPrograms,
}

/// The compiled program of each shard (rows `bounds[s]..bounds[s + 1]`) of `net` in the float
/// type `T`, built once per shard size into `programs`.
fn shard_programs<'a, T: fomoh::jit::JitFloat>(
    programs: &'a mut HashMap<usize, TensorProgram<T>>,
    net: &JitNet,
    bounds: &[usize],
) -> fomoh::Result<Vec<&'a TensorProgram<T>>> {
    for w in bounds.windows(2) {
        let rows = w[1] - w[0];
        if let std::collections::hash_map::Entry::Vacant(e) = programs.entry(rows) {
            let p = match net {
                JitNet::Dense { sizes, activation } => {
                    jit_models::mlp_minibatch(rows, sizes, activation.op())?
                }
                JitNet::Cnn(cfg) => jit_models::cnn_minibatch(rows, *cfg)?,
            };
            e.insert(p.with_float::<T>());
        }
    }
    Ok(bounds.windows(2).map(|w| &programs[&(w[1] - w[0])]).collect())
}

impl JitModel {
    /// The JIT form of `--model`.
    pub(super) fn new(args: &Args, features: usize, classes: usize) -> CliResult<Self> {
        let net = match args.model {
            ModelArg::Logreg => JitNet::Dense { sizes: vec![features, classes], activation: MLP_ACTIVATION },
            ModelArg::Mlp => {
                JitNet::Dense { sizes: mlp_sizes(args, features, classes)?, activation: MLP_ACTIVATION }
            }
            ModelArg::Cnn => JitNet::Cnn(cnn_config(args, classes)),
        };
        let programs = match args.precision {
            Precision::F64 => ShardPrograms::F64(HashMap::new()),
            Precision::F32 => ShardPrograms::F32(HashMap::new()),
        };
        Ok(JitModel { net, programs })
    }

    /// The number of classes (the width of the one-hot labels).
    fn classes(&self) -> usize {
        match &self.net {
            JitNet::Dense { sizes, .. } => *sizes.last().expect("at least two widths"),
            JitNet::Cnn(cfg) => cfg.classes,
        }
    }

    /// One optimizer step on `batch` (already checked against the model by
    /// [`Minibatch::new`]): the batch split into [`shards`] shards of rows, each
    /// bound to the compiled program of its size ([`jit_models::bind_shards`]: a
    /// `WeightedSum` whose shards run side by side; the mean over the batch, in every pass).
    pub(super) fn step(
        &mut self,
        guard: &mut LastGood,
        optimizer: &mut AnyOptimizer,
        batch: &Batch,
        theta: &mut [f64],
    ) -> fomoh::Result<StepReport> {
        let n = batch.labels.len();
        let onehot = jit_models::one_hot(&batch.labels, self.classes());
        let shards = shards(n);
        let bounds: Vec<usize> = (0..=shards).map(|s| n * s / shards).collect();
        match &mut self.programs {
            ShardPrograms::F32(programs) => {
                let programs = shard_programs(programs, &self.net, &bounds)?;
                let x: Vec<f32> = batch.x.re().iter().map(|&v| v as f32).collect();
                let y: Vec<f32> = onehot.iter().map(|&v| v as f32).collect();
                guard.step(optimizer, &jit_models::bind_shards(&programs, &x, &y)?, theta)
            }
            ShardPrograms::F64(programs) => {
                let programs = shard_programs(programs, &self.net, &bounds)?;
                guard.step(optimizer, &jit_models::bind_shards(&programs, batch.x.re(), &onehot)?, theta)
            }
        }
    }
}
