//! `fomoh::distributed` in one process, ranks as threads (`LocalRank`): a data-parallel run
//! gives bit for bit the one-process `WeightedSum` of the same shards at every rank count, for
//! FGD, FoMoH, FoMoH-KD and FoMoH-BP on an eager and a compiled model; drift and a failure on
//! one rank end every rank with an error (no hang). The same code over MPI: `tests/mpi.rs`.

use fomoh::data::{Batch, Dataset};
use fomoh::distributed::{owned_by, row_weights, Collective, Group, LocalRank, Sharded};
use fomoh::jit::compile_model;
use fomoh::models::{Activation, LogisticRegression, Minibatch, Mlp, Model};
use fomoh::optim::{Fgd, Fomoh, FomohBp, FomohKd, Optimizer};
use fomoh::{Error, HyperDual, Objective, WeightedSum};

/// The optimizers, each new from the same seed.
fn optimizers() -> Vec<(&'static str, Box<dyn Optimizer + Send>)> {
    vec![
        ("fgd", Box::new(Fgd::new().learning_rate(0.05).seed(3))),
        ("fomoh", Box::new(Fomoh::new().learning_rate(0.5).seed(3))),
        ("fomoh-kd:4", Box::new(FomohKd::new(4).learning_rate(0.4).seed(3))),
        ("fomoh-bp", Box::new(FomohBp::new().learning_rate(0.5).seed(3))),
    ]
}

/// Five minibatches of 40 digits, each split into `SHARDS` shards of rows.
const SHARDS: usize = 4;

/// The minibatches: five of 40 digits.
fn batches() -> Vec<Vec<usize>> {
    (0..5).map(|b| (b * 40..b * 40 + 40).collect()).collect()
}

/// The shard bounds of a minibatch of `n` rows.
fn bounds(n: usize) -> Vec<usize> {
    (0..=SHARDS).map(|s| n * s / SHARDS).collect()
}

/// Shard `s` of the minibatch `idx`.
fn rows(data: &Dataset, idx: &[usize], s: usize) -> Batch {
    let b = bounds(idx.len());
    data.batch(&idx[b[s]..b[s + 1]]).unwrap()
}

/// θ after one step per batch of `opt` in one process, on the `WeightedSum` of the shards.
fn one_process(model: &dyn Model, compiled: bool, mut opt: Box<dyn Optimizer + Send>) -> Vec<f64> {
    let data = Dataset::digits().unwrap();
    let mut theta = model.init(1);
    for idx in batches() {
        let shards: Vec<Batch> = (0..SHARDS).map(|s| rows(&data, &idx, s)).collect();
        let w = row_weights(&bounds(idx.len())).unwrap();
        if compiled {
            let progs: Vec<_> = shards.iter().map(|b| compile_model(model, b.len()).unwrap()).collect();
            let parts =
                progs.iter().zip(&shards).zip(&w).map(|((p, b), w)| (p.bind(b).unwrap(), *w)).collect();
            opt.step(&WeightedSum::new(parts).unwrap(), &mut theta).unwrap();
        } else {
            let parts = shards.iter().zip(&w).map(|(b, w)| (Minibatch::new(model, b).unwrap(), *w)).collect();
            opt.step(&WeightedSum::new(parts).unwrap(), &mut theta).unwrap();
        }
    }
    theta
}

/// θ on every rank after the same steps with `ranks` ranks (threads), each computing its
/// shards.
fn ranks_run(
    model: &dyn Model,
    compiled: bool,
    ranks: usize,
    make: impl Fn() -> Box<dyn Optimizer + Send> + Sync,
) -> Vec<Vec<f64>> {
    LocalRank::run(ranks, |comm| {
        let group = Group::new(comm);
        let mut opt = make();
        let data = Dataset::digits().unwrap();
        let mut theta = model.init(1);
        for idx in batches() {
            let mine = owned_by(group.rank(), group.size(), SHARDS);
            let shards: Vec<Batch> = mine.map(|s| rows(&data, &idx, s)).collect();
            let w = row_weights(&bounds(idx.len())).unwrap();
            let n = model.num_params();
            if compiled {
                let progs: Vec<_> = shards.iter().map(|b| compile_model(model, b.len()).unwrap()).collect();
                let parts = progs.iter().zip(&shards).map(|(p, b)| p.bind(b).unwrap()).collect();
                opt.step(&Sharded::new(&group, n, w, parts).unwrap(), &mut theta).unwrap();
            } else {
                let parts = shards.iter().map(|b| Minibatch::new(model, b).unwrap()).collect();
                opt.step(&Sharded::new(&group, n, w, parts).unwrap(), &mut theta).unwrap();
            }
        }
        assert!(group.stats().collectives as usize >= batches().len());
        theta
    })
}

fn bits(theta: &[f64]) -> Vec<u64> {
    theta.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn every_rank_count_gives_the_one_process_result_bit_for_bit() {
    let logreg = LogisticRegression::new(64, 10).unwrap();
    let mlp = Mlp::new(&[64, 12, 10], Activation::Tanh).unwrap();
    for (model, compiled) in [(&logreg as &dyn Model, false), (&logreg, true), (&mlp, false), (&mlp, true)] {
        for (i, (label, opt)) in optimizers().into_iter().enumerate() {
            if compiled && label == "fomoh-bp" {
                continue; // compiled models have forward passes only
            }
            let theta0 = model.init(1);
            let reference = one_process(model, compiled, opt);
            assert_ne!(bits(&reference), bits(&theta0), "{label}: the run moved θ");
            for ranks in [1, 2, 3, 4, 6] {
                let thetas = ranks_run(model, compiled, ranks, || optimizers().swap_remove(i).1);
                for (r, theta) in thetas.iter().enumerate() {
                    assert_eq!(
                        bits(theta),
                        bits(&reference),
                        "{} {label} compiled={compiled}: rank {r} of {ranks}",
                        model.name()
                    );
                }
            }
        }
    }
}

/// An objective that is `x0²`, or fails, or answers with a shifted θ on one rank.
struct Probe {
    fail: bool,
}

impl Objective for Probe {
    fn dim(&self) -> usize {
        1
    }
    fn value(&self, x: &[f64]) -> fomoh::Result<f64> {
        if self.fail {
            return Err(Error::InvalidArgument("this shard's data is bad".into()));
        }
        Ok(x[0] * x[0])
    }
    fn hyper_dual(&self, x: &[f64], v1: &[f64], v2: &[f64]) -> fomoh::Result<HyperDual<f64>> {
        let v = self.value(x)?;
        Ok(HyperDual::new(v, 2.0 * x[0] * v1[0], 2.0 * x[0] * v2[0], 2.0 * v1[0] * v2[0]))
    }
    fn gradient(&self, x: &[f64]) -> Option<fomoh::Result<Vec<f64>>> {
        Some(self.value(x).map(|_| vec![2.0 * x[0]]))
    }
}

/// Every rank's gradient (through the all-to-all reduction), shard `bad` failing.
fn probe_gradient(ranks: usize, bad: Option<usize>) -> Vec<Option<fomoh::Result<Vec<f64>>>> {
    LocalRank::run(ranks, |comm| {
        let group = Group::new(comm);
        let mine = owned_by(group.rank(), ranks, ranks);
        let parts: Vec<Probe> = mine.map(|s| Probe { fail: bad == Some(s) }).collect();
        let obj = Sharded::new(&group, 1, vec![1.0 / ranks as f64; ranks], parts).unwrap();
        obj.gradient(&[0.75])
    })
}

#[test]
fn gradients_reduce_across_ranks_and_failures_reach_every_rank() {
    for ranks in [1, 2, 3] {
        for g in probe_gradient(ranks, None) {
            let g = g.unwrap().unwrap();
            assert!(g.len() == 1 && (g[0] - 1.5).abs() < 1e-15, "{ranks} ranks: {g:?}");
        }
    }
    let out = probe_gradient(3, Some(2));
    assert!(matches!(&out[2], Some(Err(Error::InvalidArgument(_)))), "{out:?}");
    for o in &out[..2] {
        assert!(
            matches!(o, Some(Err(Error::Backend { message, .. })) if message.contains("rank 2 failed")),
            "{o:?}"
        );
    }
}

/// Every rank's result of `value` at its θ (`theta(rank)`), shard `bad` failing.
fn probe(ranks: usize, bad: Option<usize>, theta: impl Fn(usize) -> f64 + Sync) -> Vec<fomoh::Result<f64>> {
    LocalRank::run(ranks, |comm| {
        let group = Group::new(comm);
        let mine = owned_by(group.rank(), ranks, ranks);
        let parts: Vec<Probe> = mine.map(|s| Probe { fail: bad == Some(s) }).collect();
        let obj = Sharded::new(&group, 1, vec![1.0 / ranks as f64; ranks], parts).unwrap();
        let first = obj.value(&[theta(group.rank())]);
        // after a failed pass the ranks still agree on the next one
        let second = obj.value(&[1.0]);
        assert!(bad.is_some() || second.is_ok());
        first
    })
}

#[test]
fn a_failure_on_one_rank_is_an_error_on_every_rank() {
    let out = probe(3, Some(1), |_| 0.5);
    assert!(matches!(&out[1], Err(Error::InvalidArgument(m)) if m.contains("bad")), "{out:?}");
    for r in [0, 2] {
        assert!(
            matches!(&out[r], Err(Error::Backend { message, .. }) if message.contains("rank 1 failed")),
            "rank {r}: {:?}",
            out[r]
        );
    }
    let fine = probe(3, None, |_| 0.5);
    assert!(fine.iter().all(|r| r.as_ref().is_ok_and(|v| (v - 0.25).abs() < 1e-15)), "{fine:?}");
}

#[test]
fn ranks_that_drift_apart_stop_with_an_error() {
    let out = probe(3, None, |r| if r == 2 { 0.5 + 1e-16 } else { 0.5 });
    for (r, o) in out.iter().enumerate() {
        assert!(
            matches!(o, Err(Error::Backend { message, .. }) if message.contains("differ across ranks")),
            "rank {r}: {o:?}"
        );
    }
}

#[test]
fn a_sharded_objective_checks_its_shards() {
    let group = Group::new(fomoh::distributed::Solo);
    let p = || Probe { fail: false };
    assert!(matches!(Sharded::new(&group, 1, vec![0.5, 0.5], vec![p()]), Err(Error::Length { .. })));
    assert!(matches!(Sharded::new(&group, 2, vec![1.0], vec![p()]), Err(Error::Length { .. })));
    assert!(matches!(Sharded::new(&group, 1, vec![f64::NAN], vec![p()]), Err(Error::NonFinite(_))));
    let ok = Sharded::new(&group, 1, vec![0.25, 0.75], vec![p(), p()]).unwrap();
    assert_eq!(ok.value(&[2.0]).unwrap(), 4.0);
    assert!(Group::new(fomoh::distributed::Solo).comm().size() == 1);
}
