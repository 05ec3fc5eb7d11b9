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

/// Traces a variant's function in full, for a variant instantiated from small traces.
pub(crate) type Deferred = Arc<dyn Fn() -> JitResult<Graph> + Send + Sync>;

/// The graph of a program instantiated from small traces whose full trace failed.
static NO_GRAPH: Graph =
    Graph { nodes: Vec::new(), outputs: Vec::new(), n_inputs: 0, n_data: 0, guards: Vec::new() };

/// One traced graph, compiled on demand per mode over `T`; or a rerolled program
/// instantiated from traces at small sizes (`super::instantiate`), whose full graph is
/// traced only if something asks for it (inspection, the interpreter).
pub(crate) struct Traced<T: JitFloat> {
    /// The traced graph, or the error of the deferred full trace; shared by the copies in
    /// other float types.
    graph: Arc<OnceLock<JitResult<Arc<Graph>>>>,
    /// Its structural hash (the code cache's key), computed on first use.
    hash: OnceLock<u64>,
    /// How to trace the full graph of an instantiated variant.
    deferred: Option<Deferred>,
    n_inputs: usize,
    n_data: usize,
    options: Options,
    /// Per mode, the plain code, then the guarded code (see [`Guards`]).
    kernels: [OnceLock<JitResult<Arc<Kernel>>>; GUARDED_SLOTS],
    /// The rerolled tensor program, or why there is none (decided on first use).
    rerolled: OnceLock<Result<Arc<Rerolled<T>>, &'static str>>,
    /// Instantiated: the (f64) rerolled program and the nodes of the largest probe trace;
    /// otherwise why not (`None`: the question did not arise, e.g. a variant traced again).
    instance: Result<(Arc<TensorProgram>, usize), Option<&'static str>>,
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
        let (n_inputs, n_data) = (g.n_inputs, g.n_data);
        let graph = Arc::new(OnceLock::from(Ok(Arc::new(g))));
        Traced::from_parts(graph, None, (n_inputs, n_data), options, Err(None))
    }

    /// [`Traced::new`] recording why the program was not instantiated from small traces.
    pub(crate) fn traced_in_full(g: Graph, options: Options, why: &'static str) -> Self {
        Traced { instance: Err(Some(why)), ..Traced::new(g, options) }
    }

    /// A variant running the rerolled program `tensor` (instantiated from traces at small
    /// sizes, the largest of `probe_nodes` nodes) over `n_inputs` parameters and `n_data`
    /// data; `deferred` traces the full graph if it is ever needed.
    pub(crate) fn instantiated(
        tensor: TensorProgram,
        (n_inputs, n_data): (usize, usize),
        probe_nodes: usize,
        deferred: Deferred,
        options: Options,
    ) -> Self {
        let instance = Ok((Arc::new(tensor), probe_nodes));
        Traced::from_parts(Arc::new(OnceLock::new()), Some(deferred), (n_inputs, n_data), options, instance)
    }

    fn from_parts(
        graph: Arc<OnceLock<JitResult<Arc<Graph>>>>,
        deferred: Option<Deferred>,
        (n_inputs, n_data): (usize, usize),
        options: Options,
        instance: Result<(Arc<TensorProgram>, usize), Option<&'static str>>,
    ) -> Self {
        Traced {
            graph,
            hash: OnceLock::new(),
            deferred,
            n_inputs,
            n_data,
            options,
            kernels: core::array::from_fn(|_| OnceLock::new()),
            rerolled: OnceLock::new(),
            instance,
        }
    }

    /// The same graph over the float type `U` (nothing compiled yet).
    pub(crate) fn in_float<U: JitFloat>(&self) -> Traced<U> {
        let dims = (self.n_inputs, self.n_data);
        let (graph, deferred) = (self.graph.clone(), self.deferred.clone());
        Traced::from_parts(graph, deferred, dims, self.options.clone(), self.instance.clone())
    }

    /// The number of parameters.
    pub(crate) fn n_inputs(&self) -> usize {
        self.n_inputs
    }

    /// The traced graph (an instantiated variant traces it now), or the error of that trace.
    pub(crate) fn full_graph(&self) -> JitResult<&Arc<Graph>> {
        self.graph
            .get_or_init(|| match &self.deferred {
                Some(trace) => trace().map(Arc::new),
                None => Err(JitError::Unsupported("a variant without a graph".into())),
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The traced graph (see [`Traced::full_graph`]; empty if that trace failed).
    pub(crate) fn graph(&self) -> &Graph {
        self.full_graph().map_or(&NO_GRAPH, |g| &**g)
    }

    /// The nodes traced: the graph's, or for an instantiated variant those of the largest
    /// probe trace.
    pub(crate) fn traced_nodes(&self) -> usize {
        match &self.instance {
            Ok((_, probe_nodes)) => *probe_nodes,
            Err(_) => self.graph().nodes.len(),
        }
    }

    /// The guards of the traced graph (none for an instantiated variant: it has none).
    pub(crate) fn guard_count(&self) -> usize {
        match &self.instance {
            Ok(_) => 0,
            Err(_) => self.graph().guards.len(),
        }
    }

    fn rerolled(&self) -> Option<&Rerolled<T>> {
        self.reroll_outcome().ok()
    }

    /// The rerolled program, or why the straight-line code runs instead.
    fn reroll_outcome(&self) -> Result<&Rerolled<T>, &'static str> {
        let in_float = |t: &TensorProgram| {
            let mut t = t.with_float::<T>();
            t.set_codegen(self.options.codegen.clone());
            t
        };
        if let Ok((tensor, _)) = &self.instance {
            let r = self.rerolled.get_or_init(|| {
                Ok(Arc::new(Rerolled { tensor: in_float(tensor), guards: None, violations: None }))
            });
            return r.as_ref().map(|r| &**r).map_err(|e| *e);
        }
        if !self.options.reroll {
            return Err("rerolling is off (Options::reroll)");
        }
        let graph = self.full_graph().map_err(|_| "the trace failed")?;
        if graph.nodes.len() < self.options.reroll_min_nodes {
            return Err("the trace is smaller than Options::reroll_min_nodes");
        }
        self.rerolled
            .get_or_init(|| {
                let r = reroll::reroll(graph)?;
                let options = Options { reroll: false, ..self.options.clone() };
                Ok(Arc::new(Rerolled {
                    tensor: in_float(&r.tensor),
                    guards: r.guards.map(|g| Box::new(Traced::new(g, options))),
                    violations: r.violations.map(|(count, g)| (in_float(&count), g)),
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
        let graph = self.full_graph()?;
        guards.scope(|| stage::stage(graph, mode, self.options.max_staged_nodes))
    }

    fn kernel(&self, mode: Mode, guards: Guards) -> JitResult<&Arc<Kernel>> {
        let mode = mode.validate()?;
        self.kernels[mode.guarded_slot(guards)]
            .get_or_init(|| {
                let graph = self.full_graph()?;
                let hash = *self.hash.get_or_init(|| graph.structural_hash());
                kernel::<T>(graph, hash, (mode, guards), &self.options)
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    pub(crate) fn prepare(&self, mode: Mode) -> JitResult<CompileStats> {
        let r = match self.reroll_outcome() {
            Ok(r) => r,
            Err(why) => {
                let stats = self.kernel(mode, Guards::Off)?.stats;
                return Ok(CompileStats {
                    not_rerolled: Some(why),
                    not_instantiated: self.why_not(),
                    ..stats
                });
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
            traced_nodes: self.traced_nodes(),
            staged_nodes: t.staged_nodes + g.staged_nodes + v.staged_nodes,
            functions: t.loops + g.functions + v.loops,
            stage_time: g.stage_time,
            codegen_time: t.compile_time + g.codegen_time + v.compile_time,
            rerolled: true,
            not_rerolled: None,
            instantiated: self.instance.is_ok(),
            not_instantiated: self.why_not(),
        })
    }

    /// Why this variant was not instantiated from small traces (`None` if it was, or if the
    /// question did not arise).
    fn why_not(&self) -> Option<&'static str> {
        self.instance.as_ref().err().copied().flatten()
    }

    /// The flat buffer `[parts..., data]`, each part checked to be of length `n`.
    pub(crate) fn pack(&self, parts: &[(&str, &[T])], data: &[T]) -> JitResult<Vec<T>> {
        let n = self.n_inputs;
        check_len("data inputs", self.n_data, data.len())?;
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
        check_len("data inputs", self.n_data, data.len())?;
        if let Some(r) = self.rerolled() {
            let mode = mode.validate()?;
            check_len("output buffer", mode.outputs(), out.len())?;
            let inputs: &[&[T]] = if data.is_empty() { &[] } else { &[data] };
            if let (Some(g), Some((what, x))) = (&r.guards, parts.first()) {
                check_len(what, self.n_inputs, x.len())?;
                g.run_into(Mode::Primal, &[(what, x)], data, &mut [T::default()])?;
            }
            if let (Some((count, g)), Some((what, x))) = (&r.violations, parts.first()) {
                check_len(what, self.n_inputs, x.len())?;
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
                check_len(what, self.n_inputs, x.len())?;
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
