//! [`LocalRank`]: ranks as threads of one process, for tests and examples without MPI.

use super::{check_counts, check_exchange, Collective};
use crate::Result;
use std::sync::{Arc, Barrier, Mutex};

/// The state the threads of a local group share: one message slot per rank (with its block
/// counts, for the all-to-all).
#[derive(Debug)]
struct Shared {
    slots: Mutex<Vec<Vec<f64>>>,
    counts: Mutex<Vec<Vec<usize>>>,
    barrier: Barrier,
}

/// One rank of a group of threads in one process ([`LocalRank::group`]): a [`Collective`]
/// whose all-gather goes through shared memory. Every rank must be driven by its own thread
/// and make the same calls (as under MPI); a rank that stops calling blocks the others, so
/// this is for tests and examples, not for production runs.
#[derive(Clone, Debug)]
pub struct LocalRank {
    rank: usize,
    shared: Arc<Shared>,
}

impl LocalRank {
    /// The `n` ranks of a new group (at least one).
    pub fn group(n: usize) -> Vec<LocalRank> {
        let n = n.max(1);
        let shared = Arc::new(Shared {
            slots: Mutex::new(vec![Vec::new(); n]),
            counts: Mutex::new(vec![Vec::new(); n]),
            barrier: Barrier::new(n),
        });
        (0..n).map(|rank| LocalRank { rank, shared: shared.clone() }).collect()
    }

    /// Runs `f` on every rank of a new group of `n` (at least one), each rank on a thread of
    /// its own (every rank must be driven, see the type), and returns the results in rank
    /// order. A panic on a rank's thread is resumed here.
    pub fn run<R: Send>(n: usize, f: impl Fn(LocalRank) -> R + Sync) -> Vec<R> {
        let f = &f;
        std::thread::scope(|s| {
            let threads: Vec<_> = Self::group(n).into_iter().map(|rank| s.spawn(move || f(rank))).collect();
            threads.into_iter().map(|t| t.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
        })
    }
}

impl Collective for LocalRank {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.shared.slots.lock().map_or(0, |s| s.len())
    }

    fn all_gather(&self, local: &[f64], counts: &[usize]) -> Result<Vec<f64>> {
        let poisoned = || super::distributed_error("a thread of the local group panicked".into());
        check_counts(self, local, counts)?;
        self.shared.slots.lock().map_err(|_| poisoned())?[self.rank] = local.to_vec();
        self.shared.barrier.wait();
        let all: Vec<f64> = self.shared.slots.lock().map_err(|_| poisoned())?.concat();
        // Nobody writes the next message before everyone has read this one.
        self.shared.barrier.wait();
        crate::error::check_len(|| "all_gather result".into(), counts.iter().sum(), all.len())?;
        Ok(all)
    }

    fn all_to_all(&self, send: &[f64], send_counts: &[usize], recv_counts: &[usize]) -> Result<Vec<f64>> {
        let poisoned = || super::distributed_error("a thread of the local group panicked".into());
        check_exchange(self, send, send_counts, recv_counts)?;
        self.shared.slots.lock().map_err(|_| poisoned())?[self.rank] = send.to_vec();
        self.shared.counts.lock().map_err(|_| poisoned())?[self.rank] = send_counts.to_vec();
        self.shared.barrier.wait();
        let got = {
            let (slots, counts) = (
                self.shared.slots.lock().map_err(|_| poisoned())?,
                self.shared.counts.lock().map_err(|_| poisoned())?,
            );
            let mut got = Vec::with_capacity(recv_counts.iter().sum());
            for (data, c) in slots.iter().zip(counts.iter()) {
                let at: usize = c[..self.rank].iter().sum();
                got.extend_from_slice(&data[at..at + c[self.rank]]);
            }
            got
        };
        self.shared.barrier.wait();
        crate::error::check_len(|| "all_to_all result".into(), recv_counts.iter().sum(), got.len())?;
        Ok(got)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_gather_in_rank_order() {
        let out: Vec<Vec<f64>> = LocalRank::run(3, |r| {
            let mine = vec![r.rank() as f64; r.rank() + 1];
            let first = r.all_gather(&mine, &[1, 2, 3]).unwrap();
            let second = r.all_gather(&[10.0 * r.rank() as f64], &[1, 1, 1]).unwrap();
            // rank r sends q + 1 copies of 100 r + q to rank q
            let me = r.rank();
            let send: Vec<f64> = (0..3).flat_map(|q| vec![(100 * me + q) as f64; q + 1]).collect();
            let third = r.all_to_all(&send, &[1, 2, 3], &[me + 1; 3]).unwrap();
            assert_eq!(third, (0..3).flat_map(|s| vec![(100 * s + me) as f64; me + 1]).collect::<Vec<_>>());
            [first, second].concat()
        });
        for o in &out {
            assert_eq!(o, &vec![0.0, 1.0, 1.0, 2.0, 2.0, 2.0, 0.0, 10.0, 20.0]);
        }
    }
}
