//! [`Program`]: a traced function with its compiled forward passes.

use crate::cache::Cache;
use crate::codegen::{self, CodegenOptions, CompileStats, Kernel};
use crate::error::{check_len, JitError, JitResult};
use crate::float::{FloatType, JitFloat};
use crate::ir::{Graph, GuardInfo};
use crate::reroll;
use crate::stage::{self, Mode, SLOTS};
use crate::tensor::TensorProgram;
use crate::trace::{self, Tracer};
use core::marker::PhantomData;
use fomoh_runtime::{Dim, HyperDual, Jet, Objective, Packed, Projection, Result, ScalarFn};
use std::sync::{Arc, LazyLock, OnceLock};
use std::time::Instant;

/// Limits and code-generation settings.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Options {
    /// The largest traced graph accepted (nodes).
    pub max_traced_nodes: usize,
    /// The largest staged graph (primal and derivative lanes) accepted (nodes).
    pub max_staged_nodes: usize,
    /// Code-generation settings.
    pub codegen: CodegenOptions,
    /// Reroll a traced sum of many isomorphic terms into a fused tensor program (default
    /// on). Results agree with the straight-line code to rounding (the sum is reassociated);
    /// [`CompileStats::rerolled`] and [`Program::is_rerolled`] report whether it applied.
    pub reroll: bool,
    /// Reroll only traced graphs of at least this many nodes (default 256): below it the
    /// straight-line code is as fast or faster (a tensor program has a fixed cost per call).
    pub reroll_min_nodes: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_traced_nodes: 1 << 22,
            max_staged_nodes: 1 << 24,
            codegen: CodegenOptions::default(),
            reroll: true,
            reroll_min_nodes: 256,
        }
    }
}

/// What identifies a compiled kernel in the code cache: the traced graph, the mode, the
/// float type and the options.
struct KernelKey {
    graph: Arc<Graph>,
    mode: Mode,
    float: FloatType,
    options: Options,
}

impl PartialEq for KernelKey {
    /// The same graph (compared in full unless shared) in the same mode, float type and
    /// options.
    fn eq(&self, k: &KernelKey) -> bool {
        self.mode == k.mode
            && self.float == k.float
            && self.options == k.options
            && (Arc::ptr_eq(&self.graph, &k.graph) || *self.graph == *k.graph)
    }
}

/// The process-wide cache of compiled kernels.
static KERNELS: LazyLock<Cache<KernelKey, Kernel>> = LazyLock::new(Cache::new);

/// The compiled kernel for `graph` (of structural hash `hash`) in `mode` over `float`, from
/// the code cache or freshly staged and compiled.
fn kernel(
    graph: &Arc<Graph>,
    hash: u64,
    mode: Mode,
    float: FloatType,
    options: &Options,
) -> JitResult<Arc<Kernel>> {
    let key = KernelKey { graph: graph.clone(), mode, float, options: options.clone() };
    KERNELS.get_or_compile(hash, key, |k| {
        let t0 = Instant::now();
        let staged = stage::stage(&k.graph, k.mode, k.options.max_staged_nodes)?;
        let stage_time = t0.elapsed();
        let t1 = Instant::now();
        let mut kernel = codegen::compile(&staged, &k.options.codegen, k.float)?;
        kernel.stats = CompileStats {
            traced_nodes: k.graph.nodes.len(),
            stage_time,
            codegen_time: t1.elapsed(),
            ..kernel.stats
        };
        Ok(kernel)
    })
}

/// A traced function, compiled on demand (per mode, cached) to native code over the float
/// type `T` (`f64` by default; `f32` through [`Program::with_float`]).
///
/// Every method checks the lengths of its arguments before native code runs and returns
/// the same types as the runtime's entry points ([`fomoh_runtime::hyper_dual`],
/// [`fomoh_runtime::hyperplane`], ...). A compiled mode is generated on first use (or by
/// [`Program::prepare`]) and shared through the process-wide cache (keyed by graph, mode,
/// options and float type).
///
/// ```
/// use fomoh_runtime::Scalar;
/// fn f<S: Scalar>(x: &[S]) -> S { x[0] * x[0] * x[1] }
/// let p = fomoh_jit::compile(2, |x| f(x)).unwrap();
/// let hd = p.hyper_dual(&[1.0, 2.0], &[1.0, 0.0], &[0.0, 1.0]).unwrap();
/// assert_eq!((hd.re, hd.e1, hd.e2, hd.e12), (2.0, 4.0, 1.0, 2.0));
/// let pr = p.hyperplane(&[1.0, 2.0], &[vec![1.0, 0.0], vec![0.0, 1.0]]).unwrap();
/// assert_eq!(pr.hess, vec![vec![4.0, 2.0], vec![2.0, 0.0]]);
/// assert!(p.value(&[1.0]).is_err()); // wrong length: an error, never a bad read
/// ```
pub struct Program<T: JitFloat = f64> {
    graph: Arc<Graph>,
    hash: u64,
    options: Options,
    kernels: [OnceLock<JitResult<Arc<Kernel>>>; SLOTS],
    /// The rerolled tensor program (decided on first use; shared by clones).
    rerolled: OnceLock<Option<Arc<Rerolled<T>>>>,
    float: PhantomData<fn() -> T>,
}

/// A rerolled program: the tensor program and the guard checks it must run first.
struct Rerolled<T: JitFloat> {
    tensor: TensorProgram<T>,
    /// The traced guards (primal-only, never rerolled), checked before every run.
    guards: Option<Box<Program<T>>>,
    /// Guards reading values computed inside the terms: the rerolled program counting the
    /// guards whose outcome differs from the trace's (run before every pass) and the guards'
    /// graph, interpreted only when that count is not zero, to name the failed guard.
    violations: Option<(TensorProgram<T>, Graph)>,
}

impl<T: JitFloat> core::fmt::Debug for Program<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Program")
            .field("float", &T::TYPE)
            .field("dim", &self.graph.n_inputs)
            .field("traced_nodes", &self.graph.nodes.len())
            .field("guards", &self.graph.guards.len())
            .finish()
    }
}

/// The same program: the traced graph, the modes compiled so far and the rerolled form are
/// shared (reference-counted), so a clone costs no tracing or code generation.
///
/// ```
/// use fomoh_runtime::Scalar;
/// fn f<S: Scalar>(x: &[S]) -> S { (0..x.len() - 1).map(|i| (x[i + 1] - x[i]).powi(2)).sum() }
/// let p = fomoh_jit::compile(100, |x| f(x)).unwrap();
/// let x: Vec<f64> = (0..100).map(|i| (i as f64).sin()).collect();
/// let v = p.value(&x).unwrap(); // compiles (and rerolls) the program
/// let q = p.clone();
/// assert!(q.is_rerolled());
/// assert_eq!(q.value(&x).unwrap(), v);
/// ```
impl<T: JitFloat> Clone for Program<T> {
    fn clone(&self) -> Self {
        Program {
            graph: self.graph.clone(),
            hash: self.hash,
            options: self.options.clone(),
            kernels: self.kernels.clone(),
            rerolled: self.rerolled.clone(),
            float: PhantomData,
        }
    }
}

/// Traces `f` over `n` inputs and returns the program (code is generated per mode on first
/// use). Comparisons on input-dependent values are decided with every input NaN (so they are
/// all false) and guarded; to trace branches at a representative point use [`compile_at`].
///
/// ```
/// use fomoh_runtime::Scalar;
/// fn rosenbrock<S: Scalar>(x: &[S]) -> S {
///     let (one, hundred) = (S::one(), S::from_f64(100.0));
///     (0..x.len() - 1).map(|i| hundred * (x[i + 1] - x[i] * x[i]).powi(2) + (one - x[i]).powi(2)).sum()
/// }
/// let p = fomoh_jit::compile(2, |x| rosenbrock(x)).unwrap();
/// assert!((p.value(&[-1.2, 1.0]).unwrap() - 24.2).abs() < 1e-12);
/// ```
pub fn compile<F>(n: usize, f: F) -> Result<Program>
where
    F: Fn(&[Tracer]) -> Tracer,
{
    compile_with(n, f, &Options::default())
}

/// [`compile`] with explicit [`Options`].
pub fn compile_with<F>(n: usize, f: F, options: &Options) -> Result<Program>
where
    F: Fn(&[Tracer]) -> Tracer,
{
    let g = trace::trace(n, f, options.max_traced_nodes)?;
    Ok(Program::new(g, options.clone()))
}

/// Traces `f` at the point `x0`: comparisons are decided by the values at `x0` and guarded,
/// so the program serves every input that takes the same branches.
///
/// ```
/// use fomoh_runtime::Scalar;
/// fn f<S: Scalar>(x: &[S]) -> S { if x[0] > S::zero() { x[0] * x[0] } else { -x[0] } }
/// let p = fomoh_jit::compile_at(&[1.0], |x| f(x)).unwrap();
/// assert_eq!(p.value(&[3.0]).unwrap(), 9.0);
/// assert!(p.value(&[-3.0]).is_err()); // the other branch was not traced
/// ```
pub fn compile_at<F>(x0: &[f64], f: F) -> Result<Program>
where
    F: Fn(&[Tracer]) -> Tracer,
{
    compile_at_with(x0, f, &Options::default())
}

/// [`compile_at`] with explicit [`Options`].
///
/// ```
/// use fomoh_runtime::Scalar;
/// fn f<S: Scalar>(x: &[S]) -> S { if x[0] > S::zero() { x[0] * x[0] } else { -x[0] } }
/// let o = fomoh_jit::Options { reroll: false, ..Default::default() };
/// let p = fomoh_jit::compile_at_with(&[1.0], |x| f(x), &o).unwrap();
/// assert_eq!(p.value(&[3.0]).unwrap(), 9.0);
/// ```
pub fn compile_at_with<F>(x0: &[f64], f: F, options: &Options) -> Result<Program>
where
    F: Fn(&[Tracer]) -> Tracer,
{
    let g = trace::trace_at(x0, f, options.max_traced_nodes)?;
    Ok(Program::new(g, options.clone()))
}

/// Compiles a [`ScalarFn`] (e.g. made with `scalar_fn!` or by `#[fomoh]`).
///
/// ```
/// use fomoh_runtime::{scalar_fn, Scalar};
/// fn sphere<S: Scalar>(x: &[S]) -> S { x.iter().map(|&v| v * v).sum() }
/// let p = fomoh_jit::compile_fn(3, &scalar_fn!(sphere)).unwrap();
/// assert_eq!(p.value(&[1.0, 2.0, 3.0]).unwrap(), 14.0);
/// ```
pub fn compile_fn<F: ScalarFn + ?Sized>(n: usize, f: &F) -> Result<Program> {
    compile(n, |x| f.eval(x))
}

impl<T: JitFloat> Program<T> {
    fn new(g: Graph, options: Options) -> Program<T> {
        let hash = g.structural_hash();
        Program::from_parts(Arc::new(g), hash, options)
    }

    fn from_parts(graph: Arc<Graph>, hash: u64, options: Options) -> Program<T> {
        Program {
            graph,
            hash,
            options,
            kernels: core::array::from_fn(|_| OnceLock::new()),
            rerolled: OnceLock::new(),
            float: PhantomData,
        }
    }

    /// The same traced function as a program over the float type `U` (the graph is shared,
    /// not traced again; code is generated per mode on first use and cached per float type).
    ///
    /// An `f32` program runs native `f32` code: loads, arithmetic and stores in `f32`, the
    /// graph's literals rounded once to `f32`, and the transcendentals calling the runtime's
    /// own `f32` functions (`f32::sin`, ...), so it computes what `fomoh_runtime::hyper_dual`,
    /// `directional` and `hyperplane` compute over `f32`, up to rounding: the derivative code
    /// is staged from the same rule table, and (as in `f64`) literals the tracer or the
    /// stager folded (a function of literals only, e.g. `S::from_f64(2.0).sqrt()`) were
    /// folded in `f64` and rounded once. Guards compare `f32` values.
    ///
    /// A rerolled program ([`Options::reroll`]) runs its tensor program in `f32` too
    /// ([`crate::tensor::TensorProgram::with_float`]). Apart from those folded literals,
    /// nothing of an `f32` program is computed in `f64`. As a [`fomoh_runtime::Objective`]
    /// (whose interface is `f64`) an `f32` program rounds its arguments once to `f32` and
    /// returns its `f32` results exactly as `f64`: the optimizers run on it unchanged.
    ///
    /// ```
    /// use fomoh_runtime::Scalar;
    /// fn f<S: Scalar>(x: &[S]) -> S { x[0].sin() * x[1] + x[1].powi(3) }
    /// let p = fomoh_jit::compile(2, |x| f(x)).unwrap().with_float::<f32>();
    /// let (x, v1, v2) = ([0.5f32, 2.0], [1.0f32, 0.0], [0.0f32, 1.0]);
    /// let hd = p.hyper_dual(&x, &v1, &v2).unwrap(); // fomoh_runtime::HyperDual<f32>
    /// let rt = fomoh_runtime::hyper_dual(|x| f(x), &x, &v1, &v2).unwrap();
    /// assert!((hd.e12 - rt.e12).abs() <= 1e-6 * rt.e12.abs()); // e12 = cos(0.5)
    /// let pr = p.hyperplane(&x, &[v1.to_vec(), v2.to_vec()]).unwrap();
    /// assert!((pr.hess[1][1] - 12.0).abs() < 1e-5); // 6 x1
    /// assert!(p.value(&[1.0f32]).is_err()); // wrong length: an error
    /// ```
    pub fn with_float<U: JitFloat>(&self) -> Program<U> {
        Program::from_parts(self.graph.clone(), self.hash, self.options.clone())
    }

    /// The float type the program runs in.
    pub fn float_type(&self) -> FloatType {
        T::TYPE
    }

    fn rerolled(&self) -> Option<&Rerolled<T>> {
        if !self.options.reroll || self.graph.nodes.len() < self.options.reroll_min_nodes {
            return None;
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
                Some(Arc::new(Rerolled {
                    tensor: in_float(r.tensor),
                    guards: r.guards.map(|g| Box::new(Program::new(g, options))),
                    violations: r.violations.map(|(count, g)| (in_float(count), g)),
                }))
            })
            .as_deref()
    }

    /// Whether this program runs as a rerolled tensor program (see [`Options::reroll`]):
    /// its output needs a sum (of `+`, `-` and negated terms) of at least `8` isomorphic
    /// terms whose inputs are affine in the term number (or, for a double sum, in the row and
    /// column), with a small remainder (guards reading values computed inside the terms are
    /// counted by a rerolled program of their own, checked per element before every pass;
    /// see the `reroll` module); in `f64` and `f32` alike.
    ///
    /// ```
    /// use fomoh_runtime::Scalar;
    /// fn f<S: Scalar>(x: &[S]) -> S { (0..x.len() - 1).map(|i| (x[i + 1] - x[i]).powi(2)).sum() }
    /// let p = fomoh_jit::compile(100, |x| f(x)).unwrap();
    /// assert!(p.is_rerolled());
    /// let o = fomoh_jit::Options { reroll: false, ..Default::default() };
    /// assert!(!fomoh_jit::compile_with(100, |x| f(x), &o).unwrap().is_rerolled());
    /// ```
    pub fn is_rerolled(&self) -> bool {
        self.rerolled().is_some()
    }

    /// The number of inputs.
    pub fn dim(&self) -> usize {
        self.graph.n_inputs
    }

    /// The traced graph.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The branch decisions recorded while tracing (checked on every run).
    pub fn guards(&self) -> &[GuardInfo] {
        &self.graph.guards
    }

    /// The staged graph of `mode` (primal and derivative lanes, after folding, CSE and
    /// dead-code elimination): what the code generator compiles for the straight-line path
    /// (a rerolled program, see [`Program::is_rerolled`], runs a tensor program instead).
    pub fn staged(&self, mode: Mode) -> Result<Graph> {
        Ok(stage::stage(&self.graph, mode, self.options.max_staged_nodes)?)
    }

    fn kernel(&self, mode: Mode) -> JitResult<&Arc<Kernel>> {
        let mode = mode.validate()?;
        self.kernels[mode.slot()]
            .get_or_init(|| kernel(&self.graph, self.hash, mode, T::TYPE, &self.options))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Generates the code of `mode` now (instead of on first use) and returns what it cost.
    /// A mode served by the cache reports the statistics of the original compilation.
    pub fn prepare(&self, mode: Mode) -> Result<CompileStats> {
        Ok(self.prepare_j(mode)?)
    }

    fn prepare_j(&self, mode: Mode) -> JitResult<CompileStats> {
        let Some(r) = self.rerolled() else { return Ok(self.kernel(mode)?.stats) };
        let t = r.tensor.plan_stats(mode)?;
        let g = match &r.guards {
            Some(g) => g.prepare_j(Mode::Primal)?,
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
        })
    }

    fn pack(&self, mode: Mode, parts: &[(&str, &[T])]) -> JitResult<Vec<T>> {
        let n = self.dim();
        debug_assert_eq!(parts.len(), mode.input_vectors());
        let mut buf = Vec::with_capacity(n * parts.len());
        for (what, p) in parts {
            check_len(what, n, p.len())?;
            buf.extend_from_slice(p);
        }
        Ok(buf)
    }

    /// Runs `mode` on the input vectors `parts`, writing `mode.outputs()` numbers to `out`.
    fn run_into(&self, mode: Mode, parts: &[(&str, &[T])], out: &mut [T]) -> JitResult<()> {
        if let Some(r) = self.rerolled() {
            let mode = mode.validate()?;
            check_len("output buffer", mode.outputs(), out.len())?;
            if let (Some(g), Some((what, x))) = (&r.guards, parts.first()) {
                check_len(what, self.dim(), x.len())?;
                g.run_into(Mode::Primal, &[(what, x)], &mut [T::default()])?;
            }
            if let (Some((count, g)), Some((what, x))) = (&r.violations, parts.first()) {
                check_len(what, self.dim(), x.len())?;
                if count.run(Mode::Primal, &[(what, x)], &[])?[0] != T::default() {
                    // Name the guard: the interpreter checks them in trace order. (If it
                    // finds none, the compiled comparison differed only by rounding.)
                    return Err(crate::interp::eval(g, x).err().unwrap_or_else(|| {
                        JitError::GuardFailed(
                            "a branch inside the rerolled sum (its comparison at the rounding edge)".into(),
                        )
                    }));
                }
            }
            let o = r.tensor.run(mode, parts, &[])?;
            check_len("rerolled outputs", out.len(), o.len())?;
            out.copy_from_slice(&o);
            return Ok(());
        }
        let k = self.kernel(mode)?;
        if let [(what, x)] = parts {
            // one input vector (the primal): no copy
            check_len(what, self.dim(), x.len())?;
            return k.run(x, out);
        }
        let buf = self.pack(mode, parts)?;
        k.run(&buf, out)
    }

    fn run(&self, mode: Mode, parts: &[(&str, &[T])]) -> JitResult<Vec<T>> {
        let mut out = vec![T::default(); mode.outputs()];
        self.run_into(mode, parts, &mut out)?;
        Ok(out)
    }

    /// Runs `mode` through the interpreter over the staged graph, in `T` (the reference the
    /// compiled code is tested against); same inputs and output layout as the compiled code.
    /// The straight-line code agrees bit for bit; a rerolled program agrees to rounding (its
    /// sum is reassociated).
    pub fn interpret(&self, mode: Mode, parts: &[&[T]]) -> Result<Vec<T>> {
        let mode = mode.validate()?;
        if parts.len() != mode.input_vectors() {
            return Err(JitError::Length {
                what: "input vectors".into(),
                expected: mode.input_vectors(),
                found: parts.len(),
            }
            .into());
        }
        let named: Vec<(&str, &[T])> = parts.iter().map(|p| ("input", *p)).collect();
        let buf = self.pack(mode, &named)?;
        let g = self.staged(mode)?;
        Ok(crate::interp::eval(&g, &buf)?)
    }

    /// `f(x)`.
    pub fn value(&self, x: &[T]) -> Result<T> {
        Ok(self.value_j(x)?)
    }

    fn value_j(&self, x: &[T]) -> JitResult<T> {
        let mut out = [T::default()];
        self.run_into(Mode::Primal, &[("x", x)], &mut out)?;
        Ok(out[0])
    }

    /// One compiled hyper-dual pass: `f(x)`, `∇f·v1`, `∇f·v2`, `v1ᵀHv2`.
    pub fn hyper_dual(&self, x: &[T], v1: &[T], v2: &[T]) -> Result<HyperDual<T>> {
        Ok(self.hyper_dual_j(x, v1, v2)?)
    }

    fn hyper_dual_j(&self, x: &[T], v1: &[T], v2: &[T]) -> JitResult<HyperDual<T>> {
        let mut o = [T::default(); 4];
        self.run_into(Mode::HyperDual, &[("x", x), ("v1", v1), ("v2", v2)], &mut o)?;
        Ok(HyperDual::new(o[0], o[1], o[2], o[3]))
    }

    /// One compiled three-lane pass along `v`: `f(x)`, `∇f·v`, `vᵀHv`.
    pub fn directional(&self, x: &[T], v: &[T]) -> Result<Jet<T>> {
        Ok(self.directional_j(x, v)?)
    }

    fn directional_j(&self, x: &[T], v: &[T]) -> JitResult<Jet<T>> {
        let mut o = [T::default(); 3];
        self.run_into(Mode::Jet, &[("x", x), ("v", v)], &mut o)?;
        Ok(Jet::new(o[0], o[1], o[2]))
    }

    /// One compiled k-direction pass (K from 1 to 16, from the array): `f(x)`, `∇f·d_i`,
    /// `d_iᵀHd_j`.
    pub fn hyperplane<const K: usize>(&self, x: &[T], dirs: &[Vec<T>; K]) -> Result<Projection<T>>
    where
        Dim<K>: Packed,
    {
        self.project(x, dirs)
    }

    /// [`Program::hyperplane`] with K known at run time (1 to 16).
    pub fn project(&self, x: &[T], dirs: &[Vec<T>]) -> Result<Projection<T>> {
        Ok(self.project_j(x, dirs)?)
    }

    fn project_j(&self, x: &[T], dirs: &[Vec<T>]) -> JitResult<Projection<T>> {
        let k = dirs.len();
        let mode = Mode::HyperK(k).validate()?;
        // lengths checked here with their index (no message is formatted on success)
        for (i, d) in dirs.iter().enumerate() {
            if d.len() != self.dim() {
                check_len(&format!("dirs[{i}] (direction {i})"), self.dim(), d.len())?;
            }
        }
        let mut parts: Vec<(&str, &[T])> = vec![("x", x)];
        parts.extend(dirs.iter().map(|d| ("direction", d.as_slice())));
        Ok(Mode::projection(k, &self.run(mode, &parts)?))
    }
}

compiled_objective!(Program<T>, |p| p.graph.n_inputs, gradient_by_axes);

/// An [`Objective`] that re-traces on demand: it keeps one compiled [`Program`] per branch
/// pattern it has met, and when an input takes a branch none of them traced, it traces the
/// function again at that input (up to a limit of variants).
///
/// ```
/// use fomoh_runtime::{scalar_fn, Objective, Scalar};
/// fn f<S: Scalar>(x: &[S]) -> S { if x[0] > S::zero() { x[0] * x[0] } else { -x[0] } }
/// let obj = fomoh_jit::Retracing::new(1, scalar_fn!(f));
/// assert_eq!(obj.value(&[3.0]).unwrap(), 9.0);
/// assert_eq!(obj.value(&[-3.0]).unwrap(), 3.0); // traced again for the other branch
/// assert_eq!(obj.variants(), 2);
/// ```
pub struct Retracing<F> {
    f: F,
    n: usize,
    options: Options,
    max_variants: usize,
    variants: std::sync::Mutex<Vec<Arc<Program>>>,
}

/// The dimension, the options, the variant limit and the number of variants traced so far
/// (the function itself is not required to be `Debug`).
///
/// ```
/// use fomoh_runtime::{scalar_fn, Objective, Scalar};
/// fn f<S: Scalar>(x: &[S]) -> S { x[0].abs() }
/// let obj = fomoh_jit::Retracing::new(1, scalar_fn!(f)).max_variants(4);
/// obj.value(&[3.0]).unwrap();
/// let shown = format!("{obj:?}");
/// assert!(shown.contains("dim: 1") && shown.contains("max_variants: 4") && shown.contains("variants: 1"), "{shown}");
/// ```
impl<F> core::fmt::Debug for Retracing<F> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let variants = self.variants.lock().unwrap_or_else(|p| p.into_inner()).len();
        f.debug_struct("Retracing")
            .field("dim", &self.n)
            .field("options", &self.options)
            .field("max_variants", &self.max_variants)
            .field("variants", &variants)
            .finish_non_exhaustive()
    }
}

impl<F: ScalarFn> Retracing<F> {
    /// A re-tracing objective of `f` over `n` inputs (at most 64 traced variants).
    pub fn new(n: usize, f: F) -> Self {
        Retracing { f, n, options: Options::default(), max_variants: 64, variants: Default::default() }
    }

    /// Sets the largest number of traced variants kept (further branch patterns are errors).
    pub fn max_variants(mut self, m: usize) -> Self {
        self.max_variants = m;
        self
    }

    /// The number of variants traced so far.
    pub fn variants(&self) -> usize {
        self.variants.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    fn with<R>(&self, x: &[f64], call: impl Fn(&Program) -> JitResult<R>) -> Result<R> {
        check_len("x", self.n, x.len())?;
        let known: Vec<Arc<Program>> = self.variants.lock().unwrap_or_else(|p| p.into_inner()).clone();
        for p in &known {
            match call(p) {
                Err(JitError::GuardFailed(_)) => continue,
                r => return Ok(r?),
            }
        }
        if known.len() >= self.max_variants {
            return Err(JitError::GuardFailed(format!(
                "no traced variant covers this input and the limit of {} variants is reached",
                self.max_variants
            ))
            .into());
        }
        let g = trace::trace_at(x, |t| self.f.eval(t), self.options.max_traced_nodes)?;
        let p = Arc::new(Program::new(g, self.options.clone()));
        self.variants.lock().unwrap_or_else(|p| p.into_inner()).push(p.clone());
        Ok(call(&p)?)
    }
}

impl<F: ScalarFn> Objective for Retracing<F> {
    fn dim(&self) -> usize {
        self.n
    }

    fn value(&self, x: &[f64]) -> Result<f64> {
        self.with(x, |p| p.value_j(x))
    }

    fn hyper_dual(&self, x: &[f64], v1: &[f64], v2: &[f64]) -> Result<HyperDual<f64>> {
        self.with(x, |p| p.hyper_dual_j(x, v1, v2))
    }

    fn directional(&self, x: &[f64], v: &[f64]) -> Result<Jet<f64>> {
        self.with(x, |p| p.directional_j(x, v))
    }

    fn hyperplane(&self, x: &[f64], dirs: &[Vec<f64>]) -> Result<(Projection<f64>, usize)> {
        if (1..=fomoh_runtime::MAX_K).contains(&dirs.len()) {
            return Ok((self.with(x, |p| p.project_j(x, dirs))?, 1));
        }
        fomoh_runtime::api::assemble_pairwise(dirs.len(), |i, j| {
            Objective::hyper_dual(self, x, &dirs[i], &dirs[j])
        })
    }
}
