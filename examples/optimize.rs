//! Forward-only optimization: FGD and FoMoH-KD on Rosenbrock from the same start, one step
//! and its report, and a run checkpointed halfway that resumes bit for bit.
//!
//! Run with `cargo run --release --example optimize`.

use fomoh::prelude::*;
use fomoh::{Checkpoint, Fallback};

fn rosenbrock<S: Scalar>(x: &[S]) -> S {
    let (one, hundred) = (S::one(), S::from_f64(100.0));
    (0..x.len() - 1).map(|i| hundred * (x[i + 1] - x[i] * x[i]).powi(2) + (one - x[i]).powi(2)).sum()
}

pub fn main() -> Result<(), fomoh::Error> {
    let n = 10;
    let obj = objective(n, fomoh::scalar_fn!(rosenbrock));
    let x0: Vec<f64> = (0..n).map(|i| if i % 2 == 0 { -1.2 } else { 1.0 }).collect();
    let opts = Options::iterations(200);

    // The same budget of forward passes (one per step) for both.
    let mut x = x0.clone();
    let fgd = Fgd::new().learning_rate(1e-4).seed(0).minimize(&obj, &mut x, &opts)?;
    let mut x = x0.clone();
    let kd = FomohKd::new(3).learning_rate(1.0).seed(0).minimize(&obj, &mut x, &opts)?;
    println!("f(x0) = {}", fgd.losses[0]);
    println!("FGD:         {} passes, final loss {:.4}", fgd.passes, fgd.final_loss());
    println!("FoMoH-KD(3): {} passes, final loss {:.4}", kd.passes, kd.final_loss());
    assert_eq!((fgd.passes, kd.passes), (200, 200));
    assert!(kd.final_loss() < fgd.final_loss() && kd.final_loss() < kd.losses[0]);

    // One step: what it read and what it did.
    let mut x = x0.clone();
    let mut opt = FomohKd::new(3).learning_rate(1.0).seed(7);
    let step = opt.step(&obj, &mut x)?;
    assert_eq!((step.directional.len(), step.curvature.len(), step.passes), (3, 9, 1));
    println!("one step: loss {:.4}, F = {:?}, fallback {:?}", step.loss, step.directional, step.fallback);
    assert!(matches!(step.fallback, Fallback::None | Fallback::SaddleFree { .. }));

    // Run 100 steps straight, and 50 + 50 through a checkpoint file: the same bits.
    let mut straight = x0.clone();
    FomohKd::new(3).learning_rate(1.0).seed(3).minimize(&obj, &mut straight, &Options::iterations(100))?;
    let path = std::env::temp_dir().join(format!("fomoh-example-optimize-{}.json", std::process::id()));
    let mut opt = FomohKd::new(3).learning_rate(1.0).seed(3);
    let mut theta = x0.clone();
    let report = opt.minimize(&obj, &mut theta, &Options::iterations(50))?;
    Checkpoint::new(opt, theta, report).save(&path)?; // atomic: a temporary file, then a rename
    let mut resumed: Checkpoint<FomohKd> = Checkpoint::load(&path)?;
    std::fs::remove_file(&path).ok();
    resumed.optimizer.minimize(&obj, &mut resumed.theta, &Options::iterations(50))?;
    assert_eq!(resumed.theta, straight);
    println!("checkpointed run resumed bit for bit");
    Ok(())
}
