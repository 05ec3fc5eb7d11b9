//! The code cache and code-memory release. One test per process section: the counters are
//! process-wide, so this file holds a single test that runs its parts in order.

mod common;

use common::one_hot;
use fomoh_jit::tensor::models;
use fomoh_jit::{cache_stats, compile, compile_with, live_kernels, Mode, Options, TensorBuilder, Tracer};
use fomoh_runtime::Scalar;

fn rosenbrock<S: Scalar>(x: &[S]) -> S {
    let (one, hundred) = (S::one(), S::from_f64(100.0));
    (0..x.len() - 1).map(|i| hundred * (x[i + 1] - x[i] * x[i]).powi(2) + (one - x[i]).powi(2)).sum()
}

fn rss_bytes() -> usize {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = s.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0);
    pages * 4096
}

#[test]
fn cache_hits_and_code_memory_is_released() {
    // --- cache hits: the same function compiled twice generates code once
    let base = cache_stats();
    let a = compile(20, rosenbrock).unwrap();
    let sa = a.prepare(Mode::HyperDual).unwrap();
    let b = compile(20, rosenbrock).unwrap();
    let sb = b.prepare(Mode::HyperDual).unwrap();
    let s = cache_stats();
    assert_eq!(s.misses - base.misses, 1, "{s:?}");
    assert_eq!(s.hits - base.hits, 1, "{s:?}");
    assert_eq!(s.live_kernels, base.live_kernels + 1);
    assert_eq!(sa, sb, "the second program reports the first compilation");
    let x = vec![0.3; 20];
    assert_eq!(a.hyper_dual(&x, &x, &x).unwrap().e12, b.hyper_dual(&x, &x, &x).unwrap().e12);
    // options the kernel does not see (retracing, variants) share its code
    let quiet = Options { retrace: false, max_variants: 3, ..Options::default() };
    let v = compile_with(20, rosenbrock, &quiet).unwrap();
    assert_eq!(v.prepare(Mode::HyperDual).unwrap(), sa);
    assert_eq!(cache_stats().hits - base.hits, 2);
    drop(v);
    // a different mode or a different graph is a miss
    a.prepare(Mode::Jet).unwrap();
    let c = compile(20, |x| rosenbrock(x) * Tracer::from_f64(2.0)).unwrap();
    c.prepare(Mode::HyperDual).unwrap();
    assert_eq!(cache_stats().misses - base.misses, 3);
    // dropping every user of a kernel frees it
    drop(a);
    assert_eq!(live_kernels(), base.live_kernels + 2, "b still holds the hyper-dual kernel, c its own");
    drop(b);
    drop(c);
    assert_eq!(live_kernels(), base.live_kernels);

    // --- compile and drop in a loop: no growth in live kernels or (loosely) in memory
    let round = |i: usize| {
        // a distinct graph each time: no cache hit
        let p = compile(8, move |x| rosenbrock(x) * Tracer::from_f64(1.0 + i as f64)).unwrap();
        p.prepare(Mode::HyperDual).unwrap();
        assert!(p.value(&[0.5; 8]).unwrap().is_finite());
    };
    for i in 0..30 {
        round(i);
    }
    let (rss0, live0) = (rss_bytes(), live_kernels());
    for i in 30..330 {
        round(i);
    }
    let (rss1, live1) = (rss_bytes(), live_kernels());
    assert_eq!(live1, live0);
    let growth = rss1.saturating_sub(rss0);
    eprintln!(
        "RSS {:.1} MB -> {:.1} MB over 300 compile/drop rounds (900 kernels)",
        rss0 as f64 / 1e6,
        rss1 as f64 / 1e6
    );
    assert!(growth < 16 << 20, "RSS grew by {growth} bytes over 300 compile/drop rounds");

    // --- tensor programs share the cache: the same model built twice compiles once per mode
    let base = cache_stats();
    let p1 = models::mlp_minibatch(16, &[8, 5, 3], fomoh_runtime::UnaryOp::Tanh).unwrap();
    let s1 = p1.prepare(Mode::HyperK(4)).unwrap();
    let p2 = models::mlp_minibatch(16, &[8, 5, 3], fomoh_runtime::UnaryOp::Tanh).unwrap();
    let s2 = p2.prepare(Mode::HyperK(4)).unwrap();
    let s = cache_stats();
    assert_eq!((s.misses - base.misses, s.hits - base.hits), (1, 1), "{s:?}");
    assert_eq!(s.live_kernels, base.live_kernels + 1);
    assert_eq!(s1, s2, "the second program reports the first compilation");
    let theta: Vec<f64> = (0..p1.dim()).map(|k| 0.2 * (k as f64).sin()).collect();
    let (x, y) = (vec![0.25; 16 * 8], one_hot(&[1; 16], 3));
    let u = vec![theta.clone(); 4];
    let (a, b) = (p1.bind(&[&x, &y]).unwrap(), p2.bind(&[&x, &y]).unwrap());
    assert_eq!(a.project(&theta, &u).unwrap(), b.project(&theta, &u).unwrap());
    // binding new data reuses the compiled code: no compilation, no lookup
    let x2 = vec![-0.5; 16 * 8];
    let c = p1.bind(&[&x2, &y]).unwrap();
    assert_ne!(c.project(&theta, &u).unwrap().value, a.project(&theta, &u).unwrap().value);
    assert_eq!(cache_stats().misses - base.misses, 1);
    // another mode, another batch size, other data contents or another constant: misses
    p1.prepare(Mode::Primal).unwrap();
    models::mlp_minibatch(17, &[8, 5, 3], fomoh_runtime::UnaryOp::Tanh)
        .unwrap()
        .prepare(Mode::Primal)
        .unwrap();
    let baked = |v: f64| models::logreg(vec![v; 4 * 8], &[0, 1, 2, 0], 8, 3).unwrap();
    let (d1, d2) = (baked(0.5), baked(0.5));
    d1.prepare(Mode::Primal).unwrap();
    d2.prepare(Mode::Primal).unwrap(); // equal data: a hit
    baked(0.25).prepare(Mode::Primal).unwrap(); // other data: a miss
    let s = cache_stats();
    assert_eq!((s.misses - base.misses, s.hits - base.hits), (5, 2), "{s:?}");
    drop((a, b, c, d1, d2));
    drop(p1);
    assert_eq!(live_kernels(), base.live_kernels + 1, "p2 still holds the K = 4 plan");
    drop(p2);
    assert_eq!(live_kernels(), base.live_kernels);

    // --- tensor compile and drop in a loop: no growth
    let tround = |i: usize| {
        // a distinct constant each time: no cache hit
        let mut b = TensorBuilder::new(6);
        let x = b.input(0, &[4, 6]).unwrap();
        let w = b.param(0, &[6, 1]).unwrap();
        let z = b.matmul(x, w).unwrap();
        let z = b.unary(fomoh_runtime::UnaryOp::Tanh, z).unwrap();
        let k = b.constant(1.0 + i as f64);
        let z = b.mul(z, k).unwrap();
        let f = b.sum(z);
        let p = b.finish(f).unwrap();
        let d = [0.5; 24];
        let bound = p.bind(&[&d]).unwrap();
        assert!(bound.hyper_dual(&[0.1; 6], &[1.0; 6], &[0.5; 6]).unwrap().e12.is_finite());
        assert!(bound.value(&[0.1; 6]).unwrap().is_finite());
    };
    for i in 0..30 {
        tround(i);
    }
    let (rss0, live0, m0) = (rss_bytes(), live_kernels(), cache_stats().misses);
    for i in 30..330 {
        tround(i);
    }
    let (rss1, live1) = (rss_bytes(), live_kernels());
    assert_eq!(cache_stats().misses - m0, 600, "two modes compiled per round");
    assert_eq!(live1, live0);
    let growth = rss1.saturating_sub(rss0);
    eprintln!(
        "tensor: RSS {:.1} MB -> {:.1} MB over 300 compile/drop rounds (600 plans)",
        rss0 as f64 / 1e6,
        rss1 as f64 / 1e6
    );
    assert!(growth < 16 << 20, "RSS grew by {growth} bytes over 300 tensor compile/drop rounds");

    // --- f32 and f64 kernels of one graph are distinct cache entries, each shared per type
    let base = cache_stats();
    let p64 = compile(12, rosenbrock).unwrap();
    let s64 = p64.prepare(Mode::HyperDual).unwrap();
    let p32 = p64.with_float::<f32>();
    let s32 = p32.prepare(Mode::HyperDual).unwrap();
    let s = cache_stats();
    assert_eq!((s.misses - base.misses, s.hits - base.hits), (2, 0), "{s:?}");
    assert_eq!(s.live_kernels, base.live_kernels + 2);
    // the same graph traced again hits the entry of its float type
    let q32 = compile(12, rosenbrock).unwrap().with_float::<f32>();
    assert_eq!(q32.prepare(Mode::HyperDual).unwrap(), s32);
    let q64 = compile(12, rosenbrock).unwrap();
    assert_eq!(q64.prepare(Mode::HyperDual).unwrap(), s64);
    let s = cache_stats();
    assert_eq!((s.misses - base.misses, s.hits - base.hits), (2, 2), "{s:?}");
    assert_eq!(s.live_kernels, base.live_kernels + 2);
    let (x32, x64) = (vec![0.5f32; 12], vec![0.5f64; 12]);
    let (h32, h64) = (q32.hyper_dual(&x32, &x32, &x32).unwrap(), p64.hyper_dual(&x64, &x64, &x64).unwrap());
    assert_eq!(h32, p32.hyper_dual(&x32, &x32, &x32).unwrap());
    assert!(((h32.e12 as f64) - h64.e12).abs() <= 1e-5 * h64.e12.abs(), "{h32:?} vs {h64:?}");
    // dropping the f32 programs frees the f32 kernel only
    drop((p32, q32));
    assert_eq!(live_kernels(), base.live_kernels + 1);
    assert_eq!(p64.hyper_dual(&x64, &x64, &x64).unwrap(), h64);
    drop((p64, q64));
    assert_eq!(live_kernels(), base.live_kernels);
}
