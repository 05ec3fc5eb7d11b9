//! The code cache and code-memory release. One test per process section: the counters are
//! process-wide, so this file holds a single test that runs its parts in order.

use fomoh_jit::{cache_stats, compile, live_kernels, Mode, Tracer};
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
        let p = compile(8, |x| rosenbrock(x) * Tracer::from_f64(1.0 + i as f64)).unwrap();
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
}
