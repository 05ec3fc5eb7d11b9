//! The gradient's reduction across ranks: a reduce-scatter by hand (one all-to-all) and an
//! all-gather. Rank `q` adds entries `q·P/R..(q+1)·P/R` of every shard's gradient, in shard
//! order, then every rank gathers the sums: about `P` numbers sent and `P` received per rank
//! (as a ring all-reduce), and per entry the same operations in the same order as adding the
//! whole gradients in one process, so the result is the same bits.

use super::{check_headers, distributed_error, owned_by, with_status, Collective, Exchange, Group, Status};

impl<C: Collective> Group<C> {
    /// `Σ_s w_s g_s` over the shards (`weights.len()` of them, `p` entries each) at θ = `x`,
    /// this rank holding `local`: its shards' gradients in shard order, or the status of its
    /// failure. The same result, or the same kind of error, on every rank.
    pub(super) fn reduce_sum(
        &self,
        x: &[f64],
        local: Result<Vec<Vec<f64>>, Status>,
        weights: &[f64],
        p: usize,
    ) -> Result<Vec<f64>, Exchange> {
        let (ranks, me, shards) = (self.size(), self.rank(), weights.len());
        let block = |q: usize| q * p / ranks..(q + 1) * p / ranks;
        let owned: Vec<usize> = (0..ranks).map(|r| owned_by(r, ranks, shards).len()).collect();
        let (pass, check, header) = self.header(x, Status::Ok);
        let (header, grads) = match local {
            Ok(g) if g.len() == owned[me] && g.iter().all(|v| v.len() == p) => (header, g),
            // Still take part, so that no rank waits: the others learn of the failure.
            Ok(_) => (with_status(header, Status::Failed), vec![vec![f64::NAN; p]; owned[me]]),
            Err(s) => (with_status(header, s), vec![vec![f64::NAN; p]; owned[me]]),
        };
        let send_counts: Vec<usize> = (0..ranks).map(|q| header.len() + owned[me] * block(q).len()).collect();
        let recv_counts: Vec<usize> = (0..ranks).map(|r| header.len() + owned[r] * block(me).len()).collect();
        let mut send = Vec::with_capacity(send_counts.iter().sum());
        for q in 0..ranks {
            send.extend_from_slice(&header);
            for g in &grads {
                send.extend_from_slice(&g[block(q)]);
            }
        }
        let sent = send_counts.iter().enumerate().filter(|(q, _)| *q != me).map(|(_, c)| c).sum();
        let got = self
            .counted(sent, recv_counts[me], |c| c.all_to_all(&send, &send_counts, &recv_counts))
            .map_err(Exchange::Error)?;
        let mut headers = Vec::with_capacity(ranks);
        let mut at = 0;
        for c in &recv_counts {
            headers.push(&got[at..at + header.len()]);
            at += c;
        }
        check_headers(&headers, pass, check)?;
        // This rank's block of the sum: shard by shard in shard order (rank order is shard order).
        let n = block(me).len();
        let mut parts = Vec::with_capacity(shards);
        let mut at = 0;
        for (r, c) in recv_counts.iter().enumerate() {
            let blocks = &got[at + header.len()..at + c];
            parts.extend((0..owned[r]).map(|k| &blocks[k * n..(k + 1) * n]));
            at += c;
        }
        // added as `WeightedSum` adds whole gradients
        let acc = crate::objective::weighted_vec(parts.into_iter().zip(weights.iter().copied()), n);
        let counts: Vec<usize> = (0..ranks).map(|q| block(q).len()).collect();
        let all = self.gather(&acc, &counts).map_err(Exchange::Error)?;
        if all.len() != p {
            return Err(Exchange::Error(distributed_error(format!(
                "a reduced gradient of {} entries, not {p}",
                all.len()
            ))));
        }
        Ok(all)
    }
}
