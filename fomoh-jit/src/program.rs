//! [`Program`]: a traced function with its compiled forward passes, traced again for the
//! branches its calls take; [`BoundProgram`]: a program with its data inputs bound.
//!
//! - `traced`: one traced graph (the engine: kernels per mode, the rerolled form);
//! - `instantiate`: a rerolled program built for a large size from traces at small ones;
//! - `variants`: the bounded list of traced variants, shared by [`Program`] and
//!   [`Retracing`].

mod instantiate;
mod traced;
mod variants;

use crate::codegen::{CodegenOptions, CompileStats};
use crate::error::{check_len, JitError, JitResult};
use crate::float::{FloatType, JitFloat};
use crate::ir::{Graph, GuardInfo};
use crate::stage::{needs_guards, Guards, Mode};
use crate::trace::{self, Tracer};
use fomoh_runtime::{Directions, HyperDual, Jet, Projection, Result, ScalarFn, MAX_K};
use std::sync::Arc;
use traced::Traced;
pub use variants::Retracing;
use variants::Variants;

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
    /// Trace again when an input takes a branch no trace covers (default on; off: strict
    /// mode, a guard failure is an [`fomoh_runtime::Error::GuardFailed`] error). Programs made
    /// by [`compile_at`] never trace again.
    pub retrace: bool,
    /// The most traced variants a program keeps (default 64); an input needing one more is a
    /// [`JitError::TooManyVariants`] error.
    pub max_variants: usize,
    /// Compile branches inside the terms of a sum (and a function that is one branch) as
    /// selects (default on): the function is traced a second time with every comparison
    /// decided the other way and the two traces are merged, so that one program serves every
    /// branch pattern (both sides of each branch are computed; a true select picks one). Only
    /// for [`compile`] and [`compile_with_inputs`]; when the traces do not pair up (a branch
    /// outside the terms, nested branches) the guarded trace is kept.
    pub select_branches: bool,
    /// Build the rerolled program of a large [`compile`] or [`compile_with_inputs`] from
    /// traces at four small sizes instead of a trace at the requested size (default on):
    /// compile time then does not grow with the size. The size is `n` for [`compile`] (the
    /// length of `x`), and for [`compile_with_inputs`] the data lengths of at least
    /// [`Options::instantiate_min_size`], varied together (each a multiple of their greatest
    /// common divisor, kept; shorter lengths stay as given, and so does `n` unless it is that
    /// large too: then it must be a multiple of the size and follows it). It applies with
    /// [`Options::reroll`] on, to a program whose full trace would reach
    /// [`Options::reroll_min_nodes`] (estimated from the small traces), when every
    /// small trace rerolls without guards (branches inside the terms compiled as selects are
    /// fine), the rerolled programs have the same structure and every shape, offset, index
    /// and literal in them is affine in the size (`n`, `n - 1` and `1 / n` are; read from
    /// three sizes, the fourth must be the program those predict for it). It
    /// assumes the function's control flow depends on the size only as the small traces show;
    /// as a check, the function is evaluated once at the requested size (in `f64`, without
    /// recording) at a fixed point and the instantiated program must give the same value to
    /// `1e-9` relatively, otherwise (or when anything else does not hold) the function is
    /// traced at the requested size as without this option. A panic of the function at a
    /// small size (e.g. it indexes past a fixed position) also falls back. The full graph of
    /// an instantiated program is traced only if asked for ([`Program::graph`]).
    /// [`CompileStats::instantiated`] and [`CompileStats::not_instantiated`] say what
    /// happened.
    pub instantiate: bool,
    /// The smallest size (see [`Options::instantiate`]) instantiated from small traces
    /// (default 4096; sizes below 1024 are always traced in full).
    pub instantiate_min_size: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_traced_nodes: 1 << 24,
            max_staged_nodes: 1 << 24,
            codegen: CodegenOptions::default(),
            reroll: true,
            reroll_min_nodes: 256,
            retrace: true,
            max_variants: 64,
            select_branches: true,
            instantiate: true,
            instantiate_min_size: 4096,
        }
    }
}

/// The traced function a program keeps to trace again: parameters and data inputs.
type Source = Arc<dyn Fn(&[Tracer], &[&[Tracer]]) -> Tracer + Send + Sync>;

/// `source` over the data as one slice, split by the lengths `lens` (which must add up to
/// the slice's length).
fn split_call<'a>(source: &'a Source, lens: &'a [usize]) -> impl Fn(&[Tracer], &[Tracer]) -> Tracer + 'a {
    move |t: &[Tracer], ds: &[Tracer]| {
        let mut parts = Vec::with_capacity(lens.len());
        let mut rest = ds;
        for &l in lens {
            let (a, b) = rest.split_at(l.min(rest.len()));
            parts.push(a);
            rest = b;
        }
        source(t, &parts)
    }
}

/// Traces `source` at the parameters `x` and the data `d` (split by the lengths `lens`); if
/// the trace has guards and [`Options::select_branches`] is on, traces it again with every
/// comparison flipped and merges the two into a branch-free graph when they pair up.
fn trace_source(
    source: &Source,
    x: &[f64],
    d: &[f64],
    lens: &[usize],
    options: &Options,
) -> JitResult<Graph> {
    let call = split_call(source, lens);
    let limit = options.max_traced_nodes;
    let g = trace::trace_with_data(x, d, &call, limit)?;
    if g.guards.is_empty() || !options.select_branches {
        return Ok(g);
    }
    let at: Vec<f64> = x.iter().chain(d).copied().collect();
    // the second pass shares the first's nodes by replay (fast); where that does not pair
    // up, by a table of every node
    let flipped = |sharing| match trace::trace_flipped(x, d, &call, sharing, limit) {
        Ok(Some((both, first))) => crate::branches::merge(&both, first, &at),
        _ => None,
    };
    let merged = flipped(trace::Sharing::Replay).or_else(|| flipped(trace::Sharing::Table));
    Ok(merged.unwrap_or(g))
}

/// The first trace of `source` over `n` parameters and data of the lengths `lens`: every
/// input NaN, so that no comparison is decided by a value (branches inside the terms become
/// selects, see [`trace_source`]).
fn trace_at_nan(source: &Source, n: usize, lens: &[usize], options: &Options) -> JitResult<Graph> {
    let total = lens.iter().sum();
    trace_source(source, &vec![f64::NAN; n], &vec![f64::NAN; total], lens, options)
}

/// A traced function, compiled on demand (per mode, cached) to native code over the float
/// type `T` (`f64` by default; `f32` through [`Program::with_float`]).
///
/// Every method checks the lengths of its arguments before native code runs and returns
/// the same types as the runtime's entry points ([`fomoh_runtime::hyper_dual`],
/// [`fomoh_runtime::project`], ...). A compiled mode is generated on first use (or by
/// [`Program::prepare`]) and shared through the process-wide cache (keyed by graph, mode,
/// options and float type). A program made by [`compile`] or [`compile_with_inputs`] keeps
/// the traced function and traces it again for a branch pattern none of its variants covers
/// (see [`Program::variants`]); one made by [`compile_at`] is strict.
///
/// ```
/// use fomoh_runtime::Scalar;
/// fn f<S: Scalar>(x: &[S]) -> S { x[0] * x[0] * x[1] }
/// let p = fomoh_jit::compile(2, |x| f(x)).unwrap();
/// let hd = p.hyper_dual(&[1.0, 2.0], &[1.0, 0.0], &[0.0, 1.0]).unwrap();
/// assert_eq!((hd.re, hd.e1, hd.e2, hd.e12), (2.0, 4.0, 1.0, 2.0));
/// let pr = p.project(&[1.0, 2.0], &[vec![1.0, 0.0], vec![0.0, 1.0]]).unwrap();
/// assert_eq!((pr.hess, pr.passes), (vec![vec![4.0, 2.0], vec![2.0, 0.0]], 1));
/// assert!(p.value(&[1.0]).is_err()); // wrong length: an error, never a bad read
/// ```
pub struct Program<T: JitFloat = f64> {
    /// The lengths of the data inputs (empty: none).
    inputs: Arc<[usize]>,
    options: Options,
    /// The first trace (what [`Program::graph`] and the other inspection methods show).
    first: Arc<Traced<T>>,
    /// Every trace so far (the first included), shared by clones.
    variants: Arc<Variants<T>>,
    source: Option<Source>,
}

impl<T: JitFloat> core::fmt::Debug for Program<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Program")
            .field("float", &T::TYPE)
            .field("dim", &self.dim())
            .field("inputs", &self.inputs)
            .field("traced_nodes", &self.first.traced_nodes())
            .field("guards", &self.first.guard_count())
            .field("variants", &self.variants.len())
            .field("retraces", &(self.source.is_some() && self.options.retrace))
            .finish()
    }
}

/// The same program: the traced variants, the modes compiled so far and the rerolled form
/// are shared (reference-counted), so a clone costs no tracing or code generation.
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
            inputs: self.inputs.clone(),
            options: self.options.clone(),
            first: self.first.clone(),
            variants: self.variants.clone(),
            source: self.source.clone(),
        }
    }
}

/// Traces `f` over `n` inputs and returns the program (code is generated per mode on first
/// use). Every call returns the right result, whatever branches it takes:
/// - a branch inside each term of a sum, or around the whole function, is compiled as a
///   select (both sides traced, see [`Options::select_branches`]): one program for every
///   input;
/// - other branches are decided while tracing and guarded, and the program keeps `f`: when a
///   call's input takes a branch no trace covers, `f` is traced again at that input (at most
///   [`Options::max_variants`] variants, 64 by default; beyond, a
///   [`JitError::TooManyVariants`] error).
///
/// The first trace is made with every input NaN (every comparison false); [`compile_at`]
/// traces once at a given point and never again (strict mode).
///
/// `f` must own what it captures (`'static`; capture data by value with `move`, or pass it as
/// bound inputs with [`compile_with_inputs`]).
///
/// ```
/// use fomoh_runtime::Scalar;
/// fn rosenbrock<S: Scalar>(x: &[S]) -> S {
///     let (one, hundred) = (S::one(), S::from_f64(100.0));
///     (0..x.len() - 1).map(|i| hundred * (x[i + 1] - x[i] * x[i]).powi(2) + (one - x[i]).powi(2)).sum()
/// }
/// let p = fomoh_jit::compile(2, |x| rosenbrock(x)).unwrap();
/// assert!((p.value(&[-1.2, 1.0]).unwrap() - 24.2).abs() < 1e-12);
///
/// fn huber<S: Scalar>(x: &[S]) -> S {
///     let r = x[0] - x[1];
///     if r.abs() > S::one() { r.abs() - S::from_f64(0.5) } else { r * r * S::from_f64(0.5) }
/// }
/// let h = fomoh_jit::compile(2, |x| huber(x)).unwrap();
/// assert_eq!(h.value(&[0.5, 0.0]).unwrap(), 0.125);
/// assert_eq!(h.value(&[3.0, 0.0]).unwrap(), 2.5); // the other branch: compiled as a select
/// assert_eq!(h.variants(), 1);
///
/// // nested branches: guarded, traced again when an input needs it
/// fn steps<S: Scalar>(x: &[S]) -> S {
///     if x[0] > S::one() { x[0] } else if x[0] > S::zero() { x[0] * x[0] } else { -x[0] }
/// }
/// let s = fomoh_jit::compile(1, |x| steps(x)).unwrap();
/// assert_eq!((s.value(&[2.0]).unwrap(), s.value(&[0.5]).unwrap(), s.value(&[-3.0]).unwrap()), (2.0, 0.25, 3.0));
/// assert_eq!(s.variants(), 3);
/// ```
pub fn compile<F>(n: usize, f: F) -> Result<Program>
where
    F: Fn(&[Tracer]) -> Tracer + Send + Sync + 'static,
{
    compile_with(n, f, &Options::default())
}

/// [`compile`] with explicit [`Options`].
pub fn compile_with<F>(n: usize, f: F, options: &Options) -> Result<Program>
where
    F: Fn(&[Tracer]) -> Tracer + Send + Sync + 'static,
{
    compile_with_inputs_opts(n, &[], move |x, _| f(x), options)
}

/// Traces `f` over `n` parameters and passive inputs (data) of the lengths `inputs`, to be
/// bound at call time with [`Program::bind`]: one compiled program serves every data set of
/// those lengths (every minibatch), and data never become literals of the code. The data
/// have no tangent (no derivative lanes are computed for them). Branches are guarded and
/// traced again as in [`compile`] (data-dependent branches included).
///
/// ```
/// use fomoh_runtime::{Objective, Scalar};
/// // least squares of a line through (xs, ys)
/// fn loss<S: Scalar>(w: &[S], xs: &[S], ys: &[S]) -> S {
///     xs.iter().zip(ys).map(|(&x, &y)| (w[0] * x + w[1] - y).powi(2)).sum()
/// }
/// let p = fomoh_jit::compile_with_inputs(2, &[3, 3], |w, d| loss(w, d[0], d[1])).unwrap();
/// let a = p.bind(&[&[0.0, 1.0, 2.0], &[1.0, 3.0, 5.0]]).unwrap(); // y = 2x + 1
/// assert_eq!(a.value(&[2.0, 1.0]).unwrap(), 0.0);
/// let b = p.bind(&[&[0.0, 1.0, 2.0], &[0.0, 0.0, 0.0]]).unwrap(); // same code, new data
/// assert_eq!(Objective::value(&b, &[0.0, 1.0]).unwrap(), 3.0);
/// assert!(p.bind(&[&[0.0, 1.0]]).is_err()); // one input missing: an error, before any code runs
/// ```
pub fn compile_with_inputs<F>(n: usize, inputs: &[usize], f: F) -> Result<Program>
where
    F: Fn(&[Tracer], &[&[Tracer]]) -> Tracer + Send + Sync + 'static,
{
    compile_with_inputs_opts(n, inputs, f, &Options::default())
}

/// [`compile_with_inputs`] with explicit [`Options`].
pub fn compile_with_inputs_opts<F>(n: usize, inputs: &[usize], f: F, options: &Options) -> Result<Program>
where
    F: Fn(&[Tracer], &[&[Tracer]]) -> Tracer + Send + Sync + 'static,
{
    let total = inputs.iter().try_fold(0usize, |a, &l| a.checked_add(l));
    if total.is_none_or(|t| t > options.max_traced_nodes) || n > options.max_traced_nodes {
        return Err(JitError::GraphTooLarge { stage: "traced", limit: options.max_traced_nodes }.into());
    }
    let source: Source = Arc::new(f);
    let first = match instantiate::instantiated(&source, n, inputs, options) {
        Ok(t) => t,
        Err(why) => {
            let g = trace_at_nan(&source, n, inputs, options)?;
            Traced::traced_in_full(g, options.clone(), why)
        }
    };
    Ok(Program::from_first(first, inputs, options.clone(), Some(source)))
}

/// Traces `f` at the point `x0`: comparisons are decided by the values at `x0` and guarded,
/// so the program serves every input that takes the same branches (strict mode: an input
/// taking another branch is an [`fomoh_runtime::Error::GuardFailed`] error; the program does
/// not keep `f`, which may borrow).
///
/// ```
/// use fomoh_runtime::Scalar;
/// fn f<S: Scalar>(x: &[S]) -> S { if x[0] > S::zero() { x[0] * x[0] } else { -x[0] } }
/// let p = fomoh_jit::compile_at(&[1.0], |x| f(x)).unwrap();
/// assert_eq!(p.value(&[3.0]).unwrap(), 9.0);
/// let e = p.value(&[-3.0]).unwrap_err(); // the other branch was not traced
/// assert!(matches!(e, fomoh_runtime::Error::GuardFailed(_)), "{e}");
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
    Ok(Program::new(g, &[], options.clone(), None))
}

/// Compiles a [`ScalarFn`] (e.g. made with `scalar_fn!` or by `#[fomoh]`) as [`compile`]
/// does (the program keeps a clone of `f`).
///
/// ```
/// use fomoh_runtime::{scalar_fn, Scalar};
/// fn sphere<S: Scalar>(x: &[S]) -> S { x.iter().map(|&v| v * v).sum() }
/// let p = fomoh_jit::compile_fn(3, &scalar_fn!(sphere)).unwrap();
/// assert_eq!(p.value(&[1.0, 2.0, 3.0]).unwrap(), 14.0);
/// ```
pub fn compile_fn<F: ScalarFn + Clone + Send + Sync + 'static>(n: usize, f: &F) -> Result<Program> {
    let f = f.clone();
    compile(n, move |x| f.eval(x))
}

impl<T: JitFloat> Program<T> {
    fn new(g: Graph, inputs: &[usize], options: Options, source: Option<Source>) -> Program<T> {
        Program::from_first(Traced::new(g, options.clone()), inputs, options, source)
    }

    fn from_first(
        first: Traced<T>,
        inputs: &[usize],
        options: Options,
        source: Option<Source>,
    ) -> Program<T> {
        let first = Arc::new(first);
        Program {
            inputs: inputs.into(),
            options,
            variants: Arc::new(Variants::new(vec![first.clone()])),
            first,
            source,
        }
    }

    /// The same traced function as a program over the float type `U` (the traced variants
    /// are shared, not traced again; code is generated per mode on first use and cached per
    /// float type; variants traced later are the new program's own).
    ///
    /// An `f32` program runs native `f32` code: loads, arithmetic and stores in `f32`, the
    /// graph's literals rounded once to `f32`, and the transcendentals calling the runtime's
    /// own `f32` functions (`f32::sin`, ...), so it computes what `fomoh_runtime::hyper_dual`,
    /// `directional` and `project` compute over `f32`, up to rounding: the derivative code
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
    /// let pr = p.project(&x, &[v1.to_vec(), v2.to_vec()]).unwrap();
    /// assert!((pr.hess[1][1] - 12.0).abs() < 1e-5); // 6 x1
    /// assert!(p.value(&[1.0f32]).is_err()); // wrong length: an error
    /// ```
    pub fn with_float<U: JitFloat>(&self) -> Program<U> {
        let all: Vec<Arc<Traced<U>>> =
            self.variants.all().iter().map(|t| Arc::new(t.in_float::<U>())).collect();
        Program {
            inputs: self.inputs.clone(),
            options: self.options.clone(),
            first: all[0].clone(),
            variants: Arc::new(Variants::new(all)),
            source: self.source.clone(),
        }
    }

    /// The float type the program runs in.
    pub fn float_type(&self) -> FloatType {
        T::TYPE
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
        self.first.is_rerolled()
    }

    /// The number of inputs (parameters).
    pub fn dim(&self) -> usize {
        self.first.n_inputs()
    }

    /// The lengths of the data inputs bound by [`Program::bind`] (empty for a program
    /// without data inputs).
    pub fn inputs(&self) -> &[usize] {
        &self.inputs
    }

    /// The number of traced variants (branch patterns) so far: 1 until an input takes a
    /// branch the first trace did not record.
    pub fn variants(&self) -> usize {
        self.variants.len()
    }

    /// The first traced graph (see [`Program::variants`] for those traced later).
    ///
    /// A program instantiated from traces at small sizes ([`Options::instantiate`]) traces
    /// its function in full at the first call of this method (or of [`Program::staged`],
    /// [`Program::staged_guarded`], [`Program::guards`], [`Program::interpret`]); if that
    /// trace fails (a graph over [`Options::max_traced_nodes`]) the graph is empty (and the
    /// other methods return the error).
    pub fn graph(&self) -> &Graph {
        self.first.graph()
    }

    /// The branch decisions recorded by the first trace (checked on every run).
    pub fn guards(&self) -> &[GuardInfo] {
        &self.first.graph().guards
    }

    /// The staged graph of `mode` of the first trace (primal and derivative lanes, after
    /// folding, CSE and dead-code elimination): what the code generator compiles for the
    /// straight-line path (a rerolled program, see [`Program::is_rerolled`], runs a tensor
    /// program instead). It reads `[x, tangents..., data]`.
    pub fn staged(&self, mode: Mode) -> Result<Graph> {
        Ok(self.first.staged(mode, Guards::Off)?)
    }

    /// [`Program::staged`] with the zero-tangent guards: the code that runs where the plain
    /// code's output holds a value that is not finite, so that a tangent that is zero at
    /// run time contributes exactly zero, as in the runtime's number types (see
    /// [`crate::stage`]).
    pub fn staged_guarded(&self, mode: Mode) -> Result<Graph> {
        Ok(self.first.staged(mode, Guards::On)?)
    }

    /// Generates the code of `mode` of the first trace now (instead of on first use) and
    /// returns what it cost. A mode served by the cache reports the statistics of the
    /// original compilation.
    pub fn prepare(&self, mode: Mode) -> Result<CompileStats> {
        Ok(self.first.prepare(mode)?)
    }

    /// Runs `mode` of the first trace through the interpreter over the staged graph, in `T`
    /// (the reference the compiled code is tested against); same inputs and output layout as
    /// the compiled code (a program with data inputs: bind them, then use
    /// [`BoundProgram::interpret`]). The straight-line code agrees bit for bit; a rerolled
    /// program agrees to rounding (its sum is reassociated).
    pub fn interpret(&self, mode: Mode, parts: &[&[T]]) -> Result<Vec<T>> {
        self.interpret_with(mode, parts, &[])
    }

    fn interpret_with(&self, mode: Mode, parts: &[&[T]], data: &[T]) -> Result<Vec<T>> {
        let mode = mode.validate()?;
        check_len("input vectors", mode.input_vectors(), parts.len())?;
        let named: Vec<(&str, &[T])> = parts.iter().map(|p| ("input", *p)).collect();
        let buf = self.first.pack(&named, data)?;
        let out = crate::interp::eval(&self.first.staged(mode, Guards::Off)?, &buf)?;
        if !needs_guards(mode, &out) {
            return Ok(out);
        }
        Ok(crate::interp::eval(&self.first.staged(mode, Guards::On)?, &buf)?)
    }

    /// Runs `run` on the variant covering `x` (and `data`), tracing again if none does.
    fn call<R>(&self, x: &[T], data: &[T], run: impl Fn(&Traced<T>) -> JitResult<R>) -> JitResult<R> {
        check_len("x", self.dim(), x.len())?;
        match &self.source {
            Some(src) if self.options.retrace => {
                let (lens, options) = (&self.inputs, &self.options);
                let retrace = |x: &[f64], d: &[f64]| trace_source(src, x, d, lens, options);
                self.variants.call(x, data, Some((&retrace, &self.options)), run)
            }
            _ => self.variants.call(x, data, None, run),
        }
    }

    /// An error unless the program has no data inputs (they must be bound first).
    fn unbound(&self) -> JitResult<()> {
        check_len("data inputs (bind them with Program::bind)", self.inputs.len(), 0)
    }

    /// Binds the data inputs (one slice per input, of the lengths given at compile time;
    /// checked here, before any code runs): the result evaluates the program on them. The
    /// data are copied (rounded once to `T` for an `f32` program is the caller's choice: the
    /// slices are in `T`).
    pub fn bind(&self, inputs: &[&[T]]) -> Result<BoundProgram<T>> {
        check_len("data inputs", self.inputs.len(), inputs.len())?;
        for (j, (d, &l)) in inputs.iter().zip(self.inputs.iter()).enumerate() {
            if d.len() != l {
                check_len(&format!("data input {j}"), l, d.len())?;
            }
        }
        Ok(BoundProgram { program: self.clone(), data: inputs.concat().into() })
    }

    /// `f(x)`.
    pub fn value(&self, x: &[T]) -> Result<T> {
        self.unbound()?;
        Ok(self.call(x, &[], |p| value_on(p, x, &[]))?)
    }

    /// One compiled hyper-dual pass: `f(x)`, `∇f·v1`, `∇f·v2`, `v1ᵀHv2`.
    pub fn hyper_dual(&self, x: &[T], v1: &[T], v2: &[T]) -> Result<HyperDual<T>> {
        self.unbound()?;
        Ok(self.call(x, &[], |p| hyper_dual_on(p, x, v1, v2, &[]))?)
    }

    /// One compiled three-lane pass along `v`: `f(x)`, `∇f·v`, `vᵀHv`.
    pub fn directional(&self, x: &[T], v: &[T]) -> Result<Jet<T>> {
        self.unbound()?;
        Ok(self.call(x, &[], |p| directional_on(p, x, v, &[]))?)
    }

    /// [`Program::project`] onto an array of K directions.
    #[deprecated(note = "use `project`: the same projection, for an array or any other `Directions`")]
    pub fn hyperplane<const K: usize>(&self, x: &[T], dirs: &[Vec<T>; K]) -> Result<Projection<T>> {
        self.project(x, dirs)
    }

    /// The projection onto K directions (any [`Directions`]: an array, slice or `Vec` of
    /// `Vec`s, a matrix whose columns are the directions): `f(x)`, `∇f·d_i`, `d_iᵀHd_j` from
    /// one compiled K-direction pass for `1 <= K <= MAX_K` (16), from `K(K+1)/2` compiled
    /// hyper-dual passes for more ([`Projection::passes`] says which).
    pub fn project<D: Directions<T> + ?Sized>(&self, x: &[T], dirs: &D) -> Result<Projection<T>> {
        self.unbound()?;
        let dirs = dirs.directions();
        project_or_pairs(
            &dirs,
            || self.call(x, &[], |p| project_on(p, x, &dirs, &[])),
            |a, b| self.hyper_dual(x, a, b),
        )
    }
}

/// The projection onto `dirs` from `one_pass` for `1 <= K <= MAX_K`, otherwise assembled from
/// the `K(K+1)/2` hyper-dual passes `pair(d_i, d_j)` (no directions is an error there).
pub(crate) fn project_or_pairs<T: JitFloat, E>(
    dirs: &[Vec<T>],
    one_pass: impl FnOnce() -> core::result::Result<Projection<T>, E>,
    mut pair: impl FnMut(&[T], &[T]) -> Result<HyperDual<T>>,
) -> Result<Projection<T>>
where
    fomoh_runtime::Error: From<E>,
{
    if (1..=MAX_K).contains(&dirs.len()) {
        return Ok(one_pass()?);
    }
    fomoh_runtime::api::assemble_pairwise(dirs.len(), |i, j| pair(&dirs[i], &dirs[j]))
}

/// `f(x)` on one variant.
fn value_on<T: JitFloat>(p: &Traced<T>, x: &[T], data: &[T]) -> JitResult<T> {
    let mut out = [T::default()];
    p.run_into(Mode::Primal, &[("x", x)], data, &mut out)?;
    Ok(out[0])
}

/// One hyper-dual pass on one variant.
fn hyper_dual_on<T: JitFloat>(
    p: &Traced<T>,
    x: &[T],
    v1: &[T],
    v2: &[T],
    data: &[T],
) -> JitResult<HyperDual<T>> {
    let mut o = [T::default(); 4];
    p.run_into(Mode::HyperDual, &[("x", x), ("v1", v1), ("v2", v2)], data, &mut o)?;
    Ok(HyperDual::new(o[0], o[1], o[2], o[3]))
}

/// One jet pass on one variant.
fn directional_on<T: JitFloat>(p: &Traced<T>, x: &[T], v: &[T], data: &[T]) -> JitResult<Jet<T>> {
    let mut o = [T::default(); 3];
    p.run_into(Mode::Jet, &[("x", x), ("v", v)], data, &mut o)?;
    Ok(Jet::new(o[0], o[1], o[2]))
}

/// One k-direction pass on one variant.
fn project_on<T: JitFloat>(p: &Traced<T>, x: &[T], dirs: &[Vec<T>], data: &[T]) -> JitResult<Projection<T>> {
    let k = dirs.len();
    let mode = Mode::HyperK(k).validate()?;
    let n = p.n_inputs();
    // lengths checked here with their index (no message is formatted on success)
    for (i, d) in dirs.iter().enumerate() {
        if d.len() != n {
            check_len(&format!("dirs[{i}] (direction {i})"), n, d.len())?;
        }
    }
    let mut parts: Vec<(&str, &[T])> = vec![("x", x)];
    parts.extend(dirs.iter().map(|d| ("direction", d.as_slice())));
    let mut out = vec![T::default(); mode.outputs()];
    p.run_into(mode, &parts, data, &mut out)?;
    Ok(Mode::projection(k, &out))
}

compiled_objective!(Program<T>, |p| p.dim(), gradient_by_axes);

/// A [`Program`] with its data inputs bound ([`Program::bind`]): the same evaluation methods,
/// and an [`fomoh_runtime::Objective`] for every optimizer. Cloning shares the program and
/// the data.
#[derive(Clone, Debug)]
pub struct BoundProgram<T: JitFloat = f64> {
    program: Program<T>,
    data: Arc<[T]>,
}

impl<T: JitFloat> BoundProgram<T> {
    /// The program.
    pub fn program(&self) -> &Program<T> {
        &self.program
    }

    /// `f(x)` on the bound data.
    pub fn value(&self, x: &[T]) -> Result<T> {
        Ok(self.program.call(x, &self.data, |p| value_on(p, x, &self.data))?)
    }

    /// One compiled hyper-dual pass on the bound data: `f(x)`, `∇f·v1`, `∇f·v2`, `v1ᵀHv2`.
    pub fn hyper_dual(&self, x: &[T], v1: &[T], v2: &[T]) -> Result<HyperDual<T>> {
        Ok(self.program.call(x, &self.data, |p| hyper_dual_on(p, x, v1, v2, &self.data))?)
    }

    /// One compiled three-lane pass along `v` on the bound data.
    pub fn directional(&self, x: &[T], v: &[T]) -> Result<Jet<T>> {
        Ok(self.program.call(x, &self.data, |p| directional_on(p, x, v, &self.data))?)
    }

    /// [`BoundProgram::project`] onto an array of K directions.
    #[deprecated(note = "use `project`: the same projection, for an array or any other `Directions`")]
    pub fn hyperplane<const K: usize>(&self, x: &[T], dirs: &[Vec<T>; K]) -> Result<Projection<T>> {
        self.project(x, dirs)
    }

    /// [`Program::project`] on the bound data: one compiled K-direction pass for
    /// `1 <= K <= MAX_K` (16), `K(K+1)/2` compiled hyper-dual passes for more.
    pub fn project<D: Directions<T> + ?Sized>(&self, x: &[T], dirs: &D) -> Result<Projection<T>> {
        let dirs = dirs.directions();
        project_or_pairs(
            &dirs,
            || self.program.call(x, &self.data, |p| project_on(p, x, &dirs, &self.data)),
            |a, b| self.hyper_dual(x, a, b),
        )
    }

    /// [`Program::interpret`] on the bound data.
    pub fn interpret(&self, mode: Mode, parts: &[&[T]]) -> Result<Vec<T>> {
        self.program.interpret_with(mode, parts, &self.data)
    }
}

compiled_objective!(BoundProgram<T>, |b| b.program.dim(), gradient_by_axes);
