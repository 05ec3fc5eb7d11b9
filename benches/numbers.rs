//! The number types side by side: f64 primal, our `HyperDual` / `Jet` / `HyperK`, the
//! K(K+1)/2 hyper-dual passes of the paper (`project_pairwise`), and num-dual's
//! `HyperDual64` and `Dual2SVec64<K>` as the independent baseline.
//!
//! ```sh
//! cargo bench --bench numbers                # criterion (statistics, HTML reports)
//! cargo bench --bench numbers -- --ratios    # the ratio table of the README, one run
//! ```
//!
//! The ratio mode measures every variant of a case interleaved, round by round, and keeps
//! each variant's fastest round (the least disturbed by other processes), so the printed
//! ratios compare timings taken under the same conditions.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use fomoh::{Dim, Packed, Projection, Scalar, ScalarFn};
use nalgebra::SMatrix;
use num_dual::{Derivative, Dual2SVec64, DualNum, HyperDual64};

/// A benchmark function for both libraries: over `fomoh::Scalar` and over num-dual's
/// `DualNum`, from one expression (so both do the same arithmetic).
trait Case: ScalarFn {
    fn eval_nd<D: DualNum<Primitive = f64> + Copy>(&self, x: &[D]) -> D;
}

/// Implements [`Case`] and `ScalarFn` for `$name` from one body over `$x` (the input slice),
/// with `$c(v)` making a constant.
macro_rules! case {
    ($name:ident, |$x:ident, $c:ident| $body:expr) => {
        impl ScalarFn for $name {
            #[inline]
            fn eval<S: Scalar>(&self, $x: &[S]) -> S {
                let $c = S::from_f64;
                $body
            }
        }
        impl Case for $name {
            #[inline]
            fn eval_nd<D: DualNum<Primitive = f64> + Copy>(&self, $x: &[D]) -> D {
                let $c = D::from;
                $body
            }
        }
    };
}

/// Extended (chained) Rosenbrock, as `scipy.optimize.rosen`.
struct Rosenbrock;

case!(Rosenbrock, |x, c| {
    let (one, hundred) = (c(1.0), c(100.0));
    (0..x.len() - 1).map(|i| hundred * (x[i + 1] - x[i] * x[i]).powi(2) + (one - x[i]).powi(2)).sum()
});

/// A small transcendental function of 16 variables:
/// `Σ exp(sin x_i · cos x_{i+1}) + ln(1 + x_i²) · tanh x_{i+1} + atan(x_i) / sqrt(1 + x_{i+1}²)`.
struct Transcendental;

case!(Transcendental, |x, c| {
    let one = c(1.0);
    (0..x.len() - 1)
        .map(|i| {
            let (a, b) = (x[i], x[i + 1]);
            (a.sin() * b.cos()).exp() + (one + a * a).ln() * b.tanh() + a.atan() / (one + b * b).sqrt()
        })
        .sum()
});

/// The point and directions of BENCHMARKS.md (`x_i = -1.2, 1.0, ...`;
/// `u_j[i] = sin((i + 1) sqrt(j + 2))`).
fn point(n: usize) -> Vec<f64> {
    (0..n).map(|i| if i % 2 == 0 { -1.2 } else { 1.0 }).collect()
}

fn direction(j: usize, n: usize) -> Vec<f64> {
    (0..n).map(|i| ((i + 1) as f64 * ((j + 2) as f64).sqrt()).sin()).collect()
}

fn primal<F: Case>(f: &F, x: &[f64]) -> f64 {
    f.eval(x)
}

fn ours_hd<F: Case>(f: &F, x: &[f64], v1: &[f64], v2: &[f64]) -> fomoh::HyperDual<f64> {
    fomoh::hyper_dual(|x| f.eval(x), x, v1, v2).unwrap()
}

fn ours_jet<F: Case>(f: &F, x: &[f64], v: &[f64]) -> fomoh::Jet<f64> {
    fomoh::directional(|x| f.eval(x), x, v).unwrap()
}

fn nd_hd<F: Case>(f: &F, x: &[f64], v1: &[f64], v2: &[f64]) -> HyperDual64 {
    let xs: Vec<HyperDual64> =
        x.iter().zip(v1).zip(v2).map(|((&a, &b), &c)| HyperDual64::new(a, b, c, 0.0)).collect();
    f.eval_nd(&xs)
}

fn ours_k<F: Case, const K: usize>(f: &F, x: &[f64], dirs: &[Vec<f64>; K]) -> Projection<f64>
where
    Dim<K>: Packed,
{
    fomoh::hyperplane(|x| f.eval(x), x, dirs).unwrap()
}

fn ours_pairwise<F: Case>(f: &F, x: &[f64], dirs: &[Vec<f64>]) -> Projection<f64> {
    fomoh::project_pairwise(f, x, dirs).unwrap()
}

fn nd_k<F: Case, const K: usize>(f: &F, x: &[f64], dirs: &[Vec<f64>; K]) -> Dual2SVec64<K> {
    let xs: Vec<Dual2SVec64<K>> = (0..x.len())
        .map(|i| {
            let u = SMatrix::<f64, 1, K>::from_fn(|_, k| dirs[k][i]);
            Dual2SVec64::new(x[i], Derivative::some(u), Derivative::none())
        })
        .collect();
    f.eval_nd(&xs)
}

/// A named variant: a closure that runs one evaluation.
type Variant<'a> = (String, Box<dyn FnMut() + 'a>);

/// One benchmark case: a function at a size, with its point and K = 8 directions.
struct Setup<F> {
    name: String,
    f: F,
    x: Vec<f64>,
    dirs: Vec<Vec<f64>>,
}

impl<F: Case> Setup<F> {
    fn new(name: &str, f: F, n: usize) -> Self {
        Setup { name: name.to_string(), f, x: point(n), dirs: (0..8).map(|j| direction(j, n)).collect() }
    }

    fn arr<const K: usize>(&self) -> [Vec<f64>; K] {
        core::array::from_fn(|j| self.dirs[j].clone())
    }

    /// The variants, by name, as closures that run one evaluation.
    fn variants(&self) -> Vec<Variant<'_>> {
        let (f, x, d) = (&self.f, &self.x[..], &self.dirs);
        let mut v: Vec<Variant<'_>> = vec![
            ("f64 primal".into(), Box::new(move || sink(black_box(primal(f, black_box(x)))))),
            (
                "HyperDual (ours)".into(),
                Box::new(move || sink(black_box(ours_hd(f, black_box(x), &d[0], &d[1])))),
            ),
            (
                "HyperDual64 (num-dual)".into(),
                Box::new(move || sink(black_box(nd_hd(f, black_box(x), &d[0], &d[1])))),
            ),
            ("Jet (ours)".into(), Box::new(move || sink(black_box(ours_jet(f, black_box(x), &d[0]))))),
        ];
        macro_rules! per_k {
            ($($k:literal)*) => {$({
                let dk: [Vec<f64>; $k] = self.arr();
                let dk2 = dk.clone();
                v.push((format!("K={}: HyperK (ours, 1 pass)", $k), Box::new(move || sink(black_box(ours_k(f, black_box(x), &dk))))));
                v.push((format!("K={}: {} HyperDual passes (ours)", $k, $k * ($k + 1) / 2), Box::new(move || sink(black_box(ours_pairwise(f, black_box(x), &d[..$k]))))));
                v.push((format!("K={}: Dual2SVec64 (num-dual)", $k), Box::new(move || sink(black_box(nd_k(f, black_box(x), &dk2))))));
            })*};
        }
        per_k!(2 4 8);
        v
    }
}

/// Nanoseconds per call of each variant: the fastest of `rounds` interleaved rounds, each
/// round long enough (`target`) to make timer resolution irrelevant.
fn measure(variants: &mut [Variant<'_>], rounds: usize, target: Duration) -> Vec<f64> {
    let iters: Vec<u64> = variants
        .iter_mut()
        .map(|(_, run)| {
            let mut n = 1u64;
            loop {
                let t = Instant::now();
                for _ in 0..n {
                    run();
                }
                if t.elapsed() >= target / 4 || n >= 1 << 30 {
                    break (n * 4).max(1);
                }
                n *= 2;
            }
        })
        .collect();
    let mut best = vec![f64::INFINITY; variants.len()];
    for _ in 0..rounds {
        for (k, (_, run)) in variants.iter_mut().enumerate() {
            let t = Instant::now();
            for _ in 0..iters[k] {
                run();
            }
            best[k] = best[k].min(t.elapsed().as_nanos() as f64 / iters[k] as f64);
        }
    }
    best
}

/// One row of the summary: what is compared, the target, the ratio per case.
type Ratio = (String, &'static str, f64);

/// Measures one case, prints its timings, and returns its ratios (larger = ours faster,
/// except the information rows "HyperDual / Jet" and "vs f64 primal").
fn ratio_table<F: Case>(s: &Setup<F>, rounds: usize, target: Duration) -> Vec<Ratio> {
    let mut variants = s.variants();
    let ns = measure(&mut variants, rounds, target);
    let t = |name: &str| ns[variants.iter().position(|(n, _)| n == name).expect("variant")];
    println!("\n### {} (n = {})\n", s.name, s.x.len());
    println!("| variant | time per evaluation | vs f64 primal |");
    println!("|---|---:|---:|");
    let p = t("f64 primal");
    for ((name, _), v) in variants.iter().zip(&ns) {
        println!("| {name} | {} | {:.2}x |", fmt_ns(*v), v / p);
    }
    let hd = t("HyperDual (ours)");
    let mut r: Vec<Ratio> = vec![
        ("num-dual HyperDual64 / our HyperDual".into(), ">= 0.91", t("HyperDual64 (num-dual)") / hd),
        ("our HyperDual / f64 primal".into(), "", hd / p),
        ("our HyperDual / our Jet".into(), "", hd / t("Jet (ours)")),
    ];
    for k in [2usize, 4, 8] {
        let one = t(&format!("K={k}: HyperK (ours, 1 pass)"));
        let passes = k * (k + 1) / 2;
        let pw = t(&format!("K={k}: {passes} HyperDual passes (ours)"));
        let nd = t(&format!("K={k}: Dual2SVec64 (num-dual)"));
        r.push((
            format!("K={k}: {passes} HyperDual passes / one HyperK pass"),
            if k == 4 { ">= 3" } else { "" },
            pw / one,
        ));
        r.push((format!("K={k}: num-dual Dual2SVec64 / HyperK"), if k == 8 { ">= 4" } else { "" }, nd / one));
    }
    r
}

/// The summary table: one column per case.
fn summary(cases: &[(String, Vec<Ratio>)]) {
    println!("\n### Summary (ratios of times; above 1 means the second-named is faster)\n");
    let head: Vec<&str> = cases.iter().map(|(c, _)| c.as_str()).collect();
    println!("| ratio | {} | target |", head.join(" | "));
    println!("|---|{}---|", "---:|".repeat(cases.len()));
    for (row, (label, target, _)) in cases[0].1.iter().enumerate() {
        let vals: Vec<String> = cases.iter().map(|(_, r)| format!("{:.2}", r[row].2)).collect();
        println!("| {label} | {} | {target} |", vals.join(" | "));
    }
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

fn criterion_benches<F: Case>(c: &mut Criterion, s: &Setup<F>) {
    let mut g = c.benchmark_group(format!("{}_n{}", s.name, s.x.len()));
    for (name, mut run) in s.variants() {
        g.bench_function(name, |b| b.iter(&mut run));
    }
    g.finish();
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--ratios") {
        let quick = args.iter().any(|a| a == "--quick");
        // Short batches, many rounds: on a shared machine some batches run undisturbed, and
        // the fastest batch is the estimate.
        let (rounds, target) =
            if quick { (10, Duration::from_millis(1)) } else { (150, Duration::from_millis(1)) };
        println!("fomoh-rs number types, side by side (fastest of {rounds} interleaved rounds)");
        let cases = vec![
            (
                "Rosenbrock n=100".to_string(),
                ratio_table(&Setup::new("Extended Rosenbrock", Rosenbrock, 100), rounds, target),
            ),
            (
                "Rosenbrock n=10⁴".to_string(),
                ratio_table(&Setup::new("Extended Rosenbrock", Rosenbrock, 10_000), rounds, target),
            ),
            (
                "transcendental n=16".to_string(),
                ratio_table(&Setup::new("Transcendental", Transcendental, 16), rounds, target),
            ),
        ];
        summary(&cases);
        return;
    }
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20)
        .configure_from_args();
    criterion_benches(&mut c, &Setup::new("rosenbrock", Rosenbrock, 100));
    criterion_benches(&mut c, &Setup::new("rosenbrock", Rosenbrock, 10_000));
    criterion_benches(&mut c, &Setup::new("transcendental", Transcendental, 16));
    c.final_summary();
}

/// Keeps a result alive for the optimizer (Copy results included).
#[inline(always)]
fn sink<T>(t: T) {
    black_box(t);
}
