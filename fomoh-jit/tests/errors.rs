//! Every error path of the JIT: lengths, unsupported K, graph-size limits, guards, values
//! escaping the trace, tracers of another trace; and segment splitting gives the same code
//! results as one function.

mod common;
use common::*;
use fomoh_jit::{compile, compile_at, compile_with, CodegenOptions, JitError, Mode, Options, Tracer};
use fomoh_runtime::{Error, Objective, Scalar};
use std::cell::Cell;

fn rosenbrock<S: Scalar>(x: &[S]) -> S {
    let (one, hundred) = (S::one(), S::from_f64(100.0));
    (0..x.len() - 1).map(|i| hundred * (x[i + 1] - x[i] * x[i]).powi(2) + (one - x[i]).powi(2)).sum()
}

fn is_length(e: &Error, what: &str) -> bool {
    matches!(e, Error::Length { what: w, expected: 3, .. } if w.contains(what))
}

#[test]
fn wrong_lengths_are_errors_before_native_code_runs() {
    let p = compile(3, rosenbrock).unwrap();
    let (x, v) = ([1.0, 2.0, 3.0], [1.0, 0.0, 0.0]);
    assert!(is_length(&p.value(&[1.0, 2.0]).unwrap_err(), "x"));
    assert!(is_length(&p.value(&[0.0; 4]).unwrap_err(), "x"));
    assert!(is_length(&p.hyper_dual(&x, &[1.0], &v).unwrap_err(), "v1"));
    assert!(is_length(&p.hyper_dual(&x, &v, &[]).unwrap_err(), "v2"));
    assert!(is_length(&p.directional(&x, &[1.0; 5]).unwrap_err(), "v"));
    let e = p.project(&x, &[v.to_vec(), vec![1.0, 2.0]]).unwrap_err();
    assert!(is_length(&e, "dirs[1]"), "{e}");
    assert!(is_length(&Objective::gradient(&p, &[1.0]).unwrap().unwrap_err(), "x"));
    // the interpreter checks too
    assert!(p.interpret(Mode::Primal, &[&[1.0]]).is_err());
    assert!(p.interpret(Mode::HyperDual, &[&x]).is_err());
}

#[test]
fn no_directions_is_an_error_and_more_than_16_take_pairs_of_hyper_dual_passes() {
    let p = compile(3, rosenbrock).unwrap();
    let x = [0.5, -0.3, 1.2];
    assert!(matches!(p.project(&x, &[]).unwrap_err(), Error::InvalidArgument(_)));
    assert!(matches!(Objective::project(&p, &x, &[]).unwrap_err(), Error::InvalidArgument(_)));
    assert!(matches!(p.prepare(Mode::HyperK(0)).unwrap_err(), Error::Unsupported(_)));
    assert!(
        matches!(p.prepare(Mode::HyperK(17)).unwrap_err(), Error::Unsupported(m) if m.contains("K = 17"))
    );
    // beyond 16 directions: K(K+1)/2 compiled hyper-dual passes, the method and the Objective alike
    let dirs17: Vec<Vec<f64>> = (0..17).map(|j| direction(j, 3)).collect();
    let pr = p.project(&x, &dirs17).unwrap();
    assert_eq!(pr.passes, 17 * 18 / 2);
    assert_eq!(Objective::project(&p, &x, &dirs17).unwrap(), pr);
    let f = fomoh_runtime::scalar_fn!(rosenbrock);
    let rt = fomoh_runtime::project_pairwise(&f, &x, &dirs17).unwrap();
    assert_eq!(rt.passes, pr.passes);
    assert_close("pairwise K=17", &flat_proj(&pr), &flat_proj(&rt), 1e-12);
    // a wrong length among them is still a typed length error
    let mut bad = dirs17.clone();
    bad[16].pop();
    assert!(matches!(p.project(&x, &bad).unwrap_err(), Error::Length { .. }));
}

#[test]
fn graph_size_limits_give_typed_errors() {
    let small = Options { max_traced_nodes: 20, ..Options::default() };
    let e = compile_with(10, rosenbrock, &small).unwrap_err();
    assert!(
        matches!(&e, Error::Backend { backend: "jit", message } if message.contains("graph too large")),
        "{e}"
    );
    let e = compile_with(30, |x| x[0], &small).unwrap_err();
    assert!(matches!(&e, Error::Backend { message, .. } if message.contains("graph too large")));

    // the staged-graph limit of the straight-line path (a rerolled program stages loop bodies)
    let staged = Options { max_staged_nodes: 50, reroll: false, ..Options::default() };
    let p = compile_with(10, rosenbrock, &staged).unwrap();
    let e = p.hyper_dual(&[1.0; 10], &[1.0; 10], &[1.0; 10]).unwrap_err();
    assert!(matches!(&e, Error::Backend { message, .. } if message.contains("staged graph")), "{e}");
    assert!(p.prepare(Mode::HyperK(4)).is_err());
    assert!(p.value(&[1.0; 10]).is_err(), "the primal needs more than 50 nodes too");
}

fn branchy<S: Scalar>(x: &[S]) -> S {
    if x[0] > x[1] {
        x[0] * x[0]
    } else {
        (x[1] - x[0]).exp()
    }
}

#[test]
fn a_branch_not_taken_at_trace_time_is_an_error_never_a_wrong_derivative() {
    let p = compile_at(&[2.0, 1.0], branchy).unwrap();
    assert_eq!(p.guards().len(), 1);
    // the traced branch: agrees with the runtime
    let hd = p.hyper_dual(&[3.0, 1.0], &[1.0, 0.0], &[1.0, 0.0]).unwrap();
    assert_eq!((hd.re, hd.e1, hd.e12), (9.0, 6.0, 2.0));
    // the other branch: an error in every mode
    let x = [1.0, 2.0];
    for e in [
        p.value(&x).unwrap_err(),
        p.hyper_dual(&x, &[1.0, 0.0], &[0.0, 1.0]).unwrap_err(),
        p.directional(&x, &[1.0, 0.0]).unwrap_err(),
        p.project(&x, &[vec![1.0, 0.0]]).unwrap_err(),
        p.interpret(Mode::Primal, &[&x]).unwrap_err(),
    ] {
        assert!(matches!(&e, Error::GuardFailed(message) if message.contains("guard failed")), "{e}");
    }
    // at the tie the traced `>` is false: also refused
    assert!(p.value(&[1.5, 1.5]).is_err());
    // a NaN input makes `>` false: refused rather than answered from the wrong branch
    assert!(p.value(&[f64::NAN, 1.0]).is_err());

    // compile: both sides as a select (one program); without selects, traced without a point
    // (inputs NaN, `>` false: the else branch), the other branch traced when an input takes
    // it, or refused in strict mode
    let q = compile(2, branchy).unwrap();
    assert_eq!(q.value(&[1.0, 2.0]).unwrap(), 1.0f64.exp());
    assert_eq!(q.value(&[2.0, 1.0]).unwrap(), 4.0);
    assert_eq!(q.variants(), 1);
    let guarded =
        compile_with(2, branchy, &Options { select_branches: false, ..Options::default() }).unwrap();
    assert_eq!(guarded.value(&[1.0, 2.0]).unwrap(), 1.0f64.exp());
    assert_eq!(guarded.variants(), 1);
    assert_eq!(guarded.value(&[2.0, 1.0]).unwrap(), 4.0);
    assert_eq!(guarded.variants(), 2);
    let strict =
        compile_with(2, branchy, &Options { retrace: false, select_branches: false, ..Options::default() })
            .unwrap();
    assert!(matches!(strict.value(&[2.0, 1.0]), Err(Error::GuardFailed(_))));
}

#[test]
fn max_min_abs_relu_are_ops_not_guards() {
    let p = compile(2, |x| x[0].max(x[1]) + x[0].min(x[1]) * x[1].abs() + (x[0] - x[1]).relu()).unwrap();
    assert!(p.guards().is_empty());
    for x in [[1.0, 2.0], [2.0, 1.0], [-1.0, -3.0], [0.5, -0.5]] {
        let v = [1.0, 0.5];
        let hd = p.hyper_dual(&x, &v, &v).unwrap();
        let f = |x: &[fomoh_runtime::HyperDual<f64>]| {
            x[0].max(x[1]) + x[0].min(x[1]) * x[1].abs() + (x[0] - x[1]).relu()
        };
        let rt = fomoh_runtime::hyper_dual(f, &x, &v, &v).unwrap();
        assert_close("piecewise", &flat_hd(hd), &flat_hd(rt), 1e-15);
    }
}

#[test]
fn reading_an_input_dependent_value_is_refused() {
    let e = compile(1, |x| if x[0].value() > 0.0 { x[0] } else { -x[0] }).unwrap_err();
    assert!(matches!(&e, Error::Backend { message, .. } if message.contains("value()")), "{e}");
    // reading a constant's value is fine
    let p = compile(1, |x| x[0] * Tracer::from_f64(Tracer::from_f64(2.0).value())).unwrap();
    assert_eq!(p.value(&[3.0]).unwrap(), 6.0);
}

thread_local! {
    static LEAK: Cell<Option<Tracer>> = const { Cell::new(None) };
}

#[test]
fn tracers_of_another_trace_are_refused() {
    let _ = compile(1, |x| {
        LEAK.with(|l| l.set(Some(x[0])));
        x[0]
    })
    .unwrap();
    let old = LEAK.with(|l| l.get()).unwrap();
    let e = compile(1, move |x| x[0] + old).unwrap_err();
    assert!(matches!(&e, Error::Backend { message, .. } if message.contains("different trace")), "{e}");
    // returning the old tracer itself
    let e = compile(1, move |_| old).unwrap_err();
    assert!(matches!(&e, Error::Backend { .. }));
    // a tracer made outside any trace is foreign inside one
    let orphan = Tracer::from_f64(1.0);
    assert!(compile(1, move |x| x[0] * orphan).is_err());
}

#[test]
fn jit_errors_map_onto_the_runtime_error() {
    let e: Error = JitError::Length { what: "x".into(), expected: 2, found: 1 }.into();
    assert_eq!(e, Error::Length { what: "x".into(), expected: 2, found: 1 });
    assert!(matches!(Error::from(JitError::Unsupported("k".into())), Error::Unsupported(_)));
    assert!(matches!(Error::from(JitError::Codegen("c".into())), Error::Backend { backend: "jit", .. }));
    assert!(matches!(Error::from(JitError::ValueEscape), Error::Backend { backend: "jit", .. }));
}

#[test]
fn split_functions_compute_what_one_function_computes() {
    let n = 12;
    let x: Vec<f64> = (0..n).map(|i| 0.1 * i as f64 - 0.4).collect();
    let f = |x: &[Tracer]| rosenbrock(x) + x.iter().map(|&v| v.sin() * v.cos()).sum::<Tracer>();
    // segments of the straight-line path (rerolling off: the sums would become tensor loops)
    let one = Options {
        codegen: CodegenOptions { segment_nodes: 1 << 20, ..CodegenOptions::default() },
        reroll: false,
        ..Options::default()
    };
    let whole = compile_with(n, f, &one).unwrap();
    let tiny = Options {
        codegen: CodegenOptions { segment_nodes: 7, ..CodegenOptions::default() },
        reroll: false,
        ..Options::default()
    };
    let split = compile_with(n, f, &tiny).unwrap();
    let stats = split.prepare(Mode::HyperK(3)).unwrap();
    assert!(stats.functions > 10, "{stats:?}");
    assert_eq!(whole.prepare(Mode::HyperK(3)).unwrap().functions, 1);
    let dirs: [Vec<f64>; 3] = core::array::from_fn(|j| direction(j, n));
    assert_same(
        "split K=3",
        &flat_proj(&split.project(&x, &dirs).unwrap()),
        &flat_proj(&whole.project(&x, &dirs).unwrap()),
    );
    let (v1, v2) = (&dirs[0], &dirs[1]);
    assert_same(
        "split hd",
        &flat_hd(split.hyper_dual(&x, v1, v2).unwrap()),
        &flat_hd(whole.hyper_dual(&x, v1, v2).unwrap()),
    );
    assert_eq!(split.value(&x).unwrap(), whole.value(&x).unwrap());
    // a guard inside a later segment still stops the program
    let g = |x: &[Tracer]| {
        let s = rosenbrock(x);
        if s > Tracer::from_f64(0.0) {
            s
        } else {
            -s
        }
    };
    let strict = Options { retrace: false, select_branches: false, ..tiny.clone() };
    let p = compile_with(n, g, &strict).unwrap();
    let e = p.value(&x).unwrap_err();
    assert!(
        matches!(e, Error::GuardFailed(_)),
        "traced with NaN inputs: `s > 0` false, real inputs give s > 0"
    );
    // traced again at x (the guard in a later segment told it to)
    let r = compile_with(n, g, &Options { select_branches: false, ..tiny.clone() }).unwrap();
    let expected = rosenbrock(&x[..]);
    assert!((r.value(&x).unwrap() - expected).abs() <= 1e-12 * expected, "{expected}");
    assert_eq!(r.variants(), 2);
    let unopt = Options {
        codegen: CodegenOptions { optimize: false, ..CodegenOptions::default() },
        reroll: false,
        ..Options::default()
    };
    let q = compile_with(n, f, &unopt).unwrap();
    assert_same(
        "unoptimized",
        &flat_proj(&q.project(&x, &dirs).unwrap()),
        &flat_proj(&whole.project(&x, &dirs).unwrap()),
    );
}

#[test]
fn retracing_objective_traces_each_branch_once_and_agrees_with_the_runtime() {
    use fomoh_jit::Retracing;
    let obj = Retracing::new(2, fomoh_runtime::scalar_fn!(branchy));
    let reference = fomoh_runtime::objective(2, fomoh_runtime::scalar_fn!(branchy));
    let dirs: Vec<Vec<f64>> = (0..3).map(|j| direction(j, 2)).collect();
    for x in [[2.0, 1.0], [1.0, 2.0], [3.0, -1.0], [-4.0, 0.5]] {
        let hd = obj.hyper_dual(&x, &dirs[0], &dirs[1]).unwrap();
        assert_close(
            "retracing hd",
            &flat_hd(hd),
            &flat_hd(reference.hyper_dual(&x, &dirs[0], &dirs[1]).unwrap()),
            1e-12,
        );
        let p = obj.project(&x, &dirs).unwrap();
        let passes = p.passes;
        assert_eq!(passes, 1);
        assert_close(
            "retracing K=3",
            &flat_proj(&p),
            &flat_proj(&reference.project(&x, &dirs).unwrap()),
            1e-12,
        );
        assert_eq!(obj.value(&x).unwrap(), reference.value(&x).unwrap());
    }
    assert_eq!(obj.variants(), 2, "one variant per branch");
    assert!(matches!(obj.value(&[1.0]), Err(Error::Length { expected: 2, found: 1, .. })));
    let capped = Retracing::new(2, fomoh_runtime::scalar_fn!(branchy)).max_variants(1);
    assert!(capped.value(&[2.0, 1.0]).is_ok());
    let e = capped.value(&[1.0, 2.0]).unwrap_err();
    assert!(
        matches!(&e, Error::GuardFailed(message) if message.contains("limit of 1 traced variants")),
        "{e}"
    );
}
