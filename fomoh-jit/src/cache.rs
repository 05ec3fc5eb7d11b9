//! The compiled-code cache: keyed by a structural hash of the traced graph, the mode and
//! the options, so compiling the same function twice costs a trace and a lookup.
//!
//! The cache holds weak references: code lives exactly as long as some program uses it and
//! its memory is released when the last one is dropped.

use crate::codegen::{self, CompileStats, Kernel};
use crate::error::JitResult;
use crate::ir::Graph;
use crate::program::Options;
use crate::stage::{self, Mode};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::Instant;

struct Entry {
    graph: Arc<Graph>,
    mode: Mode,
    options: Options,
    kernel: Weak<Kernel>,
}

static CACHE: LazyLock<Mutex<HashMap<u64, Vec<Entry>>>> = LazyLock::new(|| Mutex::new(HashMap::new()));
static HITS: AtomicU64 = AtomicU64::new(0);
static MISSES: AtomicU64 = AtomicU64::new(0);

/// Counters of the process-wide code cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Compilations served from the cache.
    pub hits: u64,
    /// Compilations that generated code.
    pub misses: u64,
    /// Kernels alive now (in the cache or not).
    pub live_kernels: usize,
}

/// The cache counters so far.
pub fn cache_stats() -> CacheStats {
    CacheStats {
        hits: HITS.load(Ordering::SeqCst),
        misses: MISSES.load(Ordering::SeqCst),
        live_kernels: codegen::live_kernels(),
    }
}

/// The compiled kernel for `graph` in `mode`, from the cache or freshly compiled.
pub(crate) fn kernel(graph: &Arc<Graph>, hash: u64, mode: Mode, options: &Options) -> JitResult<Arc<Kernel>> {
    let find = |cache: &mut HashMap<u64, Vec<Entry>>| -> Option<Arc<Kernel>> {
        let bucket = cache.get_mut(&hash)?;
        bucket.retain(|e| e.kernel.strong_count() > 0);
        bucket
            .iter()
            .filter(|e| {
                e.mode == mode
                    && e.options == *options
                    && (Arc::ptr_eq(&e.graph, graph) || *e.graph == **graph)
            })
            .find_map(|e| e.kernel.upgrade())
    };
    {
        let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = find(&mut cache) {
            HITS.fetch_add(1, Ordering::SeqCst);
            return Ok(k);
        }
    }
    let t0 = Instant::now();
    let staged = stage::stage(graph, mode, options.max_staged_nodes)?;
    let stage_time = t0.elapsed();
    let t1 = Instant::now();
    let mut k = codegen::compile(&staged, &options.codegen)?;
    k.stats =
        CompileStats { traced_nodes: graph.nodes.len(), stage_time, codegen_time: t1.elapsed(), ..k.stats };
    let k = Arc::new(k);
    MISSES.fetch_add(1, Ordering::SeqCst);
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(existing) = find(&mut cache) {
        return Ok(existing); // another thread won the race; ours is dropped and freed
    }
    // Forget entries whose code was freed (their programs were all dropped).
    cache.retain(|_, bucket| {
        bucket.retain(|e| e.kernel.strong_count() > 0);
        !bucket.is_empty()
    });
    cache.entry(hash).or_default().push(Entry {
        graph: graph.clone(),
        mode,
        options: options.clone(),
        kernel: Arc::downgrade(&k),
    });
    Ok(k)
}
