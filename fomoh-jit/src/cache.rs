//! The compiled-code cache: keyed by a structural hash of the traced graph, the mode, the
//! float type ([`crate::FloatType`]) and the options, so compiling the same function twice
//! costs a trace and a lookup. Tensor programs ([`crate::tensor`]) share it: their key is the
//! structural hash of the tensor graph (ops, shapes, literals, data contents, parameter
//! count, output), the mode and the code generator's options.
//!
//! The cache holds weak references: code lives exactly as long as some program uses it and
//! its memory is released when the last one is dropped.
//!
//! This module is only the map and its counters: each kind of compiled code defines its own
//! key and compile step ([`crate::Program`]'s kernels, [`crate::tensor::TensorProgram`]'s
//! plans) and keeps its entries in a cache of its own; the counters are shared.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

static HITS: AtomicU64 = AtomicU64::new(0);
static MISSES: AtomicU64 = AtomicU64::new(0);
static LIVE_CODE: AtomicUsize = AtomicUsize::new(0);

/// One cache entry: what identifies the compiled value (`key`) and a weak reference to it
/// (the code is owned by the programs that use it, not by the cache).
struct Entry<K, V> {
    key: K,
    value: Weak<V>,
}

/// A process-wide map from keys (`K`, equal keys meaning the same code) to compiled values
/// (`V`), bucketed by the keys' structural hash, holding only weak references.
pub(crate) struct Cache<K, V> {
    table: Mutex<HashMap<u64, Vec<Entry<K, V>>>>,
}

impl<K: PartialEq, V> Cache<K, V> {
    /// An empty cache.
    pub(crate) fn new() -> Self {
        Cache { table: Mutex::new(HashMap::new()) }
    }

    /// The live value entered under a key equal to `key` (whose structural hash is `hash`),
    /// or else the value of `compile(&key)`, entered under `key`. Counts a hit or a miss; if
    /// another thread entered an equal value while this one compiled, that value is returned
    /// (this one is dropped and its code freed). Entries whose value was dropped are
    /// forgotten.
    pub(crate) fn get_or_compile<E>(
        &self,
        hash: u64,
        key: K,
        compile: impl FnOnce(&K) -> Result<V, E>,
    ) -> Result<Arc<V>, E> {
        let find = |cache: &mut HashMap<u64, Vec<Entry<K, V>>>| -> Option<Arc<V>> {
            let bucket = cache.get_mut(&hash)?;
            bucket.retain(|e| e.value.strong_count() > 0);
            bucket.iter().filter(|e| e.key == key).find_map(|e| e.value.upgrade())
        };
        {
            let mut cache = self.table.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(v) = find(&mut cache) {
                HITS.fetch_add(1, Ordering::SeqCst);
                return Ok(v);
            }
        }
        let v = Arc::new(compile(&key)?);
        MISSES.fetch_add(1, Ordering::SeqCst);
        let mut cache = self.table.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(existing) = find(&mut cache) {
            return Ok(existing); // another thread won the race; ours is dropped and freed
        }
        // Forget entries whose code was freed (their programs were all dropped).
        cache.retain(|_, bucket| {
            bucket.retain(|e| e.value.strong_count() > 0);
            !bucket.is_empty()
        });
        cache.entry(hash).or_default().push(Entry { key, value: Arc::downgrade(&v) });
        Ok(v)
    }
}

/// Held by every block of compiled code while it lives: counts it in
/// [`CacheStats::live_kernels`] (the count drops when the token does, after the code is freed).
pub(crate) struct LiveCode(());

impl LiveCode {
    /// Counts one more block of compiled code.
    pub(crate) fn new() -> Self {
        LIVE_CODE.fetch_add(1, Ordering::SeqCst);
        LiveCode(())
    }
}

impl Drop for LiveCode {
    fn drop(&mut self) {
        LIVE_CODE.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The blocks of compiled code alive now.
pub(crate) fn live_code() -> usize {
    LIVE_CODE.load(Ordering::SeqCst)
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
        live_kernels: live_code(),
    }
}
