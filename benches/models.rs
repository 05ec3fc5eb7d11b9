//! Cost and memory of FoMoH-KD steps on the paper's models (a bench binary printing tables).
//!
//! `cargo bench --bench models` (add `-- --quick` to estimate, not run, the pairwise CNN
//! passes; `FOMOH_BENCH_THREADS=2` to time with 2 rayon threads instead of 1).
//! Input: the first 256 MNIST training images from `$FOMOH_MNIST` or
//! `../shared/data/mnist` (beside the repository, or `FOMOH_MNIST`) when present, else uniform random pixels of the same shape.
//!
//! Tables:
//! 1. time of one k-direction pass (everything one FoMoH-KD step needs: f, k directional
//!    derivatives, the k×k projected Hessian), as a multiple of one plain forward pass of
//!    the loss; beside it the paper's K(K+1)/2 hyper-dual passes for the same block;
//! 2. peak heap of a K = 4 step for MLPs of depth 2, 8, 32 (same width), counted by a global
//!    allocator, beside the backprop gradient's; the same for the paper's CNN.

use fomoh::data::Batch;
use fomoh::models::{Activation, Cnn, LogisticRegression, Minibatch, Mlp, Model};
use fomoh::tensor::Tensor;
use fomoh::Objective;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Counts live heap bytes and their peak.
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            let now = LIVE.fetch_add(l.size(), Relaxed) + l.size();
            PEAK.fetch_max(now, Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        LIVE.fetch_sub(l.size(), Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            if new >= l.size() {
                let now = LIVE.fetch_add(new - l.size(), Relaxed) + new - l.size();
                PEAK.fetch_max(now, Relaxed);
            } else {
                LIVE.fetch_sub(l.size() - new, Relaxed);
            }
        }
        q
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Peak heap bytes allocated by `f` above what was live when it started.
fn peak_bytes<R>(f: impl FnOnce() -> R) -> (usize, R) {
    let base = LIVE.load(Relaxed);
    PEAK.store(base, Relaxed);
    let r = f();
    (PEAK.load(Relaxed) - base, r)
}

/// CPU time of the whole process so far (user + system, all threads), from `/proc/self/stat`
/// (clock ticks of 10 ms); `None` where that file does not exist.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// CPU time per run of each of two closures, measured in alternating rounds until ~`budget`
/// seconds of wall time have passed (at least 2 rounds). CPU time (not wall time) because the
/// machine may be shared: it counts this process's work only. Falls back to the minimum wall
/// time without `/proc`.
fn time_pair(budget: f64, mut a: impl FnMut(), mut b: impl FnMut()) -> (Duration, Duration) {
    let (mut ca, mut cb) = (Duration::ZERO, Duration::ZERO);
    let (mut wa, mut wb) = (Duration::MAX, Duration::MAX);
    let start = Instant::now();
    let mut rounds = 0u32;
    while rounds < 2 || start.elapsed().as_secs_f64() < budget {
        let (c0, t) = (cpu_time(), Instant::now());
        a();
        let (c1, t1) = (cpu_time(), Instant::now());
        b();
        let c2 = cpu_time();
        wa = wa.min(t1 - t);
        wb = wb.min(t1.elapsed());
        if let (Some(c0), Some(c1), Some(c2)) = (c0, c1, c2) {
            ca += c1 - c0;
            cb += c2 - c1;
        }
        rounds += 1;
    }
    if cpu_time().is_some() {
        (ca / rounds, cb / rounds)
    } else {
        (wa, wb)
    }
}

fn pseudo(i: usize, s: usize) -> f64 {
    let v = ((i as f64 + 1.0) * 12.9898 + (s as f64 + 1.0) * 78.233).sin() * 43758.5453;
    v - v.floor()
}

/// Gaussian-free, deterministic directions (the cost does not depend on their values).
fn dirs(n: usize, k: usize, s: usize) -> Vec<Vec<f64>> {
    (0..k).map(|j| (0..n).map(|i| 2.0 * pseudo(i, s + j) - 1.0).collect()).collect()
}

fn mnist_batch(b: usize) -> (Batch, &'static str) {
    let dir = std::env::var("FOMOH_MNIST")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/mnist").into());
    if let Ok((train, _)) = fomoh::data::mnist::load(&dir) {
        return (train.head(b).unwrap(), "MNIST (first 256 training images)");
    }
    let x: Vec<f64> = (0..b * 784).map(|i| pseudo(i, 1)).collect();
    let labels = (0..b).map(|i| i % 10).collect();
    (Batch::new(Tensor::constant(vec![b, 1, 28, 28], x).unwrap(), labels).unwrap(), "random pixels")
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let threads: usize = std::env::var("FOMOH_BENCH_THREADS").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    rayon::ThreadPoolBuilder::new().num_threads(threads).build_global().expect("first rayon use");
    let (batch, source) = mnist_batch(256);
    println!(
        "# fomoh models bench: batch 256 of 28×28, input {source}; {threads} rayon thread(s) \
         (FOMOH_BENCH_THREADS); times are CPU time per pass\n"
    );
    println!("## Time of one k-direction pass (one FoMoH-KD step) vs one plain forward pass\n");
    println!("| model | params | forward CPU ms | hyper-dual ×fwd | backprop grad ×fwd | k | one pass ×fwd | K(K+1)/2 hyper-dual passes ×fwd | one-pass speed-up |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let models: Vec<Box<dyn Model>> = vec![
        Box::new(LogisticRegression::new(784, 10).unwrap()),
        Box::new(Mlp::new(&[784, 100, 10], Activation::Relu).unwrap()),
        Box::new(Cnn::paper()),
    ];
    for model in &models {
        let obj = Minibatch::new(model.as_ref(), &batch).unwrap();
        let n = model.num_params();
        let theta = model.init(0);
        let fwd_fn = || {
            obj.value(&theta).unwrap();
        };
        let d2 = dirs(n, 2, 10);
        let (f0, hd) = time_pair(1.0, fwd_fn, || {
            obj.hyper_dual(&theta, &d2[0], &d2[1]).unwrap();
        });
        let r0 = |t: Duration| t.as_secs_f64() / f0.as_secs_f64();
        let gcol = match obj.gradient(&theta) {
            Some(_) => {
                let (f, g) = time_pair(1.0, fwd_fn, || {
                    obj.gradient(&theta).unwrap().unwrap();
                });
                format!("{:.2}", g.as_secs_f64() / f.as_secs_f64())
            }
            None => "n/a".into(),
        };
        for k in [2usize, 4, 8] {
            let d = dirs(n, k, 20);
            let pairs = k * (k + 1) / 2;
            let (fwd, one) = time_pair(2.0, fwd_fn, || {
                obj.project(&theta, &d).unwrap();
            });
            let r = |t: Duration| t.as_secs_f64() / fwd.as_secs_f64();
            let (pw, speed) = if n > 100_000 && (quick || k == 8) {
                // The CNN's 36 hyper-dual passes take minutes: estimated from one hyper-dual pass.
                let est = pairs as f64 * r0(hd);
                (format!("≈{est:.1} ({pairs} × hyper-dual, est.)"), format!("≈{:.2}×", est / r(one)))
            } else {
                let (one2, p) = time_pair(
                    2.0,
                    || {
                        obj.project(&theta, &d).unwrap();
                    },
                    || {
                        for i in 0..k {
                            for j in i..k {
                                obj.hyper_dual(&theta, &d[i], &d[j]).unwrap();
                            }
                        }
                    },
                );
                (
                    format!("{:.1} ({pairs} passes)", r(p) * one.as_secs_f64() / one2.as_secs_f64()),
                    format!("{:.2}×", p.as_secs_f64() / one2.as_secs_f64()),
                )
            };
            println!(
                "| {} | {n} | {:.2} | {:.2} | {gcol} | {k} | {:.1} | {pw} | {speed} |",
                model.name(),
                ms(fwd),
                r0(hd),
                r(one)
            );
        }
    }

    println!("\n## Peak heap of one K = 4 step, MLP width 100 (784 → 100 × (depth−1) → 10), batch 256\n");
    println!("Measured above the live heap at the call (θ and the 4 directions are allocated before and listed separately).\n");
    println!("| depth | params | θ + 4 directions (input) MiB | k-direction step peak MiB | backprop gradient peak MiB |");
    println!("|---:|---:|---:|---:|---:|");
    let mib = |b: usize| b as f64 / (1024.0 * 1024.0);
    for depth in [2usize, 8, 32] {
        let mut sizes = vec![784];
        sizes.extend(std::iter::repeat_n(100, depth - 1));
        sizes.push(10);
        let model = Mlp::new(&sizes, Activation::Tanh).unwrap();
        let n = model.num_params();
        let theta = model.init(0);
        let d = dirs(n, 4, 30);
        let obj = Minibatch::new(&model, &batch).unwrap();
        let (kd, r) = peak_bytes(|| obj.project(&theta, &d).unwrap());
        drop(r);
        let (bp, g) = peak_bytes(|| obj.gradient(&theta).unwrap().unwrap());
        drop(g);
        println!("| {depth} | {n} | {:.2} | {:.2} | {:.2} |", mib(5 * n * 8), mib(kd), mib(bp));
    }

    println!("\n## Peak heap of one K = 4 step of the paper's CNN, batch 256, by forward chunk size\n");
    println!("| chunk (samples) | k-direction step peak MiB | time ms |");
    println!("|---:|---:|---:|");
    let n = Cnn::paper().num_params();
    let theta = Cnn::paper().init(0);
    let d = dirs(n, 4, 40);
    for chunk in [32usize, 256] {
        let model = Cnn::paper().with_chunk_size(chunk);
        let obj = Minibatch::new(&model, &batch).unwrap();
        let t = Instant::now();
        let (kd, r) = peak_bytes(|| obj.project(&theta, &d).unwrap());
        let el = t.elapsed();
        drop(r);
        println!("| {chunk} | {:.1} | {:.0} |", mib(kd), ms(el));
    }
    let model = Cnn::paper();
    let obj = Minibatch::new(&model, &batch).unwrap();
    let t = Instant::now();
    let (bp, g) = peak_bytes(|| obj.gradient(&theta).unwrap().unwrap());
    let el = t.elapsed();
    drop(g);
    println!(
        "\nBackprop gradient of the same batch (default chunk): peak {:.1} MiB, {:.0} ms.",
        mib(bp),
        ms(el)
    );
}
