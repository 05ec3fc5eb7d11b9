//! Data-parallel optimization over several processes (ranks), e.g. under MPI.
//!
//! Every rank holds the same parameters θ and the same optimizer (same seed, so the same
//! tangent directions); the data of each pass is split into `S` **shards**, and rank `r`
//! computes the shards [`owned_by`]`(r, R, S)`. A pass on a shard gives its partial result
//! (the value; or the value, K directional derivatives and the packed K×K projected Hessian;
//! or a gradient), every pass being linear in the shards. One all-gather per pass brings every
//! shard's partial to every rank, and every rank adds them **in shard order** with the shards'
//! weights, as [`WeightedSum`](crate::WeightedSum) does in one process:
//!
//! - the result is **bitwise** the single-process `WeightedSum` of the same shards, whatever
//!   the number of ranks `R` (for a fixed shard split), and bitwise the same on every rank,
//!   so every rank takes the same step and θ stays identical;
//! - against a pass over the unsplit data (a different split), the difference is rounding:
//!   `|Σ_s w_s p_s − p| ≤ γ_{S+m}·Σ_rows |w_row p_row|` with `γ_n = n·u/(1 − n·u)`,
//!   `u = 2⁻⁵³` and `m` the rows per shard (the standard bound for recursive summation).
//!
//! A K-direction pass exchanges `1 + K + K(K+1)/2` numbers per shard (plus a pass count and a
//! three-number header per rank), whatever the model size: 54 + 4 doubles at K = 8. A
//! gradient pass (FoMoH-BP, SGD, Adam) must combine the P gradient entries of every shard:
//! like any backprop data-parallel step its traffic grows with the model. It is a
//! reduce-scatter by hand (one all-to-all: rank `q` adds block `q` of every shard's gradient
//! in shard order) and an all-gather of the sums, about `P` numbers sent and `P` received per
//! rank (a ring all-reduce moves `2(R−1)/R·P`), with the same bits as adding in one process.
//!
//! The header of each rank's message carries its status (so an error on one rank ends the
//! pass with an error on every rank instead of a hang) and a checksum of θ (see
//! [`Group::check_every`]): ranks that drift apart stop with [`Error::Backend`].
//!
//! [`Collective`] holds the two operations needed (all-gather, all-to-all); [`Solo`] is the
//! one-process implementation, [`LocalRank`] runs ranks as threads of one process (tests),
//! and with the feature `mpi`, `MpiWorld` is MPI's `MPI_COMM_WORLD` (rsmpi). [`cost`] is the
//! communication model of `docs/distributed.md`.

pub mod cost;
mod local;
#[cfg(feature = "mpi")]
mod mpi;
mod reduce;
mod sharded;

pub use local::LocalRank;
#[cfg(feature = "mpi")]
pub use mpi::{launched_by_mpi, MpiWorld};
pub use sharded::Sharded;

use crate::error::check_len;
use crate::{Error, Result};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// The collective operations data-parallel passes need: an all-gather and an all-to-all of
/// `f64`s with known lengths. Every rank makes the same calls in the same order.
pub trait Collective {
    /// This process's rank, `0..size()`.
    fn rank(&self) -> usize;
    /// The number of ranks.
    fn size(&self) -> usize;
    /// Every rank's `local`, concatenated in rank order, on every rank; `counts[r]` is rank
    /// `r`'s length (`counts[self.rank()] == local.len()`).
    fn all_gather(&self, local: &[f64], counts: &[usize]) -> Result<Vec<f64>>;
    /// Personalized exchange: this rank sends `send_counts[q]` numbers to rank `q` (the
    /// blocks of `send` in rank order) and receives `recv_counts[r]` from each rank `r`,
    /// concatenated in rank order (the counts agree across ranks).
    fn all_to_all(&self, send: &[f64], send_counts: &[usize], recv_counts: &[usize]) -> Result<Vec<f64>>;
}

/// One process: [`Collective::all_gather`] returns the local data.
#[derive(Clone, Copy, Debug, Default)]
pub struct Solo;

impl Collective for Solo {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn all_gather(&self, local: &[f64], counts: &[usize]) -> Result<Vec<f64>> {
        check_counts(self, local, counts)?;
        Ok(local.to_vec())
    }
    fn all_to_all(&self, send: &[f64], send_counts: &[usize], recv_counts: &[usize]) -> Result<Vec<f64>> {
        check_exchange(self, send, send_counts, recv_counts)?;
        Ok(send.to_vec())
    }
}

/// Checks the arguments of [`Collective::all_gather`] (implementations call it first).
pub fn check_counts(comm: &(impl Collective + ?Sized), local: &[f64], counts: &[usize]) -> Result<()> {
    if counts.len() != comm.size() {
        return Err(Error::length("all_gather counts", comm.size(), counts.len()));
    }
    check_len(|| "all_gather local data".into(), counts[comm.rank()], local.len())
}

/// Checks the arguments of [`Collective::all_to_all`] (implementations call it first).
pub fn check_exchange(
    comm: &(impl Collective + ?Sized),
    send: &[f64],
    send_counts: &[usize],
    recv_counts: &[usize],
) -> Result<()> {
    check_len(|| "all_to_all send counts".into(), comm.size(), send_counts.len())?;
    check_len(|| "all_to_all receive counts".into(), comm.size(), recv_counts.len())?;
    check_len(|| "all_to_all send data".into(), send_counts.iter().sum(), send.len())
}

/// The shards rank `rank` of `ranks` computes out of `shards`: a contiguous range, so that
/// rank order is shard order; the ranges of all ranks tile `0..shards` (a rank may get none
/// when there are fewer shards than ranks).
///
/// ```
/// use fomoh::distributed::owned_by;
/// assert_eq!(owned_by(1, 2, 4), 2..4);
/// assert_eq!((0..3).map(|r| owned_by(r, 3, 2).len()).sum::<usize>(), 2);
/// ```
pub fn owned_by(rank: usize, ranks: usize, shards: usize) -> Range<usize> {
    let ranks = ranks.max(1);
    rank * shards / ranks..(rank + 1) * shards / ranks
}

/// The weights of shards of rows `bounds[s]..bounds[s + 1]` in the mean over all rows:
/// `(bounds[s + 1] − bounds[s]) / (bounds[S] − bounds[0])`.
pub fn row_weights(bounds: &[usize]) -> Result<Vec<f64>> {
    let total = match (bounds.first(), bounds.last()) {
        (Some(a), Some(b)) if bounds.len() >= 2 && b > a => (b - a) as f64,
        _ => return Err(Error::InvalidArgument(format!("shard bounds {bounds:?}: need at least one row"))),
    };
    if bounds.windows(2).any(|w| w[1] < w[0]) {
        return Err(Error::InvalidArgument(format!("shard bounds {bounds:?} are not increasing")));
    }
    Ok(bounds.windows(2).map(|w| (w[1] - w[0]) as f64 / total).collect())
}

/// A checksum of θ's bits (FNV-1a over the `f64` bit patterns): equal parameters give equal
/// checksums; ranks compare them to detect drift.
pub fn checksum(theta: &[f64]) -> u64 {
    theta.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, v| {
        v.to_bits().to_le_bytes().iter().fold(h, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
    })
}

/// What the collectives of a [`Group`] cost so far.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CommStats {
    /// Collective calls.
    pub collectives: u64,
    /// Bytes this rank sent to the other ranks (its message's payload once per all-gather,
    /// the blocks for the other ranks in an all-to-all; none with one rank).
    pub bytes_sent: u64,
    /// Bytes this rank received (the other ranks' messages).
    pub bytes_received: u64,
    /// Wall seconds inside the collectives (waiting for the slowest rank included).
    pub seconds: f64,
}

/// A status in a message header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Ok = 0,
    NonFinite = 1,
    Failed = 2,
    NoGradient = 3,
}

impl Status {
    fn of(v: f64) -> Status {
        match v as u8 {
            0 => Status::Ok,
            1 => Status::NonFinite,
            3 => Status::NoGradient,
            _ => Status::Failed,
        }
    }
}

/// The length of a message header: status and θ's checksum in two exact 32-bit halves.
const HEADER: usize = 3;

/// A communicator with the bookkeeping of data-parallel passes: traffic and time counters,
/// and θ's checksum compared across ranks every [`Group::check_every`] passes.
#[derive(Debug)]
pub struct Group<C> {
    comm: C,
    check_every: u64,
    passes: AtomicU64,
    collectives: AtomicU64,
    sent: AtomicU64,
    received: AtomicU64,
    nanos: AtomicU64,
}

impl<C: Collective> Group<C> {
    /// A group over `comm`; θ is compared across ranks on every pass.
    pub fn new(comm: C) -> Self {
        Group {
            comm,
            check_every: 1,
            passes: AtomicU64::new(0),
            collectives: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
            nanos: AtomicU64::new(0),
        }
    }

    /// Compares θ's [`checksum`] across ranks every `n` passes (0: never). The checksum rides
    /// in the pass's own message (no extra collective); it costs one read of θ.
    pub fn check_every(mut self, n: u64) -> Self {
        self.check_every = n;
        self
    }

    /// The communicator.
    pub fn comm(&self) -> &C {
        &self.comm
    }

    /// This process's rank.
    pub fn rank(&self) -> usize {
        self.comm.rank()
    }

    /// The number of ranks.
    pub fn size(&self) -> usize {
        self.comm.size()
    }

    /// This rank's shards out of `shards` ([`owned_by`]).
    pub fn owned(&self, shards: usize) -> Range<usize> {
        owned_by(self.rank(), self.size(), shards)
    }

    /// The traffic and time of the collectives so far.
    pub fn stats(&self) -> CommStats {
        CommStats {
            collectives: self.collectives.load(Ordering::Relaxed),
            bytes_sent: self.sent.load(Ordering::Relaxed),
            bytes_received: self.received.load(Ordering::Relaxed),
            seconds: self.nanos.load(Ordering::Relaxed) as f64 * 1e-9,
        }
    }

    /// Every rank says whether it is ready (`ok`); an error on every rank if one is not,
    /// naming the ranks that are not (so that no rank starts work the others will not join).
    pub fn agree(&self, ok: bool) -> Result<()> {
        let status = if ok { Status::Ok } else { Status::Failed };
        self.gather(&[status as u8 as f64, 0.0, 0.0], &vec![HEADER; self.size()]).and_then(|all| {
            let failed: Vec<usize> =
                (0..self.size()).filter(|r| Status::of(all[r * HEADER]) != Status::Ok).collect();
            match failed.as_slice() {
                [] => Ok(()),
                _ => Err(distributed_error(format!("rank(s) {failed:?} failed before training"))),
            }
        })
    }

    /// The all-gather, counted and timed.
    fn gather(&self, local: &[f64], counts: &[usize]) -> Result<Vec<f64>> {
        let sent = if self.size() > 1 { local.len() } else { 0 };
        self.counted(sent, local.len(), |c| c.all_gather(local, counts))
    }

    /// A collective `f` in which this rank sends `sent` numbers to other ranks and keeps
    /// `kept` of its own among those it gets back (they do not cross the network), counted
    /// and timed.
    fn counted(&self, sent: usize, kept: usize, f: impl FnOnce(&C) -> Result<Vec<f64>>) -> Result<Vec<f64>> {
        let start = Instant::now();
        let all = f(&self.comm)?;
        self.nanos.fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
        self.collectives.fetch_add(1, Ordering::Relaxed);
        self.sent.fetch_add(8 * sent as u64, Ordering::Relaxed);
        self.received.fetch_add(8 * all.len().saturating_sub(kept) as u64, Ordering::Relaxed);
        Ok(all)
    }

    /// One pass's exchange: this rank's `local` shard partials (`per_shard` numbers each, in
    /// shard order; `Err` if its pass failed) for a split into `shards` shards at θ = `x`.
    /// Returns every shard's partial in shard order, or the same kind of error on every rank.
    fn exchange(
        &self,
        x: &[f64],
        local: std::result::Result<Vec<f64>, Status>,
        per_shard: usize,
        shards: usize,
    ) -> std::result::Result<Vec<f64>, Exchange> {
        let (pass, check, header) = self.header(x, Status::Ok);
        let counts: Vec<usize> =
            (0..self.size()).map(|r| HEADER + per_shard * owned_by(r, self.size(), shards).len()).collect();
        let mine = counts[self.rank()] - HEADER;
        let (mut msg, body) = match local {
            Ok(v) if v.len() == mine => (header, v),
            // Still take part, so that no rank waits: the others learn of the failure.
            Ok(_) => (with_status(header, Status::Failed), vec![f64::NAN; mine]),
            Err(s) => (with_status(header, s), vec![f64::NAN; mine]),
        };
        msg.extend(body);
        let all = self.gather(&msg, &counts).map_err(Exchange::Error)?;
        let mut partials = Vec::with_capacity(per_shard * shards);
        let mut headers = Vec::with_capacity(self.size());
        let mut at = 0;
        for c in &counts {
            headers.push(&all[at..at + HEADER]);
            partials.extend_from_slice(&all[at + HEADER..at + c]);
            at += c;
        }
        check_headers(&headers, pass, check)?;
        Ok(partials)
    }

    /// The header of this rank's message in the next pass at θ = `x`: the pass number,
    /// whether θ's checksum is compared in it, and the header (status, checksum).
    fn header(&self, x: &[f64], status: Status) -> (u64, bool, Vec<f64>) {
        let pass = self.passes.fetch_add(1, Ordering::Relaxed);
        let check = self.check_every > 0 && pass.is_multiple_of(self.check_every);
        let sum = if check { checksum(x) } else { 0 };
        (pass, check, vec![status as u8 as f64, (sum >> 32) as f64, (sum & 0xffff_ffff) as f64])
    }
}

/// `header` with its status replaced.
fn with_status(mut header: Vec<f64>, status: Status) -> Vec<f64> {
    header[0] = status as u8 as f64;
    header
}

/// Every rank's header of pass `pass` (in rank order): the first rank's failure, as the same
/// error on every rank, or different checksums (when `check`).
fn check_headers(headers: &[&[f64]], pass: u64, check: bool) -> std::result::Result<(), Exchange> {
    if let Some((r, s)) = headers.iter().map(|h| Status::of(h[0])).enumerate().find(|(_, s)| *s != Status::Ok)
    {
        return Err(match s {
            Status::NoGradient => Exchange::NoGradient,
            Status::NonFinite => Exchange::Error(Error::NonFinite(format!("on rank {r} (pass {pass})"))),
            _ => Exchange::Error(distributed_error(format!("rank {r} failed in pass {pass}"))),
        });
    }
    let sums: Vec<u64> = headers.iter().map(|h| ((h[1] as u64) << 32) | h[2] as u64).collect();
    if check && sums.iter().any(|s| *s != sums[0]) {
        return Err(Exchange::Error(distributed_error(format!(
            "the parameters differ across ranks at pass {pass} (checksums {sums:x?}): the ranks \
             drifted apart"
        ))));
    }
    Ok(())
}

/// Why an exchange did not give partials.
enum Exchange {
    /// A rank's objective has no gradient source.
    NoGradient,
    /// A failure (the same kind on every rank).
    Error(Error),
}

/// An [`Error::Backend`] of the distributed layer.
pub fn distributed_error(message: String) -> Error {
    Error::Backend { backend: "distributed", message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_tile_in_rank_order() {
        for ranks in 1..6 {
            for shards in 0..10 {
                let all: Vec<usize> = (0..ranks).flat_map(|r| owned_by(r, ranks, shards)).collect();
                assert_eq!(all, (0..shards).collect::<Vec<_>>(), "{ranks} ranks, {shards} shards");
            }
        }
    }

    #[test]
    fn weights_and_checksums() {
        assert_eq!(row_weights(&[0, 1, 4]).unwrap(), vec![0.25, 0.75]);
        assert!(
            row_weights(&[3]).is_err() && row_weights(&[2, 2]).is_err() && row_weights(&[0, 3, 2]).is_err()
        );
        assert_eq!(checksum(&[1.0, 2.0]), checksum(&[1.0, 2.0]));
        assert_ne!(checksum(&[1.0, 2.0]), checksum(&[2.0, 1.0]));
        assert_ne!(checksum(&[0.0]), checksum(&[-0.0]));
    }

    #[test]
    fn solo_checks_its_counts() {
        assert_eq!(Solo.all_gather(&[1.0, 2.0], &[2]).unwrap(), vec![1.0, 2.0]);
        assert!(Solo.all_gather(&[1.0], &[2]).is_err());
        assert!(Solo.all_gather(&[1.0], &[1, 1]).is_err());
        let g = Group::new(Solo);
        assert!(g.agree(true).is_ok() && g.agree(false).is_err());
        assert_eq!(g.stats().collectives, 2);
        assert_eq!(g.stats().bytes_received, 0);
    }
}
