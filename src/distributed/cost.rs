//! The communication model of data-parallel steps (`docs/distributed.md`): step time against
//! ranks, bandwidth and latency, for FoMoH-KD's all-gather of projections and for backprop's
//! all-reduce of the gradient.
//!
//! With `R` ranks, `P` parameters, a global minibatch of `B` samples, a link of latency `α`
//! and bandwidth `β` (bytes/s), and `c` the compute time per parameter and sample of a step
//! (measured on one core):
//!
//! - compute: `t_c = c · P · B / R` (the ranks split the minibatch);
//! - FoMoH-KD: an all-gather of one message of `m = 8 (5 + K + K(K+1)/2)` bytes per rank
//!   (status and checksum, pass count, value, K derivatives, packed K×K Hessian; one shard per
//!   rank), by recursive doubling: `t_comm = α ⌈log₂ R⌉ + (R − 1) m / β`, independent of P;
//! - backprop: a ring all-reduce of `P` gradient entries of `b` bytes:
//!   `t_comm = 2 (R − 1) α + 2 (R − 1)/R · P b / β`.
//!
//! The step takes `t_c + t_comm` (no overlap of compute and communication).

/// A network link: latency and bandwidth.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Network {
    /// Seconds per message (α).
    pub latency: f64,
    /// Bytes per second (β).
    pub bandwidth: f64,
}

/// A step's time split into compute and communication, in seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepTime {
    /// The rank's share of the minibatch's passes.
    pub compute: f64,
    /// The collective.
    pub communication: f64,
}

impl StepTime {
    /// Compute plus communication.
    pub fn total(&self) -> f64 {
        self.compute + self.communication
    }
}

/// The bytes a rank sends per FoMoH-KD step with `k` directions and one shard per rank.
pub fn fomoh_kd_message_bytes(k: usize) -> f64 {
    8.0 * (5 + k + k * (k + 1) / 2) as f64
}

/// Compute time of a step: `c · P · B / R` (`seconds_per_param_sample` = `c`).
fn compute(seconds_per_param_sample: f64, params: f64, batch: f64, ranks: usize) -> f64 {
    seconds_per_param_sample * params * batch / ranks.max(1) as f64
}

/// A FoMoH-KD step with `k` directions: compute plus the all-gather of the projections.
pub fn fomoh_kd_step(
    net: Network,
    ranks: usize,
    params: f64,
    batch: f64,
    k: usize,
    seconds_per_param_sample: f64,
) -> StepTime {
    let r = ranks.max(1) as f64;
    let hops = (r.log2().ceil()).max(0.0);
    let communication = if ranks <= 1 {
        0.0
    } else {
        net.latency * hops + (r - 1.0) * fomoh_kd_message_bytes(k) / net.bandwidth
    };
    StepTime { compute: compute(seconds_per_param_sample, params, batch, ranks), communication }
}

/// A backprop data-parallel step: compute plus a ring all-reduce of `params` gradient
/// entries of `bytes_per_entry` bytes.
pub fn allreduce_step(
    net: Network,
    ranks: usize,
    params: f64,
    batch: f64,
    bytes_per_entry: f64,
    seconds_per_param_sample: f64,
) -> StepTime {
    let r = ranks.max(1) as f64;
    let communication = if ranks <= 1 {
        0.0
    } else {
        2.0 * (r - 1.0) * net.latency + 2.0 * (r - 1.0) / r * params * bytes_per_entry / net.bandwidth
    };
    StepTime { compute: compute(seconds_per_param_sample, params, batch, ranks), communication }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_follows_its_formulas() {
        let net = Network { latency: 1e-5, bandwidth: 1e9 };
        assert_eq!(fomoh_kd_message_bytes(8), 8.0 * 49.0);
        // one rank: no communication; compute splits over ranks
        assert_eq!(fomoh_kd_step(net, 1, 1e6, 64.0, 8, 1e-9).communication, 0.0);
        let (one, four) =
            (fomoh_kd_step(net, 1, 1e6, 64.0, 8, 1e-9), fomoh_kd_step(net, 4, 1e6, 64.0, 8, 1e-9));
        assert!((one.compute / four.compute - 4.0).abs() < 1e-12);
        assert!((four.communication - (2e-5 + 3.0 * 392.0 / 1e9)).abs() < 1e-15);
        // FoMoH-KD's traffic does not grow with P; the all-reduce's does, linearly
        let kd = |p| fomoh_kd_step(net, 64, p, 64.0, 8, 0.0).communication;
        let ar = |p| allreduce_step(net, 64, p, 64.0, 4.0, 0.0).communication;
        assert_eq!(kd(1e5), kd(1e10));
        assert!((ar(1e10) - 2.0 * 63.0 * 1e-5 - 2.0 * 63.0 / 64.0 * 4e10 / 1e9).abs() < 1e-6);
        assert!(ar(1e10) > 1000.0 * kd(1e10));
    }
}
