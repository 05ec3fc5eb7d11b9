//! The public program API: [`TensorProgram`] (a finished graph, its plans compiled per mode
//! on first use, its scratch buffers, its row tiles) and [`Bound`] (a program with its
//! passive inputs bound), with the passes every compiled objective offers.

use super::exec;
use super::fuse::LoopStrategy;
use super::graph::{numel, structural_hash, TNode, TOp, Tensor};
use super::interp;
use super::lanes::{lane_slice, Src};
use super::plan::{self, Plan, PlanKey, TensorStats};
use super::tile::{analyze, rows_of, RowSplit, RowTiling};
use crate::codegen::CodegenOptions;
use crate::error::{check_len, JitError, JitResult};
use crate::float::JitFloat;
use crate::stage::{needs_guards, Guards, Mode, GUARDED_SLOTS, SLOTS};
use fomoh_runtime::{Directions, HyperDual, Jet, Projection, Result, Scalar};
use std::sync::{Arc, Mutex, OnceLock};

/// The most scratch buffer sets a program keeps for reuse (one per mode or concurrent caller).
const SCRATCH_SETS: usize = 4;

/// A compiled tensor graph (code generated per mode on first use), evaluated in the float
/// type `T`: `f64` (the default) or `f32` ([`TensorProgram::with_float`]), a batch sum as
/// row tiles where the graph allows it ([`TensorProgram::with_row_tiling`]).
pub struct TensorProgram<T: JitFloat = f64> {
    nodes: Arc<Vec<TNode>>,
    output: u32,
    n_params: usize,
    codegen: CodegenOptions,
    strategy: LoopStrategy,
    /// Per mode, the plain plan, then the guarded one (see [`Guards`]).
    kernels: [OnceLock<JitResult<Arc<Plan>>>; GUARDED_SLOTS],
    /// The shape of each input slot.
    inputs: Vec<Vec<usize>>,
    /// The structural hash (the code cache's key), computed on first compilation.
    hash: OnceLock<u64>,
    /// The graph's data converted to `T` per node (only where `T` is not `f64`; `f64` data
    /// is read in place).
    data: OnceLock<Vec<Option<Vec<T>>>>,
    /// Scratch buffer sets of finished calls, reused by later calls of the same mode so a
    /// call neither allocates nor faults in fresh pages for its intermediates.
    scratch: Mutex<Vec<Vec<Vec<T>>>>,
    /// How a batch is run.
    tiling: RowTiling,
    /// The row tiles and their programs (see [`RowTiling`]).
    tiles: TileState<T>,
}

impl<T: JitFloat> core::fmt::Debug for TensorProgram<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TensorProgram")
            .field("float", &T::TYPE.name())
            .field("n_params", &self.n_params)
            .field("nodes", &self.nodes.len())
            .finish()
    }
}

impl<T: JitFloat> TensorProgram<T> {
    /// A program over `nodes` (checked by the builder) with the defaults.
    pub(super) fn from_nodes(
        nodes: Vec<TNode>,
        output: u32,
        n_params: usize,
        inputs: Vec<Vec<usize>>,
    ) -> Self {
        TensorProgram {
            nodes: Arc::new(nodes),
            output,
            n_params,
            codegen: CodegenOptions::default(),
            strategy: LoopStrategy::Auto,
            kernels: core::array::from_fn(|_| OnceLock::new()),
            inputs,
            hash: OnceLock::new(),
            data: OnceLock::new(),
            scratch: Mutex::new(Vec::new()),
            tiling: RowTiling::Auto,
            tiles: TileState::default(),
        }
    }

    /// The number of parameters.
    pub fn dim(&self) -> usize {
        self.n_params
    }

    /// The nodes of the graph.
    pub fn nodes(&self) -> &[TNode] {
        &self.nodes
    }

    /// The output node (a scalar).
    pub fn output(&self) -> Tensor {
        Tensor(self.output)
    }

    /// The same graph with the loop-body strategy `s` (default [`LoopStrategy::Auto`]);
    /// nothing compiled is kept.
    pub fn with_loop_strategy(self, s: LoopStrategy) -> TensorProgram<T> {
        TensorProgram {
            strategy: s,
            kernels: core::array::from_fn(|_| OnceLock::new()),
            tiles: TileState::default(),
            ..self
        }
    }

    /// The same graph evaluated in the float type `U` (`f32` or `f64`); nothing compiled is
    /// kept (the code cache serves a type compiled before).
    ///
    /// An `f32` program runs native `f32` code: its loops load, compute and store `f32` on
    /// `f32x4` vectors, its matmuls call `matrixmultiply::sgemm`, the graph's literals and
    /// data are rounded once to `f32`, and its transcendentals call the runtime's own `f32`
    /// functions. It computes what the runtime's `HyperDual<f32>`, `Jet<f32>` and
    /// `HyperK<f32, K>` compute through [`TensorProgram::interpret`], up to rounding (the
    /// derivative code is the same staged code, with literal products folded in `f64`, and
    /// sums are added in another order). Bound inputs, `x` and the directions are `f32`.
    ///
    /// ```
    /// let p = fomoh_jit::tensor::models::rosenbrock(1001).unwrap().with_float::<f32>();
    /// let x = vec![0.5f32; 1001];
    /// let v = vec![1.0f32; 1001];
    /// let j = p.directional(&x, &v).unwrap(); // fomoh_runtime::Jet<f32>
    /// let exact = p.with_float::<f64>().directional(&vec![0.5; 1001], &vec![1.0; 1001]).unwrap();
    /// assert!((j.re as f64 - exact.re).abs() < 1e-5 * exact.re.abs());
    /// assert!(p.value(&x[..1000]).is_err()); // wrong length: an error
    /// ```
    pub fn with_float<U: JitFloat>(&self) -> TensorProgram<U> {
        TensorProgram {
            nodes: self.nodes.clone(),
            output: self.output,
            n_params: self.n_params,
            codegen: self.codegen.clone(),
            strategy: self.strategy,
            kernels: core::array::from_fn(|_| OnceLock::new()),
            inputs: self.inputs.clone(),
            hash: self.hash.clone(),
            data: OnceLock::new(),
            scratch: Mutex::new(Vec::new()),
            tiling: self.tiling,
            tiles: TileState::default(),
        }
    }

    /// The graph's data in `T` (converted once where `T` is not `f64`).
    fn data(&self) -> &[Option<Vec<T>>] {
        self.data.get_or_init(|| {
            if T::from_f64s(&[]).is_some() {
                return Vec::new(); // read in place
            }
            self.nodes
                .iter()
                .map(|n| match &n.op {
                    TOp::Data(d) => Some(crate::float::cast::<T>(d).into_owned()),
                    _ => None,
                })
                .collect()
        })
    }

    /// Sets the code generator's options (before anything is compiled).
    pub(crate) fn set_codegen(&mut self, c: CodegenOptions) {
        self.codegen = c;
    }

    /// Compiles `mode` (or finds it, and the plans of its row tiles) and returns its
    /// statistics (a tiled mode: its first tile's, with every tile length's compile time).
    pub(crate) fn plan_stats(&self, mode: Mode) -> JitResult<TensorStats> {
        let mode = mode.validate()?;
        let Some(t) = self.tiles(mode) else {
            return Ok(self.plan(mode, Guards::Off)?.stats);
        };
        t.stats(mode)
    }

    /// The plan of `mode` with or without the zero-tangent guards: compiled on first use (or
    /// found in the code cache), then kept.
    fn plan(&self, mode: Mode, guards: Guards) -> JitResult<&Arc<Plan>> {
        let mode = mode.validate()?;
        self.kernels[mode.guarded_slot(guards)]
            .get_or_init(|| {
                let hash =
                    *self.hash.get_or_init(|| structural_hash(&self.nodes, self.output, self.n_params));
                let key = PlanKey {
                    nodes: self.nodes.clone(),
                    output: self.output,
                    n_params: self.n_params,
                    mode,
                    guards,
                    float: T::TYPE,
                    codegen: self.codegen.clone(),
                    strategy: self.strategy,
                };
                plan::cached(key, hash)
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The shape of each passive input slot (bound with [`TensorProgram::bind`]).
    pub fn input_shapes(&self) -> &[Vec<usize>] {
        &self.inputs
    }

    /// Binds the passive inputs (one row-major slice per slot, in slot order): the result
    /// evaluates the compiled graph on them. The count and every length are checked here.
    ///
    /// ```
    /// use fomoh_jit::tensor::TensorBuilder;
    /// // f(θ) = Σ (x θ)² for an input x of shape [2, 3]
    /// let mut b = TensorBuilder::new(3);
    /// let x = b.input(0, &[2, 3]).unwrap();
    /// let t = b.param(0, &[3, 1]).unwrap();
    /// let y = b.matmul(x, t).unwrap();
    /// let y2 = b.mul(y, y).unwrap();
    /// let f = b.sum(y2);
    /// let p = b.finish(f).unwrap();
    /// let theta = [1.0, 2.0, 3.0];
    /// let a = p.bind(&[&[1.0, 0.0, 0.0, 0.0, 1.0, 0.0]]).unwrap();
    /// assert_eq!(a.value(&theta).unwrap(), 1.0 + 4.0);
    /// let b2 = p.bind(&[&[0.0, 0.0, 1.0, 1.0, 1.0, 1.0]]).unwrap(); // same code, new data
    /// assert_eq!(b2.value(&theta).unwrap(), 9.0 + 36.0);
    /// assert!(p.bind(&[&[1.0; 5]]).is_err());
    /// assert!(p.value(&theta).is_err(), "unbound inputs");
    /// ```
    pub fn bind<'a>(&'a self, inputs: &[&'a [T]]) -> Result<Bound<'a, T>> {
        self.check_inputs(inputs)?;
        Ok(Bound { program: self, inputs: inputs.to_vec() })
    }

    fn check_inputs(&self, inputs: &[&[T]]) -> JitResult<()> {
        if inputs.len() != self.inputs.len() {
            return Err(JitError::Length {
                what: format!(
                    "passive inputs (bind {} with TensorProgram::bind)",
                    if self.inputs.is_empty() { "none".to_string() } else { self.inputs.len().to_string() }
                ),
                expected: self.inputs.len(),
                found: inputs.len(),
            });
        }
        for (slot, (shape, d)) in self.inputs.iter().zip(inputs).enumerate() {
            check_len(&format!("input {slot} of shape {shape:?}"), numel(shape), d.len())?;
        }
        Ok(())
    }

    /// Compiles `mode` now (every row tile's length, if tiled) and returns what it cost.
    pub fn prepare(&self, mode: Mode) -> Result<TensorStats> {
        Ok(self.plan_stats(mode)?)
    }

    /// One pass of `mode`: the output's lanes for the inputs `parts` (θ, then the
    /// directions) and the bound passive `inputs` (every length checked here).
    pub(crate) fn run(&self, mode: Mode, parts: &[(&str, &[T])], inputs: &[&[T]]) -> JitResult<Vec<T>> {
        for (what, p) in parts {
            check_len(what, self.n_params, p.len())?;
        }
        self.check_inputs(inputs)?;
        let mode = mode.validate()?;
        if let Some(t) = self.tiles(mode) {
            // each tile's program applies the convention below to its own rows
            return self.run_tiles(&t, mode, parts, inputs);
        }
        let out = self.run_plan(mode, Guards::Off, parts, inputs)?;
        if !needs_guards(mode, &out) {
            return Ok(out);
        }
        // A lane that is not finite: the guarded code gives the runtime's zero-tangent
        // convention (see `crate::stage`).
        self.run_plan(mode, Guards::On, parts, inputs)
    }

    /// One pass of the plan of `mode` staged with or without the zero-tangent guards.
    fn run_plan(
        &self,
        mode: Mode,
        guards: Guards,
        parts: &[(&str, &[T])],
        inputs: &[&[T]],
    ) -> JitResult<Vec<T>> {
        let plan = self.plan(mode, guards)?;
        if plan.float != T::TYPE {
            return Err(JitError::Codegen("internal: a plan compiled for another float type".into()));
        }
        let pass = || {
            let nd = (&self.nodes[..], self.data());
            let bufs = self.take_scratch(&plan.buf_sizes);
            let (out, bufs) = exec::run_steps(&plan.steps, &plan.out, nd, parts, inputs, bufs)?;
            self.give_scratch(bufs);
            Ok(out)
        };
        if plan.parallel {
            // one hand-over to the pool for the pass, not one per parallel step
            fomoh_runtime::tensor::on_pool(pass)
        } else {
            pass()
        }
    }

    /// A scratch buffer set with these lengths: a reused one, or a new zeroed one.
    fn take_scratch(&self, sizes: &[usize]) -> Vec<Vec<T>> {
        let mut pool = self.scratch.lock().unwrap_or_else(|p| p.into_inner());
        let fits =
            |set: &Vec<Vec<T>>| set.len() == sizes.len() && set.iter().zip(sizes).all(|(b, &n)| b.len() == n);
        match pool.iter().position(fits) {
            Some(i) => pool.swap_remove(i),
            None => sizes.iter().map(|&n| vec![T::cst(0.0); n]).collect(),
        }
    }

    /// Returns a scratch set to the pool (at most [`SCRATCH_SETS`] are kept).
    fn give_scratch(&self, set: Vec<Vec<T>>) {
        let mut pool = self.scratch.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < SCRATCH_SETS {
            pool.push(set);
        }
    }

    /// The program with no inputs bound (the graph must have no [`TOp::Input`]).
    fn unbound(&self) -> Bound<'_, T> {
        Bound { program: self, inputs: Vec::new() }
    }

    /// `f(θ)`.
    pub fn value(&self, x: &[T]) -> Result<T> {
        self.unbound().value(x)
    }

    /// One compiled hyper-dual pass.
    pub fn hyper_dual(&self, x: &[T], v1: &[T], v2: &[T]) -> Result<HyperDual<T>> {
        self.unbound().hyper_dual(x, v1, v2)
    }

    /// One compiled three-lane pass along `v`.
    pub fn directional(&self, x: &[T], v: &[T]) -> Result<Jet<T>> {
        self.unbound().directional(x, v)
    }

    /// [`TensorProgram::project`] onto an array of K directions.
    #[deprecated(note = "use `project`: the same projection, for an array or any other `Directions`")]
    pub fn hyperplane<const K: usize>(&self, x: &[T], dirs: &[Vec<T>; K]) -> Result<Projection<T>> {
        self.project(x, dirs)
    }

    /// The projection onto K directions (any [`Directions`]): one compiled K-direction pass
    /// for `1 <= K <= MAX_K` (16), `K(K+1)/2` compiled hyper-dual passes for more
    /// ([`Projection::passes`] says which).
    pub fn project<D: Directions<T> + ?Sized>(&self, x: &[T], dirs: &D) -> Result<Projection<T>> {
        self.unbound().project(x, dirs)
    }

    /// The reference interpreter: evaluates the graph with any [`Scalar`] (naive loops),
    /// e.g. with `HyperDual<f64>` seeded by the caller: what the runtime computes.
    pub fn interpret<S: Scalar>(&self, theta: &[S]) -> Result<S> {
        self.interpret_in(theta, &[])
    }

    /// [`TensorProgram::interpret`] on the bound `inputs`.
    fn interpret_in<S: Scalar>(&self, theta: &[S], inputs: &[&[T]]) -> Result<S> {
        check_len("x", self.n_params, theta.len())?;
        self.check_inputs(inputs)?;
        Ok(interp::eval(&self.nodes, self.output, theta, inputs))
    }
}

/// The tiles of one mode: the rows of each and its program.
struct Tiles<T: JitFloat> {
    split: Arc<RowSplit>,
    bounds: Vec<(usize, usize)>,
    programs: Vec<Arc<TensorProgram<T>>>,
}

impl<T: JitFloat> Tiles<T> {
    /// The first tile's plan statistics, with every tile length's compile time.
    fn stats(&self, mode: Mode) -> JitResult<TensorStats> {
        let mut stats = self.programs[0].plan(mode, Guards::Off)?.stats;
        stats.row_tiles = self.bounds.len();
        for (i, p) in self.programs.iter().enumerate().skip(1) {
            if !self.programs[..i].iter().any(|q| Arc::ptr_eq(p, q)) {
                stats.compile_time += p.plan(mode, Guards::Off)?.stats.compile_time;
            }
        }
        Ok(stats)
    }
}

/// A program's row tiling state: the analysis, the per-mode tiles and the tile programs
/// (one per tile length, shared by the modes).
struct TileState<T: JitFloat> {
    split: OnceLock<Option<Arc<RowSplit>>>,
    modes: [OnceLock<Option<Arc<Tiles<T>>>>; SLOTS],
    programs: Mutex<Vec<(usize, Arc<TensorProgram<T>>)>>,
}

impl<T: JitFloat> Default for TileState<T> {
    fn default() -> Self {
        TileState {
            split: OnceLock::new(),
            modes: core::array::from_fn(|_| OnceLock::new()),
            programs: Mutex::new(Vec::new()),
        }
    }
}

impl<T: JitFloat> TensorProgram<T> {
    /// The same graph with the batch run as row tiles per `tiling` (default
    /// [`RowTiling::Auto`]); nothing compiled is kept.
    ///
    /// Where the graph is a sum over the rows of a batch (a model's summed or mean loss
    /// over data or inputs whose first axis is the batch, see [`RowTiling`]), a
    /// pass runs the same graph over blocks of rows, side by side on the rayon pool, and
    /// adds their lanes in tile order: every intermediate of a tile stays in cache. Other
    /// graphs always run whole. The result differs from the untiled program's only by the
    /// order of the batch sum's additions.
    ///
    /// ```
    /// use fomoh_jit::tensor::{models, RowTiling};
    /// let x: Vec<f64> = (0..100 * 4).map(|i| (i as f64 * 0.37).sin()).collect();
    /// let labels: Vec<usize> = (0..100).map(|i| i % 3).collect();
    /// let p = models::logreg(x, &labels, 4, 3).unwrap();
    /// let tiled = p.with_row_tiling(RowTiling::Rows(16)); // 7 tiles of 14 or 15 rows
    /// let whole = p.with_row_tiling(RowTiling::Off);
    /// assert_eq!(tiled.prepare(fomoh_jit::Mode::HyperDual).unwrap().row_tiles, 7);
    /// let (theta, v) = (vec![0.1; 15], vec![1.0; 15]);
    /// let (a, b) = (tiled.hyper_dual(&theta, &v, &v).unwrap(), whole.hyper_dual(&theta, &v, &v).unwrap());
    /// assert!((a.e12 - b.e12).abs() < 1e-13 * b.e12.abs().max(1.0));
    /// ```
    pub fn with_row_tiling(&self, tiling: RowTiling) -> TensorProgram<T> {
        let mut p = self.with_float::<T>();
        p.tiling = tiling;
        p
    }

    /// The row structure of the graph (analyzed once).
    fn row_split(&self) -> Option<&Arc<RowSplit>> {
        self.tiles.split.get_or_init(|| analyze(&self.nodes, self.output).map(Arc::new)).as_ref()
    }

    /// The tiles `mode` runs in (`None`: whole); `mode` must be valid.
    fn tiles(&self, mode: Mode) -> Option<Arc<Tiles<T>>> {
        if self.tiling == RowTiling::Off {
            return Option::None;
        }
        self.tiles.modes[mode.slot()]
            .get_or_init(|| {
                let split = self.row_split()?;
                let bounds = split.bounds(self.tiling, mode, core::mem::size_of::<T>())?;
                let programs = bounds.iter().map(|&(r0, r1)| self.tile_program(split, r1 - r0)).collect();
                Some(Arc::new(Tiles { split: split.clone(), bounds, programs }))
            })
            .clone()
    }

    /// The graph over `rows` rows (built once per length).
    fn tile_program(&self, split: &RowSplit, rows: usize) -> Arc<TensorProgram<T>> {
        let mut progs = self.tiles.programs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, p)) = progs.iter().find(|(r, _)| *r == rows) {
            return p.clone();
        }
        let (nodes, inputs) = split.tile_nodes(&self.nodes, rows);
        let mut p = TensorProgram::from_nodes(nodes, self.output, self.n_params, inputs);
        p.codegen = self.codegen.clone();
        p.strategy = self.strategy;
        p.tiling = RowTiling::Off;
        let p = Arc::new(p);
        progs.push((rows, p.clone()));
        p
    }

    /// One pass of `mode` as the sum of its tiles' passes (arguments checked by the caller).
    fn run_tiles(
        &self,
        tiles: &Tiles<T>,
        mode: Mode,
        parts: &[(&str, &[T])],
        inputs: &[&[T]],
    ) -> JitResult<Vec<T>> {
        use rayon::prelude::*;
        let nd = (&self.nodes[..], self.data());
        let results: Vec<JitResult<Vec<T>>> = tiles
            .bounds
            .par_iter()
            .zip(&tiles.programs)
            .map(|(&rows, p)| {
                let ins = tiles
                    .split
                    .srcs
                    .iter()
                    .map(|&(i, width)| {
                        // The leaf's elements (data in `T`, or the bound input), resolved as
                        // every step resolves its operands.
                        let all = lane_slice(nd, &[], inputs, &[], Src::Data(i, 0));
                        match width {
                            Some(w) => rows_of(all, w, rows),
                            None => Ok(all),
                        }
                    })
                    .collect::<JitResult<Vec<&[T]>>>()?;
                p.run(mode, parts, &ins)
            })
            .collect();
        let mut total = vec![T::cst(0.0); mode.outputs()];
        for r in results {
            for (t, v) in total.iter_mut().zip(r?) {
                *t += v;
            }
        }
        Ok(total)
    }
}

/// A [`TensorProgram`] with its passive inputs bound ([`TensorProgram::bind`]): the same
/// compiled code, run on these inputs. Implements [`Objective`](fomoh_runtime::Objective).
#[derive(Clone)]
pub struct Bound<'a, T: JitFloat = f64> {
    program: &'a TensorProgram<T>,
    inputs: Vec<&'a [T]>,
}

impl<T: JitFloat> core::fmt::Debug for Bound<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Bound")
            .field("program", self.program)
            .field("input_lengths", &self.inputs.iter().map(|d| d.len()).collect::<Vec<_>>())
            .finish()
    }
}

impl<T: JitFloat> Bound<'_, T> {
    /// The program.
    pub fn program(&self) -> &TensorProgram<T> {
        self.program
    }

    /// `f(θ)`.
    pub fn value(&self, x: &[T]) -> Result<T> {
        Ok(self.program.run(Mode::Primal, &[("x", x)], &self.inputs)?[0])
    }

    /// One compiled hyper-dual pass.
    pub fn hyper_dual(&self, x: &[T], v1: &[T], v2: &[T]) -> Result<HyperDual<T>> {
        let o = self.program.run(Mode::HyperDual, &[("x", x), ("v1", v1), ("v2", v2)], &self.inputs)?;
        Ok(HyperDual::new(o[0], o[1], o[2], o[3]))
    }

    /// One compiled three-lane pass along `v`.
    pub fn directional(&self, x: &[T], v: &[T]) -> Result<Jet<T>> {
        let o = self.program.run(Mode::Jet, &[("x", x), ("v", v)], &self.inputs)?;
        Ok(Jet::new(o[0], o[1], o[2]))
    }

    /// [`TensorProgram::project`] on these inputs.
    pub fn project<D: Directions<T> + ?Sized>(&self, x: &[T], dirs: &D) -> Result<Projection<T>> {
        let dirs = dirs.directions();
        let one_pass = || -> JitResult<Projection<T>> {
            let k = dirs.len();
            let mode = Mode::HyperK(k).validate()?;
            let mut parts: Vec<(&str, &[T])> = vec![("x", x)];
            parts.extend(dirs.iter().map(|d| ("direction", d.as_slice())));
            Ok(Mode::projection(k, &self.program.run(mode, &parts, &self.inputs)?))
        };
        crate::program::project_or_pairs(&dirs, one_pass, |a, b| self.hyper_dual(x, a, b))
    }

    /// The reference interpreter on these inputs (see [`TensorProgram::interpret`]).
    pub fn interpret<S: Scalar>(&self, theta: &[S]) -> Result<S> {
        self.program.interpret_in(theta, &self.inputs)
    }
}

compiled_objective!(Bound<'_, T>, |b| b.program.n_params);

compiled_objective!(TensorProgram<T>, |p| p.n_params);
