//! `fomoh train --distributed`: data-parallel training under an MPI launcher.
//!
//! Every rank reads the data, builds the same model and optimizers (same seeds) and walks the
//! same minibatches; each minibatch is split into shards of rows ([`split`]) and each rank
//! computes its shards' passes ([`fomoh::distributed::Sharded`]): one all-gather per pass,
//! the partials added in shard order on every rank, so every rank takes the same step.
//! Rank 0 alone writes the outputs and checkpoints. A failure on a rank ends every rank
//! (`MPI_Abort`) rather than leaving them waiting.

use super::jit::{shards, JitModel};
use crate::cli::spec::AnyOptimizer;
use crate::cli::{CliError, CliResult};
use fomoh::data::{Batch, Dataset};
use fomoh::distributed::{row_weights, CommStats, Group, Sharded};
use fomoh::models::{Minibatch, Model};
use fomoh::optim::{LastGood, StepReport};
use serde_json::json;

/// The number of shards a minibatch of `rows` rows is split into: `--shards` (at most one
/// per row), by default the split of `--backend jit` in one process ([`shards`]). A function
/// of the batch and the setting alone, never of the number of ranks: the run is bitwise the
/// same at any number of ranks.
pub(super) fn split(rows: usize, setting: Option<usize>) -> usize {
    setting.map_or_else(|| shards(rows), |s| s.clamp(1, rows.max(1)))
}

/// The communication of one optimizer's run.
#[derive(Clone, Debug)]
struct RunComm {
    label: String,
    steps: u64,
    stats: CommStats,
}

/// The MPI communicator of the run and its bookkeeping.
#[cfg(feature = "mpi")]
pub(super) struct Dist {
    group: Group<fomoh::distributed::MpiWorld>,
    /// `--shards`.
    shards: Option<usize>,
    steps: u64,
    runs: Vec<RunComm>,
    started: (u64, CommStats),
}

/// Without the `mpi` feature there is no communicator (`--distributed` is refused).
#[cfg(not(feature = "mpi"))]
pub(super) enum Dist {}

#[cfg(not(feature = "mpi"))]
impl Dist {
    /// Refuses `--distributed`: this build has no MPI.
    pub(super) fn init(_: Option<usize>) -> CliResult<Dist> {
        Err(CliError(
            "--distributed needs a fomoh built with MPI: install Open MPI (Debian: apt-get install \
             libopenmpi-dev openmpi-bin libclang-dev), build with `cargo build --release --features \
             mpi`, and launch with `mpirun -n RANKS fomoh train --distributed ...`"
                .into(),
        ))
    }
    fn group(&self) -> &Group<fomoh::distributed::Solo> {
        match *self {}
    }
    fn record(&mut self, _: &str) {
        match *self {}
    }
    fn stats_at_start(&mut self) {
        match *self {}
    }
    fn shards_setting(&self) -> Option<usize> {
        match *self {}
    }
    fn count_step(&mut self) {
        match *self {}
    }
    fn runs(&self) -> &[RunComm] {
        match *self {}
    }
    /// Reports `e` and ends every rank.
    pub(super) fn fail(&self, _: &CliError) -> ! {
        match *self {}
    }
    /// Reports `e` and exits once every rank has.
    pub(super) fn exit_with(self, _: &CliError) -> ! {
        match self {}
    }
}

#[cfg(feature = "mpi")]
impl Dist {
    /// Joins the MPI job (errors if not started by a launcher).
    pub(super) fn init(shards: Option<usize>) -> CliResult<Dist> {
        let world =
            fomoh::distributed::MpiWorld::init().map_err(|e| CliError(format!("--distributed: {e}")))?;
        let group = Group::new(world);
        terminate::install(group.rank());
        let started = (0, group.stats());
        Ok(Dist { group, shards, steps: 0, runs: Vec::new(), started })
    }
    fn group(&self) -> &Group<fomoh::distributed::MpiWorld> {
        &self.group
    }
    /// Counts the steps and traffic of the run `label` since [`Self::stats_at_start`].
    fn record(&mut self, label: &str) {
        let (s0, c0) = self.started;
        let c = self.group.stats();
        self.runs.push(RunComm {
            label: label.into(),
            steps: self.steps - s0,
            stats: CommStats {
                collectives: c.collectives - c0.collectives,
                bytes_sent: c.bytes_sent - c0.bytes_sent,
                bytes_received: c.bytes_received - c0.bytes_received,
                seconds: c.seconds - c0.seconds,
            },
        });
    }
    fn stats_at_start(&mut self) {
        self.started = (self.steps, self.group.stats());
    }
    fn shards_setting(&self) -> Option<usize> {
        self.shards
    }
    fn count_step(&mut self) {
        self.steps += 1;
    }
    fn runs(&self) -> &[RunComm] {
        &self.runs
    }
    /// Reports `e` (naming this rank) and ends every rank with `MPI_Abort`.
    pub(super) fn fail(&self, e: &CliError) -> ! {
        self.report(e);
        self.group.comm().abort(1)
    }

    /// Reports `e` (naming this rank) and exits with status 1 once every rank has reported
    /// (an error every rank meets, as [`Self::agree`]'s): each rank's message is printed
    /// before the launcher ends the job.
    pub(super) fn exit_with(self, e: &CliError) -> ! {
        self.report(e);
        let _ = self.group.agree(true);
        terminate::uninstall();
        drop(self);
        std::process::exit(1)
    }

    fn report(&self, e: &CliError) {
        eprintln!("error: rank {} of {}: {}", self.group.rank(), self.group.size(), e.0.replace('\n', " "));
    }
}

impl Dist {
    /// This rank.
    pub(super) fn rank(&self) -> usize {
        self.group().rank()
    }

    /// The number of ranks.
    pub(super) fn size(&self) -> usize {
        self.group().size()
    }

    /// Every rank says whether its preparation succeeded; an error on every rank if one did
    /// not (so that no rank starts steps the others will not join).
    pub(super) fn agree<T>(&self, prepared: CliResult<T>) -> CliResult<T> {
        let together = self.group().agree(prepared.is_ok());
        match (prepared, together) {
            (Err(e), _) => Err(e),
            (Ok(_), Err(e)) => Err(e.into()),
            (Ok(t), Ok(())) => Ok(t),
        }
    }

    /// Marks the start of an optimizer's run (for [`Self::summary`]).
    pub(super) fn start_run(&mut self) {
        self.stats_at_start();
    }

    /// Marks the end of the run `label`.
    pub(super) fn end_run(&mut self, label: &str) {
        self.record(label);
    }

    /// One optimizer step on the minibatch `idx` of `train` (`batch` holds its rows): this
    /// rank's shards of it, on `jit`'s compiled models or the runtime's `Minibatch`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn step(
        &mut self,
        model: &dyn Model,
        jit: Option<&mut JitModel>,
        guard: &mut LastGood,
        optimizer: &mut AnyOptimizer,
        train: &Dataset,
        idx: &[usize],
        batch: &Batch,
        theta: &mut [f64],
    ) -> fomoh::Result<StepReport> {
        self.count_step();
        let group = self.group();
        let n = idx.len();
        let s = split(n, self.shards_setting());
        let bounds: Vec<usize> = (0..=s).map(|i| n * i / s).collect();
        let weights = row_weights(&bounds)?;
        let owned = group.owned(s);
        let dim = model.num_params();
        match jit {
            Some(jit) => jit.with_shards(model, batch, &bounds, owned, |parts| {
                guard.step(optimizer, &Sharded::new(group, dim, weights, parts)?, theta)
            }),
            None => {
                let batches = owned
                    .map(|i| train.batch(&idx[bounds[i]..bounds[i + 1]]))
                    .collect::<fomoh::Result<Vec<_>>>()?;
                let parts =
                    batches.iter().map(|b| Minibatch::new(model, b)).collect::<fomoh::Result<Vec<_>>>()?;
                guard.step(optimizer, &Sharded::new(group, dim, weights, parts)?, theta)
            }
        }
    }

    /// `summary.json`'s `distributed` entry: ranks and, per optimizer, steps, collectives,
    /// bytes and seconds inside the collectives per step.
    pub(super) fn summary(&self) -> serde_json::Value {
        let runs = self.runs();
        json!({
            "ranks": self.size(),
            "runs": runs.iter().map(|r| {
                let per = |x: f64| x / r.steps.max(1) as f64;
                json!({
                    "optimizer": r.label,
                    "steps": r.steps,
                    "collectives_per_step": per(r.stats.collectives as f64),
                    "bytes_sent_per_step": per(r.stats.bytes_sent as f64),
                    "bytes_received_per_step": per(r.stats.bytes_received as f64),
                    "collective_seconds_per_step": per(r.stats.seconds),
                })
            }).collect::<Vec<_>>(),
        })
    }
}

/// A message on every rank when the launcher ends the job (another rank died or failed):
/// the launcher sends SIGTERM before it kills.
#[cfg(feature = "mpi")]
mod terminate {
    use std::sync::OnceLock;

    static MESSAGE: OnceLock<Vec<u8>> = OnceLock::new();

    extern "C" fn on_term(_: libc::c_int) {
        if let Some(m) = MESSAGE.get() {
            // SAFETY: write(2) and _exit(2) are async-signal-safe; the buffer is immutable.
            unsafe {
                libc::write(2, m.as_ptr().cast(), m.len());
            }
        }
        // SAFETY: as above.
        unsafe { libc::_exit(143) }
    }

    /// Restores SIGTERM's default action.
    pub(super) fn uninstall() {
        // SAFETY: resets the disposition of SIGTERM to the default.
        unsafe {
            libc::signal(libc::SIGTERM, libc::SIG_DFL);
        }
    }

    /// Installs the SIGTERM handler of rank `rank`.
    pub(super) fn install(rank: usize) {
        let text = format!(
            "error: rank {rank}: the MPI job was ended (another rank failed or was killed); \
             continue from the last checkpoint with --resume\n"
        );
        let _ = MESSAGE.set(text.into_bytes());
        // SAFETY: installs a handler that only writes a prepared buffer and exits.
        unsafe {
            libc::signal(libc::SIGTERM, on_term as extern "C" fn(libc::c_int) as libc::sighandler_t);
        }
    }
}
