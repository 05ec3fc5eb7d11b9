//! The cost of the collectives of `fomoh train --distributed`, on this machine: the
//! all-gather of one pass's message (as `fomoh::distributed::Group` sends it) for FoMoH-KD's
//! projection and for gradients of P entries, and MPI's all-reduce of P entries (what
//! backprop data-parallel training sends), in microseconds per call.
//!
//! ```sh
//! cargo build --release --features mpi --example mpi_allgather
//! mpirun -n 4 target/release/examples/mpi_allgather
//! ```

use fomoh::distributed::{Collective, MpiWorld};
use mpi::collective::SystemOperation;
use mpi::topology::SimpleCommunicator;
use mpi::traits::CommunicatorCollectives;
use std::time::Instant;

/// Mean seconds per call of `f` over `reps` calls, after a warm-up call; every rank starts
/// together (an all-gather of one number first).
fn time(world: &MpiWorld, reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let n = world.size();
    world.all_gather(&[0.0], &vec![1; n]).expect("sync");
    let start = Instant::now();
    for _ in 0..reps {
        f();
    }
    start.elapsed().as_secs_f64() / reps as f64
}

fn main() -> Result<(), fomoh::Error> {
    let world = MpiWorld::init()?;
    let raw = SimpleCommunicator::world();
    let ranks = world.size();
    if world.rank() == 0 {
        println!("| ranks | message | numbers per rank | bytes sent per rank | µs per call |");
        println!("|---|---|---|---|---|");
    }
    // FoMoH-KD at K = 8: a 3-number header, then the pass count, value, 8 derivatives and 36
    // Hessian entries of one shard.
    let kd = 3 + 2 + 8 + 36;
    for (what, len, reps) in [
        ("FoMoH-KD K=8 projection (all-gather)", kd, 2000),
        ("gradient P=650 (all-gather)", 3 + 650, 500),
        ("gradient P=7850 (all-gather)", 3 + 7850, 200),
    ] {
        let local = vec![1.0; len];
        let counts = vec![len; ranks];
        let t = time(&world, reps, || {
            world.all_gather(&local, &counts).expect("all-gather");
        });
        if world.rank() == 0 {
            println!("| {ranks} | {what} | {len} | {} | {:.1} |", 8 * len, t * 1e6);
        }
    }
    for p in [650usize, 7850, 100_000, 1_000_000] {
        let local = vec![1.0_f64; p];
        let mut sum = vec![0.0_f64; p];
        let reps = (2_000_000 / p).clamp(5, 500);
        let t = time(&world, reps, || raw.all_reduce_into(&local[..], &mut sum[..], SystemOperation::sum()));
        if world.rank() == 0 {
            println!("| {ranks} | gradient P={p} (MPI_Allreduce, f64) | {p} | {} | {:.1} |", 8 * p, t * 1e6);
        }
    }
    Ok(())
}
