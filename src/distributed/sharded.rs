//! [`Sharded`]: an objective whose shards are computed on several ranks.

use super::{distributed_error, Collective, Exchange, Group, Status};
use crate::api::Projection;
use crate::{Error, HyperDual, Jet, Objective, Result};

/// `Σ_s w_s · f_s(x)` over `S` shards, this rank computing its own ([`Group::owned`]) and one
/// all-gather per pass bringing the others': an [`Objective`] that gives, on every rank, the
/// same result as [`WeightedSum`](crate::WeightedSum) of all the shards in one process, bit
/// for bit (the partials are added in shard order, with the same operations).
///
/// Every rank must make the same calls in the same order (every optimizer does, given the
/// same results and seed). A rank that owns no shard still takes part in every pass.
///
/// ```
/// use fomoh::distributed::{Group, Sharded, Solo};
/// use fomoh::{objective, scalar_fn, Objective, Scalar, WeightedSum};
/// fn a<S: Scalar>(x: &[S]) -> S { x[0] * x[0] }
/// fn b<S: Scalar>(x: &[S]) -> S { x[0].sin() }
/// let (fa, fb) = (objective(1, scalar_fn!(a)), objective(1, scalar_fn!(b)));
/// let group = Group::new(Solo);
/// let parts: Vec<&(dyn Objective + Sync)> = vec![&fa, &fb];
/// let s = Sharded::new(&group, 1, vec![0.25, 0.75], parts.clone()).unwrap();
/// let w = WeightedSum::new(vec![(parts[0], 0.25), (parts[1], 0.75)]).unwrap();
/// assert_eq!(s.value(&[0.3]).unwrap().to_bits(), w.value(&[0.3]).unwrap().to_bits());
/// ```
#[derive(Debug)]
pub struct Sharded<'g, C, O> {
    group: &'g Group<C>,
    dim: usize,
    weights: Vec<f64>,
    local: Vec<O>,
}

impl<'g, C: Collective, O: Objective + Sync> Sharded<'g, C, O> {
    /// The objective of dimension `dim` over `weights.len()` shards (finite weights), `local`
    /// being this rank's shards ([`Group::owned`]) in order.
    pub fn new(group: &'g Group<C>, dim: usize, weights: Vec<f64>, local: Vec<O>) -> Result<Self> {
        let owned = group.owned(weights.len());
        crate::error::check_len(|| format!("shards of rank {}", group.rank()), owned.len(), local.len())?;
        if let Some((s, w)) = weights.iter().enumerate().find(|(_, w)| !w.is_finite()) {
            return Err(Error::NonFinite(format!("weight of shard {s} is {w}")));
        }
        for (i, o) in local.iter().enumerate() {
            crate::error::check_len(|| format!("shard {}", owned.start + i), dim, o.dim())?;
        }
        Ok(Sharded { group, dim, weights, local })
    }

    /// This rank's shards' `pass` (side by side when there are several), in shard order, each
    /// `per_shard` numbers long; or the status of the first failure (and its error, if any).
    #[allow(clippy::type_complexity)]
    fn run_local(
        &self,
        per_shard: usize,
        pass: impl Fn(&O) -> Result<Option<Vec<f64>>> + Sync,
    ) -> (std::result::Result<Vec<Vec<f64>>, Status>, Option<Error>) {
        use rayon::prelude::*;
        let runs: Vec<Result<Option<Vec<f64>>>> = if self.local.len() > 1 {
            self.local.par_iter().map(&pass).collect()
        } else {
            self.local.iter().map(&pass).collect()
        };
        let mut parts = Vec::with_capacity(runs.len());
        let mut no_gradient = false;
        for r in runs {
            match r {
                Ok(Some(v)) if v.len() == per_shard => parts.push(v),
                Ok(Some(v)) => {
                    return (
                        Err(Status::Failed),
                        Some(Error::length("a shard's partial", per_shard, v.len())),
                    )
                }
                Ok(None) => no_gradient = true,
                Err(e) => {
                    let status =
                        if matches!(e, Error::NonFinite(_)) { Status::NonFinite } else { Status::Failed };
                    return (Err(status), Some(e));
                }
            }
        }
        if no_gradient {
            return (Err(Status::NoGradient), None);
        }
        (Ok(parts), None)
    }

    /// This rank's shards' `pass`, gathered from every rank: every shard's partial
    /// (`per_shard` numbers) in shard order, or `Ok(None)` when a rank's shard has no
    /// gradient.
    fn gather(
        &self,
        x: &[f64],
        per_shard: usize,
        pass: impl Fn(&O) -> Result<Option<Vec<f64>>> + Sync,
    ) -> Result<Option<Vec<f64>>> {
        let (local, own_error) = self.run_local(per_shard, pass);
        match self.group.exchange(x, local.map(|p| p.concat()), per_shard, self.weights.len()) {
            Ok(all) => Ok(Some(all)),
            Err(Exchange::NoGradient) => Ok(None),
            // This rank's own error is the more precise message.
            Err(Exchange::Error(e)) => Err(own_error.unwrap_or(e)),
        }
    }

    /// `Σ_s w_s · all_s[skip..]` over the shards' partials in shard order, added as
    /// `WeightedSum` adds its parts ([`crate::objective::weighted_vec`]).
    fn fold(&self, all: &[f64], per_shard: usize, skip: usize) -> Vec<f64> {
        let parts = all.chunks(per_shard.max(1)).map(|part| &part[skip..]);
        crate::objective::weighted_vec(parts.zip(self.weights.iter().copied()), per_shard - skip)
    }

    /// [`Self::gather`] of a pass every shard has.
    fn gather_all(
        &self,
        x: &[f64],
        n: usize,
        pass: impl Fn(&O) -> Result<Vec<f64>> + Sync,
    ) -> Result<Vec<f64>> {
        self.gather(x, n, |o| pass(o).map(Some))?
            .ok_or_else(|| distributed_error("a shard gave no result".into()))
    }

    /// The weighted sum of a pass every shard has.
    fn reduce_all(
        &self,
        x: &[f64],
        n: usize,
        pass: impl Fn(&O) -> Result<Vec<f64>> + Sync,
    ) -> Result<Vec<f64>> {
        Ok(self.fold(&self.gather_all(x, n, pass)?, n, 0))
    }
}

impl<C: Collective, O: Objective + Sync> Objective for Sharded<'_, C, O> {
    fn dim(&self) -> usize {
        self.dim
    }

    fn value(&self, x: &[f64]) -> Result<f64> {
        Ok(self.reduce_all(x, 1, |o| Ok(vec![o.value(x)?]))?[0])
    }

    fn hyper_dual(&self, x: &[f64], v1: &[f64], v2: &[f64]) -> Result<HyperDual<f64>> {
        let r = self.reduce_all(x, 4, |o| {
            let h = o.hyper_dual(x, v1, v2)?;
            Ok(vec![h.re, h.e1, h.e2, h.e12])
        })?;
        Ok(HyperDual::new(r[0], r[1], r[2], r[3]))
    }

    fn directional(&self, x: &[f64], v: &[f64]) -> Result<Jet<f64>> {
        let r = self.reduce_all(x, 3, |o| {
            let j = o.directional(x, v)?;
            Ok(vec![j.re, j.d1, j.d2])
        })?;
        Ok(Jet::new(r[0], r[1], r[2]))
    }

    /// Per shard: the pass count, the value, the K directional derivatives and the upper
    /// triangle of the K×K projected Hessian (`2 + K + K(K+1)/2` numbers); the passes are
    /// the most any shard took (the shards run side by side), as in `WeightedSum`.
    fn project(&self, x: &[f64], dirs: &[Vec<f64>]) -> Result<Projection<f64>> {
        let k = dirs.len();
        let n = 2 + k + k * (k + 1) / 2;
        let all = self.gather_all(x, n, |o| {
            let p = o.project(x, dirs)?;
            let mut v = Vec::with_capacity(n);
            v.push(p.passes as f64);
            v.push(p.value);
            v.extend_from_slice(&p.grad);
            for (i, row) in p.hess.iter().enumerate().take(k) {
                v.extend_from_slice(row.get(i..).unwrap_or(&[]));
            }
            Ok(v)
        })?;
        let passes = all.chunks(n).map(|p| p[0] as usize).max().unwrap_or(0);
        let r = self.fold(&all, n, 1);
        let packed = &r[1 + k..];
        let hess = (0..k).map(|i| (0..k).map(|j| packed[crate::packed_index(k, i, j)]).collect()).collect();
        Ok(Projection { value: r[0], grad: r[1..1 + k].to_vec(), hess, passes })
    }

    /// The shards' gradients added entry by entry in shard order (a reduce-scatter by hand and
    /// an all-gather: about P numbers sent and received per rank), the same bits as
    /// `WeightedSum`'s; `None` if a shard has no gradient.
    fn gradient(&self, x: &[f64]) -> Option<Result<Vec<f64>>> {
        let (local, own_error) = self.run_local(self.dim, |o| o.gradient(x).transpose());
        match self.group.reduce_sum(x, local, &self.weights, self.dim) {
            Ok(g) => Some(Ok(g)),
            Err(Exchange::NoGradient) => None,
            Err(Exchange::Error(e)) => Some(Err(own_error.unwrap_or(e))),
        }
    }
}
