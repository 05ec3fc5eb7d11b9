//! `MpiWorld`: `MPI_COMM_WORLD` through rsmpi (feature `mpi`).

use super::{check_counts, check_exchange, distributed_error, Collective};
use crate::Result;
use mpi::datatype::{Partition, PartitionMut};
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator, CommunicatorCollectives};
use mpi::Count;

/// The environment variables an MPI launcher sets in the processes it starts (Open MPI's
/// `mpirun`, PMI launchers such as MPICH's Hydra and Slurm's `srun`, PMIx).
const LAUNCHER_VARS: [&str; 4] = ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK"];

/// Whether this process was started by an MPI launcher (`mpirun`, `mpiexec`, `srun`).
pub fn launched_by_mpi() -> bool {
    LAUNCHER_VARS.iter().any(|v| std::env::var_os(v).is_some())
}

/// `MPI_COMM_WORLD`: MPI initialized on creation and finalized on drop. The all-gather is
/// `MPI_Allgatherv`; on a failed rank, [`MpiWorld::abort`] ends every rank (`MPI_Abort`)
/// instead of leaving them waiting.
pub struct MpiWorld {
    // Dropped last: the communicator is a handle into the universe.
    world: SimpleCommunicator,
    _universe: mpi::environment::Universe,
}

impl std::fmt::Debug for MpiWorld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MpiWorld").field("rank", &self.rank()).field("size", &self.size()).finish()
    }
}

impl MpiWorld {
    /// Initializes MPI. Errors if this process was not started by an MPI launcher (a run
    /// meant for many ranks would silently run as one) or MPI is already initialized.
    pub fn init() -> Result<MpiWorld> {
        if !launched_by_mpi() {
            return Err(distributed_error(
                "not started by an MPI launcher: run it as `mpirun -n RANKS ...` (or mpiexec, srun)".into(),
            ));
        }
        let universe =
            mpi::initialize().ok_or_else(|| distributed_error("MPI is already initialized".into()))?;
        Ok(MpiWorld { world: universe.world(), _universe: universe })
    }

    /// Ends every rank of the job (`MPI_Abort` with `code`): for a failure on one rank that
    /// the others, waiting in a collective, cannot learn of otherwise.
    pub fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }
}

impl Collective for MpiWorld {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    fn size(&self) -> usize {
        self.world.size() as usize
    }

    fn all_gather(&self, local: &[f64], counts: &[usize]) -> Result<Vec<f64>> {
        check_counts(self, local, counts)?;
        let (counts, displs, total) = layout(counts)?;
        let mut all = vec![0.0; total];
        let mut partition = PartitionMut::new(&mut all[..], counts, displs);
        self.world.all_gather_varcount_into(local, &mut partition);
        Ok(all)
    }

    fn all_to_all(&self, send: &[f64], send_counts: &[usize], recv_counts: &[usize]) -> Result<Vec<f64>> {
        check_exchange(self, send, send_counts, recv_counts)?;
        let (sc, sd, _) = layout(send_counts)?;
        let (rc, rd, total) = layout(recv_counts)?;
        let mut got = vec![0.0; total];
        let outgoing = Partition::new(send, sc, sd);
        let mut incoming = PartitionMut::new(&mut got[..], rc, rd);
        self.world.all_to_all_varcount_into(&outgoing, &mut incoming);
        Ok(got)
    }
}

/// MPI's counts and displacements of blocks of `counts` numbers, and their total.
fn layout(counts: &[usize]) -> Result<(Vec<Count>, Vec<Count>, usize)> {
    let total: usize = counts.iter().sum();
    let too_big = || distributed_error(format!("a message of {total} numbers is too long for MPI"));
    let counts: Vec<Count> =
        counts.iter().map(|&c| Count::try_from(c).map_err(|_| too_big())).collect::<Result<_>>()?;
    let mut displs = Vec::with_capacity(counts.len());
    let mut at: Count = 0;
    for c in &counts {
        displs.push(at);
        at = at.checked_add(*c).ok_or_else(too_big)?;
    }
    Ok((counts, displs, total))
}
