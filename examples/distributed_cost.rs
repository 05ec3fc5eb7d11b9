//! The projected step time of data-parallel FoMoH-KD (all-gather of the projections) and of
//! backprop (ring all-reduce of the gradient) against model size, ranks and network, from the
//! model of `fomoh::distributed::cost` and measured compute times (docs/distributed.md).
//!
//! ```sh
//! cargo run --release --example distributed_cost -- KD_SECONDS BP_SECONDS
//! ```
//! where KD_SECONDS and BP_SECONDS are the compute seconds per parameter and sample of a
//! FoMoH-KD:8 step and of a backprop step on one core (defaults: the values measured in
//! docs/distributed.md).

use fomoh::distributed::cost::{allreduce_step, fomoh_kd_step, Network};

/// Seconds per parameter and sample of a step, measured on the MNIST MLP (79 510 parameters,
/// minibatch 256) with FoMoH-KD:8 and with SGD (docs/distributed.md).
const KD_SECONDS: f64 = 1.2e-9;
const BP_SECONDS: f64 = 6.5e-10;

/// FoMoH-KD's directions.
const K: usize = 8;
/// The global minibatch.
const BATCH: f64 = 1024.0;
/// Backprop's gradient entries are f32.
const GRAD_BYTES: f64 = 4.0;

/// `1.2 ms`-style seconds.
fn t(s: f64) -> String {
    match s {
        0.0 => "0".into(),
        s if s < 1e-3 => format!("{:.1} µs", s * 1e6),
        s if s < 1.0 => format!("{:.1} ms", s * 1e3),
        s => format!("{s:.1} s"),
    }
}

fn main() {
    let arg =
        |i: usize, default: f64| std::env::args().nth(i).map_or(default, |a| a.parse().expect("a number"));
    let (kd, bp) = (arg(1, KD_SECONDS), arg(2, BP_SECONDS));
    let nets = [
        ("100 Gb/s (α = 2 µs, β = 12.5 GB/s)", Network { latency: 2e-6, bandwidth: 12.5e9 }),
        ("10 Gb/s (α = 20 µs, β = 1.25 GB/s)", Network { latency: 20e-6, bandwidth: 1.25e9 }),
    ];
    println!("K = {K}, global minibatch {BATCH}, compute {kd:e} (FoMoH-KD) and {bp:e} (backprop) s per parameter·sample\n");
    for (name, net) in nets {
        println!("{name}\n");
        println!("| P | ranks | FoMoH-KD step | its all-gather | backprop step | its all-reduce (f32) |");
        println!("|---|---|---|---|---|---|");
        for p in [1e5, 1e6, 1e7, 1e8, 1e9, 1e10] {
            for ranks in [8, 64, 512] {
                let a = fomoh_kd_step(net, ranks, p, BATCH, K, kd);
                let b = allreduce_step(net, ranks, p, BATCH, GRAD_BYTES, bp);
                let share = |s: fomoh::distributed::cost::StepTime| 100.0 * s.communication / s.total();
                println!(
                    "| 10^{} | {ranks} | {} | {} ({:.2}%) | {} | {} ({:.0}%) |",
                    p.log10().round(),
                    t(a.total()),
                    t(a.communication),
                    share(a),
                    t(b.total()),
                    t(b.communication),
                    share(b)
                );
            }
        }
        println!();
    }
}
