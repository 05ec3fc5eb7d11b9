//! Programs instantiated at a large size from traces at small sizes (`Options::instantiate`)
//! against the same programs traced at that size (`instantiate: false`): equal results in
//! every mode on the corpus of data-driven losses and the generic Rosenbrock, at sizes that
//! are not multiples of anything in particular; and functions whose control flow depends on
//! the length are still right (instantiated where the small traces show the dependence,
//! traced in full where they cannot).

mod common;

use common::losses::{self, CORPUS};
use fomoh_jit::{compile_with, compile_with_inputs_opts, BoundProgram, Mode, Options, Program};
use fomoh_runtime::{Projection, Scalar};

/// Instantiation from sizes of 1024 on (the default starts at 4096), so the tests stay fast.
fn on() -> Options {
    Options { instantiate_min_size: 1024, ..Default::default() }
}

fn off() -> Options {
    Options { instantiate: false, ..Default::default() }
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1.0)
}

fn dirs(k: usize, n: usize) -> Vec<Vec<f64>> {
    (0..k).map(|j| (0..n).map(|i| ((1 + i + 3 * j) as f64 * 0.77).sin()).collect()).collect()
}

fn instantiated(p: &Program) -> bool {
    p.prepare(Mode::Primal).unwrap().instantiated
}

fn why_not(p: &Program) -> String {
    p.prepare(Mode::Primal).unwrap().not_instantiated.unwrap_or("").to_string()
}

/// A value, a hyper-dual pass (`re, e1, e2, e12`) and a K = 4 projection.
type Passes = (f64, [f64; 4], Projection<f64>);

/// Runs the passes of one program at a point along four directions.
type Run<'a> = dyn Fn(&[f64], &[Vec<f64>]) -> Passes + 'a;

/// Value, hyper-dual and the K = 4 projection of two evaluators agree to `rel`.
fn agree(what: &str, a: &Run<'_>, b: &Run<'_>, x: &[f64], rel: f64) {
    let d = dirs(4, x.len());
    let (va, ha, pa) = a(x, &d);
    let (vb, hb, pb) = b(x, &d);
    assert!(close(va, vb, rel), "{what}: value {va} vs {vb}");
    for (u, v) in ha.iter().zip(&hb) {
        assert!(close(*u, *v, rel), "{what}: hyper-dual {ha:?} vs {hb:?}");
    }
    assert!(close(pa.value, pb.value, rel), "{what}: projection value");
    for i in 0..4 {
        assert!(close(pa.grad[i], pb.grad[i], rel), "{what}: grad {:?} vs {:?}", pa.grad, pb.grad);
        for j in 0..4 {
            assert!(close(pa.hess[i][j], pb.hess[i][j], rel), "{what}: hess {:?} vs {:?}", pa.hess, pb.hess);
        }
    }
}

fn passes(p: &Program) -> impl Fn(&[f64], &[Vec<f64>]) -> Passes + '_ {
    move |x, d| {
        let hd = p.hyper_dual(x, &d[0], &d[1]).unwrap();
        (p.value(x).unwrap(), [hd.re, hd.e1, hd.e2, hd.e12], p.project(x, d).unwrap())
    }
}

fn bound(q: &BoundProgram) -> impl Fn(&[f64], &[Vec<f64>]) -> Passes + '_ {
    move |x, d| {
        let hd = q.hyper_dual(x, &d[0], &d[1]).unwrap();
        (q.value(x).unwrap(), [hd.re, hd.e1, hd.e2, hd.e12], q.project(x, d).unwrap())
    }
}

fn rosenbrock<S: Scalar>(x: &[S]) -> S {
    let (one, hundred) = (S::one(), S::from_f64(100.0));
    (0..x.len() - 1).map(|i| hundred * (x[i + 1] - x[i] * x[i]).powi(2) + (one - x[i]).powi(2)).sum()
}

fn point(n: usize) -> Vec<f64> {
    (0..n).map(|i| if i % 2 == 0 { -1.2 } else { 1.0 } + 0.01 * (i as f64).sin()).collect()
}

#[test]
fn rosenbrock_instantiated_at_several_sizes_equals_the_full_trace() {
    for n in [1024, 1500, 2049, 3001, 4099] {
        let p = compile_with(n, rosenbrock, &on()).unwrap();
        let full = compile_with(n, rosenbrock, &off()).unwrap();
        assert!(instantiated(&p), "n={n}: {}", why_not(&p));
        assert!(p.is_rerolled() && full.is_rerolled());
        assert!(!instantiated(&full) && why_not(&full).contains("off"), "{}", why_not(&full));
        // the small traces only (nine nodes per term at the largest probe, under 520 terms)
        assert!(p.prepare(Mode::HyperDual).unwrap().traced_nodes < 9 * 520 + 64);
        agree(&format!("rosenbrock n={n}"), &passes(&p), &passes(&full), &point(n), 1e-12);
    }
}

#[test]
fn the_default_threshold_traces_small_programs_in_full() {
    let p = compile_with(2000, rosenbrock, &Options::default()).unwrap();
    assert!(!instantiated(&p));
    assert!(why_not(&p).contains("instantiate_min_size"), "{}", why_not(&p));
    let q = compile_with(5000, rosenbrock, &Options::default()).unwrap();
    assert!(instantiated(&q), "{}", why_not(&q));
}

#[test]
fn every_corpus_loss_instantiated_equals_the_full_trace() {
    for loss in &CORPUS {
        let name = loss.name;
        for n in [1024, 1777, 3001] {
            let lens = [n, n * loss.y_per_point];
            let f =
                move |t: &[fomoh_jit::Tracer], d: &[&[fomoh_jit::Tracer]]| losses::eval(name, t, d[0], d[1]);
            let p = compile_with_inputs_opts(loss.dim, &lens, f, &on()).unwrap();
            let full = compile_with_inputs_opts(loss.dim, &lens, f, &off()).unwrap();
            assert!(instantiated(&p), "{name} n={n}: {}", why_not(&p));
            assert_eq!(p.variants(), 1);
            for seed in [1, 2] {
                let (xs, ys) = losses::data(name, n, seed);
                let (a, b) = (p.bind(&[&xs, &ys]).unwrap(), full.bind(&[&xs, &ys]).unwrap());
                let t = losses::theta0(loss.dim);
                agree(&format!("{name} n={n} seed={seed}"), &bound(&a), &bound(&b), &t, 1e-11);
                // against the loss itself, too
                assert!(close(a.value(&t).unwrap(), losses::eval(name, &t, &xs, &ys), 1e-11), "{name}");
            }
        }
    }
}

#[test]
fn a_special_case_beyond_the_probe_sizes_is_caught_by_the_value_check() {
    // the probes (under 450) take the other branch of the length test
    fn f<S: Scalar>(x: &[S]) -> S {
        if x.len() > 2000 {
            x.iter().map(|&v| v * v).sum()
        } else {
            x.iter().map(|&v| v * v * v * v).sum()
        }
    }
    let n = 3001;
    let p = compile_with(n, f, &on()).unwrap();
    assert!(!instantiated(&p));
    assert!(why_not(&p).contains("value check"), "{}", why_not(&p));
    let full = compile_with(n, f, &off()).unwrap();
    agree("len > 2000", &passes(&p), &passes(&full), &point(n), 1e-12);
    let x = point(n);
    let want: f64 = x.iter().map(|v| v * v).sum();
    assert!(close(p.value(&x).unwrap(), want, 1e-12));
}

#[test]
fn special_leading_terms_and_odd_tails_are_seen_by_the_probes() {
    // the first ten terms weigh three times, and pairs (x_2i, x_2i+1) with an odd tail
    fn lead<S: Scalar>(x: &[S]) -> S {
        let three = S::from_f64(3.0);
        x.iter().enumerate().map(|(i, &v)| if i < 10 { three * v * v } else { (v - S::one()).powi(2) }).sum()
    }
    fn pairs<S: Scalar>(x: &[S]) -> S {
        let body: S = x.chunks(2).map(|c| if c.len() == 2 { (c[0] * c[1]).sin() } else { c[0].exp() }).sum();
        body / S::from_f64(x.len() as f64) + S::from_f64((x.len() - 1) as f64) * x[0]
    }
    for n in [1025, 2048, 3001] {
        for (name, f) in [("lead", lead::<fomoh_jit::Tracer> as fn(&[_]) -> _), ("pairs", pairs)] {
            let p = compile_with(n, f, &on()).unwrap();
            assert!(instantiated(&p), "{name} n={n}: {}", why_not(&p));
            let full = compile_with(n, f, &off()).unwrap();
            agree(&format!("{name} n={n}"), &passes(&p), &passes(&full), &point(n), 1e-12);
        }
    }
}

#[test]
fn a_mean_is_instantiated_and_a_position_not_affine_in_the_size_is_still_right() {
    // a variance around the mean: nested sums and the literal 1 / n
    fn variance<S: Scalar>(x: &[S]) -> S {
        let inv = S::one() / S::from_f64(x.len() as f64);
        let mean = x.iter().copied().sum::<S>() * inv;
        x.iter().map(|&v| (v - mean).powi(2)).sum::<S>() * inv
    }
    // the element at n / 3 (rounded down): its position is not affine in the size
    fn third<S: Scalar>(x: &[S]) -> S {
        let c = x[x.len() / 3];
        x.iter().map(|&v| (v - c).powi(2)).sum()
    }
    for n in [1025, 2048, 3001, 4097] {
        let p = compile_with(n, variance, &on()).unwrap();
        assert!(instantiated(&p), "variance n={n}: {}", why_not(&p));
        let full = compile_with(n, variance, &off()).unwrap();
        agree(&format!("variance n={n}"), &passes(&p), &passes(&full), &point(n), 1e-11);
        // the probes see that the position is not affine: traced in full
        let p = compile_with(n, third, &on()).unwrap();
        assert!(why_not(&p).contains("not affine"), "n/3 n={n}: {}", why_not(&p));
        let full = compile_with(n, third, &off()).unwrap();
        agree(&format!("n/3 n={n}"), &passes(&p), &passes(&full), &point(n), 1e-12);
    }
}

#[test]
fn a_parameter_per_data_point_follows_the_data() {
    // a latent per point with a prior: Σ (t_i - d_i)² + 0.1 Σ t_i², t_{n} the shared scale
    let f = |t: &[fomoh_jit::Tracer], d: &[&[fomoh_jit::Tracer]]| {
        let fit: fomoh_jit::Tracer = d[0].iter().zip(t).map(|(&y, &z)| (z - y).powi(2)).sum();
        let prior: fomoh_jit::Tracer = t[..d[0].len()].iter().map(|&z| z * z).sum();
        fit * t[t.len() - 1].exp() + prior * Scalar::from_f64(0.1)
    };
    for pts in [1024, 1500] {
        // one parameter per point and a shared one: not a multiple of the data size
        let p = compile_with_inputs_opts(pts + 1, &[pts], f, &on()).unwrap();
        assert!(why_not(&p).contains("parameter count"), "{}", why_not(&p));
        // two parameters per point (the last point's second one is the shared scale)
        let p = compile_with_inputs_opts(2 * pts, &[pts], f, &on()).unwrap();
        assert!(instantiated(&p), "{}", why_not(&p));
        let full = compile_with_inputs_opts(2 * pts, &[pts], f, &off()).unwrap();
        let ys = point(pts);
        let (a, b) = (p.bind(&[&ys]).unwrap(), full.bind(&[&ys]).unwrap());
        let t: Vec<f64> = point(2 * pts).iter().map(|v| v - 1.0).collect();
        agree(&format!("per point {pts}"), &bound(&a), &bound(&b), &t, 1e-11);
    }
}

#[test]
fn what_cannot_be_instantiated_is_traced_in_full_and_says_why() {
    // reads a fixed position past the probe sizes: panics there, runs at the real size
    fn fixed<S: Scalar>(x: &[S]) -> S {
        x.iter().map(|&v| v * v).sum::<S>() * x[1500]
    }
    let p = compile_with(2000, fixed, &on()).unwrap();
    assert!(why_not(&p).contains("panicked"), "{}", why_not(&p));
    let full = compile_with(2000, fixed, &off()).unwrap();
    agree("fixed index", &passes(&p), &passes(&full), &point(2000), 1e-12);

    // data lengths with no common size to vary
    let f = |t: &[fomoh_jit::Tracer], d: &[&[fomoh_jit::Tracer]]| {
        d[0].iter().map(|&v| (t[0] - v).powi(2)).sum::<fomoh_jit::Tracer>()
            + d[1].iter().map(|&v| t[1] * v).sum()
    };
    let p = compile_with_inputs_opts(2, &[2000, 2001], f, &on()).unwrap();
    assert!(why_not(&p).contains("common size"), "{}", why_not(&p));
    let (a, b) = (point(2000), point(2001));
    let want: f64 =
        a.iter().map(|v| (0.5 - v).powi(2)).sum::<f64>() + b.iter().map(|v| 0.25 * v).sum::<f64>();
    assert!(close(p.bind(&[&a, &b]).unwrap().value(&[0.5, 0.25]).unwrap(), want, 1e-12));

    // rerolling only from a size the program does not reach
    let late = Options { reroll_min_nodes: 1 << 20, ..on() };
    let p = compile_with(2000, rosenbrock, &late).unwrap();
    assert!(!p.is_rerolled() && why_not(&p).contains("reroll_min_nodes"), "{}", why_not(&p));
    let full = compile_with(2000, rosenbrock, &off()).unwrap();
    agree("not rerolled", &passes(&p), &passes(&full), &point(2000), 1e-12);

    // a product is not a sum: no reroll at the probes
    fn prod<S: Scalar>(x: &[S]) -> S {
        x.iter().fold(S::one(), |a, &v| a * (S::one() + v * v * S::from_f64(1e-3)))
    }
    let p = compile_with(1500, prod, &on()).unwrap();
    assert!(why_not(&p).contains("reroll"), "{}", why_not(&p));
}

#[test]
fn an_instantiated_program_traces_its_graph_on_demand_and_converts_to_f32() {
    let n = 2000;
    let p = compile_with(n, rosenbrock, &on()).unwrap();
    assert!(instantiated(&p));
    let full = compile_with(n, rosenbrock, &off()).unwrap();
    // the full graph, traced when asked for: the same as the program traced in full
    assert_eq!(p.graph().nodes.len(), full.graph().nodes.len());
    assert!(p.guards().is_empty());
    let x = point(n);
    let i = p.interpret(Mode::Primal, &[&x]).unwrap()[0];
    assert!(close(i, p.value(&x).unwrap(), 1e-12));
    let p32 = p.with_float::<f32>();
    let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    assert!(close(p32.value(&x32).unwrap() as f64, p.value(&x).unwrap(), 1e-4));
    // a clone shares the instance
    assert!(instantiated(&p.clone()));
}
