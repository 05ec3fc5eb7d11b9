//! [`Traced`]: one traced graph with its compiled forward passes (per mode, cached) and its
//! rerolled form: the engine behind every [`super::Program`] variant.

use super::Options;
use crate::cache::Cache;
use crate::codegen::{self, CompileStats, Kernel};
use crate::error::{check_len, JitError, JitResult};
use crate::float::JitFloat;
use crate::ir::Graph;
use crate::reroll;
use crate::stage::{self, needs_guards, Guards, Mode, GUARDED_SLOTS};
use crate::tensor::TensorProgram;
use std::sync::{Arc, LazyLock, OnceLock};
use std::time::Instant;

/// What identifies a compiled kernel in the code cache: the traced graph, the mode, the
/// float type and the options that shape the code (the staging limit, the code generator's
/// settings; not those about tracing, rerolling or variants, which the kernel does not see).
struct KernelKey {
    graph: Arc<Graph>,
    mode: Mode,
    guards: Guards,
    float: crate::float::FloatType,
    max_staged_nodes: usize,
    codegen: crate::codegen::CodegenOptions,
}

impl PartialEq for KernelKey {
    /// The same graph (compared in full unless shared) in the same mode, float type and
    /// code options.
    fn eq(&self, k: &KernelKey) -> bool {
        self.mode == k.mode
            && self.guards == k.guards
            && self.float == k.float
            && self.max_staged_nodes == k.max_staged_nodes
            && self.codegen == k.codegen
            && (Arc::ptr_eq(&self.graph, &k.graph) || *self.graph == *k.graph)
    }
}

/// The process-wide cache of compiled kernels.
static KERNELS: LazyLock<Cache<KernelKey, Kernel>> = LazyLock::new(Cache::new);

/// The compiled kernel for `graph` (of structural hash `hash`) in `mode`, staged with or
/// without the zero-tangent guards, from the code cache or freshly staged and compiled.
fn kernel<T: JitFloat>(
    graph: &Arc<Graph>,
    hash: u64,
    (mode, guards): (Mode, Guards),
    options: &Options,
) -> JitResult<Arc<Kernel>> {
    let key = KernelKey {
        graph: graph.clone(),
        mode,
        guards,
        float: T::TYPE,
        max_staged_nodes: options.max_staged_nodes,
        codegen: options.codegen.clone(),
    };
    KERNELS.get_or_compile(hash, key, |k| {
        let t0 = Instant::now();
        let staged = k.guards.scope(|| stage::stage(&k.graph, k.mode, k.max_staged_nodes))?;
        let stage_time = t0.elapsed();
        let t1 = Instant::now();
        let mut kernel = codegen::compile(&staged, &k.codegen, k.float)?;
        kernel.stats = CompileStats {
            traced_nodes: k.graph.nodes.len(),
            stage_time,
            codegen_time: t1.elapsed(),
            ..kernel.stats
        };
        Ok(kernel)
    })
}

/// One traced graph, compiled on demand per mode over `T`.
pub(crate) struct Traced<T: JitFloat> {
    pub(crate) graph: Arc<Graph>,
    hash: u64,
    options: Options,
    /// Per mode, the plain code, then the guarded code (see [`Guards`]).
    kernels: [OnceLock<JitResult<Arc<Kernel>>>; GUARDED_SLOTS],
    /// The rerolled tensor program, or why there is none (decided on first use).
    rerolled: OnceLock<Result<Arc<Rerolled<T>>, &'static str>>,
}

/// A rerolled program: the tensor program and the guard checks it must run first.
struct Rerolled<T: JitFloat> {
    tensor: TensorProgram<T>,
    /// The traced guards (primal-only, never rerolled), checked before every run.
    guards: Option<Box<Traced<T>>>,
    /// Guards reading values computed inside the terms: the rerolled program counting the
    /// guards whose outcome differs from the trace's (run before every pass) and the guards'
    /// graph, interpreted only when that count is not zero, to name the failed guard.
    violations: Option<(TensorProgram<T>, Graph)>,
}

impl<T: JitFloat> Traced<T> {
    pub(crate) fn new(g: Graph, options: Options) -> Self {
        let hash = g.structural_hash();
        Traced::from_parts(Arc::new(g), hash, options)
    }

    fn from_parts(graph: Arc<Graph>, hash: u64, options: Options) -> Self {
        Traced {
            graph,
            hash,
            options,
            kernels: core::array::from_fn(|_| OnceLock::new()),
            rerolled: OnceLock::new(),
        }
    }

    /// The same graph over the float type `U` (nothing compiled yet).
    pub(crate) fn in_float<U: JitFloat>(&self) -> Traced<U> {
        Traced::from_parts(self.graph.clone(), self.hash, self.options.clone())
    }

    fn rerolled(&self) -> Option<&Rerolled<T>> {
        self.reroll_outcome().ok()
    }

    /// The rerolled program, or why the straight-line code runs instead.
    fn reroll_outcome(&self) -> Result<&Rerolled<T>, &'static str> {
        if !self.options.reroll {
            return Err("rerolling is off (Options::reroll)");
        }
        if self.graph.nodes.len() < self.options.reroll_min_nodes {
            return Err("the trace is smaller than Options::reroll_min_nodes");
        }
        self.rerolled
            .get_or_init(|| {
                let r = reroll::reroll(&self.graph)?;
                let in_float = |t: TensorProgram| {
                    let mut t = t.with_float::<T>();
                    t.set_codegen(self.options.codegen.clone());
                    t
                };
                let options = Options { reroll: false, ..self.options.clone() };
                Ok(Arc::new(Rerolled {
                    tensor: in_float(r.tensor),
                    guards: r.guards.map(|g| Box::new(Traced::new(g, options))),
                    violations: r.violations.map(|(count, g)| (in_float(count), g)),
                }))
            })
            .as_ref()
            .map(|r| &**r)
            .map_err(|e| *e)
    }

    pub(crate) fn is_rerolled(&self) -> bool {
        self.rerolled().is_some()
    }

    pub(crate) fn staged(&self, mode: Mode, guards: Guards) -> JitResult<Graph> {
        guards.scope(|| stage::stage(&self.graph, mode, self.options.max_staged_nodes))
    }

    fn kernel(&self, mode: Mode, guards: Guards) -> JitResult<&Arc<Kernel>> {
        let mode = mode.validate()?;
        self.kernels[mode.guarded_slot(guards)]
            .get_or_init(|| kernel::<T>(&self.graph, self.hash, (mode, guards), &self.options))
            .as_ref()
            .map_err(Clone::clone)
    }

    pub(crate) fn prepare(&self, mode: Mode) -> JitResult<CompileStats> {
        let r = match self.reroll_outcome() {
            Ok(r) => r,
            Err(why) => {
                return Ok(CompileStats { not_rerolled: Some(why), ..self.kernel(mode, Guards::Off)?.stats })
            }
        };
        let t = r.tensor.plan_stats(mode)?;
        let g = match &r.guards {
            Some(g) => g.prepare(Mode::Primal)?,
            None => CompileStats::default(),
        };
        let v = match &r.violations {
            Some((count, _)) => count.plan_stats(Mode::Primal)?,
            None => Default::default(),
        };
        Ok(CompileStats {
            traced_nodes: self.graph.nodes.len(),
            staged_nodes: t.staged_nodes + g.staged_nodes + v.staged_nodes,
            functions: t.loops + g.functions + v.loops,
            stage_time: g.stage_time,
            codegen_time: t.compile_time + g.codegen_time + v.compile_time,
            rerolled: true,
            not_rerolled: None,
        })
    }

    /// The flat buffer `[parts..., data]`, each part checked to be of length `n`.
    pub(crate) fn pack(&self, parts: &[(&str, &[T])], data: &[T]) -> JitResult<Vec<T>> {
        let n = self.graph.n_inputs;
        check_len("data inputs", self.graph.n_data, data.len())?;
        let mut buf = Vec::with_capacity(n * parts.len() + data.len());
        for (what, p) in parts {
            check_len(what, n, p.len())?;
            buf.extend_from_slice(p);
        }
        buf.extend_from_slice(data);
        Ok(buf)
    }

    /// Runs `mode` on the input vectors `parts` and the passive inputs `data`, writing
    /// `mode.outputs()` numbers to `out`.
    pub(crate) fn run_into(
        &self,
        mode: Mode,
        parts: &[(&str, &[T])],
        data: &[T],
        out: &mut [T],
    ) -> JitResult<()> {
        debug_assert_eq!(parts.len(), mode.input_vectors());
        check_len("data inputs", self.graph.n_data, data.len())?;
        if let Some(r) = self.rerolled() {
            let mode = mode.validate()?;
            check_len("output buffer", mode.outputs(), out.len())?;
            let inputs: &[&[T]] = if data.is_empty() { &[] } else { &[data] };
            if let (Some(g), Some((what, x))) = (&r.guards, parts.first()) {
                check_len(what, self.graph.n_inputs, x.len())?;
                g.run_into(Mode::Primal, &[(what, x)], data, &mut [T::default()])?;
            }
            if let (Some((count, g)), Some((what, x))) = (&r.violations, parts.first()) {
                check_len(what, self.graph.n_inputs, x.len())?;
                if count.run(Mode::Primal, &[(what, x)], inputs)?[0] != T::default() {
                    // Name the guard: the interpreter checks them in trace order. (If it
                    // finds none, the compiled comparison differed only by rounding.)
                    let all: Vec<T> = x.iter().chain(data).copied().collect();
                    return Err(crate::interp::eval(g, &all).err().unwrap_or_else(|| {
                        JitError::GuardFailed(
                            "a branch inside the rerolled sum (its comparison at the rounding edge)".into(),
                        )
                    }));
                }
            }
            let o = r.tensor.run(mode, parts, inputs)?;
            check_len("rerolled outputs", out.len(), o.len())?;
            out.copy_from_slice(&o);
            return Ok(());
        }
        let one;
        let buf: &[T] = match (parts, data) {
            // one input vector (the primal) and no data: no copy
            ([(what, x)], []) => {
                check_len(what, self.graph.n_inputs, x.len())?;
                x
            }
            _ => {
                one = self.pack(parts, data)?;
                &one
            }
        };
        self.kernel(mode, Guards::Off)?.run(buf, out)?;
        if needs_guards(mode, out) {
            self.kernel(mode, Guards::On)?.run(buf, out)?;
        }
        Ok(())
    }
}
