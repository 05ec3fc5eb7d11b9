//! The compiled-code cache: keyed by a structural hash of the traced graph, the mode, the
//! float type ([`crate::FloatType`]) and the options, so compiling the same function twice
//! costs a trace and a lookup. Tensor programs ([`crate::tensor`]) share it: their key is the
//! structural hash of the tensor graph (ops, shapes, literals, data contents, parameter
//! count, output), the mode and the code generator's options.
//!
//! The cache holds weak references: code lives exactly as long as some program uses it and
//! its memory is released when the last one is dropped.

use crate::codegen::{self, CodegenOptions, CompileStats, Kernel};
use crate::error::JitResult;
use crate::float::FloatType;
use crate::ir::Graph;
use crate::program::Options;
use crate::stage::{self, Mode};
use crate::tensor::{self, LoopStrategy, Plan, TNode};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::Instant;

/// One cache entry: what identifies the compiled value (`key`) and a weak reference to it
/// (the code is owned by the programs that use it, not by the cache).
struct Entry<K, V> {
    key: K,
    value: Weak<V>,
}

/// A process-wide cache: entries bucketed by the structural hash of their key.
type Table<K, V> = LazyLock<Mutex<HashMap<u64, Vec<Entry<K, V>>>>>;

/// What identifies a compiled scalar kernel.
struct KernelKey {
    graph: Arc<Graph>,
    mode: Mode,
    float: FloatType,
    options: Options,
}

static CACHE: Table<KernelKey, Kernel> = LazyLock::new(|| Mutex::new(HashMap::new()));
static HITS: AtomicU64 = AtomicU64::new(0);
static MISSES: AtomicU64 = AtomicU64::new(0);

/// The live value in `table` under `hash` whose key satisfies `is_same`, or else the value
/// of `compile` (entered under `make_key()`). Counts a hit or a miss; if another thread
/// entered an equal value while this one compiled, that value is returned (this one is
/// dropped and its code freed). Entries whose value was dropped are forgotten.
fn get_or_compile<K, V>(
    table: &Table<K, V>,
    hash: u64,
    is_same: impl Fn(&K) -> bool,
    compile: impl FnOnce() -> JitResult<V>,
    make_key: impl FnOnce() -> K,
) -> JitResult<Arc<V>> {
    let find = |cache: &mut HashMap<u64, Vec<Entry<K, V>>>| -> Option<Arc<V>> {
        let bucket = cache.get_mut(&hash)?;
        bucket.retain(|e| e.value.strong_count() > 0);
        bucket.iter().filter(|e| is_same(&e.key)).find_map(|e| e.value.upgrade())
    };
    {
        let mut cache = table.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(v) = find(&mut cache) {
            HITS.fetch_add(1, Ordering::SeqCst);
            return Ok(v);
        }
    }
    let v = Arc::new(compile()?);
    MISSES.fetch_add(1, Ordering::SeqCst);
    let mut cache = table.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(existing) = find(&mut cache) {
        return Ok(existing); // another thread won the race; ours is dropped and freed
    }
    // Forget entries whose code was freed (their programs were all dropped).
    cache.retain(|_, bucket| {
        bucket.retain(|e| e.value.strong_count() > 0);
        !bucket.is_empty()
    });
    cache.entry(hash).or_default().push(Entry { key: make_key(), value: Arc::downgrade(&v) });
    Ok(v)
}

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

/// The compiled kernel for `graph` in `mode` over `float`, from the cache or freshly compiled.
pub(crate) fn kernel(
    graph: &Arc<Graph>,
    hash: u64,
    mode: Mode,
    float: FloatType,
    options: &Options,
) -> JitResult<Arc<Kernel>> {
    get_or_compile(
        &CACHE,
        hash,
        |k| {
            k.mode == mode
                && k.float == float
                && k.options == *options
                && (Arc::ptr_eq(&k.graph, graph) || *k.graph == **graph)
        },
        || {
            let t0 = Instant::now();
            let staged = stage::stage(graph, mode, options.max_staged_nodes)?;
            let stage_time = t0.elapsed();
            let t1 = Instant::now();
            let mut k = codegen::compile(&staged, &options.codegen, float)?;
            k.stats = CompileStats {
                traced_nodes: graph.nodes.len(),
                stage_time,
                codegen_time: t1.elapsed(),
                ..k.stats
            };
            Ok(k)
        },
        || KernelKey { graph: graph.clone(), mode, float, options: options.clone() },
    )
}

/// What identifies a tensor graph in the cache.
pub(crate) struct TensorKey {
    /// The nodes (shared with the program).
    pub nodes: Arc<Vec<TNode>>,
    /// The output node.
    pub output: u32,
    /// The parameter count.
    pub n_params: usize,
    /// [`tensor::structural_hash`] of the above.
    pub hash: u64,
}

/// What identifies a compiled tensor plan.
struct PlanKey {
    key: TensorKey,
    mode: Mode,
    float: FloatType,
    codegen: CodegenOptions,
    strategy: LoopStrategy,
}

static TENSOR_CACHE: Table<PlanKey, Plan> = LazyLock::new(|| Mutex::new(HashMap::new()));

/// The compiled plan of the tensor graph `key` in `mode` over `float`, from the cache or
/// from `compile`. Counted in the same hits and misses as the scalar kernels
/// ([`cache_stats`]).
pub(crate) fn tensor_plan(
    key: &TensorKey,
    mode: Mode,
    float: FloatType,
    (codegen, strategy): (&CodegenOptions, LoopStrategy),
    compile: impl FnOnce() -> JitResult<Plan>,
) -> JitResult<Arc<Plan>> {
    get_or_compile(
        &TENSOR_CACHE,
        key.hash,
        |e| {
            e.mode == mode
                && e.float == float
                && e.codegen == *codegen
                && e.strategy == strategy
                && e.key.output == key.output
                && e.key.n_params == key.n_params
                && (Arc::ptr_eq(&e.key.nodes, &key.nodes) || tensor::same_nodes(&e.key.nodes, &key.nodes))
        },
        compile,
        || PlanKey {
            key: TensorKey {
                nodes: key.nodes.clone(),
                output: key.output,
                n_params: key.n_params,
                hash: key.hash,
            },
            mode,
            float,
            codegen: codegen.clone(),
            strategy,
        },
    )
}
